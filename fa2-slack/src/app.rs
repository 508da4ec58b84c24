//! The Slack app's request handling, shared by the HTTP server, Socket Mode and the Lambda
//! adapter: alarm messages get the form in their thread, `/fa2` opens the form or starts a
//! quick analysis, submissions become [`AnalysisJob`]s for the dispatcher, and the answer's
//! buttons re-run or record feedback.
//!
//! Invariant: the `on_*` and [`SlackApp::handle_http`] methods are synchronous and make no
//! network call, so the acknowledgement is always within Slack's 3 seconds; everything slow
//! is returned as [`FollowUp`]s that the transport performs after (or, in Lambda, right
//! before) answering.

use crate::alarm::{AlarmHint, read_alarm};
use crate::answer::{ACTION_HELPFUL, ACTION_NOT_HELPFUL, ACTION_RERUN};
use crate::dispatch::{AnalysisDispatcher, DispatchError};
use crate::form::{
    ACTION_START, FormContext, FormDefaults, FormInput, MODAL_CALLBACK, modal, read_form,
    thread_form,
};
use crate::guard::{ChannelRateLimit, TtlSet};
use crate::job::{AnalysisJob, RerunSpec, Trigger, new_job_id};
use crate::texts::Texts;
use crate::verify::RequestVerifier;
use crate::web::SlackWeb;
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use fa2_core::config::Config;
use fa2_core::request::Language;
use fa2_core::time::{ceil_minute, floor_minute};
use fa2_core::window::WindowPolicy;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a seen event id or submission is remembered.
const DEDUP_TTL: Duration = Duration::from_secs(3600);
/// How many are remembered at most.
const DEDUP_CAPACITY: usize = 10_000;

/// The app's settings, from the `[slack]` section and the general ones.
#[derive(Debug, Clone)]
pub struct AppSettings {
    pub language: Language,
    pub timezone: Tz,
    pub alarm_app_ids: Vec<String>,
    pub allowed_channels: Vec<String>,
    pub allowed_users: Vec<String>,
    pub quick_window: Duration,
    pub max_window: Duration,
    pub alarm_lookback: Duration,
    pub channel_rate_limit: u32,
}

impl AppSettings {
    /// The window limits, shared with every other entry.
    pub fn policy(&self) -> WindowPolicy {
        WindowPolicy {
            max_window: self.max_window,
            alarm_lookback: self.alarm_lookback,
            ..WindowPolicy::default()
        }
    }

    pub fn from_config(c: &Config) -> Self {
        AppSettings {
            language: c.language,
            timezone: c.timezone.parse().unwrap_or(chrono_tz::UTC),
            alarm_app_ids: c.slack.alarm_app_ids.clone(),
            allowed_channels: c.slack.allowed_channels.clone(),
            allowed_users: c.slack.allowed_users.clone(),
            quick_window: c.slack.quick_window.0,
            max_window: c.max_window.0,
            alarm_lookback: c.alarm_lookback.0,
            channel_rate_limit: c.slack.channel_rate_limit,
        }
    }
}

/// Slow work to do after the acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowUp {
    /// Post the analysis form in an alarm's thread.
    PostForm {
        channel: String,
        thread_ts: String,
        defaults: FormDefaults,
        alarm_name: Option<String>,
    },
    /// Open the `/fa2` modal in the user's time zone.
    OpenModal {
        trigger_id: String,
        user: String,
        channel: String,
    },
    /// Tell one user something.
    Ephemeral {
        channel: String,
        user: String,
        thread_ts: Option<String>,
        text: String,
    },
    /// Start an analysis.
    Dispatch { job: AnalysisJob, claim: Claim },
}

/// What an admitted request took for its analysis: a slot of the channel's hourly quota and
/// the key that keeps a repeat from starting it twice. Both are given back when the
/// dispatcher refuses the job, so only analyses that run count, and the user told "busy" can
/// simply try again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    slot: Option<Instant>,
    key: Option<String>,
}

/// An acknowledgement and the work that follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    pub status: StatusCode,
    /// A JSON body (empty for a bare 200).
    pub body: String,
    pub followups: Vec<FollowUp>,
}

impl Handled {
    fn ok() -> Self {
        Handled {
            status: StatusCode::OK,
            body: String::new(),
            followups: Vec::new(),
        }
    }

    fn json(v: Value) -> Self {
        Handled {
            body: v.to_string(),
            ..Handled::ok()
        }
    }

    fn then(mut self, f: FollowUp) -> Self {
        self.followups.push(f);
        self
    }

    /// The bare 401 of every request that cannot be authenticated: it tells the caller nothing.
    pub fn unauthorized() -> Self {
        Handled {
            status: StatusCode::UNAUTHORIZED,
            ..Handled::ok()
        }
    }

    /// As an HTTP response.
    pub fn response(&self) -> http::Response<String> {
        let mut r = http::Response::new(self.body.clone());
        *r.status_mut() = self.status;
        if !self.body.is_empty() {
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
        }
        r
    }
}

/// The Slack app.
pub struct SlackApp {
    settings: AppSettings,
    verifier: RequestVerifier,
    web: SlackWeb,
    dispatcher: Arc<dyn AnalysisDispatcher>,
    seen: Mutex<TtlSet>,
    rate: Mutex<ChannelRateLimit>,
}

impl std::fmt::Debug for SlackApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApp")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn s<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn slack_ts_time(ts: &str) -> Option<DateTime<Utc>> {
    let secs: f64 = ts.parse().ok()?;
    Utc.timestamp_opt(secs as i64, 0).single()
}

impl SlackApp {
    pub fn new(
        settings: AppSettings,
        signing_secret: &str,
        web: SlackWeb,
        dispatcher: Arc<dyn AnalysisDispatcher>,
    ) -> Self {
        let rate = ChannelRateLimit::new(settings.channel_rate_limit);
        SlackApp {
            settings,
            verifier: RequestVerifier::new(signing_secret),
            web,
            dispatcher,
            seen: Mutex::new(TtlSet::new(DEDUP_TTL, DEDUP_CAPACITY)),
            rate: Mutex::new(rate),
        }
    }

    pub fn settings(&self) -> &AppSettings {
        &self.settings
    }

    /// The Web API client (Socket Mode shares it).
    pub fn web(&self) -> &SlackWeb {
        &self.web
    }

    fn texts(&self) -> Texts {
        Texts::new(self.settings.language)
    }

    /// True the first time `key` is seen within the TTL.
    fn first_time(&self, key: &str) -> bool {
        match self.seen.lock() {
            Ok(mut s) => s.first_time(key, Instant::now()),
            Err(poisoned) => poisoned.into_inner().first_time(key, Instant::now()),
        }
    }

    /// Makes `key` new again: its request was refused, and repeating it must not be ignored.
    fn forget(&self, key: &str) {
        match self.seen.lock() {
            Ok(mut s) => s.forget(key),
            Err(poisoned) => poisoned.into_inner().forget(key),
        }
    }

    /// Gives back what `claim` took in `channel` (its analysis did not start).
    fn release(&self, channel: &str, claim: Claim) {
        if let Some(taken) = claim.slot {
            match self.rate.lock() {
                Ok(mut r) => r.give_back(channel, taken),
                Err(p) => p.into_inner().give_back(channel, taken),
            }
        }
        if let Some(key) = claim.key {
            self.forget(&key);
        }
    }

    /// Handles one signed HTTP request to `/slack/events` (events, interactivity and slash
    /// commands share the URL). `now` is the wall clock in unix seconds.
    pub fn handle_http(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Handled {
        let text = match self.verifier.verify(headers, body, now) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("refused a request to /slack/events: {e}");
                return Handled::unauthorized();
            }
        };
        if let Some(retry) = headers.get("x-slack-retry-num") {
            tracing::info!(
                retry = ?retry,
                reason = ?headers.get("x-slack-retry-reason"),
                "Slack retried a request"
            );
        }
        if text.trim_start().starts_with('{') {
            return match serde_json::from_str::<Value>(text) {
                Ok(v) => self.on_events_api(&v),
                Err(e) => {
                    tracing::warn!("an Events API body is not JSON: {e}");
                    Handled {
                        status: StatusCode::BAD_REQUEST,
                        ..Handled::ok()
                    }
                }
            };
        }
        let form: BTreeMap<String, String> = match serde_urlencoded::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("a form body does not parse: {e}");
                return Handled {
                    status: StatusCode::BAD_REQUEST,
                    ..Handled::ok()
                };
            }
        };
        if let Some(payload) = form.get("payload") {
            return match serde_json::from_str::<Value>(payload) {
                Ok(v) => self.on_interaction(&v),
                Err(e) => {
                    tracing::warn!("an interaction payload is not JSON: {e}");
                    Handled {
                        status: StatusCode::BAD_REQUEST,
                        ..Handled::ok()
                    }
                }
            };
        }
        if form.contains_key("command") {
            return self.on_command(&form);
        }
        tracing::warn!("a signed request is neither an event, an interaction nor a command");
        Handled::ok()
    }

    /// An Events API envelope (`url_verification`, `event_callback`).
    pub fn on_events_api(&self, v: &Value) -> Handled {
        match s(v, "/type") {
            Some("url_verification") => {
                Handled::json(json!({ "challenge": s(v, "/challenge").unwrap_or("") }))
            }
            Some("event_callback") => {
                if let Some(id) = s(v, "/event_id")
                    && !self.first_time(&format!("event:{id}"))
                {
                    tracing::info!(event = id, "repeated event ignored");
                    return Handled::ok();
                }
                match v.get("event") {
                    Some(event) => self.on_event(event),
                    None => Handled::ok(),
                }
            }
            _ => Handled::ok(),
        }
    }

    fn is_alarm_sender(&self, event: &Value) -> bool {
        let ids = [
            s(event, "/app_id"),
            s(event, "/bot_id"),
            s(event, "/bot_profile/app_id"),
            s(event, "/bot_profile/id"),
        ];
        ids.iter()
            .flatten()
            .any(|id| self.settings.alarm_app_ids.iter().any(|a| a == id))
    }

    fn channel_allowed(&self, channel: &str) -> bool {
        self.settings.allowed_channels.is_empty()
            || self.settings.allowed_channels.iter().any(|c| c == channel)
    }

    fn user_allowed(&self, user: &str) -> bool {
        self.settings.allowed_users.is_empty()
            || self.settings.allowed_users.iter().any(|u| u == user)
    }

    /// One event of an `event_callback`.
    pub fn on_event(&self, event: &Value) -> Handled {
        if s(event, "/type") != Some("message") {
            return Handled::ok();
        }
        // edits, deletions and replies in threads are not new alarms
        if matches!(
            s(event, "/subtype"),
            Some("message_changed" | "message_deleted" | "message_replied")
        ) {
            return Handled::ok();
        }
        let (Some(channel), Some(ts)) = (s(event, "/channel"), s(event, "/ts")) else {
            return Handled::ok();
        };
        if s(event, "/thread_ts").is_some_and(|t| t != ts) || !self.is_alarm_sender(event) {
            return Handled::ok();
        }
        if !self.channel_allowed(channel) {
            tracing::info!(
                channel,
                "alarm in a channel not in slack.allowed_channels ignored"
            );
            return Handled::ok();
        }
        let hint = read_alarm(event);
        let defaults = self.alarm_defaults(&hint, slack_ts_time(ts), Utc::now());
        Handled::ok().then(FollowUp::PostForm {
            channel: channel.to_string(),
            thread_ts: ts.to_string(),
            defaults,
            alarm_name: hint.name,
        })
    }

    /// The form's pre-filled values for an alarm: its alarm window (the policy's rule) around
    /// the time in the message, or the post time. A window the policy refuses (a time far in
    /// the future, a lookback wider than `max_window`) falls back to the last minutes: the
    /// form is only a suggestion, and its submission is checked again.
    pub fn alarm_defaults(
        &self,
        hint: &AlarmHint,
        posted: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> FormDefaults {
        let policy = self.settings.policy();
        let at = hint.time.or(posted).unwrap_or(now);
        let (start, end) = policy
            .alarm_window(at, now)
            .or_else(|e| {
                tracing::warn!("alarm window refused ({e}); the form shows the last minutes");
                policy.since(
                    ceil_minute(now),
                    self.settings.alarm_lookback.min(policy.max_window),
                    now,
                )
            })
            .unwrap_or((floor_minute(now), ceil_minute(now)));
        FormDefaults {
            description: hint.description(),
            start,
            end,
            language: self.settings.language,
            tz: self.settings.timezone,
        }
    }

    /// Admits `user`'s analysis in `channel`, taking a slot of the channel's quota; `key` is
    /// the request's dedup key, already recorded. On refusal the key is forgotten (a refused
    /// request may be repeated) and the text says why.
    fn admit(
        &self,
        channel: &str,
        user: &str,
        texts: &Texts,
        key: Option<String>,
    ) -> Result<Claim, String> {
        let refused = |text: String| {
            if let Some(k) = &key {
                self.forget(k);
            }
            Err(text)
        };
        if !self.channel_allowed(channel) {
            return refused(texts.refused_channel());
        }
        if !self.user_allowed(user) {
            return refused(texts.refused_user());
        }
        let taken = match self.rate.lock() {
            Ok(mut r) => r.try_take(channel, Instant::now()),
            Err(p) => p.into_inner().try_take(channel, Instant::now()),
        };
        match taken {
            Ok(at) => Ok(Claim {
                slot: (self.settings.channel_rate_limit > 0).then_some(at),
                key,
            }),
            Err(wait) => refused(texts.rate_limited(wait.as_secs().div_ceil(60).max(1))),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn job(
        &self,
        input: FormInput,
        channel: &str,
        thread_ts: Option<String>,
        user: &str,
        tz: &str,
        trigger: Trigger,
    ) -> AnalysisJob {
        AnalysisJob {
            id: new_job_id(),
            channel: channel.to_string(),
            thread_ts,
            user: Some(user.to_string()),
            description: input.description,
            start: input.start,
            end: input.end,
            language: input.language,
            timezone: tz.to_string(),
            trigger,
            alarm: None,
        }
    }

    /// An interactivity payload (`block_actions`, `view_submission`).
    pub fn on_interaction(&self, p: &Value) -> Handled {
        match s(p, "/type") {
            Some("block_actions") => self.on_block_action(p),
            Some("view_submission") if s(p, "/view/callback_id") == Some(MODAL_CALLBACK) => {
                self.on_view_submission(p)
            }
            _ => Handled::ok(),
        }
    }

    fn on_block_action(&self, p: &Value) -> Handled {
        let texts = self.texts();
        let Some(action) = p.pointer("/actions/0") else {
            return Handled::ok();
        };
        let user = s(p, "/user/id").unwrap_or("");
        let channel = s(p, "/channel/id")
            .or_else(|| s(p, "/container/channel_id"))
            .unwrap_or("");
        let message_ts = s(p, "/container/message_ts").or_else(|| s(p, "/message/ts"));
        let thread_ts = s(p, "/container/thread_ts")
            .or_else(|| s(p, "/message/thread_ts"))
            .or(message_ts)
            .map(str::to_string);
        let ephemeral = |text: String| FollowUp::Ephemeral {
            channel: channel.to_string(),
            user: user.to_string(),
            thread_ts: thread_ts.clone(),
            text,
        };
        match s(action, "/action_id") {
            Some(ACTION_START) => {
                let tz_name = s(action, "/value").unwrap_or(self.settings.timezone.name());
                let tz: Tz = tz_name.parse().unwrap_or(self.settings.timezone);
                let values = p.pointer("/state/values").cloned().unwrap_or(Value::Null);
                let input =
                    match read_form(&values, tz, &self.settings.policy(), Utc::now(), &texts) {
                        Ok(i) => i,
                        Err(errors) => {
                            let list: Vec<String> = errors.values().cloned().collect();
                            return Handled::ok()
                                .then(ephemeral(texts.form_errors(&list.join(" "))));
                        }
                    };
                let key = format!(
                    "start:{}:{}:{}:{}",
                    message_ts.unwrap_or(""),
                    input.start,
                    input.end,
                    input.description
                );
                if !self.first_time(&key) {
                    tracing::info!("repeated form submission ignored");
                    return Handled::ok();
                }
                let claim = match self.admit(channel, user, &texts, Some(key)) {
                    Ok(c) => c,
                    Err(refusal) => return Handled::ok().then(ephemeral(refusal)),
                };
                let job = self.job(
                    input,
                    channel,
                    thread_ts.clone(),
                    user,
                    tz.name(),
                    Trigger::ThreadForm,
                );
                Handled::ok().then(FollowUp::Dispatch { job, claim })
            }
            Some(ACTION_RERUN) => {
                let Some(spec) =
                    s(action, "/value").and_then(|v| serde_json::from_str::<RerunSpec>(v).ok())
                else {
                    return Handled::ok();
                };
                let key = format!("rerun:{}", message_ts.unwrap_or(""));
                if !self.first_time(&key) {
                    return Handled::ok();
                }
                let claim = match self.admit(channel, user, &texts, Some(key)) {
                    Ok(c) => c,
                    Err(refusal) => return Handled::ok().then(ephemeral(refusal)),
                };
                let (start, end) = spec.widened(self.settings.max_window);
                let input = FormInput {
                    description: spec.description.clone(),
                    start,
                    end,
                    language: spec.language,
                };
                let job = self.job(
                    input,
                    channel,
                    thread_ts.clone(),
                    user,
                    &spec.timezone,
                    Trigger::Rerun,
                );
                Handled::ok().then(FollowUp::Dispatch { job, claim })
            }
            Some(verdict @ (ACTION_HELPFUL | ACTION_NOT_HELPFUL)) => {
                let analysis = s(action, "/value").unwrap_or("");
                tracing::info!(
                    target: "fa2::feedback",
                    analysis,
                    user,
                    helpful = verdict == ACTION_HELPFUL,
                    "feedback"
                );
                Handled::ok().then(ephemeral(texts.feedback_thanks()))
            }
            _ => Handled::ok(),
        }
    }

    fn on_view_submission(&self, p: &Value) -> Handled {
        let texts = self.texts();
        let user = s(p, "/user/id").unwrap_or("");
        let Some(ctx) = s(p, "/view/private_metadata")
            .and_then(|m| serde_json::from_str::<FormContext>(m).ok())
        else {
            tracing::warn!("a submitted fa2 form has no context");
            return Handled::ok();
        };
        let tz: Tz = ctx.tz.parse().unwrap_or(self.settings.timezone);
        let values = p
            .pointer("/view/state/values")
            .cloned()
            .unwrap_or(Value::Null);
        let input = match read_form(&values, tz, &self.settings.policy(), Utc::now(), &texts) {
            Ok(i) => i,
            Err(errors) => {
                return Handled::json(json!({ "response_action": "errors", "errors": errors }));
            }
        };
        let key = s(p, "/view/id").map(|id| format!("view:{id}"));
        if let Some(k) = &key
            && !self.first_time(k)
        {
            tracing::info!(view = k, "repeated modal submission ignored");
            return Handled::ok();
        }
        let claim = match self.admit(&ctx.channel, user, &texts, key) {
            Ok(c) => c,
            Err(refusal) => {
                return Handled::json(json!({
                    "response_action": "errors",
                    "errors": { crate::form::BLOCK_DESCRIPTION: refusal }
                }));
            }
        };
        let job = self.job(
            input,
            &ctx.channel,
            ctx.thread_ts.clone(),
            user,
            tz.name(),
            Trigger::Modal,
        );
        Handled::ok().then(FollowUp::Dispatch { job, claim })
    }

    /// A slash command (`/fa2` opens the form; `/fa2 <text>` analyzes the last
    /// `quick_window` right away).
    pub fn on_command(&self, form: &BTreeMap<String, String>) -> Handled {
        let texts = self.texts();
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        let (user, channel, text) = (get("user_id"), get("channel_id"), get("text").trim());
        let ephemeral =
            |t: String| Handled::json(json!({ "response_type": "ephemeral", "text": t }));
        if !self.channel_allowed(channel) {
            return ephemeral(texts.refused_channel());
        }
        if !self.user_allowed(user) {
            return ephemeral(texts.refused_user());
        }
        if text.is_empty() {
            return Handled::ok().then(FollowUp::OpenModal {
                trigger_id: get("trigger_id").to_string(),
                user: user.to_string(),
                channel: channel.to_string(),
            });
        }
        let now = Utc::now();
        let (start, end) =
            match self
                .settings
                .policy()
                .since(ceil_minute(now), self.settings.quick_window, now)
            {
                Ok(w) => w,
                Err(e) => return ephemeral(format!("quick_window: {e}")),
            };
        let trigger = get("trigger_id");
        let key = (!trigger.is_empty()).then(|| format!("command:{trigger}"));
        if let Some(k) = &key
            && !self.first_time(k)
        {
            return Handled::ok();
        }
        let claim = match self.admit(channel, user, &texts, key) {
            Ok(c) => c,
            Err(refusal) => return ephemeral(refusal),
        };
        let input = FormInput {
            description: crate::mrkdwn::clip(text, crate::form::MAX_DESCRIPTION),
            start,
            end,
            language: self.settings.language,
        };
        let job = self.job(
            input,
            channel,
            None,
            user,
            self.settings.timezone.name(),
            Trigger::SlashCommand,
        );
        ephemeral(texts.started_quick(self.settings.quick_window.as_secs() / 60))
            .then(FollowUp::Dispatch { job, claim })
    }

    /// Performs one follow-up; failures are logged (and told to the user where possible).
    pub async fn perform(&self, f: FollowUp) {
        let texts = self.texts();
        match f {
            FollowUp::PostForm {
                channel,
                thread_ts,
                defaults,
                alarm_name,
            } => {
                let blocks = thread_form(&texts, &defaults, alarm_name.as_deref());
                let fallback = texts.form_intro_generic();
                if let Err(e) = self
                    .web
                    .post(&channel, Some(&thread_ts), &fallback, blocks)
                    .await
                {
                    tracing::warn!(channel, "cannot post the form: {e}");
                }
            }
            FollowUp::OpenModal {
                trigger_id,
                user,
                channel,
            } => {
                // users.info must not eat the trigger's 3 seconds
                let tz = match tokio::time::timeout(
                    Duration::from_millis(1200),
                    self.web.user_timezone(&user),
                )
                .await
                {
                    Ok(Ok(Some(tz))) => tz.parse::<Tz>().unwrap_or(self.settings.timezone),
                    _ => self.settings.timezone,
                };
                let now = Utc::now();
                let policy = self.settings.policy();
                let quick = self.settings.quick_window.min(policy.max_window);
                let (start, end) = policy
                    .since(ceil_minute(now), quick, now)
                    .unwrap_or((floor_minute(now), ceil_minute(now)));
                let defaults = FormDefaults {
                    description: String::new(),
                    start,
                    end,
                    language: self.settings.language,
                    tz,
                };
                let ctx = FormContext {
                    channel,
                    thread_ts: None,
                    tz: tz.name().to_string(),
                };
                if let Err(e) = self
                    .web
                    .open_view(&trigger_id, modal(&texts, &defaults, &ctx))
                    .await
                {
                    tracing::warn!("cannot open the form: {e}");
                }
            }
            FollowUp::Ephemeral {
                channel,
                user,
                thread_ts,
                text,
            } => {
                if let Err(e) = self
                    .web
                    .ephemeral(&channel, &user, thread_ts.as_deref(), &text)
                    .await
                {
                    tracing::warn!(channel, "cannot post an ephemeral message: {e}");
                }
            }
            FollowUp::Dispatch { job, claim } => {
                let texts = Texts::new(job.language);
                let (channel, user, thread) =
                    (job.channel.clone(), job.user.clone(), job.thread_ts.clone());
                let refused = self.dispatcher.dispatch(job).await;
                if refused.is_err() {
                    // only analyses that run count against the channel's quota
                    self.release(&channel, claim);
                }
                let refusal = match refused {
                    Ok(()) => return,
                    Err(DispatchError::Busy) => texts.busy(),
                    Err(DispatchError::Failed(e)) => {
                        tracing::error!("cannot start an analysis: {e}");
                        texts.dispatch_failed(&crate::mrkdwn::escape(&e))
                    }
                };
                let sent = match &user {
                    Some(u) => {
                        self.web
                            .ephemeral(&channel, u, thread.as_deref(), &refusal)
                            .await
                    }
                    None => self
                        .web
                        .post(&channel, thread.as_deref(), &refusal, Vec::new())
                        .await
                        .map(|_| ()),
                };
                if let Err(e) = sent {
                    tracing::warn!(channel, "cannot tell that the analysis did not start: {e}");
                }
            }
        }
    }

    /// Performs all follow-ups of `handled` one after another.
    pub async fn perform_all(&self, handled: Handled) {
        for f in handled.followups {
            self.perform(f).await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::verify::sign;
    use async_trait::async_trait;

    struct Refuse;
    #[async_trait]
    impl AnalysisDispatcher for Refuse {
        async fn dispatch(&self, _job: AnalysisJob) -> Result<(), DispatchError> {
            Err(DispatchError::Busy)
        }
    }

    fn app(mut settings: impl FnMut(&mut AppSettings)) -> SlackApp {
        let mut s = AppSettings::from_config(&Config::default());
        settings(&mut s);
        SlackApp::new(
            s,
            "secret",
            SlackWeb::new("http://127.0.0.1:9/api", "xoxb-test").unwrap(),
            Arc::new(Refuse),
        )
    }

    fn signed(body: &str) -> (HeaderMap, i64) {
        let now = Utc::now().timestamp();
        let mut h = HeaderMap::new();
        h.insert(
            "x-slack-signature",
            sign("secret", now, body).parse().unwrap(),
        );
        h.insert(
            "x-slack-request-timestamp",
            now.to_string().parse().unwrap(),
        );
        (h, now)
    }

    #[test]
    fn alarm_defaults_surround_the_alarm() {
        let a = app(|_| {});
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 30).unwrap();
        let hint = AlarmHint {
            time: Some(Utc.with_ymd_and_hms(2026, 11, 24, 9, 58, 0).unwrap()),
            ..AlarmHint::default()
        };
        let d = a.alarm_defaults(&hint, None, now);
        assert_eq!(
            d.start,
            Utc.with_ymd_and_hms(2026, 11, 24, 9, 43, 0).unwrap()
        );
        assert_eq!(d.end, Utc.with_ymd_and_hms(2026, 11, 24, 10, 1, 0).unwrap());
        // no time in the message: the post time
        let d = a.alarm_defaults(&AlarmHint::default(), Some(now), now);
        assert_eq!(
            d.start,
            Utc.with_ymd_and_hms(2026, 11, 24, 9, 45, 0).unwrap()
        );
        // a time far in the future (a misread message) is refused by the policy: the form
        // suggests the last alarm_lookback instead
        let future = AlarmHint {
            time: Some(Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap()),
            ..AlarmHint::default()
        };
        let d = a.alarm_defaults(&future, None, now);
        assert_eq!(
            (d.start, d.end),
            (
                Utc.with_ymd_and_hms(2026, 11, 24, 9, 46, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 11, 24, 10, 1, 0).unwrap()
            )
        );
    }

    #[test]
    fn own_and_other_messages_get_no_form() {
        let a = app(|_| {});
        let human =
            json!({"type": "message", "channel": "C1", "ts": "1.0", "user": "U1", "text": "hi"});
        assert!(a.on_event(&human).followups.is_empty());
        let chatbot = json!({"type": "message", "subtype": "bot_message", "channel": "C1", "ts": "1.0", "bot_id": "B1", "app_id": "A6L22LZNH", "text": "CloudWatch Alarm | x | r"});
        assert_eq!(a.on_event(&chatbot).followups.len(), 1);
        let reply = json!({"type": "message", "channel": "C1", "ts": "2.0", "thread_ts": "1.0", "app_id": "A6L22LZNH"});
        assert!(a.on_event(&reply).followups.is_empty());
        let a = app(|s| s.allowed_channels = vec!["C2".into()]);
        assert!(a.on_event(&chatbot).followups.is_empty());
    }

    #[test]
    fn command_refusals_are_polite_and_quick_runs_dispatch() {
        let form = |text: &str, channel: &str, user: &str| -> BTreeMap<String, String> {
            [
                ("command", "/fa2"),
                ("text", text),
                ("channel_id", channel),
                ("user_id", user),
                ("trigger_id", "T.1"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        };
        let a = app(|s| s.allowed_users = vec!["U1".into()]);
        let h = a.on_command(&form("api 5xx", "C1", "U2"));
        assert!(h.body.contains("allowed_users") && h.followups.is_empty());
        let h = a.on_command(&form("api 5xx", "C1", "U1"));
        assert!(
            matches!(&h.followups[..], [FollowUp::Dispatch { job, .. }] if job.description == "api 5xx" && job.end - job.start == chrono::Duration::minutes(30))
        );
        let h = a.on_command(&form("", "C1", "U1"));
        assert!(matches!(&h.followups[..], [FollowUp::OpenModal { .. }]));
        let a = app(|s| s.channel_rate_limit = 1);
        let mut f = form("x", "C1", "U1");
        assert_eq!(a.on_command(&f).followups.len(), 1);
        f.insert("trigger_id".into(), "T.2".into());
        let h = a.on_command(&f);
        assert!(
            h.followups.is_empty() && h.body.contains("limit"),
            "{}",
            h.body
        );
    }

    #[tokio::test]
    async fn a_refused_dispatch_gives_back_the_quota_and_the_key() {
        // one analysis per hour, and a dispatcher that is always busy
        let a = app(|s| s.channel_rate_limit = 1);
        let now = Utc::now();
        let spec = RerunSpec {
            start: now - chrono::Duration::minutes(30),
            end: now,
            description: "api 5xx".into(),
            language: Language::En,
            timezone: "UTC".into(),
        };
        let click = json!({
            "type": "block_actions",
            "user": {"id": "U1"},
            "channel": {"id": "C1"},
            "container": {"message_ts": "1.5", "thread_ts": "1.0"},
            "actions": [{"action_id": ACTION_RERUN, "value": spec.to_value()}]
        });
        for round in 0..3 {
            let h = a.on_interaction(&click);
            let [FollowUp::Dispatch { claim, .. }] = &h.followups[..] else {
                panic!("round {round}: the same click after a refusal starts again: {h:?}");
            };
            assert!(claim.slot.is_some() && claim.key.is_some());
            // refused (busy): the slot and the key come back
            a.perform_all(h).await;
        }
        // a click that is not refused keeps them: a repeat is ignored, the hour is used
        let taken = a.admit("C1", "U1", &a.texts(), None).unwrap();
        let h = a.on_interaction(&click);
        assert!(
            matches!(&h.followups[..], [FollowUp::Ephemeral { text, .. }] if text.contains("limit")),
            "the quota of one is used: {h:?}"
        );
        a.release("C1", taken);
        let h = a.on_interaction(&click);
        assert!(
            matches!(&h.followups[..], [FollowUp::Dispatch { .. }]),
            "{h:?}"
        );
        assert!(a.on_interaction(&click).followups.is_empty(), "a repeat");
    }

    #[test]
    fn http_verification_and_url_challenge() {
        let a = app(|_| {});
        let body = r#"{"type":"url_verification","challenge":"abc"}"#;
        let (h, now) = signed(body);
        let r = a.handle_http(&h, body.as_bytes(), now);
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, r#"{"challenge":"abc"}"#);
        let r = a.handle_http(&HeaderMap::new(), body.as_bytes(), now);
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.is_empty());
    }
}
