//! The pipeline: collect (all sources concurrently, each under a timeout, streaming into one
//! distiller thread through a bounded channel) → distill → pack the prompt → ask the LLM
//! (offline fallback) → report.
//!
//! Invariants: memory is bounded by the channel (a few batches, each bounded in records and
//! in bytes) plus the distiller's aggregates (bounded in bytes too); a failing or slow source becomes an `error` status and never stops the others;
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
/// Bytes of records per batch (by [`Record::approx_bytes`]): a batch is sent when it holds
/// [`BATCH`] records or this many bytes, whichever comes first, so that records of a megabyte
/// each (a line at `max_line_bytes`) cannot make the batches in flight gigabytes.
const BATCH_BYTES: usize = 4 << 20;
/// Batches in flight (the channel bound): with [`BATCH_BYTES`], at most about
/// `IN_FLIGHT * (BATCH_BYTES + one record)` bytes wait for the distiller per sink.
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
    /// Approximate bytes held by `batch`.
    batch_bytes: usize,
    records: u64,
}

impl ChannelSink {
    fn flush(&mut self) -> Result<(), SourceError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.batch_bytes = 0;
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
        self.batch_bytes += record.approx_bytes();
        self.batch.push((origin, record));
        if self.batch.len() >= BATCH || self.batch_bytes >= BATCH_BYTES {
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
                batch_bytes: 0,
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

    fn llm_request(
        &self,
        req: &AnalysisRequest,
        prompt: &Prompt,
        evidence: &[Evidence],
    ) -> LlmRequest {
        LlmRequest {
            system: prompt.system.clone(),
            user: prompt.user.clone(),
            language: req.language,
            max_output_tokens: self.options.max_output_tokens,
            evidence: Arc::new(
                prompt
                    .included
                    .iter()
                    .map(|&i| evidence[i].clone())
                    .collect(),
            ),
            window: req.window,
        }
    }

    /// Asks the backend (streaming) within what is left of the deadline.
    async fn ask(
        &self,
        llm_req: &LlmRequest,
        deadline: Instant,
        progress: &ProgressFn,
    ) -> Result<Result<crate::llm::LlmResponse, crate::error::LlmError>, tokio::time::error::Elapsed>
    {
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        let p2 = progress.clone();
        let mut on_delta = move |d: &str| p2(&Progress::LlmDelta(d.to_string()));
        tokio::time::timeout(
            remaining,
            self.backend.stream(llm_req.clone(), &mut on_delta),
        )
        .await
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
        let mut prompt = self
            .renderer
            .render(&safe_req, &distilled.evidence, budget)?;
        progress(&Progress::PromptReady {
            tokens: prompt.tokens,
            budget: prompt.budget,
        });
        progress(&Progress::LlmStarted {
            backend: self.backend.name().to_string(),
            model: self.backend.model().to_string(),
        });
        let mut llm_req = self.llm_request(req, &prompt, &distilled.evidence);
        let mut answer = self.ask(&llm_req, deadline, &progress).await;
        // A model that finds the prompt too long gets one more try with a smaller budget
        // (our estimate is an upper bound for common tokenizers, not for every model's).
        if let Ok(Err(e)) = &answer
            && e.is_context_overflow()
        {
            let smaller = (prompt.budget * 3 / 5).max(1000);
            if smaller < prompt.budget {
                prompt = self
                    .renderer
                    .render(&safe_req, &distilled.evidence, smaller)?;
                progress(&Progress::PromptReady {
                    tokens: prompt.tokens,
                    budget: prompt.budget,
                });
                llm_req = self.llm_request(req, &prompt, &distilled.evidence);
                answer = self.ask(&llm_req, deadline, &progress).await;
            }
        }
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
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
        scanned_bytes: None,
        detail: None,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::LlmError;
    use crate::llm::{Analysis, Confidence, Hypothesis, LlmResponse};
    use crate::record::LogEvent;
    use crate::telemetry::{FileFormat, Locator, Reproduction};
    use async_trait::async_trait;

    #[test]
    fn batches_of_big_records_are_sent_by_bytes() {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(IN_FLIGHT);
        let mut sink = ChannelSink {
            tx,
            next_id: Arc::new(AtomicU32::new(0)),
            batch: Vec::new(),
            batch_bytes: 0,
            records: 0,
        };
        let ts = chrono::DateTime::from_timestamp(1_723_807_140, 0).unwrap_or_default();
        let big = "x".repeat(1 << 20);
        for _ in 0..10 {
            let ev = LogEvent {
                ts,
                group: Arc::from("g"),
                stream: None,
                message: big.clone(),
            };
            sink.accept(0, Record::Log(ev)).expect("accept");
        }
        let mut sizes = Vec::new();
        while let Ok(Msg::Batch(b)) = rx.try_recv() {
            sizes.push(b.len());
        }
        // 4 MiB of 1 MiB records: a batch of 4, not of 2,048
        assert_eq!(sizes, vec![4, 4]);
        assert_eq!(sink.batch.len(), 2);
    }

    /// A backend that answers with a fixed result and checks the request it gets.
    struct ScriptedBackend {
        name: &'static str,
        window: usize,
        answer: fn(&LlmRequest) -> Result<LlmResponse, LlmError>,
    }

    #[async_trait]
    impl LlmBackend for ScriptedBackend {
        fn name(&self) -> &str {
            self.name
        }

        fn model(&self) -> &str {
            "test-model"
        }

        fn context_window(&self) -> usize {
            self.window
        }

        async fn complete(&self, req: LlmRequest) -> Result<LlmResponse, LlmError> {
            (self.answer)(&req)
        }

        async fn stream(
            &self,
            req: LlmRequest,
            on_delta: &mut (dyn for<'d> FnMut(&'d str) + Send),
        ) -> Result<LlmResponse, LlmError> {
            on_delta("{\"summary\"");
            (self.answer)(&req)
        }
    }

    /// A source that emits `n` error lines, then behaves as told.
    struct ScriptedSource {
        name: String,
        lines: usize,
        then: Then,
    }

    enum Then {
        Finish,
        Fail,
        Hang,
    }

    #[async_trait]
    impl TelemetrySource for ScriptedSource {
        fn name(&self) -> &str {
            &self.name
        }

        async fn collect(
            &self,
            q: &SourceQuery,
            sink: &mut dyn RecordSink,
        ) -> Result<CollectSummary, SourceError> {
            let origin = sink.register_origin(Origin {
                source: self.name.clone(),
                kind: crate::record::RecordKind::Logs,
                locator: Locator::File {
                    path: "app.log".into(),
                    format: FileFormat::PlainLog,
                    gzip: false,
                },
            });
            for i in 0..self.lines {
                sink.accept(
                    origin,
                    Record::Log(LogEvent {
                        ts: q.window.start + chrono::Duration::seconds(60 + i as i64),
                        group: Arc::from("app"),
                        stream: None,
                        message: format!(
                            "ERROR payment failed for order {i}: card processor timeout"
                        ),
                    }),
                )?;
            }
            match self.then {
                Then::Finish => Ok(CollectSummary {
                    statuses: vec![SourceStatus {
                        name: self.name.clone(),
                        kind: "logs".into(),
                        status: SourceState::Ok,
                        records: self.lines as u64,
                        error: None,
                        counts: BTreeMap::new(),
                        parts: None,
                        scanned_bytes: None,
                        detail: None,
                    }],
                }),
                Then::Fail => Err(SourceError::Unavailable("access denied by the test".into())),
                Then::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(CollectSummary::default())
                }
            }
        }

        fn reproduce(&self, _q: &SourceQuery) -> Vec<Reproduction> {
            Vec::new()
        }
    }

    fn request() -> AnalysisRequest {
        let s = crate::time::parse_timestamp("2024-08-16T11:19:00Z").unwrap();
        AnalysisRequest::new("payments fail", s, s + chrono::Duration::minutes(30)).unwrap()
    }

    fn analyzer(sources: Vec<Arc<dyn TelemetrySource>>, backend: Arc<dyn LlmBackend>) -> Analyzer {
        Analyzer {
            sources,
            backend,
            renderer: Arc::new(PromptRenderer::new(None).unwrap()),
            redactor: Arc::new(Redactor::builtin()),
            options: AnalyzeOptions {
                source_timeout: Duration::from_millis(300),
                deadline: Duration::from_secs(20),
                ..AnalyzeOptions::default()
            },
        }
    }

    fn source(name: &str, lines: usize, then: Then) -> Arc<dyn TelemetrySource> {
        Arc::new(ScriptedSource {
            name: name.into(),
            lines,
            then,
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failing_and_hanging_sources_are_reported_and_the_rest_goes_on() {
        let a = analyzer(
            vec![
                source("good", 50, Then::Finish),
                source("broken", 3, Then::Fail),
                source("slow", 4, Then::Hang),
            ],
            Arc::new(OfflineAnalyzer),
        );
        let out = a.run(&request(), no_progress()).await.unwrap();
        let st = |n: &str| {
            out.report
                .sources
                .iter()
                .find(|s| s.name == n)
                .unwrap()
                .clone()
        };
        assert_eq!(st("good").status, SourceState::Ok);
        let broken = st("broken");
        assert_eq!(broken.status, SourceState::Error);
        assert!(broken.error.unwrap().contains("access denied"));
        let slow = st("slow");
        assert_eq!(slow.status, SourceState::Error);
        assert!(slow.error.unwrap().contains("timed out"));
        assert_eq!(
            slow.records, 4,
            "records read before the timeout are counted"
        );
        // the partial records of the failed sources are used too
        assert_eq!(out.report.evidence[0].count, 57);
        assert!(!out.report.hypotheses.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn llm_failure_falls_back_to_the_offline_analyzer() {
        let b = ScriptedBackend {
            name: "bedrock",
            window: 200_000,
            answer: |_| {
                Err(LlmError::Request(
                    "ThrottlingException after 3 retries".into(),
                ))
            },
        };
        let out = analyzer(vec![source("good", 20, Then::Finish)], Arc::new(b))
            .run(&request(), no_progress())
            .await
            .unwrap();
        assert_eq!(out.report.llm.backend, "bedrock");
        assert!(
            out.report
                .llm
                .error
                .as_deref()
                .unwrap()
                .contains("ThrottlingException")
        );
        assert!(!out.report.hypotheses.is_empty(), "offline answer");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invented_citations_are_flagged_and_truncation_reported() {
        let b = ScriptedBackend {
            name: "openai",
            window: 8_000,
            answer: |req| {
                // the prompt fits the model's window minus the answer
                assert!(
                    crate::tokens::estimate_tokens(&req.system)
                        + crate::tokens::estimate_tokens(&req.user)
                        <= 8_000 - 4096
                );
                Ok(LlmResponse {
                    analysis: Analysis {
                        summary: "Card processor timeouts [E1], see also [E42]".into(),
                        hypotheses: vec![Hypothesis {
                            title: "processor down".into(),
                            confidence: Confidence::Medium,
                            evidence: vec!["E1".into(), "E99".into()],
                            explanation: "x".into(),
                        }],
                        ..Analysis::default()
                    },
                    model: "gpt".into(),
                    truncated: true,
                })
            },
        };
        let deltas = Arc::new(std::sync::Mutex::new(Vec::new()));
        let d2 = deltas.clone();
        let progress: ProgressFn = Arc::new(move |p| {
            if let Progress::LlmDelta(t) = p {
                d2.lock().unwrap().push(t.clone());
            }
        });
        let out = analyzer(vec![source("good", 20, Then::Finish)], Arc::new(b))
            .run(&request(), progress)
            .await
            .unwrap();
        assert_eq!(
            out.report.llm.unknown_citations,
            vec!["E42".to_string(), "E99".to_string()]
        );
        assert_eq!(out.report.hypotheses[0].evidence, vec!["E1".to_string()]);
        assert!(out.report.llm.truncated);
        assert!(out.report.llm.error.is_none());
        assert_eq!(deltas.lock().unwrap().as_slice(), ["{\"summary\""]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn context_overflow_shrinks_the_budget_and_retries_once() {
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let b = ScriptedBackend {
            name: "bedrock",
            window: 200_000,
            answer: |req| {
                let n = CALLS.fetch_add(1, Ordering::SeqCst);
                if n == 0 {
                    return Err(LlmError::Request(
                        "context overflow: Input is too long for requested model".into(),
                    ));
                }
                Ok(LlmResponse {
                    analysis: Analysis {
                        summary: format!("ok with {} chars", req.user.len()),
                        ..Analysis::default()
                    },
                    model: "m".into(),
                    truncated: false,
                })
            },
        };
        let out = analyzer(vec![source("good", 20, Then::Finish)], Arc::new(b))
            .run(&request(), no_progress())
            .await
            .unwrap();
        assert_eq!(CALLS.load(Ordering::SeqCst), 2);
        assert!(out.report.llm.error.is_none());
        assert_eq!(out.report.prompt.budget, 16_000 * 3 / 5);
        assert!(out.report.summary.starts_with("ok with"));
    }
}
