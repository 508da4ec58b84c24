//! One analysis requested from Slack, and running it: the [`AnalysisJob`] (serializable, so
//! the Lambda adapter can hand it to an asynchronous invocation) and the [`JobRunner`], which
//! posts one progress message in the thread and updates it in place as sources finish, then
//! posts the answer (Block Kit), uploads the full Markdown report, and always ends with a
//! message, also when the analysis fails.

use crate::answer::{answer_blocks, buttons, fallback_text, split_messages};
use crate::mrkdwn::{clip, escape};
use crate::texts::Texts;
use crate::web::SlackWeb;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use fa2_core::analyze::{Analyzed, Analyzer, Progress, ProgressFn};
use fa2_core::report::{Report, render_markdown};
use fa2_core::request::{AnalysisRequest, Language};
use fa2_core::window::WindowPolicy;
use serde::{Deserialize, Serialize};
use slack_morphism::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Shortest interval between two updates of the progress message (Slack's `chat.update` is a
/// Tier 3 method: about 50 calls a minute).
const UPDATE_EVERY: Duration = Duration::from_millis(1200);

/// What started a job (logged with its id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    ThreadForm,
    Modal,
    SlashCommand,
    Rerun,
    AlarmEvent,
}

/// An analysis to run and where to answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisJob {
    /// Short id, shown in Slack and logged with feedback.
    pub id: String,
    pub channel: String,
    /// The thread to answer in; `None` starts a new thread with a root message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// Who asked (mentioned in the root message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub description: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub language: Language,
    /// IANA zone the window is shown in.
    pub timezone: String,
    pub trigger: Trigger,
    /// The alarm behind the job, if any (for the root message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
}

/// A new job id: 8 hex digits from the clock and a counter, unique enough to find logs.
pub fn new_job_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) as u64;
    let mixed =
        (nanos ^ (n.wrapping_mul(0x9E37_79B9_7F4A_7C15))).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    format!("{:08x}", (mixed >> 32) as u32)
}

/// The re-run button's payload: the same question over a window twice as wide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RerunSpec {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub description: String,
    pub language: Language,
    pub timezone: String,
}

impl RerunSpec {
    /// The widened window: the end stays, the start moves back by the window's length (an
    /// incident usually begins before it is noticed), capped at `max_window`.
    pub fn widened(&self, max_window: Duration) -> (DateTime<Utc>, DateTime<Utc>) {
        // The spec comes back from Slack: checked, and the job's policy check has the last word.
        let width = self.end - self.start;
        let wider = width.checked_mul(2).unwrap_or(width);
        let wider = chrono::Duration::from_std(max_window).map_or(wider, |max| wider.min(max));
        let start = self.end.checked_sub_signed(wider).unwrap_or(self.start);
        (start, self.end)
    }

    /// Serialized within Slack's 2,000-character button value.
    pub fn to_value(&self) -> String {
        let mut spec = self.clone();
        loop {
            let s = serde_json::to_string(&spec).unwrap_or_default();
            if s.len() <= 2000 || spec.description.is_empty() {
                return s;
            }
            let keep = spec.description.chars().count() / 2;
            spec.description = spec.description.chars().take(keep).collect();
        }
    }
}

/// How a job ended (the Slack side; the analysis may have degraded inside).
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// The answer was posted in the thread.
    Answered {
        thread_ts: String,
        report: Box<Report>,
    },
    /// The analysis failed and the failure was posted.
    Failed { error: String },
    /// Slack itself could not be reached; nothing could be posted.
    Unreported { error: String },
}

/// Runs jobs against one analyzer and one Slack workspace.
#[derive(Clone)]
pub struct JobRunner {
    pub web: SlackWeb,
    pub analyzer: Arc<Analyzer>,
    /// Baseline length before each window.
    pub baseline: Duration,
    /// The system's architecture in a sentence (config `architecture`), for the prompt.
    pub architecture: String,
    /// The window limits every job is checked against.
    pub policy: WindowPolicy,
}

impl std::fmt::Debug for JobRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobRunner").finish_non_exhaustive()
    }
}

/// What an analysis is asked about, besides its window.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub description: &'a str,
    pub language: Language,
    pub baseline: Duration,
    pub architecture: &'a str,
}

/// The request for `start..end` once `policy` accepts it, with the baseline just before it.
/// Every job goes through here, so a window refused anywhere is refused in the job too.
pub fn analysis_request(
    parts: RequestParts<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    policy: &WindowPolicy,
    now: DateTime<Utc>,
) -> Result<AnalysisRequest, String> {
    let window = policy
        .window(start, end, parts.baseline, now)
        .map_err(|e| e.to_string())?;
    Ok(AnalysisRequest {
        description: parts.description.to_string(),
        window,
        language: parts.language,
        architecture: parts.architecture.to_string(),
    })
}

/// The window as people read it, in the job's zone.
pub fn window_label(start: DateTime<Utc>, end: DateTime<Utc>, tz: &str) -> String {
    let zone: Tz = tz.parse().unwrap_or(chrono_tz::UTC);
    let s = start.with_timezone(&zone);
    let e = end.with_timezone(&zone);
    let end_fmt = if s.date_naive() == e.date_naive() {
        "%H:%M"
    } else {
        "%Y-%m-%d %H:%M"
    };
    format!(
        "{}–{} ({})",
        s.format("%Y-%m-%d %H:%M"),
        e.format(end_fmt),
        zone.name()
    )
}

/// The progress message's state.
#[derive(Debug, Default)]
struct ProgressState {
    lines: Vec<(String, String)>,
    tail: Vec<String>,
    worked: Vec<String>,
}

impl ProgressState {
    fn apply(&mut self, p: &Progress, t: &Texts) -> bool {
        match p {
            Progress::SourceStarted { name } => {
                self.lines
                    .push((name.clone(), t.progress_source_running(&escape(name))));
            }
            Progress::SourceFinished {
                name,
                records,
                error,
            } => {
                let line = match error {
                    Some(e) => t.progress_source_failed(&escape(name), &escape(&clip(e, 150))),
                    None => {
                        self.worked.push(format!("{name} ({records})"));
                        t.progress_source_ok(&escape(name), *records)
                    }
                };
                match self.lines.iter_mut().find(|(n, _)| n == name) {
                    Some(entry) => entry.1 = line,
                    None => self.lines.push((name.clone(), line)),
                }
            }
            Progress::Distilled { evidence, .. } => self.tail.push(t.progress_distilled(*evidence)),
            Progress::LlmStarted { backend, model } => {
                let who = if model.is_empty() { backend } else { model };
                self.tail.push(t.progress_llm(&escape(who)));
            }
            Progress::PromptReady { .. } | Progress::LlmDelta(_) | Progress::Finished => {
                return false;
            }
        }
        true
    }

    fn render(&self, title: &str) -> String {
        let mut text = title.to_string();
        for (_, l) in &self.lines {
            text.push('\n');
            text.push_str(l);
        }
        for l in &self.tail {
            text.push('\n');
            text.push_str(l);
        }
        clip(&text, 2900)
    }
}

impl JobRunner {
    /// Runs `job` to the end; every path posts a final message when Slack is reachable.
    pub async fn run(&self, job: &AnalysisJob) -> JobOutcome {
        let texts = Texts::new(job.language);
        let started = Instant::now();
        let label = window_label(job.start, job.end, &job.timezone);
        tracing::info!(job = %job.id, trigger = ?job.trigger, channel = %job.channel, window = %label, "analysis started");
        let thread_ts = match &job.thread_ts {
            Some(ts) => ts.clone(),
            None => {
                let root = match &job.alarm {
                    Some(a) => texts.alarm_root_message(&escape(a)),
                    None => texts
                        .root_message(job.user.as_deref(), &escape(&clip(&job.description, 500))),
                };
                match self.web.post(&job.channel, None, &root, Vec::new()).await {
                    Ok(ts) => ts,
                    Err(e) => return self.unreported(job, e.to_string()),
                }
            }
        };
        let title = texts.progress_title(&label, &job.id);
        let progress_ts = match self
            .web
            .post(&job.channel, Some(&thread_ts), &title, Vec::new())
            .await
        {
            Ok(ts) => ts,
            Err(e) => return self.unreported(job, e.to_string()),
        };
        let (tx, rx) = mpsc::unbounded_channel::<Progress>();
        let progress: ProgressFn = Arc::new(move |p: &Progress| {
            if !matches!(p, Progress::LlmDelta(_)) {
                let _ = tx.send(p.clone());
            }
        });
        let updater = tokio::spawn(update_progress(
            self.web.clone(),
            job.channel.clone(),
            progress_ts.clone(),
            title.clone(),
            texts,
            rx,
        ));
        let result = self.analyze(job, progress).await;
        // The sender lives in the analyzer's callback, dropped with it: the updater ends.
        let state = updater.await.unwrap_or_default();
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(analyzed) => {
                let done = state.render(&texts.progress_done(&label, &job.id, secs));
                if let Err(e) = self
                    .web
                    .update(&job.channel, &progress_ts, &done, Vec::new())
                    .await
                {
                    tracing::warn!(job = %job.id, "progress update failed: {e}");
                }
                self.answer(job, &thread_ts, &analyzed.report, &texts).await
            }
            Err(error) => {
                let failed = state.render(&texts.progress_failed(&label, &job.id));
                let _ = self
                    .web
                    .update(&job.channel, &progress_ts, &failed, Vec::new())
                    .await;
                let worked = if state.worked.is_empty() {
                    texts.nothing()
                } else {
                    escape(&state.worked.join(", "))
                };
                let text = texts.failure(&escape(&clip(&error, 500)), &worked);
                tracing::warn!(job = %job.id, "analysis failed: {error}");
                match self
                    .web
                    .post(&job.channel, Some(&thread_ts), &text, Vec::new())
                    .await
                {
                    Ok(_) => JobOutcome::Failed { error },
                    Err(e) => self.unreported(job, format!("{error}; then {e}")),
                }
            }
        }
    }

    fn unreported(&self, job: &AnalysisJob, error: String) -> JobOutcome {
        tracing::error!(job = %job.id, "cannot post to Slack: {error}");
        JobOutcome::Unreported { error }
    }

    async fn analyze(&self, job: &AnalysisJob, progress: ProgressFn) -> Result<Analyzed, String> {
        let parts = RequestParts {
            description: &job.description,
            language: job.language,
            baseline: self.baseline,
            architecture: &self.architecture,
        };
        let request = analysis_request(parts, job.start, job.end, &self.policy, Utc::now())?;
        self.analyzer
            .run(&request, progress)
            .await
            .map_err(|e| e.to_string())
    }

    async fn answer(
        &self,
        job: &AnalysisJob,
        thread_ts: &str,
        report: &Report,
        texts: &Texts,
    ) -> JobOutcome {
        let rerun = RerunSpec {
            start: job.start,
            end: job.end,
            description: job.description.clone(),
            language: job.language,
            timezone: job.timezone.clone(),
        };
        let mut blocks = answer_blocks(report, texts);
        blocks.push(SlackDividerBlock::new().into());
        blocks.push(buttons(texts, &rerun.to_value(), &job.id));
        let fallback = fallback_text(report, texts);
        for message in split_messages(blocks) {
            if let Err(e) = self
                .web
                .post(&job.channel, Some(thread_ts), &fallback, message)
                .await
            {
                return self.unreported(job, e.to_string());
            }
        }
        let markdown = render_markdown(report, 50);
        let filename = format!("fa2-{}.md", job.id);
        if let Err(e) = self
            .web
            .upload(
                &job.channel,
                Some(thread_ts),
                &filename,
                &texts.report_file_title(),
                markdown.into_bytes(),
            )
            .await
        {
            tracing::warn!(job = %job.id, "report upload failed: {e}");
            let _ = self
                .web
                .post(
                    &job.channel,
                    Some(thread_ts),
                    &texts.upload_failed(&escape(&e.to_string())),
                    Vec::new(),
                )
                .await;
        }
        tracing::info!(job = %job.id, evidence = report.evidence.len(), "analysis answered");
        JobOutcome::Answered {
            thread_ts: thread_ts.to_string(),
            report: Box::new(report.clone()),
        }
    }
}

/// Folds progress into one message, updated at most every [`UPDATE_EVERY`].
async fn update_progress(
    web: SlackWeb,
    channel: String,
    ts: String,
    title: String,
    texts: Texts,
    mut rx: mpsc::UnboundedReceiver<Progress>,
) -> ProgressState {
    let mut state = ProgressState::default();
    let mut last_sent = Instant::now() - UPDATE_EVERY;
    let mut dirty = false;
    loop {
        let wait = UPDATE_EVERY.saturating_sub(last_sent.elapsed());
        let next = if dirty {
            match tokio::time::timeout(wait, rx.recv()).await {
                Ok(p) => p.map(Some),
                Err(_) => Some(None),
            }
        } else {
            rx.recv().await.map(Some)
        };
        match next {
            None => break,
            Some(Some(p)) => dirty |= state.apply(&p, &texts),
            Some(None) => {}
        }
        if dirty && last_sent.elapsed() >= UPDATE_EVERY {
            if let Err(e) = web
                .update(&channel, &ts, &state.render(&title), Vec::new())
                .await
            {
                tracing::debug!("progress update failed: {e}");
            }
            last_sent = Instant::now();
            dirty = false;
        }
    }
    state
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rerun_widens_backwards_within_max() {
        let spec = RerunSpec {
            start: Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2026, 1, 1, 10, 30, 0).unwrap(),
            description: "x".repeat(5000),
            language: Language::Ja,
            timezone: "Asia/Tokyo".into(),
        };
        let (s, e) = spec.widened(Duration::from_secs(86_400));
        assert_eq!(s, Utc.with_ymd_and_hms(2026, 1, 1, 9, 30, 0).unwrap());
        assert_eq!(e, spec.end);
        let (s, _) = spec.widened(Duration::from_secs(2400));
        assert_eq!(s, Utc.with_ymd_and_hms(2026, 1, 1, 9, 50, 0).unwrap());
        let v = spec.to_value();
        assert!(v.len() <= 2000);
        let back: RerunSpec = serde_json::from_str(&v).unwrap();
        assert_eq!(back.start, spec.start);
    }

    #[test]
    fn window_label_in_zone() {
        let s = Utc.with_ymd_and_hms(2026, 11, 24, 9, 30, 0).unwrap();
        let e = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap();
        assert_eq!(
            window_label(s, e, "Asia/Tokyo"),
            "2026-11-24 18:30–19:00 (Asia/Tokyo)"
        );
        assert_eq!(window_label(s, e, "bogus"), "2026-11-24 09:30–10:00 (UTC)");
        assert_ne!(new_job_id(), new_job_id());
    }
}
