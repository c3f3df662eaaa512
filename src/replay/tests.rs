//! Given / when / then tests of the task model: given these events, when they are
//! replayed, then this state and these findings.

use super::*;
use crate::embedded::SAMPLE_MODEL;
use crate::model::parse_model;

/// One event of `stream` (its aggregate type the id's prefix) at `position`,
/// a second apart, with no actor: for the replay's unit tests elsewhere.
pub(crate) fn event(
    stream: &str,
    position: u64,
    version: u64,
    event_type: &str,
    payload: &str,
) -> Event {
    Event {
        position,
        event_id: format!("e{position}"),
        stream_id: stream.to_owned(),
        aggregate_type: stream.split('-').next().unwrap_or_default().to_owned(),
        version,
        event_type: event_type.to_owned(),
        schema_version: 1,
        occurred_at: 1_767_600_000_000_000 + position as i64 * 1_000_000,
        actor: None,
        correlation_id: None,
        causation_id: None,
        tenant: None,
        payload: Some(payload.to_owned()),
        metadata: None,
        source: String::new(),
    }
}

fn task_model() -> Model {
    parse_model("model.toml", SAMPLE_MODEL).unwrap()
}

/// Events of one stream each `(stream, version, type, payload)`, one minute apart.
fn given(events: &[(&str, u64, &str, &str)]) -> Vec<Event> {
    events
        .iter()
        .enumerate()
        .map(|(i, (stream, version, event_type, payload))| Event {
            position: i as u64 + 1,
            event_id: format!("e{}", i + 1),
            stream_id: stream.to_string(),
            aggregate_type: stream.split('-').next().unwrap().to_string(),
            version: *version,
            event_type: event_type.to_string(),
            schema_version: 1,
            occurred_at: 1_767_600_000_000_000 + i as i64 * 60_000_000,
            actor: Some(format!("actor{}", i % 2)),
            correlation_id: None,
            causation_id: None,
            tenant: None,
            payload: Some(payload.to_string()),
            metadata: None,
            source: format!("test:{}", i + 1),
        })
        .collect()
}

const CREATED: &str =
    r#"{"title":"Fix login","project_id":"project-1","priority":2,"urgent":true}"#;

fn rules(replayed: &Replayed) -> Vec<(String, u64, &'static str)> {
    replayed
        .findings
        .iter()
        .map(|f| (f.stream_id.clone(), f.version, f.rule.name()))
        .collect()
}

fn field<'a>(model: &Model, state: &'a StreamState, name: &str) -> &'a StateValue {
    state
        .field(model.aggregate(&state.aggregate_type).unwrap(), name)
        .unwrap()
}

#[test]
fn a_task_that_is_worked_and_completed() {
    let model = task_model();
    let replayed = replay_events(
        &model,
        &given(&[
            ("task-1", 1, "TaskCreated", CREATED),
            ("task-1", 2, "TaskAssigned", r#"{"assignee":"bob"}"#),
            ("task-1", 3, "TaskLabelled", r#"{"label":"bug"}"#),
            ("task-1", 4, "TaskLabelled", r#"{"label":"ui"}"#),
            ("task-1", 5, "TaskUnlabelled", r#"{"label":"bug"}"#),
            ("task-1", 6, "TaskStarted", "{}"),
            ("task-1", 7, "TaskCommented", r#"{"text":"on it"}"#),
            ("task-1", 8, "TaskEstimated", r#"{"hours":2.5}"#),
            ("task-1", 9, "TaskCompleted", "{}"),
        ]),
    )
    .unwrap();
    assert_eq!(rules(&replayed), vec![]);
    let state = &replayed.states[0];
    assert_eq!(state.status.as_deref(), Some("done"));
    assert_eq!((state.version, state.event_count), (9, 9));
    assert_eq!(
        field(&model, state, "title"),
        &StateValue::Str("Fix login".into())
    );
    assert_eq!(
        field(&model, state, "assignee"),
        &StateValue::Str("bob".into())
    );
    assert_eq!(
        field(&model, state, "labels"),
        &StateValue::List(vec!["ui".into()])
    );
    assert_eq!(field(&model, state, "comment_count"), &StateValue::Int(1));
    assert_eq!(field(&model, state, "reopen_count"), &StateValue::Int(0));
    assert_eq!(
        field(&model, state, "estimate_hours"),
        &StateValue::Float(2.5)
    );
    assert_eq!(field(&model, state, "urgent"), &StateValue::Bool(true));
    assert_eq!(
        field(&model, state, "created_by"),
        &StateValue::Str("actor0".into())
    );
    assert_eq!(
        field(&model, state, "completed_at"),
        &StateValue::Timestamp(1_767_600_000_000_000 + 8 * 60_000_000)
    );
    let statuses: Vec<_> = replayed
        .transitions
        .iter()
        .map(|t| t.to_status.as_deref())
        .collect();
    assert_eq!(statuses[0], Some("open"));
    assert_eq!(statuses[5], Some("in_progress"));
    assert_eq!(replayed.transitions[1].seconds_since_previous, Some(60.0));
    assert_eq!(replayed.transitions[0].seconds_since_previous, None);
    // Each transition names the event before it in the stream: the
    // directly-follows edges.
    let previous: Vec<_> = replayed
        .transitions
        .iter()
        .map(|t| t.previous_event_type.as_deref())
        .collect();
    assert_eq!(
        previous[..4],
        [
            None,
            Some("TaskCreated"),
            Some("TaskAssigned"),
            Some("TaskLabelled")
        ]
    );
    assert_eq!(state.last_event_type.as_deref(), Some("TaskCompleted"));
}

#[test]
fn a_reopened_task_loses_its_completion() {
    let model = task_model();
    let replayed = replay_events(
        &model,
        &given(&[
            ("task-2", 1, "TaskCreated", CREATED),
            ("task-2", 2, "TaskCompleted", "{}"),
            ("task-2", 3, "TaskReopened", "{}"),
        ]),
    )
    .unwrap();
    assert_eq!(rules(&replayed), vec![]);
    let state = &replayed.states[0];
    assert_eq!(state.status.as_deref(), Some("open"));
    assert_eq!(field(&model, state, "completed_at"), &StateValue::Null);
    assert_eq!(field(&model, state, "reopen_count"), &StateValue::Int(1));
}

#[test]
fn broken_streams_become_findings_and_the_fold_goes_on() {
    let model = task_model();
    let replayed = replay_events(
        &model,
        &given(&[
            ("task-3", 1, "TaskCommented", r#"{"text":"early"}"#),
            ("task-3", 2, "TaskCreated", CREATED),
            ("task-3", 4, "TaskBlocked", r#"{"reason":"waiting"}"#),
            ("task-3", 4, "TaskAssigned", r#"{"assignee":"dup"}"#),
            ("task-3", 5, "TaskStarted", "{}"),
            ("task-3", 6, "TaskTeleported", "{}"),
            ("task-3", 7, "TaskAssigned", "{}"),
            ("task-3", 8, "TaskEstimated", r#"{"hours":"three"}"#),
            ("task-3", 9, "TaskCancelled", "{}"),
            ("task-3", 10, "TaskCommented", r#"{"text":"late"}"#),
        ]),
    )
    .unwrap();
    assert_eq!(
        rules(&replayed),
        vec![
            ("task-3".into(), 1, "event_before_creation"),
            ("task-3".into(), 4, "version_gap"),
            ("task-3".into(), 4, "duplicate_version"),
            ("task-3".into(), 5, "transition_not_allowed"),
            ("task-3".into(), 6, "unknown_event_type"),
            ("task-3".into(), 7, "payload_field_missing"),
            ("task-3".into(), 8, "payload_field_type"),
            ("task-3".into(), 10, "event_after_terminal"),
        ]
    );
    let state = &replayed.states[0];
    // Events are facts: the forbidden start still moved the status, the
    // duplicate version 4 was not applied.
    assert_eq!(state.status.as_deref(), Some("cancelled"));
    assert_eq!(field(&model, state, "assignee"), &StateValue::Null);
    assert_eq!(field(&model, state, "comment_count"), &StateValue::Int(2));
    assert_eq!((state.version, state.event_count), (10, 10));
    assert!(replayed.findings[3]
        .message
        .contains("not allowed from status \"blocked\""));
}

#[test]
fn streams_of_undeclared_types_are_flagged_once_and_get_no_state() {
    let model = task_model();
    let replayed = replay_events(
        &model,
        &given(&[
            ("invoice-1", 1, "InvoiceSent", "{}"),
            ("invoice-1", 2, "InvoicePaid", "{}"),
        ]),
    )
    .unwrap();
    assert_eq!(
        rules(&replayed),
        vec![("invoice-1".into(), 1, "unknown_aggregate_type")]
    );
    assert!(replayed.states.is_empty());
    assert_eq!(replayed.transitions.len(), 2);
}

#[test]
fn event_types_are_shared_up_to_a_bound() {
    let mut types = EventTypes::default();
    let first = types.get("TaskCreated");
    assert!(Arc::ptr_eq(&first, &types.get("TaskCreated")));
    // A log of ever new types (damage, ids in the type) keeps at most MAX.
    for n in 0..EventTypes::MAX + 10 {
        assert_eq!(&*types.get(&format!("Type{n}")), format!("Type{n}"));
    }
    assert_eq!(types.0.len(), EventTypes::MAX);
    let late = format!("Type{}", EventTypes::MAX + 5);
    assert!(!Arc::ptr_eq(&types.get(&late), &types.get(&late)));
    assert!(Arc::ptr_eq(&first, &types.get("TaskCreated")));
}
