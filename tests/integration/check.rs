//! `check` and `history` end to end: exit codes, the report, JUnit, the trail.

use crate::util::{repo, Dir};

const PLANTED: [&str; 13] = [
    "task-9002 v4: expected version 3",
    "task-9003 v2: version 2 appears more than once",
    "task-9005 v1: event id \"dup-0001\"",
    "task-9006 v1: TaskCommented at version 1 comes before",
    "task-9007 v3: TaskStarted is not allowed from status \"blocked\"",
    "task-9008 v3: TaskCommented after terminal status \"cancelled\"",
    "task-9009 v2: event type \"TaskTeleported\"",
    "invoice-1 v1: aggregate type \"invoice\"",
    "task-9010 v2: TaskAssigned payload has no \"assignee\"",
    "task-9011 v2: TaskEstimated payload \"hours\" is \"three\"",
    "stream_id=task-9001, aggregate_type=task, version=4",
    "task-9020 v3: TaskCompleted by \"mallory\" is not allowed",
    "task-9021 v2: TaskCancelled by \"heidi\" is not allowed",
];

#[test]
fn check_on_the_sample_fails_and_names_every_planted_anomaly() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let outcome = dir.eventfold(&["check", "--junit", "report.xml"]);
    assert_eq!(outcome.code, 1, "{outcome:?}");
    for anomaly in PLANTED {
        assert!(
            outcome.stdout.contains(anomaly),
            "{anomaly} missing from:\n{}",
            outcome.stdout
        );
    }
    assert!(
        outcome
            .stdout
            .ends_with("30 checks, 13 failed at --fail-on error\n"),
        "{}",
        outcome.stdout
    );
    assert!(outcome.stdout.contains("FAIL     error   timestamps_backwards              1  embedded:queries/checks/timestamps_backwards.sql"), "{}", outcome.stdout);

    let junit = std::fs::read_to_string(dir.join("report.xml")).unwrap();
    assert!(
        junit.contains(
            "<testsuites name=\"eventfold check\" tests=\"30\" failures=\"13\" skipped=\"0\">"
        ),
        "{junit}"
    );
    assert_eq!(junit.matches("<testcase ").count(), 30);
    assert_eq!(junit.matches("<failure ").count(), 13);
    let mut reader = quick_xml::Reader::from_str(&junit);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("JUnit report is not well-formed XML: {e}"),
        }
    }
}

#[test]
fn fail_on_warning_also_fails_on_warnings() {
    let dir = Dir::new();
    dir.write(
        "log.ndjson",
        "{\"stream_id\":\"task-1\",\"version\":1,\"event_type\":\"TaskCreated\",\"occurred_at\":\"2026-01-05T09:00:00Z\",\"payload\":{\"title\":\"t\",\"project_id\":\"project-1\",\"priority\":1,\"urgent\":false}}\n\
         {\"stream_id\":\"project-1\",\"version\":1,\"event_type\":\"ProjectCreated\",\"occurred_at\":\"2026-01-05T08:00:00Z\",\"payload\":{\"name\":\"p\",\"owner\":\"ann\"}}\n\
         {\"stream_id\":\"task-1\",\"version\":2,\"event_type\":\"TaskAssigned\",\"occurred_at\":\"2026-01-05T09:05:00Z\",\"payload\":{}}\n",
    );
    dir.ok(&["run", "--input", "log.ndjson"]);
    let queries = repo().join("queries/checks");
    let queries = queries.to_str().unwrap();
    let lenient = dir.eventfold(&["check", "--queries", queries]);
    assert_eq!(lenient.code, 0, "{lenient:?}");
    assert!(
        lenient
            .stdout
            .contains("warn     warning payload_field_missing"),
        "{}",
        lenient.stdout
    );
    let strict = dir.eventfold(&[
        "check",
        "--queries",
        queries,
        "--fail-on",
        "warning",
        "--format",
        "json",
    ]);
    assert_eq!(strict.code, 1, "{strict:?}");
    let report: serde_json::Value = serde_json::from_str(&strict.stdout).unwrap();
    let failing: Vec<&str> = report
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["rows"].as_u64() != Some(0))
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["payload_field_missing"]);
}

#[test]
fn check_on_a_clean_generated_log_passes() {
    let dir = Dir::new();
    dir.generate(3000, 5, "clean.ndjson");
    dir.ok(&["run", "--input", "clean.ndjson"]);
    let outcome = dir.eventfold(&["check", "--junit", "report.xml"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stdout);
    assert!(
        outcome
            .stdout
            .ends_with("30 checks, 0 failed at --fail-on error\n"),
        "{}",
        outcome.stdout
    );
    let junit = std::fs::read_to_string(dir.join("report.xml")).unwrap();
    assert!(junit.contains("failures=\"0\""), "{junit}");
}

#[test]
fn check_without_an_output_is_an_error() {
    let dir = Dir::new();
    let outcome = dir.eventfold(&["check"]);
    assert_eq!(outcome.code, 2);
    assert!(outcome.stderr.contains("is not an eventfold output folder"));
}

#[test]
fn history_shows_each_event_and_what_it_changed() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let trail = dir.ok(&["history", "task-9007"]);
    assert_eq!(
        trail,
        "task-9007 (task), 3 events\n\
         v1  2026-03-02T11:00:00Z  TaskCreated  by frank  [- → open]\n      \
         title: null → \"Started while blocked\"\n      project_id: null → \"project-900\"\n      \
         created_by: null → \"frank\"\n      priority: null → 2\n      urgent: null → false\n\
         v2  2026-03-02T11:05:00Z  TaskBlocked  by frank  [open → blocked]\n      \
         blocked_reason: null → \"waiting for review\"\n\
         v3  2026-03-02T11:10:00Z  TaskStarted  by frank  [blocked → in_progress]\n      \
         ! transition_not_allowed: TaskStarted is not allowed from status \"blocked\" (allowed from: open)\n"
    );
    let json: serde_json::Value = serde_json::from_str(&dir.ok(&[
        "history",
        "task-9001",
        "--format",
        "json",
        "--as-of",
        "3",
    ]))
    .unwrap();
    let events = json["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2]["state"]["labels"], serde_json::json!(["bug"]));
    assert_eq!(
        events[1]["changes"]["assignee"],
        serde_json::json!({"from": null, "to": "ann"})
    );
    // Version order rules: the trail stops at the first event after the time
    // (v3 at 08:15), although v4 claims 08:10.
    let by_time = dir.ok(&["history", "task-9001", "--as-of", "2026-03-02T08:12:00Z"]);
    assert!(
        by_time.starts_with("task-9001 (task), 2 events\n"),
        "{by_time}"
    );
    let unknown = dir.eventfold(&["history", "task-404"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("stream \"task-404\" has no events"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn flow_draws_the_task_lifecycle_in_three_formats() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let mermaid = dir.ok(&["flow", "--by", "status"]);
    assert!(
        mermaid.starts_with("---\ntitle: task: directly-follows graph of statuses"),
        "{mermaid}"
    );
    assert!(
        mermaid.contains("  n0[\"(start)\"]\n  n1[\"open\"]\n"),
        "{mermaid}"
    );
    assert!(
        mermaid.contains("  n0 -->|\"378 · "),
        "every task starts open: {mermaid}"
    );
    let dot = dir.ok(&["flow", "--format", "dot", "--min-count", "100"]);
    assert!(dot.starts_with("digraph flow {"), "{dot}");
    assert!(
        dot.contains("\"TaskCompleted\" -> \"TaskArchived\" [label=\"203 · "),
        "{dot}"
    );
    assert!(
        !dot.contains("TaskTeleported"),
        "rare edges are left out: {dot}"
    );
    dir.ok(&["flow", "--format", "svg", "-o", "flow.svg"]);
    let svg = std::fs::read_to_string(dir.join("flow.svg")).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.contains(">TaskCreated</text>"));
    let mut reader = quick_xml::Reader::from_str(&svg);
    while !matches!(
        reader.read_event().expect("SVG is well-formed XML"),
        quick_xml::events::Event::Eof
    ) {}
    let project = dir.eventfold(&["flow", "--aggregate", "nothing"]);
    assert_eq!(project.code, 2);
}

#[test]
fn shell_runs_multi_line_statements_and_dot_commands() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let script = ".tables\n.schema project\nSELECT count(*) AS n\n  FROM task\n  WHERE status = 'done';\nSELECT nope;\n.format csv\nSELECT stream_id FROM task WHERE stream_id = 'task-9001';\n.quit\nSELECT 'never';\n";
    let outcome = dir.eventfold_with_input(&["shell"], script);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome
            .stdout
            .starts_with("events\ntransitions\nfindings\nrejects\nstreams\nproject\ntask\nactor_workload\nassignee_board\nassignee_tasks\nproject_progress\nproject_throughput\nmodel_statuses\nmodel_transitions\nmodel_fields\n"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("| members     | List(Utf8)"),
        "{}",
        outcome.stdout
    );
    assert!(outcome.stdout.contains("| 21 |"), "{}", outcome.stdout);
    assert!(
        outcome.stdout.ends_with("stream_id\ntask-9001\n"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stderr
            .contains("error: sql: Schema error: No field named nope"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stdout.contains("never"));
}

#[test]
fn a_query_over_an_older_output_names_the_columns_it_lacks() {
    use arrow::array::RecordBatch;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ArrowWriter;

    let dir = Dir::new();
    dir.ok(&["run"]);
    // transitions.parquet as written before it had previous_event_type.
    let path = dir.join("out/transitions.parquet");
    let file = std::fs::File::open(&path).unwrap();
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|batch| {
            let mut batch = batch.unwrap();
            batch.remove_column(batch.schema().index_of("previous_event_type").unwrap());
            batch
        })
        .collect();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        batches[0].schema(),
        None,
    )
    .unwrap();
    for batch in &batches {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();

    let query = repo().join("queries/analysis/directly_follows.sql");
    let outcome = dir.eventfold(&["query", "-f", query.to_str().unwrap()]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr.contains(
            "transitions.parquet has no previous_event_type (written by an older eventfold); queries that read it fail"
        ),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("hint: `eventfold run --out"),
        "{}",
        outcome.stderr
    );
    // What the older table has still answers, with the same note.
    let counted = dir.eventfold(&["query", "SELECT count(*) AS n FROM transitions"]);
    assert_eq!(counted.code, 0, "{counted:?}");
    assert!(counted.stdout.contains("3036"), "{}", counted.stdout);
    assert!(counted.stderr.contains("has no previous_event_type"));
    // A current output has no note.
    dir.ok(&["run"]);
    let fresh = dir.eventfold(&["query", "SELECT count(*) AS n FROM transitions"]);
    assert!(!fresh.stderr.contains("note:"), "{}", fresh.stderr);
}

/// The model is visible to SQL as tables; an output without its model file
/// (written by an older eventfold) says so, and a query reading a model table
/// gets the usual missing-table error naming the tables it has.
#[test]
fn the_model_tables_and_an_output_without_its_model() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let terminal = dir.query_json(
        "out",
        "SELECT status FROM model_statuses WHERE aggregate_type = 'task' AND is_terminal ORDER BY ordinal",
    );
    assert_eq!(
        terminal,
        [
            serde_json::json!({"status": "done"}),
            serde_json::json!({"status": "cancelled"}),
            serde_json::json!({"status": "archived"})
        ]
    );
    std::fs::remove_file(dir.join("out/model.toml")).unwrap();
    let lead_time = repo().join("queries/analysis/lead_time.sql");
    let outcome = dir.eventfold(&["query", "-f", lead_time.to_str().unwrap()]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr.contains(
            "model.toml is missing (written by an older eventfold); the model tables \
             (model_statuses, model_transitions, model_fields) are not registered\n  hint: \
             `eventfold run --out"
        ),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains(
            "error: sql: table model_statuses not found\n  hint: the tables of this output: \
             actor_workload, assignee_board, assignee_tasks, events, findings, project, \
             project_progress, \
             project_throughput, rejects, streams, task, transitions\n"
        ),
        "{}",
        outcome.stderr
    );
    // The other tables still answer.
    let counted = dir.eventfold(&["query", "SELECT count(*) AS n FROM streams"]);
    assert_eq!(counted.code, 0, "{counted:?}");
}

/// The shipped board checks hold the keyed fold `assignee_tasks` to the task
/// state: a model whose fold misses an event that moves a task (TaskStarted)
/// fails both, naming an assignee whose counts drifted.
#[test]
fn the_board_checks_catch_a_keyed_fold_that_misses_an_event() {
    let dir = Dir::new();
    let model = std::fs::read_to_string(repo().join("testdata/tasks/model.toml")).unwrap();
    let broken = model.replace(
        "events = [\"TaskAssigned\", \"TaskUnassigned\", \"TaskStarted\", ",
        "events = [\"TaskAssigned\", \"TaskUnassigned\", ",
    );
    assert_ne!(model, broken);
    dir.write("broken.toml", &broken);
    let projections = repo().join("testdata/tasks/projections");
    for (model, out) in [(None, "good"), (Some("broken.toml"), "bad")] {
        let mut args = vec!["run", "--out", out, "--projections"];
        args.push(projections.to_str().unwrap());
        if let Some(model) = model {
            args.extend(["-m", model]);
        }
        dir.ok(&args);
    }
    let good = dir.eventfold(&["check", "--out", "good", "--format", "json"]);
    let bad = dir.eventfold(&["check", "--out", "bad", "--format", "json"]);
    let rows = |outcome: &crate::util::Outcome, name: &str| -> u64 {
        let all: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
        let check = all.as_array().unwrap().iter().find(|c| c["name"] == name);
        check.unwrap()["rows"].as_u64().unwrap()
    };
    for name in [
        "assignee_board_matches_state",
        "assignee_board_not_negative",
    ] {
        assert_eq!(rows(&good, name), 0, "{name}");
        assert!(rows(&bad, name) > 0, "{name}");
    }
}
