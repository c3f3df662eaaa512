//! `eventfold decide` as a batch: read the commands, read the snapshot of the
//! streams they touch, decide every stream (in parallel: streams are
//! independent), and write the decision folder at once.
//!
//! The commands are read by ingest, with a mapping of their own onto the
//! envelope (command id → event_id, command type → event_type, issued_at →
//! occurred_at, …), so NDJSON, CSV, gzip and every format option work as for
//! logs, and a record that cannot be a command is rejected as `malformed`
//! with its line. Of the output only the row groups of `streams.parquet` and
//! the state tables that hold the touched streams are read, and of
//! `events.parquet` only the `causation_id` column (a command id found there
//! was decided before: idempotency). A related permit
//! (`@project_id.owner`) reads the related stream's snapshot state: its
//! commands in the same batch are not seen, since streams are decided apart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMicrosecondType, UInt64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;
use serde_json::Value;

use super::{target_stream, Command, Decider, Reason, Rejection, RelatedStates, StreamDecision};
use crate::envelope::{col, timestamp_type, Reject};
use crate::ingest::mapping::{parse_field, EnvelopeField as F, Mapping};
use crate::ingest::{ingest, IngestOptions, IngestSink, InputSource};
use crate::model::roles::Roles;
use crate::model::{Model, Permit};
use crate::replay::Seeds;
use crate::sink::manifest::Manifest;
use crate::sink::snapshot::{read_snapshot, stream_keys};
use crate::sink::{write_table, OutputDir};
use crate::support::time::format_micros;
use crate::{Error, Result};

/// `expected_version` travels in the envelope's `position`; a record without
/// one gets its read order, counted from here, which no version reaches.
pub const NO_EXPECTED_VERSION: u64 = 1 << 62;

/// The stream id of a command that names none (its model derives it).
const NO_STREAM: &str = "-";

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

/// What `decide` reads and where it writes.
pub struct DecideOptions {
    /// The output whose state is the snapshot.
    pub out: PathBuf,
    /// The decision folder to write.
    pub decision: PathBuf,
    pub inputs: Vec<InputSource>,
    /// How to read the inputs; its mapping is [`command_mapping`]'s.
    pub ingest: IngestOptions,
    pub roles: Roles,
}

/// What a decision folder holds, in counts (its `manifest.json`).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct DecideSummary {
    pub kind: &'static str,
    pub output: String,
    pub commands: u64,
    pub accepted: u64,
    pub events: u64,
    pub rejected: u64,
    /// Rejections per reason.
    pub reasons: BTreeMap<&'static str, u64>,
    /// Streams the batch touched, and whose snapshot was read.
    pub streams: u64,
}

/// What ingest read: the commands, kept in its batches (columnar: a command
/// costs its bytes, not a struct of strings, and a million fit in little
/// memory), and the records that are no commands.
#[derive(Default)]
struct Commands {
    batches: Vec<RecordBatch>,
    rejected: Vec<Rejection>,
}

/// Where a command is in [`Commands`]: its batch and row.
#[derive(Debug, Clone, Copy)]
struct At {
    batch: u32,
    row: u32,
}

impl Commands {
    /// The text in `column` of the command `at`.
    fn text(&self, at: At, column: usize) -> Option<&str> {
        let array = self.batches[at.batch as usize]
            .column(column)
            .as_string::<i32>();
        let row = at.row as usize;
        array.is_valid(row).then(|| array.value(row))
    }

    fn id(&self, at: At) -> &str {
        self.text(at, col::EVENT_ID).unwrap_or("")
    }

    /// The command `at`, the `seq`th read.
    fn command(&self, at: At, seq: u64) -> Command {
        let batch = &self.batches[at.batch as usize];
        let row = at.row as usize;
        let owned = |column| self.text(at, column).map(str::to_owned);
        let number = |column: usize| batch.column(column).as_primitive::<UInt64Type>().value(row);
        Command {
            seq,
            command_id: self.id(at).to_owned(),
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
}

impl IngestSink for Commands {
    fn events(&mut self, batch: RecordBatch) -> Result<()> {
        self.batches.push(batch);
        Ok(())
    }

    fn rejects(&mut self, rejects: Vec<Reject>) -> Result<()> {
        for reject in rejects {
            let field = reject.field.as_deref().map(command_field_name);
            let reason = match field {
                Some(field) => reject.reason.replace(
                    &format!("\"{}\"", envelope_name(field)),
                    &format!("\"{field}\""),
                ),
                None => reject.reason,
            };
            self.rejected.push(Rejection {
                command_id: None,
                command_type: None,
                stream_id: None,
                actor: None,
                issued_at: None,
                source: format!("{}:{}", reject.source_file, reject.line),
                reason: Reason::Malformed,
                message: reason,
            });
        }
        Ok(())
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
fn source_order(source: &str) -> (&str, u64) {
    match source.rsplit_once(':') {
        Some((file, line)) => (file, line.parse().unwrap_or(0)),
        None => (source, 0),
    }
}

/// The command ids of `ids` that some event of `events.parquet` has as its
/// causation id: only that column is read.
fn decided_before(events: &Path, ids: &HashSet<&str>) -> Result<HashSet<String>> {
    let file = std::fs::File::open(events).map_err(|e| Error::io(events, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let Some(index) = (builder.schema().fields().iter()).position(|f| f.name() == "causation_id")
    else {
        return Ok(HashSet::new());
    };
    let mask = ProjectionMask::roots(builder.parquet_schema(), [index]);
    let mut found = HashSet::new();
    for batch in builder.with_projection(mask).build()? {
        let batch = batch?;
        let column = batch.column(0);
        let Some(texts) = column.as_string_opt::<i32>() else {
            continue;
        };
        for row in 0..texts.len() {
            if texts.is_valid(row) && ids.contains(texts.value(row)) {
                found.insert(texts.value(row).to_owned());
            }
        }
    }
    Ok(found)
}

/// For each aggregate type, the reference fields some permit of its commands
/// reads through (`@project_id.owner`), with the related aggregate type.
fn related_references(model: &Model) -> HashMap<&str, Vec<(usize, &str)>> {
    let mut references: HashMap<&str, Vec<(usize, &str)>> = HashMap::new();
    for command in model.commands.values() {
        let Some(aggregate) = model.aggregate(&command.aggregate) else {
            continue;
        };
        let rules = command.allowed.iter().chain(
            command
                .emits
                .iter()
                .filter_map(|e| aggregate.handlers.get(&e.event_type)?.allowed.as_ref()),
        );
        for permit in rules.flat_map(|rule| &rule.permits) {
            if let Permit::Related {
                reference,
                aggregate: target,
                ..
            } = permit
            {
                let list = references.entry(aggregate.name.as_str()).or_default();
                if !list.contains(&(*reference, target.as_str())) {
                    list.push((*reference, target.as_str()));
                }
            }
        }
    }
    references
}

/// Looks up `keys` in the snapshot and adds them to `related` (`None` for
/// those it does not hold).
fn load_related(
    out: &Path,
    model: &Model,
    keys: &HashSet<(String, String)>,
    related: &mut RelatedStates,
) -> Result<()> {
    let wanted: Vec<(&str, &str)> = keys
        .iter()
        .filter(|k| !related.contains_key(*k))
        .map(|(a, s)| (a.as_str(), s.as_str()))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let mut found = read_snapshot(out, model, &stream_keys(wanted)?)?;
    for key in keys {
        let state = found.remove(key).map(|s| s.fields);
        related.entry(key.clone()).or_insert(state);
    }
    Ok(())
}

/// Decides the batch and writes the decision folder.
pub fn decide(options: &DecideOptions) -> Result<DecideSummary> {
    let out = &options.out;
    let manifest = Manifest::read(out)?.ok_or_else(|| {
        Error::usage(format!(
            "{} holds no manifest.json, so it is not an eventfold output\n  hint: give --out the folder of a run",
            out.display()
        ))
    })?;
    if !manifest.is_whole_log() {
        return Err(Error::usage(format!(
            "{} was written by a partial or as-of run: its states are not the current ones\n  hint: decide against the output of a full run",
            out.display()
        )));
    }
    let model_path = out.join("model.toml");
    let model = crate::model::load_model(&model_path)?;

    let mut read = Commands::default();
    let summary = ingest(&options.inputs, &options.ingest, &mut read)?;
    let mut rejected = std::mem::take(&mut read.rejected);
    let total = summary.records;
    // Every command in issued_at order, then read order: (issued_at, seq, where).
    let mut order: Vec<(i64, u64, At)> = Vec::new();
    for (batch_index, batch) in read.batches.iter().enumerate() {
        let times = batch
            .column(col::OCCURRED_AT)
            .as_primitive::<TimestampMicrosecondType>();
        for row in 0..batch.num_rows() {
            let at = At {
                batch: batch_index as u32,
                row: row as u32,
            };
            order.push((times.value(row), order.len() as u64, at));
        }
    }
    order.sort_unstable_by_key(|(time, seq, _)| (*time, *seq));

    // Unknown commands, targets, ids seen twice: before any stream is decided.
    let ids: HashSet<&str> = order.iter().map(|(_, _, at)| read.id(*at)).collect();
    let before = decided_before(&out.join("events.parquet"), &ids)?;
    drop(ids);
    let mut seen: HashSet<&str> = HashSet::new();
    // Per stream, the indices into `order` of its commands.
    let mut streams: BTreeMap<(String, String), Vec<u32>> = BTreeMap::new();
    for (index, (_, seq, at)) in order.iter().enumerate() {
        let id = read.id(*at);
        let command = read.command(*at, *seq);
        if !seen.insert(id) {
            rejected.push(Rejection::of(
                &command,
                Reason::DuplicateCommandId,
                format!("command id \"{id}\" comes earlier in this batch"),
            ));
            continue;
        }
        if before.contains(id) {
            rejected.push(Rejection::of(
                &command,
                Reason::DuplicateCommandId,
                format!(
                    "command id \"{id}\" was decided before: an event of the log has it as causation_id"
                ),
            ));
            continue;
        }
        let Some(command_model) = model.commands.get(&command.command_type) else {
            let mut names: Vec<&str> = model.commands.keys().map(String::as_str).collect();
            names.sort_unstable();
            rejected.push(Rejection::of(
                &command,
                Reason::UnknownCommand,
                format!(
                    "no command \"{}\" in the model (declared: {})",
                    command.command_type,
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
            continue;
        };
        match target_stream(command_model, &command) {
            Ok(stream) => streams
                .entry((command_model.aggregate.clone(), stream))
                .or_default()
                .push(index as u32),
            Err(message) => rejected.push(Rejection::of(&command, Reason::Malformed, message)),
        }
    }
    drop(seen);
    let streams: Vec<((String, String), Vec<u32>)> = streams.into_iter().collect();

    let touched = stream_keys(streams.iter().map(|((a, s), _)| (a.as_str(), s.as_str())))?;
    let seeds: Seeds = read_snapshot(out, &model, &touched)?;
    drop(touched);
    let references = related_references(&model);
    let mut wanted = HashSet::new();
    for ((aggregate, _), state) in &seeds {
        for (field, target) in references.get(aggregate.as_str()).into_iter().flatten() {
            if let Some(crate::model::StateValue::Str(id)) = state.fields.get(*field) {
                wanted.insert(((*target).to_owned(), id.clone()));
            }
        }
    }
    let mut related = RelatedStates::new();
    load_related(out, &model, &wanted, &mut related)?;

    let mut pending: Vec<u32> = (0..streams.len() as u32).collect();
    let mut accepted: Vec<Accepted> = Vec::new();
    let mut accepted_commands = 0;
    // A stream whose permit met a related stream not loaded is decided again
    // once it is; each round loads at least one more, so this ends.
    while !pending.is_empty() {
        let decider = Decider {
            model: &model,
            roles: &options.roles,
            related: &related,
        };
        let decided: Vec<(u32, Decided)> = pending
            .par_iter()
            .map(|group| {
                let ((aggregate, stream), indices) = &streams[*group as usize];
                let commands: Vec<Command> = (indices.iter())
                    .map(|index| {
                        let (_, seq, at) = order[*index as usize];
                        let mut command = read.command(at, seq);
                        command.stream_id = Some(stream.clone());
                        command
                    })
                    .collect();
                let decision = match model.aggregate(aggregate) {
                    Some(model) => decider.decide_stream(
                        model,
                        stream,
                        seeds.get(&(aggregate.clone(), stream.clone())).cloned(),
                        &commands,
                    ),
                    None => StreamDecision::default(),
                };
                (*group, Decided::of(decision, *group, indices, &commands))
            })
            .collect();
        let mut missing = HashSet::new();
        pending = Vec::new();
        for (group, decided) in decided {
            if decided.missing.is_empty() {
                accepted_commands += decided.commands;
                accepted.extend(decided.accepted);
                rejected.extend(decided.rejected);
            } else {
                missing.extend(decided.missing);
                pending.push(group);
            }
        }
        load_related(out, &model, &missing, &mut related)?;
    }
    drop(seeds);
    // Positions after the output's: in issued_at order across streams.
    accepted.sort_unstable_by_key(|a| (a.occurred_at, a.group, a.version));
    rejected.sort_by(|a, b| source_order(&a.source).cmp(&source_order(&b.source)));

    let mut reasons = BTreeMap::new();
    for rejection in &rejected {
        *reasons.entry(rejection.reason.name()).or_insert(0) += 1;
    }
    let result = DecideSummary {
        kind: "decision",
        output: out.display().to_string(),
        commands: total,
        accepted: accepted_commands,
        events: accepted.len() as u64,
        rejected: rejected.len() as u64,
        reasons,
        streams: streams.len() as u64,
    };
    let base = manifest
        .watermark
        .position
        .max(manifest.watermark.read_positions)
        .unwrap_or(0);
    let events = EventLines {
        model: &model,
        read: &read,
        order: &order,
        streams: &streams,
        base,
    };
    let dir = OutputDir::create(&options.decision)?;
    let written = write_decision(&dir, &events, &accepted, &rejected, &result);
    match written {
        Ok(()) => {
            dir.commit()?;
            Ok(result)
        }
        Err(e) => {
            dir.abandon();
            Err(e)
        }
    }
}

/// The columns of `rejected.parquet`.
pub fn rejected_schema() -> SchemaRef {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("command_id", true),
        text("command_type", true),
        text("stream_id", true),
        text("actor", true),
        Field::new("issued_at", timestamp_type(), true),
        text("source", false),
        text("reason", false),
        text("message", false),
    ]))
}

fn rejected_batch(rejected: &[Rejection]) -> Result<RecordBatch> {
    let mut texts: Vec<StringBuilder> = (0..7).map(|_| StringBuilder::new()).collect();
    let mut issued = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for r in rejected {
        texts[0].append_option(r.command_id.as_deref());
        texts[1].append_option(r.command_type.as_deref());
        texts[2].append_option(r.stream_id.as_deref());
        texts[3].append_option(r.actor.as_deref());
        issued.append_option(r.issued_at);
        texts[4].append_value(&r.source);
        texts[5].append_value(r.reason.name());
        texts[6].append_value(&r.message);
    }
    let mut columns: Vec<arrow::array::ArrayRef> = Vec::new();
    for builder in texts.iter_mut().take(4) {
        columns.push(Arc::new(builder.finish()));
    }
    columns.push(Arc::new(issued.finish()));
    for builder in texts.iter_mut().skip(4) {
        columns.push(Arc::new(builder.finish()));
    }
    Ok(RecordBatch::try_new(rejected_schema(), columns)?)
}

/// An accepted event, kept small until it is written: what its command
/// does not say.
struct Accepted {
    occurred_at: i64,
    /// Its stream: an index into the streams decided.
    group: u32,
    version: u64,
    /// Its command: an index into the commands in order.
    command: u32,
    /// Which of the command's events it is.
    emit: u32,
    payload: Box<str>,
}

/// What deciding one stream gave, kept small.
struct Decided {
    accepted: Vec<Accepted>,
    /// Commands accepted.
    commands: u64,
    rejected: Vec<Rejection>,
    missing: Vec<(String, String)>,
}

impl Decided {
    /// `decision`'s events for the stream `group`, whose `commands` are
    /// those of `indices` (into the commands in order).
    fn of(decision: StreamDecision, group: u32, indices: &[u32], commands: &[Command]) -> Self {
        let mut accepted = Vec::with_capacity(decision.accepted.len());
        let mut accepted_commands = 0;
        // Events come in command order; a command's id is unique in its stream.
        let mut next = 0;
        let mut current = 0;
        let mut emit = 0;
        for (index, event) in decision.accepted.into_iter().enumerate() {
            let cause = event.causation_id.as_deref().unwrap_or("");
            if index > 0 && commands[current].command_id == cause {
                emit += 1;
            } else {
                while next + 1 < commands.len() && commands[next].command_id != cause {
                    next += 1;
                }
                current = next;
                next += 1;
                emit = 0;
                accepted_commands += 1;
            }
            accepted.push(Accepted {
                occurred_at: event.occurred_at,
                group,
                version: event.version,
                command: indices[current],
                emit,
                payload: event.payload.unwrap_or_default().into_boxed_str(),
            });
        }
        Self {
            accepted,
            commands: accepted_commands,
            rejected: decision.rejected,
            missing: decision.missing,
        }
    }
}

/// What writing the accepted events needs besides them: each is rebuilt
/// from its command.
struct EventLines<'a> {
    model: &'a Model,
    read: &'a Commands,
    order: &'a [(i64, u64, At)],
    streams: &'a [((String, String), Vec<u32>)],
    /// Positions start after this one.
    base: u64,
}

impl EventLines<'_> {
    /// The `index`th accepted event as a line of the generic envelope.
    fn line(&self, index: usize, event: &Accepted) -> Value {
        let (_, seq, at) = self.order[event.command as usize];
        let command = self.read.command(at, seq);
        let ((aggregate, stream), _) = &self.streams[event.group as usize];
        let event_type = (self.model.commands.get(&command.command_type))
            .and_then(|c| c.emits.get(event.emit as usize))
            .map_or("", |e| e.event_type.as_str());
        let payload: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
        serde_json::json!({
            "position": self.base + 1 + index as u64,
            "event_id": super::event_id(&command.command_id, event.emit as usize),
            "stream_id": stream,
            "aggregate_type": aggregate,
            "version": event.version,
            "event_type": event_type,
            "occurred_at": format_micros(event.occurred_at),
            "actor": command.actor,
            "correlation_id": command.correlation_id,
            "causation_id": command.command_id,
            "payload": payload,
            "metadata": { "command": command.command_type },
        })
    }
}

fn write_decision(
    dir: &OutputDir,
    events: &EventLines,
    accepted: &[Accepted],
    rejected: &[Rejection],
    summary: &DecideSummary,
) -> Result<()> {
    use std::io::Write;
    let path = dir.path("events.ndjson");
    let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
    let mut writer = std::io::BufWriter::new(file);
    for (index, event) in accepted.iter().enumerate() {
        serde_json::to_writer(&mut writer, &events.line(index, event))?;
        writer.write_all(b"\n").map_err(|e| Error::io(&path, e))?;
    }
    writer.flush().map_err(|e| Error::io(&path, e))?;
    write_table(
        &dir.path("rejected.parquet"),
        rejected_schema(),
        &[rejected_batch(rejected)?],
    )?;
    let path = dir.path("manifest.json");
    let text = serde_json::to_string_pretty(summary)?;
    std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))?;
    Ok(())
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
