//! NDJSON, one JSON object per line: read as a stream of byte chunks cut at
//! line ends ([`ChunkReader`]), each chunk parsed on its own ([`Chunk::parse`]),
//! so a group of chunks is parsed in parallel while the next is read. A line
//! longer than the maximum is read past, never held: its head is kept for the
//! reject.

use std::io::Read;

use super::{Damage, Ended};
use crate::ingest::mapping::{self, RecordOrigin};
use crate::ingest::{Collector, IngestOptions, Input, ParsedChunk};
use crate::Result;

/// A run of whole lines and where it starts.
pub struct Chunk {
    bytes: Vec<u8>,
    first_line: u64,
    first_offset: u64,
    /// Set when the chunk is the head of one line longer than the maximum:
    /// the line's whole length (its rest was read past, never held).
    oversized: Option<usize>,
}

impl Chunk {
    /// Maps each line onto the envelope: one group of events and rejects.
    pub fn parse(
        &self,
        file: &str,
        position_base: u64,
        options: &IngestOptions,
    ) -> Result<ParsedChunk> {
        let mut parsed = Collector::default();
        let mut line_start = 0usize;
        let mut line_number = self.first_line;
        let bytes = &self.bytes;
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
                byte_offset: self.first_offset + line_start as u64,
                default_position: position_base + line_number,
            };
            if !line.iter().all(u8::is_ascii_whitespace) {
                let length = self.oversized.unwrap_or(line.len());
                if length > options.max_record_bytes {
                    let head = &line[..line.len().min(1024)];
                    parsed.push::<String>(Err(mapping::reject(
                        &origin,
                        None,
                        format!(
                            "record is {length} bytes, longer than the maximum of {} (raw text cut to its first 1024 bytes)",
                            options.max_record_bytes
                        ),
                        head,
                    )));
                } else {
                    parsed.push(mapping::parse_json_record(line, &options.mapping, &origin));
                }
            }
            line_start = line_end + 1;
            line_number += 1;
        }
        parsed.finish()
    }
}

/// Reads chunks of whole lines from one decoded input.
pub struct ChunkReader {
    input: Input,
    carry: Vec<u8>,
    next_line: u64,
    next_offset: u64,
    chunk_bytes: usize,
    max_record_bytes: usize,
    done: bool,
    /// The error that cut the input short, reported as one reject.
    damage: Option<std::io::Error>,
    /// The start of the line the damage cut short.
    damaged_tail: Vec<u8>,
}

impl ChunkReader {
    pub fn new(mut input: Input, options: &IngestOptions) -> Self {
        // A byte-order mark (Windows tools write one) is not part of the first
        // record. Should reading fail here, the first read fails again and is
        // reported as damage.
        let bom = super::skip_bom(&mut input).unwrap_or(0);
        Self {
            input,
            carry: Vec::new(),
            next_line: 1,
            next_offset: bom,
            chunk_bytes: options.chunk_bytes,
            max_record_bytes: options.max_record_bytes,
            done: false,
            damage: None,
            damaged_tail: Vec::new(),
        }
    }

    /// Where reading stopped, once every chunk was read.
    pub fn end(self) -> Ended {
        let offset = self.next_offset;
        Ended {
            lines: self.next_line,
            damage: self.damage.map(|damage| Damage {
                line: self.next_line,
                byte_offset: offset,
                reason: format!("input is damaged after byte {offset} (decompressed): {damage}"),
                raw: self.damaged_tail,
            }),
            input: Some(self.input),
        }
    }

    pub fn next_chunk(&mut self) -> Option<Chunk> {
        while !self.done {
            let start = self.carry.len();
            self.carry.resize(start + self.chunk_bytes, 0);
            match self.input.read(&mut self.carry[start..]) {
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
                    if self.carry.len() > self.max_record_bytes {
                        return Some(self.oversized());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    self.carry.truncate(start);
                }
                Err(e) => {
                    // The unterminated line the damage cut belongs to the damage.
                    self.carry.truncate(start);
                    let whole = memchr::memrchr(b'\n', &self.carry).map_or(0, |i| i + 1);
                    self.damaged_tail = self.carry.split_off(whole);
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

    /// The carry is the start of one line longer than the maximum: keeps its
    /// head, reads past its rest without holding it, and returns the head.
    fn oversized(&mut self) -> Chunk {
        let mut length = self.carry.len();
        self.carry.truncate(1024);
        let mut head = std::mem::take(&mut self.carry);
        let mut scratch = vec![0u8; self.chunk_bytes.min(1 << 20)];
        loop {
            match self.input.read(&mut scratch) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(n) => {
                    let end = memchr::memchr(b'\n', &scratch[..n]);
                    let line_part = &scratch[..end.unwrap_or(n)];
                    let room = 1024usize.saturating_sub(head.len()).min(line_part.len());
                    head.extend_from_slice(&line_part[..room]);
                    length += line_part.len();
                    if let Some(end) = end {
                        self.carry.extend_from_slice(&scratch[end + 1..n]);
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.damage = Some(e);
                    self.done = true;
                    break;
                }
            }
        }
        head.push(b'\n');
        let chunk = Chunk {
            first_line: self.next_line,
            first_offset: self.next_offset,
            bytes: head,
            oversized: Some(length),
        };
        self.next_line += 1;
        self.next_offset += length as u64 + 1;
        chunk
    }

    fn cut(&mut self, bytes: Vec<u8>) -> Chunk {
        let chunk = Chunk {
            first_line: self.next_line,
            first_offset: self.next_offset,
            bytes,
            oversized: None,
        };
        let newlines = memchr::memchr_iter(b'\n', &chunk.bytes).count() as u64;
        let unterminated = u64::from(!chunk.bytes.ends_with(b"\n"));
        self.next_line += newlines + unterminated;
        self.next_offset += chunk.bytes.len() as u64;
        chunk
    }
}
