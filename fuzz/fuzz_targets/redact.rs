//! The redactor on any text, built-in patterns alone and with e-mail and IP masking. Its
//! contract: never panic, and redacting redacted text is a no-op.

#![no_main]

use fa2_core::redact::{RedactionConfig, Redactor};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static REDACTORS: LazyLock<[Redactor; 2]> = LazyLock::new(|| {
    let all = RedactionConfig {
        mask_emails: true,
        mask_ips: true,
        ..RedactionConfig::default()
    };
    [
        Redactor::builtin(),
        Redactor::new(&all).expect("built-in configuration"),
    ]
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for r in REDACTORS.iter() {
        let once = r.redact(&text);
        let twice = r.redact(&once);
        assert_eq!(once, twice, "not idempotent on {text:?}");
    }
});
