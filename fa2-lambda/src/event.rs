//! What the function was invoked with. One binary serves every role, chosen from the event's
//! shape: an analysis job (its own asynchronous self-invocation), an HTTP request from API
//! Gateway (REST or HTTP API), a Function URL or an ALB (the Slack endpoint, [`crate::endpoint`]),
//! a CloudWatch alarm (from EventBridge, its Lambda alarm action or SNS, [`crate::alarm`]), or
//! the payload of FA2's Amazon Q Developer in chat applications (AWS Chatbot) custom action.

use crate::alarm::Alarm;
use crate::endpoint::HttpEvent;
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use fa2_core::window::WindowPolicy;
use fa2_slack::AnalysisJob;
use fa2_slack::mrkdwn::clip;
use serde_json::Value;

/// The key of a job payload: `{"fa2_job": {...}}`.
pub const JOB_KEY: &str = "fa2_job";

/// An invocation, classified.
#[derive(Debug)]
pub enum Incoming {
    Job(Box<AnalysisJob>),
    Http(Box<HttpEvent>),
    /// One alarm, or one per record of an SNS event.
    Alarms(Vec<Alarm>),
    CustomAction(Box<CustomAction>),
    /// A CloudWatch event that is no alarm state change (a configuration change): why.
    Ignored(String),
}

/// An event no role accepts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error(
        "unrecognized event: not a Slack HTTP request, an fa2 job, a CloudWatch alarm (EventBridge, Lambda alarm action or SNS) or a custom action payload (top-level keys: {0})"
    )]
    Unrecognized(String),
    #[error("malformed {kind} event: {message}")]
    Malformed { kind: &'static str, message: String },
}

pub(crate) fn malformed(kind: &'static str, message: impl std::fmt::Display) -> EventError {
    EventError::Malformed {
        kind,
        message: message.to_string(),
    }
}

/// Classifies `event`.
pub fn classify(event: Value, tz: Tz) -> Result<Incoming, EventError> {
    if let Some(job) = event.get(JOB_KEY) {
        let job: AnalysisJob =
            serde_json::from_value(job.clone()).map_err(|e| malformed("fa2 job", e))?;
        return Ok(Incoming::Job(Box::new(job)));
    }
    if event.get("source").and_then(Value::as_str) == Some("aws.cloudwatch") {
        return match event.get("detail-type").and_then(Value::as_str) {
            Some("CloudWatch Alarm State Change") => {
                Alarm::from_eventbridge(&event).map(|a| Incoming::Alarms(vec![a]))
            }
            // EventBridge's other alarm events (configuration changes) analyze nothing
            Some(other) => Ok(Incoming::Ignored(format!(
                "a CloudWatch `{}` event is not an alarm state change",
                clip(other, 80)
            ))),
            None if event.get("alarmData").is_some() => {
                Alarm::from_alarm_action(&event).map(|a| Incoming::Alarms(vec![a]))
            }
            None => Err(malformed(
                "CloudWatch",
                "source is aws.cloudwatch but there is neither detail-type nor alarmData",
            )),
        };
    }
    if is_sns(&event) {
        return Alarm::from_sns_event(&event).map(Incoming::Alarms);
    }
    if crate::endpoint::is_http(&event) {
        return Ok(Incoming::Http(Box::new(HttpEvent::from_event(&event))));
    }
    if [
        "startDate",
        "endDate",
        "alarmName",
        "alarmTimestamp",
        "errorDescription",
    ]
    .iter()
    .any(|k| event.get(k).is_some())
    {
        return Ok(Incoming::CustomAction(Box::new(CustomAction::from_event(
            &event, tz,
        ))));
    }
    let keys = match &event {
        Value::Object(m) => m.keys().take(10).cloned().collect::<Vec<_>>().join(", "),
        other => format!("not an object but {}", json_kind(other)),
    };
    Err(EventError::Unrecognized(keys))
}

/// An SNS event: `Records` whose first record says `EventSource: aws:sns`.
fn is_sns(event: &Value) -> bool {
    event
        .pointer("/Records/0/EventSource")
        .and_then(Value::as_str)
        == Some("aws:sns")
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The custom action payload of FA2's `chatbot-customaction` variant:
///
/// ```text
/// lambda invoke --function-name fa2 --payload {"startDate": "$startDate", "endDate": "$endDate",
///   "errorDescription": "$errorDescription", "alarmName": "$MetricAlarmName",
///   "alarmTimestamp": "$Timestamp"} --invocation-type Event
/// ```
///
/// Amazon Q Developer in chat applications fills `$MetricAlarmName` and `$Timestamp` from the
/// notification and asks the person for the others. Reading never fails: the invocation is
/// asynchronous, so a failure would only be retried, never seen. A bad optional field
/// (`alarmTimestamp`, `alarmName`, `errorDescription`) becomes a note in the answer; a
/// `startDate`/`endDate` that is not a time makes the window unusable, which the answer
/// says (see [`CustomAction::window`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomAction {
    /// `startDate`, when it is set and a time.
    pub start: Option<DateTime<Utc>>,
    /// `endDate`, when it is set and a time.
    pub end: Option<DateTime<Utc>>,
    pub description: String,
    pub alarm_name: Option<String>,
    pub alarm_time: Option<DateTime<Utc>>,
    /// Optional fields that were ignored, and why (told in the answer).
    pub notes: Vec<String>,
    /// `startDate`/`endDate` values that are not times.
    pub problems: Vec<String>,
    /// `startDate` and `endDate` as given, for an answer about a window that could not be read.
    pub raw_window: (String, String),
}

/// How a custom-action field was filled in.
enum Field<'a> {
    Empty,
    /// Chatbot left the `$Variable` as it was: the notification had no such value.
    Unfilled(&'a str),
    Text(&'a str),
    Number(f64),
    Other(&'static str),
}

fn field<'a>(e: &'a Value, k: &str) -> Field<'a> {
    match e.get(k) {
        None | Some(Value::Null) => Field::Empty,
        Some(Value::String(s)) if s.trim().is_empty() => Field::Empty,
        Some(Value::String(s)) if s.trim().starts_with('$') => Field::Unfilled(s.trim()),
        Some(Value::String(s)) => Field::Text(s.trim()),
        Some(Value::Number(n)) => n.as_f64().map_or(Field::Other("a number"), Field::Number),
        Some(other) => Field::Other(json_kind(other)),
    }
}

/// The accepted time forms, for messages.
const TIME_FORMS: &str = "use RFC 3339 like 2024-08-16T11:19:00Z, `Tue, 24 Nov 2026 03:00:00 UTC`, epoch milliseconds, or a local `2024-08-16 20:19` in the configured time zone";

impl CustomAction {
    /// Reads the payload. Times are RFC 3339 / ISO 8601, RFC 1123 with `UTC`/`GMT` (how
    /// Chatbot writes `$Timestamp`), epoch seconds or milliseconds, CloudWatch's
    /// `dd/mm/yy HH:MM:SS`, or a wall time `YYYY-MM-DD HH:MM[:SS]` read in `tz`.
    pub fn from_event(e: &Value, tz: Tz) -> Self {
        let mut notes = Vec::new();
        let mut problems = Vec::new();
        let mut time = |k: &str, required: bool| -> Option<DateTime<Utc>> {
            let bad = match field(e, k) {
                Field::Empty => return None,
                Field::Text(s) => match parse_time(s, tz) {
                    Some(t) => return Some(t),
                    None => format!("{k} `{}` is not a time: {TIME_FORMS}", clip(s, 80)),
                },
                Field::Number(n) => match fa2_core::time::epoch_auto(n) {
                    Some(t) => return Some(t),
                    None => format!("{k} {n} is not an epoch time"),
                },
                Field::Unfilled(v) => format!(
                    "{k} was not filled in ({}: the notification has no such value)",
                    clip(v, 40)
                ),
                Field::Other(kind) => format!("{k} is {kind}, not a time"),
            };
            if required {
                problems.push(bad);
            } else {
                notes.push(format!("{bad}; ignored"));
            }
            None
        };
        let start = time("startDate", true);
        let end = time("endDate", true);
        let alarm_time = time("alarmTimestamp", false);
        let mut text = |k: &str| match field(e, k) {
            Field::Text(s) => Some(s.to_string()),
            Field::Number(n) => Some(n.to_string()),
            Field::Empty => None,
            Field::Unfilled(v) => {
                notes.push(format!("{k} was not filled in ({}); ignored", clip(v, 40)));
                None
            }
            Field::Other(kind) => {
                notes.push(format!("{k} is {kind}, not text; ignored"));
                None
            }
        };
        let description = text("errorDescription").unwrap_or_default();
        let alarm_name = text("alarmName");
        let raw = |k: &str| match e.get(k) {
            Some(Value::String(s)) => clip(s.trim(), 80),
            Some(Value::Null) | None => String::new(),
            Some(other) => clip(&other.to_string(), 80),
        };
        CustomAction {
            start,
            end,
            description,
            alarm_name,
            alarm_time,
            notes,
            problems,
            raw_window: (raw("startDate"), raw("endDate")),
        }
    }

    /// The window to analyze, accepted by `policy`: `startDate`..`endDate`; with both empty,
    /// the alarm window around `alarmTimestamp`; with one empty, that side of the alarm window.
    /// The error says what to fix.
    pub fn window(
        &self,
        policy: &WindowPolicy,
        now: DateTime<Utc>,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
        if !self.problems.is_empty() {
            return Err(self.problems.join("; "));
        }
        let alarm = |side: &str| -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
            let at = self.alarm_time.ok_or_else(|| {
                format!(
                    "{side} empty and there is no alarm time (alarmTimestamp) to derive the window from: fill in startDate and endDate, like 2024-08-16T11:19:00Z"
                )
            })?;
            policy.alarm_window(at, now).map_err(|e| e.to_string())
        };
        let (start, end) = match (self.start, self.end) {
            (Some(s), Some(e)) => (s, e),
            (None, None) => alarm("startDate and endDate are")?,
            (Some(s), None) => (s, alarm("endDate is")?.1),
            (None, Some(e)) => (alarm("startDate is")?.0, e),
        };
        policy.check(start, end, now).map_err(|e| e.to_string())?;
        Ok((start, end))
    }

    /// The window as asked, for an answer about a window that could not be used.
    pub fn requested_label(&self, tz: &str) -> String {
        match (self.start, self.end) {
            (Some(s), Some(e)) if s < e => fa2_slack::job::window_label(s, e, tz),
            _ => {
                let (s, e) = &self.raw_window;
                let shown = |v: &str| {
                    if v.is_empty() {
                        "(empty)".to_string()
                    } else {
                        v.to_string()
                    }
                };
                format!("startDate {}, endDate {}", shown(s), shown(e))
            }
        }
    }
}

/// RFC 3339, CloudWatch's `+0000` offsets, epoch digits, the zoned forms of
/// [`fa2_core::time::parse_chat_timestamp`] (RFC 1123 with `UTC`/`GMT`, ...), or a wall time
/// without offset (with or without seconds), which is read in `tz`.
pub fn parse_time(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(t) = fa2_core::time::parse_chat_timestamp(s) {
        return Some(t);
    }
    let t = fa2_core::time::parse_timestamp(s)
        .or_else(|| fa2_core::time::parse_timestamp(&format!("{s}:00")))?;
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') || has_offset(s) {
        return Some(t);
    }
    // parse_timestamp reads a wall time as UTC; here it is a person's time in `tz`
    tz.from_local_datetime(&t.naive_utc())
        .earliest()
        .map(|l| l.with_timezone(&Utc))
}

/// Whether the time part of `s` ends in `Z` or a `±HH[:MM]` offset.
fn has_offset(s: &str) -> bool {
    if s.ends_with(['Z', 'z']) {
        return true;
    }
    let time = s.rsplit(['T', ' ']).next().unwrap_or("");
    time.contains(['+', '-'])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn alarm_state_change() {
        let e = json!({
            "version": "0", "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
            "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
            "account": "123456789012", "time": "2026-11-24T09:58:31Z", "region": "us-east-1",
            "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-5xx"],
            "detail": {
                "alarmName": "orders-5xx",
                "state": {"value": "ALARM", "reason": "Threshold Crossed: 1 datapoint [42.0] was greater than 10.0", "timestamp": "2026-11-24T09:58:31.123+0000"},
                "previousState": {"value": "OK", "timestamp": "2026-11-24T08:00:00.000+0000"},
                "configuration": {"metrics": [{"id": "m1", "metricStat": {"metric": {"namespace": "AWS/ApplicationELB", "name": "HTTPCode_Target_5XX_Count", "dimensions": {"LoadBalancer": "app/orders/123"}}, "period": 60, "stat": "Sum"}, "returnData": true}]}
            }
        });
        let Incoming::Alarms(mut a) = classify(e, chrono_tz::UTC).unwrap() else {
            panic!("not an alarm");
        };
        let a = a.remove(0);
        assert_eq!(a.alarm_name, "orders-5xx");
        assert_eq!(a.state, "ALARM");
        assert_eq!(a.time.timestamp(), 1_795_514_311);
        let m = a.metric.unwrap();
        assert_eq!(
            (m.namespace.as_str(), m.stat.as_str(), m.period_secs),
            ("AWS/ApplicationELB", "Sum", 60)
        );
        assert_eq!(m.dimensions["LoadBalancer"], "app/orders/123");
        // a configuration change is no state change: ignored, saying so
        let e = json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm Configuration Change", "detail": {}});
        let Incoming::Ignored(why) = classify(e, chrono_tz::UTC).unwrap() else {
            panic!("not ignored");
        };
        assert!(why.contains("Configuration Change"), "{why}");
        let e = classify(json!({"source": "aws.cloudwatch"}), chrono_tz::UTC).unwrap_err();
        assert!(
            e.to_string().contains("neither detail-type nor alarmData"),
            "{e}"
        );
    }

    #[test]
    fn custom_action_payloads() {
        let tokyo = chrono_tz::Asia::Tokyo;
        let Incoming::CustomAction(c) = classify(
            json!({"startDate": "2024-09-10 23:05", "endDate": "2024-09-10T14:35:00Z", "errorDescription": "checkout 503", "alarmName": "checkout-5xx"}),
            tokyo,
        )
        .unwrap() else {
            panic!("not a custom action");
        };
        assert_eq!(
            c.start,
            Some(Utc.with_ymd_and_hms(2024, 9, 10, 14, 5, 0).unwrap())
        );
        assert_eq!(
            c.end,
            Some(Utc.with_ymd_and_hms(2024, 9, 10, 14, 35, 0).unwrap())
        );
        assert_eq!(c.alarm_name.as_deref(), Some("checkout-5xx"));
        // a wall time is the same time with or without seconds; offsets and epochs are absolute
        let fourteen_five = Some(Utc.with_ymd_and_hms(2024, 9, 10, 14, 5, 0).unwrap());
        for s in [
            "2024-09-10 23:05",
            "2024-09-10 23:05:00",
            "2024-09-10T23:05:00.000",
            "2024/09/10 23:05:00",
        ] {
            assert_eq!(parse_time(s, tokyo), fourteen_five, "{s}");
        }
        for s in [
            "2024-09-10T14:05:00Z",
            "2024-09-10T23:05:00+09:00",
            "2024-09-10T14:05:00.000+0000",
            "1725977100",
        ] {
            assert_eq!(parse_time(s, tokyo), fourteen_five, "{s}");
        }
        let policy = WindowPolicy::default();
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        // an alarm time alone: the alarm window (the configured lookback on both sides)
        let c = CustomAction::from_event(&json!({"alarmTimestamp": 1725977280000i64}), tokyo);
        let (s, e) = c.window(&policy, now).unwrap();
        assert_eq!(e - s, chrono::Duration::minutes(30));
        assert_eq!(s, Utc.with_ymd_and_hms(2024, 9, 10, 13, 53, 0).unwrap());
        // a start that is not a time is a problem, named with the accepted forms
        let c =
            CustomAction::from_event(&json!({"startDate": "yesterday", "endDate": "now"}), tokyo);
        let e = c.window(&policy, now).unwrap_err();
        assert!(e.contains("startDate `yesterday` is not a time"), "{e}");
        assert!(e.contains("RFC 3339") && e.contains("UTC"), "{e}");
        assert_eq!(c.requested_label("UTC"), "startDate yesterday, endDate now");
        let c = CustomAction::from_event(&json!({"errorDescription": "x"}), tokyo);
        let e = c.window(&policy, now).unwrap_err();
        assert!(e.contains("no alarm time"), "{e}");
        assert_eq!(
            c.requested_label("UTC"),
            "startDate (empty), endDate (empty)"
        );
    }

    #[test]
    fn chatbot_variable_forms() {
        let policy = WindowPolicy::default();
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let three = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
        // $Timestamp as Chatbot renders it, and the other plausible forms
        for ts in [
            json!("Tue, 24 Nov 2026 03:00:00 UTC"),
            json!("Tue, 24 Nov 2026 03:00:00 GMT"),
            json!("2026-11-24T03:00:00.000Z"),
            json!("2026-11-24T03:00:00.000+0000"),
            json!("2026-11-24 03:00:00 UTC"),
            json!("24/11/26 03:00:00"),
            json!("1795489200000"),
            json!(1795489200000i64),
            json!(1795489200),
        ] {
            let c = CustomAction::from_event(
                &json!({"startDate": "", "endDate": "", "errorDescription": "", "alarmName": "orders-5xx", "alarmTimestamp": ts}),
                chrono_tz::Asia::Tokyo,
            );
            assert_eq!(c.alarm_time, Some(three), "{ts}");
            assert!(c.notes.is_empty(), "{ts}: {:?}", c.notes);
            let (s, e) = c.window(&policy, now).unwrap();
            assert_eq!(
                (s, e),
                (
                    Utc.with_ymd_and_hms(2026, 11, 24, 2, 45, 0).unwrap(),
                    Utc.with_ymd_and_hms(2026, 11, 24, 3, 15, 0).unwrap()
                ),
                "{ts}"
            );
        }
        // optional fields never fail: they become notes
        let c = CustomAction::from_event(
            &json!({"startDate": "2024-09-10T14:05:00Z", "endDate": "2024-09-10T14:35:00Z",
                    "alarmName": "$MetricAlarmName", "alarmTimestamp": "soon", "errorDescription": ["x"]}),
            chrono_tz::UTC,
        );
        assert!(c.window(&policy, now).is_ok());
        assert_eq!(c.alarm_name, None);
        assert_eq!(c.notes.len(), 3, "{:?}", c.notes);
        assert!(c.notes[0].starts_with("alarmTimestamp `soon` is not a time"));
        assert!(c.notes[0].ends_with("; ignored"));
        assert!(c.notes.iter().any(|n| n.contains("$MetricAlarmName")));
        // one side empty: that side of the alarm window
        let c = CustomAction::from_event(
            &json!({"startDate": "2026-11-24T02:00:00Z", "endDate": "", "alarmTimestamp": "Tue, 24 Nov 2026 03:00:00 UTC"}),
            chrono_tz::UTC,
        );
        assert_eq!(
            c.window(&policy, now).unwrap(),
            (
                Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 11, 24, 3, 15, 0).unwrap()
            )
        );
        // over max_window: refused, naming it
        let c = CustomAction::from_event(
            &json!({"startDate": "2026-11-20T00:00:00Z", "endDate": "2026-11-24T00:00:00Z"}),
            chrono_tz::UTC,
        );
        let e = c.window(&policy, now).unwrap_err();
        assert!(e.contains("over max_window = 1d"), "{e}");
        // an epoch in the year 262142: an error, not a panic
        let c = CustomAction::from_event(
            &json!({"alarmTimestamp": chrono::DateTime::<Utc>::MAX_UTC.timestamp_millis()}),
            chrono_tz::UTC,
        );
        assert!(
            c.window(&policy, now)
                .unwrap_err()
                .contains("in the future")
        );
    }

    #[test]
    fn unknown_events_say_what_they_had() {
        let e = classify(json!({"foo": 1, "bar": 2}), chrono_tz::UTC).unwrap_err();
        assert!(e.to_string().contains("bar, foo"), "{e}");
        assert!(classify(json!([1]), chrono_tz::UTC).is_err());
        let e = classify(json!({"fa2_job": {"id": 1}}), chrono_tz::UTC).unwrap_err();
        assert!(e.to_string().starts_with("malformed fa2 job"), "{e}");
    }
}
