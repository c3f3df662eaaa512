//! Safe for schedulers: the output lock, a run killed while writing, and
//! partial and as-of runs that never overwrite a full output unless asked.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::Dir;

/// Names in `dir` that a run leaves beside its output while it works.
fn leftovers(dir: &Dir) -> Vec<String> {
    std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".out.tmp-"))
        .collect()
}

#[test]
fn a_second_run_on_a_locked_output_exits_2_naming_the_holder() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(".out.lock"))
        .expect("the run leaves its lock file");
    lock.try_lock().expect("nobody holds the lock after a run");
    std::fs::write(
        dir.join(".out.lock"),
        "pid 4242, started 2026-11-27T03:00:00Z",
    )
    .unwrap();
    let outcome = dir.eventfold(&["run"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr.contains(
            "out is being written by another run (pid 4242, started 2026-11-27T03:00:00Z)"
        ),
        "{outcome:?}"
    );
    // A lock whose holder is gone (here: released) does not block the next run.
    drop(lock);
    dir.ok(&["run"]);
}

#[test]
fn a_run_killed_while_writing_leaves_the_previous_output_intact() {
    let dir = Dir::new();
    dir.generate(200000, 7, "big.ndjson");
    dir.ok(&["run"]);
    let manifest = std::fs::read_to_string(dir.join("out/manifest.json")).unwrap();
    let before = dir.query_json("out", "SELECT count(*) AS n FROM task");
    for delay_ms in [50, 1500, 4000] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eventfold"))
            .args(["run", "-i", "big.ndjson"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        // Wait until it is writing, then give it `delay_ms` more.
        while leftovers(&dir).is_empty() && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        // A run that exited by itself (before the kill, or between checking
        // and killing) beat the kill: it replaced the output, as it may.
        if child.wait().unwrap().success() {
            break;
        }
        assert_eq!(
            std::fs::read_to_string(dir.join("out/manifest.json")).unwrap(),
            manifest,
            "killed after {delay_ms} ms"
        );
        assert_eq!(
            dir.query_json("out", "SELECT count(*) AS n FROM task"),
            before
        );
    }
    // The next run is not blocked and cleans up what the killed ones left.
    dir.ok(&["run"]);
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

/// Every state row of an output, per aggregate type, in a stable order.
fn states(dir: &Dir, out: &str) -> Vec<serde_json::Value> {
    ["project", "task"]
        .iter()
        .flat_map(|table| dir.query_json(out, &format!("SELECT * FROM {table} ORDER BY stream_id")))
        .collect()
}

#[test]
fn as_of_rebuilds_the_state_of_the_log_cut_at_that_moment() {
    let dir = Dir::new();
    dir.generate(3000, 5, "log.ndjson");
    let text = std::fs::read_to_string(dir.join("log.ndjson")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let time_of = |line: &str| {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        chrono::DateTime::parse_from_rfc3339(record["occurred_at"].as_str().unwrap()).unwrap()
    };
    // A moment in the middle of the log, and the log cut there by hand.
    let mut times: Vec<_> = lines.iter().map(|l| time_of(l)).collect();
    times.sort();
    let cut = times[lines.len() / 2];
    let before: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| time_of(l) <= cut)
        .collect();
    dir.write("before.ndjson", before.join("\n") + "\n");
    let cut_text = cut.to_rfc3339();
    dir.ok(&[
        "run",
        "-i",
        "log.ndjson",
        "--as-of",
        &cut_text,
        "-o",
        "as-of",
    ]);
    dir.ok(&["run", "-i", "before.ndjson", "-o", "cut"]);
    assert!(states(&dir, "cut").len() > 10);
    assert_eq!(states(&dir, "as-of"), states(&dir, "cut"));

    // The same by position: the first 1000 records (positions are line numbers).
    dir.write("first.ndjson", lines[..1000].join("\n") + "\n");
    dir.ok(&[
        "run",
        "-i",
        "log.ndjson",
        "--as-of-position",
        "1000",
        "-o",
        "at-1000",
    ]);
    dir.ok(&["run", "-i", "first.ndjson", "-o", "first"]);
    assert_eq!(states(&dir, "at-1000"), states(&dir, "first"));
    let manifest = dir.manifest("at-1000");
    assert_eq!(
        manifest["selection"],
        serde_json::json!({"as_of_position": 1000})
    );
}

/// A full run sorts through sorted runs and finds duplicate ids while it
/// replays; a partial run stages for DataFusion's sort and finds them with SQL.
/// Selecting everything, the second writes the same files as the first.
#[test]
fn a_partial_run_of_everything_writes_the_files_of_the_full_run() {
    let dir = Dir::new();
    dir.ok(&[
        "generate",
        "--events",
        "20000",
        "--anomaly-rate",
        "0.02",
        "-o",
        "log.ndjson",
    ]);
    dir.ok(&["run", "-i", "log.ndjson", "-o", "full"]);
    let everything = ["run", "-i", "log.ndjson", "--as-of-position", "99999999"];
    dir.ok(&[&everything[..], &["-o", "partial"]].concat());
    let (full, partial) = (dir.manifest("full"), dir.manifest("partial"));
    assert_eq!(partial["selection"]["as_of_position"], 99999999);
    assert_eq!(full["files"], partial["files"]);
    let duplicates = &full["counts"]["findings"]["duplicate_event_id"];
    assert!(duplicates.as_u64().is_some_and(|n| n > 10), "{full}");
}

#[test]
fn partial_runs_replay_only_what_they_name_and_spare_a_full_output() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let full_projects = dir.query_json("out", "SELECT * FROM project ORDER BY stream_id");

    // A partial run never replaces a full output unless asked.
    let outcome = dir.eventfold(&["run", "--aggregate", "project"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("refusing to replace the full output out with a partial run"),
        "{outcome:?}"
    );
    assert_eq!(
        dir.query_json("out", "SELECT * FROM project ORDER BY stream_id"),
        full_projects
    );

    dir.ok(&["run", "--aggregate", "project", "-o", "projects"]);
    assert_eq!(
        dir.query_json("projects", "SELECT * FROM project ORDER BY stream_id"),
        full_projects
    );
    assert_eq!(
        dir.query_json("projects", "SELECT count(*) AS n FROM task"),
        [serde_json::json!({"n": 0})]
    );

    dir.write("streams.txt", "task-2\n\ntask-3\n");
    dir.ok(&[
        "run",
        "--streams-from",
        "streams.txt",
        "--stream",
        "project-1",
        "-o",
        "projects",
    ]);
    assert_eq!(
        dir.query_json(
            "projects",
            "SELECT DISTINCT stream_id FROM transitions ORDER BY stream_id"
        ),
        [
            serde_json::json!({"stream_id": "project-1"}),
            serde_json::json!({"stream_id": "task-2"}),
            serde_json::json!({"stream_id": "task-3"}),
        ]
    );
    let full_task2 = dir.query_json("out", "SELECT * FROM task WHERE stream_id = 'task-2'");
    assert_eq!(
        dir.query_json("projects", "SELECT * FROM task WHERE stream_id = 'task-2'"),
        full_task2
    );

    dir.ok(&["run", "--tenant", "nobody", "--replace-full"]);
    assert_eq!(
        dir.query_json("out", "SELECT count(*) AS n FROM transitions"),
        [serde_json::json!({"n": 0})]
    );
}

#[test]
fn diff_names_what_a_model_change_changed() {
    let dir = Dir::new();
    dir.ok(&["run", "-o", "a"]);
    let same = dir.eventfold(&["diff", "a", "a", "--fail-on-change"]);
    assert_eq!(same.code, 0, "{same:?}");
    assert!(
        same.stdout.ends_with("the rebuilds are the same\n"),
        "{same:?}"
    );

    let model =
        std::fs::read_to_string(crate::util::repo().join("testdata/tasks/model.toml")).unwrap();
    let changed = model.replace(
        "set = { completed_at = \"@occurred_at\", completed_by = \"@actor\" }",
        "set = { completed_at = \"@occurred_at\" }",
    );
    assert_ne!(model, changed);
    dir.write("model.toml", changed);
    // The same projections on both sides: the model change touches none.
    let projections = crate::util::repo().join("testdata/tasks/projections");
    let projections = projections.to_str().unwrap();
    dir.ok(&[
        "run",
        "-m",
        "model.toml",
        "-o",
        "b",
        "--projections",
        projections,
    ]);
    let outcome = dir.eventfold(&[
        "diff",
        "a",
        "b",
        "--fail-on-change",
        "--details",
        "changes.parquet",
    ]);
    assert_eq!(outcome.code, 1, "{outcome:?}");
    // Counted apart from diff: the tasks of A that have a completed_by.
    let completed = dir.query_json(
        "a",
        "SELECT stream_id, completed_by FROM task WHERE completed_by IS NOT NULL ORDER BY stream_id",
    );
    assert!(completed.len() > 10);
    assert!(
        outcome.stdout.contains(&format!(
            "state       task                              0          0 {:>10} {:>10}\n  completed_by                       changed in {}\n",
            completed.len(),
            378 - completed.len(),
            completed.len()
        )),
        "{}",
        outcome.stdout
    );
    let rows: Vec<serde_json::Value> = completed
        .iter()
        .map(|row| {
            serde_json::json!({"kind": "state", "table": "task", "key": row["stream_id"], "field": "completed_by", "old_value": row["completed_by"], "new_value": null})
        })
        .collect();
    let json = dir.eventfold(&["diff", "a", "b", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let details: Vec<serde_json::Value> = json["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            serde_json::json!({"kind": d["kind"], "table": d["table"], "key": d["key"], "field": d["field"], "old_value": d["old_value"], "new_value": d["new_value"]})
        })
        .collect();
    assert_eq!(details, rows);
    for projection in [
        "actor_workload",
        "assignee_board",
        "project_progress",
        "project_throughput",
    ] {
        let line = json["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == projection)
            .unwrap();
        assert_eq!(line["kind"], "projection");
        assert_eq!(
            (&line["only_in_a"], &line["only_in_b"], &line["changed"]),
            (&0.into(), &0.into(), &0.into()),
            "{projection}: {line}"
        );
        assert!(line["unchanged"].as_u64().unwrap() > 0, "{line}");
    }
    let magic = std::fs::read(dir.join("changes.parquet")).unwrap();
    assert!(magic.starts_with(b"PAR1") && magic.ends_with(b"PAR1"));

    // A partial rebuild: every other aggregate is only in A.
    dir.ok(&[
        "run",
        "--stream",
        "task-2",
        "--stream",
        "project-1",
        "-o",
        "c",
    ]);
    let partial = dir.ok(&["diff", "a", "c"]);
    assert!(
        partial.contains(
            "state       project                           7          0          0          1\n"
        ),
        "{partial}"
    );
    assert!(
        partial.contains(
            "state       task                            377          0          0          1\n"
        ),
        "{partial}"
    );
}

#[test]
fn init_elsewhere_says_to_cd_there_or_pass_the_config() {
    let dir = Dir::new();
    let wrote = dir.ok(&["init", "nightly/"]);
    assert!(
        wrote.contains("next: `cd nightly && eventfold run` (or `eventfold run --config nightly/eventfold.toml` from here)"),
        "{wrote}"
    );
    // Both ways it says work.
    let run = dir.eventfold(&["run", "--config", "nightly/eventfold.toml"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(dir.join("nightly/out/manifest.json").is_file());
    // The working folder itself needs no cd, however it is named.
    for here in [".", "./"] {
        let dir = Dir::new();
        let wrote = dir.ok(&["init", here]);
        assert!(
            wrote.contains("next: `eventfold run` reads eventfold.toml") && !wrote.contains("cd "),
            "{here}: {wrote}"
        );
    }
    let dir = Dir::new();
    let wrote = dir.ok(&["init", "my logs"]);
    assert!(
        wrote.contains("next: `cd 'my logs' && eventfold run`"),
        "{wrote}"
    );
}

#[test]
fn init_writes_a_config_that_run_and_check_read_and_flags_override() {
    let dir = Dir::new();
    let wrote = dir.ok(&["init"]);
    assert!(wrote.contains("wrote ./eventfold.toml"), "{wrote}");
    let again = dir.eventfold(&["init"]);
    assert_eq!(
        again.code, 2,
        "init never overwrites without --force: {again:?}"
    );

    // The starter runs as it is: the embedded sample, its model, into out/.
    dir.ok(&["run"]);
    assert!(dir.join("out/manifest.json").is_file());

    // What the file says is used, and a flag wins over it.
    let config = std::fs::read_to_string(dir.join("eventfold.toml"))
        .unwrap()
        .replace("out = \"out\"", "out = \"lake\"")
        .replace("fail_on = \"error\"", "fail_on = \"warning\"");
    dir.write("eventfold.toml", &config);
    dir.ok(&["run"]);
    assert!(dir.join("lake/manifest.json").is_file());
    dir.ok(&["run", "--out", "elsewhere"]);
    assert!(dir.join("elsewhere/manifest.json").is_file());
    let rows = dir.query_json("lake", "SELECT count(*) AS n FROM task");
    assert_eq!(rows, [serde_json::json!({"n": 378})]);
    let check = dir.eventfold(&["check"]);
    assert!(check.stdout.contains("at --fail-on warning"), "{check:?}");

    // [input] is a mapping: here it renames the stream id column.
    dir.write("log.ndjson", "{\"id\":\"task-1\",\"version\":1,\"event_type\":\"TaskCreated\",\"occurred_at\":\"2026-01-05T09:00:00Z\"}\n");
    dir.write(
        "mapped.toml",
        "[run]\ninputs = [\"log.ndjson\"]\nout = \"mapped\"\n[input.fields]\nstream_id = \"id\"\n",
    );
    let summary = dir.ok(&["run", "--config", "mapped.toml"]);
    assert!(
        summary.starts_with("records: 1 read = 1 events + 0 rejects (ok)"),
        "{summary}"
    );

    // A mistake in the file stops every command that reads it, naming the line.
    dir.write("eventfold.toml", "[run]\nout = \"lake\"\nthreds = 2\n");
    let broken = dir.eventfold(&["query", "SELECT 1"]);
    assert_eq!(broken.code, 2, "{broken:?}");
    assert!(
        broken
            .stderr
            .contains("eventfold.toml:3: unknown field `threds`"),
        "{broken:?}"
    );
}

#[test]
fn with_history_writes_the_state_after_every_event() {
    let dir = Dir::new();
    dir.ok(&["run", "--with-history"]);
    // One row per event of a declared aggregate type...
    assert_eq!(
        dir.query_json("out", "SELECT count(*) AS n FROM task_history"),
        dir.query_json(
            "out",
            "SELECT count(*) AS n FROM events WHERE aggregate_type = 'task'"
        )
    );
    // ...and the row after a stream's last (event_count-th) event is its state.
    let last = dir.query_json(
        "out",
        "SELECT h.* FROM task_history h JOIN task t ON h.stream_id = t.stream_id AND h.event_count = t.event_count ORDER BY h.stream_id",
    );
    let states = dir.query_json("out", "SELECT * FROM task ORDER BY stream_id");
    assert_eq!(last.len(), states.len());
    assert!(
        last == states,
        "the last history row differs from the state"
    );
    // SQL can ask what task-2 looked like at any moment.
    let at = dir.query_json(
        "out",
        "SELECT version, status, event_count FROM task_history WHERE stream_id = 'task-2' AND version IN (1, 2, 16) ORDER BY version",
    );
    assert_eq!(
        at,
        [
            serde_json::json!({"version": 1, "status": "open", "event_count": 1}),
            serde_json::json!({"version": 2, "status": "blocked", "event_count": 2}),
            serde_json::json!({"version": 16, "status": "done", "event_count": 16}),
        ]
    );
    let manifest = dir.manifest("out");
    assert_eq!(manifest["counts"]["state_history"]["task"], 2951);
}

#[test]
fn upcasters_in_the_model_evolve_old_shapes_before_replay() {
    let dir = Dir::new();
    let model =
        std::fs::read_to_string(crate::util::repo().join("testdata/tasks/model.toml")).unwrap();
    let upcasters = r#"
[[upcasters]]
event_type = "TaskOpened"
schema_version = 1
rename_type = "TaskCreated"
rename = { name = "title", project = "project_id" }
drop = ["legacy_flag"]

[[upcasters]]
aggregate = "task"
event_type = "TaskCreated"
schema_version = 2
defaults = { priority = 3, urgent = false }
"#;
    dir.write("model.toml", format!("{model}{upcasters}"));
    let at = |minute: u32| format!("2026-01-05T09:{minute:02}:00Z");
    let log = [
        format!(
            r#"{{"stream_id":"task-1","version":1,"event_type":"TaskOpened","schema_version":1,"occurred_at":"{}","payload":{{"name":"Old shape","project":"project-1","legacy_flag":true}}}}"#,
            at(0)
        ),
        format!(
            r#"{{"stream_id":"task-1","version":2,"event_type":"TaskStarted","occurred_at":"{}","payload":{{}}}}"#,
            at(1)
        ),
        format!(
            r#"{{"stream_id":"task-2","version":1,"event_type":"TaskCreated","schema_version":3,"occurred_at":"{}","payload":{{"title":"New shape","project_id":"project-1","priority":1,"urgent":true}}}}"#,
            at(2)
        ),
    ];
    dir.write("log.ndjson", log.join("\n") + "\n");
    dir.ok(&["run", "-i", "log.ndjson", "-m", "model.toml"]);
    assert_eq!(
        dir.query_json(
            "out",
            "SELECT stream_id, event_type, schema_version, original_event_type, original_schema_version, payload FROM events ORDER BY stream_id, version"
        ),
        [
            serde_json::json!({"stream_id": "task-1", "event_type": "TaskCreated", "schema_version": 3, "original_event_type": "TaskOpened", "original_schema_version": 1, "payload": r#"{"priority":3,"project_id":"project-1","title":"Old shape","urgent":false}"#}),
            serde_json::json!({"stream_id": "task-1", "event_type": "TaskStarted", "schema_version": 1, "original_event_type": null, "original_schema_version": null, "payload": "{}"}),
            serde_json::json!({"stream_id": "task-2", "event_type": "TaskCreated", "schema_version": 3, "original_event_type": null, "original_schema_version": null, "payload": r#"{"title":"New shape","project_id":"project-1","priority":1,"urgent":true}"#}),
        ]
    );
    assert_eq!(
        dir.query_json(
            "out",
            "SELECT stream_id, status, title, priority, urgent FROM task ORDER BY stream_id"
        ),
        [
            serde_json::json!({"stream_id": "task-1", "status": "in_progress", "title": "Old shape", "priority": 3, "urgent": false}),
            serde_json::json!({"stream_id": "task-2", "status": "open", "title": "New shape", "priority": 1, "urgent": true}),
        ]
    );
    assert_eq!(
        dir.query_json("out", "SELECT count(*) AS n FROM findings"),
        [serde_json::json!({"n": 0})]
    );

    // The census says what the upcasters would change, before any rebuild.
    let census = dir.ok(&["census", "-i", "log.ndjson", "-m", "model.toml"]);
    assert!(
        census.contains("task TaskOpened v1: 1 events, 2026-01-05T09:00:00Z .. 2026-01-05T09:00:00Z  upcast to TaskCreated v3  [handled]"),
        "{census}"
    );

    // A broken upcaster is reported with its line before anything runs.
    dir.write(
        "broken.toml",
        format!("{model}\n[[upcasters]]\nevent_type = \"TaskOpened\"\nschema_version = 2\nto_version = 1\n"),
    );
    let outcome = dir.eventfold(&["run", "-i", "log.ndjson", "-m", "broken.toml", "-o", "b"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    let line = model.lines().count() + 2;
    assert!(
        outcome.stderr.contains(&format!(
            "broken.toml:{line}: upcaster of TaskOpened v2 goes to v1"
        )),
        "{outcome:?}"
    );
}

#[test]
fn json_logs_are_one_object_a_line_on_stderr() {
    let dir = Dir::new();
    let outcome = dir.eventfold(&["run", "--log-format", "json"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let lines: Vec<serde_json::Value> = outcome
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON object a line"))
        .collect();
    let messages: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    assert_eq!(
        messages,
        ["run started", "stage done", "stage done", "run committed"]
    );
    let committed = &lines[3]["fields"];
    assert_eq!(
        (committed["events"].as_u64(), committed["rejects"].as_u64()),
        (Some(3036), Some(9))
    );
    let failed = dir.eventfold(&["run", "-i", "missing.ndjson", "--log-format", "json"]);
    let first: serde_json::Value =
        serde_json::from_str(failed.stderr.lines().next().unwrap()).unwrap();
    assert_eq!(first["level"], "ERROR");
    assert_eq!(failed.code, 2);
}

#[test]
fn the_manifest_content_hash_is_the_same_for_the_same_inputs_and_model() {
    let dir = Dir::new();
    dir.ok(&["run", "-o", "a"]);
    dir.ok(&["run", "-o", "b", "--threads", "1"]);
    let manifest = |out: &str| dir.manifest(out);
    let (a, b) = (manifest("a"), manifest("b"));
    assert_eq!(a["content_sha256"], b["content_sha256"]);
    assert_ne!(a["timings"], serde_json::Value::Null);
    // Each file's hash is the SHA-256 of its bytes, counted apart.
    dir.assert_file_hashes("a");
    assert!(a["files"]["state/task.parquet"].is_string());
    // Hashed as it was written, not read back: the same.
    assert!(a["files"]["events.parquet"].is_string());
    // A different model gives a different content hash.
    let model =
        std::fs::read_to_string(crate::util::repo().join("testdata/tasks/model.toml")).unwrap();
    dir.write(
        "model.toml",
        model.replace("comment_count = \"int\"", "comment_count = \"float\""),
    );
    dir.ok(&["run", "-o", "c", "-m", "model.toml"]);
    assert_ne!(manifest("c")["content_sha256"], a["content_sha256"]);
}

/// Rows of the Parquet file at `path`, from its footer.
fn parquet_rows(path: &std::path::Path) -> u64 {
    use parquet::file::reader::FileReader;
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = parquet::file::reader::SerializedFileReader::new(file).expect("a Parquet file");
    reader.metadata().file_metadata().num_rows() as u64
}

/// `{key: count}` of `sql` (rows of `key, n`) over the output `out`.
fn grouped(dir: &Dir, out: &str, sql: &str) -> serde_json::Value {
    let rows = dir.query_json(out, sql);
    let map: serde_json::Map<String, serde_json::Value> = rows
        .iter()
        .map(|row| (row["key"].as_str().unwrap().to_owned(), row["n"].clone()))
        .collect();
    serde_json::Value::Object(map)
}

/// Asserts that every count of the manifest of `out` is the rows its tables
/// hold, and that the input's counts balance; returns the manifest's counts.
fn assert_counts_match_tables(dir: &Dir, out: &str) -> serde_json::Value {
    let manifest = dir.manifest(out);
    let counts = &manifest["counts"];
    let root = dir.join(out);
    let count = |key: &str| {
        counts[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key}: {counts}"))
    };
    assert_eq!(
        count("events"),
        parquet_rows(&root.join("events.parquet")),
        "events"
    );
    assert_eq!(
        count("rejects"),
        parquet_rows(&root.join("rejects.parquet")),
        "rejects"
    );
    assert_eq!(
        count("transitions"),
        parquet_rows(&root.join("transitions.parquet")),
        "transitions"
    );
    assert_eq!(
        count("input_events") + count("rejects"),
        count("input_records"),
        "the input's invariant: {counts}"
    );
    for (aggregate, rows) in counts["states"].as_object().unwrap() {
        let path = root.join(format!("state/{aggregate}.parquet"));
        assert_eq!(rows.as_u64().unwrap(), parquet_rows(&path), "{aggregate}");
    }
    let streams = "SELECT aggregate_type AS key, count(*) AS n FROM streams GROUP BY 1";
    assert_eq!(counts["streams"], grouped(dir, out, streams), "streams");
    let findings = "SELECT rule AS key, count(*) AS n FROM findings GROUP BY 1";
    assert_eq!(counts["findings"], grouped(dir, out, findings), "findings");
    counts.clone()
}

/// Issue 18: after `--as-of` (and the other selections) the manifest's
/// `counts.events` was the whole log's (3036 on the sample) while the output
/// held the selected events (1240). Each count must be the rows of the output.
#[test]
fn every_manifest_count_is_the_rows_the_output_holds() {
    let dir = Dir::new();
    dir.ok(&["run", "--out", "full"]);
    let full = assert_counts_match_tables(&dir, "full");
    assert_eq!(full["events"], full["input_events"]);

    let summary = dir.ok(&["run", "--out", "asof", "--as-of", "2026-02-01T00:00:00Z"]);
    let asof = assert_counts_match_tables(&dir, "asof");
    let (selected, read) = (
        asof["events"].as_u64().unwrap(),
        asof["input_events"].as_u64().unwrap(),
    );
    assert!(0 < selected && selected < read, "{asof}");
    assert!(
        summary.contains(&format!("selected: {selected} of {read} events")),
        "{summary}"
    );

    dir.ok(&["run", "--out", "partial", "--aggregate", "project"]);
    let partial = assert_counts_match_tables(&dir, "partial");
    assert!(partial["events"].as_u64() < partial["input_events"].as_u64());
    assert_eq!(
        partial["streams"].as_object().unwrap().len(),
        1,
        "{partial}"
    );

    dir.generate(3000, 5, "log.ndjson");
    let log = std::fs::read(dir.join("log.ndjson")).unwrap();
    let lines: Vec<&[u8]> = log.split_inclusive(|b| *b == b'\n').collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    dir.write("night1.ndjson", first.concat());
    dir.write("night2.ndjson", second.concat());
    dir.ok(&["run", "-i", "night1.ndjson", "--out", "inc"]);
    // The second night's positions come after the first's (read order).
    dir.ok(&[
        "run",
        "--incremental",
        "-i",
        "night2.ndjson",
        "--out",
        "inc",
    ]);
    let incremental = assert_counts_match_tables(&dir, "inc");
    assert_eq!(incremental["events"], incremental["input_events"]);
}

/// Issue 18: `--tenant X` that matched nothing printed an empty `aggregates:` line.
#[test]
fn a_selection_that_matches_nothing_says_so() {
    let dir = Dir::new();
    let summary = dir.ok(&["run", "--out", "none", "--tenant", "no-such-tenant"]);
    assert!(
        summary.contains("aggregates: none (the selection matched no events)"),
        "{summary}"
    );
    assert!(summary.contains("selected: 0 of"), "{summary}");
    assert_counts_match_tables(&dir, "none");
}
