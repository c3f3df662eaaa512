//! The edges of the flow graph, read from an output's tables: what `flow`
//! draws and the report's lifecycle pictures show.
//!
//! Two graphs: event types (one event directly following another in a
//! stream: the shipped `queries/analysis/directly_follows.sql`) and statuses
//! (a status change: [`STATUS_FLOW`]). Each query answers every aggregate
//! type at once; [`edges`] picks one type's rows. The layout is
//! [`super::flow`]'s.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use super::flow::Edge;
use crate::sql::queries::QueryFile;
use crate::{Error, Result};

/// The shipped directly-follows query.
const DIRECTLY_FOLLOWS: &str = include_str!("../../queries/analysis/directly_follows.sql");

/// Status changes: from one status to the next, with the median time since the
/// stream's previous event.
pub const STATUS_FLOW: &str =
    "SELECT aggregate_type, coalesce(from_status, '(start)') AS a, to_status AS b,
    count(*) AS pairs, median(seconds_since_previous) AS median_seconds
  FROM transitions
  WHERE to_status IS NOT NULL AND (from_status IS NULL OR from_status <> to_status)
  GROUP BY aggregate_type, from_status, to_status
  ORDER BY aggregate_type, pairs DESC, a, b";

/// What the nodes of a flow graph are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphOf {
    /// Event types; an edge is one event directly following another.
    Events,
    /// Statuses; an edge is a status change.
    Statuses,
}

impl GraphOf {
    /// The query whose rows are the graph's edges, for every aggregate type:
    /// columns `aggregate_type`, `a`, `b`, `pairs`, `median_seconds`, busiest first.
    pub fn sql(self) -> Result<String> {
        match self {
            GraphOf::Events => {
                QueryFile::parse("queries/analysis/directly_follows.sql", DIRECTLY_FOLLOWS)?
                    .render(&[])
            }
            GraphOf::Statuses => Ok(STATUS_FLOW.to_owned()),
        }
    }

    /// What the nodes are, in a title.
    pub fn nodes(self) -> &'static str {
        match self {
            GraphOf::Events => "event types",
            GraphOf::Statuses => "statuses",
        }
    }
}

/// The error of a graph query without the column `name`.
fn missing_column(name: &str) -> Error {
    Error::sql(datafusion::error::DataFusionError::Plan(format!(
        "graph query has no column {name}"
    )))
}

/// The edges of one aggregate type among a graph query's rows, those seen at
/// least `min_count` times, in the query's order.
pub fn edges(batches: &[RecordBatch], aggregate: &str, min_count: u64) -> Result<Vec<Edge>> {
    let mut edges = Vec::new();
    for batch in batches {
        let column = |name: &str, to: &DataType| -> Result<ArrayRef> {
            let column = batch
                .column_by_name(name)
                .ok_or_else(|| missing_column(name))?;
            Ok(arrow::compute::cast(column, to)?)
        };
        let types = column("aggregate_type", &DataType::Utf8)?;
        let (from, to) = (column("a", &DataType::Utf8)?, column("b", &DataType::Utf8)?);
        let counts = column("pairs", &DataType::Int64)?;
        let medians = column("median_seconds", &DataType::Float64)?;
        let (types, from, to) = (
            types.as_string::<i32>(),
            from.as_string::<i32>(),
            to.as_string::<i32>(),
        );
        let (counts, medians) = (
            counts.as_primitive::<Int64Type>(),
            medians.as_primitive::<Float64Type>(),
        );
        for row in 0..batch.num_rows() {
            let count = counts.value(row).max(0) as u64;
            if types.is_null(row)
                || types.value(row) != aggregate
                || count < min_count
                || from.is_null(row)
                || to.is_null(row)
            {
                continue;
            }
            edges.push(Edge {
                from: from.value(row).to_owned(),
                to: to.value(row).to_owned(),
                count,
                median_seconds: medians.is_valid(row).then(|| medians.value(row)),
            });
        }
    }
    Ok(edges)
}
