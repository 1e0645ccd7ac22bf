//! The dataset spec parser: any text is read or refused with an error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = riskloop_ingest::spec::DatasetSpec::from_toml(text);
});
