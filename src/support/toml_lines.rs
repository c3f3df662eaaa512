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

    pub fn error(&self, span: &Range<usize>, message: String, hint: Option<String>) -> Error {
        Error::Model {
            file: self.file.to_owned(),
            line: self.line(span),
            message,
            hint,
        }
    }
}
