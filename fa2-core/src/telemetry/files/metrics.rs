//! CloudWatch metrics and alarms: `aws cloudwatch get-metric-data` and `get-metric-statistics`
//! output, and alarm state from `describe-alarm-history` and `describe-alarms` output.
//!
//! Policy: a `get-metric-statistics` datapoint is one record however many statistics it
//! carries, and each statistic becomes its own series (`<Label> <Statistic>`), so that the
//! distiller compares like with like. An alarm state change is a log event of the group
//! `cloudwatch-alarms` (stream: the alarm name) whose message says the transition, so it is
//! evidence and a timeline entry like any other event, at the time the state changed.

use super::json_stream::{for_each_document, for_each_element};
use super::losses::Loss;
use super::{FileCtx, FileError};
use crate::record::{LogEvent, MetricSeries, Record, RecordType};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::Arc;

/// The log group alarm state changes are filed under.
pub(crate) const ALARM_GROUP: &str = "cloudwatch-alarms";
/// Statistics of a `get-metric-statistics` datapoint.
const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
/// Bytes kept of an alarm's state reason.
const MAX_REASON_BYTES: usize = 512;

/// `aws cloudwatch get-metric-statistics` output (one or several outputs one after another).
pub(crate) fn read_metric_statistics(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let reader = ctx.json(reader);
    for_each_document(reader, |doc| {
        let Some(Value::Array(points)) = doc.get("Datapoints") else {
            ctx.note("a JSON document without `Datapoints` was ignored".into());
            return Ok(());
        };
        let label = match doc.get("Label").and_then(Value::as_str) {
            Some(l) if !l.is_empty() => l.to_string(),
            _ => ctx.group.to_string(),
        };
        let mut series: BTreeMap<String, Vec<(chrono::DateTime<chrono::Utc>, f64)>> =
            BTreeMap::new();
        let mut read = 0u64;
        for p in points {
            let Some(ts) = p.get("Timestamp").and_then(super::json_docs::json_time) else {
                ctx.lose(Loss::NoTimestamp, 1);
                continue;
            };
            read += 1;
            for stat in STATISTICS {
                if let Some(v) = p.get(*stat).and_then(Value::as_f64) {
                    series.entry((*stat).to_string()).or_default().push((ts, v));
                }
            }
            if let Some(Value::Object(ext)) = p.get("ExtendedStatistics") {
                for (stat, v) in ext {
                    if let Some(v) = v.as_f64() {
                        series.entry(stat.clone()).or_default().push((ts, v));
                    }
                }
            }
        }
        // the datapoints are the records; the series only regroup them
        ctx.count(RecordType::MetricPoints, read);
        for (stat, mut points) in series {
            points.sort_by_key(|p| p.0);
            ctx.emit_uncounted(Record::Metric(MetricSeries {
                id: format!("{label} {stat}"),
                label: format!("{label} {stat}"),
                points,
            }))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// `aws cloudwatch describe-alarm-history` output: one record per history item.
pub(crate) fn read_alarm_history(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let group: Arc<str> = Arc::from(ALARM_GROUP);
    let reader = ctx.json(reader);
    for_each_element(reader, "AlarmHistoryItems", |item: Value| {
        let Some(ts) = item.get("Timestamp").and_then(super::json_docs::json_time) else {
            ctx.lose(Loss::NoTimestamp, 1);
            return Ok(());
        };
        let name = str_of(&item, "AlarmName");
        let kind = str_of(&item, "HistoryItemType");
        let summary = str_of(&item, "HistorySummary");
        let data = item
            .get("HistoryData")
            .and_then(Value::as_str)
            .and_then(|d| serde_json::from_str::<Value>(d).ok());
        let state = |which: &str| {
            data.as_ref()
                .and_then(|d| d.get(which))
                .and_then(|s| s.get("stateValue"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let message = match (kind.as_str(), state("oldState"), state("newState")) {
            ("StateUpdate", Some(old), Some(new)) => {
                let reason = data
                    .as_ref()
                    .and_then(|d| d.get("newState"))
                    .and_then(|s| s.get("stateReason"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                alarm_message(&name, &format!("changed from {old} to {new}"), reason)
            }
            _ => alarm_message(&name, &format!("{kind}: {summary}"), ""),
        };
        ctx.emit(Record::Log(LogEvent {
            ts,
            group: group.clone(),
            stream: Some(Arc::from(name.as_str())),
            message,
        }))
    })
}

/// `aws cloudwatch describe-alarms` output: one record per alarm, its current state at the
/// time it last changed.
pub(crate) fn read_describe_alarms(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let group: Arc<str> = Arc::from(ALARM_GROUP);
    let reader = ctx.json(reader);
    for_each_document(reader, |doc| {
        for key in ["MetricAlarms", "CompositeAlarms"] {
            let Some(Value::Array(alarms)) = doc.get(key) else {
                continue;
            };
            for a in alarms {
                let Some(ts) = a
                    .get("StateUpdatedTimestamp")
                    .and_then(super::json_docs::json_time)
                else {
                    ctx.lose(Loss::NoTimestamp, 1);
                    continue;
                };
                let name = str_of(a, "AlarmName");
                let message = alarm_message(
                    &name,
                    &format!("is in state {}", str_of(a, "StateValue")),
                    &str_of(a, "StateReason"),
                );
                ctx.emit(Record::Log(LogEvent {
                    ts,
                    group: group.clone(),
                    stream: Some(Arc::from(name.as_str())),
                    message,
                }))?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

/// `Alarm "<name>" <what>: <reason>`, the reason cut.
fn alarm_message(name: &str, what: &str, reason: &str) -> String {
    let mut m = format!("Alarm \"{name}\" {what}");
    if !reason.is_empty() {
        m.push_str(": ");
        m.push_str(&super::cloudtrail::truncate(
            reason.to_string(),
            MAX_REASON_BYTES,
        ));
    }
    m
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricDataResult {
    #[serde(default)]
    id: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    timestamps: Vec<Value>,
    #[serde(default)]
    values: Vec<Value>,
    #[serde(default)]
    status_code: Option<String>,
}

pub(crate) fn read_metric_data(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let reader = ctx.json(reader);
    for_each_element(reader, "MetricDataResults", |r: MetricDataResult| {
        if r.timestamps.len() != r.values.len() {
            ctx.note(format!(
                "series `{}` has {} timestamps but {} values; the unpaired ones were ignored",
                r.id,
                r.timestamps.len(),
                r.values.len()
            ));
        }
        if let Some(code) = r.status_code.as_deref().filter(|c| *c != "Complete") {
            ctx.note(format!(
                "series `{}` status is {code} (data may be partial)",
                r.id
            ));
        }
        let mut points: Vec<_> = r
            .timestamps
            .iter()
            .zip(&r.values)
            .filter_map(|(t, v)| {
                let ts = match t {
                    Value::String(s) => crate::time::parse_timestamp(s),
                    Value::Number(n) => n.as_f64().and_then(crate::time::epoch_auto),
                    _ => None,
                }?;
                Some((ts, v.as_f64()?))
            })
            .collect();
        points.sort_by_key(|p| p.0);
        ctx.emit(Record::Metric(MetricSeries {
            id: r.id,
            label: r.label,
            points,
        }))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::tests::read_bytes;
    use crate::record::{Record, RecordType};

    #[test]
    fn metric_data_points_sorted_and_counted() {
        let json = r#"{"MetricDataResults": [{"Id": "m1", "Label": "ThrottledRequests", "Timestamps": ["2024-08-16T11:48:00+00:00", "2024-08-16T11:47:00+00:00"], "Values": [5.0, 2.0], "StatusCode": "Complete"},
            {"Id": "m2", "Label": "Errors", "Timestamps": [1723807080, 1723807140, 1723807200], "Values": [1, 2], "StatusCode": "PartialData"}], "Messages": []}"#;
        let (sink, summary) = read_bytes("get-metric-data.json", json.as_bytes());
        let Record::Metric(m) = &sink.records[0].1 else {
            panic!()
        };
        assert_eq!(m.points[0].1, 2.0);
        assert_eq!(summary.statuses[0].counts[&RecordType::MetricPoints], 4);
        let warn = summary.statuses[0].error.clone().unwrap();
        assert!(warn.contains("3 timestamps but 2 values"));
        assert!(warn.contains("PartialData"));
    }

    #[test]
    fn metric_statistics_one_series_per_statistic() {
        // Shape of `aws cloudwatch get-metric-statistics` output, typed from the CloudWatch
        // User Guide, "Get statistics for a metric" (DiskWriteBytes of an Auto Scaling group):
        // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/GetMetricAutoScalingGroup.html
        let json = r#"{
    "Datapoints": [
        {"SampleCount": 18.0, "Timestamp": "2016-10-19T21:36:00Z", "Sum": 0.0, "Unit": "Bytes"},
        {"SampleCount": 5.0, "Timestamp": "2016-10-19T21:30:00Z", "Sum": 10.0, "Unit": "Bytes"},
        {"SampleCount": 1.0, "Sum": 1.0, "Unit": "Bytes"}
    ],
    "Label": "DiskWriteBytes"
}"#;
        let (sink, summary) = read_bytes("stats.json", json.as_bytes());
        let series: Vec<_> = sink
            .records
            .iter()
            .filter_map(|(_, r)| match r {
                Record::Metric(m) => Some(m),
                _ => None,
            })
            .collect();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].label, "DiskWriteBytes SampleCount");
        assert_eq!(series[1].label, "DiskWriteBytes Sum");
        assert_eq!(
            series[1].points.iter().map(|p| p.1).collect::<Vec<_>>(),
            vec![10.0, 0.0]
        );
        // two datapoints with a time are the records, not four points
        assert_eq!(summary.statuses[0].counts[&RecordType::MetricPoints], 2);
        assert!(
            summary.statuses[0]
                .error
                .as_deref()
                .unwrap()
                .contains("1 events without a valid timestamp")
        );
    }

    #[test]
    fn alarm_history_and_describe_alarms_are_state_changes() {
        // Typed from the AWS CLI example of `aws cloudwatch describe-alarm-history`
        // (https://docs.aws.amazon.com/cli/latest/reference/cloudwatch/describe-alarm-history.html),
        // plus a ConfigurationUpdate item.
        let json = r#"{"AlarmHistoryItems": [
  {"Timestamp": "2014-04-09T18:59:06.442Z", "HistoryItemType": "StateUpdate", "AlarmName": "myalarm",
   "HistoryData": "{\"version\":\"1.0\",\"oldState\":{\"stateValue\":\"ALARM\",\"stateReason\":\"testing purposes\"},\"newState\":{\"stateValue\":\"OK\",\"stateReason\":\"Threshold Crossed: 2 datapoints were not greater than the threshold (70.0).\"}}",
   "HistorySummary": "Alarm updated from ALARM to OK"},
  {"Timestamp": "2014-04-09T18:59:05.805Z", "HistoryItemType": "StateUpdate", "AlarmName": "myalarm",
   "HistoryData": "{\"version\":\"1.0\",\"oldState\":{\"stateValue\":\"OK\"},\"newState\":{\"stateValue\":\"ALARM\",\"stateReason\":\"testing purposes\"}}",
   "HistorySummary": "Alarm updated from OK to ALARM"},
  {"Timestamp": "2014-04-09T18:50:00Z", "HistoryItemType": "ConfigurationUpdate", "AlarmName": "myalarm",
   "HistoryData": "{}", "HistorySummary": "Alarm \"myalarm\" updated"},
  {"HistoryItemType": "StateUpdate", "AlarmName": "no-time"}
]}"#;
        let (sink, summary) = read_bytes("history.json", json.as_bytes());
        let msgs: Vec<(String, String)> = sink
            .records
            .iter()
            .filter_map(|(_, r)| match r {
                Record::Log(l) => {
                    assert_eq!(&*l.group, "cloudwatch-alarms");
                    Some((crate::time::rfc3339(l.ts), l.message.clone()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(msgs.len(), 3);
        assert_eq!(
            msgs[1],
            (
                "2014-04-09T18:59:05.805Z".to_string(),
                "Alarm \"myalarm\" changed from OK to ALARM: testing purposes".to_string()
            )
        );
        assert!(
            msgs[0]
                .1
                .starts_with("Alarm \"myalarm\" changed from ALARM to OK: Threshold")
        );
        assert_eq!(
            msgs[2].1,
            "Alarm \"myalarm\" ConfigurationUpdate: Alarm \"myalarm\" updated"
        );
        assert_eq!(summary.statuses[0].kind, "logs");
        assert_eq!(summary.statuses[0].records, 3);

        // describe-alarms: one record per alarm, at its last state change
        let json = r#"{"MetricAlarms": [{"AlarmName": "orders-5xx", "StateValue": "ALARM",
            "StateReason": "Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0).",
            "StateUpdatedTimestamp": "2024-08-16T11:21:00.000Z", "MetricName": "5XXError"}],
            "CompositeAlarms": [{"AlarmName": "checkout", "StateValue": "OK", "StateUpdatedTimestamp": "2024-08-16T10:00:00Z"}]}"#;
        let (sink, summary) = read_bytes("alarms.json", json.as_bytes());
        assert_eq!(summary.statuses[0].records, 2);
        let Record::Log(l) = &sink.records[0].1 else {
            panic!("not a log")
        };
        assert_eq!(l.stream.as_deref(), Some("orders-5xx"));
        assert!(
            l.message
                .starts_with("Alarm \"orders-5xx\" is in state ALARM: Threshold")
        );
    }
}
