//! The evaluation bundles under `tests/incidents/` (and the bundled sample): every record is
//! read, the root cause is in the top 3 evidence and in the offline analyzer's top hypothesis,
//! chronic noise ranks below it, no planted secret reaches the prompt or the report, the
//! planted prompt injection never appears verbatim in the prompt, and the budget holds.

use fa2_core::request::Language;
use fa2_tests::{analyze_bundle, bundles, evaluate, truth, workspace_root};

fn all_bundles() -> Vec<std::path::PathBuf> {
    let root = workspace_root();
    let mut b = bundles(&root.join("tests/incidents"));
    b.extend(bundles(&root.join("examples")));
    b
}

#[test]
fn there_are_enough_bundles() {
    let b = all_bundles();
    assert!(
        b.len() >= 7,
        "expected the sample and at least six evaluation bundles, found {b:?}"
    );
}

#[test]
fn every_bundle_is_diagnosed() {
    let mut failures = Vec::new();
    for bundle in all_bundles() {
        match evaluate(&bundle, 16_000) {
            Ok(outcome) => failures.extend(outcome.failures),
            Err(e) => failures.push(format!("{}: {e}", bundle.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn japanese_reports_and_small_budgets() {
    let Some(bundle) = all_bundles().into_iter().next() else {
        panic!("no bundle");
    };
    let t = truth(&bundle).expect("truth");
    let a = analyze_bundle(&bundle, &t, 3_000, Language::Ja).expect("analysis");
    assert!(a.report.prompt.tokens <= 3_000);
    assert!(a.report.prompt.omitted_evidence > 0);
    assert!(a.prompt.user.contains("省略しました"));
    assert!(a.prompt.system.contains("日本語で回答"));
    assert!(a.report.summary.contains("原因") || a.report.summary.contains("証拠"));
    let md = fa2_core::report::render_markdown(&a.report, 10);
    assert!(md.contains("## 原因の仮説"));
}

#[test]
fn report_json_round_trips() {
    let Some(bundle) = all_bundles().into_iter().next() else {
        panic!("no bundle");
    };
    let t = truth(&bundle).expect("truth");
    let a = analyze_bundle(&bundle, &t, 16_000, Language::En).expect("analysis");
    let json = serde_json::to_string_pretty(&a.report).expect("serialise");
    let back: fa2_core::report::Report = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(
        serde_json::to_value(&back).expect("value"),
        serde_json::to_value(&a.report).expect("value")
    );
    assert_eq!(back.evidence.len(), a.report.evidence.len());
    let text = fa2_core::report::render_text(&a.report);
    assert!(text.starts_with("Summary: "));
    assert!(text.contains("1. ") && text.contains("confidence"));
    assert!(text.lines().count() <= 8, "a short summary: {text}");
}

/// The bundle in the exported formats of issue 11 (`scripts/gen_incidents.py formats`): JSON
/// lines, an API Gateway execution log, subscription records timed in seconds, CloudTrail as a
/// bare array and as JSON lines, raw X-Ray segments, get-metric-statistics, alarm history and
/// VPC Flow Logs. Every file is read (the one NODATA flow record counted and dropped), every
/// record is counted as `truth.json` says and dated, and the change, the alarm, the blocked
/// flows, the Lambda timeouts and the 5xx of each API route are evidence.
#[test]
fn the_formats_bundle_is_read_exactly() {
    let bundle = workspace_root().join("tests/formats/sg-revoked");
    let t = truth(&bundle).expect("truth");
    let a = analyze_bundle(&bundle, &t, 16_000, Language::En).expect("analysis");
    let r = &a.report;
    for s in &r.sources {
        assert_eq!(
            s.status,
            fa2_core::telemetry::SourceState::Ok,
            "{}: {:?}",
            s.name,
            s.error
        );
        let nodata = "1 flow log records had no data (NODATA or SKIPDATA) and were ignored";
        assert!(
            s.error.as_deref().is_none_or(|e| e.ends_with(nodata)),
            "{}: {:?}",
            s.name,
            s.error
        );
    }
    let kinds: Vec<&str> = r.sources.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, vec!["logs", "cloudtrail", "xray", "metrics"]);
    let totals = fa2_core::analyze::record_totals(&r.sources);
    let got: std::collections::BTreeMap<String, u64> = totals
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), *v))
        .collect();
    assert_eq!(got, t.counts);
    assert_eq!(r.stats.records_without_time, 0);
    let rank = |needle: &str| {
        r.evidence
            .iter()
            .position(|e| fa2_tests::mentions(e, needle))
    };
    let change = rank("RevokeSecurityGroupIngress");
    let alarm = rank("CloudWatch alarm orders-api-5xx went to ALARM");
    assert!(change.is_some_and(|k| k < 3), "change at {change:?}");
    assert!(alarm.is_some(), "no alarm evidence");
    let blocked = rank("rejected tcp flows to 10.0.3.41:5432");
    assert!(
        blocked.is_some_and(|k| k < 5),
        "blocked flows at {blocked:?}"
    );
    let lambda = rank("Lambda orders-fn:");
    assert!(
        lambda.is_some_and(|k| k < 5),
        "Lambda evidence at {lambda:?}"
    );
}
