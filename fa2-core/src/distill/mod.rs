//! Distillation: turns the stream of records into ranked [`Evidence`].
//!
//! [`Distiller`] is a [`RecordSink`]-like consumer that routes each record to the aggregator of
//! its kind. Aggregators keep only bounded aggregates (counts, minute timelines, a few samples,
//! top values), never raw records, so memory does not grow with the number of lines. At the
//! end, [`Distiller::finish`] scores the candidates against the anchor (the onset of the
//! incident), links them across sources, redacts every text and ranks them `E1..En`.
//!
//! # Causes, not coincidences
//!
//! - **The onset rule** (`anchor_of`): the incident begins with its first error-class anomaly
//!   (new or bursting errors, 5xx, faults, failed calls: severity ≥ 0.7), or with a metric
//!   shift, trend or log-group silence that began up to `PRECURSOR_MINUTES` (20) before it
//!   (the errors follow a saturation or a stopped consumer). A new WARN/INFO chatter is never the onset by
//!   itself. Proximity is measured to the onset, and the time order of changes against it.
//! - **Changes** (`audit`): classified as deploy, configuration, permission, network, data,
//!   routine or other. Routine AWS activity (log streams, role sessions, KMS data keys, metric
//!   and agent calls, anything an AWS service does on its own) is summarised in one line and
//!   never ranked as a cause; the rest is grouped by action and actor (the role, not each
//!   session). A change after the onset (a minute of clock skew allowed) is a response or a
//!   consequence: it scores no anomaly and is never linked as a cause. Deploy and
//!   configuration changes are suspects for [`DistillConfig::change_lookback`] before the
//!   window (CloudTrail events before the baseline are kept that far back), with a slow decay.
//! - **Trends and silences** (`metrics`, `logs`): a metric that climbs steadily has the time
//!   its climb began as its onset, even before the window; a metric that drops to zero, a
//!   template or a whole log group that goes quiet, a target group whose ALB traffic vanishes
//!   (`alb`) is an anomaly with the time it stopped.
//! - **Cascades** (`link`): a saturation metric (a load, a utilisation, a pool or a queue
//!   going up) or a log group's silence that began 90 s to 20 minutes before the first error
//!   ranks above the errors and is linked to them, and a change shortly before a trend's start explains
//!   the trend. The downstream X-Ray names as faulting (a fault or throttle at a remote
//!   service) ranks above the callers' errors that began with or after it, and the log group
//!   that failed first above the later groups that name it.
//! - **Structured logs** (`logs`): a JSON line's error type is part of its template.

mod alarms;
mod alb;
mod audit;
mod flows;
mod histogram;
mod lambda;
mod link;
mod logs;
mod metrics;
mod requests;
mod traces;

use crate::evidence::{self, Evidence, EvidenceKind};
use crate::record::{Record, RecordKind};
use crate::redact::Redactor;
use crate::request::{Phase, Window};
use crate::telemetry::{Locator, Origin, OriginId};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

#[cfg(feature = "aws")]
pub(crate) use alb::path_pattern_sql;
#[cfg(feature = "aws")]
pub(crate) use audit::slow_acting_names_sql;
pub use logs::{LogLevel, MinedMessage, mining_text};
pub(crate) use traces::downstream_of;

/// Tunables of distillation (defaults suit most services).
#[derive(Debug, Clone)]
pub struct DistillConfig {
    /// Templates kept per log group before new ones go to an "other" bucket.
    pub max_templates_per_group: usize,
    /// Log groups tracked separately before the rest share one bucket.
    pub max_groups: usize,
    /// Samples kept per evidence item.
    pub samples: usize,
    /// Characters kept per sample.
    pub sample_chars: usize,
    /// Evidence items kept in the report.
    pub max_evidence: usize,
    /// How long before the incident window deploy- and configuration-class changes are still
    /// suspects (config `change_lookback`): CloudTrail events this far before the start are
    /// kept even when they precede the baseline.
    pub change_lookback: std::time::Duration,
}

impl Default for DistillConfig {
    fn default() -> Self {
        DistillConfig {
            max_templates_per_group: 2000,
            max_groups: 256,
            samples: 3,
            sample_chars: 1200,
            max_evidence: 200,
            change_lookback: crate::window::DEFAULT_CHANGE_LOOKBACK,
        }
    }
}

/// Counts and first/last times of something in the baseline and incident windows, with a
/// per-bucket timeline of the incident window for onset detection.
#[derive(Debug, Clone)]
pub(crate) struct PhaseCounts {
    pub incident: u64,
    pub baseline: u64,
    pub first_incident: Option<DateTime<Utc>>,
    pub last_incident: Option<DateTime<Utc>>,
    pub first_baseline: Option<DateTime<Utc>>,
    pub last_baseline: Option<DateTime<Utc>>,
    pub buckets: Vec<u32>,
    /// Fractions of weighted occurrences not counted yet (incident, baseline): a sampled
    /// record's weight is rarely whole, and rounding each one would bias the counts.
    carry: (f64, f64),
}

impl PhaseCounts {
    pub fn new(tl: &TimelineSpec) -> Self {
        PhaseCounts {
            incident: 0,
            baseline: 0,
            first_incident: None,
            last_incident: None,
            first_baseline: None,
            last_baseline: None,
            buckets: vec![0; tl.buckets],
            carry: (0.0, 0.0),
        }
    }

    /// Adds one record that stands for `weight` occurrences at `ts` (see
    /// [`Record::Sampled`]); the fractions carry over to the next weighted record, so the
    /// counts stay within one of the weighted sum. A weight of 1 or less (or not a number)
    /// counts once.
    pub fn add_weighted(
        &mut self,
        tl: &TimelineSpec,
        phase: Phase,
        ts: DateTime<Utc>,
        weight: f64,
    ) {
        if weight.is_nan() || weight <= 1.0 {
            self.add(tl, phase, ts);
            return;
        }
        let carry = match phase {
            Phase::Incident => &mut self.carry.0,
            Phase::Baseline => &mut self.carry.1,
            Phase::Outside => return,
        };
        let total = *carry + weight.min(1e12);
        let whole = total.floor();
        *carry = total - whole;
        self.add_n(tl, phase, ts, ts, whole as u64);
    }

    /// Adds `n` occurrences counted elsewhere, first seen at `first` and last at `last`.
    pub fn add_n(
        &mut self,
        tl: &TimelineSpec,
        phase: Phase,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
        n: u64,
    ) {
        if n == 0 {
            return;
        }
        self.add(tl, phase, first);
        if n == 1 {
            return;
        }
        self.add(tl, phase, last);
        // the two adds counted 2; the rest go with the first occurrence
        match phase {
            Phase::Incident => {
                self.incident = self.incident + n - 2;
                if let Some(b) = self.buckets.get_mut(tl.bucket(first)) {
                    *b = b.saturating_add(u32::try_from(n.saturating_sub(2)).unwrap_or(u32::MAX));
                }
            }
            Phase::Baseline => self.baseline = self.baseline + n - 2,
            Phase::Outside => {}
        }
    }

    pub fn add(&mut self, tl: &TimelineSpec, phase: Phase, ts: DateTime<Utc>) {
        match phase {
            Phase::Incident => {
                self.incident += 1;
                if self.first_incident.is_none_or(|f| ts < f) {
                    self.first_incident = Some(ts);
                }
                if self.last_incident.is_none_or(|l| ts > l) {
                    self.last_incident = Some(ts);
                }
                if let Some(b) = self.buckets.get_mut(tl.bucket(ts)) {
                    *b += 1;
                }
            }
            Phase::Baseline => {
                self.baseline += 1;
                if self.first_baseline.is_none_or(|f| ts < f) {
                    self.first_baseline = Some(ts);
                }
                if self.last_baseline.is_none_or(|l| ts > l) {
                    self.last_baseline = Some(ts);
                }
            }
            Phase::Outside => {}
        }
    }

    /// The first incident bucket whose count clearly exceeds the baseline rate: the start of
    /// the anomaly. For something new it is the first occurrence.
    pub fn onset(&self, tl: &TimelineSpec, window: &Window) -> Option<DateTime<Utc>> {
        if self.incident == 0 {
            return None;
        }
        if self.baseline == 0 {
            return self.first_incident;
        }
        let per_bucket = self.baseline as f64 / window.baseline_secs() * tl.bucket_secs;
        let threshold = (per_bucket * 3.0 + 2.0).max(per_bucket + 3.0 * per_bucket.sqrt());
        for (i, &c) in self.buckets.iter().enumerate() {
            if f64::from(c) > threshold {
                return Some(
                    tl.bucket_start(i)
                        .max(self.first_incident.unwrap_or(window.start)),
                );
            }
        }
        None
    }

    /// Sets an item's counts, first/last seen (incident window first) and onset.
    pub fn fill(&self, e: &mut Evidence, ctx: &Ctx<'_>) {
        e.count = self.incident;
        e.baseline_count = self.baseline;
        e.first_seen = self.first_incident.or(self.first_baseline);
        e.last_seen = self.last_incident.or(self.last_baseline);
        e.onset = self.onset(&ctx.timeline, ctx.window);
    }

    /// The burst signal of these counts for something of `severity`.
    pub fn signal(&self, window: &Window, severity: f64) -> evidence::Signal {
        let z = self.burst_z(window);
        evidence::Signal {
            severity,
            anomaly: evidence::anomaly_from_z(z),
            proximity: 0.0,
            z,
            new: self.baseline == 0 && self.incident > 0,
        }
    }

    pub fn burst_z(&self, window: &Window) -> f64 {
        let share = window.incident_secs() / (window.incident_secs() + window.baseline_secs());
        evidence::burst_z(self.incident, self.baseline, share)
    }

    /// Incident count per minute at the peak bucket.
    pub fn peak_per_minute(&self, tl: &TimelineSpec) -> f64 {
        let max = self.buckets.iter().copied().max().unwrap_or(0);
        f64::from(max) * 60.0 / tl.bucket_secs
    }
}

/// How the incident window is cut into buckets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimelineSpec {
    pub start: DateTime<Utc>,
    pub buckets: usize,
    pub bucket_secs: f64,
}

impl TimelineSpec {
    pub fn new(window: &Window) -> Self {
        let secs = window.incident_secs();
        // one-minute buckets, at most 240 of them
        let buckets = ((secs / 60.0).ceil() as usize).clamp(1, 240);
        TimelineSpec {
            start: window.start,
            buckets,
            bucket_secs: secs / buckets as f64,
        }
    }

    pub fn bucket(&self, ts: DateTime<Utc>) -> usize {
        let off = (ts - self.start).num_milliseconds() as f64 / 1000.0;
        ((off / self.bucket_secs).floor().max(0.0) as usize).min(self.buckets - 1)
    }

    pub fn bucket_start(&self, i: usize) -> DateTime<Utc> {
        self.start + chrono::Duration::milliseconds((i as f64 * self.bucket_secs * 1000.0) as i64)
    }
}

/// Keeps up to `cap` distinct samples, preferring the incident window.
///
/// Samples offered with value keys ([`Samples::offer_varied`]) are chosen for variety: once
/// `cap` are kept, a newcomer replaces a kept sample when that raises the number of distinct
/// values shown per key position (a template's wildcards, a stack tail), so that the samples
/// of one template show different variable values rather than the first lines to arrive.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples {
    pub incident: Vec<String>,
    pub baseline: Vec<String>,
    /// Value keys of each sample, parallel to `incident` / `baseline` (empty when offered
    /// without keys).
    incident_keys: Vec<Vec<u64>>,
    baseline_keys: Vec<Vec<u64>>,
}

impl Samples {
    pub fn offer(&mut self, cap: usize, chars: usize, phase: Phase, text: &str) {
        self.offer_varied(cap, chars, phase, text, &[]);
    }

    /// Offers a sample with one key per value position: `keys[k]` of two samples are equal
    /// exactly when they show the same value at position `k`.
    pub fn offer_varied(
        &mut self,
        cap: usize,
        chars: usize,
        phase: Phase,
        text: &str,
        keys: &[u64],
    ) {
        let (list, list_keys) = match phase {
            Phase::Incident => (&mut self.incident, &mut self.incident_keys),
            Phase::Baseline => (&mut self.baseline, &mut self.baseline_keys),
            Phase::Outside => return,
        };
        if list.len() < cap {
            let clipped = clip_sample(text, chars);
            if !list.contains(&clipped) {
                list.push(clipped);
                list_keys.push(keys.to_vec());
            }
            return;
        }
        let Some(victim) = replacement(list_keys, keys) else {
            return;
        };
        let clipped = clip_sample(text, chars);
        if !list.contains(&clipped)
            && let (Some(slot), Some(slot_keys)) = (list.get_mut(victim), list_keys.get_mut(victim))
        {
            *slot = clipped;
            slot_keys.clear();
            slot_keys.extend_from_slice(keys);
        }
    }

    pub fn take(self, cap: usize) -> Vec<String> {
        let mut out = self.incident;
        for s in self.baseline {
            if out.len() >= cap {
                break;
            }
            out.push(s);
        }
        out.truncate(cap);
        out
    }
}

/// The kept sample that `keys` should replace to show more distinct values, if any: the one
/// whose replacement raises the sum over key positions of distinct values the most (the
/// latest such sample on ties, so that the first lines of a template stay).
fn replacement(kept: &[Vec<u64>], keys: &[u64]) -> Option<usize> {
    if keys.is_empty() {
        return None;
    }
    // Distinct values at position `k` over the kept samples, with sample `skip` swapped
    // for the newcomer (`skip == None`: as kept).
    let distinct = |k: usize, skip: Option<usize>| -> usize {
        let value = |j: usize| -> Option<u64> {
            if Some(j) == skip {
                Some(keys[k])
            } else {
                kept[j].get(k).copied()
            }
        };
        (0..kept.len())
            .filter(|&j| {
                let v = value(j);
                v.is_some() && (0..j).all(|i| value(i) != v)
            })
            .count()
    };
    // A newcomer that shows no value the kept samples lack cannot add variety.
    let new_somewhere = keys
        .iter()
        .enumerate()
        .any(|(k, v)| kept.iter().all(|s| s.get(k) != Some(v)));
    if !new_somewhere {
        return None;
    }
    let before: usize = (0..keys.len()).map(|k| distinct(k, None)).sum();
    let mut best: Option<(usize, usize)> = None;
    for i in 0..kept.len() {
        let after: usize = (0..keys.len()).map(|k| distinct(k, Some(i))).sum();
        if after > before && best.is_none_or(|(b, _)| after >= b) {
            best = Some((after, i));
        }
    }
    best.map(|(_, i)| i)
}

/// Bytes kept of one sample whatever `sample_chars` says: samples are kept per template,
/// target group and cause (thousands of them), and 2 KiB is far more than a reader or the
/// prompt uses of one line (the prompt shows a few hundred characters).
pub(crate) const SAMPLE_BYTES: usize = 2048;
/// Bytes kept of a key counted by a [`BoundedCounter`] (paths, codes, reasons, IPs): a key is
/// shown as one short item of a list, and hundreds of keys are kept per group.
pub(crate) const KEY_BYTES: usize = 200;

/// A sample of `text`: at most `chars` characters and [`SAMPLE_BYTES`] bytes, the cut marked.
pub(crate) fn clip_sample(text: &str, chars: usize) -> String {
    let head = crate::bounds::prefix(text, SAMPLE_BYTES);
    let mut out = clip(head, chars);
    if head.len() < text.len() && !out.ends_with(crate::bounds::CUT_MARKER) {
        out.push(crate::bounds::CUT_MARKER);
    }
    out
}

/// Cuts `text` to at most `chars` characters, marking the cut.
pub fn clip(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Context shared by the aggregators.
pub(crate) struct Ctx<'a> {
    pub window: &'a Window,
    pub timeline: TimelineSpec,
    pub config: &'a DistillConfig,
}

/// Statistics about what was distilled.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DistillStats {
    pub records_in_incident: u64,
    pub records_in_baseline: u64,
    pub records_outside: u64,
    pub log_templates: u64,
    pub records_without_time: u64,
}

/// The result of distillation.
#[derive(Debug, Clone)]
pub struct Distilled {
    /// Ranked evidence `E1..En`, redacted.
    pub evidence: Vec<Evidence>,
    /// Items that did not make the report (beyond `max_evidence`).
    pub dropped: usize,
    pub stats: DistillStats,
    /// Earliest strong anomaly, the reference for proximity.
    pub anchor: DateTime<Utc>,
}

/// Streaming consumer of records that produces evidence.
#[derive(Debug)]
pub struct Distiller {
    window: Window,
    timeline: TimelineSpec,
    config: DistillConfig,
    origins: Vec<Option<Origin>>,
    logs: logs::LogAggregator,
    alb: alb::AlbAggregator,
    audit: audit::AuditAggregator,
    traces: traces::TraceAggregator,
    metrics: metrics::MetricAggregator,
    lambda: lambda::LambdaAggregator,
    flows: flows::FlowAggregator,
    requests: requests::RequestAggregator,
    alarms: alarms::AlarmAggregator,
    stats: DistillStats,
}

impl Distiller {
    pub fn new(window: Window, config: DistillConfig) -> Self {
        let timeline = TimelineSpec::new(&window);
        Distiller {
            logs: logs::LogAggregator::new(&config),
            alb: alb::AlbAggregator::default(),
            audit: audit::AuditAggregator::default(),
            traces: traces::TraceAggregator::default(),
            metrics: metrics::MetricAggregator::default(),
            lambda: lambda::LambdaAggregator::default(),
            flows: flows::FlowAggregator::default(),
            requests: requests::RequestAggregator::default(),
            alarms: alarms::AlarmAggregator::default(),
            window,
            timeline,
            config,
            origins: Vec::new(),
            stats: DistillStats::default(),
        }
    }

    /// Registers an origin; ids must be dense and in registration order.
    pub fn register_origin(&mut self, origin: Origin) -> OriginId {
        self.origins.push(Some(origin));
        (self.origins.len() - 1) as OriginId
    }

    /// Stores an origin whose id was allocated elsewhere (concurrent sinks).
    pub fn insert_origin(&mut self, id: OriginId, origin: Origin) {
        let i = id as usize;
        if self.origins.len() <= i {
            self.origins.resize(i + 1, None);
        }
        self.origins[i] = Some(origin);
    }

    fn count_phase(&mut self, ts: Option<DateTime<Utc>>) -> Option<(Phase, DateTime<Utc>)> {
        let Some(ts) = ts else {
            self.stats.records_without_time += 1;
            return None;
        };
        let phase = self.window.phase(ts);
        match phase {
            Phase::Incident => self.stats.records_in_incident += 1,
            Phase::Baseline => self.stats.records_in_baseline += 1,
            Phase::Outside => {
                self.stats.records_outside += 1;
                return None;
            }
        }
        Some((phase, ts))
    }

    /// Takes one record.
    pub fn accept(&mut self, origin: OriginId, record: Record) {
        self.accept_weighted(origin, record, 1.0);
    }

    /// Takes one record that stands for `weight` records (1 unless it came in a
    /// [`Record::Sampled`]).
    fn accept_weighted(&mut self, origin: OriginId, record: Record, weight: f64) {
        if let Record::Sampled { weight: w, record } = record {
            self.accept_weighted(origin, *record, weight * w);
            return;
        }
        if let Record::AlbCount(c) = &record {
            match c.phase {
                Phase::Incident => self.stats.records_in_incident += c.requests,
                Phase::Baseline => self.stats.records_in_baseline += c.requests,
                Phase::Outside => {
                    self.stats.records_outside += c.requests;
                    return;
                }
            }
            let ctx = Ctx {
                window: &self.window,
                timeline: self.timeline,
                config: &self.config,
            };
            self.alb.add_count(&ctx, origin, c);
            return;
        }
        if let Record::LogPattern(p) = &record {
            // counted by the server per window: no timestamp to place it by
            self.stats.records_in_incident += p.incident_count;
            self.stats.records_in_baseline += p.baseline_count;
            let ctx = Ctx {
                window: &self.window,
                timeline: self.timeline,
                config: &self.config,
            };
            self.logs.add_pattern(&ctx, origin, p);
            return;
        }
        let ts = match &record {
            Record::Log(ev) => Some(ev.ts),
            Record::LogPattern(_) | Record::AlbCount(_) | Record::Sampled { .. } => None,
            Record::Alb(a) => a.time,
            Record::Audit(a) => a.time,
            Record::TraceSummary(s) => s.start,
            Record::Trace(t) => t.spans.iter().filter_map(|s| s.start).min(),
            Record::Metric(m) => {
                // A series spans both windows: its points are counted one by one.
                for (ts, _) in &m.points {
                    match self.window.phase(*ts) {
                        Phase::Incident => self.stats.records_in_incident += 1,
                        Phase::Baseline => self.stats.records_in_baseline += 1,
                        Phase::Outside => self.stats.records_outside += 1,
                    }
                }
                None
            }
        };
        if let Record::Metric(m) = record {
            self.metrics.add(origin, m, &self.window);
            return;
        }
        // A change before the baseline may still be the cause (a deploy that started a slow
        // leak): CloudTrail events within the change lookback go to the audit aggregator.
        if let (Record::Audit(a), Some(t)) = (&record, ts)
            && self.window.phase(t) == Phase::Outside
            && t < self.window.baseline_start
            && chrono::Duration::from_std(self.config.change_lookback)
                .ok()
                .and_then(|lb| self.window.start.checked_sub_signed(lb))
                .is_some_and(|from| t >= from)
        {
            self.stats.records_outside += 1;
            let ctx = Ctx {
                window: &self.window,
                timeline: self.timeline,
                config: &self.config,
            };
            self.audit
                .add(&ctx, origin, Phase::Outside, t, (**a).clone());
            return;
        }
        let Some((phase, ts)) = self.count_phase(ts) else {
            return;
        };
        let ctx = Ctx {
            window: &self.window,
            timeline: self.timeline,
            config: &self.config,
        };
        match record {
            Record::Log(ev) => {
                self.lambda.add(origin, phase, ts, &ev);
                self.flows.add(origin, phase, ts, &ev);
                self.requests.add(origin, phase, ts, &ev);
                self.alarms.add(origin, phase, ts, &ev);
                self.logs.add(&ctx, origin, phase, ts, &ev, weight)
            }
            Record::Alb(a) => self.alb.add(&ctx, origin, phase, ts, &a),
            Record::Audit(a) => self.audit.add(&ctx, origin, phase, ts, *a),
            Record::TraceSummary(s) => {
                self.traces.add_summary(&ctx, origin, phase, ts, &s, weight);
            }
            Record::Trace(t) => self.traces.add_trace(&ctx, origin, phase, ts, &t),
            Record::Metric(_)
            | Record::LogPattern(_)
            | Record::AlbCount(_)
            | Record::Sampled { .. } => {}
        }
    }

    /// Scores, links, redacts and ranks everything seen.
    pub fn finish(self, redactor: &Redactor) -> Distilled {
        let origins: Vec<Origin> = self
            .origins
            .into_iter()
            .map(|o| {
                o.unwrap_or(Origin {
                    source: String::new(),
                    kind: RecordKind::Logs,
                    locator: Locator::Query {
                        service: String::new(),
                        text: String::new(),
                    },
                })
            })
            .collect();
        let ctx = Ctx {
            window: &self.window,
            timeline: self.timeline,
            config: &self.config,
        };
        let mut items = Vec::new();
        let mut stats = self.stats.clone();
        stats.log_templates = self.logs.template_count() as u64;
        items.extend(self.logs.finish(&ctx, &origins));
        items.extend(self.alb.finish(&ctx, &origins));
        items.extend(self.traces.finish(&ctx, &origins));
        items.extend(self.metrics.finish(&ctx, &origins));
        items.extend(self.lambda.finish(&ctx, &origins));
        items.extend(self.flows.finish(&ctx, &origins));
        items.extend(self.requests.finish(&ctx, &origins));
        items.extend(self.alarms.finish(&ctx, &origins));
        // Changes are scored against the anchor, so it is computed first.
        let anchor = anchor_of(&items, &self.window);
        for e in items.iter_mut() {
            let p = evidence::proximity(e.onset, anchor);
            e.signal.proximity = p;
            e.score = evidence::combine(e.signal.severity, e.signal.anomaly, p);
        }
        items.extend(self.audit.finish(&ctx, &origins, anchor));
        for (i, e) in items.iter_mut().enumerate() {
            e.id = format!("c{i}");
        }
        link::link(&mut items, anchor);
        for e in items.iter_mut() {
            redact_evidence(e, redactor);
        }
        evidence::rank(&mut items);
        let dropped = items.len().saturating_sub(self.config.max_evidence);
        items.truncate(self.config.max_evidence);
        Distilled {
            evidence: items,
            dropped,
            stats,
            anchor,
        }
    }
}

/// How long before the first error a metric shift or a silence may begin and still be taken
/// as the start of the incident (a saturation or a stopped consumer the errors follow).
pub(crate) const PRECURSOR_MINUTES: i64 = 20;

/// Whether an item is an error-class anomaly: new or bursting errors, 5xx, faults, failed
/// calls (not a WARN chatter, a metric or a silence).
pub(crate) fn is_error_anomaly(e: &Evidence) -> bool {
    e.signal.anomaly >= 0.5 && e.signal.severity >= 0.7 && e.signal.z > 0.0
}

/// Whether an item is a precursor kind: a metric that shifted (up, down, a trend, a drop to
/// zero) or a whole log group that went silent. A single template that stops is not one: an
/// old version's lines stop at every deploy.
pub(crate) fn is_precursor(e: &Evidence) -> bool {
    e.signal.anomaly >= 0.5 && (e.kind == EvidenceKind::MetricShift || logs::is_group_silence(e))
}

/// The onset of the incident, the reference for proximity and for the time order of changes.
///
/// The onset rule: the first error-class anomaly ([`is_error_anomaly`]) begins the incident,
/// unless a metric shift or a log group's silence ([`is_precursor`]) began up to
/// [`PRECURSOR_MINUTES`] before it: then that earlier signal does (the errors follow a saturation or a stopped
/// consumer). With no error at all, the earliest precursor does; with neither, the earliest
/// strong anomaly of any kind; else the window start. A noisy new WARN or INFO template is
/// never the onset by itself. Onsets more than 5 minutes before the window are ignored (a
/// chronic shift is not this incident's start).
fn anchor_of(items: &[Evidence], window: &Window) -> DateTime<Utc> {
    let floor = window.start - chrono::Duration::minutes(5);
    let first = |f: &dyn Fn(&Evidence) -> bool| {
        items
            .iter()
            .filter(|e| f(e))
            .filter_map(|e| e.onset)
            .filter(|o| *o >= floor)
            .min()
    };
    let error = first(&is_error_anomaly);
    let precursor = first(&|e: &Evidence| {
        is_precursor(e)
            && e.onset.is_some_and(|o| {
                error.is_none_or(|err| {
                    o <= err && o >= err - chrono::Duration::minutes(PRECURSOR_MINUTES)
                })
            })
    });
    match (error, precursor) {
        (Some(e), Some(p)) => e.min(p),
        (Some(e), None) => e,
        (None, Some(p)) => p,
        (None, None) => first(&|e: &Evidence| e.signal.anomaly >= 0.5 && e.signal.severity >= 0.6)
            .unwrap_or(window.start),
    }
}

fn redact_evidence(e: &mut Evidence, r: &Redactor) {
    let fix = |s: &mut String| {
        if let std::borrow::Cow::Owned(new) = r.redact(s) {
            *s = new;
        }
    };
    fix(&mut e.title);
    for s in e.samples.iter_mut() {
        fix(s);
    }
    if let Some(d) = e.detail.as_mut() {
        fix(d);
    }
    fix(&mut e.reproduce);
    for s in e.resources.iter_mut() {
        fix(s);
    }
}

/// Locators of an item's origins, for `reproduce`.
pub(crate) fn locators<'a>(origins: &'a [Origin], ids: &[OriginId]) -> Vec<&'a Locator> {
    ids.iter()
        .filter_map(|i| origins.get(*i as usize))
        .map(|o| &o.locator)
        .collect()
}

/// Source name of an item's first origin.
pub(crate) fn source_name(origins: &[Origin], ids: &[OriginId], kind: RecordKind) -> String {
    ids.first()
        .and_then(|i| origins.get(*i as usize))
        .map(|o| o.source.clone())
        .unwrap_or_else(|| kind.as_str().to_string())
}

/// Adds `id` to a bounded origin list.
pub(crate) fn note_origin(list: &mut Vec<OriginId>, id: OriginId) {
    if list.len() < 4 && !list.contains(&id) {
        list.push(id);
    }
}

/// Formats a rate comparison like `812 vs 0 in the baseline (new)`.
pub(crate) fn versus(incident: u64, baseline: u64, window: &Window) -> String {
    if baseline == 0 {
        return format!("{incident} in the incident window, none in the baseline (new)");
    }
    let ri = incident as f64 / window.incident_secs();
    let rb = baseline as f64 / window.baseline_secs();
    format!(
        "{incident} in the incident window vs {baseline} in the baseline (rate ×{:.1})",
        ri / rb
    )
}

/// Human form of a duration between two instants, like `2m 31s`.
pub fn human_delta(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let secs = (to - from).num_seconds().unsigned_abs();
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

/// Counts per key with a bound on distinct keys (the rest go to `other`).
#[derive(Debug, Clone, Default)]
pub(crate) struct BoundedCounter {
    map: BTreeMap<String, u64>,
    other: u64,
}

impl BoundedCounter {
    pub fn add(&mut self, key: &str, cap: usize) {
        self.add_n(key, 1, cap);
    }

    pub fn add_n(&mut self, key: &str, n: u64, cap: usize) {
        let cut;
        let key = if key.len() > KEY_BYTES {
            cut = crate::bounds::cut(key, KEY_BYTES);
            cut.as_str()
        } else {
            key
        };
        if let Some(v) = self.map.get_mut(key) {
            *v += n;
        } else if self.map.len() < cap {
            self.map.insert(key.to_string(), n);
        } else {
            self.other += n;
        }
    }

    /// The `n` most frequent keys.
    pub fn top(&self, n: usize) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self.map.iter().map(|(k, c)| (k.as_str(), *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(n);
        v
    }

    pub fn describe(&self, n: usize) -> String {
        let mut parts: Vec<String> = self
            .top(n)
            .iter()
            .map(|(k, c)| format!("{k} ×{c}"))
            .collect();
        let shown: u64 = self.top(n).iter().map(|(_, c)| c).sum();
        let rest = self.total() - shown;
        if rest > 0 {
            parts.push(format!("others ×{rest}"));
        }
        parts.join(", ")
    }

    pub fn total(&self) -> u64 {
        self.map.values().sum::<u64>() + self.other
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod cause_tests {
    //! The cause rules end to end through the distiller: routine AWS activity, the time order
    //! of changes, the change lookback, silences and the onset rule.
    use super::*;
    use crate::record::{AuditEvent, LogEvent, MetricSeries};
    use std::sync::Arc;

    fn window() -> Window {
        let s = crate::time::parse_timestamp("2025-04-08T10:00:00Z").unwrap();
        Window::with_baseline(
            s,
            s + chrono::Duration::minutes(30),
            std::time::Duration::from_secs(3600),
        )
        .unwrap()
    }

    fn at(w: &Window, secs: i64) -> DateTime<Utc> {
        w.start + chrono::Duration::seconds(secs)
    }

    fn log(w: &Window, secs: i64, group: &str, msg: &str) -> Record {
        Record::Log(LogEvent {
            ts: at(w, secs),
            group: Arc::from(group),
            stream: None,
            message: msg.into(),
        })
    }

    fn call(w: &Window, secs: i64, name: &str, identity_type: &str, actor: &str) -> Record {
        Record::Audit(Box::new(AuditEvent {
            time: Some(at(w, secs)),
            event_source: "x.amazonaws.com".into(),
            event_name: name.into(),
            identity_type: identity_type.into(),
            actor: actor.into(),
            source_ip: "10.0.1.5".into(),
            read_only: Some(false),
            resources: vec!["orders".into()],
            ..Default::default()
        }))
    }

    /// 40 new errors in `/ecs/orders` from `onset` seconds after the start.
    fn errors(d: &mut Distiller, w: &Window, onset: i64) {
        for i in 0..40 {
            d.accept(
                0,
                log(
                    w,
                    onset + i * 20,
                    "/ecs/orders",
                    "ERROR KeyError: 'address'",
                ),
            );
        }
    }

    #[test]
    fn routine_calls_are_summarised_and_a_pipeline_deploy_leads() {
        let w = window();
        let mut d = Distiller::new(w, DistillConfig::default());
        // every task start: a log stream and a role session, a new session each time
        for i in 0..50 {
            let secs = 60 + i * 3;
            let session = format!("orders-task-role/{i:032x}");
            d.accept(
                0,
                call(&w, secs, "CreateLogStream", "AssumedRole", &session),
            );
            d.accept(
                0,
                call(
                    &w,
                    secs,
                    "AssumeRole",
                    "AWSService",
                    "ecs-tasks.amazonaws.com",
                ),
            );
            d.accept(
                0,
                call(
                    &w,
                    secs,
                    "GenerateDataKey",
                    "AWSService",
                    "sqs.amazonaws.com",
                ),
            );
        }
        d.accept(
            0,
            call(
                &w,
                70,
                "UpdateFunctionCode20150331v2",
                "AssumedRole",
                "codebuild-role/AWSCodeBuild-1",
            ),
        );
        errors(&mut d, &w, 190);
        let out = d.finish(&crate::redact::Redactor::builtin());
        let changes: Vec<&Evidence> = out
            .evidence
            .iter()
            .filter(|e| e.kind == EvidenceKind::AuditChange)
            .collect();
        assert_eq!(
            changes.len(),
            1,
            "routine calls are not changes: {changes:?}"
        );
        assert!(
            changes[0]
                .title
                .starts_with("UpdateFunctionCode20150331v2 on orders by codebuild-role/AWSCodeBuild-1 (deploy change)"),
            "{}",
            changes[0].title
        );
        let rank = out.evidence.iter().position(|e| e.id == changes[0].id);
        assert!(rank.is_some_and(|r| r <= 1), "{rank:?}");
        let summary: Vec<&Evidence> = out
            .evidence
            .iter()
            .filter(|e| e.title.contains("routine AWS calls"))
            .collect();
        assert_eq!(summary.len(), 1);
        assert_eq!(summary[0].count, 150);
        assert!(
            summary[0]
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("CreateLogStream by orders-task-role ×50")),
            "{:?}",
            summary[0].detail
        );
    }

    #[test]
    fn a_change_after_the_onset_is_a_response_not_a_cause() {
        let w = window();
        let mut d = Distiller::new(w, DistillConfig::default());
        errors(&mut d, &w, 120);
        d.accept(0, call(&w, 300, "UpdateTable", "IAMUser", "oncall-tomo"));
        let out = d.finish(&crate::redact::Redactor::builtin());
        assert_eq!(out.anchor, at(&w, 120));
        let c = out
            .evidence
            .iter()
            .find(|e| e.kind == EvidenceKind::AuditChange)
            .unwrap();
        assert!(
            c.title.contains(
                "3m 00s after the first anomaly began (a response or a consequence, not its cause)"
            ),
            "{}",
            c.title
        );
        assert_eq!(c.signal.anomaly, 0.0);
        assert!(c.links.is_empty(), "never linked as a cause: {:?}", c.links);
        assert_eq!(out.evidence[0].kind, EvidenceKind::LogTemplate);
    }

    #[test]
    fn a_deploy_before_the_baseline_is_kept_within_the_change_lookback() {
        let w = window();
        let run = |lookback_h: u64| {
            let mut d = Distiller::new(
                w,
                DistillConfig {
                    change_lookback: std::time::Duration::from_secs(lookback_h * 3600),
                    ..DistillConfig::default()
                },
            );
            // 90 minutes before the start: before the 60-minute baseline
            d.accept(
                0,
                call(
                    &w,
                    -5400,
                    "UpdateService",
                    "AssumedRole",
                    "codepipeline-deploy/run-1",
                ),
            );
            errors(&mut d, &w, 120);
            d.finish(&crate::redact::Redactor::builtin())
        };
        let out = run(6);
        let c = out
            .evidence
            .iter()
            .find(|e| e.kind == EvidenceKind::AuditChange)
            .unwrap();
        assert!(
            c.title.contains("1h 32m before the first anomaly"),
            "{}",
            c.title
        );
        // exp(-92 / 45): still a suspect
        assert!((c.signal.proximity - (-92.0f64 / 45.0).exp()).abs() < 1e-3);
        assert_eq!(out.stats.records_outside, 1);
        let none = run(0);
        assert!(
            none.evidence
                .iter()
                .all(|e| e.kind != EvidenceKind::AuditChange),
            "a lookback of 0 looks no further than the baseline"
        );
    }

    #[test]
    fn a_silent_log_group_is_an_anomaly_with_its_stop_time_and_the_onset() {
        let w = window();
        let mut d = Distiller::new(w, DistillConfig::default());
        // a consumer logging every 30 s, which stops 5 minutes into the window
        for i in 0..130 {
            let secs = -3600 + i * 30;
            d.accept(0, log(&w, secs, "/ecs/worker", "INFO fulfilled order 12"));
        }
        // a WARN that begins 4 minutes later (orders pending) is not the onset
        for i in 0..20 {
            d.accept(
                0,
                log(&w, 540 + i * 60, "/ecs/api", "WARN order 7 still pending"),
            );
        }
        let out = d.finish(&crate::redact::Redactor::builtin());
        let silent = out
            .evidence
            .iter()
            .find(|e| e.title.contains("whole log group went silent"))
            .unwrap();
        assert_eq!(
            silent.title,
            "[/ecs/worker] stopped: the whole log group went silent at 10:04:30Z (120 lines in the baseline, 10 in the incident window, none since)"
        );
        assert_eq!(silent.onset, Some(at(&w, 270)));
        assert_eq!(out.anchor, at(&w, 270));
        assert_eq!(out.evidence[0].id, silent.id);
    }

    /// One ALB request to `tg` at `secs`.
    fn request(w: &Window, secs: i64, tg: &str) -> Record {
        Record::Alb(Box::new(crate::record::AlbAccessLog {
            time: Some(at(w, secs)),
            elb_status_code: Some(200),
            target_status_code: Some(200),
            target_processing_time: 0.02,
            method: "GET".into(),
            url: "https://api.example.com:443/v1/orders".into(),
            target_group_arn: format!(
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/{tg}/73e2d6bc24d8a067"
            ),
            ..Default::default()
        }))
    }

    #[test]
    fn traffic_that_vanishes_is_an_anomaly_with_its_stop_time() {
        let w = window();
        let mut d = Distiller::new(w, DistillConfig::default());
        // orders-tg gets a request every 30 s until 4m 30s into the window; cart-tg all along
        for i in 0..130 {
            d.accept(0, request(&w, -3600 + i * 30, "orders-tg"));
        }
        for i in 0..180 {
            d.accept(0, request(&w, -3600 + i * 30 + 7, "cart-tg"));
        }
        let out = d.finish(&crate::redact::Redactor::builtin());
        let stopped: Vec<&Evidence> = out
            .evidence
            .iter()
            .filter(|e| e.title.contains("traffic stopped"))
            .collect();
        assert_eq!(stopped.len(), 1, "{:?}", out.evidence);
        let e = stopped[0];
        assert_eq!(
            e.title,
            "ALB orders-tg: traffic stopped at 10:04:30Z (120 requests in the baseline, 10 in the incident window, none since)"
        );
        assert_eq!(e.onset, Some(at(&w, 270)));
        assert_eq!(e.kind, EvidenceKind::Alb);
        assert!(
            e.signal.z < 0.0 && e.signal.anomaly >= 0.5,
            "{:?}",
            e.signal
        );
        assert_eq!(
            e.detail.as_deref(),
            Some("about 51 requests expected since at the baseline rate; none arrived")
        );
        assert_eq!(out.evidence[0].id, e.id);
    }

    #[test]
    fn a_saturation_before_the_errors_is_the_onset_and_ranks_first() {
        let w = window();
        let mut d = Distiller::new(w, DistillConfig::default());
        // CPU flat at 30 for the baseline, 100 from 3 minutes into the window
        let points = (-60..30)
            .map(|m| {
                let v = if m >= 3 {
                    100.0
                } else {
                    30.0 + f64::from((m % 3) as i32)
                };
                (at(&w, m * 60), v)
            })
            .collect();
        d.accept(
            0,
            Record::Metric(MetricSeries {
                id: "m1".into(),
                label: "CPUUtilization (shop-db)".into(),
                points,
            }),
        );
        errors(&mut d, &w, 330);
        let out = d.finish(&crate::redact::Redactor::builtin());
        assert_eq!(out.anchor, at(&w, 180));
        assert!(
            out.evidence[0]
                .title
                .starts_with("Metric CPUUtilization (shop-db)")
        );
        assert_eq!(out.evidence[0].links, vec!["E2".to_string()]);
        assert!(out.evidence[0].link_reasons[0].contains("errors followed it"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_show_the_variety_of_their_values() {
        // Keys: [table, duration, stack tail]; the duration differs on every line.
        let line = |table: u64, ms: u64, tail: u64| {
            (
                format!("save failed table={table} in {ms}ms tail={tail}"),
                vec![table, 1000 + ms, 2000 + tail],
            )
        };
        let mut s = Samples::default();
        // The first 100 lines all hit table 1 with stack tail 7; then tables 2 and 3 and
        // another stack tail show up once each.
        let mut offers: Vec<(String, Vec<u64>)> = (0..100).map(|ms| line(1, ms, 7)).collect();
        offers.push(line(2, 500, 7));
        offers.extend((0..50).map(|ms| line(1, 600 + ms, 7)));
        offers.push(line(1, 700, 8));
        offers.push(line(3, 800, 7));
        offers.extend((0..50).map(|ms| line(1, 900 + ms, 7)));
        for (text, keys) in &offers {
            s.offer_varied(3, 1200, Phase::Incident, text, keys);
        }
        let got = s.take(3);
        // Each of the three tables and both stack tails show; no sample is replaced by yet
        // another table-1 line of the same stack tail (only the duration would differ).
        assert_eq!(
            got,
            vec![
                "save failed table=3 in 800ms tail=7".to_owned(),
                "save failed table=1 in 700ms tail=8".to_owned(),
                "save failed table=2 in 500ms tail=7".to_owned(),
            ]
        );
        // Without keys, samples are the first distinct lines, as before.
        let mut plain = Samples::default();
        for (text, _) in &offers {
            plain.offer(3, 1200, Phase::Incident, text);
        }
        assert_eq!(plain.take(3)[2], "save failed table=1 in 2ms tail=7");
    }

    #[test]
    fn samples_and_counted_keys_are_capped_in_bytes() {
        let mut s = Samples::default();
        // 1,200 characters of 4 bytes each would be 4,800 bytes: the byte cap comes first
        s.offer(3, 1200, Phase::Incident, &"😀".repeat(5000));
        s.offer(3, 1200, Phase::Incident, &"x".repeat(1_000_000));
        s.offer(3, 1200, Phase::Incident, "short");
        let got = s.take(3);
        assert_eq!(got.len(), 3);
        assert!(got[0].len() <= SAMPLE_BYTES + 3 && got[0].ends_with('…'));
        assert_eq!(
            got[1].chars().count(),
            1201,
            "1,200 characters and the marker"
        );
        assert_eq!(got[2], "short");
        let mut c = BoundedCounter::default();
        let long = "k".repeat(1_000_000);
        c.add(&long, 10);
        c.add(&long, 10);
        let top = c.top(1);
        assert_eq!(top[0].1, 2, "a cut key still counts as one key");
        assert_eq!(top[0].0.len(), KEY_BYTES + 3);
    }
}
