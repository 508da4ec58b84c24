//! Web requests in logs → server errors per route, incident against baseline, like the ALB
//! aggregator does for ALB entries: API Gateway JSON access logs (`status`, `routeKey` or
//! `httpMethod` and `resourcePath`/`path`, `integrationLatency`/`responseLatency`) and the
//! nginx / Apache common and combined log formats (`"GET /path HTTP/1.1" 502 ...`).
//!
//! Policy: a route is the method and the path with its numeric and id-like segments folded to
//! `{id}` (API Gateway's `routeKey` or `resourcePath` when the log has it). A route becomes
//! evidence when its 5xx responses in the incident are new, or at least three times the
//! baseline's 5xx share, and at least 3 of them; the title gives the status classes, the 5xx
//! share of both windows and the mean latency when the log has one.

use super::{Ctx, note_origin};
use crate::evidence::{self, Evidence, EvidenceKind};
use crate::record::{LogEvent, RecordKind};
use crate::request::Phase;
use crate::telemetry::{Origin, OriginId};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Routes tracked.
const MAX_ROUTES: usize = 1000;
/// Fewest 5xx responses in the incident worth an item.
const MIN_ERRORS: u64 = 3;

/// One request read from a log message.
#[derive(Debug, PartialEq)]
struct Request {
    route: String,
    status: u16,
    latency_ms: Option<f64>,
}

#[derive(Debug, Default, Clone)]
struct Counts {
    requests: u64,
    /// By status class: 2xx, 3xx, 4xx, 5xx (index 0..4).
    classes: [u64; 4],
    latency_sum: f64,
    latency_n: u64,
}

#[derive(Debug, Default)]
struct Route {
    incident: Counts,
    baseline: Counts,
    first_error: Option<DateTime<Utc>>,
    last_error: Option<DateTime<Utc>>,
    sample: Option<String>,
    origins: Vec<OriginId>,
}

#[derive(Debug, Default)]
pub(crate) struct RequestAggregator {
    routes: BTreeMap<String, Route>,
}

/// `/orders/12345/items` → `/orders/{id}/items`.
fn fold_path(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.split('/')
        .map(|seg| {
            let idlike = !seg.is_empty()
                && (seg.bytes().all(|b| b.is_ascii_digit())
                    || (seg.len() >= 16
                        && seg.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')));
            if idlike { "{id}" } else { seg }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn json_str<'a>(v: &'a serde_json::Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .filter_map(|k| v.get(*k).and_then(serde_json::Value::as_str))
        .find(|s| !s.is_empty() && *s != "-")
}

fn json_num(v: &serde_json::Value, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|k| match v.get(*k)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

/// Reads an API Gateway JSON access log line or a common/combined log format message.
fn parse_request(message: &str) -> Option<Request> {
    let m = message.trim_start();
    if m.starts_with('{') {
        // cheap reject before parsing: access logs name a status and a method or route
        if !(m.contains("\"status") && (m.contains("ethod\"") || m.contains("\"routeKey\""))) {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(m).ok()?;
        let status = json_num(&v, &["status", "status_code", "statusCode"])? as u16;
        let route = match json_str(&v, &["routeKey"]) {
            Some(r) => r.to_string(),
            None => {
                let method = json_str(&v, &["httpMethod", "http_method", "method"])?;
                let path = json_str(&v, &["resourcePath", "resource_path", "path"])?;
                format!("{method} {}", fold_path(path))
            }
        };
        let latency_ms = json_num(
            &v,
            &[
                "integrationLatency",
                "integration_latency",
                "responseLatency",
                "response_latency",
            ],
        );
        return Some(Request {
            route,
            status,
            latency_ms,
        });
    }
    // `... "GET /path HTTP/1.1" 502 157 ...`
    let open = m.find(" \"")? + 2;
    let close = open + m[open..].find('"')?;
    let mut req = m[open..close].split(' ');
    let method = req.next()?;
    let path = req.next()?;
    if !method.bytes().all(|b| b.is_ascii_uppercase()) || !path.starts_with('/') {
        return None;
    }
    let status: u16 = m[close + 1..].split_whitespace().next()?.parse().ok()?;
    Some(Request {
        route: format!("{method} {}", fold_path(path)),
        status,
        latency_ms: None,
    })
}

impl RequestAggregator {
    pub fn add(&mut self, origin: OriginId, phase: Phase, ts: DateTime<Utc>, ev: &LogEvent) {
        if phase == Phase::Outside {
            return;
        }
        let Some(r) = parse_request(&ev.message) else {
            return;
        };
        if !(100..600).contains(&r.status) {
            return;
        }
        if !self.routes.contains_key(&r.route) && self.routes.len() >= MAX_ROUTES {
            return;
        }
        let route = self.routes.entry(r.route).or_default();
        note_origin(&mut route.origins, origin);
        let c = if phase == Phase::Incident {
            &mut route.incident
        } else {
            &mut route.baseline
        };
        c.requests += 1;
        let class = usize::from(r.status / 100).saturating_sub(2).min(3);
        if r.status >= 200 {
            c.classes[class] += 1;
        }
        if let Some(l) = r.latency_ms {
            c.latency_sum += l;
            c.latency_n += 1;
        }
        if r.status >= 500 && phase == Phase::Incident {
            route.first_error = Some(route.first_error.map_or(ts, |t| t.min(ts)));
            route.last_error = Some(route.last_error.map_or(ts, |t| t.max(ts)));
            if route.sample.is_none() {
                route.sample = Some(crate::bounds::cut(&ev.message, 1024));
            }
        }
    }

    pub fn finish(self, _ctx: &Ctx<'_>, origins: &[Origin]) -> Vec<Evidence> {
        let mut out = Vec::new();
        for (name, r) in self.routes {
            let (i, b) = (&r.incident, &r.baseline);
            let errors = i.classes[3];
            if errors < MIN_ERRORS {
                continue;
            }
            let share = |c: &Counts| c.classes[3] as f64 / c.requests.max(1) as f64;
            let (si, sb) = (share(i), share(b));
            let new = b.classes[3] == 0;
            if !new && si < 3.0 * sb {
                continue;
            }
            let mut title = format!(
                "{name}: {errors} 5xx of {} requests ({:.0}%) vs {:.1}% in the baseline; status classes 2xx {} 3xx {} 4xx {} 5xx {}",
                i.requests,
                si * 100.0,
                sb * 100.0,
                i.classes[0],
                i.classes[1],
                i.classes[2],
                i.classes[3]
            );
            if i.latency_n > 0 {
                title.push_str(&format!(
                    "; mean latency {:.0} ms",
                    i.latency_sum / i.latency_n as f64
                ));
                if b.latency_n > 0 {
                    title.push_str(&format!(" vs {:.0} ms", b.latency_sum / b.latency_n as f64));
                }
            }
            let mut e = Evidence::new(
                EvidenceKind::Requests,
                super::source_name(origins, &r.origins, RecordKind::Logs),
                title,
            );
            e.count = errors;
            e.baseline_count = b.classes[3];
            e.first_seen = r.first_error;
            e.last_seen = r.last_error;
            e.onset = r.first_error;
            e.signal = evidence::Signal {
                severity: 0.85,
                anomaly: (si - sb).clamp(0.0, 1.0).max(if new { 0.5 } else { 0.0 }),
                proximity: 0.0,
                z: if sb > 0.0 { si / sb } else { 8.0 },
                new,
            };
            e.samples = r.sample.into_iter().collect();
            e.resources = vec![name.clone()];
            let locs = super::locators(origins, &r.origins);
            let needle = name.split_once(' ').map_or(name.as_str(), |(_, p)| p);
            let needle = needle.split("{id}").next().unwrap_or(needle);
            e.reproduce = crate::reproduce::grep_command(&locs, needle, None);
            e.origins = r.origins;
            out.push(e);
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_from_both_kinds_of_access_logs() {
        // API Gateway HTTP API JSON access log fields (API Gateway Developer Guide, "Configure
        // logging for HTTP APIs": https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging.html)
        assert_eq!(
            parse_request(
                r#"{ "requestId":"c0475a28", "ip": "192.0.2.1", "requestTime":"31/Aug/2017:01:07:25 +0000", "httpMethod":"POST","routeKey":"POST /pets", "status":"502","protocol":"HTTP/1.1", "responseLength":"36", "integrationLatency": "29000" }"#
            ),
            Some(Request {
                route: "POST /pets".into(),
                status: 502,
                latency_ms: Some(29000.0)
            })
        );
        assert_eq!(
            parse_request(
                r#"{"http_method": "GET", "path": "/prod/orders/12345", "status_code": "200", "response_latency": "8"}"#
            ),
            Some(Request {
                route: "GET /prod/orders/{id}".into(),
                status: 200,
                latency_ms: Some(8.0)
            })
        );
        // the Apache docs' combined-format example, as the files source writes it (no time)
        assert_eq!(
            parse_request(
                "127.0.0.1 - frank \"GET /apache_pb.gif HTTP/1.0\" 200 2326 \"http://www.example.com/start.html\" \"Mozilla/4.08 [en] (Win98; I ;Nav)\""
            ),
            Some(Request {
                route: "GET /apache_pb.gif".into(),
                status: 200,
                latency_ms: None
            })
        );
        assert_eq!(parse_request("ERROR something \"quoted\" 500"), None);
        assert_eq!(
            parse_request(r#"{"level": "info", "msg": "status ok"}"#),
            None
        );
    }

    #[test]
    fn new_server_errors_on_a_route_are_evidence() {
        let s = crate::time::parse_timestamp("2024-08-16T11:00:00Z").unwrap();
        let w = crate::request::Window::with_baseline(
            s,
            s + chrono::Duration::minutes(30),
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        let group: std::sync::Arc<str> = std::sync::Arc::from("nginx");
        let mut a = RequestAggregator::default();
        let mut add = |t: DateTime<Utc>, path: &str, status: u16| {
            a.add(
                0,
                w.phase(t),
                t,
                &LogEvent {
                    ts: t,
                    group: group.clone(),
                    stream: None,
                    message: format!("10.0.0.1 - - \"GET {path} HTTP/1.1\" {status} 10"),
                },
            )
        };
        for k in 0..60 {
            let t = s - chrono::Duration::minutes(60) + chrono::Duration::minutes(k);
            add(t, &format!("/orders/{k}"), 200);
            add(t, "/health", if k % 30 == 0 { 503 } else { 200 });
        }
        for k in 0..30 {
            let t = s + chrono::Duration::minutes(k);
            add(t, &format!("/orders/{k}"), if k >= 10 { 502 } else { 200 });
            add(t, "/health", if k % 15 == 0 { 503 } else { 200 });
        }
        let ctx = Ctx {
            window: &w,
            timeline: super::super::TimelineSpec::new(&w),
            config: &super::super::DistillConfig::default(),
        };
        let e = a.finish(&ctx, &[]);
        assert_eq!(
            e.len(),
            1,
            "{:?}",
            e.iter().map(|e| &e.title).collect::<Vec<_>>()
        );
        assert_eq!(
            e[0].title,
            "GET /orders/{id}: 20 5xx of 30 requests (67%) vs 0.0% in the baseline; status classes 2xx 10 3xx 0 4xx 0 5xx 20"
        );
        assert_eq!(e[0].onset, Some(s + chrono::Duration::minutes(10)));
        assert!(e[0].signal.new);
    }
}
