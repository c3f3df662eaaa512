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
//! In an incremental run, a projection whose header names a partition (and
//! reads no other projection, and is defined as it was) is rebuilt by
//! partitions: its SQL runs over the night's own tables (the increment) to
//! find the partitions the night touched, those partitions are computed over
//! the whole new output, and the previous table's other rows are kept. When
//! the night's tables cannot answer the SQL (it reads a table the increment
//! lacks), the projection is rebuilt whole.
//!
//! DataFusion reads the output's Parquet strings back as string views; a
//! projection's strings are written as plain strings again, like every other
//! table of the output (and whatever session options built it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::common::{Column, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::prelude::{in_list, lit, Expr, ParquetReadOptions, SessionContext};
use futures::StreamExt;
use tokio::sync::OnceCell;

use super::definition::SqlProjection;
use super::plan::Ordered;
use crate::sink::{zstd, TableWriter};
use crate::sql::{describe_row, ident, register_file, register_sorted, run_sql, STREAM_ORDER};
use crate::{Error, Result};

/// The folder of the projection tables inside an output folder.
pub const PROJECTIONS_DIR: &str = "projections";

/// An incremental run's night, for rebuilding partitioned projections by
/// their partitions: the folder of the night's own tables, the previous
/// output, and the new output (whose model tables the night's SQL reads).
pub struct Night<'a> {
    pub increment: &'a Path,
    pub previous: &'a Path,
    pub root: &'a Path,
    pub options: &'a crate::sql::SessionOptions,
    /// The session over the night's tables, opened when first needed.
    session: OnceCell<SessionContext>,
}

impl<'a> Night<'a> {
    pub fn new(
        increment: &'a Path,
        previous: &'a Path,
        root: &'a Path,
        options: &'a crate::sql::SessionOptions,
    ) -> Self {
        Self {
            increment,
            previous,
            root,
            options,
            session: OnceCell::new(),
        }
    }

    /// A session over the night's events, transitions, streams and states
    /// (and the model's tables).
    async fn session(&self) -> Result<&SessionContext> {
        self.session
            .get_or_try_init(|| async {
                let ctx = crate::sql::session(self.options)?;
                for name in ["events", "transitions"] {
                    let path = self.increment.join(format!("{name}.parquet"));
                    register_sorted(&ctx, name, &path, &STREAM_ORDER).await?;
                }
                register_file(&ctx, "streams", &self.increment.join("streams.parquet")).await?;
                for (name, path) in crate::sql::state_tables(self.increment) {
                    register_file(&ctx, &name, &path).await?;
                }
                let quiet = crate::support::progress::Silent;
                crate::sql::model_tables::register_model_tables(&ctx, self.root, &quiet)?;
                Ok::<_, Error>(ctx)
            })
            .await
    }

    /// The partitions (values of `column`) of the rows `projection` gives
    /// over the night's tables.
    async fn touched(&self, projection: &SqlProjection, column: &str) -> Result<Vec<ScalarValue>> {
        let ctx = self.session().await?;
        let sql = format!(
            "SELECT DISTINCT {} FROM (\n{}\n) AS projection",
            ident(column),
            projection.sql
        );
        let mut values = Vec::new();
        for batch in run_sql(ctx, &sql).await? {
            for row in 0..batch.num_rows() {
                let value = ScalarValue::try_from_array(batch.column(0), row)?;
                if !value.is_null() {
                    values.push(value);
                }
            }
        }
        Ok(values)
    }

    /// The previous table of `projection`, when it was built from the same
    /// definition.
    fn previous_table(&self, projection: &SqlProjection) -> Option<std::path::PathBuf> {
        let folder = self.previous.join(PROJECTIONS_DIR);
        let table = folder.join(format!("{}.parquet", projection.name));
        let definition = folder.join(format!("{}.sql", projection.name));
        let same = std::fs::read_to_string(&definition).is_ok_and(|t| t == projection.text);
        (same && table.is_file()).then_some(table)
    }
}

/// Builds the projections of `ordered` (those in `only`, when given) into
/// `root/projections/`, reading the tables registered in `ctx`; each one
/// built is registered under its name for those after it. In an incremental
/// run's `night`, the partitioned ones are rebuilt by partitions. Returns the
/// rows of each.
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
        let frame = frame(ctx, projection, ordered, night)
            .await
            .map_err(|e| e.with_origin(&projection.origin))?;
        let written = build(ctx, &folder, projection, frame)
            .await
            .map_err(|e| e.with_origin(&projection.origin))?;
        rows.insert(projection.name.clone(), written);
    }
    Ok(rows)
}

/// A column of a frame, by its name as written (no qualifier parsed out).
fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// The rows of `projection`: all of them, or in an incremental run's `night`
/// for a partitioned projection, the touched partitions computed anew and the
/// previous table's other rows.
async fn frame(
    ctx: &SessionContext,
    projection: &SqlProjection,
    ordered: &Ordered,
    night: Option<&Night<'_>>,
) -> Result<DataFrame> {
    let all = || async { ctx.sql(&projection.sql).await.map_err(Error::sql) };
    let (Some(night), Some(partition)) = (night, projection.partition.as_deref()) else {
        return all().await;
    };
    // A keyed fold read is not among the night's tables: the SQL fails there.
    let reads_projections = (ordered.reads.get(&projection.name).into_iter().flatten())
        .any(|table| ordered.projections.iter().any(|p| &p.name == table));
    let Some(previous) = night
        .previous_table(projection)
        .filter(|_| !reads_projections)
    else {
        return all().await;
    };
    let touched = match night.touched(projection, partition).await {
        Ok(touched) => touched,
        Err(error) => {
            tracing::info!(projection = %projection.name, %error, "rebuilt whole: the night's tables do not answer its SQL");
            return all().await;
        }
    };
    tracing::info!(projection = %projection.name, partitions = touched.len(), "rebuilt by partitions");
    let text = previous
        .to_str()
        .ok_or_else(|| Error::usage(format!("{}: not a UTF-8 path", previous.display())))?;
    let kept = ctx
        .read_parquet(text, ParquetReadOptions::default())
        .await
        .map_err(Error::sql)?;
    if touched.is_empty() {
        return Ok(kept);
    }
    let values: Vec<Expr> = touched.into_iter().map(lit).collect();
    let fresh = all()
        .await?
        .filter(in_list(column(partition), values.clone(), false))
        .map_err(Error::sql)?;
    let kept = kept
        .filter(in_list(column(partition), values, true))
        .map_err(Error::sql)?;
    fresh.union(kept).map_err(Error::sql)
}

/// Writes one projection's table (`rows`, sorted by its key) and its
/// definition's copy; returns its rows.
async fn build(
    ctx: &SessionContext,
    folder: &Path,
    projection: &SqlProjection,
    rows: DataFrame,
) -> Result<u64> {
    let order: Vec<_> = (projection.key.iter())
        .map(|k| column(k).sort(true, false))
        .collect();
    let frame = rows.sort(order).map_err(Error::sql)?;
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
