//! The subcommands: each turns its clap arguments into the library's plain config
//! structs once, calls the stages, and prints. `main.rs` maps the returned exit
//! code (or error, exit 2) to the process.

pub mod census;
pub mod check;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod completions;
pub mod decide;
pub mod diff;
pub mod export;
pub mod flow;
pub mod generate;
pub mod history;
pub mod init;
pub mod input;
pub mod man;
pub mod project;
pub mod query;
pub mod report;
pub mod run;
pub mod shell;
pub mod terminal;

use std::path::{Path, PathBuf};

use crate::sql::OutputFormat;
use crate::{Error, Result};

/// `--out DIR`, for the commands that read an output folder.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OutArg {
    /// The output folder of a run (default: `[run] out` of eventfold.toml, else `out`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `--memory-limit SIZE`, for the commands that run SQL over an output.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MemoryArg {
    /// Memory the SQL may hold before spilling to disk, e.g. 512MB (default:
    /// `[run] memory_limit` of eventfold.toml, else unbounded).
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
}

/// `--cluster df://HOST:PORT`, for the commands whose SQL can run on a cluster.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArg {
    /// Run the SQL on the eventfold cluster whose scheduler is at
    /// df://HOST:PORT (default: `[cluster] scheduler` of eventfold.toml,
    /// else here); the output must be at the same path on every executor.
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
}

/// `-o, --output FILE`, for the commands that print a result: write it to
/// FILE instead of stdout. Everywhere `-o` names a file; `--out` the folder.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OutputArg {
    /// Write the result to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl OutputArg {
    /// The file named by `--output` (created), else stdout.
    pub fn writer(&self) -> Result<Box<dyn std::io::Write>> {
        Ok(match &self.output {
            Some(path) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(path).map_err(|e| Error::io(path, e))?,
            )),
            None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        })
    }

    /// What to name in an error when the writer fails.
    pub fn name(&self) -> PathBuf {
        self.output.clone().unwrap_or_else(|| "stdout".into())
    }
}

/// `--format` of the commands that print query rows: the command line's
/// spelling of [`OutputFormat`], which the library keeps free of clap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FormatArg {
    /// An aligned text table.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
    /// A Parquet file (needs -o FILE).
    Parquet,
    /// An Arrow IPC file (needs -o FILE).
    Arrow,
}

impl From<FormatArg> for OutputFormat {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Table => OutputFormat::Table,
            FormatArg::Csv => OutputFormat::Csv,
            FormatArg::Json => OutputFormat::Json,
            FormatArg::Parquet => OutputFormat::Parquet,
            FormatArg::Arrow => OutputFormat::Arrow,
        }
    }
}

/// How a command prints its summary: `--format table|json`. (Query rows have
/// a CSV form too: [`crate::sql::OutputFormat`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SummaryFormat {
    /// Aligned text for people.
    #[default]
    Table,
    /// One JSON document for programs.
    Json,
}

/// The process exit codes: ripgrep's convention.
pub mod exit {
    /// Everything ran and nothing was found to fail on.
    pub const OK: u8 = 0;
    /// Checks found violations (used by `check`).
    pub const VIOLATIONS: u8 = 1;
    /// The tool failed: bad arguments, unreadable input, broken model, SQL error.
    pub const ERROR: u8 = 2;
}

/// Expands input arguments: files as given, folders to the log files inside them
/// (sorted by name, so the read order is stable), globs (`logs/*.csv.gz`) to
/// the files they match, also sorted.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|e| Error::io(input, e))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.is_file() && is_log_file(path))
                .collect();
            inside.sort();
            if inside.is_empty() {
                return Err(Error::usage(format!(
                    "{}: folder holds no log files ({}, plain, .gz or .zst)",
                    input.display(),
                    LOG_EXTENSIONS.join(", ")
                )));
            }
            files.extend(inside);
        } else if input.is_file() {
            files.push(input.clone());
        } else if input.to_string_lossy().contains(['*', '?', '[']) {
            let pattern = input.to_string_lossy();
            let mut matched: Vec<PathBuf> = glob::glob(&pattern)
                .map_err(|e| Error::usage(format!("{pattern}: not a usable glob: {e}")))?
                .filter_map(std::result::Result::ok)
                .filter(|path| path.is_file())
                .collect();
            matched.sort();
            if matched.is_empty() {
                return Err(Error::usage(format!(
                    "{pattern}: the glob matches no files"
                )));
            }
            files.extend(matched);
        } else {
            return Err(Error::io(
                input,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            ));
        }
    }
    Ok(files)
}

/// The extensions of the files a folder input reads.
const LOG_EXTENSIONS: [&str; 7] = [
    ".ndjson", ".jsonl", ".json", ".csv", ".tsv", ".parquet", ".xes",
];

fn is_log_file(path: &Path) -> bool {
    let name = path.to_string_lossy();
    let name = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(&name);
    LOG_EXTENSIONS.iter().any(|ext| name.ends_with(ext))
}
