//! The replay's one pass over the sorted stream: each batch upcast, written
//! to `events.parquet` (compressed on a thread of its own, and hashed on
//! another when the file is final) and folded into the transitions, state
//! and keyed fold tables, its repeated event ids kept aside. Timed per part:
//! waiting for the sort, the fold, the events' write and the tables'
//! (`report.timings`).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use arrow::array::RecordBatch;

use super::duplicates::{duplicate_id_findings, occurrences, EVENTS_OCCURRENCE};
use super::sorted::SortedEvents;
use super::RunReport;
use crate::envelope::events_schema;
use crate::model::roles::Roles;
use crate::model::{Model, StateValue};
use crate::replay::authorise::{Authoriser, HeldSlot};
use crate::replay::keyed::KeyedFolds;
use crate::replay::{Finding, Replayer, Seeds};
use crate::sink::projection::write_projections;
use crate::sink::{BackgroundTableWriter, OutputSink, TableWriter};
use crate::support::digest::PendingHash;
use crate::support::metrics::{millis, Stopwatch};
use crate::support::progress::{Observer, Stage};
use crate::Result;

/// The events table's file in an output folder.
pub(super) const EVENTS_FILE: &str = "events.parquet";

/// What [`sort_and_replay`] folds with, and where it writes.
pub(super) struct Replay<'a> {
    pub model: &'a Model,
    /// The folder of `events.parquet`, `transitions.parquet` and the states.
    pub root: &'a Path,
    pub with_history: bool,
    pub seeds: Seeds,
    /// The hashes of event ids used more than once, when known before the replay.
    pub repeated_ids: Option<HashSet<u64>>,
    /// `events.parquet` is final once written (not merged with a previous
    /// output): hash it on a thread of its own as it is written.
    pub hash_events: bool,
    pub observer: &'a dyn Observer,
    /// The model's keyed folds (seeded with an incremental run's previous
    /// rows), when it declares any.
    pub folds: Option<KeyedFolds<'a>>,
    /// The folder of `projections/`: the output's own, also when the other
    /// tables go to an incremental run's increment (the folds are complete).
    pub output_root: &'a Path,
    /// The model file's name, for the error about events without their key.
    pub model_file: &'a str,
    /// Who holds which role, for the model's authorisation rules.
    pub roles: &'a Roles,
    /// An incremental run's previous states of the streams the rules read
    /// through a reference ([`Authoriser::earlier`]).
    pub related_states: HashMap<(String, String), Vec<StateValue>>,
    /// A partition of a distributed run: its related permits are held and
    /// handed over here ([`Authoriser::deferring`]).
    pub held: Option<HeldSlot>,
}

/// Where the pass's time goes: waiting for the sorted stream, the fold (with
/// the tables' flushes inside it), handing batches to the events' writer.
#[derive(Default)]
struct Clocks {
    sort: Stopwatch,
    fold: Stopwatch,
    write: Stopwatch,
}

/// Folds `stream` batch by batch while `events.parquet` is written beside
/// the fold; returns the replay's findings (with the repeated ids') and,
/// when asked, the pending hash of `events.parquet`.
pub(super) async fn sort_and_replay(
    mut stream: SortedEvents,
    replay: Replay<'_>,
    report: &mut RunReport,
) -> Result<(Vec<Finding>, Option<PendingHash>)> {
    let Replay {
        model,
        root,
        with_history,
        seeds,
        repeated_ids,
        hash_events,
        observer,
        folds,
        output_root,
        model_file,
        roles,
        related_states,
        held,
    } = replay;
    let mut repeated = Vec::new();
    let mut folded = 0;
    let (mut events, events_hash) = events_writer(&root.join(EVENTS_FILE), hash_events)?;
    let mut sink = OutputSink::create(root, &model.aggregates, with_history)?;
    let mut replayer = Replayer::with_seeds(model, seeds);
    if let Some(folds) = folds {
        replayer = replayer.with_keyed_folds(folds);
    }
    if model.has_authorisation() {
        let mut authoriser = Authoriser::new(model, roles).earlier(related_states);
        if let Some(slot) = held {
            authoriser = authoriser.deferring(slot);
        }
        replayer = replayer.with_authoriser(authoriser);
    }
    let mut clocks = Clocks::default();
    loop {
        let waited = Instant::now();
        let Some(batch) = stream.next().await else {
            break;
        };
        clocks.sort.add(waited.elapsed());
        let batch = RecordBatch::try_new(events_schema(), batch?.columns().to_vec())?;
        let batch = crate::model::upcast::apply(&model.upcasters, batch)?;
        clocks.write.time(|| events.write(batch.clone()))?;
        clocks
            .fold
            .time(|| replayer.push_batch(&batch, &mut sink))?;
        if let Some(hashes) = repeated_ids.as_ref().filter(|h| !h.is_empty()) {
            let repeated_id = |id: &str| hashes.contains(&crate::sort::runs::id_hash(id));
            occurrences(&batch, EVENTS_OCCURRENCE, repeated_id, &mut repeated)?;
        }
        report.transitions += batch.num_rows() as u64;
        folded += batch.num_rows() as u64;
        observer.progressed(Stage::Replay, folded);
    }
    observer.stage_finished(Stage::Replay);
    let tables = Tables {
        sink,
        output_root,
        model_file,
    };
    let mut findings = close(events, replayer, tables, clocks, report)?;
    findings.extend(duplicate_id_findings(repeated));
    Ok((findings, events_hash))
}

/// The tables the replay writes besides `events.parquet`.
struct Tables<'a> {
    sink: OutputSink,
    output_root: &'a Path,
    model_file: &'a str,
}

/// Once the stream is folded: `events.parquet` and the tables closed, the
/// keyed folds checked and written, the replay's streams, states and timings
/// into `report`; returns its findings.
fn close(
    events: BackgroundTableWriter,
    replayer: Replayer,
    tables: Tables,
    mut clocks: Clocks,
    report: &mut RunReport,
) -> Result<Vec<Finding>> {
    let Tables {
        mut sink,
        output_root,
        model_file,
    } = tables;
    let (_, events_busy) = clocks.write.time(|| events.close())?;
    let (outcome, folds) = clocks.fold.time(|| replayer.finish_with_folds(&mut sink))?;
    let tables_write = sink.write_millis();
    let closing = Instant::now();
    if let Some(folds) = folds {
        folds.check_keys(model_file)?;
        report.projections = write_projections(output_root, &folds)?;
    }
    let (states, history) = sink.close()?;
    report.states = states.into_iter().collect();
    report.state_history = history.into_iter().collect();
    let timings = &mut report.timings;
    timings.sort_ms = clocks.sort.millis();
    timings.events_write_ms = events_busy;
    timings.events_write_wait_ms = clocks.write.millis();
    // Table flushes happen inside the fold's calls into the sink.
    timings.fold_ms = clocks.fold.millis().saturating_sub(tables_write);
    timings.tables_write_ms = tables_write + millis(closing.elapsed());
    report.streams = outcome.streams;
    Ok(outcome.findings)
}

/// `events.parquet` at `path`, compressed on a thread of its own beside the
/// fold, and (when `hashed`: it is final) hashed on another as it is written.
fn events_writer(
    path: &Path,
    hashed: bool,
) -> Result<(BackgroundTableWriter, Option<PendingHash>)> {
    let (file, hash) = match hashed {
        true => {
            let (file, hash) =
                TableWriter::create_hashed(path, events_schema(), crate::sink::zstd())?;
            (file, Some(hash))
        }
        false => (
            TableWriter::create(path, events_schema(), crate::sink::zstd())?,
            None,
        ),
    };
    Ok((BackgroundTableWriter::spawn(file)?, hash))
}
