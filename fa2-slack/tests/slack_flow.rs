//! The Slack app end to end over real HTTP: requests signed exactly like Slack's go to
//! `fa2-slack`'s server, which talks to a fake Slack Web API on loopback and analyzes the
//! bundled sample incident (files source, offline analyzer). Hostile clients (stalled,
//! idle, oversized) speak raw TCP to the same server.

#![allow(clippy::unwrap_used)]

#[path = "support/fake_slack.rs"]
mod fake_slack;

use fa2_core::config::{Config, FilesConfig, HumanDuration};
use fa2_core::error::SourceError;
use fa2_core::request::Language;
use fa2_core::telemetry::{CollectSummary, RecordSink, Reproduction, SourceQuery, TelemetrySource};
use fa2_slack::server::serve_http;
use fa2_slack::verify::sign;
use fa2_slack::{AnalysisDispatcher, AnalysisJob, Service, Trigger};
use fake_slack::{Call, FakeSlack, message_text};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const WAIT: Duration = Duration::from_secs(60);

fn sample() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/sample-incident"
    ))
}

struct Harness {
    fake: FakeSlack,
    url: String,
    service: Service,
    http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn harness(configure: impl FnOnce(&mut Config)) -> Harness {
    harness_with(configure, Vec::new()).await
}

async fn harness_with(
    configure: impl FnOnce(&mut Config),
    extra_sources: Vec<Arc<dyn TelemetrySource>>,
) -> Harness {
    let fake = FakeSlack::start().await;
    let mut config = Config::default();
    config.sources.files = Some(FilesConfig {
        paths: vec![sample()],
        ..FilesConfig::default()
    });
    config.timezone = "Asia/Tokyo".into();
    config.slack.signing_secret = SECRET.into();
    config.slack.bot_token = "xoxb-test-token".into();
    config.slack.api_url = fake.api_url();
    configure(&mut config);
    let mut analyzer = fa2_core::assemble::analyzer(&config, None, Vec::new()).unwrap();
    analyzer.sources.extend(extra_sources);
    let service = Service::new(&config, Arc::new(analyzer)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let running = service.clone();
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve_http(
            &running,
            listener,
            async {
                let _ = stop.await;
            },
            Duration::from_secs(60),
        )
        .await
    });
    Harness {
        fake,
        url,
        service,
        http: reqwest::Client::new(),
        shutdown: Some(shutdown),
        server,
    }
}

/// A real source that takes its time (a slow query), for concurrency and shutdown tests.
struct SlowSource(Duration);

#[async_trait::async_trait]
impl TelemetrySource for SlowSource {
    fn name(&self) -> &str {
        "slow"
    }
    async fn collect(
        &self,
        _query: &SourceQuery,
        _sink: &mut dyn RecordSink,
    ) -> Result<CollectSummary, SourceError> {
        tokio::time::sleep(self.0).await;
        Ok(CollectSummary::default())
    }
    fn reproduce(&self, _query: &SourceQuery) -> Vec<Reproduction> {
        Vec::new()
    }
}

/// A real source that holds its analysis until the test opens the gate.
struct GateSource(Arc<tokio::sync::Semaphore>);

#[async_trait::async_trait]
impl TelemetrySource for GateSource {
    fn name(&self) -> &str {
        "gate"
    }
    async fn collect(
        &self,
        _query: &SourceQuery,
        _sink: &mut dyn RecordSink,
    ) -> Result<CollectSummary, SourceError> {
        let _open = self.0.acquire().await;
        Ok(CollectSummary::default())
    }
    fn reproduce(&self, _query: &SourceQuery) -> Vec<Reproduction> {
        Vec::new()
    }
}

struct Reply {
    status: u16,
    body: String,
    elapsed: Duration,
}

impl Harness {
    async fn send(&self, body: &str, content_type: &str, headers: &[(&str, String)]) -> Reply {
        let mut req = self
            .http
            .post(format!("{}/slack/events", self.url))
            .header("content-type", content_type)
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let started = Instant::now();
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        Reply {
            status,
            body,
            elapsed: started.elapsed(),
        }
    }

    /// Signed exactly like Slack: `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`.
    async fn signed(&self, body: &str, content_type: &str, extra: &[(&str, String)]) -> Reply {
        let ts = chrono::Utc::now().timestamp();
        let mut headers = vec![
            ("x-slack-request-timestamp", ts.to_string()),
            ("x-slack-signature", sign(SECRET, ts, body)),
        ];
        headers.extend(extra.iter().cloned());
        self.send(body, content_type, &headers).await
    }

    async fn event(&self, event: Value, event_id: &str, extra: &[(&str, String)]) -> Reply {
        let body = json!({
            "token": "legacy", "team_id": "T0TEAM", "api_app_id": "A0FA2",
            "event": event, "type": "event_callback", "event_id": event_id,
            "event_time": 1726000000
        });
        self.signed(&body.to_string(), "application/json", extra)
            .await
    }

    async fn interaction(&self, payload: Value) -> Reply {
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        self.signed(&body, "application/x-www-form-urlencoded", &[])
            .await
    }

    async fn command(&self, channel: &str, user: &str, text: &str) -> Reply {
        let body = serde_urlencoded::to_string([
            ("token", "legacy"),
            ("team_id", "T0TEAM"),
            ("team_domain", "example"),
            ("channel_id", channel),
            ("channel_name", "ops"),
            ("user_id", user),
            ("user_name", "alice"),
            ("command", "/fa2"),
            ("text", text),
            ("api_app_id", "A0FA2"),
            (
                "response_url",
                "https://hooks.slack.com/commands/T0TEAM/1/abc",
            ),
            (
                "trigger_id",
                &format!("trig.{}", fa2_slack::job::new_job_id()),
            ),
        ])
        .unwrap();
        self.signed(&body, "application/x-www-form-urlencoded", &[])
            .await
    }
}

fn chatbot_alarm(ts: &str) -> Value {
    json!({
        "type": "message", "subtype": "bot_message", "text": "",
        "ts": ts, "channel": "C0OPS", "event_ts": ts, "channel_type": "channel",
        "bot_id": "B0CHATBOT", "app_id": "A6L22LZNH",
        "bot_profile": {"id": "B0CHATBOT", "app_id": "A6L22LZNH", "name": "Amazon Q", "team_id": "T0TEAM"},
        "attachments": [{
            "id": 1, "color": "danger", "fallback": "CloudWatch Alarm | checkout-5xx",
            "title": ":rotating_light: CloudWatch Alarm | checkout-5xx | us-east-1 | Account: 123456789012",
            "text": "Threshold Crossed: 1 out of the last 1 datapoints [58.0 (10/09/24 14:08:00)] was greater than the threshold (10.0) (minimum 1 datapoint for OK -> ALARM transition).",
            "fields": [{"title": "Metric", "value": "AWS/ApplicationELB • HTTPCode_Target_5XX_Count", "short": true}]
        }]
    })
}

/// A click on the thread form's button, with the form's state.
fn form_click(
    channel: &str,
    thread_ts: &str,
    lang: &str,
    start: (&str, &str),
    end: (&str, &str),
) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": "U0ALICE", "username": "alice", "team_id": "T0TEAM"},
        "api_app_id": "A0FA2", "token": "legacy",
        "container": {"type": "message", "message_ts": "1726000000.000200", "channel_id": channel, "is_ephemeral": false, "thread_ts": thread_ts},
        "trigger_id": "1.2.3",
        "team": {"id": "T0TEAM", "domain": "example"},
        "channel": {"id": channel, "name": "ops"},
        "message": {"type": "message", "ts": "1726000000.000200", "thread_ts": thread_ts, "text": "form"},
        "state": {"values": {
            "fa2_desc": {"value": {"type": "plain_text_input", "value": "checkout returns 503"}},
            "fa2_start_date": {"value": {"type": "datepicker", "selected_date": start.0}},
            "fa2_start_time": {"value": {"type": "timepicker", "selected_time": start.1}},
            "fa2_end_date": {"value": {"type": "datepicker", "selected_date": end.0}},
            "fa2_end_time": {"value": {"type": "timepicker", "selected_time": end.1}},
            "fa2_lang": {"value": {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": lang}}}
        }},
        "actions": [{"action_id": "fa2_start", "block_id": "b1", "text": {"type": "plain_text", "text": "Start analysis"}, "value": "Asia/Tokyo", "type": "button", "action_ts": "1726000001.1"}]
    })
}

fn in_thread<'a>(calls: &'a [Call], method: &str, thread: &str) -> Vec<&'a Call> {
    calls
        .iter()
        .filter(|c| c.method == method && c.params["thread_ts"] == thread)
        .collect()
}

/// The sample incident's window, 2024-09-10 14:05–14:35 UTC, in Asia/Tokyo.
const START: (&str, &str) = ("2024-09-10", "23:05");
const END: (&str, &str) = ("2024-09-10", "23:35");

#[tokio::test]
async fn url_verification_and_bad_signatures() {
    let h = harness(|_| {}).await;
    let body = r#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let r = h.signed(body, "application/json", &[]).await;
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        v["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    let now = chrono::Utc::now().timestamp();
    let cases: Vec<Vec<(&str, String)>> = vec![
        // wrong secret
        vec![
            ("x-slack-request-timestamp", now.to_string()),
            ("x-slack-signature", sign("another-secret", now, body)),
        ],
        // missing signature
        vec![("x-slack-request-timestamp", now.to_string())],
        // nothing at all
        vec![],
        // stale: signed correctly 6 minutes ago
        vec![
            ("x-slack-request-timestamp", (now - 360).to_string()),
            ("x-slack-signature", sign(SECRET, now - 360, body)),
        ],
    ];
    for headers in cases {
        let r = h.send(body, "application/json", &headers).await;
        assert_eq!(r.status, 401, "{headers:?}");
        assert!(r.body.is_empty(), "401 says nothing: {}", r.body);
    }
    let health = h
        .http
        .get(format!("{}/healthz", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert!(h.fake.calls().is_empty());
}

#[tokio::test]
async fn chatbot_alarm_gets_a_prefilled_form_once() {
    let h = harness(|_| {}).await;
    let ts = "1725977300.000100";
    let r = h.event(chatbot_alarm(ts), "Ev0ALARM1", &[]).await;
    assert_eq!(r.status, 200);
    // Slack retries the same event: no second form
    let retry = [
        ("x-slack-retry-num", "1".to_string()),
        ("x-slack-retry-reason", "http_timeout".to_string()),
    ];
    let r = h.event(chatbot_alarm(ts), "Ev0ALARM1", &retry).await;
    assert_eq!(r.status, 200);
    let calls = h
        .fake
        .wait_for(WAIT, |c| !in_thread(c, "chat.postMessage", ts).is_empty())
        .await;
    let form = in_thread(&calls, "chat.postMessage", ts)[0].clone();
    assert_eq!(form.auth.as_deref(), Some("Bearer xoxb-test-token"));
    let blocks = form.params["blocks"].to_string();
    // alarm datapoint 14:08 UTC minus the 15-minute lookback = 22:53 in Tokyo
    assert!(
        blocks.contains("\"initial_date\":\"2024-09-10\""),
        "{blocks}"
    );
    assert!(blocks.contains("\"initial_time\":\"22:53\""), "{blocks}");
    assert!(blocks.contains("\"timezone\":\"Asia/Tokyo\""));
    assert!(blocks.contains("checkout-5xx"));
    assert!(blocks.contains("HTTPCode_Target_5XX_Count"));
    assert!(blocks.contains("fa2_start"));
    // an unknown message shape from the alarm app still gets a form
    let other_ts = "1725977400.000100";
    let r = h
        .event(
            json!({"type": "message", "text": "something odd", "ts": other_ts, "channel": "C0OPS", "app_id": "A6L22LZNH", "bot_id": "B0CHATBOT"}),
            "Ev0ALARM2",
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    h.fake
        .wait_for(WAIT, |c| {
            !in_thread(c, "chat.postMessage", other_ts).is_empty()
        })
        .await;
    // a person's message gets nothing
    let r = h
        .event(
            json!({"type": "message", "text": "hello", "ts": "1725977500.000100", "channel": "C0OPS", "user": "U0ALICE"}),
            "Ev0HUMAN",
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.fake.calls_to("chat.postMessage").len(), 2);
}

#[tokio::test]
async fn form_submission_acks_fast_then_answers_in_the_thread() {
    let h = harness(|_| {}).await;
    let thread = "1725977300.000100";
    let click = form_click("C0OPS", thread, "en", START, END);
    let r = h.interaction(click.clone()).await;
    assert_eq!(r.status, 200);
    assert!(
        r.elapsed < Duration::from_secs(3),
        "ack took {:?}",
        r.elapsed
    );
    // a double click is the same submission: one analysis
    let r = h.interaction(click).await;
    assert_eq!(r.status, 200);
    let calls = h
        .fake
        .wait_for(WAIT, |c| {
            c.iter().any(|x| x.method == "files.completeUploadExternal")
        })
        .await;
    let posts = in_thread(&calls, "chat.postMessage", thread);
    let progress = posts[0];
    assert!(message_text(progress).contains("Analyzing 2024-09-10 23:05–23:35 (Asia/Tokyo)"));
    let updates = calls_to(&calls, "chat.update");
    assert!(
        !updates.is_empty(),
        "the progress message is updated in place"
    );
    let last_update = message_text(updates.last().unwrap());
    assert!(last_update.contains("Analyzed"), "{last_update}");
    assert!(last_update.contains("records"), "{last_update}");
    let answer: String = posts[1..].iter().map(|c| message_text(c)).collect();
    assert!(answer.contains("Root-cause analysis"), "{answer}");
    assert!(answer.contains("RevokeSecurityGroupIngress"), "{answer}");
    assert!(answer.contains("ops-carol"), "{answer}");
    assert!(answer.contains("Reproduce"), "{answer}");
    assert!(
        answer.contains("fa2_rerun")
            || posts
                .iter()
                .any(|c| c.params["blocks"].to_string().contains("fa2_rerun"))
    );
    for p in &posts[1..] {
        let blocks = p.params["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50);
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= 3000);
            }
        }
    }
    // the secrets of the bundle never reach Slack
    for c in &calls {
        assert!(!c.params.to_string().contains("AKIAV7O2Q5ESAEJR2MHZ"));
    }
    // the full report as a file in the thread, through the external upload flow
    let complete = calls_to(&calls, "files.completeUploadExternal");
    assert_eq!(complete[0].params["thread_ts"], thread);
    assert_eq!(complete[0].params["channel_id"], "C0OPS");
    let uploaded = String::from_utf8(h.fake.uploads().remove(0)).unwrap();
    assert!(uploaded.contains("RevokeSecurityGroupIngress"));
    assert_eq!(calls_to(&calls, "files.getUploadURLExternal").len(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let progress_posts = h
        .fake
        .calls_to("chat.postMessage")
        .iter()
        .filter(|c| message_text(c).contains("Analyzing"))
        .count();
    assert_eq!(progress_posts, 1, "one analysis only");

    // the answer's buttons: re-run over a window twice as wide, in the same thread
    let button = |action: &str| -> Value {
        h.fake
            .calls_to("chat.postMessage")
            .iter()
            .flat_map(|c| c.params["blocks"].as_array().cloned().unwrap_or_default())
            .filter(|b| b["type"] == "actions")
            .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
            .find(|e| e["action_id"] == action)
            .unwrap()
    };
    let click = |action: Value| {
        json!({
            "type": "block_actions",
            "user": {"id": "U0BOB", "username": "bob", "team_id": "T0TEAM"},
            "container": {"type": "message", "message_ts": "1726000000.000900", "channel_id": "C0OPS", "thread_ts": thread},
            "channel": {"id": "C0OPS", "name": "ops"},
            "message": {"type": "message", "ts": "1726000000.000900", "thread_ts": thread, "text": "answer"},
            "actions": [action]
        })
    };
    let r = h.interaction(click(button("fa2_rerun"))).await;
    assert_eq!(r.status, 200);
    let (_, texts) = wait_answer(&h.fake, thread, 2).await;
    assert!(
        texts.contains("Analyzing 2024-09-10 22:35–23:35 (Asia/Tokyo)"),
        "{texts}"
    );
    // feedback is acknowledged to the person who gave it
    let helpful = button("fa2_helpful");
    let r = h.interaction(click(helpful)).await;
    assert_eq!(r.status, 200);
    let calls = h
        .fake
        .wait_for(WAIT, |c| c.iter().any(|x| x.method == "chat.postEphemeral"))
        .await;
    let thanks = calls_to(&calls, "chat.postEphemeral")[0];
    assert_eq!(thanks.params["user"], "U0BOB");
    assert!(message_text(thanks).contains("Thanks for the feedback"));
}

/// Waits for `n` report uploads, then returns the calls and all text posted in `thread`.
async fn wait_answer(fake: &FakeSlack, thread: &str, n: usize) -> (Vec<Call>, String) {
    let calls = fake
        .wait_for(WAIT, |c| {
            c.iter()
                .filter(|x| x.method == "files.completeUploadExternal")
                .count()
                >= n
        })
        .await;
    let text = in_thread(&calls, "chat.postMessage", thread)
        .iter()
        .map(|c| message_text(c))
        .collect();
    (calls, text)
}

fn calls_to<'a>(calls: &'a [Call], method: &str) -> Vec<&'a Call> {
    calls.iter().filter(|c| c.method == method).collect()
}

#[tokio::test]
async fn japanese_form_and_answer() {
    let h = harness(|c| c.language = Language::Ja).await;
    let ts = "1725977300.000100";
    h.event(chatbot_alarm(ts), "Ev0JA", &[]).await;
    let calls = h
        .fake
        .wait_for(WAIT, |c| !in_thread(c, "chat.postMessage", ts).is_empty())
        .await;
    let form = message_text(in_thread(&calls, "chat.postMessage", ts)[0]);
    assert!(form.contains("アラーム"), "{form}");
    assert!(
        form.contains("開始日") && form.contains("分析を開始"),
        "{form}"
    );
    let r = h
        .interaction(form_click("C0OPS", ts, "ja", START, END))
        .await;
    assert_eq!(r.status, 200);
    let (calls, texts) = wait_answer(&h.fake, ts, 1).await;
    assert!(texts.contains("分析中"), "{texts}");
    assert!(texts.contains("根本原因の分析"), "{texts}");
    assert!(texts.contains("期間を2倍にして再実行"));
    let done = message_text(calls_to(&calls, "chat.update").last().unwrap());
    assert!(done.contains("分析が完了しました"), "{done}");
}

#[tokio::test]
async fn slash_command_with_text_analyzes_now_and_without_text_opens_the_modal() {
    let h = harness(|_| {}).await;
    let r = h.command("C0OPS", "U0ALICE", "checkout is slow").await;
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["response_type"], "ephemeral");
    assert!(v["text"].as_str().unwrap().contains("last 30 minutes"));
    let calls = h
        .fake
        .wait_for(WAIT, |c| {
            c.iter().any(|x| x.method == "files.completeUploadExternal")
        })
        .await;
    let root = calls_to(&calls, "chat.postMessage")[0];
    assert!(root.params.get("thread_ts").is_none());
    assert!(message_text(root).contains("<@U0ALICE>"));
    assert!(message_text(root).contains("checkout is slow"));
    // the rest of the conversation is in the root message's thread
    let answer_thread = calls_to(&calls, "files.completeUploadExternal")[0].params["thread_ts"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!answer_thread.is_empty());
    assert!(in_thread(&calls, "chat.postMessage", &answer_thread).len() >= 2);

    // `/fa2` alone opens the form in the user's own time zone
    h.fake.set_user_tz("U0BOB", "Europe/Paris");
    let r = h.command("C0OPS", "U0BOB", "").await;
    assert_eq!(r.status, 200);
    let calls = h
        .fake
        .wait_for(WAIT, |c| c.iter().any(|x| x.method == "views.open"))
        .await;
    assert!(
        calls
            .iter()
            .any(|c| c.method == "users.info" && c.params["user"] == "U0BOB")
    );
    let view = calls_to(&calls, "views.open")[0].params["view"].clone();
    assert_eq!(view["callback_id"], "fa2_form");
    assert!(view.to_string().contains("\"timezone\":\"Europe/Paris\""));
    let metadata = view["private_metadata"].as_str().unwrap().to_string();
    // a submission with the end before the start gets inline errors
    let submission = |end_date: &str, end_time: &str| {
        json!({
            "type": "view_submission",
            "team": {"id": "T0TEAM", "domain": "example"},
            "user": {"id": "U0BOB", "username": "bob", "team_id": "T0TEAM"},
            "api_app_id": "A0FA2", "token": "legacy", "trigger_id": "4.5.6",
            "view": {
                "id": "V0FA2FORM", "team_id": "T0TEAM", "type": "modal",
                "callback_id": "fa2_form", "private_metadata": metadata,
                "hash": "1.a", "title": {"type": "plain_text", "text": "fa2 analysis"}, "blocks": [],
                "state": {"values": {
                    "fa2_start_date": {"value": {"type": "datepicker", "selected_date": "2024-09-10"}},
                    "fa2_start_time": {"value": {"type": "timepicker", "selected_time": "16:05"}},
                    "fa2_end_date": {"value": {"type": "datepicker", "selected_date": end_date}},
                    "fa2_end_time": {"value": {"type": "timepicker", "selected_time": end_time}},
                    "fa2_lang": {"value": {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": "English"}, "value": "en"}}}
                }}
            }
        })
    };
    let r = h.interaction(submission("2024-09-10", "15:00")).await;
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["response_action"], "errors");
    assert_eq!(
        v["errors"]["fa2_end_time"],
        "The start must be before the end."
    );
    // over max_window (24h by default): the shared policy's refusal, on the end date
    let r = h.interaction(submission("2024-09-12", "16:05")).await;
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["response_action"], "errors");
    assert_eq!(
        v["errors"]["fa2_end_date"],
        "The window is longer than max_window (1d)."
    );
    // 16:05–16:35 in Paris (UTC+2 in September) is the incident window
    let r = h.interaction(submission("2024-09-10", "16:35")).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.is_empty(),
        "a valid submission closes the modal: {}",
        r.body
    );
    let calls = h
        .fake
        .wait_for(WAIT, |c| {
            c.iter()
                .filter(|x| x.method == "files.completeUploadExternal")
                .count()
                == 2
        })
        .await;
    let texts: String = calls_to(&calls, "chat.postMessage")
        .iter()
        .map(|c| message_text(c))
        .collect();
    assert!(
        texts.contains("2024-09-10 16:05–16:35 (Europe/Paris)"),
        "{texts}"
    );
    assert!(texts.contains("RevokeSecurityGroupIngress"));
}

#[tokio::test]
async fn allow_lists_refuse_politely() {
    let h = harness(|c| {
        c.slack.allowed_channels = vec!["C0OPS".into()];
        c.slack.allowed_users = vec!["U0ALICE".into(), "U0BOB".into()];
    })
    .await;
    let r = h.command("C0RANDOM", "U0ALICE", "why").await;
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert!(
        v["text"]
            .as_str()
            .unwrap()
            .contains("not enabled in this channel")
    );
    let r = h.command("C0OPS", "U0MALLORY", "why").await;
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert!(v["text"].as_str().unwrap().contains("allowed users"));
    let r = h
        .interaction(form_click("C0RANDOM", "1.0", "en", START, END))
        .await;
    assert_eq!(r.status, 200);
    let calls = h
        .fake
        .wait_for(WAIT, |c| c.iter().any(|x| x.method == "chat.postEphemeral"))
        .await;
    let eph = calls_to(&calls, "chat.postEphemeral")[0];
    assert_eq!(eph.params["user"], "U0ALICE");
    assert!(message_text(eph).contains("not enabled in this channel"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        h.fake.calls_to("chat.postMessage").is_empty(),
        "no analysis"
    );
}

#[tokio::test]
async fn failures_are_reported_in_the_thread() {
    // a source that fails (a path that does not exist) next to one that works
    let h = harness(|c| {
        c.sources.files = Some(FilesConfig {
            paths: vec![sample(), PathBuf::from("/nonexistent/fa2-export")],
            ..FilesConfig::default()
        });
    })
    .await;
    let thread = "1725977300.000900";
    h.interaction(form_click("C0OPS", thread, "en", START, END))
        .await;
    let (_, answer) = wait_answer(&h.fake, thread, 1).await;
    assert!(answer.contains("Not available"), "{answer}");
    assert!(answer.contains("/nonexistent/fa2-export"), "{answer}");
    assert!(
        answer.contains("RevokeSecurityGroupIngress"),
        "what worked is still used"
    );

    // an analysis that cannot run at all ends with a clear message too
    let job = AnalysisJob {
        id: "deadbeef".into(),
        channel: "C0OPS".into(),
        thread_ts: Some("1725977300.000950".into()),
        user: Some("U0ALICE".into()),
        description: "x".into(),
        start: chrono::Utc::now(),
        end: chrono::Utc::now() - chrono::Duration::minutes(5),
        language: Language::En,
        timezone: "UTC".into(),
        trigger: Trigger::Rerun,
        alarm: None,
    };
    h.service.dispatcher.dispatch(job).await.unwrap();
    let calls = h
        .fake
        .wait_for(WAIT, |c| {
            in_thread(c, "chat.postMessage", "1725977300.000950").len() >= 2
        })
        .await;
    let texts: String = in_thread(&calls, "chat.postMessage", "1725977300.000950")
        .iter()
        .map(|c| message_text(c))
        .collect();
    assert!(texts.contains("The analysis failed"), "{texts}");
    assert!(texts.contains("is not before end"), "{texts}");
    assert!(texts.contains("What still worked"), "{texts}");
}

#[tokio::test]
async fn concurrency_limit_is_polite_and_shutdown_finishes_running_analyses() {
    let mut h = harness_with(
        |c| c.slack.max_concurrent = 1,
        vec![Arc::new(SlowSource(Duration::from_millis(1500)))],
    )
    .await;
    let first = "1725977300.000100";
    h.interaction(form_click("C0OPS", first, "en", START, END))
        .await;
    h.fake
        .wait_for(WAIT, |c| {
            !in_thread(c, "chat.postMessage", first).is_empty()
        })
        .await;
    // a second analysis while the first runs: refused politely, nothing started
    let second = "1725977300.000200";
    h.interaction(form_click(
        "C0OPS",
        second,
        "en",
        ("2024-09-10", "23:06"),
        END,
    ))
    .await;
    let calls = h
        .fake
        .wait_for(WAIT, |c| c.iter().any(|x| x.method == "chat.postEphemeral"))
        .await;
    let refusal = calls_to(&calls, "chat.postEphemeral")[0];
    assert!(
        message_text(refusal).contains("as many analyses as it may"),
        "{}",
        message_text(refusal)
    );
    assert_eq!(refusal.params["thread_ts"], second);
    // shutting down while the first runs: the server returns only after it has answered
    h.shutdown.take().unwrap().send(()).unwrap();
    let server = std::mem::replace(&mut h.server, tokio::spawn(async { Ok(()) }));
    server.await.unwrap().unwrap();
    let calls = h.fake.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.method == "files.completeUploadExternal" && c.params["thread_ts"] == first),
        "the running analysis finished before shutdown"
    );
    assert!(in_thread(&calls, "chat.postMessage", second).is_empty());
}

/// Writes `request` on a new connection, then sends nothing more; returns what the server
/// wrote and how long after the write it closed the connection (panics if it is still open
/// after 20 s).
async fn stall(url: &str, request: &[u8]) -> (String, Duration) {
    let mut stream = TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let written = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the connection is still open after 20 s; the server wrote: {}",
                String::from_utf8_lossy(&answer)
            ),
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
        }
    }
    (
        String::from_utf8_lossy(&answer).into_owned(),
        written.elapsed(),
    )
}

#[tokio::test]
async fn stalled_and_idle_connections_are_closed() {
    let limit = Duration::from_millis(200);
    let h = harness(|c| {
        c.slack.header_timeout = HumanDuration(limit);
        c.slack.body_timeout = HumanDuration(limit);
    })
    .await;
    // half a request head, then silence: closed, no answer
    let (answer, closed) = stall(
        &h.url,
        b"POST /slack/events HTTP/1.1\r\nHost: fa2\r\nX-Slack-Request-Timest",
    )
    .await;
    assert!(answer.is_empty(), "{answer}");
    assert!(closed >= limit / 2, "closed after {closed:?}");
    // a whole head and half the body: a bare 408, then closed
    let (answer, closed) = stall(
        &h.url,
        b"POST /slack/events HTTP/1.1\r\nHost: fa2\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"type\":",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n"), "no body: {answer}");
    assert!(closed >= limit / 2, "closed after {closed:?}");
    // a complete request on a keep-alive connection, then idle: answered, then closed
    let (answer, closed) = stall(&h.url, b"GET /healthz HTTP/1.1\r\nHost: fa2\r\n\r\n").await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"),
        "{answer}"
    );
    assert!(closed >= limit / 2, "closed after {closed:?}");
    // clients that send their requests are served as before
    let body = r#"{"type":"url_verification","challenge":"still-here"}"#;
    let r = h.signed(body, "application/json", &[]).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, r#"{"challenge":"still-here"}"#)
    );
    assert!(h.fake.calls().is_empty());
}

/// A raw HTTP answer.
#[derive(Debug)]
struct RawAnswer {
    status: String,
    /// Header names, lowercase, without `date`.
    headers: Vec<String>,
    body: String,
}

/// Sends `head` and then `body` (written by another task, so that an early answer can be
/// read while the body is still going out), and reads the answer until the server closes.
async fn exchange(url: &str, head: String, body: Vec<u8>) -> RawAnswer {
    let stream = TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        // the server may stop reading and close: write errors are expected then
        if write.write_all(head.as_bytes()).await.is_ok() {
            let _ = write.write_all(&body).await;
        }
        write
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), read.read(&mut buf)).await {
            Err(_) => panic!("no end of the answer within 20 s"),
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
        }
    }
    writer.abort();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("").to_string();
    let mut headers: Vec<String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, _)| k.trim().to_ascii_lowercase())
        .filter(|k| k != "date")
        .collect();
    headers.sort();
    RawAnswer {
        status,
        headers,
        body: body.to_string(),
    }
}

#[tokio::test]
async fn an_oversized_body_gets_the_bare_401_of_a_bad_signature() {
    let h = harness(|_| {}).await;
    let head = |extra: &str| {
        format!(
            "POST /slack/events HTTP/1.1\r\nHost: fa2\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}\r\n"
        )
    };
    let now = chrono::Utc::now().timestamp();
    let signed = |body: &[u8]| {
        format!(
            "X-Slack-Request-Timestamp: {now}\r\nX-Slack-Signature: {}\r\n",
            sign(SECRET, now, std::str::from_utf8(body).unwrap())
        )
    };
    // the reference: a small body with a bad signature
    let small = br#"{"type":"url_verification","challenge":"x"}"#.to_vec();
    let bad = exchange(
        &h.url,
        head(&format!(
            "Content-Length: {}\r\nX-Slack-Request-Timestamp: {now}\r\nX-Slack-Signature: {}\r\n",
            small.len(),
            sign("another-secret", now, std::str::from_utf8(&small).unwrap())
        )),
        small,
    )
    .await;
    assert_eq!(bad.status, "HTTP/1.1 401 Unauthorized");
    assert!(bad.body.is_empty(), "{bad:?}");
    // 2 MiB, a well-formed url_verification otherwise
    let mut big = br#"{"type":"url_verification","challenge":""#.to_vec();
    big.resize(2 << 20, b'a');
    big.extend_from_slice(br#""}"#);
    let length = format!("Content-Length: {}\r\n", big.len());
    let mut chunked = Vec::new();
    for piece in big.chunks(64 << 10) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let cases = [
        ("declared, unsigned", head(&length), big.clone()),
        // the server cannot check what it does not read: a signature does not help
        (
            "declared, signed",
            head(&format!("{length}{}", signed(&big))),
            big.clone(),
        ),
        (
            "chunked, signed",
            head(&format!("Transfer-Encoding: chunked\r\n{}", signed(&big))),
            chunked,
        ),
    ];
    for (case, head, body) in cases {
        let answer = exchange(&h.url, head, body).await;
        assert_eq!(answer.status, bad.status, "{case}");
        assert_eq!(answer.headers, bad.headers, "{case}");
        assert_eq!(answer.body, bad.body, "{case}");
    }
    // a body of exactly the limit is read and checked as usual
    let mut fits = br#"{"type":"url_verification","challenge":""#.to_vec();
    fits.resize((1 << 20) - 2, b'a');
    fits.extend_from_slice(br#""}"#);
    let r = h
        .signed(std::str::from_utf8(&fits).unwrap(), "application/json", &[])
        .await;
    assert_eq!(r.status, 200);
    assert!(h.fake.calls().is_empty());
}

#[tokio::test]
async fn refused_analyses_do_not_use_the_channel_quota() {
    // three analyses per channel per hour, one at a time; the first one is held running
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let h = harness_with(
        |c| {
            c.slack.max_concurrent = 1;
            c.slack.channel_rate_limit = 3;
        },
        vec![Arc::new(GateSource(gate.clone()))],
    )
    .await;
    let busy = |calls: &[Call]| {
        calls
            .iter()
            .filter(|c| {
                c.method == "chat.postEphemeral"
                    && message_text(c).contains("as many analyses as it may")
            })
            .count()
    };
    let uploads = |calls: &[Call]| {
        calls
            .iter()
            .filter(|c| c.method == "files.completeUploadExternal")
            .count()
    };
    let quick = |r: &Reply| -> String {
        let v: Value = serde_json::from_str(&r.body).unwrap();
        v["text"].as_str().unwrap().to_string()
    };
    // a burst of three: all admitted, one runs, two are refused as busy
    for i in 0..3 {
        let r = h.command("C0OPS", "U0ALICE", &format!("burst {i}")).await;
        assert!(quick(&r).contains("last 30 minutes"), "{}", r.body);
    }
    h.fake.wait_for(WAIT, |c| busy(c) == 2).await;
    gate.add_permits(1);
    h.fake.wait_for(WAIT, |c| uploads(c) == 1).await;
    // one analysis ran: the channel has two left this hour
    for i in 0..2 {
        let r = h.command("C0OPS", "U0ALICE", &format!("after {i}")).await;
        assert!(quick(&r).contains("last 30 minutes"), "{}", r.body);
        h.fake.wait_for(WAIT, |c| uploads(c) == 2 + i).await;
    }
    let r = h.command("C0OPS", "U0ALICE", "one too many").await;
    assert!(
        quick(&r).contains("limit of analyses for the hour"),
        "{}",
        r.body
    );
    // no busy refusal after the burst, and every started analysis answered
    let calls = h.fake.calls();
    assert_eq!(busy(&calls), 2);
    assert_eq!(uploads(&calls), 3);
}
