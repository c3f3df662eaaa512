//! sqllogictest over our own session (DataFusion's practice): every `.slt` file in
//! `tests/slt/sample/` runs against an output built from the embedded sample,
//! every one in `tests/slt/clean/` against a clean generated log, and every one in
//! `tests/slt/volvo/` against the real incident log of `testdata/real/volvo` (its
//! own mapping and model: the shipped queries on a model that is not the task one).
//!
//! A statement that starts with `-- file: PATH` runs that file of the query library
//! (with its parameter defaults, or `-- param: NAME = VALUE` lines after it), so
//! the `.slt` files pin the shipped SQL itself. The harness also fails when a file
//! of `queries/` is named by no `.slt` file.
//!
//! `EVENTFOLD_SLT_COMPLETE=1 cargo test --test integration sqllogic` rewrites the expected
//! results from the current output (review the diff before committing).

use std::path::{Path, PathBuf};

use arrow::util::display::array_value_to_string;
use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use eventfold::ingest::config::InputSpec;
use eventfold::ingest::{IngestOptions, InputSource};
use eventfold::model::ModelSource;
use eventfold::pipeline::{run, RunConfig};
use eventfold::sql::queries::{parse_params, QueryFile};
use eventfold::sql::{register_output, run_sql, session, SessionOptions};
use eventfold::tools::generate::{generate, GenerateConfig};
use sqllogictest::{
    default_column_validator, default_normalizer, default_validator, DBOutput, DefaultColumnType,
};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

/// One session over one output folder.
struct Db {
    ctx: SessionContext,
}

/// Resolves `-- file: PATH` statements to the file's rendered SQL.
fn resolve(sql: &str) -> Result<String, SltError> {
    let mut lines = sql.lines();
    let Some(path) = lines.next().and_then(|l| l.trim().strip_prefix("-- file:")) else {
        return Ok(sql.to_owned());
    };
    let flags: Vec<String> = lines
        .filter_map(|l| l.trim().strip_prefix("-- param:"))
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| format!("{}={}", k.trim(), v.trim()))
                .unwrap_or_default()
        })
        .collect();
    let query = QueryFile::load(&repo().join(path.trim())).map_err(|e| SltError(e.to_string()))?;
    let params = parse_params(&flags).map_err(|e| SltError(e.to_string()))?;
    query.render(&params).map_err(|e| SltError(e.to_string()))
}

#[async_trait]
impl sqllogictest::AsyncDB for Db {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let sql = resolve(sql)?;
        let batches = run_sql(&self.ctx, &sql)
            .await
            .map_err(|e| SltError(e.to_string()))?;
        let columns = batches.first().map_or(0, |b| b.num_columns());
        if columns == 0 {
            return Ok(DBOutput::StatementComplete(0));
        }
        let mut rows = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                let values = batch
                    .columns()
                    .iter()
                    .map(|column| {
                        if column.is_null(row) {
                            "NULL".to_owned()
                        } else {
                            match array_value_to_string(column, row).unwrap_or_default() {
                                text if text.is_empty() => "(empty)".to_owned(),
                                text => text,
                            }
                        }
                    })
                    .collect();
                rows.push(values);
            }
        }
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; columns],
            rows,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "eventfold"
    }
}

/// Folds `input` with the task model and the generic mapping into `dir/out`.
fn build_output(dir: &Path, input: InputSource) -> PathBuf {
    build_with(
        dir,
        input,
        eventfold::embedded::sample_model(),
        IngestOptions::default(),
        eventfold::embedded::sample_projections(),
    )
}

/// Folds the real log `FILE` of `testdata/real/NAME` with its own mapping and model.
fn build_real(dir: &Path, name: &str, file: &str) -> PathBuf {
    let folder = repo().join("testdata/real").join(name);
    let ingest = InputSpec::from_file(&folder.join("mapping.toml"))
        .and_then(|spec| spec.options())
        .expect("the mapping reads");
    let model = ModelSource::from_path(&folder.join("model.toml")).expect("the model reads");
    build_with(
        dir,
        InputSource::File(folder.join(file)),
        model,
        ingest,
        Vec::new(),
    )
}

fn build_with(
    dir: &Path,
    input: InputSource,
    model: ModelSource,
    ingest: IngestOptions,
    projections: Vec<eventfold::projection::ProjectionSource>,
) -> PathBuf {
    let out = dir.join("out");
    let config = RunConfig {
        inputs: vec![input],
        model,
        out: out.clone(),
        ingest,
        session: SessionOptions::default(),
        selection: Default::default(),
        with_history: false,
        incremental: false,
        projections,
        roles: Default::default(),
        report: false,
        observer: std::sync::Arc::new(eventfold::support::progress::Silent),
    };
    run(&config).expect("pipeline runs");
    out
}

fn slt_files(folder: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/slt").join(folder))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "slt"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Every `.sql` file of `queries/`, relative to the repository.
fn query_files(dir: &Path, into: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            query_files(&path, into);
        } else if path.extension().is_some_and(|x| x == "sql") {
            if let Ok(relative) = path.strip_prefix(repo()) {
                into.push(relative.display().to_string());
            }
        }
    }
}

async fn run_folder(folder: &str, out: &Path, complete: bool) -> Vec<String> {
    let mut failures = Vec::new();
    for file in slt_files(folder) {
        let out = out.to_owned();
        let mut runner = sqllogictest::Runner::new(move || {
            let out = out.clone();
            async move {
                let ctx =
                    session(&SessionOptions::default()).map_err(|e| SltError(e.to_string()))?;
                register_output(&ctx, &out, &eventfold::support::progress::Silent)
                    .await
                    .map_err(|e| SltError(e.to_string()))?;
                Ok(Db { ctx })
            }
        });
        let result = if complete {
            runner
                .update_test_file(
                    &file,
                    " ",
                    default_validator,
                    default_normalizer,
                    default_column_validator,
                )
                .await
                .map_err(|e| e.to_string())
        } else {
            runner
                .run_file_async(&file)
                .await
                .map_err(|e| e.to_string())
        };
        match result {
            Ok(()) => println!("ok    {}", file.display()),
            Err(e) => {
                println!("FAIL  {}\n{e}", file.display());
                failures.push(file.display().to_string());
            }
        }
    }
    failures
}

/// Every `.slt` file's statements give their pinned rows, and every file of
/// `queries/` is pinned by one (on the sample or the clean log).
#[test]
fn the_shipped_queries_give_the_pinned_rows() {
    let complete = std::env::var("EVENTFOLD_SLT_COMPLETE").is_ok_and(|v| v == "1");
    let temp = tempfile::tempdir().expect("temp dir");
    let sample = build_output(
        &temp.path().join("sample"),
        eventfold::embedded::sample_input(),
    );
    let mut clean_log = Vec::new();
    generate(
        &GenerateConfig {
            events: 3000,
            seed: 5,
            ..GenerateConfig::default()
        },
        &mut clean_log,
    )
    .expect("generate");
    let clean_path = temp.path().join("clean.ndjson");
    std::fs::write(&clean_path, clean_log).expect("write clean log");
    let clean = build_output(&temp.path().join("clean"), InputSource::File(clean_path));
    let volvo = build_real(
        &temp.path().join("volvo"),
        "volvo",
        "incidents-first-600.csv",
    );

    // The pipeline runs its own runtime, so the outputs are built before this one.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut failures = runtime.block_on(run_folder("sample", &sample, complete));
    failures.extend(runtime.block_on(run_folder("clean", &clean, complete)));
    failures.extend(runtime.block_on(run_folder("volvo", &volvo, complete)));

    let mut queries = Vec::new();
    query_files(&repo().join("queries"), &mut queries);
    let mut slt_text = String::new();
    for file in slt_files("sample").into_iter().chain(slt_files("clean")) {
        slt_text.push_str(&std::fs::read_to_string(file).unwrap_or_default());
    }
    for query in queries {
        if !slt_text.contains(&format!("-- file: {query}")) {
            println!("FAIL  {query} is covered by no .slt file");
            failures.push(query);
        }
    }
    if !failures.is_empty() {
        panic!("{} sqllogictest failures: {failures:?}", failures.len());
    }
}
