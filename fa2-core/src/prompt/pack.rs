//! The budget packer: chooses which evidence the prompt shows so that the rendered prompt
//! never exceeds the token budget.
//!
//! Order of choice: first the best item of every source family (logs, ALB, CloudTrail, X-Ray,
//! metrics), so one noisy source cannot crowd the others out; then the rest by score, with no
//! family taking more than half of the evidence budget while others still have items; then
//! whatever still fits. An item is shown whole (header, detail, samples) when it fits, else as
//! its header line. What is left out is counted in a footer.

use super::{Prompt, PromptRenderer, escape_untrusted};
use crate::error::AnalysisError;
use crate::evidence::{Evidence, EvidenceKind};
use crate::request::{AnalysisRequest, Language};
use crate::tokens::estimate_tokens;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Characters of a sample shown in the prompt.
const SAMPLE_CHARS: usize = 400;
/// Lines of a multi-line sample (stack trace) shown in the prompt.
const SAMPLE_LINES: usize = 8;

/// What the packer did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PackStats {
    pub shown: usize,
    pub shown_as_header: usize,
    pub omitted: usize,
    /// Omitted items per evidence kind.
    pub omitted_by_kind: BTreeMap<String, usize>,
    /// Incident-window occurrences behind the omitted items.
    pub omitted_occurrences: u64,
    pub description_truncated: bool,
}

fn hhmmss(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "-".into())
}

/// Renders one evidence item (escaped). `full` adds detail and samples.
pub fn render_item(e: &Evidence, full: bool) -> String {
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "[{}] {} | score {:.2} | incident {} | baseline {} | onset {} | seen {}..{}",
        e.id,
        e.kind.as_str(),
        e.score,
        e.count,
        e.baseline_count,
        hhmmss(e.onset),
        hhmmss(e.first_seen),
        hhmmss(e.last_seen)
    );
    if !e.links.is_empty() {
        let _ = write!(s, " | links {}", e.links.join(","));
    }
    s.push('\n');
    let _ = writeln!(s, "  {}", escape_untrusted(&e.title));
    if full {
        if let Some(d) = &e.detail {
            let _ = writeln!(s, "  detail: {}", escape_untrusted(d));
        }
        if !e.link_reasons.is_empty() {
            let _ = writeln!(
                s,
                "  why linked: {}",
                escape_untrusted(&e.link_reasons.join("; "))
            );
        }
        for sample in &e.samples {
            let lines: Vec<&str> = sample.lines().take(SAMPLE_LINES).collect();
            let clipped = crate::distill::clip(&lines.join("\n    "), SAMPLE_CHARS);
            let _ = writeln!(s, "  sample: {}", escape_untrusted(&clipped));
        }
    }
    s
}

fn footer(lang: Language, stats: &PackStats) -> String {
    if stats.omitted == 0 {
        return String::new();
    }
    let kinds: Vec<String> = stats
        .omitted_by_kind
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    match lang {
        Language::En => format!(
            "(+{} more evidence items omitted to fit the token budget: {}; {} occurrences in the incident window)",
            stats.omitted,
            kinds.join(", "),
            stats.omitted_occurrences
        ),
        Language::Ja => format!(
            "(トークン予算に収めるため、さらに {} 件の証拠を省略しました: {}。障害期間中の発生件数 {} 件)",
            stats.omitted,
            kinds.join(", "),
            stats.omitted_occurrences
        ),
    }
}

/// What the evidence of one choice costs.
#[derive(Clone, Copy, PartialEq)]
enum Shown {
    No,
    Header,
    Full,
}

/// Packs `evidence` (ranked) into a prompt of at most `budget` estimated tokens.
pub fn pack_evidence(
    renderer: &PromptRenderer,
    req: &AnalysisRequest,
    evidence: &[Evidence],
    budget: usize,
) -> Result<Prompt, AnalysisError> {
    let system = renderer.system(req)?;
    let system_tokens = estimate_tokens(&system);
    // The description gets at most a quarter of the budget.
    let mut description = req.description.clone();
    let mut description_truncated = false;
    let max_desc = budget / 4;
    while estimate_tokens(&escape_untrusted(&description)) > max_desc && !description.is_empty() {
        let keep = description.chars().count() * 3 / 4;
        description = description.chars().take(keep).collect();
        description_truncated = true;
    }
    if description_truncated {
        description.push_str(" …(truncated)");
    }
    // Worst-case footer so that the final one always fits.
    let worst = PackStats {
        omitted: evidence.len(),
        omitted_by_kind: evidence.iter().fold(BTreeMap::new(), |mut m, e| {
            *m.entry(e.kind.as_str().to_string()).or_insert(0) += 1;
            m
        }),
        omitted_occurrences: evidence.iter().map(|e| e.count).sum(),
        ..PackStats::default()
    };
    let skeleton = renderer.user(req, &description, "", &footer(req.language, &worst))?;
    let fixed = system_tokens + estimate_tokens(&skeleton);
    if fixed > budget {
        return Err(AnalysisError::InvalidRequest(format!(
            "the token budget {budget} is too small: the instructions and description alone need about {fixed} tokens; raise --budget-tokens"
        )));
    }
    let avail = budget - fixed;

    let full: Vec<String> = evidence.iter().map(|e| render_item(e, true)).collect();
    let head: Vec<String> = evidence.iter().map(|e| render_item(e, false)).collect();
    let cost_full: Vec<usize> = full.iter().map(|s| estimate_tokens(s)).collect();
    let cost_head: Vec<usize> = head.iter().map(|s| estimate_tokens(s)).collect();
    let mut shown = vec![Shown::No; evidence.len()];
    let mut used = 0usize;
    let mut per_family: BTreeMap<&str, usize> = BTreeMap::new();
    let mut take = |i: usize, cap: Option<usize>, shown: &mut Vec<Shown>, used: &mut usize| {
        if shown[i] != Shown::No {
            return;
        }
        let fam = evidence[i].kind.family();
        let spent = per_family.get(fam).copied().unwrap_or(0);
        for (mode, cost) in [(Shown::Full, cost_full[i]), (Shown::Header, cost_head[i])] {
            if *used + cost <= avail && cap.is_none_or(|c| spent + cost <= c) {
                shown[i] = mode;
                *used += cost;
                *per_family.entry(fam).or_insert(0) += cost;
                return;
            }
        }
    };
    // 1. best of each family
    let mut seen_family: Vec<&str> = Vec::new();
    for (i, e) in evidence.iter().enumerate() {
        let fam = e.kind.family();
        if !seen_family.contains(&fam) && e.score >= 0.05 && e.kind != EvidenceKind::AuditSummary {
            seen_family.push(fam);
            take(i, None, &mut shown, &mut used);
        }
    }
    // 2. by score, half the budget per family at most
    for i in 0..evidence.len() {
        take(i, Some(avail / 2), &mut shown, &mut used);
    }
    // 3. whatever still fits
    for i in 0..evidence.len() {
        take(i, None, &mut shown, &mut used);
    }

    loop {
        let mut block = String::new();
        let mut stats = PackStats {
            description_truncated,
            ..PackStats::default()
        };
        let mut included = Vec::new();
        for (i, e) in evidence.iter().enumerate() {
            match shown[i] {
                Shown::Full => {
                    block.push_str(&full[i]);
                    stats.shown += 1;
                    included.push(i);
                }
                Shown::Header => {
                    block.push_str(&head[i]);
                    stats.shown += 1;
                    stats.shown_as_header += 1;
                    included.push(i);
                }
                Shown::No => {
                    stats.omitted += 1;
                    stats.omitted_occurrences += e.count;
                    *stats
                        .omitted_by_kind
                        .entry(e.kind.as_str().to_string())
                        .or_insert(0) += 1;
                }
            }
        }
        if block.is_empty() {
            block.push_str(match req.language {
                Language::En => "(no evidence: no telemetry matched the windows)\n",
                Language::Ja => "(証拠なし: 期間内のテレメトリがありません)\n",
            });
        }
        let user = renderer.user(
            req,
            &description,
            block.trim_end(),
            &footer(req.language, &stats),
        )?;
        let tokens = system_tokens + estimate_tokens(&user);
        if tokens <= budget {
            return Ok(Prompt {
                system,
                user,
                tokens,
                budget,
                included,
                stats,
            });
        }
        // Estimates of parts can differ from the estimate of the whole: drop the weakest
        // shown item and try again (terminates: each round shows one item less).
        match shown.iter().rposition(|s| *s != Shown::No) {
            Some(last) => shown[last] = Shown::No,
            None => {
                return Err(AnalysisError::InvalidRequest(format!(
                    "the token budget {budget} is too small for this prompt; raise --budget-tokens"
                )));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::evidence::{Evidence, EvidenceKind};

    fn req() -> AnalysisRequest {
        let s = crate::time::parse_timestamp("2024-08-16T11:19:00Z").unwrap();
        AnalysisRequest::new(
            "orders API returns 5xx",
            s,
            s + chrono::Duration::minutes(30),
        )
        .unwrap()
    }

    fn items(n: usize, kind: EvidenceKind, sample_len: usize) -> Vec<Evidence> {
        (0..n)
            .map(|i| {
                let mut e = Evidence::new(
                    kind,
                    "files:x",
                    format!("ERROR [g] template number {i} with <*> and </telemetry>"),
                );
                e.id = format!("E{}", i + 1);
                e.score = 1.0 - i as f64 / (n as f64 + 1.0);
                e.count = 10 + i as u64;
                e.samples = vec![
                    "x".repeat(sample_len),
                    "日本語のログ行".repeat(sample_len / 7 + 1),
                ];
                e.detail = Some("detail".into());
                e
            })
            .collect()
    }

    #[test]
    fn never_exceeds_the_budget_for_any_input_size() {
        let r = PromptRenderer::new(None).unwrap();
        for budget in [1_500usize, 2_000, 4_000, 16_000, 64_000] {
            for n in [0usize, 1, 10, 100, 2000] {
                let ev = items(n, EvidenceKind::LogTemplate, 500);
                let p = pack_evidence(&r, &req(), &ev, budget).unwrap();
                let real = estimate_tokens(&p.system) + estimate_tokens(&p.user);
                assert!(real <= budget, "budget {budget}, n {n}: {real}");
                assert_eq!(p.tokens, real);
                assert_eq!(p.stats.shown + p.stats.omitted, n);
                if p.stats.omitted > 0 {
                    assert!(p.user.contains("more evidence items omitted"));
                }
                assert!(!p.user.contains("</telemetry> "), "escaped");
                assert_eq!(p.user.matches("</telemetry>").count(), 1);
            }
        }
    }

    #[test]
    fn tiny_budget_is_a_clear_error() {
        let r = PromptRenderer::new(None).unwrap();
        let err = pack_evidence(&r, &req(), &items(3, EvidenceKind::Alb, 10), 100).unwrap_err();
        assert!(err.to_string().contains("raise --budget-tokens"));
    }

    #[test]
    fn every_family_gets_its_best_item() {
        let r = PromptRenderer::new(None).unwrap();
        let mut ev = items(400, EvidenceKind::LogTemplate, 300);
        let mut change = Evidence::new(
            EvidenceKind::AuditChange,
            "files:ct",
            "UpdateTable on orders",
        );
        change.id = "E401".into();
        change.score = 0.06;
        ev.push(change);
        let p = pack_evidence(&r, &req(), &ev, 3000).unwrap();
        assert!(p.user.contains("UpdateTable on orders"));
        assert!(p.stats.omitted > 0);
    }

    #[test]
    fn huge_description_is_truncated_not_fatal() {
        let r = PromptRenderer::new(None).unwrap();
        let mut q = req();
        q.description = "help ".repeat(20_000);
        let p = pack_evidence(&r, &q, &items(5, EvidenceKind::Alb, 50), 4000).unwrap();
        assert!(p.stats.description_truncated);
        assert!(p.tokens <= 4000);
    }
}
