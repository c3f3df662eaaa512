//! Results where analysts want them (issue 21.5): `query` writes Parquet and
//! Arrow IPC files, `shell` sends results to a file with `.output`, and the
//! completion scripts and the man page are generated from clap.

use crate::util::{run_python, Dir};

/// pyarrow's reading of a Parquet or Arrow file: its rows as JSON lines.
const READ_ROWS: &str = r#"
import sys, json, pyarrow.parquet as pq, pyarrow.ipc as ipc
path = sys.argv[1]
table = pq.read_table(path) if path.endswith(".parquet") else ipc.open_file(path).read_all()
for row in table.to_pylist():
    print(json.dumps(row, sort_keys=True, default=str))
"#;

fn read_rows(path: &std::path::Path) -> Vec<serde_json::Value> {
    run_python(READ_ROWS, &[path.as_os_str()])
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON row"))
        .collect()
}

const SQL: &str = "SELECT stream_id, status, priority, labels, payload->'title' AS title \
     FROM task JOIN events USING (stream_id) WHERE events.version = 1 AND aggregate_type = 'task' \
     ORDER BY stream_id LIMIT 25";

#[test]
fn query_writes_parquet_and_arrow_files_with_the_rows() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let expected = dir.query_json("out", SQL);
    assert_eq!(expected.len(), 25);
    for format in ["parquet", "arrow"] {
        let file = format!("rows.{format}");
        dir.ok(&["query", "--format", format, "-o", &file, SQL]);
        let rows = read_rows(&dir.join(&file));
        assert_eq!(rows.len(), expected.len(), "{format}");
        for (row, want) in rows.iter().zip(&expected) {
            assert_eq!(row["stream_id"], want["stream_id"], "{format}");
            assert_eq!(row["priority"], want["priority"], "{format}");
            assert_eq!(row["labels"], want["labels"], "{format}");
            // The JSON functions' values are written as JSON text.
            let title = row["title"].as_str().expect("title is text");
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(title).unwrap(),
                want["title"],
                "{format}"
            );
        }
        // Binary to stdout is refused, with the way out.
        let refused = dir.eventfold(&["query", "--format", format, "SELECT 1"]);
        assert_eq!(refused.code, 2, "{refused:?}");
        assert!(refused.stderr.contains("-o FILE"), "{}", refused.stderr);
    }
}

#[test]
fn shell_output_sends_results_to_a_file_and_back() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let script = ".format csv\n.output first.csv\nSELECT 1 AS a;\nSELECT 2 AS b;\n.output\nSELECT 3 AS c;\n.format parquet\nSELECT 4 AS d;\n.output rows.parquet\nSELECT stream_id FROM task ORDER BY stream_id LIMIT 3;\n.format arrow\n.output rows.arrow\nSELECT 5 AS e;\nSELECT 6 AS f;\n";
    let outcome = dir.eventfold_with_input(&["shell"], script);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("first.csv")).unwrap(),
        "a\n1\nb\n2\n"
    );
    assert_eq!(outcome.stdout, "c\n3\n", "{outcome:?}");
    assert!(
        outcome.stderr.contains(".output FILE"),
        "{}",
        outcome.stderr
    );
    let rows = read_rows(&dir.join("rows.parquet"));
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0]["stream_id"], "task-1");
    // A binary file holds one result: the last.
    let rows = read_rows(&dir.join("rows.arrow"));
    assert_eq!(rows, vec![serde_json::json!({"f": 6})]);
}

/// The subcommands of `eventfold --help`.
fn subcommands(dir: &Dir) -> Vec<String> {
    let help = dir.ok(&["--help"]);
    let listed: Vec<String> = help
        .split("Commands:")
        .nth(1)
        .expect("a command list")
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    assert!(listed.len() > 10, "{listed:?}");
    assert!(listed.iter().any(|name| name == "man"), "{listed:?}");
    listed
}

#[test]
fn completions_and_the_man_page_name_every_subcommand() {
    let dir = Dir::new();
    let names = subcommands(&dir);
    for shell in ["bash", "zsh", "fish"] {
        let script = dir.ok(&["completions", shell]);
        for name in &names {
            assert!(
                script.contains(name.as_str()),
                "{shell} completions miss {name}"
            );
        }
        assert!(script.contains("with-history"), "{shell}");
    }
    dir.ok(&["completions", "bash", "-o", "eventfold.bash"]);
    let parsed = std::process::Command::new("bash")
        .arg("-n")
        .arg(dir.join("eventfold.bash"))
        .output()
        .expect("bash runs");
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let page = dir.ok(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH eventfold"),
        "{page}"
    );
    for name in &names {
        assert!(page.contains(name.as_str()), "the man page misses {name}");
    }
    dir.ok(&["man", "--dir", "pages"]);
    assert!(dir.join("pages/eventfold.1").is_file());
    assert!(dir.join("pages/eventfold-run.1").is_file());
    let wrong = dir.eventfold(&["completions", "tcsh"]);
    assert_eq!(wrong.code, 2, "{wrong:?}");
}
