//! The library's one error type.
//!
//! Only the tool's own failures live here: a file that cannot be opened, a model
//! that does not parse, a SQL statement DataFusion rejects. Data that breaks a rule
//! is never an error: a bad record becomes a reject and a broken invariant a
//! finding, and the run goes on (see `ingest` and `replay`).

use std::path::PathBuf;

/// Everything that can abort a command. `main` maps any of these to exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input or output path could not be used.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// One of eventfold's own invariants broke: a thread of ours panicked or
    /// stopped without its error, a writer met more leaves than its columns.
    /// A bug in eventfold, not in the input nor the disk, so not an [`Error::Io`].
    #[error("{}: internal error: {what} (a bug in eventfold)", path.display())]
    Internal {
        /// The file the failed work was for.
        path: PathBuf,
        what: String,
    },
    /// The model file is broken; `line` is 1-based.
    #[error("{file}:{line}: {message}{}", hint_line(hint))]
    Model {
        file: String,
        line: usize,
        message: String,
        hint: Option<String>,
    },
    /// A command-line or configuration value is not usable.
    #[error("{message}")]
    Usage { message: String },
    /// A record was rejected under `--strict`.
    #[error("{source_file}:{line}: {reason} (--strict stops at the first reject)")]
    Rejected {
        source_file: String,
        line: u64,
        reason: String,
    },
    /// A SQL statement failed: DataFusion's error, said for a person (see
    /// [`describe`]), with what to do about it when we know.
    #[cfg(feature = "sql")]
    #[error("{}{}", describe(origin.as_deref(), source, missing_table.as_deref()), hint_line(hint))]
    Sql {
        /// The query file the statement came from, when it came from one.
        origin: Option<String>,
        source: datafusion::error::DataFusionError,
        /// The table the statement reads that the session does not have, when
        /// that is why it failed.
        missing_table: Option<String>,
        hint: Option<String>,
    },
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    #[cfg(feature = "sql")]
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// A hint as the line that follows an error's message, or nothing.
fn hint_line(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|h| format!("\n  hint: {h}"))
        .unwrap_or_default()
}

impl Error {
    /// Wraps an io error with the path it concerns, so the message names the file.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A failed SQL statement, with no hint yet.
    #[cfg(feature = "sql")]
    pub fn sql(source: datafusion::error::DataFusionError) -> Self {
        Error::Sql {
            origin: None,
            source,
            missing_table: None,
            hint: None,
        }
    }

    /// The error of a statement read from the file `origin`: an SQL error
    /// (or a DataFusion one) names the file; any other error is kept as it is.
    #[cfg(feature = "sql")]
    pub fn with_origin(self, origin: &str) -> Self {
        match self {
            Error::Sql {
                source,
                missing_table,
                hint,
                ..
            } => Error::Sql {
                origin: Some(origin.to_owned()),
                source,
                missing_table,
                hint,
            },
            Error::DataFusion(source) => Error::sql(source).with_origin(origin),
            other => other,
        }
    }

    /// Whether this error is a write to a closed pipe (`eventfold … | head`),
    /// however wrapped: the reader's choice, not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        // Transparent, this variant's source is serde_json's, which skips its io error.
        if let Error::Json(json) = self {
            return json.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe);
        }
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(error) = next {
            let kind = match error.downcast_ref::<std::io::Error>() {
                Some(io) => Some(io.kind()),
                // serde_json's source skips its io error.
                None => error
                    .downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind),
            };
            if kind == Some(std::io::ErrorKind::BrokenPipe) {
                return true;
            }
            next = error.source();
        }
        false
    }

    /// One of eventfold's own invariants broke while working on `path`.
    pub fn internal(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::Internal {
            path: path.into(),
            what: what.into(),
        }
    }

    /// A usage error with the given message.
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
        }
    }
}

/// Waits for one of our threads; a panic becomes an error naming `path` and
/// the thread's `role` ("writer", "sorting", ...).
pub fn joined<T>(
    thread: std::thread::JoinHandle<Result<T>>,
    path: &std::path::Path,
    role: &str,
) -> Result<T> {
    ended(thread.join(), path, role)
}

/// What a joined thread (scoped or not) gave: a panic becomes an error naming
/// `path` and the thread's `role`, as in [`joined`].
pub fn ended<T>(
    joined: std::thread::Result<Result<T>>,
    path: &std::path::Path,
    role: &str,
) -> Result<T> {
    joined.unwrap_or_else(|_| Err(Error::internal(path, format!("the {role} thread panicked"))))
}

/// A failed statement's message: a syntax error said like a person would, with
/// its position; a missing table named; else DataFusion's own message.
/// `origin` is the query file, when there is one.
#[cfg(feature = "sql")]
pub fn describe(
    origin: Option<&str>,
    source: &datafusion::error::DataFusionError,
    missing_table: Option<&str>,
) -> String {
    let place = origin.map(|o| format!("{o}: ")).unwrap_or_default();
    if let Some(table) = missing_table {
        return format!("{place}sql: table {table} not found");
    }
    match source.find_root() {
        datafusion::error::DataFusionError::SQL(parser, _) => {
            format!("{place}SQL syntax: {}", syntax(parser))
        }
        _ => format!("{place}sql: {}", source.strip_backtrace()),
    }
}

/// sqlparser's `Expected: X, found: Y at Line: 1, Column: 7` as
/// `expected X, found Y at line 1, column 7`.
#[cfg(feature = "sql")]
fn syntax(error: &datafusion::sql::sqlparser::parser::ParserError) -> String {
    use datafusion::sql::sqlparser::parser::ParserError as Parser;
    let text = match error {
        Parser::TokenizerError(text) | Parser::ParserError(text) => text.as_str(),
        Parser::RecursionLimitExceeded => return "the statement nests too deeply".into(),
    };
    let text = text
        .replace("Expected: ", "expected ")
        .replace("found: EOF", "found the end of the statement")
        .replace("found: ", "found ")
        .replace(" at Line: ", " at line ")
        .replace(", Column: ", ", column ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::Error;
    use arrow::error::ArrowError;

    fn closed() -> std::io::Error {
        std::io::ErrorKind::BrokenPipe.into()
    }

    #[test]
    fn a_broken_pipe_is_found_however_wrapped() {
        assert!(Error::io("stdout", closed()).is_broken_pipe());
        assert!(Error::Arrow(ArrowError::from(closed())).is_broken_pipe());
        assert!(Error::Json(serde_json::Error::io(closed())).is_broken_pipe());
        #[cfg(feature = "sql")]
        {
            use datafusion::error::DataFusionError;
            let arrow = DataFusionError::ArrowError(Box::new(ArrowError::from(closed())), None);
            assert!(Error::DataFusion(arrow).is_broken_pipe());
            assert!(Error::sql(DataFusionError::IoError(closed())).is_broken_pipe());
        }
        let full: std::io::Error = std::io::ErrorKind::StorageFull.into();
        assert!(!Error::io("stdout", full).is_broken_pipe());
        assert!(!Error::usage("Broken pipe (os error 32)").is_broken_pipe());
    }

    #[test]
    fn a_panicked_thread_is_an_internal_error_not_an_io_error() {
        let thread = std::thread::spawn(|| -> super::Result<()> { panic!("on purpose") });
        let error = super::joined(thread, std::path::Path::new("out/x.parquet"), "writer")
            .expect_err("a panic is an error");
        assert!(matches!(error, Error::Internal { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "out/x.parquet: internal error: the writer thread panicked (a bug in eventfold)"
        );
    }
}
