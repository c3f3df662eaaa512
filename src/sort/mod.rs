//! Sort: the ingested events put in stream order (aggregate type, stream id,
//! version, position) in bounded memory, between ingest and replay.
//!
//! A full run gathers a share of the memory limit at a time, sorts it and
//! writes it as one sorted run beside the output ([`runs`]), then merges the
//! runs; a partial or incremental run stages one Parquet file that DataFusion
//! filters and sorts ([`staging`]). [`staging::StagingSink`] is ingest's sink
//! for both.

pub mod runs;
pub mod staging;

pub use staging::{StagingFormat, StagingSink, STAGED_PARQUET, STAGING};
