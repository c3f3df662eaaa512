//! The `run` pipeline: ingest → sort → replay → sink, and the manifest.
//!
//! 1. The model is parsed first, so a broken model stops the run before any input
//!    is read.
//! 2. Ingest streams every input (parsing on all cores) into sorted runs inside
//!    the temporary output folder, writing rejects as they come: a quarter of
//!    the memory limit at a time is sorted by (aggregate_type, stream_id,
//!    version, position) and written as one run, on a thread of its own while
//!    the next quarter fills ([`crate::sort::runs`]).
//! 3. The runs are merged on a thread of their own; the sorted stream is written
//!    as `events.parquet` and folded by the [`crate::replay::Replayer`] in the
//!    same pass (`fold.rs`). A partial or incremental run stages one Parquet
//!    file instead and DataFusion filters and sorts it under its memory pool
//!    ([`crate::sort::staging`]).
//! 4. Duplicate event ids, which span streams: a full run writes the sorted
//!    hashes of each run's ids beside it, merges them after ingest, and the
//!    replay keeps aside the events whose id hash repeats, whose ids are then
//!    compared. A partial or incremental run finds them with an SQL aggregate
//!    (over the previous output's events too).
//! 5. The model's keyed folds, folded in the replay's pass, are written to
//!    `projections/` (an incremental run's continue from the previous rows).
//! 6. Findings and `manifest.json` are written and the folder is swapped
//!    into place.
//!
//! `build` reads as that list: a function per phase (`ingest_phase`,
//! `replay_phase`, `merge_phase`, `duplicate_ids_phase`, `write_phase`), each
//! timed on its own, all reading the run's `Plan`, decided before ingest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use datafusion::datasource::file_format::options::ParquetReadOptions;
use datafusion::prelude::SessionContext;

use crate::envelope::events_schema;
use crate::incremental::{stream_counts, Previous, INCREMENT};
use crate::ingest::{ingest, InputSource};
use crate::model::{parse_model, Model, StateValue};
use crate::projection::Ordered;
use crate::replay::keyed::KeyedFolds;
use crate::replay::{Finding, Seeds};
pub use crate::sink::manifest::{Selection, Timings};
use crate::sink::{findings_batch, findings_schema, write_table, OutputDir};
use crate::sort::{StagingFormat, StagingSink, STAGED_PARQUET};
use crate::sql::{session, SessionOptions};
use crate::support::digest::{sha256_hex, PendingHash};
use crate::support::metrics::{millis, Phase};
use crate::support::progress::Stage;
use crate::{Error, Result};

#[cfg(feature = "cluster")]
pub mod cluster;
mod config;
mod duplicates;
mod fold;
mod output;
pub mod project;
mod refold;
mod report;
mod sorted;

use config::guard_full_output;
use duplicates::{duplicate_event_ids, NewEvents, JOINED_ID_BYTES};
use fold::{sort_and_replay, Replay, EVENTS_FILE};
use output::{output_hashes, write_manifest};
use sorted::SortedEvents;

pub use crate::model::ModelSource;
pub use config::{RunConfig, DEFAULT_RUN_MEMORY_LIMIT};
pub use refold::refold;
pub use report::RunReport;

/// Runs the whole pipeline and commits the output folder.
pub fn run(config: &RunConfig) -> Result<RunReport> {
    let started = Instant::now();
    let model = parse_model(&config.model.name, &config.model.text)?;
    let projections =
        crate::projection::prepare_for(&config.projections, &model, config.with_history)?;
    guard_full_output(config)?;
    tracing::info!(
        out = %config.out.display(),
        inputs = config.inputs.len(),
        model = %config.model.name,
        partial = config.selection.is_partial(),
        "run started"
    );
    let dir = OutputDir::create(&config.out)?;
    match build(config, &model, &projections, &dir, started) {
        Ok(mut report) if report.unchanged => {
            dir.abandon();
            report.out = config.out.clone();
            if config.report {
                // Nothing new to fold, but the page is asked for: of the
                // output as it stands (written beside it, then renamed).
                report.report_bytes = Some(write_report(config, &config.out)?);
            }
            tracing::info!(out = %report.out.display(), "nothing new to fold");
            Ok(report)
        }
        Ok(mut report) => {
            report.out = dir.commit()?;
            tracing::info!(
                out = %report.out.display(),
                events = report.events(),
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
        config.observer.note(&format!(
            "{} holds no previous output to go on from; this incremental run folds everything",
            config.out.display()
        ));
    }
    Ok(previous)
}

/// How a run goes, decided before it reads an input ([`plan`]): what it
/// folds, onto what, within what memory, and how the events wait for the
/// replay. Every phase after reads it.
struct Plan<'a> {
    config: &'a RunConfig,
    model: &'a Model,
    /// The SQL projections, in build order.
    projections: &'a Ordered,
    dir: &'a OutputDir,
    /// The previous output an incremental run goes on from.
    previous: Option<Previous>,
    /// The inputs to fold: an incremental run's are those it has not folded.
    inputs: Vec<InputSource>,
    /// The session's options as asked, with the memory limit always set.
    session: SessionOptions,
    /// The memory the sort may hold, in bytes.
    memory_limit: usize,
    /// Sorted runs (a full run), or one Parquet file DataFusion filters and
    /// sorts (a partial or incremental run).
    staging: StagingFormat,
}

impl Plan<'_> {
    /// The folder of the staging files.
    fn staging_path(&self) -> PathBuf {
        self.dir.path(crate::sort::STAGING)
    }

    /// Where the replay writes its tables: the output folder, or an
    /// incremental run's increment, merged with the previous tables after.
    fn replay_root(&self) -> PathBuf {
        match self.previous {
            Some(_) => self.dir.path(INCREMENT),
            None => self.dir.path(""),
        }
    }
}

/// The phases in order, each timed on its own (`report.timings`).
fn build(
    config: &RunConfig,
    model: &Model,
    projections: &Ordered,
    dir: &OutputDir,
    started: Instant,
) -> Result<RunReport> {
    if let Some(url) = &config.session.cluster {
        #[cfg(feature = "cluster")]
        return cluster::build(config, model, projections, dir, started, url);
        #[cfg(not(feature = "cluster"))]
        return Err(Error::usage(format!(
            "run --cluster {url}: this eventfold was built without cluster support\n  hint: build it with the default features, or leave out --cluster"
        )));
    }
    let mut report = RunReport {
        model_sha256: sha256_hex(config.model.text.as_bytes()),
        partial: config.selection.is_partial(),
        ..RunReport::default()
    };
    report.projection_entries = crate::projection::keyed_entries(model, &config.model.name);
    let Some(plan) = plan(config, model, projections, dir, &mut report)? else {
        report.unchanged = true;
        return Ok(report);
    };
    ingest_phase(&plan, &mut report)?;
    let (findings, hashes) = replay_merge_and_duplicates(&plan, &mut report)?;
    write_phase(
        &plan,
        findings,
        (hashes, &BTreeMap::new()),
        &mut report,
        started,
    )?;
    Ok(report)
}

/// The run's [`Plan`]; `None` when an incremental run has nothing new to
/// fold (the inputs it skips are in `report.skipped_inputs`).
fn plan<'a>(
    config: &'a RunConfig,
    model: &'a Model,
    projections: &'a Ordered,
    dir: &'a OutputDir,
    report: &mut RunReport,
) -> Result<Option<Plan<'a>>> {
    let previous = previous_output(config, &report.model_sha256)?;
    let mut inputs = config.inputs.clone();
    if let Some(previous) = &previous {
        (inputs, report.skipped_inputs) = previous.new_inputs(&config.inputs)?;
        if inputs.is_empty() {
            return Ok(None);
        }
    }
    let mut session = config.session.clone();
    // The run's sorts spill rather than hold the log in memory, even unasked.
    let memory_limit = *session.memory_limit.get_or_insert(DEFAULT_RUN_MEMORY_LIMIT);
    let staging = if previous.is_some() || config.selection.is_partial() {
        StagingFormat::Parquet
    } else {
        StagingFormat::SortedRuns(memory_limit)
    };
    Ok(Some(Plan {
        config,
        model,
        projections,
        dir,
        previous,
        inputs,
        session,
        memory_limit,
        staging,
    }))
}

/// Ingest: every input read into the staging, its rejects into
/// `rejects.parquet`; an incremental run's rejects are moved aside, to be
/// merged after the previous run's.
fn ingest_phase(plan: &Plan, report: &mut RunReport) -> Result<()> {
    let (config, dir) = (plan.config, plan.dir);
    let phase = Phase::start();
    // The size to read: an input that cannot be measured fails in ingest, by name.
    let stored = plan.inputs.iter().filter_map(|i| i.stored_len().ok()).sum();
    let mut staging = StagingSink::create(dir, plan.staging, config.observer.clone())?;
    config.observer.stage_started(Stage::Ingest, Some(stored));
    let mut ingest_options = config.ingest.clone();
    if let Some(previous) = &plan.previous {
        ingest_options.position_base = previous.position_base();
    }
    report.ingest = ingest(&plan.inputs, &ingest_options, &mut staging)?;
    report.timings.staging_ms = staging.close()?;
    if plan.previous.is_some() {
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
    Ok(())
}

/// The phases in one DataFusion session: the sort and replay, an incremental
/// run's merge, and (unless the replay found them) the duplicate event ids.
/// Returns the findings and the hashes of the outputs hashed as they were
/// written, by path.
fn replay_merge_and_duplicates(
    plan: &Plan,
    report: &mut RunReport,
) -> Result<(Vec<Finding>, BTreeMap<String, PendingHash>)> {
    let options = replay_session_options(plan)?;
    let runtime = crate::sql::runtime()?;
    let mut hashes = BTreeMap::new();
    let findings = runtime.block_on(async {
        let ctx = open_session(plan, &options).await?;
        let mut findings = replay_phase(plan, &ctx, report, &mut hashes).await?;
        if plan.staging != StagingFormat::Parquet {
            // The duplicate ids were found in the replay.
            return Ok(findings);
        }
        ready_for_queries(&ctx, &plan.replay_root()).await?;
        let (events_table, new_events) = match &plan.previous {
            Some(previous) => {
                let new_events =
                    merge_phase(plan, previous, &ctx, report, &mut hashes, &mut findings).await?;
                ("all_events", Some(new_events))
            }
            None => ("replayed", None),
        };
        findings.extend(duplicate_ids_phase(&ctx, events_table, new_events, report).await?);
        Ok::<_, Error>(findings)
    })?;
    Ok((findings, hashes))
}

/// The session's options for the phases after ingest: spilling into the
/// output folder's `_spill` (created), in batches of the sorted runs' size.
fn replay_session_options(plan: &Plan) -> Result<SessionOptions> {
    let mut options = plan.session.clone();
    options
        .spill_dir
        .get_or_insert_with(|| plan.dir.path("_spill"));
    options
        .batch_rows
        .get_or_insert(crate::sort::staging::RUN_BATCH_ROWS);
    if let Some(spill) = &options.spill_dir {
        std::fs::create_dir_all(spill).map_err(|e| Error::io(spill, e))?;
    }
    Ok(options)
}

/// The run's session; with staged Parquet (a partial or incremental run),
/// the staged events are the table `staged` and the selected ones the view
/// `selected`.
async fn open_session(plan: &Plan<'_>, options: &SessionOptions) -> Result<SessionContext> {
    let ctx = session(options)?;
    // Replay reads the envelope's own Arrow types back, not string views.
    ctx.sql("SET datafusion.execution.parquet.schema_force_view_types = false")
        .await?;
    if plan.staging == StagingFormat::Parquet {
        let staged = plan.staging_path().join(STAGED_PARQUET);
        let options = ParquetReadOptions {
            schema: Some(&events_schema()),
            ..Default::default()
        };
        ctx.register_parquet("staged", crate::sql::utf8_path(&staged)?, options)
            .await?;
        let condition = plan
            .config
            .selection
            .where_clause()
            .unwrap_or("true".into());
        ctx.sql(&format!(
            "CREATE VIEW selected AS SELECT * FROM staged WHERE {condition}"
        ))
        .await?;
    }
    Ok(ctx)
}

/// The sort and replay: the events in stream order, folded onto the seeds
/// (an incremental run's snapshot, checked against the new events first) and
/// written as `events.parquet` and the tables. A full run's repeated event
/// ids, found while sorting, are findings of the replay.
async fn replay_phase(
    plan: &Plan<'_>,
    ctx: &SessionContext,
    report: &mut RunReport,
    hashes: &mut BTreeMap<String, PendingHash>,
) -> Result<Vec<Finding>> {
    let config = plan.config;
    let phase = Phase::start();
    let seeds = seeds(plan, ctx).await?;
    let (root, staging_path) = (plan.replay_root(), plan.staging_path());
    let repeated_ids = repeated_ids(plan, &staging_path, report)?;
    let output_root = plan.dir.path("");
    let replay = Replay {
        model: plan.model,
        root: &root,
        with_history: config.with_history,
        seeds,
        repeated_ids,
        hash_events: plan.previous.is_none(),
        observer: config.observer.as_ref(),
        folds: keyed_folds(plan)?,
        output_root: &output_root,
        model_file: &config.model.name,
        roles: &config.roles,
        related_states: related_states(plan)?,
        held: None,
    };
    // A partial run folds an unknown share of the events.
    let total = (!config.selection.is_partial()).then_some(report.ingest.events);
    config.observer.stage_started(Stage::Replay, total);
    let sorted = SortedEvents::open(ctx, plan.staging, &staging_path).await?;
    let (findings, hash) = sort_and_replay(sorted, replay, report).await?;
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
    Ok(findings)
}

/// What the replay starts from: an incremental run's snapshot (its tables
/// registered, and checked against the new events), else nothing.
async fn seeds(plan: &Plan<'_>, ctx: &SessionContext) -> Result<Seeds> {
    let Some(previous) = &plan.previous else {
        return Ok(Seeds::new());
    };
    previous.register(ctx).await?;
    let seeds = previous.seeds(ctx, plan.model).await?;
    previous.check_new_events(ctx, &seeds).await?;
    Ok(seeds)
}

/// For the authorisation rules that read a related stream: an incremental
/// run's previous states of the streams they can read (the new events' related
/// streams as they were before the night), else nothing.
fn related_states(plan: &Plan<'_>) -> Result<HashMap<(String, String), Vec<StateValue>>> {
    let Some(previous) = plan.previous.as_ref() else {
        return Ok(HashMap::new());
    };
    let aggregates: HashSet<&str> = plan.model.related_reads().map(|(a, _)| a).collect();
    if aggregates.is_empty() {
        return Ok(HashMap::new());
    }
    previous.related_states(plan.model, &aggregates)
}

/// The model's keyed folds, if it declares any: empty, or an incremental
/// run's previous rows, which every new event comes after.
fn keyed_folds<'m>(plan: &Plan<'m>) -> Result<Option<KeyedFolds<'m>>> {
    if plan.model.projections.is_empty() {
        return Ok(None);
    }
    match &plan.previous {
        Some(previous) => previous.keyed_folds(plan.model).map(Some),
        None => Ok(Some(KeyedFolds::new(&plan.model.projections))),
    }
}

/// A full run found the id hashes used more than once while sorting: the
/// replay keeps those events aside, and no query is needed after. Their
/// merge is the full run's duplicate-id time.
fn repeated_ids(
    plan: &Plan,
    staging_path: &Path,
    report: &mut RunReport,
) -> Result<Option<HashSet<u64>>> {
    match plan.staging {
        StagingFormat::SortedRuns(limit) => {
            let started = Instant::now();
            let repeated = crate::sort::runs::repeated_id_hashes(staging_path, limit)?;
            report.timings.duplicate_ids_ms = millis(started.elapsed());
            Ok(Some(repeated))
        }
        StagingFormat::Parquet => Ok(None),
    }
}

/// Readies the session for the queries after the replay (an incremental
/// run's snapshot reads, the duplicate-id lookups): the events just written
/// under `root` as the table `replayed`.
async fn ready_for_queries(ctx: &SessionContext, root: &Path) -> Result<()> {
    // These queries do not spill sorted runs: DataFusion's own batch size
    // suits them.
    let batch_rows = datafusion::prelude::SessionConfig::new().batch_size();
    ctx.sql(&format!(
        "SET datafusion.execution.batch_size = {batch_rows}"
    ))
    .await?;
    // The events just written hold the selected rows, and their event ids
    // are read alone from Parquet: cheaper than whole staged batches.
    crate::sql::register_file(ctx, "replayed", &root.join(EVENTS_FILE)).await?;
    Ok(())
}

/// An incremental run's merge: the previous findings kept, the previous
/// tables merged with the increment's, the counts added up, and the view
/// `all_events` of the previous events and the new. Returns the new events,
/// for the duplicate-id query.
async fn merge_phase(
    plan: &Plan<'_>,
    previous: &Previous,
    ctx: &SessionContext,
    report: &mut RunReport,
    hashes: &mut BTreeMap<String, PendingHash>,
    findings: &mut Vec<Finding>,
) -> Result<NewEvents<'static>> {
    // A lookup of the new ids holds them in a join's hash table: taken when
    // they fit in a quarter of the limit, else the aggregate over every id,
    // which spills. (Counted before the previous counts are added.)
    let lookup =
        report.ingest.events.saturating_mul(JOINED_ID_BYTES) <= plan.memory_limit as u64 / 4;
    let phase = Phase::start();
    findings.extend(previous.findings(ctx).await?);
    let merged = previous.merge(ctx, plan.model, plan.dir).await?;
    (report.states, report.state_history) = (merged.states, merged.history);
    hashes.extend(merged.hashes);
    report.streams = stream_counts(ctx, &plan.dir.path("streams.parquet")).await?;
    report.increment = Some((report.ingest.clone(), previous.watermark()));
    let counts = previous.add_counts(&mut report.ingest);
    report.transitions += counts.transitions;
    let columns = "event_id, aggregate_type, stream_id, version, position";
    ctx.sql(&format!(
        "CREATE VIEW all_events AS SELECT {columns} FROM prev_events \
         UNION ALL SELECT {columns} FROM replayed"
    ))
    .await?;
    let new_events = NewEvents {
        table: "replayed",
        after: previous.watermark(),
        lookup,
    };
    (report.timings.merge_ms, report.timings.merge_peak_rss) = phase.finish();
    tracing::info!(stage = "merge", ms = report.timings.merge_ms, "stage done");
    Ok(new_events)
}

/// The duplicate event ids of a partial or incremental run, by an SQL
/// aggregate over `events_table` (of an incremental run, only the new
/// events' are findings).
async fn duplicate_ids_phase(
    ctx: &SessionContext,
    events_table: &str,
    new_events: Option<NewEvents<'_>>,
    report: &mut RunReport,
) -> Result<Vec<Finding>> {
    let phase = Phase::start();
    let findings = duplicate_event_ids(ctx, events_table, new_events).await?;
    (
        report.timings.duplicate_ids_ms,
        report.timings.duplicate_ids_peak_rss,
    ) = phase.finish();
    Ok(findings)
}

/// The last phase: `findings.parquet`, the temporary folders removed, the
/// model beside its outputs, every output hashed (but those being hashed as
/// they were written, `hashes`, and those hashed already, `known`), and
/// `manifest.json` with the timings (`started` is the run's start).
fn write_phase(
    plan: &Plan,
    findings: Vec<Finding>,
    (hashes, known): (BTreeMap<String, PendingHash>, &BTreeMap<String, String>),
    report: &mut RunReport,
    started: Instant,
) -> Result<()> {
    let dir = plan.dir;
    let phase = Phase::start();
    write_findings(dir, plan.model, findings, report)?;
    // The model travels with its outputs, so `history` replays with the same
    // one (and the projections read it as the model tables).
    let model_copy = dir.path(crate::sink::manifest::MODEL_FILE);
    std::fs::write(&model_copy, &plan.config.model.text).map_err(|e| Error::io(&model_copy, e))?;
    projection_phase(plan, report)?;
    for temporary in ["_staging", "_spill", INCREMENT] {
        let path = dir.path(temporary);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    // Hashing reads the outputs not hashed as they were written once more; it
    // is part of the write phase.
    let hashes = output_hashes(dir, hashes, known)?;
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
    write_manifest(plan.config, dir, report, hashes)?;
    if plan.config.report {
        // The page reads the manifest: written last, inside the same commit.
        report.report_bytes = Some(write_report(plan.config, &dir.path(""))?);
    }
    Ok(())
}

/// Writes `report.html` into the output folder `root` (`run --report`), its
/// SQL under the run's memory limit.
fn write_report(config: &RunConfig, root: &Path) -> Result<u64> {
    let mut options = config.session.clone();
    options.memory_limit.get_or_insert(DEFAULT_RUN_MEMORY_LIMIT);
    crate::report::write(
        root,
        &crate::report::output_name(&config.out),
        &root.join(crate::report::REPORT_FILE),
        &options,
        config.observer.as_ref(),
    )
}

/// The SQL projections, built over the output's finished tables (in the
/// run's session options, spilling into `_spill`), each into
/// `projections/<name>.parquet`.
fn projection_phase(plan: &Plan, report: &mut RunReport) -> Result<()> {
    if plan.projections.projections.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let root = plan.dir.path("");
    let options = crate::projection::session_options(replay_session_options(plan)?);
    let rows = crate::sql::runtime()?.block_on(async {
        let ctx = session(&options)?;
        crate::sql::register_tables(&ctx, &root, plan.config.observer.as_ref()).await?;
        // An incremental run's partitioned projections keep the previous
        // rows of the partitions its new events do not touch.
        let new_events = plan.dir.path(INCREMENT).join(EVENTS_FILE);
        let night = crate::projection::Night {
            previous: &plan.config.out,
            new_events: &new_events,
        };
        let night = (plan.previous.is_some() && new_events.is_file()).then_some(&night);
        crate::projection::materialise(&ctx, &root, plan.projections, None, night).await
    })?;
    report.projections.extend(rows);
    report.projection_entries.extend(plan.projections.entries());
    // Added to: a distributed run's keyed folds were timed here before.
    report.timings.projections_ms += millis(started.elapsed());
    Ok(())
}

/// `findings.parquet`: the findings in stream order (then by rule), counted
/// per rule into `report.findings`.
fn write_findings(
    dir: &OutputDir,
    model: &Model,
    mut findings: Vec<Finding>,
    report: &mut RunReport,
) -> Result<()> {
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
        &[findings_batch(&findings, model)?],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::ingest::IngestOptions;
    use crate::sql::SessionOptions;
    use crate::support::progress::Observer;

    /// Everything a run reports, in order.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Observer for Recorder {
        fn stage_started(&self, stage: Stage, total: Option<u64>) {
            self.push(format!("{stage:?} started of {total:?}"));
        }
        fn progressed(&self, stage: Stage, done: u64) {
            self.push(format!("{stage:?} at {done}"));
        }
        fn stage_finished(&self, stage: Stage) {
            self.push(format!("{stage:?} finished"));
        }
        fn note(&self, text: &str) {
            self.push(format!("note: {text}"));
        }
    }

    impl Recorder {
        fn push(&self, event: String) {
            self.0.lock().unwrap().push(event);
        }
    }

    /// The library prints nothing itself: an incremental run with nothing
    /// to go on from says so as a note, and the stages' progress arrives
    /// through the observer, each stage started, counted to its total and
    /// finished.
    #[test]
    fn a_run_reports_its_notes_and_progress_through_its_observer() {
        let temp = tempfile::tempdir().unwrap();
        let recorder = Arc::new(Recorder::default());
        let input = crate::embedded::sample_input();
        let stored = input.stored_len().unwrap();
        let config = RunConfig {
            inputs: vec![input],
            model: crate::embedded::sample_model(),
            out: temp.path().join("out"),
            ingest: IngestOptions::default(),
            session: SessionOptions::default(),
            selection: Default::default(),
            with_history: false,
            incremental: true,
            projections: Vec::new(),
            roles: Default::default(),
            report: false,
            observer: recorder.clone(),
        };
        let report = run(&config).unwrap();
        let events = recorder.0.lock().unwrap().clone();
        let note = format!(
            "note: {} holds no previous output to go on from; this incremental run folds everything",
            config.out.display()
        );
        assert_eq!(events.first(), Some(&note), "{events:#?}");
        // Each stage in order: started with its total, counted up to it, finished.
        let folded = report.ingest.events;
        let mut expected = vec![note];
        expected.push(format!("Ingest started of Some({stored})"));
        let ingest_end = events.iter().position(|e| e == "Ingest finished").unwrap();
        assert!(events[2..ingest_end]
            .iter()
            .all(|e| e.starts_with("Ingest at ")));
        assert_eq!(events[ingest_end - 1], format!("Ingest at {stored}"));
        expected.extend(events[2..ingest_end].iter().cloned());
        expected.push("Ingest finished".into());
        expected.push(format!("Replay started of Some({folded})"));
        let replay = &events[ingest_end + 2..events.len() - 1];
        assert!(replay.iter().all(|e| e.starts_with("Replay at ")));
        assert_eq!(replay.last(), Some(&format!("Replay at {folded}")));
        expected.extend(replay.iter().cloned());
        expected.push("Replay finished".into());
        assert_eq!(events, expected);
    }
}
