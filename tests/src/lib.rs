//! Support for fa2's cross-crate tests: loading incident bundles with their `truth.json`
//! and running the whole offline pipeline on them.

use fa2_core::analyze::{AnalyzeOptions, Analyzed, Analyzer, no_progress};
use fa2_core::evidence::Evidence;
use fa2_core::llm::OfflineAnalyzer;
use fa2_core::prompt::PromptRenderer;
use fa2_core::redact::Redactor;
use fa2_core::request::{AnalysisRequest, Language};
use fa2_core::telemetry::files::FilesSource;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The ground truth of a bundle (the format of `shared/incidents/*/truth.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct Truth {
    pub scenario: String,
    pub counts: BTreeMap<String, u64>,
    pub start: String,
    pub end: String,
    #[serde(default)]
    pub onset: Option<String>,
    pub signatures: Vec<String>,
    pub secrets: Vec<String>,
    pub injection: String,
    #[serde(default)]
    pub chronic: Vec<String>,
    #[serde(default)]
    pub root_cause: Option<String>,
    /// The failure pattern the bundle tests (the bundles of issue 14 say).
    #[serde(default)]
    pub pattern: Option<String>,
    /// What names the cause itself (the change, the saturated dependency, the stopped
    /// consumer) rather than its effects: the top hypothesis must cite an item naming one of
    /// these first. Absent: [`Truth::signatures`] stand for it, and leading is only reported.
    #[serde(default)]
    pub cause: Vec<String>,
    /// The event name of the CloudTrail change that caused the incident (`null` or absent:
    /// no change did).
    #[serde(default)]
    pub cause_change: Option<String>,
}

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Every bundle under `dir` (a directory per bundle, each with a `truth.json`).
pub fn bundles(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("truth.json").is_file())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Reads a bundle's `truth.json`.
pub fn truth(bundle: &Path) -> Result<Truth, String> {
    let path = bundle.join("truth.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs the offline pipeline on a bundle for its truth window.
pub fn analyze_bundle(
    bundle: &Path,
    truth: &Truth,
    budget: usize,
    language: Language,
) -> Result<Analyzed, String> {
    let start = fa2_core::time::parse_timestamp(&truth.start).ok_or("bad start")?;
    let end = fa2_core::time::parse_timestamp(&truth.end).ok_or("bad end")?;
    let mut req = AnalysisRequest::new("alarm fired: errors and 5xx", start, end)
        .map_err(|e| e.to_string())?;
    req.language = language;
    let analyzer = Analyzer {
        sources: vec![Arc::new(FilesSource::new(vec![bundle.to_path_buf()]))],
        backend: Arc::new(OfflineAnalyzer),
        renderer: Arc::new(PromptRenderer::new(None).map_err(|e| e.to_string())?),
        redactor: Arc::new(Redactor::builtin()),
        options: AnalyzeOptions {
            budget_tokens: budget,
            ..AnalyzeOptions::default()
        },
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(analyzer.run(&req, no_progress()))
        .map_err(|e| e.to_string())
}

/// Whether an evidence item's title or samples mention `needle` (case-insensitive).
pub fn mentions(e: &Evidence, needle: &str) -> bool {
    let n = needle.to_ascii_lowercase();
    e.title.to_ascii_lowercase().contains(&n)
        || e.samples
            .iter()
            .any(|s| s.to_ascii_lowercase().contains(&n))
}

/// What the evaluation of one bundle found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub scenario: String,
    /// 0-based rank of the first evidence item naming the root cause.
    pub cause_rank: Option<usize>,
    pub top_hypothesis: Option<String>,
    /// Whether the top hypothesis leads with the cause: its first cited item names it.
    pub leads: bool,
    /// 0-based rank of the causing change among the evidence, when truth names one (outer
    /// `None`: no change caused the incident; inner `None`: it is not in the evidence).
    pub change_rank: Option<Option<usize>>,
    /// The pattern from the truth, or the scenario.
    pub pattern: String,
    /// The ranked evidence of the report.
    pub evidence: Vec<Evidence>,
    pub prompt_tokens: usize,
    pub failures: Vec<String>,
}

/// Runs the offline pipeline on a bundle and checks it against its `truth.json`: exact record
/// counts, the root cause in the top 3 evidence and in the top hypothesis (which must lead
/// with it when the truth names the `cause`), the causing change (if any) in the top 3
/// evidence, chronic errors
/// ranked below it, no planted secret in the prompt or the report, the planted injection not
/// verbatim in the prompt, and the prompt within `budget`.
pub fn evaluate(bundle: &Path, budget: usize) -> Result<Outcome, String> {
    let t = truth(bundle)?;
    let a = analyze_bundle(bundle, &t, budget, Language::En)?;
    let r = &a.report;
    let name = bundle.display().to_string();
    let mut failures = Vec::new();
    let totals = fa2_core::analyze::record_totals(&r.sources);
    for (k, want) in &t.counts {
        let got = totals
            .iter()
            .find(|(rt, _)| rt.as_str() == k)
            .map_or(0, |(_, v)| *v);
        if got != *want {
            failures.push(format!("{name}: {k} = {got}, truth {want}"));
        }
    }
    let rank_of = |needle: &str| r.evidence.iter().position(|e| mentions(e, needle));
    let cause_rank = t.signatures.iter().filter_map(|s| rank_of(s)).min();
    if cause_rank.is_none_or(|rk| rk >= 3) {
        failures.push(format!(
            "{name}: root cause rank {cause_rank:?}, top 3: {:?}",
            r.evidence
                .iter()
                .take(3)
                .map(|e| &e.title)
                .collect::<Vec<_>>()
        ));
    }
    let top = r.hypotheses.first();
    let in_top = top.is_some_and(|h| {
        t.signatures.iter().any(|s| h.title.contains(s.as_str()))
            || h.evidence.iter().any(|id| {
                r.evidence
                    .iter()
                    .any(|e| &e.id == id && t.signatures.iter().any(|s| mentions(e, s)))
            })
    });
    if !in_top {
        failures.push(format!(
            "{name}: top hypothesis misses the root cause: {:?}",
            top.map(|h| &h.title)
        ));
    }
    let lead_names = if t.cause.is_empty() {
        &t.signatures
    } else {
        &t.cause
    };
    let leads = top
        .and_then(|h| h.evidence.first())
        .and_then(|id| r.evidence.iter().find(|e| &e.id == id))
        .is_some_and(|e| lead_names.iter().any(|s| mentions(e, s)));
    if !t.cause.is_empty() && !leads {
        failures.push(format!(
            "{name}: top hypothesis does not lead with the cause: {:?} cites {:?} first",
            top.map(|h| &h.title),
            top.and_then(|h| h.evidence.first())
        ));
    }
    let change_rank = t.cause_change.as_ref().map(|c| {
        r.evidence
            .iter()
            .position(|e| e.kind == fa2_core::evidence::EvidenceKind::AuditChange && mentions(e, c))
    });
    if let Some(rank) = change_rank
        && rank.is_none_or(|rk| rk >= 3)
    {
        failures.push(format!(
            "{name}: causing change {:?} ranks {rank:?}, not in the top 3",
            t.cause_change
        ));
    }
    if let Some(cause) = cause_rank {
        for c in &t.chronic {
            if let Some(rk) = rank_of(c)
                && rk <= cause
            {
                failures.push(format!(
                    "{name}: chronic `{c}` ranks {rk}, above the cause at {cause}"
                ));
            }
        }
    }
    let json = serde_json::to_string(r).map_err(|e| e.to_string())?;
    let prompt = a.prompt.full_text();
    for s in &t.secrets {
        if json.contains(s.as_str()) || prompt.contains(s.as_str()) {
            failures.push(format!(
                "{name}: secret {}… leaked",
                s.chars().take(6).collect::<String>()
            ));
        }
    }
    if !t.injection.is_empty() && prompt.contains(t.injection.as_str()) {
        failures.push(format!("{name}: injection verbatim in the prompt"));
    }
    let est = fa2_core::tokens::estimate_tokens(&a.prompt.system)
        + fa2_core::tokens::estimate_tokens(&a.prompt.user);
    if est > budget || r.prompt.tokens > budget {
        failures.push(format!("{name}: prompt {est} tokens over budget {budget}"));
    }
    Ok(Outcome {
        scenario: t.scenario.clone(),
        cause_rank,
        top_hypothesis: top.map(|h| h.title.clone()),
        leads,
        change_rank,
        pattern: t.pattern.clone().unwrap_or_else(|| t.scenario.clone()),
        evidence: r.evidence.clone(),
        prompt_tokens: est,
        failures,
    })
}
