//! How inputs are read and mapped, as a mapping file and flags say it.
//!
//! A mapping file is TOML (see the README, "Mapping an export"): the format,
//! a preset to start from, CSV and timestamp settings, and a `[fields]` table of
//! envelope field → source spec (or a list of specs tried in order). Flags
//! override the file, field by field. Every value is checked when the file is
//! read, so a mistake is reported with its line before anything runs.

use std::ops::Range;
use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use super::mapping::{parse_field, Source};
use super::presets::Preset;
use super::{Format, IngestOptions};
use crate::model::Locator;
use crate::support::time::{EpochUnit, TimeOptions};
use crate::{Error, Result};

/// One field's source specs: one, or several tried in order.
#[derive(Debug, Clone)]
enum Specs {
    One(String),
    Many(Vec<String>),
}

/// By hand rather than `#[serde(untagged)]`, whose error ("data did not match
/// any variant of untagged enum Specs") says neither what was found nor what
/// was expected.
impl<'de> Deserialize<'de> for Specs {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct SpecsVisitor;
        impl<'de> serde::de::Visitor<'de> for SpecsVisitor {
            type Value = Specs;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a source spec (a string) or a list of them, tried in order")
            }

            fn visit_str<E: serde::de::Error>(self, spec: &str) -> std::result::Result<Specs, E> {
                Ok(Specs::One(spec.to_owned()))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Specs, A::Error> {
                let mut specs = Vec::new();
                while let Some(spec) = seq.next_element::<String>()? {
                    specs.push(spec);
                }
                Ok(Specs::Many(specs))
            }
        }
        deserializer.deserialize_any(SpecsVisitor)
    }
}

impl Specs {
    fn into_vec(self) -> Vec<String> {
        match self {
            Specs::One(spec) => vec![spec],
            Specs::Many(specs) => specs,
        }
    }
}

/// A mapping file (or the `[input]` table of `eventfold.toml`) as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    format: Option<Spanned<String>>,
    preset: Option<Spanned<String>>,
    delimiter: Option<Spanned<String>>,
    #[serde(default)]
    timestamp_formats: Vec<String>,
    timezone: Option<Spanned<String>>,
    epoch_unit: Option<Spanned<String>>,
    version_base: Option<Spanned<u64>>,
    max_record_bytes: Option<usize>,
    #[serde(default)]
    fields: IndexMap<String, Spanned<Specs>>,
}

/// What a mapping file or the flags say about the inputs; unset means "not said".
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
pub struct InputSpec {
    pub format: Option<String>,
    pub preset: Option<String>,
    pub delimiter: Option<String>,
    pub timestamp_formats: Vec<String>,
    pub timezone: Option<String>,
    pub epoch_unit: Option<String>,
    pub version_base: Option<u64>,
    pub max_record_bytes: Option<usize>,
    /// `(field, specs)` in the order given; later entries win.
    pub fields: Vec<(String, Vec<String>)>,
}

fn hint() -> Option<String> {
    Some("the format is described in the README, section \"Mapping an export\"".into())
}

fn parse_delimiter(text: &str) -> Result<u8> {
    match text {
        "\\t" | "\t" | "tab" => Ok(b'\t'),
        _ if text.len() == 1 && text.is_ascii() => Ok(text.as_bytes()[0]),
        _ => Err(Error::usage(format!(
            "delimiter \"{text}\" is not one ASCII character (or \"tab\")"
        ))),
    }
}

impl InputSpec {
    /// Reads and checks a mapping file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses and checks a mapping file's text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self> {
        let locator = Locator { file, text };
        let raw: RawFile = toml::from_str(text).map_err(|err| locator.toml_error(&err, hint()))?;
        Self::from_raw(raw, &locator)
    }

    /// Checks a parsed mapping table; `locator` turns its spans into lines.
    pub(crate) fn from_raw(raw: RawFile, locator: &Locator) -> Result<Self> {
        let at = |span: &Range<usize>, e: Error| locator.error(span, e.to_string(), hint());
        let spanned = |value: Option<Spanned<String>>, check: &dyn Fn(&str) -> Result<()>| {
            value
                .map(|v| {
                    let span = v.span();
                    let text = v.into_inner();
                    check(&text).map_err(|e| at(&span, e))?;
                    Ok::<_, Error>(text)
                })
                .transpose()
        };
        let mut spec = InputSpec {
            format: spanned(raw.format, &|t| Format::parse(t).map(drop))?,
            preset: spanned(raw.preset, &|t| Preset::parse(t).map(drop))?,
            delimiter: spanned(raw.delimiter, &|t| parse_delimiter(t).map(drop))?,
            timezone: spanned(raw.timezone, &|t| TimeOptions::parse_timezone(t).map(drop))?,
            epoch_unit: spanned(raw.epoch_unit, &|t| EpochUnit::parse(t).map(drop))?,
            timestamp_formats: raw.timestamp_formats,
            version_base: None,
            max_record_bytes: raw.max_record_bytes,
            fields: Vec::new(),
        };
        if let Some(base) = raw.version_base {
            let span = base.span();
            let base = base.into_inner();
            if base > 1 {
                return Err(at(
                    &span,
                    Error::usage(format!(
                        "version_base is {base}; a store counts versions from 0 or from 1"
                    )),
                ));
            }
            spec.version_base = Some(base);
        }
        for (name, specs) in raw.fields {
            let span = specs.span();
            let specs = specs.into_inner().into_vec();
            let field = parse_field(&name).map_err(|e| at(&span, e))?;
            for text in &specs {
                Source::parse(field, text)
                    .map_err(|e| Error::usage(format!("{name}: {e}")))
                    .map_err(|e| at(&span, e))?;
            }
            spec.fields.push((name, specs));
        }
        Ok(spec)
    }

    /// `self` with what `flags` says on top.
    pub fn overridden_by(mut self, flags: InputSpec) -> Self {
        self.format = flags.format.or(self.format);
        self.preset = flags.preset.or(self.preset);
        self.delimiter = flags.delimiter.or(self.delimiter);
        self.timezone = flags.timezone.or(self.timezone);
        self.epoch_unit = flags.epoch_unit.or(self.epoch_unit);
        self.version_base = flags.version_base.or(self.version_base);
        self.max_record_bytes = flags.max_record_bytes.or(self.max_record_bytes);
        self.timestamp_formats.extend(flags.timestamp_formats);
        self.fields.extend(flags.fields);
        self
    }

    /// The ingest options this spec describes.
    pub fn options(&self) -> Result<IngestOptions> {
        let preset = self
            .preset
            .as_deref()
            .map(Preset::parse)
            .transpose()?
            .unwrap_or(Preset::Generic);
        let mut mapping = preset.mapping();
        for (name, specs) in &self.fields {
            let field = parse_field(name)?;
            let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
            mapping.set(field, &specs)?;
        }
        if let Some(base) = self.version_base {
            mapping.version_base = base;
        }
        mapping.time.formats = self.timestamp_formats.clone();
        if let Some(zone) = &self.timezone {
            mapping.time.timezone = Some(TimeOptions::parse_timezone(zone)?);
        }
        if let Some(unit) = &self.epoch_unit {
            mapping.time.epoch_unit = EpochUnit::parse(unit)?;
        }
        let mut options = IngestOptions {
            format: self.format.as_deref().map(Format::parse).transpose()?,
            fallback_format: preset.format(),
            mapping,
            spec: Some(self.clone()),
            ..IngestOptions::default()
        };
        if let Some(delimiter) = &self.delimiter {
            options.csv.delimiter = Some(parse_delimiter(delimiter)?);
        }
        if let Some(max) = self.max_record_bytes {
            options.max_record_bytes = max;
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_file_is_checked_with_lines() {
        let good = "format = \"csv\"\ndelimiter = \";\"\ntimezone = \"Europe/Amsterdam\"\n[fields]\nstream_id = \"SR Number\"\nversion = \"@order\"\nactor = [\"Resource\", \"=nobody\"]\n";
        let spec = InputSpec::parse("m.toml", good).unwrap();
        let options = spec.options().unwrap();
        assert_eq!(options.format, Some(Format::Csv));
        assert_eq!(options.csv.delimiter, Some(b';'));
        assert!(options.mapping.versions_from_order());

        let cases = [
            ("format = \"xml\"\n", 1, "unknown format"),
            (
                "[fields]\n\nstream = \"id\"\n",
                3,
                "unknown envelope field \"stream\"",
            ),
            (
                "[fields]\nversion = \"@rest\"\n",
                2,
                "@rest applies to payload",
            ),
            (
                "[fields]\nevent_type = \"{type\"\n",
                2,
                "without its closing",
            ),
            ("delimiter = \";;\"\n", 1, "not one ASCII character"),
            ("colour = \"red\"\n", 1, "unknown field `colour`"),
            ("timezone = \"Mars/Base\"\n", 1, "not an IANA zone"),
            // A value of the wrong TOML type names its key and what was expected.
            (
                "[fields]\nstream_id = \"id\"\nversion = 1\n",
                3,
                "fields.version: invalid type: integer `1`, expected a source spec (a string) or a list of them",
            ),
            (
                "[fields]\nactor = [\"Resource\", 2]\n",
                2,
                "fields.actor: invalid type: integer `2`, expected a string",
            ),
            (
                "version_base = \"one\"\n",
                1,
                "version_base: invalid type: string \"one\", expected u64",
            ),
        ];
        for (text, line, message) in cases {
            let err = InputSpec::parse("m.toml", text).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("m.toml:{line}: ")) && err.contains(message),
                "{text:?}: {err}"
            );
        }
    }
}
