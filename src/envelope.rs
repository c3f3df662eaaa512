//! The canonical event envelope: one Arrow schema for the `events` table, and the
//! one for `rejects`, defined here and nowhere else.
//!
//! Ingest builds batches of this shape, replay reads them back sorted, and the sink
//! writes them untouched, so every stage agrees on column order and types by
//! construction. Columns are looked up by the index constants below, never by name
//! in hot loops.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayBuilder, ArrayRef, RecordBatch, StringBuilder, TimestampMicrosecondBuilder, UInt32Builder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::Result;

/// Column indices of the events schema.
pub mod col {
    pub const POSITION: usize = 0;
    pub const EVENT_ID: usize = 1;
    pub const STREAM_ID: usize = 2;
    pub const AGGREGATE_TYPE: usize = 3;
    pub const VERSION: usize = 4;
    pub const EVENT_TYPE: usize = 5;
    pub const SCHEMA_VERSION: usize = 6;
    pub const OCCURRED_AT: usize = 7;
    pub const ACTOR: usize = 8;
    pub const CORRELATION_ID: usize = 9;
    pub const CAUSATION_ID: usize = 10;
    pub const TENANT: usize = 11;
    pub const PAYLOAD: usize = 12;
    pub const METADATA: usize = 13;
    pub const SOURCE: usize = 14;
    pub const ORIGINAL_EVENT_TYPE: usize = 15;
    pub const ORIGINAL_SCHEMA_VERSION: usize = 16;
}

/// The Arrow type of every timestamp eventfold writes: microseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

static EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("position", DataType::UInt64, false),
        Field::new("event_id", DataType::Utf8, false),
        Field::new("stream_id", DataType::Utf8, false),
        Field::new("aggregate_type", DataType::Utf8, false),
        Field::new("version", DataType::UInt64, false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("schema_version", DataType::UInt32, false),
        Field::new("occurred_at", timestamp_type(), false),
        Field::new("actor", DataType::Utf8, true),
        Field::new("correlation_id", DataType::Utf8, true),
        Field::new("causation_id", DataType::Utf8, true),
        Field::new("tenant", DataType::Utf8, true),
        Field::new("payload", DataType::Utf8, true),
        Field::new("metadata", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, false),
        // Set by an upcaster: what the event was before (see `upcast`).
        Field::new("original_event_type", DataType::Utf8, true),
        Field::new("original_schema_version", DataType::UInt32, true),
    ]))
});

/// The schema of the `events` table.
pub fn events_schema() -> SchemaRef {
    EVENTS_SCHEMA.clone()
}

static REJECTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("source_file", DataType::Utf8, false),
        Field::new("line", DataType::UInt64, false),
        Field::new("byte_offset", DataType::UInt64, false),
        Field::new("field", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("raw", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
    ]))
});

/// The schema of the `rejects` table.
pub fn rejects_schema() -> SchemaRef {
    REJECTS_SCHEMA.clone()
}

/// One event in envelope form, its texts of type `S`: owned ([`Event`]), or
/// borrowed from the record it was mapped from where they can be
/// ([`MappedEvent`], what ingest appends to its batches without a copy).
#[derive(Debug, Clone, PartialEq)]
pub struct EventOf<S> {
    pub position: u64,
    pub event_id: S,
    pub stream_id: S,
    pub aggregate_type: S,
    pub version: u64,
    pub event_type: S,
    pub schema_version: u32,
    /// Microseconds since the epoch, UTC.
    pub occurred_at: i64,
    pub actor: Option<S>,
    pub correlation_id: Option<S>,
    pub causation_id: Option<S>,
    pub tenant: Option<S>,
    pub payload: Option<S>,
    pub metadata: Option<S>,
    pub source: S,
}

/// An event that owns its texts.
pub type Event = EventOf<String>;

/// An event whose texts are borrowed from its record where they can be.
pub type MappedEvent<'a> = EventOf<Cow<'a, str>>;

impl From<MappedEvent<'_>> for Event {
    fn from(event: MappedEvent<'_>) -> Self {
        let owned = |text: Option<Cow<str>>| text.map(Cow::into_owned);
        Event {
            position: event.position,
            event_id: event.event_id.into_owned(),
            stream_id: event.stream_id.into_owned(),
            aggregate_type: event.aggregate_type.into_owned(),
            version: event.version,
            event_type: event.event_type.into_owned(),
            schema_version: event.schema_version,
            occurred_at: event.occurred_at,
            actor: owned(event.actor),
            correlation_id: owned(event.correlation_id),
            causation_id: owned(event.causation_id),
            tenant: owned(event.tenant),
            payload: owned(event.payload),
            metadata: owned(event.metadata),
            source: event.source.into_owned(),
        }
    }
}

impl Event {
    /// The key of the stream order the replay folds in: (aggregate_type,
    /// stream_id, version, position).
    pub fn stream_order(&self) -> (&str, &str, u64, u64) {
        (
            &self.aggregate_type,
            &self.stream_id,
            self.version,
            self.position,
        )
    }
}

/// Accumulates events into one record batch of the events schema.
pub struct EventBatchBuilder {
    position: UInt64Builder,
    event_id: StringBuilder,
    stream_id: StringBuilder,
    aggregate_type: StringBuilder,
    version: UInt64Builder,
    event_type: StringBuilder,
    schema_version: UInt32Builder,
    occurred_at: TimestampMicrosecondBuilder,
    actor: StringBuilder,
    correlation_id: StringBuilder,
    causation_id: StringBuilder,
    tenant: StringBuilder,
    payload: StringBuilder,
    metadata: StringBuilder,
    source: StringBuilder,
}

impl Default for EventBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBatchBuilder {
    pub fn new() -> Self {
        Self {
            position: UInt64Builder::new(),
            event_id: StringBuilder::new(),
            stream_id: StringBuilder::new(),
            aggregate_type: StringBuilder::new(),
            version: UInt64Builder::new(),
            event_type: StringBuilder::new(),
            schema_version: UInt32Builder::new(),
            occurred_at: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            actor: StringBuilder::new(),
            correlation_id: StringBuilder::new(),
            causation_id: StringBuilder::new(),
            tenant: StringBuilder::new(),
            payload: StringBuilder::new(),
            metadata: StringBuilder::new(),
            source: StringBuilder::new(),
        }
    }

    /// Number of events appended since the last `finish`.
    pub fn len(&self) -> usize {
        self.position.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn append<S: AsRef<str>>(&mut self, event: &EventOf<S>) {
        self.position.append_value(event.position);
        self.event_id.append_value(&event.event_id);
        self.stream_id.append_value(&event.stream_id);
        self.aggregate_type.append_value(&event.aggregate_type);
        self.version.append_value(event.version);
        self.event_type.append_value(&event.event_type);
        self.schema_version.append_value(event.schema_version);
        self.occurred_at.append_value(event.occurred_at);
        self.actor.append_option(event.actor.as_ref());
        self.correlation_id
            .append_option(event.correlation_id.as_ref());
        self.causation_id.append_option(event.causation_id.as_ref());
        self.tenant.append_option(event.tenant.as_ref());
        self.payload.append_option(event.payload.as_ref());
        self.metadata.append_option(event.metadata.as_ref());
        self.source.append_value(&event.source);
    }

    /// Builds the batch and leaves the builder empty.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let rows = self.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.position.finish()),
            Arc::new(self.event_id.finish()),
            Arc::new(self.stream_id.finish()),
            Arc::new(self.aggregate_type.finish()),
            Arc::new(self.version.finish()),
            Arc::new(self.event_type.finish()),
            Arc::new(self.schema_version.finish()),
            Arc::new(self.occurred_at.finish()),
            Arc::new(self.actor.finish()),
            Arc::new(self.correlation_id.finish()),
            Arc::new(self.causation_id.finish()),
            Arc::new(self.tenant.finish()),
            Arc::new(self.payload.finish()),
            Arc::new(self.metadata.finish()),
            Arc::new(self.source.finish()),
            arrow::array::new_null_array(&DataType::Utf8, rows),
            arrow::array::new_null_array(&DataType::UInt32, rows),
        ];
        Ok(RecordBatch::try_new(events_schema(), columns)?)
    }
}

/// One input record that could not become an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    pub source_file: String,
    /// 1-based line (or row) of the record in its file.
    pub line: u64,
    /// Byte offset of the record's start in the (decompressed) file.
    pub byte_offset: u64,
    /// The envelope field at fault, when one is.
    pub field: Option<String>,
    pub reason: String,
    /// The record's text, lossily decoded when it is not UTF-8.
    pub raw: String,
}

/// Builds the rejects batch.
pub fn rejects_batch(rejects: &[Reject]) -> Result<RecordBatch> {
    let mut source_file = StringBuilder::new();
    let mut line = UInt64Builder::new();
    let mut byte_offset = UInt64Builder::new();
    let mut field = StringBuilder::new();
    let mut reason = StringBuilder::new();
    let mut raw = StringBuilder::new();
    let mut source = StringBuilder::new();
    for reject in rejects {
        source_file.append_value(&reject.source_file);
        line.append_value(reject.line);
        byte_offset.append_value(reject.byte_offset);
        field.append_option(reject.field.as_deref());
        reason.append_value(&reject.reason);
        raw.append_value(&reject.raw);
        source.append_value(format!("{}:{}", reject.source_file, reject.line));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(source_file.finish()),
        Arc::new(line.finish()),
        Arc::new(byte_offset.finish()),
        Arc::new(field.finish()),
        Arc::new(reason.finish()),
        Arc::new(raw.finish()),
        Arc::new(source.finish()),
    ];
    Ok(RecordBatch::try_new(rejects_schema(), columns)?)
}
