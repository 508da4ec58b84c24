//! The CloudWatch metrics source (`cloudwatch-metrics`) and CloudWatch alarms.
//!
//! - **Metrics**: the configured metrics are read with `GetMetricData` over the baseline and
//!   incident windows, at most 500 queries per call (the API's limit; more are split into
//!   several calls), page by page (`NextToken`). Each result becomes one [`MetricSeries`] with
//!   its points sorted by time. A call's pages may each hold part of the same series, so a
//!   call's series are complete only after its last page: they are kept until then (at most
//!   500 series) and emitted together. Results with status `PartialData` (still incomplete
//!   when reading stopped), `InternalError` or `Forbidden`, and the API's messages, are
//!   reported in the statuses.
//! - **Alarms**: [`alarm_incident`] turns an alarm into an incident window: the last transition
//!   to `ALARM` in the alarm's history (`DescribeAlarmHistory`) gets the alarm window of
//!   [`crate::window::WindowPolicy`] (the lookback before and after it, up to now), with the
//!   alarm's description, state reason and metric (`DescribeAlarms`) so the metric can be
//!   added as evidence; the transition back to `OK`, if any, is told in the description.
//!
//! - **Periods**: CloudWatch keeps 60-second points 15 days, 5-minute points 63 days and
//!   1-hour points 455 days (sub-minute points 3 hours), and `GetMetricData` answers a finer
//!   period than what is still kept with no points and no error. So each query's period is
//!   raised to what the window's start age allows ([`retained_period`]), the range is aligned
//!   to it, and the status says so.
//!
//! Every `GetMetricData` call is registered as an [`Origin`] whose locator is the equivalent
//! `aws cloudwatch get-metric-data` command.

use super::emit_page;
use crate::error::SourceError;
use crate::record::{MetricSeries, Record, RecordKind, RecordType};
use crate::telemetry::aws::sdk_error;
use crate::telemetry::{
    CollectSummary, Locator, Origin, RecordSink, Reproduction, SourceQuery, SourceState,
    SourceStatus, TelemetrySource,
};
use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, HistoryItemType, Metric, MetricAlarm, MetricDataQuery, MetricStat,
    ScanBy, StateValue, StatusCode,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// The name of this source in reports.
pub const SOURCE_NAME: &str = "cloudwatch-metrics";
/// The `service` of this source's locators.
pub const SERVICE: &str = "cloudwatch";
/// The most `MetricDataQuery`s `GetMetricData` accepts in one call.
pub const MAX_QUERIES_PER_CALL: usize = 500;
/// The default period of a metric query, in seconds.
pub const DEFAULT_PERIOD_SECS: i32 = 60;
/// The default statistic of a metric query.
pub const DEFAULT_STAT: &str = "Average";

/// Notes kept for the status line.
const MAX_NOTES: usize = 8;
/// Longest error text kept in a status.
const MAX_ERROR_CHARS: usize = 500;
/// `DescribeAlarmHistory` pages read at most (100 items each; the history covers 30 days).
const MAX_HISTORY_PAGES: usize = 50;

/// One metric to read (config: `[[sources.metrics.queries]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricQuerySpec {
    /// e.g. `AWS/ApiGateway`.
    pub namespace: String,
    /// e.g. `5XXError`.
    pub metric: String,
    /// Every dimension of the metric (CloudWatch matches the exact set).
    pub dimensions: BTreeMap<String, String>,
    /// `Sum`, `Average`, `Maximum`, `p99`, ... (empty: `Average`).
    pub stat: String,
    /// Period in seconds (default 60; high-resolution metrics also accept 1, 5, 10, 30).
    pub period_secs: i32,
}

impl Default for MetricQuerySpec {
    fn default() -> Self {
        MetricQuerySpec {
            namespace: String::new(),
            metric: String::new(),
            dimensions: BTreeMap::new(),
            stat: DEFAULT_STAT.into(),
            period_secs: DEFAULT_PERIOD_SECS,
        }
    }
}

impl MetricQuerySpec {
    fn stat(&self) -> &str {
        match self.stat.trim() {
            "" => DEFAULT_STAT,
            s => s,
        }
    }

    /// A readable label: `AWS/ApiGateway 5XXError Sum ApiName=orders-api`.
    pub fn label(&self) -> String {
        let mut l = format!("{} {} {}", self.namespace, self.metric, self.stat());
        if !self.dimensions.is_empty() {
            l.push(' ');
            let dims: Vec<String> = self
                .dimensions
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            l.push_str(&dims.join(","));
        }
        l
    }

    /// Why the query cannot be sent, if it cannot.
    fn problem(&self) -> Option<String> {
        if self.namespace.trim().is_empty() || self.metric.trim().is_empty() {
            Some("a metric query needs both `namespace` and `metric`".into())
        } else if self.period_secs <= 0 {
            Some(format!(
                "period {} of {} is not positive",
                self.period_secs,
                self.label()
            ))
        } else {
            None
        }
    }
}

/// Options of [`MetricsSource`] (config: `[sources.metrics]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsOptions {
    /// The metrics to read.
    pub queries: Vec<MetricQuerySpec>,
}

/// Reads CloudWatch metrics (see the module documentation).
#[derive(Debug, Clone)]
pub struct MetricsSource {
    client: Client,
    options: MetricsOptions,
    region: String,
    /// The instant the window's age is measured from (`None`: the time of each call).
    now: Option<DateTime<Utc>>,
}

// ---------------------------------------------------------------------------------------------
// Pure helpers: ids, SDK queries, chunks, reproductions.
// ---------------------------------------------------------------------------------------------

/// The `Id` of the `index`-th query (ids must start with a lower-case letter).
pub fn query_id(index: usize) -> String {
    format!("m{index}")
}

/// The SDK query for one spec.
pub fn metric_data_query(id: &str, spec: &MetricQuerySpec) -> MetricDataQuery {
    let dims = spec
        .dimensions
        .iter()
        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
        .collect();
    let metric = Metric::builder()
        .namespace(spec.namespace.trim())
        .metric_name(spec.metric.trim())
        .set_dimensions(Some(dims))
        .build();
    MetricDataQuery::builder()
        .id(id)
        .label(spec.label())
        .return_data(true)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(spec.period_secs)
                .stat(spec.stat())
                .build(),
        )
        .build()
}

/// How long CloudWatch keeps metric data points of a period, longest-lived last
/// (CloudWatch concepts, "Metrics retention"): `(period, days kept)`. Sub-minute
/// (high-resolution) points are kept 3 hours.
pub const RETENTION: [(i32, i64); 3] = [(60, 15), (300, 63), (3600, 455)];
/// How long high-resolution (sub-minute) data points are kept, in hours.
pub const HIGH_RESOLUTION_HOURS: i64 = 3;

/// The period to ask for when the range starts `age` ago: `GetMetricData` returns no points
/// (and no error) for a period finer than what CloudWatch still keeps at that age
/// (`MetricStat.Period`: start time between 3 hours and 15 days ago, a multiple of 60 s;
/// 15 to 63 days, of 300 s; beyond 63 days, of 3600 s). The requested period is kept when it
/// fits, else raised to the next multiple of what is kept. `Err` says why nothing can be read
/// (older than 455 days).
pub fn retained_period(requested: i32, age: chrono::Duration) -> Result<i32, String> {
    let requested = requested.max(1);
    if age <= chrono::Duration::hours(HIGH_RESOLUTION_HOURS) {
        return Ok(requested);
    }
    for (step, days) in RETENTION {
        if age <= chrono::Duration::days(days) {
            let multiple = (requested + step - 1) / step * step;
            return Ok(multiple.max(step));
        }
    }
    Err(format!(
        "the window starts {} days ago and CloudWatch keeps metric data for {} days (15 months): there is nothing left to read",
        age.num_days(),
        RETENTION[RETENTION.len() - 1].1
    ))
}

/// Why a period was raised, for the status: `period 60 s → 300 s: the window starts 20 days
/// ago and CloudWatch keeps 60-second points for 15 days`.
fn period_note(label: &str, requested: i32, used: i32, age: chrono::Duration) -> String {
    let kept = if requested < 60 {
        format!("{HIGH_RESOLUTION_HOURS} hours")
    } else {
        let days = RETENTION
            .iter()
            .rev()
            .find(|(p, _)| *p <= requested)
            .map_or(RETENTION[0].1, |(_, d)| *d);
        format!("{days} days")
    };
    let ago = if age >= chrono::Duration::days(2) {
        format!("{} days", age.num_days())
    } else {
        format!("{} hours", age.num_hours())
    };
    format!(
        "{label}: period {requested} s → {used} s: the window starts {ago} ago and CloudWatch keeps {requested}-second points for {kept}"
    )
}

/// Splits queries into `GetMetricData` calls of at most [`MAX_QUERIES_PER_CALL`].
pub fn chunk_queries<T>(queries: &[T]) -> Vec<&[T]> {
    queries.chunks(MAX_QUERIES_PER_CALL).collect()
}

/// The `--metric-data-queries` JSON of the CLI for `(id, spec)` pairs.
pub fn queries_json(queries: &[(String, MetricQuerySpec)]) -> String {
    let items: Vec<Value> = queries
        .iter()
        .map(|(id, spec)| {
            json!({
                "Id": id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": spec.namespace.trim(),
                        "MetricName": spec.metric.trim(),
                        "Dimensions": spec.dimensions.iter()
                            .map(|(k, v)| json!({"Name": k, "Value": v}))
                            .collect::<Vec<_>>(),
                    },
                    "Period": spec.period_secs,
                    "Stat": spec.stat(),
                },
                "Label": spec.label(),
                "ReturnData": true,
            })
        })
        .collect();
    Value::Array(items).to_string()
}

fn iso(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The `aws cloudwatch get-metric-data` command of one call.
pub fn get_metric_data_command(
    region: &str,
    queries: &[(String, MetricQuerySpec)],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> String {
    format!(
        "aws cloudwatch get-metric-data --region {region} --metric-data-queries {} --start-time {} --end-time {} --scan-by TimestampAscending",
        crate::reproduce::shell_quote(&queries_json(queries)),
        iso(start),
        iso(end)
    )
}

fn chrono_time(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())
}

fn smithy_time(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(t.timestamp())
}

fn truncate_error(mut e: String) -> String {
    if let Some((cut, _)) = e.char_indices().nth(MAX_ERROR_CHARS) {
        e.truncate(cut);
        e.push_str(" …");
    }
    e
}

// ---------------------------------------------------------------------------------------------
// The source.
// ---------------------------------------------------------------------------------------------

fn stopped_error(q: &SourceQuery) -> String {
    if q.cancel.load(std::sync::atomic::Ordering::Relaxed) {
        "cancelled".to_string()
    } else {
        "timed out: the source deadline passed".to_string()
    }
}

fn status(name: String, state: SourceState, points: u64, error: Option<String>) -> SourceStatus {
    SourceStatus {
        name,
        kind: RecordKind::Metrics.as_str().into(),
        status: state,
        records: points,
        error: error.map(truncate_error),
        counts: if points > 0 {
            BTreeMap::from([(RecordType::MetricPoints, points)])
        } else {
            BTreeMap::new()
        },
        parts: Some(1),
        scanned_bytes: None,
        detail: None,
    }
}

/// One series being assembled from a call's pages.
#[derive(Default)]
struct Acc {
    label: String,
    points: Vec<(DateTime<Utc>, f64)>,
    status: Option<StatusCode>,
    seen: bool,
}

/// The queries of one `collect` at the periods still kept for the window's age.
#[derive(Debug, Default)]
struct Plan {
    queries: Vec<(String, MetricQuerySpec)>,
    /// Periods raised for the window's age.
    notes: Vec<String>,
    /// Queries older than any retention.
    expired: Vec<SourceStatus>,
}

/// Bookkeeping of one `collect` call.
struct Run<'s> {
    q: &'s SourceQuery,
    sink: &'s mut dyn RecordSink,
    points: u64,
    calls: u64,
    notes: Vec<String>,
    problems: Vec<SourceStatus>,
    any_ok: bool,
}

impl Run<'_> {
    fn note(&mut self, n: String) {
        if self.notes.len() < MAX_NOTES && !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }
}

impl MetricsSource {
    /// A source reading with the CloudWatch client of `config`.
    pub fn new(config: &aws_config::SdkConfig, options: MetricsOptions) -> Self {
        let region = config
            .region()
            .map_or_else(|| "us-east-1".to_string(), |r| r.to_string());
        MetricsSource {
            client: Client::new(config),
            options,
            region,
            now: None,
        }
    }

    /// Measures the window's age (which decides the periods still kept) from `now` instead of
    /// the time of the call: for replaying an analysis, and for tests.
    pub fn reading_at(mut self, now: DateTime<Utc>) -> Self {
        self.now = Some(now);
        self
    }

    pub fn options(&self) -> &MetricsOptions {
        &self.options
    }

    /// The region used in commands.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The valid queries with their ids (ids follow the configured order) and the period
    /// each can still be read at, for a range starting at `start` (see [`retained_period`]);
    /// with the notes about raised periods and the queries nothing can be read for.
    fn plan(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> Plan {
        let age = now - start;
        let mut plan = Plan::default();
        for (i, spec) in self.options.queries.iter().enumerate() {
            if spec.problem().is_some() {
                continue;
            }
            match retained_period(spec.period_secs, age) {
                Ok(period) => {
                    if period != spec.period_secs {
                        plan.notes
                            .push(period_note(&spec.label(), spec.period_secs, period, age));
                    }
                    let mut spec = spec.clone();
                    spec.period_secs = period;
                    plan.queries.push((query_id(i), spec));
                }
                Err(why) => plan.expired.push(status(
                    format!("{SOURCE_NAME}:{}", spec.label()),
                    SourceState::Error,
                    0,
                    Some(why),
                )),
            }
        }
        plan
    }

    /// The time range: the collect range widened to whole periods of the coarsest period
    /// asked for (CloudWatch aligns an old range's start to 5-minute or 1-hour clock
    /// intervals, and whole values keep the command text equal to the call).
    fn range(q: &SourceQuery, align_secs: i64) -> (DateTime<Utc>, DateTime<Utc>) {
        let step = align_secs.max(60);
        let lo = q.window.collect_start().timestamp().div_euclid(step) * step;
        let hi = q.window.collect_end();
        let hi_secs = hi.timestamp() + i64::from(hi.timestamp_subsec_nanos() > 0);
        let hi_secs = (hi_secs + step - 1).div_euclid(step) * step;
        (
            DateTime::<Utc>::from_timestamp(lo, 0).unwrap_or(q.window.collect_start()),
            DateTime::<Utc>::from_timestamp(hi_secs, 0).unwrap_or(hi),
        )
    }

    /// The plan and the time range of a query made now.
    fn plan_for(&self, q: &SourceQuery) -> (Plan, (DateTime<Utc>, DateTime<Utc>)) {
        let plan = self.plan(q.window.collect_start(), self.now.unwrap_or_else(Utc::now));
        let align = plan
            .queries
            .iter()
            .map(|(_, s)| i64::from(s.period_secs))
            .filter(|p| p % 60 == 0)
            .max()
            .unwrap_or(60);
        (plan, Self::range(q, align))
    }

    /// Runs one `GetMetricData` call (all its pages) and emits its series.
    async fn read_chunk(
        &self,
        run: &mut Run<'_>,
        chunk: &[(String, MetricQuerySpec)],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(), SourceError> {
        let origin = run.sink.register_origin(Origin {
            source: SOURCE_NAME.into(),
            kind: RecordKind::Metrics,
            locator: Locator::Query {
                service: SERVICE.into(),
                text: get_metric_data_command(&self.region, chunk, start, end),
            },
        });
        let name = match chunk {
            [(_, only)] => format!("{SOURCE_NAME}:{}", only.label()),
            _ => format!(
                "{SOURCE_NAME}:{} to {} ({} queries)",
                chunk.first().map_or("", |c| c.0.as_str()),
                chunk.last().map_or("", |c| c.0.as_str()),
                chunk.len()
            ),
        };
        let index: HashMap<&str, usize> = chunk
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.as_str(), i))
            .collect();
        let mut acc: Vec<Acc> = chunk
            .iter()
            .map(|(_, s)| Acc {
                label: s.label(),
                ..Default::default()
            })
            .collect();
        let queries: Vec<MetricDataQuery> = chunk
            .iter()
            .map(|(id, s)| metric_data_query(id, s))
            .collect();
        let deadline = tokio::time::Instant::from_std(run.q.deadline);
        let mut token: Option<String> = None;
        let mut failure: Option<String> = None;
        loop {
            if run.q.should_stop() {
                failure = Some(stopped_error(run.q));
                break;
            }
            let call = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(smithy_time(start))
                .end_time(smithy_time(end))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(token.clone())
                .send();
            run.calls += 1;
            let out = match tokio::time::timeout_at(deadline, call).await {
                Err(_) => {
                    failure = Some(stopped_error(run.q));
                    break;
                }
                Ok(Err(e)) => {
                    failure = Some(sdk_error("GetMetricData", &e).to_string());
                    break;
                }
                Ok(Ok(out)) => out,
            };
            run.any_ok = true;
            for m in out.messages() {
                run.note(format!(
                    "GetMetricData: {}: {}",
                    m.code().unwrap_or("message"),
                    m.value().unwrap_or("")
                ));
            }
            for r in out.metric_data_results() {
                let Some(&i) = r.id().and_then(|id| index.get(id)) else {
                    run.note(format!(
                        "GetMetricData returned a result for unknown id `{}`",
                        r.id().unwrap_or("")
                    ));
                    continue;
                };
                let a = &mut acc[i];
                a.seen = true;
                if let Some(l) = r.label().filter(|l| !l.is_empty()) {
                    a.label = l.to_string();
                }
                if r.timestamps().len() != r.values().len() {
                    run.note(format!(
                        "series `{}` has {} timestamps but {} values; the unpaired ones were ignored",
                        a.label,
                        r.timestamps().len(),
                        r.values().len()
                    ));
                }
                a.points.extend(
                    r.timestamps()
                        .iter()
                        .zip(r.values())
                        .filter_map(|(t, v)| Some((chrono_time(t)?, *v))),
                );
                a.status = r.status_code().cloned();
                for m in r.messages() {
                    run.note(format!(
                        "series `{}`: {}: {}",
                        a.label,
                        m.code().unwrap_or("message"),
                        m.value().unwrap_or("")
                    ));
                }
            }
            match out.next_token() {
                Some(t) if !t.is_empty() && token.as_deref() != Some(t) => {
                    token = Some(t.to_string());
                }
                _ => break,
            }
        }
        let mut page = Vec::new();
        let mut chunk_points = 0u64;
        for (i, a) in acc.into_iter().enumerate() {
            if !a.seen {
                continue;
            }
            let mut points = a.points;
            points.sort_by_key(|p| p.0);
            let n = points.len() as u64;
            match &a.status {
                Some(StatusCode::InternalError) | Some(StatusCode::Forbidden) => {
                    let code = a.status.as_ref().map_or("", |c| c.as_str());
                    run.problems.push(status(
                        format!("{SOURCE_NAME}:{}", a.label),
                        SourceState::Error,
                        n,
                        Some(format!("GetMetricData status {code} for this series")),
                    ));
                }
                Some(StatusCode::PartialData) => {
                    run.note(format!(
                        "series `{}` is incomplete (status PartialData)",
                        a.label
                    ));
                    chunk_points += n;
                }
                _ => chunk_points += n,
            }
            page.push(Record::Metric(MetricSeries {
                id: chunk[i].0.clone(),
                label: a.label,
                points,
            }));
        }
        run.points += chunk_points;
        emit_page(run.sink, origin, page)?;
        if let Some(f) = failure {
            // Points already read are emitted; the status says the chunk is incomplete.
            run.points -= chunk_points;
            run.problems
                .push(status(name, SourceState::Error, chunk_points, Some(f)));
        }
        Ok(())
    }
}

#[async_trait]
impl TelemetrySource for MetricsSource {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    async fn collect(
        &self,
        q: &SourceQuery,
        sink: &mut dyn RecordSink,
    ) -> Result<CollectSummary, SourceError> {
        let mut run = Run {
            q,
            sink,
            points: 0,
            calls: 0,
            notes: Vec::new(),
            problems: Vec::new(),
            any_ok: false,
        };
        for spec in &self.options.queries {
            if let Some(p) = spec.problem() {
                run.problems.push(status(
                    format!("{SOURCE_NAME}:{}", spec.label()),
                    SourceState::Error,
                    0,
                    Some(p),
                ));
            }
        }
        let (plan, (start, end)) = self.plan_for(q);
        let queries = plan.queries;
        for n in plan.notes {
            run.note(n);
        }
        run.problems.extend(plan.expired);
        if queries.is_empty() {
            let mut statuses = vec![status(
                SOURCE_NAME.into(),
                SourceState::Skipped,
                0,
                Some(if run.problems.is_empty() {
                    "no metric queries configured".into()
                } else {
                    "no metric query can be read".into()
                }),
            )];
            statuses.append(&mut run.problems);
            return Ok(CollectSummary { statuses });
        }
        for chunk in chunk_queries(&queries) {
            self.read_chunk(&mut run, chunk, start, end).await?;
        }
        if !run.any_ok {
            let first = run
                .problems
                .iter()
                .rev()
                .find_map(|p| p.error.clone())
                .unwrap_or_else(|| "no GetMetricData call succeeded".into());
            return Err(SourceError::Unavailable(format!(
                "CloudWatch metrics: {first}"
            )));
        }
        let mut statuses = vec![SourceStatus::ok(
            SOURCE_NAME,
            RecordKind::Metrics,
            BTreeMap::from([(RecordType::MetricPoints, run.points)]),
            &run.notes,
            run.calls,
        )];
        statuses.append(&mut run.problems);
        Ok(CollectSummary { statuses })
    }

    fn reproduce(&self, q: &SourceQuery) -> Vec<Reproduction> {
        let (plan, (start, end)) = self.plan_for(q);
        let queries = plan.queries;
        chunk_queries(&queries)
            .into_iter()
            .map(|chunk| Reproduction {
                kind: RecordKind::Metrics,
                text: get_metric_data_command(&self.region, chunk, start, end),
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Alarms.
// ---------------------------------------------------------------------------------------------

/// An incident window derived from a CloudWatch alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmIncident {
    pub alarm_name: String,
    /// The alarm's state reason at its transition to ALARM, and its description.
    pub description: String,
    /// The alarm window's start: the transition to ALARM minus the lookback.
    pub start: DateTime<Utc>,
    /// The alarm window's end: the lookback after the transition, or now if that is earlier.
    pub end: DateTime<Utc>,
    /// The last transition to ALARM.
    pub went_to_alarm_at: DateTime<Utc>,
    /// The transition back to OK after it, if any.
    pub back_to_ok_at: Option<DateTime<Utc>>,
    /// The alarm's metric (for a metric-math alarm, its only metric or the one it returns).
    pub metric: Option<MetricQuerySpec>,
}

/// One state change of an alarm (a `StateUpdate` history item).
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    pub at: DateTime<Utc>,
    pub old_state: String,
    pub new_state: String,
    pub reason: String,
}

/// Parses a `StateUpdate` item's `HistoryData` JSON (`oldState`/`newState` with
/// `stateValue` and `stateReason`).
pub fn parse_state_change(at: DateTime<Utc>, history_data: &str) -> Option<StateChange> {
    let v: Value = serde_json::from_str(history_data).ok()?;
    let state = |k: &str, f: &str| {
        v.get(k)
            .and_then(|s| s.get(f))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let new_state = state("newState", "stateValue");
    if new_state.is_empty() {
        return None;
    }
    Some(StateChange {
        at,
        old_state: state("oldState", "stateValue"),
        new_state,
        reason: state("newState", "stateReason"),
    })
}

/// Scans state changes newest first for the last transition to ALARM and the first
/// transition to OK after it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TransitionScan {
    /// The oldest transition to OK seen so far (newer than everything still to come).
    pub ok_after: Option<DateTime<Utc>>,
    /// The last transition to ALARM, once found.
    pub to_alarm: Option<StateChange>,
}

impl TransitionScan {
    /// Feeds the next (older) change; true once the transition to ALARM was found.
    pub fn push(&mut self, change: StateChange) -> bool {
        if self.to_alarm.is_some() {
            return true;
        }
        if change.new_state == "ALARM" && change.old_state != "ALARM" {
            self.to_alarm = Some(change);
            return true;
        }
        if change.new_state == "OK" {
            self.ok_after = Some(change.at);
        }
        false
    }
}

/// The metric of an alarm: its own metric, or for a metric-math alarm its only metric (or
/// the metric query it returns).
pub fn alarm_metric(alarm: &MetricAlarm) -> Option<MetricQuerySpec> {
    let dims = |d: &[Dimension]| {
        d.iter()
            .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
            .collect::<BTreeMap<_, _>>()
    };
    if let (Some(ns), Some(name)) = (alarm.namespace(), alarm.metric_name()) {
        return Some(MetricQuerySpec {
            namespace: ns.to_string(),
            metric: name.to_string(),
            dimensions: dims(alarm.dimensions()),
            stat: alarm
                .statistic()
                .map(|s| s.as_str().to_string())
                .or_else(|| alarm.extended_statistic().map(str::to_string))
                .unwrap_or_else(|| DEFAULT_STAT.into()),
            period_secs: alarm.period().unwrap_or(DEFAULT_PERIOD_SECS),
        });
    }
    let with_stat: Vec<&MetricDataQuery> = alarm
        .metrics()
        .iter()
        .filter(|q| q.metric_stat().is_some())
        .collect();
    let pick = match with_stat.as_slice() {
        [only] => Some(*only),
        many => many
            .iter()
            .copied()
            .find(|q| q.return_data().unwrap_or(false)),
    }?;
    let stat = pick.metric_stat()?;
    let metric = stat.metric()?;
    Some(MetricQuerySpec {
        namespace: metric.namespace()?.to_string(),
        metric: metric.metric_name()?.to_string(),
        dimensions: dims(metric.dimensions()),
        stat: stat.stat().unwrap_or(DEFAULT_STAT).to_string(),
        period_secs: stat.period().unwrap_or(DEFAULT_PERIOD_SECS),
    })
}

/// What `DescribeAlarms` says about one alarm.
struct AlarmInfo {
    description: String,
    state: String,
    state_reason: String,
    transitioned: Option<DateTime<Utc>>,
    metric: Option<MetricQuerySpec>,
}

async fn describe_alarm(client: &Client, name: &str) -> Result<Option<AlarmInfo>, SourceError> {
    let out = client
        .describe_alarms()
        .alarm_names(name)
        .alarm_types(AlarmType::MetricAlarm)
        .alarm_types(AlarmType::CompositeAlarm)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeAlarms", &e))?;
    let state_str = |s: Option<&StateValue>| s.map_or("", |s| s.as_str()).to_string();
    if let Some(a) = out
        .metric_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(name))
    {
        return Ok(Some(AlarmInfo {
            description: a.alarm_description().unwrap_or("").to_string(),
            state: state_str(a.state_value()),
            state_reason: a.state_reason().unwrap_or("").to_string(),
            transitioned: a
                .state_transitioned_timestamp()
                .or(a.state_updated_timestamp())
                .and_then(chrono_time),
            metric: alarm_metric(a),
        }));
    }
    Ok(out
        .composite_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(name))
        .map(|a| AlarmInfo {
            description: a.alarm_description().unwrap_or("").to_string(),
            state: state_str(a.state_value()),
            state_reason: a.state_reason().unwrap_or("").to_string(),
            transitioned: a
                .state_transitioned_timestamp()
                .or(a.state_updated_timestamp())
                .and_then(chrono_time),
            metric: None,
        }))
}

async fn scan_history(client: &Client, name: &str) -> Result<TransitionScan, SourceError> {
    let mut scan = TransitionScan::default();
    let mut token: Option<String> = None;
    for _ in 0..MAX_HISTORY_PAGES {
        let out = client
            .describe_alarm_history()
            .alarm_name(name)
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .history_item_type(HistoryItemType::StateUpdate)
            .scan_by(ScanBy::TimestampDescending)
            .max_records(100)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| sdk_error("DescribeAlarmHistory", &e))?;
        for item in out.alarm_history_items() {
            let Some(at) = item.timestamp().and_then(chrono_time) else {
                continue;
            };
            let Some(change) = item.history_data().and_then(|d| parse_state_change(at, d)) else {
                continue;
            };
            if scan.push(change) {
                return Ok(scan);
            }
        }
        match out.next_token() {
            Some(t) if !t.is_empty() && token.as_deref() != Some(t) => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(scan)
}

fn incident_description(
    name: &str,
    at: DateTime<Utc>,
    back: Option<DateTime<Utc>>,
    reason: &str,
    alarm_description: &str,
) -> String {
    let mut d = format!("CloudWatch alarm `{name}` went to ALARM at {}", iso(at));
    if !reason.trim().is_empty() {
        let _ = write!(d, ": {}", reason.trim());
    }
    if let Some(back) = back {
        let _ = write!(d, "\nBack to OK at {}", iso(back));
    }
    if !alarm_description.trim().is_empty() {
        let _ = write!(d, "\nAlarm description: {}", alarm_description.trim());
    }
    d
}

/// The incident window of an alarm: the alarm window (`policy`) of its last transition to
/// ALARM. The alarm's description and metric come from
/// `DescribeAlarms`, the transitions from `DescribeAlarmHistory` (30 days are kept). When the
/// history holds no transition but the alarm is in ALARM now (for longer than the history
/// goes back), its state transition time is used.
pub async fn alarm_incident(
    cfg: &aws_config::SdkConfig,
    alarm_name: &str,
    policy: &crate::window::WindowPolicy,
    now: DateTime<Utc>,
) -> Result<AlarmIncident, SourceError> {
    let client = Client::new(cfg);
    let region = cfg.region().map_or("(default)", |r| r.as_ref());
    let name = alarm_name.trim();
    let info = describe_alarm(&client, name).await?.ok_or_else(|| {
        SourceError::Unavailable(format!(
            "CloudWatch alarm `{name}` not found in region {region}: check the name (it is case-sensitive) and the region"
        ))
    })?;
    let scan = scan_history(&client, name).await?;
    let (went, reason, back) = match scan.to_alarm {
        Some(change) => (change.at, change.reason, scan.ok_after),
        None => match (info.state.as_str(), info.transitioned) {
            ("ALARM", Some(at)) => (at, info.state_reason.clone(), None),
            _ => {
                return Err(SourceError::Unavailable(format!(
                    "CloudWatch alarm `{name}` was never in ALARM in its history (CloudWatch keeps 30 days; its state is {}): give the incident window with --start/--end instead",
                    if info.state.is_empty() {
                        "unknown"
                    } else {
                        info.state.as_str()
                    }
                )));
            }
        },
    };
    let (start, end) = policy.alarm_window(went, now).map_err(|e| {
        SourceError::Unavailable(format!(
            "CloudWatch alarm `{name}` went to ALARM at {}, but its window is refused: {e}",
            iso(went)
        ))
    })?;
    Ok(AlarmIncident {
        alarm_name: name.to_string(),
        description: incident_description(name, went, back, &reason, &info.description),
        start,
        end,
        went_to_alarm_at: went,
        back_to_ok_at: back,
        metric: info.metric,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::time::parse_timestamp(s).unwrap()
    }

    #[test]
    fn the_period_follows_what_cloudwatch_still_keeps() {
        use chrono::Duration as D;
        let sec = D::seconds(1);
        // Up to 3 hours: anything, high resolution included.
        assert_eq!(retained_period(10, D::hours(3)), Ok(10));
        assert_eq!(retained_period(60, D::hours(3)), Ok(60));
        // From 3 hours to 15 days: whole minutes.
        assert_eq!(retained_period(10, D::hours(3) + sec), Ok(60));
        assert_eq!(retained_period(60, D::days(15)), Ok(60));
        assert_eq!(retained_period(90, D::days(1)), Ok(120));
        // From 15 to 63 days: multiples of 5 minutes.
        assert_eq!(retained_period(60, D::days(15) + sec), Ok(300));
        assert_eq!(retained_period(600, D::days(20)), Ok(600));
        assert_eq!(retained_period(420, D::days(20)), Ok(600));
        assert_eq!(retained_period(60, D::days(63)), Ok(300));
        // From 63 to 455 days: multiples of an hour.
        assert_eq!(retained_period(60, D::days(63) + sec), Ok(3600));
        assert_eq!(retained_period(300, D::days(455)), Ok(3600));
        assert_eq!(retained_period(7200, D::days(100)), Ok(7200));
        // Beyond: nothing is left, and the reason says so.
        let e = retained_period(60, D::days(455) + sec).unwrap_err();
        assert!(e.contains("455 days"), "{e}");
        assert!(retained_period(3600, D::days(800)).is_err());
        assert_eq!(
            period_note("AWS/ELB 5XX Sum", 60, 300, D::days(20)),
            "AWS/ELB 5XX Sum: period 60 s → 300 s: the window starts 20 days ago and CloudWatch keeps 60-second points for 15 days"
        );
        assert!(period_note("x", 10, 60, D::hours(5)).ends_with("10-second points for 3 hours"));
    }

    fn spec(i: usize) -> MetricQuerySpec {
        MetricQuerySpec {
            namespace: "AWS/ApiGateway".into(),
            metric: "5XXError".into(),
            dimensions: BTreeMap::from([("ApiName".to_string(), format!("api-{i}"))]),
            stat: "Sum".into(),
            ..Default::default()
        }
    }

    #[test]
    fn queries_are_chunked_by_five_hundred() {
        let specs: Vec<(String, MetricQuerySpec)> =
            (0..1001).map(|i| (query_id(i), spec(i))).collect();
        let chunks = chunk_queries(&specs);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            vec![500, 500, 1]
        );
        assert_eq!(chunks[1][0].0, "m500");
        assert_eq!(chunks[2][0].0, "m1000");
        assert_eq!(chunk_queries(&specs[..500]).len(), 1);
        assert_eq!(chunk_queries(&specs[..501]).len(), 2);
        assert!(chunk_queries::<u8>(&[]).is_empty());
    }

    #[test]
    fn sdk_query_and_command() {
        let s = spec(1);
        let q = metric_data_query("m3", &s);
        assert_eq!(q.id(), Some("m3"));
        assert_eq!(q.label(), Some("AWS/ApiGateway 5XXError Sum ApiName=api-1"));
        let ms = q.metric_stat().unwrap();
        assert_eq!(ms.period(), Some(60));
        assert_eq!(ms.stat(), Some("Sum"));
        let m = ms.metric().unwrap();
        assert_eq!(m.dimensions()[0].value(), Some("api-1"));
        let cmd = get_metric_data_command(
            "ap-northeast-1",
            &[("m3".into(), s)],
            t("2024-08-16T10:19:00Z"),
            t("2024-08-16T11:49:00Z"),
        );
        assert!(cmd.starts_with(
            "aws cloudwatch get-metric-data --region ap-northeast-1 --metric-data-queries '[{"
        ));
        assert!(cmd.ends_with("' --start-time 2024-08-16T10:19:00Z --end-time 2024-08-16T11:49:00Z --scan-by TimestampAscending"));
        let json_part = cmd.split('\'').nth(1).unwrap();
        let v: Value = serde_json::from_str(json_part).unwrap();
        assert_eq!(v[0]["Id"], "m3");
        assert_eq!(
            v[0]["MetricStat"]["Metric"]["Dimensions"][0]["Name"],
            "ApiName"
        );
        assert_eq!(v[0]["MetricStat"]["Stat"], "Sum");
        let blank = MetricQuerySpec {
            stat: " ".into(),
            ..spec(2)
        };
        assert_eq!(
            metric_data_query("m0", &blank)
                .metric_stat()
                .unwrap()
                .stat(),
            Some("Average")
        );
        assert!(MetricQuerySpec::default().problem().is_some());
        assert!(
            MetricQuerySpec {
                period_secs: 0,
                ..spec(0)
            }
            .problem()
            .is_some()
        );
    }

    fn change(at: &str, old: &str, new: &str) -> StateChange {
        let data = format!(
            r#"{{"version":"1.0","oldState":{{"stateValue":"{old}","stateReason":"was {old}"}},"newState":{{"stateValue":"{new}","stateReason":"now {new}"}}}}"#
        );
        parse_state_change(t(at), &data).unwrap()
    }

    #[test]
    fn scan_finds_last_alarm_and_the_ok_after_it() {
        let mut s = TransitionScan::default();
        assert!(!s.push(change("2024-08-16T12:30:00Z", "INSUFFICIENT_DATA", "OK")));
        assert!(!s.push(change("2024-08-16T12:00:00Z", "OK", "INSUFFICIENT_DATA")));
        assert!(!s.push(change("2024-08-16T11:52:00Z", "ALARM", "OK")));
        assert!(s.push(change("2024-08-16T11:34:00Z", "OK", "ALARM")));
        assert_eq!(s.ok_after, Some(t("2024-08-16T11:52:00Z")));
        let a = s.to_alarm.clone().unwrap();
        assert_eq!(a.at, t("2024-08-16T11:34:00Z"));
        assert_eq!(a.reason, "now ALARM");
        // Older changes do not move it.
        assert!(s.push(change("2024-08-16T10:00:00Z", "OK", "ALARM")));
        assert_eq!(s.to_alarm.unwrap().at, t("2024-08-16T11:34:00Z"));
        // Still in ALARM: no OK after.
        let mut s = TransitionScan::default();
        assert!(s.push(change("2024-08-16T11:34:00Z", "INSUFFICIENT_DATA", "ALARM")));
        assert_eq!(s.ok_after, None);
        assert!(parse_state_change(t("2024-08-16T11:34:00Z"), "{}").is_none());
        assert!(parse_state_change(t("2024-08-16T11:34:00Z"), "not json").is_none());
    }

    #[test]
    fn alarm_metric_from_plain_and_math_alarms() {
        let plain = MetricAlarm::builder()
            .namespace("AWS/ApplicationELB")
            .metric_name("HTTPCode_Target_5XX_Count")
            .dimensions(
                Dimension::builder()
                    .name("LoadBalancer")
                    .value("app/prod/1")
                    .build(),
            )
            .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
            .period(300)
            .build();
        let m = alarm_metric(&plain).unwrap();
        assert_eq!(m.stat, "Sum");
        assert_eq!(m.period_secs, 300);
        assert_eq!(m.dimensions["LoadBalancer"], "app/prod/1");
        let p99 = MetricAlarm::builder()
            .namespace("AWS/Lambda")
            .metric_name("Duration")
            .extended_statistic("p99")
            .build();
        assert_eq!(alarm_metric(&p99).unwrap().stat, "p99");
        let stat_query = |id: &str, name: &str, ret: bool| {
            MetricDataQuery::builder()
                .id(id)
                .return_data(ret)
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace("AWS/Lambda")
                                .metric_name(name)
                                .build(),
                        )
                        .period(60)
                        .stat("Sum")
                        .build(),
                )
                .build()
        };
        let math = MetricAlarm::builder()
            .metrics(stat_query("errors", "Errors", false))
            .metrics(stat_query("invocations", "Invocations", true))
            .metrics(
                MetricDataQuery::builder()
                    .id("rate")
                    .expression("errors / invocations")
                    .return_data(false)
                    .build(),
            )
            .build();
        assert_eq!(alarm_metric(&math).unwrap().metric, "Invocations");
        let single = MetricAlarm::builder()
            .metrics(stat_query("errors", "Errors", false))
            .metrics(
                MetricDataQuery::builder()
                    .id("e")
                    .expression("errors * 2")
                    .return_data(true)
                    .build(),
            )
            .build();
        assert_eq!(alarm_metric(&single).unwrap().metric, "Errors");
        assert_eq!(alarm_metric(&MetricAlarm::builder().build()), None);
    }
}
