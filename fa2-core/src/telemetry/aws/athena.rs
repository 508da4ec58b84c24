//! The Athena source (`athena`): ALB access logs and CloudTrail events read from the Athena
//! tables that the AWS documentation's `CREATE TABLE` statements define, mapped to the same
//! [`AlbAccessLog`] and [`AuditEvent`] records (same semantics) as the files source.
//!
//! # Queries
//!
//! Every query names its columns (never `SELECT *`, whose shape changes when a table is
//! re-created from a newer documentation page) and filters the collect span (baseline start to
//! incident end) with two bound parameters. Per window three queries run, all started at once
//! so Athena works on them in parallel, then read one after the other:
//!
//! 1. ALB entries (`alb_table`), capped at `max_rows` (the SQL asks for `max_rows + 1` rows so
//!    that the cap is detected and reported, never silent).
//! 2. CloudTrail changes and errors: every event whose `readonly` is not `'true'` or that has
//!    an `errorcode`. There is no filter on `sourceipaddress`: FA2 kept only calls from
//!    `*.amazonaws.com` and so missed changes people made in the console or the CLI.
//! 3. CloudTrail read-only successes, as individual records (the audit distiller counts them
//!    one by one, so a `GROUP BY eventname` would lose the per-event counts it needs), capped at
//!    `max_rows` so that a flood of `Describe*` calls can never crowd out the changes of (2).
//!
//! A cap that was reached is said in the kind's status (`warnings: ...`).
//!
//! # Bound parameters
//!
//! Athena's `ExecutionParameters` fill the positional `?` of the query in order, and Athena
//! substitutes each value *as SQL literal text*: `1` is the number one and a string must be
//! sent already quoted as a SQL string literal (`'2024-08-16T11:19:00.000Z'`, with single quotes
//! doubled), which [`sql_string_literal`] produces. So the text that Athena runs, and that
//! `reproduce` shows, is the query with every `?` replaced by its value
//! ([`substitute_parameters`]). Parameters cannot stand for table or column names; tables are
//! validated and double-quoted instead ([`table_reference`]).
//!
//! # Time filters
//!
//! ALB's `time` column is a string such as `2018-07-02T22:23:00.186641Z`; the AWS
//! documentation's ALB examples turn it into a timestamp with
//! `parse_datetime(time, 'yyyy-MM-dd''T''HH:mm:ss.SSSSSS''Z''')`, which is what the query does:
//! it compares instants, not text, so it stays right whatever precision the bound values have
//! (a string comparison is only right when both sides have exactly the same width). Athena
//! sessions run in UTC, so the literal `Z` parses as UTC. CloudTrail's `eventtime` is an ISO
//! 8601 string (`2024-08-16T11:19:29Z`) compared through `from_iso8601_timestamp`. Both column
//! conversions are wrapped in `try(...)`, so one malformed row drops out of the filter instead
//! of failing the whole query. Athena bills bytes scanned, not CPU, so the conversions cost
//! nothing extra; partition pruning comes from the optional `*_partition_predicate`s (for
//! example `day >= '2024/08/16'` with partition projection), which are inserted as written.
//!
//! # Execution
//!
//! `StartQueryExecution` (workgroup, output location, catalog and database, parameters), then
//! `GetQueryExecution` polled with [`Poller`] until `SUCCEEDED`; `FAILED` and `CANCELLED` are
//! errors carrying Athena's state change reason. Polling stops a little before the source
//! deadline (so that there is time left to clean up), and every query still running is then
//! stopped with `StopQueryExecution`; a guard also stops them if the pipeline drops the source.
//! Results come from `GetQueryResults` (`ResultSet` rows addressed by the column names of
//! `ResultSetMetadata.ColumnInfo`, never re-parsed from CSV): the first row of the first page
//! is Athena's header row and is skipped, pages follow `NextToken`, and each page's records are
//! handed to the sink before the next page is fetched.
//!
//! # Aggregation in SQL
//!
//! [`alb_counts_query`] and [`alb_error_samples_query`] push the ALB aggregation into Athena
//! (counts per window, status, target group, method and path; the first 5xx entries), and
//! [`parse_alb_counts`] reads the counts back. `collect` does not use them yet: the ALB
//! distiller consumes individual entries, so `collect` reads entries up to `max_rows`.

use super::{Poller, emit_page, sdk_error};
use crate::error::SourceError;
use crate::record::{AlbAccessLog, AuditEvent, Record, RecordKind, RecordType};
use crate::request::{Phase, Window};
use crate::telemetry::files::cloudtrail::{MAX_PARAMS_LEN, resources_from_params, truncate};
use crate::telemetry::{
    CollectSummary, Locator, Origin, RecordSink, Reproduction, SourceQuery, SourceState,
    SourceStatus, TelemetrySource,
};
use async_trait::async_trait;
use aws_sdk_athena::Client;
use aws_sdk_athena::types::{
    QueryExecutionContext, QueryExecutionStatus, ResultConfiguration, ResultSet, Row,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Rows read per query when `max_rows` is 0.
pub const DEFAULT_MAX_ROWS: usize = 100_000;
/// The Glue Data Catalog, Athena's default catalog.
pub const DEFAULT_CATALOG: &str = "AwsDataCatalog";
/// `GetQueryResults` returns at most 1,000 rows per page.
const PAGE_SIZE: i32 = 1000;
/// The ALB `time` format of the AWS documentation, as a SQL string literal.
const ALB_TIME_FORMAT: &str = "'yyyy-MM-dd''T''HH:mm:ss.SSSSSS''Z'''";
/// Longest cleanup margin kept before the source deadline (StopQueryExecution needs a moment).
const STOP_MARGIN: Duration = Duration::from_secs(2);

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
    /// Optional SQL predicate ANDed into the ALB query's WHERE for partition pruning, e.g.
    /// `day >= '2024/08/16'`. Trusted configuration text, inserted as written.
    pub alb_partition_predicate: String,
    /// Optional SQL predicate for the CloudTrail queries, e.g.
    /// `region = 'ap-northeast-1' AND timestamp >= '2024/08/16'`.
    pub cloudtrail_partition_predicate: String,
    /// Rows read per query (default 100,000; 0 means the default). A reached cap is reported.
    pub max_rows: usize,
    /// Read the ALB table as counts per status, target group and path (`GROUP BY` in Athena)
    /// instead of entry by entry: for tables too large to scan out row by row.
    pub alb_aggregate: bool,
    /// Data catalog (default `AwsDataCatalog`).
    pub catalog: String,
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
}

// ---------------------------------------------------------------------------------------------
// SQL text
// ---------------------------------------------------------------------------------------------

/// A query with its positional parameters, already written as SQL literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaQuery {
    pub kind: RecordKind,
    /// What the query reads, for statuses (`ALB entries`, `CloudTrail changes and errors`...).
    pub label: String,
    /// SQL with `?` placeholders.
    pub sql: String,
    /// One SQL literal per `?`, in order (the `ExecutionParameters`).
    pub params: Vec<String>,
    /// The rows are [`AlbCount`] groups, not entries.
    pub counts: bool,
}

impl AthenaQuery {
    /// The SQL exactly as Athena runs it: every `?` replaced by its literal.
    pub fn reproduce(&self) -> String {
        substitute_parameters(&self.sql, &self.params)
    }
}

/// Quotes `value` as a Trino/Athena SQL string literal: wrapped in single quotes, inner single
/// quotes doubled. Backslashes are ordinary characters in Trino string literals and Unicode
/// passes through unchanged, so nothing else needs escaping.
pub fn sql_string_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Replaces each positional `?` of `sql` with the next of `params`, the way Athena applies
/// `ExecutionParameters`. A `?` inside a string literal, a quoted identifier or a comment is
/// not a parameter. Placeholders beyond `params` are left as they are.
pub fn substitute_parameters(sql: &str, params: &[String]) -> String {
    #[derive(PartialEq)]
    enum St {
        Code,
        Str,
        Ident,
        Line,
        Block,
    }
    let mut out = String::with_capacity(sql.len() + params.iter().map(String::len).sum::<usize>());
    let mut next = params.iter();
    let mut st = St::Code;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match st {
            St::Code => match c {
                '?' => {
                    if let Some(p) = next.next() {
                        out.push_str(p);
                        continue;
                    }
                }
                '\'' => st = St::Str,
                '"' => st = St::Ident,
                '-' if chars.peek() == Some(&'-') => st = St::Line,
                '/' if chars.peek() == Some(&'*') => {
                    out.push(c);
                    if let Some(star) = chars.next() {
                        out.push(star);
                    }
                    st = St::Block;
                    continue;
                }
                _ => {}
            },
            // A doubled quote inside a literal toggles out and straight back in: no special case.
            St::Str if c == '\'' => st = St::Code,
            St::Ident if c == '"' => st = St::Code,
            St::Line if c == '\n' => st = St::Code,
            St::Block if c == '*' && chars.peek() == Some(&'/') => {
                out.push(c);
                if let Some(slash) = chars.next() {
                    out.push(slash);
                }
                st = St::Code;
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// A double-quoted table reference. `table` may be `table`, `db.table` or `catalog.db.table`;
/// an unqualified name is qualified with `database` when that is set. Names are restricted to
/// letters, digits, `_` and `-` (what Glue allows), so they can never carry SQL.
pub fn table_reference(database: &str, table: &str) -> Result<String, String> {
    let valid = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let mut parts: Vec<&str> = table.split('.').collect();
    if parts.len() > 3 || !parts.iter().all(|p| valid(p)) {
        return Err(format!(
            "invalid Athena table name `{table}`: use letters, digits and `_`, optionally qualified as db.table"
        ));
    }
    if parts.len() == 1 && !database.is_empty() {
        if !valid(database) {
            return Err(format!("invalid Athena database name `{database}`"));
        }
        parts.insert(0, database);
    }
    Ok(parts
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join("."))
}

/// The ALB columns of the AWS documentation's `CREATE TABLE` for ALB access logs, in order
/// (`conn_trace_id`, added later, is left out so that older tables work too).
pub const ALB_COLUMNS: &[&str] = &[
    "type",
    "time",
    "elb",
    "client_ip",
    "client_port",
    "target_ip",
    "target_port",
    "request_processing_time",
    "target_processing_time",
    "response_processing_time",
    "elb_status_code",
    "target_status_code",
    "received_bytes",
    "sent_bytes",
    "request_verb",
    "request_url",
    "request_proto",
    "user_agent",
    "ssl_cipher",
    "ssl_protocol",
    "target_group_arn",
    "trace_id",
    "domain_name",
    "chosen_cert_arn",
    "matched_rule_priority",
    "request_creation_time",
    "actions_executed",
    "redirect_url",
    "lb_error_reason",
    "target_port_list",
    "target_status_code_list",
    "classification",
    "classification_reason",
];

/// `(expression, alias)` pairs selected from the documented CloudTrail table. Nested
/// `useridentity` fields are selected one by one; `resources` (an array of structs) becomes a
/// JSON array of its ARNs.
pub const CLOUDTRAIL_COLUMNS: &[(&str, &str)] = &[
    ("eventtime", "eventtime"),
    ("eventsource", "eventsource"),
    ("eventname", "eventname"),
    ("awsregion", "awsregion"),
    ("sourceipaddress", "sourceipaddress"),
    ("useragent", "useragent"),
    ("useridentity.type", "identity_type"),
    ("useridentity.arn", "identity_arn"),
    ("useridentity.username", "identity_username"),
    ("useridentity.principalid", "identity_principalid"),
    ("useridentity.invokedby", "identity_invokedby"),
    (
        "useridentity.sessioncontext.sessionissuer.username",
        "session_issuer_username",
    ),
    ("readonly", "readonly"),
    ("errorcode", "errorcode"),
    ("errormessage", "errormessage"),
    ("requestparameters", "requestparameters"),
    (
        "json_format(CAST(transform(resources, r -> r.arn) AS JSON))",
        "resource_arns",
    ),
    ("eventid", "eventid"),
];

fn alb_time_expr() -> String {
    format!("try(parse_datetime(time, {ALB_TIME_FORMAT}))")
}

const CLOUDTRAIL_TIME_EXPR: &str = "try(from_iso8601_timestamp(eventtime))";

fn ts_literal(ts: DateTime<Utc>) -> String {
    sql_string_literal(&crate::time::rfc3339(ts))
}

/// `WHERE` clause: the optional partition predicate, the collect span, then `extra`.
fn where_clause(predicate: &str, time_expr: &str, extra: &[&str]) -> String {
    let mut conds = Vec::new();
    if !predicate.trim().is_empty() {
        conds.push(format!("({})", predicate.trim()));
    }
    conds.push(format!("{time_expr} >= from_iso8601_timestamp(?)"));
    conds.push(format!("{time_expr} < from_iso8601_timestamp(?)"));
    conds.extend(extra.iter().map(|e| (*e).to_string()));
    format!("WHERE {}", conds.join("\n  AND "))
}

fn span_params(window: &Window) -> Vec<String> {
    vec![
        ts_literal(window.collect_start()),
        ts_literal(window.collect_end()),
    ]
}

/// The ALB entries of the collect span, at most `max_rows + 1` rows (one more than is read,
/// so that a reached cap is known).
pub fn alb_entries_query(opts: &AthenaOptions, window: &Window) -> Result<AthenaQuery, String> {
    let table = table_reference(&opts.database, &opts.alb_table)?;
    let sql = format!(
        "SELECT {}\nFROM {table}\n{}\nLIMIT {}",
        ALB_COLUMNS.join(", "),
        where_clause(&opts.alb_partition_predicate, &alb_time_expr(), &[]),
        opts.row_cap() + 1
    );
    Ok(AthenaQuery {
        kind: RecordKind::Alb,
        label: format!("ALB entries ({})", opts.alb_table),
        sql,
        params: span_params(window),
        counts: false,
    })
}

/// Matches every CloudTrail event that changes something or failed (`readonly` other than
/// `'true'`, absent, or an error code); its negation selects the read-only successes.
const CLOUDTRAIL_CHANGES: &str =
    "(readonly IS NULL OR readonly <> 'true' OR errorcode IS NOT NULL)";
const CLOUDTRAIL_READS: &str = "readonly = 'true' AND errorcode IS NULL";

/// The two CloudTrail queries: changes and errors first, then read-only successes.
pub fn cloudtrail_queries(
    opts: &AthenaOptions,
    window: &Window,
) -> Result<[AthenaQuery; 2], String> {
    let table = table_reference(&opts.database, &opts.cloudtrail_table)?;
    let select = CLOUDTRAIL_COLUMNS
        .iter()
        .map(|(expr, alias)| {
            if expr == alias {
                (*expr).to_string()
            } else {
                format!("{expr} AS {alias}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let build = |label: &str, filter: &str| AthenaQuery {
        kind: RecordKind::Cloudtrail,
        label: format!("CloudTrail {label} ({})", opts.cloudtrail_table),
        sql: format!(
            "SELECT {select}\nFROM {table}\n{}\nLIMIT {}",
            where_clause(
                &opts.cloudtrail_partition_predicate,
                CLOUDTRAIL_TIME_EXPR,
                &[filter]
            ),
            opts.row_cap() + 1
        ),
        params: span_params(window),
        counts: false,
    };
    Ok([
        build("changes and errors", CLOUDTRAIL_CHANGES),
        build("read-only events", CLOUDTRAIL_READS),
    ])
}

/// ALB counts aggregated in Athena: requests per window (`incident`, `baseline`, `outside`),
/// ELB and target status, target group, method and path, with the number of requests that got
/// no target response (`target_processing_time = -1`), target times and first/last seen; the
/// `limit` largest groups. Read the result with [`parse_alb_counts`].
pub fn alb_counts_query(
    opts: &AthenaOptions,
    window: &Window,
    limit: usize,
) -> Result<AthenaQuery, String> {
    let table = table_reference(&opts.database, &opts.alb_table)?;
    let t = alb_time_expr();
    let sql = format!(
        "SELECT CASE WHEN {t} >= from_iso8601_timestamp(?) AND {t} < from_iso8601_timestamp(?) THEN 'incident' \
WHEN {t} >= from_iso8601_timestamp(?) AND {t} < from_iso8601_timestamp(?) THEN 'baseline' ELSE 'outside' END AS phase, \
elb_status_code, target_status_code, target_group_arn, request_verb, \
coalesce(url_extract_path(request_url), '/') AS path, \
count(*) AS requests, \
count_if(target_processing_time < 0) AS no_target_response, \
avg(CASE WHEN target_processing_time >= 0 THEN target_processing_time END) AS avg_target_time, \
max(target_processing_time) AS max_target_time, \
min(time) AS first_seen, max(time) AS last_seen\n\
FROM {table}\n{}\nGROUP BY 1, 2, 3, 4, 5, 6\nORDER BY requests DESC\nLIMIT {}",
        where_clause(&opts.alb_partition_predicate, &t, &[]),
        limit.max(1)
    );
    Ok(AthenaQuery {
        kind: RecordKind::Alb,
        label: format!("ALB counts ({})", opts.alb_table),
        sql,
        params: vec![
            ts_literal(window.start),
            ts_literal(window.end),
            ts_literal(window.baseline_start),
            ts_literal(window.baseline_end),
            ts_literal(window.collect_start()),
            ts_literal(window.collect_end()),
        ],
        counts: true,
    })
}

/// The first `limit` ALB entries with an ELB status of 5xx in the collect span, earliest
/// first (the onset), with the same columns as [`alb_entries_query`].
pub fn alb_error_samples_query(
    opts: &AthenaOptions,
    window: &Window,
    limit: usize,
) -> Result<AthenaQuery, String> {
    let table = table_reference(&opts.database, &opts.alb_table)?;
    let sql = format!(
        "SELECT {}\nFROM {table}\n{}\nORDER BY time\nLIMIT {}",
        ALB_COLUMNS.join(", "),
        where_clause(
            &opts.alb_partition_predicate,
            &alb_time_expr(),
            &["elb_status_code >= 500"]
        ),
        limit.max(1)
    );
    Ok(AthenaQuery {
        kind: RecordKind::Alb,
        label: format!("ALB 5xx samples ({})", opts.alb_table),
        sql,
        params: span_params(window),
        counts: false,
    })
}

pub use crate::record::AlbCount;

/// Reads the pages of an [`alb_counts_query`] result (header row of the first page skipped).
pub fn parse_alb_counts(pages: &[ResultSet]) -> Vec<AlbCount> {
    let mut out = Vec::new();
    let mut cols: Option<Columns> = None;
    for (i, page) in pages.iter().enumerate() {
        if cols.is_none() {
            cols = Columns::from_result_set(page);
        }
        let Some(c) = cols.as_ref() else { continue };
        for (j, row) in page.rows().iter().enumerate() {
            let v = row_values(row);
            if i == 0 && j == 0 && c.is_header(&v) {
                continue;
            }
            let g = |n: &str| c.get(&v, n);
            let tg = AlbAccessLog {
                target_group_arn: g("target_group_arn").unwrap_or("").to_string(),
                ..Default::default()
            };
            out.push(AlbCount {
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
            });
        }
    }
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
        error_reason: s("lb_error_reason"),
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
        (Some(p), _) => truncate(p.to_string(), MAX_PARAMS_LEN),
        (None, Some(raw)) => truncate(raw.to_string(), MAX_PARAMS_LEN),
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

/// Turns the pages of one query into records: skips the header row, applies the row cap and
/// counts rows that could not be used.
#[derive(Debug)]
struct PageReader {
    kind: RecordKind,
    max_rows: u64,
    cols: Option<Columns>,
    first_page: bool,
    rows: u64,
    /// Rows without a valid time (ALB: dropped; CloudTrail: kept without time, as files do).
    bad_time: u64,
    capped: bool,
}

impl PageReader {
    fn new(kind: RecordKind, max_rows: usize) -> Self {
        PageReader {
            kind,
            max_rows: max_rows as u64,
            cols: None,
            first_page: true,
            rows: 0,
            bad_time: 0,
            capped: false,
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
        if self.cols.is_none() {
            self.cols = Columns::from_result_set(rs);
            if let Some(c) = &self.cols {
                let missing = c.missing(self.required());
                if !missing.is_empty() {
                    return Err(format!(
                        "the result has no column {}: is this the documented table?",
                        missing.join(", ")
                    ));
                }
            }
        }
        let first_page = std::mem::replace(&mut self.first_page, false);
        let mut out = Vec::new();
        let Some(c) = &self.cols else {
            return Ok(out);
        };
        for (i, row) in rs.rows().iter().enumerate() {
            let v = row_values(row);
            if first_page && i == 0 && c.is_header(&v) {
                continue;
            }
            if self.rows >= self.max_rows {
                self.capped = true;
                break;
            }
            self.rows += 1;
            match self.kind {
                RecordKind::Alb => match map_alb_row(c, &v) {
                    Some(e) => out.push(Record::Alb(Box::new(e))),
                    None => self.bad_time += 1,
                },
                _ => {
                    let e = map_cloudtrail_row(c, &v);
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
        if self.capped {
            notes.push(format!(
                "{label}: more than {} rows; only the first {} were read (raise max_rows or narrow the partition predicate); counts are a subset",
                self.max_rows, self.max_rows
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
}

/// ALB access logs and CloudTrail events from Athena tables.
#[derive(Debug, Clone)]
pub struct AthenaSource {
    client: Client,
    options: AthenaOptions,
    name: String,
}

impl AthenaSource {
    pub fn new(config: &aws_config::SdkConfig, options: AthenaOptions) -> Self {
        AthenaSource {
            client: Client::new(config),
            options,
            name: "athena".into(),
        }
    }

    pub fn options(&self) -> &AthenaOptions {
        &self.options
    }

    /// The queries `collect` runs for `window`, in order; an `Err` names a configuration
    /// problem (invalid table name) of that table's queries.
    pub fn queries(&self, window: &Window) -> Vec<Result<AthenaQuery, (RecordKind, String)>> {
        let mut out = Vec::new();
        if !self.options.alb_table.is_empty() {
            let q = if self.options.alb_aggregate {
                alb_counts_query(&self.options, window, self.options.row_cap())
            } else {
                alb_entries_query(&self.options, window)
            };
            out.push(q.map_err(|e| (RecordKind::Alb, e)));
        }
        if !self.options.cloudtrail_table.is_empty() {
            match cloudtrail_queries(&self.options, window) {
                Ok(qs) => out.extend(qs.into_iter().map(Ok)),
                Err(e) => out.push(Err((RecordKind::Cloudtrail, e))),
            }
        }
        out
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
            .query_execution_context(ctx.build())
            .set_execution_parameters(Some(q.params.clone()));
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

    /// Polls until the query succeeded. On the soft deadline or a cancel every running query
    /// is stopped.
    async fn wait(
        &self,
        id: &str,
        query: &SourceQuery,
        soft: Instant,
        running: &mut Running,
    ) -> Result<(), String> {
        let mut poller = Poller::new(soft);
        loop {
            let out = self
                .client
                .get_query_execution()
                .query_execution_id(id)
                .send()
                .await
                .map_err(|e| sdk_error("GetQueryExecution", &e).to_string())?;
            match exec_state(out.query_execution().and_then(|q| q.status())) {
                ExecState::Succeeded => return Ok(()),
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
        let mut reader = PageReader::new(q.kind, self.options.row_cap());
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
            let records = match page.result_set() {
                // counted groups: each record carries its number of requests
                Some(rs) if q.counts => parse_alb_counts(std::slice::from_ref(rs))
                    .into_iter()
                    .filter(|c| c.phase != crate::request::Phase::Outside)
                    .map(|c| Record::AlbCount(Box::new(c)))
                    .collect(),
                Some(rs) => match reader.page(rs) {
                    Ok(r) => r,
                    Err(e) => break Err(e),
                },
                None => Vec::new(),
            };
            let n: u64 = records.iter().map(Record::count).sum();
            if let Err(e) = emit_page(sink, origin, records) {
                break Err(e.to_string());
            }
            let rt = match q.kind {
                RecordKind::Alb => RecordType::AlbEntries,
                _ => RecordType::CloudtrailRecords,
            };
            *part.counts.entry(rt).or_insert(0) += n;
            token = page.next_token().map(str::to_string);
            if reader.capped || token.is_none() {
                break Ok(());
            }
            if query.should_stop() || Instant::now() >= soft {
                break Err(format!(
                    "stopped reading the results of query {id} after {} rows: the source deadline passed or the analysis stopped waiting",
                    reader.rows
                ));
            }
        };
        part.notes.extend(reader.notes(&q.label));
        result
    }
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
        let planned = self.queries(&query.window);
        if planned.is_empty() {
            return Err(SourceError::Unavailable(
                "athena: neither alb_table nor cloudtrail_table is configured".into(),
            ));
        }
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
                            Ok(()) => {
                                running.done(&id);
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
            statuses: self.statuses(outcomes),
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
    /// warnings), and one `error` status per failed query.
    fn statuses(&self, outcomes: Vec<(RecordKind, String, PartOutcome)>) -> Vec<SourceStatus> {
        #[derive(Default)]
        struct Totals {
            counts: BTreeMap<RecordType, u64>,
            notes: Vec<String>,
            ok_parts: u64,
        }
        let mut totals: BTreeMap<RecordKind, Totals> = BTreeMap::new();
        let mut errors = Vec::new();
        for (kind, label, part) in outcomes {
            match part.error {
                None => {
                    let t = totals.entry(kind).or_default();
                    t.ok_parts += 1;
                    for (k, v) in part.counts {
                        *t.counts.entry(k).or_insert(0) += v;
                    }
                    t.notes.extend(part.notes);
                }
                Some(e) => {
                    let records: u64 = part.counts.values().sum();
                    let mut error = format!("{label}: {e}");
                    if records > 0 {
                        error.push_str(&format!(
                            " ({records} records read before the problem were kept)"
                        ));
                    }
                    if !part.notes.is_empty() {
                        error.push_str(&format!("; {}", part.notes.join("; ")));
                    }
                    errors.push(SourceStatus {
                        name: self.name.clone(),
                        kind: kind.as_str().into(),
                        status: SourceState::Error,
                        records,
                        error: Some(error),
                        counts: part.counts,
                        parts: Some(1),
                    });
                }
            }
        }
        let mut statuses: Vec<SourceStatus> = totals
            .into_iter()
            .map(|(kind, t)| SourceStatus::ok(&self.name, kind, t.counts, &t.notes, t.ok_parts))
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
    use chrono::TimeZone;

    fn window() -> Window {
        let start = Utc.with_ymd_and_hms(2024, 8, 16, 11, 19, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2024, 8, 16, 11, 49, 0).unwrap();
        Window::with_baseline(start, end, Duration::from_secs(3600)).unwrap()
    }

    fn opts() -> AthenaOptions {
        AthenaOptions {
            database: "aiops_db".into(),
            alb_table: "alb_access_logs".into(),
            cloudtrail_table: "cloud_trail_logs".into(),
            alb_partition_predicate: "day >= '2024/08/16'".into(),
            cloudtrail_partition_predicate: "region = 'ap-northeast-1'".into(),
            max_rows: 500,
            ..Default::default()
        }
    }

    /// Number of `?` placeholders outside literals, identifiers and comments.
    fn placeholders(sql: &str) -> usize {
        let marks: Vec<String> = (0..100).map(|i| format!("<P{i}>")).collect();
        substitute_parameters(sql, &marks).matches("<P").count()
    }

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
    fn string_literals_double_quotes_and_keep_everything_else() {
        assert_eq!(
            sql_string_literal("2024-08-16T11:19:00Z"),
            "'2024-08-16T11:19:00Z'"
        );
        assert_eq!(sql_string_literal(""), "''");
        assert_eq!(sql_string_literal("O'Brien"), "'O''Brien'");
        assert_eq!(sql_string_literal("''"), "''''''");
        assert_eq!(sql_string_literal("x' OR '1'='1"), "'x'' OR ''1''=''1'");
        // Backslashes are not escapes in Trino string literals.
        assert_eq!(sql_string_literal(r"C:\logs\n"), r"'C:\logs\n'");
        assert_eq!(sql_string_literal(r"\'"), r"'\'''");
        assert_eq!(sql_string_literal("障害 ü 🚨"), "'障害 ü 🚨'");
        assert_eq!(sql_string_literal("a\nb"), "'a\nb'");
    }

    #[test]
    fn parameters_fill_placeholders_outside_literals_and_comments() {
        let p = vec!["'a?'".to_string(), "2".to_string()];
        assert_eq!(
            substitute_parameters("SELECT x FROM t WHERE a = ? AND b = ?", &p),
            "SELECT x FROM t WHERE a = 'a?' AND b = 2"
        );
        assert_eq!(
            substitute_parameters("SELECT '?', \"c?\" -- what?\n, ? /* ? */ , ?", &p),
            "SELECT '?', \"c?\" -- what?\n, 'a?' /* ? */ , 2"
        );
        // Doubled quotes inside a literal do not end it.
        assert_eq!(
            substitute_parameters("WHERE n = 'it''s ?' AND m = ?", &p),
            "WHERE n = 'it''s ?' AND m = 'a?'"
        );
        // More placeholders than values: the rest stay visible.
        assert_eq!(substitute_parameters("? ? ?", &p), "'a?' 2 ?");
    }

    #[test]
    fn table_references_are_validated_and_quoted() {
        assert_eq!(
            table_reference("aiops_db", "alb_logs").unwrap(),
            "\"aiops_db\".\"alb_logs\""
        );
        assert_eq!(table_reference("", "alb_logs").unwrap(), "\"alb_logs\"");
        assert_eq!(
            table_reference("aiops_db", "other.ct").unwrap(),
            "\"other\".\"ct\""
        );
        assert_eq!(
            table_reference("x", "awsdatacatalog.db.t").unwrap(),
            "\"awsdatacatalog\".\"db\".\"t\""
        );
        for bad in ["", "a b", "t; DROP TABLE x", "a\"b", "a..b", "a.b.c.d"] {
            assert!(table_reference("db", bad).is_err(), "{bad}");
        }
        assert!(table_reference("bad db", "t").is_err());
    }

    #[test]
    fn alb_query_names_every_documented_column_and_binds_the_span() {
        let q = alb_entries_query(&opts(), &window()).unwrap();
        assert!(!q.sql.contains('*'), "{}", q.sql);
        let select = q.sql.split("\nFROM").next().unwrap();
        for c in ALB_COLUMNS {
            assert!(select.contains(c), "missing {c}");
        }
        assert!(q.sql.contains("FROM \"aiops_db\".\"alb_access_logs\""));
        assert!(q.sql.contains("(day >= '2024/08/16')"));
        assert!(q.sql.contains(
            "try(parse_datetime(time, 'yyyy-MM-dd''T''HH:mm:ss.SSSSSS''Z''')) >= from_iso8601_timestamp(?)"
        ));
        assert!(q.sql.ends_with("LIMIT 501"));
        assert_eq!(
            q.params,
            vec![
                "'2024-08-16T10:19:00.000Z'".to_string(),
                "'2024-08-16T11:49:00.000Z'".to_string()
            ]
        );
        assert_eq!(placeholders(&q.sql), q.params.len());
        let text = q.reproduce();
        assert_eq!(placeholders(&text), 0);
        assert!(text.contains(">= from_iso8601_timestamp('2024-08-16T10:19:00.000Z')"));
        assert!(text.contains("< from_iso8601_timestamp('2024-08-16T11:49:00.000Z')"));
        // Without a predicate, no empty parentheses.
        let q = alb_entries_query(
            &AthenaOptions {
                alb_partition_predicate: "  ".into(),
                ..opts()
            },
            &window(),
        )
        .unwrap();
        assert!(!q.sql.contains("()"));
        assert!(q.sql.contains("WHERE try(parse_datetime"));
    }

    #[test]
    fn cloudtrail_queries_split_changes_from_reads_without_a_source_filter() {
        let [changes, reads] = cloudtrail_queries(&opts(), &window()).unwrap();
        for q in [&changes, &reads] {
            assert!(!q.sql.contains("SELECT *"));
            assert!(q.sql.contains("useridentity.arn AS identity_arn"));
            assert!(q.sql.contains(
                "useridentity.sessioncontext.sessionissuer.username AS session_issuer_username"
            ));
            assert!(q.sql.contains(
                "json_format(CAST(transform(resources, r -> r.arn) AS JSON)) AS resource_arns"
            ));
            let where_part = q.sql.split("\nWHERE").nth(1).unwrap();
            assert!(!where_part.contains("sourceipaddress"), "{where_part}");
            assert!(!where_part.contains("amazonaws.com"));
            assert!(where_part.contains("(region = 'ap-northeast-1')"));
            assert!(
                where_part.contains(
                    "try(from_iso8601_timestamp(eventtime)) >= from_iso8601_timestamp(?)"
                )
            );
            assert_eq!(placeholders(&q.sql), 2);
            assert!(q.sql.ends_with("LIMIT 501"));
        }
        assert!(changes.sql.contains(CLOUDTRAIL_CHANGES));
        assert!(reads.sql.contains(CLOUDTRAIL_READS));
        assert!(changes.label.contains("changes"));
        assert!(reads.label.contains("read-only"));
    }

    #[test]
    fn aggregation_queries() {
        let w = window();
        let q = alb_counts_query(&opts(), &w, 200).unwrap();
        assert_eq!(placeholders(&q.sql), 6);
        assert_eq!(q.params.len(), 6);
        let text = q.reproduce();
        // CASE: incident, then baseline; WHERE: the whole span.
        let i = text.find("'2024-08-16T11:19:00.000Z'").unwrap();
        let b = text.find("'2024-08-16T10:19:00.000Z'").unwrap();
        assert!(i < b);
        assert!(text.contains("THEN 'incident'") && text.contains("THEN 'baseline'"));
        assert!(text.contains("GROUP BY 1, 2, 3, 4, 5, 6"));
        assert!(text.contains("count_if(target_processing_time < 0) AS no_target_response"));
        assert!(text.ends_with("LIMIT 200"));
        assert!(!text.contains('?'));
        let s = alb_error_samples_query(&opts(), &w, 20).unwrap();
        assert!(
            s.sql
                .contains("AND elb_status_code >= 500\nORDER BY time\nLIMIT 20")
        );
        assert_eq!(placeholders(&s.sql), 2);
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
        let counts = parse_alb_counts(&[page1, page2]);
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
        CLOUDTRAIL_COLUMNS.iter().map(|(_, a)| *a).collect()
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
        assert!(!r.capped);
        assert_eq!(r.bad_time, 1);
        assert!(r.notes("ct")[0].contains("1 events have no valid eventtime"));

        // Capped: two rows allowed, three present.
        let mut r = PageReader::new(RecordKind::Cloudtrail, 2);
        assert_eq!(r.page(&page1).unwrap().len(), 1);
        assert_eq!(r.page(&page2).unwrap().len(), 1);
        assert!(r.capped);
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
