//! CloudWatch Logs exports: `aws logs filter-log-events` output, `aws logs get-query-results`
//! output, and subscription records delivered to S3 by Firehose.

use super::json_stream::{for_each_element, json_error};
use super::losses::Loss;
use super::{FileCtx, FileError};
use crate::record::{LogEvent, Record};
use serde::Deserialize;
use std::io::BufRead;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilteredEvent {
    #[serde(default)]
    log_stream_name: Option<String>,
    #[serde(default)]
    log_group_name: Option<String>,
    timestamp: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

/// Interns repeated group/stream names so each distinct one is allocated once per file.
#[derive(Default)]
struct Names {
    last_group: Option<Arc<str>>,
    last_stream: Option<Arc<str>>,
}

impl Names {
    fn group(&mut self, name: &str) -> Arc<str> {
        match &self.last_group {
            Some(g) if &**g == name => g.clone(),
            _ => {
                let g: Arc<str> = Arc::from(name);
                self.last_group = Some(g.clone());
                g
            }
        }
    }

    fn stream(&mut self, name: &str) -> Arc<str> {
        match &self.last_stream {
            Some(s) if &**s == name => s.clone(),
            _ => {
                let s: Arc<str> = Arc::from(name);
                self.last_stream = Some(s.clone());
                s
            }
        }
    }
}

fn trim_message(mut m: String) -> String {
    while m.ends_with('\n') || m.ends_with('\r') {
        m.pop();
    }
    m
}

pub(crate) fn read_filter_log_events(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let mut names = Names::default();
    let reader = ctx.json(reader);
    for_each_element(reader, "events", |e: FilteredEvent| {
        let Some(ts) = e.timestamp.and_then(crate::time::from_millis) else {
            ctx.lose(Loss::NoTimestamp, 1);
            return Ok(());
        };
        let group = match &e.log_group_name {
            Some(g) => names.group(g),
            None => ctx.group.clone(),
        };
        let stream = e.log_stream_name.as_deref().map(|s| names.stream(s));
        ctx.emit(Record::Log(LogEvent {
            ts,
            group,
            stream,
            message: trim_message(e.message.unwrap_or_default()),
        }))
    })
}

#[derive(Deserialize)]
struct InsightsField {
    field: String,
    #[serde(default)]
    value: Option<String>,
}

pub(crate) fn read_insights_results(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let mut names = Names::default();
    let reader = ctx.json(reader);
    for_each_element(reader, "results", |row: Vec<InsightsField>| {
        let mut ts = None;
        let mut message = None;
        let mut group = None;
        let mut stream = None;
        for f in row {
            match f.field.as_str() {
                "@timestamp" => ts = f.value.as_deref().and_then(crate::time::parse_timestamp),
                "@message" => message = f.value,
                // `@log` is `account-id:log-group-name`
                "@log" => {
                    group = f.value.map(|v| match v.split_once(':') {
                        Some((acct, g)) if acct.bytes().all(|b| b.is_ascii_digit()) => {
                            g.to_string()
                        }
                        _ => v,
                    })
                }
                "@logStream" => stream = f.value,
                _ => {}
            }
        }
        let (Some(ts), Some(message)) = (ts, message) else {
            ctx.lose(Loss::IncompleteRow, 1);
            return Ok(());
        };
        let group = match group {
            Some(g) => names.group(&g),
            None => ctx.group.clone(),
        };
        let stream = stream.map(|s| names.stream(&s));
        ctx.emit(Record::Log(LogEvent {
            ts,
            group,
            stream,
            message: trim_message(message),
        }))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionRecord {
    message_type: Option<String>,
    #[serde(default)]
    log_group: Option<String>,
    #[serde(default)]
    log_stream: Option<String>,
    #[serde(default)]
    log_events: Vec<SubscriptionEvent>,
}

#[derive(Deserialize)]
struct SubscriptionEvent {
    timestamp: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

pub(crate) fn read_firehose(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let mut names = Names::default();
    // Firehose concatenates the JSON objects with no separator.
    let stream =
        serde_json::Deserializer::from_reader(ctx.json(reader)).into_iter::<SubscriptionRecord>();
    for rec in stream {
        let rec = rec.map_err(json_error)?;
        if rec.message_type.as_deref() == Some("CONTROL_MESSAGE") {
            continue;
        }
        let group = match rec.log_group.as_deref() {
            Some(g) if !g.is_empty() => names.group(g),
            _ => ctx.group.clone(),
        };
        let stream = rec
            .log_stream
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| names.stream(s));
        for e in rec.log_events {
            // milliseconds as CloudWatch sends them, or seconds as some forwarders and test
            // fixtures write them: decided by magnitude like every epoch
            let Some(ts) = e.timestamp.and_then(|t| crate::time::epoch_auto(t as f64)) else {
                ctx.lose(Loss::NoTimestamp, 1);
                continue;
            };
            ctx.emit(Record::Log(LogEvent {
                ts,
                group: group.clone(),
                stream: stream.clone(),
                message: trim_message(e.message.unwrap_or_default()),
            }))?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::tests::{gzip, read_bytes};
    use crate::record::Record;
    use crate::telemetry::SourceState;

    fn logs(sink: &crate::telemetry::VecSink) -> Vec<&crate::record::LogEvent> {
        sink.records
            .iter()
            .filter_map(|(_, r)| match r {
                Record::Log(l) => Some(l),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn filter_log_events_from_the_cli() {
        // Shape of `aws logs filter-log-events --log-group-name /aws/lambda/orders` output.
        let json = r#"{
    "events": [
        {
            "logStreamName": "2024/08/16/[$LATEST]a1b2c3",
            "timestamp": 1723807290123,
            "message": "2024-08-16T11:21:30.123Z\t8f2f35c4-2ad6-45ad-acc1-f8cab0775d44\tERROR\tProvisionedThroughputExceededException: Rate exceeded\n",
            "ingestionTime": 1723807290323,
            "eventId": "37720546578926376227378297155930958337000000000000000000"
        },
        {"logStreamName": "s", "timestamp": 1723807291000, "message": "START RequestId: abc Version: $LATEST", "eventId": "2"}
    ],
    "searchedLogStreams": [],
    "nextToken": "Bxkq6kVGFtq2y_MoigeqscPOdhXVbhiVtLoAmXb5jCrI7fXBDdgqEg"
}"#;
        let (sink, summary) = read_bytes("orders.filter-log-events.json", json.as_bytes());
        let l = logs(&sink);
        assert_eq!(l.len(), 2);
        assert_eq!(&*l[0].group, "orders");
        assert_eq!(l[0].stream.as_deref(), Some("2024/08/16/[$LATEST]a1b2c3"));
        assert!(l[0].message.ends_with("Rate exceeded"));
        assert_eq!(crate::time::rfc3339(l[0].ts), "2024-08-16T11:21:30.123Z");
        assert_eq!(summary.statuses[0].records, 2);
    }

    #[test]
    fn insights_results() {
        let json = r#"{"results": [[{"field": "@timestamp", "value": "2024-08-16 11:49:00.204"}, {"field": "@message", "value": "{\"level\": \"error\", \"msg\": \"x\"}"}, {"field": "@log", "value": "123456789012:/ecs/payments"}, {"field": "@logStream", "value": "payments/90cc"}, {"field": "@ptr", "value": "dd1d"}],
            [{"field": "@message", "value": "no timestamp"}]], "statistics": {"recordsMatched": 2.0}, "status": "Complete"}"#;
        let (sink, summary) = read_bytes("payments.insights.json", json.as_bytes());
        let l = logs(&sink);
        assert_eq!(l.len(), 1);
        assert_eq!(&*l[0].group, "/ecs/payments");
        assert_eq!(crate::time::rfc3339(l[0].ts), "2024-08-16T11:49:00.204Z");
        assert!(
            summary.statuses[0]
                .error
                .as_ref()
                .unwrap()
                .contains("1 result rows")
        );
    }

    #[test]
    fn firehose_records_skip_control_messages() {
        let data = concat!(
            r#"{"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "", "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": 1723803540110, "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#,
            r#"{"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/ecs/checkout-api", "logStream": "checkout/ca3c", "subscriptionFilters": ["to-s3"], "logEvents": [{"id": "0", "timestamp": 1723803540110, "message": "INFO a"}, {"id": "1", "timestamp": 1723803540564, "message": "ERROR b"}]}"#,
            "\n",
            r#"{"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/ecs/checkout-api", "logStream": "checkout/ca3c", "subscriptionFilters": ["to-s3"], "logEvents": [{"id": "2", "timestamp": 1723803541000, "message": "INFO c"}]}"#
        );
        let (sink, _) = read_bytes("checkout-firehose-1", &gzip(data.as_bytes()));
        let l = logs(&sink);
        assert_eq!(l.len(), 3);
        assert!(l.iter().all(|e| &*e.group == "/ecs/checkout-api"));
    }

    #[test]
    fn subscription_timestamps_in_seconds_are_read_by_magnitude() {
        let data = r#"{"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/rds/cluster", "logStream": "s", "subscriptionFilters": ["f"], "logEvents": [{"id": "1", "timestamp": 1723807290, "message": "seconds"}, {"id": "2", "timestamp": 1723807290123, "message": "millis"}]}"#;
        let (sink, _) = read_bytes("sub.json", data.as_bytes());
        let l = logs(&sink);
        assert_eq!(crate::time::rfc3339(l[0].ts), "2024-08-16T11:21:30.000Z");
        assert_eq!(crate::time::rfc3339(l[1].ts), "2024-08-16T11:21:30.123Z");
    }

    #[test]
    fn get_log_events_output() {
        // Typed from the AWS CLI example of `aws logs get-log-events`
        // (https://docs.aws.amazon.com/cli/latest/reference/logs/get-log-events.html): the
        // same event twice is two records.
        let json = r#"{
    "nextForwardToken": "f/31961209122447488583055879464742346735121166569214640130",
    "events": [
        {"ingestionTime": 1433190494190, "timestamp": 1433190184356, "message": "Example Event 1"},
        {"ingestionTime": 1433190516679, "timestamp": 1433190184356, "message": "Example Event 1"},
        {"ingestionTime": 1433190494190, "timestamp": 1433190184358, "message": "Example Event 2"}
    ],
    "nextBackwardToken": "b/31961209122358285602261756944988674324553373268216709120"
}"#;
        let (sink, summary) = read_bytes("my-stream.json", json.as_bytes());
        assert_eq!(logs(&sink).len(), 3);
        assert_eq!(summary.statuses[0].records, 3);
    }

    #[test]
    fn broken_json_is_a_file_error_with_partial_records() {
        let json =
            r#"{"events": [{"timestamp": 1723807290123, "message": "a"}, {"timestamp": 17238"#;
        let (sink, summary) = read_bytes("x.json", json.as_bytes());
        assert_eq!(sink.records.len(), 1);
        assert_eq!(summary.statuses[0].status, SourceState::Error);
        assert_eq!(summary.statuses[0].records, 1);
    }
}
