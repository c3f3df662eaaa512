//! What a new user tripped over (issue 18): CSV and the table of nested and
//! JSON values, a shell that goes on after any error, errors a person can act
//! on, and a closed stdout that ends every command quietly.

use std::io::Read;
use std::process::{Command, Stdio};

use crate::util::Dir;

/// Issue 18.3: `--format csv` failed on every table with a list column
/// ("Csv error: Nested type List(Utf8) is not supported in CSV"); lists are
/// written as JSON text.
#[test]
fn csv_writes_a_list_column_as_json_text() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    assert_eq!(
        dir.ok(&[
            "query",
            "--format",
            "csv",
            "SELECT stream_id, labels FROM task WHERE stream_id = 'task-9001'"
        ]),
        "stream_id,labels\ntask-9001,\"[\"\"bug\"\"]\"\n"
    );
    for table in ["task", "project"] {
        let csv = dir.ok(&[
            "query",
            "--format",
            "csv",
            &format!("SELECT * FROM {table}"),
        ]);
        assert!(csv.lines().count() > 5, "{csv}");
    }
}

/// Issue 18.3: the values of the JSON functions (`payload->'hours'`, a union
/// type) showed as `{null=}` in the table and failed in CSV and JSON; they are
/// written as the JSON they are, a missing key as empty (null in JSON).
#[test]
fn json_function_values_show_as_json() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let sql = "SELECT version, payload->'hours' AS hours, payload->'assignee' AS who, payload->'nope' AS missing \
               FROM events WHERE stream_id = 'task-9001' AND version IN (2, 5) ORDER BY version";
    let table = dir.ok(&["query", sql]);
    assert!(
        table.contains("| 2       |       | \"ann\" |         |"),
        "{table}"
    );
    assert!(
        table.contains("| 5       | 3.5   |       |         |"),
        "{table}"
    );
    assert!(!table.contains("{"), "{table}");
    assert_eq!(
        dir.ok(&["query", "--format", "csv", sql]),
        "version,hours,who,missing\n2,,\"\"\"ann\"\"\",\n5,3.5,,\n"
    );
    assert_eq!(
        dir.ok(&["query", "--format", "json", sql]).trim(),
        r#"[{"version":2,"hours":null,"who":"ann","missing":null},{"version":5,"hours":3.5,"who":null,"missing":null}]"#
    );
    let nested = r#"SELECT '{"a":{"b":[1,true,null]}}'->'a' AS o, '[2.5]'->0 AS f"#;
    assert_eq!(
        dir.ok(&["query", "--format", "csv", nested]),
        "o,f\n\"{\"\"b\"\":[1,true,null]}\",2.5\n"
    );
    assert_eq!(
        dir.ok(&["query", "--format", "json", nested]).trim(),
        r#"[{"o":{"b":[1,true,null]},"f":2.5}]"#
    );
}

/// Issue 18.3: the shell ended (exit 2) on an error writing CSV, contrary to
/// the README's "a SQL error is printed and the shell goes on".
#[test]
fn the_shell_goes_on_after_any_error() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let script = ".format csv\nSELECT stream_id, labels FROM task WHERE stream_id = 'task-9001';\nSELEC 1;\nSELECT 'after' AS x;\n";
    let outcome = dir.eventfold_with_input(&["shell"], script);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome
            .stdout
            .contains("stream_id,labels\ntask-9001,\"[\"\"bug\"\"]\"\n"),
        "{outcome:?}"
    );
    assert!(outcome.stdout.ends_with("x\nafter\n"), "{outcome:?}");
    assert!(
        outcome.stderr.contains("error: SQL syntax: "),
        "{}",
        outcome.stderr
    );
}

/// Issue 18.3: an error writing a result (here a full disk) ended the shell;
/// it is printed and the shell goes on.
#[test]
fn the_shell_goes_on_after_a_failed_write() {
    use std::io::Write;
    let dir = Dir::new();
    dir.ok(&["run"]);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventfold"))
        .arg("shell")
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .stdin(Stdio::piped())
        .stdout(full)
        .stderr(Stdio::piped())
        .spawn()
        .expect("run eventfold");
    let script = "SELECT 1 AS x;\n.format csv\nSELECT 2 AS y;\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = child.wait_with_output().expect("wait for eventfold");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr
            .matches("error: stdout: No space left on device")
            .count(),
        2,
        "{stderr}"
    );
}

/// Issue 18.3: `.schema nosuch` printed an empty table instead of an error.
#[test]
fn the_shell_schema_of_an_unknown_table_is_an_error() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let outcome = dir.eventfold_with_input(&["shell"], ".schema nosuch\n.schema task\n");
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("error: no table nosuch\n  hint: .tables lists the tables: "),
        "{}",
        outcome.stderr
    );
    // Only the known table's columns are printed.
    assert_eq!(
        outcome.stdout.matches("column_name").count(),
        1,
        "{}",
        outcome.stdout
    );
    assert!(outcome.stdout.contains("| labels"), "{}", outcome.stdout);
}

/// Issue 18.3: the shell added each line of a multi-line statement to the
/// history as an entry of its own; the statement is one entry.
#[test]
fn the_shell_keeps_a_multi_line_statement_as_one_history_entry() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let script = "SELECT count(*) AS n\n  FROM task\n  WHERE status = 'done';\n.tables\n";
    let outcome = dir.eventfold_with_input(&["shell"], script);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let history = std::fs::read_to_string(dir.join(".eventfold_history")).expect("history file");
    // rustyline's history file escapes the newlines of an entry.
    let entries: Vec<&str> = history.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        entries,
        [
            r"SELECT count(*) AS n\n  FROM task\n  WHERE status = 'done';",
            ".tables"
        ],
        "{history}"
    );
}

/// Issue 18.5: a syntax error was `sql: SQL error: ParserError("Expected: an
/// SQL statement, found: SELEC at Line: 1, Column: 1")`.
#[test]
fn a_syntax_error_is_said_like_a_person_with_its_position() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let outcome = dir.eventfold(&["query", "SELEC stream_id FROM task"]);
    assert_eq!(outcome.code, 2);
    assert_eq!(
        outcome.stderr,
        "error: SQL syntax: expected an SQL statement, found SELEC at line 1, column 1\n"
    );
    let outcome = dir.eventfold(&["query", "SELECT stream_id FROM task WHERE"]);
    assert_eq!(
        outcome.stderr,
        "error: SQL syntax: expected an expression, found the end of the statement\n"
    );
}

/// Issue 18.5: `table 'datafusion.public.task_history' not found` said
/// neither that `--with-history` writes it nor which tables there are.
#[test]
fn an_unknown_table_is_named_with_a_hint() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let history = dir.eventfold(&["query", "SELECT * FROM task_history"]);
    assert_eq!(history.code, 2);
    assert_eq!(
        history.stderr,
        "error: sql: table task_history not found\n  hint: task_history is written only by \
         `eventfold run --with-history`; this output was run without it\n"
    );
    let typo = dir.eventfold(&[
        "query",
        "SELECT count(*) FROM tasks JOIN events USING (stream_id)",
    ]);
    assert_eq!(
        typo.stderr,
        "error: sql: table tasks not found\n  hint: the tables of this output: actor_workload, \
         assignee_board, assignee_tasks, events, findings, model_fields, model_statuses, model_transitions, \
         project, project_progress, project_throughput, rejects, streams, task, transitions\n"
    );
    // A CTE is no table of the output, and no error.
    dir.ok(&["query", "WITH t AS (SELECT 1 AS x) SELECT x FROM t"]);
}

/// Issue 18.5: `check` printed `skip` without saying why.
#[test]
fn check_says_why_it_skips_a_check() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    std::fs::create_dir(dir.join("checks")).unwrap();
    dir.write(
        "checks/history_gaps.sql",
        "-- History gaps\n-- severity: error\nSELECT stream_id FROM task_history WHERE false\n",
    );
    let outcome = dir.eventfold(&["check", "--queries", "checks"]);
    let line = outcome
        .stdout
        .lines()
        .find(|l| l.contains("history_gaps"))
        .unwrap_or_else(|| panic!("{outcome:?}"));
    assert!(line.starts_with("skip "), "{line}");
    assert!(
        line.ends_with("(reads task_history, which this output does not have)"),
        "{line}"
    );
    dir.write(
        "checks/history_gaps.sql",
        "-- History gaps\n-- severity: error\nSELEC 1\n",
    );
    let broken = dir.eventfold(&["check", "--queries", "checks"]);
    assert_eq!(broken.code, 2);
    assert!(
        broken
            .stderr
            .contains("history_gaps.sql: SQL syntax: expected an SQL statement"),
        "{}",
        broken.stderr
    );
}

const ORDER_LOG: &str = r#"{"stream_id":"order-1","version":1,"event_type":"OrderPlaced","occurred_at":"2026-02-01T10:00:00Z","payload":{"customer":"ann"}}
{"stream_id":"order-1","version":2,"event_type":"OrderShipped","occurred_at":"2026-02-02T10:00:00Z","payload":{}}
"#;

/// Issue 18.5: `flow` on an output without tasks said there was no flow for
/// `task` without naming the aggregate types the output has.
#[test]
fn flow_names_the_aggregate_types_of_the_output() {
    let dir = Dir::new();
    dir.write("model.toml", crate::cli::MODEL);
    dir.write("orders.ndjson", ORDER_LOG);
    dir.ok(&["run", "--input", "orders.ndjson", "--model", "model.toml"]);
    let outcome = dir.eventfold(&["flow"]);
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.stderr.contains("no aggregate type \"task\" in out\n  hint: its aggregate types: order; pick one with --aggregate, e.g. --aggregate order"),
        "{}",
        outcome.stderr
    );
    assert!(dir
        .ok(&["flow", "--aggregate", "order"])
        .contains("OrderShipped"));
}

/// Issue 18.5: `history` on a folder that is no output said
/// `…/model.toml: No such file or directory`.
#[test]
fn history_outside_an_output_says_it_is_none() {
    let dir = Dir::new();
    let outcome = dir.eventfold(&["history", "task-1"]);
    assert_eq!(outcome.code, 2);
    assert!(
        outcome
            .stderr
            .contains("out is not an eventfold output folder (no manifest.json)"),
        "{}",
        outcome.stderr
    );
}

/// Runs `eventfold ARGS` in `dir`, reads the first `read` bytes of its stdout
/// (none: closed before the command writes), closes it and returns the exit
/// code and stderr.
fn close_early(dir: &Dir, args: &[&str], read: usize) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventfold"))
        .args(args)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run eventfold");
    let mut stdout = child.stdout.take().unwrap();
    let mut start = vec![0u8; read];
    stdout.read_exact(&mut start).expect("some output");
    drop(stdout);
    let output = child.wait_with_output().expect("wait for eventfold");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Issue 18.5: `… | head` printed `error: Broken pipe (os error 32)` (the
/// CSV and JSON writers wrap the io error) or panicked (`println!`); a closed
/// stdout ends every command quietly with exit 0.
#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let all = "SELECT * FROM events";
    for (args, read) in [
        (vec!["query", all], 64),
        (vec!["query", "--format", "csv", all], 64),
        (vec!["query", "--format", "json", all], 64),
        (vec!["generate", "--events", "100000"], 64),
        (vec!["check", "--format", "json"], 0),
        (vec!["history", "task-9001", "--format", "json"], 0),
        (vec!["init", "starter"], 0),
    ] {
        let (code, stderr) = close_early(&dir, &args, read);
        assert_eq!((code, stderr.as_str()), (0, ""), "{args:?}");
    }
}
