//! Reading a snapshot back: the state of chosen streams, from an output's
//! `streams.parquet` and state tables, reading only the row groups that can
//! hold them (the tables are sorted by stream), so the memory and the time it
//! takes are the chosen streams', whatever the output's size. Incremental
//! runs seed their replay with it, `decide` decides commands against it.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, TimestampMicrosecondType, UInt64Type};

use super::splice::rows_with_keys;
use super::state::read_state;
use crate::model::Model;
use crate::replay::{Seeds, StreamState};
use crate::Result;

/// A batch of (aggregate_type, stream_id) keys, as [`read_snapshot`] takes them.
pub fn stream_keys<'k>(keys: impl IntoIterator<Item = (&'k str, &'k str)>) -> Result<RecordBatch> {
    let (types, ids): (Vec<&str>, Vec<&str>) = keys.into_iter().unzip();
    let schema = Arc::new(Schema::new(vec![
        Field::new("aggregate_type", DataType::Utf8, true),
        Field::new("stream_id", DataType::Utf8, true),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(types)),
            Arc::new(StringArray::from(ids)),
        ],
    )?)
}

/// The snapshot state of the streams in `touched` (a batch of
/// `aggregate_type`, `stream_id`) that the output at `dir` holds.
pub fn read_snapshot(dir: &Path, model: &Model, touched: &RecordBatch) -> Result<Seeds> {
    let mut seeds = Seeds::new();
    let path =
        super::dataset::locate(dir, "streams").unwrap_or_else(|| dir.join("streams.parquet"));
    for batch in rows_with_keys(&path, &["aggregate_type", "stream_id"], touched)? {
        let column =
            |name: &str| -> Result<&ArrayRef> { Ok(batch.column(batch.schema().index_of(name)?)) };
        let (created, version, count) = (
            column("created")?,
            column("version")?,
            column("event_count")?,
        );
        let (created_at, updated_at) = (column("created_at")?, column("updated_at")?);
        let last_event_type = column("last_event_type")?.as_string::<i32>();
        let (types, streams) = (
            column("aggregate_type")?.as_string::<i32>(),
            column("stream_id")?.as_string::<i32>(),
        );
        for row in 0..batch.num_rows() {
            let aggregate = types.value(row);
            let mut state =
                StreamState::new(streams.value(row), aggregate, model.aggregate(aggregate));
            state.created = created.as_boolean().value(row);
            state.version = version.as_primitive::<UInt64Type>().value(row);
            state.event_count = count.as_primitive::<UInt64Type>().value(row);
            let time =
                |array: &ArrayRef| array.as_primitive::<TimestampMicrosecondType>().value(row);
            state.created_at = Some(time(created_at));
            state.updated_at = Some(time(updated_at));
            state.last_event_type = Some(Arc::from(last_event_type.value(row)));
            seeds.insert((aggregate.to_owned(), state.stream_id.clone()), state);
        }
    }
    for aggregate in &model.aggregates {
        let Some(path) = super::dataset::locate(dir, &format!("state/{}", aggregate.name)) else {
            continue;
        };
        // This aggregate type's touched streams.
        let mine = arrow::compute::filter_record_batch(
            touched,
            &arrow::compute::kernels::cmp::eq(
                touched.column(0),
                &StringArray::new_scalar(aggregate.name.as_str()),
            )?,
        )?;
        if mine.num_rows() == 0 {
            continue;
        }
        for batch in rows_with_keys(&path, &["stream_id"], &mine)? {
            let ids = batch.column(0).as_string::<i32>();
            for row in 0..batch.num_rows() {
                if !ids.is_valid(row) {
                    continue;
                }
                let key = (aggregate.name.clone(), ids.value(row).to_owned());
                let Some(state) = seeds.get_mut(&key) else {
                    continue;
                };
                read_state(&batch, row, state);
            }
        }
    }
    Ok(seeds)
}
