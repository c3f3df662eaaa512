//! What `run` is asked to do: [`RunConfig`], resolved once from flags, the
//! config file or a test, and the check that it may replace what is at `--out`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::ingest::{IngestOptions, InputSource};
use crate::model::roles::Roles;
use crate::model::ModelSource;
use crate::projection::ProjectionSource;
use crate::sink::manifest::{Manifest, Selection};
use crate::sql::SessionOptions;
use crate::support::progress::Observer;
use crate::{Error, Result};

/// The memory the sort (sorted runs, or DataFusion's pool) may hold during
/// `run` when no limit is given: runs of 96 MiB. At 10M events the run peaks
/// at ~350–370 MiB with it (BENCHMARKS.md).
pub const DEFAULT_RUN_MEMORY_LIMIT: usize = 384 << 20;

/// Everything `run` needs, resolved from flags (or tests).
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub inputs: Vec<InputSource>,
    pub model: ModelSource,
    pub out: PathBuf,
    pub ingest: IngestOptions,
    pub session: SessionOptions,
    pub selection: Selection,
    /// Also write `state_history/<aggregate>.parquet`: the state after each event.
    pub with_history: bool,
    /// Fold only the events after the previous output's watermark onto its
    /// snapshot (see [`crate::incremental`]).
    pub incremental: bool,
    /// The SQL projections to build into `projections/` (files of a
    /// projections folder, or the embedded task domain's).
    pub projections: Vec<ProjectionSource>,
    /// Who holds which role, for the model's authorisation rules.
    pub roles: Roles,
    /// Also write `report.html`, the page of [`crate::report`], inside the
    /// output before it is committed.
    pub report: bool,
    /// Told the run's progress and notes: the command draws them on stderr
    /// (bars only when it is a terminal); [`crate::support::progress::Silent`]
    /// takes nothing.
    pub observer: Arc<dyn Observer>,
}

/// Refuses to let a partial run replace a full output, unless asked.
pub(super) fn guard_full_output(config: &RunConfig) -> Result<()> {
    if config.incremental && config.selection.is_partial() {
        return Err(Error::usage(
            "--incremental folds the whole log onto the previous snapshot; it cannot be combined with --aggregate, --stream, --tenant or --as-of",
        ));
    }
    if !config.selection.is_partial() || config.selection.replace_full {
        return Ok(());
    }
    // An unreadable manifest is not a full output's: the run may replace it.
    let whole_log = Manifest::read(&config.out)
        .ok()
        .flatten()
        .is_some_and(|previous| previous.is_whole_log());
    if whole_log {
        return Err(Error::usage(format!(
            "refusing to replace the full output {} with a partial run\n  hint: write it elsewhere with --out, or pass --replace-full",
            config.out.display()
        )));
    }
    Ok(())
}
