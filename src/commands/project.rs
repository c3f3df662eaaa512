//! `eventfold project`: rebuild the projections of an existing output from
//! its tables, without reading the log again.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::ProjectConfig;
use crate::model::ModelSource;
use crate::pipeline::project::{project, ProjectConfig as Rebuild};
use crate::sink::manifest::Manifest;
use crate::{Error, Result};

/// Arguments of `eventfold project`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The projections to rebuild (with every SQL projection that reads one
    /// of them); all when none is named.
    pub names: Vec<String>,
    #[command(flatten)]
    pub out: super::OutArg,
    #[command(flatten)]
    pub memory: super::MemoryArg,
    #[command(flatten)]
    pub cluster: super::ClusterArg,
    /// The folder of SQL projections (default: `[run] projections` of
    /// eventfold.toml, else `projections/` beside it, else the task domain's
    /// when the output was folded by the embedded model).
    #[arg(long, value_name = "DIR")]
    pub projections: Option<PathBuf>,
    /// A model whose keyed folds (`[projections.NAME]`) replace the output's;
    /// its aggregates must be those that folded the output (default: the
    /// output's own model.toml).
    #[arg(short, long)]
    pub model: Option<PathBuf>,
}

/// Without a projections folder, rebuilding everything would drop the SQL
/// projections of the output at `out`: refused, naming where they came from.
fn refuse_to_drop(out: &Path) -> Result<()> {
    let Some(manifest) = Manifest::read(out)? else {
        return Ok(());
    };
    let sql: Vec<(&String, &str)> = (manifest.projections.iter())
        .filter(|(_, entry)| entry.kind == "sql")
        .map(|(name, entry)| (name, entry.source.as_str()))
        .collect();
    let Some((_, source)) = sql.first() else {
        return Ok(());
    };
    let names: Vec<&str> = sql.iter().map(|(name, _)| name.as_str()).collect();
    let folder = Path::new(source).parent().unwrap_or(Path::new("."));
    Err(Error::usage(format!(
        "no projections folder is given, and {} has SQL projections ({}) that `project` would drop\n  hint: pass --projections DIR (they were built from {})",
        out.display(),
        names.join(", "),
        folder.display()
    )))
}

/// Rebuilds the projections and prints what was rebuilt.
pub fn execute(args: &Args, config: &ProjectConfig) -> Result<u8> {
    let out = config.out(args.out.out.as_deref());
    let model = args
        .model
        .as_ref()
        .map(|path| ModelSource::from_path(path))
        .transpose()?;
    // The default is the output's folder, not the model given: `--model`
    // must keep the aggregates that folded it, and keeps its SQL projections.
    let folded_by_embedded = std::fs::read_to_string(out.join("model.toml"))
        .is_ok_and(|text| text == crate::embedded::SAMPLE_MODEL);
    let folder = args
        .projections
        .as_deref()
        .or(config.projections.as_deref());
    if folder.is_none() && !folded_by_embedded {
        refuse_to_drop(&out)?;
    }
    let projections =
        super::run::projection_sources(args.projections.as_deref(), config, folded_by_embedded)?;
    let report = project(&Rebuild {
        out,
        model,
        projections,
        names: args.names.clone(),
        session: config.cluster_session(
            args.memory.memory_limit.as_deref(),
            args.cluster.cluster.as_deref(),
        )?,
    })?;
    let mut stdout = std::io::stdout().lock();
    let mut print = || -> std::io::Result<()> {
        for (name, rows) in &report.rebuilt {
            writeln!(stdout, "  {name:<28} {rows} rows")?;
        }
        writeln!(
            stdout,
            "projections: {} rebuilt in {} ({} ms)",
            report.rebuilt.len(),
            report.out.display(),
            report.total_ms
        )
    };
    print().map_err(|e| Error::io("stdout", e))?;
    Ok(super::exit::OK)
}
