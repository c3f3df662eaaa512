//! The report: one self-contained HTML page of an output folder, for people
//! who look rather than query: what the run read and how long it took, what
//! broke (findings, rejects), and how the work flowed (events over time, per
//! aggregate type its states, lifecycle graphs, lead time, time in status and
//! variants; the busiest actors; the projections).
//!
//! Three steps, each testable alone: [`gather::gather`] runs SQL over the
//! output's Parquet in one DataFusion session (the command's memory limit
//! applies) into [`data::ReportData`], [`html::render`] writes the page with [`charts`] drawn as
//! inline SVG, and [`write`] puts it in place atomically (a temporary file
//! renamed), so `run --report` and `eventfold report` never leave half a page.

pub mod charts;
pub mod data;
pub mod gather;
pub mod html;

use std::path::{Path, PathBuf};

use crate::sql::{register_tables, session, SessionOptions};
use crate::support::progress::Observer;
use crate::{Error, Result};

/// The report's file name inside an output folder (`run --report`, and
/// `eventfold report` without `-o`).
pub const REPORT_FILE: &str = "report.html";

/// Reads the output folder `dir` and returns the page; `name` names the
/// output in its title (the folder it is committed to, when `dir` is the
/// run's temporary one).
pub fn build(
    dir: &Path,
    name: &str,
    options: &SessionOptions,
    observer: &dyn Observer,
) -> Result<html::Page> {
    // One partition: the report's queries are small aggregates over tables
    // already in stream order, and split in two they cost more than they
    // gain. Measured at 1M events (BENCHMARKS.md): the variants' string_agg
    // then failed in 384 MiB ("Resources exhausted": ordered aggregates
    // cannot spill, and each partition held its share), and the whole page
    // took 12–15 s at 530–670 MB; in one partition it fits, in 4–6 s at
    // 170–215 MB. And one query at a time, as the projections are built:
    // DataFusion's fair pool, where an aggregate or a join that cannot spill
    // may take what the pool has (at 10M events the lead time's join failed
    // under the run's pool, which keeps half of it for spilling operators).
    // The flow graphs' medians are computed apart (`tools::flow_graph`):
    // SQL's `median` holds every value and at 10M did not fit.
    let mut options = crate::projection::session_options(options.clone());
    options.target_partitions = Some(1);
    let data = crate::sql::runtime()?.block_on(async {
        let ctx = session(&options)?;
        register_tables(&ctx, dir, observer).await?;
        gather::gather(&ctx, dir, name).await
    })?;
    Ok(html::render(&data))
}

/// Builds the page of the output folder `dir` (as [`build`]) and writes it
/// to `target` (a temporary file beside it, renamed into place); returns its
/// size in bytes.
pub fn write(
    dir: &Path,
    name: &str,
    target: &Path,
    options: &SessionOptions,
    observer: &dyn Observer,
) -> Result<u64> {
    let page = build(dir, name, options, observer)?;
    let temporary = temporary_beside(target);
    std::fs::write(&temporary, &page.html).map_err(|e| Error::io(&temporary, e))?;
    if let Err(e) = std::fs::rename(&temporary, target) {
        let _ = std::fs::remove_file(&temporary);
        return Err(Error::io(target, e));
    }
    Ok(page.html.len() as u64)
}

/// The name of the output folder `dir` for a title: its last component
/// (of the absolute path, so `.` reads as the folder's name).
pub fn output_name(dir: &Path) -> String {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    absolute
        .components()
        .rfind(|c| matches!(c, std::path::Component::Normal(_)))
        .map_or_else(
            || dir.display().to_string(),
            |c| c.as_os_str().to_string_lossy().into_owned(),
        )
}

fn temporary_beside(target: &Path) -> PathBuf {
    let name = target.file_name().map_or_else(
        || "report.html".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    target.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pipeline::{run, RunConfig};

    /// The sample's output, built once into a temporary folder.
    pub(crate) fn sample_output() -> tempfile::TempDir {
        let temp = tempfile::tempdir().unwrap();
        let config = RunConfig {
            inputs: vec![crate::embedded::sample_input()],
            model: crate::embedded::sample_model(),
            out: temp.path().join("out"),
            ingest: Default::default(),
            session: SessionOptions::default(),
            selection: Default::default(),
            with_history: false,
            incremental: false,
            projections: crate::embedded::sample_projections(),
            roles: Default::default(),
            report: false,
            observer: std::sync::Arc::new(crate::support::progress::Silent),
        };
        run(&config).unwrap();
        temp
    }

    #[test]
    fn the_sample_charts_keep_their_labels_apart_and_their_margins_small() {
        let temp = sample_output();
        let page = build(
            &temp.path().join("out"),
            "out",
            &SessionOptions::default(),
            &crate::support::progress::Silent,
        )
        .unwrap();
        // Stage timings, findings, events per day, and per aggregate type
        // its states, lead time, time in status and variants: at least ten.
        assert!(page.charts.len() >= 10, "{} charts", page.charts.len());
        for chart in &page.charts {
            assert_eq!(chart.problems(), Vec::<String>::new(), "{}", chart.title);
        }
    }
}
