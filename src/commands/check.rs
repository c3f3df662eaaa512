//! `eventfold check`: the replay's findings and every check query, for CI.

use std::io::Write;
use std::path::PathBuf;

use crate::config::ProjectConfig;
use crate::embedded;
use crate::sql::queries::{discover, parse_params, QueryFile, Severity};
use crate::sql::{register_output, session};
use crate::tools::check::{
    contract_outcomes, junit_xml, query_outcome, replay_outcomes, violated, CheckOutcome,
};
use crate::{Error, Result};

/// Arguments of `eventfold check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub out: super::OutArg,
    #[command(flatten)]
    pub memory: super::MemoryArg,
    #[command(flatten)]
    pub cluster: super::ClusterArg,
    /// Folder of check queries (`-- severity:` headers). Default: `[check]
    /// queries` of eventfold.toml, else `queries/checks` when it exists here,
    /// else the checks compiled into the binary.
    #[arg(long)]
    pub queries: Option<PathBuf>,
    /// The lowest severity that fails the check (exit 1) [default: error, or
    /// `[check] fail_on` of eventfold.toml].
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<SeverityArg>,
    /// Also write a JUnit XML report to this file.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// How to print the summary.
    #[arg(long, value_enum, default_value_t = super::SummaryFormat::Table)]
    pub format: super::SummaryFormat,
    /// Override a check parameter: NAME=VALUE (e.g. days=30). Repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
}

/// `--fail-on`: the command line's spelling of [`Severity`], which the library
/// keeps free of clap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SeverityArg {
    Warning,
    Error,
}

impl From<SeverityArg> for Severity {
    fn from(severity: SeverityArg) -> Self {
        match severity {
            SeverityArg::Warning => Severity::Warning,
            SeverityArg::Error => Severity::Error,
        }
    }
}

fn check_queries(args: &Args, config: &ProjectConfig) -> Result<Vec<QueryFile>> {
    let dir = args
        .queries
        .clone()
        .or_else(|| config.queries.clone())
        .or_else(|| {
            let here = PathBuf::from("queries/checks");
            here.is_dir().then_some(here)
        });
    let queries = match dir {
        Some(dir) => discover(&dir)?,
        None => embedded::check_queries()?,
    };
    Ok(queries
        .into_iter()
        .filter(|q| q.severity.is_some())
        .collect())
}

/// Runs every check, prints the summary, writes JUnit; exit 1 on violations.
pub fn execute(args: &Args, config: &ProjectConfig) -> Result<u8> {
    let out = config.out(args.out.out.as_deref());
    let params = parse_params(&args.params)?;
    let queries = check_queries(args, config)?;
    let fail_on = match (args.fail_on, config.fail_on.as_deref()) {
        (Some(level), _) => level.into(),
        (None, Some("warning")) => Severity::Warning,
        (None, _) => Severity::Error,
    };
    let runtime = crate::sql::runtime()?;
    let outcomes = runtime.block_on(async {
        let ctx = session(&config.cluster_session(
            args.memory.memory_limit.as_deref(),
            args.cluster.cluster.as_deref(),
        )?)?;
        register_output(&ctx, &out, &super::terminal::Terminal::stderr()).await?;
        let mut outcomes = replay_outcomes(&ctx).await?;
        for query in &queries {
            outcomes.push(query_outcome(&ctx, query, &params).await?);
        }
        outcomes.extend(contract_outcomes(&ctx, &out).await?);
        Ok::<_, Error>(outcomes)
    })?;
    if let Some(path) = &args.junit {
        std::fs::write(path, junit_xml(&outcomes, fail_on)).map_err(|e| Error::io(path, e))?;
    }
    let mut stdout = std::io::stdout().lock();
    match args.format {
        super::SummaryFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &outcomes)?;
            writeln!(stdout).map_err(|e| Error::io("stdout", e))?;
        }
        super::SummaryFormat::Table => {
            print_summary(&outcomes, fail_on, &mut stdout).map_err(|e| Error::io("stdout", e))?
        }
    }
    Ok(if violated(&outcomes, fail_on) {
        super::exit::VIOLATIONS
    } else {
        super::exit::OK
    })
}

fn print_summary(
    outcomes: &[CheckOutcome],
    fail_on: Severity,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<8} {:<7} {:<28} {:>6}  source",
        "result", "level", "check", "rows"
    )?;
    for outcome in outcomes {
        let result = match (&outcome.skipped, outcome.rows) {
            (Some(_), _) => "skip",
            (None, 0) => "ok",
            (None, _) if outcome.severity >= fail_on => "FAIL",
            (None, _) => "warn",
        };
        let reason = outcome
            .skipped
            .as_ref()
            .map(|why| format!("  ({why})"))
            .unwrap_or_default();
        writeln!(
            out,
            "{result:<8} {:<7} {:<28} {:>6}  {}{reason}",
            outcome.severity.name(),
            outcome.name,
            outcome.rows,
            outcome.source
        )?;
        for example in &outcome.examples {
            writeln!(out, "           {example}")?;
        }
    }
    let failed = outcomes
        .iter()
        .filter(|o| o.rows > 0 && o.skipped.is_none() && o.severity >= fail_on)
        .count();
    writeln!(
        out,
        "{} checks, {failed} failed at --fail-on {}",
        outcomes.len(),
        fail_on.name()
    )
}
