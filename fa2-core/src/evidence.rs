//! `Evidence`: one ranked, cited fact distilled from telemetry (the unit the prompt, the
//! offline analyzer and the report are built from), and the score that orders them.
//!
//! # The score
//!
//! Every aggregator describes a candidate with three numbers in `[0, 1]`:
//!
//! - **severity** `s`: how bad the thing is when it happens (FATAL/ERROR 0.9–1.0, WARN 0.6,
//!   INFO 0.35, DEBUG 0.2; error words such as `exception`, `timeout`, `denied` lift an
//!   unlabelled line to 0.75; an ALB 5xx 0.8, an X-Ray fault 0.85; a change by its class:
//!   deploy, permission and network 0.9, configuration 0.85, data 0.75, other 0.8 by a person
//!   and 0.6 by automation; routine AWS activity is not a change).
//! - **anomaly** `a`: how far the incident window departs from the baseline, from the signed
//!   square root of the binomial likelihood-ratio (G) statistic of the incident count among
//!   all occurrences, against the share of time the incident window covers ([`burst_z`]).
//!   It is exact enough at small counts (3 new lines score, 1 does not) and saturates for
//!   big bursts: `a = clamp(z / 6)`. A template absent from the baseline is "new".
//!   A chronic error at its baseline rate has `z ≈ 0`, so it scores low even at ERROR.
//! - **proximity** `p`: how close the onset (first anomalous minute) is to the anchor, the
//!   onset of the incident (see `distill`: the first error-class anomaly, or a metric shift or
//!   silence shortly before it; else the window start): `p = exp(-|Δt| / 15 min)`.
//!
//! `score = s × (0.15 + 0.85 a) × (0.7 + 0.3 p)`, and the cross-source linker then raises
//! items that explain each other (a change shortly before an error's onset, a saturation
//! that preceded the errors). Change events have no baseline rate: their anomaly is their
//! closeness *before* the anchor (`exp(-minutes / 45)` for deploy and configuration changes,
//! within the change lookback; `exp(-minutes / 10)` within an hour for the others), and zero
//! for a change after it.

use crate::telemetry::OriginId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What an evidence item is about (the report's `evidence[].kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    LogTemplate,
    Alb,
    AlbLatency,
    AuditChange,
    AuditError,
    AuditSummary,
    TraceFault,
    TraceLatency,
    MetricShift,
    /// A Lambda function's invocations (timeouts, errors, duration, memory) from its platform
    /// lines.
    LambdaInvocations,
    /// Rejected VPC flows to one destination and port.
    FlowRejects,
    /// Server errors of one route from API Gateway or web server access logs.
    Requests,
    /// A CloudWatch alarm that went to ALARM.
    AlarmState,
}

impl EvidenceKind {
    /// The source family, for fair shares in the prompt budget.
    pub fn family(self) -> &'static str {
        match self {
            EvidenceKind::LogTemplate
            | EvidenceKind::LambdaInvocations
            | EvidenceKind::FlowRejects
            | EvidenceKind::Requests => "logs",
            EvidenceKind::Alb | EvidenceKind::AlbLatency => "alb",
            EvidenceKind::AuditChange | EvidenceKind::AuditError | EvidenceKind::AuditSummary => {
                "cloudtrail"
            }
            EvidenceKind::TraceFault | EvidenceKind::TraceLatency => "xray",
            EvidenceKind::MetricShift | EvidenceKind::AlarmState => "metrics",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::LogTemplate => "log_template",
            EvidenceKind::Alb => "alb",
            EvidenceKind::AlbLatency => "alb_latency",
            EvidenceKind::AuditChange => "audit_change",
            EvidenceKind::AuditError => "audit_error",
            EvidenceKind::AuditSummary => "audit_summary",
            EvidenceKind::TraceFault => "trace_fault",
            EvidenceKind::TraceLatency => "trace_latency",
            EvidenceKind::MetricShift => "metric_shift",
            EvidenceKind::LambdaInvocations => "lambda_invocations",
            EvidenceKind::FlowRejects => "flow_rejects",
            EvidenceKind::Requests => "requests",
            EvidenceKind::AlarmState => "alarm_state",
        }
    }
}

/// One cited fact. Fields up to `reproduce` are the JSON report contract; the rest are
/// extensions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub id: String,
    pub kind: EvidenceKind,
    pub source: String,
    pub title: String,
    pub score: f64,
    pub count: u64,
    pub baseline_count: u64,
    #[serde(with = "crate::time::serde_opt_rfc3339")]
    pub first_seen: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::serde_opt_rfc3339")]
    pub last_seen: Option<DateTime<Utc>>,
    pub samples: Vec<String>,
    pub detail: Option<String>,
    pub reproduce: String,
    /// When the anomaly began (first anomalous minute), or when the change happened.
    #[serde(
        default,
        with = "crate::time::serde_opt_rfc3339",
        skip_serializing_if = "Option::is_none"
    )]
    pub onset: Option<DateTime<Utc>>,
    /// Ids of evidence this item is linked with (cause/effect, same resource, same exception).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// Why the links exist, one phrase per link.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_reasons: Vec<String>,
    /// Log level for log templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Names of resources involved (tables, functions, groups, target groups...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Score components, for the curious and for tuning.
    #[serde(default)]
    pub signal: Signal,
    #[serde(skip)]
    pub origins: Vec<OriginId>,
}

/// The components the score is made of (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Signal {
    pub severity: f64,
    pub anomaly: f64,
    pub proximity: f64,
    /// Signed burst statistic (positive: more than the baseline rate).
    pub z: f64,
    /// Absent from the baseline.
    pub new: bool,
}

impl Evidence {
    /// A blank item of `kind` from `source`; aggregators fill the rest.
    pub fn new(kind: EvidenceKind, source: impl Into<String>, title: impl Into<String>) -> Self {
        Evidence {
            id: String::new(),
            kind,
            source: source.into(),
            title: title.into(),
            score: 0.0,
            count: 0,
            baseline_count: 0,
            first_seen: None,
            last_seen: None,
            samples: Vec::new(),
            detail: None,
            reproduce: String::new(),
            onset: None,
            links: Vec::new(),
            link_reasons: Vec::new(),
            level: None,
            resources: Vec::new(),
            signal: Signal::default(),
            origins: Vec::new(),
        }
    }

    /// Adds a link to `other` (idempotent).
    pub fn link(&mut self, other: &str, reason: &str) {
        if !self.links.iter().any(|l| l == other) {
            self.links.push(other.to_string());
            self.link_reasons.push(reason.to_string());
        }
    }
}

/// Signed square root of the binomial likelihood-ratio statistic: how surprising it is that
/// `incident` of `incident + baseline` occurrences fell in the incident window when it covers
/// `share` of the observed time. Positive when the incident has more than its share.
pub fn burst_z(incident: u64, baseline: u64, share: f64) -> f64 {
    let n = (incident + baseline) as f64;
    if n == 0.0 || !(0.0..1.0).contains(&share) || share == 0.0 {
        return 0.0;
    }
    let ci = incident as f64;
    let cb = baseline as f64;
    let term = |c: f64, expected: f64| {
        if c > 0.0 {
            c * (c / expected).ln()
        } else {
            0.0
        }
    };
    let g = 2.0 * (term(ci, n * share) + term(cb, n * (1.0 - share)));
    let z = g.max(0.0).sqrt();
    if ci / n >= share { z } else { -z }
}

/// Anomaly in `[0, 1]` from a burst statistic.
pub fn anomaly_from_z(z: f64) -> f64 {
    (z / 6.0).clamp(0.0, 1.0)
}

/// Proximity of `onset` to `anchor` in `[0, 1]`.
pub fn proximity(onset: Option<DateTime<Utc>>, anchor: DateTime<Utc>) -> f64 {
    match onset {
        Some(o) => {
            let minutes = (o - anchor).num_seconds().unsigned_abs() as f64 / 60.0;
            (-minutes / 15.0).exp()
        }
        None => 0.5,
    }
}

/// The combined score (see the module docs).
pub fn combine(severity: f64, anomaly: f64, proximity: f64) -> f64 {
    (severity * (0.15 + 0.85 * anomaly) * (0.7 + 0.3 * proximity)).clamp(0.0, 1.0)
}

/// Sorts by score (ties: more occurrences first, then title) and assigns `E1..En`, rewriting
/// links that used provisional ids.
pub fn rank(items: &mut [Evidence]) {
    items.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.count.cmp(&a.count))
            .then(a.title.cmp(&b.title))
    });
    let map: std::collections::HashMap<String, String> = items
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id.clone(), format!("E{}", i + 1)))
        .collect();
    for e in items.iter_mut() {
        if let Some(new) = map.get(&e.id) {
            e.id = new.clone();
        }
        e.links = e.links.iter().filter_map(|l| map.get(l).cloned()).collect();
        e.score = (e.score * 1000.0).round() / 1000.0;
    }
}

/// A strongly anomalous item for tests of the stages after distillation.
#[cfg(test)]
pub(crate) fn test_item(
    id: &str,
    kind: EvidenceKind,
    title: &str,
    score: f64,
    onset: &str,
) -> Evidence {
    let mut e = Evidence::new(kind, "files:x", title);
    e.id = id.into();
    e.score = score;
    e.count = 10;
    e.onset = crate::time::parse_timestamp(onset);
    e.signal = Signal {
        severity: 0.9,
        anomaly: 0.9,
        proximity: 1.0,
        z: 10.0,
        new: true,
    };
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_statistic_separates_new_bursts_from_chronic() {
        let share = 30.0 / 90.0;
        // new template, many lines
        assert!(burst_z(800, 0, share) > 30.0);
        // a few new lines are still notable, one is not
        assert!(burst_z(3, 0, share) > 2.0);
        assert!(burst_z(1, 0, share) < 1.6);
        // chronic: same rate in both windows
        assert!(burst_z(100, 200, share).abs() < 0.01);
        assert!(anomaly_from_z(burst_z(100, 205, share)) < 0.05);
        // a drop is negative
        assert!(burst_z(0, 300, share) < -10.0);
        assert_eq!(burst_z(0, 0, share), 0.0);
    }

    #[test]
    fn chronic_error_scores_below_new_info() {
        let share = 30.0 / 90.0;
        let chronic = combine(0.9, anomaly_from_z(burst_z(100, 200, share)), 1.0);
        let new_error = combine(0.9, anomaly_from_z(burst_z(500, 0, share)), 1.0);
        assert!(new_error > 0.85);
        assert!(chronic < 0.2);
    }

    #[test]
    fn ranking_assigns_ids_and_rewrites_links() {
        let mut a = Evidence::new(EvidenceKind::LogTemplate, "s", "a");
        a.id = "tmp-a".into();
        a.score = 0.2;
        a.links = vec!["tmp-b".into()];
        let mut b = Evidence::new(EvidenceKind::AuditChange, "s", "b");
        b.id = "tmp-b".into();
        b.score = 0.9;
        b.links = vec!["tmp-a".into(), "gone".into()];
        let mut v = vec![a, b];
        rank(&mut v);
        assert_eq!(v[0].title, "b");
        assert_eq!(v[0].id, "E1");
        assert_eq!(v[0].links, vec!["E2".to_string()]);
        assert_eq!(v[1].links, vec!["E1".to_string()]);
    }
}
