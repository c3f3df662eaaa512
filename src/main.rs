//! The `eventfold` binary: parses arguments, runs a subcommand from the library,
//! and maps the outcome to an exit code (0 ok, 1 violations found, 2 error).

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use eventfold::commands::{self, exit};
use eventfold::config::ProjectConfig;

/// Replay exported event logs into state, read models and Parquet; query them with SQL.
#[derive(Debug, Parser)]
#[command(name = "eventfold", version, about)]
struct Cli {
    /// Log what the command does to stderr: text, or json lines for log
    /// collectors (default: no logging).
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
    /// Decide a batch of commands against an output's state: accepted events and rejections.
    Decide(commands::decide::Args),
    /// Rebuild the projections of an output from its tables, without the log.
    Project(commands::project::Args),
    /// Run SQL over an output folder.
    Query(commands::query::Args),
    /// Run the replay's findings and the check queries; exit 1 on violations.
    Check(commands::check::Args),
    /// Interactive SQL over an output folder.
    Shell(commands::shell::Args),
    /// Draw the directly-follows graph (DOT, Mermaid or SVG).
    Flow(commands::flow::Args),
    /// One self-contained HTML page of an output: the run, findings, flows, charts.
    Report(commands::report::Args),
    /// The audit trail of one aggregate: each event and the state after it.
    History(commands::history::Args),
    /// What the log holds: event shapes, payload fields, and what the model misses.
    Census(commands::census::Args),
    /// Write a commented starter eventfold.toml, model.toml and projection here.
    Init(commands::init::Args),
    /// Compare the state of two rebuilds; --fail-on-change exits 1 on a difference.
    Diff(commands::diff::Args),
    /// Write a deterministic synthetic task-tracking log.
    Generate(commands::generate::Args),
    /// Export an output for process-mining tools: XES or OCEL 2.0.
    Export(commands::export::Args),
    /// Run a cluster role: a scheduler, or an executor that joins one.
    #[cfg(feature = "cluster")]
    Cluster(commands::cluster::Args),
    /// Print the shell completion script (bash, zsh, fish, …).
    Completions(commands::completions::Args),
    /// Print the manual page (roff).
    Man(commands::man::Args),
}

/// `--config` given to a command that reads no config file: refused rather
/// than silently ignored.
fn config_not_read(command: &Command) -> eventfold::Error {
    let (name, why) = match command {
        Command::Init(_) => ("init", "it writes a starter eventfold.toml; it reads none"),
        #[cfg(feature = "cluster")]
        Command::Cluster(_) => ("cluster", "its role is set by its flags"),
        Command::Generate(_) => ("generate", "its log depends only on its flags"),
        Command::Completions(_) => ("completions", "it describes the command line itself"),
        Command::Man(_) => ("man", "it describes the command line itself"),
        _ => ("diff", "it compares the two output folders it is given"),
    };
    eventfold::Error::usage(format!(
        "--config does not apply to `eventfold {name}`: {why}\n  hint: leave --config out"
    ))
}

fn main() -> ExitCode {
    eventfold::support::metrics::limit_heap_arenas();
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
        Command::Init(_)
        | Command::Generate(_)
        | Command::Diff(_)
        | Command::Completions(_)
        | Command::Man(_)
            if cli.config.is_some() =>
        {
            Err(config_not_read(&cli.command))
        }
        #[cfg(feature = "cluster")]
        Command::Cluster(_) if cli.config.is_some() => Err(config_not_read(&cli.command)),
        #[cfg(feature = "cluster")]
        Command::Cluster(args) => commands::cluster::execute(args),
        Command::Init(args) => commands::init::execute(args),
        Command::Generate(args) => commands::generate::execute(args),
        Command::Diff(args) => commands::diff::execute(args),
        Command::Completions(args) => commands::completions::execute(args, Cli::command()),
        Command::Man(args) => commands::man::execute(args, Cli::command()),
        command => {
            ProjectConfig::discover(cli.config.as_deref()).and_then(|config| match command {
                Command::Run(args) => commands::run::execute(args, &config),
                Command::Census(args) => commands::census::execute(args, &config),
                Command::Query(args) => commands::query::execute(args, &config),
                Command::Project(args) => commands::project::execute(args, &config),
                Command::Check(args) => commands::check::execute(args, &config),
                Command::Decide(args) => commands::decide::execute(args, &config),
                Command::History(args) => commands::history::execute(args, &config),
                Command::Flow(args) => commands::flow::execute(args, &config),
                Command::Report(args) => commands::report::execute(args, &config),
                Command::Shell(args) => commands::shell::execute(args, &config),
                Command::Export(args) => commands::export::execute(args, &config),
                Command::Init(_)
                | Command::Generate(_)
                | Command::Diff(_)
                | Command::Completions(_)
                | Command::Man(_) => Ok(exit::OK),
                #[cfg(feature = "cluster")]
                Command::Cluster(_) => Ok(exit::OK),
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

    /// Every argument of every subcommand says what it is in `--help`.
    #[test]
    fn every_argument_has_help_text() {
        fn undocumented(command: &clap::Command, path: &str, found: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                let described = arg
                    .get_help()
                    .or(arg.get_long_help())
                    .is_some_and(|help| !help.to_string().trim().is_empty());
                if !described && !matches!(id, "help" | "version") {
                    found.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                undocumented(sub, &format!("{path} {}", sub.get_name()), found);
            }
        }
        let mut command = super::Cli::command();
        command.build();
        let mut found = Vec::new();
        undocumented(&command, "eventfold", &mut found);
        assert!(found.is_empty(), "arguments without help: {found:?}");
    }

    /// The help states the defaults a new user needs, and every preset.
    #[test]
    fn the_help_states_the_defaults() {
        let command = super::Cli::command();
        let help = |sub: &str, arg: &str| -> String {
            let sub = command.find_subcommand(sub).unwrap();
            let arg = sub.get_arguments().find(|a| a.get_id() == arg).unwrap();
            arg.get_help().unwrap().to_string()
        };
        let memory = help("run", "memory_limit");
        assert!(
            memory.contains("eventfold's own sorter") && memory.contains("else 384 MiB"),
            "{memory}"
        );
        let fail_on = help("check", "fail_on");
        assert!(
            fail_on.contains("default: error, or `[check] fail_on`"),
            "{fail_on}"
        );
        assert!(help("run", "preset").contains("kurrentdb"));
        assert!(help("census", "preset").contains("kurrentdb"));
    }
}
