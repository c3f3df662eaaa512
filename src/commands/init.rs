//! `eventfold init`: a commented starter `eventfold.toml` and `model.toml`.

use std::io::Write;
use std::path::PathBuf;

use crate::config::{FILE_NAME, STARTER_CONFIG};
use crate::embedded::SAMPLE_MODEL;
use crate::{Error, Result};

/// Arguments of `eventfold init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder to write into.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite files that exist.
    #[arg(long)]
    pub force: bool,
}

/// Writes the starter files, refusing to overwrite unless `--force`.
pub fn execute(args: &Args) -> Result<u8> {
    let files = [(FILE_NAME, STARTER_CONFIG), ("model.toml", SAMPLE_MODEL)];
    for (name, _) in files {
        let path = args.dir.join(name);
        if path.exists() && !args.force {
            return Err(Error::usage(format!(
                "{} exists; pass --force to overwrite it",
                path.display()
            )));
        }
    }
    std::fs::create_dir_all(&args.dir).map_err(|e| Error::io(&args.dir, e))?;
    // Written, not println!: a closed stdout is an error to end on, not a panic.
    let mut stdout = std::io::stdout().lock();
    let said = |e| Error::io("stdout", e);
    for (name, text) in files {
        let path = args.dir.join(name);
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        writeln!(stdout, "wrote {}", path.display()).map_err(said)?;
    }
    writeln!(
        stdout,
        "next: `eventfold run` reads {FILE_NAME}; edit it to point at your logs"
    )
    .map_err(said)?;
    Ok(super::exit::OK)
}
