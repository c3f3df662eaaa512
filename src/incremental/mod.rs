//! `run --incremental`: fold only the events after the previous output's
//! watermark, onto its snapshot, and write a new complete output.
//!
//! The previous output is the snapshot: `streams.parquet` (every stream's
//! version, event count, times and whether it was created) and the state tables
//! (status and fields). [`Previous::load`] reads its manifest and refuses what
//! cannot give the same rows as a full run: another model, a partial output, an
//! input folded before. After ingest, [`Previous::seeds`] loads the snapshot of
//! the streams the new events touch (from the row groups that hold them, no
//! join), so replay folds only the new events; [`Previous::check_new_events`]
//! refuses new events at or before the watermark, or below their stream's
//! snapshot version (a full run would sort them among the old events).
//! [`Previous::merge`] then writes each table as the previous rows (minus the
//! touched streams' old state) together with the new, in full-run order,
//! rewriting only the row groups the new rows fall into. The keyed folds
//! start from the previous `projections/` tables whole
//! ([`Previous::keyed_folds`]) and are written complete by the replay.
//!
//! The previous output may be partitioned (`events/part-*.parquet`, as
//! `run --cluster` writes it): its tables are read part by part, and each
//! table the night merges into is first written whole, in its order, from
//! its parts (a sort of the session's, under the run's memory limit), so
//! the night's output is a local one, as a full local run writes it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use crate::envelope::{events_schema, rejects_schema};
use crate::ingest::{IngestSummary, InputSource, InputSummary};
use crate::model::{Model, StateValue};
use crate::replay::keyed::KeyedFolds;
use crate::replay::{Finding, Rule, Seeds, StreamState};
use crate::sink::dataset::{self, TableReader};
use crate::sink::manifest::{Counts, Manifest, FORMAT_VERSION};
use crate::sink::projection::{projection_path, projection_schema, read_projection};
use crate::sink::snapshot::read_snapshot;
use crate::sink::splice::{merge_sorted, Merged, SortedMerge};
use crate::sink::state::{read_state, state_schema};
use crate::sink::{
    findings_schema, streams_schema, transitions_schema, zstd, OutputDir, TableWriter,
    ROW_GROUP_ROWS,
};
use crate::sql::{parquet_schema, register_file, STREAM_ORDER};
use crate::support::digest::PendingHash;
use crate::{Error, Result};

/// Where an incremental run writes what it folds, inside the output folder
/// under construction, before the merge.
pub const INCREMENT: &str = "_increment";

/// A previous full output to go on from.
#[derive(Debug)]
pub struct Previous {
    dir: PathBuf,
    manifest: Manifest,
    with_history: bool,
}

fn refuse(out: &Path, why: impl std::fmt::Display) -> Error {
    Error::usage(format!(
        "cannot run incrementally on {}: {why}\n  hint: run without --incremental for a full rebuild",
        out.display()
    ))
}

impl Previous {
    /// Reads the previous output at `out`; `None` when there is none (the
    /// first run of a nightly job is a full run). Refuses an output of another
    /// model, a partial output, one from an older eventfold without a snapshot,
    /// and a history setting other than the previous run's.
    pub fn load(
        out: &Path,
        model_sha256: &str,
        mapping_sha256: &str,
        with_history: bool,
    ) -> Result<Option<Self>> {
        let manifest = match Manifest::read(out) {
            Ok(Some(manifest)) => manifest,
            Ok(None) => return Ok(None),
            Err(Error::Usage { message }) => return Err(refuse(out, message)),
            Err(e) => return Err(e),
        };
        if let Some(version) = manifest.format_version.filter(|v| *v != FORMAT_VERSION) {
            return Err(refuse(
                out,
                format!(
                    "it was written in output format {version}, and this eventfold writes format {FORMAT_VERSION}"
                ),
            ));
        }
        if manifest.model.sha256 != model_sha256 {
            return Err(refuse(
                out,
                format!(
                    "the model changed since that output was written (model sha256 {} there, {model_sha256} now); its states were folded by the old model",
                    manifest.model.sha256
                ),
            ));
        }
        if manifest
            .mapping_sha256
            .as_ref()
            .is_some_and(|old| old != mapping_sha256)
        {
            return Err(refuse(
                out,
                "the mapping (preset, mapping file, --map, time options) changed since that output was written; its events were mapped the old way",
            ));
        }
        if !manifest.is_whole_log() {
            return Err(refuse(
                out,
                "it was written by a partial or as-of run, so it is not a snapshot of the whole log",
            ));
        }
        if manifest.watermark.read_positions.is_none() || dataset::locate(out, "streams").is_none()
        {
            return Err(refuse(
                out,
                "it was written by an older eventfold and holds no snapshot (streams.parquet)",
            ));
        }
        let had_history = out.join("state_history").is_dir();
        if had_history != with_history {
            return Err(refuse(
                out,
                if had_history {
                    "it has state_history; pass --with-history to keep it complete"
                } else {
                    "it has no state_history, so --with-history cannot be complete"
                },
            ));
        }
        Ok(Some(Self {
            dir: out.to_owned(),
            manifest,
            with_history,
        }))
    }

    /// The previous table `name` (`events`, `state/task`): its file, or its
    /// folder of parts in a partitioned output (`run --cluster`).
    fn table(&self, name: &str) -> PathBuf {
        dataset::locate(&self.dir, name).unwrap_or_else(|| self.dir.join(format!("{name}.parquet")))
    }

    /// Read-order positions of this run start after the previous run's.
    pub fn position_base(&self) -> u64 {
        self.manifest.watermark.read_positions.unwrap_or_default()
    }

    /// The previous output's watermark: its highest position.
    pub fn watermark(&self) -> Option<u64> {
        self.manifest.watermark.position
    }

    /// Splits `inputs` into those to fold and those already folded into the
    /// previous output (same SHA-256 as one of its inputs: folding one again
    /// would duplicate its events), named with the input they repeat. So a
    /// nightly job can list every export (`exports/*.ndjson.gz`) and fold the new.
    pub fn new_inputs(&self, inputs: &[InputSource]) -> Result<(Vec<InputSource>, Vec<String>)> {
        let mut new = Vec::new();
        let mut skipped = Vec::new();
        for input in inputs {
            // Only an input of the size of one already folded can be it: others
            // are not read twice (once here to hash, once by ingest).
            let size = input.stored_len()?;
            let candidates: Vec<&InputSummary> = (self.manifest.inputs.iter())
                .filter(|old| old.bytes == size)
                .collect();
            let folded = if candidates.is_empty() {
                None
            } else {
                let sha256 = input.sha256()?;
                candidates.into_iter().find(|old| old.sha256 == sha256)
            };
            match folded {
                Some(old) if old.name == input.name() => skipped.push(old.name.clone()),
                Some(old) => {
                    skipped.push(format!("{} (the same bytes as {})", input.name(), old.name))
                }
                None => new.push(input.clone()),
            }
        }
        Ok((new, skipped))
    }

    /// Refuses previous tables whose columns are not eventfold's, and
    /// registers those SQL reads (`prev_events`, `prev_findings`); the others
    /// are read by their row groups ([`Self::seeds`], [`Self::merge`]).
    pub async fn register(&self, ctx: &SessionContext) -> Result<()> {
        for (name, schema, queried) in [
            ("events", events_schema(), true),
            ("streams", streams_schema(), false),
            ("transitions", transitions_schema(), false),
            ("findings", findings_schema(), true),
        ] {
            let path = self.table(name);
            self.check_schema(&path, &schema)?;
            if queried {
                register_file(ctx, &format!("prev_{name}"), &path).await?;
            }
        }
        Ok(())
    }

    /// Refuses a previous table whose columns are not the ones eventfold
    /// writes (a file replaced or damaged by hand), before anything reads it.
    fn check_schema(&self, path: &Path, expected: &SchemaRef) -> Result<()> {
        for part in dataset::parts(path)? {
            self.check_part_schema(&part, expected)?;
        }
        Ok(())
    }

    /// [`Self::check_schema`] of one file.
    fn check_part_schema(&self, path: &Path, expected: &SchemaRef) -> Result<()> {
        let found = parquet_schema(path).map_err(|e| match e {
            Error::Io { .. } => e,
            damaged => refuse(&self.dir, format!("{}: {damaged}", path.display())),
        })?;
        let columns = |schema: &SchemaRef| -> Vec<(String, arrow::datatypes::DataType)> {
            schema
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect()
        };
        if columns(&found) != columns(expected) {
            return Err(refuse(
                &self.dir,
                format!(
                    "{} does not have the columns eventfold writes there (written by another version of eventfold, or changed by hand)",
                    path.display()
                ),
            ));
        }
        Ok(())
    }

    /// Refuses new events (the view `selected`) at or before the watermark,
    /// or below the version their stream reached in the snapshot (`seeds`,
    /// the snapshot of the streams they touch).
    pub async fn check_new_events(&self, ctx: &SessionContext, seeds: &Seeds) -> Result<()> {
        if let Some(watermark) = self.watermark() {
            let early = collect(
                ctx,
                &format!(
                    "SELECT event_id, stream_id, position FROM selected \
                     WHERE position <= {watermark} ORDER BY position LIMIT 1"
                ),
            )
            .await?;
            if let Some(batch) = early.iter().find(|b| b.num_rows() > 0) {
                return Err(refuse(
                    &self.dir,
                    format!(
                        "new event \"{}\" of stream {} is at position {}, at or before the watermark {watermark}: the new events reach back into what was already folded",
                        text(batch, 0, 0),
                        text(batch, 1, 0),
                        batch.column(2).as_primitive::<UInt64Type>().value(0)
                    ),
                ));
            }
        }
        // The first new event (by position) below its stream's snapshot version.
        let mut stream = ctx
            .sql("SELECT event_id, aggregate_type, stream_id, version, position FROM selected")
            .await?
            .execute_stream()
            .await?;
        let mut behind: Option<(u64, String, String, u64, u64)> = None;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let versions = batch.column(3).as_primitive::<UInt64Type>();
            let positions = batch.column(4).as_primitive::<UInt64Type>();
            for row in 0..batch.num_rows() {
                let key = (
                    text(&batch, 1, row).to_owned(),
                    text(&batch, 2, row).to_owned(),
                );
                let Some(state) = seeds.get(&key) else {
                    continue;
                };
                let (version, position) = (versions.value(row), positions.value(row));
                if version < state.version && behind.as_ref().is_none_or(|b| position < b.0) {
                    let id = text(&batch, 0, row).to_owned();
                    behind = Some((position, id, key.1, version, state.version));
                }
            }
        }
        if let Some((_, id, stream, version, snapshot)) = behind {
            return Err(refuse(
                &self.dir,
                format!(
                    "new event \"{id}\" of stream {stream} has version {version}, but the snapshot is at version {snapshot}: a full run would fold it among the old events"
                ),
            ));
        }
        Ok(())
    }

    /// The snapshot of every stream the new events touch, read from the
    /// previous tables' row groups that can hold them (no join: the memory
    /// it takes is the touched streams', whatever the snapshot's size).
    pub async fn seeds(&self, ctx: &SessionContext, model: &Model) -> Result<Seeds> {
        let touched = collect(
            ctx,
            "SELECT DISTINCT aggregate_type, stream_id FROM selected",
        )
        .await?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("aggregate_type", DataType::Utf8, true),
            Field::new("stream_id", DataType::Utf8, true),
        ]));
        let touched = touched
            .iter()
            .map(|batch| RecordBatch::try_new(schema.clone(), batch.columns().to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let touched = arrow::compute::concat_batches(&schema, &touched)?;
        for aggregate in &model.aggregates {
            if let Some(path) = dataset::locate(&self.dir, &format!("state/{}", aggregate.name)) {
                self.check_schema(&path, &state_schema(aggregate))?;
            }
        }
        read_snapshot(&self.dir, model, &touched)
    }

    /// The declared fields of every stream of `aggregates` (the types an
    /// authorisation rule reads through a reference, `@project_id.owner`),
    /// by (aggregate_type, stream_id): what a new event's related stream
    /// held before the night's events. Those tables are read whole (the
    /// rule may name any of their streams), so their size bounds the memory.
    pub fn related_states(
        &self,
        model: &Model,
        aggregates: &HashSet<&str>,
    ) -> Result<HashMap<(String, String), Vec<StateValue>>> {
        let mut states = HashMap::new();
        let related = model.aggregates.iter();
        for aggregate in related.filter(|a| aggregates.contains(a.name.as_str())) {
            let Some(path) = dataset::locate(&self.dir, &format!("state/{}", aggregate.name))
            else {
                continue;
            };
            self.check_schema(&path, &state_schema(aggregate))?;
            for batch in TableReader::open(&path, None)? {
                let batch = batch?;
                for row in 0..batch.num_rows() {
                    let stream_id = text(&batch, 0, row);
                    let mut state = StreamState::new(stream_id, &aggregate.name, Some(aggregate));
                    read_state(&batch, row, &mut state);
                    states.insert((aggregate.name.clone(), state.stream_id), state.fields);
                }
            }
        }
        Ok(states)
    }

    /// The model's keyed folds, starting from the previous output's rows
    /// (all of them: every new event comes after every old one, so every
    /// new write wins over them). Refuses a table that is missing or has
    /// other columns than the model declares.
    pub fn keyed_folds<'m>(&self, model: &'m Model) -> Result<KeyedFolds<'m>> {
        let mut folds = KeyedFolds::new(&model.projections);
        for projection in &model.projections {
            let path = projection_path(&self.dir, &projection.name);
            if !path.is_file() {
                return Err(refuse(
                    &self.dir,
                    format!(
                        "it has no {} for the keyed fold \"{}\"",
                        path.display(),
                        projection.name
                    ),
                ));
            }
            self.check_schema(&path, &projection_schema(projection))?;
            if let Some(table) = folds.table_mut(&projection.name) {
                read_projection(&path, table)?;
            }
        }
        Ok(folds)
    }

    /// The previous findings. Those of new events are added to them; a
    /// finding of an old event never changes (a new event comes after it).
    pub async fn findings(&self, ctx: &SessionContext) -> Result<Vec<Finding>> {
        let batches = collect(
            ctx,
            "SELECT aggregate_type, stream_id, version, event_id, position, rule, message \
             FROM prev_findings",
        )
        .await?;
        let mut findings = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                let rule = text(batch, 5, row);
                let rule = Rule::from_name(rule).ok_or_else(|| {
                    refuse(
                        &self.dir,
                        format!("findings.parquet names an unknown rule \"{rule}\""),
                    )
                })?;
                findings.push(Finding {
                    aggregate_type: text(batch, 0, row).to_owned(),
                    stream_id: text(batch, 1, row).to_owned(),
                    version: batch.column(2).as_primitive::<UInt64Type>().value(row),
                    event_id: text(batch, 3, row).to_owned(),
                    position: batch.column(4).as_primitive::<UInt64Type>().value(row),
                    rule,
                    message: text(batch, 6, row).to_owned(),
                });
            }
        }
        Ok(findings)
    }

    /// Adds the previous run's inputs and input counts to this run's, so the
    /// manifest counts the whole log; returns the previous output's counts,
    /// for the rows of the tables it merges.
    pub fn add_counts(&self, ingest: &mut IngestSummary) -> &Counts {
        let counts = &self.manifest.counts;
        let mut inputs = self.manifest.inputs.clone();
        inputs.append(&mut ingest.inputs);
        ingest.inputs = inputs;
        ingest.records += counts.input_records;
        ingest.events += counts.input_events();
        ingest.rejects += counts.rejects;
        ingest.max_position = ingest.max_position.max(self.watermark());
        counts
    }

    /// Writes every table of the new output from the previous rows and the
    /// increment's.
    pub async fn merge(
        &self,
        ctx: &SessionContext,
        model: &Model,
        dir: &OutputDir,
    ) -> Result<MergedTables> {
        let new = dir.path(INCREMENT);
        let job = |file: &str, keyed: bool, order: &'static [&'static str], schema| MergeJob {
            file: file.to_owned(),
            old: self.dir.join(file),
            new: new.join(file),
            keyed,
            order,
            schema,
            out: dir.path(file),
        };
        // (table kind, aggregate) per job, to file the row counts.
        let mut jobs = vec![
            (
                None,
                job("events.parquet", false, &STREAM_ORDER, events_schema()),
            ),
            (
                None,
                job(
                    "transitions.parquet",
                    false,
                    &STREAM_ORDER,
                    transitions_schema(),
                ),
            ),
            (
                None,
                job(
                    "streams.parquet",
                    true,
                    &["aggregate_type", "stream_id"],
                    streams_schema(),
                ),
            ),
        ];
        for aggregate in &model.aggregates {
            let file = format!("state/{}.parquet", aggregate.name);
            let state = job(&file, true, &["stream_id"], state_schema(aggregate));
            jobs.push((Some(("state", aggregate.name.clone())), state));
            if self.with_history {
                // Rows of one stream in fold order: its event count rises by one per event.
                let file = format!("state_history/{}.parquet", aggregate.name);
                let order = &["stream_id", "event_count"];
                let history = job(&file, false, order, state_schema(aggregate));
                jobs.push((Some(("history", aggregate.name.clone())), history));
            }
        }
        // A partitioned output's table is first written whole, in order.
        for (index, (_, job)) in jobs.iter_mut().enumerate() {
            let folder = job.old.with_extension("");
            if !job.old.is_file() && folder.is_dir() {
                let whole = new.join("_previous").join(&job.file);
                compact(
                    ctx,
                    &format!("prev_whole_{index}"),
                    &folder,
                    job.order,
                    &whole,
                )
                .await?;
                job.old = whole;
            }
        }
        // Every table merges at once, each on a thread of its own.
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|(table, job)| {
                let file = job.file.clone();
                (
                    table,
                    tokio::task::spawn_blocking(move || job.run().map(|done| (file, done))),
                )
            })
            .collect();
        let mut states = BTreeMap::new();
        let mut history = BTreeMap::new();
        let mut hashes = BTreeMap::new();
        for (table, handle) in handles {
            let (file, (merged, hash)) = handle
                .await
                // A merge task that panicked (or was cancelled) is our bug.
                .map_err(|e| Error::internal(&self.dir, format!("a table merge failed: {e}")))??;
            tracing::debug!(
                rows = merged.rows,
                copied_groups = merged.copied_groups,
                merged_groups = merged.merged_groups,
                "table merged"
            );
            hashes.insert(file, hash);
            let rows = merged.rows;
            match table {
                Some(("state", aggregate)) => states.insert(aggregate, rows),
                Some((_, aggregate)) => history.insert(aggregate, rows),
                None => None,
            };
        }
        // Rejects in read order: the previous run's, then this run's.
        let mut rejects =
            TableWriter::create(&dir.path("rejects.parquet"), rejects_schema(), zstd())?;
        // A partitioned output's parts are in read order too (one per split).
        let parts = dataset::parts(&self.table("rejects"))?;
        for path in parts.iter().chain([&new.join("rejects.parquet")]) {
            copy_rows(path, &mut rejects)?;
        }
        rejects.close()?;
        Ok(MergedTables {
            states,
            history,
            hashes,
        })
    }
}

/// What [`Previous::merge`] wrote.
pub struct MergedTables {
    /// Rows per state table and per state history table.
    pub states: BTreeMap<String, u64>,
    pub history: BTreeMap<String, u64>,
    /// The SHA-256 of each merged table (by its path in the output folder),
    /// computed as it was written.
    pub hashes: BTreeMap<String, PendingHash>,
}

/// Streams per aggregate type, counted in the merged `streams.parquet`.
pub async fn stream_counts(ctx: &SessionContext, path: &Path) -> Result<BTreeMap<String, u64>> {
    register_file(ctx, "merged_streams", path).await?;
    let batches = collect(
        ctx,
        "SELECT aggregate_type, CAST(count(*) AS BIGINT UNSIGNED) FROM merged_streams GROUP BY aggregate_type",
    )
    .await?;
    let mut counts = BTreeMap::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            counts.insert(
                text(batch, 0, row).to_owned(),
                batch.column(1).as_primitive::<UInt64Type>().value(row),
            );
        }
    }
    Ok(counts)
}

/// One table of the new output: the previous rows and the increment's.
struct MergeJob {
    /// The table's path in an output folder.
    file: String,
    old: PathBuf,
    new: PathBuf,
    /// Whether `order` is a key: then the rows of `old` whose key is in `new`
    /// are left out (`new` replaces them).
    keyed: bool,
    /// The order of both files and of the result.
    order: &'static [&'static str],
    schema: SchemaRef,
    out: PathBuf,
}

impl MergeJob {
    /// Writes `old` and `new` as one table in `order`, copying the previous
    /// row groups no new row falls into ([`merge_sorted`]).
    fn run(self) -> Result<(Merged, PendingHash)> {
        merge_sorted(&SortedMerge {
            old: &self.old,
            new: self.new.is_file().then_some(self.new.as_path()),
            out: &self.out,
            schema: self.schema,
            order: self.order,
            keyed: self.keyed,
            group_rows: ROW_GROUP_ROWS,
        })
    }
}

/// Writes the parts of the table in `folder` (a partitioned output's: each
/// part in `order`, the parts side by side) as one file in `order` at `out`,
/// as a full local run writes it: what [`merge_sorted`] reads. The sort is
/// the session's, so it spills under the run's memory limit.
async fn compact(
    ctx: &SessionContext,
    name: &str,
    folder: &Path,
    order: &[&str],
    out: &Path,
) -> Result<()> {
    register_file(ctx, name, folder).await?;
    let order: Vec<String> = order.iter().map(|column| format!("\"{column}\"")).collect();
    let sql = format!("SELECT * FROM {name} ORDER BY {}", order.join(", "));
    let frame = ctx.sql(&sql).await?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let mut stream = frame.execute_stream().await?;
    let mut writer = TableWriter::create(out, schema, zstd())?;
    while let Some(batch) = stream.next().await {
        writer.write(&batch?)?;
    }
    writer.close()?;
    ctx.deregister_table(name)?;
    Ok(())
}

/// Appends every row of the Parquet file at `path` to `writer`, in order.
fn copy_rows(path: &Path, writer: &mut TableWriter) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    for batch in reader {
        writer.write(&batch?)?;
    }
    Ok(())
}

async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// The string in column `column`, row `row` (empty when null).
fn text(batch: &RecordBatch, column: usize, row: usize) -> &str {
    let array = batch.column(column).as_string::<i32>();
    if array.is_valid(row) {
        array.value(row)
    } else {
        ""
    }
}
