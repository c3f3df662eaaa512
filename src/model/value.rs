//! The typed value of one state field: what the model's field types hold and
//! what replay folds into them.

/// The value of one typed state field.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum StateValue {
    Null,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Microseconds since the epoch, UTC.
    Timestamp(i64),
    List(Vec<String>),
}
