//! eventfold: replay exported event logs into aggregate state, read models and
//! Parquet, and answer SQL over the whole history.
//!
//! The folders are the pipeline's stages, in the order data flows: [`ingest`]
//! reads logs (its `formats/`) and maps them into the canonical [`envelope`];
//! [`sort`] orders them by stream in bounded memory; [`replay`] folds each
//! stream with the [`model`] (which holds the upcasters too) into its state;
//! [`sink`] writes Parquet and the manifest; [`pipeline`] wires the stages into
//! `run`, and [`incremental`] continues a previous output; [`decide`] is the
//! write side, commands decided against an output's snapshot; [`sql`] is the
//! DataFusion session and the query library (and, with the `cluster`
//! feature, its client side on a Ballista cluster, whose scheduler and
//! executor roles are [`cluster`]); [`report`] draws an output as one HTML
//! page. [`tools`] holds the side tools
//! (census, diff, history, flow, generate, check) and [`commands`] the CLI's
//! subcommands; `main.rs` only parses arguments and maps errors to exit codes.
//! [`support`] is what every layer shares (JSON paths, times, hashes, memory
//! readings); it imports nothing of the others. Everything that needs
//! DataFusion sits behind the default feature `sql`.

#[cfg(feature = "cluster")]
pub mod cluster;
#[cfg(feature = "sql")]
pub mod commands;
#[cfg(feature = "sql")]
pub mod config;
pub mod decide;
pub mod embedded;
pub mod envelope;
pub mod error;
#[cfg(feature = "sql")]
pub mod incremental;
pub mod ingest;
pub mod model;
#[cfg(feature = "sql")]
pub mod pipeline;
#[cfg(feature = "sql")]
pub mod projection;
pub mod replay;
#[cfg(feature = "sql")]
pub mod report;
pub mod sink;
pub mod sort;
#[cfg(feature = "sql")]
pub mod sql;
pub mod support;
pub mod tools;

pub use error::{Error, Result};
