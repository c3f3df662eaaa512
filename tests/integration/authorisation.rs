//! Authorisation rules checked on the whole history: the task model's
//! `allowed` rules (own fields, the related project's owner, a dated role)
//! over the sample, its `unauthorised_action` findings counted exactly and
//! recounted in SQL from the events, `check` listing them at the model's
//! severity, a model mistake in a rule named with its line, and an
//! incremental night judging a new event by the related stream's state in the
//! previous output.

use crate::util::{repo, Dir};

/// The shipped task model (its rules on completion, cancellation and a
/// project's archiving; the reference from a task to its project), with the
/// rules' findings at `severity`.
fn model_with_rules(severity: &str) -> String {
    let mut model = std::fs::read_to_string(repo().join("testdata/tasks/model.toml")).unwrap();
    // The task model's own `[aggregates.task.references] project_id = "project"`
    // is the reference the project owner's permit reads.
    assert!(model.contains("[aggregates.task.references]\nproject_id = \"project\""));
    assert_eq!(model.matches("allowed = ").count(), 3, "the model changed");
    model.push_str(&format!("\n[authorisation]\nseverity = \"{severity}\"\n"));
    model
}

/// The unauthorised actions per event type, from the findings joined to their events.
const PER_TYPE: &str = "SELECT e.event_type, count(*) AS n FROM findings f \
    JOIN events e ON e.position = f.position \
    WHERE f.rule = 'unauthorised_action' GROUP BY e.event_type ORDER BY e.event_type";

#[test]
fn the_rules_flag_each_unauthorised_event_of_the_sample_exactly() {
    let dir = Dir::new();
    dir.write("model.toml", model_with_rules("warning"));
    let roles = repo().join("testdata/tasks/roles.toml");
    let roles = roles.to_str().unwrap();
    dir.ok(&[
        "run",
        "--model",
        "model.toml",
        "--roles",
        roles,
        "--out",
        "out",
    ]);
    let counts: Vec<(String, u64)> = dir
        .query_json("out", PER_TYPE)
        .iter()
        .map(|r| {
            (
                r["event_type"].as_str().unwrap().to_owned(),
                r["n"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = [("TaskCancelled", CANCELLED), ("TaskCompleted", COMPLETED)];
    let expected: Vec<(String, u64)> = expected.iter().map(|(t, n)| (t.to_string(), *n)).collect();
    assert_eq!(counts, expected);

    // Recounted from the events alone: a project's owner is set once, by its
    // creation, so its owner when a task is cancelled is the owner of a
    // project created before it; grace is always a lead, heidi from the
    // 10th to the 20th of January (UTC, both days).
    let recount = dir.query_json(
        "out",
        "WITH owners AS (SELECT stream_id, position, json_get_str(payload, 'owner') AS owner FROM events WHERE event_type = 'ProjectCreated'),
              cancels AS (SELECT e.position, e.actor, e.occurred_at, t.project_id FROM events e JOIN task t ON t.stream_id = e.stream_id
                          WHERE e.event_type = 'TaskCancelled' AND e.stream_id IN (SELECT stream_id FROM task))
         SELECT count(*) AS n FROM cancels c LEFT JOIN owners o ON o.stream_id = c.project_id AND o.position < c.position
         WHERE (o.owner IS NULL OR (c.actor IS DISTINCT FROM o.owner)) AND (c.actor IS DISTINCT FROM 'grace')
           AND NOT (c.actor = 'heidi' AND c.occurred_at >= TIMESTAMP '2026-01-10T00:00:00Z' AND c.occurred_at < TIMESTAMP '2026-01-21T00:00:00Z')",
    );
    assert_eq!(recount[0]["n"].as_u64(), Some(CANCELLED));

    let message = dir.query_json(
        "out",
        "SELECT message, severity FROM findings WHERE rule = 'unauthorised_action' ORDER BY position LIMIT 1",
    );
    let text = message[0]["message"].as_str().unwrap();
    assert!(
        text.contains("is not allowed by [aggregates.task.events."),
        "{text}"
    );
    assert_eq!(message[0]["severity"].as_str(), Some("warning"));

    // `check` lists the rule, at the model's severity.
    let check = dir.eventfold(&["check", "--out", "out"]);
    let line = check
        .stdout
        .lines()
        .find(|l| l.contains("unauthorised_action"))
        .unwrap_or_else(|| panic!("{check:?}"));
    assert!(
        line.contains("warning") && line.contains(&(CANCELLED + COMPLETED).to_string()),
        "{line}"
    );
}

/// The sample's unauthorised cancellations and completions under the rules
/// above: the hand-placed `task-9021` and `task-9020` (testdata/tasks/README.md).
const CANCELLED: u64 = 1;
const COMPLETED: u64 = 1;

#[test]
fn a_rule_mistake_is_reported_with_its_line() {
    let dir = Dir::new();
    let broken = model_with_rules("error").replace(
        "\"@project_id.owner\", \"role:lead\"]",
        "\"@project_id.boss\", \"role:lead\"]",
    );
    dir.write("model.toml", &broken);
    let outcome = dir.eventfold(&["run", "--model", "model.toml", "--out", "out"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    let line = broken
        .lines()
        .position(|l| l.contains("@project_id.boss"))
        .unwrap()
        + 1;
    assert!(
        outcome.stderr.contains(&format!("model.toml:{line}: event \"TaskCompleted\" allows the actor in field \"boss\" of aggregate \"project\"")),
        "{}",
        outcome.stderr
    );
    assert!(!dir.join("out").exists());
}

/// A night's completion by the owner of a project created on an earlier night
/// is allowed only if the owner is read back from the previous output (the
/// project has no event that night); one by a stranger still is not.
#[test]
fn an_incremental_night_reads_the_related_owner_from_the_previous_output() {
    let dir = Dir::new();
    let log = std::fs::read(repo().join("testdata/tasks/events.ndjson")).unwrap();
    // The sample up to the hand-placed actions against the rules (task-9020 on).
    let start = br#"{"event_id":"hp-41""#;
    let cut = log.windows(start.len()).position(|w| w == start).unwrap();
    dir.write("night-1.ndjson", &log[..cut]);
    let mut night = String::from_utf8(log[cut..].to_vec()).unwrap();
    night.push_str(concat!(
        r#"{"event_id":"hp-46","stream_id":"task-9022","version":1,"event_type":"TaskCreated","occurred_at":"2026-03-02T15:00:00+01:00","payload":{"title":"Done by its owner","project_id":"project-900"},"metadata":{"actor":"bob"}}"#,
        "\n",
        r#"{"event_id":"hp-47","stream_id":"task-9022","version":2,"event_type":"TaskCompleted","occurred_at":"2026-03-02T15:10:00+01:00","payload":{},"metadata":{"actor":"ann"}}"#,
        "\n"
    ));
    dir.write("night-2.ndjson", &night);
    dir.ok(&["run", "--input", "night-1.ndjson", "--out", "out"]);
    let first = dir.query_json(
        "out",
        "SELECT count(*) AS n FROM findings WHERE rule = 'unauthorised_action'",
    );
    assert_eq!(first[0]["n"].as_u64(), Some(0));
    let outcome = dir.eventfold(&[
        "run",
        "--incremental",
        "--input",
        "night-2.ndjson",
        "--out",
        "out",
    ]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let flagged: Vec<String> = dir
        .query_json(
            "out",
            "SELECT stream_id FROM findings WHERE rule = 'unauthorised_action' ORDER BY position",
        )
        .iter()
        .map(|r| r["stream_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(flagged, ["task-9020", "task-9021"]);
}
