//! `eventfold decide`: a batch of commands decided against an output's state,
//! written as a decision folder (the accepted events, ready for
//! `run --incremental`, and the rejected commands with their reasons).

use std::io::Write;
use std::path::PathBuf;

use crate::config::ProjectConfig;
use crate::decide::batch::{command_mapping, decide, DecideOptions};
use crate::ingest::config::InputSpec;
use crate::ingest::InputSource;
use crate::model::roles::Roles;
use crate::Result;

/// Arguments of `eventfold decide`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Command files: NDJSON or CSV (plain, gzip or zstd), folders or globs.
    #[arg(required = true, value_name = "COMMANDS")]
    pub commands: Vec<PathBuf>,
    #[command(flatten)]
    pub out: super::OutArg,
    /// The decision folder to write (replaced if it holds an earlier decision).
    #[arg(long, value_name = "DIR", default_value = "decision")]
    pub decision: PathBuf,
    /// The roles file the authorisation rules read (default: `[run] roles`
    /// of eventfold.toml, else nobody holds a role).
    #[arg(long, value_name = "FILE")]
    pub roles: Option<PathBuf>,
    /// The command files' format (ndjson, json, csv); default: recognised by
    /// each file's first bytes, then its name.
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<String>,
    /// The CSV delimiter: one character, or "tab".
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// The time zone of `issued_at` times written without an offset.
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// Read a command field from elsewhere: FIELD=SOURCE, FIELD one of
    /// command_id, command_type, stream_id, actor, issued_at,
    /// expected_version, correlation_id, payload. Repeatable.
    #[arg(long, value_name = "FIELD=SOURCE")]
    pub map: Vec<String>,
    /// Exit 1 when any command is rejected (for CI).
    #[arg(long)]
    pub fail_on_reject: bool,
    /// Memory the batch may hold, e.g. 512MB: a larger batch is spread over
    /// files by stream and decided a part at a time (default: `[run]
    /// memory_limit` of eventfold.toml, else 384 MiB).
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
}

/// Decides the batch, prints the summary; exit 1 on rejections with `--fail-on-reject`.
pub fn execute(args: &Args, config: &ProjectConfig) -> Result<u8> {
    let out = config.out(args.out.out.as_deref());
    let inputs = super::expand_inputs(&args.commands)?
        .into_iter()
        .map(InputSource::File)
        .collect();
    let spec = InputSpec {
        format: args.input_format.clone(),
        delimiter: args.delimiter.clone(),
        timezone: args.timezone.clone(),
        ..InputSpec::default()
    };
    let mut ingest = spec.options()?;
    let time = ingest.mapping.time.clone();
    ingest.mapping = command_mapping(&args.map)?;
    ingest.mapping.time = time;
    ingest.position_base = crate::decide::batch::NO_EXPECTED_VERSION;
    let roles = match args.roles.as_ref().or(config.roles.as_ref()) {
        Some(path) => Roles::load(path)?,
        None => Roles::default(),
    };
    let summary = decide(&DecideOptions {
        out,
        decision: args.decision.clone(),
        inputs,
        ingest,
        roles,
        memory_limit: args
            .memory_limit
            .as_deref()
            .or(config.memory_limit.as_deref())
            .map(crate::support::byte_size::parse_byte_size)
            .transpose()?
            .unwrap_or(crate::pipeline::DEFAULT_RUN_MEMORY_LIMIT),
    })?;
    // Written, not println!: a closed stdout is an error main ends quietly on.
    let mut stdout = std::io::stdout().lock();
    let mut text = format!(
        "decided {} commands against {}: {} accepted ({} events), {} rejected\n",
        summary.commands, summary.output, summary.accepted, summary.events, summary.rejected
    );
    for (reason, count) in &summary.reasons {
        text.push_str(&format!("  {reason}: {count}\n"));
    }
    text.push_str(&format!("wrote {}\n", args.decision.display()));
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| crate::Error::io("stdout", e))?;
    Ok(if args.fail_on_reject && summary.rejected > 0 {
        super::exit::VIOLATIONS
    } else {
        super::exit::OK
    })
}
