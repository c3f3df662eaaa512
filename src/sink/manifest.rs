//! `manifest.json`: what an output holds, written once by the run and read back
//! by the same types (the next incremental run, `guard` checks of a partial run).
//!
//! The manifest is the output's contract with the next run: its
//! [`FORMAT_VERSION`] says which layout of the tables wrote it, so a change of
//! the output is detected instead of guessed from columns. Its counts are the
//! rows the output holds; the input's own counts (`input_records`,
//! `input_events`, `rejects`) are stated beside them, so a partial or as-of run
//! says both what it read and what it wrote.

use std::collections::BTreeMap;
use std::path::Path;

use crate::ingest::InputSummary;
use crate::{Error, Result};

/// The layout of the output this eventfold writes. Raised whenever a table's
/// columns or meaning change, so an incremental run refuses an output of
/// another layout instead of merging into it.
pub const FORMAT_VERSION: u32 = 1;

/// The file name of the manifest inside an output folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The file name of the model an output was built with, inside its folder.
pub const MODEL_FILE: &str = "model.toml";

/// The whole of `manifest.json`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// The output layout ([`FORMAT_VERSION`]); absent in outputs written
    /// before it was introduced (their layout is version 1's).
    #[serde(default)]
    pub format_version: Option<u32>,
    /// One hash over every output file's hash: equal for equal outputs.
    pub content_sha256: String,
    /// The SHA-256 of every output file, by relative path.
    pub files: BTreeMap<String, String>,
    pub tool: String,
    pub tool_version: String,
    /// Every input folded into this output, the previous runs' included.
    pub inputs: Vec<InputSummary>,
    pub model: ModelEntry,
    /// The fingerprint of the mapping (preset, mapping file, `--map`, time options).
    #[serde(default)]
    pub mapping_sha256: Option<String>,
    pub counts: Counts,
    pub watermark: Watermark,
    /// What an incremental run added, `None` for a full run.
    #[serde(default)]
    pub increment: Option<Increment>,
    /// Every projection of the output: its kind, definition and key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub projections: BTreeMap<String, ProjectionEntry>,
    /// The selection of a partial or as-of run, `None` for a whole-log run.
    #[serde(default)]
    pub selection: Option<Selection>,
    #[serde(default)]
    pub timings: Timings,
}

/// One projection of the output (`projections/<name>.parquet`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProjectionEntry {
    /// `sql` (a file of a projections folder) or `keyed` (a keyed fold of the model).
    pub kind: String,
    /// The file it was defined in.
    pub source: String,
    /// The columns its rows are unique on, in their sort order.
    pub key: Vec<String>,
}

/// The model that folded the output.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ModelEntry {
    pub name: String,
    pub sha256: String,
}

/// Counts of the input and of the rows the output holds.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Records read from every input: `input_events + rejects`.
    pub input_records: u64,
    /// Records of the input that became events (a partial run's selection
    /// comes after this). Absent in older manifests, where it equals `events`.
    #[serde(default)]
    pub input_events: Option<u64>,
    /// Rows of `events.parquet`.
    pub events: u64,
    /// Rows of `rejects.parquet`.
    pub rejects: u64,
    /// Streams per aggregate type (rows of `streams.parquet`).
    #[serde(default)]
    pub streams: BTreeMap<String, u64>,
    /// Rows per state table.
    #[serde(default)]
    pub states: BTreeMap<String, u64>,
    /// Rows per state history table.
    #[serde(default)]
    pub state_history: BTreeMap<String, u64>,
    /// Rows of `transitions.parquet`.
    pub transitions: u64,
    /// Rows of `findings.parquet` per rule.
    #[serde(default)]
    pub findings: BTreeMap<String, u64>,
    /// Rows per projection table (`projections/<name>.parquet`).
    #[serde(default)]
    pub projections: BTreeMap<String, u64>,
}

impl Counts {
    /// The input's events (older manifests did not state them apart).
    pub fn input_events(&self) -> u64 {
        self.input_events.unwrap_or(self.events)
    }
}

/// Where the log stopped: what an incremental run goes on from.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Watermark {
    /// The highest position folded.
    pub position: Option<u64>,
    /// The last read-order position given out.
    pub read_positions: Option<u64>,
}

/// What one incremental run read.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Increment {
    /// The previous output's watermark.
    pub after_position: Option<u64>,
    pub input_records: u64,
    pub events: u64,
    pub rejects: u64,
}

impl Manifest {
    /// Reads `dir/manifest.json`; `None` when the folder has none.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(MANIFEST_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::usage(format!(
                "{}: not a manifest this eventfold can read: {e}",
                path.display()
            ))
        })
    }

    /// Writes `dir/manifest.json`, pretty-printed.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))
    }

    /// Whether the output holds the whole log (no selection).
    pub fn is_whole_log(&self) -> bool {
        self.selection.is_none()
    }
}

/// What part of the log a run replays: everything (the default), or some
/// aggregate types, streams or tenants, as of a time or a position.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aggregates: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<String>,
    /// Only events that occurred at or before this time (microseconds, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of_micros: Option<i64>,
    /// Only events at or before this position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of_position: Option<u64>,
    /// Let a partial run replace a full output.
    #[serde(skip)]
    pub replace_full: bool,
}

fn sql_list(values: &[String]) -> String {
    let quoted: Vec<String> = values
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .collect();
    quoted.join(", ")
}

impl Selection {
    /// Whether the run replays less than the whole log.
    pub fn is_partial(&self) -> bool {
        self.where_clause().is_some()
    }

    /// The SQL condition on the events table, `None` for everything.
    pub fn where_clause(&self) -> Option<String> {
        let mut terms = Vec::new();
        if !self.aggregates.is_empty() {
            terms.push(format!(
                "aggregate_type IN ({})",
                sql_list(&self.aggregates)
            ));
        }
        if !self.streams.is_empty() {
            terms.push(format!("stream_id IN ({})", sql_list(&self.streams)));
        }
        if !self.tenants.is_empty() {
            terms.push(format!("tenant IN ({})", sql_list(&self.tenants)));
        }
        if let Some(micros) = self.as_of_micros {
            terms.push(format!("CAST(occurred_at AS BIGINT) <= {micros}"));
        }
        if let Some(position) = self.as_of_position {
            terms.push(format!("position <= {position}"));
        }
        (!terms.is_empty()).then(|| terms.join(" AND "))
    }
}

/// Milliseconds spent in each stage, and the peak resident memory (bytes) of
/// each phase where the platform tells it (see [`crate::support::metrics`]).
///
/// The phases run one after the other: `ingest` (read, parse and map, stage),
/// `sort_replay`, `duplicate_ids` (partial and incremental runs), `write`
/// (findings, manifest). Inside `ingest`, `staging_ms` is the busy time of the
/// staging threads, beside the parsing: holding batches and sorting and
/// writing the sorted runs (a full run), or encoding the staging Parquet file.
/// A full run's `duplicate_ids_ms` is the merge of the runs' id hashes, just
/// before the replay (inside `sort_replay`). Inside `sort_replay`, the sorted
/// stream is consumed batch by batch, so its time is split into `sort_ms`
/// (waiting for the next sorted batch: the merge of the runs, or DataFusion's
/// sort), `fold_ms` (the replay) and `tables_write_ms` (transitions and state
/// tables). `events.parquet` is written on a thread of its own:
/// `events_write_ms` is that thread's busy time, overlapping the others, and
/// `events_write_wait_ms` the time the replay waited for it. `peak_rss` is the
/// highest of the phases' peaks.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Timings {
    pub ingest_ms: u64,
    pub staging_ms: u64,
    pub sort_replay_ms: u64,
    pub sort_ms: u64,
    pub fold_ms: u64,
    pub events_write_ms: u64,
    pub events_write_wait_ms: u64,
    pub tables_write_ms: u64,
    pub duplicate_ids_ms: u64,
    /// Incremental runs: merging the previous tables with the new rows.
    pub merge_ms: u64,
    /// Building the SQL projections (inside `write_ms`).
    pub projections_ms: u64,
    pub write_ms: u64,
    pub total_ms: u64,
    pub ingest_peak_rss: Option<u64>,
    pub sort_replay_peak_rss: Option<u64>,
    pub duplicate_ids_peak_rss: Option<u64>,
    pub merge_peak_rss: Option<u64>,
    pub write_peak_rss: Option<u64>,
    pub peak_rss: Option<u64>,
}
