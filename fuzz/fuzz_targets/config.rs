//! Fuzzes the model and mapping-file parsers: any text is a model or an error
//! naming a line, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = eventfold::model::parse_model("fuzz.toml", text);
        let _ = eventfold::ingest::config::InputSpec::parse("fuzz.toml", text)
            .and_then(|spec| spec.options());
    }
});
