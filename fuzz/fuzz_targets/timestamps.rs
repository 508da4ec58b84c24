//! Every timestamp reader of `fa2_core::time` on any text: full timestamps, epochs, leading
//! log-line timestamps, and the zoned forms chat tools write (`parse_chat_timestamp`).

#![no_main]

use chrono::{Datelike, DurationRound, SubsecRound};
use fa2_core::time::{parse_chat_timestamp, parse_epoch, parse_leading, parse_timestamp, rfc3339};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let s = text.as_ref();

    if let Some(t) = parse_timestamp(s) {
        // What fa2 writes (RFC 3339, milliseconds) reads back as the same instant.
        if (0..=9999).contains(&t.year()) {
            let again = parse_timestamp(&rfc3339(t));
            assert_eq!(again, Some(t.trunc_subsecs(3)), "{s:?} -> {}", rfc3339(t));
        }
        let _ = t.duration_trunc(chrono::Duration::minutes(1));
    }
    let _ = parse_epoch(s);
    let _ = parse_chat_timestamp(s);
    for year in [1970, 2024, 9999] {
        if let Some(lead) = parse_leading(s, year) {
            // The reported length is a prefix of the line, on a char boundary.
            assert!(
                lead.len <= s.len() && s.is_char_boundary(lead.len),
                "{s:?} len {}",
                lead.len
            );
        }
    }
});
