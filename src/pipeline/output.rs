//! The end of a run: the SHA-256 of every output file and `manifest.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{RunConfig, RunReport};
use crate::sink::manifest::{Counts, Increment, Manifest, ModelEntry, Watermark, FORMAT_VERSION};
use crate::sink::OutputDir;
use crate::support::digest::{sha256_hex, sha256_hex_of, PendingHash};
use crate::{Error, Result};

/// The SHA-256 (hex) of the file at `path`.
pub(super) fn file_sha256(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    sha256_hex_of(file).map_err(|e| Error::io(path, e))
}

/// The SHA-256 of every output file (relative path → hex), and one hash over
/// them all: equal for equal outputs, whatever the timings. `ready` holds the
/// hashes already being computed as their files were written (by relative
/// path: events.parquet of a full run, the merged tables of an incremental
/// one), `known` those of files kept as they were (by `project`); the other
/// files are read back.
pub(super) fn output_hashes(
    dir: &OutputDir,
    ready: BTreeMap<String, PendingHash>,
    known: &BTreeMap<String, String>,
) -> Result<(BTreeMap<String, String>, String)> {
    use rayon::prelude::*;
    let root = dir.path("");
    let mut paths: Vec<(String, PathBuf)> = files_under(&root)?
        .into_iter()
        .filter(|(_, path)| {
            path.extension()
                .is_some_and(|e| e == "parquet" || e == "toml")
        })
        .collect();
    let mut kept = BTreeMap::new();
    paths.retain(|(name, _)| match known.get(name) {
        Some(hash) => {
            kept.insert(name.clone(), hash.clone());
            false
        }
        None => !ready.contains_key(name),
    });
    // One file a core (the largest, events.parquet, is usually hashed already).
    let mut files = paths
        .into_par_iter()
        .map(|(name, path)| Ok((name, file_sha256(&path)?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    files.extend(kept);
    for (name, hash) in ready {
        let hash = crate::error::joined(hash, &root.join(&name), "hashing")?;
        files.insert(name, hash);
    }
    let all: String = files.iter().map(|(n, h)| format!("{n} {h}\n")).collect();
    Ok((files, sha256_hex(all.as_bytes())))
}

/// Every file under `root`, with its path relative to it (with `/`).
pub(super) fn files_under(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).map_err(|e| Error::io(&folder, e))? {
            let path = entry.map_err(|e| Error::io(&folder, e))?.path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let relative = path.strip_prefix(root).unwrap_or(&path);
            files.push((relative.to_string_lossy().replace('\\', "/"), path));
        }
    }
    Ok(files)
}

/// Writes `manifest.json`; `hashes` are [`output_hashes`] of the files it lists.
pub(super) fn write_manifest(
    config: &RunConfig,
    dir: &OutputDir,
    report: &RunReport,
    (files, content_sha256): (BTreeMap<String, String>, String),
) -> Result<()> {
    let ingest = &report.ingest;
    let manifest = Manifest {
        format_version: Some(FORMAT_VERSION),
        content_sha256,
        files,
        tool: "eventfold".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        inputs: ingest.inputs.clone(),
        model: ModelEntry {
            name: config.model.name.clone(),
            sha256: report.model_sha256.clone(),
        },
        mapping_sha256: Some(config.ingest.mapping.fingerprint()),
        counts: Counts {
            input_records: ingest.records,
            input_events: Some(ingest.events),
            events: report.events(),
            rejects: ingest.rejects,
            streams: report.streams.clone(),
            states: report.states.clone(),
            state_history: report.state_history.clone(),
            transitions: report.transitions,
            findings: report.findings.clone(),
            projections: report.projections.clone(),
        },
        watermark: Watermark {
            position: ingest.max_position,
            read_positions: Some(ingest.read_positions),
        },
        increment: report.increment.as_ref().map(|(new, watermark)| Increment {
            after_position: *watermark,
            input_records: new.records,
            events: new.events,
            rejects: new.rejects,
        }),
        projections: report.projection_entries.clone(),
        selection: config
            .selection
            .is_partial()
            .then(|| config.selection.clone()),
        timings: report.timings.clone(),
    };
    manifest.write(&dir.path(""))
}
