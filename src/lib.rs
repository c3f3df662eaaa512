//! eventfold: replay exported event logs into aggregate state, read models and
//! Parquet, and answer SQL over the whole history.
//!
//! The modules are the pipeline's stages, in order: [`ingest`] reads logs into the
//! canonical [`envelope`], [`model`] describes the domain, [`replay`] folds each
//! stream into its state, [`sink`] writes Parquet, [`sql`] is the DataFusion
//! session, and [`pipeline`] wires them into `run`. [`commands`] holds the CLI's
//! subcommands; `main.rs` only parses arguments and maps errors to exit codes.

pub mod check;
pub mod commands;
pub mod embedded;
pub mod envelope;
pub mod error;
pub mod flow;
pub mod generate;
pub mod history;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod queries;
pub mod replay;
pub mod sink;
pub mod sql;

pub use error::{Error, Result};
