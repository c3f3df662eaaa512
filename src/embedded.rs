//! The embedded default: the task-tracking sample log and its model, compiled into
//! the binary so `eventfold run` works from any folder, installed or not.

use crate::ingest::InputSource;
use crate::pipeline::ModelSource;

/// The sample log, `testdata/tasks/events.ndjson`.
pub const SAMPLE_EVENTS: &[u8] = include_bytes!("../testdata/tasks/events.ndjson");

/// The task-tracking model, `testdata/tasks/model.toml`.
pub const SAMPLE_MODEL: &str = include_str!("../testdata/tasks/model.toml");

/// The sample log as an input; named as in the repository.
pub fn sample_input() -> InputSource {
    InputSource::Embedded {
        name: "testdata/tasks/events.ndjson".into(),
        bytes: SAMPLE_EVENTS,
    }
}

/// The task model as a model source.
pub fn sample_model() -> ModelSource {
    ModelSource {
        name: "testdata/tasks/model.toml".into(),
        text: SAMPLE_MODEL.into(),
    }
}
