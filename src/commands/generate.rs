//! `eventfold generate`: write a synthetic task-tracking log.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::terminal::Terminal;
use crate::support::progress::{Observer, Stage};
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
}

/// Runs `generate`; prints what it wrote to stderr.
pub fn execute(args: &Args) -> Result<u8> {
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
