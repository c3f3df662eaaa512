//! `census`: what a log holds, before anything is replayed.
//!
//! Per aggregate type, event type and schema version: how many events, when
//! first and last seen, and every payload field (dotted paths, four levels
//! deep) with its JSON types and how often it is present. Given a model, it
//! also says which event types no handler knows and, for each handler's payload
//! paths (`set`, `add`, `remove`), in what share of the events they are missing:
//! the dry run that tells, before a rebuild, which old event shapes it would
//! trip over. It is an [`IngestSink`], so it reads logs of any size in bounded
//! memory (bounded by the number of distinct shapes, not of events).

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{TimestampMicrosecondType, UInt32Type};
use serde_json::Value;

use crate::envelope::{col, Reject};
use crate::ingest::IngestSink;
use crate::model::{Effect, Model, ValueSource};
use crate::Result;

/// How deep payload objects are walked for field paths.
const MAX_DEPTH: usize = 4;

/// One payload field of one event shape.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FieldCensus {
    /// Events in which the field is present (and not null).
    pub present: u64,
    /// Occurrences per JSON type: string, number, bool, object, array, null.
    pub types: BTreeMap<&'static str, u64>,
}

/// A payload path a handler reads, and how often it is missing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PathCheck {
    pub path: String,
    pub missing: u64,
    pub missing_share: f64,
}

/// What the model says of one event shape.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelCheck {
    /// `handled`, `no handler` or `aggregate not in model`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<PathCheck>,
}

/// One event shape: an aggregate type, event type and schema version.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ShapeCensus {
    pub aggregate_type: String,
    pub event_type: String,
    pub schema_version: u32,
    pub count: u64,
    pub first_seen: String,
    pub last_seen: String,
    #[serde(skip)]
    first_micros: i64,
    #[serde(skip)]
    last_micros: i64,
    pub fields: BTreeMap<String, FieldCensus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelCheck>,
    /// What the model's upcasters turn this shape into (`TaskCreated v3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upcast_to: Option<String>,
    /// Missing counts of the handler's payload paths, while counting.
    #[serde(skip)]
    missing: BTreeMap<String, u64>,
}

/// The census of a whole log.
#[derive(Debug, Default)]
pub struct Census<'m> {
    model: Option<&'m Model>,
    shapes: BTreeMap<(String, String, u32), ShapeCensus>,
    pub rejects: u64,
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::Null => "null",
    }
}

fn walk(value: &Value, prefix: &str, depth: usize, fields: &mut BTreeMap<String, FieldCensus>) {
    let Value::Object(map) = value else {
        return;
    };
    for (key, child) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if depth < MAX_DEPTH {
            walk(child, &path, depth + 1, fields);
        }
        let entry = fields.entry(path).or_default();
        *entry.types.entry(json_type(child)).or_default() += 1;
        if !child.is_null() {
            entry.present += 1;
        }
    }
}

fn format_micros(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

impl<'m> Census<'m> {
    pub fn new(model: Option<&'m Model>) -> Self {
        Self {
            model,
            ..Self::default()
        }
    }

    fn record(&mut self, key: (String, String, u32), occurred_at: i64, payload: &Value) {
        let model = self.model;
        let shape = self
            .shapes
            .entry(key)
            .or_insert_with_key(|(a, e, v)| ShapeCensus {
                aggregate_type: a.clone(),
                event_type: e.clone(),
                schema_version: *v,
                first_micros: occurred_at,
                last_micros: occurred_at,
                ..ShapeCensus::default()
            });
        shape.count += 1;
        shape.first_micros = shape.first_micros.min(occurred_at);
        shape.last_micros = shape.last_micros.max(occurred_at);
        walk(payload, "", 1, &mut shape.fields);
        let Some(model) = model else {
            return;
        };
        // The model sees the event as the upcasters leave it.
        let upcast = crate::model::upcast::upcast_value(
            &model.upcasters,
            &shape.aggregate_type,
            &shape.event_type,
            shape.schema_version,
            payload,
        );
        let (event_type, payload) = match &upcast {
            Some((event_type, _, payload)) => (event_type.as_str(), payload),
            None => (shape.event_type.as_str(), payload),
        };
        let handler = model
            .aggregate(&shape.aggregate_type)
            .and_then(|a| a.handlers.get(event_type));
        for effect in handler.map(|h| h.effects.as_slice()).unwrap_or_default() {
            let source = match effect {
                Effect::Set { source, .. }
                | Effect::Add { source, .. }
                | Effect::Remove { source, .. } => source,
                _ => continue,
            };
            if let ValueSource::Payload(path) = source {
                let missing = path.lookup(payload).is_none_or(Value::is_null);
                *shape.missing.entry(path.as_str().to_owned()).or_default() += u64::from(missing);
            }
        }
    }

    /// The shapes, in (aggregate type, event type, schema version) order, with
    /// the model's verdict on each when there is a model.
    pub fn finish(self) -> Vec<ShapeCensus> {
        let model = self.model;
        self.shapes
            .into_values()
            .map(|mut shape| {
                shape.first_seen = format_micros(shape.first_micros);
                shape.last_seen = format_micros(shape.last_micros);
                if let Some(model) = model {
                    let upcast = crate::model::upcast::upcast(
                        &model.upcasters,
                        &shape.aggregate_type,
                        &shape.event_type,
                        shape.schema_version,
                        None,
                    );
                    let event_type = match &upcast {
                        Some((event_type, version, _)) => {
                            shape.upcast_to = Some(format!("{event_type} v{version}"));
                            event_type.clone()
                        }
                        None => shape.event_type.clone(),
                    };
                    let status = match model.aggregate(&shape.aggregate_type) {
                        None => "aggregate not in model",
                        Some(a) if a.handlers.contains_key(&event_type) => "handled",
                        Some(_) => "no handler",
                    };
                    let count = shape.count.max(1) as f64;
                    let paths = std::mem::take(&mut shape.missing)
                        .into_iter()
                        .map(|(path, missing)| PathCheck {
                            path,
                            missing,
                            missing_share: (missing as f64 / count * 1000.0).round() / 1000.0,
                        })
                        .collect();
                    shape.model = Some(ModelCheck { status, paths });
                }
                shape
            })
            .collect()
    }
}

impl IngestSink for Census<'_> {
    fn events(&mut self, batch: RecordBatch) -> Result<()> {
        let aggregates = batch.column(col::AGGREGATE_TYPE).as_string::<i32>();
        let types = batch.column(col::EVENT_TYPE).as_string::<i32>();
        let versions = batch
            .column(col::SCHEMA_VERSION)
            .as_primitive::<UInt32Type>();
        let times = batch
            .column(col::OCCURRED_AT)
            .as_primitive::<TimestampMicrosecondType>();
        let payloads = batch.column(col::PAYLOAD).as_string::<i32>();
        for row in 0..batch.num_rows() {
            let payload = if payloads.is_valid(row) {
                serde_json::from_str(payloads.value(row)).unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            let key = (
                aggregates.value(row).to_owned(),
                types.value(row).to_owned(),
                versions.value(row),
            );
            self.record(key, times.value(row), &payload);
        }
        Ok(())
    }

    fn rejects(&mut self, rejects: Vec<Reject>) -> Result<()> {
        self.rejects += rejects.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_types_and_missing_paths() {
        let model = crate::model::parse_model("m", crate::embedded::SAMPLE_MODEL).unwrap();
        let mut census = Census::new(Some(&model));
        let key = |t: &str| ("task".to_owned(), t.to_owned(), 1);
        census.record(
            key("TaskCreated"),
            10,
            &serde_json::json!({"title": "a", "meta": {"x": 1}}),
        );
        census.record(
            key("TaskCreated"),
            5,
            &serde_json::json!({"title": null, "project_id": "p"}),
        );
        census.record(key("TaskExploded"), 7, &serde_json::json!({}));
        let shapes = census.finish();
        let created = &shapes[0];
        assert_eq!(
            (created.count, created.first_micros, created.last_micros),
            (2, 5, 10)
        );
        assert_eq!(created.fields["title"].present, 1);
        assert_eq!(created.fields["title"].types["null"], 1);
        assert_eq!(created.fields["meta.x"].types["number"], 1);
        let check = created.model.as_ref().unwrap();
        assert_eq!(check.status, "handled");
        let title = check.paths.iter().find(|p| p.path == "title").unwrap();
        assert_eq!((title.missing, title.missing_share), (1, 0.5));
        assert_eq!(shapes[1].model.as_ref().unwrap().status, "no handler");
    }
}
