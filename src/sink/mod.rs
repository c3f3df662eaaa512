//! Sink: everything eventfold writes, as Parquet, into an output folder that
//! appears only when complete.
//!
//! An [`OutputDir`] is a hidden temporary folder beside the target; `commit`
//! swaps it into place with renames, so a run that dies leaves the previous output
//! intact. Tables are written with [`TableWriter`]: zstd, bounded row groups, and
//! rows buffered in Arrow builders that are flushed every [`FLUSH_ROWS`] rows, so
//! writing never holds a whole table in memory.

pub mod columns;
pub mod dataset;
pub mod manifest;
pub mod projection;
pub mod snapshot;
pub mod splice;
pub mod state;

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use self::columns::{ColumnDef, Columns, Kind, Table};
use crate::model::AggregateModel;
use crate::replay::{EventRef, Finding, ReplaySink, StreamState, Transition};
use crate::support::digest::{HashedWriter, PendingHash};
use crate::support::metrics::Stopwatch;
use crate::{Error, Result};

/// Rows buffered before a batch is handed to the Parquet writer.
pub const FLUSH_ROWS: usize = 64 * 1024;

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Columns whose values are (nearly) all distinct: a dictionary would only
/// cost time and fall back to plain encoding once it grew too large.
const DISTINCT_COLUMNS: [&str; 9] = [
    "position",
    "event_id",
    "occurred_at",
    "correlation_id",
    "causation_id",
    "payload",
    "metadata",
    "source",
    "raw",
];

/// Columns holding whole documents: JSON bodies and raw rejected text.
const DOCUMENT_COLUMNS: [&str; 3] = ["payload", "metadata", "raw"];

/// Writer settings shared by every output table. Uncompressed files are
/// scratch space (a partial or incremental run's staging file), read once: no
/// dictionaries and no statistics.
pub fn writer_properties(compression: Compression) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("eventfold {}", env!("CARGO_PKG_VERSION")));
    if compression == Compression::UNCOMPRESSED {
        builder = builder
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None);
    }
    for column in DISTINCT_COLUMNS {
        builder = builder.set_column_dictionary_enabled(column.into(), false);
    }
    // Their min and max prune nothing a query asks and cost a comparison of
    // every value's whole text.
    for column in DOCUMENT_COLUMNS {
        builder = builder.set_column_statistics_enabled(column.into(), EnabledStatistics::None);
    }
    builder.build()
}

/// The compression of every output table.
pub fn zstd() -> Compression {
    Compression::ZSTD(ZstdLevel::default())
}

/// Bytes an output file gathers before they go to the kernel. Parquet's own
/// buffer is 8 KiB, and a page's header and body are written apart: every
/// write the kernel takes in unaligned pieces costs it a partial page zeroed
/// and copied. Measured on the nightly merge at 10M events (BENCHMARKS.md).
const WRITE_BUFFER: usize = 1 << 20;

/// An output file as the table writers write it.
pub type OutputFile = HashedWriter<BufWriter<File>>;

/// One Parquet file being written.
pub struct TableWriter {
    path: PathBuf,
    writer: ArrowWriter<OutputFile>,
    rows: u64,
}

/// A file that takes record batches: a Parquet table or the sorted runs.
/// What a [`BackgroundTableWriter`] moves to its thread.
pub trait BatchFile: Send + 'static {
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;
    /// Finishes the file and returns its row count.
    fn close(self) -> Result<u64>;
    /// [`BatchFile::close`], and the milliseconds threads of the file's own
    /// spent beside the caller's (none unless the file has any).
    fn close_timed(self) -> Result<(u64, u64)>
    where
        Self: Sized,
    {
        Ok((self.close()?, 0))
    }
    /// The path named in messages.
    fn path(&self) -> &Path;
}

impl BatchFile for TableWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        TableWriter::write(self, batch)
    }

    fn close(self) -> Result<u64> {
        TableWriter::close(self)
    }

    fn path(&self) -> &Path {
        TableWriter::path(self)
    }
}

impl TableWriter {
    pub fn create(path: &Path, schema: SchemaRef, compression: Compression) -> Result<Self> {
        let file = HashedWriter::plain(Self::file(path)?);
        Self::with_file(path, file, schema, compression)
    }

    /// [`TableWriter::create`], and the file's SHA-256 computed as it is
    /// written (ready once the writer is closed or dropped).
    pub fn create_hashed(
        path: &Path,
        schema: SchemaRef,
        compression: Compression,
    ) -> Result<(Self, PendingHash)> {
        let (file, hash) =
            HashedWriter::hashed(Self::file(path)?).map_err(|e| Error::io(path, e))?;
        Ok((Self::with_file(path, file, schema, compression)?, hash))
    }

    pub(crate) fn file(path: &Path) -> Result<BufWriter<File>> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(BufWriter::with_capacity(WRITE_BUFFER, file))
    }

    fn with_file(
        path: &Path,
        file: OutputFile,
        schema: SchemaRef,
        compression: Compression,
    ) -> Result<Self> {
        let writer = ArrowWriter::try_new(file, schema, Some(writer_properties(compression)))?;
        Ok(Self {
            path: path.to_owned(),
            writer,
            rows: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        Ok(self.writer.write(batch)?)
    }

    /// Finishes the file and returns its row count.
    pub fn close(self) -> Result<u64> {
        self.writer.close()?;
        Ok(self.rows)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A [`BatchFile`] on a thread of its own, so encoding and compressing a table
/// runs on another core while the caller produces the next batch. Batches are
/// handed over a channel of [`BACKGROUND_BATCHES`] slots, which bounds the memory
/// in flight; the rows and bytes written are the same as with a [`TableWriter`].
pub struct BackgroundTableWriter {
    path: PathBuf,
    sender: Option<std::sync::mpsc::SyncSender<RecordBatch>>,
    worker: Option<std::thread::JoinHandle<Result<(u64, u64)>>>,
}

/// Batches waiting for a [`BackgroundTableWriter`]'s thread. Eight of the
/// run's 2,048 rows hold as much as two of 8,192 did; with two, the replay
/// waited 4.8–6.6 s for events.parquet's thread at 10M events, with eight
/// 2.5–3.2 s (whole run 45.4/51.9 s against 43.7/44.1 s, same files and peak).
/// The other tables' batches are larger (up to [`FLUSH_ROWS`] rows) and rarer.
pub const BACKGROUND_BATCHES: usize = 8;

impl BackgroundTableWriter {
    /// Moves `writer` to a new thread.
    pub fn spawn(writer: impl BatchFile) -> Result<Self> {
        let path = writer.path().to_owned();
        let (sender, receiver) = std::sync::mpsc::sync_channel::<RecordBatch>(BACKGROUND_BATCHES);
        let worker = std::thread::Builder::new()
            .name("eventfold-writer".into())
            .spawn(move || {
                let mut writer = writer;
                let mut busy = crate::support::metrics::Stopwatch::default();
                for batch in receiver {
                    busy.time(|| writer.write(&batch))?;
                }
                let (rows, helpers) = busy.time(|| writer.close_timed())?;
                Ok((rows, busy.millis() + helpers))
            })
            .map_err(|e| Error::io(&path, e))?;
        Ok(Self {
            path,
            sender: Some(sender),
            worker: Some(worker),
        })
    }

    /// Queues `batch`, waiting while the channel is full. A write that failed
    /// on the thread is reported here, at the latest by [`Self::close`].
    pub fn write(&mut self, batch: RecordBatch) -> Result<()> {
        let sent = match &self.sender {
            Some(sender) => sender.send(batch).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            // The thread stopped early: it has the error to report.
            self.join().and_then(|_| {
                // It ended without an error to give: ours, not the disk's.
                Err(Error::internal(
                    &self.path,
                    "the writer thread stopped without an error",
                ))
            })
        }
    }

    fn join(&mut self) -> Result<(u64, u64)> {
        self.sender = None;
        match self.worker.take() {
            Some(worker) => crate::error::joined(worker, &self.path, "writer"),
            None => Ok((0, 0)),
        }
    }

    /// Waits for every queued batch to be written, finishes the file and
    /// returns its row count and the milliseconds the thread spent writing.
    pub fn close(mut self) -> Result<(u64, u64)> {
        self.join()
    }
}

impl Drop for BackgroundTableWriter {
    fn drop(&mut self) {
        // Closing the channel ends the thread; an abandoned file is removed
        // with its temporary folder.
        self.sender = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// Writes `batches` as one Parquet file.
pub fn write_table(path: &Path, schema: SchemaRef, batches: &[RecordBatch]) -> Result<u64> {
    let mut writer = TableWriter::create(path, schema, zstd())?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()
}

/// A run's output folder under construction.
///
/// While it lives it holds an exclusive lock on `.NAME.lock` beside the output
/// (an OS file lock, so a killed run releases it with its process), and the
/// lock's holder cleans up what a killed run left: its temporary folder, and a
/// previous output caught between the two renames of a commit, put back.
pub struct OutputDir {
    target: PathBuf,
    temp: PathBuf,
    _lock: std::fs::File,
}

/// Takes the lock of the output `name` in `parent`, or says who holds it.
fn lock(parent: &Path, name: &str, target: &Path) -> Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let path = parent.join(format!(".{name}.lock"));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(Error::usage(format!(
                "{} is being written by another run ({}); lock file {}",
                target.display(),
                holder.trim(),
                path.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
    }
    let holder = format!(
        "pid {}, started {}",
        std::process::id(),
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(holder.as_bytes()))
        .map_err(|e| Error::io(&path, e))?;
    Ok(file)
}

/// Under the lock: puts back an output a killed commit left aside, and removes
/// the temporary folders of killed runs.
fn recover(parent: &Path, name: &str, target: &Path) -> Result<()> {
    let prefix = format!(".{name}.tmp-");
    let entries = std::fs::read_dir(parent).map_err(|e| Error::io(parent, e))?;
    let mut leftovers: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .collect();
    leftovers.sort();
    for path in leftovers {
        if path.extension().is_some_and(|e| e == "old") && !target.exists() {
            std::fs::rename(&path, target).map_err(|e| Error::io(&path, e))?;
        } else {
            std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

impl OutputDir {
    /// Creates the temporary folder beside `target`. Refuses a `target` that
    /// exists, is not empty and holds no `manifest.json`: it is not ours to replace.
    pub fn create(target: &Path) -> Result<Self> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        let lock = lock(&parent, &name, target)?;
        recover(&parent, &name, target)?;
        if target.exists() {
            let is_output = target.join("manifest.json").is_file();
            let empty = std::fs::read_dir(target)
                .map_err(|e| Error::io(target, e))?
                .next()
                .is_none();
            if !is_output && !empty {
                return Err(Error::usage(format!(
                    "refusing to replace {}: it is not empty and has no manifest.json, so it is not an eventfold output\n  hint: choose another folder with --out",
                    target.display()
                )));
            }
        }
        let temp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        std::fs::create_dir_all(&temp).map_err(|e| Error::io(&temp, e))?;
        Ok(Self {
            target: target.to_owned(),
            temp,
            _lock: lock,
        })
    }

    /// Path of `relative` inside the folder being built.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.temp.join(relative)
    }

    /// The folder where the output will be once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Moves the finished folder into place, replacing a previous output.
    pub fn commit(self) -> Result<PathBuf> {
        let old = self.temp.with_extension("old");
        if self.target.exists() {
            std::fs::rename(&self.target, &old).map_err(|e| Error::io(&self.target, e))?;
        }
        std::fs::rename(&self.temp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        Ok(self.target.clone())
    }

    /// Removes the temporary folder after a failure.
    pub fn abandon(self) {
        let _ = std::fs::remove_dir_all(&self.temp);
    }
}

/// The columns of `transitions.parquet`: a row per event.
static TRANSITIONS: Table = Table::new(&[
    ColumnDef::new("aggregate_type", Kind::Text),
    ColumnDef::new("stream_id", Kind::Text),
    ColumnDef::new("version", Kind::UInt64),
    ColumnDef::new("position", Kind::UInt64),
    ColumnDef::new("event_id", Kind::Text),
    ColumnDef::new("event_type", Kind::Text),
    ColumnDef::nullable("previous_event_type", Kind::Text),
    ColumnDef::nullable("from_status", Kind::Text),
    ColumnDef::nullable("to_status", Kind::Text),
    ColumnDef::new("occurred_at", Kind::Timestamp),
    ColumnDef::nullable("seconds_since_previous", Kind::Float64),
]);

/// The schema of `transitions.parquet`.
pub fn transitions_schema() -> SchemaRef {
    TRANSITIONS.schema()
}

/// Buffers transitions and writes them in batches, encoded on a thread of
/// their own (one row per event: after events.parquet, the largest table).
struct TransitionsTable {
    writer: BackgroundTableWriter,
    columns: Columns,
}

impl TransitionsTable {
    fn create(path: &Path) -> Result<Self> {
        let columns = TRANSITIONS.columns();
        let file = TableWriter::create(path, columns.schema().clone(), zstd())?;
        Ok(Self {
            writer: BackgroundTableWriter::spawn(file)?,
            columns,
        })
    }

    /// Buffers one row; returns whether the buffer is full and must be flushed.
    fn append(&mut self, event: &EventRef, transition: Transition) -> bool {
        let mut row = self.columns.row();
        row.text("aggregate_type", event.aggregate_type);
        row.text("stream_id", event.stream_id);
        row.uint64("version", transition.version);
        row.uint64("position", event.position);
        row.text("event_id", event.event_id);
        row.text("event_type", event.event_type);
        row.text_or_null(
            "previous_event_type",
            transition.previous_event_type.as_deref(),
        );
        row.text_or_null("from_status", transition.from_status.as_deref());
        row.text_or_null("to_status", transition.to_status.as_deref());
        row.timestamp("occurred_at", transition.occurred_at);
        row.float64_or_null("seconds_since_previous", transition.seconds_since_previous);
        drop(row);
        self.columns.len() >= FLUSH_ROWS
    }

    fn flush(&mut self) -> Result<()> {
        match self.columns.take()? {
            Some(batch) => self.writer.write(batch),
            None => Ok(()),
        }
    }
}

/// The columns of `streams.parquet`.
static STREAMS: Table = Table::new(&[
    ColumnDef::new("aggregate_type", Kind::Text),
    ColumnDef::new("stream_id", Kind::Text),
    ColumnDef::new("declared", Kind::Bool),
    ColumnDef::new("created", Kind::Bool),
    ColumnDef::new("version", Kind::UInt64),
    ColumnDef::new("event_count", Kind::UInt64),
    ColumnDef::new("created_at", Kind::Timestamp),
    ColumnDef::new("updated_at", Kind::Timestamp),
    ColumnDef::new("last_event_type", Kind::Text),
]);

/// The schema of `streams.parquet`: every stream of the log, its aggregate
/// type declared in the model or not; with the state tables, the snapshot an
/// incremental run starts from.
pub fn streams_schema() -> SchemaRef {
    STREAMS.schema()
}

/// Buffers the rows of `streams.parquet` and writes them in batches.
struct StreamsTable {
    writer: TableWriter,
    columns: Columns,
}

impl StreamsTable {
    fn create(path: &Path) -> Result<Self> {
        let columns = STREAMS.columns();
        Ok(Self {
            writer: TableWriter::create(path, columns.schema().clone(), zstd())?,
            columns,
        })
    }

    /// Buffers one row; returns whether the buffer is full and must be flushed.
    fn append(&mut self, state: &StreamState, declared: bool) -> bool {
        let mut row = self.columns.row();
        row.text("aggregate_type", &state.aggregate_type);
        row.text("stream_id", &state.stream_id);
        row.bool("declared", declared);
        row.bool("created", state.created);
        row.uint64("version", state.version);
        row.uint64("event_count", state.event_count);
        row.timestamp("created_at", state.created_at.unwrap_or_default());
        row.timestamp("updated_at", state.updated_at.unwrap_or_default());
        row.text(
            "last_event_type",
            state.last_event_type.as_deref().unwrap_or_default(),
        );
        drop(row);
        self.columns.len() >= FLUSH_ROWS
    }

    fn flush(&mut self) -> Result<()> {
        match self.columns.take()? {
            Some(batch) => self.writer.write(&batch),
            None => Ok(()),
        }
    }
}

/// Rows written per table: `(aggregate, rows)`.
pub type TableRows = Vec<(String, u64)>;

/// Replay's sink: transitions and one state table per aggregate type.
pub struct OutputSink {
    transitions: TransitionsTable,
    streams: StreamsTable,
    states: Vec<state::StateTable>,
    /// `state_history/<aggregate>.parquet`, when asked for: the state after each event.
    history: Vec<state::StateTable>,
    /// Time spent flushing buffered rows to the Parquet writers.
    flushing: Stopwatch,
}

impl OutputSink {
    /// Opens `transitions.parquet`, `streams.parquet` and
    /// `state/<aggregate>.parquet` for every aggregate of the model inside
    /// `root`, and `state_history/<aggregate>.parquet` too when `with_history`.
    pub fn create(root: &Path, aggregates: &[AggregateModel], with_history: bool) -> Result<Self> {
        let tables = |folder: &str| {
            aggregates
                .iter()
                .map(|model| {
                    state::StateTable::create(
                        &root.join(format!("{folder}/{}.parquet", model.name)),
                        model,
                    )
                })
                .collect::<Result<Vec<_>>>()
        };
        Ok(Self {
            transitions: TransitionsTable::create(&root.join("transitions.parquet"))?,
            streams: StreamsTable::create(&root.join("streams.parquet"))?,
            states: tables("state")?,
            history: if with_history {
                tables("state_history")?
            } else {
                Vec::new()
            },
            flushing: Stopwatch::default(),
        })
    }

    /// Milliseconds spent so far handing buffered rows to the Parquet writers.
    pub fn write_millis(&self) -> u64 {
        self.flushing.millis()
    }

    /// Flushes and closes every table; returns rows per state table and per
    /// state history table.
    pub fn close(mut self) -> Result<(TableRows, TableRows)> {
        self.transitions.flush()?;
        self.transitions.writer.close()?;
        self.streams.flush()?;
        self.streams.writer.close()?;
        let close = |tables: Vec<state::StateTable>| {
            tables
                .into_iter()
                .map(state::StateTable::close)
                .collect::<Result<Vec<_>>>()
        };
        Ok((close(self.states)?, close(self.history)?))
    }
}

impl ReplaySink for OutputSink {
    fn transition(&mut self, event: &EventRef, transition: Transition) -> Result<()> {
        if self.transitions.append(event, transition) {
            self.flushing.time(|| self.transitions.flush())?;
        }
        Ok(())
    }

    fn stream(&mut self, state: &StreamState, declared: bool) -> Result<()> {
        if self.streams.append(state, declared) {
            self.flushing.time(|| self.streams.flush())?;
        }
        Ok(())
    }

    fn state(&mut self, model: &AggregateModel, state: StreamState) -> Result<()> {
        let Some(table) = self.states.iter_mut().find(|t| t.aggregate() == model.name) else {
            return Ok(());
        };
        if table.append(&state) {
            self.flushing.time(|| table.flush())?;
        }
        Ok(())
    }

    fn after_event(&mut self, model: &AggregateModel, state: &StreamState) -> Result<()> {
        let Some(table) = self
            .history
            .iter_mut()
            .find(|t| t.aggregate() == model.name)
        else {
            return Ok(());
        };
        if table.append(state) {
            self.flushing.time(|| table.flush())?;
        }
        Ok(())
    }
}

/// The columns of `findings.parquet`.
static FINDINGS: Table = Table::new(&[
    ColumnDef::new("aggregate_type", Kind::Text),
    ColumnDef::new("stream_id", Kind::Text),
    ColumnDef::new("version", Kind::UInt64),
    ColumnDef::new("event_id", Kind::Text),
    ColumnDef::new("position", Kind::UInt64),
    ColumnDef::new("rule", Kind::Text),
    ColumnDef::new("severity", Kind::Text),
    ColumnDef::new("message", Kind::Text),
]);

/// The schema of `findings.parquet`.
pub fn findings_schema() -> SchemaRef {
    FINDINGS.schema()
}

/// Builds the findings batch.
pub fn findings_batch(findings: &[Finding], model: &crate::model::Model) -> Result<RecordBatch> {
    let mut columns = FINDINGS.columns();
    for finding in findings {
        let mut row = columns.row();
        row.text("aggregate_type", &finding.aggregate_type);
        row.text("stream_id", &finding.stream_id);
        row.uint64("version", finding.version);
        row.text("event_id", &finding.event_id);
        row.uint64("position", finding.position);
        row.text("rule", finding.rule.name());
        row.text("severity", finding.rule.severity_under(model));
        row.text("message", &finding.message);
    }
    columns.finish()
}
