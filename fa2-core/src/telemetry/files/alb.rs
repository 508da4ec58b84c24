//! ALB access logs in the documented space-separated format with quoted fields, as delivered
//! to S3 (one entry per line, any number of trailing fields).

use super::losses::Loss;
use super::{FileCtx, FileError};
use crate::record::{AlbAccessLog, Record};
use std::io::BufRead;

const TYPES: &[&str] = &["http", "https", "h2", "grpcs", "ws", "wss"];
/// Fields up to and including `request` must be present for an entry to be usable.
const MIN_FIELDS: usize = 13;
/// Trailing fields kept after the documented ones (ALB adds about one a year; nothing reads
/// them yet): an entry with thousands of them must not keep thousands of strings.
const MAX_EXTRA_FIELDS: usize = 8;
/// Bytes kept of one trailing field.
const EXTRA_FIELD_BYTES: usize = 256;

/// Quick check used by format detection.
pub(crate) fn looks_like_alb(line: &str) -> bool {
    let mut it = line.splitn(3, ' ');
    let (Some(t), Some(time)) = (it.next(), it.next()) else {
        return false;
    };
    TYPES.contains(&t)
        && time.len() >= 20
        && crate::time::parse_timestamp(time).is_some()
        && split_fields(line).len() >= MIN_FIELDS
}

/// Splits on spaces, keeping `"quoted fields"` whole (quotes removed).
pub(crate) fn split_fields(line: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(32);
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' {
            i += 1;
            continue;
        }
        if b[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            // A quote ends the field only when followed by a space or the end of the line.
            while j < b.len() && !(b[j] == b'"' && (j + 1 == b.len() || b[j + 1] == b' ')) {
                j += 1;
            }
            out.push(&line[start..j.min(b.len())]);
            i = j + 1;
        } else {
            let start = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            out.push(&line[start..i]);
        }
    }
    out
}

fn num(s: &str) -> f64 {
    s.parse().unwrap_or(-1.0)
}

fn status(s: &str) -> Option<u16> {
    s.parse().ok()
}

/// Parses one entry; `None` when the line is not a usable ALB entry.
pub(crate) fn parse_entry(line: &str) -> Option<AlbAccessLog> {
    let f = split_fields(line);
    if f.len() < MIN_FIELDS || !TYPES.contains(&f[0]) {
        return None;
    }
    let time = crate::time::parse_timestamp(f[1])?;
    let get = |i: usize| f.get(i).map_or(String::new(), |s| (*s).to_string());
    let mut req = f[12].splitn(3, ' ');
    let method = req.next().unwrap_or("").to_string();
    let url = req.next().unwrap_or("").to_string();
    let protocol = req.next().unwrap_or("").to_string();
    Some(AlbAccessLog {
        kind: f[0].to_string(),
        time: Some(time),
        elb: get(2),
        client: get(3),
        target: get(4),
        request_processing_time: num(f[5]),
        target_processing_time: num(f[6]),
        response_processing_time: num(f[7]),
        elb_status_code: status(f[8]),
        target_status_code: status(f[9]),
        received_bytes: f[10].parse().unwrap_or(0),
        sent_bytes: f[11].parse().unwrap_or(0),
        method,
        url,
        protocol,
        user_agent: get(13),
        ssl_cipher: get(14),
        ssl_protocol: get(15),
        target_group_arn: get(16),
        trace_id: get(17),
        domain_name: get(18),
        chosen_cert_arn: get(19),
        matched_rule_priority: get(20),
        request_creation_time: f.get(21).and_then(|s| crate::time::parse_timestamp(s)),
        actions_executed: get(22),
        redirect_url: get(23),
        error_reason: get(24),
        target_port_list: get(25),
        target_status_code_list: get(26),
        classification: get(27),
        classification_reason: get(28),
        extra: f
            .iter()
            .skip(29)
            .take(MAX_EXTRA_FIELDS)
            .map(|s| crate::bounds::cut(s, EXTRA_FIELD_BYTES))
            .collect(),
    })
}

pub(crate) fn read_alb_log(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let mut lines = ctx.lines(reader);
    let mut buf = Vec::with_capacity(1024);
    while lines.next_into(&mut buf)? {
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        if buf.is_empty() {
            continue;
        }
        let line = String::from_utf8_lossy(&buf);
        match parse_entry(&line) {
            Some(entry) => ctx.emit(Record::Alb(Box::new(entry)))?,
            None => {
                ctx.lose(Loss::NotAlb, 1);
                ctx.losses
                    .sample(Loss::NotAlb, || line.chars().take(80).collect());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::tests::{gzip, read_bytes};
    use super::*;

    // Examples from the Elastic Load Balancing documentation ("Access log entries").
    const DOC_HTTP: &str = r#"http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-""#;
    const DOC_HTTPS: &str = r#"https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 2018-07-02T22:22:48.364000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90"#;
    const DOC_FAILED: &str = r#"https 2018-11-30T22:22:48.364000Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 - -1 -1 -1 502 - 34 366 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337364-23a8c76965a2ef7629b185e3" "-" "-" 0 2018-11-30T22:22:48.364000Z "forward" "-" "LambdaInvalidResponse" "-" "-" "-" "-""#;

    #[test]
    fn documentation_examples() {
        let e = parse_entry(DOC_HTTP).unwrap();
        assert_eq!(e.kind, "http");
        assert_eq!(e.elb_status_code, Some(200));
        assert_eq!(e.method, "GET");
        assert_eq!(e.path(), "/");
        assert_eq!(e.user_agent, "curl/7.46.0");
        assert_eq!(e.target_group(), "my-targets");
        assert_eq!(e.target_status_code_list, "200");
        let e = parse_entry(DOC_HTTPS).unwrap();
        assert_eq!(e.actions_executed, "authenticate,forward");
        assert_eq!(e.domain_name, "www.example.com");
        assert_eq!(e.extra, vec!["TID_1234abcd5678ef90".to_string()]);
        let e = parse_entry(DOC_FAILED).unwrap();
        assert_eq!(e.target_processing_time, -1.0);
        assert_eq!(e.target_status_code, None);
        assert_eq!(e.elb_status_code, Some(502));
        assert_eq!(e.error_reason, "LambdaInvalidResponse");
        assert!(looks_like_alb(DOC_FAILED));
    }

    #[test]
    fn malformed_lines_are_counted_not_fatal() {
        let content =
            format!("{DOC_HTTP}\nthis is garbage\nhttps 2018-07-02T22:23:00Z short\n{DOC_HTTPS}\n");
        let (sink, summary) = read_bytes("x.log.gz", &gzip(content.as_bytes()));
        assert_eq!(sink.records.len(), 2);
        let warn = summary.statuses[0].error.clone().unwrap();
        assert!(
            warn.contains("2 lines are not ALB access log entries"),
            "{warn}"
        );
    }

    #[test]
    fn thousands_of_trailing_fields_keep_a_few_short_ones() {
        let long = "x".repeat(10_000);
        let line = format!("{DOC_HTTPS} {long} {}", vec!["f"; 10_000].join(" "));
        let e = parse_entry(&line).unwrap();
        assert_eq!(e.extra.len(), MAX_EXTRA_FIELDS);
        assert_eq!(e.extra[0], "TID_1234abcd5678ef90");
        assert_eq!(e.extra[1].len(), EXTRA_FIELD_BYTES + '…'.len_utf8());
        assert_eq!(e.elb_status_code, Some(200));
    }

    #[test]
    fn quoted_fields_with_spaces() {
        let f = split_fields(r#"a "b c" "" d "e""#);
        assert_eq!(f, vec!["a", "b c", "", "d", "e"]);
        let f = split_fields(r#"a "unterminated"#);
        assert_eq!(f, vec!["a", "unterminated"]);
    }
}
