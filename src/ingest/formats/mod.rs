//! Input formats: NDJSON ([`ndjson`]: chunks of lines, parsed a chunk at a
//! time), and a JSON array, CSV, XES and Parquet.
//!
//! Each reader but NDJSON's turns its input into a stream of [`Pending`] records, read in
//! order and in bounded groups; turning a pending record into an event or a
//! reject (the expensive part) happens afterwards, in parallel, in
//! [`Pending::map`]. What a reader cannot take apart (a CSV row with the wrong
//! number of fields, an array element cut short) is a pending reject, and damage
//! that stops a reader (a truncated gzip stream, broken XML) is reported once,
//! after everything before it was read.

mod array;
mod csv;
mod ndjson;
mod parquet;
mod xes;

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use serde_json::{Map, Value};

pub use self::array::ArrayReader;
pub use self::csv::CsvReader;
pub use self::ndjson::{Chunk, ChunkReader};
pub use self::parquet::ParquetReader;
pub use self::xes::XesReader;
use super::mapping::{self, cell_value, Mapping, RecordOrigin};
use crate::envelope::{Event, Reject};
use crate::{Error, Result};

/// The format of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Ndjson,
    /// One JSON array of objects.
    Json,
    Csv,
    Parquet,
    Xes,
}

impl Format {
    /// Parses a format name.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            "xes" => Ok(Format::Xes),
            other => Err(Error::usage(format!(
                "unknown format \"{other}\"; expected ndjson, json, csv, parquet or xes"
            ))),
        }
    }

    /// The format an input's name says, ignoring `.gz` and `.zst`.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        let name = name
            .strip_suffix(".gz")
            .or_else(|| name.strip_suffix(".zst"))
            .unwrap_or(&name);
        let (_, extension) = name.rsplit_once('.')?;
        match extension {
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            "json" => Some(Format::Json),
            "csv" | "tsv" => Some(Format::Csv),
            "parquet" => Some(Format::Parquet),
            "xes" => Some(Format::Xes),
            _ => None,
        }
    }

    /// The format the first decoded bytes show, when they are unmistakable.
    /// A `.json` file holding lines of objects is NDJSON; one starting with `[`
    /// is an array, whatever its name.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(b"PAR1") {
            return Some(Format::Parquet);
        }
        let head = head.strip_prefix(BOM).unwrap_or(head);
        match head.iter().find(|b| !b.is_ascii_whitespace())? {
            b'[' => Some(Format::Json),
            b'{' => Some(Format::Ndjson),
            b'<' => Some(Format::Xes),
            _ => None,
        }
    }
}

/// How to read CSV.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvOptions {
    /// The delimiter given (`--delimiter`, the mapping file); `None`: by the
    /// input's name, a tab for `.tsv` and a comma for the rest.
    pub delimiter: Option<u8>,
}

impl CsvOptions {
    /// The delimiter of the input named `name`.
    pub fn delimiter_for(&self, name: &str) -> u8 {
        let name = name.to_ascii_lowercase();
        let name = name
            .strip_suffix(".gz")
            .or_else(|| name.strip_suffix(".zst"))
            .unwrap_or(&name);
        self.delimiter
            .unwrap_or(if name.ends_with(".tsv") { b'\t' } else { b',' })
    }
}

/// A record as a reader found it, not yet mapped.
pub struct Pending {
    /// 1-based line (CSV, JSON, XES) or row (Parquet) where the record starts.
    pub line: u64,
    pub byte_offset: u64,
    pub body: Body,
}

/// What a pending record holds.
pub enum Body {
    /// JSON text still to parse (an array element).
    Json(Vec<u8>),
    /// JSON text whose string values may hold JSON themselves (a Parquet row).
    JsonCells(Vec<u8>),
    /// A CSV row's cells, named by the header.
    Row {
        header: Arc<[String]>,
        cells: Vec<String>,
        delimiter: u8,
    },
    /// A record already built (an XES event).
    Value(Value),
    /// A record the reader could not take apart.
    Reject { reason: String, raw: Vec<u8> },
}

impl Pending {
    /// Maps the record onto the envelope, or says why it cannot be.
    pub fn map(self, file: &str, position_base: u64, mapping: &Mapping) -> Result<Event, Reject> {
        let origin = RecordOrigin {
            file,
            line: self.line,
            byte_offset: self.byte_offset,
            default_position: position_base + self.line,
        };
        match self.body {
            Body::Json(raw) => mapping::parse_json_record(&raw, mapping, &origin).map(Event::from),
            Body::JsonCells(raw) => match serde_json::from_slice::<Value>(&raw) {
                Ok(Value::Object(map)) => {
                    let map: Map<String, Value> = map
                        .into_iter()
                        .map(|(k, v)| match v {
                            Value::String(s) => (k, cell_value(&s)),
                            other => (k, other),
                        })
                        .collect();
                    let text = || Cow::Borrowed(raw.as_slice());
                    mapping::map_record(&Value::Object(map), &text, mapping, &origin)
                }
                _ => mapping::parse_json_record(&raw, mapping, &origin).map(Event::from),
            },
            Body::Row {
                header,
                cells,
                delimiter,
            } => {
                let record: Map<String, Value> = header
                    .iter()
                    .zip(&cells)
                    .map(|(name, cell)| (name.clone(), cell_value(cell)))
                    .collect();
                let text = || Cow::Owned(row_text(&cells, delimiter));
                mapping::map_record(&Value::Object(record), &text, mapping, &origin)
            }
            Body::Value(record) => {
                let text = || Cow::Owned(record.to_string().into_bytes());
                mapping::map_record(&record, &text, mapping, &origin)
            }
            Body::Reject { reason, raw } => Err(mapping::reject(&origin, None, reason, &raw)),
        }
    }
}

/// A CSV row written back as text, quoted where needed.
fn row_text(cells: &[String], delimiter: u8) -> Vec<u8> {
    let mut writer = ::csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let _ = writer.write_record(cells);
    let mut text = writer.into_inner().unwrap_or_default();
    if text.last() == Some(&b'\n') {
        text.pop();
    }
    text
}

/// Damage that stopped a reader: everything before it was read.
#[derive(Debug)]
pub struct Damage {
    pub line: u64,
    pub byte_offset: u64,
    pub reason: String,
    /// What was read of the record the damage cut short, if the reader knows.
    pub raw: Vec<u8>,
}

/// A reader of pending records.
pub trait RecordReader {
    /// Up to `max` records in input order; empty when the input is done.
    fn next_records(&mut self, max: usize) -> Vec<Pending>;
    /// Where the reader stopped, once the input is done.
    fn end(self: Box<Self>) -> Ended;
}

/// Where a reader stopped.
pub struct Ended {
    /// The line after the last one read, for positions of the next input.
    pub lines: u64,
    /// The damage that ended the input early, if any, its reason as the
    /// reject gives it.
    pub damage: Option<Damage>,
    /// The input, to hash what is left of it.
    pub input: Option<super::Input>,
}

/// What every reader keeps beside its own parsing state: its input (as the
/// reader wraps it), the line after the last one read, and the damage that
/// stopped it.
pub struct ReaderCore<R> {
    pub reader: Option<R>,
    pub line: u64,
    pub damage: Option<Damage>,
}

impl<R: Unwrap> ReaderCore<R> {
    pub fn new(reader: R) -> Self {
        Self {
            reader: Some(reader),
            line: 1,
            damage: None,
        }
    }

    /// [`RecordReader::end`] of the reader this is the core of.
    pub fn end(self) -> Ended {
        Ended {
            lines: self.line,
            damage: self.damage.map(|damage| Damage {
                reason: format!(
                    "input is damaged at line {}: {}",
                    damage.line, damage.reason
                ),
                ..damage
            }),
            input: self.reader.map(Unwrap::into_input),
        }
    }
}

/// A reader's wrapping of its input, taken off at the end to hash the rest.
pub trait Unwrap {
    fn into_input(self) -> super::Input;
}

impl Unwrap for super::Input {
    fn into_input(self) -> super::Input {
        self
    }
}

/// A buffered reader that counts the lines of the bytes its user consumed.
pub struct LineCounter<R> {
    inner: BufReader<R>,
    pub line: u64,
    pub offset: u64,
}

impl<R: Read> LineCounter<R> {
    pub fn new(inner: BufReader<R>) -> Self {
        Self {
            inner,
            line: 1,
            offset: 0,
        }
    }

    pub fn into_inner(self) -> BufReader<R> {
        self.inner
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.line += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        self.offset += n as u64;
        Ok(n)
    }
}

impl<R: Read> BufRead for LineCounter<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if let Ok(buffered) = self.inner.fill_buf() {
            let taken = &buffered[..amount.min(buffered.len())];
            self.line += memchr::memchr_iter(b'\n', taken).count() as u64;
        }
        self.offset += amount as u64;
        self.inner.consume(amount);
    }
}

/// The UTF-8 byte-order mark some Windows tools write at the start of text.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Skips a UTF-8 byte-order mark at the start of `input`; returns the bytes
/// skipped (3 or 0), so byte offsets can still count from the input's start.
pub fn skip_bom<R: BufRead>(input: &mut R) -> std::io::Result<u64> {
    if input.fill_buf()?.starts_with(BOM) {
        input.consume(BOM.len());
        return Ok(BOM.len() as u64);
    }
    Ok(0)
}
