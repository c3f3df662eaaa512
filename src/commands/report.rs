//! `eventfold report`: the page of an output folder (the library's
//! [`crate::report`]), written to `-o FILE` or into the folder as report.html.

use std::path::PathBuf;

use crate::config::ProjectConfig;
use crate::report::REPORT_FILE;
use crate::sql::ensure_output;
use crate::Result;

/// Arguments of `eventfold report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub out: super::OutArg,
    #[command(flatten)]
    pub memory: super::MemoryArg,
    /// The HTML file to write (default: report.html inside the output folder).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Writes the page and names it on stderr.
pub fn execute(args: &Args, config: &ProjectConfig) -> Result<u8> {
    let out = config.out(args.out.out.as_deref());
    ensure_output(&out)?;
    let target = args.output.clone().unwrap_or_else(|| out.join(REPORT_FILE));
    let terminal = super::terminal::Terminal::stderr();
    let options = config.session(args.memory.memory_limit.as_deref())?;
    let bytes = crate::report::write(
        &out,
        &crate::report::output_name(&out),
        &target,
        &options,
        &terminal,
    )?;
    eprintln!("report: {} ({} KB)", target.display(), bytes.div_ceil(1024));
    Ok(super::exit::OK)
}
