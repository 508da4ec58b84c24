//! The CloudWatch metrics source and `alarm_incident`.
//!
//! Metrics are read from a real moto server seeded with `PutMetricData` through the Rust SDK.
//! moto 5.2.5 does not implement `DescribeAlarmHistory` (it answers HTTP 500), and its
//! `GetMetricData` never paginates nor reports `PartialData`, `InternalError` or messages. Those
//! paths are covered by a small local server that speaks CloudWatch's wire protocol as
//! `aws-sdk-cloudwatch` 1.80 uses it: awsQuery (form-encoded `Action=...&Version=2010-08-01`
//! requests, XML `<ActionResponse><ActionResult>` answers, `<ErrorResponse>` errors), with
//! responses shaped as the CloudWatch API reference documents them.

#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used)]

mod support;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use chrono::{DateTime, DurationRound, TimeZone, Utc};
use fa2_core::record::{MetricSeries, Record, RecordKind, RecordType};
use fa2_core::request::Window;
use fa2_core::telemetry::aws::metrics::{
    MetricQuerySpec, MetricsOptions, MetricsSource, alarm_incident,
};
use fa2_core::telemetry::{Locator, SourceQuery, SourceState, TelemetrySource, VecSink};
use fa2_core::window::WindowPolicy;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

// ---------------------------------------------------------------------------------------------
// Metrics against moto.
// ---------------------------------------------------------------------------------------------

fn spec(namespace: &str, metric: &str, dims: &[(&str, &str)], stat: &str) -> MetricQuerySpec {
    MetricQuerySpec {
        namespace: namespace.into(),
        metric: metric.into(),
        dimensions: dims
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        stat: stat.into(),
        ..Default::default()
    }
}

fn series(sink: &VecSink) -> Vec<MetricSeries> {
    sink.records
        .iter()
        .map(|(_, r)| match r {
            Record::Metric(m) => m.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

/// Puts `values[i]` at `base + i minutes` (plus `offset_secs`) for a metric.
async fn put(
    client: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    metric: &str,
    dims: &[(&str, &str)],
    base: DateTime<Utc>,
    offset_secs: i64,
    values: &[f64],
) {
    let data: Vec<MetricDatum> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let at =
                base + chrono::Duration::minutes(i as i64) + chrono::Duration::seconds(offset_secs);
            MetricDatum::builder()
                .metric_name(metric)
                .set_dimensions(Some(
                    dims.iter()
                        .map(|(k, v)| Dimension::builder().name(*k).value(*v).build())
                        .collect(),
                ))
                .timestamp(aws_smithy_types::DateTime::from_secs(at.timestamp()))
                .value(*v)
                .unit(StandardUnit::Count)
                .build()
        })
        .collect();
    client
        .put_metric_data()
        .namespace(namespace)
        .set_metric_data(Some(data))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_from_moto() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let cw = aws_sdk_cloudwatch::Client::new(&cfg);
    let now = Utc::now();
    let base =
        now.duration_trunc(chrono::Duration::minutes(1)).unwrap() - chrono::Duration::minutes(20);
    let api = [("ApiName", "orders-api")];
    // Two data points per minute for the 5XX count: the Sum is their total.
    put(
        &cw,
        "AWS/ApiGateway",
        "5XXError",
        &api,
        base,
        5,
        &[0.0, 1.0, 4.0, 9.0, 12.0],
    )
    .await;
    put(
        &cw,
        "AWS/ApiGateway",
        "5XXError",
        &api,
        base,
        30,
        &[1.0, 1.0, 1.0, 1.0, 1.0],
    )
    .await;
    put(
        &cw,
        "AWS/ApiGateway",
        "Latency",
        &api,
        base,
        10,
        &[120.0, 130.0, 900.0],
    )
    .await;
    put(
        &cw,
        "AWS/ApiGateway",
        "Latency",
        &api,
        base,
        40,
        &[140.0, 150.0, 1100.0],
    )
    .await;
    put(
        &cw,
        "Shop",
        "OrdersPlaced",
        &[],
        base,
        0,
        &[30.0, 31.0, 2.0, 1.0],
    )
    .await;

    let source = MetricsSource::new(
        &cfg,
        MetricsOptions {
            queries: vec![
                spec("AWS/ApiGateway", "5XXError", &api, "Sum"),
                spec("AWS/ApiGateway", "Latency", &api, "Average"),
                spec("Shop", "OrdersPlaced", &[], "Maximum"),
                spec("Shop", "NeverWritten", &[], "Sum"),
            ],
        },
    );
    let w = Window::with_baseline(
        now - chrono::Duration::minutes(30),
        now + chrono::Duration::minutes(1),
        Duration::from_secs(3600),
    )
    .unwrap();
    let q = SourceQuery::new(w, Instant::now() + Duration::from_secs(60));
    let mut sink = VecSink::default();
    let summary = source.collect(&q, &mut sink).await.unwrap();

    let s = series(&sink);
    assert_eq!(s.len(), 4);
    let minute = |i: i64| base + chrono::Duration::minutes(i);
    assert_eq!(s[0].id, "m0");
    assert_eq!(s[0].label, "AWS/ApiGateway 5XXError Sum ApiName=orders-api");
    assert_eq!(
        s[0].points,
        vec![
            (minute(0), 1.0),
            (minute(1), 2.0),
            (minute(2), 5.0),
            (minute(3), 10.0),
            (minute(4), 13.0)
        ]
    );
    assert_eq!(s[1].id, "m1");
    assert_eq!(
        s[1].points,
        vec![(minute(0), 130.0), (minute(1), 140.0), (minute(2), 1000.0)]
    );
    assert_eq!(s[2].label, "Shop OrdersPlaced Maximum");
    assert_eq!(
        s[2].points.iter().map(|p| p.1).collect::<Vec<_>>(),
        [30.0, 31.0, 2.0, 1.0]
    );
    assert!(s[2].points.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(s[3].id, "m3");
    assert!(s[3].points.is_empty());

    assert_eq!(summary.statuses.len(), 1, "{:?}", summary.statuses);
    let ok = &summary.statuses[0];
    assert_eq!(ok.status, SourceState::Ok);
    assert_eq!(ok.kind, "metrics");
    assert_eq!(ok.counts[&RecordType::MetricPoints], 12);
    assert_eq!(ok.records, 12);
    assert_eq!(ok.parts, Some(1));
    assert_eq!(ok.error, None);

    assert_eq!(sink.origins.len(), 1);
    assert_eq!(sink.origins[0].kind, RecordKind::Metrics);
    assert_eq!(sink.origins[0].source, "cloudwatch-metrics");
    let Locator::Query { service, text } = &sink.origins[0].locator else {
        panic!()
    };
    assert_eq!(service, "cloudwatch");
    let start = w
        .collect_start()
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap();
    assert!(text.starts_with(
        "aws cloudwatch get-metric-data --region us-east-1 --metric-data-queries '[{\"Id\":\"m0\""
    ));
    assert!(text.contains(&format!(
        "--start-time {}",
        start.format("%Y-%m-%dT%H:%M:%SZ")
    )));
    assert!(text.contains("\"Dimensions\":[{\"Name\":\"ApiName\",\"Value\":\"orders-api\"}]"));
    assert!(text.contains("\"MetricName\":\"NeverWritten\""));
    assert_eq!(source.reproduce(&q)[0].text, *text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_incident_is_read_at_the_period_cloudwatch_still_keeps() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let cw = aws_sdk_cloudwatch::Client::new(&cfg);
    // An incident 20 days ago: CloudWatch no longer has its 60-second points (kept 15 days),
    // only 5-minute ones (63 days), and GetMetricData would answer a 60-second query with
    // nothing and no error. moto keeps every point: what it aggregates shows the period sent.
    let start = Utc::now()
        .duration_trunc(chrono::Duration::minutes(5))
        .unwrap()
        - chrono::Duration::days(20);
    let w = Window::with_baseline(
        start,
        start + chrono::Duration::minutes(30),
        Duration::from_secs(3600),
    )
    .unwrap();
    let api = [("ApiName", "orders-api")];
    // One 5XX a minute in the baseline, ten a minute in the incident.
    let values: Vec<f64> = (0..90).map(|m| if m < 60 { 1.0 } else { 10.0 }).collect();
    put(
        &cw,
        "AWS/ApiGateway",
        "5XXError",
        &api,
        w.baseline_start,
        7,
        &values,
    )
    .await;
    let configured = spec("AWS/ApiGateway", "5XXError", &api, "Sum");
    assert_eq!(configured.period_secs, 60);
    let source = MetricsSource::new(
        &cfg,
        MetricsOptions {
            queries: vec![configured],
        },
    );
    let q = SourceQuery::new(w, Instant::now() + Duration::from_secs(60));
    let mut sink = VecSink::default();
    let summary = source.collect(&q, &mut sink).await.unwrap();
    let s = series(&sink);
    assert_eq!(s.len(), 1);
    // 18 points of 5 minutes: sums of five 1s in the baseline, of five 10s in the incident.
    let five = |i: i64| w.baseline_start + chrono::Duration::minutes(5 * i);
    let want: Vec<(DateTime<Utc>, f64)> = (0..18)
        .map(|i| (five(i), if i < 12 { 5.0 } else { 50.0 }))
        .collect();
    assert_eq!(s[0].points, want);
    let ok = &summary.statuses[0];
    assert_eq!((ok.status, ok.records), (SourceState::Ok, 18));
    assert_eq!(
        ok.error.as_deref(),
        Some(
            "warnings: AWS/ApiGateway 5XXError Sum ApiName=orders-api: period 60 s → 300 s: the window starts 20 days ago and CloudWatch keeps 60-second points for 15 days"
        )
    );
    let Locator::Query { text, .. } = &sink.origins[0].locator else {
        panic!()
    };
    assert!(text.contains("\"Period\":300"), "{text}");
    assert_eq!(source.reproduce(&q)[0].text, *text);

    // Older than 455 days: nothing is kept at any period, and the status says so.
    let ancient = Window::with_baseline(
        start - chrono::Duration::days(480),
        start - chrono::Duration::days(480) + chrono::Duration::minutes(30),
        Duration::from_secs(3600),
    )
    .unwrap();
    let q = SourceQuery::new(ancient, Instant::now() + Duration::from_secs(60));
    let mut sink = VecSink::default();
    let summary = source.collect(&q, &mut sink).await.unwrap();
    assert!(sink.records.is_empty());
    assert_eq!(summary.statuses[0].status, SourceState::Skipped);
    let expired = &summary.statuses[1];
    assert_eq!(expired.status, SourceState::Error);
    assert!(
        expired
            .error
            .as_deref()
            .unwrap()
            .contains("keeps metric data for 455 days"),
        "{expired:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_five_hundred_queries_take_two_calls() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let cw = aws_sdk_cloudwatch::Client::new(&cfg);
    let now = Utc::now();
    let base =
        now.duration_trunc(chrono::Duration::minutes(1)).unwrap() - chrono::Duration::minutes(5);
    put(&cw, "Shop", "Q0", &[], base, 0, &[7.0]).await;
    put(&cw, "Shop", "Q500", &[], base, 0, &[9.0]).await;
    let queries: Vec<MetricQuerySpec> = (0..501)
        .map(|i| spec("Shop", &format!("Q{i}"), &[], "Sum"))
        .collect();
    let source = MetricsSource::new(&cfg, MetricsOptions { queries });
    let w = Window::with_baseline(
        now - chrono::Duration::minutes(10),
        now + chrono::Duration::minutes(1),
        Duration::from_secs(600),
    )
    .unwrap();
    let q = SourceQuery::new(w, Instant::now() + Duration::from_secs(120));
    let mut sink = VecSink::default();
    let summary = source.collect(&q, &mut sink).await.unwrap();
    let s = series(&sink);
    assert_eq!(s.len(), 501);
    assert_eq!(s[0].points, vec![(base, 7.0)]);
    assert_eq!(s[500].id, "m500");
    assert_eq!(s[500].points, vec![(base, 9.0)]);
    assert_eq!(summary.statuses[0].parts, Some(2));
    assert_eq!(summary.statuses[0].counts[&RecordType::MetricPoints], 2);
    // One origin per call: 500 queries, then 1.
    assert_eq!(sink.origins.len(), 2);
    let Locator::Query { text, .. } = &sink.origins[1].locator else {
        panic!()
    };
    assert!(text.contains("[{\"Id\":\"m500\""));
    assert!(sink.records[..500].iter().all(|(o, _)| *o == 0));
    assert_eq!(sink.records[500].0, 1);
    assert_eq!(source.reproduce(&q).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_and_missing_queries() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let now = Utc::now();
    let w = Window::with_baseline(
        now - chrono::Duration::minutes(10),
        now,
        Duration::from_secs(600),
    )
    .unwrap();
    let q = SourceQuery::new(w, Instant::now() + Duration::from_secs(60));

    let none = MetricsSource::new(&cfg, MetricsOptions::default());
    let mut sink = VecSink::default();
    let summary = none.collect(&q, &mut sink).await.unwrap();
    assert_eq!(summary.statuses[0].status, SourceState::Skipped);
    assert!(sink.records.is_empty());

    let mixed = MetricsSource::new(
        &cfg,
        MetricsOptions {
            queries: vec![
                spec("", "5XXError", &[], "Sum"),
                spec("Shop", "Orders", &[], "Sum"),
            ],
        },
    );
    let summary = mixed.collect(&q, &mut sink).await.unwrap();
    assert_eq!(summary.statuses[0].status, SourceState::Ok);
    assert_eq!(summary.statuses[1].status, SourceState::Error);
    assert!(
        summary.statuses[1]
            .error
            .as_deref()
            .unwrap()
            .contains("`namespace`")
    );
    // Ids follow the configured positions, so the valid query is `m1`.
    assert_eq!(series(&sink)[0].id, "m1");

    let late = SourceQuery::new(w, Instant::now());
    let err = mixed
        .collect(&late, &mut VecSink::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("deadline"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// A CloudWatch (awsQuery) server for what moto lacks.
// ---------------------------------------------------------------------------------------------

type Params = BTreeMap<String, String>;
type Handler = Arc<dyn Fn(&Params) -> (u16, String) + Send + Sync>;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn parse_form(body: &str) -> Params {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

/// Starts the server; returns its URL and the decoded parameters of every request.
async fn cloudwatch_server(handler: Handler) -> (String, Arc<Mutex<Vec<Params>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<Params>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = find(&buf, b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                assert!(head.starts_with("post / "), "{head}");
                assert!(
                    head.contains("content-type: application/x-www-form-urlencoded"),
                    "{head}"
                );
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let params =
                    parse_form(std::str::from_utf8(&buf[head_end..head_end + len]).unwrap());
                assert_eq!(
                    params.get("Version").map(String::as_str),
                    Some("2010-08-01")
                );
                let (status, body) = handler(&params);
                log.lock().unwrap().push(params);
                let head = format!(
                    "HTTP/1.1 {status} X\r\nx-amzn-RequestId: 5f1a2b3c-0000-4000-8000-000000000001\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

async fn config_for(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new("ap-northeast-1"))
        .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
            "AKIATESTTESTTESTTEST",
            "testsecret",
            None,
            None,
            "fa2-tests",
        ))
        .load()
        .await
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const NS: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";

fn response(action: &str, result: &str) -> (u16, String) {
    (
        200,
        format!(
            "<{action}Response xmlns=\"{NS}\">\n  <{action}Result>\n{result}\n  </{action}Result>\n  <ResponseMetadata>\n    <RequestId>5f1a2b3c-0000-4000-8000-000000000001</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n"
        ),
    )
}

fn error(code: &str, message: &str) -> (u16, String) {
    (
        400,
        format!(
            "<ErrorResponse xmlns=\"{NS}\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>{code}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>5f1a2b3c-0000-4000-8000-000000000002</RequestId>\n</ErrorResponse>\n",
            xml_escape(message)
        ),
    )
}

fn metric_alarm(name: &str, state: &str, reason: &str, transitioned: &str) -> String {
    format!(
        r#"      <member>
        <AlarmName>{name}</AlarmName>
        <AlarmArn>arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:{name}</AlarmArn>
        <AlarmDescription>5XX errors of the orders API above 5 per minute</AlarmDescription>
        <AlarmConfigurationUpdatedTimestamp>2024-07-01T09:00:00.000Z</AlarmConfigurationUpdatedTimestamp>
        <ActionsEnabled>true</ActionsEnabled>
        <OKActions/>
        <AlarmActions>
          <member>arn:aws:sns:ap-northeast-1:123456789012:ops-alerts</member>
        </AlarmActions>
        <InsufficientDataActions/>
        <StateValue>{state}</StateValue>
        <StateReason>{}</StateReason>
        <StateUpdatedTimestamp>{transitioned}</StateUpdatedTimestamp>
        <MetricName>5XXError</MetricName>
        <Namespace>AWS/ApiGateway</Namespace>
        <Statistic>Sum</Statistic>
        <Dimensions>
          <member>
            <Name>ApiName</Name>
            <Value>orders-api</Value>
          </member>
        </Dimensions>
        <Period>60</Period>
        <EvaluationPeriods>3</EvaluationPeriods>
        <Threshold>5.0</Threshold>
        <ComparisonOperator>GreaterThanThreshold</ComparisonOperator>
        <TreatMissingData>notBreaching</TreatMissingData>
        <StateTransitionedTimestamp>{transitioned}</StateTransitionedTimestamp>
      </member>"#,
        xml_escape(reason)
    )
}

fn history_item(name: &str, at: &str, old: &str, new: &str, reason: &str) -> String {
    let data = serde_json::json!({
        "version": "1.0",
        "oldState": {"stateValue": old, "stateReason": format!("previously {old}")},
        "newState": {
            "stateValue": new,
            "stateReason": reason,
            "stateReasonData": {"version": "1.0", "queryDate": at, "statistic": "Sum",
                                "period": 60, "recentDatapoints": [12.0, 15.0, 19.0], "threshold": 5.0}
        }
    });
    format!(
        r#"      <member>
        <Timestamp>{at}</Timestamp>
        <HistoryItemType>StateUpdate</HistoryItemType>
        <AlarmName>{name}</AlarmName>
        <AlarmType>MetricAlarm</AlarmType>
        <HistoryData>{}</HistoryData>
        <HistorySummary>Alarm updated from {old} to {new}</HistorySummary>
      </member>"#,
        xml_escape(&data.to_string())
    )
}

const REASON: &str = "Threshold Crossed: 3 out of the last 3 datapoints [19.0 (16/08/24 11:33:00), 15.0 (16/08/24 11:32:00), 12.0 (16/08/24 11:31:00)] were greater than the threshold (5.0) (minimum 3 datapoints for OK -> ALARM transition).";

/// The alarms of the fake account:
/// - `orders-5xx`: OK now; went to ALARM at 11:34 and back to OK at 11:52 (history on two
///   pages, an older ALARM episode at 10:00 on the second page);
/// - `still-firing`: in ALARM since 12:00;
/// - `never-fired`: only INSUFFICIENT_DATA and OK in its history;
/// - `bad-name!`: rejected with an awsQuery error;
/// - anything else: no such alarm (an empty `DescribeAlarms` result, as CloudWatch answers).
fn alarms_handler() -> Handler {
    Arc::new(|p: &Params| {
        let action = p["Action"].as_str();
        match action {
            "DescribeAlarms" => {
                let name = p.get("AlarmNames.member.1").cloned().unwrap_or_default();
                let members = match name.as_str() {
                    "orders-5xx" => metric_alarm(
                        &name,
                        "OK",
                        "Threshold Crossed: 1 datapoint [0.0 (16/08/24 11:51:00)] was not greater than the threshold (5.0).",
                        "2024-08-16T11:52:00.000Z",
                    ),
                    "still-firing" => {
                        metric_alarm(&name, "ALARM", REASON, "2024-08-16T12:00:00.000Z")
                    }
                    "never-fired" => metric_alarm(
                        &name,
                        "OK",
                        "Threshold Crossed: no datapoints were received.",
                        "2024-08-16T08:00:00.000Z",
                    ),
                    "bad-name!" => {
                        return error(
                            "InvalidParameterValue",
                            "The alarm name 'bad-name!' is not valid.",
                        );
                    }
                    _ => String::new(),
                };
                response(
                    "DescribeAlarms",
                    &format!(
                        "    <MetricAlarms>\n{members}\n    </MetricAlarms>\n    <CompositeAlarms/>"
                    ),
                )
            }
            "DescribeAlarmHistory" => {
                let name = p["AlarmName"].clone();
                let page2 = p.get("NextToken").map(String::as_str) == Some("page-2");
                let (items, next) = match (name.as_str(), page2) {
                    ("orders-5xx", false) => (
                        vec![history_item(
                            &name,
                            "2024-08-16T11:52:00.000Z",
                            "ALARM",
                            "OK",
                            "Threshold Crossed: back under",
                        )],
                        Some("page-2"),
                    ),
                    ("orders-5xx", true) => (
                        vec![
                            history_item(&name, "2024-08-16T11:34:00.000Z", "OK", "ALARM", REASON),
                            history_item(
                                &name,
                                "2024-08-16T10:05:00.000Z",
                                "ALARM",
                                "OK",
                                "recovered",
                            ),
                            history_item(
                                &name,
                                "2024-08-16T10:00:00.000Z",
                                "OK",
                                "ALARM",
                                "older episode",
                            ),
                        ],
                        None,
                    ),
                    ("still-firing", _) => (
                        vec![history_item(
                            &name,
                            "2024-08-16T12:00:00.000Z",
                            "OK",
                            "ALARM",
                            REASON,
                        )],
                        None,
                    ),
                    ("never-fired", _) => (
                        vec![
                            history_item(
                                &name,
                                "2024-08-16T08:00:00.000Z",
                                "INSUFFICIENT_DATA",
                                "OK",
                                "ok",
                            ),
                            history_item(
                                &name,
                                "2024-08-16T07:59:00.000Z",
                                "OK",
                                "INSUFFICIENT_DATA",
                                "no data",
                            ),
                        ],
                        None,
                    ),
                    _ => (vec![], None),
                };
                let mut result = format!(
                    "    <AlarmHistoryItems>\n{}\n    </AlarmHistoryItems>",
                    items.join("\n")
                );
                if let Some(t) = next {
                    result.push_str(&format!("\n    <NextToken>{t}</NextToken>"));
                }
                response("DescribeAlarmHistory", &result)
            }
            other => error(
                "InvalidAction",
                &format!("Could not find operation {other} for version 2010-08-01"),
            ),
        }
    })
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn lookback(secs: u64) -> WindowPolicy {
    WindowPolicy {
        alarm_lookback: Duration::from_secs(secs),
        ..WindowPolicy::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_incident_from_history() {
    let (url, seen) = cloudwatch_server(alarms_handler()).await;
    let cfg = config_for(&url).await;
    let now = at("2024-08-16T13:00:00Z");
    let inc = alarm_incident(&cfg, "orders-5xx", &lookback(15 * 60), now)
        .await
        .unwrap();
    assert_eq!(inc.alarm_name, "orders-5xx");
    assert_eq!(inc.went_to_alarm_at, at("2024-08-16T11:34:00Z"));
    // the alarm window: the lookback on both sides of the transition
    assert_eq!(inc.start, at("2024-08-16T11:19:00Z"));
    assert_eq!(inc.end, at("2024-08-16T11:49:00Z"));
    assert_eq!(inc.back_to_ok_at, Some(at("2024-08-16T11:52:00Z")));
    assert!(
        inc.description
            .contains("Back to OK at 2024-08-16T11:52:00Z"),
        "{}",
        inc.description
    );
    assert!(inc.description.contains(REASON), "{}", inc.description);
    assert!(
        inc.description
            .contains("5XX errors of the orders API above 5 per minute")
    );
    assert!(inc.description.contains("2024-08-16T11:34:00Z"));
    let m = inc.metric.unwrap();
    assert_eq!(
        m,
        MetricQuerySpec {
            namespace: "AWS/ApiGateway".into(),
            metric: "5XXError".into(),
            dimensions: BTreeMap::from([("ApiName".into(), "orders-api".into())]),
            stat: "Sum".into(),
            period_secs: 60,
        }
    );

    // What was asked: the alarm (both alarm types), then its state updates newest first,
    // following NextToken to the second page.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0]["Action"], "DescribeAlarms");
    assert_eq!(seen[0]["AlarmNames.member.1"], "orders-5xx");
    let types: Vec<&str> = [&seen[0], &seen[1]]
        .iter()
        .flat_map(|p| {
            p.iter()
                .filter(|(k, _)| k.starts_with("AlarmTypes.member."))
                .map(|(_, v)| v.as_str())
        })
        .collect();
    assert_eq!(
        types,
        [
            "MetricAlarm",
            "CompositeAlarm",
            "MetricAlarm",
            "CompositeAlarm"
        ]
    );
    for h in &seen[1..] {
        assert_eq!(h["Action"], "DescribeAlarmHistory");
        assert_eq!(h["AlarmName"], "orders-5xx");
        assert_eq!(h["HistoryItemType"], "StateUpdate");
        assert_eq!(h["ScanBy"], "TimestampDescending");
    }
    assert!(!seen[1].contains_key("NextToken"));
    assert_eq!(seen[2]["NextToken"], "page-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_still_firing_ends_now() {
    let (url, _) = cloudwatch_server(alarms_handler()).await;
    let cfg = config_for(&url).await;
    let now = at("2024-08-16T12:05:30Z");
    let inc = alarm_incident(&cfg, "still-firing", &lookback(600), now)
        .await
        .unwrap();
    assert_eq!(inc.went_to_alarm_at, at("2024-08-16T12:00:00Z"));
    assert_eq!(inc.start, at("2024-08-16T11:50:00Z"));
    // before the lookback has passed: up to the next minute after now
    assert_eq!(inc.end, at("2024-08-16T12:06:00Z"));
    assert_eq!(inc.back_to_ok_at, None);
    // a lookback whose window exceeds max_window is refused, naming it
    let narrow = WindowPolicy {
        max_window: Duration::from_secs(600),
        ..lookback(600)
    };
    let err = alarm_incident(&cfg, "still-firing", &narrow, at("2024-08-16T13:00:00Z"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("over max_window = 10m"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_errors_are_clear() {
    let (url, _) = cloudwatch_server(alarms_handler()).await;
    let cfg = config_for(&url).await;
    let now = at("2024-08-16T13:00:00Z");
    let policy = lookback(900);

    let err = alarm_incident(&cfg, "no-such-alarm", &policy, now)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CloudWatch alarm `no-such-alarm` not found in region ap-northeast-1"),
        "{err}"
    );

    let err = alarm_incident(&cfg, "never-fired", &policy, now)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`never-fired` was never in ALARM in its history"),
        "{err}"
    );
    assert!(err.contains("its state is OK"), "{err}");

    let err = alarm_incident(&cfg, "bad-name!", &policy, now)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "DescribeAlarms failed: InvalidParameterValue: The alarm name 'bad-name!' is not valid."
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_against_moto() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let now = Utc::now();
    // DescribeAlarms works in moto: an unknown alarm is reported as not found.
    let err = alarm_incident(&cfg, "no-such-alarm", &lookback(900), now)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`no-such-alarm` not found in region us-east-1"),
        "{err}"
    );
    // An existing alarm gets as far as DescribeAlarmHistory, which moto 5.2.5 lacks: the
    // failure names the call.
    aws_sdk_cloudwatch::Client::new(&cfg)
        .put_metric_alarm()
        .alarm_name("orders-5xx")
        .namespace("AWS/ApiGateway")
        .metric_name("5XXError")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let err = alarm_incident(&cfg, "orders-5xx", &lookback(900), now)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("DescribeAlarmHistory failed"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// GetMetricData paths moto lacks: pagination, PartialData, InternalError, messages.
// ---------------------------------------------------------------------------------------------

fn data_result(id: &str, label: &str, points: &[(&str, f64)], status: &str) -> String {
    let ts: Vec<String> = points
        .iter()
        .map(|(t, _)| format!("<member>{t}</member>"))
        .collect();
    let vs: Vec<String> = points
        .iter()
        .map(|(_, v)| format!("<member>{v:?}</member>"))
        .collect();
    format!(
        "      <member>\n        <Id>{id}</Id>\n        <Label>{label}</Label>\n        <Timestamps>{}</Timestamps>\n        <Values>{}</Values>\n        <StatusCode>{status}</StatusCode>\n        <Messages/>\n      </member>",
        ts.join(""),
        vs.join("")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paginated_partial_and_failed_series() {
    let handler: Handler = Arc::new(|p: &Params| {
        assert_eq!(p["Action"], "GetMetricData");
        if p.get("NextToken").map(String::as_str) == Some("page-2") {
            return response(
                "GetMetricData",
                &format!(
                    "    <MetricDataResults>\n{}\n    </MetricDataResults>\n    <Messages/>",
                    data_result(
                        "m0",
                        "AWS/ApiGateway 5XXError Sum",
                        &[("2024-08-16T11:22:00Z", 7.0)],
                        "Complete"
                    )
                ),
            );
        }
        response(
            "GetMetricData",
            &format!(
                "    <MetricDataResults>\n{}\n{}\n    </MetricDataResults>\n    <NextToken>page-2</NextToken>\n    <Messages>\n      <member>\n        <Code>MaxDatapointsExceeded</Code>\n        <Value>The maximum datapoints limit was exceeded.</Value>\n      </member>\n    </Messages>",
                data_result(
                    "m0",
                    "AWS/ApiGateway 5XXError Sum",
                    &[("2024-08-16T11:21:00Z", 5.0), ("2024-08-16T11:20:00Z", 3.0)],
                    "PartialData"
                ),
                data_result("m1", "Shop Orders Sum", &[], "InternalError"),
            ),
        )
    });
    let (url, seen) = cloudwatch_server(handler).await;
    let cfg = config_for(&url).await;
    let source = MetricsSource::new(
        &cfg,
        MetricsOptions {
            queries: vec![
                spec("AWS/ApiGateway", "5XXError", &[], "Sum"),
                spec("Shop", "Orders", &[], "Sum"),
            ],
        },
    )
    // The window is in 2024: its age is measured from then, as when it was analysed.
    .reading_at(at("2024-08-16T12:00:00Z"));
    let start = Utc.with_ymd_and_hms(2024, 8, 16, 11, 19, 30).unwrap();
    let end = Utc.with_ymd_and_hms(2024, 8, 16, 11, 49, 10).unwrap();
    let w = Window::with_baseline(start, end, Duration::from_secs(3600)).unwrap();
    let q = SourceQuery::new(w, Instant::now() + Duration::from_secs(60));
    let mut sink = VecSink::default();
    let summary = source.collect(&q, &mut sink).await.unwrap();

    let s = series(&sink);
    assert_eq!(s.len(), 2);
    assert_eq!(
        s[0].points,
        vec![
            (at("2024-08-16T11:20:00Z"), 3.0),
            (at("2024-08-16T11:21:00Z"), 5.0),
            (at("2024-08-16T11:22:00Z"), 7.0)
        ]
    );
    assert_eq!(s[1].id, "m1");
    assert!(s[1].points.is_empty());

    let ok = &summary.statuses[0];
    assert_eq!(ok.status, SourceState::Ok);
    assert_eq!(ok.counts[&RecordType::MetricPoints], 3);
    assert_eq!(ok.parts, Some(2));
    let warn = ok.error.as_deref().unwrap();
    assert!(
        warn.contains("MaxDatapointsExceeded: The maximum datapoints limit was exceeded."),
        "{warn}"
    );
    // m0 ended Complete on the second page: no PartialData warning for it.
    assert!(!warn.contains("PartialData"), "{warn}");
    let failed = &summary.statuses[1];
    assert_eq!(failed.status, SourceState::Error);
    assert_eq!(failed.name, "cloudwatch-metrics:Shop Orders Sum");
    assert!(failed.error.as_deref().unwrap().contains("InternalError"));

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    // Whole minutes around the collect range, ascending scan, 2 queries per call.
    assert_eq!(seen[0]["StartTime"], "2024-08-16T10:19:00Z");
    assert_eq!(seen[0]["EndTime"], "2024-08-16T11:50:00Z");
    assert_eq!(seen[0]["ScanBy"], "TimestampAscending");
    assert_eq!(seen[0]["MetricDataQueries.member.1.Id"], "m0");
    assert_eq!(
        seen[0]["MetricDataQueries.member.1.MetricStat.Metric.Namespace"],
        "AWS/ApiGateway"
    );
    assert_eq!(seen[0]["MetricDataQueries.member.2.MetricStat.Stat"], "Sum");
    assert_eq!(
        seen[0]["MetricDataQueries.member.2.MetricStat.Period"],
        "60"
    );
    assert_eq!(seen[1]["NextToken"], "page-2");
    let Locator::Query { text, .. } = &sink.origins[0].locator else {
        panic!()
    };
    assert!(text.contains("--start-time 2024-08-16T10:19:00Z --end-time 2024-08-16T11:50:00Z"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_partial_series_is_reported() {
    // The service says PartialData but gives no NextToken (or reading stopped): the series
    // is kept and the status says it is incomplete.
    let handler: Handler = Arc::new(|_: &Params| {
        response(
            "GetMetricData",
            &format!(
                "    <MetricDataResults>\n{}\n    </MetricDataResults>\n    <Messages/>",
                data_result(
                    "m0",
                    "Shop Orders Sum",
                    &[("2024-08-16T11:20:00Z", 1.0)],
                    "PartialData"
                )
            ),
        )
    });
    let (url, _) = cloudwatch_server(handler).await;
    let cfg = config_for(&url).await;
    let source = MetricsSource::new(
        &cfg,
        MetricsOptions {
            queries: vec![spec("Shop", "Orders", &[], "Sum")],
        },
    )
    // The window is in 2024: its age is measured from then, as when it was analysed.
    .reading_at(at("2024-08-16T12:00:00Z"));
    let start = Utc.with_ymd_and_hms(2024, 8, 16, 11, 19, 0).unwrap();
    let w = Window::with_baseline(
        start,
        start + chrono::Duration::minutes(30),
        Duration::from_secs(3600),
    )
    .unwrap();
    let q = SourceQuery::new(w, Instant::now() + Duration::from_secs(60));
    let mut sink = VecSink::default();
    let summary = source.collect(&q, &mut sink).await.unwrap();
    assert_eq!(series(&sink)[0].points.len(), 1);
    let warn = summary.statuses[0].error.as_deref().unwrap();
    assert!(
        warn.contains("series `Shop Orders Sum` is incomplete (status PartialData)"),
        "{warn}"
    );
}
