//! How the library tells whoever runs it what it is doing: the stages it works
//! through, how far along each is, and notes for the person at the terminal.
//!
//! The library draws nothing and prints nothing itself (a library user's
//! stderr is theirs): it calls an [`Observer`], which the command layer
//! implements with progress bars and `note:` lines on stderr
//! (`commands/terminal.rs`), and tests and library users may leave [`Silent`].
//! `tools::generate` reports through a callback, which its command hands to
//! the same terminal observer as [`Stage::Generate`].

/// A stage whose progress is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading the inputs: bytes read of their size as stored (compressed
    /// when they are).
    Ingest,
    /// The sort and replay: events folded.
    Replay,
    /// `tools::generate` writing a log to a file: records written (the tool
    /// reports through a callback; its command turns that into this stage).
    Generate,
}

/// What the library reports as it works. Every method does nothing unless
/// implemented, so an observer takes only what it shows.
pub trait Observer: Send + Sync {
    /// `stage` began; `total` is what its progress counts up to, when known.
    fn stage_started(&self, _stage: Stage, _total: Option<u64>) {}
    /// `stage` has reached `done` (of the total given when it started).
    fn progressed(&self, _stage: Stage, _done: u64) {}
    /// `stage` is over.
    fn stage_finished(&self, _stage: Stage) {}
    /// Something a person should know that is not an error, e.g. that an
    /// incremental run found nothing to go on from. One line, or a line and
    /// a `  hint:` line.
    fn note(&self, _text: &str) {}
}

/// An observer that takes nothing: for tests and library users.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

impl std::fmt::Debug for dyn Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Observer")
    }
}
