//! Plain application logs and CloudWatch export-task text: one event per line with a leading
//! timestamp; lines without one (stack traces) continue the event before them.

use super::losses::Loss;
use super::{FileCtx, FileError};
use crate::record::{LogEvent, Record};
use std::io::BufRead;

/// Continuation lines kept per event; the rest are counted, not stored.
pub(crate) const MAX_CONTINUATION_LINES: usize = 64;
/// Bytes kept per event message.
pub(crate) const MAX_EVENT_BYTES: usize = 16 * 1024;
/// The header line of API Gateway execution logs (test invoke), before the first event.
const EXECUTION_LOG_HEADER: &str = "Execution log for request ";

pub(crate) fn read_plain_log(
    reader: Box<dyn BufRead + Send>,
    ctx: &mut FileCtx<'_>,
) -> Result<(), FileError> {
    let mut lines = ctx.lines(reader);
    let mut buf = Vec::with_capacity(1024);
    let mut pending: Option<(LogEvent, usize)> = None;
    while lines.next_into(&mut buf)? {
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        // NUL padding (logrotate copytruncate) in front of a line is not part of it.
        let start = buf.iter().take_while(|&&b| b == 0).count();
        let raw = &buf[start..];
        let line = match std::str::from_utf8(raw) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => {
                ctx.lose(Loss::InvalidUtf8Lines, 1);
                String::from_utf8_lossy(raw)
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(mut lead) = crate::time::parse_leading(&line, ctx.syslog_year) {
            if let Some((ev, _)) = pending.take() {
                ctx.emit(Record::Log(ev))?;
            }
            if !lead.zoned {
                // never guessed silently: the configured zone, and the report says so
                let zone = ctx.zone.unwrap_or(chrono_tz::UTC);
                lead.ts = crate::time::in_zone(lead.ts, zone);
                ctx.lose(Loss::ZoneAssumed, 1);
                ctx.losses
                    .sample(Loss::ZoneAssumed, || zone.name().to_string());
            }
            let message = line[lead.len..]
                .trim_start_matches([' ', '\t', ':', '|', ']'])
                .to_string();
            pending = Some((
                LogEvent {
                    ts: lead.ts,
                    group: ctx.group.clone(),
                    stream: None,
                    message,
                },
                0,
            ));
        } else if let Some((ev, lines)) = pending.as_mut() {
            if *lines < MAX_CONTINUATION_LINES && ev.message.len() + line.len() < MAX_EVENT_BYTES {
                ev.message.push('\n');
                ev.message.push_str(&line);
                *lines += 1;
            } else {
                ctx.lose(Loss::DroppedContinuation, 1);
            }
        } else if line.starts_with(EXECUTION_LOG_HEADER) {
            // API Gateway's test-invoke output heads its log with this line: not an event
        } else {
            ctx.lose(Loss::OrphanLines, 1);
        }
    }
    if let Some((ev, _)) = pending.take() {
        ctx.emit(Record::Log(ev))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::tests::{log_messages, read_bytes};
    use crate::record::Record;

    fn messages(content: &str) -> Vec<(String, String)> {
        let (sink, _) = read_bytes("app.log", content.as_bytes());
        log_messages(&sink)
    }

    #[test]
    fn stack_traces_join_the_event_before() {
        let log = "2024-08-16 11:21:59,123 ERROR [http-nio-8080-exec-3] c.e.OrderService - Failed to save order\n\
java.net.SocketTimeoutException: Connect timed out\n\
\tat java.base/java.net.Socket.connect(Socket.java:633)\n\
\tat org.postgresql.core.PGStream.<init>(PGStream.java:98)\n\
2024-08-16 11:22:00,001 INFO [main] c.e.App - next\n";
        let m = messages(log);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].0, "2024-08-16T11:21:59.123Z");
        assert!(m[0].1.starts_with("ERROR [http-nio-8080-exec-3]"));
        assert_eq!(m[0].1.lines().count(), 4);
        assert_eq!(m[1].1, "INFO [main] c.e.App - next");
    }

    #[test]
    fn export_task_and_syslog_lines() {
        let m = messages(
            "2024-08-16T10:19:00.804Z (3d884924) Method completed with status: 200\r\n\
Aug 16 11:20:01 ip-10-0-1-5 kernel: Out of memory: Killed process 4242\n",
        );
        assert_eq!(m[0].1, "(3d884924) Method completed with status: 200");
        assert_eq!(m[1].0, "2024-08-16T11:20:01.000Z");
        assert!(m[1].1.starts_with("ip-10-0-1-5 kernel"));
    }

    #[test]
    fn api_gateway_execution_log_with_header_and_body() {
        // Typed from the API Gateway Developer Guide, "Tutorial: Create a REST API with a
        // Lambda non-proxy integration" (the test-invoke log, shortened):
        // https://docs.aws.amazon.com/apigateway/latest/developerguide/getting-started-lambda-non-proxy-integration.html
        let log = "Execution log for request test-request\n\
Thu Aug 31 01:07:25 UTC 2017 : Starting execution for request: test-invoke-request\n\
Thu Aug 31 01:07:25 UTC 2017 : HTTP Method: POST, Resource Path: /Seattle\n\
Thu Aug 31 01:07:25 UTC 2017 : Endpoint request body after transformations: {\n\
  \"city\": \"Seattle\",\n\
  \"time\": \"morning\"\n\
}\n\
Thu Aug 31 01:07:25 UTC 2017 : Received response. Integration latency: 328 ms\n\
Thu Aug 31 01:07:25 UTC 2017 : Method completed with status: 200\n";
        let (sink, summary) = read_bytes("exec.txt", log.as_bytes());
        let m = log_messages(&sink);
        assert_eq!(m.len(), 5);
        assert_eq!(m[0].0, "2017-08-31T01:07:25.000Z");
        assert_eq!(
            m[0].1,
            "Starting execution for request: test-invoke-request"
        );
        assert_eq!(m[2].1.lines().count(), 4);
        assert!(m[2].1.ends_with("\n}"));
        // the header is no event and no loss; every time said its zone
        assert_eq!(summary.statuses[0].error, None);
    }

    #[test]
    fn common_timestamp_forms_and_the_configured_zone() {
        let log = "2024-08-02 09:00:00,123 ERROR comma millis\n\
2024/08/02 09:00:01 INFO slashes\n\
[02/Aug/2024:09:00:02 +0900] bracketed CLF time\n\
1722556803 epoch seconds\n\
Aug  2 09:00:04 host app[1]: syslog\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, log).unwrap();
        let tokyo: chrono_tz::Tz = "Asia/Tokyo".parse().unwrap();
        for (zone, first) in [
            (None, "2024-08-02T09:00:00.123Z"),
            (Some(tokyo), "2024-08-02T00:00:00.123Z"),
        ] {
            let src = super::super::FilesSource::new(vec![path.clone()]).with_zone(zone);
            let mut sink = crate::telemetry::VecSink::default();
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let summary = rt
                .block_on(crate::telemetry::TelemetrySource::collect(
                    &src,
                    &super::super::tests::query(),
                    &mut sink,
                ))
                .unwrap();
            let ts: Vec<String> = sink
                .records
                .iter()
                .filter_map(|(_, r)| match r {
                    Record::Log(l) => Some(crate::time::rfc3339(l.ts)),
                    _ => None,
                })
                .collect();
            assert_eq!(ts.len(), 5);
            assert_eq!(ts[0], first);
            // the zoned ones do not move
            assert_eq!(ts[2], "2024-08-02T00:00:02.000Z");
            assert_eq!(ts[3], "2024-08-02T00:00:03.000Z");
            let warn = summary.statuses[0].error.clone().unwrap();
            let name = zone.map_or("UTC", |z| z.name());
            assert!(
                warn.contains(&format!(
                    "3 events have a timestamp without a time zone: read as {name} (config `timezone`)"
                )),
                "{warn}"
            );
        }
    }

    #[test]
    fn orphan_lines_are_reported_and_invalid_utf8_survives() {
        let mut content = b"header without time\n2024-08-16T11:20:00Z ok \xff\xfe bytes\n".to_vec();
        content.extend_from_slice("2024-08-16T11:20:01Z 日本語のメッセージ\n".as_bytes());
        let (sink, summary) = read_bytes("x.log", &content);
        assert_eq!(sink.records.len(), 2);
        let warn = summary.statuses[0].error.clone().unwrap();
        assert!(
            warn.contains("1 lines before the first timestamped line"),
            "{warn}"
        );
        assert!(warn.contains("not valid UTF-8"), "{warn}");
    }

    #[test]
    fn huge_stack_traces_are_capped() {
        let mut log = String::from("2024-08-16T11:20:00Z ERROR boom\n");
        for i in 0..1000 {
            log.push_str(&format!("\tat frame{i}\n"));
        }
        let (sink, summary) = read_bytes("x.log", log.as_bytes());
        match &sink.records[0].1 {
            Record::Log(l) => assert_eq!(l.message.lines().count(), 65),
            _ => panic!("not a log"),
        }
        assert!(
            summary.statuses[0]
                .error
                .clone()
                .unwrap()
                .contains("continuation lines")
        );
    }
}
