//! The distributed run's own execution-plan nodes, and the codec that
//! carries them between the client, the scheduler and the executors.
//!
//! - [`IngestExec`]: one partition per input (a split), above an
//!   in-memory leaf naming each partition's input ([`splits_leaf`]), each
//!   read by the local run's ingest into event batches
//!   ([`super::partition::ingest_split`]);
//! - [`FoldExec`]: above Ballista's hash shuffle by (aggregate type, stream
//!   id), one task per partition folding its streams with the local run's
//!   fold ([`super::partition::fold_partition`]) and answering one JSON row
//!   of counts.
//!
//! Both carry the [`ClusterJob`] as JSON; [`EventfoldPhysicalCodec`] writes
//! them behind a tag and hands every other node to Ballista's codec.

use std::fmt;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::UInt32Type;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use futures::StreamExt;

use super::job::ClusterJob;
use super::partition::{fold_partition, ingest_split, shuffled_schema, with_split};

const INGEST_TAG: &[u8] = b"eventfold.ingest.v1\0";
const FOLD_TAG: &[u8] = b"eventfold.fold.v1\0";

/// The schema of a fold task's answer: one row, its [`super::partition::FoldSummary`] as JSON.
pub fn summary_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "summary",
        DataType::Utf8,
        false,
    )]))
}

fn properties(schema: SchemaRef, partitions: usize) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(schema),
        Partitioning::UnknownPartitioning(partitions),
        EmissionType::Final,
        Boundedness::Bounded,
    ))
}

/// A task's error as the client will read it: Ballista sends a failed
/// task's error as its debug text, so it is eventfold's message (`file:line:
/// why`), not the error's fields.
fn external(error: crate::Error) -> DataFusionError {
    DataFusionError::Execution(error.to_string())
}

/// The methods both nodes share: no expressions, one child (the field
/// named), rebuilt with the same job.
macro_rules! unary_node {
    ($child:ident) => {
        fn apply_expressions(
            &self,
            _: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
        ) -> DfResult<TreeNodeRecursion> {
            Ok(TreeNodeRecursion::Continue)
        }

        fn properties(&self) -> &Arc<PlanProperties> {
            &self.properties
        }

        fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
            vec![&self.$child]
        }

        fn with_new_children(
            self: Arc<Self>,
            children: Vec<Arc<dyn ExecutionPlan>>,
        ) -> DfResult<Arc<dyn ExecutionPlan>> {
            Ok(Arc::new(Self::new(only_child(children)?, self.job.clone())))
        }
    };
}

/// The schema of the splits' leaf: one row per partition, naming its input.
fn splits_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "split",
        DataType::UInt32,
        false,
    )]))
}

/// The leaf [`IngestExec`] reads its splits from: an in-memory scan of one
/// row per input. Ballista restricts a task's plan to the partitions it
/// owns by slicing such a scan (a leaf of its own making would be left
/// whole and renumbered), so each task is told its inputs' numbers.
pub fn splits_leaf(inputs: usize) -> DfResult<Arc<dyn ExecutionPlan>> {
    let partitions = (0..inputs as u32)
        .map(|split| {
            RecordBatch::try_new(
                splits_schema(),
                vec![Arc::new(UInt32Array::from(vec![split]))],
            )
            .map(|batch| vec![batch])
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MemorySourceConfig::try_new_exec(
        &partitions,
        splits_schema(),
        None,
    )?)
}

/// Reads the inputs its splits leaf names, one partition per input.
#[derive(Debug)]
pub struct IngestExec {
    splits: Arc<dyn ExecutionPlan>,
    job: Arc<ClusterJob>,
    properties: Arc<PlanProperties>,
}

impl IngestExec {
    pub fn new(splits: Arc<dyn ExecutionPlan>, job: Arc<ClusterJob>) -> Self {
        let partitions = splits.properties().partitioning.partition_count();
        let properties = properties(shuffled_schema(), partitions);
        Self {
            splits,
            job,
            properties,
        }
    }
}

impl DisplayAs for IngestExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "EventfoldIngestExec: inputs={}", self.job.inputs.len())
    }
}

impl ExecutionPlan for IngestExec {
    fn name(&self) -> &str {
        "EventfoldIngestExec"
    }

    unary_node!(splits);

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let mut splits = self.splits.execute(partition, context)?;
        let (sender, receiver) = tokio::sync::mpsc::channel::<DfResult<RecordBatch>>(2);
        let job = self.job.clone();
        tokio::spawn(async move {
            let mut numbers: Vec<u32> = Vec::new();
            while let Some(batch) = splits.next().await {
                match batch {
                    Ok(batch) => {
                        numbers.extend(batch.column(0).as_primitive::<UInt32Type>().values())
                    }
                    Err(error) => {
                        let _ = sender.send(Err(error)).await;
                        return;
                    }
                }
            }
            let ingest = tokio::task::spawn_blocking(move || {
                for split in numbers {
                    let mut send = |batch| {
                        let batch = with_split(batch, split as usize)?;
                        sender
                            .blocking_send(Ok(batch))
                            .map_err(|_| crate::Error::usage("the ingest's reader went away"))
                    };
                    if let Err(error) = ingest_split(&job, split as usize, &mut send) {
                        let _ = sender.blocking_send(Err(external(error)));
                        return;
                    }
                }
            });
            let _ = ingest.await;
        });
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            shuffled_schema(),
            stream,
        )))
    }
}

/// The one child of a unary node.
fn only_child(children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
    children
        .into_iter()
        .next()
        .ok_or_else(|| DataFusionError::Internal("an eventfold node has one input".into()))
}

/// Folds each hash partition of the streams; one JSON row per partition.
#[derive(Debug)]
pub struct FoldExec {
    input: Arc<dyn ExecutionPlan>,
    job: Arc<ClusterJob>,
    properties: Arc<PlanProperties>,
}

impl FoldExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, job: Arc<ClusterJob>) -> Self {
        let partitions = input.properties().partitioning.partition_count();
        let properties = properties(summary_schema(), partitions);
        Self {
            input,
            job,
            properties,
        }
    }
}

impl DisplayAs for FoldExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "EventfoldFoldExec: partitions={}", self.job.partitions)
    }
}

impl ExecutionPlan for FoldExec {
    fn name(&self) -> &str {
        "EventfoldFoldExec"
    }

    unary_node!(input);

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let mut input = self.input.execute(partition, context)?;
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<crate::Result<RecordBatch>>(4);
        tokio::spawn(async move {
            while let Some(batch) = input.next().await {
                if sender.send(batch.map_err(Into::into)).await.is_err() {
                    break;
                }
            }
        });
        let job = self.job.clone();
        let fold = tokio::task::spawn_blocking(move || {
            fold_partition(&job, std::iter::from_fn(|| receiver.blocking_recv()))
        });
        let stream = futures::stream::once(async move {
            let summary = fold
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?
                .map_err(external)?;
            let text = serde_json::to_string(&summary)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            Ok(RecordBatch::try_new(
                summary_schema(),
                vec![Arc::new(StringArray::from(vec![text]))],
            )?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            summary_schema(),
            stream,
        )))
    }
}

/// Ballista's physical codec, with eventfold's nodes added.
#[derive(Debug, Default)]
pub struct EventfoldPhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl EventfoldPhysicalCodec {
    /// The codec, shared, as Ballista's configuration takes it.
    pub fn shared() -> Arc<dyn PhysicalExtensionCodec> {
        Arc::new(Self::default())
    }
}

fn job_of(bytes: &[u8]) -> DfResult<Arc<ClusterJob>> {
    ClusterJob::from_json(bytes).map(Arc::new).map_err(external)
}

impl PhysicalExtensionCodec for EventfoldPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if let Some(job) = buf.strip_prefix(INGEST_TAG) {
            let splits = only_child(inputs.to_vec())?;
            return Ok(Arc::new(IngestExec::new(splits, job_of(job)?)));
        }
        if let Some(job) = buf.strip_prefix(FOLD_TAG) {
            let input = only_child(inputs.to_vec())?;
            return Ok(Arc::new(FoldExec::new(input, job_of(job)?)));
        }
        self.inner.try_decode(buf, inputs, ctx, converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        let (tag, job) = if let Some(ingest) = node.downcast_ref::<IngestExec>() {
            (INGEST_TAG, &ingest.job)
        } else if let Some(fold) = node.downcast_ref::<FoldExec>() {
            (FOLD_TAG, &fold.job)
        } else {
            return self.inner.try_encode(node, buf, converter);
        };
        buf.extend_from_slice(tag);
        buf.extend_from_slice(&job.to_json().map_err(external)?);
        Ok(())
    }
}
