//! A fixed-size log-scale histogram for latencies (percentiles within 5% in bounded memory),
//! and the latency-shift evidence built from two of them.

use crate::evidence::{Evidence, EvidenceKind, Signal};

/// Smallest value resolved (seconds); smaller values share the first bucket.
const MIN: f64 = 1e-4;
/// Growth factor between buckets (5% relative precision).
const GROWTH: f64 = 1.05;
/// Buckets from 0.1 ms to ~1,000 s.
const BUCKETS: usize = 332;

#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    counts: Vec<u32>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

impl Histogram {
    pub fn add(&mut self, v: f64) {
        if !v.is_finite() || v < 0.0 {
            return;
        }
        let i = if v <= MIN {
            0
        } else {
            ((v / MIN).ln() / GROWTH.ln()).floor() as usize + 1
        };
        self.counts[i.min(BUCKETS - 1)] += 1;
        self.total += 1;
    }

    pub fn len(&self) -> u64 {
        self.total
    }

    /// The `q` quantile (0..=1), as the upper bound of its bucket.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Some(if i == 0 {
                    MIN
                } else {
                    MIN * GROWTH.powi(i as i32)
                });
            }
        }
        None
    }
}

/// A latency-shift item: p50/p99 of the incident against the baseline. Its anomaly grows with
/// the p99 ratio once p99 is 1.5× and 50 ms slower. Returns the item and the baseline p99;
/// `None` without data in both windows.
pub(crate) fn latency_evidence(
    kind: EvidenceKind,
    source: String,
    what: &str,
    incident: &Histogram,
    baseline: &Histogram,
    severity: f64,
) -> Option<(Evidence, f64)> {
    let (i50, i99) = (incident.quantile(0.5)?, incident.quantile(0.99)?);
    let (b50, b99) = (baseline.quantile(0.5)?, baseline.quantile(0.99)?);
    let ratio = i99 / b99.max(1e-4);
    let mut e = Evidence::new(
        kind,
        source,
        format!(
            "{what} p50 {} / p99 {} vs {} / {} in the baseline",
            secs(i50),
            secs(i99),
            secs(b50),
            secs(b99)
        ),
    );
    e.count = incident.len();
    e.baseline_count = baseline.len();
    let slower = ratio >= 1.5 && i99 - b99 >= 0.05;
    e.signal = Signal {
        severity,
        anomaly: if slower {
            (ratio.log2() / 3.0).clamp(0.0, 1.0)
        } else {
            0.0
        },
        proximity: 0.0,
        z: ratio,
        new: false,
    };
    e.detail = Some(format!("p99 ×{ratio:.1} against the baseline"));
    Some((e, b99))
}

/// Formats seconds as `85 ms` or `2.31 s`.
pub(crate) fn secs(v: f64) -> String {
    if v < 1.0 {
        format!("{:.0} ms", v * 1000.0)
    } else {
        format!("{v:.2} s")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_five_percent() {
        let mut h = Histogram::default();
        for i in 1..=1000 {
            h.add(f64::from(i) / 1000.0);
        }
        let p50 = h.quantile(0.5).unwrap();
        let p99 = h.quantile(0.99).unwrap();
        assert!((p50 - 0.5).abs() / 0.5 < 0.06, "{p50}");
        assert!((p99 - 0.99).abs() / 0.99 < 0.06, "{p99}");
        assert_eq!(h.len(), 1000);
        h.add(-1.0);
        h.add(f64::NAN);
        h.add(1e9);
        assert_eq!(h.len(), 1001);
        assert!(Histogram::default().quantile(0.5).is_none());
    }
}
