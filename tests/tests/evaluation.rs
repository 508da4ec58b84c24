//! The evaluation bundles under `tests/incidents/` (and the bundled sample): every record is
//! read, the root cause is in the top 3 evidence and in the offline analyzer's top hypothesis,
//! chronic noise ranks below it, no planted secret reaches the prompt or the report, the
//! planted prompt injection never appears verbatim in the prompt, and the budget holds.

use fa2_core::evidence::Evidence;
use fa2_core::request::Language;
use fa2_core::tokens::estimate_tokens;
use fa2_tests::{analyze_bundle, bundles, truth, workspace_root};

fn mentions(e: &Evidence, needle: &str) -> bool {
    let n = needle.to_ascii_lowercase();
    e.title.to_ascii_lowercase().contains(&n)
        || e.samples
            .iter()
            .any(|s| s.to_ascii_lowercase().contains(&n))
}

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
        let t = truth(&bundle).expect("truth.json");
        let budget = 16_000;
        let a = analyze_bundle(&bundle, &t, budget, Language::En).expect("analysis runs");
        let r = &a.report;
        let name = bundle.display().to_string();
        // counts
        let totals = fa2_core::analyze::record_totals(&r.sources);
        for (k, want) in &t.counts {
            let got = totals
                .iter()
                .find(|(rt, _)| rt.as_str() == k)
                .map_or(0, |(_, v)| *v);
            if got != *want {
                failures.push(format!("{name}: {k} = {got}, truth {want}"));
            }
        }
        // root cause in the top 3
        let rank_of = |needle: &str| r.evidence.iter().position(|e| mentions(e, needle));
        let cause_rank = t.signatures.iter().filter_map(|s| rank_of(s)).min();
        match cause_rank {
            Some(rk) if rk < 3 => {}
            other => failures.push(format!(
                "{name}: root cause rank {other:?}, top 3: {:?}",
                r.evidence
                    .iter()
                    .take(3)
                    .map(|e| &e.title)
                    .collect::<Vec<_>>()
            )),
        }
        // in the top hypothesis
        let top = r.hypotheses.first();
        let in_top = top.is_some_and(|h| {
            t.signatures.iter().any(|s| h.title.contains(s.as_str()))
                || h.evidence.iter().any(|id| {
                    r.evidence
                        .iter()
                        .any(|e| &e.id == id && t.signatures.iter().any(|s| mentions(e, s)))
                })
        });
        if !in_top {
            failures.push(format!(
                "{name}: top hypothesis misses the root cause: {:?}",
                top.map(|h| &h.title)
            ));
        }
        // chronic noise below the cause
        if let Some(cause) = cause_rank {
            for c in &t.chronic {
                if let Some(rk) = rank_of(c)
                    && rk <= cause
                {
                    failures.push(format!(
                        "{name}: chronic `{c}` ranks {rk}, above the cause at {cause}"
                    ));
                }
            }
        }
        // secrets and injection
        let json = serde_json::to_string(r).expect("report serialises");
        let prompt = a.prompt.full_text();
        for s in &t.secrets {
            if json.contains(s.as_str()) || prompt.contains(s.as_str()) {
                failures.push(format!("{name}: secret {}… leaked", &s[..6.min(s.len())]));
            }
        }
        if prompt.contains(t.injection.as_str()) {
            failures.push(format!("{name}: injection verbatim in the prompt"));
        }
        // budget
        let est = estimate_tokens(&a.prompt.system) + estimate_tokens(&a.prompt.user);
        if est > budget || r.prompt.tokens > budget {
            failures.push(format!("{name}: prompt {est} tokens over budget {budget}"));
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
}
