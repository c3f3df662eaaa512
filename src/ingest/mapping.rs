//! Mapping one parsed record onto the canonical envelope.
//!
//! A [`Mapping`] says where each envelope field lives in a record: a list of JSON
//! paths tried in order (the first present wins). The default, `generic`, is the
//! naming documented in the README; `--map field=path` replaces one entry. A record
//! either becomes an [`Event`] or a [`Reject`] whose reason names the field and the
//! bad value: mapping never fails the run.

use chrono::DateTime;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::envelope::{Event, Reject};
use crate::{Error, Result};

/// The envelope fields a mapping can fill. `source` is always `file:line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeField {
    Position,
    EventId,
    StreamId,
    AggregateType,
    Version,
    EventType,
    SchemaVersion,
    OccurredAt,
    Actor,
    CorrelationId,
    CausationId,
    Tenant,
    Payload,
    Metadata,
}

impl EnvelopeField {
    /// Every mappable field, in envelope order.
    pub const ALL: [EnvelopeField; 14] = [
        EnvelopeField::Position,
        EnvelopeField::EventId,
        EnvelopeField::StreamId,
        EnvelopeField::AggregateType,
        EnvelopeField::Version,
        EnvelopeField::EventType,
        EnvelopeField::SchemaVersion,
        EnvelopeField::OccurredAt,
        EnvelopeField::Actor,
        EnvelopeField::CorrelationId,
        EnvelopeField::CausationId,
        EnvelopeField::Tenant,
        EnvelopeField::Payload,
        EnvelopeField::Metadata,
    ];

    /// The column name of the field in the events table.
    pub fn name(self) -> &'static str {
        match self {
            EnvelopeField::Position => "position",
            EnvelopeField::EventId => "event_id",
            EnvelopeField::StreamId => "stream_id",
            EnvelopeField::AggregateType => "aggregate_type",
            EnvelopeField::Version => "version",
            EnvelopeField::EventType => "event_type",
            EnvelopeField::SchemaVersion => "schema_version",
            EnvelopeField::OccurredAt => "occurred_at",
            EnvelopeField::Actor => "actor",
            EnvelopeField::CorrelationId => "correlation_id",
            EnvelopeField::CausationId => "causation_id",
            EnvelopeField::Tenant => "tenant",
            EnvelopeField::Payload => "payload",
            EnvelopeField::Metadata => "metadata",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|field| field.name() == name)
    }

    /// The generic preset's source paths for this field, tried in order.
    fn generic_paths(self) -> &'static [&'static str] {
        match self {
            EnvelopeField::Actor => &["actor", "metadata.actor"],
            EnvelopeField::CorrelationId => &["correlation_id", "metadata.correlation_id"],
            EnvelopeField::CausationId => &["causation_id", "metadata.causation_id"],
            EnvelopeField::Tenant => &["tenant", "metadata.tenant"],
            EnvelopeField::Position => &["position"],
            EnvelopeField::EventId => &["event_id"],
            EnvelopeField::StreamId => &["stream_id"],
            EnvelopeField::AggregateType => &["aggregate_type"],
            EnvelopeField::Version => &["version"],
            EnvelopeField::EventType => &["event_type"],
            EnvelopeField::SchemaVersion => &["schema_version"],
            EnvelopeField::OccurredAt => &["occurred_at"],
            EnvelopeField::Payload => &["payload"],
            EnvelopeField::Metadata => &["metadata"],
        }
    }
}

/// A path into a JSON record: the keys (or array indices) to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    segments: Vec<String>,
}

impl JsonPath {
    /// Parses `/a/b` (a JSON pointer, RFC 6901) or `a.b` (dotted keys).
    pub fn parse(text: &str) -> Result<Self> {
        let segments: Vec<String> = if let Some(pointer) = text.strip_prefix('/') {
            pointer
                .split('/')
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect()
        } else {
            text.split('.').map(str::to_owned).collect()
        };
        if text.is_empty() || segments.iter().any(String::is_empty) {
            return Err(Error::usage(format!(
                "path \"{text}\" has an empty segment; write a JSON pointer like /metadata/user or dotted keys like metadata.user"
            )));
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Follows the path in `value`; `None` when any step is absent.
    pub fn lookup<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.segments
            .iter()
            .try_fold(value, |current, segment| match current {
                Value::Object(map) => map.get(segment),
                Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            })
    }
}

/// Where each envelope field is read from.
#[derive(Debug, Clone)]
pub struct Mapping {
    paths: Vec<Vec<JsonPath>>,
}

impl Default for Mapping {
    fn default() -> Self {
        Self::generic()
    }
}

impl Mapping {
    /// The generic preset: envelope names at the top level, metadata fields also
    /// under `metadata`.
    pub fn generic() -> Self {
        let paths = EnvelopeField::ALL
            .iter()
            .map(|field| {
                field
                    .generic_paths()
                    .iter()
                    .filter_map(|p| JsonPath::parse(p).ok())
                    .collect()
            })
            .collect();
        Self { paths }
    }

    /// Applies one `field=path` override, e.g. `stream_id=aggregateId` or
    /// `actor=/meta/user`.
    pub fn apply_override(&mut self, spec: &str) -> Result<()> {
        let (name, path) = spec.split_once('=').ok_or_else(|| {
            Error::usage(format!(
                "--map \"{spec}\" is not field=path; e.g. --map stream_id=aggregateId"
            ))
        })?;
        let field = EnvelopeField::from_name(name.trim()).ok_or_else(|| {
            let names: Vec<&str> = EnvelopeField::ALL.iter().map(|f| f.name()).collect();
            Error::usage(format!(
                "--map \"{spec}\": unknown envelope field \"{name}\"; expected one of {}",
                names.join(", ")
            ))
        })?;
        self.paths[field as usize] = vec![JsonPath::parse(path.trim())?];
        Ok(())
    }

    fn lookup<'v>(&self, field: EnvelopeField, record: &'v Value) -> Option<&'v Value> {
        self.paths[field as usize]
            .iter()
            .find_map(|path| path.lookup(record))
            .filter(|value| !value.is_null())
    }

    /// A human-readable list of where `field` is looked for.
    fn describe(&self, field: EnvelopeField) -> String {
        let paths: Vec<&str> = self.paths[field as usize]
            .iter()
            .map(JsonPath::as_str)
            .collect();
        paths.join(" or ")
    }
}

/// Where a record came from, for its `source` column and its reject.
#[derive(Debug, Clone, Copy)]
pub struct RecordOrigin<'a> {
    pub file: &'a str,
    pub line: u64,
    pub byte_offset: u64,
    /// The position to use when the record carries none: its read order.
    pub default_position: u64,
}

/// Why a record failed: the field at fault (if any) and the message.
type Failure = (Option<EnvelopeField>, String);

fn missing(mapping: &Mapping, field: EnvelopeField) -> Failure {
    (
        Some(field),
        format!(
            "missing field \"{}\" (looked for {})",
            field.name(),
            mapping.describe(field)
        ),
    )
}

fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 80 {
        let cut = (0..=80)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        format!("{}…", &text[..cut])
    } else {
        text
    }
}

fn wrong_type(field: EnvelopeField, value: &Value, expected: &str) -> Failure {
    (
        Some(field),
        format!(
            "field \"{}\" is {}, expected {expected}",
            field.name(),
            show(value)
        ),
    )
}

fn text_field(
    mapping: &Mapping,
    record: &Value,
    field: EnvelopeField,
) -> Result<Option<String>, Failure> {
    match mapping.lookup(field, record) {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => {
            Err(wrong_type(field, &Value::Null, "a non-empty string"))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(wrong_type(field, other, "a string")),
    }
}

fn required_text(
    mapping: &Mapping,
    record: &Value,
    field: EnvelopeField,
) -> Result<String, Failure> {
    text_field(mapping, record, field)?.ok_or_else(|| missing(mapping, field))
}

fn unsigned_field(
    mapping: &Mapping,
    record: &Value,
    field: EnvelopeField,
) -> Result<Option<u64>, Failure> {
    let Some(value) = mapping.lookup(field, record) else {
        return Ok(None);
    };
    let parsed = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| wrong_type(field, value, "a non-negative integer"))
}

/// Parses a timestamp: an RFC 3339 string with any offset, or epoch milliseconds.
/// Returns microseconds since the epoch, UTC.
pub fn parse_timestamp(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim())
            .ok()
            .map(|t| t.timestamp_micros()),
        Value::Number(n) => n.as_i64().and_then(|ms| ms.checked_mul(1000)),
        _ => None,
    }
}

fn json_text(mapping: &Mapping, record: &Value, field: EnvelopeField) -> Option<String> {
    mapping.lookup(field, record).map(Value::to_string)
}

/// The deterministic event id of a record that has none: a hash of its bytes.
fn derived_event_id(raw: &[u8]) -> String {
    let digest = Sha256::digest(raw);
    let mut id = String::with_capacity(34);
    id.push_str("h-");
    for byte in &digest[..16] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// The aggregate type from a stream id's prefix: `task-42` → `task`.
fn type_from_prefix(stream_id: &str) -> Option<&str> {
    stream_id
        .split_once(['-', ':'])
        .map(|(prefix, _)| prefix)
        .filter(|p| !p.is_empty())
}

fn map_fields(
    mapping: &Mapping,
    record: &Value,
    raw: &[u8],
    origin: &RecordOrigin,
) -> Result<Event, Failure> {
    if !record.is_object() {
        let kind = match record {
            Value::Array(_) => "an array",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            _ => "null",
        };
        return Err((None, format!("record is {kind}, expected a JSON object")));
    }
    let stream_id = required_text(mapping, record, EnvelopeField::StreamId)?;
    let aggregate_type = match text_field(mapping, record, EnvelopeField::AggregateType)? {
        Some(t) => t,
        None => type_from_prefix(&stream_id).map(str::to_owned).ok_or_else(|| {
            (
                Some(EnvelopeField::AggregateType),
                format!(
                    "missing field \"aggregate_type\" (looked for {}) and stream id \"{stream_id}\" has no type prefix like task-42",
                    mapping.describe(EnvelopeField::AggregateType)
                ),
            )
        })?,
    };
    let event_type = required_text(mapping, record, EnvelopeField::EventType)?;
    let version = unsigned_field(mapping, record, EnvelopeField::Version)?
        .ok_or_else(|| missing(mapping, EnvelopeField::Version))?;
    if version == 0 {
        return Err((
            Some(EnvelopeField::Version),
            "field \"version\" is 0, expected 1 or more (versions are 1-based)".into(),
        ));
    }
    let occurred_value = mapping
        .lookup(EnvelopeField::OccurredAt, record)
        .ok_or_else(|| missing(mapping, EnvelopeField::OccurredAt))?;
    let occurred_at = parse_timestamp(occurred_value).ok_or_else(|| {
        wrong_type(
            EnvelopeField::OccurredAt,
            occurred_value,
            "an RFC 3339 timestamp like 2026-01-05T09:00:00+01:00 or epoch milliseconds",
        )
    })?;
    let schema_version = match unsigned_field(mapping, record, EnvelopeField::SchemaVersion)? {
        None => 1,
        Some(v) => u32::try_from(v).map_err(|_| {
            (
                Some(EnvelopeField::SchemaVersion),
                format!("field \"schema_version\" is {v}, larger than {}", u32::MAX),
            )
        })?,
    };
    let position = unsigned_field(mapping, record, EnvelopeField::Position)?
        .unwrap_or(origin.default_position);
    let event_id = text_field(mapping, record, EnvelopeField::EventId)?
        .unwrap_or_else(|| derived_event_id(raw));
    Ok(Event {
        position,
        event_id,
        stream_id,
        aggregate_type,
        version,
        event_type,
        schema_version,
        occurred_at,
        actor: text_field(mapping, record, EnvelopeField::Actor)?,
        correlation_id: text_field(mapping, record, EnvelopeField::CorrelationId)?,
        causation_id: text_field(mapping, record, EnvelopeField::CausationId)?,
        tenant: text_field(mapping, record, EnvelopeField::Tenant)?,
        payload: json_text(mapping, record, EnvelopeField::Payload),
        metadata: json_text(mapping, record, EnvelopeField::Metadata),
        source: format!("{}:{}", origin.file, origin.line),
    })
}

/// Builds the reject for `raw` at `origin`.
pub fn reject(origin: &RecordOrigin, field: Option<&str>, reason: String, raw: &[u8]) -> Reject {
    Reject {
        source_file: origin.file.to_owned(),
        line: origin.line,
        byte_offset: origin.byte_offset,
        field: field.map(str::to_owned),
        reason,
        raw: String::from_utf8_lossy(raw).into_owned(),
    }
}

/// Turns one JSON record (one NDJSON line) into an event, or a reject saying why not.
pub fn parse_json_record(
    raw: &[u8],
    mapping: &Mapping,
    origin: &RecordOrigin,
) -> Result<Event, Reject> {
    if let Err(err) = std::str::from_utf8(raw) {
        return Err(reject(
            origin,
            None,
            format!("invalid UTF-8 at byte {} of the record", err.valid_up_to()),
            raw,
        ));
    }
    let record: Value = serde_json::from_slice(raw).map_err(|err| {
        let place = format!(" at line 1 column {}", err.column());
        let reason = err.to_string().replace(&place, "");
        reject(
            origin,
            None,
            format!("malformed JSON at column {}: {reason}", err.column()),
            raw,
        )
    })?;
    map_fields(mapping, &record, raw, origin)
        .map_err(|(field, reason)| reject(origin, field.map(EnvelopeField::name), reason, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: RecordOrigin<'static> = RecordOrigin {
        file: "log.ndjson",
        line: 7,
        byte_offset: 100,
        default_position: 7,
    };

    fn parse(line: &str) -> Result<Event, Reject> {
        parse_json_record(line.as_bytes(), &Mapping::generic(), &ORIGIN)
    }

    #[test]
    fn maps_the_generic_naming_and_normalises_offsets() {
        let event = parse(r#"{"stream_id":"task-1","version":2,"event_type":"TaskStarted","occurred_at":"2026-01-05T10:00:00+01:00","payload":{"a":1},"metadata":{"actor":"ann"}}"#).unwrap();
        assert_eq!(event.aggregate_type, "task");
        assert_eq!(event.occurred_at, 1_767_603_600_000_000);
        assert_eq!(event.actor.as_deref(), Some("ann"));
        assert_eq!(event.payload.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(event.position, 7);
        assert_eq!(event.source, "log.ndjson:7");
        assert!(event.event_id.starts_with("h-"));
    }

    #[test]
    fn epoch_milliseconds_are_timestamps() {
        let event = parse(
            r#"{"stream_id":"t-1","version":1,"event_type":"X","occurred_at":1767603600000}"#,
        )
        .unwrap();
        assert_eq!(event.occurred_at, 1_767_603_600_000_000);
    }

    #[test]
    fn overrides_take_pointers_and_dotted_paths() {
        let mut mapping = Mapping::generic();
        mapping.apply_override("stream_id=aggregateId").unwrap();
        mapping.apply_override("actor=/meta/who").unwrap();
        mapping.apply_override("event_type=kind.name").unwrap();
        let line = r#"{"aggregateId":"order-9","version":1,"kind":{"name":"Placed"},"occurred_at":"2026-01-01T00:00:00Z","meta":{"who":"bo"}}"#;
        let event = parse_json_record(line.as_bytes(), &mapping, &ORIGIN).unwrap();
        assert_eq!(
            (event.stream_id.as_str(), event.event_type.as_str()),
            ("order-9", "Placed")
        );
        assert_eq!(event.actor.as_deref(), Some("bo"));
        assert!(mapping.apply_override("nonsense=x").is_err());
        assert!(mapping.apply_override("actor").is_err());
    }

    #[test]
    fn bad_records_become_rejects_naming_the_field() {
        let cases = [
            (
                r#"{"stream_id":"task-1","version":1"#,
                None,
                "malformed JSON",
            ),
            (r#"[1,2]"#, None, "record is an array"),
            (
                r#"{"version":1,"event_type":"X","occurred_at":1}"#,
                Some("stream_id"),
                "missing field \"stream_id\"",
            ),
            (
                r#"{"stream_id":"t-1","version":"three","event_type":"X","occurred_at":1}"#,
                Some("version"),
                "field \"version\" is \"three\", expected a non-negative integer",
            ),
            (
                r#"{"stream_id":"t-1","version":1,"event_type":"X","occurred_at":"yesterday"}"#,
                Some("occurred_at"),
                "field \"occurred_at\" is \"yesterday\"",
            ),
            (
                r#"{"stream_id":"nodash","version":1,"event_type":"X","occurred_at":1}"#,
                Some("aggregate_type"),
                "has no type prefix",
            ),
        ];
        for (line, field, reason) in cases {
            let reject = parse(line).unwrap_err();
            assert_eq!(reject.field.as_deref(), field, "{line}");
            assert!(reject.reason.contains(reason), "{line}: {}", reject.reason);
            assert_eq!(reject.raw, line);
            assert_eq!(reject.line, 7);
        }
        let invalid =
            parse_json_record(b"{\"a\":\"\xff\"}", &Mapping::generic(), &ORIGIN).unwrap_err();
        assert!(
            invalid.reason.starts_with("invalid UTF-8 at byte 6"),
            "{}",
            invalid.reason
        );
    }
}
