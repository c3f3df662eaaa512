//! Parquet, read batch by batch with the parquet crate's Arrow reader. Each row
//! becomes a JSON record through arrow-json (so nested columns become nested
//! JSON and the same paths work as for JSON logs); text columns holding JSON
//! (a payload column, say) are read as that JSON. Rows are numbered from 1 in
//! the `line` of their reject.

use std::collections::VecDeque;
use std::fs::File;

use arrow::array::RecordBatch;
use arrow::json::LineDelimitedWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::{Body, Damage, Ended, Pending, ReaderCore, RecordReader};
use crate::ingest::{Input, InputSource};

/// Reads the rows of one Parquet file.
pub struct ParquetReader {
    batches: Option<ParquetRecordBatchReader>,
    queued: VecDeque<Pending>,
    /// The input's byte stream, drained at the end only to hash it; the
    /// row to read next.
    core: ReaderCore<Input>,
}

impl ParquetReader {
    pub fn new(source: &InputSource, input: Input, batch_rows: usize) -> Self {
        let opened = match source {
            InputSource::File(path) | InputSource::Named { path, .. } => File::open(path)
                .map_err(|e| e.to_string())
                .and_then(|file| {
                    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())
                })
                .and_then(|b| {
                    b.with_batch_size(batch_rows)
                        .build()
                        .map_err(|e| e.to_string())
                }),
            InputSource::Memory { bytes, .. } => {
                ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
                    .and_then(|b| b.with_batch_size(batch_rows).build())
                    .map_err(|e| e.to_string())
            }
            InputSource::Range { .. } => Err("a byte range of a Parquet file".to_owned()),
        };
        let (batches, damage) = match opened {
            Ok(reader) => (Some(reader), None),
            Err(reason) => (
                None,
                Some(Damage {
                    line: 1,
                    byte_offset: 0,
                    reason: format!("not a readable Parquet file: {reason}"),
                    raw: Vec::new(),
                }),
            ),
        };
        Self {
            batches,
            queued: VecDeque::new(),
            core: ReaderCore {
                reader: Some(input),
                line: 1,
                damage,
            },
        }
    }

    fn queue(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let mut writer = LineDelimitedWriter::new(Vec::new());
        writer.write(batch).map_err(|e| e.to_string())?;
        writer.finish().map_err(|e| e.to_string())?;
        let text = writer.into_inner();
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            self.queued.push_back(Pending {
                line: self.core.line,
                byte_offset: 0,
                body: Body::JsonCells(line.to_vec()),
            });
            self.core.line += 1;
        }
        Ok(())
    }
}

impl RecordReader for ParquetReader {
    fn next_records(&mut self, max: usize) -> Vec<Pending> {
        while self.queued.len() < max {
            let Some(batches) = self.batches.as_mut() else {
                break;
            };
            match batches.next() {
                None => {
                    self.batches = None;
                }
                Some(Ok(batch)) => {
                    if let Err(reason) = self.queue(&batch) {
                        self.core.damage = Some(Damage {
                            line: self.core.line,
                            byte_offset: 0,
                            reason,
                            raw: Vec::new(),
                        });
                        self.batches = None;
                    }
                }
                Some(Err(e)) => {
                    self.core.damage = Some(Damage {
                        line: self.core.line,
                        byte_offset: 0,
                        reason: format!("Parquet data is broken: {e}"),
                        raw: Vec::new(),
                    });
                    self.batches = None;
                }
            }
        }
        let take = self.queued.len().min(max);
        self.queued.drain(..take).collect()
    }

    fn end(self: Box<Self>) -> Ended {
        self.core.end()
    }
}
