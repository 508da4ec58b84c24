//! The CloudWatch Logs source against a real moto server, with the Logs Insights stand-in
//! (`support/logs_insights_standin.py`) in front of it where the test needs the Insights query
//! language run for real (moto runs FilterLogEvents on its stored events, but of Insights only
//! `fields`, `sort` and `limit`): Insights and FilterLogEvents modes, incident-first budgets with
//! a sampled baseline on a busy log group (through the real distiller), the server-side
//! `pattern` count of an incident too large to read, a missing log group, the 10,000-row cap,
//! deadlines (with `StopQuery` seen on the wire through a slow loopback proxy), filter
//! patterns, console ARNs and the Pattern mode's plumbing.

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
    // Batches well under PutLogEvents' 1 MB.
    for batch in sorted.chunks(5_000) {
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

/// moto with the Logs Insights stand-in in front of it; `cfg` points every client at the
/// stand-in (which forwards what it does not run to moto).
struct Aws {
    cfg: aws_config::SdkConfig,
    _standin: support::LogsStandin,
    _moto: support::Moto,
}

async fn aws() -> Aws {
    let moto = support::Moto::start();
    let standin = support::LogsStandin::start(&moto);
    Aws {
        cfg: standin.sdk_config().await,
        _standin: standin,
        _moto: moto,
    }
}

fn time_of(r: &Record) -> i64 {
    match r {
        Record::Log(e) => e.ts.timestamp_millis(),
        Record::Sampled { record, .. } => time_of(record),
        _ => 0,
    }
}

/// The notes of the ok status (`warnings: a; b`), one per element.
fn notes(s: &CollectSummary) -> Vec<String> {
    ok_status(s)
        .error
        .as_deref()
        .unwrap_or("")
        .trim_start_matches("warnings: ")
        .split("; ")
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insights_mode_reads_every_event_of_both_groups() {
    let aws = aws().await;
    let w = window();
    let expected = seed(&Client::new(&aws.cfg), &w).await;
    assert_eq!(expected.len(), 18);

    let src = CloudWatchLogsSource::new(&aws.cfg, options(&[ORDERS, CHECKOUT], LogsMode::Insights));
    assert_eq!(src.name(), "cloudwatch-logs");
    let mut sink = VecSink::default();
    let summary = src.collect(&query(w), &mut sink).await.unwrap();
    assert_eq!(events_of(&sink), expected);
    // The incident window first, then the baseline, each in time order.
    let times: Vec<i64> = sink.records.iter().map(|(_, r)| time_of(r)).collect();
    let split = times.iter().position(|&t| t < ms(w.start)).unwrap();
    assert_eq!(split, 12);
    assert!(times[..split].windows(2).all(|p| p[0] <= p[1]));
    assert!(times[split..].windows(2).all(|p| p[0] <= p[1]));
    assert!(times[split..].iter().all(|&t| t < ms(w.start)));

    assert_eq!(summary.statuses.len(), 1, "{:?}", summary.statuses);
    let ok = ok_status(&summary);
    assert_eq!(
        (ok.name.as_str(), ok.kind.as_str()),
        ("cloudwatch-logs", "logs")
    );
    assert_eq!(ok.records, 18);
    assert_eq!(ok.counts.get(&RecordType::LogEvents), Some(&18));
    // Two sizing queries, the incident, and one query per non-empty baseline slice: the six
    // baseline events lie in six different 5-minute slices.
    assert_eq!(ok.parts, Some(9));
    // Both windows were read whole: nothing to warn about.
    assert_eq!(ok.error, None);

    // One origin per window, each the query that reads it whole.
    assert_eq!(sink.origins.len(), 2);
    let texts: Vec<&str> = sink
        .origins
        .iter()
        .map(|o| match &o.locator {
            Locator::Query { service, text } => {
                assert_eq!(service, INSIGHTS_SERVICE);
                text.as_str()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    for text in &texts {
        assert!(text.starts_with(
            "fields @timestamp, @message, @log, @logStream | sort @timestamp asc | limit 10000\n"
        ));
        assert!(text.contains(&format!("log groups: {ORDERS}, {CHECKOUT}")));
        assert!(text.contains(
            "console: https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:logs-insights$3FqueryDetail$3D~(end~'"
        ));
    }
    assert!(texts[0].contains(&format!("--start-time {} ", w.start.timestamp())));
    assert!(texts[1].contains(&format!("--start-time {} ", w.baseline_start.timestamp())));
    let repro: Vec<String> = src
        .reproduce(&query(w))
        .into_iter()
        .map(|r| r.text)
        .collect();
    assert_eq!(repro, texts);
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
    // One page per log group and window.
    assert_eq!(ok.parts, Some(4));
    assert_eq!(ok.error, None);

    let texts: Vec<String> = sink
        .origins
        .iter()
        .map(|o| match &o.locator {
            Locator::Query { service, text } => format!("{service}: {text}"),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts.len(), 4);
    // The incident window first.
    assert_eq!(
        texts[0],
        format!(
            "cloudwatch-logs: aws logs filter-log-events --region us-east-1 --log-group-name {ORDERS} --start-time {} --end-time {}",
            ms(w.start),
            ms(w.end) - 1
        )
    );
    assert!(texts[1].contains(CHECKOUT));
    assert!(texts[2].contains(&format!(
        "--log-group-name {ORDERS} --start-time {} --end-time {}",
        ms(w.baseline_start),
        ms(w.baseline_end) - 1
    )));
    let repro: Vec<String> = src
        .reproduce(&query(w))
        .into_iter()
        .map(|r| format!("cloudwatch-logs: {}", r.text))
        .collect();
    assert_eq!(repro, texts);
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
    // Two pages of the incident window, one (empty) of the baseline.
    assert_eq!(ok_status(&summary).parts, Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_log_group_is_an_error_and_the_others_still_arrive() {
    let aws = aws().await;
    let w = window();
    let expected = seed(&Client::new(&aws.cfg), &w).await;
    for mode in [LogsMode::Insights, LogsMode::FilterLogEvents] {
        let src = CloudWatchLogsSource::new(
            &aws.cfg,
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
    let aws = aws().await;
    let w = window();
    let expected = seed(&Client::new(&aws.cfg), &w).await;
    let mut opts = options(&[ORDERS, CHECKOUT], LogsMode::Insights);
    opts.row_cap = 4;
    let src = CloudWatchLogsSource::new(&aws.cfg, opts);
    let mut sink = VecSink::default();
    let summary = src.collect(&query(w), &mut sink).await.unwrap();
    assert_eq!(events_of(&sink), expected);
    let ok = ok_status(&summary);
    assert_eq!(ok.records, 18);
    // 12 incident events, at most 4 per query and the last second of each full page re-read.
    assert!(ok.parts.unwrap() >= 2 + 4 + 6, "{ok:?}");
    assert_eq!(ok.error, None);
    // One origin per window, whatever the number of sub-queries.
    assert_eq!(sink.origins.len(), 2);
    assert!(
        sink.origins
            .iter()
            .all(|o| matches!(&o.locator, Locator::Query { text, .. } if text.contains("limit 4")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_events_in_one_second_than_the_cap_are_reported_not_hidden() {
    let aws = aws().await;
    let w = window();
    let client = Client::new(&aws.cfg);
    let sec = (ms(w.start) / 1000 + 60) * 1000;
    let mut events: Vec<(i64, String)> = (0..5i64)
        .map(|i| (sec + i * 10, format!("burst {i}")))
        .collect();
    events.push((sec + 5_000, "after".into()));
    events.push((sec - 5_000, "before".into()));
    put(&client, "/fa2/burst", "s", &events).await;
    let mut opts = options(&["/fa2/burst"], LogsMode::Insights);
    opts.row_cap = 3;
    let src = CloudWatchLogsSource::new(&aws.cfg, opts);
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
    let aws = aws().await;
    let w = window();
    let client = Client::new(&aws.cfg);
    let st = ms(w.start) + 7;
    let events: Vec<(i64, String)> = (0..12_000i64)
        .map(|i| (st + i * 97, format!("GET /api/items/{i} 200")))
        .collect();
    put(&client, "/fa2/big", "s", &events).await;
    let src = CloudWatchLogsSource::new(&aws.cfg, options(&["/fa2/big"], LogsMode::Insights));
    let mut sink = VecSink::default();
    let summary = src.collect(&query(w), &mut sink).await.unwrap();
    assert_eq!(sink.records.len(), 12_000);
    let distinct: BTreeSet<i64> = events_of(&sink).iter().map(|e| e.2).collect();
    assert_eq!(distinct.len(), 12_000);
    let ok = ok_status(&summary);
    // Two sizing queries, then the incident in two queries (the 10,000-row cap); an empty
    // baseline is not queried.
    assert_eq!((ok.records, ok.parts), (12_000, Some(4)));
    assert_eq!(ok.error, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_events_is_spent_on_the_incident_first() {
    let aws = aws().await;
    let w = window();
    seed(&Client::new(&aws.cfg), &w).await;
    // 12 incident events (8 of ORDERS, 4 of CHECKOUT) and 6 baseline events of ORDERS.
    // max_events = 10: the incident may take 8, the baseline keeps at least 2.
    for mode in [LogsMode::Insights, LogsMode::FilterLogEvents] {
        let mut opts = options(&[ORDERS, CHECKOUT], mode);
        opts.max_events = 10;
        let src = CloudWatchLogsSource::new(&aws.cfg, opts);
        let mut sink = VecSink::default();
        let summary = src.collect(&query(w), &mut sink).await.unwrap();
        let ok = ok_status(&summary);
        assert!(ok.records <= 10, "{mode:?}: {ok:?}");
        let incident: Vec<&Record> = sink
            .records
            .iter()
            .map(|(_, r)| r)
            .filter(|r| time_of(r) >= ms(w.start))
            .collect();
        let baseline = sink.records.len() - incident.len();
        let weight = |r: &Record| match r {
            Record::Sampled { weight, .. } => *weight,
            _ => 1.0,
        };
        let incident_weight: f64 = incident.iter().map(|r| weight(r)).sum();
        let n = notes(&summary);
        // Everything of the incident window came before anything of the baseline.
        let first_baseline = sink
            .records
            .iter()
            .position(|(_, r)| time_of(r) < ms(w.start))
            .unwrap_or(sink.records.len());
        assert_eq!(first_baseline, incident.len(), "{mode:?}");
        match mode {
            LogsMode::Insights => {
                // CHECKOUT (4) fits in the incident's share and is read; ORDERS (8) does not
                // fit beside it and is counted by the server: nothing of the incident is lost.
                assert_eq!(incident_weight.round() as u64, 12, "{n:?}");
                assert!(
                    n[0].starts_with("incident: 4 of 4 events read, and 8 more events of /fa2/orders counted by the server with `pattern`"),
                    "{n:?}"
                );
                // The baseline keeps what is left: 10 - 4 read, all 6 of its events.
                assert_eq!(baseline, 6);
                assert_eq!(n[1], "baseline: 6 of 6 events read", "{n:?}");
            }
            _ => {
                // FilterLogEvents cannot count: each group reads half its share from the
                // start and samples the rest, standing for what it did not read.
                // (With a budget this small, some slices get nothing: the status says so.)
                assert!(incident.len() <= 8 && baseline >= 1, "{n:?}");
                assert!(sink.records.len() <= 10);
                assert!(incident_weight >= incident.len() as f64, "{n:?}");
                assert!(n[0].starts_with("incident: "), "{n:?}");
                assert!(n[1].starts_with("baseline: "), "{n:?}");
            }
        }
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

// ---------------------------------------------------------------------------------------------
// Busy log groups: the incident first, the baseline sampled, the server counting what is too
// large to read — through the real distiller.
// ---------------------------------------------------------------------------------------------

/// A 5-minute incident window ending 10 minutes ago, with the hour before it as baseline.
fn short_window() -> Window {
    let now = Utc::now().timestamp_millis();
    let end = Utc
        .timestamp_millis_opt((now / 1000 - 600) * 1000 + 250)
        .unwrap();
    Window::with_baseline(
        end - ChronoDuration::minutes(5),
        end,
        Duration::from_secs(3600),
    )
    .unwrap()
}

/// The routine line `i` of a busy order service: four templates at 9:6:4:1.
fn routine(i: usize) -> (usize, String) {
    match i % 20 {
        0..=8 => (0, format!("INFO order {i} accepted in {} ms", 5 + i % 97)),
        9..=14 => (
            1,
            format!("INFO GET /api/orders/{i} returned 200 in {} ms", 3 + i % 89),
        ),
        15..=18 => (2, format!("DEBUG cache hit for key order:{i}")),
        _ => (
            3,
            format!("WARN slow query on table orders took {} ms", 1000 + i % 500),
        ),
    }
}

const NEW_ERROR: &str = "PaymentGatewayTimeoutException";

/// Seeds a busy log group in three streams: `baseline` routine events spread over the
/// baseline (up to a second before the incident), and `incident` events spread over the
/// incident window (from its second second on), of which `errors` are a new error that starts
/// a minute in. Returns the baseline events per routine template.
async fn seed_busy(
    client: &Client,
    group: &str,
    w: &Window,
    baseline: usize,
    incident: usize,
    errors: usize,
) -> [usize; 4] {
    let mut streams: Vec<Vec<(i64, String)>> = vec![Vec::new(); 3];
    let mut per_template = [0usize; 4];
    let spread = |lo: i64, hi: i64, k: usize, n: usize| lo + (hi - lo) * k as i64 / n as i64;
    // Server-side counts take whole seconds: no event in the partial seconds at the ends.
    let (bs, be) = (ms(w.baseline_start) + 1_000, ms(w.baseline_end) - 1_000);
    for k in 0..baseline {
        let (t, msg) = routine(k);
        per_template[t] += 1;
        streams[k % 3].push((spread(bs, be, k, baseline), msg));
    }
    let (is, ie) = (ms(w.start) + 1_000, ms(w.end) - 1_000);
    let routine_n = incident - errors;
    for k in 0..routine_n {
        let i = baseline + k;
        streams[i % 3].push((spread(is, ie, k, routine_n), routine(i).1));
    }
    for k in 0..errors {
        let i = baseline + routine_n + k;
        streams[i % 3].push((
            spread(is + 60_000, ie, k, errors),
            format!("ERROR payment for order {i} failed: {NEW_ERROR} after 3000 ms"),
        ));
    }
    for (n, evs) in streams.iter_mut().enumerate() {
        // Whole-second boundaries of server-side counts include both ends: no event sits on
        // the very millisecond of one.
        for e in evs.iter_mut() {
            if e.0 % 1000 == 0 {
                e.0 += 1;
            }
        }
        put(client, group, &format!("app/{n}"), evs).await;
    }
    per_template
}

fn weight_of(r: &Record) -> f64 {
    match r {
        Record::Sampled { weight, .. } => *weight,
        _ => 1.0,
    }
}

/// The whole analysis (sources → distiller → offline analyzer) of `w` with one source.
async fn analyze(src: CloudWatchLogsSource, w: Window) -> fa2_core::report::Report {
    use fa2_core::analyze::{AnalyzeOptions, Analyzer, no_progress};
    let analyzer = Analyzer {
        sources: vec![Arc::new(src)],
        backend: Arc::new(fa2_core::llm::OfflineAnalyzer),
        renderer: Arc::new(fa2_core::prompt::PromptRenderer::new(None).unwrap()),
        redactor: Arc::new(fa2_core::redact::Redactor::builtin()),
        options: AnalyzeOptions::default(),
    };
    let req =
        fa2_core::request::AnalysisRequest::new("checkout fails for some orders", w.start, w.end)
            .unwrap();
    assert_eq!(req.window, w);
    analyzer.run(&req, no_progress()).await.unwrap().report
}

/// The 0-based rank of the first evidence whose title contains `needle`.
fn rank_of(report: &fa2_core::report::Report, needle: &str) -> Option<usize> {
    report
        .evidence
        .iter()
        .position(|e| e.title.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_log_group_reads_the_incident_first_and_samples_the_baseline() {
    const GROUP: &str = "/fa2/busy-orders";
    const BASELINE: usize = 20_000;
    const INCIDENT: usize = 1_500;
    const ERRORS: usize = 400;
    const MAX_EVENTS: usize = 5_000;
    let aws = aws().await;
    let w = short_window();
    let truth = seed_busy(
        &Client::new(&aws.cfg),
        GROUP,
        &w,
        BASELINE,
        INCIDENT,
        ERRORS,
    )
    .await;

    for mode in [LogsMode::Insights, LogsMode::FilterLogEvents] {
        let mut opts = options(&[GROUP], mode);
        opts.max_events = MAX_EVENTS;
        let src = CloudWatchLogsSource::new(&aws.cfg, opts.clone());
        let mut sink = VecSink::default();
        let summary = src.collect(&query(w), &mut sink).await.unwrap();
        let ok = ok_status(&summary);
        let n = notes(&summary);
        let incident: Vec<&Record> = sink
            .records
            .iter()
            .map(|(_, r)| r)
            .filter(|r| time_of(r) >= ms(w.start))
            .collect();
        let baseline: Vec<&Record> = sink
            .records
            .iter()
            .map(|(_, r)| r)
            .filter(|r| time_of(r) < ms(w.start))
            .collect();
        let baseline_weight: f64 = baseline.iter().map(|r| weight_of(r)).sum();
        println!(
            "busy group ({mode:?}, max_events {MAX_EVENTS}): incident {} of {INCIDENT} events read; baseline {} of {BASELINE} read, standing for {baseline_weight:.0}; {} queries; status: {}",
            incident.len(),
            baseline.len(),
            ok.parts.unwrap_or(0),
            n.join(" | ")
        );
        // The incident window is never starved: read whole, and first.
        assert_eq!(incident.len(), INCIDENT, "{mode:?}: {n:?}");
        assert!(incident.iter().all(|r| weight_of(r) == 1.0));
        assert_eq!(
            sink.records
                .iter()
                .position(|(_, r)| time_of(r) < ms(w.start)),
            Some(INCIDENT)
        );
        // The baseline gets the rest of the budget, spread over its whole hour, and its
        // events stand for the ones not read.
        assert_eq!(ok.records as usize, MAX_EVENTS, "{mode:?}");
        assert_eq!(baseline.len(), MAX_EVENTS - INCIDENT, "{mode:?}");
        let first = baseline.iter().map(|r| time_of(r)).min().unwrap();
        let last = baseline.iter().map(|r| time_of(r)).max().unwrap();
        assert!(first - ms(w.baseline_start) < 5 * 60_000, "{mode:?}");
        assert!(ms(w.baseline_end) - last < 5 * 60_000, "{mode:?}");
        assert!(
            (baseline_weight - BASELINE as f64).abs() < BASELINE as f64 * 0.05,
            "{mode:?}: {baseline_weight}"
        );
        assert_eq!(
            n[0],
            format!("incident: 1,500 of 1,500 events read"),
            "{mode:?}"
        );
        let approx = if mode == LogsMode::Insights { "" } else { "~" };
        assert!(
            n[1].starts_with(&format!("baseline: 3,500 of {approx}")),
            "{mode:?}: {n:?}"
        );
        if mode == LogsMode::Insights {
            // Sized by the server; 12 slices of 5 minutes, 13 when the hour does not start on
            // a 5-minute boundary.
            assert!(
                n[1].starts_with("baseline: 3,500 of 20,000 events read (sampled evenly over 1")
            );
            assert!(
                n[1].contains("over 12 slices of 5m") || n[1].contains("over 13 slices of 5m"),
                "{n:?}"
            );
        } else {
            // Half the share read whole from the start, the rest in 12 slices, estimated.
            assert!(
                n[1].contains(
                    "(the first 1,750 read whole, the rest sampled evenly over 12 slices of "
                ),
                "{n:?}"
            );
        }

        // Through the whole pipeline: the new error is the top evidence, with its counts
        // right, and the routine templates' baseline counts stand for the whole baseline.
        let report = analyze(CloudWatchLogsSource::new(&aws.cfg, opts), w).await;
        let rank = rank_of(&report, NEW_ERROR);
        let titles: Vec<&str> = report
            .evidence
            .iter()
            .take(5)
            .map(|e| e.title.as_str())
            .collect();
        println!(
            "busy group ({mode:?}): the new error is E{}; top: {titles:?}",
            rank.map_or(0, |r| r + 1)
        );
        let rank = rank.unwrap();
        assert!(rank < 3, "{mode:?}: {titles:?}");
        let e = &report.evidence[rank];
        assert_eq!((e.count, e.baseline_count), (ERRORS as u64, 0), "{mode:?}");
        let accepted = report
            .evidence
            .iter()
            .find(|e| e.title.contains("accepted in"))
            .unwrap();
        let real = truth[0] as f64;
        assert!(
            (accepted.baseline_count as f64 - real).abs() < real * 0.1,
            "{mode:?}: baseline count {} for {real}",
            accepted.baseline_count
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_larger_than_its_share_is_counted_by_the_server() {
    const GROUP: &str = "/fa2/flood";
    let aws = aws().await;
    let w = short_window();
    seed_busy(&Client::new(&aws.cfg), GROUP, &w, 3_000, 3_000, 600).await;
    let mut opts = options(&[GROUP], LogsMode::Insights);
    opts.max_events = 1_000;
    let src = CloudWatchLogsSource::new(&aws.cfg, opts.clone());
    let mut sink = VecSink::default();
    let summary = src.collect(&query(w), &mut sink).await.unwrap();
    let n = notes(&summary);
    println!("flooded incident: {}", n.join(" | "));
    // Not one incident event was read, and yet every one is counted: one record per pattern
    // and slice, standing for the events the server matched.
    let incident: Vec<&Record> = sink
        .records
        .iter()
        .map(|(_, r)| r)
        .filter(|r| time_of(r) >= ms(w.start))
        .collect();
    let counted: f64 = incident.iter().map(|r| weight_of(r)).sum();
    assert_eq!(counted, 3_000.0);
    assert!(incident.len() < 60, "{}", incident.len());
    assert!(
        n[0].starts_with(
            "incident: 3,000 events of /fa2/flood counted by the server with `pattern`"
        ),
        "{n:?}"
    );
    // The whole budget went to the baseline.
    assert!(
        n[1].starts_with("baseline: 1,000 of 3,000 events read"),
        "{n:?}"
    );
    let pattern_origin = sink
        .origins
        .iter()
        .find_map(|o| match &o.locator {
            Locator::Query { text, .. } if text.starts_with("pattern @message") => Some(text),
            _ => None,
        })
        .unwrap();
    assert!(pattern_origin.contains(&format!("log groups: {GROUP}")));

    let report = analyze(CloudWatchLogsSource::new(&aws.cfg, opts), w).await;
    let rank = rank_of(&report, NEW_ERROR).unwrap();
    let e = &report.evidence[rank];
    println!(
        "flooded incident: the new error is E{} with {} events",
        rank + 1,
        e.count
    );
    assert!(rank < 3);
    assert_eq!((e.count, e.baseline_count), (600, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_cannot_size_is_read_without_sampling_and_says_so() {
    // moto alone ignores `stats`: its answer to the sizing query is raw rows.
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let w = window();
    let expected = seed(&Client::new(&cfg), &w).await;
    let src = CloudWatchLogsSource::new(&cfg, options(&[ORDERS, CHECKOUT], LogsMode::Insights));
    let mut sink = VecSink::default();
    let summary = src.collect(&query(w), &mut sink).await.unwrap();
    assert_eq!(events_of(&sink), expected);
    let n = notes(&summary);
    assert!(
        n[0].starts_with("incident: 12 events read (the window could not be sized (")
            && n[0].contains("rows that are not counts"),
        "{n:?}"
    );
    assert!(n[1].starts_with("baseline: 6 events read (the window could not be sized"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_patterns_go_to_filter_log_events() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let w = window();
    let expected = seed(&Client::new(&cfg), &w).await;
    // moto applies single terms, several terms and quoted phrases (moto/logs/utils.py).
    for pattern in ["ERROR", "\"payment timeout\"", "ERROR timeout"] {
        let mut opts = options(&[ORDERS, CHECKOUT], LogsMode::FilterLogEvents);
        opts.filter_pattern = pattern.into();
        let src = CloudWatchLogsSource::new(&cfg, opts);
        let mut sink = VecSink::default();
        src.collect(&query(w), &mut sink).await.unwrap();
        let want: Vec<Ev> = expected
            .iter()
            .filter(|e| e.3.contains("payment timeout"))
            .cloned()
            .collect();
        assert_eq!(events_of(&sink), want, "{pattern}");
        let quoted = fa2_core::reproduce::shell_quote(pattern);
        for r in src.reproduce(&query(w)) {
            assert!(
                r.text.ends_with(&format!(" --filter-pattern {quoted}")),
                "{}",
                r.text
            );
        }
    }
    // An Insights filter cannot apply here (the config refuses it); an embedder is told.
    let mut opts = options(&[ORDERS, CHECKOUT], LogsMode::FilterLogEvents);
    opts.filter = "@message like /ERROR/".into();
    let src = CloudWatchLogsSource::new(&cfg, opts);
    let mut sink = VecSink::default();
    let summary = src.collect(&query(w), &mut sink).await.unwrap();
    assert_eq!(events_of(&sink), expected);
    assert_eq!(
        notes(&summary),
        [
            "filter (Logs Insights) `@message like /ERROR/` does not apply in this mode and was not used"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_group_arns_copied_from_the_console_are_accepted() {
    let aws = aws().await;
    let w = window();
    let client = Client::new(&aws.cfg);
    let expected = seed(&client, &w).await;
    let arn = |g: &str| format!("arn:aws:logs:us-east-1:123456789012:log-group:{g}");
    // The service (and the stand-in) refuse an ARN with the console's trailing `:*`.
    let refused = client
        .start_query()
        .log_group_identifiers(format!("{}:*", arn(ORDERS)))
        .start_time(w.baseline_start.timestamp())
        .end_time(w.end.timestamp())
        .query_string("fields @message")
        .send()
        .await
        .unwrap_err();
    assert!(
        format!("{:?}", refused).contains("InvalidParameterException"),
        "{refused:?}"
    );
    for mode in [LogsMode::Insights, LogsMode::FilterLogEvents] {
        let groups = [format!("{}:*", arn(ORDERS)), format!("{}:*", arn(CHECKOUT))];
        let src = CloudWatchLogsSource::new(
            &aws.cfg,
            CloudWatchLogsOptions {
                log_groups: groups.to_vec(),
                mode,
                ..Default::default()
            },
        );
        assert_eq!(src.options().log_groups, [arn(ORDERS), arn(CHECKOUT)]);
        let mut sink = VecSink::default();
        let summary = src.collect(&query(w), &mut sink).await.unwrap();
        assert_eq!(
            summary.statuses.len(),
            1,
            "{mode:?}: {:?}",
            summary.statuses
        );
        // The records name the log group, as with names.
        assert_eq!(events_of(&sink), expected, "{mode:?}");
    }
}
