//! What the function was invoked with. One binary serves every role, chosen from the event's
//! shape: an analysis job (its own asynchronous self-invocation), an HTTP request from API
//! Gateway (REST or HTTP API), a Function URL or an ALB (the Slack endpoint), an EventBridge
//! "CloudWatch Alarm State Change", or the payload of FA2's Amazon Q Developer in chat
//! applications (AWS Chatbot) custom action.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use fa2_core::telemetry::aws::metrics::MetricQuerySpec;
use fa2_slack::AnalysisJob;
use serde_json::Value;
use std::collections::BTreeMap;

/// The key of a job payload: `{"fa2_job": {...}}`.
pub const JOB_KEY: &str = "fa2_job";

/// An invocation, classified.
#[derive(Debug)]
pub enum Incoming {
    Job(Box<AnalysisJob>),
    Http(Box<lambda_http::request::LambdaRequest>),
    Alarm(Box<AlarmStateChange>),
    CustomAction(Box<CustomAction>),
}

/// An event no role accepts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error(
        "unrecognized event: not a Slack HTTP request, an fa2 job, a CloudWatch alarm state change or a custom action payload (top-level keys: {0})"
    )]
    Unrecognized(String),
    #[error("malformed {kind} event: {message}")]
    Malformed { kind: &'static str, message: String },
}

fn malformed(kind: &'static str, message: impl std::fmt::Display) -> EventError {
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
    if event.get("source").and_then(Value::as_str) == Some("aws.cloudwatch")
        && event.get("detail-type").and_then(Value::as_str) == Some("CloudWatch Alarm State Change")
    {
        return AlarmStateChange::from_event(&event).map(|a| Incoming::Alarm(Box::new(a)));
    }
    let is_http = event.get("requestContext").is_some()
        || event.get("httpMethod").is_some()
        || event.get("rawPath").is_some();
    if is_http {
        let req: lambda_http::request::LambdaRequest =
            serde_json::from_value(event).map_err(|e| malformed("HTTP", e))?;
        return Ok(Incoming::Http(Box::new(req)));
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
        return CustomAction::from_event(&event, tz).map(|c| Incoming::CustomAction(Box::new(c)));
    }
    let keys = match &event {
        Value::Object(m) => m.keys().take(10).cloned().collect::<Vec<_>>().join(", "),
        other => format!("not an object but {}", json_kind(other)),
    };
    Err(EventError::Unrecognized(keys))
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

/// An EventBridge "CloudWatch Alarm State Change".
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmStateChange {
    pub alarm_name: String,
    pub state: String,
    pub reason: String,
    /// When the alarm changed state.
    pub time: DateTime<Utc>,
    pub region: String,
    /// The alarm's single metric, as a metrics query (none for metric math or composites).
    pub metric: Option<MetricQuerySpec>,
}

impl AlarmStateChange {
    pub fn from_event(e: &Value) -> Result<Self, EventError> {
        let d = e
            .get("detail")
            .ok_or_else(|| malformed("alarm", "no detail"))?;
        let s = |p: &str| {
            d.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let alarm_name = s("/alarmName");
        if alarm_name.is_empty() {
            return Err(malformed("alarm", "detail.alarmName is missing"));
        }
        let time = parse_time(&s("/state/timestamp"), chrono_tz::UTC)
            .or_else(|| {
                parse_time(
                    e.get("time").and_then(Value::as_str).unwrap_or(""),
                    chrono_tz::UTC,
                )
            })
            .ok_or_else(|| malformed("alarm", "no state timestamp"))?;
        let metric = d
            .pointer("/configuration/metrics")
            .and_then(Value::as_array)
            .filter(|m| m.len() == 1)
            .and_then(|m| m[0].get("metricStat"))
            .and_then(|ms| {
                let metric = ms.get("metric")?;
                let dimensions: BTreeMap<String, String> = metric
                    .get("dimensions")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                Some(MetricQuerySpec {
                    namespace: metric.get("namespace")?.as_str()?.to_string(),
                    metric: metric.get("name")?.as_str()?.to_string(),
                    dimensions,
                    stat: ms
                        .get("stat")
                        .and_then(Value::as_str)
                        .unwrap_or("Average")
                        .to_string(),
                    period_secs: ms.get("period").and_then(Value::as_i64).unwrap_or(60) as i32,
                })
            });
        Ok(AlarmStateChange {
            alarm_name,
            state: s("/state/value"),
            reason: s("/state/reason"),
            time,
            region: e
                .get("region")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            metric,
        })
    }
}

/// The custom action payload of FA2's `chatbot-customaction` variant.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomAction {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub description: String,
    pub alarm_name: Option<String>,
    pub alarm_time: Option<DateTime<Utc>>,
}

impl CustomAction {
    /// Reads the payload; times are RFC 3339, epoch (s or ms), or local `YYYY-MM-DD HH:MM` in
    /// `tz`. Without a start and end, the window is the 15 minutes before the alarm time up to
    /// 15 minutes after it.
    pub fn from_event(e: &Value, tz: Tz) -> Result<Self, EventError> {
        let time = |k: &str| -> Result<Option<DateTime<Utc>>, EventError> {
            match e.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::Number(n)) => Ok(n.as_f64().and_then(fa2_core::time::epoch_auto)),
                Some(Value::String(s)) => parse_time(s, tz).map(Some).ok_or_else(|| {
                    malformed(
                        "custom action",
                        format!("{k} `{s}` is not a time: use RFC 3339 like 2024-08-16T11:19:00Z"),
                    )
                }),
                Some(other) => Err(malformed(
                    "custom action",
                    format!("{k} is {}, not a time", json_kind(other)),
                )),
            }
        };
        let alarm_time = time("alarmTimestamp")?;
        let (start, end) = match (time("startDate")?, time("endDate")?, alarm_time) {
            (Some(s), Some(e), _) => (s, e),
            (s, e, Some(a)) => (
                s.unwrap_or(a - chrono::Duration::minutes(15)),
                e.unwrap_or(a + chrono::Duration::minutes(15)),
            ),
            _ => {
                return Err(malformed(
                    "custom action",
                    "startDate and endDate (or alarmTimestamp) are required",
                ));
            }
        };
        if start >= end {
            return Err(malformed(
                "custom action",
                "startDate is not before endDate: check the order and the time zone",
            ));
        }
        let text = |k: &str| {
            e.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Ok(CustomAction {
            start,
            end,
            description: text("errorDescription").unwrap_or_default(),
            alarm_name: text("alarmName"),
            alarm_time,
        })
    }
}

/// RFC 3339, CloudWatch's `+0000` offsets, epoch digits, or a wall time without offset
/// (with or without seconds), which is read in `tz`.
pub fn parse_time(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
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
        let Incoming::Alarm(a) = classify(e, chrono_tz::UTC).unwrap() else {
            panic!("not an alarm");
        };
        assert_eq!(a.alarm_name, "orders-5xx");
        assert_eq!(a.state, "ALARM");
        assert_eq!(a.time.timestamp(), 1_795_514_311);
        let m = a.metric.unwrap();
        assert_eq!(
            (m.namespace.as_str(), m.stat.as_str(), m.period_secs),
            ("AWS/ApplicationELB", "Sum", 60)
        );
        assert_eq!(m.dimensions["LoadBalancer"], "app/orders/123");
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
            Utc.with_ymd_and_hms(2024, 9, 10, 14, 5, 0).unwrap()
        );
        assert_eq!(c.end, Utc.with_ymd_and_hms(2024, 9, 10, 14, 35, 0).unwrap());
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
        let c =
            CustomAction::from_event(&json!({"alarmTimestamp": 1725977280000i64}), tokyo).unwrap();
        assert_eq!(c.end - c.start, chrono::Duration::minutes(30));
        let e =
            CustomAction::from_event(&json!({"startDate": "yesterday", "endDate": "now"}), tokyo)
                .unwrap_err();
        assert!(e.to_string().contains("RFC 3339"), "{e}");
        let e = CustomAction::from_event(&json!({"errorDescription": "x"}), tokyo).unwrap_err();
        assert!(e.to_string().contains("required"));
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
