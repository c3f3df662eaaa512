//! `eventfold.toml`: one file for what the flags say, for the nightly job.
//!
//! Found with `--config FILE`, else as `eventfold.toml` in the working
//! directory; without either, everything comes from flags and defaults. Flags
//! win over the file. Relative paths in the file are relative to the file's
//! folder. Unknown keys are errors naming their line, like the model file's.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ingest::config::{InputSpec, RawFile};
use crate::model::Locator;
use crate::{Error, Result};

/// The file's name when it is found in the working directory.
pub const FILE_NAME: &str = "eventfold.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    run: RawRun,
    input: Option<RawFile>,
    #[serde(default)]
    check: RawCheck,
    #[serde(default)]
    cluster: RawCluster,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    scheduler: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    #[serde(default)]
    inputs: Vec<String>,
    model: Option<PathBuf>,
    out: Option<PathBuf>,
    memory_limit: Option<String>,
    threads: Option<usize>,
    incremental: Option<bool>,
    with_history: Option<bool>,
    report: Option<bool>,
    projections: Option<PathBuf>,
    roles: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    queries: Option<PathBuf>,
    fail_on: Option<toml::Spanned<String>>,
}

/// What `eventfold.toml` says; everything unset when there is no file.
#[derive(Debug, Clone, Default)]
pub struct ProjectConfig {
    /// The file read, if any.
    pub path: Option<PathBuf>,
    /// `[run] inputs`: files, folders or globs.
    pub inputs: Vec<PathBuf>,
    pub model: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub memory_limit: Option<String>,
    pub threads: Option<usize>,
    /// `[run] incremental`: `run` folds only what is new (see `run --incremental`).
    pub incremental: bool,
    /// `[run] with_history`: `run` also writes `state_history/`.
    pub with_history: bool,
    /// `[run] report`: `run` also writes `report.html` (see `run --report`).
    pub report: bool,
    /// `[run] projections`: the folder of SQL projections; else
    /// `projections/` beside the file when it exists.
    pub projections: Option<PathBuf>,
    /// `[run] roles`: the roles file the model's authorisation rules read.
    pub roles: Option<PathBuf>,
    /// `[input]`: the mapping file's keys.
    pub input: InputSpec,
    /// `[check] queries`.
    pub queries: Option<PathBuf>,
    /// `[check] fail_on`: `error` or `warning`.
    pub fail_on: Option<String>,
    /// `[cluster] scheduler`: the cluster (`df://HOST:PORT`) the SQL commands
    /// run on when `--cluster` is not given.
    pub cluster: Option<String>,
}

impl ProjectConfig {
    /// Reads `explicit`, else `eventfold.toml` in the working directory if it
    /// exists, else returns the empty config.
    pub fn discover(explicit: Option<&Path>) -> Result<Self> {
        match explicit {
            Some(path) => Self::load(path),
            None if Path::new(FILE_NAME).is_file() => Self::load(Path::new(FILE_NAME)),
            None => Ok(Self::default()),
        }
    }

    /// Reads and checks one config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let file = path.display().to_string();
        let mut config = Self::parse(&file, &text)?;
        let base = path.parent().unwrap_or(Path::new(""));
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        config.inputs = config.inputs.into_iter().map(resolve).collect();
        config.model = config.model.map(resolve);
        config.out = config.out.map(resolve);
        config.queries = config.queries.map(resolve);
        config.roles = config.roles.map(resolve);
        config.projections = config.projections.map(resolve).or_else(|| {
            let beside = base.join("projections");
            beside.is_dir().then_some(beside)
        });
        config.path = Some(path.to_owned());
        Ok(config)
    }

    /// Parses a config file's text; `file` names it in errors. Paths stay as written.
    pub fn parse(file: &str, text: &str) -> Result<Self> {
        let locator = Locator { file, text };
        let raw: RawConfig = toml::from_str(text).map_err(|err| {
            let hint = "the format is described in the README, section \"The config file\"";
            locator.toml_error(&err, Some(hint.into()))
        })?;
        if let Some(fail_on) = &raw.check.fail_on {
            if !matches!(fail_on.get_ref().as_str(), "error" | "warning") {
                return Err(locator.error(
                    &fail_on.span(),
                    format!(
                        "fail_on is \"{}\"; expected error or warning",
                        fail_on.get_ref()
                    ),
                    None,
                ));
            }
        }
        let input = match raw.input {
            Some(raw_input) => InputSpec::from_raw(raw_input, &locator)?,
            None => InputSpec::default(),
        };
        Ok(Self {
            path: None,
            inputs: raw.run.inputs.into_iter().map(PathBuf::from).collect(),
            model: raw.run.model,
            out: raw.run.out,
            memory_limit: raw.run.memory_limit,
            threads: raw.run.threads,
            incremental: raw.run.incremental.unwrap_or(false),
            with_history: raw.run.with_history.unwrap_or(false),
            report: raw.run.report.unwrap_or(false),
            projections: raw.run.projections,
            roles: raw.run.roles,
            input,
            queries: raw.check.queries,
            fail_on: raw.check.fail_on.map(toml::Spanned::into_inner),
            cluster: raw.cluster.scheduler,
        })
    }

    /// The SQL session's options: the flag's memory limit, else the file's
    /// `[run] memory_limit`, else unbounded; threads from `[run] threads`.
    pub fn session(&self, memory_limit: Option<&str>) -> Result<crate::sql::SessionOptions> {
        let memory_limit = memory_limit
            .or(self.memory_limit.as_deref())
            .map(crate::support::byte_size::parse_byte_size)
            .transpose()?;
        Ok(crate::sql::SessionOptions {
            memory_limit,
            target_partitions: self.threads,
            spill_dir: None,
            batch_rows: None,
            fair_spill_pool: false,
            cluster: None,
            job_timeout: None,
        })
    }

    /// The options of a session for a command that can run on a cluster:
    /// [`Self::session`]'s, on the cluster the `--cluster` flag names, else
    /// `[cluster] scheduler`, else none (this process).
    pub fn cluster_session(
        &self,
        memory_limit: Option<&str>,
        cluster: Option<&str>,
    ) -> Result<crate::sql::SessionOptions> {
        let mut options = self.session(memory_limit)?;
        options.cluster = cluster.map(str::to_owned).or_else(|| self.cluster.clone());
        Ok(options)
    }

    /// The output folder: the flag's, else the file's, else `out`.
    pub fn out(&self, flag: Option<&Path>) -> PathBuf {
        flag.map(Path::to_owned)
            .or_else(|| self.out.clone())
            .unwrap_or_else(|| PathBuf::from("out"))
    }
}

/// The starter config `eventfold init` writes.
pub const STARTER_CONFIG: &str = r#"# eventfold.toml: what `eventfold run` and `eventfold check` read when no flag
# says otherwise (flags win). Paths are relative to this file. Every key is
# optional; the README's "The config file" section lists them all.

[run]
# The logs to read: files, folders or globs. Without any, the embedded sample.
# inputs = ["exports/*.ndjson.gz"]
model = "model.toml"
out = "out"
# memory_limit = "512MB"
# threads = 2
# Nightly: fold only the exports not folded yet onto the previous output
# (`run --full` rebuilds everything anyway).
# incremental = true
# with_history = false
# Also write report.html, the page of the run, into the output.
# report = true
# The SQL projections built into out/projections/ (default: projections/
# beside this file).
# projections = "projections"
# Who holds which role, for the model's authorisation rules (README, "Roles").
# roles = "roles.toml"

# How to read and map the inputs: the keys of a mapping file.
[input]
preset = "generic"
# format = "csv"
# timezone = "Europe/Amsterdam"
# [input.fields]
# stream_id = "aggregateId"
# version = "@order"

[check]
# queries = "queries/checks"
fail_on = "error"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_parses_and_mistakes_name_their_line() {
        let starter = ProjectConfig::parse("eventfold.toml", STARTER_CONFIG).unwrap();
        assert_eq!(starter.model, Some(PathBuf::from("model.toml")));
        assert_eq!(starter.input.preset.as_deref(), Some("generic"));
        let cases = [
            ("[run]\nmodle = \"m.toml\"\n", 2, "unknown field `modle`"),
            (
                "[input]\n\n[input.fields]\nstream = \"id\"\n",
                4,
                "unknown envelope field",
            ),
            (
                "[check]\nfail_on = \"never\"\n",
                2,
                "expected error or warning",
            ),
            ("[output]\n", 1, "unknown field `output`"),
            (
                "[input]\npreset = \"generic\"\n\n[input.fields]\nversion = 1\n",
                5,
                "input.fields.version: invalid type: integer `1`, expected a source spec",
            ),
            (
                "[run]\nthreads = \"all\"\n",
                2,
                "run.threads: invalid type: string",
            ),
        ];
        for (text, line, message) in cases {
            let err = ProjectConfig::parse("e.toml", text)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("e.toml:{line}: ")) && err.contains(message),
                "{text:?}: {err}"
            );
        }
    }
}
