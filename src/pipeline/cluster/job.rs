//! What every task of a distributed run is given ([`ClusterJob`]): the
//! output's temporary folder on shared storage, the model, the roles, the
//! mapping as written and the inputs, shipped inside the plan as JSON.

use std::path::PathBuf;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::ingest::config::InputSpec;
use crate::ingest::{IngestOptions, InputSource};
use crate::model::roles::Roles;
use crate::sink::manifest::Selection;
use crate::{Error, Result};

/// The folder of the splits' summaries, in the output's temporary folder.
pub const INGEST_DIR: &str = "_cluster/ingest";
/// The folder of the fold partitions' tables, before they become parts.
pub const FOLD_DIR: &str = "_cluster/fold";
/// The folder both are in, removed before the commit.
pub const CLUSTER_DIR: &str = "_cluster";

/// One input, as the executors find it: a path every executor sees, or (the
/// embedded sample, a caller's bytes) its bytes inside the plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ShippedInput {
    /// A file at an absolute path, named as the user gave it.
    File {
        path: PathBuf,
        name: String,
    },
    Memory {
        name: String,
        base64: String,
    },
    /// The lines of a byte range of a plain NDJSON file.
    Range {
        path: PathBuf,
        name: String,
        start: u64,
        end: u64,
    },
}

/// Everything a task of a distributed run needs, in the plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterJob {
    /// The output's temporary folder, on storage every executor sees.
    pub root: PathBuf,
    pub model_name: String,
    pub model_text: String,
    pub roles: Roles,
    /// The mapping file and flags the run's ingest options were made from.
    pub spec: InputSpec,
    pub strict: bool,
    pub chunk_bytes: usize,
    pub inputs: Vec<ShippedInput>,
    pub with_history: bool,
    /// Hash partitions of the streams: fold tasks, and parts of each table.
    pub partitions: usize,
    /// What each fold task's sort may hold before it writes runs.
    pub memory_limit: usize,
    /// The part of the log replayed (a partial or as-of run), else all.
    #[serde(default)]
    pub selection: Selection,
}

impl ClusterJob {
    /// Refuses a task of a job whose run is gone: the run's folder (which
    /// it removes when it fails or gives up, `--job-timeout`) no longer
    /// exists. Without this a task of such a job, run late (an executor
    /// stopped and resumed), would create the folder again beside the output.
    pub fn ensure_root(&self) -> Result<()> {
        if self.root.is_dir() {
            return Ok(());
        }
        Err(Error::usage(format!(
            "{}: the run that submitted this job is gone (its folder was removed); the task is not run",
            self.root.display()
        )))
    }

    /// The inputs as shipped: files by path, the rest by their bytes.
    pub fn ship(inputs: &[InputSource]) -> Vec<ShippedInput> {
        inputs
            .iter()
            .map(|input| match input {
                InputSource::File(path) => ShippedInput::File {
                    path: path.clone(),
                    name: input.name(),
                },
                InputSource::Named { path, name } => ShippedInput::File {
                    path: path.clone(),
                    name: name.clone(),
                },
                InputSource::Memory { name, bytes } => ShippedInput::Memory {
                    name: name.clone(),
                    base64: base64::engine::general_purpose::STANDARD.encode(bytes),
                },
                InputSource::Range {
                    path,
                    name,
                    start,
                    end,
                } => ShippedInput::Range {
                    path: path.clone(),
                    name: name.clone(),
                    start: *start,
                    end: *end,
                },
            })
            .collect()
    }

    /// Input `split`, as the ingest reads it.
    pub fn input(&self, split: usize) -> Result<InputSource> {
        let input = self
            .inputs
            .get(split)
            .ok_or_else(|| Error::usage(format!("the job has no input {split}")))?;
        Ok(match input {
            ShippedInput::File { path, name } => InputSource::Named {
                path: path.clone(),
                name: name.clone(),
            },
            ShippedInput::Range {
                path,
                name,
                start,
                end,
            } => InputSource::Range {
                path: path.clone(),
                name: name.clone(),
                start: *start,
                end: *end,
            },
            ShippedInput::Memory { name, base64 } => InputSource::Memory {
                name: name.clone(),
                bytes: base64::engine::general_purpose::STANDARD
                    .decode(base64)
                    .map_err(|e| Error::usage(format!("input {name}: {e}")))?
                    .into(),
            },
        })
    }

    /// The ingest options, made from the mapping as the client made them.
    pub fn ingest_options(&self) -> Result<IngestOptions> {
        let mut options = self.spec.options()?;
        options.strict = self.strict;
        options.chunk_bytes = self.chunk_bytes;
        Ok(options)
    }

    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::usage(format!("the cluster job: {e}")))
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::usage(format!("not an eventfold cluster job: {e}")))
    }
}
