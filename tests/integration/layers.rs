//! The layering the README's Layout section promises, checked in the sources:
//! the library (everything under `src/` but `commands/` and `main.rs`) knows
//! nothing of the command line. A grep, cheap and honest: a use that slips in
//! is named with its file and line.

use std::path::{Path, PathBuf};

/// The library's Rust files: `src/` without `commands/` and `main.rs`.
fn library_sources() -> Vec<PathBuf> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut folders = vec![src.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path == src.join("commands") || path == src.join("main.rs") {
                continue;
            }
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every `file:line: text` of the library that contains one of `needles`.
fn library_lines_with(needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for path in library_sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            if needles.iter().any(|needle| line.contains(needle)) {
                found.push(format!("{}:{}: {}", shown(&path), number + 1, line.trim()));
            }
        }
    }
    found
}

fn shown(path: &Path) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn the_library_does_not_know_clap() {
    assert!(library_sources().len() > 20, "the sources were not found");
    let found = library_lines_with(&["clap::", "use clap", "#[arg(", "#[command("]);
    assert!(
        found.is_empty(),
        "clap belongs to src/commands:\n{}",
        found.join("\n")
    );
}

/// The library reports through `support::progress::Observer`; only the
/// command layer prints to the terminal or draws on it.
#[test]
fn the_library_prints_nothing_itself() {
    let found = library_lines_with(&[
        "println!",
        "print!(",
        "std::io::stdout()",
        "std::io::stderr()",
        "indicatif",
    ]);
    assert!(
        found.is_empty(),
        "the library reports through support::progress::Observer; printing belongs to src/commands:\n{}",
        found.join("\n")
    );
}
