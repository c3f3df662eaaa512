//! What a run did: [`RunReport`], the numbers the summary prints and the
//! manifest records.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::ingest::IngestSummary;
use crate::sink::manifest::{ProjectionEntry, Timings};

/// What a run did: the numbers of the summary and the manifest.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub out: PathBuf,
    /// The whole log's inputs and counts (an incremental run's included).
    pub ingest: IngestSummary,
    /// An incremental run: what this run read, and the watermark it went on from.
    pub increment: Option<(IngestSummary, Option<u64>)>,
    /// An incremental run: inputs left out because they were already folded.
    pub skipped_inputs: Vec<String>,
    /// An incremental run found nothing new: the previous output was kept as it was.
    pub unchanged: bool,
    /// The size of `report.html` when the run wrote it (`run --report`).
    pub report_bytes: Option<u64>,
    /// Streams per aggregate type, declared in the model or not.
    pub streams: BTreeMap<String, u64>,
    /// Rows per state table.
    pub states: BTreeMap<String, u64>,
    /// Rows per state history table (with `--with-history`).
    pub state_history: BTreeMap<String, u64>,
    /// Rows of `transitions.parquet`: one per event written, so also the
    /// rows of `events.parquet` ([`RunReport::events`]).
    pub transitions: u64,
    /// Findings per rule name.
    pub findings: BTreeMap<String, u64>,
    /// Rows per projection table (`projections/<name>.parquet`): the keyed
    /// folds of the model and the SQL projections.
    pub projections: BTreeMap<String, u64>,
    /// What each projection is (the manifest's `projections`).
    pub projection_entries: BTreeMap<String, ProjectionEntry>,
    /// The run replayed a selection (`--aggregate`, `--as-of`, …), not the whole log.
    pub partial: bool,
    pub timings: Timings,
    pub model_sha256: String,
}

impl RunReport {
    /// Rows of `events.parquet`: the input's events, or those a partial or
    /// as-of run selected. Every event written has its transition row.
    pub fn events(&self) -> u64 {
        self.transitions
    }

    /// Findings of every rule.
    pub fn findings_total(&self) -> u64 {
        self.findings.values().sum()
    }
}
