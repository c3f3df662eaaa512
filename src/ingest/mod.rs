//! Ingest: exported logs in, envelope batches and rejects out.
//!
//! Inputs are plain, gzip or zstd, recognised by their magic bytes whatever
//! their name. They are read as a stream of byte chunks cut at line ends, so memory is
//! bounded by the chunk size whatever the log's size. A group of chunks is parsed
//! in parallel on rayon's pool (one chunk per task, results kept in input order),
//! then handed to an [`IngestSink`] as one Arrow batch of events and a list of
//! rejects per chunk. Positions default to the record's line in the concatenated
//! input, which is read order. Every non-blank line is one record, and every record
//! ends as exactly one event or one reject.

pub mod mapping;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use arrow::array::RecordBatch;
use flate2::bufread::MultiGzDecoder;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::envelope::{EventBatchBuilder, Reject};
use crate::{Error, Result};
use mapping::{Mapping, RecordOrigin};

/// One input log.
#[derive(Debug, Clone)]
pub enum InputSource {
    /// A file on disk; gzip and zstd are detected by their magic bytes.
    File(PathBuf),
    /// A log compiled into the binary (the embedded default sample).
    Embedded { name: String, bytes: &'static [u8] },
}

impl InputSource {
    /// The name used in `source` columns and messages.
    pub fn name(&self) -> String {
        match self {
            InputSource::File(path) => path.display().to_string(),
            InputSource::Embedded { name, .. } => name.clone(),
        }
    }
}

/// How to read and map the inputs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub mapping: Mapping,
    /// Records longer than this become rejects instead of events.
    pub max_record_bytes: usize,
    /// Bytes read per chunk; a chunk is the unit of parallel parsing.
    pub chunk_bytes: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            mapping: Mapping::generic(),
            max_record_bytes: 16 << 20,
            chunk_bytes: 4 << 20,
        }
    }
}

/// What one input contributed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct InputSummary {
    pub name: String,
    /// Size of the input as stored (compressed when it is).
    pub bytes: u64,
    pub sha256: String,
    pub records: u64,
    pub events: u64,
    pub rejects: u64,
}

/// What the whole ingest did. `events + rejects == records` always.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IngestSummary {
    pub inputs: Vec<InputSummary>,
    pub records: u64,
    pub events: u64,
    pub rejects: u64,
    /// The highest position seen: the watermark of this run.
    pub max_position: Option<u64>,
}

/// Receives what ingest produces, in input order.
pub trait IngestSink {
    fn events(&mut self, batch: RecordBatch) -> Result<()>;
    fn rejects(&mut self, rejects: Vec<Reject>) -> Result<()>;
    /// Called after each chunk with the bytes consumed so far, for progress.
    fn progress(&mut self, _bytes: u64) {}
}

/// Counts and hashes the stored bytes of an input as they are read.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

type Stored = BufReader<HashingReader<Box<dyn Read + Send>>>;

/// An input's decoded byte stream over its hashed stored bytes.
enum Decoded {
    Plain(Stored),
    Gzip(Box<MultiGzDecoder<Stored>>),
    Zstd(Box<zstd::stream::read::Decoder<'static, Stored>>),
}

impl Decoded {
    fn open(source: &InputSource) -> Result<Self> {
        let raw: Box<dyn Read + Send> = match source {
            InputSource::File(path) => Box::new(File::open(path).map_err(|e| Error::io(path, e))?),
            InputSource::Embedded { bytes, .. } => Box::new(*bytes),
        };
        let mut stored = BufReader::with_capacity(
            1 << 16,
            HashingReader {
                inner: raw,
                hasher: Sha256::new(),
                bytes: 0,
            },
        );
        let head = stored.fill_buf().map_err(|e| Error::io(source.name(), e))?;
        Ok(if head.starts_with(&[0x1f, 0x8b]) {
            Decoded::Gzip(Box::new(MultiGzDecoder::new(stored)))
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            let decoder = zstd::stream::read::Decoder::with_buffer(stored)
                .map_err(|e| Error::io(source.name(), e))?;
            Decoded::Zstd(Box::new(decoder))
        } else {
            Decoded::Plain(stored)
        })
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Decoded::Plain(r) => r.read(buf),
            Decoded::Gzip(r) => r.read(buf),
            Decoded::Zstd(r) => r.read(buf),
        }
    }

    /// Reads what is left of the stored bytes (so the hash covers the whole
    /// file even after damage) and returns its size and hash.
    fn finish(self) -> (u64, String) {
        let mut stored = match self {
            Decoded::Plain(r) => r.into_inner(),
            Decoded::Gzip(r) => r.into_inner().into_inner(),
            Decoded::Zstd(r) => r.finish().into_inner(),
        };
        // The hash stays that of the bytes read so far if the rest is unreadable.
        let _ = std::io::copy(&mut stored, &mut std::io::sink());
        let digest = stored.hasher.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        (stored.bytes, hex)
    }
}

/// A run of whole lines and where it starts.
struct Chunk {
    bytes: Vec<u8>,
    first_line: u64,
    first_offset: u64,
}

/// The result of parsing one chunk.
struct ParsedChunk {
    batch: Option<RecordBatch>,
    rejects: Vec<Reject>,
    records: u64,
    events: u64,
    max_position: Option<u64>,
}

fn parse_chunk(
    chunk: &Chunk,
    file: &str,
    position_base: u64,
    options: &IngestOptions,
) -> Result<ParsedChunk> {
    let mut builder = EventBatchBuilder::new();
    let mut rejects = Vec::new();
    let mut records = 0;
    let mut max_position = None;
    let mut line_start = 0usize;
    let mut line_number = chunk.first_line;
    let bytes = &chunk.bytes;
    while line_start < bytes.len() {
        let line_end = memchr::memchr(b'\n', &bytes[line_start..])
            .map(|i| line_start + i)
            .unwrap_or(bytes.len());
        let mut line = &bytes[line_start..line_end];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        let origin = RecordOrigin {
            file,
            line: line_number,
            byte_offset: chunk.first_offset + line_start as u64,
            default_position: position_base + line_number,
        };
        if !line.iter().all(u8::is_ascii_whitespace) {
            records += 1;
            if line.len() > options.max_record_bytes {
                let head = &line[..line.len().min(1024)];
                rejects.push(mapping::reject(
                    &origin,
                    None,
                    format!(
                        "record is {} bytes, longer than the maximum of {} (raw text cut to its first 1024 bytes)",
                        line.len(),
                        options.max_record_bytes
                    ),
                    head,
                ));
            } else {
                match mapping::parse_json_record(line, &options.mapping, &origin) {
                    Ok(event) => {
                        max_position = max_position.max(Some(event.position));
                        builder.append(&event);
                    }
                    Err(reject) => rejects.push(reject),
                }
            }
        }
        line_start = line_end + 1;
        line_number += 1;
    }
    let events = builder.len() as u64;
    let batch = if builder.is_empty() {
        None
    } else {
        Some(builder.finish()?)
    };
    Ok(ParsedChunk {
        batch,
        rejects,
        records,
        events,
        max_position,
    })
}

/// Reads chunks of whole lines from one decoded input.
struct ChunkReader {
    decoded: Decoded,
    carry: Vec<u8>,
    next_line: u64,
    next_offset: u64,
    chunk_bytes: usize,
    done: bool,
    /// The error that cut the input short, reported as one reject.
    damage: Option<std::io::Error>,
}

impl ChunkReader {
    fn next_chunk(&mut self) -> Option<Chunk> {
        while !self.done {
            let start = self.carry.len();
            self.carry.resize(start + self.chunk_bytes, 0);
            match self.decoded.read(&mut self.carry[start..]) {
                Ok(0) => {
                    self.carry.truncate(start);
                    self.done = true;
                }
                Ok(n) => {
                    self.carry.truncate(start + n);
                    if let Some(last) = memchr::memrchr(b'\n', &self.carry[start..]) {
                        let rest = self.carry.split_off(start + last + 1);
                        let bytes = std::mem::replace(&mut self.carry, rest);
                        return Some(self.cut(bytes));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    self.carry.truncate(start);
                }
                Err(e) => {
                    self.carry.truncate(start);
                    self.damage = Some(e);
                    self.done = true;
                }
            }
        }
        if self.carry.is_empty() {
            None
        } else {
            let bytes = std::mem::take(&mut self.carry);
            Some(self.cut(bytes))
        }
    }

    fn cut(&mut self, bytes: Vec<u8>) -> Chunk {
        let chunk = Chunk {
            first_line: self.next_line,
            first_offset: self.next_offset,
            bytes,
        };
        let newlines = memchr::memchr_iter(b'\n', &chunk.bytes).count() as u64;
        let unterminated = u64::from(!chunk.bytes.ends_with(b"\n"));
        self.next_line += newlines + unterminated;
        self.next_offset += chunk.bytes.len() as u64;
        chunk
    }
}

/// Reads every input in order and feeds `sink`; returns the counts.
pub fn ingest(
    sources: &[InputSource],
    options: &IngestOptions,
    sink: &mut dyn IngestSink,
) -> Result<IngestSummary> {
    let mut summary = IngestSummary::default();
    let mut position_base = 0u64;
    let mut consumed = 0u64;
    let group_size = rayon::current_num_threads().max(1) * 2;
    for source in sources {
        let name = source.name();
        let mut reader = ChunkReader {
            decoded: Decoded::open(source)?,
            carry: Vec::new(),
            next_line: 1,
            next_offset: 0,
            chunk_bytes: options.chunk_bytes,
            done: false,
            damage: None,
        };
        let mut input = InputSummary {
            name: name.clone(),
            ..InputSummary::default()
        };
        loop {
            let group: Vec<Chunk> = std::iter::from_fn(|| reader.next_chunk())
                .take(group_size)
                .collect();
            if group.is_empty() {
                break;
            }
            let parsed: Vec<Result<ParsedChunk>> = group
                .par_iter()
                .map(|chunk| parse_chunk(chunk, &name, position_base, options))
                .collect();
            for (chunk, result) in group.iter().zip(parsed) {
                let result = result?;
                input.records += result.records;
                input.events += result.events;
                input.rejects += result.rejects.len() as u64;
                summary.max_position = summary.max_position.max(result.max_position);
                if let Some(batch) = result.batch {
                    sink.events(batch)?;
                }
                if !result.rejects.is_empty() {
                    sink.rejects(result.rejects)?;
                }
                consumed += chunk.bytes.len() as u64;
                sink.progress(consumed);
            }
        }
        if let Some(damage) = reader.damage.take() {
            input.records += 1;
            input.rejects += 1;
            sink.rejects(vec![Reject {
                source_file: name.clone(),
                line: reader.next_line,
                byte_offset: reader.next_offset,
                field: None,
                reason: format!(
                    "input is damaged after byte {} (decompressed): {damage}; everything before it was read",
                    reader.next_offset
                ),
                raw: String::new(),
            }])?;
        }
        position_base += reader.next_line;
        let (bytes, sha256) = reader.decoded.finish();
        input.bytes = bytes;
        input.sha256 = sha256;
        summary.records += input.records;
        summary.events += input.events;
        summary.rejects += input.rejects;
        summary.inputs.push(input);
    }
    Ok(summary)
}
