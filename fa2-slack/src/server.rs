//! The self-hosted transports: an HTTP server (`POST /slack/events` for events,
//! interactivity and slash commands, `GET /healthz`) on axum, and [`Service`], which wires a
//! config into the app, the job runner and the task dispatcher for it and for Socket Mode.

use crate::app::{AppSettings, SlackApp};
use crate::dispatch::TaskDispatcher;
use crate::job::JobRunner;
use crate::verify::MAX_BODY_BYTES;
use crate::web::{SlackWeb, WebError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use fa2_core::analyze::Analyzer;
use fa2_core::config::Config;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// A configuration that cannot run the Slack app.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "slack.{key} is not set: set FA2_SLACK__{env} (or slack.{key} in fa2.toml); find it in your Slack app's settings under {place}"
    )]
    MissingSecret {
        key: &'static str,
        env: &'static str,
        place: &'static str,
    },
    #[error(transparent)]
    Web(#[from] WebError),
}

/// The app with its dispatcher, ready for a transport.
#[derive(Debug, Clone)]
pub struct Service {
    pub app: Arc<SlackApp>,
    pub dispatcher: TaskDispatcher,
}

/// Requires a secret from the config.
pub fn require(
    value: &str,
    key: &'static str,
    env: &'static str,
    place: &'static str,
) -> Result<(), SetupError> {
    if value.trim().is_empty() {
        return Err(SetupError::MissingSecret { key, env, place });
    }
    Ok(())
}

impl Service {
    /// Wires `config` (the `[slack]` section: bot token, signing secret, API URL, limits)
    /// around `analyzer`.
    pub fn new(config: &Config, analyzer: Arc<Analyzer>) -> Result<Service, SetupError> {
        require(
            &config.slack.bot_token,
            "bot_token",
            "BOT_TOKEN",
            "OAuth & Permissions (xoxb-…)",
        )?;
        let web = SlackWeb::new(&config.slack.api_url, &config.slack.bot_token)?;
        let runner = Arc::new(JobRunner {
            web: web.clone(),
            analyzer,
            baseline: config.baseline.0,
            architecture: config.architecture.clone(),
            policy: fa2_core::window::WindowPolicy::from_config(config),
        });
        let dispatcher = TaskDispatcher::new(runner, config.slack.max_concurrent);
        let app = Arc::new(SlackApp::new(
            AppSettings::from_config(config),
            &config.slack.signing_secret,
            web,
            Arc::new(dispatcher.clone()),
        ));
        Ok(Service { app, dispatcher })
    }
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn slack_events(
    State(app): State<Arc<SlackApp>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let handled = app.handle_http(&headers, &body, unix_now());
    let response = handled.response();
    if !handled.followups.is_empty() {
        let app = app.clone();
        tokio::spawn(async move { app.perform_all(handled).await });
    }
    response
}

/// The HTTP routes.
pub fn router(app: Arc<SlackApp>) -> Router {
    Router::new()
        .route("/slack/events", post(slack_events))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app)
}

/// Serves HTTP on `listener` until `shutdown` resolves, then waits (at most `drain`) for
/// running analyses to finish.
pub async fn serve_http(
    service: &Service,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    axum::serve(listener, router(service.app.clone()))
        .with_graceful_shutdown(shutdown)
        .await?;
    drain_analyses(service, drain).await;
    Ok(())
}

/// Waits for running analyses after the transport stopped taking new ones.
pub async fn drain_analyses(service: &Service, drain: Duration) {
    let running = service.dispatcher.running();
    if running > 0 {
        tracing::info!(running, "waiting for running analyses to finish");
    }
    if !service.dispatcher.wait_idle(drain).await {
        tracing::warn!("analyses still running after {drain:?}; stopping anyway");
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: no new requests, finishing running analyses");
}
