//! The binary end to end on small hand-written inputs: flags, formats, bad input,
//! broken models, exit codes and the atomic output folder.

use std::io::Write;

use crate::util::Dir;

pub(crate) const MODEL: &str = r#"
[aggregates.order.fields]
customer = "string"
total = "float"

[aggregates.order.lifecycle]
initial = "placed"
statuses = ["placed", "shipped"]
terminal = ["shipped"]

[aggregates.order.events.OrderPlaced]
creates = true
set = { customer = "customer", total = "total" }

[aggregates.order.events.OrderShipped]
from = ["placed"]
to = "shipped"
"#;

/// Two orders in a foreign naming: `aggregateId`, `type`, `data`, `meta.user`.
const FOREIGN_LOG: &str = r#"{"aggregateId":"order-1","version":1,"type":"OrderPlaced","at":"2026-02-01T10:00:00+02:00","data":{"customer":"ann","total":12.5},"meta":{"user":"ann"}}
{"aggregateId":"order-1","version":2,"type":"OrderShipped","at":"2026-02-02T10:00:00Z","data":{},"meta":{"user":"bot"}}
{"aggregateId":"order-2","version":1,"type":"OrderPlaced","at":1769940000000,"data":{"customer":"bob","total":3},"meta":{"user":"bob"}}
"#;

const FOREIGN_MAP: [&str; 10] = [
    "--map",
    "stream_id=aggregateId",
    "--map",
    "event_type=type",
    "--map",
    "occurred_at=at",
    "--map",
    "payload=data",
    "--map",
    "actor=/meta/user",
];

fn run_foreign(dir: &Dir, input: &str) -> String {
    dir.write("model.toml", MODEL);
    let mut args = vec!["run", "--input", input, "--model", "model.toml"];
    args.extend(FOREIGN_MAP);
    dir.ok(&args)
}

#[test]
fn map_overrides_read_a_foreign_naming() {
    let dir = Dir::new();
    dir.write("orders.ndjson", FOREIGN_LOG);
    let summary = run_foreign(&dir, "orders.ndjson");
    assert!(
        summary.starts_with("records: 3 read = 3 events + 0 rejects (ok)\n"),
        "{summary}"
    );
    let rows = dir.query_json(
        "out",
        "SELECT stream_id, status, customer, total, version FROM \"order\" ORDER BY stream_id",
    );
    assert_eq!(
        serde_json::Value::Array(rows),
        serde_json::json!([
            {"stream_id": "order-1", "status": "shipped", "customer": "ann", "total": 12.5, "version": 2},
            {"stream_id": "order-2", "status": "placed", "customer": "bob", "total": 3.0, "version": 1},
        ])
    );
    let actors = dir.query_json(
        "out",
        "SELECT actor, occurred_at FROM events ORDER BY position",
    );
    assert_eq!(actors[0]["actor"], "ann");
    assert_eq!(actors[0]["occurred_at"], "2026-02-01T08:00:00Z");
    assert_eq!(actors[2]["occurred_at"], "2026-02-01T10:00:00Z");
}

#[test]
fn gzip_input_reads_like_plain_even_with_a_misleading_name() {
    let dir = Dir::new();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(FOREIGN_LOG.as_bytes()).unwrap();
    dir.write("orders.ndjson", encoder.finish().unwrap());
    let summary = run_foreign(&dir, "orders.ndjson");
    assert!(
        summary.starts_with("records: 3 read = 3 events + 0 rejects (ok)\n"),
        "{summary}"
    );
}

#[test]
fn zstd_input_is_recognised_by_its_magic_bytes() {
    let dir = Dir::new();
    dir.write(
        "orders.ndjson.zst",
        zstd::encode_all(FOREIGN_LOG.as_bytes(), 3).unwrap(),
    );
    dir.write("plain.ndjson", FOREIGN_LOG);
    let summary = run_foreign(&dir, "orders.ndjson.zst");
    assert!(
        summary.starts_with("records: 3 read = 3 events + 0 rejects (ok)\n"),
        "{summary}"
    );
    let manifest = dir.manifest("out");
    let stored = std::fs::metadata(dir.join("orders.ndjson.zst"))
        .unwrap()
        .len();
    assert_eq!(
        manifest["inputs"][0]["bytes"].as_u64(),
        Some(stored),
        "the manifest counts stored bytes"
    );
}

#[test]
fn a_truncated_gzip_keeps_what_was_read_and_rejects_the_damage() {
    let dir = Dir::new();
    let mut log = String::new();
    for i in 1..=2000 {
        log.push_str(&format!(
            "{{\"aggregateId\":\"order-{i}\",\"version\":1,\"type\":\"OrderPlaced\",\"at\":{},\"data\":{{\"customer\":\"c{i}\",\"total\":1}}}}\n",
            1_769_940_000_000u64 + i
        ));
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(log.as_bytes()).unwrap();
    let compressed = encoder.finish().unwrap();
    dir.write("orders.ndjson.gz", &compressed[..compressed.len() / 2]);
    let summary = run_foreign(&dir, "orders.ndjson.gz");
    let rejects = dir.query_json("out", "SELECT reason FROM rejects");
    let events = dir.query_json("out", "SELECT count(*) AS n FROM events")[0]["n"]
        .as_u64()
        .unwrap();
    assert!(events > 100 && events < 2000, "{summary}");
    assert!(
        rejects
            .iter()
            .any(|r| r["reason"].as_str().unwrap().contains("input is damaged")),
        "{rejects:?}"
    );
    assert!(summary.contains("(ok)"), "{summary}");
}

#[test]
fn query_prints_table_csv_and_json() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let sql = "SELECT stream_id, status FROM task WHERE stream_id = 'task-9001'";
    let table = dir.ok(&["query", sql]);
    assert!(table.contains("| task-9001 | done   |"), "{table}");
    assert_eq!(
        dir.ok(&["query", "--format", "csv", sql]),
        "stream_id,status\ntask-9001,done\n"
    );
    assert_eq!(
        dir.ok(&["query", "--format", "json", sql]).trim(),
        r#"[{"stream_id":"task-9001","status":"done"}]"#
    );
    let json_sql = "SELECT json_get_str(payload, 'assignee') AS who FROM events WHERE stream_id = 'task-9001' AND event_type = 'TaskAssigned'";
    assert_eq!(
        dir.ok(&["query", "--format", "csv", json_sql]),
        "who\nann\n"
    );
    dir.write("q.sql", "-- several statements; the last one prints\nCREATE VIEW done AS SELECT * FROM task WHERE status = 'done';\nSELECT count(*) AS n FROM done WHERE stream_id = 'task-9001';\n");
    assert_eq!(
        dir.ok(&["query", "-f", "q.sql", "--format", "csv"]),
        "n\n1\n"
    );
}

#[test]
fn sql_errors_and_missing_outputs_exit_2() {
    let dir = Dir::new();
    let missing = dir.eventfold(&["query", "SELECT 1"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("is not an eventfold output folder"),
        "{}",
        missing.stderr
    );
    dir.ok(&["run"]);
    let bad = dir.eventfold(&["query", "SELECT nope FROM task"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.starts_with("error: sql: "), "{}", bad.stderr);
    assert!(bad.stderr.contains("nope"), "{}", bad.stderr);
    assert!(bad.stdout.is_empty());
}

#[test]
fn a_broken_model_is_reported_with_its_line_before_anything_runs() {
    let dir = Dir::new();
    dir.write(
        "model.toml",
        MODEL.replace("total = \"float\"", "total = \"money\""),
    );
    let outcome = dir.eventfold(&["run", "--model", "model.toml"]);
    assert_eq!(outcome.code, 2);
    assert_eq!(
        outcome.stderr,
        "error: model.toml:4: field \"total\" of aggregate \"order\" has unknown type \"money\"\n  hint: expected one of string, int, float, bool, timestamp, list\n"
    );
    assert!(!dir.join("out").exists(), "nothing was written");
}

#[test]
fn a_failed_run_leaves_the_previous_output_intact() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let before = std::fs::read(dir.join("out/events.parquet")).unwrap();
    dir.write("model.toml", "[aggregates.task\n");
    assert_eq!(dir.eventfold(&["run", "--model", "model.toml"]).code, 2);
    assert_eq!(dir.eventfold(&["run", "--input", "missing.ndjson"]).code, 2);
    assert_eq!(
        std::fs::read(dir.join("out/events.parquet")).unwrap(),
        before
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".out.tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary folders left: {leftovers:?}"
    );
}

#[test]
fn a_missing_input_is_named() {
    let dir = Dir::new();
    let outcome = dir.eventfold(&["run", "--input", "nowhere.ndjson"]);
    assert_eq!(outcome.code, 2);
    assert_eq!(
        outcome.stderr,
        "error: nowhere.ndjson: no such file or folder\n"
    );
}

#[test]
fn a_folder_that_is_not_an_output_is_never_replaced() {
    let dir = Dir::new();
    dir.write("notes.txt", "mine");
    let outcome = dir.eventfold(&["run", "--out", "."]);
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.stderr.contains("refusing to replace"),
        "{}",
        outcome.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn a_bad_map_is_a_usage_error() {
    let dir = Dir::new();
    let outcome = dir.eventfold(&["run", "--map", "colour=x"]);
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.stderr.contains("unknown envelope field \"colour\""),
        "{}",
        outcome.stderr
    );
    assert_eq!(dir.eventfold(&["frobnicate"]).code, 2);
    assert_eq!(dir.eventfold(&["--help"]).code, 0);
}

#[test]
fn generate_writes_the_requested_number_of_records() {
    let dir = Dir::new();
    let outcome = dir.eventfold(&[
        "generate",
        "--events",
        "250",
        "--seed",
        "3",
        "--anomaly-rate",
        "0.1",
        "-o",
        "log.ndjson",
    ]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome.stderr.starts_with("generated 250 records ("),
        "{}",
        outcome.stderr
    );
    let summary = dir.ok(&["run", "--input", "log.ndjson"]);
    assert!(summary.starts_with("records: 250 read = "), "{summary}");
    assert!(summary.contains("(ok)"));
    assert_eq!(dir.eventfold(&["generate", "--anomaly-rate", "2"]).code, 2);
}

#[test]
fn query_memory_limit_is_the_sessions_pool() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let sql = "SELECT stream_id, count(*) AS n FROM events GROUP BY stream_id ORDER BY n DESC, stream_id LIMIT 1";
    let starved = dir.eventfold(&["query", "--memory-limit", "1KB", sql]);
    assert_eq!(starved.code, 2, "{starved:?}");
    assert!(
        starved.stderr.contains("Resources exhausted"),
        "{starved:?}"
    );
    let enough = dir.ok(&["query", "--memory-limit", "64MB", "--format", "csv", sql]);
    assert_eq!(enough, "stream_id,n\ntask-69,46\n");
    // The config file's [run] memory_limit is the default.
    dir.write("eventfold.toml", "[run]\nmemory_limit = \"1KB\"\n");
    assert_eq!(dir.eventfold(&["query", sql]).code, 2);
}

#[test]
fn generate_span_days_bounds_the_clock() {
    let dir = Dir::new();
    dir.ok(&[
        "generate",
        "--events",
        "20000",
        "--span-days",
        "20",
        "-o",
        "short.ndjson",
    ]);
    let text = std::fs::read_to_string(dir.join("short.ndjson")).unwrap();
    let last = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|r| r["occurred_at"].as_str().map(str::to_owned))
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .max()
        .unwrap();
    // 20 working days from Monday 2026-01-05 end before February (4 weeks + slack);
    // at the natural pace 20,000 events take about 300 working days.
    let day = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(&format!("{text}T00:00:00Z"))
            .unwrap()
            .timestamp()
    };
    assert!(last.timestamp() < day("2026-02-10"), "{last}");
    assert!(last.timestamp() > day("2026-01-20"), "{last}");
    let bad = dir.eventfold(&["generate", "--events", "10", "--span-days", "0"]);
    assert_eq!(bad.code, 2, "{bad:?}");
}

/// Issue 18: `-o` was the output folder in `run`, the output file in `flow`,
/// and rejected by `query`; `--format` was the input format in `census` (whose
/// own was `--report`); `diff --format csv` printed a table. Now `--out DIR` is
/// the folder and `-o FILE` a file everywhere, `--format` how a result prints.
#[test]
fn each_flag_means_one_thing_in_every_command() {
    let dir = Dir::new();
    dir.ok(&["run", "--out", "lake"]);
    let sql = "SELECT count(*) AS n FROM task";
    dir.ok(&[
        "query", "--out", "lake", "-o", "n.csv", "--format", "csv", sql,
    ]);
    let written = std::fs::read_to_string(dir.join("n.csv")).unwrap();
    assert!(written.starts_with("n\n"), "{written}");
    // The old spelling of run's folder still works, with a note.
    let old = dir.eventfold(&["run", "-o", "old"]);
    assert_eq!(old.code, 0, "{old:?}");
    assert!(old.stderr.contains("old spelling of --out DIR"), "{old:?}");
    assert!(dir.join("old/manifest.json").is_file());
    // census: --format is how it prints, --input-format what it reads.
    let census = dir.ok(&["census", "--format", "json", "--input-format", "ndjson"]);
    assert!(census.trim_start().starts_with('{'), "{census}");
    let old_census = dir.ok(&["census", "--report", "json"]);
    assert!(old_census.trim_start().starts_with('{'), "{old_census}");
    // diff prints a table or JSON, and says so instead of accepting csv.
    let csv = dir.eventfold(&["diff", "lake", "old", "--format", "csv"]);
    assert_eq!(csv.code, 2, "{csv:?}");
    assert!(
        csv.stderr.contains("possible values: table, json"),
        "{csv:?}"
    );
}

/// Issue 18: `init`, `generate` and `diff` accepted `--config` and ignored it.
#[test]
fn config_is_refused_by_the_commands_that_read_none() {
    let dir = Dir::new();
    dir.write("eventfold.toml", "[run]\nout = \"lake\"\n");
    for args in [
        vec!["init", "--config", "eventfold.toml", "elsewhere"],
        vec!["generate", "--config", "eventfold.toml", "--events", "5"],
        vec!["diff", "--config", "eventfold.toml", "a", "b"],
    ] {
        let outcome = dir.eventfold(&args);
        assert_eq!(outcome.code, 2, "{args:?}: {outcome:?}");
        assert!(
            outcome.stderr.contains("--config does not apply"),
            "{args:?}: {outcome:?}"
        );
    }
    assert!(!dir.join("elsewhere").exists());
}
