//! The one window policy: which incident windows fa2 accepts and which window an alarm gets.
//! Every entry calls it (the CLI, the Slack form and its jobs, the Lambda custom action and
//! alarm events, the CloudWatch alarm lookup), so a window refused on one is refused on all,
//! with the same words.
//!
//! A window `[start, end)` is accepted when start is before end, it is at most `max_window`
//! long, and neither bound lies more than [`FUTURE_TOLERANCE`] after now (clocks differ by a
//! little, a form rounds up to the next minute; a window in the future has no data and would
//! dilute every rate computed over it). All times are UTC, so daylight saving never matters
//! here; zones are the adapters' business.
//!
//! The alarm window of an alarm that went to ALARM at `t` is `[t − alarm_lookback,
//! min(now, t + alarm_lookback))`, the start rounded down and the end rounded up to whole
//! minutes, and at least the alarm's own minute. An alarm time slightly after now (within the
//! tolerance) is taken as now. The lookback after the alarm is what shows how the trouble
//! went on; a replayed old alarm gets the same window as a fresh one.
//!
//! Changes are looked for further back than the baseline: [`DEFAULT_CHANGE_LOOKBACK`] (config
//! `change_lookback`) before the start, for deploy- and configuration-class changes.
//!
//! All arithmetic on durations and times from outside is checked: a `--since 400000000d` or
//! an epoch in the year 262142 gives a [`WindowError`], never a panic.

use crate::request::Window;
use crate::time::{ceil_minute, floor_minute, format_duration, rfc3339};
use chrono::{DateTime, Utc};
use std::fmt;
use std::time::Duration;

/// How far after now a window may reach.
pub const FUTURE_TOLERANCE: Duration = Duration::from_secs(300);

/// How long before the incident window a deploy- or configuration-class change is still a
/// suspect (config `change_lookback`): a deploy that starts a slow leak, or a setting that
/// fills a disk, shows its first error hours later. The files source reads CloudTrail this far
/// back from what it was given, the Athena source queries its deploy- and configuration-class
/// changes that far back; the distiller scores changes within it (see `distill::audit`).
pub const DEFAULT_CHANGE_LOOKBACK: Duration = Duration::from_secs(6 * 3600);

/// The limits, from the configuration (`max_window`, `alarm_lookback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowPolicy {
    /// Longest incident window accepted.
    pub max_window: Duration,
    /// How far before (and after) an alarm its window reaches.
    pub alarm_lookback: Duration,
    /// How far after now a window may reach.
    pub future_tolerance: Duration,
}

impl Default for WindowPolicy {
    fn default() -> Self {
        WindowPolicy {
            max_window: Duration::from_secs(86_400),
            alarm_lookback: Duration::from_secs(900),
            future_tolerance: FUTURE_TOLERANCE,
        }
    }
}

/// Which time of a window an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Start,
    End,
    Alarm,
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bound::Start => "start",
            Bound::End => "end",
            Bound::Alarm => "alarm time",
        })
    }
}

/// Why a window is refused. The messages say what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error(
        "start {} is not before end {}: swap them or check the time zone",
        rfc3339(*start),
        rfc3339(*end)
    )]
    NotBefore {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    #[error(
        "the window is {} long, over max_window = {}: narrow it, or raise max_window in the configuration (FA2_MAX_WINDOW)",
        format_duration(*length),
        format_duration(*max)
    )]
    TooLong { length: Duration, max: Duration },
    #[error(
        "the {bound} {} is in the future (now is {}): there is no telemetry yet; check the date and the time zone",
        rfc3339(*at),
        rfc3339(*now)
    )]
    InFuture {
        bound: Bound,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    #[error("{0} is out of the range of dates fa2 can compute with")]
    OutOfRange(String),
}

impl WindowPolicy {
    pub fn from_config(c: &crate::config::Config) -> Self {
        WindowPolicy {
            max_window: c.max_window.0,
            alarm_lookback: c.alarm_lookback.0,
            future_tolerance: FUTURE_TOLERANCE,
        }
    }

    /// Accepts `[start, end)` or says why not.
    pub fn check(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), WindowError> {
        if start >= end {
            return Err(WindowError::NotBefore { start, end });
        }
        // Two DateTimes are at most ~525,000 years apart: always a valid TimeDelta.
        let length = (end - start).to_std().unwrap_or(Duration::MAX);
        if length > self.max_window {
            return Err(WindowError::TooLong {
                length,
                max: self.max_window,
            });
        }
        let latest = now
            .checked_add_signed(delta(self.future_tolerance, "the future tolerance")?)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        for (bound, at) in [(Bound::Start, start), (Bound::End, end)] {
            if at > latest {
                return Err(WindowError::InFuture { bound, at, now });
            }
        }
        Ok(())
    }

    /// The accepted window `[start, end)` with its baseline of length `baseline` just before.
    pub fn window(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        baseline: Duration,
        now: DateTime<Utc>,
    ) -> Result<Window, WindowError> {
        self.check(start, end, now)?;
        let baseline_start = start
            .checked_sub_signed(delta(baseline, "the baseline")?)
            .ok_or_else(|| {
                WindowError::OutOfRange(format!(
                    "a baseline of {} before {}",
                    format_duration(baseline),
                    rfc3339(start)
                ))
            })?;
        Ok(Window {
            start,
            end,
            baseline_start,
            baseline_end: start,
        })
    }

    /// The window of `length` that ends at `end` (`--since`, the quick `/fa2` window).
    pub fn since(
        &self,
        end: DateTime<Utc>,
        length: Duration,
        now: DateTime<Utc>,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), WindowError> {
        // Refused before any arithmetic: an absurd length is simply too long.
        if length > self.max_window {
            return Err(WindowError::TooLong {
                length,
                max: self.max_window,
            });
        }
        let start = end
            .checked_sub_signed(delta(length, "the window length")?)
            .ok_or_else(|| {
                WindowError::OutOfRange(format!(
                    "{} before {}",
                    format_duration(length),
                    rfc3339(end)
                ))
            })?;
        self.check(start, end, now)?;
        Ok((start, end))
    }

    /// The window of an alarm that went to ALARM at `alarm_at` (see the module docs).
    pub fn alarm_window(
        &self,
        alarm_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), WindowError> {
        let tolerance = delta(self.future_tolerance, "the future tolerance")?;
        if now
            .checked_add_signed(tolerance)
            .is_some_and(|l| alarm_at > l)
        {
            return Err(WindowError::InFuture {
                bound: Bound::Alarm,
                at: alarm_at,
                now,
            });
        }
        let at = alarm_at.min(now);
        let lookback = delta(self.alarm_lookback, "alarm_lookback")?;
        let start = at.checked_sub_signed(lookback).ok_or_else(|| {
            WindowError::OutOfRange(format!(
                "alarm_lookback ({}) before the alarm time {}",
                format_duration(self.alarm_lookback),
                rfc3339(at)
            ))
        })?;
        let until = at.checked_add_signed(lookback).map_or(now, |t| t.min(now));
        let alarm_minute_end = floor_minute(at)
            .checked_add_signed(chrono::Duration::minutes(1))
            .ok_or_else(|| WindowError::OutOfRange(format!("the alarm time {}", rfc3339(at))))?;
        let start = floor_minute(start);
        let end = ceil_minute(until).max(alarm_minute_end);
        self.check(start, end, now)?;
        Ok((start, end))
    }
}

fn delta(d: Duration, what: &str) -> Result<chrono::Duration, WindowError> {
    chrono::Duration::from_std(d)
        .map_err(|_| WindowError::OutOfRange(format!("{what} ({})", format_duration(d))))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: &str) -> DateTime<Utc> {
        crate::time::parse_timestamp(s).unwrap()
    }

    fn policy() -> WindowPolicy {
        WindowPolicy {
            max_window: Duration::from_secs(3600),
            alarm_lookback: Duration::from_secs(900),
            future_tolerance: FUTURE_TOLERANCE,
        }
    }

    const NOW: &str = "2026-11-24T12:00:30Z";

    #[test]
    fn boundaries() {
        let p = policy();
        let now = t(NOW);
        // exactly max_window is accepted, a second more is not
        assert!(
            p.check(t("2026-11-24T10:00:00Z"), t("2026-11-24T11:00:00Z"), now)
                .is_ok()
        );
        let e = p
            .check(t("2026-11-24T10:00:00Z"), t("2026-11-24T11:00:01Z"), now)
            .unwrap_err();
        assert!(matches!(e, WindowError::TooLong { .. }));
        assert_eq!(
            e.to_string(),
            "the window is 1h 1s long, over max_window = 1h: narrow it, or raise max_window in the configuration (FA2_MAX_WINDOW)"
        );
        // an empty or reversed window
        let s = t("2026-11-24T10:00:00Z");
        assert!(matches!(
            p.check(s, s, now),
            Err(WindowError::NotBefore { .. })
        ));
        let e = p
            .check(s, s - chrono::Duration::seconds(1), now)
            .unwrap_err();
        assert!(e.to_string().contains("is not before end"), "{e}");
        // the future: up to the tolerance past now, not beyond
        let tol = chrono::Duration::from_std(FUTURE_TOLERANCE).unwrap();
        assert!(
            p.check(now - chrono::Duration::minutes(30), now + tol, now)
                .is_ok()
        );
        let e = p
            .check(
                now - chrono::Duration::minutes(30),
                now + tol + chrono::Duration::seconds(1),
                now,
            )
            .unwrap_err();
        assert!(matches!(
            e,
            WindowError::InFuture {
                bound: Bound::End,
                ..
            }
        ));
        let e = p
            .check(
                now + chrono::Duration::minutes(10),
                now + chrono::Duration::minutes(20),
                now,
            )
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the start 2026-11-24T12:10:30.000Z is in the future"),
            "{e}"
        );
    }

    #[test]
    fn baseline_and_since() {
        let p = policy();
        let now = t(NOW);
        let w = p
            .window(
                t("2026-11-24T10:00:00Z"),
                t("2026-11-24T10:30:00Z"),
                Duration::from_secs(3600),
                now,
            )
            .unwrap();
        assert_eq!(w.baseline_start, t("2026-11-24T09:00:00Z"));
        assert_eq!(w.baseline_end, w.start);
        let (s, e) = p.since(now, Duration::from_secs(1800), now).unwrap();
        assert_eq!((s, e), (now - chrono::Duration::minutes(30), now));
        let e = p.since(now, Duration::from_secs(7200), now).unwrap_err();
        assert!(e.to_string().contains("over max_window = 1h"), "{e}");
    }

    #[test]
    fn overflow_inputs_are_errors() {
        let now = t(NOW);
        let huge = WindowPolicy {
            max_window: Duration::MAX,
            alarm_lookback: Duration::MAX,
            future_tolerance: FUTURE_TOLERANCE,
        };
        // --since 400000000d: too long for the policy, and out of range for a lenient one
        let since = crate::time::parse_duration("400000000d").unwrap();
        let e = policy().since(now, since, now).unwrap_err();
        assert!(e.to_string().contains("400000000d long"), "{e}");
        let e = huge.since(now, since, now).unwrap_err();
        assert!(matches!(e, WindowError::OutOfRange(_)), "{e}");
        assert!(huge.since(now, Duration::MAX, now).is_err());
        // an epoch in the year 262142 (the last year chrono knows) and around the first one
        let far = crate::time::from_millis(DateTime::<Utc>::MAX_UTC.timestamp_millis()).unwrap();
        assert_eq!(chrono::Datelike::year(&far), 262_142);
        let e = policy().alarm_window(far, now).unwrap_err();
        assert!(
            matches!(
                e,
                WindowError::InFuture {
                    bound: Bound::Alarm,
                    ..
                }
            ),
            "{e}"
        );
        let e = policy().check(now, far, now).unwrap_err();
        assert!(matches!(e, WindowError::TooLong { .. }), "{e}");
        let first = DateTime::<Utc>::MIN_UTC;
        assert!(matches!(
            policy().alarm_window(first, now),
            Err(WindowError::OutOfRange(_))
        ));
        assert!(matches!(
            policy().window(
                first,
                first + chrono::Duration::minutes(5),
                Duration::from_secs(60),
                now
            ),
            Err(WindowError::OutOfRange(_))
        ));
        assert!(huge.alarm_window(now, now).is_err());
        let e = policy()
            .window(now - chrono::Duration::minutes(5), now, Duration::MAX, now)
            .unwrap_err();
        assert!(e.to_string().contains("baseline"), "{e}");
    }

    #[test]
    fn alarm_window_rule() {
        let p = policy();
        // an old alarm: lookback on both sides, whole minutes
        let (s, e) = p.alarm_window(t("2024-09-10T14:20:00Z"), t(NOW)).unwrap();
        assert_eq!(
            (s, e),
            (t("2024-09-10T14:05:00Z"), t("2024-09-10T14:35:00Z"))
        );
        let (s, e) = p.alarm_window(t("2024-09-10T14:19:31.5Z"), t(NOW)).unwrap();
        assert_eq!(
            (s, e),
            (t("2024-09-10T14:04:00Z"), t("2024-09-10T14:35:00Z"))
        );
        // a fresh alarm: until the next minute after now
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 30).unwrap();
        let (s, e) = p
            .alarm_window(Utc.with_ymd_and_hms(2026, 11, 24, 9, 58, 0).unwrap(), now)
            .unwrap();
        assert_eq!(
            (s, e),
            (t("2026-11-24T09:43:00Z"), t("2026-11-24T10:01:00Z"))
        );
        // a clock a little ahead: the alarm is now
        let (s, e) = p
            .alarm_window(now + chrono::Duration::seconds(90), now)
            .unwrap();
        assert_eq!(
            (s, e),
            (t("2026-11-24T09:45:00Z"), t("2026-11-24T10:01:00Z"))
        );
        // no lookback: the alarm's minute
        let zero = WindowPolicy {
            alarm_lookback: Duration::ZERO,
            ..p
        };
        let (s, e) = zero.alarm_window(t("2024-09-10T14:20:10Z"), now).unwrap();
        assert_eq!(
            (s, e),
            (t("2024-09-10T14:20:00Z"), t("2024-09-10T14:21:00Z"))
        );
        // a lookback whose window cannot fit in max_window is refused, naming max_window
        let wide = WindowPolicy {
            alarm_lookback: Duration::from_secs(7200),
            ..p
        };
        let e = wide
            .alarm_window(t("2024-09-10T14:20:00Z"), now)
            .unwrap_err();
        assert!(e.to_string().contains("max_window"), "{e}");
    }
}
