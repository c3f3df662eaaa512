//! A byte range of a plain (uncompressed) NDJSON file, cut at whole lines:
//! how a distributed run reads one large input in several tasks.
//!
//! The range `[start, end)` holds the lines that begin in it: from the first
//! line beginning at or after `start` to the end of the line holding byte
//! `end - 1`. Ranges that meet (`[0, a)`, `[a, b)`, …) so hold every line of
//! the file exactly once. Hand-written because it is a few lines over
//! `BufRead`, and the ingest's line reader must see the range as a file of
//! its own.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::{Error, Result};

/// Where the first line beginning at or after `start` begins (the file's
/// length when none does).
pub fn aligned_start(path: &Path, start: u64) -> Result<u64> {
    if start == 0 {
        return Ok(0);
    }
    let mut file = BufReader::new(File::open(path).map_err(|e| Error::io(path, e))?);
    file.seek(SeekFrom::Start(start - 1))
        .map_err(|e| Error::io(path, e))?;
    let mut skipped = Vec::new();
    let read = file
        .read_until(b'\n', &mut skipped)
        .map_err(|e| Error::io(path, e))?;
    Ok(start - 1 + read as u64)
}

/// The lines of a range of a file, read as one stream.
pub struct RangeReader {
    inner: BufReader<File>,
    /// Bytes left before `end`.
    remaining: u64,
    /// Past `end`: reading to the end of the line that crosses it.
    done: bool,
}

impl RangeReader {
    pub fn open(path: &Path, start: u64, end: u64) -> Result<Self> {
        let first = aligned_start(path, start)?;
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        file.seek(SeekFrom::Start(first))
            .map_err(|e| Error::io(path, e))?;
        Ok(Self {
            inner: BufReader::with_capacity(1 << 16, file),
            remaining: end.saturating_sub(first),
            // A line that began before the range and runs past its end
            // leaves it no line of its own.
            done: first >= end,
        })
    }
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.remaining > 0 {
            let want = buf
                .len()
                .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
            let got = self.inner.read(&mut buf[..want])?;
            self.remaining -= got as u64;
            if got == 0 || (self.remaining == 0 && buf[got - 1] == b'\n') {
                self.done = true;
            }
            return Ok(got);
        }
        let available = self.inner.fill_buf()?;
        if available.is_empty() {
            self.done = true;
            return Ok(0);
        }
        let (line_end, found) = match memchr::memchr(b'\n', available) {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        let n = line_end.min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.inner.consume(n);
        self.done = found && n == line_end;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ranges that meet hold every line once, whatever the cuts: mid-line,
    /// on a newline, inside a line longer than a range, and past the end.
    #[test]
    fn meeting_ranges_hold_every_line_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.ndjson");
        let text = "a\nbb\n\nccccccccccccc\nd\neeeee\nf";
        std::fs::write(&path, text).unwrap();
        let len = text.len() as u64;
        for size in 1..=len + 1 {
            let mut joined = Vec::new();
            let mut start = 0;
            while start < len {
                let end = (start + size).min(len);
                let mut part = Vec::new();
                RangeReader::open(&path, start, end)
                    .unwrap()
                    .read_to_end(&mut part)
                    .unwrap();
                if !part.is_empty() {
                    // It begins where a line begins, with that line.
                    let first = aligned_start(&path, start).unwrap() as usize;
                    assert!(first == 0 || text.as_bytes()[first - 1] == b'\n');
                    assert!(text.as_bytes()[first..].starts_with(&part), "size {size}");
                }
                joined.extend(part);
                start = end;
            }
            assert_eq!(String::from_utf8(joined).unwrap(), text, "size {size}");
        }
    }
}
