//! `eventfold census`: what the log holds, and what the model would make of it.

use std::io::Write;
use std::path::PathBuf;

use super::input::InputArgs;
use super::SummaryFormat;
use crate::config::ProjectConfig;
use crate::ingest::ingest;
use crate::model::parse_model;
use crate::model::ModelSource;
use crate::tools::census::{Census, ShapeCensus};
use crate::{Error, Result};

/// Arguments of `eventfold census`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub inputs: InputArgs,
    /// A model to check the log against (default: `[run] model` of
    /// eventfold.toml; none: no model checks).
    #[arg(short, long)]
    pub model: Option<PathBuf>,
    /// How to print the census (`--report` is its old spelling; the inputs'
    /// format is --input-format).
    #[arg(long, alias = "report", value_enum, default_value_t = SummaryFormat::Table)]
    pub format: SummaryFormat,
}

/// Reads the inputs and prints their census.
pub fn execute(args: &Args, project: &ProjectConfig) -> Result<u8> {
    let (inputs, options) = args.inputs.resolve(project)?;
    let model = match args.model.as_ref().or(project.model.as_ref()) {
        Some(path) => {
            let source = ModelSource::from_path(path)?;
            Some(parse_model(&source.name, &source.text)?)
        }
        None => None,
    };
    let mut census = Census::new(model.as_ref());
    let summary = ingest(&inputs, &options, &mut census)?;
    let shapes = census.finish();
    let mut out = std::io::stdout().lock();
    match args.format {
        SummaryFormat::Json => {
            let json = serde_json::json!({
                "records": summary.records,
                "events": summary.events,
                "rejects": summary.rejects,
                "shapes": shapes,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&json)?)
        }
        SummaryFormat::Table => print_table(&shapes, &summary, &mut out),
    }
    .map_err(|e| Error::io("stdout", e))?;
    Ok(super::exit::OK)
}

fn print_table(
    shapes: &[ShapeCensus],
    summary: &crate::ingest::IngestSummary,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "records: {} read = {} events + {} rejects",
        summary.records, summary.events, summary.rejects
    )?;
    for shape in shapes {
        let upcast = shape
            .upcast_to
            .as_ref()
            .map(|to| format!("  upcast to {to}"))
            .unwrap_or_default();
        let verdict = shape
            .model
            .as_ref()
            .map(|m| format!("{upcast}  [{}]", m.status))
            .unwrap_or_default();
        writeln!(
            out,
            "\n{} {} v{}: {} events, {} .. {}{verdict}",
            shape.aggregate_type,
            shape.event_type,
            shape.schema_version,
            shape.count,
            shape.first_seen,
            shape.last_seen
        )?;
        for (path, field) in &shape.fields {
            let types: Vec<String> = field
                .types
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect();
            let share = 100.0 * field.present as f64 / shape.count.max(1) as f64;
            writeln!(out, "  {path:<28} {share:>5.1}%  {}", types.join(", "))?;
        }
        for check in shape.model.iter().flat_map(|m| &m.paths) {
            if check.missing > 0 {
                writeln!(
                    out,
                    "  ! the model reads {} but it is missing in {} of {} events ({:.1}%)",
                    check.path,
                    check.missing,
                    shape.count,
                    100.0 * check.missing_share
                )?;
            }
        }
    }
    Ok(())
}
