//! `eventfold shell`: interactive SQL over an output folder, with line editing and
//! history (rustyline), multi-line statements ended by `;`, and dot commands.
//! No error ends the shell but a closed stdout. `.output FILE` sends the
//! results to a file (text formats appended one after another, as sqlite3
//! does; a Parquet or Arrow file holds one table, so each result replaces it),
//! `.output` alone back to stdout.

use std::io::Write;
use std::path::PathBuf;

use arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use rustyline::error::ReadlineError;

use crate::config::ProjectConfig;
use crate::sql::{register_output, run_sql, session, table_names, write_batches, OutputFormat};
use crate::{Error, Result};

/// Arguments of `eventfold shell`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub out: super::OutArg,
    #[command(flatten)]
    pub memory: super::MemoryArg,
    #[command(flatten)]
    pub cluster: super::ClusterArg,
    /// How to print results (change it with `.format`).
    #[arg(long, value_enum, default_value_t = super::FormatArg::Table)]
    pub format: super::FormatArg,
}

const HELP: &str = "Statements end with ';' and may span lines.
.tables            the registered tables
.schema NAME       the columns of a table
.format FORMAT     table, csv, json, parquet or arrow (the last two need .output)
.output FILE       write the results to FILE (emptied first); .output alone: stdout
.help              this text
.quit              leave (also Ctrl-D)";

/// What a dot command asks for.
enum Dot {
    Schema(String),
    Format(OutputFormat),
    Output(Option<PathBuf>),
    Print(String),
    Quit,
}

fn dot_command(line: &str, tables: &[String]) -> Dot {
    let mut words = line.split_whitespace();
    match (words.next().unwrap_or_default(), words.next()) {
        (".tables", _) => Dot::Print(tables.join("\n")),
        (".schema", Some(name)) => Dot::Schema(name.to_owned()),
        (".format", Some(name)) => match OutputFormat::parse(name) {
            Some(format) => Dot::Format(format),
            None => Dot::Print(format!(
                "unknown format {name}; the formats: {}",
                OutputFormat::ALL.map(OutputFormat::name).join(", ")
            )),
        },
        (".output", file) => Dot::Output(file.map(PathBuf::from)),
        (".quit" | ".exit", _) => Dot::Quit,
        (".help", _) => Dot::Print(HELP.into()),
        (other, _) => Dot::Print(format!("unknown or incomplete command {other}; try .help")),
    }
}

/// The SQL of `.schema NAME`, or the error when the session has no table `name`.
fn schema_sql(ctx: &SessionContext, name: &str) -> Result<String> {
    if !matches!(ctx.table_exist(name), Ok(true)) {
        return Err(Error::usage(format!(
            "no table {name}\n  hint: .tables lists the tables: {}",
            table_names(ctx).join(", ")
        )));
    }
    Ok(format!(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
         WHERE table_name = '{}' ORDER BY ordinal_position",
        name.replace('\'', "''")
    ))
}

/// Where results go: stdout, or the file of `.output FILE`.
enum Destination {
    Stdout(std::io::Stdout),
    File(PathBuf, std::fs::File),
}

impl Destination {
    /// Opens `path` emptied, or stdout for `None`.
    fn open(path: Option<PathBuf>) -> Result<Self> {
        Ok(match path {
            Some(path) => {
                let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
                Self::File(path, file)
            }
            None => Self::Stdout(std::io::stdout()),
        })
    }

    /// Writes one result: text appended, a binary file replacing the last.
    fn write(&mut self, batches: &[RecordBatch], format: OutputFormat) -> Result<()> {
        match self {
            Self::Stdout(_) if format.is_binary() => Err(Error::usage(format!(
                ".format {} writes a binary file, not text for the terminal\n  hint: .output FILE first",
                format.name()
            ))),
            Self::Stdout(stdout) => write_batches(batches, format, stdout),
            Self::File(path, file) => {
                if format.is_binary() {
                    *file = std::fs::File::create(&*path).map_err(|e| Error::io(&*path, e))?;
                }
                let mut buffered = std::io::BufWriter::new(&*file);
                write_batches(batches, format, &mut buffered)?;
                buffered.flush().map_err(|e| Error::io(&*path, e))
            }
        }
    }
}

/// Prints an error of one statement and goes on; a closed stdout ends the
/// shell (quietly, as every command ends on one).
fn report(error: Error) -> Result<()> {
    if error.is_broken_pipe() {
        return Err(error);
    }
    eprintln!("error: {error}");
    Ok(())
}

/// Reads statements until `.quit` or end of input; errors are printed, not fatal.
pub fn execute(args: &Args, config: &ProjectConfig) -> Result<u8> {
    let out = config.out(args.out.out.as_deref());
    let runtime = crate::sql::runtime()?;
    let ctx = session(&config.cluster_session(
        args.memory.memory_limit.as_deref(),
        args.cluster.cluster.as_deref(),
    )?)?;
    let tables = runtime.block_on(register_output(
        &ctx,
        &out,
        &super::terminal::Terminal::stderr(),
    ))?;
    let mut editor =
        rustyline::DefaultEditor::new().map_err(|e| Error::usage(format!("terminal: {e}")))?;
    let history =
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".eventfold_history"));
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let mut format: OutputFormat = args.format.into();
    let mut buffer = String::new();
    let mut stdout = std::io::stdout();
    let mut destination = Destination::open(None)?;
    eprintln!(
        "eventfold shell on {} ({} tables); .help for help",
        out.display(),
        tables.len()
    );
    loop {
        let prompt = if buffer.is_empty() {
            "eventfold> "
        } else {
            "      ...> "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::usage(format!("terminal: {e}"))),
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let sql = if buffer.is_empty() && trimmed.starts_with('.') {
            let _ = editor.add_history_entry(trimmed);
            match dot_command(trimmed, &tables) {
                Dot::Schema(name) => match schema_sql(&ctx, &name) {
                    Ok(sql) => sql,
                    Err(e) => {
                        report(e)?;
                        continue;
                    }
                },
                Dot::Format(chosen) => {
                    format = chosen;
                    continue;
                }
                Dot::Output(path) => {
                    match Destination::open(path) {
                        Ok(opened) => destination = opened,
                        Err(e) => report(e)?,
                    }
                    continue;
                }
                Dot::Print(text) => {
                    if let Err(e) = writeln!(stdout, "{text}") {
                        report(Error::io("stdout", e))?;
                    }
                    continue;
                }
                Dot::Quit => break,
            }
        } else {
            buffer.push_str(&line);
            buffer.push('\n');
            if !trimmed.ends_with(';') {
                continue;
            }
            // The whole statement is one history entry, however many lines it took.
            let _ = editor.add_history_entry(buffer.trim());
            std::mem::take(&mut buffer)
        };
        let shown = runtime
            .block_on(run_sql(&ctx, &sql))
            .and_then(|batches| destination.write(&batches, format));
        if let Err(e) = shown {
            report(e)?;
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(super::exit::OK)
}
