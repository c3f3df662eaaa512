//! The embedded default: the task-tracking sample log and its model, compiled into
//! the binary so `eventfold run` works from any folder, installed or not.

use crate::ingest::InputSource;
#[cfg(feature = "sql")]
use crate::model::ModelSource;

/// The sample log, `testdata/tasks/events.ndjson`.
pub const SAMPLE_EVENTS: &[u8] = include_bytes!("../testdata/tasks/events.ndjson");

/// The task-tracking model, `testdata/tasks/model.toml`.
pub const SAMPLE_MODEL: &str = include_str!("../testdata/tasks/model.toml");

/// Who holds which role in the task domain, `testdata/tasks/roles.toml`: the
/// roles the task model's rules read when no roles file is given.
pub const SAMPLE_ROLES: &str = include_str!("../testdata/tasks/roles.toml");

/// The sample log as an input; named as in the repository.
pub fn sample_input() -> InputSource {
    InputSource::Memory {
        name: "testdata/tasks/events.ndjson".into(),
        bytes: bytes::Bytes::from_static(SAMPLE_EVENTS),
    }
}

/// The task model as a model source.
#[cfg(feature = "sql")]
pub fn sample_model() -> ModelSource {
    ModelSource {
        name: "testdata/tasks/model.toml".into(),
        text: SAMPLE_MODEL.into(),
    }
}

/// The check queries of `queries/checks/`, for `check` run outside a checkout.
#[cfg(feature = "sql")]
const CHECKS: [(&str, &str); 10] = [
    (
        "assignee_board_matches_state.sql",
        include_str!("../queries/checks/assignee_board_matches_state.sql"),
    ),
    (
        "assignee_board_not_negative.sql",
        include_str!("../queries/checks/assignee_board_not_negative.sql"),
    ),
    (
        "duplicate_event_ids.sql",
        include_str!("../queries/checks/duplicate_event_ids.sql"),
    ),
    (
        "duplicate_versions.sql",
        include_str!("../queries/checks/duplicate_versions.sql"),
    ),
    (
        "events_after_terminal.sql",
        include_str!("../queries/checks/events_after_terminal.sql"),
    ),
    (
        "forbidden_transitions.sql",
        include_str!("../queries/checks/forbidden_transitions.sql"),
    ),
    (
        "missing_project_references.sql",
        include_str!("../queries/checks/missing_project_references.sql"),
    ),
    (
        "stale_work.sql",
        include_str!("../queries/checks/stale_work.sql"),
    ),
    (
        "timestamps_backwards.sql",
        include_str!("../queries/checks/timestamps_backwards.sql"),
    ),
    (
        "version_gaps.sql",
        include_str!("../queries/checks/version_gaps.sql"),
    ),
];

/// The embedded check queries, parsed (the query library is part of the SQL layer).
#[cfg(feature = "sql")]
pub fn check_queries() -> crate::Result<Vec<crate::sql::queries::QueryFile>> {
    CHECKS
        .iter()
        .map(|(name, text)| {
            crate::sql::queries::QueryFile::parse(&format!("embedded:queries/checks/{name}"), text)
        })
        .collect()
}

/// The task domain's SQL projections, `testdata/tasks/projections/`.
#[cfg(feature = "sql")]
const PROJECTIONS: [(&str, &str); 4] = [
    (
        "actor_workload.sql",
        include_str!("../testdata/tasks/projections/actor_workload.sql"),
    ),
    (
        "assignee_board.sql",
        include_str!("../testdata/tasks/projections/assignee_board.sql"),
    ),
    (
        "project_progress.sql",
        include_str!("../testdata/tasks/projections/project_progress.sql"),
    ),
    (
        "project_throughput.sql",
        include_str!("../testdata/tasks/projections/project_throughput.sql"),
    ),
];

/// The task domain's SQL projections, named as in the repository.
#[cfg(feature = "sql")]
pub fn sample_projections() -> Vec<crate::projection::ProjectionSource> {
    PROJECTIONS
        .iter()
        .map(|(name, text)| crate::projection::ProjectionSource {
            origin: format!("testdata/tasks/projections/{name}"),
            text: (*text).to_owned(),
        })
        .collect()
}
