//! Checks: the replay's findings and the check queries, judged against a fail
//! level, reported as a summary and as JUnit XML for CI systems.
//!
//! Each replay rule and each check query is one check. A check "fails" when it
//! has rows; the command fails (exit 1) when a failing check's severity is at or
//! above `--fail-on`. A check query that reads a table this output does not have
//! (a task-specific check on another domain) is skipped, not failed.

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;

use std::path::Path;

use crate::projection::{Contract, ProjectionSource, Rule, SqlProjection};
use crate::replay::Rule as ReplayRule;
use crate::sink::manifest::Manifest;
use crate::sql::queries::{QueryFile, Severity};
use crate::sql::{describe_row, projection_tables, run_sql};
use crate::{Error, Result};

/// Examples kept per check for the report.
pub const EXAMPLES: usize = 3;

/// The result of one check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckOutcome {
    /// Which kind of check: `replay` (the replay's rules), `checks` (a check
    /// query) or `projections` (a projection's contract).
    pub suite: String,
    /// `replay` for the replay's rules, else the query file (a contract's
    /// projection file and header line).
    pub source: String,
    pub name: String,
    pub title: String,
    pub severity: Severity,
    pub rows: u64,
    /// The first rows, each as `column=value, …`.
    pub examples: Vec<String>,
    /// Why the check did not run, when it did not.
    pub skipped: Option<String>,
}

/// One outcome per replay rule, from the `findings` table.
pub async fn replay_outcomes(ctx: &SessionContext) -> Result<Vec<CheckOutcome>> {
    let batches = run_sql(
        ctx,
        "SELECT rule, stream_id, version, message, n, severity FROM (
           SELECT rule, stream_id, version, message, severity, count(*) OVER (PARTITION BY rule) AS n,
                  row_number() OVER (PARTITION BY rule ORDER BY aggregate_type, stream_id, version, position) AS rn
           FROM findings) WHERE rn <= 3 ORDER BY rule, rn",
    )
    .await?;
    let mut outcomes: Vec<CheckOutcome> = ReplayRule::ALL
        .iter()
        .map(|rule| CheckOutcome {
            suite: "replay".into(),
            source: "replay".into(),
            name: rule.name().into(),
            title: format!("replay rule {}", rule.name()),
            severity: Severity::parse(rule.severity()).unwrap_or(Severity::Error),
            rows: 0,
            examples: Vec::new(),
            skipped: None,
        })
        .collect();
    for batch in &batches {
        let rules = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
        let counts = batch.column(4).as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let rule = rules.as_string::<i32>().value(row);
            if let Some(outcome) = outcomes.iter_mut().find(|o| o.name == rule) {
                outcome.rows = counts.value(row).max(0) as u64;
                // The model may set a rule's severity (`unauthorised_action`).
                let severity = array_value_to_string(batch.column(5), row)?;
                outcome.severity = Severity::parse(&severity).unwrap_or(outcome.severity);
                outcome.examples.push(format!(
                    "{} v{}: {}",
                    array_value_to_string(batch.column(1), row)?,
                    array_value_to_string(batch.column(2), row)?,
                    array_value_to_string(batch.column(3), row)?
                ));
            }
        }
    }
    Ok(outcomes)
}

/// Runs one check query.
pub async fn query_outcome(
    ctx: &SessionContext,
    query: &QueryFile,
    params: &[(String, String)],
) -> Result<CheckOutcome> {
    let mut outcome = CheckOutcome {
        suite: "checks".into(),
        source: query.origin.clone(),
        name: query.name.clone(),
        title: query.title.clone(),
        severity: query.severity.unwrap_or(Severity::Error),
        rows: 0,
        examples: Vec::new(),
        skipped: None,
    };
    let relevant: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| query.params.iter().any(|(p, _)| p == k))
        .cloned()
        .collect();
    let sql = query.render(&relevant)?;
    match run_sql(ctx, &sql).await {
        Ok(batches) => {
            for batch in &batches {
                for row in 0..batch.num_rows() {
                    if outcome.examples.len() < EXAMPLES {
                        outcome.examples.push(describe_row(batch, row));
                    }
                }
                outcome.rows += batch.num_rows() as u64;
            }
        }
        Err(Error::Sql {
            missing_table: Some(table),
            ..
        }) => {
            outcome.skipped = Some(format!("reads {table}, which this output does not have"));
        }
        Err(Error::Sql {
            source,
            missing_table,
            hint,
            ..
        }) => {
            return Err(Error::Sql {
                origin: Some(query.origin.clone()),
                source,
                missing_table,
                hint,
            });
        }
        Err(other) => return Err(other),
    }
    Ok(outcome)
}

/// One outcome per contract of every projection of the output at `dir`: a
/// SQL projection's from its header (the definition copied beside its
/// table), a keyed fold's key from the manifest. A contract that reads a
/// table the output lacks is skipped.
pub async fn contract_outcomes(ctx: &SessionContext, dir: &Path) -> Result<Vec<CheckOutcome>> {
    let manifest = Manifest::read(dir)?.unwrap_or_default();
    let mut outcomes = Vec::new();
    for (name, table) in projection_tables(dir) {
        let definition = table.with_extension("sql");
        let (origin, contracts) = if definition.is_file() {
            let projection = SqlProjection::parse(&ProjectionSource::from_path(&definition)?)?;
            (projection.origin, projection.contracts)
        } else if let Some(entry) = manifest.projections.get(&name) {
            let key = Contract {
                line: 0,
                rule: Rule::Key(entry.key.clone()),
            };
            (entry.source.clone(), vec![key])
        } else {
            continue;
        };
        for contract in contracts {
            let at = match contract.line {
                0 => origin.clone(),
                line => format!("{origin}:{line}"),
            };
            let query = QueryFile {
                origin: at,
                name: format!("{name}.{}", contract.kind()),
                title: format!("projection {name}: {}", contract.describe()),
                params: Vec::new(),
                severity: Some(Severity::Error),
                sql: contract.violations_sql(&name),
            };
            let mut outcome = query_outcome(ctx, &query, &[]).await?;
            outcome.suite = "projections".into();
            outcomes.push(outcome);
        }
    }
    Ok(outcomes)
}

/// Whether any check at or above `fail_on` found rows.
pub fn violated(outcomes: &[CheckOutcome], fail_on: Severity) -> bool {
    outcomes
        .iter()
        .any(|o| o.rows > 0 && o.skipped.is_none() && o.severity >= fail_on)
}

/// The outcomes as JUnit XML: one test suite per source kind, one test case
/// per check; a check with rows is a failure, a skipped check is skipped.
pub fn junit_xml(outcomes: &[CheckOutcome], fail_on: Severity) -> String {
    use quick_xml::escape::escape;
    let failing = |o: &CheckOutcome| o.rows > 0 && o.skipped.is_none() && o.severity >= fail_on;
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let failures = outcomes.iter().filter(|o| failing(o)).count();
    let skipped = outcomes.iter().filter(|o| o.skipped.is_some()).count();
    xml.push_str(&format!(
        "<testsuites name=\"eventfold check\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">\n",
        outcomes.len()
    ));
    for kind in ["replay", "checks", "projections"] {
        let suite = format!("eventfold.{kind}");
        let cases: Vec<&CheckOutcome> = outcomes.iter().filter(|o| o.suite == kind).collect();
        if cases.is_empty() && kind == "projections" {
            continue;
        }
        xml.push_str(&format!(
            "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">\n",
            cases.len(),
            cases.iter().filter(|o| failing(o)).count(),
            cases.iter().filter(|o| o.skipped.is_some()).count()
        ));
        for case in cases {
            xml.push_str(&format!(
                "    <testcase classname=\"{suite}\" name=\"{}\" file=\"{}\">",
                escape(case.name.as_str()),
                escape(case.source.as_str())
            ));
            if let Some(reason) = &case.skipped {
                xml.push_str(&format!(
                    "<skipped message=\"{}\"/>",
                    escape(reason.as_str())
                ));
            } else if case.rows > 0 {
                let tag = if failing(case) {
                    "failure"
                } else {
                    "system-out"
                };
                let message = format!(
                    "{} violating rows ({}): {}",
                    case.rows,
                    case.severity.name(),
                    case.title
                );
                let body = case.examples.join("\n");
                if tag == "failure" {
                    xml.push_str(&format!(
                        "<failure message=\"{}\" type=\"{}\">{}</failure>",
                        escape(message.as_str()),
                        case.severity.name(),
                        escape(body.as_str())
                    ));
                } else {
                    xml.push_str(&format!(
                        "<system-out>{}\n{}</system-out>",
                        escape(message.as_str()),
                        escape(body.as_str())
                    ));
                }
            }
            xml.push_str("</testcase>\n");
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}
