//! Support for fa2's cross-crate tests: loading incident bundles with their `truth.json`
//! and running the whole offline pipeline on them.

use fa2_core::analyze::{AnalyzeOptions, Analyzed, Analyzer, no_progress};
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
