//! CloudWatch alarm state changes → evidence per alarm, whose first transition to ALARM in the
//! incident window is its onset: an alarm going off is a strong anchor for when the incident
//! began (the anchor is the earliest strong anomaly, so an alarm that fires after the errors it
//! watches never moves the onset later).
//!
//! Policy: the files source writes alarm history and `describe-alarms` output as log events of
//! the group `cloudwatch-alarms` (`telemetry/files/metrics.rs`): `Alarm "<name>" changed from
//! <OLD> to ALARM: <reason>` or `Alarm "<name>" is in state ALARM: <reason>`. An alarm is
//! evidence when it went to ALARM in the incident window; it is new when it did not in the
//! baseline.

use super::{Ctx, note_origin};
use crate::evidence::{self, Evidence, EvidenceKind};
use crate::record::{LogEvent, RecordKind};
use crate::request::Phase;
use crate::telemetry::files::ALARM_GROUP;
use crate::telemetry::{Origin, OriginId};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Alarms tracked.
const MAX_ALARMS: usize = 1000;

#[derive(Debug, Default)]
struct Alarm {
    incident: u64,
    baseline: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    reason: Option<String>,
    origins: Vec<OriginId>,
}

#[derive(Debug, Default)]
pub(crate) struct AlarmAggregator {
    alarms: BTreeMap<String, Alarm>,
}

/// The alarm name and reason of a transition to ALARM.
fn parse_alarm(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix("Alarm \"")?;
    let (name, rest) = rest.split_once("\" ")?;
    let after = if let Some(r) = rest.strip_prefix("changed from ") {
        r.split_once(" to ALARM")?.1
    } else {
        rest.strip_prefix("is in state ALARM")?
    };
    Some((name, after.strip_prefix(": ").unwrap_or("")))
}

impl AlarmAggregator {
    pub fn add(&mut self, origin: OriginId, phase: Phase, ts: DateTime<Utc>, ev: &LogEvent) {
        if &*ev.group != ALARM_GROUP {
            return;
        }
        let Some((name, reason)) = parse_alarm(&ev.message) else {
            return;
        };
        if !self.alarms.contains_key(name) && self.alarms.len() >= MAX_ALARMS {
            return;
        }
        let a = self.alarms.entry(name.to_string()).or_default();
        note_origin(&mut a.origins, origin);
        match phase {
            Phase::Incident => {
                a.incident += 1;
                if a.first.is_none_or(|t| ts < t) {
                    a.first = Some(ts);
                    a.reason = Some(crate::bounds::cut(reason, 512));
                }
                a.last = Some(a.last.map_or(ts, |t| t.max(ts)));
            }
            Phase::Baseline => a.baseline += 1,
            Phase::Outside => {}
        }
    }

    pub fn finish(self, _ctx: &Ctx<'_>, origins: &[Origin]) -> Vec<Evidence> {
        let mut out = Vec::new();
        for (name, a) in self.alarms {
            let Some(first) = a.first else {
                continue;
            };
            let mut e = Evidence::new(
                EvidenceKind::AlarmState,
                super::source_name(origins, &a.origins, RecordKind::Logs),
                format!(
                    "CloudWatch alarm {name} went to ALARM at {} ({} times in the incident, {} in the baseline){}",
                    first.format("%H:%M:%SZ"),
                    a.incident,
                    a.baseline,
                    a.reason
                        .as_deref()
                        .filter(|r| !r.is_empty())
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            );
            e.count = a.incident;
            e.baseline_count = a.baseline;
            e.first_seen = Some(first);
            e.last_seen = a.last;
            e.onset = Some(first);
            let new = a.baseline == 0;
            e.signal = evidence::Signal {
                severity: 0.7,
                anomaly: if new { 1.0 } else { 0.5 },
                proximity: 0.0,
                z: if new { 8.0 } else { 2.0 },
                new,
            };
            e.resources = vec![name.clone()];
            let locs = super::locators(origins, &a.origins);
            e.reproduce = crate::reproduce::grep_command(&locs, &name, None);
            e.origins = a.origins;
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
    fn the_first_transition_to_alarm_is_the_onset() {
        assert_eq!(
            parse_alarm("Alarm \"myalarm\" changed from OK to ALARM: testing purposes"),
            Some(("myalarm", "testing purposes"))
        );
        assert_eq!(
            parse_alarm("Alarm \"orders-5xx\" is in state ALARM: Threshold Crossed"),
            Some(("orders-5xx", "Threshold Crossed"))
        );
        assert_eq!(
            parse_alarm("Alarm \"myalarm\" changed from ALARM to OK: back"),
            None
        );
        let s = crate::time::parse_timestamp("2024-08-16T11:00:00Z").unwrap();
        let w = crate::request::Window::with_baseline(
            s,
            s + chrono::Duration::minutes(30),
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        let group: std::sync::Arc<str> = std::sync::Arc::from(ALARM_GROUP);
        let mut a = AlarmAggregator::default();
        for (min, m) in [
            (
                12,
                "Alarm \"orders-5xx\" changed from OK to ALARM: Threshold Crossed: 1 datapoint [41.0]",
            ),
            (20, "Alarm \"orders-5xx\" changed from ALARM to OK: back"),
            (25, "Alarm \"orders-5xx\" changed from OK to ALARM: again"),
            (-30, "Alarm \"cpu\" changed from OK to ALARM: chronic"),
        ] {
            let t = s + chrono::Duration::minutes(min);
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
            );
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
            "CloudWatch alarm orders-5xx went to ALARM at 11:12:00Z (2 times in the incident, 0 in the baseline): Threshold Crossed: 1 datapoint [41.0]"
        );
        assert_eq!(e[0].onset, Some(s + chrono::Duration::minutes(12)));
        assert!(e[0].signal.new);
    }
}
