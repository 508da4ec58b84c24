//! Format detection from a file's first bytes (after decompression), not from its name.

use crate::telemetry::FileFormat;
use std::path::Path;

/// What a file was recognised as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    Format(FileFormat),
    /// Bundle metadata (`incident.json` / `truth.json`), not telemetry.
    Metadata,
    /// No known format; the reason is shown to the user.
    Unknown(String),
}

/// JSON keys that identify a format, checked in the order they appear in the file.
const JSON_MARKERS: &[(&str, FileFormat)] = &[
    ("\"messageType\"", FileFormat::FirehoseLogs),
    ("\"events\"", FileFormat::FilterLogEvents),
    ("\"results\"", FileFormat::InsightsResults),
    ("\"Records\"", FileFormat::CloudTrailRecords),
    ("\"Events\"", FileFormat::CloudTrailLookup),
    ("\"TraceSummaries\"", FileFormat::XraySummaries),
    ("\"Traces\"", FileFormat::XrayTraces),
    ("\"MetricDataResults\"", FileFormat::MetricData),
    ("\"AlarmHistoryItems\"", FileFormat::AlarmHistory),
    ("\"MetricAlarms\"", FileFormat::DescribeAlarms),
    ("\"CompositeAlarms\"", FileFormat::DescribeAlarms),
    ("\"Datapoints\"", FileFormat::MetricStatistics),
    ("\"eventVersion\"", FileFormat::CloudTrailEvents),
    ("\"trace_id\"", FileFormat::XraySegments),
];

/// Top-level keys of CLI outputs whose value is the array of records.
const WRAPPER_KEYS: &[(&str, FileFormat)] = &[
    ("events", FileFormat::FilterLogEvents),
    ("results", FileFormat::InsightsResults),
    ("Records", FileFormat::CloudTrailRecords),
    ("Events", FileFormat::CloudTrailLookup),
    ("TraceSummaries", FileFormat::XraySummaries),
    ("Traces", FileFormat::XrayTraces),
    ("MetricDataResults", FileFormat::MetricData),
    ("AlarmHistoryItems", FileFormat::AlarmHistory),
    ("MetricAlarms", FileFormat::DescribeAlarms),
    ("CompositeAlarms", FileFormat::DescribeAlarms),
    ("Datapoints", FileFormat::MetricStatistics),
];

/// The format of a file whose first line is the whole JSON object `v`: a one-line CLI output,
/// a record of a known kind in JSON-lines form, or a JSON-lines log (which needs a time).
fn classify_object(v: &serde_json::Value) -> Option<FileFormat> {
    use super::json_docs::{is_cloudtrail_event, is_segment, log_time};
    if v.get("messageType")
        .is_some_and(serde_json::Value::is_string)
    {
        return Some(FileFormat::FirehoseLogs);
    }
    if let Some((_, fmt)) = WRAPPER_KEYS
        .iter()
        .find(|(k, _)| v.get(*k).is_some_and(serde_json::Value::is_array))
    {
        return Some(*fmt);
    }
    if is_cloudtrail_event(v) {
        return Some(FileFormat::CloudTrailEvents);
    }
    // the X-Ray daemon's wire form puts `{"format": "json", "version": 1}` before each document
    let daemon_header = v.get("format").is_some()
        && v.get("version").is_some()
        && v.as_object().is_some_and(|m| m.len() == 2);
    if is_segment(v) || daemon_header {
        return Some(FileFormat::XraySegments);
    }
    let map = v.as_object()?;
    log_time(map).map(|_| FileFormat::JsonLogs)
}

/// Keys whose presence in the first element of a bare JSON array tells what it holds.
const ARRAY_MARKERS: &[(&str, FileFormat)] = &[
    ("\"eventVersion\"", FileFormat::CloudTrailEvents),
    ("\"trace_id\"", FileFormat::XraySegments),
    ("\"timestamp\"", FileFormat::JsonLogs),
    ("\"time\"", FileFormat::JsonLogs),
    ("\"@timestamp\"", FileFormat::JsonLogs),
];

/// Detects the format of a file from its (decompressed) prefix.
pub fn detect_format(path: &Path, prefix: &[u8]) -> Detected {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let text = String::from_utf8_lossy(prefix);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.is_empty() {
        return Detected::Unknown("empty file: no known format".into());
    }
    if prefix.iter().take(4096).filter(|&&b| b == 0).count() > 0 {
        return Detected::Unknown(
            "binary content (NUL bytes after the start): no known format".into(),
        );
    }
    if trimmed.starts_with('{') {
        if matches!(name.as_str(), "incident.json" | "truth.json") {
            return Detected::Metadata;
        }
        if let Some(first) = super::json_docs::first_line_is_object(trimmed.as_bytes()) {
            return match classify_object(&first) {
                Some(fmt) => Detected::Format(fmt),
                None => Detected::Unknown(
                    "JSON lines in no known format: the first line is no AWS CLI output, CloudTrail event or X-Ray segment, and has no time field for a JSON log (timestamp, time, @timestamp, ts, requestTime, request_time_epoch, eventTime, date, or a field whose name contains `time`)".into(),
                ),
            };
        }
        let found = JSON_MARKERS
            .iter()
            .filter_map(|(marker, fmt)| find_key(trimmed, marker).map(|pos| (pos, *fmt)))
            .min_by_key(|(pos, _)| *pos);
        return match found {
            Some((_, fmt)) => Detected::Format(fmt),
            None => Detected::Unknown(
                "JSON in no known format: expected filter-log-events or get-log-events (events), get-query-results (results), Firehose log records (messageType), CloudTrail (Records/Events, or an event with eventVersion), X-Ray (TraceSummaries/Traces, or a segment with trace_id), get-metric-data (MetricDataResults), get-metric-statistics (Datapoints), describe-alarm-history (AlarmHistoryItems) or describe-alarms (MetricAlarms/CompositeAlarms) output, or JSON lines (one object per line)".into(),
            ),
        };
    }
    if let Some(rest) = trimmed.strip_prefix('[')
        && rest.trim_start().starts_with('{')
    {
        let found = ARRAY_MARKERS
            .iter()
            .filter_map(|(marker, fmt)| find_key(rest, marker).map(|pos| (pos, *fmt)))
            .min_by_key(|(pos, _)| *pos);
        return match found {
            Some((_, fmt)) => Detected::Format(fmt),
            None => Detected::Unknown(
                "a JSON array in no known format: expected CloudTrail events (eventVersion), X-Ray segment documents (trace_id) or log objects with a time field (timestamp, time, @timestamp)".into(),
            ),
        };
    }
    let mut checked = 0;
    for line in trimmed.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if super::alb::looks_like_alb(line) {
            return Detected::Format(FileFormat::AlbAccessLog);
        }
        if super::access::access_time(line).is_some() {
            return Detected::Format(FileFormat::AccessLog);
        }
        if super::flows::looks_like_flow_log(line) {
            return Detected::Format(FileFormat::VpcFlowLog);
        }
        if crate::time::parse_leading(line, 2000).is_some() {
            return Detected::Format(FileFormat::PlainLog);
        }
        checked += 1;
        if checked >= 20 {
            break;
        }
    }
    if trimmed.starts_with('[') {
        return Detected::Unknown(
            "a JSON array (or text starting with `[`), in no known format: fa2 reads the JSON objects the AWS CLI prints, e.g. `aws logs filter-log-events` output ({\"events\": [...]}); export with the CLI's JSON output and pass that file".into(),
        );
    }
    Detected::Unknown(
        "no known format: not JSON, no ALB, common/combined-format access log or VPC Flow Logs entries and no line starting with a timestamp in the first 20 lines".into(),
    )
}

/// Position of `"key"` used as an object key (followed by `:`).
fn find_key(text: &str, key: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(key) {
        let at = from + i;
        let after = text[at + key.len()..].trim_start();
        if after.starts_with(':') {
            return Some(at);
        }
        from = at + key.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(name: &str, s: &str) -> Detected {
        detect_format(Path::new(name), s.as_bytes())
    }

    #[test]
    fn detects_by_content_not_name() {
        assert_eq!(
            d("x.txt", r#"{"events": [{"timestamp": 1, "message": "m"}]}"#),
            Detected::Format(FileFormat::FilterLogEvents)
        );
        assert_eq!(
            d("x", r#"{"nextToken": "a", "events": []}"#),
            Detected::Format(FileFormat::FilterLogEvents)
        );
        assert_eq!(
            d(
                "x.json",
                r#"{"results": [[{"field": "@timestamp", "value": "2024-08-16 11:49:00.204"}]]}"#
            ),
            Detected::Format(FileFormat::InsightsResults)
        );
        assert_eq!(
            d("y", r#"{"messageType": "DATA_MESSAGE", "logEvents": []}"#),
            Detected::Format(FileFormat::FirehoseLogs)
        );
        assert_eq!(
            d(
                "z.gz",
                r#"{"Records": [{"requestParameters": {"events": 1}}]}"#
            ),
            Detected::Format(FileFormat::CloudTrailRecords)
        );
        assert_eq!(
            d("z", r#"{"Events": [{"EventName": "UpdateTable"}]}"#),
            Detected::Format(FileFormat::CloudTrailLookup)
        );
        assert_eq!(
            d("a", r#"{"TraceSummaries": []}"#),
            Detected::Format(FileFormat::XraySummaries)
        );
        assert_eq!(
            d("a", r#"{"Traces": []}"#),
            Detected::Format(FileFormat::XrayTraces)
        );
        assert_eq!(
            d("a", r#"{"MetricDataResults": []}"#),
            Detected::Format(FileFormat::MetricData)
        );
        assert_eq!(d("truth.json", r#"{"start": "x"}"#), Detected::Metadata);
        assert!(matches!(d("a.json", r#"{"foo": 1}"#), Detected::Unknown(_)));
    }

    #[test]
    fn detects_text_formats() {
        assert_eq!(
            d(
                "a",
                "https 2024-08-16T10:19:00.339000Z app/prod-alb/50dc 1.2.3.4:1 10.0.1.36:8080 0.000 0.067 0.000 200 200 413 7249 \"GET https://x:443/ HTTP/1.1\" \"ua\" - - arn \"Root=1\" \"-\" \"-\" 0 2024-08-16T10:19:00.329000Z \"forward\" \"-\" \"-\" \"10.0.1.17:8080\" \"200\" \"-\" \"-\""
            ),
            Detected::Format(FileFormat::AlbAccessLog)
        );
        assert_eq!(
            d(
                "b",
                "\n2024-08-16T10:19:00.804Z (3d88) Method completed with status: 200\n"
            ),
            Detected::Format(FileFormat::PlainLog)
        );
        assert_eq!(
            d("b", "Aug 16 10:19:00 host sshd[1]: Accepted\n"),
            Detected::Format(FileFormat::PlainLog)
        );
        assert!(matches!(d("c", "just words\n"), Detected::Unknown(_)));
        assert!(matches!(d("c", "   \n"), Detected::Unknown(_)));
        assert!(matches!(d("c", "\u{0}\u{1}binary"), Detected::Unknown(_)));
        let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        match d("deep.json", &deep) {
            Detected::Unknown(m) => assert!(m.starts_with("a JSON array"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
