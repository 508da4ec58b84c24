//! CloudWatch metric series → level shifts of the incident against the baseline (robust:
//! median and MAD), with the time the level changed, steady climbs (trends) with the time
//! they began, and drops to zero (silences).
//!
//! - **Step**: the first point near or in the incident that departs from the baseline median
//!   by 3 robust scales and stays away is the onset ("changed at").
//! - **Trend**: a series that climbs (or falls) steadily is not a step: the best split of the
//!   whole series (baseline, the ten minutes before the start, incident) into a flat part and
//!   a straight-line part ([`ramp_start`], least squares) gives the time the climb began,
//!   which may lie long before the window (a leak started by a deploy). It is a trend when
//!   the line explains the second part well (R² ≥ 0.7), rises by more than 3 noise levels of
//!   the flat part and lasts 6 points or more. Its onset is the start of the climb ("climbing
//!   since").
//! - **Silence**: a series with a positive baseline whose incident tail is zero dropped to zero
//!   at the first point of that tail: traffic or work that disappeared is an anomaly of its
//!   own (severity 0.75).
//! - **Saturation**: a series whose name says it measures a load, a utilisation, a queue or a
//!   pool ([`SATURATION_WORDS`]) and that goes up is marked as saturation in its detail; the
//!   linker lifts one whose start precedes the errors (the origin of a cascade).

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

/// Words of metric names that measure how full something is (case-insensitive).
pub(crate) const SATURATION_WORDS: &[&str] = &[
    "cpu",
    "memory",
    "utilization",
    "utilisation",
    "load",
    "connections",
    "percent",
    "pool",
    "queue",
    "backlog",
    "ageofoldest",
    "iops",
    "depth",
    "swap",
];

/// Whether a metric name says it measures saturation.
pub(crate) fn is_saturation_metric(label: &str) -> bool {
    let l = label.to_ascii_lowercase();
    SATURATION_WORDS.iter().any(|w| l.contains(w))
}

/// The start of a steady climb or fall in `points` (sorted by time), if the series is a flat
/// part followed by a straight line (see the module docs), and the rise in noise levels of
/// the flat part (signed).
fn ramp_start(points: &[(DateTime<Utc>, f64)]) -> Option<(DateTime<Utc>, f64)> {
    // at most 240 points are fitted: a longer series is averaged into that many
    let n0 = points.len();
    if n0 < 12 {
        return None;
    }
    let step = n0.div_ceil(240);
    let pts: Vec<(f64, f64, DateTime<Utc>)> = points
        .chunks(step)
        .map(|c| {
            let t0 = c[0].0;
            let t = (t0 - points[0].0).num_seconds() as f64 / 60.0;
            let v = c.iter().map(|p| p.1).sum::<f64>() / c.len() as f64;
            (t, v, t0)
        })
        .collect();
    let n = pts.len();
    // prefix sums for constant fits (left) and line fits (right)
    let mut sv = vec![0.0; n + 1];
    let mut svv = vec![0.0; n + 1];
    let mut st = vec![0.0; n + 1];
    let mut stt = vec![0.0; n + 1];
    let mut stv = vec![0.0; n + 1];
    for (i, (t, v, _)) in pts.iter().enumerate() {
        sv[i + 1] = sv[i] + v;
        svv[i + 1] = svv[i] + v * v;
        st[i + 1] = st[i] + t;
        stt[i + 1] = stt[i] + t * t;
        stv[i + 1] = stv[i] + t * v;
    }
    let seg = |a: usize, b: usize| {
        let m = (b - a) as f64;
        (
            m,
            sv[b] - sv[a],
            svv[b] - svv[a],
            st[b] - st[a],
            stt[b] - stt[a],
            stv[b] - stv[a],
        )
    };
    let mut best: Option<(f64, usize, f64, f64, f64)> = None; // sse, k, slope, r2, left sse
    for k in 6..=n.saturating_sub(6) {
        let (m, s_v, s_vv, _, _, _) = seg(0, k);
        let left = (s_vv - s_v * s_v / m).max(0.0);
        let (m, s_v, s_vv, s_t, s_tt, s_tv) = seg(k, n);
        let var_t = s_tt - s_t * s_t / m;
        let var_v = (s_vv - s_v * s_v / m).max(0.0);
        if var_t <= 0.0 {
            continue;
        }
        let cov = s_tv - s_t * s_v / m;
        let slope = cov / var_t;
        let right = (var_v - cov * cov / var_t).max(0.0);
        let r2 = if var_v > 0.0 {
            1.0 - right / var_v
        } else {
            0.0
        };
        let sse = left + right;
        if best.is_none_or(|b| sse < b.0) {
            best = Some((sse, k, slope, r2, left));
        }
    }
    let (_, k, slope, r2, left) = best?;
    let noise = (left / k as f64).sqrt() + 1e-9;
    let span = pts[n - 1].0 - pts[k].0;
    let rise = slope * span;
    let level = (sv[k] / k as f64).abs();
    (r2 >= 0.7 && rise.abs() > 3.0 * noise && rise.abs() > 0.2 * level && n - k >= 6)
        .then_some((pts[k].2, rise / noise))
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
            let step = near
                .iter()
                .enumerate()
                .find(|(i, (_, v))| away(*v) && near.get(i + 1).is_none_or(|(_, n)| away(*n)))
                .map(|(_, (t, _))| *t);
            // a steady climb begins where the line starts, possibly long before the window
            // (its own baseline is part of the climb, so its size is measured against the
            // noise of the flat part, not the baseline's spread)
            let ramp_fit = ramp_start(&points);
            let ramp = ramp_fit.map(|r| r.0);
            let shift = match ramp_fit {
                Some((_, rise)) if rise.abs() > shift.abs() => rise,
                _ => shift,
            };
            let direction = if shift > 0.0 { "up" } else { "down" };
            // a drop to zero: the incident tail is all zero after a positive baseline
            let zero_from = if bm > 0.0 && shift < 0.0 {
                let tail: Vec<&(DateTime<Utc>, f64)> = points
                    .iter()
                    .rev()
                    .take_while(|(t, v)| *t >= from && *v == 0.0)
                    .collect();
                tail.last().map(|(t, _)| *t).filter(|_| tail.len() >= 3)
            } else {
                None
            };
            let onset = zero_from.or(ramp).or(step);
            let saturation = shift > 0.0 && is_saturation_metric(&label_text_of(&label, &id));
            let label_text = label_text_of(&label, &id);
            let mut e = Evidence::new(
                EvidenceKind::MetricShift,
                super::source_name(origins, &origin_ids, RecordKind::Metrics),
                format!(
                    "Metric {label_text}: median {} in the incident vs {} in the baseline ({direction}{})",
                    fmt_num(im),
                    fmt_num(bm),
                    match (zero_from, ramp, step) {
                        (Some(t), _, _) =>
                            format!(", dropped to zero at {}", t.format("%H:%M:%SZ")),
                        (None, Some(t), _) => format!(
                            ", {} steadily since {}",
                            if shift > 0.0 { "climbing" } else { "falling" },
                            t.format("%H:%M:%SZ")
                        ),
                        (None, None, Some(t)) => format!(", changed at {}", t.format("%H:%M:%SZ")),
                        (None, None, None) => String::new(),
                    }
                ),
            );
            let peak = inc.iter().copied().fold(f64::NAN, f64::max);
            e.count = n_inc as u64;
            e.baseline_count = n_base as u64;
            e.first_seen = points.first().map(|p| p.0);
            e.last_seen = points.last().map(|p| p.0);
            e.onset = onset;
            e.signal = evidence::Signal {
                // work or traffic that vanished is worse than a level that moved
                severity: if zero_from.is_some() { 0.75 } else { 0.6 },
                anomaly: (shift.abs() / 8.0).clamp(0.0, 1.0),
                proximity: 0.0,
                z: shift,
                new: false,
            };
            e.detail = Some(format!(
                "{}shift {shift:+.1} robust standard deviations; incident max {}; points: {n_inc} incident, {n_base} baseline{}",
                if saturation {
                    "saturation metric; "
                } else {
                    ""
                },
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

fn label_text_of(label: &str, id: &str) -> String {
    if label.is_empty() {
        id.to_string()
    } else {
        label.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(vals: &[f64]) -> Vec<(DateTime<Utc>, f64)> {
        let s = crate::time::parse_timestamp("2025-04-10T00:00:00Z").unwrap_or_default();
        vals.iter()
            .enumerate()
            .map(|(i, v)| (s + chrono::Duration::minutes(i as i64), *v))
            .collect()
    }

    #[test]
    fn a_steady_climb_starts_where_the_line_starts() {
        // flat at 41 (with a little noise) for 30 minutes, then +1.1 a minute for 50 minutes
        let mut v: Vec<f64> = (0..30).map(|i| 41.0 + [0.5, -0.4, 0.2][i % 3]).collect();
        v.extend((0..50).map(|i| 41.0 + 1.1 * f64::from(i)));
        let pts = minutes(&v);
        assert_eq!(ramp_start(&pts).map(|r| r.0), Some(pts[30].0));
        // a step is not a trend
        let mut step: Vec<f64> = (0..40).map(|i| 10.0 + [0.5, -0.4, 0.2][i % 3]).collect();
        step.extend((0..40).map(|i| 60.0 + [0.5, -0.4, 0.2][i % 3]));
        assert_eq!(ramp_start(&minutes(&step)), None);
        // flat noise is not a trend
        let flat: Vec<f64> = (0..80)
            .map(|i| 5.0 + [0.5, -0.4, 0.2, 0.0][i % 4])
            .collect();
        assert_eq!(ramp_start(&minutes(&flat)), None);
    }

    #[test]
    fn saturation_metrics_are_named_by_what_they_measure() {
        assert!(is_saturation_metric("CPUUtilization (shop-db)"));
        assert!(is_saturation_metric("ApproximateAgeOfOldestMessage"));
        assert!(!is_saturation_metric("RunningTaskCount (orders-api)"));
        assert!(!is_saturation_metric("HTTPCode_Target_5XX_Count"));
    }

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
