//! CloudTrail events → changes (mutating calls, by people and by automation), failed calls,
//! and one line summarising read-only noise.
//!
//! A change has no baseline rate to burst above: it matters by how shortly it happened before
//! the anchor (the first strong anomaly). Changes repeated at a steady rate (automation that
//! runs every minute) are discounted.

use super::{BoundedCounter, Ctx, PhaseCounts, human_delta, note_origin};
use crate::evidence::{self, Evidence, EvidenceKind};
use crate::record::{AuditEvent, RecordKind};
use crate::request::Phase;
use crate::telemetry::{Origin, OriginId};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Distinct change and error groups kept.
const MAX_GROUPS: usize = 1000;
/// Occurrence times kept per group.
const MAX_TIMES: usize = 64;
/// How far before the anchor a change is considered a suspect.
const LOOKBACK_MINUTES: f64 = 60.0;
/// Bytes kept of each short field of an event (names, actor, ARNs, IPs, user agent): the
/// first event of each of up to 2 × [`MAX_GROUPS`] groups is kept whole, and its key repeats
/// four of these fields, so each must cost a bounded number of bytes whatever the source sent.
/// The longest ARNs and user agents AWS writes fit.
const FIELD_BYTES: usize = 512;
/// Bytes kept of an error message (the report shows 200 characters of it).
const MESSAGE_BYTES: usize = 1024;
/// Resources kept per event, and bytes kept of each.
const MAX_RESOURCES: usize = 8;

/// Cuts every string of `e` to its cap ([`FIELD_BYTES`], [`MESSAGE_BYTES`], and the
/// parsers' `MAX_PARAMS_LEN` for `requestParameters`), marking each cut with `…`: every
/// source's events (files, Athena rows, API lookups, third-party sources) pass here.
fn bound_event(e: &mut AuditEvent) {
    use crate::bounds::cut_in_place;
    use crate::telemetry::files::cloudtrail::MAX_PARAMS_LEN;
    for f in [
        &mut e.event_source,
        &mut e.event_name,
        &mut e.region,
        &mut e.source_ip,
        &mut e.user_agent,
        &mut e.identity_type,
        &mut e.identity_arn,
        &mut e.actor,
        &mut e.error_code,
        &mut e.event_id,
    ] {
        cut_in_place(f, FIELD_BYTES);
    }
    cut_in_place(&mut e.error_message, MESSAGE_BYTES);
    cut_in_place(&mut e.request_parameters, MAX_PARAMS_LEN);
    e.resources.truncate(MAX_RESOURCES);
    e.resources.shrink_to_fit();
    for r in e.resources.iter_mut() {
        cut_in_place(r, FIELD_BYTES);
    }
}

#[derive(Debug)]
struct Group {
    counts: PhaseCounts,
    times: Vec<DateTime<Utc>>,
    first: AuditEvent,
    source_ips: BoundedCounter,
    origins: Vec<OriginId>,
}

#[derive(Debug, Default)]
pub(crate) struct AuditAggregator {
    changes: BTreeMap<(String, String, String, String), Group>,
    errors: BTreeMap<(String, String, String, String), Group>,
    read_only: BoundedCounter,
    read_only_counts: Option<PhaseCounts>,
    dropped_groups: u64,
    origins: Vec<OriginId>,
}

/// Whether a person (not an AWS service) made the call.
fn by_person(e: &AuditEvent) -> bool {
    let ua = e.user_agent.to_ascii_lowercase();
    let service_call = e.source_ip.ends_with(".amazonaws.com") || e.identity_type == "AWSService";
    !service_call
        && (ua.contains("console")
            || ua.contains("aws-cli")
            || ua.contains("signin")
            || e.identity_type == "IAMUser"
            || e.identity_type == "Root"
            || e.identity_type == "AssumedRole")
}

impl AuditAggregator {
    pub fn add(
        &mut self,
        ctx: &Ctx<'_>,
        origin: OriginId,
        phase: Phase,
        ts: DateTime<Utc>,
        mut e: AuditEvent,
    ) {
        bound_event(&mut e);
        note_origin(&mut self.origins, origin);
        if !e.error_code.is_empty() {
            let key = (
                e.event_name.clone(),
                e.error_code.clone(),
                e.actor.clone(),
                e.resources.first().cloned().unwrap_or_default(),
            );
            return Self::add_to(
                &mut self.errors,
                &mut self.dropped_groups,
                ctx,
                origin,
                phase,
                ts,
                key,
                e,
            );
        }
        if !e.is_mutating() {
            self.read_only.add(&e.event_name, 200);
            self.read_only_counts
                .get_or_insert_with(|| PhaseCounts::new(&ctx.timeline))
                .add(&ctx.timeline, phase, ts);
            return;
        }
        let key = (
            e.event_source.clone(),
            e.event_name.clone(),
            e.actor.clone(),
            e.resources.first().cloned().unwrap_or_default(),
        );
        Self::add_to(
            &mut self.changes,
            &mut self.dropped_groups,
            ctx,
            origin,
            phase,
            ts,
            key,
            e,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn add_to(
        map: &mut BTreeMap<(String, String, String, String), Group>,
        dropped: &mut u64,
        ctx: &Ctx<'_>,
        origin: OriginId,
        phase: Phase,
        ts: DateTime<Utc>,
        key: (String, String, String, String),
        e: AuditEvent,
    ) {
        if !map.contains_key(&key) && map.len() >= MAX_GROUPS {
            *dropped += 1;
            return;
        }
        let g = map.entry(key).or_insert_with(|| Group {
            counts: PhaseCounts::new(&ctx.timeline),
            times: Vec::new(),
            first: e.clone(),
            source_ips: BoundedCounter::default(),
            origins: Vec::new(),
        });
        g.counts.add(&ctx.timeline, phase, ts);
        if g.times.len() < MAX_TIMES {
            g.times.push(ts);
        } else if let Some(last) = g.times.last_mut() {
            // keep the latest occurrence: it is the one closest to the anomaly
            *last = (*last).max(ts);
        }
        g.source_ips.add(&e.source_ip, 16);
        note_origin(&mut g.origins, origin);
    }

    pub fn finish(self, ctx: &Ctx<'_>, origins: &[Origin], anchor: DateTime<Utc>) -> Vec<Evidence> {
        let mut out = Vec::new();
        for ((_, name, actor, resource), g) in self.changes {
            out.push(change_evidence(
                ctx, origins, anchor, &name, &actor, &resource, g,
            ));
        }
        for ((name, code, actor, resource), g) in self.errors {
            let e0 = &g.first;
            let on = if resource.is_empty() {
                String::new()
            } else {
                format!(" on {resource}")
            };
            let mut e = Evidence::new(
                EvidenceKind::AuditError,
                super::source_name(origins, &g.origins, RecordKind::Cloudtrail),
                format!("{name}{on} by {actor} failed with {code}"),
            );
            g.counts.fill(&mut e, ctx);
            e.signal = g.counts.signal(ctx.window, 0.7);
            e.signal.proximity = evidence::proximity(e.onset, anchor);
            e.score = evidence::combine(0.7, e.signal.anomaly, e.signal.proximity);
            e.detail = Some(format!(
                "{}; message: {}; from {}",
                super::versus(g.counts.incident, g.counts.baseline, ctx.window),
                super::clip(&e0.error_message, 200),
                g.source_ips.describe(3)
            ));
            e.resources = e0.resources.clone();
            e.samples = vec![super::clip_sample(
                &describe_event(e0),
                ctx.config.sample_chars,
            )];
            let locs = super::locators(origins, &g.origins);
            e.reproduce = crate::reproduce::grep_command(&locs, &code, Some(".errorCode"));
            e.origins = g.origins;
            out.push(e);
        }
        if let Some(c) = self.read_only_counts {
            let mut e = Evidence::new(
                EvidenceKind::AuditSummary,
                super::source_name(origins, &self.origins, RecordKind::Cloudtrail),
                format!(
                    "{} read-only API calls in the incident window vs {} in the baseline (not changes)",
                    c.incident, c.baseline
                ),
            );
            c.fill(&mut e, ctx);
            e.detail = Some(format!("most frequent: {}", self.read_only.describe(6)));
            e.signal = evidence::Signal {
                severity: 0.05,
                anomaly: 0.0,
                proximity: 0.0,
                z: 0.0,
                new: false,
            };
            e.score = 0.01;
            let locs = super::locators(origins, &self.origins);
            e.reproduce = crate::reproduce::grep_command(&locs, "true", Some(".readOnly"));
            e.origins = self.origins.clone();
            out.push(e);
        }
        if self.dropped_groups > 0
            && let Some(last) = out.last_mut()
        {
            let d = last.detail.get_or_insert_with(String::new);
            d.push_str(&format!(
                "; {} events in groups beyond the first {MAX_GROUPS} were only counted",
                self.dropped_groups
            ));
        }
        out
    }
}

/// One-line description of an event for samples.
fn describe_event(e: &AuditEvent) -> String {
    format!(
        "{} {} {} by {} ({}) from {} ua={} params={}{}",
        e.time.map(crate::time::rfc3339).unwrap_or_default(),
        e.event_source,
        e.event_name,
        e.actor,
        e.identity_arn,
        e.source_ip,
        super::clip(&e.user_agent, 60),
        if e.request_parameters.is_empty() {
            "-"
        } else {
            &e.request_parameters
        },
        if e.error_code.is_empty() {
            String::new()
        } else {
            format!(" error={}", e.error_code)
        }
    )
}

fn change_evidence(
    ctx: &Ctx<'_>,
    origins: &[Origin],
    anchor: DateTime<Utc>,
    name: &str,
    actor: &str,
    resource: &str,
    g: Group,
) -> Evidence {
    let e0 = &g.first;
    // the occurrence closest before the anchor (a minute of clock skew allowed)
    let limit = anchor + chrono::Duration::minutes(1);
    let suspect = g.times.iter().filter(|t| **t <= limit).max().copied();
    let closeness = suspect.map_or(0.0, |t| {
        let minutes = (anchor - t).num_seconds().max(0) as f64 / 60.0;
        if minutes > LOOKBACK_MINUTES {
            0.0
        } else {
            (-minutes / 10.0).exp()
        }
    });
    let total = g.counts.incident + g.counts.baseline;
    // steady automation: many occurrences spread evenly over both windows
    let z = g.counts.burst_z(ctx.window);
    let routine = total >= 4 && z < 2.0;
    let anomaly = if routine { closeness * 0.25 } else { closeness };
    let person = by_person(e0);
    let severity = if person { 0.85 } else { 0.7 };
    let when = suspect
        .or(g.counts.last_incident)
        .or(g.counts.last_baseline);
    let on = if resource.is_empty() {
        String::new()
    } else {
        format!(" on {resource}")
    };
    let relation = match when {
        Some(t) if t <= anchor => format!(", {} before the first anomaly", human_delta(t, anchor)),
        Some(t) => format!(", {} after the first anomaly", human_delta(anchor, t)),
        None => String::new(),
    };
    let times = if total > 1 {
        format!(" ({total} times)")
    } else {
        String::new()
    };
    let title = format!(
        "{name}{on} by {actor} from {} at {}{relation}{times}",
        if e0.source_ip.is_empty() {
            "?"
        } else {
            &e0.source_ip
        },
        when.map(|t| t.format("%H:%M:%SZ").to_string())
            .unwrap_or_default(),
    );
    let mut e = Evidence::new(
        EvidenceKind::AuditChange,
        super::source_name(origins, &g.origins, RecordKind::Cloudtrail),
        title,
    );
    e.count = g.counts.incident;
    e.baseline_count = g.counts.baseline;
    e.first_seen = g.times.iter().min().copied();
    e.last_seen = g.times.iter().max().copied();
    e.onset = when;
    e.signal = evidence::Signal {
        severity,
        anomaly,
        proximity: closeness,
        z,
        new: true,
    };
    e.score = evidence::combine(severity, anomaly, closeness);
    e.detail = Some(format!(
        "{} call{} {}; identity {} ({}); user agent {}; parameters {}",
        if person { "manual" } else { "automated" },
        if total == 1 { "" } else { "s" },
        if routine {
            "repeated at a steady rate (routine)"
        } else {
            "not routine"
        },
        e0.identity_arn,
        e0.identity_type,
        super::clip(&e0.user_agent, 80),
        if e0.request_parameters.is_empty() {
            "-"
        } else {
            &e0.request_parameters
        }
    ));
    e.resources = e0.resources.clone();
    e.samples = vec![super::clip_sample(
        &describe_event(e0),
        ctx.config.sample_chars,
    )];
    let locs = super::locators(origins, &g.origins);
    e.reproduce = crate::reproduce::grep_command(&locs, name, Some(".eventName"));
    e.origins = g.origins;
    e
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::telemetry::files::cloudtrail::MAX_PARAMS_LEN;

    #[test]
    fn every_kept_string_of_an_event_is_capped() {
        let big = "x".repeat(1 << 20);
        let mut e = AuditEvent {
            event_name: big.clone(),
            actor: big.clone(),
            user_agent: big.clone(),
            error_code: "AccessDenied".into(),
            error_message: big.clone(),
            request_parameters: big.clone(),
            resources: vec![big.clone(); 1000],
            ..Default::default()
        };
        bound_event(&mut e);
        assert_eq!(e.event_name.len(), FIELD_BYTES + 3);
        assert_eq!(e.actor.len(), FIELD_BYTES + 3);
        assert_eq!(e.user_agent.len(), FIELD_BYTES + 3);
        assert_eq!(e.error_code, "AccessDenied");
        assert_eq!(e.error_message.len(), MESSAGE_BYTES + 3);
        assert_eq!(e.request_parameters.len(), MAX_PARAMS_LEN + 3);
        assert_eq!(e.resources.len(), MAX_RESOURCES);
        assert!(e.resources.iter().all(|r| r.len() == FIELD_BYTES + 3));
    }
}
