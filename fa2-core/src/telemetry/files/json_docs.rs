//! JSON documents that are records one by one, not wrapped in a CLI output object: CloudTrail
//! events as a bare array, a single event or JSON lines; raw X-Ray segment documents (what the
//! SDKs and the daemon send); and JSON-lines logs (API Gateway JSON access logs, Lambda's JSON
//! log format, FireLens / Fluent Bit output, any structured application log).
//!
//! Policy: a file whose first line is a whole JSON object is read line by line, so that one
//! broken line (a truncated last line, a stray text line) costs that line only and is counted;
//! anything else (one pretty-printed object, a bare array, objects one after another) is read
//! as a stream of documents, the elements of an array one at a time. A record needs a time: one
//! without is counted and dropped, never kept undated.

use super::json_stream::for_each_document;
use super::losses::Loss;
use super::{FileCtx, FileError};
use crate::record::{LogEvent, Record, Trace};
use serde_json::Value;
use std::io::BufRead;

/// Bytes kept of the compact JSON that stands for a log line without a message field.
const MAX_COMPACT_BYTES: usize = 2048;

/// Whether the first non-empty line of `prefix` is a whole JSON object (a JSON-lines file).
pub(crate) fn first_line_is_object(prefix: &[u8]) -> Option<Value> {
    let text = prefix.strip_prefix(b"\xef\xbb\xbf").unwrap_or(prefix);
    let line = text
        .split(|&b| b == b'\n')
        .map(|l| l.trim_ascii())
        .find(|l| !l.is_empty())?;
    if !line.starts_with(b"{") {
        return None;
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// Calls `each` for every JSON document of the file (see the module policy).
fn read_docs(
    mut reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
    mut each: impl FnMut(&mut FileCtx<'_>, Value) -> Result<(), FileError>,
) -> Result<(), FileError> {
    let lines_mode = first_line_is_object(reader.fill_buf()?).is_some();
    if lines_mode {
        let mut lines = ctx.lines(reader);
        let mut buf = Vec::with_capacity(1024);
        while lines.next_into(&mut buf)? {
            let line = buf.trim_ascii();
            if line.is_empty() {
                continue;
            }
            let parsed = serde_json::from_slice::<Value>(line).or_else(|e| {
                // a line with broken UTF-8 is still a record: repaired, counted
                match std::str::from_utf8(line) {
                    Ok(_) => Err(e),
                    Err(_) => {
                        let text = String::from_utf8_lossy(line);
                        let v = serde_json::from_str::<Value>(&text)?;
                        ctx.lose(Loss::InvalidUtf8Lines, 1);
                        Ok(v)
                    }
                }
            });
            match parsed {
                Ok(v) => each(ctx, v)?,
                Err(_) => {
                    ctx.lose(Loss::BadJsonLine, 1);
                    let sample: String = String::from_utf8_lossy(line).chars().take(80).collect();
                    ctx.losses.sample(Loss::BadJsonLine, || sample);
                }
            }
        }
        return Ok(());
    }
    let reader = ctx.json(reader);
    let scalars = for_each_document(reader, |v| each(ctx, v))?;
    if scalars > 0 {
        ctx.note(format!(
            "{scalars} top-level JSON values were neither objects nor arrays and were ignored"
        ));
    }
    Ok(())
}

/// Counts a document that is not a record of the file's kind, keeping the first as a sample.
fn not_a_record(ctx: &mut FileCtx<'_>, v: &Value, expected: &'static str) {
    ctx.lose(Loss::NotARecord, 1);
    let keys: Vec<&str> = match v {
        Value::Object(m) => m.keys().take(6).map(String::as_str).collect(),
        _ => Vec::new(),
    };
    let sample = format!("{expected} expected; got {}", describe_json(v, &keys));
    ctx.losses.sample(Loss::NotARecord, || sample);
}

fn describe_json(v: &Value, keys: &[&str]) -> String {
    match v {
        Value::Object(_) => format!("an object with keys {}", keys.join(", ")),
        Value::Array(_) => "an array".into(),
        Value::String(_) => "a string".into(),
        Value::Number(_) => "a number".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Null => "null".into(),
    }
}

/// Whether `v` is a CloudTrail event (the fields every event has).
pub(crate) fn is_cloudtrail_event(v: &Value) -> bool {
    v.get("eventVersion").is_some() && v.get("eventTime").is_some() && v.get("eventName").is_some()
}

/// Whether `v` is an X-Ray segment or subsegment document.
pub(crate) fn is_segment(v: &Value) -> bool {
    v.get("trace_id").is_some_and(Value::is_string)
        && v.get("id").is_some()
        && v.get("start_time").is_some()
}

/// CloudTrail events as a bare array, one event object, JSON lines, or `{"Records"}` objects
/// one after another.
pub(crate) fn read_cloudtrail_events(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    fn one(ctx: &mut FileCtx<'_>, v: Value) -> Result<(), FileError> {
        if let Some(Value::Array(records)) = v.get("Records") {
            for r in records {
                one(ctx, r.clone())?;
            }
            return Ok(());
        }
        if v.get("eventName").is_none() || v.get("eventSource").is_none() {
            not_a_record(
                ctx,
                &v,
                "a CloudTrail event (eventName, eventSource, eventTime)",
            );
            return Ok(());
        }
        let ev = super::cloudtrail::audit_event(&v);
        if ev.time.is_none() {
            ctx.lose(Loss::NoTimestamp, 1);
            return Ok(());
        }
        ctx.emit(Record::Audit(Box::new(ev)))
    }
    read_docs(reader, ctx, one)
}

/// Raw X-Ray segment documents: one per record, its subsegments flattened into spans. The
/// daemon's `{"format": "json", "version": 1}` headers are protocol, not records.
pub(crate) fn read_segments(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    read_docs(reader, ctx, |ctx, v| {
        if v.get("format").is_some() && v.get("trace_id").is_none() {
            return Ok(());
        }
        if v.get("trace_id").is_none() || v.get("id").is_none() {
            not_a_record(
                ctx,
                &v,
                "an X-Ray segment document (trace_id, id, start_time)",
            );
            return Ok(());
        }
        let mut spans = Vec::new();
        super::xray::flatten_document(&v, &mut spans);
        let (start, end) = spans.first().map_or((None, None), |s| (s.start, s.end));
        let Some(start) = start else {
            ctx.lose(Loss::NoTimestamp, 1);
            return Ok(());
        };
        let duration = end.map_or(0.0, |e| {
            (e - start).num_microseconds().unwrap_or(0) as f64 / 1e6
        });
        let id = v
            .get("trace_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        ctx.emit(Record::Trace(Box::new(Trace {
            id,
            duration: duration.max(0.0),
            spans,
        })))
    })
}

/// Fields that hold a record's time, in the order they are tried.
const TIME_FIELDS: &[&str] = &[
    "timestamp",
    "time",
    "@timestamp",
    "ts",
    "requestTime",
    "request_time_epoch",
    "requestTimeEpoch",
    "eventTime",
    "date",
];
/// Fields that hold the message.
const MESSAGE_FIELDS: &[&str] = &["message", "msg", "log", "@message", "errorMessage"];
/// Fields that hold the level.
const LEVEL_FIELDS: &[&str] = &["level", "severity", "status", "levelname"];

/// A time from a JSON value: text in any supported form, or an epoch number (seconds,
/// milliseconds, microseconds or nanoseconds by magnitude), also as a string of digits.
pub(crate) fn json_time(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    match v {
        Value::String(s) => crate::time::parse_timestamp(s),
        Value::Number(n) => n.as_f64().and_then(crate::time::epoch_auto),
        _ => None,
    }
}

/// The time of a structured log line: the usual fields first, then any field whose name
/// contains `time`.
pub(crate) fn log_time(
    map: &serde_json::Map<String, Value>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    for f in TIME_FIELDS {
        if let Some(t) = map.get(*f).and_then(json_time) {
            return Some(t);
        }
    }
    map.iter()
        .filter(|(k, _)| k.to_ascii_lowercase().contains("time"))
        .find_map(|(_, v)| json_time(v))
}

/// JSON-lines logs: one log event per object.
pub(crate) fn read_json_logs(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    read_docs(reader, ctx, |ctx, v| {
        let Value::Object(map) = &v else {
            not_a_record(ctx, &v, "a JSON object per line");
            return Ok(());
        };
        let Some(ts) = log_time(map) else {
            ctx.lose(Loss::NoTimestamp, 1);
            return Ok(());
        };
        let message = log_message(map, &v);
        ctx.emit(Record::Log(LogEvent {
            ts,
            group: ctx.group.clone(),
            stream: None,
            message,
        }))
    })
}

/// The message of a structured log line, led by its level when it has one in words (a
/// numeric `status` is an HTTP status, not a level); the compact object when no message field
/// holds text.
fn log_message(map: &serde_json::Map<String, Value>, whole: &Value) -> String {
    let level = LEVEL_FIELDS
        .iter()
        .filter_map(|f| map.get(*f).and_then(Value::as_str))
        .find(|l| !l.is_empty() && !l.bytes().all(|b| b.is_ascii_digit()));
    let text = MESSAGE_FIELDS
        .iter()
        .filter_map(|f| map.get(*f))
        .find_map(|m| match m {
            Value::String(s) if !s.is_empty() => Some(s.trim_end().to_string()),
            Value::Object(_) | Value::Array(_) => Some(compact(m)),
            _ => None,
        });
    match (level, text) {
        (Some(l), Some(t)) => format!("{} {t}", l.to_ascii_uppercase()),
        (None, Some(t)) => t,
        (_, None) => compact(whole),
    }
}

fn compact(v: &Value) -> String {
    super::cloudtrail::truncate(v.to_string(), MAX_COMPACT_BYTES)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::tests::{gzip, read_bytes};
    use crate::record::{Record, RecordType};
    use crate::telemetry::SourceState;

    fn audits(sink: &crate::telemetry::VecSink) -> Vec<&crate::record::AuditEvent> {
        sink.records
            .iter()
            .filter_map(|(_, r)| match r {
                Record::Audit(a) => Some(&**a),
                _ => None,
            })
            .collect()
    }

    fn logs(sink: &crate::telemetry::VecSink) -> Vec<(String, String)> {
        super::super::tests::log_messages(sink)
    }

    // A CloudTrail event typed from the CloudTrail User Guide, "CloudTrail record contents
    // for management, data, and network activity events" example (an IAM user's
    // CreateUser call): https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html
    const CT_EVENT: &str = r#"{
    "eventVersion": "1.08",
    "userIdentity": {
        "type": "IAMUser",
        "principalId": "AIDA6ON6E4XEGITEXAMPLE",
        "arn": "arn:aws:iam::888888888888:user/Mary",
        "accountId": "888888888888",
        "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
        "userName": "Mary"
    },
    "eventTime": "2023-07-19T21:25:09Z",
    "eventSource": "iam.amazonaws.com",
    "eventName": "CreateUser",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "192.0.2.0",
    "userAgent": "aws-cli/2.13.5 Python/3.11.4 Linux/4.14.255-314-253.539.amzn2.x86_64 exec-env/CloudShell exe/x86_64.amzn.2 prompt/off command/iam.create-user",
    "requestParameters": {
        "userName": "Richard"
    },
    "responseElements": null,
    "requestID": "2d528c76-329e-410b-9516-EXAMPLE565dc",
    "eventID": "ba0801a1-87ec-4d26-be87-EXAMPLE75bbb",
    "readOnly": false,
    "eventType": "AwsApiCall",
    "managementEvent": true,
    "recipientAccountId": "888888888888",
    "eventCategory": "Management"
}"#;

    #[test]
    fn cloudtrail_single_event_bare_array_and_json_lines() {
        let (sink, summary) = read_bytes("event.json", CT_EVENT.as_bytes());
        let ev = audits(&sink);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].event_name, "CreateUser");
        assert_eq!(ev[0].actor, "Mary");
        assert_eq!(ev[0].resources, vec!["Richard".to_string()]);
        assert_eq!(summary.statuses[0].kind, "cloudtrail");
        assert_eq!(summary.statuses[0].records, 1);

        let compact: serde_json::Value = serde_json::from_str(CT_EVENT).unwrap();
        let line = compact.to_string();
        let array = format!("[\n{CT_EVENT},\n{CT_EVENT},\n{CT_EVENT}\n]");
        let (sink, summary) = read_bytes("array.json.gz", &gzip(array.as_bytes()));
        assert_eq!(audits(&sink).len(), 3);
        assert_eq!(
            summary.statuses[0].counts[&RecordType::CloudtrailRecords],
            3
        );

        // JSON lines with a truncated last line and a line of another kind: both counted
        let lines = format!("{line}\n{line}\n{{\"hello\": 1}}\n{}\n", &line[..40]);
        let (sink, summary) = read_bytes("ct.jsonl", lines.as_bytes());
        assert_eq!(audits(&sink).len(), 2);
        let s = &summary.statuses[0];
        assert_eq!(s.status, SourceState::Ok);
        assert_eq!(s.records, 2);
        let warn = s.error.as_deref().unwrap();
        assert!(warn.contains("1 lines are not valid JSON"), "{warn}");
        assert!(
            warn.contains("1 JSON documents are not records of this kind"),
            "{warn}"
        );

        // a truncated array keeps what was read before the cut
        let (sink, summary) = read_bytes("cut.json", &array.as_bytes()[..array.len() - 300]);
        assert_eq!(audits(&sink).len(), 2);
        assert_eq!(summary.statuses[0].status, SourceState::Error);
        assert!(
            summary.statuses[0]
                .error
                .as_deref()
                .unwrap()
                .starts_with("file is truncated")
        );
    }

    // Segment documents typed from the X-Ray Developer Guide, "AWS X-Ray segment documents"
    // (a complete segment with a subsegment, and an in-progress segment):
    // https://docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html
    const SEGMENT: &str = r#"{
  "name" : "Scorekeep",
  "id" : "70de5b6f19ff9a0a",
  "start_time" : 1.478293361271E9,
  "trace_id" : "1-581cf771-a006649127e371903a2de979",
  "end_time" : 1.478293361449E9,
  "fault" : true,
  "cause" : {
    "working_directory" : "/var/app/current",
    "exceptions" : [{"id" : "e2e3f4d5e6f7a8b9", "message" : "Object reference not set", "type" : "NullReferenceException"}]
  },
  "subsegments" : [{
    "id" : "53995c3f42cd8ad8",
    "name" : "DynamoDB",
    "start_time" : 1.478293361272E9,
    "end_time" : 1.478293361448E9,
    "namespace" : "aws",
    "throttle" : true,
    "http" : {"response" : {"status" : 400}}
  }]
}"#;
    const IN_PROGRESS: &str = r#"{
  "name" : "example.com",
  "id" : "70de5b6f19ff9a0b",
  "start_time" : 1.478293361271E9,
  "trace_id" : "1-581cf771-a006649127e371903a2de979",
  "in_progress": true
}"#;

    #[test]
    fn xray_segment_documents() {
        let (sink, summary) = read_bytes("segment.json", SEGMENT.as_bytes());
        assert_eq!(summary.statuses[0].kind, "xray");
        assert_eq!(summary.statuses[0].records, 1);
        let Record::Trace(t) = &sink.records[0].1 else {
            panic!("not a trace")
        };
        assert_eq!(t.id, "1-581cf771-a006649127e371903a2de979");
        assert_eq!(t.spans.len(), 2);
        assert!(t.spans[0].fault);
        assert_eq!(
            t.spans[0].exceptions,
            vec![(
                "NullReferenceException".to_string(),
                "Object reference not set".to_string()
            )]
        );
        assert!(t.spans[1].throttle);
        assert!((t.duration - 0.178).abs() < 1e-6, "{}", t.duration);

        let (sink, _) = read_bytes("progress.json", IN_PROGRESS.as_bytes());
        let Record::Trace(t) = &sink.records[0].1 else {
            panic!("not a trace")
        };
        assert_eq!(t.spans[0].end, None);
        assert_eq!(t.duration, 0.0);

        // the daemon's wire form: a header line before each compact document; an array
        let seg: serde_json::Value = serde_json::from_str(SEGMENT).unwrap();
        let wire = format!(
            "{{\"format\": \"json\", \"version\": 1}}\n{seg}\n{{\"format\": \"json\", \"version\": 1}}\n{}\n{{\"trace_id\": \"1-2\", \"id\": \"x\"}}\n",
            serde_json::from_str::<serde_json::Value>(IN_PROGRESS).unwrap()
        );
        let (sink, summary) = read_bytes("daemon.log", wire.as_bytes());
        assert_eq!(sink.records.len(), 2);
        let warn = summary.statuses[0].error.as_deref().unwrap();
        assert!(
            warn.contains("1 events without a valid timestamp were ignored"),
            "{warn}"
        );
        let (sink, _) = read_bytes(
            "segs.json",
            format!("[{SEGMENT}, {IN_PROGRESS}]").as_bytes(),
        );
        assert_eq!(sink.records.len(), 2);
    }

    #[test]
    fn json_lines_logs() {
        // Lambda's JSON log format (application and platform records), typed from the Lambda
        // Developer Guide, "Configuring JSON and plain text log formats":
        // https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html
        let lambda = concat!(
            r#"{"timestamp":"2023-10-27T19:17:45.586Z","level":"INFO","message":"some log message","requestId":"79b4f56e-95b1-4643-9700-2807f4e68189"}"#,
            "\n",
            r#"{"time":"2023-11-01T00:21:51.358Z","type":"platform.report","record":{"requestId":"79b4f56e","metrics":{"durationMs":2.7,"billedDurationMs":3,"memorySizeMB":128,"maxMemoryUsedMB":75},"status":"success"}}"#,
            "\n",
            // API Gateway JSON access log (the $context variables of the console's JSON
            // template): https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html
            r#"{ "requestId":"c0475a28-8de8", "ip": "192.0.2.1", "requestTime":"31/Aug/2017:01:07:25 +0000", "httpMethod":"POST","routeKey":"POST /pets", "status":"502","protocol":"HTTP/1.1", "responseLength":"36" }"#,
            "\n",
            r#"{"request_time_epoch": "1678451388661", "status_code": "200"}"#,
            "\n",
            r#"{"ts": 1723807290123456, "msg": "epoch micro", "severity": "warn"}"#,
            "\n",
            r#"{"no": "time here"}"#,
            "\n",
            "not json at all\n"
        );
        let (sink, summary) = read_bytes("app.jsonl", lambda.as_bytes());
        let l = logs(&sink);
        assert_eq!(l.len(), 5);
        assert_eq!(
            l[0],
            (
                "2023-10-27T19:17:45.586Z".to_string(),
                "INFO some log message".to_string()
            )
        );
        assert_eq!(l[1].0, "2023-11-01T00:21:51.358Z");
        assert!(l[1].1.contains("platform.report"), "{}", l[1].1);
        assert_eq!(l[2].0, "2017-08-31T01:07:25.000Z");
        assert!(l[2].1.contains("\"status\":\"502\""), "{}", l[2].1);
        assert_eq!(l[3].0, "2023-03-10T12:29:48.661Z");
        assert_eq!(
            l[4],
            (
                "2024-08-16T11:21:30.123Z".to_string(),
                "WARN epoch micro".to_string()
            )
        );
        let s = &summary.statuses[0];
        assert_eq!(s.kind, "logs");
        assert_eq!(s.records, 5);
        let warn = s.error.as_deref().unwrap();
        assert!(
            warn.contains("1 events without a valid timestamp were ignored"),
            "{warn}"
        );
        assert!(warn.contains("1 lines are not valid JSON"), "{warn}");
    }
}
