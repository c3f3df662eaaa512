//! Building SQL projections into `projections/<name>.parquet`.
//!
//! Each projection runs, in build order, in a session that holds the output's
//! tables (and the projections already built), its rows sorted by its key, and
//! is written with the output's own table writer. Its key is then checked
//! unique and not null on the written table: a violation is an error naming the
//! file's `-- key:` line and one offending key, and the run (or `project`)
//! fails before its output is committed. The file's text is copied beside the
//! table (`projections/<name>.sql`): `check` reads its contracts there.
//!
//! DataFusion reads the output's Parquet strings back as string views; a
//! projection's strings are written as plain strings again, like every other
//! table of the output (and whatever session options built it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use super::definition::{Partition, SqlProjection};
use super::plan::Ordered;
use crate::sink::{zstd, TableWriter};
use crate::sql::{describe_row, ident, register_file, run_sql};
use crate::{Error, Result};

/// The folder of the projection tables inside an output folder.
pub const PROJECTIONS_DIR: &str = "projections";

/// What an incremental run adds to the output it goes on from: a projection
/// with a `-- partition:` rebuilds only the partitions its new events have.
pub struct Night<'a> {
    /// The previous output's folder.
    pub previous: &'a Path,
    /// The night's new events (a Parquet file or folder).
    pub new_events: &'a Path,
}

/// Builds the projections of `ordered` (those in `only`, when given) into
/// `root/projections/`, reading the tables registered in `ctx`; each one
/// built is registered under its name for those after it. With a `night`,
/// a partitioned projection whose definition is the previous output's keeps
/// the previous rows of the partitions the night does not touch. Returns
/// the rows of each.
pub async fn materialise(
    ctx: &SessionContext,
    root: &Path,
    ordered: &Ordered,
    only: Option<&BTreeSet<String>>,
    night: Option<&Night<'_>>,
) -> Result<BTreeMap<String, u64>> {
    let folder = root.join(PROJECTIONS_DIR);
    std::fs::create_dir_all(&folder).map_err(|e| Error::io(&folder, e))?;
    let mut rows = BTreeMap::new();
    for projection in &ordered.projections {
        if only.is_some_and(|only| !only.contains(&projection.name)) {
            continue;
        }
        let written = match (night, &projection.partition) {
            (Some(night), Some(partition)) => {
                build_night(ctx, &folder, projection, partition, night).await
            }
            _ => build(ctx, &folder, projection).await,
        }
        .map_err(|e| e.with_origin(&projection.origin))?;
        rows.insert(projection.name.clone(), written);
    }
    Ok(rows)
}

/// Writes one projection's table and its definition's copy; returns its rows.
async fn build(ctx: &SessionContext, folder: &Path, projection: &SqlProjection) -> Result<u64> {
    let order: Vec<String> = projection.key.iter().map(|k| ident(k)).collect();
    let sql = format!(
        "SELECT * FROM (\n{}\n) AS projection ORDER BY {}",
        projection.sql,
        order.join(", ")
    );
    let frame = ctx.sql(&sql).await.map_err(Error::sql)?;
    let mut stream = frame.execute_stream().await.map_err(Error::sql)?;
    let path = folder.join(format!("{}.parquet", projection.name));
    let schema = plain_schema(&stream.schema());
    let mut writer = TableWriter::create(&path, schema.clone(), zstd())?;
    while let Some(batch) = stream.next().await {
        writer.write(&plain_batch(batch.map_err(Error::sql)?, &schema)?)?;
    }
    let rows = writer.close()?;
    ctx.deregister_table(projection.name.as_str())?;
    register_file(ctx, &projection.name, &path).await?;
    check_key(ctx, projection).await?;
    let copy = folder.join(format!("{}.sql", projection.name));
    std::fs::write(&copy, &projection.text).map_err(|e| Error::io(&copy, e))?;
    Ok(rows)
}

/// A partitioned projection in an incremental run: the previous rows of the
/// partitions the night's events do not have, and the rows of those they
/// have, from their events alone (`events` is limited to them while its SQL
/// runs). Built whole when the previous output has no such table or it was
/// made by another definition.
async fn build_night(
    ctx: &SessionContext,
    folder: &Path,
    projection: &SqlProjection,
    partition: &Partition,
    night: &Night<'_>,
) -> Result<u64> {
    let previous = night.previous.join(PROJECTIONS_DIR);
    let previous_text = std::fs::read_to_string(previous.join(format!("{}.sql", projection.name)));
    let previous_rows = previous.join(format!("{}.parquet", projection.name));
    if previous_text.ok().as_deref() != Some(projection.text.as_str()) || !previous_rows.is_file() {
        return build(ctx, folder, projection).await;
    }
    tracing::info!(projection = %projection.name, "rebuilding only the partitions of the night");
    register_file(ctx, NIGHT_EVENTS, night.new_events).await?;
    register_file(ctx, PREVIOUS_ROWS, &previous_rows).await?;
    let all = ctx
        .deregister_table("events")?
        .ok_or_else(|| Error::usage("no events table to build a projection from"))?;
    ctx.register_table(ALL_EVENTS, all)?;
    let expr = &partition.expr;
    let touched = format!("SELECT DISTINCT {expr} FROM {NIGHT_EVENTS} WHERE {expr} IS NOT NULL");
    let built = async {
        let night_events = ctx
            .sql(&format!("SELECT * FROM {ALL_EVENTS} WHERE ({expr}) IN ({touched})"))
            .await
            .map_err(Error::sql)?
            .into_view();
        ctx.register_table("events", night_events)?;
        let combined = SqlProjection {
            sql: format!(
                "SELECT * FROM {PREVIOUS_ROWS} WHERE {} NOT IN ({touched})\nUNION ALL\nSELECT * FROM (\n{}\n) AS night",
                ident(&partition.column),
                projection.sql
            ),
            ..projection.clone()
        };
        build(ctx, folder, &combined).await
    }
    .await;
    // The whole events table back, for the projections after this one.
    ctx.deregister_table("events")?;
    if let Some(all) = ctx.deregister_table(ALL_EVENTS)? {
        ctx.register_table("events", all)?;
    }
    ctx.deregister_table(NIGHT_EVENTS)?;
    ctx.deregister_table(PREVIOUS_ROWS)?;
    built
}

/// The tables a night's partitioned build registers while it runs.
const NIGHT_EVENTS: &str = "_night_events";
const PREVIOUS_ROWS: &str = "_previous_rows";
const ALL_EVENTS: &str = "_all_events";

/// `schema` with every string or binary view (also inside lists and
/// structs) as the plain type.
fn plain_schema(schema: &SchemaRef) -> SchemaRef {
    fn plain_type(data_type: &DataType) -> DataType {
        match data_type {
            DataType::Utf8View => DataType::Utf8,
            DataType::BinaryView => DataType::Binary,
            DataType::List(item) => DataType::List(plain_field(item)),
            DataType::LargeList(item) => DataType::LargeList(plain_field(item)),
            DataType::FixedSizeList(item, size) => {
                DataType::FixedSizeList(plain_field(item), *size)
            }
            DataType::Struct(fields) => DataType::Struct(fields.iter().map(plain_field).collect()),
            other => other.clone(),
        }
    }
    fn plain_field(field: &FieldRef) -> FieldRef {
        let data_type = plain_type(field.data_type());
        Arc::new(Field::clone(field).with_data_type(data_type))
    }
    let fields: Vec<FieldRef> = schema.fields().iter().map(plain_field).collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` with its columns cast to `schema` (its [`plain_schema`]).
fn plain_batch(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| arrow::compute::cast(column, field.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Fails when the built table has a key that is null or on more than one row.
async fn check_key(ctx: &SessionContext, projection: &SqlProjection) -> Result<()> {
    let key: Vec<String> = projection.key.iter().map(|k| ident(k)).collect();
    let (key, table) = (key.join(", "), ident(&projection.name));
    let nulls: Vec<String> = projection
        .key
        .iter()
        .map(|k| format!("{} IS NULL", ident(k)))
        .collect();
    let line = projection.contracts.first().map_or(1, |c| c.line);
    let checks = [
        (
            format!(
                "SELECT {key}, count(*) AS rows FROM {table} GROUP BY {key} HAVING count(*) > 1 ORDER BY rows DESC, {key} LIMIT 1"
            ),
            "is not unique",
        ),
        (
            format!("SELECT * FROM {table} WHERE {} LIMIT 1", nulls.join(" OR ")),
            "is null on a row",
        ),
    ];
    for (sql, what) in checks {
        let batches = run_sql(ctx, &sql).await?;
        if let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) {
            return Err(Error::usage(format!(
                "{}:{line}: the projection's key ({}) {what}: {}\n  hint: make the SELECT give one row per key, or name more key columns",
                projection.origin,
                projection.key.join(", "),
                describe_row(batch, 0)
            )));
        }
    }
    Ok(())
}
