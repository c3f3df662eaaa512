//! The side tools beside the pipeline: each reads a log or an output and
//! answers one question. [`census`] says what a log holds before a rebuild,
//! [`diff`] compares two rebuilds, [`history`] replays one stream's audit
//! trail, [`flow`] draws the directly-follows graph, [`generate`] writes the
//! synthetic task log, and [`check`] turns findings and check queries into
//! pass or fail.

pub mod census;
#[cfg(feature = "sql")]
pub mod check;
#[cfg(feature = "sql")]
pub mod diff;
pub mod flow;
pub mod generate;
#[cfg(feature = "sql")]
pub mod history;
