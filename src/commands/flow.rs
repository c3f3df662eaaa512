//! `eventfold flow`: draw the directly-follows graph of an output.

use std::path::PathBuf;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use crate::config::ProjectConfig;
use crate::sql::queries::QueryFile;
use crate::sql::{register_output, run_sql, session, state_tables};
use crate::tools::flow::{to_dot, to_mermaid, to_svg, Edge};
use crate::{Error, Result};

/// The shipped directly-follows query; `flow --by event` draws its rows.
const DIRECTLY_FOLLOWS: &str = include_str!("../../queries/analysis/directly_follows.sql");

/// Status changes: from one status to the next, with the median time since the
/// stream's previous event.
const STATUS_FLOW: &str =
    "SELECT aggregate_type, coalesce(from_status, '(start)') AS a, to_status AS b,
    count(*) AS pairs, median(seconds_since_previous) AS median_seconds
  FROM transitions
  WHERE to_status IS NOT NULL AND (from_status IS NULL OR from_status <> to_status)
  GROUP BY aggregate_type, from_status, to_status
  ORDER BY aggregate_type, pairs DESC, a, b";

/// What the nodes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FlowBy {
    /// Event types; an edge is one event directly following another.
    Event,
    /// Statuses; an edge is a status change.
    Status,
}

/// The picture's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FlowFormat {
    /// Graphviz DOT, for `dot -Tsvg`.
    Dot,
    /// A Mermaid flowchart, for Markdown that renders it.
    Mermaid,
    /// An SVG picture, laid out by eventfold.
    Svg,
}

/// Arguments of `eventfold flow`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub out: super::OutArg,
    /// The aggregate type to draw.
    #[arg(long, default_value = "task")]
    pub aggregate: String,
    /// What the nodes are: event types (an edge is one event directly
    /// following another) or statuses (an edge is a status change).
    #[arg(long, value_enum, default_value_t = FlowBy::Event)]
    pub by: FlowBy,
    /// The picture's format: Graphviz DOT, a Mermaid flowchart, or SVG.
    #[arg(long, value_enum, default_value_t = FlowFormat::Mermaid)]
    pub format: FlowFormat,
    /// Leave out edges seen fewer times than this.
    #[arg(long, default_value_t = 1)]
    pub min_count: u64,
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// The error of a graph query without the column `name`.
fn missing_column(name: &str) -> Error {
    Error::sql(datafusion::error::DataFusionError::Plan(format!(
        "graph query has no column {name}"
    )))
}

/// Reads the edges of one aggregate type from the graph query's rows.
fn edges(
    batches: &[arrow::array::RecordBatch],
    aggregate: &str,
    min_count: u64,
) -> Result<Vec<Edge>> {
    let mut edges = Vec::new();
    for batch in batches {
        let text = |name: &str| -> Result<arrow::array::ArrayRef> {
            let column = batch
                .column_by_name(name)
                .ok_or_else(|| missing_column(name))?;
            Ok(arrow::compute::cast(column, &DataType::Utf8)?)
        };
        let number = |name: &str, to: &DataType| -> Result<arrow::array::ArrayRef> {
            let column = batch
                .column_by_name(name)
                .ok_or_else(|| missing_column(name))?;
            Ok(arrow::compute::cast(column, to)?)
        };
        let (types, from, to) = (text("aggregate_type")?, text("a")?, text("b")?);
        let counts = number("pairs", &DataType::Int64)?;
        let medians = number("median_seconds", &DataType::Float64)?;
        let (counts, medians) = (
            counts.as_primitive::<Int64Type>(),
            medians.as_primitive::<Float64Type>(),
        );
        for row in 0..batch.num_rows() {
            let count = counts.value(row).max(0) as u64;
            if types.as_string::<i32>().value(row) != aggregate
                || count < min_count
                || to.is_null(row)
            {
                continue;
            }
            edges.push(Edge {
                from: from.as_string::<i32>().value(row).to_owned(),
                to: to.as_string::<i32>().value(row).to_owned(),
                count,
                median_seconds: medians.is_valid(row).then(|| medians.value(row)),
            });
        }
    }
    Ok(edges)
}

/// Prints or writes the picture.
pub fn execute(args: &Args, config: &ProjectConfig) -> Result<u8> {
    let out = config.out(args.out.out.as_deref());
    let sql = match args.by {
        FlowBy::Event => {
            QueryFile::parse("queries/analysis/directly_follows.sql", DIRECTLY_FOLLOWS)?
                .render(&[])?
        }
        FlowBy::Status => STATUS_FLOW.to_owned(),
    };
    let batches = crate::sql::runtime()?.block_on(async {
        let ctx = session(&config.session(None)?)?;
        register_output(&ctx, &out, &super::terminal::Terminal::stderr()).await?;
        run_sql(&ctx, &sql).await
    })?;
    let edges = edges(&batches, &args.aggregate, args.min_count)?;
    if edges.is_empty() {
        let aggregates: Vec<String> = state_tables(&out)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        if !aggregates.contains(&args.aggregate) {
            let hint = match aggregates.first() {
                Some(first) => format!(
                    "its aggregate types: {}; pick one with --aggregate, e.g. --aggregate {first}",
                    aggregates.join(", ")
                ),
                None => "the output has no aggregate types".to_owned(),
            };
            return Err(Error::usage(format!(
                "no aggregate type \"{}\" in {}\n  hint: {hint}",
                args.aggregate,
                out.display(),
            )));
        }
        return Err(Error::usage(format!(
            "no flow for aggregate \"{}\" in {} (with --min-count {})",
            args.aggregate,
            out.display(),
            args.min_count
        )));
    }
    let what = match args.by {
        FlowBy::Event => "event types",
        FlowBy::Status => "statuses",
    };
    let title = format!(
        "{}: directly-follows graph of {what} (count · median time)",
        args.aggregate
    );
    let picture = match args.format {
        FlowFormat::Dot => to_dot(&title, &edges),
        FlowFormat::Mermaid => to_mermaid(&title, &edges),
        FlowFormat::Svg => to_svg(&title, &edges),
    };
    match &args.output {
        Some(path) => std::fs::write(path, picture).map_err(|e| Error::io(path, e))?,
        None => {
            use std::io::Write;
            std::io::stdout()
                .lock()
                .write_all(picture.as_bytes())
                .map_err(|e| Error::io("stdout", e))?;
        }
    }
    Ok(super::exit::OK)
}
