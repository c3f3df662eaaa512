//! The side tools beside the pipeline: each reads a log or an output and
//! answers one question. [`census`] says what a log holds before a rebuild,
//! [`diff`] compares two rebuilds, [`history`] replays one stream's audit
//! trail, [`flow`] draws the directly-follows graph (whose edges [`flow_graph`]
//! reads from an output; laid out by [`layered`], checked by [`geometry`]),
//! [`generate`] writes the
//! synthetic task log, [`check`] turns findings and check queries into
//! pass or fail, and [`export`] writes an output as XES or OCEL 2.0 for
//! process-mining tools. [`command_batch`] writes a batch of commands for
//! `decide` against the output of a generated log.

pub mod census;
#[cfg(feature = "sql")]
pub mod check;
pub mod command_batch;
#[cfg(feature = "sql")]
pub mod diff;
#[cfg(feature = "sql")]
pub mod export;
pub mod flow;
#[cfg(feature = "sql")]
pub mod flow_graph;
pub mod generate;
pub mod geometry;
#[cfg(feature = "sql")]
pub mod history;
pub mod layered;
