//! Fuzzes record parsing and mapping: any bytes, read as any format under any
//! preset, must end as events and rejects that add up to the records read, and
//! never panic. The first byte picks the format and the preset.
#![no_main]

use eventfold::envelope::Reject;
use eventfold::ingest::presets::Preset;
use eventfold::ingest::{ingest, Format, IngestOptions, IngestSink, InputSource};
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct Count {
    events: u64,
    rejects: u64,
}

impl IngestSink for Count {
    fn events(&mut self, batch: arrow::array::RecordBatch) -> eventfold::Result<()> {
        self.events += batch.num_rows() as u64;
        Ok(())
    }

    fn rejects(&mut self, rejects: Vec<Reject>) -> eventfold::Result<()> {
        self.rejects += rejects.len() as u64;
        Ok(())
    }
}

const FORMATS: [Option<Format>; 6] = [
    None,
    Some(Format::Ndjson),
    Some(Format::Json),
    Some(Format::Csv),
    Some(Format::Xes),
    Some(Format::Parquet),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, log)) = data.split_first() else {
        return;
    };
    let preset = Preset::ALL[usize::from(selector >> 4) % Preset::ALL.len()];
    let options = IngestOptions {
        format: FORMATS[usize::from(selector & 0x0f) % FORMATS.len()],
        mapping: preset.mapping(),
        max_record_bytes: 4096,
        chunk_bytes: 1024,
        ..IngestOptions::default()
    };
    let input = InputSource::Memory {
        name: "fuzz".into(),
        bytes: bytes::Bytes::copy_from_slice(log),
    };
    let mut count = Count::default();
    if let Ok(summary) = ingest(&[input], &options, &mut count) {
        assert_eq!(summary.events + summary.rejects, summary.records);
        assert_eq!(
            (count.events, count.rejects),
            (summary.events, summary.rejects)
        );
    }
});
