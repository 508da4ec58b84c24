//! The CloudWatch Logs source against a real moto server: Insights and FilterLogEvents modes,
//! a missing log group, the 10,000-row cap, `max_events`, deadlines (with `StopQuery` seen on
//! the wire through a slow loopback proxy) and the Pattern mode's plumbing.

#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used)]

mod support;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use fa2_core::record::{Record, RecordType};
use fa2_core::request::Window;
use fa2_core::telemetry::aws::logs::{
    CloudWatchLogsOptions, CloudWatchLogsSource, INSIGHTS_SERVICE, LogsMode,
};
use fa2_core::telemetry::{
    CollectSummary, Locator, SourceQuery, SourceState, TelemetrySource, VecSink,
};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ORDERS: &str = "/fa2/orders";
const CHECKOUT: &str = "/fa2/checkout";

/// (group, stream, epoch ms, message)
type Ev = (String, String, i64, String);
/// (group, stream, [(epoch ms, message)])
type StreamSeed = (&'static str, &'static str, Vec<(i64, String)>);

/// A window ending 10 minutes ago (moto rejects events older than 14 days).
fn window() -> Window {
    let now = Utc::now().timestamp_millis();
    // Whole seconds plus a fraction, so millisecond bounds matter.
    let end = Utc
        .timestamp_millis_opt((now / 1000 - 600) * 1000 + 250)
        .unwrap();
    let start = end - ChronoDuration::minutes(20);
    Window::with_baseline(start, end, Duration::from_secs(3600)).unwrap()
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

async fn put(client: &Client, group: &str, stream: &str, events: &[(i64, String)]) {
    let _ = client.create_log_group().log_group_name(group).send().await;
    let _ = client
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await;
    let mut sorted: Vec<&(i64, String)> = events.iter().collect();
    sorted.sort_by_key(|e| e.0);
    for batch in sorted.chunks(10_000) {
        let evs: Vec<InputLogEvent> = batch
            .iter()
            .map(|(t, m)| {
                InputLogEvent::builder()
                    .timestamp(*t)
                    .message(m)
                    .build()
                    .unwrap()
            })
            .collect();
        let out = client
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .set_log_events(Some(evs))
            .send()
            .await
            .unwrap();
        assert!(
            out.rejected_log_events_info().is_none(),
            "moto rejected events"
        );
    }
}

/// Seeds two groups with events in the baseline, the incident and outside both; returns the
/// events that fall inside `[baseline_start, end)`.
async fn seed(client: &Client, w: &Window) -> Vec<Ev> {
    let mut expected = Vec::new();
    let mut stream_events: Vec<StreamSeed> = vec![
        (ORDERS, "orders/1", Vec::new()),
        (ORDERS, "orders/2", Vec::new()),
        (CHECKOUT, "web", Vec::new()),
    ];
    let bs = ms(w.baseline_start);
    let st = ms(w.start);
    for i in 0..6i64 {
        let t = bs + 60_000 + i * 487_123;
        stream_events[0]
            .2
            .push((t, format!("INFO order {i} accepted in 12 ms")));
    }
    for i in 0..8i64 {
        let t = st + 1_000 + i * 131_011;
        stream_events[1]
            .2
            .push((t, format!("ERROR order {i} payment timeout after 3000 ms")));
    }
    for i in 0..4i64 {
        let t = st + 5_500 + i * 200_003;
        stream_events[2]
            .2
            .push((t, format!("WARN checkout retry {i} for cart c-{i}")));
    }
    for (g, s, evs) in &stream_events {
        for (t, m) in evs {
            expected.push((g.to_string(), s.to_string(), *t, m.clone()));
        }
    }
    // Outside: before the baseline (by 1 ms), at the end (excluded), after the end.
    stream_events[0].2.push((bs - 1, "too early".into()));
    stream_events[1]
        .2
        .push((ms(w.end), "exactly at the end".into()));
    stream_events[2]
        .2
        .push((ms(w.end) + 120_000, "too late".into()));
    for (g, s, evs) in &stream_events {
        put(client, g, s, evs).await;
    }
    expected.sort();
    expected
}

fn events_of(sink: &VecSink) -> Vec<Ev> {
    let mut out: Vec<Ev> = sink
        .records
        .iter()
        .map(|(_, r)| match r {
            Record::Log(e) => (
                e.group.to_string(),
                e.stream.as_deref().unwrap_or("").to_string(),
                e.ts.timestamp_millis(),
                e.message.clone(),
            ),
            other => panic!("unexpected record {other:?}"),
        })
        .collect();
    out.sort();
    out
}

fn ok_status(s: &CollectSummary) -> &fa2_core::telemetry::SourceStatus {
    s.statuses
        .iter()
        .find(|s| s.status == SourceState::Ok)
        .unwrap_or_else(|| panic!("no ok status in {:?}", s.statuses))
}

fn options(groups: &[&str], mode: LogsMode) -> CloudWatchLogsOptions {
    CloudWatchLogsOptions {
        log_groups: groups.iter().map(|g| g.to_string()).collect(),
        mode,
        ..Default::default()
    }
}

fn query(w: Window) -> SourceQuery {
    SourceQuery::new(w, Instant::now() + Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insights_mode_reads_every_event_of_both_groups() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let w = window();
    let expected = seed(&Client::new(&cfg), &w).await;
    assert_eq!(expected.len(), 18);

    let src = CloudWatchLogsSource::new(&cfg, options(&[ORDERS, CHECKOUT], LogsMode::Insights));
    assert_eq!(src.name(), "cloudwatch-logs");
    let mut sink = VecSink::default();
    let summary = src.collect(&query(w), &mut sink).await.unwrap();
    assert_eq!(events_of(&sink), expected);
    // Streamed in time order, as the query sorts.
    let times: Vec<i64> = sink
        .records
        .iter()
        .map(|(_, r)| match r {
            Record::Log(e) => e.ts.timestamp_millis(),
            _ => 0,
        })
        .collect();
    assert!(times.windows(2).all(|p| p[0] <= p[1]));

    assert_eq!(summary.statuses.len(), 1, "{:?}", summary.statuses);
    let ok = ok_status(&summary);
    assert_eq!(
        (ok.name.as_str(), ok.kind.as_str()),
        ("cloudwatch-logs", "logs")
    );
    assert_eq!(ok.records, 18);
    assert_eq!(ok.counts.get(&RecordType::LogEvents), Some(&18));
    assert_eq!(ok.parts, Some(1));
    assert_eq!(ok.error, None);

    assert_eq!(sink.origins.len(), 1);
    let Locator::Query { service, text } = &sink.origins[0].locator else {
        panic!("not a query locator");
    };
    assert_eq!(service, INSIGHTS_SERVICE);
    assert!(text.starts_with(
        "fields @timestamp, @message, @log, @logStream | sort @timestamp asc | limit 10000\n"
    ));
    assert!(text.contains(&format!("log groups: {ORDERS}, {CHECKOUT}")));
    let start_secs = w.baseline_start.timestamp();
    assert!(
        text.contains(&format!("--start-time {start_secs} ")),
        "{text}"
    );
    assert!(text.contains(
        "console: https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:logs-insights$3FqueryDetail$3D~(end~'"
    ));
    let repro = src.reproduce(&query(w));
    assert_eq!(repro.len(), 1);
    assert_eq!(&repro[0].text, text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_log_events_mode_reads_every_event_of_both_groups() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let w = window();
    let expected = seed(&Client::new(&cfg), &w).await;

    let src = CloudWatchLogsSource::new(
        &cfg,
        options(&[ORDERS, CHECKOUT], LogsMode::FilterLogEvents),
    );
    let mut sink = VecSink::default();
    let summary = src.collect(&query(w), &mut sink).await.unwrap();
    assert_eq!(events_of(&sink), expected);
    assert_eq!(summary.statuses.len(), 1, "{:?}", summary.statuses);
    let ok = ok_status(&summary);
    assert_eq!(ok.records, 18);
    assert_eq!(ok.counts.get(&RecordType::LogEvents), Some(&18));
    assert_eq!(ok.parts, Some(2));

    let texts: Vec<String> = sink
        .origins
        .iter()
        .map(|o| match &o.locator {
            Locator::Query { service, text } => format!("{service}: {text}"),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        texts[0],
        format!(
            "cloudwatch-logs: aws logs filter-log-events --region us-east-1 --log-group-name {ORDERS} --start-time {} --end-time {}",
            ms(w.baseline_start),
            ms(w.end) - 1
        )
    );
    assert!(texts[1].contains(CHECKOUT));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_log_events_mode_pages_through_next_token() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let w = window();
    let client = Client::new(&cfg);
    // moto pages FilterLogEvents by 10,000 events.
    let st = ms(w.start);
    let events: Vec<(i64, String)> = (0..10_250i64)
        .map(|i| (st + i * 100, format!("tick {i}")))
        .collect();
    put(&client, "/fa2/paged", "s", &events).await;
    let src = CloudWatchLogsSource::new(&cfg, options(&["/fa2/paged"], LogsMode::FilterLogEvents));
    let mut sink = VecSink::default();
    let summary = src.collect(&query(w), &mut sink).await.unwrap();
    let got: BTreeSet<i64> = events_of(&sink).iter().map(|e| e.2).collect();
    assert_eq!(sink.records.len(), 10_250);
    assert_eq!(got.len(), 10_250);
    assert_eq!(ok_status(&summary).parts, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_log_group_is_an_error_and_the_others_still_arrive() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let w = window();
    let expected = seed(&Client::new(&cfg), &w).await;
    for mode in [LogsMode::Insights, LogsMode::FilterLogEvents] {
        let src = CloudWatchLogsSource::new(
            &cfg,
            options(&[ORDERS, "/fa2/does-not-exist", CHECKOUT], mode),
        );
        let mut sink = VecSink::default();
        let summary = src.collect(&query(w), &mut sink).await.unwrap();
        assert_eq!(events_of(&sink), expected, "{mode:?}");
        assert_eq!(ok_status(&summary).records, 18);
        let errors: Vec<_> = summary
            .statuses
            .iter()
            .filter(|s| s.status == SourceState::Error)
            .collect();
        assert_eq!(errors.len(), 1, "{mode:?}: {:?}", summary.statuses);
        assert_eq!(errors[0].name, "cloudwatch-logs:/fa2/does-not-exist");
        let msg = errors[0].error.as_deref().unwrap();
        assert!(
            msg.contains("log group /fa2/does-not-exist does not exist"),
            "{msg}"
        );
        assert!(msg.contains("ResourceNotFoundException"), "{msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_row_cap_splits_the_range_and_every_event_arrives_once() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let w = window();
    let expected = seed(&Client::new(&cfg), &w).await;
    let mut opts = options(&[ORDERS, CHECKOUT], LogsMode::Insights);
    opts.row_cap = 4;
    let src = CloudWatchLogsSource::new(&cfg, opts);
    let mut sink = VecSink::default();
    let summary = src.collect(&query(w), &mut sink).await.unwrap();
    assert_eq!(events_of(&sink), expected);
    let ok = ok_status(&summary);
    assert_eq!(ok.records, 18);
    // 18 events, at most 4 per query and the last second of each full page re-read.
    assert!(ok.parts.unwrap() >= 5, "{ok:?}");
    assert_eq!(ok.error, None);
    // One origin per query chunk, whatever the number of sub-queries.
    assert_eq!(sink.origins.len(), 1);
    assert!(
        matches!(&sink.origins[0].locator, Locator::Query { text, .. } if text.contains("limit 4"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_events_in_one_second_than_the_cap_are_reported_not_hidden() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let w = window();
    let client = Client::new(&cfg);
    let sec = (ms(w.start) / 1000 + 60) * 1000;
    let mut events: Vec<(i64, String)> = (0..5i64)
        .map(|i| (sec + i * 10, format!("burst {i}")))
        .collect();
    events.push((sec + 5_000, "after".into()));
    events.push((sec - 5_000, "before".into()));
    put(&client, "/fa2/burst", "s", &events).await;
    let mut opts = options(&["/fa2/burst"], LogsMode::Insights);
    opts.row_cap = 3;
    let src = CloudWatchLogsSource::new(&cfg, opts);
    let mut sink = VecSink::default();
    let summary = src.collect(&query(w), &mut sink).await.unwrap();
    let msgs: Vec<String> = events_of(&sink).into_iter().map(|e| e.3).collect();
    assert_eq!(msgs, ["before", "burst 0", "burst 1", "burst 2", "after"]);
    let ok = ok_status(&summary);
    let warn = ok.error.as_deref().unwrap();
    assert!(
        warn.contains("more than 3 events within one second"),
        "{warn}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_ten_thousand_rows_are_read_through_the_real_cap() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let w = window();
    let client = Client::new(&cfg);
    let st = ms(w.start) + 7;
    let events: Vec<(i64, String)> = (0..12_000i64)
        .map(|i| (st + i * 97, format!("GET /api/items/{i} 200")))
        .collect();
    put(&client, "/fa2/big", "s", &events).await;
    let src = CloudWatchLogsSource::new(&cfg, options(&["/fa2/big"], LogsMode::Insights));
    let mut sink = VecSink::default();
    let summary = src.collect(&query(w), &mut sink).await.unwrap();
    assert_eq!(sink.records.len(), 12_000);
    let distinct: BTreeSet<i64> = events_of(&sink).iter().map(|e| e.2).collect();
    assert_eq!(distinct.len(), 12_000);
    let ok = ok_status(&summary);
    assert_eq!((ok.records, ok.parts), (12_000, Some(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_events_caps_the_result_and_says_so() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let w = window();
    let expected = seed(&Client::new(&cfg), &w).await;
    for mode in [LogsMode::Insights, LogsMode::FilterLogEvents] {
        let mut opts = options(&[ORDERS, CHECKOUT], mode);
        opts.max_events = 5;
        let src = CloudWatchLogsSource::new(&cfg, opts);
        let mut sink = VecSink::default();
        let summary = src.collect(&query(w), &mut sink).await.unwrap();
        assert_eq!(sink.records.len(), 5, "{mode:?}");
        if mode == LogsMode::Insights {
            // Sorted ascending: the earliest five.
            assert_eq!(events_of(&sink), {
                let mut e = expected.clone();
                e.sort_by_key(|x| x.2);
                let mut first: Vec<Ev> = e.into_iter().take(5).collect();
                first.sort();
                first
            });
        }
        let ok = ok_status(&summary);
        assert_eq!(ok.records, 5);
        let warn = ok.error.as_deref().unwrap();
        assert!(
            warn.contains("capped") && warn.contains("max_events = 5"),
            "{warn}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_in_the_past_is_a_timeout_error() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let w = window();
    seed(&Client::new(&cfg), &w).await;
    for mode in [LogsMode::Insights, LogsMode::FilterLogEvents] {
        let src = CloudWatchLogsSource::new(&cfg, options(&[ORDERS, CHECKOUT], mode));
        let q = SourceQuery::new(w, Instant::now() - Duration::from_secs(1));
        let mut sink = VecSink::default();
        let summary = src.collect(&q, &mut sink).await.unwrap();
        assert!(sink.records.is_empty());
        assert!(!summary.statuses.is_empty());
        for s in &summary.statuses {
            assert_eq!(s.status, SourceState::Error, "{s:?}");
            assert!(s.error.as_deref().unwrap().contains("deadline"), "{s:?}");
        }
    }
}

/// A loopback HTTP proxy in front of moto that records each request's `X-Amz-Target` and holds
/// `GetQueryResults` answers for `delay`, like a slow Logs Insights query.
fn slow_proxy(moto_port: u16, delay: Duration) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(64) {
            let Ok(client) = conn else { continue };
            let seen = seen2.clone();
            std::thread::spawn(move || proxy_one(client, moto_port, delay, &seen));
        }
    });
    (format!("http://127.0.0.1:{port}"), seen)
}

fn proxy_one(mut client: TcpStream, moto_port: u16, delay: Duration, seen: &Mutex<Vec<String>>) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let target = header("x-amz-target").unwrap_or_default();
    seen.lock().unwrap().push(target.clone());
    if target.ends_with("GetQueryResults") {
        std::thread::sleep(delay);
    }
    // One request per connection: forward with `Connection: close`, answer the same way.
    let mut fwd = String::new();
    for l in head.trim_end().lines() {
        if !l.to_ascii_lowercase().starts_with("connection:") {
            fwd.push_str(l);
            fwd.push_str("\r\n");
        }
    }
    fwd.push_str("Connection: close\r\n\r\n");
    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", moto_port)) else {
        return;
    };
    let _ = upstream.write_all(fwd.as_bytes());
    let _ = upstream.write_all(&buf[head_end..head_end + len]);
    let mut resp = Vec::new();
    let _ = upstream.read_to_end(&mut resp);
    let Some(split) = resp.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    let rhead = String::from_utf8_lossy(&resp[..split]).to_string();
    let body = &resp[split + 4..];
    let mut out = String::new();
    for l in rhead.lines() {
        let lower = l.to_ascii_lowercase();
        if !lower.starts_with("connection:") && !lower.starts_with("content-length:") {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let _ = client.write_all(out.as_bytes());
    let _ = client.write_all(body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_still_running_at_the_deadline_is_stopped_and_reported() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let w = window();
    seed(&Client::new(&cfg), &w).await;
    let (endpoint, seen) = slow_proxy(moto.port, Duration::from_secs(4));
    let slow_cfg = cfg.to_builder().endpoint_url(endpoint).build();
    let src =
        CloudWatchLogsSource::new(&slow_cfg, options(&[ORDERS, CHECKOUT], LogsMode::Insights));
    let q = SourceQuery::new(w, Instant::now() + Duration::from_millis(1500));
    let mut sink = VecSink::default();
    let started = Instant::now();
    let summary = src.collect(&q, &mut sink).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(sink.records.is_empty());
    assert_eq!(summary.statuses.len(), 1, "{:?}", summary.statuses);
    let s = &summary.statuses[0];
    assert_eq!(s.status, SourceState::Error);
    assert_eq!(s.name, format!("cloudwatch-logs:{ORDERS},{CHECKOUT}"));
    let msg = s.error.as_deref().unwrap();
    assert!(
        msg.contains("did not complete before the source deadline"),
        "{msg}"
    );
    assert!(msg.contains("stopped"), "{msg}");
    let seen = seen.lock().unwrap().clone();
    let ops: Vec<&str> = seen
        .iter()
        .map(|t| t.rsplit('.').next().unwrap_or(""))
        .collect();
    assert_eq!(ops.first(), Some(&"StartQuery"), "{ops:?}");
    assert!(ops.contains(&"GetQueryResults"), "{ops:?}");
    assert_eq!(ops.last(), Some(&"StopQuery"), "{ops:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_mode_runs_two_queries_and_never_fakes_counts() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let w = window();
    seed(&Client::new(&cfg), &w).await;
    let src = CloudWatchLogsSource::new(&cfg, options(&[ORDERS, CHECKOUT], LogsMode::Pattern));

    // Through the record pipeline: one LogPattern record per pattern; moto computes none, and
    // the status says that the rows had no @pattern instead of reporting "no logs" silently.
    let mut sink = VecSink::default();
    let summary = src.collect(&query(w), &mut sink).await.unwrap();
    assert!(sink.records.is_empty());
    assert_eq!(summary.statuses[0].status, SourceState::Ok);
    assert!(
        summary.statuses[0]
            .error
            .as_deref()
            .unwrap()
            .contains("had no @pattern")
    );

    // Directly: one query per window. moto ignores `pattern` and returns raw rows, which the
    // parser refuses to count as patterns.
    let found = src.collect_patterns(&query(w)).await.unwrap();
    assert_eq!(found.queries.len(), 2);
    assert!(found.queries[0].starts_with("pattern @message\n"));
    assert!(found.queries[0].contains(&format!("--start-time {} ", w.start.timestamp())));
    assert!(found.queries[1].contains(&format!("--start-time {} ", w.baseline_start.timestamp())));
    assert!(found.patterns.is_empty());
    // moto returns every event of each window as a raw row: 12 incident + 6 baseline, and the
    // event 1 ms before the baseline, which lies in the baseline's first whole second (the
    // API takes whole seconds; server-side counts cannot be cut at milliseconds).
    assert_eq!(found.rows_without_pattern, 19);
    let ok = &found.statuses[0];
    assert_eq!((ok.status, ok.parts), (SourceState::Ok, Some(2)));
    assert!(ok.error.as_deref().unwrap().contains("had no @pattern"));
    assert_eq!(src.reproduce(&query(w)).len(), 2);
}
