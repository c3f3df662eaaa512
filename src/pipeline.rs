//! The `run` pipeline: ingest → sort → replay → sink, and the manifest.
//!
//! 1. The model is parsed first, so a broken model stops the run before any input
//!    is read.
//! 2. Ingest streams every input (parsing on all cores) into sorted runs inside
//!    the temporary output folder, writing rejects as they come: a quarter of
//!    the memory limit at a time is sorted by (aggregate_type, stream_id,
//!    version, position) and written as one run, on a thread of its own while
//!    the next quarter fills ([`crate::sink::runs`]).
//! 3. The runs are merged on a thread of their own; the sorted stream is written
//!    as `events.parquet` and folded by the [`Replayer`] in the same pass. A
//!    partial or incremental run stages one Parquet file instead and DataFusion
//!    filters and sorts it under its memory pool ([`crate::sink::staging`]).
//! 4. Duplicate event ids, which span streams: a full run writes the sorted
//!    hashes of each run's ids beside it, merges them after ingest, and the
//!    replay keeps aside the events whose id hash repeats, whose ids are then
//!    compared. A partial or incremental run finds them with an SQL aggregate
//!    (over the previous output's events too).
//! 5. Findings and `manifest.json` are written and the folder is swapped
//!    into place.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt64Type;
use datafusion::datasource::file_format::options::ParquetReadOptions;
use futures::StreamExt;

use crate::digest::{sha256_hex, sha256_hex_of, PendingHash};
use crate::envelope::events_schema;
use crate::incremental::{stream_counts, Previous, INCREMENT};
use crate::ingest::{ingest, IngestOptions, IngestSummary, InputSource};
use crate::metrics::{millis, Phase, Stopwatch};
use crate::model::{parse_model, Model};
use crate::replay::{Finding, Replayer, Rule, Seeds};
use crate::sink::{
    findings_batch, findings_schema, write_table, BackgroundTableWriter, OutputDir, OutputSink,
    StagingFormat, StagingSink, TableWriter, STAGED_PARQUET,
};
use crate::sql::{session, SessionOptions};
use crate::{Error, Result};

/// The memory the sort (sorted runs, or DataFusion's pool) may hold during
/// `run` when no limit is given: runs of 96 MiB. At 10M events the run peaks
/// at ~350–370 MiB with it (BENCHMARKS.md).
pub const DEFAULT_RUN_MEMORY_LIMIT: usize = 384 << 20;

/// A model file's name (for messages) and text.
#[derive(Debug, Clone)]
pub struct ModelSource {
    pub name: String,
    pub text: String,
}

impl ModelSource {
    /// Reads a model file.
    pub fn from_path(path: &std::path::Path) -> Result<Self> {
        Ok(Self {
            name: path.display().to_string(),
            text: std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?,
        })
    }
}

/// What part of the log a run replays: everything (the default), or some
/// aggregate types, streams or tenants, as of a time or a position.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Selection {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aggregates: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<String>,
    /// Only events that occurred at or before this time (microseconds, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of_micros: Option<i64>,
    /// Only events at or before this position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of_position: Option<u64>,
    /// Let a partial run replace a full output.
    #[serde(skip)]
    pub replace_full: bool,
}

fn sql_list(values: &[String]) -> String {
    let quoted: Vec<String> = values
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .collect();
    quoted.join(", ")
}

impl Selection {
    /// Whether the run replays less than the whole log.
    pub fn is_partial(&self) -> bool {
        self.where_clause().is_some()
    }

    /// The SQL condition on the events table, `None` for everything.
    pub fn where_clause(&self) -> Option<String> {
        let mut terms = Vec::new();
        if !self.aggregates.is_empty() {
            terms.push(format!(
                "aggregate_type IN ({})",
                sql_list(&self.aggregates)
            ));
        }
        if !self.streams.is_empty() {
            terms.push(format!("stream_id IN ({})", sql_list(&self.streams)));
        }
        if !self.tenants.is_empty() {
            terms.push(format!("tenant IN ({})", sql_list(&self.tenants)));
        }
        if let Some(micros) = self.as_of_micros {
            terms.push(format!("CAST(occurred_at AS BIGINT) <= {micros}"));
        }
        if let Some(position) = self.as_of_position {
            terms.push(format!("position <= {position}"));
        }
        (!terms.is_empty()).then(|| terms.join(" AND "))
    }
}

/// Refuses to let a partial run replace a full output, unless asked.
fn guard_full_output(config: &RunConfig) -> Result<()> {
    if config.incremental && config.selection.is_partial() {
        return Err(Error::usage(
            "--incremental folds the whole log onto the previous snapshot; it cannot be combined with --aggregate, --stream, --tenant or --as-of",
        ));
    }
    if !config.selection.is_partial() || config.selection.replace_full {
        return Ok(());
    }
    let manifest = config.out.join("manifest.json");
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        return Ok(());
    };
    let previous: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if previous
        .get("selection")
        .is_none_or(serde_json::Value::is_null)
    {
        return Err(Error::usage(format!(
            "refusing to replace the full output {} with a partial run\n  hint: write it elsewhere with --out, or pass --replace-full",
            config.out.display()
        )));
    }
    Ok(())
}

/// Everything `run` needs, resolved from flags (or tests).
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub inputs: Vec<InputSource>,
    pub model: ModelSource,
    pub out: PathBuf,
    pub ingest: IngestOptions,
    pub session: SessionOptions,
    pub selection: Selection,
    /// Also write `state_history/<aggregate>.parquet`: the state after each event.
    pub with_history: bool,
    /// Fold only the events after the previous output's watermark onto its
    /// snapshot (see [`crate::incremental`]).
    pub incremental: bool,
    /// Draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
}

/// Milliseconds spent in each stage, and the peak resident memory (bytes) of
/// each phase where the platform tells it (see [`crate::metrics`]).
///
/// The phases run one after the other: `ingest` (read, parse and map, stage),
/// `sort_replay`, `duplicate_ids` (partial and incremental runs), `write`
/// (findings, manifest). Inside `ingest`, `staging_ms` is the busy time of the
/// staging threads, beside the parsing: holding batches and sorting and
/// writing the sorted runs (a full run), or encoding the staging Parquet file.
/// A full run's `duplicate_ids_ms` is the merge of the runs' id hashes, just
/// before the replay (inside `sort_replay`). Inside `sort_replay`, the sorted
/// stream is consumed batch by batch, so its time is split into `sort_ms`
/// (waiting for the next sorted batch: the merge of the runs, or DataFusion's
/// sort), `fold_ms` (the replay) and `tables_write_ms` (transitions and state
/// tables). `events.parquet` is written on a thread of its own:
/// `events_write_ms` is that thread's busy time, overlapping the others, and
/// `events_write_wait_ms` the time the replay waited for it. `peak_rss` is the
/// highest of the phases' peaks.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    pub ingest_ms: u64,
    pub staging_ms: u64,
    pub sort_replay_ms: u64,
    pub sort_ms: u64,
    pub fold_ms: u64,
    pub events_write_ms: u64,
    pub events_write_wait_ms: u64,
    pub tables_write_ms: u64,
    pub duplicate_ids_ms: u64,
    /// Incremental runs: merging the previous tables with the new rows.
    pub merge_ms: u64,
    pub write_ms: u64,
    pub total_ms: u64,
    pub ingest_peak_rss: Option<u64>,
    pub sort_replay_peak_rss: Option<u64>,
    pub duplicate_ids_peak_rss: Option<u64>,
    pub merge_peak_rss: Option<u64>,
    pub write_peak_rss: Option<u64>,
    pub peak_rss: Option<u64>,
}

/// What a run did: the numbers of the summary and the manifest.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub out: PathBuf,
    /// The whole log's inputs and counts (an incremental run's included).
    pub ingest: IngestSummary,
    /// An incremental run: what this run read, and the watermark it went on from.
    pub increment: Option<(IngestSummary, Option<u64>)>,
    /// An incremental run: inputs left out because they were already folded.
    pub skipped_inputs: Vec<String>,
    /// An incremental run found nothing new: the previous output was kept as it was.
    pub unchanged: bool,
    /// Streams per aggregate type, declared in the model or not.
    pub streams: BTreeMap<String, u64>,
    /// Rows per state table.
    pub states: BTreeMap<String, u64>,
    /// Rows per state history table (with `--with-history`).
    pub state_history: BTreeMap<String, u64>,
    pub transitions: u64,
    /// Findings per rule name.
    pub findings: BTreeMap<String, u64>,
    pub timings: Timings,
    pub model_sha256: String,
}

impl RunReport {
    pub fn findings_total(&self) -> u64 {
        self.findings.values().sum()
    }
}

/// Runs the whole pipeline and commits the output folder.
pub fn run(config: &RunConfig) -> Result<RunReport> {
    let started = Instant::now();
    let model = parse_model(&config.model.name, &config.model.text)?;
    guard_full_output(config)?;
    tracing::info!(
        out = %config.out.display(),
        inputs = config.inputs.len(),
        model = %config.model.name,
        partial = config.selection.is_partial(),
        "run started"
    );
    let dir = OutputDir::create(&config.out)?;
    match build(config, &model, &dir, started) {
        Ok(mut report) if report.unchanged => {
            dir.abandon();
            report.out = config.out.clone();
            tracing::info!(out = %report.out.display(), "nothing new to fold");
            Ok(report)
        }
        Ok(mut report) => {
            report.out = dir.commit()?;
            tracing::info!(
                out = %report.out.display(),
                events = report.ingest.events,
                rejects = report.ingest.rejects,
                findings = report.findings_total(),
                total_ms = report.timings.total_ms,
                "run committed"
            );
            Ok(report)
        }
        Err(err) => {
            dir.abandon();
            Err(err)
        }
    }
}

/// A progress bar on stderr in `template`, when `enabled`; `total` gives it a length.
fn progress_bar(
    enabled: bool,
    template: &str,
    total: Option<u64>,
) -> Option<indicatif::ProgressBar> {
    enabled.then(|| {
        let bar = indicatif::ProgressBar::with_draw_target(
            total,
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar
    })
}

/// Ingest's progress: bytes read of the inputs' size as stored (compressed
/// when they are).
const INGEST_PROGRESS: &str =
    "{spinner} ingest: {bytes}/{total_bytes} read ({bytes_per_sec}) {elapsed} (about {eta} left)";
/// The replay's progress: events folded of all.
const REPLAY_PROGRESS: &str =
    "{spinner} sort and replay: {human_pos}/{human_len} events {elapsed} (about {eta} left)";

/// The previous output an incremental run goes on from, if any.
fn previous_output(config: &RunConfig, model_sha256: &str) -> Result<Option<Previous>> {
    if !config.incremental {
        return Ok(None);
    }
    let previous = Previous::load(
        &config.out,
        model_sha256,
        &config.ingest.mapping.fingerprint(),
        config.with_history,
    )?;
    if previous.is_none() {
        eprintln!(
            "note: {} holds no previous output to go on from; this incremental run folds everything",
            config.out.display()
        );
    }
    Ok(previous)
}

fn build(
    config: &RunConfig,
    model: &Model,
    dir: &OutputDir,
    started: Instant,
) -> Result<RunReport> {
    let mut report = RunReport {
        model_sha256: sha256_hex(config.model.text.as_bytes()),
        ..RunReport::default()
    };
    let previous = previous_output(config, &report.model_sha256)?;
    let mut inputs = config.inputs.clone();
    if let Some(previous) = &previous {
        (inputs, report.skipped_inputs) = previous.new_inputs(&config.inputs)?;
        if inputs.is_empty() {
            report.unchanged = true;
            return Ok(report);
        }
    }
    let mut session_options = config.session.clone();
    // The run's sorts spill rather than hold the log in memory, even unasked.
    let memory_limit = *session_options
        .memory_limit
        .get_or_insert(DEFAULT_RUN_MEMORY_LIMIT);
    let phase = Phase::start();
    let staging_path = dir.path(crate::sink::STAGING);
    let staging_format = if previous.is_some() || config.selection.is_partial() {
        StagingFormat::Parquet
    } else {
        StagingFormat::SortedRuns(memory_limit)
    };
    // The size to read: an input that cannot be measured fails in ingest, by name.
    let stored = config
        .progress
        .then(|| inputs.iter().filter_map(|i| i.stored_len().ok()).sum());
    let mut staging = StagingSink::create(
        dir,
        staging_format,
        progress_bar(config.progress, INGEST_PROGRESS, stored),
    )?;
    let mut ingest_options = config.ingest.clone();
    if let Some(previous) = &previous {
        ingest_options.position_base = previous.position_base();
    }
    report.ingest = ingest(&inputs, &ingest_options, &mut staging)?;
    report.timings.staging_ms = staging.close()?;
    if previous.is_some() {
        // This run's rejects are merged after the previous run's.
        let (rejects, moved) = (dir.path("rejects.parquet"), dir.path(INCREMENT));
        std::fs::create_dir_all(&moved).map_err(|e| Error::io(&moved, e))?;
        let moved = moved.join("rejects.parquet");
        std::fs::rename(&rejects, &moved).map_err(|e| Error::io(&moved, e))?;
    }
    (report.timings.ingest_ms, report.timings.ingest_peak_rss) = phase.finish();
    tracing::info!(
        stage = "ingest",
        records = report.ingest.records,
        events = report.ingest.events,
        rejects = report.ingest.rejects,
        ms = report.timings.ingest_ms,
        "stage done"
    );

    session_options
        .spill_dir
        .get_or_insert_with(|| dir.path("_spill"));
    session_options
        .batch_rows
        .get_or_insert(crate::sink::staging::RUN_BATCH_ROWS);
    if let Some(spill) = &session_options.spill_dir {
        std::fs::create_dir_all(spill).map_err(|e| Error::io(spill, e))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("tokio runtime", e))?;
    // SHA-256 of output files computed as they were written, by path.
    let mut hashes = BTreeMap::new();
    let mut findings = runtime.block_on(async {
        let ctx = session(&session_options)?;
        // Replay reads the envelope's own Arrow types back, not string views.
        ctx.sql("SET datafusion.execution.parquet.schema_force_view_types = false")
            .await?;
        if staging_format == StagingFormat::Parquet {
            let staged = staging_path.join(STAGED_PARQUET);
            let options = ParquetReadOptions {
                schema: Some(&events_schema()),
                ..Default::default()
            };
            ctx.register_parquet("staged", crate::sql::utf8_path(&staged)?, options)
                .await?;
            let condition = config.selection.where_clause().unwrap_or("true".into());
            ctx.sql(&format!(
                "CREATE VIEW selected AS SELECT * FROM staged WHERE {condition}"
            ))
            .await?;
        }

        let phase = Phase::start();
        let (seeds, root) = match &previous {
            Some(previous) => {
                previous.register(&ctx).await?;
                let seeds = previous.seeds(&ctx, model).await?;
                previous.check_new_events(&ctx, &seeds).await?;
                (seeds, dir.path(INCREMENT))
            }
            None => (Seeds::new(), dir.path("")),
        };
        // A full run found the id hashes used more than once while sorting:
        // the replay keeps those events aside, and no query is needed after.
        let repeated_ids = match staging_format {
            StagingFormat::SortedRuns(limit) => {
                let started = Instant::now();
                let repeated = crate::sink::runs::repeated_id_hashes(&staging_path, limit)?;
                report.timings.duplicate_ids_ms = millis(started.elapsed());
                Some(repeated)
            }
            StagingFormat::Parquet => None,
        };
        let replay = Replay {
            model,
            root: &root,
            with_history: config.with_history,
            seeds,
            repeated_ids,
            hash_events: previous.is_none(),
            progress: progress_bar(
                config.progress,
                REPLAY_PROGRESS,
                (!config.selection.is_partial()).then_some(report.ingest.events),
            ),
        };
        let sorted = SortedEvents::open(&ctx, staging_format, &staging_path).await?;
        let (mut findings, hash) = sort_and_replay(sorted, replay, &mut report).await?;
        if let Some(hash) = hash {
            hashes.insert(EVENTS_FILE.to_owned(), hash);
        }
        (
            report.timings.sort_replay_ms,
            report.timings.sort_replay_peak_rss,
        ) = phase.finish();
        tracing::info!(
            stage = "sort_replay",
            transitions = report.transitions,
            ms = report.timings.sort_replay_ms,
            "stage done"
        );
        if staging_format != StagingFormat::Parquet {
            // The duplicate ids were found in the replay.
            return Ok(findings);
        }

        // The queries after the replay (an incremental run's snapshot reads,
        // the duplicate-id lookups) do not spill sorted runs: DataFusion's own
        // batch size suits them.
        let batch_rows = datafusion::prelude::SessionConfig::new().batch_size();
        ctx.sql(&format!(
            "SET datafusion.execution.batch_size = {batch_rows}"
        ))
        .await?;
        // The events just written hold the selected rows, and their event ids
        // are read alone from Parquet: cheaper than whole staged batches.
        crate::sql::register_file(&ctx, "replayed", &root.join(EVENTS_FILE)).await?;
        let mut events_table = "replayed";
        let mut new_events = None;
        if let Some(previous) = &previous {
            // A lookup of the new ids holds them in a join's hash table: taken
            // when they fit in a quarter of the limit, else the aggregate over
            // every id, which spills.
            let lookup =
                report.ingest.events.saturating_mul(JOINED_ID_BYTES) <= memory_limit as u64 / 4;
            let phase = Phase::start();
            findings.extend(previous.findings(&ctx).await?);
            let merged = previous.merge(model, dir).await?;
            (report.states, report.state_history) = (merged.states, merged.history);
            hashes.extend(merged.hashes);
            report.streams = stream_counts(&ctx, &dir.path("streams.parquet")).await?;
            report.increment = Some((report.ingest.clone(), previous.watermark()));
            previous.add_counts(&mut report.ingest, &mut report.transitions);
            let columns = "event_id, aggregate_type, stream_id, version, position";
            ctx.sql(&format!(
                "CREATE VIEW all_events AS SELECT {columns} FROM prev_events \
                 UNION ALL SELECT {columns} FROM replayed"
            ))
            .await?;
            events_table = "all_events";
            new_events = Some(NewEvents {
                table: "replayed",
                after: previous.watermark(),
                lookup,
            });
            (report.timings.merge_ms, report.timings.merge_peak_rss) = phase.finish();
            tracing::info!(stage = "merge", ms = report.timings.merge_ms, "stage done");
        }

        let phase = Phase::start();
        findings.extend(duplicate_event_ids(&ctx, events_table, new_events).await?);
        (
            report.timings.duplicate_ids_ms,
            report.timings.duplicate_ids_peak_rss,
        ) = phase.finish();
        Ok::<_, Error>(findings)
    })?;

    let phase = Phase::start();
    findings.sort_by(|a, b| {
        (
            &a.aggregate_type,
            &a.stream_id,
            a.version,
            a.position,
            a.rule,
        )
            .cmp(&(
                &b.aggregate_type,
                &b.stream_id,
                b.version,
                b.position,
                b.rule,
            ))
    });
    for finding in &findings {
        *report
            .findings
            .entry(finding.rule.name().to_owned())
            .or_default() += 1;
    }
    write_table(
        &dir.path("findings.parquet"),
        findings_schema(),
        &[findings_batch(&findings)?],
    )?;
    for temporary in ["_staging", "_spill", INCREMENT] {
        let path = dir.path(temporary);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    // The model travels with its outputs, so `history` replays with the same one.
    let model_copy = dir.path("model.toml");
    std::fs::write(&model_copy, &config.model.text).map_err(|e| Error::io(&model_copy, e))?;
    // Hashing reads the outputs not hashed as they were written once more; it
    // is part of the write phase.
    let hashes = output_hashes(dir, hashes)?;
    (report.timings.write_ms, report.timings.write_peak_rss) = phase.finish();
    report.timings.total_ms = millis(started.elapsed());
    let timings = &mut report.timings;
    timings.peak_rss = [
        timings.ingest_peak_rss,
        timings.sort_replay_peak_rss,
        timings.duplicate_ids_peak_rss,
        timings.merge_peak_rss,
        timings.write_peak_rss,
    ]
    .into_iter()
    .flatten()
    .max();
    write_manifest(config, dir, &report, hashes)?;
    Ok(report)
}

/// The staged events in stream order: merged from sorted runs (a full run) or
/// sorted by DataFusion (a partial or incremental run).
enum SortedEvents {
    /// The merged batches, and the merging thread, joined when they end.
    Runs(
        std::sync::mpsc::Receiver<Result<RecordBatch>>,
        Option<std::thread::JoinHandle<Result<()>>>,
        std::path::PathBuf,
    ),
    /// DataFusion's sorted batches, cut as the merge cuts its batches.
    Sql(
        futures::stream::Fuse<datafusion::physical_plan::SendableRecordBatchStream>,
        Box<arrow::compute::BatchCoalescer>,
    ),
}

impl SortedEvents {
    /// The sorted runs in `folder` merged, or the view `selected` sorted.
    async fn open(
        ctx: &datafusion::prelude::SessionContext,
        format: StagingFormat,
        folder: &std::path::Path,
    ) -> Result<Self> {
        if format == StagingFormat::Parquet {
            let order = crate::sql::STREAM_ORDER.join(", ");
            let frame = ctx
                .sql(&format!("SELECT * FROM selected ORDER BY {order}"))
                .await?;
            let coalescer = arrow::compute::BatchCoalescer::new(
                crate::envelope::events_schema(),
                crate::sink::runs::MERGED_ROWS,
            );
            return Ok(Self::Sql(
                frame.execute_stream().await?.fuse(),
                Box::new(coalescer),
            ));
        }
        Self::merge(folder)
    }

    /// Merges the runs in `folder` on a thread of its own, beside the replay.
    fn merge(folder: &std::path::Path) -> Result<Self> {
        let merge = crate::sink::runs::merge(folder)?;
        let (sender, receiver) = std::sync::mpsc::sync_channel(crate::sink::BACKGROUND_BATCHES);
        let merging = std::thread::Builder::new()
            .name("eventfold-merge".into())
            .spawn(move || {
                for batch in merge {
                    // A failed merge sends its error and stops.
                    let failed = batch.is_err();
                    if sender.send(batch).is_err() || failed {
                        break;
                    }
                }
                Ok(())
            })
            .map_err(|e| Error::io(folder, e))?;
        Ok(Self::Runs(receiver, Some(merging), folder.to_owned()))
    }

    async fn next(&mut self) -> Option<Result<RecordBatch>> {
        match self {
            Self::Runs(receiver, merging, folder) => match receiver.recv() {
                Ok(batch) => Some(batch),
                // The thread ended: whether it finished or died, not a silent end.
                Err(_) => {
                    let ended = merging
                        .take()
                        .map(|t| crate::error::joined(t, folder, "merging"));
                    ended.and_then(Result::err).map(Err)
                }
            },
            Self::Sql(stream, coalescer) => loop {
                if let Some(batch) = coalescer.next_completed_batch() {
                    return Some(Ok(batch));
                }
                let pushed = match stream.next().await {
                    Some(Ok(batch)) => coalescer.push_batch(batch),
                    Some(Err(e)) => return Some(Err(e.into())),
                    None if coalescer.is_empty() => return None,
                    None => coalescer.finish_buffered_batch(),
                };
                if let Err(e) = pushed {
                    return Some(Err(e.into()));
                }
            },
        }
    }
}

/// What [`sort_and_replay`] folds with, and where it writes.
struct Replay<'a> {
    model: &'a Model,
    /// The folder of `events.parquet`, `transitions.parquet` and the states.
    root: &'a std::path::Path,
    with_history: bool,
    seeds: Seeds,
    /// The hashes of event ids used more than once, when known before the replay.
    repeated_ids: Option<std::collections::HashSet<u64>>,
    /// `events.parquet` is final once written (not merged with a previous
    /// output): hash it on a thread of its own as it is written.
    hash_events: bool,
    progress: Option<indicatif::ProgressBar>,
}

/// The events table's file in an output folder.
const EVENTS_FILE: &str = "events.parquet";

/// The SHA-256 (hex) of the file at `path`.
fn file_sha256(path: &std::path::Path) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    sha256_hex_of(file).map_err(|e| Error::io(path, e))
}

async fn sort_and_replay(
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
        progress,
    } = replay;
    let mut repeated = Vec::new();
    // events.parquet is compressed on its own thread, beside the fold, and
    // hashed on another as it is written when it is final.
    let events_path = root.join(EVENTS_FILE);
    let (events, events_hash) = match hash_events {
        true => {
            let (file, hash) =
                TableWriter::create_hashed(&events_path, events_schema(), crate::sink::zstd())?;
            (file, Some(hash))
        }
        false => (
            TableWriter::create(&events_path, events_schema(), crate::sink::zstd())?,
            None,
        ),
    };
    let mut events = BackgroundTableWriter::spawn(events)?;
    let mut sink = OutputSink::create(root, &model.aggregates, with_history)?;
    let mut replayer = Replayer::with_seeds(model, seeds);
    let (mut sort, mut fold, mut write) = (
        Stopwatch::default(),
        Stopwatch::default(),
        Stopwatch::default(),
    );
    loop {
        let waited = Instant::now();
        let Some(batch) = stream.next().await else {
            break;
        };
        sort.add(waited.elapsed());
        let batch = RecordBatch::try_new(events_schema(), batch?.columns().to_vec())?;
        let batch = crate::upcast::apply(model, batch)?;
        write.time(|| events.write(batch.clone()))?;
        fold.time(|| replayer.push_batch(&batch, &mut sink))?;
        if let Some(hashes) = repeated_ids.as_ref().filter(|h| !h.is_empty()) {
            let repeated_id = |id: &str| hashes.contains(&crate::sink::runs::id_hash(id));
            occurrences(&batch, EVENTS_OCCURRENCE, repeated_id, &mut repeated)?;
        }
        report.transitions += batch.num_rows() as u64;
        if let Some(bar) = &progress {
            bar.inc(batch.num_rows() as u64);
        }
    }
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let (_, events_busy) = write.time(|| events.close())?;
    let outcome = fold.time(|| replayer.finish(&mut sink))?;
    let tables_write = sink.write_millis();
    let closing = Instant::now();
    let (states, history) = sink.close()?;
    report.states = states.into_iter().collect();
    report.state_history = history.into_iter().collect();
    let timings = &mut report.timings;
    timings.sort_ms = sort.millis();
    timings.events_write_ms = events_busy;
    timings.events_write_wait_ms = write.millis();
    // Table flushes happen inside the fold's calls into the sink.
    timings.fold_ms = fold.millis().saturating_sub(tables_write);
    timings.tables_write_ms = tables_write + millis(closing.elapsed());
    report.streams = outcome.streams;
    let mut findings = outcome.findings;
    findings.extend(duplicate_id_findings(repeated));
    Ok((findings, events_hash))
}

/// Bytes an event id takes in a join's hash table, about: a 32-character id
/// and the table's own share.
const JOINED_ID_BYTES: u64 = 128;

/// An incremental run's new events, for the duplicate-id check.
#[derive(Clone, Copy)]
struct NewEvents<'a> {
    /// The table holding them.
    table: &'a str,
    /// The previous watermark: every new event's position is above it.
    after: Option<u64>,
    /// Whether their ids are looked up among all (they fit in memory).
    lookup: bool,
}

/// Findings for event ids used more than once in the table `events`. With
/// `new` (an incremental run), only the new events' findings are returned:
/// the earlier events' are the previous output's, unchanged (a repeat's
/// finding names the first use, and new events come after every old one);
/// and when the new ids fit in memory only they are looked up among all.
async fn duplicate_event_ids(
    ctx: &datafusion::prelude::SessionContext,
    events: &str,
    new: Option<NewEvents<'_>>,
) -> Result<Vec<Finding>> {
    let columns = "event_id, aggregate_type, stream_id, version, position";
    let batches = match new {
        Some(NewEvents {
            table: new,
            lookup: true,
            ..
        }) => {
            // The new ids are few: a semi join builds on them and probes the
            // old ids, where an aggregate would hash every id of the log.
            ctx.sql(&format!(
                "SELECT {columns} FROM {events} WHERE event_id IN (SELECT event_id FROM {new})"
            ))
            .await?
            .collect()
            .await?
        }
        _ => {
            // Two steps, so that nothing but the duplicated ids is held in
            // memory: an aggregate finds them (it spills under the memory
            // limit), then they are the build side of the join that fetches
            // their occurrences. A join over the aggregate's output instead
            // may build its hash table from the whole log.
            let duplicated = ctx
                .sql(&format!(
                    "SELECT event_id FROM {events} GROUP BY event_id HAVING count(*) > 1"
                ))
                .await?
                .collect()
                .await?;
            if duplicated.iter().all(|b| b.num_rows() == 0) {
                return Ok(Vec::new());
            }
            let schema = duplicated[0].schema();
            let table = datafusion::datasource::MemTable::try_new(schema, vec![duplicated])?;
            ctx.register_table("duplicated_event_ids", std::sync::Arc::new(table))?;
            let batches = ctx
                .sql(&format!(
                    "SELECT s.event_id, s.aggregate_type, s.stream_id, s.version, s.position \
                     FROM duplicated_event_ids d JOIN {events} s ON s.event_id = d.event_id"
                ))
                .await?
                .collect()
                .await?;
            ctx.deregister_table("duplicated_event_ids")?;
            batches
        }
    };
    let mut found = Vec::new();
    for batch in &batches {
        occurrences(batch, [0, 1, 2, 3, 4], |_| true, &mut found)?;
    }
    let mut findings = duplicate_id_findings(found);
    if let Some(NewEvents {
        after: Some(watermark),
        ..
    }) = new
    {
        findings.retain(|finding| finding.position > watermark);
    }
    Ok(findings)
}

/// Where an event id occurred.
struct Occurrence {
    event_id: String,
    aggregate_type: String,
    stream_id: String,
    version: u64,
    position: u64,
}

/// The columns of (event_id, aggregate_type, stream_id, version, position)
/// in the events schema.
const EVENTS_OCCURRENCE: [usize; 5] = [
    crate::envelope::col::EVENT_ID,
    crate::envelope::col::AGGREGATE_TYPE,
    crate::envelope::col::STREAM_ID,
    crate::envelope::col::VERSION,
    crate::envelope::col::POSITION,
];

/// Adds the rows of `batch` whose event id `keep` keeps to `found`; `columns`
/// are the indices of (event_id, aggregate_type, stream_id, version, position).
fn occurrences(
    batch: &RecordBatch,
    columns: [usize; 5],
    keep: impl Fn(&str) -> bool,
    found: &mut Vec<Occurrence>,
) -> Result<()> {
    let text = |i: usize| arrow::compute::cast(batch.column(i), &arrow::datatypes::DataType::Utf8);
    let (ids, types, streams) = (text(columns[0])?, text(columns[1])?, text(columns[2])?);
    let (ids, types, streams) = (
        ids.as_string::<i32>(),
        types.as_string::<i32>(),
        streams.as_string::<i32>(),
    );
    let versions = batch.column(columns[3]).as_primitive::<UInt64Type>();
    let positions = batch.column(columns[4]).as_primitive::<UInt64Type>();
    for row in 0..batch.num_rows() {
        let id = ids.value(row);
        if keep(id) {
            found.push(Occurrence {
                event_id: id.to_owned(),
                aggregate_type: types.value(row).to_owned(),
                stream_id: streams.value(row).to_owned(),
                version: versions.value(row),
                position: positions.value(row),
            });
        }
    }
    Ok(())
}

/// Every occurrence of an event id after its first (by position) is a finding.
fn duplicate_id_findings(mut found: Vec<Occurrence>) -> Vec<Finding> {
    found.sort_by(|a, b| (&a.event_id, a.position).cmp(&(&b.event_id, b.position)));
    let mut findings = Vec::new();
    let mut first: Option<&Occurrence> = None;
    for occurrence in &found {
        match first {
            Some(earlier) if earlier.event_id == occurrence.event_id => {
                let Occurrence {
                    event_id: id,
                    stream_id: first_stream,
                    version: first_version,
                    position: first_position,
                    ..
                } = earlier;
                findings.push(Finding {
                    aggregate_type: occurrence.aggregate_type.clone(),
                    stream_id: occurrence.stream_id.clone(),
                    version: occurrence.version,
                    event_id: id.clone(),
                    position: occurrence.position,
                    rule: Rule::DuplicateEventId,
                    message: format!(
                        "event id \"{id}\" was already used by {first_stream} version {first_version} (position {first_position})"
                    ),
                });
            }
            _ => first = Some(occurrence),
        }
    }
    findings
}

/// The SHA-256 of every output file (relative path → hex), and one hash over
/// them all: equal for equal outputs, whatever the timings. `ready` holds the
/// hashes already being computed as their files were written (by relative
/// path: events.parquet of a full run, the merged tables of an incremental
/// one); the other files are read back.
fn output_hashes(
    dir: &OutputDir,
    ready: BTreeMap<String, PendingHash>,
) -> Result<(BTreeMap<String, String>, String)> {
    use rayon::prelude::*;
    let root = dir.path("");
    let mut paths = Vec::new();
    let mut folders = vec![root.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).map_err(|e| Error::io(&folder, e))? {
            let path = entry.map_err(|e| Error::io(&folder, e))?.path();
            if path.is_dir() {
                folders.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "parquet" || e == "toml")
            {
                paths.push(path);
            }
        }
    }
    let name_of = |path: &std::path::Path| {
        path.strip_prefix(&root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/")
    };
    paths.retain(|path| !ready.contains_key(&name_of(path)));
    // One file a core (the largest, events.parquet, is usually hashed already).
    let mut files = paths
        .into_par_iter()
        .map(|path| Ok((name_of(&path), file_sha256(&path)?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    for (name, hash) in ready {
        let hash = crate::error::joined(hash, &root.join(&name), "hashing")?;
        files.insert(name, hash);
    }
    let all: String = files.iter().map(|(n, h)| format!("{n} {h}\n")).collect();
    Ok((files, sha256_hex(all.as_bytes())))
}

/// Writes `manifest.json`; `hashes` are [`output_hashes`] of the files it lists.
fn write_manifest(
    config: &RunConfig,
    dir: &OutputDir,
    report: &RunReport,
    (files, content_sha256): (BTreeMap<String, String>, String),
) -> Result<()> {
    let manifest = serde_json::json!({
        "content_sha256": content_sha256,
        "files": files,
        "tool": "eventfold",
        "tool_version": env!("CARGO_PKG_VERSION"),
        "inputs": report.ingest.inputs,
        "model": { "name": config.model.name, "sha256": report.model_sha256 },
        "mapping_sha256": config.ingest.mapping.fingerprint(),
        "counts": {
            "input_records": report.ingest.records,
            "events": report.ingest.events,
            "rejects": report.ingest.rejects,
            "streams": report.streams,
            "states": report.states,
            "state_history": report.state_history,
            "transitions": report.transitions,
            "findings": report.findings,
        },
        "watermark": {
            "position": report.ingest.max_position,
            "read_positions": report.ingest.read_positions,
        },
        "increment": report.increment.as_ref().map(|(new, watermark)| serde_json::json!({
            "after_position": watermark,
            "input_records": new.records,
            "events": new.events,
            "rejects": new.rejects,
        })),
        "selection": config.selection.is_partial().then_some(&config.selection),
        "timings": report.timings,
    });
    let path = dir.path("manifest.json");
    let text = serde_json::to_string_pretty(&manifest)?;
    std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))
}
