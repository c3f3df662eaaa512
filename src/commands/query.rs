//! `eventfold query`: SQL over an output folder.

use std::io::Write;
use std::path::PathBuf;

use crate::config::ProjectConfig;
use crate::sql::queries::{parse_params, QueryFile};
use crate::sql::{register_output, run_sql, session, write_batches, OutputFormat};
use crate::{Error, Result};

/// Arguments of `eventfold query`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SQL to run (several statements are run in order; the last one's rows
    /// are printed).
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub sql: Option<String>,
    /// Read the SQL from this file.
    #[arg(short, long)]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub out: super::OutArg,
    #[command(flatten)]
    pub memory: super::MemoryArg,
    #[command(flatten)]
    pub cluster: super::ClusterArg,
    /// Set a query parameter: NAME=VALUE for a `${NAME}` placeholder declared
    /// with `-- param: NAME = DEFAULT` in the file. Repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[command(flatten)]
    pub output: super::OutputArg,
    /// How to print the rows; parquet and arrow (an Arrow IPC file) are
    /// binary and need -o FILE.
    #[arg(long, value_enum, default_value_t = super::FormatArg::Table)]
    pub format: super::FormatArg,
}

/// Runs the query and prints its rows to stdout.
pub fn execute(args: &Args, config: &ProjectConfig) -> Result<u8> {
    let format: OutputFormat = args.format.into();
    if format.is_binary() && args.output.output.is_none() {
        return Err(Error::usage(format!(
            "--format {} writes a binary file, not text for stdout\n  hint: name the file with -o FILE",
            format.name()
        )));
    }
    let out = config.out(args.out.out.as_deref());
    let params = parse_params(&args.params)?;
    let query = match (&args.sql, &args.file) {
        (Some(sql), _) => QueryFile::parse("query", sql)?,
        (None, Some(path)) => QueryFile::load(path)?,
        (None, None) => return Err(Error::usage("give the SQL as an argument or with -f FILE")),
    };
    let sql = query.render(&params)?;
    let runtime = crate::sql::runtime()?;
    let batches = runtime.block_on(async {
        let ctx = session(&config.cluster_session(
            args.memory.memory_limit.as_deref(),
            args.cluster.cluster.as_deref(),
        )?)?;
        register_output(&ctx, &out, &super::terminal::Terminal::stderr()).await?;
        run_sql(&ctx, &sql).await
    })?;
    let mut writer = args.output.writer()?;
    write_batches(&batches, format, &mut writer)?;
    writer
        .flush()
        .map_err(|e| Error::io(args.output.name(), e))?;
    Ok(super::exit::OK)
}
