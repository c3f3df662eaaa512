//! The roles file: which actor holds which role, and when.
//!
//! TOML (`[actors] alice = ["lead"]` for roles held always, `[[grant]]`
//! tables with `actor`, `role` and optional `valid_from` / `valid_to` for
//! dated ones) or CSV (a header `actor,role` with optional `valid_from,valid_to`
//! columns), told apart by the file's extension. `valid_from` is inclusive;
//! `valid_to` is inclusive too, to the end of its day when it is a bare date.
//! A mistake is reported with its line, like the model's.

use std::collections::HashMap;
use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use super::Locator;
use crate::support::time::parse_timestamp;
use crate::{Error, Result};

/// One role an actor holds, from `from` to `to` (microseconds, inclusive).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Grant {
    role: String,
    from: Option<i64>,
    to: Option<i64>,
}

/// The roles of every actor.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Roles {
    grants: HashMap<String, Vec<Grant>>,
}

impl Roles {
    /// Whether `actor` holds `role` at `at` (microseconds since the epoch).
    pub fn holds(&self, actor: &str, role: &str, at: i64) -> bool {
        self.grants.get(actor).is_some_and(|grants| {
            grants.iter().any(|g| {
                g.role == role
                    && g.from.is_none_or(|from| from <= at)
                    && g.to.is_none_or(|to| at <= to)
            })
        })
    }

    /// Actors with at least one role.
    pub fn actors(&self) -> usize {
        self.grants.len()
    }

    fn grant(&mut self, actor: &str, grant: Grant) {
        self.grants.entry(actor.to_owned()).or_default().push(grant);
    }

    /// Reads a roles file: CSV when its name ends in `.csv`, else TOML.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let file = path.display().to_string();
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => Self::parse_csv(&file, &text),
            _ => Self::parse_toml(&file, &text),
        }
    }

    /// Parses a TOML roles file; `file` names it in errors.
    pub fn parse_toml(file: &str, text: &str) -> Result<Self> {
        let locator = Locator { file, text };
        let raw: RawRoles = toml::from_str(text).map_err(|err| {
            locator.toml_error(
                &err,
                Some("the format is described in the README, section \"Roles\"".into()),
            )
        })?;
        let mut roles = Roles::default();
        for (actor, names) in &raw.actors {
            for role in names {
                roles.grant(
                    actor,
                    Grant {
                        role: role.clone(),
                        from: None,
                        to: None,
                    },
                );
            }
        }
        for grant in &raw.grant {
            let date = |value: &Option<Spanned<String>>, end: bool| {
                value
                    .as_ref()
                    .map(|v| {
                        bound(v.get_ref(), end).ok_or_else(|| {
                            locator.error(
                                &v.span(),
                                format!("\"{}\" is not a date", v.get_ref()),
                                Some(DATE_HINT.into()),
                            )
                        })
                    })
                    .transpose()
            };
            let from = date(&grant.valid_from, false)?;
            let to = date(&grant.valid_to, true)?;
            roles.grant(
                &grant.actor,
                Grant {
                    role: grant.role.clone(),
                    from,
                    to,
                },
            );
        }
        Ok(roles)
    }

    /// Parses a CSV roles file (header `actor,role[,valid_from,valid_to]`).
    pub fn parse_csv(file: &str, text: &str) -> Result<Self> {
        let error = |line: u64, message: String| {
            Error::Model {
            file: file.to_owned(),
            line: line as usize,
            message,
            hint: Some("the header is actor,role and optionally valid_from,valid_to; dates like 2026-01-31".into()),
        }
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let header = reader
            .headers()
            .map_err(|e| error(1, e.to_string()))?
            .clone();
        let column = |name: &str| header.iter().position(|h| h.trim() == name);
        let (Some(actor), Some(role)) = (column("actor"), column("role")) else {
            return Err(error(1, "the header has no actor and role columns".into()));
        };
        let (from, to) = (column("valid_from"), column("valid_to"));
        let mut roles = Roles::default();
        for record in reader.records() {
            let record =
                record.map_err(|e| error(e.position().map_or(0, |p| p.line()), e.to_string()))?;
            let line = record.position().map_or(0, |p| p.line());
            let cell = |index: Option<usize>| {
                index
                    .and_then(|i| record.get(i))
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
            };
            let (Some(actor), Some(role)) = (cell(Some(actor)), cell(Some(role))) else {
                return Err(error(line, "a row has no actor or no role".into()));
            };
            let date = |index, end| {
                cell(index)
                    .map(|c| {
                        bound(c, end).ok_or_else(|| error(line, format!("\"{c}\" is not a date")))
                    })
                    .transpose()
            };
            let grant = Grant {
                role: role.to_owned(),
                from: date(from, false)?,
                to: date(to, true)?,
            };
            roles.grant(actor, grant);
        }
        Ok(roles)
    }
}

const DATE_HINT: &str = "write a date like 2026-01-31 or an RFC 3339 timestamp";

/// A validity bound in microseconds: a bare date is its day's first
/// microsecond (`end`: its last), UTC; else an RFC 3339 timestamp.
fn bound(text: &str, end: bool) -> Option<i64> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let start = date
            .and_time(Default::default())
            .and_utc()
            .timestamp_micros();
        return Some(if end {
            start + 86_400_000_000 - 1
        } else {
            start
        });
    }
    parse_timestamp(&serde_json::Value::String(text.to_owned()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoles {
    #[serde(default)]
    actors: IndexMap<String, Vec<String>>,
    #[serde(default)]
    grant: Vec<RawGrant>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    actor: String,
    role: String,
    valid_from: Option<Spanned<String>>,
    valid_to: Option<Spanned<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;
    /// 2026-01-31T00:00:00Z.
    const JAN_31: i64 = 1_769_817_600_000_000;

    #[test]
    fn toml_roles_hold_within_their_dates() {
        let text = "[actors]\nalice = [\"lead\"]\n\n[[grant]]\nactor = \"bob\"\nrole = \"lead\"\nvalid_from = \"2026-01-31\"\nvalid_to = \"2026-01-31\"\n";
        let roles = Roles::parse_toml("r.toml", text).unwrap();
        assert!(roles.holds("alice", "lead", 0));
        assert!(!roles.holds("alice", "admin", 0));
        assert!(roles.holds("bob", "lead", JAN_31));
        assert!(roles.holds("bob", "lead", JAN_31 + DAY - 1));
        assert!(!roles.holds("bob", "lead", JAN_31 + DAY));
        assert!(!roles.holds("bob", "lead", JAN_31 - 1));
        assert_eq!(roles.actors(), 2);
    }

    #[test]
    fn csv_roles_read_their_columns() {
        let text = "actor,role,valid_from,valid_to\nalice,lead,,\nbob,lead,2026-01-31,\n";
        let roles = Roles::parse_csv("r.csv", text).unwrap();
        assert!(roles.holds("alice", "lead", 0));
        assert!(!roles.holds("bob", "lead", 0));
        assert!(roles.holds("bob", "lead", JAN_31 + 5 * DAY));
    }

    #[test]
    fn mistakes_name_their_line() {
        let text = "[[grant]]\nactor = \"bob\"\nrole = \"lead\"\nvalid_to = \"someday\"\n";
        let err = Roles::parse_toml("r.toml", text).unwrap_err().to_string();
        assert!(
            err.starts_with("r.toml:4: \"someday\" is not a date"),
            "{err}"
        );
        let err = Roles::parse_toml("r.toml", "[actor]\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.toml:1: unknown field `actor`"), "{err}");
        let err = Roles::parse_csv("r.csv", "actor,role,valid_from\nbob,lead,soon\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.csv:2: \"soon\" is not a date"), "{err}");
        let err = Roles::parse_csv("r.csv", "who,what\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.csv:1: the header has no actor"), "{err}");
    }
}
