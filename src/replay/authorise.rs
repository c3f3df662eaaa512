//! The model's authorisation rules checked on every event of the log: the
//! `unauthorised_action` findings.
//!
//! An event whose type has an `allowed` rule, and which the replay applies,
//! is checked against its stream's state before it. A permit reading a
//! related stream (`@project_id.owner`) is answered after the replay, since the
//! replay goes stream by stream: the replay keeps, for every field such a
//! permit reads, each value a stream held and the position of the event that
//! set it, and the check reads the related stream's value as of the last of
//! its events positioned before the checked event (its state when the event
//! happened, positions following versions within a stream). Streams come in
//! aggregate-type order, so when the related type sorts first (a task's
//! `project`) its streams are folded whole before the checked event and it is
//! answered at once; otherwise it is held to the end of the pass (memory: the
//! held events). A related stream
//! with no event before it has no state then, and the permit fails. In an
//! incremental run the previous output's state stands for the related
//! streams' events before the new ones ([`Authoriser::earlier`]): every new
//! event comes after every old one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::model::roles::Roles;
use crate::model::{AggregateModel, Allowed, Model, Permit, StateValue};

use super::{EventRef, Finding, Rule, StreamState};

/// Whether `actor` is the value of a string field or in a list field.
pub fn actor_is(value: &StateValue, actor: &str) -> bool {
    match value {
        StateValue::Str(s) => s == actor,
        StateValue::List(items) => items.iter().any(|i| i == actor),
        _ => false,
    }
}

/// A value for a message: quoted text, a list, or `unset`.
fn shown(value: Option<&StateValue>) -> String {
    match value {
        Some(StateValue::Str(s)) => format!("\"{s}\""),
        Some(StateValue::List(items)) => format!("{items:?}"),
        _ => "unset".into(),
    }
}

/// A permit that reads a related stream, once the stream's id is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedPermit<'m> {
    /// The related aggregate type.
    pub aggregate: &'m str,
    /// The related stream's id, `None` when the reference field is unset.
    pub stream_id: Option<String>,
    /// The index of the field read in the related aggregate.
    pub field: usize,
    /// The reference and field as written, for messages (`project.owner`).
    pub name: &'m str,
}

/// What the stream's own state and the roles say of an actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<'m> {
    Allowed,
    /// Not allowed so far: why not, per permit, and the related permits still
    /// to be asked.
    Open {
        reasons: Vec<String>,
        related: Vec<RelatedPermit<'m>>,
    },
}

/// Checks `actor` at `at` against `allowed`'s permits that need only the
/// stream's own state `fields` (of `model`) and the roles.
pub fn check_own<'m>(
    model: &AggregateModel,
    allowed: &'m Allowed,
    fields: &[StateValue],
    actor: Option<&str>,
    at: i64,
    roles: &Roles,
) -> Verdict<'m> {
    let mut reasons = Vec::new();
    let mut related = Vec::new();
    for permit in &allowed.permits {
        match (permit, actor) {
            (Permit::Anyone, _) => return Verdict::Allowed,
            (_, None) => {}
            (Permit::Field(index), Some(actor)) => {
                let value = fields.get(*index);
                if value.is_some_and(|v| actor_is(v, actor)) {
                    return Verdict::Allowed;
                }
                reasons.push(format!("{} is {}", model.fields[*index].name, shown(value)));
            }
            (Permit::Role(role), Some(actor)) => {
                if roles.holds(actor, role, at) {
                    return Verdict::Allowed;
                }
                reasons.push(format!("no role {role} then"));
            }
            (
                Permit::Related {
                    reference,
                    aggregate,
                    field,
                    name,
                },
                Some(_),
            ) => {
                let stream_id = match fields.get(*reference) {
                    Some(StateValue::Str(id)) => Some(id.clone()),
                    _ => None,
                };
                related.push(RelatedPermit {
                    aggregate,
                    stream_id,
                    field: *field,
                    name,
                });
            }
        }
    }
    if actor.is_none() {
        reasons.push("no actor recorded".into());
    }
    Verdict::Open { reasons, related }
}

/// Whether a related permit allows `actor`, given the related stream's
/// fields then (`None`: it had no state); adds why not to `reasons`.
pub fn check_related(
    permit: &RelatedPermit,
    fields: Option<&[StateValue]>,
    actor: &str,
    reasons: &mut Vec<String>,
) -> bool {
    let Some(stream_id) = &permit.stream_id else {
        reasons.push(format!("{} unknown (no reference)", permit.name));
        return false;
    };
    let Some(fields) = fields else {
        reasons.push(format!(
            "{} unknown ({stream_id} has no state then)",
            permit.name
        ));
        return false;
    };
    let value = fields.get(permit.field);
    if value.is_some_and(|v| actor_is(v, actor)) {
        return true;
    }
    reasons.push(format!("{} ({stream_id}) is {}", permit.name, shown(value)));
    false
}

/// The finding for `actor`'s event that `allowed` does not allow.
pub fn unauthorised(event: &EventRef, allowed: &Allowed, reasons: &[String]) -> Finding {
    let by = match event.actor {
        Some(actor) => format!("by \"{actor}\""),
        None => "with no actor".into(),
    };
    let message = format!(
        "{} {by} is not allowed by {}: {}",
        event.event_type,
        allowed.rule,
        reasons.join("; ")
    );
    Finding::new(event, Rule::UnauthorisedAction, message)
}

/// An event whose related permits are answered after the replay.
#[derive(Debug, Clone)]
struct Pending<'m> {
    finding: Finding,
    actor: String,
    reasons: Vec<String>,
    related: Vec<RelatedPermit<'m>>,
}

/// Tracked fields' values of one stream: each change, with the position of
/// the event that made it, in version order.
type Timeline = Vec<(u64, Vec<StateValue>)>;

/// Checks the events of a replay against the model's rules.
pub struct Authoriser<'m> {
    model: &'m Model,
    roles: &'m Roles,
    /// Per aggregate type: the fields some related permit reads.
    tracked: HashMap<&'m str, Vec<usize>>,
    timelines: HashMap<(String, String), Timeline>,
    pending: Vec<Pending<'m>>,
    /// States of related streams before the replayed events (an incremental
    /// run's previous output), by (aggregate_type, stream_id).
    earlier: HashMap<(String, String), Vec<StateValue>>,
    findings: Vec<Finding>,
    /// A deferring authoriser's slot for what it hands over at the end.
    held: Option<HeldSlot>,
}

/// Where a deferring authoriser leaves its [`Held`] at the end of its pass.
pub type HeldSlot = Arc<Mutex<Option<Held>>>;

/// What a deferring authoriser could not answer alone: its held events and
/// the timelines of the streams it folded, to be answered with every other
/// partition's ([`resume`]).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Held {
    timelines: Vec<(String, String, Timeline)>,
    pending: Vec<HeldEvent>,
}

impl Held {
    /// The events held, whose related permits are still to be answered.
    pub fn events(&self) -> usize {
        self.pending.len()
    }
}

/// A held event, its permits by name (the model's text, found again on resume).
#[derive(Debug, Serialize, Deserialize)]
struct HeldEvent {
    finding: Finding,
    actor: String,
    reasons: Vec<String>,
    /// (aggregate, stream id, field index, name) per related permit.
    related: Vec<(String, Option<String>, usize, String)>,
}

/// Answers every partition's held events together: the related streams'
/// timelines joined, each held event judged as one pass would. Returns the
/// findings of the events not allowed.
pub fn resume(model: &Model, roles: &Roles, helds: Vec<Held>) -> Vec<Finding> {
    let permits: Vec<(&str, usize, &str)> = model.related_permits().collect();
    let mut authoriser = Authoriser::new(model, roles);
    for held in helds {
        for (aggregate, stream_id, timeline) in held.timelines {
            authoriser
                .timelines
                .insert((aggregate, stream_id), timeline);
        }
        for event in held.pending {
            let related = (event.related.into_iter())
                .filter_map(|(aggregate, stream_id, field, name)| {
                    let (aggregate, _, name) = *permits
                        .iter()
                        .find(|(a, _, n)| *a == aggregate && *n == name)?;
                    Some(RelatedPermit {
                        aggregate,
                        stream_id,
                        field,
                        name,
                    })
                })
                .collect();
            authoriser.pending.push(Pending {
                finding: event.finding,
                actor: event.actor,
                reasons: event.reasons,
                related,
            });
        }
    }
    authoriser.finish()
}

impl<'m> Authoriser<'m> {
    pub fn new(model: &'m Model, roles: &'m Roles) -> Self {
        let mut tracked: HashMap<&str, Vec<usize>> = HashMap::new();
        for (aggregate, field) in model.related_reads() {
            let fields = tracked.entry(aggregate).or_default();
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
        Self {
            model,
            roles,
            tracked,
            timelines: HashMap::new(),
            pending: Vec::new(),
            earlier: HashMap::new(),
            findings: Vec::new(),
            held: None,
        }
    }

    /// An authoriser of one partition of a distributed run: it answers no
    /// related permit itself, and at the end leaves its held events and
    /// timelines in `slot` ([`Held`], answered by [`resume`]).
    pub fn deferring(mut self, slot: HeldSlot) -> Self {
        self.held = Some(slot);
        self
    }

    /// The related streams' states from before the replayed events.
    pub fn earlier(mut self, states: HashMap<(String, String), Vec<StateValue>>) -> Self {
        self.earlier = states;
        self
    }

    /// The aggregate types some related permit reads.
    pub fn related_aggregates(&self) -> HashSet<&'m str> {
        self.tracked.keys().copied().collect()
    }

    /// Checks `event` (about to be applied) against its state before it.
    pub fn before(&mut self, model: &'m AggregateModel, state: &StreamState, event: &EventRef) {
        let Some(allowed) = model
            .handlers
            .get(event.event_type)
            .and_then(|h| h.allowed.as_ref())
        else {
            return;
        };
        let verdict = check_own(
            model,
            allowed,
            &state.fields,
            event.actor,
            event.occurred_at,
            self.roles,
        );
        match verdict {
            Verdict::Allowed => {}
            Verdict::Open {
                mut reasons,
                related,
            } => match event.actor {
                // Streams are replayed in aggregate-type order: a related type
                // that sorts before this one is folded whole already, and its
                // permits are answered now rather than held to the end.
                Some(actor)
                    if !related.is_empty()
                        && self.held.is_none()
                        && related.iter().all(|p| p.aggregate < event.aggregate_type) =>
                {
                    if !self.answer(&related, actor, event.position, &mut reasons) {
                        self.findings.push(unauthorised(event, allowed, &reasons));
                    }
                }
                Some(actor) if !related.is_empty() => self.pending.push(Pending {
                    finding: unauthorised(event, allowed, &[]),
                    actor: actor.to_owned(),
                    reasons,
                    related,
                }),
                _ => self.findings.push(unauthorised(event, allowed, &reasons)),
            },
        }
    }

    /// Records the tracked fields of `state` once `event` is applied.
    pub fn after(&mut self, state: &StreamState, event: &EventRef) {
        let Some(fields) = self.tracked.get(state.aggregate_type.as_str()) else {
            return;
        };
        let values: Vec<StateValue> = fields.iter().map(|f| state.fields[*f].clone()).collect();
        let key = (state.aggregate_type.clone(), state.stream_id.clone());
        let timeline = self.timelines.entry(key).or_default();
        if timeline.last().is_none_or(|(_, last)| *last != values) {
            timeline.push((event.position, values));
        }
    }

    /// The value the related stream of `permit` held before `position`.
    fn related_fields(&self, permit: &RelatedPermit, position: u64) -> Option<Vec<StateValue>> {
        let key = (permit.aggregate.to_owned(), permit.stream_id.clone()?);
        let tracked = &self.tracked[permit.aggregate];
        let then = self
            .timelines
            .get(&key)
            .and_then(|timeline| timeline.iter().rev().find(|(at, _)| *at < position));
        // The related aggregate's full field vector, with only the tracked fields filled.
        let mut fields =
            vec![StateValue::Null; self.model.aggregate(permit.aggregate)?.fields.len()];
        match then {
            Some((_, values)) => {
                for (index, value) in tracked.iter().zip(values) {
                    fields[*index] = value.clone();
                }
                Some(fields)
            }
            None => self.earlier.get(&key).cloned(),
        }
    }

    /// Whether a related permit allows `actor` at `position`; adds why not to `reasons`.
    fn answer(
        &self,
        related: &[RelatedPermit],
        actor: &str,
        position: u64,
        reasons: &mut Vec<String>,
    ) -> bool {
        related.iter().any(|permit| {
            let fields = self.related_fields(permit, position);
            check_related(permit, fields.as_deref(), actor, reasons)
        })
    }

    /// Answers the related permits still held; returns every finding.
    /// A deferring authoriser hands its held events and timelines over
    /// instead, and returns only the findings it could judge alone.
    pub fn finish(mut self) -> Vec<Finding> {
        if let Some(slot) = self.held.take() {
            let held = Held {
                timelines: (self.timelines.into_iter())
                    .map(|((aggregate, stream), timeline)| (aggregate, stream, timeline))
                    .collect(),
                pending: (self.pending.into_iter())
                    .map(|event| HeldEvent {
                        finding: event.finding,
                        actor: event.actor,
                        reasons: event.reasons,
                        related: (event.related.into_iter())
                            .map(|p| {
                                (
                                    p.aggregate.to_owned(),
                                    p.stream_id,
                                    p.field,
                                    p.name.to_owned(),
                                )
                            })
                            .collect(),
                    })
                    .collect(),
            };
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(held);
            return self.findings;
        }
        let pending = std::mem::take(&mut self.pending);
        for mut event in pending {
            let position = event.finding.position;
            if !self.answer(&event.related, &event.actor, position, &mut event.reasons) {
                event.finding.message.push_str(&event.reasons.join("; "));
                self.findings.push(event.finding);
            }
        }
        self.findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Event;
    use crate::model::parse_model;
    use crate::replay::{Replayed, Replayer};

    /// A card's move is allowed to its board's owner (`board` sorts before
    /// `card`: answered at once) or its zone's keeper (`zone` sorts after:
    /// held to the end of the pass).
    const MODEL: &str = r#"
[aggregates.board]
fields = { owner = "string" }
[aggregates.board.events.BoardOpened]
creates = true
set = { owner = "owner" }

[aggregates.zone]
fields = { keeper = "string" }
[aggregates.zone.events.ZoneOpened]
creates = true
set = { keeper = "keeper" }

[aggregates.card]
fields = { board_id = "string", zone_id = "string" }
[aggregates.card.references]
board_id = "board"
zone_id = "zone"
[aggregates.card.events.CardAdded]
creates = true
set = { board_id = "board", zone_id = "zone" }
[aggregates.card.events.CardMoved]
allowed = ["@board_id.owner", "@zone_id.keeper"]
"#;

    /// `replay::tests::event`, done by `actor`.
    fn event(
        stream: &str,
        position: u64,
        version: u64,
        kind: &str,
        payload: &str,
        actor: &str,
    ) -> Event {
        Event {
            actor: Some(actor.to_owned()),
            ..crate::replay::tests::event(stream, position, version, kind, payload)
        }
    }

    #[test]
    fn related_streams_before_and_after_in_the_pass_are_judged_alike() {
        let model = parse_model("m.toml", MODEL).unwrap();
        let roles = Roles::default();
        // In the replay's order: boards, cards, zones (by type, then stream).
        let events = [
            event("board-1", 1, 1, "BoardOpened", r#"{"owner":"ann"}"#, "ann"),
            event(
                "card-1",
                3,
                1,
                "CardAdded",
                r#"{"board":"board-1","zone":"zone-1"}"#,
                "ann",
            ),
            event("card-1", 4, 2, "CardMoved", "{}", "ann"), // the board's owner
            event("card-1", 5, 3, "CardMoved", "{}", "zed"), // the zone's keeper
            event("card-1", 6, 4, "CardMoved", "{}", "bob"), // neither
            event("zone-1", 2, 1, "ZoneOpened", r#"{"keeper":"zed"}"#, "zed"),
        ];
        let mut replayer = Replayer::new(&model).with_authoriser(Authoriser::new(&model, &roles));
        let mut sink = Replayed::default();
        for event in &events {
            replayer.push(&EventRef::from(event), &mut sink).unwrap();
        }
        let findings: Vec<(u64, String)> = (replayer.finish(&mut sink).unwrap().findings)
            .into_iter()
            .map(|f| (f.position, f.message))
            .collect();
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].0, 6);
        assert!(
            findings[0]
                .1
                .contains("board_id.owner (board-1) is \"ann\"")
                && findings[0].1.contains("zone_id.keeper (zone-1) is \"zed\""),
            "{findings:?}"
        );
    }
}
