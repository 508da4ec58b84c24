//! X-Ray: `aws xray get-trace-summaries` and `aws xray batch-get-traces` output. Segment
//! documents arrive as JSON strings; times as epoch seconds or ISO strings.

use super::json_stream::for_each_element;
use super::losses::Loss;
use super::{FileCtx, FileError};
use crate::record::{Record, RootCause, Span, Trace, TraceSummary};
use serde_json::Value;
use std::io::BufRead;

/// Subsegment nesting followed when flattening a segment document.
const MAX_SPAN_DEPTH: usize = 16;
/// Spans kept per trace.
const MAX_SPANS: usize = 256;

fn time(v: Option<&Value>) -> Option<chrono::DateTime<chrono::Utc>> {
    match v? {
        Value::Number(n) => n.as_f64().and_then(crate::time::epoch_auto),
        Value::String(s) => crate::time::parse_timestamp(s),
        _ => None,
    }
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn f64_of(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

fn bool_of(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn root_causes(v: Option<&Value>) -> Vec<RootCause> {
    let mut out = Vec::new();
    let Some(Value::Array(causes)) = v else {
        return out;
    };
    for cause in causes {
        let Some(Value::Array(services)) = cause.get("Services") else {
            continue;
        };
        for svc in services {
            let mut rc = RootCause {
                service: str_of(svc, "Name"),
                service_type: str_of(svc, "Type"),
                entity: String::new(),
                exception: String::new(),
                message: String::new(),
                remote: false,
            };
            // The innermost entity with an exception is the root cause location.
            if let Some(Value::Array(path)) = svc.get("EntityPath") {
                for ent in path.iter().rev() {
                    if let Some(Value::Array(ex)) = ent.get("Exceptions")
                        && let Some(first) = ex.first()
                    {
                        rc.entity = str_of(ent, "Name");
                        rc.exception = str_of(first, "Name");
                        rc.message = str_of(first, "Message");
                        rc.remote = bool_of(ent, "Remote");
                        break;
                    }
                }
                if rc.entity.is_empty()
                    && let Some(last) = path.last()
                {
                    rc.entity = str_of(last, "Name");
                    rc.remote = bool_of(last, "Remote");
                }
            }
            out.push(rc);
        }
    }
    out
}

pub(crate) fn trace_summary(v: &Value) -> TraceSummary {
    let http = v.get("Http").cloned().unwrap_or(Value::Null);
    TraceSummary {
        id: str_of(v, "Id"),
        start: time(v.get("StartTime")),
        duration: f64_of(v, "Duration"),
        response_time: f64_of(v, "ResponseTime"),
        has_fault: bool_of(v, "HasFault"),
        has_error: bool_of(v, "HasError"),
        has_throttle: bool_of(v, "HasThrottle"),
        http_method: str_of(&http, "HttpMethod"),
        http_url: str_of(&http, "HttpURL"),
        http_status: http
            .get("HttpStatus")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok()),
        entry_point: v
            .get("EntryPoint")
            .map(|e| str_of(e, "Name"))
            .unwrap_or_default(),
        services: match v.get("ServiceIds") {
            Some(Value::Array(ids)) => ids.iter().map(|i| str_of(i, "Name")).collect(),
            _ => Vec::new(),
        },
        fault_root_causes: root_causes(v.get("FaultRootCauses")),
        error_root_causes: root_causes(v.get("ErrorRootCauses")),
        throttle_root_causes: Vec::new(),
    }
}

pub(crate) fn read_trace_summaries(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let reader = ctx.json(reader);
    for_each_element(reader, "TraceSummaries", |v: Value| {
        let mut s = trace_summary(&v);
        split_throttles(&mut s);
        if s.start.is_none() {
            ctx.lose(Loss::NoStartTime, 1);
            return Ok(());
        }
        ctx.emit(Record::TraceSummary(Box::new(s)))
    })
}

/// X-Ray reports throttles (HTTP 429) as errors in `ErrorRootCauses`; a summary flagged as
/// throttled gets them moved to its throttle root causes.
pub(crate) fn split_throttles(s: &mut TraceSummary) {
    if s.has_throttle {
        let (thr, err): (Vec<_>, Vec<_>) = s
            .error_root_causes
            .drain(..)
            .partition(|rc| rc.exception.contains("Throttl") || rc.exception.contains("TooMany"));
        s.throttle_root_causes = thr;
        s.error_root_causes = err;
    }
}

/// Flattens one segment document (and its subsegments, bounded) into `out`.
pub(crate) fn flatten_document(doc: &Value, out: &mut Vec<Span>) {
    let name = str_of(doc, "name");
    flatten(doc, &name, 0, out);
}

fn flatten(doc: &Value, segment: &str, depth: usize, out: &mut Vec<Span>) {
    if depth > MAX_SPAN_DEPTH || out.len() >= MAX_SPANS {
        return;
    }
    let mut exceptions = Vec::new();
    if let Some(Value::Array(ex)) = doc.get("cause").and_then(|c| c.get("exceptions")) {
        for e in ex.iter().take(4) {
            exceptions.push((str_of(e, "type"), str_of(e, "message")));
        }
    }
    out.push(Span {
        name: str_of(doc, "name"),
        namespace: str_of(doc, "namespace"),
        origin: str_of(doc, "origin"),
        start: time(doc.get("start_time")),
        end: time(doc.get("end_time")),
        fault: bool_of(doc, "fault"),
        error: bool_of(doc, "error"),
        throttle: bool_of(doc, "throttle"),
        http_status: doc
            .get("http")
            .and_then(|h| h.get("response"))
            .and_then(|r| r.get("status"))
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok()),
        exceptions,
        segment: segment.to_string(),
    });
    if let Some(Value::Array(subs)) = doc.get("subsegments") {
        for sub in subs {
            flatten(sub, segment, depth + 1, out);
        }
    }
}

pub(crate) fn read_traces(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let reader = ctx.json(reader);
    for_each_element(reader, "Traces", |v: Value| {
        let mut trace = Trace {
            id: str_of(&v, "Id"),
            duration: f64_of(&v, "Duration"),
            spans: Vec::new(),
        };
        if let Some(Value::Array(segments)) = v.get("Segments") {
            for seg in segments {
                let doc = match seg.get("Document") {
                    Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                        Ok(d) => d,
                        Err(_) => {
                            ctx.lose(Loss::BadSegmentDocument, 1);
                            continue;
                        }
                    },
                    Some(obj @ Value::Object(_)) => obj.clone(),
                    _ => continue,
                };
                flatten_document(&doc, &mut trace.spans);
            }
        }
        if trace.spans.iter().all(|s| s.start.is_none()) {
            // no segment says when: the trace cannot be placed in a window
            ctx.lose(Loss::NoTimestamp, 1);
            return Ok(());
        }
        ctx.emit(Record::Trace(Box::new(trace)))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::tests::read_bytes;
    use crate::record::Record;

    #[test]
    fn summaries_with_root_causes() {
        let json = r#"{"TraceSummaries": [{"Id": "1-66bf3663-7cbc49510a06b20a30015382", "StartTime": 1723807331.9629812, "Duration": 0.0566, "ResponseTime": 0.0566, "HasFault": true, "HasError": false, "HasThrottle": true, "IsPartial": false, "Http": {"HttpURL": "https://shop.example.com/api/orders", "HttpStatus": 500, "HttpMethod": "POST"}, "ServiceIds": [{"Name": "orders-fn", "Names": ["orders-fn"], "Type": "AWS::ECS::Container"}, {"Name": "DynamoDB", "Type": "remote"}], "EntryPoint": {"Name": "orders-fn"}, "FaultRootCauses": [{"Services": [{"Name": "DynamoDB", "Names": ["DynamoDB"], "Type": "remote", "EntityPath": [{"Name": "orders-fn", "Exceptions": [], "Remote": false}, {"Name": "DynamoDB", "Exceptions": [{"Name": "ProvisionedThroughputExceededException", "Message": "The level of configured provisioned throughput for the table was exceeded."}], "Remote": true}], "Inferred": false}], "ClientImpacting": true}], "ErrorRootCauses": [], "ResponseTimeRootCauses": [], "Revision": 1},
          {"Id": "1-2", "StartTime": "2024-08-16T11:22:11.000Z", "HasFault": false}], "ApproximateTime": 1723808940.0, "TracesProcessedCount": 2}"#;
        let (sink, _) = read_bytes("s.json", json.as_bytes());
        let s: Vec<_> = sink
            .records
            .into_iter()
            .filter_map(|(_, r)| match r {
                Record::TraceSummary(s) => Some(*s),
                _ => None,
            })
            .collect();
        assert_eq!(s.len(), 2);
        assert!(s[0].has_fault);
        assert_eq!(s[0].http_status, Some(500));
        assert_eq!(
            s[0].fault_root_causes[0].exception,
            "ProvisionedThroughputExceededException"
        );
        assert_eq!(s[0].fault_root_causes[0].entity, "DynamoDB");
        assert!(s[0].fault_root_causes[0].remote);
        assert!(s[1].start.is_some());
    }

    #[test]
    fn traces_with_string_documents() {
        let json = r#"{"Traces": [{"Id": "1-66bf3663-7cbc", "Duration": 0.05, "LimitExceeded": false, "Segments": [{"Id": "673e", "Document": "{\"id\": \"673e\", \"name\": \"orders-fn\", \"start_time\": 1723807331.96, \"end_time\": 1723807332.01, \"http\": {\"response\": {\"status\": 500}}, \"fault\": true, \"subsegments\": [{\"id\": \"cf11\", \"name\": \"DynamoDB\", \"start_time\": 1723807331.96, \"end_time\": 1723807332.07, \"namespace\": \"aws\", \"throttle\": true, \"error\": true, \"cause\": {\"exceptions\": [{\"id\": \"1d\", \"type\": \"ProvisionedThroughputExceededException\", \"message\": \"exceeded\"}]}}]}"}, {"Id": "bad", "Document": "{not json"}]}], "UnprocessedTraceIds": []}"#;
        let (sink, summary) = read_bytes("t.json", json.as_bytes());
        let Record::Trace(t) = &sink.records[0].1 else {
            panic!("not a trace")
        };
        assert_eq!(t.spans.len(), 2);
        assert!(t.spans[0].fault);
        assert_eq!(t.spans[1].segment, "orders-fn");
        assert_eq!(
            t.spans[1].exceptions[0].0,
            "ProvisionedThroughputExceededException"
        );
        assert!(
            summary.statuses[0]
                .error
                .clone()
                .unwrap()
                .contains("1 segment documents")
        );
    }
}
