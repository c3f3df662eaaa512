//! How eventfold's plans travel between the client, the scheduler and the
//! executors: Ballista's own codec, plus what eventfold registers that it
//! cannot encode.
//!
//! The model tables (`model_statuses`, `model_transitions`, `model_fields`)
//! are in-memory tables made from the output's `model.toml` on the client.
//! A logical plan that scans one is sent to the scheduler as a table provider,
//! which Ballista's codec refuses for in-memory tables; [`EventfoldLogicalCodec`]
//! ships them as an Arrow IPC stream of their rows (a few hundred rows at most)
//! and hands every other node to Ballista's codec. Once planned, an in-memory
//! scan is a `MemorySourceConfig`, which DataFusion's physical codec carries
//! itself, so the executors need nothing more.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use ballista_core::serde::BallistaLogicalExtensionCodec;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::datasource::MemTable;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion_proto::logical_plan::LogicalExtensionCodec;

/// The first bytes of an in-memory table encoded by this codec; anything else
/// is Ballista's.
const MEMORY_TABLE_TAG: &[u8] = b"eventfold.memtable.v1\0";

/// Ballista's logical codec, with eventfold's in-memory tables added.
#[derive(Debug, Default)]
pub struct EventfoldLogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl EventfoldLogicalCodec {
    /// The codec, shared, as Ballista's configuration takes it.
    pub fn shared() -> Arc<dyn LogicalExtensionCodec> {
        Arc::new(Self::default())
    }
}

impl LogicalExtensionCodec for EventfoldLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> datafusion::common::Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> datafusion::common::Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> datafusion::common::Result<Arc<dyn TableProvider>> {
        match buf.strip_prefix(MEMORY_TABLE_TAG) {
            Some(rows) => decode_memory_table(rows, table_ref, schema),
            None => self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> datafusion::common::Result<()> {
        match (node.as_ref() as &dyn std::any::Any).downcast_ref::<MemTable>() {
            Some(table) => encode_memory_table(table, table_ref, buf),
            None => self.inner.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> datafusion::common::Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> datafusion::common::Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }
}

/// Writes the tag and every row of `table` (one partition's batches after
/// another) as one Arrow IPC stream.
fn encode_memory_table(
    table: &MemTable,
    table_ref: &TableReference,
    buf: &mut Vec<u8>,
) -> datafusion::common::Result<()> {
    let failed = |e: arrow::error::ArrowError| {
        DataFusionError::Execution(format!(
            "cannot send the in-memory table {table_ref} to the cluster: {e}"
        ))
    };
    let schema = table.schema();
    buf.extend_from_slice(MEMORY_TABLE_TAG);
    let mut writer = StreamWriter::try_new(&mut *buf, &schema).map_err(failed)?;
    for partition in &table.batches {
        let batches = partition
            .try_read()
            .map_err(|_| {
                DataFusionError::Execution(format!(
                    "cannot send the in-memory table {table_ref} to the cluster: it is being written"
                ))
            })?
            .clone();
        for batch in &batches {
            writer.write(batch).map_err(failed)?;
        }
    }
    writer.finish().map_err(failed)?;
    Ok(())
}

/// The in-memory table `rows` (an IPC stream) holds, as one partition.
fn decode_memory_table(
    rows: &[u8],
    table_ref: &TableReference,
    schema: SchemaRef,
) -> datafusion::common::Result<Arc<dyn TableProvider>> {
    let failed = |e: arrow::error::ArrowError| {
        DataFusionError::Execution(format!(
            "the in-memory table {table_ref} sent by the client does not decode: {e}"
        ))
    };
    let reader = StreamReader::try_new(rows, None).map_err(failed)?;
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(failed)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;

    /// A model table survives the trip client → scheduler row for row.
    #[test]
    fn an_in_memory_table_round_trips() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("status", DataType::Utf8, false),
            Field::new("rank", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["open", "done"])),
                Arc::new(Int64Array::from(vec![Some(1), None])),
            ],
        )
        .unwrap();
        let table = Arc::new(MemTable::try_new(schema.clone(), vec![vec![batch.clone()]]).unwrap());
        let codec = EventfoldLogicalCodec::default();
        let name = TableReference::bare("model_statuses");
        let mut buf = Vec::new();
        codec
            .try_encode_table_provider(&name, table, &mut buf)
            .unwrap();
        let ctx = TaskContext::default();
        let decoded = codec
            .try_decode_table_provider(&buf, &name, schema.clone(), &ctx)
            .unwrap();
        let decoded = (decoded.as_ref() as &dyn std::any::Any)
            .downcast_ref::<MemTable>()
            .unwrap();
        let rows = decoded.batches[0].try_read().unwrap().clone();
        assert_eq!(rows, vec![batch]);
    }

    /// A buffer that is not ours goes to Ballista's codec, whose error names
    /// the problem instead of this codec misreading it.
    #[test]
    fn a_foreign_buffer_is_ballistas() {
        let codec = EventfoldLogicalCodec::default();
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8, true)]));
        let result = codec.try_decode_table_provider(
            b"not ours",
            &TableReference::bare("t"),
            schema,
            &TaskContext::default(),
        );
        assert!(result.is_err());
    }
}
