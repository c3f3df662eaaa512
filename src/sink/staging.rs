//! The staging files: ingest's events, in read order, waiting for the sort.
//!
//! They are scratch space, written once and read once by DataFusion's sort,
//! so they are Arrow IPC files rather than Parquet: writing is copying the
//! batches' buffers and reading is mapping them back, with no encoding,
//! decoding or dictionaries on either side (at 1M events the sort phase took
//! 0.80–0.97 s instead of 1.01–1.36 s, BENCHMARKS.md). Batches are dealt round
//! robin over one file per core, so the sort reads them in as many partitions
//! without splitting a file by byte ranges (DataFusion reads a range of an
//! Arrow file whole into memory; a whole file it reads a batch at a time).
//!
//! An incremental run stages as one uncompressed Parquet file instead: its
//! checks join the new events with the previous output, and DataFusion picks
//! a join's build side by row counts, which Parquet carries and Arrow files do
//! not (staged as Arrow, a 10M-event nightly run built its hash table from the
//! previous output's streams and ran out of its pool). Its new events are few.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::ipc::writer::FileWriter;
use parquet::basic::Compression;

use super::{zstd, BackgroundTableWriter, BatchFile, OutputDir, TableWriter};
use crate::envelope::{events_schema, rejects_batch, rejects_schema, Reject};
use crate::ingest::IngestSink;
use crate::{Error, Result};

/// The folder of the staging files inside the output folder under construction.
pub const STAGING: &str = "_staging";

/// How the staging files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StagingFormat {
    /// Arrow IPC files, one a partition: a full run.
    Arrow,
    /// One uncompressed Parquet file: an incremental run.
    Parquet,
}

impl StagingFormat {
    /// The extension of the staging files (what the staged table reads).
    pub fn extension(self) -> &'static str {
        match self {
            StagingFormat::Arrow => ".arrow",
            StagingFormat::Parquet => ".parquet",
        }
    }
}

/// Arrow IPC files taking batches in turn.
pub struct StagingFiles {
    folder: PathBuf,
    files: Vec<FileWriter<BufWriter<File>>>,
    next: usize,
    rows: u64,
}

impl StagingFiles {
    /// Creates `parts` (at least one) empty files in `folder`.
    pub fn create(folder: &Path, parts: usize) -> Result<Self> {
        std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
        let files = (0..parts.max(1))
            .map(|part| {
                let extension = StagingFormat::Arrow.extension();
                let path = folder.join(format!("part-{part}{extension}"));
                let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
                Ok(FileWriter::try_new_buffered(file, &events_schema())?)
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            folder: folder.to_owned(),
            files,
            next: 0,
            rows: 0,
        })
    }
}

/// Rows per batch in the run, from the staging files through the sort and the
/// replay (an ingest chunk's batch holds some 13k rows; `pipeline` sets the
/// run's DataFusion session to the same). The sort reserves twice a batch it
/// takes in and spills its sorted runs in batches of this size, and its merge
/// of spill files reserves about four batches a file, so smaller batches merge
/// more files at a time. Measured at 10M events against DataFusion's 8,192
/// (BENCHMARKS.md): in the sort alone, 13.3 GB written instead of 16 GB and a
/// peak of ~450 MiB instead of ~630, as fast; in the staging files too, a peak
/// of 344–412 MiB instead of 484–494, as fast (1M: 4.1–4.4 s against
/// 4.4–4.8 s). With 1,024 the 1M sort was a third slower.
pub const RUN_BATCH_ROWS: usize = 2048;

impl BatchFile for StagingFiles {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        for offset in (0..batch.num_rows()).step_by(RUN_BATCH_ROWS) {
            let rows = RUN_BATCH_ROWS.min(batch.num_rows() - offset);
            let part = self.next % self.files.len();
            self.next += 1;
            self.files[part].write(&batch.slice(offset, rows))?;
        }
        Ok(())
    }

    fn close(self) -> Result<u64> {
        for mut file in self.files {
            file.finish()?;
        }
        Ok(self.rows)
    }

    fn path(&self) -> &Path {
        &self.folder
    }
}

/// Ingest's sink: events to the staging files (written on a thread of their
/// own, while the next chunks are parsed), rejects straight to
/// `rejects.parquet` (in input order), so neither is held in memory.
pub struct StagingSink {
    pub events: BackgroundTableWriter,
    pub rejects: TableWriter,
    pub progress: Option<indicatif::ProgressBar>,
}

impl StagingSink {
    /// Opens the staging files (`parts` of them as Arrow) and
    /// `rejects.parquet` inside `dir`.
    pub fn create(
        dir: &OutputDir,
        format: StagingFormat,
        parts: usize,
        progress: Option<indicatif::ProgressBar>,
    ) -> Result<Self> {
        let folder = dir.path(STAGING);
        let events = match format {
            StagingFormat::Arrow => {
                BackgroundTableWriter::spawn(StagingFiles::create(&folder, parts)?)?
            }
            StagingFormat::Parquet => BackgroundTableWriter::spawn(TableWriter::create(
                &folder.join(format!("part-0{}", format.extension())),
                events_schema(),
                Compression::UNCOMPRESSED,
            )?)?,
        };
        Ok(Self {
            events,
            rejects: TableWriter::create(&dir.path("rejects.parquet"), rejects_schema(), zstd())?,
            progress,
        })
    }

    /// Closes the staging files and the rejects.
    pub fn close(self) -> Result<()> {
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
        self.events.close()?;
        self.rejects.close()?;
        Ok(())
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
        if let Some(bar) = &self.progress {
            bar.set_position(bytes);
        }
    }
}
