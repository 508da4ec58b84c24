//! CloudTrail: `{"Records": [...]}` files as delivered to S3, and `aws cloudtrail
//! lookup-events` output (whose `CloudTrailEvent` is the full event as a JSON string).

use super::json_stream::for_each_element;
use super::losses::Loss;
use super::{FileCtx, FileError};
use crate::record::{AuditEvent, Record};
use serde_json::Value;
use std::io::BufRead;

/// Request parameters that name the resource a call acts on.
pub(crate) const RESOURCE_PARAMS: &[&str] = &[
    "tableName",
    "functionName",
    "bucketName",
    "roleName",
    "policyArn",
    "userName",
    "groupId",
    "groupName",
    "serviceName",
    "service",
    "cluster",
    "secretId",
    "name",
    "networkAclId",
    "routeTableId",
    "instanceId",
    "dBInstanceIdentifier",
    "dBClusterIdentifier",
    "logGroupName",
    "alarmName",
    "queueUrl",
    "topicArn",
    "stackName",
    "loadBalancerArn",
    "targetGroupArn",
    "restApiId",
    "keyId",
    "repositoryName",
];

/// Longest `requestParameters` JSON kept per event.
pub(crate) const MAX_PARAMS_LEN: usize = 400;

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Who acted, in the shortest form a person recognises.
fn actor(ui: &Value) -> String {
    if let Some(Value::String(u)) = ui.get("userName") {
        return u.clone();
    }
    let arn = s(ui, "arn");
    // arn:aws:sts::123:assumed-role/RoleName/session-name
    if let Some(rest) = arn.split(":assumed-role/").nth(1) {
        return rest.to_string();
    }
    if let Some(issuer) = ui
        .get("sessionContext")
        .and_then(|c| c.get("sessionIssuer"))
        .and_then(|i| i.get("userName"))
        .and_then(Value::as_str)
    {
        return issuer.to_string();
    }
    if let Some(Value::String(by)) = ui.get("invokedBy") {
        return by.clone();
    }
    if let Some(last) = arn
        .rsplit('/')
        .next()
        .filter(|x| !x.is_empty() && !arn.is_empty())
    {
        return last.to_string();
    }
    s(ui, "principalId")
}

/// Adds the resources that well-known request parameters name (`tableName`, `roleName`...).
pub(crate) fn resources_from_params(params: &Value, resources: &mut Vec<String>) {
    if let Value::Object(map) = params {
        for key in RESOURCE_PARAMS {
            if let Some(val) = map.get(*key) {
                let text = match val {
                    Value::String(x) => x.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => continue,
                };
                if !resources.contains(&text) {
                    resources.push(text);
                }
            }
        }
    }
}

pub(crate) fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// `params` as compact JSON cut to [`MAX_PARAMS_LEN`] bytes (the cut marked), serialised into
/// a bounded buffer: a megabyte of parameters is neither copied nor written out to keep 400
/// bytes of it. Equal to `truncate(params.to_string(), MAX_PARAMS_LEN)`.
pub(crate) fn params_text(params: &Value) -> String {
    /// Takes bytes up to a limit, then fails, which stops the serialiser.
    struct Bounded(Vec<u8>, usize);
    impl std::io::Write for Bounded {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let room = self.1.saturating_sub(self.0.len());
            if room == 0 {
                return Err(std::io::Error::other("enough"));
            }
            let n = buf.len().min(room);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // A character cut at the end of the buffer starts after MAX_PARAMS_LEN: `truncate` drops it.
    let limit = MAX_PARAMS_LEN + 4;
    let mut w = Bounded(Vec::with_capacity(limit), limit);
    // An error here only means the buffer is full.
    let _ = serde_json::to_writer(&mut w, params);
    truncate(String::from_utf8_lossy(&w.0).into_owned(), MAX_PARAMS_LEN)
}

/// Maps one CloudTrail event JSON object.
pub(crate) fn audit_event(v: &Value) -> AuditEvent {
    let ui = v.get("userIdentity").unwrap_or(&Value::Null);
    let params = v.get("requestParameters").unwrap_or(&Value::Null);
    let mut resources: Vec<String> = Vec::new();
    if let Some(Value::Array(rs)) = v.get("resources") {
        for r in rs {
            if let Some(a) = r.get("ARN").and_then(Value::as_str) {
                resources.push(a.to_string());
            }
        }
    }
    resources_from_params(params, &mut resources);
    let read_only = match v.get("readOnly") {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(x)) => x.parse().ok(),
        _ => None,
    };
    AuditEvent {
        time: v.get("eventTime").and_then(|t| match t {
            Value::String(x) => crate::time::parse_timestamp(x),
            Value::Number(n) => n.as_f64().and_then(crate::time::epoch_auto),
            _ => None,
        }),
        event_source: s(v, "eventSource"),
        event_name: s(v, "eventName"),
        region: s(v, "awsRegion"),
        source_ip: s(v, "sourceIPAddress"),
        user_agent: s(v, "userAgent"),
        identity_type: s(ui, "type"),
        identity_arn: s(ui, "arn"),
        actor: actor(ui),
        read_only,
        error_code: s(v, "errorCode"),
        error_message: s(v, "errorMessage"),
        request_parameters: if params.is_null() {
            String::new()
        } else {
            params_text(params)
        },
        resources,
        event_id: s(v, "eventID"),
    }
}

pub(crate) fn read_records(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let reader = ctx.json(reader);
    for_each_element(reader, "Records", |v: Value| {
        let ev = audit_event(&v);
        if ev.time.is_none() {
            // an undated change cannot be placed before or after the onset
            ctx.lose(Loss::NoEventTime, 1);
            return Ok(());
        }
        ctx.emit(Record::Audit(Box::new(ev)))
    })
}

pub(crate) fn read_lookup_events(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let reader = ctx.json(reader);
    for_each_element(reader, "Events", |v: Value| {
        let inner = v
            .get("CloudTrailEvent")
            .and_then(Value::as_str)
            .and_then(|text| serde_json::from_str::<Value>(text).ok());
        if inner.is_none() && v.get("CloudTrailEvent").is_some_and(Value::is_string) {
            ctx.lose(Loss::BadCloudTrailEvent, 1);
        }
        let mut ev = inner.as_ref().map(audit_event).unwrap_or_default();
        if ev.event_name.is_empty() {
            ev.event_name = s(&v, "EventName");
        }
        if ev.event_source.is_empty() {
            ev.event_source = s(&v, "EventSource");
        }
        if ev.event_id.is_empty() {
            ev.event_id = s(&v, "EventId");
        }
        if ev.actor.is_empty() {
            ev.actor = s(&v, "Username");
        }
        if ev.read_only.is_none() {
            ev.read_only = match v.get("ReadOnly") {
                Some(Value::String(x)) => x.parse().ok(),
                Some(Value::Bool(b)) => Some(*b),
                _ => None,
            };
        }
        if ev.time.is_none() {
            ev.time = match v.get("EventTime") {
                Some(Value::String(x)) => crate::time::parse_timestamp(x),
                Some(Value::Number(n)) => n.as_f64().and_then(crate::time::epoch_auto),
                _ => None,
            };
        }
        if ev.time.is_none() {
            ctx.lose(Loss::NoEventTime, 1);
            return Ok(());
        }
        if let Some(Value::Array(rs)) = v.get("Resources") {
            for r in rs {
                if let Some(name) = r.get("ResourceName").and_then(Value::as_str)
                    && !ev.resources.iter().any(|x| x == name)
                {
                    ev.resources.push(name.to_string());
                }
            }
        }
        ctx.emit(Record::Audit(Box::new(ev)))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::tests::{gzip, read_bytes};
    use crate::record::Record;

    fn events(name: &str, content: &[u8]) -> Vec<crate::record::AuditEvent> {
        let (sink, _) = read_bytes(name, content);
        sink.records
            .into_iter()
            .filter_map(|(_, r)| match r {
                Record::Audit(a) => Some(*a),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn params_are_cut_without_writing_them_whole() {
        use super::{MAX_PARAMS_LEN, params_text, truncate};
        use serde_json::json;
        let cases = [
            json!({"tableName": "orders"}),
            json!({"blob": "x".repeat(1 << 20)}),
            json!({"blob": "é".repeat(MAX_PARAMS_LEN)}),
            json!({"k": "a".repeat(MAX_PARAMS_LEN - 10), "b": "😀😀😀"}),
            serde_json::Value::from(vec!["x"; 10_000]),
        ];
        for v in cases {
            let got = params_text(&v);
            assert_eq!(got, truncate(v.to_string(), MAX_PARAMS_LEN));
            assert!(got.len() <= MAX_PARAMS_LEN + '…'.len_utf8());
        }
    }

    #[test]
    fn s3_delivered_records() {
        // Shape of the CloudTrail User Guide's example log file.
        let json = r#"{"Records": [{
            "eventVersion": "1.08",
            "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:alice", "arn": "arn:aws:sts::123456789012:assumed-role/Admin/alice", "accountId": "123456789012",
              "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "Admin"}}},
            "eventTime": "2024-08-16T11:19:29Z",
            "eventSource": "dynamodb.amazonaws.com",
            "eventName": "UpdateTable",
            "awsRegion": "ap-northeast-1",
            "sourceIPAddress": "203.0.113.67",
            "userAgent": "console.amazonaws.com",
            "requestParameters": {"tableName": "orders", "provisionedThroughput": {"readCapacityUnits": 1, "writeCapacityUnits": 1}},
            "responseElements": null,
            "eventID": "554974f2-844b-7e86-3b22-a18395513d54",
            "readOnly": false
        }, {"eventTime": "2024-08-16T11:19:30Z", "eventSource": "iam.amazonaws.com", "eventName": "DetachRolePolicy",
            "userIdentity": {"type": "IAMUser", "userName": "ops-bob", "arn": "arn:aws:iam::1:user/ops-bob"},
            "errorCode": "AccessDenied", "errorMessage": "not allowed", "requestParameters": {"roleName": "app", "policyArn": "arn:aws:iam::aws:policy/S3"}}]}"#;
        let ev = events("ct.json.gz", &gzip(json.as_bytes()));
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].event_name, "UpdateTable");
        assert_eq!(ev[0].actor, "Admin/alice");
        assert_eq!(ev[0].resources, vec!["orders".to_string()]);
        assert!(ev[0].is_mutating());
        assert!(ev[0].request_parameters.contains("writeCapacityUnits"));
        assert_eq!(ev[1].actor, "ops-bob");
        assert_eq!(ev[1].error_code, "AccessDenied");
        assert_eq!(ev[1].read_only, None);
        assert!(ev[1].is_mutating());
    }

    #[test]
    fn lookup_events_output() {
        let json = r#"{"Events": [{"EventId": "e1", "EventName": "RevokeSecurityGroupIngress", "ReadOnly": "false",
            "AccessKeyId": "ASIAEXAMPLE", "EventTime": "2024-08-16T20:19:29+09:00", "EventSource": "ec2.amazonaws.com",
            "Username": "ops-carol", "Resources": [{"ResourceType": "AWS::EC2::SecurityGroup", "ResourceName": "sg-0123"}],
            "CloudTrailEvent": "{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":\"IAMUser\",\"userName\":\"ops-carol\"},\"eventTime\":\"2024-08-16T11:19:29Z\",\"eventSource\":\"ec2.amazonaws.com\",\"eventName\":\"RevokeSecurityGroupIngress\",\"sourceIPAddress\":\"198.51.100.7\",\"readOnly\":false,\"requestParameters\":{\"groupId\":\"sg-0123\"}}"},
            {"EventId": "e2", "EventName": "DescribeTable", "ReadOnly": "true", "EventTime": 1723807169.0, "Username": "svc", "CloudTrailEvent": "{broken"}]}"#;
        let (sink, summary) = read_bytes("lookup.json", json.as_bytes());
        let ev: Vec<_> = sink
            .records
            .into_iter()
            .filter_map(|(_, r)| match r {
                Record::Audit(a) => Some(*a),
                _ => None,
            })
            .collect();
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].source_ip, "198.51.100.7");
        assert_eq!(ev[0].resources, vec!["sg-0123".to_string()]);
        assert_eq!(
            crate::time::rfc3339(ev[0].time.unwrap()),
            "2024-08-16T11:19:29.000Z"
        );
        assert_eq!(ev[1].read_only, Some(true));
        assert_eq!(ev[1].actor, "svc");
        assert!(ev[1].time.is_some());
        assert!(
            summary.statuses[0]
                .error
                .clone()
                .unwrap()
                .contains("not valid JSON")
        );
    }
}
