//! The edges of the flow graph, read from an output's tables: what `flow`
//! draws and the report's lifecycle pictures show.
//!
//! Two graphs over `transitions`: event types (one event directly following
//! another in a stream, the pairs `queries/analysis/directly_follows.sql`
//! counts) and statuses (a status change). Each edge has its count and the
//! exact median of the seconds between its two events; [`graph_edges`]
//! answers every aggregate type at once and [`edges_of`] picks one type's.
//! The layout is [`super::flow`]'s.
//!
//! The median is computed here, in two passes of SQL that hold little,
//! rather than by DataFusion's `median`, which keeps every value of a group
//! in memory and cannot spill: at 10M events the event graph's `median`
//! asked for 110 MB more than the report's 384 MiB pool had, and the page
//! left the graph out. No crate offers an exact median over a table that
//! does not fit; approximate ones (`approx_median`, a t-digest) would put
//! other numbers on the page than `query` gives. The first pass counts each
//! edge's values per bucket (a fine logarithmic scale of the seconds, 64
//! buckets an octave, so a count per edge and bucket: a grouping that
//! spills); the bucket holding the middle rank is then known, and the
//! second pass fetches only that bucket's values of that edge (a join with
//! the small table of wanted buckets), sorts them and picks the rank. The
//! result equals `median(seconds_since_previous)` bit for bit (a test
//! compares them on the sample).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use datafusion::prelude::SessionContext;

use super::flow::Edge;
use crate::sql::run_sql;
use crate::{Error, Result};

/// What the nodes of a flow graph are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphOf {
    /// Event types; an edge is one event directly following another.
    Events,
    /// Statuses; an edge is a status change.
    Statuses,
}

impl GraphOf {
    /// One row per pair (an edge taken once): `aggregate_type`, `a`, `b`
    /// and `s`, the seconds since the stream's previous event.
    pub fn pairs_sql(self) -> &'static str {
        match self {
            GraphOf::Events => {
                "SELECT CAST(aggregate_type AS VARCHAR) AS aggregate_type,
                    CAST(previous_event_type AS VARCHAR) AS a, CAST(event_type AS VARCHAR) AS b,
                    seconds_since_previous AS s
                  FROM transitions
                  WHERE previous_event_type IS NOT NULL"
            }
            GraphOf::Statuses => {
                "SELECT CAST(aggregate_type AS VARCHAR) AS aggregate_type,
                    coalesce(CAST(from_status AS VARCHAR), '(start)') AS a, CAST(to_status AS VARCHAR) AS b,
                    seconds_since_previous AS s
                  FROM transitions
                  WHERE to_status IS NOT NULL AND (from_status IS NULL OR from_status <> to_status)"
            }
        }
    }

    /// What the nodes are, in a title.
    pub fn nodes(self) -> &'static str {
        match self {
            GraphOf::Events => "event types",
            GraphOf::Statuses => "statuses",
        }
    }
}

/// A bucket of `s` on a logarithmic scale, 64 buckets an octave, ordered as
/// the seconds are (negative seconds, timestamps that run backwards, below
/// zero); null for a null `s`.
const BUCKET: &str = "CASE WHEN s < 0 THEN -1 - CAST(floor(log2(1.0 - s) * 64.0) AS BIGINT)
    ELSE CAST(floor(log2(1.0 + s) * 64.0) AS BIGINT) END";

/// The table of wanted buckets the second pass joins with.
const WANTED: &str = "eventfold_flow_median_buckets";

/// An edge: aggregate type, from, to.
type Key = (String, String, String);

/// Where an edge's middle ranks lie after the first pass.
struct Counted {
    pairs: u64,
    /// `(bucket, values)`, ascending; the null bucket left out.
    buckets: Vec<(i64, u64)>,
}

impl Counted {
    /// The 0-based ranks of the middle values among the non-null ones (one
    /// rank twice for an odd count), each with its bucket and the number of
    /// values in buckets below it; `None` without values.
    fn middle(&self) -> Option<[(u64, i64, u64); 2]> {
        let values: u64 = self.buckets.iter().map(|(_, n)| n).sum();
        if values == 0 {
            return None;
        }
        let locate = |rank: u64| {
            let mut below = 0;
            for (bucket, n) in &self.buckets {
                if rank < below + n {
                    return (rank, *bucket, below);
                }
                below += n;
            }
            unreachable!("rank {rank} is below the sum of the counts")
        };
        Some([locate((values - 1) / 2), locate(values / 2)])
    }
}

/// Every aggregate type's edges of `graph` over the session's `transitions`,
/// busiest first per type (then by from and to): `(aggregate type, edge)`.
pub async fn graph_edges(ctx: &SessionContext, graph: GraphOf) -> Result<Vec<(String, Edge)>> {
    let pairs = graph.pairs_sql();
    let counts = run_sql(
        ctx,
        &format!(
            "WITH pairs AS ({pairs})
             SELECT aggregate_type, a, b, bucket, count(*) AS n
             FROM (SELECT aggregate_type, a, b, {BUCKET} AS bucket FROM pairs)
             GROUP BY aggregate_type, a, b, bucket"
        ),
    )
    .await?;
    let mut counted: BTreeMap<Key, Counted> = BTreeMap::new();
    for batch in &counts {
        let keys = EdgeColumns::of(batch)?;
        let buckets = column(batch, "bucket", &DataType::Int64)?;
        let buckets = buckets.as_primitive::<Int64Type>();
        let ns = column(batch, "n", &DataType::Int64)?;
        let ns = ns.as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let Some(key) = keys.key(row) else {
                continue;
            };
            let entry = counted.entry(key).or_insert(Counted {
                pairs: 0,
                buckets: Vec::new(),
            });
            let n = ns.value(row).max(0) as u64;
            entry.pairs += n;
            if buckets.is_valid(row) {
                entry.buckets.push((buckets.value(row), n));
            }
        }
    }
    for edge in counted.values_mut() {
        edge.buckets.sort_unstable();
    }
    let middles: HashMap<&Key, [(u64, i64, u64); 2]> = (counted.iter())
        .filter_map(|(key, edge)| Some((key, edge.middle()?)))
        .collect();
    let values = bucket_values(ctx, pairs, &middles).await?;
    let mut edges = Vec::with_capacity(counted.len());
    for (key, edge) in &counted {
        let median_seconds = match middles.get(key) {
            Some(middle) => Some(median(&values, key, middle)?),
            None => None,
        };
        let (aggregate, from, to) = key.clone();
        let edge = Edge {
            from,
            to,
            count: edge.pairs,
            median_seconds,
        };
        edges.push((aggregate, edge));
    }
    edges.sort_by(|(t1, e1), (t2, e2)| {
        (t1, std::cmp::Reverse(e1.count), &e1.from, &e1.to).cmp(&(
            t2,
            std::cmp::Reverse(e2.count),
            &e2.from,
            &e2.to,
        ))
    });
    Ok(edges)
}

/// The median of an edge whose middle ranks are `middle`, from the second
/// pass's sorted values of its buckets.
fn median(
    values: &HashMap<(Key, i64), Vec<f64>>,
    key: &Key,
    middle: &[(u64, i64, u64); 2],
) -> Result<f64> {
    let mut picked = [0.0; 2];
    for ((rank, bucket, below), value) in middle.iter().zip(&mut picked) {
        *value = (values.get(&(key.clone(), *bucket)))
            .and_then(|sorted| sorted.get((rank - below) as usize))
            .copied()
            .ok_or_else(|| {
                Error::sql(datafusion::error::DataFusionError::Internal(format!(
                    "flow graph: the median of {} → {} ({}) is not in its bucket {bucket}",
                    key.1, key.2, key.0
                )))
            })?;
    }
    Ok(if middle[0].0 == middle[1].0 {
        picked[0]
    } else {
        (picked[0] + picked[1]) / 2.0
    })
}

/// The second pass: the values of each edge's middle buckets, sorted.
async fn bucket_values(
    ctx: &SessionContext,
    pairs: &str,
    middles: &HashMap<&Key, [(u64, i64, u64); 2]>,
) -> Result<HashMap<(Key, i64), Vec<f64>>> {
    let mut wanted: Vec<(&Key, i64)> = (middles.iter())
        .flat_map(|(key, middle)| middle.iter().map(|(_, bucket, _)| (*key, *bucket)))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut values: HashMap<(Key, i64), Vec<f64>> = HashMap::new();
    if wanted.is_empty() {
        return Ok(values);
    }
    let strings = |pick: fn(&Key) -> &String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            wanted.iter().map(|(key, _)| pick(key)),
        ))
    };
    let table = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("aggregate_type", DataType::Utf8, false),
            Field::new("a", DataType::Utf8, false),
            Field::new("b", DataType::Utf8, false),
            Field::new("bucket", DataType::Int64, false),
        ])),
        vec![
            strings(|k| &k.0),
            strings(|k| &k.1),
            strings(|k| &k.2),
            Arc::new(Int64Array::from_iter_values(wanted.iter().map(|(_, b)| *b))),
        ],
    )?;
    ctx.register_batch(WANTED, table)?;
    let rows = run_sql(
        ctx,
        &format!(
            "WITH pairs AS ({pairs})
             SELECT p.aggregate_type, p.a, p.b, p.bucket, p.s
             FROM (SELECT aggregate_type, a, b, {BUCKET} AS bucket, s FROM pairs) p
             JOIN {WANTED} w ON p.aggregate_type = w.aggregate_type AND p.a = w.a
               AND p.b = w.b AND p.bucket = w.bucket"
        ),
    )
    .await;
    ctx.deregister_table(WANTED)?;
    for batch in &rows? {
        let keys = EdgeColumns::of(batch)?;
        let buckets = column(batch, "bucket", &DataType::Int64)?;
        let buckets = buckets.as_primitive::<Int64Type>();
        let seconds = column(batch, "s", &DataType::Float64)?;
        let seconds = seconds.as_primitive::<Float64Type>();
        for row in 0..batch.num_rows() {
            let (Some(key), false) = (keys.key(row), buckets.is_null(row) || seconds.is_null(row))
            else {
                continue;
            };
            values
                .entry((key, buckets.value(row)))
                .or_default()
                .push(seconds.value(row));
        }
    }
    for list in values.values_mut() {
        list.sort_unstable_by(f64::total_cmp);
    }
    Ok(values)
}

/// A graph query's batch's edge columns, as text.
struct EdgeColumns([ArrayRef; 3]);

impl EdgeColumns {
    fn of(batch: &RecordBatch) -> Result<Self> {
        let text = |name: &str| column(batch, name, &DataType::Utf8);
        Ok(Self([text("aggregate_type")?, text("a")?, text("b")?]))
    }

    /// The edge of `row`; `None` when a part is null.
    fn key(&self, row: usize) -> Option<Key> {
        let [types, from, to] = self.0.each_ref().map(|c| c.as_string::<i32>());
        (types.is_valid(row) && from.is_valid(row) && to.is_valid(row)).then(|| {
            (
                types.value(row).to_owned(),
                from.value(row).to_owned(),
                to.value(row).to_owned(),
            )
        })
    }
}

/// The column `name` of a graph query's batch, cast to `to`.
fn column(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef> {
    let column = batch.column_by_name(name).ok_or_else(|| {
        Error::sql(datafusion::error::DataFusionError::Plan(format!(
            "graph query has no column {name}"
        )))
    })?;
    Ok(arrow::compute::cast(column, to)?)
}

/// The edges of one aggregate type among [`graph_edges`]' answer, those seen
/// at least `min_count` times, in its order.
pub fn edges_of(all: &[(String, Edge)], aggregate: &str, min_count: u64) -> Vec<Edge> {
    all.iter()
        .filter(|(t, edge)| t == aggregate && edge.count >= min_count)
        .map(|(_, edge)| edge.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{register_tables, session, SessionOptions};
    use arrow::array::Float64Array;

    /// `(aggregate type, from, to)` → (count, median's bits) by ours and by
    /// DataFusion's `median` over the same pairs.
    async fn both(
        ctx: &SessionContext,
        graph: GraphOf,
    ) -> (
        BTreeMap<Key, (u64, Option<u64>)>,
        BTreeMap<Key, (u64, Option<u64>)>,
    ) {
        let ours = (graph_edges(ctx, graph).await.unwrap().into_iter())
            .map(|(t, e)| {
                (
                    (t, e.from, e.to),
                    (e.count, e.median_seconds.map(f64::to_bits)),
                )
            })
            .collect();
        let batches = run_sql(
            ctx,
            &format!(
                "SELECT aggregate_type, a, b, count(*) AS n, median(s) AS m
                 FROM ({}) GROUP BY aggregate_type, a, b",
                graph.pairs_sql()
            ),
        )
        .await
        .unwrap();
        let mut theirs = BTreeMap::new();
        for batch in &batches {
            let keys = EdgeColumns::of(batch).unwrap();
            let n = column(batch, "n", &DataType::Int64).unwrap();
            let m = column(batch, "m", &DataType::Float64).unwrap();
            let (n, m) = (
                n.as_primitive::<Int64Type>(),
                m.as_primitive::<Float64Type>(),
            );
            for row in 0..batch.num_rows() {
                let median = m.is_valid(row).then(|| m.value(row).to_bits());
                theirs.insert(keys.key(row).unwrap(), (n.value(row) as u64, median));
            }
        }
        (ours, theirs)
    }

    /// A `transitions` table of `(from, to, seconds)` rows of aggregate type
    /// `t`, with the statuses equal to the event types.
    fn transitions(rows: &[(&str, &str, Option<f64>)]) -> RecordBatch {
        let strings =
            |values: Vec<Option<&str>>| -> ArrayRef { Arc::new(StringArray::from(values)) };
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("aggregate_type", DataType::Utf8, true),
                Field::new("previous_event_type", DataType::Utf8, true),
                Field::new("event_type", DataType::Utf8, true),
                Field::new("from_status", DataType::Utf8, true),
                Field::new("to_status", DataType::Utf8, true),
                Field::new("seconds_since_previous", DataType::Float64, true),
            ])),
            vec![
                strings(rows.iter().map(|_| Some("t")).collect()),
                strings(rows.iter().map(|r| Some(r.0)).collect()),
                strings(rows.iter().map(|r| Some(r.1)).collect()),
                strings(rows.iter().map(|r| Some(r.0)).collect()),
                strings(rows.iter().map(|r| Some(r.1)).collect()),
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    #[test]
    fn the_median_holds_little_where_sqls_does_not_fit() {
        // 400,000 pairs of one edge: SQL's `median` holds 3.2 MB of values.
        let rows: Vec<(&str, &str, Option<f64>)> = (0..400_000u32)
            .map(|i| {
                (
                    "x",
                    "y",
                    Some(f64::from(i.wrapping_mul(2_654_435_761) % 1_000_000)),
                )
            })
            .collect();
        let options = SessionOptions {
            memory_limit: Some(2 << 20),
            target_partitions: Some(1),
            ..SessionOptions::default()
        };
        crate::sql::runtime().unwrap().block_on(async {
            let ctx = session(&options).unwrap();
            ctx.register_batch("transitions", transitions(&rows))
                .unwrap();
            let sql = format!("SELECT median(s) FROM ({})", GraphOf::Events.pairs_sql());
            let error = run_sql(&ctx, &sql).await.unwrap_err().to_string();
            assert!(error.contains("Resources exhausted"), "{error}");
            let ours = graph_edges(&ctx, GraphOf::Events).await.unwrap();
            let mut sorted: Vec<f64> = rows.iter().filter_map(|r| r.2).collect();
            sorted.sort_unstable_by(f64::total_cmp);
            let expected = (sorted[199_999] + sorted[200_000]) / 2.0;
            assert_eq!(ours[0].1.median_seconds, Some(expected));
            assert_eq!(ours[0].1.count, 400_000);
        });
    }

    #[test]
    fn the_median_equals_datafusions_on_the_sample() {
        let temp = crate::report::tests::sample_output();
        let out = temp.path().join("out");
        crate::sql::runtime().unwrap().block_on(async {
            let ctx = session(&SessionOptions::default()).unwrap();
            register_tables(&ctx, &out, &crate::support::progress::Silent)
                .await
                .unwrap();
            for graph in [GraphOf::Events, GraphOf::Statuses] {
                let (ours, theirs) = both(&ctx, graph).await;
                assert!(ours.len() > 10, "{graph:?}: {} edges", ours.len());
                assert_eq!(ours, theirs, "{graph:?}");
            }
        });
    }

    #[test]
    fn the_median_is_exact_across_buckets_signs_nulls_and_ties() {
        // Hand-picked edges, then 20,000 pairs of a generator with many ties.
        let mut rows: Vec<(&str, &str, Option<f64>)> = vec![
            ("x", "y", Some(-5.0)),
            ("x", "y", Some(3.0)),
            ("x", "y", Some(3.000_000_1)),
            ("x", "y", Some(1e6)),
            ("x", "y", None),
            ("x", "y", Some(0.0)),
            ("x", "z", Some(1.0)),
            ("x", "z", Some(2.0)),
            ("y", "z", None),
            ("z", "z", Some(7.5)),
        ];
        let mut state: u64 = 7;
        for _ in 0..20_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let to = ["a", "b", "c"][(state >> 60) as usize % 3];
            let seconds = ((state >> 20) % 5_000) as f64 / 8.0 - 100.0;
            rows.push(("y", to, Some(seconds)));
        }
        let transitions = transitions(&rows);
        crate::sql::runtime().unwrap().block_on(async {
            let ctx = SessionContext::new();
            ctx.register_batch("transitions", transitions).unwrap();
            let (ours, theirs) = both(&ctx, GraphOf::Events).await;
            assert_eq!(ours, theirs);
            let median = |from: &str, to: &str| ours[&("t".into(), from.into(), to.into())];
            assert_eq!(median("x", "y"), (6, Some(3f64.to_bits())));
            assert_eq!(median("x", "z"), (2, Some(1.5f64.to_bits())));
            assert_eq!(median("y", "z"), (1, None));
            // Statuses: the same pairs less those whose status does not change.
            let (ours, theirs) = both(&ctx, GraphOf::Statuses).await;
            assert_eq!(ours, theirs);
            assert!(!ours.contains_key(&("t".into(), "z".into(), "z".into())));
        });
    }
}
