//! What the user asks for: the incident description, the incident and baseline windows,
//! the answer language and the architecture description.

use crate::error::AnalysisError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Language of the prompt and of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Ja,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Ja => "ja",
        }
    }
}

impl FromStr for Language {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" | "english" => Ok(Language::En),
            "ja" | "jp" | "japanese" => Ok(Language::Ja),
            other => Err(format!("unknown language `{other}`: use en or ja")),
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The incident window `[start, end)` and the baseline window `[baseline_start, baseline_end)`
/// that it is compared against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    #[serde(with = "crate::time::serde_rfc3339")]
    pub start: DateTime<Utc>,
    #[serde(with = "crate::time::serde_rfc3339")]
    pub end: DateTime<Utc>,
    #[serde(with = "crate::time::serde_rfc3339")]
    pub baseline_start: DateTime<Utc>,
    #[serde(with = "crate::time::serde_rfc3339")]
    pub baseline_end: DateTime<Utc>,
}

/// Which window a timestamp falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Baseline,
    Incident,
    Outside,
}

impl Window {
    /// An incident window with the baseline immediately before it. Only the order is checked:
    /// the limits of a requested window are [`crate::window::WindowPolicy`]'s.
    pub fn with_baseline(
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        baseline: Duration,
    ) -> Result<Self, AnalysisError> {
        if start >= end {
            return Err(AnalysisError::InvalidRequest(format!(
                "start {} is not before end {}: swap them or check the time zone",
                crate::time::rfc3339(start),
                crate::time::rfc3339(end)
            )));
        }
        let baseline_start = chrono::Duration::from_std(baseline)
            .ok()
            .and_then(|b| start.checked_sub_signed(b))
            .ok_or_else(|| {
                AnalysisError::InvalidRequest(format!(
                    "a baseline of {} before {} is out of range",
                    crate::time::format_duration(baseline),
                    crate::time::rfc3339(start)
                ))
            })?;
        Ok(Window {
            start,
            end,
            baseline_start,
            baseline_end: start,
        })
    }

    pub fn phase(&self, ts: DateTime<Utc>) -> Phase {
        if ts >= self.start && ts < self.end {
            Phase::Incident
        } else if ts >= self.baseline_start && ts < self.baseline_end {
            Phase::Baseline
        } else {
            Phase::Outside
        }
    }

    pub fn incident_secs(&self) -> f64 {
        ((self.end - self.start).num_milliseconds() as f64 / 1000.0).max(1.0)
    }

    pub fn baseline_secs(&self) -> f64 {
        ((self.baseline_end - self.baseline_start).num_milliseconds() as f64 / 1000.0).max(1.0)
    }

    /// The span that must be collected to cover both windows.
    pub fn collect_start(&self) -> DateTime<Utc> {
        self.baseline_start.min(self.start)
    }

    pub fn collect_end(&self) -> DateTime<Utc> {
        self.end.max(self.baseline_end)
    }
}

/// One analysis to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisRequest {
    /// Free text from a person or an alarm: untrusted.
    pub description: String,
    pub window: Window,
    pub language: Language,
    /// How the system is built (like FA2's `architectureDescription`).
    pub architecture: String,
}

impl AnalysisRequest {
    /// Default baseline: the 60 minutes before the incident start.
    pub const DEFAULT_BASELINE: Duration = Duration::from_secs(3600);

    pub fn new(
        description: impl Into<String>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Self, AnalysisError> {
        Ok(AnalysisRequest {
            description: description.into(),
            window: Window::with_baseline(start, end, Self::DEFAULT_BASELINE)?,
            language: Language::En,
            architecture: String::new(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn baseline_defaults_to_previous_hour() {
        let s = crate::time::parse_timestamp("2024-08-16T11:19:00Z").unwrap();
        let e = crate::time::parse_timestamp("2024-08-16T11:49:00Z").unwrap();
        let r = AnalysisRequest::new("x", s, e).unwrap();
        assert_eq!(
            r.window.baseline_start,
            crate::time::parse_timestamp("2024-08-16T10:19:00Z").unwrap()
        );
        assert_eq!(r.window.baseline_end, s);
        assert_eq!(r.window.phase(s), Phase::Incident);
        assert_eq!(r.window.phase(e), Phase::Outside);
        assert_eq!(
            r.window.phase(s - chrono::Duration::seconds(1)),
            Phase::Baseline
        );
        assert!(AnalysisRequest::new("x", e, s).is_err());
    }

    #[test]
    fn languages() {
        assert_eq!("JA".parse::<Language>().unwrap(), Language::Ja);
        assert!("fr".parse::<Language>().is_err());
    }
}
