//! Typed rows into Arrow columns, for every table the replay writes.
//!
//! A table is described once, as a list of [`ColumnDef`]s (name, [`Kind`],
//! nullable; a fixed one in a `static` [`Table`]). Its schema ([`schema`]) and
//! its builders ([`Columns::new`]) both come from that list; [`Columns::row`] appends one row value by value, in the
//! list's order, and [`Columns::finish`] hands the buffered rows over as a batch.
//!
//! Hand-written because arrow has no row-to-column builder for typed Rust rows:
//! `arrow::array::make_builder` and `StructBuilder` give out
//! `Box<dyn ArrayBuilder>`, to be downcast through `Any` at every value, and
//! arrow-json's `Decoder::serialize` goes through serde and a JSON tape. Here
//! each column's builder is a variant of one enum, so a value costs a match on
//! that variant: no allocation and no virtual call per value, on the replay's
//! path of millions of rows. In debug builds each value is checked against its
//! column's name and kind, so a row appended out of order fails the tests.

use std::sync::{Arc, OnceLock};

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, BooleanBuilder, Float64Builder, Int64Builder,
    ListBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimestampMicrosecondType,
};

use crate::envelope::timestamp_type;
use crate::model::StateValue;
use crate::Result;

/// The types of eventfold's table columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    UInt64,
    Int64,
    Float64,
    Bool,
    /// Microseconds since the epoch, UTC.
    Timestamp,
    /// A list of texts.
    TextList,
}

impl Kind {
    /// The column's Arrow type.
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Text => DataType::Utf8,
            Kind::UInt64 => DataType::UInt64,
            Kind::Int64 => DataType::Int64,
            Kind::Float64 => DataType::Float64,
            Kind::Bool => DataType::Boolean,
            Kind::Timestamp => timestamp_type(),
            Kind::TextList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        }
    }

    fn builder(self) -> Builder {
        match self {
            Kind::Text => Builder::Text(StringBuilder::new()),
            Kind::UInt64 => Builder::UInt64(UInt64Builder::new()),
            Kind::Int64 => Builder::Int64(Int64Builder::new()),
            Kind::Float64 => Builder::Float64(Float64Builder::new()),
            Kind::Bool => Builder::Bool(BooleanBuilder::new()),
            Kind::Timestamp => Builder::Timestamp(
                TimestampMicrosecondBuilder::new().with_data_type(self.data_type()),
            ),
            Kind::TextList => Builder::TextList(ListBuilder::new(StringBuilder::new())),
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy)]
pub struct ColumnDef<'a> {
    pub name: &'a str,
    pub kind: Kind,
    pub nullable: bool,
}

impl<'a> ColumnDef<'a> {
    /// A column without nulls.
    pub const fn new(name: &'a str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            nullable: false,
        }
    }

    /// A column that may hold nulls.
    pub const fn nullable(name: &'a str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            nullable: true,
        }
    }
}

/// The schema of a table of `columns`.
pub fn schema(columns: &[ColumnDef]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c.name, c.kind.data_type(), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

/// A table of fixed columns, described in a `static`: its schema is made
/// once, on first use, and shared by every [`Columns`] of the table.
pub struct Table {
    columns: &'static [ColumnDef<'static>],
    schema: OnceLock<SchemaRef>,
}

impl Table {
    pub const fn new(columns: &'static [ColumnDef<'static>]) -> Self {
        Self {
            columns,
            schema: OnceLock::new(),
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.get_or_init(|| schema(self.columns)).clone()
    }

    /// Empty columns for the table's rows.
    pub fn columns(&self) -> Columns {
        Columns::with_schema(self.schema(), self.columns)
    }
}

/// A column's builder.
enum Builder {
    Text(StringBuilder),
    UInt64(UInt64Builder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    TextList(ListBuilder<StringBuilder>),
}

impl Builder {
    fn append_null(&mut self) {
        match self {
            Builder::Text(b) => b.append_null(),
            Builder::UInt64(b) => b.append_null(),
            Builder::Int64(b) => b.append_null(),
            Builder::Float64(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Timestamp(b) => b.append_null(),
            Builder::TextList(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::UInt64(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::TextList(b) => ArrayBuilder::finish(b),
        }
    }
}

/// A table's rows being buffered, a builder per column.
pub struct Columns {
    schema: SchemaRef,
    builders: Vec<Builder>,
    rows: usize,
}

impl Columns {
    /// Empty columns for a table of `columns`.
    pub fn new(columns: &[ColumnDef]) -> Self {
        Self::with_schema(schema(columns), columns)
    }

    /// `schema` being that of `columns`.
    fn with_schema(schema: SchemaRef, columns: &[ColumnDef]) -> Self {
        Self {
            schema,
            builders: columns.iter().map(|c| c.kind.builder()).collect(),
            rows: 0,
        }
    }

    /// The table's schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows buffered since the last [`Columns::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Starts a row: append its values in the columns' order, one each.
    pub fn row(&mut self) -> Row<'_> {
        self.rows += 1;
        Row {
            builders: self.builders.iter_mut(),
            fields: self.schema.fields().iter(),
        }
    }

    /// The buffered rows as a batch (of none, when none are), leaving the
    /// columns empty.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        self.rows = 0;
        let columns = self.builders.iter_mut().map(Builder::finish).collect();
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    /// [`Columns::finish`], or `None` when no row is buffered.
    pub fn take(&mut self) -> Result<Option<RecordBatch>> {
        if self.is_empty() {
            return Ok(None);
        }
        self.finish().map(Some)
    }
}

/// One row being appended: each method takes the next column's value, named
/// as in the table's description (checked in debug builds).
pub struct Row<'a> {
    builders: std::slice::IterMut<'a, Builder>,
    fields: std::slice::Iter<'a, arrow::datatypes::FieldRef>,
}

/// A value handed to a column of another kind or name: a bug of the caller.
/// Debug builds stop; release builds write a null, which a column without
/// nulls refuses at [`Columns::finish`] with an error.
fn mismatch(builder: &mut Builder, name: &str, kind: &str) {
    debug_assert!(false, "a {kind} value for column {name}");
    builder.append_null();
}

/// The typed appenders of [`Row`]: `method(value type) => Builder variant.append`.
macro_rules! appenders {
    ($($(#[$doc:meta])* $method:ident($value:ty) => $variant:ident.$append:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $method(&mut self, name: &str, value: $value) {
                match self.next(name) {
                    Builder::$variant(b) => b.$append(value),
                    other => mismatch(other, name, stringify!($variant)),
                }
            }
        )*
    };
}

impl Row<'_> {
    fn next(&mut self, name: &str) -> &mut Builder {
        let field = self.fields.next();
        debug_assert_eq!(field.map(|f| f.name().as_str()), Some(name));
        self.builders
            .next()
            .unwrap_or_else(|| panic!("column {name} is not in the table"))
    }

    appenders! {
        text(&str) => Text.append_value;
        text_or_null(Option<&str>) => Text.append_option;
        uint64(u64) => UInt64.append_value;
        float64_or_null(Option<f64>) => Float64.append_option;
        bool(bool) => Bool.append_value;
        /// Microseconds since the epoch, UTC.
        timestamp(i64) => Timestamp.append_value;
    }

    /// A state field's value. A value of another type than the column
    /// (impossible once the model is validated) is written as null rather
    /// than panicking; an int in a float column is written as a float.
    pub fn state_value(&mut self, name: &str, value: &StateValue) {
        match (self.next(name), value) {
            (Builder::Text(b), StateValue::Str(s)) => b.append_value(s),
            (Builder::Int64(b), StateValue::Int(i)) => b.append_value(*i),
            (Builder::Float64(b), StateValue::Float(f)) => b.append_value(*f),
            (Builder::Float64(b), StateValue::Int(i)) => b.append_value(*i as f64),
            (Builder::Bool(b), StateValue::Bool(v)) => b.append_value(*v),
            (Builder::Timestamp(b), StateValue::Timestamp(t)) => b.append_value(*t),
            (Builder::TextList(b), StateValue::List(items)) => {
                b.append_value(items.iter().map(Some));
            }
            (column, _) => column.append_null(),
        }
    }
}

/// A state field's value in row `row` of `array`, a column of the kind the
/// field's type maps to: the inverse of [`Row::state_value`].
pub fn state_value(array: &ArrayRef, row: usize) -> StateValue {
    if array.is_null(row) {
        return StateValue::Null;
    }
    match array.data_type() {
        DataType::Utf8 => StateValue::Str(array.as_string::<i32>().value(row).to_owned()),
        DataType::Int64 => StateValue::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::Float64 => StateValue::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Boolean => StateValue::Bool(array.as_boolean().value(row)),
        DataType::Timestamp(_, _) => {
            StateValue::Timestamp(array.as_primitive::<TimestampMicrosecondType>().value(row))
        }
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(row);
            let items = items.as_string::<i32>();
            StateValue::List(
                (0..items.len())
                    .filter(|i| items.is_valid(*i))
                    .map(|i| items.value(i).to_owned())
                    .collect(),
            )
        }
        // No declared field type maps to another kind.
        _ => StateValue::Null,
    }
}

impl Drop for Row<'_> {
    fn drop(&mut self) {
        // A row short of a value would shift every later row of its columns.
        debug_assert!(
            std::thread::panicking() || self.builders.len() == 0,
            "a row without a value for column {:?}",
            self.fields.next().map(|f| f.name())
        );
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Float64Array};
    use arrow::datatypes::{TimestampMicrosecondType, UInt64Type};

    use super::*;

    const TABLE: [ColumnDef; 4] = [
        ColumnDef::new("id", Kind::UInt64),
        ColumnDef::nullable("name", Kind::Text),
        ColumnDef::new("at", Kind::Timestamp),
        ColumnDef::nullable("score", Kind::Float64),
    ];

    #[test]
    fn rows_become_a_batch_of_the_described_schema() {
        let mut columns = Columns::new(&TABLE);
        assert!(columns.take().unwrap().is_none());
        for (id, name) in [(1, Some("a")), (2, None)] {
            let mut row = columns.row();
            row.uint64("id", id);
            row.text_or_null("name", name);
            row.timestamp("at", id as i64 * 10);
            row.state_value("score", &StateValue::Int(id as i64));
        }
        assert_eq!(columns.len(), 2);
        let batch = columns.take().unwrap().unwrap();
        assert!(columns.is_empty());
        assert_eq!(batch.schema(), schema(&TABLE));
        assert_eq!(
            batch.column(0).as_primitive::<UInt64Type>().values(),
            &[1, 2]
        );
        assert_eq!(batch.column(1).as_string::<i32>().value(0), "a");
        assert!(batch.column(1).is_null(1));
        let at = batch.column(2).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(at.values(), &[10, 20]);
        assert_eq!(at.timezone(), Some("UTC"));
        let score = batch.column(3).as_any().downcast_ref::<Float64Array>();
        assert_eq!(score.unwrap().values(), &[1.0, 2.0]);
        // Finished columns start again empty.
        assert_eq!(columns.finish().unwrap().num_rows(), 0);
    }

    #[test]
    fn state_values_read_back_as_written() {
        let kinds = [
            Kind::Text,
            Kind::Int64,
            Kind::Float64,
            Kind::Bool,
            Kind::Timestamp,
            Kind::TextList,
        ];
        let names = ["s", "i", "f", "b", "t", "l"];
        let defs: Vec<ColumnDef> = (names.iter().zip(kinds))
            .map(|(name, kind)| ColumnDef::nullable(name, kind))
            .collect();
        let values = [
            StateValue::Str("x".into()),
            StateValue::Int(-3),
            StateValue::Float(2.5),
            StateValue::Bool(true),
            StateValue::Timestamp(1_767_225_600_000_000),
            StateValue::List(vec!["a".into(), "b".into()]),
        ];
        let mut columns = Columns::new(&defs);
        for null in [false, true] {
            let mut row = columns.row();
            for (name, value) in names.iter().zip(&values) {
                row.state_value(name, if null { &StateValue::Null } else { value });
            }
        }
        let batch = columns.finish().unwrap();
        for (column, value) in batch.columns().iter().zip(&values) {
            assert_eq!(&state_value(column, 0), value);
            assert_eq!(state_value(column, 1), StateValue::Null);
        }
    }

    #[test]
    fn a_state_value_of_another_type_is_null() {
        let mut columns = Columns::new(&[ColumnDef::nullable("n", Kind::Int64)]);
        columns.row().state_value("n", &StateValue::Str("x".into()));
        let batch = columns.finish().unwrap();
        assert!(batch.column(0).is_null(0));
    }
}
