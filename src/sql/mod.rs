//! The DataFusion session, built in one place, and the output formats of SQL
//! results.
//!
//! Every command that runs SQL gets its session from [`session`]: a memory pool
//! that spills sorts to disk instead of failing, all cores, and the JSON functions
//! (`json_get_str(payload, 'assignee')`). [`register_output`] registers every
//! table of an output folder under its documented name, and the model it was
//! folded with as tables ([`model_tables`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::sink::dataset;

use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder, UnionArray};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::writer::{make_encoder, Encoder, EncoderFactory, EncoderOptions, NullableEncoder};
use arrow::util::display::array_value_to_string;
use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;
use datafusion_functions_json::{JsonUnionEncoder, JsonUnionValue};

#[cfg(feature = "cluster")]
pub mod cluster;
pub mod memory_pool;
pub mod model_tables;
pub mod queries;

use crate::support::progress::Observer;
use crate::{Error, Result};
use memory_pool::HeadroomPool;

/// The order of `events.parquet` and `transitions.parquet`, and of the replay:
/// every stream's events together, in version order, ties by log position.
pub const STREAM_ORDER: [&str; 4] = ["aggregate_type", "stream_id", "version", "position"];

/// How a session may use the machine.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Bytes DataFusion may hold before spilling; unbounded when `None`.
    pub memory_limit: Option<usize>,
    /// Partitions (threads) per query; all cores when `None`.
    pub target_partitions: Option<usize>,
    /// Where spill files go; the system temp folder when `None`.
    pub spill_dir: Option<PathBuf>,
    /// Rows per batch; DataFusion's 8,192 when `None`.
    pub batch_rows: Option<usize>,
    /// Under a memory limit, DataFusion's own fair spill pool instead of
    /// [`HeadroomPool`]: for one query at a time whose joins cannot spill
    /// (the projections), where the headroom pool's share per non-spilling
    /// consumer is too small for a hash join's build side (at 10M events a
    /// join over the task table failed with 37 MB of 384 MB).
    pub fair_spill_pool: bool,
    /// The cluster (`df://HOST:PORT`) the session's queries run on, instead
    /// of this process; the memory limit and spill folder are then the
    /// executors' own.
    pub cluster: Option<String>,
    /// How long a `run --cluster` job may take before the run gives up on
    /// it (exit 2, the previous output kept); no limit when `None`.
    pub job_timeout: Option<std::time::Duration>,
}

impl SessionOptions {
    /// The partitions a query runs in: as set, else one a core (DataFusion's own default).
    pub fn partitions(&self) -> usize {
        self.target_partitions
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1)
    }
}

/// The multi-threaded tokio runtime every command that runs SQL (and the run's
/// own queries) drives its session on.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("tokio runtime", e))
}

/// Builds the session every command uses.
pub fn session(options: &SessionOptions) -> Result<SessionContext> {
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = options.memory_limit {
        runtime = match options.fair_spill_pool {
            true => runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit))),
            false => runtime.with_memory_pool(Arc::new(HeadroomPool::new(limit))),
        };
    }
    if let Some(dir) = &options.spill_dir {
        runtime = runtime.with_temp_file_path(dir);
    }
    let mut config = SessionConfig::new().with_information_schema(true);
    // Keep a table's declared order through repartitioning rather than sort
    // again (events and transitions are written in stream order).
    config.options_mut().optimizer.prefer_existing_sort = true;
    if let Some(partitions) = options.target_partitions {
        config = config.with_target_partitions(partitions.max(1));
    }
    if let Some(rows) = options.batch_rows {
        config = config.with_batch_size(rows.max(1));
    }
    if let (Some(limit), true) = (options.memory_limit, options.fair_spill_pool) {
        // DataFusion's own sort settings suit its pool, but for the merge
        // reservation: 10 MB, more than a small pool holds (at 8 MB every
        // sort failed); at most a quarter of the pool.
        let execution = &mut config.options_mut().execution;
        execution.sort_spill_reservation_bytes =
            (execution.sort_spill_reservation_bytes).min(limit / 4);
    }
    if let Some(limit) = options.memory_limit.filter(|_| !options.fair_spill_pool) {
        // A sort that must spill sorts what it holds in place instead of
        // merging it as many small runs: that merge holds every run's keys in
        // row form outside the sort's own reservation (about half as much
        // again), and two partitions doing it at once exhausted the pool. So
        // a sort needs no memory set aside for merging until its final merge
        // of spill files, which takes what the pool has left (at least two
        // files' batches) rather than a fixed reservation that another
        // partition's merge may hold.
        let execution = &mut config.options_mut().execution;
        execution.sort_in_place_threshold_bytes = limit;
        execution.sort_spill_reservation_bytes = 0;
    }
    let mut ctx = SessionContext::new_with_config_rt(config, runtime.build_arc()?);
    if let Some(url) = &options.cluster {
        return cluster_session(ctx, url);
    }
    register_functions(&mut ctx)?;
    Ok(ctx)
}

/// Installs the SQL functions eventfold adds to DataFusion's (the JSON
/// functions and operators) in `registry`: every session's, and on a cluster
/// the scheduler's and executors' too.
pub fn register_functions(
    registry: &mut dyn datafusion::execution::FunctionRegistry,
) -> datafusion::common::Result<()> {
    datafusion_functions_json::register_all(registry)
}

/// `ctx` made a client of the cluster at `url`.
#[cfg(feature = "cluster")]
fn cluster_session(ctx: SessionContext, url: &str) -> Result<SessionContext> {
    cluster::client_context(ctx, &cluster::ClusterUrl::parse(url)?)
}

/// Without the `cluster` feature, `--cluster` is refused.
#[cfg(not(feature = "cluster"))]
fn cluster_session(_ctx: SessionContext, url: &str) -> Result<SessionContext> {
    Err(Error::usage(format!(
        "--cluster {url}: this eventfold was built without cluster support\n  hint: build it with the default features (`cargo build`), or leave out --cluster"
    )))
}

/// Registers the tables of the output folder `dir`: `events`, `transitions`,
/// `findings`, `rejects`, `streams` (when the run wrote it), one table per `state/<aggregate>.parquet`, named
/// after the aggregate, and `<aggregate>_history` per
/// `state_history/<aggregate>.parquet` when the run wrote them, each
/// projection under its name, and the model tables (`model_statuses`,
/// `model_transitions`, `model_fields`) from the output's `model.toml`.
/// Returns the table names. Columns an older eventfold did not write, and a
/// model that is missing or does not parse, are a note to `observer`.
pub async fn register_output(
    ctx: &SessionContext,
    dir: &Path,
    observer: &dyn Observer,
) -> Result<Vec<String>> {
    ensure_output(dir)?;
    note_older_columns(dir, observer);
    register_tables(ctx, dir, observer).await
}

/// Registers the tables of the output folder (or of one being written) at
/// `dir`, as [`register_output`] does, without asking for its manifest;
/// `projections/<name>.parquet` as `<name>`. Returns the table names.
pub async fn register_tables(
    ctx: &SessionContext,
    dir: &Path,
    observer: &dyn Observer,
) -> Result<Vec<String>> {
    let mut tables = Vec::new();
    // A table is a file or a folder of parts (`sink::dataset`); a missing
    // one is named by the registration of its file.
    let table = |name: &str| {
        dataset::locate(dir, name).unwrap_or_else(|| dir.join(format!("{name}.parquet")))
    };
    for name in ["events", "transitions"] {
        // Written in stream order (each part, in a folder of parts):
        // declared, a window over each stream in version order (most of the
        // query library) needs no sort. DataFusion keeps the order only
        // where a partition's files do not overlap.
        register_sorted(ctx, name, &table(name), &STREAM_ORDER).await?;
        tables.push(name.to_owned());
    }
    for name in ["findings", "rejects"] {
        register_file(ctx, name, &table(name)).await?;
        tables.push(name.to_owned());
    }
    // Outputs of older eventfold builds have no streams table.
    if let Some(streams) = dataset::locate(dir, "streams") {
        register_file(ctx, "streams", &streams).await?;
        tables.push("streams".to_owned());
    }
    for (name, path) in state_tables(dir) {
        register_file(ctx, &name, &path).await?;
        tables.push(name);
    }
    for (name, path) in dataset::tables_in(&dir.join("state_history")) {
        let name = format!("{name}_history");
        register_file(ctx, &name, &path).await?;
        tables.push(name);
    }
    for (name, path) in projection_tables(dir) {
        register_file(ctx, &name, &path).await?;
        tables.push(name);
    }
    tables.extend(model_tables::register_model_tables(ctx, dir, observer)?);
    Ok(tables)
}

/// Fails, saying so, when `dir` is not the output folder of a run.
pub fn ensure_output(dir: &Path) -> Result<()> {
    if dir.join(crate::sink::manifest::MANIFEST_FILE).is_file() {
        return Ok(());
    }
    Err(Error::usage(format!(
        "{} is not an eventfold output folder (no manifest.json)\n  hint: run `eventfold run --out {}` first, or pass --out",
        dir.display(),
        dir.display()
    )))
}

/// The Arrow schema of a Parquet table (a file, or a folder of parts: its
/// first part's), read from its footer.
pub fn parquet_schema(path: &Path) -> Result<SchemaRef> {
    dataset::schema(path)
}

/// Notes which columns this eventfold writes are missing from an
/// output's tables (an output of an older eventfold): a query that reads one
/// fails with DataFusion's "No field named", and this says why. Unreadable
/// files are left to the registration, which names them.
fn note_older_columns(dir: &Path, observer: &dyn Observer) {
    let tables = [
        ("events", crate::envelope::events_schema()),
        ("transitions", crate::sink::transitions_schema()),
        ("streams", crate::sink::streams_schema()),
    ];
    for (name, expected) in tables {
        let Some(path) = dataset::locate(dir, name) else {
            continue;
        };
        let Ok(found) = parquet_schema(&path) else {
            continue;
        };
        let missing: Vec<&str> = expected
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .filter(|n| found.field_with_name(n).is_err())
            .collect();
        if !missing.is_empty() {
            let them = if missing.len() == 1 { "it" } else { "them" };
            observer.note(&format!(
                "{} has no {} (written by an older eventfold); queries that read {them} fail\n  hint: `eventfold run --out {}` again rewrites the output",
                path.display(),
                missing.join(", "),
                dir.display()
            ));
        }
    }
}

/// The state tables of an output folder: `(aggregate, path)`, sorted by
/// name; a path is a file or a folder of parts.
pub fn state_tables(dir: &Path) -> Vec<(String, PathBuf)> {
    dataset::tables_in(&dir.join("state"))
}

/// The projection tables of an output folder: `(name, path)`, sorted by
/// name; a path is a file or a folder of parts.
pub fn projection_tables(dir: &Path) -> Vec<(String, PathBuf)> {
    dataset::tables_in(&dir.join("projections"))
}

/// `path` as the text DataFusion registers; a path that is not UTF-8 is an error.
pub fn utf8_path(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| Error::usage(format!("{}: path is not UTF-8", path.display())))
}

/// Registers one Parquet table (a file, or a folder of parts) as `name`.
pub async fn register_file(ctx: &SessionContext, name: &str, path: &Path) -> Result<()> {
    register_sorted(ctx, name, path, &[]).await
}

/// Registers one Parquet table (a file, or a folder of parts, each) sorted
/// by `order` (ascending, as eventfold writes it; none when empty), so that
/// plans needing that order use it instead of sorting.
pub async fn register_sorted(
    ctx: &SessionContext,
    name: &str,
    path: &Path,
    order: &[&str],
) -> Result<()> {
    let text = utf8_path(path)?;
    let mut options = ParquetReadOptions::default();
    if !order.is_empty() {
        let sort = order
            .iter()
            .map(|column| datafusion::prelude::col(*column).sort(true, false))
            .collect();
        options = options.file_sort_order(vec![sort]);
    }
    ctx.register_parquet(name, text, options).await?;
    Ok(())
}

/// Renders row `row` of `batch` as `column=value, …`.
pub fn describe_row(batch: &RecordBatch, row: usize) -> String {
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            let value = array_value_to_string(column, row).unwrap_or_default();
            format!("{}={value}", field.name())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `name` quoted as an SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` quoted as an SQL string.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Runs every statement of `sql` in order and returns the last one's rows.
pub async fn run_sql(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let statements = DFParser::parse_sql(sql).map_err(Error::sql)?;
    if statements.is_empty() {
        return Err(Error::usage("no SQL statement given"));
    }
    let mut batches = Vec::new();
    for statement in statements {
        let state = ctx.state();
        // The tables the statement reads (not its CTEs), to name the one this
        // session lacks when planning fails.
        let references = state
            .resolve_table_references(&statement)
            .unwrap_or_default();
        let plan = match state.statement_to_plan(statement).await {
            Ok(plan) => plan,
            Err(source) => return Err(planning_error(ctx, &references, source)),
        };
        let frame = ctx.execute_logical_plan(plan).await.map_err(Error::sql)?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        batches = frame.collect().await.map_err(Error::sql)?;
        if batches.is_empty() {
            // Keep the columns of an empty result, so tables and CSV show a header.
            batches.push(RecordBatch::new_empty(schema));
        }
    }
    Ok(batches)
}

/// The error of a statement that did not plan: when it reads a table the
/// session does not have, the error names it, with a hint.
fn planning_error(
    ctx: &SessionContext,
    references: &[TableReference],
    source: DataFusionError,
) -> Error {
    let missing = references
        .iter()
        .find(|table| matches!(ctx.table_exist((*table).clone()), Ok(false)));
    let Some(missing) = missing else {
        return Error::sql(source);
    };
    let tables = table_names(ctx);
    let name = missing.table();
    let aggregate = name.strip_suffix("_history");
    let hint = match aggregate {
        Some(aggregate) if tables.iter().any(|t| t == aggregate) => format!(
            "{name} is written only by `eventfold run --with-history`; this output was run without it"
        ),
        _ => format!("the tables of this output: {}", tables.join(", ")),
    };
    Error::Sql {
        origin: None,
        source,
        missing_table: Some(missing.to_string()),
        hint: Some(hint),
    }
}

/// The tables (and views) of the session's default schema, sorted.
pub fn table_names(ctx: &SessionContext) -> Vec<String> {
    let state = ctx.state();
    let defaults = &state.config_options().catalog;
    let mut names = ctx
        .catalog(&defaults.default_catalog)
        .and_then(|catalog| catalog.schema(&defaults.default_schema))
        .map(|schema| schema.table_names())
        .unwrap_or_default();
    names.sort();
    names
}

/// How query results are printed. (`--format`'s spelling of it is the
/// command layer's: `commands::FormatArg`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// An aligned text table.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
    /// A Parquet file (zstd); binary, so to a file only.
    Parquet,
    /// An Arrow IPC file; binary, so to a file only.
    Arrow,
}

impl OutputFormat {
    /// Whether the format is binary: written to a file, never to a terminal.
    pub fn is_binary(self) -> bool {
        matches!(self, Self::Parquet | Self::Arrow)
    }

    /// Every format, in the order help texts list them.
    pub const ALL: [Self; 5] = [
        Self::Table,
        Self::Csv,
        Self::Json,
        Self::Parquet,
        Self::Arrow,
    ];

    /// The format's name, as `--format` and `.format` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Parquet => "parquet",
            Self::Arrow => "arrow",
        }
    }

    /// The format named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|format| format.name() == name)
    }
}

/// Writes `batches` to `out` in `format`. In the table and CSV, nested values
/// (lists, structs, maps) and the values of the JSON functions (`payload->'k'`)
/// are written as JSON text; in JSON, as JSON. Parquet and Arrow keep every
/// column's type but the JSON functions' values (a union, which Parquet
/// cannot hold), which they write as JSON text; both files are made in
/// memory (the rows are there already) and then written to `out`.
///
/// A write that fails is an [`Error::Io`] on `stdout` with the io error's
/// kind and message, whichever writer met it (arrow's CSV writer keeps only
/// its text), so that a closed pipe is recognised as one.
pub fn write_batches(
    batches: &[RecordBatch],
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<()> {
    let mut watched = Watched {
        inner: out,
        failure: None,
    };
    let written = write_formatted(batches, format, &mut watched);
    match (written, watched.failure) {
        (Err(_), Some(failure)) => Err(Error::io("stdout", failure)),
        (written, _) => written,
    }
}

fn write_formatted(batches: &[RecordBatch], format: OutputFormat, out: &mut Watched) -> Result<()> {
    match format {
        OutputFormat::Table => {
            let texts = batches
                .iter()
                .map(|batch| as_json_text(batch, is_nested))
                .collect::<Result<Vec<_>>>()?;
            let table = arrow::util::pretty::pretty_format_batches(&texts)?;
            writeln!(out, "{table}").map_err(|e| Error::io("stdout", e))?;
        }
        OutputFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            for batch in batches {
                writer.write(&as_json_text(batch, is_nested)?)?;
            }
        }
        OutputFormat::Parquet | OutputFormat::Arrow => {
            let bytes = binary_file(batches, format)?;
            out.write_all(&bytes).map_err(|e| Error::io("stdout", e))?;
        }
        OutputFormat::Json => {
            let mut writer = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .with_encoder_factory(Arc::new(JsonValues))
                .build::<_, arrow::json::writer::JsonArray>(&mut *out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            writer.write_batches(&refs)?;
            writer.finish()?;
            writer
                .into_inner()
                .write_all(b"\n")
                .map_err(|e| Error::io("stdout", e))?;
        }
    }
    Ok(())
}

/// A writer that remembers the first io error it met (its kind and message;
/// an interrupted write is retried, no failure).
struct Watched<'a> {
    inner: &'a mut dyn Write,
    failure: Option<std::io::Error>,
}

impl Watched<'_> {
    fn watch<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result {
            if self.failure.is_none() && e.kind() != std::io::ErrorKind::Interrupted {
                self.failure = Some(std::io::Error::new(e.kind(), e.to_string()));
            }
        }
        result
    }
}

impl Write for Watched<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.watch(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.watch(result)
    }
}

/// Whether values of `data_type` have parts (and so no CSV or table cell of their own).
fn is_nested(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::Struct(_)
            | DataType::Map(..)
            | DataType::Union(..)
    )
}

/// Whether values of `data_type` are the JSON functions' union.
fn is_union(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Union(..))
}

/// The bytes of a Parquet or Arrow IPC file of `batches` (at least one, as
/// [`run_sql`] gives), the unions as JSON text.
fn binary_file(batches: &[RecordBatch], format: OutputFormat) -> Result<Vec<u8>> {
    let batches = batches
        .iter()
        .map(|batch| as_json_text(batch, is_union))
        .collect::<Result<Vec<_>>>()?;
    let schema = batches
        .first()
        .map(RecordBatch::schema)
        .unwrap_or_else(|| Arc::new(Schema::empty()));
    let mut bytes = Vec::new();
    if format == OutputFormat::Parquet {
        let properties = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
            .build();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, Some(properties))?;
        for batch in &batches {
            writer.write(batch)?;
        }
        writer.close()?;
    } else {
        let mut writer = arrow::ipc::writer::FileWriter::try_new(&mut bytes, &schema)?;
        for batch in &batches {
            writer.write(batch)?;
        }
        writer.finish()?;
    }
    Ok(bytes)
}

/// `batch` with each column whose type `which` picks replaced by a text
/// column of its values as JSON (a JSON null, as the JSON functions give for
/// a missing key, is empty).
fn as_json_text(batch: &RecordBatch, which: fn(&DataType) -> bool) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| which(f.data_type())) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if which(field.data_type()) {
            columns.push(json_text(field, column)?);
            fields.push(Field::new(field.name(), DataType::Utf8, true));
        } else {
            columns.push(column.clone());
            fields.push(field.as_ref().clone());
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// The values of `column` as JSON text.
fn json_text(field: &FieldRef, column: &ArrayRef) -> Result<ArrayRef> {
    let options = EncoderOptions::default()
        .with_explicit_nulls(true)
        .with_encoder_factory(Arc::new(JsonValues));
    let mut encoder = make_encoder(field, column.as_ref(), &options)?;
    let mut texts = StringBuilder::with_capacity(column.len(), column.len() * 8);
    let mut buffer = Vec::new();
    for row in 0..column.len() {
        if encoder.is_null(row) {
            texts.append_null();
            continue;
        }
        buffer.clear();
        encoder.encode(row, &mut buffer);
        if buffer == b"null" {
            texts.append_null();
        } else {
            texts.append_value(String::from_utf8_lossy(&buffer));
        }
    }
    Ok(Arc::new(texts.finish()))
}

/// Encodes the JSON functions' values (a union of JSON's types, objects and
/// arrays held as their text) as the JSON they are; arrow has no encoder for
/// unions.
#[derive(Debug)]
struct JsonValues;

impl EncoderFactory for JsonValues {
    fn make_default_encoder<'a>(
        &self,
        _field: &'a FieldRef,
        array: &'a dyn Array,
        _options: &'a EncoderOptions,
    ) -> std::result::Result<Option<NullableEncoder<'a>>, ArrowError> {
        let Some(union) = array.as_any().downcast_ref::<UnionArray>() else {
            return Ok(None);
        };
        Ok(JsonUnionEncoder::from_union(union.clone())
            .map(|values| NullableEncoder::new(Box::new(JsonUnionValues(values)), None)))
    }
}

struct JsonUnionValues(JsonUnionEncoder);

impl Encoder for JsonUnionValues {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        match self.0.get_value(idx) {
            JsonUnionValue::JsonNull => out.extend_from_slice(b"null"),
            JsonUnionValue::Bool(value) => {
                out.extend_from_slice(if value { b"true" } else { b"false" })
            }
            JsonUnionValue::Int(value) => out.extend_from_slice(value.to_string().as_bytes()),
            // serde_json writes a float that JSON cannot hold (NaN) as null.
            JsonUnionValue::Float(value) => {
                let _ = serde_json::to_writer(&mut *out, &value);
            }
            JsonUnionValue::Str(text) => {
                let _ = serde_json::to_writer(&mut *out, text);
            }
            JsonUnionValue::Array(json) | JsonUnionValue::Object(json) => {
                out.extend_from_slice(json.as_bytes())
            }
        }
    }
}
