//! `eventfold decide` end to end: a batch planted against the sample's output,
//! one command per rejection reason and some that must pass; the accepted
//! events fed to `run --incremental` give the expected new state and no new
//! finding; the same batch again is all duplicates (idempotency through the
//! log's causation ids); CSV commands; the exit codes.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use serde_json::Value;

use crate::util::Dir;

/// The shipped task model (whatever rules it has by now) and a command with
/// its own rule: only the project's owner completes through it.
fn model() -> String {
    let model =
        std::fs::read_to_string(crate::util::repo().join("testdata/tasks/model.toml")).unwrap();
    model
        + "\n[aggregates.task.commands.CompleteAsOwner]\nemits = \"TaskCompleted\"\nallowed = [\"@project_id.owner\"]\n"
        + "\n[[aggregates.task.commands.AssignAndStart.emit]]\nevent = \"TaskAssigned\"\npayload = { assignee = \"assignee\" }\n\
           [[aggregates.task.commands.AssignAndStart.emit]]\nevent = \"TaskStarted\"\n"
}

/// (reason, command_id) of every row of a decision's `rejected.parquet`.
fn rejected(dir: &Dir, decision: &str) -> Vec<(String, String)> {
    let file = std::fs::File::open(dir.join(decision).join("rejected.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let column = |name: &str| {
            batch
                .column(batch.schema().index_of(name).unwrap())
                .as_string::<i32>()
                .clone()
        };
        let (reasons, ids) = (column("reason"), column("command_id"));
        for row in 0..batch.num_rows() {
            let id = if ids.is_valid(row) {
                ids.value(row)
            } else {
                ""
            };
            rows.push((reasons.value(row).to_owned(), id.to_owned()));
        }
    }
    rows
}

fn text(row: &Value, key: &str) -> String {
    row[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {row}"))
        .to_owned()
}

#[test]
fn a_batch_decided_against_the_sample_round_trips_through_an_incremental_run() {
    let dir = Dir::new();
    dir.write("model.toml", model());
    dir.ok(&["run", "--model", "model.toml", "--out", "out"]);
    // Open unassigned tasks with their project's owner; a done task; a causation id of the log.
    let open = dir.query_json(
        "out",
        "SELECT t.stream_id, t.version, t.comment_count, p.owner FROM task t JOIN project p ON p.stream_id = t.project_id \
         WHERE t.status = 'open' AND t.assignee IS NULL AND p.owner IS NOT NULL ORDER BY t.stream_id LIMIT 4",
    );
    assert_eq!(open.len(), 4, "the sample has open unassigned tasks");
    let u4 = text(&open[3], "stream_id");
    let (u1, u2, u3) = (
        text(&open[0], "stream_id"),
        text(&open[1], "stream_id"),
        text(&open[2], "stream_id"),
    );
    let owner3 = text(&open[2], "owner");
    let done = text(
        &dir.query_json(
            "out",
            "SELECT stream_id FROM task WHERE status = 'done' ORDER BY stream_id LIMIT 1",
        )[0],
        "stream_id",
    );
    let logged = text(
        &dir.query_json("out", "SELECT causation_id FROM events WHERE causation_id IS NOT NULL ORDER BY position LIMIT 1")[0],
        "causation_id",
    );
    let findings = dir.query_json("out", "SELECT count(*) AS n FROM findings")[0]["n"].clone();

    let at = |minute: u32| format!("2027-01-01T10:{minute:02}:00Z");
    let line = |id: &str, command: &str, stream: &str, actor: &str, minute: u32, payload: &str| {
        format!(
            "{{\"command_id\":\"{id}\",\"command_type\":\"{command}\",\"stream_id\":\"{stream}\",\"actor\":\"{actor}\",\"issued_at\":\"{}\",\"correlation_id\":\"batch-1\",\"payload\":{payload}}}\n",
            at(minute)
        )
    };
    let mut batch = String::new();
    // Accepted: in issued_at order per stream, whatever the order of the lines.
    batch += &line("ok-start", "StartTask", &u1, "bob", 2, "{}");
    batch += &line(
        "ok-assign",
        "AssignTask",
        &u1,
        "ann",
        1,
        r#"{"assignee":"bob"}"#,
    );
    batch += &line(
        "ok-comment",
        "CommentOnTask",
        &u1,
        "bob",
        3,
        r#"{"text":"on it"}"#,
    );
    batch += &line(
        "ok-create",
        "CreateTask",
        "task-900001",
        "ann",
        1,
        &format!(r#"{{"title":"Decided","project_id":"{}"}}"#, "project-1"),
    );
    batch += &line("ok-owner", "CompleteAsOwner", &u3, &owner3, 1, "{}");
    batch += &line(
        "ok-both",
        "AssignAndStart",
        &u4,
        "ann",
        1,
        r#"{"assignee":"cy"}"#,
    );
    // One per rejection reason.
    batch += &line("no-such", "FlyToTheMoon", &u1, "ann", 1, "{}");
    batch += &line("no-stream", "StartTask", "task-987654", "ann", 1, "{}");
    batch += &line(
        "exists",
        "CreateTask",
        &u1,
        "ann",
        1,
        r#"{"title":"Again","project_id":"project-1"}"#,
    );
    batch += &line("stale", "RenameTask", &u2, "ann", 1, r#"{"title":"x"}"#)
        .replace("\"payload\"", "\"expected_version\":0,\"payload\"");
    batch += &line("too-late", "StartTask", &done, "ann", 1, "{}");
    batch += &line("unassigned", "StartTask", &u2, "ann", 2, "{}");
    batch += &line("not-owner", "CompleteAsOwner", &u2, "mallory", 3, "{}");
    batch += &line(
        "ok-rename",
        "RenameTask",
        &u2,
        "ann",
        4,
        r#"{"title":"Renamed"}"#,
    );
    batch += &line(
        "ok-rename",
        "RenameTask",
        &u2,
        "ann",
        5,
        r#"{"title":"Twice"}"#,
    );
    batch += &line(
        &logged,
        "RenameTask",
        &u2,
        "ann",
        6,
        r#"{"title":"Replayed"}"#,
    );
    batch +=
        "{\"command_id\":\"no-time\",\"command_type\":\"StartTask\",\"stream_id\":\"task-1\"}\n";
    dir.write("commands.ndjson", &batch);

    let stdout = dir.ok(&[
        "decide",
        "commands.ndjson",
        "--out",
        "out",
        "--decision",
        "decision",
    ]);
    assert!(
        stdout.contains("decided 17 commands against out: 7 accepted (8 events), 10 rejected"),
        "{stdout}"
    );
    let mut reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (reason, id) in rejected(&dir, "decision") {
        reasons.entry(reason).or_default().push(id);
    }
    let expected: BTreeMap<String, Vec<String>> = [
        ("duplicate_command_id", vec!["ok-rename", logged.as_str()]),
        ("malformed", vec![""]),
        ("precondition_failed", vec!["unassigned"]),
        ("stream_exists", vec!["exists"]),
        ("transition_not_allowed", vec!["too-late"]),
        ("unauthorised", vec!["not-owner"]),
        ("unknown_command", vec!["no-such"]),
        ("unknown_stream", vec!["no-stream"]),
        ("version_conflict", vec!["stale"]),
    ]
    .into_iter()
    .map(|(reason, ids)| {
        (
            reason.to_owned(),
            ids.into_iter().map(str::to_owned).collect(),
        )
    })
    .collect();
    assert_eq!(reasons, expected);
    // The accepted events: the next versions, deterministic ids, causation and correlation.
    let events: Vec<Value> = std::fs::read_to_string(dir.join("decision/events.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let u1_version = open[0]["version"].as_u64().unwrap();
    let of_u1: Vec<(String, u64)> = (events.iter())
        .filter(|e| e["stream_id"] == u1.as_str())
        .map(|e| (text(e, "event_type"), e["version"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        of_u1,
        vec![
            ("TaskAssigned".into(), u1_version + 1),
            ("TaskStarted".into(), u1_version + 2),
            ("TaskCommented".into(), u1_version + 3)
        ]
    );
    assert!(events
        .iter()
        .all(|e| e["correlation_id"] == "batch-1"
            && e["event_id"].as_str().unwrap().starts_with("d-")));
    // A command of two events: consecutive versions, an id each.
    let both: Vec<(String, u64, String)> = (events.iter())
        .filter(|e| e["causation_id"] == "ok-both")
        .map(|e| {
            (
                text(e, "event_type"),
                e["version"].as_u64().unwrap(),
                text(e, "event_id"),
            )
        })
        .collect();
    let u4_version = open[3]["version"].as_u64().unwrap();
    assert_eq!(
        both.iter()
            .map(|(t, v, _)| (t.as_str(), *v))
            .collect::<Vec<_>>(),
        vec![
            ("TaskAssigned", u4_version + 1),
            ("TaskStarted", u4_version + 2)
        ]
    );
    assert_ne!(both[0].2, both[1].2);
    let positions: Vec<u64> = events
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    let again = dir.ok(&[
        "decide",
        "commands.ndjson",
        "--out",
        "out",
        "--decision",
        "decision-again",
    ]);
    assert_eq!(
        std::fs::read(dir.join("decision/events.ndjson")).unwrap(),
        std::fs::read(dir.join("decision-again/events.ndjson")).unwrap(),
        "{again}"
    );

    // Folded incrementally: the new state, and no finding from a decided event.
    dir.ok(&[
        "run",
        "--model",
        "model.toml",
        "--incremental",
        "-i",
        "decision/events.ndjson",
        "--out",
        "out",
    ]);
    let state = |stream: &str| {
        dir.query_json(
            "out",
            &format!("SELECT * FROM task WHERE stream_id = '{stream}'"),
        )[0]
        .clone()
    };
    let after = state(&u1);
    assert_eq!(
        (text(&after, "status"), text(&after, "assignee")),
        ("in_progress".into(), "bob".into())
    );
    assert_eq!(after["version"].as_u64(), Some(u1_version + 3));
    assert_eq!(
        after["comment_count"].as_i64(),
        Some(open[0]["comment_count"].as_i64().unwrap() + 1)
    );
    let completed = state(&u3);
    assert_eq!(
        (text(&completed, "status"), text(&completed, "completed_by")),
        ("done".into(), owner3)
    );
    assert_eq!(text(&state("task-900001"), "title"), "Decided");
    assert_eq!(text(&state(&u2), "title"), "Renamed");
    let started = state(&u4);
    assert_eq!(
        (text(&started, "status"), text(&started, "assignee")),
        ("in_progress".into(), "cy".into())
    );
    assert_eq!(
        dir.query_json("out", "SELECT count(*) AS n FROM findings")[0]["n"],
        findings
    );

    // The same batch again: what was accepted is now in the log, so a duplicate.
    let outcome = dir.eventfold(&[
        "decide",
        "commands.ndjson",
        "--out",
        "out",
        "--decision",
        "decision",
        "--fail-on-reject",
    ]);
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert!(
        outcome
            .stdout
            .contains(": 0 accepted (0 events), 17 rejected"),
        "{outcome:?}"
    );
    let duplicates = rejected(&dir, "decision")
        .iter()
        .filter(|(r, _)| r == "duplicate_command_id")
        .count();
    assert_eq!(duplicates, 2 + 7);

    // CSV commands, through the same mapping (payload as a JSON cell).
    dir.write(
        "commands.csv",
        format!("command_id,command_type,stream_id,actor,issued_at,expected_version,payload\ncsv-1,LabelTask,{u2},ann,2027-02-01T09:00:00Z,{},\"{{\"\"label\"\":\"\"csv\"\"}}\"\n", state(&u2)["version"].as_u64().unwrap()),
    );
    let stdout = dir.ok(&[
        "decide",
        "commands.csv",
        "--out",
        "out",
        "--decision",
        "from-csv",
        "--fail-on-reject",
    ]);
    assert!(
        stdout.contains("1 accepted (1 events), 0 rejected"),
        "{stdout}"
    );

    // Errors exit 2 and write nothing.
    let outcome = dir.eventfold(&[
        "decide",
        "commands.csv",
        "--out",
        "nowhere",
        "--decision",
        "d2",
    ]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr.contains("nowhere holds no manifest.json"),
        "{outcome:?}"
    );
    assert!(!dir.join("d2").exists());
}

/// The task model with the rule the generator's batch expects on completions
/// (unless the shipped model has one by now).
fn model_with_completion_rule() -> String {
    let model = model();
    let header = "[aggregates.task.events.TaskCompleted]\n";
    let start = model.find(header).expect("TaskCompleted in the model") + header.len();
    let section = &model[start..];
    let section = &section[..section.find("\n[").unwrap_or(section.len())];
    if section.contains("allowed") {
        return model;
    }
    model.replacen(
        header,
        &format!("{header}allowed = [\"@assignee\", \"@project_id.owner\", \"role:lead\"]\n"),
        1,
    )
}

/// `generate --commands` plants rejections and counts them: deciding the
/// batch rejects exactly those, reason by reason, and what it accepts folds
/// into the log without a finding (not even an unauthorised action).
#[test]
fn a_generated_batch_is_rejected_exactly_as_planted() {
    let dir = Dir::new();
    dir.generate(4000, 11, "log.ndjson");
    dir.write("model.toml", model_with_completion_rule());
    dir.ok(&[
        "run",
        "--model",
        "model.toml",
        "-i",
        "log.ndjson",
        "--out",
        "out",
    ]);
    let findings = dir.query_json("out", "SELECT count(*) AS n FROM findings")[0]["n"].clone();
    let generated = dir.eventfold(&[
        "generate",
        "--commands",
        "1500",
        "--seed",
        "4",
        "--against",
        "out",
        "--touch",
        "0.3",
        "--reject-rate",
        "0.2",
        "-o",
        "commands.ndjson",
    ]);
    assert_eq!(generated.code, 0, "{generated:?}");
    // "…; N must be rejected (reason n, reason n)"
    let planted = generated
        .stderr
        .split(" must be rejected (")
        .nth(1)
        .expect("the counts")
        .trim_end()
        .trim_end_matches(')')
        .to_owned();
    let planted: BTreeMap<String, usize> = planted
        .split(", ")
        .map(|pair| {
            let (reason, n) = pair.rsplit_once(' ').unwrap();
            (reason.to_owned(), n.parse().unwrap())
        })
        .collect();
    assert!(
        planted.len() >= 8,
        "every kind of rejection is planted: {planted:?}"
    );
    assert!(planted.contains_key("unauthorised"), "{planted:?}");
    let again = dir.eventfold(&[
        "generate",
        "--commands",
        "1500",
        "--seed",
        "4",
        "--against",
        "out",
        "--touch",
        "0.3",
        "--reject-rate",
        "0.2",
    ]);
    assert_eq!(
        again.stdout.as_bytes(),
        std::fs::read(dir.join("commands.ndjson")).unwrap(),
        "deterministic"
    );

    let decide = |more: &[&str]| {
        let args = ["decide", "commands.ndjson", "--out", "out", "--decision"];
        dir.ok(&[&args[..], more].concat())
    };
    decide(&["decision"]);
    let mut decided: BTreeMap<String, usize> = BTreeMap::new();
    for (reason, _) in rejected(&dir, "decision") {
        *decided.entry(reason).or_default() += 1;
    }
    assert_eq!(decided, planted);
    // Under a memory limit the batch does not fit in: spread over files by
    // stream and decided in many passes, then merged, to the same decision.
    decide(&["decision-small", "--memory-limit", "40KB"]);
    let passes = |decision: &str| {
        let manifest = std::fs::read_to_string(dir.join(decision).join("manifest.json")).unwrap();
        serde_json::from_str::<Value>(&manifest).unwrap()["passes"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(passes("decision"), 1);
    assert!(passes("decision-small") > 5, "{}", passes("decision-small"));
    assert_eq!(
        std::fs::read(dir.join("decision-small/events.ndjson")).unwrap(),
        std::fs::read(dir.join("decision/events.ndjson")).unwrap()
    );
    assert_eq!(rejected(&dir, "decision-small"), rejected(&dir, "decision"));
    assert!(!dir.join("decision-small/_spill").exists());
    dir.ok(&[
        "run",
        "--model",
        "model.toml",
        "-i",
        "log.ndjson",
        "-i",
        "decision/events.ndjson",
        "--out",
        "out",
    ]);
    assert_eq!(
        dir.query_json("out", "SELECT count(*) AS n FROM findings")[0]["n"],
        findings
    );
}
