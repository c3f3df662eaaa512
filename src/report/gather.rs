//! Reads what the page shows from an output folder: the manifest, and SQL
//! over its Parquet tables in one session (so under the session's memory
//! limit), into [`ReportData`].
//!
//! Where the query library answers the question, its shipped file is run as
//! it is (lead time, time in status, variants, busiest actors), so the page
//! and `eventfold query -f queries/analysis/…` agree; the lead-time histogram
//! reuses `lead_time.sql`'s per-stream lead times. The flow graphs are
//! `flow`'s ([`crate::tools::flow_graph`]: the pairs `directly_follows.sql`
//! counts, with an exact median that fits in the memory limit).

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::prelude::SessionContext;

use super::data::{
    Actor, AggregateData, FindingCount, FindingExample, LeadTime, Projection, RejectExample,
    RejectGroup, ReportData, StatusTime, Timeline, Variant, MAX_AGGREGATES, MAX_EDGES,
    MAX_EXAMPLES, MAX_REJECT_GROUPS, MAX_STATUSES, MAX_VARIANTS,
};
use crate::sink::manifest::Manifest;
use crate::sql::queries::QueryFile;
use crate::sql::{ident, parquet_schema, run_sql, state_tables};
use crate::tools::flow_graph::{edges_of, graph_edges, GraphOf};
use crate::{Error, Result};

const LEAD_TIME: &str = include_str!("../../queries/analysis/lead_time.sql");
const TIME_IN_STATUS: &str = include_str!("../../queries/analysis/time_in_status.sql");
const VARIANTS: &str = include_str!("../../queries/analysis/process_variants.sql");
const BUSIEST_ACTORS: &str = include_str!("../../queries/analysis/busiest_actors.sql");

/// The rows of a query, one batch, read by column name.
struct Rows {
    batch: RecordBatch,
}

impl Rows {
    async fn query(ctx: &SessionContext, sql: &str) -> Result<Self> {
        let batches = run_sql(ctx, sql).await?;
        Self::of(&batches)
    }

    fn of(batches: &[RecordBatch]) -> Result<Self> {
        let batch = match batches.first() {
            Some(first) => arrow::compute::concat_batches(&first.schema(), batches)?,
            None => RecordBatch::new_empty(std::sync::Arc::new(arrow::datatypes::Schema::empty())),
        };
        Ok(Self { batch })
    }

    fn len(&self) -> usize {
        self.batch.num_rows()
    }

    fn column(&self, name: &str, to: &DataType) -> Result<ArrayRef> {
        if self.batch.num_rows() == 0 {
            // No rows may come as no batch at all, without a schema.
            return Ok(arrow::array::new_empty_array(to));
        }
        let column = self.batch.column_by_name(name).ok_or_else(|| {
            Error::sql(datafusion::error::DataFusionError::Plan(format!(
                "report query has no column {name}"
            )))
        })?;
        Ok(arrow::compute::cast(column, to)?)
    }

    /// Column `name` as texts (`None` for null).
    fn texts(&self, name: &str) -> Result<Vec<Option<String>>> {
        let column = self.column(name, &DataType::Utf8)?;
        let column = column.as_string::<i32>();
        Ok((0..column.len())
            .map(|i| column.is_valid(i).then(|| column.value(i).to_owned()))
            .collect())
    }

    /// Column `name` as texts, null as empty.
    fn text(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .texts(name)?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect())
    }

    /// Column `name` as counts (null and negative as 0).
    fn count(&self, name: &str) -> Result<Vec<u64>> {
        let column = self.column(name, &DataType::Int64)?;
        let column = column.as_primitive::<Int64Type>();
        Ok((0..column.len())
            .map(|i| match column.is_valid(i) {
                true => column.value(i).max(0) as u64,
                false => 0,
            })
            .collect())
    }

    /// Column `name` as numbers (`None` for null).
    fn number(&self, name: &str) -> Result<Vec<Option<f64>>> {
        let column = self.column(name, &DataType::Float64)?;
        let column = column.as_primitive::<Float64Type>();
        Ok((0..column.len())
            .map(|i| column.is_valid(i).then(|| column.value(i)))
            .collect())
    }
}

/// A shipped query of `queries/analysis/`, its parameters at their defaults.
fn shipped(name: &str, text: &str) -> Result<String> {
    QueryFile::parse(&format!("queries/analysis/{name}"), text)?.render(&[])
}

/// Reads everything the page shows from the output folder `dir`, whose
/// tables `ctx` has registered; `name` names the output in the title.
pub async fn gather(ctx: &SessionContext, dir: &Path, name: &str) -> Result<ReportData> {
    let manifest = Manifest::read(dir)?.ok_or_else(|| {
        Error::usage(format!(
            "{} is not an eventfold output folder (no manifest.json)",
            dir.display()
        ))
    })?;
    let name = name.to_owned();
    let (findings, finding_examples) = findings(ctx).await?;
    let mut ordered: Vec<(&String, &u64)> = manifest.counts.streams.iter().collect();
    ordered.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut aggregates: Vec<AggregateData> = ordered
        .iter()
        .take(MAX_AGGREGATES)
        .map(|(name, streams)| AggregateData {
            name: (*name).clone(),
            streams: **streams,
            ..Default::default()
        })
        .collect();
    let aggregates_left_out = ordered
        .iter()
        .skip(MAX_AGGREGATES)
        .map(|(name, _)| (*name).clone())
        .collect();
    // A part that cannot be read (an output of an older eventfold without
    // its model.toml, a query over the memory limit) is a note on the page,
    // not a page lost: the rest is still worth a look.
    let mut notes = Vec::new();
    let mut note = |part: &str, result: Result<()>| {
        if let Err(e) = result {
            notes.push(format!("{part}: not shown: {e}"));
        }
    };
    note(
        "state distribution",
        states(ctx, dir, &mut aggregates).await,
    );
    note("lifecycle flow", flows(ctx, &mut aggregates).await);
    note("lead time", lead_times(ctx, &mut aggregates).await);
    note("time in status", time_in_status(ctx, &mut aggregates).await);
    note("variants", variants(ctx, &mut aggregates).await);
    let (mut rejects_shown, mut timeline_shown, mut actors_shown) = (Vec::new(), None, Vec::new());
    note("rejects", rejects(ctx).await.map(|r| rejects_shown = r));
    note(
        "events over time",
        timeline(ctx).await.map(|t| timeline_shown = t),
    );
    note(
        "busiest actors",
        actors(ctx).await.map(|a| actors_shown = a),
    );
    let projections = manifest
        .projections
        .iter()
        .map(|(name, entry)| Projection {
            name: name.clone(),
            kind: entry.kind.clone(),
            source: entry.source.clone(),
            key: entry.key.clone(),
            rows: manifest.counts.projections.get(name).copied().unwrap_or(0),
        })
        .collect();
    Ok(ReportData {
        name,
        findings,
        finding_examples,
        rejects: rejects_shown,
        timeline: timeline_shown,
        aggregates,
        aggregates_left_out,
        actors: actors_shown,
        projections,
        manifest,
        notes,
    })
}

async fn findings(ctx: &SessionContext) -> Result<(Vec<FindingCount>, Vec<FindingExample>)> {
    let rows = Rows::query(
        ctx,
        "SELECT rule, severity, count(*) AS findings FROM findings
         GROUP BY rule, severity ORDER BY findings DESC, rule, severity",
    )
    .await?;
    let counts = (rows.text("rule")?.into_iter())
        .zip(rows.text("severity")?)
        .zip(rows.count("findings")?)
        .map(|((rule, severity), findings)| FindingCount {
            rule,
            severity,
            findings,
        })
        .collect();
    let rows = Rows::query(
        ctx,
        &format!(
            "SELECT rule, aggregate_type, stream_id, version, message FROM (
               SELECT *, row_number() OVER (PARTITION BY rule
                   ORDER BY aggregate_type, stream_id, version, position) AS nth
               FROM findings)
             WHERE nth <= {MAX_EXAMPLES} ORDER BY rule, nth"
        ),
    )
    .await?;
    let (rule, aggregate_type, stream_id) = (
        rows.text("rule")?,
        rows.text("aggregate_type")?,
        rows.text("stream_id")?,
    );
    let (version, message) = (rows.count("version")?, rows.text("message")?);
    let examples = (0..rows.len())
        .map(|i| FindingExample {
            rule: rule[i].clone(),
            aggregate_type: aggregate_type[i].clone(),
            stream_id: stream_id[i].clone(),
            version: version[i],
            message: message[i].clone(),
        })
        .collect();
    Ok((counts, examples))
}

async fn rejects(ctx: &SessionContext) -> Result<Vec<RejectGroup>> {
    // A reason names the value it could not read; without the values,
    // reasons of one kind group together.
    let rows = Rows::query(
        ctx,
        &format!(
            "WITH classed AS (
               SELECT *, regexp_replace(regexp_replace(reason, '\"[^\"]*\"', '…', 'g'),
                                        '(^| )[0-9]+([ ,:;)]|$)', '\\1…\\2', 'g') AS kind
               FROM rejects),
             ranked AS (
               SELECT kind, reason, source, substr(raw, 1, 200) AS raw,
                      count(*) OVER (PARTITION BY kind) AS rejects,
                      row_number() OVER (PARTITION BY kind ORDER BY source_file, line, byte_offset) AS nth
               FROM classed)
             SELECT * FROM ranked WHERE nth <= {MAX_EXAMPLES} ORDER BY rejects DESC, kind, nth"
        ),
    )
    .await?;
    let (kind, reason, source, raw) = (
        rows.text("kind")?,
        rows.text("reason")?,
        rows.text("source")?,
        rows.text("raw")?,
    );
    let count = rows.count("rejects")?;
    let mut groups: Vec<RejectGroup> = Vec::new();
    for i in 0..rows.len() {
        let example = RejectExample {
            source: source[i].clone(),
            reason: reason[i].clone(),
            raw: raw[i].clone(),
        };
        match groups.last_mut() {
            Some(group) if group.kind == kind[i] => {
                group.examples.push(example);
                continue;
            }
            _ => {}
        }
        if groups.len() == MAX_REJECT_GROUPS {
            break;
        }
        groups.push(RejectGroup {
            kind: kind[i].clone(),
            rejects: count[i],
            examples: vec![example],
        });
    }
    Ok(groups)
}

const MICROS_PER_DAY: i64 = 86_400_000_000;
/// More bins than this are shown as the bins that have events only.
const MAX_FILLED_BINS: usize = 400;

async fn timeline(ctx: &SessionContext) -> Result<Option<Timeline>> {
    let span = Rows::query(
        ctx,
        "SELECT CAST(min(occurred_at) AS BIGINT) AS first, CAST(max(occurred_at) AS BIGINT) AS last FROM events",
    )
    .await?;
    let (Some(Some(first)), Some(Some(last))) = (
        span.number("first")?.first().copied(),
        span.number("last")?.first().copied(),
    ) else {
        return Ok(None);
    };
    let days = (last - first) / MICROS_PER_DAY as f64;
    let unit = match days {
        d if d <= 92.0 => "day",
        d if d <= 3.0 * 365.0 => "week",
        d if d <= 30.0 * 365.0 => "month",
        _ => "year",
    };
    let rows = Rows::query(
        ctx,
        &format!(
            "SELECT CAST(date_trunc('{unit}', occurred_at) AS BIGINT) AS bin, count(*) AS events
             FROM events GROUP BY 1 ORDER BY 1"
        ),
    )
    .await?;
    let counts: BTreeMap<i64, u64> = (rows.number("bin")?.into_iter())
        .zip(rows.count("events")?)
        .filter_map(|(bin, events)| Some((bin? as i64, events)))
        .collect();
    let label = |micros: i64| {
        let Some(time) = chrono::DateTime::from_timestamp_micros(micros) else {
            return micros.to_string();
        };
        match unit {
            "day" | "week" => time.format("%Y-%m-%d").to_string(),
            "month" => time.format("%Y-%m").to_string(),
            _ => time.format("%Y").to_string(),
        }
    };
    let filled = fill_bins(&counts, unit);
    let bins = match filled {
        Some(bins) => bins,
        None => counts.iter().map(|(bin, n)| (*bin, *n)).collect(),
    };
    Ok(Some(Timeline {
        unit,
        bins: bins.into_iter().map(|(bin, n)| (label(bin), n)).collect(),
    }))
}

/// Every bin from the first to the last, empty ones as 0; `None` when there
/// would be more than [`MAX_FILLED_BINS`].
fn fill_bins(counts: &BTreeMap<i64, u64>, unit: &str) -> Option<Vec<(i64, u64)>> {
    let (first, last) = (*counts.keys().next()?, *counts.keys().next_back()?);
    let next = |micros: i64| -> Option<i64> {
        let months = match unit {
            "day" => return micros.checked_add(MICROS_PER_DAY),
            "week" => return micros.checked_add(7 * MICROS_PER_DAY),
            "month" => 1,
            _ => 12,
        };
        let time = chrono::DateTime::from_timestamp_micros(micros)?;
        Some(
            time.checked_add_months(chrono::Months::new(months))?
                .timestamp_micros(),
        )
    };
    let mut bins = Vec::new();
    let mut bin = first;
    while bin <= last {
        if bins.len() == MAX_FILLED_BINS {
            return None;
        }
        bins.push((bin, counts.get(&bin).copied().unwrap_or(0)));
        bin = next(bin)?;
    }
    Some(bins)
}

async fn states(ctx: &SessionContext, dir: &Path, aggregates: &mut [AggregateData]) -> Result<()> {
    let tables: BTreeMap<String, std::path::PathBuf> = state_tables(dir).into_iter().collect();
    for aggregate in aggregates {
        let Some(path) = tables.get(&aggregate.name) else {
            continue;
        };
        aggregate.declared = true;
        if parquet_schema(path)?.field_with_name("status").is_err() {
            continue;
        }
        let rows = Rows::query(
            ctx,
            &format!(
                "SELECT coalesce(CAST(status AS VARCHAR), '(none)') AS status, count(*) AS streams
                 FROM {} GROUP BY 1 ORDER BY streams DESC, status LIMIT {MAX_STATUSES}",
                ident(&aggregate.name)
            ),
        )
        .await?;
        aggregate.states = Some(
            rows.text("status")?
                .into_iter()
                .zip(rows.count("streams")?)
                .collect(),
        );
    }
    Ok(())
}

async fn flows(ctx: &SessionContext, aggregates: &mut [AggregateData]) -> Result<()> {
    for graph in [GraphOf::Statuses, GraphOf::Events] {
        let found = graph_edges(ctx, graph).await?;
        for aggregate in aggregates.iter_mut() {
            let mut all = edges_of(&found, &aggregate.name, 1);
            let total = all.len();
            all.truncate(MAX_EDGES);
            match graph {
                GraphOf::Statuses => {
                    (aggregate.status_edges, aggregate.status_edges_total) = (all, total)
                }
                GraphOf::Events => {
                    (aggregate.event_edges, aggregate.event_edges_total) = (all, total)
                }
            }
        }
    }
    Ok(())
}

/// The bins of the lead-time histogram: `(upper bound in hours, label)`,
/// the last open-ended. Negative lead times (timestamps that run backwards)
/// have a bin of their own.
pub const LEAD_TIME_BINS: [(f64, &str); 26] = [
    (0.0, "negative"),
    (1.0 / 60.0, "<1m"),
    (5.0 / 60.0, "1–5m"),
    (0.25, "5–15m"),
    (0.5, "15–30m"),
    (1.0, "30m–1h"),
    (2.0, "1–2h"),
    (4.0, "2–4h"),
    (8.0, "4–8h"),
    (16.0, "8–16h"),
    (24.0, "16–24h"),
    (48.0, "1–2d"),
    (72.0, "2–3d"),
    (120.0, "3–5d"),
    (168.0, "5–7d"),
    (336.0, "1–2w"),
    (504.0, "2–3w"),
    (672.0, "3–4w"),
    (1008.0, "4–6w"),
    (1344.0, "6–8w"),
    (1680.0, "8–10w"),
    (2184.0, "10–13w"),
    (4368.0, "13–26w"),
    (8760.0, "26–52w"),
    (17520.0, "1–2y"),
    (f64::INFINITY, "≥2y"),
];

/// `lead_time.sql` up to its final SELECT: its CTEs, ending with
/// `lead_times` (one row per created stream, its `hours` or null).
fn lead_time_ctes() -> Result<&'static str> {
    let start = LEAD_TIME.find("WITH ").unwrap_or(0);
    LEAD_TIME[start..]
        .rsplit_once("\nSELECT\n")
        .map(|(ctes, _)| ctes)
        .filter(|ctes| ctes.contains("lead_times AS ("))
        .ok_or_else(|| {
            Error::usage(
                "queries/analysis/lead_time.sql: no lead_times CTE before its final SELECT",
            )
        })
}

async fn lead_times(ctx: &SessionContext, aggregates: &mut [AggregateData]) -> Result<()> {
    let rows = Rows::query(ctx, &shipped("lead_time.sql", LEAD_TIME)?).await?;
    let (types, created, finished) = (
        rows.text("aggregate_type")?,
        rows.count("streams_created")?,
        rows.count("streams_finished")?,
    );
    let (p50, p90, max) = (
        rows.number("p50_hours")?,
        rows.number("p90_hours")?,
        rows.number("max_hours")?,
    );
    let cases: String = LEAD_TIME_BINS
        .iter()
        .enumerate()
        .filter(|(_, (bound, _))| bound.is_finite())
        .map(|(i, (bound, _))| format!(" WHEN hours < {bound:?} THEN {i}"))
        .collect();
    let binned = Rows::query(
        ctx,
        &format!(
            "{}
SELECT aggregate_type, bin, count(*) AS streams FROM (
  SELECT aggregate_type, CASE{cases} ELSE {} END AS bin FROM lead_times WHERE hours IS NOT NULL)
GROUP BY aggregate_type, bin ORDER BY aggregate_type, bin",
            lead_time_ctes()?,
            LEAD_TIME_BINS.len() - 1
        ),
    )
    .await?;
    let (bin_types, bins, streams) = (
        binned.text("aggregate_type")?,
        binned.count("bin")?,
        binned.count("streams")?,
    );
    for aggregate in aggregates {
        let Some(row) = types.iter().position(|t| *t == aggregate.name) else {
            continue;
        };
        let mut counts = [0u64; LEAD_TIME_BINS.len()];
        for i in (0..bins.len()).filter(|i| bin_types[*i] == aggregate.name) {
            if let Some(count) = counts.get_mut(bins[i] as usize) {
                *count += streams[i];
            }
        }
        // From the first bin with streams to the last (none when no stream finished).
        let first = counts.iter().position(|n| *n > 0).unwrap_or(counts.len());
        let last = counts.iter().rposition(|n| *n > 0).map_or(0, |i| i + 1);
        aggregate.lead_time = Some(LeadTime {
            streams_created: created[row],
            streams_finished: finished[row],
            p50_hours: p50[row],
            p90_hours: p90[row],
            max_hours: max[row],
            bins: (first..last)
                .map(|i| (LEAD_TIME_BINS[i].1.to_owned(), counts[i]))
                .collect(),
        });
    }
    Ok(())
}

async fn time_in_status(ctx: &SessionContext, aggregates: &mut [AggregateData]) -> Result<()> {
    let rows = Rows::query(ctx, &shipped("time_in_status.sql", TIME_IN_STATUS)?).await?;
    let (types, status, streams) = (
        rows.text("aggregate_type")?,
        rows.text("status")?,
        rows.count("streams")?,
    );
    let (total, median) = (rows.number("total_hours")?, rows.number("median_hours")?);
    for aggregate in aggregates {
        aggregate.time_in_status = (0..rows.len())
            .filter(|i| types[*i] == aggregate.name)
            .map(|i| StatusTime {
                status: status[i].clone(),
                streams: streams[i],
                total_hours: total[i].unwrap_or(0.0),
                median_hours: median[i].unwrap_or(0.0),
            })
            .collect();
    }
    Ok(())
}

async fn variants(ctx: &SessionContext, aggregates: &mut [AggregateData]) -> Result<()> {
    let rows = Rows::query(ctx, &shipped("process_variants.sql", VARIANTS)?).await?;
    let (types, rank, streams, steps) = (
        rows.text("aggregate_type")?,
        rows.count("rank")?,
        rows.count("streams")?,
        rows.count("steps")?,
    );
    let (share, example, variant) = (
        rows.number("share")?,
        rows.text("example_stream")?,
        rows.text("variant")?,
    );
    for aggregate in aggregates {
        let mine: Vec<usize> = (0..rows.len())
            .filter(|i| types[*i] == aggregate.name)
            .collect();
        aggregate.variants_ranked = mine.len();
        aggregate.variants = mine
            .into_iter()
            .take(MAX_VARIANTS)
            .map(|i| Variant {
                rank: rank[i],
                streams: streams[i],
                share: share[i].unwrap_or(0.0),
                steps: steps[i],
                example_stream: example[i].clone(),
                variant: variant[i].clone(),
            })
            .collect();
    }
    Ok(())
}

async fn actors(ctx: &SessionContext) -> Result<Vec<Actor>> {
    let rows = Rows::query(ctx, &shipped("busiest_actors.sql", BUSIEST_ACTORS)?).await?;
    let (actor, events, share) = (
        rows.text("actor")?,
        rows.count("events")?,
        rows.number("share_of_events")?,
    );
    let (aggregates, days) = (rows.count("aggregates")?, rows.count("active_days")?);
    Ok((0..rows.len())
        .map(|i| Actor {
            actor: actor[i].clone(),
            events: events[i],
            share_of_events: share[i].unwrap_or(0.0),
            aggregates: aggregates[i],
            active_days: days[i],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lead_time_query_ends_in_the_ctes_the_histogram_reuses() {
        let ctes = lead_time_ctes().unwrap();
        assert!(ctes.starts_with("WITH terminal AS ("), "{ctes}");
        assert!(ctes.trim_end().ends_with(')'), "{ctes}");
    }

    #[test]
    fn bins_are_filled_between_the_first_and_the_last() {
        let day = MICROS_PER_DAY;
        let counts = BTreeMap::from([(0, 3), (2 * day, 1)]);
        assert_eq!(
            fill_bins(&counts, "day"),
            Some(vec![(0, 3), (day, 0), (2 * day, 1)])
        );
        let far = BTreeMap::from([(0, 1), (1000 * day, 1)]);
        assert_eq!(fill_bins(&far, "day"), None);
        let months = BTreeMap::from([(0, 1), (59 * day, 2)]);
        assert_eq!(fill_bins(&months, "month").map(|b| b.len()), Some(3));
    }
}
