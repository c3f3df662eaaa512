//! XES (IEEE 1849), the process-mining exchange format, read as a stream with
//! quick-xml. Each `<event>` becomes one record: its attributes as top-level
//! keys (`concept:name`, `time:timestamp`, `org:resource`, …), typed as XES
//! types them, and the attributes of its `<trace>` under `trace`. Attributes
//! nested inside an attribute (XES 2016's nested attributes) are not read; log
//! level attributes, globals and classifiers neither. Broken XML ends the
//! input, and so does an input that ends before its root element closes (a
//! file cut short, inside an event or between them): the events before it are
//! kept and the damage is one reject, holding what was read of the event it
//! cut short.

use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

use super::{Body, Damage, Ended, LineCounter, Pending, ReaderCore, RecordReader, Unwrap};
use crate::ingest::{Decoded, Input};

/// Reads the events of one XES log.
pub struct XesReader {
    /// The reader; the line it has read to.
    core: ReaderCore<quick_xml::Reader<LineCounter<Decoded>>>,
    buffer: Vec<u8>,
    trace: Option<Map<String, Value>>,
    event: Option<(u64, u64, Map<String, Value>)>,
    /// Depth inside an attribute that has children (those are skipped).
    nested: usize,
    /// Elements open (started and not yet ended), all levels counted: the
    /// input must not end while any is.
    open: usize,
    /// The line where the open trace starts.
    trace_line: u64,
    /// Damage ended the input: nothing more is read.
    done: bool,
}

impl XesReader {
    pub fn new(input: Input) -> Self {
        let mut reader = quick_xml::Reader::from_reader(LineCounter::new(input));
        reader.config_mut().trim_text(true);
        Self {
            core: ReaderCore::new(reader),
            buffer: Vec::new(),
            trace: None,
            event: None,
            nested: 0,
            open: 0,
            trace_line: 0,
            done: false,
        }
    }
}

/// What was read of the event damage cut short (its attributes so far, as
/// JSON), taken out so it is reported once; empty between events.
fn cut_short(event: &mut Option<(u64, u64, Map<String, Value>)>) -> Vec<u8> {
    event
        .take()
        .map(|(_, _, attrs)| Value::Object(attrs).to_string().into_bytes())
        .unwrap_or_default()
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

impl Unwrap for quick_xml::Reader<LineCounter<Decoded>> {
    fn into_input(self) -> Input {
        self.into_inner().into_inner()
    }
}

impl RecordReader for XesReader {
    fn next_records(&mut self, max: usize) -> Vec<Pending> {
        let mut out = Vec::new();
        while out.len() < max && !self.done {
            let Some(reader) = self.core.reader.as_mut() else {
                break;
            };
            self.buffer.clear();
            let event = match reader.read_event_into(&mut self.buffer) {
                Ok(event) => event,
                Err(e) => {
                    let counter = reader.get_ref();
                    self.core.damage = Some(Damage {
                        line: counter.line,
                        byte_offset: reader.error_position(),
                        reason: format!("XML is broken: {e}"),
                        raw: cut_short(&mut self.event),
                    });
                    self.done = true;
                    break;
                }
            };
            let counter = reader.get_ref();
            let (line, offset) = (counter.line, counter.offset);
            self.core.line = line;
            match &event {
                Event::Start(_) => self.open += 1,
                Event::End(_) => self.open = self.open.saturating_sub(1),
                _ => {}
            }
            match event {
                Event::Eof if self.open > 0 => {
                    let inside = match (&self.event, &self.trace) {
                        (Some((event_line, _, _)), _) => {
                            format!("inside the <event> that starts at line {event_line}")
                        }
                        (None, Some(_)) => {
                            format!("inside the <trace> that starts at line {}", self.trace_line)
                        }
                        (None, None) => "before the log's root element is closed".to_owned(),
                    };
                    self.core.damage = Some(Damage {
                        line,
                        byte_offset: offset,
                        reason: format!("the input ends {inside} (truncated?)"),
                        raw: cut_short(&mut self.event),
                    });
                    self.done = true;
                    break;
                }
                Event::Eof => break,
                Event::Start(_) if self.nested > 0 => self.nested += 1,
                Event::End(_) if self.nested > 0 => self.nested -= 1,
                Event::Start(element) => match element.local_name().as_ref() {
                    b"trace" => {
                        self.trace = Some(Map::new());
                        self.trace_line = line;
                    }
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

    fn end(self: Box<Self>) -> Ended {
        self.core.end()
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
