//! `fa2-slack serve` as a process: it refuses to start without its secrets (saying which
//! variable to set), serves `/healthz` and signed requests, and exits cleanly on SIGTERM,
//! within its shutdown grace even while clients hold half-sent requests.

#![allow(clippy::unwrap_used)]

#[path = "support/fake_slack.rs"]
mod fake_slack;

use fake_slack::FakeSlack;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn sample() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/sample-incident").to_string()
}

#[test]
fn missing_secret_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fa2-slack"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("FA2_SLACK__SIGNING_SECRET")
        .env("FA2_SLACK__BOT_TOKEN", "xoxb-x")
        .env("FA2_SOURCES__FILES__PATHS", sample())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FA2_SLACK__SIGNING_SECRET"), "{err}");
}

#[tokio::test]
async fn serves_and_stops_on_sigterm() {
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fa2-slack"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("FA2_SLACK__SIGNING_SECRET", "bin-secret")
        .env("FA2_SLACK__BOT_TOKEN", "xoxb-bin")
        .env("FA2_SLACK__API_URL", fake.api_url())
        .env("FA2_SOURCES__FILES__PATHS", sample())
        .env("FA2_LOG", "info")
        // the clients below would hold the server for minutes without the shutdown grace
        .env("FA2_SLACK__HEADER_TIMEOUT", "10m")
        .env("FA2_SLACK__BODY_TIMEOUT", "10m")
        .env("FA2_SLACK__SHUTDOWN_GRACE", "300ms")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let url = loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_string();
        }
    };
    let base = url.trim_end_matches("/slack/events").to_string();
    let http = reqwest::Client::new();
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    let body = r#"{"type":"url_verification","challenge":"xyz"}"#;
    let ts = chrono::Utc::now().timestamp();
    let r = http
        .post(&url)
        .header("x-slack-request-timestamp", ts.to_string())
        .header(
            "x-slack-signature",
            fa2_slack::verify::sign("bin-secret", ts, body),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), r#"{"challenge":"xyz"}"#);
    let r = http.post(&url).body(body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // two clients stall: one in its request head, one in its body
    let addr = base.trim_start_matches("http://").to_string();
    let mut stalled = Vec::new();
    for request in [
        "POST /slack/events HTTP/1.1\r\nHost: fa2\r\nX-Slack-Sig".to_string(),
        format!(
            "POST /slack/events HTTP/1.1\r\nHost: fa2\r\nContent-Length: {}\r\n\r\n{{\"type\"",
            body.len()
        ),
    ] {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        stalled.push(s);
    }
    // both are being served (a plain request after them is answered)
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    // the stalled clients were dropped after the grace period, as the log says
    for mut s in stalled {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "a stalled connection is still open");
    }
    let mut log = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        log.push(line);
    }
    let log = log.join("\n");
    assert!(
        log.contains("connections still open after 300ms; closing them"),
        "{log}"
    );
}
