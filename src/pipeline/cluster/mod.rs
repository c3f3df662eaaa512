//! `run --cluster df://HOST:PORT`: the rebuild as one job on a Ballista
//! cluster, with the local run's own ingest and fold in every task.
//!
//! The job is a physical plan the client builds and submits
//! ([`execute_physical_plan`]):
//!
//! ```text
//! CoalescePartitionsExec
//!   FoldExec                 one task per hash partition of the streams
//!     RepartitionExec(Hash(aggregate_type, stream_id), P)   Ballista's shuffle
//!       IngestExec           one task per split: an input, or a byte range
//!         DataSourceExec     of a large plain NDJSON input; the splits' numbers
//! ```
//!
//! Every task writes into the output's temporary folder, which must be on
//! storage every executor sees at the same (absolute) path: an ingest task
//! its rejects (`rejects/part-<split>.parquet`) and a summary, a fold task its tables
//! (events, transitions, streams, states) with its findings and held
//! authorisation checks beside. Then the client, in this process:
//!
//! 1. moves each fold task's tables into the output's parts
//!    (`events/part-<p>.parquet`, `state/task/part-<p>.parquet`, …);
//! 2. answers the authorisation checks that read a related stream, which may
//!    have been folded in another partition ([`resume`]);
//! 3. finds the duplicate event ids, which span partitions, with SQL over
//!    `events/` (here, not on the cluster: see `build`);
//! 4. folds the model's keyed folds from `events/` ([`super::refold`]: a
//!    key spans partitions);
//! 5. writes the findings, the SQL projections (their SQL here too),
//!    `manifest.json` with a hash per part, and commits the folder, as the
//!    local run does (`write_phase`). A job that fails leaves the
//!    previous output as it was.
//!
//! A partial or as-of run (`--as-of`, `--aggregate`, …) folds only the
//! selected events: each fold task filters its events with the local run's
//! condition. Not yet on a cluster, each refused with a reason: incremental
//! runs (a local one goes on from a distributed run's output), and mappings that number versions in read order (`@order`, which
//! counts across inputs).

mod job;
mod nodes;
mod partition;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ballista_core::config::BallistaConfig;
use ballista_core::execution_plans::execute_physical_plan;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{Partitioning, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::protobuf::PhysicalPlanNode;

pub use job::ClusterJob;
pub use nodes::EventfoldPhysicalCodec;
use nodes::{FoldExec, IngestExec};
use partition::{fold_dir, partition_results, split_summaries, FoldSummary, MAX_SPLITS};

use super::{duplicate_ids_phase, write_phase, Plan, RunConfig, RunReport};
use crate::ingest::{Format, IngestOptions, IngestSummary, InputSource};
use crate::model::Model;
use crate::projection::Ordered;
use crate::replay::authorise::resume;
use crate::sink::OutputDir;
use crate::sort::StagingFormat;
use crate::sql::cluster::ClusterUrl;
use crate::support::digest::sha256_hex;
use crate::support::metrics::millis;
use crate::{Error, Result};

/// Hash partitions of the streams when `--partitions` does not say.
pub const DEFAULT_PARTITIONS: usize = 4;

/// What the cluster cannot do yet, said before anything runs.
fn refuse_unsupported(config: &RunConfig) -> Result<()> {
    let refuse = |what: &str| {
        Err(Error::usage(format!(
            "run --cluster: {what} is not supported on a cluster yet\n  hint: leave out --cluster to run it locally"
        )))
    };
    if config.incremental {
        return Err(Error::usage(
            "run --cluster: an incremental run (--incremental, or `incremental = true`) is not supported on a cluster yet\n  hint: leave out --cluster: a local incremental run goes on from the output of a distributed one",
        ));
    }
    if config.ingest.mapping.versions_from_order() && config.inputs.len() > 1 {
        return refuse("numbering versions in read order (`@order`) across several inputs");
    }
    if config.ingest.spec.is_none() {
        return refuse("ingest options not made from a mapping (a library caller's)");
    }
    Ok(())
}

/// The error of a job that ran past `--job-timeout`. Ballista 55's client
/// does not hand out the job's id, so the job is not cancelled: its tasks
/// go on until they end or fail (they write only into the run's own
/// folder, which is removed, never into the output).
fn timed_out(limit: std::time::Duration, url: &ClusterUrl) -> Error {
    Error::usage(format!(
        "run --cluster: the job on {} did not finish within {} s (--job-timeout); the previous output is kept\n  hint: see the scheduler's and executors' logs for tasks that hang, or executors that are gone",
        url,
        limit.as_secs()
    ))
}

/// The run on the cluster at `url`, into `dir` (committed by the caller).
pub(super) fn build(
    config: &RunConfig,
    model: &Model,
    projections: &Ordered,
    dir: &OutputDir,
    started: Instant,
    url: &str,
) -> Result<RunReport> {
    refuse_unsupported(config)?;
    let url = ClusterUrl::parse(url)?;
    url.ensure_reachable()?;
    let mut session = config.session.clone();
    // The queries after the job run here, over the shared output: Ballista
    // 55, in the first query after it lost an executor, read a shuffle's
    // rows twice (the duplicate-id query found each of 90 events used twice
    // by itself), so the run's own queries do not go through it.
    session.cluster = None;
    let memory_limit = *session
        .memory_limit
        .get_or_insert(super::DEFAULT_RUN_MEMORY_LIMIT);
    let partitions = session
        .target_partitions
        .unwrap_or(DEFAULT_PARTITIONS)
        .max(1);
    let plan = Plan {
        config,
        model,
        projections,
        dir,
        previous: None,
        inputs: config.inputs.clone(),
        session,
        memory_limit,
        staging: StagingFormat::SortedRuns(memory_limit),
    };
    let mut report = RunReport {
        partial: config.selection.is_partial(),
        model_sha256: sha256_hex(config.model.text.as_bytes()),
        projection_entries: crate::projection::keyed_entries(model, &config.model.name),
        ..RunReport::default()
    };
    let splits = cut_into_splits(&config.inputs, &config.ingest)?;
    if splits.len() > MAX_SPLITS {
        return Err(Error::usage(format!(
            "run --cluster: {} splits of the inputs, more than {MAX_SPLITS}\n  hint: a larger --split-size",
            splits.len()
        )));
    }
    let job = ClusterJob {
        // Executors run elsewhere, in folders of their own: paths go absolute.
        root: absolute(&dir.path(""))?,
        model_name: config.model.name.clone(),
        model_text: config.model.text.clone(),
        roles: config.roles.clone(),
        spec: config.ingest.spec.clone().unwrap_or_default(),
        strict: config.ingest.strict,
        chunk_bytes: config.ingest.chunk_bytes,
        inputs: ClusterJob::ship(&splits.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>()),
        with_history: config.with_history,
        partitions,
        memory_limit,
        selection: config.selection.clone(),
    };
    for folder in [job::INGEST_DIR, "rejects"] {
        create_dir(&dir.path(folder))?;
    }
    create_dir(&dir.path(job::FOLD_DIR))?;
    // The whole hash of each input cut into ranges, read here while the job runs.
    let hashing = hash_cut_inputs(&config.inputs, &splits);
    let runtime = crate::sql::runtime()?;
    let job_started = Instant::now();
    let submitted = submit(&url, Arc::new(job.clone()));
    let answers = match plan.session.job_timeout {
        None => runtime.block_on(submitted)?,
        Some(limit) => runtime
            .block_on(async { tokio::time::timeout(limit, submitted).await })
            .map_err(|_| timed_out(limit, &url))??,
    };
    let summaries = one_per_partition(answers, partitions)?;
    report.timings.sort_replay_ms = millis(job_started.elapsed());
    let gathered = Instant::now();
    report.ingest = ingest_totals(&job, &splits, hashing, &mut report)?;
    let mut findings = Vec::new();
    let mut helds = Vec::new();
    let mut known = BTreeMap::new();
    for (part, summary) in summaries.iter().enumerate() {
        let (held, found) = partition_results(&job.root, &summary.folder)?;
        helds.push(held);
        findings.extend(found);
        add_counts(&mut report, summary);
        report.timings.fold_ms = report.timings.fold_ms.max(summary.fold_ms);
        for (table, part) in into_parts(&fold_dir(&job.root, &summary.folder), &job.root, part)? {
            if let Some(hash) = summary.hashes.get(&table) {
                known.insert(part, hash.clone());
            }
        }
    }
    report.ingest.max_position = summaries.iter().filter_map(|s| s.max_position).max();
    let held: usize = summaries.iter().map(|s| s.held).sum();
    findings.extend(resume(model, &config.roles, helds));
    tracing::info!(partitions, held, "answered the held authorisation checks");
    let cluster_dir = dir.path(job::CLUSTER_DIR);
    std::fs::remove_dir_all(&cluster_dir).map_err(|e| Error::io(&cluster_dir, e))?;
    report.timings.tables_write_ms = millis(gathered.elapsed());
    findings.extend(runtime.block_on(duplicate_ids(&plan, &mut report))?);
    if !model.projections.is_empty() {
        let (root, refolding) = (dir.path(""), Instant::now());
        report.projections =
            super::refold(model, &config.model.name, &root.join("events"), &root, None)?;
        report.timings.projections_ms = millis(refolding.elapsed());
    }
    write_phase(
        &plan,
        findings,
        (BTreeMap::new(), &known),
        &mut report,
        started,
    )?;
    Ok(report)
}

/// `path` from the root, as an executor running in another folder finds it.
fn absolute(path: &Path) -> Result<std::path::PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io(path, e))
}

fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))
}

/// Submits the job and waits for every fold task's counts.
async fn submit(url: &ClusterUrl, job: Arc<ClusterJob>) -> Result<Vec<FoldSummary>> {
    let schema = partition::shuffled_schema();
    let keys: Vec<Arc<dyn PhysicalExpr>> = ["aggregate_type", "stream_id"]
        .into_iter()
        .map(|name| Ok(Arc::new(Column::new(name, schema.index_of(name)?)) as _))
        .collect::<Result<_>>()?;
    let splits = nodes::splits_leaf(job.inputs.len())?;
    let ingest: Arc<dyn ExecutionPlan> = Arc::new(IngestExec::new(splits, job.clone()));
    let shuffled = RepartitionExec::try_new(ingest, Partitioning::Hash(keys, job.partitions))?;
    let fold = Arc::new(FoldExec::new(Arc::new(shuffled), job));
    let plan = Arc::new(CoalescePartitionsExec::new(fold));
    let config = crate::sql::cluster::cluster_config(datafusion::prelude::SessionConfig::new());
    let session_id = format!(
        "eventfold-run-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let stream = execute_physical_plan::<PhysicalPlanNode>(
        url.http_url(),
        &BallistaConfig::default(),
        plan,
        &EventfoldPhysicalCodec::default(),
        session_id,
        config,
    )
    .await?;
    let batches = datafusion::physical_plan::common::collect(stream)
        .await
        .map_err(|e| Error::usage(format!("the job on the cluster failed: {e}")))?;
    let mut summaries = Vec::new();
    for batch in batches {
        let column = arrow::array::AsArray::as_string::<i32>(batch.column(0));
        for text in column.iter().flatten() {
            summaries.push(serde_json::from_str(text).map_err(|e| {
                Error::usage(format!("a fold task answered what is not its counts: {e}"))
            })?);
        }
    }
    Ok(summaries)
}

/// One answer per hash partition, in the order of their first streams (the
/// same part names for the same log). When Ballista loses an executor it
/// runs again the tasks whose output was there, and the job's result may
/// then hold a partition's answer twice (seen on Ballista 55: 7 answers for
/// 4 partitions): each answer is a fold finished whole, so a repeat (the
/// same first stream) is dropped, and its folder with it. Fewer answers
/// than partitions is an error.
fn one_per_partition(
    mut summaries: Vec<FoldSummary>,
    partitions: usize,
) -> Result<Vec<FoldSummary>> {
    summaries.sort_by(|a, b| a.first.cmp(&b.first));
    summaries.dedup_by(|a, b| a.first.is_some() && a.first == b.first);
    let folded = summaries.iter().filter(|s| s.first.is_some()).count();
    // Partitions without a stream wrote empty tables: as many as there are.
    let mut empty = partitions.saturating_sub(folded);
    summaries.retain(|s| {
        s.first.is_some() || {
            let keep = empty > 0;
            empty = empty.saturating_sub(1);
            keep
        }
    });
    if summaries.len() != partitions {
        return Err(Error::usage(format!(
            "the cluster answered for {} of {partitions} partitions",
            summaries.len()
        )));
    }
    Ok(summaries)
}

/// The job's splits, each with the index of its input: every input whole,
/// but a plain NDJSON file larger than the ingest's `split_bytes`, cut into
/// byte ranges of that size ([`crate::ingest::range`]).
fn cut_into_splits(
    inputs: &[InputSource],
    options: &IngestOptions,
) -> Result<Vec<(InputSource, usize)>> {
    let mut splits = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        let InputSource::File(given) = input else {
            splits.push((input.clone(), index));
            continue;
        };
        // Executors run in folders of their own: the file by its absolute
        // path, named as given (as a local run names it).
        let (path, name) = (&absolute(given)?, input.name());
        let input = &InputSource::Named {
            path: path.clone(),
            name: name.clone(),
        };
        let len = input.stored_len()?;
        let mut head = vec![0; 1 << 16];
        let read = std::fs::File::open(path)
            .and_then(|mut file| std::io::Read::read(&mut file, &mut head))
            .map_err(|e| Error::io(path, e))?;
        let head = &head[..read];
        let compressed =
            head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        let step = options.split_bytes.max(1);
        if compressed || len <= step || input.format(head, options) != Format::Ndjson {
            splits.push((input.clone(), index));
            continue;
        }
        let mut start = 0;
        while start < len {
            let end = (start + step).min(len);
            splits.push((
                InputSource::Range {
                    path: path.clone(),
                    name: name.clone(),
                    start,
                    end,
                },
                index,
            ));
            start = end;
        }
    }
    Ok(splits)
}

/// The SHA-256 of each input cut into several ranges, on a thread each (the
/// ranges' tasks hash only their own bytes).
fn hash_cut_inputs(
    inputs: &[InputSource],
    splits: &[(InputSource, usize)],
) -> BTreeMap<usize, std::thread::JoinHandle<Result<String>>> {
    let mut cut = BTreeMap::new();
    for (split, input) in splits {
        if matches!(split, InputSource::Range { .. }) && !cut.contains_key(input) {
            let whole = inputs[*input].clone();
            cut.insert(*input, std::thread::spawn(move || whole.sha256()));
        }
    }
    cut
}

/// The whole ingest's counts: every split's, added up per input, in input
/// order (an input cut into ranges with its whole size and hash, and its
/// rejects' lines counted from the file's first); the longest ingest task's
/// time as `ingest_ms`.
fn ingest_totals(
    job: &ClusterJob,
    splits: &[(InputSource, usize)],
    hashing: BTreeMap<usize, std::thread::JoinHandle<Result<String>>>,
    report: &mut RunReport,
) -> Result<IngestSummary> {
    let summaries = split_summaries(job)?;
    let lines_before = partition::lines_before(job, &summaries);
    let mut total = IngestSummary {
        read_positions: partition::read_positions(&job.inputs, &summaries),
        ..IngestSummary::default()
    };
    // Each input's place in `total.inputs`.
    let mut places: BTreeMap<usize, usize> = BTreeMap::new();
    for (number, split) in summaries.into_iter().enumerate() {
        let (source, input) = &splits[number];
        report.timings.ingest_ms = report.timings.ingest_ms.max(split.ms);
        total.records += split.ingest.records;
        total.events += split.ingest.events;
        total.rejects += split.ingest.rejects;
        let Some(mut summary) = split.ingest.inputs.into_iter().next() else {
            continue;
        };
        if summary.rejects > 0 && lines_before[number] > 0 {
            count_lines_from(&job.root, number, lines_before[number])?;
        }
        match places.get(input) {
            None => {
                if let InputSource::Range { path, .. } = source {
                    summary.bytes = std::fs::metadata(path)
                        .map_err(|e| Error::io(path, e))?
                        .len();
                }
                places.insert(*input, total.inputs.len());
                total.inputs.push(summary);
            }
            Some(place) => {
                let whole = &mut total.inputs[*place];
                whole.records += summary.records;
                whole.events += summary.events;
                whole.rejects += summary.rejects;
            }
        }
    }
    for (input, hash) in hashing {
        let hash = crate::error::joined(hash, &job.root, "hashing an input")?;
        if let Some(place) = places.get(&input) {
            total.inputs[*place].sha256 = hash;
        }
    }
    Ok(total)
}

/// Split `split`'s rejects (a range of a file after its first) with their
/// lines counted from the file's first: `lines_before` added to `line` and
/// to the line of `source`.
fn count_lines_from(root: &Path, split: usize, lines_before: u64) -> Result<()> {
    use arrow::array::{AsArray, StringArray, UInt64Array};
    let path = root
        .join("rejects")
        .join(format!("part-{split:05}.parquet"));
    let schema = crate::envelope::rejects_schema();
    let (line, source) = (schema.index_of("line")?, schema.index_of("source")?);
    let batches = crate::sink::dataset::TableReader::open(&path, None)?
        .map(|batch| {
            let batch = batch?;
            let lines = batch
                .column(line)
                .as_primitive::<arrow::datatypes::UInt64Type>();
            let lines: UInt64Array =
                arrow::compute::kernels::arity::unary(lines, |l| l + lines_before);
            let sources: StringArray = (batch.column(source).as_string::<i32>().iter())
                .map(|s| s.map(|s| partition::later_line(s, lines_before)))
                .collect();
            let mut columns = batch.columns().to_vec();
            columns[line] = Arc::new(lines);
            columns[source] = Arc::new(sources);
            Ok(arrow::array::RecordBatch::try_new(schema.clone(), columns)?)
        })
        .collect::<Result<Vec<_>>>()?;
    crate::sink::write_table(&path, schema, &batches)?;
    Ok(())
}

/// A fold task's counts added to the run's.
fn add_counts(report: &mut RunReport, summary: &FoldSummary) {
    let add = |into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>| {
        for (name, count) in from {
            *into.entry(name.clone()).or_default() += count;
        }
    };
    add(&mut report.streams, &summary.streams);
    add(&mut report.states, &summary.states);
    add(&mut report.state_history, &summary.state_history);
    report.transitions += summary.transitions;
}

/// Moves every table a fold task wrote under `from` (`events.parquet`,
/// `state/task.parquet`, …) to its part in `root` (`events/part-<p>.parquet`,
/// `state/task/part-<p>.parquet`, …); returns (table file, part) names.
fn into_parts(from: &Path, root: &Path, partition: usize) -> Result<Vec<(String, String)>> {
    let mut moved = Vec::new();
    for (name, path) in super::output::files_under(from)? {
        let Some(table) = name.strip_suffix(".parquet") else {
            continue;
        };
        let folder = root.join(table);
        create_dir(&folder)?;
        let part_name = format!("{table}/part-{partition:05}.parquet");
        let part = root.join(&part_name);
        std::fs::rename(&path, &part).map_err(|e| Error::io(&part, e))?;
        moved.push((name, part_name));
    }
    Ok(moved)
}

/// The duplicate event ids over the whole `events/`, here, as findings.
async fn duplicate_ids(
    plan: &Plan<'_>,
    report: &mut RunReport,
) -> Result<Vec<crate::replay::Finding>> {
    let ctx = crate::sql::session(&plan.session)?;
    crate::sql::register_file(&ctx, "replayed", &plan.dir.path("events")).await?;
    duplicate_ids_phase(&ctx, "replayed", None, report).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(first: Option<&str>, folder: &str) -> FoldSummary {
        FoldSummary {
            first: first.map(|s| ("task".to_owned(), s.to_owned())),
            folder: folder.to_owned(),
            ..FoldSummary::default()
        }
    }

    #[test]
    fn a_partition_answered_twice_counts_once_and_a_missing_one_is_an_error() {
        let answers = vec![
            answer(Some("t-2"), "a"),
            answer(None, "b"),
            answer(Some("t-1"), "c"),
            answer(Some("t-2"), "d"),
            answer(None, "e"),
        ];
        let kept = one_per_partition(answers, 3).unwrap();
        let folders: Vec<&str> = kept.iter().map(|s| s.folder.as_str()).collect();
        assert_eq!(folders, ["b", "c", "a"]);
        let answers = vec![answer(Some("t-1"), "a"), answer(Some("t-1"), "b")];
        let err = one_per_partition(answers, 2).unwrap_err().to_string();
        assert!(err.contains("answered for 1 of 2 partitions"), "{err}");
    }
}
