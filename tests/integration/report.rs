//! `eventfold report` and `run --report`: the page's numbers against the
//! output's own tables (each computed here with SQL, not pasted in), on the
//! sample and on the Volvo incident log; and the page opened in headless
//! Chromium as a person would (`scripts/browser_check.py`): no console error,
//! no network request, a screenshot that is not blank, and no chart text
//! over another text or a bar as the browser lays it out.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

// A count as the page prints it: the page's own formatter, unit-tested there.
use eventfold::report::html::thousands;
use serde_json::Value;

use crate::util::{repo, Dir};

/// The part of `html` inside `<section id="ID">`.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<section id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start..].find("</section>").expect("section closes") + start;
    &html[start..end]
}

/// The chart of `fragment` whose aria-label is `title`.
fn chart<'a>(fragment: &'a str, title: &str) -> &'a str {
    let start = fragment
        .find(&format!("aria-label=\"{}\"", escape(title)))
        .unwrap_or_else(|| panic!("no chart {title}"));
    let end = fragment[start..].find("</svg>").expect("svg closes") + start;
    &fragment[start..end]
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

fn unescape(text: &str) -> String {
    (quick_xml::escape::unescape(text))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .into_owned()
}

/// The bars of a chart: `data-label` → `data-value`.
fn bars(svg: &str) -> BTreeMap<String, f64> {
    svg.split("data-label=\"")
        .skip(1)
        .map(|rest| {
            let (label, rest) = rest.split_once('"').unwrap();
            let value = rest.split("data-value=\"").nth(1).unwrap();
            let value = value.split('"').next().unwrap();
            (unescape(label), value.parse().unwrap())
        })
        .collect()
}

/// The body rows of `<table class="CLASS">` in `fragment`, each cell's text
/// (tags dropped, thousands separators of numbers kept).
fn table(fragment: &str, class: &str) -> Vec<Vec<String>> {
    let start = fragment
        .find(&format!("<table class=\"{class}\">"))
        .unwrap_or_else(|| panic!("no table {class}"));
    let body = &fragment[start..];
    let body = &body[body.find("<tbody>").unwrap()..body.find("</tbody>").unwrap()];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let cell = &cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()];
                    let mut text = String::new();
                    let mut in_tag = false;
                    for c in cell.chars() {
                        match c {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => text.push(c),
                            _ => {}
                        }
                    }
                    unescape(&text)
                })
                .collect()
        })
        .collect()
}

fn number(text: &str) -> u64 {
    text.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("{text} is not a count"))
}

/// Query rows as `k` (as text) → `n`.
fn pairs(dir: &Dir, out: &str, sql: &str) -> BTreeMap<String, f64> {
    dir.query_json(out, sql)
        .into_iter()
        .map(|row| {
            let key = match &row["k"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (key, row["n"].as_f64().unwrap())
        })
        .collect()
}

/// What `scripts/browser_check.py` saw of `page`; the screenshot goes to `png`.
fn open_in_chromium(page: &Path, png: &Path) -> Value {
    let output = Command::new("python3")
        .arg(repo().join("scripts/browser_check.py"))
        .arg(page)
        .arg(png)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "browser_check.py failed (Chromium is installed by .ci/run: apt-get install chromium):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("browser_check.py prints JSON")
}

/// Asserts that the page loaded clean and drew something.
fn assert_seen_clean(seen: &Value) {
    assert_eq!(seen["console_errors"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["requests"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["overlaps"], serde_json::json!([]), "{seen}");
    let shot = &seen["screenshot"];
    assert!(shot["colours"].as_u64().unwrap() > 50, "{seen}");
    assert!(shot["ink_share"].as_f64().unwrap() > 0.05, "{seen}");
    assert!(shot["height"].as_u64().unwrap() > 1000, "{seen}");
}

#[test]
fn the_sample_report_shows_the_numbers_of_its_tables() {
    let dir = Dir::new();
    let stdout = dir.ok(&["run", "--out", "out", "--report"]);
    assert!(stdout.contains("report: out/report.html ("), "{stdout}");
    let html = std::fs::read_to_string(dir.join("out/report.html")).unwrap();
    let manifest = dir.manifest("out");
    let counts = &manifest["counts"];

    // The run: records = events + rejects, every input with its hash.
    let run = section(&html, "run");
    let (records, events, rejects) = (
        counts["input_records"].as_u64().unwrap(),
        counts["events"].as_u64().unwrap(),
        counts["rejects"].as_u64().unwrap(),
    );
    assert!(run.contains(&format!(
        "<span data-records=\"{records}\">{}</span> read = {} events + {} rejects <span class=\"ok\">",
        thousands(records),
        thousands(events),
        thousands(rejects)
    )));
    let inputs = table(run, "inputs");
    for (row, input) in inputs.iter().zip(manifest["inputs"].as_array().unwrap()) {
        assert_eq!(row[2], input["sha256"].as_str().unwrap());
        assert_eq!(number(&row[3]), input["records"].as_u64().unwrap());
    }
    assert_eq!(inputs.len(), manifest["inputs"].as_array().unwrap().len());

    // Findings per rule and severity, and each rule's first example.
    let findings = section(&html, "findings");
    let shown: BTreeMap<String, f64> = table(findings, "findings")
        .into_iter()
        .map(|row| (format!("{} {}", row[0], row[1]), number(&row[2]) as f64))
        .collect();
    let expected = pairs(
        &dir,
        "out",
        "SELECT rule || ' ' || severity AS k, count(*) AS n FROM findings GROUP BY 1",
    );
    assert_eq!(shown, expected);
    assert!(!expected.is_empty());
    let first = dir.query_json(
        "out",
        "SELECT rule, stream_id, version FROM (SELECT *, row_number() OVER (PARTITION BY rule ORDER BY aggregate_type, stream_id, version, position) AS nth FROM findings) WHERE nth = 1 ORDER BY rule",
    );
    let examples = table(findings, "finding-examples");
    for row in first {
        let (rule, stream) = (
            row["rule"].as_str().unwrap(),
            row["stream_id"].as_str().unwrap(),
        );
        assert!(
            examples.iter().any(|e| e[0] == rule
                && e[1] == stream
                && number(&e[2]) == row["version"].as_u64().unwrap()),
            "{rule} {stream}"
        );
    }

    // Rejects: every one counted once, each source line shown (none of the
    // sample's kinds has more than the three examples shown).
    let rejects_section = section(&html, "rejects");
    let groups = table(rejects_section, "rejects");
    let total: u64 = groups.iter().map(|row| number(&row[1])).sum();
    assert_eq!(total, rejects);
    for row in dir.query_json("out", "SELECT source FROM rejects") {
        let source = row["source"].as_str().unwrap();
        assert!(rejects_section.contains(&escape(source)), "{source}");
    }

    // Events per day.
    let days = bars(chart(section(&html, "timeline"), "events per day"));
    let expected = pairs(
        &dir,
        "out",
        "SELECT CAST(CAST(date_trunc('day', occurred_at) AS DATE) AS VARCHAR) AS k, count(*) AS n FROM events GROUP BY 1",
    );
    let non_empty: BTreeMap<String, f64> = days
        .iter()
        .filter(|(_, n)| **n > 0.0)
        .map(|(d, n)| (d.clone(), *n))
        .collect();
    assert_eq!(non_empty, expected);
    assert_eq!(days.values().sum::<f64>(), events as f64);

    // Per aggregate type: states, status flow, lead time, time in status, variants.
    let task = section(&html, "aggregate-task");
    assert!(task.contains(&format!(
        "<h2>task: {} streams</h2>",
        thousands(counts["streams"]["task"].as_u64().unwrap())
    )));
    assert_eq!(
        bars(chart(task, "task: streams per status")),
        pairs(
            &dir,
            "out",
            "SELECT coalesce(status, '(none)') AS k, count(*) AS n FROM task GROUP BY 1"
        )
    );
    let changes = dir.query_json(
        "out",
        "SELECT coalesce(from_status, '(start)') AS a, to_status AS b, count(*) AS n FROM transitions
         WHERE aggregate_type = 'task' AND to_status IS NOT NULL AND (from_status IS NULL OR from_status <> to_status)
         GROUP BY 1, 2",
    );
    assert!(changes.len() > 5);
    let shown: BTreeMap<(String, String), u64> = table(task, "status-edges")
        .into_iter()
        .map(|row| ((row[0].clone(), row[1].clone()), number(&row[2])))
        .collect();
    let expected: BTreeMap<(String, String), u64> = changes
        .iter()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap().to_owned();
            ((text("a"), text("b")), c["n"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(shown, expected);
    let finished = dir.query_json(
        "out",
        "SELECT count(DISTINCT t.stream_id) AS n FROM transitions t
         JOIN model_statuses m ON m.aggregate_type = t.aggregate_type AND m.status = t.to_status AND m.is_terminal
         WHERE t.aggregate_type = 'task' AND t.stream_id IN
           (SELECT stream_id FROM transitions WHERE aggregate_type = 'task' AND from_status IS NULL AND to_status IS NOT NULL)",
    )[0]["n"]
        .as_u64()
        .unwrap();
    assert!(task.contains(&format!("<span data-finished=\"{finished}\">")));
    let histogram = bars(chart(task, "task: lead time"));
    assert_eq!(histogram.values().sum::<f64>(), finished as f64);
    let stays = dir.query_json(
        "out",
        "SELECT from_status AS s, count(DISTINCT stream_id) AS n FROM transitions
         WHERE aggregate_type = 'task' AND from_status IS NOT NULL AND seconds_since_previous IS NOT NULL GROUP BY 1",
    );
    let time_chart = chart(task, "task: median time in status");
    for stay in stays {
        let label = format!("<title>{}: ", stay["s"].as_str().unwrap());
        let tip = time_chart
            .split(&label)
            .nth(1)
            .unwrap_or_else(|| panic!("{label}"));
        let tip = tip.split("</title>").next().unwrap();
        let n = stay["n"].as_u64().unwrap();
        let streams = match n {
            1 => "· 1 stream".to_owned(),
            n => format!("· {} streams", thousands(n)),
        };
        assert!(tip.ends_with(&streams), "{label}{tip}");
    }
    let variants = dir.query_json(
        "out",
        "SELECT v, count(*) AS n FROM (SELECT string_agg(event_type, ' > ' ORDER BY version, position) AS v
         FROM events WHERE aggregate_type = 'task' GROUP BY stream_id) GROUP BY v ORDER BY n DESC, v LIMIT 8",
    );
    let shown = bars(chart(task, "task: top variants"));
    for (rank, variant) in variants.iter().enumerate() {
        let label = format!("{}. {}", rank + 1, variant["v"].as_str().unwrap());
        assert_eq!(
            shown.get(&label),
            Some(&variant["n"].as_f64().unwrap()),
            "{label}"
        );
    }
    // invoice is not in the model: said, not drawn.
    let invoice = section(&html, "aggregate-invoice");
    assert!(invoice.contains("invoice is not declared in the model"));
    assert!(invoice.contains("No status changes in invoice."));

    // The busiest actors: each with its events; nobody left out busier.
    let actors = bars(chart(section(&html, "actors"), "busiest actors"));
    let all = pairs(
        &dir,
        "out",
        "SELECT actor AS k, count(*) AS n FROM events WHERE actor IS NOT NULL GROUP BY actor",
    );
    assert_eq!(actors.len(), 10.min(all.len()));
    let least = actors.values().cloned().fold(f64::INFINITY, f64::min);
    for (actor, events) in &all {
        match actors.get(actor) {
            Some(shown) => assert_eq!(shown, events, "{actor}"),
            None => assert!(*events <= least, "{actor} left out with {events}"),
        }
    }

    // Projections with their rows.
    let projections = table(section(&html, "projections"), "projections");
    assert_eq!(
        projections.len(),
        manifest["projections"].as_object().unwrap().len()
    );
    for row in projections {
        let rows = dir.query_json("out", &format!("SELECT count(*) AS n FROM {}", row[0]))[0]["n"]
            .as_u64()
            .unwrap();
        assert_eq!(number(&row[4]), rows, "{}", row[0]);
    }

    // `eventfold report` writes the same page, wherever asked.
    dir.ok(&["report", "--out", "out", "-o", "again.html"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("again.html")).unwrap(),
        html
    );

    // An output of an older eventfold, without model.toml: the page is still
    // written, and says which part it could not show.
    std::fs::remove_file(dir.join("out/model.toml")).unwrap();
    let outcome = dir.eventfold(&["report", "--out", "out", "-o", "older.html"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let older = std::fs::read_to_string(dir.join("older.html")).unwrap();
    assert!(
        older.contains("<p class=\"bad note\">lead time: not shown: "),
        "{older}"
    );
    assert!(section(&older, "aggregate-task").contains("task: streams per status"));
}

#[test]
fn a_report_of_an_empty_log_says_so_in_every_section() {
    let dir = Dir::new();
    dir.write("empty.ndjson", "");
    // Another domain's model: no projections come with it.
    let model = repo().join("testdata/real/volvo/model.toml");
    let run = |out: &str| {
        let model = model.to_str().unwrap();
        dir.ok(&["run", "-i", "empty.ndjson", "--model", model, "--out", out]);
    };
    run("out");
    let outcome = dir.eventfold(&["report", "--out", "out"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome.stderr.contains("report: out/report.html ("),
        "{outcome:?}"
    );
    let html = std::fs::read_to_string(dir.join("out/report.html")).unwrap();
    for (id, sentence) in [
        ("findings", "No findings"),
        ("timeline", "No events."),
        ("actors", "No event names an actor."),
        ("projections", "No projections"),
    ] {
        assert!(section(&html, id).contains(sentence), "{id}");
        assert!(
            !section(&html, id).contains("<svg"),
            "{id} draws no empty chart"
        );
    }
    // The empty file is the one reject, shown with its source.
    assert!(section(&html, "rejects")
        .contains("<code>empty.ndjson:1</code> the input holds no records"));
    assert!(
        !html.contains("class=\"aggregate\""),
        "no aggregate type, no section"
    );
    // `[run] report = true` asks for the page as --report does.
    dir.write("eventfold.toml", "[run]\nreport = true\n");
    run("by-config");
    assert!(dir.join("by-config/report.html").is_file());
    let missing = dir.eventfold(&["report", "--out", "nowhere"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("nowhere is not an eventfold output folder"),
        "{missing:?}"
    );
}

#[test]
fn the_sample_and_volvo_reports_open_clean_in_chromium() {
    let dir = Dir::new();
    dir.ok(&["run", "--out", "sample", "--report"]);
    let seen = open_in_chromium(&dir.join("sample/report.html"), &dir.join("sample.png"));
    assert_seen_clean(&seen);
    assert!(seen["charts"].as_u64().unwrap() >= 10, "{seen}");
    assert_eq!(seen["title"], "eventfold report: sample");

    let volvo = repo().join("testdata/real/volvo");
    let folder = volvo.to_str().unwrap();
    dir.ok(&[
        "run",
        "-i",
        &format!("{folder}/incidents-first-600.csv"),
        "--mapping",
        &format!("{folder}/mapping.toml"),
        "--model",
        &format!("{folder}/model.toml"),
        "--projections",
        &format!("{folder}/projections"),
        "--out",
        "volvo",
        "--report",
    ]);
    let html = std::fs::read_to_string(dir.join("volvo/report.html")).unwrap();
    let incident = section(&html, "aggregate-incident");
    assert_eq!(
        bars(chart(incident, "incident: streams per status")),
        pairs(
            &dir,
            "volvo",
            "SELECT status AS k, count(*) AS n FROM incident GROUP BY 1"
        )
    );
    assert!(section(&html, "findings").contains("No findings"));
    assert!(section(&html, "rejects").contains("No rejects"));
    let seen = open_in_chromium(&dir.join("volvo/report.html"), &dir.join("volvo.png"));
    assert_seen_clean(&seen);
}

/// The browser check fails a page that logs an error, fetches something or
/// sets text on text: it is not a check that always passes.
#[test]
fn the_browser_check_sees_errors_requests_and_overlaps() {
    let dir = Dir::new();
    let page = dir.write(
        "bad.html",
        "<!DOCTYPE html><html><head><title>bad</title></head><body>\
         <svg class=\"chart\" width=\"200\" height=\"40\"><text x=\"10\" y=\"20\">260 · 8.2h</text><text x=\"20\" y=\"22\">46 · 7.4h</text></svg>\
         <script>console.error('boom')</script><img src=\"http://127.0.0.1:9/x.png\"></body></html>",
    );
    let seen = open_in_chromium(&page, &dir.join("bad.png"));
    let errors = seen["console_errors"].to_string();
    assert!(errors.contains("console: boom"), "{seen}");
    assert_eq!(
        seen["requests"],
        serde_json::json!(["http://127.0.0.1:9/x.png"])
    );
    assert!(seen["overlaps"].to_string().contains("overlaps"), "{seen}");
}

/// An incremental run with nothing new keeps its output, but still writes
/// the page asked for: of the output as it stands.
#[test]
fn an_incremental_run_with_nothing_new_writes_the_page_of_its_output() {
    let dir = Dir::new();
    dir.generate(2000, 3, "log.ndjson");
    dir.ok(&["run", "-i", "log.ndjson", "--out", "out", "--incremental"]);
    assert!(!dir.join("out/report.html").exists());
    let stdout = dir.ok(&[
        "run",
        "-i",
        "log.ndjson",
        "--out",
        "out",
        "--incremental",
        "--report",
    ]);
    assert!(stdout.contains("incremental: nothing new"), "{stdout}");
    assert!(stdout.contains("report: out/report.html ("), "{stdout}");
    let html = std::fs::read_to_string(dir.join("out/report.html")).unwrap();
    let events = dir.manifest("out")["counts"]["events"].as_u64().unwrap();
    assert!(html.contains(&format!("{} events", thousands(events))));
}
