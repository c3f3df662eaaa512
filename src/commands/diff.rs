//! `eventfold diff`: what changed between two rebuilds.

use std::io::Write;
use std::path::PathBuf;

use super::SummaryFormat;
use crate::sink::{write_table, TableWriter};
use crate::sql::{session, write_batches, OutputFormat, SessionOptions};
use crate::tools::diff::{diff, Diff};
use crate::{Error, Result};

/// Arguments of `eventfold diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The output folder of the first rebuild (the "old" side).
    pub a: PathBuf,
    /// The output folder of the second rebuild (the "new" side).
    pub b: PathBuf,
    /// Write every changed field (kind, table, key, change, field,
    /// old_value, new_value) to this file: `.parquet` or `.json`.
    #[arg(long, value_name = "FILE")]
    pub details: Option<PathBuf>,
    /// Exit with code 1 when anything differs.
    #[arg(long)]
    pub fail_on_change: bool,
    /// How to print the summary: table, or json (summary and details).
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    pub format: SummaryFormat,
}

/// Compares the two outputs and prints what differs.
pub fn execute(args: &Args) -> Result<u8> {
    let runtime = crate::sql::runtime()?;
    let result = runtime.block_on(async {
        let ctx = session(&SessionOptions::default())?;
        diff(&ctx, &args.a, &args.b).await
    })?;
    if let Some(path) = &args.details {
        write_details(&result, path)?;
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        SummaryFormat::Json => {
            let mut details = Vec::new();
            write_batches(&result.details, OutputFormat::Json, &mut details)?;
            let details: serde_json::Value = if result.details.is_empty() {
                serde_json::Value::Array(Vec::new())
            } else {
                serde_json::from_slice(&details)?
            };
            let json = serde_json::json!({
                "a": args.a, "b": args.b,
                "changed": result.any_change(),
                "tables": result.tables,
                "details": details,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&json)?)
                .map_err(|e| Error::io("stdout", e))?;
        }
        SummaryFormat::Table => {
            print_summary(&result, args, &mut out).map_err(|e| Error::io("stdout", e))?
        }
    }
    Ok(if args.fail_on_change && result.any_change() {
        super::exit::VIOLATIONS
    } else {
        super::exit::OK
    })
}

fn write_details(result: &Diff, path: &std::path::Path) -> Result<()> {
    let is_json = path.extension().is_some_and(|e| e == "json");
    if is_json {
        let mut file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        if result.details.is_empty() {
            file.write_all(b"[]\n").map_err(|e| Error::io(path, e))?;
            return Ok(());
        }
        return write_batches(&result.details, OutputFormat::Json, &mut file);
    }
    match result.details.first() {
        Some(first) => {
            let mut writer = TableWriter::create(path, first.schema(), crate::sink::zstd())?;
            for batch in &result.details {
                writer.write(batch)?;
            }
            writer.close().map(drop)
        }
        None => write_table(path, crate::tools::diff::details_schema(), &[]).map(drop),
    }
}

fn print_summary(result: &Diff, args: &Args, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "a: {}\nb: {}", args.a.display(), args.b.display())?;
    writeln!(
        out,
        "{:<11} {:<24} {:>10} {:>10} {:>10} {:>10}",
        "kind", "table", "only in a", "only in b", "changed", "unchanged"
    )?;
    for table in &result.tables {
        writeln!(
            out,
            "{:<11} {:<24} {:>10} {:>10} {:>10} {:>10}",
            table.kind,
            table.table,
            table.only_in_a,
            table.only_in_b,
            table.changed,
            table.unchanged
        )?;
        for (field, count) in &table.fields {
            writeln!(out, "  {field:<34} changed in {count}")?;
        }
    }
    writeln!(
        out,
        "{}",
        if result.any_change() {
            "the rebuilds differ"
        } else {
            "the rebuilds are the same"
        }
    )
}
