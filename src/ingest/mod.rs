//! Ingest: exported logs in, envelope batches and rejects out.
//!
//! Inputs are plain, gzip or zstd, recognised by their magic bytes whatever
//! their name, and NDJSON, a JSON array, CSV, Parquet or XES (see [`Format`]:
//! by configuration, else by their first bytes, else by their name). NDJSON is
//! read as a stream of byte chunks cut at line ends; the other formats as a
//! stream of records from their reader (see [`formats`]). Either way memory is
//! bounded by the group size whatever the log's size, and a group is mapped in
//! parallel on rayon's pool (results kept in input order), then handed to an
//! [`IngestSink`] as Arrow batches of events and lists of rejects. Positions
//! default to the record's line in the concatenated input, which is read order.
//! Every record ends as exactly one event or one reject; damage that stops an
//! input and an input without records each count as one rejected record.

pub mod config;
mod formats;
pub mod mapping;
pub mod presets;
pub mod range;

pub use formats::{CsvOptions, Format};

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, UInt64Array};
use flate2::bufread::MultiGzDecoder;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::envelope::{col, EventBatchBuilder, Reject};
use crate::{Error, Result};
use formats::{
    ArrayReader, Chunk, ChunkReader, CsvReader, Ended, ParquetReader, Pending, RecordReader,
    XesReader,
};
use mapping::Mapping;

/// One input log.
#[derive(Debug, Clone)]
pub enum InputSource {
    /// A file on disk; gzip and zstd are detected by their magic bytes.
    File(PathBuf),
    /// A log in memory: the embedded default sample, or bytes a caller holds.
    Memory { name: String, bytes: bytes::Bytes },
    /// A file read at `path` but named `name` (its path as the user gave
    /// it): a distributed run's input, which an executor running in another
    /// folder opens by its absolute path.
    Named { path: PathBuf, name: String },
    /// The lines of a byte range of a plain NDJSON file
    /// ([`range::RangeReader`]): one task's share of a large input in a
    /// distributed run, named as the whole file.
    Range {
        path: PathBuf,
        name: String,
        start: u64,
        end: u64,
    },
}

impl InputSource {
    /// The name used in `source` columns and messages.
    pub fn name(&self) -> String {
        match self {
            InputSource::File(path) => path.display().to_string(),
            InputSource::Memory { name, .. } | InputSource::Named { name, .. } => name.clone(),
            InputSource::Range { name, .. } => name.clone(),
        }
    }

    /// The format `options` read this input as, judged from its first bytes
    /// `head` and its name, as the ingest judges it.
    pub fn format(&self, head: &[u8], options: &IngestOptions) -> Format {
        options
            .format
            .or_else(|| Format::sniff(head))
            .or_else(|| Format::from_name(&self.name()))
            .or(options.fallback_format)
            .unwrap_or(Format::Ndjson)
    }

    /// The input's stored bytes, as on disk (compressed or not).
    fn open_raw(&self) -> Result<Box<dyn Read + Send>> {
        Ok(match self {
            InputSource::File(path) | InputSource::Named { path, .. } => {
                Box::new(File::open(path).map_err(|e| Error::io(path, e))?)
            }
            InputSource::Memory { bytes, .. } => Box::new(std::io::Cursor::new(bytes.clone())),
            InputSource::Range {
                path, start, end, ..
            } => Box::new(range::RangeReader::open(path, *start, *end)?),
        })
    }

    /// The input's stored bytes, hashed as they are read and added to `read`.
    fn open_stored(&self, read: Arc<AtomicU64>) -> Result<HashingReader<Box<dyn Read + Send>>> {
        Ok(HashingReader {
            inner: self.open_raw()?,
            hasher: Sha256::new(),
            bytes: 0,
            read,
        })
    }

    /// The size of the input as stored (as `bytes` in the manifest).
    pub fn stored_len(&self) -> Result<u64> {
        match self {
            InputSource::File(path) | InputSource::Named { path, .. } => {
                Ok(std::fs::metadata(path)
                    .map_err(|e| Error::io(path, e))?
                    .len())
            }
            InputSource::Memory { bytes, .. } => Ok(bytes.len() as u64),
            InputSource::Range { start, end, .. } => Ok(end - start),
        }
    }

    /// A range of a file after its first: it may hold no line (one long line
    /// spans it), which is no sign of an empty input.
    fn continues_a_file(&self) -> bool {
        matches!(self, InputSource::Range { start, .. } if *start > 0)
    }

    /// The SHA-256 of the input's stored bytes (as in the manifest), read
    /// without decoding or parsing.
    pub fn sha256(&self) -> Result<String> {
        crate::support::digest::sha256_hex_of(self.open_raw()?)
            .map_err(|e| Error::io(self.name(), e))
    }
}

/// How to read and map the inputs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// The inputs' format; `None` recognises each input by its bytes and name.
    pub format: Option<Format>,
    /// The format to assume when an input's bytes and name do not say.
    pub fallback_format: Option<Format>,
    pub csv: CsvOptions,
    pub mapping: Mapping,
    /// Stop with an error at the first reject instead of reading on.
    pub strict: bool,
    /// Records longer than this become rejects instead of events.
    pub max_record_bytes: usize,
    /// Bytes read per chunk; a chunk is the unit of parallel parsing.
    pub chunk_bytes: usize,
    /// Read-order positions start after this one (an incremental run goes on
    /// from where the previous run's inputs ended).
    pub position_base: u64,
    /// The mapping file and flags these options were made from, when they
    /// were: what a distributed run ships to its executors, which make the
    /// same options from it.
    pub spec: Option<config::InputSpec>,
    /// A distributed run cuts a plain NDJSON input larger than this into
    /// byte ranges of this size, each read by a task of its own.
    pub split_bytes: u64,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            format: None,
            fallback_format: None,
            csv: CsvOptions::default(),
            mapping: Mapping::generic(),
            strict: false,
            max_record_bytes: 16 << 20,
            chunk_bytes: 4 << 20,
            position_base: 0,
            spec: None,
            split_bytes: 256 << 20,
        }
    }
}

/// What one input contributed.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
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
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct IngestSummary {
    pub inputs: Vec<InputSummary>,
    pub records: u64,
    pub events: u64,
    pub rejects: u64,
    /// The highest position seen: the watermark of this run.
    pub max_position: Option<u64>,
    /// The last read-order position given out (events without a position of
    /// their own are numbered by read order across all inputs).
    pub read_positions: u64,
}

/// Receives what ingest produces, in input order.
pub trait IngestSink {
    fn events(&mut self, batch: RecordBatch) -> Result<()>;
    fn rejects(&mut self, rejects: Vec<Reject>) -> Result<()>;
    /// Called as ingest goes with the bytes read so far of all inputs as
    /// stored (compressed when they are), out of the sum of their
    /// [`InputSource::stored_len`], for progress.
    fn progress(&mut self, _bytes: u64) {}
}

/// Counts and hashes the stored bytes of an input as they are read.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    /// The stored bytes read of all inputs, for progress.
    read: Arc<AtomicU64>,
}

impl<R> HashingReader<R> {
    /// The bytes read and their SHA-256, in hex.
    fn finish(self) -> (u64, String) {
        (
            self.bytes,
            crate::support::digest::hex(&self.hasher.finalize()),
        )
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
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
    fn open(source: &InputSource, read: Arc<AtomicU64>) -> Result<Self> {
        let mut stored = BufReader::with_capacity(1 << 16, source.open_stored(read)?);
        let head = stored.fill_buf().map_err(|e| Error::io(source.name(), e))?;
        Ok(if matches!(source, InputSource::Range { .. }) {
            // Only a plain file is cut into ranges; its bytes are never a header.
            Decoded::Plain(stored)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Decoded::Gzip(Box::new(MultiGzDecoder::new(stored)))
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            let decoder = zstd::stream::read::Decoder::with_buffer(stored)
                .map_err(|e| Error::io(source.name(), e))?;
            Decoded::Zstd(Box::new(decoder))
        } else {
            Decoded::Plain(stored)
        })
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
        stored.finish()
    }
}

impl Read for Decoded {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Decoded::Plain(r) => r.read(buf),
            Decoded::Gzip(r) => r.read(buf),
            Decoded::Zstd(r) => r.read(buf),
        }
    }
}

/// A decoded input, buffered: what the format readers read.
type Input = BufReader<Decoded>;

/// The result of parsing one chunk.
struct ParsedChunk {
    batch: Option<RecordBatch>,
    rejects: Vec<Reject>,
    records: u64,
    events: u64,
    max_position: Option<u64>,
}

/// Collects the events and rejects of one parsed group.
#[derive(Default)]
struct Collector {
    builder: EventBatchBuilder,
    rejects: Vec<Reject>,
    records: u64,
    max_position: Option<u64>,
}

impl Collector {
    fn push<S: AsRef<str>>(&mut self, record: Result<crate::envelope::EventOf<S>, Reject>) {
        self.records += 1;
        match record {
            Ok(event) => {
                self.max_position = self.max_position.max(Some(event.position));
                self.builder.append(&event);
            }
            Err(reject) => self.rejects.push(reject),
        }
    }

    fn finish(mut self) -> Result<ParsedChunk> {
        let events = self.builder.len() as u64;
        let batch = if self.builder.is_empty() {
            None
        } else {
            Some(self.builder.finish()?)
        };
        Ok(ParsedChunk {
            batch,
            rejects: self.rejects,
            records: self.records,
            events,
            max_position: self.max_position,
        })
    }
}

/// Records mapped per parallel task when reading a non-NDJSON format.
const RECORDS_PER_TASK: usize = 4096;

/// The running state of one ingest: counts, and what crosses input boundaries.
struct Absorber<'a> {
    options: &'a IngestOptions,
    sink: &'a mut dyn IngestSink,
    summary: IngestSummary,
    /// The stored bytes read of all inputs so far.
    read: Arc<AtomicU64>,
    /// Events seen per stream so far, when versions come from read order.
    order: HashMap<String, u64>,
}

impl Absorber<'_> {
    /// Tells the sink how far reading has got.
    fn progress(&mut self) {
        self.sink.progress(self.read.load(Ordering::Relaxed));
    }

    /// Hands one parsed group to the sink, in input order.
    fn absorb(&mut self, input: &mut InputSummary, parsed: ParsedChunk) -> Result<()> {
        input.records += parsed.records;
        input.events += parsed.events;
        input.rejects += parsed.rejects.len() as u64;
        self.summary.max_position = self.summary.max_position.max(parsed.max_position);
        if let Some(batch) = parsed.batch {
            let batch = if self.options.mapping.versions_from_order() {
                number_in_order(batch, &mut self.order)?
            } else {
                batch
            };
            self.sink.events(batch)?;
        }
        self.rejects(parsed.rejects)
    }

    fn rejects(&mut self, rejects: Vec<Reject>) -> Result<()> {
        if let (true, Some(first)) = (self.options.strict, rejects.first()) {
            return Err(Error::Rejected {
                source_file: first.source_file.clone(),
                line: first.line,
                reason: first.reason.clone(),
            });
        }
        if rejects.is_empty() {
            Ok(())
        } else {
            self.sink.rejects(rejects)
        }
    }

    /// Records the damage that ended `input` early, if any; returns the
    /// input's lines and what is left of it, to hash.
    fn end(&mut self, input: &mut InputSummary, ended: Ended) -> Result<(u64, Option<Input>)> {
        if let Some(damage) = ended.damage {
            let reason = format!("{}; everything before it was read", damage.reason);
            self.input_reject(input, damage.line, damage.byte_offset, reason, &damage.raw)?;
        }
        Ok((ended.lines, ended.input))
    }

    /// Records one pseudo-record reject (damage, an empty input) for `input`.
    fn input_reject(
        &mut self,
        input: &mut InputSummary,
        line: u64,
        byte_offset: u64,
        reason: String,
        raw: &[u8],
    ) -> Result<()> {
        input.records += 1;
        input.rejects += 1;
        self.rejects(vec![Reject {
            source_file: input.name.clone(),
            line,
            byte_offset,
            field: None,
            reason,
            raw: String::from_utf8_lossy(raw).into_owned(),
        }])
    }
}

/// Numbers each event in its stream in read order (`version = "@order"`).
fn number_in_order(batch: RecordBatch, order: &mut HashMap<String, u64>) -> Result<RecordBatch> {
    let schema = batch.schema();
    let streams = batch.column(col::STREAM_ID).as_string::<i32>();
    let versions: UInt64Array = streams
        .iter()
        .map(|stream| {
            let stream = stream.unwrap_or_default();
            let count = match order.get_mut(stream) {
                Some(count) => count,
                None => order.entry(stream.to_owned()).or_insert(0),
            };
            *count += 1;
            Some(*count)
        })
        .collect();
    let mut columns = batch.columns().to_vec();
    columns[col::VERSION] = Arc::new(versions);
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Maps pending records into one parsed group.
fn map_pending(
    records: Vec<Pending>,
    file: &str,
    position_base: u64,
    mapping: &Mapping,
) -> Result<ParsedChunk> {
    let mut parsed = Collector::default();
    for record in records {
        parsed.push(record.map(file, position_base, mapping));
    }
    parsed.finish()
}

/// Reads one NDJSON input; returns its lines and the input to hash.
fn ingest_lines(
    absorber: &mut Absorber,
    input: Input,
    summary: &mut InputSummary,
    position_base: u64,
) -> Result<(u64, Option<Input>)> {
    let options = absorber.options;
    let group_size = rayon::current_num_threads().max(1) * 2;
    // A byte-order mark (Windows tools write one) is not part of the first
    // record. Should reading fail here, the first read fails again and is
    // reported as damage.
    let mut reader = ChunkReader::new(input, options);
    let name = summary.name.clone();
    let read_group = |reader: &mut ChunkReader| -> Vec<Chunk> {
        std::iter::from_fn(|| reader.next_chunk())
            .take(group_size)
            .collect()
    };
    // The next group is read (and hashed, and decompressed) while this one is
    // parsed, so reading never leaves the parsing cores idle.
    let mut group = read_group(&mut reader);
    while !group.is_empty() {
        let (parsed, next): (Vec<Result<ParsedChunk>>, Vec<Chunk>) = rayon::join(
            || {
                group
                    .par_iter()
                    .map(|chunk| chunk.parse(&name, position_base, options))
                    .collect()
            },
            || read_group(&mut reader),
        );
        for result in parsed {
            absorber.absorb(summary, result?)?;
        }
        absorber.progress();
        group = next;
    }
    absorber.end(summary, reader.end())
}

/// Reads one input of another format through its record reader.
fn ingest_records(
    absorber: &mut Absorber,
    mut reader: Box<dyn RecordReader>,
    summary: &mut InputSummary,
    position_base: u64,
) -> Result<(u64, Option<Input>)> {
    let tasks = rayon::current_num_threads().max(1) * 2;
    let name = summary.name.clone();
    loop {
        let mut records = reader.next_records(tasks * RECORDS_PER_TASK);
        if records.is_empty() {
            break;
        }
        let mut parts = Vec::new();
        while records.len() > RECORDS_PER_TASK {
            let rest = records.split_off(RECORDS_PER_TASK);
            parts.push(std::mem::replace(&mut records, rest));
        }
        parts.push(records);
        let mapping = &absorber.options.mapping;
        let parsed: Vec<Result<ParsedChunk>> = parts
            .into_par_iter()
            .map(|part| map_pending(part, &name, position_base, mapping))
            .collect();
        for result in parsed {
            absorber.absorb(summary, result?)?;
        }
        absorber.progress();
    }
    absorber.end(summary, reader.end())
}

/// Reads every input in order and feeds `sink`; returns the counts.
pub fn ingest(
    sources: &[InputSource],
    options: &IngestOptions,
    sink: &mut dyn IngestSink,
) -> Result<IngestSummary> {
    let mut absorber = Absorber {
        options,
        sink,
        summary: IngestSummary::default(),
        read: Arc::new(AtomicU64::new(0)),
        order: HashMap::new(),
    };
    let mut position_base = options.position_base;
    for source in sources {
        let name = source.name();
        let decoded = Decoded::open(source, absorber.read.clone())?;
        let mut input: Input = BufReader::with_capacity(1 << 16, decoded);
        let head = input.fill_buf().map_err(|e| Error::io(&name, e))?;
        let format = source.format(head, options);
        let mut summary = InputSummary {
            name: name.clone(),
            ..InputSummary::default()
        };
        let max_bytes = options.max_record_bytes;
        let (lines, rest) = match format {
            Format::Ndjson => ingest_lines(&mut absorber, input, &mut summary, position_base)?,
            Format::Json => {
                let reader = Box::new(ArrayReader::new(input, max_bytes));
                ingest_records(&mut absorber, reader, &mut summary, position_base)?
            }
            Format::Csv => {
                let delimiter = options.csv.delimiter_for(&name);
                let reader = Box::new(CsvReader::new(input, delimiter));
                ingest_records(&mut absorber, reader, &mut summary, position_base)?
            }
            Format::Xes => {
                let reader = Box::new(XesReader::new(input));
                ingest_records(&mut absorber, reader, &mut summary, position_base)?
            }
            Format::Parquet => {
                let reader = Box::new(ParquetReader::new(source, input, RECORDS_PER_TASK));
                ingest_records(&mut absorber, reader, &mut summary, position_base)?
            }
        };
        if summary.records == 0 && !source.continues_a_file() {
            absorber.input_reject(
                &mut summary,
                1,
                0,
                "the input holds no records (an empty file?)".into(),
                &[],
            )?;
        }
        position_base += lines;
        if let Some(rest) = rest {
            let (bytes, sha256) = rest.into_inner().finish();
            summary.bytes = bytes;
            summary.sha256 = sha256;
        }
        absorber.progress();
        let total = &mut absorber.summary;
        total.records += summary.records;
        total.events += summary.events;
        total.rejects += summary.rejects;
        total.inputs.push(summary);
    }
    absorber.summary.read_positions = position_base;
    Ok(absorber.summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        events: usize,
        rejects: Vec<Reject>,
        progress: Vec<u64>,
    }

    impl IngestSink for Collect {
        fn events(&mut self, batch: RecordBatch) -> Result<()> {
            self.events += batch.num_rows();
            Ok(())
        }

        fn rejects(&mut self, rejects: Vec<Reject>) -> Result<()> {
            self.rejects.extend(rejects);
            Ok(())
        }

        fn progress(&mut self, bytes: u64) {
            self.progress.push(bytes);
        }
    }

    #[test]
    fn progress_counts_the_stored_bytes_read_of_their_total() {
        use std::io::Write;
        let good = r#"{"stream_id":"t-1","version":1,"event_type":"X","occurred_at":1}"#;
        let lines: String = (0..2000).map(|_| format!("{good}\n")).collect();
        let csv: String = std::iter::once("stream_id,version,event_type,occurred_at\n".to_owned())
            .chain((1..=2000).map(|v| format!("t-2,{v},X,{v}\n")))
            .collect();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(csv.as_bytes()).unwrap();
        let sources = [
            memory("a.ndjson", lines),
            memory("b.csv.gz", gzip.finish().unwrap()),
        ];
        let total: u64 = sources.iter().map(|s| s.stored_len().unwrap()).sum();
        let options = IngestOptions {
            chunk_bytes: 4096,
            ..IngestOptions::default()
        };
        let mut sink = Collect::default();
        let summary = ingest(&sources, &options, &mut sink).unwrap();
        assert_eq!((summary.events, summary.rejects), (4000, 0));
        // Compressed inputs count as stored, so reading ends at the total.
        assert_eq!(sink.progress.last(), Some(&total), "{:?}", sink.progress);
        assert!(sink.progress.windows(2).all(|w| w[0] <= w[1]));
        assert!(sink.progress.len() > 2, "{:?}", sink.progress);
    }

    fn memory(name: &str, text: impl Into<bytes::Bytes>) -> InputSource {
        InputSource::Memory {
            name: name.into(),
            bytes: text.into(),
        }
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_record() {
        let good = r#"{"stream_id":"t-1","version":1,"event_type":"X","occurred_at":1}"#;
        let text = format!("\u{feff}{good}\n{}\nnot json\n", good.replace(":1,", ":2,"));
        let csv =
            "\u{feff}stream_id,version,event_type,occurred_at\nt-1,1,X,1\nt-1,2,X,1\nnot json\n";
        for name in ["log.ndjson", "log.json", "log.csv"] {
            let (text, line) = match name {
                "log.json" => (
                    format!("\u{feff}[{}]", text[3..].trim_end().replace('\n', ",\n")),
                    3,
                ),
                "log.csv" => (csv.to_owned(), 4),
                _ => (text.clone(), 3),
            };
            let mut sink = Collect::default();
            let options = IngestOptions::default();
            let summary = ingest(&[memory(name, text.clone())], &options, &mut sink).unwrap();
            assert_eq!(
                (summary.records, summary.events, summary.rejects),
                (3, 2, 1),
                "{name}: {:?}",
                sink.rejects
            );
            // Byte offsets still count from the file's start, the mark included.
            let reject = &sink.rejects[0];
            assert_eq!(reject.line, line, "{name}");
            assert_eq!(
                reject.byte_offset as usize,
                text.find("not json").unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    fn a_line_longer_than_the_maximum_is_read_past_not_held() {
        let good = r#"{"stream_id":"t-1","version":1,"event_type":"X","occurred_at":1}"#;
        let long = format!(r#"{{"stream_id":"t-1","pad":"{}"}}"#, "x".repeat(5000));
        let text = format!("{good}\n{long}\n{}\n", good.replace(":1,", ":2,"));
        let options = IngestOptions {
            chunk_bytes: 64,
            max_record_bytes: 200,
            ..IngestOptions::default()
        };
        let source = InputSource::Memory {
            name: "log".into(),
            bytes: bytes::Bytes::from(text.clone()),
        };
        let mut sink = Collect::default();
        let summary = ingest(&[source], &options, &mut sink).unwrap();
        assert_eq!(
            (summary.records, summary.events, summary.rejects),
            (3, 2, 1)
        );
        assert_eq!(sink.events, 2);
        let reject = &sink.rejects[0];
        assert_eq!(
            (reject.line, reject.byte_offset),
            (2, good.len() as u64 + 1)
        );
        assert!(
            reject.reason.starts_with(&format!(
                "record is {} bytes, longer than the maximum of 200",
                long.len()
            )),
            "{}",
            reject.reason
        );
        assert_eq!(reject.raw, long[..1024]);
        assert_eq!(summary.inputs[0].bytes, text.len() as u64);
    }
}
