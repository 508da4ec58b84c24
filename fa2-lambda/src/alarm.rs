//! CloudWatch alarms, in the three shapes that reach the function, read into one [`Alarm`]:
//!
//! - **EventBridge** "CloudWatch Alarm State Change": `source: aws.cloudwatch`, the alarm in
//!   `detail` (CloudWatch User Guide, "Alarm events and EventBridge").
//! - **Lambda alarm action** (the alarm invokes the function itself): `source: aws.cloudwatch`,
//!   `alarmArn`, the alarm in `alarmData`, no `detail-type` (CloudWatch User Guide, "Invoke a
//!   Lambda function from an alarm").
//! - **SNS**: an alarm action publishing to a topic the function is subscribed to: an SNS
//!   event whose `Records[].Sns.Message` is the alarm notification JSON (`AlarmName`,
//!   `NewStateValue`, `NewStateReason`, `StateChangeTime`, `Trigger`).
//!
//! The first two share the camelCase alarm object (`alarmName`, `state`, `configuration`);
//! SNS has its own PascalCase one. Every field but the name and the time is optional.

use crate::event::{EventError, malformed, parse_time};
use chrono::{DateTime, Utc};
use fa2_core::telemetry::aws::metrics::MetricQuerySpec;
use serde_json::Value;
use std::collections::BTreeMap;

/// How the alarm reached the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmSource {
    EventBridge,
    AlarmAction,
    Sns,
}

impl AlarmSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmSource::EventBridge => "eventbridge",
            AlarmSource::AlarmAction => "alarm action",
            AlarmSource::Sns => "sns",
        }
    }
}

/// CloudWatch suppressed the alarm's actions for this transition (a composite alarm with an
/// actions suppressor): `actionsSuppressedBy` is `Alarm`, `WaitPeriod` or `ExtensionPeriod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub by: String,
    pub reason: String,
}

/// A CloudWatch alarm's state change, whatever shape it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub alarm_name: String,
    /// `ALARM`, `OK` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub reason: String,
    /// When the alarm changed state.
    pub time: DateTime<Utc>,
    pub region: String,
    /// The alarm's metric, when it reads exactly one (none for composites or metric math on
    /// several metrics).
    pub metric: Option<MetricQuerySpec>,
    /// Set when the state's actions were suppressed.
    pub suppressed: Option<Suppression>,
    pub source: AlarmSource,
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string()
}

/// An alarm time; also with the spaces after colons that some published samples carry
/// (`2023-08-04T12: 36: 15.490+0000`).
fn alarm_time(s: &str) -> Option<DateTime<Utc>> {
    parse_time(s, chrono_tz::UTC).or_else(|| parse_time(&s.replace(": ", ":"), chrono_tz::UTC))
}

impl Alarm {
    /// An EventBridge "CloudWatch Alarm State Change" (the alarm in `detail`; in `alarmData`
    /// as some samples have it).
    pub fn from_eventbridge(e: &Value) -> Result<Alarm, EventError> {
        let data = e
            .get("detail")
            .or_else(|| e.get("alarmData"))
            .ok_or_else(|| malformed("alarm", "no detail"))?;
        Self::from_camel(e, data, AlarmSource::EventBridge)
    }

    /// The event of an alarm whose action is this function (the alarm in `alarmData`).
    pub fn from_alarm_action(e: &Value) -> Result<Alarm, EventError> {
        let data = e
            .get("alarmData")
            .ok_or_else(|| malformed("alarm action", "no alarmData"))?;
        Self::from_camel(e, data, AlarmSource::AlarmAction)
    }

    fn from_camel(e: &Value, d: &Value, source: AlarmSource) -> Result<Alarm, EventError> {
        let kind = match source {
            AlarmSource::AlarmAction => "alarm action",
            _ => "alarm",
        };
        let alarm_name = text(d, "/alarmName");
        if alarm_name.is_empty() {
            return Err(malformed(kind, "the alarm has no alarmName"));
        }
        let time = alarm_time(&text(d, "/state/timestamp"))
            .or_else(|| alarm_time(&text(e, "/time")))
            .ok_or_else(|| malformed(kind, "neither state.timestamp nor time is a time"))?;
        let by = text(d, "/state/actionsSuppressedBy");
        let suppressed = (!by.is_empty()).then(|| Suppression {
            by,
            reason: text(d, "/state/actionsSuppressedReason"),
        });
        let metric = d
            .pointer("/configuration/metrics")
            .and_then(Value::as_array)
            .and_then(|m| only_metric_stat(m, "metricStat"))
            .and_then(|ms| {
                let metric = ms.get("metric")?;
                Some(MetricQuerySpec {
                    namespace: non_empty(metric.get("namespace"))?,
                    metric: non_empty(metric.get("name"))?,
                    dimensions: dimensions(metric.get("dimensions")),
                    stat: non_empty(ms.get("stat")).unwrap_or_else(|| "Average".into()),
                    period_secs: period(ms.get("period")),
                })
            });
        Ok(Alarm {
            alarm_name,
            state: text(d, "/state/value"),
            reason: text(d, "/state/reason"),
            time,
            region: text(e, "/region"),
            metric,
            suppressed,
            source,
        })
    }

    /// The alarms in an SNS event's records. A record whose message is not an alarm
    /// notification makes the event malformed (it is not what this function subscribes to).
    pub fn from_sns_event(e: &Value) -> Result<Vec<Alarm>, EventError> {
        let records = e
            .get("Records")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("SNS", "no Records"))?;
        if records.is_empty() {
            return Err(malformed("SNS", "Records is empty"));
        }
        records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let sns = r
                    .get("Sns")
                    .ok_or_else(|| malformed("SNS", format!("record {i} has no Sns")))?;
                let message = sns.get("Message").and_then(Value::as_str).unwrap_or("");
                let m: Value = serde_json::from_str(message).map_err(|_| {
                    malformed(
                        "SNS",
                        format!(
                            "record {i}'s Message is not a CloudWatch alarm notification (not JSON): `{}`",
                            fa2_slack::mrkdwn::clip(message, 80)
                        ),
                    )
                })?;
                Self::from_sns_message(&m, sns)
                    .map_err(|m| malformed("SNS", format!("record {i}: {m}")))
            })
            .collect()
    }

    /// The alarm notification CloudWatch publishes to SNS; `sns` is the record's envelope.
    fn from_sns_message(m: &Value, sns: &Value) -> Result<Alarm, String> {
        let alarm_name = text(m, "/AlarmName");
        if alarm_name.is_empty() || m.get("NewStateValue").is_none() {
            let keys = match m {
                Value::Object(o) => o.keys().take(8).cloned().collect::<Vec<_>>().join(", "),
                _ => "none".into(),
            };
            return Err(format!(
                "the message is not a CloudWatch alarm notification (no AlarmName and NewStateValue; keys: {keys})"
            ));
        }
        let time = alarm_time(&text(m, "/StateChangeTime"))
            .or_else(|| alarm_time(&text(sns, "/Timestamp")))
            .ok_or("neither StateChangeTime nor the record's Timestamp is a time")?;
        let region = {
            // `Region` is the region's long name ("US East (N. Virginia)"); the ARN has its code
            let arn = text(m, "/AlarmArn");
            arn.split(':')
                .nth(3)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .unwrap_or_default()
        };
        let trigger = m.get("Trigger").unwrap_or(&Value::Null);
        let metric = sns_trigger_metric(trigger).or_else(|| {
            let ms = only_metric_stat(trigger.get("Metrics")?.as_array()?, "MetricStat")?;
            let metric = ms.get("Metric")?;
            Some(MetricQuerySpec {
                namespace: non_empty(metric.get("Namespace"))?,
                metric: non_empty(metric.get("MetricName"))?,
                dimensions: dimensions(metric.get("Dimensions")),
                stat: non_empty(ms.get("Stat")).unwrap_or_else(|| "Average".into()),
                period_secs: period(ms.get("Period")),
            })
        });
        Ok(Alarm {
            alarm_name,
            state: text(m, "/NewStateValue"),
            reason: text(m, "/NewStateReason"),
            time,
            region,
            metric,
            suppressed: None,
            source: AlarmSource::Sns,
        })
    }
}

/// A single-metric alarm's `Trigger`: `MetricName`, `Namespace`, `Dimensions`, and
/// `Statistic` (`SUM`, `AVERAGE`, `SAMPLE_COUNT`, ...) or `ExtendedStatistic` (`p99`).
fn sns_trigger_metric(t: &Value) -> Option<MetricQuerySpec> {
    let stat = non_empty(t.get("ExtendedStatistic"))
        .or_else(|| non_empty(t.get("Statistic")).map(|s| statistic_name(&s)))
        .unwrap_or_else(|| "Average".into());
    Some(MetricQuerySpec {
        namespace: non_empty(t.get("Namespace"))?,
        metric: non_empty(t.get("MetricName"))?,
        dimensions: dimensions(t.get("Dimensions")),
        stat,
        period_secs: period(t.get("Period")),
    })
}

/// A statistic as GetMetricData names it (`SampleCount`), from the SNS notification's
/// upper-case form (`SAMPLE_COUNT`); other spellings pass through.
fn statistic_name(s: &str) -> String {
    match s.to_ascii_uppercase().replace('_', "").as_str() {
        "AVERAGE" => "Average".into(),
        "SUM" => "Sum".into(),
        "SAMPLECOUNT" => "SampleCount".into(),
        "MINIMUM" => "Minimum".into(),
        "MAXIMUM" => "Maximum".into(),
        _ => s.to_string(),
    }
}

/// The `metricStat` of the only query that reads a metric (a metric alarm, or metric math over
/// one metric); none when there are several or none.
fn only_metric_stat<'a>(queries: &'a [Value], key: &str) -> Option<&'a Value> {
    let mut stats = queries.iter().filter_map(|q| q.get(key));
    let first = stats.next()?;
    stats.next().is_none().then_some(first)
}

fn non_empty(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Dimensions as an object (`{"LoadBalancer": "app/x/1"}`) or as a list of
/// `{"name": ..., "value": ...}` (SNS).
fn dimensions(v: Option<&Value>) -> BTreeMap<String, String> {
    match v {
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|d| {
                let name = d.get("name").or_else(|| d.get("Name"))?.as_str()?;
                let value = d.get("value").or_else(|| d.get("Value"))?.as_str()?;
                Some((name.to_string(), value.to_string()))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// A period in seconds; 60 when absent or not a usable number of seconds.
fn period(v: Option<&Value>) -> i32 {
    v.and_then(Value::as_i64)
        .and_then(|p| i32::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(60)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::event::{Incoming, classify};
    use chrono::TimeZone;
    use serde_json::json;

    fn alarms(e: Value) -> Vec<Alarm> {
        match classify(e, chrono_tz::UTC).unwrap() {
            Incoming::Alarms(a) => a,
            other => panic!("not an alarm: {other:?}"),
        }
    }

    /// The CloudWatch User Guide's "State change for a composite alarm with a suppressor
    /// alarm" (awsdocs/amazon-cloudwatch-user-guide `doc_source/cloudwatch-and-eventbridge.md`,
    /// code block 4), verbatim but for the reason data.
    pub(crate) fn eventbridge_suppressed_composite() -> Value {
        json!({
            "version": "0", "id": "d3dfc86d-384d-24c8-0345-9f7986db0b80",
            "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
            "account": "123456789012", "time": "2022-07-22T15:57:45Z", "region": "us-east-1",
            "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServiceAggregatedAlarm"],
            "detail": {
                "alarmName": "ServiceAggregatedAlarm",
                "state": {
                    "actionsSuppressedBy": "WaitPeriod",
                    "actionsSuppressedReason": "Actions suppressed by WaitPeriod",
                    "value": "ALARM",
                    "reason": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:SuppressionDemo.EventBridge.FirstChild transitioned to ALARM at Friday 22 July, 2022 15:57:45 UTC",
                    "timestamp": "2022-07-22T15:57:45.394+0000"
                },
                "previousState": {
                    "value": "OK",
                    "reason": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:SuppressionDemo.EventBridge.Main was created and its alarm rule evaluates to OK",
                    "timestamp": "2022-07-22T15:56:14.552+0000"
                },
                "configuration": {
                    "alarmRule": "ALARM(ServerCpuTooHigh) OR ALARM(TotalNetworkTrafficTooHigh)",
                    "actionsSuppressor": "ServiceMaintenanceAlarm",
                    "actionsSuppressorWaitPeriod": 120,
                    "actionsSuppressorExtensionPeriod": 180
                }
            }
        })
    }

    #[test]
    fn eventbridge_composite_with_suppressed_actions() {
        let a = alarms(eventbridge_suppressed_composite()).remove(0);
        assert_eq!(a.source, AlarmSource::EventBridge);
        assert_eq!(
            (a.alarm_name.as_str(), a.state.as_str()),
            ("ServiceAggregatedAlarm", "ALARM")
        );
        assert_eq!(
            a.suppressed,
            Some(Suppression {
                by: "WaitPeriod".into(),
                reason: "Actions suppressed by WaitPeriod".into()
            })
        );
        assert_eq!(a.metric, None);
        assert_eq!(a.region, "us-east-1");
        // aws/aws-lambda-rust-runtime's `example-cloudwatch-alarm-composite-with-suppressor-alarm.json`
        // is the same event with the alarm under `alarmData`
        let mut e = eventbridge_suppressed_composite();
        let detail = e.as_object_mut().unwrap().remove("detail").unwrap();
        e["alarmData"] = detail;
        let b = alarms(e).remove(0);
        assert_eq!(b.suppressed, a.suppressed);
        assert_eq!(b.source, AlarmSource::EventBridge);
    }

    /// aws/aws-lambda-rust-runtime `lambda-events/src/fixtures/example-cloudwatch-alarm-metric.json`
    /// (the CloudWatch User Guide's Lambda alarm action sample, with its stray spaces in times).
    #[test]
    fn direct_alarm_action_metric_alarm() {
        let e = json!({
            "source": "aws.cloudwatch",
            "alarmArn": "arn:aws:cloudwatch:us-east-1: 444455556666:alarm:lambda-demo-metric-alarm",
            "accountId": "444455556666", "time": "2023-08-04T12: 36: 15.490+0000", "region": "us-east-1",
            "alarmData": {
                "alarmName": "lambda-demo-metric-alarm",
                "state": {"value": "ALARM", "reason": "test", "timestamp": "2023-08-04T12: 36: 15.490+0000"},
                "previousState": {"value": "INSUFFICIENT_DATA", "reason": "Insufficient Data: 5 datapoints were unknown.", "timestamp": "2023-08-04T12: 31: 29.595+0000"},
                "configuration": {
                    "description": "Metric Alarm to test Lambda actions",
                    "metrics": [{
                        "id": "1234e046-06f0-a3da-9534-EXAMPLEe4c",
                        "metricStat": {
                            "metric": {"namespace": "AWS/Logs", "name": "CallCount", "dimensions": {"InstanceId": "i-12345678"}},
                            "period": 60, "stat": "Average", "unit": "Percent"
                        },
                        "returnData": true
                    }]
                }
            }
        });
        let a = alarms(e).remove(0);
        assert_eq!(a.source, AlarmSource::AlarmAction);
        assert_eq!(a.alarm_name, "lambda-demo-metric-alarm");
        assert_eq!(a.state, "ALARM");
        assert_eq!(
            a.time,
            Utc.with_ymd_and_hms(2023, 8, 4, 12, 36, 15).unwrap()
                + chrono::Duration::milliseconds(490)
        );
        let m = a.metric.unwrap();
        assert_eq!(
            (m.namespace.as_str(), m.metric.as_str()),
            ("AWS/Logs", "CallCount")
        );
        assert_eq!(m.dimensions["InstanceId"], "i-12345678");
        assert_eq!(a.suppressed, None);
    }

    /// aws-powertools/powertools-lambda-python `tests/events/cloudWatchAlarmEventSingleMetric.json`:
    /// metric math over two metrics, so no single metric to add.
    #[test]
    fn direct_alarm_action_metric_math() {
        let e = json!({
            "source": "aws.cloudwatch",
            "alarmArn": "arn:aws:cloudwatch:eu-west-1:912397435824:alarm:test_alarm",
            "accountId": "123456789012", "time": "2024-02-17T11:53:08.431+0000", "region": "eu-west-1",
            "alarmData": {
                "alarmName": "Test alert",
                "state": {"value": "ALARM", "reason": "Threshold Crossed: 1 out of the last 1 datapoints [1.0 (17/02/24 11:51:00)] was less than the threshold (10.0) (minimum 1 datapoint for OK -> ALARM transition).", "timestamp": "2024-02-17T11:53:08.431+0000"},
                "previousState": {"value": "OK", "reason": "Threshold Crossed", "timestamp": "2024-02-17T11:51:31.462+0000"},
                "configuration": {
                    "description": "This is description **here**",
                    "metrics": [
                        {"id": "e1", "expression": "m1/m2", "label": "Expression1", "returnData": true},
                        {"id": "m1", "metricStat": {"metric": {"namespace": "AWS/Lambda", "name": "Invocations", "dimensions": {}}, "period": 60, "stat": "SampleCount"}, "returnData": false},
                        {"id": "m2", "metricStat": {"metric": {"namespace": "AWS/Lambda", "name": "Duration", "dimensions": {}}, "period": 60, "stat": "SampleCount"}, "returnData": false}
                    ]
                }
            }
        });
        let a = alarms(e).remove(0);
        assert_eq!((a.source, a.metric), (AlarmSource::AlarmAction, None));
        assert_eq!(a.region, "eu-west-1");
    }

    /// aws/aws-lambda-go `events/testdata/cloudwatch-alarm-sns-payload-single-metric.json`
    /// (also aws-lambda-rust-runtime's `example-cloudwatch-alarm-sns-payload-single-metric.json`).
    pub(crate) fn sns_single_metric() -> Value {
        json!({"Records": [{
            "EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:aws:sns:EXAMPLE",
            "Sns": {
                "Type": "Notification", "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                "TopicArn": "arn:aws:sns:EXAMPLE", "Subject": "TestInvoke",
                "Message": "{\"AlarmName\": \"EXAMPLE\",\"AlarmDescription\": \"EXAMPLE\",\"AWSAccountId\": \"123456789012\",\"NewStateValue\": \"ALARM\",\"NewStateReason\": \"Threshold Crossed: 1 out of the last 1 datapoints [1234.0 (06/03/15 17:43:27)] was greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).\",\"StateChangeTime\": \"2015-06-03T17:43:27.123+0000\",\"Region\": \"EXAMPLE\",\"AlarmArn\": \"arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE\",\"OldStateValue\": \"INSUFFICIENT_DATA\",\"Trigger\": {\"MetricName\": \"NetworkOut\",\"Namespace\": \"AWS/EC2\",\"StatisticType\": \"Statistic\",\"Statistic\": \"AVERAGE\",\"Unit\": \"Bytes\",\"Dimensions\": [{\"value\": \"TestInstance\",\"name\": \"InstanceId\"}],\"Period\": 60,\"EvaluationPeriods\": 1,\"ComparisonOperator\": \"GreaterThanThreshold\",\"Threshold\": 0.0,\"TreatMissingData\": \"- TreatMissingData:                    missing\",\"EvaluateLowSampleCountPercentile\": \"\"}}",
                "Timestamp": "2015-06-03T17:43:27.123Z", "SignatureVersion": "1", "Signature": "EXAMPLE",
                "SigningCertUrl": "EXAMPLE", "UnsubscribeUrl": "EXAMPLE", "MessageAttributes": {}
            }
        }]})
    }

    #[test]
    fn sns_wrapped_alarms() {
        let a = alarms(sns_single_metric()).remove(0);
        assert_eq!(a.source, AlarmSource::Sns);
        assert_eq!(
            (a.alarm_name.as_str(), a.state.as_str()),
            ("EXAMPLE", "ALARM")
        );
        assert!(a.reason.starts_with("Threshold Crossed"));
        assert_eq!(
            a.time,
            Utc.with_ymd_and_hms(2015, 6, 3, 17, 43, 27).unwrap()
                + chrono::Duration::milliseconds(123)
        );
        let m = a.metric.unwrap();
        assert_eq!(
            (
                m.namespace.as_str(),
                m.metric.as_str(),
                m.stat.as_str(),
                m.period_secs
            ),
            ("AWS/EC2", "NetworkOut", "Average", 60)
        );
        assert_eq!(m.dimensions["InstanceId"], "TestInstance");
        // aws/aws-lambda-go `events/testdata/cloudwatch-alarm-sns-payload-multiple-metrics.json`:
        // metric math over one metric, which is the one to read
        let mut e = sns_single_metric();
        e["Records"][0]["Sns"]["Message"] = json!(
            "{\"AlarmName\":\"EXAMPLE\",\"AlarmDescription\":\"EXAMPLE\",\"AWSAccountId\":\"EXAMPLE\",\"NewStateValue\":\"ALARM\",\"NewStateReason\":\"Threshold Crossed: 1 out of the last 1 datapoints [1234.0 (06/03/15 17:43:27)] was greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).\",\"StateChangeTime\":\"2015-06-03T17:43:27.123+0000\",\"Region\":\"EXAMPLE\",\"AlarmArn\":\"arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE\",\"OldStateValue\":\"INSUFFICIENT_DATA\",\"Trigger\":{\"Period\":60,\"EvaluationPeriods\":1,\"ComparisonOperator\":\"GreaterThanThreshold\",\"Threshold\":0.0,\"TreatMissingData\":\"- TreatMissingData:                    missing\",\"EvaluateLowSampleCountPercentile\":\"\",\"Metrics\":[{\"Expression\":\"m1*1\",\"Id\":\"e1\",\"Label\":\"Expression1\",\"ReturnData\":true},{\"Id\":\"m1\",\"MetricStat\":{\"Metric\":{\"Dimensions\":[{\"value\":\"TestInstance\",\"name\":\"InstanceId\"}],\"MetricName\":\"NetworkOut\",\"Namespace\":\"AWS/EC2\"},\"Period\":60,\"Stat\":\"Average\"},\"ReturnData\":false}]}}"
        );
        let m = alarms(e).remove(0).metric.unwrap();
        assert_eq!(
            (m.metric.as_str(), m.stat.as_str()),
            ("NetworkOut", "Average")
        );
        assert_eq!(m.dimensions["InstanceId"], "TestInstance");
        // a region from a real alarm ARN; p99 and SUM statistics
        let mut e = sns_single_metric();
        e["Records"][0]["Sns"]["Message"] = json!(json!({
            "AlarmName": "orders-5xx", "NewStateValue": "ALARM", "NewStateReason": "r",
            "StateChangeTime": "2026-11-24T09:58:31.123+0000", "Region": "US East (N. Virginia)",
            "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-5xx",
            "Trigger": {"MetricName": "TargetResponseTime", "Namespace": "AWS/ApplicationELB",
                        "StatisticType": "ExtendedStatistic", "ExtendedStatistic": "p99", "Period": 300,
                        "Dimensions": [{"name": "LoadBalancer", "value": "app/orders/123"}]}
        }).to_string());
        let a = alarms(e).remove(0);
        assert_eq!(a.region, "us-east-1");
        let m = a.metric.unwrap();
        assert_eq!((m.stat.as_str(), m.period_secs), ("p99", 300));
        assert_eq!(statistic_name("SAMPLE_COUNT"), "SampleCount");
        assert_eq!(statistic_name("SUM"), "Sum");
    }

    #[test]
    fn sns_messages_that_are_not_alarms_are_malformed() {
        // aws/aws-lambda-go `events/testdata/sns-event.json`'s message
        let mut e = sns_single_metric();
        e["Records"][0]["Sns"]["Message"] = json!("Hello from SNS!");
        let err = classify(e, chrono_tz::UTC).unwrap_err().to_string();
        assert!(err.contains("not a CloudWatch alarm notification"), "{err}");
        let mut e = sns_single_metric();
        e["Records"][0]["Sns"]["Message"] = json!("{\"foo\":\"Hello world!\",\"bar\":123}");
        let err = classify(e, chrono_tz::UTC).unwrap_err().to_string();
        assert!(err.contains("keys: bar, foo"), "{err}");
        assert!(classify(json!({"Records": []}), chrono_tz::UTC).is_err());
        // a bad period or a missing time never panics
        let mut e = sns_single_metric();
        e["Records"][0]["Sns"]["Message"] = json!(
            json!({
                "AlarmName": "x", "NewStateValue": "ALARM", "StateChangeTime": "soon",
                "Trigger": {"MetricName": "m", "Namespace": "n", "Period": 1e300}
            })
            .to_string()
        );
        let a = alarms(e).remove(0);
        assert_eq!(a.metric.unwrap().period_secs, 60);
        assert_eq!(a.time.timestamp(), 1_433_353_407, "the record's Timestamp");
    }
}
