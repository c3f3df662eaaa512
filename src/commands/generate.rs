//! `eventfold generate`: write a synthetic task-tracking log.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::generate::{generate, GenerateConfig};
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
    let config = GenerateConfig {
        events: args.events,
        seed: args.seed,
        anomaly_rate: args.anomaly_rate,
        ..GenerateConfig::default()
    };
    let (name, stats) = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let stats = generate(&config, &mut out).map_err(|e| Error::io(path, e))?;
            out.flush().map_err(|e| Error::io(path, e))?;
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
