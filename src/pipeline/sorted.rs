//! The staged events in stream order, as the replay consumes them: batches
//! merged from the sorted runs on a thread of their own (a full run), or
//! DataFusion's sort of the staged file cut to the same batch size (a partial
//! or incremental run).

use arrow::array::RecordBatch;
use futures::StreamExt;

use crate::sort::StagingFormat;
use crate::{Error, Result};

/// The staged events in stream order: merged from sorted runs (a full run) or
/// sorted by DataFusion (a partial or incremental run).
pub(super) enum SortedEvents {
    /// The merged batches, and the merging thread, joined when they end.
    Runs(
        std::sync::mpsc::Receiver<Result<RecordBatch>>,
        Option<std::thread::JoinHandle<Result<()>>>,
        std::path::PathBuf,
    ),
    /// DataFusion's sorted batches, cut as the merge cuts its batches.
    Sql(
        futures::stream::Fuse<datafusion::physical_plan::SendableRecordBatchStream>,
        Box<arrow::compute::BatchCoalescer>,
    ),
}

impl SortedEvents {
    /// The sorted runs in `folder` merged, or the view `selected` sorted.
    pub(super) async fn open(
        ctx: &datafusion::prelude::SessionContext,
        format: StagingFormat,
        folder: &std::path::Path,
    ) -> Result<Self> {
        if format == StagingFormat::Parquet {
            let order = crate::sql::STREAM_ORDER.join(", ");
            let frame = ctx
                .sql(&format!("SELECT * FROM selected ORDER BY {order}"))
                .await?;
            let coalescer = arrow::compute::BatchCoalescer::new(
                crate::envelope::events_schema(),
                crate::sort::runs::MERGED_ROWS,
            );
            return Ok(Self::Sql(
                frame.execute_stream().await?.fuse(),
                Box::new(coalescer),
            ));
        }
        Self::merge(folder)
    }

    /// Merges the runs in `folder` on a thread of its own, beside the replay.
    fn merge(folder: &std::path::Path) -> Result<Self> {
        let merge = crate::sort::runs::merge(folder)?;
        let (sender, receiver) = std::sync::mpsc::sync_channel(crate::sink::BACKGROUND_BATCHES);
        let merging = std::thread::Builder::new()
            .name("eventfold-merge".into())
            .spawn(move || {
                for batch in merge {
                    // A failed merge sends its error and stops.
                    let failed = batch.is_err();
                    if sender.send(batch).is_err() || failed {
                        break;
                    }
                }
                Ok(())
            })
            .map_err(|e| Error::io(folder, e))?;
        Ok(Self::Runs(receiver, Some(merging), folder.to_owned()))
    }

    pub(super) async fn next(&mut self) -> Option<Result<RecordBatch>> {
        match self {
            Self::Runs(receiver, merging, folder) => match receiver.recv() {
                Ok(batch) => Some(batch),
                // The thread ended: whether it finished or died, not a silent end.
                Err(_) => {
                    let ended = merging
                        .take()
                        .map(|t| crate::error::joined(t, folder, "merging"));
                    ended.and_then(Result::err).map(Err)
                }
            },
            Self::Sql(stream, coalescer) => loop {
                if let Some(batch) = coalescer.next_completed_batch() {
                    return Some(Ok(batch));
                }
                let pushed = match stream.next().await {
                    Some(Ok(batch)) => coalescer.push_batch(batch),
                    Some(Err(e)) => return Some(Err(e.into())),
                    None if coalescer.is_empty() => return None,
                    None => coalescer.finish_buffered_batch(),
                };
                if let Err(e) = pushed {
                    return Some(Err(e.into()));
                }
            },
        }
    }
}
