//! CSV with a header row, read with the `csv` crate: quoted fields (JSON
//! payloads among them), any one-byte delimiter, a UTF-8 byte-order mark or not.
//! A row whose field count differs from the header's, or that is not UTF-8,
//! is a reject naming its line; the rows after it are still read.

use std::sync::Arc;

use super::{skip_bom, Body, Damage, Ended, Pending, ReaderCore, RecordReader, Unwrap};
use crate::ingest::Input;

/// Reads the rows of one CSV input.
pub struct CsvReader {
    /// The reader; the line after the last row read.
    core: ReaderCore<csv::Reader<Input>>,
    header: Arc<[String]>,
    delimiter: u8,
    /// The bytes of the byte-order mark read past (3 or 0).
    bom: u64,
}

impl CsvReader {
    pub fn new(mut input: Input, delimiter: u8) -> Self {
        let mut damage = None;
        // Byte offsets count from the file's start, a byte-order mark included.
        let bom = match skip_bom(&mut input) {
            Ok(skipped) => skipped,
            Err(e) => {
                damage = Some(Damage {
                    line: 1,
                    byte_offset: 0,
                    reason: e.to_string(),
                    raw: Vec::new(),
                });
                0
            }
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(input);
        let header: Arc<[String]> = match reader.byte_headers() {
            Ok(names) => names
                .iter()
                .map(|name| String::from_utf8_lossy(name).trim().to_owned())
                .collect(),
            Err(e) => {
                damage.get_or_insert(Damage {
                    line: 1,
                    byte_offset: 0,
                    reason: e.to_string(),
                    raw: Vec::new(),
                });
                Arc::from(Vec::new())
            }
        };
        Self {
            core: ReaderCore {
                reader: Some(reader),
                line: 2,
                damage,
            },
            header,
            delimiter,
            bom,
        }
    }

    fn row(&self, record: &csv::ByteRecord, line: u64, offset: u64) -> Pending {
        let raw = || {
            let cells: Vec<String> = record
                .iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            super::row_text(&cells, self.delimiter)
        };
        let body = if record.len() != self.header.len() {
            Body::Reject {
                reason: format!(
                    "row has {} fields, the header has {}",
                    record.len(),
                    self.header.len()
                ),
                raw: raw(),
            }
        } else {
            let cells: Result<Vec<String>, usize> = record
                .iter()
                .enumerate()
                .map(|(i, cell)| String::from_utf8(cell.to_vec()).map_err(|_| i))
                .collect();
            match cells {
                Ok(cells) => Body::Row {
                    header: Arc::clone(&self.header),
                    cells,
                    delimiter: self.delimiter,
                },
                Err(column) => Body::Reject {
                    reason: format!(
                        "invalid UTF-8 in column \"{}\"",
                        self.header.get(column).map(String::as_str).unwrap_or("?")
                    ),
                    raw: raw(),
                },
            }
        };
        Pending {
            line,
            byte_offset: offset,
            body,
        }
    }
}

impl Unwrap for csv::Reader<Input> {
    fn into_input(self) -> Input {
        self.into_inner()
    }
}

impl RecordReader for CsvReader {
    fn next_records(&mut self, max: usize) -> Vec<Pending> {
        let mut out = Vec::new();
        if self.core.damage.is_some() {
            return out;
        }
        let mut record = csv::ByteRecord::new();
        while out.len() < max {
            let Some(reader) = self.core.reader.as_mut() else {
                break;
            };
            match reader.read_byte_record(&mut record) {
                Ok(false) => {
                    self.core.line = reader.position().line().max(self.core.line);
                    break;
                }
                Ok(true) => {
                    let (line, offset) = record
                        .position()
                        .map(|p| (p.line(), self.bom + p.byte()))
                        .unwrap_or((self.core.line, 0));
                    self.core.line = line + 1;
                    out.push(self.row(&record, line, offset));
                }
                Err(e) => {
                    let position = reader.position();
                    self.core.damage = Some(Damage {
                        line: position.line(),
                        byte_offset: self.bom + position.byte(),
                        reason: e.to_string(),
                        raw: Vec::new(),
                    });
                    break;
                }
            }
        }
        out
    }

    fn end(self: Box<Self>) -> Ended {
        self.core.end()
    }
}
