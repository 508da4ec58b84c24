//! Cross-source linking: a change shortly before the onset of an anomaly, a saturation or a
//! log group's silence that began before the errors, a trace root-cause exception that a log
//! template names, and the same resource named by several sources. Linked items carry each
//! other's ids; strong links raise the cause's score so that the change that explains an
//! error ranks next to it (a deliberate change followed within 5 minutes by errors ranks just
//! below the strongest anomaly even when the errors do not name its resource; a change after
//! the onset is never linked as a cause), and the saturation (a metric named like a load or a
//! utilisation, going up) or the silence that began 90 s to 20 minutes before the first error
//! ranks above the errors: in a cascade every caller floods with new errors, and the shared
//! dependency that saturated first is what explains them.
//!
//! The same holds for the dependency X-Ray names as the faulting downstream (a fault or a
//! throttle at a remote service or subsegment, see `traces`): when the callers' errors began
//! with it or after it (sampled traces may see the first fault up to
//! `DOWNSTREAM_SKEW_SECONDS` late), it is linked to them and ranks above them, just below a
//! saturation that explains it in turn. And among the error templates of different log
//! groups, the group that failed first (its errors began 90 s or more before those of other
//! groups that name it, as a caller names the service it calls, or are linked to it) ranks
//! above them: the first service to fail is where a cascade began.

use crate::evidence::{Evidence, EvidenceKind};
use chrono::{DateTime, Utc};

/// Items considered for linking (the rest are too weak to matter).
const CANDIDATES: usize = 120;
/// How long after a change an anomaly may begin to be linked to it.
const EFFECT_MINUTES: i64 = 20;
/// Errors that begin this soon after a deliberate change make it the likely cause on timing
/// alone (as in the offline analyzer).
const CLOSE_MINUTES: i64 = 5;
/// Clock skew allowed between a change and the first anomaly (as in `audit`).
const CHANGE_SKEW_SECONDS: i64 = 60;
/// How long a saturation or a silence must precede the first error to be its origin.
const PRECURSOR_LEAD_SECONDS: i64 = 90;
/// How long before the first sampled fault at a downstream its callers' errors may begin and
/// still be its effects: X-Ray samples a few requests, the callers log every failure.
const DOWNSTREAM_SKEW_SECONDS: i64 = 120;
/// Score added over the strongest anomaly by the origin of a cascade: a saturation or a
/// silence that preceded the errors ranks first, the faulting downstream or the first service
/// to fail right after it, then their effects.
const PRECURSOR_LIFT: f64 = 0.01;
const ORIGIN_LIFT: f64 = 0.005;

fn haystack(e: &Evidence) -> String {
    let mut h = e.title.to_ascii_lowercase();
    for s in &e.samples {
        h.push('\n');
        h.push_str(&s.to_ascii_lowercase());
    }
    if let Some(d) = &e.detail {
        h.push('\n');
        h.push_str(&d.to_ascii_lowercase());
    }
    h
}

/// Short, distinctive names of a resource (`arn:...:table/orders` → `orders`).
fn resource_names(e: &Evidence) -> Vec<String> {
    let mut out = Vec::new();
    for r in &e.resources {
        let short = r
            .rsplit(['/', ':'])
            .next()
            .unwrap_or(r)
            .to_ascii_lowercase();
        if short.len() >= 4 && !out.contains(&short) {
            out.push(short);
        }
    }
    out
}

/// Whether two items belong to the same service: they name a resource in common.
fn shares_resource(a: &Evidence, b: &Evidence) -> bool {
    a.resources.iter().any(|r| b.resources.contains(r))
}

fn is_effect(e: &Evidence) -> bool {
    !matches!(
        e.kind,
        EvidenceKind::AuditChange | EvidenceKind::AuditSummary
    ) && e.signal.anomaly >= 0.5
        && e.signal.severity >= 0.55
}

/// Links items in place. Ids must be unique; scores are adjusted.
pub(crate) fn link(items: &mut [Evidence], anchor: DateTime<Utc>) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[b].score.total_cmp(&items[a].score));
    // changes are few and always considered; others by score
    let mut cand: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| items[i].kind != EvidenceKind::AuditChange)
        .take(CANDIDATES)
        .collect();
    let changes: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| items[i].kind == EvidenceKind::AuditChange)
        .take(CANDIDATES)
        .collect();
    cand.extend(changes.iter().copied());
    let hay: Vec<(usize, String)> = cand.iter().map(|&i| (i, haystack(&items[i]))).collect();
    let hay_of = |i: usize| {
        hay.iter()
            .find(|(j, _)| *j == i)
            .map(|(_, h)| h.as_str())
            .unwrap_or("")
    };
    let mut pairs: Vec<(usize, usize, String, f64)> = Vec::new(); // (a, b, reason, boost for a)

    // 1. change → effect
    let top_effect = cand
        .iter()
        .filter(|&&i| is_effect(&items[i]))
        .map(|&i| items[i].score)
        .fold(0.0f64, f64::max);
    for &c in &changes {
        let Some(tc) = items[c].onset else { continue };
        // a change after the incident began is a response or a consequence, never its cause
        if tc > anchor + chrono::Duration::seconds(CHANGE_SKEW_SECONDS) {
            continue;
        }
        let names = resource_names(&items[c]);
        let mut best = 0.0f64;
        // errors that began within minutes of a deliberate change (deploy, configuration,
        // permission, network: severity ≥ 0.85), even on a resource they do not name
        let mut close_errors = false;
        for &x in &cand {
            if x == c || !is_effect(&items[x]) {
                continue;
            }
            let Some(o) = items[x].onset else { continue };
            let lag = (o - tc).num_seconds();
            if !(-60..=EFFECT_MINUTES * 60).contains(&lag) {
                continue;
            }
            close_errors |= lag <= CLOSE_MINUTES * 60 && super::is_error_anomaly(&items[x]);
            let closeness = (-(lag.max(0) as f64) / 600.0).exp();
            let same_resource = names.iter().any(|n| hay_of(x).contains(n.as_str()));
            let strength = closeness * if same_resource { 1.0 } else { 0.6 };
            let reason = if same_resource {
                format!(
                    "change {} before this began, on a resource it names",
                    crate::distill::human_delta(tc, o)
                )
            } else {
                format!(
                    "change {} before this began",
                    crate::distill::human_delta(tc, o)
                )
            };
            pairs.push((c, x, reason, 0.0));
            if same_resource {
                best = best.max(strength + 0.5);
            } else {
                best = best.max(strength * 0.5);
            }
        }
        if best > 0.0 {
            let e = &mut items[c];
            // a change that explains the strongest anomaly ranks right next to it
            let mut target = if best >= 0.5 {
                (top_effect + 0.02 * (best - 0.5)).min(1.0)
            } else {
                (0.45 + 0.3 * best).min(top_effect)
            };
            // ... ranks just below the strongest anomaly: the most likely cause on timing
            if close_errors && e.signal.severity >= 0.85 {
                target = target.max(top_effect - 0.01);
            }
            e.score = e.score.max(target);
        }
    }

    // 2. a saturation or a silence that began before the errors: the origin of a cascade.
    // Minute-aligned metrics may seem to lead by up to a minute, so a lead must be longer.
    let first_error = cand
        .iter()
        .filter(|&&i| super::is_error_anomaly(&items[i]))
        .filter_map(|&i| items[i].onset)
        .min();
    for &p in &cand {
        let e = &items[p];
        let saturating = e.kind == EvidenceKind::MetricShift
            && e.signal.z > 0.0
            && e.detail
                .as_deref()
                .is_some_and(|d| d.starts_with("saturation metric"));
        let silent = super::logs::is_group_silence(e);
        if !super::is_precursor(e) || !(saturating || silent) {
            continue;
        }
        let (Some(o), Some(fe)) = (e.onset, first_error) else {
            continue;
        };
        let lead = (fe - o).num_seconds();
        if !(PRECURSOR_LEAD_SECONDS..=super::PRECURSOR_MINUTES * 60).contains(&lead) {
            continue;
        }
        for &x in &cand {
            if x == p || !super::is_error_anomaly(&items[x]) {
                continue;
            }
            let Some(xo) = items[x].onset else { continue };
            let lag = (xo - o).num_seconds();
            if (0..=EFFECT_MINUTES * 60).contains(&lag) {
                pairs.push((
                    p,
                    x,
                    format!(
                        "began {} before this, and the errors followed it",
                        crate::distill::human_delta(o, xo)
                    ),
                    0.0,
                ));
            }
        }
        // the signal that explains the others ranks above them
        let e = &mut items[p];
        e.score = e.score.max((top_effect + PRECURSOR_LIFT).min(1.0));
    }

    // 2b. the downstream X-Ray names as faulting: the callers' errors are its effects
    for &d in &cand {
        if super::traces::downstream_of(&items[d]).is_none() || !super::is_error_anomaly(&items[d])
        {
            continue;
        }
        let Some(o) = items[d].onset else { continue };
        let mut callers = 0;
        for &x in &cand {
            if x == d
                || !super::is_error_anomaly(&items[x])
                || super::traces::downstream_of(&items[x]).is_some()
            {
                continue;
            }
            let Some(xo) = items[x].onset else { continue };
            let lag = (xo - o).num_seconds();
            if (-DOWNSTREAM_SKEW_SECONDS..=EFFECT_MINUTES * 60).contains(&lag) {
                callers += 1;
                pairs.push((
                    d,
                    x,
                    "the faulting downstream X-Ray names; the callers' errors followed it".into(),
                    0.0,
                ));
            }
        }
        if callers > 0 {
            let e = &mut items[d];
            e.score = e.score.max((top_effect + ORIGIN_LIFT).min(1.0));
        }
    }

    // 3. trace root-cause exception named by a log template
    for &t in &cand {
        if items[t].kind != EvidenceKind::TraceFault || items[t].signal.anomaly < 0.3 {
            continue;
        }
        let ex = items[t]
            .title
            .split("root cause: ")
            .nth(1)
            .and_then(|r| r.split(" at ").next())
            .unwrap_or("")
            .to_ascii_lowercase();
        if ex.len() < 6 || ex == "no recorded exception" {
            continue;
        }
        for &l in &cand {
            if items[l].kind == EvidenceKind::LogTemplate
                && items[l].signal.anomaly >= 0.3
                && hay_of(l).contains(&ex)
            {
                pairs.push((t, l, "same exception in traces and logs".into(), 0.03));
            }
        }
    }

    // 4. the same resource named by different sources
    for (ai, &a) in cand.iter().enumerate() {
        if items[a].signal.anomaly < 0.3 || items[a].kind == EvidenceKind::AuditChange {
            continue;
        }
        let names = resource_names(&items[a]);
        for &b in cand.iter().skip(ai + 1) {
            if items[b].signal.anomaly < 0.3
                || items[b].kind.family() == items[a].kind.family()
                || items[b].kind == EvidenceKind::AuditChange
            {
                continue;
            }
            // either way round: a log group `/ecs/payments` and a target group `payments-tg`
            let found = names
                .iter()
                .find(|n| hay_of(b).contains(n.as_str()))
                .cloned()
                .or_else(|| {
                    resource_names(&items[b])
                        .into_iter()
                        .find(|n| hay_of(a).contains(n.as_str()))
                });
            if let Some(n) = found {
                pairs.push((a, b, format!("both name {n}"), 0.0));
            }
        }
    }

    // 5. the first service to fail: a log group whose errors began well before those of other
    // log groups that name it (a caller names the service it calls) or are linked to it, when
    // nothing failed before it
    if let Some(fe) = first_error {
        let mut first = Vec::new();
        for &a in &cand {
            if items[a].kind != EvidenceKind::LogTemplate
                || !super::is_error_anomaly(&items[a])
                || items[a].onset != Some(fe)
            {
                continue;
            }
            let names = resource_names(&items[a]);
            let mut later = Vec::new();
            for &b in &cand {
                if b == a
                    || items[b].kind != EvidenceKind::LogTemplate
                    || !super::is_error_anomaly(&items[b])
                    || shares_resource(&items[a], &items[b])
                {
                    continue;
                }
                let Some(bo) = items[b].onset else { continue };
                if (bo - fe).num_seconds() < PRECURSOR_LEAD_SECONDS {
                    continue;
                }
                let linked = pairs
                    .iter()
                    .any(|(x, y, _, _)| (*x == a && *y == b) || (*x == b && *y == a));
                if linked || names.iter().any(|n| hay_of(b).contains(n.as_str())) {
                    later.push((b, bo));
                }
            }
            if later.is_empty() {
                continue;
            }
            for (b, bo) in later {
                let reason = format!(
                    "failed first, {} before this; the errors followed it",
                    crate::distill::human_delta(fe, bo)
                );
                first.push((a, b, reason, 0.0));
            }
            let e = &mut items[a];
            e.score = e.score.max((top_effect + ORIGIN_LIFT).min(1.0));
        }
        // first, so that its reason is the one a pair already linked for another reason shows
        pairs.splice(0..0, first);
    }

    for (a, b, reason, boost) in pairs {
        let (ida, idb) = (items[a].id.clone(), items[b].id.clone());
        items[a].link(&idb, &reason);
        items[b].link(&ida, &reason);
        if boost > 0.0 {
            items[a].score = (items[a].score + boost).min(1.0);
            items[b].score = (items[b].score + boost).min(1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::evidence::test_item as item;

    #[test]
    fn change_before_error_on_same_resource_is_linked_and_raised() {
        let mut change = item(
            "c0",
            EvidenceKind::AuditChange,
            "UpdateTable on orders by ops-alice",
            0.3,
            "2024-08-16T11:19:29Z",
        );
        change.resources = vec!["orders".into()];
        let err = item(
            "c1",
            EvidenceKind::LogTemplate,
            "ERROR ProvisionedThroughputExceededException for table orders",
            0.9,
            "2024-08-16T11:21:59Z",
        );
        let unrelated = item(
            "c2",
            EvidenceKind::LogTemplate,
            "ERROR something else",
            0.5,
            "2024-08-16T09:00:00Z",
        );
        let mut items = vec![change, err, unrelated];
        let anchor = crate::time::parse_timestamp("2024-08-16T11:21:59Z").unwrap_or_default();
        link(&mut items, anchor);
        assert_eq!(items[0].links, vec!["c1".to_string()]);
        assert_eq!(items[1].links, vec!["c0".to_string()]);
        assert!(items[2].links.is_empty());
        assert!(items[0].score >= 0.9, "{}", items[0].score);
    }

    #[test]
    fn a_deliberate_change_just_before_errors_ranks_next_to_them() {
        // a key policy edit 4m 45s before errors that do not name the key
        let mut change = item(
            "c0",
            EvidenceKind::AuditChange,
            "PutKeyPolicy on mrk-1a2b by kaito.s (permission change)",
            0.54,
            "2024-08-16T11:06:15Z",
        );
        change.resources = vec!["mrk-1a2b".into()];
        let alb = item(
            "c1",
            EvidenceKind::Alb,
            "ALB token-issuer-tg: 27 HTTP 5xx",
            0.8,
            "2024-08-16T11:11:00Z",
        );
        // a change after the onset is never raised
        let mut late = item(
            "c2",
            EvidenceKind::AuditChange,
            "UpdateService on token-issuer by oncall (deploy change)",
            0.05,
            "2024-08-16T11:13:00Z",
        );
        late.resources = vec!["token-issuer".into()];
        let mut items = vec![change, alb, late];
        let anchor = crate::time::parse_timestamp("2024-08-16T11:11:00Z").unwrap_or_default();
        link(&mut items, anchor);
        assert!((items[0].score - 0.79).abs() < 1e-9, "{}", items[0].score);
        assert_eq!(items[0].links, vec!["c1".to_string()]);
        assert!(items[2].links.is_empty());
        assert_eq!(items[2].score, 0.05);
    }

    #[test]
    fn trace_exception_links_log_template() {
        let t = item(
            "c0",
            EvidenceKind::TraceFault,
            "X-Ray fault root cause: ProvisionedThroughputExceededException at DynamoDB: 5 traces",
            0.8,
            "2024-08-16T11:22:00Z",
        );
        let l = item(
            "c1",
            EvidenceKind::LogTemplate,
            "ERROR [orders] ProvisionedThroughputExceededException: Rate exceeded",
            0.9,
            "2024-08-16T11:22:00Z",
        );
        let mut items = vec![t, l];
        link(&mut items, chrono::Utc::now());
        assert_eq!(items[1].links, vec!["c0".to_string()]);
        assert!(items[1].link_reasons[0].contains("same exception"));
    }

    /// A caller's timeout template, a faulting downstream sampled by X-Ray, and the callers'
    /// 5xx: the downstream ranks above everything it explains, and only what began with it or
    /// after it is linked to it.
    #[test]
    fn the_faulting_downstream_ranks_above_the_callers_timeouts() {
        let mut down = item(
            "c0",
            EvidenceKind::TraceFault,
            "X-Ray fault root cause: java.net.SocketTimeoutException at ledger-service: 9 traces",
            0.6,
            "2025-04-15T13:26:40Z",
        );
        down.signal.severity = 0.85;
        down.detail = Some("faulting downstream ledger-service; 9 vs 0".into());
        let timeouts = item(
            "c1",
            EvidenceKind::LogTemplate,
            "ERROR [orders-api] request <*> failed: Read timed out",
            0.9,
            "2025-04-15T13:26:00Z",
        );
        let alb = item(
            "c2",
            EvidenceKind::Alb,
            "ALB orders-api-tg: 40 HTTP 5xx",
            0.8,
            "2025-04-15T13:27:00Z",
        );
        // began well before the fault: not its effect
        let earlier = item(
            "c3",
            EvidenceKind::LogTemplate,
            "ERROR [cart] cache miss storm",
            0.7,
            "2025-04-15T13:10:00Z",
        );
        let mut items = vec![down, timeouts, alb, earlier];
        let anchor = crate::time::parse_timestamp("2025-04-15T13:10:00Z").unwrap_or_default();
        link(&mut items, anchor);
        assert!((items[0].score - 0.905).abs() < 1e-9, "{}", items[0].score);
        assert_eq!(items[0].links, vec!["c1".to_string(), "c2".to_string()]);
        assert!(items[0].link_reasons[0].contains("errors followed it"));
        assert!(items[3].links.is_empty());
        // the same item without the downstream mark is not lifted
        let mut local = items[0].clone();
        local.detail = Some("9 vs 0".into());
        local.score = 0.6;
        local.links.clear();
        local.link_reasons.clear();
        let mut items = vec![local, items[1].clone()];
        link(&mut items, anchor);
        assert_eq!(items[0].score, 0.6);
    }

    /// inventory-api fails first; orders-api's errors, two minutes later, name it: inventory-api
    /// ranks first. billing-api's errors, as early as orders-api's but naming nothing, are not
    /// linked to it, and a same-group template is never "another service".
    #[test]
    fn the_first_service_to_fail_ranks_above_the_callers() {
        let mut first = item(
            "c0",
            EvidenceKind::LogTemplate,
            "[/ecs/inventory-api] ERROR connection pool exhausted",
            0.7,
            "2025-04-15T13:20:00Z",
        );
        first.resources = vec!["/ecs/inventory-api".into()];
        let mut caller = item(
            "c1",
            EvidenceKind::LogTemplate,
            "[/ecs/orders-api] ERROR call to inventory-api failed: 503",
            0.9,
            "2025-04-15T13:22:00Z",
        );
        caller.resources = vec!["/ecs/orders-api".into()];
        let mut other = item(
            "c2",
            EvidenceKind::LogTemplate,
            "[/ecs/billing-api] ERROR payment declined",
            0.8,
            "2025-04-15T13:22:00Z",
        );
        other.resources = vec!["/ecs/billing-api".into()];
        let mut sibling = item(
            "c3",
            EvidenceKind::LogTemplate,
            "[/ecs/inventory-api] ERROR inventory-api request aborted",
            0.6,
            "2025-04-15T13:23:00Z",
        );
        sibling.resources = vec!["/ecs/inventory-api".into()];
        let mut items = vec![first, caller, other, sibling];
        let anchor = crate::time::parse_timestamp("2025-04-15T13:20:00Z").unwrap_or_default();
        link(&mut items, anchor);
        assert!((items[0].score - 0.905).abs() < 1e-9, "{}", items[0].score);
        assert_eq!(items[0].links, vec!["c1".to_string()]);
        assert_eq!(
            items[0].link_reasons,
            vec!["failed first, 2m 00s before this; the errors followed it".to_string()]
        );
        assert!(items[2].links.is_empty());
        assert!(items[3].links.is_empty());
        // errors less than 90 s apart: no order to read into them
        let mut items = vec![items[0].clone(), items[1].clone()];
        items[0].score = 0.7;
        items[0].links.clear();
        items[0].link_reasons.clear();
        items[1].links.clear();
        items[1].link_reasons.clear();
        items[1].onset = crate::time::parse_timestamp("2025-04-15T13:21:00Z");
        link(&mut items, anchor);
        assert_eq!(items[0].score, 0.7);
        assert!(items[0].links.is_empty());
    }
}
