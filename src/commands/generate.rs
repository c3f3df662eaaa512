//! `eventfold generate`: write a synthetic task-tracking log, or a batch of
//! commands against the output of one (`--commands`).

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::terminal::Terminal;
use crate::support::progress::{Observer, Stage};
use crate::tools::command_batch::{
    generate_commands as generate_commands_into, CommandBatchConfig,
};
use crate::tools::generate::{
    generate, generate_with_progress, GenerateConfig, MEAN_GAP_SECONDS, WORKING_DAY_SECONDS,
};
use crate::{Error, Result};

/// Arguments of `eventfold generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of records (lines) to write.
    #[arg(long, default_value_t = 1000)]
    pub events: u64,
    /// Seed of the random generator; the same seed gives the same log.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Share of records that are injected anomalies (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0)]
    pub anomaly_rate: f64,
    /// Spread the log over about this many working days (default: the natural
    /// pace, about 68 events a working day, which puts 10M events centuries
    /// ahead). Deterministic too, but a different log than without it.
    #[arg(long, value_name = "DAYS")]
    pub span_days: Option<f64>,
    /// Output file; standard output when absent.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Write this many task-domain commands against the output `--against`
    /// instead of a log: a batch for `eventfold decide`, with a share that
    /// must be rejected (counted on stderr).
    #[arg(long, value_name = "N")]
    pub commands: Option<u64>,
    /// The output (of a generated log, folded by the task model) the commands
    /// are written against.
    #[arg(long, value_name = "DIR", default_value = "out", requires = "commands")]
    pub against: PathBuf,
    /// Share of the output's task and project streams the commands touch.
    #[arg(long, default_value_t = 0.1, requires = "commands")]
    pub touch: f64,
    /// Share of the commands planted to be rejected.
    #[arg(long, default_value_t = 0.1, requires = "commands")]
    pub reject_rate: f64,
}

/// `generate --commands N`: the batch, then its counts on stderr.
fn generate_commands(args: &Args, commands: u64) -> Result<u8> {
    for (name, share) in [("--touch", args.touch), ("--reject-rate", args.reject_rate)] {
        if !(0.0..=1.0).contains(&share) {
            return Err(Error::usage(format!(
                "{name} {share} is not between 0 and 1"
            )));
        }
    }
    let config = CommandBatchConfig {
        commands,
        seed: args.seed,
        touch: args.touch,
        reject_rate: args.reject_rate,
    };
    let (name, stats) = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let stats = generate_commands_into(&args.against, &config, &mut out)?;
            out.flush().map_err(|e| Error::io(path, e))?;
            (path.display().to_string(), stats)
        }
        None => {
            let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            let stats = generate_commands_into(&args.against, &config, &mut out)?;
            out.flush().map_err(|e| Error::io("stdout", e))?;
            ("stdout".to_owned(), stats)
        }
    };
    let reasons: Vec<String> = (stats.planted.iter())
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect();
    eprintln!(
        "generated {} commands touching {} streams of {} into {name}; {} must be rejected ({})",
        stats.commands,
        stats.streams,
        args.against.display(),
        stats.rejected(),
        reasons.join(", ")
    );
    Ok(super::exit::OK)
}

/// Runs `generate`; prints what it wrote to stderr.
pub fn execute(args: &Args) -> Result<u8> {
    if let Some(commands) = args.commands {
        return generate_commands(args, commands);
    }
    if !(0.0..=1.0).contains(&args.anomaly_rate) {
        return Err(Error::usage(format!(
            "--anomaly-rate {} is not between 0 and 1",
            args.anomaly_rate
        )));
    }
    let time_scale = match args.span_days {
        None => 1.0,
        Some(days) if days > 0.0 && days.is_finite() => {
            let natural_days = args.events.max(1) as f64 * MEAN_GAP_SECONDS / WORKING_DAY_SECONDS;
            (days / natural_days).min(1.0e6)
        }
        Some(days) => {
            return Err(Error::usage(format!(
                "--span-days {days} is not a positive number of days"
            )))
        }
    };
    let config = GenerateConfig {
        events: args.events,
        seed: args.seed,
        anomaly_rate: args.anomaly_rate,
        time_scale,
        ..GenerateConfig::default()
    };
    let (name, stats) = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            // A bar only when someone watches stderr (the terminal observer
            // draws none otherwise), and only here: it does not mix with the
            // log on stdout.
            let terminal = Terminal::stderr();
            terminal.stage_started(Stage::Generate, Some(config.events));
            let mut report = |written: u64| terminal.progressed(Stage::Generate, written);
            let stats = generate_with_progress(&config, &mut out, &mut report)
                .map_err(|e| Error::io(path, e))?;
            out.flush().map_err(|e| Error::io(path, e))?;
            terminal.stage_finished(Stage::Generate);
            (path.display().to_string(), stats)
        }
        None => {
            let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            let stats = generate(&config, &mut out).map_err(|e| Error::io("stdout", e))?;
            out.flush().map_err(|e| Error::io("stdout", e))?;
            ("stdout".to_owned(), stats)
        }
    };
    eprintln!(
        "generated {} records ({} anomalies) over {} projects and {} tasks into {name}",
        stats.lines, stats.anomalies, stats.projects, stats.tasks
    );
    Ok(super::exit::OK)
}
