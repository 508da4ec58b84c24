//! What reading files lost or repaired: counted the moment it happens, so that a later error in
//! the same file cannot hide it, summed over the files of a kind, and told in `sources[]`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One kind of loss or repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Loss {
    /// Log events dropped for a missing or invalid timestamp.
    NoTimestamp,
    /// Logs Insights rows without `@timestamp` or `@message`, dropped.
    IncompleteRow,
    /// CloudTrail events without a valid `eventTime`, dropped.
    NoEventTime,
    /// lookup-events entries whose `CloudTrailEvent` is not JSON (summary fields used).
    BadCloudTrailEvent,
    /// X-Ray summaries without a valid `StartTime`, dropped.
    NoStartTime,
    /// X-Ray segment documents that are not JSON, dropped.
    BadSegmentDocument,
    /// Plain-log lines before the first timestamped line, dropped.
    OrphanLines,
    /// Continuation lines over the per-event limits, dropped.
    DroppedContinuation,
    /// Lines decoded lossily.
    InvalidUtf8Lines,
    /// Lines of an ALB log that are no ALB entry, dropped (the first is the sample).
    NotAlb,
    /// Lines cut at the line limit (`bytes`: what was not kept).
    LongLines,
    /// JSON strings cut at the limit (`bytes`: what was not kept).
    LongStrings,
    /// Invalid UTF-8 sequences and broken escapes in JSON strings replaced with U+FFFD.
    RepairedJson,
    /// Raw control characters in JSON strings, escaped.
    ControlChars,
    /// NUL bytes before a file's content, skipped (`bytes`).
    LeadingNuls,
    /// Lines of a JSON-lines file that are not JSON, dropped (the first is the sample).
    BadJsonLine,
    /// JSON documents that are not records of the file's kind, dropped (the first described).
    NotARecord,
    /// Timestamps without a zone, read in the configured zone (the sample names it).
    ZoneAssumed,
    /// Lines of an access log that are no common/combined log format entry, dropped.
    NotAccessLog,
    /// Lines of a flow log whose field count is not the format's, dropped.
    NotFlowLog,
    /// Flow log `NODATA` / `SKIPDATA` records, dropped.
    NoFlowData,
}

/// How much of one loss, and where.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Tally {
    pub count: u64,
    pub bytes: u64,
    pub sample: Option<String>,
    /// Files it happened in (the first few) and how many more.
    pub files: Vec<String>,
    pub more_files: u64,
}

/// Files named per loss in a summary.
const FILES_NAMED: usize = 3;

/// The losses of one file or of the files of one kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Losses(BTreeMap<Loss, Tally>);

impl Losses {
    pub fn add(&mut self, loss: Loss, count: u64, bytes: u64) {
        let t = self.0.entry(loss).or_default();
        t.count += count;
        t.bytes += bytes;
    }

    /// Keeps `sample` as the example of `loss` unless there is one already.
    pub fn sample(&mut self, loss: Loss, sample: impl FnOnce() -> String) {
        let t = self.0.entry(loss).or_default();
        if t.sample.is_none() {
            t.sample = Some(sample());
        }
    }

    /// Adds the losses of the file at `path`.
    pub fn merge_file(&mut self, path: &Path, other: Losses) {
        for (loss, o) in other.0 {
            if o.count == 0 && o.bytes == 0 {
                continue;
            }
            let t = self.0.entry(loss).or_default();
            t.count += o.count;
            t.bytes += o.bytes;
            if t.sample.is_none() {
                t.sample = o.sample;
            }
            if t.files.len() < FILES_NAMED {
                t.files.push(path.display().to_string());
            } else {
                t.more_files += 1;
            }
        }
    }

    /// One sentence per loss; `named` adds the files each happened in.
    pub fn describe(&self, max_line_bytes: usize, named: bool) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, t)| t.count > 0 || t.bytes > 0)
            .map(|(loss, t)| {
                let text = sentence(*loss, t, max_line_bytes);
                if !named || t.files.is_empty() {
                    return text;
                }
                if t.files.len() == 1 && t.more_files == 0 {
                    return format!("{}: {text}", t.files[0]);
                }
                let more = if t.more_files > 0 {
                    format!(" and {} more files", t.more_files)
                } else {
                    String::new()
                };
                format!("{text} (in {}{more})", t.files.join(", "))
            })
            .collect()
    }
}

fn sentence(loss: Loss, t: &Tally, max: usize) -> String {
    use super::plain::{MAX_CONTINUATION_LINES, MAX_EVENT_BYTES};
    let n = t.count;
    let b = t.bytes;
    match loss {
        Loss::NoTimestamp => format!("{n} events without a valid timestamp were ignored"),
        Loss::IncompleteRow => format!(
            "{n} result rows without @timestamp or @message were ignored (add them to the query's fields)"
        ),
        Loss::NoEventTime => format!("{n} events without a valid eventTime were ignored"),
        Loss::BadCloudTrailEvent => format!(
            "{n} events had a CloudTrailEvent that is not valid JSON; their summary fields were used"
        ),
        Loss::NoStartTime => format!("{n} trace summaries without a valid StartTime were ignored"),
        Loss::BadSegmentDocument => {
            format!("{n} segment documents were not valid JSON and were ignored")
        }
        Loss::OrphanLines => {
            format!("{n} lines before the first timestamped line were ignored")
        }
        Loss::DroppedContinuation => format!(
            "{n} continuation lines beyond {MAX_CONTINUATION_LINES} lines or {MAX_EVENT_BYTES} bytes per event were not kept"
        ),
        Loss::InvalidUtf8Lines => {
            format!("{n} lines were not valid UTF-8 and were decoded lossily")
        }
        Loss::NotAlb => format!(
            "{n} lines are not ALB access log entries and were ignored (first: `{}`)",
            t.sample.as_deref().unwrap_or_default()
        ),
        Loss::LongLines => format!(
            "{n} lines longer than {max} bytes (max_line_bytes) were cut; {b} bytes of them were not read into memory"
        ),
        Loss::LongStrings => format!(
            "{n} JSON strings longer than {max} bytes (max_line_bytes) were cut; {b} bytes of them were not kept"
        ),
        Loss::RepairedJson => format!(
            "{n} invalid UTF-8 sequences or broken escapes in JSON strings were replaced with U+FFFD (the events were kept)"
        ),
        Loss::ControlChars => format!(
            "{n} raw control characters in JSON strings were read as escaped ones (the events were kept)"
        ),
        Loss::BadJsonLine => format!(
            "{n} lines are not valid JSON and were ignored (first: `{}`)",
            t.sample.as_deref().unwrap_or_default()
        ),
        Loss::NotARecord => format!(
            "{n} JSON documents are not records of this kind and were ignored (first: {})",
            t.sample.as_deref().unwrap_or_default()
        ),
        Loss::ZoneAssumed => format!(
            "{n} events have a timestamp without a time zone: read as {} (config `timezone`)",
            t.sample.as_deref().unwrap_or("UTC")
        ),
        Loss::NotAccessLog => format!(
            "{n} lines are not common/combined log format entries and were ignored (first: `{}`)",
            t.sample.as_deref().unwrap_or_default()
        ),
        Loss::NotFlowLog => format!(
            "{n} lines are not flow log records of the file's format and were ignored (first: `{}`)",
            t.sample.as_deref().unwrap_or_default()
        ),
        Loss::NoFlowData => {
            format!("{n} flow log records had no data (NODATA or SKIPDATA) and were ignored")
        }
        Loss::LeadingNuls => format!(
            "{b} NUL bytes before the content (padding, as `logrotate copytruncate` leaves) were skipped"
        ),
    }
}

/// Counters shared with the readers a parser hands its input to (the JSON guard, the line
/// reader), which outlive no file but may end it with an error.
#[derive(Debug, Default)]
pub(crate) struct ReaderCounters {
    pub long_lines: AtomicU64,
    pub long_line_bytes: AtomicU64,
    pub long_strings: AtomicU64,
    pub long_string_bytes: AtomicU64,
    pub repaired: AtomicU64,
    pub control_chars: AtomicU64,
}

impl ReaderCounters {
    pub fn bump(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Moves the counts into `losses`.
    pub fn drain_into(counters: &Arc<ReaderCounters>, losses: &mut Losses) {
        let take = |c: &AtomicU64| c.swap(0, Ordering::Relaxed);
        losses.add(
            Loss::LongLines,
            take(&counters.long_lines),
            take(&counters.long_line_bytes),
        );
        losses.add(
            Loss::LongStrings,
            take(&counters.long_strings),
            take(&counters.long_string_bytes),
        );
        losses.add(Loss::RepairedJson, take(&counters.repaired), 0);
        losses.add(Loss::ControlChars, take(&counters.control_chars), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_over_files_and_names_them() {
        let mut total = Losses::default();
        for i in 0..5 {
            let mut one = Losses::default();
            one.add(Loss::NoTimestamp, 2, 0);
            one.add(Loss::LongLines, 0, 0);
            total.merge_file(Path::new(&format!("f{i}.json")), one);
        }
        let d = total.describe(1024, true);
        assert_eq!(
            d,
            vec![
                "10 events without a valid timestamp were ignored (in f0.json, f1.json, f2.json and 2 more files)"
            ]
        );
        let mut one = Losses::default();
        one.add(Loss::LeadingNuls, 1, 4096);
        let mut total = Losses::default();
        total.merge_file(Path::new("app.log"), one);
        assert!(total.describe(1024, true)[0].starts_with("app.log: 4096 NUL bytes"));
    }
}
