//! A batch of commands larger than memory: as ingest reads it, each command
//! goes to one of [`BUCKETS`] files by the stream it targets (Arrow IPC in
//! the decision folder's `_spill`), so every command of a stream is in the
//! same bucket; then buckets are decided a few at a time, as many as fit in
//! a share of the memory limit ([`passes`]), each pass reading the snapshot
//! of its own streams. What must be known across the whole batch is kept
//! small: per command id a 128-bit hash with where the id is first issued
//! (an id seen twice is a duplicate wherever its commands land) and whether
//! the log already has it as a causation id.
//!
//! Hand-written rather than DataFusion's external sort: a stream's commands
//! need only to meet, not a total order, and deciding runs over Rust values
//! (the model's rules), not SQL.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringBuilder, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMicrosecondType};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;

use super::read::{malformed, Commands, NO_STREAM};
use super::{target_of, Rejection};
use crate::envelope::{col, Reject};
use crate::ingest::IngestSink;
use crate::model::Model;
use crate::sink::dataset::{self, TableReader};
use crate::{Error, Result};

/// The spilled batches' column of each command's read order.
pub(super) const SEQ: &str = "seq";
/// The spilled batches' column of the stream each command targets (null
/// when it names none it may target), computed once as it is read.
pub(super) const TARGET: &str = "target";

/// How many files the commands are spread over.
pub const BUCKETS: usize = 64;

/// A command's place among the batch's: `(issued_at, read order)`.
pub(super) type Place = (i64, u64);

/// What is known of a command id across the whole batch.
#[derive(Debug, Clone, Copy)]
pub(super) struct IdFacts {
    /// Where a command with this id is first issued.
    pub(super) first: Place,
    /// An event of the log has it as its causation id.
    pub(super) decided_before: bool,
}

/// Every command id of the batch, by a 128-bit hash of it (two ids sharing
/// one are not expected in any batch: about 2^-128 · n² / 2). Collected as
/// read, then sorted ([`Ids::seal`]): one entry per id, 32 bytes, without a
/// hash table's empty slots (1M ids: 32 MB where a `HashMap` took 64–84).
/// Looked up through the hash's top 16 bits ([`Ids::starts`]), so a lookup
/// searches a few entries, not all: `mark_decided_before` looks up every
/// causation id of the log (10M at 10M events), and a binary search over
/// the whole table made that 8 s slower than a hash table.
#[derive(Default)]
pub(super) struct Ids {
    /// `(hash, first place)`, sorted by hash once sealed.
    entries: Vec<(u128, Place)>,
    /// Per entry, whether the log has the id as a causation id.
    decided_before: Vec<bool>,
    /// Where the entries whose hash starts with each 16-bit prefix begin
    /// (and, at the next prefix, end).
    starts: Vec<u32>,
}

impl Ids {
    fn hash(id: &str) -> u128 {
        use std::hash::BuildHasher;
        let half = |seed| foldhash::quality::FixedState::with_seed(seed).hash_one(id);
        (u128::from(half(0x9e37_79b9)) << 64) | u128::from(half(0x7f4a_7c15))
    }

    fn saw(&mut self, id: &str, place: Place) {
        self.entries.push((Self::hash(id), place));
    }

    /// Keeps each id's first place only.
    pub(super) fn seal(&mut self) {
        self.entries.sort_unstable();
        self.entries.dedup_by_key(|(hash, _)| *hash);
        self.entries.shrink_to_fit();
        self.decided_before = vec![false; self.entries.len()];
        self.starts = (0..=1u32 << 16)
            .map(|prefix| {
                (self.entries).partition_point(|(hash, _)| ((hash >> 112) as u32) < prefix) as u32
            })
            .collect();
    }

    fn index(&self, hash: u128) -> Option<usize> {
        let prefix = (hash >> 112) as usize;
        let (from, to) = (*self.starts.get(prefix)?, *self.starts.get(prefix + 1)?);
        let range = &self.entries[from as usize..to as usize];
        let found = range.binary_search_by_key(&hash, |(h, _)| *h).ok()?;
        Some(from as usize + found)
    }

    pub(super) fn facts(&self, id: &str) -> Option<IdFacts> {
        let index = self.index(Self::hash(id))?;
        Some(IdFacts {
            first: self.entries[index].1,
            decided_before: self.decided_before[index],
        })
    }

    /// Marks the ids some event of the output at `out` has as its
    /// causation id: only that column of `events` is read.
    pub(super) fn mark_decided_before(&mut self, out: &Path) -> Result<()> {
        let events = dataset::locate(out, "events").unwrap_or_else(|| out.join("events.parquet"));
        if dataset::schema(&events)?.index_of("causation_id").is_err() {
            return Ok(());
        }
        for batch in TableReader::open(&events, Some(&["causation_id"]))? {
            let batch = batch?;
            let Some(texts) = batch.column(0).as_string_opt::<i32>() else {
                continue;
            };
            for id in texts.iter().flatten() {
                if let Some(index) = self.index(Self::hash(id)) {
                    self.decided_before[index] = true;
                }
            }
        }
        Ok(())
    }
}

/// The ingest sink of `decide`: commands spread over the bucket files, the
/// records that are no commands kept as `malformed` rejections.
pub(super) struct Spill<'a> {
    model: &'a Model,
    folder: PathBuf,
    writers: Vec<Option<StreamWriter<BufWriter<File>>>>,
    /// The batches' schema with the read order (`seq`) added.
    schema: Option<SchemaRef>,
    /// Commands read so far: the next one's read order.
    seq: u64,
    pub(super) ids: Ids,
    pub(super) rejected: Vec<Rejection>,
}

/// The bucket files written, with their sizes.
pub(super) struct Buckets {
    files: Vec<Option<(PathBuf, u64)>>,
}

impl<'a> Spill<'a> {
    /// Spills into `folder` (created).
    pub(super) fn create(folder: &Path, model: &'a Model) -> Result<Self> {
        std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
        Ok(Self {
            model,
            folder: folder.to_owned(),
            writers: (0..BUCKETS).map(|_| None).collect(),
            schema: None,
            seq: 0,
            ids: Ids::default(),
            rejected: Vec::new(),
        })
    }

    fn path(&self, bucket: usize) -> PathBuf {
        self.folder.join(format!("commands-{bucket:02}.arrows"))
    }

    /// The stream the command in `row` targets (`None` for an unknown
    /// command or one naming no valid target: it is rejected, its message
    /// made then), and its bucket: by that stream, else by the command id.
    fn target(&self, batch: &RecordBatch, row: usize) -> (Option<String>, usize) {
        use std::hash::BuildHasher;
        let text = |column: usize| {
            let array = batch.column(column).as_string::<i32>();
            array.is_valid(row).then(|| array.value(row))
        };
        let id = text(col::EVENT_ID).unwrap_or("");
        let stream = text(col::STREAM_ID).filter(|s| *s != NO_STREAM);
        let model = text(col::EVENT_TYPE).and_then(|t| self.model.commands.get(t));
        let target = model.and_then(|model| target_of(model, id, stream, text(col::PAYLOAD)).ok());
        let hasher = foldhash::quality::FixedState::with_seed(0x51_7cc1);
        let hash = match (model, &target) {
            (Some(model), Some(stream)) => hasher.hash_one((&model.aggregate, stream)),
            _ => hasher.hash_one(id),
        };
        (target, (hash % BUCKETS as u64) as usize)
    }

    /// Closes the files.
    pub(super) fn finish(mut self) -> Result<(Buckets, Ids, Vec<Rejection>)> {
        let mut files = Vec::with_capacity(BUCKETS);
        for bucket in 0..BUCKETS {
            let path = self.path(bucket);
            files.push(match self.writers[bucket].take() {
                Some(mut writer) => {
                    writer.finish()?;
                    drop(writer);
                    let bytes = std::fs::metadata(&path)
                        .map_err(|e| Error::io(&path, e))?
                        .len();
                    Some((path, bytes))
                }
                None => None,
            });
        }
        self.ids.seal();
        Ok((Buckets { files }, self.ids, self.rejected))
    }
}

impl IngestSink for Spill<'_> {
    fn events(&mut self, batch: RecordBatch) -> Result<()> {
        let rows = batch.num_rows();
        let first = self.seq;
        self.seq += rows as u64;
        let seqs = UInt64Array::from_iter_values(first..self.seq);
        let times = batch
            .column(col::OCCURRED_AT)
            .as_primitive::<TimestampMicrosecondType>();
        let ids = batch.column(col::EVENT_ID).as_string::<i32>();
        let mut rows_of: Vec<Vec<u32>> = vec![Vec::new(); BUCKETS];
        let mut targets = StringBuilder::with_capacity(rows, rows * 16);
        for row in 0..rows {
            let id = if ids.is_valid(row) {
                ids.value(row)
            } else {
                ""
            };
            self.ids.saw(id, (times.value(row), first + row as u64));
            let (target, bucket) = self.target(&batch, row);
            targets.append_option(target);
            rows_of[bucket].push(row as u32);
        }
        let schema = self
            .schema
            .get_or_insert_with(|| {
                let mut fields: Vec<Field> = (batch.schema().fields().iter())
                    .map(|f| f.as_ref().clone())
                    .collect();
                fields.push(Field::new(SEQ, DataType::UInt64, false));
                fields.push(Field::new(TARGET, DataType::Utf8, true));
                Arc::new(Schema::new(fields))
            })
            .clone();
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(seqs));
        columns.push(Arc::new(targets.finish()));
        let numbered = RecordBatch::try_new(schema.clone(), columns)?;
        for (bucket, rows) in rows_of.into_iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let part = arrow::compute::take_record_batch(&numbered, &UInt32Array::from(rows))?;
            if self.writers[bucket].is_none() {
                let path = self.path(bucket);
                let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
                self.writers[bucket] = Some(StreamWriter::try_new(BufWriter::new(file), &schema)?);
            }
            if let Some(writer) = &mut self.writers[bucket] {
                writer.write(&part)?;
            }
        }
        Ok(())
    }

    fn rejects(&mut self, rejects: Vec<Reject>) -> Result<()> {
        self.rejected.extend(rejects.into_iter().map(malformed));
        Ok(())
    }
}

impl Buckets {
    /// The buckets to decide together, in order: consecutive ones whose
    /// files add up to at most `budget` bytes (a bucket larger than that
    /// alone), the empty ones left out.
    pub(super) fn passes(&self, budget: u64) -> Vec<Vec<usize>> {
        let mut passes: Vec<Vec<usize>> = Vec::new();
        let mut held = 0;
        for (bucket, file) in self.files.iter().enumerate() {
            let Some((_, bytes)) = file else { continue };
            match passes.last_mut() {
                Some(pass) if held + bytes <= budget => {
                    pass.push(bucket);
                    held += bytes;
                }
                _ => {
                    passes.push(vec![bucket]);
                    held = *bytes;
                }
            }
        }
        passes
    }

    /// The commands of the buckets `pass`, with their [`SEQ`] and
    /// [`TARGET`] columns.
    pub(super) fn read(&self, pass: &[usize]) -> Result<Commands> {
        let mut batches = Vec::new();
        for bucket in pass {
            let Some((path, _)) = &self.files[*bucket] else {
                continue;
            };
            let file = File::open(path).map_err(|e| Error::io(path, e))?;
            for batch in StreamReader::try_new(BufReader::new(file), None)? {
                batches.push(batch?);
            }
        }
        let target_column = (batches.first()).and_then(|b| b.schema().index_of(TARGET).ok());
        Ok(Commands {
            batches,
            target_column,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_fill_up_to_the_budget_and_skip_empty_buckets() {
        let files = [Some(40), None, Some(50), Some(30), Some(200), Some(10)]
            .into_iter()
            .map(|bytes| bytes.map(|b| (PathBuf::new(), b)))
            .collect();
        let buckets = Buckets { files };
        assert_eq!(
            buckets.passes(100),
            vec![vec![0, 2], vec![3], vec![4], vec![5]]
        );
        assert_eq!(buckets.passes(1000), vec![vec![0, 2, 3, 4, 5]]);
    }

    #[test]
    fn an_id_is_first_where_it_is_issued_first_then_read_first() {
        let mut ids = Ids::default();
        ids.saw("c-1", (20, 0));
        ids.saw("c-1", (10, 5));
        ids.saw("c-1", (10, 7));
        ids.saw("c-2", (30, 1));
        ids.seal();
        assert_eq!(ids.facts("c-1").unwrap().first, (10, 5));
        assert_eq!(ids.facts("c-2").unwrap().first, (30, 1));
        assert!(ids.facts("c-3").is_none());
    }

    #[test]
    fn every_id_of_many_is_found_through_its_prefix() {
        let mut ids = Ids::default();
        for i in 0..20_000u64 {
            ids.saw(&format!("cmd-{i}"), (i as i64, i));
        }
        ids.seal();
        for i in 0..20_000u64 {
            assert_eq!(ids.facts(&format!("cmd-{i}")).unwrap().first, (i as i64, i));
        }
        assert!(ids.facts("cmd-20000").is_none());
        assert!(Ids::default().facts("cmd-1").is_none());
    }
}
