//! Web server access logs in the common and combined log formats (nginx, Apache httpd):
//! `host ident user [10/Oct/2000:13:55:36 -0700] "request" status bytes ["referer" "agent"]`.
//!
//! Policy: each entry is a log event at its bracketed time (which always carries its offset),
//! its message the line without the time, so that the template miner groups requests by
//! method, path shape and status. A line that is no entry is counted and dropped.

use super::losses::Loss;
use super::{FileCtx, FileError};
use crate::record::{LogEvent, Record};
use std::io::BufRead;

/// The time of a common-log-format line and the byte range of its `[...]`, when `line` is one:
/// three fields, the bracketed time, then a quoted request.
pub(crate) fn access_time(line: &str) -> Option<(chrono::DateTime<chrono::Utc>, usize, usize)> {
    let open = line.find(" [")? + 1;
    // host, ident and user before the time: exactly three space-separated fields
    if line[..open - 1].split(' ').count() != 3 {
        return None;
    }
    let lead = crate::time::parse_leading(&line[open..], 2000)?;
    let close = open + lead.len;
    if !line[close..].starts_with(" \"") {
        return None;
    }
    Some((lead.ts, open, close))
}

pub(crate) fn read_access_log(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let mut lines = ctx.lines(reader);
    let mut buf = Vec::with_capacity(1024);
    while lines.next_into(&mut buf)? {
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        if std::str::from_utf8(&buf).is_err() {
            ctx.lose(Loss::InvalidUtf8Lines, 1);
        }
        let Some((ts, open, close)) = access_time(line) else {
            ctx.lose(Loss::NotAccessLog, 1);
            let sample: String = line.chars().take(80).collect();
            ctx.losses.sample(Loss::NotAccessLog, || sample);
            continue;
        };
        let message = format!("{}{}", &line[..open], &line[close + 1..]);
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

    #[test]
    fn common_and_combined_log_formats() {
        // The examples of the Apache HTTP Server documentation, "Log Files" (Common Log Format
        // and Combined Log Format): https://httpd.apache.org/docs/2.4/logs.html
        let log = concat!(
            "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326\n",
            "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326 \"http://www.example.com/start.html\" \"Mozilla/4.08 [en] (Win98; I ;Nav)\"\n",
            "this line is no entry\n",
            "192.0.2.7 - - [10/Oct/2000:13:56:01 +0000] \"POST /api/orders HTTP/1.1\" 502 157 \"-\" \"curl/8.5.0\"\n",
            "192.0.2.7 - - [10/Oct/2000:13:56:0"
        );
        let (sink, summary) = read_bytes("access.log", log.as_bytes());
        let m = log_messages(&sink);
        assert_eq!(m.len(), 3);
        assert_eq!(
            m[0],
            (
                "2000-10-10T20:55:36.000Z".to_string(),
                "127.0.0.1 - frank \"GET /apache_pb.gif HTTP/1.0\" 200 2326".to_string()
            )
        );
        assert!(m[1].1.ends_with("\"Mozilla/4.08 [en] (Win98; I ;Nav)\""));
        assert_eq!(m[2].0, "2000-10-10T13:56:01.000Z");
        let s = &summary.statuses[0];
        assert_eq!(s.kind, "logs");
        assert_eq!(s.records, 3);
        let warn = s.error.as_deref().unwrap();
        assert!(
            warn.contains("2 lines are not common/combined log format entries and were ignored (first: `this line is no entry`)"),
            "{warn}"
        );
    }
}
