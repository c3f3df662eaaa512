//! The integration tests, one binary with a module per theme (as ripgrep's
//! `tests/`): each test binary links DataFusion, so one binary links it once.
//! Most run the real `eventfold` binary in a temporary folder of its own
//! ([`util::Dir`]); `sqllogic` runs the `.slt` files over our own session.

mod util;

mod authorisation;
mod census;
mod check;
mod cli;
mod cluster;
mod decide;
mod export;
mod incremental;
mod ingest;
mod keyed_folds;
mod layers;
mod nightly;
mod partitioned;
mod pictures;
mod projections;
mod report;
mod results;
mod sample;
mod scale;
mod sqllogic;
mod usability;
