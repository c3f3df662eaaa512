//! Projections: the read models rebuilt from the log, written beside the
//! aggregates' state as `projections/<name>.parquet`.
//!
//! Two kinds. A keyed fold is declared in the model (`[projections.NAME]`)
//! and computed by the replay in the same pass as the aggregates. A SQL
//! projection is a file of a projections folder, one `SELECT` over the
//! output's tables with a header ([`definition`]); after the replay the SQL
//! projections are ordered after the tables they read ([`plan`]) and built
//! ([`materialise`]) inside the same atomic output. Both are registered as
//! tables under their names by every command that runs SQL.

pub mod definition;
pub mod materialise;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet};

pub use definition::{Contract, Partition, ProjectionSource, Rule, SqlProjection};
pub use materialise::{materialise, Night, PROJECTIONS_DIR};
pub use plan::Ordered;

use arrow::datatypes::SchemaRef;

use crate::model::Model;
use crate::sink::manifest::ProjectionEntry;
use crate::sql::SessionOptions;
use crate::Result;

/// Parses the SQL projections of `sources` and orders them after the tables
/// they read; `tables` are those the output will have besides them.
pub fn prepare(sources: &[ProjectionSource], tables: &BTreeSet<String>) -> Result<Ordered> {
    let parsed = sources
        .iter()
        .map(SqlProjection::parse)
        .collect::<Result<Vec<_>>>()?;
    plan::order(parsed, tables)
}

/// The tables an output of `model` holds besides its SQL projections, with
/// the columns the run writes: what a SQL projection may read.
pub fn output_schemas(model: &Model, with_history: bool) -> Result<Vec<(String, SchemaRef)>> {
    let mut tables = vec![
        ("events".to_owned(), crate::envelope::events_schema()),
        ("transitions".to_owned(), crate::sink::transitions_schema()),
        ("streams".to_owned(), crate::sink::streams_schema()),
        ("findings".to_owned(), crate::sink::findings_schema()),
        ("rejects".to_owned(), crate::envelope::rejects_schema()),
    ];
    for aggregate in &model.aggregates {
        let schema = crate::sink::state::state_schema(aggregate);
        if with_history {
            tables.push((format!("{}_history", aggregate.name), schema.clone()));
        }
        tables.push((aggregate.name.clone(), schema));
    }
    for keyed in &model.projections {
        let schema = crate::sink::projection::projection_schema(keyed);
        tables.push((keyed.name.clone(), schema));
    }
    for (name, batch) in crate::sql::model_tables::model_table_batches(model)? {
        tables.push((name.to_owned(), batch.schema()));
    }
    Ok(tables)
}

/// Parses, orders and plans the SQL projections of `sources` for an output
/// of `model`, before anything runs: every mistake names its file (and line).
pub fn prepare_for(
    sources: &[ProjectionSource],
    model: &Model,
    with_history: bool,
) -> Result<Ordered> {
    let schemas = output_schemas(model, with_history)?;
    let tables: BTreeSet<String> = schemas.iter().map(|(name, _)| name.clone()).collect();
    let ordered = prepare(sources, &tables)?;
    if !ordered.projections.is_empty() {
        crate::sql::runtime()?.block_on(plan::check(&ordered, &schemas))?;
    }
    Ok(ordered)
}

impl Ordered {
    /// The manifest's entry of each SQL projection.
    pub fn entries(&self) -> BTreeMap<String, ProjectionEntry> {
        self.projections
            .iter()
            .map(|p| {
                let entry = ProjectionEntry {
                    kind: "sql".into(),
                    source: p.origin.clone(),
                    key: p.key.clone(),
                };
                (p.name.clone(), entry)
            })
            .collect()
    }
}

/// The manifest's entry of each keyed fold of `model`, declared in `model_file`.
pub fn keyed_entries(model: &Model, model_file: &str) -> BTreeMap<String, ProjectionEntry> {
    model
        .projections
        .iter()
        .map(|p| {
            let entry = ProjectionEntry {
                kind: "keyed".into(),
                source: model_file.to_owned(),
                key: p.keys.iter().map(|k| k.name.clone()).collect(),
            };
            (p.name.clone(), entry)
        })
        .collect()
}

/// A memory limit below which the projections are built in one partition.
const SMALL_POOL: usize = 64 << 20;

/// The session options projections are built with, from those of the run
/// (or of `project`): DataFusion's own batch size, and its fair spill pool,
/// where a join's build side may take what the pool has (the run's pool
/// keeps shares for its sorts: at 10M events a join over the task table
/// failed with its share, 37 MB of 384 MB). Under a small limit, one
/// partition: every partition's grouping needs a share of the pool to start
/// spilling from, and two starve each other (at 8 MB the task projections
/// failed with "Resources exhausted"), one does not.
pub fn session_options(mut options: SessionOptions) -> SessionOptions {
    options.batch_rows = None;
    options.fair_spill_pool = true;
    if options.memory_limit.is_some_and(|limit| limit < SMALL_POOL) {
        options.target_partitions = Some(1);
    }
    options
}
