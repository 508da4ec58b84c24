//! Socket Mode end to end: `apps.connections.open` on the fake Web API hands out the URL of a
//! local WebSocket server that speaks Slack's Socket Mode envelopes (`hello`, `events_api`,
//! `slash_commands`, `interactive`) and checks the acknowledgements fa2 sends back.

#![allow(clippy::unwrap_used)]

#[path = "support/fake_slack.rs"]
mod fake_slack;

use fa2_core::config::{Config, FilesConfig};
use fa2_slack::Service;
use fake_slack::{FakeSlack, message_text};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(60);

/// One Socket Mode connection: envelopes to send, acknowledgements received.
struct Socket {
    send: mpsc::UnboundedSender<Value>,
    acks: mpsc::UnboundedReceiver<Value>,
}

async fn socket_server() -> (String, mpsc::UnboundedReceiver<Socket>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "ws://{}/link/?ticket=fa2-test",
        listener.local_addr().unwrap()
    );
    let (conn_tx, conn_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                continue;
            };
            let (mut sink, mut stream) = ws.split();
            let (send_tx, mut send_rx) = mpsc::unbounded_channel::<Value>();
            let (ack_tx, ack_rx) = mpsc::unbounded_channel::<Value>();
            let hello = json!({
                "type": "hello", "num_connections": 1,
                "debug_info": {"host": "applink-1", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A0FA2"}
            });
            sink.send(Message::Text(hello.to_string().into()))
                .await
                .unwrap();
            tokio::spawn(async move {
                while let Some(v) = send_rx.recv().await {
                    if sink
                        .send(Message::Text(v.to_string().into()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                while let Some(Ok(msg)) = stream.next().await {
                    if let Message::Text(t) = msg
                        && let Ok(v) = serde_json::from_str::<Value>(&t)
                    {
                        let _ = ack_tx.send(v);
                    }
                }
            });
            let _ = conn_tx.send(Socket {
                send: send_tx,
                acks: ack_rx,
            });
        }
    });
    (url, conn_rx)
}

async fn ack_for(socket: &mut Socket, envelope: &str) -> Value {
    loop {
        let v = tokio::time::timeout(WAIT, socket.acks.recv())
            .await
            .expect("no acknowledgement")
            .expect("socket closed");
        if v["envelope_id"] == envelope {
            return v;
        }
    }
}

#[tokio::test]
async fn socket_mode_envelopes_get_the_same_handling_as_http() {
    let fake = FakeSlack::start().await;
    let (url, mut connections) = socket_server().await;
    fake.set_socket_url(&url);
    let mut config = Config::default();
    config.sources.files = Some(FilesConfig {
        paths: vec![PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/sample-incident"
        ))],
        ..FilesConfig::default()
    });
    config.timezone = "Asia/Tokyo".into();
    config.slack.bot_token = "xoxb-socket".into();
    config.slack.app_token = "xapp-1-socket".into();
    config.slack.api_url = fake.api_url();
    let analyzer = fa2_core::assemble::analyzer(&config, None, Vec::new()).unwrap();
    let service = Service::new(&config, Arc::new(analyzer)).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let app = service.app.clone();
    let listener = tokio::spawn(async move {
        fa2_slack::socket::serve_socket_mode(app, "xapp-1-socket", async {
            let _ = stop_rx.await;
        })
        .await
    });
    let mut socket = tokio::time::timeout(WAIT, connections.recv())
        .await
        .expect("fa2 did not connect")
        .unwrap();
    let opened = fake.calls_to("apps.connections.open");
    assert_eq!(opened[0].auth.as_deref(), Some("Bearer xapp-1-socket"));

    // an alarm from Amazon Q Developer in chat applications → acked, form in its thread
    let ts = "1725977300.000100";
    socket
        .send
        .send(json!({
            "envelope_id": "env-alarm", "type": "events_api", "accepts_response_payload": false,
            "retry_attempt": 0, "retry_reason": "",
            "payload": {
                "token": "legacy", "team_id": "T0TEAM", "api_app_id": "A0FA2",
                "type": "event_callback", "event_id": "Ev0SOCKET", "event_time": 1725977300,
                "event": {
                    "type": "message", "subtype": "bot_message", "text": "", "ts": ts,
                    "channel": "C0OPS", "channel_type": "channel", "bot_id": "B0CHATBOT",
                    "bot_profile": {"id": "B0CHATBOT", "app_id": "A6L22LZNH", "name": "Amazon Q", "team_id": "T0TEAM", "deleted": false, "updated": 1700000000},
                    "attachments": [{
                        "id": 1, "color": "danger", "fallback": "alarm",
                        "title": ":rotating_light: CloudWatch Alarm | checkout-5xx | us-east-1 | Account: 123456789012",
                        "text": "Threshold Crossed: 1 out of the last 1 datapoints [58.0 (10/09/24 14:08:00)] was greater than the threshold (10.0)."
                    }]
                }
            }
        }))
        .unwrap();
    assert_eq!(
        ack_for(&mut socket, "env-alarm").await,
        json!({"envelope_id": "env-alarm"})
    );
    let calls = fake
        .wait_for(WAIT, |c| {
            c.iter()
                .any(|x| x.method == "chat.postMessage" && x.params["thread_ts"] == ts)
        })
        .await;
    let form = calls
        .iter()
        .find(|x| x.method == "chat.postMessage")
        .unwrap();
    assert!(message_text(form).contains("checkout-5xx"));
    assert!(
        form.params["blocks"]
            .to_string()
            .contains("\"initial_time\":\"22:53\"")
    );

    // /fa2 with text → acked with the reply as payload, then an answer in a new thread
    socket
        .send
        .send(json!({
            "envelope_id": "env-cmd", "type": "slash_commands", "accepts_response_payload": true,
            "payload": {
                "token": "legacy", "team_id": "T0TEAM", "team_domain": "example",
                "channel_id": "C0OPS", "channel_name": "ops", "user_id": "U0ALICE", "user_name": "alice",
                "command": "/fa2", "text": "checkout is slow", "api_app_id": "A0FA2",
                "is_enterprise_install": "false",
                "response_url": "https://hooks.slack.com/commands/T0TEAM/1/abc", "trigger_id": "1.2.3"
            }
        }))
        .unwrap();
    let ack = ack_for(&mut socket, "env-cmd").await;
    assert!(
        ack["payload"]["text"]
            .as_str()
            .unwrap()
            .contains("last 30 minutes"),
        "{ack}"
    );
    fake.wait_for(WAIT, |c| {
        c.iter().any(|x| x.method == "files.completeUploadExternal")
    })
    .await;

    // a modal submission with the end before the start → errors in the ack payload
    socket
        .send
        .send(json!({
            "envelope_id": "env-view", "type": "interactive", "accepts_response_payload": true,
            "payload": {
                "type": "view_submission",
                "team": {"id": "T0TEAM", "domain": "example"},
                "user": {"id": "U0ALICE", "username": "alice", "name": "alice", "team_id": "T0TEAM"},
                "api_app_id": "A0FA2", "token": "legacy", "trigger_id": "4.5.6",
                "view": {
                    "id": "V0FA2FORM", "team_id": "T0TEAM", "type": "modal", "hash": "1.a",
                    "callback_id": "fa2_form",
                    "private_metadata": "{\"channel\":\"C0OPS\",\"tz\":\"Asia/Tokyo\"}",
                    "title": {"type": "plain_text", "text": "fa2 analysis"}, "blocks": [],
                    "state": {"values": {
                        "fa2_start_date": {"value": {"type": "datepicker", "selected_date": "2024-09-10"}},
                        "fa2_start_time": {"value": {"type": "timepicker", "selected_time": "23:30"}},
                        "fa2_end_date": {"value": {"type": "datepicker", "selected_date": "2024-09-10"}},
                        "fa2_end_time": {"value": {"type": "timepicker", "selected_time": "23:00"}}
                    }}
                }
            }
        }))
        .unwrap();
    let ack = ack_for(&mut socket, "env-view").await;
    assert_eq!(ack["payload"]["response_action"], "errors", "{ack}");
    assert_eq!(
        ack["payload"]["errors"]["fa2_end_time"],
        "The start must be before the end."
    );

    stop_tx.send(()).unwrap();
    tokio::time::timeout(WAIT, listener)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
