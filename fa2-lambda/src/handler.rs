//! The function's roles, one per event shape (see [`crate::event`]):
//!
//! - **Slack endpoint**: verifies and acknowledges within Slack's 3 seconds; an accepted
//!   analysis becomes an asynchronous self-invocation with the job.
//! - **Worker**: runs the job under a deadline shorter than the function's remaining time,
//!   posts progress and the answer in the thread, and returns success after reporting, also
//!   when the analysis failed, so Lambda's asynchronous retries cannot repeat a posted answer.
//! - **Alarm events**: analyze an alarm that went to ALARM without anyone clicking, and post
//!   to the configured Slack channel and/or SNS topic. The alarm may come from EventBridge,
//!   its Lambda alarm action or SNS ([`crate::alarm`]); a transition whose actions CloudWatch
//!   suppressed (a composite alarm with an actions suppressor) is not analyzed.
//! - **Custom action**: analyze the window of FA2's Chatbot custom-action payload and publish
//!   the answer to SNS as a custom notification; a window the policy refuses is published as
//!   a notification saying why.
//!
//! Every window, of every role, is decided by [`fa2_core::window::WindowPolicy`].
//!
//! An invocation that fails names one of the [`ErrorType`]s, documented in the README, as
//! its `errorType`, never a Rust type.
//!
//! Invariant: nothing slow happens before the Slack endpoint's response but what the
//! response depends on: secrets are fetched once per execution environment and cached.

use crate::alarm::Alarm;
use crate::dispatch::LambdaDispatcher;
use crate::endpoint::{self, HttpEvent};
use crate::event::{CustomAction, Incoming, classify};
use crate::notify::{
    NotificationContext, SnsNotifier, custom_notification, failure_notification,
    refusal_notification,
};
use crate::secrets::{SecretError, SlackSecrets};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use fa2_core::analyze::{AnalyzeOptions, Analyzer, no_progress};
use fa2_core::config::Config;
use fa2_core::error::ConfigError;
use fa2_core::report::Report;
use fa2_core::telemetry::aws::metrics::MetricQuerySpec;
use fa2_core::window::WindowPolicy;
use fa2_slack::app::AppSettings;
use fa2_slack::job::{RequestParts, analysis_request, new_job_id, window_label};
use fa2_slack::{AnalysisJob, JobOutcome, JobRunner, SlackApp, SlackWeb, Trigger};
use http::StatusCode;
use lambda_runtime::Diagnostic;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Time kept back from the function's deadline for posting the answer.
const POSTING_MARGIN: Duration = Duration::from_secs(20);
/// The longest the Slack endpoint spends on follow-ups before answering.
const ACK_BUDGET: Duration = Duration::from_millis(2200);

/// The function could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("AWS_LAMBDA_FUNCTION_NAME is not set: is this running in Lambda?")]
    NoFunctionName,
}

/// An invocation failed before it could report anywhere.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] crate::event::EventError),
    #[error(transparent)]
    Secrets(#[from] SecretError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Slack(String),
    /// A bug: the handler panicked. Caught so the answer still names a documented type.
    #[error(
        "fa2 failed unexpectedly ({0}); this is a bug: please report it with the function's log"
    )]
    Internal(String),
}

/// The `errorType` of a failed invocation: stable names to match on in alarms, CloudWatch
/// Logs Insights or an asynchronous invocation's failure destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// The event is not one the function handles, or is missing what it needs. Retrying the
    /// same event cannot help.
    BadEvent,
    /// The function's configuration is incomplete or wrong (settings, secret names, secret
    /// contents).
    Config,
    /// A service the function depends on failed (Secrets Manager); a retry may succeed.
    Upstream,
    /// A bug in fa2.
    Internal,
}

impl ErrorType {
    pub const ALL: [ErrorType; 4] = [
        ErrorType::BadEvent,
        ErrorType::Config,
        ErrorType::Upstream,
        ErrorType::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadEvent => "Fa2.BadEvent",
            ErrorType::Config => "Fa2.Config",
            ErrorType::Upstream => "Fa2.Upstream",
            ErrorType::Internal => "Fa2.Internal",
        }
    }

    /// What to do about it, appended to the message.
    fn advice(self) -> &'static str {
        match self {
            ErrorType::BadEvent => {
                "fa2 takes Slack HTTP requests, its own jobs, CloudWatch alarms (EventBridge, Lambda alarm action, SNS) and the Chatbot custom action payload (see the README, Deploying on AWS Lambda); fix the event's source, retrying the same event will fail again"
            }
            ErrorType::Config => {
                "fix the function's FA2_* environment variables or secrets (see the README, Deploying on AWS Lambda), then invoke again"
            }
            ErrorType::Upstream => {
                "a service fa2 depends on failed; check its status and the function's permissions, a retry may succeed"
            }
            ErrorType::Internal => "see the function's log",
        }
    }
}

impl HandlerError {
    pub fn error_type(&self) -> ErrorType {
        match self {
            HandlerError::Event(_) => ErrorType::BadEvent,
            HandlerError::Secrets(SecretError::Fetch {
                configuration: false,
                ..
            }) => ErrorType::Upstream,
            HandlerError::Secrets(_) | HandlerError::Config(_) | HandlerError::Slack(_) => {
                ErrorType::Config
            }
            HandlerError::Internal(_) => ErrorType::Internal,
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        let kind = e.error_type();
        Diagnostic {
            error_type: kind.as_str().to_string(),
            error_message: format!("{e}. {}", kind.advice()),
        }
    }
}

/// The Slack side, built on first use (it needs the secrets).
struct SlackSide {
    app: SlackApp,
    web: SlackWeb,
}

/// Everything the function keeps between invocations.
pub struct Handler {
    config: Config,
    sdk: aws_config::SdkConfig,
    function_name: String,
    analyzer: Arc<Analyzer>,
    slack: OnceCell<Arc<SlackSide>>,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("function_name", &self.function_name)
            .finish_non_exhaustive()
    }
}

/// `base` with a deadline that ends `POSTING_MARGIN` before the invocation's.
fn with_deadline(base: &Analyzer, invocation_deadline_ms: u64) -> Analyzer {
    let now_ms = Utc::now().timestamp_millis().max(0) as u64;
    let remaining = Duration::from_millis(invocation_deadline_ms.saturating_sub(now_ms));
    let budget = remaining
        .saturating_sub(POSTING_MARGIN)
        .max(Duration::from_secs(10));
    let deadline = base.options.deadline.min(budget);
    Analyzer {
        sources: base.sources.clone(),
        backend: base.backend.clone(),
        renderer: base.renderer.clone(),
        redactor: base.redactor.clone(),
        options: AnalyzeOptions {
            deadline,
            source_timeout: base.options.source_timeout.min(deadline.mul_f64(0.8)),
            ..base.options.clone()
        },
    }
}

impl Handler {
    /// Builds the handler from the environment (`FA2_*`, optionally `FA2_CONFIG`). Nothing
    /// here calls the network.
    pub async fn from_env() -> Result<Handler, InitError> {
        let function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|f| !f.is_empty())
            .ok_or(InitError::NoFunctionName)?;
        let path = Config::locate(None);
        let config = Config::load(path.as_deref())?;
        Self::new(config, function_name).await
    }

    pub async fn new(config: Config, function_name: String) -> Result<Handler, InitError> {
        let sdk = fa2_core::telemetry::aws::sdk_config(Some(&config.region)).await;
        let analyzer = fa2_core::assemble::analyzer(&config, Some(&sdk), Vec::new())?;
        Ok(Handler {
            config,
            sdk,
            function_name,
            analyzer: Arc::new(analyzer),
            slack: OnceCell::new(),
        })
    }

    fn tz(&self) -> Tz {
        self.config.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    fn policy(&self) -> WindowPolicy {
        WindowPolicy::from_config(&self.config)
    }

    async fn slack(&self) -> Result<Arc<SlackSide>, HandlerError> {
        self.slack
            .get_or_try_init(|| async {
                let SlackSecrets {
                    signing_secret,
                    bot_token,
                } = crate::secrets::load(&self.sdk, &self.config.slack).await?;
                let web = SlackWeb::new(&self.config.slack.api_url, &bot_token)
                    .map_err(|e| HandlerError::Slack(e.to_string()))?;
                let dispatcher = LambdaDispatcher::new(&self.sdk, self.function_name.clone());
                let app = SlackApp::new(
                    AppSettings::from_config(&self.config),
                    &signing_secret,
                    web.clone(),
                    Arc::new(dispatcher),
                );
                Ok(Arc::new(SlackSide { app, web }))
            })
            .await
            .cloned()
    }

    fn runner(&self, web: &SlackWeb, analyzer: Analyzer) -> JobRunner {
        JobRunner {
            web: web.clone(),
            analyzer: Arc::new(analyzer),
            baseline: self.config.baseline.0,
            architecture: self.config.architecture.clone(),
            policy: self.policy(),
        }
    }

    /// Handles one invocation; a panic anywhere in it is an [`ErrorType::Internal`] error.
    pub async fn handle_caught(
        self: Arc<Self>,
        event: Value,
        deadline_ms: u64,
    ) -> Result<Value, HandlerError> {
        caught(async move { self.handle(event, deadline_ms).await }).await
    }

    /// Handles one invocation.
    pub async fn handle(&self, event: Value, deadline_ms: u64) -> Result<Value, HandlerError> {
        // Each role's future is boxed: their nested analysis futures are deep.
        match classify(event, self.tz())? {
            Incoming::Http(req) => Box::pin(self.http(*req)).await,
            Incoming::Job(job) => Ok(Box::pin(self.worker(*job, deadline_ms)).await),
            Incoming::Alarms(alarms) => Box::pin(self.alarms(alarms, deadline_ms)).await,
            Incoming::CustomAction(action) => {
                Box::pin(self.custom_action(*action, deadline_ms)).await
            }
            Incoming::Ignored(why) => {
                tracing::info!("ignored: {why}");
                Ok(json!({"status": "ignored", "reason": why}))
            }
        }
    }

    async fn http(&self, req: HttpEvent) -> Result<Value, HandlerError> {
        let origin = req.origin;
        for note in &req.notes {
            tracing::warn!("request to /slack/events: {note}");
        }
        let bytes = match req.body {
            Ok(b) => b,
            Err(why) => {
                // Slack signs the bytes it sent; without any there is nothing to verify.
                tracing::warn!("refused a request to /slack/events: {why}");
                return Ok(endpoint::response(
                    origin,
                    StatusCode::UNAUTHORIZED,
                    String::new(),
                ));
            }
        };
        let (status, body) = match self.slack().await {
            Ok(slack) => {
                let handled = slack
                    .app
                    .handle_http(&req.headers, &bytes, Utc::now().timestamp());
                let response = handled.response();
                let work = slack.app.perform_all(handled);
                if tokio::time::timeout(ACK_BUDGET, work).await.is_err() {
                    tracing::warn!(
                        "follow-ups took longer than {ACK_BUDGET:?}; answering Slack anyway"
                    );
                }
                (response.status(), response.into_body())
            }
            Err(e) => {
                // Slack retries a 5xx; the next attempt may find the secrets.
                tracing::error!("cannot serve Slack: {e}");
                (StatusCode::SERVICE_UNAVAILABLE, String::new())
            }
        };
        Ok(endpoint::response(origin, status, body))
    }

    async fn worker(&self, job: AnalysisJob, deadline_ms: u64) -> Value {
        let slack = match self.slack().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(job = %job.id, "cannot reach Slack for the job: {e}");
                return json!({"status": "unreported", "job": job.id, "error": e.to_string()});
            }
        };
        let runner = self.runner(&slack.web, with_deadline(&self.analyzer, deadline_ms));
        outcome_json(&job.id, &runner.run(&job).await)
    }

    /// Each alarm of the event in turn (SNS delivers one record per invocation, so one).
    async fn alarms(&self, alarms: Vec<Alarm>, deadline_ms: u64) -> Result<Value, HandlerError> {
        let mut results = Vec::with_capacity(alarms.len());
        for alarm in alarms {
            results.push(Box::pin(self.alarm(alarm, deadline_ms)).await?);
        }
        Ok(if results.len() == 1 {
            results.remove(0)
        } else {
            json!({"status": "alarms", "results": results})
        })
    }

    async fn alarm(&self, alarm: Alarm, deadline_ms: u64) -> Result<Value, HandlerError> {
        let via = alarm.source.as_str();
        if alarm.state != "ALARM" {
            tracing::info!(alarm = %alarm.alarm_name, state = %alarm.state, via, "not an ALARM transition; ignored");
            return Ok(json!({"status": "ignored", "state": alarm.state, "via": via}));
        }
        if let Some(s) = &alarm.suppressed {
            // CloudWatch ran none of the alarm's actions; fa2 is one of them in effect.
            tracing::info!(
                alarm = %alarm.alarm_name,
                suppressed_by = %s.by,
                via,
                "actions suppressed ({}); not analyzed",
                s.reason
            );
            return Ok(json!({
                "status": "suppressed", "alarm": alarm.alarm_name, "via": via,
                "suppressed_by": s.by, "reason": s.reason,
            }));
        }
        let channel = self.config.notify.slack_channel.trim().to_string();
        let topic = self.config.notify.sns_topic_arn.trim().to_string();
        if channel.is_empty() && topic.is_empty() {
            tracing::error!(
                "alarm event for {} but neither notify.slack_channel nor notify.sns_topic_arn is set: set FA2_NOTIFY__SLACK_CHANNEL or FA2_NOTIFY__SNS_TOPIC_ARN",
                alarm.alarm_name
            );
            return Ok(json!({"status": "nowhere to post", "alarm": alarm.alarm_name}));
        }
        let id = new_job_id();
        // The shared alarm rule; it cannot exceed max_window unless alarm_lookback does, and
        // an alarm time far in the future is refused: both are told where answers go.
        let (start, end) = match self.policy().alarm_window(alarm.time, Utc::now()) {
            Ok(w) => w,
            Err(e) => {
                return self
                    .alarm_refused(&alarm, id, e.to_string(), &channel, &topic)
                    .await;
            }
        };
        let extra: Vec<MetricQuerySpec> = alarm.metric.iter().cloned().collect();
        let analyzer = fa2_core::assemble::analyzer(&self.config, Some(&self.sdk), extra)?;
        let analyzer = with_deadline(&analyzer, deadline_ms);
        let description = format!(
            "CloudWatch alarm {} went to ALARM: {}",
            alarm.alarm_name, alarm.reason
        );
        let ctx = NotificationContext {
            analysis_id: id.clone(),
            alarm_name: Some(alarm.alarm_name.clone()),
            window: window_label(start, end, self.tz().name()),
            notes: Vec::new(),
        };
        let mut result =
            json!({"status": "analyzed", "job": id, "alarm": alarm.alarm_name, "via": via});
        let report: Result<Report, String> = if channel.is_empty() {
            self.analyze(&analyzer, &description, start, end).await
        } else {
            let slack = self.slack().await?;
            let job = AnalysisJob {
                id: id.clone(),
                channel: channel.clone(),
                thread_ts: None,
                user: None,
                description: description.clone(),
                start,
                end,
                language: self.config.language,
                timezone: self.tz().name().to_string(),
                trigger: Trigger::AlarmEvent,
                alarm: Some(alarm.alarm_name.clone()),
            };
            let outcome = self.runner(&slack.web, analyzer).run(&job).await;
            result["slack"] = outcome_json(&id, &outcome);
            match outcome {
                JobOutcome::Answered { report, .. } => Ok(*report),
                JobOutcome::Failed { error } | JobOutcome::Unreported { error } => Err(error),
            }
        };
        if !topic.is_empty() {
            result["sns"] = self.publish(&topic, &answer(&report, &ctx)).await;
        }
        Ok(result)
    }

    /// An alarm whose window the policy refuses: said where its answer would have gone.
    async fn alarm_refused(
        &self,
        alarm: &Alarm,
        id: String,
        error: String,
        channel: &str,
        topic: &str,
    ) -> Result<Value, HandlerError> {
        tracing::error!(alarm = %alarm.alarm_name, "alarm window refused: {error}");
        let mut result =
            json!({"status": "refused", "job": id, "alarm": alarm.alarm_name, "error": error});
        if !channel.is_empty() {
            let slack = self.slack().await?;
            let text = format!(
                ":warning: fa2 cannot analyze alarm *{}*: {}",
                fa2_slack::mrkdwn::escape(&alarm.alarm_name),
                fa2_slack::mrkdwn::escape(&error)
            );
            result["slack"] = match slack.web.post(channel, None, &text, Vec::new()).await {
                Ok(ts) => json!({"posted": true, "ts": ts}),
                Err(e) => json!({"posted": false, "error": e.to_string()}),
            };
        }
        if !topic.is_empty() {
            let ctx = NotificationContext {
                analysis_id: id,
                alarm_name: Some(alarm.alarm_name.clone()),
                window: fa2_core::time::rfc3339(alarm.time),
                notes: Vec::new(),
            };
            let message = refusal_notification(
                &error,
                &ctx,
                "Check the function's alarm_lookback and max_window (FA2_ALARM_LOOKBACK, FA2_MAX_WINDOW) and the alarm's time.",
            );
            result["sns"] = self.publish(topic, &message).await;
        }
        Ok(result)
    }

    async fn custom_action(
        &self,
        action: CustomAction,
        deadline_ms: u64,
    ) -> Result<Value, HandlerError> {
        let mut description = action.description.clone();
        if let Some(a) = &action.alarm_name {
            description = format!("Alarm {a}: {description}");
        }
        let id = new_job_id();
        let topic = self.config.notify.sns_topic_arn.trim().to_string();
        let tz = self.tz();
        let mut ctx = NotificationContext {
            analysis_id: id.clone(),
            alarm_name: action.alarm_name.clone(),
            window: action.requested_label(tz.name()),
            notes: action.notes.clone(),
        };
        for note in &action.notes {
            tracing::warn!(job = %id, "custom action: {note}");
        }
        let (start, end) = match action.window(&self.policy(), Utc::now()) {
            Ok(w) => w,
            Err(error) => {
                // Refused, never dropped: the channel hears why (the invocation succeeds, so
                // Lambda does not retry what cannot work).
                tracing::warn!(job = %id, "custom action refused: {error}");
                let message = refusal_notification(
                    &error,
                    &ctx,
                    "Run the action again with startDate and endDate in UTC, like 2024-08-16T11:19:00Z, or leave both empty to analyze around the alarm.",
                );
                let mut result = json!({"status": "refused", "job": id, "error": error});
                if topic.is_empty() {
                    tracing::warn!(
                        "custom action without notify.sns_topic_arn: the refusal is only in the function's response"
                    );
                    result["notification"] = message;
                } else {
                    result["sns"] = self.publish(&topic, &message).await;
                }
                return Ok(result);
            }
        };
        ctx.window = window_label(start, end, tz.name());
        let analyzer = with_deadline(&self.analyzer, deadline_ms);
        let report = self.analyze(&analyzer, &description, start, end).await;
        if topic.is_empty() {
            tracing::warn!(
                "custom action without notify.sns_topic_arn: the answer is only in the function's response"
            );
            return Ok(match &report {
                Ok(_) => {
                    json!({"status": "analyzed", "job": id, "notification": answer(&report, &ctx)})
                }
                Err(e) => {
                    json!({"status": "failed", "job": id, "error": e, "notification": answer(&report, &ctx)})
                }
            });
        }
        let mut result = json!({"status": "analyzed", "job": id});
        result["sns"] = self.publish(&topic, &answer(&report, &ctx)).await;
        Ok(result)
    }

    async fn analyze(
        &self,
        analyzer: &Analyzer,
        description: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Report, String> {
        let parts = RequestParts {
            description,
            language: self.config.language,
            baseline: self.config.baseline.0,
            architecture: &self.config.architecture,
        };
        let request = analysis_request(parts, start, end, &self.policy(), Utc::now())?;
        analyzer
            .run(&request, no_progress())
            .await
            .map(|a| a.report)
            .map_err(|e| e.to_string())
    }

    /// Publishes a custom notification.
    async fn publish(&self, topic: &str, message: &Value) -> Value {
        let subject = message["content"]["title"]
            .as_str()
            .unwrap_or("fa2")
            .to_string();
        match SnsNotifier::new(&self.sdk, topic)
            .publish(message, &subject)
            .await
        {
            Ok(id) => json!({"published": true, "message_id": id, "title": subject}),
            Err(e) => {
                tracing::error!("{e}");
                json!({"published": false, "error": e})
            }
        }
    }
}

/// Runs `work` as its own task, so that a panic in it becomes a [`HandlerError::Internal`]
/// (lambda_runtime would report it under a Rust type name).
async fn caught<F>(work: F) -> Result<Value, HandlerError>
where
    F: std::future::Future<Output = Result<Value, HandlerError>> + Send + 'static,
{
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(e) => {
            let what = match e.try_into_panic() {
                Ok(p) => p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into()),
                Err(e) => e.to_string(),
            };
            tracing::error!("the handler panicked: {what}");
            Err(HandlerError::Internal(what))
        }
    }
}

/// The answer (or the failure) as a custom notification.
fn answer(report: &Result<Report, String>, ctx: &NotificationContext) -> Value {
    match report {
        Ok(r) => custom_notification(r, ctx),
        Err(e) => failure_notification(e, ctx),
    }
}

fn outcome_json(id: &str, outcome: &JobOutcome) -> Value {
    match outcome {
        JobOutcome::Answered { thread_ts, report } => json!({
            "status": "answered", "job": id, "thread_ts": thread_ts,
            "evidence": report.evidence.len(),
        }),
        JobOutcome::Failed { error } => json!({"status": "failed", "job": id, "error": error}),
        JobOutcome::Unreported { error } => {
            json!({"status": "unreported", "job": id, "error": error})
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::event::EventError;

    #[test]
    fn error_answers_name_documented_types() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        for t in ErrorType::ALL {
            assert!(
                readme.contains(&format!("| `{}` |", t.as_str())),
                "{} is not in the README's table",
                t.as_str()
            );
        }
        let fetch = |configuration| {
            HandlerError::Secrets(SecretError::Fetch {
                name: "fa2/slack".into(),
                message: "boom".into(),
                configuration,
            })
        };
        for (e, expected) in [
            (
                HandlerError::Event(EventError::Unrecognized("foo".into())),
                "Fa2.BadEvent",
            ),
            (
                HandlerError::Secrets(SecretError::Unset {
                    key: "bot_token",
                    env: "BOT_TOKEN",
                }),
                "Fa2.Config",
            ),
            (fetch(true), "Fa2.Config"),
            (fetch(false), "Fa2.Upstream"),
            (HandlerError::Slack("insecure URL".into()), "Fa2.Config"),
            (HandlerError::Internal("x".into()), "Fa2.Internal"),
        ] {
            let message = e.to_string();
            let d = Diagnostic::from(e);
            assert_eq!(d.error_type, expected, "{message}");
            assert!(d.error_message.starts_with(&message), "{}", d.error_message);
            assert!(d.error_message.len() > message.len() + 10, "advice added");
        }
    }

    #[tokio::test]
    async fn a_panic_is_an_internal_error() {
        let e = caught(async { panic!("index out of bounds") })
            .await
            .unwrap_err();
        assert_eq!(e.error_type(), ErrorType::Internal);
        assert!(e.to_string().contains("index out of bounds"), "{e}");
        let ok = caught(async { Ok(json!({"status": "ok"})) }).await.unwrap();
        assert_eq!(ok["status"], "ok");
    }
}
