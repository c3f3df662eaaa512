//! Exports of an output folder for process-mining tools: [`xes`] (IEEE 1849,
//! the case-centric log of one aggregate type) and [`ocel`] (OCEL 2.0, JSON
//! and SQLite: every aggregate an object, every event related to the objects
//! it touches). Both read the output's tables through a DataFusion session
//! (sorted and streamed batch by batch, so they spill under the memory limit
//! rather than hold the log). This module holds what they share: the values
//! of a column as attribute values, the payload's top-level fields as
//! attributes, and XES's and OCEL's time format.

pub mod ocel;
pub mod xes;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use crate::{Error, Result};

/// One attribute value, typed as XES and OCEL type them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Microseconds since the epoch, UTC.
    Time(i64),
}

impl Value {
    /// The OCEL 2.0 attribute type of the value.
    pub fn ocel_type(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Bool(_) => "boolean",
            Value::Time(_) => "time",
        }
    }

    /// The value as JSON (a time as its ISO 8601 text).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Str(text) => text.as_str().into(),
            Value::Int(number) => (*number).into(),
            Value::Float(number) => serde_json::Number::from_f64(*number)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Bool(flag) => (*flag).into(),
            Value::Time(micros) => iso_time(*micros).into(),
        }
    }

    /// The value as text (a time as ISO 8601).
    pub fn to_text(&self) -> String {
        match self {
            Value::Str(text) => text.clone(),
            Value::Int(number) => number.to_string(),
            Value::Float(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            Value::Time(micros) => iso_time(*micros),
        }
    }
}

/// ISO 8601 in UTC with an explicit offset, as XES and OCEL write times:
/// `2026-01-05T08:00:48+00:00`, with a fraction only when there is one.
pub fn iso_time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
        .unwrap_or_default()
}

/// The top-level fields of a JSON payload as attributes, in key order: scalars as themselves, objects and arrays as their JSON text,
/// nulls left out. A payload that is not a JSON object gives none.
pub fn payload_attributes(payload: Option<&str>) -> Vec<(String, Value)> {
    let Some(Ok(serde_json::Value::Object(fields))) =
        payload.map(serde_json::from_str::<serde_json::Value>)
    else {
        return Vec::new();
    };
    fields
        .into_iter()
        .filter_map(|(key, value)| {
            let value = match value {
                serde_json::Value::Null => return None,
                serde_json::Value::Bool(flag) => Value::Bool(flag),
                serde_json::Value::String(text) => Value::Str(text),
                serde_json::Value::Number(number) => match number.as_i64() {
                    Some(int) => Value::Int(int),
                    None => Value::Float(number.as_f64().unwrap_or(f64::NAN)),
                },
                nested => Value::Str(nested.to_string()),
            };
            Some((key, value))
        })
        .collect()
}

/// One column of a batch, cast once to the form its values are read in.
pub enum Column {
    Str(StringArray),
    Int(Int64Array),
    Float(Float64Array),
    Bool(BooleanArray),
    /// Microseconds since the epoch.
    Time(Int64Array),
    /// A list, its values as text.
    List(ArrayRef),
    Missing,
}

impl Column {
    /// The column `name` of `batch` (missing when the batch has none).
    pub fn of(batch: &RecordBatch, name: &str) -> Result<Self> {
        let Some(array) = batch.column_by_name(name) else {
            return Ok(Column::Missing);
        };
        Ok(match array.data_type() {
            DataType::Boolean => Column::Bool(array.as_boolean().clone()),
            DataType::Float16 | DataType::Float32 | DataType::Float64 => {
                Column::Float(cast(array, &DataType::Float64)?.as_primitive().clone())
            }
            DataType::Timestamp(..) => {
                let micros = cast(
                    array,
                    &DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
                )?;
                Column::Time(
                    cast(&micros, &DataType::Int64)?
                        .as_primitive::<Int64Type>()
                        .clone(),
                )
            }
            DataType::List(_) | DataType::LargeList(_) => Column::List(array.clone()),
            data_type if data_type.is_integer() => {
                Column::Int(cast(array, &DataType::Int64)?.as_primitive().clone())
            }
            _ => Column::Str(cast(array, &DataType::Utf8)?.as_string::<i32>().clone()),
        })
    }

    /// The value at `row` (none for a null or an empty list).
    pub fn get(&self, row: usize) -> Option<Value> {
        match self {
            Column::Str(array) => array
                .is_valid(row)
                .then(|| Value::Str(array.value(row).into())),
            Column::Int(array) => array.is_valid(row).then(|| Value::Int(array.value(row))),
            Column::Float(array) => array.is_valid(row).then(|| Value::Float(array.value(row))),
            Column::Bool(array) => array.is_valid(row).then(|| Value::Bool(array.value(row))),
            Column::Time(array) => array.is_valid(row).then(|| Value::Time(array.value(row))),
            Column::List(_) => {
                let items = self.texts(row);
                (!items.is_empty()).then(|| Value::Str(serde_json::Value::from(items).to_string()))
            }
            Column::Missing => None,
        }
    }

    /// The text at `row` (for ids and names); none for a null.
    pub fn text(&self, row: usize) -> Option<String> {
        self.get(row).map(|value| value.to_text())
    }

    /// The values at `row` as texts: a list's items, another value alone.
    pub fn texts(&self, row: usize) -> Vec<String> {
        let Column::List(array) = self else {
            return self.text(row).into_iter().collect();
        };
        if array.is_null(row) {
            return Vec::new();
        }
        let items = match array.data_type() {
            DataType::LargeList(_) => array.as_list::<i64>().value(row),
            _ => array.as_list::<i32>().value(row),
        };
        let Ok(items) = cast(&items, &DataType::Utf8) else {
            return Vec::new();
        };
        items
            .as_string::<i32>()
            .iter()
            .flatten()
            .map(str::to_owned)
            .collect()
    }
}

/// Runs `sql` and hands its batches to `each`, one at a time, as the plan
/// yields them.
pub async fn for_each_batch(
    ctx: &SessionContext,
    sql: &str,
    mut each: impl FnMut(&RecordBatch) -> Result<()>,
) -> Result<()> {
    let frame = ctx.sql(sql).await.map_err(Error::sql)?;
    let mut stream = frame.execute_stream().await.map_err(Error::sql)?;
    while let Some(batch) = stream.next().await {
        each(&batch.map_err(Error::sql)?)?;
    }
    Ok(())
}

/// Whether the session has table `name`.
pub fn has_table(ctx: &SessionContext, name: &str) -> bool {
    matches!(ctx.table_exist(name), Ok(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_fields_become_typed_attributes() {
        let attributes = payload_attributes(Some(
            r#"{"a":"x","n":3,"f":1.5,"b":true,"z":null,"o":{"k":[1]}}"#,
        ));
        assert_eq!(
            attributes,
            vec![
                ("a".into(), Value::Str("x".into())),
                ("b".into(), Value::Bool(true)),
                ("f".into(), Value::Float(1.5)),
                ("n".into(), Value::Int(3)),
                ("o".into(), Value::Str(r#"{"k":[1]}"#.into())),
            ]
        );
        assert!(payload_attributes(Some("[1]")).is_empty());
        assert!(payload_attributes(Some("not json")).is_empty());
        assert!(payload_attributes(None).is_empty());
    }

    #[test]
    fn times_are_iso_8601_with_an_offset() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso_time(1_500), "1970-01-01T00:00:00.001500+00:00");
    }
}
