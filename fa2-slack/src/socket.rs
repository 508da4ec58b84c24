//! Socket Mode: fa2 connects out to Slack over a WebSocket (slack-morphism's listener), so no
//! public endpoint is needed. Envelopes go through the same [`SlackApp`] handlers as HTTP;
//! the acknowledgement carries the same payloads (form errors, command replies).

use crate::app::{Handled, SlackApp};
use slack_morphism::prelude::*;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// Socket Mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error(
        "Socket Mode connection failed: {0} (check slack.app_token: an app-level token xapp-… with connections:write)"
    )]
    Connect(String),
}

type Client = SlackClient<SlackClientHyperHttpsConnector>;

fn app_of(states: &SlackClientEventsUserStateStorage) -> Option<Arc<SlackApp>> {
    states.get_user_state::<Arc<SlackApp>>().cloned()
}

fn spawn_followups(app: Arc<SlackApp>, handled: &Handled) {
    if handled.followups.is_empty() {
        return;
    }
    let handled = handled.clone();
    tokio::spawn(async move { app.perform_all(handled).await });
}

fn missing_state() -> Box<dyn std::error::Error + Send + Sync> {
    "the Slack app is not attached to the Socket Mode listener".into()
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Arc<Client>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let app = app_of(&*states.read().await).ok_or_else(missing_state)?;
    let mut envelope = serde_json::to_value(&event)?;
    envelope["type"] = "event_callback".into();
    let handled = app.on_events_api(&envelope);
    spawn_followups(app, &handled);
    Ok(())
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<Client>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let app = app_of(&*states.read().await).ok_or_else(missing_state)?;
    let payload = serde_json::to_value(&event)?;
    let handled = app.on_interaction(&payload);
    spawn_followups(app, &handled);
    if handled.body.is_empty() {
        return Ok(SlackInteractionResponse::Empty);
    }
    let response: SlackViewSubmissionResponse = serde_json::from_str(&handled.body)?;
    Ok(SlackInteractionResponse::ViewSubmission(response))
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<Client>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let app = app_of(&*states.read().await).ok_or_else(missing_state)?;
    let form: BTreeMap<String, String> = match serde_json::to_value(&event)? {
        serde_json::Value::Object(map) => map
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
            .collect(),
        _ => BTreeMap::new(),
    };
    let handled = app.on_command(&form);
    spawn_followups(app, &handled);
    let text = serde_json::from_str::<serde_json::Value>(&handled.body)
        .ok()
        .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_string));
    let mut content = SlackMessageContent::new();
    if let Some(t) = text {
        content = content.with_text(t);
    }
    Ok(SlackCommandEventResponse::new(content)
        .with_response_type(SlackMessageResponseType::Ephemeral))
}

/// Connects with the app-level token and serves until `shutdown` resolves.
pub async fn serve_socket_mode(
    app: Arc<SlackApp>,
    app_token: &str,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SocketError> {
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(app.web().client()).with_user_state(app.clone()),
    );
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_push_events(on_push)
        .with_interaction_events(on_interaction)
        .with_command_events(on_command);
    let listener = SlackClientSocketModeListener::new(
        &SlackClientSocketModeConfig::new(),
        environment,
        callbacks,
    );
    listener
        .listen_for(&SlackApiToken::new(SlackApiTokenValue(
            app_token.to_string(),
        )))
        .await
        .map_err(|e| SocketError::Connect(e.to_string()))?;
    listener.start().await;
    tracing::info!("connected to Slack over Socket Mode");
    shutdown.await;
    listener.shutdown().await;
    Ok(())
}
