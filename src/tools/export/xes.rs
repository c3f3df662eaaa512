//! `export xes`: the case-centric log of one aggregate type as IEEE 1849 XES,
//! written as the sorted events stream in (one trace open at a time).
//!
//! The mapping: a trace per stream (`concept:name` = the stream id), an event
//! per event in stream order (`concept:name` = the event type,
//! `time:timestamp`, `org:resource` = the actor when there is one). Every
//! event is `lifecycle:transition` = `complete` (an event is a fact that
//! happened, not the start of an activity); when it changes the aggregate's
//! status it also carries `eventfold:from_status` and `eventfold:to_status`.
//! `eventfold:version` is its version; the payload's top-level fields follow
//! as typed attributes (nested ones as JSON text), skipping those that would
//! shadow the standard keys above.

use std::io::Write;

use arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};
use quick_xml::Writer;

use super::{for_each_batch, has_table, payload_attributes, Column, Value};
use crate::sql::literal;
use crate::{Error, Result};

/// What an XES export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XesSummary {
    pub traces: u64,
    pub events: u64,
}

/// The keys eventfold writes itself; a payload field of the same name is left out.
const OWN_KEYS: [&str; 7] = [
    "concept:name",
    "time:timestamp",
    "org:resource",
    "lifecycle:transition",
    "eventfold:from_status",
    "eventfold:to_status",
    "eventfold:version",
];

const HEADER: &str = r#"
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
  <extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
  <extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>
  <global scope="trace">
    <string key="concept:name" value="__INVALID__"/>
  </global>
  <global scope="event">
    <string key="concept:name" value="__INVALID__"/>
    <date key="time:timestamp" value="1970-01-01T00:00:00+00:00"/>
    <string key="lifecycle:transition" value="complete"/>
  </global>
  <classifier name="Activity" keys="concept:name"/>
"#;

/// Writes the events of `aggregate` (a table of the session) as XES to `out`.
pub async fn write_xes(
    ctx: &SessionContext,
    aggregate: &str,
    out: &mut dyn Write,
) -> Result<XesSummary> {
    if !has_table(ctx, aggregate) {
        return Err(Error::usage(format!(
            "the output has no state table for aggregate type {aggregate}\n  hint: `eventfold query \"SELECT DISTINCT aggregate_type FROM streams\"` lists them"
        )));
    }
    let sql = format!(
        "SELECT e.stream_id, e.version, e.event_type, e.occurred_at, e.actor, e.payload, \
                t.from_status, t.to_status \
         FROM events e \
         JOIN transitions t ON t.position = e.position \
         WHERE e.aggregate_type = {} \
         ORDER BY e.stream_id, e.version, e.position",
        literal(aggregate)
    );
    let mut xml = Writer::new_with_indent(out, b' ', 2);
    let io = |e: std::io::Error| Error::io("the XES file", e);
    xml.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .map_err(io)?;
    xml.get_mut().write_all(b"\n").map_err(io)?;
    xml.get_mut()
        .write_all(
            br#"<log xes.version="1849-2016" xes.features="nested-attributes" xmlns="http://www.xes-standard.org/">"#,
        )
        .map_err(io)?;
    xml.get_mut().write_all(HEADER.as_bytes()).map_err(io)?;
    let name = format!("eventfold export of {aggregate}");
    attribute(&mut xml, "concept:name", &Value::Str(name))?;
    let mut summary = XesSummary::default();
    let mut open: Option<String> = None;
    for_each_batch(ctx, &sql, |batch| {
        write_batch(&mut xml, batch, &mut open, &mut summary)
    })
    .await?;
    if open.is_some() {
        xml.write_event(Event::End(BytesEnd::new("trace")))
            .map_err(io)?;
    }
    xml.write_event(Event::End(BytesEnd::new("log")))
        .map_err(io)?;
    xml.get_mut().write_all(b"\n").map_err(io)?;
    Ok(summary)
}

fn write_batch<W: Write>(
    xml: &mut Writer<W>,
    batch: &RecordBatch,
    open: &mut Option<String>,
    summary: &mut XesSummary,
) -> Result<()> {
    let io = |e: std::io::Error| Error::io("the XES file", e);
    let column = |name| Column::of(batch, name);
    let (stream, version, event_type, time, actor, payload, from, to) = (
        column("stream_id")?,
        column("version")?,
        column("event_type")?,
        column("occurred_at")?,
        column("actor")?,
        column("payload")?,
        column("from_status")?,
        column("to_status")?,
    );
    for row in 0..batch.num_rows() {
        let stream_id = stream.text(row).unwrap_or_default();
        if open.as_deref() != Some(stream_id.as_str()) {
            if open.is_some() {
                xml.write_event(Event::End(BytesEnd::new("trace")))
                    .map_err(io)?;
            }
            xml.write_event(Event::Start(BytesStart::new("trace")))
                .map_err(io)?;
            attribute(xml, "concept:name", &Value::Str(stream_id.clone()))?;
            summary.traces += 1;
            *open = Some(stream_id);
        }
        xml.write_event(Event::Start(BytesStart::new("event")))
            .map_err(io)?;
        let mut own = vec![
            (
                "concept:name",
                event_type.get(row).unwrap_or(Value::Str(String::new())),
            ),
            ("lifecycle:transition", Value::Str("complete".into())),
        ];
        own.extend(time.get(row).map(|t| ("time:timestamp", t)));
        own.extend(actor.get(row).map(|a| ("org:resource", a)));
        let (before, after) = (from.text(row), to.text(row));
        if before != after {
            own.extend(before.map(|s| ("eventfold:from_status", Value::Str(s))));
            own.extend(after.map(|s| ("eventfold:to_status", Value::Str(s))));
        }
        own.extend(version.get(row).map(|v| ("eventfold:version", v)));
        for (key, value) in &own {
            attribute(xml, key, value)?;
        }
        let text = payload.text(row);
        for (key, value) in payload_attributes(text.as_deref()) {
            if !OWN_KEYS.contains(&key.as_str()) {
                attribute(xml, &key, &value)?;
            }
        }
        xml.write_event(Event::End(BytesEnd::new("event")))
            .map_err(io)?;
        summary.events += 1;
    }
    Ok(())
}

/// Writes `<TYPE key="KEY" value="VALUE"/>`, the XES type of `value`.
fn attribute<W: Write>(xml: &mut Writer<W>, key: &str, value: &Value) -> Result<()> {
    let tag = match value {
        Value::Str(_) => "string",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Bool(_) => "boolean",
        Value::Time(_) => "date",
    };
    let text = value.to_text();
    let element = BytesStart::new(tag).with_attributes([("key", key), ("value", text.as_str())]);
    xml.write_event(Event::Empty(element))
        .map_err(|e| Error::io("the XES file", e))
}
