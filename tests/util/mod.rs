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
