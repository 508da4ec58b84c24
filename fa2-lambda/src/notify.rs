//! Answers that leave through Amazon SNS: a report as an Amazon Q Developer in chat
//! applications (AWS Chatbot) custom notification (`{"version": "1.0", "source": "custom",
//! "content": {...}}`), which Chatbot renders in the channels subscribed to the topic.

use fa2_core::report::Report;
use fa2_slack::answer::failed_sources;
use fa2_slack::mrkdwn::{clip, escape};
use serde_json::{Value, json};

/// Longest `content.title` we send.
pub const MAX_TITLE: usize = 250;
/// Longest `content.description` we send (Chatbot's documented limit for custom
/// notifications is 8,000 characters).
pub const MAX_DESCRIPTION: usize = 8000;
/// Next steps listed at most.
pub const MAX_NEXT_STEPS: usize = 5;

/// What the notification is about.
#[derive(Debug, Clone, Default)]
pub struct NotificationContext {
    pub analysis_id: String,
    pub alarm_name: Option<String>,
    pub window: String,
    /// What was wrong with the request but did not stop it (an unreadable optional field).
    pub notes: Vec<String>,
}

/// The notes as lines of the description.
fn notes_text(ctx: &NotificationContext) -> String {
    ctx.notes
        .iter()
        .take(5)
        .map(|n| format!("*Note:* {}\n", escape(&clip(n, 300))))
        .collect()
}

/// The custom notification of `report`.
pub fn custom_notification(report: &Report, ctx: &NotificationContext) -> Value {
    let top = report.hypotheses.first();
    let title = match (&ctx.alarm_name, top) {
        (Some(a), Some(h)) => format!("fa2: {a}: {}", h.title),
        (Some(a), None) => format!("fa2: {a}: no root cause found"),
        (None, Some(h)) => format!("fa2: {}", h.title),
        (None, None) => "fa2: no root cause found".to_string(),
    };
    let mut d = String::new();
    d.push_str(&format!("*Window:* {}\n", escape(&ctx.window)));
    d.push_str(&notes_text(ctx));
    if !report.summary.is_empty() {
        d.push_str(&format!("*Summary:* {}\n", escape(&report.summary)));
    }
    let failed = failed_sources(report, 160);
    if !failed.is_empty() {
        d.push_str(&format!(
            "*Not available:* {}\n",
            escape(&failed.join("; "))
        ));
    }
    if let Some(e) = &report.llm.error {
        d.push_str(&format!(
            "*Model failed:* {} (offline analysis shown)\n",
            escape(&clip(e, 300))
        ));
    }
    if !report.hypotheses.is_empty() {
        d.push_str("*Likely causes:*\n");
        for (i, h) in report.hypotheses.iter().take(3).enumerate() {
            d.push_str(&format!(
                "{}. {} ({}) [{}]\n",
                i + 1,
                escape(&h.title),
                h.confidence.as_str(),
                escape(&h.evidence.join(", "))
            ));
        }
    }
    let evidence_budget = MAX_DESCRIPTION.saturating_sub(d.chars().count() + 100);
    let mut evidence = String::from("*Evidence:*\n");
    for e in report.evidence.iter().take(6) {
        let mut line = format!(
            "• {} {}: {}",
            e.id,
            e.kind.as_str(),
            escape(&clip(&e.title, 300))
        );
        if !e.reproduce.is_empty() {
            line.push_str(&format!(
                "\n  `{}`",
                escape(&clip(&e.reproduce, 400)).replace('`', "'")
            ));
        }
        line.push('\n');
        if evidence.chars().count() + line.chars().count() > evidence_budget {
            break;
        }
        evidence.push_str(&line);
    }
    if !report.evidence.is_empty() {
        d.push_str(&evidence);
    }
    d.push_str(&format!("_fa2 analysis {}_", escape(&ctx.analysis_id)));
    let next_steps: Vec<String> = report
        .actions
        .iter()
        .take(MAX_NEXT_STEPS)
        .map(|a| clip(a, 300))
        .collect();
    let mut keywords = vec!["fa2".to_string()];
    keywords.extend(ctx.alarm_name.clone());
    json!({
        "version": "1.0",
        "source": "custom",
        "id": format!("fa2-{}", ctx.analysis_id),
        "content": {
            "textType": "client-markdown",
            "title": clip(&title, MAX_TITLE),
            "description": clip(&d, MAX_DESCRIPTION),
            "nextSteps": next_steps,
            "keywords": keywords,
        },
        "metadata": {
            "summary": clip(&title, MAX_TITLE),
            "eventType": "fa2-analysis",
            "additionalContext": { "analysisId": ctx.analysis_id }
        }
    })
}

/// The custom notification of an analysis that could not run.
pub fn failure_notification(error: &str, ctx: &NotificationContext) -> Value {
    let subject = ctx.alarm_name.as_deref().unwrap_or(&ctx.window);
    unrun_notification(
        &format!("fa2: the analysis of {subject} failed"),
        error,
        ctx,
        "Run `fa2 check` with the function's configuration to see which source or permission fails.",
    )
}

/// The custom notification of a request whose window was refused (not a time, over
/// `max_window`, in the future): the error says what is wrong, `next_step` what to do.
pub fn refusal_notification(error: &str, ctx: &NotificationContext, next_step: &str) -> Value {
    let subject = ctx.alarm_name.as_deref().unwrap_or("the requested window");
    unrun_notification(
        &format!("fa2: cannot analyze {subject}"),
        error,
        ctx,
        next_step,
    )
}

fn unrun_notification(title: &str, error: &str, ctx: &NotificationContext, next: &str) -> Value {
    let description = format!(
        "*Window:* {}\n{}*Error:* {}",
        escape(&ctx.window),
        notes_text(ctx),
        escape(error)
    );
    json!({
        "version": "1.0",
        "source": "custom",
        "id": format!("fa2-{}", ctx.analysis_id),
        "content": {
            "textType": "client-markdown",
            "title": clip(title, MAX_TITLE),
            "description": clip(&description, MAX_DESCRIPTION),
            "nextSteps": [next]
        },
        "metadata": {
            "summary": clip(title, MAX_TITLE),
            "eventType": "fa2-analysis",
            "additionalContext": { "analysisId": ctx.analysis_id }
        }
    })
}

/// Publishes notifications to one SNS topic.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(sdk: &aws_config::SdkConfig, topic_arn: &str) -> Self {
        SnsNotifier {
            client: aws_sdk_sns::Client::new(sdk),
            topic_arn: topic_arn.to_string(),
        }
    }

    /// Publishes `message`; returns the SNS message id.
    pub async fn publish(&self, message: &Value, subject: &str) -> Result<String, String> {
        let out = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(clip(&subject.replace(['\n', '\r'], " "), 100))
            .message(message.to_string())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot publish to {}: {}",
                    self.topic_arn,
                    aws_sdk_sns::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use fa2_core::evidence::{Evidence, EvidenceKind};
    use fa2_core::llm::{Confidence, Hypothesis};

    #[test]
    fn notification_shape_and_limits() {
        let mut report: Report = serde_json::from_value(serde_json::json!({
            "window": {"start": "2024-09-10T14:05:00Z", "end": "2024-09-10T14:35:00Z",
                       "baseline_start": "2024-09-10T13:05:00Z", "baseline_end": "2024-09-10T14:05:00Z"},
            "sources": [], "evidence": [], "hypotheses": [], "summary": "", "impact": "",
            "timeline": [], "actions": [], "prevention": [],
            "prompt": {"tokens": 0, "budget": 0, "omitted_evidence": 0},
            "llm": {"backend": "offline", "model": "", "error": null, "unknown_citations": []}
        }))
        .unwrap();
        report.summary = "<!channel> DB ingress revoked".into();
        report.hypotheses.push(Hypothesis {
            title: "RevokeSecurityGroupIngress by ops-carol".into(),
            confidence: Confidence::High,
            evidence: vec!["E1".into()],
            explanation: String::new(),
        });
        for i in 0..200 {
            let mut e = Evidence::new(EvidenceKind::LogTemplate, "logs", "x".repeat(2000));
            e.id = format!("E{i}");
            e.reproduce = "fields @message".into();
            report.evidence.push(e);
        }
        report.actions = (0..9).map(|i| format!("step {i}")).collect();
        let ctx = NotificationContext {
            analysis_id: "abc".into(),
            alarm_name: Some("checkout-5xx".into()),
            window: "w".into(),
            notes: vec!["alarmTimestamp `soon` is not a time; ignored".into()],
        };
        let n = custom_notification(&report, &ctx);
        assert_eq!(n["version"], "1.0");
        assert_eq!(n["source"], "custom");
        assert_eq!(n["content"]["textType"], "client-markdown");
        assert!(
            n["content"]["title"]
                .as_str()
                .unwrap()
                .starts_with("fa2: checkout-5xx: RevokeSecurityGroupIngress")
        );
        let d = n["content"]["description"].as_str().unwrap();
        assert!(d.chars().count() <= MAX_DESCRIPTION);
        assert!(d.contains("&lt;!channel&gt;"), "escaped: {d}");
        assert!(
            d.contains("*Note:* alarmTimestamp `soon` is not a time; ignored"),
            "{d}"
        );
        let r = refusal_notification("the window is 4d long, over max_window = 1d", &ctx, "x");
        assert_eq!(r["content"]["title"], "fa2: cannot analyze checkout-5xx");
        let rd = r["content"]["description"].as_str().unwrap();
        assert!(
            rd.contains("*Error:* the window is 4d long, over max_window = 1d"),
            "{rd}"
        );
        assert!(rd.contains("*Note:*"), "{rd}");
        assert!(d.ends_with("_fa2 analysis abc_"));
        assert_eq!(
            n["content"]["nextSteps"].as_array().unwrap().len(),
            MAX_NEXT_STEPS
        );
    }
}
