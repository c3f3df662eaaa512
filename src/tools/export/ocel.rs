//! `export ocel`: the output as an OCEL 2.0 object-centric event log, in its
//! JSON form (`.jsonocel`, written as it goes with serde_json, one element at
//! a time) or its SQLite form (`.sqlite`, through rusqlite with SQLite
//! bundled).
//!
//! The mapping: an object per aggregate of a declared type that has a state
//! table (type = the aggregate type, id = the stream id), its attributes the
//! status and the model's fields; with `state_history` the first value of
//! each is the one after the first event and every later change is an
//! attribute change at the time of the event that made it, else the final
//! values at the time of the last event (lists as JSON text). An event per
//! event of those aggregates (id = event_id, type, time, the payload's
//! top-level fields as attributes). Event-to-object relations: the event's
//! own aggregate (qualifier `stream`) and each object its aggregate's
//! `references` name in the state after the event (with history; else in the
//! final state), qualifier = the field's name; object-to-object relations
//! from the same references in the final state. A reference to an object
//! the output does not hold is left out, so every relation joins two objects
//! of the log. The ids of the referenced types' objects are held in memory
//! (typically the few parents, such as projects); stream ids are taken to be
//! unique across aggregate types, as OCEL's object ids must be.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use indexmap::IndexMap;

use super::{for_each_batch, has_table, payload_attributes, Column, Value};
use crate::model::{AggregateModel, Model};
use crate::sql::{ident, literal};
use crate::{Error, Result};

/// The two forms of OCEL 2.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcelForm {
    Json,
    Sqlite,
}

impl OcelForm {
    /// The form a file name asks for: `.jsonocel` or `.json`, `.sqlite` or `.db`.
    pub fn of_path(path: &Path) -> Option<Self> {
        let name = path.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".jsonocel") || name.ends_with(".json") {
            Some(Self::Json)
        } else if name.ends_with(".sqlite") || name.ends_with(".sqlite3") || name.ends_with(".db") {
            Some(Self::Sqlite)
        } else {
            None
        }
    }
}

/// What an OCEL export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OcelSummary {
    pub object_types: u64,
    pub event_types: u64,
    pub objects: u64,
    pub events: u64,
    pub e2o: u64,
    pub o2o: u64,
}

/// One object: its attribute values over time and its relations.
pub struct Object {
    pub id: String,
    pub kind: String,
    /// (attribute, time in µs, value), the first value of each attribute first.
    pub attributes: Vec<(String, i64, Value)>,
    /// (target object, qualifier).
    pub relations: Vec<(String, String)>,
}

/// One event with its attributes and relations.
pub struct OcelEvent {
    pub id: String,
    pub kind: String,
    pub time: i64,
    pub attributes: Vec<(String, Value)>,
    /// (object, qualifier).
    pub relations: Vec<(String, String)>,
}

/// An object type: its name and its attributes with their OCEL types.
pub type TypeDef = (String, Vec<(String, &'static str)>);

/// Where an OCEL log is written: the JSON or the SQLite form.
trait Sink {
    fn object(&mut self, object: &Object) -> Result<()>;
    fn event(&mut self, event: &OcelEvent) -> Result<()>;
    /// Ends the log; `event_types` are the attributes seen per event type.
    fn finish(self: Box<Self>, event_types: &[TypeDef]) -> Result<()>;
}

/// The OCEL type of a model field type.
fn field_ocel_type(field_type: crate::model::FieldType) -> &'static str {
    use crate::model::FieldType;
    match field_type {
        FieldType::Int => "integer",
        FieldType::Float => "float",
        FieldType::Bool => "boolean",
        FieldType::Timestamp => "time",
        FieldType::String | FieldType::List => "string",
    }
}

/// The attributes of an aggregate's objects: its status (when it has a
/// lifecycle) and its fields.
fn attribute_names(aggregate: &AggregateModel) -> Vec<(String, &'static str)> {
    let status = aggregate
        .lifecycle
        .as_ref()
        .map(|l| (l.status_field.clone(), "string"));
    status
        .into_iter()
        .chain(
            aggregate
                .fields
                .iter()
                .map(|f| (f.name.clone(), field_ocel_type(f.field_type))),
        )
        .collect()
}

/// Writes the output in the session (its tables registered, `model` its
/// model) as OCEL 2.0 to `path`, in `form`.
pub async fn write_ocel(
    ctx: &SessionContext,
    model: &Model,
    path: &Path,
    form: OcelForm,
) -> Result<OcelSummary> {
    let aggregates: Vec<&AggregateModel> = model
        .aggregates
        .iter()
        .filter(|a| has_table(ctx, &a.name))
        .collect();
    let types: Vec<TypeDef> = aggregates
        .iter()
        .map(|a| (a.name.clone(), attribute_names(a)))
        .collect();
    let mut sink: Box<dyn Sink> = match form {
        OcelForm::Json => Box::new(JsonSink::create(path, &types)?),
        OcelForm::Sqlite => Box::new(SqliteSink::create(path, &types)?),
    };
    let existing = referenced_ids(ctx, &aggregates).await?;
    let mut summary = OcelSummary {
        object_types: types.len() as u64,
        ..OcelSummary::default()
    };
    for (aggregate, (_, attributes)) in aggregates.iter().zip(&types) {
        write_objects(
            ctx,
            aggregate,
            attributes,
            &existing,
            sink.as_mut(),
            &mut summary,
        )
        .await?;
    }
    let mut event_types: IndexMap<String, IndexMap<String, &'static str>> = IndexMap::new();
    for aggregate in &aggregates {
        write_events(
            ctx,
            aggregate,
            &existing,
            sink.as_mut(),
            &mut event_types,
            &mut summary,
        )
        .await?;
    }
    let event_types: Vec<TypeDef> = event_types
        .into_iter()
        .map(|(name, attributes)| (name, attributes.into_iter().collect()))
        .collect();
    summary.event_types = event_types.len() as u64;
    sink.finish(&event_types)?;
    Ok(summary)
}

/// The ids of the objects of every type some reference names.
async fn referenced_ids(
    ctx: &SessionContext,
    aggregates: &[&AggregateModel],
) -> Result<HashMap<String, HashSet<String>>> {
    let mut ids: HashMap<String, HashSet<String>> = HashMap::new();
    for reference in aggregates.iter().flat_map(|a| &a.references) {
        if ids.contains_key(&reference.target) {
            continue;
        }
        let mut found = HashSet::new();
        if has_table(ctx, &reference.target) {
            let sql = format!("SELECT stream_id FROM {}", ident(&reference.target));
            for_each_batch(ctx, &sql, |batch| {
                let column = Column::of(batch, "stream_id")?;
                found.extend((0..batch.num_rows()).filter_map(|row| column.text(row)));
                Ok(())
            })
            .await?;
        }
        ids.insert(reference.target.clone(), found);
    }
    Ok(ids)
}

/// The relations that the references of `aggregate` give in row `row` of
/// `batch`: (target, qualifier), targets the output holds only.
fn references(
    aggregate: &AggregateModel,
    columns: &[Column],
    row: usize,
    existing: &HashMap<String, HashSet<String>>,
) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (reference, column) in aggregate.references.iter().zip(columns) {
        let qualifier = &aggregate.fields[reference.field].name;
        let known = &existing[&reference.target];
        for target in column.texts(row) {
            if known.contains(&target) {
                found.push((target, qualifier.clone()));
            }
        }
    }
    found
}

/// The columns of the references of `aggregate` in `batch`.
fn reference_columns(aggregate: &AggregateModel, batch: &RecordBatch) -> Result<Vec<Column>> {
    aggregate
        .references
        .iter()
        .map(|r| Column::of(batch, &aggregate.fields[r.field].name))
        .collect()
}

/// The aggregate's objects: from its history when the output has one.
async fn write_objects(
    ctx: &SessionContext,
    aggregate: &AggregateModel,
    attributes: &[(String, &'static str)],
    existing: &HashMap<String, HashSet<String>>,
    sink: &mut dyn Sink,
    summary: &mut OcelSummary,
) -> Result<()> {
    let history = format!("{}_history", aggregate.name);
    let sql = if has_table(ctx, &history) {
        format!(
            "SELECT * FROM {} ORDER BY stream_id, version",
            ident(&history)
        )
    } else {
        format!(
            "SELECT * FROM {} ORDER BY stream_id",
            ident(&aggregate.name)
        )
    };
    // The object being read: its rows may run over a batch boundary.
    let mut current: Option<(Object, HashMap<String, Value>)> = None;
    let mut finish = |object: Object, summary: &mut OcelSummary| -> Result<()> {
        summary.objects += 1;
        summary.o2o += object.relations.len() as u64;
        sink.object(&object)
    };
    for_each_batch(ctx, &sql, |batch| {
        let ids = Column::of(batch, "stream_id")?;
        let times = Column::of(batch, "updated_at")?;
        let values = attributes
            .iter()
            .map(|(name, _)| Column::of(batch, name))
            .collect::<Result<Vec<_>>>()?;
        let refs = reference_columns(aggregate, batch)?;
        for row in 0..batch.num_rows() {
            let id = ids.text(row).unwrap_or_default();
            if current.as_ref().is_none_or(|(o, _)| o.id != id) {
                if let Some((object, _)) = current.take() {
                    finish(object, summary)?;
                }
                let object = Object {
                    id,
                    kind: aggregate.name.clone(),
                    attributes: Vec::new(),
                    relations: Vec::new(),
                };
                current = Some((object, HashMap::new()));
            }
            let Some((object, last)) = current.as_mut() else {
                continue;
            };
            let time = match times.get(row) {
                Some(Value::Time(micros)) => micros,
                _ => 0,
            };
            for ((name, _), column) in attributes.iter().zip(&values) {
                let Some(value) = column.get(row) else {
                    continue;
                };
                if last.get(name) != Some(&value) {
                    object.attributes.push((name.clone(), time, value.clone()));
                    last.insert(name.clone(), value);
                }
            }
            // The last row is the final state: its references are the relations.
            object.relations = references(aggregate, &refs, row, existing);
        }
        Ok(())
    })
    .await?;
    if let Some((object, _)) = current.take() {
        finish(object, summary)?;
    }
    Ok(())
}

/// The aggregate's events, with the references of the state after each.
async fn write_events(
    ctx: &SessionContext,
    aggregate: &AggregateModel,
    existing: &HashMap<String, HashSet<String>>,
    sink: &mut dyn Sink,
    event_types: &mut IndexMap<String, IndexMap<String, &'static str>>,
    summary: &mut OcelSummary,
) -> Result<()> {
    let names: Vec<String> = aggregate
        .references
        .iter()
        .map(|r| ident(&aggregate.fields[r.field].name))
        .collect();
    let fields: String = names.iter().map(|n| format!(", s.{n}")).collect();
    let history = format!("{}_history", aggregate.name);
    // The state after each event: its history row (the first of a version
    // the log repeats, a finding of the replay), else the final state.
    let (state, same_version) = if has_table(ctx, &history) {
        let firsts: String = names
            .iter()
            .map(|n| format!(", first_value({n}) AS {n}"))
            .collect();
        (
            format!(
                "(SELECT stream_id, version{firsts} FROM {} GROUP BY stream_id, version)",
                ident(&history)
            ),
            " AND s.version = e.version",
        )
    } else {
        (ident(&aggregate.name), "")
    };
    // An event id the log repeats is made unique by the event's position.
    let sql = format!(
        "SELECT e.position, \
                CASE WHEN count(*) OVER (PARTITION BY e.event_id) > 1 \
                     THEN concat(e.event_id, '@', CAST(e.position AS VARCHAR)) \
                     ELSE e.event_id END AS event_id, \
                e.event_type, e.occurred_at, e.payload, e.stream_id{fields} \
         FROM events e JOIN {state} s ON s.stream_id = e.stream_id{same_version} \
         WHERE e.aggregate_type = {} ORDER BY e.position",
        literal(&aggregate.name)
    );
    for_each_batch(ctx, &sql, |batch| {
        let column = |name| Column::of(batch, name);
        let (position, id, kind, time, payload, stream) = (
            column("position")?,
            column("event_id")?,
            column("event_type")?,
            column("occurred_at")?,
            column("payload")?,
            column("stream_id")?,
        );
        let refs = reference_columns(aggregate, batch)?;
        for row in 0..batch.num_rows() {
            let id = id
                .text(row)
                .unwrap_or_else(|| format!("position-{}", position.text(row).unwrap_or_default()));
            let mut relations = vec![(stream.text(row).unwrap_or_default(), "stream".to_owned())];
            relations.extend(references(aggregate, &refs, row, existing));
            let event = OcelEvent {
                id,
                kind: kind.text(row).unwrap_or_default(),
                time: match time.get(row) {
                    Some(Value::Time(micros)) => micros,
                    _ => 0,
                },
                attributes: payload_attributes(payload.text(row).as_deref()),
                relations,
            };
            let seen = event_types.entry(event.kind.clone()).or_default();
            for (name, value) in &event.attributes {
                let typed = seen.entry(name.clone()).or_insert(value.ocel_type());
                if *typed != value.ocel_type() {
                    *typed = "string";
                }
            }
            summary.events += 1;
            summary.e2o += event.relations.len() as u64;
            sink.event(&event)?;
        }
        Ok(())
    })
    .await
}

/// The JSON form: `{"objectTypes": …, "objects": […], "events": […],
/// "eventTypes": …}`, the event types last, once every event's attributes
/// have been seen.
struct JsonSink {
    out: std::io::BufWriter<std::fs::File>,
    path: std::path::PathBuf,
    objects: u64,
    events: u64,
}

/// `[{"name": …, "attributes": [{"name": …, "type": …}]}]` of `types`.
fn json_types(types: &[TypeDef]) -> serde_json::Value {
    types
        .iter()
        .map(|(name, attributes)| {
            serde_json::json!({
                "name": name,
                "attributes": attributes.iter()
                    .map(|(a, t)| serde_json::json!({"name": a, "type": t}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// `[{"objectId": …, "qualifier": …}]` of `relations`.
fn json_relations(relations: &[(String, String)]) -> serde_json::Value {
    relations
        .iter()
        .map(|(id, qualifier)| serde_json::json!({"objectId": id, "qualifier": qualifier}))
        .collect()
}

impl JsonSink {
    fn create(path: &Path, types: &[TypeDef]) -> Result<Self> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let mut sink = Self {
            out: std::io::BufWriter::new(file),
            path: path.to_owned(),
            objects: 0,
            events: 0,
        };
        let head = format!(
            "{{\n\"objectTypes\": {},\n\"objects\": [",
            json_types(types)
        );
        sink.write(head.as_bytes())?;
        Ok(sink)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Writes `element` as the next of a list that has `count` already.
    fn element(&mut self, element: &serde_json::Value, count: u64) -> Result<()> {
        let text = format!("{}\n{element}", if count == 0 { "" } else { "," });
        self.write(text.as_bytes())
    }
}

impl Sink for JsonSink {
    fn object(&mut self, object: &Object) -> Result<()> {
        let element = serde_json::json!({
            "id": object.id,
            "type": object.kind,
            "attributes": object.attributes.iter()
                .map(|(name, time, value)| serde_json::json!({
                    "name": name,
                    "time": super::iso_time(*time),
                    "value": value.to_json(),
                }))
                .collect::<Vec<_>>(),
            "relationships": json_relations(&object.relations),
        });
        self.element(&element, self.objects)?;
        self.objects += 1;
        Ok(())
    }

    fn event(&mut self, event: &OcelEvent) -> Result<()> {
        if self.events == 0 {
            self.write(b"\n],\n\"events\": [")?;
        }
        let element = serde_json::json!({
            "id": event.id,
            "type": event.kind,
            "time": super::iso_time(event.time),
            "attributes": event.attributes.iter()
                .map(|(name, value)| serde_json::json!({"name": name, "value": value.to_json()}))
                .collect::<Vec<_>>(),
            "relationships": json_relations(&event.relations),
        });
        self.element(&element, self.events)?;
        self.events += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>, event_types: &[TypeDef]) -> Result<()> {
        if self.events == 0 {
            self.write(b"\n],\n\"events\": [")?;
        }
        let tail = format!("\n],\n\"eventTypes\": {}\n}}\n", json_types(event_types));
        self.write(tail.as_bytes())?;
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// The SQLite form: the tables of the OCEL 2.0 specification (`event`,
/// `object`, their `*_map_type`, `event_object`, `object_object`, and an
/// `event_<type>` and `object_<type>` table per type), in one transaction.
/// An event type's table gains a column when a payload field first shows up.
struct SqliteSink {
    db: rusqlite::Connection,
    path: std::path::PathBuf,
    /// Per type (`event:NAME`, `object:NAME`): its table and its columns.
    tables: HashMap<String, (String, HashSet<String>)>,
    used: HashSet<String>,
}

impl SqliteSink {
    fn create(path: &Path, types: &[TypeDef]) -> Result<Self> {
        if path.exists() {
            std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
        }
        let db = rusqlite::Connection::open(path).map_err(|e| sqlite_error(path, e))?;
        let mut sink = Self {
            db,
            path: path.to_owned(),
            tables: HashMap::new(),
            used: HashSet::new(),
        };
        sink.run(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; BEGIN;
             CREATE TABLE event (ocel_id TEXT PRIMARY KEY, ocel_type TEXT);
             CREATE TABLE event_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT);
             CREATE TABLE object (ocel_id TEXT PRIMARY KEY, ocel_type TEXT);
             CREATE TABLE object_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT);
             CREATE TABLE event_object (ocel_event_id TEXT, ocel_object_id TEXT, ocel_qualifier TEXT,
                 PRIMARY KEY (ocel_event_id, ocel_object_id, ocel_qualifier));
             CREATE TABLE object_object (ocel_source_id TEXT, ocel_target_id TEXT, ocel_qualifier TEXT,
                 PRIMARY KEY (ocel_source_id, ocel_target_id, ocel_qualifier));",
        )?;
        for (name, attributes) in types {
            let table = sink.table("object", name)?;
            let columns: Vec<String> = attributes
                .iter()
                .map(|(a, t)| format!(", {} {}", ident(a), sqlite_type(t)))
                .collect();
            sink.run(&format!(
                "CREATE TABLE {} (ocel_id TEXT, ocel_time TEXT, ocel_changed_field TEXT{})",
                ident(&table),
                columns.concat()
            ))?;
            let entry = sink.tables.get_mut(&format!("object:{name}"));
            if let Some((_, known)) = entry {
                known.extend(attributes.iter().map(|(a, _)| a.clone()));
            }
        }
        Ok(sink)
    }

    fn run(&self, sql: &str) -> Result<()> {
        self.db
            .execute_batch(sql)
            .map_err(|e| sqlite_error(&self.path, e))
    }

    fn insert(&self, sql: &str, values: &[rusqlite::types::Value]) -> Result<()> {
        self.db
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute(rusqlite::params_from_iter(values)))
            .map(|_| ())
            .map_err(|e| sqlite_error(&self.path, e))
    }

    /// The table of type `name` of `kind` (event or object), made and
    /// mapped in `<kind>_map_type` on first use: `<kind>_` and the name with
    /// every character but letters and digits as `_` (numbered when two
    /// names would share one).
    fn table(&mut self, kind: &str, name: &str) -> Result<String> {
        let key = format!("{kind}:{name}");
        if let Some((table, _)) = self.tables.get(&key) {
            return Ok(table.clone());
        }
        let base: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let mut mapped = base.clone();
        let mut n = 1;
        while !self.used.insert(format!("{kind}_{mapped}")) {
            n += 1;
            mapped = format!("{base}_{n}");
        }
        self.insert(
            &format!("INSERT INTO {kind}_map_type (ocel_type, ocel_type_map) VALUES (?1, ?2)"),
            &[name.to_owned().into(), mapped.clone().into()],
        )?;
        let table = format!("{kind}_{mapped}");
        if kind == "event" {
            self.run(&format!(
                "CREATE TABLE {} (ocel_id TEXT PRIMARY KEY, ocel_time TEXT)",
                ident(&table)
            ))?;
        }
        self.tables.insert(key, (table.clone(), HashSet::new()));
        Ok(table)
    }

    fn relation(&self, table: &str, from: &str, to: &str, qualifier: &str) -> Result<()> {
        let columns = if table == "event_object" {
            "ocel_event_id, ocel_object_id, ocel_qualifier"
        } else {
            "ocel_source_id, ocel_target_id, ocel_qualifier"
        };
        self.insert(
            &format!("INSERT OR IGNORE INTO {table} ({columns}) VALUES (?1, ?2, ?3)"),
            &[
                from.to_owned().into(),
                to.to_owned().into(),
                qualifier.to_owned().into(),
            ],
        )
    }
}

fn sqlite_type(ocel_type: &str) -> &'static str {
    match ocel_type {
        "integer" | "boolean" => "INTEGER",
        "float" => "REAL",
        _ => "TEXT",
    }
}

fn sqlite_value(value: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as Sql;
    match value {
        Value::Str(text) => Sql::Text(text.clone()),
        Value::Int(number) => Sql::Integer(*number),
        Value::Float(number) => Sql::Real(*number),
        Value::Bool(flag) => Sql::Integer(i64::from(*flag)),
        Value::Time(_) => Sql::Text(value.to_text()),
    }
}

fn sqlite_error(path: &Path, error: rusqlite::Error) -> Error {
    Error::io(path, std::io::Error::other(error.to_string()))
}

impl Sink for SqliteSink {
    fn object(&mut self, object: &Object) -> Result<()> {
        self.insert(
            "INSERT INTO object (ocel_id, ocel_type) VALUES (?1, ?2)",
            &[object.id.clone().into(), object.kind.clone().into()],
        )?;
        let table = ident(&self.table("object", &object.kind)?);
        // The first value of each attribute is the object's initial row; each
        // later one a row of its own naming the changed field.
        let mut initial: Vec<(&str, &Value)> = Vec::new();
        let mut first_time = None;
        for (name, time, value) in &object.attributes {
            if initial.iter().any(|(n, _)| n == name) {
                self.insert(
                    &format!(
                        "INSERT INTO {table} (ocel_id, ocel_time, ocel_changed_field, {}) VALUES (?1, ?2, ?3, ?4)",
                        ident(name)
                    ),
                    &[
                        object.id.clone().into(),
                        super::iso_time(*time).into(),
                        name.clone().into(),
                        sqlite_value(value),
                    ],
                )?;
            } else {
                first_time.get_or_insert(*time);
                initial.push((name, value));
            }
        }
        let columns: String = initial
            .iter()
            .map(|(n, _)| format!(", {}", ident(n)))
            .collect();
        let marks: String = (0..initial.len())
            .map(|i| format!(", ?{}", i + 3))
            .collect();
        let mut values = vec![
            object.id.clone().into(),
            super::iso_time(first_time.unwrap_or(0)).into(),
        ];
        values.extend(initial.iter().map(|(_, v)| sqlite_value(v)));
        self.insert(
            &format!("INSERT INTO {table} (ocel_id, ocel_time{columns}) VALUES (?1, ?2{marks})"),
            &values,
        )?;
        for (target, qualifier) in &object.relations {
            self.relation("object_object", &object.id, target, qualifier)?;
        }
        Ok(())
    }

    fn event(&mut self, event: &OcelEvent) -> Result<()> {
        self.insert(
            "INSERT INTO event (ocel_id, ocel_type) VALUES (?1, ?2)",
            &[event.id.clone().into(), event.kind.clone().into()],
        )?;
        let table = self.table("event", &event.kind)?;
        let key = format!("event:{}", event.kind);
        // SQLite's column names ignore case: of two fields that differ only
        // in case the first is kept; ocel_id and ocel_time are the table's own.
        let mut attributes: Vec<&(String, Value)> = Vec::new();
        let mut names: HashSet<String> = ["ocel_id".into(), "ocel_time".into()].into();
        for attribute in &event.attributes {
            if names.insert(attribute.0.to_lowercase()) {
                attributes.push(attribute);
            }
        }
        for (name, value) in &attributes {
            let lower = name.to_lowercase();
            let known = self
                .tables
                .get(&key)
                .is_some_and(|(_, c)| c.contains(&lower));
            if !known {
                self.run(&format!(
                    "ALTER TABLE {} ADD COLUMN {} {}",
                    ident(&table),
                    ident(name),
                    sqlite_type(value.ocel_type())
                ))?;
                if let Some((_, columns)) = self.tables.get_mut(&key) {
                    columns.insert(lower);
                }
            }
        }
        let columns: String = attributes
            .iter()
            .map(|(n, _)| format!(", {}", ident(n)))
            .collect();
        let marks: String = (0..attributes.len())
            .map(|i| format!(", ?{}", i + 3))
            .collect();
        let mut values = vec![event.id.clone().into(), super::iso_time(event.time).into()];
        values.extend(attributes.iter().map(|(_, v)| sqlite_value(v)));
        self.insert(
            &format!(
                "INSERT INTO {} (ocel_id, ocel_time{columns}) VALUES (?1, ?2{marks})",
                ident(&table)
            ),
            &values,
        )?;
        for (object, qualifier) in &event.relations {
            self.relation("event_object", &event.id, object, qualifier)?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>, _event_types: &[TypeDef]) -> Result<()> {
        self.run("COMMIT;")
    }
}
