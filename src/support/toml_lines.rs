//! Line numbers of TOML files: byte spans (from `toml::Spanned`) turned into
//! `file:line` errors, for the model, the mapping and the config file.

use std::ops::Range;

use crate::Error;

/// Turns byte spans into `file:line` errors (model and mapping files).
pub struct Locator<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Locator<'_> {
    pub fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    /// A TOML file that does not deserialize: its message, after the dotted
    /// key it is about (`input.fields.version: invalid type: …`) when there
    /// is one, at the line of its span.
    pub fn toml_error(&self, err: &toml::de::Error, hint: Option<String>) -> Error {
        let message = err.message().trim_end_matches('.');
        // An unknown or missing field names its key itself; the key toml
        // knows there is the table's.
        let names_itself = ["unknown field", "missing field"]
            .iter()
            .any(|own| message.starts_with(own));
        let message = match toml_error_key(err).filter(|_| !names_itself) {
            Some(key) => format!("{key}: {message}"),
            None => message.to_owned(),
        };
        self.error(&err.span().unwrap_or(0..0), message, hint)
    }

    pub fn error(&self, span: &Range<usize>, message: String, hint: Option<String>) -> Error {
        Error::Model {
            file: self.file.to_owned(),
            line: self.line(span),
            message,
            hint,
        }
    }
}

/// The dotted key a TOML deserialization error is about (`fields.version`),
/// when it is about one. toml keeps the path private and prints it, as a last
/// line "in `a.b`", only when it has no source text to quote.
fn toml_error_key(err: &toml::de::Error) -> Option<String> {
    let mut bare = err.clone();
    bare.set_input(None);
    let text = bare.to_string();
    let key = text
        .lines()
        .last()?
        .strip_prefix("in `")?
        .strip_suffix('`')?;
    Some(key.to_owned())
}
