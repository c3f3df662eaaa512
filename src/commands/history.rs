//! `eventfold history`: the audit trail of one aggregate.

use std::io::{IsTerminal, Write};

use crate::config::ProjectConfig;
use crate::model::parse_model;
use crate::sql::{ensure_output, register_output, run_sql, session};
use crate::tools::history::{format_time, trail, trail_json, value_json, AsOf, Step};
use crate::{Error, Result};

/// How the trail is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrailFormat {
    Text,
    Json,
}

/// Arguments of `eventfold history`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The stream (aggregate instance), e.g. task-42.
    pub stream_id: String,
    #[command(flatten)]
    pub out: super::OutArg,
    /// Stop at this version, or at this time (RFC 3339), inclusive.
    #[arg(long, value_name = "VERSION|TIME")]
    pub as_of: Option<String>,
    /// How to print the trail: text (colored on a terminal), or json.
    #[arg(long, value_enum, default_value_t = TrailFormat::Text)]
    pub format: TrailFormat,
}

/// Prints the trail; exit 2 when the stream has no events.
pub fn execute(args: &Args, config: &ProjectConfig) -> Result<u8> {
    let out = config.out(args.out.out.as_deref());
    let as_of = args.as_of.as_deref().map(AsOf::parse).transpose()?;
    ensure_output(&out)?;
    let model_path = out.join(crate::sink::manifest::MODEL_FILE);
    let model_text = std::fs::read_to_string(&model_path).map_err(|e| Error::io(&model_path, e))?;
    let model = parse_model(&model_path.display().to_string(), &model_text)?;
    let literal = args.stream_id.replace('\'', "''");
    let batches = crate::sql::runtime()?.block_on(async {
        let ctx = session(&config.session(None)?)?;
        ctx.sql("SET datafusion.execution.parquet.schema_force_view_types = false").await?;
        register_output(&ctx, &out, &super::terminal::Terminal::stderr()).await?;
        run_sql(&ctx, &format!("SELECT * FROM events WHERE stream_id = '{literal}' ORDER BY aggregate_type, version, position")).await
    })?;
    let steps = trail(&model, &batches, as_of);
    if steps.is_empty() {
        return Err(Error::usage(format!(
            "stream \"{}\" has no events in {}{}",
            args.stream_id,
            out.display(),
            if as_of.is_some() {
                " up to --as-of"
            } else {
                ""
            }
        )));
    }
    let mut stdout = std::io::stdout().lock();
    let written = match args.format {
        TrailFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &trail_json(&model, &args.stream_id, &steps))
                .map_err(Error::from)
                .and_then(|_| writeln!(stdout).map_err(|e| Error::io("stdout", e)))
        }
        TrailFormat::Text => {
            let color = std::io::stdout().is_terminal();
            print_text(&args.stream_id, &steps, color, &mut stdout)
                .map_err(|e| Error::io("stdout", e))
        }
    };
    written.map(|_| super::exit::OK)
}

fn print_text(
    stream_id: &str,
    steps: &[Step],
    color: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let (bold, yellow, red, reset) = if color {
        ("\x1b[1m", "\x1b[33m", "\x1b[31m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    let aggregate = steps
        .first()
        .map_or("", |s| s.state.aggregate_type.as_str());
    writeln!(
        out,
        "{bold}{stream_id}{reset} ({aggregate}), {} events",
        steps.len()
    )?;
    for step in steps {
        let status = match (&step.from_status, &step.to_status) {
            (from, Some(to)) if from.as_ref() != Some(to) => {
                format!("  [{} → {to}]", from.as_deref().unwrap_or("-"))
            }
            _ => String::new(),
        };
        writeln!(
            out,
            "{bold}v{}{reset}  {}  {}  by {}{status}",
            step.version,
            format_time(step.occurred_at),
            step.event_type,
            step.actor.as_deref().unwrap_or("-")
        )?;
        for (name, old, new) in &step.changes {
            writeln!(
                out,
                "      {yellow}{name}{reset}: {} → {}",
                value_json(old),
                value_json(new)
            )?;
        }
        for (rule, message) in &step.findings {
            writeln!(out, "      {red}! {rule}{reset}: {message}")?;
        }
    }
    Ok(())
}
