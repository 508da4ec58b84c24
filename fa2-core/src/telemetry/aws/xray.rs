//! The X-Ray source (`xray`): trace summaries (`GetTraceSummaries`) over the incident and
//! baseline windows, then full traces (`BatchGetTraces`) for a sample of them, problem traces
//! first.
//!
//! - **Summaries**, the incident window first: it may take [`super::incident_share`] of
//!   `max_summaries`, the baseline what is left. Each window is read in ranges of at most 6
//!   hours (the longest range X-Ray accepts in one call), page by page (`NextToken`) with the
//!   optional filter expression. X-Ray cannot count beforehand, so a window is first read
//!   whole; if it holds more than its budget, it is read again in slices (6 of the incident,
//!   12 of the baseline), each with an even share of what is left, and the summaries of a
//!   slice that had more than its share stand for the slice's whole span
//!   ([`slice_weight`], [`Record::Sampled`]): the distiller then compares the windows' root
//!   cause counts at their real rates, and the status says what was sampled. Each summary maps
//!   to a [`TraceSummary`] with the same semantics as the files source's reader of
//!   `aws xray get-trace-summaries` output: a root cause is the innermost entity of its path
//!   that carries an exception, and throttles (which X-Ray reports as errors) are moved from
//!   the error root causes to the throttle root causes. A summary without a start time (some
//!   emulators leave it out) takes the time encoded in its trace id.
//! - **Traces**: up to `max_traces` ids are chosen ([`select_trace_ids`]): one trace per distinct
//!   root cause first, then the other faulty, erroneous or throttled traces spread evenly over
//!   the window, then the healthy ones likewise. They are fetched 5 ids per call (the API's
//!   maximum) and their segment documents (JSON strings) are flattened into [`Span`]s like the
//!   files source does.
//!
//! Every call is registered as an [`Origin`] whose locator holds the filter expression, the
//! time range, the equivalent `aws xray` command and a console link. Memory holds the
//! summaries of the window (or slice) being read, bounded by `max_summaries`.

use super::emit_page;
use crate::error::SourceError;
use crate::record::{Record, RecordKind, RecordType, RootCause, Trace, TraceSummary};
use crate::request::Phase;
use crate::telemetry::aws::sdk_error;
use crate::telemetry::files::xray::{flatten_document, split_throttles};
use crate::telemetry::{
    CollectSummary, Locator, Origin, OriginId, RecordSink, Reproduction, SourceQuery, SourceState,
    SourceStatus, TelemetrySource,
};
use async_trait::async_trait;
use aws_sdk_xray::Client;
use aws_sdk_xray::types as xt;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

/// The name of this source in reports.
pub const SOURCE_NAME: &str = "xray";
/// The `service` of this source's locators.
pub const SERVICE: &str = "xray";
/// The longest time range X-Ray accepts in one `GetTraceSummaries` call (6 hours).
pub const MAX_RANGE_SECS: i64 = 6 * 3600;
/// The most trace ids `BatchGetTraces` accepts in one call.
pub const MAX_IDS_PER_BATCH: usize = 5;

/// Notes kept for the status line.
const MAX_NOTES: usize = 8;
/// Longest error text kept in a status.
const MAX_ERROR_CHARS: usize = 500;

/// Options of [`XraySource`] (config: `[sources.xray]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XrayOptions {
    /// X-Ray filter expression for `GetTraceSummaries`, e.g. `fault = true OR error = true`.
    /// Empty: every trace.
    pub filter_expression: String,
    /// Stop reading summaries after this many (default 10,000); the status says so.
    pub max_summaries: usize,
    /// Full traces fetched with `BatchGetTraces` (default 100); 0 fetches none.
    pub max_traces: usize,
}

impl Default for XrayOptions {
    fn default() -> Self {
        XrayOptions {
            filter_expression: String::new(),
            max_summaries: 10_000,
            max_traces: 100,
        }
    }
}

/// Reads X-Ray trace summaries and traces (see the module documentation).
#[derive(Debug, Clone)]
pub struct XraySource {
    client: Client,
    options: XrayOptions,
    region: String,
}

// ---------------------------------------------------------------------------------------------
// Pure helpers: ranges, batches, sampling, reproductions, mapping of SDK types.
// ---------------------------------------------------------------------------------------------

/// Splits `[start, end)` into consecutive pieces of at most `max_secs` seconds.
pub fn split_range(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    max_secs: i64,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let step = chrono::Duration::seconds(max_secs.max(1));
    let mut out = Vec::new();
    let mut lo = start;
    while lo < end {
        let hi = (lo + step).min(end);
        out.push((lo, hi));
        lo = hi;
    }
    out
}

/// Groups trace ids into `BatchGetTraces` calls of at most [`MAX_IDS_PER_BATCH`] ids.
pub fn trace_id_batches(ids: &[String]) -> Vec<&[String]> {
    ids.chunks(MAX_IDS_PER_BATCH).collect()
}

/// What the trace sampler knows of one summary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceCandidate {
    pub id: String,
    /// Fault, error or throttle.
    pub problem: bool,
    /// The first root cause as `service/exception`, when the summary has one.
    pub signature: Option<String>,
}

impl TraceCandidate {
    /// The candidate of a mapped summary.
    pub fn of(s: &TraceSummary) -> Self {
        let signature = s
            .fault_root_causes
            .iter()
            .chain(&s.error_root_causes)
            .chain(&s.throttle_root_causes)
            .next()
            .map(|rc| format!("{}/{}/{}", rc.service, rc.entity, rc.exception));
        TraceCandidate {
            id: s.id.clone(),
            problem: s.has_fault || s.has_error || s.has_throttle,
            signature,
        }
    }
}

/// Picks `k` of the indices `0..n` spread evenly (first and, when possible, last included).
fn spread(n: usize, k: usize) -> Vec<usize> {
    if k == 0 || n == 0 {
        return Vec::new();
    }
    if k >= n {
        return (0..n).collect();
    }
    if k == 1 {
        return vec![0];
    }
    (0..k).map(|i| i * (n - 1) / (k - 1)).collect()
}

/// Chooses which traces to fetch, in fetch order: the earliest trace of every distinct root
/// cause, then the other problem traces spread evenly over the order they were read in (time
/// order within each range), then the healthy ones likewise; at most `max` ids. Problem
/// traces come first so that a deadline cuts healthy traces, not faulty ones.
pub fn select_trace_ids(candidates: &[TraceCandidate], max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut taken = vec![false; candidates.len()];
    let mut signatures = HashSet::new();
    for (i, c) in candidates.iter().enumerate() {
        if out.len() >= max {
            return out;
        }
        if let Some(sig) = &c.signature
            && c.problem
            && signatures.insert(sig.as_str())
        {
            taken[i] = true;
            out.push(c.id.clone());
        }
    }
    for want_problem in [true, false] {
        let rest: Vec<usize> = (0..candidates.len())
            .filter(|&i| !taken[i] && candidates[i].problem == want_problem)
            .collect();
        for j in spread(rest.len(), max.saturating_sub(out.len())) {
            taken[rest[j]] = true;
            out.push(candidates[rest[j]].id.clone());
        }
    }
    out
}

fn iso(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Percent-encodes everything but unreserved characters (for console links).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The X-Ray console's trace list for a time range and filter expression.
pub fn console_link(
    region: &str,
    filter: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> String {
    let mut link = format!(
        "https://{region}.console.aws.amazon.com/xray/home?region={region}#/traces?timeRange={}~{}",
        url_encode(&iso(start)),
        url_encode(&iso(end)),
    );
    if !filter.trim().is_empty() {
        let _ = write!(link, "&filter={}", url_encode(filter.trim()));
    }
    link
}

/// The text of a `GetTraceSummaries` locator: filter expression, time range, the equivalent
/// `aws xray get-trace-summaries` command and the console link.
pub fn summaries_reproduction(
    region: &str,
    filter: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> String {
    let filter = filter.trim();
    let mut cli = format!(
        "aws xray get-trace-summaries --region {region} --start-time {} --end-time {}",
        start.timestamp(),
        end.timestamp()
    );
    if !filter.is_empty() {
        let _ = write!(
            cli,
            " --filter-expression {}",
            crate::reproduce::shell_quote(filter)
        );
    }
    format!(
        "filter expression: {}\ntime range: {} to {} (UTC)\ncli: {cli}\nconsole: {}",
        if filter.is_empty() { "(none)" } else { filter },
        iso(start),
        iso(end),
        console_link(region, filter, start, end)
    )
}

/// The text of a `BatchGetTraces` locator: the equivalent command and a console link per trace.
pub fn traces_reproduction(region: &str, ids: &[String]) -> String {
    let mut s = format!(
        "aws xray batch-get-traces --region {region} --trace-ids {}",
        ids.join(" ")
    );
    for id in ids {
        let _ = write!(
            s,
            "\nconsole: https://{region}.console.aws.amazon.com/xray/home?region={region}#/traces/{id}"
        );
    }
    s
}

fn chrono_time(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())
}

/// The request time encoded in a trace id (`1-<8 hex digits epoch seconds>-<24 hex>`).
pub fn trace_id_time(id: &str) -> Option<DateTime<Utc>> {
    let mut parts = id.split('-');
    let _version = parts.next()?;
    let hex = parts.next()?;
    if hex.len() != 8 {
        return None;
    }
    let secs = i64::from_str_radix(hex, 16).ok()?;
    DateTime::<Utc>::from_timestamp(secs, 0)
}

/// One entity of a root cause path, whatever the root cause kind.
struct PathEntity<'a> {
    name: Option<&'a str>,
    exceptions: &'a [xt::RootCauseException],
    remote: Option<bool>,
}

/// A root cause from one service of a root cause entry: the innermost entity with an
/// exception is the root cause location; without any, the last entity of the path.
fn root_cause<'a>(
    name: Option<&str>,
    service_type: Option<&str>,
    path: impl DoubleEndedIterator<Item = PathEntity<'a>> + Clone,
) -> RootCause {
    let mut rc = RootCause {
        service: name.unwrap_or("").to_string(),
        service_type: service_type.unwrap_or("").to_string(),
        ..Default::default()
    };
    for ent in path.clone().rev() {
        if let Some(first) = ent.exceptions.first() {
            rc.entity = ent.name.unwrap_or("").to_string();
            rc.exception = first.name().unwrap_or("").to_string();
            rc.message = first.message().unwrap_or("").to_string();
            rc.remote = ent.remote.unwrap_or(false);
            return rc;
        }
    }
    if let Some(last) = path.last() {
        rc.entity = last.name.unwrap_or("").to_string();
        rc.remote = last.remote.unwrap_or(false);
    }
    rc
}

fn fault_root_causes(causes: &[xt::FaultRootCause]) -> Vec<RootCause> {
    causes
        .iter()
        .flat_map(|c| c.services())
        .map(|s| {
            root_cause(
                s.name(),
                s.r#type(),
                s.entity_path().iter().map(|e| PathEntity {
                    name: e.name(),
                    exceptions: e.exceptions(),
                    remote: e.remote(),
                }),
            )
        })
        .collect()
}

fn error_root_causes(causes: &[xt::ErrorRootCause]) -> Vec<RootCause> {
    causes
        .iter()
        .flat_map(|c| c.services())
        .map(|s| {
            root_cause(
                s.name(),
                s.r#type(),
                s.entity_path().iter().map(|e| PathEntity {
                    name: e.name(),
                    exceptions: e.exceptions(),
                    remote: e.remote(),
                }),
            )
        })
        .collect()
}

/// Maps an SDK trace summary like the files source maps `get-trace-summaries` JSON.
pub fn trace_summary_from_sdk(v: &xt::TraceSummary) -> TraceSummary {
    let id = v.id().unwrap_or("").to_string();
    let http = v.http();
    let mut s = TraceSummary {
        start: v
            .start_time()
            .and_then(chrono_time)
            .or_else(|| trace_id_time(&id)),
        id,
        duration: v.duration().unwrap_or(0.0),
        response_time: v.response_time().unwrap_or(0.0),
        has_fault: v.has_fault().unwrap_or(false),
        has_error: v.has_error().unwrap_or(false),
        has_throttle: v.has_throttle().unwrap_or(false),
        http_method: http.and_then(|h| h.http_method()).unwrap_or("").to_string(),
        http_url: http.and_then(|h| h.http_url()).unwrap_or("").to_string(),
        http_status: http
            .and_then(|h| h.http_status())
            .and_then(|s| u16::try_from(s).ok()),
        entry_point: v
            .entry_point()
            .and_then(|e| e.name())
            .unwrap_or("")
            .to_string(),
        services: v
            .service_ids()
            .iter()
            .map(|s| s.name().unwrap_or("").to_string())
            .collect(),
        fault_root_causes: fault_root_causes(v.fault_root_causes()),
        error_root_causes: error_root_causes(v.error_root_causes()),
        throttle_root_causes: Vec::new(),
    };
    split_throttles(&mut s);
    s
}

/// Maps an SDK trace to a [`Trace`]; also returns how many segment documents were not JSON.
pub fn trace_from_sdk(t: &xt::Trace) -> (Trace, u64) {
    let mut trace = Trace {
        id: t.id().unwrap_or("").to_string(),
        duration: t.duration().unwrap_or(0.0),
        spans: Vec::new(),
    };
    let mut bad = 0u64;
    for seg in t.segments() {
        let Some(text) = seg.document() else {
            continue;
        };
        match serde_json::from_str::<Value>(text) {
            Ok(doc) => {
                flatten_document(&doc, &mut trace.spans);
            }
            Err(_) => bad += 1,
        }
    }
    (trace, bad)
}

// ---------------------------------------------------------------------------------------------
// The source.
// ---------------------------------------------------------------------------------------------

fn stopped_error(q: &SourceQuery) -> String {
    if q.cancel.load(std::sync::atomic::Ordering::Relaxed) {
        "cancelled".to_string()
    } else {
        "timed out: the source deadline passed".to_string()
    }
}

/// Bookkeeping of one `collect` call.
struct Run<'s> {
    q: &'s SourceQuery,
    sink: &'s mut dyn RecordSink,
    summaries: u64,
    traces: u64,
    calls: u64,
    notes: Vec<String>,
    problems: Vec<SourceStatus>,
    any_ok: bool,
    incident: Tally,
    baseline: Tally,
}

impl Run<'_> {
    fn tally(&mut self, phase: Phase) -> &mut Tally {
        match phase {
            Phase::Incident => &mut self.incident,
            _ => &mut self.baseline,
        }
    }

    fn note(&mut self, n: String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(n);
        }
    }

    fn problem(&mut self, name: String, records: BTreeMap<RecordType, u64>, mut error: String) {
        // An SDK error that could not be parsed carries the whole response body.
        if let Some((cut, _)) = error.char_indices().nth(MAX_ERROR_CHARS) {
            error.truncate(cut);
            error.push_str(" …");
        }
        self.problems.push(SourceStatus {
            name,
            kind: RecordKind::Xray.as_str().into(),
            status: SourceState::Error,
            records: records.values().sum(),
            error: Some(error),
            counts: records,
            parts: Some(1),
            scanned_bytes: None,
            detail: None,
        });
    }
}

/// How the reading of one time range ended.
enum RangeEnd {
    Done,
    Capped,
    Stopped,
    Failed,
}

/// What was read of one window, for the status line.
#[derive(Debug, Default)]
struct Tally {
    read: u64,
    /// The summaries the window holds: read whole, or estimated from a sample.
    total: f64,
    /// Sampled over this many slices of `slice_secs` (0: read whole).
    slices: u64,
    slice_secs: i64,
}

impl Tally {
    fn describe(&self, window: &str) -> Option<String> {
        (self.slices > 0).then(|| {
            format!(
                "{window}: {} of ~{} summaries read (sampled evenly over {} slices of {}m: each summary read stands for the summaries of its slice)",
                self.read,
                self.total.round() as u64,
                self.slices,
                (self.slice_secs / 60).max(1)
            )
        })
    }
}

/// The weight of the summaries read of a slice `[lo, hi)` that had more than its share: the
/// slice's span over the span the read ones cover. X-Ray returns a range's newest summaries
/// first (emulators may not), so the covered span is taken from whichever end the read ones
/// hug.
pub fn slice_weight(
    (lo, hi): (DateTime<Utc>, DateTime<Utc>),
    starts: impl IntoIterator<Item = DateTime<Utc>>,
) -> f64 {
    let (mut first, mut last) = (None::<DateTime<Utc>>, None::<DateTime<Utc>>);
    for t in starts {
        first = Some(first.map_or(t, |f| f.min(t)));
        last = Some(last.map_or(t, |l| l.max(t)));
    }
    let (Some(first), Some(last)) = (first, last) else {
        return 1.0;
    };
    let span = (hi - lo).num_milliseconds().max(1) as f64;
    let covered = (hi - first).min(last - lo).num_milliseconds().max(1000) as f64;
    (span / covered).max(1.0)
}

impl XraySource {
    /// A source reading with the X-Ray client of `config`.
    pub fn new(config: &aws_config::SdkConfig, options: XrayOptions) -> Self {
        let region = config
            .region()
            .map_or_else(|| "us-east-1".to_string(), |r| r.to_string());
        XraySource {
            client: Client::new(config),
            options,
            region,
        }
    }

    pub fn options(&self) -> &XrayOptions {
        &self.options
    }

    /// The region used in console links and commands.
    pub fn region(&self) -> &str {
        &self.region
    }

    fn filter(&self) -> Option<&str> {
        Some(self.options.filter_expression.trim()).filter(|f| !f.is_empty())
    }

    /// The windows in whole seconds, incident first: `(phase, start, end)`.
    fn windows(q: &SourceQuery) -> Vec<(Phase, DateTime<Utc>, DateTime<Utc>)> {
        let w = q.window;
        let whole = |lo: DateTime<Utc>, hi: DateTime<Utc>| {
            let hi_secs = hi.timestamp() + i64::from(hi.timestamp_subsec_nanos() > 0);
            Some((
                DateTime::<Utc>::from_timestamp(lo.timestamp(), 0)?,
                DateTime::<Utc>::from_timestamp(hi_secs, 0)?,
            ))
        };
        [
            (Phase::Incident, w.start, w.end),
            (Phase::Baseline, w.baseline_start, w.baseline_end),
        ]
        .into_iter()
        .filter(|(_, lo, hi)| lo < hi)
        .filter_map(|(p, lo, hi)| whole(lo, hi).map(|(lo, hi)| (p, lo, hi)))
        .collect()
    }

    /// The `GetTraceSummaries` ranges of a collect, as `reproduce` shows them.
    fn ranges(&self, q: &SourceQuery) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        Self::windows(q)
            .into_iter()
            .flat_map(|(_, lo, hi)| split_range(lo, hi, MAX_RANGE_SECS))
            .collect()
    }

    /// Reads the summaries of one time range (at most 6 hours) page by page into `out`, up to
    /// `cap` of them, each with the origin of its call.
    async fn fetch_range(
        &self,
        run: &mut Run<'_>,
        (lo, hi): (DateTime<Utc>, DateTime<Utc>),
        cap: u64,
        seen: &mut HashSet<String>,
        out: &mut Vec<(OriginId, TraceSummary)>,
    ) -> Result<RangeEnd, SourceError> {
        let text = summaries_reproduction(&self.region, self.filter().unwrap_or(""), lo, hi);
        let origin = run.sink.register_origin(Origin {
            source: SOURCE_NAME.into(),
            kind: RecordKind::Xray,
            locator: Locator::Query {
                service: SERVICE.into(),
                text,
            },
        });
        let name = format!("{SOURCE_NAME}:summaries {} to {}", iso(lo), iso(hi));
        let deadline = tokio::time::Instant::from_std(run.q.deadline);
        let mut token: Option<String> = None;
        let mut read = 0u64;
        loop {
            if run.q.should_stop() {
                let err = format!("{} after {read} summaries", stopped_error(run.q));
                run.problem(name, BTreeMap::new(), err);
                return Ok(RangeEnd::Stopped);
            }
            let call = self
                .client
                .get_trace_summaries()
                .start_time(aws_smithy_types::DateTime::from_millis(
                    lo.timestamp_millis(),
                ))
                .end_time(aws_smithy_types::DateTime::from_millis(
                    hi.timestamp_millis(),
                ))
                .set_filter_expression(self.filter().map(str::to_string))
                .set_next_token(token.clone())
                .send();
            run.calls += 1;
            let out_page = match tokio::time::timeout_at(deadline, call).await {
                Err(_) => {
                    let err = format!("{} after {read} summaries", stopped_error(run.q));
                    run.problem(name, BTreeMap::new(), err);
                    return Ok(RangeEnd::Stopped);
                }
                Ok(Err(e)) => {
                    let err = sdk_error("GetTraceSummaries", &e).to_string();
                    run.problem(name, BTreeMap::new(), err);
                    return Ok(RangeEnd::Failed);
                }
                Ok(Ok(out)) => out,
            };
            run.any_ok = true;
            for s in out_page.trace_summaries() {
                if read >= cap {
                    return Ok(RangeEnd::Capped);
                }
                let summary = trace_summary_from_sdk(s);
                // Adjacent ranges may both report a trace that starts on their boundary.
                if summary.id.is_empty() || !seen.insert(summary.id.clone()) {
                    continue;
                }
                out.push((origin, summary));
                read += 1;
            }
            match out_page.next_token() {
                Some(t) if !t.is_empty() && token.as_deref() != Some(t) => {
                    if read >= cap {
                        return Ok(RangeEnd::Capped);
                    }
                    token = Some(t.to_string());
                }
                _ => return Ok(RangeEnd::Done),
            }
        }
    }

    /// Emits summaries, each standing for `weight` summaries when `weight > 1`.
    fn emit(
        run: &mut Run<'_>,
        items: Vec<(OriginId, TraceSummary)>,
        weight: f64,
        phase: Phase,
        candidates: &mut Vec<TraceCandidate>,
    ) -> Result<(), SourceError> {
        let n = items.len() as u64;
        let mut page: Vec<Record> = Vec::new();
        let mut current: Option<OriginId> = None;
        for (origin, s) in items {
            if current.is_some_and(|c| c != origin) {
                emit_page(
                    run.sink,
                    current.unwrap_or(origin),
                    std::mem::take(&mut page),
                )?;
            }
            current = Some(origin);
            candidates.push(TraceCandidate::of(&s));
            let rec = Record::TraceSummary(Box::new(s));
            page.push(if weight > 1.0 {
                Record::Sampled {
                    weight,
                    record: Box::new(rec),
                }
            } else {
                rec
            });
        }
        if let Some(origin) = current {
            emit_page(run.sink, origin, page)?;
        }
        run.summaries += n;
        let t = run.tally(phase);
        t.read += n;
        Ok(())
    }

    /// Reads one window with `budget` summaries: whole when it fits; else in slices, each
    /// with an even share of what is left, whose summaries stand for their slice's. `Ok(true)`
    /// when the deadline stopped it.
    async fn read_window(
        &self,
        run: &mut Run<'_>,
        phase: Phase,
        (lo, hi): (DateTime<Utc>, DateTime<Utc>),
        budget: u64,
        seen: &mut HashSet<String>,
        candidates: &mut Vec<TraceCandidate>,
    ) -> Result<bool, SourceError> {
        // Whole, if it fits in the budget (X-Ray cannot count beforehand).
        let mut whole = Vec::new();
        let mut fits = true;
        for range in split_range(lo, hi, MAX_RANGE_SECS) {
            let left = budget.saturating_sub(whole.len() as u64);
            match self.fetch_range(run, range, left, seen, &mut whole).await? {
                RangeEnd::Done | RangeEnd::Failed => {}
                RangeEnd::Capped => {
                    fits = false;
                    break;
                }
                RangeEnd::Stopped => {
                    // What was read is kept.
                    Self::emit(run, whole, 1.0, phase, candidates)?;
                    return Ok(true);
                }
            }
        }
        if fits {
            let n = whole.len() as f64;
            Self::emit(run, whole, 1.0, phase, candidates)?;
            run.tally(phase).total += n;
            return Ok(false);
        }
        // Too many: read again in slices (the first read's order says nothing of its span).
        for (_, s) in &whole {
            seen.remove(&s.id);
        }
        drop(whole);
        let wanted = match phase {
            Phase::Incident => super::logs::INCIDENT_SLICES,
            _ => super::logs::BASELINE_SLICES,
        };
        let span = (hi - lo).num_seconds().max(1);
        let slices = wanted.max((span + MAX_RANGE_SECS - 1) / MAX_RANGE_SECS);
        let width = chrono::Duration::seconds((span + slices - 1) / slices);
        let mut left = budget;
        let mut estimate = 0.0;
        let mut k = 0i64;
        let mut start = lo;
        while start < hi {
            let end = (start + width).min(hi);
            let cap = left.div_ceil((slices - k).max(1) as u64);
            k += 1;
            let mut got = Vec::new();
            let ended = if cap == 0 {
                RangeEnd::Capped
            } else {
                self.fetch_range(run, (start, end), cap, seen, &mut got)
                    .await?
            };
            let weight = match ended {
                RangeEnd::Capped if !got.is_empty() => {
                    slice_weight((start, end), got.iter().filter_map(|(_, s)| s.start))
                }
                _ => 1.0,
            };
            estimate += got.len() as f64 * weight;
            left = left.saturating_sub(got.len() as u64);
            Self::emit(run, got, weight, phase, candidates)?;
            if matches!(ended, RangeEnd::Stopped) {
                return Ok(true);
            }
            start = end;
        }
        let t = run.tally(phase);
        t.total += estimate;
        t.slices = slices as u64;
        t.slice_secs = width.num_seconds();
        Ok(false)
    }

    /// Fetches full traces, [`MAX_IDS_PER_BATCH`] ids per call.
    async fn read_traces(&self, run: &mut Run<'_>, ids: &[String]) -> Result<(), SourceError> {
        let deadline = tokio::time::Instant::from_std(run.q.deadline);
        let mut unprocessed = 0usize;
        let mut bad_docs = 0u64;
        for batch in trace_id_batches(ids) {
            let name = format!("{SOURCE_NAME}:traces {}", batch.join(","));
            if run.q.should_stop() {
                let left = ids.len() - run.traces.min(ids.len() as u64) as usize;
                run.problem(
                    format!("{SOURCE_NAME}:traces"),
                    BTreeMap::new(),
                    format!(
                        "{}: {left} selected traces not fetched",
                        stopped_error(run.q)
                    ),
                );
                return Ok(());
            }
            let origin = run.sink.register_origin(Origin {
                source: SOURCE_NAME.into(),
                kind: RecordKind::Xray,
                locator: Locator::Query {
                    service: SERVICE.into(),
                    text: traces_reproduction(&self.region, batch),
                },
            });
            let mut token: Option<String> = None;
            loop {
                let call = self
                    .client
                    .batch_get_traces()
                    .set_trace_ids(Some(batch.to_vec()))
                    .set_next_token(token.clone())
                    .send();
                run.calls += 1;
                let out = match tokio::time::timeout_at(deadline, call).await {
                    Err(_) => {
                        run.problem(name, BTreeMap::new(), stopped_error(run.q));
                        return Ok(());
                    }
                    Ok(Err(e)) => {
                        let err = sdk_error("BatchGetTraces", &e).to_string();
                        run.problem(name, BTreeMap::new(), err);
                        break;
                    }
                    Ok(Ok(out)) => out,
                };
                run.any_ok = true;
                unprocessed += out.unprocessed_trace_ids().len();
                let mut page = Vec::new();
                for t in out.traces() {
                    let (trace, bad) = trace_from_sdk(t);
                    bad_docs += bad;
                    page.push(Record::Trace(Box::new(trace)));
                }
                run.traces += page.len() as u64;
                emit_page(run.sink, origin, page)?;
                match out.next_token() {
                    Some(t) if !t.is_empty() && token.as_deref() != Some(t) => {
                        token = Some(t.to_string());
                    }
                    _ => break,
                }
            }
        }
        if unprocessed > 0 {
            run.note(format!(
                "{unprocessed} trace ids were not processed by BatchGetTraces (not found or not yet indexed)"
            ));
        }
        if bad_docs > 0 {
            run.note(format!(
                "{bad_docs} segment documents were not valid JSON and were ignored"
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl TelemetrySource for XraySource {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    async fn collect(
        &self,
        q: &SourceQuery,
        sink: &mut dyn RecordSink,
    ) -> Result<CollectSummary, SourceError> {
        let mut run = Run {
            q,
            sink,
            summaries: 0,
            traces: 0,
            calls: 0,
            notes: Vec::new(),
            problems: Vec::new(),
            any_ok: false,
            incident: Tally::default(),
            baseline: Tally::default(),
        };
        let mut seen = HashSet::new();
        let mut candidates = Vec::new();
        let mut stopped = false;
        // The incident window first, with its share of the budget; the baseline gets the rest.
        let max = self.options.max_summaries as u64;
        for (phase, lo, hi) in Self::windows(q) {
            let budget = match phase {
                Phase::Incident => super::incident_share(max),
                _ => max.saturating_sub(run.summaries),
            };
            if self
                .read_window(
                    &mut run,
                    phase,
                    (lo, hi),
                    budget,
                    &mut seen,
                    &mut candidates,
                )
                .await?
            {
                stopped = true;
                break;
            }
        }
        drop(seen);
        if !stopped && self.options.max_traces > 0 && !candidates.is_empty() {
            let ids = select_trace_ids(&candidates, self.options.max_traces);
            drop(candidates);
            self.read_traces(&mut run, &ids).await?;
        }
        if !run.any_ok {
            let first = run
                .problems
                .first()
                .and_then(|p| p.error.clone())
                .unwrap_or_else(|| "no X-Ray call succeeded".into());
            return Err(SourceError::Unavailable(format!("X-Ray: {first}")));
        }
        let mut window_notes: Vec<String> = [
            run.incident.describe("incident"),
            run.baseline.describe("baseline"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !window_notes.is_empty() {
            window_notes.append(&mut run.notes);
            run.notes = window_notes;
        }
        let ok_summaries = run.summaries;
        let counts = BTreeMap::from([
            (RecordType::XraySummaries, ok_summaries),
            (RecordType::XrayTraces, run.traces),
        ]);
        let mut statuses = vec![SourceStatus::ok(
            SOURCE_NAME,
            RecordKind::Xray,
            counts,
            &run.notes,
            run.calls,
        )];
        statuses.append(&mut run.problems);
        Ok(CollectSummary { statuses })
    }

    fn reproduce(&self, q: &SourceQuery) -> Vec<Reproduction> {
        let filter = self.filter().unwrap_or("");
        self.ranges(q)
            .into_iter()
            .map(|(lo, hi)| Reproduction {
                kind: RecordKind::Xray,
                text: summaries_reproduction(&self.region, filter, lo, hi),
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::time::parse_timestamp(s).unwrap()
    }

    #[test]
    fn a_sampled_slice_stands_for_its_whole_span() {
        let lo = t("2024-08-16T11:00:00Z");
        let hi = t("2024-08-16T11:10:00Z");
        let at = |m: i64| lo + chrono::Duration::minutes(m);
        // Newest first (as X-Ray pages): the last 2 minutes were read: ×5.
        assert_eq!(slice_weight((lo, hi), [at(10), at(9), at(8)]), 5.0);
        // Oldest first (emulators): the first 2 minutes: ×5 too.
        assert_eq!(slice_weight((lo, hi), [at(0), at(1), at(2)]), 5.0);
        // Spread over the slice: no sign of anything left out.
        assert_eq!(slice_weight((lo, hi), [at(0), at(10)]), 1.0);
        assert_eq!(slice_weight((lo, hi), []), 1.0);
        // All in one instant at an end: at most one second covered.
        assert_eq!(slice_weight((lo, hi), [lo]), 600.0);
        let tally = Tally {
            read: 70,
            total: 240.4,
            slices: 12,
            slice_secs: 300,
        };
        assert_eq!(
            tally.describe("baseline").unwrap(),
            "baseline: 70 of ~240 summaries read (sampled evenly over 12 slices of 5m: each summary read stands for the summaries of its slice)"
        );
        assert_eq!(Tally::default().describe("incident"), None);
    }

    #[test]
    fn ranges_are_split_at_six_hours() {
        let r = split_range(
            t("2024-08-16T00:00:00Z"),
            t("2024-08-16T13:30:00Z"),
            MAX_RANGE_SECS,
        );
        assert_eq!(
            r,
            vec![
                (t("2024-08-16T00:00:00Z"), t("2024-08-16T06:00:00Z")),
                (t("2024-08-16T06:00:00Z"), t("2024-08-16T12:00:00Z")),
                (t("2024-08-16T12:00:00Z"), t("2024-08-16T13:30:00Z")),
            ]
        );
        let short = split_range(
            t("2024-08-16T00:00:00Z"),
            t("2024-08-16T01:00:00Z"),
            MAX_RANGE_SECS,
        );
        assert_eq!(short.len(), 1);
        assert!(
            split_range(
                t("2024-08-16T01:00:00Z"),
                t("2024-08-16T01:00:00Z"),
                MAX_RANGE_SECS
            )
            .is_empty()
        );
    }

    #[test]
    fn batches_hold_at_most_five_ids() {
        let ids: Vec<String> = (0..12).map(|i| format!("1-0000000{i:x}-x")).collect();
        let b = trace_id_batches(&ids);
        assert_eq!(b.iter().map(|b| b.len()).collect::<Vec<_>>(), vec![5, 5, 2]);
        assert_eq!(b[2][1], ids[11]);
    }

    fn cand(id: usize, problem: bool, sig: Option<&str>) -> TraceCandidate {
        TraceCandidate {
            id: format!("t{id}"),
            problem,
            signature: sig.map(str::to_string),
        }
    }

    #[test]
    fn sampling_prefers_distinct_root_causes_then_problems_then_healthy() {
        let mut c = Vec::new();
        for i in 0..20 {
            c.push(cand(i, false, None));
        }
        for i in 20..30 {
            c.push(cand(i, true, Some("DynamoDB/DynamoDB/Throttled")));
        }
        c.push(cand(30, true, Some("orders/rds/Timeout")));
        for i in 31..40 {
            c.push(cand(i, true, None));
        }
        let pick = select_trace_ids(&c, 6);
        assert_eq!(pick.len(), 6);
        assert_eq!(&pick[..2], &["t20".to_string(), "t30".to_string()]);
        assert!(pick[2..].iter().all(|id| {
            let n: usize = id[1..].parse().unwrap();
            n >= 20
        }));
        // Spread: the first and last remaining problem traces are both taken.
        assert!(pick.contains(&"t21".to_string()) && pick.contains(&"t39".to_string()));
        let all = select_trace_ids(&c, 100);
        assert_eq!(all.len(), 40);
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), 40);
        assert!(
            all[..20]
                .iter()
                .all(|id| id[1..].parse::<usize>().unwrap() >= 20)
        );
        assert!(select_trace_ids(&c, 0).is_empty());
    }

    #[test]
    fn trace_id_time_and_reproduction() {
        assert_eq!(
            trace_id_time("1-66bf3663-7cbc49510a06b20a30015382"),
            Some(t("2024-08-16T11:22:11Z"))
        );
        assert_eq!(trace_id_time("nonsense"), None);
        let r = summaries_reproduction(
            "ap-northeast-1",
            "fault = true OR error = true",
            t("2024-08-16T11:00:00Z"),
            t("2024-08-16T12:00:00Z"),
        );
        assert!(r.starts_with("filter expression: fault = true OR error = true\n"));
        assert!(r.contains("time range: 2024-08-16T11:00:00Z to 2024-08-16T12:00:00Z"));
        assert!(r.contains(
            "cli: aws xray get-trace-summaries --region ap-northeast-1 --start-time 1723806000 --end-time 1723809600 --filter-expression 'fault = true OR error = true'"
        ));
        assert!(r.contains("timeRange=2024-08-16T11%3A00%3A00Z~2024-08-16T12%3A00%3A00Z&filter=fault%20%3D%20true%20OR%20error%20%3D%20true"));
    }

    #[test]
    fn sdk_summary_maps_root_causes_and_throttles() {
        let dynamo_path = vec![
            xt::ErrorRootCauseEntity::builder()
                .name("orders-fn")
                .remote(false)
                .build(),
            xt::ErrorRootCauseEntity::builder()
                .name("DynamoDB")
                .exceptions(
                    xt::RootCauseException::builder()
                        .name("ThrottlingException")
                        .message("Rate exceeded")
                        .build(),
                )
                .remote(true)
                .build(),
        ];
        let s = xt::TraceSummary::builder()
            .id("1-66bf3663-7cbc49510a06b20a30015382")
            .has_fault(true)
            .has_throttle(true)
            .http(
                xt::Http::builder()
                    .http_status(500)
                    .http_method("POST")
                    .http_url("https://shop.example.com/api/orders")
                    .build(),
            )
            .entry_point(xt::ServiceId::builder().name("orders-fn").build())
            .service_ids(xt::ServiceId::builder().name("orders-fn").build())
            .fault_root_causes(
                xt::FaultRootCause::builder()
                    .services(
                        xt::FaultRootCauseService::builder()
                            .name("rds")
                            .r#type("remote")
                            .entity_path(
                                xt::FaultRootCauseEntity::builder()
                                    .name("orders-fn")
                                    .build(),
                            )
                            .entity_path(
                                xt::FaultRootCauseEntity::builder()
                                    .name("orders-db")
                                    .exceptions(
                                        xt::RootCauseException::builder()
                                            .name("SQLTimeoutException")
                                            .message("timeout")
                                            .build(),
                                    )
                                    .remote(true)
                                    .build(),
                            )
                            .entity_path(xt::FaultRootCauseEntity::builder().name("inner").build())
                            .build(),
                    )
                    .build(),
            )
            .error_root_causes(
                xt::ErrorRootCause::builder()
                    .services(
                        xt::ErrorRootCauseService::builder()
                            .name("DynamoDB")
                            .set_entity_path(Some(dynamo_path))
                            .build(),
                    )
                    .services(
                        xt::ErrorRootCauseService::builder()
                            .name("orders-fn")
                            .entity_path(
                                xt::ErrorRootCauseEntity::builder()
                                    .name("orders-fn")
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build();
        let m = trace_summary_from_sdk(&s);
        assert_eq!(m.start, Some(t("2024-08-16T11:22:11Z")));
        assert_eq!(m.http_status, Some(500));
        assert_eq!(m.entry_point, "orders-fn");
        assert_eq!(m.fault_root_causes.len(), 1);
        let f = &m.fault_root_causes[0];
        assert_eq!(
            (f.entity.as_str(), f.exception.as_str(), f.remote),
            ("orders-db", "SQLTimeoutException", true)
        );
        assert_eq!(f.service_type, "remote");
        assert_eq!(m.throttle_root_causes.len(), 1);
        assert_eq!(m.throttle_root_causes[0].exception, "ThrottlingException");
        assert_eq!(m.error_root_causes.len(), 1);
        assert_eq!(m.error_root_causes[0].entity, "orders-fn");
        assert_eq!(m.error_root_causes[0].exception, "");
        let c = TraceCandidate::of(&m);
        assert!(c.problem);
        assert_eq!(
            c.signature.as_deref(),
            Some("rds/orders-db/SQLTimeoutException")
        );
    }

    #[test]
    fn sdk_trace_documents_are_flattened() {
        let doc = r#"{"id": "673e", "name": "orders-fn", "start_time": 1723807331.96, "end_time": 1723807332.01, "http": {"response": {"status": 500}}, "fault": true, "subsegments": [{"id": "cf11", "name": "DynamoDB", "start_time": 1723807331.97, "end_time": 1723807332.0, "namespace": "aws", "throttle": true, "error": true, "cause": {"exceptions": [{"id": "1d", "type": "ProvisionedThroughputExceededException", "message": "exceeded"}]}}]}"#;
        let tr = xt::Trace::builder()
            .id("1-66bf3663-7cbc")
            .duration(0.05)
            .segments(xt::Segment::builder().id("673e").document(doc).build())
            .segments(
                xt::Segment::builder()
                    .id("bad")
                    .document("{not json")
                    .build(),
            )
            .build();
        let (m, bad) = trace_from_sdk(&tr);
        assert_eq!(bad, 1);
        assert_eq!(m.spans.len(), 2);
        assert!(m.spans[0].fault);
        assert_eq!(m.spans[0].http_status, Some(500));
        assert_eq!(m.spans[1].segment, "orders-fn");
        assert_eq!(m.spans[1].namespace, "aws");
        assert_eq!(
            m.spans[1].exceptions[0].0,
            "ProvisionedThroughputExceededException"
        );
    }
}
