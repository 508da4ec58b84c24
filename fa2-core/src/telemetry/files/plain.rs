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
        if let Some(lead) = crate::time::parse_leading(&line, ctx.syslog_year) {
            if let Some((ev, _)) = pending.take() {
                ctx.emit(Record::Log(ev))?;
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
    use super::super::tests::read_bytes;
    use crate::record::Record;

    fn messages(content: &str) -> Vec<(String, String)> {
        let (sink, _) = read_bytes("app.log", content.as_bytes());
        sink.records
            .iter()
            .filter_map(|(_, r)| match r {
                Record::Log(l) => Some((crate::time::rfc3339(l.ts), l.message.clone())),
                _ => None,
            })
            .collect()
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
