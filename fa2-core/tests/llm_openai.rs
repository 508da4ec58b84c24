//! Tests of the OpenAI-compatible backend (`fa2_core::llm::openai`) against a small local
//! HTTP/1.1 server that records each request and answers with scripted responses in the
//! real chat-completions wire format (JSON bodies, and Server-Sent Events sent with chunked
//! transfer encoding, split across TCP writes in the middle of lines and characters).

#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use fa2_core::error::LlmError;
use fa2_core::llm::answer::{ANSWER_NAME, analysis_schema};
use fa2_core::llm::openai::{OpenAiBackend, OpenAiOptions, ResponseFormat};
use fa2_core::llm::{Confidence, LlmBackend, LlmRequest};
use fa2_core::request::{Language, Window};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One scripted answer.
#[derive(Clone)]
enum Reply {
    Json {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// `text/event-stream`, one chunked-encoding chunk (and TCP write) per element.
    Sse(Vec<Vec<u8>>),
    /// Reads the request and never answers.
    Hang,
}

fn ok(body: Value) -> Reply {
    Reply::Json {
        status: 200,
        headers: Vec::new(),
        body: body.to_string(),
    }
}

fn err(status: u16, body: Value) -> Reply {
    Reply::Json {
        status,
        headers: Vec::new(),
        body: body.to_string(),
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
    at: Instant,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Server {
    base_url: String,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    /// Serves `replies` in order; the last one repeats.
    async fn start(replies: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let queue = Arc::new(Mutex::new(VecDeque::from(replies)));
        let log2 = log.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(sock, queue.clone(), log2.clone()));
            }
        });
        Server {
            base_url: format!("http://{addr}/v1"),
            log,
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

async fn serve(
    mut sock: TcpStream,
    queue: Arc<Mutex<VecDeque<Reply>>>,
    log: Arc<Mutex<Vec<Recorded>>>,
) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            break p;
        }
        let n = sock.read(&mut tmp).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap().split(' ');
    let method = request_line.next().unwrap().to_string();
    let path = request_line.next().unwrap().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    assert!(
        !headers.iter().any(|(n, _)| n == "transfer-encoding"),
        "the test server expects Content-Length bodies"
    );
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut tmp).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    body.truncate(len);
    log.lock().unwrap().push(Recorded {
        method,
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    });
    let reply = {
        let mut q = queue.lock().unwrap();
        if q.len() > 1 {
            q.pop_front()
        } else {
            q.front().cloned()
        }
    };
    match reply {
        None => {}
        Some(Reply::Json {
            status,
            headers,
            body,
        }) => {
            let mut out = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                reason(status),
                body.len()
            );
            for (n, v) in headers {
                out.push_str(&format!("{n}: {v}\r\n"));
            }
            out.push_str("\r\n");
            out.push_str(&body);
            let _ = sock.write_all(out.as_bytes()).await;
        }
        Some(Reply::Sse(chunks)) => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for c in chunks {
                let mut frame = format!("{:x}\r\n", c.len()).into_bytes();
                frame.extend_from_slice(&c);
                frame.extend_from_slice(b"\r\n");
                if sock.write_all(&frame).await.is_err() {
                    return;
                }
                let _ = sock.flush().await;
                // Separate reads on the client side, not one coalesced buffer.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let _ = sock.write_all(b"0\r\n\r\n").await;
        }
        Some(Reply::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
    let _ = sock.shutdown().await;
}

fn request() -> LlmRequest {
    let t = |h, m| Utc.with_ymd_and_hms(2024, 8, 16, h, m, 0).unwrap();
    LlmRequest {
        system: "You are an SRE. Answer with the report_root_cause JSON.".into(),
        user: "<evidence>E1 ... E2 UpdateTable</evidence>".into(),
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

fn options(server: &Server) -> OpenAiOptions {
    OpenAiOptions {
        base_url: server.base_url.clone(),
        model: "gpt-test".into(),
        timeout: Duration::from_secs(20),
        ..OpenAiOptions::default()
    }
}

fn answer_json() -> Value {
    json!({
        "summary": "Writes to the orders table were throttled after its capacity was cut [E2].",
        "impact": "1,204 HTTP 5xx on /checkout",
        "hypotheses": [
            {"title": "Provisioned write capacity lowered", "confidence": "high", "evidence": ["E2", "E1"], "explanation": "UpdateTable at 11:19 preceded ProvisionedThroughputExceededException."},
            {"title": "Traffic spike", "confidence": "low", "evidence": ["E3"], "explanation": "Requests rose slightly."}
        ],
        "timeline": [{"time": "2024-08-16T11:19:29Z", "event": "UpdateTable", "evidence": ["E2"]}],
        "actions": ["Restore the write capacity"],
        "prevention": ["Alarm on throttled writes"]
    })
}

fn completion(content: &str, finish_reason: &str) -> Value {
    json!({
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1_723_807_200,
        "model": "gpt-test-2025-01-01",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": finish_reason
        }],
        "usage": {"prompt_tokens": 900, "completion_tokens": 300, "total_tokens": 1200}
    })
}

fn chunk(delta: Value, finish_reason: Value) -> Value {
    json!({
        "id": "chatcmpl-abc123",
        "object": "chat.completion.chunk",
        "created": 1_723_807_200,
        "model": "gpt-test-2025-01-01",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]
    })
}

/// The SSE body for `deltas`, cut into TCP writes at irregular byte offsets (so mid-line and
/// mid-character), with a comment line as servers send for keep-alive.
fn sse(deltas: &[&str], finish_reason: &str) -> Reply {
    let mut text = String::from(": OPENROUTER PROCESSING\n\n");
    text.push_str(&format!(
        "data: {}\n\n",
        chunk(json!({"role": "assistant", "content": ""}), Value::Null)
    ));
    for d in deltas {
        text.push_str(&format!(
            "data: {}\n\n",
            chunk(json!({"content": d}), Value::Null)
        ));
    }
    text.push_str(&format!(
        "data: {}\n\n",
        chunk(json!({}), json!(finish_reason))
    ));
    text.push_str("data: [DONE]\n\n");
    let bytes = text.into_bytes();
    let sizes = [7usize, 31, 2, 64, 13, 5, 101];
    let mut chunks = Vec::new();
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at >= bytes.len() {
            break;
        }
        let end = (at + size).min(bytes.len());
        chunks.push(bytes[at..end].to_vec());
        at = end;
    }
    Reply::Sse(chunks)
}

#[tokio::test]
async fn complete_parses_a_json_schema_answer_and_sends_the_expected_request() {
    let server = Server::start(vec![ok(completion(&answer_json().to_string(), "stop"))]).await;
    let backend = OpenAiBackend::new(options(&server)).unwrap();
    assert_eq!(backend.name(), "openai");
    assert_eq!(backend.model(), "gpt-test");
    assert_eq!(backend.context_window(), 128_000);

    let r = backend.complete(request()).await.unwrap();
    assert!(!r.truncated);
    assert_eq!(r.model, "gpt-test-2025-01-01");
    assert!(r.analysis.summary.starts_with("Writes to the orders table"));
    assert_eq!(r.analysis.hypotheses.len(), 2);
    assert_eq!(r.analysis.hypotheses[0].confidence, Confidence::High);
    assert_eq!(r.analysis.hypotheses[0].evidence, vec!["E2", "E1"]);
    assert_eq!(r.analysis.timeline.len(), 1);
    assert!(r.analysis.timeline[0].time.is_some());
    assert_eq!(r.analysis.actions, vec!["Restore the write capacity"]);

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let q = &reqs[0];
    assert_eq!(q.method, "POST");
    assert_eq!(q.path, "/v1/chat/completions");
    assert!(
        q.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(
        q.header("authorization"),
        None,
        "no key, no Authorization header"
    );
    let b = &q.body;
    assert_eq!(b["model"], "gpt-test");
    assert_eq!(b["max_tokens"], 1234);
    assert_eq!(b["temperature"], 0);
    assert!(b.get("stream").is_none());
    assert_eq!(b["messages"][0]["role"], "system");
    assert_eq!(b["messages"][0]["content"], request().system);
    assert_eq!(b["messages"][1]["role"], "user");
    assert_eq!(b["messages"][1]["content"], request().user);
    assert_eq!(b["messages"].as_array().unwrap().len(), 2);
    let rf = &b["response_format"];
    assert_eq!(rf["type"], "json_schema");
    assert_eq!(rf["json_schema"]["name"], ANSWER_NAME);
    assert_eq!(rf["json_schema"]["strict"], true);
    assert_eq!(rf["json_schema"]["schema"], analysis_schema());
}

#[tokio::test]
async fn api_key_is_sent_as_bearer_token() {
    let server = Server::start(vec![ok(completion(&answer_json().to_string(), "stop"))]).await;
    let backend = OpenAiBackend::new(OpenAiOptions {
        api_key: Some("sk-test-123".into()),
        ..options(&server)
    })
    .unwrap();
    backend.complete(request()).await.unwrap();
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer sk-test-123")
    );
    assert!(
        !format!("{backend:?}").contains("sk-test-123"),
        "the key never shows in Debug output"
    );
}

#[tokio::test]
async fn stream_passes_deltas_in_order_and_parses_the_whole_answer() {
    let full = answer_json()
        .to_string()
        .replace("throttled", "throttled (障害)");
    // Deltas of uneven size, some cutting through the multi-byte characters' neighbours.
    let mut deltas: Vec<String> = Vec::new();
    let chars: Vec<char> = full.chars().collect();
    let mut i = 0;
    for size in [1usize, 9, 4, 17, 3].iter().cycle() {
        if i >= chars.len() {
            break;
        }
        let end = (i + size).min(chars.len());
        deltas.push(chars[i..end].iter().collect());
        i = end;
    }
    let refs: Vec<&str> = deltas.iter().map(String::as_str).collect();
    let server = Server::start(vec![sse(&refs, "stop")]).await;
    let backend = OpenAiBackend::new(options(&server)).unwrap();

    let mut seen: Vec<String> = Vec::new();
    let mut on_delta = |d: &str| seen.push(d.to_string());
    let r = backend.stream(request(), &mut on_delta).await.unwrap();

    assert_eq!(seen, deltas, "every delta, in order, none empty");
    assert_eq!(seen.concat(), full);
    assert!(!r.truncated);
    assert_eq!(r.model, "gpt-test-2025-01-01");
    assert!(r.analysis.summary.contains("throttled (障害)"));
    assert_eq!(r.analysis.hypotheses.len(), 2);
    assert_eq!(r.analysis.hypotheses[1].evidence, vec!["E3"]);
    let q = &server.requests()[0];
    assert_eq!(q.body["stream"], true);
    assert_eq!(q.body["response_format"]["type"], "json_schema");
}

#[tokio::test]
async fn finish_reason_length_marks_the_answer_truncated_and_keeps_what_arrived() {
    // In the schema's field order, as models write it (serde_json would sort the keys).
    let full = r#"{"summary": "Writes to the orders table were throttled after its capacity was cut [E2].", "impact": "1,204 HTTP 5xx", "hypotheses": [{"title": "Provisioned write capacity lowered", "confidence": "high", "evidence": ["E2"], "explanation": "UpdateTable preceded the throttling."}, {"title": "Traffic spike", "confidence": "low", "evidence": ["E3"], "explanation": "..."}], "timeline": [], "actions": [], "prevention": []}"#;
    // Cut inside the second hypothesis: the first one is complete.
    let cut = &full[..full.find("Traffic spike").unwrap()];
    let server = Server::start(vec![ok(completion(cut, "length")), sse(&[cut], "length")]).await;
    let backend = OpenAiBackend::new(options(&server)).unwrap();

    let r = backend.complete(request()).await.unwrap();
    assert!(r.truncated);
    assert!(r.analysis.summary.starts_with("Writes to the orders table"));
    assert_eq!(r.analysis.hypotheses.len(), 1);
    assert_eq!(
        r.analysis.hypotheses[0].title,
        "Provisioned write capacity lowered"
    );

    let mut n = 0;
    let r = backend
        .stream(request(), &mut |_d: &str| n += 1)
        .await
        .unwrap();
    assert!(r.truncated);
    assert_eq!(r.analysis.hypotheses.len(), 1);
    assert_eq!(n, 1);
}

#[tokio::test]
async fn throttling_is_retried_after_the_retry_after_delay() {
    let server = Server::start(vec![
        Reply::Json {
            status: 429,
            headers: vec![("Retry-After", "1".into())],
            body: json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"}}).to_string(),
        },
        ok(completion(&answer_json().to_string(), "stop")),
    ])
    .await;
    let backend = OpenAiBackend::new(options(&server)).unwrap();
    let r = backend.complete(request()).await.unwrap();
    assert_eq!(r.analysis.hypotheses.len(), 2);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "one retry");
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_millis(950) && gap < Duration::from_secs(3),
        "Retry-After: 1 honoured, waited {gap:?}"
    );
}

#[tokio::test]
async fn server_errors_fail_after_max_retries() {
    let server = Server::start(vec![err(
        500,
        json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error"}}),
    )])
    .await;
    let backend = OpenAiBackend::new(OpenAiOptions {
        max_retries: 2,
        ..options(&server)
    })
    .unwrap();
    let started = Instant::now();
    let e = backend.complete(request()).await.unwrap_err();
    let LlmError::Request(m) = &e else {
        panic!("expected a request error, got {e:?}")
    };
    assert!(
        m.contains("500") && m.contains("had an error while processing"),
        "{m}"
    );
    assert!(m.contains("2 retries"), "{m}");
    assert_eq!(server.requests().len(), 3, "the first try and two retries");
    // Backoff of 0.25-0.5 s then 0.5-1 s.
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn unreachable_server_is_retried_then_reported() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let backend = OpenAiBackend::new(OpenAiOptions {
        base_url: format!("http://127.0.0.1:{port}/v1"),
        model: "m".into(),
        max_retries: 1,
        timeout: Duration::from_secs(20),
        ..OpenAiOptions::default()
    })
    .unwrap();
    let e = backend.complete(request()).await.unwrap_err();
    let LlmError::Request(m) = &e else {
        panic!("expected a request error, got {e:?}")
    };
    assert!(m.contains("cannot reach") && m.contains("1 retries"), "{m}");
}

#[tokio::test]
async fn rejected_json_schema_is_downgraded_to_json_object_and_remembered() {
    let server = Server::start(vec![
        err(
            400,
            json!({"error": {"message": "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.", "type": "invalid_request_error", "param": "response_format", "code": null}}),
        ),
        ok(completion(&answer_json().to_string(), "stop")),
    ])
    .await;
    let backend = OpenAiBackend::new(options(&server)).unwrap();
    let r = backend.complete(request()).await.unwrap();
    assert_eq!(r.analysis.hypotheses.len(), 2);
    assert_eq!(
        backend.effective_response_format(),
        ResponseFormat::JsonObject
    );

    backend.complete(request()).await.unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].body["response_format"]["type"], "json_schema");
    assert_eq!(
        reqs[1].body["response_format"],
        json!({"type": "json_object"})
    );
    assert_eq!(
        reqs[2].body["response_format"],
        json!({"type": "json_object"}),
        "the downgrade is remembered"
    );
}

#[tokio::test]
async fn a_server_without_any_response_format_gets_none() {
    // llama.cpp-style error bodies: {"error": {"code": 400, "message": ..., "type": ...}}.
    let rejected = |what: &str| {
        err(
            400,
            json!({"error": {"code": 400, "message": format!("Unsupported response_format type: {what}"), "type": "invalid_request_error"}}),
        )
    };
    let server = Server::start(vec![
        rejected("json_schema"),
        rejected("json_object"),
        ok(completion(&answer_json().to_string(), "stop")),
    ])
    .await;
    let backend = OpenAiBackend::new(options(&server)).unwrap();
    let mut seen = String::new();
    // The server ignores `stream` and answers with JSON: the caller still gets the text.
    let r = backend
        .stream(request(), &mut |d: &str| seen.push_str(d))
        .await
        .unwrap();
    assert_eq!(r.analysis.hypotheses.len(), 2);
    assert_eq!(seen, answer_json().to_string());
    assert_eq!(backend.effective_response_format(), ResponseFormat::None);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].body["response_format"]["type"], "json_schema");
    assert_eq!(reqs[1].body["response_format"]["type"], "json_object");
    assert!(reqs[2].body.get("response_format").is_none());
}

#[tokio::test]
async fn reasoning_model_parameters_are_adapted() {
    let server = Server::start(vec![
        err(
            400,
            json!({"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}}),
        ),
        err(
            400,
            json!({"error": {"message": "Unsupported value: 'temperature' does not support 0 with this model. Only the default (1) value is supported.", "type": "invalid_request_error", "param": "temperature", "code": "unsupported_value"}}),
        ),
        ok(completion(&answer_json().to_string(), "stop")),
    ])
    .await;
    let backend = OpenAiBackend::new(options(&server)).unwrap();
    backend.complete(request()).await.unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[1].body["max_completion_tokens"], 1234);
    assert!(reqs[1].body.get("max_tokens").is_none());
    assert!(reqs[2].body.get("temperature").is_none());
    assert_eq!(
        reqs[2].body["response_format"]["type"], "json_schema",
        "the format was not at fault"
    );
}

#[tokio::test]
async fn unauthorized_fails_at_once_with_the_servers_message() {
    let server = Server::start(vec![err(
        401,
        json!({"error": {"message": "Incorrect API key provided: sk-wrong. You can find your API key at https://platform.openai.com/account/api-keys.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
    )])
    .await;
    let backend = OpenAiBackend::new(options(&server)).unwrap();
    let e = backend.complete(request()).await.unwrap_err();
    let LlmError::Request(m) = &e else {
        panic!("expected a request error, got {e:?}")
    };
    assert!(
        m.contains("401") && m.contains("Incorrect API key provided"),
        "{m}"
    );
    assert!(!e.is_context_overflow());
    assert_eq!(server.requests().len(), 1, "no retry on 401");
}

#[tokio::test]
async fn context_overflow_is_reported_as_such() {
    let server = Server::start(vec![err(
        400,
        json!({"error": {"message": "This model's maximum context length is 8192 tokens. However, your messages resulted in 9120 tokens. Please reduce the length of the messages.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}),
    )])
    .await;
    let backend = OpenAiBackend::new(options(&server)).unwrap();
    let e = backend.complete(request()).await.unwrap_err();
    assert!(e.is_context_overflow(), "{e:?}");
    assert!(
        e.to_string().contains("maximum context length is 8192"),
        "{e}"
    );
    assert_eq!(server.requests().len(), 1);
    assert_eq!(
        backend.effective_response_format(),
        ResponseFormat::JsonSchema
    );
}

#[tokio::test]
async fn a_plain_text_answer_is_kept_as_the_summary() {
    let text = "The orders table was throttled after UpdateTable lowered its write capacity [E2].";
    let server = Server::start(vec![ok(completion(text, "stop"))]).await;
    let backend = OpenAiBackend::new(OpenAiOptions {
        response_format: ResponseFormat::None,
        ..options(&server)
    })
    .unwrap();
    let r = backend.complete(request()).await.unwrap();
    assert_eq!(r.analysis.summary, text);
    assert!(r.analysis.hypotheses.is_empty());
    assert!(server.requests()[0].body.get("response_format").is_none());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server = Server::start(vec![Reply::Hang]).await;
    let backend = OpenAiBackend::new(OpenAiOptions {
        timeout: Duration::from_millis(400),
        ..options(&server)
    })
    .unwrap();
    let started = Instant::now();
    let e = backend
        .stream(request(), &mut |_d: &str| {})
        .await
        .unwrap_err();
    assert!(
        matches!(e, LlmError::Timeout(d) if d == Duration::from_millis(400)),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 1, "the request did arrive");
}

#[test]
fn options_without_model_or_url_are_refused() {
    let e = OpenAiBackend::new(OpenAiOptions::default()).unwrap_err();
    assert!(e.to_string().contains("llm.model"), "{e}");
    let e = OpenAiBackend::new(OpenAiOptions {
        base_url: " ".into(),
        model: "m".into(),
        ..OpenAiOptions::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("llm.base_url"), "{e}");
}

#[tokio::test]
async fn an_exhausted_quota_is_not_retried() {
    let server = Server::start(vec![err(
        429,
        json!({"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}),
    )])
    .await;
    let backend = OpenAiBackend::new(options(&server)).unwrap();
    let e = backend.complete(request()).await.unwrap_err();
    assert!(e.to_string().contains("exceeded your current quota"), "{e}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn llama_cpp_context_overflow_is_reported_without_retrying() {
    let server = Server::start(vec![err(
        500,
        json!({"error": {"code": 500, "message": "the request exceeds the available context size, try increasing it", "type": "exceed_context_size_error"}}),
    )])
    .await;
    let backend = OpenAiBackend::new(options(&server)).unwrap();
    let mut n = 0;
    let e = backend
        .stream(request(), &mut |_d: &str| n += 1)
        .await
        .unwrap_err();
    assert!(e.is_context_overflow(), "{e:?}");
    assert_eq!((server.requests().len(), n), (1, 0));
}
