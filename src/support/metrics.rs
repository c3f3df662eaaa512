//! Metrics: how long each stage of a run took and how much memory it held.
//!
//! The pipeline records, per stage, the wall time and the peak resident memory of
//! the process while the stage ran, into `manifest.json` (`timings`), so a
//! benchmark reads one run's per-stage numbers from its output instead of timing
//! stages from the outside. Peak memory per stage comes from Linux's `VmHWM`,
//! reset at the start of each phase through `/proc/self/clear_refs`; elsewhere (or
//! when the reset is refused) the numbers are the peak so far, and `None` where
//! `/proc` is missing. Reading them costs two small file operations per phase.

use std::time::{Duration, Instant};

/// The peak resident set size of this process so far, in bytes (Linux only).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Resets the peak resident set size to the current one, so the next
/// [`peak_rss_bytes`] is the peak of what ran in between. Best effort.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// One phase of a run: wall time and the process's peak memory while it ran.
#[derive(Debug)]
pub struct Phase {
    started: Instant,
}

impl Phase {
    /// Starts a phase: hands the memory the previous phase freed back to the
    /// system, then resets the peak-memory mark.
    pub fn start() -> Self {
        release_free_memory();
        reset_peak_rss();
        Self {
            started: Instant::now(),
        }
    }

    /// Milliseconds since the phase started and the peak memory in it.
    pub fn finish(&self) -> (u64, Option<u64>) {
        (millis(self.started.elapsed()), peak_rss_bytes())
    }
}

/// Caps glibc's heap arenas at two. By default each thread that allocates
/// may get an arena of its own (up to 8 a core): buffers built on the tokio
/// workers, the rayon workers and the writer threads and freed on another
/// leave each arena fragmented, and at 10M events the sort phase's resident
/// memory climbed to ~1 GiB instead of ~0.75 GiB (BENCHMARKS.md). One arena
/// is leaner still but slows the parallel parse by a third.
pub fn limit_heap_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a glibc tunable; called first thing in main,
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns the heap's free pages to the operating system. glibc keeps what a
/// phase freed (the sort's buffers, a hash table) mapped, so without this the
/// next phase starts with the last one's peak still resident.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims glibc's own heap; it takes no
    // pointers and is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whole milliseconds of `elapsed`.
pub fn millis(elapsed: Duration) -> u64 {
    elapsed.as_millis() as u64
}

/// Time accumulated over many short intervals (one per batch).
#[derive(Debug, Default, Clone, Copy)]
pub struct Stopwatch {
    total: Duration,
}

impl Stopwatch {
    /// Runs `f`, adding its wall time to the total.
    pub fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let value = f();
        self.total += started.elapsed();
        value
    }

    /// Adds an interval measured elsewhere.
    pub fn add(&mut self, elapsed: Duration) {
        self.total += elapsed;
    }

    pub fn millis(&self) -> u64 {
        millis(self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let peak = peak_rss_bytes().unwrap();
            assert!(peak > 1024 * 1024, "{peak}");
        }
    }

    #[test]
    fn a_stopwatch_adds_up_its_intervals() {
        let mut watch = Stopwatch::default();
        let value = watch.time(|| 7);
        watch.add(Duration::from_millis(5));
        assert_eq!(value, 7);
        assert!(watch.millis() >= 5);
    }
}
