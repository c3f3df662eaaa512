//! The query library: SQL files with a header that says what they answer, the
//! parameters they take and, for checks, their severity.
//!
//! A header is the leading `--` comment block. Recognised lines:
//! `-- param: NAME = DEFAULT` (a `${NAME}` placeholder, substituted as raw text
//! before parsing, overridable with `--param NAME=VALUE`), `-- severity: error|warning`
//! (a check), and `-- tables: …`. The first header line is the title.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// How bad a violation is; `check --fail-on` compares against it (spelled
/// on the command line by `commands::check::SeverityArg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "warning" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One SQL file of the library.
#[derive(Debug, Clone)]
pub struct QueryFile {
    /// Where it came from (a path, or `embedded:NAME`).
    pub origin: String,
    /// The file stem: a check's rule name.
    pub name: String,
    pub title: String,
    pub params: Vec<(String, String)>,
    pub severity: Option<Severity>,
    pub sql: String,
}

impl QueryFile {
    /// Parses a query's text; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Self> {
        let name = Path::new(origin)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| origin.to_owned());
        let mut query = QueryFile {
            origin: origin.to_owned(),
            name,
            title: String::new(),
            params: Vec::new(),
            severity: None,
            sql: text.to_owned(),
        };
        for (index, line) in text.lines().enumerate() {
            let Some(comment) = line.trim().strip_prefix("--") else {
                break;
            };
            let comment = comment.trim();
            let here = |message: String| Error::usage(format!("{origin}:{}: {message}", index + 1));
            if let Some(param) = comment.strip_prefix("param:") {
                let (key, default) = param
                    .split_once('=')
                    .ok_or_else(|| here(format!("\"{comment}\" is not `param: NAME = DEFAULT`")))?;
                query
                    .params
                    .push((key.trim().to_owned(), default.trim().to_owned()));
            } else if let Some(severity) = comment.strip_prefix("severity:") {
                query.severity = Some(Severity::parse(severity.trim()).ok_or_else(|| {
                    here(format!(
                        "severity \"{}\" is not error or warning",
                        severity.trim()
                    ))
                })?);
            } else if query.title.is_empty() && !comment.is_empty() {
                query.title = comment.to_owned();
            }
        }
        Ok(query)
    }

    /// Reads and parses a query file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// The SQL with every `${NAME}` replaced: by an override, else the default.
    pub fn render(&self, overrides: &[(String, String)]) -> Result<String> {
        let mut sql = self.sql.clone();
        for (key, _) in overrides {
            if !self.params.iter().any(|(k, _)| k == key) {
                let known: Vec<&str> = self.params.iter().map(|(k, _)| k.as_str()).collect();
                return Err(Error::usage(format!(
                    "{} has no parameter \"{key}\"; it takes: {}",
                    self.origin,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        for (key, default) in &self.params {
            let value = overrides
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map_or(default.as_str(), |(_, v)| v.as_str());
            sql = sql.replace(&format!("${{{key}}}"), value);
        }
        if let Some(start) = sql.find("${") {
            let rest = &sql[start..];
            let end = rest.find('}').map_or(rest.len(), |i| i + 1);
            return Err(Error::usage(format!(
                "{}: placeholder {} has no `-- param:` line with a default",
                self.origin,
                &rest[..end]
            )));
        }
        Ok(sql)
    }
}

/// Parses `NAME=VALUE` parameter flags.
pub fn parse_params(flags: &[String]) -> Result<Vec<(String, String)>> {
    flags
        .iter()
        .map(|flag| {
            flag.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .ok_or_else(|| Error::usage(format!("--param \"{flag}\" is not NAME=VALUE")))
        })
        .collect()
}

/// Every `.sql` file under `dir`, recursively, sorted by path.
pub fn discover(dir: &Path) -> Result<Vec<QueryFile>> {
    let mut paths = Vec::new();
    collect_sql(dir, &mut paths)?;
    paths.sort();
    paths.iter().map(|p| QueryFile::load(p)).collect()
}

fn collect_sql(dir: &Path, into: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            collect_sql(&path, into)?;
        } else if path.extension().is_some_and(|x| x == "sql") {
            into.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "-- The trail of one aggregate\n-- tables: events\n-- param: stream_id = task-1\n-- severity: warning\nSELECT * FROM events WHERE stream_id = '${stream_id}'\n";

    #[test]
    fn headers_and_parameters() {
        let query = QueryFile::parse("queries/audit/trail.sql", TEXT).unwrap();
        assert_eq!(query.name, "trail");
        assert_eq!(query.title, "The trail of one aggregate");
        assert_eq!(query.severity, Some(Severity::Warning));
        assert!(query
            .render(&[])
            .unwrap()
            .ends_with("stream_id = 'task-1'\n"));
        let with = query
            .render(&[("stream_id".into(), "task-9".into())])
            .unwrap();
        assert!(with.ends_with("stream_id = 'task-9'\n"));
        assert!(query.render(&[("nope".into(), "x".into())]).is_err());
        let missing = QueryFile::parse("q.sql", "SELECT '${who}'").unwrap();
        assert!(missing
            .render(&[])
            .unwrap_err()
            .to_string()
            .contains("${who}"));
        assert!(QueryFile::parse("q.sql", "-- severity: fatal\nSELECT 1").is_err());
    }
}
