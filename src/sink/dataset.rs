//! An output's table on disk is one Parquet file (`events.parquet`, as a
//! local run writes it) or a folder of parts (`events/part-00000.parquet`,
//! …: a partitioned dataset, as a distributed run writes it, each part a
//! hash partition of the streams in stream order), and every command reads
//! either as one table: DataFusion lists a folder's files as one table, and
//! the readers here go through the parts in name order. DuckDB
//! (`read_parquet('events/*.parquet')`), pyarrow (`pq.read_table('events')`)
//! and Spark read such a folder as one table too.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;

use crate::{Error, Result};

/// Where the table `name` (`events`, `state/task`, …) of the output at
/// `dir` is: its file `name.parquet`, else its folder of parts; `None` when
/// the output has neither.
pub fn locate(dir: &Path, name: &str) -> Option<PathBuf> {
    let file = dir.join(format!("{name}.parquet"));
    if file.is_file() {
        return Some(file);
    }
    let folder = dir.join(name);
    folder.is_dir().then_some(folder)
}

/// The Parquet files of a table at `path` (a file, or a folder of parts in
/// name order). A folder without parts is an error naming it.
pub fn parts(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| Error::io(path, e))?;
    let mut parts: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    if parts.is_empty() {
        return Err(Error::usage(format!(
            "{}: a table folder without Parquet parts",
            path.display()
        )));
    }
    parts.sort();
    Ok(parts)
}

/// The Arrow schema of the table at `path`: its (first) part's footer's.
pub fn schema(path: &Path) -> Result<SchemaRef> {
    let path = &parts(path)?[0];
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(ParquetRecordBatchReaderBuilder::try_new(file)?
        .schema()
        .clone())
}

/// Reads the table at `path` part after part, only the `columns` named (in
/// the table's order), or all columns when `None`. A part without a named
/// column is an error naming it.
pub struct TableReader {
    parts: std::vec::IntoIter<PathBuf>,
    columns: Option<Vec<String>>,
    current: Option<ParquetRecordBatchReader>,
}

impl TableReader {
    pub fn open(path: &Path, columns: Option<&[&str]>) -> Result<Self> {
        Ok(Self {
            parts: parts(path)?.into_iter(),
            columns: columns.map(|c| c.iter().map(|name| (*name).to_owned()).collect()),
            current: None,
        })
    }

    fn open_part(&self, path: &Path) -> Result<ParquetRecordBatchReader> {
        let columns: Option<Vec<&str>> =
            (self.columns.as_ref()).map(|columns| columns.iter().map(String::as_str).collect());
        open_file(path, columns.as_deref(), None)
    }
}

/// A reader of one Parquet file: only the `columns` named (all when `None`)
/// and the row groups `groups` (all when `None`).
pub fn open_file(
    path: &Path,
    columns: Option<&[&str]>,
    groups: Option<Vec<usize>>,
) -> Result<ParquetRecordBatchReader> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    if let Some(groups) = groups {
        builder = builder.with_row_groups(groups);
    }
    let Some(columns) = columns else {
        return Ok(builder.build()?);
    };
    let mut indices = Vec::with_capacity(columns.len());
    for name in columns {
        let index = (builder.schema().index_of(name))
            .map_err(|_| Error::usage(format!("{}: no column {name}", path.display())))?;
        indices.push(index);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    Ok(builder.with_projection(mask).build()?)
}

/// The number of row groups of the Parquet file at `path`.
pub fn row_groups(path: &Path) -> Result<usize> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(ParquetRecordBatchReaderBuilder::try_new(file)?
        .metadata()
        .num_row_groups())
}

impl Iterator for TableReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(reader) = &mut self.current {
                match reader.next() {
                    Some(batch) => return Some(batch.map_err(Error::from)),
                    None => self.current = None,
                }
            }
            let part = self.parts.next()?;
            match self.open_part(&part) {
                Ok(reader) => self.current = Some(reader),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// The tables of a folder (`state/`, `projections/`): `(name, path)` for
/// each `name.parquet` file and each `name/` folder of parts, sorted by name.
pub fn tables_in(folder: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut tables: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|path| {
            let name = if path.is_dir() {
                path.file_name()?
            } else if path.extension().is_some_and(|x| x == "parquet") {
                path.file_stem()?
            } else {
                return None;
            };
            let name = name.to_string_lossy().into_owned();
            // Hidden entries are not tables (a writer's temporary files).
            (!name.starts_with('.')).then_some((name, path))
        })
        .collect();
    tables.sort();
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_a_file_or_a_folder_of_parts() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        std::fs::write(dir.join("events.parquet"), b"").unwrap();
        std::fs::create_dir_all(dir.join("streams")).unwrap();
        for part in ["part-00001.parquet", "part-00000.parquet", "notes.txt"] {
            std::fs::write(dir.join("streams").join(part), b"").unwrap();
        }
        std::fs::create_dir_all(dir.join("findings")).unwrap();
        assert_eq!(locate(dir, "events"), Some(dir.join("events.parquet")));
        assert_eq!(locate(dir, "streams"), Some(dir.join("streams")));
        assert_eq!(locate(dir, "rejects"), None);
        assert_eq!(parts(&dir.join("events.parquet")).unwrap().len(), 1);
        let streams = parts(&dir.join("streams")).unwrap();
        assert_eq!(
            streams,
            vec![
                dir.join("streams/part-00000.parquet"),
                dir.join("streams/part-00001.parquet")
            ]
        );
        let error = parts(&dir.join("findings")).unwrap_err().to_string();
        assert!(error.contains("without Parquet parts"), "{error}");
        let names: Vec<String> = tables_in(dir).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["events", "findings", "streams"]);
    }
}
