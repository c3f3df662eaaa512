//! The side tools beside the pipeline: each reads a log or an output and
//! answers one question. [`census`] says what a log holds before a rebuild,
//! [`diff`] compares two rebuilds, [`history`] replays one stream's audit
//! trail, [`flow`] draws the directly-follows graph (whose edges [`flow_graph`]
//! reads from an output), [`generate`] writes the
//! synthetic task log, [`check`] turns findings and check queries into
//! pass or fail, and [`export`] writes an output as XES or OCEL 2.0 for
//! process-mining tools.

pub mod census;
#[cfg(feature = "sql")]
pub mod check;
#[cfg(feature = "sql")]
pub mod diff;
#[cfg(feature = "sql")]
pub mod export;
pub mod flow;
#[cfg(feature = "sql")]
pub mod flow_graph;
pub mod generate;
#[cfg(feature = "sql")]
pub mod history;
