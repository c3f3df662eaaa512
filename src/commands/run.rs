//! `eventfold run`: the whole pipeline, on the embedded default or given inputs.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::config::ProjectConfig;
use crate::embedded;
use crate::ingest::config::InputSpec;
use crate::ingest::time::TimeOptions;
use crate::ingest::InputSource;
use crate::pipeline::{run, ModelSource, RunConfig, RunReport, Selection};
use crate::sql::SessionOptions;
use crate::{Error, Result};

/// Arguments of `eventfold run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input logs: files, folders or globs (NDJSON, JSON, CSV, Parquet, XES;
    /// plain, gzip or zstd). Without any, the embedded task-tracking sample.
    #[arg(short, long)]
    pub input: Vec<PathBuf>,
    /// A mapping file (TOML): format, preset, CSV and time settings, fields.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// The envelope mapping to start from: generic, cloudevents, eventstoredb,
    /// marten, axon or xes.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// The inputs' format (ndjson, json, csv, parquet, xes); default: recognised
    /// by each input's first bytes, then its name.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// The CSV delimiter: one character, or "tab".
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// A custom timestamp format (strftime syntax, e.g. "%d/%m/%Y %H:%M"); repeatable.
    #[arg(long, value_name = "FORMAT")]
    pub timestamp_format: Vec<String>,
    /// The time zone of timestamps written without an offset, e.g. Europe/Amsterdam.
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// The unit of numeric timestamps: s, ms (default) or us.
    #[arg(long, value_name = "UNIT")]
    pub epoch_unit: Option<String>,
    /// Stop with exit code 2 at the first record that cannot become an event.
    #[arg(long)]
    pub strict: bool,
    /// The model file. Without it, the embedded task-tracking model.
    #[arg(short, long)]
    pub model: Option<PathBuf>,
    /// The output folder; replaced atomically when the run completes.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Read an envelope field from elsewhere: FIELD=SOURCE, SOURCE a column or
    /// path (meta.user, /meta/user), a template ({type}.{payload.action}), a
    /// constant (=task) or a derivation (@order, @rest). Repeatable.
    #[arg(long, value_name = "FIELD=SOURCE")]
    pub map: Vec<String>,
    /// Memory DataFusion may use before spilling to disk, e.g. 512MB.
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// Replay only this aggregate type; repeatable (a partial run).
    #[arg(long, value_name = "TYPE")]
    pub aggregate: Vec<String>,
    /// Replay only this stream; repeatable (a partial run).
    #[arg(long, value_name = "ID")]
    pub stream: Vec<String>,
    /// Replay only the streams listed in this file, one id a line (a partial run).
    #[arg(long, value_name = "FILE")]
    pub streams_from: Option<PathBuf>,
    /// Replay only this tenant's events; repeatable (a partial run).
    #[arg(long, value_name = "TENANT")]
    pub tenant: Vec<String>,
    /// Rebuild every aggregate as it stood at this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Rebuild every aggregate as it stood at this position.
    #[arg(long, value_name = "N")]
    pub as_of_position: Option<u64>,
    /// Let a partial or as-of run replace a full output.
    #[arg(long)]
    pub replace_full: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Records longer than this many bytes become rejects (default 16 MiB).
    #[arg(long, value_name = "BYTES")]
    pub max_record_bytes: Option<usize>,
}

impl Args {
    /// Resolves the arguments into the pipeline's config.
    pub fn resolve(&self, project: &ProjectConfig) -> Result<RunConfig> {
        let mut fields = Vec::new();
        for spec in &self.map {
            let (name, source) = spec.split_once('=').ok_or_else(|| {
                Error::usage(format!(
                    "--map \"{spec}\" is not field=source; e.g. --map stream_id=aggregateId"
                ))
            })?;
            fields.push((name.trim().to_owned(), vec![source.to_owned()]));
        }
        let flags = InputSpec {
            format: self.format.clone(),
            preset: self.preset.clone(),
            delimiter: self.delimiter.clone(),
            timestamp_formats: self.timestamp_format.clone(),
            timezone: self.timezone.clone(),
            epoch_unit: self.epoch_unit.clone(),
            version_base: None,
            max_record_bytes: self.max_record_bytes,
            fields,
        };
        let file = match &self.mapping {
            Some(path) => InputSpec::from_file(path)?,
            None => InputSpec::default(),
        };
        let mut ingest = project
            .input
            .clone()
            .overridden_by(file)
            .overridden_by(flags)
            .options()?;
        ingest.strict = self.strict;
        let given = if self.input.is_empty() {
            &project.inputs
        } else {
            &self.input
        };
        let inputs = if given.is_empty() {
            vec![embedded::sample_input()]
        } else {
            super::expand_inputs(given)?
                .into_iter()
                .map(InputSource::File)
                .collect()
        };
        let selection = self.selection()?;
        let model = match self.model.as_ref().or(project.model.as_ref()) {
            Some(path) => ModelSource::from_path(path)?,
            None => embedded::sample_model(),
        };
        let memory_limit = self
            .memory_limit
            .as_deref()
            .or(project.memory_limit.as_deref())
            .map(super::parse_byte_size)
            .transpose()?;
        Ok(RunConfig {
            inputs,
            model,
            out: project.out(self.out.as_deref()),
            ingest,
            selection,
            session: SessionOptions {
                memory_limit,
                target_partitions: self.threads.or(project.threads),
                spill_dir: None,
            },
            progress: std::io::stderr().is_terminal(),
        })
    }
}

impl Args {
    fn selection(&self) -> Result<Selection> {
        let mut streams = self.stream.clone();
        if let Some(path) = &self.streams_from {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            streams.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned),
            );
            if streams.is_empty() {
                return Err(Error::usage(format!(
                    "{}: lists no stream ids",
                    path.display()
                )));
            }
        }
        let as_of_micros = self
            .as_of
            .as_deref()
            .map(|text| {
                TimeOptions::default()
                    .parse(&serde_json::Value::String(text.to_owned()))
                    .ok_or_else(|| {
                        Error::usage(format!(
                            "--as-of \"{text}\" is not a time; write e.g. 2026-03-01T00:00:00Z"
                        ))
                    })
            })
            .transpose()?;
        Ok(Selection {
            aggregates: self.aggregate.clone(),
            streams,
            tenants: self.tenant.clone(),
            as_of_micros,
            as_of_position: self.as_of_position,
            replace_full: self.replace_full,
        })
    }
}

/// Runs the pipeline and prints the summary to stdout.
pub fn execute(args: &Args, project: &ProjectConfig) -> Result<u8> {
    let config = args.resolve(project)?;
    if let Some(threads) = args.threads.or(project.threads) {
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
