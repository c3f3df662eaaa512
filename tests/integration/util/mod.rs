//! Test helpers: run the real `eventfold` binary in a temporary folder of its own
//! and capture its exit code, stdout and stderr (ripgrep's `tests/util.rs`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root, for reading testdata.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What one invocation printed and returned.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A temporary working folder; removed when dropped.
pub struct Dir {
    temp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Self {
        Self {
            temp: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.temp.path().join(name)
    }

    /// Writes a file inside the folder and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, contents).expect("write test file");
        path
    }

    /// Runs `eventfold ARGS` with this folder as the working directory.
    pub fn eventfold(&self, args: &[&str]) -> Outcome {
        let output = Command::new(env!("CARGO_BIN_EXE_eventfold"))
            .args(args)
            .current_dir(self.path())
            .output()
            .expect("run eventfold");
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `eventfold ARGS` with `input` on its standard input.
    pub fn eventfold_with_input(&self, args: &[&str], input: &str) -> Outcome {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_eventfold"))
            .args(args)
            .current_dir(self.path())
            .env("HOME", self.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run eventfold");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).expect("write stdin");
        }
        let output = child.wait_with_output().expect("wait for eventfold");
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs a command that must succeed and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let outcome = self.eventfold(args);
        assert_eq!(outcome.code, 0, "eventfold {args:?} failed: {outcome:?}");
        outcome.stdout
    }

    /// The parsed `manifest.json` of the output folder `out`.
    pub fn manifest(&self, out: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.join(out).join("manifest.json")).expect("manifest");
        serde_json::from_str(&text).expect("manifest is JSON")
    }

    /// Asserts that the manifest of `out` gives each file it lists the
    /// SHA-256 of that file's bytes, and returns the manifest.
    pub fn assert_file_hashes(&self, out: &str) -> serde_json::Value {
        use sha2::Digest;
        let manifest = self.manifest(out);
        let files = manifest["files"]
            .as_object()
            .expect("files in the manifest");
        assert!(files.contains_key("events.parquet"), "{files:?}");
        for (name, hash) in files {
            let bytes = std::fs::read(self.join(out).join(name)).expect("a listed file");
            let hex: String = sha2::Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(hash.as_str(), Some(hex.as_str()), "{out}/{name}");
        }
        manifest
    }

    /// Writes a generated task log of `events` records from `seed` to `file`.
    pub fn generate(&self, events: u64, seed: u64, file: &str) {
        self.ok(&[
            "generate",
            "--events",
            &events.to_string(),
            "--seed",
            &seed.to_string(),
            "-o",
            file,
        ]);
    }

    /// Runs a query with `--format json` over `out` and parses the rows.
    pub fn query_json(&self, out: &str, sql: &str) -> Vec<serde_json::Value> {
        let stdout = self.ok(&["query", "--out", out, "--format", "json", sql]);
        match serde_json::from_str(&stdout).expect("query output is JSON") {
            serde_json::Value::Array(rows) => rows,
            other => panic!("expected an array, got {other}"),
        }
    }
}

/// A Python 3 that has pyarrow, DuckDB and PM4Py, for the tests that open our outputs
/// with them: `EVENTFOLD_PYTHON` when set, else `python3` when it has both,
/// else a virtual environment made once under the target folder from
/// `scripts/requirements.txt` (so `cargo test` needs nothing installed by
/// hand but Python 3 itself). Panics with what to do when none can be had.
pub fn python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        if let Some(given) = std::env::var_os("EVENTFOLD_PYTHON") {
            return Ok(PathBuf::from(given));
        }
        let has_packages = |python: &Path| {
            Command::new(python)
                .args(["-c", "import pyarrow, duckdb, pm4py"])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let system = PathBuf::from("python3");
        if has_packages(&system) {
            return Ok(system);
        }
        let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-venv");
        let python = venv.join("bin").join("python");
        if has_packages(&python) {
            return Ok(python);
        }
        let run = |program: &Path, args: &[&std::ffi::OsStr]| -> Result<(), String> {
            let output = Command::new(program)
                .args(args)
                .output()
                .map_err(|e| format!("{}: {e}", program.display()))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{} {args:?} failed:\n{}",
                    program.display(),
                    String::from_utf8_lossy(&output.stderr)
                ))
            }
        };
        eprintln!(
            "note: python3 lacks pyarrow, duckdb or pm4py; making {} from scripts/requirements.txt (once)",
            venv.display()
        );
        run(&system, &["-m".as_ref(), "venv".as_ref(), venv.as_os_str()])?;
        let requirements = repo().join("scripts/requirements.txt");
        run(
            &python,
            &[
                "-m".as_ref(),
                "pip".as_ref(),
                "install".as_ref(),
                "--quiet".as_ref(),
                "--disable-pip-version-check".as_ref(),
                "-r".as_ref(),
                requirements.as_os_str(),
            ],
        )?;
        if has_packages(&python) {
            Ok(python)
        } else {
            Err(format!(
                "{} still cannot import pyarrow, duckdb and pm4py",
                python.display()
            ))
        }
    });
    match found {
        Ok(python) => python.clone(),
        Err(why) => panic!(
            "no Python with pyarrow and DuckDB for this test: {why}\n  hint: install Python 3 with its venv module (Debian: python3-venv), or set EVENTFOLD_PYTHON to a python that has scripts/requirements.txt"
        ),
    }
}

/// Runs the Python program `code` (from [`python()`]) with `args` and
/// returns its stdout; panics with its stderr when it fails.
pub fn run_python(code: &str, args: &[&std::ffi::OsStr]) -> String {
    let output = Command::new(python())
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
