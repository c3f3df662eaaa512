//! `eventfold init`: a commented starter `eventfold.toml` and `model.toml`.

use std::io::Write;
use std::path::{Path, PathBuf};

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
    writeln!(stdout, "{}", next_step(&args.dir)).map_err(said)?;
    Ok(super::exit::OK)
}

/// What to do next: `eventfold run` finds the config file only in the
/// working directory, so a folder elsewhere needs a `cd` (or `--config`).
fn next_step(dir: &Path) -> String {
    let here = |path: &Path| path.canonicalize().ok();
    if here(dir).is_some() && here(dir) == std::env::current_dir().ok().and_then(|d| here(&d)) {
        return format!("next: `eventfold run` reads {FILE_NAME}; edit it to point at your logs");
    }
    let shown = dir.display().to_string();
    let folder = match shown.trim_end_matches('/') {
        "" => shown.as_str(),
        trimmed => trimmed,
    };
    let config = dir.join(FILE_NAME);
    format!(
        "next: `cd {} && eventfold run` (or `eventfold run --config {}` from here); edit {} to point at your logs",
        shell_word(folder),
        shell_word(&config.display().to_string()),
        config.display()
    )
}

/// `text` as one shell word: as it is when it is plain, else single-quoted.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/+:@,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
