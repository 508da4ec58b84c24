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
        alb_partition_predicate: "day >= '{day_from}'".into(),
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
    CLOUDTRAIL_COLUMNS
        .iter()
        .map(|(_, alias, _)| *alias)
        .collect()
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
    // moto's Glue has no such table: said, and the configured predicate is used as written.
    let warning = ct_status.error.as_deref().unwrap();
    assert!(warning.contains("glue:GetTable"), "{warning}");
    let detail = ct_status.detail.as_deref().unwrap();
    assert!(
        detail.contains("read the configured predicate region = 'us-east-1'"),
        "{detail}"
    );
    assert_eq!(summary.statuses.len(), 2, "{:?}", summary.statuses);

    // What moto received: explicit columns, `?` placeholders, literal parameters, context.
    let execs = executions(&cfg).await;
    assert_eq!(execs.len(), 3);
    for e in &execs {
        assert_eq!(e.state, "SUCCEEDED");
        assert!(!e.query.contains("SELECT *"), "{}", e.query);
        // Generated values are literals: no `?`, no ExecutionParameters.
        assert!(!e.query.contains('?'), "{}", e.query);
        assert!(e.params.is_empty());
        assert!(
            e.query
                .contains("from_iso8601_timestamp('2024-08-16T10:19:00.000Z')")
        );
        assert!(
            e.query
                .contains("from_iso8601_timestamp('2024-08-16T11:49:00.000Z')")
        );
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
    // The override predicate, its placeholder filled with the first day read.
    assert!(execs[0].query.contains("(day >= '2024/08/16')"));
    assert!(execs[0].query.contains(
        "try(parse_datetime(time, 'yyyy-MM-dd''T''HH:mm:ss.SSSSSS''Z''')) >= from_iso8601_timestamp('2024-08-16T10:19:00.000Z')"
    ));
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
        assert_eq!(*text, e.query);
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

// ---------------------------------------------------------------------------------------------
// Semantics: the SQL runs (DuckDB behind the Athena stand-in) over tables created like the AWS
// documentation's DDL, on the sample incident's ALB and CloudTrail files uploaded to S3.
// ---------------------------------------------------------------------------------------------

fn bundle_dir(kind: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/sample-incident")
        .join(kind)
}

fn bundle_files(kind: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(bundle_dir(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The sample incident's window (its truth.json): 14:05 to 14:35, baseline from 13:05.
fn bundle_window() -> Window {
    let start = Utc.with_ymd_and_hms(2024, 9, 10, 14, 5, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2024, 9, 10, 14, 35, 0).unwrap();
    Window::with_baseline(start, end, Duration::from_secs(3600)).unwrap()
}

/// ALB lines of `files` whose time lies in `[from, to)`, counted the plain way.
fn alb_lines_in(
    files: &[std::path::PathBuf],
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
) -> usize {
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|l| {
            let t = l
                .split(' ')
                .nth(1)
                .and_then(fa2_core::time::parse_timestamp);
            t.is_some_and(|t| t >= from && t < to)
        })
        .count()
}

/// The bundle's ALB and CloudTrail files in their day's partition, and copies of them in the
/// days before and after: a query that is not pruned to the day reads every entry three times.
fn seed_bundle(standin: &support::AthenaStandin) {
    let alb = bundle_files("alb");
    let ct = bundle_files("cloudtrail");
    let days = ["2024/09/09", "2024/09/10", "2024/09/11"];
    let spread = |files: &[std::path::PathBuf]| {
        days.iter()
            .flat_map(|d| files.iter().map(move |f| (*d, f.clone())))
            .collect::<Vec<_>>()
    };
    standin.seed(
        "alb_projected:alb_access_logs",
        "aiops_db",
        "alb-logs",
        &spread(&alb),
    );
    standin.seed(
        "cloudtrail_projected:cloudtrail_logs",
        "aiops_db",
        "trail-logs",
        &spread(&ct),
    );
}

fn projected_options() -> AthenaOptions {
    AthenaOptions {
        database: "aiops_db".into(),
        workgroup: "primary".into(),
        output_location: "s3://athena-results/fa2/".into(),
        alb_table: "alb_access_logs".into(),
        cloudtrail_table: "cloudtrail_logs".into(),
        ..Default::default()
    }
}

fn days_touched(q: &Value) -> Vec<String> {
    q["tables"][0]["partitions_touched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let p = p.as_object().unwrap();
            match (p.get("year"), p.get("month"), p.get("day")) {
                (Some(y), Some(m), Some(d)) => format!(
                    "{}/{}/{}",
                    y.as_str().unwrap(),
                    m.as_str().unwrap(),
                    d.as_str().unwrap()
                ),
                _ => p.values().next().unwrap().as_str().unwrap().to_string(),
            }
        })
        .collect()
}

async fn collect(
    source: &AthenaSource,
    window: Window,
) -> (fa2_core::telemetry::CollectSummary, VecSink) {
    let query = SourceQuery::new(window, Instant::now() + Duration::from_secs(90));
    let mut sink = VecSink::default();
    let summary = source.collect(&query, &mut sink).await.unwrap();
    (summary, sink)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projected_tables_are_read_only_on_the_days_of_the_windows() {
    let moto = support::Moto::start();
    let standin = support::AthenaStandin::start(&moto);
    seed_bundle(&standin);
    let cfg = support::sdk_config_for(&standin.endpoint).await;
    let source = AthenaSource::new(&cfg, projected_options());
    let w = bundle_window();
    let (summary, sink) = collect(&source, w).await;

    // Every query touched the incident's day only, and scanned only its objects.
    let queries = standin.queries();
    assert_eq!(queries.len(), 3, "{queries:#?}");
    for q in &queries {
        // For the record: what each query touched and scanned.
        eprintln!(
            "partitions touched {:?} of {}, {} bytes scanned: {}",
            days_touched(q),
            q["tables"][0]["partitions_total"],
            q["data_scanned_bytes"],
            q["query"]
                .as_str()
                .unwrap()
                .lines()
                .nth(1)
                .unwrap_or_default()
        );
        assert_eq!(q["state"], "SUCCEEDED", "{q:#}");
        assert_eq!(days_touched(q), vec!["2024/09/10".to_string()], "{q:#}");
        assert!(q["tables"][0]["partitions_total"].as_u64().unwrap() > 900);
        assert!(
            q["query"]
                .as_str()
                .unwrap()
                .contains("\"day\" IN ('2024/09/10')")
                || q["query"]
                    .as_str()
                    .unwrap()
                    .contains("\"timestamp\" IN ('2024/09/10')")
        );
        for o in q["tables"][0]["objects"].as_array().unwrap() {
            assert!(o.as_str().unwrap().contains("/2024/09/10/"), "{o}");
        }
    }

    // The records: each entry of the span once, none of the copies in the other days.
    let alb_expected = alb_lines_in(&bundle_files("alb"), w.collect_start(), w.collect_end());
    let alb = sink
        .records
        .iter()
        .filter(|(_, r)| matches!(r, Record::Alb(_)))
        .count();
    assert_eq!(alb, alb_expected);
    assert!(alb > 600, "{alb}");
    let audit: Vec<_> = sink
        .records
        .iter()
        .filter_map(|(_, r)| match r {
            Record::Audit(a) => Some(a.as_ref()),
            _ => None,
        })
        .collect();
    let ids: std::collections::BTreeSet<_> = audit.iter().map(|a| a.event_id.clone()).collect();
    assert_eq!(ids.len(), audit.len(), "no event twice");
    assert!(
        audit
            .iter()
            .any(|a| a.event_name == "RevokeSecurityGroupIngress")
    );
    for a in &audit {
        let t = a.time.unwrap();
        assert!(t >= w.collect_start() && t < w.collect_end(), "{t}");
    }

    // Statuses: bytes scanned as Athena reported them, and the partitions read.
    for kind in ["alb", "cloudtrail"] {
        let st = summary.statuses.iter().find(|s| s.kind == kind).unwrap();
        assert_eq!(st.status, SourceState::Ok, "{st:?}");
        let scanned: u64 = queries
            .iter()
            .filter(|q| {
                q["query"].as_str().unwrap().contains(if kind == "alb" {
                    "alb_access_logs"
                } else {
                    "cloudtrail_logs"
                })
            })
            .map(|q| q["data_scanned_bytes"].as_u64().unwrap())
            .sum();
        assert_eq!(st.scanned_bytes, Some(scanned));
        assert!(scanned > 0);
        let detail = st.detail.as_deref().unwrap();
        assert!(detail.contains("1 partition(s)"), "{detail}");
        assert!(detail.contains("Athena scanned"), "{detail}");
        assert_eq!(st.error, None, "{st:?}");
    }
    // reproduce shows the queries that ran, partition predicate included.
    let repro: Vec<String> = source
        .reproduce(&SourceQuery::new(
            w,
            Instant::now() + Duration::from_secs(5),
        ))
        .into_iter()
        .map(|r| r.text)
        .collect();
    let ran: Vec<String> = queries
        .iter()
        .map(|q| q["query"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(repro, ran);
}

/// ALB log lines at the given minutes past 23:00 on 2024-08-16 (or past midnight with `next`).
fn alb_lines_at(minutes: &[(u32, bool)], status: u16) -> String {
    minutes
        .iter()
        .map(|&(m, next)| {
            let (d, h) = if next { (17, 0) } else { (16, 23) };
            format!(
                "https 2024-08-{d:02}T{h:02}:{m:02}:10.000000Z app/shop-alb/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.001 0.048 0.000 {status} {status} 34 366 \"GET https://shop.example.com:443/api/orders/{m}?x=1 HTTP/1.1\" \"curl/8.0\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-tg/73e2d6bc24d8a067 \"Root=1-58337262-36d228ad5d99923122bbe354\" \"shop.example.com\" \"arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012\" 0 2024-08-{d:02}T{h:02}:{m:02}:10.000000Z \"forward\" \"-\" \"-\" \"10.0.0.1:80\" \"{status}\" \"-\" \"-\" TID_1234abcd\n"
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_ending_near_midnight_reads_the_late_delivered_day_too() {
    let moto = support::Moto::start();
    let standin = support::AthenaStandin::start(&moto);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // On time, in the 16th's folder; the last minutes' file was delivered after midnight, so
    // it sits in the 17th's folder; the 18th holds nothing of the window.
    let on_time = write(
        "a.log",
        alb_lines_at(&[(0, false), (20, false), (40, false)], 200),
    );
    let late = write("b.log", alb_lines_at(&[(50, false), (55, false)], 503));
    let next_day = write("c.log", alb_lines_at(&[(1, true), (2, true)], 200));
    let later = write("d.log", alb_lines_at(&[(30, true)], 200));
    standin.seed(
        "alb_projected:alb_access_logs",
        "aiops_db",
        "alb-logs",
        &[
            ("2024/08/16", on_time),
            ("2024/08/17", late),
            ("2024/08/17", next_day),
            ("2024/08/18", later),
        ],
    );
    let cfg = support::sdk_config_for(&standin.endpoint).await;
    let source = AthenaSource::new(
        &cfg,
        AthenaOptions {
            cloudtrail_table: String::new(),
            ..projected_options()
        },
    );
    let start = Utc.with_ymd_and_hms(2024, 8, 16, 23, 30, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2024, 8, 16, 23, 58, 0).unwrap();
    let w = Window::with_baseline(start, end, Duration::from_secs(3600)).unwrap();
    let (summary, sink) = collect(&source, w).await;
    let queries = standin.queries();
    assert_eq!(days_touched(&queries[0]), vec!["2024/08/16", "2024/08/17"]);
    let mut minutes: Vec<String> = sink
        .records
        .iter()
        .filter_map(|(_, r)| match r {
            Record::Alb(a) => Some(fa2_core::time::rfc3339(a.time.unwrap())),
            _ => None,
        })
        .collect();
    minutes.sort();
    // 22:58 to 23:58: the on-time 23:00, 23:20, 23:40 and the late 23:50, 23:55.
    assert_eq!(
        minutes,
        vec![
            "2024-08-16T23:00:10.000Z",
            "2024-08-16T23:20:10.000Z",
            "2024-08-16T23:40:10.000Z",
            "2024-08-16T23:50:10.000Z",
            "2024-08-16T23:55:10.000Z",
        ]
    );
    let st = &summary.statuses[0];
    assert!(
        st.detail.as_deref().unwrap().contains("2 partition(s)"),
        "{st:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hive_partitions_and_configured_predicates_prune_too() {
    let moto = support::Moto::start();
    let standin = support::AthenaStandin::start(&moto);
    let alb = bundle_files("alb");
    let files: Vec<(&str, std::path::PathBuf)> = ["2024/09/09", "2024/09/10", "2024/09/11"]
        .iter()
        .flat_map(|d| alb.iter().map(move |f| (*d, f.clone())))
        .collect();
    standin.seed("alb_hive:alb_hive", "aiops_db", "alb-logs", &files);
    let cfg = support::sdk_config_for(&standin.endpoint).await;
    let w = bundle_window();
    let expected = alb_lines_in(&alb, w.collect_start(), w.collect_end());

    // Hive year/month/day strings: one conjunction for the day.
    let hive = AthenaSource::new(
        &cfg,
        AthenaOptions {
            alb_table: "alb_hive".into(),
            cloudtrail_table: String::new(),
            ..projected_options()
        },
    );
    let (_, sink) = collect(&hive, w).await;
    assert_eq!(sink.records.len(), expected);
    let q = &standin.queries()[0];
    assert_eq!(days_touched(q), vec!["2024/09/10"], "{q:#}");
    assert_eq!(q["tables"][0]["partitions_total"], 3);

    // A configured predicate wins, its placeholders filled in.
    standin.reset();
    let configured = AthenaSource::new(
        &cfg,
        AthenaOptions {
            alb_table: "alb_hive".into(),
            cloudtrail_table: String::new(),
            alb_partition_predicate:
                "concat(year, '/', month, '/', day) BETWEEN '{day_from}' AND '{day_to}'".into(),
            ..projected_options()
        },
    );
    let (summary, sink) = collect(&configured, w).await;
    assert_eq!(sink.records.len(), expected);
    let q = &standin.queries()[0];
    assert!(
        q["query"]
            .as_str()
            .unwrap()
            .contains("BETWEEN '2024/09/10' AND '2024/09/10'"),
        "{q:#}"
    );
    assert_eq!(days_touched(q), vec!["2024/09/10"]);
    assert!(
        summary.statuses[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("the configured predicate")
    );
}

/// Distills `sink` and returns, for the ALB error evidence, `(title, count, baseline, detail)`.
fn alb_error_evidence(window: &Window, sink: VecSink) -> Vec<(String, u64, u64, String)> {
    let mut d =
        fa2_core::distill::Distiller::new(*window, fa2_core::distill::DistillConfig::default());
    for (i, o) in sink.origins.iter().enumerate() {
        d.insert_origin(i as u32, o.clone());
    }
    for (o, r) in sink.records {
        d.accept(o, r);
    }
    let out = d.finish(&fa2_core::redact::Redactor::builtin());
    let mut v: Vec<_> = out
        .evidence
        .iter()
        .filter(|e| e.title.contains("HTTP 5xx") || e.title.contains("HTTP 4xx"))
        .map(|e| {
            (
                e.title.clone(),
                e.count,
                e.baseline_count,
                // Counts spread a group over its first and last time: the per-minute peak
                // of counted requests is an estimate, everything else must be equal.
                e.detail
                    .clone()
                    .unwrap_or_default()
                    .split(", peak ")
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_counts_equal_the_entries_and_a_cut_loses_no_request() {
    let moto = support::Moto::start();
    let standin = support::AthenaStandin::start(&moto);
    seed_bundle(&standin);
    let cfg = support::sdk_config_for(&standin.endpoint).await;
    let w = bundle_window();
    let alb_only = AthenaOptions {
        cloudtrail_table: String::new(),
        ..projected_options()
    };
    let entries = AthenaSource::new(&cfg, alb_only.clone());
    let (_, entry_sink) = collect(&entries, w).await;
    let requests = entry_sink.records.len() as u64;
    let from_entries = alb_error_evidence(&w, entry_sink);
    assert!(!from_entries.is_empty());

    // Counted in SQL: the same evidence (counts, codes, paths with ids normalised alike).
    let aggregated = AthenaSource::new(
        &cfg,
        AthenaOptions {
            alb_aggregate: true,
            ..alb_only.clone()
        },
    );
    let (summary, sink) = collect(&aggregated, w).await;
    let q = standin.queries().last().cloned().unwrap();
    assert_eq!(q["state"], "SUCCEEDED", "{q:#}");
    assert_eq!(days_touched(&q), vec!["2024/09/10"]);
    assert!(
        q["parameters"].as_array().is_none_or(|p| p.is_empty()),
        "{q:#}"
    );
    assert_eq!(summary.statuses[0].records, requests);
    assert_eq!(summary.statuses[0].error, None, "{:?}", summary.statuses[0]);
    let from_counts = alb_error_evidence(&w, sink);
    assert_eq!(from_counts, from_entries);

    // Far fewer rows than groups: error groups come first, the totals stay exact.
    let cut = AthenaSource::new(
        &cfg,
        AthenaOptions {
            alb_aggregate: true,
            max_rows: 25,
            ..alb_only
        },
    );
    let (summary, sink) = collect(&cut, w).await;
    let st = &summary.statuses[0];
    assert_eq!(st.records, requests, "no request vanishes");
    let warning = st.error.as_deref().unwrap();
    assert!(warning.contains("more than 25 path groups"), "{warning}");
    assert!(warning.contains("(other paths)"), "{warning}");
    let groups: Vec<_> = sink
        .records
        .iter()
        .filter_map(|(_, r)| match r {
            Record::AlbCount(c) => Some(c.as_ref().clone()),
            _ => None,
        })
        .collect();
    assert!(groups.iter().any(|c| c.path == "(other paths)"));
    let from_cut = alb_error_evidence(&w, sink);
    // The error counts per window are the entries' counts.
    let counts =
        |v: &[(String, u64, u64, String)]| v.iter().map(|e| (e.1, e.2)).collect::<Vec<_>>();
    assert_eq!(counts(&from_cut), counts(&from_entries));
}

/// An evaluation, not a test: `FA2_ATHENA_EVAL_BUNDLE=DIR cargo test -p fa2-core --test
/// aws_athena -- --ignored --nocapture evaluate_a_bundle` seeds DIR's `alb/` and `cloudtrail/`
/// files (plain or gzip) into the documented projected tables and prints, for the window of
/// DIR's `truth.json`, what each mode reads: partitions, bytes, requests, and whether the
/// aggregated mode at the default `max_rows` keeps every 4xx and 5xx request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "evaluation: needs FA2_ATHENA_EVAL_BUNDLE"]
async fn evaluate_a_bundle() {
    use std::io::Read;
    let Ok(dir) = std::env::var("FA2_ATHENA_EVAL_BUNDLE") else {
        eprintln!("set FA2_ATHENA_EVAL_BUNDLE to a bundle directory");
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
    let t = |k: &str| fa2_core::time::parse_timestamp(truth[k].as_str().unwrap()).unwrap();
    let w = Window::with_baseline(t("start"), t("end"), Duration::from_secs(3600)).unwrap();
    let day = w.start.format("%Y/%m/%d").to_string();
    let tmp = tempfile::tempdir().unwrap();
    let plain = |kind: &str| -> Vec<(String, std::path::PathBuf)> {
        let Ok(rd) = std::fs::read_dir(dir.join(kind)) else {
            return Vec::new();
        };
        rd.map(|e| {
            let p = e.unwrap().path();
            let mut bytes = std::fs::read(&p).unwrap();
            if bytes.starts_with(&[0x1f, 0x8b]) {
                let mut out = Vec::new();
                flate2::read::MultiGzDecoder::new(&bytes[..])
                    .read_to_end(&mut out)
                    .unwrap();
                bytes = out;
            }
            let name = p.file_name().unwrap().to_string_lossy().replace(".gz", "");
            let dest = tmp.path().join(format!("{kind}-{name}"));
            std::fs::write(&dest, bytes).unwrap();
            (day.clone(), dest)
        })
        .collect()
    };
    let alb = plain("alb");
    let ct = plain("cloudtrail");
    let moto = support::Moto::start();
    let standin = support::AthenaStandin::start(&moto);
    fn refs(v: &[(String, std::path::PathBuf)]) -> Vec<(&str, std::path::PathBuf)> {
        v.iter().map(|(d, p)| (d.as_str(), p.clone())).collect()
    }
    standin.seed(
        "alb_projected:alb_access_logs",
        "aiops_db",
        "alb-logs",
        &refs(&alb),
    );
    if !ct.is_empty() {
        standin.seed(
            "cloudtrail_projected:cloudtrail_logs",
            "aiops_db",
            "trail-logs",
            &refs(&ct),
        );
    }
    let cfg = support::sdk_config_for(&standin.endpoint).await;
    let opts = AthenaOptions {
        cloudtrail_table: if ct.is_empty() {
            String::new()
        } else {
            "cloudtrail_logs".into()
        },
        ..projected_options()
    };
    let (summary, entries) = collect(&AthenaSource::new(&cfg, opts.clone()), w).await;
    let requests = entries
        .records
        .iter()
        .filter(|(_, r)| matches!(r, Record::Alb(_)))
        .count();
    for s in &summary.statuses {
        eprintln!(
            "entries mode, {}: {} records; {}",
            s.kind,
            s.records,
            s.detail.as_deref().unwrap_or("")
        );
    }
    let err_classes = |sink: &VecSink| {
        let mut by = std::collections::BTreeMap::<(String, u16), u64>::new();
        for (_, r) in &sink.records {
            match r {
                Record::Alb(a) => {
                    let class = a.elb_status_code.unwrap_or(0) / 100;
                    let phase = if a.time.unwrap() >= w.start {
                        "incident"
                    } else {
                        "baseline"
                    };
                    *by.entry((phase.into(), class)).or_default() += 1;
                }
                Record::AlbCount(c) => {
                    let class = c.elb_status_code.unwrap_or(0) / 100;
                    *by.entry((format!("{:?}", c.phase).to_lowercase(), class))
                        .or_default() += c.requests;
                }
                _ => {}
            }
        }
        by
    };
    let from_entries = err_classes(&entries);
    let opts = AthenaOptions {
        cloudtrail_table: String::new(),
        alb_aggregate: true,
        max_rows: 1000,
        ..opts
    };
    let (summary, counts) = collect(&AthenaSource::new(&cfg, opts), w).await;
    let groups = counts.records.len();
    let from_counts = err_classes(&counts);
    eprintln!("ALB requests in the span: {requests}; aggregated at max_rows 1000: {groups} groups");
    eprintln!("status classes from entries: {from_entries:?}");
    eprintln!("status classes from counts:  {from_counts:?}");
    eprintln!("aggregated status: {:?}", summary.statuses[0].error);
    for q in standin.queries() {
        eprintln!(
            "query touched {:?} of {} partitions, scanned {} bytes",
            days_touched(&q),
            q["tables"][0]["partitions_total"],
            q["data_scanned_bytes"]
        );
    }
    assert_eq!(from_entries, from_counts);
}

/// One CloudTrail record as the files of a trail hold it (the sample incident's shape).
fn trail_record(
    id: &str,
    time: &str,
    source: &str,
    name: &str,
    identity: Value,
    read_only: bool,
    error: Option<&str>,
) -> Value {
    let mut r = json!({
        "eventVersion": "1.09", "userIdentity": identity, "eventTime": time,
        "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": "codepipeline.amazonaws.com", "userAgent": "codepipeline.amazonaws.com",
        "requestParameters": {"cluster": "prod", "service": "pricing"}, "responseElements": null,
        "requestID": format!("req-{id}"), "eventID": id, "readOnly": read_only,
        "eventType": "AwsApiCall", "managementEvent": true,
        "recipientAccountId": "123456789012", "eventCategory": "Management"
    });
    if let Some(e) = error {
        r["errorCode"] = json!(e);
        r["errorMessage"] = json!("User is not authorized");
    }
    r
}

fn pipeline_role() -> Value {
    json!({"type": "AssumedRole", "principalId": "AROAEXAMPLE:cp-run-412",
           "arn": "arn:aws:sts::123456789012:assumed-role/codepipeline-deploy/cp-run-412",
           "accountId": "123456789012",
           "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "codepipeline-deploy",
                              "arn": "arn:aws:iam::123456789012:role/codepipeline-deploy"}}})
}

/// The change lookback through Athena: a pipeline's deploy 3 hours before the window is read
/// by a fourth query over the lookback's days only; a routine call, a read, a failed call, a
/// change of another class and a deploy before the lookback, all in the same files, are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_lookback_reads_earlier_deploys_on_the_lookback_days_only() {
    let moto = support::Moto::start();
    let standin = support::AthenaStandin::start(&moto);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, records: Vec<Value>| {
        let p = dir.path().join(name);
        std::fs::write(&p, json!({ "Records": records }).to_string()).unwrap();
        p
    };
    let task_role = json!({"type": "AssumedRole", "principalId": "AROATASK:4f1c",
        "arn": "arn:aws:sts::123456789012:assumed-role/pricing-task-role/4f1c",
        "accountId": "123456789012"});
    let ecs = json!({"type": "AWSService", "invokedBy": "ecs.amazonaws.com"});
    let person = json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE",
        "arn": "arn:aws:iam::123456789012:user/ops-ren", "accountId": "123456789012",
        "userName": "ops-ren"});
    let evening = write(
        "evening.json",
        vec![
            // before the lookback (8 h before the window)
            trail_record(
                "deploy-8h",
                "2024-09-09T18:00:00Z",
                "ecs.amazonaws.com",
                "UpdateService",
                pipeline_role(),
                false,
                None,
            ),
            // the cause: 3 h before the window
            trail_record(
                "deploy-3h",
                "2024-09-09T23:00:00Z",
                "ecs.amazonaws.com",
                "UpdateService",
                pipeline_role(),
                false,
                None,
            ),
            trail_record(
                "task-def-3h",
                "2024-09-09T22:59:30Z",
                "ecs.amazonaws.com",
                "RegisterTaskDefinition",
                pipeline_role(),
                false,
                None,
            ),
            // at the same time, none of them a deploy or a configuration change
            trail_record(
                "log-stream",
                "2024-09-09T23:00:05Z",
                "logs.amazonaws.com",
                "CreateLogStream",
                task_role.clone(),
                false,
                None,
            ),
            trail_record(
                "task-eni",
                "2024-09-09T23:00:06Z",
                "ec2.amazonaws.com",
                "CreateNetworkInterface",
                ecs.clone(),
                false,
                None,
            ),
            trail_record(
                "service-by-ecs",
                "2024-09-09T23:00:07Z",
                "ecs.amazonaws.com",
                "UpdateService",
                ecs,
                false,
                None,
            ),
            trail_record(
                "describe",
                "2024-09-09T23:00:08Z",
                "ecs.amazonaws.com",
                "DescribeServices",
                pipeline_role(),
                true,
                None,
            ),
            trail_record(
                "denied",
                "2024-09-09T23:00:09Z",
                "ecs.amazonaws.com",
                "UpdateService",
                person.clone(),
                false,
                Some("AccessDenied"),
            ),
            trail_record(
                "tagging",
                "2024-09-09T23:00:10Z",
                "s3.amazonaws.com",
                "PutBucketTagging",
                person.clone(),
                false,
                None,
            ),
        ],
    );
    let in_window = write(
        "window.json",
        vec![trail_record(
            "param-in-window",
            "2024-09-10T02:10:00Z",
            "ssm.amazonaws.com",
            "PutParameter",
            person,
            false,
            None,
        )],
    );
    // the same evening's file also in the days around: a query not pruned to its days reads it twice
    standin.seed(
        "cloudtrail_projected:cloudtrail_logs",
        "aiops_db",
        "trail-logs",
        &[
            ("2024/09/08", evening.clone()),
            ("2024/09/09", evening.clone()),
            ("2024/09/10", in_window),
            ("2024/09/11", evening),
        ],
    );
    let cfg = support::sdk_config_for(&standin.endpoint).await;
    let source = AthenaSource::new(
        &cfg,
        AthenaOptions {
            alb_table: String::new(),
            change_lookback: Duration::from_secs(6 * 3600),
            ..projected_options()
        },
    );
    // 02:00 to 02:30, baseline from 01:00; the lookback is [2024-09-09T20:00, 01:00)
    let start = Utc.with_ymd_and_hms(2024, 9, 10, 2, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2024, 9, 10, 2, 30, 0).unwrap();
    let w = Window::with_baseline(start, end, Duration::from_secs(3600)).unwrap();
    let (summary, sink) = collect(&source, w).await;

    let mut ids: Vec<String> = sink
        .records
        .iter()
        .filter_map(|(_, r)| match r {
            Record::Audit(a) => Some(a.event_id.clone()),
            _ => None,
        })
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["deploy-3h", "param-in-window", "task-def-3h"]);

    let queries = standin.queries();
    assert_eq!(queries.len(), 3, "{queries:#?}");
    let (lookback, window_queries): (Vec<&Value>, Vec<&Value>) = queries.iter().partition(|q| {
        q["query"]
            .as_str()
            .unwrap()
            .contains("regexp_like(eventname")
    });
    assert_eq!(lookback.len(), 1);
    let lq = lookback[0];
    assert_eq!(lq["state"], "SUCCEEDED", "{lq:#}");
    // the lookback's days (its end, 01:00, plus late delivery stays on the 10th), not the 8th or 11th
    assert_eq!(days_touched(lq), vec!["2024/09/09", "2024/09/10"], "{lq:#}");
    let sql = lq["query"].as_str().unwrap();
    assert!(
        sql.contains("from_iso8601_timestamp('2024-09-09T20:00:00.000Z')"),
        "{sql}"
    );
    assert!(
        sql.contains("from_iso8601_timestamp('2024-09-10T01:00:00.000Z')"),
        "{sql}"
    );
    for q in window_queries {
        assert_eq!(days_touched(q), vec!["2024/09/10"], "{q:#}");
    }
    // bounded like the other queries
    assert!(sql.ends_with(&format!("LIMIT {}", 100_001)), "{sql}");

    let st = summary
        .statuses
        .iter()
        .find(|s| s.kind == "cloudtrail")
        .unwrap();
    assert_eq!(st.status, SourceState::Ok, "{st:?}");
    assert_eq!(st.records, 3);
    assert_eq!(st.parts, Some(3));
    let detail = st.detail.as_deref().unwrap();
    assert!(
        detail.contains("CloudTrail deploy and configuration changes of the change lookback (cloudtrail_logs): read 2 partition(s)"),
        "{detail}"
    );
    // reproduce shows the lookback query too
    let repro: Vec<String> = source
        .reproduce(&SourceQuery::new(
            w,
            Instant::now() + Duration::from_secs(5),
        ))
        .into_iter()
        .map(|r| r.text)
        .collect();
    assert_eq!(repro.len(), 3);
    assert!(repro.iter().any(|r| r == sql));
}
