//! The Lambda's event handling (`fa2_lambda::event`) on any payload: classification, the
//! alarm (EventBridge, Lambda alarm action, SNS), the custom action and its window, and `parse_time` on the text.
//! Payloads are JSON as the Lambda runtime hands them over; non-JSON input goes to
//! `parse_time` and, as a string, into the custom action's fields.

#![no_main]

use chrono::{DateTime, Utc};
use fa2_core::window::WindowPolicy;
use fa2_lambda::event::{CustomAction, Incoming, classify, parse_time};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let now = DateTime::<Utc>::from_timestamp(1_795_000_000, 0).expect("fixed time");
    let policy = WindowPolicy::default();
    let event = match serde_json::from_slice::<Value>(data) {
        Ok(v) => v,
        Err(_) => {
            let text = String::from_utf8_lossy(data);
            for tz in [
                chrono_tz::UTC,
                chrono_tz::Asia::Tokyo,
                chrono_tz::America::New_York,
            ] {
                let _ = parse_time(&text, tz);
            }
            json!({"startDate": text, "endDate": text, "alarmTimestamp": text, "alarmName": "a"})
        }
    };
    for tz in [chrono_tz::UTC, chrono_tz::Asia::Tokyo] {
        match classify(event.clone(), tz) {
            Ok(Incoming::CustomAction(action)) => check_action(&action, &policy, now),
            Ok(Incoming::Alarms(alarms)) => {
                for alarm in alarms {
                    assert!(!alarm.alarm_name.is_empty());
                }
            }
            Ok(Incoming::Ignored(_)) => {}
            Ok(Incoming::Job(_) | Incoming::Http(_)) => {}
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
});

fn check_action(action: &CustomAction, policy: &WindowPolicy, now: DateTime<Utc>) {
    match action.window(policy, now) {
        // An accepted window is ordered and no longer than the policy allows.
        Ok((start, end)) => {
            assert!(start < end, "{start} !< {end}");
            let max = chrono::Duration::from_std(policy.max_window).expect("small duration");
            assert!(end - start <= max, "{start}..{end} longer than {max}");
        }
        Err(why) => assert!(!why.is_empty()),
    }
    for tz in ["UTC", "Asia/Tokyo", "not/a-zone"] {
        assert!(!action.requested_label(tz).is_empty());
    }
}
