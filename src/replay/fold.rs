//! `evolve`: folding one event into one stream's state.
//!
//! Pure: no I/O, no clock, only the model, the state and the event. Events are
//! facts, so a finding never stops an event from being applied, with two
//! exceptions that would corrupt the state: a duplicate version (the second event
//! claiming a version is not applied) and an unknown event type (nothing to apply).

use std::sync::Arc;

use serde_json::Value;

use crate::model::{AggregateModel, Effect, EnvelopeValue, FieldType, Handler, ValueSource};
use crate::support::json_path::{JsonPath, Members};
use crate::support::time::parse_timestamp;

use super::{EventRef, Finding, Rule, StateValue, StreamState, Transition};

/// Folds `event` (its type shared as `event_type`) into `state`, returning
/// its transition row and any findings.
pub fn evolve(
    model: Option<&AggregateModel>,
    state: &mut StreamState,
    event: &EventRef,
    event_type: Arc<str>,
    findings: &mut Vec<Finding>,
) -> Transition {
    let repeated = repeats_version(state, event);
    let previous_event_type = state.last_event_type.replace(event_type);
    let from_status = state.status.clone();
    let previous_at = state.updated_at;
    let first = state.event_count == 0;
    state.event_count += 1;
    if first {
        state.created_at = Some(event.occurred_at);
    }
    state.updated_at = Some(event.occurred_at);

    let mut finding =
        |rule: Rule, message: String| findings.push(Finding::new(event, rule, message));
    let applies = check_version(state, event, repeated, &mut finding);
    match model {
        None if first => finding(
            Rule::UnknownAggregateType,
            format!(
                "aggregate type \"{}\" is not in the model; its streams get no state",
                event.aggregate_type
            ),
        ),
        None => {}
        Some(model) if applies => match model.handlers.get(event.event_type) {
            None => finding(
                Rule::UnknownEventType,
                format!(
                    "event type \"{}\" has no handler in aggregate \"{}\"; not applied",
                    event.event_type, model.name
                ),
            ),
            Some(handler) => {
                check_transition(model, handler, state, event, &mut finding);
                apply_effects(model, handler, state, event, &mut finding);
            }
        },
        Some(_) => {}
    }
    Transition {
        version: event.version,
        previous_event_type,
        from_status,
        to_status: state.status.clone(),
        occurred_at: event.occurred_at,
        seconds_since_previous: previous_at.map(|p| (event.occurred_at - p) as f64 / 1e6),
    }
}

/// Whether `event` claims the version last applied to `state` (asked before
/// it is folded): the second event claiming a version is not applied.
fn repeats_version(state: &StreamState, event: &EventRef) -> bool {
    state.event_count > 0 && event.version == state.version
}

/// Whether [`evolve`] applies `event` to `state` (asked before it is
/// folded): the aggregate is declared, has a handler for the event's type,
/// and the event's version is not a repeat.
pub fn will_apply(model: Option<&AggregateModel>, state: &StreamState, event: &EventRef) -> bool {
    model.is_some_and(|m| m.handlers.contains_key(event.event_type))
        && !repeats_version(state, event)
}

/// Checks the version sequence (`repeated`: [`repeats_version`] before the
/// event was counted); returns whether the event is applied.
fn check_version(
    state: &mut StreamState,
    event: &EventRef,
    repeated: bool,
    finding: &mut impl FnMut(Rule, String),
) -> bool {
    let expected = state.version + 1;
    if repeated {
        finding(
            Rule::DuplicateVersion,
            format!("version {} appears more than once in the stream; this event (position {}) is not applied", event.version, event.position),
        );
        return false;
    }
    if event.version > expected {
        let missing = event.version - expected;
        finding(
            Rule::VersionGap,
            format!(
                "expected version {expected}, found {} ({missing} missing)",
                event.version
            ),
        );
    }
    state.version = event.version;
    true
}

fn check_transition(
    model: &AggregateModel,
    handler: &Handler,
    state: &mut StreamState,
    event: &EventRef,
    finding: &mut impl FnMut(Rule, String),
) {
    let Some(lifecycle) = &model.lifecycle else {
        return;
    };
    if handler.creates {
        if state.created {
            finding(
                Rule::TransitionNotAllowed,
                format!(
                    "{} creates a stream that was already created",
                    event.event_type
                ),
            );
        }
        state.created = true;
        state.status = Some(handler.to.as_ref().unwrap_or(&lifecycle.initial).clone());
        return;
    }
    match state.status.as_deref() {
        // Whether any handler creates is asked only of a stream not yet created.
        None if model.handlers.values().any(|h| h.creates) => {
            finding(
                Rule::EventBeforeCreation,
                format!(
                    "{} at version {} comes before the stream's creation event",
                    event.event_type, event.version
                ),
            );
        }
        None => {
            state.status = Some(lifecycle.initial.clone());
            check_allowed(model, handler, &lifecycle.initial, event, finding);
        }
        Some(current) => check_allowed(model, handler, current, event, finding),
    }
    if let Some(to) = &handler.to {
        state.status = Some(to.clone());
    }
}

fn check_allowed(
    model: &AggregateModel,
    handler: &Handler,
    current: &str,
    event: &EventRef,
    finding: &mut impl FnMut(Rule, String),
) {
    let named = handler
        .from
        .as_ref()
        .is_some_and(|from| from.iter().any(|s| s == current));
    if model.is_terminal(current) && !named {
        finding(
            Rule::EventAfterTerminal,
            format!("{} after terminal status \"{current}\"", event.event_type),
        );
    } else if let Some(from) = handler.from.as_ref().filter(|_| !named) {
        finding(
            Rule::TransitionNotAllowed,
            format!(
                "{} is not allowed from status \"{current}\" (allowed from: {})",
                event.event_type,
                from.join(", ")
            ),
        );
    }
}

/// The payload, read only when an effect needs it: split once into its
/// top-level members (borrowed, unparsed) and only the value a path names
/// parsed. A path deeper than one key, or a payload the split does not take
/// (not an object, a key with escapes), is looked up in the payload parsed
/// whole, once. Both ways find the same value, except beside a number no JSON
/// value holds (`1e400`): the split way still finds its neighbours, as ingest's
/// mapping does, where the payload parsed whole is lost.
pub(super) struct LazyPayload<'a> {
    text: Option<&'a str>,
    members: Option<Option<Members<'a>>>,
    parsed: Option<Option<Value>>,
}

impl<'a> LazyPayload<'a> {
    pub(super) fn new(text: Option<&'a str>) -> Self {
        Self {
            text,
            members: None,
            parsed: None,
        }
    }

    /// The value at `path`, if the payload has one.
    pub(super) fn lookup(&mut self, path: &JsonPath) -> Option<Value> {
        let text = self.text?;
        if let Some(key) = path.top_level_key() {
            let members = self
                .members
                .get_or_insert_with(|| serde_json::from_str(text).ok());
            if let Some(members) = members {
                return serde_json::from_str(members.get(key)?.get()).ok();
            }
        }
        self.parsed
            .get_or_insert_with(|| serde_json::from_str(text).ok())
            .as_ref()
            .and_then(|payload| path.lookup(payload))
            .cloned()
    }
}

fn apply_effects(
    model: &AggregateModel,
    handler: &Handler,
    state: &mut StreamState,
    event: &EventRef,
    finding: &mut impl FnMut(Rule, String),
) {
    let mut payload = LazyPayload::new(event.payload);
    for effect in &handler.effects {
        match effect {
            Effect::Set { field, source } => {
                let def = &model.fields[*field];
                if let Some(value) = read_value(
                    source,
                    def.field_type,
                    &def.name,
                    event,
                    &mut payload,
                    finding,
                ) {
                    state.fields[*field] = value;
                }
            }
            Effect::Unset { field } => state.fields[*field] = StateValue::Null,
            Effect::Increment { field, by } => {
                state.fields[*field] =
                    match (&state.fields[*field], model.fields[*field].field_type) {
                        (StateValue::Float(x), _) => StateValue::Float(x + by),
                        (_, FieldType::Float) => StateValue::Float(*by),
                        (StateValue::Int(x), _) => StateValue::Int(x.saturating_add(*by as i64)),
                        _ => StateValue::Int(*by as i64),
                    }
            }
            Effect::Add { field, source } | Effect::Remove { field, source } => {
                let name = &model.fields[*field].name;
                let Some(StateValue::Str(item)) = read_value(
                    source,
                    FieldType::String,
                    name,
                    event,
                    &mut payload,
                    finding,
                ) else {
                    continue;
                };
                if !matches!(state.fields[*field], StateValue::List(_)) {
                    state.fields[*field] = StateValue::List(Vec::new());
                }
                let StateValue::List(list) = &mut state.fields[*field] else {
                    continue;
                };
                let present = list.iter().position(|x| *x == item);
                match (effect, present) {
                    (Effect::Add { .. }, None) => list.push(item),
                    (Effect::Remove { .. }, Some(index)) => {
                        list.remove(index);
                    }
                    _ => {}
                }
            }
        }
    }
}

fn read_value(
    source: &ValueSource,
    field_type: FieldType,
    field_name: &str,
    event: &EventRef,
    payload: &mut LazyPayload,
    finding: &mut impl FnMut(Rule, String),
) -> Option<StateValue> {
    let path = match source {
        ValueSource::Envelope(value) => return Some(envelope_value(*value, event)),
        ValueSource::Payload(path) => path,
    };
    let Some(value) = payload.lookup(path) else {
        finding(
            Rule::PayloadFieldMissing,
            format!(
                "{} payload has no \"{}\" for field {field_name}",
                event.event_type,
                path.as_str()
            ),
        );
        return None;
    };
    // The common case, a text field set from a string, takes the string.
    let value = match (field_type, value) {
        (FieldType::String, Value::String(s)) => return Some(StateValue::Str(s)),
        (_, value) => value,
    };
    let converted = convert(field_type, &value);
    if converted.is_none() {
        finding(
            Rule::PayloadFieldType,
            format!(
                "{} payload \"{}\" is {value}, expected a {} for field {field_name}",
                event.event_type,
                path.as_str(),
                field_type.name()
            ),
        );
    }
    converted
}

/// A payload's JSON value as a value of `field_type`: null as null, `None`
/// when it is not of that type.
pub(super) fn convert(field_type: FieldType, value: &Value) -> Option<StateValue> {
    match (field_type, value) {
        (_, Value::Null) => Some(StateValue::Null),
        (FieldType::String, Value::String(s)) => Some(StateValue::Str(s.clone())),
        (FieldType::String, Value::Number(n)) => Some(StateValue::Str(n.to_string())),
        (FieldType::Int, Value::Number(n)) => n.as_i64().map(StateValue::Int),
        (FieldType::Float, Value::Number(n)) => n.as_f64().map(StateValue::Float),
        (FieldType::Bool, Value::Bool(b)) => Some(StateValue::Bool(*b)),
        (FieldType::Timestamp, v) => parse_timestamp(v).map(StateValue::Timestamp),
        (FieldType::List, Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(StateValue::List),
        _ => None,
    }
}

/// An envelope value of `event`.
pub(super) fn envelope_value(value: EnvelopeValue, event: &EventRef) -> StateValue {
    let text = |s: Option<&str>| s.map_or(StateValue::Null, |s| StateValue::Str(s.to_owned()));
    match value {
        EnvelopeValue::OccurredAt => StateValue::Timestamp(event.occurred_at),
        EnvelopeValue::Version => StateValue::Int(event.version as i64),
        EnvelopeValue::Position => StateValue::Int(event.position as i64),
        EnvelopeValue::Actor => text(event.actor),
        EnvelopeValue::StreamId => text(Some(event.stream_id)),
        EnvelopeValue::EventId => text(Some(event.event_id)),
        EnvelopeValue::EventType => text(Some(event.event_type)),
        EnvelopeValue::CorrelationId => text(event.correlation_id),
        EnvelopeValue::CausationId => text(event.causation_id),
        EnvelopeValue::Tenant => text(event.tenant),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The split way finds what a lookup in the payload parsed whole finds.
    #[test]
    fn a_payload_lookup_finds_what_the_parsed_payload_holds() {
        let payloads = [
            r#"{"title":"Write docs","n":3,"tags":["a","b"]}"#,
            r#"{"title":"first","title":"last"}"#,
            r#"{"ti\u0074le":"escaped key","other":1}"#,
            r#"{"title":"esc\"aped \u00e9 value"}"#,
            r#"{"a":{"b":{"c":true}},"a.b":"dotted key"}"#,
            r#"{"title":null}"#,
            r#"["zero","one"]"#,
            r#""just text""#,
            r#"{"title":"unterminated"#,
            "",
        ];
        let paths = [
            "title", "n", "tags", "a.b", "a.b.c", "/a/b/c", "0", "1", "missing",
        ];
        for payload in payloads {
            for text in paths {
                let path = JsonPath::parse(text).unwrap();
                let whole: Option<Value> = serde_json::from_str(payload)
                    .ok()
                    .and_then(|value: Value| path.lookup(&value).cloned());
                let mut lazy = LazyPayload::new(Some(payload));
                assert_eq!(lazy.lookup(&path), whole, "{payload} at {text}");
                // Asked again (a second effect), the same answer.
                assert_eq!(lazy.lookup(&path), whole, "{payload} at {text}, again");
            }
        }
        assert_eq!(
            LazyPayload::new(None).lookup(&JsonPath::parse("title").unwrap()),
            None
        );
    }

    /// A number no `Value` holds (1e400) hides nothing beside it from the
    /// split way, as in ingest's mapping; parsed whole, the payload fails.
    #[test]
    fn a_number_out_of_range_does_not_hide_its_neighbours() {
        let payload = r#"{"big":1e400,"title":"still here"}"#;
        assert!(serde_json::from_str::<Value>(payload).is_err());
        let mut lazy = LazyPayload::new(Some(payload));
        let title = JsonPath::parse("title").unwrap();
        assert_eq!(lazy.lookup(&title), Some(Value::from("still here")));
        assert_eq!(lazy.lookup(&JsonPath::parse("big").unwrap()), None);
    }
}
