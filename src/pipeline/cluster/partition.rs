//! The work of one task of a distributed run, on an executor: ingest one
//! split, an input or a byte range of one ([`ingest_split`]), and fold one
//! hash partition of the streams ([`fold_partition`]), both with the local
//! run's own code, writing into the output's temporary folder on shared
//! storage.
//!
//! Read-order positions and lines. A local run numbers the events without a
//! position of their own by their place across all inputs in order, and a
//! record's `source` line by its place in its file; a split cannot know how
//! many records the splits before it hold. So split `i` numbers its events
//! from `(i + 1) << SPLIT_SHIFT` and its lines from 1, writes how many lines
//! it read, and tags its events with its number (`_split`, through the
//! shuffle). The fold, which runs once every split is read (Ballista's
//! shuffle is a barrier), puts each position and `source` line back where
//! the local run has them ([`rebase`]); the client does the same for the
//! rejects of a file's later ranges. A position a record carries
//! itself of 2^53 or more (nine quadrillion) would be taken for a numbered
//! one; no store we know of counts that high.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type, UInt64Type};
use serde::{Deserialize, Serialize};

use super::job::{ClusterJob, ShippedInput, FOLD_DIR, INGEST_DIR};
use crate::envelope::{col, rejects_batch, rejects_schema, Reject};
use crate::ingest::{ingest, IngestSink, IngestSummary, InputSource};
use crate::pipeline::fold::{sort_and_replay, Replay};
use crate::pipeline::sorted::SortedEvents;
use crate::pipeline::RunReport;
use crate::replay::authorise::{Held, HeldSlot};
use crate::replay::{Finding, Seeds};
use crate::sink::dataset::TableReader;
use crate::sink::manifest::Selection;
use crate::sink::{BackgroundTableWriter, TableWriter};
use crate::sort::runs::SortedRuns;
use crate::sort::StagingFormat;
use crate::support::progress::Silent;
use crate::{Error, Result};

/// Split `i`'s read-order positions start at `(i + 1) << SPLIT_SHIFT`.
pub const SPLIT_SHIFT: u32 = 53;

/// The largest number of splits (inputs) a distributed run reads.
pub const MAX_SPLITS: usize = (1 << (64 - SPLIT_SHIFT)) - 1;

/// What a split wrote beside its rejects: its ingest summary, with the lines
/// it read (the read-order positions it gave out).
#[derive(Debug, Serialize, Deserialize)]
pub struct SplitSummary {
    pub ingest: IngestSummary,
    pub lines: u64,
    /// The task's time, reading and mapping its input.
    #[serde(default)]
    pub ms: u64,
}

/// What a fold partition hands back to the client (as one JSON row).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct FoldSummary {
    /// The folder (under [`FOLD_DIR`]) it wrote its tables in.
    pub folder: String,
    /// Its first stream, (aggregate type, stream id): the order of the parts.
    pub first: Option<(String, String)>,
    pub streams: BTreeMap<String, u64>,
    pub states: BTreeMap<String, u64>,
    pub state_history: BTreeMap<String, u64>,
    pub transitions: u64,
    pub fold_ms: u64,
    /// The SHA-256 of each table it wrote (`events.parquet`, `state/task.parquet`,
    /// …), hashed here while the files are fresh, for the manifest.
    pub hashes: BTreeMap<String, String>,
    /// Events whose related permits it held for the client to answer.
    pub held: usize,
    /// The highest position of its events, selected or not (the run's
    /// watermark is the highest of all, as a local run's ingest finds it).
    pub max_position: Option<u64>,
}

/// The file a split's summary is written to.
pub fn split_summary_path(root: &Path, split: usize) -> PathBuf {
    root.join(INGEST_DIR).join(format!("{split:05}.json"))
}

/// The folder a fold partition writes its tables in, before the client
/// moves them into the output's parts.
pub fn fold_dir(root: &Path, folder: &str) -> PathBuf {
    root.join(FOLD_DIR).join(folder)
}

/// A folder name no other fold task of the job takes, on any executor (a
/// retried task writes anew beside its failed attempt, which is ignored).
fn unique_folder() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let next = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let digest = crate::support::digest::sha256_hex(
        format!("{}-{now}-{next}-{}", std::process::id(), host.trim()).as_bytes(),
    );
    digest[..16].to_owned()
}

/// The files of a fold partition's held authorisation and findings.
pub const HELD_FILE: &str = "held.json";
pub const FINDINGS_FILE: &str = "findings.json";

/// Hands the events of a split on to the shuffle, its rejects to its part of
/// `rejects/`.
struct SplitSink<'a> {
    send: &'a mut dyn FnMut(RecordBatch) -> Result<()>,
    rejects: TableWriter,
    /// Where a range of a file begins in it: added to its rejects' byte
    /// offsets (their lines are put right by the client, which knows the
    /// lines of the ranges before).
    first_byte: u64,
}

impl IngestSink for SplitSink<'_> {
    fn events(&mut self, batch: RecordBatch) -> Result<()> {
        (self.send)(batch)
    }

    fn rejects(&mut self, mut rejects: Vec<Reject>) -> Result<()> {
        for reject in &mut rejects {
            reject.byte_offset += self.first_byte;
        }
        self.rejects.write(&rejects_batch(&rejects)?)
    }
}

/// Ingests split `split` (one input) of `job`: each events batch to `send`,
/// the rejects into `rejects/part-<split>.parquet`, and the summary beside.
pub fn ingest_split(
    job: &ClusterJob,
    split: usize,
    send: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    job.ensure_root()?;
    let started = std::time::Instant::now();
    let source = job.input(split)?;
    let mut options = job.ingest_options()?;
    options.position_base = (split as u64 + 1) << SPLIT_SHIFT;
    let rejects_path = job
        .root
        .join("rejects")
        .join(format!("part-{split:05}.parquet"));
    let rejects = TableWriter::create(&rejects_path, rejects_schema(), crate::sink::zstd())?;
    let first_byte = match &source {
        InputSource::Range { path, start, .. } => {
            crate::ingest::range::aligned_start(path, *start)?
        }
        _ => 0,
    };
    let mut sink = SplitSink {
        send,
        rejects,
        first_byte,
    };
    let mut summary = ingest(std::slice::from_ref(&source), &options, &mut sink)?;
    sink.rejects.close()?;
    let lines = summary.read_positions - options.position_base;
    summary.read_positions = lines;
    let text = serde_json::to_vec(&SplitSummary {
        ingest: summary,
        lines,
        ms: crate::support::metrics::millis(started.elapsed()),
    })
    .map_err(|e| Error::usage(format!("split summary: {e}")))?;
    let path = split_summary_path(&job.root, split);
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
}

/// The summaries of every split, in order.
pub fn split_summaries(job: &ClusterJob) -> Result<Vec<SplitSummary>> {
    (0..job.inputs.len())
        .map(|split| {
            let path = split_summary_path(&job.root, split);
            let text = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            serde_json::from_slice(&text)
                .map_err(|e| Error::usage(format!("{}: not a split summary: {e}", path.display())))
        })
        .collect()
}

/// Whether split `split` is a range of the same file as the split before.
fn continues_a_file(inputs: &[ShippedInput], split: usize) -> bool {
    match (&inputs[split], split.checked_sub(1).map(|s| &inputs[s])) {
        (ShippedInput::Range { path, .. }, Some(ShippedInput::Range { path: previous, .. })) => {
            path == previous
        }
        _ => false,
    }
}

/// Per split: its first read-order position's base and the lines of its
/// file before it, as the local run counts them. A split's `lines` is the
/// ingest's next line number (its lines plus one), which a local run adds
/// to the base per input: so a range after its file's first adds its lines
/// only.
fn bases_and_lines_before(inputs: &[ShippedInput], summaries: &[SplitSummary]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(summaries.len());
    for split in 0..summaries.len() {
        let next = match split.checked_sub(1) {
            None => (0, 0),
            Some(previous) => {
                let (base, before) = out[previous];
                let lines = summaries[previous].lines;
                match continues_a_file(inputs, split) {
                    true => (base + lines - 1, before + lines - 1),
                    false => (base + lines, 0),
                }
            }
        };
        out.push(next);
    }
    out
}

/// The first read-order position of each split, as the local run numbers
/// them: after the lines of every split before.
pub fn split_bases(inputs: &[ShippedInput], summaries: &[SplitSummary]) -> Vec<u64> {
    bases_and_lines_before(inputs, summaries)
        .into_iter()
        .map(|(base, _)| base)
        .collect()
}

/// The lines of the file before each split: more than 0 for a range of a
/// file after its first, whose lines (in `source`, and its rejects') count
/// from its own start.
pub fn lines_before(job: &ClusterJob, summaries: &[SplitSummary]) -> Vec<u64> {
    bases_and_lines_before(&job.inputs, summaries)
        .into_iter()
        .map(|(_, before)| before)
        .collect()
}

/// The read-order positions all splits gave out, as the local run counts them.
pub fn read_positions(inputs: &[ShippedInput], summaries: &[SplitSummary]) -> u64 {
    match summaries.last() {
        Some(last) => split_bases(inputs, summaries).last().copied().unwrap_or(0) + last.lines,
        None => 0,
    }
}

/// A read-order position of a split put where the local run has it.
pub fn local_position(position: u64, bases: &[u64]) -> Result<u64> {
    let split = (position >> SPLIT_SHIFT) as usize;
    if split == 0 {
        return Ok(position);
    }
    let base = bases.get(split - 1).ok_or_else(|| {
        Error::usage(format!(
            "position {position} names split {} of {}",
            split - 1,
            bases.len()
        ))
    })?;
    Ok(base + (position & ((1 << SPLIT_SHIFT) - 1)))
}

/// The events' schema as the shuffle carries them: with the number of the
/// split each event was read in (`_split`, last), for [`rebase`].
pub fn shuffled_schema() -> SchemaRef {
    let mut fields: Vec<_> = crate::envelope::events_schema()
        .fields()
        .iter()
        .cloned()
        .collect();
    fields.push(Arc::new(Field::new(SPLIT_COLUMN, DataType::UInt32, false)));
    Arc::new(Schema::new(fields))
}

const SPLIT_COLUMN: &str = "_split";

/// An events batch of split `split`, as the shuffle carries it.
pub fn with_split(batch: RecordBatch, split: usize) -> Result<RecordBatch> {
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(UInt32Array::from(vec![
        split as u32;
        batch.num_rows()
    ])));
    Ok(RecordBatch::try_new(shuffled_schema(), columns)?)
}

/// A `source` (`file:line`) of a range's record with its line counted in
/// the whole file: `before` lines later.
pub fn later_line(source: &str, before: u64) -> String {
    match source
        .rsplit_once(':')
        .map(|(file, line)| (file, line.parse::<u64>()))
    {
        Some((file, Ok(line))) if before > 0 => format!("{file}:{}", line + before),
        _ => source.to_owned(),
    }
}

/// `batch` (from the shuffle) as the local run has it: positions numbered
/// across all inputs, `source` lines counted in the whole file, no `_split`.
fn rebase(batch: RecordBatch, bases: &[u64], lines_before: &[u64]) -> Result<RecordBatch> {
    let positions = batch.column(col::POSITION).as_primitive::<UInt64Type>();
    let rebased: UInt64Array = positions
        .iter()
        .map(|p| p.map(|p| local_position(p, bases)).transpose())
        .collect::<Result<_>>()?;
    let splits = batch
        .column(batch.num_columns() - 1)
        .as_primitive::<UInt32Type>();
    let mut columns = batch.columns().to_vec();
    columns.pop();
    columns[col::POSITION] = Arc::new(rebased);
    if splits
        .values()
        .iter()
        .any(|s| lines_before.get(*s as usize).is_some_and(|b| *b > 0))
    {
        let sources = columns[col::SOURCE].as_string::<i32>();
        let moved: StringArray = sources
            .iter()
            .zip(splits.values())
            .map(|(source, split)| {
                let before = lines_before.get(*split as usize).copied().unwrap_or(0);
                source.map(|source| later_line(source, before))
            })
            .collect();
        columns[col::SOURCE] = Arc::new(moved);
    }
    Ok(RecordBatch::try_new(
        crate::envelope::events_schema(),
        columns,
    )?)
}

/// The events a partial or as-of run replays: its selection's condition
/// (the local run's SQL, [`Selection::where_clause`]) evaluated on each
/// batch, once its positions are the local run's.
struct Selected(Option<Arc<dyn datafusion::physical_expr::PhysicalExpr>>);

impl Selected {
    fn new(selection: &Selection) -> Result<Self> {
        let Some(condition) = selection.where_clause() else {
            return Ok(Self(None));
        };
        let ctx = datafusion::prelude::SessionContext::new();
        let schema = datafusion::common::DFSchema::try_from(crate::envelope::events_schema())?;
        let expr = ctx.parse_sql_expr(&condition, &schema)?;
        Ok(Self(Some(ctx.create_physical_expr(expr, &schema)?)))
    }

    fn filter(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let Some(condition) = &self.0 else {
            return Ok(batch);
        };
        let mask = condition.evaluate(&batch)?.into_array(batch.num_rows())?;
        let mask = mask
            .as_boolean_opt()
            .ok_or_else(|| Error::usage("the selection's condition is not true or false"))?;
        Ok(arrow::compute::filter_record_batch(&batch, mask)?)
    }
}

/// Folds hash partition `partition` of the streams: its events (from the
/// shuffle, every split read) sorted in runs, merged and replayed with the
/// local run's fold into its folder, its findings and held authorisation
/// beside. Returns its counts.
pub fn fold_partition(
    job: &ClusterJob,
    batches: impl Iterator<Item = Result<RecordBatch>>,
) -> Result<FoldSummary> {
    job.ensure_root()?;
    let started = std::time::Instant::now();
    let folder = unique_folder();
    let dir = fold_dir(&job.root, &folder);
    let staging = dir.join("_staging");
    let summaries = split_summaries(job)?;
    let bases = split_bases(&job.inputs, &summaries);
    let lines_before = lines_before(job, &summaries);
    let runs = SortedRuns::create(&staging, job.memory_limit)?;
    let mut writer = BackgroundTableWriter::spawn(runs)?;
    let selected = Selected::new(&job.selection)?;
    let mut max_position = None;
    for batch in batches {
        let batch = rebase(batch?, &bases, &lines_before)?;
        let positions = batch.column(col::POSITION).as_primitive::<UInt64Type>();
        max_position = max_position.max(arrow::compute::max(positions));
        let batch = selected.filter(batch)?;
        if batch.num_rows() > 0 {
            writer.write(batch)?;
        }
    }
    writer.close()?;
    let model = crate::model::parse_model(&job.model_name, &job.model_text)?;
    let slot = HeldSlot::default();
    let mut report = RunReport::default();
    let findings: Vec<Finding> = current_thread()?.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        let sorted =
            SortedEvents::open(&ctx, StagingFormat::SortedRuns(job.memory_limit), &staging).await?;
        let replay = Replay {
            model: &model,
            root: &dir,
            with_history: job.with_history,
            seeds: Seeds::new(),
            // Duplicate ids span partitions: the client finds them.
            repeated_ids: None,
            hash_events: false,
            observer: &Silent,
            // Keyed folds span partitions: the client folds them.
            folds: None,
            output_root: &dir,
            model_file: &job.model_name,
            roles: &job.roles,
            related_states: HashMap::new(),
            held: Some(slot.clone()),
        };
        Ok::<_, Error>(sort_and_replay(sorted, replay, &mut report).await?.0)
    })?;
    std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let held = (slot.lock().unwrap_or_else(|e| e.into_inner()).take()).unwrap_or_default();
    write_json(&dir.join(HELD_FILE), &held)?;
    write_json(&dir.join(FINDINGS_FILE), &findings)?;
    let hashes = crate::pipeline::output::files_under(&dir)?
        .into_iter()
        .filter(|(name, _)| name.ends_with(".parquet"))
        .map(|(name, path)| Ok((name, crate::pipeline::output::file_sha256(&path)?)))
        .collect::<Result<_>>()?;
    Ok(FoldSummary {
        max_position,
        held: held.events(),
        hashes,
        first: first_stream(&dir)?,
        folder,
        streams: report.streams,
        states: report.states,
        state_history: report.state_history,
        transitions: report.transitions,
        fold_ms: crate::support::metrics::millis(started.elapsed()),
    })
}

/// The first stream a fold partition wrote (its streams table is in stream
/// order), if any.
fn first_stream(dir: &Path) -> Result<Option<(String, String)>> {
    let columns = ["aggregate_type", "stream_id"];
    let mut reader = TableReader::open(&dir.join("streams.parquet"), Some(&columns))?;
    let Some(batch) = reader.next().transpose()? else {
        return Ok(None);
    };
    if batch.num_rows() == 0 {
        return Ok(None);
    }
    let text = |name: &str| -> Result<String> {
        let column = batch
            .column_by_name(name)
            .ok_or_else(|| Error::usage(format!("streams.parquet has no {name}")))?;
        let column = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8)?;
        Ok(column.as_string::<i32>().value(0).to_owned())
    };
    Ok(Some((text("aggregate_type")?, text("stream_id")?)))
}

/// A fold partition's held authorisation and findings, read back.
pub fn partition_results(root: &Path, folder: &str) -> Result<(Held, Vec<Finding>)> {
    let dir = fold_dir(root, folder);
    Ok((
        read_json(&dir.join(HELD_FILE))?,
        read_json(&dir.join(FINDINGS_FILE))?,
    ))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut writer = std::io::BufWriter::new(file);
    serde_json::to_writer(&mut writer, value)
        .map_err(|e| Error::usage(format!("{}: {e}", path.display())))?;
    std::io::Write::flush(&mut writer).map_err(|e| Error::io(path, e))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_reader(std::io::BufReader::new(file))
        .map_err(|e| Error::usage(format!("{}: {e}", path.display())))
}

/// A runtime of the calling thread, for the fold's async merge.
fn current_thread() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("the fold's runtime", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_order_positions_go_back_where_the_local_run_has_them() {
        let bases = [0, 10, 25];
        assert_eq!(local_position(7, &bases).unwrap(), 7);
        assert_eq!(local_position((1 << SPLIT_SHIFT) + 3, &bases).unwrap(), 3);
        assert_eq!(local_position((2 << SPLIT_SHIFT) + 3, &bases).unwrap(), 13);
        assert_eq!(local_position((3 << SPLIT_SHIFT) + 1, &bases).unwrap(), 26);
        assert!(local_position(4 << SPLIT_SHIFT, &bases).is_err());
        // Lines are the ingest's next line numbers: an input of 3 lines says 4.
        let summaries: Vec<SplitSummary> = [4, 6, 3, 5, 1]
            .into_iter()
            .map(|lines| SplitSummary {
                ingest: IngestSummary::default(),
                lines,
                ms: 0,
            })
            .collect();
        let range = |path: &str| ShippedInput::Range {
            path: path.into(),
            name: path.into(),
            start: 0,
            end: 0,
        };
        let file = |path: &str| ShippedInput::File {
            path: path.into(),
            name: path.into(),
        };
        // a whole file, then b in three ranges, then c whole.
        let inputs = [file("a"), range("b"), range("b"), range("b"), file("c")];
        // A local run: a gives 4, b (5 + 2 + 4 = 11 lines) gives 12.
        assert_eq!(split_bases(&inputs, &summaries), vec![0, 4, 9, 11, 16]);
        assert_eq!(
            bases_and_lines_before(&inputs, &summaries)
                .into_iter()
                .map(|(_, before)| before)
                .collect::<Vec<_>>(),
            vec![0, 0, 5, 7, 0]
        );
        assert_eq!(read_positions(&inputs, &summaries), 17);
    }
}
