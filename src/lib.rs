//! eventfold: replay exported event logs into aggregate state, read models and
//! Parquet, and answer SQL over the whole history.
//!
//! The modules are the pipeline's stages, in order: [`ingest`] reads logs into the
//! canonical [`envelope`], [`model`] describes the domain, [`replay`] folds each
//! stream into its state, [`sink`] writes Parquet, [`sql`] is the DataFusion
//! session, and [`pipeline`] wires them into `run`. [`commands`] holds the CLI's
//! subcommands; `main.rs` only parses arguments and maps errors to exit codes.
//! Everything that needs DataFusion sits behind the default feature `sql`.

pub mod census;
#[cfg(feature = "sql")]
pub mod check;
#[cfg(feature = "sql")]
pub mod commands;
#[cfg(feature = "sql")]
pub mod config;
#[cfg(feature = "sql")]
pub mod diff;
pub mod digest;
pub mod embedded;
pub mod envelope;
pub mod error;
pub mod flow;
pub mod generate;
#[cfg(feature = "sql")]
pub mod history;
#[cfg(feature = "sql")]
pub mod incremental;
pub mod ingest;
#[cfg(feature = "sql")]
pub mod memory_pool;
pub mod metrics;
pub mod model;
#[cfg(feature = "sql")]
pub mod pipeline;
pub mod queries;
pub mod replay;
pub mod sink;
#[cfg(feature = "sql")]
pub mod sql;
pub mod upcast;

pub use error::{Error, Result};
