//! Commands in the model: the requests an aggregate accepts, and how each is
//! decided (`eventfold decide`).
//!
//! `[aggregates.T.commands.NAME]` declares a command: the events it emits
//! (`emits = "E"` with its `payload`, or several `[[…emit]]` tables), how each
//! event's payload is filled (from the command's payload, the current state,
//! `@actor`, `@issued_at`, …), extra preconditions on the current state
//! (`require = ["assignee is set", "estimate_hours < 40"]`), whether it
//! creates its stream (and where the new stream's id comes from), and who may
//! issue it. The emitted events' lifecycle `from` applies by itself: the
//! decision folds the events with the same `evolve` as the replay. Who may issue
//! a command is, unless it says `allowed = [...]`, the rule of each event type it
//! emits: declared once, it decides new commands and audits the history.
//!
//! Everything is checked here, once, with the line of the mistake, so deciding
//! a command does no name lookups and meets no surprise.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use super::authorisation::PermitContext;
use super::{AggregateModel, Allowed, Effect, FieldType, Locator, StateValue, ValueSource};
use crate::support::json_path::JsonPath;
use crate::Result;

/// Where a created stream's id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewId {
    /// The command names it as its target (`stream_id`).
    Given,
    /// Derived from the command id: `AGGREGATE-` and a hash of it, so the same
    /// command always creates the same stream.
    FromCommandId,
    /// A value of the command's payload.
    Payload(JsonPath),
}

/// Where one key of an emitted event's payload comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadSource {
    /// A value of the command's payload; `optional` ones (`"path?"`) are null
    /// when absent, others make the command malformed.
    Command {
        path: JsonPath,
        optional: bool,
    },
    /// A field of the current state (index into the aggregate's fields).
    State(usize),
    /// The current status.
    Status,
    Actor,
    IssuedAt,
    CommandId,
    StreamId,
    CorrelationId,
    /// The same value every time (`"=text"`, or a TOML number or boolean).
    Const(Value),
}

/// One event a command emits.
#[derive(Debug, Clone, PartialEq)]
pub struct Emit {
    pub event_type: String,
    /// The event's payload, key by key, in the order written.
    pub payload: Vec<(String, PayloadSource)>,
}

/// What a precondition looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Field(usize),
    Status,
}

/// A comparison's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
}

impl Op {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "=" | "==" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "contains" => Op::Contains,
            _ => return None,
        })
    }
}

/// What a comparison compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Literal(StateValue),
    Actor,
    IssuedAt,
    /// A value of the command's payload (`payload.PATH`).
    Payload(JsonPath),
}

/// The test a precondition makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Set,
    Unset,
    Compare(Op, Operand),
}

/// One `require` entry: `text` as written, for the rejection's reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Precondition {
    pub text: String,
    pub subject: Subject,
    pub test: Test,
}

/// A validated command.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandModel {
    pub name: String,
    /// The aggregate type it targets (its name).
    pub aggregate: String,
    /// Whether it creates its stream (which must not exist yet).
    pub creates: bool,
    pub new_id: NewId,
    pub emits: Vec<Emit>,
    pub preconditions: Vec<Precondition>,
    /// Who may issue it, when the command says; else each emitted event
    /// type's own rule.
    pub allowed: Option<Allowed>,
}

/// An emitted event's payload as written: key → source.
type RawPayload = IndexMap<String, Spanned<toml::Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCommand {
    #[serde(default)]
    creates: bool,
    id: Option<Spanned<String>>,
    emits: Option<Spanned<String>>,
    #[serde(default)]
    payload: IndexMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    emit: Vec<Spanned<RawEmit>>,
    #[serde(default)]
    require: Vec<Spanned<String>>,
    allowed: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEmit {
    event: Spanned<String>,
    #[serde(default)]
    payload: IndexMap<String, Spanned<toml::Value>>,
}

/// Validates one aggregate's commands (`raw`), once every aggregate is known.
pub(super) fn validate(
    locator: &Locator,
    aggregate: &AggregateModel,
    aggregates: &[AggregateModel],
    raw: &IndexMap<String, Spanned<RawCommand>>,
) -> Result<Vec<CommandModel>> {
    let context = CommandContext {
        locator,
        aggregate,
        permits: PermitContext {
            locator,
            aggregate,
            aggregates,
        },
    };
    raw.iter()
        .map(|(name, command)| context.command(name, command))
        .collect()
}

struct CommandContext<'a> {
    locator: &'a Locator<'a>,
    aggregate: &'a AggregateModel,
    permits: PermitContext<'a>,
}

type Span = std::ops::Range<usize>;

impl CommandContext<'_> {
    fn error(&self, span: &Span, message: String, hint: Option<String>) -> crate::Error {
        self.locator.error(span, message, hint)
    }

    fn command(&self, name: &str, raw: &Spanned<RawCommand>) -> Result<CommandModel> {
        let span = raw.span();
        let raw = raw.get_ref();
        let what = format!("command \"{name}\"");
        let section = format!("aggregates.{}.commands.{name}", self.aggregate.name);
        let emits: Vec<(Spanned<String>, &RawPayload)> = match (&raw.emits, raw.emit.is_empty()) {
            (Some(event), true) => vec![(event.clone(), &raw.payload)],
            (None, false) if raw.payload.is_empty() => raw
                .emit
                .iter()
                .map(|e| (e.get_ref().event.clone(), &e.get_ref().payload))
                .collect(),
            (None, false) => {
                let first = raw
                    .payload
                    .values()
                    .next()
                    .map_or(span.clone(), |v| v.span());
                return Err(self.error(
                    &first,
                    format!("{what} has a payload beside its [[{section}.emit]] tables"),
                    Some("give each emitted event its payload in its own emit table".into()),
                ));
            }
            (Some(event), false) => {
                return Err(self.error(
                    &event.span(),
                    format!("{what} has both emits and [[{section}.emit]] tables"),
                    Some("write emits = \"EVENT\" for one event, emit tables for several".into()),
                ))
            }
            (None, true) => {
                return Err(self.error(
                    &span,
                    format!("{what} emits no event"),
                    Some(format!(
                        "add emits = \"EVENT\" (one of: {})",
                        self.event_types()
                    )),
                ))
            }
        };
        let mut emitted = Vec::new();
        for (index, (event, payload)) in emits.iter().enumerate() {
            emitted.push(self.emit(&what, raw.creates && index == 0, event, payload)?);
        }
        let new_id = match (&raw.id, raw.creates) {
            (None, _) => NewId::Given,
            (Some(id), false) => {
                return Err(self.error(
                    &id.span(),
                    format!("{what} gives a new stream id but does not create its stream"),
                    Some("add creates = true, or leave id out".into()),
                ))
            }
            (Some(id), true) => match id.get_ref().as_str() {
                "stream_id" => NewId::Given,
                "@command_id" => NewId::FromCommandId,
                text if text.starts_with('@') => {
                    return Err(self.error(
                        &id.span(),
                        format!("{what}: id \"{text}\" is not a way to give a new stream id"),
                        Some("write \"stream_id\" (the command names it), \"@command_id\" (derived from the command id) or a payload path".into()),
                    ))
                }
                text => NewId::Payload(self.path(&what, &id.span(), text)?),
            },
        };
        let preconditions = raw
            .require
            .iter()
            .map(|text| self.precondition(&what, text))
            .collect::<Result<Vec<_>>>()?;
        let allowed = raw
            .allowed
            .as_ref()
            .map(|allowed| self.permits.allowed(&what, &section, allowed, raw.creates))
            .transpose()?;
        Ok(CommandModel {
            name: name.to_owned(),
            aggregate: self.aggregate.name.clone(),
            creates: raw.creates,
            new_id,
            emits: emitted,
            preconditions,
            allowed,
        })
    }

    fn event_types(&self) -> String {
        let mut names: Vec<&str> = self.aggregate.handlers.keys().map(String::as_str).collect();
        names.sort_unstable();
        if names.is_empty() {
            "none declared".into()
        } else {
            names.join(", ")
        }
    }

    /// One emitted event: `first_of_creation` when it is the first event of a
    /// command that creates its stream.
    fn emit(
        &self,
        what: &str,
        first_of_creation: bool,
        event: &Spanned<String>,
        payload: &IndexMap<String, Spanned<toml::Value>>,
    ) -> Result<Emit> {
        let event_type = event.get_ref();
        let Some(handler) = self.aggregate.handlers.get(event_type) else {
            return Err(self.error(
                &event.span(),
                format!(
                    "{what} emits \"{event_type}\", which aggregate \"{}\" has no handler for",
                    self.aggregate.name
                ),
                Some(format!("declared event types: {}", self.event_types())),
            ));
        };
        if handler.creates != first_of_creation {
            let message = if handler.creates {
                format!("{what} emits \"{event_type}\", which creates a stream, but the command does not create one (or emits it after another event)")
            } else {
                format!("{what} creates its stream but emits \"{event_type}\" first, which does not create one")
            };
            return Err(self.error(
                &event.span(),
                message,
                Some(
                    "a command with creates = true emits a creating event first; others emit none"
                        .into(),
                ),
            ));
        }
        let mut filled = Vec::new();
        for (key, source) in payload {
            filled.push((key.clone(), self.payload_source(what, source)?));
        }
        // Every payload key the event's handler reads must be filled, or
        // every decided event would be flagged by the replay.
        for effect in &handler.effects {
            let (Effect::Set { source, .. }
            | Effect::Add { source, .. }
            | Effect::Remove { source, .. }) = effect
            else {
                continue;
            };
            let ValueSource::Payload(path) = source else {
                continue;
            };
            let key = path.first_key();
            if !filled.iter().any(|(k, _)| k == key) {
                return Err(self.error(
                    &event.span(),
                    format!("{what} emits \"{event_type}\" without payload key \"{key}\", which the event reads"),
                    Some(format!("add payload = {{ {key} = \"PATH\" }} (a path into the command's payload, or @actor, @issued_at, @state.FIELD, …)")),
                ));
            }
        }
        Ok(Emit {
            event_type: event_type.clone(),
            payload: filled,
        })
    }

    fn path(&self, what: &str, span: &Span, text: &str) -> Result<JsonPath> {
        JsonPath::parse(text).map_err(|err| self.error(span, format!("{what}: {err}"), None))
    }

    fn payload_source(&self, what: &str, raw: &Spanned<toml::Value>) -> Result<PayloadSource> {
        let span = raw.span();
        let text = match raw.get_ref() {
            toml::Value::String(text) => text,
            toml::Value::Integer(i) => return Ok(PayloadSource::Const(Value::from(*i))),
            toml::Value::Float(f) => return Ok(PayloadSource::Const(Value::from(*f))),
            toml::Value::Boolean(b) => return Ok(PayloadSource::Const(Value::from(*b))),
            other => {
                return Err(self.error(
                    &span,
                    format!("{what}: payload value {other} is not a source"),
                    Some(
                        "write a path into the command's payload, @actor, @issued_at, @state.FIELD, \"=text\" or a number or boolean".into(),
                    ),
                ))
            }
        };
        if let Some(constant) = text.strip_prefix('=') {
            return Ok(PayloadSource::Const(Value::from(constant)));
        }
        if let Some(field) = text.strip_prefix("@state.") {
            if self.is_status(field) {
                return Ok(PayloadSource::Status);
            }
            return Ok(PayloadSource::State(self.field(what, &span, field)?));
        }
        if let Some(name) = text.strip_prefix('@') {
            return Ok(match name {
                "actor" => PayloadSource::Actor,
                "issued_at" => PayloadSource::IssuedAt,
                "command_id" => PayloadSource::CommandId,
                "stream_id" => PayloadSource::StreamId,
                "correlation_id" => PayloadSource::CorrelationId,
                _ => {
                    return Err(self.error(
                        &span,
                        format!("{what} reads unknown value \"{text}\""),
                        Some("expected @actor, @issued_at, @command_id, @stream_id, @correlation_id or @state.FIELD".into()),
                    ))
                }
            });
        }
        let (path, optional) = match text.strip_suffix('?') {
            Some(path) => (path, true),
            None => (text.as_str(), false),
        };
        Ok(PayloadSource::Command {
            path: self.path(what, &span, path)?,
            optional,
        })
    }

    fn is_status(&self, name: &str) -> bool {
        self.aggregate
            .lifecycle
            .as_ref()
            .is_some_and(|l| l.status_field == name)
    }

    fn field(&self, what: &str, span: &Span, name: &str) -> Result<usize> {
        self.aggregate
            .fields
            .iter()
            .position(|f| f.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = (self.aggregate.fields.iter())
                    .map(|f| f.name.as_str())
                    .collect();
                self.error(
                    span,
                    format!(
                        "{what} reads field \"{name}\", which aggregate \"{}\" does not have",
                        self.aggregate.name
                    ),
                    Some(format!("its fields: {}, and its status", names.join(", "))),
                )
            })
    }

    /// One `require` entry: `SUBJECT is set`, `SUBJECT is not set` or
    /// `SUBJECT OP OPERAND`.
    fn precondition(&self, what: &str, raw: &Spanned<String>) -> Result<Precondition> {
        let span = raw.span();
        let text = raw.get_ref().trim();
        let syntax = || {
            self.error(
                &span,
                format!("{what}: require \"{text}\" is not a condition"),
                Some("write \"FIELD is set\", \"FIELD is not set\" or \"FIELD OP VALUE\" with OP one of = != < <= > >= contains, and VALUE a number, a \"quoted\" text, true, false, @actor, @issued_at or payload.PATH".into()),
            )
        };
        let mut words = text.splitn(3, char::is_whitespace);
        let (Some(name), Some(op)) = (words.next(), words.next()) else {
            return Err(syntax());
        };
        let rest = words.next().unwrap_or("").trim();
        let (subject, field_type) = if self.is_status(name) {
            (Subject::Status, FieldType::String)
        } else {
            let index = self.field(what, &span, name)?;
            (
                Subject::Field(index),
                self.aggregate.fields[index].field_type,
            )
        };
        let test = match (op, rest) {
            ("is", "set") => Test::Set,
            ("is", "not set") => Test::Unset,
            (op, operand) => {
                let op = Op::parse(op).ok_or_else(syntax)?;
                if operand.is_empty() {
                    return Err(syntax());
                }
                let mut operand = self.operand(what, &span, operand)?;
                self.check_types(what, &span, name, field_type, op, &operand)?;
                // A quoted time compares as the time it names.
                if let (FieldType::Timestamp, Operand::Literal(StateValue::Str(text))) =
                    (field_type, &operand)
                {
                    if let Some(micros) =
                        crate::support::time::parse_timestamp(&Value::from(text.as_str()))
                    {
                        operand = Operand::Literal(StateValue::Timestamp(micros));
                    }
                }
                Test::Compare(op, operand)
            }
        };
        Ok(Precondition {
            text: text.to_owned(),
            subject,
            test,
        })
    }

    fn operand(&self, what: &str, span: &Span, text: &str) -> Result<Operand> {
        Ok(match text {
            "@actor" => Operand::Actor,
            "@issued_at" => Operand::IssuedAt,
            "true" => Operand::Literal(StateValue::Bool(true)),
            "false" => Operand::Literal(StateValue::Bool(false)),
            _ => {
                if let Some(path) = text.strip_prefix("payload.") {
                    return Ok(Operand::Payload(self.path(what, span, path)?));
                }
                let quoted = ['"', '\''].iter().find_map(|q| {
                    text.strip_prefix(*q)
                        .and_then(|t| t.strip_suffix(*q))
                        .filter(|_| text.len() >= 2)
                });
                if let Some(inner) = quoted {
                    return Ok(Operand::Literal(StateValue::Str(inner.to_owned())));
                }
                if let Ok(i) = text.parse::<i64>() {
                    return Ok(Operand::Literal(StateValue::Int(i)));
                }
                match text.parse::<f64>() {
                    Ok(f) if f.is_finite() => Operand::Literal(StateValue::Float(f)),
                    _ => {
                        return Err(self.error(
                            span,
                            format!("{what}: \"{text}\" is not a value to compare with"),
                            Some("write a number, a \"quoted\" text, true, false, @actor, @issued_at or payload.PATH".into()),
                        ))
                    }
                }
            }
        })
    }

    /// Refuses a comparison that could never hold for the field's type.
    fn check_types(
        &self,
        what: &str,
        span: &Span,
        name: &str,
        field_type: FieldType,
        op: Op,
        operand: &Operand,
    ) -> Result<()> {
        let ordered = matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge);
        let fits = match (field_type, op, operand) {
            (FieldType::List, Op::Contains, Operand::Literal(StateValue::Str(_))) => true,
            (FieldType::List, Op::Contains, Operand::Actor | Operand::Payload(_)) => true,
            (_, Op::Contains, _) | (FieldType::List, _, _) => false,
            (_, _, Operand::Payload(_)) => true,
            (FieldType::Bool, _, Operand::Literal(StateValue::Bool(_))) => !ordered,
            (FieldType::Int | FieldType::Float, _, Operand::Literal(v)) => {
                matches!(v, StateValue::Int(_) | StateValue::Float(_))
            }
            (FieldType::String, _, Operand::Literal(v)) => matches!(v, StateValue::Str(_)),
            (FieldType::String, _, Operand::Actor) => !ordered,
            (FieldType::Timestamp, _, Operand::IssuedAt) => true,
            (FieldType::Timestamp, _, Operand::Literal(StateValue::Str(text))) => {
                crate::support::time::parse_timestamp(&Value::from(text.as_str())).is_some()
            }
            _ => false,
        };
        if fits {
            Ok(())
        } else {
            Err(self.error(
                span,
                format!(
                    "{what}: \"{name}\" is of type {} and cannot be compared that way",
                    field_type.name()
                ),
                Some("numbers compare with numbers, texts with \"quoted\" texts or @actor, timestamps with @issued_at or a quoted time, lists with contains, booleans with = true or = false".into()),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::parse_model;

    const HEAD: &str = "[aggregates.t]\nfields = { who = \"string\", n = \"int\", tags = \"list\", on = \"bool\", p = \"string\" }\n\
[aggregates.t.references]\np = \"p\"\n\
[aggregates.t.lifecycle]\ninitial = \"open\"\nstatuses = [\"open\", \"done\"]\n\
[aggregates.t.events.Made]\ncreates = true\nset = { who = \"who\" }\n\
[aggregates.t.events.Done]\nfrom = [\"open\"]\nto = \"done\"\n\
[aggregates.p]\nfields = { owner = \"string\" }\n";

    /// The error of the model HEAD + `commands` (its lines start at 16).
    fn error_of(commands: &str) -> String {
        match parse_model("m.toml", &format!("{HEAD}{commands}")) {
            Ok(_) => panic!("{commands} parsed"),
            Err(e) => e.to_string(),
        }
    }

    fn starts(commands: &str, expected: &str) {
        let error = error_of(commands);
        assert!(
            error.starts_with(expected),
            "{error}\n  expected: {expected}"
        );
    }

    #[test]
    fn a_good_command_parses() {
        let text = format!(
            "{HEAD}[aggregates.t.commands.Make]\ncreates = true\nid = \"@command_id\"\nemits = \"Made\"\npayload = {{ who = \"@actor\", extra = \"x.y?\", k = 3 }}\n\
             [aggregates.t.commands.Finish]\nemits = \"Done\"\nrequire = [\"who is set\", \"n < 40\", \"tags contains 'a'\", \"status = 'open'\", \"who != @actor\"]\nallowed = [\"@p.owner\", \"role:lead\"]\n\
             [[aggregates.t.commands.Twice.emit]]\nevent = \"Done\"\n"
        );
        let model = parse_model("m.toml", &text).unwrap();
        let finish = &model.commands["Finish"];
        assert_eq!(finish.aggregate, "t");
        assert_eq!(finish.preconditions.len(), 5);
        let permits = &finish.allowed.as_ref().unwrap().permits;
        assert!(matches!(permits[0], crate::model::Permit::Related { .. }));
        assert!(model.commands["Make"].creates);
        assert_eq!(model.commands["Make"].emits[0].payload.len(), 3);
    }

    #[test]
    fn each_mistake_names_its_line() {
        let c = "[aggregates.t.commands.C]\n";
        starts(
            &format!("{c}emits = \"Nope\"\n"),
            "m.toml:17: command \"C\" emits \"Nope\", which aggregate \"t\" has no handler for",
        );
        starts(c, "m.toml:16: command \"C\" emits no event");
        starts(
            &format!("{c}emits = \"Done\"\n[[aggregates.t.commands.C.emit]]\nevent = \"Done\"\n"),
            "m.toml:17: command \"C\" has both emits and",
        );
        starts(&format!("{c}emits = \"Made\"\npayload = {{ who = \"who\" }}\n"), "m.toml:17: command \"C\" emits \"Made\", which creates a stream, but the command does not");
        starts(
            &format!("{c}creates = true\nemits = \"Done\"\n"),
            "m.toml:18: command \"C\" creates its stream but emits \"Done\" first",
        );
        starts(&format!("{c}creates = true\nemits = \"Made\"\n"), "m.toml:18: command \"C\" emits \"Made\" without payload key \"who\", which the event reads");
        starts(
            &format!("{c}emits = \"Done\"\npayload = {{ x = \"@nobody\" }}\n"),
            "m.toml:18: command \"C\" reads unknown value \"@nobody\"",
        );
        starts(
            &format!("{c}emits = \"Done\"\npayload = {{ x = \"@state.nope\" }}\n"),
            "m.toml:18: command \"C\" reads field \"nope\", which aggregate \"t\" does not have",
        );
        starts(
            &format!("{c}emits = \"Done\"\npayload = {{ x = \"a..b\" }}\n"),
            "m.toml:18: command \"C\": path \"a..b\" has an empty segment",
        );
        starts(
            &format!("{c}emits = \"Done\"\nid = \"@command_id\"\n"),
            "m.toml:18: command \"C\" gives a new stream id but does not create its stream",
        );
        starts(&format!("{c}creates = true\nid = \"@nope\"\nemits = \"Made\"\npayload = {{ who = \"w\" }}\n"), "m.toml:18: command \"C\": id \"@nope\" is not a way");
        starts(
            &format!("{c}emits = \"Done\"\nrequire = [\"who\"]\n"),
            "m.toml:18: command \"C\": require \"who\" is not a condition",
        );
        starts(
            &format!("{c}emits = \"Done\"\nrequire = [\"who ~ 3\"]\n"),
            "m.toml:18: command \"C\": require \"who ~ 3\" is not a condition",
        );
        starts(
            &format!("{c}emits = \"Done\"\nrequire = [\"nope is set\"]\n"),
            "m.toml:18: command \"C\" reads field \"nope\"",
        );
        starts(
            &format!("{c}emits = \"Done\"\nrequire = [\"n < 'x'\"]\n"),
            "m.toml:18: command \"C\": \"n\" is of type int and cannot be compared that way",
        );
        starts(
            &format!("{c}emits = \"Done\"\nrequire = [\"tags < 3\"]\n"),
            "m.toml:18: command \"C\": \"tags\" is of type list",
        );
        starts(
            &format!("{c}emits = \"Done\"\nrequire = [\"n < abc\"]\n"),
            "m.toml:18: command \"C\": \"abc\" is not a value to compare with",
        );
        starts(
            &format!("{c}emits = \"Done\"\nallowed = [\"@nope\"]\n"),
            "m.toml:18: command \"C\" allows the actor in field \"nope\"",
        );
        starts(
            &format!("{c}emits = \"Done\"\nemitz = 1\n"),
            "m.toml:18: unknown field `emitz`",
        );
        starts(
            &format!("{c}emits = \"Done\"\n[aggregates.p.events.E]\n[aggregates.p.commands.C]\nemits = \"E\"\n"),
            "m.toml:19: command \"C\" is declared for aggregate \"t\" and again for \"p\"",
        );
    }
}
