//! A JSON array of records, read one element at a time.
//!
//! Written by hand rather than with serde_json's deserializer because a bad
//! element must not lose the rest: elements are cut by a small scanner that
//! tracks nesting and strings only, so each one is parsed (and, if broken,
//! rejected) on its own, and memory stays bounded by the largest element.

use std::io::BufRead;

use super::{skip_bom, Body, Damage, Ended, Pending, ReaderCore, RecordReader};
use crate::ingest::Input;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening bracket.
    Start,
    /// Between elements, expecting one, a comma or the closing bracket.
    Between,
    /// Inside an element.
    Element,
    /// After the closing bracket.
    End,
    Done,
}

/// Reads the elements of one JSON array.
pub struct ArrayReader {
    /// The input; the line being read.
    core: ReaderCore<Input>,
    state: State,
    offset: u64,
    max_record_bytes: usize,
    element: Vec<u8>,
    element_len: usize,
    element_line: u64,
    element_offset: u64,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl ArrayReader {
    pub fn new(mut input: Input, max_record_bytes: usize) -> Self {
        // A byte-order mark (Windows tools write one) is not the array's
        // start. Should reading fail here, the first read fails again and is
        // reported as damage.
        let offset = skip_bom(&mut input).unwrap_or(0);
        Self {
            core: ReaderCore::new(input),
            state: State::Start,
            offset,
            max_record_bytes,
            element: Vec::new(),
            element_len: 0,
            element_line: 1,
            element_offset: 0,
            depth: 0,
            in_string: false,
            escaped: false,
        }
    }

    fn start_element(&mut self) {
        self.state = State::Element;
        self.element.clear();
        self.element_len = 0;
        self.element_line = self.core.line;
        self.element_offset = self.offset;
        self.depth = 0;
        self.in_string = false;
        self.escaped = false;
    }

    fn pending(&mut self, reason: Option<String>) -> Pending {
        let raw = std::mem::take(&mut self.element);
        let body = match reason {
            Some(reason) => Body::Reject { reason, raw },
            None if self.element_len > self.max_record_bytes => Body::Reject {
                reason: format!(
                    "array element is {} bytes, longer than the maximum of {} (raw text cut to its first 1024 bytes)",
                    self.element_len, self.max_record_bytes
                ),
                raw,
            },
            None => {
                let mut raw = raw;
                while raw.last().is_some_and(u8::is_ascii_whitespace) {
                    raw.pop();
                }
                Body::Json(raw)
            }
        };
        Pending {
            line: self.element_line,
            byte_offset: self.element_offset,
            body,
        }
    }

    /// Scans one byte; returns a finished record when the byte ends one.
    fn step(&mut self, byte: u8) -> (bool, Option<Pending>) {
        match self.state {
            State::Start => match byte {
                b'[' => self.state = State::Between,
                b if b.is_ascii_whitespace() => {}
                _ => {
                    self.start_element();
                    self.state = State::End;
                    return (false, None);
                }
            },
            State::Between => match byte {
                b',' => {}
                b']' => self.state = State::End,
                b if b.is_ascii_whitespace() => {}
                _ => {
                    self.start_element();
                    return (false, None);
                }
            },
            State::Element => {
                if self.in_string {
                    if self.escaped {
                        self.escaped = false;
                    } else if byte == b'\\' {
                        self.escaped = true;
                    } else if byte == b'"' {
                        self.in_string = false;
                    }
                } else {
                    match byte {
                        b'"' => self.in_string = true,
                        b'{' | b'[' => self.depth += 1,
                        b'}' | b']' if self.depth > 0 => self.depth -= 1,
                        b',' | b']' if self.depth == 0 => {
                            self.state = State::Between;
                            return (false, Some(self.pending(None)));
                        }
                        _ => {}
                    }
                }
                self.element_len += 1;
                if self.element.len() < self.max_record_bytes.max(1024) {
                    self.element.push(byte);
                } else if self.element_len > self.max_record_bytes {
                    self.element.truncate(1024);
                }
            }
            State::End => {
                if !byte.is_ascii_whitespace() {
                    // Text after the array: one reject holding its start.
                    if self.element.is_empty() {
                        self.element_line = self.core.line;
                        self.element_offset = self.offset;
                    }
                    if self.element.len() < 1024 {
                        self.element.push(byte);
                    }
                }
            }
            State::Done => {}
        }
        (true, None)
    }

    fn finish_input(&mut self) -> Option<Pending> {
        let state = std::mem::replace(&mut self.state, State::Done);
        match state {
            State::Start => None,
            State::Between => Some(self.pending(Some(
                "the array is not closed: the input ends before its ]".into(),
            ))),
            State::Element => Some(self.pending(Some(
                "the input ends inside this array element (truncated?)".into(),
            ))),
            State::End if !self.element.is_empty() => Some(self.pending(Some(
                "text after the end of the JSON array (or the input is not a JSON array)".into(),
            ))),
            State::End | State::Done => None,
        }
    }
}

impl RecordReader for ArrayReader {
    fn next_records(&mut self, max: usize) -> Vec<Pending> {
        let mut out = Vec::new();
        // The input is taken out while its buffer is scanned in place, so the
        // scanner's state can change beside it without copying the buffer.
        let Some(mut input) = self.core.reader.take() else {
            return out;
        };
        while out.len() < max && self.state != State::Done {
            let buffer = match input.fill_buf() {
                Ok([]) => {
                    out.extend(self.finish_input());
                    break;
                }
                Ok(buffer) => buffer,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.core.damage = Some(Damage {
                        line: self.core.line,
                        byte_offset: self.offset,
                        reason: e.to_string(),
                        raw: Vec::new(),
                    });
                    out.extend(self.finish_input());
                    break;
                }
            };
            let mut used = 0;
            while used < buffer.len() && out.len() < max {
                let byte = buffer[used];
                let (consumed, record) = self.step(byte);
                if consumed {
                    used += 1;
                    self.offset += 1;
                    if byte == b'\n' {
                        self.core.line += 1;
                    }
                }
                out.extend(record);
            }
            input.consume(used);
        }
        self.core.reader = Some(input);
        out
    }

    fn end(self: Box<Self>) -> Ended {
        self.core.end()
    }
}
