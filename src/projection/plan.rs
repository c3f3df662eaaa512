//! The order SQL projections are built in, and their check before a run.
//!
//! A projection reads the output's tables and may read other projections:
//! the tables each one reads are found from its parsed statement (its CTEs
//! left out), and the projections are ordered so that each comes after those
//! it reads (ties by name). A cycle is an error naming it; a table that is
//! neither the output's nor a projection is an error naming the file and line.
//!
//! [`check`] then plans every projection, in that order, against empty tables
//! of the schemas the run will write: an unknown column, a type error or a key
//! column the `SELECT` does not give is reported before any input is read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};

use super::definition::SqlProjection;
use crate::{Error, Result};

/// The projections in build order, with the projections each one reads.
#[derive(Debug, Clone, Default)]
pub struct Ordered {
    pub projections: Vec<SqlProjection>,
    /// Per projection, the tables it reads (the output's, the keyed folds'
    /// and other projections).
    pub reads: BTreeMap<String, BTreeSet<String>>,
}

impl Ordered {
    /// The names given and every projection that reads one of them, directly
    /// or not, in build order: what `project NAME` rebuilds.
    pub fn downstream_of(&self, names: &BTreeSet<String>) -> BTreeSet<String> {
        let mut chosen = names.clone();
        for projection in &self.projections {
            let reads = &self.reads[&projection.name];
            if reads.iter().any(|r| chosen.contains(r)) {
                chosen.insert(projection.name.clone());
            }
        }
        chosen
    }
}

/// The tables `projection` reads (lowercase names, CTEs left out).
fn tables_read(ctx: &SessionContext, projection: &SqlProjection) -> Result<BTreeSet<String>> {
    let origin = |e: Error| e.with_origin(&projection.origin);
    let statements = DFParser::parse_sql(&projection.sql).map_err(|e| origin(Error::sql(e)))?;
    let statement = match statements.len() {
        1 => &statements[0],
        n => {
            return Err(Error::usage(format!(
                "{}: a projection is one SELECT; this file holds {n} statements",
                projection.origin
            )))
        }
    };
    let is_query = matches!(statement, Statement::Statement(s)
        if matches!(**s, datafusion::sql::sqlparser::ast::Statement::Query(_)));
    if !is_query {
        return Err(Error::usage(format!(
            "{}:{}: a projection is one SELECT (or WITH … SELECT)",
            projection.origin,
            projection.line_of("")
        )));
    }
    let references = ctx
        .state()
        .resolve_table_references(statement)
        .map_err(|e| origin(Error::sql(e)))?;
    Ok(references
        .iter()
        .map(|table| table.table().to_owned())
        .collect())
}

/// Orders `projections` after the tables they read: `tables` are the output's
/// own (and the keyed folds'), which every projection may read.
pub fn order(projections: Vec<SqlProjection>, tables: &BTreeSet<String>) -> Result<Ordered> {
    let ctx = SessionContext::new();
    let names: BTreeSet<String> = projections.iter().map(|p| p.name.clone()).collect();
    let mut seen = BTreeMap::new();
    for projection in &projections {
        if let Some(first) = seen.insert(projection.name.clone(), projection.origin.clone()) {
            return Err(Error::usage(format!(
                "{} and {first} both define the projection \"{}\"",
                projection.origin, projection.name
            )));
        }
        if tables.contains(&projection.name) {
            return Err(Error::usage(format!(
                "{}:1: the projection \"{}\" has the name of a table the output already has; rename the file",
                projection.origin, projection.name
            )));
        }
    }
    let mut reads = BTreeMap::new();
    let mut waiting: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for projection in &projections {
        let read = tables_read(&ctx, projection)?;
        for table in &read {
            if !names.contains(table) && !tables.contains(table) {
                let known: Vec<&str> = tables.iter().chain(&names).map(String::as_str).collect();
                return Err(Error::usage(format!(
                    "{}:{}: reads the table \"{table}\", which the output does not have\n  hint: the tables a projection can read: {}",
                    projection.origin,
                    projection.line_of(table),
                    known.join(", ")
                )));
            }
        }
        let read_projections: BTreeSet<String> = read
            .iter()
            .filter(|t| names.contains(*t) || tables.contains(*t))
            .cloned()
            .collect();
        let pending: BTreeSet<String> = read
            .into_iter()
            .filter(|t| names.contains(t) && *t != projection.name)
            .collect();
        if pending.is_empty() && read_projections.contains(&projection.name) {
            return Err(cycle_error(
                &projections,
                std::slice::from_ref(&projection.name),
            ));
        }
        reads.insert(projection.name.clone(), read_projections);
        waiting.insert(projection.name.clone(), pending);
    }
    // Kahn's order, each round taking the ready projection first by name.
    let mut by_name: BTreeMap<String, SqlProjection> = projections
        .into_iter()
        .map(|p| (p.name.clone(), p))
        .collect();
    let mut ordered = Vec::new();
    while let Some(ready) = waiting
        .iter()
        .find(|(_, pending)| pending.is_empty())
        .map(|(name, _)| name.clone())
    {
        waiting.remove(&ready);
        for pending in waiting.values_mut() {
            pending.remove(&ready);
        }
        ordered.extend(by_name.remove(&ready));
    }
    if !waiting.is_empty() {
        let path = find_cycle(&waiting);
        let left: Vec<SqlProjection> = by_name.into_values().collect();
        return Err(cycle_error(&left, &path));
    }
    Ok(Ordered {
        projections: ordered,
        reads,
    })
}

/// A cycle among the projections still waiting (each waits for another).
fn find_cycle(waiting: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut path: Vec<String> = Vec::new();
    let mut current = waiting.keys().next().cloned().unwrap_or_default();
    while !path.contains(&current) {
        path.push(current.clone());
        match waiting.get(&current).and_then(|p| p.iter().next()) {
            Some(next) => current = next.clone(),
            None => break,
        }
    }
    let start = path.iter().position(|p| *p == current).unwrap_or(0);
    path.split_off(start)
}

fn cycle_error(projections: &[SqlProjection], cycle: &[String]) -> Error {
    let origin = |name: &String| {
        projections
            .iter()
            .find(|p| &p.name == name)
            .map_or(name.clone(), |p| format!("{name} ({})", p.origin))
    };
    let mut steps: Vec<String> = cycle.iter().map(origin).collect();
    steps.extend(cycle.first().map(origin));
    Error::usage(format!(
        "the projections read each other in a cycle: {}\n  hint: a projection can read only projections that do not read it back",
        steps.join(" -> ")
    ))
}

/// Plans every projection, in order, against empty tables of `schemas` (the
/// output's tables as the run will write them), each projection's result
/// becoming a table for those after it: an SQL error names the file. Returns
/// each projection's columns.
pub async fn check(
    ordered: &Ordered,
    schemas: &[(String, SchemaRef)],
) -> Result<BTreeMap<String, SchemaRef>> {
    let ctx = crate::sql::session(&Default::default())?;
    for (name, schema) in schemas {
        register_empty(&ctx, name, schema.clone())?;
    }
    let mut results = BTreeMap::new();
    for projection in &ordered.projections {
        let frame = ctx
            .sql(&projection.sql)
            .await
            .map_err(|e| Error::sql(e).with_origin(&projection.origin))?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        for column in &projection.key {
            if schema.field_with_name(column).is_err() {
                let given: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Err(Error::usage(format!(
                    "{}:{}: the key column \"{column}\" is not a column of the SELECT (it gives: {})",
                    projection.origin,
                    projection
                        .contracts
                        .first()
                        .map_or(1, |contract| contract.line),
                    given.join(", ")
                )));
            }
        }
        register_empty(&ctx, &projection.name, schema.clone())?;
        results.insert(projection.name.clone(), schema);
    }
    Ok(results)
}

fn register_empty(ctx: &SessionContext, name: &str, schema: SchemaRef) -> Result<()> {
    let table = MemTable::try_new(schema, vec![vec![]])?;
    ctx.register_table(name, Arc::new(table))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::definition::ProjectionSource;

    fn projection(name: &str, body: &str) -> SqlProjection {
        SqlProjection::parse(&ProjectionSource {
            origin: format!("projections/{name}.sql"),
            text: format!("-- projection: {name}\n-- key: k\n{body}\n"),
        })
        .unwrap()
    }

    fn tables() -> BTreeSet<String> {
        ["events", "task"].into_iter().map(String::from).collect()
    }

    #[test]
    fn projections_are_built_after_those_they_read() {
        let all = vec![
            projection("a", "SELECT k FROM c JOIN b USING (k)"),
            projection("b", "WITH x AS (SELECT k FROM events) SELECT k FROM x"),
            projection("c", "SELECT k FROM b"),
            projection("d", "SELECT stream_id AS k FROM task"),
        ];
        let ordered = order(all, &tables()).unwrap();
        let names: Vec<&str> = ordered
            .projections
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["b", "c", "a", "d"]);
        let b: BTreeSet<String> = ["b".to_owned()].into();
        let downstream: Vec<String> = ordered.downstream_of(&b).into_iter().collect();
        assert_eq!(downstream, ["a", "b", "c"]);
    }

    #[test]
    fn a_cycle_and_an_unknown_table_are_errors_naming_them() {
        let all = vec![
            projection("a", "SELECT k FROM b"),
            projection("b", "SELECT k FROM c"),
            projection("c", "SELECT k FROM a"),
            projection("d", "SELECT k FROM events"),
        ];
        let err = order(all, &tables()).unwrap_err().to_string();
        assert!(
            err.starts_with("the projections read each other in a cycle: a (projections/a.sql) -> b (projections/b.sql) -> c (projections/c.sql) -> a (projections/a.sql)"),
            "{err}"
        );
        let err = order(vec![projection("a", "SELECT k FROM a")], &tables())
            .unwrap_err()
            .to_string();
        assert!(err.contains("cycle: a (projections/a.sql) -> a"), "{err}");
        let all = vec![projection("a", "SELECT k\nFROM evnts")];
        let err = order(all, &tables()).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "projections/a.sql:4: reads the table \"evnts\", which the output does not have"
            ),
            "{err}"
        );
        let err = order(vec![projection("task", "SELECT 1 AS k")], &tables())
            .unwrap_err()
            .to_string();
        assert!(err.contains("has the name of a table the output already has"));
    }

    #[test]
    fn planning_against_empty_tables_finds_unknown_columns_and_keys() {
        use arrow::datatypes::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true)]));
        let schemas = vec![("events".to_owned(), schema)];
        let runtime = crate::sql::runtime().unwrap();
        let run = |body: &str| {
            let ordered = order(vec![projection("a", body)], &tables()).unwrap();
            runtime.block_on(check(&ordered, &schemas))
        };
        assert!(run("SELECT k, count(*) AS n FROM events GROUP BY k").is_ok());
        let err = run("SELECT kk AS k FROM events").unwrap_err().to_string();
        assert!(err.contains("projections/a.sql"), "{err}");
        assert!(err.contains("kk"), "{err}");
        let err = run("SELECT k AS j FROM events").unwrap_err().to_string();
        assert!(
            err.starts_with("projections/a.sql:2: the key column \"k\" is not a column of the SELECT (it gives: j)"),
            "{err}"
        );
    }
}
