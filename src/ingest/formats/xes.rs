//! XES (IEEE 1849), the process-mining exchange format, read as a stream with
//! quick-xml. Each `<event>` becomes one record: its attributes as top-level
//! keys (`concept:name`, `time:timestamp`, `org:resource`, …), typed as XES
//! types them, and the attributes of its `<trace>` under `trace`. Attributes
//! nested inside an attribute (XES 2016's nested attributes) are not read; log
//! level attributes, globals and classifiers neither. Broken XML ends the
//! input: the events before it are kept and the damage is one reject.

use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

use super::{Body, Damage, LineCounter, Pending, RecordReader};
use crate::ingest::{Decoded, Input};

/// Reads the events of one XES log.
pub struct XesReader {
    reader: Option<quick_xml::Reader<LineCounter<Decoded>>>,
    buffer: Vec<u8>,
    trace: Option<Map<String, Value>>,
    event: Option<(u64, u64, Map<String, Value>)>,
    /// Depth inside an attribute that has children (those are skipped).
    nested: usize,
    damage: Option<Damage>,
    line: u64,
}

impl XesReader {
    pub fn new(input: Input) -> Self {
        let mut reader = quick_xml::Reader::from_reader(LineCounter::new(input));
        reader.config_mut().trim_text(true);
        Self {
            reader: Some(reader),
            buffer: Vec::new(),
            trace: None,
            event: None,
            nested: 0,
            damage: None,
            line: 1,
        }
    }
}

/// An XES attribute element as a key and a typed JSON value.
fn attribute(
    element: &BytesStart,
    decoder: quick_xml::encoding::Decoder,
) -> Option<(String, Value)> {
    let get = |name: &str| -> Option<String> {
        let attr = element.try_get_attribute(name).ok()??;
        attr.decode_and_unescape_value(decoder)
            .ok()
            .map(|v| v.into_owned())
    };
    let key = get("key")?;
    let text = get("value").unwrap_or_default();
    let value = match element.local_name().as_ref() {
        b"int" => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::String(text)),
        b"float" => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::String(text)),
        b"boolean" => match text.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text),
        },
        b"string" | b"date" | b"id" => Value::String(text),
        _ => return None,
    };
    Some((key, value))
}

/// Adds an attribute to the open event, else to the open trace.
fn store(
    event: &mut Option<(u64, u64, Map<String, Value>)>,
    trace: &mut Option<Map<String, Value>>,
    element: &BytesStart,
    decoder: quick_xml::encoding::Decoder,
) {
    let Some((key, value)) = attribute(element, decoder) else {
        return;
    };
    if let Some((_, _, attrs)) = event.as_mut() {
        attrs.insert(key, value);
    } else if let Some(attrs) = trace.as_mut() {
        attrs.insert(key, value);
    }
}

impl RecordReader for XesReader {
    fn next_records(&mut self, max: usize) -> Vec<Pending> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(reader) = self.reader.as_mut() else {
                break;
            };
            self.buffer.clear();
            let event = match reader.read_event_into(&mut self.buffer) {
                Ok(event) => event,
                Err(e) => {
                    let counter = reader.get_ref();
                    self.damage = Some(Damage {
                        line: counter.line,
                        byte_offset: reader.error_position(),
                        reason: format!("XML is broken: {e}"),
                    });
                    break;
                }
            };
            let counter = reader.get_ref();
            let (line, offset) = (counter.line, counter.offset);
            self.line = line;
            match event {
                Event::Eof => break,
                Event::Start(_) if self.nested > 0 => self.nested += 1,
                Event::End(_) if self.nested > 0 => self.nested -= 1,
                Event::Start(element) => match element.local_name().as_ref() {
                    b"trace" => self.trace = Some(Map::new()),
                    b"event" => self.event = Some((line, offset, Map::new())),
                    b"string" | b"date" | b"int" | b"float" | b"boolean" | b"id" | b"list"
                    | b"container" => {
                        store(&mut self.event, &mut self.trace, &element, reader.decoder());
                        self.nested = 1;
                    }
                    _ => {}
                },
                Event::Empty(element) if self.nested == 0 => {
                    if element.local_name().as_ref() == b"event" {
                        self.event = Some((line, offset, Map::new()));
                        out.extend(finish_event(&mut self.event, &self.trace));
                    } else {
                        store(&mut self.event, &mut self.trace, &element, reader.decoder());
                    }
                }
                Event::End(element) => match element.local_name().as_ref() {
                    b"event" => out.extend(finish_event(&mut self.event, &self.trace)),
                    b"trace" => self.trace = None,
                    _ => {}
                },
                _ => {}
            }
        }
        out
    }

    fn take_damage(&mut self) -> Option<Damage> {
        self.damage.take()
    }

    fn lines(&self) -> u64 {
        self.line
    }

    fn into_input(self: Box<Self>) -> Option<Input> {
        self.reader.map(|r| r.into_inner().into_inner())
    }
}

/// The open event as a pending record, its trace's attributes under `trace`.
fn finish_event(
    event: &mut Option<(u64, u64, Map<String, Value>)>,
    trace: &Option<Map<String, Value>>,
) -> Option<Pending> {
    let (line, offset, mut attrs) = event.take()?;
    if let Some(trace) = trace {
        attrs.insert("trace".into(), Value::Object(trace.clone()));
    }
    Some(Pending {
        line,
        byte_offset: offset,
        body: Body::Value(Value::Object(attrs)),
    })
}
