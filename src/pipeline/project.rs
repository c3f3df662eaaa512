//! `project`: rebuild the projections of an existing output from its
//! Parquet tables, without reading the exported log again.
//!
//! The "I fixed a projection, rebuild it" loop. The new output is built
//! beside the old one like a run's ([`OutputDir`]: the same lock, the same
//! atomic swap): every file that stays is hard-linked into it (copied where
//! the file system cannot link), the projections asked for (and every SQL
//! projection that reads one of them) are rebuilt, and the manifest is
//! rewritten with their rows and hashes, the kept files' hashes taken from the
//! old manifest rather than read again. A model given anew may change only
//! its projections: the states were folded by the old model's aggregates.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::output::{files_under, output_hashes};
use crate::model::{parse_model, Model, ModelSource};
use crate::projection::{prepare_for, ProjectionSource, PROJECTIONS_DIR};
use crate::sink::manifest::{Manifest, MANIFEST_FILE, MODEL_FILE};
use crate::sink::OutputDir;
use crate::sql::{session, SessionOptions};
use crate::support::digest::sha256_hex;
use crate::support::metrics::millis;
use crate::{Error, Result};

/// What `project` is asked to do.
#[derive(Debug, Clone)]
pub struct ProjectConfig {
    /// The output folder to rebuild the projections of.
    pub out: PathBuf,
    /// The model to take the keyed folds from; `None` keeps the output's.
    pub model: Option<ModelSource>,
    /// The SQL projections' definitions.
    pub projections: Vec<ProjectionSource>,
    /// The projections to rebuild (with those that read them); all when empty.
    pub names: Vec<String>,
    pub session: SessionOptions,
}

/// What `project` did.
#[derive(Debug, Clone, Default)]
pub struct ProjectReport {
    pub out: PathBuf,
    /// Rows of each projection rebuilt.
    pub rebuilt: BTreeMap<String, u64>,
    pub total_ms: u64,
}

/// The model of the output at `out`, and the one to build with: `given`
/// when it differs from the output's only in its projections.
fn models(out: &Path, given: Option<&ModelSource>) -> Result<(ModelSource, Model)> {
    let path = out.join(crate::sink::manifest::MODEL_FILE);
    let old_text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let old = parse_model(&path.display().to_string(), &old_text)?;
    let Some(given) = given else {
        let source = ModelSource {
            name: path.display().to_string(),
            text: old_text,
        };
        return Ok((source, old));
    };
    let new = parse_model(&given.name, &given.text)?;
    if new.aggregates != old.aggregates || new.upcasters != old.upcasters {
        return Err(Error::usage(format!(
            "{} changes the aggregates or upcasters of the model that folded {}; `project` rebuilds only projections\n  hint: run `eventfold run` for a full rebuild with the new model",
            given.name,
            out.display()
        )));
    }
    Ok((given.clone(), new))
}

/// Rebuilds projections of the output `config.out` and commits it.
pub fn project(config: &ProjectConfig) -> Result<ProjectReport> {
    let started = Instant::now();
    let out = &config.out;
    crate::sql::ensure_output(out)?;
    let manifest = Manifest::read(out)?
        .ok_or_else(|| Error::usage(format!("{} has no manifest.json", out.display())))?;
    let (model_source, model) = models(out, config.model.as_ref())?;
    let model_text = &model_source.text;
    let with_history = out.join("state_history").is_dir();
    let ordered = prepare_for(&config.projections, &model, with_history)?;
    let keyed: BTreeSet<String> = model.projections.iter().map(|p| p.name.clone()).collect();
    let known: BTreeSet<String> = (ordered.projections.iter())
        .map(|p| p.name.clone())
        .chain(keyed.iter().cloned())
        .collect();
    let chosen = if config.names.is_empty() {
        known.clone()
    } else {
        let asked: BTreeSet<String> = config.names.iter().cloned().collect();
        if let Some(unknown) = asked.iter().find(|n| !known.contains(*n)) {
            let names: Vec<&str> = known.iter().map(String::as_str).collect();
            return Err(Error::usage(format!(
                "no projection is named \"{unknown}\"; the projections: {}",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            )));
        }
        ordered.downstream_of(&asked)
    };
    let dir = OutputDir::create(out)?;
    let built = (|| {
        // A rebuild of everything drops the tables of projections no longer defined.
        let keep = |relative: &str| {
            let Some(file) = relative.strip_prefix(&format!("{PROJECTIONS_DIR}/")) else {
                return !matches!(relative, MANIFEST_FILE | MODEL_FILE);
            };
            let stem = Path::new(file).file_stem().map(|s| s.to_string_lossy());
            !config.names.is_empty() && stem.is_some_and(|s| !chosen.contains(s.as_ref()))
        };
        let kept = link_tree(out, &dir.path(""), &keep)?;
        let model_copy = dir.path(crate::sink::manifest::MODEL_FILE);
        std::fs::write(&model_copy, model_text).map_err(|e| Error::io(&model_copy, e))?;
        let root = dir.path("");
        // The keyed folds are refolded on a thread of their own while the SQL
        // projections that read none of them (not even through another) are
        // built; those that read one are built after.
        let refolded: Vec<String> = keyed.intersection(&chosen).cloned().collect();
        let after_folds: BTreeSet<String> = match refolded.is_empty() {
            true => BTreeSet::new(),
            false => (ordered.downstream_of(&refolded.iter().cloned().collect()))
                .intersection(&chosen)
                .filter(|name| !keyed.contains(*name))
                .cloned()
                .collect(),
        };
        let first: BTreeSet<String> = (chosen.iter())
            .filter(|name| !keyed.contains(*name) && !after_folds.contains(*name))
            .cloned()
            .collect();
        let events = crate::sink::dataset::locate(&root, "events")
            .unwrap_or_else(|| root.join("events.parquet"));
        let runtime = crate::sql::runtime()?;
        let rows = std::thread::scope(|scope| {
            let folding = (!refolded.is_empty()).then(|| {
                scope.spawn(|| {
                    super::refold(&model, &model_source.name, &events, &root, Some(&refolded))
                })
            });
            runtime.block_on(async {
                let ctx = session(&crate::projection::session_options(config.session.clone()))?;
                crate::sql::register_tables(&ctx, &root, &crate::support::progress::Silent).await?;
                let mut rows =
                    crate::projection::materialise(&ctx, &root, &ordered, Some(&first), None)
                        .await?;
                if let Some(folding) = folding {
                    rows.extend(crate::error::ended(folding.join(), &events, "refolding")?);
                }
                for name in &refolded {
                    let table = root.join(PROJECTIONS_DIR).join(format!("{name}.parquet"));
                    ctx.deregister_table(name.as_str())?;
                    crate::sql::register_file(&ctx, name, &table).await?;
                }
                rows.extend(
                    crate::projection::materialise(&ctx, &root, &ordered, Some(&after_folds), None)
                        .await?,
                );
                Ok::<_, Error>(rows)
            })
        })?;
        let known_hashes: BTreeMap<String, String> = manifest
            .files
            .iter()
            .filter(|(name, _)| kept.contains(*name))
            .map(|(name, hash)| (name.clone(), hash.clone()))
            .collect();
        let hashes = output_hashes(&dir, BTreeMap::new(), &known_hashes)?;
        let mut manifest = manifest.clone();
        if config.names.is_empty() {
            // Projections no longer defined go with their tables.
            manifest.projections.clear();
            manifest.counts.projections.clear();
        }
        manifest.counts.projections.extend(rows.clone());
        let mut entries = ordered.entries();
        // The model's name as the run recorded it, unless a new model is given.
        let model_name = match &config.model {
            Some(given) => given.name.clone(),
            None => manifest.model.name.clone(),
        };
        entries.extend(crate::projection::keyed_entries(&model, &model_name));
        (manifest.projections).extend(
            entries
                .into_iter()
                .filter(|(name, _)| chosen.contains(name)),
        );
        manifest.model.sha256 = sha256_hex(model_text.as_bytes());
        if let Some(given) = &config.model {
            manifest.model.name = given.name.clone();
        }
        manifest.timings.projections_ms = millis(started.elapsed());
        (manifest.files, manifest.content_sha256) = hashes;
        manifest.write(&root)?;
        Ok::<_, Error>(rows)
    })();
    match built {
        Ok(rebuilt) => Ok(ProjectReport {
            out: dir.commit()?,
            rebuilt,
            total_ms: millis(started.elapsed()),
        }),
        Err(err) => {
            dir.abandon();
            Err(err)
        }
    }
}

/// Hard-links (or copies, where links are refused) every file under `from`
/// that `keep` accepts (by its path relative to `from`, with `/`) into the
/// same place under `to`; returns the relative paths linked.
fn link_tree(from: &Path, to: &Path, keep: &dyn Fn(&str) -> bool) -> Result<BTreeSet<String>> {
    let mut linked = BTreeSet::new();
    for (relative, path) in files_under(from)? {
        if !keep(&relative) {
            continue;
        }
        let target = to.join(&relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        if std::fs::hard_link(&path, &target).is_err() {
            std::fs::copy(&path, &target).map_err(|e| Error::io(&target, e))?;
        }
        linked.insert(relative);
    }
    Ok(linked)
}
