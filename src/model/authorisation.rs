//! Authorisation rules in the model: who may cause an event type.
//!
//! An event handler may say `allowed = [...]`; each entry is a permit, and an
//! event whose actor matches any of them is authorised:
//!
//! - `"anyone"`: every actor, even none recorded;
//! - `"@FIELD"`: the actor equals the state's string field (or is in its list
//!   field), as the state is before the event;
//! - `"@REF.FIELD"`: the same, in the state of the stream a reference names:
//!   `[aggregates.T.references] project_id = "project"` (a string field);
//! - `"role:NAME"`: the actor holds role NAME on the event's date (roles file).
//!
//! The model's `[authorisation] severity` sets the severity of the
//! `unauthorised_action` findings. Validation happens once every aggregate's
//! fields are known, since a reference reads another aggregate's.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::{AggregateModel, FieldType, Locator};
use crate::Result;

/// One way an actor may be allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permit {
    Anyone,
    /// A field of the stream's own state (index into its fields).
    Field(usize),
    /// A field of a related stream's state: `reference` is the index of the
    /// string field holding the related stream's id, `aggregate` and `field`
    /// the related aggregate type and the index of its field.
    Related {
        reference: usize,
        aggregate: String,
        field: usize,
        /// As written, without its `@`: `project.owner`.
        name: String,
    },
    Role(String),
}

/// An `allowed` list: its permits, and its text for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub permits: Vec<Permit>,
    /// How the model writes it: `[aggregates.task.events.TaskCompleted] allowed = ["@assignee", …]`.
    pub rule: String,
}

/// `[authorisation]`: settings of the rules' findings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuthorisation {
    severity: Option<Spanned<String>>,
}

/// The severity of `unauthorised_action` findings: `error` unless the model says.
pub(super) fn severity(locator: &Locator, raw: Option<&RawAuthorisation>) -> Result<&'static str> {
    let Some(severity) = raw.and_then(|r| r.severity.as_ref()) else {
        return Ok("error");
    };
    match severity.get_ref().as_str() {
        "error" => Ok("error"),
        "warning" => Ok("warning"),
        other => Err(locator.error(
            &severity.span(),
            format!("[authorisation] severity is \"{other}\""),
            Some("expected error or warning".into()),
        )),
    }
}

/// What validating one aggregate's permits needs.
pub(super) struct PermitContext<'a> {
    pub locator: &'a Locator<'a>,
    pub aggregate: &'a AggregateModel,
    pub aggregates: &'a [AggregateModel],
}

impl PermitContext<'_> {
    /// Validates `allowed` of `what` (an event or a command, for messages;
    /// `section` is the table it is in, for the rule's text).
    pub fn allowed(
        &self,
        what: &str,
        section: &str,
        allowed: &[Spanned<String>],
        creates: bool,
    ) -> Result<Allowed> {
        let permits = allowed
            .iter()
            .map(|permit| self.permit(what, permit, creates))
            .collect::<Result<Vec<_>>>()?;
        let texts: Vec<String> = allowed
            .iter()
            .map(|p| format!("\"{}\"", p.get_ref()))
            .collect();
        Ok(Allowed {
            permits,
            rule: format!("[{section}] allowed = [{}]", texts.join(", ")),
        })
    }

    fn permit(&self, what: &str, raw: &Spanned<String>, creates: bool) -> Result<Permit> {
        let text = raw.get_ref();
        let span = raw.span();
        if text == "anyone" {
            return Ok(Permit::Anyone);
        }
        if let Some(role) = text.strip_prefix("role:") {
            if role.is_empty() {
                return Err(self.error(&span, format!("{what}: \"role:\" names no role"), None));
            }
            return Ok(Permit::Role(role.to_owned()));
        }
        let Some(path) = text.strip_prefix('@') else {
            return Err(self.error(
                &span,
                format!("{what} allows \"{text}\", which is not a permit"),
                Some("write \"anyone\", \"@FIELD\", \"@REFERENCE.FIELD\" or \"role:NAME\"".into()),
            ));
        };
        if creates {
            return Err(self.error(
                &span,
                format!("{what} creates its stream, so \"{text}\" would read an empty state"),
                Some("allow creations by \"anyone\" or by \"role:NAME\"".into()),
            ));
        }
        match path.split_once('.') {
            None => Ok(Permit::Field(self.field(
                what,
                &span,
                self.aggregate,
                path,
            )?)),
            Some((reference, field)) => {
                let (index, related) = self.reference(what, &span, text, reference)?;
                let field = self.field(what, &span, related, field)?;
                Ok(Permit::Related {
                    reference: index,
                    aggregate: related.name.clone(),
                    field,
                    name: path.to_owned(),
                })
            }
        }
    }

    /// The own field and the related aggregate of the reference `name` (a
    /// string field of `[aggregates.T.references]`), checked.
    fn reference(
        &self,
        what: &str,
        span: &Range<usize>,
        text: &str,
        name: &str,
    ) -> Result<(usize, &AggregateModel)> {
        let own = self.aggregate;
        let found = (own.references.iter()).find(|r| {
            own.fields[r.field].name == name && own.fields[r.field].field_type == FieldType::String
        });
        let Some(reference) = found else {
            let names: Vec<&str> = (own.references.iter())
                .filter(|r| own.fields[r.field].field_type == FieldType::String)
                .map(|r| own.fields[r.field].name.as_str())
                .collect();
            return Err(self.error(
                span,
                format!("{what} allows \"{text}\" but aggregate \"{}\" has no string reference \"{name}\"", own.name),
                Some(format!(
                    "declare [aggregates.{}.references] {name} = \"AGGREGATE\" (a string field holding the related stream's id); declared: {}",
                    own.name,
                    if names.is_empty() { "none".into() } else { names.join(", ") }
                )),
            ));
        };
        // The references are validated against the declared aggregates.
        let related = (self.aggregates.iter())
            .find(|a| a.name == reference.target)
            .ok_or_else(|| {
                self.error(
                    span,
                    format!(
                        "reference \"{name}\" names unknown aggregate \"{}\"",
                        reference.target
                    ),
                    None,
                )
            })?;
        Ok((reference.field, related))
    }

    /// The index of a string or list field of `aggregate`.
    fn field(
        &self,
        what: &str,
        span: &Range<usize>,
        aggregate: &AggregateModel,
        name: &str,
    ) -> Result<usize> {
        aggregate
            .fields
            .iter()
            .position(|f| {
                f.name == name && matches!(f.field_type, FieldType::String | FieldType::List)
            })
            .ok_or_else(|| {
                let names: Vec<&str> = aggregate
                    .fields
                    .iter()
                    .filter(|f| matches!(f.field_type, FieldType::String | FieldType::List))
                    .map(|f| f.name.as_str())
                    .collect();
                self.error(
                    span,
                    format!("{what} allows the actor in field \"{name}\" of aggregate \"{}\", which has no such string or list field", aggregate.name),
                    Some(format!("string and list fields: {}", names.join(", "))),
                )
            })
    }

    fn error(&self, span: &Range<usize>, message: String, hint: Option<String>) -> crate::Error {
        self.locator.error(span, message, hint)
    }
}
