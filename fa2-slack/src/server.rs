//! The self-hosted transports: an HTTP server (`POST /slack/events` for events,
//! interactivity and slash commands, `GET /healthz`) on axum and hyper, and [`Service`],
//! which wires a config into the app, the job runner and the task dispatcher for it and for
//! Socket Mode.
//!
//! Invariant: no client holds the server: a request head must arrive within
//! `slack.header_timeout` (which also closes idle keep-alive connections), its body within
//! `slack.body_timeout` and at most [`MAX_BODY_BYTES`] long, and after the shutdown trigger
//! open connections get `slack.shutdown_grace` before they are dropped.

use crate::app::{AppSettings, Handled, SlackApp};
use crate::dispatch::TaskDispatcher;
use crate::job::JobRunner;
use crate::verify::MAX_BODY_BYTES;
use crate::web::{SlackWeb, WebError};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fa2_core::analyze::Analyzer;
use fa2_core::config::Config;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

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
    /// How long the HTTP server waits for clients.
    pub http: HttpLimits,
}

/// How long the HTTP server waits for its clients (`slack.header_timeout`,
/// `slack.body_timeout`, `slack.shutdown_grace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// For a request's head, and for the next request on an idle keep-alive connection.
    pub header_timeout: Duration,
    /// For a request's body, from the end of its head.
    pub body_timeout: Duration,
    /// For open connections after the shutdown trigger.
    pub shutdown_grace: Duration,
}

impl HttpLimits {
    pub fn from_config(config: &Config) -> Self {
        HttpLimits {
            header_timeout: config.slack.header_timeout.0,
            body_timeout: config.slack.body_timeout.0,
            shutdown_grace: config.slack.shutdown_grace.0,
        }
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits::from_config(&Config::default())
    }
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
        Ok(Service {
            app,
            dispatcher,
            http: HttpLimits::from_config(config),
        })
    }
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// What `/slack/events` needs.
#[derive(Debug, Clone)]
struct Events {
    app: Arc<SlackApp>,
    body_timeout: Duration,
}

/// Why a request body was not read to its end (logged; the answer says no more than its
/// status).
#[derive(Debug, thiserror::Error)]
enum BodyRefusal {
    #[error("Content-Length {0} is over the {MAX_BODY_BYTES}-byte limit")]
    DeclaredTooLarge(u64),
    #[error("the body grew past the {MAX_BODY_BYTES}-byte limit")]
    TooLarge,
    #[error("the body did not arrive within {0:?}")]
    Late(Duration),
    #[error("the body cannot be read: {0}")]
    Broken(String),
}

impl BodyRefusal {
    fn response(&self) -> Response {
        match self {
            // The signature covers the body, so an oversized request cannot be authenticated:
            // it gets the bare 401 of a bad signature, which tells an unknown caller nothing.
            BodyRefusal::DeclaredTooLarge(_) | BodyRefusal::TooLarge => {
                Handled::unauthorized().response().into_response()
            }
            BodyRefusal::Late(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
            BodyRefusal::Broken(_) => StatusCode::BAD_REQUEST.into_response(),
        }
    }
}

/// Reads a request body of at most [`MAX_BODY_BYTES`] within `limit`. A declared length over
/// the cap is refused before any byte is read; otherwise reading stops at the first chunk
/// past it. What is left unread stays unread: hyper then closes the connection after the
/// answer.
async fn read_body(headers: &HeaderMap, body: Body, limit: Duration) -> Result<Bytes, BodyRefusal> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = declared
        && n > MAX_BODY_BYTES as u64
    {
        return Err(BodyRefusal::DeclaredTooLarge(n));
    }
    let collected = Limited::new(body, MAX_BODY_BYTES).collect();
    match tokio::time::timeout(limit, collected).await {
        Err(_) => Err(BodyRefusal::Late(limit)),
        Ok(Ok(body)) => Ok(body.to_bytes()),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(BodyRefusal::TooLarge),
        Ok(Err(e)) => Err(BodyRefusal::Broken(e.to_string())),
    }
}

async fn slack_events(State(events): State<Events>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(&parts.headers, body, events.body_timeout).await {
        Ok(b) => b,
        Err(refusal) => {
            tracing::warn!("refused a request to /slack/events: {refusal}");
            return refusal.response();
        }
    };
    let handled = events.app.handle_http(&parts.headers, &body, unix_now());
    let response = handled.response();
    if !handled.followups.is_empty() {
        let app = events.app.clone();
        tokio::spawn(async move { app.perform_all(handled).await });
    }
    response.into_response()
}

/// The HTTP routes; request bodies are read within `limits.body_timeout`.
pub fn router(app: Arc<SlackApp>, limits: HttpLimits) -> Router {
    Router::new()
        .route("/slack/events", post(slack_events))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(Events {
            app,
            body_timeout: limits.body_timeout,
        })
}

/// Serves HTTP on `listener` until `shutdown` resolves; then stops accepting, lets open
/// connections finish their requests for at most `service.http.shutdown_grace` (dropping
/// those still open after it), and waits (at most `drain`) for running analyses to finish.
pub async fn serve_http(
    service: &Service,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    let limits = service.http;
    let routes = router(service.app.clone(), limits);
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let stopping = stopping.clone();
                    connections.spawn(connection(stream, routes.clone(), limits, stopping));
                }
                Err(e) => accept_failed(e).await,
            },
            // reap finished connections, so that the set holds open ones only
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop.send(true);
    if !connections.is_empty() {
        tracing::info!(
            open = connections.len(),
            "letting open connections finish for at most {:?}",
            limits.shutdown_grace
        );
    }
    let finished = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after {:?}; closing them",
            limits.shutdown_grace
        );
        connections.shutdown().await;
    }
    drain_analyses(service, drain).await;
    Ok(())
}

/// One HTTP/1.1 connection, until it closes or, after the shutdown trigger, has finished its
/// request in progress.
async fn connection(
    stream: TcpStream,
    routes: Router,
    limits: HttpLimits,
    mut stopping: watch::Receiver<bool>,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper starts the header timer when a connection waits for a request, so the same
    // timeout closes idle keep-alive connections.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(routes));
    tokio::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        () = stopped(&mut stopping) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!("connection ended: {e}");
    }
}

/// Resolves once the server stops (or its stop signal is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// A failed accept: a client that left before it was accepted costs nothing; anything else
/// (like too many open files) gets a pause instead of a busy loop.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::warn!("cannot accept a connection: {e}");
    tokio::time::sleep(Duration::from_millis(500)).await;
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
