//! The Athena source against a real moto server: moto runs no SQL, so each test queues the
//! result sets (header row first, as Athena returns them) through moto's
//! `/moto-api/static/athena/query-results` API, then checks the records, the statuses and the
//! query executions moto recorded (query text, execution parameters, context).

#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used)]

mod support;

use chrono::{TimeZone, Utc};
use fa2_core::record::{Record, RecordKind, RecordType};
use fa2_core::request::Window;
use fa2_core::telemetry::aws::athena::{
    ALB_COLUMNS, AthenaOptions, AthenaSource, CLOUDTRAIL_COLUMNS,
};
use fa2_core::telemetry::{Locator, SourceQuery, SourceState, TelemetrySource, VecSink};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn window() -> Window {
    let start = Utc.with_ymd_and_hms(2024, 8, 16, 11, 19, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2024, 8, 16, 11, 49, 0).unwrap();
    Window::with_baseline(start, end, Duration::from_secs(3600)).unwrap()
}

fn options() -> AthenaOptions {
    AthenaOptions {
        database: "aiops_db".into(),
        workgroup: "primary".into(),
        output_location: "s3://athena-results/fa2/".into(),
        alb_table: "alb_access_logs".into(),
        cloudtrail_table: "cloud_trail_logs".into(),
        alb_partition_predicate: "day >= '2024/08/16'".into(),
        cloudtrail_partition_predicate: "region = 'us-east-1'".into(),
        ..Default::default()
    }
}

/// One queued result: Athena's header row (the column names), then the data rows; `None`
/// is SQL NULL (a `Datum` without `VarCharValue`).
fn result(columns: &[&str], rows: &[Vec<Option<&str>>]) -> Value {
    let datum = |v: Option<&str>| match v {
        Some(s) => json!({"VarCharValue": s}),
        None => json!({}),
    };
    let mut all = vec![json!({"Data": columns.iter().map(|c| datum(Some(c))).collect::<Vec<_>>()})];
    all.extend(
        rows.iter()
            .map(|r| json!({"Data": r.iter().map(|v| datum(*v)).collect::<Vec<_>>()})),
    );
    json!({
        "rows": all,
        "column_info": columns.iter().map(|c| json!({
            "CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c, "Label": c,
            "Type": "varchar", "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": true
        })).collect::<Vec<_>>(),
    })
}

fn queue_results(moto: &support::Moto, results: Vec<Value>) {
    let body = json!({"account_id": "123456789012", "region": "us-east-1", "results": results});
    let (status, text) = moto.request(
        "POST",
        "/moto-api/static/athena/query-results",
        &body.to_string(),
    );
    assert_eq!(status, 201, "{text}");
}

/// Keeps executions QUEUED/RUNNING for `times` GetQueryExecution calls per state.
fn slow_executions(moto: &support::Moto, times: u64) {
    let body = json!({"model_name": "athena::execution",
                      "transition": {"progression": "manual", "times": times}});
    let (status, text) = moto.request(
        "POST",
        "/moto-api/state-manager/set-transition",
        &body.to_string(),
    );
    assert_eq!(status, 201, "{text}");
}

fn ct_columns() -> Vec<&'static str> {
    CLOUDTRAIL_COLUMNS.iter().map(|(_, alias)| *alias).collect()
}

fn ct_row(pairs: &[(&str, &'static str)]) -> Vec<Option<&'static str>> {
    ct_columns()
        .iter()
        .map(|c| pairs.iter().find(|(k, _)| k == c).map(|(_, v)| *v))
        .collect()
}

/// ALB rows as the documented RegexSerDe table splits the documentation's examples.
fn alb_rows() -> Vec<Vec<Option<&'static str>>> {
    let tg = Some(
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/checkout-tg/73e2d6bc24d8a067",
    );
    let ok = vec![
        Some("https"),
        Some("2024-08-16T10:30:00.186641Z"),
        Some("app/shop-alb/50dc6c495c0c9188"),
        Some("192.168.131.39"),
        Some("2817"),
        Some("10.0.0.1"),
        Some("80"),
        Some("0.086"),
        Some("0.048"),
        Some("0.037"),
        Some("200"),
        Some("200"),
        Some("0"),
        Some("57"),
        Some("GET"),
        Some("https://shop.example.com:443/api/cart?x=1"),
        Some("HTTP/1.1"),
        Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"),
        Some("ECDHE-RSA-AES128-GCM-SHA256"),
        Some("TLSv1.2"),
        tg,
        Some("Root=1-58337281-1d84f3d73c47ec4e58577259"),
        Some("shop.example.com"),
        Some("arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"),
        Some("1"),
        Some("2024-08-16T10:30:00.100000Z"),
        Some("authenticate,forward"),
        Some("-"),
        Some("-"),
        Some("10.0.0.1:80"),
        Some("200"),
        Some("-"),
        Some("-"),
    ];
    let failed = vec![
        Some("https"),
        Some("2024-08-16T11:21:48.364000Z"),
        Some("app/shop-alb/50dc6c495c0c9188"),
        Some("198.51.100.20"),
        Some("40110"),
        Some(""),
        None,
        Some("-1.0"),
        Some("-1.0"),
        Some("-1.0"),
        Some("502"),
        Some("-"),
        Some("34"),
        Some("366"),
        Some("POST"),
        Some("https://shop.example.com:443/api/checkout"),
        Some("HTTP/1.1"),
        Some("curl/8.5.0"),
        Some("ECDHE-RSA-AES128-GCM-SHA256"),
        Some("TLSv1.2"),
        tg,
        Some("Root=1-58337364-23a8c76965a2ef7629b185e3"),
        Some("-"),
        Some("-"),
        Some("0"),
        Some("2024-08-16T11:21:48.364000Z"),
        Some("forward"),
        Some("-"),
        Some("LambdaInvalidResponse"),
        Some("-"),
        Some("-"),
        Some("-"),
        Some("-"),
    ];
    // A log line the RegexSerDe could not split: every column NULL.
    let unsplit = vec![None; ALB_COLUMNS.len()];
    vec![ok, failed, unsplit]
}

fn cloudtrail_changes() -> Vec<Vec<Option<&'static str>>> {
    vec![
        // A person changing a table in the console: FA2's `*.amazonaws.com` source filter
        // dropped exactly this kind of event.
        ct_row(&[
            ("eventtime", "2024-08-16T11:18:29Z"),
            ("eventsource", "dynamodb.amazonaws.com"),
            ("eventname", "UpdateTable"),
            ("awsregion", "us-east-1"),
            ("sourceipaddress", "203.0.113.67"),
            ("useragent", "AWS Internal"),
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
                r#"{"tableName":"orders","provisionedThroughput":{"readCapacityUnits":1,"writeCapacityUnits":1}}"#,
            ),
            (
                "resource_arns",
                r#"["arn:aws:dynamodb:us-east-1:123456789012:table/orders"]"#,
            ),
            ("eventid", "554974f2-844b-7e86-3b22-a18395513d54"),
        ]),
        ct_row(&[
            ("eventtime", "2024-08-16T11:19:30Z"),
            ("eventsource", "ec2.amazonaws.com"),
            ("eventname", "RevokeSecurityGroupIngress"),
            ("awsregion", "us-east-1"),
            ("sourceipaddress", "198.51.100.7"),
            ("useragent", "console.ec2.amazonaws.com"),
            ("identity_type", "IAMUser"),
            ("identity_username", "ops-carol"),
            ("identity_arn", "arn:aws:iam::123456789012:user/ops-carol"),
            ("readonly", "false"),
            ("errorcode", "Client.UnauthorizedOperation"),
            (
                "errormessage",
                "You are not authorized to perform this operation.",
            ),
            ("requestparameters", r#"{"groupId":"sg-0123"}"#),
            ("resource_arns", "[]"),
            ("eventid", "e2"),
        ]),
    ]
}

fn cloudtrail_reads() -> Vec<Vec<Option<&'static str>>> {
    vec![
        ct_row(&[
            ("eventtime", "2024-08-16T11:20:00Z"),
            ("eventsource", "dynamodb.amazonaws.com"),
            ("eventname", "DescribeTable"),
            ("sourceipaddress", "ecs-tasks.amazonaws.com"),
            ("identity_type", "AssumedRole"),
            (
                "identity_arn",
                "arn:aws:sts::123456789012:assumed-role/checkout-task/3f1c",
            ),
            ("readonly", "true"),
            ("requestparameters", r#"{"tableName":"orders"}"#),
            ("eventid", "r1"),
        ]),
        ct_row(&[
            ("eventtime", "2024-08-16T11:20:01Z"),
            ("eventsource", "kms.amazonaws.com"),
            ("eventname", "Decrypt"),
            ("identity_type", "AWSService"),
            ("identity_invokedby", "lambda.amazonaws.com"),
            ("readonly", "true"),
            ("eventid", "r2"),
        ]),
    ]
}

struct Execution {
    id: String,
    state: String,
    query: String,
    params: Vec<String>,
    database: Option<String>,
    catalog: Option<String>,
    workgroup: Option<String>,
    output: Option<String>,
}

/// Every execution moto recorded, in start order.
async fn executions(cfg: &aws_config::SdkConfig) -> Vec<Execution> {
    let client = aws_sdk_athena::Client::new(cfg);
    let ids = client
        .list_query_executions()
        .send()
        .await
        .unwrap()
        .query_execution_ids
        .unwrap_or_default();
    let mut out = Vec::new();
    for id in ids {
        let q = client
            .get_query_execution()
            .query_execution_id(&id)
            .send()
            .await
            .unwrap()
            .query_execution
            .unwrap();
        out.push(Execution {
            id,
            state: q
                .status()
                .and_then(|s| s.state())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            query: q.query().unwrap_or_default().to_string(),
            params: q.execution_parameters().to_vec(),
            database: q
                .query_execution_context()
                .and_then(|c| c.database())
                .map(String::from),
            catalog: q
                .query_execution_context()
                .and_then(|c| c.catalog())
                .map(String::from),
            workgroup: q.work_group().map(String::from),
            output: q
                .result_configuration()
                .and_then(|r| r.output_location())
                .map(String::from),
        });
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alb_and_cloudtrail_rows_are_mapped_and_the_sql_is_explicit() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    // Results are handed out in StartQueryExecution order: ALB, CloudTrail changes, reads.
    queue_results(
        &moto,
        vec![
            result(ALB_COLUMNS, &alb_rows()),
            result(&ct_columns(), &cloudtrail_changes()),
            result(&ct_columns(), &cloudtrail_reads()),
        ],
    );
    // QUEUED and RUNNING for two polls each, so the poller really waits.
    slow_executions(&moto, 2);

    let source = AthenaSource::new(&cfg, options());
    assert_eq!(source.name(), "athena");
    let query = SourceQuery::new(window(), Instant::now() + Duration::from_secs(60));
    let mut sink = VecSink::default();
    let summary = source.collect(&query, &mut sink).await.unwrap();

    // ALB: the unsplit row is dropped and said so.
    let alb: Vec<_> = sink
        .records
        .iter()
        .filter_map(|(_, r)| match r {
            Record::Alb(a) => Some(a.as_ref()),
            _ => None,
        })
        .collect();
    assert_eq!(alb.len(), 2);
    let ok = alb[0];
    assert_eq!(ok.kind, "https");
    assert_eq!(ok.client, "192.168.131.39:2817");
    assert_eq!(ok.target, "10.0.0.1:80");
    assert_eq!(ok.target_processing_time, 0.048);
    assert_eq!(ok.elb_status_code, Some(200));
    assert_eq!(ok.path(), "/api/cart");
    assert_eq!(ok.target_group(), "checkout-tg");
    assert_eq!(
        ok.user_agent,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"
    );
    assert_eq!(ok.actions_executed, "authenticate,forward");
    assert_eq!(ok.domain_name, "shop.example.com");
    assert_eq!(
        fa2_core::time::rfc3339(ok.time.unwrap()),
        "2024-08-16T10:30:00.186Z"
    );
    let failed = alb[1];
    assert_eq!(failed.target, "-");
    assert_eq!(failed.request_processing_time, -1.0);
    assert_eq!(failed.target_processing_time, -1.0);
    assert_eq!(failed.response_processing_time, -1.0);
    assert_eq!(failed.elb_status_code, Some(502));
    assert_eq!(failed.target_status_code, None);
    assert_eq!(failed.error_reason, "LambdaInvalidResponse");
    assert_eq!(failed.method, "POST");

    let audit: Vec<_> = sink
        .records
        .iter()
        .filter_map(|(_, r)| match r {
            Record::Audit(a) => Some(a.as_ref()),
            _ => None,
        })
        .collect();
    assert_eq!(audit.len(), 4);
    let change = audit[0];
    assert_eq!(change.event_name, "UpdateTable");
    assert_eq!(change.actor, "Admin/alice");
    assert_eq!(change.read_only, Some(false));
    assert!(change.is_mutating());
    assert_eq!(
        change.resources,
        vec![
            "arn:aws:dynamodb:us-east-1:123456789012:table/orders".to_string(),
            "orders".to_string()
        ]
    );
    assert!(change.request_parameters.contains("writeCapacityUnits"));
    let console = audit[1];
    assert_eq!(console.user_agent, "console.ec2.amazonaws.com");
    assert_eq!(console.source_ip, "198.51.100.7");
    assert_eq!(console.actor, "ops-carol");
    assert_eq!(console.error_code, "Client.UnauthorizedOperation");
    assert_eq!(console.resources, vec!["sg-0123".to_string()]);
    assert_eq!(audit[2].event_name, "DescribeTable");
    assert_eq!(audit[2].read_only, Some(true));
    assert_eq!(audit[2].actor, "checkout-task/3f1c");
    assert!(!audit[2].is_mutating());
    assert_eq!(audit[3].actor, "lambda.amazonaws.com");
    assert_eq!(audit[3].request_parameters, "");

    // Statuses: one per kind, with counts and the dropped ALB row as a warning.
    let alb_status = summary.statuses.iter().find(|s| s.kind == "alb").unwrap();
    assert_eq!(alb_status.status, SourceState::Ok);
    assert_eq!(alb_status.records, 2);
    assert_eq!(alb_status.counts.get(&RecordType::AlbEntries), Some(&2));
    assert!(
        alb_status
            .error
            .as_deref()
            .unwrap()
            .contains("1 rows have no valid time"),
        "{alb_status:?}"
    );
    let ct_status = summary
        .statuses
        .iter()
        .find(|s| s.kind == "cloudtrail")
        .unwrap();
    assert_eq!(ct_status.status, SourceState::Ok);
    assert_eq!(ct_status.records, 4);
    assert_eq!(ct_status.parts, Some(2));
    assert_eq!(ct_status.error, None);
    assert_eq!(summary.statuses.len(), 2, "{:?}", summary.statuses);

    // What moto received: explicit columns, `?` placeholders, literal parameters, context.
    let execs = executions(&cfg).await;
    assert_eq!(execs.len(), 3);
    let start = "'2024-08-16T10:19:00.000Z'".to_string();
    let end = "'2024-08-16T11:49:00.000Z'".to_string();
    for e in &execs {
        assert_eq!(e.state, "SUCCEEDED");
        assert!(!e.query.contains("SELECT *"), "{}", e.query);
        assert_eq!(e.query.matches('?').count(), 2, "{}", e.query);
        assert_eq!(e.params, vec![start.clone(), end.clone()]);
        assert_eq!(e.database.as_deref(), Some("aiops_db"));
        assert_eq!(e.catalog.as_deref(), Some("AwsDataCatalog"));
        assert_eq!(e.workgroup.as_deref(), Some("primary"));
        assert!(
            e.output
                .as_deref()
                .unwrap()
                .starts_with("s3://athena-results/fa2/")
        );
    }
    assert!(execs[0].query.starts_with(&format!(
        "SELECT {}\nFROM \"aiops_db\".\"alb_access_logs\"",
        ALB_COLUMNS.join(", ")
    )));
    assert!(execs[0].query.contains("(day >= '2024/08/16')"));
    assert!(
        execs[0]
            .query
            .contains("try(parse_datetime(time, 'yyyy-MM-dd''T''HH:mm:ss.SSSSSS''Z''')) >= from_iso8601_timestamp(?)")
    );
    for e in &execs[1..] {
        assert!(e.query.contains("FROM \"aiops_db\".\"cloud_trail_logs\""));
        assert!(e.query.contains("useridentity.arn AS identity_arn"));
        assert!(e.query.contains("(region = 'us-east-1')"));
        let filter = e.query.split("\nWHERE").nth(1).unwrap();
        assert!(!filter.contains("sourceipaddress"), "{filter}");
    }
    assert!(
        execs[1]
            .query
            .contains("readonly <> 'true' OR errorcode IS NOT NULL")
    );
    assert!(
        execs[2]
            .query
            .contains("readonly = 'true' AND errorcode IS NULL")
    );

    // Origins and reproduce: the SQL with the parameters substituted, i.e. what Athena ran.
    let texts: Vec<String> = sink
        .origins
        .iter()
        .map(|o| {
            assert_eq!(o.source, "athena");
            match &o.locator {
                Locator::Query { service, text } => {
                    assert_eq!(service, "athena");
                    text.clone()
                }
                other => panic!("unexpected locator {other:?}"),
            }
        })
        .collect();
    assert_eq!(texts.len(), 3);
    assert_eq!(sink.origins[0].kind, RecordKind::Alb);
    for (text, e) in texts.iter().zip(&execs) {
        assert_eq!(
            *text,
            e.query
                .replacen('?', &e.params[0], 1)
                .replacen('?', &e.params[1], 1)
        );
        assert!(!text.contains('?'));
    }
    let repro = source.reproduce(&query);
    assert_eq!(
        repro.iter().map(|r| r.text.clone()).collect::<Vec<_>>(),
        texts
    );
    assert_eq!(repro[0].kind, RecordKind::Alb);
    assert_eq!(repro[2].kind, RecordKind::Cloudtrail);
}

#[tokio::test]
async fn a_reached_row_cap_is_reported() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let rows = alb_rows();
    queue_results(
        &moto,
        vec![result(
            ALB_COLUMNS,
            &[rows[0].clone(), rows[1].clone(), rows[0].clone()],
        )],
    );
    let source = AthenaSource::new(
        &cfg,
        AthenaOptions {
            cloudtrail_table: String::new(),
            max_rows: 2,
            ..options()
        },
    );
    let query = SourceQuery::new(window(), Instant::now() + Duration::from_secs(30));
    let mut sink = VecSink::default();
    let summary = source.collect(&query, &mut sink).await.unwrap();
    assert_eq!(sink.records.len(), 2);
    assert_eq!(summary.statuses.len(), 1);
    let st = &summary.statuses[0];
    assert_eq!(st.status, SourceState::Ok);
    assert_eq!(st.records, 2);
    let note = st.error.as_deref().unwrap();
    assert!(
        note.contains("more than 2 rows; only the first 2 were read"),
        "{note}"
    );
    let execs = executions(&cfg).await;
    assert_eq!(execs.len(), 1);
    assert!(execs[0].query.ends_with("LIMIT 3"), "{}", execs[0].query);
}

#[tokio::test]
async fn the_deadline_stops_running_queries() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    slow_executions(&moto, 1_000_000);
    let source = AthenaSource::new(&cfg, options());
    let began = Instant::now();
    let deadline = began + Duration::from_millis(1500);
    let query = SourceQuery::new(window(), deadline);
    let mut sink = VecSink::default();
    let summary = source.collect(&query, &mut sink).await.unwrap();
    assert!(Instant::now() <= deadline + Duration::from_millis(500));
    assert!(sink.records.is_empty());
    assert_eq!(summary.statuses.len(), 3, "{:?}", summary.statuses);
    for st in &summary.statuses {
        assert_eq!(st.status, SourceState::Error);
        let e = st.error.as_deref().unwrap();
        assert!(e.contains("StopQueryExecution"), "{e}");
        assert!(e.contains("deadline"), "{e}");
    }
    assert!(
        summary.statuses[0]
            .error
            .as_deref()
            .unwrap()
            .contains("did not finish before the source deadline")
    );
    // Every query was stopped server-side.
    let execs = executions(&cfg).await;
    assert_eq!(execs.len(), 3);
    for e in &execs {
        assert_eq!(e.state, "CANCELLED", "{}", e.id);
    }
}

#[tokio::test]
async fn a_cancelled_query_is_an_error_not_no_data() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    slow_executions(&moto, 1_000_000);
    let source = AthenaSource::new(
        &cfg,
        AthenaOptions {
            cloudtrail_table: String::new(),
            ..options()
        },
    );
    let task = tokio::spawn(async move {
        let query = SourceQuery::new(window(), Instant::now() + Duration::from_secs(30));
        let mut sink = VecSink::default();
        let summary = source.collect(&query, &mut sink).await.unwrap();
        (summary, sink)
    });
    // Someone cancels the query in the console while fa2 waits for it.
    let client = aws_sdk_athena::Client::new(&cfg);
    let started = Instant::now();
    let id = loop {
        let ids = client
            .list_query_executions()
            .send()
            .await
            .unwrap()
            .query_execution_ids
            .unwrap_or_default();
        if let Some(id) = ids.into_iter().next() {
            break id;
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    client
        .stop_query_execution()
        .query_execution_id(&id)
        .send()
        .await
        .unwrap();
    let (summary, sink) = task.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(sink.records.is_empty());
    assert_eq!(summary.statuses.len(), 1);
    let st = &summary.statuses[0];
    assert_eq!(st.status, SourceState::Error);
    assert_eq!(st.kind, "alb");
    let e = st.error.as_deref().unwrap();
    assert!(e.contains(&format!("query {id} CANCELLED")), "{e}");
}

#[tokio::test]
async fn an_unknown_workgroup_fails_each_query_and_no_table_fails_the_source() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
    let source = AthenaSource::new(
        &cfg,
        AthenaOptions {
            workgroup: "no-such-workgroup".into(),
            ..options()
        },
    );
    let query = SourceQuery::new(window(), Instant::now() + Duration::from_secs(30));
    let mut sink = VecSink::default();
    let summary = source.collect(&query, &mut sink).await.unwrap();
    assert_eq!(summary.statuses.len(), 3);
    for st in &summary.statuses {
        assert_eq!(st.status, SourceState::Error);
        let e = st.error.as_deref().unwrap();
        assert!(e.contains("StartQueryExecution failed"), "{e}");
        assert!(e.contains("WorkGroup does not exist"), "{e}");
    }

    let bad_table = AthenaSource::new(
        &cfg,
        AthenaOptions {
            alb_table: "alb; DROP TABLE x".into(),
            cloudtrail_table: String::new(),
            ..options()
        },
    );
    let summary = bad_table.collect(&query, &mut sink).await.unwrap();
    assert!(
        summary.statuses[0]
            .error
            .as_deref()
            .unwrap()
            .contains("invalid Athena table name")
    );
    assert!(executions(&cfg).await.is_empty());

    let none = AthenaSource::new(
        &cfg,
        AthenaOptions {
            alb_table: String::new(),
            cloudtrail_table: String::new(),
            ..options()
        },
    );
    let err = none.collect(&query, &mut sink).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("neither alb_table nor cloudtrail_table")
    );
}

/// The aggregated mode: Athena counts per phase, status, target group and path; the records
/// carry the counts, and the distiller turns them into the same ALB evidence as entries would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_alb_counts_become_weighted_evidence() {
    let moto = support::Moto::start();
    let cfg = moto.sdk_config().await;
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
    let tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/checkout-tg/73e2d6bc24d8a067";
    let rows = vec![
        vec![
            Some("baseline"),
            Some("200"),
            Some("200"),
            Some(tg),
            Some("GET"),
            Some("/api/cart"),
            Some("52000"),
            Some("0"),
            Some("0.05"),
            Some("0.4"),
            Some("2024-08-16T10:19:00.100000Z"),
            Some("2024-08-16T11:18:59.900000Z"),
        ],
        vec![
            Some("incident"),
            Some("200"),
            Some("200"),
            Some(tg),
            Some("GET"),
            Some("/api/cart"),
            Some("21000"),
            Some("0"),
            Some("0.05"),
            Some("0.4"),
            Some("2024-08-16T11:19:00.100000Z"),
            Some("2024-08-16T11:48:59.900000Z"),
        ],
        vec![
            Some("incident"),
            Some("504"),
            None,
            Some(tg),
            Some("POST"),
            Some("/api/orders/1234"),
            Some("4200"),
            Some("4200"),
            None,
            Some("-1.0"),
            Some("2024-08-16T11:22:03.000000Z"),
            Some("2024-08-16T11:48:58.000000Z"),
        ],
        vec![
            Some("baseline"),
            Some("502"),
            Some("502"),
            Some(tg),
            Some("POST"),
            Some("/api/orders/99"),
            Some("3"),
            Some("0"),
            Some("0.2"),
            Some("0.3"),
            Some("2024-08-16T10:40:00.000000Z"),
            Some("2024-08-16T10:50:00.000000Z"),
        ],
        vec![
            Some("outside"),
            Some("500"),
            Some("500"),
            Some(tg),
            Some("GET"),
            Some("/x"),
            Some("77"),
            Some("0"),
            Some("0.1"),
            Some("0.1"),
            Some("2024-08-16T09:00:00.000000Z"),
            Some("2024-08-16T09:10:00.000000Z"),
        ],
    ];
    queue_results(&moto, vec![result(&cols, &rows)]);
    let source = AthenaSource::new(
        &cfg,
        AthenaOptions {
            cloudtrail_table: String::new(),
            alb_aggregate: true,
            ..options()
        },
    );
    let query = SourceQuery::new(window(), Instant::now() + Duration::from_secs(30));
    let mut sink = VecSink::default();
    let summary = source.collect(&query, &mut sink).await.unwrap();
    // the "outside" group is not a record; the others carry their counts
    assert_eq!(sink.records.len(), 4);
    let st = &summary.statuses[0];
    assert_eq!(st.status, SourceState::Ok);
    assert_eq!(st.records, 52000 + 21000 + 4200 + 3);
    let execs = executions(&cfg).await;
    assert!(
        execs[0].query.contains("GROUP BY") && execs[0].query.contains("count(*) AS requests"),
        "{}",
        execs[0].query
    );

    let mut d =
        fa2_core::distill::Distiller::new(window(), fa2_core::distill::DistillConfig::default());
    for (i, o) in sink.origins.iter().enumerate() {
        d.insert_origin(i as u32, o.clone());
    }
    for (o, r) in sink.records {
        d.accept(o, r);
    }
    let out = d.finish(&fa2_core::redact::Redactor::builtin());
    let e5 = out
        .evidence
        .iter()
        .find(|e| e.title.contains("HTTP 5xx"))
        .unwrap();
    assert_eq!((e5.count, e5.baseline_count), (4200, 3));
    assert!(e5.title.contains("16.7% of 25200"), "{}", e5.title);
    assert!(e5.detail.as_deref().unwrap().contains("504 ×4200"));
    assert!(
        e5.detail
            .as_deref()
            .unwrap()
            .contains("POST /api/orders/{id} ×4200")
    );
    let conn = out
        .evidence
        .iter()
        .find(|e| e.title.contains("failed to reach a target"))
        .unwrap();
    assert_eq!(conn.count, 4200);
    assert!(e5.score > 0.7);
}
