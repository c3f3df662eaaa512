//! Deciding commands: the write side, in batch (`eventfold decide`).
//!
//! A command (`CompleteTask` for `task-42`, issued by alice) is decided
//! against its stream's current state: the stream must exist (or, for a
//! command that creates one, must not), the `expected_version` must match, the
//! emitted events must be allowed by the lifecycle, the command's `require`
//! conditions must hold and the actor must be allowed by the rule. Then the
//! events are emitted and folded into the state, so the stream's next command
//! sees them; otherwise the command is rejected with a typed [`Reason`].
//!
//! This module is pure, like `evolve`: [`decide_stream`] takes a stream's
//! snapshot state and its commands in `issued_at` order and returns the events
//! and the rejections, so it is tested given / when / then and run on many
//! streams at once. The emitted events are folded with the replay's own
//! [`evolve`], so a decided event never makes a finding when the log is folded
//! again. Reading the batch and the snapshot and writing the decision folder
//! live in [`batch`] (with `read.rs` and `write.rs`).

pub mod batch;
mod conditions;
mod read;
mod spill;
mod write;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::envelope::Event;
use crate::model::command::{CommandModel, NewId, PayloadSource};
use crate::model::roles::Roles;
use crate::model::{AggregateModel, Allowed, Model, StateValue};
use crate::replay::authorise::{check_own, check_related, Verdict};
use crate::replay::fold::evolve;
use crate::replay::{EventRef, Rule, StreamState};
use crate::support::time::format_micros;

/// One command of a batch, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Its place in the batch (read order): ties of `issued_at` keep it.
    pub seq: u64,
    pub command_id: String,
    pub command_type: String,
    /// The target stream; `None` when the command does not name one (a
    /// command creating a stream whose id the model derives).
    pub stream_id: Option<String>,
    pub actor: Option<String>,
    /// Microseconds since the epoch, UTC.
    pub issued_at: i64,
    pub expected_version: Option<u64>,
    pub correlation_id: Option<String>,
    /// JSON text.
    pub payload: Option<String>,
    /// `file:line`.
    pub source: String,
}

/// Why a command was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    UnknownCommand,
    UnknownStream,
    StreamExists,
    VersionConflict,
    TransitionNotAllowed,
    PreconditionFailed,
    Unauthorised,
    DuplicateCommandId,
    Malformed,
}

impl Reason {
    /// Every reason, in the order the README lists them.
    pub const ALL: [Reason; 9] = [
        Reason::UnknownCommand,
        Reason::UnknownStream,
        Reason::StreamExists,
        Reason::VersionConflict,
        Reason::TransitionNotAllowed,
        Reason::PreconditionFailed,
        Reason::Unauthorised,
        Reason::DuplicateCommandId,
        Reason::Malformed,
    ];

    /// As written in `rejected.parquet`.
    pub fn name(self) -> &'static str {
        match self {
            Reason::UnknownCommand => "unknown_command",
            Reason::UnknownStream => "unknown_stream",
            Reason::StreamExists => "stream_exists",
            Reason::VersionConflict => "version_conflict",
            Reason::TransitionNotAllowed => "transition_not_allowed",
            Reason::PreconditionFailed => "precondition_failed",
            Reason::Unauthorised => "unauthorised",
            Reason::DuplicateCommandId => "duplicate_command_id",
            Reason::Malformed => "malformed",
        }
    }
}

/// A rejected command: what is known of it, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub command_id: Option<String>,
    pub command_type: Option<String>,
    pub stream_id: Option<String>,
    pub actor: Option<String>,
    pub issued_at: Option<i64>,
    /// `file:line` of the command.
    pub source: String,
    pub reason: Reason,
    /// What failed, said for a person: the rule, the condition, the versions.
    pub message: String,
}

impl Rejection {
    /// The rejection of `command` for `reason`.
    pub fn of(command: &Command, reason: Reason, message: String) -> Self {
        Self {
            command_id: Some(command.command_id.clone()),
            command_type: Some(command.command_type.clone()),
            stream_id: command.stream_id.clone(),
            actor: command.actor.clone(),
            issued_at: Some(command.issued_at),
            source: command.source.clone(),
            reason,
            message,
        }
    }
}

/// The states of streams that related permits read (`@project_id.owner`),
/// from the snapshot, by (aggregate type, stream id): `None` for a stream the
/// snapshot does not hold. A key absent was not looked up yet.
pub type RelatedStates = HashMap<(String, String), Option<Vec<StateValue>>>;

/// What deciding one stream's commands gave.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StreamDecision {
    /// The accepted commands' events, in order (position 0: given when written).
    pub accepted: Vec<Event>,
    pub rejected: Vec<Rejection>,
    /// Related streams a permit needed that were not looked up: load them and
    /// decide the stream again.
    pub missing: Vec<(String, String)>,
}

/// The stream a command targets: its own id, or the one it creates.
/// `Err` is the message of a malformed command.
pub fn target_stream(command_model: &CommandModel, command: &Command) -> Result<String, String> {
    target_of(
        command_model,
        &command.command_id,
        command.stream_id.as_deref(),
        command.payload.as_deref(),
    )
}

/// [`target_stream`] from a command's fields, borrowed where they are read.
pub fn target_of(
    command_model: &CommandModel,
    command_id: &str,
    stream_id: Option<&str>,
    payload: Option<&str>,
) -> Result<String, String> {
    match (&command_model.new_id, command_model.creates) {
        (NewId::FromCommandId, true) => {
            let hash = Sha256::digest(command_id.as_bytes());
            Ok(format!(
                "{}-{}",
                command_model.aggregate,
                crate::support::digest::hex(&hash[..6])
            ))
        }
        (NewId::Payload(path), true) => {
            let payload: Option<Value> = payload.and_then(|text| serde_json::from_str(text).ok());
            match payload.as_ref().and_then(|p| path.lookup(p)) {
                Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
                Some(Value::Number(n)) => Ok(n.to_string()),
                _ => Err(format!(
                    "the payload has no new stream id at \"{}\"",
                    path.as_str()
                )),
            }
        }
        _ => stream_id
            .map(str::to_owned)
            .ok_or_else(|| "the command names no stream (field \"stream_id\")".to_owned()),
    }
}

/// The deterministic id of the `index`th event of the command `command_id`.
pub fn event_id(command_id: &str, index: usize) -> String {
    let mut hasher = Sha256::new();
    hasher.update(command_id.as_bytes());
    hasher.update(b"\n");
    hasher.update(index.to_string().as_bytes());
    format!(
        "d-{}",
        crate::support::digest::hex(&hasher.finalize()[..16])
    )
}

/// What one stream's decisions need besides its commands.
pub struct Decider<'m> {
    pub model: &'m Model,
    pub roles: &'m Roles,
    pub related: &'m RelatedStates,
}

/// Why a check did not pass.
enum Denied {
    /// A rejection's reason and message.
    Rejected(Reason, String),
    /// A related stream not looked up yet.
    Missing((String, String)),
}

impl Decider<'_> {
    /// Decides `commands` (all of one stream `stream_id` of `aggregate`, in
    /// `issued_at` order, known to the model) against `seed`, the stream's
    /// snapshot state (`None`: the snapshot does not hold it).
    pub fn decide_stream(
        &self,
        aggregate: &AggregateModel,
        stream_id: &str,
        seed: Option<StreamState>,
        commands: &[Command],
    ) -> StreamDecision {
        let mut decision = StreamDecision::default();
        let mut state =
            seed.unwrap_or_else(|| StreamState::new(stream_id, &aggregate.name, Some(aggregate)));
        for command in commands {
            let Some(command_model) = self.model.commands.get(&command.command_type) else {
                decision.rejected.push(Rejection::of(
                    command,
                    Reason::UnknownCommand,
                    format!("no command \"{}\" in the model", command.command_type),
                ));
                continue;
            };
            match self.decide(aggregate, command_model, &state, command) {
                Ok((events, after)) => {
                    decision.accepted.extend(events);
                    state = after;
                }
                Err(Denied::Rejected(reason, message)) => {
                    let mut rejection = Rejection::of(command, reason, message);
                    rejection.stream_id = Some(stream_id.to_owned());
                    decision.rejected.push(rejection);
                }
                Err(Denied::Missing(key)) => {
                    decision.missing.push(key);
                    return decision;
                }
            }
        }
        decision
    }

    /// Decides one command against `state`: its events and the state after
    /// them, or why not.
    fn decide(
        &self,
        aggregate: &AggregateModel,
        command_model: &CommandModel,
        state: &StreamState,
        command: &Command,
    ) -> Result<(Vec<Event>, StreamState), Denied> {
        let reject = |reason, message| Err(Denied::Rejected(reason, message));
        let exists = state.event_count > 0;
        if command_model.creates && exists {
            return reject(
                Reason::StreamExists,
                format!(
                    "{} creates {}, which exists already (version {})",
                    command_model.name, state.stream_id, state.version
                ),
            );
        }
        if !command_model.creates && !exists {
            return reject(
                Reason::UnknownStream,
                format!("{} {} does not exist", aggregate.name, state.stream_id),
            );
        }
        if let Some(expected) = command.expected_version.filter(|v| *v != state.version) {
            return reject(
                Reason::VersionConflict,
                format!(
                    "expected version {expected}, but {} is at version {}",
                    state.stream_id, state.version
                ),
            );
        }
        let payload: Option<Value> = match command.payload.as_deref() {
            None => None,
            Some(text) => match serde_json::from_str(text) {
                Ok(value) => Some(value),
                Err(err) => {
                    return reject(Reason::Malformed, format!("payload is not JSON: {err}"))
                }
            },
        };
        let mut scratch = state.clone();
        let mut events = Vec::new();
        // The first problem met folding the events, and the first rule that
        // refused one of them: reported in the order of [`Reason`].
        let mut transition: Option<String> = None;
        let mut unauthorised: Option<Denied> = None;
        for (index, emit) in command_model.emits.iter().enumerate() {
            let body = match fill_payload(&emit.payload, &scratch, command, payload.as_ref()) {
                Ok(body) => body,
                Err(message) => return reject(Reason::Malformed, message),
            };
            let event = Event {
                position: 0,
                event_id: event_id(&command.command_id, index),
                stream_id: state.stream_id.clone(),
                aggregate_type: aggregate.name.clone(),
                version: scratch.version + 1,
                event_type: emit.event_type.clone(),
                schema_version: 1,
                occurred_at: command.issued_at,
                actor: command.actor.clone(),
                correlation_id: command.correlation_id.clone(),
                causation_id: Some(command.command_id.clone()),
                tenant: None,
                payload: Some(Value::Object(body).to_string()),
                metadata: Some(serde_json::json!({ "command": command_model.name }).to_string()),
                source: command.source.clone(),
            };
            let handler_rule = aggregate
                .handlers
                .get(&emit.event_type)
                .and_then(|h| h.allowed.as_ref());
            if command_model.allowed.is_none() && unauthorised.is_none() {
                if let Some(allowed) = handler_rule {
                    unauthorised = self.authorise(aggregate, allowed, &scratch, command).err();
                }
            }
            let mut findings = Vec::new();
            let event_ref = EventRef::from(&event);
            evolve(
                Some(aggregate),
                &mut scratch,
                &event_ref,
                Arc::from(emit.event_type.as_str()),
                &mut findings,
            );
            for finding in findings {
                match finding.rule {
                    Rule::TransitionNotAllowed
                    | Rule::EventAfterTerminal
                    | Rule::EventBeforeCreation => {
                        transition.get_or_insert(finding.message);
                    }
                    _ => return reject(Reason::Malformed, finding.message),
                }
            }
            events.push(event);
        }
        if let Some(message) = transition {
            return reject(Reason::TransitionNotAllowed, message);
        }
        for precondition in &command_model.preconditions {
            if let Err(why) =
                conditions::holds(aggregate, precondition, state, command, payload.as_ref())
            {
                return reject(
                    Reason::PreconditionFailed,
                    format!("require \"{}\" is not met: {why}", precondition.text),
                );
            }
        }
        if let Some(allowed) = &command_model.allowed {
            self.authorise(aggregate, allowed, state, command)?;
        }
        if let Some(denied) = unauthorised {
            return Err(denied);
        }
        Ok((events, scratch))
    }

    /// Whether `allowed` lets the command's actor act on `state`.
    fn authorise(
        &self,
        aggregate: &AggregateModel,
        allowed: &Allowed,
        state: &StreamState,
        command: &Command,
    ) -> Result<(), Denied> {
        let actor = command.actor.as_deref();
        let verdict = check_own(
            aggregate,
            allowed,
            &state.fields,
            actor,
            command.issued_at,
            self.roles,
        );
        let Verdict::Open {
            mut reasons,
            related,
        } = verdict
        else {
            return Ok(());
        };
        if let Some(actor) = actor {
            for permit in &related {
                let fields = match &permit.stream_id {
                    None => None,
                    Some(id) => {
                        let key = (permit.aggregate.to_owned(), id.clone());
                        match self.related.get(&key) {
                            None => return Err(Denied::Missing(key)),
                            Some(fields) => fields.as_deref(),
                        }
                    }
                };
                if check_related(permit, fields, actor, &mut reasons) {
                    return Ok(());
                }
            }
        }
        let by = match actor {
            Some(actor) => format!("\"{actor}\""),
            None => "a command with no actor".into(),
        };
        Err(Denied::Rejected(
            Reason::Unauthorised,
            format!(
                "{by} is not allowed by {}: {}",
                allowed.rule,
                reasons.join("; ")
            ),
        ))
    }
}

/// The payload of an emitted event, filled from its sources.
fn fill_payload(
    sources: &[(String, PayloadSource)],
    state: &StreamState,
    command: &Command,
    payload: Option<&Value>,
) -> Result<Map<String, Value>, String> {
    let text = |s: &Option<String>| s.as_ref().map_or(Value::Null, |s| Value::from(s.as_str()));
    let mut body = Map::new();
    for (key, source) in sources {
        let value = match source {
            PayloadSource::Command { path, optional } => {
                match payload.and_then(|p| path.lookup(p)) {
                    Some(value) => value.clone(),
                    None if *optional => Value::Null,
                    None => {
                        return Err(format!(
                            "the payload has no \"{}\" (for the event's \"{key}\")",
                            path.as_str()
                        ))
                    }
                }
            }
            PayloadSource::State(field) => state_json(state.fields.get(*field)),
            PayloadSource::Status => text(&state.status.as_deref().map(str::to_owned)),
            PayloadSource::Actor => text(&command.actor),
            PayloadSource::IssuedAt => Value::from(format_micros(command.issued_at)),
            PayloadSource::CommandId => Value::from(command.command_id.as_str()),
            PayloadSource::StreamId => Value::from(state.stream_id.as_str()),
            PayloadSource::CorrelationId => text(&command.correlation_id),
            PayloadSource::Const(value) => value.clone(),
        };
        body.insert(key.clone(), value);
    }
    Ok(body)
}

/// A state value as JSON, as an event's payload carries it.
fn state_json(value: Option<&StateValue>) -> Value {
    match value {
        None | Some(StateValue::Null) => Value::Null,
        Some(StateValue::Str(s)) => Value::from(s.as_str()),
        Some(StateValue::Int(i)) => Value::from(*i),
        Some(StateValue::Float(f)) => Value::from(*f),
        Some(StateValue::Bool(b)) => Value::from(*b),
        Some(StateValue::Timestamp(t)) => Value::from(format_micros(*t)),
        Some(StateValue::List(items)) => Value::from(items.clone()),
    }
}

#[cfg(test)]
mod tests;
