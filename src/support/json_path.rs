//! Paths into JSON records and the members of a record, shared by ingest (the
//! mapping's sources), the model (payload paths of its effects) and replay
//! (which reads them from each event's payload).

use serde_json::value::RawValue;
use serde_json::Value;

use crate::{Error, Result};

/// A path into a record: the keys (or array indices) to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    segments: Vec<String>,
    /// Dotted paths also match a top-level key spelled with the dots, as CSV
    /// headers and XES keys often are (`Change Date+Time`, `time:timestamp`).
    whole_key: bool,
}

impl JsonPath {
    /// Parses `/a/b` (a JSON pointer, RFC 6901) or `a.b` (dotted keys).
    pub fn parse(text: &str) -> Result<Self> {
        let (segments, whole_key): (Vec<String>, bool) =
            if let Some(pointer) = text.strip_prefix('/') {
                let segments = pointer
                    .split('/')
                    .map(|s| s.replace("~1", "/").replace("~0", "~"))
                    .collect();
                (segments, false)
            } else {
                (text.split('.').map(str::to_owned).collect(), true)
            };
        if text.is_empty() || segments.iter().any(String::is_empty) {
            return Err(Error::usage(format!(
                "path \"{text}\" has an empty segment; write a JSON pointer like /metadata/user or dotted keys like metadata.user"
            )));
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
            whole_key,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The keys (or indices) the path follows.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Whether a top-level key spelled with the path's dots matches too.
    pub fn whole_key(&self) -> bool {
        self.whole_key
    }

    /// The top-level key the path starts at.
    pub fn first_key(&self) -> &str {
        &self.segments[0]
    }

    /// Whether the path names one top-level key.
    pub fn is_top_level(&self) -> bool {
        self.segments.len() == 1
    }

    /// The key, when the path names one top-level key.
    pub fn top_level_key(&self) -> Option<&str> {
        self.is_top_level().then(|| self.first_key())
    }

    /// Follows the path in `value`; `None` when any step is absent.
    pub fn lookup<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        if self.whole_key && self.segments.len() > 1 {
            if let Some(found) = value.get(&self.text) {
                return Some(found);
            }
        }
        self.segments
            .iter()
            .try_fold(value, |current, segment| match current {
                Value::Object(map) => map.get(segment),
                Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            })
    }
}

/// The top-level members of a JSON object in their order, values unparsed and
/// borrowed from the record's text. A few keys: a list scanned from the end
/// (the last of duplicated keys wins, as in a parsed object) beats hashing.
pub struct Members<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'a> Members<'a> {
    /// Every member in the record's order, repeated keys included.
    pub fn entries(&self) -> &[(&'a str, &'a RawValue)] {
        &self.0
    }

    /// The value of `key`; the last one where the key is repeated.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(16);
                while let Some(member) = map.next_entry::<&'de str, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}
