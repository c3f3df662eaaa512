//! End to end on the embedded default: every count in testdata/tasks/README.md, the
//! state of named tasks, the outputs' types in pyarrow and DuckDB, determinism, and
//! the sample's provenance from the generator.

use std::collections::BTreeMap;

use crate::util::{repo, Dir};
use serde_json::{json, Value};

/// The rows of the "Exact counts" table of testdata/tasks/README.md.
fn readme_counts() -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(repo().join("testdata/tasks/README.md")).unwrap();
    let section = text.split("## Exact counts").nth(1).unwrap();
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            let count = cells.get(1)?.parse::<u64>().ok()?;
            Some((cells[0].to_owned(), count))
        })
        .collect()
}

/// Every count the README states, measured on a run's output.
fn measured_counts(dir: &Dir) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let sample = std::fs::read(repo().join("testdata/tasks/events.ndjson")).unwrap();
    let body = sample.strip_suffix(b"\n").unwrap_or(&sample);
    let blank = body
        .split(|b| *b == b'\n')
        .filter(|l| l.iter().all(u8::is_ascii_whitespace))
        .count() as u64;
    counts.insert(
        "lines".into(),
        sample.iter().filter(|b| **b == b'\n').count() as u64,
    );
    counts.insert("blank lines".into(), blank);
    let manifest: Value = dir.manifest("out");
    counts.insert(
        "input records".into(),
        manifest["counts"]["input_records"].as_u64().unwrap(),
    );

    let sql = "
        SELECT 'events' AS what, count(*) AS n FROM events
        UNION ALL SELECT 'rejects', count(*) FROM rejects
        UNION ALL SELECT 'transitions', count(*) FROM transitions
        UNION ALL SELECT aggregate_type || ' streams', count(DISTINCT stream_id) FROM events GROUP BY aggregate_type
        UNION ALL SELECT 'tasks ' || status, count(*) FROM task GROUP BY status
        UNION ALL SELECT 'findings', count(*) FROM findings
        UNION ALL SELECT 'findings ' || rule, count(*) FROM findings GROUP BY rule
        UNION ALL SELECT CASE WHEN field IS NULL THEN 'rejects without a field' ELSE 'rejects for field ' || field END, count(*)
                  FROM rejects GROUP BY field
        UNION ALL SELECT 'rows of projection `assignee_tasks`', count(*) FROM assignee_tasks
        UNION ALL SELECT 'rows of projection `assignee_board`', count(*) FROM assignee_board
        UNION ALL SELECT 'rows of projection `project_progress`', count(*) FROM project_progress
        UNION ALL SELECT 'rows of projection `project_throughput`', count(*) FROM project_throughput
        UNION ALL SELECT 'rows of projection `actor_workload`', count(*) FROM actor_workload";
    for row in dir.query_json("out", sql) {
        counts.insert(
            row["what"].as_str().unwrap().to_owned(),
            row["n"].as_u64().unwrap(),
        );
    }
    counts
}

#[test]
fn run_on_the_embedded_default_gives_the_documented_counts() {
    let dir = Dir::new();
    let outcome = dir.eventfold(&["run"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome
            .stdout
            .starts_with("records: 3045 read = 3036 events + 9 rejects (ok)\n"),
        "{}",
        outcome.stdout
    );
    assert!(outcome
        .stdout
        .contains("aggregates: invoice 1, project 8, task 378\n"));
    // The task domain's projections, with the rows each holds.
    assert!(
        outcome.stdout.contains(
            "projections: actor_workload 242, assignee_board 25, assignee_tasks 25, \
             project_progress 8, project_throughput 36\n"
        ),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stderr.is_empty(),
        "no progress bar when stderr is not a terminal: {}",
        outcome.stderr
    );

    let documented = readme_counts();
    assert!(
        documented.len() >= 30,
        "README table not found: {documented:?}"
    );
    let measured = measured_counts(&dir);
    for (what, count) in &documented {
        assert_eq!(
            measured.get(what),
            Some(count),
            "README says {what} = {count}"
        );
    }
    let undocumented: Vec<_> = measured
        .keys()
        .filter(|k| !documented.contains_key(*k))
        .collect();
    assert!(
        undocumented.is_empty(),
        "counts missing from the README: {undocumented:?}"
    );
}

#[test]
fn named_tasks_have_their_exact_state() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let rows = dir.query_json(
        "out",
        "SELECT stream_id, status, version, event_count, title, assignee, labels, comment_count,
                estimate_hours, urgent, completed_by, created_at, completed_at
         FROM task WHERE stream_id IN ('task-2', 'task-9001', 'task-9003', 'task-9007', 'task-9008')
         ORDER BY stream_id",
    );
    let expected = json!([
        {"stream_id": "task-2", "status": "archived", "version": 17, "event_count": 17, "title": "Test cache",
         "assignee": null, "labels": ["security"], "comment_count": 7, "estimate_hours": 8.5, "urgent": false,
         "completed_by": "victor", "created_at": "2026-01-05T08:08:49Z", "completed_at": "2026-01-05T11:38:00Z"},
        {"stream_id": "task-9001", "status": "done", "version": 7, "event_count": 7, "title": "A clean story",
         "assignee": "ann", "labels": ["bug"], "comment_count": 1, "estimate_hours": 3.5, "urgent": true,
         "completed_by": "ann", "created_at": "2026-03-02T08:05:00Z", "completed_at": "2026-03-02T09:30:00Z"},
        {"stream_id": "task-9003", "status": "open", "version": 2, "event_count": 3, "title": "Duplicate version",
         "assignee": "bob", "labels": [], "comment_count": 0, "estimate_hours": null, "urgent": false,
         "completed_by": null, "created_at": "2026-03-02T10:20:00Z", "completed_at": null},
        {"stream_id": "task-9007", "status": "in_progress", "version": 3, "event_count": 3, "title": "Started while blocked",
         "assignee": null, "labels": [], "comment_count": 0, "estimate_hours": null, "urgent": false,
         "completed_by": null, "created_at": "2026-03-02T11:00:00Z", "completed_at": null},
        {"stream_id": "task-9008", "status": "cancelled", "version": 3, "event_count": 3, "title": "Commented after cancel",
         "assignee": null, "labels": [], "comment_count": 1, "estimate_hours": null, "urgent": false,
         "completed_by": null, "created_at": "2026-03-02T11:20:00Z", "completed_at": null},
    ]);
    assert_eq!(Value::Array(rows), expected);

    let findings = dir.query_json(
        "out",
        "SELECT stream_id, version, rule FROM findings ORDER BY stream_id, version",
    );
    let named: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {}",
                f["stream_id"].as_str().unwrap(),
                f["version"],
                f["rule"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            "invoice-1 1 unknown_aggregate_type",
            "task-9002 4 version_gap",
            "task-9003 2 duplicate_version",
            "task-9005 1 duplicate_event_id",
            "task-9006 1 event_before_creation",
            "task-9007 3 transition_not_allowed",
            "task-9008 3 event_after_terminal",
            "task-9009 2 unknown_event_type",
            "task-9010 2 payload_field_missing",
            "task-9011 2 payload_field_type",
            "task-9020 3 unauthorised_action",
            "task-9021 2 unauthorised_action",
        ]
    );
}

#[test]
fn outputs_open_in_pyarrow_and_duckdb_with_the_documented_types() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let output = std::process::Command::new(crate::util::python())
        .arg(repo().join("scripts/check_outputs.py"))
        .arg(dir.join("out"))
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("ok events: 3036 rows"), "{stdout}");
    assert!(stdout.contains("ok state/task: 378 rows"), "{stdout}");
}

#[test]
fn the_same_inputs_give_byte_identical_tables() {
    let dir = Dir::new();
    dir.ok(&["run", "--out", "a"]);
    dir.ok(&["run", "--out", "b", "--threads", "1"]);
    for table in [
        "events",
        "transitions",
        "findings",
        "rejects",
        "state/task",
        "state/project",
    ] {
        let a = std::fs::read(dir.join(&format!("a/{table}.parquet"))).unwrap();
        let b = std::fs::read(dir.join(&format!("b/{table}.parquet"))).unwrap();
        assert!(a == b, "{table}.parquet differs between runs");
    }
}

#[test]
fn the_sample_is_the_generator_output_plus_the_hand_placed_lines() {
    let dir = Dir::new();
    let generated = dir.ok(&["generate", "--events", "3000", "--seed", "42"]);
    let mut expected = generated.into_bytes();
    expected.extend(std::fs::read(repo().join("testdata/tasks/hand-placed.ndjson")).unwrap());
    let sample = std::fs::read(repo().join("testdata/tasks/events.ndjson")).unwrap();
    assert!(
        sample == expected,
        "run scripts/make-sample.sh to rebuild the sample"
    );
}
