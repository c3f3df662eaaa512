//! `eventfold run`: the whole pipeline, on the embedded default or given inputs.

use std::io::Write;
use std::path::PathBuf;

use super::input::InputArgs;
use crate::config::ProjectConfig;
use crate::embedded;
use crate::pipeline::{run, ModelSource, RunConfig, RunReport, Selection};
use crate::projection::ProjectionSource;
use crate::sql::SessionOptions;
use crate::support::time::TimeOptions;
use crate::{Error, Result};

/// Arguments of `eventfold run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub inputs: InputArgs,
    /// The model file (default: `[run] model` of eventfold.toml, else the
    /// embedded task-tracking model).
    #[arg(short, long)]
    pub model: Option<PathBuf>,
    /// The output folder; replaced atomically when the run completes
    /// (default: `[run] out` of eventfold.toml, else `out`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The old spelling of --out DIR, still read (with a note: everywhere
    /// else `-o` names an output file).
    #[arg(short = 'o', value_name = "DIR", hide = true, conflicts_with = "out")]
    pub old_out: Option<PathBuf>,
    /// The old spelling of --input-format, still read (with a note: everywhere
    /// else `--format` is how a result is printed).
    #[arg(long = "format", value_name = "FORMAT", hide = true)]
    pub old_format: Option<String>,
    /// Memory the run's sort may hold before it writes to disk, e.g. 512MB:
    /// eventfold's own sorter in a full run, DataFusion's memory pool in a
    /// partial or incremental run (default: `[run] memory_limit` of
    /// eventfold.toml, else 384 MiB).
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
    /// Also write state_history/<aggregate>.parquet: the state after every
    /// event (also on with `[run] with_history = true` in eventfold.toml).
    #[arg(long)]
    pub with_history: bool,
    /// Fold only the events after the previous output's watermark onto its
    /// snapshot, and write a new complete output (also on with `[run]
    /// incremental = true` in eventfold.toml).
    #[arg(long, conflicts_with = "full")]
    pub incremental: bool,
    /// Fold the whole log even when the config file says `incremental = true`.
    #[arg(long)]
    pub full: bool,
    /// Let a partial or as-of run replace a full output.
    #[arg(long)]
    pub replace_full: bool,
    /// Worker threads (default: `[run] threads` of eventfold.toml, else all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// The folder of SQL projections to build into out/projections/
    /// (default: `[run] projections` of eventfold.toml, else `projections/`
    /// beside it, else the task domain's when the model is the task model).
    #[arg(long, value_name = "DIR")]
    pub projections: Option<PathBuf>,
    /// The roles file the model's authorisation rules read: TOML or CSV
    /// (default: `[run] roles` of eventfold.toml, else the task domain's
    /// roles with the task model, else nobody holds a role).
    #[arg(long, value_name = "FILE")]
    pub roles: Option<PathBuf>,
    /// Run the rebuild as one job on the cluster at df://HOST:PORT: the
    /// inputs, the output folder and its parent on storage every executor
    /// sees at the same path (see README "Running on a cluster").
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
    /// With --cluster: hash partitions of the streams, the fold's tasks and
    /// the parts of each table (default 4).
    #[arg(long, value_name = "N", requires = "cluster")]
    pub partitions: Option<usize>,
    /// With --cluster: a plain NDJSON input larger than this is cut into
    /// byte ranges of this size, each read by a task of its own (default
    /// 256MB).
    #[arg(long, value_name = "SIZE", requires = "cluster")]
    pub split_size: Option<String>,
    /// With --cluster: give up on the job when it has not finished after
    /// this many seconds (exit 2, the previous output kept): a nightly job
    /// whose executors hang or vanish fails instead of waiting for ever.
    #[arg(long, value_name = "SECS", requires = "cluster", value_parser = clap::value_parser!(u64).range(1..))]
    pub job_timeout: Option<u64>,
    /// Also write report.html into the output: one self-contained page of
    /// the run, its findings and rejects, flows and charts (as `eventfold report`;
    /// also on with `[run] report = true` in eventfold.toml).
    #[arg(long)]
    pub report: bool,
}

/// The SQL projections a run (or `project`) builds: the folder `flag` names,
/// else the config file's, else the embedded task domain's when the model
/// is the task model (embedded or the same text from a file), else none.
pub fn projection_sources(
    flag: Option<&std::path::Path>,
    project: &ProjectConfig,
    task_model: bool,
) -> Result<Vec<ProjectionSource>> {
    match flag.or(project.projections.as_deref()) {
        Some(dir) => ProjectionSource::discover(dir),
        None if task_model => Ok(embedded::sample_projections()),
        None => Ok(Vec::new()),
    }
}

impl Args {
    /// Resolves the arguments into the pipeline's config.
    pub fn resolve(&self, project: &ProjectConfig) -> Result<RunConfig> {
        let mut input_args = self.inputs.clone();
        if let Some(format) = &self.old_format {
            eprintln!(
                "note: `run --format` is the old spelling of --input-format (--format is how a result is printed)"
            );
            input_args
                .input_format
                .get_or_insert_with(|| format.clone());
        }
        let out = match &self.old_out {
            Some(dir) => {
                eprintln!(
                    "note: `run -o DIR` is the old spelling of --out DIR (-o names an output file everywhere else)"
                );
                Some(dir.as_path())
            }
            None => self.out.as_deref(),
        };
        let (inputs, mut ingest) = input_args.resolve(project)?;
        if let Some(size) = &self.split_size {
            ingest.split_bytes = crate::support::byte_size::parse_byte_size(size)? as u64;
            if ingest.split_bytes == 0 {
                return Err(Error::usage(
                    "--split-size 0: a range holds at least one byte",
                ));
            }
        }
        let selection = self.selection()?;
        let model_path = self.model.as_ref().or(project.model.as_ref());
        let model = match model_path {
            Some(path) => ModelSource::from_path(path)?,
            None => embedded::sample_model(),
        };
        // The task domain's projections go with the task model, embedded or
        // given as a file (as `project` decides from an output's model).
        let task_model = model.text == embedded::SAMPLE_MODEL;
        let projections = projection_sources(self.projections.as_deref(), project, task_model)?;
        let memory_limit = self
            .memory_limit
            .as_deref()
            .or(project.memory_limit.as_deref())
            .map(crate::support::byte_size::parse_byte_size)
            .transpose()?;
        let roles = match self.roles.as_ref().or(project.roles.as_ref()) {
            Some(path) => crate::model::roles::Roles::load(path)?,
            // The task domain's leads go with the task model, like its projections.
            None if task_model => crate::model::roles::Roles::parse_toml(
                "testdata/tasks/roles.toml",
                embedded::SAMPLE_ROLES,
            )?,
            None => Default::default(),
        };
        Ok(RunConfig {
            roles,
            report: self.report || project.report,
            inputs,
            model,
            out: project.out(out),
            ingest,
            selection,
            with_history: self.with_history || project.with_history,
            incremental: !self.full && (self.incremental || project.incremental),
            projections,
            session: SessionOptions {
                memory_limit,
                target_partitions: self.partitions.or(self.threads).or(project.threads),
                spill_dir: None,
                batch_rows: None,
                fair_spill_pool: false,
                cluster: self.cluster.clone(),
                job_timeout: self.job_timeout.map(std::time::Duration::from_secs),
            },
            observer: std::sync::Arc::new(super::terminal::Terminal::stderr()),
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
    if report.unchanged {
        print_report_file(report, out)?;
        return writeln!(
            out,
            "incremental: nothing new; every input was already folded into {}: {}",
            report.out.display(),
            report.skipped_inputs.join(", ")
        );
    }
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
    if let Some((new, watermark)) = &report.increment {
        let after = watermark.map_or("the start".into(), |w| format!("position {w}"));
        writeln!(
            out,
            "incremental: {} new records = {} events + {} rejects, folded after {after}",
            new.records, new.events, new.rejects
        )?;
    }
    if !report.skipped_inputs.is_empty() {
        writeln!(
            out,
            "incremental: skipped, already folded: {}",
            report.skipped_inputs.join(", ")
        )?;
    }
    let streams: Vec<String> = report
        .streams
        .iter()
        .map(|(aggregate, count)| format!("{aggregate} {count}"))
        .collect();
    if report.partial {
        writeln!(
            out,
            "selected: {} of {} events (the output holds these)",
            report.events(),
            ingest.events
        )?;
    }
    if streams.is_empty() {
        let why = if report.partial {
            "the selection matched no events"
        } else {
            "the input holds no events"
        };
        writeln!(out, "aggregates: none ({why})")?;
    } else {
        writeln!(out, "aggregates: {}", streams.join(", "))?;
    }
    if !report.projections.is_empty() {
        let tables: Vec<String> = (report.projections.iter())
            .map(|(name, rows)| format!("{name} {rows}"))
            .collect();
        writeln!(out, "projections: {}", tables.join(", "))?;
    }
    writeln!(out, "findings: {}", report.findings_total())?;
    for (rule, count) in &report.findings {
        writeln!(out, "  {rule:<24} {count}")?;
    }
    print_report_file(report, out)?;
    writeln!(
        out,
        "output: {} ({} ms)",
        report.out.display(),
        report.timings.total_ms
    )
}

/// The line naming `report.html`, when the run wrote it.
fn print_report_file(report: &RunReport, out: &mut dyn Write) -> std::io::Result<()> {
    match report.report_bytes {
        Some(bytes) => writeln!(
            out,
            "report: {} ({} KB)",
            report.out.join(crate::report::REPORT_FILE).display(),
            bytes.div_ceil(1024)
        ),
        None => Ok(()),
    }
}
