//! CloudWatch metric series → level shifts of the incident against the baseline (robust:
//! median and MAD), with the time the level changed.

use super::{Ctx, note_origin};
use crate::evidence::{self, Evidence, EvidenceKind};
use crate::record::{MetricSeries, RecordKind};
use crate::telemetry::{Origin, OriginId};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Series tracked.
const MAX_SERIES: usize = 500;
/// Points kept per series (16 bytes each): a day of one-second points is far fewer than a
/// file can hold, and a series past this is thinned to every other point (medians and the
/// change time survive; the detail says so). 500 series of this many are 160 MB at most.
const MAX_POINTS: usize = 20_000;
/// Bytes kept of a series id or label (the key of a series).
const KEY_BYTES: usize = 256;

/// Points of one series, where they came from, and whether they were thinned.
type SeriesPoints = (Vec<(DateTime<Utc>, f64)>, Vec<OriginId>, bool);

#[derive(Debug, Default)]
pub(crate) struct MetricAggregator {
    /// By `(label, id)`.
    series: BTreeMap<(String, String), SeriesPoints>,
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

impl MetricAggregator {
    /// Takes a series; only points that [`MetricAggregator::finish`] can use are kept (the
    /// baseline, the ten minutes before the start and the incident).
    pub fn add(&mut self, origin: OriginId, m: MetricSeries, w: &crate::request::Window) {
        let key = (
            crate::bounds::cut(&m.label, KEY_BYTES),
            crate::bounds::cut(&m.id, KEY_BYTES),
        );
        if !self.series.contains_key(&key) && self.series.len() >= MAX_SERIES {
            return;
        }
        let from = w
            .baseline_start
            .min(w.start - chrono::Duration::minutes(10));
        let entry = self.series.entry(key).or_default();
        entry.0.extend(
            m.points
                .into_iter()
                .filter(|(t, _)| *t >= from && *t < w.end),
        );
        if entry.0.len() > MAX_POINTS {
            entry.0.sort_by_key(|p| p.0);
            entry.0.dedup_by_key(|p| p.0);
            while entry.0.len() > MAX_POINTS {
                let mut i = 0;
                entry.0.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                entry.2 = true;
            }
        }
        note_origin(&mut entry.1, origin);
    }

    pub fn finish(self, ctx: &Ctx<'_>, origins: &[Origin]) -> Vec<Evidence> {
        let w = ctx.window;
        let mut out = Vec::new();
        for ((label, id), (mut points, origin_ids, thinned)) in self.series {
            points.sort_by_key(|p| p.0);
            points.dedup_by_key(|p| p.0);
            let mut base: Vec<f64> = points
                .iter()
                .filter(|(t, _)| *t >= w.baseline_start && *t < w.baseline_end)
                .map(|p| p.1)
                .collect();
            let mut inc: Vec<f64> = points
                .iter()
                .filter(|(t, _)| *t >= w.start && *t < w.end)
                .map(|p| p.1)
                .collect();
            let n_base = base.len();
            let n_inc = inc.len();
            let (Some(bm), Some(im)) = (median(&mut base), median(&mut inc)) else {
                continue;
            };
            let mut dev: Vec<f64> = base.iter().map(|v| (v - bm).abs()).collect();
            let mad = median(&mut dev).unwrap_or(0.0);
            let scale = 1.4826 * mad + 0.05 * bm.abs() + 1e-9;
            let shift = (im - bm) / scale;
            // first point near or in the incident that departs by 3 scales and stays away
            let from = w.start - chrono::Duration::minutes(10);
            let away = |v: f64| (v - bm).abs() > 3.0 * scale && (v - bm).signum() == shift.signum();
            let near: Vec<&(DateTime<Utc>, f64)> = points
                .iter()
                .filter(|(t, _)| *t >= from && *t < w.end)
                .collect();
            let onset = near
                .iter()
                .enumerate()
                .find(|(i, (_, v))| away(*v) && near.get(i + 1).is_none_or(|(_, n)| away(*n)))
                .map(|(_, (t, _))| *t);
            let label_text = if label.is_empty() {
                id.clone()
            } else {
                label.clone()
            };
            let direction = if shift > 0.0 { "up" } else { "down" };
            let mut e = Evidence::new(
                EvidenceKind::MetricShift,
                super::source_name(origins, &origin_ids, RecordKind::Metrics),
                format!(
                    "Metric {label_text}: median {} in the incident vs {} in the baseline ({direction}{})",
                    fmt_num(im),
                    fmt_num(bm),
                    onset
                        .map(|t| format!(", changed at {}", t.format("%H:%M:%SZ")))
                        .unwrap_or_default()
                ),
            );
            let peak = inc.iter().copied().fold(f64::NAN, f64::max);
            e.count = n_inc as u64;
            e.baseline_count = n_base as u64;
            e.first_seen = points.first().map(|p| p.0);
            e.last_seen = points.last().map(|p| p.0);
            e.onset = onset;
            e.signal = evidence::Signal {
                severity: 0.6,
                anomaly: (shift.abs() / 8.0).clamp(0.0, 1.0),
                proximity: 0.0,
                z: shift,
                new: false,
            };
            e.detail = Some(format!(
                "shift {shift:+.1} robust standard deviations; incident max {}; points: {n_inc} incident, {n_base} baseline{}",
                fmt_num(peak),
                if thinned {
                    format!(" (more than {MAX_POINTS} points: thinned to every other one)")
                } else {
                    String::new()
                }
            ));
            e.resources = vec![label_text.clone()];
            let locs = super::locators(origins, &origin_ids);
            e.reproduce = crate::reproduce::grep_command(&locs, &id, Some(".Id"));
            e.origins = origin_ids;
            out.push(e);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn a_series_keeps_a_bounded_number_of_points_of_the_windows() {
        let s = crate::time::parse_timestamp("2024-08-16T11:00:00Z").unwrap_or_default();
        let w = crate::request::Window::with_baseline(
            s,
            s + chrono::Duration::minutes(30),
            std::time::Duration::from_secs(3600),
        )
        .expect("window");
        let mut a = MetricAggregator::default();
        // ten points a second for 3 hours: 108,000 points, a third of them outside the windows
        let points = (0..108_000)
            .map(|i| {
                (
                    s - chrono::Duration::minutes(90) + chrono::Duration::milliseconds(i * 100),
                    1.0,
                )
            })
            .collect();
        let m = MetricSeries {
            id: "x".repeat(10_000),
            label: String::new(),
            points,
        };
        a.add(0, m, &w);
        let ((_, id), (points, _, thinned)) = a.series.iter().next().expect("series");
        assert!(points.len() <= MAX_POINTS, "{}", points.len());
        assert!(*thinned);
        assert_eq!(id.len(), KEY_BYTES + 3);
        assert!(
            points
                .iter()
                .all(|(t, _)| *t >= w.baseline_start && *t < w.end)
        );
    }
}
