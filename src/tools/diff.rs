//! `diff`: what changed between two rebuilds, per state table and per
//! projection.
//!
//! Both outputs' tables are registered side by side (`a_task`, `b_task`,
//! `a_assignee_board`, …) and compared in SQL on their key: `stream_id` for
//! a state table, the key the manifest records for a projection. Rows only in
//! A, only in B, and changed, one detail row per changed field with its old
//! and new value as text. A column that exists on one side only (a model or
//! projection change added or dropped it) counts as changed wherever it holds
//! a value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, RecordBatch};
use datafusion::prelude::SessionContext;

use crate::sink::manifest::Manifest;
use crate::sql::{ident, literal, projection_tables, register_file, run_sql, state_tables};
use crate::{Error, Result};

/// The comparison of one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableDiff {
    /// `state` (an aggregate type's state table) or `projection`.
    pub kind: String,
    /// The aggregate type, or the projection's name.
    pub table: String,
    /// The columns the rows are compared on.
    pub key: Vec<String>,
    pub only_in_a: u64,
    pub only_in_b: u64,
    pub changed: u64,
    pub unchanged: u64,
    /// Changed rows per column.
    pub fields: BTreeMap<String, u64>,
}

/// The whole comparison: a summary per table and the detail rows (kind,
/// table, key, change, field, old_value, new_value).
#[derive(Debug, Default)]
pub struct Diff {
    pub tables: Vec<TableDiff>,
    pub details: Vec<RecordBatch>,
}

impl Diff {
    /// Whether anything differs.
    pub fn any_change(&self) -> bool {
        self.tables
            .iter()
            .any(|a| a.only_in_a + a.only_in_b + a.changed > 0)
    }
}

/// The schema of the detail rows (for an empty details file).
pub fn details_schema() -> arrow::datatypes::SchemaRef {
    use arrow::datatypes::{DataType, Field, Schema};
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    std::sync::Arc::new(Schema::new(vec![
        text("kind", false),
        text("table", false),
        text("key", false),
        text("change", false),
        text("field", true),
        text("old_value", true),
        text("new_value", true),
    ]))
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

/// One table to compare: where each side has it, and its key.
struct Compared {
    kind: &'static str,
    name: String,
    key: Vec<String>,
    a: Option<PathBuf>,
    b: Option<PathBuf>,
}

impl Compared {
    /// The key of row alias `x` as text: the value of a one-column key,
    /// else `column=value, …`.
    fn key_text(&self, x: &str) -> String {
        if let [column] = self.key.as_slice() {
            return format!("CAST({x}.{} AS VARCHAR)", ident(column));
        }
        let parts: Vec<String> = self
            .key
            .iter()
            .map(|c| {
                format!(
                    "{} || coalesce(CAST({x}.{} AS VARCHAR), 'null')",
                    literal(&format!("{c}=")),
                    ident(c)
                )
            })
            .collect();
        format!("concat_ws(', ', {})", parts.join(", "))
    }

    /// `x`'s key equals `y`'s.
    fn same_key(&self) -> String {
        let terms: Vec<String> = self
            .key
            .iter()
            .map(|c| format!("x.{0} = y.{0}", ident(c)))
            .collect();
        terms.join(" AND ")
    }

    fn side(&self, side: &str) -> String {
        ident(&format!("{side}_{}", self.name))
    }

    /// The leading columns of every detail row, for row alias `x`.
    fn head(&self, x: &str, change: &str) -> String {
        format!(
            "{} AS kind, {} AS \"table\", {} AS key, '{change}' AS change",
            literal(self.kind),
            literal(&self.name),
            self.key_text(x)
        )
    }

    /// The rows of `side` whose key the other side lacks.
    fn only_in(&self, side: &str, other: Option<&str>) -> String {
        let none = "CAST(NULL AS VARCHAR)";
        let mut sql = format!(
            "SELECT {}, {none} AS field, {none} AS old_value, {none} AS new_value FROM {} x",
            self.head("x", &format!("only_in_{side}")),
            self.side(side)
        );
        if let Some(other) = other {
            sql.push_str(&format!(
                " WHERE NOT EXISTS (SELECT 1 FROM {} y WHERE {})",
                self.side(other),
                self.same_key()
            ));
        }
        sql
    }

    /// The detail rows of a table present on both sides.
    fn changes_sql(&self, a_cols: &[String], b_cols: &[String]) -> String {
        let mut parts = vec![self.only_in("a", Some("b")), self.only_in("b", Some("a"))];
        let join = format!(
            "FROM {} x JOIN {} y ON {}",
            self.side("a"),
            self.side("b"),
            self.same_key()
        );
        let head = self.head("x", "changed");
        let none = "CAST(NULL AS VARCHAR)";
        for column in a_cols.iter().filter(|c| !self.key.contains(c)) {
            let (c, name) = (ident(column), literal(column));
            parts.push(if b_cols.contains(column) {
                format!("SELECT {head}, {name}, CAST(x.{c} AS VARCHAR), CAST(y.{c} AS VARCHAR) {join} WHERE x.{c} IS DISTINCT FROM y.{c}")
            } else {
                format!("SELECT {head}, {name}, CAST(x.{c} AS VARCHAR), {none} {join} WHERE x.{c} IS NOT NULL")
            });
        }
        for column in b_cols.iter().filter(|c| !a_cols.contains(c)) {
            let (c, name) = (ident(column), literal(column));
            parts.push(format!("SELECT {head}, {name}, {none}, CAST(y.{c} AS VARCHAR) {join} WHERE y.{c} IS NOT NULL"));
        }
        parts.join("\nUNION ALL\n")
    }
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

/// The counts of one table, from its detail rows (sorted by key).
fn summarise(compared: &Compared, details: &[RecordBatch]) -> Result<TableDiff> {
    let mut summary = TableDiff {
        kind: compared.kind.to_owned(),
        table: compared.name.clone(),
        key: compared.key.clone(),
        ..TableDiff::default()
    };
    let mut last_changed: Option<String> = None;
    for batch in details {
        let text =
            |i: usize| arrow::compute::cast(batch.column(i), &arrow::datatypes::DataType::Utf8);
        let (keys, changes, fields) = (text(2)?, text(3)?, text(4)?);
        let (keys, changes, fields) = (
            keys.as_string::<i32>(),
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
                    let key = keys.value(row);
                    if last_changed.as_deref() != Some(key) {
                        summary.changed += 1;
                        last_changed = Some(key.to_owned());
                    }
                }
            }
        }
    }
    Ok(summary)
}

/// The tables to compare: every state table and every projection of either
/// side, with its key (a projection's from the manifests, B's first).
fn tables_of(a: &Path, b: &Path) -> Result<Vec<Compared>> {
    // States first, then projections, each by name.
    let mut tables: BTreeMap<(bool, String), Compared> = BTreeMap::new();
    let manifests = [Manifest::read(b)?, Manifest::read(a)?];
    for (side, dir) in [("a", a), ("b", b)] {
        let found = state_tables(dir).into_iter().map(|t| ("state", t)).chain(
            projection_tables(dir)
                .into_iter()
                .map(|t| ("projection", t)),
        );
        for (kind, (name, path)) in found {
            let key = match kind {
                "state" => Some(vec!["stream_id".to_owned()]),
                _ => manifests
                    .iter()
                    .flatten()
                    .find_map(|m| m.projections.get(&name).map(|p| p.key.clone())),
            };
            let Some(key) = key.filter(|k| !k.is_empty()) else {
                return Err(Error::usage(format!(
                    "{}: no manifest says the key of the projection \"{name}\"\n  hint: rebuild it with this eventfold (`eventfold project`)",
                    dir.display()
                )));
            };
            let entry = tables
                .entry((kind != "state", name.clone()))
                .or_insert_with(|| Compared {
                    kind,
                    name,
                    key,
                    a: None,
                    b: None,
                });
            match side {
                "a" => entry.a = Some(path),
                _ => entry.b = Some(path),
            }
        }
    }
    Ok(tables.into_values().collect())
}

/// Compares the state tables and projections of the outputs `a` and `b`.
pub async fn diff(ctx: &SessionContext, a: &Path, b: &Path) -> Result<Diff> {
    for dir in [a, b] {
        crate::sql::ensure_output(dir)?;
    }
    let mut result = Diff::default();
    for compared in tables_of(a, b)? {
        for (side, path) in [("a", &compared.a), ("b", &compared.b)] {
            if let Some(path) = path {
                register_file(ctx, &format!("{side}_{}", compared.name), path).await?;
            }
        }
        let sql = match (&compared.a, &compared.b) {
            (Some(_), Some(_)) => {
                let a_cols = columns(ctx, &format!("a_{}", compared.name)).await?;
                let b_cols = columns(ctx, &format!("b_{}", compared.name)).await?;
                for (side, cols) in [("A", &a_cols), ("B", &b_cols)] {
                    if let Some(missing) = compared.key.iter().find(|k| !cols.contains(k)) {
                        return Err(Error::usage(format!(
                            "the {} \"{}\" of {side} has no key column \"{missing}\"; the two cannot be compared row by row",
                            compared.kind, compared.name
                        )));
                    }
                }
                compared.changes_sql(&a_cols, &b_cols)
            }
            (Some(_), None) => compared.only_in("a", None),
            _ => compared.only_in("b", None),
        };
        let details: Vec<RecordBatch> = run_sql(
            ctx,
            &format!("SELECT * FROM ({sql}) ORDER BY key, change, field"),
        )
        .await?
        .into_iter()
        .filter(|b| b.num_rows() > 0)
        .collect();
        let mut summary = summarise(&compared, &details)?;
        if compared.a.is_some() && compared.b.is_some() {
            let rows_in_a =
                count(ctx, &format!("SELECT count(*) FROM {}", compared.side("a"))).await?;
            summary.unchanged = rows_in_a.saturating_sub(summary.only_in_a + summary.changed);
        }
        result.details.extend(details);
        result.tables.push(summary);
    }
    Ok(result)
}
