//! End to end on AWS APIs: `fa2 analyze --config` with only `AWS_ENDPOINT_URL` pointing at a
//! real moto server (CloudWatch Logs seeded through the real SDK) and
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` at a local server that speaks Bedrock's ConverseStream
//! wire format (moto has no Bedrock Runtime). The seeded root cause must lead the evidence and
//! the Bedrock answer must be the report's.

#![allow(clippy::unwrap_used)]

#[path = "../../fa2-core/tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// CRC-32 (IEEE), as the event stream framing uses.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
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

/// One `application/vnd.amazon.eventstream` message carrying a Bedrock stream event.
fn event(kind: &str, payload: &serde_json::Value) -> Vec<u8> {
    let mut headers = Vec::new();
    for (name, value) in [
        (":event-type", kind),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ] {
        headers.push(name.len() as u8);
        headers.extend_from_slice(name.as_bytes());
        headers.push(7); // string
        headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        headers.extend_from_slice(value.as_bytes());
    }
    let body = serde_json::to_vec(payload).unwrap();
    let total = 12 + headers.len() + body.len() + 4;
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(&(total as u32).to_be_bytes());
    msg.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&msg);
    msg.extend_from_slice(&prelude_crc.to_be_bytes());
    msg.extend_from_slice(&headers);
    msg.extend_from_slice(&body);
    let crc = crc32(&msg);
    msg.extend_from_slice(&crc.to_be_bytes());
    msg
}

#[test]
fn crc32_matches_the_standard_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

/// `(path, body)` of every request the fake received.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Serves ConverseStream answers forever; records each request's path and body.
fn fake_bedrock(answer: serde_json::Value) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            // headers, then Content-Length bytes of body
            let (head, body) = loop {
                let Ok(n) = s.read(&mut chunk) else {
                    break (String::new(), String::new());
                };
                if n == 0 {
                    break (String::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..pos]).to_string();
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while buf.len() < pos + 4 + len {
                        let Ok(n) = s.read(&mut chunk) else { break };
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    break (head, String::from_utf8_lossy(&buf[pos + 4..]).to_string());
                }
            };
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            seen2.lock().unwrap().push((path.clone(), body));
            if path.ends_with("/converse") {
                let json = serde_json::json!({
                    "output": {"message": {"role": "assistant", "content": [{"text": "pong"}]}},
                    "stopReason": "max_tokens",
                    "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
                    "metrics": {"latencyMs": 1}
                })
                .to_string();
                let _ = s.write_all(
                    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}", json.len()).as_bytes(),
                );
                continue;
            }
            let input = serde_json::to_string(&answer).unwrap();
            let mut out = Vec::new();
            out.extend(event(
                "messageStart",
                &serde_json::json!({"role": "assistant"}),
            ));
            out.extend(event(
                "contentBlockStart",
                &serde_json::json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "report_root_cause"}}}),
            ));
            let (a, b) = input.split_at(input.len() / 2);
            for part in [a, b] {
                out.extend(event(
                    "contentBlockDelta",
                    &serde_json::json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": part}}}),
                ));
            }
            out.extend(event(
                "contentBlockStop",
                &serde_json::json!({"contentBlockIndex": 0}),
            ));
            out.extend(event(
                "messageStop",
                &serde_json::json!({"stopReason": "tool_use"}),
            ));
            out.extend(event(
                "metadata",
                &serde_json::json!({"usage": {"inputTokens": 900, "outputTokens": 120, "totalTokens": 1020}, "metrics": {"latencyMs": 42}}),
            ));
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\nContent-Length: {}\r\nx-amzn-RequestId: 1\r\nConnection: close\r\n\r\n",
                out.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&out);
        }
    });
    (port, seen)
}

#[test]
fn analyze_with_cloudwatch_logs_on_moto_and_bedrock() {
    let moto = support::Moto::start();
    let now = chrono::Utc::now();
    let now_ms = now.timestamp_millis();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cfg = moto.sdk_config().await;
        let logs = aws_sdk_cloudwatchlogs::Client::new(&cfg);
        logs.create_log_group().log_group_name("/aws/lambda/orders-fn").send().await.unwrap();
        logs.create_log_stream().log_group_name("/aws/lambda/orders-fn").log_stream_name("s1").send().await.unwrap();
        let mut events = Vec::new();
        // 90 minutes: steady traffic, a chronic error, and from 25 minutes ago a new throttling error
        for i in 0..540i64 {
            let t = now_ms - 90 * 60_000 + i * 10_000;
            events.push((t, format!("INFO Put item into table orders in {}ms", 5 + i % 40)));
            if i % 30 == 0 {
                events.push((t + 1, "ERROR Failed to refresh feature flags: upstream returned 503".to_string()));
            }
            if t > now_ms - 25 * 60_000 && i % 2 == 0 {
                events.push((t + 2, format!("ERROR ProvisionedThroughputExceededException: Rate exceeded for table orders (request {i})")));
            }
        }
        let cw = aws_sdk_cloudwatch::Client::new(&cfg);
        for m in 0..80i64 {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis((now_ms - 80 * 60_000 + m * 60_000) as u64);
            let v = if m >= 55 { 120.0 } else { 0.0 };
            cw.put_metric_data()
                .namespace("AWS/DynamoDB")
                .metric_data(
                    aws_sdk_cloudwatch::types::MetricDatum::builder()
                        .metric_name("ThrottledRequests")
                        .dimensions(aws_sdk_cloudwatch::types::Dimension::builder().name("TableName").value("orders").build())
                        .timestamp(aws_smithy_types::DateTime::from(t))
                        .value(v)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
        for chunk in events.chunks(1000) {
            let mut put = logs.put_log_events().log_group_name("/aws/lambda/orders-fn").log_stream_name("s1");
            for (t, m) in chunk {
                put = put.log_events(aws_sdk_cloudwatchlogs::types::InputLogEvent::builder().timestamp(*t).message(m).build().unwrap());
            }
            put.send().await.unwrap();
        }
    });

    let answer = serde_json::json!({
        "summary": "Bedrock says: the orders table is throttled since its capacity was cut [E1].",
        "impact": "orders fail",
        "hypotheses": [{"title": "DynamoDB throttling on orders", "confidence": "high", "evidence": ["E1"], "explanation": "new errors [E1]"}],
        "timeline": [],
        "actions": ["raise capacity"],
        "prevention": ["alarm on throttles"]
    });
    let (bedrock_port, seen) = fake_bedrock(answer);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fa2.toml");
    std::fs::write(
        &config,
        r#"
region = "us-east-1"
deadline = "60s"
[llm]
backend = "bedrock"
model = "global.anthropic.claude-sonnet-4-6"
max_retries = 0
[sources.cloudwatch_logs]
log_groups = ["/aws/lambda/orders-fn"]
[[sources.metrics.queries]]
namespace = "AWS/DynamoDB"
metric = "ThrottledRequests"
dimensions = { TableName = "orders" }
stat = "Sum"
"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fa2"))
        .args([
            "analyze",
            "--config",
            config.to_str().unwrap(),
            "--since",
            "30m",
            "--format",
            "json",
        ])
        .env_remove("FA2_CONFIG")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env(
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            format!("http://127.0.0.1:{bedrock_port}"),
        )
        .env("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
        .env("AWS_SECRET_ACCESS_KEY", "testsecret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let logs = r["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "cloudwatch-logs")
        .unwrap();
    assert_eq!(logs["status"], "ok", "{logs}");
    assert!(logs["records"].as_u64().unwrap() > 600);
    let metrics = r["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "cloudwatch-metrics")
        .unwrap();
    assert_eq!(metrics["status"], "ok", "{metrics}");
    assert!(
        r["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .take(5)
            .any(|e| e["kind"] == "metric_shift"
                && e["title"].as_str().unwrap().contains("ThrottledRequests")),
        "the metric shift is among the top evidence"
    );
    let e1 = &r["evidence"][0];
    assert!(
        e1["title"]
            .as_str()
            .unwrap()
            .contains("ProvisionedThroughputExceededException"),
        "{e1}"
    );
    assert!(
        e1["reproduce"]
            .as_str()
            .unwrap()
            .contains("/aws/lambda/orders-fn"),
        "{e1}"
    );
    assert_eq!(r["llm"]["backend"], "bedrock");
    assert!(r["llm"]["error"].is_null(), "{}", r["llm"]);
    assert!(r["summary"].as_str().unwrap().starts_with("Bedrock says"));
    assert_eq!(r["hypotheses"][0]["evidence"][0], "E1");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0]
            .0
            .starts_with("/model/global.anthropic.claude-sonnet-4-6/converse-stream"),
        "{}",
        seen[0].0
    );
    let body: serde_json::Value = serde_json::from_str(&seen[0].1).unwrap();
    assert_eq!(
        body["toolConfig"]["toolChoice"]["tool"]["name"],
        "report_root_cause"
    );
    let user = body["messages"][0]["content"][0]["text"].as_str().unwrap();
    assert!(
        user.contains("<telemetry>") && user.contains("ProvisionedThroughputExceededException")
    );
}

#[test]
fn check_reports_each_configured_part_and_what_to_fix() {
    let moto = support::Moto::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cfg = moto.sdk_config().await;
        let logs = aws_sdk_cloudwatchlogs::Client::new(&cfg);
        logs.create_log_group()
            .log_group_name("/ecs/checkout-api")
            .send()
            .await
            .unwrap();
    });
    let (bedrock_port, seen) = fake_bedrock(serde_json::json!({}));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fa2.toml");
    std::fs::write(
        &config,
        r#"
region = "us-east-1"
[llm]
backend = "bedrock"
model = "us.anthropic.claude-sonnet-4-6"
[sources.cloudwatch_logs]
log_groups = ["/ecs/checkout-api", "/ecs/missing"]
"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fa2"))
        .args(["check", "--config", config.to_str().unwrap()])
        .env_remove("FA2_CONFIG")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env(
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            format!("http://127.0.0.1:{bedrock_port}"),
        )
        .env("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
        .env("AWS_SECRET_ACCESS_KEY", "testsecret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "one check fails: {text}");
    assert!(text.contains("✔ aws region: us-east-1"), "{text}");
    assert!(
        text.contains("✔ aws credentials: found (access key AKIA…)"),
        "{text}"
    );
    assert!(
        text.contains("✔ cloudwatch logs /ecs/checkout-api: found"),
        "{text}"
    );
    assert!(
        text.contains("✘ cloudwatch logs /ecs/missing: not found"),
        "{text}"
    );
    assert!(
        text.contains("fix: check the name and the region"),
        "{text}"
    );
    assert!(
        text.contains("✔ bedrock us.anthropic.claude-sonnet-4-6: model access works"),
        "{text}"
    );
    assert!(
        seen.lock().unwrap()[0]
            .0
            .starts_with("/model/us.anthropic.claude-sonnet-4-6/converse")
    );
}
