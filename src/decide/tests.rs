//! Given / when / then tests of deciding: given these events, when these
//! commands, then these events or this rejection; one test per rule kind.

use super::*;
use crate::embedded::SAMPLE_MODEL;
use crate::model::parse_model;
use crate::replay::replay_events;

/// The task model with rules on completing and cancelling, as the lead's
/// model will have them: only the assignee, the project's owner or a lead
/// completes; only the project's owner cancels (a command's own rule).
fn model() -> Model {
    let rule = "allowed = [\"@assignee\", \"@project_id.owner\", \"role:lead\"]\n";
    let header = "[aggregates.task.events.TaskCompleted]\n";
    let start = SAMPLE_MODEL.find(header).unwrap() + header.len();
    let section = &SAMPLE_MODEL[start..];
    let section = &section[..section.find("\n[").unwrap_or(section.len())];
    // The shipped model has the rule by now; added when it has not.
    let text = if section.contains(rule) {
        SAMPLE_MODEL.to_owned()
    } else {
        SAMPLE_MODEL.replace(header, &format!("{header}{rule}"))
    } + "\n[aggregates.task.commands.CancelAsOwner]\nemits = \"TaskCancelled\"\nallowed = [\"@project_id.owner\"]\n\
         \n[[aggregates.task.commands.AssignAndStart.emit]]\nevent = \"TaskAssigned\"\npayload = { assignee = \"assignee\" }\n\
         [[aggregates.task.commands.AssignAndStart.emit]]\nevent = \"TaskStarted\"\n";
    parse_model("model.toml", &text).unwrap()
}

const T0: i64 = 1_767_600_000_000_000;
const MINUTE: i64 = 60_000_000;

/// The state of one stream after `events` (`type`, `payload`, `actor`).
fn given(model: &Model, stream: &str, events: &[(&str, &str, &str)]) -> Option<StreamState> {
    let events: Vec<Event> = events
        .iter()
        .enumerate()
        .map(|(i, (event_type, payload, actor))| Event {
            position: i as u64 + 1,
            event_id: format!("e{}", i + 1),
            stream_id: stream.to_owned(),
            aggregate_type: stream.split('-').next().unwrap().to_owned(),
            version: i as u64 + 1,
            event_type: (*event_type).to_owned(),
            schema_version: 1,
            occurred_at: T0 + i as i64 * MINUTE,
            actor: Some((*actor).to_owned()),
            correlation_id: None,
            causation_id: None,
            tenant: None,
            payload: Some((*payload).to_owned()),
            metadata: None,
            source: format!("given:{}", i + 1),
        })
        .collect();
    let replayed = replay_events(model, &events).unwrap();
    assert!(replayed.findings.is_empty(), "{:?}", replayed.findings);
    replayed.states.into_iter().next()
}

/// A command `(type, actor, payload)` on `stream`, the `i`th of the batch.
fn command(i: u64, stream: &str, command_type: &str, actor: &str, payload: &str) -> Command {
    Command {
        seq: i,
        command_id: format!("c{i}"),
        command_type: command_type.to_owned(),
        stream_id: Some(stream.to_owned()),
        actor: Some(actor.to_owned()),
        issued_at: T0 + (100 + i as i64) * MINUTE,
        expected_version: None,
        correlation_id: Some("corr".into()),
        payload: Some(payload.to_owned()),
        source: format!("commands.ndjson:{}", i + 1),
    }
}

/// Decides `commands` on `stream` with the project states `related`.
fn when(
    model: &Model,
    stream: &str,
    state: Option<StreamState>,
    related: &RelatedStates,
    roles: &Roles,
    commands: &[Command],
) -> StreamDecision {
    let aggregate = model.aggregate(stream.split('-').next().unwrap()).unwrap();
    let decider = Decider {
        model,
        roles,
        related,
    };
    decider.decide_stream(aggregate, stream, state, commands)
}

const CREATED: &str =
    r#"{"title":"Fix login","project_id":"project-1","priority":2,"urgent":true}"#;

/// A task created by ann in project-1.
fn open_task(model: &Model) -> Option<StreamState> {
    given(model, "task-1", &[("TaskCreated", CREATED, "ann")])
}

/// `commands` decided against task-1, open (created by ann), whose
/// project is project-1 (owned by olga).
fn when_open(model: &Model, roles: &Roles, commands: &[Command]) -> StreamDecision {
    when(
        model,
        "task-1",
        open_task(model),
        &projects(model),
        roles,
        commands,
    )
}

/// project-1, owned by olga.
fn projects(model: &Model) -> RelatedStates {
    let project = given(
        model,
        "project-1",
        &[("ProjectCreated", r#"{"name":"P","owner":"olga"}"#, "olga")],
    )
    .unwrap();
    RelatedStates::from([(("project".into(), "project-1".into()), Some(project.fields))])
}

fn reasons(decision: &StreamDecision) -> Vec<(Reason, &str)> {
    (decision.rejected.iter())
        .map(|r| (r.reason, r.message.as_str()))
        .collect()
}

fn event_types(decision: &StreamDecision) -> Vec<(&str, u64)> {
    (decision.accepted.iter())
        .map(|e| (e.event_type.as_str(), e.version))
        .collect()
}

#[test]
fn a_creating_command_emits_the_first_event_with_its_payload_and_envelope() {
    let model = model();
    let create = command(
        0,
        "task-9",
        "CreateTask",
        "ann",
        r#"{"title":"New","project_id":"project-1"}"#,
    );
    let decision = when(
        &model,
        "task-9",
        None,
        &projects(&model),
        &Roles::default(),
        &[create],
    );
    assert_eq!(reasons(&decision), vec![]);
    let event = &decision.accepted[0];
    assert_eq!(
        (event.event_type.as_str(), event.version),
        ("TaskCreated", 1)
    );
    assert_eq!(event.event_id, event_id("c0", 0));
    assert!(event.event_id.starts_with("d-"));
    assert_eq!(event.causation_id.as_deref(), Some("c0"));
    assert_eq!(event.correlation_id.as_deref(), Some("corr"));
    assert_eq!(event.occurred_at, T0 + 100 * MINUTE);
    // Optional sources absent from the command's payload are null.
    assert_eq!(
        event.payload.as_deref(),
        Some(r#"{"priority":null,"project_id":"project-1","title":"New","urgent":null}"#)
    );
}

#[test]
fn existence_a_command_needs_its_stream_and_a_creation_needs_none() {
    let model = model();
    let roles = Roles::default();
    let related = projects(&model);
    let decision = when(
        &model,
        "task-1",
        open_task(&model),
        &related,
        &roles,
        &[command(0, "task-1", "CreateTask", "ann", CREATED)],
    );
    assert_eq!(decision.rejected[0].reason, Reason::StreamExists);
    let decision = when(
        &model,
        "task-2",
        None,
        &related,
        &roles,
        &[command(0, "task-2", "StartTask", "ann", "{}")],
    );
    assert_eq!(
        reasons(&decision),
        vec![(Reason::UnknownStream, "task task-2 does not exist")]
    );
}

#[test]
fn version_the_expected_version_must_be_the_current_one() {
    let model = model();
    let mut stale = command(0, "task-1", "RenameTask", "ann", r#"{"title":"A"}"#);
    stale.expected_version = Some(0);
    let mut current = command(1, "task-1", "RenameTask", "ann", r#"{"title":"B"}"#);
    current.expected_version = Some(1);
    let decision = when_open(&model, &Roles::default(), &[stale, current]);
    assert_eq!(
        reasons(&decision),
        vec![(
            Reason::VersionConflict,
            "expected version 0, but task-1 is at version 1"
        )]
    );
    assert_eq!(event_types(&decision), vec![("TaskRenamed", 2)]);
}

#[test]
fn lifecycle_an_event_the_current_status_does_not_allow_is_refused() {
    let model = model();
    let done = given(
        &model,
        "task-1",
        &[
            ("TaskCreated", CREATED, "ann"),
            ("TaskCompleted", "{}", "olga"),
        ],
    );
    let decision = when(
        &model,
        "task-1",
        done,
        &projects(&model),
        &Roles::default(),
        &[command(0, "task-1", "StartTask", "ann", "{}")],
    );
    assert_eq!(decision.rejected[0].reason, Reason::TransitionNotAllowed);
    assert!(
        decision.rejected[0]
            .message
            .contains("TaskStarted after terminal status \"done\""),
        "{}",
        decision.rejected[0].message
    );
}

#[test]
fn precondition_a_require_on_the_state_names_what_failed() {
    let model = model();
    let decision = when_open(
        &model,
        &Roles::default(),
        &[command(0, "task-1", "StartTask", "ann", "{}")],
    );
    assert_eq!(
        reasons(&decision),
        vec![(
            Reason::PreconditionFailed,
            "require \"assignee is set\" is not met: assignee is unset"
        )]
    );
}

/// Each command sees the events accepted before it in its stream.
#[test]
fn later_commands_see_the_events_of_earlier_ones() {
    let model = model();
    let decision = when_open(
        &model,
        &Roles::default(),
        &[
            command(0, "task-1", "AssignTask", "ann", r#"{"assignee":"bob"}"#),
            command(1, "task-1", "StartTask", "bob", "{}"),
            command(2, "task-1", "AssignAndStart", "bob", r#"{"assignee":"cy"}"#),
        ],
    );
    assert_eq!(
        event_types(&decision),
        vec![("TaskAssigned", 2), ("TaskStarted", 3)]
    );
    // Its second event is not allowed from in_progress: the whole command is refused.
    assert_eq!(decision.rejected[0].reason, Reason::TransitionNotAllowed);
}

#[test]
fn several_events_of_one_command_take_consecutive_versions() {
    let model = model();
    let decision = when_open(
        &model,
        &Roles::default(),
        &[command(
            0,
            "task-1",
            "AssignAndStart",
            "ann",
            r#"{"assignee":"bob"}"#,
        )],
    );
    assert_eq!(
        event_types(&decision),
        vec![("TaskAssigned", 2), ("TaskStarted", 3)]
    );
    assert_eq!(decision.accepted[1].event_id, event_id("c0", 1));
}

/// `@assignee`: the emitted event's own rule, used for the command.
#[test]
fn authorisation_by_a_field_of_the_state() {
    let model = model();
    let assigned = given(
        &model,
        "task-1",
        &[
            ("TaskCreated", CREATED, "ann"),
            ("TaskAssigned", r#"{"assignee":"bob"}"#, "ann"),
        ],
    );
    let roles = Roles::default();
    let related = projects(&model);
    let by = |actor: &str| {
        when(
            &model,
            "task-1",
            assigned.clone(),
            &related,
            &roles,
            &[command(0, "task-1", "CompleteTask", actor, "{}")],
        )
    };
    assert_eq!(event_types(&by("bob")), vec![("TaskCompleted", 3)]);
    let refused = by("mallory");
    assert_eq!(refused.rejected[0].reason, Reason::Unauthorised);
    assert_eq!(
        refused.rejected[0].message,
        "\"mallory\" is not allowed by [aggregates.task.events.TaskCompleted] allowed = [\"@assignee\", \"@project_id.owner\", \"role:lead\"]: assignee is \"bob\"; no role lead then; project_id.owner (project-1) is \"olga\""
    );
}

/// `@project_id.owner`: the related stream's snapshot state; not loaded yet, the
/// stream asks for it.
#[test]
fn authorisation_by_a_field_of_a_related_stream() {
    let model = model();
    let roles = Roles::default();
    let complete = [command(0, "task-1", "CompleteTask", "olga", "{}")];
    let decision = when_open(&model, &roles, &complete);
    assert_eq!(event_types(&decision), vec![("TaskCompleted", 2)]);
    let decision = when(
        &model,
        "task-1",
        open_task(&model),
        &RelatedStates::new(),
        &roles,
        &complete,
    );
    assert_eq!(
        decision.missing,
        vec![("project".to_owned(), "project-1".to_owned())]
    );
    assert!(decision.accepted.is_empty() && decision.rejected.is_empty());
    // The command's own rule overrides the event's (none here).
    let cancel = |actor: &str| {
        when_open(
            &model,
            &roles,
            &[command(0, "task-1", "CancelAsOwner", actor, "{}")],
        )
    };
    assert_eq!(event_types(&cancel("olga")), vec![("TaskCancelled", 2)]);
    assert_eq!(cancel("ann").rejected[0].reason, Reason::Unauthorised);
}

#[test]
fn authorisation_by_a_role_on_the_day_the_command_is_issued() {
    let model = model();
    let roles = Roles::parse_toml(
        "roles.toml",
        "[[grant]]\nactor = \"lee\"\nrole = \"lead\"\nvalid_from = \"2026-01-01\"\nvalid_to = \"2026-01-04\"\n[actors]\ngrace = [\"lead\"]\n",
    )
    .unwrap();
    let decide = |actor: &str| {
        when_open(
            &model,
            &roles,
            &[command(0, "task-1", "CompleteTask", actor, "{}")],
        )
    };
    assert_eq!(event_types(&decide("grace")), vec![("TaskCompleted", 2)]);
    // lee's grant ended before the command was issued.
    assert_eq!(decide("lee").rejected[0].reason, Reason::Unauthorised);
}

#[test]
fn malformed_a_payload_missing_what_the_event_needs() {
    let model = model();
    let decision = when_open(
        &model,
        &Roles::default(),
        &[
            command(0, "task-1", "AssignTask", "ann", "{}"),
            command(1, "task-1", "EstimateTask", "ann", r#"{"hours":"lots"}"#),
        ],
    );
    assert_eq!(
        reasons(&decision),
        vec![
            (Reason::Malformed, "the payload has no \"assignee\" (for the event's \"assignee\")"),
            (Reason::Malformed, "TaskEstimated payload \"hours\" is \"lots\", expected a float for field estimate_hours"),
        ]
    );
}

#[test]
fn a_new_stream_id_from_the_command_id_is_deterministic() {
    let mut model = model();
    let create = model.commands.get_mut("CreateTask").unwrap();
    create.new_id = NewId::FromCommandId;
    let mut command = command(0, "ignored", "CreateTask", "ann", CREATED);
    command.stream_id = None;
    let id = target_stream(&model.commands["CreateTask"], &command).unwrap();
    assert!(
        id.starts_with("task-") && id.len() == "task-".len() + 12,
        "{id}"
    );
    assert_eq!(
        target_stream(&model.commands["CreateTask"], &command).unwrap(),
        id
    );
    let create = model.commands.get_mut("CreateTask").unwrap();
    create.new_id = NewId::Given;
    assert!(target_stream(&model.commands["CreateTask"], &command).is_err());
}
