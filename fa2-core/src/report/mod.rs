//! The report: the JSON contract of DESIGN.md section 5 plus extensions, citation checking,
//! and renderers for Markdown (terminals, Slack files) and a plain-text summary.

mod markdown;

pub use markdown::{render_markdown, render_text};

use crate::distill::DistillStats;
use crate::evidence::Evidence;
use crate::llm::{Analysis, Hypothesis, TimelineEntry};
use crate::request::{Language, Window};
use crate::telemetry::SourceStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Prompt accounting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptInfo {
    pub tokens: usize,
    pub budget: usize,
    pub omitted_evidence: usize,
}

/// Which backend answered and what went wrong with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmInfo {
    pub backend: String,
    pub model: String,
    pub error: Option<String>,
    pub unknown_citations: Vec<String>,
    /// The answer was cut by the output token limit (extension).
    #[serde(default)]
    pub truncated: bool,
}

/// The full analysis result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub window: Window,
    pub sources: Vec<SourceStatus>,
    pub evidence: Vec<Evidence>,
    pub hypotheses: Vec<Hypothesis>,
    pub summary: String,
    pub impact: String,
    pub timeline: Vec<TimelineEntry>,
    pub actions: Vec<String>,
    pub prevention: Vec<String>,
    pub prompt: PromptInfo,
    pub llm: LlmInfo,
    /// Extensions.
    #[serde(default)]
    pub language: Language,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub stats: DistillStats,
    /// Evidence items beyond the report cap (counted, not listed).
    #[serde(default)]
    pub evidence_dropped: usize,
}

/// Evidence ids cited in free text, like `[E3]` or `E12`.
pub fn cited_ids(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'E' && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > i + 1 && (j == b.len() || !b[j].is_ascii_alphanumeric()) {
                out.push(text[i..j].to_string());
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Removes citations of ids that do not exist from the analysis and returns them (sorted),
/// so that nothing is shown as fact on the strength of evidence that is not there.
pub fn check_citations(analysis: &mut Analysis, evidence: &[Evidence]) -> Vec<String> {
    let known: BTreeSet<&str> = evidence.iter().map(|e| e.id.as_str()).collect();
    let mut unknown: BTreeSet<String> = BTreeSet::new();
    let mut keep = |ids: &mut Vec<String>| {
        ids.retain(|id| {
            let ok = known.contains(id.trim_matches(['[', ']']));
            if !ok {
                unknown.insert(id.clone());
            }
            ok
        });
        for id in ids.iter_mut() {
            *id = id.trim_matches(['[', ']']).to_string();
        }
    };
    for h in analysis.hypotheses.iter_mut() {
        keep(&mut h.evidence);
    }
    for t in analysis.timeline.iter_mut() {
        keep(&mut t.evidence);
    }
    let mut texts: Vec<&str> = vec![&analysis.summary, &analysis.impact];
    for h in &analysis.hypotheses {
        texts.push(&h.title);
        texts.push(&h.explanation);
    }
    for t in &analysis.timeline {
        texts.push(&t.event);
    }
    for a in analysis.actions.iter().chain(&analysis.prevention) {
        texts.push(a);
    }
    for text in texts {
        for id in cited_ids(text) {
            if !known.contains(id.as_str()) {
                unknown.insert(id);
            }
        }
    }
    unknown.into_iter().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::evidence::EvidenceKind;
    use crate::llm::Confidence;

    #[test]
    fn finds_cited_ids() {
        assert_eq!(
            cited_ids("see [E1][E12], E3 and HE4 or E5x"),
            vec!["E1", "E12", "E3"]
        );
    }

    #[test]
    fn unknown_citations_are_flagged_and_removed() {
        let mut e = Evidence::new(EvidenceKind::Alb, "s", "t");
        e.id = "E1".into();
        let mut a = Analysis {
            summary: "caused by [E1] and [E9]".into(),
            hypotheses: vec![Hypothesis {
                title: "x".into(),
                confidence: Confidence::High,
                evidence: vec!["E1".into(), "E7".into(), "[E1]".into()],
                explanation: "".into(),
            }],
            ..Analysis::default()
        };
        let unknown = check_citations(&mut a, &[e]);
        assert_eq!(unknown, vec!["E7".to_string(), "E9".to_string()]);
        assert_eq!(
            a.hypotheses[0].evidence,
            vec!["E1".to_string(), "E1".to_string()]
        );
    }
}
