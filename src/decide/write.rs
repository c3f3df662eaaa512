//! Writing the decision folder: the accepted events as NDJSON lines of the
//! generic envelope, each rebuilt from its command (an accepted event is kept
//! as its payload and its place until then), and `rejected.parquet`. Each
//! pass writes its events to a file of its own, keyed for the merge that
//! makes `events.ndjson` and gives the positions.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde_json::Value;

use super::read::{At, Commands};
use super::{Command, Rejection, StreamDecision};
use crate::envelope::timestamp_type;
use crate::model::Model;
use crate::sink::{write_table, OutputDir};
use crate::support::time::format_micros;
use crate::{Error, Result};

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
    /// Parts the batch was decided in (more than one when it did not fit in
    /// a sixth of the memory limit).
    pub passes: u64,
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
pub(super) struct Accepted {
    pub(super) occurred_at: i64,
    /// Its stream: an index into the streams decided.
    pub(super) group: u32,
    pub(super) version: u64,
    /// Its command: an index into the commands in order.
    pub(super) command: u32,
    /// Which of the command's events it is.
    pub(super) emit: u32,
    pub(super) payload: Box<str>,
}

/// What deciding one stream gave, kept small.
pub(super) struct Decided {
    pub(super) accepted: Vec<Accepted>,
    /// Commands accepted.
    pub(super) commands: u64,
    pub(super) rejected: Vec<Rejection>,
    pub(super) missing: Vec<(String, String)>,
}

impl Decided {
    /// `decision`'s events for the stream `group`, whose `commands` are
    /// those of `indices` (into the commands in order).
    pub(super) fn of(
        decision: StreamDecision,
        group: u32,
        indices: &[u32],
        commands: &[Command],
    ) -> Self {
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
pub(super) struct EventLines<'a> {
    pub(super) model: &'a Model,
    pub(super) read: &'a Commands,
    pub(super) order: &'a [(i64, u64, At)],
    pub(super) streams: &'a [((String, String), Vec<u32>)],
}

impl EventLines<'_> {
    /// An accepted event as a line of the generic envelope, but for its
    /// position (given when the passes are merged).
    fn line(&self, event: &Accepted) -> Value {
        let (_, seq, at) = self.order[event.command as usize];
        let command = self.read.command(at, seq);
        let ((aggregate, stream), _) = &self.streams[event.group as usize];
        let event_type = (self.model.commands.get(&command.command_type))
            .and_then(|c| c.emits.get(event.emit as usize))
            .map_or("", |e| e.event_type.as_str());
        let payload: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
        serde_json::json!({
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

/// Writes one pass's accepted events to `path`, in their order, each line
/// its merge key (a JSON array: occurred_at, aggregate type, stream id,
/// version), a tab, and the event without its position.
pub(super) fn write_pass_events(
    path: &Path,
    events: &EventLines,
    accepted: &[Accepted],
) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut writer = BufWriter::new(file);
    for event in accepted {
        let ((aggregate, stream), _) = &events.streams[event.group as usize];
        let key = (event.occurred_at, aggregate, stream, event.version);
        serde_json::to_writer(&mut writer, &key)?;
        writer.write_all(b"\t").map_err(|e| Error::io(path, e))?;
        serde_json::to_writer(&mut writer, &events.line(event))?;
        writer.write_all(b"\n").map_err(|e| Error::io(path, e))?;
    }
    writer.flush().map_err(|e| Error::io(path, e))
}

/// The merge key of a pass file's line.
type Key = (i64, String, String, u64);

/// A pass file being merged: its next line, split at the tab.
struct PassReader {
    lines: std::io::Lines<BufReader<File>>,
    path: PathBuf,
}

impl PassReader {
    fn next(&mut self) -> Result<Option<(Key, String)>> {
        let Some(line) = self.lines.next() else {
            return Ok(None);
        };
        let line = line.map_err(|e| Error::io(&self.path, e))?;
        let broken = || Error::io(&self.path, std::io::Error::other("a line without its key"));
        let (key, event) = line.split_once('\t').ok_or_else(broken)?;
        let key: Key = serde_json::from_str(key)?;
        Ok(Some((key, event.to_owned())))
    }
}

/// Merges the passes' files into `events.ndjson`: in issued_at order across
/// streams (then stream, then version), positions after `base`.
fn merge_events(dir: &OutputDir, passes: &[PathBuf], base: u64) -> Result<()> {
    use std::cmp::Reverse;
    let path = dir.path("events.ndjson");
    let mut writer = BufWriter::new(File::create(&path).map_err(|e| Error::io(&path, e))?);
    let mut readers = Vec::with_capacity(passes.len());
    let mut heap = std::collections::BinaryHeap::new();
    for (index, pass) in passes.iter().enumerate() {
        let file = File::open(pass).map_err(|e| Error::io(pass, e))?;
        let mut reader = PassReader {
            lines: BufReader::new(file).lines(),
            path: pass.clone(),
        };
        if let Some((key, event)) = reader.next()? {
            heap.push(Reverse((key, index, event)));
        }
        readers.push(reader);
    }
    let mut position = base;
    while let Some(Reverse((_, index, event))) = heap.pop() {
        position += 1;
        // The event's object with its position first.
        let rest = event.strip_prefix('{').unwrap_or(&event);
        writeln!(writer, "{{\"position\":{position},{rest}").map_err(|e| Error::io(&path, e))?;
        if let Some((key, event)) = readers[index].next()? {
            heap.push(Reverse((key, index, event)));
        }
    }
    writer.flush().map_err(|e| Error::io(&path, e))
}

/// Writes the decision folder: the passes' events merged, the rejections
/// and the manifest.
pub(super) fn write_decision(
    dir: &OutputDir,
    passes: &[PathBuf],
    base: u64,
    rejected: &[Rejection],
    summary: &DecideSummary,
) -> Result<()> {
    merge_events(dir, passes, base)?;
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
