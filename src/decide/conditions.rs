//! A command's `require` conditions, tested on the stream's current state.
//!
//! A condition on a field that is not set fails (except `!=`), so
//! `estimate_hours < 40` refuses a task with no estimate: the reason says the
//! field is unset rather than the command passing by accident.

use std::cmp::Ordering;

use serde_json::Value;

use super::Command;
use crate::model::command::{Op, Operand, Precondition, Subject, Test};
use crate::model::{AggregateModel, StateValue};
use crate::replay::StreamState;
use crate::support::time::{format_micros, parse_timestamp};

/// Whether `precondition` holds on `state`; `Err` says what the value was.
pub fn holds(
    aggregate: &AggregateModel,
    precondition: &Precondition,
    state: &StreamState,
    command: &Command,
    payload: Option<&Value>,
) -> Result<(), String> {
    let (name, value) = match precondition.subject {
        Subject::Status => (
            "status",
            state
                .status
                .as_deref()
                .map_or(StateValue::Null, |s| StateValue::Str(s.to_owned())),
        ),
        Subject::Field(index) => (
            aggregate.fields[index].name.as_str(),
            state.fields.get(index).cloned().unwrap_or(StateValue::Null),
        ),
    };
    let set = match &value {
        StateValue::Null => false,
        StateValue::List(items) => !items.is_empty(),
        _ => true,
    };
    let is = || format!("{name} is {}", shown(&value));
    match &precondition.test {
        Test::Set if set => Ok(()),
        Test::Unset if !set => Ok(()),
        Test::Set | Test::Unset => Err(is()),
        Test::Compare(op, operand) => {
            let other = match operand {
                Operand::Literal(v) => v.clone(),
                Operand::Actor => command
                    .actor
                    .as_ref()
                    .map_or(StateValue::Null, |a| StateValue::Str(a.clone())),
                Operand::IssuedAt => StateValue::Timestamp(command.issued_at),
                Operand::Payload(path) => match payload.and_then(|p| path.lookup(p)) {
                    Some(found) => from_json(&value, found),
                    None => return Err(format!("the payload has no \"{}\"", path.as_str())),
                },
            };
            if compare(&value, *op, &other) {
                Ok(())
            } else {
                Err(format!("{}, compared with {}", is(), shown(&other)))
            }
        }
    }
}

/// A payload value read as the kind of value it is compared with.
fn from_json(like: &StateValue, value: &Value) -> StateValue {
    match (like, value) {
        (_, Value::Null) => StateValue::Null,
        (StateValue::Timestamp(_), v) => {
            parse_timestamp(v).map_or(StateValue::Null, StateValue::Timestamp)
        }
        (_, Value::String(s)) => StateValue::Str(s.clone()),
        (_, Value::Bool(b)) => StateValue::Bool(*b),
        (_, Value::Number(n)) => match n.as_i64() {
            Some(i) => StateValue::Int(i),
            None => n.as_f64().map_or(StateValue::Null, StateValue::Float),
        },
        (_, other) => StateValue::Str(other.to_string()),
    }
}

fn number(value: &StateValue) -> Option<f64> {
    match value {
        StateValue::Int(i) => Some(*i as f64),
        StateValue::Float(f) => Some(*f),
        _ => None,
    }
}

/// `left OP right`; an unset left fails all but `!=`.
fn compare(left: &StateValue, op: Op, right: &StateValue) -> bool {
    if let (Op::Contains, StateValue::List(items), StateValue::Str(item)) = (op, left, right) {
        return items.contains(item);
    }
    let ordering = match (left, right) {
        (StateValue::Null, _) | (_, StateValue::Null) => None,
        (StateValue::Str(a), StateValue::Str(b)) => Some(a.cmp(b)),
        (StateValue::Bool(a), StateValue::Bool(b)) => Some(a.cmp(b)),
        (StateValue::Timestamp(a), StateValue::Timestamp(b)) => Some(a.cmp(b)),
        (a, b) => match (number(a), number(b)) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => None,
        },
    };
    match (op, ordering) {
        (Op::Ne, None) => !matches!((left, right), (StateValue::Null, StateValue::Null)),
        (_, None) => false,
        (Op::Eq, Some(o)) => o == Ordering::Equal,
        (Op::Ne, Some(o)) => o != Ordering::Equal,
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
        (Op::Contains, Some(_)) => false,
    }
}

/// A value for a message.
fn shown(value: &StateValue) -> String {
    match value {
        StateValue::Null => "unset".into(),
        StateValue::Str(s) => format!("\"{s}\""),
        StateValue::Int(i) => i.to_string(),
        StateValue::Float(f) => f.to_string(),
        StateValue::Bool(b) => b.to_string(),
        StateValue::Timestamp(t) => format_micros(*t),
        StateValue::List(items) => format!("{items:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_model;

    /// Each condition of `require` on a task with `fields`, as pass or the reason.
    fn check(require: &str, fields: &[(&str, StateValue)], payload: &str) -> Result<(), String> {
        let text = format!(
            "[aggregates.t]\nfields = {{ who = \"string\", n = \"float\", tags = \"list\", at = \"timestamp\" }}\n\
             [aggregates.t.events.E]\n[aggregates.t.commands.C]\nemits = \"E\"\nrequire = [{require:?}]\n"
        );
        let model = parse_model("m.toml", &text).unwrap();
        let aggregate = model.aggregate("t").unwrap();
        let mut state = StreamState::new("t-1", "t", Some(aggregate));
        for (name, value) in fields {
            let index = aggregate
                .fields
                .iter()
                .position(|f| f.name == *name)
                .unwrap();
            state.fields[index] = value.clone();
        }
        let command = Command {
            seq: 0,
            command_id: "c".into(),
            command_type: "C".into(),
            stream_id: Some("t-1".into()),
            actor: Some("ann".into()),
            issued_at: 1_000_000,
            expected_version: None,
            correlation_id: None,
            payload: Some(payload.into()),
            source: "c:1".into(),
        };
        let payload: Value = serde_json::from_str(payload).unwrap();
        holds(
            aggregate,
            &model.commands["C"].preconditions[0],
            &state,
            &command,
            Some(&payload),
        )
    }

    #[test]
    fn conditions_compare_by_type_and_an_unset_field_fails_but_not_equal() {
        let n = |x: f64| vec![("n", StateValue::Float(x))];
        assert_eq!(check("n < 40", &n(39.5), "{}"), Ok(()));
        assert_eq!(
            check("n < 40", &n(40.0), "{}"),
            Err("n is 40, compared with 40".into())
        );
        assert_eq!(
            check("n < 40", &[], "{}"),
            Err("n is unset, compared with 40".into())
        );
        assert_eq!(check("n != 40", &[], "{}"), Ok(()));
        assert_eq!(check("n >= payload.min", &n(3.0), r#"{"min":3}"#), Ok(()));
        assert_eq!(
            check("n >= payload.min", &n(3.0), "{}"),
            Err("the payload has no \"min\"".into())
        );
        let who = vec![("who", StateValue::Str("ann".into()))];
        assert_eq!(check("who = @actor", &who, "{}"), Ok(()));
        assert!(check("who != @actor", &who, "{}").is_err());
        assert_eq!(
            check("who = 'bob'", &who, "{}"),
            Err("who is \"ann\", compared with \"bob\"".into())
        );
        let tags = vec![("tags", StateValue::List(vec!["x".into()]))];
        assert_eq!(
            check("tags contains payload.tag", &tags, r#"{"tag":"x"}"#),
            Ok(())
        );
        assert!(check("tags contains 'y'", &tags, "{}").is_err());
        assert_eq!(check("tags is set", &tags, "{}"), Ok(()));
        assert_eq!(check("tags is not set", &[], "{}"), Ok(()));
        let at = vec![("at", StateValue::Timestamp(0))];
        assert_eq!(check("at < @issued_at", &at, "{}"), Ok(()));
        assert_eq!(
            check("at < '1970-01-01T00:00:00Z'", &at, "{}"),
            Err("at is 1970-01-01T00:00:00Z, compared with 1970-01-01T00:00:00Z".into())
        );
    }
}
