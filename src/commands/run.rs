//! `eventfold run`: the whole pipeline, on the embedded default or given inputs.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::embedded;
use crate::ingest::mapping::Mapping;
use crate::ingest::{IngestOptions, InputSource};
use crate::pipeline::{run, ModelSource, RunConfig, RunReport};
use crate::sql::SessionOptions;
use crate::{Error, Result};

/// Arguments of `eventfold run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input logs: files or folders, NDJSON plain or gzipped. Without any, the
    /// embedded task-tracking sample.
    #[arg(short, long)]
    pub input: Vec<PathBuf>,
    /// The model file. Without it, the embedded task-tracking model.
    #[arg(short, long)]
    pub model: Option<PathBuf>,
    /// The output folder; replaced atomically when the run completes.
    #[arg(short, long, default_value = "out")]
    pub out: PathBuf,
    /// Read an envelope field from another place: FIELD=PATH, PATH a JSON
    /// pointer (/meta/user) or dotted keys (meta.user). Repeatable.
    #[arg(long, value_name = "FIELD=PATH")]
    pub map: Vec<String>,
    /// Memory DataFusion may use before spilling to disk, e.g. 512MB.
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Records longer than this many bytes become rejects.
    #[arg(long, default_value_t = 16 << 20)]
    pub max_record_bytes: usize,
}

impl Args {
    /// Resolves the arguments into the pipeline's config.
    pub fn resolve(&self) -> Result<RunConfig> {
        let mut mapping = Mapping::generic();
        for spec in &self.map {
            mapping.apply_override(spec)?;
        }
        let inputs = if self.input.is_empty() {
            vec![embedded::sample_input()]
        } else {
            super::expand_inputs(&self.input)?
                .into_iter()
                .map(InputSource::File)
                .collect()
        };
        let model = match &self.model {
            Some(path) => ModelSource::from_path(path)?,
            None => embedded::sample_model(),
        };
        let memory_limit = self
            .memory_limit
            .as_deref()
            .map(super::parse_byte_size)
            .transpose()?;
        Ok(RunConfig {
            inputs,
            model,
            out: self.out.clone(),
            ingest: IngestOptions {
                mapping,
                max_record_bytes: self.max_record_bytes,
                ..IngestOptions::default()
            },
            session: SessionOptions {
                memory_limit,
                target_partitions: self.threads,
                spill_dir: None,
            },
            progress: std::io::stderr().is_terminal(),
        })
    }
}

/// Runs the pipeline and prints the summary to stdout.
pub fn execute(args: &Args) -> Result<u8> {
    let config = args.resolve()?;
    if let Some(threads) = args.threads {
        // Only the first build of the global pool takes effect; later calls
        // in the same process (tests) keep the existing pool.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build_global();
    }
    let report = run(&config)?;
    print_summary(&report, &mut std::io::stdout().lock()).map_err(|e| Error::io("stdout", e))?;
    Ok(super::exit::OK)
}

/// The run summary: counts, the events + rejects invariant, findings per rule.
pub fn print_summary(report: &RunReport, out: &mut dyn Write) -> std::io::Result<()> {
    let ingest = &report.ingest;
    let balanced = if ingest.events + ingest.rejects == ingest.records {
        "ok"
    } else {
        "MISMATCH"
    };
    writeln!(
        out,
        "records: {} read = {} events + {} rejects ({balanced})",
        ingest.records, ingest.events, ingest.rejects
    )?;
    let streams: Vec<String> = report
        .streams
        .iter()
        .map(|(aggregate, count)| format!("{aggregate} {count}"))
        .collect();
    writeln!(out, "aggregates: {}", streams.join(", "))?;
    writeln!(out, "findings: {}", report.findings_total())?;
    for (rule, count) in &report.findings {
        writeln!(out, "  {rule:<24} {count}")?;
    }
    writeln!(
        out,
        "output: {} ({} ms)",
        report.out.display(),
        report.timings.total_ms
    )
}
