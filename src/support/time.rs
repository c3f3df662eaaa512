//! Timestamps as exports write them, to microseconds since the epoch (UTC).
//!
//! Tried in order: epoch numbers (in the configured unit), RFC 3339 with any
//! offset, the ISO and PostgreSQL spellings with a short offset (`+01`), then the
//! configured custom formats (chrono's `strftime` syntax). A time without an
//! offset is read in the configured time zone and rejected when there is none:
//! guessing UTC silently shifts a whole log by hours.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde_json::Value;

use crate::{Error, Result};

/// The unit of numeric (epoch) timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EpochUnit {
    Seconds,
    #[default]
    Milliseconds,
    Microseconds,
}

impl EpochUnit {
    /// Parses `s`, `ms` or `us`.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "s" => Ok(EpochUnit::Seconds),
            "ms" => Ok(EpochUnit::Milliseconds),
            "us" => Ok(EpochUnit::Microseconds),
            other => Err(Error::usage(format!(
                "epoch unit \"{other}\" is not one of s, ms, us"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            EpochUnit::Seconds => "seconds",
            EpochUnit::Milliseconds => "milliseconds",
            EpochUnit::Microseconds => "microseconds",
        }
    }

    fn micros(self, n: i64) -> Option<i64> {
        match self {
            EpochUnit::Seconds => n.checked_mul(1_000_000),
            EpochUnit::Milliseconds => n.checked_mul(1_000),
            EpochUnit::Microseconds => Some(n),
        }
    }
}

/// Offset spellings tried after RFC 3339: ISO with a short offset, PostgreSQL's.
const OFFSET_FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z"];
/// Naive spellings tried when a time zone is configured.
const NAIVE_FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"];

/// How to read timestamps.
#[derive(Debug, Clone, Default)]
pub struct TimeOptions {
    pub epoch_unit: EpochUnit,
    /// Custom `strftime` formats, tried after the standard spellings.
    pub formats: Vec<String>,
    /// The zone of times written without an offset.
    pub timezone: Option<Tz>,
}

impl TimeOptions {
    /// Parses a zone name like `Europe/Amsterdam` or `UTC`.
    pub fn parse_timezone(name: &str) -> Result<Tz> {
        name.parse::<Tz>().map_err(|_| {
            Error::usage(format!(
                "time zone \"{name}\" is not an IANA zone name like Europe/Amsterdam or UTC"
            ))
        })
    }

    /// Microseconds since the epoch, or `None` when `value` is not a timestamp.
    pub fn parse(&self, value: &Value) -> Option<i64> {
        match value {
            Value::Number(n) => match n.as_i64() {
                Some(whole) => self.epoch_unit.micros(whole),
                None => n
                    .as_f64()
                    .and_then(|f| self.epoch_unit.micros(1).map(|m| f * m as f64))
                    .filter(|f| f.is_finite() && f.abs() < 9.0e18)
                    .map(|f| f.round() as i64),
            },
            Value::String(s) => self.parse_text(s.trim()),
            _ => None,
        }
    }

    pub(crate) fn parse_text(&self, text: &str) -> Option<i64> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().ok().and_then(|n| self.epoch_unit.micros(n));
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Some(t.timestamp_micros());
        }
        let custom = self.formats.iter().map(String::as_str);
        for format in OFFSET_FORMATS.into_iter().chain(custom.clone()) {
            if let Ok(t) = DateTime::parse_from_str(text, format) {
                return Some(t.timestamp_micros());
            }
        }
        let zone = self.timezone?;
        for format in NAIVE_FORMATS.into_iter().chain(custom) {
            let naive = NaiveDateTime::parse_from_str(text, format).or_else(|_| {
                NaiveDate::parse_from_str(text, format).map(|d| d.and_time(Default::default()))
            });
            if let Ok(naive) = naive {
                return zone
                    .from_local_datetime(&naive)
                    .earliest()
                    .map(|t| t.timestamp_micros());
            }
        }
        None
    }

    /// What a timestamp may look like, for reject reasons.
    pub fn expected(&self) -> String {
        let mut text = format!(
            "an RFC 3339 timestamp like 2026-01-05T09:00:00+01:00 or epoch {}",
            self.epoch_unit.name()
        );
        if !self.formats.is_empty() {
            text.push_str(&format!(" or the format {}", self.formats.join(" or ")));
        }
        if self.timezone.is_none() {
            text.push_str(" (a time without offset needs a configured timezone)");
        }
        text
    }
}

/// Microseconds since the epoch as RFC 3339 text in UTC (`2026-01-05T08:05:19Z`,
/// fractions only when there are some); the epoch for a time out of range.
pub fn format_micros(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Parses a timestamp the default way (RFC 3339 with any offset, or epoch
/// milliseconds), for payload fields; microseconds since the epoch, UTC.
pub fn parse_timestamp(value: &Value) -> Option<i64> {
    TimeOptions::default().parse(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOON_UTC: i64 = 1_767_614_400_000_000; // 2026-01-05T12:00:00Z

    #[test]
    fn offsets_epochs_and_custom_formats() {
        let mut options = TimeOptions::default();
        assert_eq!(
            options.parse(&json!("2026-01-05T13:00:00+01:00")),
            Some(NOON_UTC)
        );
        assert_eq!(
            options.parse(&json!("2026-01-05 12:00:00+00")),
            Some(NOON_UTC)
        );
        assert_eq!(options.parse(&json!(1_767_614_400_000i64)), Some(NOON_UTC));
        assert_eq!(options.parse(&json!("1767614400000")), Some(NOON_UTC));
        assert_eq!(options.parse(&json!("05/01/2026 13:00")), None);
        options.formats = vec!["%d/%m/%Y %H:%M".into()];
        assert_eq!(
            options.parse(&json!("05/01/2026 13:00")),
            None,
            "naive, no zone"
        );
        options.timezone = Some(TimeOptions::parse_timezone("Europe/Amsterdam").unwrap());
        assert_eq!(options.parse(&json!("05/01/2026 13:00")), Some(NOON_UTC));
        options.epoch_unit = EpochUnit::Seconds;
        assert_eq!(options.parse(&json!(1_767_614_400)), Some(NOON_UTC));
        assert_eq!(
            options.parse(&json!(1_767_614_400.5)),
            Some(NOON_UTC + 500_000)
        );
        options.epoch_unit = EpochUnit::Microseconds;
        assert_eq!(options.parse(&json!(NOON_UTC)), Some(NOON_UTC));
        assert_eq!(options.parse(&json!("yesterday")), None);
        assert!(TimeOptions::parse_timezone("Mars/Olympus").is_err());
    }
}
