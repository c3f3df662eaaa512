//! The hot kernels of `run`, measured with criterion: parsing NDJSON records
//! into the envelope, building Arrow batches, folding sorted events into state,
//! and writing a batch as zstd Parquet. Whole runs (1M and 10M events, against
//! DuckDB) are measured by `scripts/bench.py`; see BENCHMARKS.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use eventfold::envelope::{events_schema, Event, EventBatchBuilder, MappedEvent};
use eventfold::ingest::mapping::{parse_json_record, Mapping, RecordOrigin};
use eventfold::model::{parse_model, AggregateModel};
use eventfold::replay::{EventRef, ReplaySink, Replayer, StreamState, Transition};
use eventfold::sink::{zstd, TableWriter};
use eventfold::tools::generate::{generate, GenerateConfig};

const EVENTS: u64 = 20_000;

/// A generated log of `EVENTS` records, one per line.
fn log_lines() -> Vec<Vec<u8>> {
    let mut bytes = Vec::new();
    let config = GenerateConfig {
        events: EVENTS,
        seed: 7,
        anomaly_rate: 0.01,
        ..GenerateConfig::default()
    };
    generate(&config, &mut bytes).unwrap();
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Maps every line as ingest does, handing each mapped event (its texts
/// borrowed from the line) to `take`.
fn parse_each(lines: &[Vec<u8>], mapping: &Mapping, mut take: impl FnMut(MappedEvent)) {
    for (i, line) in lines.iter().enumerate() {
        let origin = RecordOrigin {
            file: "bench.ndjson",
            line: i as u64 + 1,
            byte_offset: 0,
            default_position: i as u64 + 1,
        };
        if let Ok(event) = parse_json_record(line, mapping, &origin) {
            take(event);
        }
    }
}

/// Discards what the fold produces, so only the fold is measured.
struct Discard;

impl ReplaySink for Discard {
    fn transition(&mut self, _event: &EventRef, transition: Transition) -> eventfold::Result<()> {
        black_box(transition);
        Ok(())
    }

    fn state(&mut self, _model: &AggregateModel, state: StreamState) -> eventfold::Result<()> {
        black_box(state);
        Ok(())
    }
}

fn kernels(c: &mut Criterion) {
    let lines = log_lines();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let mapping = Mapping::generic();
    let mut events: Vec<Event> = Vec::new();
    parse_each(&lines, &mapping, |event| events.push(Event::from(event)));
    events.sort_by(|a, b| a.stream_order().cmp(&b.stream_order()));
    let mut builder = EventBatchBuilder::new();
    for event in &events {
        builder.append(event);
    }
    let batch = builder.finish().unwrap();
    let model_source = eventfold::embedded::sample_model();
    let model = parse_model(&model_source.name, &model_source.text).unwrap();

    let mut group = c.benchmark_group("kernels");
    group.throughput(Throughput::Bytes(bytes as u64));
    // What ingest does with a chunk: map each line and append it to the batch.
    group.bench_function("parse_ndjson_into_batch", |b| {
        b.iter(|| {
            let mut builder = EventBatchBuilder::new();
            parse_each(&lines, &mapping, |event| builder.append(&event));
            black_box(builder.finish().unwrap())
        })
    });
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("build_event_batch", |b| {
        b.iter(|| {
            let mut builder = EventBatchBuilder::new();
            for event in &events {
                builder.append(event);
            }
            black_box(builder.finish().unwrap())
        })
    });
    group.bench_function("fold_sorted_batch", |b| {
        b.iter(|| {
            let mut replayer = Replayer::new(&model);
            replayer.push_batch(&batch, &mut Discard).unwrap();
            black_box(replayer.finish(&mut Discard).unwrap())
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.parquet");
    group.bench_function("write_events_parquet_zstd", |b| {
        b.iter_batched(
            || TableWriter::create(&path, events_schema(), zstd()).unwrap(),
            |mut writer| {
                writer.write(&batch).unwrap();
                black_box(writer.close().unwrap())
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = kernels
}
criterion_main!(benches);
