//! A SQL projection's file: its header (what it is, its key, its parameters
//! and its contracts) and its one `SELECT`.
//!
//! ```sql
//! -- projection: Project progress
//! -- key: project_id
//! -- param: stale_days = 14
//! -- not_null: tasks
//! -- accepted_values: health = ok|at_risk
//! -- references: project_id -> project.stream_id
//! SELECT …
//! ```
//!
//! The header is the leading `--` block. A line `-- word: …` whose word is
//! not one of the keys above (or `tables`, as in the query library) is an
//! error naming its line, so a misspelt `-- keys:` does not pass unseen.

use std::path::Path;

use crate::sql::queries::QueryFile;
use crate::{Error, Result};

/// A projection file's name (for messages) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionSource {
    pub origin: String,
    pub text: String,
}

impl ProjectionSource {
    /// Reads one file.
    pub fn from_path(path: &Path) -> Result<Self> {
        Ok(Self {
            origin: path.display().to_string(),
            text: std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?,
        })
    }

    /// Every `.sql` file of `dir` (not its subfolders), sorted by name.
    pub fn discover(dir: &Path) -> Result<Vec<Self>> {
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let path = entry.map_err(|e| Error::io(dir, e))?.path();
            if path.is_file() && path.extension().is_some_and(|x| x == "sql") {
                paths.push(path);
            }
        }
        paths.sort();
        paths.iter().map(|p| Self::from_path(p)).collect()
    }
}

/// A rule a projection's rows must keep, declared in its header and run by
/// `check` (one test case each). `line` is the header line (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    pub line: usize,
    pub rule: Rule,
}

/// What a [`Contract`] asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// The key columns are unique and never null (from `-- key:`).
    Key(Vec<String>),
    /// These columns are never null.
    NotNull(Vec<String>),
    /// The column holds only these values (or null).
    AcceptedValues { column: String, values: Vec<String> },
    /// Every non-null value of the column is a value of `table.target`.
    References {
        column: String,
        table: String,
        target: String,
    },
}

impl Contract {
    /// The contract's name in `check`'s report, e.g. `key`, `not_null`.
    pub fn kind(&self) -> &'static str {
        match self.rule {
            Rule::Key(_) => "key",
            Rule::NotNull(_) => "not_null",
            Rule::AcceptedValues { .. } => "accepted_values",
            Rule::References { .. } => "references",
        }
    }
}

impl Contract {
    /// The SQL whose rows are the violations of this contract by the
    /// projection table `table`: none when it holds.
    pub fn violations_sql(&self, table: &str) -> String {
        let quote = crate::sql::ident;
        let table = quote(table);
        let list =
            |columns: &[String]| -> Vec<String> { columns.iter().map(|c| quote(c)).collect() };
        let any_null = |columns: &[String]| -> String {
            let terms: Vec<String> = list(columns)
                .iter()
                .map(|c| format!("{c} IS NULL"))
                .collect();
            terms.join(" OR ")
        };
        match &self.rule {
            Rule::Key(key) => {
                let key_list = list(key).join(", ");
                format!(
                    "SELECT {key_list}, count(*) AS rows FROM {table} GROUP BY {key_list} \
                     HAVING count(*) > 1 OR {} ORDER BY {key_list}",
                    any_null(key)
                )
            }
            Rule::NotNull(columns) => {
                format!("SELECT * FROM {table} WHERE {}", any_null(columns))
            }
            Rule::AcceptedValues { column, values } => {
                let values: Vec<String> = values.iter().map(|v| crate::sql::literal(v)).collect();
                let c = quote(column);
                format!(
                    "SELECT {c}, count(*) AS rows FROM {table} \
                     WHERE CAST({c} AS VARCHAR) NOT IN ({}) GROUP BY {c} ORDER BY {c}",
                    values.join(", ")
                )
            }
            Rule::References {
                column,
                table: target_table,
                target,
            } => {
                let c = quote(column);
                format!(
                    "SELECT x.{c}, count(*) AS rows FROM {table} x WHERE x.{c} IS NOT NULL \
                     AND NOT EXISTS (SELECT 1 FROM {} y WHERE y.{} = x.{c}) GROUP BY x.{c} ORDER BY x.{c}",
                    quote(target_table),
                    quote(target)
                )
            }
        }
    }

    /// What the contract asks, for a report.
    pub fn describe(&self) -> String {
        match &self.rule {
            Rule::Key(key) => format!("key ({}) unique and not null", key.join(", ")),
            Rule::NotNull(columns) => format!("{} not null", columns.join(", ")),
            Rule::AcceptedValues { column, values } => {
                format!("{column} is one of {}", values.join(", "))
            }
            Rule::References {
                column,
                table,
                target,
            } => format!("every {column} is a {table}.{target}"),
        }
    }
}

/// A parsed SQL projection.
#[derive(Debug, Clone)]
pub struct SqlProjection {
    /// The table it becomes: the file's stem.
    pub name: String,
    pub origin: String,
    /// The `-- projection:` line.
    pub title: String,
    /// The key columns, in the order the rows are sorted by.
    pub key: Vec<String>,
    /// The key contract first, then the others in header order.
    pub contracts: Vec<Contract>,
    /// The body with every parameter given its default, without a trailing `;`.
    pub sql: String,
    /// The file's text, copied beside the table in the output.
    pub text: String,
    /// `-- partition: COLUMN = EXPR`: its rows of a value of COLUMN come only
    /// from the events whose EXPR (over `events`' columns) has that value,
    /// so an incremental run rebuilds only the values its new events have.
    pub partition: Option<Partition>,
}

/// A projection's partition ([`SqlProjection::partition`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The output column.
    pub column: String,
    /// The SQL expression over an event's columns giving that column's value.
    pub expr: String,
    /// The header line, for errors.
    pub line: usize,
}

/// Header keys a projection file may use.
const KEYS: [&str; 8] = [
    "projection",
    "key",
    "partition",
    "param",
    "not_null",
    "accepted_values",
    "references",
    "tables",
];

/// Whether `name` can be a table's name without quoting: lowercase letters,
/// digits and `_`, not starting with a digit.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn columns(list: &str) -> Vec<String> {
    list.split(',')
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect()
}

impl SqlProjection {
    /// Parses a projection file.
    pub fn parse(source: &ProjectionSource) -> Result<Self> {
        let origin = source.origin.as_str();
        let name = Path::new(origin)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| origin.to_owned());
        let at = |line: usize, message: String| Error::usage(format!("{origin}:{line}: {message}"));
        if !is_plain_name(&name) {
            return Err(at(
                1,
                format!("\"{name}\" cannot name a table: use lowercase letters, digits and _ in the file name"),
            ));
        }
        let mut title = None;
        let mut key = None;
        let mut partition = None;
        let mut contracts = Vec::new();
        for (index, line) in source.text.lines().enumerate() {
            let Some(comment) = line.trim().strip_prefix("--") else {
                break;
            };
            let line = index + 1;
            let Some((word, value)) = comment.trim().split_once(':') else {
                continue;
            };
            let (word, value) = (word.trim(), value.trim());
            let lower = word.to_ascii_lowercase();
            if lower != word && KEYS.contains(&lower.as_str()) {
                return Err(at(
                    line,
                    format!("header key \"{word}\" is written \"{lower}\" (keys are lowercase)"),
                ));
            }
            if !is_plain_name(word) || word.contains(' ') {
                continue;
            }
            if !KEYS.contains(&word) {
                return Err(at(
                    line,
                    format!(
                        "unknown header key \"{word}\"; a projection's header knows {}",
                        KEYS.join(", ")
                    ),
                ));
            }
            let rule = match word {
                "projection" => {
                    title = Some(value.to_owned());
                    continue;
                }
                "key" => {
                    let columns = columns(value);
                    if columns.is_empty() {
                        return Err(at(line, "`-- key:` names no column".into()));
                    }
                    key = Some((line, columns));
                    continue;
                }
                "partition" => {
                    let parsed = value
                        .split_once('=')
                        .map(|(column, expr)| (column.trim(), expr.trim()))
                        .filter(|(column, expr)| is_plain_name(column) && !expr.is_empty());
                    let (column, expr) = parsed.ok_or_else(|| {
                        at(
                            line,
                            format!(
                                "\"{value}\" is not `partition: COLUMN = EXPRESSION over events`"
                            ),
                        )
                    })?;
                    partition = Some(Partition {
                        column: column.to_owned(),
                        expr: expr.to_owned(),
                        line,
                    });
                    continue;
                }
                "not_null" => Rule::NotNull(columns(value)),
                "accepted_values" => {
                    let (column, values) = value.split_once('=').ok_or_else(|| {
                        at(
                            line,
                            format!("\"{value}\" is not `accepted_values: COLUMN = a|b|c`"),
                        )
                    })?;
                    Rule::AcceptedValues {
                        column: column.trim().to_owned(),
                        values: values.split('|').map(|v| v.trim().to_owned()).collect(),
                    }
                }
                "references" => {
                    let parsed = value.split_once("->").and_then(|(column, target)| {
                        let (table, target) = target.trim().rsplit_once('.')?;
                        Some(Rule::References {
                            column: column.trim().to_owned(),
                            table: table.trim().to_owned(),
                            target: target.trim().to_owned(),
                        })
                    });
                    parsed.ok_or_else(|| {
                        at(
                            line,
                            format!("\"{value}\" is not `references: COLUMN -> TABLE.COLUMN`"),
                        )
                    })?
                }
                // `param` is the query library's, `tables` documentation.
                _ => continue,
            };
            contracts.push(Contract { line, rule });
        }
        let Some(title) = title else {
            return Err(at(
                1,
                "not a projection: the header has no `-- projection: TITLE` line".into(),
            ));
        };
        if let Some(partition) = partition
            .as_ref()
            .filter(|p| !key.as_ref().is_some_and(|(_, k)| k.contains(&p.column)))
        {
            return Err(at(
                partition.line,
                format!(
                    "the partition column \"{}\" is not a key column",
                    partition.column
                ),
            ));
        }
        let Some((key_line, key)) = key else {
            return Err(at(
                1,
                "the header has no `-- key: COLUMN, …` line (a projection's rows are unique on their key)".into(),
            ));
        };
        contracts.insert(
            0,
            Contract {
                line: key_line,
                rule: Rule::Key(key.clone()),
            },
        );
        let query = QueryFile::parse(origin, &source.text)?;
        let sql = query.render(&[])?;
        let sql = sql.trim_end().trim_end_matches(';').trim_end().to_owned();
        Ok(Self {
            name,
            origin: origin.to_owned(),
            title,
            key,
            contracts,
            sql,
            text: source.text.clone(),
            partition,
        })
    }

    /// The first line (1-based) of the body that names `table` as a word,
    /// for an error about it; the first body line when none does.
    pub fn line_of(&self, table: &str) -> usize {
        let lines: Vec<&str> = self.text.lines().collect();
        let body = lines
            .iter()
            .position(|l| !l.trim().starts_with("--"))
            .unwrap_or(0);
        let word = |line: &str| {
            line.to_lowercase()
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|w| w == table)
        };
        lines
            .iter()
            .enumerate()
            .skip(body)
            .find(|(_, l)| !l.trim().starts_with("--") && word(l))
            .map_or(body + 1, |(i, _)| i + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(origin: &str, text: &str) -> Result<SqlProjection> {
        SqlProjection::parse(&ProjectionSource {
            origin: origin.into(),
            text: text.into(),
        })
    }

    #[test]
    fn a_header_gives_the_key_the_contracts_and_the_rendered_body() {
        let text = "-- projection: Progress per project\n-- Some words: not a key.\n-- key: project_id, week\n-- param: days = 14\n-- not_null: tasks\n-- accepted_values: health = ok | at_risk\n-- references: project_id -> project.stream_id\nSELECT 1 AS project_id, ${days} AS week;\n";
        let p = parse("p/progress.sql", text).unwrap();
        assert_eq!(p.partition, None);
        let daily = "-- projection: D\n-- key: day\n-- partition: day = date_trunc('day', occurred_at)\nSELECT 1 AS day";
        let partition = parse("p/daily.sql", daily).unwrap().partition.unwrap();
        assert_eq!(
            (
                partition.column.as_str(),
                partition.expr.as_str(),
                partition.line
            ),
            ("day", "date_trunc('day', occurred_at)", 3)
        );
        assert_eq!(p.name, "progress");
        assert_eq!(p.title, "Progress per project");
        assert_eq!(p.key, ["project_id", "week"]);
        assert_eq!(p.sql, "-- projection: Progress per project\n-- Some words: not a key.\n-- key: project_id, week\n-- param: days = 14\n-- not_null: tasks\n-- accepted_values: health = ok | at_risk\n-- references: project_id -> project.stream_id\nSELECT 1 AS project_id, 14 AS week");
        let kinds: Vec<(&str, usize)> = p.contracts.iter().map(|c| (c.kind(), c.line)).collect();
        assert_eq!(
            kinds,
            [
                ("key", 3),
                ("not_null", 5),
                ("accepted_values", 6),
                ("references", 7)
            ]
        );
        assert_eq!(
            p.contracts[2].rule,
            Rule::AcceptedValues {
                column: "health".into(),
                values: vec!["ok".into(), "at_risk".into()]
            }
        );
        assert_eq!(
            p.contracts[3].rule,
            Rule::References {
                column: "project_id".into(),
                table: "project".into(),
                target: "stream_id".into()
            }
        );
        assert_eq!(p.line_of("week"), 8);
    }

    #[test]
    fn mistakes_name_their_line() {
        let cases = [
            (
                "p.sql",
                "-- projection: P\n-- key: a\n-- partition: day\nSELECT 1 AS a",
                "p.sql:3: \"day\" is not `partition: COLUMN = EXPRESSION over events`",
            ),
            (
                "p.sql",
                "-- projection: P\n-- key: a\n-- partition: day = date_trunc('day', occurred_at)\nSELECT 1 AS a",
                "p.sql:3: the partition column \"day\" is not a key column",
            ),
            (
                "p.sql",
                "-- key: a\nSELECT 1 AS a",
                "p.sql:1: not a projection",
            ),
            (
                "p.sql",
                "-- projection: P\nSELECT 1 AS a",
                "p.sql:1: the header has no `-- key",
            ),
            (
                "p.sql",
                "-- projection: P\n-- keys: a\nSELECT 1",
                "p.sql:2: unknown header key \"keys\"",
            ),
            (
                "p.sql",
                "-- projection: P\n-- Key: a\nSELECT 1",
                "p.sql:2: header key \"Key\" is written \"key\"",
            ),
            (
                "p.sql",
                "-- projection: P\n-- key: a\n-- references: a -> b\nSELECT 1",
                "p.sql:3: \"a -> b\" is not `references",
            ),
            (
                "p.sql",
                "-- projection: P\n-- key: a\n-- accepted_values: a\nSELECT 1",
                "p.sql:3: \"a\" is not `accepted_values",
            ),
            (
                "p.sql",
                "-- projection: P\n-- key:\nSELECT 1",
                "p.sql:2: `-- key:` names no column",
            ),
            (
                "Board-1.sql",
                "-- projection: P\n-- key: a\nSELECT 1",
                "Board-1.sql:1: \"Board-1\" cannot name a table",
            ),
        ];
        for (origin, text, expected) in cases {
            let err = parse(origin, text).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{text:?}: {err}");
        }
    }
}
