//! Presets: ready-made mappings for the exports of known event stores and
//! formats. Each is a table of source specs in the same syntax as `--map` and a
//! mapping file, so what a preset does can be read here and overridden field by
//! field. The README's presets table lists the same columns.

use super::mapping::{EnvelopeField as F, Mapping};
use super::Format;
use crate::{Error, Result};

/// The mapping without a preset named: the generic preset's.
impl Default for Mapping {
    fn default() -> Self {
        Preset::Generic.mapping()
    }
}

/// A named mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Generic,
    CloudEvents,
    EventStoreDb,
    Marten,
    Axon,
    Xes,
}

type Specs = &'static [(F, &'static [&'static str])];

const GENERIC: Specs = &[
    (F::Position, &["position"]),
    (F::EventId, &["event_id"]),
    (F::StreamId, &["stream_id"]),
    (F::AggregateType, &["aggregate_type"]),
    (F::Version, &["version"]),
    (F::EventType, &["event_type"]),
    (F::SchemaVersion, &["schema_version"]),
    (F::OccurredAt, &["occurred_at"]),
    (F::Actor, &["actor", "metadata.actor"]),
    (
        F::CorrelationId,
        &["correlation_id", "metadata.correlation_id"],
    ),
    (F::CausationId, &["causation_id", "metadata.causation_id"]),
    (F::Tenant, &["tenant", "metadata.tenant"]),
    (F::Payload, &["payload"]),
    (F::Metadata, &["metadata"]),
];

const CLOUDEVENTS: Specs = &[
    (F::EventId, &["id"]),
    (F::StreamId, &["subject"]),
    (F::AggregateType, &["aggregatetype"]),
    (F::Version, &["@order"]),
    (F::EventType, &["type"]),
    (F::SchemaVersion, &["dataschemaversion"]),
    (F::OccurredAt, &["time"]),
    (F::Actor, &["actor"]),
    (F::CorrelationId, &["correlationid"]),
    (F::CausationId, &["causationid"]),
    (F::Tenant, &["tenant"]),
    (F::Payload, &["data"]),
    (F::Metadata, &["@rest"]),
];

const EVENTSTOREDB: Specs = &[
    (F::EventId, &["eventId"]),
    (F::StreamId, &["streamId"]),
    (F::Version, &["eventNumber", "revision"]),
    (F::EventType, &["eventType"]),
    (F::OccurredAt, &["created"]),
    (F::Actor, &["metadata.actor", "metadata.$user"]),
    (F::CorrelationId, &["metadata.$correlationId"]),
    (F::CausationId, &["metadata.$causationId"]),
    (F::Tenant, &["metadata.tenant"]),
    (F::Payload, &["data"]),
    (F::Metadata, &["metadata"]),
];

const MARTEN: Specs = &[
    (F::Position, &["seq_id"]),
    (F::EventId, &["id"]),
    (F::StreamId, &["stream_id"]),
    (F::AggregateType, &["aggregate_type"]),
    (F::Version, &["version"]),
    (F::EventType, &["type"]),
    (F::OccurredAt, &["timestamp"]),
    (F::Actor, &["headers.user", "headers.actor"]),
    (F::CorrelationId, &["correlation_id"]),
    (F::CausationId, &["causation_id"]),
    (F::Tenant, &["tenant_id"]),
    (F::Payload, &["data"]),
    (F::Metadata, &["headers"]),
];

// Axon's `correlationId` names the message that caused this one (our causation)
// and `traceId` the first message of the chain (our correlation).
const AXON: Specs = &[
    (F::Position, &["global_index"]),
    (F::EventId, &["event_identifier"]),
    (F::StreamId, &["aggregate_identifier"]),
    (F::AggregateType, &["type"]),
    (F::Version, &["sequence_number"]),
    (F::EventType, &["payload_type"]),
    (F::SchemaVersion, &["payload_revision"]),
    (F::OccurredAt, &["time_stamp"]),
    (F::Actor, &["meta_data.username", "meta_data.actor"]),
    (F::CorrelationId, &["meta_data.traceId"]),
    (F::CausationId, &["meta_data.correlationId"]),
    (F::Payload, &["payload"]),
    (F::Metadata, &["meta_data"]),
];

const XES: Specs = &[
    (F::StreamId, &["trace.concept:name"]),
    (F::AggregateType, &["=case"]),
    (F::Version, &["@order"]),
    (F::EventType, &["concept:name"]),
    (F::OccurredAt, &["time:timestamp"]),
    (F::Actor, &["org:resource"]),
    (F::Payload, &["@rest"]),
    (F::Metadata, &["trace"]),
];

impl Preset {
    /// Every preset, in the README's order.
    pub const ALL: [Preset; 6] = [
        Preset::Generic,
        Preset::CloudEvents,
        Preset::EventStoreDb,
        Preset::Marten,
        Preset::Axon,
        Preset::Xes,
    ];

    /// The preset's name on the command line and in mapping files.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Generic => "generic",
            Preset::CloudEvents => "cloudevents",
            Preset::EventStoreDb => "eventstoredb",
            Preset::Marten => "marten",
            Preset::Axon => "axon",
            Preset::Xes => "xes",
        }
    }

    /// Parses a preset name.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name || (name == "kurrentdb" && *p == Preset::EventStoreDb))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|p| p.name()).collect();
                Error::usage(format!(
                    "unknown preset \"{name}\"; expected one of {}",
                    names.join(", ")
                ))
            })
    }

    /// The format the preset's exports usually come in, when the input's
    /// name and content do not say.
    pub fn format(self) -> Option<Format> {
        match self {
            Preset::Marten | Preset::Axon => Some(Format::Csv),
            Preset::Xes => Some(Format::Xes),
            _ => None,
        }
    }

    fn specs(self) -> Specs {
        match self {
            Preset::Generic => GENERIC,
            Preset::CloudEvents => CLOUDEVENTS,
            Preset::EventStoreDb => EVENTSTOREDB,
            Preset::Marten => MARTEN,
            Preset::Axon => AXON,
            Preset::Xes => XES,
        }
    }

    /// The preset's mapping.
    pub fn mapping(self) -> Mapping {
        let mut mapping = Mapping::from_specs(self.specs())
            .unwrap_or_else(|e| unreachable!("preset {} does not parse: {e}", self.name()));
        if matches!(self, Preset::EventStoreDb | Preset::Axon) {
            mapping.version_base = 0;
        }
        mapping
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_is_found_by_name() {
        for preset in Preset::ALL {
            let _ = preset.mapping();
            assert_eq!(Preset::parse(preset.name()).unwrap(), preset);
        }
        assert_eq!(Preset::parse("kurrentdb").unwrap(), Preset::EventStoreDb);
        assert!(Preset::parse("oracle").is_err());
    }
}
