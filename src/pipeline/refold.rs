//! [`refold`]: the keyed folds of an existing output folded again from its
//! `events.parquet`, without the exported log (what `eventfold project`
//! rebuilds a keyed fold with).
//!
//! `events.parquet` is in stream order and already upcast, as the replay
//! consumed it, so replaying it with the model gives each event the same
//! state before and after; only the keyed fold tables are written.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::RecordBatch;

use crate::envelope::events_schema;
use crate::model::{AggregateModel, KeyedProjection, Model};
use crate::replay::keyed::KeyedFolds;
use crate::replay::{EventRef, ReplaySink, Replayer, StreamState, Transition};
use crate::sink::projection::write_projections;
use crate::{Error, Result};

/// A replay's output nobody keeps: only the keyed folds are wanted.
struct Discard;

impl ReplaySink for Discard {
    fn transition(&mut self, _: &EventRef, _: Transition) -> Result<()> {
        Ok(())
    }

    fn state(&mut self, _: &AggregateModel, _: StreamState) -> Result<()> {
        Ok(())
    }
}

/// Folds the keyed folds of `model` (those in `names`, or all) from the
/// events table at `events` and writes `projections/<name>.parquet` under
/// `out_root`; returns rows per table. `model_file` names the model in
/// errors: an unknown name, events without their key (as a run reports them).
pub fn refold(
    model: &Model,
    model_file: &str,
    events: &Path,
    out_root: &Path,
    names: Option<&[String]>,
) -> Result<BTreeMap<String, u64>> {
    let selected = select(model, model_file, names)?;
    let mut replayer = Replayer::new(model).with_keyed_folds(KeyedFolds::new(selected));
    let fields = |schema: &arrow::datatypes::SchemaRef| -> Vec<_> {
        (schema.fields().iter())
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    };
    if fields(&crate::sink::dataset::schema(events)?) != fields(&events_schema()) {
        return Err(Error::usage(format!(
            "{} does not have the columns of an events table eventfold writes",
            events.display()
        )));
    }
    let mut sink = Discard;
    // A folder of parts is read part after part: a stream is in one part.
    for batch in crate::sink::dataset::TableReader::open(events, None)? {
        let batch = RecordBatch::try_new(events_schema(), batch?.columns().to_vec())?;
        replayer.push_batch(&batch, &mut sink)?;
    }
    let (_, folds) = replayer.finish_with_folds(&mut sink)?;
    let Some(folds) = folds else {
        return Ok(BTreeMap::new());
    };
    folds.check_keys(model_file)?;
    write_projections(out_root, &folds)
}

/// The keyed folds named `names` (all when `None`), in the model's order;
/// an unknown name is an error.
fn select<'m>(
    model: &'m Model,
    model_file: &str,
    names: Option<&[String]>,
) -> Result<Vec<&'m KeyedProjection>> {
    let declared = || model.projections.iter().map(|p| p.name.as_str());
    let Some(names) = names else {
        return Ok(model.projections.iter().collect());
    };
    if let Some(unknown) = names.iter().find(|n| !declared().any(|d| d == *n)) {
        let declared: Vec<&str> = declared().collect();
        return Err(Error::usage(format!(
            "{model_file} declares no keyed fold \"{unknown}\" (declared: {})",
            if declared.is_empty() {
                "none".to_owned()
            } else {
                declared.join(", ")
            }
        )));
    }
    Ok((model.projections.iter())
        .filter(|p| names.contains(&p.name))
        .collect())
}
