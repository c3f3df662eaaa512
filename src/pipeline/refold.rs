//! [`refold`]: the keyed folds of an existing output folded again from its
//! `events.parquet`, without the exported log (what `eventfold project`
//! rebuilds a keyed fold with).
//!
//! `events.parquet` is in stream order and already upcast, as the replay
//! consumed it, so replaying it with the model gives each event the same
//! state before and after; only the keyed fold tables are written. The
//! streams are split into a share per core (a folder's parts dealt out, or
//! one file's row groups cut between streams), each folded on a thread of
//! its own, and the tables merged: a keyed fold's rows do not depend on the
//! order or the grouping of the streams (`KeyedFolds::merge`).

use std::collections::BTreeMap;
use std::path::Path;

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray};

use crate::envelope::{col, events_schema};
use crate::model::projection::{Source, StateRef};
use crate::model::{AggregateModel, Effect, EnvelopeValue, KeyedProjection, Model, ValueSource};
use crate::replay::keyed::KeyedFolds;
use crate::replay::{EventRef, ReplaySink, Replayer, StreamState, Transition};
use crate::sink::dataset;
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
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    refold_on(model, model_file, events, out_root, names, threads)
}

/// [`refold`] on at most `threads` threads.
fn refold_on(
    model: &Model,
    model_file: &str,
    events: &Path,
    out_root: &Path,
    names: Option<&[String]>,
    threads: usize,
) -> Result<BTreeMap<String, u64>> {
    let narrowed = narrowed(model, &select(model, model_file, names)?);
    let model = &narrowed;
    let selected = select(model, model_file, names)?;
    let fields = |schema: &arrow::datatypes::SchemaRef| -> Vec<_> {
        (schema.fields().iter())
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    };
    if fields(&dataset::schema(events)?) != fields(&events_schema()) {
        return Err(Error::usage(format!(
            "{} does not have the columns of an events table eventfold writes",
            events.display()
        )));
    }
    let shares = shares(events, threads)?;
    // Each share's streams folded on a thread of its own, the tables then
    // merged: the rows do not depend on how the streams are split.
    let folded: Vec<Result<Option<KeyedFolds>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (shares.iter())
            .map(|share| scope.spawn(|| fold_share(model, &selected, events, share)))
            .collect();
        (handles.into_iter())
            .map(|handle| {
                (handle.join())
                    .unwrap_or_else(|_| Err(Error::usage("a refold thread panicked".to_owned())))
            })
            .collect()
    });
    let mut merged: Option<KeyedFolds> = None;
    for folds in folded {
        match (merged.as_mut(), folds?) {
            (Some(all), Some(folds)) => all.merge(folds),
            (None, folds) => merged = folds,
            (Some(_), None) => {}
        }
    }
    let Some(folds) = merged else {
        return Ok(BTreeMap::new());
    };
    folds.check_keys(model_file)?;
    write_projections(out_root, &folds)
}

/// A stream's place in the events' order: (aggregate_type, stream_id).
type StreamKey = (String, String);

/// Where one thread's streams are: a file's row groups (all when `None`),
/// and of those rows only the streams from `from` and before `to`.
#[derive(Debug, Clone, Default)]
struct Slice {
    path: std::path::PathBuf,
    groups: Option<Vec<usize>>,
    from: Option<StreamKey>,
    to: Option<StreamKey>,
}

/// The events split into at most `threads` shares of whole streams: a
/// folder's parts dealt out (a stream is in one part), or one file's row
/// groups cut at streams (a stream may span groups, so a share's first and
/// last groups are filtered by stream).
fn shares(events: &Path, threads: usize) -> Result<Vec<Vec<Slice>>> {
    let parts = dataset::parts(events)?;
    let threads = threads.clamp(1, 8);
    if parts.len() > 1 {
        let mut shares = vec![Vec::new(); threads.min(parts.len())];
        let count = shares.len();
        for (index, path) in parts.into_iter().enumerate() {
            shares[index % count].push(Slice {
                path,
                ..Slice::default()
            });
        }
        return Ok(shares);
    }
    let path = parts
        .into_iter()
        .next()
        .unwrap_or_else(|| events.to_owned());
    let groups = dataset::row_groups(&path)?;
    if threads < 2 || groups < 2 * threads {
        return Ok(vec![vec![Slice {
            path,
            ..Slice::default()
        }]]);
    }
    // The first stream of every group, and cuts at those of evenly spaced groups.
    let mut firsts = Vec::with_capacity(groups);
    for group in 0..groups {
        let reader = dataset::open_file(
            &path,
            Some(&["aggregate_type", "stream_id"]),
            Some(vec![group]),
        )?;
        let first = match reader.into_iter().next() {
            Some(batch) => {
                let batch = batch?;
                // By name: a projection keeps the file's column order.
                let text = |name: &str| -> Result<String> {
                    let column = batch.column(batch.schema().index_of(name)?);
                    Ok(column.as_string::<i32>().value(0).to_owned())
                };
                (text("aggregate_type")?, text("stream_id")?)
            }
            None => {
                return Ok(vec![vec![Slice {
                    path,
                    ..Slice::default()
                }]])
            }
        };
        firsts.push(first);
    }
    let mut cuts: Vec<StreamKey> = (1..threads)
        .map(|share| firsts[share * groups / threads].clone())
        .collect();
    cuts.dedup();
    let mut shares = Vec::with_capacity(cuts.len() + 1);
    for share in 0..=cuts.len() {
        let from = share.checked_sub(1).map(|cut| cuts[cut].clone());
        let to = cuts.get(share).cloned();
        // A group can hold streams from `from` when the next one starts at
        // or after it; streams before `to` when it starts before it.
        let first = match &from {
            None => 0,
            Some(from) => (0..groups)
                .find(|g| g + 1 == groups || firsts[g + 1] >= *from)
                .unwrap_or(0),
        };
        let end = match &to {
            None => groups,
            Some(to) => firsts.iter().take_while(|f| *f < to).count(),
        };
        let slice = |range: std::ops::Range<usize>, filtered: bool| Slice {
            path: path.clone(),
            groups: Some(range.collect()),
            from: from.clone().filter(|_| filtered),
            to: to.clone().filter(|_| filtered),
        };
        // Only the first and last groups can hold another share's streams.
        let mut slices = vec![slice(first..first + 1, true)];
        if end > first + 2 {
            slices.push(slice(first + 1..end - 1, false));
        }
        if end > first + 1 {
            slices.push(slice(end - 1..end, true));
        }
        shares.push(slices);
    }
    Ok(shares)
}

/// Folds one share of the streams; its keyed fold tables, when the model
/// declares any.
fn fold_share<'m>(
    model: &'m Model,
    selected: &[&'m KeyedProjection],
    events: &Path,
    share: &[Slice],
) -> Result<Option<KeyedFolds<'m>>> {
    let mut replayer =
        Replayer::new(model).with_keyed_folds(KeyedFolds::new(selected.iter().copied()));
    let mut sink = Discard;
    // The columns the replay reads ([`unread_columns`] are given empty, so
    // the batch keeps the events' schema).
    let schema = events_schema();
    let skipped = unread_columns(model, selected);
    let read: Vec<&str> = (schema.fields().iter().enumerate())
        .filter(|(index, _)| !skipped.contains(index))
        .map(|(_, field)| field.name().as_str())
        .collect();
    for slice in share {
        for batch in dataset::open_file(&slice.path, Some(&read), slice.groups.clone())? {
            let batch = within(&batch?, slice)?;
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
    }
    Ok(replayer.finish_with_folds(&mut sink)?.1)
}

/// `model` without the effects on state fields no rule of `selected`
/// reads: the refold then parses only the payload values the keyed folds
/// need (at 10M events, the assignee of ~0.7M assignments instead of every
/// title, estimate and label). The fields keep their indices, which the
/// rules read them by; a field no effect sets stays null, and nothing reads
/// it. The lifecycle is kept whole: whether an event applies, and every
/// status, are as in the run.
fn narrowed(model: &Model, selected: &[&KeyedProjection]) -> Model {
    let read: Vec<(Option<&str>, usize)> = (selected.iter())
        .flat_map(|projection| projection.rules.iter())
        .flat_map(|rule| {
            (rule.sources()).filter_map(|source| match source {
                Source::Before(StateRef::Field(index)) | Source::After(StateRef::Field(index)) => {
                    Some((rule.aggregate.as_deref(), *index))
                }
                _ => None,
            })
        })
        .collect();
    let mut narrowed = model.clone();
    for aggregate in &mut narrowed.aggregates {
        let kept = |field: usize| {
            (read.iter())
                .any(|(of, index)| *index == field && of.is_none_or(|a| a == aggregate.name))
        };
        for handler in aggregate.handlers.values_mut() {
            handler.effects.retain(|effect| match effect {
                Effect::Set { field, .. }
                | Effect::Unset { field }
                | Effect::Increment { field, .. }
                | Effect::Add { field, .. }
                | Effect::Remove { field, .. } => kept(*field),
            });
        }
    }
    narrowed
}

/// The columns of the events a refold of `selected` need not read: always
/// `metadata`, `source` and the upcaster's originals, which are most of the
/// file's bytes (at 10M events `metadata` alone is 356 of 1,020 MB
/// compressed); and the ids (`event_id`, `correlation_id`,
/// `causation_id`: 505 MB more of random text) unless an aggregate's effect
/// or a selected rule reads one of them as an envelope value. The replay
/// uses an event's ids only in findings, which a refold does not keep.
fn unread_columns(model: &Model, selected: &[&KeyedProjection]) -> Vec<usize> {
    let handlers = (model.aggregates.iter())
        .flat_map(|aggregate| aggregate.handlers.values())
        .flat_map(|handler| handler.effects.iter())
        .filter_map(|effect| match effect {
            Effect::Set { source, .. }
            | Effect::Add { source, .. }
            | Effect::Remove { source, .. } => Some(source),
            Effect::Unset { .. } | Effect::Increment { .. } => None,
        });
    let rules = (selected.iter())
        .flat_map(|projection| projection.rules.iter())
        .flat_map(|rule| rule.sources())
        .filter_map(|source| match source {
            Source::Value(value) => Some(value),
            Source::Before(_) | Source::After(_) => None,
        });
    let read: Vec<EnvelopeValue> = (handlers.chain(rules))
        .filter_map(|source| match source {
            ValueSource::Envelope(value) => Some(*value),
            ValueSource::Payload(_) => None,
        })
        .collect();
    let ids = [
        (col::EVENT_ID, EnvelopeValue::EventId),
        (col::CORRELATION_ID, EnvelopeValue::CorrelationId),
        (col::CAUSATION_ID, EnvelopeValue::CausationId),
    ];
    let unread_ids = (ids.into_iter())
        .filter(|(_, value)| !read.contains(value))
        .map(|(column, _)| column);
    [
        col::METADATA,
        col::SOURCE,
        col::ORIGINAL_EVENT_TYPE,
        col::ORIGINAL_SCHEMA_VERSION,
    ]
    .into_iter()
    .chain(unread_ids)
    .collect()
}

/// The rows of `batch` (the read columns of the events) whose stream is
/// within `slice`'s bounds.
fn within(batch: &RecordBatch, slice: &Slice) -> Result<RecordBatch> {
    if slice.from.is_none() && slice.to.is_none() {
        return Ok(batch.clone());
    }
    let column = |name: &str| -> Result<&StringArray> {
        let index = batch.schema().index_of(name)?;
        Ok(batch.column(index).as_string::<i32>())
    };
    let (types, streams) = (column("aggregate_type")?, column("stream_id")?);
    let keep: BooleanArray = (0..batch.num_rows())
        .map(|row| {
            let key = (types.value(row), streams.value(row));
            let after = (slice.from.as_ref()).is_none_or(|(a, s)| key >= (a.as_str(), s.as_str()));
            let before = (slice.to.as_ref()).is_none_or(|(a, s)| key < (a.as_str(), s.as_str()));
            Some(after && before)
        })
        .collect();
    Ok(arrow::compute::filter_record_batch(batch, &keep)?)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample's keyed fold reads the task's assignee and status: the
    /// narrowed model keeps every handler and the lifecycle, and only the
    /// effects on the assignee.
    #[test]
    fn a_refold_folds_only_the_fields_its_rules_read() {
        let sample = crate::embedded::sample_model();
        let model = crate::model::parse_model(&sample.name, &sample.text).unwrap();
        let selected: Vec<&KeyedProjection> = model.projections.iter().collect();
        let narrowed = narrowed(&model, &selected);
        for (before, after) in model.aggregates.iter().zip(&narrowed.aggregates) {
            assert_eq!(before.lifecycle, after.lifecycle);
            assert_eq!(before.fields, after.fields);
            let names = |a: &AggregateModel| {
                let mut names: Vec<String> = a.handlers.keys().cloned().collect();
                names.sort();
                names
            };
            assert_eq!(names(before), names(after));
            let set: Vec<&str> = (after.handlers.values())
                .flat_map(|handler| handler.effects.iter())
                .map(|effect| match effect {
                    Effect::Set { field, .. } | Effect::Unset { field } => {
                        after.fields[*field].name.as_str()
                    }
                    other => panic!("{other:?} kept"),
                })
                .collect();
            let expected = if after.name == "task" { 1.. } else { 0.. };
            assert!(expected.contains(&set.len()), "{}: {set:?}", after.name);
            assert!(set.iter().all(|name| *name == "assignee"), "{set:?}");
        }
        let all = |m: &Model| -> usize {
            (m.aggregates.iter())
                .flat_map(|a| a.handlers.values())
                .map(|h| h.effects.len())
                .sum()
        };
        assert!(all(&model) > 3 * all(&narrowed), "{}", all(&narrowed));
    }

    /// The sample's keyed fold reads no id, so the refold reads none; a
    /// rule that keeps the last correlation id, or an aggregate field set
    /// from the event id, has its column read.
    #[test]
    fn a_refold_reads_the_ids_only_when_a_rule_or_an_effect_reads_them() {
        let sample = crate::embedded::sample_model();
        let unread = |text: &str| {
            let model = crate::model::parse_model("model.toml", text).unwrap();
            let selected: Vec<&KeyedProjection> = model.projections.iter().collect();
            unread_columns(&model, &selected)
        };
        let ids = [col::EVENT_ID, col::CORRELATION_ID, col::CAUSATION_ID];
        let all = unread(&sample.text);
        assert!(ids.iter().all(|id| all.contains(id)), "{all:?}");
        assert!(all.contains(&col::METADATA) && !all.contains(&col::PAYLOAD));
        let rule = (sample.text)
            .replace(
                "last_assigned_at = \"timestamp\"",
                "last_assigned_at = \"timestamp\"\nlast_correlation = \"string\"",
            )
            .replace(
                "max = { last_assigned_at = \"@occurred_at\" }",
                "max = { last_assigned_at = \"@occurred_at\" }\nset = { last_correlation = \"@correlation_id\" }",
            );
        let read = unread(&rule);
        assert!(!read.contains(&col::CORRELATION_ID), "{read:?}");
        assert!(read.contains(&col::EVENT_ID) && read.contains(&col::CAUSATION_ID));
        let effect = (sample.text).replace("created_by = \"@actor\"", "created_by = \"@event_id\"");
        let read = unread(&effect);
        assert!(!read.contains(&col::EVENT_ID), "{read:?}");
        assert!(read.contains(&col::CORRELATION_ID));
    }

    /// The sample's keyed fold refolded from its events rewritten in row
    /// groups of 16 (so streams span groups, and the cuts fall inside
    /// streams) on 1, 2, 3 and 5 threads: the same table each time.
    #[test]
    fn a_refold_split_over_threads_gives_the_rows_of_one() {
        let temp = crate::report::tests::sample_output();
        let out = temp.path().join("out");
        let small = temp.path().join("events-small.parquet");
        let reader = dataset::open_file(&out.join("events.parquet"), None, None).unwrap();
        let properties = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(16))
            .build();
        let file = std::fs::File::create(&small).unwrap();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(file, events_schema(), Some(properties)).unwrap();
        for batch in reader {
            writer.write(&batch.unwrap()).unwrap();
        }
        writer.close().unwrap();
        assert!(dataset::row_groups(&small).unwrap() > 150);
        let model = crate::embedded::sample_model();
        let model = crate::model::parse_model(&model.name, &model.text).unwrap();
        let table = |threads: usize| {
            let root = temp.path().join(format!("t{threads}"));
            std::fs::create_dir_all(&root).unwrap();
            let rows = refold_on(&model, "model.toml", &small, &root, None, threads).unwrap();
            let path = root.join("projections/assignee_tasks.parquet");
            let batches: Vec<RecordBatch> = dataset::open_file(&path, None, None)
                .unwrap()
                .map(|b| b.unwrap())
                .collect();
            (rows, batches)
        };
        let one = table(1);
        assert!(one.0["assignee_tasks"] > 10, "{:?}", one.0);
        for threads in [2, 3, 5] {
            assert_eq!(shares(&small, threads).unwrap().len(), threads);
            assert_eq!(table(threads), one, "{threads} threads");
        }
    }
}
