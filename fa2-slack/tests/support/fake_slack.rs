//! A fake Slack Web API on loopback for tests: it speaks the real wire format (form or JSON
//! bodies in, `{"ok": true, ...}` JSON out, the external upload URL flow), records every call,
//! and can be told to fail a method.

#![allow(dead_code, clippy::unwrap_used)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One recorded Web API call.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub params: Value,
    pub auth: Option<String>,
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    next_ts: u64,
    uploads: BTreeMap<String, Vec<u8>>,
    failing: HashSet<String>,
    user_tz: BTreeMap<String, String>,
    socket_url: Option<String>,
}

/// The fake server; dropped with the test's runtime.
#[derive(Clone)]
pub struct FakeSlack {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

fn form_or_json(headers: &HeaderMap, body: &[u8]) -> Value {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") {
        return serde_json::from_slice(body).unwrap_or(Value::Null);
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        // Slack's form encoding carries JSON in some fields (blocks, view)
        let parsed = if v.starts_with('{') || v.starts_with('[') {
            serde_json::from_str(&v).unwrap_or(Value::String(v))
        } else {
            Value::String(v)
        };
        map.insert(k, parsed);
    }
    Value::Object(map)
}

fn ok(v: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json; charset=utf-8")],
        v.to_string(),
    )
        .into_response()
}

async fn api(
    State(fake): State<FakeSlack>,
    Path(method): Path<String>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: BTreeMap<String, String> = raw_query
        .map(|q| serde_urlencoded::from_str(&q).unwrap_or_default())
        .unwrap_or_default();
    let mut params = form_or_json(&headers, &body);
    if let (Value::Object(map), false) = (&mut params, query.is_empty()) {
        for (k, v) in query {
            map.insert(k, Value::String(v));
        }
    } else if params.is_null() {
        params = json!(query);
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut inner = fake.inner.lock().unwrap();
    inner.calls.push(Call {
        method: method.clone(),
        params: params.clone(),
        auth,
        at: Instant::now(),
    });
    if inner.failing.contains(&method) {
        return ok(json!({"ok": false, "error": "fatal_error"}));
    }
    inner.next_ts += 1;
    let ts = format!("1732400000.{:06}", inner.next_ts);
    let channel = params["channel"].as_str().unwrap_or("C0").to_string();
    let text = params["text"].as_str().unwrap_or("").to_string();
    match method.as_str() {
        "chat.postMessage" => ok(json!({
            "ok": true, "channel": channel, "ts": ts,
            "message": {"type": "message", "user": "U0FA2BOT", "bot_id": "B0FA2", "text": text, "ts": ts}
        })),
        "chat.update" => ok(json!({
            "ok": true, "channel": channel, "ts": params["ts"], "text": text,
            "message": {"text": text, "user": "U0FA2BOT", "bot_id": "B0FA2"}
        })),
        "chat.postEphemeral" => ok(json!({"ok": true, "message_ts": ts})),
        "views.open" => {
            let mut view = params["view"].clone();
            if let Value::Object(m) = &mut view {
                m.insert("id".into(), json!("V0FA2FORM"));
                m.insert("team_id".into(), json!("T0TEAM"));
                m.insert("state".into(), json!({"values": {}}));
                m.insert("hash".into(), json!("1732400000.abc"));
                m.insert("app_id".into(), json!("A0FA2"));
            }
            ok(json!({"ok": true, "view": view}))
        }
        "users.info" => {
            let user = params["user"].as_str().unwrap_or("U0").to_string();
            let tz = inner
                .user_tz
                .get(&user)
                .cloned()
                .unwrap_or_else(|| "America/Los_Angeles".into());
            ok(json!({"ok": true, "user": {
                "id": user, "team_id": "T0TEAM", "name": "someone", "tz": tz,
                "tz_label": "label", "tz_offset": 0, "is_bot": false
            }}))
        }
        "files.getUploadURLExternal" => {
            let id = format!("F{:07}", inner.next_ts);
            ok(
                json!({"ok": true, "upload_url": format!("{}/upload/{id}", fake.base), "file_id": id}),
            )
        }
        "files.completeUploadExternal" => {
            let files = params["files"].clone();
            ok(json!({"ok": true, "files": files}))
        }
        "apps.connections.open" => {
            let url = inner
                .socket_url
                .clone()
                .unwrap_or_else(|| "ws://127.0.0.1:9/link".into());
            ok(json!({"ok": true, "url": url}))
        }
        _ => ok(json!({"ok": false, "error": "unknown_method"})),
    }
}

async fn upload(State(fake): State<FakeSlack>, Path(id): Path<String>, body: Bytes) -> Response {
    let len = body.len();
    let mut inner = fake.inner.lock().unwrap();
    inner.calls.push(Call {
        method: "upload".into(),
        params: json!({"file_id": id, "bytes": len}),
        auth: None,
        at: Instant::now(),
    });
    inner.uploads.insert(id, body.to_vec());
    (
        StatusCode::OK,
        [("content-type", "text/plain")],
        format!("OK - {len}"),
    )
        .into_response()
}

impl FakeSlack {
    /// Starts the server on a free loopback port.
    pub async fn start() -> FakeSlack {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = FakeSlack {
            base: format!("http://{addr}"),
            inner: Arc::new(Mutex::new(Inner::default())),
        };
        let app = Router::new()
            .route("/api/{method}", any(api))
            .route("/upload/{id}", post(upload))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    /// The Web API base URL (`FA2_SLACK__API_URL`).
    pub fn api_url(&self) -> String {
        format!("{}/api", self.base)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    pub fn fail(&self, method: &str) {
        self.inner
            .lock()
            .unwrap()
            .failing
            .insert(method.to_string());
    }

    pub fn set_user_tz(&self, user: &str, tz: &str) {
        self.inner
            .lock()
            .unwrap()
            .user_tz
            .insert(user.to_string(), tz.to_string());
    }

    /// The WebSocket URL `apps.connections.open` hands out.
    pub fn set_socket_url(&self, url: &str) {
        self.inner.lock().unwrap().socket_url = Some(url.to_string());
    }

    pub fn upload_content(&self, file_id: &str) -> Option<Vec<u8>> {
        self.inner.lock().unwrap().uploads.get(file_id).cloned()
    }

    pub fn uploads(&self) -> Vec<Vec<u8>> {
        self.inner
            .lock()
            .unwrap()
            .uploads
            .values()
            .cloned()
            .collect()
    }

    /// Waits until `pred` holds over the calls so far (at most `limit`).
    pub async fn wait_for(&self, limit: Duration, pred: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        let start = Instant::now();
        loop {
            let calls = self.calls();
            if pred(&calls) {
                return calls;
            }
            if start.elapsed() > limit {
                panic!(
                    "timed out; calls so far: {:#?}",
                    calls
                        .iter()
                        .map(|c| (&c.method, c.params.to_string()))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// All the text of a posted message (its `text` and every string in its blocks).
pub fn message_text(c: &Call) -> String {
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = String::new();
    walk(&c.params["text"], &mut out);
    walk(&c.params["blocks"], &mut out);
    out
}
