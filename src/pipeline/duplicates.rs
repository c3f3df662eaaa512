//! Event ids used more than once anywhere in the log: the `duplicate_event_id`
//! findings. A full run finds the repeated id hashes while sorting and the
//! replay keeps those events aside ([`occurrences`]); a partial or incremental
//! run asks DataFusion ([`duplicate_event_ids`]).

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt64Type;

use crate::replay::{Finding, Rule};
use crate::Result;

/// Bytes an event id takes in a join's hash table, about: a 32-character id
/// and the table's own share.
pub(super) const JOINED_ID_BYTES: u64 = 128;

/// An incremental run's new events, for the duplicate-id check.
#[derive(Clone, Copy)]
pub(super) struct NewEvents<'a> {
    /// The table holding them.
    pub table: &'a str,
    /// The previous watermark: every new event's position is above it.
    pub after: Option<u64>,
    /// Whether their ids are looked up among all (they fit in memory).
    pub lookup: bool,
}

/// Findings for event ids used more than once in the table `events`. With
/// `new` (an incremental run), only the new events' findings are returned:
/// the earlier events' are the previous output's, unchanged (a repeat's
/// finding names the first use, and new events come after every old one);
/// and when the new ids fit in memory only they are looked up among all.
pub(super) async fn duplicate_event_ids(
    ctx: &datafusion::prelude::SessionContext,
    events: &str,
    new: Option<NewEvents<'_>>,
) -> Result<Vec<Finding>> {
    let columns = "event_id, aggregate_type, stream_id, version, position";
    let batches = match new {
        Some(NewEvents {
            table: new,
            lookup: true,
            ..
        }) => {
            // The new ids are few: a semi join builds on them and probes the
            // old ids, where an aggregate would hash every id of the log.
            ctx.sql(&format!(
                "SELECT {columns} FROM {events} WHERE event_id IN (SELECT event_id FROM {new})"
            ))
            .await?
            .collect()
            .await?
        }
        _ => {
            // Two steps, so that nothing but the duplicated ids is held in
            // memory: an aggregate finds them (it spills under the memory
            // limit), then they are the build side of the join that fetches
            // their occurrences. A join over the aggregate's output instead
            // may build its hash table from the whole log.
            let duplicated = ctx
                .sql(&format!(
                    "SELECT event_id FROM {events} GROUP BY event_id HAVING count(*) > 1"
                ))
                .await?
                .collect()
                .await?;
            if duplicated.iter().all(|b| b.num_rows() == 0) {
                return Ok(Vec::new());
            }
            let schema = duplicated[0].schema();
            let table = datafusion::datasource::MemTable::try_new(schema, vec![duplicated])?;
            ctx.register_table("duplicated_event_ids", std::sync::Arc::new(table))?;
            let batches = ctx
                .sql(&format!(
                    "SELECT s.event_id, s.aggregate_type, s.stream_id, s.version, s.position \
                     FROM duplicated_event_ids d JOIN {events} s ON s.event_id = d.event_id"
                ))
                .await?
                .collect()
                .await?;
            ctx.deregister_table("duplicated_event_ids")?;
            batches
        }
    };
    let mut found = Vec::new();
    for batch in &batches {
        occurrences(batch, [0, 1, 2, 3, 4], |_| true, &mut found)?;
    }
    let mut findings = duplicate_id_findings(found);
    if let Some(NewEvents {
        after: Some(watermark),
        ..
    }) = new
    {
        findings.retain(|finding| finding.position > watermark);
    }
    Ok(findings)
}

/// Where an event id occurred.
pub(super) struct Occurrence {
    event_id: String,
    aggregate_type: String,
    stream_id: String,
    version: u64,
    position: u64,
}

/// The columns of (event_id, aggregate_type, stream_id, version, position)
/// in the events schema.
pub(super) const EVENTS_OCCURRENCE: [usize; 5] = [
    crate::envelope::col::EVENT_ID,
    crate::envelope::col::AGGREGATE_TYPE,
    crate::envelope::col::STREAM_ID,
    crate::envelope::col::VERSION,
    crate::envelope::col::POSITION,
];

/// Adds the rows of `batch` whose event id `keep` keeps to `found`; `columns`
/// are the indices of (event_id, aggregate_type, stream_id, version, position).
pub(super) fn occurrences(
    batch: &RecordBatch,
    columns: [usize; 5],
    keep: impl Fn(&str) -> bool,
    found: &mut Vec<Occurrence>,
) -> Result<()> {
    let text = |i: usize| arrow::compute::cast(batch.column(i), &arrow::datatypes::DataType::Utf8);
    let (ids, types, streams) = (text(columns[0])?, text(columns[1])?, text(columns[2])?);
    let (ids, types, streams) = (
        ids.as_string::<i32>(),
        types.as_string::<i32>(),
        streams.as_string::<i32>(),
    );
    let versions = batch.column(columns[3]).as_primitive::<UInt64Type>();
    let positions = batch.column(columns[4]).as_primitive::<UInt64Type>();
    for row in 0..batch.num_rows() {
        let id = ids.value(row);
        if keep(id) {
            found.push(Occurrence {
                event_id: id.to_owned(),
                aggregate_type: types.value(row).to_owned(),
                stream_id: streams.value(row).to_owned(),
                version: versions.value(row),
                position: positions.value(row),
            });
        }
    }
    Ok(())
}

/// Every occurrence of an event id after its first (by position) is a finding.
pub(super) fn duplicate_id_findings(mut found: Vec<Occurrence>) -> Vec<Finding> {
    found.sort_by(|a, b| (&a.event_id, a.position).cmp(&(&b.event_id, b.position)));
    let mut findings = Vec::new();
    let mut first: Option<&Occurrence> = None;
    for occurrence in &found {
        match first {
            Some(earlier) if earlier.event_id == occurrence.event_id => {
                let Occurrence {
                    event_id: id,
                    stream_id: first_stream,
                    version: first_version,
                    position: first_position,
                    ..
                } = earlier;
                findings.push(Finding {
                    aggregate_type: occurrence.aggregate_type.clone(),
                    stream_id: occurrence.stream_id.clone(),
                    version: occurrence.version,
                    event_id: id.clone(),
                    position: occurrence.position,
                    rule: Rule::DuplicateEventId,
                    message: format!(
                        "event id \"{id}\" was already used by {first_stream} version {first_version} (position {first_position})"
                    ),
                });
            }
            _ => first = Some(occurrence),
        }
    }
    findings
}
