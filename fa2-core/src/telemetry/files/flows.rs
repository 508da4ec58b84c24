//! VPC Flow Logs as delivered to S3 or exported from CloudWatch Logs: the default version 2
//! format (`version account-id interface-id srcaddr dstaddr srcport dstport protocol packets
//! bytes start end action log-status`) and custom formats, whose field names a header line
//! gives.
//!
//! Policy: each flow log record with data is a log event at its `start` time, its message
//! `VPC flow <ACTION> <protocol> <srcaddr> -> <dstaddr>:<dstport> (<interface-id>)`, so that the
//! distiller counts rejected traffic per destination and port (`distill/flows.rs`) and the
//! template miner groups the rest. `NODATA` / `SKIPDATA` records carry no flow: they are
//! counted and dropped.

use super::losses::Loss;
use super::{FileCtx, FileError};
use crate::record::{LogEvent, Record};
use std::io::BufRead;

/// The prefix of every flow message (the distiller's key).
pub(crate) const FLOW_PREFIX: &str = "VPC flow ";
/// The fields of the default (version 2) format.
const DEFAULT_FIELDS: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// Whether `line` is a flow log header (field names) or a default-format record.
pub(crate) fn looks_like_flow_log(line: &str) -> bool {
    let f: Vec<&str> = line.split_ascii_whitespace().collect();
    if f.contains(&"srcaddr") && f.contains(&"dstaddr") && f.contains(&"start") {
        return true;
    }
    f.len() == DEFAULT_FIELDS.len()
        && f[0] == "2"
        && f[1].len() == 12
        && f[1].bytes().all(|b| b.is_ascii_digit())
        && f[2].starts_with("eni-")
}

/// IANA protocol numbers people read by name.
fn protocol_name(p: &str) -> &str {
    match p {
        "6" => "tcp",
        "17" => "udp",
        "1" => "icmp",
        "58" => "icmpv6",
        other => other,
    }
}

pub(crate) fn read_flow_log(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let mut lines = ctx.lines(reader);
    let mut buf = Vec::with_capacity(512);
    let mut names: Vec<String> = DEFAULT_FIELDS.iter().map(|s| s.to_string()).collect();
    let mut first = true;
    while lines.next_into(&mut buf)? {
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if first {
            first = false;
            if fields.contains(&"srcaddr") && fields.contains(&"start") {
                names = fields.iter().map(|s| s.to_string()).collect();
                continue;
            }
        }
        let get = |name: &str| {
            names
                .iter()
                .position(|n| n == name)
                .and_then(|i| fields.get(i).copied())
                .filter(|v| *v != "-")
        };
        if fields.len() != names.len() {
            ctx.lose(Loss::NotFlowLog, 1);
            let sample: String = line.chars().take(80).collect();
            ctx.losses.sample(Loss::NotFlowLog, || sample);
            continue;
        }
        if matches!(get("log-status"), Some("NODATA" | "SKIPDATA")) {
            // an interval without flows (or whose flows were not captured)
            ctx.lose(Loss::NoFlowData, 1);
            continue;
        }
        let Some(ts) = get("start").and_then(crate::time::parse_epoch) else {
            ctx.lose(Loss::NoTimestamp, 1);
            continue;
        };
        let message = format!(
            "{FLOW_PREFIX}{} {} {} -> {}:{} ({})",
            get("action").unwrap_or("-"),
            protocol_name(get("protocol").unwrap_or("-")),
            get("srcaddr").unwrap_or("-"),
            get("dstaddr").unwrap_or("-"),
            get("dstport").unwrap_or("-"),
            get("interface-id").unwrap_or("-"),
        );
        ctx.emit(Record::Log(LogEvent {
            ts,
            group: ctx.group.clone(),
            stream: None,
            message,
        }))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::tests::{log_messages, read_bytes};

    fn messages(name: &str, content: &str) -> (Vec<(String, String)>, String) {
        let (sink, summary) = read_bytes(name, content.as_bytes());
        let m = log_messages(&sink);
        (m, summary.statuses[0].error.clone().unwrap_or_default())
    }

    #[test]
    fn default_and_custom_formats() {
        // The version 2 examples of the Amazon VPC User Guide, "Flow log record examples":
        // https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html
        let (m, warn) = messages(
            "flows.log",
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n\
2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK\n\
2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA\n\
2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA\n\
2 123456789010 truncated line\n",
        );
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(
            m[1],
            (
                "2014-12-14T04:06:50.000Z".to_string(),
                "VPC flow REJECT tcp 172.31.9.69 -> 172.31.9.12:3389 (eni-1235b8ca123456789)"
                    .to_string()
            )
        );
        assert!(
            warn.contains("2 flow log records had no data (NODATA or SKIPDATA) and were ignored"),
            "{warn}"
        );
        assert!(
            warn.contains("1 lines are not flow log records of the file's format"),
            "{warn}"
        );
        // a custom format with its header line, as delivered to S3 (constructed from the
        // field names of https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html)
        let (m, _) = messages(
            "custom.log",
            "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status\n\
3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43416 5001 52.213.180.42 10.0.0.62 6 568 8 1566848875 1566848933 REJECT 2 OK\n",
        );
        assert_eq!(
            m,
            vec![(
                "2019-08-26T19:47:55.000Z".to_string(),
                "VPC flow REJECT tcp 52.213.180.42 -> 10.0.0.62:5001 (eni-1235b8ca123456789)"
                    .to_string()
            )]
        );
    }
}
