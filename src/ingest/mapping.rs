//! Mapping one parsed record onto the canonical envelope.
//!
//! A [`Mapping`] says where each envelope field comes from: a list of
//! [`Source`]s tried in order (the first present wins): a column or JSON path, a
//! template built from several, a constant, or a derivation. A preset (see
//! [`super::presets`]) is a ready-made mapping; `--map field=SPEC` and a mapping
//! file replace single entries. A record either becomes an [`Event`] or a
//! [`Reject`] whose reason names the field and the bad value: mapping never fails
//! the run.

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::envelope::{Event, MappedEvent, Reject};
use crate::support::json_path::{JsonPath, Members};
use crate::support::time::TimeOptions;
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

    /// The field with this column name.
    /// Whether the field holds JSON text (payload, metadata).
    pub fn is_json(self) -> bool {
        matches!(self, EnvelopeField::Payload | EnvelopeField::Metadata)
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|field| field.name() == name)
    }
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Field(JsonPath),
}

/// Where an envelope field's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A column or JSON path: `stream_id`, `data.id`, `/meta/user`.
    Path(JsonPath),
    /// Text with `{path}` placeholders: `{type}.{payload.action}`.
    Template(Vec<Piece>),
    /// The same value for every record: `=incident`.
    Const(String),
    /// The record's place in its stream in read order, from 1: `@order` (version).
    Order,
    /// Every top-level field no other entry reads, as an object: `@rest` (payload).
    Rest,
    /// The documented derivation for a missing value: `@hash` (event_id: a hash of
    /// the record) and `@prefix` (aggregate_type: the stream id's prefix).
    Derived,
}

impl Source {
    /// Parses one source spec, as written in `--map` or a mapping file.
    pub fn parse(field: EnvelopeField, spec: &str) -> Result<Self> {
        let spec = spec.trim();
        let derived = |name: &str, allowed: &[EnvelopeField]| {
            if allowed.contains(&field) {
                Ok(())
            } else {
                let names: Vec<&str> = allowed.iter().map(|f| f.name()).collect();
                Err(Error::usage(format!(
                    "{name} applies to {}, not to {}",
                    names.join(" and "),
                    field.name()
                )))
            }
        };
        Ok(match spec {
            "@order" => {
                derived(spec, &[EnvelopeField::Version])?;
                Source::Order
            }
            "@rest" => {
                derived(spec, &[EnvelopeField::Payload, EnvelopeField::Metadata])?;
                Source::Rest
            }
            "@hash" => {
                derived(spec, &[EnvelopeField::EventId])?;
                Source::Derived
            }
            "@prefix" => {
                derived(spec, &[EnvelopeField::AggregateType])?;
                Source::Derived
            }
            _ if spec.starts_with('@') => {
                return Err(Error::usage(format!(
                    "\"{spec}\" is not a derivation; expected @order, @rest, @hash or @prefix"
                )))
            }
            _ => match spec.strip_prefix('=') {
                Some(constant) => Source::Const(constant.to_owned()),
                None if spec.contains('{') => Source::Template(parse_template(spec)?),
                None => Source::Path(JsonPath::parse(spec)?),
            },
        })
    }

    /// The spec as it would be written.
    fn describe(&self) -> String {
        match self {
            Source::Path(path) => path.as_str().to_owned(),
            Source::Template(pieces) => pieces
                .iter()
                .map(|piece| match piece {
                    Piece::Text(text) => text.clone(),
                    Piece::Field(path) => format!("{{{}}}", path.as_str()),
                })
                .collect(),
            Source::Const(text) => format!("={text}"),
            Source::Order => "@order".into(),
            Source::Rest => "@rest".into(),
            Source::Derived => "@derived".into(),
        }
    }

    fn paths(&self) -> Vec<&JsonPath> {
        match self {
            Source::Path(path) => vec![path],
            Source::Template(pieces) => pieces
                .iter()
                .filter_map(|piece| match piece {
                    Piece::Field(path) => Some(path),
                    Piece::Text(_) => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn parse_template(spec: &str) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut rest = spec;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_owned()));
        }
        let close = rest[open..].find('}').ok_or_else(|| {
            Error::usage(format!(
                "template \"{spec}\" has a {{ without its closing }}"
            ))
        })?;
        pieces.push(Piece::Field(JsonPath::parse(
            &rest[open + 1..open + close],
        )?));
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err(Error::usage(format!(
            "template \"{spec}\" has a }} without its opening {{"
        )));
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

/// Where each envelope field is read from, and how versions and times are read.
#[derive(Debug, Clone)]
pub struct Mapping {
    sources: Vec<Vec<Source>>,
    /// The number the source gives a stream's first event: 1, or 0 for stores
    /// that count from zero (KurrentDB, Axon). Versions are stored 1-based.
    pub version_base: u64,
    pub time: TimeOptions,
    /// Top-level keys that some source reads (what `@rest` leaves out).
    used_keys: HashSet<String>,
    /// Top-level keys some source reads inside (not only whole, as JSON text
    /// for payload or metadata): what an NDJSON record parses of itself.
    parsed_keys: Vec<String>,
    /// Whether a source is `@rest`, which needs the whole record parsed.
    reads_rest: bool,
    /// Whether every source is a path or a derivation other than `@rest`: what
    /// the direct way ([`Direct`]) reads.
    direct: bool,
}

impl Mapping {
    /// A mapping from `(field, specs)` pairs; fields not named have no source.
    pub fn from_specs(specs: &[(EnvelopeField, &[&str])]) -> Result<Self> {
        let mut mapping = Self {
            sources: vec![Vec::new(); EnvelopeField::ALL.len()],
            version_base: 1,
            time: TimeOptions::default(),
            used_keys: HashSet::new(),
            parsed_keys: Vec::new(),
            reads_rest: false,
            direct: true,
        };
        for (field, specs) in specs {
            mapping.set(*field, specs)?;
        }
        Ok(mapping)
    }

    /// The generic preset (the naming the README documents).
    pub fn generic() -> Self {
        Self::default()
    }

    /// Replaces the sources of `field` with `specs`, tried in order.
    pub fn set(&mut self, field: EnvelopeField, specs: &[&str]) -> Result<()> {
        let sources = specs
            .iter()
            .map(|spec| Source::parse(field, spec))
            .collect::<Result<Vec<_>>>()
            .map_err(|e| Error::usage(format!("{}: {e}", field.name())))?;
        // Versions are numbered for the whole stream or read for every record:
        // a fallback between the two would mix both numberings in one stream.
        if sources.len() > 1 && sources.contains(&Source::Order) {
            return Err(Error::usage(format!(
                "{}: @order stands alone; it cannot be one of several sources",
                field.name()
            )));
        }
        self.sources[field as usize] = sources;
        let mut used = HashSet::new();
        let mut parsed = HashSet::new();
        let mut text_only = HashSet::new();
        for field in EnvelopeField::ALL {
            for source in &self.sources[field as usize] {
                for path in source.paths() {
                    let mut keys = vec![path.first_key().to_owned()];
                    if path.whole_key() {
                        keys.push(path.as_str().to_owned());
                    }
                    if field.is_json() && path.is_top_level() {
                        text_only.extend(keys.iter().cloned());
                    } else {
                        parsed.extend(keys.iter().cloned());
                    }
                    used.extend(keys);
                }
            }
        }
        let text_only: HashSet<String> = text_only.difference(&parsed).cloned().collect();
        self.parsed_keys = used.difference(&text_only).cloned().collect();
        self.parsed_keys.sort();
        self.used_keys = used;
        self.reads_rest = self.sources.iter().flatten().any(|s| *s == Source::Rest);
        self.direct = self
            .sources
            .iter()
            .flatten()
            .all(|s| matches!(s, Source::Path(_) | Source::Derived | Source::Order));
        Ok(())
    }

    /// Applies one `field=spec` override, e.g. `stream_id=aggregateId`,
    /// `actor=/meta/user`, `aggregate_type==task` or `version=@order`.
    pub fn apply_override(&mut self, spec: &str) -> Result<()> {
        let (name, source) = split_override(spec)?;
        let field = parse_field(name)?;
        self.set(field, &[source])
    }

    /// A hash of what the mapping reads and how: equal for equal mappings, so
    /// an incremental run can tell that its inputs are mapped as before.
    pub fn fingerprint(&self) -> String {
        let text = format!("{:?}|{}|{:?}", self.sources, self.version_base, self.time);
        crate::support::digest::sha256_hex(text.as_bytes())
    }

    /// Whether versions are counted in read order rather than read.
    pub fn versions_from_order(&self) -> bool {
        self.sources[EnvelopeField::Version as usize].contains(&Source::Order)
    }

    fn resolve<'v>(
        &self,
        field: EnvelopeField,
        record: &'v Value,
    ) -> Result<Option<Cow<'v, Value>>, Failure> {
        for source in &self.sources[field as usize] {
            if let Some(value) = self.resolve_source(field, source, record)? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    /// The value of one source of `field`; `None` when absent or null.
    fn resolve_source<'v>(
        &self,
        field: EnvelopeField,
        source: &Source,
        record: &'v Value,
    ) -> Result<Option<Cow<'v, Value>>, Failure> {
        let found = match source {
            Source::Path(path) => path.lookup(record).map(Cow::Borrowed),
            Source::Const(text) => Some(Cow::Owned(Value::String(text.clone()))),
            Source::Template(pieces) => Some(Cow::Owned(render(field, pieces, record)?)),
            Source::Rest => Some(Cow::Owned(self.rest(record))),
            Source::Order => Some(Cow::Owned(Value::from(0u64))),
            Source::Derived => None,
        };
        Ok(found.filter(|value| !value.is_null()))
    }

    fn rest(&self, record: &Value) -> Value {
        let map: Map<String, Value> = record
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(key, value)| !self.used_keys.contains(*key) && !value.is_null())
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        Value::Object(map)
    }

    /// A human-readable list of where `field` is looked for.
    fn describe(&self, field: EnvelopeField) -> String {
        let sources: Vec<String> = self.sources[field as usize]
            .iter()
            .map(Source::describe)
            .collect();
        if sources.is_empty() {
            "no source is mapped".into()
        } else {
            sources.join(" or ")
        }
    }
}

/// The envelope field named `name`, or an error listing the names.
/// Splits a `--map` override, `field=source`, at its first `=` (a constant
/// source starts with one of its own: `aggregate_type==task`); the field's
/// name comes trimmed.
pub fn split_override(spec: &str) -> Result<(&str, &str)> {
    let (name, source) = spec.split_once('=').ok_or_else(|| {
        Error::usage(format!(
            "--map \"{spec}\" is not field=source; e.g. --map stream_id=aggregateId"
        ))
    })?;
    Ok((name.trim(), source))
}

pub fn parse_field(name: &str) -> Result<EnvelopeField> {
    EnvelopeField::from_name(name.trim()).ok_or_else(|| {
        let names: Vec<&str> = EnvelopeField::ALL.iter().map(|f| f.name()).collect();
        Error::usage(format!(
            "unknown envelope field \"{}\"; expected one of {}",
            name.trim(),
            names.join(", ")
        ))
    })
}

fn render(field: EnvelopeField, pieces: &[Piece], record: &Value) -> Result<Value, Failure> {
    let mut text = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(literal) => text.push_str(literal),
            Piece::Field(path) => match path.lookup(record) {
                Some(Value::String(s)) => text.push_str(s),
                Some(value @ (Value::Number(_) | Value::Bool(_))) => {
                    text.push_str(&value.to_string())
                }
                Some(Value::Null) | None => {
                    return Err((
                        Some(field),
                        format!(
                            "field \"{}\": template part {{{}}} is missing",
                            field.name(),
                            path.as_str()
                        ),
                    ))
                }
                Some(other) => {
                    return Err(wrong_type(
                        field,
                        other,
                        &format!("a text or number at {{{}}}", path.as_str()),
                    ))
                }
            },
        }
    }
    Ok(Value::String(text))
}

/// A CSV cell (or Parquet text column) as a JSON value: empty is absent, text
/// holding a JSON object or array is that JSON, anything else is text.
pub fn cell_value(text: &str) -> Value {
    let trimmed = text.trim_start();
    if text.is_empty() {
        Value::Null
    } else if trimmed.starts_with('{') || trimmed.starts_with('[') {
        serde_json::from_str(trimmed).unwrap_or_else(|_| Value::String(text.to_owned()))
    } else {
        Value::String(text.to_owned())
    }
}

/// Where a record came from, for its `source` column and its reject.
#[derive(Debug, Clone, Copy)]
pub struct RecordOrigin<'a> {
    pub file: &'a str,
    /// 1-based line (or row) where the record starts.
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
    match mapping.resolve(field, record)?.as_deref() {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => {
            Err(wrong_type(field, &Value::Null, "a non-empty string"))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(wrong_type(field, other, "a string")),
    }
}

fn unsigned_field(
    mapping: &Mapping,
    record: &Value,
    field: EnvelopeField,
) -> Result<Option<u64>, Failure> {
    let Some(value) = mapping.resolve(field, record)? else {
        return Ok(None);
    };
    let parsed = match value.as_ref() {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| wrong_type(field, &value, "a non-negative integer"))
}

/// The JSON text of `field`. A top-level key of an NDJSON record (`members`)
/// is taken as written, neither parsed nor re-serialised; other sources are
/// serialised from the record's value, and without one (the direct way) they
/// send the record the general way.
fn json_text<'a>(
    mapping: &Mapping,
    record: Option<&Value>,
    members: Option<&Members<'a>>,
    field: EnvelopeField,
) -> Result<Option<Cow<'a, str>>, Failure> {
    for source in &mapping.sources[field as usize] {
        if let (Some(members), Source::Path(path)) = (members, source) {
            if let Some(key) = path.top_level_key() {
                match members.get(key).and_then(present) {
                    Some(text) => return Ok(Some(Cow::Borrowed(text))),
                    None => continue,
                }
            }
        }
        let Some(record) = record else {
            return Err(not_direct(()));
        };
        if let Some(value) = mapping.resolve_source(field, source, record)? {
            return Ok(Some(Cow::Owned(value.to_string())));
        }
    }
    Ok(None)
}

/// A raw value's text, `None` when it is `null` (absent, as for a parsed value).
fn present(value: &RawValue) -> Option<&str> {
    Some(value.get()).filter(|text| *text != "null")
}

/// The deterministic event id of a record that has none: a hash of its bytes.
fn derived_event_id(raw: &[u8]) -> String {
    format!(
        "h-{}",
        crate::support::digest::hex(&Sha256::digest(raw)[..16])
    )
}

/// The aggregate type from a stream id's prefix: `task-42` → `task`.
fn type_from_prefix(stream_id: &str) -> Option<&str> {
    stream_id
        .split_once(['-', ':'])
        .map(|(prefix, _)| prefix)
        .filter(|p| !p.is_empty())
}

fn version<'a>(mapping: &Mapping, fields: &mut impl Fields<'a>) -> Result<u64, Failure> {
    if mapping.versions_from_order() {
        // Numbered in read order once the record's stream is known (see ingest).
        return Ok(0);
    }
    let field = EnvelopeField::Version;
    let read = fields
        .unsigned(field)?
        .ok_or_else(|| missing(mapping, field))?;
    if read < mapping.version_base {
        return Err((
            Some(field),
            format!(
                "field \"version\" is {read}, expected {} or more (this mapping counts versions from {})",
                mapping.version_base, mapping.version_base
            ),
        ));
    }
    Ok(read - mapping.version_base + 1)
}

/// A record's text, made only when needed (a derived event id, a reject).
pub type RawText<'r> = &'r dyn Fn() -> Cow<'r, [u8]>;

/// Where [`map_fields`] reads the envelope's fields from: a record parsed into
/// a JSON value ([`Parsed`]), or an NDJSON record's members as written
/// ([`Direct`]). Each gives `None` for a field absent or null, and texts
/// borrowed from the record's text (`'a`) where they are written plainly.
trait Fields<'a> {
    /// A text field: a non-empty string (or a number, as text).
    fn text(&mut self, field: EnvelopeField) -> Result<Option<Cow<'a, str>>, Failure>;
    /// A non-negative integer (or a string holding one).
    fn unsigned(&mut self, field: EnvelopeField) -> Result<Option<u64>, Failure>;
    /// A timestamp, in microseconds since the epoch.
    fn time(&mut self, field: EnvelopeField) -> Result<Option<i64>, Failure>;
    /// A JSON field (payload, metadata) as JSON text.
    fn json(&mut self, field: EnvelopeField) -> Result<Option<Cow<'a, str>>, Failure>;
}

/// The fields of a record parsed into a JSON object; `members` are the same
/// record's top-level members as written, when it was an NDJSON line.
struct Parsed<'r, 'a> {
    mapping: &'r Mapping,
    record: &'r Value,
    members: Option<&'r Members<'a>>,
}

impl<'a> Fields<'a> for Parsed<'_, 'a> {
    fn text(&mut self, field: EnvelopeField) -> Result<Option<Cow<'a, str>>, Failure> {
        Ok(text_field(self.mapping, self.record, field)?.map(Cow::Owned))
    }

    fn unsigned(&mut self, field: EnvelopeField) -> Result<Option<u64>, Failure> {
        unsigned_field(self.mapping, self.record, field)
    }

    fn time(&mut self, field: EnvelopeField) -> Result<Option<i64>, Failure> {
        let Some(value) = self.mapping.resolve(field, self.record)? else {
            return Ok(None);
        };
        let time = &self.mapping.time;
        time.parse(&value)
            .map(Some)
            .ok_or_else(|| wrong_type(field, &value, &time.expected()))
    }

    fn json(&mut self, field: EnvelopeField) -> Result<Option<Cow<'a, str>>, Failure> {
        json_text(self.mapping, Some(self.record), self.members, field)
    }
}

/// Says why `record` is not an object, the only records that map.
fn object(record: &Value) -> Result<(), Failure> {
    let kind = match record {
        Value::Object(_) => return Ok(()),
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
    };
    Err((None, format!("record is {kind}, expected a JSON object")))
}

fn map_fields<'a>(
    mapping: &Mapping,
    fields: &mut impl Fields<'a>,
    raw: RawText,
    origin: &RecordOrigin,
) -> Result<MappedEvent<'a>, Failure> {
    let required =
        |field, value: Option<Cow<'a, str>>| value.ok_or_else(|| missing(mapping, field));
    let stream_id = required(
        EnvelopeField::StreamId,
        fields.text(EnvelopeField::StreamId)?,
    )?;
    let aggregate_type = match fields.text(EnvelopeField::AggregateType)? {
        Some(t) => t,
        None => match &stream_id {
            Cow::Borrowed(id) => type_from_prefix(id).map(Cow::Borrowed),
            Cow::Owned(id) => type_from_prefix(id).map(|t| Cow::Owned(t.to_owned())),
        }
        .ok_or_else(|| {
            (
                Some(EnvelopeField::AggregateType),
                format!(
                    "missing field \"aggregate_type\" (looked for {}) and stream id \"{stream_id}\" has no type prefix like task-42",
                    mapping.describe(EnvelopeField::AggregateType)
                ),
            )
        })?,
    };
    let event_type = required(
        EnvelopeField::EventType,
        fields.text(EnvelopeField::EventType)?,
    )?;
    let version = version(mapping, fields)?;
    let occurred_at = fields
        .time(EnvelopeField::OccurredAt)?
        .ok_or_else(|| missing(mapping, EnvelopeField::OccurredAt))?;
    let schema_version = match fields.unsigned(EnvelopeField::SchemaVersion)? {
        None => 1,
        Some(v) => u32::try_from(v).map_err(|_| {
            (
                Some(EnvelopeField::SchemaVersion),
                format!("field \"schema_version\" is {v}, larger than {}", u32::MAX),
            )
        })?,
    };
    let position = fields
        .unsigned(EnvelopeField::Position)?
        .unwrap_or(origin.default_position);
    let event_id = fields
        .text(EnvelopeField::EventId)?
        .unwrap_or_else(|| Cow::Owned(derived_event_id(&raw())));
    Ok(MappedEvent {
        position,
        event_id,
        stream_id,
        aggregate_type,
        version,
        event_type,
        schema_version,
        occurred_at,
        actor: fields.text(EnvelopeField::Actor)?,
        correlation_id: fields.text(EnvelopeField::CorrelationId)?,
        causation_id: fields.text(EnvelopeField::CausationId)?,
        tenant: fields.text(EnvelopeField::Tenant)?,
        payload: fields.json(EnvelopeField::Payload)?,
        metadata: fields.json(EnvelopeField::Metadata)?,
        source: Cow::Owned(format!("{}:{}", origin.file, origin.line)),
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

/// Maps a record already read into a JSON value (a CSV row, an XES event, a
/// Parquet row); `raw` makes its text for the reject and the derived event id.
pub fn map_record(
    record: &Value,
    raw: RawText,
    mapping: &Mapping,
    origin: &RecordOrigin,
) -> Result<Event, Reject> {
    map_value(record, raw, mapping, origin).map(Event::from)
}

/// [`map_record`]'s event before it owns its texts (every one is owned
/// already: a record parsed into a value lends none).
fn map_value<'a>(
    record: &Value,
    raw: RawText,
    mapping: &Mapping,
    origin: &RecordOrigin,
) -> Result<MappedEvent<'a>, Reject> {
    let mut fields = Parsed {
        mapping,
        record,
        members: None,
    };
    object(record)
        .and_then(|()| map_fields(mapping, &mut fields, raw, origin))
        .map_err(|(field, reason)| reject(origin, field.map(EnvelopeField::name), reason, &raw()))
}

/// The fast way to map an NDJSON record: split the object into its members
/// without parsing their values, parse only the members a source reads into
/// values, and keep payload and metadata as the text they are. `None` when the
/// record needs the general way: not an object, a key with escapes, or a
/// mapping with `@rest`.
fn map_members<'a>(
    text: &'a str,
    mapping: &Mapping,
    origin: &RecordOrigin,
) -> Option<Result<MappedEvent<'a>, Reject>> {
    if mapping.reads_rest {
        return None;
    }
    let members: Members = serde_json::from_str(text).ok()?;
    let raw = || Cow::Borrowed(text.as_bytes());
    if mapping.direct {
        let mut direct = Direct {
            mapping,
            members: &members,
            nested: Vec::new(),
        };
        // Whatever the direct way does not map, the way below maps or rejects.
        if let Ok(event) = map_fields(mapping, &mut direct, &raw, origin) {
            return Some(Ok(event));
        }
    }
    let mut object = Map::new();
    for (key, value) in members.entries() {
        if mapping.parsed_keys.iter().any(|k| k == key) {
            object.insert((*key).to_owned(), serde_json::from_str(value.get()).ok()?);
        }
    }
    let record = Value::Object(object);
    let mut fields = Parsed {
        mapping,
        record: &record,
        members: Some(&members),
    };
    Some(
        map_fields(mapping, &mut fields, &raw, origin).map_err(|(field, reason)| {
            reject(
                origin,
                field.map(EnvelopeField::name),
                reason,
                text.as_bytes(),
            )
        }),
    )
}

/// The direct way to map a clean NDJSON record: each field read from its
/// member's text, strings borrowed where they hold no escapes, no JSON value
/// built. Anything it does not map the plain way (a string with escapes, a
/// number where text is expected, a missing or malformed field, an array on a
/// path) fails [`map_fields`], and the record goes the general way of
/// [`map_members`], which maps it or says why not: so both ways give the same
/// events and rejects, and this one stays simple.
struct Direct<'m, 'a> {
    mapping: &'m Mapping,
    members: &'m Members<'a>,
    /// Objects on the way of nested paths (`metadata.actor`), split once a
    /// record, by the address of their text.
    nested: Vec<(*const RawValue, Members<'a>)>,
}

impl<'a> Direct<'_, 'a> {
    /// The value at `path`; `Err(())` where the direct way stops.
    fn lookup(&mut self, path: &JsonPath) -> Result<Option<&'a RawValue>, ()> {
        if path.whole_key() && path.segments().len() > 1 {
            if let Some(found) = self.members.get(path.as_str()) {
                return Ok(Some(found));
            }
        }
        let Some(mut current) = self.members.get(path.first_key()) else {
            return Ok(None);
        };
        for segment in &path.segments()[1..] {
            let text = current.get();
            if text.starts_with('[') {
                return Err(());
            }
            if !text.starts_with('{') {
                return Ok(None);
            }
            let address: *const RawValue = current;
            let index = match self
                .nested
                .iter()
                .position(|(a, _)| std::ptr::addr_eq(*a, address))
            {
                Some(index) => index,
                None => {
                    let members: Members<'a> = serde_json::from_str(text).map_err(|_| ())?;
                    self.nested.push((address, members));
                    self.nested.len() - 1
                }
            };
            match self.nested[index].1.get(segment) {
                Some(next) => current = next,
                None => return Ok(None),
            }
        }
        Ok(Some(current))
    }

    /// The text of the first source of `field` present and not null.
    fn raw(&mut self, field: EnvelopeField) -> Result<Option<&'a str>, ()> {
        for source in &self.mapping.sources[field as usize] {
            let Source::Path(path) = source else { continue };
            if let Some(text) = self.lookup(path)?.and_then(present) {
                return Ok(Some(text));
            }
        }
        Ok(None)
    }

    /// The text of a string without escapes at `field`; `Err(())` for any other value.
    fn plain_string(&mut self, field: EnvelopeField) -> Result<Option<&'a str>, ()> {
        match self.raw(field)? {
            None => Ok(None),
            Some(raw) => match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
                Some(text) if !text.contains('\\') => Ok(Some(text)),
                _ => Err(()),
            },
        }
    }
}

/// Where the direct way stops: the failure is not reported, the record is
/// mapped again the general way, which says why.
fn not_direct(_: ()) -> Failure {
    (None, String::new())
}

impl<'a> Fields<'a> for Direct<'_, 'a> {
    fn text(&mut self, field: EnvelopeField) -> Result<Option<Cow<'a, str>>, Failure> {
        match self.plain_string(field).map_err(not_direct)? {
            Some("") => Err(not_direct(())),
            text => Ok(text.map(Cow::Borrowed)),
        }
    }

    fn unsigned(&mut self, field: EnvelopeField) -> Result<Option<u64>, Failure> {
        match self.raw(field).map_err(not_direct)? {
            None => Ok(None),
            Some(raw) => raw.parse().map(Some).map_err(|_| not_direct(())),
        }
    }

    fn time(&mut self, field: EnvelopeField) -> Result<Option<i64>, Failure> {
        match self.plain_string(field).map_err(not_direct)? {
            None => Ok(None),
            Some(text) => match self.mapping.time.parse_text(text.trim()) {
                Some(micros) => Ok(Some(micros)),
                None => Err(not_direct(())),
            },
        }
    }

    fn json(&mut self, field: EnvelopeField) -> Result<Option<Cow<'a, str>>, Failure> {
        json_text(self.mapping, None, Some(self.members), field)
    }
}

/// Turns one JSON record (one NDJSON line) into an event, or a reject saying why not.
pub fn parse_json_record<'a>(
    raw: &'a [u8],
    mapping: &Mapping,
    origin: &RecordOrigin,
) -> Result<MappedEvent<'a>, Reject> {
    let text = match std::str::from_utf8(raw) {
        Ok(text) => text,
        Err(err) => {
            return Err(reject(
                origin,
                None,
                format!("invalid UTF-8 at byte {} of the record", err.valid_up_to()),
                raw,
            ))
        }
    };
    if let Some(mapped) = map_members(text, mapping, origin) {
        return mapped;
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
    map_value(&record, &|| Cow::Borrowed(raw), mapping, origin)
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
        parse_json_record(line.as_bytes(), &Mapping::generic(), &ORIGIN).map(Event::from)
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
    fn an_override_splits_at_its_first_equals_sign() {
        assert_eq!(
            split_override(" actor =/meta/user").unwrap(),
            ("actor", "/meta/user")
        );
        assert_eq!(
            split_override("aggregate_type==task").unwrap(),
            ("aggregate_type", "=task")
        );
        let message = split_override("actor").unwrap_err().to_string();
        assert!(message.contains("is not field=source"), "{message}");
    }

    #[test]
    fn overrides_take_pointers_and_dotted_paths() {
        let mut mapping = Mapping::generic();
        mapping.apply_override("stream_id=aggregateId").unwrap();
        mapping.apply_override("actor=/meta/who").unwrap();
        mapping.apply_override("event_type=kind.name").unwrap();
        let line = r#"{"aggregateId":"order-9","version":1,"kind":{"name":"Placed"},"occurred_at":"2026-01-01T00:00:00Z","meta":{"who":"bo"}}"#;
        let event = Event::from(parse_json_record(line.as_bytes(), &mapping, &ORIGIN).unwrap());
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

    /// The general way: the whole record parsed into a value first.
    fn parse_whole(line: &[u8], mapping: &Mapping) -> Result<Event, Reject> {
        let value: Value =
            serde_json::from_slice(line).map_err(|e| reject(&ORIGIN, None, e.to_string(), line))?;
        map_record(&value, &|| Cow::Borrowed(line), mapping, &ORIGIN)
    }

    /// An event with its JSON text fields parsed, to compare content.
    fn parsed_json(mut event: Event) -> (Event, Option<Value>, Option<Value>) {
        let parse = |text: Option<String>| text.map(|t| serde_json::from_str::<Value>(&t).unwrap());
        let (payload, metadata) = (parse(event.payload.take()), parse(event.metadata.take()));
        (event, payload, metadata)
    }

    #[test]
    fn payload_and_metadata_keep_the_text_as_written() {
        let line = r#"{"stream_id":"task-1","version":1,"event_type":"X","occurred_at":1,"payload": {"b": 1.10, "a": "\u00e9"},"metadata":{"actor":"ann","z":[1, 2]}}"#;
        let event = parse(line).unwrap();
        assert_eq!(
            event.payload.as_deref(),
            Some(r#"{"b": 1.10, "a": "\u00e9"}"#)
        );
        assert_eq!(
            event.metadata.as_deref(),
            Some(r#"{"actor":"ann","z":[1, 2]}"#)
        );
        assert_eq!(event.actor.as_deref(), Some("ann"));
        // A null payload is no payload, as in the general way.
        let event = parse(
            r#"{"stream_id":"task-1","version":1,"event_type":"X","occurred_at":1,"payload":null}"#,
        )
        .unwrap();
        assert_eq!(event.payload, None);
    }

    /// The record mapped the direct way, if it can be.
    fn direct(line: &str, mapping: &Mapping) -> Option<Event> {
        let members: Members = serde_json::from_str(line).ok()?;
        let mut direct = Direct {
            mapping,
            members: &members,
            nested: Vec::new(),
        };
        let raw = || Cow::Borrowed(line.as_bytes());
        map_fields(mapping, &mut direct, &raw, &ORIGIN)
            .ok()
            .map(Event::from)
    }

    #[test]
    fn the_direct_way_maps_clean_records_and_leaves_the_rest() {
        let mapping = Mapping::generic();
        let mut mapped = 0;
        let lines = crate::embedded::SAMPLE_EVENTS.split(|b| *b == b'\n');
        for line in lines.filter_map(|l| std::str::from_utf8(l).ok()) {
            let general = parse_whole(line.as_bytes(), &mapping);
            if let Some(event) = direct(line, &mapping) {
                mapped += 1;
                let general = general.expect("the direct way maps only what maps");
                assert_eq!(parsed_json(event), parsed_json(general));
            }
        }
        // The sample's clean records (all but a few dozen damaged on purpose).
        assert!(mapped > 2900, "{mapped} records mapped the direct way");
        let nested = r#"{"stream_id":"task-1","version":1,"event_type":"X","occurred_at":"2026-01-05T09:00:00Z","metadata":{"actor":"a","actor":"b"}}"#;
        assert_eq!(
            direct(nested, &mapping).unwrap().actor.as_deref(),
            Some("b")
        );
        for left in [
            r#"{"stream_id":"task-1","version":1,"event_type":"X\n","occurred_at":"2026-01-05T09:00:00Z"}"#,
            r#"{"stream_id":"task-1","version":"1","event_type":"X","occurred_at":"2026-01-05T09:00:00Z"}"#,
            r#"{"stream_id":"task-1","version":1,"event_type":"X","occurred_at":1767603600000}"#,
            r#"{"stream_id":"task-1","version":1,"event_type":"X","occurred_at":"2026-01-05T09:00:00Z","metadata":[]}"#,
        ] {
            assert!(direct(left, &mapping).is_none(), "{left}");
        }
    }

    #[test]
    fn the_fast_way_maps_every_record_as_the_general_way_does() {
        let mut templated = Mapping::generic();
        templated
            .apply_override("event_type={event_type}.{payload.status}")
            .unwrap();
        let mut fallback = Mapping::generic();
        fallback
            .set(EnvelopeField::Payload, &["data", "payload"])
            .unwrap();
        let mut lines: Vec<&[u8]> = crate::embedded::SAMPLE_EVENTS
            .split(|b| *b == b'\n')
            .collect();
        lines.push(br#"{"stream_id":"task-1","version":1,"event_type":"X","occurred_at":1,"data":null,"payload":{"k":[true,null]}}"#);
        lines.push(br#"{"stream\u005fid":"task-1","version":1,"event_type":"X","occurred_at":1}"#);
        lines.push(br#"{"stream_id":"task-1","stream_id":"task-2","version":1,"event_type":"X","occurred_at":1}"#);
        // What the direct way leaves to the others: escapes, numbers where text
        // is expected, text where numbers are, nested paths through arrays and
        // non-objects, a version below the base, control characters.
        lines.push(br#"{"stream_id":"task-\u0031","version":1,"event_type":"X\n","occurred_at":"2026-01-05T09:00:00Z"}"#);
        lines.push(br#"{"stream_id":7,"version":"2","event_type":"X","occurred_at":"2026-01-05T09:00:00Z"}"#);
        lines.push(br#"{"stream_id":"task-1","version":-1,"event_type":"X","occurred_at":"2026-01-05T09:00:00Z"}"#);
        lines.push(br#"{"stream_id":"task-1","version":1.5,"event_type":"X","occurred_at":"2026-01-05T09:00:00Z"}"#);
        lines.push(br#"{"stream_id":"task-1","version":0,"event_type":"X","occurred_at":"2026-01-05T09:00:00Z"}"#);
        lines.push(br#"{"stream_id":"task-1","version":1,"event_type":"","occurred_at":"2026-01-05T09:00:00Z"}"#);
        lines.push(
            br#"{"stream_id":"task-1","version":1,"event_type":"X","occurred_at":"yesterday"}"#,
        );
        lines.push(br#"{"stream_id":"task-1","version":1,"event_type":"X","occurred_at":"2026-01-05T09:00:00Z","metadata":[{"actor":"a"}]}"#);
        lines.push(br#"{"stream_id":"task-1","version":1,"event_type":"X","occurred_at":"2026-01-05T09:00:00Z","metadata":"text"}"#);
        lines.push(br#"{"stream_id":"task-1","version":1,"event_type":"X","occurred_at":"2026-01-05T09:00:00Z","metadata":{"actor":"a","actor":"b","tenant":null},"metadata.actor":"c"}"#);
        lines.push(br#"{"stream_id":"task-1","version":1,"event_type":"X","occurred_at":"2026-01-05T09:00:00Z","metadata":{"act\u006fr":"a"}}"#);
        lines.push(b"{\"stream_id\":\"task-1\",\"version\":1,\"event_type\":\"X\tY\",\"occurred_at\":\"2026-01-05T09:00:00Z\"}");
        lines.push(br#"{"stream_id":"task-1","version":1,"event_type":"X","occurred_at":"2026-01-05T09:00:00Z","metadata":{"who":{"name":"n"},"actor":"a"}}"#);
        lines.push(br#"{"stream_id":"nodash","version":1,"event_type":"X","occurred_at":"2026-01-05T09:00:00Z","schema_version":4294967296}"#);
        lines.push(br#"{"stream_id":"task-1","version":1,"event_type":"X","occurred_at":"2026-01-05T09:00:00Z","schema_version":4294967296,"position":18446744073709551616}"#);
        let mut nested = Mapping::generic();
        nested
            .set(
                EnvelopeField::Actor,
                &["/metadata/who/name", "metadata.actor"],
            )
            .unwrap();
        nested.version_base = 0;
        assert!(Mapping::generic().direct && nested.direct && !templated.direct);
        for mapping in [Mapping::generic(), templated, fallback, nested] {
            for line in &lines {
                if line.is_empty() {
                    continue;
                }
                let fast = parse_json_record(line, &mapping, &ORIGIN).map(Event::from);
                let whole = parse_whole(line, &mapping);
                match (fast, whole) {
                    (Ok(a), Ok(b)) => assert_eq!(parsed_json(a), parsed_json(b)),
                    (Err(a), Err(b)) => {
                        assert_eq!((a.field, a.raw), (b.field, b.raw));
                    }
                    (a, b) => panic!("{}: {a:?} against {b:?}", String::from_utf8_lossy(line)),
                }
            }
        }
    }
}
