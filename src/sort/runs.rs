//! The run's own external sort: ingest's events into stream order under a
//! memory budget, with each row's bytes written and read once.
//!
//! While ingest parses, [`SortedRuns`] (on a background writer's thread) holds
//! batches up to a quarter of the budget, then hands them to a thread that
//! sorts them by the stream order (`aggregate_type`, `stream_id`, `version`,
//! `position`) and writes them as one sorted run, an Arrow IPC file, while the
//! next quarter fills. After ingest, [`merge`] reads all runs at once, a batch
//! a run at a time, and yields the whole log in order. When there are more
//! runs than half the budget can hold a batch of, consecutive runs are first
//! merged into longer ones.
//!
//! Why not DataFusion's sort: it sorts whole rows too, but its merge of spill
//! files reserves several batches a file from the pool, so under a few hundred
//! MiB it merges a handful of files at a time and a 10M-event log went through
//! its spill files about three times (13 GB written for a 3.6 GB log,
//! BENCHMARKS.md), on top of a staging copy of the whole log between ingest and
//! the sort. Here the staging copy is the sorted runs themselves.
//!
//! Order is total and independent of the budget, the run boundaries and the
//! threads: keys compare as `(aggregate type, stream id, version, position)`
//! tuples, texts by their bytes, which is the order of DataFusion's `ORDER BY`
//! over those columns (Arrow's row format; a test holds both to it); a run's
//! sort ranks its streams once and compares integers, in the same order. Equal
//! keys keep their read order (within a run by arrival, across runs by run
//! number, and runs hold consecutive arrivals).

use std::cmp::{Ordering, Reverse};
use std::collections::binary_heap::{BinaryHeap, PeekMut};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, RecordBatch, StringArray, UInt64Array};
use arrow::compute::interleave_record_batch;
use arrow::datatypes::UInt64Type;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;

use crate::envelope::{col, events_schema};
use crate::sink::BatchFile;
use crate::{Error, Result};

/// Rows per batch of the sorted runs (what their merge holds of each run) and
/// of the DataFusion session of a partial or incremental run (`pipeline` sets
/// it). DataFusion's sort spills its sorted runs in batches of this size and
/// its merge of spill files reserves about four batches a file, so smaller
/// batches merge more files at a time: measured at 10M events against
/// DataFusion's 8,192 when every run sorted that way (BENCHMARKS.md), 13.3 GB
/// written instead of 16 GB and a peak of ~450 MiB instead of ~630, as fast.
/// With 1,024 the 1M sort was a third slower.
pub const RUN_BATCH_ROWS: usize = 2048;

/// Rows per batch in the runs and in what [`merge`] yields.
const BATCH_ROWS: usize = RUN_BATCH_ROWS;

/// Rows per batch [`merge`] yields: the replay's batches, whose bounds the
/// pages of `events.parquet` follow (a partial run's sorted batches are cut
/// the same, so that both write the same file); the fold and the writer pay a
/// cost per batch.
pub const MERGED_ROWS: usize = 8 * 1024;

/// A sorted run on disk.
#[derive(Debug)]
struct Run {
    path: PathBuf,
    /// The largest batch it holds, in memory bytes: what merging it costs.
    batch_bytes: usize,
}

/// Writes one run file, a batch at a time.
struct RunWriter {
    path: PathBuf,
    file: FileWriter<BufWriter<File>>,
    batch_bytes: usize,
}

impl RunWriter {
    fn create(path: PathBuf) -> Result<Self> {
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(Self {
            file: FileWriter::try_new_buffered(file, &events_schema())?,
            path,
            batch_bytes: 0,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.batch_bytes = self.batch_bytes.max(batch.get_array_memory_size());
        Ok(self.file.write(batch)?)
    }

    fn finish(mut self) -> Result<Run> {
        self.file.finish()?;
        Ok(Run {
            path: self.path,
            batch_bytes: self.batch_bytes,
        })
    }
}

/// Ingest's events, sorted into runs as they come (a [`BatchFile`], so a
/// [`crate::sink::BackgroundTableWriter`] moves it to a thread of its own).
pub struct SortedRuns {
    folder: PathBuf,
    /// Bytes of batches held before they are sorted and written as a run
    /// (a quarter of the limit: one run fills while the previous is sorted).
    run_bytes: usize,
    /// Bytes a merge may hold: a batch of every run it reads.
    merge_bytes: usize,
    pending: Vec<RecordBatch>,
    pending_bytes: usize,
    /// The thread sorting the previous run.
    sorting: Option<std::thread::JoinHandle<Result<(Run, std::time::Duration)>>>,
    /// The sorting threads' time so far.
    sorting_time: std::time::Duration,
    runs: Vec<Run>,
    /// The number of the next run file (names sort in creation order).
    next_run: usize,
    rows: u64,
}

impl SortedRuns {
    /// Sorts into `folder` (created) within `memory_limit` bytes.
    pub fn create(folder: &Path, memory_limit: usize) -> Result<Self> {
        std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
        Ok(Self {
            folder: folder.to_owned(),
            run_bytes: (memory_limit / 4).max(1),
            merge_bytes: memory_limit / 2,
            pending: Vec::new(),
            pending_bytes: 0,
            sorting: None,
            sorting_time: std::time::Duration::ZERO,
            runs: Vec::new(),
            next_run: 0,
            rows: 0,
        })
    }

    /// The path of the next file: numbered, so names sort in creation order.
    fn next_path(&mut self, extension: &str) -> PathBuf {
        self.next_run += 1;
        self.folder
            .join(format!("run-{:08}{extension}", self.next_run))
    }

    /// Hands the held batches to a thread that sorts and writes them as the
    /// next run, after the previous run's thread is done: one run fills while
    /// the one before is sorted, and no more than two are held.
    fn spill(&mut self) -> Result<()> {
        self.wait_sorting()?;
        let batches = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        if batches.is_empty() {
            return Ok(());
        }
        let path = self.next_path(RUN_EXTENSION);
        let sorting = std::thread::Builder::new()
            .name("eventfold-sort".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let run = sort_run(&batches, path);
                run.map(|run| (run, started.elapsed()))
            })
            .map_err(|e| Error::io(&self.folder, e))?;
        self.sorting = Some(sorting);
        Ok(())
    }

    /// Waits for the run being sorted, if any.
    fn wait_sorting(&mut self) -> Result<()> {
        if let Some(sorting) = self.sorting.take() {
            let run = crate::error::joined(sorting, &self.folder, "sorting")?;
            self.runs.push(run.0);
            self.sorting_time += run.1;
        }
        Ok(())
    }

    /// Merges runs until one merge can read them all at once.
    fn merge_down(&mut self) -> Result<()> {
        loop {
            let largest = self.runs.iter().map(|r| r.batch_bytes).max().unwrap_or(0);
            let fan_in = (self.merge_bytes / largest.max(1)).clamp(2, MAX_FAN_IN);
            if self.runs.len() <= fan_in {
                return Ok(());
            }
            // Consecutive runs, so equal keys keep their read order.
            let groups: Vec<Vec<Run>> = {
                let mut runs = std::mem::take(&mut self.runs).into_iter().peekable();
                let mut groups = Vec::new();
                while runs.peek().is_some() {
                    groups.push(runs.by_ref().take(fan_in).collect());
                }
                groups
            };
            for group in groups {
                let mut writer = RunWriter::create(self.next_path(RUN_EXTENSION))?;
                let mut merged = Merge::open(group.iter().map(|run| run.path.as_path()))?;
                while let Some(batch) = merged.next_batch()? {
                    writer.write(&batch)?;
                }
                // The merge deleted the group's runs as it read them.
                self.runs.push(writer.finish()?);
            }
        }
    }

    /// Merges the sorted id hash files, [`MAX_FAN_IN`] at a time, until at
    /// most that many are left (their order does not matter).
    fn merge_ids_down(&mut self) -> Result<()> {
        loop {
            let files = files_ending(&self.folder, ID_EXTENSION)?;
            if files.len() <= MAX_FAN_IN {
                return Ok(());
            }
            for group in files.chunks(MAX_FAN_IN) {
                let path = self.next_path(ID_EXTENSION);
                let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
                let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
                merge_hashes(group, self.merge_bytes, |hash| {
                    std::io::Write::write_all(&mut out, &hash.to_le_bytes())
                        .map_err(|e| Error::io(&path, e))
                })?;
                std::io::Write::flush(&mut out).map_err(|e| Error::io(&path, e))?;
                remove(group.iter().map(PathBuf::as_path))?;
            }
        }
    }
}

/// Sorts `batches` by the key and writes them as the run `path`, with the
/// sorted hashes of their event ids beside it (the same name, [`ID_EXTENSION`]).
fn sort_run(batches: &[RecordBatch], path: PathBuf) -> Result<Run> {
    let order = run_order(batches);
    write_id_hashes(batches, &path.with_extension(&ID_EXTENSION[1..]))?;
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    let mut writer = RunWriter::create(path)?;
    for indices in order.chunks(BATCH_ROWS) {
        writer.write(&interleave_record_batch(&refs, indices)?)?;
    }
    writer.finish()
}

/// The rows of `batches` in key order, as `(batch, row)`; equal keys keep
/// their arrival order.
///
/// The order of [`Keys::key`] tuples (what [`Merge`] compares across runs).
/// Comparing the texts of every pair the sort looks at costs more than
/// ranking each distinct stream (aggregate type and id) once and sorting the
/// rows by integers: a stream's events are many to one run.
fn run_order(batches: &[RecordBatch]) -> Vec<(usize, usize)> {
    let mut ranks: foldhash::HashMap<(&str, &str), u32> = foldhash::HashMap::default();
    let mut rows: Vec<(u32, u64, u64, u32, u32)> = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let aggregates = batch.column(col::AGGREGATE_TYPE).as_string::<i32>();
        let streams = batch.column(col::STREAM_ID).as_string::<i32>();
        let versions = batch.column(col::VERSION).as_primitive::<UInt64Type>();
        let positions = batch.column(col::POSITION).as_primitive::<UInt64Type>();
        for r in 0..batch.num_rows() {
            let next = ranks.len() as u32;
            let stream = *ranks
                .entry((aggregates.value(r), streams.value(r)))
                .or_insert(next);
            rows.push((
                stream,
                versions.value(r),
                positions.value(r),
                b as u32,
                r as u32,
            ));
        }
    }
    // Each stream's place among the run's streams replaces its number of
    // first arrival.
    let mut streams: Vec<((&str, &str), u32)> = ranks.into_iter().collect();
    streams.sort_unstable();
    let mut rank = vec![0u32; streams.len()];
    for (place, (_, first)) in streams.iter().enumerate() {
        rank[*first as usize] = place as u32;
    }
    for row in &mut rows {
        row.0 = rank[row.0 as usize];
    }
    // Ties keep arrival order: (batch, row) is it.
    rows.sort_unstable();
    rows.into_iter()
        .map(|(_, _, _, b, r)| (b as usize, r as usize))
        .collect()
}

/// Writes the sorted hashes of the batches' event ids to `path`.
fn write_id_hashes(batches: &[RecordBatch], path: &Path) -> Result<()> {
    let mut hashes: Vec<u64> = Vec::new();
    for batch in batches {
        let ids = batch.column(col::EVENT_ID).as_string::<i32>();
        hashes.extend(ids.iter().map(|id| id_hash(id.unwrap_or_default())));
    }
    hashes.sort_unstable();
    let bytes: Vec<u8> = hashes.iter().flat_map(|h| h.to_le_bytes()).collect();
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

fn remove<'p>(files: impl IntoIterator<Item = &'p Path>) -> Result<()> {
    for path in files {
        std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

impl BatchFile for SortedRuns {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        self.pending_bytes += batch.get_array_memory_size();
        self.pending.push(batch.clone());
        if self.pending_bytes >= self.run_bytes {
            self.spill()?;
        }
        Ok(())
    }

    fn close(self) -> Result<u64> {
        Ok(self.close_timed()?.0)
    }

    /// Also returns the sorting threads' milliseconds.
    fn close_timed(mut self) -> Result<(u64, u64)> {
        self.spill()?;
        self.wait_sorting()?;
        self.merge_down()?;
        self.merge_ids_down()?;
        Ok((
            self.rows,
            crate::support::metrics::millis(self.sorting_time),
        ))
    }

    fn path(&self) -> &Path {
        &self.folder
    }
}

const RUN_EXTENSION: &str = ".arrow";

/// The most files one merge reads at once (runs or id hashes), well under
/// the open-file limits of common systems (1,024).
pub const MAX_FAN_IN: usize = 128;
/// The sorted event id hashes of each first-level run, little-endian `u64`s.
const ID_EXTENSION: &str = ".ids";

/// The hash by which duplicate event ids are found: equal for equal ids, and
/// the same on every run and machine.
pub fn id_hash(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

/// The hashes that more than one event's id has, from the sorted hashes
/// [`SortedRuns`] left (at most [`MAX_FAN_IN`] files): a merge that reads
/// `memory_limit / 2` bytes of them at a time. Equal hashes are usually equal
/// ids; the caller compares the ids.
pub fn repeated_id_hashes(
    folder: &Path,
    memory_limit: usize,
) -> Result<std::collections::HashSet<u64>> {
    let files = files_ending(folder, ID_EXTENSION)?;
    // The two halves of the hash space on two threads: a hash is in one.
    const HALF: u64 = 1 << 63;
    let budget = memory_limit / 4;
    std::thread::scope(|scope| {
        let high = std::thread::Builder::new()
            .name("eventfold-ids".into())
            .spawn_scoped(scope, || repeated_in(&files, budget, HALF, None))
            .map_err(|e| Error::io(folder, e))?;
        let mut repeated = repeated_in(&files, budget, 0, Some(HALF))?;
        repeated.extend(crate::error::ended(high.join(), folder, "id merging")?);
        Ok(repeated)
    })
}

/// The hashes in `from..until` (to the end without `until`) that the sorted
/// hash `files` hold more than once.
fn repeated_in(
    files: &[PathBuf],
    budget: usize,
    from: u64,
    until: Option<u64>,
) -> Result<std::collections::HashSet<u64>> {
    let (mut repeated, mut last) = (std::collections::HashSet::new(), None);
    // Half the single merge's buffers each: the two hold what one did.
    merge_hashes_from(files, budget, 1 << 19, from, |hash| {
        if until.is_some_and(|until| hash >= until) {
            return Ok(false);
        }
        if last == Some(hash) {
            repeated.insert(hash);
        }
        last = Some(hash);
        Ok(true)
    })?;
    Ok(repeated)
}

/// The byte offset of the first hash not below `from` in the sorted hash
/// file `path`, by binary search.
fn first_at_least(file: &mut File, path: &Path, from: u64) -> Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    if from == 0 {
        return Ok(0);
    }
    let length = file.metadata().map_err(|e| Error::io(path, e))?.len() / 8;
    let (mut low, mut high) = (0u64, length);
    while low < high {
        let middle = low + (high - low) / 2;
        let mut bytes = [0u8; 8];
        file.seek(SeekFrom::Start(middle * 8))
            .and_then(|_| file.read_exact(&mut bytes))
            .map_err(|e| Error::io(path, e))?;
        if u64::from_le_bytes(bytes) < from {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    Ok(low * 8)
}

/// Calls `each` with the hashes of the sorted hash `files` in order, reading
/// `budget` bytes of them at a time.
fn merge_hashes(
    files: &[PathBuf],
    budget: usize,
    mut each: impl FnMut(u64) -> Result<()>,
) -> Result<()> {
    merge_hashes_from(files, budget, 1 << 20, 0, |hash| each(hash).map(|()| true))
}

/// [`merge_hashes`] of the hashes not below `from`, until `each` says `false`,
/// with at most `max_buffer` bytes a file.
fn merge_hashes_from(
    files: &[PathBuf],
    budget: usize,
    max_buffer: usize,
    from: u64,
    mut each: impl FnMut(u64) -> Result<bool>,
) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let buffer = (budget / files.len().max(1)).clamp(4096, max_buffer);
    let mut readers = files
        .iter()
        .map(|path| {
            let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
            let start = first_at_least(&mut file, path, from)?;
            file.seek(SeekFrom::Start(start))
                .map_err(|e| Error::io(path, e))?;
            Ok((path, std::io::BufReader::with_capacity(buffer, file)))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut next = |i: usize| -> Result<Option<u64>> {
        let (path, reader) = &mut readers[i];
        let mut bytes = [0u8; 8];
        match reader.read_exact(&mut bytes) {
            Ok(()) => Ok(Some(u64::from_le_bytes(bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(Error::io(path.as_path(), e)),
        }
    };
    let mut heap = BinaryHeap::new();
    for i in 0..files.len() {
        if let Some(hash) = next(i)? {
            heap.push(Reverse((hash, i)));
        }
    }
    while let Some(Reverse((hash, i))) = heap.pop() {
        if !each(hash)? {
            return Ok(());
        }
        if let Some(hash) = next(i)? {
            heap.push(Reverse((hash, i)));
        }
    }
    Ok(())
}

/// The files in `folder` whose names end with `ending`, by name.
fn files_ending(folder: &Path, ending: &str) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(|e| Error::io(folder, e))? {
        let path = entry.map_err(|e| Error::io(folder, e))?.path();
        if path.to_string_lossy().ends_with(ending) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// A batch's key columns, compared as tuples: the order of their row format
/// (see [`run_order`]) without converting them.
struct Keys {
    aggregates: StringArray,
    streams: StringArray,
    versions: UInt64Array,
    positions: UInt64Array,
}

impl Keys {
    fn of(batch: &RecordBatch) -> Self {
        Self {
            aggregates: batch.column(col::AGGREGATE_TYPE).as_string::<i32>().clone(),
            streams: batch.column(col::STREAM_ID).as_string::<i32>().clone(),
            versions: batch
                .column(col::VERSION)
                .as_primitive::<UInt64Type>()
                .clone(),
            positions: batch
                .column(col::POSITION)
                .as_primitive::<UInt64Type>()
                .clone(),
        }
    }

    fn key(&self, row: usize) -> (&str, &str, u64, u64) {
        (
            self.aggregates.value(row),
            self.streams.value(row),
            self.versions.value(row),
            self.positions.value(row),
        )
    }
}

/// One run being read: its current batch.
struct Cursor {
    /// `None` once the run is read to its end (and its file deleted).
    reader: Option<FileReader<std::io::BufReader<File>>>,
    path: PathBuf,
    batch: RecordBatch,
    /// The current batch's index in the merge's `held` batches.
    slot: usize,
}

/// A run's place in the merge's heap: the next row of its current batch,
/// ordered by that row's key, then by the run's index (runs were cut in read
/// order, so equal keys keep it).
struct Head {
    /// The keys of the cursor's current batch (boxed: the heap moves heads).
    keys: Box<Keys>,
    row: usize,
    cursor: usize,
}

impl Head {
    fn key(&self) -> ((&str, &str, u64, u64), usize) {
        (self.keys.key(self.row), self.cursor)
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// A k-way merge of sorted runs, which deletes each run's file once it has
/// read it to its end.
pub struct Merge {
    cursors: Vec<Cursor>,
    /// The runs not read to their end, smallest next row first.
    heap: BinaryHeap<Reverse<Head>>,
    /// Batches the next output batch takes rows from.
    held: Vec<RecordBatch>,
    out: Vec<(usize, usize)>,
}

impl Merge {
    fn open<'p>(runs: impl IntoIterator<Item = &'p Path>) -> Result<Self> {
        let mut merge = Self {
            cursors: Vec::new(),
            heap: BinaryHeap::new(),
            held: Vec::new(),
            out: Vec::with_capacity(MERGED_ROWS),
        };
        for path in runs {
            let file = File::open(path).map_err(|e| Error::io(path, e))?;
            let mut reader = FileReader::try_new_buffered(file, None)?;
            if let Some(batch) = next_nonempty(&mut reader)? {
                merge.heap.push(Reverse(Head {
                    keys: Box::new(Keys::of(&batch)),
                    row: 0,
                    cursor: merge.cursors.len(),
                }));
                merge.held.push(batch.clone());
                merge.cursors.push(Cursor {
                    reader: Some(reader),
                    path: path.to_owned(),
                    batch,
                    slot: merge.held.len() - 1,
                });
            } else {
                // Nothing to read: done with at once.
                drop(reader);
                std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
            }
        }
        Ok(merge)
    }

    /// The next batch in order, `None` after the last.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        while self.out.len() < MERGED_ROWS {
            // Changed in place, the head sinks to its place when `top` drops.
            let Some(mut top) = self.heap.peek_mut() else {
                break;
            };
            let head = &mut top.0;
            let cursor = &mut self.cursors[head.cursor];
            self.out.push((cursor.slot, head.row));
            head.row += 1;
            if head.row == cursor.batch.num_rows() {
                let next = match cursor.reader.as_mut() {
                    Some(reader) => next_nonempty(reader)?,
                    None => None,
                };
                match next {
                    Some(batch) => {
                        *head.keys = Keys::of(&batch);
                        head.row = 0;
                        cursor.slot = self.held.len();
                        cursor.batch = batch.clone();
                        self.held.push(batch);
                    }
                    None => {
                        // Exhausted: its file is closed and deleted now, so
                        // the system frees its pages while the merge goes on
                        // (at 10M, deleting all runs at the end took 1.3 s);
                        // its last batch is let go once taken from.
                        cursor.reader = None;
                        std::fs::remove_file(&cursor.path)
                            .map_err(|e| Error::io(&cursor.path, e))?;
                        cursor.batch = RecordBatch::new_empty(cursor.batch.schema());
                        PeekMut::pop(top);
                    }
                }
            }
        }
        if self.out.is_empty() {
            return Ok(None);
        }
        let refs: Vec<&RecordBatch> = self.held.iter().collect();
        let batch = interleave_record_batch(&refs, &self.out)?;
        self.out.clear();
        // Only the cursors' current batches are still needed.
        self.held.clear();
        for cursor in &mut self.cursors {
            cursor.slot = self.held.len();
            self.held.push(cursor.batch.clone());
        }
        Ok(Some(batch))
    }
}

fn next_nonempty(reader: &mut FileReader<std::io::BufReader<File>>) -> Result<Option<RecordBatch>> {
    for batch in reader.by_ref() {
        let batch = batch?;
        if batch.num_rows() > 0 {
            return Ok(Some(batch));
        }
    }
    Ok(None)
}

/// The events of the runs [`SortedRuns`] left in `folder`, in order; each
/// run's file is deleted once read.
pub fn merge(folder: &Path) -> Result<Merge> {
    let runs = files_ending(folder, RUN_EXTENSION)?;
    Merge::open(runs.iter().map(PathBuf::as_path))
}

impl Iterator for Merge {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Event, EventBatchBuilder};
    use arrow::array::ArrayRef;
    use arrow::row::{RowConverter, Rows, SortField};

    /// The sort key's columns, in order.
    const KEY: [usize; 4] = [
        col::AGGREGATE_TYPE,
        col::STREAM_ID,
        col::VERSION,
        col::POSITION,
    ];

    /// Converts a batch's key columns into comparable rows.
    fn key_converter() -> Result<RowConverter> {
        let schema = events_schema();
        let fields = KEY
            .iter()
            .map(|&i| SortField::new(schema.field(i).data_type().clone()))
            .collect();
        Ok(RowConverter::new(fields)?)
    }

    fn key_rows(converter: &RowConverter, batch: &RecordBatch) -> Result<Rows> {
        let columns: Vec<ArrayRef> = KEY.iter().map(|&i| batch.column(i).clone()).collect();
        Ok(converter.convert_columns(&columns)?)
    }

    /// Events with many equal keys (a few streams, versions and positions),
    /// numbered by arrival in `source`.
    fn events(count: usize) -> Vec<Event> {
        // A fixed linear congruential sequence: the same log on every run.
        let mut state = 12345u64;
        let mut next = |m: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 33) % m
        };
        (0..count)
            .map(|i| Event {
                position: next(5),
                // Every seventh id is one of twenty used again.
                event_id: match i % 7 {
                    0 => format!("again-{}", i % 20),
                    _ => format!("{i:06}"),
                },
                stream_id: format!("s-{}", next(13)),
                aggregate_type: ["task", "project", "t"][next(3) as usize].into(),
                version: next(4),
                event_type: "Happened".into(),
                schema_version: 1,
                occurred_at: 0,
                actor: None,
                correlation_id: None,
                causation_id: None,
                tenant: None,
                payload: Some("x".repeat(next(200) as usize)),
                metadata: None,
                source: format!("log:{i}"),
            })
            .collect()
    }

    /// Sorts `events` through runs of `memory_limit` bytes, in batches of up
    /// to 97 rows, and returns the sources in merged order, the number of
    /// runs sorted from ingest's batches and the number left to merge; checks
    /// the repeated id hashes on the way.
    fn sorted(events: &[Event], memory_limit: usize) -> (Vec<String>, usize, usize) {
        let folder = tempfile::tempdir().unwrap();
        let mut runs = SortedRuns::create(folder.path(), memory_limit).unwrap();
        for chunk in events.chunks(97) {
            let mut builder = EventBatchBuilder::new();
            chunk.iter().for_each(|e| builder.append(e));
            runs.write(&builder.finish().unwrap()).unwrap();
        }
        runs.spill().unwrap();
        let written = runs.next_run;
        let rows = runs.close().unwrap();
        assert_eq!(rows, events.len() as u64);
        let left = files_ending(folder.path(), RUN_EXTENSION).unwrap().len();
        let id_files = files_ending(folder.path(), ID_EXTENSION).unwrap().len();
        assert!(
            id_files <= MAX_FAN_IN.min(written),
            "{id_files} id hash files"
        );
        let mut seen = std::collections::HashMap::<&str, usize>::new();
        events
            .iter()
            .for_each(|e| *seen.entry(&e.event_id).or_default() += 1);
        let again: std::collections::HashSet<u64> = seen
            .iter()
            .filter(|(_, &n)| n > 1)
            .map(|(id, _)| id_hash(id))
            .collect();
        let repeated = repeated_id_hashes(folder.path(), memory_limit).unwrap();
        assert_eq!(repeated, again);
        assert_eq!(again.len(), if events.len() > 140 { 20 } else { 0 });
        // Both halves of the hash space, merged on two threads, hold some.
        if !again.is_empty() {
            assert!(again.iter().any(|h| h >> 63 == 0) && again.iter().any(|h| h >> 63 == 1));
        }
        let mut ids = Vec::new();
        for batch in merge(folder.path()).unwrap() {
            let batch = batch.unwrap();
            assert!(batch.num_rows() <= MERGED_ROWS);
            let column = batch.column(col::SOURCE).as_string::<i32>();
            ids.extend(column.iter().map(|v| v.unwrap().to_owned()));
        }
        // Read to their ends, the runs are gone.
        assert!(files_ending(folder.path(), RUN_EXTENSION)
            .unwrap()
            .is_empty());
        (ids, written, left)
    }

    /// What a stable sort by the key gives.
    fn expected(events: &[Event]) -> Vec<String> {
        let mut order: Vec<&Event> = events.iter().collect();
        order.sort_by(|a, b| a.stream_order().cmp(&b.stream_order()));
        order.iter().map(|e| e.source.clone()).collect()
    }

    #[test]
    fn one_run_in_memory_sorts_stably() {
        let events = events(3_000);
        let (ids, written, left) = sorted(&events, 1 << 30);
        assert_eq!((written, left), (1, 1));
        assert_eq!(ids, expected(&events));
    }

    #[test]
    fn many_runs_merge_in_levels_to_the_same_order() {
        let events = events(20_000);
        // Runs of ~40 KB, merges of a few runs at a time: several levels.
        let (ids, written, left) = sorted(&events, 120_000);
        assert!(
            written > 50 && left < 10,
            "{written} runs merged down to {left}"
        );
        assert_eq!(ids, expected(&events));
    }

    #[test]
    fn runs_and_merges_sort_as_the_row_format_compares() {
        // Texts whose byte order differs from their length or case order.
        let texts = [
            "", "a", "a\u{0}", "ab", "aB", "Z", "é", "e\u{301}", "s-10", "s-9",
        ];
        let mut builder = EventBatchBuilder::new();
        let mut state = 7u64;
        for i in 0..400u64 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            let pick = |shift: u32| texts[((state >> shift) % texts.len() as u64) as usize];
            let mut event = events(1).remove(0);
            event.aggregate_type = pick(40).into();
            event.stream_id = pick(50).into();
            event.version = (state >> 60) % 3;
            event.position = (state >> 20) % 4;
            event.source = format!("log:{i}");
            builder.append(&event);
        }
        let batch = builder.finish().unwrap();
        let batches = [batch.slice(0, 150), batch.slice(150, 250)];
        let converter = key_converter().unwrap();
        let keys: Vec<Rows> = batches
            .iter()
            .map(|b| key_rows(&converter, b).unwrap())
            .collect();
        let mut by_rows: Vec<(usize, usize)> = (0..2)
            .flat_map(|b| (0..batches[b].num_rows()).map(move |r| (b, r)))
            .collect();
        by_rows.sort_by(|&(ab, ar), &(bb, br)| keys[ab].row(ar).cmp(&keys[bb].row(br)));
        assert_eq!(run_order(&batches), by_rows);
        // The merge's comparison, the same.
        let tuples: Vec<Keys> = batches.iter().map(Keys::of).collect();
        let mut by_tuples = by_rows.clone();
        by_tuples.sort_by_key(|&(b, r)| (b, r));
        by_tuples.sort_by(|&(ab, ar), &(bb, br)| tuples[ab].key(ar).cmp(&tuples[bb].key(br)));
        assert_eq!(by_tuples, by_rows);
    }

    #[test]
    fn nothing_staged_merges_to_nothing() {
        let (ids, written, left) = sorted(&[], 1 << 20);
        assert!(ids.is_empty());
        assert_eq!((written, left), (0, 0));
    }
}
