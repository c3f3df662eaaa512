//! `eventfold export xes|ocel` (issue 21.3 and 21.4): the exports are read
//! back by PM4Py with the counts the output's own tables give, and an XES
//! export ingested again through the `xes` preset gives the same events.

use crate::util::{run_python, Dir};

/// One number of a one-row query.
fn count(dir: &Dir, out: &str, sql: &str) -> u64 {
    let rows = dir.query_json(out, &format!("SELECT ({sql}) AS n"));
    rows[0]["n"]
        .as_u64()
        .unwrap_or_else(|| panic!("{sql}: {rows:?}"))
}

/// The last line a program printed (PM4Py greets on stdout when imported).
fn last_line(stdout: &str) -> &str {
    stdout.trim().lines().last().unwrap_or_default()
}

const READ_XES: &str = r#"
import sys, json, pm4py
log = pm4py.read_xes(sys.argv[1])
print(json.dumps({"traces": int(log["case:concept:name"].nunique()), "events": len(log),
                  "complete": int((log["lifecycle:transition"] == "complete").sum())}))
"#;

#[test]
fn xes_export_is_read_by_pm4py_and_ingested_again_to_the_same_events() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let traces = count(&dir, "out", "SELECT count(*) FROM task");
    let events = count(
        &dir,
        "out",
        "SELECT count(*) FROM events WHERE aggregate_type = 'task'",
    );
    for file in ["task.xes", "task.xes.gz"] {
        let outcome = dir.eventfold(&["export", "xes", "--aggregate", "task", "-o", file]);
        assert_eq!(outcome.code, 0, "{outcome:?}");
        assert!(
            outcome
                .stderr
                .contains(&format!("{traces} traces, {events} events")),
            "{}",
            outcome.stderr
        );
        let read: serde_json::Value = serde_json::from_str(last_line(&run_python(
            READ_XES,
            &[dir.join(file).as_os_str()],
        )))
        .expect("JSON");
        assert_eq!(read["traces"], traces, "{file}");
        assert_eq!(read["events"], events, "{file}");
        assert_eq!(read["complete"], events, "{file}");
    }
    dir.ok(&["run", "--preset", "xes", "-i", "task.xes", "--out", "back"]);
    let columns = "stream_id, event_type, CAST(occurred_at AS VARCHAR) AS time";
    let before = dir.query_json(
        "out",
        &format!("SELECT {columns} FROM events WHERE aggregate_type = 'task' ORDER BY stream_id, version, position"),
    );
    let after = dir.query_json(
        "back",
        &format!("SELECT {columns} FROM events ORDER BY stream_id, version"),
    );
    assert_eq!(before.len() as u64, events);
    assert_eq!(before, after);
    // The status changes ride along as attributes.
    let to_done = count(
        &dir,
        "back",
        "SELECT count(*) FROM events WHERE (payload->>'eventfold:to_status') = 'done'",
    );
    let done = count(
        &dir,
        "out",
        "SELECT count(*) FROM transitions WHERE aggregate_type = 'task' AND to_status = 'done' AND from_status IS DISTINCT FROM 'done'",
    );
    assert!(done > 0);
    assert_eq!(to_done, done);
    let unknown = dir.eventfold(&["export", "xes", "--aggregate", "nope", "-o", "x.xes"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
}

const READ_OCEL: &str = r#"
import sys, json, pm4py
path = sys.argv[1]
ocel = pm4py.read_ocel2_json(path) if path.endswith(".jsonocel") else pm4py.read_ocel2_sqlite(path)
changes = 0 if ocel.object_changes is None else len(ocel.object_changes)
print(json.dumps({"events": len(ocel.events), "objects": len(ocel.objects), "e2o": len(ocel.relations),
                  "o2o": len(ocel.o2o), "types": sorted(ocel.objects["ocel:type"].unique().tolist()),
                  "changes": changes}))
"#;

#[test]
fn ocel_exports_are_read_by_pm4py_with_the_counts_of_the_output() {
    let dir = Dir::new();
    dir.ok(&["run", "--with-history"]);
    dir.ok(&["run", "--out", "plain"]);
    let in_state = |t: &str| {
        format!("(e.aggregate_type = '{t}' AND e.stream_id IN (SELECT stream_id FROM {t}))")
    };
    let events = count(
        &dir,
        "out",
        &format!(
            "SELECT count(*) FROM events e WHERE {} OR {}",
            in_state("task"),
            in_state("project")
        ),
    );
    let objects = count(
        &dir,
        "out",
        "SELECT (SELECT count(*) FROM task) + (SELECT count(*) FROM project)",
    );
    let o2o = count(
        &dir,
        "out",
        "SELECT count(*) FROM task WHERE project_id IN (SELECT stream_id FROM project)",
    );
    // Each event relates to its own aggregate, and a task event to the project
    // its task names after it.
    let references = count(
        &dir,
        "out",
        "SELECT count(*) FROM events e JOIN (SELECT DISTINCT stream_id, version, project_id FROM task_history) h \
         ON h.stream_id = e.stream_id AND h.version = e.version \
         WHERE e.aggregate_type = 'task' AND h.project_id IN (SELECT stream_id FROM project)",
    );
    let final_references = count(
        &dir,
        "plain",
        "SELECT count(*) FROM events e JOIN task t ON t.stream_id = e.stream_id \
         WHERE e.aggregate_type = 'task' AND t.project_id IN (SELECT stream_id FROM project)",
    );
    assert!(o2o > 0 && references > 0 && references != final_references);
    for (out, file, e2o) in [
        ("out", "log.jsonocel", events + references),
        ("out", "log.sqlite", events + references),
        ("plain", "plain.jsonocel", events + final_references),
        ("plain", "plain.sqlite", events + final_references),
    ] {
        dir.ok(&["export", "ocel", "--out", out, "-o", file]);
        let read: serde_json::Value = serde_json::from_str(last_line(&run_python(
            READ_OCEL,
            &[dir.join(file).as_os_str()],
        )))
        .expect("JSON");
        assert_eq!(read["events"], events, "{file}: {read}");
        assert_eq!(read["objects"], objects, "{file}: {read}");
        assert_eq!(read["e2o"], e2o, "{file}: {read}");
        assert_eq!(read["o2o"], o2o, "{file}: {read}");
        assert_eq!(
            read["types"],
            serde_json::json!(["project", "task"]),
            "{file}"
        );
        // With the history, the objects' attributes change over time.
        assert_eq!(
            read["changes"].as_u64() > Some(0),
            out == "out",
            "{file}: {read}"
        );
    }
    let wrong = dir.eventfold(&["export", "ocel", "-o", "log.txt"]);
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(wrong.stderr.contains(".jsonocel"), "{}", wrong.stderr);
}
