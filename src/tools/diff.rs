//! `diff`: what changed between two rebuilds, per aggregate type.
//!
//! Both outputs' state tables are registered side by side (`a_task`, `b_task`)
//! and compared in SQL on `stream_id`: aggregates only in A, only in B, and
//! changed, one detail row per changed field with its old and new value as
//! text. A field that exists on one side only (a model change added or dropped
//! it) counts as changed wherever it holds a value.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{AsArray, RecordBatch};
use datafusion::prelude::SessionContext;

use crate::sql::{register_file, run_sql, state_tables};
use crate::Result;

/// The comparison of one aggregate type.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AggregateDiff {
    pub aggregate_type: String,
    pub only_in_a: u64,
    pub only_in_b: u64,
    pub changed: u64,
    pub unchanged: u64,
    /// Changed aggregates per field.
    pub fields: BTreeMap<String, u64>,
}

/// The whole comparison: a summary per aggregate type and the detail rows
/// (aggregate_type, stream_id, change, field, old_value, new_value).
#[derive(Debug, Default)]
pub struct Diff {
    pub aggregates: Vec<AggregateDiff>,
    pub details: Vec<RecordBatch>,
}

impl Diff {
    /// Whether anything differs.
    pub fn any_change(&self) -> bool {
        self.aggregates
            .iter()
            .any(|a| a.only_in_a + a.only_in_b + a.changed > 0)
    }
}

/// The schema of the detail rows (for an empty details file).
pub fn details_schema() -> arrow::datatypes::SchemaRef {
    use arrow::datatypes::{DataType, Field, Schema};
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    std::sync::Arc::new(Schema::new(vec![
        text("aggregate_type", false),
        text("stream_id", false),
        text("change", false),
        text("field", true),
        text("old_value", true),
        text("new_value", true),
    ]))
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

async fn columns(ctx: &SessionContext, table: &str) -> Result<Vec<String>> {
    let frame = ctx.table(table).await?;
    Ok(frame
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect())
}

/// The SQL of the detail rows of one aggregate type present on both sides.
fn changes_sql(aggregate: &str, a_cols: &[String], b_cols: &[String]) -> String {
    let (a, b, agg) = (
        ident(&format!("a_{aggregate}")),
        ident(&format!("b_{aggregate}")),
        literal(aggregate),
    );
    let mut parts = vec![
        format!("SELECT {agg} AS aggregate_type, stream_id, 'only_in_a' AS change, CAST(NULL AS VARCHAR) AS field, CAST(NULL AS VARCHAR) AS old_value, CAST(NULL AS VARCHAR) AS new_value FROM {a} WHERE stream_id NOT IN (SELECT stream_id FROM {b})"),
        format!("SELECT {agg}, stream_id, 'only_in_b', CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR) FROM {b} WHERE stream_id NOT IN (SELECT stream_id FROM {a})"),
    ];
    let join = format!("FROM {a} x JOIN {b} y ON x.stream_id = y.stream_id");
    for column in a_cols.iter().filter(|c| *c != "stream_id") {
        let (c, name) = (ident(column), literal(column));
        parts.push(if b_cols.contains(column) {
            format!("SELECT {agg}, x.stream_id, 'changed', {name}, CAST(x.{c} AS VARCHAR), CAST(y.{c} AS VARCHAR) {join} WHERE x.{c} IS DISTINCT FROM y.{c}")
        } else {
            format!("SELECT {agg}, x.stream_id, 'changed', {name}, CAST(x.{c} AS VARCHAR), CAST(NULL AS VARCHAR) {join} WHERE x.{c} IS NOT NULL")
        });
    }
    for column in b_cols.iter().filter(|c| !a_cols.contains(c)) {
        let (c, name) = (ident(column), literal(column));
        parts.push(format!("SELECT {agg}, x.stream_id, 'changed', {name}, CAST(NULL AS VARCHAR), CAST(y.{c} AS VARCHAR) {join} WHERE y.{c} IS NOT NULL"));
    }
    parts.join("\nUNION ALL\n")
}

/// The detail rows when an aggregate type exists on one side only.
fn one_side_sql(aggregate: &str, side: &str) -> String {
    format!(
        "SELECT {} AS aggregate_type, stream_id, 'only_in_{side}' AS change, CAST(NULL AS VARCHAR) AS field, CAST(NULL AS VARCHAR) AS old_value, CAST(NULL AS VARCHAR) AS new_value FROM {}",
        literal(aggregate),
        ident(&format!("{side}_{aggregate}"))
    )
}

async fn count(ctx: &SessionContext, sql: &str) -> Result<u64> {
    let batches = run_sql(ctx, sql).await?;
    Ok(batches
        .first()
        .filter(|b| b.num_rows() > 0)
        .and_then(|b| arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::UInt64).ok())
        .map(|c| c.as_primitive::<arrow::datatypes::UInt64Type>().value(0))
        .unwrap_or(0))
}

/// The counts of one aggregate type, from its detail rows (sorted by stream).
fn summarise(aggregate: &str, details: &[RecordBatch]) -> Result<AggregateDiff> {
    let mut summary = AggregateDiff {
        aggregate_type: aggregate.to_owned(),
        ..AggregateDiff::default()
    };
    let mut last_changed: Option<String> = None;
    for batch in details {
        let text =
            |i: usize| arrow::compute::cast(batch.column(i), &arrow::datatypes::DataType::Utf8);
        let (streams, changes, fields) = (text(1)?, text(2)?, text(3)?);
        let (streams, changes, fields) = (
            streams.as_string::<i32>(),
            changes.as_string::<i32>(),
            fields.as_string::<i32>(),
        );
        for row in 0..batch.num_rows() {
            match changes.value(row) {
                "only_in_a" => summary.only_in_a += 1,
                "only_in_b" => summary.only_in_b += 1,
                _ => {
                    *summary
                        .fields
                        .entry(fields.value(row).to_owned())
                        .or_default() += 1;
                    let stream = streams.value(row);
                    if last_changed.as_deref() != Some(stream) {
                        summary.changed += 1;
                        last_changed = Some(stream.to_owned());
                    }
                }
            }
        }
    }
    Ok(summary)
}

/// Compares the state tables of the outputs `a` and `b`.
pub async fn diff(ctx: &SessionContext, a: &Path, b: &Path) -> Result<Diff> {
    for dir in [a, b] {
        crate::sql::ensure_output(dir)?;
    }
    let mut sides: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for (side, dir) in [("a", a), ("b", b)] {
        for (name, path) in state_tables(dir) {
            register_file(ctx, &format!("{side}_{name}"), &path).await?;
            let entry = sides.entry(name).or_default();
            if side == "a" {
                entry.0 = true;
            } else {
                entry.1 = true;
            }
        }
    }
    let mut result = Diff::default();
    for (aggregate, present) in sides {
        let sql = match present {
            (true, true) => {
                let a_cols = columns(ctx, &format!("a_{aggregate}")).await?;
                let b_cols = columns(ctx, &format!("b_{aggregate}")).await?;
                changes_sql(&aggregate, &a_cols, &b_cols)
            }
            (true, false) => one_side_sql(&aggregate, "a"),
            _ => one_side_sql(&aggregate, "b"),
        };
        let details: Vec<RecordBatch> = run_sql(
            ctx,
            &format!("SELECT * FROM ({sql}) ORDER BY stream_id, change, field"),
        )
        .await?
        .into_iter()
        .filter(|b| b.num_rows() > 0)
        .collect();
        let mut summary = summarise(&aggregate, &details)?;
        if present == (true, true) {
            let rows_in_a = count(
                ctx,
                &format!("SELECT count(*) FROM {}", ident(&format!("a_{aggregate}"))),
            )
            .await?;
            summary.unchanged = rows_in_a.saturating_sub(summary.only_in_a + summary.changed);
        }
        result.details.extend(details);
        result.aggregates.push(summary);
    }
    Ok(result)
}
