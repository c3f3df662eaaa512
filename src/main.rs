//! The `eventfold` binary: parses arguments, runs a subcommand from the library,
//! and maps the outcome to an exit code (0 ok, 1 violations found, 2 error).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use eventfold::commands::{self, exit};
use eventfold::config::ProjectConfig;

/// Replay exported event logs into state, read models and Parquet; query them with SQL.
#[derive(Debug, Parser)]
#[command(name = "eventfold", version, about)]
struct Cli {
    /// Log what the command does to stderr: text, or json lines for log collectors.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// The config file (default: eventfold.toml in the working directory, if any).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// How `--log-format` writes logs.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logs(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

// Built once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Ingest logs, replay every stream, write Parquet and a manifest.
    Run(commands::run::Args),
    /// Run SQL over an output folder.
    Query(commands::query::Args),
    /// Run the replay's findings and the check queries; exit 1 on violations.
    Check(commands::check::Args),
    /// Interactive SQL over an output folder.
    Shell(commands::shell::Args),
    /// Draw the directly-follows graph (DOT, Mermaid or SVG).
    Flow(commands::flow::Args),
    /// The audit trail of one aggregate: each event and the state after it.
    History(commands::history::Args),
    /// What the log holds: event shapes, payload fields, and what the model misses.
    Census(commands::census::Args),
    /// Write a commented starter eventfold.toml and model.toml here.
    Init(commands::init::Args),
    /// Compare the state of two rebuilds; --fail-on-change exits 1 on a difference.
    Diff(commands::diff::Args),
    /// Write a deterministic synthetic task-tracking log.
    Generate(commands::generate::Args),
}

fn main() -> ExitCode {
    eventfold::metrics::limit_heap_arenas();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                exit::ERROR
            } else {
                exit::OK
            });
        }
    };
    if let Some(format) = cli.log_format {
        init_logs(format);
    }
    let outcome = match &cli.command {
        Command::Init(args) => commands::init::execute(args),
        Command::Generate(args) => commands::generate::execute(args),
        Command::Diff(args) => commands::diff::execute(args),
        command => {
            ProjectConfig::discover(cli.config.as_deref()).and_then(|config| match command {
                Command::Run(args) => commands::run::execute(args, &config),
                Command::Census(args) => commands::census::execute(args, &config),
                Command::Query(args) => commands::query::execute(args, &config),
                Command::Check(args) => commands::check::execute(args, &config),
                Command::History(args) => commands::history::execute(args, &config),
                Command::Flow(args) => commands::flow::execute(args, &config),
                Command::Shell(args) => commands::shell::execute(args, &config),
                Command::Init(_) | Command::Generate(_) | Command::Diff(_) => Ok(exit::OK),
            })
        }
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        // A closed pipe (`eventfold query … | head`) is the reader's choice, not
        // a failure, however the writer that met it wrapped it.
        Err(err) if err.is_broken_pipe() => ExitCode::from(exit::OK),
        Err(err) => {
            tracing::error!(error = %err, "failed");
            eprintln!("error: {err}");
            ExitCode::from(exit::ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
