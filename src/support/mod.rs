//! What every stage shares and nothing of theirs: JSON paths into records,
//! timestamp parsing, byte sizes, line numbers of TOML files, SHA-256 digests,
//! memory readings and the [`progress::Observer`] the stages report to. These
//! modules import only each other and the error type, so any layer may use
//! them without a cycle.

pub mod byte_size;
pub mod digest;
pub mod json_path;
pub mod metrics;
pub mod progress;
pub mod time;
pub mod toml_lines;
