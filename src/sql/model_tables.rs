//! The model an output was folded with, as tables SQL can read, so that a query
//! asks the model (which statuses are terminal, which event moves where) instead
//! of copying it: `model_statuses`, `model_transitions` and `model_fields`, built
//! in memory from the output's `model.toml` (columns in the README, "Output
//! tables").

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::model::{parse_model, AggregateModel, Model};
use crate::sink::manifest::MODEL_FILE;
use crate::support::progress::Observer;
use crate::Result;

/// The names of the model tables, as registered.
pub const MODEL_TABLES: [&str; 3] = ["model_statuses", "model_transitions", "model_fields"];

/// Registers the model tables of the output folder `dir` and returns their
/// names. An output without `model.toml` (written by an older eventfold), or
/// whose model does not parse, is a note to `observer` and registers none.
pub fn register_model_tables(
    ctx: &SessionContext,
    dir: &Path,
    observer: &dyn Observer,
) -> Result<Vec<String>> {
    let Some(model) = read_model(dir, observer) else {
        return Ok(Vec::new());
    };
    let mut names = Vec::with_capacity(MODEL_TABLES.len());
    for (name, batch) in model_table_batches(&model)? {
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        ctx.register_table(name, Arc::new(table))?;
        names.push(name.to_owned());
    }
    Ok(names)
}

/// The model tables of `model`, by name.
pub fn model_table_batches(model: &Model) -> Result<Vec<(&'static str, RecordBatch)>> {
    let batches = [statuses(model)?, transitions(model)?, fields(model)?];
    Ok(MODEL_TABLES.into_iter().zip(batches).collect())
}

/// The model of the output, or `None` after saying to `observer` why there is none.
fn read_model(dir: &Path, observer: &dyn Observer) -> Option<Model> {
    let path = dir.join(MODEL_FILE);
    let why = match std::fs::read_to_string(&path) {
        Ok(text) => match parse_model(&path.display().to_string(), &text) {
            Ok(model) => return Some(model),
            // The error's first line; its hint is about editing a model, not this.
            Err(e) => e.to_string().lines().next().unwrap_or_default().to_owned(),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!(
            "{} is missing (written by an older eventfold)",
            path.display()
        ),
        Err(e) => format!("{}: {e}", path.display()),
    };
    observer.note(&format!(
        "{why}; the model tables ({}) are not registered\n  hint: `eventfold run --out {}` again rewrites the output",
        MODEL_TABLES.join(", "),
        dir.display()
    ));
    None
}

/// The statuses of an aggregate's lifecycle in ordinal order: as declared, or,
/// for a lifecycle without a `statuses` list, its initial status and then the
/// others it names (terminal, `from`, `to`) alphabetically.
fn lifecycle_statuses(aggregate: &AggregateModel) -> Vec<String> {
    let Some(lifecycle) = &aggregate.lifecycle else {
        return Vec::new();
    };
    if !lifecycle.statuses.is_empty() {
        return lifecycle.statuses.clone();
    }
    let mut named: BTreeSet<&str> = lifecycle.terminal.iter().map(String::as_str).collect();
    for handler in aggregate.handlers.values() {
        named.extend(handler.from.iter().flatten().map(String::as_str));
        named.extend(handler.to.as_deref());
    }
    let initial: &str = &lifecycle.initial;
    named.remove(initial);
    std::iter::once(initial)
        .chain(named)
        .map(str::to_owned)
        .collect()
}

/// One column of a model table: its field and its values.
struct Column(Field, ArrayRef);

/// A text column; `nullable` when a value may be missing.
fn text<'a>(name: &str, nullable: bool, values: impl Iterator<Item = Option<&'a str>>) -> Column {
    let values: StringArray = values.collect();
    Column(Field::new(name, DataType::Utf8, nullable), Arc::new(values))
}

/// A text column without missing values.
fn names<'a>(name: &str, values: impl Iterator<Item = &'a str>) -> Column {
    text(name, false, values.map(Some))
}

fn flags(name: &str, values: impl Iterator<Item = bool>) -> Column {
    let values: BooleanArray = values.map(Some).collect();
    Column(Field::new(name, DataType::Boolean, false), Arc::new(values))
}

fn ordinals(name: &str, values: impl Iterator<Item = u32>) -> Column {
    let values: UInt32Array = values.collect();
    Column(Field::new(name, DataType::UInt32, false), Arc::new(values))
}

/// The batch of `columns`.
fn batch(columns: Vec<Column>) -> Result<RecordBatch> {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) =
        columns.into_iter().map(|Column(f, a)| (f, a)).unzip();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// The 1-based position of the `index`th item.
fn ordinal(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

/// `model_statuses`: one row per status of each aggregate type with a lifecycle.
fn statuses(model: &Model) -> Result<RecordBatch> {
    let mut rows = Vec::new();
    for aggregate in &model.aggregates {
        let Some(lifecycle) = &aggregate.lifecycle else {
            continue;
        };
        for (index, status) in lifecycle_statuses(aggregate).into_iter().enumerate() {
            let initial = *status == *lifecycle.initial;
            let terminal = aggregate.is_terminal(&status);
            rows.push((
                aggregate.name.as_str(),
                status,
                ordinal(index),
                initial,
                terminal,
            ));
        }
    }
    batch(vec![
        names("aggregate_type", rows.iter().map(|r| r.0)),
        names("status", rows.iter().map(|r| r.1.as_str())),
        ordinals("ordinal", rows.iter().map(|r| r.2)),
        flags("is_initial", rows.iter().map(|r| r.3)),
        flags("is_terminal", rows.iter().map(|r| r.4)),
    ])
}

/// One row of `model_transitions`.
struct Transition<'a> {
    aggregate_type: &'a str,
    event_type: &'a str,
    from: Option<&'a str>,
    to: Option<&'a str>,
    creates: bool,
}

/// `model_transitions`: per aggregate type (in model order) and event type
/// (alphabetically), one row per status the event is allowed from, in the
/// order declared; one row with no `from_status` when the event is allowed
/// from any non-terminal status or creates the stream.
fn transitions(model: &Model) -> Result<RecordBatch> {
    let mut rows: Vec<Transition> = Vec::new();
    for aggregate in &model.aggregates {
        let mut event_types: Vec<&String> = aggregate.handlers.keys().collect();
        event_types.sort();
        for event_type in event_types {
            let handler = &aggregate.handlers[event_type];
            let mut to = handler.to.as_deref();
            if handler.creates {
                // Creation enters the initial status unless `to` says otherwise.
                to = to.or(aggregate.lifecycle.as_ref().map(|l| &*l.initial));
            }
            let row = |from| Transition {
                aggregate_type: &aggregate.name,
                event_type,
                from,
                to,
                creates: handler.creates,
            };
            match handler.from.as_ref().filter(|_| !handler.creates) {
                Some(from) => rows.extend(from.iter().map(|status| row(Some(status.as_str())))),
                None => rows.push(row(None)),
            }
        }
    }
    batch(vec![
        names("aggregate_type", rows.iter().map(|r| r.aggregate_type)),
        names("event_type", rows.iter().map(|r| r.event_type)),
        text("from_status", true, rows.iter().map(|r| r.from)),
        text("to_status", true, rows.iter().map(|r| r.to)),
        flags("creates", rows.iter().map(|r| r.creates)),
    ])
}

/// `model_fields`: one row per declared state field, in declared order.
fn fields(model: &Model) -> Result<RecordBatch> {
    let rows: Vec<(&str, &str, &str, u32)> = model
        .aggregates
        .iter()
        .flat_map(|aggregate| {
            aggregate.fields.iter().enumerate().map(|(index, field)| {
                (
                    aggregate.name.as_str(),
                    field.name.as_str(),
                    field.field_type.name(),
                    ordinal(index),
                )
            })
        })
        .collect();
    batch(vec![
        names("aggregate_type", rows.iter().map(|r| r.0)),
        names("field", rows.iter().map(|r| r.1)),
        names("type", rows.iter().map(|r| r.2)),
        ordinals("ordinal", rows.iter().map(|r| r.3)),
    ])
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::embedded::SAMPLE_MODEL;
    use crate::sql::{run_sql, session, SessionOptions};

    /// The notes an observer was given.
    #[derive(Default)]
    struct Notes(Mutex<Vec<String>>);

    impl Observer for Notes {
        fn note(&self, text: &str) {
            self.0.lock().unwrap().push(text.to_owned());
        }
    }

    /// Over an output folder holding `model` as its model file (none when
    /// `None`): the tables registered, the notes, and the rows of `sql` as a
    /// text table (empty when no table was registered).
    fn over(model: Option<&str>, sql: &str) -> (Vec<String>, Vec<String>, String) {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = model {
            std::fs::write(dir.path().join(MODEL_FILE), text).unwrap();
        }
        let ctx = session(&SessionOptions::default()).unwrap();
        let notes = Notes::default();
        let names = register_model_tables(&ctx, dir.path(), &notes).unwrap();
        let rows = if names.is_empty() {
            String::new()
        } else {
            let batches = crate::sql::runtime()
                .unwrap()
                .block_on(run_sql(&ctx, sql))
                .unwrap();
            arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string()
        };
        let notes = notes.0.into_inner().unwrap();
        (names, notes, rows)
    }

    fn lines(table: &[&str]) -> String {
        table.join("\n")
    }

    #[test]
    fn the_task_model_as_tables() {
        let (names, notes, rows) = over(
            Some(SAMPLE_MODEL),
            "SELECT aggregate_type, status, ordinal, is_initial, is_terminal FROM model_statuses",
        );
        assert_eq!(names, MODEL_TABLES);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(
            rows,
            lines(&[
                "+----------------+-------------+---------+------------+-------------+",
                "| aggregate_type | status      | ordinal | is_initial | is_terminal |",
                "+----------------+-------------+---------+------------+-------------+",
                "| project        | active      | 1       | true       | false       |",
                "| project        | archived    | 2       | false      | true        |",
                "| task           | open        | 1       | true       | false       |",
                "| task           | in_progress | 2       | false      | false       |",
                "| task           | blocked     | 3       | false      | false       |",
                "| task           | done        | 4       | false      | true        |",
                "| task           | cancelled   | 5       | false      | true        |",
                "| task           | archived    | 6       | false      | true        |",
                "+----------------+-------------+---------+------------+-------------+",
            ])
        );
        let (_, _, rows) = over(
            Some(SAMPLE_MODEL),
            "SELECT * FROM model_transitions WHERE event_type IN \
             ('ProjectCreated', 'ProjectRenamed', 'TaskCompleted', 'TaskReopened')",
        );
        assert_eq!(
            rows,
            lines(&[
                "+----------------+----------------+-------------+-----------+---------+",
                "| aggregate_type | event_type     | from_status | to_status | creates |",
                "+----------------+----------------+-------------+-----------+---------+",
                "| project        | ProjectCreated |             | active    | true    |",
                "| project        | ProjectRenamed |             |           | false   |",
                "| task           | TaskCompleted  | open        | done      | false   |",
                "| task           | TaskCompleted  | in_progress | done      | false   |",
                "| task           | TaskReopened   | done        | open      | false   |",
                "| task           | TaskReopened   | cancelled   | open      | false   |",
                "+----------------+----------------+-------------+-----------+---------+",
            ])
        );
        let (_, _, rows) = over(
            Some(SAMPLE_MODEL),
            "SELECT aggregate_type, count(*) AS fields, max(ordinal) AS last, \
             string_agg(field || ':' || type, ' ' ORDER BY ordinal) AS declared \
             FROM model_fields GROUP BY aggregate_type ORDER BY aggregate_type",
        );
        assert!(
            rows.contains("| project        | 4      | 4    | name:string owner:string members:list archived_at:timestamp "),
            "{rows}"
        );
        assert!(rows.contains("| task           | 13     | 13   | title:string project_id:string created_by:string assignee:string priority:int urgent:bool estimate_hours:float labels:list blocked_reason:string comment_count:int reopen_count:int completed_at:timestamp completed_by:string |"), "{rows}");
    }

    /// Without a `statuses` list, the statuses are the ones the lifecycle and
    /// its events name, the initial one first; a creation event with a `to`
    /// enters that status; an aggregate without a lifecycle has no statuses
    /// and its events no status change.
    #[test]
    fn statuses_named_but_not_listed() {
        let model = "[aggregates.t.lifecycle]\ninitial = \"new\"\nterminal = [\"shut\"]\n\
            [aggregates.t.events.Made]\ncreates = true\nto = \"busy\"\n\
            [aggregates.t.events.Go]\nfrom = [\"new\", \"idle\"]\nto = \"busy\"\n\
            [aggregates.log.events.Noted]\ncreates = true\n";
        let (_, _, rows) = over(
            Some(model),
            "SELECT aggregate_type, status, ordinal, is_initial, is_terminal FROM model_statuses",
        );
        assert_eq!(
            rows,
            lines(&[
                "+----------------+--------+---------+------------+-------------+",
                "| aggregate_type | status | ordinal | is_initial | is_terminal |",
                "+----------------+--------+---------+------------+-------------+",
                "| t              | new    | 1       | true       | false       |",
                "| t              | busy   | 2       | false      | false       |",
                "| t              | idle   | 3       | false      | false       |",
                "| t              | shut   | 4       | false      | true        |",
                "+----------------+--------+---------+------------+-------------+",
            ])
        );
        let (_, _, rows) = over(Some(model), "SELECT * FROM model_transitions");
        assert_eq!(
            rows,
            lines(&[
                "+----------------+------------+-------------+-----------+---------+",
                "| aggregate_type | event_type | from_status | to_status | creates |",
                "+----------------+------------+-------------+-----------+---------+",
                "| t              | Go         | new         | busy      | false   |",
                "| t              | Go         | idle        | busy      | false   |",
                "| t              | Made       |             | busy      | true    |",
                "| log            | Noted      |             |           | true    |",
                "+----------------+------------+-------------+-----------+---------+",
            ])
        );
    }

    /// An output without a model file, or with one that does not parse,
    /// registers no model table and says why.
    #[test]
    fn a_missing_or_broken_model_is_a_note() {
        let (names, notes, _) = over(None, "");
        assert!(names.is_empty());
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("model.toml is missing (written by an older eventfold); the model tables (model_statuses, model_transitions, model_fields) are not registered\n  hint: `eventfold run --out "), "{notes:?}");
        let (names, notes, _) = over(Some("[aggregates.task\n"), "");
        assert!(names.is_empty());
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].contains("model.toml:1: ") && notes[0].contains("; the model tables ("),
            "{notes:?}"
        );
        assert_eq!(notes[0].lines().count(), 2, "{notes:?}");
    }
}
