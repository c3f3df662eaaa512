//! Keyed fold tables: `projections/<name>.parquet`, one row per key, written
//! from the rows a replay folded ([`write_projections`]) and read back as the
//! rows an incremental run goes on from ([`read_projection`]).
//!
//! The columns are the key columns in declared order (never null), then the
//! fields (nullable), typed as state fields are ([`super::state::kind`]);
//! rows are sorted by key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::Array;
use arrow::datatypes::SchemaRef;

use super::columns::{self, state_value, ColumnDef, Columns};
use super::state::kind;
use super::{zstd, TableWriter, FLUSH_ROWS};
use crate::model::KeyedProjection;
use crate::replay::keyed::{FoldTable, KeyValue, KeyedFolds};
use crate::{Error, Result};

/// The folder of the projection tables in an output folder.
pub const PROJECTIONS: &str = "projections";

/// Where the table of projection `name` is in the output folder `root`.
pub fn projection_path(root: &Path, name: &str) -> PathBuf {
    root.join(PROJECTIONS).join(format!("{name}.parquet"))
}

fn projection_columns(projection: &KeyedProjection) -> Vec<ColumnDef<'_>> {
    let keys = (projection.keys.iter()).map(|k| ColumnDef::new(&k.name, kind(k.field_type)));
    let fields =
        (projection.fields.iter()).map(|f| ColumnDef::nullable(&f.name, kind(f.field_type)));
    keys.chain(fields).collect()
}

/// The schema of `projections/<name>.parquet`.
pub fn projection_schema(projection: &KeyedProjection) -> SchemaRef {
    columns::schema(&projection_columns(projection))
}

/// Writes the table of every keyed fold under `root`; returns rows per table.
pub fn write_projections(root: &Path, folds: &KeyedFolds) -> Result<BTreeMap<String, u64>> {
    (folds.tables().iter())
        .map(|table| {
            let rows = write_projection(root, table)?;
            Ok((table.projection.name.clone(), rows))
        })
        .collect()
}

/// Writes `projections/<name>.parquet` under `root`, rows sorted by key, in
/// batches of [`FLUSH_ROWS`]; returns its row count.
pub fn write_projection(root: &Path, table: &FoldTable) -> Result<u64> {
    let projection = table.projection;
    let defs = projection_columns(projection);
    let mut columns = Columns::new(&defs);
    let path = projection_path(root, &projection.name);
    let mut writer = TableWriter::create(&path, columns.schema().clone(), zstd())?;
    for (key, values) in table.rows() {
        let mut row = columns.row();
        for (def, value) in projection.keys.iter().zip(key) {
            row.state_value(&def.name, &value.to_value());
        }
        for (def, value) in projection.fields.iter().zip(&values) {
            row.state_value(&def.name, value);
        }
        drop(row);
        if columns.len() >= FLUSH_ROWS {
            writer.write(&columns.finish()?)?;
        }
    }
    if let Some(batch) = columns.take()? {
        writer.write(&batch)?;
    }
    writer.close()
}

/// Seeds `table` with every row of the table at `path`, whose columns are
/// [`projection_schema`]'s (checked by the caller). A null key, which no
/// fold writes, is refused.
pub fn read_projection(path: &Path, table: &mut FoldTable) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    let keys = table.projection.keys.len();
    for batch in reader {
        let batch = batch?;
        let (key_columns, field_columns) = batch.columns().split_at(keys.min(batch.num_columns()));
        for row in 0..batch.num_rows() {
            let key = (key_columns.iter())
                .map(|column| KeyValue::from_value(state_value(column, row)))
                .collect::<Option<Vec<_>>>()
                .filter(|key| key.len() == keys)
                .ok_or_else(|| {
                    Error::usage(format!(
                        "{}: row {row} has a null key, which eventfold never writes (changed by hand?)",
                        path.display()
                    ))
                })?;
            let values = field_columns.iter().map(|c| state_value(c, row)).collect();
            table.seed(key, values);
        }
        debug_assert!(field_columns.iter().all(|c| c.len() == batch.num_rows()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{parse_model, StateValue};

    /// A table written and read back holds the same rows.
    #[test]
    fn a_projection_table_reads_back_as_written() {
        let model = parse_model(
            "m.toml",
            r#"
[aggregates.a.events.E]
[projections.p]
key = { k = "string", n = "int" }
fields = { c = "int", l = "list", t = "timestamp", s = "string" }
[[projections.p.on]]
events = ["E"]
key = { k = "k", n = "n" }
increment = { c = 1 }
add = { l = "x" }
min = { t = "@occurred_at" }
set = { s = "x" }
"#,
        )
        .unwrap();
        let temp = tempfile::tempdir().unwrap();
        let mut folds = KeyedFolds::new(&model.projections);
        let table = folds.table_mut("p").unwrap();
        let row = |k: &str, n| vec![KeyValue::Str(k.into()), KeyValue::Int(n)];
        let values = vec![
            StateValue::Int(3),
            StateValue::List(vec!["b".into(), "a".into()]),
            StateValue::Timestamp(7),
            StateValue::Null,
        ];
        table.seed(row("b", 1), values.clone());
        table.seed(row("a", 2), values.clone());
        let written = write_projections(temp.path(), &folds).unwrap();
        assert_eq!(written, BTreeMap::from([("p".to_owned(), 2)]));
        let path = projection_path(temp.path(), "p");
        let file = std::fs::File::open(&path).unwrap();
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let fields = |schema: &SchemaRef| schema.fields().clone();
        assert_eq!(
            fields(reader.schema()),
            fields(&projection_schema(&model.projections[0]))
        );
        let mut again = KeyedFolds::new(&model.projections);
        read_projection(&path, again.table_mut("p").unwrap()).unwrap();
        let rows: Vec<_> = again.tables()[0].rows().collect();
        assert_eq!(
            rows,
            vec![
                (row("a", 2).as_slice(), values.clone()),
                (row("b", 1).as_slice(), values)
            ]
        );
    }
}
