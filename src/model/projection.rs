//! Keyed folds: the model's `[projections.NAME]` sections, state kept per key
//! across many streams (README, "Keyed folds").
//!
//! A projection declares its key columns, its typed fields and its rules
//! (`[[projections.NAME.on]]`): which events, which key (a payload path, an
//! envelope value, or a value of the event's aggregate state before or after
//! the event), under which conditions, with which effects. Parsed from raw
//! structs that keep spans and validated against the aggregates, so each
//! mistake is `model.toml:LINE: message` with a hint, like the rest of the
//! model. Validation also keeps the result independent of the order streams
//! are folded in: a field takes effects of one kind only (counted, a minimum,
//! a maximum, assigned, or list members), since only those of one kind are
//! ordered among themselves by the event's position.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use super::{
    fits, AggregateModel, EnvelopeValue, FieldDef, FieldType, Locator, StateValue, ValueSource,
};
use crate::support::json_path::JsonPath;
use crate::Result;

/// A value of the event's aggregate state: its status or a declared field
/// (an index into [`AggregateModel::fields`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRef {
    Status,
    Field(usize),
}

/// Where a keyed fold reads a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A payload path or an envelope value, as the aggregates' effects read.
    Value(ValueSource),
    /// The aggregate's state before the event (`@before.FIELD`).
    Before(StateRef),
    /// The aggregate's state after the event (`@after.FIELD`).
    After(StateRef),
}

impl Source {
    /// Whether the value comes from the payload (and may be missing there).
    pub fn is_payload(&self) -> bool {
        matches!(self, Source::Value(ValueSource::Payload(_)))
    }
}

/// What a rule does to one field of the rows it touches. `field` indexes
/// [`KeyedProjection::fields`].
#[derive(Debug, Clone, PartialEq)]
pub enum FoldOp {
    Set(Source),
    Unset,
    Increment(i64),
    Min(Source),
    Max(Source),
    Add(Source),
    Remove(Source),
}

/// One effect of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldEffect {
    pub field: usize,
    pub op: FoldOp,
}

/// The one kind of effect a field takes, which decides how its value is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldRole {
    /// `increment`: a sum, in any order.
    Counter,
    /// `min`: the least value written.
    Min,
    /// `max`: the greatest value written.
    Max,
    /// `set`/`unset`, or no effect at all: the last write by position.
    Assigned,
    /// `add`/`remove`: per element the last operation by position.
    Members,
}

/// A condition of a rule: the source's value (read as `field_type`) is one
/// of `values`. A missing or null value fails it.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub source: Source,
    pub field_type: FieldType,
    pub values: Vec<StateValue>,
}

/// One `[[projections.NAME.on]]` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedRule {
    /// Only events of this aggregate type, when given.
    pub aggregate: Option<String>,
    pub events: Vec<String>,
    /// One source per key column, in the key columns' order.
    pub key: Vec<Source>,
    /// The line of the rule's `key`, for the error about missing keys.
    pub key_line: usize,
    pub when: Vec<Condition>,
    pub effects: Vec<FoldEffect>,
}

impl KeyedRule {
    /// Whether the rule applies to events of this aggregate and type.
    pub fn matches(&self, aggregate_type: &str, event_type: &str) -> bool {
        self.of_aggregate(aggregate_type) && self.events.iter().any(|e| e == event_type)
    }

    /// Whether the rule applies to events of this aggregate (of a type it
    /// names: what a fold that finds rules by event type has left to ask).
    pub fn of_aggregate(&self, aggregate_type: &str) -> bool {
        self.aggregate
            .as_deref()
            .is_none_or(|a| a == aggregate_type)
    }

    /// Every source the rule reads: keys, conditions, effects.
    pub fn sources(&self) -> impl Iterator<Item = &Source> {
        let effects = self.effects.iter().filter_map(|e| match &e.op {
            FoldOp::Set(s)
            | FoldOp::Min(s)
            | FoldOp::Max(s)
            | FoldOp::Add(s)
            | FoldOp::Remove(s) => Some(s),
            FoldOp::Unset | FoldOp::Increment(_) => None,
        });
        (self.key.iter())
            .chain(self.when.iter().map(|c| &c.source))
            .chain(effects)
    }
}

/// One keyed fold: the table `projections/<name>.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedProjection {
    pub name: String,
    /// The key columns, in declared order (never null).
    pub keys: Vec<FieldDef>,
    pub fields: Vec<FieldDef>,
    /// The kind of effect each field takes, one per field.
    pub roles: Vec<FieldRole>,
    pub rules: Vec<KeyedRule>,
}

impl KeyedProjection {
    /// The values of a row the first time its key is touched: 0 for an int
    /// (but null for a minimum or maximum, which has seen nothing yet), an
    /// empty list for a list, null for everything else.
    pub fn initial_values(&self) -> Vec<StateValue> {
        (self.fields.iter().zip(&self.roles))
            .map(|(def, role)| match (def.field_type, role) {
                (_, FieldRole::Min | FieldRole::Max) => StateValue::Null,
                (FieldType::Int, _) => StateValue::Int(0),
                (FieldType::List, _) => StateValue::List(Vec::new()),
                _ => StateValue::Null,
            })
            .collect()
    }
}

/// Types a key column may have: values that compare exactly.
const KEY_TYPES: [FieldType; 4] = [
    FieldType::String,
    FieldType::Int,
    FieldType::Bool,
    FieldType::Timestamp,
];

/// Tables every output has, which a projection may not be named.
const OUTPUT_TABLES: [&str; 5] = ["events", "transitions", "streams", "findings", "rejects"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProjection {
    key: Spanned<IndexMap<String, Spanned<String>>>,
    #[serde(default)]
    fields: IndexMap<String, Spanned<String>>,
    #[serde(default)]
    on: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    aggregate: Option<Spanned<String>>,
    events: Spanned<Vec<Spanned<String>>>,
    key: Spanned<IndexMap<String, Spanned<String>>>,
    #[serde(default)]
    when: IndexMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    set: IndexMap<String, Spanned<String>>,
    #[serde(default)]
    unset: Vec<Spanned<String>>,
    #[serde(default)]
    increment: IndexMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    min: IndexMap<String, Spanned<String>>,
    #[serde(default)]
    max: IndexMap<String, Spanned<String>>,
    #[serde(default)]
    add: IndexMap<String, Spanned<String>>,
    #[serde(default)]
    remove: IndexMap<String, Spanned<String>>,
}

/// Validates the `[projections.*]` sections against the validated aggregates.
pub(super) fn validate(
    locator: &Locator,
    raw: &IndexMap<String, Spanned<RawProjection>>,
    aggregates: &[AggregateModel],
) -> Result<Vec<KeyedProjection>> {
    raw.iter()
        .map(|(name, projection)| {
            let context = ProjectionContext {
                locator,
                name,
                aggregates,
            };
            context.projection(projection)
        })
        .collect()
}

/// Whether `name` is usable as a table name in SQL without quotes.
fn is_table_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// What validating one projection needs to know.
struct ProjectionContext<'a> {
    locator: &'a Locator<'a>,
    name: &'a str,
    aggregates: &'a [AggregateModel],
}

/// The names and types of a projection's columns: keys, then fields.
struct Columns<'a> {
    keys: &'a [FieldDef],
    fields: &'a [FieldDef],
}

impl ProjectionContext<'_> {
    fn error(&self, span: &std::ops::Range<usize>, message: String, hint: &str) -> crate::Error {
        self.locator.error(
            span,
            format!("projection \"{}\": {message}", self.name),
            Some(hint.to_owned()),
        )
    }

    fn projection(&self, raw: &Spanned<RawProjection>) -> Result<KeyedProjection> {
        self.check_name(&raw.span())?;
        let projection = raw.get_ref();
        let keys = self.columns(projection.key.get_ref(), &[], "key column")?;
        if keys.is_empty() {
            return Err(self.error(
                &projection.key.span(),
                "declares no key column".into(),
                "write e.g. key = { assignee = \"string\" }",
            ));
        }
        if let Some((column, def)) = (projection.key.get_ref().values().zip(&keys))
            .find(|(_, def)| !KEY_TYPES.contains(&def.field_type))
        {
            let names: Vec<&str> = KEY_TYPES.iter().map(|t| t.name()).collect();
            return Err(self.error(
                &column.span(),
                format!(
                    "key column \"{}\" has type {}, which cannot be a key",
                    def.name,
                    def.field_type.name()
                ),
                &format!("a key column is one of {}", names.join(", ")),
            ));
        }
        let fields = self.columns(&projection.fields, &keys, "field")?;
        let columns = Columns {
            keys: &keys,
            fields: &fields,
        };
        if projection.on.is_empty() {
            return Err(self.error(
                &raw.span(),
                "has no rule".into(),
                &format!(
                    "add [[projections.{}.on]] with events, key and effects",
                    self.name
                ),
            ));
        }
        let mut roles: Vec<Option<(FieldRole, usize)>> = vec![None; fields.len()];
        let rules = (projection.on.iter().enumerate())
            .map(|(index, rule)| {
                RuleContext {
                    projection: self,
                    columns: &columns,
                    number: index + 1,
                    aggregate: None,
                }
                .rule(rule, &mut roles)
            })
            .collect::<Result<Vec<_>>>()?;
        let roles = roles
            .into_iter()
            .map(|role| role.map_or(FieldRole::Assigned, |(role, _)| role))
            .collect();
        Ok(KeyedProjection {
            name: self.name.to_owned(),
            keys,
            fields,
            roles,
            rules,
        })
    }

    /// Refuses a name that is no table name or is taken by an output table.
    fn check_name(&self, span: &std::ops::Range<usize>) -> Result<()> {
        let name = self.name;
        if !is_table_name(name) {
            return Err(self.error(
                span,
                "the name is not a table name".into(),
                "use lowercase letters, digits and _, starting with a letter or _",
            ));
        }
        let clash = OUTPUT_TABLES.contains(&name)
            || name.starts_with("model_")
            || self
                .aggregates
                .iter()
                .any(|a| a.name == name || name.strip_suffix("_history") == Some(a.name.as_str()));
        if clash {
            let mut taken: Vec<String> = OUTPUT_TABLES.iter().map(|t| t.to_string()).collect();
            for aggregate in self.aggregates {
                taken.push(aggregate.name.clone());
                taken.push(format!("{}_history", aggregate.name));
            }
            taken.push("model_*".into());
            return Err(self.error(
                span,
                "the name is taken by a table of the output".into(),
                &format!("rename it; taken are {}", taken.join(", ")),
            ));
        }
        Ok(())
    }

    /// Typed columns (`name = "type"`), none named as one of `taken`.
    fn columns(
        &self,
        raw: &IndexMap<String, Spanned<String>>,
        taken: &[FieldDef],
        what: &str,
    ) -> Result<Vec<FieldDef>> {
        let mut columns: Vec<FieldDef> = Vec::new();
        for (name, type_name) in raw {
            let field_type = FieldType::parse(type_name.get_ref()).ok_or_else(|| {
                self.error(
                    &type_name.span(),
                    format!(
                        "{what} \"{name}\" has unknown type \"{}\"",
                        type_name.get_ref()
                    ),
                    &format!("expected one of {}", FieldType::NAMES),
                )
            })?;
            if taken.iter().any(|t| t.name == *name) {
                return Err(self.error(
                    &type_name.span(),
                    format!("{what} \"{name}\" has the name of a key column"),
                    "a row's columns are its keys and its fields; rename one",
                ));
            }
            columns.push(FieldDef {
                name: name.clone(),
                field_type,
            });
        }
        Ok(columns)
    }
}

/// What validating one rule needs to know.
struct RuleContext<'a> {
    projection: &'a ProjectionContext<'a>,
    columns: &'a Columns<'a>,
    /// The rule's number, from 1, in messages.
    number: usize,
    /// The aggregate the rule is restricted to, once read.
    aggregate: Option<&'a AggregateModel>,
}

impl<'a> RuleContext<'a> {
    fn error(&self, span: &std::ops::Range<usize>, message: String, hint: &str) -> crate::Error {
        self.projection
            .error(span, format!("rule {}: {message}", self.number), hint)
    }

    fn rule(
        mut self,
        raw: &Spanned<RawRule>,
        roles: &mut [Option<(FieldRole, usize)>],
    ) -> Result<KeyedRule> {
        let rule = raw.get_ref();
        if let Some(name) = &rule.aggregate {
            let aggregates = self.projection.aggregates;
            let found = aggregates.iter().find(|a| a.name == *name.get_ref());
            let Some(found) = found else {
                let names: Vec<&str> = aggregates.iter().map(|a| a.name.as_str()).collect();
                return Err(self.error(
                    &name.span(),
                    format!("unknown aggregate \"{}\"", name.get_ref()),
                    &format!("declared aggregates: {}", names.join(", ")),
                ));
            };
            self.aggregate = Some(found);
        }
        let events: Vec<String> = rule
            .events
            .get_ref()
            .iter()
            .map(|e| e.get_ref().clone())
            .collect();
        if events.is_empty() {
            return Err(self.error(
                &rule.events.span(),
                "events is empty".into(),
                "name the event types the rule applies to, e.g. events = [\"TaskAssigned\"]",
            ));
        }
        if let Some(aggregate) = self.aggregate {
            if let Some(unknown) = (rule.events.get_ref().iter())
                .find(|e| !aggregate.handlers.contains_key(e.get_ref()))
            {
                return Err(self.error(
                    &unknown.span(),
                    format!(
                        "aggregate \"{}\" has no event \"{}\"",
                        aggregate.name,
                        unknown.get_ref()
                    ),
                    "a rule sees only the events its aggregate applies; declare the event under the aggregate",
                ));
            }
        }
        let key = self.key(&rule.key)?;
        let when = (rule.when.iter())
            .map(|(source, values)| self.condition(source, values))
            .collect::<Result<Vec<_>>>()?;
        let effects = self.effects(rule, roles)?;
        Ok(KeyedRule {
            aggregate: self.aggregate.map(|a| a.name.clone()),
            events,
            key,
            key_line: self.projection.locator.line(&rule.key.span()),
            when,
            effects,
        })
    }

    /// One source per key column, in the key columns' order.
    fn key(&self, raw: &Spanned<IndexMap<String, Spanned<String>>>) -> Result<Vec<Source>> {
        let keys = self.columns.keys;
        if let Some((name, source)) = raw
            .get_ref()
            .iter()
            .find(|(name, _)| !keys.iter().any(|k| k.name == **name))
        {
            let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
            return Err(self.error(
                &source.span(),
                format!("key names \"{name}\", which is not a key column"),
                &format!("the key columns are {}", names.join(", ")),
            ));
        }
        keys.iter()
            .map(|column| {
                let source = raw.get_ref().get(&column.name).ok_or_else(|| {
                    self.error(
                        &raw.span(),
                        format!("key gives no source for key column \"{}\"", column.name),
                        "give every key column a source, e.g. key = { assignee = \"assignee\" }",
                    )
                })?;
                self.typed_source(
                    source,
                    column.field_type,
                    &format!("key column \"{}\"", column.name),
                )
            })
            .collect()
    }

    fn condition(&self, source_text: &str, raw: &Spanned<toml::Value>) -> Result<Condition> {
        let span = raw.span();
        let spanned = Spanned::new(span.clone(), source_text.to_owned());
        let source = self.source(&spanned)?;
        let values: Vec<&toml::Value> = match raw.get_ref() {
            toml::Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        let hint = "write e.g. when = { \"@before.status\" = [\"open\", \"blocked\"] }";
        let Some(first) = values.first() else {
            return Err(self.error(
                &span,
                format!("condition on \"{source_text}\" lists no value"),
                hint,
            ));
        };
        let field_type = match self.source_type(&source) {
            Some(field_type) => field_type,
            None => match first {
                toml::Value::String(_) => FieldType::String,
                toml::Value::Integer(_) => FieldType::Int,
                toml::Value::Float(_) => FieldType::Float,
                toml::Value::Boolean(_) => FieldType::Bool,
                _ => FieldType::List,
            },
        };
        let values = values
            .iter()
            .map(|value| {
                condition_value(field_type, value).ok_or_else(|| {
                    self.error(
                        &span,
                        format!(
                            "condition on \"{source_text}\" ({}) compares it with {value}",
                            field_type.name()
                        ),
                        "compare a value with values of its type: strings, integers, floats, booleans, or timestamps as strings",
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Condition {
            source,
            field_type,
            values,
        })
    }

    fn effects(
        &self,
        rule: &RawRule,
        roles: &mut [Option<(FieldRole, usize)>],
    ) -> Result<Vec<FoldEffect>> {
        use FieldType::{Float, Int, List, Timestamp};
        let mut effects = Vec::new();
        let mut push = |field: usize, op: FoldOp| effects.push(FoldEffect { field, op });
        for (name, source) in &rule.set {
            let field = self.field(name, source.span(), FieldRole::Assigned, None, roles)?;
            let target = &self.columns.fields[field];
            let what = format!("field \"{}\"", target.name);
            push(
                field,
                FoldOp::Set(self.typed_source(source, target.field_type, &what)?),
            );
        }
        for name in &rule.unset {
            let field = self.field(
                name.get_ref(),
                name.span(),
                FieldRole::Assigned,
                None,
                roles,
            )?;
            push(field, FoldOp::Unset);
        }
        for (name, by) in &rule.increment {
            let field = self.field(name, by.span(), FieldRole::Counter, Some(&[Int]), roles)?;
            let toml::Value::Integer(by) = by.get_ref() else {
                return Err(self.error(
                    &by.span(),
                    format!(
                        "increments \"{name}\" by {}, expected an integer",
                        by.get_ref()
                    ),
                    "write e.g. increment = { open = 1 } or { open = -1 }",
                ));
            };
            push(field, FoldOp::Increment(*by));
        }
        type Make = fn(Source) -> FoldOp;
        type Sourced<'r> = (
            &'r IndexMap<String, Spanned<String>>,
            FieldRole,
            &'r [FieldType],
            Make,
        );
        let sourced: [Sourced; 4] = [
            (
                &rule.min,
                FieldRole::Min,
                &[Int, Float, Timestamp],
                FoldOp::Min,
            ),
            (
                &rule.max,
                FieldRole::Max,
                &[Int, Float, Timestamp],
                FoldOp::Max,
            ),
            (&rule.add, FieldRole::Members, &[List], FoldOp::Add),
            (&rule.remove, FieldRole::Members, &[List], FoldOp::Remove),
        ];
        for (map, role, allowed, make) in sourced {
            for (name, source) in map {
                let field = self.field(name, source.span(), role, Some(allowed), roles)?;
                let target = &self.columns.fields[field];
                // A list's element is a string; a minimum or maximum the field's type.
                let value_type = match role {
                    FieldRole::Members => FieldType::String,
                    _ => target.field_type,
                };
                let what = format!("field \"{}\"", target.name);
                push(field, make(self.typed_source(source, value_type, &what)?));
            }
        }
        Ok(effects)
    }

    /// The index of field `name`, which must have one of the `allowed` types
    /// and take effects of one role only.
    fn field(
        &self,
        name: &str,
        span: std::ops::Range<usize>,
        role: FieldRole,
        allowed: Option<&[FieldType]>,
        roles: &mut [Option<(FieldRole, usize)>],
    ) -> Result<usize> {
        let fields = self.columns.fields;
        let index = fields.iter().position(|f| f.name == name).ok_or_else(|| {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            self.error(
                &span,
                format!("changes unknown field \"{name}\""),
                &format!(
                    "declare it under [projections.{}.fields]; declared: {}",
                    self.projection.name,
                    names.join(", ")
                ),
            )
        })?;
        let field_type = fields[index].field_type;
        if let Some(types) = allowed.filter(|types| !types.contains(&field_type)) {
            let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
            return Err(self.error(
                &span,
                format!(
                    "cannot do this to field \"{name}\" of type {}",
                    field_type.name()
                ),
                &format!("this effect needs a field of type {}", names.join(" or ")),
            ));
        }
        match roles[index] {
            Some((other, rule)) if other != role => Err(self.error(
                &span,
                format!(
                    "field \"{name}\" takes effects of two kinds ({} here, {} in rule {rule})",
                    role_name(role),
                    role_name(other)
                ),
                "a field is counted, a minimum, a maximum, assigned, or a list of members: mixed, the result would depend on the order of the streams",
            )),
            _ => {
                roles[index] = Some((role, self.number));
                Ok(index)
            }
        }
    }

    /// A source whose value goes where a `expected` value goes (`what`).
    fn typed_source(
        &self,
        raw: &Spanned<String>,
        expected: FieldType,
        what: &str,
    ) -> Result<Source> {
        let source = self.source(raw)?;
        match self.source_type(&source) {
            Some(found) if !fits(expected, found) => Err(self.error(
                &raw.span(),
                format!(
                    "puts \"{}\" ({}) into {what} of type {}",
                    raw.get_ref(),
                    found.name(),
                    expected.name()
                ),
                "declare the column with the value's type",
            )),
            _ => Ok(source),
        }
    }

    /// The type of a source's value; `None` for a payload path (untyped
    /// until read).
    fn source_type(&self, source: &Source) -> Option<FieldType> {
        match source {
            Source::Value(ValueSource::Envelope(value)) => Some(value.field_type()),
            Source::Value(ValueSource::Payload(_)) => None,
            Source::Before(state) | Source::After(state) => Some(match state {
                StateRef::Status => FieldType::String,
                StateRef::Field(index) => self.aggregate?.fields[*index].field_type,
            }),
        }
    }

    fn source(&self, raw: &Spanned<String>) -> Result<Source> {
        let text = raw.get_ref();
        let state = [
            ("@before.", Source::Before as fn(StateRef) -> Source),
            ("@after.", Source::After),
        ]
        .into_iter()
        .find_map(|(prefix, make)| Some((text.strip_prefix(prefix)?, make)));
        if let Some((field, make)) = state {
            return self.state_ref(raw, field).map(make);
        }
        if let Some(name) = text.strip_prefix('@') {
            return EnvelopeValue::parse(name)
                .map(|value| Source::Value(ValueSource::Envelope(value)))
                .ok_or_else(|| {
                    self.error(
                        &raw.span(),
                        format!("reads unknown value \"{text}\""),
                        &format!(
                            "expected one of {}, @before.FIELD, @after.FIELD",
                            EnvelopeValue::NAMES
                        ),
                    )
                });
        }
        JsonPath::parse(text)
            .map(|path| Source::Value(ValueSource::Payload(path)))
            .map_err(|err| {
                self.error(
                    &raw.span(),
                    err.to_string(),
                    "a payload path, an @envelope value, @before.FIELD or @after.FIELD",
                )
            })
    }

    /// `FIELD` of `@before.FIELD` / `@after.FIELD`: the status or a declared
    /// field of the rule's aggregate.
    fn state_ref(&self, raw: &Spanned<String>, field: &str) -> Result<StateRef> {
        let Some(aggregate) = self.aggregate else {
            return Err(self.error(
                &raw.span(),
                format!("reads \"{}\" but names no aggregate", raw.get_ref()),
                "add aggregate = \"…\" to the rule: the state read is that aggregate's",
            ));
        };
        let status = aggregate
            .lifecycle
            .as_ref()
            .map(|l| l.status_field.as_str());
        if status == Some(field) {
            return Ok(StateRef::Status);
        }
        if let Some(index) = aggregate.fields.iter().position(|f| f.name == field) {
            return Ok(StateRef::Field(index));
        }
        let mut names: Vec<&str> = status.into_iter().collect();
        names.extend(aggregate.fields.iter().map(|f| f.name.as_str()));
        Err(self.error(
            &raw.span(),
            format!(
                "reads \"{}\", but aggregate \"{}\" has no field \"{field}\"",
                raw.get_ref(),
                aggregate.name
            ),
            &format!("its fields: {}", names.join(", ")),
        ))
    }
}

fn role_name(role: FieldRole) -> &'static str {
    match role {
        FieldRole::Counter => "increment",
        FieldRole::Min => "min",
        FieldRole::Max => "max",
        FieldRole::Assigned => "set/unset",
        FieldRole::Members => "add/remove",
    }
}

/// A condition's value from TOML, as a value of `field_type`.
fn condition_value(field_type: FieldType, value: &toml::Value) -> Option<StateValue> {
    Some(match (field_type, value) {
        (FieldType::String, toml::Value::String(s)) => StateValue::Str(s.clone()),
        (FieldType::Int, toml::Value::Integer(i)) => StateValue::Int(*i),
        (FieldType::Float, toml::Value::Integer(i)) => StateValue::Float(*i as f64),
        (FieldType::Float, toml::Value::Float(f)) => StateValue::Float(*f),
        (FieldType::Bool, toml::Value::Boolean(b)) => StateValue::Bool(*b),
        (FieldType::Timestamp, toml::Value::String(s)) => StateValue::Timestamp(
            crate::support::time::parse_timestamp(&serde_json::Value::String(s.clone()))?,
        ),
        (FieldType::Timestamp, toml::Value::Datetime(d)) => StateValue::Timestamp(
            crate::support::time::parse_timestamp(&serde_json::Value::String(d.to_string()))?,
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_model;

    /// An aggregate with a lifecycle, then the projection `text` from line 9.
    fn model_with(text: &str) -> String {
        format!(
            "[aggregates.task]\nfields = {{ assignee = \"string\", hours = \"float\" }}\n[aggregates.task.lifecycle]\ninitial = \"open\"\nstatuses = [\"open\", \"done\"]\n[aggregates.task.events.TaskAssigned]\nset = {{ assignee = \"assignee\" }}\n[aggregates.task.events.TaskDone]\n{text}"
        )
    }

    fn error_of(text: &str) -> String {
        parse_model("m.toml", &model_with(text))
            .unwrap_err()
            .to_string()
    }

    const GOOD: &str = r#"[projections.load]
key = { assignee = "string", open = "int" }
[projections.load.fields]
n = "int"
first = "timestamp"
tasks = "list"
who = "string"
[[projections.load.on]]
aggregate = "task"
events = ["TaskAssigned"]
key = { open = "@version", assignee = "@before.assignee" }
when = { "@before.status" = ["open", "done"], "who" = "x" }
increment = { n = -1 }
min = { first = "@occurred_at" }
remove = { tasks = "@stream_id" }
set = { who = "@after.status" }
[[projections.load.on]]
events = ["Other"]
key = { assignee = "a.b", open = "/n" }
unset = ["who"]
"#;

    #[test]
    fn a_projection_parses_into_its_typed_rules() {
        let model = parse_model("m.toml", &model_with(GOOD)).unwrap();
        let load = &model.projections[0];
        assert_eq!(load.name, "load");
        let keys: Vec<&str> = load.keys.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(keys, ["assignee", "open"]);
        assert_eq!(
            load.roles,
            [
                FieldRole::Counter,
                FieldRole::Min,
                FieldRole::Members,
                FieldRole::Assigned
            ]
        );
        let rule = &load.rules[0];
        // Key sources in the key columns' order, whatever the rule's order.
        assert_eq!(
            rule.key,
            [
                Source::Before(StateRef::Field(0)),
                Source::Value(ValueSource::Envelope(EnvelopeValue::Version))
            ]
        );
        assert_eq!(rule.key_line, 19);
        assert_eq!(rule.when[0].source, Source::Before(StateRef::Status));
        assert_eq!(
            rule.when[0].values,
            [
                StateValue::Str("open".into()),
                StateValue::Str("done".into())
            ]
        );
        assert_eq!(rule.when[1].field_type, FieldType::String);
        assert!(rule.matches("task", "TaskAssigned"));
        assert!(!rule.matches("project", "TaskAssigned"));
        assert!(load.rules[1].matches("project", "Other"));
        assert_eq!(
            load.initial_values(),
            [
                StateValue::Int(0),
                StateValue::Null,
                StateValue::List(vec![]),
                StateValue::Null
            ]
        );
    }

    /// Each mistake names its line (the projection starts at line 9).
    #[test]
    fn each_mistake_names_its_line() {
        let on = "[[projections.p.on]]\nevents = [\"TaskAssigned\"]\naggregate = \"task\"\n";
        let head = "[projections.p]\nkey = { who = \"string\" }\nfields = { n = \"int\", s = \"string\", l = \"list\", t = \"timestamp\" }\n";
        let cases: Vec<(String, &str)> = vec![
            (format!("[projections.events]\nkey = {{ a = \"string\" }}\n{}{}", on.replace(".p.", ".events."), "key = { a = \"x\" }\n"), "m.toml:9: projection \"events\": the name is taken by a table of the output"),
            (format!("[projections.task_history]\nkey = {{ a = \"string\" }}\n{}{}", on.replace(".p.", ".task_history."), "key = { a = \"x\" }\n"), "m.toml:9: projection \"task_history\": the name is taken"),
            (format!("[projections.model_x]\nkey = {{ a = \"string\" }}\n{}{}", on.replace(".p.", ".model_x."), "key = { a = \"x\" }\n"), "m.toml:9: projection \"model_x\": the name is taken"),
            (format!("[projections.Bad-Name]\nkey = {{ a = \"string\" }}\n{}{}", on.replace(".p.", ".Bad-Name."), "key = { a = \"x\" }\n"), "m.toml:9: projection \"Bad-Name\": the name is not a table name"),
            ("[projections.p]\nkey = { who = \"strng\" }\n".into(), "m.toml:10: projection \"p\": key column \"who\" has unknown type \"strng\""),
            ("[projections.p]\nkey = { who = \"float\" }\n".into(), "m.toml:10: projection \"p\": key column \"who\" has type float, which cannot be a key"),
            ("[projections.p]\nkey = {}\n".into(), "m.toml:10: projection \"p\": declares no key column"),
            ("[projections.p]\nkey = { who = \"string\" }\nfields = { who = \"int\" }\n".into(), "m.toml:11: projection \"p\": field \"who\" has the name of a key column"),
            (head.into(), "m.toml:9: projection \"p\": has no rule"),
            (format!("{head}{on}"), "m.toml:12: missing field `key`"),
            (format!("{head}{on}key = {{ who = \"assignee\" }}\nfrobnicate = 1\n"), "m.toml:16: unknown field `frobnicate`"),
            (format!("{head}[[projections.p.on]]\nevents = []\nkey = {{ who = \"x\" }}\n"), "m.toml:13: projection \"p\": rule 1: events is empty"),
            (format!("{head}[[projections.p.on]]\naggregate = \"tsk\"\nevents = [\"A\"]\nkey = {{ who = \"x\" }}\n"), "m.toml:13: projection \"p\": rule 1: unknown aggregate \"tsk\""),
            (format!("{head}{}key = {{ who = \"x\" }}\n", on.replace("TaskAssigned", "TaskTeleported")), "m.toml:13: projection \"p\": rule 1: aggregate \"task\" has no event \"TaskTeleported\""),
            (format!("{head}{on}key = {{ }}\n"), "m.toml:15: projection \"p\": rule 1: key gives no source for key column \"who\""),
            (format!("{head}{on}key = {{ whom = \"x\" }}\n"), "m.toml:15: projection \"p\": rule 1: key names \"whom\", which is not a key column"),
            (format!("{head}{on}key = {{ who = \"@occurred_at\" }}\n"), "m.toml:15: projection \"p\": rule 1: puts \"@occurred_at\" (timestamp) into key column \"who\" of type string"),
            (format!("{head}{on}key = {{ who = \"@before.asignee\" }}\n"), "m.toml:15: projection \"p\": rule 1: reads \"@before.asignee\", but aggregate \"task\" has no field \"asignee\""),
            (format!("{head}[[projections.p.on]]\nevents = [\"A\"]\nkey = {{ who = \"@after.assignee\" }}\n"), "m.toml:14: projection \"p\": rule 1: reads \"@after.assignee\" but names no aggregate"),
            (format!("{head}{on}key = {{ who = \"@actr\" }}\n"), "m.toml:15: projection \"p\": rule 1: reads unknown value \"@actr\""),
            (format!("{head}{on}key = {{ who = \"a..b\" }}\n"), "m.toml:15: projection \"p\": rule 1: path \"a..b\" has an empty segment"),
            (format!("{head}{on}key = {{ who = \"x\" }}\nincrement = {{ s = 1 }}\n"), "m.toml:16: projection \"p\": rule 1: cannot do this to field \"s\" of type string"),
            (format!("{head}{on}key = {{ who = \"x\" }}\nincrement = {{ n = 1.5 }}\n"), "m.toml:16: projection \"p\": rule 1: increments \"n\" by 1.5, expected an integer"),
            (format!("{head}{on}key = {{ who = \"x\" }}\nmin = {{ s = \"x\" }}\n"), "m.toml:16: projection \"p\": rule 1: cannot do this to field \"s\" of type string"),
            (format!("{head}{on}key = {{ who = \"x\" }}\nadd = {{ n = \"x\" }}\n"), "m.toml:16: projection \"p\": rule 1: cannot do this to field \"n\" of type int"),
            (format!("{head}{on}key = {{ who = \"x\" }}\nadd = {{ l = \"@version\" }}\n"), "m.toml:16: projection \"p\": rule 1: puts \"@version\" (int) into field \"l\" of type string"),
            (format!("{head}{on}key = {{ who = \"x\" }}\nset = {{ nn = \"x\" }}\n"), "m.toml:16: projection \"p\": rule 1: changes unknown field \"nn\""),
            (format!("{head}{on}key = {{ who = \"x\" }}\nset = {{ t = \"@after.hours\" }}\n"), "m.toml:16: projection \"p\": rule 1: puts \"@after.hours\" (float) into field \"t\" of type timestamp"),
            (format!("{head}{on}key = {{ who = \"x\" }}\nincrement = {{ n = 1 }}\n{on}key = {{ who = \"x\" }}\nset = {{ n = \"x\" }}\n"), "m.toml:21: projection \"p\": rule 2: field \"n\" takes effects of two kinds (set/unset here, increment in rule 1)"),
            (format!("{head}{on}key = {{ who = \"x\" }}\nwhen = {{ \"@before.status\" = 1 }}\n"), "m.toml:16: projection \"p\": rule 1: condition on \"@before.status\" (string) compares it with 1"),
            (format!("{head}{on}key = {{ who = \"x\" }}\nwhen = {{ \"y\" = [\"a\", 2] }}\n"), "m.toml:16: projection \"p\": rule 1: condition on \"y\" (string) compares it with 2"),
            (format!("{head}{on}key = {{ who = \"x\" }}\nwhen = {{ \"y\" = [] }}\n"), "m.toml:16: projection \"p\": rule 1: condition on \"y\" lists no value"),
        ];
        for (text, expected) in cases {
            let error = error_of(&text);
            assert!(
                error.starts_with(expected),
                "{text}\n  gave: {error}\n  expected: {expected}"
            );
            assert!(error.contains("\n  hint: "), "{error}");
        }
    }

    /// The README's example, added to the task model, is a valid model.
    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../../README.md");
        let section = &readme[readme.find("### Keyed folds").unwrap()..];
        let example = section.split("```toml\n").nth(1).unwrap();
        let example = &example[..example.find("```").unwrap()];
        let task = include_str!("../../testdata/tasks/model.toml");
        let model = parse_model("model.toml", &format!("{task}\n{example}")).unwrap();
        let example = model.projections.iter().find(|p| p.name == "assignee_load");
        assert_eq!(example.unwrap().rules.len(), 2);
    }

    #[test]
    fn a_projection_is_a_table_name() {
        for good in ["load", "_x", "a1_b"] {
            assert!(is_table_name(good), "{good}");
        }
        for bad in ["", "1a", "Load", "a-b", "a b", "ä"] {
            assert!(!is_table_name(bad), "{bad}");
        }
    }
}
