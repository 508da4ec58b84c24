//! The OpenAI-compatible chat-completions backend (`openai`): OpenAI itself, Ollama, vLLM,
//! llama.cpp server and anything else that speaks `POST {base_url}/chat/completions`.
//!
//! Structured output is asked for with a JSON-schema response format; servers that reject it
//! are downgraded to `json_object` and then to no response format at all, and the downgrade is
//! remembered for later calls. Throttling, server errors and broken connections are retried
//! with jittered exponential backoff inside the overall timeout.
//!
//! A prompt that is too long for the model fails at once with [`LlmError::ContextOverflow`]
//! (which [`LlmError::is_context_overflow`] recognises), so the pipeline can shrink the
//! budget; an exhausted quota and other 4xx fail at once with the server's message.

use super::answer::{ANSWER_NAME, analysis_schema, parse_analysis, repair_truncated};
use super::retry::backoff;
use super::{Analysis, LlmBackend, LlmRequest, LlmResponse};
use crate::error::LlmError;
use async_trait::async_trait;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Backend name in configs and reports.
pub const NAME: &str = "openai";

/// Error bodies can be whole HTML pages from a proxy; the report needs only the gist.
const MAX_ERROR_CHARS: usize = 600;

/// How the answer's structure is requested from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseFormat {
    /// `{"type": "json_schema", ...}` with the analysis schema, strict (OpenAI, vLLM, Ollama).
    #[default]
    JsonSchema,
    /// `{"type": "json_object"}`: any JSON object; the prompt describes the shape.
    JsonObject,
    /// No `response_format`: the model answers in text and the lenient parser finds the JSON.
    None,
}

impl ResponseFormat {
    /// The config spelling: `json_schema`, `json_object` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseFormat::JsonSchema => "json_schema",
            ResponseFormat::JsonObject => "json_object",
            ResponseFormat::None => "none",
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            ResponseFormat::JsonSchema => 0,
            ResponseFormat::JsonObject => 1,
            ResponseFormat::None => 2,
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            0 => ResponseFormat::JsonSchema,
            1 => ResponseFormat::JsonObject,
            _ => ResponseFormat::None,
        }
    }

    /// The next weaker format to fall back to when the server rejects this one.
    fn weaker(self) -> Option<Self> {
        match self {
            ResponseFormat::JsonSchema => Some(ResponseFormat::JsonObject),
            ResponseFormat::JsonObject => Some(ResponseFormat::None),
            ResponseFormat::None => None,
        }
    }
}

impl std::str::FromStr for ResponseFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json_schema" | "" => Ok(ResponseFormat::JsonSchema),
            "json_object" => Ok(ResponseFormat::JsonObject),
            "none" => Ok(ResponseFormat::None),
            other => Err(format!(
                "response_format `{other}` is unknown: use json_schema, json_object or none"
            )),
        }
    }
}

/// Settings of [`OpenAiBackend`]; the CLI maps the `[llm]` config keys onto it.
#[derive(Clone)]
pub struct OpenAiOptions {
    /// API root without `/chat/completions`: `https://api.openai.com/v1` (default),
    /// `http://127.0.0.1:11434/v1` for Ollama, `http://HOST:8000/v1` for vLLM.
    pub base_url: String,
    /// Sent as `Authorization: Bearer` when set. The caller resolves it from the environment
    /// variable named by `llm.api_key_env`; it is never logged (the `Debug` output hides it).
    pub api_key: Option<String>,
    /// Model id as the server knows it (`gpt-4.1`, `qwen2.5:14b`, ...).
    pub model: String,
    /// Context window of the model in tokens (default 128,000).
    pub context_window: usize,
    /// How structured output is requested (default [`ResponseFormat::JsonSchema`]).
    pub response_format: ResponseFormat,
    /// Overall limit for one call, retries and backoff included (default 120 s).
    pub timeout: Duration,
    /// Retries on HTTP 408/429/5xx and connection errors (default 3).
    pub max_retries: u32,
}

impl Default for OpenAiOptions {
    fn default() -> Self {
        OpenAiOptions {
            base_url: "https://api.openai.com/v1".into(),
            api_key: None,
            model: String::new(),
            context_window: 128_000,
            response_format: ResponseFormat::JsonSchema,
            timeout: Duration::from_secs(120),
            max_retries: 3,
        }
    }
}

impl std::fmt::Debug for OpenAiOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiOptions")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("context_window", &self.context_window)
            .field("response_format", &self.response_format)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

// Request-shape quirks learnt from 400 answers, kept as bits so later calls skip the failure.
/// Reasoning models (o-series, gpt-5) reject `max_tokens` and want `max_completion_tokens`.
const QUIRK_MAX_COMPLETION_TOKENS: u8 = 1;
/// The same models accept only the default temperature.
const QUIRK_NO_TEMPERATURE: u8 = 2;

/// An OpenAI-compatible chat-completions server as an [`LlmBackend`].
#[derive(Debug)]
pub struct OpenAiBackend {
    options: OpenAiOptions,
    url: String,
    client: reqwest::Client,
    /// The response format in force: starts at the configured one, only ever weakens.
    format: AtomicU8,
    quirks: AtomicU8,
}

/// What one HTTP attempt came to.
enum Attempt {
    Done(LlmResponse),
    /// Worth another try after a pause (at least `after` when the server said so).
    Retry {
        why: String,
        after: Option<Duration>,
    },
    /// The request shape was adapted to the server; try again at once.
    Adapted,
}

type OnDelta<'a> = &'a mut (dyn for<'d> FnMut(&'d str) + Send);

impl OpenAiBackend {
    /// Builds the backend; fails when the options cannot work (no base URL, no model).
    pub fn new(options: OpenAiOptions) -> Result<Self, LlmError> {
        let unavailable = |reason: String| LlmError::Unavailable {
            backend: NAME.into(),
            reason,
        };
        let base = options.base_url.trim().trim_end_matches('/');
        if base.is_empty() {
            return Err(unavailable(
                "no base URL: set llm.base_url, e.g. http://127.0.0.1:11434/v1".into(),
            ));
        }
        if options.model.trim().is_empty() {
            return Err(unavailable(
                "no model: set llm.model to one of the server's models".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| unavailable(format!("cannot build the HTTP client: {e}")))?;
        Ok(OpenAiBackend {
            url: format!("{base}/chat/completions"),
            format: AtomicU8::new(options.response_format.to_u8()),
            quirks: AtomicU8::new(0),
            options,
            client,
        })
    }

    /// The response format now in force (weaker than configured after a downgrade).
    pub fn effective_response_format(&self) -> ResponseFormat {
        ResponseFormat::from_u8(self.format.load(Ordering::Relaxed))
    }

    fn body(&self, req: &LlmRequest, stream: bool) -> Value {
        let quirks = self.quirks.load(Ordering::Relaxed);
        let mut body = json!({
            "model": self.options.model,
            "messages": [
                {"role": "system", "content": req.system},
                {"role": "user", "content": req.user},
            ],
        });
        let limit_key = if quirks & QUIRK_MAX_COMPLETION_TOKENS != 0 {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[limit_key] = json!(req.max_output_tokens);
        if quirks & QUIRK_NO_TEMPERATURE == 0 {
            body["temperature"] = json!(0);
        }
        match self.effective_response_format() {
            ResponseFormat::JsonSchema => {
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": {"name": ANSWER_NAME, "strict": true, "schema": analysis_schema()},
                });
            }
            ResponseFormat::JsonObject => body["response_format"] = json!({"type": "json_object"}),
            ResponseFormat::None => {}
        }
        if stream {
            body["stream"] = json!(true);
        }
        body
    }

    async fn call(
        &self,
        req: &LlmRequest,
        mut on_delta: Option<OnDelta<'_>>,
    ) -> Result<LlmResponse, LlmError> {
        let deadline = Instant::now() + self.options.timeout;
        let work = async {
            let mut retries = 0u32;
            loop {
                // Re-borrowed per attempt; the explicit type lets the trait object's
                // lifetime shrink to this iteration.
                let delta: Option<OnDelta<'_>> = match on_delta.as_mut() {
                    Some(f) => Some(&mut **f),
                    None => None,
                };
                match self.attempt(req, delta).await? {
                    Attempt::Done(r) => return Ok(r),
                    Attempt::Adapted => continue,
                    Attempt::Retry { why, after } => {
                        if retries >= self.options.max_retries {
                            return Err(LlmError::Request(format!(
                                "{why} (gave up after {retries} retries)"
                            )));
                        }
                        let pause = after.unwrap_or_else(|| backoff(retries));
                        // Sleeping past the deadline would only turn the server's answer
                        // into a bare timeout; report what the server said instead.
                        if Instant::now() + pause >= deadline {
                            return Err(LlmError::Request(format!(
                                "{why} (no time left to retry within {:?})",
                                self.options.timeout
                            )));
                        }
                        retries += 1;
                        tracing::warn!(
                            backend = NAME,
                            retry = retries,
                            pause_ms = pause.as_millis() as u64,
                            "retrying: {why}"
                        );
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        };
        match tokio::time::timeout_at(deadline, work).await {
            Ok(r) => r,
            Err(_) => Err(LlmError::Timeout(self.options.timeout)),
        }
    }

    async fn attempt(
        &self,
        req: &LlmRequest,
        on_delta: Option<OnDelta<'_>>,
    ) -> Result<Attempt, LlmError> {
        let stream = on_delta.is_some();
        let mut http = self.client.post(&self.url).json(&self.body(req, stream));
        if let Some(key) = &self.options.api_key {
            http = http.bearer_auth(key);
        }
        let resp = match http.send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => {
                return Err(LlmError::Request(format!("cannot build the request: {e}")));
            }
            Err(e) => {
                return Ok(Attempt::Retry {
                    why: format!("cannot reach {}: {}", self.url, error_chain(&e)),
                    after: None,
                });
            }
        };
        let status = resp.status();
        if !status.is_success() {
            return self.failed(resp).await;
        }
        let is_sse = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        match on_delta {
            Some(on_delta) if is_sse => self.read_stream(resp, on_delta).await,
            on_delta => {
                let text = match resp.text().await {
                    Ok(t) => t,
                    Err(e) => {
                        return Ok(Attempt::Retry {
                            why: format!("the answer broke off: {}", error_chain(&e)),
                            after: None,
                        });
                    }
                };
                let r = self.read_completion(&text)?;
                // A server that ignores `stream` still answers; the caller sees it at once.
                if let Some(cb) = on_delta {
                    cb(&r.1);
                }
                Ok(Attempt::Done(r.0))
            }
        }
    }

    /// Classifies a non-2xx answer: retry, adapt the request shape, or fail.
    async fn failed(&self, resp: reqwest::Response) -> Result<Attempt, LlmError> {
        let status = resp.status();
        let after = retry_after(resp.headers());
        let body = resp.text().await.unwrap_or_default();
        let (message, code) = server_error(&body);
        let why = format!("HTTP {status} from {}: {message}", self.url);
        let code_u16 = status.as_u16();
        // Checked first: some servers report an overlong prompt as a 500, and retrying the
        // same prompt cannot help.
        if is_context_overflow(&message, code.as_deref()) {
            return Err(LlmError::ContextOverflow(format!(
                "HTTP {status}: {message}"
            )));
        }
        // An exhausted quota is a 429 too, but waiting does not refill it.
        if code.as_deref() == Some("insufficient_quota") {
            return Err(LlmError::Request(why));
        }
        if code_u16 == 408 || code_u16 == 429 || status.is_server_error() {
            return Ok(Attempt::Retry { why, after });
        }
        if (code_u16 == 400 || code_u16 == 422)
            && let Some(adapted) = self.adapt(&message)
        {
            tracing::info!(
                backend = NAME,
                "the server rejected the request shape ({message}); {adapted}"
            );
            return Ok(Attempt::Adapted);
        }
        Err(LlmError::Request(why))
    }

    /// Weakens the request after a 400 that names what the server cannot take; `None` when
    /// nothing is left to weaken, so every call adapts at most a few times.
    fn adapt(&self, message: &str) -> Option<String> {
        let m = message.to_ascii_lowercase();
        let quirks = self.quirks.load(Ordering::Relaxed);
        if m.contains("max_tokens")
            && m.contains("max_completion_tokens")
            && quirks & QUIRK_MAX_COMPLETION_TOKENS == 0
        {
            self.quirks
                .fetch_or(QUIRK_MAX_COMPLETION_TOKENS, Ordering::Relaxed);
            return Some("sending max_completion_tokens from now on".into());
        }
        if m.contains("temperature") && quirks & QUIRK_NO_TEMPERATURE == 0 {
            self.quirks
                .fetch_or(QUIRK_NO_TEMPERATURE, Ordering::Relaxed);
            return Some("leaving temperature at the server's default from now on".into());
        }
        if m.contains("response_format")
            || m.contains("json_schema")
            || m.contains("response format")
        {
            let now = self.effective_response_format();
            let weaker = now.weaker()?;
            // Another call may have weakened it meanwhile; either way it only goes down.
            let _ = self.format.compare_exchange(
                now.to_u8(),
                weaker.to_u8(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            return Some(format!("response_format {} from now on", weaker.as_str()));
        }
        None
    }

    /// Parses a non-streaming completion; returns the response and the raw content.
    fn read_completion(&self, text: &str) -> Result<(LlmResponse, String), LlmError> {
        let v: Value = serde_json::from_str(text).map_err(|e| {
            LlmError::Parse(format!(
                "the server's answer is not JSON ({e}): {}",
                clip(text)
            ))
        })?;
        if v.get("choices").is_none()
            && let Some(err) = v.get("error")
        {
            return Err(LlmError::Request(format!(
                "the server answered with an error: {}",
                error_message(err)
            )));
        }
        let choice = v
            .pointer("/choices/0")
            .ok_or_else(|| LlmError::Parse(format!("the answer has no choices: {}", clip(text))))?;
        let message = choice.get("message").unwrap_or(&Value::Null);
        let content = message.get("content").and_then(Value::as_str).unwrap_or("");
        if content.trim().is_empty()
            && let Some(refusal) = message.get("refusal").and_then(Value::as_str)
        {
            return Err(LlmError::Request(format!("the model refused: {refusal}")));
        }
        let truncated = choice.get("finish_reason").and_then(Value::as_str) == Some("length");
        let model = v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(&self.options.model);
        let response = LlmResponse {
            analysis: analyse(content, truncated)?,
            model: model.to_string(),
            truncated,
        };
        Ok((response, content.to_string()))
    }

    async fn read_stream(
        &self,
        resp: reqwest::Response,
        on_delta: OnDelta<'_>,
    ) -> Result<Attempt, LlmError> {
        let mut sse = SseState {
            model: None,
            content: String::new(),
            finish_reason: None,
            done: false,
        };
        let mut lines = SseLines::default();
        let mut bytes = resp.bytes_stream();
        while !sse.done {
            let Some(chunk) = bytes.next().await else {
                break;
            };
            let chunk = match chunk {
                Ok(c) => c,
                // Before the first delta nothing was shown, so the call can start over.
                Err(e) if sse.content.is_empty() => {
                    return Ok(Attempt::Retry {
                        why: format!("the stream broke off: {}", error_chain(&e)),
                        after: None,
                    });
                }
                Err(e) => {
                    return Err(LlmError::Request(format!(
                        "the stream broke off after {} characters: {}",
                        sse.content.chars().count(),
                        error_chain(&e)
                    )));
                }
            };
            for data in lines.push(&chunk) {
                sse.event(&data, on_delta)?;
                if sse.done {
                    break;
                }
            }
        }
        if !sse.done
            && let Some(data) = lines.finish()
        {
            sse.event(&data, on_delta)?;
        }
        // A stream that ended with neither `[DONE]` nor a finish reason was cut short.
        let truncated = sse.finish_reason.as_deref() == Some("length")
            || (!sse.done && sse.finish_reason.is_none());
        Ok(Attempt::Done(LlmResponse {
            analysis: analyse(&sse.content, truncated)?,
            model: sse.model.unwrap_or_else(|| self.options.model.clone()),
            truncated,
        }))
    }
}

/// What a chat-completions stream has delivered so far.
struct SseState {
    model: Option<String>,
    content: String,
    finish_reason: Option<String>,
    done: bool,
}

impl SseState {
    fn event(&mut self, data: &str, on_delta: OnDelta<'_>) -> Result<(), LlmError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(data).map_err(|e| {
            LlmError::Parse(format!("a stream event is not JSON ({e}): {}", clip(data)))
        })?;
        if let Some(err) = v.get("error") {
            return Err(LlmError::Request(format!(
                "the stream ended with an error: {}",
                error_message(err)
            )));
        }
        if self.model.is_none()
            && let Some(m) = v.get("model").and_then(Value::as_str)
            && !m.is_empty()
        {
            self.model = Some(m.to_string());
        }
        if let Some(choice) = v.pointer("/choices/0") {
            if let Some(d) = choice.pointer("/delta/content").and_then(Value::as_str)
                && !d.is_empty()
            {
                self.content.push_str(d);
                on_delta(d);
            }
            if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish_reason = Some(r.to_string());
            }
        }
        Ok(())
    }
}

/// Splits a Server-Sent Events byte stream into the `data` of each event. Bytes are kept
/// until a line is complete, so events and UTF-8 characters split across reads stay whole.
#[derive(Default)]
struct SseLines {
    pending: Vec<u8>,
    data: String,
    has_data: bool,
}

impl SseLines {
    fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(off) = memchr::memchr(b'\n', &self.pending[start..]) {
            let end = start + off;
            let mut line = &self.pending[start..end];
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            let line = String::from_utf8_lossy(line).into_owned();
            if let Some(ev) = self.line(&line) {
                events.push(ev);
            }
            start = end + 1;
        }
        self.pending.drain(..start);
        events
    }

    fn line(&mut self, line: &str) -> Option<String> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        if field == "data" {
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(value);
            self.has_data = true;
        }
        None
    }

    fn dispatch(&mut self) -> Option<String> {
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(std::mem::take(&mut self.data))
    }

    /// The last event when the stream ends without a blank line after it.
    fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            let line = String::from_utf8_lossy(&rest).into_owned();
            let line = line.trim_end_matches('\r').to_string();
            if let Some(ev) = self.line(&line) {
                return Some(ev);
            }
        }
        self.dispatch()
    }
}

#[async_trait]
impl LlmBackend for OpenAiBackend {
    fn name(&self) -> &str {
        NAME
    }

    fn model(&self) -> &str {
        &self.options.model
    }

    fn context_window(&self) -> usize {
        self.options.context_window
    }

    async fn complete(&self, req: LlmRequest) -> Result<LlmResponse, LlmError> {
        self.call(&req, None).await
    }

    async fn stream(
        &self,
        req: LlmRequest,
        on_delta: &mut (dyn for<'d> FnMut(&'d str) + Send),
    ) -> Result<LlmResponse, LlmError> {
        self.call(&req, Some(on_delta)).await
    }
}

/// Parses the model's text; a truncated JSON answer is closed where it broke off so the
/// hypotheses that did arrive are kept rather than dumped into the summary as raw JSON.
fn analyse(content: &str, truncated: bool) -> Result<Analysis, LlmError> {
    let a = parse_analysis(content)?;
    let raw_fallback = a.hypotheses.is_empty() && a.summary == content.trim();
    if truncated
        && raw_fallback
        && let Some(repaired) = repair_truncated(content)
    {
        return Ok(repaired);
    }
    Ok(a)
}

/// `Retry-After` in seconds (or Azure's `retry-after-ms`); HTTP dates fall back to backoff.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    get("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

/// The message (and code) of an error body in the shapes servers use: OpenAI's
/// `{"error": {"message", "code"}}`, Ollama's `{"error": "..."}`, vLLM's `{"message": ...}`.
fn server_error(body: &str) -> (String, Option<String>) {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        let text = body.trim();
        return (
            if text.is_empty() {
                "(empty body)".into()
            } else {
                clip(text)
            },
            None,
        );
    };
    let err = v.get("error").unwrap_or(&v);
    // llama.cpp puts the HTTP status in `code` and the kind in `type`.
    let code = ["code", "type"]
        .iter()
        .find_map(|k| err.get(*k).and_then(Value::as_str))
        .map(str::to_string);
    (error_message(err), code)
}

fn error_message(err: &Value) -> String {
    match err {
        Value::String(s) => clip(s),
        v => match v.get("message").and_then(Value::as_str) {
            Some(m) => clip(m),
            None => clip(&v.to_string()),
        },
    }
}

fn is_context_overflow(message: &str, code: Option<&str>) -> bool {
    let m = message.to_ascii_lowercase();
    matches!(
        code,
        Some("context_length_exceeded" | "exceed_context_size_error")
    ) || m.contains("maximum context length")
        || m.contains("context_length_exceeded")
        || m.contains("exceeds the available context size")
}

fn clip(s: &str) -> String {
    crate::distill::clip(s, MAX_ERROR_CHARS)
}

/// reqwest's top-level message is often just "error sending request"; the cause says why.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sse_lines_survive_splits_comments_and_crlf() {
        let text =
            ": keep-alive\r\ndata: {\"a\":\"障害\"}\r\n\r\ndata: one\ndata: two\n\ndata: [DONE]";
        let bytes = text.as_bytes();
        let mut p = SseLines::default();
        let mut events = Vec::new();
        for chunk in bytes.chunks(3) {
            events.extend(p.push(chunk));
        }
        events.extend(p.finish());
        assert_eq!(events, vec!["{\"a\":\"障害\"}", "one\ntwo", "[DONE]"]);
    }

    #[test]
    fn truncated_json_keeps_what_arrived() {
        let text = r#"{"summary": "Throttling after the capacity cut [E2]", "impact": "5xx", "hypotheses": [{"title": "Capacity cut", "confidence": "high", "evidence": ["E2"], "explanation": "UpdateTable lowered the write cap"}, {"title": "Second", "confid"#;
        let a = analyse(text, true).unwrap();
        assert_eq!(a.hypotheses.len(), 1);
        assert_eq!(a.hypotheses[0].evidence, vec!["E2"]);
        let cut_in_evidence = r#"{"summary": "s", "hypotheses": [{"title": "A", "confidence": "high", "evidence": ["E1"]}, {"title": "B", "confidence": "high", "evidence": ["E2", "E3"#;
        let a = analyse(cut_in_evidence, true).unwrap();
        assert_eq!(a.hypotheses.len(), 1);
        assert_eq!(a.hypotheses[0].title, "A");
        let cut_in_summary = r#"{"summary": "The table was thrott"#;
        assert_eq!(
            analyse(cut_in_summary, true).unwrap().summary,
            "The table was thrott"
        );
        // Not truncated: the raw text stays the summary, as parse_analysis decides.
        assert_eq!(
            analyse(cut_in_summary, false).unwrap().summary,
            cut_in_summary
        );
    }

    #[test]
    fn error_bodies_of_each_server_shape() {
        let (m, c) = server_error(
            r#"{"error": {"message": "bad key", "type": "invalid_request_error", "code": "invalid_api_key"}}"#,
        );
        assert_eq!(
            (m.as_str(), c.as_deref()),
            ("bad key", Some("invalid_api_key"))
        );
        assert_eq!(
            server_error(r#"{"error": "model not found"}"#).0,
            "model not found"
        );
        assert_eq!(
            server_error(r#"{"object": "error", "message": "too long"}"#).0,
            "too long"
        );
        assert_eq!(
            server_error("<html>bad gateway</html>").0,
            "<html>bad gateway</html>"
        );
        assert!(is_context_overflow(
            "This model's maximum context length is 8192 tokens",
            None
        ));
        assert!(!is_context_overflow(
            "invalid model",
            Some("model_not_found")
        ));
    }

    #[test]
    fn response_format_spellings() {
        assert_eq!(
            "json_object".parse::<ResponseFormat>().unwrap(),
            ResponseFormat::JsonObject
        );
        assert_eq!(
            "NONE".parse::<ResponseFormat>().unwrap(),
            ResponseFormat::None
        );
        assert!("xml".parse::<ResponseFormat>().is_err());
        let dbg = format!(
            "{:?}",
            OpenAiOptions {
                api_key: Some("sk-secret".into()),
                ..Default::default()
            }
        );
        assert!(!dbg.contains("sk-secret"));
    }
}
