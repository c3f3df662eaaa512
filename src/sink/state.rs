//! State tables: one row per aggregate, typed columns from the model.
//!
//! The columns are described from the model at run time (`stream_id`, the
//! status column, `version`, `created_at`, `updated_at`, `event_count`, then the
//! declared fields), so each declared type maps to one [`Kind`] and its Arrow
//! type, listed in the README.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::SchemaRef;

use super::columns::{self, ColumnDef, Columns, Kind};
use super::{zstd, TableWriter, FLUSH_ROWS};
use crate::model::{AggregateModel, FieldType};
use crate::replay::StreamState;
use crate::Result;

/// The column kind of a declared field type.
pub fn kind(field_type: FieldType) -> Kind {
    match field_type {
        FieldType::String => Kind::Text,
        FieldType::Int => Kind::Int64,
        FieldType::Float => Kind::Float64,
        FieldType::Bool => Kind::Bool,
        FieldType::Timestamp => Kind::Timestamp,
        FieldType::List => Kind::TextList,
    }
}

/// The columns of `state/<aggregate>.parquet`.
fn state_columns(model: &AggregateModel) -> Vec<ColumnDef<'_>> {
    let status = model
        .lifecycle
        .as_ref()
        .map_or("status", |l| l.status_field.as_str());
    let mut columns = vec![
        ColumnDef::new("stream_id", Kind::Text),
        ColumnDef::nullable(status, Kind::Text),
        ColumnDef::new("version", Kind::UInt64),
        ColumnDef::new("created_at", Kind::Timestamp),
        ColumnDef::new("updated_at", Kind::Timestamp),
        ColumnDef::new("event_count", Kind::UInt64),
    ];
    debug_assert_eq!(columns.len(), FIELDS_FROM);
    columns.extend(
        model
            .fields
            .iter()
            .map(|f| ColumnDef::nullable(&f.name, kind(f.field_type))),
    );
    columns
}

/// Where the declared fields start among a state table's columns.
const FIELDS_FROM: usize = 6;

/// The schema of `state/<aggregate>.parquet`.
pub fn state_schema(model: &AggregateModel) -> SchemaRef {
    columns::schema(&state_columns(model))
}

/// Buffers the states of one aggregate type and writes them in batches.
pub struct StateTable {
    aggregate: String,
    writer: TableWriter,
    columns: Columns,
    /// The column names of the status and of the declared fields.
    names: Vec<String>,
}

impl StateTable {
    pub fn create(path: &std::path::Path, model: &AggregateModel) -> Result<Self> {
        let defs = state_columns(model);
        let columns = Columns::new(&defs);
        let mut names = vec![defs[1].name.to_owned()];
        names.extend(model.fields.iter().map(|f| f.name.clone()));
        Ok(Self {
            aggregate: model.name.clone(),
            writer: TableWriter::create(path, columns.schema().clone(), zstd())?,
            columns,
            names,
        })
    }

    /// The aggregate type this table holds.
    pub fn aggregate(&self) -> &str {
        &self.aggregate
    }

    /// Buffers one row; returns whether the buffer is full and must be flushed.
    pub fn append(&mut self, state: &StreamState) -> bool {
        let (status, fields) = self.names.split_first().expect("the status column");
        let mut row = self.columns.row();
        row.text("stream_id", &state.stream_id);
        row.text_or_null(status, state.status.as_deref());
        row.uint64("version", state.version);
        row.timestamp("created_at", state.created_at.unwrap_or_default());
        row.timestamp("updated_at", state.updated_at.unwrap_or_default());
        row.uint64("event_count", state.event_count);
        for (name, value) in fields.iter().zip(&state.fields) {
            row.state_value(name, value);
        }
        drop(row);
        self.columns.len() >= FLUSH_ROWS
    }

    /// Hands the buffered rows to the Parquet writer.
    pub fn flush(&mut self) -> Result<()> {
        match self.columns.take()? {
            Some(batch) => self.writer.write(&batch),
            None => Ok(()),
        }
    }

    /// Flushes and closes the file; returns the aggregate and its row count.
    pub fn close(mut self) -> Result<(String, u64)> {
        self.flush()?;
        let rows = self.writer.close()?;
        Ok((self.aggregate, rows))
    }
}

/// What [`StateTable::append`] wrote of a state that the stream's row in
/// `streams.parquet` does not hold, read back from row `row` of a batch of
/// its state table into `state`: the status and the declared fields.
pub fn read_state(batch: &RecordBatch, row: usize, state: &mut StreamState) {
    let status = batch.column(1).as_string::<i32>();
    state.status = status.is_valid(row).then(|| Arc::from(status.value(row)));
    let fields = batch.columns()[FIELDS_FROM..].iter();
    for (value, column) in state.fields.iter_mut().zip(fields) {
        *value = columns::state_value(column, row);
    }
}
