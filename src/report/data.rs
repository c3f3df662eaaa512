//! What the report shows, as plain structs: [`ReportData`] and its parts,
//! filled by [`super::gather`] and written out by [`super::html`]. Every list
//! is cut to a few rows ([`MAX_AGGREGATES`], [`MAX_VARIANTS`], …), so the
//! page stays small whatever the log's size.

use crate::sink::manifest::Manifest;
use crate::tools::flow::Edge;

/// Aggregate types shown, the busiest first; the rest are named as left out.
pub const MAX_AGGREGATES: usize = 12;
/// Variants shown per aggregate type.
pub const MAX_VARIANTS: usize = 8;
/// Edges drawn per flow graph, the busiest.
pub const MAX_EDGES: usize = 40;
/// Statuses shown per state distribution.
pub const MAX_STATUSES: usize = 30;
/// Findings examples per rule, reject groups, and examples per reject group.
pub const MAX_EXAMPLES: usize = 3;
pub const MAX_REJECT_GROUPS: usize = 20;

/// Everything the page shows.
#[derive(Debug, Clone, Default)]
pub struct ReportData {
    /// The output folder's name, for the title.
    pub name: String,
    pub manifest: Manifest,
    pub findings: Vec<FindingCount>,
    pub finding_examples: Vec<FindingExample>,
    pub rejects: Vec<RejectGroup>,
    /// Events per day, week, month or year; `None` without events.
    pub timeline: Option<Timeline>,
    pub aggregates: Vec<AggregateData>,
    /// Aggregate types beyond [`MAX_AGGREGATES`], not shown.
    pub aggregates_left_out: Vec<String>,
    pub actors: Vec<Actor>,
    pub projections: Vec<Projection>,
    /// The parts that could not be read, and why.
    pub notes: Vec<String>,
}

/// Findings of one rule at one severity.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingCount {
    pub rule: String,
    pub severity: String,
    pub findings: u64,
}

/// One of the first findings of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingExample {
    pub rule: String,
    pub aggregate_type: String,
    pub stream_id: String,
    pub version: u64,
    pub message: String,
}

/// Rejects whose reasons differ only in the values they quote.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectGroup {
    /// The reason with its quoted values and numbers replaced by `…`.
    pub kind: String,
    pub rejects: u64,
    pub examples: Vec<RejectExample>,
}

/// One rejected record: where it was, why, and its start.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectExample {
    pub source: String,
    pub reason: String,
    pub raw: String,
}

/// Events per time bin, empty bins included (unless there would be too many).
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// `day`, `week`, `month` or `year`.
    pub unit: &'static str,
    pub bins: Vec<(String, u64)>,
}

/// One aggregate type's part of the page.
#[derive(Debug, Clone, Default)]
pub struct AggregateData {
    pub name: String,
    pub streams: u64,
    /// Whether the output has a state table of the type (declared in the model).
    pub declared: bool,
    /// Streams per status (`(none)` for no status); `None` when the type has
    /// no state table with a status (not declared, or no lifecycle).
    pub states: Option<Vec<(String, u64)>>,
    pub status_edges: Vec<Edge>,
    pub status_edges_total: usize,
    pub event_edges: Vec<Edge>,
    pub event_edges_total: usize,
    pub lead_time: Option<LeadTime>,
    pub time_in_status: Vec<StatusTime>,
    pub variants: Vec<Variant>,
    /// Distinct variants of the type (at most the query's 20).
    pub variants_ranked: usize,
}

/// `lead_time.sql`'s row of a type, and its per-stream lead times binned.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadTime {
    pub streams_created: u64,
    pub streams_finished: u64,
    pub p50_hours: Option<f64>,
    pub p90_hours: Option<f64>,
    pub max_hours: Option<f64>,
    /// `(bin label, streams)`, from the first bin with streams to the last.
    pub bins: Vec<(String, u64)>,
}

/// `time_in_status.sql`'s row of a status.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusTime {
    pub status: String,
    pub streams: u64,
    pub total_hours: f64,
    pub median_hours: f64,
}

/// `process_variants.sql`'s row of a variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub rank: u64,
    pub streams: u64,
    pub share: f64,
    pub steps: u64,
    pub example_stream: String,
    pub variant: String,
}

/// `busiest_actors.sql`'s row of an actor.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    pub actor: String,
    pub events: u64,
    pub share_of_events: f64,
    pub aggregates: u64,
    pub active_days: u64,
}

/// One projection of the output.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub name: String,
    pub kind: String,
    pub source: String,
    pub key: Vec<String>,
    pub rows: u64,
}
