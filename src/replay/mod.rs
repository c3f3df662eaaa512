//! Replay: the events of each stream, in version order, folded into its state.
//!
//! The [`Replayer`] consumes batches already sorted by (aggregate_type, stream_id,
//! version, position), so one stream's events are contiguous and only the current
//! stream's state is held in memory; a finished stream's state goes straight to a
//! [`ReplaySink`]. The per-event logic is the pure [`fold::evolve`]. The
//! duplicate-event-id rule spans streams and is checked in SQL by the run command.

pub mod authorise;
pub mod fold;
pub mod keyed;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    Array, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use arrow::datatypes::{TimestampMicrosecondType, UInt32Type, UInt64Type};

use crate::envelope::{col, Event};
use crate::model::{AggregateModel, Model};
use crate::Result;
use authorise::Authoriser;
use keyed::KeyedFolds;

pub use crate::model::StateValue;

/// The state of one stream as its events are folded.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamState {
    pub stream_id: String,
    pub aggregate_type: String,
    /// Shared with the model's statuses: a status is never copied.
    pub status: Option<Arc<str>>,
    /// The last version applied.
    pub version: u64,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    /// Events of the stream in the log, applied or not.
    pub event_count: u64,
    /// Whether the creation event was seen.
    pub created: bool,
    /// One value per field of the aggregate's model, in model order.
    pub fields: Vec<StateValue>,
    /// The type of the stream's last event, applied or not.
    pub last_event_type: Option<Arc<str>>,
}

impl StreamState {
    /// The empty state of a new stream.
    pub fn new(stream_id: &str, aggregate_type: &str, model: Option<&AggregateModel>) -> Self {
        Self {
            stream_id: stream_id.to_owned(),
            aggregate_type: aggregate_type.to_owned(),
            status: None,
            version: 0,
            created_at: None,
            updated_at: None,
            event_count: 0,
            created: false,
            fields: model.map_or_else(Vec::new, AggregateModel::initial_values),
            last_event_type: None,
        }
    }

    /// The value of field `name`, for tests and `history`.
    pub fn field<'s>(&'s self, model: &AggregateModel, name: &str) -> Option<&'s StateValue> {
        let index = model.fields.iter().position(|f| f.name == name)?;
        self.fields.get(index)
    }
}

/// An event borrowed from a batch row or an [`Event`].
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    pub position: u64,
    pub event_id: &'a str,
    pub stream_id: &'a str,
    pub aggregate_type: &'a str,
    pub version: u64,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub occurred_at: i64,
    pub actor: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    pub causation_id: Option<&'a str>,
    pub tenant: Option<&'a str>,
    pub payload: Option<&'a str>,
}

impl<'a> From<&'a Event> for EventRef<'a> {
    fn from(e: &'a Event) -> Self {
        Self {
            position: e.position,
            event_id: &e.event_id,
            stream_id: &e.stream_id,
            aggregate_type: &e.aggregate_type,
            version: e.version,
            event_type: &e.event_type,
            schema_version: e.schema_version,
            occurred_at: e.occurred_at,
            actor: e.actor.as_deref(),
            correlation_id: e.correlation_id.as_deref(),
            causation_id: e.causation_id.as_deref(),
            tenant: e.tenant.as_deref(),
            payload: e.payload.as_deref(),
        }
    }
}

/// The consistency rules replay checks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    VersionGap,
    DuplicateVersion,
    DuplicateEventId,
    EventBeforeCreation,
    TransitionNotAllowed,
    EventAfterTerminal,
    UnknownEventType,
    UnknownAggregateType,
    PayloadFieldMissing,
    PayloadFieldType,
    UnauthorisedAction,
}

impl Rule {
    /// Every rule, in report order.
    pub const ALL: [Rule; 11] = [
        Rule::VersionGap,
        Rule::DuplicateVersion,
        Rule::DuplicateEventId,
        Rule::EventBeforeCreation,
        Rule::TransitionNotAllowed,
        Rule::EventAfterTerminal,
        Rule::UnknownEventType,
        Rule::UnknownAggregateType,
        Rule::PayloadFieldMissing,
        Rule::PayloadFieldType,
        Rule::UnauthorisedAction,
    ];

    /// The rule named `name` (as in `findings.rule`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|rule| rule.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Rule::VersionGap => "version_gap",
            Rule::DuplicateVersion => "duplicate_version",
            Rule::DuplicateEventId => "duplicate_event_id",
            Rule::EventBeforeCreation => "event_before_creation",
            Rule::TransitionNotAllowed => "transition_not_allowed",
            Rule::EventAfterTerminal => "event_after_terminal",
            Rule::UnknownEventType => "unknown_event_type",
            Rule::UnknownAggregateType => "unknown_aggregate_type",
            Rule::PayloadFieldMissing => "payload_field_missing",
            Rule::PayloadFieldType => "payload_field_type",
            Rule::UnauthorisedAction => "unauthorised_action",
        }
    }

    /// `error` for broken streams, forbidden transitions and unauthorised
    /// actions (the model may lower that one: [`Rule::severity_under`]),
    /// `warning` for what the model does not cover.
    pub fn severity(self) -> &'static str {
        match self {
            Rule::UnknownEventType
            | Rule::UnknownAggregateType
            | Rule::PayloadFieldMissing
            | Rule::PayloadFieldType => "warning",
            _ => "error",
        }
    }

    /// The severity of this rule's findings under `model` (its
    /// `unauthorised_severity` for [`Rule::UnauthorisedAction`]).
    pub fn severity_under(self, model: &Model) -> &'static str {
        match self {
            Rule::UnauthorisedAction => model.unauthorised_severity,
            _ => self.severity(),
        }
    }
}

/// One consistency problem in the log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub aggregate_type: String,
    pub stream_id: String,
    pub version: u64,
    pub event_id: String,
    pub position: u64,
    pub rule: Rule,
    pub message: String,
}

impl Finding {
    pub fn new(event: &EventRef, rule: Rule, message: String) -> Self {
        Self {
            aggregate_type: event.aggregate_type.to_owned(),
            stream_id: event.stream_id.to_owned(),
            version: event.version,
            event_id: event.event_id.to_owned(),
            position: event.position,
            rule,
            message,
        }
    }
}

/// One row of `transitions`: what one event did to its stream's status (the
/// event's own columns, its type among them, come from the event).
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub version: u64,
    /// The type of the stream's event before this one: with the event's own
    /// type, one edge of the directly-follows graph.
    pub previous_event_type: Option<Arc<str>>,
    pub from_status: Option<Arc<str>>,
    pub to_status: Option<Arc<str>>,
    pub occurred_at: i64,
    pub seconds_since_previous: Option<f64>,
}

/// Receives replay's output as it is produced.
pub trait ReplaySink {
    fn transition(&mut self, event: &EventRef, transition: Transition) -> Result<()>;
    /// A finished stream, whether or not the model declares its aggregate type
    /// (called before [`ReplaySink::state`]).
    fn stream(&mut self, _state: &StreamState, _declared: bool) -> Result<()> {
        Ok(())
    }
    /// A finished stream whose aggregate type the model declares.
    fn state(&mut self, model: &AggregateModel, state: StreamState) -> Result<()>;
    /// The state of a declared stream after each of its events (for
    /// `state_history`); ignored unless a sink wants it.
    fn after_event(&mut self, _model: &AggregateModel, _state: &StreamState) -> Result<()> {
        Ok(())
    }
}

/// Typed views of the columns of one events batch, downcast once a batch.
struct Columns<'a> {
    position: &'a UInt64Array,
    event_id: &'a StringArray,
    stream_id: &'a StringArray,
    aggregate_type: &'a StringArray,
    version: &'a UInt64Array,
    event_type: &'a StringArray,
    schema_version: &'a UInt32Array,
    occurred_at: &'a TimestampMicrosecondArray,
    actor: &'a StringArray,
    correlation_id: &'a StringArray,
    causation_id: &'a StringArray,
    tenant: &'a StringArray,
    payload: &'a StringArray,
}

/// The value of `array` at `row`, `None` when null.
fn optional(array: &StringArray, row: usize) -> Option<&str> {
    array.is_valid(row).then(|| array.value(row))
}

impl<'a> Columns<'a> {
    fn new(batch: &'a RecordBatch) -> Self {
        let text = |i: usize| batch.column(i).as_string::<i32>();
        Self {
            position: batch.column(col::POSITION).as_primitive::<UInt64Type>(),
            event_id: text(col::EVENT_ID),
            stream_id: text(col::STREAM_ID),
            aggregate_type: text(col::AGGREGATE_TYPE),
            version: batch.column(col::VERSION).as_primitive::<UInt64Type>(),
            event_type: text(col::EVENT_TYPE),
            schema_version: batch
                .column(col::SCHEMA_VERSION)
                .as_primitive::<UInt32Type>(),
            occurred_at: batch
                .column(col::OCCURRED_AT)
                .as_primitive::<TimestampMicrosecondType>(),
            actor: text(col::ACTOR),
            correlation_id: text(col::CORRELATION_ID),
            causation_id: text(col::CAUSATION_ID),
            tenant: text(col::TENANT),
            payload: text(col::PAYLOAD),
        }
    }

    fn event(&self, row: usize) -> EventRef<'a> {
        EventRef {
            position: self.position.value(row),
            event_id: self.event_id.value(row),
            stream_id: self.stream_id.value(row),
            aggregate_type: self.aggregate_type.value(row),
            version: self.version.value(row),
            event_type: self.event_type.value(row),
            schema_version: self.schema_version.value(row),
            occurred_at: self.occurred_at.value(row),
            actor: optional(self.actor, row),
            correlation_id: optional(self.correlation_id, row),
            causation_id: optional(self.causation_id, row),
            tenant: optional(self.tenant, row),
            payload: optional(self.payload, row),
        }
    }
}

/// Every row of an events batch, borrowed.
pub fn events_in_batch(batch: &RecordBatch) -> Vec<EventRef<'_>> {
    let columns = Columns::new(batch);
    (0..batch.num_rows())
        .map(|row| columns.event(row))
        .collect()
}

/// What a replay found, besides what went to the sink.
#[derive(Debug, Default)]
pub struct ReplayOutcome {
    pub findings: Vec<Finding>,
    /// Streams per aggregate type (declared in the model or not).
    pub streams: BTreeMap<String, u64>,
}

/// States to go on from, keyed by (aggregate_type, stream_id): the snapshot
/// of a previous run, for the streams an incremental run touches.
pub type Seeds = HashMap<(String, String), StreamState>;

/// Folds sorted events stream by stream.
pub struct Replayer<'m> {
    model: &'m Model,
    current: Option<(StreamState, Option<&'m AggregateModel>)>,
    seeds: Seeds,
    outcome: ReplayOutcome,
    event_types: EventTypes,
    /// The model's keyed folds, when asked for ([`Replayer::with_keyed_folds`]).
    folds: Option<KeyedFolds<'m>>,
    /// The model's authorisation rules, when asked for ([`Replayer::with_authoriser`]).
    authoriser: Option<Authoriser<'m>>,
}

/// Event types shared, not copied, by the states and transitions that name
/// them. A log has few; past [`EventTypes::MAX`] a type is no longer kept.
#[derive(Debug, Default)]
pub struct EventTypes(HashSet<Arc<str>>);

impl EventTypes {
    const MAX: usize = 10_000;

    /// The shared text of `event_type`.
    pub fn get(&mut self, event_type: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(event_type) {
            return shared.clone();
        }
        let shared = Arc::<str>::from(event_type);
        if self.0.len() < Self::MAX {
            self.0.insert(shared.clone());
        }
        shared
    }
}

impl<'m> Replayer<'m> {
    pub fn new(model: &'m Model) -> Self {
        Self::with_seeds(model, Seeds::new())
    }

    /// A replayer that starts a stream found in `seeds` from its seeded state
    /// instead of the empty one; its events must all sort after the seed's.
    pub fn with_seeds(model: &'m Model, seeds: Seeds) -> Self {
        Self {
            model,
            current: None,
            seeds,
            outcome: ReplayOutcome::default(),
            event_types: EventTypes::default(),
            folds: None,
            authoriser: None,
        }
    }

    /// Checks every applied event against the model's authorisation rules;
    /// the `unauthorised_action` findings join the outcome's.
    pub fn with_authoriser(mut self, authoriser: Authoriser<'m>) -> Self {
        self.authoriser = Some(authoriser);
        self
    }

    /// Folds the keyed folds `folds` (empty, or seeded with a previous
    /// output's rows) beside the aggregates; [`Replayer::finish_with_folds`]
    /// returns them.
    pub fn with_keyed_folds(mut self, folds: KeyedFolds<'m>) -> Self {
        self.folds = Some(folds);
        self
    }

    /// Folds one event; it must not sort before the previous one.
    pub fn push(&mut self, event: &EventRef, sink: &mut dyn ReplaySink) -> Result<()> {
        let same_stream = self.current.as_ref().is_some_and(|(state, _)| {
            state.stream_id == event.stream_id && state.aggregate_type == event.aggregate_type
        });
        if !same_stream {
            self.flush(sink)?;
            let model = self.model.aggregate(event.aggregate_type);
            match self.outcome.streams.get_mut(event.aggregate_type) {
                Some(streams) => *streams += 1,
                None => {
                    let name = event.aggregate_type.to_owned();
                    self.outcome.streams.insert(name, 1);
                }
            }
            let seeded = if self.seeds.is_empty() {
                None
            } else {
                self.seeds
                    .remove(&(event.aggregate_type.to_owned(), event.stream_id.to_owned()))
            };
            let state = seeded
                .unwrap_or_else(|| StreamState::new(event.stream_id, event.aggregate_type, model));
            self.current = Some((state, model));
        }
        if let Some((state, model)) = self.current.as_mut() {
            let event_type = self.event_types.get(event.event_type);
            if let (Some(authoriser), Some(model)) = (self.authoriser.as_mut(), *model) {
                if fold::will_apply(Some(model), state, event) {
                    authoriser.before(model, state, event);
                }
            }
            let mut folding = self.folds.as_mut();
            if let Some(folds) = folding.as_mut() {
                if !folds.before(*model, state, event) {
                    folding = None;
                }
            }
            let transition =
                fold::evolve(*model, state, event, event_type, &mut self.outcome.findings);
            if let Some(folds) = folding {
                folds.after(state, event);
            }
            if let Some(authoriser) = self.authoriser.as_mut() {
                authoriser.after(state, event);
            }
            sink.transition(event, transition)?;
            if let Some(model) = model {
                sink.after_event(model, state)?;
            }
        }
        Ok(())
    }

    /// Folds every row of a sorted events batch.
    pub fn push_batch(&mut self, batch: &RecordBatch, sink: &mut dyn ReplaySink) -> Result<()> {
        let columns = Columns::new(batch);
        for row in 0..batch.num_rows() {
            self.push(&columns.event(row), sink)?;
        }
        Ok(())
    }

    fn flush(&mut self, sink: &mut dyn ReplaySink) -> Result<()> {
        match self.current.take() {
            Some((state, Some(model))) => {
                sink.stream(&state, true)?;
                sink.state(model, state)
            }
            Some((state, None)) => sink.stream(&state, false),
            None => Ok(()),
        }
    }

    /// Emits the last stream's state and returns the findings and counts.
    pub fn finish(self, sink: &mut dyn ReplaySink) -> Result<ReplayOutcome> {
        Ok(self.finish_with_folds(sink)?.0)
    }

    /// [`Replayer::finish`], and the keyed folds when they were asked for.
    pub fn finish_with_folds(
        mut self,
        sink: &mut dyn ReplaySink,
    ) -> Result<(ReplayOutcome, Option<KeyedFolds<'m>>)> {
        self.flush(sink)?;
        if let Some(authoriser) = self.authoriser {
            self.outcome.findings.extend(authoriser.finish());
        }
        Ok((self.outcome, self.folds))
    }
}

/// The whole result of an in-memory replay; for tests and small logs.
#[derive(Debug, Default)]
pub struct Replayed {
    pub states: Vec<StreamState>,
    pub transitions: Vec<Transition>,
    pub findings: Vec<Finding>,
}

impl ReplaySink for Replayed {
    fn transition(&mut self, _event: &EventRef, transition: Transition) -> Result<()> {
        self.transitions.push(transition);
        Ok(())
    }

    fn state(&mut self, _model: &AggregateModel, state: StreamState) -> Result<()> {
        self.states.push(state);
        Ok(())
    }
}

/// Sorts `events` as the pipeline does and replays them in memory.
pub fn replay_events(model: &Model, events: &[Event]) -> Result<Replayed> {
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| a.stream_order().cmp(&b.stream_order()));
    let mut replayed = Replayed::default();
    let mut replayer = Replayer::new(model);
    for event in sorted {
        replayer.push(&EventRef::from(event), &mut replayed)?;
    }
    replayed.findings = replayer.finish(&mut replayed)?.findings;
    Ok(replayed)
}

#[cfg(test)]
pub(crate) mod tests;
