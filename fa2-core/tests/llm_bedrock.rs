#![cfg(feature = "aws")]
//! Tests of the Bedrock backend (`fa2_core::llm::bedrock`) through the real
//! `aws-sdk-bedrockruntime` client. moto does not implement Bedrock Runtime's Converse, so the
//! SDK is pointed at a small local HTTP/1.1 server that records each request and answers in
//! Bedrock's wire format: JSON bodies for `POST /model/{id}/converse`, AWS event-stream
//! frames (prelude, headers, payload, CRC32s) for `POST /model/{id}/converse-stream`, and
//! `x-amzn-errortype` errors.

#![allow(clippy::unwrap_used)]

use aws_sdk_bedrockruntime::config::Credentials;
use chrono::{TimeZone, Utc};
use fa2_core::error::LlmError;
use fa2_core::llm::answer::{ANSWER_NAME, analysis_schema};
use fa2_core::llm::bedrock::{BedrockBackend, BedrockOptions, ToolMode};
use fa2_core::llm::{Confidence, LlmBackend, LlmRequest};
use fa2_core::request::{Language, Window};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

/// A piece of a scripted answer body.
enum Part {
    /// Written (and flushed) as one TCP write.
    Bytes(Vec<u8>),
    /// Waits up to 5 s for the client to signal, and records whether it did; the rest of the
    /// body follows either way.
    WaitFor(Arc<Notify>, Arc<AtomicBool>),
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    parts: Vec<Part>,
}

/// A request as the server received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Server {
    endpoint: String,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    async fn start(replies: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (r, s) = (replies.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, r.clone(), s.clone()));
            }
        });
        Server {
            endpoint,
            replies,
            seen,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn unused_replies(&self) -> usize {
        self.replies.lock().unwrap().len()
    }

    /// SDK configuration pointing Bedrock Runtime at this server, with static test
    /// credentials (requests are SigV4-signed as for the real service).
    async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-west-2"))
            .credentials_provider(Credentials::new(
                "AKIATESTTESTTESTTEST",
                "testsecret",
                None,
                None,
                "fa2-tests",
            ))
            .load()
            .await
    }

    async fn backend(&self, options: BedrockOptions) -> BedrockBackend {
        BedrockBackend::new(&self.sdk_config().await, options).unwrap()
    }
}

/// Serves one request per connection (`Connection: close`), as HTTP/1.1 allows.
async fn serve(
    mut conn: TcpStream,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or("").split_whitespace();
    let method = request_line.next().unwrap_or("").to_string();
    let path = request_line.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .expect("the SDK sends Content-Length for Converse bodies");
    while buf.len() < head_end + length {
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or(Value::Null);
    seen.lock().unwrap().push(Seen {
        method,
        path,
        headers,
        body,
    });
    let reply = replies.lock().unwrap().pop_front().unwrap_or_else(|| {
        error(
            500,
            "InternalServerException",
            "the test server has no reply scripted for this request",
        )
    });
    let length: usize = reply
        .parts
        .iter()
        .map(|p| match p {
            Part::Bytes(b) => b.len(),
            Part::WaitFor(..) => 0,
        })
        .sum();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {length}\r\nConnection: close\r\nx-amzn-RequestId: 6f1b2c3d-0000-4000-8000-000000000000\r\nDate: Fri, 16 Aug 2024 11:50:00 GMT\r\n",
        reply.status,
        reason(reply.status)
    );
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    if conn.write_all(out.as_bytes()).await.is_err() {
        return;
    }
    for part in reply.parts {
        match part {
            Part::Bytes(b) => {
                if conn.write_all(&b).await.is_err() || conn.flush().await.is_err() {
                    return;
                }
            }
            Part::WaitFor(notify, flag) => {
                if tokio::time::timeout(Duration::from_secs(5), notify.notified())
                    .await
                    .is_ok()
                {
                    flag.store(true, Ordering::SeqCst);
                }
            }
        }
    }
    let _ = conn.shutdown().await;
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn json_reply(status: u16, headers: Vec<(String, String)>, body: &Value) -> Reply {
    let mut headers = headers;
    headers.push(("Content-Type".into(), "application/json".into()));
    Reply {
        status,
        headers,
        parts: vec![Part::Bytes(body.to_string().into_bytes())],
    }
}

/// An error as Bedrock sends it: the type in `x-amzn-errortype` (with the Coral namespace
/// after the colon) and `{"message": ...}`.
fn error(status: u16, kind: &str, message: &str) -> Reply {
    json_reply(
        status,
        vec![(
            "x-amzn-errortype".into(),
            format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        )],
        &json!({ "message": message }),
    )
}

/// A `Converse` answer with the given content blocks.
fn converse(content: Value, stop: &str) -> Reply {
    json_reply(
        200,
        Vec::new(),
        &json!({
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": {"inputTokens": 812, "outputTokens": 236, "totalTokens": 1048},
            "metrics": {"latencyMs": 2145}
        }),
    )
}

fn tool_use(input: &Value) -> Value {
    json!([{"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": ANSWER_NAME, "input": input}}])
}

fn answer() -> Value {
    json!({
        "summary": "Writes to the orders table were throttled after its capacity was cut [E2].",
        "impact": "12% of checkout requests failed with 5xx for 9 minutes",
        "hypotheses": [{
            "title": "UpdateTable lowered the write capacity",
            "confidence": "high",
            "evidence": ["E2", "[E1]"],
            "explanation": "ProvisionedThroughputExceededException starts 20 s after UpdateTable"
        }],
        "timeline": [{"time": "2024-08-16T11:19:29Z", "event": "UpdateTable", "evidence": ["E2"]}],
        "actions": ["Restore the write capacity"],
        "prevention": ["Alarm on throttled writes"]
    })
}

// ---- AWS event-stream framing ----

/// CRC32 (IEEE 802.3, reflected polynomial 0xEDB88320), as the event-stream format uses.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// One event-stream message: prelude (total length, headers length, prelude CRC), string
/// headers (type 7), payload, message CRC.
fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(u8::try_from(name.len()).unwrap());
        h.extend_from_slice(name.as_bytes());
        h.push(7);
        h.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let total = u32::try_from(12 + h.len() + payload.len() + 4).unwrap();
    let mut out = Vec::new();
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&u32::try_from(h.len()).unwrap().to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let message_crc = crc32(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

/// A ConverseStream event; `p` is the padding field Bedrock adds to hide payload sizes.
fn event(kind: &str, mut payload: Value) -> Vec<u8> {
    payload["p"] = json!("abcdefghijklmnopqrstu");
    frame(
        &[
            (":event-type", kind),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

/// An exception inside the stream (after HTTP 200).
fn stream_exception(kind: &str, message: &str) -> Vec<u8> {
    frame(
        &[
            (":exception-type", kind),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        json!({ "message": message }).to_string().as_bytes(),
    )
}

fn stream_reply(parts: Vec<Part>) -> Reply {
    Reply {
        status: 200,
        headers: vec![(
            "Content-Type".into(),
            "application/vnd.amazon.eventstream".into(),
        )],
        parts,
    }
}

fn metadata() -> Vec<u8> {
    event(
        "metadata",
        json!({"usage": {"inputTokens": 812, "outputTokens": 236, "totalTokens": 1048}, "metrics": {"latencyMs": 2145}}),
    )
}

fn request() -> LlmRequest {
    let t = |h, m| Utc.with_ymd_and_hms(2024, 8, 16, h, m, 0).unwrap();
    LlmRequest {
        system: "You are an SRE. Report the root cause with the report_root_cause tool.".into(),
        user: "<evidence>E1 ProvisionedThroughputExceededException ... E2 UpdateTable</evidence>"
            .into(),
        language: Language::En,
        max_output_tokens: 1234,
        evidence: Arc::new(Vec::new()),
        window: Window {
            start: t(11, 19),
            end: t(11, 49),
            baseline_start: t(10, 19),
            baseline_end: t(11, 19),
        },
    }
}

fn options() -> BedrockOptions {
    BedrockOptions {
        model_id: MODEL.into(),
        timeout: Duration::from_secs(30),
        ..Default::default()
    }
}

#[test]
fn crc32_matches_the_ieee_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

#[tokio::test]
async fn forced_tool_call_request_and_parsed_answer() {
    let server = Server::start(vec![converse(tool_use(&answer()), "tool_use")]).await;
    let backend = server.backend(options()).await;
    assert_eq!(backend.name(), "bedrock");
    assert_eq!(backend.model(), MODEL);
    assert_eq!(backend.context_window(), 200_000);

    let r = backend.complete(request()).await.unwrap();
    assert!(!r.truncated);
    assert_eq!(r.model, MODEL);
    assert!(r.analysis.summary.starts_with("Writes to the orders table"));
    assert_eq!(r.analysis.hypotheses.len(), 1);
    assert_eq!(r.analysis.hypotheses[0].confidence, Confidence::High);
    assert_eq!(r.analysis.hypotheses[0].evidence, vec!["E2", "E1"]);
    assert!(r.analysis.timeline[0].time.is_some());
    assert_eq!(r.analysis.actions, vec!["Restore the write capacity"]);

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.method, "POST");
    // The model id is a path label: the SDK percent-encodes its `:`.
    assert_eq!(
        req.path,
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    );
    assert!(
        req.header("authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=AKIATESTTESTTESTTEST/")
    );
    assert!(
        req.header("authorization")
            .unwrap()
            .contains("/us-west-2/bedrock/aws4_request")
    );
    let b = &req.body;
    assert_eq!(b["system"], json!([{"text": request().system}]));
    assert_eq!(b["messages"][0]["role"], "user");
    assert_eq!(b["messages"][0]["content"][0]["text"], request().user);
    assert_eq!(b["inferenceConfig"]["maxTokens"], 1234);
    assert_eq!(b["inferenceConfig"]["temperature"].as_f64(), Some(0.0));
    assert_eq!(
        b["toolConfig"]["toolChoice"],
        json!({"tool": {"name": ANSWER_NAME}})
    );
    let spec = &b["toolConfig"]["tools"][0]["toolSpec"];
    assert_eq!(spec["name"], ANSWER_NAME);
    assert!(!spec["description"].as_str().unwrap().is_empty());
    assert_eq!(spec["inputSchema"]["json"], analysis_schema());
}

#[tokio::test]
async fn text_answer_is_parsed_with_the_fallback() {
    let text = format!(
        "Here is the analysis:\n```json\n{}\n```",
        serde_json::to_string_pretty(&answer()).unwrap()
    );
    let server = Server::start(vec![
        converse(json!([{ "text": text }]), "end_turn"),
        converse(
            json!([{"text": "The table was throttled [E2]."}]),
            "end_turn",
        ),
    ])
    .await;
    let backend = server
        .backend(BedrockOptions {
            use_tools: false,
            ..options()
        })
        .await;
    assert_eq!(backend.tool_mode(false), ToolMode::Off);
    let r = backend.complete(request()).await.unwrap();
    assert_eq!(
        r.analysis.hypotheses[0].title,
        "UpdateTable lowered the write capacity"
    );
    assert!(!r.truncated);
    // Prose without JSON is kept whole as the summary.
    let r = backend.complete(request()).await.unwrap();
    assert_eq!(r.analysis.summary, "The table was throttled [E2].");
    assert!(r.analysis.hypotheses.is_empty());
    for req in server.seen() {
        assert!(req.body.get("toolConfig").is_none(), "{:?}", req.body);
    }
}

#[tokio::test]
async fn model_without_tool_use_is_asked_again_without_tools_and_it_is_remembered() {
    let text = answer().to_string();
    let server = Server::start(vec![
        error(
            400,
            "ValidationException",
            "This model doesn't support tool use.",
        ),
        converse(json!([{ "text": text }]), "end_turn"),
        converse(json!([{ "text": text }]), "end_turn"),
    ])
    .await;
    let backend = server.backend(options()).await;
    let r = backend.complete(request()).await.unwrap();
    assert_eq!(r.analysis.hypotheses.len(), 1);
    assert_eq!(backend.tool_mode(false), ToolMode::Off);
    assert_eq!(backend.tool_mode(true), ToolMode::Off);
    backend.complete(request()).await.unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen[0].body.get("toolConfig").is_some());
    assert!(seen[1].body.get("toolConfig").is_none());
    // The second call skips the failing shape.
    assert!(seen[2].body.get("toolConfig").is_none());
}

#[tokio::test]
async fn model_rejecting_forced_tool_choice_gets_auto_choice() {
    let server = Server::start(vec![
        error(
            400,
            "ValidationException",
            "This model doesn't support the toolConfig.toolChoice.tool field. Remove toolConfig.toolChoice.tool and try again.",
        ),
        converse(tool_use(&answer()), "tool_use"),
    ])
    .await;
    let backend = server.backend(options()).await;
    let r = backend.complete(request()).await.unwrap();
    assert_eq!(r.analysis.hypotheses.len(), 1);
    assert_eq!(backend.tool_mode(false), ToolMode::Auto);
    let seen = server.seen();
    assert_eq!(
        seen[1].body["toolConfig"]["toolChoice"],
        json!({"auto": {}})
    );
    assert_eq!(
        seen[1].body["toolConfig"]["tools"][0]["toolSpec"]["name"],
        ANSWER_NAME
    );
}

#[tokio::test]
async fn throttling_twice_then_success() {
    let server = Server::start(vec![
        error(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        ),
        error(
            503,
            "ServiceUnavailableException",
            "Bedrock is unable to process your request.",
        ),
        converse(tool_use(&answer()), "tool_use"),
    ])
    .await;
    let backend = server.backend(options()).await;
    let started = Instant::now();
    let r = backend.complete(request()).await.unwrap();
    assert_eq!(r.analysis.hypotheses.len(), 1);
    assert_eq!(server.seen().len(), 3);
    // Backoff: at least half of 500 ms, then half of 1 s.
    assert!(
        started.elapsed() >= Duration::from_millis(750),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn persistent_server_error_fails_after_the_retries() {
    let server = Server::start(
        (0..5)
            .map(|_| {
                error(
                    500,
                    "InternalServerException",
                    "An internal server error occurred.",
                )
            })
            .collect(),
    )
    .await;
    let backend = server
        .backend(BedrockOptions {
            max_retries: 2,
            ..options()
        })
        .await;
    let err = backend.complete(request()).await.unwrap_err();
    let LlmError::Request(m) = &err else {
        panic!("expected a request error, got {err:?}")
    };
    assert!(m.contains("InternalServerException"), "{m}");
    assert!(m.contains("gave up after 2 retries"), "{m}");
    assert_eq!(server.seen().len(), 3);
    assert_eq!(server.unused_replies(), 2);
}

#[tokio::test]
async fn retries_stop_at_the_timeout() {
    let server = Server::start(
        (0..20)
            .map(|_| error(503, "ServiceUnavailableException", "unavailable"))
            .collect(),
    )
    .await;
    let backend = server
        .backend(BedrockOptions {
            max_retries: 20,
            timeout: Duration::from_millis(1500),
            ..options()
        })
        .await;
    let started = Instant::now();
    let err = backend.complete(request()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, LlmError::Request(m) if m.contains("no time left"))
            || matches!(err, LlmError::Timeout(_)),
        "{err:?}"
    );
    assert!(server.seen().len() < 6);
}

#[tokio::test]
async fn max_tokens_stop_marks_the_answer_truncated() {
    let text = r#"{"summary": "Writes were throttled [E2]", "impact": "5xx", "hypotheses": [{"title": "Capacity cut", "confidence": "high", "evidence": ["E2"], "explanation": "UpdateTable"}, {"title": "Sec"#;
    let server = Server::start(vec![
        converse(tool_use(&answer()), "max_tokens"),
        converse(json!([{ "text": text }]), "max_tokens"),
    ])
    .await;
    let backend = server.backend(options()).await;
    let r = backend.complete(request()).await.unwrap();
    assert!(r.truncated);
    assert_eq!(r.analysis.hypotheses.len(), 1);
    // A text answer cut mid-hypothesis keeps the complete ones.
    let r = backend.complete(request()).await.unwrap();
    assert!(r.truncated);
    assert_eq!(r.analysis.summary, "Writes were throttled [E2]");
    assert_eq!(r.analysis.hypotheses.len(), 1);
    assert_eq!(r.analysis.hypotheses[0].title, "Capacity cut");
}

#[tokio::test]
async fn guardrail_and_content_filter_stops_are_errors() {
    let server = Server::start(vec![
        converse(
            json!([{"text": "Sorry, the model cannot answer this."}]),
            "guardrail_intervened",
        ),
        converse(json!([]), "content_filtered"),
    ])
    .await;
    let backend = server.backend(options()).await;
    let err = backend.complete(request()).await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Request(m) if m.contains("guardrail")),
        "{err:?}"
    );
    let err = backend.complete(request()).await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Request(m) if m.contains("content filter")),
        "{err:?}"
    );
}

#[tokio::test]
async fn context_overflow_is_reported_for_the_pipeline_to_shrink() {
    let server = Server::start(vec![
        error(
            400,
            "ValidationException",
            "Input is too long for requested model.",
        ),
        error(
            400,
            "ValidationException",
            "prompt is too long: 214112 tokens > 200000 maximum",
        ),
    ])
    .await;
    let backend = server.backend(options()).await;
    for _ in 0..2 {
        let err = backend.complete(request()).await.unwrap_err();
        assert!(err.is_context_overflow(), "{err:?}");
        assert!(err.to_string().contains("too long"), "{err}");
    }
    // Not retried, and tools were not blamed.
    assert_eq!(server.seen().len(), 2);
    assert_eq!(backend.tool_mode(false), ToolMode::Forced);
}

#[tokio::test]
async fn other_validation_errors_fail_at_once() {
    let server = Server::start(vec![error(
        400,
        "ValidationException",
        "The provided model identifier is invalid.",
    )])
    .await;
    let backend = server.backend(options()).await;
    let err = backend.complete(request()).await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Request(m) if m.contains("ValidationException") && m.contains("model identifier is invalid")),
        "{err:?}"
    );
    assert!(!err.is_context_overflow());
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn streaming_delivers_deltas_in_order_and_parses_at_message_stop() {
    let input = answer().to_string();
    // The tool input split at arbitrary points, as models stream it.
    let pieces: Vec<String> = {
        let cut = [0, 7, 30, 31, 90, input.len()];
        cut.windows(2)
            .map(|w| input[w[0]..w[1]].to_string())
            .collect()
    };
    let first_seen = Arc::new(Notify::new());
    let streamed = Arc::new(AtomicBool::new(false));
    let mut parts = vec![
        Part::Bytes(event("messageStart", json!({"role": "assistant"}))),
        Part::Bytes(event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Looking at the "}}),
        )),
        // The server holds the rest back until the client has shown the first delta.
        Part::WaitFor(first_seen.clone(), streamed.clone()),
        Part::Bytes(event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "evidence."}}),
        )),
        Part::Bytes(event("contentBlockStop", json!({"contentBlockIndex": 0}))),
        Part::Bytes(event(
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": ANSWER_NAME}}}),
        )),
    ];
    for p in &pieces {
        parts.push(Part::Bytes(event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": p}}}),
        )));
    }
    parts.push(Part::Bytes(event(
        "contentBlockStop",
        json!({"contentBlockIndex": 1}),
    )));
    parts.push(Part::Bytes(event(
        "messageStop",
        json!({"stopReason": "tool_use"}),
    )));
    parts.push(Part::Bytes(metadata()));
    let server = Server::start(vec![stream_reply(parts)]).await;
    let backend = server.backend(options()).await;

    let mut deltas: Vec<String> = Vec::new();
    let notify = first_seen.clone();
    let mut on_delta = |d: &str| {
        if deltas.is_empty() {
            notify.notify_one();
        }
        deltas.push(d.to_string());
    };
    let r = backend.stream(request(), &mut on_delta).await.unwrap();
    assert!(
        streamed.load(Ordering::SeqCst),
        "the first delta was not shown before the rest arrived"
    );
    let mut expected = vec!["Looking at the ".to_string(), "evidence.".to_string()];
    expected.extend(pieces.iter().cloned());
    assert_eq!(deltas, expected);
    assert!(!r.truncated);
    assert_eq!(r.analysis.hypotheses[0].evidence, vec!["E2", "E1"]);
    assert!(r.analysis.summary.starts_with("Writes to the orders table"));

    let seen = server.seen();
    assert_eq!(
        seen[0].path,
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream"
    );
    assert_eq!(
        seen[0].body["toolConfig"]["toolChoice"],
        json!({"tool": {"name": ANSWER_NAME}})
    );
    assert_eq!(seen[0].body["inferenceConfig"]["maxTokens"], 1234);
}

#[tokio::test]
async fn streaming_cut_by_max_tokens_keeps_what_arrived() {
    // Fields in the order models write them; cut inside the second hypothesis.
    let input = r#"{"summary": "Writes were throttled after the capacity cut [E2]", "impact": "5xx", "hypotheses": [{"title": "Capacity cut", "confidence": "high", "evidence": ["E2"], "explanation": "UpdateTable"}, {"title": "Hot partition", "confidence": "me"#;
    let cut = input.len() / 2;
    let server = Server::start(vec![stream_reply(vec![
        Part::Bytes(event("messageStart", json!({"role": "assistant"}))),
        Part::Bytes(event(
            "contentBlockStart",
            json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": ANSWER_NAME}}}),
        )),
        Part::Bytes(event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": &input[..cut]}}}),
        )),
        Part::Bytes(event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": &input[cut..]}}}),
        )),
        Part::Bytes(event("contentBlockStop", json!({"contentBlockIndex": 0}))),
        Part::Bytes(event("messageStop", json!({"stopReason": "max_tokens"}))),
        Part::Bytes(metadata()),
    ])])
    .await;
    let backend = server.backend(options()).await;
    let mut n = 0;
    let r = backend
        .stream(request(), &mut |_: &str| n += 1)
        .await
        .unwrap();
    assert!(r.truncated);
    assert_eq!(n, 2);
    assert_eq!(
        r.analysis.summary,
        "Writes were throttled after the capacity cut [E2]"
    );
    assert_eq!(r.analysis.hypotheses.len(), 1);
    assert_eq!(r.analysis.hypotheses[0].title, "Capacity cut");
}

#[tokio::test]
async fn streaming_text_answer_and_in_stream_throttling_retry() {
    let text = answer().to_string();
    let (a, b) = text.split_at(40);
    let server = Server::start(vec![
        // Throttled inside the event stream, before any delta: the call starts over.
        stream_reply(vec![
            Part::Bytes(event("messageStart", json!({"role": "assistant"}))),
            Part::Bytes(stream_exception(
                "throttlingException",
                "Too many tokens, please wait.",
            )),
        ]),
        stream_reply(vec![
            Part::Bytes(event("messageStart", json!({"role": "assistant"}))),
            Part::Bytes(event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": a}}),
            )),
            Part::Bytes(event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": b}}),
            )),
            Part::Bytes(event("contentBlockStop", json!({"contentBlockIndex": 0}))),
            Part::Bytes(event("messageStop", json!({"stopReason": "end_turn"}))),
            Part::Bytes(metadata()),
        ]),
    ])
    .await;
    let backend = server
        .backend(BedrockOptions {
            use_tools: false,
            ..options()
        })
        .await;
    let mut got = String::new();
    let r = backend
        .stream(request(), &mut |d: &str| got.push_str(d))
        .await
        .unwrap();
    assert_eq!(got, text);
    assert_eq!(r.analysis.hypotheses.len(), 1);
    assert_eq!(server.seen().len(), 2);
    assert!(server.seen()[1].body.get("toolConfig").is_none());
}

#[tokio::test]
async fn streaming_without_tool_use_support_falls_back_only_for_streams() {
    let text = answer().to_string();
    let server = Server::start(vec![
        error(
            400,
            "ValidationException",
            "This model doesn't support tool use in streaming mode.",
        ),
        stream_reply(vec![
            Part::Bytes(event("messageStart", json!({"role": "assistant"}))),
            Part::Bytes(event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": text}}),
            )),
            Part::Bytes(event("messageStop", json!({"stopReason": "end_turn"}))),
        ]),
    ])
    .await;
    let backend = server.backend(options()).await;
    let r = backend.stream(request(), &mut |_: &str| {}).await.unwrap();
    assert_eq!(r.analysis.hypotheses.len(), 1);
    assert_eq!(backend.tool_mode(true), ToolMode::Off);
    assert_eq!(backend.tool_mode(false), ToolMode::Forced);
    assert!(server.seen()[1].body.get("toolConfig").is_none());
}

#[tokio::test]
async fn inference_profile_ids_reach_the_url_path_unchanged() {
    let arn = "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/a1b2c3d4e5f6";
    let server = Server::start(vec![
        converse(tool_use(&answer()), "tool_use"),
        converse(tool_use(&answer()), "tool_use"),
    ])
    .await;
    for id in ["global.anthropic.claude-sonnet-4-6", arn] {
        let backend = server
            .backend(BedrockOptions {
                model_id: id.into(),
                ..options()
            })
            .await;
        let r = backend.complete(request()).await.unwrap();
        assert_eq!(r.model, id);
    }
    let seen = server.seen();
    assert_eq!(
        seen[0].path,
        "/model/global.anthropic.claude-sonnet-4-6/converse"
    );
    assert_eq!(
        seen[1].path,
        "/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Aapplication-inference-profile%2Fa1b2c3d4e5f6/converse"
    );
}

#[tokio::test]
async fn missing_model_or_region_is_reported_at_construction() {
    let server = Server::start(Vec::new()).await;
    let cfg = server.sdk_config().await;
    let err = BedrockBackend::new(
        &cfg,
        BedrockOptions {
            model_id: " ".into(),
            ..options()
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, LlmError::Unavailable { backend, .. } if backend == "bedrock"),
        "{err:?}"
    );
    let no_region = cfg.into_builder().region(None).build();
    let err = BedrockBackend::new(&no_region, options()).unwrap_err();
    assert!(err.to_string().contains("region"), "{err}");
}
