//! `eventfold export xes|ocel`: an output folder as a log for process-mining
//! tools (the library's `tools::export`).

use std::io::Write;
use std::path::PathBuf;

use crate::config::ProjectConfig;
use crate::sql::{register_output, session};
use crate::tools::export::ocel::{write_ocel, OcelForm};
use crate::tools::export::xes::write_xes;
use crate::{Error, Result};

/// Arguments of `eventfold export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub format: Format,
}

/// The export formats.
#[derive(Debug, clap::Subcommand)]
pub enum Format {
    /// IEEE 1849 XES: a trace per stream of one aggregate type (.xes, or .xes.gz gzipped).
    Xes(XesArgs),
    /// OCEL 2.0: every aggregate an object, every event related to the objects
    /// it touches (.jsonocel for JSON, .sqlite for SQLite).
    Ocel(OcelArgs),
}

/// Arguments of `eventfold export xes`.
#[derive(Debug, clap::Args)]
pub struct XesArgs {
    /// The aggregate type whose streams become the traces.
    #[arg(long, value_name = "TYPE")]
    pub aggregate: String,
    #[command(flatten)]
    pub out: super::OutArg,
    #[command(flatten)]
    pub memory: super::MemoryArg,
    /// The XES file to write (gzipped when it ends in .gz).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

/// Arguments of `eventfold export ocel`.
#[derive(Debug, clap::Args)]
pub struct OcelArgs {
    #[command(flatten)]
    pub out: super::OutArg,
    #[command(flatten)]
    pub memory: super::MemoryArg,
    /// The file to write: FILE.jsonocel (JSON) or FILE.sqlite (SQLite).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

/// Runs the export and prints what it wrote to stderr.
pub fn execute(args: &Args, config: &ProjectConfig) -> Result<u8> {
    let (out, memory) = match &args.format {
        Format::Xes(a) => (&a.out, &a.memory),
        Format::Ocel(a) => (&a.out, &a.memory),
    };
    let out = config.out(out.out.as_deref());
    let runtime = crate::sql::runtime()?;
    let ctx = session(&config.session(memory.memory_limit.as_deref())?)?;
    runtime.block_on(register_output(
        &ctx,
        &out,
        &super::terminal::Terminal::stderr(),
    ))?;
    match &args.format {
        Format::Xes(a) => {
            let file = std::fs::File::create(&a.output).map_err(|e| Error::io(&a.output, e))?;
            let mut writer: Box<dyn Write> = if a.output.to_string_lossy().ends_with(".gz") {
                Box::new(flate2::write::GzEncoder::new(
                    std::io::BufWriter::new(file),
                    flate2::Compression::default(),
                ))
            } else {
                Box::new(std::io::BufWriter::new(file))
            };
            let summary = runtime.block_on(write_xes(&ctx, &a.aggregate, &mut writer))?;
            writer.flush().map_err(|e| Error::io(&a.output, e))?;
            drop(writer);
            eprintln!(
                "{}: {} traces, {} events of {}",
                a.output.display(),
                summary.traces,
                summary.events,
                a.aggregate
            );
        }
        Format::Ocel(a) => {
            let form = OcelForm::of_path(&a.output).ok_or_else(|| {
                Error::usage(format!(
                    "{}: name the form by the extension\n  hint: FILE.jsonocel for JSON, FILE.sqlite for SQLite",
                    a.output.display()
                ))
            })?;
            let model = crate::model::load_model(&out.join("model.toml"))?;
            let summary = runtime.block_on(write_ocel(&ctx, &model, &a.output, form))?;
            eprintln!(
                "{}: {} objects of {} types, {} events of {} types, {} event-object and {} object-object relations",
                a.output.display(),
                summary.objects,
                summary.object_types,
                summary.events,
                summary.event_types,
                summary.e2o,
                summary.o2o
            );
        }
    }
    Ok(super::exit::OK)
}
