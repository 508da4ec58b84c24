//! Markdown and plain-text renderings of a [`Report`], in the report's language.

use super::Report;
use crate::request::Language;
use crate::telemetry::SourceState;
use std::fmt::Write;

struct Labels {
    title: &'static str,
    window: &'static str,
    baseline: &'static str,
    summary: &'static str,
    impact: &'static str,
    hypotheses: &'static str,
    confidence: &'static str,
    timeline: &'static str,
    actions: &'static str,
    prevention: &'static str,
    evidence: &'static str,
    reproduce: &'static str,
    sources: &'static str,
    records: &'static str,
    prompt: &'static str,
    unknown: &'static str,
    llm_error: &'static str,
    truncated: &'static str,
    samples: &'static str,
    links: &'static str,
    not_listed: &'static str,
}

const EN: Labels = Labels {
    title: "fa2 incident analysis",
    window: "Incident window",
    baseline: "baseline",
    summary: "Summary",
    impact: "Impact",
    hypotheses: "Hypotheses",
    confidence: "confidence",
    timeline: "Timeline",
    actions: "Recommended actions",
    prevention: "Prevention",
    evidence: "Evidence",
    reproduce: "reproduce",
    sources: "Sources",
    records: "records",
    prompt: "Prompt",
    unknown: "Citations of evidence that does not exist (ignored)",
    llm_error: "The LLM failed; this report comes from the offline analyzer",
    truncated: "The LLM answer was cut off by its output limit and may be incomplete",
    samples: "samples",
    links: "linked",
    not_listed: "more evidence items not listed",
};

const JA: Labels = Labels {
    title: "fa2 障害分析レポート",
    window: "障害期間",
    baseline: "ベースライン",
    summary: "概要",
    impact: "影響",
    hypotheses: "原因の仮説",
    confidence: "確度",
    timeline: "タイムライン",
    actions: "推奨される対応",
    prevention: "再発防止",
    evidence: "証拠",
    reproduce: "再現",
    sources: "データソース",
    records: "件",
    prompt: "プロンプト",
    unknown: "存在しない証拠の引用 (無視しました)",
    llm_error: "LLM の呼び出しに失敗したため、このレポートはオフライン分析器によるものです",
    truncated: "LLM の回答は出力上限で途切れており、不完全な可能性があります",
    samples: "サンプル",
    links: "関連",
    not_listed: "件の証拠は一覧に含めていません",
};

fn labels(lang: Language) -> &'static Labels {
    match lang {
        Language::En => &EN,
        Language::Ja => &JA,
    }
}

fn confidence(lang: Language, c: crate::llm::Confidence) -> &'static str {
    match (lang, c) {
        (Language::Ja, crate::llm::Confidence::High) => "高",
        (Language::Ja, crate::llm::Confidence::Medium) => "中",
        (Language::Ja, crate::llm::Confidence::Low) => "低",
        (_, c) => c.as_str(),
    }
}

/// Markdown with an inline code span that cannot be broken by backticks in the text.
fn code(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    format!("{fence} {} {fence}", text.replace('\n', " "))
}

/// Renders the report as Markdown. `max_evidence` limits the evidence section.
pub fn render_markdown(r: &Report, max_evidence: usize) -> String {
    let l = labels(r.language);
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", l.title);
    let _ = writeln!(
        s,
        "{}: {} – {} ({}: {} – {})\n",
        l.window,
        crate::time::rfc3339(r.window.start),
        crate::time::rfc3339(r.window.end),
        l.baseline,
        crate::time::rfc3339(r.window.baseline_start),
        crate::time::rfc3339(r.window.baseline_end)
    );
    if let Some(err) = &r.llm.error {
        let _ = writeln!(s, "> **{}**: {}\n", l.llm_error, err);
    }
    if r.llm.truncated {
        let _ = writeln!(s, "> **{}**\n", l.truncated);
    }
    let _ = writeln!(s, "## {}\n\n{}\n", l.summary, r.summary);
    let _ = writeln!(s, "## {}\n\n{}\n", l.impact, r.impact);
    let _ = writeln!(s, "## {}\n", l.hypotheses);
    for (i, h) in r.hypotheses.iter().enumerate() {
        let cites: String = h.evidence.iter().map(|e| format!("[{e}]")).collect();
        let _ = writeln!(
            s,
            "{}. **{}** ({} {}) {}\n   {}",
            i + 1,
            h.title,
            l.confidence,
            confidence(r.language, h.confidence),
            cites,
            h.explanation
        );
    }
    s.push('\n');
    if !r.timeline.is_empty() {
        let _ = writeln!(s, "## {}\n", l.timeline);
        for t in &r.timeline {
            let when = t
                .time
                .map(|t| t.format("%H:%M:%S").to_string())
                .unwrap_or_else(|| "?".into());
            let cites: String = t.evidence.iter().map(|e| format!("[{e}]")).collect();
            let _ = writeln!(s, "- {when} {} {cites}", t.event);
        }
        s.push('\n');
    }
    for (title, list) in [(l.actions, &r.actions), (l.prevention, &r.prevention)] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(s, "## {title}\n");
        for a in list {
            let _ = writeln!(s, "- {a}");
        }
        s.push('\n');
    }
    if !r.llm.unknown_citations.is_empty() {
        let _ = writeln!(
            s,
            "> {}: {}\n",
            l.unknown,
            r.llm.unknown_citations.join(", ")
        );
    }
    let _ = writeln!(s, "## {}\n", l.evidence);
    for e in r.evidence.iter().take(max_evidence) {
        let _ = writeln!(
            s,
            "### [{}] {}\n\n{} · score {:.2} · {} / {} ({}) · {} – {}{}",
            e.id,
            e.title,
            e.kind.as_str(),
            e.score,
            e.count,
            e.baseline_count,
            l.baseline,
            e.first_seen
                .map(crate::time::rfc3339)
                .unwrap_or_else(|| "-".into()),
            e.last_seen
                .map(crate::time::rfc3339)
                .unwrap_or_else(|| "-".into()),
            if e.links.is_empty() {
                String::new()
            } else {
                format!(" · {}: {}", l.links, e.links.join(", "))
            }
        );
        if let Some(d) = &e.detail {
            let _ = writeln!(s, "\n{d}");
        }
        if !e.samples.is_empty() {
            let _ = writeln!(s, "\n{}:\n", l.samples);
            for sample in &e.samples {
                s.push_str("```\n");
                // a sample cannot close the fence early
                s.push_str(&sample.replace("```", "`\u{200b}``"));
                s.push_str("\n```\n");
            }
        }
        let _ = writeln!(s, "\n{}: {}\n", l.reproduce, code(&e.reproduce));
    }
    let hidden = r.evidence.len().saturating_sub(max_evidence) + r.evidence_dropped;
    if hidden > 0 {
        let _ = writeln!(s, "(+{hidden} {})\n", l.not_listed);
    }
    let _ = writeln!(s, "## {}\n", l.sources);
    for src in &r.sources {
        let _ = writeln!(
            s,
            "- {} `{}` {}: {} {}{}",
            match src.status {
                SourceState::Ok => "✅",
                SourceState::Error => "❌",
                SourceState::Skipped => "⏭️",
            },
            src.kind,
            src.name,
            src.records,
            l.records,
            src.error
                .as_ref()
                .map(|e| format!(" — {e}"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        s,
        "\n{}: {} / {} tokens, {} evidence items omitted · LLM: {} ({})",
        l.prompt,
        r.prompt.tokens,
        r.prompt.budget,
        r.prompt.omitted_evidence,
        r.llm.backend,
        r.llm.model
    );
    s
}

/// A short plain-text summary (for notifications and terminals).
pub fn render_text(r: &Report) -> String {
    let l = labels(r.language);
    let mut s = String::new();
    let _ = writeln!(s, "{}: {}", l.summary, r.summary);
    for (i, h) in r.hypotheses.iter().take(3).enumerate() {
        let _ = writeln!(
            s,
            "{}. {} ({} {}) [{}]",
            i + 1,
            h.title,
            l.confidence,
            confidence(r.language, h.confidence),
            h.evidence.join(", ")
        );
    }
    if let Some(a) = r.actions.first() {
        let _ = writeln!(s, "{}: {a}", l.actions);
    }
    let failed: Vec<&str> = r
        .sources
        .iter()
        .filter(|x| x.status == SourceState::Error)
        .map(|x| x.name.as_str())
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(s, "{}: ❌ {}", l.sources, failed.join(", "));
    }
    if let Some(err) = &r.llm.error {
        let _ = writeln!(s, "{}: {err}", l.llm_error);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_survive_backticks() {
        assert_eq!(code("a"), "` a `");
        assert_eq!(code("jq '.x' `y`"), "`` jq '.x' `y` ``");
    }
}
