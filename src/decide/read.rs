//! Reading a batch of commands: ingest, with a mapping of its own onto the
//! envelope (command id → event_id, command type → event_type, issued_at →
//! occurred_at, expected_version → position, …), so NDJSON, CSV, gzip and every
//! format option work as for logs, and a record that cannot be a command is a
//! `malformed` rejection with its line. The commands stay in ingest's Arrow
//! batches: a command costs its bytes, not a struct of strings, and a
//! [`Command`] is made only while its stream is decided.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{TimestampMicrosecondType, UInt64Type};

use super::{Command, Reason, Rejection};
use crate::envelope::{col, Reject};
use crate::ingest::mapping::{parse_field, EnvelopeField as F, Mapping};
use crate::{Error, Result};

/// `expected_version` travels in the envelope's `position`; a record without
/// one gets its read order, counted from here, which no version reaches.
pub const NO_EXPECTED_VERSION: u64 = 1 << 62;

/// The stream id of a command that names none (its model derives it).
pub(super) const NO_STREAM: &str = "-";

/// A command's fields, the names `--map` takes, and the envelope field each
/// travels in through ingest, with where each is looked for by default.
const COMMAND_FIELDS: [(&str, F, &[&str]); 8] = [
    ("command_id", F::EventId, &["command_id", "id"]),
    (
        "command_type",
        F::EventType,
        &["command_type", "command", "type"],
    ),
    ("stream_id", F::StreamId, &["stream_id"]),
    ("actor", F::Actor, &["actor", "metadata.actor"]),
    ("issued_at", F::OccurredAt, &["issued_at"]),
    ("expected_version", F::Position, &["expected_version"]),
    (
        "correlation_id",
        F::CorrelationId,
        &["correlation_id", "metadata.correlation_id"],
    ),
    ("payload", F::Payload, &["payload"]),
];

/// The mapping of command records onto the envelope, with `overrides`
/// (`command_id=id`, `issued_at=time`, …) applied.
pub fn command_mapping(overrides: &[String]) -> Result<Mapping> {
    let mut mapping = Mapping::from_specs(&[(F::AggregateType, &["=-"]), (F::Version, &["=1"])])?;
    let stream_fallback = format!("={NO_STREAM}");
    let set = |mapping: &mut Mapping, field: F, specs: &[&str]| {
        let mut specs = specs.to_vec();
        if field == F::StreamId {
            specs.push(&stream_fallback);
        }
        mapping.set(field, &specs)
    };
    for (_, field, specs) in COMMAND_FIELDS {
        set(&mut mapping, field, specs)?;
    }
    for spec in overrides {
        let (name, source) = crate::ingest::mapping::split_override(spec)?;
        let Some((_, field, _)) = COMMAND_FIELDS.iter().find(|(n, _, _)| *n == name) else {
            // An envelope name is refused with the command names listed.
            let _ = parse_field(name);
            let names: Vec<&str> = COMMAND_FIELDS.iter().map(|(n, _, _)| *n).collect();
            return Err(Error::usage(format!(
                "--map \"{spec}\": \"{name}\" is not a command field; expected one of {}",
                names.join(", ")
            )));
        };
        set(&mut mapping, *field, &[source])?;
    }
    Ok(mapping)
}

/// Commands as ingest read them, kept in its batches (columnar: a command
/// costs its bytes, not a struct of strings), with the spill's read order
/// and target columns.
#[derive(Default)]
pub(super) struct Commands {
    pub(super) batches: Vec<RecordBatch>,
    /// The batches' target column (the same schema in all of them).
    pub(super) target_column: Option<usize>,
}

/// Where a command is in [`Commands`]: its batch and row.
#[derive(Debug, Clone, Copy)]
pub(super) struct At {
    pub(super) batch: u32,
    pub(super) row: u32,
}

impl Commands {
    /// The text in `column` of the command `at`.
    pub(super) fn text(&self, at: At, column: usize) -> Option<&str> {
        let array = self.batches[at.batch as usize]
            .column(column)
            .as_string::<i32>();
        let row = at.row as usize;
        array.is_valid(row).then(|| array.value(row))
    }

    pub(super) fn id(&self, at: At) -> &str {
        self.text(at, col::EVENT_ID).unwrap_or("")
    }

    /// The stream the command `at` targets, as found when it was read
    /// (the spilled batches' target column); `None` when it has none.
    pub(super) fn target(&self, at: At) -> Option<&str> {
        self.text(at, self.target_column?)
    }

    /// The command `at`, the `seq`th read.
    pub(super) fn command(&self, at: At, seq: u64) -> Command {
        command_of(&self.batches[at.batch as usize], at.row as usize, seq)
    }
}

/// The command in `row` of an ingested `batch`, the `seq`th read.
pub(super) fn command_of(batch: &RecordBatch, row: usize, seq: u64) -> Command {
    let text = |column: usize| {
        let array = batch.column(column).as_string::<i32>();
        array.is_valid(row).then(|| array.value(row))
    };
    let owned = |column| text(column).map(str::to_owned);
    let number = |column: usize| batch.column(column).as_primitive::<UInt64Type>().value(row);
    Command {
        seq,
        command_id: text(col::EVENT_ID).unwrap_or("").to_owned(),
        command_type: owned(col::EVENT_TYPE).unwrap_or_default(),
        stream_id: owned(col::STREAM_ID).filter(|id| id != NO_STREAM),
        actor: owned(col::ACTOR),
        issued_at: batch
            .column(col::OCCURRED_AT)
            .as_primitive::<TimestampMicrosecondType>()
            .value(row),
        expected_version: Some(number(col::POSITION)).filter(|v| *v < NO_EXPECTED_VERSION),
        correlation_id: owned(col::CORRELATION_ID),
        payload: owned(col::PAYLOAD),
        source: owned(col::SOURCE).unwrap_or_default(),
    }
}

/// A record ingest could not make a command of: a `malformed` rejection,
/// its field named as a command field.
pub(super) fn malformed(reject: Reject) -> Rejection {
    let field = reject.field.as_deref().map(command_field_name);
    let message = match field {
        Some(field) => reject.reason.replace(
            &format!("\"{}\"", envelope_name(field)),
            &format!("\"{field}\""),
        ),
        None => reject.reason,
    };
    Rejection {
        command_id: None,
        command_type: None,
        stream_id: None,
        actor: None,
        issued_at: None,
        source: format!("{}:{}", reject.source_file, reject.line),
        reason: Reason::Malformed,
        message,
    }
}

/// The command field an envelope field (by name) carries.
fn command_field_name(envelope: &str) -> &'static str {
    COMMAND_FIELDS
        .iter()
        .find(|(_, field, _)| field.name() == envelope)
        .map_or("record", |(name, _, _)| *name)
}

fn envelope_name(command_field: &str) -> &'static str {
    COMMAND_FIELDS
        .iter()
        .find(|(name, _, _)| *name == command_field)
        .map_or("", |(_, field, _)| field.name())
}

/// The line a `file:line` source names, for ordering.
pub(super) fn source_order(source: &str) -> (&str, u64) {
    match source.rsplit_once(':') {
        Some((file, line)) => (file, line.parse().unwrap_or(0)),
        None => (source, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_mapping_takes_command_field_names_only() {
        assert!(command_mapping(&["command_id=id".into(), "issued_at=/meta/time".into()]).is_ok());
        let error = command_mapping(&["event_id=x".into()])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("--map \"event_id=x\": \"event_id\" is not a command field; expected one of command_id,"),
            "{error}"
        );
        assert!(command_mapping(&["stream_id".into()]).is_err());
    }

    #[test]
    fn rejections_sort_by_file_then_line_as_numbers() {
        assert!(source_order("c.ndjson:9") < source_order("c.ndjson:10"));
        assert_eq!(source_order("no-line"), ("no-line", 0));
    }
}
