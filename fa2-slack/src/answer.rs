//! The answer in the thread: a report as Block Kit (summary, top hypotheses with the evidence
//! they cite, each evidence item's reproduce query, next steps, what was unavailable), split
//! cleanly into messages that respect Slack's limits (3,000 characters per section text, 50
//! blocks per message), and the buttons under it (re-run with a window twice as wide,
//! helpful / not helpful).

use crate::mrkdwn::{clip, code, escape, split};
use crate::texts::Texts;
use fa2_core::evidence::Evidence;
use fa2_core::report::Report;
use fa2_core::telemetry::SourceState;
use slack_morphism::prelude::*;

/// Characters in one section's text at most (Slack's limit).
pub const MAX_SECTION_CHARS: usize = 3000;
/// Blocks in one message at most (Slack's limit).
pub const MAX_BLOCKS: usize = 50;
/// Hypotheses shown in Slack (the file has all of them).
pub const SHOWN_HYPOTHESES: usize = 3;
/// Evidence items shown in Slack.
pub const SHOWN_EVIDENCE: usize = 8;

pub const ACTION_RERUN: &str = "fa2_rerun";
pub const ACTION_HELPFUL: &str = "fa2_helpful";
pub const ACTION_NOT_HELPFUL: &str = "fa2_not_helpful";

/// Section blocks holding `text`, split at line boundaries under the section limit.
pub fn sections(text: &str) -> Vec<SlackBlock> {
    split(text, MAX_SECTION_CHARS)
        .into_iter()
        .map(|piece| {
            SlackSectionBlock::new()
                .with_text(SlackBlockText::MarkDown(piece.into()))
                .into()
        })
        .collect()
}

fn header(text: String) -> SlackBlock {
    SlackHeaderBlock::new(SlackBlockPlainTextOnly::from(clip(&text, 150))).into()
}

/// The evidence worth showing: what the top hypotheses cite, then the best of the rest.
fn shown_evidence(report: &Report) -> Vec<&Evidence> {
    let mut ids: Vec<&str> = Vec::new();
    for h in report.hypotheses.iter().take(SHOWN_HYPOTHESES) {
        for id in &h.evidence {
            if !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
    }
    let mut out: Vec<&Evidence> = ids
        .iter()
        .filter_map(|id| report.evidence.iter().find(|e| e.id == *id))
        .collect();
    for e in &report.evidence {
        if out.len() >= SHOWN_EVIDENCE {
            break;
        }
        if !out.iter().any(|o| o.id == e.id) {
            out.push(e);
        }
    }
    out.truncate(SHOWN_EVIDENCE);
    out
}

/// `name (error)` of every source that failed, errors cut to `max_error` characters; not
/// escaped.
pub fn failed_sources(report: &Report, max_error: usize) -> Vec<String> {
    report
        .sources
        .iter()
        .filter(|s| s.status == SourceState::Error)
        .map(|s| {
            format!(
                "{} ({})",
                s.name,
                clip(s.error.as_deref().unwrap_or("failed"), max_error)
            )
        })
        .collect()
}

/// Problems worth a warning at the top: sources that failed, and a model failure.
pub fn warnings(report: &Report, texts: &Texts) -> Vec<String> {
    let mut out = Vec::new();
    let failed = failed_sources(report, 200);
    if !failed.is_empty() {
        out.push(texts.unavailable(&escape(&failed.join("; "))));
    }
    if let Some(e) = &report.llm.error {
        out.push(texts.llm_fallback(&escape(&clip(e, 300))));
    }
    out
}

/// The answer blocks of `report`, without buttons.
pub fn answer_blocks(report: &Report, texts: &Texts) -> Vec<SlackBlock> {
    let mut blocks = vec![header(texts.answer_header())];
    for w in warnings(report, texts) {
        blocks.extend(sections(&w));
    }
    if !report.summary.is_empty() {
        blocks.extend(sections(&format!(
            "*{}*\n{}",
            texts.summary(),
            escape(&report.summary)
        )));
    }
    if !report.impact.is_empty() {
        blocks.extend(sections(&format!(
            "*{}*\n{}",
            texts.impact(),
            escape(&report.impact)
        )));
    }
    if !report.hypotheses.is_empty() {
        let mut text = format!("*{}*\n", texts.hypotheses());
        for (i, h) in report.hypotheses.iter().take(SHOWN_HYPOTHESES).enumerate() {
            text.push_str(&format!(
                "*{}. {}* ({})\n{}\n",
                i + 1,
                escape(&h.title),
                texts.confidence(h.confidence.as_str()),
                escape(&h.explanation)
            ));
            if !h.evidence.is_empty() {
                text.push_str(&format!("→ {}\n", escape(&h.evidence.join(", "))));
            }
        }
        blocks.extend(sections(&text));
    }
    let evidence = shown_evidence(report);
    if evidence.is_empty() {
        blocks.extend(sections(&texts.no_evidence()));
    } else {
        blocks.push(SlackDividerBlock::new().into());
        blocks.extend(sections(&format!("*{}*", texts.evidence())));
        for e in evidence {
            let mut text = format!(
                "*{}* · {} · {}\n{}\n_{}_",
                escape(&e.id),
                e.kind.as_str(),
                escape(&clip(&e.source, 120)),
                escape(&clip(&e.title, 600)),
                texts.evidence_counts(e.count, e.baseline_count)
            );
            if !e.reproduce.is_empty() {
                text.push_str(&format!(
                    "\n{}:\n```{}```",
                    texts.reproduce(),
                    code(&clip(&e.reproduce, 2000))
                ));
            }
            blocks.extend(sections(&text));
        }
    }
    if !report.actions.is_empty() {
        let mut text = format!("*{}*\n", texts.actions());
        for a in report.actions.iter().take(8) {
            text.push_str(&format!("• {}\n", escape(a)));
        }
        blocks.extend(sections(&text));
    }
    blocks
}

/// The buttons under an answer.
pub fn buttons(texts: &Texts, rerun_value: &str, analysis_id: &str) -> SlackBlock {
    let button = |text: String, action: &str, value: &str| {
        SlackActionBlockElement::Button(
            SlackBlockButtonElement::new(SlackBlockPlainTextOnly::from(clip(&text, 75)))
                .with_action_id(SlackActionId(action.to_string()))
                .with_value(clip(value, 2000)),
        )
    };
    SlackActionsBlock::new(vec![
        button(texts.button_rerun(), ACTION_RERUN, rerun_value),
        button(texts.button_helpful(), ACTION_HELPFUL, analysis_id),
        button(texts.button_not_helpful(), ACTION_NOT_HELPFUL, analysis_id),
    ])
    .into()
}

/// Splits blocks into messages of at most [`MAX_BLOCKS`], never separating a section from
/// the header or divider just before it.
pub fn split_messages(blocks: Vec<SlackBlock>) -> Vec<Vec<SlackBlock>> {
    let mut out: Vec<Vec<SlackBlock>> = Vec::new();
    let mut cur: Vec<SlackBlock> = Vec::new();
    for b in blocks {
        if cur.len() >= MAX_BLOCKS {
            // carry a trailing header/divider over so it stays with what it introduces
            let carry = match cur.last() {
                Some(SlackBlock::Header(_) | SlackBlock::Divider(_)) => cur.pop(),
                _ => None,
            };
            out.push(std::mem::take(&mut cur));
            cur.extend(carry);
        }
        cur.push(b);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The notification text of an answer (shown where blocks are not).
pub fn fallback_text(report: &Report, texts: &Texts) -> String {
    let top = report
        .hypotheses
        .first()
        .map(|h| h.title.as_str())
        .unwrap_or(report.summary.as_str());
    escape(&clip(&format!("{}: {top}", texts.answer_header()), 3000))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use fa2_core::request::Language;

    #[test]
    fn split_messages_keeps_limits() {
        let blocks: Vec<SlackBlock> = (0..121)
            .map(|i| {
                if i % 10 == 9 {
                    SlackDividerBlock::new().into()
                } else {
                    sections(&format!("item {i}")).remove(0)
                }
            })
            .collect();
        let msgs = split_messages(blocks);
        assert_eq!(msgs.iter().map(Vec::len).sum::<usize>(), 121);
        assert!(msgs.iter().all(|m| m.len() <= MAX_BLOCKS));
        assert!(
            msgs.iter()
                .all(|m| !matches!(m.last(), Some(SlackBlock::Divider(_))))
        );
    }

    #[test]
    fn long_text_becomes_several_sections() {
        let text = "ログ行\n".repeat(1500);
        let s = sections(&text);
        assert!(s.len() >= 2);
        for b in s {
            let v = serde_json::to_value(&b).unwrap();
            assert!(v["text"]["text"].as_str().unwrap().chars().count() <= MAX_SECTION_CHARS);
        }
        let _ = Texts::new(Language::Ja);
    }
}
