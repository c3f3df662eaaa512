//! Keyed folds at replay time: the rows of each `[projections.NAME]` table,
//! folded in the same pass as the aggregates ([`KeyedFolds`]).
//!
//! Each event the replay applies is offered to the rules naming its type,
//! with its aggregate's state before the event (the values the rules read,
//! copied before `fold::evolve`) and after it. The rows do not depend on the
//! order streams are folded in: an increment, a minimum and a maximum
//! commute, and every write that does not (`set`, `unset`, a list's `add`
//! and `remove`) carries the [`Stamp`] of the event's position and the
//! rule's and effect's index, the later stamp winning whenever the writes
//! arrive. A list keeps per element its last operation, so an element
//! removed stays known until the end (memory: every row, and every element
//! ever added to a list, until the replay ends).

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::model::projection::{
    Condition, FieldRole, FoldOp, KeyedProjection, KeyedRule, Source, StateRef,
};
use crate::model::{AggregateModel, FieldType, StateValue, ValueSource};
use crate::{Error, Result};

use super::fold::{convert, envelope_value, will_apply, LazyPayload};
use super::{EventRef, StreamState};

/// The value of one key column: never null (a null key skips the rule).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyValue {
    Str(String),
    Int(i64),
    Bool(bool),
    /// Microseconds since the epoch, UTC.
    Timestamp(i64),
}

impl KeyValue {
    /// A key from a value; `None` for null (and for a float or a list, which
    /// validation keeps out of keys).
    pub fn from_value(value: StateValue) -> Option<Self> {
        match value {
            StateValue::Str(s) => Some(KeyValue::Str(s)),
            StateValue::Int(i) => Some(KeyValue::Int(i)),
            StateValue::Bool(b) => Some(KeyValue::Bool(b)),
            StateValue::Timestamp(t) => Some(KeyValue::Timestamp(t)),
            StateValue::Null | StateValue::Float(_) | StateValue::List(_) => None,
        }
    }

    /// The key as a column value.
    pub fn to_value(&self) -> StateValue {
        match self {
            KeyValue::Str(s) => StateValue::Str(s.clone()),
            KeyValue::Int(i) => StateValue::Int(*i),
            KeyValue::Bool(b) => StateValue::Bool(*b),
            KeyValue::Timestamp(t) => StateValue::Timestamp(*t),
        }
    }
}

/// When a write happened: before this run (a row of the previous output,
/// with its place in a list), or at an event's position, ties within the
/// event broken by the rule's and the effect's index. Later wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stamp {
    Previous(u64),
    Event {
        position: u64,
        rule: u32,
        effect: u32,
    },
}

/// One field of a row, kept as its [`FieldRole`] needs.
#[derive(Debug, Clone)]
enum Cell {
    Counter(i64),
    Extreme(StateValue),
    Written {
        value: StateValue,
        stamp: Option<Stamp>,
    },
    /// Per element, its last operation: (when, whether it was an add).
    Members(HashMap<String, (Stamp, bool)>),
}

impl Cell {
    /// The cell of a field of `role` holding `value` (an initial value, or a
    /// previous output's, older than anything folded now).
    fn new(role: FieldRole, value: StateValue) -> Self {
        match (role, value) {
            (FieldRole::Counter, StateValue::Int(n)) => Cell::Counter(n),
            (FieldRole::Counter, _) => Cell::Counter(0),
            (FieldRole::Min | FieldRole::Max, value) => Cell::Extreme(value),
            (FieldRole::Assigned, value) => Cell::Written { value, stamp: None },
            (FieldRole::Members, StateValue::List(items)) => Cell::Members(
                (items.into_iter().enumerate())
                    .map(|(index, item)| (item, (Stamp::Previous(index as u64), true)))
                    .collect(),
            ),
            (FieldRole::Members, _) => Cell::Members(HashMap::new()),
        }
    }

    /// The field's value in the table.
    fn value(&self) -> StateValue {
        match self {
            Cell::Counter(n) => StateValue::Int(*n),
            Cell::Extreme(value) | Cell::Written { value, .. } => value.clone(),
            Cell::Members(members) => {
                let mut present: Vec<(&Stamp, &String)> = (members.iter())
                    .filter(|(_, (_, added))| *added)
                    .map(|(item, (stamp, _))| (stamp, item))
                    .collect();
                present.sort_unstable();
                StateValue::List(present.into_iter().map(|(_, item)| item.clone()).collect())
            }
        }
    }

    /// Applies `op` with the value it read (`None`: nothing to read, the
    /// effect does nothing), stamped `stamp`.
    fn apply(&mut self, op: &FoldOp, value: Option<StateValue>, stamp: Stamp) {
        match (self, op) {
            (Cell::Counter(n), FoldOp::Increment(by)) => *n = n.wrapping_add(*by),
            (Cell::Extreme(current), FoldOp::Min(_) | FoldOp::Max(_)) => {
                let Some(value) = value.filter(|v| *v != StateValue::Null) else {
                    return;
                };
                let wanted = match op {
                    FoldOp::Min(_) => Ordering::Less,
                    _ => Ordering::Greater,
                };
                if *current == StateValue::Null || compare(&value, current) == Some(wanted) {
                    *current = value;
                }
            }
            (
                Cell::Written {
                    value: current,
                    stamp: written,
                },
                FoldOp::Set(_) | FoldOp::Unset,
            ) => {
                let value = match op {
                    FoldOp::Unset => StateValue::Null,
                    _ => match value {
                        Some(value) => value,
                        None => return,
                    },
                };
                if Some(stamp) > *written {
                    (*current, *written) = (value, Some(stamp));
                }
            }
            (Cell::Members(members), FoldOp::Add(_) | FoldOp::Remove(_)) => {
                let Some(StateValue::Str(item)) = value else {
                    return;
                };
                note_member(members, item, stamp, matches!(op, FoldOp::Add(_)));
            }
            // Validation gives each field effects of its role only.
            _ => {}
        }
    }
}

impl Cell {
    /// Takes in `other`: the same field of the same row, folded from other
    /// streams, both started from `initial` (a field of `role`). What
    /// commutes is combined; a stamped write keeps the later stamp.
    fn merge(&mut self, other: Cell, role: FieldRole, initial: &StateValue) {
        match (self, other) {
            (Cell::Counter(n), Cell::Counter(m)) => {
                let base = match initial {
                    StateValue::Int(base) => *base,
                    _ => 0,
                };
                *n = n.wrapping_add(m).wrapping_sub(base);
            }
            (Cell::Extreme(current), Cell::Extreme(value)) => {
                let op = match role {
                    FieldRole::Min => Ordering::Less,
                    _ => Ordering::Greater,
                };
                if value != StateValue::Null
                    && (*current == StateValue::Null || compare(&value, current) == Some(op))
                {
                    *current = value;
                }
            }
            (
                Cell::Written {
                    value: current,
                    stamp: written,
                },
                Cell::Written { value, stamp },
            ) if stamp > *written => (*current, *written) = (value, stamp),
            (Cell::Members(members), Cell::Members(others)) => {
                for (item, (stamp, added)) in others {
                    note_member(members, item, stamp, added);
                }
            }
            // Both cells come from the same field, so of the same role.
            _ => {}
        }
    }
}

/// Records an add (or a remove) of `item` stamped `stamp`, unless the
/// element's last operation is later.
fn note_member(
    members: &mut HashMap<String, (Stamp, bool)>,
    item: String,
    stamp: Stamp,
    added: bool,
) {
    match members.get_mut(&item) {
        Some(last) if last.0 < stamp => *last = (stamp, added),
        Some(_) => {}
        None => {
            members.insert(item, (stamp, added));
        }
    }
}

/// The order of two values of a minimum or maximum (of one type).
fn compare(a: &StateValue, b: &StateValue) -> Option<Ordering> {
    match (a, b) {
        (StateValue::Int(a), StateValue::Int(b)) => Some(a.cmp(b)),
        (StateValue::Timestamp(a), StateValue::Timestamp(b)) => Some(a.cmp(b)),
        (StateValue::Float(a), StateValue::Float(b)) => a.partial_cmp(b),
        _ => None,
    }
}

/// Where an event is: what the error about a missing key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventAt {
    pub stream_id: String,
    pub version: u64,
    pub position: u64,
}

/// The events a rule could not file under a key: their payload lacks the
/// key's path (or holds no value of the key's type there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MissingKeys {
    pub events: u64,
    /// The one of lowest position (whatever order the streams came in).
    pub first: Option<EventAt>,
}

/// The rows of one keyed fold as they are folded.
#[derive(Debug)]
pub struct FoldTable<'m> {
    pub projection: &'m KeyedProjection,
    rows: HashMap<Vec<KeyValue>, Vec<Cell>>,
    /// Per rule, the events without their key.
    missing: Vec<MissingKeys>,
}

impl<'m> FoldTable<'m> {
    fn new(projection: &'m KeyedProjection) -> Self {
        Self {
            projection,
            rows: HashMap::new(),
            missing: vec![MissingKeys::default(); projection.rules.len()],
        }
    }

    /// Starts the row `key` from `values` (one per field): a previous
    /// output's row, older than every event folded after.
    pub fn seed(&mut self, key: Vec<KeyValue>, values: Vec<StateValue>) {
        let cells = (self.projection.roles.iter().zip(values))
            .map(|(role, value)| Cell::new(*role, value))
            .collect();
        self.rows.insert(key, cells);
    }

    /// The row of `key`, started with the initial values the first time.
    fn row(&mut self, key: Vec<KeyValue>) -> &mut Vec<Cell> {
        let projection = self.projection;
        self.rows.entry(key).or_insert_with(|| {
            (projection.roles.iter().zip(projection.initial_values()))
                .map(|(role, value)| Cell::new(*role, value))
                .collect()
        })
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every row (its key, then one value per field), sorted by key; the
    /// values are made as the rows are taken.
    pub fn rows(&self) -> impl Iterator<Item = (&[KeyValue], Vec<StateValue>)> {
        let mut rows: Vec<(&Vec<KeyValue>, &Vec<Cell>)> = self.rows.iter().collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
        (rows.into_iter())
            .map(|(key, cells)| (key.as_slice(), cells.iter().map(Cell::value).collect()))
    }

    /// Per rule, the events it could not file under a key.
    pub fn missing_keys(&self) -> &[MissingKeys] {
        &self.missing
    }

    /// Takes in `other`, the same projection folded from other streams
    /// (none of them also folded here): the rows are what folding all the
    /// streams in one table gives, since the rows do not depend on the
    /// order streams come in.
    fn merge(&mut self, other: FoldTable<'m>) {
        let projection = self.projection;
        let initial = projection.initial_values();
        for (key, cells) in other.rows {
            match self.rows.entry(key) {
                std::collections::hash_map::Entry::Vacant(entry) => {
                    entry.insert(cells);
                }
                std::collections::hash_map::Entry::Occupied(mut entry) => {
                    let fields = projection.roles.iter().zip(&initial);
                    for (cell, (other, (role, initial))) in entry
                        .get_mut()
                        .iter_mut()
                        .zip(cells.into_iter().zip(fields))
                    {
                        cell.merge(other, *role, initial);
                    }
                }
            }
        }
        for (mine, theirs) in self.missing.iter_mut().zip(other.missing) {
            mine.events += theirs.events;
            if let Some(first) = theirs.first {
                if mine
                    .first
                    .as_ref()
                    .is_none_or(|f| first.position < f.position)
                {
                    mine.first = Some(first);
                }
            }
        }
    }
}

/// The before-values a rule reads.
fn before_refs(rule: &KeyedRule) -> Vec<StateRef> {
    let mut refs = Vec::new();
    for source in rule.sources() {
        if let Source::Before(state) = source {
            if !refs.contains(state) {
                refs.push(*state);
            }
        }
    }
    refs
}

/// The keyed folds of a model, folded event by event beside the aggregates.
#[derive(Debug)]
pub struct KeyedFolds<'m> {
    tables: Vec<FoldTable<'m>>,
    /// The rules naming each event type: (table, rule).
    by_event: HashMap<&'m str, Vec<(usize, usize)>>,
    /// Per table and rule, the before-values it reads.
    reads_before: Vec<Vec<Vec<StateRef>>>,
    /// The rules the current event matched ([`KeyedFolds::before`]).
    matched: Vec<(usize, usize)>,
    /// The values of the current event's state before it, as they read.
    before: Vec<(StateRef, StateValue)>,
}

impl<'m> KeyedFolds<'m> {
    /// Empty tables for `projections`.
    pub fn new(projections: impl IntoIterator<Item = &'m KeyedProjection>) -> Self {
        let tables: Vec<FoldTable> = projections.into_iter().map(FoldTable::new).collect();
        let mut by_event: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        for (t, table) in tables.iter().enumerate() {
            for (r, rule) in table.projection.rules.iter().enumerate() {
                for event_type in &rule.events {
                    by_event.entry(event_type).or_default().push((t, r));
                }
            }
        }
        let reads_before = (tables.iter())
            .map(|t| t.projection.rules.iter().map(before_refs).collect())
            .collect();
        Self {
            tables,
            by_event,
            reads_before,
            matched: Vec::new(),
            before: Vec::new(),
        }
    }

    /// The table of the projection `name`.
    pub fn table_mut(&mut self, name: &str) -> Option<&mut FoldTable<'m>> {
        self.tables.iter_mut().find(|t| t.projection.name == name)
    }

    /// The tables, in the model's order.
    pub fn tables(&self) -> &[FoldTable<'m>] {
        &self.tables
    }

    /// Takes in `other`, the same projections folded from other streams
    /// (as another thread folds them): the tables are then those of one
    /// fold of every stream.
    pub fn merge(&mut self, other: KeyedFolds<'m>) {
        for (mine, theirs) in self.tables.iter_mut().zip(other.tables) {
            mine.merge(theirs);
        }
    }

    /// Called before `event` is folded into `state`: finds the rules it
    /// matches, if the replay applies it, and copies the values of `state`
    /// they read. Returns whether any matched (then call [`Self::after`]).
    pub fn before(
        &mut self,
        model: Option<&AggregateModel>,
        state: &StreamState,
        event: &EventRef,
    ) -> bool {
        self.matched.clear();
        self.before.clear();
        let Some(rules) = self.by_event.get(event.event_type) else {
            return false;
        };
        if !will_apply(model, state, event) {
            return false;
        }
        for &(t, r) in rules {
            // `by_event` matched the type; only the aggregate is left to
            // compare (not the rule's list of types again, for every rule).
            let rule = &self.tables[t].projection.rules[r];
            if !rule.of_aggregate(event.aggregate_type) {
                continue;
            }
            self.matched.push((t, r));
            for state_ref in &self.reads_before[t][r] {
                if !self.before.iter().any(|(have, _)| have == state_ref) {
                    self.before
                        .push((*state_ref, state_value(state, *state_ref)));
                }
            }
        }
        !self.matched.is_empty()
    }

    /// Called after `event` was folded into `state`: applies the rules
    /// [`Self::before`] matched.
    pub fn after(&mut self, state: &StreamState, event: &EventRef) {
        let mut view = EventView {
            event,
            payload: LazyPayload::new(event.payload),
            before: &self.before,
            after: state,
        };
        for &(t, r) in &self.matched {
            let table = &mut self.tables[t];
            let rule = &table.projection.rules[r];
            let holds = rule.when.iter().all(|condition| view.holds(condition));
            if !holds {
                continue;
            }
            let Some(key) = view.key(rule, table.projection, &mut table.missing[r]) else {
                continue;
            };
            let values: Vec<Option<StateValue>> = (rule.effects.iter())
                .map(|effect| {
                    let field_type = table.projection.fields[effect.field].field_type;
                    match &effect.op {
                        FoldOp::Set(s) | FoldOp::Min(s) | FoldOp::Max(s) => {
                            view.read(s, field_type)
                        }
                        FoldOp::Add(s) | FoldOp::Remove(s) => view.read(s, FieldType::String),
                        FoldOp::Unset | FoldOp::Increment(_) => None,
                    }
                })
                .collect();
            let row = table.row(key);
            for (index, (effect, value)) in rule.effects.iter().zip(values).enumerate() {
                let stamp = Stamp::Event {
                    position: event.position,
                    rule: r as u32,
                    effect: index as u32,
                };
                row[effect.field].apply(&effect.op, value, stamp);
            }
        }
    }

    /// Fails when a rule met events whose payload lacks its key: the model
    /// file `file` and the line of the rule's key, how many events, and the
    /// first of them by position.
    pub fn check_keys(&self, file: &str) -> Result<()> {
        let mut failing = self.tables.iter().flat_map(|table| {
            let rules = table.projection.rules.iter().enumerate();
            rules
                .zip(&table.missing)
                .filter(|(_, missing)| missing.events > 0)
                .map(move |((index, rule), missing)| (table.projection, index, rule, missing))
        });
        let Some((projection, index, rule, missing)) = failing.next() else {
            return Ok(());
        };
        let more = failing.count();
        let paths: Vec<String> = (rule.key.iter())
            .filter_map(|source| match source {
                Source::Value(ValueSource::Payload(path)) => Some(format!("\"{}\"", path.as_str())),
                _ => None,
            })
            .collect();
        let first = missing.first.as_ref().map_or(String::new(), |at| {
            format!(
                "; the first: stream {}, version {}, position {}",
                at.stream_id, at.version, at.position
            )
        });
        let mut hint = "such an event cannot be filed under a key: read the key where every event of the rule has it, or narrow the rule with aggregate, events or when".to_owned();
        if more > 0 {
            hint.push_str(&format!(
                " ({more} more rule(s) met events without their key too)"
            ));
        }
        Err(Error::Model {
            file: file.to_owned(),
            line: rule.key_line,
            message: format!(
                "projection \"{}\", rule {}: {} event(s) have no key at payload path {}{first}",
                projection.name,
                index + 1,
                missing.events,
                paths.join(", ")
            ),
            hint: Some(hint),
        })
    }
}

/// The value `state_ref` names in `state`.
fn state_value(state: &StreamState, state_ref: StateRef) -> StateValue {
    match state_ref {
        StateRef::Status => state
            .status
            .as_deref()
            .map_or(StateValue::Null, |s| StateValue::Str(s.to_owned())),
        StateRef::Field(index) => state.fields.get(index).cloned().unwrap_or(StateValue::Null),
    }
}

/// What the rules of one event read: the event, its payload, its state
/// before and after.
struct EventView<'a, 'e> {
    event: &'a EventRef<'e>,
    payload: LazyPayload<'e>,
    before: &'a [(StateRef, StateValue)],
    after: &'a StreamState,
}

impl EventView<'_, '_> {
    /// The value of `source` as a value of `field_type`; `None` when the
    /// payload has no value of that type at the path.
    fn read(&mut self, source: &Source, field_type: FieldType) -> Option<StateValue> {
        let value = match source {
            Source::Value(ValueSource::Envelope(value)) => envelope_value(*value, self.event),
            Source::Value(ValueSource::Payload(path)) => {
                convert(field_type, &self.payload.lookup(path)?)?
            }
            Source::Before(state_ref) => (self.before.iter())
                .find(|(have, _)| have == state_ref)
                .map_or(StateValue::Null, |(_, value)| value.clone()),
            Source::After(state_ref) => state_value(self.after, *state_ref),
        };
        // An int read where a float goes (validation allows no other mix).
        Some(match (field_type, value) {
            (FieldType::Float, StateValue::Int(i)) => StateValue::Float(i as f64),
            (_, value) => value,
        })
    }

    /// Whether `condition` holds for this event. A value of the state (the
    /// common case: a status before or after) is compared where it is, not
    /// copied: the replay asks this of every event a rule names.
    fn holds(&mut self, condition: &Condition) -> bool {
        let one_of = |value: &StateValue| condition.values.contains(value);
        if condition.field_type == FieldType::Float {
            // An int read there is a float first: as `read` gives it.
            let value = self.read(&condition.source, condition.field_type);
            return value.is_some_and(|value| one_of(&value));
        }
        match &condition.source {
            Source::Before(state_ref) => (self.before.iter())
                .find(|(have, _)| have == state_ref)
                .is_some_and(|(_, value)| one_of(value)),
            Source::After(StateRef::Status) => self.after.status.as_deref().is_some_and(|status| {
                (condition.values.iter()).any(|v| matches!(v, StateValue::Str(s) if s == status))
            }),
            Source::After(StateRef::Field(index)) => {
                self.after.fields.get(*index).is_some_and(one_of)
            }
            source => self
                .read(source, condition.field_type)
                .is_some_and(|value| one_of(&value)),
        }
    }

    /// The rule's key for this event; `None` when a part of it is null (the
    /// rule does not apply) or missing from the payload (counted in `missing`).
    fn key(
        &mut self,
        rule: &KeyedRule,
        projection: &KeyedProjection,
        missing: &mut MissingKeys,
    ) -> Option<Vec<KeyValue>> {
        let mut key = Vec::with_capacity(rule.key.len());
        for (source, column) in rule.key.iter().zip(&projection.keys) {
            let Some(value) = self.read(source, column.field_type) else {
                missing.events += 1;
                let event = self.event;
                if missing
                    .first
                    .as_ref()
                    .is_none_or(|f| event.position < f.position)
                {
                    missing.first = Some(EventAt {
                        stream_id: event.stream_id.to_owned(),
                        version: event.version,
                        position: event.position,
                    });
                }
                return None;
            };
            key.push(KeyValue::from_value(value)?);
        }
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Event;
    use crate::model::{parse_model, Model};
    use crate::replay::tests::event;
    use crate::replay::{Replayed, Replayer};

    const MODEL: &str = r#"
[aggregates.task]
fields = { assignee = "string" }
[aggregates.task.lifecycle]
initial = "open"
statuses = ["open", "done"]
[aggregates.task.events.TaskCreated]
creates = true
[aggregates.task.events.TaskAssigned]
set = { assignee = "assignee" }
[aggregates.task.events.TaskDone]
to = "done"

[aggregates.note.events.Tagged]
[aggregates.note.events.Untagged]
[aggregates.note.events.Noted]
[aggregates.note.events.Cleared]

[projections.load]
key = { assignee = "string" }
fields = { open = "int", away = "int", tasks = "list", first = "timestamp", last = "timestamp", done = "int" }
[[projections.load.on]]
aggregate = "task"
events = ["TaskAssigned"]
key = { assignee = "@before.assignee" }
when = { "@before.status" = "open" }
increment = { open = -1, away = 1 }
remove = { tasks = "@stream_id" }
[[projections.load.on]]
aggregate = "task"
events = ["TaskAssigned"]
key = { assignee = "@after.assignee" }
increment = { open = 1 }
add = { tasks = "@stream_id" }
min = { first = "@occurred_at" }
max = { last = "@occurred_at" }
[[projections.load.on]]
aggregate = "task"
events = ["TaskDone", "TaskCreated"]
key = { assignee = "@before.assignee" }
increment = { open = -1, done = 1 }

[projections.board]
key = { who = "string" }
fields = { note = "string", tags = "list", notes = "int" }
[[projections.board.on]]
events = ["Tagged"]
key = { who = "who" }
add = { tags = "tag" }
[[projections.board.on]]
events = ["Untagged"]
key = { who = "who" }
remove = { tags = "tag" }
[[projections.board.on]]
events = ["Noted"]
key = { who = "who" }
set = { note = "text" }
increment = { notes = 1 }
[[projections.board.on]]
events = ["Cleared"]
key = { who = "who" }
unset = ["note"]
"#;

    /// An event of `stream` at `position`: (version, type, payload).
    type Rows = Vec<(Vec<KeyValue>, Vec<StateValue>)>;

    /// Folds `streams` (each in version order) one after the other; the rows
    /// of each table by name, or the error about missing keys.
    fn fold(model: &Model, streams: &[&[Event]]) -> Result<Vec<(String, Rows)>> {
        let mut replayer =
            Replayer::new(model).with_keyed_folds(KeyedFolds::new(&model.projections));
        let mut sink = Replayed::default();
        for event in streams.iter().flat_map(|s| s.iter()) {
            replayer.push(&EventRef::from(event), &mut sink)?;
        }
        let (_, folds) = replayer.finish_with_folds(&mut sink)?;
        let folds = folds.expect("folds were asked for");
        folds.check_keys("m.toml")?;
        Ok(folds
            .tables()
            .iter()
            .map(|table| {
                let rows = table.rows().map(|(k, v)| (k.to_vec(), v)).collect();
                (table.projection.name.clone(), rows)
            })
            .collect())
    }

    fn text(s: &str) -> StateValue {
        StateValue::Str(s.into())
    }

    fn key(s: &str) -> Vec<KeyValue> {
        vec![KeyValue::Str(s.into())]
    }

    fn list(items: &[&str]) -> StateValue {
        StateValue::List(items.iter().map(|s| s.to_string()).collect())
    }

    /// Two note streams whose positions interleave: folded in either order,
    /// the rows are those of the events applied by position.
    fn notes() -> (Vec<Event>, Vec<Event>) {
        let a = vec![
            event("note-1", 1, 1, "Tagged", r#"{"who":"ann","tag":"x"}"#),
            event("note-1", 4, 2, "Noted", r#"{"who":"ann","text":"one"}"#),
            event("note-1", 5, 3, "Untagged", r#"{"who":"ann","tag":"x"}"#),
            event("note-1", 6, 4, "Tagged", r#"{"who":"ann","tag":"y"}"#),
            event("note-1", 9, 5, "Untagged", r#"{"who":"bob","tag":"q"}"#),
        ];
        let b = vec![
            event("note-2", 2, 1, "Tagged", r#"{"who":"ann","tag":"z"}"#),
            event("note-2", 3, 2, "Noted", r#"{"who":"ann","text":"two"}"#),
            event("note-2", 7, 3, "Tagged", r#"{"who":"ann","tag":"x"}"#),
            event("note-2", 8, 4, "Cleared", r#"{"who":"bob"}"#),
            event("note-2", 9, 4, "Noted", r#"{"who":"bob","text":"repeat"}"#),
            event("note-2", 10, 5, "Tagged", r#"{"who":"bob","tag":"q"}"#),
            event("note-2", 11, 6, "Noted", r#"{"who":null,"text":"nobody"}"#),
        ];
        (a, b)
    }

    #[test]
    fn set_and_lists_take_the_last_write_by_position_in_any_stream_order() {
        let model = parse_model("m.toml", MODEL).unwrap();
        let (a, b) = notes();
        let forward = fold(&model, &[&a, &b]).unwrap();
        let backward = fold(&model, &[&b, &a]).unwrap();
        assert_eq!(forward, backward);
        let (name, rows) = &forward[1];
        assert_eq!(name, "board");
        assert_eq!(
            rows,
            &vec![
                // "one" (position 4) beats "two" (3); x removed at 5 and
                // added again at 7 comes after y (6); z first (2).
                (
                    key("ann"),
                    vec![text("one"), list(&["z", "y", "x"]), StateValue::Int(2)]
                ),
                // q removed at 9, then added at 10; the repeated version
                // (Noted at 9) is not applied; a null key touches nothing.
                (
                    key("bob"),
                    vec![StateValue::Null, list(&["q"]), StateValue::Int(0)]
                ),
            ]
        );
    }

    #[test]
    fn one_event_moves_a_task_between_two_keys() {
        let model = parse_model("m.toml", MODEL).unwrap();
        let task = |n: u64, base: u64| {
            let stream = format!("task-{n}");
            vec![
                event(&stream, base, 1, "TaskCreated", "{}"),
                event(
                    &stream,
                    base + 2,
                    2,
                    "TaskAssigned",
                    r#"{"assignee":"ann"}"#,
                ),
                event(
                    &stream,
                    base + 4,
                    3,
                    "TaskAssigned",
                    r#"{"assignee":"bob"}"#,
                ),
            ]
        };
        let (one, mut two) = (task(1, 1), task(2, 2));
        two.push(event("task-2", 8, 4, "TaskDone", "{}"));
        let rows = fold(&model, &[&one, &two]).unwrap();
        assert_eq!(rows, fold(&model, &[&two, &one]).unwrap());
        let at = |p: i64| StateValue::Timestamp(1_767_600_000_000_000 + p * 1_000_000);
        assert_eq!(
            rows[0].1,
            vec![
                // The first assignments have no assignee before: no row for null.
                (
                    key("ann"),
                    vec![
                        StateValue::Int(0),
                        StateValue::Int(2),
                        list(&[]),
                        at(3),
                        at(4),
                        StateValue::Int(0)
                    ]
                ),
                (
                    key("bob"),
                    vec![
                        StateValue::Int(1),
                        StateValue::Int(0),
                        list(&["task-1", "task-2"]),
                        at(5),
                        at(6),
                        StateValue::Int(1)
                    ]
                ),
            ]
        );
    }

    #[test]
    fn a_previous_row_is_older_than_every_event() {
        let model = parse_model("m.toml", MODEL).unwrap();
        let mut folds = KeyedFolds::new(&model.projections);
        let board = folds.table_mut("board").unwrap();
        board.seed(
            key("ann"),
            vec![text("old"), list(&["x", "w"]), StateValue::Int(5)],
        );
        let mut replayer = Replayer::new(&model).with_keyed_folds(folds);
        let mut sink = Replayed::default();
        for event in [
            event("note-3", 20, 1, "Tagged", r#"{"who":"ann","tag":"x"}"#),
            event("note-3", 21, 2, "Noted", r#"{"who":"ann","text":"new"}"#),
        ] {
            replayer.push(&EventRef::from(&event), &mut sink).unwrap();
        }
        let folds = replayer.finish_with_folds(&mut sink).unwrap().1.unwrap();
        let rows: Vec<_> = folds.tables()[1].rows().collect();
        // x added again moves to the end; the counter goes on from 5.
        assert_eq!(
            rows[0].1,
            vec![text("new"), list(&["w", "x"]), StateValue::Int(6)]
        );
    }

    #[test]
    fn events_without_their_key_are_counted_and_fail_the_fold() {
        let model = parse_model("m.toml", MODEL).unwrap();
        let (a, mut b) = notes();
        b.push(event("note-2", 30, 7, "Noted", r#"{"text":"whose?"}"#));
        b.push(event(
            "note-2",
            12,
            8,
            "Tagged",
            r#"{"who":{"nested":1},"tag":"t"}"#,
        ));
        // The key of the rule on Tagged: the line after its events (1-based).
        let key_line = MODEL
            .lines()
            .position(|l| l == "events = [\"Tagged\"]")
            .unwrap()
            + 2;
        for order in [[&a, &b], [&b, &a]] {
            let error = fold(&model, &[order[0], order[1]]).unwrap_err().to_string();
            assert_eq!(
                error,
                format!("m.toml:{key_line}: projection \"board\", rule 1: 1 event(s) have no key at payload path \"who\"; the first: stream note-2, version 8, position 12\n  hint: such an event cannot be filed under a key: read the key where every event of the rule has it, or narrow the rule with aggregate, events or when (1 more rule(s) met events without their key too)"),
            );
        }
    }
}
