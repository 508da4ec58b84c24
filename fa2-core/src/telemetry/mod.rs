//! The `TelemetrySource` trait, the record sink that sources stream into, and the
//! bookkeeping (origins, statuses) that lets the report say where every record came from.

#[cfg(feature = "aws")]
pub mod aws;
pub mod files;
mod unavailable;

pub use unavailable::UnavailableSource;

use crate::error::SourceError;
use crate::record::{Record, RecordKind, RecordType};
use crate::request::Window;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What a source is asked to collect.
#[derive(Debug, Clone)]
pub struct SourceQuery {
    pub window: Window,
    /// The source must stop by this instant; the pipeline also enforces it.
    pub deadline: Instant,
    /// Set by the pipeline when the source is no longer waited for.
    pub cancel: Arc<AtomicBool>,
}

impl SourceQuery {
    pub fn new(window: Window, deadline: Instant) -> Self {
        SourceQuery {
            window,
            deadline,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// True once the source should give up (deadline passed or cancelled).
    pub fn should_stop(&self) -> bool {
        self.cancel.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }
}

/// How a record's container can be found again by a person (used for `reproduce`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Locator {
    /// An exported file in a known format.
    File {
        path: PathBuf,
        format: FileFormat,
        gzip: bool,
    },
    /// A query run against a service; `text` is the exact query.
    Query { service: String, text: String },
}

/// The formats the files source reads (DESIGN.md section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileFormat {
    FilterLogEvents,
    InsightsResults,
    FirehoseLogs,
    PlainLog,
    AlbAccessLog,
    CloudTrailRecords,
    CloudTrailLookup,
    XraySummaries,
    XrayTraces,
    MetricData,
    /// CloudTrail events as a bare array, one event, or JSON lines.
    CloudTrailEvents,
    /// Raw X-Ray segment documents (one, an array, or JSON lines).
    XraySegments,
    /// JSON-lines logs (one JSON object per line).
    JsonLogs,
    /// `aws cloudwatch get-metric-statistics` output.
    MetricStatistics,
    /// `aws cloudwatch describe-alarm-history` output.
    AlarmHistory,
    /// `aws cloudwatch describe-alarms` output.
    DescribeAlarms,
    /// nginx / Apache access logs (common or combined log format).
    AccessLog,
    /// VPC Flow Logs (default version 2 format, or a custom format with a header line).
    VpcFlowLog,
}

impl FileFormat {
    pub fn kind(self) -> RecordKind {
        match self {
            FileFormat::FilterLogEvents
            | FileFormat::InsightsResults
            | FileFormat::FirehoseLogs
            | FileFormat::PlainLog
            | FileFormat::JsonLogs
            | FileFormat::AlarmHistory
            | FileFormat::DescribeAlarms
            | FileFormat::AccessLog
            | FileFormat::VpcFlowLog => RecordKind::Logs,
            FileFormat::AlbAccessLog => RecordKind::Alb,
            FileFormat::CloudTrailRecords
            | FileFormat::CloudTrailLookup
            | FileFormat::CloudTrailEvents => RecordKind::Cloudtrail,
            FileFormat::XraySummaries | FileFormat::XrayTraces | FileFormat::XraySegments => {
                RecordKind::Xray
            }
            FileFormat::MetricData | FileFormat::MetricStatistics => RecordKind::Metrics,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            FileFormat::FilterLogEvents => "CloudWatch Logs filter-log-events output",
            FileFormat::InsightsResults => "CloudWatch Logs Insights get-query-results output",
            FileFormat::FirehoseLogs => "CloudWatch Logs subscription records (Firehose)",
            FileFormat::PlainLog => "plain log with leading timestamps",
            FileFormat::AlbAccessLog => "ALB access log",
            FileFormat::CloudTrailRecords => "CloudTrail Records",
            FileFormat::CloudTrailLookup => "CloudTrail lookup-events output",
            FileFormat::XraySummaries => "X-Ray get-trace-summaries output",
            FileFormat::XrayTraces => "X-Ray batch-get-traces output",
            FileFormat::MetricData => "CloudWatch get-metric-data output",
            FileFormat::CloudTrailEvents => "CloudTrail events (array, single event or JSON lines)",
            FileFormat::XraySegments => "X-Ray segment documents",
            FileFormat::JsonLogs => "JSON-lines log",
            FileFormat::MetricStatistics => "CloudWatch get-metric-statistics output",
            FileFormat::AlarmHistory => "CloudWatch describe-alarm-history output",
            FileFormat::DescribeAlarms => "CloudWatch describe-alarms output",
            FileFormat::AccessLog => "web server access log (common/combined log format)",
            FileFormat::VpcFlowLog => "VPC Flow Logs",
        }
    }
}

/// Where a batch of records came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The source name, e.g. `files:./incident`.
    pub source: String,
    pub kind: RecordKind,
    pub locator: Locator,
}

/// Index of an [`Origin`] registered with a sink.
pub type OriginId = u32;

/// Receives records from a source. Implementations may block in `accept` to apply
/// backpressure, so sources call it from blocking context (see `spawn_blocking`).
pub trait RecordSink: Send {
    /// Registers where the following records come from.
    fn register_origin(&mut self, origin: Origin) -> OriginId;
    /// Takes one record. An error means the consumer is gone: stop collecting.
    fn accept(&mut self, origin: OriginId, record: Record) -> Result<(), SourceError>;
}

/// Outcome of one source (or one part of it, such as one file) for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub name: String,
    /// `logs|alb|cloudtrail|xray|metrics`, or `unknown` for a file in no known format.
    pub kind: String,
    pub status: SourceState,
    pub records: u64,
    pub error: Option<String>,
    /// Per record type counts (extra field: `log_events`, `xray_traces`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<RecordType, u64>,
    /// Number of files or queries behind this entry (extra field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u64>,
    /// Bytes the service scanned (and bills) for this entry: Athena's `DataScannedInBytes`
    /// (extra field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanned_bytes: Option<u64>,
    /// What was read, for people: partitions, windows, sampling (extra field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl SourceStatus {
    /// A successful (part of a) source: its records per type, read from `parts` files or
    /// queries, with the warnings worth telling in `error`.
    pub fn ok(
        name: impl Into<String>,
        kind: RecordKind,
        counts: BTreeMap<RecordType, u64>,
        warnings: &[String],
        parts: u64,
    ) -> Self {
        SourceStatus {
            name: name.into(),
            kind: kind.as_str().into(),
            status: SourceState::Ok,
            records: counts.values().sum(),
            error: (!warnings.is_empty()).then(|| format!("warnings: {}", warnings.join("; "))),
            counts,
            parts: Some(parts),
            scanned_bytes: None,
            detail: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceState {
    Ok,
    Error,
    Skipped,
}

/// What a finished `collect` reports besides the records it streamed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectSummary {
    pub statuses: Vec<SourceStatus>,
}

/// A way for a person to get the same data again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reproduction {
    pub kind: RecordKind,
    /// A command, query or console link.
    pub text: String,
}

/// A source of telemetry records.
#[async_trait]
pub trait TelemetrySource: Send + Sync {
    /// Name shown in the report, e.g. `files:./incident`.
    fn name(&self) -> &str;
    /// Streams every record of both windows into `sink`. Partial problems (one bad file) go
    /// into the summary; an `Err` means the source as a whole failed.
    async fn collect(
        &self,
        query: &SourceQuery,
        sink: &mut dyn RecordSink,
    ) -> Result<CollectSummary, SourceError>;
    /// How a person gets the same data.
    fn reproduce(&self, query: &SourceQuery) -> Vec<Reproduction>;
}

/// A sink that keeps everything in memory: for tests and small embedders.
#[derive(Debug, Default)]
pub struct VecSink {
    pub origins: Vec<Origin>,
    pub records: Vec<(OriginId, Record)>,
}

impl RecordSink for VecSink {
    fn register_origin(&mut self, origin: Origin) -> OriginId {
        self.origins.push(origin);
        (self.origins.len() - 1) as OriginId
    }

    fn accept(&mut self, origin: OriginId, record: Record) -> Result<(), SourceError> {
        self.records.push((origin, record));
        Ok(())
    }
}
