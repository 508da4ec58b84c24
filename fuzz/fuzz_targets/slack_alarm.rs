//! The Slack alarm reader (`fa2_slack::alarm`) on any message: JSON input is read as a
//! Slack message event, anything else as the text of one.

#![no_main]

use fa2_slack::alarm::{message_text, read_alarm};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let message = serde_json::from_slice::<Value>(data)
        .unwrap_or_else(|_| json!({"type": "message", "text": String::from_utf8_lossy(data)}));
    let _ = message_text(&message);
    let hint = read_alarm(&message);
    let description = hint.description();
    // The form's description is clipped for Slack (500 characters, the clip mark included).
    assert!(
        description.chars().count() <= 500,
        "{} chars",
        description.chars().count()
    );
    for field in [&hint.name, &hint.metric].into_iter().flatten() {
        assert!(!field.is_empty());
    }
});
