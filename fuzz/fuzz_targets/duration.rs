//! `parse_duration` (flags, forms and environment variables) and `format_duration` on any text.

#![no_main]

use fa2_core::time::{format_duration, parse_duration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match parse_duration(s) {
        Ok(d) => {
            assert!(!format_duration(d).is_empty());
        }
        // An error is shown to a person: it must say something.
        Err(e) => assert!(!e.is_empty()),
    }
});
