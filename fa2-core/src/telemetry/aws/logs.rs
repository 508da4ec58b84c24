//! The CloudWatch Logs source (`cloudwatch-logs`): reads the log events of configured log
//! groups (names, or ARNs as the console copies them: [`normalize_log_group`]) for the incident
//! and baseline windows, through Logs Insights (the default) or `FilterLogEvents`, and the
//! server-side pattern summaries of Logs Insights' `pattern` command.
//!
//! **The budget** (`max_events`) is spent on the incident window first, and the baseline is
//! never read oldest-first into the budget: on a busy log group that would spend it all on the
//! baseline's first minutes and read nothing of the incident. The incident may take
//! [`incident_share`] (four fifths); the baseline gets what is left, spread evenly over its
//! whole span, and every baseline event read stands for the events of its time slice that were
//! not ([`Record::Sampled`]), so the distiller compares the windows' counts at their real
//! rates. The status says how much of each window was read (`incident: 1,500 of 1,500 events
//! read; baseline: 3,500 of 20,000 events read (sampled evenly over 12 slices of 5m: ...)`).
//!
//! - **Insights** ([`LogsMode::Insights`]), per chunk of 50 log groups (the service's limit):
//!   1. *Sizing*: `stats count(*) as events by @log, bin(...)` over each window
//!      ([`sizing_query_text`]) counts the events per log group and slice (12 slices of the
//!      baseline, 6 of the incident, whole minutes) before anything is read.
//!   2. *Incident*: the log groups whose incident events fit in the incident's share
//!      (smallest first) are read whole. A log group too large for it is not read in part:
//!      `pattern @message` counts it on the server, one query per incident slice, and each
//!      pattern of each slice arrives as one event (its first sample, at the slice's start)
//!      standing for the events the server matched; the distiller mines the sample like any
//!      event, so the template counts are the server's. (A service without `pattern` gets an
//!      even sample instead.)
//!   3. *Baseline*: what is left of the budget is shared among the baseline's slices
//!      ([`share_budget`]): slices with fewer events than an even share are read whole, the
//!      others up to their share; each event read stands for `events / read` of its slice.
//!
//!   Reads are sorted by time ascending with `limit 10000` (the service's row cap). A result
//!   with exactly the cap of rows is incomplete: its rows before the last whole second are
//!   complete, so they are kept and the rest of the range is queried again from that second
//!   on. More than 10,000 events in one single second cannot be split further (the API takes
//!   whole seconds): the status then says how the result was cut. Server-side counts cover the
//!   window's whole seconds ([`server_count_range`]). When the sizing query fails (or the
//!   service does not run `stats`), the windows are read without sampling, incident first,
//!   and the status says why.
//! - **FilterLogEvents** ([`LogsMode::FilterLogEvents`]): per log group and window, pages
//!   (millisecond time range, optional filter pattern, `filter_pattern`). FilterLogEvents can
//!   neither count nor aggregate, so each log group's share of a window is read from the
//!   window's start up to half of it; if that does not finish the window, the rest is cut into
//!   slices read with even shares of what is left, and a slice not finished stands for the
//!   events of its whole span, estimated from the time its pages covered (the service returns
//!   a log group's streams interleaved in time order). Its totals are marked `~`.
//! - **Pattern** ([`LogsMode::Pattern`]): `pattern @message` runs on the server, one query for
//!   the incident window and one for the baseline, joined in Rust by pattern text
//!   ([`CloudWatchLogsSource::collect_patterns`]); each pattern becomes one
//!   [`Record::LogPattern`] with the *server's* counts of both windows.
//!
//! Every read is registered as an [`Origin`] whose locator holds the query that reads the
//! window whole, its log groups and time range, the equivalent `aws logs` command and a
//! CloudWatch console link, plus how it was read when that was a sample. Records stream into
//! the sink per result page; memory holds one page (or one FilterLogEvents slice) at a time.

use crate::error::SourceError;
use crate::record::{LogEvent, Record, RecordKind, RecordType};
use crate::request::Phase;
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
/// Slices the baseline window is sampled over.
pub const BASELINE_SLICES: i64 = 12;
/// Slices the incident window is counted in by `pattern` (its time resolution then) or
/// sampled over.
pub const INCIDENT_SLICES: i64 = 6;
/// The most events one `FilterLogEvents` page holds.
const FILTER_PAGE_CAP: u64 = 10_000;

pub use super::incident_share;

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

/// A configured log group as every API call gets it: a name stays as it is; an ARN loses the
/// trailing `:*` that the console and IAM policies show
/// (`arn:aws:logs:us-east-1:123456789012:log-group:/ecs/app:*`), which `StartQuery`'s
/// `logGroupIdentifiers` and `FilterLogEvents`' `logGroupIdentifier` reject ("Don't include
/// an * at the end"). The source normalises its options with it once, in
/// [`CloudWatchLogsSource::new`].
pub fn normalize_log_group(id: &str) -> String {
    let id = id.trim();
    if id.starts_with("arn:") {
        id.strip_suffix(":*").unwrap_or(id).to_string()
    } else {
        id.to_string()
    }
}

/// The name of a log group given by name or by ARN: what Insights' `@log` names (after the
/// account) and what the report shows.
pub fn log_group_name(id: &str) -> &str {
    match id.split_once(":log-group:") {
        Some((_, name)) => name.strip_suffix(":*").unwrap_or(name),
        None => id,
    }
}

/// The Logs Insights query that sizes a window before anything is read: events per log group
/// and time slice, after the user's filter.
pub fn sizing_query_text(filter: &str, slice_secs: i64) -> String {
    let mut q = String::new();
    if let Some(f) = filter_clause(filter) {
        let _ = write!(q, "filter {f} | ");
    }
    let _ = write!(q, "stats count(*) as events by @log, bin({slice_secs}s)");
    q
}

/// The length, in whole minutes, of the slices a window of `span_ms` is cut into so that there
/// are at most `slices` of them.
pub fn slice_secs(span_ms: i64, slices: i64) -> i64 {
    let secs = (span_ms.max(1) + 999) / 1000;
    let per = (secs + slices.max(1) - 1) / slices.max(1);
    ((per + 59) / 60 * 60).max(60)
}

/// Shares `budget` among parts of the given sizes (water-filling): parts smaller than an even
/// share are read whole, and what they leave goes to the larger parts in equal shares. The
/// shares never exceed the sizes and add up to at most `budget`.
pub fn share_budget(sizes: &[u64], budget: u64) -> Vec<u64> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| sizes[i]);
    let mut out = vec![0; sizes.len()];
    let mut left = budget;
    for (k, &i) in order.iter().enumerate() {
        let parts = (order.len() - k) as u64;
        let fair = left.div_ceil(parts);
        let take = sizes[i].min(fair);
        out[i] = take;
        left -= take;
    }
    out
}

/// One time slice of a window, `[lo_ms, hi_ms)`, with the events the sizing query counted in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub lo_ms: i64,
    pub hi_ms: i64,
    pub events: u64,
}

/// One row of a sizing query: the log group (the `account:` prefix removed; `None` when the
/// service left `@log` out), the start of the time bin in epoch milliseconds and its events.
pub fn parse_sizing_row<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<(Option<&'a str>, i64, u64)> {
    let mut group = None;
    let mut bin = None;
    let mut events = None;
    for (field, value) in fields {
        match field {
            "events" => {
                let v = value.trim();
                events = v.parse::<u64>().ok().or_else(|| {
                    v.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite() && *f >= 0.0)
                        .map(|f| f as u64)
                });
            }
            "@log" => group = Some(value.split_once(':').map_or(value, |(_, g)| g)),
            f if f.starts_with("bin(") => {
                bin = crate::time::parse_timestamp(value).map(|t| t.timestamp_millis());
            }
            _ => {}
        }
    }
    Some((group, bin?, events?))
}

/// Slices per log group name from the rows of a sizing query over `[lo, hi)` with bins of
/// `bin_ms`: each bin clipped to the window, sorted by time. Rows without `@log` belong to
/// `single_group` (a query of one group), else they are not counted.
fn sizing_slices<'a>(
    rows: impl IntoIterator<Item = Option<(Option<&'a str>, i64, u64)>>,
    (lo, hi): (i64, i64),
    bin_ms: i64,
    single_group: Option<&str>,
) -> BTreeMap<String, Vec<Slice>> {
    let mut out: BTreeMap<String, BTreeMap<i64, u64>> = BTreeMap::new();
    for (group, bin, events) in rows.into_iter().flatten() {
        let Some(g) = group.or(single_group) else {
            continue;
        };
        *out.entry(log_group_name(g).to_string())
            .or_default()
            .entry(bin)
            .or_default() += events;
    }
    out.into_iter()
        .map(|(g, bins)| {
            let slices = bins
                .into_iter()
                .filter(|&(_, n)| n > 0)
                .map(|(b, n)| Slice {
                    lo_ms: b.max(lo),
                    hi_ms: (b + bin_ms).min(hi),
                    events: n,
                })
                .filter(|s| s.lo_ms < s.hi_ms)
                .collect();
            (g, slices)
        })
        .collect()
}

/// `12345` as `12,345`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in seconds as `5m`, `2h` or `90s`.
fn span_label(secs: i64) -> String {
    if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
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

/// The whole seconds of `[lo, hi)` ms that a server-side count (sizing, `pattern`) covers:
/// the API takes whole seconds, both ends included, so a partial second at either end is left
/// out rather than counted with the neighbouring window (at whole-second ends the two agree but
/// for events at the very millisecond of the boundary).
fn server_count_range((lo, hi): (i64, i64)) -> (i64, i64) {
    let start = secs_ceil(lo);
    (start, secs_floor(hi).max(start))
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

/// A log event as a record: a sample standing for `weight` events when `weight > 1`.
fn weighted(ev: LogEvent, weight: f64) -> Record {
    if weight > 1.0 {
        Record::Sampled {
            weight,
            record: Box::new(Record::Log(ev)),
        }
    } else {
        Record::Log(ev)
    }
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Incident => "incident",
        _ => "baseline",
    }
}

/// A window of the query in epoch milliseconds.
fn run_window(q: &SourceQuery, phase: Phase) -> (i64, i64) {
    let w = q.window;
    match phase {
        Phase::Incident => (w.start.timestamp_millis(), w.end.timestamp_millis()),
        _ => (
            w.baseline_start.timestamp_millis(),
            w.baseline_end.timestamp_millis(),
        ),
    }
}

/// Both windows in epoch milliseconds and the length of their slices in seconds.
#[derive(Debug, Clone, Copy)]
struct WindowPlan {
    incident: (i64, i64),
    baseline: (i64, i64),
    incident_slice: i64,
    baseline_slice: i64,
}

impl WindowPlan {
    fn new(q: &SourceQuery) -> Self {
        let incident = run_window(q, Phase::Incident);
        let baseline = run_window(q, Phase::Baseline);
        WindowPlan {
            incident,
            baseline,
            incident_slice: slice_secs(incident.1 - incident.0, INCIDENT_SLICES),
            baseline_slice: slice_secs(baseline.1 - baseline.0, BASELINE_SLICES),
        }
    }

    fn range(&self, phase: Phase) -> (i64, i64) {
        match phase {
            Phase::Incident => self.incident,
            _ => self.baseline,
        }
    }
}

/// One chunk of log groups (one query) and the sizes of both windows per log group name.
#[derive(Debug)]
struct Chunk {
    groups: Vec<String>,
    incident: BTreeMap<String, Vec<Slice>>,
    baseline: BTreeMap<String, Vec<Slice>>,
    /// Why the windows could not be sized (they are then read without sampling).
    not_sized: Option<String>,
}

impl Chunk {
    fn incident_slices(&self, group: &str) -> Vec<Slice> {
        self.incident
            .get(log_group_name(group))
            .cloned()
            .unwrap_or_default()
    }

    fn incident_events(&self, group: &str) -> u64 {
        self.incident_slices(group).iter().map(|s| s.events).sum()
    }

    /// The baseline's slices with the events of all the chunk's log groups.
    fn baseline_cells(&self) -> Vec<Slice> {
        let mut cells: BTreeMap<(i64, i64), u64> = BTreeMap::new();
        for s in self.baseline.values().flatten() {
            *cells.entry((s.lo_ms, s.hi_ms)).or_default() += s.events;
        }
        cells
            .into_iter()
            .map(|((lo_ms, hi_ms), events)| Slice {
                lo_ms,
                hi_ms,
                events,
            })
            .collect()
    }
}

/// What `filter_pages` read.
#[derive(Debug, Clone, Copy)]
struct PagesRead {
    read: u64,
    /// The range was read to its end (no page left).
    complete: bool,
    /// The time of the latest event read (`lo - 1` when none).
    last_ms: i64,
}

/// Why a log group's `FilterLogEvents` read stopped.
#[derive(Debug)]
enum FilterFail {
    /// The consumer is gone: collecting stops.
    SinkClosed,
    /// The read failed; the message says why.
    Failed(String),
}

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

/// What was read of one window, for the status line.
#[derive(Debug, Default, Clone, PartialEq)]
struct Tally {
    /// Events read (records emitted).
    read: u64,
    /// Events in the window: counted by a sizing query, or estimated (`estimated`).
    total: u64,
    /// `total` is an estimate from the time the pages covered (FilterLogEvents cannot count).
    estimated: bool,
    /// Why the window's size is unknown, if it is.
    not_sized: Option<String>,
    /// Events read whole from the window's start before the rest was sampled (FilterLogEvents).
    head: u64,
    /// The slices a sample was spread over, and their length in seconds (0: not sampled).
    slices: u64,
    slice_secs: i64,
    /// Events the server counted with `pattern` instead (not read), in how many patterns,
    /// for which log groups.
    by_pattern: u64,
    patterns: u64,
    pattern_groups: Vec<String>,
}

impl Tally {
    /// Whether the window was not simply read whole.
    fn partial(&self) -> bool {
        self.slices > 0
            || self.by_pattern > 0
            || !self.pattern_groups.is_empty()
            || self.estimated
            || self.not_sized.is_some()
            || self.read < self.total
    }

    /// `incident: 4,100 of 4,100 events read` and what was sampled or counted by the server.
    fn describe(&self, window: &str) -> String {
        let mut s = format!("{window}: {}", thousands(self.read));
        if self.not_sized.is_none() {
            let approx = if self.estimated { "~" } else { "" };
            let _ = write!(s, " of {approx}{}", thousands(self.total));
        }
        s.push_str(" events read");
        if self.read == 0 && self.total == 0 && self.by_pattern > 0 {
            // Only counted by the server: say that alone.
            s = format!("{window}:");
        }
        if self.slices > 0 {
            let head = if self.head > 0 {
                format!("the first {} read whole, the rest ", thousands(self.head))
            } else {
                String::new()
            };
            let _ = write!(
                s,
                " ({head}sampled evenly over {} slices of {}: each event read stands for the events of its slice)",
                self.slices,
                span_label(self.slice_secs)
            );
        }
        if self.by_pattern > 0 || !self.pattern_groups.is_empty() {
            let sep = if s.ends_with(':') { " " } else { ", and " };
            let more = if sep == " " { "" } else { "more " };
            let _ = write!(
                s,
                "{sep}{} {more}events of {} counted by the server with `pattern` ({} patterns, more than the window's share of max_events)",
                thousands(self.by_pattern),
                self.pattern_groups.join(", "),
                thousands(self.patterns)
            );
        }
        if let Some(why) = &self.not_sized {
            let _ = write!(s, " ({why})");
        }
        s
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
    incident: Tally,
    baseline: Tally,
}

impl<'s> Run<'s> {
    fn new(q: &'s SourceQuery, sink: &'s mut dyn RecordSink) -> Self {
        Run {
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
            incident: Tally::default(),
            baseline: Tally::default(),
        }
    }

    fn tally(&mut self, phase: Phase) -> &mut Tally {
        match phase {
            Phase::Incident => &mut self.incident,
            _ => &mut self.baseline,
        }
    }
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
    pub fn new(config: &aws_config::SdkConfig, mut options: CloudWatchLogsOptions) -> Self {
        // The one place where configured log groups are normalised (ARNs lose a trailing `:*`).
        options.log_groups = options
            .log_groups
            .iter()
            .map(|g| normalize_log_group(g))
            .filter(|g| !g.is_empty())
            .collect();
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

    /// Starts a Logs Insights query and polls it until it completes; returns its rows (at
    /// most `limit`). On the deadline the query is stopped on the server.
    async fn run_query(
        &self,
        q: &SourceQuery,
        groups: &[String],
        (start_secs, end_secs): (i64, i64),
        text: &str,
        limit: usize,
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
            .limit(limit.clamp(1, INSIGHTS_ROW_CAP) as i32);
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

    /// Emits the rows with `lo <= ts < hi`, as samples standing for `weight` events each when
    /// `weight > 1`; `Ok(false)` once `max_events` is reached.
    #[allow(clippy::too_many_arguments)]
    fn emit_rows(
        &self,
        run: &mut Run<'_>,
        origin: OriginId,
        rows: &[Vec<ResultField>],
        (lo, hi): (i64, i64),
        single_group: Option<&str>,
        weight: f64,
        phase: Phase,
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
            run.sink.accept(origin, weighted(ev, weight))?;
            run.emitted += 1;
            run.tally(phase).read += 1;
        }
        if unparsed > 0 {
            run.note(format!(
                "{unparsed} Logs Insights rows had no readable @timestamp and were skipped"
            ));
        }
        Ok(true)
    }

    /// Reads `[lo, hi)` ms of `groups` in time order, up to `cap` events (every event when
    /// `None`), each standing for `weight` events. A result with exactly the service's row cap
    /// is incomplete: its rows before the last whole second are complete (the query is sorted
    /// ascending), so they are kept and the rest of the range is queried again from that
    /// second on.
    #[allow(clippy::too_many_arguments)]
    async fn insights_range(
        &self,
        run: &mut Run<'_>,
        groups: &[String],
        origin: OriginId,
        range: (i64, i64),
        cap: Option<u64>,
        weight: f64,
        phase: Phase,
    ) -> Result<(), QueryError> {
        let (mut lo, hi) = range;
        let row_cap = self.row_cap() as u64;
        let single = (groups.len() == 1).then(|| log_group_name(&groups[0]));
        let mut got = 0u64;
        while lo < hi {
            if run.emitted >= self.options.max_events as u64 {
                run.capped = true;
                return Ok(());
            }
            let want = cap.map_or(row_cap, |c| c.saturating_sub(got).min(row_cap));
            if want == 0 {
                return Ok(());
            }
            let text = insights_query_text(&self.options.filter, want as usize);
            let rows = self
                .run_query(
                    run.q,
                    groups,
                    (secs_floor(lo), secs_ceil(hi)),
                    &text,
                    want as usize,
                )
                .await?;
            run.queries += 1;
            let before = run.emitted;
            let reached_cap = cap.is_some_and(|c| got + rows.len() as u64 >= c);
            if (rows.len() as u64) < want || reached_cap {
                self.emit_rows(run, origin, &rows, (lo, hi), single, weight, phase)?;
                return Ok(());
            }
            // The row cap, not our cap: every row before the last row's whole second is
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
                    "more than {row_cap} events within one second at {}: only {row_cap} of them were read",
                    crate::time::rfc3339(
                        crate::time::from_millis(secs_floor(lo) * 1000).unwrap_or_default()
                    )
                ));
                (next.min(hi), next)
            };
            let more = self.emit_rows(
                run,
                origin,
                &rows,
                (lo, upto.min(hi)),
                single,
                weight,
                phase,
            )?;
            got += run.emitted - before;
            if !more {
                return Ok(());
            }
            lo = next;
        }
        Ok(())
    }

    /// Registers the origin of a read of `groups` over `[lo, hi)` ms: the query that reads
    /// every event of the range, plus how it was actually read when that was a sample.
    fn insights_origin(
        &self,
        run: &mut Run<'_>,
        groups: &[String],
        (lo, hi): (i64, i64),
        how: Option<String>,
    ) -> OriginId {
        let text = insights_query_text(&self.options.filter, self.row_cap());
        let mut locator =
            insights_reproduction(&self.region, groups, secs_floor(lo), secs_ceil(hi), &text);
        if let Some(how) = how {
            let _ = write!(locator, "\nread as: {how}");
        }
        run.sink.register_origin(Origin {
            source: SOURCE_NAME.into(),
            kind: RecordKind::Logs,
            locator: Locator::Query {
                service: INSIGHTS_SERVICE.into(),
                text: locator,
            },
        })
    }

    /// Records a failed part; `Err` only when the sink is gone (collecting must stop).
    fn part_failed(
        run: &mut Run<'_>,
        groups: &[String],
        what: &str,
        kept: u64,
        err: QueryError,
    ) -> Result<(), SourceError> {
        let e = match err {
            QueryError::Other(SourceError::SinkClosed) => return Err(SourceError::SinkClosed),
            QueryError::Other(e) | QueryError::MissingGroup(e) => e,
        };
        let mut msg = format!("{what}: {e}");
        if kept > 0 {
            let _ = write!(msg, " ({kept} records read before were kept)");
        }
        run.error(format!("{SOURCE_NAME}:{}", groups_label(groups)), kept, msg);
        Ok(())
    }

    /// Sizes both windows of one chunk of log groups with two `stats count(*) by @log, bin()`
    /// queries: the events per log group name and slice of each window.
    async fn size_chunk(
        &self,
        run: &mut Run<'_>,
        groups: &[String],
        plan: &WindowPlan,
    ) -> Result<[BTreeMap<String, Vec<Slice>>; 2], QueryError> {
        let single = (groups.len() == 1).then(|| log_group_name(&groups[0]));
        let mut out: [BTreeMap<String, Vec<Slice>>; 2] = Default::default();
        for (i, (range, bin)) in [
            (plan.incident, plan.incident_slice),
            (plan.baseline, plan.baseline_slice),
        ]
        .into_iter()
        .enumerate()
        {
            if range.0 >= range.1 {
                continue;
            }
            let text = sizing_query_text(&self.options.filter, bin);
            let rows = self
                .run_query(
                    run.q,
                    groups,
                    server_count_range(range),
                    &text,
                    INSIGHTS_ROW_CAP,
                )
                .await?;
            run.queries += 1;
            let parsed: Vec<_> = rows
                .iter()
                .map(|r| parse_sizing_row(result_fields(r)))
                .collect();
            if !parsed.is_empty() && parsed.iter().all(Option::is_none) {
                return Err(QueryError::Other(SourceError::Unavailable(
                    "the service answered the sizing query (`stats count(*) by @log, bin()`) with rows that are not counts".into(),
                )));
            }
            out[i] = sizing_slices(parsed, range, bin * 1000, single);
        }
        Ok(out)
    }

    /// Counts one log group's incident window on the server with `pattern`, one query per
    /// slice, and emits each pattern of each slice as one event (its first sample) standing
    /// for the events the server matched, at the slice's start. `Ok(false)` when the service
    /// answered with rows that are not patterns (it does not run `pattern`).
    async fn incident_patterns(
        &self,
        run: &mut Run<'_>,
        group: &str,
        slices: &[Slice],
    ) -> Result<bool, QueryError> {
        let text = pattern_query_text(&self.options.filter);
        let groups = [group.to_string()];
        let (lo, hi) = run_window(run.q, Phase::Incident);
        let origin = run.sink.register_origin(Origin {
            source: SOURCE_NAME.into(),
            kind: RecordKind::Logs,
            locator: Locator::Query {
                service: INSIGHTS_SERVICE.into(),
                text: insights_reproduction(
                    &self.region,
                    &groups,
                    secs_floor(lo),
                    (secs_ceil(hi) - 1).max(secs_floor(lo)),
                    &text,
                ),
            },
        });
        let name = run.intern_group(log_group_name(group));
        for slice in slices {
            let rows = self
                .run_query(
                    run.q,
                    &groups,
                    server_count_range((slice.lo_ms, slice.hi_ms)),
                    &text,
                    INSIGHTS_ROW_CAP,
                )
                .await?;
            run.queries += 1;
            let mut parsed = Vec::with_capacity(rows.len());
            for row in &rows {
                match parse_pattern_row(result_fields(row)) {
                    Some(p) => parsed.push(p),
                    None => return Ok(false),
                }
            }
            let ts = crate::time::from_millis(slice.lo_ms).unwrap_or(run.q.window.start);
            for p in parsed.into_iter().filter(|p| p.count > 0) {
                let message = p.samples.into_iter().next().unwrap_or(p.pattern);
                let ev = LogEvent {
                    ts,
                    group: name.clone(),
                    stream: None,
                    message,
                };
                run.sink.accept(origin, weighted(ev, p.count as f64))?;
                run.incident.by_pattern += p.count;
                run.incident.patterns += 1;
            }
        }
        Ok(true)
    }

    /// The Insights mode, incident first (see the module documentation).
    async fn collect_insights(&self, run: &mut Run<'_>) -> Result<(), SourceError> {
        let plan = WindowPlan::new(run.q);
        let budget = self.options.max_events as u64;
        let incident_cap = incident_share(budget);

        // 1. Size both windows, chunk by chunk.
        let mut chunks: Vec<Chunk> = Vec::new();
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
                match self.size_chunk(run, &groups, &plan).await {
                    Ok([incident, baseline]) => {
                        chunks.push(Chunk {
                            groups,
                            incident,
                            baseline,
                            not_sized: None,
                        });
                        break;
                    }
                    Err(QueryError::MissingGroup(e)) => {
                        if !self.drop_missing(run, &mut groups, e).await {
                            break;
                        }
                    }
                    Err(QueryError::Other(e)) => {
                        if run.q.should_stop() {
                            run.error(
                                format!("{SOURCE_NAME}:{}", groups_label(&groups)),
                                0,
                                e.to_string(),
                            );
                        } else {
                            // Read anyway, incident first, without sampling.
                            chunks.push(Chunk {
                                groups,
                                incident: BTreeMap::new(),
                                baseline: BTreeMap::new(),
                                not_sized: Some(e.to_string()),
                            });
                        }
                        break;
                    }
                }
            }
        }
        if chunks.is_empty() {
            return Ok(());
        }
        run.any_ok = true;

        // 2. The incident window: whole for the log groups that fit in the incident's share
        //    (smallest first), counted by the server with `pattern` for the others.
        let mut sizes: Vec<(u64, usize, usize)> = Vec::new();
        for (ci, c) in chunks.iter().enumerate() {
            for (gi, g) in c.groups.iter().enumerate() {
                if c.not_sized.is_none() {
                    sizes.push((c.incident_events(g), ci, gi));
                }
            }
        }
        sizes.sort();
        let mut used = 0u64;
        let mut by_pattern: Vec<(usize, usize)> = Vec::new();
        let mut whole: Vec<Vec<String>> = vec![Vec::new(); chunks.len()];
        for &(n, ci, gi) in &sizes {
            if used + n <= incident_cap {
                used += n;
                whole[ci].push(chunks[ci].groups[gi].clone());
            } else {
                by_pattern.push((ci, gi));
            }
        }
        for (ci, c) in chunks.iter().enumerate() {
            // Keep the configured order in the queries.
            whole[ci].sort_by_key(|g| c.groups.iter().position(|x| x == g));
            if c.not_sized.is_some() {
                whole[ci] = c.groups.clone();
            }
        }
        for (ci, groups) in whole.iter().enumerate() {
            if groups.is_empty() {
                continue;
            }
            let cap = chunks[ci]
                .not_sized
                .as_ref()
                .map(|_| incident_cap.saturating_sub(run.incident.read));
            let origin = self.insights_origin(run, groups, plan.incident, None);
            let before = run.incident.read;
            if let Err(e) = self
                .insights_range(
                    run,
                    groups,
                    origin,
                    plan.incident,
                    cap,
                    1.0,
                    Phase::Incident,
                )
                .await
            {
                let kept = run.incident.read - before;
                Self::part_failed(run, groups, "incident window", kept, e)?;
            }
            run.incident.total += run.incident.read - before;
            if let Some(why) = &chunks[ci].not_sized {
                run.incident.not_sized = Some(format!(
                    "the window could not be sized ({why}): read from its start, not sampled"
                ));
            }
        }
        for &(ci, gi) in &by_pattern {
            let group = chunks[ci].groups[gi].clone();
            let slices = chunks[ci].incident_slices(&group);
            let name = log_group_name(&group).to_string();
            run.incident.pattern_groups.push(name);
            match self.incident_patterns(run, &group, &slices).await {
                Ok(true) => {}
                Ok(false) => {
                    // No `pattern` on this service: an even sample of the window instead.
                    run.incident.pattern_groups.pop();
                    let left = incident_cap.saturating_sub(run.incident.read);
                    self.read_sampled(run, &[vec![group]], &[slices], left, Phase::Incident, &plan)
                        .await?;
                    run.note(
                        "the service did not run `pattern`: the incident window was sampled instead".into(),
                    );
                }
                Err(e) => {
                    Self::part_failed(run, &[group], "incident patterns", 0, e)?;
                }
            }
        }

        // 3. The baseline gets what is left, sampled evenly over its slices.
        let left = budget.saturating_sub(run.emitted);
        let sized: Vec<usize> = (0..chunks.len())
            .filter(|&i| chunks[i].not_sized.is_none())
            .collect();
        let groups: Vec<Vec<String>> = sized.iter().map(|&i| chunks[i].groups.clone()).collect();
        let slices: Vec<Vec<Slice>> = sized.iter().map(|&i| chunks[i].baseline_cells()).collect();
        let not_sized: Vec<usize> = (0..chunks.len())
            .filter(|&i| chunks[i].not_sized.is_some())
            .collect();
        let share = if not_sized.is_empty() {
            left
        } else {
            left / (1 + not_sized.len() as u64)
        };
        self.read_sampled(run, &groups, &slices, share, Phase::Baseline, &plan)
            .await?;
        for (k, &ci) in not_sized.iter().enumerate() {
            let left = budget.saturating_sub(run.emitted);
            let cap = left / (not_sized.len() - k) as u64;
            let groups = chunks[ci].groups.clone();
            let origin = self.insights_origin(run, &groups, plan.baseline, None);
            let before = run.baseline.read;
            if let Err(e) = self
                .insights_range(
                    run,
                    &groups,
                    origin,
                    plan.baseline,
                    Some(cap),
                    1.0,
                    Phase::Baseline,
                )
                .await
            {
                let kept = run.baseline.read - before;
                Self::part_failed(run, &groups, "baseline window", kept, e)?;
            }
            run.baseline.total += run.baseline.read - before;
            if let Some(why) = &chunks[ci].not_sized {
                run.baseline.not_sized = Some(format!(
                    "the window could not be sized ({why}): read from its start up to its share of max_events, not sampled"
                ));
            }
        }
        Ok(())
    }

    /// Reads the cells (chunk of log groups × slice) of one window with `budget` events:
    /// cells with fewer events than an even share are read whole, the others up to their
    /// share, each event read standing for `events / read` events of its cell.
    async fn read_sampled(
        &self,
        run: &mut Run<'_>,
        groups: &[Vec<String>],
        cells: &[Vec<Slice>],
        budget: u64,
        phase: Phase,
        plan: &WindowPlan,
    ) -> Result<(), SourceError> {
        let flat: Vec<(usize, Slice)> = cells
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.iter().map(move |c| (i, *c)))
            .collect();
        let sizes: Vec<u64> = flat.iter().map(|(_, c)| c.events).collect();
        let caps = share_budget(&sizes, budget);
        let sampled = caps.iter().zip(&sizes).any(|(c, n)| c < n);
        let range = match phase {
            Phase::Incident => plan.incident,
            _ => plan.baseline,
        };
        let slice_secs = match phase {
            Phase::Incident => plan.incident_slice,
            _ => plan.baseline_slice,
        };
        let how = sampled.then(|| {
            format!(
                "an even sample: at most {} events in each slice of {} (sorted by time), each standing for the events of its slice",
                thousands(caps.iter().copied().max().unwrap_or(0)),
                span_label(slice_secs)
            )
        });
        let mut origins: Vec<Option<OriginId>> = vec![None; groups.len()];
        for ((ci, cell), cap) in flat.into_iter().zip(caps) {
            if cell.events == 0 {
                continue;
            }
            let origin = match origins[ci] {
                Some(o) => o,
                None => {
                    let o = self.insights_origin(run, &groups[ci], range, how.clone());
                    origins[ci] = Some(o);
                    o
                }
            };
            if cap == 0 {
                run.tally(phase).total += cell.events;
                continue;
            }
            let weight = cell.events as f64 / cap.min(cell.events) as f64;
            let before = run.tally(phase).read;
            if let Err(e) = self
                .insights_range(
                    run,
                    &groups[ci],
                    origin,
                    // A sample starts on the cell's first whole second: the rows of a partial
                    // second before the cell, which the query's whole seconds would return
                    // first, cannot take the sample's place.
                    if cap < cell.events {
                        (secs_ceil(cell.lo_ms) * 1000, cell.hi_ms)
                    } else {
                        (cell.lo_ms, cell.hi_ms)
                    },
                    (cap < cell.events).then_some(cap),
                    weight,
                    phase,
                )
                .await
            {
                let kept = run.tally(phase).read - before;
                let what = format!(
                    "{} slice {}",
                    phase_name(phase),
                    crate::time::rfc3339(crate::time::from_millis(cell.lo_ms).unwrap_or_default())
                );
                Self::part_failed(run, &groups[ci], &what, kept, e)?;
                if run.q.should_stop() {
                    break;
                }
            }
            // A cell read whole counts what it held (the sizing query's whole seconds may
            // have counted an event just outside the window); a sampled one what was counted.
            let got = run.tally(phase).read - before;
            run.tally(phase).total += if cap >= cell.events { got } else { cell.events };
        }
        if sampled {
            let t = run.tally(phase);
            t.slices = cells.iter().map(Vec::len).max().unwrap_or(0) as u64;
            t.slice_secs = slice_secs;
        }
        Ok(())
    }

    /// The FilterLogEvents mode, incident first (see the module documentation).
    async fn collect_filter(&self, run: &mut Run<'_>) -> Result<(), SourceError> {
        let plan = WindowPlan::new(run.q);
        let budget = self.options.max_events as u64;
        let mut failed: Vec<String> = Vec::new();
        for phase in [Phase::Incident, Phase::Baseline] {
            let range = plan.range(phase);
            if range.0 >= range.1 {
                continue;
            }
            let window_budget = match phase {
                Phase::Incident => incident_share(budget),
                _ => budget.saturating_sub(run.emitted),
            };
            let live: Vec<String> = self
                .options
                .log_groups
                .iter()
                .filter(|g| !failed.contains(g))
                .cloned()
                .collect();
            let mut spent = 0u64;
            for (i, group) in live.iter().enumerate() {
                let name = format!("{SOURCE_NAME}:{group}");
                if run.q.should_stop() {
                    run.error(
                        name,
                        0,
                        format!(
                            "{} window not read: the source deadline passed",
                            phase_name(phase)
                        ),
                    );
                    continue;
                }
                // Groups read before leave what they did not need to the others.
                let share = window_budget.saturating_sub(spent) / (live.len() - i) as u64;
                let before = run.emitted;
                match self.filter_window(run, group, range, share, phase).await {
                    Ok(()) => run.any_ok = true,
                    Err(FilterFail::SinkClosed) => return Err(SourceError::SinkClosed),
                    Err(FilterFail::Failed(msg)) => {
                        let kept = run.emitted - before;
                        let mut msg = msg;
                        if kept > 0 {
                            let _ = write!(msg, "; {kept} records read before were kept");
                        }
                        run.error(name, kept, msg);
                        failed.push(group.clone());
                    }
                }
                spent += run.emitted - before;
            }
        }
        Ok(())
    }

    /// Reads one window of one log group with `share` events: from its start up to half the
    /// share; when that does not finish the window, the rest is cut into slices read with
    /// even shares of what is left. A slice that is not finished stands for the events of its
    /// whole time span, estimated from the time its pages covered (FilterLogEvents returns a
    /// log group's events interleaved in time order and cannot count them).
    async fn filter_window(
        &self,
        run: &mut Run<'_>,
        group: &str,
        (lo, hi): (i64, i64),
        share: u64,
        phase: Phase,
    ) -> Result<(), FilterFail> {
        let origin = run.sink.register_origin(Origin {
            source: SOURCE_NAME.into(),
            kind: RecordKind::Logs,
            locator: Locator::Query {
                service: FILTER_SERVICE.into(),
                // `endTime` is inclusive: the window's end is not.
                text: filter_reproduction(
                    &self.region,
                    group,
                    lo,
                    hi - 1,
                    self.options.filter_pattern.trim(),
                ),
            },
        });
        let first = (share / 2).max(share.min(1));
        let head = self
            .filter_pages(run, group, origin, (lo, hi), first, None, phase)
            .await?;
        if head.complete {
            run.tally(phase).total += head.read;
            return Ok(());
        }
        let slices = match phase {
            Phase::Incident => INCIDENT_SLICES,
            _ => BASELINE_SLICES,
        };
        let rest_lo = head.last_ms + 1;
        let span = hi - rest_lo;
        if span <= 0 {
            run.tally(phase).total += head.read;
            return Ok(());
        }
        let width = (span + slices - 1) / slices;
        let mut left = share.saturating_sub(head.read);
        let mut estimate = head.read as f64;
        let mut unread = 0u64;
        let mut k = 0i64;
        let mut start = rest_lo;
        while start < hi {
            let end = (start + width).min(hi);
            let cap = left.div_ceil((slices - k).max(1) as u64);
            k += 1;
            if cap == 0 {
                unread += 1;
                start = end;
                continue;
            }
            let mut buffer = Vec::new();
            let got = match self
                .filter_pages(
                    run,
                    group,
                    origin,
                    (start, end),
                    cap,
                    Some(&mut buffer),
                    phase,
                )
                .await
            {
                Ok(got) => got,
                Err(e) => {
                    // What was read of the slice is kept, counted once each.
                    for ev in buffer {
                        run.sink
                            .accept(origin, Record::Log(ev))
                            .map_err(|_| FilterFail::SinkClosed)?;
                        run.tally(phase).read += 1;
                    }
                    return Err(e);
                }
            };
            let weight = if got.complete || got.read == 0 {
                1.0
            } else {
                let covered = (got.last_ms - start + 1).max(1) as f64;
                ((end - start) as f64 / covered).max(1.0)
            };
            estimate += got.read as f64 * weight;
            left = left.saturating_sub(got.read);
            for ev in buffer {
                run.sink
                    .accept(origin, weighted(ev, weight))
                    .map_err(|_| FilterFail::SinkClosed)?;
                run.tally(phase).read += 1;
            }
            start = end;
        }
        let t = run.tally(phase);
        t.total += estimate.round() as u64;
        t.head += head.read;
        t.estimated = true;
        t.slices = t.slices.max(slices as u64);
        t.slice_secs = (width / 1000).max(1);
        if unread > 0 {
            run.note(format!(
                "{group}: {unread} slices of the {} window were not read (max_events spent)",
                phase_name(phase)
            ));
        }
        Ok(())
    }

    /// Reads `FilterLogEvents` pages of `[lo, hi)` ms up to `cap` events: into `buffer` when
    /// given (a slice whose weight is known only at its end), else straight into the sink.
    #[allow(clippy::too_many_arguments)]
    async fn filter_pages(
        &self,
        run: &mut Run<'_>,
        group: &str,
        origin: OriginId,
        (lo, hi): (i64, i64),
        cap: u64,
        mut buffer: Option<&mut Vec<LogEvent>>,
        phase: Phase,
    ) -> Result<PagesRead, FilterFail> {
        let max = self.options.max_events as u64;
        let pattern = self.options.filter_pattern.trim();
        let group_arc = run.intern_group(log_group_name(group));
        let mut token: Option<String> = None;
        let mut got = PagesRead {
            read: 0,
            complete: false,
            last_ms: lo - 1,
        };
        loop {
            let want = cap.saturating_sub(got.read).min(FILTER_PAGE_CAP);
            if want == 0 {
                return Ok(got);
            }
            // `interleaved` is ignored by the service, which always interleaves the streams'
            // events in time order; emulators still need it to do the same.
            #[allow(deprecated)]
            let mut req = self
                .client
                .filter_log_events()
                .start_time(lo)
                .end_time(hi - 1)
                .limit(want as i32)
                .interleaved(true)
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
                    return Err(FilterFail::Failed(
                        "FilterLogEvents did not finish before the source deadline".into(),
                    ));
                }
                Ok(Err(e)) => {
                    let not_found = e
                        .as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception());
                    return Err(FilterFail::Failed(if not_found {
                        format!(
                            "log group {group} does not exist in {} (ResourceNotFoundException); the other log groups were read",
                            self.region
                        )
                    } else {
                        sdk_error("FilterLogEvents", &e).to_string()
                    }));
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
                if got.read >= cap {
                    return Ok(got);
                }
                if run.emitted >= max {
                    run.capped = true;
                    return Ok(got);
                }
                let stream = ev.log_stream_name().map(|s| run.intern_stream(s));
                let rec = LogEvent {
                    ts,
                    group: group_arc.clone(),
                    stream,
                    message: ev.message().unwrap_or("").to_string(),
                };
                match buffer.as_deref_mut() {
                    Some(b) => b.push(rec),
                    None => {
                        run.sink
                            .accept(origin, Record::Log(rec))
                            .map_err(|_| FilterFail::SinkClosed)?;
                        run.tally(phase).read += 1;
                    }
                }
                // Counted when read: a buffered slice is emitted by the caller.
                run.emitted += 1;
                got.read += 1;
                got.last_ms = got.last_ms.max(ms);
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => {
                    if run.q.should_stop() {
                        return Err(FilterFail::Failed("stopped at the source deadline".into()));
                    }
                    token = Some(t.to_string());
                }
                _ => {
                    got.complete = true;
                    return Ok(got);
                }
            }
        }
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
        let mut run = Run::new(q, &mut sink);
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
                    match self
                        .run_query(q, &groups, (s, e.max(s)), &text, self.row_cap())
                        .await
                    {
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
        let mut run = Run::new(q, sink);
        // Each mode applies one filter syntax; the config refuses the other, an embedder hears it.
        let (ignored, key) = match self.options.mode {
            LogsMode::FilterLogEvents => (self.options.filter.trim(), "filter (Logs Insights)"),
            _ => (
                self.options.filter_pattern.trim(),
                "filter_pattern (FilterLogEvents)",
            ),
        };
        if !ignored.is_empty() {
            run.note(format!(
                "{key} `{ignored}` does not apply in this mode and was not used"
            ));
        }
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
            // How much of each window was read, whenever that was not simply all of it.
            if [&run.incident, &run.baseline].iter().any(|t| t.partial()) {
                let summary = [
                    run.incident.describe("incident"),
                    run.baseline.describe("baseline"),
                ];
                run.notes.splice(0..0, summary);
            }
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
        // What `collect` reads: the incident window, then the baseline (which may be read
        // as a sample of these queries, as the origins say).
        let plan = WindowPlan::new(q);
        let windows: Vec<(i64, i64)> = [plan.incident, plan.baseline]
            .into_iter()
            .filter(|(lo, hi)| lo < hi)
            .collect();
        match self.options.mode {
            LogsMode::FilterLogEvents => windows
                .iter()
                .flat_map(|&(lo, hi)| {
                    self.options.log_groups.iter().map(move |g| Reproduction {
                        kind: RecordKind::Logs,
                        text: filter_reproduction(
                            &self.region,
                            g,
                            lo,
                            hi - 1,
                            self.options.filter_pattern.trim(),
                        ),
                    })
                })
                .collect(),
            LogsMode::Insights => {
                let text = insights_query_text(&self.options.filter, self.row_cap());
                let mut out = Vec::new();
                for &(lo, hi) in &windows {
                    for groups in chunk_log_groups(&self.options.log_groups) {
                        out.push(Reproduction {
                            kind: RecordKind::Logs,
                            text: insights_reproduction(
                                &self.region,
                                groups,
                                secs_floor(lo),
                                secs_ceil(hi),
                                &text,
                            ),
                        });
                    }
                }
                out
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
    fn console_arns_lose_their_trailing_star_once() {
        let arn = "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/app";
        assert_eq!(normalize_log_group(&format!("{arn}:*")), arn);
        assert_eq!(normalize_log_group(&format!(" {arn} ")), arn);
        assert_eq!(normalize_log_group("/ecs/app"), "/ecs/app");
        // A name may not end with `:*` anyway; only ARNs are touched.
        assert_eq!(normalize_log_group("/odd:*"), "/odd:*");
        assert_eq!(log_group_name(arn), "/ecs/app");
        assert_eq!(log_group_name(&format!("{arn}:*")), "/ecs/app");
        assert_eq!(log_group_name("/ecs/app"), "/ecs/app");
        let cfg = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let src = CloudWatchLogsSource::new(
            &cfg,
            CloudWatchLogsOptions {
                log_groups: vec![format!("{arn}:*"), " ".into(), "/a".into()],
                ..Default::default()
            },
        );
        assert_eq!(src.options().log_groups, [arn, "/a"]);
    }

    #[test]
    fn sizing_queries_and_their_rows() {
        assert_eq!(
            sizing_query_text("", 300),
            "stats count(*) as events by @log, bin(300s)"
        );
        assert_eq!(
            sizing_query_text("filter @message like /ERROR/", 60),
            "filter @message like /ERROR/ | stats count(*) as events by @log, bin(60s)"
        );
        // 1 h in 12 slices: 5 min; 30 min in 6: 5 min; short windows: at least a minute.
        assert_eq!(slice_secs(3_600_000, 12), 300);
        assert_eq!(slice_secs(1_800_000, 6), 300);
        assert_eq!(slice_secs(1_000, 12), 60);
        assert_eq!(slice_secs(3_600_001, 12), 360);
        let row = [
            ("@log", "123456789012:/ecs/app"),
            ("bin(300s)", "2024-08-16 11:15:00.000"),
            ("events", "1204"),
        ];
        assert_eq!(
            parse_sizing_row(row.iter().copied()),
            Some((Some("/ecs/app"), 1_723_806_900_000, 1204))
        );
        let no_log = [("bin(300s)", "2024-08-16 11:15:00.000"), ("events", "7.0")];
        assert_eq!(
            parse_sizing_row(no_log.iter().copied()),
            Some((None, 1_723_806_900_000, 7))
        );
        assert_eq!(parse_sizing_row([("@message", "raw row")]), None);
        // Bins clipped to the window, per group; rows without @log go to the single group.
        let lo = 1_723_806_900_000 + 120_000;
        let slices = sizing_slices(
            [
                Some((Some("/a"), 1_723_806_900_000, 5)),
                Some((Some("/a"), 1_723_807_200_000, 7)),
                Some((None, 1_723_807_200_000, 3)),
                None,
            ],
            (lo, lo + 400_000),
            300_000,
            Some("/b"),
        );
        assert_eq!(
            slices["/a"],
            [
                Slice {
                    lo_ms: lo,
                    hi_ms: 1_723_807_200_000,
                    events: 5
                },
                Slice {
                    lo_ms: 1_723_807_200_000,
                    hi_ms: lo + 400_000,
                    events: 7
                }
            ]
        );
        assert_eq!(slices["/b"][0].events, 3);
    }

    #[test]
    fn the_budget_goes_to_small_parts_whole_and_evenly_to_the_rest() {
        assert_eq!(
            share_budget(&[10, 2000, 30, 5000], 1000),
            [10, 480, 30, 480]
        );
        assert_eq!(share_budget(&[10, 20], 1000), [10, 20]);
        assert_eq!(share_budget(&[100, 100, 100], 10), [4, 3, 3]);
        assert_eq!(share_budget(&[5, 5], 0), [0, 0]);
        assert!(share_budget(&[], 5).is_empty());
        let caps = share_budget(&[1700; 12], 900);
        assert_eq!(caps.iter().sum::<u64>(), 900);
        assert!(caps.iter().all(|&c| c == 75));
        assert_eq!(incident_share(5_000), 4_000);
    }

    #[test]
    fn the_status_says_how_much_of_each_window_was_read() {
        let whole = Tally {
            read: 4_100,
            total: 4_100,
            ..Default::default()
        };
        assert!(!whole.partial());
        assert_eq!(
            whole.describe("incident"),
            "incident: 4,100 of 4,100 events read"
        );
        let sampled = Tally {
            read: 900,
            total: 14_000,
            slices: 12,
            slice_secs: 300,
            ..Default::default()
        };
        assert!(sampled.partial());
        assert_eq!(
            sampled.describe("baseline"),
            "baseline: 900 of 14,000 events read (sampled evenly over 12 slices of 5m: each event read stands for the events of its slice)"
        );
        let estimated = Tally {
            estimated: true,
            head: 450,
            ..sampled.clone()
        };
        assert!(estimated.describe("baseline").starts_with(
            "baseline: 900 of ~14,000 events read (the first 450 read whole, the rest sampled evenly over 12 slices"
        ));
        let counted = Tally {
            read: 0,
            total: 0,
            by_pattern: 48_210,
            patterns: 37,
            pattern_groups: vec!["/ecs/orders".into()],
            ..Default::default()
        };
        assert_eq!(
            counted.describe("incident"),
            "incident: 48,210 events of /ecs/orders counted by the server with `pattern` (37 patterns, more than the window's share of max_events)"
        );
        let both = Tally {
            read: 4,
            total: 4,
            ..counted
        };
        assert_eq!(
            both.describe("incident"),
            "incident: 4 of 4 events read, and 48,210 more events of /ecs/orders counted by the server with `pattern` (37 patterns, more than the window's share of max_events)"
        );
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(span_label(3600), "1h");
        assert_eq!(span_label(90), "90s");
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
