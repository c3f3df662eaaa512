//! Outputs do not depend on how the run uses the machine: the same generated log
//! gives the same rows in every output table with one thread or two, and with a
//! small `--memory-limit` or none.

use crate::util::Dir;

/// Every output table with the columns that order its rows completely.
const TABLES: [(&str, &str); 6] = [
    ("events", "position"),
    ("transitions", "position"),
    ("findings", "position, rule, message"),
    ("rejects", "source_file, line"),
    ("task", "stream_id"),
    ("project", "stream_id"),
];

/// A generated log of moderate size, with anomalies so that findings and
/// rejects are not empty.
fn generated_log(dir: &Dir) -> String {
    dir.ok(&[
        "generate",
        "--events",
        "30000",
        "--seed",
        "11",
        "--anomaly-rate",
        "0.01",
        "-o",
        "log.ndjson",
    ]);
    "log.ndjson".to_owned()
}

/// The rows of every table of output `out`, as JSON (CSV has no lists), in a
/// total order.
fn rows(dir: &Dir, out: &str) -> Vec<(String, String)> {
    TABLES
        .iter()
        .map(|(table, order)| {
            let json = dir.ok(&[
                "query",
                "--out",
                out,
                "--format",
                "json",
                &format!("SELECT * FROM {table} ORDER BY {order}"),
            ]);
            (table.to_string(), json)
        })
        .collect()
}

fn assert_same_rows(dir: &Dir, a: &str, b: &str) {
    for ((table, rows_a), (_, rows_b)) in rows(dir, a).into_iter().zip(rows(dir, b)) {
        assert!(
            rows_a.len() > 10,
            "{table} is empty in {a}: the test would prove nothing"
        );
        assert!(rows_a == rows_b, "{table} differs between {a} and {b}");
    }
}

#[test]
fn one_thread_and_two_give_the_same_rows_on_a_generated_log() {
    let dir = Dir::new();
    let log = generated_log(&dir);
    dir.ok(&["run", "-i", &log, "--out", "one", "--threads", "1"]);
    dir.ok(&["run", "-i", &log, "--out", "two", "--threads", "2"]);
    assert_same_rows(&dir, "one", "two");
    let summary = |out: &str| std::fs::read_to_string(dir.join(&format!("{out}/manifest.json")));
    assert!(summary("one").unwrap().contains("\"input_records\": 30000"));
}

#[test]
fn a_small_memory_limit_gives_the_same_rows_as_none() {
    let dir = Dir::new();
    let log = generated_log(&dir);
    dir.ok(&["run", "-i", &log, "--out", "free"]);
    // About the smallest limit that completes on this log: with 4MB a sort's
    // part of the pool is less than the two staged batches DataFusion needs to
    // sort one, and the run stops with "not enough memory". At 8MB every sort
    // and merge spills.
    dir.ok(&["run", "-i", &log, "--out", "tight", "--memory-limit", "8MB"]);
    assert_same_rows(&dir, "free", "tight");
}

#[test]
fn the_manifest_times_and_measures_each_stage() {
    let dir = Dir::new();
    let log = generated_log(&dir);
    dir.ok(&["run", "-i", &log, "--out", "out"]);
    let manifest = dir.manifest("out");
    let timings = &manifest["timings"];
    for stage in [
        "ingest_ms",
        "sort_ms",
        "fold_ms",
        "events_write_ms",
        "tables_write_ms",
        "duplicate_ids_ms",
        "total_ms",
    ] {
        assert!(timings[stage].is_u64(), "{stage} missing: {timings}");
    }
    if cfg!(target_os = "linux") {
        assert!(timings["peak_rss"].as_u64().unwrap() > 1 << 20, "{timings}");
    }
}
