//! The CloudWatch Logs source (`cloudwatch-logs`): reads the log events of configured log
//! groups for the baseline and incident windows, through Logs Insights (the default) or
//! `FilterLogEvents`, and the server-side pattern summaries of Logs Insights' `pattern` command.
//!
//! - **Insights** ([`LogsMode::Insights`]): one query per 50 log groups (the service's limit)
//!   over `[baseline_start, end)`, sorted by time ascending with `limit 10000` (the service's
//!   row cap). A result with exactly the cap of rows is incomplete: its rows before the last
//!   whole second are complete (the query is sorted ascending), so they are kept and the rest
//!   of the time range is queried again from that second on. This splits the range at the
//!   point the service reached, never discards complete rows, and always progresses. More than
//!   10,000 events in one single second cannot be split further (the API takes whole
//!   seconds): the status then says how the result was cut.
//! - **FilterLogEvents** ([`LogsMode::FilterLogEvents`]): per log group, `FilterLogEvents`
//!   page by page (millisecond time range, optional filter pattern).
//! - **Pattern** ([`LogsMode::Pattern`]): `pattern @message` runs on the server, one query for
//!   the incident window and one for the baseline, joined in Rust by pattern text
//!   ([`CloudWatchLogsSource::collect_patterns`]). Each pattern carries the number of events
//!   the *server* counted. A [`Record::Log`] counts as one event in the distiller, so emitting
//!   pattern samples as log events would report wrong counts; until records can carry a count,
//!   `collect` in this mode delivers no records and says so in an error status, and callers use
//!   [`CloudWatchLogsSource::collect_patterns`] directly.
//!
//! Every query is registered as an [`Origin`] whose locator holds the exact query text, its log
//! groups and time range, the equivalent `aws logs` command and a CloudWatch console link.
//! Records stream into the sink per result page; memory holds one page at a time.

use crate::error::SourceError;
use crate::record::{LogEvent, Record, RecordKind, RecordType};
use crate::telemetry::aws::{Poller, sdk_error};
use crate::telemetry::{
    CollectSummary, Locator, Origin, OriginId, RecordSink, Reproduction, SourceQuery, SourceState,
    SourceStatus, TelemetrySource,
};
use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::{QueryStatus, ResultField};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// The name of this source in reports.
pub const SOURCE_NAME: &str = "cloudwatch-logs";
/// The `service` of the locators of Logs Insights queries.
pub const INSIGHTS_SERVICE: &str = "cloudwatch-logs-insights";
/// The `service` of the locators of `FilterLogEvents` calls.
pub const FILTER_SERVICE: &str = "cloudwatch-logs";
/// Logs Insights accepts at most this many log groups per query.
pub const MAX_GROUPS_PER_QUERY: usize = 50;
/// Logs Insights returns at most this many rows per query.
pub const INSIGHTS_ROW_CAP: usize = 10_000;

/// How long a `StopQuery` may take once the deadline has passed.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Stream names kept interned per query; beyond this the cache restarts (memory bound).
const INTERN_MAX: usize = 4096;

/// How the source reads the log groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogsMode {
    /// Logs Insights queries returning raw events (the default).
    #[default]
    Insights,
    /// `FilterLogEvents`, page by page, per log group.
    FilterLogEvents,
    /// Logs Insights `pattern @message`: only patterns with server-side counts cross the
    /// network. See the module documentation for how it is delivered.
    Pattern,
}

impl std::str::FromStr for LogsMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "insights" => Ok(LogsMode::Insights),
            "filter-log-events" | "filterlogevents" => Ok(LogsMode::FilterLogEvents),
            "pattern" | "patterns" => Ok(LogsMode::Pattern),
            other => Err(format!(
                "unknown CloudWatch Logs mode `{other}`: use insights, filter-log-events or pattern"
            )),
        }
    }
}

/// Options of [`CloudWatchLogsSource`] (config: `[sources.cloudwatch_logs]`).
#[derive(Debug, Clone, PartialEq)]
pub struct CloudWatchLogsOptions {
    /// Log group names (or ARNs) to read.
    pub log_groups: Vec<String>,
    /// An extra Logs Insights filter clause such as `@message like /ERROR|WARN/`, applied in
    /// the Insights and Pattern modes (a leading `filter` keyword is accepted). Empty: none.
    pub filter: String,
    /// A CloudWatch Logs filter pattern for the FilterLogEvents mode (its syntax differs from
    /// Logs Insights). Empty: every event.
    pub filter_pattern: String,
    /// How the groups are read; default [`LogsMode::Insights`].
    pub mode: LogsMode,
    /// Stop after this many events in total (default 200,000); the status says so.
    pub max_events: usize,
    /// Region used in console links; empty: the region of the SDK configuration.
    pub region: String,
    /// Rows per Logs Insights query (the service caps it at 10,000); smaller only in tests.
    #[doc(hidden)]
    pub row_cap: usize,
}

impl Default for CloudWatchLogsOptions {
    fn default() -> Self {
        CloudWatchLogsOptions {
            log_groups: Vec::new(),
            filter: String::new(),
            filter_pattern: String::new(),
            mode: LogsMode::Insights,
            max_events: 200_000,
            region: String::new(),
            row_cap: INSIGHTS_ROW_CAP,
        }
    }
}

/// Reads CloudWatch Logs log groups (see the module documentation).
#[derive(Debug, Clone)]
pub struct CloudWatchLogsSource {
    client: Client,
    options: CloudWatchLogsOptions,
    region: String,
}

// ---------------------------------------------------------------------------------------------
// Pure helpers: query texts, chunking, console links, reproductions, row parsing.
// ---------------------------------------------------------------------------------------------

/// Normalizes the user's extra filter: trims it and drops a leading `|` and `filter` keyword,
/// so both `@message like /x/` and `filter @message like /x/` work.
fn filter_clause(filter: &str) -> Option<&str> {
    let f = filter.trim().trim_start_matches('|').trim_start();
    let f = match f.get(..7) {
        Some(head) if head.eq_ignore_ascii_case("filter ") => f[7..].trim_start(),
        _ => f,
    };
    let f = f.trim();
    (!f.is_empty()).then_some(f)
}

/// The Logs Insights query of the Insights mode.
pub fn insights_query_text(filter: &str, row_cap: usize) -> String {
    let mut q = String::from("fields @timestamp, @message, @log, @logStream");
    if let Some(f) = filter_clause(filter) {
        let _ = write!(q, " | filter {f}");
    }
    let _ = write!(q, " | sort @timestamp asc | limit {row_cap}");
    q
}

/// The Logs Insights query of the Pattern mode: the server clusters messages into patterns
/// and returns one row per pattern with its count.
pub fn pattern_query_text(filter: &str) -> String {
    match filter_clause(filter) {
        Some(f) => format!("filter {f} | pattern @message"),
        None => "pattern @message".to_string(),
    }
}

/// Splits log groups into chunks of at most [`MAX_GROUPS_PER_QUERY`].
pub fn chunk_log_groups(groups: &[String]) -> Vec<&[String]> {
    groups.chunks(MAX_GROUPS_PER_QUERY).collect()
}

/// jsurl string encoding, which the CloudWatch console uses inside `queryDetail`: word
/// characters, `-` and `.` stay, `$` becomes `!`, anything else `*hh` (or `**hhhh` for UTF-16
/// code units above 0xff).
fn jsurl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    out.push('\'');
    for unit in s.encode_utf16() {
        match char::from_u32(u32::from(unit)) {
            Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' => {
                out.push(c);
            }
            Some('$') => out.push('!'),
            _ if unit < 0x100 => {
                let _ = write!(out, "*{unit:02x}");
            }
            _ => {
                let _ = write!(out, "**{unit:04x}");
            }
        }
    }
    out
}

fn console_time(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A CloudWatch console link that opens Logs Insights with `query`, the log groups and the
/// absolute time range `[start_secs, end_secs]` (epoch seconds, UTC). The query detail is
/// jsurl-encoded and the fragment URL-encoded with `%` replaced by `$`, as the console does.
pub fn console_link(
    region: &str,
    groups: &[String],
    start_secs: i64,
    end_secs: i64,
    query: &str,
) -> String {
    let mut detail = String::from("~(end~");
    detail.push_str(&jsurl_string(&console_time(end_secs)));
    detail.push_str("~start~");
    detail.push_str(&jsurl_string(&console_time(start_secs)));
    detail.push_str("~timeType~'ABSOLUTE~tz~'UTC~editorString~");
    detail.push_str(&jsurl_string(query));
    detail.push_str("~source~(");
    for g in groups {
        detail.push('~');
        detail.push_str(&jsurl_string(g));
    }
    detail.push_str("))");
    // jsurl output uses only characters that URL encoding leaves alone, so only `?` and `=`
    // of `?queryDetail=` are encoded (`%3F`, `%3D`, with `%` written as `$`).
    format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:logs-insights$3FqueryDetail$3D{detail}"
    )
}

fn shell_words(items: &[String]) -> String {
    items
        .iter()
        .map(|g| crate::reproduce::shell_quote(g))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The text of an Insights query locator: the query, its log groups and time range, the
/// equivalent `aws logs start-query` command and the console link.
pub fn insights_reproduction(
    region: &str,
    groups: &[String],
    start_secs: i64,
    end_secs: i64,
    query: &str,
) -> String {
    format!(
        "{query}\nlog groups: {}\ntime range: {} to {} (UTC, end inclusive)\ncli: aws logs start-query --region {region} --log-group-names {} --start-time {start_secs} --end-time {end_secs} --query-string {}\nconsole: {}",
        groups.join(", "),
        console_time(start_secs),
        console_time(end_secs),
        shell_words(groups),
        crate::reproduce::shell_quote(query),
        console_link(region, groups, start_secs, end_secs, query),
    )
}

/// The text of a `FilterLogEvents` locator: the equivalent `aws logs` command.
fn filter_reproduction(
    region: &str,
    group: &str,
    start_ms: i64,
    end_ms: i64,
    pattern: &str,
) -> String {
    let mut s = format!(
        "aws logs filter-log-events --region {region} --log-group-name {} --start-time {start_ms} --end-time {end_ms}",
        crate::reproduce::shell_quote(group)
    );
    if !pattern.trim().is_empty() {
        let _ = write!(
            s,
            " --filter-pattern {}",
            crate::reproduce::shell_quote(pattern.trim())
        );
    }
    s
}

fn secs_floor(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

fn secs_ceil(ms: i64) -> i64 {
    (ms + 999).div_euclid(1000)
}

/// A label for a set of log groups in status names.
fn groups_label(groups: &[String]) -> String {
    if groups.len() <= 3 {
        groups.join(",")
    } else {
        format!(
            "{},{},{} +{} more",
            groups[0],
            groups[1],
            groups[2],
            groups.len() - 3
        )
    }
}

/// One Logs Insights result row of the Insights query, borrowed from the response.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightsRow<'a> {
    pub ts: DateTime<Utc>,
    pub message: &'a str,
    /// The log group with the `account:` prefix that AWS adds removed.
    pub group: Option<&'a str>,
    pub stream: Option<&'a str>,
}

/// Parses one result row by field name. `@timestamp` may be `YYYY-MM-DD HH:MM:SS.mmm` (UTC,
/// as AWS returns it) or epoch milliseconds; `@log` is `account:group`. `None` when the row
/// has no usable timestamp.
pub fn parse_insights_row<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<InsightsRow<'a>> {
    let mut ts = None;
    let mut message = "";
    let mut group = None;
    let mut stream = None;
    for (field, value) in fields {
        match field {
            "@timestamp" => ts = crate::time::parse_timestamp(value),
            "@message" => message = value,
            // Log group names cannot contain `:`, so anything before one is the account.
            "@log" => group = Some(value.split_once(':').map_or(value, |(_, g)| g)),
            "@logStream" => stream = Some(value),
            _ => {}
        }
    }
    Some(InsightsRow {
        ts: ts?,
        message,
        group,
        stream,
    })
}

fn result_fields(row: &[ResultField]) -> impl Iterator<Item = (&str, &str)> {
    row.iter()
        .filter_map(|f| Some((f.field()?, f.value().unwrap_or(""))))
}

/// One row of a `pattern @message` query as the service returns it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PatternRow {
    /// `@pattern`: the message structure, dynamic parts as `<*>` tokens.
    pub pattern: String,
    /// `@sampleCount`: the number of events the server matched to this pattern.
    pub count: u64,
    /// `@ratio`: the share of the queried events that match this pattern.
    pub ratio: Option<f64>,
    /// `@severityLabel`: `Error`, `Warning`, `Info`, `Debug`, ... as detected by the server.
    pub severity: Option<String>,
    /// `@patternId`, when present.
    pub pattern_id: Option<String>,
    /// `@tokens`, as returned (the dynamic tokens and their values; kept verbatim).
    pub tokens: Option<String>,
    /// `@visualization`, as returned (the pattern's occurrences over time; kept verbatim).
    pub visualization: Option<String>,
    /// `@logSamples`, when present: example raw messages of the pattern.
    pub samples: Vec<String>,
    /// Other fields of the row.
    pub extra: BTreeMap<String, String>,
}

fn parse_samples(raw: &str) -> Vec<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Vec::new();
    }
    match serde_json::from_str::<serde_json::Value>(trimmed) {
        Ok(serde_json::Value::Array(items)) => items
            .into_iter()
            .filter_map(|v| match v {
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Object(mut o) => {
                    match o.remove("@message").or_else(|| o.remove("message")) {
                        Some(serde_json::Value::String(s)) => Some(s),
                        _ => Some(serde_json::Value::Object(o).to_string()),
                    }
                }
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            })
            .collect(),
        _ => vec![trimmed.to_string()],
    }
}

/// Parses one result row of a `pattern @message` query by field name; `None` for a row with
/// no `@pattern` (a service that ignored the `pattern` command returns raw rows).
pub fn parse_pattern_row<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<PatternRow> {
    let mut row = PatternRow::default();
    let mut has_pattern = false;
    for (field, value) in fields {
        match field {
            "@pattern" => {
                row.pattern = value.to_string();
                has_pattern = true;
            }
            "@sampleCount" => {
                let v = value.trim();
                row.count = v
                    .parse::<u64>()
                    .ok()
                    .or_else(|| {
                        v.parse::<f64>()
                            .ok()
                            .filter(|f| *f >= 0.0)
                            .map(|f| f as u64)
                    })
                    .unwrap_or(0);
            }
            "@ratio" => row.ratio = value.trim().parse::<f64>().ok().filter(|r| r.is_finite()),
            "@severityLabel" => {
                row.severity = Some(value.to_string()).filter(|s| !s.trim().is_empty());
            }
            "@patternId" => row.pattern_id = Some(value.to_string()),
            "@tokens" => row.tokens = Some(value.to_string()),
            "@visualization" => row.visualization = Some(value.to_string()),
            "@logSamples" => row.samples = parse_samples(value),
            "@ptr" => {}
            other => {
                row.extra.insert(other.to_string(), value.to_string());
            }
        }
    }
    has_pattern.then_some(row)
}

/// A pattern with its server-side counts in both windows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PatternSummary {
    pub pattern: String,
    pub severity: Option<String>,
    /// Events the server matched in the incident window.
    pub incident_count: u64,
    /// Events the server matched in the baseline window.
    pub baseline_count: u64,
    /// `@ratio` in the incident window (`None` when the pattern came from several queries,
    /// whose ratios have different denominators).
    pub incident_ratio: Option<f64>,
    pub baseline_ratio: Option<f64>,
    /// Samples from the incident window, else from the baseline (at most 5).
    pub samples: Vec<String>,
    pub pattern_id: Option<String>,
    pub tokens: Option<String>,
    pub visualization: Option<String>,
}

const PATTERN_SAMPLES: usize = 5;

fn merge_row(s: &mut PatternSummary, row: PatternRow, incident: bool) {
    let first = if incident {
        s.incident_count == 0 && s.incident_ratio.is_none()
    } else {
        s.baseline_count == 0 && s.baseline_ratio.is_none()
    };
    let (count, ratio) = if incident {
        (&mut s.incident_count, &mut s.incident_ratio)
    } else {
        (&mut s.baseline_count, &mut s.baseline_ratio)
    };
    *count += row.count;
    *ratio = if first { row.ratio } else { None };
    if s.severity.is_none() {
        s.severity = row.severity;
    }
    if s.pattern_id.is_none() {
        s.pattern_id = row.pattern_id;
    }
    if incident || s.tokens.is_none() {
        s.tokens = row.tokens.or(s.tokens.take());
        s.visualization = row.visualization.or(s.visualization.take());
    }
    // Incident rows are merged first, so their samples win.
    if s.samples.is_empty() {
        s.samples = row.samples;
    }
    s.samples.truncate(PATTERN_SAMPLES);
}

/// Joins the pattern rows of the incident and baseline queries by pattern text (several
/// chunks of log groups may report the same pattern: their counts add up). Sorted by
/// incident count, then by growth over the baseline, highest first.
pub fn join_patterns(incident: Vec<PatternRow>, baseline: Vec<PatternRow>) -> Vec<PatternSummary> {
    let mut by_text: HashMap<String, PatternSummary> = HashMap::new();
    for (rows, is_incident) in [(incident, true), (baseline, false)] {
        for row in rows {
            let s = by_text
                .entry(row.pattern.clone())
                .or_insert_with(|| PatternSummary {
                    pattern: row.pattern.clone(),
                    ..Default::default()
                });
            merge_row(s, row, is_incident);
        }
    }
    let mut out: Vec<PatternSummary> = by_text.into_values().collect();
    out.sort_by(|a, b| {
        b.incident_count
            .cmp(&a.incident_count)
            .then_with(|| {
                let ga = a.incident_count as i128 - a.baseline_count as i128;
                let gb = b.incident_count as i128 - b.baseline_count as i128;
                gb.cmp(&ga)
            })
            .then_with(|| a.pattern.cmp(&b.pattern))
    });
    out
}

/// What [`CloudWatchLogsSource::collect_patterns`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatternCollection {
    pub patterns: Vec<PatternSummary>,
    /// Per chunk problems, and one `Ok` status with the number of queries.
    pub statuses: Vec<SourceStatus>,
    /// The reproduction text of every query run.
    pub queries: Vec<String>,
    /// Result rows without `@pattern` (a service that does not implement `pattern`).
    pub rows_without_pattern: u64,
}

// ---------------------------------------------------------------------------------------------
// The source.
// ---------------------------------------------------------------------------------------------

/// Why one query (or chunk) could not finish.
#[derive(Debug)]
enum QueryError {
    /// `ResourceNotFoundException` on start: one of the log groups does not exist.
    MissingGroup(SourceError),
    Other(SourceError),
}

impl From<SourceError> for QueryError {
    fn from(e: SourceError) -> Self {
        QueryError::Other(e)
    }
}

/// A started Logs Insights query; stops it on the server if dropped before it finished (the
/// pipeline drops a source's future when its deadline passes).
struct RunningQuery {
    client: Client,
    id: String,
    finished: bool,
}

impl RunningQuery {
    async fn stop(mut self) {
        self.finished = true;
        let id = std::mem::take(&mut self.id);
        stop_query(self.client.clone(), id).await;
    }
}

async fn stop_query(client: Client, id: String) {
    match tokio::time::timeout(STOP_GRACE, client.stop_query().query_id(&id).send()).await {
        Ok(Ok(_)) => tracing::debug!(query_id = %id, "stopped Logs Insights query"),
        Ok(Err(e)) => {
            tracing::debug!(query_id = %id, error = %sdk_error("StopQuery", &e), "StopQuery failed");
        }
        Err(_) => tracing::debug!(query_id = %id, "StopQuery timed out"),
    }
}

impl Drop for RunningQuery {
    fn drop(&mut self) {
        if self.finished || self.id.is_empty() {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(stop_query(
                self.client.clone(),
                std::mem::take(&mut self.id),
            ));
        }
    }
}

/// Bookkeeping of one `collect` call.
struct Run<'s> {
    q: &'s SourceQuery,
    sink: &'s mut dyn RecordSink,
    emitted: u64,
    queries: u64,
    notes: Vec<String>,
    statuses: Vec<SourceStatus>,
    capped: bool,
    any_ok: bool,
    groups: HashMap<String, Arc<str>>,
    streams: HashMap<String, Arc<str>>,
}

impl Run<'_> {
    fn intern_group(&mut self, g: &str) -> Arc<str> {
        if let Some(a) = self.groups.get(g) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(g);
        self.groups.insert(g.to_string(), a.clone());
        a
    }

    fn intern_stream(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.streams.get(s) {
            return a.clone();
        }
        if self.streams.len() >= INTERN_MAX {
            self.streams.clear();
        }
        let a: Arc<str> = Arc::from(s);
        self.streams.insert(s.to_string(), a.clone());
        a
    }

    fn error(&mut self, name: String, records: u64, error: String) {
        self.statuses.push(SourceStatus {
            name,
            kind: RecordKind::Logs.as_str().into(),
            status: SourceState::Error,
            records,
            error: Some(error),
            counts: if records > 0 {
                BTreeMap::from([(RecordType::LogEvents, records)])
            } else {
                BTreeMap::new()
            },
            parts: Some(1),
            scanned_bytes: None,
            detail: None,
        });
    }

    fn note(&mut self, n: String) {
        if self.notes.len() < 8 {
            self.notes.push(n);
        }
    }
}

fn deadline_at(q: &SourceQuery) -> tokio::time::Instant {
    tokio::time::Instant::from_std(q.deadline)
}

fn timeout_error(q: &SourceQuery) -> SourceError {
    if q.cancel.load(std::sync::atomic::Ordering::Relaxed) {
        SourceError::Cancelled
    } else {
        SourceError::Unavailable("timed out: the source deadline passed".into())
    }
}

impl CloudWatchLogsSource {
    /// A source reading with the clients of `config`.
    pub fn new(config: &aws_config::SdkConfig, options: CloudWatchLogsOptions) -> Self {
        let region = if options.region.trim().is_empty() {
            config
                .region()
                .map_or_else(|| "us-east-1".to_string(), |r| r.to_string())
        } else {
            options.region.trim().to_string()
        };
        CloudWatchLogsSource {
            client: Client::new(config),
            options,
            region,
        }
    }

    pub fn options(&self) -> &CloudWatchLogsOptions {
        &self.options
    }

    /// The region used in console links and commands.
    pub fn region(&self) -> &str {
        &self.region
    }

    fn row_cap(&self) -> usize {
        self.options.row_cap.clamp(1, INSIGHTS_ROW_CAP)
    }

    /// Starts a Logs Insights query and polls it until it completes; returns its rows. On the
    /// deadline the query is stopped on the server.
    async fn run_query(
        &self,
        q: &SourceQuery,
        groups: &[String],
        start_secs: i64,
        end_secs: i64,
        text: &str,
    ) -> Result<Vec<Vec<ResultField>>, QueryError> {
        if q.should_stop() {
            return Err(timeout_error(q).into());
        }
        let mut req = self
            .client
            .start_query()
            .start_time(start_secs)
            .end_time(end_secs)
            .query_string(text)
            .limit(self.row_cap() as i32);
        // Names and ARNs are both accepted as identifiers, but only names by every emulator.
        if groups.iter().any(|g| g.starts_with("arn:")) {
            req = req.set_log_group_identifiers(Some(groups.to_vec()));
        } else {
            req = req.set_log_group_names(Some(groups.to_vec()));
        }
        let started = match tokio::time::timeout_at(deadline_at(q), req.send()).await {
            Err(_) => return Err(timeout_error(q).into()),
            Ok(Err(e)) => {
                let err = sdk_error("StartQuery", &e);
                let missing = e
                    .as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception());
                return Err(if missing {
                    QueryError::MissingGroup(err)
                } else {
                    QueryError::Other(err)
                });
            }
            Ok(Ok(out)) => out,
        };
        let Some(id) = started.query_id().filter(|id| !id.is_empty()) else {
            return Err(SourceError::Unavailable("StartQuery returned no query id".into()).into());
        };
        let mut running = RunningQuery {
            client: self.client.clone(),
            id: id.to_string(),
            finished: false,
        };
        let mut poller = Poller::new(q.deadline);
        loop {
            if q.should_stop() || poller.wait().await.is_err() {
                let err = timeout_error(q);
                let id = running.id.clone();
                running.stop().await;
                return Err(SourceError::Unavailable(format!(
                    "Logs Insights query {id} did not complete before the source deadline ({err}); it was stopped"
                ))
                .into());
            }
            let call = self.client.get_query_results().query_id(&running.id).send();
            let out = match tokio::time::timeout_at(deadline_at(q), call).await {
                Err(_) => continue, // the next turn sees the deadline and stops the query
                Ok(Err(e)) => {
                    running.finished = true;
                    return Err(sdk_error("GetQueryResults", &e).into());
                }
                Ok(Ok(out)) => out,
            };
            match out.status().cloned() {
                Some(QueryStatus::Complete) => {
                    running.finished = true;
                    return Ok(out.results.unwrap_or_default());
                }
                Some(QueryStatus::Running | QueryStatus::Scheduled) => {}
                other => {
                    running.finished = true;
                    let state = other.as_ref().map_or("no status", |s| s.as_str());
                    return Err(SourceError::Unavailable(format!(
                        "Logs Insights query {} ended with status {state}",
                        running.id
                    ))
                    .into());
                }
            }
        }
    }

    /// Finds which of `groups` do not exist (after a `ResourceNotFoundException`).
    async fn missing_groups(&self, q: &SourceQuery, groups: &[String]) -> Vec<String> {
        let mut missing = Vec::new();
        for g in groups {
            if g.starts_with("arn:") {
                continue;
            }
            let call = self
                .client
                .describe_log_groups()
                .log_group_name_prefix(g)
                .send();
            match tokio::time::timeout_at(deadline_at(q), call).await {
                Ok(Ok(out)) => {
                    if !out
                        .log_groups()
                        .iter()
                        .any(|lg| lg.log_group_name() == Some(g.as_str()))
                    {
                        missing.push(g.clone());
                    }
                }
                // Unknown: the caller reports the original error for the chunk.
                _ => return Vec::new(),
            }
        }
        missing
    }

    /// After a `ResourceNotFoundException`, removes the log groups that do not exist from
    /// `groups`, each reported as an error naming it. True when the remaining groups should be
    /// queried again; false when none remain or the cause is unknown (reported for the chunk).
    async fn drop_missing(
        &self,
        run: &mut Run<'_>,
        groups: &mut Vec<String>,
        err: SourceError,
    ) -> bool {
        let missing = self.missing_groups(run.q, groups).await;
        if missing.is_empty() {
            run.error(
                format!("{SOURCE_NAME}:{}", groups_label(groups)),
                0,
                err.to_string(),
            );
            return false;
        }
        for m in &missing {
            run.error(
                format!("{SOURCE_NAME}:{m}"),
                0,
                format!(
                    "log group {m} does not exist in {} (ResourceNotFoundException); the other log groups were read",
                    self.region
                ),
            );
        }
        groups.retain(|g| !missing.contains(g));
        !groups.is_empty()
    }

    /// Emits rows with `lo <= ts < hi`; `Ok(false)` once `max_events` is reached.
    fn emit_rows(
        &self,
        run: &mut Run<'_>,
        origin: OriginId,
        rows: &[Vec<ResultField>],
        lo: i64,
        hi: i64,
        single_group: Option<&str>,
    ) -> Result<bool, SourceError> {
        let max = self.options.max_events as u64;
        let mut unparsed = 0u64;
        for row in rows {
            let Some(r) = parse_insights_row(result_fields(row)) else {
                unparsed += 1;
                continue;
            };
            let ms = r.ts.timestamp_millis();
            if ms < lo || ms >= hi {
                continue;
            }
            if run.emitted >= max {
                run.capped = true;
                return Ok(false);
            }
            let group = match r.group.or(single_group) {
                Some(g) => run.intern_group(g),
                None => run.intern_group("cloudwatch-logs"),
            };
            let stream = r.stream.map(|s| run.intern_stream(s));
            let ev = LogEvent {
                ts: r.ts,
                group,
                stream,
                message: r.message.to_string(),
            };
            run.sink.accept(origin, Record::Log(ev))?;
            run.emitted += 1;
        }
        if unparsed > 0 {
            run.note(format!(
                "{unparsed} Logs Insights rows had no readable @timestamp and were skipped"
            ));
        }
        Ok(true)
    }

    /// Reads one chunk of log groups over `[lo, hi)` ms, re-querying past the row cap.
    async fn insights_chunk(
        &self,
        run: &mut Run<'_>,
        groups: &[String],
        origin: OriginId,
        text: &str,
        range: (i64, i64),
    ) -> Result<(), QueryError> {
        let (mut lo, hi) = range;
        let cap = self.row_cap();
        let single = (groups.len() == 1).then(|| groups[0].as_str());
        while lo < hi {
            if run.emitted >= self.options.max_events as u64 {
                run.capped = true;
                return Ok(());
            }
            let rows = self
                .run_query(run.q, groups, secs_floor(lo), secs_ceil(hi), text)
                .await?;
            run.queries += 1;
            if rows.len() < cap {
                self.emit_rows(run, origin, &rows, lo, hi, single)?;
                return Ok(());
            }
            // Capped: sorted ascending, so every row before the last row's whole second is
            // complete; the rest of the range is queried again from that second.
            let last = rows
                .iter()
                .filter_map(|r| parse_insights_row(result_fields(r)))
                .map(|r| r.ts.timestamp_millis())
                .max();
            let boundary = last.map_or(lo, |ms| secs_floor(ms) * 1000);
            let (upto, next) = if boundary > lo {
                (boundary, boundary)
            } else {
                // More than `cap` events in the second at `lo`: keep what came and move on.
                let next = (secs_floor(lo) + 1) * 1000;
                run.note(format!(
                    "more than {cap} events within one second at {}: only {cap} of them were read",
                    crate::time::rfc3339(
                        crate::time::from_millis(secs_floor(lo) * 1000).unwrap_or_default()
                    )
                ));
                (next.min(hi), next)
            };
            if !self.emit_rows(run, origin, &rows, lo, upto.min(hi), single)? {
                return Ok(());
            }
            lo = next;
        }
        Ok(())
    }

    async fn collect_insights(&self, run: &mut Run<'_>) -> Result<(), SourceError> {
        let lo = run.q.window.collect_start().timestamp_millis();
        let hi = run.q.window.collect_end().timestamp_millis();
        let text = insights_query_text(&self.options.filter, self.row_cap());
        for chunk in chunk_log_groups(&self.options.log_groups) {
            let mut groups = chunk.to_vec();
            loop {
                if run.q.should_stop() {
                    run.error(
                        format!("{SOURCE_NAME}:{}", groups_label(&groups)),
                        0,
                        "not queried: the source deadline passed".into(),
                    );
                    break;
                }
                if run.emitted >= self.options.max_events as u64 {
                    run.capped = true;
                    break;
                }
                let origin = run.sink.register_origin(Origin {
                    source: SOURCE_NAME.into(),
                    kind: RecordKind::Logs,
                    locator: Locator::Query {
                        service: INSIGHTS_SERVICE.into(),
                        text: insights_reproduction(
                            &self.region,
                            &groups,
                            secs_floor(lo),
                            secs_ceil(hi),
                            &text,
                        ),
                    },
                });
                let before = run.emitted;
                match self
                    .insights_chunk(run, &groups, origin, &text, (lo, hi))
                    .await
                {
                    Ok(()) => {
                        run.any_ok = true;
                        break;
                    }
                    Err(QueryError::MissingGroup(e)) => {
                        if !self.drop_missing(run, &mut groups, e).await {
                            break;
                        }
                    }
                    Err(QueryError::Other(SourceError::SinkClosed)) => {
                        return Err(SourceError::SinkClosed);
                    }
                    Err(QueryError::Other(e)) => {
                        let kept = run.emitted - before;
                        let mut msg = e.to_string();
                        if kept > 0 {
                            let _ = write!(msg, " ({kept} records read before were kept)");
                        }
                        run.error(
                            format!("{SOURCE_NAME}:{}", groups_label(&groups)),
                            kept,
                            msg,
                        );
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    async fn collect_filter(&self, run: &mut Run<'_>) -> Result<(), SourceError> {
        let lo = run.q.window.collect_start().timestamp_millis();
        let hi = run.q.window.collect_end().timestamp_millis();
        let max = self.options.max_events as u64;
        let pattern = self.options.filter_pattern.trim();
        'groups: for group in &self.options.log_groups {
            let name = format!("{SOURCE_NAME}:{group}");
            if run.q.should_stop() {
                run.error(name, 0, "not read: the source deadline passed".into());
                continue;
            }
            if run.emitted >= max {
                run.capped = true;
                break;
            }
            // `endTime` is inclusive: the window's end is not.
            let end_ms = hi - 1;
            let origin = run.sink.register_origin(Origin {
                source: SOURCE_NAME.into(),
                kind: RecordKind::Logs,
                locator: Locator::Query {
                    service: FILTER_SERVICE.into(),
                    text: filter_reproduction(&self.region, group, lo, end_ms, pattern),
                },
            });
            let group_arc = run.intern_group(group);
            let before = run.emitted;
            let mut token: Option<String> = None;
            loop {
                let mut req = self
                    .client
                    .filter_log_events()
                    .start_time(lo)
                    .end_time(end_ms)
                    .set_next_token(token.take());
                req = if group.starts_with("arn:") {
                    req.log_group_identifier(group)
                } else {
                    req.log_group_name(group)
                };
                if !pattern.is_empty() {
                    req = req.filter_pattern(pattern);
                }
                let out = match tokio::time::timeout_at(deadline_at(run.q), req.send()).await {
                    Err(_) => {
                        let kept = run.emitted - before;
                        run.error(
                            name,
                            kept,
                            format!(
                                "FilterLogEvents did not finish before the source deadline; {kept} records read before were kept"
                            ),
                        );
                        continue 'groups;
                    }
                    Ok(Err(e)) => {
                        let kept = run.emitted - before;
                        let not_found = e
                            .as_service_error()
                            .is_some_and(|s| s.is_resource_not_found_exception());
                        let msg = if not_found {
                            format!(
                                "log group {group} does not exist in {} (ResourceNotFoundException); the other log groups were read",
                                self.region
                            )
                        } else {
                            sdk_error("FilterLogEvents", &e).to_string()
                        };
                        run.error(name, kept, msg);
                        continue 'groups;
                    }
                    Ok(Ok(out)) => out,
                };
                run.queries += 1;
                for ev in out.events() {
                    let Some(ts) = ev.timestamp().and_then(crate::time::from_millis) else {
                        continue;
                    };
                    let ms = ts.timestamp_millis();
                    if ms < lo || ms >= hi {
                        continue;
                    }
                    if run.emitted >= max {
                        run.capped = true;
                        run.any_ok = true;
                        break 'groups;
                    }
                    let stream = ev.log_stream_name().map(|s| run.intern_stream(s));
                    let rec = LogEvent {
                        ts,
                        group: group_arc.clone(),
                        stream,
                        message: ev.message().unwrap_or("").to_string(),
                    };
                    run.sink.accept(origin, Record::Log(rec))?;
                    run.emitted += 1;
                }
                match out.next_token() {
                    Some(t) if !t.is_empty() => {
                        if run.q.should_stop() {
                            let kept = run.emitted - before;
                            run.error(
                                name,
                                kept,
                                format!(
                                    "stopped at the source deadline; {kept} records read before were kept"
                                ),
                            );
                            continue 'groups;
                        }
                        token = Some(t.to_string());
                    }
                    _ => break,
                }
            }
            run.any_ok = true;
        }
        Ok(())
    }

    /// Pattern mode through the sink: each pattern becomes one [`Record::LogPattern`] carrying
    /// the server's counts per window, so the distiller never sees (or counts) single events.
    async fn collect_pattern_records(
        &self,
        q: &SourceQuery,
        sink: &mut dyn RecordSink,
    ) -> Result<CollectSummary, SourceError> {
        let collection = self.collect_patterns(q).await?;
        let origin = sink.register_origin(Origin {
            source: SOURCE_NAME.into(),
            kind: RecordKind::Logs,
            locator: Locator::Query {
                service: INSIGHTS_SERVICE.into(),
                text: collection.queries.join("\n\n"),
            },
        });
        let group: std::sync::Arc<str> =
            std::sync::Arc::from(if self.options.log_groups.len() == 1 {
                self.options.log_groups[0].clone()
            } else {
                format!("{} log groups", self.options.log_groups.len())
            });
        for p in collection.patterns {
            sink.accept(
                origin,
                Record::LogPattern(Box::new(crate::record::LogPattern {
                    group: group.clone(),
                    pattern: p.pattern,
                    incident_count: p.incident_count,
                    baseline_count: p.baseline_count,
                    samples: p.samples,
                    severity: p.severity,
                })),
            )?;
        }
        Ok(CollectSummary {
            statuses: collection.statuses,
        })
    }

    /// Runs the Pattern mode: per chunk of log groups, a `pattern @message` query over the
    /// incident window and one over the baseline window; the rows are joined by pattern text.
    /// The counts are the server's; nothing goes through a record sink.
    pub async fn collect_patterns(
        &self,
        q: &SourceQuery,
    ) -> Result<PatternCollection, SourceError> {
        if self.options.log_groups.is_empty() {
            return Err(SourceError::Unavailable(
                "no CloudWatch Logs log groups configured".into(),
            ));
        }
        let text = pattern_query_text(&self.options.filter);
        let w = q.window;
        let phases = [
            (true, w.start.timestamp_millis(), w.end.timestamp_millis()),
            (
                false,
                w.baseline_start.timestamp_millis(),
                w.baseline_end.timestamp_millis(),
            ),
        ];
        let mut sink = crate::telemetry::VecSink::default();
        let mut run = Run {
            q,
            sink: &mut sink,
            emitted: 0,
            queries: 0,
            notes: Vec::new(),
            statuses: Vec::new(),
            capped: false,
            any_ok: false,
            groups: HashMap::new(),
            streams: HashMap::new(),
        };
        let mut incident = Vec::new();
        let mut baseline = Vec::new();
        let mut queries = Vec::new();
        let mut without = 0u64;
        for chunk in chunk_log_groups(&self.options.log_groups) {
            let mut groups = chunk.to_vec();
            'chunk: loop {
                let mut got: Vec<(bool, Vec<PatternRow>)> = Vec::new();
                let mut chunk_without = 0u64;
                let mut texts = Vec::new();
                for &(is_incident, lo, hi) in &phases {
                    if lo >= hi {
                        continue;
                    }
                    let (s, e) = (secs_floor(lo), secs_ceil(hi) - 1);
                    texts.push(insights_reproduction(
                        &self.region,
                        &groups,
                        s,
                        e.max(s),
                        &text,
                    ));
                    match self.run_query(q, &groups, s, e.max(s), &text).await {
                        Ok(rows) => {
                            run.queries += 1;
                            let mut parsed = Vec::new();
                            for row in &rows {
                                match parse_pattern_row(result_fields(row)) {
                                    Some(p) => parsed.push(p),
                                    None => chunk_without += 1,
                                }
                            }
                            got.push((is_incident, parsed));
                        }
                        Err(QueryError::MissingGroup(e)) => {
                            if self.drop_missing(&mut run, &mut groups, e).await {
                                continue 'chunk;
                            }
                            break 'chunk;
                        }
                        Err(QueryError::Other(e)) => {
                            run.error(
                                format!("{SOURCE_NAME}:{}", groups_label(&groups)),
                                0,
                                format!("pattern query failed: {e}"),
                            );
                            break 'chunk;
                        }
                    }
                }
                for (is_incident, rows) in got {
                    if is_incident {
                        incident.extend(rows);
                    } else {
                        baseline.extend(rows);
                    }
                }
                queries.extend(texts);
                without += chunk_without;
                run.any_ok = true;
                break;
            }
        }
        let mut statuses = std::mem::take(&mut run.statuses);
        if run.any_ok {
            let patterns_seen = incident.len() + baseline.len();
            let mut notes = vec![format!(
                "pattern mode: {patterns_seen} pattern rows; counts are the server's @sampleCount"
            )];
            if without > 0 {
                notes.push(format!(
                    "{without} result rows had no @pattern (the service did not run the `pattern` command)"
                ));
            }
            statuses.insert(
                0,
                SourceStatus::ok(
                    SOURCE_NAME,
                    RecordKind::Logs,
                    BTreeMap::new(),
                    &notes,
                    run.queries,
                ),
            );
        }
        Ok(PatternCollection {
            patterns: join_patterns(incident, baseline),
            statuses,
            queries,
            rows_without_pattern: without,
        })
    }
}

#[async_trait]
impl TelemetrySource for CloudWatchLogsSource {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    async fn collect(
        &self,
        q: &SourceQuery,
        sink: &mut dyn RecordSink,
    ) -> Result<CollectSummary, SourceError> {
        if self.options.log_groups.is_empty() {
            return Err(SourceError::Unavailable(
                "no CloudWatch Logs log groups configured (sources.cloudwatch_logs.log_groups)"
                    .into(),
            ));
        }
        if self.options.mode == LogsMode::Pattern {
            return self.collect_pattern_records(q, sink).await;
        }
        let mut run = Run {
            q,
            sink,
            emitted: 0,
            queries: 0,
            notes: Vec::new(),
            statuses: Vec::new(),
            capped: false,
            any_ok: false,
            groups: HashMap::new(),
            streams: HashMap::new(),
        };
        match self.options.mode {
            LogsMode::FilterLogEvents => self.collect_filter(&mut run).await?,
            _ => self.collect_insights(&mut run).await?,
        }
        if run.capped {
            let max = self.options.max_events;
            run.notes.insert(
                0,
                format!("capped: stopped at max_events = {max}; later events were not read"),
            );
        }
        let mut statuses = Vec::new();
        if run.any_ok || run.emitted > 0 {
            let ok_records = run.emitted - run.statuses.iter().map(|s| s.records).sum::<u64>();
            statuses.push(SourceStatus::ok(
                SOURCE_NAME,
                RecordKind::Logs,
                BTreeMap::from([(RecordType::LogEvents, ok_records)]),
                &run.notes,
                run.queries,
            ));
        }
        statuses.append(&mut run.statuses);
        Ok(CollectSummary { statuses })
    }

    fn reproduce(&self, q: &SourceQuery) -> Vec<Reproduction> {
        let lo = q.window.collect_start().timestamp_millis();
        let hi = q.window.collect_end().timestamp_millis();
        match self.options.mode {
            LogsMode::FilterLogEvents => self
                .options
                .log_groups
                .iter()
                .map(|g| Reproduction {
                    kind: RecordKind::Logs,
                    text: filter_reproduction(
                        &self.region,
                        g,
                        lo,
                        hi - 1,
                        &self.options.filter_pattern,
                    ),
                })
                .collect(),
            LogsMode::Insights => {
                let text = insights_query_text(&self.options.filter, self.row_cap());
                chunk_log_groups(&self.options.log_groups)
                    .into_iter()
                    .map(|groups| Reproduction {
                        kind: RecordKind::Logs,
                        text: insights_reproduction(
                            &self.region,
                            groups,
                            secs_floor(lo),
                            secs_ceil(hi),
                            &text,
                        ),
                    })
                    .collect()
            }
            LogsMode::Pattern => {
                let text = pattern_query_text(&self.options.filter);
                let w = q.window;
                let mut out = Vec::new();
                for groups in chunk_log_groups(&self.options.log_groups) {
                    for (a, b) in [(w.start, w.end), (w.baseline_start, w.baseline_end)] {
                        let s = secs_floor(a.timestamp_millis());
                        let e = (secs_ceil(b.timestamp_millis()) - 1).max(s);
                        out.push(Reproduction {
                            kind: RecordKind::Logs,
                            text: insights_reproduction(&self.region, groups, s, e, &text),
                        });
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pairs<'a>(row: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a str, &'a str)> {
        row.iter().copied()
    }

    #[test]
    fn insights_query_text_with_and_without_filter() {
        assert_eq!(
            insights_query_text("", 10_000),
            "fields @timestamp, @message, @log, @logStream | sort @timestamp asc | limit 10000"
        );
        let with = "fields @timestamp, @message, @log, @logStream | filter @message like /ERROR/ | sort @timestamp asc | limit 10000";
        assert_eq!(insights_query_text("@message like /ERROR/", 10_000), with);
        assert_eq!(
            insights_query_text("  filter @message like /ERROR/ ", 10_000),
            with
        );
        assert_eq!(
            insights_query_text("| FILTER @message like /ERROR/", 10_000),
            with
        );
        assert_eq!(insights_query_text("   ", 25), insights_query_text("", 25));
        assert!(insights_query_text("", 25).ends_with("| limit 25"));
    }

    #[test]
    fn chunks_120_groups_into_50_50_20() {
        let groups: Vec<String> = (0..120).map(|i| format!("/g/{i}")).collect();
        let chunks = chunk_log_groups(&groups);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [50, 50, 20]
        );
        assert_eq!(chunks[1][0], "/g/50");
        assert_eq!(chunks[2][19], "/g/119");
        assert_eq!(chunk_log_groups(&groups[..50]).len(), 1);
        assert!(chunk_log_groups(&[]).is_empty());
    }

    #[test]
    fn console_link_is_jsurl_inside_a_dollar_encoded_fragment() {
        let groups = vec![
            "/aws/lambda/orders-fn".to_string(),
            "/ecs/checkout".to_string(),
        ];
        // 2024-08-16T10:19:00Z and 2024-08-16T11:49:00Z
        let link = console_link(
            "ap-northeast-1",
            &groups,
            1_723_803_540,
            1_723_808_940,
            "fields @timestamp, @message | limit 20",
        );
        assert_eq!(
            link,
            "https://ap-northeast-1.console.aws.amazon.com/cloudwatch/home?region=ap-northeast-1\
             #logsV2:logs-insights$3FqueryDetail$3D~(end~'2024-08-16T11*3a49*3a00.000Z\
             ~start~'2024-08-16T10*3a19*3a00.000Z~timeType~'ABSOLUTE~tz~'UTC\
             ~editorString~'fields*20*40timestamp*2c*20*40message*20*7c*20limit*2020\
             ~source~(~'*2faws*2flambda*2forders-fn~'*2fecs*2fcheckout))"
        );
        // Nothing after the `#` needs further URL encoding.
        let frag = link.split_once('#').unwrap().1;
        assert!(
            frag.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.!~*'():$".contains(c))
        );
    }

    #[test]
    fn jsurl_escapes_like_the_console() {
        assert_eq!(jsurl_string("a_b-c.d"), "'a_b-c.d");
        assert_eq!(jsurl_string("$x'y"), "'!x*27y");
        assert_eq!(jsurl_string("é\n"), "'*e9*0a");
        assert_eq!(jsurl_string("日本"), "'**65e5**672c");
        // Astral characters are two UTF-16 units, as in the browser.
        assert_eq!(jsurl_string("😀"), "'**d83d**de00");
    }

    #[test]
    fn reproduction_has_query_groups_range_cli_and_link() {
        let groups = vec!["/a".to_string(), "/b c".to_string()];
        let q = insights_query_text("", 10_000);
        let text = insights_reproduction("us-east-1", &groups, 1_723_803_540, 1_723_808_940, &q);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], q);
        assert_eq!(lines[1], "log groups: /a, /b c");
        assert_eq!(
            lines[2],
            "time range: 2024-08-16T10:19:00.000Z to 2024-08-16T11:49:00.000Z (UTC, end inclusive)"
        );
        assert_eq!(
            lines[3],
            "cli: aws logs start-query --region us-east-1 --log-group-names /a '/b c' --start-time 1723803540 --end-time 1723808940 --query-string 'fields @timestamp, @message, @log, @logStream | sort @timestamp asc | limit 10000'"
        );
        assert!(lines[4].starts_with("console: https://us-east-1.console.aws.amazon.com/"));
        let f = filter_reproduction("eu-west-1", "/a", 1, 2, " ERROR ");
        assert_eq!(
            f,
            "aws logs filter-log-events --region eu-west-1 --log-group-name /a --start-time 1 --end-time 2 --filter-pattern ERROR"
        );
    }

    #[test]
    fn insights_rows_from_aws_and_moto() {
        let aws = [
            ("@timestamp", "2024-08-16 11:19:01.348"),
            ("@message", "ERROR payment timeout order=42"),
            ("@log", "123456789012:/ecs/checkout-api"),
            ("@logStream", "ecs/api/0a1b"),
            ("@ptr", "CmQKKwonMTIz"),
        ];
        let r = parse_insights_row(pairs(&aws)).unwrap();
        assert_eq!(crate::time::rfc3339(r.ts), "2024-08-16T11:19:01.348Z");
        assert_eq!(r.ts.timestamp_millis(), 1_723_807_141_348);
        assert_eq!(r.message, "ERROR payment timeout order=42");
        assert_eq!(r.group, Some("/ecs/checkout-api"));
        assert_eq!(r.stream, Some("ecs/api/0a1b"));
        // moto: epoch millis and a bare group name, fields in any order.
        let moto = [
            ("@ptr", "7"),
            ("@log", "/fa2/orders"),
            ("@message", "ok"),
            ("@timestamp", "1723807141348"),
        ];
        let r = parse_insights_row(pairs(&moto)).unwrap();
        assert_eq!(r.ts.timestamp_millis(), 1_723_807_141_348);
        assert_eq!(r.group, Some("/fa2/orders"));
        assert_eq!(r.stream, None);
        assert!(parse_insights_row(pairs(&[("@message", "x")])).is_none());
        assert!(parse_insights_row(pairs(&[("@timestamp", "yesterday")])).is_none());
    }

    #[test]
    fn pattern_query_text_with_and_without_filter() {
        assert_eq!(pattern_query_text(""), "pattern @message");
        assert_eq!(
            pattern_query_text("filter @message like /ERROR/"),
            "filter @message like /ERROR/ | pattern @message"
        );
    }

    fn aws_pattern_row() -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "@pattern",
                "[ERROR] PaymentGateway timeout after <*> ms order=<*>",
            ),
            ("@ratio", "0.0842"),
            ("@sampleCount", "1204"),
            ("@severityLabel", "Error"),
            ("@patternId", "9b3a0e51c1f4d2b7e8a6"),
            (
                "@tokens",
                r#"[{"dynamicTokenPosition":1,"isNumeric":true,"enumerations":{"3000":1180,"3001":24}},{"dynamicTokenPosition":2,"isNumeric":true}]"#,
            ),
            (
                "@visualization",
                r#"{"1723807140000":310,"1723807200000":402,"1723807260000":492}"#,
            ),
            (
                "@logSamples",
                r#"["[ERROR] PaymentGateway timeout after 3000 ms order=42","[ERROR] PaymentGateway timeout after 3001 ms order=43"]"#,
            ),
        ]
    }

    #[test]
    fn pattern_rows_parse_by_field_name() {
        let row = aws_pattern_row();
        let p = parse_pattern_row(pairs(&row)).unwrap();
        assert_eq!(
            p.pattern,
            "[ERROR] PaymentGateway timeout after <*> ms order=<*>"
        );
        assert_eq!(p.count, 1204);
        assert_eq!(p.ratio, Some(0.0842));
        assert_eq!(p.severity.as_deref(), Some("Error"));
        assert_eq!(p.pattern_id.as_deref(), Some("9b3a0e51c1f4d2b7e8a6"));
        assert!(
            p.tokens
                .as_deref()
                .unwrap()
                .contains("dynamicTokenPosition")
        );
        assert!(p.visualization.as_deref().unwrap().starts_with('{'));
        assert_eq!(
            p.samples,
            [
                "[ERROR] PaymentGateway timeout after 3000 ms order=42",
                "[ERROR] PaymentGateway timeout after 3001 ms order=43"
            ]
        );
        assert!(p.extra.is_empty());

        // Order does not matter; counts may come as floats; unknown fields are kept.
        let other = [
            ("@severityLabel", ""),
            ("@sampleCount", "17.0"),
            ("@pattern", "GET /health <*>"),
            ("@ratio", "n/a"),
            ("@logSamples", r#"[{"@message":"GET /health 200"},null]"#),
            ("@newField", "v"),
        ];
        let p = parse_pattern_row(pairs(&other)).unwrap();
        assert_eq!((p.count, p.ratio, p.severity), (17, None, None));
        assert_eq!(p.samples, ["GET /health 200"]);
        assert_eq!(p.extra.get("@newField").map(String::as_str), Some("v"));
        // A plain (non-JSON) sample is one sample.
        let plain = [("@pattern", "x <*>"), ("@logSamples", "x 1")];
        assert_eq!(parse_pattern_row(pairs(&plain)).unwrap().samples, ["x 1"]);
        // A raw event row (the service ignored `pattern`) is not a pattern.
        let raw = [("@ptr", "1"), ("@message", "hello")];
        assert!(parse_pattern_row(pairs(&raw)).is_none());
    }

    fn prow(pattern: &str, count: u64, ratio: f64) -> PatternRow {
        PatternRow {
            pattern: pattern.into(),
            count,
            ratio: Some(ratio),
            severity: Some("Info".into()),
            samples: vec![format!("{pattern} sample")],
            ..Default::default()
        }
    }

    #[test]
    fn join_patterns_keeps_server_counts_per_window() {
        let incident = vec![
            prow("new error <*>", 900, 0.3),
            prow("steady <*>", 100, 0.1),
            // The same pattern from a second chunk of log groups adds up.
            prow("steady <*>", 20, 0.5),
        ];
        let baseline = vec![prow("steady <*>", 110, 0.4), prow("gone <*>", 50, 0.2)];
        let joined = join_patterns(incident, baseline);
        let view: Vec<(&str, u64, u64)> = joined
            .iter()
            .map(|p| (p.pattern.as_str(), p.incident_count, p.baseline_count))
            .collect();
        assert_eq!(
            view,
            [
                ("new error <*>", 900, 0),
                ("steady <*>", 120, 110),
                ("gone <*>", 0, 50)
            ]
        );
        assert_eq!(joined[0].incident_ratio, Some(0.3));
        assert_eq!(joined[0].baseline_ratio, None);
        // Ratios of different queries have different denominators: not combined.
        assert_eq!(joined[1].incident_ratio, None);
        assert_eq!(joined[1].baseline_ratio, Some(0.4));
        assert_eq!(joined[2].samples, ["gone <*> sample"]);
        assert_eq!(joined[0].severity.as_deref(), Some("Info"));
    }

    #[test]
    fn mode_names() {
        assert_eq!("insights".parse::<LogsMode>(), Ok(LogsMode::Insights));
        assert_eq!(
            "filter_log_events".parse::<LogsMode>(),
            Ok(LogsMode::FilterLogEvents)
        );
        assert_eq!("Pattern".parse::<LogsMode>(), Ok(LogsMode::Pattern));
        assert!("grep".parse::<LogsMode>().is_err());
        assert_eq!(
            serde_json::to_string(&LogsMode::FilterLogEvents).unwrap(),
            "\"filter-log-events\""
        );
        let d = CloudWatchLogsOptions::default();
        assert_eq!(
            (d.max_events, d.row_cap, d.mode),
            (200_000, 10_000, LogsMode::Insights)
        );
    }

    #[test]
    fn whole_second_bounds() {
        assert_eq!(
            (secs_floor(1_999), secs_ceil(1_001), secs_ceil(2_000)),
            (1, 2, 2)
        );
        assert_eq!(secs_floor(-1), -1);
        let g: Vec<String> = (0..5).map(|i| format!("/g{i}")).collect();
        assert_eq!(groups_label(&g[..2]), "/g0,/g1");
        assert_eq!(groups_label(&g), "/g0,/g1,/g2 +2 more");
    }
}
