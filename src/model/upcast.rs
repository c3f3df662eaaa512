//! Upcasting: old event shapes evolved to the current one, declared in the
//! model, no code.
//!
//! An `[[upcasters]]` entry matches an event type at one schema version (and,
//! optionally, one aggregate type) and says what to do to it: rename the event
//! type, rename payload fields, give missing fields a default, drop fields, and
//! bump the schema version. Upcasters chain: an event upcast to v2 is matched
//! again by the v2 → v3 entry. They run before replay, on the sorted events;
//! the events table holds the upcast events, with `original_event_type` and
//! `original_schema_version` set on the ones an upcaster changed.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringBuilder, UInt32Builder};
use arrow::datatypes::UInt32Type;
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::{Map, Value};
use toml::Spanned;

use crate::envelope::col;
use crate::support::toml_lines::Locator;
use crate::Result;

/// One upcaster, as the model file writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpcaster {
    aggregate: Option<String>,
    event_type: String,
    schema_version: u32,
    to_version: Option<u32>,
    rename_type: Option<String>,
    #[serde(default)]
    rename: IndexMap<String, String>,
    #[serde(default)]
    defaults: IndexMap<String, toml::Value>,
    #[serde(default)]
    drop: Vec<String>,
}

/// One validated upcaster.
#[derive(Debug, Clone, PartialEq)]
pub struct Upcaster {
    pub aggregate: Option<String>,
    pub event_type: String,
    pub schema_version: u32,
    pub to_version: u32,
    pub rename_type: Option<String>,
    /// Payload fields renamed, old → new (top-level keys).
    pub rename: Vec<(String, String)>,
    /// Payload fields set when missing.
    pub defaults: Vec<(String, Value)>,
    /// Payload fields removed.
    pub drop: Vec<String>,
}

fn json_of(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(json_of).collect()),
        toml::Value::Table(table) => {
            Value::Object(table.iter().map(|(k, v)| (k.clone(), json_of(v))).collect())
        }
    }
}

/// Checks the model's upcasters; a mistake names its line.
pub(crate) fn validate(locator: &Locator, raw: &[Spanned<RawUpcaster>]) -> Result<Vec<Upcaster>> {
    let mut upcasters: Vec<Upcaster> = Vec::new();
    for entry in raw {
        let span: Range<usize> = entry.span();
        let raw = entry.get_ref();
        let error = |message: String| locator.error(&span, message, None);
        if raw.event_type.is_empty() {
            return Err(error("an upcaster needs an event_type".into()));
        }
        if raw.schema_version == 0 {
            return Err(error("schema_version counts from 1".into()));
        }
        let to_version = raw.to_version.unwrap_or(raw.schema_version + 1);
        if to_version <= raw.schema_version {
            return Err(error(format!(
                "upcaster of {} v{} goes to v{to_version}; to_version must be higher, so chains end",
                raw.event_type, raw.schema_version
            )));
        }
        let duplicate = upcasters.iter().any(|u| {
            u.event_type == raw.event_type
                && u.schema_version == raw.schema_version
                && u.aggregate == raw.aggregate
        });
        if duplicate {
            return Err(error(format!(
                "a second upcaster for {} v{}",
                raw.event_type, raw.schema_version
            )));
        }
        upcasters.push(Upcaster {
            aggregate: raw.aggregate.clone(),
            event_type: raw.event_type.clone(),
            schema_version: raw.schema_version,
            to_version,
            rename_type: raw.rename_type.clone(),
            rename: raw.rename.clone().into_iter().collect(),
            defaults: raw
                .defaults
                .iter()
                .map(|(k, v)| (k.clone(), json_of(v)))
                .collect(),
            drop: raw.drop.clone(),
        });
    }
    Ok(upcasters)
}

fn find<'m>(
    upcasters: &'m [Upcaster],
    aggregate: &str,
    event_type: &str,
    version: u32,
) -> Option<&'m Upcaster> {
    upcasters.iter().find(|u| {
        u.event_type == event_type
            && u.schema_version == version
            && u.aggregate.as_deref().is_none_or(|a| a == aggregate)
    })
}

/// Follows the chain of upcasters from `first`, changing `object` (the
/// payload, when it is an object) on the way; returns the last type and version.
fn follow(
    upcasters: &[Upcaster],
    aggregate: &str,
    first: &Upcaster,
    event_type: &str,
    mut object: Option<&mut Map<String, Value>>,
) -> (String, u32) {
    let (mut current, mut event_type, mut version) = (first, event_type.to_owned(), 0);
    for _ in 0..256 {
        if let Some(object) = object.as_deref_mut() {
            for (old, new) in &current.rename {
                if let Some(value) = object.remove(old) {
                    object.insert(new.clone(), value);
                }
            }
            for (key, value) in &current.defaults {
                object.entry(key.clone()).or_insert_with(|| value.clone());
            }
            for key in &current.drop {
                object.remove(key);
            }
        }
        if let Some(renamed) = &current.rename_type {
            event_type = renamed.clone();
        }
        version = current.to_version;
        match find(upcasters, aggregate, &event_type, version) {
            Some(next) => current = next,
            None => break,
        }
    }
    (event_type, version)
}

/// The event type and schema version the upcasters lead `(event_type,
/// version)` to, with the payload changed on the way; `None` when no upcaster
/// applies. A payload that is not an object (text, a number) is left as it was.
pub fn upcast(
    upcasters: &[Upcaster],
    aggregate: &str,
    event_type: &str,
    version: u32,
    payload: Option<&str>,
) -> Option<(String, u32, Option<String>)> {
    let first = find(upcasters, aggregate, event_type, version)?;
    let mut object = match payload.map(serde_json::from_str::<Value>) {
        None => Map::new(),
        Some(Ok(Value::Object(map))) => map,
        Some(_) => {
            let (event_type, version) = follow(upcasters, aggregate, first, event_type, None);
            return Some((event_type, version, payload.map(str::to_owned)));
        }
    };
    let (event_type, version) = follow(upcasters, aggregate, first, event_type, Some(&mut object));
    let payload =
        (payload.is_some() || !object.is_empty()).then(|| Value::Object(object).to_string());
    Some((event_type, version, payload))
}

/// [`upcast`] of a payload already parsed (for `census`): the payload is
/// copied only when an upcaster applies; a missing payload counts as `{}`.
pub fn upcast_value(
    upcasters: &[Upcaster],
    aggregate: &str,
    event_type: &str,
    version: u32,
    payload: &Value,
) -> Option<(String, u32, Value)> {
    let first = find(upcasters, aggregate, event_type, version)?;
    let mut payload = match payload {
        Value::Null => Value::Object(Map::new()),
        other => other.clone(),
    };
    let (event_type, version) = follow(
        upcasters,
        aggregate,
        first,
        event_type,
        payload.as_object_mut(),
    );
    Some((event_type, version, payload))
}

/// Upcasts a sorted events batch; unchanged when there are no upcasters (the
/// model's).
pub fn apply(upcasters: &[Upcaster], batch: RecordBatch) -> Result<RecordBatch> {
    if upcasters.is_empty() {
        return Ok(batch);
    }
    let aggregates = batch.column(col::AGGREGATE_TYPE).as_string::<i32>();
    let types = batch.column(col::EVENT_TYPE).as_string::<i32>();
    let versions = batch
        .column(col::SCHEMA_VERSION)
        .as_primitive::<UInt32Type>();
    let payloads = batch.column(col::PAYLOAD).as_string::<i32>();
    let originals = batch.column(col::ORIGINAL_EVENT_TYPE).as_string::<i32>();
    let original_versions = batch
        .column(col::ORIGINAL_SCHEMA_VERSION)
        .as_primitive::<UInt32Type>();
    let mut new_types = StringBuilder::new();
    let mut new_versions = UInt32Builder::new();
    let mut new_payloads = StringBuilder::new();
    let mut new_originals = StringBuilder::new();
    let mut new_original_versions = UInt32Builder::new();
    for row in 0..batch.num_rows() {
        let payload = payloads.is_valid(row).then(|| payloads.value(row));
        let upcast = upcast(
            upcasters,
            aggregates.value(row),
            types.value(row),
            versions.value(row),
            payload,
        );
        match upcast {
            Some((event_type, version, payload)) => {
                new_types.append_value(event_type);
                new_versions.append_value(version);
                new_payloads.append_option(payload);
                new_originals.append_value(types.value(row));
                new_original_versions.append_value(versions.value(row));
            }
            None => {
                new_types.append_value(types.value(row));
                new_versions.append_value(versions.value(row));
                new_payloads.append_option(payload);
                new_originals.append_option(originals.is_valid(row).then(|| originals.value(row)));
                new_original_versions.append_option(
                    original_versions
                        .is_valid(row)
                        .then(|| original_versions.value(row)),
                );
            }
        }
    }
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[col::EVENT_TYPE] = Arc::new(new_types.finish());
    columns[col::SCHEMA_VERSION] = Arc::new(new_versions.finish());
    columns[col::PAYLOAD] = Arc::new(new_payloads.finish());
    columns[col::ORIGINAL_EVENT_TYPE] = Arc::new(new_originals.finish());
    columns[col::ORIGINAL_SCHEMA_VERSION] = Arc::new(new_original_versions.finish());
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upcasters() -> Vec<Upcaster> {
        vec![
            Upcaster {
                aggregate: None,
                event_type: "TaskOpened".into(),
                schema_version: 1,
                to_version: 2,
                rename_type: Some("TaskCreated".into()),
                rename: vec![("name".into(), "title".into())],
                defaults: vec![],
                drop: vec!["legacy".into()],
            },
            Upcaster {
                aggregate: Some("task".into()),
                event_type: "TaskCreated".into(),
                schema_version: 2,
                to_version: 3,
                rename_type: None,
                rename: vec![],
                defaults: vec![("priority".into(), Value::from(3))],
                drop: vec![],
            },
        ]
    }

    #[test]
    fn upcasters_chain_and_leave_other_events_alone() {
        let chained = upcast(
            &upcasters(),
            "task",
            "TaskOpened",
            1,
            Some(r#"{"name":"a","legacy":1}"#),
        );
        assert_eq!(
            chained,
            Some((
                "TaskCreated".into(),
                3,
                Some(r#"{"priority":3,"title":"a"}"#.into())
            ))
        );
        let other_aggregate = upcast(
            &upcasters(),
            "bug",
            "TaskOpened",
            1,
            Some(r#"{"name":"a"}"#),
        );
        assert_eq!(
            other_aggregate,
            Some(("TaskCreated".into(), 2, Some(r#"{"title":"a"}"#.into())))
        );
        assert_eq!(upcast(&upcasters(), "task", "TaskCreated", 3, None), None);
        assert_eq!(upcast(&upcasters(), "task", "TaskStarted", 1, None), None);
    }
}
