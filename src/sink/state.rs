//! State tables: one row per aggregate, typed columns from the model.
//!
//! The schema is built from the model at run time (`stream_id`, the status column,
//! `version`, `created_at`, `updated_at`, `event_count`, then the declared fields),
//! so each declared type maps to one Arrow type, listed in the README.

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::{zstd, TableWriter, FLUSH_ROWS};
use crate::envelope::timestamp_type;
use crate::model::{AggregateModel, FieldType};
use crate::replay::{StateValue, StreamState};
use crate::Result;

/// The Arrow type of a declared field type.
pub fn arrow_type(field_type: FieldType) -> DataType {
    match field_type {
        FieldType::String => DataType::Utf8,
        FieldType::Int => DataType::Int64,
        FieldType::Float => DataType::Float64,
        FieldType::Bool => DataType::Boolean,
        FieldType::Timestamp => timestamp_type(),
        FieldType::List => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
    }
}

/// The schema of `state/<aggregate>.parquet`.
pub fn state_schema(model: &AggregateModel) -> SchemaRef {
    let status = model
        .lifecycle
        .as_ref()
        .map_or("status", |l| l.status_field.as_str());
    let mut fields = vec![
        Field::new("stream_id", DataType::Utf8, false),
        Field::new(status, DataType::Utf8, true),
        Field::new("version", DataType::UInt64, false),
        Field::new("created_at", timestamp_type(), false),
        Field::new("updated_at", timestamp_type(), false),
        Field::new("event_count", DataType::UInt64, false),
    ];
    fields.extend(
        model
            .fields
            .iter()
            .map(|f| Field::new(&f.name, arrow_type(f.field_type), true)),
    );
    Arc::new(Schema::new(fields))
}

/// A builder for one declared field's column.
enum FieldColumn {
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    List(ListBuilder<StringBuilder>),
}

impl FieldColumn {
    fn new(field_type: FieldType) -> Self {
        match field_type {
            FieldType::String => FieldColumn::Str(StringBuilder::new()),
            FieldType::Int => FieldColumn::Int(Int64Builder::new()),
            FieldType::Float => FieldColumn::Float(Float64Builder::new()),
            FieldType::Bool => FieldColumn::Bool(BooleanBuilder::new()),
            FieldType::Timestamp => {
                FieldColumn::Timestamp(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
            FieldType::List => FieldColumn::List(ListBuilder::new(StringBuilder::new())),
        }
    }

    /// Appends `value`; a value of another type than the column (impossible once
    /// the model is validated) is written as null rather than panicking.
    fn append(&mut self, value: StateValue) {
        match (self, value) {
            (FieldColumn::Str(b), StateValue::Str(s)) => b.append_value(s),
            (FieldColumn::Int(b), StateValue::Int(i)) => b.append_value(i),
            (FieldColumn::Float(b), StateValue::Float(f)) => b.append_value(f),
            (FieldColumn::Float(b), StateValue::Int(i)) => b.append_value(i as f64),
            (FieldColumn::Bool(b), StateValue::Bool(v)) => b.append_value(v),
            (FieldColumn::Timestamp(b), StateValue::Timestamp(t)) => b.append_value(t),
            (FieldColumn::List(b), StateValue::List(items)) => {
                b.append_value(items.into_iter().map(Some));
            }
            (column, _) => column.append_null(),
        }
    }

    fn append_null(&mut self) {
        match self {
            FieldColumn::Str(b) => b.append_null(),
            FieldColumn::Int(b) => b.append_null(),
            FieldColumn::Float(b) => b.append_null(),
            FieldColumn::Bool(b) => b.append_null(),
            FieldColumn::Timestamp(b) => b.append_null(),
            FieldColumn::List(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            FieldColumn::Str(b) => Arc::new(b.finish()),
            FieldColumn::Int(b) => Arc::new(b.finish()),
            FieldColumn::Float(b) => Arc::new(b.finish()),
            FieldColumn::Bool(b) => Arc::new(b.finish()),
            FieldColumn::Timestamp(b) => Arc::new(b.finish()),
            FieldColumn::List(b) => ArrayBuilder::finish(b),
        }
    }
}

/// Buffers the states of one aggregate type and writes them in batches.
pub struct StateTable {
    aggregate: String,
    schema: SchemaRef,
    writer: TableWriter,
    stream_id: StringBuilder,
    status: StringBuilder,
    version: UInt64Builder,
    created_at: TimestampMicrosecondBuilder,
    updated_at: TimestampMicrosecondBuilder,
    event_count: UInt64Builder,
    fields: Vec<FieldColumn>,
}

impl StateTable {
    pub fn create(path: &std::path::Path, model: &AggregateModel) -> Result<Self> {
        let schema = state_schema(model);
        Ok(Self {
            aggregate: model.name.clone(),
            writer: TableWriter::create(path, schema.clone(), zstd())?,
            schema,
            stream_id: StringBuilder::new(),
            status: StringBuilder::new(),
            version: UInt64Builder::new(),
            created_at: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            updated_at: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            event_count: UInt64Builder::new(),
            fields: model
                .fields
                .iter()
                .map(|f| FieldColumn::new(f.field_type))
                .collect(),
        })
    }

    /// The aggregate type this table holds.
    pub fn aggregate(&self) -> &str {
        &self.aggregate
    }

    /// Buffers one row; returns whether the buffer is full and must be flushed.
    pub fn append(&mut self, state: StreamState) -> bool {
        self.stream_id.append_value(&state.stream_id);
        self.status.append_option(state.status);
        self.version.append_value(state.version);
        self.created_at
            .append_value(state.created_at.unwrap_or_default());
        self.updated_at
            .append_value(state.updated_at.unwrap_or_default());
        self.event_count.append_value(state.event_count);
        for (column, value) in self.fields.iter_mut().zip(state.fields) {
            column.append(value);
        }
        self.version.len() >= FLUSH_ROWS
    }

    /// Hands the buffered rows to the Parquet writer.
    pub fn flush(&mut self) -> Result<()> {
        if self.version.is_empty() {
            return Ok(());
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.stream_id.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.version.finish()),
            Arc::new(self.created_at.finish()),
            Arc::new(self.updated_at.finish()),
            Arc::new(self.event_count.finish()),
        ];
        columns.extend(self.fields.iter_mut().map(FieldColumn::finish));
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        self.writer.write(&batch)
    }

    /// Flushes and closes the file; returns the aggregate and its row count.
    pub fn close(mut self) -> Result<(String, u64)> {
        self.flush()?;
        let rows = self.writer.close()?;
        Ok((self.aggregate, rows))
    }
}
