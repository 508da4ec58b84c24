//! The Athena source (`athena`): ALB access logs and CloudTrail events read from the Athena
//! tables that the AWS documentation's `CREATE TABLE` statements define, mapped to the same
//! [`AlbAccessLog`] and [`AuditEvent`] records (same semantics) as the files source.
//!
//! # Planning
//!
//! Before any query, `glue:GetTable` tells each table's columns and partitioning
//! ([`super::partitions`]): every query then reads only the partitions of the UTC days the
//! baseline and incident windows touch, and selects only the documented columns the table
//! has ([`sql`]). A configured `*_partition_predicate` replaces the planned one (with
//! `{day_from}`/`{day_to}` filled in). When the catalog cannot be read (no permission, another
//! catalog), the queries run unpruned and the status says why.
//!
//! # Queries
//!
//! Per analysis up to four queries run, all started at once so Athena works on them in
//! parallel, then read one after the other:
//!
//! 1. ALB entries (`alb_table`), capped at `max_rows` (the SQL asks for `max_rows + 1` rows so
//!    that the cap is detected and reported, never silent); or, with `alb_aggregate`, ALB
//!    counts grouped in Athena ([`sql::alb_counts_query`], read by [`AlbCountsReader`]).
//! 2. CloudTrail changes and errors: every event whose `readonly` is not `'true'` or that has
//!    an `errorcode`. There is no filter on `sourceipaddress`: FA2 kept only calls from
//!    `*.amazonaws.com` and so missed changes people made in the console or the CLI.
//! 3. CloudTrail read-only successes, as individual records, capped at `max_rows` so that a
//!    flood of `Describe*` calls can never crowd out the changes of (2).
//! 4. With a change lookback ([`AthenaOptions::change_lookback`], the config's
//!    `change_lookback`): the deploy- and configuration-class changes of
//!    `[window start − change_lookback, start of the collect span)`
//!    ([`sql::cloudtrail_lookback_query`]; the event names come from the distiller's change
//!    classes, routine calls by AWS services, read-only calls and failures stay in Athena),
//!    capped at `max_rows`, on a partition plan of its own (the days of that span only). A
//!    deploy hours before the window that started a slow leak is then a suspect, as with the
//!    files source.
//!
//! Each status says which partitions its queries read and how many bytes Athena scanned
//! (`Statistics.DataScannedInBytes`, what Athena bills); a reached cap is said too.
//!
//! # Execution
//!
//! `StartQueryExecution` (workgroup, output location, catalog and database), then
//! `GetQueryExecution` polled with [`Poller`] until `SUCCEEDED`; `FAILED` and `CANCELLED` are
//! errors carrying Athena's state change reason. Polling stops a little before the source
//! deadline (so that there is time left to clean up), and every query still running is then
//! stopped with `StopQueryExecution`; a guard also stops them if the pipeline drops the source.
//! Results come from `GetQueryResults` (`ResultSet` rows addressed by the column names of
//! `ResultSetMetadata.ColumnInfo`, never re-parsed from CSV): the first row of the first page
//! is Athena's header row and is skipped, pages follow `NextToken`, and each page's records are
//! handed to the sink before the next page is fetched.

pub mod sql;

use super::partitions::{self, PartitionKey, TableLayout};
use super::{Poller, emit_page, sdk_error};
use crate::error::SourceError;
use crate::record::{AlbAccessLog, AlbCount, AuditEvent, Record, RecordKind, RecordType};
use crate::request::{Phase, Window};
use crate::telemetry::files::cloudtrail::{
    MAX_PARAMS_LEN, params_text, resources_from_params, truncate,
};
use crate::telemetry::{
    CollectSummary, Locator, Origin, RecordSink, Reproduction, SourceQuery, SourceState,
    SourceStatus, TelemetrySource,
};
use async_trait::async_trait;
use aws_sdk_athena::Client;
use aws_sdk_athena::types::{
    QueryExecutionContext, QueryExecutionStatus, ResultConfiguration, ResultSet, Row,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub use sql::{
    ALB_COLUMNS, AthenaQuery, CLOUDTRAIL_COLUMNS, TableName, TableScan, alb_counts_query,
    alb_entries_query, alb_error_samples_query, cloudtrail_lookback_query, cloudtrail_queries,
    sql_string_literal, substitute_parameters, table_reference,
};

/// Rows read per query when `max_rows` is 0.
pub const DEFAULT_MAX_ROWS: usize = 100_000;
/// The Glue Data Catalog, Athena's default catalog.
pub const DEFAULT_CATALOG: &str = "AwsDataCatalog";
/// `GetQueryResults` returns at most 1,000 rows per page.
const PAGE_SIZE: i32 = 1000;
/// Longest cleanup margin kept before the source deadline (StopQueryExecution needs a moment).
const STOP_MARGIN: Duration = Duration::from_secs(2);
/// The path under which [`AlbCountsReader`] counts requests whose path groups were cut.
pub const OTHER_PATHS: &str = "(other paths)";

/// Where the tables are and how much to read. Maps onto `[sources.athena]` of the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaOptions {
    /// Glue database of the tables (`QueryExecutionContext.Database`); also used to qualify
    /// unqualified table names in the SQL so that `reproduce` can be pasted anywhere.
    pub database: String,
    /// Athena workgroup (default `primary`).
    pub workgroup: String,
    /// `s3://` prefix for the query results; empty uses the workgroup's setting.
    pub output_location: String,
    /// ALB access log table (documented `CREATE TABLE` for ALB logs); empty skips ALB.
    pub alb_table: String,
    /// CloudTrail table (documented `CREATE TABLE` for CloudTrail); empty skips CloudTrail.
    pub cloudtrail_table: String,
    /// Replaces the partition predicate planned from the Glue catalog for the ALB table, e.g.
    /// `day BETWEEN '{day_from}' AND '{day_to}'`. Trusted configuration text: `{day_from}`
    /// and `{day_to}` become the first and last UTC day read (`yyyy/MM/dd`), the rest is
    /// inserted as written.
    pub alb_partition_predicate: String,
    /// The same for the CloudTrail table, e.g.
    /// `region = 'ap-northeast-1' AND "timestamp" BETWEEN '{day_from}' AND '{day_to}'`.
    pub cloudtrail_partition_predicate: String,
    /// Rows read per query (default 100,000; 0 means the default). A reached cap is reported.
    pub max_rows: usize,
    /// Read the ALB table as counts per status, target group and path (`GROUP BY` in Athena)
    /// instead of entry by entry: for tables too large to scan out row by row.
    pub alb_aggregate: bool,
    /// Data catalog (default `AwsDataCatalog`).
    pub catalog: String,
    /// How far before the window deploy- and configuration-class changes are read (the
    /// config's `change_lookback`, set by `assemble`); zero reads none.
    pub change_lookback: Duration,
}

impl Default for AthenaOptions {
    fn default() -> Self {
        AthenaOptions {
            database: String::new(),
            workgroup: "primary".into(),
            output_location: String::new(),
            alb_table: String::new(),
            cloudtrail_table: String::new(),
            alb_partition_predicate: String::new(),
            cloudtrail_partition_predicate: String::new(),
            max_rows: DEFAULT_MAX_ROWS,
            alb_aggregate: false,
            catalog: DEFAULT_CATALOG.into(),
            change_lookback: Duration::ZERO,
        }
    }
}

impl AthenaOptions {
    fn row_cap(&self) -> usize {
        if self.max_rows == 0 {
            DEFAULT_MAX_ROWS
        } else {
            self.max_rows
        }
    }

    /// Whether the tables live in the account's Glue Data Catalog, which `glue:GetTable` reads.
    fn glue_catalog(&self) -> bool {
        self.catalog.is_empty() || self.catalog.eq_ignore_ascii_case(DEFAULT_CATALOG)
    }
}

// ---------------------------------------------------------------------------------------------
// Aggregated ALB counts
// ---------------------------------------------------------------------------------------------

/// A group of the totals: window, ELB status, target status, target group.
type TotalKey = (Phase, Option<u16>, Option<u16>, String);

/// What the detail rows of one total carried, to rebuild what a cut removed.
#[derive(Debug, Default, Clone, Copy)]
struct DetailSums {
    requests: u64,
    no_target: u64,
    /// Sum of target times over the requests that had one.
    time_sum: f64,
}

/// Reads the pages of an [`alb_counts_query`] result: the totals (`grouping_set` rows, sorted first)
/// are kept, the details (per method and path) are records. When the detail rows were cut
/// at the row limit, [`AlbCountsReader::finish`] adds, per total, one group under
/// [`OTHER_PATHS`] holding what the missing details had, so request counts stay exact and only
/// the path breakdown of the smallest groups is lost (and said).
#[derive(Debug)]
pub struct AlbCountsReader {
    cursor: RowCursor,
    totals: BTreeMap<TotalKey, AlbCount>,
    details: HashMap<TotalKey, DetailSums>,
    /// The cut fell inside the totals (more status × target-group groups than `limit`).
    pub totals_cut: bool,
}

impl AlbCountsReader {
    pub fn new(limit: usize) -> Self {
        AlbCountsReader {
            cursor: RowCursor::new(limit),
            totals: BTreeMap::new(),
            details: HashMap::new(),
            totals_cut: false,
        }
    }

    /// More rows than the limit came back.
    pub fn cut(&self) -> bool {
        self.cursor.cut
    }

    fn key(c: &AlbCount) -> TotalKey {
        (
            c.phase,
            c.elb_status_code,
            c.target_status_code,
            c.target_group.clone(),
        )
    }

    /// The detail groups of one page (the window `outside` dropped).
    pub fn page(&mut self, rs: &ResultSet) -> Vec<AlbCount> {
        let mut out = Vec::new();
        let (cols, rows) = self.cursor.page(rs);
        let Some(c) = cols else {
            return out;
        };
        for v in rows {
            let count = alb_count(&c, &v);
            let set = c
                .get(&v, "grouping_set")
                .and_then(|r| r.parse::<u32>().ok());
            if set.is_some_and(|r| r != 0) {
                let total = self
                    .totals
                    .entry(Self::key(&count))
                    .or_insert_with(|| AlbCount {
                        method: "*".into(),
                        path: OTHER_PATHS.into(),
                        requests: 0,
                        no_target_response: 0,
                        avg_target_time: None,
                        max_target_time: None,
                        first_seen: None,
                        last_seen: None,
                        ..count.clone()
                    });
                merge_total(total, &count);
                continue;
            }
            let sums = self.details.entry(Self::key(&count)).or_default();
            sums.requests += count.requests;
            sums.no_target += count.no_target_response;
            sums.time_sum += count.avg_target_time.unwrap_or(0.0)
                * count.requests.saturating_sub(count.no_target_response) as f64;
            if count.phase != Phase::Outside {
                out.push(count);
            }
        }
        if self.cursor.cut && self.details.is_empty() {
            self.totals_cut = true;
        }
        out
    }

    /// The groups that stand for cut details, and what to tell about the cut.
    pub fn finish(self, label: &str) -> (Vec<AlbCount>, Vec<String>) {
        let mut out = Vec::new();
        let mut missing_requests = 0u64;
        let mut notes = Vec::new();
        if self.totals_cut {
            notes.push(format!(
                "{label}: more than {} status and target-group groups; the counts are incomplete (raise max_rows)",
                self.cursor.limit
            ));
        }
        if !self.cursor.cut {
            return (out, notes);
        }
        for (key, total) in self.totals {
            let seen = self.details.get(&key).copied().unwrap_or_default();
            let requests = total.requests.saturating_sub(seen.requests);
            if requests == 0 {
                continue;
            }
            let no_target = total.no_target_response.saturating_sub(seen.no_target);
            let timed_total = total.requests.saturating_sub(total.no_target_response) as f64;
            let timed_rest = requests.saturating_sub(no_target) as f64;
            let avg = total.avg_target_time.and_then(|a| {
                let rest = a * timed_total - seen.time_sum;
                (timed_rest > 0.0).then(|| (rest / timed_rest).max(0.0))
            });
            if total.phase != Phase::Outside {
                missing_requests += requests;
            }
            out.push(AlbCount {
                requests,
                no_target_response: no_target,
                avg_target_time: avg,
                ..total
            });
        }
        if !self.totals_cut {
            notes.push(format!(
                "{label}: more than {} path groups; error groups were kept first, and {missing_requests} requests of the smallest groups are counted under `{OTHER_PATHS}` (the totals stay exact; raise max_rows for their paths)",
                self.cursor.limit
            ));
        }
        out.retain(|c| c.phase != Phase::Outside);
        (out, notes)
    }
}

fn merge_total(total: &mut AlbCount, c: &AlbCount) {
    let timed = |x: &AlbCount| x.requests.saturating_sub(x.no_target_response) as f64;
    let (ta, tb) = (timed(total), timed(c));
    total.avg_target_time = match (total.avg_target_time, c.avg_target_time) {
        (Some(a), Some(b)) if ta + tb > 0.0 => Some((a * ta + b * tb) / (ta + tb)),
        (a, b) => a.or(b),
    };
    total.max_target_time = match (total.max_target_time, c.max_target_time) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    total.first_seen = match (total.first_seen, c.first_seen) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    total.last_seen = match (total.last_seen, c.last_seen) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    total.requests += c.requests;
    total.no_target_response += c.no_target_response;
}

/// One row of an [`alb_counts_query`] result.
fn alb_count(c: &Columns, v: &[Option<&str>]) -> AlbCount {
    let g = |n: &str| c.get(v, n);
    let tg = AlbAccessLog {
        target_group_arn: g("target_group_arn").unwrap_or("").to_string(),
        ..Default::default()
    };
    AlbCount {
        phase: match g("phase") {
            Some("incident") => Phase::Incident,
            Some("baseline") => Phase::Baseline,
            _ => Phase::Outside,
        },
        elb_status_code: g("elb_status_code").and_then(|s| s.parse().ok()),
        target_status_code: g("target_status_code").and_then(|s| s.parse().ok()),
        target_group: tg.target_group().to_string(),
        method: g("request_verb").unwrap_or("").to_string(),
        path: g("path").unwrap_or("/").to_string(),
        requests: g("requests").and_then(|s| s.parse().ok()).unwrap_or(0),
        no_target_response: g("no_target_response")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        avg_target_time: g("avg_target_time").and_then(|s| s.parse().ok()),
        max_target_time: g("max_target_time").and_then(|s| s.parse().ok()),
        first_seen: g("first_seen").and_then(crate::time::parse_timestamp),
        last_seen: g("last_seen").and_then(crate::time::parse_timestamp),
    }
}

/// Reads whole [`alb_counts_query`] results (for tests and tools): the detail groups plus the
/// groups standing for cut details.
pub fn parse_alb_counts(pages: &[ResultSet], limit: usize) -> Vec<AlbCount> {
    let mut reader = AlbCountsReader::new(limit);
    let mut out: Vec<AlbCount> = pages.iter().flat_map(|p| reader.page(p)).collect();
    out.extend(reader.finish("ALB counts").0);
    out
}

// ---------------------------------------------------------------------------------------------
// Result rows
// ---------------------------------------------------------------------------------------------

/// Column positions by (lower-case) name, from `ResultSetMetadata.ColumnInfo`.
#[derive(Debug, Clone)]
struct Columns {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Columns {
    fn new<S: AsRef<str>>(names: &[S]) -> Columns {
        let names: Vec<String> = names.iter().map(|n| n.as_ref().to_lowercase()).collect();
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Columns { names, index }
    }

    fn from_result_set(rs: &ResultSet) -> Option<Columns> {
        let info = rs.result_set_metadata()?.column_info();
        if info.is_empty() {
            return None;
        }
        Some(Columns::new(
            &info.iter().map(|c| c.name()).collect::<Vec<_>>(),
        ))
    }

    fn get<'a>(&self, values: &[Option<&'a str>], name: &str) -> Option<&'a str> {
        self.index
            .get(name)
            .and_then(|&i| values.get(i).copied().flatten())
    }

    /// Athena's header row repeats the column names as values.
    fn is_header(&self, values: &[Option<&str>]) -> bool {
        values.len() == self.names.len()
            && values
                .iter()
                .zip(&self.names)
                .all(|(v, n)| v.is_some_and(|v| v.eq_ignore_ascii_case(n)))
    }

    fn missing(&self, required: &[&str]) -> Vec<String> {
        required
            .iter()
            .filter(|r| !self.index.contains_key(**r))
            .map(|r| (*r).to_string())
            .collect()
    }
}

/// A row's values; `None` is SQL NULL (a `Datum` without `VarCharValue`).
fn row_values(row: &Row) -> Vec<Option<&str>> {
    row.data().iter().map(|d| d.var_char_value()).collect()
}

fn alb_number(s: Option<&str>) -> f64 {
    s.and_then(|x| x.parse().ok()).unwrap_or(-1.0)
}

fn host_port(ip: Option<&str>, port: Option<&str>) -> String {
    match (
        ip.filter(|i| !i.is_empty() && *i != "-"),
        port.filter(|p| !p.is_empty()),
    ) {
        (Some(i), Some(p)) => format!("{i}:{p}"),
        (Some(i), None) => i.to_string(),
        (None, _) => "-".to_string(),
    }
}

/// Maps one ALB row; `None` when its `time` is missing or invalid (the files source drops
/// such lines too).
fn map_alb_row(c: &Columns, v: &[Option<&str>]) -> Option<AlbAccessLog> {
    let time = c.get(v, "time").and_then(crate::time::parse_timestamp)?;
    let s = |n: &str| c.get(v, n).unwrap_or("").to_string();
    Some(AlbAccessLog {
        kind: s("type"),
        time: Some(time),
        elb: s("elb"),
        client: host_port(c.get(v, "client_ip"), c.get(v, "client_port")),
        target: host_port(c.get(v, "target_ip"), c.get(v, "target_port")),
        request_processing_time: alb_number(c.get(v, "request_processing_time")),
        target_processing_time: alb_number(c.get(v, "target_processing_time")),
        response_processing_time: alb_number(c.get(v, "response_processing_time")),
        elb_status_code: c.get(v, "elb_status_code").and_then(|x| x.parse().ok()),
        target_status_code: c.get(v, "target_status_code").and_then(|x| x.parse().ok()),
        received_bytes: c
            .get(v, "received_bytes")
            .and_then(|x| x.parse().ok())
            .unwrap_or(0),
        sent_bytes: c
            .get(v, "sent_bytes")
            .and_then(|x| x.parse().ok())
            .unwrap_or(0),
        method: s("request_verb"),
        url: s("request_url"),
        protocol: s("request_proto"),
        user_agent: s("user_agent"),
        ssl_cipher: s("ssl_cipher"),
        ssl_protocol: s("ssl_protocol"),
        target_group_arn: s("target_group_arn"),
        trace_id: s("trace_id"),
        domain_name: s("domain_name"),
        chosen_cert_arn: s("chosen_cert_arn"),
        matched_rule_priority: s("matched_rule_priority"),
        request_creation_time: c
            .get(v, "request_creation_time")
            .and_then(crate::time::parse_timestamp),
        actions_executed: s("actions_executed"),
        redirect_url: s("redirect_url"),
        error_reason: s("lambda_error_reason"),
        target_port_list: s("target_port_list"),
        target_status_code_list: s("target_status_code_list"),
        classification: s("classification"),
        classification_reason: s("classification_reason"),
        extra: Vec::new(),
    })
}

/// Who acted, by the same rules as the files source: user name, assumed-role session, session
/// issuer, invoking service, last ARN segment, principal id.
fn actor(c: &Columns, v: &[Option<&str>]) -> String {
    if let Some(u) = c.get(v, "identity_username") {
        return u.to_string();
    }
    let arn = c.get(v, "identity_arn").unwrap_or("");
    if let Some(rest) = arn.split(":assumed-role/").nth(1) {
        return rest.to_string();
    }
    if let Some(issuer) = c.get(v, "session_issuer_username") {
        return issuer.to_string();
    }
    if let Some(by) = c.get(v, "identity_invokedby") {
        return by.to_string();
    }
    if let Some(last) = arn
        .rsplit('/')
        .next()
        .filter(|x| !x.is_empty() && !arn.is_empty())
    {
        return last.to_string();
    }
    c.get(v, "identity_principalid").unwrap_or("").to_string()
}

/// Maps one CloudTrail row. `requestparameters` is the event's JSON text; it is re-serialised
/// compactly and truncated like the files source does, and its well-known keys name resources
/// after the ARNs of `resources`.
fn map_cloudtrail_row(c: &Columns, v: &[Option<&str>]) -> AuditEvent {
    let s = |n: &str| c.get(v, n).unwrap_or("").to_string();
    let raw_params = c.get(v, "requestparameters");
    let params: Option<Value> = raw_params.and_then(|p| serde_json::from_str(p).ok());
    let mut resources: Vec<String> = Vec::new();
    if let Some(arns) = c
        .get(v, "resource_arns")
        .and_then(|t| serde_json::from_str::<Vec<Option<String>>>(t).ok())
    {
        for a in arns.into_iter().flatten() {
            if !resources.contains(&a) {
                resources.push(a);
            }
        }
    }
    if let Some(p) = &params {
        resources_from_params(p, &mut resources);
    }
    let request_parameters = match (&params, raw_params) {
        (Some(Value::Null), _) | (None, None) => String::new(),
        (Some(p), _) => params_text(p),
        // the text past the cap is never copied (4 bytes more keep the cut marked)
        (None, Some(raw)) => truncate(
            crate::bounds::prefix(raw, MAX_PARAMS_LEN + 4).to_string(),
            MAX_PARAMS_LEN,
        ),
    };
    AuditEvent {
        time: c.get(v, "eventtime").and_then(crate::time::parse_timestamp),
        event_source: s("eventsource"),
        event_name: s("eventname"),
        region: s("awsregion"),
        source_ip: s("sourceipaddress"),
        user_agent: s("useragent"),
        identity_type: s("identity_type"),
        identity_arn: s("identity_arn"),
        actor: actor(c, v),
        read_only: c.get(v, "readonly").and_then(|x| x.parse().ok()),
        error_code: s("errorcode"),
        error_message: s("errormessage"),
        request_parameters,
        resources,
        event_id: s("eventid"),
    }
}

/// Walks the data rows of one query's result pages: the column names come from the first
/// page's metadata, Athena's header row (the first row of the first page) is skipped, and at
/// most `limit` rows are handed out; one more marks the result as cut.
#[derive(Debug)]
struct RowCursor {
    cols: Option<Columns>,
    first_page: bool,
    rows: u64,
    limit: u64,
    cut: bool,
}

impl RowCursor {
    fn new(limit: usize) -> Self {
        RowCursor {
            cols: None,
            first_page: true,
            rows: 0,
            limit: limit.max(1) as u64,
            cut: false,
        }
    }

    /// The columns (known once a page had metadata) and the data rows of `rs`.
    fn page<'a>(&mut self, rs: &'a ResultSet) -> (Option<Columns>, Vec<Vec<Option<&'a str>>>) {
        if self.cols.is_none() {
            self.cols = Columns::from_result_set(rs);
        }
        let first_page = std::mem::replace(&mut self.first_page, false);
        let Some(c) = self.cols.clone() else {
            return (None, Vec::new());
        };
        let mut out = Vec::new();
        for (i, row) in rs.rows().iter().enumerate() {
            let v = row_values(row);
            if first_page && i == 0 && c.is_header(&v) {
                continue;
            }
            if self.rows >= self.limit {
                self.cut = true;
                break;
            }
            self.rows += 1;
            out.push(v);
        }
        (Some(c), out)
    }
}

/// Turns the pages of one query into records: applies the row cap and counts rows that could
/// not be used.
#[derive(Debug)]
struct PageReader {
    kind: RecordKind,
    cursor: RowCursor,
    checked: bool,
    /// Rows without a valid time (ALB: dropped; CloudTrail: kept without time, as files do).
    bad_time: u64,
}

impl PageReader {
    fn new(kind: RecordKind, max_rows: usize) -> Self {
        PageReader {
            kind,
            cursor: RowCursor::new(max_rows),
            checked: false,
            bad_time: 0,
        }
    }

    fn required(&self) -> &'static [&'static str] {
        match self.kind {
            RecordKind::Alb => &["type", "time"],
            _ => &["eventtime", "eventname"],
        }
    }

    /// The records of one page. `Err` when the result lacks the columns the mapper needs.
    fn page(&mut self, rs: &ResultSet) -> Result<Vec<Record>, String> {
        let (cols, rows) = self.cursor.page(rs);
        let Some(c) = cols else {
            return Ok(Vec::new());
        };
        if !std::mem::replace(&mut self.checked, true) {
            let missing = c.missing(self.required());
            if !missing.is_empty() {
                return Err(format!(
                    "the result has no column {}: is this the documented table?",
                    missing.join(", ")
                ));
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for v in rows {
            match self.kind {
                RecordKind::Alb => match map_alb_row(&c, &v) {
                    Some(e) => out.push(Record::Alb(Box::new(e))),
                    None => self.bad_time += 1,
                },
                _ => {
                    let e = map_cloudtrail_row(&c, &v);
                    if e.time.is_none() {
                        self.bad_time += 1;
                    }
                    out.push(Record::Audit(Box::new(e)));
                }
            }
        }
        Ok(out)
    }

    fn notes(&self, label: &str) -> Vec<String> {
        let mut notes = Vec::new();
        if self.cursor.cut {
            notes.push(format!(
                "{label}: more than {} rows; only the first {} were read (raise max_rows or narrow the partition predicate); counts are a subset",
                self.cursor.limit, self.cursor.limit
            ));
        }
        if self.bad_time > 0 {
            notes.push(match self.kind {
                RecordKind::Alb => format!(
                    "{label}: {} rows have no valid time and were ignored",
                    self.bad_time
                ),
                _ => format!("{label}: {} events have no valid eventtime", self.bad_time),
            });
        }
        notes
    }
}

// ---------------------------------------------------------------------------------------------
// Execution
// ---------------------------------------------------------------------------------------------

/// What a `GetQueryExecution` status means for the poller.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ExecState {
    Pending,
    Succeeded,
    /// `FAILED` or `CANCELLED`, with Athena's reason.
    Failed(String),
}

fn exec_state(status: Option<&QueryExecutionStatus>) -> ExecState {
    let Some(st) = status else {
        return ExecState::Pending;
    };
    let state = st.state().map_or("", |s| s.as_str());
    match state {
        "SUCCEEDED" => ExecState::Succeeded,
        "FAILED" | "CANCELLED" => {
            let mut why = st.state_change_reason().unwrap_or("").to_string();
            if let Some(msg) = st.athena_error().and_then(|e| e.error_message())
                && !why.contains(msg)
            {
                if !why.is_empty() {
                    why.push_str("; ");
                }
                why.push_str(msg);
            }
            if why.is_empty() {
                why = "no reason given".into();
            }
            ExecState::Failed(format!("{state}: {why}"))
        }
        // QUEUED, RUNNING and states added after this SDK was generated.
        _ => ExecState::Pending,
    }
}

/// Leaves room before the deadline to stop the queries and return.
fn soft_deadline(deadline: Instant) -> Instant {
    let left = deadline.saturating_duration_since(Instant::now());
    deadline - (left / 10).min(STOP_MARGIN)
}

/// Query executions that are still running; stops them on drop (the pipeline drops a source
/// that overruns its timeout) so that none keeps scanning after fa2 gave up on it.
struct Running {
    client: Client,
    ids: Vec<String>,
}

impl Running {
    fn done(&mut self, id: &str) {
        self.ids.retain(|x| x != id);
    }

    async fn stop_all(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        for id in std::mem::take(&mut self.ids) {
            if let Err(e) = self
                .client
                .stop_query_execution()
                .query_execution_id(&id)
                .send()
                .await
            {
                problems.push(sdk_error("StopQueryExecution", &e).to_string());
            }
        }
        problems
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.ids.is_empty() {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let client = self.client.clone();
            let ids = std::mem::take(&mut self.ids);
            handle.spawn(async move {
                for id in ids {
                    let _ = client
                        .stop_query_execution()
                        .query_execution_id(id)
                        .send()
                        .await;
                }
            });
        }
    }
}

/// How one query ended.
#[derive(Debug, Default)]
struct PartOutcome {
    counts: BTreeMap<RecordType, u64>,
    notes: Vec<String>,
    error: Option<String>,
    /// `Statistics.DataScannedInBytes` of the execution.
    scanned_bytes: Option<u64>,
    /// What was read (partitions, bytes), for the status's `detail`.
    detail: Vec<String>,
}

/// A span of time `[from, to)`.
type Span = (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>);

/// The span both windows need.
fn collect_span(window: &Window) -> Span {
    (window.collect_start(), window.collect_end())
}

/// The scans of the configured tables for one window: `None` for a table not configured,
/// `Err` for a table name that cannot be used.
#[derive(Debug, Clone, Default)]
struct Scans {
    alb: Option<Result<TableScan, String>>,
    cloudtrail: Option<Result<TableScan, String>>,
    /// The CloudTrail table over the change lookback's span, with that span.
    lookback: Option<(Result<TableScan, String>, Span)>,
    /// What the planning could not do, per kind (said in that kind's status).
    notes: Vec<(RecordKind, String)>,
}

/// ALB access logs and CloudTrail events from Athena tables.
#[derive(Debug)]
pub struct AthenaSource {
    client: Client,
    glue: aws_sdk_glue::Client,
    options: AthenaOptions,
    name: String,
    /// The scans the last `collect` planned, with their window, so that `reproduce` shows the
    /// queries that really ran.
    planned: Mutex<Option<(Window, Scans)>>,
}

impl AthenaSource {
    pub fn new(config: &aws_config::SdkConfig, options: AthenaOptions) -> Self {
        AthenaSource {
            client: Client::new(config),
            glue: aws_sdk_glue::Client::new(config),
            options,
            name: "athena".into(),
            planned: Mutex::new(None),
        }
    }

    pub fn options(&self) -> &AthenaOptions {
        &self.options
    }

    /// A table's scan without the catalog: the override predicate if any, every column.
    fn offline_scan(
        &self,
        table: &str,
        override_predicate: &str,
        span: Span,
    ) -> Result<TableScan, String> {
        let name = TableName::parse(&self.options.database, table)?;
        let plan = partitions::plan(&TableLayout::default(), span.0, span.1);
        Ok(TableScan::planned(
            name.reference(),
            &plan,
            override_predicate,
            None,
        ))
    }

    /// A table's scan planned from the Glue Data Catalog, with what could not be planned.
    async fn catalog_scan(
        &self,
        table: &str,
        override_predicate: &str,
        span: Span,
    ) -> (Result<TableScan, String>, Option<String>) {
        let name = match TableName::parse(&self.options.database, table) {
            Ok(n) => n,
            Err(e) => return (Err(e), None),
        };
        let offline = || self.offline_scan(table, override_predicate, span);
        if !self.options.glue_catalog() || name.catalog.is_some() {
            let note = override_predicate.trim().is_empty().then(|| {
                format!(
                    "{table}: not in the Glue Data Catalog ({}), so its partitions were not planned: every partition is read unless a partition predicate is configured",
                    name.catalog.as_deref().unwrap_or(&self.options.catalog)
                )
            });
            return (offline(), note);
        }
        let got = self
            .glue
            .get_table()
            .database_name(&name.database)
            .name(&name.table)
            .send()
            .await;
        let table_def = match got {
            Ok(out) => out.table,
            Err(e) => {
                let why = sdk_error("glue:GetTable", &e);
                let consequence = if override_predicate.trim().is_empty() {
                    "every partition is read and every documented column is assumed"
                } else {
                    "every documented column is assumed"
                };
                return (
                    offline(),
                    Some(format!(
                        "{table}: the table could not be read from the Glue Data Catalog ({why}), so {consequence}; check the table name and grant glue:GetTable on it"
                    )),
                );
            }
        };
        let Some(t) = table_def else {
            return (
                offline(),
                Some(format!("{table}: glue:GetTable returned no table")),
            );
        };
        let keys: Vec<PartitionKey> = t
            .partition_keys()
            .iter()
            .map(|c| PartitionKey {
                name: c.name().to_ascii_lowercase(),
                data_type: c.r#type().unwrap_or("string").to_ascii_lowercase(),
            })
            .collect();
        let mut columns: BTreeSet<String> = t
            .storage_descriptor()
            .map(|sd| {
                sd.columns()
                    .iter()
                    .map(|c| c.name().to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        columns.extend(keys.iter().map(|k| k.name.clone()));
        let layout = TableLayout {
            keys,
            parameters: t
                .parameters()
                .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        };
        let plan = partitions::plan(&layout, span.0, span.1);
        let note = if override_predicate.trim().is_empty() {
            plan.note.as_ref().map(|n| format!("{table}: {n}"))
        } else {
            None
        };
        let columns = (!columns.is_empty()).then_some(columns);
        (
            Ok(TableScan::planned(
                name.reference(),
                &plan,
                override_predicate,
                columns,
            )),
            note,
        )
    }

    /// What `fa2 check` says of the configured tables: for each, how an analysis of the last
    /// hour would read it (partitions, or why it would read every partition).
    pub async fn check_tables(&self) -> Vec<(String, Result<String, String>)> {
        let now = chrono::Utc::now();
        let Ok(window) = Window::with_baseline(
            now - chrono::Duration::minutes(30),
            now,
            Duration::from_secs(1800),
        ) else {
            return Vec::new();
        };
        let scans = self.plan(&window).await;
        let mut out = Vec::new();
        let o = &self.options;
        for (kind, table, scan) in [
            (RecordKind::Alb, &o.alb_table, &scans.alb),
            (
                RecordKind::Cloudtrail,
                &o.cloudtrail_table,
                &scans.cloudtrail,
            ),
        ] {
            let Some(scan) = scan else { continue };
            let notes: Vec<&str> = scans
                .notes
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, n)| n.as_str())
                .collect();
            let result = match scan {
                Err(e) => Err(e.clone()),
                Ok(_) if !notes.is_empty() => Err(notes.join("; ")),
                Ok(s) => Ok(format!(
                    "an analysis of the last hour reads {}",
                    s.partitions
                )),
            };
            out.push((table.clone(), result));
        }
        out
    }

    /// Plans both tables (concurrently) from the catalog.
    async fn plan(&self, window: &Window) -> Scans {
        let o = &self.options;
        let alb = async {
            if o.alb_table.is_empty() {
                (None, None)
            } else {
                let (s, n) = self
                    .catalog_scan(
                        &o.alb_table,
                        &o.alb_partition_predicate,
                        collect_span(window),
                    )
                    .await;
                (Some(s), n)
            }
        };
        let ct = async {
            if o.cloudtrail_table.is_empty() {
                (None, None)
            } else {
                let (s, n) = self
                    .catalog_scan(
                        &o.cloudtrail_table,
                        &o.cloudtrail_partition_predicate,
                        collect_span(window),
                    )
                    .await;
                (Some(s), n)
            }
        };
        // the lookback plans its own partitions (its days only): one more glue:GetTable
        let lookback = async {
            match self.lookback_span(window) {
                Some(span) => {
                    let (s, n) = self
                        .catalog_scan(&o.cloudtrail_table, &o.cloudtrail_partition_predicate, span)
                        .await;
                    (Some((s, span)), n)
                }
                None => (None, None),
            }
        };
        let ((alb, alb_note), (cloudtrail, ct_note), (lookback, lb_note)) =
            tokio::join!(alb, ct, lookback);
        let mut notes = Vec::new();
        notes.extend(alb_note.map(|n| (RecordKind::Alb, n)));
        notes.extend(ct_note.map(|n| (RecordKind::Cloudtrail, n)));
        // the same table: its note once
        if let Some(n) = lb_note
            && !notes.iter().any(|(_, m)| *m == n)
        {
            notes.push((RecordKind::Cloudtrail, n));
        }
        Scans {
            alb,
            cloudtrail,
            lookback,
            notes,
        }
    }

    /// The scans for `window` without asking the catalog: the last planned ones when they
    /// were for this window, else unpruned ones (with the configured overrides).
    fn known_scans(&self, window: &Window) -> Scans {
        if let Ok(guard) = self.planned.lock()
            && let Some((w, s)) = guard.as_ref()
            && w == window
        {
            return s.clone();
        }
        let o = &self.options;
        Scans {
            alb: (!o.alb_table.is_empty()).then(|| {
                self.offline_scan(
                    &o.alb_table,
                    &o.alb_partition_predicate,
                    collect_span(window),
                )
            }),
            cloudtrail: (!o.cloudtrail_table.is_empty()).then(|| {
                self.offline_scan(
                    &o.cloudtrail_table,
                    &o.cloudtrail_partition_predicate,
                    collect_span(window),
                )
            }),
            lookback: self.lookback_span(window).map(|span| {
                (
                    self.offline_scan(&o.cloudtrail_table, &o.cloudtrail_partition_predicate, span),
                    span,
                )
            }),
            notes: Vec::new(),
        }
    }

    /// The queries for `window` and `scans`, in order; an `Err` names a configuration problem
    /// (invalid table name, a table without the needed columns) of that table's queries.
    fn queries_for(
        &self,
        window: &Window,
        scans: &Scans,
    ) -> Vec<Result<AthenaQuery, (RecordKind, String)>> {
        let o = &self.options;
        let cap = o.row_cap();
        let mut out = Vec::new();
        if let Some(scan) = &scans.alb {
            let q = scan.as_ref().map_err(Clone::clone).and_then(|s| {
                if o.alb_aggregate {
                    alb_counts_query(s, &o.alb_table, window, cap)
                } else {
                    alb_entries_query(s, &o.alb_table, window, cap)
                }
            });
            out.push(q.map_err(|e| (RecordKind::Alb, e)));
        }
        if let Some(scan) = &scans.cloudtrail {
            match scan
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|s| cloudtrail_queries(s, &o.cloudtrail_table, window, cap))
            {
                Ok(qs) => out.extend(qs.into_iter().map(Ok)),
                Err(e) => out.push(Err((RecordKind::Cloudtrail, e))),
            }
        }
        if let Some((scan, (from, to))) = &scans.lookback {
            let q = scan
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|s| cloudtrail_lookback_query(s, &o.cloudtrail_table, *from, *to, cap));
            out.push(q.map_err(|e| (RecordKind::Cloudtrail, e)));
        }
        out
    }

    /// `[window start − change_lookback, start of the collect span)`, when that is not empty
    /// and a CloudTrail table is configured.
    fn lookback_span(&self, window: &Window) -> Option<Span> {
        if self.options.cloudtrail_table.is_empty() {
            return None;
        }
        let lookback = chrono::Duration::from_std(self.options.change_lookback).ok()?;
        let from = window.start.checked_sub_signed(lookback)?;
        let to = window.collect_start();
        (from < to).then_some((from, to))
    }

    /// The queries `collect` runs (or ran) for `window`: with the partitions planned by the
    /// last `collect` of this window, else unpruned.
    pub fn queries(&self, window: &Window) -> Vec<Result<AthenaQuery, (RecordKind, String)>> {
        self.queries_for(window, &self.known_scans(window))
    }

    async fn start(&self, q: &AthenaQuery) -> Result<String, SourceError> {
        let mut ctx = QueryExecutionContext::builder();
        if !self.options.database.is_empty() {
            ctx = ctx.database(&self.options.database);
        }
        if !self.options.catalog.is_empty() {
            ctx = ctx.catalog(&self.options.catalog);
        }
        let mut req = self
            .client
            .start_query_execution()
            .query_string(&q.sql)
            .query_execution_context(ctx.build());
        if !q.params.is_empty() {
            req = req.set_execution_parameters(Some(q.params.clone()));
        }
        if !self.options.workgroup.is_empty() {
            req = req.work_group(&self.options.workgroup);
        }
        if !self.options.output_location.is_empty() {
            req = req.result_configuration(
                ResultConfiguration::builder()
                    .output_location(&self.options.output_location)
                    .build(),
            );
        }
        let out = req
            .send()
            .await
            .map_err(|e| sdk_error("StartQueryExecution", &e))?;
        out.query_execution_id()
            .map(str::to_string)
            .ok_or_else(|| SourceError::Unavailable("Athena returned no query execution id".into()))
    }

    /// Polls until the query succeeded; returns the bytes it scanned. On the soft deadline or
    /// a cancel every running query is stopped.
    async fn wait(
        &self,
        id: &str,
        query: &SourceQuery,
        soft: Instant,
        running: &mut Running,
    ) -> Result<Option<u64>, String> {
        let mut poller = Poller::new(soft);
        loop {
            let out = self
                .client
                .get_query_execution()
                .query_execution_id(id)
                .send()
                .await
                .map_err(|e| sdk_error("GetQueryExecution", &e).to_string())?;
            let exec = out.query_execution();
            match exec_state(exec.and_then(|q| q.status())) {
                ExecState::Succeeded => {
                    return Ok(exec
                        .and_then(|q| q.statistics())
                        .and_then(|s| s.data_scanned_in_bytes())
                        .and_then(|b| u64::try_from(b).ok()));
                }
                ExecState::Failed(why) => {
                    running.done(id);
                    return Err(format!("query {id} {why}"));
                }
                ExecState::Pending => {}
            }
            let cancelled = query.cancel.load(Ordering::Relaxed);
            if cancelled || poller.wait().await.is_err() {
                let problems = running.stop_all().await;
                let mut msg = if cancelled {
                    format!("query {id} cancelled by the pipeline; stopped with StopQueryExecution")
                } else {
                    format!(
                        "query {id} did not finish before the source deadline; stopped with StopQueryExecution"
                    )
                };
                if !problems.is_empty() {
                    msg.push_str(&format!(" ({})", problems.join("; ")));
                }
                return Err(msg);
            }
        }
    }

    /// Reads the result pages into the sink.
    async fn read(
        &self,
        id: &str,
        q: &AthenaQuery,
        query: &SourceQuery,
        soft: Instant,
        sink: &mut dyn RecordSink,
        part: &mut PartOutcome,
    ) -> Result<(), String> {
        let origin = sink.register_origin(Origin {
            source: self.name.clone(),
            kind: q.kind,
            locator: Locator::Query {
                service: "athena".into(),
                text: q.reproduce(),
            },
        });
        let rt = match q.kind {
            RecordKind::Alb => RecordType::AlbEntries,
            _ => RecordType::CloudtrailRecords,
        };
        let mut reader = PageReader::new(q.kind, self.options.row_cap());
        let mut counts = q
            .counts
            .then(|| AlbCountsReader::new(self.options.row_cap()));
        let mut token: Option<String> = None;
        let result = loop {
            let page = match self
                .client
                .get_query_results()
                .query_execution_id(id)
                .set_next_token(token.take())
                .max_results(PAGE_SIZE)
                .send()
                .await
            {
                Ok(p) => p,
                Err(e) => break Err(sdk_error("GetQueryResults", &e).to_string()),
            };
            let records = match (page.result_set(), counts.as_mut()) {
                // counted groups: each record carries its number of requests
                (Some(rs), Some(c)) => c
                    .page(rs)
                    .into_iter()
                    .map(|c| Record::AlbCount(Box::new(c)))
                    .collect(),
                (Some(rs), None) => match reader.page(rs) {
                    Ok(r) => r,
                    Err(e) => break Err(e),
                },
                (None, _) => Vec::new(),
            };
            let n: u64 = records.iter().map(Record::count).sum();
            if let Err(e) = emit_page(sink, origin, records) {
                break Err(e.to_string());
            }
            *part.counts.entry(rt).or_insert(0) += n;
            token = page.next_token().map(str::to_string);
            let cut = reader.cursor.cut || counts.as_ref().is_some_and(AlbCountsReader::cut);
            if cut || token.is_none() {
                break Ok(());
            }
            if query.should_stop() || Instant::now() >= soft {
                break Err(format!(
                    "stopped reading the results of query {id} after {} rows: the source deadline passed or the analysis stopped waiting",
                    reader.cursor.rows
                ));
            }
        };
        if let Some(c) = counts {
            let (rest, notes) = c.finish(&q.label);
            let n: u64 = rest.iter().map(|c| c.requests).sum();
            let records = rest
                .into_iter()
                .map(|c| Record::AlbCount(Box::new(c)))
                .collect();
            if let Err(e) = emit_page(sink, origin, records) {
                part.notes.push(format!("{}: {e}", q.label));
            } else {
                *part.counts.entry(rt).or_insert(0) += n;
            }
            part.notes.extend(notes);
        }
        part.notes.extend(reader.notes(&q.label));
        result
    }
}

/// `1,234,567 bytes (1.2 MB)`.
fn scanned_label(bytes: u64) -> String {
    let mb = bytes as f64 / 1_000_000.0;
    format!("{bytes} bytes ({mb:.1} MB)")
}

#[async_trait]
impl TelemetrySource for AthenaSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn collect(
        &self,
        query: &SourceQuery,
        sink: &mut dyn RecordSink,
    ) -> Result<CollectSummary, SourceError> {
        if self.options.alb_table.is_empty() && self.options.cloudtrail_table.is_empty() {
            return Err(SourceError::Unavailable(
                "athena: neither alb_table nor cloudtrail_table is configured".into(),
            ));
        }
        let scans = self.plan(&query.window).await;
        if let Ok(mut guard) = self.planned.lock() {
            *guard = Some((query.window, scans.clone()));
        }
        let planned = self.queries_for(&query.window, &scans);
        let soft = soft_deadline(query.deadline);
        let mut running = Running {
            client: self.client.clone(),
            ids: Vec::new(),
        };
        // Start everything first so Athena runs the queries in parallel.
        let mut parts: Vec<(RecordKind, Option<AthenaQuery>, Result<String, String>)> = Vec::new();
        for p in planned {
            match p {
                Ok(q) => {
                    let started = if query.should_stop() {
                        Err("not started: the source deadline passed or the analysis stopped waiting".to_string())
                    } else {
                        self.start(&q).await.map_err(|e| e.to_string())
                    };
                    if let Ok(id) = &started {
                        running.ids.push(id.clone());
                    }
                    parts.push((q.kind, Some(q), started));
                }
                Err((kind, e)) => parts.push((kind, None, Err(e))),
            }
        }
        let mut outcomes: Vec<(RecordKind, String, PartOutcome)> = Vec::new();
        for (kind, q, started) in parts {
            let label = q
                .as_ref()
                .map_or_else(|| kind.as_str().to_string(), |q| q.label.clone());
            let mut part = PartOutcome::default();
            match (q, started) {
                (Some(q), Ok(id)) => {
                    if !running.ids.contains(&id) {
                        // Already stopped when an earlier query hit the deadline.
                        part.error = Some(format!(
                            "query {id} was stopped with StopQueryExecution: the source deadline passed (or the analysis stopped waiting) before it was read"
                        ));
                    } else {
                        let r = match self.wait(&id, query, soft, &mut running).await {
                            Ok(scanned) => {
                                running.done(&id);
                                part.scanned_bytes = scanned;
                                part.detail.push(format!(
                                    "{}: read {}; Athena scanned {}",
                                    q.label,
                                    q.partitions,
                                    scanned
                                        .map_or_else(|| "an unknown amount".into(), scanned_label)
                                ));
                                self.read(&id, &q, query, soft, sink, &mut part).await
                            }
                            Err(e) => Err(e),
                        };
                        part.error = r.err();
                    }
                }
                (_, Err(e)) => part.error = Some(e),
                (None, Ok(_)) => {}
            }
            outcomes.push((kind, label, part));
        }
        let _ = running.stop_all().await;
        Ok(CollectSummary {
            statuses: self.statuses(outcomes, &scans.notes),
        })
    }

    fn reproduce(&self, query: &SourceQuery) -> Vec<Reproduction> {
        self.queries(&query.window)
            .into_iter()
            .flatten()
            .map(|q| Reproduction {
                kind: q.kind,
                text: q.reproduce(),
            })
            .collect()
    }
}

impl AthenaSource {
    /// One `ok` status per kind that had at least one successful query (records, counts,
    /// partitions read, bytes scanned, warnings), and one `error` status per failed query.
    fn statuses(
        &self,
        outcomes: Vec<(RecordKind, String, PartOutcome)>,
        planning: &[(RecordKind, String)],
    ) -> Vec<SourceStatus> {
        #[derive(Default)]
        struct Totals {
            counts: BTreeMap<RecordType, u64>,
            notes: Vec<String>,
            ok_parts: u64,
            scanned: Option<u64>,
            detail: Vec<String>,
        }
        let mut totals: BTreeMap<RecordKind, Totals> = BTreeMap::new();
        let mut errors = Vec::new();
        let planning_notes = |kind: RecordKind| {
            planning
                .iter()
                .filter(move |(k, _)| *k == kind)
                .map(|(_, n)| n.clone())
        };
        for (kind, label, part) in outcomes {
            match part.error {
                None => {
                    let t = totals.entry(kind).or_default();
                    if t.ok_parts == 0 {
                        t.notes.extend(planning_notes(kind));
                    }
                    t.ok_parts += 1;
                    for (k, v) in part.counts {
                        *t.counts.entry(k).or_insert(0) += v;
                    }
                    t.notes.extend(part.notes);
                    t.detail.extend(part.detail);
                    if let Some(b) = part.scanned_bytes {
                        t.scanned = Some(t.scanned.unwrap_or(0) + b);
                    }
                }
                Some(e) => {
                    let records: u64 = part.counts.values().sum();
                    let mut error = format!("{label}: {e}");
                    if records > 0 {
                        error.push_str(&format!(
                            " ({records} records read before the problem were kept)"
                        ));
                    }
                    let notes: Vec<String> = planning_notes(kind)
                        .chain(part.notes.iter().cloned())
                        .collect();
                    if !notes.is_empty() {
                        error.push_str(&format!("; {}", notes.join("; ")));
                    }
                    errors.push(SourceStatus {
                        name: self.name.clone(),
                        kind: kind.as_str().into(),
                        status: SourceState::Error,
                        records,
                        error: Some(error),
                        counts: part.counts,
                        parts: Some(1),
                        scanned_bytes: part.scanned_bytes,
                        detail: (!part.detail.is_empty()).then(|| part.detail.join("; ")),
                    });
                }
            }
        }
        let mut statuses: Vec<SourceStatus> = totals
            .into_iter()
            .map(|(kind, t)| {
                let mut s = SourceStatus::ok(&self.name, kind, t.counts, &t.notes, t.ok_parts);
                s.scanned_bytes = t.scanned;
                s.detail = (!t.detail.is_empty()).then(|| t.detail.join("; "));
                s
            })
            .collect();
        statuses.extend(errors);
        statuses
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aws_sdk_athena::types::{
        AthenaError, ColumnInfo, Datum, QueryExecutionState, ResultSetMetadata,
    };

    fn result_set(columns: &[&str], rows: &[Vec<Option<&str>>]) -> ResultSet {
        let cols = columns
            .iter()
            .map(|c| {
                ColumnInfo::builder()
                    .name(*c)
                    .r#type("varchar")
                    .build()
                    .unwrap()
            })
            .collect();
        let rows = rows
            .iter()
            .map(|r| {
                Row::builder()
                    .set_data(Some(
                        r.iter()
                            .map(|v| {
                                Datum::builder()
                                    .set_var_char_value(v.map(String::from))
                                    .build()
                            })
                            .collect(),
                    ))
                    .build()
            })
            .collect();
        ResultSet::builder()
            .set_rows(Some(rows))
            .result_set_metadata(
                ResultSetMetadata::builder()
                    .set_column_info(Some(cols))
                    .build(),
            )
            .build()
    }

    fn header(columns: &[&str]) -> Vec<Option<&'static str>> {
        columns
            .iter()
            .map(|c| Some(&*Box::leak(c.to_string().into_boxed_str())))
            .collect()
    }

    #[test]
    fn alb_counts_are_parsed_with_the_header_skipped() {
        let cols = [
            "phase",
            "elb_status_code",
            "target_status_code",
            "target_group_arn",
            "request_verb",
            "path",
            "requests",
            "no_target_response",
            "avg_target_time",
            "max_target_time",
            "first_seen",
            "last_seen",
        ];
        let tg = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/checkout-tg/73e2d6bc24d8a067";
        let page1 = result_set(
            &cols,
            &[
                header(&cols),
                vec![
                    Some("incident"),
                    Some("502"),
                    None,
                    Some(tg),
                    Some("POST"),
                    Some("/api/checkout"),
                    Some("812"),
                    Some("812"),
                    None,
                    Some("-1.0"),
                    Some("2024-08-16T11:20:01.123456Z"),
                    Some("2024-08-16T11:48:59.000001Z"),
                ],
            ],
        );
        let page2 = result_set(
            &cols,
            &[vec![
                Some("baseline"),
                Some("200"),
                Some("200"),
                Some("-"),
                Some("GET"),
                Some("/"),
                Some("9000"),
                Some("0"),
                Some("0.012"),
                Some("0.2"),
                Some("2024-08-16T10:19:00.000000Z"),
                Some("2024-08-16T11:18:59.999999Z"),
            ]],
        );
        let counts = parse_alb_counts(&[page1, page2], 1000);
        assert_eq!(counts.len(), 2);
        let c = &counts[0];
        assert_eq!(c.phase, Phase::Incident);
        assert_eq!(c.elb_status_code, Some(502));
        assert_eq!(c.target_status_code, None);
        assert_eq!(c.target_group, "checkout-tg");
        assert_eq!(c.method, "POST");
        assert_eq!(c.path, "/api/checkout");
        assert_eq!((c.requests, c.no_target_response), (812, 812));
        assert_eq!(c.avg_target_time, None);
        assert_eq!(c.max_target_time, Some(-1.0));
        assert!(c.first_seen.unwrap() < c.last_seen.unwrap());
        assert_eq!(counts[1].phase, Phase::Baseline);
        assert_eq!(counts[1].target_group, "-");
        assert_eq!(counts[1].avg_target_time, Some(0.012));
    }

    // The documentation's failed-target example as Athena's RegexSerDe splits it.
    fn alb_failed_row() -> Vec<Option<&'static str>> {
        vec![
            Some("https"),
            Some("2018-11-30T22:22:48.364000Z"),
            Some("app/my-loadbalancer/50dc6c495c0c9188"),
            Some("192.168.131.39"),
            Some("2817"),
            Some(""),
            None,
            Some("-1.0"),
            Some("-1.0"),
            Some("-1.0"),
            Some("502"),
            Some("-"),
            Some("34"),
            Some("366"),
            Some("GET"),
            Some("https://www.example.com:443/"),
            Some("HTTP/1.1"),
            Some("curl/7.46.0"),
            Some("ECDHE-RSA-AES128-GCM-SHA256"),
            Some("TLSv1.2"),
            Some(
                "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067",
            ),
            Some("Root=1-58337364-23a8c76965a2ef7629b185e3"),
            Some("-"),
            Some("-"),
            Some("0"),
            Some("2018-11-30T22:22:48.364000Z"),
            Some("forward"),
            Some("-"),
            Some("LambdaInvalidResponse"),
            Some("-"),
            Some("-"),
            Some("-"),
            Some("-"),
        ]
    }

    #[test]
    fn alb_rows_map_like_the_files_source() {
        let c = Columns::new(ALB_COLUMNS);
        let e = map_alb_row(&c, &alb_failed_row()).unwrap();
        assert_eq!(e.kind, "https");
        assert_eq!(e.client, "192.168.131.39:2817");
        assert_eq!(e.target, "-");
        assert_eq!(e.request_processing_time, -1.0);
        assert_eq!(e.target_processing_time, -1.0);
        assert_eq!(e.elb_status_code, Some(502));
        assert_eq!(e.target_status_code, None);
        assert_eq!((e.received_bytes, e.sent_bytes), (34, 366));
        assert_eq!(e.method, "GET");
        assert_eq!(e.path(), "/");
        assert_eq!(e.protocol, "HTTP/1.1");
        assert_eq!(e.target_group(), "my-targets");
        assert_eq!(e.error_reason, "LambdaInvalidResponse");
        assert_eq!(e.matched_rule_priority, "0");
        assert_eq!(e.actions_executed, "forward");
        assert_eq!(
            crate::time::rfc3339(e.time.unwrap()),
            "2018-11-30T22:22:48.364Z"
        );
        assert!(e.request_creation_time.is_some());
        // A row the RegexSerDe could not split comes back all NULL: no time, no entry.
        let nulls = vec![None; ALB_COLUMNS.len()];
        assert!(map_alb_row(&c, &nulls).is_none());
        // Targets with a port.
        assert_eq!(host_port(Some("10.0.0.1"), Some("80")), "10.0.0.1:80");
    }

    fn ct_columns() -> Vec<&'static str> {
        CLOUDTRAIL_COLUMNS.iter().map(|(_, a, _)| *a).collect()
    }

    fn ct_row(pairs: &[(&str, &'static str)]) -> Vec<Option<&'static str>> {
        ct_columns()
            .iter()
            .map(|c| pairs.iter().find(|(k, _)| k == c).map(|(_, v)| *v))
            .collect()
    }

    #[test]
    fn cloudtrail_rows_map_like_the_files_source() {
        let c = Columns::new(&ct_columns());
        let console_change = ct_row(&[
            ("eventtime", "2024-08-16T11:19:29Z"),
            ("eventsource", "dynamodb.amazonaws.com"),
            ("eventname", "UpdateTable"),
            ("awsregion", "ap-northeast-1"),
            ("sourceipaddress", "203.0.113.67"),
            ("useragent", "console.amazonaws.com"),
            ("identity_type", "AssumedRole"),
            (
                "identity_arn",
                "arn:aws:sts::123456789012:assumed-role/Admin/alice",
            ),
            ("identity_principalid", "AROAEXAMPLE:alice"),
            ("session_issuer_username", "Admin"),
            ("readonly", "false"),
            (
                "requestparameters",
                "{\"tableName\": \"orders\", \"provisionedThroughput\": {\"readCapacityUnits\": 1}}",
            ),
            (
                "resource_arns",
                "[\"arn:aws:dynamodb:ap-northeast-1:123456789012:table/orders\",null]",
            ),
            ("eventid", "554974f2-844b-7e86-3b22-a18395513d54"),
        ]);
        let e = map_cloudtrail_row(&c, &console_change);
        assert_eq!(e.actor, "Admin/alice");
        assert_eq!(e.read_only, Some(false));
        assert!(e.is_mutating());
        assert_eq!(e.user_agent, "console.amazonaws.com");
        assert_eq!(e.source_ip, "203.0.113.67");
        assert_eq!(
            e.resources,
            vec![
                "arn:aws:dynamodb:ap-northeast-1:123456789012:table/orders".to_string(),
                "orders".to_string()
            ]
        );
        // Re-serialised compactly (key order is serde_json's, as in the files source).
        assert!(e.request_parameters.contains(r#""tableName":"orders""#));
        assert!(
            e.request_parameters
                .contains(r#""provisionedThroughput":{"readCapacityUnits":1}"#)
        );
        assert_eq!(e.identity_type, "AssumedRole");
        assert_eq!(e.event_id, "554974f2-844b-7e86-3b22-a18395513d54");
        assert_eq!(
            crate::time::rfc3339(e.time.unwrap()),
            "2024-08-16T11:19:29.000Z"
        );

        let user_error = ct_row(&[
            ("eventtime", "2024-08-16T11:19:30Z"),
            ("eventname", "DetachRolePolicy"),
            ("identity_type", "IAMUser"),
            ("identity_username", "ops-bob"),
            ("identity_arn", "arn:aws:iam::1:user/ops-bob"),
            ("errorcode", "AccessDenied"),
            ("errormessage", "not allowed"),
            (
                "requestparameters",
                "{\"roleName\":\"app\",\"policyArn\":\"arn:aws:iam::aws:policy/S3\"}",
            ),
        ]);
        let e = map_cloudtrail_row(&c, &user_error);
        assert_eq!(e.actor, "ops-bob");
        assert_eq!(e.read_only, None);
        assert!(e.is_mutating());
        assert_eq!(e.error_code, "AccessDenied");
        assert_eq!(
            e.resources,
            vec!["app".to_string(), "arn:aws:iam::aws:policy/S3".to_string()]
        );

        let service = ct_row(&[
            ("eventtime", "2024-08-16T11:20:00Z"),
            ("eventname", "Decrypt"),
            ("identity_type", "AWSService"),
            ("identity_invokedby", "lambda.amazonaws.com"),
            ("readonly", "true"),
            ("requestparameters", "not json"),
        ]);
        let e = map_cloudtrail_row(&c, &service);
        assert_eq!(e.actor, "lambda.amazonaws.com");
        assert_eq!(e.read_only, Some(true));
        assert_eq!(e.request_parameters, "not json");
        assert!(e.resources.is_empty());

        let root = ct_row(&[
            ("eventname", "ConsoleLogin"),
            ("identity_arn", "arn:aws:iam::123456789012:root"),
            ("requestparameters", "null"),
        ]);
        let e = map_cloudtrail_row(&c, &root);
        assert_eq!(e.actor, "arn:aws:iam::123456789012:root");
        assert_eq!(e.request_parameters, "");
        assert!(e.time.is_none());

        let long = format!("{{\"name\":\"{}\"}}", "é".repeat(400));
        let long: &'static str = Box::leak(long.into_boxed_str());
        let e = map_cloudtrail_row(&c, &ct_row(&[("requestparameters", long)]));
        assert!(e.request_parameters.ends_with('…'));
        assert!(e.request_parameters.len() <= MAX_PARAMS_LEN + '…'.len_utf8());
    }

    /// A cut inside the details: the totals rebuild what the missing groups held.
    #[test]
    fn counts_reader_rebuilds_cut_details_from_the_totals() {
        let cols = [
            "phase",
            "elb_status_code",
            "target_status_code",
            "target_group_arn",
            "request_verb",
            "path",
            "grouping_set",
            "requests",
            "no_target_response",
            "avg_target_time",
            "max_target_time",
            "first_seen",
            "last_seen",
        ];
        let tg =
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067";
        let row = |status: &'static str,
                   verb: Option<&'static str>,
                   path: Option<&'static str>,
                   set: &'static str,
                   n: &'static str,
                   avg: &'static str| {
            vec![
                Some("incident"),
                Some(status),
                Some(status),
                Some(tg),
                verb,
                path,
                Some(set),
                Some(n),
                Some("0"),
                Some(avg),
                Some("0.9"),
                Some("2024-08-16T11:20:00.000000Z"),
                Some("2024-08-16T11:40:00.000000Z"),
            ]
        };
        let mut rows = vec![header(&cols)];
        // Totals first (grouping_set 3), then details, errors first.
        rows.push(row("200", None, None, "3", "100", "0.1"));
        rows.push(row("404", None, None, "3", "10", "0.2"));
        rows.push(row("404", Some("GET"), Some("/a/{id}"), "0", "10", "0.2"));
        rows.push(row("200", Some("GET"), Some("/"), "0", "60", "0.1"));
        rows.push(row("200", Some("GET"), Some("/b"), "0", "40", "0.1"));
        let rs = result_set(&cols, &rows);
        // Limit 4: the /b details (40 requests) are cut.
        let mut r = AlbCountsReader::new(4);
        let details = r.page(&rs);
        assert!(r.cut() && !r.totals_cut);
        assert_eq!(details.len(), 2);
        let (rest, notes) = r.finish("ALB counts (t)");
        assert_eq!(rest.len(), 1);
        assert_eq!((rest[0].requests, rest[0].path.as_str()), (40, OTHER_PATHS));
        assert_eq!(rest[0].elb_status_code, Some(200));
        let avg = rest[0].avg_target_time.unwrap();
        assert!((avg - 0.1).abs() < 1e-9, "{avg}");
        assert!(notes[0].contains("40 requests"), "{notes:?}");
        let total: u64 = details.iter().chain(&rest).map(|c| c.requests).sum();
        assert_eq!(total, 110);
        // No cut: no extra groups, no note.
        let mut r = AlbCountsReader::new(100);
        assert_eq!(r.page(&rs).len(), 3);
        assert_eq!(r.finish("x"), (Vec::new(), Vec::new()));
        // A cut inside the totals is said: the counts are incomplete.
        let mut r = AlbCountsReader::new(1);
        assert!(r.page(&rs).is_empty());
        let (_, notes) = r.finish("x");
        assert!(notes[0].contains("incomplete"), "{notes:?}");
    }

    #[test]
    fn page_reader_skips_only_the_first_header_and_caps() {
        let cols = ct_columns();
        let row = |t: &'static str| ct_row(&[("eventtime", t), ("eventname", "PutItem")]);
        let page1 = result_set(&cols, &[header(&cols), row("2024-08-16T11:19:01Z")]);
        // A later page starts with data, and a row that merely looks odd is still data.
        let page2 = result_set(
            &cols,
            &[
                row("2024-08-16T11:19:02Z"),
                row("bad time"),
                row("2024-08-16T11:19:03Z"),
            ],
        );
        let mut r = PageReader::new(RecordKind::Cloudtrail, 10);
        assert_eq!(r.page(&page1).unwrap().len(), 1);
        assert_eq!(r.page(&page2).unwrap().len(), 3);
        assert!(!r.cursor.cut);
        assert_eq!(r.bad_time, 1);
        assert!(r.notes("ct")[0].contains("1 events have no valid eventtime"));

        // Capped: two rows allowed, three present.
        let mut r = PageReader::new(RecordKind::Cloudtrail, 2);
        assert_eq!(r.page(&page1).unwrap().len(), 1);
        assert_eq!(r.page(&page2).unwrap().len(), 1);
        assert!(r.cursor.cut);
        assert!(r.notes("CloudTrail changes")[0].contains("more than 2 rows"));

        // A first page without a header row (not what Athena returns) loses no data.
        let mut r = PageReader::new(RecordKind::Cloudtrail, 10);
        assert_eq!(r.page(&page2).unwrap().len(), 3);

        // ALB rows without a valid time are dropped and counted.
        let alb = result_set(
            ALB_COLUMNS,
            &[
                header(ALB_COLUMNS),
                alb_failed_row(),
                vec![None; ALB_COLUMNS.len()],
            ],
        );
        let mut r = PageReader::new(RecordKind::Alb, 10);
        let recs = r.page(&alb).unwrap();
        assert_eq!(recs.len(), 1);
        assert!(matches!(&recs[0], Record::Alb(e) if e.elb_status_code == Some(502)));
        assert!(r.notes("ALB")[0].contains("1 rows have no valid time"));

        // A result without the expected columns is an error, not silence.
        let wrong = result_set(&["a", "b"], &[vec![Some("a"), Some("b")]]);
        let err = PageReader::new(RecordKind::Alb, 10)
            .page(&wrong)
            .unwrap_err();
        assert!(err.contains("no column type, time"), "{err}");
    }

    #[test]
    fn execution_states() {
        let st = |s: QueryExecutionState| QueryExecutionStatus::builder().state(s).build();
        assert_eq!(exec_state(None), ExecState::Pending);
        assert_eq!(
            exec_state(Some(&st(QueryExecutionState::Queued))),
            ExecState::Pending
        );
        assert_eq!(
            exec_state(Some(&st(QueryExecutionState::Running))),
            ExecState::Pending
        );
        assert_eq!(
            exec_state(Some(&st(QueryExecutionState::Succeeded))),
            ExecState::Succeeded
        );
        let failed = QueryExecutionStatus::builder()
            .state(QueryExecutionState::Failed)
            .state_change_reason("TABLE_NOT_FOUND: line 2:6: Table 'aiops_db.alb' does not exist")
            .athena_error(
                AthenaError::builder()
                    .error_category(2)
                    .error_type(1301)
                    .error_message("TABLE_NOT_FOUND: line 2:6: Table 'aiops_db.alb' does not exist")
                    .build(),
            )
            .build();
        assert_eq!(
            exec_state(Some(&failed)),
            ExecState::Failed(
                "FAILED: TABLE_NOT_FOUND: line 2:6: Table 'aiops_db.alb' does not exist".into()
            )
        );
        let only_error = QueryExecutionStatus::builder()
            .state(QueryExecutionState::Failed)
            .athena_error(
                AthenaError::builder()
                    .error_message("Query exhausted resources")
                    .build(),
            )
            .build();
        assert_eq!(
            exec_state(Some(&only_error)),
            ExecState::Failed("FAILED: Query exhausted resources".into())
        );
        assert_eq!(
            exec_state(Some(&st(QueryExecutionState::Cancelled))),
            ExecState::Failed("CANCELLED: no reason given".into())
        );
        assert_eq!(
            exec_state(Some(&st(QueryExecutionState::from("SOMETHING_NEW")))),
            ExecState::Pending
        );
    }

    #[test]
    fn soft_deadline_leaves_time_to_stop() {
        let now = Instant::now();
        let d = now + Duration::from_secs(60);
        let s = soft_deadline(d);
        assert!(s < d && d - s <= STOP_MARGIN);
        let short = now + Duration::from_secs(1);
        assert!(soft_deadline(short) < short);
    }
}
