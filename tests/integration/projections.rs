//! SQL projections end to end: what `run` builds and how other tools open it,
//! what `content_sha256` covers, bad definitions (exit 2, the previous output
//! untouched), `project` (rebuild one and what reads it, equal to a full run,
//! refusals), `diff` and `check` on projections, one on a real incident log,
//! and the starter projection of `init`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::util::{python, repo, Dir};
use serde_json::{json, Value};

/// The task domain's projections, as shipped (and embedded).
const TASK_PROJECTIONS: [&str; 4] = [
    "actor_workload",
    "assignee_board",
    "project_progress",
    "project_throughput",
];

/// Copies the task domain's projections into `dir/folder`, with `edit`
/// applied to each file's text, plus `extra` files; returns the folder's name.
fn projections_folder<'a>(
    dir: &Dir,
    folder: &'a str,
    edit: impl Fn(&str) -> String,
    extra: &[(&str, &str)],
) -> &'a str {
    std::fs::create_dir_all(dir.join(folder)).unwrap();
    for name in TASK_PROJECTIONS {
        let file = format!("{name}.sql");
        let text =
            std::fs::read_to_string(repo().join("testdata/tasks/projections").join(&file)).unwrap();
        dir.write(&format!("{folder}/{file}"), edit(&text));
    }
    write_folder(dir, folder, extra);
    folder
}

/// Writes `files` (name, text) into `dir/folder`.
fn write_folder(dir: &Dir, folder: &str, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join(folder)).unwrap();
    for (name, text) in files {
        dir.write(&format!("{folder}/{name}"), text);
    }
}

/// The edit of the tests below: project_progress counts a task overdue after
/// 2 idle days rather than 7 (only its `overdue` column changes).
fn two_overdue_days(text: &str) -> String {
    text.replace("-- param: overdue_days = 7", "-- param: overdue_days = 2")
}

/// Every file under `root` (relative path → bytes).
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                files.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// Copies the folder `from` to `to` (inside `dir`), byte for byte.
fn copy_output(dir: &Dir, from: &str, to: &str) {
    for (name, bytes) in snapshot(&dir.join(from)) {
        let target = dir.join(to).join(name);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
}

/// The names in `dir` of a run's temporary folders (`.NAME.tmp-PID`).
fn temporary_folders(dir: &Dir) -> Vec<String> {
    std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp-"))
        .collect()
}

/// The identity of each file of `out/projections/` (inode on Unix, else bytes).
fn projection_files(dir: &Dir, out: &str) -> BTreeMap<String, String> {
    let folder = dir.join(out).join("projections");
    std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            #[cfg(unix)]
            let identity = {
                use std::os::unix::fs::MetadataExt;
                std::fs::metadata(&path).unwrap().ino().to_string()
            };
            #[cfg(not(unix))]
            let identity = format!("{:?}", std::fs::read(&path).unwrap());
            (name, identity)
        })
        .collect()
}

/// The rows of a projection, ordered by its key as written.
fn rows(dir: &Dir, out: &str, table: &str) -> Vec<Value> {
    dir.query_json(out, &format!("SELECT * FROM {table}"))
}

/// The names of the SQL projections a manifest lists.
fn sql_projections(manifest: &Value) -> Vec<&str> {
    (manifest["projections"].as_object().unwrap().iter())
        .filter(|(_, entry)| entry["kind"] == "sql")
        .map(|(name, _)| name.as_str())
        .collect()
}

/// What pyarrow and DuckDB see in each `projections/*.parquet` of `out`:
/// name → {rows (the footer's), pyarrow [[column, type]], duckdb [[column, type]], duckdb_rows}.
fn opened_by_python(dir: &Dir, out: &str) -> BTreeMap<String, Value> {
    const SCRIPT: &str = r#"
import glob, json, os, sys
import duckdb, pyarrow.parquet as pq
tables = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "projections", "*.parquet"))):
    name = os.path.basename(path)[: -len(".parquet")]
    schema = pq.read_schema(path)
    described = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    tables[name] = {
        "rows": pq.ParquetFile(path).metadata.num_rows,
        "pyarrow": [[f.name, str(f.type)] for f in schema],
        "duckdb": [[row[0], row[1]] for row in described],
        "duckdb_rows": duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()[0][0],
    }
print(json.dumps(tables))
"#;
    let output = std::process::Command::new(python())
        .args(["-c", SCRIPT])
        .arg(dir.join(out))
        .output()
        .expect("run python");
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

#[test]
fn run_builds_the_task_projections_that_pyarrow_and_duckdb_open_with_their_types() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let manifest = dir.manifest("out");
    let counts = manifest["counts"]["projections"].as_object().unwrap();
    // The SQL ones (keyed folds of the model, when it has any, besides them).
    assert_eq!(sql_projections(&manifest), TASK_PROJECTIONS, "{manifest}");
    let listed = manifest["projections"].as_object().unwrap();
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        listed.keys().collect::<Vec<_>>()
    );
    let keys: [&[&str]; 4] = [
        &["actor", "week"],
        &["assignee"],
        &["project_id"],
        &["project_id", "week"],
    ];
    for (name, key) in TASK_PROJECTIONS.into_iter().zip(keys) {
        let entry = &manifest["projections"][name];
        assert_eq!(entry["kind"], "sql", "{name}: {entry}");
        assert_eq!(entry["key"], json!(key), "{name}: {entry}");
        let source = entry["source"].as_str().unwrap();
        assert!(source.ends_with(&format!("{name}.sql")), "{entry}");
        // The definition is copied beside its table as it was read.
        let shipped =
            std::fs::read(repo().join(format!("testdata/tasks/projections/{name}.sql"))).unwrap();
        let copy = std::fs::read(dir.join(&format!("out/projections/{name}.sql"))).unwrap();
        assert_eq!(copy, shipped, "{name}");
    }

    let opened = opened_by_python(&dir, "out");
    assert_eq!(
        opened.keys().collect::<Vec<_>>(),
        counts.keys().collect::<Vec<_>>(),
        "{opened:?}"
    );
    for (name, table) in &opened {
        let counted = dir.query_json("out", &format!("SELECT count(*) AS n FROM {name}"));
        assert_eq!(counted, [json!({"n": counts[name]})], "{name}");
        assert_eq!(table["rows"], counts[name], "{name}: footer");
        assert_eq!(table["duckdb_rows"], counts[name], "{name}: DuckDB");
        assert!(counts[name].as_u64().unwrap() > 0, "{name}");
    }
    // Strings as plain strings like every other table of the output (not
    // the string views DataFusion reads them back as), counts as int64,
    // weeks as UTC timestamps; DuckDB's names for the same types.
    let duckdb_type = |arrow: &str| match arrow {
        "string" => "VARCHAR",
        "int64" => "BIGINT",
        "double" => "DOUBLE",
        "timestamp[us, tz=UTC]" => "TIMESTAMP WITH TIME ZONE",
        other => panic!("unexpected type {other}"),
    };
    let expected: [(&str, &[(&str, &str)]); 5] = [
        (
            "actor_workload",
            &[
                ("actor", "string"),
                ("week", "timestamp[us, tz=UTC]"),
                ("events", "int64"),
                ("streams_touched", "int64"),
                ("tasks_completed", "int64"),
                ("comments", "int64"),
            ],
        ),
        (
            "assignee_board",
            &[
                ("assignee", "string"),
                ("open", "int64"),
                ("in_progress", "int64"),
                ("blocked", "int64"),
                ("reassigned_away", "int64"),
                ("last_assigned_at", "timestamp[us, tz=UTC]"),
                ("oldest_open_task", "string"),
                ("oldest_open_since", "timestamp[us, tz=UTC]"),
            ],
        ),
        (
            "assignee_tasks",
            &[
                ("assignee", "string"),
                ("open", "int64"),
                ("in_progress", "int64"),
                ("blocked", "int64"),
                ("reassigned_away", "int64"),
                ("last_assigned_at", "timestamp[us, tz=UTC]"),
            ],
        ),
        (
            "project_progress",
            &[
                ("project_id", "string"),
                ("project_name", "string"),
                ("project_owner", "string"),
                ("project_status", "string"),
                ("tasks", "int64"),
                ("open", "int64"),
                ("in_progress", "int64"),
                ("blocked", "int64"),
                ("done", "int64"),
                ("cancelled", "int64"),
                ("archived", "int64"),
                ("share_done", "double"),
                ("overdue", "int64"),
            ],
        ),
        (
            "project_throughput",
            &[
                ("project_id", "string"),
                ("week", "timestamp[us, tz=UTC]"),
                ("completed", "int64"),
                ("lead_time_p50_hours", "double"),
                ("lead_time_p90_hours", "double"),
                ("lead_time_max_hours", "double"),
            ],
        ),
    ];
    for (name, columns) in expected {
        let pyarrow: Vec<Value> = columns.iter().map(|(c, t)| json!([c, t])).collect();
        let duckdb: Vec<Value> = (columns.iter())
            .map(|(c, t)| json!([c, duckdb_type(t)]))
            .collect();
        assert_eq!(opened[name]["pyarrow"], json!(pyarrow), "{name}");
        assert_eq!(opened[name]["duckdb"], json!(duckdb), "{name}");
    }
}

#[test]
fn content_hash_follows_the_projections_rows_not_their_text() {
    let dir = Dir::new();
    let same = projections_folder(&dir, "same", str::to_owned, &[]);
    let edited = projections_folder(&dir, "edited", two_overdue_days, &[]);
    // A comment is not a row: the definition's text changes, its table not.
    let commented = projections_folder(
        &dir,
        "commented",
        |text| text.replacen('\n', "\n-- A note that changes no row.\n", 1),
        &[],
    );
    for (out, folder) in [("a", same), ("b", same), ("c", edited), ("d", commented)] {
        dir.ok(&["run", "--out", out, "--projections", folder]);
    }
    let manifest = |out: &str| dir.assert_file_hashes(out);
    let (a, b, c, d) = (manifest("a"), manifest("b"), manifest("c"), manifest("d"));
    assert_eq!(a["content_sha256"], b["content_sha256"]);
    assert_eq!(a["content_sha256"], d["content_sha256"]);
    assert_ne!(a["content_sha256"], c["content_sha256"]);
    // The edit changed one file: the edited projection's table.
    let files = |m: &Value| m["files"].as_object().unwrap().clone();
    let (old, new) = (files(&a), files(&c));
    assert_eq!(
        old.keys().collect::<Vec<_>>(),
        new.keys().collect::<Vec<_>>()
    );
    let changed: Vec<&String> = old.keys().filter(|name| old[*name] != new[*name]).collect();
    assert_eq!(changed, ["projections/project_progress.parquet"]);
    assert_ne!(
        rows(&dir, "a", "project_progress"),
        rows(&dir, "c", "project_progress")
    );
}

/// Runs `args` (which must fail with exit 2, saying each of `said`) and
/// asserts that the output `out` is as it was and no temporary folder is left.
fn refused(dir: &Dir, out: &str, args: &[&str], said: &[&str]) {
    let before = snapshot(&dir.join(out));
    let outcome = dir.eventfold(args);
    assert_eq!(outcome.code, 2, "{args:?}: {outcome:?}");
    for words in said {
        assert!(
            outcome.stderr.contains(words),
            "{args:?}: {words:?} missing from:\n{}",
            outcome.stderr
        );
    }
    assert!(snapshot(&dir.join(out)) == before, "{args:?} changed {out}");
    assert_eq!(temporary_folders(dir), Vec::<String>::new(), "{args:?}");
}

/// A folder of definitions, its files (name, text), and what the refusal says.
type BadCase<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);

#[test]
fn a_bad_definition_exits_2_naming_its_file_and_leaves_the_previous_output() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let header = "-- projection: Per actor\n-- key: actor\n";
    let cases: [BadCase; 8] = [
        (
            "syntax",
            &[("broken.sql", "-- projection: P\n-- key: actor\nSELECT actor, count(*) AS n\nFROM events GROUP BY actor ORDER\n")],
            &["syntax/broken.sql", "SQL syntax", "line 4"],
        ),
        (
            "column",
            &[("typo.sql", "-- projection: P\n-- key: actor\nSELECT actor, count(nosuch) AS n FROM events GROUP BY actor\n")],
            &["column/typo.sql", "nosuch"],
        ),
        (
            "table",
            &[("elsewhere.sql", "-- projection: P\n-- key: actor\nSELECT actor, count(*) AS n\nFROM evnts GROUP BY actor\n")],
            &["table/elsewhere.sql:4: reads the table \"evnts\", which the output does not have"],
        ),
        (
            "cycle",
            &[
                ("first.sql", "-- projection: First\n-- key: k\nSELECT k FROM second\n"),
                ("second.sql", "-- projection: Second\n-- key: k\nSELECT k FROM first\n"),
            ],
            &["cycle: first (cycle/first.sql) -> second (cycle/second.sql) -> first"],
        ),
        (
            "keyless",
            &[("nokey.sql", "-- projection: P\nSELECT actor, count(*) AS n FROM events GROUP BY actor\n")],
            &["keyless/nokey.sql:1: the header has no `-- key: COLUMN"],
        ),
        (
            "misspelt",
            &[("keys.sql", "-- projection: P\n-- keys: actor\nSELECT actor, count(*) AS n FROM events GROUP BY actor\n")],
            &["misspelt/keys.sql:2: unknown header key \"keys\""],
        ),
        // Known only once the rows are written: several rows per actor…
        (
            "duplicate",
            &[("per_type.sql", &format!("{header}SELECT actor, event_type, count(*) AS n FROM events WHERE actor IS NOT NULL GROUP BY actor, event_type\n"))],
            &["duplicate/per_type.sql:2: the projection's key (actor) is not unique: actor="],
        ),
        // … or unassigned tasks.
        (
            "null",
            &[("assignees.sql", "-- projection: Per assignee\n-- key: assignee\nSELECT assignee, count(*) AS tasks FROM task GROUP BY assignee\n")],
            &["null/assignees.sql:2: the projection's key (assignee) is null on a row"],
        ),
    ];
    for (folder, files, said) in cases {
        write_folder(&dir, folder, files);
        refused(&dir, "out", &["run", "--projections", folder], said);
    }
}

/// The projection of these tests that reads another: the overall progress.
const OVERALL: (&str, &str) = (
    "progress_overall.sql",
    "-- projection: Progress over all projects\n-- key: scope\n\
     SELECT 'all' AS scope, count(*) AS projects, sum(tasks) AS tasks, sum(overdue) AS overdue\n\
     FROM project_progress\n",
);

#[test]
fn project_rebuilds_the_edited_projection_and_its_readers_as_a_full_run_would_and_diff_names_the_change(
) {
    let dir = Dir::new();
    let first = projections_folder(&dir, "first", str::to_owned, &[OVERALL]);
    dir.ok(&["run", "--out", "a", "--projections", first]);
    copy_output(&dir, "a", "before");
    let files_before = projection_files(&dir, "a");
    let progress_before = rows(&dir, "a", "project_progress");

    let fixed = projections_folder(&dir, "fixed", two_overdue_days, &[OVERALL]);
    let said = dir.ok(&[
        "project",
        "project_progress",
        "--out",
        "a",
        "--projections",
        fixed,
    ]);
    let rebuilt: Vec<&str> = (said.lines())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|word| !word.ends_with(':'))
        .collect();
    assert_eq!(rebuilt, ["progress_overall", "project_progress"], "{said}");
    assert!(said.contains("projections: 2 rebuilt in a ("), "{said}");
    // The others' files are the same files (linked, not written again).
    let files_after = projection_files(&dir, "a");
    for (name, identity) in &files_before {
        let rebuilt =
            name.starts_with("project_progress.") || name.starts_with("progress_overall.");
        assert_eq!(&files_after[name] != identity, rebuilt, "{name}");
    }
    assert_eq!(
        files_after.keys().collect::<Vec<_>>(),
        files_before.keys().collect::<Vec<_>>()
    );
    assert_ne!(rows(&dir, "a", "project_progress"), progress_before);
    let copied = std::fs::read_to_string(dir.join("a/projections/project_progress.sql")).unwrap();
    assert!(copied.contains("overdue_days = 2"), "{copied}");

    // What a full run with the fixed definitions writes, to the byte.
    dir.ok(&["run", "--out", "full", "--projections", fixed]);
    let (project, full) = (dir.assert_file_hashes("a"), dir.manifest("full"));
    assert_eq!(project["content_sha256"], full["content_sha256"]);
    assert_eq!(project["files"], full["files"]);
    assert_eq!(project["counts"], full["counts"]);
    let source = project["projections"]["project_progress"]["source"]
        .as_str()
        .unwrap();
    assert!(source.starts_with("fixed/"), "{source}");

    // diff: the edited column of the edited projection and of its reader.
    let outcome = dir.eventfold(&["diff", "before", "a", "--format", "json"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let report: Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(report["changed"], true, "{report}");
    let changed_rows = |table: &str| -> u64 {
        let line = (report["tables"].as_array().unwrap().iter())
            .find(|t| t["table"] == table)
            .unwrap_or_else(|| panic!("{table} missing from {report}"));
        let kind = if TASK_PROJECTIONS.contains(&table) || table == "progress_overall" {
            "projection"
        } else {
            "state"
        };
        assert_eq!(line["kind"], kind, "{line}");
        assert_eq!(
            (&line["only_in_a"], &line["only_in_b"]),
            (&json!(0), &json!(0)),
            "{line}"
        );
        line["changed"].as_u64().unwrap()
    };
    let old_overdue: BTreeMap<String, Value> = (progress_before.iter())
        .map(|row| {
            (
                row["project_id"].as_str().unwrap().to_owned(),
                row["overdue"].clone(),
            )
        })
        .collect();
    let more_overdue = (rows(&dir, "a", "project_progress").iter())
        .filter(|row| row["overdue"] != old_overdue[row["project_id"].as_str().unwrap()])
        .count() as u64;
    assert!(more_overdue > 0);
    assert_eq!(changed_rows("project_progress"), more_overdue);
    assert_eq!(changed_rows("progress_overall"), 1);
    for table in [
        "actor_workload",
        "assignee_board",
        "project_throughput",
        "task",
        "project",
    ] {
        assert_eq!(changed_rows(table), 0, "{table}");
    }
    let details = report["details"].as_array().unwrap();
    assert_eq!(details.len() as u64, more_overdue + 1, "{report}");
    for detail in details {
        assert_eq!(detail["kind"], "projection", "{detail}");
        assert_eq!(detail["field"], "overdue", "{detail}");
        assert_eq!(detail["change"], "changed", "{detail}");
    }
    let text = dir.eventfold(&["diff", "before", "a"]);
    assert!(
        text.stdout.contains(&format!(
            "projection  project_progress                  0          0 {more_overdue:>10}"
        )) && text.stdout.contains("  overdue "),
        "{}",
        text.stdout
    );
}

#[test]
fn project_refuses_an_unknown_name_another_model_and_a_folder_that_is_no_output() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    refused(
        &dir,
        "out",
        &["project", "nosuch"],
        &[
            "no projection is named \"nosuch\"; the projections: actor_workload, assignee_board, ",
            "project_progress, project_throughput",
        ],
    );

    let model = std::fs::read_to_string(repo().join("testdata/tasks/model.toml")).unwrap();
    let handlers = model.replace(
        "set = { completed_at = \"@occurred_at\", completed_by = \"@actor\" }",
        "set = { completed_at = \"@occurred_at\" }",
    );
    assert_ne!(handlers, model);
    dir.write("handlers.toml", handlers);
    refused(
        &dir,
        "out",
        &["project", "--model", "handlers.toml"],
        &["handlers.toml changes the aggregates or upcasters of the model that folded out"],
    );

    // A model that differs only in a comment is the same model: accepted,
    // and its SQL projections (the output's) are kept and rebuilt.
    dir.write("commented.toml", format!("# the same model\n{model}"));
    let said = dir.ok(&["project", "--model", "commented.toml"]);
    for name in TASK_PROJECTIONS {
        assert!(said.contains(&format!("  {name} ")), "{name}: {said}");
    }
    assert_eq!(sql_projections(&dir.manifest("out")), TASK_PROJECTIONS);

    std::fs::create_dir(dir.join("plain")).unwrap();
    dir.write("plain/notes.txt", "not an output");
    refused(
        &dir,
        "plain",
        &["project", "--out", "plain"],
        &["plain is not an eventfold output folder"],
    );
}

#[test]
fn project_without_a_folder_keeps_the_projections_of_an_output_of_another_model() {
    let dir = Dir::new();
    let model = std::fs::read_to_string(repo().join("testdata/tasks/model.toml")).unwrap();
    dir.write("model.toml", format!("# my copy\n{model}"));
    let first = projections_folder(&dir, "mine", str::to_owned, &[]);
    dir.ok(&["run", "--model", "model.toml", "--projections", first]);
    // Without --projections there is nothing to rebuild them from: dropping
    // them all silently is refused, naming the folder they came from.
    refused(
        &dir,
        "out",
        &["project"],
        &[
            "no projections folder is given, and out has SQL projections (actor_workload, assignee_board, project_progress, project_throughput)",
            "hint: pass --projections DIR (they were built from mine)",
        ],
    );
    let before = dir.manifest("out");
    dir.ok(&["project", "--projections", "mine"]);
    let after = dir.manifest("out");
    assert_eq!(sql_projections(&after), TASK_PROJECTIONS);
    assert_eq!(after["content_sha256"], before["content_sha256"]);
}

#[test]
fn check_runs_each_projection_contract_as_a_junit_case() {
    let dir = Dir::new();
    dir.generate(400, 3, "clean.ndjson");
    let statuses = |accepted: &str| {
        format!(
            "-- projection: Tasks per status\n-- key: status\n-- accepted_values: status = {accepted}\n\
             SELECT status, count(*) AS tasks FROM task GROUP BY status\n"
        )
    };
    let projects = |target: &str| {
        format!(
            "-- projection: Tasks per project\n-- key: project_id\n-- references: project_id -> {target}\n\
             SELECT project_id, count(*) AS tasks FROM task GROUP BY project_id\n"
        )
    };
    let all = "open|in_progress|blocked|done|cancelled|archived";
    let broken = (
        statuses("open|in_progress|blocked"),
        projects("task.stream_id"),
    );
    let kept = (statuses(all), projects("project.stream_id"));
    for (out, (statuses, projects)) in [("broken", broken), ("kept", kept)] {
        let folder = format!("{out}-projections");
        write_folder(
            &dir,
            &folder,
            &[("statuses.sql", &statuses), ("per_project.sql", &projects)],
        );
        let args = [
            "run",
            "--input",
            "clean.ndjson",
            "--out",
            out,
            "--projections",
            &folder,
        ];
        dir.ok(&args);
    }
    // Neither contract holds: done (and the other closed statuses) are not
    // accepted, and no project id is a task's.
    let outcome = dir.eventfold(&["check", "--out", "broken", "--junit", "broken.xml"]);
    assert_eq!(outcome.code, 1, "{outcome:?}");
    for line in [
        "FAIL     error   per_project.references",
        "ok       error   per_project.key ",
        "FAIL     error   statuses.accepted_values",
        "ok       error   statuses.key ",
    ] {
        assert!(
            outcome.stdout.contains(line),
            "{line} missing from:\n{}",
            outcome.stdout
        );
    }
    assert!(
        outcome.stdout.contains("broken/projections/statuses.sql:3"),
        "{}",
        outcome.stdout
    );
    let done = dir.query_json(
        "broken",
        "SELECT count(DISTINCT status) AS n FROM task WHERE status NOT IN ('open', 'in_progress', 'blocked')",
    );
    let junit = std::fs::read_to_string(dir.join("broken.xml")).unwrap();
    let suite = junit
        .split("<testsuite name=\"eventfold.projections\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no projections suite in {junit}"));
    // The two projections' four contracts, and the key of the model's keyed fold.
    assert!(suite.starts_with(" tests=\"5\" failures=\"2\""), "{junit}");
    for (case, fails) in [
        ("per_project.key", false),
        ("per_project.references", true),
        ("statuses.key", false),
        ("statuses.accepted_values", true),
    ] {
        let opening = format!("name=\"{case}\"");
        let testcase = suite
            .split("<testcase ")
            .find(|c| c.contains(&opening))
            .unwrap_or_else(|| panic!("no {case} in {junit}"));
        assert_eq!(testcase.contains("<failure "), fails, "{case}: {testcase}");
    }
    let accepted = suite
        .split("<testcase ")
        .find(|c| c.contains("name=\"statuses.accepted_values\""))
        .unwrap();
    assert!(
        accepted.contains(&format!("message=\"{} violating rows", done[0]["n"])),
        "{accepted}"
    );

    let outcome = dir.eventfold(&["check", "--out", "kept", "--junit", "kept.xml"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let junit = std::fs::read_to_string(dir.join("kept.xml")).unwrap();
    assert!(
        junit.contains("<testsuite name=\"eventfold.projections\" tests=\"5\" failures=\"0\""),
        "{junit}"
    );
}

#[test]
fn a_projection_of_the_volvo_incident_log_gives_its_pinned_rows() {
    // Counted apart, with Python over the CSV: per service request, the status
    // its last row leads to in model.toml, the org line of its last
    // "Queued-Awaiting Assignment" row, its rows, its "Accepted-Wait…" rows,
    // and the hours between its first and last row.
    let expected = json!([
        {"status": "Accepted", "team": "Org line C", "incidents": 1, "events": 6, "waits": 1, "hours_open": 97.3},
        {"status": "Closed", "team": "(none)", "incidents": 1, "events": 8, "waits": 2, "hours_open": 8745.6},
        {"status": "Closed", "team": "Org line A2", "incidents": 2, "events": 36, "waits": 0, "hours_open": 13078.6},
        {"status": "Closed", "team": "Org line C", "incidents": 3, "events": 78, "waits": 17, "hours_open": 9371.9},
        {"status": "Closed", "team": "Org line V7n", "incidents": 20, "events": 472, "waits": 50, "hours_open": 8158.1},
    ]);
    let dir = Dir::new();
    let folder = repo().join("testdata/real/volvo");
    let path = |name: &str| -> PathBuf { folder.join(name) };
    let arg = |path: &PathBuf| path.to_str().unwrap().to_owned();
    dir.ok(&[
        "run",
        "--input",
        &arg(&path("incidents-first-600.csv")),
        "--mapping",
        &arg(&path("mapping.toml")),
        "--model",
        &arg(&path("model.toml")),
        "--projections",
        &arg(&path("projections")),
    ]);
    assert_eq!(
        Value::Array(rows(&dir, "out", "incidents_per_team")),
        expected
    );
    assert_eq!(
        dir.manifest("out")["counts"]["projections"],
        json!({"incidents_per_team": 5})
    );
}

#[test]
fn init_writes_a_starter_projection_that_run_builds() {
    let dir = Dir::new();
    let wrote = dir.ok(&["init"]);
    assert!(
        wrote.contains("wrote ./projections/events_per_type.sql"),
        "{wrote}"
    );
    dir.ok(&["run"]);
    assert_eq!(
        dir.manifest("out")["projections"]["events_per_type"]["key"],
        json!(["aggregate_type", "event_type"])
    );
    let built = rows(&dir, "out", "events_per_type");
    let counted = dir.query_json(
        "out",
        "SELECT aggregate_type, event_type, count(*) AS events, count(DISTINCT stream_id) AS streams, \
         min(occurred_at) AS first_occurred_at, max(occurred_at) AS last_occurred_at \
         FROM events GROUP BY aggregate_type, event_type ORDER BY aggregate_type, event_type",
    );
    assert!(counted.len() > 5, "{counted:?}");
    assert_eq!(built, counted);

    // Like the other files: kept unless --force.
    std::fs::remove_file(dir.join("eventfold.toml")).unwrap();
    std::fs::remove_file(dir.join("model.toml")).unwrap();
    dir.write("projections/events_per_type.sql", "-- mine\n");
    let again = dir.eventfold(&["init"]);
    assert_eq!(again.code, 2, "{again:?}");
    assert!(
        again
            .stderr
            .contains("projections/events_per_type.sql exists; pass --force"),
        "{again:?}"
    );
    assert!(!dir.join("eventfold.toml").exists());
    dir.ok(&["init", "--force"]);
    let text = std::fs::read_to_string(dir.join("projections/events_per_type.sql")).unwrap();
    assert!(text.starts_with("-- projection: "), "{text}");
}

/// A projection with `-- partition: COLUMN = EXPR` is rebuilt by an
/// incremental run only for the partitions the night's events have: the
/// previous rows of the other partitions are kept as they are (here,
/// deliberately altered, so that keeping them shows), the touched ones equal
/// a full run's; a changed definition is built whole again.
#[test]
fn an_incremental_run_rebuilds_only_the_partitions_its_events_touch() {
    let dir = Dir::new();
    let log = dir.ok(&["generate", "--events", "3000", "--seed", "11"]);
    let lines: Vec<&str> = log.lines().collect();
    dir.write("n1.ndjson", lines[..2000].join("\n") + "\n");
    dir.write("n2.ndjson", lines[2000..2600].join("\n") + "\n");
    dir.write("n3.ndjson", lines[2600..].join("\n") + "\n");
    let daily = "-- projection: events per day\n-- key: day\n\
                 -- partition: day = date_trunc('day', occurred_at)\n\
                 SELECT date_trunc('day', occurred_at) AS day, count(*) AS events FROM events GROUP BY 1\n";
    write_folder(&dir, "p", &[("daily.sql", daily)]);
    let run = |inputs: &[&str], out: &str, incremental: bool| {
        let mut args = vec!["run", "--projections", "p", "--out", out];
        for input in inputs {
            args.extend(["-i", input]);
        }
        if incremental {
            args.push("--incremental");
        }
        dir.ok(&args);
    };
    let days = |out: &str| -> BTreeMap<String, i64> {
        let csv = dir.ok(&[
            "query",
            "--out",
            out,
            "--format",
            "csv",
            "SELECT day, events FROM daily",
        ]);
        csv.lines()
            .skip(1)
            .map(|line| {
                let (day, events) = line.rsplit_once(',').unwrap();
                (day.to_owned(), events.parse().unwrap())
            })
            .collect()
    };
    run(&["n1.ndjson"], "inc", false);
    // The first night's rows, each altered by a million.
    let altered = dir.join("altered.parquet");
    dir.ok(&[
        "query",
        "--out",
        "inc",
        "SELECT day, events + 1000000 AS events FROM daily",
        "--format",
        "parquet",
        "-o",
        altered.to_str().unwrap(),
    ]);
    std::fs::copy(&altered, dir.join("inc/projections/daily.parquet")).unwrap();
    let first = days("inc");
    run(&["n1.ndjson", "n2.ndjson"], "inc", true);
    run(&["n1.ndjson", "n2.ndjson"], "full", false);
    let touched: std::collections::BTreeSet<String> = dir
        .ok(&[
            "query",
            "--out",
            "full",
            "--format",
            "csv",
            "SELECT DISTINCT date_trunc('day', occurred_at) AS day FROM events WHERE source LIKE 'n2.ndjson:%'",
        ])
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect();
    let (after, full) = (days("inc"), days("full"));
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        full.keys().collect::<Vec<_>>()
    );
    assert!(
        !touched.is_empty() && touched.len() < full.len(),
        "{touched:?}"
    );
    for (day, events) in &after {
        match touched.contains(day) {
            true => assert_eq!(events, &full[day], "{day}: touched, rebuilt"),
            false => assert_eq!(events, &first[day], "{day}: untouched, kept"),
        }
    }
    // Another definition (one more comment line): built whole, as a full run.
    write_folder(
        &dir,
        "p",
        &[("daily.sql", &format!("-- the same rows\n{daily}"))],
    );
    run(&["n1.ndjson", "n2.ndjson", "n3.ndjson"], "inc", true);
    run(&["n1.ndjson", "n2.ndjson", "n3.ndjson"], "full", false);
    assert_eq!(days("inc"), days("full"));
}
