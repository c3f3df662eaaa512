//! Issue 22.3, its first step: an output whose tables are folders of parts
//! (`events/part-*.parquet`, `state/task/part-*.parquet`, …), as a
//! distributed run writes them, is read by every command as the same
//! tables. The sample's output, split into three parts per table by a hash
//! of the stream (rows kept in stream order within each part), gives every
//! shipped query, `check`, `flow`, `history`, `report`, both exports,
//! `decide`, `generate --commands`, `project` and `diff` the answers the
//! output it came from gives; an incremental run goes on from it.

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

use crate::cluster::{rows, shipped_queries};
use crate::util::Dir;

const PARTS: u64 = 3;

/// The part a row goes to: by its stream id (FNV-1a), else by its place.
fn part_of(batch: &RecordBatch, row: usize, place: u64) -> u64 {
    let Ok(index) = batch.schema().index_of("stream_id") else {
        return place % PARTS;
    };
    let ids = arrow::compute::cast(batch.column(index), &arrow::datatypes::DataType::Utf8)
        .expect("stream ids as text");
    let ids = ids.as_string::<i32>();
    let text = if ids.is_valid(row) {
        ids.value(row)
    } else {
        ""
    };
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    hash % PARTS
}

/// Rewrites the table file `path` (`x.parquet`) as the folder `x/` of parts.
fn split_table(path: &Path) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let schema = reader.schema().clone();
    let batches: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
    let folder = path.with_extension("");
    std::fs::create_dir_all(&folder).unwrap();
    let mut place = 0;
    let mut writers: Vec<ArrowWriter<File>> = (0..PARTS)
        .map(|part| {
            let file = File::create(folder.join(format!("part-{part:05}.parquet"))).unwrap();
            ArrowWriter::try_new(file, schema.clone(), None).unwrap()
        })
        .collect();
    for batch in &batches {
        let parts: Vec<u64> = (0..batch.num_rows())
            .map(|row| {
                place += 1;
                part_of(batch, row, place)
            })
            .collect();
        for (part, writer) in writers.iter_mut().enumerate() {
            let mask: BooleanArray = parts.iter().map(|p| Some(*p == part as u64)).collect();
            let rows = arrow::compute::filter_record_batch(batch, &mask).unwrap();
            if rows.num_rows() > 0 {
                writer.write(&rows).unwrap();
            }
        }
    }
    for writer in writers {
        writer.close().unwrap();
    }
    std::fs::remove_file(path).unwrap();
}

/// Copies the output `from` to `to` with every table split into parts.
pub(crate) fn split_output(from: &Path, to: &Path) {
    let copy = std::process::Command::new("cp")
        .args(["-r", from.to_str().unwrap(), to.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(copy.success());
    let mut tables = Vec::new();
    for folder in [to.to_owned(), to.join("state"), to.join("projections")] {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "parquet") {
                tables.push(path);
            }
        }
    }
    assert!(tables.len() >= 9, "{tables:?}");
    for table in tables {
        split_table(&table);
    }
    assert!(to.join("events/part-00002.parquet").is_file());
    assert!(to.join("state/task/part-00000.parquet").is_file());
    assert!(!to.join("events.parquet").exists());
}

#[test]
fn a_partitioned_output_is_read_by_every_command_as_the_same_tables() {
    let dir = Dir::new();
    // Both named `out` (a report's title names the folder), in a/ and b/.
    let (out, split) = ("a/out", "b/out");
    dir.ok(&["run", "--out", out, "--with-history"]);
    std::fs::create_dir_all(dir.join("b")).unwrap();
    split_output(&dir.join(out), &dir.join(split));
    // The same answers, the folder's path aside.
    let same = |args: &[&str]| {
        let answer = |out: &str| {
            let args: Vec<&str> = args
                .iter()
                .map(|a| if *a == "OUT" { out } else { a })
                .collect();
            let outcome = dir.eventfold(&args);
            (outcome.code, outcome.stdout.replace(out, "OUT"))
        };
        let (here, there) = (answer(out), answer(split));
        assert_eq!(there, here, "{args:?}");
        here
    };

    let queries = shipped_queries();
    assert!(queries.len() >= 20, "{queries:?}");
    for query in &queries {
        let file = query.to_str().expect("UTF-8 path");
        let here = dir.eventfold(&["query", "--out", out, "--format", "csv", "-f", file]);
        assert_eq!(here.code, 0, "{file}: {here:?}");
        let there = dir.eventfold(&["query", "--out", split, "--format", "csv", "-f", file]);
        assert_eq!(there.code, 0, "{file} split: {there:?}");
        assert_eq!(rows(&there.stdout), rows(&here.stdout), "{file}");
    }
    // The sample has findings: check exits 1 on both, with the same report.
    assert_eq!(same(&["check", "--out", "OUT"]).0, 1);
    assert!(same(&["flow", "--out", "OUT", "--format", "dot"])
        .1
        .contains("->"));
    same(&["flow", "--out", "OUT", "--by", "status", "--format", "svg"]);
    assert!(same(&["history", "task-9020", "--out", "OUT"])
        .1
        .contains("TaskCompleted"));

    // Files written from either, in a/ and b/: the same bytes.
    for (from, to) in [(out, "a"), (split, "b")] {
        let file = |name: &str| format!("{to}/{name}");
        dir.ok(&[
            "export",
            "xes",
            "--out",
            from,
            "--aggregate",
            "task",
            "-o",
            &file("x.xes"),
        ]);
        dir.ok(&["export", "ocel", "--out", from, "-o", &file("o.jsonocel")]);
        dir.ok(&["report", "--out", from, "-o", &file("report.html")]);
        // The write side: a batch generated and decided against either.
        let args = [
            "generate",
            "--commands",
            "300",
            "--seed",
            "3",
            "--against",
            from,
        ];
        dir.ok(&[&args[..], &["-o", &file("commands.ndjson")]].concat());
        // Both from a/'s batch (a rejection names its source file).
        let decision = file("decision");
        dir.ok(&[
            "decide",
            "a/commands.ndjson",
            "--out",
            from,
            "--decision",
            &decision,
        ]);
    }
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    for name in [
        "x.xes",
        "o.jsonocel",
        "report.html",
        "commands.ndjson",
        "decision/events.ndjson",
        "decision/rejected.parquet",
    ] {
        let (a, b) = (read(&format!("a/{name}")), read(&format!("b/{name}")));
        assert!(a.len() > 100, "{name}: {} bytes", a.len());
        assert!(a == b, "{name} differs");
    }
    assert!(!String::from_utf8(read("b/report.html"))
        .unwrap()
        .contains("class=\"bad note\""));

    // The projections rebuilt from the parts (the keyed folds replay the
    // events' parts) equal the run's, and diff sees no difference.
    dir.ok(&["project", "--out", split]);
    let diff = dir.eventfold(&["diff", out, split, "--fail-on-change"]);
    assert_eq!(diff.code, 0, "{diff:?}");

    // The tools of the field read a folder of parts as one table too.
    let counts = crate::util::run_python(
        "import sys, duckdb, pyarrow.parquet as pq\n\
         out = sys.argv[1]\n\
         print(pq.read_table(out + '/events').num_rows, pq.read_table(out + '/state/task').num_rows)\n\
         print(duckdb.sql(f\"SELECT count(*) FROM read_parquet('{out}/events/*.parquet')\").fetchall()[0][0])\n",
        &[dir.join(split).as_os_str()],
    );
    let events = dir.query_json(out, "SELECT count(*) AS n FROM events")[0]["n"].to_string();
    let tasks = dir.query_json(out, "SELECT count(*) AS n FROM task")[0]["n"].to_string();
    assert_eq!(counts, format!("{events} {tasks}\n{events}\n"));

    // An incremental run goes on from it (a night of new events is tested
    // on a distributed run's output, in `cluster.rs`); the sample again is
    // nothing new, and the output is left as it was.
    let incremental = dir.ok(&["run", "--incremental", "--with-history", "--out", split]);
    assert!(
        incremental.contains("incremental: nothing new"),
        "{incremental}"
    );
    assert!(dir.join(&format!("{split}/events")).is_dir());
}
