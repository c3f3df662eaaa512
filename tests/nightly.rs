//! Safe for schedulers: the output lock, a run killed while writing, and
//! partial and as-of runs that never overwrite a full output unless asked.

mod util;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::Dir;

/// Names in `dir` that a run leaves beside its output while it works.
fn leftovers(dir: &Dir) -> Vec<String> {
    std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".out.tmp-"))
        .collect()
}

#[test]
fn a_second_run_on_a_locked_output_exits_2_naming_the_holder() {
    let dir = Dir::new();
    dir.ok(&["run"]);
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(".out.lock"))
        .expect("the run leaves its lock file");
    lock.try_lock().expect("nobody holds the lock after a run");
    std::fs::write(
        dir.join(".out.lock"),
        "pid 4242, started 2026-11-27T03:00:00Z",
    )
    .unwrap();
    let outcome = dir.eventfold(&["run"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr.contains(
            "out is being written by another run (pid 4242, started 2026-11-27T03:00:00Z)"
        ),
        "{outcome:?}"
    );
    // A lock whose holder is gone (here: released) does not block the next run.
    drop(lock);
    dir.ok(&["run"]);
}

#[test]
fn a_run_killed_while_writing_leaves_the_previous_output_intact() {
    let dir = Dir::new();
    dir.ok(&[
        "generate",
        "--events",
        "200000",
        "--seed",
        "7",
        "-o",
        "big.ndjson",
    ]);
    dir.ok(&["run"]);
    let manifest = std::fs::read_to_string(dir.join("out/manifest.json")).unwrap();
    let before = dir.query_json("out", "SELECT count(*) AS n FROM task");
    for delay_ms in [50, 1500, 4000] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eventfold"))
            .args(["run", "-i", "big.ndjson"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        // Wait until it is writing, then give it `delay_ms` more.
        while leftovers(&dir).is_empty() && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap();
        child.wait().unwrap();
        if finished {
            // The run beat the kill: it replaced the output, as it may.
            break;
        }
        assert_eq!(
            std::fs::read_to_string(dir.join("out/manifest.json")).unwrap(),
            manifest,
            "killed after {delay_ms} ms"
        );
        assert_eq!(
            dir.query_json("out", "SELECT count(*) AS n FROM task"),
            before
        );
    }
    // The next run is not blocked and cleans up what the killed ones left.
    dir.ok(&["run"]);
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}
