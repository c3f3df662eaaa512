//! `eventfold init`: a commented starter `eventfold.toml`, `model.toml` and
//! projection (`projections/events_per_type.sql`).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{FILE_NAME, STARTER_CONFIG};
use crate::embedded::SAMPLE_MODEL;
use crate::{Error, Result};

/// The starter projection: generic (it reads only `events`), its header
/// explained in its comments.
pub const STARTER_PROJECTION: &str = "\
-- projection: Events per aggregate type and event type: how many, in how many streams, first and last
-- key: aggregate_type, event_type
-- not_null: events, streams
--
-- A starter projection written by `eventfold init`: edit it, or add others beside it. Each .sql
-- file of this folder is built by `eventfold run` into out/projections/<file name>.parquet (and
-- rebuilt alone by `eventfold project NAME`); SQL commands see it as the table <file name>.
-- The header is the leading block of `--` lines. Its keys:
--   projection       the title (required)
--   key              the columns that make a row unique (required; the run fails otherwise)
--   param            NAME = DEFAULT, a value put where the body writes a dollar sign and NAME in braces
--   not_null         columns that `eventfold check` expects never null
--   accepted_values  COLUMN = a|b|c, the only values `check` accepts in that column
--   references       COLUMN -> TABLE.COLUMN, each value must be one of that table's
-- The body is one SELECT over the output's tables: events, transitions, streams, findings,
-- rejects, the state of each aggregate (a table named after it), the model's tables and other
-- projections. Counted per stream first, then per event type: a grouping that spills to disk
-- under a memory limit, where count(DISTINCT stream_id) could not.
WITH per_stream AS (
    SELECT aggregate_type, event_type, stream_id, count(*) AS events,
           min(occurred_at) AS first_occurred_at, max(occurred_at) AS last_occurred_at
    FROM events
    GROUP BY aggregate_type, event_type, stream_id
)
SELECT
    aggregate_type,
    event_type,
    sum(events) AS events,
    count(*) AS streams,
    min(first_occurred_at) AS first_occurred_at,
    max(last_occurred_at) AS last_occurred_at
FROM per_stream
GROUP BY aggregate_type, event_type
";

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
    let files = [
        (FILE_NAME, STARTER_CONFIG),
        ("model.toml", SAMPLE_MODEL),
        ("projections/events_per_type.sql", STARTER_PROJECTION),
    ];
    for (name, _) in files {
        let path = args.dir.join(name);
        if path.exists() && !args.force {
            return Err(Error::usage(format!(
                "{} exists; pass --force to overwrite it",
                path.display()
            )));
        }
    }
    let projections = args.dir.join("projections");
    std::fs::create_dir_all(&projections).map_err(|e| Error::io(&projections, e))?;
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
