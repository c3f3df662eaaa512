//! The terminal's side of the library's [`Observer`]: the stages' progress as
//! bars on stderr when it is a terminal (a log or a pipe gets none), and the
//! library's notes as `note:` lines on stderr always. The library reports;
//! this is the one place that draws.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::support::progress::{Observer, Stage};

/// Ingest's progress: bytes read of the inputs' size as stored (compressed
/// when they are).
const INGEST_PROGRESS: &str =
    "{spinner} ingest: {bytes}/{total_bytes} read ({bytes_per_sec}) {elapsed} (about {eta} left)";
/// The replay's progress: events folded of all.
const REPLAY_PROGRESS: &str =
    "{spinner} sort and replay: {human_pos}/{human_len} events {elapsed} (about {eta} left)";

/// `generate -o FILE`'s progress: records written of all.
const GENERATE_PROGRESS: &str =
    "{spinner} generate: {human_pos}/{human_len} records {elapsed} (about {eta} left)";

/// Draws the stage under way on stderr, and prints notes there.
pub struct Terminal {
    /// Whether stderr is a terminal someone watches: bars only then.
    bars: bool,
    /// The bar of the stage under way.
    bar: Mutex<Option<ProgressBar>>,
}

impl Terminal {
    /// Bars when stderr is a terminal; notes in any case.
    pub fn stderr() -> Self {
        Self {
            bars: std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
        }
    }

    /// The bar of the stage under way; a panicked holder leaves it usable.
    fn bar(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Observer for Terminal {
    fn stage_started(&self, stage: Stage, total: Option<u64>) {
        if self.bars {
            let template = match stage {
                Stage::Ingest => INGEST_PROGRESS,
                Stage::Replay => REPLAY_PROGRESS,
                Stage::Generate => GENERATE_PROGRESS,
            };
            *self.bar() = Some(progress_bar(template, total));
        }
    }

    fn progressed(&self, _stage: Stage, done: u64) {
        if let Some(bar) = self.bar().as_ref() {
            bar.set_position(done);
        }
    }

    fn stage_finished(&self, _stage: Stage) {
        if let Some(bar) = self.bar().take() {
            bar.finish_and_clear();
        }
    }

    fn note(&self, text: &str) {
        // A note during a stage is printed above its bar, not through it.
        match self.bar().as_ref() {
            Some(bar) => bar.suspend(|| eprintln!("note: {text}")),
            None => eprintln!("note: {text}"),
        }
    }
}

/// A progress bar on stderr in `template`; `total` gives it a length.
fn progress_bar(template: &str, total: Option<u64>) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}
