//! ALB access logs → per target group: 5xx and 4xx bursts with their codes, path patterns
//! and `error_reason`s, connection failures (`-1` target times), and target latency shifts.
//!
//! Traffic that vanishes is an anomaly too: a target group that had steady requests in the
//! baseline and none since a time in the incident window (the same silence rule as a log
//! group's, `logs::stopped_at`: quiet for at least 5 minutes, ten of its usual gaps and a
//! fifth of the window) is one item with the time its traffic stopped (severity 0.8): the
//! clients, a DNS record or a listener rule no longer reach it.

use super::histogram::{Histogram, latency_evidence};
use super::{BoundedCounter, Ctx, PhaseCounts, Samples, note_origin, versus};
use crate::evidence::{Evidence, EvidenceKind};
use crate::record::{AlbAccessLog, AlbCount, RecordKind};
use crate::request::Phase;
use crate::telemetry::{Origin, OriginId};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Distinct path patterns and codes kept per target group.
const MAX_KEYS: usize = 200;
/// Target groups tracked.
const MAX_TARGET_GROUPS: usize = 64;
/// Bytes kept of a target group name (AWS allows 32 characters; a name that is not one, like a
/// whole odd ARN, is cut rather than kept whole as a key).
const TARGET_GROUP_BYTES: usize = 256;

#[derive(Debug)]
struct GroupStats {
    total_incident: u64,
    total_baseline: u64,
    /// Last request of each window, for the silence rule.
    last_incident: Option<DateTime<Utc>>,
    last_baseline: Option<DateTime<Utc>>,
    err5: PhaseCounts,
    err4: PhaseCounts,
    conn_fail: PhaseCounts,
    codes5: BoundedCounter,
    codes4: BoundedCounter,
    paths5: BoundedCounter,
    paths4: BoundedCounter,
    reasons: BoundedCounter,
    latency_incident: Histogram,
    latency_baseline: Histogram,
    samples5: Samples,
    samples4: Samples,
    samples_conn: Samples,
    origins: Vec<OriginId>,
}

impl GroupStats {
    /// Notes a request at `ts` in `phase`.
    fn saw(&mut self, phase: Phase, ts: DateTime<Utc>) {
        let last = match phase {
            Phase::Incident => &mut self.last_incident,
            Phase::Baseline => &mut self.last_baseline,
            Phase::Outside => return,
        };
        *last = (*last).max(Some(ts));
    }

    fn new(tl: &super::TimelineSpec) -> Self {
        GroupStats {
            total_incident: 0,
            total_baseline: 0,
            last_incident: None,
            last_baseline: None,
            err5: PhaseCounts::new(tl),
            err4: PhaseCounts::new(tl),
            conn_fail: PhaseCounts::new(tl),
            codes5: BoundedCounter::default(),
            codes4: BoundedCounter::default(),
            paths5: BoundedCounter::default(),
            paths4: BoundedCounter::default(),
            reasons: BoundedCounter::default(),
            latency_incident: Histogram::default(),
            latency_baseline: Histogram::default(),
            samples5: Samples::default(),
            samples4: Samples::default(),
            samples_conn: Samples::default(),
            origins: Vec::new(),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct AlbAggregator {
    groups: BTreeMap<String, GroupStats>,
}

/// `/api/orders/123` → `/api/orders/{id}`: ids, numbers, hashes and UUIDs become `{id}`.
pub(crate) fn path_pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let digits = seg.bytes().filter(u8::is_ascii_digit).count();
        let hexish = seg.len() >= 8 && seg.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        if !seg.is_empty() && (digits == seg.len() || hexish || (digits > 0 && seg.len() >= 16)) {
            out.push_str("{id}");
        } else {
            out.push_str(seg);
        }
        if out.len() > 120 {
            out.push('…');
            break;
        }
    }
    out
}

/// [`path_pattern`]'s id rules as a Trino SQL expression over the path `path`, so that
/// Athena's aggregated mode groups paths the way the entries are grouped here: a segment that
/// is all digits, 8 or more hex digits and dashes, or 16 or more characters with a digit,
/// becomes `{id}`. The two must change together; the Athena tests run both on the same rows.
/// (Lengths count characters in SQL and bytes here; they differ only for non-ASCII segments.)
#[cfg(feature = "aws")]
pub(crate) fn path_pattern_sql(path: &str) -> String {
    format!(
        "array_join(transform(split({path}, '/'), s -> CASE WHEN regexp_like(s, '^[0-9]+$') \
OR regexp_like(s, '^[0-9A-Fa-f-]{{8,}}$') OR (length(s) >= 16 AND regexp_like(s, '[0-9]')) \
THEN '{{id}}' ELSE s END), '/')"
    )
}

impl AlbAggregator {
    pub fn add(
        &mut self,
        ctx: &Ctx<'_>,
        origin: OriginId,
        phase: Phase,
        ts: DateTime<Utc>,
        a: &AlbAccessLog,
    ) {
        let tg = crate::bounds::cut(a.target_group(), TARGET_GROUP_BYTES);
        if !self.groups.contains_key(&tg) && self.groups.len() >= MAX_TARGET_GROUPS {
            return self.add_to("(other target groups)", ctx, origin, phase, ts, a);
        }
        self.add_to(&tg, ctx, origin, phase, ts, a);
    }

    /// Takes requests that a query already counted (Athena's aggregation): the same
    /// aggregates, weighted; no latency percentiles or samples can come from counts.
    pub fn add_count(&mut self, ctx: &Ctx<'_>, origin: OriginId, c: &AlbCount) {
        let tl = &ctx.timeline;
        let tg = crate::bounds::cut(&c.target_group, TARGET_GROUP_BYTES);
        let key = if !self.groups.contains_key(&tg) && self.groups.len() >= MAX_TARGET_GROUPS {
            "(other target groups)".to_string()
        } else {
            tg
        };
        let g = self
            .groups
            .entry(key)
            .or_insert_with(|| GroupStats::new(tl));
        note_origin(&mut g.origins, origin);
        let first = c.first_seen.unwrap_or(ctx.window.start);
        let last = c.last_seen.unwrap_or(first);
        let incident = c.phase == Phase::Incident;
        if incident {
            g.total_incident += c.requests;
        } else {
            g.total_baseline += c.requests;
        }
        if c.requests > 0 {
            g.saw(c.phase, last);
        }
        let code = c.elb_status_code.unwrap_or(0);
        let path = format!("{} {}", c.method, path_pattern(&c.path));
        if (500..600).contains(&code) {
            g.err5.add_n(tl, c.phase, first, last, c.requests);
            if incident {
                g.codes5.add_n(&code.to_string(), c.requests, MAX_KEYS);
                g.paths5.add_n(&path, c.requests, MAX_KEYS);
            }
        } else if (400..500).contains(&code) {
            g.err4.add_n(tl, c.phase, first, last, c.requests);
            if incident {
                g.codes4.add_n(&code.to_string(), c.requests, MAX_KEYS);
                g.paths4.add_n(&path, c.requests, MAX_KEYS);
            }
        }
        if code >= 500 {
            g.conn_fail
                .add_n(tl, c.phase, first, last, c.no_target_response);
        }
    }

    fn add_to(
        &mut self,
        tg: &str,
        ctx: &Ctx<'_>,
        origin: OriginId,
        phase: Phase,
        ts: DateTime<Utc>,
        a: &AlbAccessLog,
    ) {
        let tl = &ctx.timeline;
        let g = self
            .groups
            .entry(tg.to_string())
            .or_insert_with(|| GroupStats::new(tl));
        note_origin(&mut g.origins, origin);
        let incident = phase == Phase::Incident;
        if incident {
            g.total_incident += 1;
        } else {
            g.total_baseline += 1;
        }
        g.saw(phase, ts);
        if a.target_processing_time >= 0.0 {
            if incident {
                g.latency_incident.add(a.target_processing_time);
            } else {
                g.latency_baseline.add(a.target_processing_time);
            }
        }
        let code = a.elb_status_code.unwrap_or(0);
        // each field within the sample's cap: a megabyte URL is not copied to be cut
        let field = |s: &'_ str| crate::bounds::prefix(s, super::SAMPLE_BYTES).to_string();
        let sample = || {
            format!(
                "{} {} {} {} target={} target_status={} target_time={} error_reason={}",
                crate::time::rfc3339(ts),
                code,
                field(&a.method),
                field(&a.url),
                field(&a.target),
                a.target_status_code
                    .map_or("-".to_string(), |c| c.to_string()),
                a.target_processing_time,
                if a.error_reason.is_empty() {
                    "-".to_string()
                } else {
                    field(&a.error_reason)
                }
            )
        };
        let cap = ctx.config.samples;
        let chars = ctx.config.sample_chars;
        if (500..600).contains(&code) {
            g.err5.add(tl, phase, ts);
            if incident {
                g.codes5.add(&code.to_string(), MAX_KEYS);
                g.paths5.add(
                    &format!("{} {}", a.method, path_pattern(a.path())),
                    MAX_KEYS,
                );
            }
            g.samples5.offer(cap, chars, phase, &sample());
        } else if (400..500).contains(&code) {
            g.err4.add(tl, phase, ts);
            if incident {
                g.codes4.add(&code.to_string(), MAX_KEYS);
                g.paths4.add(
                    &format!("{} {}", a.method, path_pattern(a.path())),
                    MAX_KEYS,
                );
            }
            g.samples4.offer(cap, chars, phase, &sample());
        }
        if a.target_processing_time < 0.0 && code >= 500 {
            g.conn_fail.add(tl, phase, ts);
            g.samples_conn.offer(cap, chars, phase, &sample());
        }
        if incident && !a.error_reason.is_empty() && a.error_reason != "-" {
            g.reasons.add(&a.error_reason, MAX_KEYS);
        }
    }

    pub fn finish(self, ctx: &Ctx<'_>, origins: &[Origin]) -> Vec<Evidence> {
        let mut out = Vec::new();
        for (tg, g) in self.groups {
            let source = super::source_name(origins, &g.origins, RecordKind::Alb);
            let locs = super::locators(origins, &g.origins);
            let tg_filter = if tg.starts_with('(') {
                String::new()
            } else {
                format!(" && $0 ~ /targetgroup\\/{tg}\\//")
            };
            let pct = |n: u64, total: u64| {
                if total == 0 {
                    0.0
                } else {
                    n as f64 * 100.0 / total as f64
                }
            };
            let mk = |kind: EvidenceKind,
                      title: String,
                      counts: &PhaseCounts,
                      severity: f64,
                      detail: String,
                      samples: Samples,
                      awk: &str| {
                let mut e = Evidence::new(kind, source.clone(), title);
                counts.fill(&mut e, ctx);
                e.signal = counts.signal(ctx.window, severity);
                e.detail = Some(detail);
                e.samples = samples.take(ctx.config.samples);
                e.resources = vec![tg.clone()];
                e.reproduce = awk_command(&locs, &format!("{awk}{tg_filter}"));
                e.origins = g.origins.clone();
                e
            };
            if g.err5.incident + g.err5.baseline > 0 {
                let mut detail = format!(
                    "{}; codes: {}; paths: {}",
                    versus(g.err5.incident, g.err5.baseline, ctx.window),
                    g.codes5.describe(4),
                    g.paths5.describe(4)
                );
                if g.reasons.total() > 0 {
                    detail.push_str(&format!("; error_reason: {}", g.reasons.describe(4)));
                }
                if g.err5.incident > 0 {
                    detail.push_str(&format!(
                        ", peak {:.0}/min",
                        g.err5.peak_per_minute(&ctx.timeline)
                    ));
                }
                let title = format!(
                    "ALB {tg}: {} HTTP 5xx ({:.1}% of {} requests) vs {} ({:.2}%) in the baseline",
                    g.err5.incident,
                    pct(g.err5.incident, g.total_incident),
                    g.total_incident,
                    g.err5.baseline,
                    pct(g.err5.baseline, g.total_baseline)
                );
                out.push(mk(
                    EvidenceKind::Alb,
                    title,
                    &g.err5,
                    0.8,
                    detail,
                    g.samples5.clone(),
                    "$9 ~ /^5/",
                ));
            }
            if g.err4.incident + g.err4.baseline > 0 {
                let detail = format!(
                    "{}; codes: {}; paths: {}",
                    versus(g.err4.incident, g.err4.baseline, ctx.window),
                    g.codes4.describe(4),
                    g.paths4.describe(4)
                );
                let title = format!(
                    "ALB {tg}: {} HTTP 4xx ({:.1}%) vs {} ({:.2}%) in the baseline",
                    g.err4.incident,
                    pct(g.err4.incident, g.total_incident),
                    g.err4.baseline,
                    pct(g.err4.baseline, g.total_baseline)
                );
                out.push(mk(
                    EvidenceKind::Alb,
                    title,
                    &g.err4,
                    0.45,
                    detail,
                    g.samples4.clone(),
                    "$9 ~ /^4/",
                ));
            }
            if g.conn_fail.incident + g.conn_fail.baseline > 0 {
                let title = format!(
                    "ALB {tg}: {} requests failed to reach a target (target_processing_time -1) vs {} in the baseline",
                    g.conn_fail.incident, g.conn_fail.baseline
                );
                let detail = format!(
                    "{}; the load balancer could not connect to or got no response from the target",
                    versus(g.conn_fail.incident, g.conn_fail.baseline, ctx.window)
                );
                out.push(mk(
                    EvidenceKind::Alb,
                    title,
                    &g.conn_fail,
                    0.85,
                    detail,
                    g.samples_conn.clone(),
                    "$7 == -1",
                ));
            }
            if let Some((mut e, b99)) = latency_evidence(
                EvidenceKind::AlbLatency,
                source.clone(),
                &format!("ALB {tg}: target response time"),
                &g.latency_incident,
                &g.latency_baseline,
                0.6,
            ) {
                e.resources = vec![tg.clone()];
                e.reproduce = awk_command(&locs, &format!("$7 > {b99:.3}{tg_filter}"));
                e.origins = g.origins.clone();
                out.push(e);
            }
            if let Some(e) = traffic_silence(ctx, &g, &tg, &source, &locs, &tg_filter) {
                out.push(e);
            }
        }
        out
    }
}

/// A target group whose traffic vanished: steady requests in the baseline, none since a
/// time in the incident window (see the module docs).
fn traffic_silence(
    ctx: &Ctx<'_>,
    g: &GroupStats,
    tg: &str,
    source: &str,
    locs: &[&crate::telemetry::Locator],
    tg_filter: &str,
) -> Option<Evidence> {
    let mut total = PhaseCounts::new(&ctx.timeline);
    total.incident = g.total_incident;
    total.baseline = g.total_baseline;
    total.last_incident = g.last_incident;
    total.last_baseline = g.last_baseline;
    let (at, missing) = super::logs::stopped_at(&total, ctx)?;
    let mut e = Evidence::new(
        EvidenceKind::Alb,
        source.to_string(),
        format!(
            "ALB {tg}: traffic stopped at {} ({} requests in the baseline, {} in the incident window, none since)",
            at.format("%H:%M:%SZ"),
            g.total_baseline,
            g.total_incident
        ),
    );
    e.count = g.total_incident;
    e.baseline_count = g.total_baseline;
    e.first_seen = g.last_baseline;
    e.last_seen = g.last_incident.or(g.last_baseline);
    e.onset = Some(at);
    e.resources = vec![tg.to_string()];
    let z = -missing.sqrt();
    e.signal = crate::evidence::Signal {
        severity: 0.8,
        anomaly: crate::evidence::anomaly_from_z(-z),
        proximity: 0.0,
        z,
        new: false,
    };
    e.detail = Some(format!(
        "about {missing:.0} requests expected since at the baseline rate; none arrived"
    ));
    // the requests since the stop: none
    e.reproduce = awk_command(
        locs,
        &format!("$2 >= \"{}\"{tg_filter}", crate::time::rfc3339(at)),
    );
    e.origins = g.origins.clone();
    Some(e)
}

fn awk_command(locs: &[&crate::telemetry::Locator], cond: &str) -> String {
    let files: Vec<String> = locs
        .iter()
        .filter_map(|l| match l {
            crate::telemetry::Locator::File { path, .. } => {
                Some(crate::reproduce::shell_quote(&path.display().to_string()))
            }
            crate::telemetry::Locator::Query { .. } => None,
        })
        .collect();
    if files.is_empty() {
        return crate::reproduce::grep_command(locs, cond, None);
    }
    format!(
        "zcat -f {} | awk {}",
        files.join(" "),
        crate::reproduce::shell_quote(&format!("{cond} {{print}}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns() {
        assert_eq!(path_pattern("/api/products/931"), "/api/products/{id}");
        assert_eq!(path_pattern("/api/cart"), "/api/cart");
        assert_eq!(
            path_pattern("/u/3d884924-f2d4-9489-d6ac-f3edca3e1bf1/x"),
            "/u/{id}/x"
        );
        assert_eq!(path_pattern("/"), "/");
        assert_eq!(path_pattern("/v2/items"), "/v2/items");
    }
}
