//! The page: [`ReportData`] written as one self-contained HTML document, its
//! style inline, its pictures inline SVG, no script and no link to anything
//! outside it (so it opens from a mail attachment or an air-gapped share).
//!
//! A section whose data is empty says so in a sentence instead of drawing an
//! empty chart. Numbers are written with thousands separators; every bar of a
//! chart carries its label and exact value (`data-label`, `data-value`) and a
//! tooltip. The charts drawn are kept beside the text ([`Page::charts`]) so a
//! test can check their geometry.

use std::fmt::Write;

use super::charts::{
    bar_chart, column_chart, columns, escape, BarRow, Chart, LabelPlace, BAR, BAR_WARN,
};
use super::data::ReportData;
use crate::sink::manifest::Manifest;
use crate::tools::flow::short_duration;

mod aggregate;

/// The written page and the charts on it.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub html: String,
    pub charts: Vec<Chart>,
    /// Flow pictures drawn, for unique marker ids.
    pub(super) flows: usize,
}

const STYLE: &str = "
body{margin:0;background:#f6f7f9;color:#222;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif}
main{max-width:980px;margin:0 auto;padding:16px 20px 40px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:0 0 8px}h3{font-size:15px;margin:18px 0 6px}
section{background:#fff;border:1px solid #e2e4e8;border-radius:6px;padding:14px 18px;margin:14px 0}
nav a{margin-right:12px;color:#2a5db0;text-decoration:none}
.lede{color:#444;margin:0 0 6px}.none{color:#666;font-style:italic}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
th,td{padding:3px 10px 3px 0;text-align:left;vertical-align:top;border-bottom:1px solid #eee}
th{color:#555;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px/1.3 ui-monospace,'DejaVu Sans Mono',Menlo,monospace;word-break:break-all}code.id{white-space:nowrap;word-break:normal}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}dt{color:#555}dd{margin:0}
svg.chart{display:block;max-width:100%;height:auto;font-family:Helvetica,Arial,sans-serif;margin:4px 0}
figure{margin:6px 0;overflow-x:auto}figure svg{display:block}figcaption{color:#666;font-size:12px}
.ok{color:#1c7c3c}.bad{color:#b3261e;font-weight:600}
";

/// Writes the page.
pub fn render(data: &ReportData) -> Page {
    let mut page = Page::default();
    let title = format!("eventfold report: {}", data.name);
    let _ = write!(
        page.html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style></head>\n<body><main>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    lede(&mut page, data);
    for note in &data.notes {
        let _ = writeln!(page.html, "<p class=\"bad note\">{}</p>", escape(note));
    }
    run(&mut page, &data.manifest);
    findings(&mut page, data);
    rejects(&mut page, data);
    timeline(&mut page, data);
    for aggregate in &data.aggregates {
        aggregate::section(&mut page, aggregate);
    }
    if !data.aggregates_left_out.is_empty() {
        let _ = writeln!(
            page.html,
            "<section id=\"more-aggregates\"><p class=\"none\">{} more aggregate types not shown (fewer streams): {}.</p></section>",
            data.aggregates_left_out.len(),
            escape(&data.aggregates_left_out.join(", "))
        );
    }
    actors(&mut page, data);
    projections(&mut page, data);
    page.html.push_str("</main></body></html>\n");
    page
}

/// `n` with thousands separators: `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count in a short unit: `812 B`, `4.2 KB`, `1.3 GB`.
fn bytes(n: u64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{n} B"),
        _ => format!("{value:.1} {}", units[unit]),
    }
}

pub(super) fn hours(h: f64) -> String {
    short_duration(h * 3600.0)
}

pub(super) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

pub(super) fn none(page: &mut Page, sentence: &str) {
    let _ = writeln!(page.html, "<p class=\"none\">{}</p>", escape(sentence));
}

pub(super) fn chart(page: &mut Page, chart: Chart) {
    page.html.push_str(&chart.to_svg());
    page.html.push('\n');
    page.charts.push(chart);
}

/// A table: a header row and body rows of cells already escaped; columns
/// whose header starts with `#` are numbers (right-aligned, `#` dropped).
pub(super) fn table(page: &mut Page, class: &str, header: &[&str], rows: &[Vec<String>]) {
    let numeric: Vec<bool> = header.iter().map(|h| h.starts_with('#')).collect();
    let _ = write!(page.html, "<table class=\"{class}\"><thead><tr>");
    for (h, n) in header.iter().zip(&numeric) {
        let name = h.trim_start_matches('#');
        let _ = write!(
            page.html,
            "<th{}>{}</th>",
            if *n { " class=\"n\"" } else { "" },
            escape(name)
        );
    }
    page.html.push_str("</tr></thead><tbody>\n");
    for row in rows {
        page.html.push_str("<tr>");
        for (cell, n) in row
            .iter()
            .zip(numeric.iter().chain(std::iter::repeat(&false)))
        {
            let _ = write!(
                page.html,
                "<td{}>{cell}</td>",
                if *n { " class=\"n\"" } else { "" }
            );
        }
        page.html.push_str("</tr>\n");
    }
    page.html.push_str("</tbody></table>\n");
}

fn lede(page: &mut Page, data: &ReportData) {
    let counts = &data.manifest.counts;
    let streams: u64 = counts.streams.values().sum();
    let findings: u64 = counts.findings.values().sum();
    let _ = writeln!(
        page.html,
        "<p class=\"lede\">{} of {} in {}, {}, {}. Model <code>{}</code>, eventfold {}.</p>",
        plural(counts.events, "event", "events"),
        plural(streams, "stream", "streams"),
        plural(
            counts.streams.len() as u64,
            "aggregate type",
            "aggregate types"
        ),
        plural(findings, "finding", "findings"),
        plural(counts.rejects, "reject", "rejects"),
        escape(&data.manifest.model.name),
        escape(&data.manifest.tool_version)
    );
    page.html.push_str("<nav><a href=\"#run\">run</a><a href=\"#findings\">findings</a><a href=\"#rejects\">rejects</a><a href=\"#timeline\">events over time</a>");
    for aggregate in &data.aggregates {
        let _ = write!(
            page.html,
            "<a href=\"#{}\">{}</a>",
            anchor(&aggregate.name),
            escape(&aggregate.name)
        );
    }
    page.html
        .push_str("<a href=\"#actors\">actors</a><a href=\"#projections\">projections</a></nav>\n");
}

/// The `id` of an aggregate type's section.
pub fn anchor(aggregate: &str) -> String {
    let safe: String = aggregate
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("aggregate-{safe}")
}

fn run(page: &mut Page, manifest: &Manifest) {
    let counts = &manifest.counts;
    page.html
        .push_str("<section id=\"run\"><h2>The run</h2><dl>\n");
    let balanced = counts.input_events() + counts.rejects == counts.input_records;
    let mut facts: Vec<(&str, String)> = vec![(
        "records",
        format!(
            "<span data-records=\"{}\">{}</span> read = {} + {} <span class=\"{}\">{}</span>",
            counts.input_records,
            thousands(counts.input_records),
            plural(counts.input_events(), "event", "events"),
            plural(counts.rejects, "reject", "rejects"),
            if balanced { "ok" } else { "bad" },
            if balanced { "(balanced)" } else { "(MISMATCH)" }
        ),
    )];
    if counts.events != counts.input_events() {
        facts.push((
            "written",
            format!(
                "{} (the selection)",
                plural(counts.events, "event", "events")
            ),
        ));
    }
    let streams: Vec<String> = (counts.streams.iter())
        .map(|(t, n)| format!("{} {}", escape(t), thousands(*n)))
        .collect();
    facts.push(("streams", streams.join(", ")));
    facts.push((
        "selection",
        match &manifest.selection {
            None => "the whole log".to_owned(),
            Some(selection) => {
                let mut parts = Vec::new();
                if !selection.aggregates.is_empty() {
                    parts.push(format!(
                        "aggregate types {}",
                        selection.aggregates.join(", ")
                    ));
                }
                if !selection.streams.is_empty() {
                    parts.push(plural(selection.streams.len() as u64, "stream", "streams"));
                }
                if !selection.tenants.is_empty() {
                    parts.push(format!("tenants {}", selection.tenants.join(", ")));
                }
                if let Some(micros) = selection.as_of_micros {
                    let when = chrono::DateTime::from_timestamp_micros(micros)
                        .map_or_else(|| micros.to_string(), |t| t.to_rfc3339());
                    parts.push(format!("as of {when}"));
                }
                if let Some(position) = selection.as_of_position {
                    parts.push(format!("as of position {position}"));
                }
                escape(&format!("partial: {}", parts.join("; ")))
            }
        },
    ));
    facts.push((
        "run",
        match &manifest.increment {
            None => "full: the whole log folded".to_owned(),
            Some(increment) => format!(
                "incremental: {} new records = {} + {}, folded after {}",
                thousands(increment.input_records),
                plural(increment.events, "event", "events"),
                plural(increment.rejects, "reject", "rejects"),
                increment
                    .after_position
                    .map_or("the start".to_owned(), |p| format!("position {p}"))
            ),
        },
    ));
    if let Some(position) = manifest.watermark.position {
        facts.push(("watermark", format!("position {position}")));
    }
    facts.push((
        "model",
        format!(
            "<code>{}</code> sha256 <code>{}</code>",
            escape(&manifest.model.name),
            escape(&manifest.model.sha256)
        ),
    ));
    facts.push((
        "tool",
        format!(
            "{} {}",
            escape(&manifest.tool),
            escape(&manifest.tool_version)
        ),
    ));
    if let Some(peak) = manifest.timings.peak_rss {
        facts.push(("peak memory", bytes(peak)));
    }
    for (name, value) in facts {
        let _ = writeln!(page.html, "<dt>{name}</dt><dd>{value}</dd>");
    }
    page.html.push_str("</dl>\n<h3>Inputs</h3>\n");
    if manifest.inputs.is_empty() {
        none(page, "No inputs.");
    } else {
        let rows: Vec<Vec<String>> = (manifest.inputs.iter())
            .map(|input| {
                vec![
                    format!("<code>{}</code>", escape(&input.name)),
                    format!(
                        "<span title=\"{} bytes\">{}</span>",
                        input.bytes,
                        bytes(input.bytes)
                    ),
                    format!("<code>{}</code>", escape(&input.sha256)),
                    thousands(input.records),
                    thousands(input.events),
                    thousands(input.rejects),
                ]
            })
            .collect();
        table(
            page,
            "inputs",
            &["input", "size", "sha256", "#records", "#events", "#rejects"],
            &rows,
        );
    }
    let t = &manifest.timings;
    let stages = [
        ("ingest", t.ingest_ms),
        ("sort and replay", t.sort_replay_ms),
        ("duplicate ids", t.duplicate_ids_ms),
        ("merge", t.merge_ms),
        ("projections", t.projections_ms),
        (
            "write (the rest)",
            t.write_ms.saturating_sub(t.projections_ms),
        ),
    ];
    let _ = writeln!(
        page.html,
        "<h3>Timings</h3><p>{} ms in all, by stage:</p>",
        thousands(t.total_ms)
    );
    let rows: Vec<BarRow> = stages
        .iter()
        .filter(|(_, ms)| *ms > 0)
        .map(|(stage, ms)| BarRow {
            label: (*stage).to_owned(),
            value: *ms as f64,
            value_text: format!("{} ms", thousands(*ms)),
        })
        .collect();
    if rows.is_empty() {
        none(page, "Every stage took less than a millisecond.");
    } else {
        chart(
            page,
            bar_chart("time per stage", &rows, LabelPlace::Left, BAR),
        );
    }
    page.html.push_str("</section>\n");
}

fn findings(page: &mut Page, data: &ReportData) {
    page.html
        .push_str("<section id=\"findings\"><h2>Findings</h2>\n");
    if data.findings.is_empty() {
        none(
            page,
            "No findings: every event replayed without breaking a rule of the model.",
        );
        page.html.push_str("</section>\n");
        return;
    }
    let rows: Vec<BarRow> = (data.findings.iter())
        .map(|f| BarRow {
            label: format!("{} ({})", f.rule, f.severity),
            value: f.findings as f64,
            value_text: thousands(f.findings),
        })
        .collect();
    chart(
        page,
        bar_chart("findings per rule", &rows, LabelPlace::Left, BAR_WARN),
    );
    let rows: Vec<Vec<String>> = (data.findings.iter())
        .map(|f| vec![escape(&f.rule), escape(&f.severity), thousands(f.findings)])
        .collect();
    table(page, "findings", &["rule", "severity", "#findings"], &rows);
    page.html.push_str("<h3>First examples</h3>\n");
    let rows: Vec<Vec<String>> = (data.finding_examples.iter())
        .map(|e| {
            vec![
                escape(&e.rule),
                format!("<code class=\"id\">{}</code>", escape(&e.stream_id)),
                thousands(e.version),
                escape(&e.message),
            ]
        })
        .collect();
    table(
        page,
        "finding-examples",
        &["rule", "stream", "#version", "message"],
        &rows,
    );
    page.html.push_str("</section>\n");
}

fn rejects(page: &mut Page, data: &ReportData) {
    page.html
        .push_str("<section id=\"rejects\"><h2>Rejects</h2>\n");
    if data.rejects.is_empty() {
        none(page, "No rejects: every record read became an event.");
        page.html.push_str("</section>\n");
        return;
    }
    let shown: u64 = data.rejects.iter().map(|g| g.rejects).sum();
    let _ = writeln!(
        page.html,
        "<p>{} per reason (values in a reason shown as …), with the first source lines:</p>",
        plural(shown, "reject", "rejects")
    );
    let mut rows = Vec::new();
    for group in &data.rejects {
        let examples: Vec<String> = (group.examples.iter())
            .map(|e| {
                format!(
                    "<code>{}</code> {}<br><code>{}</code>",
                    escape(&e.source),
                    escape(&e.reason),
                    escape(&e.raw)
                )
            })
            .collect();
        rows.push(vec![
            escape(&group.kind),
            thousands(group.rejects),
            examples.join("<br>"),
        ]);
    }
    table(
        page,
        "rejects",
        &["reason", "#rejects", "source lines"],
        &rows,
    );
    page.html.push_str("</section>\n");
}

fn timeline(page: &mut Page, data: &ReportData) {
    page.html
        .push_str("<section id=\"timeline\"><h2>Events over time</h2>\n");
    match &data.timeline {
        Some(timeline) if !timeline.bins.is_empty() => {
            let _ = writeln!(page.html, "<p>Events per {} (UTC).</p>", timeline.unit);
            let columns = columns(&timeline.bins);
            chart(
                page,
                column_chart(&format!("events per {}", timeline.unit), &columns, "events"),
            );
        }
        _ => none(page, "No events."),
    }
    page.html.push_str("</section>\n");
}

fn actors(page: &mut Page, data: &ReportData) {
    page.html
        .push_str("<section id=\"actors\"><h2>Busiest actors</h2>\n");
    if data.actors.is_empty() {
        none(page, "No event names an actor.");
    } else {
        let rows: Vec<BarRow> = (data.actors.iter())
            .map(|a| BarRow {
                label: a.actor.clone(),
                value: a.events as f64,
                value_text: format!(
                    "{} · {} · {}",
                    plural(a.events, "event", "events"),
                    plural(a.aggregates, "stream", "streams"),
                    plural(a.active_days, "day", "days")
                ),
            })
            .collect();
        chart(
            page,
            bar_chart("busiest actors", &rows, LabelPlace::Left, BAR),
        );
    }
    page.html.push_str("</section>\n");
}

fn projections(page: &mut Page, data: &ReportData) {
    page.html
        .push_str("<section id=\"projections\"><h2>Projections</h2>\n");
    if data.projections.is_empty() {
        none(page, "No projections: the run built no read models.");
    } else {
        let rows: Vec<Vec<String>> = (data.projections.iter())
            .map(|p| {
                vec![
                    escape(&p.name),
                    escape(&p.kind),
                    format!("<code>{}</code>", escape(&p.source)),
                    escape(&p.key.join(", ")),
                    thousands(p.rows),
                ]
            })
            .collect();
        table(
            page,
            "projections",
            &["projection", "kind", "defined in", "key", "#rows"],
            &rows,
        );
    }
    page.html.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(4300), "4.2 KB");
        assert_eq!(anchor("a b/c"), "aggregate-a-b-c");
    }

    #[test]
    fn an_empty_output_says_so_in_every_section() {
        let page = render(&ReportData::default());
        for sentence in [
            "No findings",
            "No rejects",
            "No events.",
            "No event names an actor",
            "No projections",
        ] {
            assert!(page.html.contains(sentence), "{sentence}");
        }
        assert!(page.charts.is_empty());
    }
}
