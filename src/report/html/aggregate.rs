//! One aggregate type's section of the page: its state distribution, its
//! lifecycle flow (the status graph and the event graph as `flow` draws
//! them), lead time, time in status and top variants, each saying so when
//! it has nothing to show.

use std::fmt::Write;

use super::{anchor, chart, hours, none, plural, table, thousands, Page};
use crate::report::charts::{bar_chart, column_chart, columns, escape, BarRow, LabelPlace, BAR};
use crate::report::data::AggregateData;
use crate::tools::flow::{short_duration, to_svg, Edge};

/// A flow graph as `flow` draws it, and its edges as a table under a
/// disclosure (exact numbers, whatever the picture's layout); `class` names
/// the table.
fn flow(page: &mut Page, title: &str, class: &str, edges: &[Edge], total: usize, empty: &str) {
    if edges.is_empty() {
        none(page, empty);
        return;
    }
    page.flows += 1;
    // Several pictures on one page: each its own arrow marker id.
    let marker = format!("arrow-{}", page.flows);
    let svg = to_svg(title, edges)
        .replace("id=\"arrow\"", &format!("id=\"{marker}\""))
        .replace("url(#arrow)", &format!("url(#{marker})"));
    let caption = if total > edges.len() {
        format!(
            "<figcaption>The {} busiest of {} edges.</figcaption>",
            edges.len(),
            thousands(total as u64)
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        page.html,
        "<figure class=\"flow\">{}{caption}</figure>",
        svg.trim_end()
    );
    let _ = writeln!(
        page.html,
        "<details><summary>{} as a table</summary>",
        plural(edges.len() as u64, "edge", "edges")
    );
    let rows: Vec<Vec<String>> = (edges.iter())
        .map(|e| {
            vec![
                escape(&e.from),
                escape(&e.to),
                thousands(e.count),
                e.median_seconds.map_or("–".to_owned(), short_duration),
            ]
        })
        .collect();
    table(page, class, &["from", "to", "#count", "median time"], &rows);
    page.html.push_str("</details>\n");
}

/// The section of one aggregate type.
pub(super) fn section(page: &mut Page, aggregate: &AggregateData) {
    let name = &aggregate.name;
    let _ = writeln!(
        page.html,
        "<section id=\"{}\" class=\"aggregate\"><h2>{}: {}</h2>",
        anchor(name),
        escape(name),
        plural(aggregate.streams, "stream", "streams")
    );
    page.html.push_str("<h3>State distribution</h3>\n");
    match &aggregate.states {
        Some(states) if !states.is_empty() => {
            let rows: Vec<BarRow> = (states.iter())
                .map(|(status, n)| BarRow {
                    label: status.clone(),
                    value: *n as f64,
                    value_text: thousands(*n),
                })
                .collect();
            chart(
                page,
                bar_chart(
                    &format!("{name}: streams per status"),
                    &rows,
                    LabelPlace::Left,
                    BAR,
                ),
            );
        }
        Some(_) => none(page, &format!("The state table of {name} is empty.")),
        None if aggregate.declared => none(
            page,
            &format!("The model declares no lifecycle for {name}: its states have no status."),
        ),
        None => none(
            page,
            &format!("{name} is not declared in the model: its streams have no state."),
        ),
    }
    page.html.push_str("<h3>Lifecycle flow</h3>\n");
    flow(
        page,
        &format!("{name}: status changes (count · median time)"),
        "status-edges",
        &aggregate.status_edges,
        aggregate.status_edges_total,
        &format!("No status changes in {name}."),
    );
    flow(
        page,
        &format!("{name}: event types, directly follows (count · median time)"),
        "event-edges",
        &aggregate.event_edges,
        aggregate.event_edges_total,
        &format!("No event of {name} follows another in its stream."),
    );
    page.html.push_str("<h3>Lead time</h3>\n");
    match &aggregate.lead_time {
        Some(lead) if lead.streams_finished > 0 => {
            let figure = |h: Option<f64>| h.map_or("–".to_owned(), hours);
            let _ = writeln!(
                page.html,
                "<p class=\"lead-time\">From creation to the first terminal status: median <b>{}</b>, p90 <b>{}</b>, max {}, over <span data-finished=\"{}\">{}</span> of {} that got there.</p>",
                figure(lead.p50_hours),
                figure(lead.p90_hours),
                figure(lead.max_hours),
                lead.streams_finished,
                thousands(lead.streams_finished),
                plural(lead.streams_created, "stream created", "streams created")
            );
            let columns = columns(&lead.bins);
            chart(
                page,
                column_chart(&format!("{name}: lead time"), &columns, "streams"),
            );
        }
        Some(lead) => none(
            page,
            &format!(
                "No stream of {name} reached a terminal status ({} created).",
                thousands(lead.streams_created)
            ),
        ),
        None => none(
            page,
            &format!("No stream of {name} entered a status: no lead time."),
        ),
    }
    page.html.push_str("<h3>Time in status</h3>\n");
    if aggregate.time_in_status.is_empty() {
        none(
            page,
            &format!("No stream of {name} spent time in a status."),
        );
    } else {
        let _ = writeln!(page.html, "<p>Median time a stream spent in each status (before its next event), and how many streams did:</p>");
        let rows: Vec<BarRow> = (aggregate.time_in_status.iter())
            .map(|s| BarRow {
                label: s.status.clone(),
                value: s.median_hours,
                value_text: format!(
                    "{} · {}",
                    hours(s.median_hours),
                    plural(s.streams, "stream", "streams")
                ),
            })
            .collect();
        chart(
            page,
            bar_chart(
                &format!("{name}: median time in status"),
                &rows,
                LabelPlace::Left,
                BAR,
            ),
        );
    }
    page.html.push_str("<h3>Top variants</h3>\n");
    if aggregate.variants.is_empty() {
        none(page, &format!("No variants: {name} has no events."));
    } else {
        let _ = writeln!(
            page.html,
            "<p>The most common sequences of event types of a whole stream ({} of {}{} variants):</p>",
            aggregate.variants.len(),
            aggregate.variants_ranked,
            if aggregate.variants_ranked >= 20 { " or more" } else { "" }
        );
        let rows: Vec<BarRow> = (aggregate.variants.iter())
            .map(|v| BarRow {
                label: format!("{}. {}", v.rank, v.variant),
                value: v.streams as f64,
                value_text: format!(
                    "{} · {:.0}%",
                    plural(v.streams, "stream", "streams"),
                    v.share * 100.0
                ),
            })
            .collect();
        chart(
            page,
            bar_chart(
                &format!("{name}: top variants"),
                &rows,
                LabelPlace::Above,
                BAR,
            ),
        );
    }
    page.html.push_str("</section>\n");
}
