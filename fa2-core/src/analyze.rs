//! The pipeline: collect (all sources concurrently, each under a timeout, streaming into one
//! distiller thread through a bounded channel) → distill → pack the prompt → ask the LLM
//! (offline fallback) → report.
//!
//! Invariants: memory is bounded by the channel (a few batches) plus the distiller's
//! aggregates; a failing or slow source becomes an `error` status and never stops the others;
//! an LLM failure becomes `llm.error` with the offline analyzer's answer.

use crate::distill::{DistillConfig, Distiller};
use crate::error::{AnalysisError, SourceError};
use crate::evidence::Evidence;
use crate::llm::{LlmBackend, LlmRequest, OfflineAnalyzer};
use crate::prompt::{Prompt, PromptRenderer};
use crate::record::Record;
use crate::redact::Redactor;
use crate::report::{LlmInfo, PromptInfo, Report, check_citations};
use crate::request::AnalysisRequest;
use crate::telemetry::{
    CollectSummary, Origin, OriginId, RecordSink, SourceQuery, SourceState, SourceStatus,
    TelemetrySource,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

/// Records per batch sent to the distiller.
const BATCH: usize = 2048;
/// Batches in flight (the channel bound).
const IN_FLIGHT: usize = 8;

/// What the pipeline reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    SourceStarted {
        name: String,
    },
    SourceFinished {
        name: String,
        records: u64,
        error: Option<String>,
    },
    Distilled {
        evidence: usize,
        templates: u64,
    },
    PromptReady {
        tokens: usize,
        budget: usize,
    },
    LlmStarted {
        backend: String,
        model: String,
    },
    LlmDelta(String),
    Finished,
}

/// Progress callback.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A progress callback that does nothing.
pub fn no_progress() -> ProgressFn {
    Arc::new(|_| {})
}

/// Settings of one analysis run.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    pub budget_tokens: usize,
    pub deadline: Duration,
    pub source_timeout: Duration,
    pub max_output_tokens: u32,
    pub distill: DistillConfig,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            budget_tokens: 16_000,
            deadline: Duration::from_secs(120),
            source_timeout: Duration::from_secs(96),
            max_output_tokens: 4096,
            distill: DistillConfig::default(),
        }
    }
}

/// The result of a run: the report and the exact prompt.
#[derive(Debug, Clone)]
pub struct Analyzed {
    pub report: Report,
    pub prompt: Prompt,
}

enum Msg {
    Origin(OriginId, Origin),
    Batch(Vec<(OriginId, Record)>),
}

/// A sink that batches records into the distiller channel (blocking when it is full).
struct ChannelSink {
    tx: SyncSender<Msg>,
    next_id: Arc<AtomicU32>,
    batch: Vec<(OriginId, Record)>,
    records: u64,
}

impl ChannelSink {
    fn flush(&mut self) -> Result<(), SourceError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx
            .send(Msg::Batch(batch))
            .map_err(|_| SourceError::SinkClosed)
    }
}

impl RecordSink for ChannelSink {
    fn register_origin(&mut self, origin: Origin) -> OriginId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // An origin travels before the records that use it, on the same channel.
        let _ = self.flush();
        let _ = self.tx.send(Msg::Origin(id, origin));
        id
    }

    fn accept(&mut self, origin: OriginId, record: Record) -> Result<(), SourceError> {
        self.records += record.count();
        self.batch.push((origin, record));
        if self.batch.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }
}

fn distill_thread(rx: Receiver<Msg>, mut d: Distiller) -> Distiller {
    for msg in rx {
        match msg {
            Msg::Origin(id, origin) => d.insert_origin(id, origin),
            Msg::Batch(batch) => {
                for (origin, record) in batch {
                    d.accept(origin, record);
                }
            }
        }
    }
    d
}

/// Runs analyses with a fixed set of sources and a backend.
pub struct Analyzer {
    pub sources: Vec<Arc<dyn TelemetrySource>>,
    pub backend: Arc<dyn LlmBackend>,
    pub renderer: Arc<PromptRenderer>,
    pub redactor: Arc<Redactor>,
    pub options: AnalyzeOptions,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field(
                "sources",
                &self
                    .sources
                    .iter()
                    .map(|s| s.name().to_string())
                    .collect::<Vec<_>>(),
            )
            .field("backend", &self.backend.name())
            .field("options", &self.options)
            .finish()
    }
}

impl Analyzer {
    /// Collects every source concurrently into one distiller; returns it with the statuses.
    async fn collect(
        &self,
        req: &AnalysisRequest,
        deadline: Instant,
        progress: &ProgressFn,
    ) -> Result<(Distiller, Vec<SourceStatus>), AnalysisError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(IN_FLIGHT);
        let distiller = Distiller::new(req.window, self.options.distill.clone());
        let worker = std::thread::Builder::new()
            .name("fa2-distill".into())
            .spawn(move || distill_thread(rx, distiller))
            .map_err(|e| {
                AnalysisError::Internal(format!("cannot start the distiller thread: {e}"))
            })?;
        let next_id = Arc::new(AtomicU32::new(0));
        let source_deadline = deadline.min(Instant::now() + self.options.source_timeout);
        let mut tasks = Vec::new();
        for src in &self.sources {
            let src = src.clone();
            let query = SourceQuery::new(req.window, source_deadline);
            let mut sink = ChannelSink {
                tx: tx.clone(),
                next_id: next_id.clone(),
                batch: Vec::with_capacity(BATCH),
                records: 0,
            };
            let progress = progress.clone();
            let timeout = source_deadline.saturating_duration_since(Instant::now());
            tasks.push(tokio::spawn(async move {
                let name = src.name().to_string();
                progress(&Progress::SourceStarted { name: name.clone() });
                let cancel = query.cancel.clone();
                let result = tokio::time::timeout(timeout, src.collect(&query, &mut sink)).await;
                cancel.store(true, Ordering::Relaxed);
                let flushed = sink.flush();
                let records = sink.records;
                let statuses = match (result, flushed) {
                    (Ok(Ok(summary)), Ok(())) => summary.statuses,
                    (Ok(Ok(_)), Err(e)) | (Ok(Err(e)), _) => {
                        vec![failed(&name, records, e.to_string())]
                    }
                    (Err(_), _) => vec![failed(
                        &name,
                        records,
                        format!(
                            "timed out after {:.0?}; the {records} records read before were used",
                            timeout
                        ),
                    )],
                };
                let error = statuses
                    .iter()
                    .find(|s| s.status == SourceState::Error)
                    .and_then(|s| s.error.clone());
                progress(&Progress::SourceFinished {
                    name,
                    records,
                    error,
                });
                statuses
            }));
        }
        drop(tx);
        let mut statuses = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await {
                Ok(s) => statuses.extend(s),
                Err(e) => statuses.push(failed(
                    self.sources.get(i).map_or("source", |s| s.name()),
                    0,
                    format!("the source crashed: {e}"),
                )),
            }
        }
        let distiller = tokio::task::spawn_blocking(move || worker.join())
            .await
            .map_err(|e| AnalysisError::Internal(e.to_string()))?
            .map_err(|_| AnalysisError::Internal("the distiller thread panicked".into()))?;
        Ok((distiller, statuses))
    }

    /// Runs one analysis.
    pub async fn run(
        &self,
        req: &AnalysisRequest,
        progress: ProgressFn,
    ) -> Result<Analyzed, AnalysisError> {
        let started = Instant::now();
        let deadline = started + self.options.deadline;
        let (distiller, statuses) = self.collect(req, deadline, &progress).await?;
        let redactor = self.redactor.clone();
        let distilled = tokio::task::spawn_blocking(move || distiller.finish(&redactor))
            .await
            .map_err(|e| AnalysisError::Internal(e.to_string()))?;
        progress(&Progress::Distilled {
            evidence: distilled.evidence.len(),
            templates: distilled.stats.log_templates,
        });
        // The description is untrusted user text: secrets in it are redacted too.
        let mut safe_req = req.clone();
        safe_req.description = self.redactor.redact(&req.description).into_owned();
        let budget = self.options.budget_tokens.min(
            self.backend
                .context_window()
                .saturating_sub(self.options.max_output_tokens as usize)
                .max(1000),
        );
        let prompt = self
            .renderer
            .render(&safe_req, &distilled.evidence, budget)?;
        progress(&Progress::PromptReady {
            tokens: prompt.tokens,
            budget: prompt.budget,
        });
        let shown: Vec<Evidence> = prompt
            .included
            .iter()
            .map(|&i| distilled.evidence[i].clone())
            .collect();
        let llm_req = LlmRequest {
            system: prompt.system.clone(),
            user: prompt.user.clone(),
            language: req.language,
            max_output_tokens: self.options.max_output_tokens,
            evidence: Arc::new(shown.clone()),
            window: req.window,
        };
        progress(&Progress::LlmStarted {
            backend: self.backend.name().to_string(),
            model: self.backend.model().to_string(),
        });
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        let p2 = progress.clone();
        let mut on_delta = move |d: &str| p2(&Progress::LlmDelta(d.to_string()));
        let answer = tokio::time::timeout(
            remaining,
            self.backend.stream(llm_req.clone(), &mut on_delta),
        )
        .await;
        let (mut analysis, model, error, truncated, backend) = match answer {
            Ok(Ok(resp)) => (
                resp.analysis,
                resp.model,
                None,
                resp.truncated,
                self.backend.name().to_string(),
            ),
            failure => {
                let error = match failure {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within the deadline ({remaining:.0?})"),
                };
                // The offline analyzer never fails.
                let fallback = OfflineAnalyzer
                    .complete(llm_req)
                    .await
                    .map_err(|e| AnalysisError::Internal(e.to_string()))?;
                (
                    fallback.analysis,
                    self.backend.model().to_string(),
                    Some(error),
                    false,
                    self.backend.name().to_string(),
                )
            }
        };
        let unknown = check_citations(&mut analysis, &distilled.evidence);
        redact_analysis(&mut analysis, &self.redactor);
        let report = Report {
            window: req.window,
            sources: statuses,
            hypotheses: analysis.hypotheses,
            summary: analysis.summary,
            impact: analysis.impact,
            timeline: analysis.timeline,
            actions: analysis.actions,
            prevention: analysis.prevention,
            prompt: PromptInfo {
                tokens: prompt.tokens,
                budget: prompt.budget,
                omitted_evidence: prompt.stats.omitted,
            },
            llm: LlmInfo {
                backend,
                model,
                error,
                unknown_citations: unknown,
                truncated,
            },
            language: req.language,
            description: safe_req.description.clone(),
            stats: distilled.stats,
            evidence_dropped: distilled.dropped,
            evidence: distilled.evidence,
        };
        progress(&Progress::Finished);
        Ok(Analyzed { report, prompt })
    }
}

fn failed(name: &str, records: u64, error: String) -> SourceStatus {
    SourceStatus {
        name: name.to_string(),
        kind: "unknown".into(),
        status: SourceState::Error,
        records,
        error: Some(error),
        counts: BTreeMap::new(),
        parts: None,
    }
}

fn redact_analysis(a: &mut crate::llm::Analysis, r: &Redactor) {
    let fix = |s: &mut String| {
        if let std::borrow::Cow::Owned(n) = r.redact(s) {
            *s = n;
        }
    };
    fix(&mut a.summary);
    fix(&mut a.impact);
    for h in a.hypotheses.iter_mut() {
        fix(&mut h.title);
        fix(&mut h.explanation);
    }
    for t in a.timeline.iter_mut() {
        fix(&mut t.event);
    }
    for x in a.actions.iter_mut().chain(a.prevention.iter_mut()) {
        fix(x);
    }
}

/// Total records per record type over all statuses.
pub fn record_totals(statuses: &[SourceStatus]) -> BTreeMap<crate::record::RecordType, u64> {
    let mut m = BTreeMap::new();
    for s in statuses {
        for (k, v) in &s.counts {
            *m.entry(*k).or_insert(0) += v;
        }
    }
    m
}

impl CollectSummary {
    /// Summary of a source that produced nothing worth reporting per part.
    pub fn empty() -> Self {
        CollectSummary::default()
    }
}
