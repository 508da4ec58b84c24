//! Telemetry record types shared by every source and every distiller.
//!
//! Records are owned values so that third-party `TelemetrySource`s can build them freely;
//! strings that repeat across many records (log group, stream) are `Arc<str>`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The kind of a record, as named in the report's `sources[].kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    Logs,
    Alb,
    Cloudtrail,
    Xray,
    Metrics,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Logs => "logs",
            RecordKind::Alb => "alb",
            RecordKind::Cloudtrail => "cloudtrail",
            RecordKind::Xray => "xray",
            RecordKind::Metrics => "metrics",
        }
    }
}

/// One log event (CloudWatch Logs or a plain application log).
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub ts: DateTime<Utc>,
    pub group: Arc<str>,
    pub stream: Option<Arc<str>>,
    /// The message; for plain logs the line after its timestamp, continuation lines joined by `\n`.
    pub message: String,
}

/// One ALB access log entry with every documented field. Numbers that ALB writes as `-1`
/// (no target reached) are kept as `-1`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlbAccessLog {
    pub kind: String,
    pub time: Option<DateTime<Utc>>,
    pub elb: String,
    pub client: String,
    pub target: String,
    pub request_processing_time: f64,
    pub target_processing_time: f64,
    pub response_processing_time: f64,
    /// `None` when ALB wrote `-`.
    pub elb_status_code: Option<u16>,
    pub target_status_code: Option<u16>,
    pub received_bytes: u64,
    pub sent_bytes: u64,
    pub method: String,
    pub url: String,
    pub protocol: String,
    pub user_agent: String,
    pub ssl_cipher: String,
    pub ssl_protocol: String,
    pub target_group_arn: String,
    pub trace_id: String,
    pub domain_name: String,
    pub chosen_cert_arn: String,
    pub matched_rule_priority: String,
    pub request_creation_time: Option<DateTime<Utc>>,
    pub actions_executed: String,
    pub redirect_url: String,
    pub error_reason: String,
    pub target_port_list: String,
    pub target_status_code_list: String,
    pub classification: String,
    pub classification_reason: String,
    /// Fields after the documented ones (ALB adds fields over time).
    pub extra: Vec<String>,
}

impl AlbAccessLog {
    /// The path of the request URL without scheme, host and query.
    pub fn path(&self) -> &str {
        let u = self.url.as_str();
        let after_scheme = u.find("://").map_or(u, |i| &u[i + 3..]);
        let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
        path.split(['?', '#']).next().unwrap_or(path)
    }

    /// The target group name from its ARN (`targetgroup/<name>/<id>`).
    pub fn target_group(&self) -> &str {
        self.target_group_arn
            .split("targetgroup/")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .unwrap_or(
                if self.target_group_arn.is_empty() || self.target_group_arn == "-" {
                    "-"
                } else {
                    self.target_group_arn.as_str()
                },
            )
    }
}

/// One CloudTrail event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditEvent {
    pub time: Option<DateTime<Utc>>,
    pub event_source: String,
    pub event_name: String,
    pub region: String,
    pub source_ip: String,
    pub user_agent: String,
    pub identity_type: String,
    pub identity_arn: String,
    /// A short, human name of who acted (user name, role session, or principal).
    pub actor: String,
    /// `None` when the record does not say (lookup-events without the full event).
    pub read_only: Option<bool>,
    pub error_code: String,
    pub error_message: String,
    /// Compact JSON of `requestParameters`, truncated.
    pub request_parameters: String,
    /// Resource names the event touched (from `resources` or well-known request parameters).
    pub resources: Vec<String>,
    pub event_id: String,
}

impl AuditEvent {
    /// Whether the call changes something, guessing from the name when `readOnly` is absent.
    pub fn is_mutating(&self) -> bool {
        match self.read_only {
            Some(ro) => !ro,
            None => ![
                "Describe",
                "Get",
                "List",
                "Lookup",
                "Head",
                "Search",
                "Select",
                "Scan",
                "Query",
                "BatchGet",
                "Decrypt",
                "AssumeRole",
            ]
            .iter()
            .any(|p| self.event_name.starts_with(p)),
        }
    }
}

/// An X-Ray root cause entry (fault, error or throttle) from a trace summary.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RootCause {
    pub service: String,
    pub service_type: String,
    /// Innermost entity of the path that carries the exception (or the service itself).
    pub entity: String,
    pub exception: String,
    pub message: String,
    pub remote: bool,
}

/// One X-Ray trace summary (`GetTraceSummaries`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceSummary {
    pub id: String,
    pub start: Option<DateTime<Utc>>,
    pub duration: f64,
    pub response_time: f64,
    pub has_fault: bool,
    pub has_error: bool,
    pub has_throttle: bool,
    pub http_method: String,
    pub http_url: String,
    pub http_status: Option<u16>,
    pub entry_point: String,
    pub services: Vec<String>,
    pub fault_root_causes: Vec<RootCause>,
    pub error_root_causes: Vec<RootCause>,
    pub throttle_root_causes: Vec<RootCause>,
}

/// One segment or subsegment of a full trace, flattened.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Span {
    pub name: String,
    pub namespace: String,
    pub origin: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub fault: bool,
    pub error: bool,
    pub throttle: bool,
    pub http_status: Option<u16>,
    /// `(type, message)` of the exceptions recorded on this span.
    pub exceptions: Vec<(String, String)>,
    /// Name of the top-level segment this span belongs to.
    pub segment: String,
}

/// One full trace (`BatchGetTraces`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trace {
    pub id: String,
    pub duration: f64,
    pub spans: Vec<Span>,
}

/// ALB requests counted by a query (Athena's `GROUP BY`), one group of status, target group,
/// method and path in one window: counts crossed the network, not the entries.
#[derive(Debug, Clone, PartialEq)]
pub struct AlbCount {
    pub phase: crate::request::Phase,
    pub elb_status_code: Option<u16>,
    pub target_status_code: Option<u16>,
    /// Target group name (from the ARN), `-` when no target group.
    pub target_group: String,
    pub method: String,
    pub path: String,
    pub requests: u64,
    /// Requests whose target did not answer (`target_processing_time = -1`).
    pub no_target_response: u64,
    pub avg_target_time: Option<f64>,
    pub max_target_time: Option<f64>,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// A log pattern counted by the server (Logs Insights `pattern`): only the pattern, its counts
/// per window and a few samples crossed the network, not the events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogPattern {
    pub group: Arc<str>,
    /// The pattern text with the server's wildcards (`<*>`).
    pub pattern: String,
    pub incident_count: u64,
    pub baseline_count: u64,
    pub samples: Vec<String>,
    /// Severity the server inferred, if any.
    pub severity: Option<String>,
}

/// One CloudWatch metric time series (`GetMetricData`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricSeries {
    pub id: String,
    pub label: String,
    /// Points sorted by time ascending.
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// Any record a source can deliver.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Log(LogEvent),
    /// A record that stands for `weight` records like it, of which only this one was read or
    /// sent: a source that read a sample of a window (an evenly sampled baseline) or that only
    /// got a server-side count (Logs Insights `pattern`) sends these, so that the distiller's
    /// counts of both windows stay comparable. The distiller scales the counts of log events
    /// and X-Ray trace summaries by the weight (a weight below 1 counts as 1); other kinds count
    /// once. [`Record::count`] and the report's source counts are the records read.
    Sampled {
        weight: f64,
        record: Box<Record>,
    },
    LogPattern(Box<LogPattern>),
    Alb(Box<AlbAccessLog>),
    AlbCount(Box<AlbCount>),
    Audit(Box<AuditEvent>),
    TraceSummary(Box<TraceSummary>),
    Trace(Box<Trace>),
    Metric(MetricSeries),
}

impl Record {
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Sampled { record, .. } => record.kind(),
            Record::Log(_) | Record::LogPattern(_) => RecordKind::Logs,
            Record::Alb(_) | Record::AlbCount(_) => RecordKind::Alb,
            Record::Audit(_) => RecordKind::Cloudtrail,
            Record::TraceSummary(_) | Record::Trace(_) => RecordKind::Xray,
            Record::Metric(_) => RecordKind::Metrics,
        }
    }

    /// How many countable records this is (a metric series counts its points, a pattern the
    /// events the server counted).
    pub fn count(&self) -> u64 {
        match self {
            Record::Sampled { record, .. } => record.count(),
            Record::Metric(m) => m.points.len() as u64,
            Record::LogPattern(p) => p.incident_count + p.baseline_count,
            Record::AlbCount(c) => c.requests,
            _ => 1,
        }
    }

    /// A cheap estimate of the bytes this record holds (its size and the text it owns), so
    /// that buffers of records in flight can be bounded by bytes, not only by count: a batch
    /// of 2,048 log events of 512 KB each is a gigabyte.
    pub fn approx_bytes(&self) -> usize {
        const S: usize = std::mem::size_of::<String>();
        let strs = |v: &[String]| v.iter().map(|x| S + x.len()).sum::<usize>();
        let own = std::mem::size_of::<Record>();
        own + match self {
            Record::Sampled { record, .. } => record.approx_bytes(),
            Record::Log(e) => e.message.len(),
            Record::LogPattern(p) => {
                std::mem::size_of::<LogPattern>() + p.pattern.len() + strs(&p.samples)
            }
            Record::Alb(a) => {
                std::mem::size_of::<AlbAccessLog>()
                    + a.url.len()
                    + a.user_agent.len()
                    + a.target_group_arn.len()
                    + a.error_reason.len()
                    + a.redirect_url.len()
                    + a.actions_executed.len()
                    + a.trace_id.len()
                    + a.domain_name.len()
                    + a.chosen_cert_arn.len()
                    + a.classification.len()
                    + a.classification_reason.len()
                    + a.target_port_list.len()
                    + a.target_status_code_list.len()
                    + a.elb.len()
                    + a.client.len()
                    + a.target.len()
                    + a.method.len()
                    + a.protocol.len()
                    + a.ssl_cipher.len()
                    + a.ssl_protocol.len()
                    + a.matched_rule_priority.len()
                    + a.kind.len()
                    + strs(&a.extra)
            }
            Record::AlbCount(c) => {
                std::mem::size_of::<AlbCount>()
                    + c.target_group.len()
                    + c.method.len()
                    + c.path.len()
            }
            Record::Audit(a) => {
                std::mem::size_of::<AuditEvent>()
                    + a.event_source.len()
                    + a.event_name.len()
                    + a.region.len()
                    + a.source_ip.len()
                    + a.user_agent.len()
                    + a.identity_type.len()
                    + a.identity_arn.len()
                    + a.actor.len()
                    + a.error_code.len()
                    + a.error_message.len()
                    + a.request_parameters.len()
                    + strs(&a.resources)
                    + a.event_id.len()
            }
            Record::TraceSummary(t) => {
                let causes = |v: &[RootCause]| {
                    v.iter()
                        .map(|c| {
                            std::mem::size_of::<RootCause>()
                                + c.service.len()
                                + c.service_type.len()
                                + c.entity.len()
                                + c.exception.len()
                                + c.message.len()
                        })
                        .sum::<usize>()
                };
                std::mem::size_of::<TraceSummary>()
                    + t.id.len()
                    + t.http_method.len()
                    + t.http_url.len()
                    + t.entry_point.len()
                    + strs(&t.services)
                    + causes(&t.fault_root_causes)
                    + causes(&t.error_root_causes)
                    + causes(&t.throttle_root_causes)
            }
            Record::Trace(t) => {
                std::mem::size_of::<Trace>()
                    + t.id.len()
                    + t.spans
                        .iter()
                        .map(|s| {
                            std::mem::size_of::<Span>()
                                + s.name.len()
                                + s.namespace.len()
                                + s.origin.len()
                                + s.segment.len()
                                + s.exceptions
                                    .iter()
                                    .map(|(a, b)| 2 * S + a.len() + b.len())
                                    .sum::<usize>()
                        })
                        .sum::<usize>()
            }
            Record::Metric(m) => {
                m.id.len()
                    + m.label.len()
                    + m.points.len() * std::mem::size_of::<(DateTime<Utc>, f64)>()
            }
        }
    }

    /// Fine-grained record type, used for per-type counts in the report.
    pub fn record_type(&self) -> RecordType {
        match self {
            Record::Sampled { record, .. } => record.record_type(),
            Record::Log(_) | Record::LogPattern(_) => RecordType::LogEvents,
            Record::Alb(_) | Record::AlbCount(_) => RecordType::AlbEntries,
            Record::Audit(_) => RecordType::CloudtrailRecords,
            Record::TraceSummary(_) => RecordType::XraySummaries,
            Record::Trace(_) => RecordType::XrayTraces,
            Record::Metric(_) => RecordType::MetricPoints,
        }
    }
}

/// The countable unit of each record kind (named like `truth.json`'s `counts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordType {
    LogEvents,
    AlbEntries,
    CloudtrailRecords,
    XraySummaries,
    XrayTraces,
    MetricPoints,
}

impl RecordType {
    pub fn kind(self) -> RecordKind {
        match self {
            RecordType::LogEvents => RecordKind::Logs,
            RecordType::AlbEntries => RecordKind::Alb,
            RecordType::CloudtrailRecords => RecordKind::Cloudtrail,
            RecordType::XraySummaries | RecordType::XrayTraces => RecordKind::Xray,
            RecordType::MetricPoints => RecordKind::Metrics,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::LogEvents => "log_events",
            RecordType::AlbEntries => "alb_entries",
            RecordType::CloudtrailRecords => "cloudtrail_records",
            RecordType::XraySummaries => "xray_summaries",
            RecordType::XrayTraces => "xray_traces",
            RecordType::MetricPoints => "metric_points",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alb_path_and_target_group() {
        let a = AlbAccessLog {
            url: "https://shop.example.com:443/api/cart?x=1".into(),
            target_group_arn:
                "arn:aws:elasticloadbalancing:ap-northeast-1:123:targetgroup/checkout-tg/73e2"
                    .into(),
            ..Default::default()
        };
        assert_eq!(a.path(), "/api/cart");
        assert_eq!(a.target_group(), "checkout-tg");
        let b = AlbAccessLog {
            url: "-".into(),
            target_group_arn: "-".into(),
            ..Default::default()
        };
        assert_eq!(b.path(), "/");
        assert_eq!(b.target_group(), "-");
    }

    #[test]
    fn mutating_guess() {
        let mut e = AuditEvent {
            event_name: "DescribeTable".into(),
            ..Default::default()
        };
        assert!(!e.is_mutating());
        e.event_name = "UpdateTable".into();
        assert!(e.is_mutating());
        e.read_only = Some(true);
        assert!(!e.is_mutating());
    }
}
