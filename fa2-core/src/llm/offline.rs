//! The offline analyzer: a deterministic `LlmBackend` that turns the top evidence into ranked
//! hypotheses, a timeline and next steps without any network. It is the default when no LLM
//! is configured and the fallback when the LLM fails.
//!
//! Rules: a change linked to an anomaly on a resource it names is the top hypothesis (high
//! confidence), or one linked to errors that began within 5 minutes of it (medium); only
//! errors and precursors (metric shifts and trends, silences) count as its effects, never a
//! new WARN/INFO chatter. Otherwise the strongest anomaly is (the distiller ranks a
//! saturation or a silence that preceded the errors above them, and the faulting downstream
//! X-Ray names or the first service to fail above their callers' errors: such a lead is
//! named by the dependency and its effects are cited with the time order), with its corroborating links
//! (medium when two or more sources agree, else low). Next steps come from what the cited evidence says
//! (throttling, permissions, timeouts, exhaustion, deploys), never from a guess.

use super::{Analysis, Confidence, Hypothesis, LlmBackend, LlmRequest, LlmResponse, TimelineEntry};
use crate::error::LlmError;
use crate::evidence::{Evidence, EvidenceKind};
use crate::request::Language;
use async_trait::async_trait;
use std::collections::BTreeSet;

/// Hypotheses produced at most.
const MAX_HYPOTHESES: usize = 3;

/// The deterministic analyzer.
#[derive(Debug, Clone, Default)]
pub struct OfflineAnalyzer;

#[async_trait]
impl LlmBackend for OfflineAnalyzer {
    fn name(&self) -> &str {
        "offline"
    }

    fn model(&self) -> &str {
        "fa2-offline-rules"
    }

    fn context_window(&self) -> usize {
        usize::MAX
    }

    async fn complete(&self, req: LlmRequest) -> Result<LlmResponse, LlmError> {
        Ok(LlmResponse {
            analysis: analyze(&req.evidence, req.language),
            model: self.model().to_string(),
            truncated: false,
        })
    }

    async fn stream(
        &self,
        req: LlmRequest,
        on_delta: &mut (dyn for<'d> FnMut(&'d str) + Send),
    ) -> Result<LlmResponse, LlmError> {
        let resp = self.complete(req).await?;
        let text = resp.analysis.summary.clone();
        on_delta(&text);
        Ok(resp)
    }
}

fn t(lang: Language, en: &str, ja: &str) -> String {
    match lang {
        Language::En => en.to_string(),
        Language::Ja => ja.to_string(),
    }
}

fn hhmmss(e: &Evidence) -> String {
    e.onset
        .or(e.first_seen)
        .map(|t| t.format("%H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "?".into())
}

/// The distinctive name of what an item shows: an exception or error class when it names
/// one, else its title without the level/group prefix.
pub fn short_name(e: &Evidence) -> String {
    let texts = std::iter::once(e.title.as_str()).chain(e.samples.iter().map(String::as_str));
    for text in texts {
        if let Some(name) = error_name(text) {
            return name.to_string();
        }
    }
    let text = &e.title;
    let body = match e.kind {
        EvidenceKind::LogTemplate => text.split_once("] ").map_or(text.as_str(), |(_, b)| b),
        _ => text.as_str(),
    };
    crate::distill::clip(body, 90)
}

/// Suffixes of error names, most telling first: a specific exception or denial says more
/// than a wrapper such as `ClientError`.
const ERROR_SUFFIXES: [&str; 6] = [
    "Exception",
    "Denied",
    "Exceeded",
    "Timeout",
    "Error",
    "Fault",
];

/// The most telling CamelCase error name in `text` (not a `key=` of a key/value pair).
fn error_name(text: &str) -> Option<&str> {
    let mut best: Option<(usize, &str)> = None;
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        if c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.' {
            continue;
        }
        let word = &text[start..i];
        start = i + c.len_utf8();
        let w = word.rsplit('.').next().unwrap_or(word);
        if w.len() < 8
            || !w.starts_with(|ch: char| ch.is_ascii_uppercase())
            || bytes.get(i) == Some(&b'=')
        {
            continue;
        }
        if let Some(rank) = ERROR_SUFFIXES.iter().position(|s| w.ends_with(s))
            && best.is_none_or(|(r, _)| rank < r)
        {
            best = Some((rank, w));
        }
    }
    best.map(|(_, w)| w)
}

fn is_effect(e: &Evidence) -> bool {
    !matches!(
        e.kind,
        EvidenceKind::AuditChange | EvidenceKind::AuditSummary
    )
}

fn find<'a>(items: &'a [Evidence], id: &str) -> Option<&'a Evidence> {
    items.iter().find(|e| e.id == id)
}

/// How a change relates to the anomalies it is linked with.
#[derive(Clone, Copy, PartialEq)]
enum ChangeLink {
    /// The anomalies name the changed resource.
    SameResource,
    /// Only the timing: the first anomaly began within [`CLOSE_MINUTES`] of the change.
    Close,
    /// A looser coincidence in time.
    Loose,
}

/// Anomalies that begin this soon after a change make it a suspect on timing alone.
const CLOSE_MINUTES: i64 = 5;

/// Whether a linked item can show a change's harm: an error-class anomaly or a precursor (a
/// metric shift or trend, a silence). A new WARN or INFO chatter right after a change (a flag
/// rollout logging its decisions) does not make the change a cause.
fn shows_harm(e: &Evidence) -> bool {
    is_effect(e) && (crate::distill::is_error_anomaly(e) || crate::distill::is_precursor(e))
}

fn change_link(items: &[Evidence], c: &Evidence) -> Option<ChangeLink> {
    let effects: Vec<&Evidence> = c
        .links
        .iter()
        .filter_map(|l| find(items, l))
        .filter(|e| shows_harm(e))
        .collect();
    let first = effects.iter().filter_map(|e| e.onset).min()?;
    if c.link_reasons
        .iter()
        .any(|r| r.contains("resource it names"))
    {
        return Some(ChangeLink::SameResource);
    }
    match c.onset {
        Some(t) if (first - t).num_minutes() < CLOSE_MINUTES => Some(ChangeLink::Close),
        _ => Some(ChangeLink::Loose),
    }
}

/// The hypothesis that change `c` caused the anomalies it is linked with.
fn change_hypothesis(
    items: &[Evidence],
    c: &Evidence,
    link: ChangeLink,
    lang: Language,
) -> Option<Hypothesis> {
    let effects: Vec<&Evidence> = c
        .links
        .iter()
        .filter_map(|l| find(items, l))
        .filter(|e| shows_harm(e))
        .collect();
    if let Some(first) = effects.iter().copied().min_by_key(|e| e.onset) {
        let lead = effects
            .iter()
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .copied()
            .unwrap_or(first);
        let delta = match (c.onset, first.onset) {
            (Some(a), Some(b)) => crate::distill::human_delta(a, b),
            _ => "?".into(),
        };
        let change = c
            .title
            .split(" from ")
            .next()
            .unwrap_or(&c.title)
            .to_string();
        let mut ids = vec![c.id.clone()];
        ids.extend(effects.iter().take(4).map(|e| e.id.clone()));
        let title = match lang {
            Language::En => format!(
                "{change} at {}, {delta} before {} began",
                hhmmss(c),
                short_name(lead)
            ),
            Language::Ja => format!(
                "{} の変更 ({change}) の {delta} 後に {} が発生し始めた",
                hhmmss(c),
                short_name(lead)
            ),
        };
        let others: Vec<String> = effects
            .iter()
            .take(4)
            .map(|e| format!("[{}]", e.id))
            .collect();
        let explanation = match (lang, link) {
            (Language::En, ChangeLink::SameResource) => format!(
                "The change [{}] happened {delta} before the first anomaly and touches a resource those errors name; the anomalies that followed are {}. The timing and the shared resource make it the most likely cause.",
                c.id,
                others.join(" ")
            ),
            (Language::En, ChangeLink::Close) => format!(
                "The change [{}] happened {delta} before the first anomaly; the anomalies that followed are {}. The timing suggests it, but no shared resource confirms it: verify the change.",
                c.id,
                others.join(" ")
            ),
            (Language::En, ChangeLink::Loose) => format!(
                "The change [{}] happened {delta} before the anomalies {}, and they do not name its resource: it may be a coincidence. Rule it out before acting on it.",
                c.id,
                others.join(" ")
            ),
            (Language::Ja, ChangeLink::SameResource) => format!(
                "変更 [{}] は最初の異常の {delta} 前に行われ、エラーが示すリソースと同じリソースに対する変更です。その後に続いた異常は {} です。発生時刻とリソースの一致から、最も可能性の高い原因です。",
                c.id,
                others.join(" ")
            ),
            (Language::Ja, ChangeLink::Close) => format!(
                "変更 [{}] は最初の異常の {delta} 前に行われました。その後に続いた異常は {} です。時刻は一致しますが、リソースの一致は確認できません。変更内容を確認してください。",
                c.id,
                others.join(" ")
            ),
            (Language::Ja, ChangeLink::Loose) => format!(
                "変更 [{}] は異常 {} の {delta} 前に行われましたが、異常はそのリソースを示していません。偶然の可能性があります。対応の前に関係の有無を確認してください。",
                c.id,
                others.join(" ")
            ),
        };
        return Some(Hypothesis {
            title,
            confidence: match link {
                ChangeLink::SameResource => Confidence::High,
                ChangeLink::Close => Confidence::Medium,
                ChangeLink::Loose => Confidence::Low,
            },
            evidence: ids,
            explanation,
        });
    }
    None
}

/// Builds the analysis from ranked evidence.
pub fn analyze(items: &[Evidence], lang: Language) -> Analysis {
    let mut hyps: Vec<Hypothesis> = Vec::new();
    let mut used: BTreeSet<String> = BTreeSet::new();

    // 1. a change linked to anomalies
    let top_change = items.iter().find(|e| {
        e.kind == EvidenceKind::AuditChange
            && e.links
                .iter()
                .any(|l| find(items, l).is_some_and(shows_harm))
    });
    // A change leads only when the anomalies name its resource or began right after it;
    // a looser coincidence is kept as a low-confidence lead after the anomalies.
    let mut deferred = None;
    if let Some(c) = top_change
        && let Some(link) = change_link(items, c)
    {
        if link == ChangeLink::Loose {
            deferred = Some(c);
        } else if let Some(h) = change_hypothesis(items, c, link, lang) {
            used.extend(h.evidence.iter().cloned());
            hyps.push(h);
        }
    }

    // 2. the strongest anomalies not yet explained
    for e in items.iter().filter(|e| is_effect(e) && e.score >= 0.2) {
        if hyps.len() >= MAX_HYPOTHESES {
            break;
        }
        if used.contains(&e.id) {
            continue;
        }
        // Request-level symptoms (ALB 5xx, latency) are explained by the error that the same
        // service logs: that error leads the hypothesis, the symptom corroborates it.
        let e = if matches!(e.kind, EvidenceKind::Alb | EvidenceKind::AlbLatency) {
            e.links
                .iter()
                .filter_map(|l| find(items, l))
                .filter(|x| {
                    matches!(x.kind, EvidenceKind::LogTemplate | EvidenceKind::TraceFault)
                        && crate::distill::is_error_anomaly(x)
                        && !used.contains(&x.id)
                })
                .max_by(|a, b| a.score.total_cmp(&b.score))
                .unwrap_or(e)
        } else {
            e
        };
        let corroborating: Vec<&Evidence> = e
            .links
            .iter()
            .filter_map(|l| find(items, l))
            .filter(|x| x.kind.family() != e.kind.family())
            .collect();
        let families: BTreeSet<&str> = corroborating.iter().map(|x| x.kind.family()).collect();
        let mut ids = vec![e.id.clone()];
        ids.extend(
            e.links
                .iter()
                .filter(|l| find(items, l).is_some())
                .take(4)
                .cloned(),
        );
        let silence = e.signal.z < 0.0;
        let saturation = e.kind == EvidenceKind::MetricShift
            && e.detail
                .as_deref()
                .is_some_and(|d| d.starts_with("saturation metric"));
        let novelty = if e.signal.new {
            t(lang, "new", "新規")
        } else if silence {
            t(lang, "stopped", "停止")
        } else if saturation {
            t(lang, "saturating", "飽和")
        } else {
            t(lang, "increased", "増加")
        };
        // a silence is named by what went quiet (the group), not by its last message
        let name = if silence {
            crate::distill::clip(&e.title, 90)
        } else if let Some(d) = crate::distill::downstream_of(e) {
            // the dependency is what the hypothesis blames, the exception how it shows
            let what = e
                .title
                .split("root cause: ")
                .nth(1)
                .and_then(|r| r.split(" at ").next())
                .unwrap_or("");
            if what.is_empty() {
                d.to_string()
            } else {
                format!("{what} at {d}")
            }
        } else {
            short_name(e)
        };
        let title = match lang {
            Language::En => format!("{name} ({novelty}, since {})", hhmmss(e)),
            Language::Ja => format!("{name} ({novelty}、{} から)", hhmmss(e)),
        };
        // the errors that followed this signal, for the time order
        let followers: Vec<String> = e
            .links
            .iter()
            .zip(&e.link_reasons)
            .filter(|(_, r)| r.contains("errors followed it"))
            .map(|(l, _)| format!("[{l}]"))
            .collect();
        let order = match (lang, followers.is_empty()) {
            (_, true) => String::new(),
            (Language::En, false) => format!(
                " It began before the errors {}, which followed it: it is their likely origin, they are its effects.",
                followers.join(" ")
            ),
            (Language::Ja, false) => format!(
                " これはエラー {} より前に始まり、エラーはその後に続きました。エラーの原因である可能性が高く、エラーはその影響です。",
                followers.join(" ")
            ),
        };
        let cites: Vec<String> = ids.iter().map(|i| format!("[{i}]")).collect();
        let explanation = match lang {
            Language::En => format!(
                "{} occurrences in the incident window against {} in the baseline {}.{order} {}",
                e.count,
                e.baseline_count,
                cites.join(""),
                if families.is_empty() {
                    "No other source corroborates it; treat it as a lead, not a conclusion."
                        .to_string()
                } else {
                    format!(
                        "Corroborated by {} ({}).",
                        families.iter().copied().collect::<Vec<_>>().join(", "),
                        corroborating
                            .iter()
                            .map(|x| x.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ),
            Language::Ja => format!(
                "インシデント期間に {} 件 (ベースラインでは {} 件) {}。{order}{}",
                e.count,
                e.baseline_count,
                cites.join(""),
                if families.is_empty() {
                    "他のソースによる裏付けはありません。結論ではなく手がかりとして扱ってください。"
                        .to_string()
                } else {
                    format!(
                        "{} ({}) が裏付けています。",
                        families.iter().copied().collect::<Vec<_>>().join("、"),
                        corroborating
                            .iter()
                            .map(|x| x.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ),
        };
        // corroboration by another source makes the leading anomaly a medium-confidence cause
        let confidence = if hyps.is_empty() && !families.is_empty() && e.score >= 0.6 {
            Confidence::Medium
        } else {
            Confidence::Low
        };
        used.extend(ids.iter().cloned());
        hyps.push(Hypothesis {
            title,
            confidence,
            evidence: ids,
            explanation,
        });
    }

    if let Some(c) = deferred
        && hyps.len() < MAX_HYPOTHESES
        && let Some(h) = change_hypothesis(items, c, ChangeLink::Loose, lang)
    {
        hyps.push(h);
    }

    let insufficient = items.first().is_none_or(|e| e.score < 0.3);
    let summary = summary(items, &hyps, lang, insufficient);
    Analysis {
        impact: impact(items, lang),
        timeline: timeline(items, lang),
        actions: actions(items, &hyps, lang),
        prevention: prevention(items, &hyps, lang),
        summary,
        hypotheses: hyps,
    }
}

fn summary(items: &[Evidence], hyps: &[Hypothesis], lang: Language, insufficient: bool) -> String {
    if items.is_empty() {
        return t(
            lang,
            "No telemetry matched the incident window, so there is no evidence to analyze. Check the window and the sources.",
            "インシデント期間に該当するテレメトリがなく、分析できる証拠がありません。期間とデータソースを確認してください。",
        );
    }
    let top = &hyps.first();
    let mut s = match (lang, top) {
        (Language::En, Some(h)) => format!(
            "Most likely cause ({} confidence): {} {}.",
            h.confidence.as_str(),
            h.title,
            h.evidence
                .iter()
                .map(|i| format!("[{i}]"))
                .collect::<String>()
        ),
        (Language::Ja, Some(h)) => format!(
            "最も可能性の高い原因 (確度: {}): {} {}。",
            match h.confidence {
                Confidence::High => "高",
                Confidence::Medium => "中",
                Confidence::Low => "低",
            },
            h.title,
            h.evidence
                .iter()
                .map(|i| format!("[{i}]"))
                .collect::<String>()
        ),
        (_, None) => String::new(),
    };
    if insufficient {
        s.push(' ');
        s.push_str(&t(
            lang,
            "The evidence is weak: no strong anomaly stands out against the baseline, so this is a lead to verify, not a conclusion.",
            "ベースラインと比べて際立った異常がなく、証拠は不十分です。結論ではなく確認すべき手がかりです。",
        ));
    }
    s
}

fn impact(items: &[Evidence], lang: Language) -> String {
    let mut parts = Vec::new();
    for e in items.iter().filter(|e| e.signal.anomaly >= 0.3).take(12) {
        match e.kind {
            EvidenceKind::Alb if e.title.contains("5xx") || e.title.contains("-1") => {
                parts.push(format!("{} [{}]", e.title, e.id))
            }
            EvidenceKind::TraceFault if e.title.contains("fault") => {
                parts.push(format!("{} [{}]", e.title, e.id))
            }
            EvidenceKind::AlbLatency | EvidenceKind::TraceLatency => {
                parts.push(format!("{} [{}]", e.title, e.id))
            }
            _ => {}
        }
        if parts.len() >= 3 {
            break;
        }
    }
    if parts.is_empty() {
        let errors: u64 = items
            .iter()
            .filter(|e| {
                e.kind == EvidenceKind::LogTemplate
                    && e.signal.severity >= 0.75
                    && e.signal.anomaly >= 0.3
            })
            .map(|e| e.count)
            .sum();
        return match lang {
            Language::En => format!(
                "{errors} anomalous error log lines in the incident window; no request-level impact data (ALB or X-Ray) shows an effect."
            ),
            Language::Ja => format!(
                "インシデント期間に異常なエラーログが {errors} 行あります。ALB や X-Ray のリクエスト単位の影響データでは影響が確認できません。"
            ),
        };
    }
    parts.join("; ")
}

fn timeline(items: &[Evidence], lang: Language) -> Vec<TimelineEntry> {
    let mut entries: Vec<TimelineEntry> = items
        .iter()
        .filter(|e| e.score >= 0.3 && e.kind != EvidenceKind::AuditSummary)
        .take(10)
        .filter_map(|e| {
            let time = e.onset.or(e.first_seen)?;
            let event = match (lang, e.kind) {
                (Language::En, EvidenceKind::AuditChange) => format!("Change: {}", e.title),
                (Language::Ja, EvidenceKind::AuditChange) => format!("変更: {}", e.title),
                (Language::En, _) => format!("Began: {}", e.title),
                (Language::Ja, _) => format!("開始: {}", e.title),
            };
            Some(TimelineEntry {
                time: Some(time),
                event,
                evidence: vec![e.id.clone()],
            })
        })
        .collect();
    entries.sort_by_key(|e| e.time);
    entries
}

/// Failure categories recognised in evidence text, with their next steps.
struct Category {
    words: &'static [&'static str],
    action_en: &'static str,
    action_ja: &'static str,
    prevention_en: &'static str,
    prevention_ja: &'static str,
}

const CATEGORIES: &[Category] = &[
    Category {
        words: &[
            "throttl",
            "provisionedthroughput",
            "rate exceeded",
            "toomanyrequests",
            "slowdown",
            "limitexceeded",
        ],
        action_en: "Check the capacity and limits of the throttled resource (provisioned throughput, concurrency, API quotas) and restore or raise them.",
        action_ja: "スロットリングされたリソースの容量と上限 (プロビジョニング済みスループット、同時実行数、API クォータ) を確認し、元に戻すか引き上げてください。",
        prevention_en: "Alarm on throttling metrics and guard capacity settings with change review or auto scaling / on-demand capacity.",
        prevention_ja: "スロットリングのメトリクスにアラームを設定し、容量設定は変更レビューまたは Auto Scaling / オンデマンドで保護してください。",
    },
    Category {
        words: &[
            "accessdenied",
            "not authorized",
            "unauthorized",
            "forbidden",
            "permission",
        ],
        action_en: "Compare the IAM policies of the failing role with their previous version (IAM policy versions, CloudTrail) and restore the missing permission.",
        action_ja: "失敗しているロールの IAM ポリシーを以前のバージョン (IAM ポリシーのバージョン、CloudTrail) と比較し、失われた権限を戻してください。",
        prevention_en: "Manage IAM through infrastructure as code with review, and test permission changes in a staging account first.",
        prevention_ja: "IAM はレビュー付きの IaC で管理し、権限変更はまずステージング環境でテストしてください。",
    },
    Category {
        words: &[
            "timeout",
            "timed out",
            "deadline exceeded",
            "connection refused",
            "unreachable",
            "-1)",
            "connect",
        ],
        action_en: "Check the network path and the dependency: security groups, NACLs and routes changed recently, and the dependency's health and latency.",
        action_ja: "ネットワーク経路と依存先を確認してください: 最近変更されたセキュリティグループ、NACL、ルート、依存先の正常性とレイテンシ。",
        prevention_en: "Set timeouts with retries and circuit breakers for dependencies, and alarm on their latency.",
        prevention_ja: "依存先にはタイムアウト、リトライ、サーキットブレーカーを設定し、レイテンシにアラームを設定してください。",
    },
    Category {
        words: &[
            "out of memory",
            "oom",
            "no space left",
            "killed",
            "too many open files",
            "pool exhausted",
            "connection is not available",
        ],
        action_en: "Check resource exhaustion on the affected hosts or functions (memory, disk, connection pools, file descriptors) and add headroom.",
        action_ja: "影響を受けたホストや関数のリソース枯渇 (メモリ、ディスク、コネクションプール、ファイルディスクリプタ) を確認し、余裕を持たせてください。",
        prevention_en: "Alarm on utilisation before exhaustion (memory, disk, pool usage) and load-test with production-like data.",
        prevention_ja: "枯渇する前の使用率 (メモリ、ディスク、プール) にアラームを設定し、本番相当のデータで負荷試験を行ってください。",
    },
    Category {
        words: &[
            "updateservice",
            "updatefunctioncode",
            "deploy",
            "nullpointer",
            "typeerror",
            "createdeployment",
            "registertaskdefinition",
        ],
        action_en: "If a deployment preceded the errors, roll it back and compare the new version's changes.",
        action_ja: "エラーの前にデプロイがあれば、ロールバックして新しいバージョンの変更点を比較してください。",
        prevention_en: "Use canary or blue/green deployments with automatic rollback on error alarms.",
        prevention_ja: "エラーアラームで自動ロールバックするカナリアまたはブルー/グリーンデプロイを使ってください。",
    },
    Category {
        words: &[
            "password authentication failed",
            "putsecretvalue",
            "rotatesecret",
            "putparameter",
            "invalid credentials",
        ],
        action_en: "Check configuration and secrets changed before the errors (Secrets Manager, SSM parameters) and make the clients use the current values.",
        action_ja: "エラー前に変更された設定やシークレット (Secrets Manager、SSM パラメータ) を確認し、クライアントが現在の値を使うようにしてください。",
        prevention_en: "Rotate secrets with a tested rotation function that keeps the previous version valid until clients reload.",
        prevention_ja: "クライアントが再読み込みするまで旧バージョンを有効に保つ、テスト済みのローテーション関数でシークレットをローテーションしてください。",
    },
];

fn cited_text(items: &[Evidence], hyps: &[Hypothesis]) -> String {
    let mut text = String::new();
    for h in hyps.iter().take(1) {
        for id in &h.evidence {
            if let Some(e) = find(items, id) {
                text.push_str(&e.title.to_ascii_lowercase());
                text.push('\n');
                for s in e.samples.iter().take(1) {
                    text.push_str(&s.to_ascii_lowercase());
                    text.push('\n');
                }
            }
        }
    }
    text
}

fn actions(items: &[Evidence], hyps: &[Hypothesis], lang: Language) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(c) = hyps
        .first()
        .and_then(|h| h.evidence.first())
        .and_then(|id| find(items, id))
        .filter(|e| e.kind == EvidenceKind::AuditChange)
    {
        out.push(match lang {
            Language::En => format!(
                "Review the change [{}] and revert it if it was not intended: {}",
                c.id, c.reproduce
            ),
            Language::Ja => format!(
                "変更 [{}] を確認し、意図したものでなければ元に戻してください: {}",
                c.id, c.reproduce
            ),
        });
    }
    let text = cited_text(items, hyps);
    for c in CATEGORIES {
        if c.words.iter().any(|w| text.contains(w)) {
            out.push(t(lang, c.action_en, c.action_ja));
        }
    }
    let ids: Vec<String> = items.iter().take(3).map(|e| e.id.clone()).collect();
    if !ids.is_empty() {
        out.push(match lang {
            Language::En => format!(
                "Confirm with the reproduce commands of {} before acting.",
                ids.join(", ")
            ),
            Language::Ja => format!(
                "対応の前に {} の再現コマンドで確認してください。",
                ids.join("、")
            ),
        });
    }
    out.push(t(
        lang,
        "If the evidence is not conclusive, widen the window (for example --since 2h) or add sources (X-Ray, CloudTrail, metrics).",
        "証拠が決定的でない場合は、期間を広げる (例: --since 2h) か、データソース (X-Ray、CloudTrail、メトリクス) を追加してください。",
    ));
    out
}

fn prevention(items: &[Evidence], hyps: &[Hypothesis], lang: Language) -> Vec<String> {
    let text = cited_text(items, hyps);
    let mut out: Vec<String> = CATEGORIES
        .iter()
        .filter(|c| c.words.iter().any(|w| text.contains(w)))
        .map(|c| t(lang, c.prevention_en, c.prevention_ja))
        .collect();
    if hyps
        .first()
        .and_then(|h| h.evidence.first())
        .and_then(|id| find(items, id))
        .is_some_and(|e| e.kind == EvidenceKind::AuditChange)
    {
        out.push(t(
            lang,
            "Route production changes through review and infrastructure as code, and alert on manual console changes (EventBridge rule on CloudTrail).",
            "本番環境の変更はレビューと IaC を通し、コンソールからの手動変更には通知を設定してください (CloudTrail の EventBridge ルール)。",
        ));
    }
    if out.is_empty() {
        out.push(t(
            lang,
            "Add an alarm on the first signal seen here so the next occurrence is caught earlier.",
            "今回最初に現れたシグナルにアラームを設定し、次回はより早く検知できるようにしてください。",
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use crate::evidence::test_item as item;

    #[test]
    fn linked_change_becomes_the_top_hypothesis() {
        let mut err = item(
            "E1",
            EvidenceKind::LogTemplate,
            "ERROR [orders] ProvisionedThroughputExceededException: Rate exceeded",
            0.95,
            "2024-08-16T11:21:59Z",
        );
        let mut change = item(
            "E2",
            EvidenceKind::AuditChange,
            "UpdateTable on orders by ops-alice from 203.0.113.67 at 11:19:29Z",
            0.94,
            "2024-08-16T11:19:29Z",
        );
        err.link(
            "E2",
            "change 2m 30s before this began, on a resource it names",
        );
        change.link(
            "E1",
            "change 2m 30s before this began, on a resource it names",
        );
        let chronic = item(
            "E3",
            EvidenceKind::LogTemplate,
            "ERROR [checkout] Failed to refresh feature flags",
            0.1,
            "2024-08-16T11:19:00Z",
        );
        let a = analyze(&[err, change, chronic], Language::En);
        let h = &a.hypotheses[0];
        assert_eq!(h.confidence, Confidence::High);
        assert_eq!(h.evidence[..2], ["E2".to_string(), "E1".to_string()]);
        assert!(h.title.starts_with("UpdateTable on orders by ops-alice at 11:19:29 UTC, 2m 30s before ProvisionedThroughputExceededException began"), "{}", h.title);
        assert!(a.actions.iter().any(|x| x.contains("capacity")));
        assert!(a.summary.contains("[E2]"));
        assert!(a.timeline.first().unwrap().event.starts_with("Change"));
        let ja = analyze(
            &[a.hypotheses.len()]
                .iter()
                .map(|_| {
                    item(
                        "E1",
                        EvidenceKind::LogTemplate,
                        "ERROR [x] TimeoutError: boom",
                        0.9,
                        "2024-08-16T11:21:59Z",
                    )
                })
                .collect::<Vec<_>>(),
            Language::Ja,
        );
        assert!(ja.summary.starts_with("最も可能性の高い原因"));
    }

    #[test]
    fn chatter_after_a_change_does_not_make_it_the_cause() {
        // a flag rollout at 06:30:10, its WARN chatter at 06:30:48, unrelated errors at 06:38
        let mut change = item(
            "E1",
            EvidenceKind::AuditChange,
            "StartDeployment by appconfig-deployer (deploy change) from 198.51.100.52 at 06:30:10Z",
            0.74,
            "2025-04-14T06:30:10Z",
        );
        let mut chatter = item(
            "E3",
            EvidenceKind::LogTemplate,
            "WARN [checkout] flag evaluated without targeting context",
            0.53,
            "2025-04-14T06:30:48Z",
        );
        chatter.signal.severity = 0.6;
        let mut alb = item(
            "E2",
            EvidenceKind::Alb,
            "ALB payments-tg: 12 HTTP 5xx",
            0.7,
            "2025-04-14T06:38:20Z",
        );
        alb.signal.severity = 0.8;
        let mut err = item(
            "E4",
            EvidenceKind::LogTemplate,
            "ERROR [payments] charge failed: SSLHandshakeException: PKIX path building failed",
            0.66,
            "2025-04-14T06:38:21Z",
        );
        change.link("E3", "change 38s before this began");
        chatter.link("E1", "change 38s before this began");
        change.link("E4", "change 8m 11s before this began");
        err.link("E1", "change 8m 11s before this began");
        alb.link("E4", "both name payments");
        err.link("E2", "both name payments");
        let a = analyze(&[change, alb, chatter, err], Language::En);
        let h = &a.hypotheses[0];
        // the change is only loosely linked to errors: the errors lead, the symptom follows
        assert_eq!(h.evidence[..2], ["E4".to_string(), "E1".to_string()]);
        assert!(
            h.title
                .starts_with("SSLHandshakeException (new, since 06:38:21 UTC)"),
            "{}",
            h.title
        );
        assert!(h.evidence.contains(&"E2".to_string()));
    }

    #[test]
    fn a_saturation_that_preceded_the_errors_leads_with_the_time_order() {
        let mut cpu = item(
            "E1",
            EvidenceKind::MetricShift,
            "Metric CPUUtilization (shop-db): median 97 in the incident vs 32 in the baseline (up, changed at 19:50:00Z)",
            0.93,
            "2025-04-12T19:50:00Z",
        );
        cpu.signal.new = false;
        cpu.detail = Some("saturation metric; shift +40.0 robust standard deviations".into());
        let mut err = item(
            "E2",
            EvidenceKind::LogTemplate,
            "ERROR [orders-api] query failed: canceling statement due to statement timeout",
            0.92,
            "2025-04-12T19:52:31Z",
        );
        cpu.link("E2", "began 2m 31s before this, and the errors followed it");
        err.link("E1", "began 2m 31s before this, and the errors followed it");
        let a = analyze(&[cpu, err], Language::En);
        let h = &a.hypotheses[0];
        assert_eq!(h.evidence, ["E1".to_string(), "E2".to_string()]);
        assert!(
            h.title.contains("(saturating, since 19:50:00 UTC)"),
            "{}",
            h.title
        );
        assert!(
            h.explanation
                .contains("It began before the errors [E2], which followed it"),
            "{}",
            h.explanation
        );
    }

    #[test]
    fn the_faulting_downstream_leads_named_by_the_dependency() {
        let mut down = item(
            "E1",
            EvidenceKind::TraceFault,
            "X-Ray fault root cause: java.net.SocketTimeoutException at ledger-service: 25 traces vs 0 in the baseline",
            0.95,
            "2025-04-15T13:26:13Z",
        );
        down.detail = Some("faulting downstream ledger-service; 25 vs 0".into());
        let mut err = item(
            "E2",
            EvidenceKind::LogTemplate,
            "ERROR [billing-api] request <*> failed: java.net.SocketTimeoutException: Read timed out",
            0.9,
            "2025-04-15T13:27:16Z",
        );
        let why = "the faulting downstream X-Ray names; the callers' errors followed it";
        down.link("E2", why);
        err.link("E1", why);
        let a = analyze(&[down, err], Language::En);
        let h = &a.hypotheses[0];
        assert_eq!(h.evidence, ["E1".to_string(), "E2".to_string()]);
        assert_eq!(
            h.title,
            "java.net.SocketTimeoutException at ledger-service (new, since 13:26:13 UTC)"
        );
        assert!(
            h.explanation
                .contains("It began before the errors [E2], which followed it"),
            "{}",
            h.explanation
        );
    }

    #[test]
    fn error_names_prefer_the_specific_one() {
        assert_eq!(
            error_name(
                "export failed: FunctionError=Unhandled (ClientError: AccessDenied on s3:PutObject)"
            ),
            Some("AccessDenied")
        );
        assert_eq!(
            error_name("java.net.SocketTimeoutException: Connect timed out"),
            Some("SocketTimeoutException")
        );
        assert_eq!(
            error_name("Invoke Error {\"errorType\":\"ProvisionedThroughputExceededException\"}"),
            Some("ProvisionedThroughputExceededException")
        );
        assert_eq!(error_name("all good here"), None);
        assert_eq!(error_name("日本語 TypeError: x"), Some("TypeError"));
    }

    #[test]
    fn weak_evidence_says_so() {
        let mut e = item(
            "E1",
            EvidenceKind::LogTemplate,
            "INFO [x] hello",
            0.1,
            "2024-08-16T11:21:59Z",
        );
        e.signal.anomaly = 0.0;
        let a = analyze(&[e], Language::En);
        assert!(a.summary.contains("weak"), "{}", a.summary);
        let a = analyze(&[], Language::En);
        assert!(a.hypotheses.is_empty());
        assert!(a.summary.contains("No telemetry"));
    }
}
