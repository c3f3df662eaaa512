//! Keyed folds (`[projections.NAME]` in the model): the same rows whatever
//! the threads, the memory limit or the nights a log is folded in, numbers
//! that agree with SQL over the output's own tables, events without their key
//! failing the run with the previous output kept, and a real log.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;

use crate::incremental::{assert_same_output, fold_parts_both_ways, generated, rows, split_lines};
use crate::util::{repo, Dir};

/// Keyed folds over the task model: the board per assignee (one event
/// touches the assignee before and the one after), and per project and
/// actor (a key of two columns, written by many streams).
const FOLDS: &str = r#"
[projections.assignee_load]
key = { assignee = "string" }

[projections.assignee_load.fields]
assigned = "int"
started = "int"
reassigned_away = "int"
first_assigned_at = "timestamp"
last_assigned_at = "timestamp"
tasks = "list"
last_task = "string"

[[projections.assignee_load.on]]
aggregate = "task"
events = ["TaskAssigned", "TaskUnassigned"]
key = { assignee = "@before.assignee" }
increment = { reassigned_away = 1 }
remove = { tasks = "@stream_id" }

[[projections.assignee_load.on]]
aggregate = "task"
events = ["TaskAssigned"]
key = { assignee = "@after.assignee" }
increment = { assigned = 1 }
add = { tasks = "@stream_id" }
min = { first_assigned_at = "@occurred_at" }
max = { last_assigned_at = "@occurred_at" }
set = { last_task = "@stream_id" }

[[projections.assignee_load.on]]
aggregate = "task"
events = ["TaskStarted"]
key = { assignee = "@after.assignee" }
when = { "@before.status" = "open" }
increment = { started = 1 }

[projections.project_actors]
key = { project = "string", actor = "string" }
fields = { events = "int", last_event = "string", labels = "list", tasks = "list" }

[[projections.project_actors.on]]
aggregate = "task"
events = ["TaskCommented", "TaskLabelled", "TaskUnlabelled", "TaskCompleted"]
key = { project = "@after.project_id", actor = "@actor" }
increment = { events = 1 }
set = { last_event = "@event_type" }
add = { tasks = "@stream_id" }

[[projections.project_actors.on]]
aggregate = "task"
events = ["TaskLabelled"]
key = { project = "@after.project_id", actor = "@actor" }
add = { labels = "label" }

[[projections.project_actors.on]]
aggregate = "task"
events = ["TaskUnlabelled"]
key = { project = "@after.project_id", actor = "@actor" }
remove = { labels = "label" }
"#;

const TABLES: [&str; 2] = ["assignee_load", "project_actors"];

/// The task model with [`FOLDS`] added.
fn model_with_folds() -> String {
    let model = std::fs::read_to_string(repo().join("testdata/tasks/model.toml")).unwrap();
    format!("{model}\n{FOLDS}")
}

/// Asserts that the projection tables of two outputs are equal, every
/// column and every row in order, and not empty.
fn assert_same_projections(dir: &Dir, a: &str, b: &str) {
    for table in TABLES {
        let file = format!("projections/{table}.parquet");
        let (x, y) = (
            rows(&dir.join(a).join(&file)),
            rows(&dir.join(b).join(&file)),
        );
        assert!(x.num_rows() > 0, "{a}/{file} is empty");
        assert_eq!(x, y, "{file}: {a} and {b} differ");
    }
}

/// Folds `log` with the folds every way that must not change their rows:
/// one thread, two, a memory limit that spills, and three nights against
/// one full run (every table, every column, in order). `extra` goes to
/// every run; the one-thread output is `one`.
fn same_rows_every_way(dir: &Dir, log: &[u8], extra: &[&str]) {
    dir.write("model.toml", model_with_folds());
    dir.write("log.ndjson", log);
    let run = |out: &str, more: &[&str]| {
        let mut args = vec!["run", "-m", "model.toml", "-i", "log.ndjson", "--out", out];
        args.extend(more);
        args.extend(extra);
        dir.ok(&args);
    };
    run("one", &["--threads", "1"]);
    run("two", &["--threads", "2"]);
    run("tight", &["--memory-limit", "2MB"]);
    assert_same_projections(dir, "one", "two");
    assert_same_projections(dir, "one", "tight");
    // Refolded by `project` from a folder of parts: the parts are dealt out
    // to a thread per core and the tables merged (lists, minimums, maximums
    // and counters alike).
    crate::partitioned::split_output(&dir.join("one"), &dir.join("parts"));
    dir.ok(&["project", "--out", "parts"]);
    assert_same_projections(dir, "one", "parts");
    fold_parts_both_ways(dir, &split_lines(log, 3), extra);
    assert_same_output(dir, "full", "inc");
    assert_same_projections(dir, "one", "inc");
    let manifest = dir.assert_file_hashes("one");
    for table in TABLES {
        let rows = rows(&dir.join("one").join(format!("projections/{table}.parquet")));
        assert_eq!(
            manifest["counts"]["projections"][table].as_u64(),
            Some(rows.num_rows() as u64),
            "{table}"
        );
        assert!(manifest["files"][format!("projections/{table}.parquet")].is_string());
    }
}

fn text_column<'a>(batch: &'a RecordBatch, name: &str) -> &'a arrow::array::StringArray {
    batch.column_by_name(name).unwrap().as_string::<i32>()
}

/// `assignee → reassigned_away` and `assignee → tasks (sorted)` of the
/// assignee_load table of `out`.
fn board(dir: &Dir, out: &str) -> (BTreeMap<String, i64>, BTreeMap<String, Vec<String>>) {
    let batch = rows(&dir.join(out).join("projections/assignee_load.parquet"));
    let assignees = text_column(&batch, "assignee");
    let away = batch
        .column_by_name("reassigned_away")
        .unwrap()
        .as_primitive::<Int64Type>();
    let tasks = batch.column_by_name("tasks").unwrap().as_list::<i32>();
    let (mut aways, mut lists) = (BTreeMap::new(), BTreeMap::new());
    for row in 0..batch.num_rows() {
        let name = assignees.value(row).to_owned();
        if away.value(row) > 0 {
            aways.insert(name.clone(), away.value(row));
        }
        let items = tasks.value(row);
        let items = items.as_string::<i32>();
        let mut items: Vec<String> = (0..items.len())
            .map(|i| items.value(i).to_owned())
            .collect();
        items.sort();
        if !items.is_empty() {
            lists.insert(name, items);
        }
    }
    (aways, lists)
}

/// Checks the board of `out` (written `--with-history`) against SQL over
/// its own tables: reassigned_away counts the applied TaskAssigned and
/// TaskUnassigned events whose task had an assignee before (the state after
/// the stream's previous event); each assignee's tasks are the tasks whose
/// state names them.
fn assert_board_agrees_with_sql(dir: &Dir, out: &str) {
    let away = dir.query_json(
        out,
        "WITH h AS (SELECT stream_id, event_count, \
                LAG(assignee) OVER (PARTITION BY stream_id ORDER BY event_count) AS before \
             FROM task_history), \
         t AS (SELECT stream_id, event_type, position, \
                ROW_NUMBER() OVER (PARTITION BY stream_id ORDER BY version, position) AS n \
             FROM transitions WHERE aggregate_type = 'task') \
         SELECT h.before AS assignee, count(*) AS n FROM t \
         JOIN h ON t.stream_id = h.stream_id AND t.n = h.event_count \
         WHERE t.event_type IN ('TaskAssigned', 'TaskUnassigned') AND h.before IS NOT NULL \
           AND t.position NOT IN (SELECT position FROM findings WHERE rule = 'duplicate_version') \
         GROUP BY h.before ORDER BY h.before",
    );
    let away: BTreeMap<String, i64> = (away.iter())
        .map(|r| {
            (
                r["assignee"].as_str().unwrap().to_owned(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    let holding = dir.query_json(
        out,
        "SELECT assignee, stream_id FROM task WHERE assignee IS NOT NULL ORDER BY assignee, stream_id",
    );
    let mut tasks: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in &holding {
        let assignee = row["assignee"].as_str().unwrap().to_owned();
        tasks
            .entry(assignee)
            .or_default()
            .push(row["stream_id"].as_str().unwrap().to_owned());
    }
    let (folded_away, folded_tasks) = board(dir, out);
    assert!(!away.is_empty() && !tasks.is_empty());
    assert_eq!(folded_away, away);
    assert_eq!(folded_tasks, tasks);
}

#[test]
fn keyed_folds_give_the_same_rows_every_way_on_the_sample() {
    let dir = Dir::new();
    let log = std::fs::read(repo().join("testdata/tasks/events.ndjson")).unwrap();
    same_rows_every_way(&dir, &log, &["--with-history"]);
    assert_board_agrees_with_sql(&dir, "one");
    // Refolded from the output's events alone, the same tables.
    let model = eventfold::model::parse_model("model.toml", &model_with_folds()).unwrap();
    let refolded = dir.join("refolded");
    let counts = eventfold::pipeline::refold(
        &model,
        "model.toml",
        &dir.join("one/events.parquet"),
        &refolded,
        None,
    )
    .unwrap();
    // The shipped model's fold, and the two added here.
    assert_eq!(counts.len(), 3);
    std::fs::copy(
        dir.join("one/manifest.json"),
        refolded.join("manifest.json"),
    )
    .unwrap();
    assert_same_projections(&dir, "one", "refolded");
    let only = ["project_actors".to_owned()];
    let counts = eventfold::pipeline::refold(
        &model,
        "model.toml",
        &dir.join("one/events.parquet"),
        &dir.join("only"),
        Some(&only),
    )
    .unwrap();
    assert_eq!(counts.keys().collect::<Vec<_>>(), ["project_actors"]);
    assert!(!dir.join("only/projections/assignee_load.parquet").exists());
    let unknown = ["nope".to_owned()];
    let error = eventfold::pipeline::refold(
        &model,
        "model.toml",
        &dir.join("one/events.parquet"),
        &dir.join("x"),
        Some(&unknown),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "model.toml declares no keyed fold \"nope\" (declared: assignee_tasks, assignee_load, project_actors)"
    );
}

#[test]
fn keyed_folds_give_the_same_rows_every_way_on_a_generated_log() {
    let dir = Dir::new();
    let log = generated(&dir, 20_000, 3, "0.02");
    same_rows_every_way(&dir, &log, &["--with-history"]);
    assert_board_agrees_with_sql(&dir, "one");
}

/// A rule whose key path some events lack fails the run, naming the model's
/// line, the count and the first event; the previous output stays.
#[test]
fn events_without_their_key_fail_the_run_and_keep_the_previous_output() {
    let dir = Dir::new();
    dir.write("model.toml", model_with_folds());
    let sample = repo().join("testdata/tasks/events.ndjson");
    let sample = sample.to_str().unwrap();
    dir.ok(&["run", "-m", "model.toml", "-i", sample, "--out", "out"]);
    let before = std::fs::read(dir.join("out/manifest.json")).unwrap();
    let broken = format!(
        "{}\n[projections.commenters]\nkey = {{ author = \"string\" }}\nfields = {{ n = \"int\" }}\n[[projections.commenters.on]]\naggregate = \"task\"\nevents = [\"TaskCommented\"]\nkey = {{ author = \"author\" }}\nincrement = {{ n = 1 }}\n",
        model_with_folds()
    );
    let key_line = broken.lines().count() - 1;
    dir.write("model.toml", &broken);
    let outcome = dir.eventfold(&["run", "-m", "model.toml", "-i", sample, "--out", "out"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    let commented = dir.query_json(
        "out",
        "SELECT count(*) AS n, min(position) AS first FROM events e WHERE event_type = 'TaskCommented' \
         AND aggregate_type = 'task' AND position NOT IN (SELECT position FROM findings WHERE rule = 'duplicate_version')",
    );
    let (count, first) = (
        commented[0]["n"].as_u64().unwrap(),
        commented[0]["first"].as_u64().unwrap(),
    );
    assert!(count > 100);
    let expected = format!(
        "model.toml:{key_line}: projection \"commenters\", rule 1: {count} event(s) have no key at payload path \"author\"; the first: "
    );
    assert!(
        outcome.stderr.contains(&expected),
        "{}\nexpected: {expected}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains(&format!(", position {first}\n")),
        "{}",
        outcome.stderr
    );
    assert_eq!(
        std::fs::read(dir.join("out/manifest.json")).unwrap(),
        before
    );
    assert!(!dir.join("out/projections/commenters.parquet").exists());
}

/// A real log: the Volvo IT incidents, with a keyed fold per support team
/// (the payload's "Involved ST") counting its events, its waits and the
/// incidents it touched. Pinned, and the counts checked against SQL.
#[test]
fn a_fold_per_support_team_over_the_volvo_incidents() {
    let dir = Dir::new();
    let volvo = repo().join("testdata/real/volvo");
    let model = std::fs::read_to_string(volvo.join("model.toml")).unwrap();
    let events = r#"["Queued-Awaiting Assignment", "Accepted-In Progress", "Accepted-Assigned", "Accepted-Wait", "Accepted-Wait - User", "Completed-Resolved", "Completed-Closed"]"#;
    dir.write(
        "model.toml",
        format!(
            "{model}\n[projections.team_load]\nkey = {{ team = \"string\" }}\nfields = {{ events = \"int\", waits = \"int\", incidents = \"list\", last_at = \"timestamp\" }}\n\
             [[projections.team_load.on]]\naggregate = \"incident\"\nevents = {events}\nkey = {{ team = \"Involved ST\" }}\nincrement = {{ events = 1 }}\nadd = {{ incidents = \"@stream_id\" }}\nmax = {{ last_at = \"@occurred_at\" }}\n\
             [[projections.team_load.on]]\naggregate = \"incident\"\nevents = [\"Accepted-Wait\", \"Accepted-Wait - User\"]\nkey = {{ team = \"Involved ST\" }}\nwhen = {{ \"@before.status\" = \"Accepted\" }}\nincrement = {{ waits = 1 }}\n"
        ),
    );
    let csv = volvo.join("incidents-first-600.csv");
    let mapping = volvo.join("mapping.toml");
    let (csv, mapping) = (csv.to_str().unwrap(), mapping.to_str().unwrap());
    dir.ok(&[
        "run",
        "-m",
        "model.toml",
        "--mapping",
        mapping,
        "-i",
        csv,
        "--out",
        "out",
    ]);
    let batch = rows(&dir.join("out/projections/team_load.parquet"));
    let teams = text_column(&batch, "team");
    let counts = batch
        .column_by_name("events")
        .unwrap()
        .as_primitive::<Int64Type>();
    let folded: BTreeMap<String, i64> = (0..batch.num_rows())
        .map(|r| (teams.value(r).to_owned(), counts.value(r)))
        .collect();
    let sql = dir.query_json(
        "out",
        &format!(
            "SELECT json_get_str(payload, 'Involved ST') AS team, count(*) AS n FROM events \
             WHERE event_type IN ({}) GROUP BY 1 ORDER BY 1",
            events.trim_matches(['[', ']']).replace('"', "'")
        ),
    );
    let expected: BTreeMap<String, i64> = (sql.iter())
        .map(|r| {
            (
                r["team"].as_str().unwrap().to_owned(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(folded, expected);
    // Pinned: the rows, the busiest team and its row.
    let busiest = folded
        .iter()
        .max_by_key(|(team, n)| (**n, std::cmp::Reverse(*team)))
        .unwrap();
    assert_eq!(
        (batch.num_rows(), busiest.0.as_str(), *busiest.1),
        PINNED_TEAMS
    );
    let row = (0..batch.num_rows())
        .find(|r| teams.value(*r) == busiest.0)
        .unwrap();
    let waits = batch
        .column_by_name("waits")
        .unwrap()
        .as_primitive::<Int64Type>();
    let incidents = batch
        .column_by_name("incidents")
        .unwrap()
        .as_list::<i32>()
        .value(row);
    let all_waits: i64 = waits.values().iter().sum();
    assert_eq!((incidents.len(), all_waits), PINNED_BUSIEST);
    // The waits are the wait events made in status Accepted.
    let waited = dir.query_json(
        "out",
        "SELECT count(*) AS n FROM transitions WHERE from_status = 'Accepted' \
         AND event_type IN ('Accepted-Wait', 'Accepted-Wait - User')",
    );
    assert_eq!(waited[0]["n"].as_i64(), Some(all_waits));
}

/// Rows of team_load on the Volvo sample, its busiest team and that team's events.
const PINNED_TEAMS: (usize, &str, i64) = (29, "V37 2nd", 161);
/// The busiest team's incidents, and the waits of every team.
const PINNED_BUSIEST: (usize, i64) = (20, 59);

/// An incremental run refuses a previous keyed fold table whose columns are
/// not those the model declares, and keeps the previous output.
#[test]
fn a_previous_fold_table_of_other_columns_is_refused() {
    let dir = Dir::new();
    dir.write("model.toml", model_with_folds());
    let log = std::fs::read(repo().join("testdata/tasks/events.ndjson")).unwrap();
    let parts = split_lines(&log, 2);
    dir.write("part1.ndjson", &parts[0]);
    dir.write("part2.ndjson", &parts[1]);
    let night = |part: &str| {
        let args = [
            "run",
            "--incremental",
            "-m",
            "model.toml",
            "-i",
            part,
            "--out",
            "out",
        ];
        dir.eventfold(&args)
    };
    assert_eq!(night("part1.ndjson").code, 0);
    let table = dir.join("out/projections/assignee_load.parquet");
    std::fs::copy(dir.join("out/streams.parquet"), &table).unwrap();
    let before = std::fs::read(dir.join("out/manifest.json")).unwrap();
    let outcome = night("part2.ndjson");
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr.contains(
            "cannot run incrementally on out: out/projections/assignee_load.parquet does not have the columns eventfold writes there"
        ),
        "{}",
        outcome.stderr
    );
    assert_eq!(
        std::fs::read(dir.join("out/manifest.json")).unwrap(),
        before
    );
}
