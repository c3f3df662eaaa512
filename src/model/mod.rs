//! The domain model: per aggregate type, the typed state fields, the lifecycle and
//! what each event type does.
//!
//! The model is a TOML file (format in the README). It is parsed into raw structs
//! that keep every value's byte span, then validated into [`Model`], so a mistake
//! is reported as `model.toml:LINE: message` with a hint before any input is read.
//! Validation resolves names to indices once, which keeps the replay loop free of
//! string lookups for fields.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use crate::support::json_path::JsonPath;
pub mod authorisation;
pub mod command;
pub mod projection;
pub mod roles;
pub mod upcast;
mod value;

pub use crate::support::toml_lines::Locator;
use crate::{Error, Result};
pub use authorisation::{Allowed, Permit};
pub use command::CommandModel;
pub use projection::KeyedProjection;
pub use value::StateValue;

/// The type of one state field, and so of its column in `state/<aggregate>.parquet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Int,
    Float,
    Bool,
    Timestamp,
    List,
}

impl FieldType {
    const NAMES: &'static str = "string, int, float, bool, timestamp, list";

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "string" => FieldType::String,
            "int" => FieldType::Int,
            "float" => FieldType::Float,
            "bool" => FieldType::Bool,
            "timestamp" => FieldType::Timestamp,
            "list" => FieldType::List,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Bool => "bool",
            FieldType::Timestamp => "timestamp",
            FieldType::List => "list",
        }
    }
}

/// An envelope value an effect can read, written `@name` in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeValue {
    OccurredAt,
    Actor,
    StreamId,
    EventId,
    EventType,
    Version,
    Position,
    CorrelationId,
    CausationId,
    Tenant,
}

impl EnvelopeValue {
    const NAMES: &'static str = "@occurred_at, @actor, @stream_id, @event_id, @event_type, @version, @position, @correlation_id, @causation_id, @tenant";

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "occurred_at" => EnvelopeValue::OccurredAt,
            "actor" => EnvelopeValue::Actor,
            "stream_id" => EnvelopeValue::StreamId,
            "event_id" => EnvelopeValue::EventId,
            "event_type" => EnvelopeValue::EventType,
            "version" => EnvelopeValue::Version,
            "position" => EnvelopeValue::Position,
            "correlation_id" => EnvelopeValue::CorrelationId,
            "causation_id" => EnvelopeValue::CausationId,
            "tenant" => EnvelopeValue::Tenant,
            _ => return None,
        })
    }

    /// The field type this value has.
    fn field_type(self) -> FieldType {
        match self {
            EnvelopeValue::OccurredAt => FieldType::Timestamp,
            EnvelopeValue::Version | EnvelopeValue::Position => FieldType::Int,
            _ => FieldType::String,
        }
    }
}

/// Whether a value of type `found` may go where one of type `expected` goes:
/// the same type, or an int where a float goes.
fn fits(expected: FieldType, found: FieldType) -> bool {
    expected == found || (expected == FieldType::Float && found == FieldType::Int)
}

/// Where an effect takes its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    Payload(JsonPath),
    Envelope(EnvelopeValue),
}

/// What an event does to one field. `field` indexes [`AggregateModel::fields`].
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Set { field: usize, source: ValueSource },
    Unset { field: usize },
    Increment { field: usize, by: f64 },
    Add { field: usize, source: ValueSource },
    Remove { field: usize, source: ValueSource },
}

/// What one event type does to its aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct Handler {
    /// This event starts the stream; it must be the first.
    pub creates: bool,
    /// Statuses the event is allowed from; `None` means any non-terminal status.
    pub from: Option<Vec<String>>,
    /// The status after the event; `None` keeps the current one. Shared: every
    /// stream the event moves holds it.
    pub to: Option<Arc<str>>,
    pub effects: Vec<Effect>,
    /// Who may cause the event (`allowed = [...]`), when the model says.
    pub allowed: Option<Allowed>,
}

/// One typed state field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    pub name: String,
    pub field_type: FieldType,
}

/// The lifecycle of an aggregate type: its state machine of statuses.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifecycle {
    /// Name of the status column in the state table.
    pub status_field: String,
    /// The status a stream enters with its creation (or first) event.
    pub initial: Arc<str>,
    pub statuses: Vec<String>,
    pub terminal: Vec<String>,
}

/// A state field whose value names another aggregate (`[aggregates.T.references]`):
/// the stream id of an object of type `target` (each element, for a list).
/// The exports relate the two objects with the field's name as qualifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Indexes [`AggregateModel::fields`].
    pub field: usize,
    /// The aggregate type the value names.
    pub target: String,
}

/// The model of one aggregate type.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateModel {
    pub name: String,
    pub fields: Vec<FieldDef>,
    pub lifecycle: Option<Lifecycle>,
    pub handlers: HashMap<String, Handler>,
    /// The fields that name other aggregates, in the order written.
    pub references: Vec<Reference>,
}

impl AggregateModel {
    /// The field values of a new stream: 0 for a number some event increments,
    /// an empty list for a list, null for everything else.
    pub fn initial_values(&self) -> Vec<StateValue> {
        let incremented: Vec<usize> = self
            .handlers
            .values()
            .flat_map(|h| &h.effects)
            .filter_map(|e| match e {
                Effect::Increment { field, .. } => Some(*field),
                _ => None,
            })
            .collect();
        self.fields
            .iter()
            .enumerate()
            .map(|(index, def)| match def.field_type {
                FieldType::List => StateValue::List(Vec::new()),
                FieldType::Int if incremented.contains(&index) => StateValue::Int(0),
                FieldType::Float if incremented.contains(&index) => StateValue::Float(0.0),
                _ => StateValue::Null,
            })
            .collect()
    }

    /// Whether `status` is terminal in this lifecycle.
    pub fn is_terminal(&self, status: &str) -> bool {
        self.lifecycle
            .as_ref()
            .is_some_and(|l| l.terminal.iter().any(|t| t == status))
    }
}

/// A validated model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub aggregates: Vec<AggregateModel>,
    /// Old event shapes evolved before replay, in the order written.
    pub upcasters: Vec<upcast::Upcaster>,
    /// The keyed folds (`[projections.NAME]`), in the order written.
    pub projections: Vec<KeyedProjection>,
    /// The severity of `unauthorised_action` findings (`[authorisation] severity`).
    pub unauthorised_severity: &'static str,
    /// The commands (`[aggregates.T.commands.NAME]`) by name: a name is
    /// unique across aggregate types, since a command says only its name.
    pub commands: IndexMap<String, CommandModel>,
}

impl Model {
    /// The model of `aggregate_type`, if the model declares it.
    pub fn aggregate(&self, aggregate_type: &str) -> Option<&AggregateModel> {
        self.aggregates.iter().find(|a| a.name == aggregate_type)
    }

    /// What the `allowed` rules read of related streams (`@project_id.owner`):
    /// each (related aggregate type, field index), once per permit.
    pub fn related_reads(&self) -> impl Iterator<Item = (&str, usize)> {
        self.related_permits()
            .map(|(aggregate, field, _)| (aggregate, field))
    }

    /// The `allowed` rules' permits that read a related stream: each
    /// (related aggregate type, field index, the permit as written), once
    /// per permit.
    pub fn related_permits(&self) -> impl Iterator<Item = (&str, usize, &str)> {
        (self.aggregates.iter())
            .flat_map(|a| a.handlers.values())
            .flat_map(|h| h.allowed.iter().flat_map(|a| &a.permits))
            .filter_map(|permit| match permit {
                Permit::Related {
                    aggregate,
                    field,
                    name,
                    ..
                } => Some((aggregate.as_str(), *field, name.as_str())),
                _ => None,
            })
    }

    /// Whether any event type has an `allowed` rule.
    pub fn has_authorisation(&self) -> bool {
        self.aggregates
            .iter()
            .any(|a| a.handlers.values().any(|h| h.allowed.is_some()))
    }
}

/// Columns every state table has; a declared field may not take these names.
pub const RESERVED_COLUMNS: [&str; 6] = [
    "stream_id",
    "version",
    "created_at",
    "updated_at",
    "event_count",
    "status",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    aggregates: IndexMap<String, Spanned<RawAggregate>>,
    #[serde(default)]
    upcasters: Vec<Spanned<upcast::RawUpcaster>>,
    #[serde(default)]
    projections: IndexMap<String, Spanned<projection::RawProjection>>,
    authorisation: Option<authorisation::RawAuthorisation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAggregate {
    #[serde(default)]
    fields: IndexMap<String, Spanned<String>>,
    lifecycle: Option<Spanned<RawLifecycle>>,
    #[serde(default)]
    events: IndexMap<String, Spanned<RawHandler>>,
    #[serde(default)]
    references: IndexMap<String, Spanned<String>>,
    #[serde(default)]
    commands: IndexMap<String, Spanned<command::RawCommand>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLifecycle {
    #[serde(default = "default_status_field")]
    status_field: Spanned<String>,
    initial: Spanned<String>,
    #[serde(default)]
    statuses: Vec<Spanned<String>>,
    #[serde(default)]
    terminal: Vec<Spanned<String>>,
}

fn default_status_field() -> Spanned<String> {
    Spanned::new(0..0, "status".to_owned())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHandler {
    #[serde(default)]
    creates: bool,
    from: Option<Vec<Spanned<String>>>,
    to: Option<Spanned<String>>,
    #[serde(default)]
    set: IndexMap<String, Spanned<String>>,
    #[serde(default)]
    unset: Vec<Spanned<String>>,
    #[serde(default)]
    increment: IndexMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    add: IndexMap<String, Spanned<String>>,
    #[serde(default)]
    remove: IndexMap<String, Spanned<String>>,
    allowed: Option<Vec<Spanned<String>>>,
}

/// A model file's name (for messages) and text.
#[derive(Debug, Clone)]
pub struct ModelSource {
    pub name: String,
    pub text: String,
}

impl ModelSource {
    /// Reads a model file.
    pub fn from_path(path: &std::path::Path) -> Result<Self> {
        Ok(Self {
            name: path.display().to_string(),
            text: std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?,
        })
    }
}

/// Parses and validates a model file's text; `file` names it in errors.
pub fn parse_model(file: &str, text: &str) -> Result<Model> {
    let locator = Locator { file, text };
    let raw: RawModel = toml::from_str(text).map_err(|err| {
        let span = err.span().unwrap_or(0..0);
        locator.error(
            &span,
            err.message().trim_end_matches('.').to_owned(),
            Some("the format is described in the README, section \"The model file\"".into()),
        )
    })?;
    if raw.aggregates.is_empty() {
        return Err(locator.error(
            &(0..0),
            "the model declares no aggregates".into(),
            Some("add a table like [aggregates.task]".into()),
        ));
    }
    let declared: Vec<&str> = raw.aggregates.keys().map(String::as_str).collect();
    let mut aggregates = raw
        .aggregates
        .iter()
        .map(|(name, aggregate)| validate_aggregate(&locator, name, aggregate, &declared))
        .collect::<Result<Vec<_>>>()?;
    let permits = validate_permits(&locator, &raw, &aggregates)?;
    for (aggregate, allowed) in aggregates.iter_mut().zip(permits) {
        for (event_type, allowed) in allowed {
            if let Some(handler) = aggregate.handlers.get_mut(&event_type) {
                handler.allowed = Some(allowed);
            }
        }
    }
    let unauthorised_severity = authorisation::severity(&locator, raw.authorisation.as_ref())?;
    let mut commands: IndexMap<String, CommandModel> = IndexMap::new();
    for (raw_aggregate, aggregate) in raw.aggregates.values().zip(&aggregates) {
        let raw_commands = &raw_aggregate.get_ref().commands;
        let validated = command::validate(&locator, aggregate, &aggregates, raw_commands)?;
        for (command, raw_command) in validated.into_iter().zip(raw_commands.values()) {
            if let Some(other) = commands.get(&command.name) {
                return Err(locator.error(
                    &raw_command.span(),
                    format!(
                        "command \"{}\" is declared for aggregate \"{}\" and again for \"{}\"",
                        command.name, other.aggregate, command.aggregate
                    ),
                    Some(
                        "a command is known by its name alone; give each a name of its own".into(),
                    ),
                ));
            }
            commands.insert(command.name.clone(), command);
        }
    }
    let upcasters = upcast::validate(&locator, &raw.upcasters)?;
    let projections = projection::validate(&locator, &raw.projections, &aggregates)?;
    Ok(Model {
        aggregates,
        upcasters,
        projections,
        unauthorised_severity,
        commands,
    })
}

/// The `allowed` rules of every aggregate's event types, checked once all
/// aggregates' fields are known (a rule may read a related aggregate's).
fn validate_permits(
    locator: &Locator,
    raw: &RawModel,
    aggregates: &[AggregateModel],
) -> Result<Vec<Vec<(String, Allowed)>>> {
    raw.aggregates
        .iter()
        .zip(aggregates)
        .map(|((name, raw_aggregate), aggregate)| {
            let context = authorisation::PermitContext {
                locator,
                aggregate,
                aggregates,
            };
            let mut rules = Vec::new();
            for (event_type, handler) in &raw_aggregate.get_ref().events {
                if let Some(allowed) = &handler.get_ref().allowed {
                    let what = format!("event \"{event_type}\"");
                    let section = format!("aggregates.{name}.events.{event_type}");
                    let creates = handler.get_ref().creates;
                    let rule = context.allowed(&what, &section, allowed, creates)?;
                    rules.push((event_type.clone(), rule));
                }
            }
            Ok(rules)
        })
        .collect()
}

/// Reads and validates a model file.
pub fn load_model(path: &std::path::Path) -> Result<Model> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_model(&path.display().to_string(), &text)
}

fn validate_aggregate(
    locator: &Locator,
    name: &str,
    raw: &Spanned<RawAggregate>,
    declared: &[&str],
) -> Result<AggregateModel> {
    let aggregate = raw.get_ref();
    let mut fields = Vec::new();
    for (field_name, type_name) in &aggregate.fields {
        let field_type = FieldType::parse(type_name.get_ref()).ok_or_else(|| {
            locator.error(
                &type_name.span(),
                format!(
                    "field \"{field_name}\" of aggregate \"{name}\" has unknown type \"{}\"",
                    type_name.get_ref()
                ),
                Some(format!("expected one of {}", FieldType::NAMES)),
            )
        })?;
        let status_name = aggregate
            .lifecycle
            .as_ref()
            .map(|l| l.get_ref().status_field.get_ref().as_str());
        if RESERVED_COLUMNS.contains(&field_name.as_str())
            || Some(field_name.as_str()) == status_name
        {
            return Err(locator.error(
                &type_name.span(),
                format!("field \"{field_name}\" of aggregate \"{name}\" clashes with a column every state table has"),
                Some(format!("rename it; reserved are {}", RESERVED_COLUMNS.join(", "))),
            ));
        }
        fields.push(FieldDef {
            name: field_name.clone(),
            field_type,
        });
    }
    let lifecycle = aggregate
        .lifecycle
        .as_ref()
        .map(|l| validate_lifecycle(locator, name, l))
        .transpose()?;
    let context = AggregateContext {
        locator,
        name,
        fields: &fields,
        lifecycle: lifecycle.as_ref(),
    };
    let mut handlers = HashMap::new();
    for (event_type, handler) in &aggregate.events {
        handlers.insert(event_type.clone(), context.handler(event_type, handler)?);
    }
    let references = aggregate
        .references
        .iter()
        .map(|(field, target)| validate_reference(locator, name, &fields, field, target, declared))
        .collect::<Result<Vec<_>>>()?;
    Ok(AggregateModel {
        name: name.to_owned(),
        fields,
        lifecycle,
        handlers,
        references,
    })
}

/// One line of `[aggregates.NAME.references]`: `field = "type"`, a declared
/// string or list field naming an object of a declared aggregate type.
fn validate_reference(
    locator: &Locator,
    aggregate: &str,
    fields: &[FieldDef],
    field: &str,
    target: &Spanned<String>,
    declared: &[&str],
) -> Result<Reference> {
    let index = fields.iter().position(|f| f.name == field).ok_or_else(|| {
        locator.error(
            &target.span(),
            format!("reference \"{field}\" of aggregate \"{aggregate}\" is not one of its fields"),
            Some(format!(
                "declare it under [aggregates.{aggregate}.fields]; the fields: {}",
                fields
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        )
    })?;
    if !matches!(
        fields[index].field_type,
        FieldType::String | FieldType::List
    ) {
        return Err(locator.error(
            &target.span(),
            format!(
                "reference \"{field}\" of aggregate \"{aggregate}\" is of type {}; it must hold stream ids",
                fields[index].field_type.name()
            ),
            Some("a reference is a string field (one id) or a list field (several)".into()),
        ));
    }
    if !declared.contains(&target.get_ref().as_str()) {
        return Err(locator.error(
            &target.span(),
            format!(
                "reference \"{field}\" of aggregate \"{aggregate}\" names undeclared aggregate type \"{}\"",
                target.get_ref()
            ),
            Some(format!("the aggregate types: {}", declared.join(", "))),
        ));
    }
    Ok(Reference {
        field: index,
        target: target.get_ref().clone(),
    })
}

fn validate_lifecycle(
    locator: &Locator,
    aggregate: &str,
    raw: &Spanned<RawLifecycle>,
) -> Result<Lifecycle> {
    let lifecycle = raw.get_ref();
    let statuses: Vec<String> = lifecycle
        .statuses
        .iter()
        .map(|s| s.get_ref().clone())
        .collect();
    let check = |status: &Spanned<String>, role: &str| {
        if statuses.is_empty() || statuses.contains(status.get_ref()) {
            Ok(status.get_ref().clone())
        } else {
            Err(locator.error(
                &status.span(),
                format!(
                    "{role} status \"{}\" of aggregate \"{aggregate}\" is not in its statuses",
                    status.get_ref()
                ),
                Some(format!("declared statuses: {}", statuses.join(", "))),
            ))
        }
    };
    let initial = check(&lifecycle.initial, "initial")?.into();
    let terminal = lifecycle
        .terminal
        .iter()
        .map(|t| check(t, "terminal"))
        .collect::<Result<Vec<_>>>()?;
    Ok(Lifecycle {
        status_field: lifecycle.status_field.get_ref().clone(),
        initial,
        statuses,
        terminal,
    })
}

/// What validating one aggregate's handlers needs to know.
struct AggregateContext<'a> {
    locator: &'a Locator<'a>,
    name: &'a str,
    fields: &'a [FieldDef],
    lifecycle: Option<&'a Lifecycle>,
}

impl AggregateContext<'_> {
    fn handler(&self, event_type: &str, raw: &Spanned<RawHandler>) -> Result<Handler> {
        let handler = raw.get_ref();
        let from = handler
            .from
            .as_ref()
            .map(|list| list.iter().map(|s| self.status(event_type, s)).collect())
            .transpose()?;
        let to = handler
            .to
            .as_ref()
            .map(|s| self.status(event_type, s).map(Arc::from))
            .transpose()?;
        let mut effects = Vec::new();
        for (field, source) in &handler.set {
            let field = self.field(event_type, field, source.span(), None)?;
            let source = self.source(event_type, source, Some(self.fields[field].field_type))?;
            effects.push(Effect::Set { field, source });
        }
        for field in &handler.unset {
            let field = self.field(event_type, field.get_ref(), field.span(), None)?;
            effects.push(Effect::Unset { field });
        }
        for (field, by) in &handler.increment {
            let field = self.field(
                event_type,
                field,
                by.span(),
                Some(&[FieldType::Int, FieldType::Float]),
            )?;
            let amount = match by.get_ref() {
                toml::Value::Integer(i) => *i as f64,
                toml::Value::Float(f) if self.fields[field].field_type == FieldType::Float => *f,
                other => {
                    return Err(self.locator.error(
                        &by.span(),
                        format!("event \"{event_type}\" increments \"{}\" by {other}, expected a number of the field's type", self.fields[field].name),
                        Some("write e.g. increment = { comment_count = 1 }".into()),
                    ))
                }
            };
            effects.push(Effect::Increment { field, by: amount });
        }
        for (list, make) in [
            (
                &handler.add,
                (|field, source| Effect::Add { field, source }) as fn(usize, ValueSource) -> Effect,
            ),
            (&handler.remove, |field, source| Effect::Remove {
                field,
                source,
            }),
        ] {
            for (field, source) in list {
                let field =
                    self.field(event_type, field, source.span(), Some(&[FieldType::List]))?;
                effects.push(make(
                    field,
                    self.source(event_type, source, Some(FieldType::String))?,
                ));
            }
        }
        Ok(Handler {
            creates: handler.creates,
            from,
            to,
            effects,
            allowed: None,
        })
    }

    fn status(&self, event_type: &str, status: &Spanned<String>) -> Result<String> {
        let Some(lifecycle) = self.lifecycle else {
            return Err(self.locator.error(
                &status.span(),
                format!("event \"{event_type}\" of aggregate \"{}\" names status \"{}\" but the aggregate has no lifecycle", self.name, status.get_ref()),
                Some(format!("add [aggregates.{}.lifecycle] with initial and statuses", self.name)),
            ));
        };
        if lifecycle.statuses.is_empty() || lifecycle.statuses.contains(status.get_ref()) {
            Ok(status.get_ref().clone())
        } else {
            Err(self.locator.error(
                &status.span(),
                format!(
                    "event \"{event_type}\" of aggregate \"{}\" names unknown status \"{}\"",
                    self.name,
                    status.get_ref()
                ),
                Some(format!(
                    "declared statuses: {}",
                    lifecycle.statuses.join(", ")
                )),
            ))
        }
    }

    fn field(
        &self,
        event_type: &str,
        name: &str,
        span: Range<usize>,
        allowed: Option<&[FieldType]>,
    ) -> Result<usize> {
        let index = self.fields.iter().position(|f| f.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
            self.locator.error(
                &span,
                format!("event \"{event_type}\" of aggregate \"{}\" changes unknown field \"{name}\"", self.name),
                Some(format!("declare it under [aggregates.{}.fields]; declared: {}", self.name, names.join(", "))),
            )
        })?;
        let field_type = self.fields[index].field_type;
        match allowed {
            Some(types) if !types.contains(&field_type) => {
                let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
                Err(self.locator.error(
                    &span,
                    format!("event \"{event_type}\" of aggregate \"{}\" cannot do this to field \"{name}\" of type {}", self.name, field_type.name()),
                    Some(format!("this effect needs a field of type {}", names.join(" or "))),
                ))
            }
            _ => Ok(index),
        }
    }

    fn source(
        &self,
        event_type: &str,
        source: &Spanned<String>,
        expected: Option<FieldType>,
    ) -> Result<ValueSource> {
        let text = source.get_ref();
        if let Some(name) = text.strip_prefix('@') {
            let value = EnvelopeValue::parse(name).ok_or_else(|| {
                self.locator.error(
                    &source.span(),
                    format!("event \"{event_type}\" reads unknown envelope value \"{text}\""),
                    Some(format!("expected one of {}", EnvelopeValue::NAMES)),
                )
            })?;
            if let Some(expected) = expected {
                if !fits(expected, value.field_type()) {
                    return Err(self.locator.error(
                        &source.span(),
                        format!(
                            "event \"{event_type}\" puts \"{text}\" ({}) into a field of type {}",
                            value.field_type().name(),
                            expected.name()
                        ),
                        Some("declare the field with the value's type".into()),
                    ));
                }
            }
            return Ok(ValueSource::Envelope(value));
        }
        JsonPath::parse(text)
            .map(ValueSource::Payload)
            .map_err(|err| {
                self.locator.error(
                    &source.span(),
                    format!("event \"{event_type}\": {err}"),
                    None,
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TASK_MODEL: &str = include_str!("../../testdata/tasks/model.toml");

    fn error_of(text: &str) -> String {
        parse_model("m.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn the_task_model_parses() {
        let model = parse_model("model.toml", TASK_MODEL).unwrap();
        let task = model.aggregate("task").unwrap();
        assert_eq!(task.fields[0].name, "title");
        assert_eq!(task.handlers.len(), 15);
        assert!(task.handlers["TaskCreated"].creates);
        assert!(task.is_terminal("done"));
        assert_eq!(model.aggregate("project").unwrap().handlers.len(), 5);
        assert_eq!(
            task.references,
            vec![Reference {
                field: 1,
                target: "project".into()
            }]
        );
        assert_eq!(task.fields[1].name, "project_id");
    }

    #[test]
    fn references_name_a_string_field_and_a_declared_type() {
        let head = "[aggregates.p]\n[aggregates.task]\nfields = { n = \"int\", p = \"string\" }\n[aggregates.task.references]\n";
        assert!(parse_model("m.toml", &format!("{head}p = \"p\"\n")).is_ok());
        assert_eq!(
            error_of(&format!("{head}q = \"p\"\n")),
            "m.toml:5: reference \"q\" of aggregate \"task\" is not one of its fields\n  hint: declare it under [aggregates.task.fields]; the fields: n, p"
        );
        assert!(error_of(&format!("{head}n = \"p\"\n"))
            .starts_with("m.toml:5: reference \"n\" of aggregate \"task\" is of type int"));
        assert!(error_of(&format!("{head}p = \"nope\"\n")).starts_with(
            "m.toml:5: reference \"p\" of aggregate \"task\" names undeclared aggregate type \"nope\""
        ));
    }

    #[test]
    fn errors_name_the_line_and_give_a_hint() {
        let text = "[aggregates.task]\n[aggregates.task.fields]\ntitle = \"strng\"\n";
        assert_eq!(
            error_of(text),
            "m.toml:3: field \"title\" of aggregate \"task\" has unknown type \"strng\"\n  hint: expected one of string, int, float, bool, timestamp, list"
        );
        let text = "[aggregates.task]\nfields = { n = \"int\" }\n[aggregates.task.events.A]\nset = { m = \"x\" }\n";
        assert!(error_of(text).starts_with(
            "m.toml:4: event \"A\" of aggregate \"task\" changes unknown field \"m\""
        ));
        let text = "[aggregates.task]\nfields = { n = \"string\" }\n[aggregates.task.events.A]\nincrement = { n = 1 }\n";
        assert!(error_of(text).starts_with("m.toml:4: event \"A\" of aggregate \"task\" cannot do this to field \"n\" of type string"));
        let text = "[aggregates.task]\n[aggregates.task.lifecycle]\ninitial = \"open\"\nstatuses = [\"open\"]\n[aggregates.task.events.A]\nto = \"shut\"\n";
        assert!(error_of(text).starts_with(
            "m.toml:6: event \"A\" of aggregate \"task\" names unknown status \"shut\""
        ));
        let text = "[aggregates.task]\nfeilds = {}\n";
        assert!(
            error_of(text).starts_with("m.toml:2: unknown field `feilds`"),
            "{}",
            error_of(text)
        );
        let text = "[aggregates.task]\nfields = { at = \"string\" }\n[aggregates.task.events.A]\nset = { at = \"@occurred_at\" }\n";
        assert!(error_of(text).starts_with(
            "m.toml:4: event \"A\" puts \"@occurred_at\" (timestamp) into a field of type string"
        ));
        assert!(error_of("[aggregates.task\n").starts_with("m.toml:1: "));
        assert!(error_of("").starts_with("m.toml:1: missing field `aggregates`"));
        assert!(error_of("aggregates = {}").contains("declares no aggregates"));
    }
}
