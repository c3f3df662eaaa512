//! `eventfold decide` as a batch: read the commands, read the snapshot of the
//! streams they touch, decide every stream (in parallel: streams are
//! independent), and write the decision folder at once.
//!
//! A batch larger than memory is spread over bucket files by stream as it
//! is read ([`super::spill`]) and decided a few buckets at a time, each pass
//! within a sixth of the memory limit; the passes' accepted events are
//! merged into one file in issued_at order, so the decision is the same
//! whatever the number of passes (a test decides a batch in one pass and in
//! many and compares).
//!
//! The commands are read by ingest, with a mapping of their own onto the
//! envelope (command id → event_id, command type → event_type, issued_at →
//! occurred_at, …), so NDJSON, CSV, gzip and every format option work as for
//! logs, and a record that cannot be a command is rejected as `malformed`
//! with its line. Of the output only the row groups of `streams.parquet` and
//! the state tables that hold the touched streams are read, and of
//! `events.parquet` only the `causation_id` column (a command id found there
//! was decided before: idempotency). A related permit
//! (`@project_id.owner`) reads the related stream's snapshot state: its
//! commands in the same batch are not seen, since streams are decided apart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use arrow::array::AsArray;
use arrow::datatypes::{TimestampMicrosecondType, UInt64Type};
use rayon::prelude::*;

use super::read::{source_order, At, Commands};
use super::spill::{Ids, Spill, SEQ};
use super::write::{write_decision, write_pass_events, Accepted, Decided, EventLines};
use super::{target_stream, Command, Decider, Reason, Rejection, RelatedStates, StreamDecision};
use crate::envelope::col;
use crate::ingest::{ingest, IngestOptions, InputSource};
use crate::model::roles::Roles;
use crate::model::{Model, Permit};
use crate::replay::Seeds;
use crate::sink::manifest::Manifest;
use crate::sink::snapshot::{read_snapshot, stream_keys};
use crate::sink::OutputDir;
use crate::support::metrics::release_free_memory;
use crate::{Error, Result};

pub use super::read::{command_mapping, NO_EXPECTED_VERSION};
pub use super::write::{rejected_schema, DecideSummary};

/// What `decide` reads and where it writes.
pub struct DecideOptions {
    /// The output whose state is the snapshot.
    pub out: PathBuf,
    /// The decision folder to write.
    pub decision: PathBuf,
    pub inputs: Vec<InputSource>,
    /// How to read the inputs; its mapping is [`command_mapping`]'s.
    pub ingest: IngestOptions,
    pub roles: Roles,
    /// Memory the batch may hold: a sixth of it is the commands decided
    /// at once (`decide --memory-limit`, else the run's limit).
    pub memory_limit: usize,
}

/// For each aggregate type, the reference fields some permit of its commands
/// reads through (`@project_id.owner`), with the related aggregate type.
fn related_references(model: &Model) -> HashMap<&str, Vec<(usize, &str)>> {
    let mut references: HashMap<&str, Vec<(usize, &str)>> = HashMap::new();
    for command in model.commands.values() {
        let Some(aggregate) = model.aggregate(&command.aggregate) else {
            continue;
        };
        let rules = command.allowed.iter().chain(
            command
                .emits
                .iter()
                .filter_map(|e| aggregate.handlers.get(&e.event_type)?.allowed.as_ref()),
        );
        for permit in rules.flat_map(|rule| &rule.permits) {
            if let Permit::Related {
                reference,
                aggregate: target,
                ..
            } = permit
            {
                let list = references.entry(aggregate.name.as_str()).or_default();
                if !list.contains(&(*reference, target.as_str())) {
                    list.push((*reference, target.as_str()));
                }
            }
        }
    }
    references
}

/// Looks up `keys` in the snapshot and adds them to `related` (`None` for
/// those it does not hold).
fn load_related(
    out: &Path,
    model: &Model,
    keys: &HashSet<(String, String)>,
    related: &mut RelatedStates,
) -> Result<()> {
    let wanted: Vec<(&str, &str)> = keys
        .iter()
        .filter(|k| !related.contains_key(*k))
        .map(|(a, s)| (a.as_str(), s.as_str()))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let mut found = read_snapshot(out, model, &stream_keys(wanted)?)?;
    for key in keys {
        let state = found.remove(key).map(|s| s.fields);
        related.entry(key.clone()).or_insert(state);
    }
    Ok(())
}

/// Decides the batch and writes the decision folder.
pub fn decide(options: &DecideOptions) -> Result<DecideSummary> {
    let out = &options.out;
    let manifest = Manifest::read(out)?.ok_or_else(|| {
        Error::usage(format!(
            "{} holds no manifest.json, so it is not an eventfold output\n  hint: give --out the folder of a run",
            out.display()
        ))
    })?;
    if !manifest.is_whole_log() {
        return Err(Error::usage(format!(
            "{} was written by a partial or as-of run: its states are not the current ones\n  hint: decide against the output of a full run",
            out.display()
        )));
    }
    let model = crate::model::load_model(&out.join("model.toml"))?;
    let base = manifest
        .watermark
        .position
        .max(manifest.watermark.read_positions)
        .unwrap_or(0);
    let dir = OutputDir::create(&options.decision)?;
    let spill = dir.path("_spill");
    let decided = decide_into(&dir, &spill, options, &model, base).and_then(|summary| {
        std::fs::remove_dir_all(&spill).map_err(|e| Error::io(&spill, e))?;
        Ok(summary)
    });
    match decided {
        Ok(summary) => {
            dir.commit()?;
            Ok(summary)
        }
        Err(e) => {
            dir.abandon();
            Err(e)
        }
    }
}

/// Reads the commands into buckets under `spill`, decides them a pass at a
/// time and writes the decision into `dir`.
fn decide_into(
    dir: &OutputDir,
    spill: &Path,
    options: &DecideOptions,
    model: &Model,
    base: u64,
) -> Result<DecideSummary> {
    let out = &options.out;
    let mut sink = Spill::create(spill, model)?;
    let total = ingest(&options.inputs, &options.ingest, &mut sink)?.records;
    let (buckets, mut ids, mut rejected) = sink.finish()?;
    ids.mark_decided_before(out)?;
    let mut related = RelatedStates::new();
    let mut result = DecideSummary {
        kind: "decision",
        output: out.display().to_string(),
        commands: total,
        ..DecideSummary::default()
    };
    let mut pass_files = Vec::new();
    // A pass holds about 2.3 times its files' bytes (the commands as Arrow,
    // their order, the snapshot of their streams, the accepted events until
    // written): measured at 1M commands against 10M events, 384 MiB, and
    // 64 MiB (BENCHMARKS.md), so its files get a sixth of the limit.
    let passes = buckets.passes(options.memory_limit as u64 / 6);
    result.passes = passes.len() as u64;
    for (index, pass) in passes.iter().enumerate() {
        // What ingest's workers, or the pass before, freed goes back first.
        release_free_memory();
        let read = buckets.read(pass)?;
        let decided = decide_pass(out, model, &options.roles, &read, &ids, &mut related)?;
        result.accepted += decided.accepted_commands;
        result.events += decided.accepted.len() as u64;
        result.streams += decided.streams.len() as u64;
        rejected.extend(decided.rejected);
        let events = EventLines {
            model,
            read: &read,
            order: &decided.order,
            streams: &decided.streams,
        };
        let path = spill.join(format!("events-{index:02}.ndjson"));
        write_pass_events(&path, &events, &decided.accepted)?;
        pass_files.push(path);
    }
    rejected.sort_by(|a, b| source_order(&a.source).cmp(&source_order(&b.source)));
    for rejection in &rejected {
        *result.reasons.entry(rejection.reason.name()).or_insert(0) += 1;
    }
    result.rejected = rejected.len() as u64;
    write_decision(dir, &pass_files, base, &rejected, &result)?;
    Ok(result)
}

/// What one pass decided.
struct Pass {
    /// Its commands in issued_at order, then read order: (issued_at, seq, where).
    order: Vec<(i64, u64, At)>,
    /// Its streams, each with the indices into `order` of its commands.
    streams: Vec<((String, String), Vec<u32>)>,
    /// The accepted events, in the order they are written.
    accepted: Vec<Accepted>,
    accepted_commands: u64,
    rejected: Vec<Rejection>,
}

/// Decides the commands of one pass (every command of their streams).
fn decide_pass(
    out: &Path,
    model: &Model,
    roles: &Roles,
    read: &Commands,
    ids: &Ids,
    related: &mut RelatedStates,
) -> Result<Pass> {
    let mut rejected = Vec::new();
    let mut order: Vec<(i64, u64, At)> = Vec::new();
    for (batch_index, batch) in read.batches.iter().enumerate() {
        let times = batch
            .column(col::OCCURRED_AT)
            .as_primitive::<TimestampMicrosecondType>();
        let seqs = batch
            .column(batch.schema().index_of(SEQ)?)
            .as_primitive::<UInt64Type>();
        for row in 0..batch.num_rows() {
            let at = At {
                batch: batch_index as u32,
                row: row as u32,
            };
            order.push((times.value(row), seqs.value(row), at));
        }
    }
    order.sort_unstable_by_key(|(time, seq, _)| (*time, *seq));

    // Unknown commands, targets, ids seen twice: before any stream is decided.
    let mut streams: BTreeMap<(String, String), Vec<u32>> = BTreeMap::new();
    for (index, (time, seq, at)) in order.iter().enumerate() {
        let id = read.id(*at);
        // The command is made whole only to be rejected.
        let reject = |reason, message| Rejection::of(&read.command(*at, *seq), reason, message);
        let facts = ids.facts(id);
        if facts.is_some_and(|f| f.first != (*time, *seq)) {
            rejected.push(reject(
                Reason::DuplicateCommandId,
                format!("command id \"{id}\" comes earlier in this batch"),
            ));
            continue;
        }
        if facts.is_some_and(|f| f.decided_before) {
            rejected.push(reject(
                Reason::DuplicateCommandId,
                format!(
                    "command id \"{id}\" was decided before: an event of the log has it as causation_id"
                ),
            ));
            continue;
        }
        let command_type = read.text(*at, col::EVENT_TYPE).unwrap_or("");
        let Some(command_model) = model.commands.get(command_type) else {
            let mut names: Vec<&str> = model.commands.keys().map(String::as_str).collect();
            names.sort_unstable();
            rejected.push(reject(
                Reason::UnknownCommand,
                format!(
                    "no command \"{command_type}\" in the model (declared: {})",
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
            continue;
        };
        // Found as the batch was read; none, and the reason is made now.
        let target = match read.target(*at) {
            Some(stream) => Ok(stream.to_owned()),
            None => target_stream(command_model, &read.command(*at, *seq)),
        };
        match target {
            Ok(stream) => streams
                .entry((command_model.aggregate.clone(), stream))
                .or_default()
                .push(index as u32),
            Err(message) => rejected.push(reject(Reason::Malformed, message)),
        }
    }
    let streams: Vec<((String, String), Vec<u32>)> = streams.into_iter().collect();

    let touched = stream_keys(streams.iter().map(|((a, s), _)| (a.as_str(), s.as_str())))?;
    let seeds: Seeds = read_snapshot(out, model, &touched)?;
    drop(touched);
    let references = related_references(model);
    let mut wanted = HashSet::new();
    for ((aggregate, _), state) in &seeds {
        for (field, target) in references.get(aggregate.as_str()).into_iter().flatten() {
            if let Some(crate::model::StateValue::Str(id)) = state.fields.get(*field) {
                wanted.insert(((*target).to_owned(), id.clone()));
            }
        }
    }
    load_related(out, model, &wanted, related)?;

    let mut pending: Vec<u32> = (0..streams.len() as u32).collect();
    let mut accepted: Vec<Accepted> = Vec::new();
    let mut accepted_commands = 0;
    // A stream whose permit met a related stream not loaded is decided again
    // once it is; each round loads at least one more, so this ends.
    while !pending.is_empty() {
        let decider = Decider {
            model,
            roles,
            related,
        };
        let decided: Vec<(u32, Decided)> = pending
            .par_iter()
            .map(|group| {
                let ((aggregate, stream), indices) = &streams[*group as usize];
                let commands: Vec<Command> = (indices.iter())
                    .map(|index| {
                        let (_, seq, at) = order[*index as usize];
                        let mut command = read.command(at, seq);
                        command.stream_id = Some(stream.clone());
                        command
                    })
                    .collect();
                let decision = match model.aggregate(aggregate) {
                    Some(model) => decider.decide_stream(
                        model,
                        stream,
                        seeds.get(&(aggregate.clone(), stream.clone())).cloned(),
                        &commands,
                    ),
                    None => StreamDecision::default(),
                };
                (*group, Decided::of(decision, *group, indices, &commands))
            })
            .collect();
        let mut missing = HashSet::new();
        pending = Vec::new();
        for (group, decided) in decided {
            if decided.missing.is_empty() {
                accepted_commands += decided.commands;
                accepted.extend(decided.accepted);
                rejected.extend(decided.rejected);
            } else {
                missing.extend(decided.missing);
                pending.push(group);
            }
        }
        load_related(out, model, &missing, related)?;
    }
    // Written in issued_at order across streams (streams are in key order).
    accepted.sort_unstable_by_key(|a| (a.occurred_at, a.group, a.version));
    Ok(Pass {
        order,
        streams,
        accepted,
        accepted_commands,
        rejected,
    })
}
