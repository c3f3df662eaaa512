//! [`refold`]: the keyed folds of an existing output folded again from its
//! `events.parquet`, without the exported log (what `eventfold project`
//! rebuilds a keyed fold with).
//!
//! `events.parquet` is in stream order and already upcast, as the replay
//! consumed it, so replaying it with the model gives each event the same
//! state before and after; only the keyed fold tables are written.

use std::collections::BTreeMap;
use std::path::Path;

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, RecordBatch, StringArray};

use crate::envelope::{col, events_schema};
use crate::model::{AggregateModel, KeyedProjection, Model};
use crate::replay::keyed::KeyedFolds;
use crate::replay::{EventRef, ReplaySink, Replayer, StreamState, Transition};
use crate::sink::projection::write_projections;
use crate::{Error, Result};

/// The error of an events table without the column `name`.
fn missing(events: &Path, name: &str) -> Error {
    Error::usage(format!("{}: no column {name}", events.display()))
}

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
    // The columns the replay reads: not `metadata`, `source` and the
    // upcaster's originals, which are most of the file's bytes (at 10M
    // events `metadata` alone is 339 of 1,020 MB compressed). They are
    // given empty, so the batch keeps the events' schema.
    let schema = events_schema();
    let skipped = [
        col::METADATA,
        col::SOURCE,
        col::ORIGINAL_EVENT_TYPE,
        col::ORIGINAL_SCHEMA_VERSION,
    ];
    let read: Vec<&str> = (schema.fields().iter().enumerate())
        .filter(|(index, _)| !skipped.contains(index))
        .map(|(_, field)| field.name().as_str())
        .collect();
    // A folder of parts is read part after part: a stream is in one part.
    for batch in crate::sink::dataset::TableReader::open(events, Some(&read))? {
        let batch = batch?;
        let mut read = batch.columns().iter();
        let columns = (schema.fields().iter().enumerate())
            .map(
                |(index, field)| match (skipped.contains(&index), field.is_nullable()) {
                    (false, _) => read
                        .next()
                        .cloned()
                        .ok_or_else(|| missing(events, field.name())),
                    (true, true) => Ok(new_null_array(field.data_type(), batch.num_rows())),
                    (true, false) => Ok(Arc::new(StringArray::from_iter_values(
                        std::iter::repeat_n("", batch.num_rows()),
                    )) as ArrayRef),
                },
            )
            .collect::<Result<Vec<ArrayRef>>>()?;
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
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
