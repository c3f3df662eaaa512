//! The input flags `run` and `census` share: what to read and how to map it.

use std::path::PathBuf;

use crate::config::ProjectConfig;
use crate::embedded;
use crate::ingest::config::InputSpec;
use crate::ingest::mapping::split_override;
use crate::ingest::{IngestOptions, InputSource};
use crate::Result;

/// Where the logs are and how to read them.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Input logs: files, folders or globs (NDJSON, JSON, CSV, Parquet, XES;
    /// plain, gzip or zstd); a folder's files other than logs (.md, .toml, …)
    /// are skipped. Default: `[run] inputs` of eventfold.toml, else the
    /// embedded task-tracking sample.
    #[arg(short, long)]
    pub input: Vec<PathBuf>,
    /// A mapping file (TOML): format, preset, CSV and time settings, fields.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// The envelope mapping to start from: generic (default), cloudevents,
    /// eventstoredb (or its new name kurrentdb), marten, axon or xes.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// The inputs' format (ndjson, json, csv, parquet, xes); default: recognised
    /// by each input's first bytes, then its name.
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<String>,
    /// The CSV delimiter: one character, or "tab" (default: a tab for .tsv
    /// inputs, else a comma).
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// A custom timestamp format (strftime syntax, e.g. "%d/%m/%Y %H:%M"); repeatable.
    #[arg(long, value_name = "FORMAT")]
    pub timestamp_format: Vec<String>,
    /// The time zone of timestamps written without an offset, e.g.
    /// Europe/Amsterdam (default: none; such timestamps are rejected).
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// The unit of numeric timestamps: s, ms (default) or us.
    #[arg(long, value_name = "UNIT")]
    pub epoch_unit: Option<String>,
    /// Stop with exit code 2 at the first record that cannot become an event.
    #[arg(long)]
    pub strict: bool,
    /// Read an envelope field from elsewhere: FIELD=SOURCE, SOURCE a column or
    /// path (meta.user, /meta/user), a template ({type}.{payload.action}), a
    /// constant (=task) or a derivation (@order, @rest). Repeatable.
    #[arg(long, value_name = "FIELD=SOURCE")]
    pub map: Vec<String>,
    /// Records longer than this many bytes become rejects (default 16 MiB).
    #[arg(long, value_name = "BYTES")]
    pub max_record_bytes: Option<usize>,
}

impl InputArgs {
    /// The inputs and ingest options: flags over a `--mapping` file over the
    /// config file's `[input]`; inputs from the flags, else the config file,
    /// else the embedded sample.
    pub fn resolve(&self, project: &ProjectConfig) -> Result<(Vec<InputSource>, IngestOptions)> {
        let mut fields = Vec::new();
        for spec in &self.map {
            let (name, source) = split_override(spec)?;
            fields.push((name.to_owned(), vec![source.to_owned()]));
        }
        let flags = InputSpec {
            format: self.input_format.clone(),
            preset: self.preset.clone(),
            delimiter: self.delimiter.clone(),
            timestamp_formats: self.timestamp_format.clone(),
            timezone: self.timezone.clone(),
            epoch_unit: self.epoch_unit.clone(),
            version_base: None,
            max_record_bytes: self.max_record_bytes,
            fields,
        };
        let file = match &self.mapping {
            Some(path) => InputSpec::from_file(path)?,
            None => InputSpec::default(),
        };
        let mut ingest = project
            .input
            .clone()
            .overridden_by(file)
            .overridden_by(flags)
            .options()?;
        ingest.strict = self.strict;
        let given = if self.input.is_empty() {
            &project.inputs
        } else {
            &self.input
        };
        let inputs = if given.is_empty() {
            vec![embedded::sample_input()]
        } else {
            super::expand_inputs(given)?
                .into_iter()
                .map(InputSource::File)
                .collect()
        };
        Ok((inputs, ingest))
    }
}
