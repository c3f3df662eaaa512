//! Sorted new rows merged into a sorted Parquet table without rewriting it whole.
//!
//! An incremental run writes each table as the previous output's rows and the
//! increment's, in one order. A night's events fall into few of a large
//! table's row groups (the streams that were active), so [`merge_sorted`]
//! copies every row group no new row falls into as it is, its encoded and
//! compressed column chunks spliced into the new file (parquet's
//! `append_column`, the page index kept), and decodes, merges and encodes again
//! only the row groups that take new rows. The rows are those of a full
//! rewrite; the row groups differ in size: a rewritten stretch is cut into
//! groups of at least half [`ROW_GROUP_ROWS`](super::ROW_GROUP_ROWS) (at most
//! the whole), so nights of merges do not leave slivers behind.
//!
//! Row group `i` covers the keys from its first row up to the next group's
//! first row; new rows below the first group's first key belong to the first
//! group, those after the last group's first key to the last.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::compute::{concat_batches, interleave_record_batch, SortOptions};
use arrow::datatypes::SchemaRef;
use arrow::row::{Row, RowConverter, Rows, SortField};
use bytes::{Buf, Bytes};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowRowGroupWriterFactory};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::writer::SerializedFileWriter;

use super::{writer_properties, zstd, OutputFile, TableWriter};
use crate::support::digest::{HashedWriter, PendingHash};
use crate::{Error, Result};

/// One table of an incremental run's output: the previous rows and the new.
pub struct SortedMerge<'a> {
    /// The previous table, sorted by `order`.
    pub old: &'a Path,
    /// The increment's rows of the table, sorted by `order` (absent: none).
    pub new: Option<&'a Path>,
    pub out: &'a Path,
    pub schema: SchemaRef,
    /// The columns both files and the result are sorted by.
    pub order: &'a [&'a str],
    /// Whether `order` is a key: an old row whose key a new row has is
    /// replaced by it. Otherwise equal keys keep the old row first.
    pub keyed: bool,
    /// Rows per row group written.
    pub group_rows: usize,
}

/// What a [`merge_sorted`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Merged {
    pub rows: u64,
    /// Previous row groups copied as they were.
    pub copied_groups: usize,
    /// Previous row groups decoded and merged with new rows.
    pub merged_groups: usize,
}

/// Writes `merge.old` and `merge.new` as one table in `merge.order`. A
/// missing `merge.old` has no rows. The new file's SHA-256 is computed as it
/// is written.
pub fn merge_sorted(merge: &SortedMerge) -> Result<(Merged, PendingHash)> {
    let keys = Keys::new(&merge.schema, merge.order)?;
    let mut incoming = Incoming::open(merge.new, &keys)?;
    let (mut out, hash) = SplicedFile::create(merge.out, merge.schema.clone())?;
    let mut pending = Pending::new(merge.schema.clone(), merge.group_rows);
    let mut merged = Merged::default();
    if merge.old.is_file() {
        let file = File::open(merge.old).map_err(|e| Error::io(merge.old, e))?;
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        let old = ArrowReaderMetadata::load(&file, options)?;
        // A chunk is copied only into a file of the same Parquet columns.
        let same_columns =
            old.parquet_schema().root_schema() == out.writer.schema_descr().root_schema();
        let firsts = keys.first_rows(&file, &old, merge.old)?;
        let groups = old.metadata().num_row_groups();
        for group in 0..groups {
            let upper = (group + 1 < groups).then(|| firsts.row(group + 1));
            if same_columns && !incoming.has_row_below(upper)? {
                pending.flush(&mut out)?;
                out.copy((&file, merge.old), old.metadata(), group)?;
                merged.copied_groups += 1;
                continue;
            }
            merged.merged_groups += 1;
            let rows = read_group(&file, &old, group, merge)?;
            merge_group(&rows, &keys, &mut incoming, upper, merge.keyed, |batch| {
                pending.push(batch, &mut out)
            })?;
        }
    }
    // Without a previous row group, the new rows are all there is.
    while let Some((batch, _, at)) = incoming.current()? {
        let (rows, end) = (batch.slice(at, batch.num_rows() - at), batch.num_rows());
        incoming.advance_to(end);
        pending.push(rows, &mut out)?;
    }
    pending.flush(&mut out)?;
    merged.rows = out.close()?;
    Ok((merged, hash))
}

/// Merges the rows of one previous row group with the new rows below
/// `upper` (all that are left, without one), handing the result to `emit` in
/// order.
fn merge_group(
    rows: &RecordBatch,
    keys: &Keys,
    incoming: &mut Incoming,
    upper: Option<Row>,
    keyed: bool,
    mut emit: impl FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let rows_keys = keys.of(rows)?;
    let mut next_old = 0;
    while let Some((batch, batch_keys, at)) = incoming.current()? {
        let mut indices = Vec::new();
        let mut next_new = at;
        while next_new < batch.num_rows()
            && upper.is_none_or(|upper| batch_keys.row(next_new) < upper)
        {
            let key = batch_keys.row(next_new);
            while next_old < rows.num_rows() && rows_keys.row(next_old) <= key {
                // An old row with a new row's key is replaced by it.
                if !(keyed && rows_keys.row(next_old) == key) {
                    indices.push((0, next_old));
                }
                next_old += 1;
            }
            indices.push((1, next_new));
            next_new += 1;
        }
        if !indices.is_empty() {
            emit(interleave_record_batch(&[rows, batch], &indices)?)?;
        }
        let stopped = next_new < batch.num_rows();
        incoming.advance_to(next_new);
        if stopped {
            break;
        }
    }
    emit(rows.slice(next_old, rows.num_rows() - next_old))
}

/// The rows of the Parquet table at `path`, sorted by `order`, whose key is
/// one of `wanted`'s rows (a batch of the key columns, by name, any order).
/// Only the row groups whose key range can hold a wanted key are read: what
/// an incremental run needs of its snapshot without a join, whatever the
/// table's size. The rows come in the table's order.
///
/// A table that is a folder of parts (`sink::dataset`) is read part by
/// part, each sorted alike.
pub fn rows_with_keys(
    path: &Path,
    order: &[&str],
    wanted: &RecordBatch,
) -> Result<Vec<RecordBatch>> {
    let mut found = Vec::new();
    for part in super::dataset::parts(path)? {
        found.extend(rows_with_keys_in_file(&part, order, wanted)?);
    }
    Ok(found)
}

fn rows_with_keys_in_file(
    path: &Path,
    order: &[&str],
    wanted: &RecordBatch,
) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())?;
    let schema = metadata.schema().clone();
    let keys = Keys::new(&schema, order)?;
    let wanted = keys.of(wanted)?;
    let mut sorted: Vec<Row> = wanted.iter().collect();
    sorted.sort_unstable();
    sorted.dedup();
    let set: std::collections::HashSet<&[u8]> = sorted.iter().map(|row| row.as_ref()).collect();
    let firsts = keys.first_rows(&file, &metadata, path)?;
    let groups = metadata.metadata().num_row_groups();
    let mut found = Vec::new();
    for group in 0..groups {
        // The first wanted key at or above this group's first row (any below
        // the first group's belong to no group).
        let from = match group {
            0 => 0,
            _ => sorted.partition_point(|key| *key < firsts.row(group)),
        };
        let holds = sorted.get(from).is_some_and(|key| {
            // A key equal to the next group's first may end this one too.
            group + 1 == groups || *key <= firsts.row(group + 1)
        });
        if !holds {
            continue;
        }
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
            file.try_clone().map_err(|e| Error::io(path, e))?,
            metadata.clone(),
        )
        .with_row_groups(vec![group])
        .build()?;
        for batch in reader {
            let batch = batch?;
            let rows = keys.of(&batch)?;
            let keep: arrow::array::BooleanArray = rows
                .iter()
                .map(|row| Some(set.contains(row.as_ref())))
                .collect();
            let kept = arrow::compute::filter_record_batch(&batch, &keep)?;
            if kept.num_rows() > 0 {
                found.push(kept);
            }
        }
    }
    Ok(found)
}

/// Decodes one previous row group as a single batch of `merge.schema`.
fn read_group(
    file: &File,
    metadata: &ArrowReaderMetadata,
    group: usize,
    merge: &SortedMerge,
) -> Result<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
        file.try_clone().map_err(|e| Error::io(merge.old, e))?,
        metadata.clone(),
    )
    .with_row_groups(vec![group])
    // The group in one batch: no copy to put its pieces together.
    .with_batch_size(metadata.metadata().row_group(group).num_rows().max(1) as usize)
    .build()?;
    let mut batches = reader
        .map(|batch| {
            let batch = batch?;
            Ok(RecordBatch::try_new(
                merge.schema.clone(),
                batch.columns().to_vec(),
            )?)
        })
        .collect::<Result<Vec<_>>>()?;
    match batches.len() {
        1 => Ok(batches.remove(0)),
        _ => Ok(concat_batches(&merge.schema, &batches)?),
    }
}

/// The sort key of a table's rows, in arrow's row format: compared as bytes
/// in the order the table is sorted (ascending, no nulls in a key).
struct Keys {
    names: Vec<String>,
    /// The key columns' indices in the table (for projections).
    columns: Vec<usize>,
    converter: RowConverter,
}

impl Keys {
    fn new(schema: &SchemaRef, order: &[&str]) -> Result<Self> {
        let columns = order
            .iter()
            .map(|name| schema.index_of(name))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let options = SortOptions {
            descending: false,
            nulls_first: false,
        };
        let fields = columns
            .iter()
            .map(|&column| {
                SortField::new_with_options(schema.field(column).data_type().clone(), options)
            })
            .collect();
        Ok(Self {
            names: order.iter().map(|name| name.to_string()).collect(),
            columns,
            converter: RowConverter::new(fields)?,
        })
    }

    /// The keys of a batch holding (at least) the key columns, found by name:
    /// a table's batches and projections of it alike.
    fn of(&self, batch: &RecordBatch) -> Result<Rows> {
        let columns = self
            .names
            .iter()
            .map(|name| Ok(batch.column(batch.schema().index_of(name)?).clone()))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.converter.convert_columns(&columns)?)
    }

    /// The key of each row group's first row, reading that row alone.
    fn first_rows(&self, file: &File, metadata: &ArrowReaderMetadata, path: &Path) -> Result<Rows> {
        let mut firsts = self.converter.empty_rows(0, 0);
        let projection =
            ProjectionMask::roots(metadata.parquet_schema(), self.columns.iter().copied());
        for group in 0..metadata.metadata().num_row_groups() {
            let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
                file.try_clone().map_err(|e| Error::io(path, e))?,
                metadata.clone(),
            )
            .with_row_groups(vec![group])
            .with_projection(projection.clone())
            .with_batch_size(1)
            .with_limit(1)
            .build()?;
            for batch in reader {
                let batch = batch?;
                // The projection keeps the file's column order, not the key's.
                let rows = self.of(&batch)?;
                for row in rows.iter() {
                    firsts.push(row);
                }
            }
            if firsts.num_rows() != group + 1 {
                // Not an io failure: the file is not as eventfold writes it.
                return Err(damaged(path, format!("row group {group} holds no row")));
            }
        }
        Ok(firsts)
    }
}

/// The new rows, read in order one batch at a time.
struct Incoming<'k> {
    keys: &'k Keys,
    reader: Option<ParquetRecordBatchReader>,
    batch: Option<(RecordBatch, Rows)>,
    at: usize,
}

impl<'k> Incoming<'k> {
    fn open(path: Option<&Path>, keys: &'k Keys) -> Result<Self> {
        let reader = match path {
            Some(path) => {
                let file = File::open(path).map_err(|e| Error::io(path, e))?;
                Some(ParquetRecordBatchReaderBuilder::try_new(file)?.build()?)
            }
            None => None,
        };
        Ok(Self {
            keys,
            reader,
            batch: None,
            at: 0,
        })
    }

    /// The batch holding the next new row, its keys and that row's index;
    /// `None` once every new row was taken.
    fn current(&mut self) -> Result<Option<(&RecordBatch, &Rows, usize)>> {
        while self
            .batch
            .as_ref()
            .is_none_or(|(batch, _)| self.at >= batch.num_rows())
        {
            let Some(next) = self.reader.as_mut().and_then(Iterator::next) else {
                self.batch = None;
                return Ok(None);
            };
            let next = next?;
            let keys = self.keys.of(&next)?;
            self.batch = Some((next, keys));
            self.at = 0;
        }
        Ok(self
            .batch
            .as_ref()
            .map(|(batch, keys)| (batch, keys, self.at)))
    }

    fn advance_to(&mut self, at: usize) {
        self.at = at;
    }

    /// Whether a new row is left whose key is below `upper` (any, without one).
    fn has_row_below(&mut self, upper: Option<Row>) -> Result<bool> {
        Ok(match self.current()? {
            Some((_, keys, at)) => upper.is_none_or(|upper| keys.row(at) < upper),
            None => false,
        })
    }
}

/// Merged rows waiting to be cut into row groups: a group of `group_rows` is
/// written once half as many again wait behind it, and what is left at a
/// [`Pending::flush`] is written as one group, or two halves when it is more
/// than one group's worth. So no group is under half the size unless
/// everything merged was.
struct Pending {
    schema: SchemaRef,
    group_rows: usize,
    batches: Vec<RecordBatch>,
    rows: usize,
}

impl Pending {
    fn new(schema: SchemaRef, group_rows: usize) -> Self {
        Self {
            schema,
            group_rows: group_rows.max(2),
            batches: Vec::new(),
            rows: 0,
        }
    }

    fn push(&mut self, batch: RecordBatch, out: &mut SplicedFile) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows();
        self.batches.push(batch);
        if self.rows >= self.group_rows + self.group_rows / 2 {
            let all = self.take()?;
            let mut start = 0;
            while all.num_rows() - start >= self.group_rows + self.group_rows / 2 {
                out.encode(&all.slice(start, self.group_rows))?;
                start += self.group_rows;
            }
            self.rows = all.num_rows() - start;
            self.batches.push(all.slice(start, self.rows));
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut SplicedFile) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let all = self.take()?;
        self.rows = 0;
        if all.num_rows() <= self.group_rows {
            out.encode(&all)
        } else {
            let half = all.num_rows() / 2;
            out.encode(&all.slice(0, half))?;
            out.encode(&all.slice(half, all.num_rows() - half))
        }
    }

    fn take(&mut self) -> Result<RecordBatch> {
        let batches = std::mem::take(&mut self.batches);
        Ok(concat_batches(&self.schema, &batches)?)
    }
}

/// A Parquet file written one row group at a time, each either encoded from
/// Arrow or copied from another file's encoded chunks.
struct SplicedFile {
    path: PathBuf,
    schema: SchemaRef,
    writer: SerializedFileWriter<OutputFile>,
    columns: ArrowRowGroupWriterFactory,
    rows: u64,
}

impl SplicedFile {
    fn create(path: &Path, schema: SchemaRef) -> Result<(Self, PendingHash)> {
        let (file, hash) =
            HashedWriter::hashed(TableWriter::file(path)?).map_err(|e| Error::io(path, e))?;
        // The Arrow writer's settings and schema metadata, its row groups
        // written by hand.
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(writer_properties(zstd())))?;
        let (writer, columns) = writer.into_serialized_writer()?;
        let file = Self {
            path: path.to_owned(),
            schema,
            writer,
            columns,
            rows: 0,
        };
        Ok((file, hash))
    }

    /// Writes `batch` as one row group.
    fn encode(&mut self, batch: &RecordBatch) -> Result<()> {
        let group = self.writer.flushed_row_groups().len();
        let mut writers = self.columns.create_column_writers(group)?;
        let mut leaves = writers.iter_mut();
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            for leaf in compute_leaves(field, column)? {
                let writer = leaves
                    .next()
                    .ok_or_else(|| Error::internal(&self.path, "more leaves than columns"))?;
                writer.write(&leaf)?;
            }
        }
        let mut out = self.writer.next_row_group()?;
        for writer in writers {
            writer.close()?.append_to_row_group(&mut out)?;
        }
        out.close()?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Copies row group `group` of `source` (the file at `source_path`) as it
    /// is encoded.
    fn copy(
        &mut self,
        (source, source_path): (&File, &Path),
        metadata: &ParquetMetaData,
        group: usize,
    ) -> Result<()> {
        let row_group = metadata.row_group(group);
        let page_index = |c: usize| {
            (
                metadata
                    .column_index()
                    .and_then(|groups| groups.get(group))
                    .and_then(|columns| columns.get(c))
                    .cloned(),
                metadata
                    .offset_index()
                    .and_then(|groups| groups.get(group))
                    .and_then(|columns| columns.get(c))
                    .cloned(),
            )
        };
        // The group's chunks read at once, not through an 8 KiB reader.
        let mut range: Option<(u64, u64)> = None;
        for column in row_group.columns() {
            let start = column
                .dictionary_page_offset()
                .unwrap_or_else(|| column.data_page_offset());
            let outside = || {
                damaged(
                    source_path,
                    format!("row group {group} has a column chunk outside the file"),
                )
            };
            let (Ok(start), Ok(length)) = (
                u64::try_from(start),
                u64::try_from(column.compressed_size()),
            ) else {
                return Err(outside());
            };
            let end = start
                .checked_add(length)
                .filter(|&end| end <= source.len())
                .ok_or_else(outside)?;
            let (low, high) = range.unwrap_or((start, end));
            range = Some((low.min(start), high.max(end)));
        }
        let (low, high) = range.unwrap_or_default();
        let window = Window {
            start: low,
            bytes: source.get_bytes(low, (high - low) as usize)?,
        };
        let mut out = self.writer.next_row_group()?;
        for (c, column) in row_group.columns().iter().enumerate() {
            let (column_index, offset_index) = page_index(c);
            let chunk = ColumnCloseResult {
                bytes_written: column.compressed_size() as u64,
                rows_written: row_group.num_rows() as u64,
                metadata: column.clone(),
                bloom_filter: None,
                column_index,
                offset_index,
            };
            out.append_column(&window, chunk)?;
        }
        out.close()?;
        self.rows += row_group.num_rows() as u64;
        Ok(())
    }

    fn close(self) -> Result<u64> {
        self.writer.close()?;
        Ok(self.rows)
    }
}

/// Bytes of a file read at once, addressed by their offsets in that file:
/// what a row group's chunks are copied from.
struct Window {
    start: u64,
    bytes: Bytes,
}

impl Length for Window {
    fn len(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

impl ChunkReader for Window {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let length = self.len().saturating_sub(start) as usize;
        Ok(self.get_bytes(start, length)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match start.checked_sub(self.start).map(|from| from as usize) {
            Some(from) if from.saturating_add(length) <= self.bytes.len() => {
                Ok(self.bytes.slice(from..from + length))
            }
            _ => Err(parquet::errors::ParquetError::General(format!(
                "bytes {start}..{} are not among those read ({}..{})",
                start.saturating_add(length as u64),
                self.start,
                self.len()
            ))),
        }
    }
}

/// A Parquet file of a previous output that is not as eventfold writes it
/// (damaged or replaced by hand): the error the parquet reader gives a damaged
/// file, naming it, rather than an io error, as the disk did not fail.
fn damaged(path: &Path, what: String) -> Error {
    Error::Parquet(parquet::errors::ParquetError::General(format!(
        "{}: {what}",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, StringArray, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema, UInt64Type};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;

    /// (stream, version, position, payload)
    type Row4 = (String, u64, u64, String);

    const ORDER: [&str; 3] = ["stream_id", "version", "position"];

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("position", DataType::UInt64, false),
            Field::new("stream_id", DataType::Utf8, false),
            Field::new("version", DataType::UInt64, false),
            Field::new("payload", DataType::Utf8, true),
        ]))
    }

    fn batch(rows: &[Row4]) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.0))),
                Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.3))),
            ],
        )
        .unwrap()
    }

    /// Writes `rows` (sorted) as one row group.
    fn write(path: &Path, rows: &[Row4]) {
        let mut writer = TableWriter::create(path, schema(), zstd()).unwrap();
        writer.write(&batch(rows)).unwrap();
        writer.close().unwrap();
    }

    fn read(path: &Path) -> Vec<Row4> {
        let file = File::open(path).unwrap();
        // The page index of copied chunks must point at their new place.
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
            .unwrap()
            .build()
            .unwrap();
        let mut rows = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            let position = batch.column(0).as_primitive::<UInt64Type>();
            let stream = batch.column(1).as_string::<i32>();
            let version = batch.column(2).as_primitive::<UInt64Type>();
            let payload = batch.column(3).as_string::<i32>();
            for row in 0..batch.num_rows() {
                rows.push((
                    stream.value(row).to_owned(),
                    version.value(row),
                    position.value(row),
                    payload.value(row).to_owned(),
                ));
            }
        }
        rows
    }

    fn group_sizes(path: &Path) -> Vec<i64> {
        let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        let metadata = reader.metadata();
        metadata.row_groups().iter().map(|g| g.num_rows()).collect()
    }

    fn merge_into(
        dir: &Path,
        old: &Path,
        new: &[Row4],
        order: &[&str],
        keyed: bool,
    ) -> (PathBuf, Merged) {
        let new_path = dir.join("new.parquet");
        write(&new_path, new);
        let out = dir.join("out.parquet");
        let (merged, hash) = merge_sorted(&SortedMerge {
            old,
            new: Some(&new_path),
            out: &out,
            schema: schema(),
            order,
            keyed,
            group_rows: 100,
        })
        .unwrap();
        let file = File::open(&out).unwrap();
        assert_eq!(
            hash.join().unwrap().unwrap(),
            crate::support::digest::sha256_hex_of(file).unwrap()
        );
        (out, merged)
    }

    /// 100 streams `s000`..`s099` of 10 versions each, as a table of ten row
    /// groups of 100 rows (written by a merge onto nothing).
    fn old_table(dir: &Path) -> (PathBuf, Vec<Row4>) {
        let rows: Vec<Row4> = (0..1000)
            .map(|i| (format!("s{:03}", i / 10), i % 10 + 1, i, format!("old {i}")))
            .collect();
        let (out, merged) = merge_into(dir, &dir.join("none.parquet"), &rows, &ORDER, false);
        assert_eq!((merged.copied_groups, merged.merged_groups), (0, 0));
        let old = dir.join("old.parquet");
        std::fs::rename(out, &old).unwrap();
        assert_eq!(group_sizes(&old), vec![100; 10]);
        (old, rows)
    }

    #[test]
    fn only_the_row_groups_new_rows_fall_into_are_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let (old, mut expected) = old_table(dir.path());
        let row = |stream: &str, version, position| {
            (
                stream.to_owned(),
                version,
                position,
                format!("new {position}"),
            )
        };
        // Before everything (group 0), inside s005 (group 0), after s050's
        // last row and before s051 (group 5: s0505 sorts between them), and
        // after everything (the last group).
        let new = vec![
            row("a", 1, 2000),
            row("s005", 11, 2001),
            row("s050", 11, 2002),
            row("s050", 12, 2003),
            row("s0505", 1, 2004),
            row("z", 1, 2005),
        ];
        let (out, merged) = merge_into(dir.path(), &old, &new, &ORDER, false);
        assert_eq!((merged.copied_groups, merged.merged_groups), (7, 3));
        expected.extend(new);
        expected.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
        assert_eq!(merged.rows, expected.len() as u64);
        assert_eq!(read(&out), expected);
        // Rewritten groups are cut to no less than half a group.
        let sizes = group_sizes(&out);
        assert_eq!(sizes.iter().sum::<i64>(), expected.len() as i64);
        assert!(sizes.iter().all(|&n| (50..=100).contains(&n)), "{sizes:?}");
    }

    #[test]
    fn new_rows_everywhere_rewrite_every_group_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (old, mut expected) = old_table(dir.path());
        // A new version for every stream: 100 rows among 1,000.
        let new: Vec<Row4> = (0..100)
            .map(|s| (format!("s{s:03}"), 11, 5000 + s, format!("new {s}")))
            .collect();
        let (out, merged) = merge_into(dir.path(), &old, &new, &ORDER, false);
        assert_eq!((merged.copied_groups, merged.merged_groups), (0, 10));
        expected.extend(new);
        expected.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
        assert_eq!(read(&out), expected);
        let sizes = group_sizes(&out);
        assert!(sizes.iter().all(|&n| (50..=100).contains(&n)), "{sizes:?}");
    }

    #[test]
    fn a_keyed_table_has_its_old_rows_replaced_by_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (old, rows) = old_table(dir.path());
        // Keyed by (stream, version): two old rows replaced, one added.
        let key = ["stream_id", "version"];
        let new = vec![
            ("s010".to_owned(), 3, 7000, "replaced".to_owned()),
            ("s010".to_owned(), 11, 7001, "added".to_owned()),
            ("s099".to_owned(), 10, 7002, "replaced".to_owned()),
        ];
        let (out, merged) = merge_into(dir.path(), &old, &new, &key, true);
        assert_eq!((merged.copied_groups, merged.merged_groups), (8, 2));
        let mut expected: Vec<Row4> = rows
            .into_iter()
            .filter(|r| !new.iter().any(|n| (&n.0, n.1) == (&r.0, r.1)))
            .chain(new.iter().cloned())
            .collect();
        expected.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        assert_eq!(read(&out), expected);
        assert_eq!(merged.rows, 1001);
    }

    #[test]
    fn rows_with_keys_reads_the_wanted_keys_rows_in_order() {
        let dir = tempfile::tempdir().unwrap();
        // Streams of 7 rows in groups of 100: s014 spans the first two groups.
        let rows: Vec<Row4> = (0..700)
            .map(|i| (format!("s{:03}", i / 7), i % 7 + 1, i, format!("old {i}")))
            .collect();
        let (old, _) = merge_into(
            dir.path(),
            &dir.path().join("none.parquet"),
            &rows,
            &ORDER,
            false,
        );
        assert_eq!(group_sizes(&old), vec![100; 7]);
        let check = |wanted: &[&str], rows_expected: usize| {
            let keys = RecordBatch::try_new(
                Arc::new(Schema::new(vec![Field::new(
                    "stream_id",
                    DataType::Utf8,
                    false,
                )])),
                vec![Arc::new(StringArray::from_iter_values(wanted))],
            )
            .unwrap();
            let found: Vec<String> = rows_with_keys(&old, &["stream_id"], &keys)
                .unwrap()
                .iter()
                .flat_map(|batch| {
                    let streams = batch.column(1).as_string::<i32>();
                    (0..batch.num_rows()).map(move |row| streams.value(row).to_owned())
                })
                .collect();
            let expected: Vec<String> = rows
                .iter()
                .filter(|row| wanted.contains(&row.0.as_str()))
                .map(|row| row.0.clone())
                .collect();
            assert_eq!(expected.len(), rows_expected);
            assert_eq!(found, expected, "{wanted:?}");
        };
        check(&["s099", "a", "s055", "s000", "zzz", "s055"], 21);
        // Alone, the stream that ends the first group and starts the second.
        check(&["s014"], 7);
    }

    #[test]
    fn nothing_new_copies_every_group() {
        let dir = tempfile::tempdir().unwrap();
        let (old, rows) = old_table(dir.path());
        let out = dir.path().join("out.parquet");
        let (merged, _) = merge_sorted(&SortedMerge {
            old: &old,
            new: None,
            out: &out,
            schema: schema(),
            order: &ORDER,
            keyed: false,
            group_rows: 100,
        })
        .unwrap();
        assert_eq!((merged.copied_groups, merged.merged_groups), (10, 0));
        assert_eq!(read(&out), rows);
    }
}
