//! Reads an alarm posted in a channel (by Amazon Q Developer in chat applications, formerly
//! AWS Chatbot, or another configured app): the alarm name, when it went to ALARM, its metric
//! and the reason, to pre-fill the analysis form. Every field is optional: an unknown message
//! shape still gets a form, with defaults.

use crate::mrkdwn::clip;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

/// What an alarm message says, as far as it can be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmHint {
    pub name: Option<String>,
    /// When the alarm went to ALARM (or the breaching datapoint).
    pub time: Option<DateTime<Utc>>,
    pub metric: Option<String>,
    pub reason: Option<String>,
}

impl AlarmHint {
    /// A one-line description for the form.
    pub fn description(&self) -> String {
        let mut out = String::new();
        if let Some(n) = &self.name {
            out.push_str(&format!("Alarm {n}"));
        }
        if let Some(m) = &self.metric {
            out.push_str(&format!(" ({m})"));
        }
        if let Some(r) = &self.reason {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(r);
        }
        clip(&out, 500)
    }
}

static NAME: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // Amazon Q Developer / Chatbot: "CloudWatch Alarm | orders-5xx | us-east-1 | Account: 1"
        r"CloudWatch Alarm \| *([^|\n]+?) *\|",
        // SNS subject: ALARM: "orders-5xx" in US East (N. Virginia)
        r#"ALARM: *"([^"\n]+)""#,
        r"(?i)alarm name\W{0,3}\s*([A-Za-z0-9_.\-/#:+=@ ]+?)\s*(?:\n|$|\|)",
        r#"(?i)\balarm\s+"([^"\n]+)""#,
    ]
    .iter()
    .filter_map(|p| Regex::new(p).ok())
    .collect()
});
static ISO_TIME: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}|\s*UTC)?",
    )
    .ok()
});
// Chatbot's datapoint list: [12.0 (24/11/26 09:58:00)], day/month/year in UTC.
static DATAPOINT_TIME: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\((\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2})\)").ok());
static METRIC: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?i)metric(?: name)?\W{0,3}\s*([A-Za-z0-9_./\-]+(?: *[•/] *[A-Za-z0-9_.\-]+)?)",
        r"\b(AWS/[A-Za-z0-9]+ *[•/] *[A-Za-z0-9_.\-]+)",
    ]
    .iter()
    .filter_map(|p| Regex::new(p).ok())
    .collect()
});
static REASON: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)(threshold crossed:[^\n]+)").ok());

/// All the human-readable text of a message: its text, attachments and blocks.
pub fn message_text(message: &Value) -> String {
    let mut parts = Vec::new();
    collect_text(message, None, &mut parts);
    parts.join("\n")
}

fn collect_text<'a>(v: &'a Value, key: Option<&str>, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s)
            if matches!(
                key,
                Some("text" | "title" | "value" | "fallback" | "pretext" | "name")
            ) =>
        {
            out.push(s)
        }
        Value::Array(items) => items.iter().for_each(|i| collect_text(i, key, out)),
        Value::Object(map) => {
            for (k, child) in map {
                // Another message quoted inside is not this alarm.
                if k == "message" || k == "previous_message" || k == "root" {
                    continue;
                }
                collect_text(child, Some(k), out);
            }
        }
        _ => {}
    }
}

/// Reads the alarm in `message` (a Slack message event).
pub fn read_alarm(message: &Value) -> AlarmHint {
    let text = message_text(message);
    let name = NAME
        .iter()
        .find_map(|re| re.captures(&text).and_then(|c| c.get(1)))
        .map(|m| clip(m.as_str().trim().trim_matches('*'), 255))
        .filter(|n| !n.is_empty());
    let time = DATAPOINT_TIME
        .as_ref()
        .and_then(|re| re.captures(&text))
        .and_then(|c| c.get(1))
        .and_then(|m| NaiveDateTime::parse_from_str(m.as_str(), "%d/%m/%y %H:%M:%S").ok())
        .map(|n| Utc.from_utc_datetime(&n))
        .or_else(|| {
            ISO_TIME
                .as_ref()?
                .find_iter(&text)
                .find_map(|m| parse_loose_time(m.as_str()))
        });
    let metric = METRIC
        .iter()
        .find_map(|re| re.captures(&text).and_then(|c| c.get(1)))
        .map(|m| clip(m.as_str().trim(), 255));
    let reason = REASON
        .as_ref()
        .and_then(|re| re.captures(&text))
        .and_then(|c| c.get(1))
        .map(|m| clip(m.as_str().trim(), 400));
    AlarmHint {
        name,
        time,
        metric,
        reason,
    }
}

/// A time as [`fa2_core::time::parse_timestamp`] reads it (no offset means UTC, as AWS prints
/// them), also without seconds or with a trailing `UTC`.
fn parse_loose_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim().trim_end_matches("UTC").trim();
    fa2_core::time::parse_timestamp(s)
        .or_else(|| fa2_core::time::parse_timestamp(&format!("{s}:00")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chatbot_attachment_message() {
        let m = json!({
            "type": "message", "subtype": "bot_message", "bot_id": "B01", "app_id": "A6L22LZNH",
            "text": "",
            "attachments": [{
                "color": "danger",
                "title": ":rotating_light: CloudWatch Alarm | orders-5xx | us-east-1 | Account: 123456789012",
                "text": "Threshold Crossed: 1 out of the last 1 datapoints [42.0 (24/11/26 09:58:00)] was greater than the threshold (10.0) (minimum 1 datapoint for OK -> ALARM transition).",
                "fields": [{"title": "Metric", "value": "AWS/ApplicationELB • HTTPCode_Target_5XX_Count", "short": true}]
            }]
        });
        let a = read_alarm(&m);
        assert_eq!(a.name.as_deref(), Some("orders-5xx"));
        assert_eq!(
            a.time,
            Some(Utc.with_ymd_and_hms(2026, 11, 24, 9, 58, 0).unwrap())
        );
        assert_eq!(
            a.metric.as_deref(),
            Some("AWS/ApplicationELB • HTTPCode_Target_5XX_Count")
        );
        assert!(
            a.reason
                .as_deref()
                .unwrap()
                .starts_with("Threshold Crossed")
        );
        assert!(
            a.description()
                .starts_with("Alarm orders-5xx (AWS/ApplicationELB")
        );
    }

    #[test]
    fn block_message_with_iso_time_and_sns_subject() {
        let m = json!({
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "ALARM: \"checkout-latency\" in Asia Pacific (Tokyo)"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "State changed at 2026-11-24T01:02:03.000+0000"}}
            ]
        });
        let a = read_alarm(&m);
        assert_eq!(a.name.as_deref(), Some("checkout-latency"));
        assert_eq!(
            a.time,
            Some(Utc.with_ymd_and_hms(2026, 11, 24, 1, 2, 3).unwrap())
        );
    }

    #[test]
    fn unknown_shapes_give_defaults() {
        assert_eq!(read_alarm(&json!({"text": "hello"})), AlarmHint::default());
        assert_eq!(read_alarm(&json!(null)), AlarmHint::default());
        assert_eq!(AlarmHint::default().description(), "");
    }
}
