//! Ingest end to end: every preset on an export in its shape, the worked
//! mappings of the real logs in `testdata/real/` with exact counts, and every
//! class of bad input, each with its message and the events + rejects invariant.

use std::io::Read;

use crate::util::{repo, Dir};
use serde_json::{json, Value};

/// The counts a run's manifest states, checked against its own invariant.
struct Counts {
    records: u64,
    events: u64,
    rejects: u64,
    manifest: Value,
}

impl Counts {
    fn read(dir: &Dir, out: &str) -> Self {
        let manifest = dir.manifest(out);
        let counts = &manifest["counts"];
        let get = |key: &str| counts[key].as_u64().unwrap();
        let (records, events, rejects) = (get("input_records"), get("events"), get("rejects"));
        assert_eq!(events + rejects, records, "the invariant: {counts}");
        Self {
            records,
            events,
            rejects,
            manifest,
        }
    }

    fn streams(&self) -> &Value {
        &self.manifest["counts"]["streams"]
    }

    fn findings(&self) -> &Value {
        &self.manifest["counts"]["findings"]
    }
}

fn testdata(path: &str) -> String {
    repo().join("testdata").join(path).display().to_string()
}

/// Runs the pipeline with `args` into `out` and returns the summary's counts.
fn run(dir: &Dir, out: &str, args: &[&str]) -> Counts {
    let mut all = vec!["run", "--out", out];
    all.extend(args);
    let summary = dir.ok(&all);
    let counts = Counts::read(dir, out);
    assert!(
        summary.starts_with(&format!(
            "records: {} read = {} events + {} rejects (ok)\n",
            counts.records, counts.events, counts.rejects
        )),
        "{summary}"
    );
    counts
}

/// The rejects of a run as `(line, field, reason)`.
fn rejects(dir: &Dir, out: &str) -> Vec<(u64, Option<String>, String)> {
    dir.query_json(
        out,
        "SELECT line, field, reason FROM rejects ORDER BY source_file, line",
    )
    .into_iter()
    .map(|row| {
        (
            row["line"].as_u64().unwrap(),
            row["field"].as_str().map(str::to_owned),
            row["reason"].as_str().unwrap().to_owned(),
        )
    })
    .collect()
}

#[test]
fn each_preset_maps_an_export_in_its_shape() {
    let dir = Dir::new();
    let cases = [
        (
            "cloudevents",
            "cloudevents.ndjson",
            4,
            "stream_id",
            "missing field \"stream_id\" (looked for subject)",
        ),
        (
            "eventstoredb",
            "eventstoredb.json",
            4,
            "version",
            "field \"version\" is \"two\", expected a non-negative integer",
        ),
        (
            "marten",
            "marten.csv",
            5,
            "",
            "row has 8 fields, the header has 11",
        ),
        (
            "axon",
            "axon.csv",
            5,
            "occurred_at",
            "field \"occurred_at\" is \"07/01/2026 09:00\"",
        ),
    ];
    for (preset, file, bad_line, field, reason) in cases {
        let out = format!("out-{preset}");
        let input = testdata(&format!("presets/{file}"));
        let counts = run(&dir, &out, &["--preset", preset, "-i", &input]);
        assert_eq!(
            (counts.records, counts.events, counts.rejects),
            (4, 3, 1),
            "{preset}"
        );
        let rejected = rejects(&dir, &out);
        assert_eq!(rejected.len(), 1, "{preset}: {rejected:?}");
        let (line, got_field, got_reason) = &rejected[0];
        assert_eq!(*line, bad_line, "{preset}");
        assert_eq!(got_field.as_deref().unwrap_or(""), field, "{preset}");
        assert!(got_reason.starts_with(reason), "{preset}: {got_reason}");
    }

    let envelope = |out: &str| {
        dir.query_json(
            out,
            "SELECT stream_id, version, event_type, event_id, actor, correlation_id, causation_id, tenant, schema_version, CAST(occurred_at AS VARCHAR) AS at FROM events ORDER BY version LIMIT 2",
        )
    };
    assert_eq!(
        envelope("out-cloudevents"),
        [
            json!({"stream_id": "task-1", "version": 1, "event_type": "TaskCreated", "event_id": "ce-1", "actor": "ann", "correlation_id": null, "causation_id": null, "tenant": null, "schema_version": 1, "at": "2026-01-05T08:00:00Z"}),
            json!({"stream_id": "task-1", "version": 2, "event_type": "TaskAssigned", "event_id": "ce-2", "actor": "ann", "correlation_id": null, "causation_id": null, "tenant": null, "schema_version": 1, "at": "2026-01-05T08:05:00Z"}),
        ]
    );
    // KurrentDB counts from 0; the envelope from 1.
    assert_eq!(
        envelope("out-eventstoredb")[1],
        json!({"stream_id": "task-7", "version": 2, "event_type": "TaskStarted", "event_id": "0b1c6a52-0000-4000-8000-000000000002", "actor": "cy", "correlation_id": "corr-1", "causation_id": "0b1c6a52-0000-4000-8000-000000000001", "tenant": null, "schema_version": 1, "at": "2026-01-05T08:30:00Z"})
    );
    // psql's short offsets (+01) and the JSON held in quoted CSV fields.
    let marten = envelope("out-marten");
    assert_eq!(
        marten[0],
        json!({"stream_id": "task-21", "version": 1, "event_type": "TaskCreated", "event_id": "6f1c0c4e-1b0a-4a8e-9b1e-000000000001", "actor": "dee", "correlation_id": "corr-21", "causation_id": null, "tenant": "acme", "schema_version": 1, "at": "2026-01-06T09:00:00.123456Z"})
    );
    let titles = dir.query_json("out-marten", "SELECT title, priority, assignee FROM task");
    assert_eq!(
        titles,
        [json!({"title": "Plan sprint", "priority": 3, "assignee": "eve"})]
    );
    // Axon: traceId is the correlation, correlationId the causation.
    assert_eq!(
        envelope("out-axon")[1],
        json!({"stream_id": "task-31", "version": 2, "event_type": "TaskAssigned", "event_id": "ax-2", "actor": "fay", "correlation_id": "t-1", "causation_id": "ax-1", "tenant": null, "schema_version": 1, "at": "2026-01-07T08:01:00Z"})
    );
    // CloudEvents attributes the mapping does not read become the metadata.
    let metadata = dir.query_json(
        "out-cloudevents",
        "SELECT metadata FROM events WHERE event_id = 'ce-1'",
    );
    let metadata: Value = serde_json::from_str(metadata[0]["metadata"].as_str().unwrap()).unwrap();
    assert_eq!(
        metadata,
        json!({"specversion": "1.0", "source": "/tracker", "datacontenttype": "application/json"})
    );
}

/// Runs a worked real-log mapping from `testdata/real/NAME`.
fn run_real(dir: &Dir, name: &str) -> Counts {
    let folder = testdata(&format!("real/{name}"));
    run(
        dir,
        name,
        &[
            "-i",
            &folder,
            "--mapping",
            &format!("{folder}/mapping.toml"),
            "--model",
            &format!("{folder}/model.toml"),
        ],
    )
}

#[test]
fn gh_archive_issues_and_pull_requests() {
    let dir = Dir::new();
    let counts = run_real(&dir, "github");
    // Counted apart from eventfold: one event per line of the slice.
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(testdata("real/github/2015-01-01-0.issues.json.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    assert_eq!(counts.records, text.lines().count() as u64);
    assert_eq!(
        (counts.records, counts.events, counts.rejects),
        (200, 200, 0)
    );
    assert_eq!(counts.streams(), &json!({"issue": 154}));
    assert_eq!(counts.findings(), &json!({"event_before_creation": 126}));
    let opened = dir.query_json(
        "github",
        "SELECT state, count(*) AS n FROM issue WHERE title IS NOT NULL GROUP BY state ORDER BY state",
    );
    // Checked apart from eventfold (a Python fold of the slice): 55 streams open
    // inside the hour, 7 of them closed by its end.
    assert_eq!(
        opened,
        [
            json!({"state": "closed", "n": 7}),
            json!({"state": "open", "n": 48})
        ]
    );
}

#[test]
fn volvo_incidents_csv() {
    let dir = Dir::new();
    let counts = run_real(&dir, "volvo");
    // Counted apart from eventfold: rows after the header, distinct SR numbers.
    let text = std::fs::read_to_string(testdata("real/volvo/incidents-first-600.csv")).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    let requests: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r.split(',').next()).collect();
    assert_eq!(counts.records, rows.len() as u64);
    assert_eq!(
        (counts.records, counts.events, counts.rejects),
        (600, 600, 0)
    );
    assert_eq!(counts.streams(), &json!({"incident": requests.len()}));
    assert_eq!(counts.streams(), &json!({"incident": 27}));
    assert_eq!(counts.findings(), &json!({}));
    let first = dir.query_json(
        "volvo",
        "SELECT stream_id, status, handled_by, waits, version FROM incident ORDER BY stream_id LIMIT 1",
    );
    assert_eq!(
        first,
        [
            json!({"stream_id": "1-364285768", "status": "Closed", "handled_by": "fr-Loic", "waits": 0, "version": 17})
        ]
    );
}

#[test]
fn helpdesk_xes() {
    let dir = Dir::new();
    let counts = run_real(&dir, "helpdesk");
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(testdata("real/helpdesk/helpdesk-first-100.xes.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    assert_eq!(counts.records, text.matches("<event>").count() as u64);
    assert_eq!(
        (counts.records, counts.events, counts.rejects),
        (479, 479, 0)
    );
    assert_eq!(counts.streams(), &json!({"ticket": 100}));
    // Four events repeat the one before them exactly: their derived ids collide.
    assert_eq!(counts.findings(), &json!({"duplicate_event_id": 4}));
    let case = dir.query_json(
        "helpdesk",
        "SELECT stream_id, status, seriousness, handled_by, version FROM ticket WHERE stream_id = 'Case 1'",
    );
    assert_eq!(
        case,
        [
            json!({"stream_id": "Case 1", "status": "closed", "seriousness": "Value 1", "handled_by": "Value 1", "version": 5})
        ]
    );
}

/// One bad-input case: a file, the flags to read it, and the rejects expected.
struct Bad {
    name: &'static str,
    bytes: Vec<u8>,
    args: &'static [&'static str],
    counts: (u64, u64, u64),
    /// (line, field or "", start of the reason)
    rejects: Vec<(u64, &'static str, &'static str)>,
}

const GOOD: &str = r#"{"stream_id":"task-1","version":1,"event_type":"TaskCreated","occurred_at":"2026-01-05T09:00:00Z","payload":{"title":"a"}}"#;

fn good(version: u64) -> String {
    GOOD.replace("\"version\":1", &format!("\"version\":{version}"))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn every_bad_input_class_is_a_reject_with_its_reason() {
    let long_line = format!(
        r#"{{"stream_id":"task-1","version":2,"event_type":"X","occurred_at":1,"payload":"{}"}}"#,
        "x".repeat(300)
    );
    let lines: String = (1..=2000).map(|v| good(v) + "\n").collect();
    let mut truncated = gzip(lines.as_bytes());
    truncated.truncate(truncated.len() / 2);
    let cases = vec![
        Bad {
            name: "malformed.ndjson",
            bytes: format!("{}\n{{\"stream_id\": \n", good(1)).into_bytes(),
            args: &[],
            counts: (2, 1, 1),
            rejects: vec![(2, "", "malformed JSON at column")],
        },
        Bad {
            name: "long.ndjson",
            bytes: format!("{}\n{long_line}\n", good(1)).into_bytes(),
            args: &["--max-record-bytes", "200"],
            counts: (2, 1, 1),
            rejects: vec![(2, "", "record is 380 bytes, longer than the maximum of 200")],
        },
        Bad {
            name: "utf8.ndjson",
            bytes: [good(1).as_bytes(), b"\n{\"stream_id\":\"task-\xff\"}\n"].concat(),
            args: &[],
            counts: (2, 1, 1),
            rejects: vec![(2, "", "invalid UTF-8 at byte 19 of the record")],
        },
        Bad {
            name: "truncated.ndjson.gz",
            bytes: truncated,
            args: &[],
            counts: (0, 0, 0),
            rejects: vec![],
        },
        Bad {
            name: "empty.ndjson",
            bytes: Vec::new(),
            args: &[],
            counts: (1, 0, 1),
            rejects: vec![(1, "", "the input holds no records (an empty file?)")],
        },
        Bad {
            name: "rows.csv",
            bytes: b"stream_id,version,event_type,occurred_at\ntask-1,1,TaskCreated,2026-01-05T09:00:00Z\ntask-1,2,TaskStarted\n\"task-1\",3,TaskCompleted,2026-01-05T10:00:00Z\n".to_vec(),
            args: &[],
            counts: (3, 2, 1),
            rejects: vec![(3, "", "row has 3 fields, the header has 4")],
        },
        Bad {
            name: "missing.ndjson",
            bytes: format!("{}\n{}\n", good(1), GOOD.replace(r#""event_type":"TaskCreated","#, "")).into_bytes(),
            args: &[],
            counts: (2, 1, 1),
            rejects: vec![(2, "event_type", "missing field \"event_type\" (looked for event_type)")],
        },
        Bad {
            name: "type.ndjson",
            bytes: format!("{}\n{}\n", good(1), GOOD.replace(r#""version":1"#, r#""version":[2]"#)).into_bytes(),
            args: &[],
            counts: (2, 1, 1),
            rejects: vec![(2, "version", "field \"version\" is [2], expected a non-negative integer")],
        },
        Bad {
            name: "time.ndjson",
            bytes: format!("{}\n{}\n", good(1), good(2).replace("2026-01-05T09:00:00Z", "5th of January")).into_bytes(),
            args: &[],
            counts: (2, 1, 1),
            rejects: vec![(2, "occurred_at", "field \"occurred_at\" is \"5th of January\", expected an RFC 3339 timestamp")],
        },
        Bad {
            name: "array.json",
            bytes: format!("[\n{},\n{{\"stream_id\": [,]}},\n{}\n]\n", good(1), good(2)).into_bytes(),
            args: &[],
            counts: (3, 2, 1),
            rejects: vec![(3, "", "malformed JSON at column")],
        },
        Bad {
            name: "cut.json",
            bytes: format!("[{},\n{}", good(1), &good(2)[..40]).into_bytes(),
            args: &[],
            counts: (2, 1, 1),
            rejects: vec![(2, "", "the input ends inside this array element (truncated?)")],
        },
        Bad {
            name: "log.xes",
            bytes: br#"<?xml version="1.0"?>
<log xes.version="1849-2016">
  <trace>
    <string key="concept:name" value="task-1"/>
    <event>
      <string key="concept:name" value="TaskCreated"/>
      <date key="time:timestamp" value="2026-01-05T09:00:00+01:00"/>
    </event>
    <event>
      <string key="concept:name" value="TaskStarted"/>
    </event>
  </trace>
</log>
"#
            .to_vec(),
            args: &["--preset", "xes"],
            counts: (2, 1, 1),
            rejects: vec![(9, "occurred_at", "missing field \"occurred_at\" (looked for time:timestamp)")],
        },
    ];
    for case in cases {
        let dir = Dir::new();
        dir.write(case.name, &case.bytes);
        let mut args = vec!["-i", case.name];
        args.extend(case.args);
        let counts = run(&dir, "out", &args);
        if case.name == "truncated.ndjson.gz" {
            // What was read before the damage is kept; the damage (with the line it
            // cut short) is one reject. Counted apart: the whole lines flate2
            // decodes before the error.
            let mut decoded = Vec::new();
            let mut decoder = flate2::read::MultiGzDecoder::new(&case.bytes[..]);
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = decoder.read(&mut buffer) {
                decoded.extend_from_slice(&buffer[..n]);
            }
            let whole = decoded.iter().filter(|b| **b == b'\n').count() as u64;
            assert!(whole > 0 && decoded.last() != Some(&b'\n'));
            assert_eq!(
                (counts.records, counts.events, counts.rejects),
                (whole + 1, whole, 1)
            );
            let rejected = rejects(&dir, "out");
            assert_eq!(rejected[0].0, whole + 1);
            assert!(
                rejected[0].2.starts_with("input is damaged after byte")
                    && rejected[0].2.ends_with("everything before it was read"),
                "{rejected:?}"
            );
            continue;
        }
        assert_eq!(
            (counts.records, counts.events, counts.rejects),
            case.counts,
            "{}",
            case.name
        );
        let rejected = rejects(&dir, "out");
        assert_eq!(
            rejected.len(),
            case.rejects.len(),
            "{}: {rejected:?}",
            case.name
        );
        for ((line, field, reason), (want_line, want_field, want_reason)) in
            rejected.iter().zip(&case.rejects)
        {
            assert_eq!(line, want_line, "{}: {reason}", case.name);
            assert_eq!(
                field.as_deref().unwrap_or(""),
                *want_field,
                "{}: {reason}",
                case.name
            );
            assert!(reason.starts_with(want_reason), "{}: {reason}", case.name);
        }
    }
}

#[test]
fn a_byte_order_mark_is_read_past_in_every_text_format() {
    // Windows tools start text with a UTF-8 byte-order mark; it is not part of
    // the first record (it used to make NDJSON's first line malformed JSON and
    // a JSON array one reject).
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let dir = Dir::new();
    dir.write(
        "bom.ndjson",
        [BOM, format!("{}\n{}\n", good(1), good(2)).as_bytes()].concat(),
    );
    dir.write(
        "bom.ndjson.gz",
        gzip(&[BOM, format!("{}\n{}\n", good(1), good(2)).as_bytes()].concat()),
    );
    dir.write(
        "bom.json",
        [BOM, format!("[{},\n{}]\n", good(1), good(2)).as_bytes()].concat(),
    );
    for name in ["bom.ndjson", "bom.ndjson.gz", "bom.json"] {
        let out = format!("out-{name}");
        let counts = run(&dir, &out, &["-i", name]);
        assert_eq!(
            (counts.records, counts.events, counts.rejects),
            (2, 2, 0),
            "{name}: {:?}",
            rejects(&dir, &out)
        );
    }
}

/// An XES log of two traces, three events, one attribute or tag a line.
const XES_LOG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1849-2016">
  <trace>
    <string key="concept:name" value="task-1"/>
    <event>
      <string key="concept:name" value="TaskCreated"/>
      <date key="time:timestamp" value="2026-01-05T09:00:00+01:00"/>
    </event>
    <event>
      <string key="concept:name" value="TaskStarted"/>
      <date key="time:timestamp" value="2026-01-05T10:00:00+01:00"/>
    </event>
  </trace>
  <trace>
    <string key="concept:name" value="task-2"/>
    <event>
      <string key="concept:name" value="TaskCreated"/>
      <date key="time:timestamp" value="2026-01-05T11:00:00+01:00"/>
    </event>
  </trace>
</log>
"#;

/// The rejects of a run as `(source_file, line, reason, raw)`.
fn damage(dir: &Dir, out: &str) -> Vec<(String, u64, String, String)> {
    dir.query_json(
        out,
        "SELECT source_file, line, reason, raw FROM rejects ORDER BY source_file, line",
    )
    .into_iter()
    .map(|row| {
        let text = |key: &str| row[key].as_str().unwrap().to_owned();
        (
            text("source_file"),
            row["line"].as_u64().unwrap(),
            text("reason"),
            text("raw"),
        )
    })
    .collect()
}

#[test]
fn an_xes_log_cut_short_keeps_the_events_before_the_cut_and_is_one_reject() {
    // The whole log reads as three events.
    let dir = Dir::new();
    dir.write("whole.xes", XES_LOG);
    let counts = run(&dir, "whole", &["-i", "whole.xes", "--preset", "xes"]);
    assert_eq!((counts.records, counts.events, counts.rejects), (3, 3, 0));
    // (where the cut falls, the events before it, what the reason says, the
    // attributes read of the event cut short)
    let cut_after = |text: &str| XES_LOG.find(text).unwrap() + text.len();
    let cuts = [
        (
            cut_after(r#"value="TaskStarted"/>"#) + 1,
            1,
            "the input ends inside the <event> that starts at line 9 (truncated?)",
            r#"{"concept:name":"TaskStarted"}"#,
        ),
        (
            XES_LOG.find("</event>\n  </trace>").unwrap() + "</event>\n".len(),
            2,
            "the input ends inside the <trace> that starts at line 3 (truncated?)",
            "",
        ),
        (
            cut_after("</trace>\n"),
            2,
            "the input ends before the log's root element is closed (truncated?)",
            "",
        ),
        (
            cut_after(r#"<date key="time:timestamp" value="2026-01-05T11"#),
            2,
            "XML is broken",
            r#"{"concept:name":"TaskCreated"}"#,
        ),
        (cut_after("<ev"), 0, "XML is broken", ""),
    ];
    for (at, events, reason, raw) in cuts {
        let cut = &XES_LOG[..at];
        let line = cut.matches('\n').count() as u64 + 1;
        for name in ["cut.xes", "cut.xes.gz"] {
            let dir = Dir::new();
            match name {
                "cut.xes" => dir.write(name, cut),
                _ => dir.write(name, gzip(cut.as_bytes())),
            };
            let counts = run(&dir, "out", &["-i", name, "--preset", "xes"]);
            let rejected = damage(&dir, "out");
            assert_eq!(
                (counts.records, counts.events, counts.rejects),
                (events + 1, events, 1),
                "{name} cut at {cut:?}: {rejected:?}"
            );
            let (file, at_line, why, text) = &rejected[0];
            assert!(file.ends_with(name), "{file}");
            assert_eq!(*at_line, line, "{name} cut at {cut:?}: {why}");
            assert!(
                why.starts_with(&format!("input is damaged at line {line}: {reason}"))
                    && why.ends_with("everything before it was read"),
                "{name} cut at {cut:?}: {why}"
            );
            assert_eq!(text, raw, "{name} cut at {cut:?}");
        }
    }
    // A gzip stream cut short: the events decoded before the cut, one reject.
    let many: String = XES_LOG.lines().take(2).map(|l| format!("{l}\n")).collect::<String>()
        + &(1..=400)
            .map(|i| {
                format!(
                    "  <trace>\n    <string key=\"concept:name\" value=\"task-{i}\"/>\n    <event>\n      <string key=\"concept:name\" value=\"TaskCreated\"/>\n      <date key=\"time:timestamp\" value=\"2026-01-05T09:00:00+01:00\"/>\n      <string key=\"note\" value=\"{}\"/>\n    </event>\n  </trace>\n",
                    i * 7919 % 10007
                )
            })
            .collect::<String>()
        + "</log>\n";
    let mut truncated = gzip(many.as_bytes());
    truncated.truncate(truncated.len() / 2);
    let mut decoded = Vec::new();
    let mut decoder = flate2::read::MultiGzDecoder::new(&truncated[..]);
    let mut buffer = [0u8; 4096];
    while let Ok(n @ 1..) = decoder.read(&mut buffer) {
        decoded.extend_from_slice(&buffer[..n]);
    }
    let decoded = String::from_utf8_lossy(&decoded);
    let whole = decoded.matches("</event>").count() as u64;
    assert!(whole > 0 && whole < 400, "{whole}");
    let dir = Dir::new();
    dir.write("cut.xes.gz", truncated);
    let counts = run(&dir, "out", &["-i", "cut.xes.gz", "--preset", "xes"]);
    assert_eq!(
        (counts.records, counts.events, counts.rejects),
        (whole + 1, whole, 1)
    );
    let rejected = damage(&dir, "out");
    assert!(
        rejected[0].0.ends_with("cut.xes.gz")
            && rejected[0].2.starts_with("input is damaged at line"),
        "{rejected:?}"
    );
}

#[test]
fn a_missing_input_is_an_error_naming_it() {
    let dir = Dir::new();
    let outcome = dir.eventfold(&["run", "-i", "nowhere.ndjson"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(outcome.stderr.contains("nowhere.ndjson"), "{outcome:?}");
    let outcome = dir.eventfold(&["run", "-i", "logs/*.csv"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("logs/*.csv: the glob matches no files"),
        "{outcome:?}"
    );
}

#[test]
fn strict_stops_at_the_first_reject() {
    let dir = Dir::new();
    dir.write("log.ndjson", format!("{}\nnot json\n", good(1)));
    let outcome = dir.eventfold(&["run", "-i", "log.ndjson", "--strict"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("log.ndjson:2: malformed JSON at column 2")
            && outcome
                .stderr
                .contains("--strict stops at the first reject"),
        "{outcome:?}"
    );
    assert!(!dir.join("out").exists(), "a failed run writes nothing");
}

#[test]
fn globs_and_folders_read_many_formats_at_once() {
    let dir = Dir::new();
    std::fs::create_dir(dir.join("logs")).unwrap();
    dir.write("logs/a.ndjson", format!("{}\n", good(1)));
    dir.write("logs/b.json", format!("[{}]", good(2)));
    dir.write(
        "logs/c.csv.gz",
        gzip(b"stream_id,version,event_type,occurred_at\ntask-1,3,TaskStarted,2026-01-05T10:00:00Z\n"),
    );
    // A folder's files other than logs are skipped (README.md says so).
    dir.write("logs/README.md", "# exports of the task tracker\n");
    dir.write("logs/mapping.toml", "[fields]\n");
    let counts = run(&dir, "out-folder", &["-i", "logs"]);
    assert_eq!((counts.records, counts.events, counts.rejects), (3, 3, 0));
    let counts = run(&dir, "out-glob", &["-i", "logs/*.*json"]);
    assert_eq!((counts.records, counts.events, counts.rejects), (2, 2, 0));
}

#[test]
fn a_runs_own_parquet_reads_back_as_the_same_events() {
    let dir = Dir::new();
    let first = run(&dir, "first", &[]);
    let again = run(&dir, "again", &["-i", "first/events.parquet"]);
    assert_eq!(again.records, first.events);
    assert_eq!((again.events, again.rejects), (first.events, 0));
    assert_eq!(again.streams(), first.streams());
    let states = |out: &str| {
        dir.query_json(
            out,
            "SELECT stream_id, status, title, assignee, labels, version FROM task ORDER BY stream_id",
        )
    };
    assert_eq!(states("again"), states("first"));
}

#[test]
fn templates_constants_and_custom_time_formats() {
    let dir = Dir::new();
    dir.write(
        "tickets.csv",
        "ticket;kind;action;when;who\nT-1;ticket;opened;05/01/2026 10:00;ann\nT-1;ticket;closed;05/01/2026 11:30;bob\n",
    );
    dir.write(
        "mapping.toml",
        r#"delimiter = ";"
timestamp_formats = ["%d/%m/%Y %H:%M"]
timezone = "Europe/Amsterdam"
[fields]
stream_id = "ticket"
aggregate_type = "=ticket"
event_type = "{kind}.{action}"
version = "@order"
occurred_at = "when"
actor = "who"
payload = "@rest"
"#,
    );
    let counts = run(
        &dir,
        "out",
        &["-i", "tickets.csv", "--mapping", "mapping.toml"],
    );
    assert_eq!((counts.records, counts.events, counts.rejects), (2, 2, 0));
    let events = dir.query_json(
        "out",
        "SELECT stream_id, version, event_type, CAST(occurred_at AS VARCHAR) AS at, actor, payload FROM events ORDER BY version",
    );
    assert_eq!(
        events,
        [
            json!({"stream_id": "T-1", "version": 1, "event_type": "ticket.opened", "at": "2026-01-05T09:00:00Z", "actor": "ann", "payload": "{}"}),
            json!({"stream_id": "T-1", "version": 2, "event_type": "ticket.closed", "at": "2026-01-05T10:30:00Z", "actor": "bob", "payload": "{}"}),
        ]
    );
    // A broken mapping file is reported with its line before anything runs.
    dir.write(
        "broken.toml",
        "[fields]\nstream_id = \"ticket\"\nversion = \"@sequence\"\n",
    );
    let outcome = dir.eventfold(&["run", "-i", "tickets.csv", "--mapping", "broken.toml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("broken.toml:3: version: \"@sequence\" is not a derivation"),
        "{outcome:?}"
    );
}

/// The README's Formats table says `.tsv` is read with tabs; a `.tsv` without
/// `--delimiter tab` was read with commas: 0 events, 1 reject per row.
#[test]
fn a_tsv_file_is_read_with_tabs_unless_a_delimiter_is_given() {
    let dir = Dir::new();
    let header = "stream_id\tversion\tevent_type\toccurred_at\tpayload\n";
    let rows = "task-1\t1\tTaskCreated\t2026-01-05T09:00:00Z\t{\"title\":\"a, b\"}\n\
                task-1\t2\tTaskStarted\t2026-01-05T10:00:00Z\t{}\n";
    dir.write("log.tsv", format!("{header}{rows}"));
    dir.write("log.tsv.gz", gzip(format!("{header}{rows}").as_bytes()));
    for (out, input) in [("plain", "log.tsv"), ("gzip", "log.tsv.gz")] {
        let counts = run(&dir, out, &["-i", input]);
        assert_eq!((counts.events, counts.rejects), (2, 0), "{input}");
    }
    // A delimiter given wins over the name: the same file read with commas.
    let forced = run(&dir, "forced", &["-i", "log.tsv", "--delimiter", ","]);
    assert_eq!(forced.events, 0, "a comma splits no tab-separated row");
}
