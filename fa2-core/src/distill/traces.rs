//! X-Ray → fault, error and throttle root causes grouped by service and exception (from
//! trace summaries and from the spans of full traces), and latency percentiles per service.
//!
//! A root cause outside the service that received the request is a **faulting downstream**:
//! in a summary, a root-cause service other than the entry point or a remote entity; in a
//! full trace, a subsegment of namespace `remote` or `aws` (a call to another service or to
//! AWS). Its item's detail begins with [`DOWNSTREAM`] and its name ([`downstream_of`]):
//! `link` ranks it above the callers' errors it explains.

use super::histogram::{Histogram, latency_evidence};
use super::{Ctx, PhaseCounts, Samples, note_origin, versus};
use crate::evidence::{Evidence, EvidenceKind};
use crate::record::{RecordKind, RootCause, Trace, TraceSummary};
use crate::request::Phase;
use crate::telemetry::{Origin, OriginId};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

const MAX_KEYS: usize = 500;
const MAX_SERVICES: usize = 100;
/// Bytes kept of a service, entity or exception name in a key: up to [`MAX_KEYS`] keys are
/// kept, and a name is shown once in a title.
const NAME_BYTES: usize = 256;
/// Bytes kept of the exception message of a cause (the report shows a few hundred).
const MESSAGE_BYTES: usize = 1024;
/// How the detail of a faulting downstream's item begins (followed by its name and `;`).
pub(crate) const DOWNSTREAM: &str = "faulting downstream";

/// The name of the downstream an X-Ray item blames, when it is a faulting downstream.
pub(crate) fn downstream_of(e: &Evidence) -> Option<&str> {
    if e.kind != EvidenceKind::TraceFault {
        return None;
    }
    let rest = e
        .detail
        .as_deref()?
        .strip_prefix(DOWNSTREAM)?
        .strip_prefix(' ')?;
    rest.split(';').next().filter(|n| !n.is_empty())
}

/// `(kind, service, entity, exception)`
type CauseKey = (&'static str, String, String, String);

#[derive(Debug)]
struct Cause {
    counts: PhaseCounts,
    message: String,
    samples: Samples,
    origins: Vec<OriginId>,
    from_full_traces: bool,
    /// The root cause lies outside the service that received the request.
    downstream: bool,
}

#[derive(Debug, Default)]
pub(crate) struct TraceAggregator {
    causes: BTreeMap<CauseKey, Cause>,
    latency: BTreeMap<String, (Histogram, Histogram, Vec<OriginId>)>,
}

fn severity(kind: &str) -> f64 {
    match kind {
        "fault" => 0.85,
        "throttle" => 0.75,
        _ => 0.55,
    }
}

impl TraceAggregator {
    #[allow(clippy::too_many_arguments)]
    fn count(
        &mut self,
        ctx: &Ctx<'_>,
        origin: OriginId,
        phase: Phase,
        ts: DateTime<Utc>,
        mut key: CauseKey,
        message: &str,
        sample: &str,
        full: bool,
        downstream: bool,
        weight: f64,
    ) {
        for part in [&mut key.1, &mut key.2, &mut key.3] {
            crate::bounds::cut_in_place(part, NAME_BYTES);
        }
        if !self.causes.contains_key(&key) && self.causes.len() >= MAX_KEYS {
            return;
        }
        let c = self.causes.entry(key).or_insert_with(|| Cause {
            counts: PhaseCounts::new(&ctx.timeline),
            message: crate::bounds::cut(message, MESSAGE_BYTES),
            samples: Samples::default(),
            origins: Vec::new(),
            from_full_traces: full,
            downstream,
        });
        c.downstream |= downstream;
        c.counts.add_weighted(&ctx.timeline, phase, ts, weight);
        c.samples
            .offer(ctx.config.samples, ctx.config.sample_chars, phase, sample);
        note_origin(&mut c.origins, origin);
    }

    pub fn add_summary(
        &mut self,
        ctx: &Ctx<'_>,
        origin: OriginId,
        phase: Phase,
        ts: DateTime<Utc>,
        s: &TraceSummary,
        weight: f64,
    ) {
        let sample = |rc: &RootCause| {
            format!(
                "trace {} {} {} → {} in {}{}: {} {}",
                s.id,
                s.http_method,
                s.http_url,
                s.http_status.map_or("-".into(), |c| c.to_string()),
                rc.entity,
                if rc.remote { " (remote)" } else { "" },
                rc.exception,
                rc.message
            )
        };
        let groups: [(&'static str, &Vec<RootCause>, bool); 3] = [
            ("fault", &s.fault_root_causes, s.has_fault),
            ("error", &s.error_root_causes, s.has_error),
            ("throttle", &s.throttle_root_causes, s.has_throttle),
        ];
        for (kind, causes, flag) in groups {
            // one count per trace and cause
            let mut seen: Vec<CauseKey> = Vec::new();
            for rc in causes {
                let key = (
                    kind,
                    rc.service.clone(),
                    rc.entity.clone(),
                    rc.exception.clone(),
                );
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key.clone());
                let downstream =
                    rc.remote || (!s.entry_point.is_empty() && rc.service != s.entry_point);
                self.count(
                    ctx,
                    origin,
                    phase,
                    ts,
                    key,
                    &rc.message,
                    &sample(rc),
                    false,
                    downstream,
                    weight,
                );
            }
            if flag && causes.is_empty() && kind == "fault" {
                let key = (
                    kind,
                    s.entry_point.clone(),
                    s.entry_point.clone(),
                    String::new(),
                );
                let sample = format!(
                    "trace {} {} {} → {}",
                    s.id,
                    s.http_method,
                    s.http_url,
                    s.http_status.map_or("-".into(), |c| c.to_string())
                );
                self.count(
                    ctx, origin, phase, ts, key, "", &sample, false, false, weight,
                );
            }
        }
        let svc = if s.entry_point.is_empty() {
            "(unknown)".to_string()
        } else {
            crate::bounds::cut(&s.entry_point, NAME_BYTES)
        };
        let svc = svc.as_str();
        // Percentiles of an even sample estimate those of its window: no weighting.
        if self.latency.contains_key(svc) || self.latency.len() < MAX_SERVICES {
            let l = self.latency.entry(svc.to_string()).or_default();
            if phase == Phase::Incident {
                l.0.add(s.response_time);
            } else {
                l.1.add(s.response_time);
            }
            note_origin(&mut l.2, origin);
        }
    }

    pub fn add_trace(
        &mut self,
        ctx: &Ctx<'_>,
        origin: OriginId,
        phase: Phase,
        ts: DateTime<Utc>,
        t: &Trace,
    ) {
        let mut seen: Vec<CauseKey> = Vec::new();
        for span in &t.spans {
            let kind = if span.fault {
                "fault"
            } else if span.throttle {
                "throttle"
            } else if span.error {
                "error"
            } else {
                continue;
            };
            let (ex, msg) = span.exceptions.first().cloned().unwrap_or_default();
            if ex.is_empty() && span.name == span.segment {
                // the segment only propagates its subsegment's failure
                continue;
            }
            let key = (kind, span.segment.clone(), span.name.clone(), ex.clone());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key.clone());
            // a subsegment calling another service (`remote`) or AWS (`aws`):
            // https://docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html
            let downstream =
                span.name != span.segment && matches!(span.namespace.as_str(), "remote" | "aws");
            let sample = format!(
                "trace {} span {} in {}: {} {}",
                t.id, span.name, span.segment, ex, msg
            );
            self.count(
                ctx, origin, phase, ts, key, &msg, &sample, true, downstream, 1.0,
            );
        }
    }

    pub fn finish(self, ctx: &Ctx<'_>, origins: &[Origin]) -> Vec<Evidence> {
        let mut out = Vec::new();
        for ((kind, service, entity, exception), c) in self.causes {
            let what = if exception.is_empty() {
                "no recorded exception".to_string()
            } else {
                exception.clone()
            };
            let place = if entity == service || entity.is_empty() {
                service.clone()
            } else {
                format!("{entity} (in {service})")
            };
            let mut e = Evidence::new(
                EvidenceKind::TraceFault,
                super::source_name(origins, &c.origins, RecordKind::Xray),
                format!(
                    "X-Ray {kind} root cause: {what} at {place}: {} traces vs {} in the baseline{}",
                    c.counts.incident,
                    c.counts.baseline,
                    if c.from_full_traces {
                        " (from full traces)"
                    } else {
                        ""
                    }
                ),
            );
            c.counts.fill(&mut e, ctx);
            e.signal = c.counts.signal(ctx.window, severity(kind));
            let blamed = if c.downstream {
                let name = if entity.is_empty() { &service } else { &entity };
                format!("{DOWNSTREAM} {name}; ")
            } else {
                String::new()
            };
            e.detail = Some(format!(
                "{blamed}{}; message: {}",
                versus(c.counts.incident, c.counts.baseline, ctx.window),
                super::clip(&c.message, 200)
            ));
            e.resources = [service.clone(), entity.clone()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            e.samples = c.samples.take(ctx.config.samples);
            let locs = super::locators(origins, &c.origins);
            let needle = if exception.is_empty() {
                entity.clone()
            } else {
                exception.clone()
            };
            e.reproduce = format!(
                "{}  # X-Ray filter expression: {}",
                crate::reproduce::grep_command(&locs, &needle, None),
                xray_filter(kind, &service, &exception)
            );
            e.origins = c.origins;
            out.push(e);
        }
        for (svc, entry) in self.latency {
            let (inc, base, origin_ids): (Histogram, Histogram, Vec<OriginId>) = entry;
            let Some((mut e, b99)) = latency_evidence(
                EvidenceKind::TraceLatency,
                super::source_name(origins, &origin_ids, RecordKind::Xray),
                &format!("X-Ray {svc}: response time"),
                &inc,
                &base,
                0.55,
            ) else {
                continue;
            };
            e.resources = vec![svc.clone()];
            e.reproduce =
                format!("X-Ray filter expression: service(\"{svc}\") AND responsetime > {b99:.3}");
            e.origins = origin_ids;
            out.push(e);
        }
        out
    }
}

/// The X-Ray console filter expression that finds the same traces.
fn xray_filter(kind: &str, service: &str, exception: &str) -> String {
    let mut f = format!("service(\"{service}\") {{ {kind} = true }}");
    if !exception.is_empty() {
        let cause = if kind == "fault" {
            "rootcause.fault"
        } else {
            "rootcause.error"
        };
        f = format!("{f} AND {cause}.exception.name = \"{exception}\"");
    }
    f
}
