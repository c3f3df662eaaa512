//! The staging of ingest's events until the replay reads them in stream order.
//!
//! A full run stages them as sorted runs ([`super::runs`]): sorted while
//! ingest parses, merged for the replay, each row written and read once. A
//! run that selects part of the log (`--aggregate`, `--as-of`, ...) or goes on
//! from a previous output (`--incremental`) stages them as one uncompressed
//! Parquet file instead, which DataFusion filters, sorts and joins: the
//! incremental checks join the new events with the previous output, and
//! DataFusion picks a join's build side by row counts, which Parquet carries.
//! Those runs' events are few or filtered; their sort is DataFusion's.

use std::sync::Arc;

use arrow::array::RecordBatch;
use parquet::basic::Compression;

use super::runs::SortedRuns;
use crate::envelope::{events_schema, rejects_batch, rejects_schema, Reject};
use crate::ingest::IngestSink;
use crate::sink::{zstd, BackgroundTableWriter, OutputDir, TableWriter};
use crate::support::progress::{Observer, Stage};
use crate::Result;

/// The folder of the staging files inside the output folder under construction.
pub const STAGING: &str = "_staging";

/// How the events are staged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StagingFormat {
    /// Sorted runs within a memory limit (bytes): a full run.
    SortedRuns(usize),
    /// One uncompressed Parquet file: a partial or incremental run.
    Parquet,
}

/// The staged Parquet file's name in the staging folder.
pub const STAGED_PARQUET: &str = "staged.parquet";

pub use super::runs::RUN_BATCH_ROWS;

/// Ingest's sink: events to the staging files (written on a thread of their
/// own, while the next chunks are parsed), rejects straight to
/// `rejects.parquet` (in input order), so neither is held in memory.
/// Ingest's progress goes to `observer`, as [`Stage::Ingest`].
pub struct StagingSink {
    pub events: BackgroundTableWriter,
    pub rejects: TableWriter,
    pub observer: Arc<dyn Observer>,
}

impl StagingSink {
    /// Opens the staging (in `dir`'s [`STAGING`] folder) and `rejects.parquet`.
    pub fn create(
        dir: &OutputDir,
        format: StagingFormat,
        observer: Arc<dyn Observer>,
    ) -> Result<Self> {
        let folder = dir.path(STAGING);
        let events = match format {
            StagingFormat::SortedRuns(memory_limit) => {
                BackgroundTableWriter::spawn(SortedRuns::create(&folder, memory_limit)?)?
            }
            StagingFormat::Parquet => BackgroundTableWriter::spawn(TableWriter::create(
                &folder.join(STAGED_PARQUET),
                events_schema(),
                Compression::UNCOMPRESSED,
            )?)?,
        };
        Ok(Self {
            events,
            rejects: TableWriter::create(&dir.path("rejects.parquet"), rejects_schema(), zstd())?,
            observer,
        })
    }

    /// Closes the staging and the rejects; returns the milliseconds the
    /// staging thread spent (sorting and writing runs, or encoding Parquet).
    pub fn close(self) -> Result<u64> {
        self.observer.stage_finished(Stage::Ingest);
        let (_, busy) = self.events.close()?;
        self.rejects.close()?;
        Ok(busy)
    }
}

impl IngestSink for StagingSink {
    fn events(&mut self, batch: RecordBatch) -> Result<()> {
        self.events.write(batch)
    }

    fn rejects(&mut self, rejects: Vec<Reject>) -> Result<()> {
        self.rejects.write(&rejects_batch(&rejects)?)
    }

    fn progress(&mut self, bytes: u64) {
        self.observer.progressed(Stage::Ingest, bytes);
    }
}
