//! `run --incremental`: a log folded in three nightly steps gives exactly the
//! rows of one full run, and what cannot give them is refused, leaving the
//! previous output as it was.

use std::path::Path;

use crate::util::Dir;
use arrow::array::RecordBatch;

/// Every row of a Parquet file, in file order, as one batch.
pub(crate) fn rows(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let schema = batches.first().map(|b| b.schema()).unwrap_or_else(|| {
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(path).unwrap(),
        )
        .unwrap()
        .schema()
        .clone()
    });
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

/// The Parquet files of an output folder, relative to it, sorted.
fn tables(out: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut folders = vec![out.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let relative = path.strip_prefix(out).unwrap();
                found.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

/// Asserts that two outputs hold the same tables with the same rows in the
/// same order, and that their manifests count the same.
pub(crate) fn assert_same_output(dir: &Dir, full: &str, incremental: &str) {
    let (a, b) = (dir.join(full), dir.join(incremental));
    let names = tables(&a);
    assert_eq!(names, tables(&b));
    assert!(names.contains(&"streams.parquet".to_owned()), "{names:?}");
    // Every projection the full run built is compared too.
    let manifest = dir.manifest(full);
    for projection in manifest["counts"]["projections"]
        .as_object()
        .unwrap()
        .keys()
    {
        let table = format!("projections/{projection}.parquet");
        assert!(names.contains(&table), "{table} missing: {names:?}");
    }
    for name in &names {
        let (x, y) = (rows(&a.join(name)), rows(&b.join(name)));
        assert!(
            x.num_rows() > 0,
            "{name} is empty: the comparison proves nothing"
        );
        assert_eq!(x.schema(), y.schema(), "{name}: schemas differ");
        for (index, field) in x.schema().fields().iter().enumerate() {
            assert_eq!(
                x.column(index).as_ref(),
                y.column(index).as_ref(),
                "{name}.{}: the incremental rows differ from the full run's",
                field.name()
            );
        }
    }
    // The merged tables are hashed as they are written: the hashes of their bytes.
    let (m, n) = (dir.manifest(full), dir.assert_file_hashes(incremental));
    assert_eq!(m["counts"], n["counts"]);
    assert_eq!(m["watermark"], n["watermark"]);
    assert_eq!(m["inputs"], n["inputs"]);
}

/// The lines of `log` in `parts` consecutive slices of about equal size
/// (bytes: the sample holds a line that is not UTF-8).
pub(crate) fn split_lines(log: &[u8], parts: usize) -> Vec<Vec<u8>> {
    let lines: Vec<&[u8]> = log.split_inclusive(|b| *b == b'\n').collect();
    let size = lines.len().div_ceil(parts);
    lines.chunks(size).map(|c| c.concat()).collect()
}

/// The sample model with an upcaster, so that the merged events carry
/// upcasted types and their originals.
fn model_with_upcaster() -> String {
    let model =
        std::fs::read_to_string(crate::util::repo().join("testdata/tasks/model.toml")).unwrap();
    format!(
        "{model}\n[[upcasters]]\naggregate = \"task\"\nevent_type = \"TaskCreated\"\nschema_version = 1\ndefaults = {{ urgent = false }}\n"
    )
}

/// Splits `log` in three and folds it both ways: once in full, and as three
/// incremental runs (the first on an empty output); `extra` goes to every run.
fn fold_both_ways(dir: &Dir, log: &[u8], extra: &[&str]) {
    let parts = split_lines(log, 3);
    assert_eq!(parts.len(), 3);
    fold_parts_both_ways(dir, &parts, extra);
}

/// Folds `parts` in full, and night by night (the first on an empty output).
pub(crate) fn fold_parts_both_ways(dir: &Dir, parts: &[Vec<u8>], extra: &[&str]) {
    let mut names = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let name = format!("part{}.ndjson", index + 1);
        dir.write(&name, part);
        names.push(name);
    }
    let mut full = vec!["run", "-m", "model.toml", "-o", "full"];
    for name in &names {
        full.extend(["-i", name.as_str()]);
    }
    full.extend(extra);
    dir.ok(&full);
    for (night, name) in names.iter().enumerate() {
        let mut args = vec![
            "run",
            "--incremental",
            "-m",
            "model.toml",
            "-o",
            "inc",
            "-i",
            name,
        ];
        args.extend(extra);
        let outcome = dir.eventfold(&args);
        assert_eq!(outcome.code, 0, "night {night}: {outcome:?}");
        if night == 0 {
            assert!(
                outcome.stderr.contains("holds no previous output"),
                "{outcome:?}"
            );
        } else {
            assert!(outcome.stdout.contains("incremental: "), "{outcome:?}");
        }
    }
}

#[test]
fn the_sample_folded_in_three_nights_gives_the_rows_of_one_full_run() {
    let dir = Dir::new();
    dir.write("model.toml", model_with_upcaster());
    // The sample holds rejects and one planted anomaly of every rule.
    let log = std::fs::read(crate::util::repo().join("testdata/tasks/events.ndjson")).unwrap();
    let projections = task_projections();
    fold_both_ways(
        &dir,
        &log,
        &["--with-history", "--projections", &projections],
    );
    assert_same_output(&dir, "full", "inc");
    let manifest = dir.manifest("inc");
    assert_eq!(
        manifest["counts"]["projections"].as_object().unwrap().len(),
        5
    );
    assert!(manifest["counts"]["rejects"].as_u64().unwrap() > 0);
    assert_eq!(
        manifest["counts"]["findings"].as_object().unwrap().len(),
        11
    );
    assert!(manifest["increment"]["events"].as_u64().unwrap() > 0);
    let upcasted = dir.query_json(
        "inc",
        "SELECT count(*) AS n FROM events WHERE original_schema_version = 1",
    );
    assert_ne!(upcasted[0]["n"], 0);
}

/// A generated task log of `events` records.
pub(crate) fn generated(dir: &Dir, events: u64, seed: u64, anomaly_rate: &str) -> Vec<u8> {
    let (events, seed) = (events.to_string(), seed.to_string());
    dir.ok(&[
        "generate",
        "--events",
        &events,
        "--seed",
        &seed,
        "--anomaly-rate",
        anomaly_rate,
        "-o",
        "log.ndjson",
    ]);
    std::fs::read(dir.join("log.ndjson")).unwrap()
}

#[test]
fn a_generated_log_folded_in_three_nights_gives_the_rows_of_one_full_run() {
    let dir = Dir::new();
    dir.write("model.toml", model_with_upcaster());
    let log = generated(&dir, 6000, 11, "0.02");
    let projections = task_projections();
    fold_both_ways(&dir, &log, &["--projections", &projections]);
    assert_same_output(&dir, "full", "inc");
    let built = dir.manifest("inc")["counts"]["projections"].clone();
    assert_eq!(built.as_object().unwrap().len(), 5, "{built}");
}

/// The task domain's projections folder, for a run with a model file of its own.
fn task_projections() -> String {
    let folder = crate::util::repo().join("testdata/tasks/projections");
    folder.to_string_lossy().into_owned()
}

/// Folds a generated log of `events` whose later nights use event ids of
/// earlier ones again, in full and night by night, with `extra` for every run.
fn ids_used_again_on_later_nights(events: u64, extra: &[&str]) {
    let dir = Dir::new();
    dir.write("model.toml", model_with_upcaster());
    let log = generated(&dir, events, 5, "0");
    let mut parts: Vec<Vec<serde_json::Value>> = split_lines(&log, 3)
        .iter()
        .map(|part| {
            serde_json::Deserializer::from_slice(part)
                .into_iter()
                .map(|line| line.unwrap())
                .collect()
        })
        .collect();
    let id = |parts: &[Vec<serde_json::Value>], part: usize, line: usize| {
        parts[part][line]["event_id"].clone()
    };
    // An id of night 1 used again on night 2 and a third time on night 3, and
    // an id of night 2 used again on night 3.
    let (first, second) = (id(&parts, 0, 5), id(&parts, 1, 30));
    parts[1][10]["event_id"] = first.clone();
    parts[2][10]["event_id"] = first;
    parts[2][20]["event_id"] = second;
    let mut parts: Vec<Vec<u8>> = parts
        .iter()
        .map(|lines| {
            lines
                .iter()
                .map(|line| format!("{line}\n"))
                .collect::<String>()
                .into_bytes()
        })
        .collect();
    // One reject, so that every table holds rows to compare.
    parts[0].extend_from_slice(b"{not json\n");
    fold_parts_both_ways(&dir, &parts, extra);
    assert_same_output(&dir, "full", "inc");
    let repeats = dir.query_json(
        "inc",
        "SELECT count(*) AS n FROM findings WHERE rule = 'duplicate_event_id'",
    );
    assert_eq!(repeats[0]["n"], 3, "{repeats:?}");
}

#[test]
fn event_ids_used_again_on_later_nights_are_found_as_in_one_full_run() {
    // The new ids looked up among all.
    ids_used_again_on_later_nights(3000, &[]);
}

#[test]
fn event_ids_used_again_are_found_when_the_new_ids_do_not_fit_in_memory() {
    // Nights of ~20,000 events under a limit a quarter of which holds ~16,000
    // ids: the aggregate over every id, then only the new events' findings.
    ids_used_again_on_later_nights(60_000, &["--memory-limit", "8MB"]);
}

/// A log with positions of its own: `(stream, version, position)` per line.
fn positioned(events: &[(&str, u64, u64)]) -> String {
    events
        .iter()
        .map(|(stream, version, position)| {
            let event_type = if *version == 1 { "TaskCreated" } else { "TaskStarted" };
            format!(
                r#"{{"event_id":"{stream}-{version}-{position}","stream_id":"{stream}","version":{version},"position":{position},"event_type":"{event_type}","occurred_at":"2026-01-05T09:{:02}:00Z","payload":{{"title":"t","project_id":"project-1"}}}}"#,
                position % 60
            ) + "\n"
        })
        .collect()
}

#[test]
fn what_cannot_give_the_full_run_rows_is_refused_and_the_output_kept() {
    let dir = Dir::new();
    dir.write("model.toml", model_with_upcaster());
    dir.write(
        "night1.ndjson",
        positioned(&[("task-1", 1, 10), ("task-2", 1, 11), ("task-2", 2, 20)]),
    );
    dir.ok(&["run", "-m", "model.toml", "-i", "night1.ndjson"]);
    let before = std::fs::read_to_string(dir.join("out/manifest.json")).unwrap();
    let refused = |args: &[&str], reason: &str| {
        let outcome = dir.eventfold(args);
        assert_eq!(outcome.code, 2, "{args:?}: {outcome:?}");
        assert!(
            outcome.stderr.contains("cannot run incrementally on out"),
            "{outcome:?}"
        );
        assert!(
            outcome.stderr.contains(reason),
            "expected {reason:?}: {outcome:?}"
        );
        let after = std::fs::read_to_string(dir.join("out/manifest.json")).unwrap();
        assert_eq!(before, after, "a refused run changed the output");
    };
    let inc = ["run", "--incremental", "-m", "model.toml", "-i"];

    // New events reaching back to or before the watermark (position 20).
    dir.write(
        "early.ndjson",
        positioned(&[("task-1", 2, 21), ("task-3", 1, 20)]),
    );
    refused(
        &[&inc[..], &["early.ndjson"]].concat(),
        "is at position 20, at or before the watermark 20",
    );
    // A new event below its stream's snapshot version.
    dir.write("behind.ndjson", positioned(&[("task-2", 1, 30)]));
    refused(
        &[&inc[..], &["behind.ndjson"]].concat(),
        "has version 1, but the snapshot is at version 2",
    );
    // The same export again is recognised by its bytes and left out: nothing new.
    dir.write(
        "again.ndjson",
        std::fs::read(dir.join("night1.ndjson")).unwrap(),
    );
    let stdout = dir.ok(&[&inc[..], &["again.ndjson"]].concat());
    assert!(
        stdout.contains("incremental: nothing new; every input was already folded into out: again.ndjson (the same bytes as night1.ndjson)"),
        "{stdout}"
    );
    assert_eq!(
        before,
        std::fs::read_to_string(dir.join("out/manifest.json")).unwrap()
    );
    // Another model than the one that folded the snapshot.
    dir.write("changed.toml", model_with_upcaster() + "\n# tuned\n");
    dir.write("night2.ndjson", positioned(&[("task-1", 2, 30)]));
    refused(
        &[
            "run",
            "--incremental",
            "-m",
            "changed.toml",
            "-i",
            "night2.ndjson",
        ],
        "the model changed since that output was written",
    );
    // Another mapping than the one that read the snapshot's events.
    refused(
        &[&inc[..], &["night2.ndjson", "--map", "actor=metadata.user"]].concat(),
        "the mapping (preset, mapping file, --map, time options) changed",
    );
    // A snapshot table replaced by hand is refused before it is read.
    let streams = dir.join("out/streams.parquet");
    let kept = std::fs::read(&streams).unwrap();
    std::fs::copy(dir.join("out/findings.parquet"), &streams).unwrap();
    refused(
        &[&inc[..], &["night2.ndjson"]].concat(),
        "streams.parquet does not have the columns eventfold writes there",
    );
    std::fs::write(&streams, kept).unwrap();
    // A partial output is no snapshot of the whole log.
    let outcome = dir.eventfold(&[&inc[..], &["night2.ndjson", "--stream", "task-1"]].concat());
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr.contains("cannot be combined with"),
        "{outcome:?}"
    );

    // The night that fits goes on from the snapshot: task-1 moves on, task-2
    // stays. Listing every export, as a nightly glob does, folds only the new one.
    let stdout = dir.ok(&[&inc[..], &["night1.ndjson", "-i", "night2.ndjson"]].concat());
    assert!(
        stdout.contains("incremental: skipped, already folded: night1.ndjson"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "incremental: 1 new records = 1 events + 0 rejects, folded after position 20"
        ),
        "{stdout}"
    );
    assert_eq!(
        dir.query_json(
            "out",
            "SELECT stream_id, status, version, event_count FROM task ORDER BY stream_id"
        ),
        [
            serde_json::json!({"stream_id": "task-1", "status": "in_progress", "version": 2, "event_count": 2}),
            serde_json::json!({"stream_id": "task-2", "status": "in_progress", "version": 2, "event_count": 2}),
        ]
    );
}

#[test]
fn a_nightly_config_over_a_growing_folder_of_exports_folds_each_export_once() {
    let dir = Dir::new();
    dir.write("model.toml", model_with_upcaster());
    dir.write(
        "eventfold.toml",
        "[run]\ninputs = [\"exports/*.ndjson\"]\nmodel = \"model.toml\"\nincremental = true\n",
    );
    std::fs::create_dir(dir.join("exports")).unwrap();
    dir.ok(&[
        "generate",
        "--events",
        "3000",
        "--seed",
        "5",
        "--anomaly-rate",
        "0.02",
        "-o",
        "log.ndjson",
    ]);
    let log = std::fs::read(dir.join("log.ndjson")).unwrap();
    for (night, part) in split_lines(&log, 3).iter().enumerate() {
        dir.write(&format!("exports/2026-11-2{night}.ndjson"), part);
        let stdout = dir.ok(&["run"]);
        if night > 0 {
            assert!(
                stdout.contains("incremental: skipped, already folded: exports/2026-11-20.ndjson"),
                "{stdout}"
            );
        }
    }
    let stdout = dir.ok(&["run"]);
    assert!(stdout.starts_with("incremental: nothing new"), "{stdout}");
    dir.ok(&["run", "--full", "-o", "full"]);
    assert_eq!(dir.manifest("full")["increment"], serde_json::Value::Null);
    assert_same_output(&dir, "full", "out");
}
