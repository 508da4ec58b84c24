//! The built `bootstrap` binary run as Lambda runs it: a fake Lambda Runtime API on loopback
//! (`/2018-06-01/runtime/invocation/next`, `/response`, `/error`) feeds it events in the exact
//! shapes API Gateway (REST and HTTP API), Function URLs, ALBs, EventBridge, CloudWatch's
//! Lambda alarm action, SNS and the custom action send. A fake Slack Web API, a fake Lambda Invoke endpoint, and moto (Secrets Manager, SNS
//! with an SQS subscription to read what was published) stand in for the services through
//! `AWS_ENDPOINT_URL`.

#![allow(clippy::unwrap_used)]

#[path = "../../fa2-slack/tests/support/fake_slack.rs"]
mod fake_slack;
#[path = "../../fa2-core/tests/support/mod.rs"]
mod support;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use fa2_slack::verify::sign;
use fake_slack::{FakeSlack, message_text};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::Moto;
use tokio::sync::Notify;

const SECRET: &str = "e2e-signing-secret-0123456789abcdef";
const BOT_TOKEN: &str = "xoxb-from-secrets-manager";
const WAIT: Duration = Duration::from_secs(90);

/// The binary under test: this build's, or another one (a release `bootstrap` built by
/// cargo-lambda for this machine's architecture) named by `BOOTSTRAP_UNDER_TEST`, to
/// measure its init time and size.
fn bootstrap() -> String {
    std::env::var("BOOTSTRAP_UNDER_TEST")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_fa2-lambda").to_string())
}

fn sample() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/sample-incident"
    ))
}

#[derive(Default)]
struct RuntimeState {
    queue: VecDeque<(String, Value)>,
    responses: BTreeMap<String, Result<Value, Value>>,
    first_next: Option<Instant>,
    init_error: Option<String>,
    invokes: Vec<(String, String, Value)>,
}

/// The fake Runtime API and the fake Lambda Invoke endpoint, on one loopback server.
#[derive(Clone)]
struct FakeLambda {
    base: String,
    host: String,
    state: Arc<Mutex<RuntimeState>>,
    queued: Arc<Notify>,
    answered: Arc<Notify>,
}

async fn next(State(f): State<FakeLambda>) -> Response {
    loop {
        let waiter = f.queued.notified();
        {
            let mut s = f.state.lock().unwrap();
            s.first_next.get_or_insert_with(Instant::now);
            if let Some((id, event)) = s.queue.pop_front() {
                let deadline = chrono::Utc::now().timestamp_millis() + 300_000;
                return (
                    StatusCode::OK,
                    [
                        ("content-type", "application/json".to_string()),
                        ("lambda-runtime-aws-request-id", id),
                        ("lambda-runtime-deadline-ms", deadline.to_string()),
                        (
                            "lambda-runtime-invoked-function-arn",
                            "arn:aws:lambda:us-east-1:123456789012:function:fa2-e2e".into(),
                        ),
                        ("lambda-runtime-trace-id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".into()),
                    ],
                    event.to_string(),
                )
                    .into_response();
            }
        }
        waiter.await;
    }
}

async fn respond(
    State(f): State<FakeLambda>,
    Path((id, kind)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let value: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    let outcome = if kind == "response" {
        Ok(value)
    } else {
        Err(value)
    };
    f.state.lock().unwrap().responses.insert(id, outcome);
    f.answered.notify_waiters();
    (StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
}

async fn init_error(State(f): State<FakeLambda>, body: Bytes) -> Response {
    f.state.lock().unwrap().init_error = Some(String::from_utf8_lossy(&body).into());
    f.answered.notify_waiters();
    (StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
}

/// `POST /2015-03-31/functions/{name}/invocations` as the Lambda API answers an async invoke.
async fn invoke(
    State(f): State<FakeLambda>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let kind = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse")
        .to_string();
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    f.state.lock().unwrap().invokes.push((name, kind, payload));
    (
        StatusCode::ACCEPTED,
        [("x-amzn-requestid", "6f2d5e0b-0000-4000-8000-000000000001")],
        "",
    )
        .into_response()
}

impl FakeLambda {
    async fn start() -> FakeLambda {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let f = FakeLambda {
            base: format!("http://{addr}"),
            host: addr.to_string(),
            state: Arc::default(),
            queued: Arc::new(Notify::new()),
            answered: Arc::new(Notify::new()),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(respond))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .with_state(f.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        f
    }

    /// Delivers `event` to the function and waits for its response (`Err` for `/error`).
    async fn invoke(&self, event: Value) -> Result<Value, Value> {
        let id = format!("req-{}", fa2_slack::job::new_job_id());
        self.state
            .lock()
            .unwrap()
            .queue
            .push_back((id.clone(), event));
        self.queued.notify_waiters();
        let start = Instant::now();
        loop {
            let waiter = self.answered.notified();
            if let Some(r) = self.state.lock().unwrap().responses.remove(&id) {
                return r;
            }
            if let Some(e) = &self.state.lock().unwrap().init_error {
                panic!("the function failed to initialize: {e}");
            }
            assert!(
                start.elapsed() < WAIT,
                "no response to {id} within {WAIT:?}"
            );
            let _ = tokio::time::timeout(Duration::from_millis(200), waiter).await;
        }
    }

    fn invokes(&self) -> Vec<(String, String, Value)> {
        self.state.lock().unwrap().invokes.clone()
    }
}

/// Everything one function instance talks to, and the instance itself.
struct Env {
    moto: Moto,
    lambda: FakeLambda,
    slack: FakeSlack,
    child: tokio::process::Child,
    started: Instant,
    topic_arn: String,
    queue_url: String,
    http: reqwest::Client,
    _cwd: tempfile::TempDir,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn sqs(http: &reqwest::Client, moto: &Moto, action: &str, body: Value) -> Value {
    let resp = http
        .post(&moto.endpoint)
        .header("x-amz-target", format!("AmazonSQS.{action}"))
        .header("content-type", "application/x-amz-json-1.0")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIATESTTESTTESTTEST/20261124/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Starts moto (secrets, an SNS topic with an SQS subscription), the fakes and the function.
async fn start(files: &[PathBuf], extra_env: &[(&str, &str)]) -> Env {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    secrets
        .create_secret()
        .name("fa2/slack/signing-secret")
        .secret_string(SECRET)
        .send()
        .await
        .unwrap();
    secrets
        .create_secret()
        .name("fa2/slack/bot-token")
        .secret_string(json!({ "bot_token": BOT_TOKEN }).to_string())
        .send()
        .await
        .unwrap();
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic_arn = sns
        .create_topic()
        .name("fa2-answers")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();
    let queue_url = sqs(
        &http,
        &moto,
        "CreateQueue",
        json!({"QueueName": "fa2-answers"}),
    )
    .await["QueueUrl"]
        .as_str()
        .unwrap()
        .to_string();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:123456789012:fa2-answers")
        .send()
        .await
        .unwrap();
    let lambda = FakeLambda::start().await;
    let slack = FakeSlack::start().await;
    let cwd = tempfile::tempdir().unwrap();
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let mut cmd = tokio::process::Command::new(bootstrap());
    cmd.env_clear()
        .current_dir(cwd.path())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &lambda.host)
        .env("AWS_LAMBDA_FUNCTION_NAME", "fa2-e2e")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/fa2-e2e")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/24/[$LATEST]0123")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
        .env("AWS_SECRET_ACCESS_KEY", "testsecret")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ENDPOINT_URL_LAMBDA", &lambda.base)
        .env("FA2_TIMEZONE", "Asia/Tokyo")
        .env("FA2_SOURCES__FILES__PATHS", paths.join(","))
        .env("FA2_SLACK__API_URL", slack.api_url())
        .env("FA2_SLACK__SIGNING_SECRET_NAME", "fa2/slack/signing-secret")
        .env("FA2_SLACK__BOT_TOKEN_NAME", "fa2/slack/bot-token")
        .env("FA2_NOTIFY__SNS_TOPIC_ARN", &topic_arn)
        .env("FA2_NOTIFY__SLACK_CHANNEL", "C0ALERTS")
        .env("FA2_LOG", "info")
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let child = cmd.spawn().unwrap();
    Env {
        moto,
        lambda,
        slack,
        child,
        started,
        topic_arn,
        queue_url,
        http,
        _cwd: cwd,
    }
}

impl Env {
    /// Whether the function is still running: every invocation so far was answered by the
    /// same process (a panic that killed it would show here).
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SNS messages delivered to the SQS subscription (the inner `Message`, parsed).
    async fn published(&self, at_least: usize) -> Vec<Value> {
        let mut out = Vec::new();
        let start = Instant::now();
        while out.len() < at_least && start.elapsed() < WAIT {
            let r = sqs(
                &self.http,
                &self.moto,
                "ReceiveMessage",
                json!({"QueueUrl": self.queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1}),
            )
            .await;
            for m in r["Messages"].as_array().cloned().unwrap_or_default() {
                let envelope: Value = serde_json::from_str(m["Body"].as_str().unwrap()).unwrap();
                assert_eq!(envelope["TopicArn"], self.topic_arn.as_str());
                out.push(serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap());
            }
        }
        out
    }

    fn init_time(&self) -> Option<Duration> {
        let first = self.lambda.state.lock().unwrap().first_next?;
        Some(first.duration_since(self.started))
    }
}

fn signed_headers(body: &str, good: bool) -> Value {
    let ts = chrono::Utc::now().timestamp();
    let secret = if good { SECRET } else { "not-the-secret" };
    json!({
        "content-type": "application/x-www-form-urlencoded",
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        "x-slack-request-timestamp": ts.to_string(),
        "x-slack-signature": sign(secret, ts, body),
    })
}

/// An HTTP API (payload 2.0) event; Slack's form bodies arrive base64-encoded.
fn http_api_event(body: &str, good: bool) -> Value {
    json!({
        "version": "2.0", "routeKey": "POST /slack/events", "rawPath": "/slack/events",
        "rawQueryString": "", "headers": signed_headers(body, good),
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": "POST", "path": "/slack/events", "protocol": "HTTP/1.1", "sourceIp": "3.0.0.1", "userAgent": "Slackbot 1.0"},
            "requestId": "JKJaXmPLvHcESHA=", "routeKey": "POST /slack/events", "stage": "$default",
            "time": "24/Nov/2026:09:58:31 +0000", "timeEpoch": 1795514311000i64
        },
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true
    })
}

/// A Function URL event (payload 2.0, route `$default`, plain body).
fn function_url_event(body: &str) -> Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/slack/events", "rawQueryString": "",
        "headers": signed_headers(body, true),
        "requestContext": {
            "accountId": "anonymous", "apiId": "fa2urlid", "domainName": "fa2urlid.lambda-url.us-east-1.on.aws",
            "domainPrefix": "fa2urlid",
            "http": {"method": "POST", "path": "/slack/events", "protocol": "HTTP/1.1", "sourceIp": "3.0.0.1", "userAgent": "Slackbot 1.0"},
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "routeKey": "$default", "stage": "$default",
            "time": "24/Nov/2026:09:58:31 +0000", "timeEpoch": 1795514311000i64
        },
        "body": body, "isBase64Encoded": false
    })
}

/// A REST API (payload 1.0) proxy event.
fn rest_api_event(body: &str) -> Value {
    let headers = signed_headers(body, true);
    let multi: serde_json::Map<String, Value> = headers
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    json!({
        "resource": "/slack/events", "path": "/slack/events", "httpMethod": "POST",
        "headers": headers, "multiValueHeaders": multi,
        "queryStringParameters": null, "multiValueQueryStringParameters": null,
        "pathParameters": null, "stageVariables": null,
        "requestContext": {
            "resourceId": "2gxmpl", "resourcePath": "/slack/events", "httpMethod": "POST",
            "extendedRequestId": "JJbxmplHYosFVYQ=", "requestTime": "24/Nov/2026:09:58:31 +0000",
            "path": "/prod/slack/events", "accountId": "123456789012", "protocol": "HTTP/1.1",
            "stage": "prod", "domainPrefix": "abc123", "requestTimeEpoch": 1795514311000i64,
            "requestId": "59c2e3a6-0000-4000-8000-000000000000",
            "identity": {"sourceIp": "3.0.0.1", "userAgent": "Slackbot 1.0"},
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "apiId": "abc123"
        },
        "body": body, "isBase64Encoded": false
    })
}

fn slash_command(text: &str) -> String {
    serde_urlencoded::to_string([
        ("token", "legacy"),
        ("team_id", "T0TEAM"),
        ("channel_id", "C0OPS"),
        ("user_id", "U0ALICE"),
        ("command", "/fa2"),
        ("text", text),
        (
            "response_url",
            "https://hooks.slack.com/commands/T0TEAM/1/abc",
        ),
        (
            "trigger_id",
            &format!("trig.{}", fa2_slack::job::new_job_id()),
        ),
    ])
    .unwrap()
}

fn sample_job(thread_ts: &str) -> Value {
    json!({"fa2_job": {
        "id": "e2e00001", "channel": "C0OPS", "thread_ts": thread_ts, "user": "U0ALICE",
        "description": "checkout returns 503", "start": "2024-09-10T14:05:00Z",
        "end": "2024-09-10T14:35:00Z", "language": "en", "timezone": "Asia/Tokyo",
        "trigger": "thread_form"
    }})
}

/// Runs the incident-window job as the worker; returns what it posted in `thread`.
async fn worker_answer(env: &Env, thread: &str) -> String {
    let r = env.lambda.invoke(sample_job(thread)).await.unwrap();
    assert_eq!(r["status"], "answered", "{r}");
    answer_text(&env.slack, thread)
}

fn answer_text(slack: &FakeSlack, thread: &str) -> String {
    slack
        .calls_to("chat.postMessage")
        .iter()
        .filter(|c| c.params["thread_ts"] == thread)
        .map(message_text)
        .collect()
}

#[tokio::test]
async fn slack_endpoint_dispatches_and_the_worker_answers() {
    let env = start(&[sample()], &[]).await;

    // Slack over an HTTP API: verified with the secret from Secrets Manager, acked, and the
    // job handed to an asynchronous invocation of the same function
    let body = slash_command("checkout returns 503");
    let asked = Instant::now();
    let r = env
        .lambda
        .invoke(http_api_event(&body, true))
        .await
        .unwrap();
    let first_ack = asked.elapsed();
    assert_eq!(r["statusCode"], 200, "{r}");
    let ack: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(ack["response_type"], "ephemeral");
    let invokes = env.lambda.invokes();
    assert_eq!(invokes.len(), 1, "{invokes:?}");
    let (function, kind, payload) = &invokes[0];
    assert_eq!((function.as_str(), kind.as_str()), ("fa2-e2e", "Event"));
    assert_eq!(payload["fa2_job"]["description"], "checkout returns 503");
    assert_eq!(payload["fa2_job"]["channel"], "C0OPS");
    if let Some(init) = env.init_time() {
        eprintln!(
            "fa2-lambda init (process start to first /next): {} ms; first Slack request (cold: secrets fetched, job invoked) answered in {} ms; {} is {} bytes",
            init.as_millis(),
            first_ack.as_millis(),
            bootstrap(),
            std::fs::metadata(bootstrap()).unwrap().len()
        );
    }

    // a bad signature gets a bare 401 and starts nothing
    let r = env
        .lambda
        .invoke(http_api_event(&body, false))
        .await
        .unwrap();
    assert_eq!(r["statusCode"], 401);
    assert!(r.get("body").is_none_or(|b| b.is_null() || b == ""), "{r}");
    assert_eq!(env.lambda.invokes().len(), 1);

    // REST API and Function URL shapes reach the same handler
    let r = env
        .lambda
        .invoke(rest_api_event(&slash_command("rest api")))
        .await
        .unwrap();
    assert_eq!(r["statusCode"], 200, "{r}");
    assert!(
        r["multiValueHeaders"].is_object(),
        "REST response shape: {r}"
    );
    let r = env
        .lambda
        .invoke(function_url_event(&slash_command("function url")))
        .await
        .unwrap();
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(env.lambda.invokes().len(), 3);

    // the worker: the queued job itself, answered in a new thread
    let queued = env.lambda.invokes()[0].2.clone();
    let r = env.lambda.invoke(queued).await.unwrap();
    assert_eq!(r["status"], "answered", "{r}");
    let thread = r["thread_ts"].as_str().unwrap().to_string();
    assert!(!answer_text(&env.slack, &thread).is_empty());
    let calls = env.slack.calls();
    assert!(
        calls.iter().all(|c| c.method == "upload"
            || c.auth.as_deref() == Some("Bearer xoxb-from-secrets-manager"))
    );

    // the worker on the incident window: the root cause in the thread
    let answer = worker_answer(&env, "1725977300.000100").await;
    assert!(answer.contains("RevokeSecurityGroupIngress"), "{answer}");
    assert!(
        answer.contains("Analyzing 2024-09-10 23:05–23:35 (Asia/Tokyo)"),
        "{answer}"
    );
    assert!(!env.slack.calls_to("chat.update").is_empty());
    assert!(
        !env.slack
            .calls_to("files.completeUploadExternal")
            .is_empty()
    );

    // an analysis that cannot run still ends with a message, and the invocation succeeds
    let mut bad = sample_job("1725977300.000200");
    bad["fa2_job"]["end"] = json!("2024-09-10T14:00:00Z");
    let r = env.lambda.invoke(bad).await.unwrap();
    assert_eq!(r["status"], "failed", "{r}");
    assert!(answer_text(&env.slack, "1725977300.000200").contains("The analysis failed"));

    // an event nobody understands is an invocation error, not a crash, and its errorType is a
    // documented one (README, "Errors"), not a Rust type
    let e = env
        .lambda
        .invoke(json!({"hello": "world"}))
        .await
        .unwrap_err();
    assert_eq!(e["errorType"], "Fa2.BadEvent", "{e}");
    let message = e["errorMessage"].as_str().unwrap();
    assert!(message.contains("unrecognized event"), "{e}");
    assert!(
        message.contains("retrying the same event will fail again"),
        "{e}"
    );
    let r = env
        .lambda
        .invoke(sample_job("1725977300.000300"))
        .await
        .unwrap();
    assert_eq!(r["status"], "answered", "still serving after an error");
}

fn alarm_event(state: &str) -> Value {
    json!({
        "version": "0", "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": "123456789012", "time": "2024-09-10T14:20:00Z", "region": "us-east-1",
        "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-5xx"],
        "detail": {
            "alarmName": "checkout-5xx",
            "state": {"value": state, "reason": "Threshold Crossed: 1 out of the last 1 datapoints [58.0 (10/09/24 14:19:00)] was greater than the threshold (10.0).", "timestamp": "2024-09-10T14:20:00.000+0000"},
            "previousState": {"value": "OK", "reason": "ok", "timestamp": "2024-09-10T13:00:00.000+0000"},
            "configuration": {"metrics": [{"id": "m1", "metricStat": {"metric": {"namespace": "AWS/ApplicationELB", "name": "HTTPCode_Target_5XX_Count", "dimensions": {"LoadBalancer": "app/checkout/50dc6c495c0c9188"}}, "period": 60, "stat": "Sum"}, "returnData": true}]}
        }
    })
}

#[tokio::test]
async fn alarm_events_and_the_custom_action_publish_answers() {
    let env = start(&[sample()], &[]).await;

    // an alarm going to ALARM is analyzed with nobody clicking: Slack channel and SNS
    let r = env.lambda.invoke(alarm_event("ALARM")).await.unwrap();
    assert_eq!(r["status"], "analyzed", "{r}");
    assert_eq!(r["slack"]["status"], "answered", "{r}");
    assert_eq!(r["sns"]["published"], true, "{r}");
    let root = env.slack.calls_to("chat.postMessage")[0].clone();
    assert_eq!(root.params["channel"], "C0ALERTS");
    assert!(message_text(&root).contains("checkout-5xx"));
    let thread = r["slack"]["thread_ts"].as_str().unwrap();
    assert!(answer_text(&env.slack, thread).contains("RevokeSecurityGroupIngress"));
    let published = env.published(1).await;
    assert_eq!(published.len(), 1);
    let n = &published[0];
    assert_eq!(n["version"], "1.0");
    assert_eq!(n["source"], "custom");
    assert_eq!(n["content"]["textType"], "client-markdown");
    assert!(
        n["content"]["title"]
            .as_str()
            .unwrap()
            .starts_with("fa2: checkout-5xx")
    );
    assert!(
        n["content"]["description"]
            .as_str()
            .unwrap()
            .contains("RevokeSecurityGroupIngress")
    );

    // OK transitions are not analyzed
    let r = env.lambda.invoke(alarm_event("OK")).await.unwrap();
    assert_eq!(r["status"], "ignored");

    // FA2's chatbot custom action payload: the answer as a custom notification on SNS
    let r = env
        .lambda
        .invoke(json!({
            "startDate": "2024-09-10T14:05:00Z", "endDate": "2024-09-10T14:35:00Z",
            "errorDescription": "checkout returns 503", "alarmName": "checkout-5xx",
            "alarmTimestamp": "2024-09-10T14:08:00Z"
        }))
        .await
        .unwrap();
    assert_eq!(r["sns"]["published"], true, "{r}");
    let published = env.published(1).await;
    let n = &published[0];
    assert_eq!(
        (n["version"].as_str(), n["source"].as_str()),
        (Some("1.0"), Some("custom"))
    );
    let description = n["content"]["description"].as_str().unwrap();
    assert!(description.chars().count() <= 8000);
    assert!(
        description.contains("RevokeSecurityGroupIngress"),
        "{description}"
    );
    assert!(
        description.contains("2024-09-10 23:05–23:35 (Asia/Tokyo)"),
        "{description}"
    );
    assert!(!n["content"]["nextSteps"].as_array().unwrap().is_empty());
    assert!(
        !description.contains("AKIAV7O2Q5ESAEJR2MHZ"),
        "secrets stay redacted"
    );
}

/// FA2's custom action as Chatbot sends it: `$MetricAlarmName` and `$Timestamp` filled from
/// the notification, `startDate`/`endDate` as the person typed them (here: left empty).
fn chatbot_payload(start: &str, end: &str, timestamp: Value) -> Value {
    json!({
        "startDate": start, "endDate": end, "errorDescription": "checkout returns 503",
        "alarmName": "checkout-5xx", "alarmTimestamp": timestamp
    })
}

#[tokio::test]
async fn the_custom_action_reads_chatbot_forms_and_refuses_with_a_notice() {
    let env = start(&[sample()], &[]).await;

    // $Timestamp in the forms Chatbot and people write it, with empty startDate/endDate: the
    // alarm window, alarm_lookback (15m) before and after 14:20 UTC
    for ts in [
        json!("Tue, 10 Sep 2024 14:20:00 UTC"),
        json!("2024-09-10T14:20:00.000Z"),
        json!(1_725_978_000_000i64),
    ] {
        let r = env
            .lambda
            .invoke(chatbot_payload("", "", ts.clone()))
            .await
            .unwrap();
        assert_eq!(r["status"], "analyzed", "{ts}: {r}");
        assert_eq!(r["sns"]["published"], true, "{ts}: {r}");
        let n = &env.published(1).await[0];
        let d = n["content"]["description"].as_str().unwrap();
        assert!(
            d.contains("2024-09-10 23:05–23:35 (Asia/Tokyo)"),
            "{ts}: {d}"
        );
        assert!(d.contains("RevokeSecurityGroupIngress"), "{ts}: {d}");
        assert!(!d.contains("*Note:*"), "{ts}: {d}");
        assert!(
            n["content"]["title"]
                .as_str()
                .unwrap()
                .starts_with("fa2: checkout-5xx"),
            "{n}"
        );
    }

    // a bad optional field is a note in the answer, the analysis goes on
    let r = env
        .lambda
        .invoke(json!({
            "startDate": "2024-09-10T14:05:00Z", "endDate": "2024-09-10T14:35:00Z",
            "errorDescription": "checkout returns 503", "alarmName": "$MetricAlarmName",
            "alarmTimestamp": "right after lunch"
        }))
        .await
        .unwrap();
    assert_eq!(r["status"], "analyzed", "{r}");
    let n = &env.published(1).await[0];
    let d = n["content"]["description"].as_str().unwrap();
    assert!(d.contains("RevokeSecurityGroupIngress"), "{d}");
    assert!(
        d.contains("*Note:* alarmTimestamp `right after lunch` is not a time"),
        "{d}"
    );
    assert!(d.contains("*Note:* alarmName was not filled in"), "{d}");

    // a window over max_window (24h by default): refused, and the channel is told why
    let r = env
        .lambda
        .invoke(chatbot_payload(
            "2024-09-08T14:05:00Z",
            "2024-09-10T14:35:00Z",
            json!("Tue, 10 Sep 2024 14:20:00 UTC"),
        ))
        .await
        .expect("a refused window is answered, not a failed invocation");
    assert_eq!(r["status"], "refused", "{r}");
    assert_eq!(r["sns"]["published"], true, "{r}");
    let n = &env.published(1).await[0];
    assert_eq!(
        (n["version"].as_str(), n["source"].as_str()),
        (Some("1.0"), Some("custom"))
    );
    assert_eq!(n["content"]["title"], "fa2: cannot analyze checkout-5xx");
    let d = n["content"]["description"].as_str().unwrap();
    assert!(
        d.contains("the window is 2d 30m long, over max_window = 1d"),
        "{d}"
    );
    // a startDate that is not a time: refused the same way, naming the field
    let r = env
        .lambda
        .invoke(chatbot_payload("yesterday", "", json!("")))
        .await
        .unwrap();
    assert_eq!(r["status"], "refused", "{r}");
    let n = &env.published(1).await[0];
    let d = n["content"]["description"].as_str().unwrap();
    assert!(d.contains("startDate `yesterday` is not a time"), "{d}");
    assert!(d.contains("startDate yesterday, endDate (empty)"), "{d}");
}

#[tokio::test]
async fn a_failing_source_is_named_in_the_answer() {
    let env = start(&[sample(), PathBuf::from("/nonexistent/fa2-export")], &[]).await;
    let answer = worker_answer(&env, "1725977300.000100").await;
    assert!(answer.contains("Not available"), "{answer}");
    assert!(answer.contains("/nonexistent/fa2-export"), "{answer}");
    assert!(answer.contains("RevokeSecurityGroupIngress"), "{answer}");
    let r = env
        .lambda
        .invoke(json!({"startDate": "2024-09-10T14:05:00Z", "endDate": "2024-09-10T14:35:00Z"}))
        .await
        .unwrap();
    assert_eq!(r["sns"]["published"], true, "{r}");
    let n = &env.published(1).await[0];
    assert!(
        n["content"]["description"]
            .as_str()
            .unwrap()
            .contains("Not available")
    );
}

/// An ALB request (target group with multi-value headers on), in the shape of
/// aws/aws-lambda-rust-runtime `lambda-events/src/fixtures/example-alb-lambda-target-request-multivalue-headers.json`,
/// carrying a Slack request.
fn alb_event(body: &str, good: bool) -> Value {
    let mut multi: serde_json::Map<String, Value> = signed_headers(body, good)
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    multi.insert(
        "host".into(),
        json!(["fa2-alb-1234567.us-east-1.elb.amazonaws.com"]),
    );
    multi.insert("x-forwarded-proto".into(), json!(["https"]));
    multi.insert("x-forwarded-port".into(), json!(["443"]));
    json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/fa2/abcdefgh"}},
        "httpMethod": "POST", "path": "/slack/events",
        "multiValueQueryStringParameters": {},
        "multiValueHeaders": multi,
        "body": body, "isBase64Encoded": false
    })
}

fn set_alb_header(event: &mut Value, name: &str, value: &str) {
    event["multiValueHeaders"][name] = json!([value]);
}

#[tokio::test]
async fn hostile_http_requests_get_a_401_and_never_crash_the_function() {
    let mut env = start(&[sample()], &[]).await;
    let body = slash_command("checkout returns 503");

    // what panicked in lambda_http's request conversion before the signature was checked:
    // hosts and schemes that make no URL, and a body that is not base64
    let mut hostile = Vec::new();
    for host in ["xn--a", "[::1", "a:99999", "bad host"] {
        let mut e = alb_event(&body, false);
        set_alb_header(&mut e, "host", host);
        hostile.push((format!("ALB host {host}"), e));
        // a target group without multi-value headers sends `headers` only
        let mut e = alb_event(&body, false);
        let multi = e
            .as_object_mut()
            .unwrap()
            .remove("multiValueHeaders")
            .unwrap();
        let single: serde_json::Map<String, Value> = multi
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v[0].clone()))
            .collect();
        e["headers"] = Value::Object(single);
        e["headers"]["host"] = json!(host);
        hostile.push((format!("ALB (single-value headers) host {host}"), e));
        let mut e = http_api_event(&body, false);
        e["headers"]["host"] = json!(host);
        hostile.push((format!("HTTP API host {host}"), e));
    }
    for proto in ["ht tp", "://", "h\u{e9}"] {
        let mut e = alb_event(&body, false);
        set_alb_header(&mut e, "x-forwarded-proto", proto);
        hostile.push((format!("ALB x-forwarded-proto {proto}"), e));
    }
    for (name, mut e) in [
        ("HTTP API", http_api_event(&body, true)),
        ("REST API", rest_api_event(&body)),
        ("ALB", alb_event(&body, true)),
    ] {
        // flagged base64 but not base64: verified as sent, and Slack signed something else
        e["isBase64Encoded"] = json!(true);
        e["body"] = json!("%%% not base64 %%%");
        hostile.push((format!("{name} body not base64"), e));
    }
    let mut e = rest_api_event(&body);
    e["headers"]["x-slack-signature"] = json!("v0=00\r\nx-injected: 1");
    e["multiValueHeaders"]["x-slack-signature"] = json!(["v0=00\r\nx-injected: 1"]);
    hostile.push(("REST API signature with CRLF".into(), e));
    for (what, event) in hostile {
        let r = env
            .lambda
            .invoke(event)
            .await
            .unwrap_or_else(|e| panic!("{what}: an invocation error instead of a 401: {e}"));
        assert_eq!(r["statusCode"], 401, "{what}: {r}");
    }
    assert!(env.alive(), "the function process died");
    assert!(env.lambda.invokes().is_empty(), "nothing was dispatched");

    // signed by Slack, behind an ALB with a Host no URL can hold: read leniently and served
    let mut e = alb_event(&body, true);
    set_alb_header(&mut e, "host", "[::1");
    set_alb_header(&mut e, "x-forwarded-proto", "ht tp");
    let r = env.lambda.invoke(e).await.unwrap();
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(r["statusDescription"], "200 OK", "ALB response shape: {r}");
    assert_eq!(env.lambda.invokes().len(), 1);
    assert!(env.alive());
}

/// The direct Lambda alarm action's event (no `detail-type`, the alarm in `alarmData`), in the
/// shape of the CloudWatch User Guide's sample as aws/aws-lambda-rust-runtime keeps it
/// (`lambda-events/src/fixtures/example-cloudwatch-alarm-metric.json`) and as LocalStack
/// recorded it from AWS (`tests/aws/services/cloudwatch/test_cloudwatch.snapshot.json`,
/// `test_alarm_lambda_target`).
fn alarm_action_event() -> Value {
    json!({
        "source": "aws.cloudwatch",
        "alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-5xx",
        "accountId": "123456789012", "time": "2024-09-10T14:20:00.000+0000", "region": "us-east-1",
        "alarmData": {
            "alarmName": "checkout-5xx",
            "state": {"value": "ALARM", "reason": "Threshold Crossed: 1 out of the last 1 datapoints [58.0 (10/09/24 14:19:00)] was greater than the threshold (10.0).", "timestamp": "2024-09-10T14:20:00.000+0000"},
            "previousState": {"value": "OK", "reason": "ok", "timestamp": "2024-09-10T13:00:00.000+0000"},
            "configuration": {
                "description": "checkout 5xx",
                "metrics": [{"id": "m1", "metricStat": {"metric": {"namespace": "AWS/ApplicationELB", "name": "HTTPCode_Target_5XX_Count", "dimensions": {"LoadBalancer": "app/checkout/50dc6c495c0c9188"}}, "period": 60, "stat": "Sum"}, "returnData": true}]
            }
        }
    })
}

/// An alarm notification delivered by SNS, in the shape of aws/aws-lambda-go
/// `events/testdata/cloudwatch-alarm-sns-payload-single-metric.json`.
fn sns_alarm_event() -> Value {
    let message = json!({
        "AlarmName": "checkout-5xx", "AlarmDescription": "checkout 5xx",
        "AWSAccountId": "123456789012", "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [58.0 (10/09/24 14:19:00)] was greater than the threshold (10.0).",
        "StateChangeTime": "2024-09-10T14:20:00.000+0000", "Region": "US East (N. Virginia)",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-5xx",
        "OldStateValue": "OK",
        "Trigger": {"MetricName": "HTTPCode_Target_5XX_Count", "Namespace": "AWS/ApplicationELB",
                    "StatisticType": "Statistic", "Statistic": "SUM", "Unit": null,
                    "Dimensions": [{"value": "app/checkout/50dc6c495c0c9188", "name": "LoadBalancer"}],
                    "Period": 60, "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold",
                    "Threshold": 10.0, "TreatMissingData": "missing", "EvaluateLowSampleCountPercentile": ""}
    });
    json!({"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:alarms:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
        "Sns": {
            "Type": "Notification", "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:alarms",
            "Subject": "ALARM: \"checkout-5xx\" in US East (N. Virginia)",
            "Message": message.to_string(), "Timestamp": "2024-09-10T14:20:00.500Z",
            "SignatureVersion": "1", "Signature": "EXAMPLE", "SigningCertUrl": "EXAMPLE",
            "UnsubscribeUrl": "EXAMPLE", "MessageAttributes": {}
        }
    }]})
}

/// The CloudWatch User Guide's "State change for a composite alarm with a suppressor alarm"
/// (`cloudwatch-and-eventbridge.md`), as EventBridge delivers it.
fn suppressed_composite_event() -> Value {
    json!({
        "version": "0", "id": "d3dfc86d-384d-24c8-0345-9f7986db0b80",
        "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": "123456789012", "time": "2022-07-22T15:57:45Z", "region": "us-east-1",
        "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServiceAggregatedAlarm"],
        "detail": {
            "alarmName": "ServiceAggregatedAlarm",
            "state": {
                "actionsSuppressedBy": "WaitPeriod",
                "actionsSuppressedReason": "Actions suppressed by WaitPeriod",
                "value": "ALARM",
                "reason": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:SuppressionDemo.EventBridge.FirstChild transitioned to ALARM at Friday 22 July, 2022 15:57:45 UTC",
                "reasonData": "{\"triggeringAlarms\":[{\"arn\":\"arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh\",\"state\":{\"value\":\"ALARM\",\"timestamp\":\"2022-07-22T15:57:45.394+0000\"}}]}",
                "timestamp": "2022-07-22T15:57:45.394+0000"
            },
            "previousState": {"value": "OK", "reason": "created", "timestamp": "2022-07-22T15:56:14.552+0000"},
            "configuration": {
                "alarmRule": "ALARM(ServerCpuTooHigh) OR ALARM(TotalNetworkTrafficTooHigh)",
                "actionsSuppressor": "ServiceMaintenanceAlarm",
                "actionsSuppressorWaitPeriod": 120, "actionsSuppressorExtensionPeriod": 180
            }
        }
    })
}

#[tokio::test]
async fn every_alarm_shape_is_analyzed_and_suppressed_actions_are_respected() {
    let mut env = start(&[sample()], &[]).await;

    // a composite alarm whose actions CloudWatch suppressed: not analyzed, nothing posted
    let r = env
        .lambda
        .invoke(suppressed_composite_event())
        .await
        .unwrap();
    assert_eq!(r["status"], "suppressed", "{r}");
    assert_eq!(r["suppressed_by"], "WaitPeriod", "{r}");
    assert_eq!(r["reason"], "Actions suppressed by WaitPeriod", "{r}");
    assert!(env.slack.calls_to("chat.postMessage").is_empty());
    let queued = sqs(
        &env.http,
        &env.moto,
        "ReceiveMessage",
        json!({"QueueUrl": env.queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1}),
    )
    .await;
    assert!(
        queued["Messages"].as_array().is_none_or(Vec::is_empty),
        "nothing published: {queued}"
    );

    // the alarm as its own Lambda action sends it, and wrapped in SNS: the same analysis as
    // the EventBridge event's, posted to Slack and SNS
    for (via, event) in [
        ("alarm action", alarm_action_event()),
        ("sns", sns_alarm_event()),
        ("eventbridge", alarm_event("ALARM")),
    ] {
        let r = env.lambda.invoke(event).await.unwrap();
        assert_eq!(r["status"], "analyzed", "{via}: {r}");
        assert_eq!(r["via"], via, "{r}");
        assert_eq!(r["alarm"], "checkout-5xx", "{r}");
        assert_eq!(r["slack"]["status"], "answered", "{via}: {r}");
        let thread = r["slack"]["thread_ts"].as_str().unwrap();
        let answer = answer_text(&env.slack, thread);
        assert!(
            answer.contains("RevokeSecurityGroupIngress"),
            "{via}: {answer}"
        );
        // the alarm window: alarm_lookback (15m) on both sides of 14:20 UTC
        assert!(
            answer.contains("2024-09-10 23:05–23:35 (Asia/Tokyo)"),
            "{via}: {answer}"
        );
        assert_eq!(r["sns"]["published"], true, "{via}: {r}");
        let n = &env.published(1).await[0];
        assert!(
            n["content"]["title"]
                .as_str()
                .unwrap()
                .starts_with("fa2: checkout-5xx"),
            "{via}: {n}"
        );
    }
    let roots: Vec<_> = env
        .slack
        .calls_to("chat.postMessage")
        .into_iter()
        .filter(|c| {
            c.params["channel"] == "C0ALERTS"
                && c.params.get("thread_ts").is_none_or(|t| t.is_null())
        })
        .collect();
    assert_eq!(roots.len(), 3, "one root message per analyzed alarm");

    // an SNS message that is no alarm is a bad event, with a documented errorType
    let mut e = sns_alarm_event();
    e["Records"][0]["Sns"]["Message"] = json!("Hello from SNS!");
    let err = env.lambda.invoke(e).await.unwrap_err();
    assert_eq!(err["errorType"], "Fa2.BadEvent", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("not a CloudWatch alarm notification"),
        "{err}"
    );
    assert!(env.alive());
}
