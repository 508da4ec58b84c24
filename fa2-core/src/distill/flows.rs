//! VPC Flow Logs REJECTs → blocked traffic per destination address and port, incident against
//! baseline, so that a security group or network ACL change shows up as blocked traffic next
//! to the CloudTrail call that made it.
//!
//! Policy: the files source writes each flow as `VPC flow <ACTION> <proto> <src> ->
//! <dst>:<port> (<eni>)` (`telemetry/files/flows.rs`); only REJECTs are counted here, per
//! destination and port. A destination becomes evidence when its rate of rejected flows in the
//! incident is new, or at least three times the baseline's rate (rates per second, as the two
//! windows differ in length), and at least 3 flows.

use super::{Ctx, note_origin};
use crate::evidence::{self, Evidence, EvidenceKind};
use crate::record::{LogEvent, RecordKind};
use crate::request::Phase;
use crate::telemetry::files::FLOW_PREFIX;
use crate::telemetry::{Origin, OriginId};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Destinations tracked.
const MAX_DESTINATIONS: usize = 2000;
/// Fewest rejected flows in the incident worth an item.
const MIN_FLOWS: u64 = 3;

#[derive(Debug, Default)]
struct Destination {
    protocol: String,
    incident: u64,
    baseline: u64,
    first_seen: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
    sources: BTreeMap<String, u64>,
    sample: Option<String>,
    origins: Vec<OriginId>,
}

#[derive(Debug, Default)]
pub(crate) struct FlowAggregator {
    /// By `dst:port`.
    destinations: BTreeMap<String, Destination>,
}

/// `(protocol, source, destination:port)` of a REJECT flow message.
fn parse_reject(message: &str) -> Option<(&str, &str, &str)> {
    let rest = message.strip_prefix(FLOW_PREFIX)?.strip_prefix("REJECT ")?;
    let mut it = rest.split(' ');
    let proto = it.next()?;
    let src = it.next()?;
    if it.next()? != "->" {
        return None;
    }
    let dst = it.next()?;
    Some((proto, src, dst))
}

impl FlowAggregator {
    pub fn add(&mut self, origin: OriginId, phase: Phase, ts: DateTime<Utc>, ev: &LogEvent) {
        let Some((proto, src, dst)) = parse_reject(&ev.message) else {
            return;
        };
        if !self.destinations.contains_key(dst) && self.destinations.len() >= MAX_DESTINATIONS {
            return;
        }
        let d = self.destinations.entry(dst.to_string()).or_default();
        note_origin(&mut d.origins, origin);
        if d.protocol.is_empty() {
            d.protocol = proto.to_string();
        }
        match phase {
            Phase::Incident => {
                d.incident += 1;
                d.first_seen = Some(d.first_seen.map_or(ts, |t| t.min(ts)));
                d.last_seen = Some(d.last_seen.map_or(ts, |t| t.max(ts)));
                if d.sources.len() < 100 || d.sources.contains_key(src) {
                    *d.sources.entry(src.to_string()).or_insert(0) += 1;
                }
                if d.sample.is_none() {
                    d.sample = Some(ev.message.clone());
                }
            }
            Phase::Baseline => d.baseline += 1,
            Phase::Outside => {}
        }
    }

    pub fn finish(self, ctx: &Ctx<'_>, origins: &[Origin]) -> Vec<Evidence> {
        let w = ctx.window;
        let mut out = Vec::new();
        for (dst, d) in self.destinations {
            if d.incident < MIN_FLOWS {
                continue;
            }
            let ri = d.incident as f64 / w.incident_secs();
            let rb = d.baseline as f64 / w.baseline_secs();
            let new = d.baseline == 0;
            if !new && ri < 3.0 * rb {
                continue;
            }
            let ratio = if new { f64::INFINITY } else { ri / rb };
            let mut top: Vec<(&String, &u64)> = d.sources.iter().collect();
            top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let mut e = Evidence::new(
                EvidenceKind::FlowRejects,
                super::source_name(origins, &d.origins, RecordKind::Logs),
                format!(
                    "VPC Flow Logs: {} rejected {} flows to {dst}: {}",
                    d.incident,
                    d.protocol,
                    super::versus(d.incident, d.baseline, w)
                ),
            );
            e.count = d.incident;
            e.baseline_count = d.baseline;
            e.first_seen = d.first_seen;
            e.last_seen = d.last_seen;
            e.onset = d.first_seen;
            e.signal = evidence::Signal {
                severity: 0.8,
                anomaly: if new {
                    1.0
                } else {
                    (ratio.log2() / 5.0).clamp(0.0, 1.0)
                },
                proximity: 0.0,
                z: if new { 8.0 } else { ratio },
                new,
            };
            e.detail = Some(format!(
                "rejected flows by source: {}",
                top.iter()
                    .take(5)
                    .map(|(s, n)| format!("{s} ({n})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            e.samples = d.sample.into_iter().collect();
            e.resources = vec![dst.clone()];
            let locs = super::locators(origins, &d.origins);
            let ip = dst.rsplit_once(':').map_or(dst.as_str(), |(ip, _)| ip);
            e.reproduce = crate::reproduce::grep_command(&locs, ip, None);
            e.origins = d.origins;
            out.push(e);
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rejects_per_destination_against_the_baseline() {
        let s = crate::time::parse_timestamp("2024-08-16T11:00:00Z").unwrap();
        let w = crate::request::Window::with_baseline(
            s,
            s + chrono::Duration::minutes(30),
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        let group: std::sync::Arc<str> = std::sync::Arc::from("flows");
        let mut a = FlowAggregator::default();
        let mut add = |t: DateTime<Utc>, m: &str| {
            a.add(
                0,
                w.phase(t),
                t,
                &LogEvent {
                    ts: t,
                    group: group.clone(),
                    stream: None,
                    message: m.to_string(),
                },
            )
        };
        // a steady trickle of rejects to 10.0.0.9:22 in both windows (chronic scanning)
        for k in 0..60 {
            add(
                s - chrono::Duration::minutes(60) + chrono::Duration::minutes(k),
                "VPC flow REJECT tcp 203.0.113.9 -> 10.0.0.9:22 (eni-1)",
            );
        }
        for k in 0..30 {
            add(
                s + chrono::Duration::minutes(k),
                "VPC flow REJECT tcp 203.0.113.9 -> 10.0.0.9:22 (eni-1)",
            );
        }
        // the database port, blocked from the incident on
        for k in 0..40 {
            add(
                s + chrono::Duration::seconds(30 + k * 20),
                &format!(
                    "VPC flow REJECT tcp 10.0.1.{} -> 10.0.3.41:5432 (eni-2)",
                    k % 4
                ),
            );
        }
        add(s, "VPC flow ACCEPT tcp 10.0.1.1 -> 10.0.3.41:5432 (eni-2)");
        let ctx = Ctx {
            window: &w,
            timeline: super::super::TimelineSpec::new(&w),
            config: &super::super::DistillConfig::default(),
        };
        let e = a.finish(&ctx, &[]);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].title
                .starts_with("VPC Flow Logs: 40 rejected tcp flows to 10.0.3.41:5432: 40 in the incident window, none in the baseline (new)"),
            "{}",
            e[0].title
        );
        assert_eq!(e[0].onset, Some(s + chrono::Duration::seconds(30)));
        assert_eq!(
            e[0].detail.as_deref(),
            Some(
                "rejected flows by source: 10.0.1.0 (10), 10.0.1.1 (10), 10.0.1.2 (10), 10.0.1.3 (10)"
            )
        );
        assert_eq!(
            parse_reject("VPC flow REJECT udp 1.2.3.4 -> 5.6.7.8:53 (eni-3)"),
            Some(("udp", "1.2.3.4", "5.6.7.8:53"))
        );
        assert_eq!(
            parse_reject("VPC flow ACCEPT udp 1.2.3.4 -> 5.6.7.8:53 (eni-3)"),
            None
        );
    }
}
