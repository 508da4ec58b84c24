//! The format detector on any prefix: the first byte picks the file name (names matter for
//! bundle metadata), the rest is the sniffed (decompressed) prefix.

#![no_main]

use fa2_core::telemetry::files::{Detected, detect_format};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

const NAMES: [&str; 4] = ["app.log", "incident.json", "000000", "TRUTH.JSON"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, prefix)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    if let Detected::Unknown(reason) = detect_format(Path::new(name), prefix) {
        // The reason is shown to the user: never empty.
        assert!(!reason.is_empty());
    }
});
