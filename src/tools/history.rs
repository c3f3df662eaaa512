//! History: the audit trail of one aggregate, the state after each of its events.
//!
//! The stream's events are read from an output's `events` table and folded again
//! with the model stored beside them (`model.toml`), one event at a time, so each
//! step shows what that event changed, the findings it raised, and the whole state.

use arrow::array::RecordBatch;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::model::Model;
use crate::replay::fold::evolve;
use crate::replay::{events_in_batch, EventTypes, StateValue, StreamState};
use crate::{Error, Result};

/// Where to stop: a version, or a time (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Version(u64),
    /// Microseconds since the epoch, UTC.
    Time(i64),
}

impl AsOf {
    /// Parses `42` (a version) or an RFC 3339 time.
    pub fn parse(text: &str) -> Result<Self> {
        if let Ok(version) = text.trim().parse::<u64>() {
            return Ok(AsOf::Version(version));
        }
        DateTime::parse_from_rfc3339(text.trim())
            .map(|t| AsOf::Time(t.timestamp_micros()))
            .map_err(|_| {
                Error::usage(format!(
                    "--as-of \"{text}\" is neither a version nor an RFC 3339 time like 2026-03-01T00:00:00Z"
                ))
            })
    }
}

/// One step of the trail.
#[derive(Debug, Clone)]
pub struct Step {
    pub version: u64,
    pub event_type: String,
    pub actor: Option<String>,
    pub occurred_at: i64,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    /// Fields whose value changed: (name, before, after).
    pub changes: Vec<(String, StateValue, StateValue)>,
    /// Findings raised by this event: (rule, message).
    pub findings: Vec<(String, String)>,
    pub state: StreamState,
}

/// Folds the events (one stream's, sorted) and records each step.
pub fn trail(model: &Model, batches: &[RecordBatch], as_of: Option<AsOf>) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut state: Option<StreamState> = None;
    let mut event_types = EventTypes::default();
    for batch in batches {
        for event in events_in_batch(batch) {
            let past = match as_of {
                Some(AsOf::Version(v)) => event.version > v,
                Some(AsOf::Time(t)) => event.occurred_at > t,
                None => false,
            };
            if past {
                return steps;
            }
            let aggregate = model.aggregate(event.aggregate_type);
            let current = state.get_or_insert_with(|| {
                StreamState::new(event.stream_id, event.aggregate_type, aggregate)
            });
            let before = current.fields.clone();
            let mut findings = Vec::new();
            let event_type = event_types.get(event.event_type);
            let transition = evolve(aggregate, current, &event, event_type, &mut findings);
            let changes = aggregate
                .map(|m| {
                    m.fields
                        .iter()
                        .zip(before.into_iter().zip(current.fields.iter()))
                        .filter(|(_, (old, new))| old != *new)
                        .map(|(def, (old, new))| (def.name.clone(), old, new.clone()))
                        .collect()
                })
                .unwrap_or_default();
            steps.push(Step {
                version: event.version,
                event_type: event.event_type.to_owned(),
                actor: event.actor.map(str::to_owned),
                occurred_at: event.occurred_at,
                from_status: transition.from_status.map(|s| s.to_string()),
                to_status: transition.to_status.map(|s| s.to_string()),
                changes,
                findings: findings
                    .into_iter()
                    .map(|f| (f.rule.name().to_owned(), f.message))
                    .collect(),
                state: current.clone(),
            });
        }
    }
    steps
}

/// A timestamp as RFC 3339 in UTC.
pub fn format_time(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| micros.to_string())
}

/// A state value as JSON.
pub fn value_json(value: &StateValue) -> Value {
    match value {
        StateValue::Null => Value::Null,
        StateValue::Str(s) => json!(s),
        StateValue::Int(i) => json!(i),
        StateValue::Float(f) => json!(f),
        StateValue::Bool(b) => json!(b),
        StateValue::Timestamp(t) => json!(format_time(*t)),
        StateValue::List(items) => json!(items),
    }
}

/// The trail as JSON: one object per step with its changes and the state after it.
pub fn trail_json(model: &Model, stream_id: &str, steps: &[Step]) -> Value {
    let events: Vec<Value> = steps
        .iter()
        .map(|step| {
            let mut state = Map::new();
            if let Some(aggregate) = model.aggregate(&step.state.aggregate_type) {
                for (def, value) in aggregate.fields.iter().zip(&step.state.fields) {
                    state.insert(def.name.clone(), value_json(value));
                }
            }
            let changes: Map<String, Value> = step
                .changes
                .iter()
                .map(|(name, old, new)| (name.clone(), json!({"from": value_json(old), "to": value_json(new)})))
                .collect();
            json!({
                "version": step.version,
                "event_type": step.event_type,
                "actor": step.actor,
                "occurred_at": format_time(step.occurred_at),
                "from_status": step.from_status,
                "status": step.to_status,
                "changes": changes,
                "findings": step.findings.iter().map(|(rule, message)| json!({"rule": rule, "message": message})).collect::<Vec<_>>(),
                "state": state,
            })
        })
        .collect();
    json!({
        "stream_id": stream_id,
        "aggregate_type": steps.first().map(|s| s.state.aggregate_type.clone()),
        "events": events,
    })
}
