//! Lambda platform lines → per-function invocation evidence: the `REPORT` line (Duration,
//! Billed Duration, Memory Size, Max Memory Used, Init Duration, `Status: timeout|error`),
//! `Task timed out after` lines, and the JSON log format's `platform.report` records.
//!
//! Policy: a function is its log group's name after `/aws/lambda/` (else the group). Per
//! function and window it counts invocations, cold starts (an `Init Duration`), timeouts and
//! errors, mean and peak duration and the least memory headroom. A function becomes evidence
//! when its incident differs from its baseline: failed invocations (timeouts, errors) at a
//! higher rate, a mean duration at least 1.5 times the baseline's, or memory headroom under
//! 10%. Timeouts are counted once per invocation whichever of the two lines says so: the
//! larger of the two counts in a window.

use super::{Ctx, note_origin};
use crate::evidence::{self, Evidence, EvidenceKind};
use crate::record::{LogEvent, RecordKind};
use crate::request::Phase;
use crate::telemetry::{Origin, OriginId};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Functions tracked; the rest are not (their lines stay log templates).
const MAX_FUNCTIONS: usize = 500;
/// Bytes kept of the sample line.
const SAMPLE_BYTES: usize = 1024;

/// What one window saw of one function.
#[derive(Debug, Default, Clone)]
struct Window {
    invocations: u64,
    cold_starts: u64,
    timeout_lines: u64,
    timeout_reports: u64,
    errors: u64,
    duration_sum: f64,
    duration_max: f64,
    /// Highest `Max Memory Used / Memory Size`.
    memory_ratio: f64,
    memory_size: f64,
    first_bad: Option<DateTime<Utc>>,
}

impl Window {
    fn timeouts(&self) -> u64 {
        self.timeout_lines.max(self.timeout_reports)
    }

    fn failed(&self) -> u64 {
        self.timeouts() + self.errors
    }

    fn mean_duration(&self) -> Option<f64> {
        (self.invocations > 0).then(|| self.duration_sum / self.invocations as f64)
    }

    fn fail_rate(&self) -> f64 {
        let n = self.invocations.max(self.timeout_lines);
        if n == 0 {
            0.0
        } else {
            (self.failed() as f64 / n as f64).min(1.0)
        }
    }
}

#[derive(Debug, Default)]
struct Function {
    incident: Window,
    baseline: Window,
    first_seen: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
    sample: Option<String>,
    origins: Vec<OriginId>,
}

/// One platform line, read.
#[derive(Debug, Default, PartialEq)]
struct Report {
    duration: f64,
    memory_size: f64,
    max_memory_used: f64,
    init: bool,
    status: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct LambdaAggregator {
    functions: BTreeMap<String, Function>,
}

/// The text after `key: ` up to the next tab, as a number (units dropped).
fn field(line: &str, key: &str) -> Option<f64> {
    let at = line.find(key)? + key.len();
    line[at..]
        .split(['\t', '\n'])
        .next()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Reads a `REPORT RequestId: ...` line or a JSON `platform.report` record.
fn parse_report(message: &str) -> Option<Report> {
    let m = message.trim_start();
    if let Some(rest) = m.strip_prefix("REPORT RequestId: ") {
        let status = rest.find("Status: ").map(|i| {
            rest[i + 8..]
                .split(['\t', '\n', ' '])
                .next()
                .unwrap_or_default()
                .to_string()
        });
        return Some(Report {
            duration: field(rest, "\tDuration: ")
                .or_else(|| field(rest, " Duration: "))
                .unwrap_or(0.0),
            memory_size: field(rest, "Memory Size: ").unwrap_or(0.0),
            max_memory_used: field(rest, "Max Memory Used: ").unwrap_or(0.0),
            init: rest.contains("Init Duration: "),
            status,
        });
    }
    if m.starts_with('{') && m.contains("\"platform.report\"") {
        let v: serde_json::Value = serde_json::from_str(m).ok()?;
        if v.get("type").and_then(|t| t.as_str()) != Some("platform.report") {
            return None;
        }
        let rec = v.get("record")?;
        let metric = |k: &str| {
            rec.get("metrics")
                .and_then(|x| x.get(k))
                .and_then(serde_json::Value::as_f64)
        };
        return Some(Report {
            duration: metric("durationMs").unwrap_or(0.0),
            memory_size: metric("memorySizeMB").unwrap_or(0.0),
            max_memory_used: metric("maxMemoryUsedMB").unwrap_or(0.0),
            init: metric("initDurationMs").is_some(),
            status: rec
                .get("status")
                .and_then(serde_json::Value::as_str)
                .filter(|s| *s != "success")
                .map(str::to_string),
        });
    }
    None
}

/// The function a log group stands for.
fn function_of(group: &str) -> &str {
    group.strip_prefix("/aws/lambda/").unwrap_or(group)
}

impl LambdaAggregator {
    /// Takes a log event of either window; lines that are no platform line cost a prefix check.
    pub fn add(&mut self, origin: OriginId, phase: Phase, ts: DateTime<Utc>, ev: &LogEvent) {
        let timed_out = ev.message.contains("Task timed out after ");
        let report = if timed_out {
            None
        } else {
            parse_report(&ev.message)
        };
        if !timed_out && report.is_none() {
            return;
        }
        let name = function_of(&ev.group);
        if !self.functions.contains_key(name) && self.functions.len() >= MAX_FUNCTIONS {
            return;
        }
        let f = self.functions.entry(name.to_string()).or_default();
        note_origin(&mut f.origins, origin);
        let w = match phase {
            Phase::Incident => &mut f.incident,
            Phase::Baseline => &mut f.baseline,
            Phase::Outside => return,
        };
        let mut bad = timed_out;
        if timed_out {
            w.timeout_lines += 1;
        }
        if let Some(r) = report {
            w.invocations += 1;
            w.cold_starts += u64::from(r.init);
            w.duration_sum += r.duration;
            w.duration_max = w.duration_max.max(r.duration);
            if r.memory_size > 0.0 {
                w.memory_size = r.memory_size;
                w.memory_ratio = w.memory_ratio.max(r.max_memory_used / r.memory_size);
            }
            match r.status.as_deref() {
                Some("timeout") => {
                    w.timeout_reports += 1;
                    bad = true;
                }
                Some(_) => {
                    w.errors += 1;
                    bad = true;
                }
                None => {}
            }
        }
        if bad && w.first_bad.is_none_or(|t| ts < t) {
            w.first_bad = Some(ts);
        }
        if phase == Phase::Incident {
            f.first_seen = Some(f.first_seen.map_or(ts, |t| t.min(ts)));
            f.last_seen = Some(f.last_seen.map_or(ts, |t| t.max(ts)));
            if f.sample.is_none() || (bad && f.incident.first_bad == Some(ts)) {
                f.sample = Some(crate::bounds::cut(&ev.message, SAMPLE_BYTES));
            }
        }
    }

    pub fn finish(self, _ctx: &Ctx<'_>, origins: &[Origin]) -> Vec<Evidence> {
        let mut out = Vec::new();
        for (name, f) in self.functions {
            let (i, b) = (&f.incident, &f.baseline);
            if i.invocations == 0 && i.timeout_lines == 0 {
                continue;
            }
            let fail_shift = (i.fail_rate() - b.fail_rate()).max(0.0);
            let slow = match (i.mean_duration(), b.mean_duration()) {
                (Some(mi), Some(mb)) if mb > 0.0 && mi >= 1.5 * mb => {
                    ((mi / mb - 1.0) / 4.0).clamp(0.0, 1.0)
                }
                _ => 0.0,
            };
            let tight = i.memory_ratio >= 0.9 && b.memory_ratio < 0.9;
            let anomaly = fail_shift
                .max(slow)
                .max(if tight { 0.6 } else { 0.0 })
                .min(1.0);
            if anomaly < 0.1 {
                continue;
            }
            let failed = i.failed();
            let mut title = format!(
                "Lambda {name}: {} timeouts and {} errors in {} invocations (baseline: {} of {})",
                i.timeouts(),
                i.errors,
                i.invocations.max(i.timeout_lines),
                b.failed(),
                b.invocations.max(b.timeout_lines)
            );
            if let Some(mi) = i.mean_duration() {
                title.push_str(&format!("; mean duration {mi:.0} ms"));
                if let Some(mb) = b.mean_duration() {
                    title.push_str(&format!(" vs {mb:.0} ms"));
                }
            }
            if i.memory_size > 0.0 {
                title.push_str(&format!(
                    "; peak memory {:.0}% of {:.0} MB",
                    i.memory_ratio * 100.0,
                    i.memory_size
                ));
            }
            let mut e = Evidence::new(
                EvidenceKind::LambdaInvocations,
                super::source_name(origins, &f.origins, RecordKind::Logs),
                title,
            );
            e.count = if failed > 0 { failed } else { i.invocations };
            e.baseline_count = if failed > 0 {
                b.failed()
            } else {
                b.invocations
            };
            e.first_seen = f.first_seen;
            e.last_seen = f.last_seen;
            e.onset = i.first_bad.or(f.first_seen);
            e.signal = evidence::Signal {
                severity: if failed > 0 { 0.9 } else { 0.6 },
                anomaly,
                proximity: 0.0,
                z: anomaly * 8.0,
                new: b.failed() == 0 && failed > 0,
            };
            e.detail = Some(format!(
                "incident: {} invocations, {} cold starts, max duration {:.0} ms; baseline: {} invocations, {} cold starts, max duration {:.0} ms, peak memory {:.0}%",
                i.invocations,
                i.cold_starts,
                i.duration_max,
                b.invocations,
                b.cold_starts,
                b.duration_max,
                b.memory_ratio * 100.0
            ));
            e.samples = f.sample.into_iter().collect();
            e.resources = vec![name.clone()];
            let locs = super::locators(origins, &f.origins);
            let needle = if i.timeouts() > 0 {
                "Task timed out after"
            } else {
                "REPORT RequestId"
            };
            e.reproduce = crate::reproduce::grep_command(&locs, needle, None);
            e.origins = f.origins;
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
    fn platform_lines_are_read() {
        // REPORT line of a real capture (the shape the Lambda Developer Guide documents in
        // "Using CloudWatch Logs with Lambda": https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html)
        let r = parse_report(
            "REPORT RequestId: f08bb4c8-d6b2-4f05-ac17-af7e2ba005fb\tDuration: 619.31 ms\tBilled Duration: 700 ms\tMemory Size: 128 MB\tMax Memory Used: 118 MB\tInit Duration: 230.12 ms\t\nXRAY TraceId: 1-5e61",
        )
        .unwrap();
        assert_eq!(
            r,
            Report {
                duration: 619.31,
                memory_size: 128.0,
                max_memory_used: 118.0,
                init: true,
                status: None
            }
        );
        let t = parse_report("REPORT RequestId: 1\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 256 MB\tMax Memory Used: 90 MB\tStatus: timeout").unwrap();
        assert_eq!(t.status.as_deref(), Some("timeout"));
        // the JSON log format's platform.report (Lambda Developer Guide, "Configuring JSON and
        // plain text log formats": https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html)
        let j = parse_report(r#"{"time":"2023-11-01T00:21:51.358Z","type":"platform.report","record":{"requestId":"79b4f56e","metrics":{"durationMs":2.7,"billedDurationMs":3,"memorySizeMB":128,"maxMemoryUsedMB":75},"status":"success"}}"#).unwrap();
        assert_eq!(j.duration, 2.7);
        assert_eq!(j.status, None);
        assert!(!j.init);
        assert!(parse_report("START RequestId: 1 Version: $LATEST").is_none());
        assert_eq!(function_of("/aws/lambda/orders-fn"), "orders-fn");
    }

    #[test]
    fn timeouts_in_the_incident_are_evidence() {
        let s = crate::time::parse_timestamp("2024-08-16T11:00:00Z").unwrap();
        let w = crate::request::Window::with_baseline(
            s,
            s + chrono::Duration::minutes(30),
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        let mut a = LambdaAggregator::default();
        let group: std::sync::Arc<str> = std::sync::Arc::from("/aws/lambda/orders-fn");
        let ev = |m: String| LogEvent {
            ts: s,
            group: group.clone(),
            stream: None,
            message: m,
        };
        for k in 0..40 {
            let t = s - chrono::Duration::minutes(50) + chrono::Duration::seconds(k * 60);
            a.add(0, w.phase(t), t, &ev(format!("REPORT RequestId: b{k}\tDuration: 40.00 ms\tBilled Duration: 40 ms\tMemory Size: 256 MB\tMax Memory Used: 90 MB\t")));
        }
        for k in 0..20 {
            let t = s + chrono::Duration::seconds(k * 60);
            if k % 2 == 0 {
                a.add(
                    0,
                    w.phase(t),
                    t,
                    &ev(format!(
                        "2024-08-16T11:00:00.000Z i{k} Task timed out after 3.00 seconds"
                    )),
                );
                a.add(0, w.phase(t), t, &ev(format!("REPORT RequestId: i{k}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 256 MB\tMax Memory Used: 91 MB\tStatus: timeout")));
            } else {
                a.add(0, w.phase(t), t, &ev(format!("REPORT RequestId: i{k}\tDuration: 41.00 ms\tBilled Duration: 41 ms\tMemory Size: 256 MB\tMax Memory Used: 90 MB\t")));
            }
        }
        let ctx = Ctx {
            window: &w,
            timeline: super::super::TimelineSpec::new(&w),
            config: &super::super::DistillConfig::default(),
        };
        let e = a.finish(&ctx, &[]);
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].title,
            "Lambda orders-fn: 10 timeouts and 0 errors in 20 invocations (baseline: 0 of 40); mean duration 1520 ms vs 40 ms; peak memory 36% of 256 MB"
        );
        assert_eq!(e[0].count, 10);
        assert_eq!(e[0].baseline_count, 0);
        assert!(e[0].signal.new);
        assert_eq!(e[0].onset, Some(s));
        // half the invocations failed, and the mean duration is 38 times the baseline's
        assert_eq!(e[0].signal.anomaly, 1.0);
    }
}
