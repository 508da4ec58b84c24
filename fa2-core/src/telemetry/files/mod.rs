//! The files source: reads exported telemetry (DESIGN.md section 6) from files and
//! directories, detects each file's format from its content, decompresses gzip transparently
//! and streams records into the sink without holding a file in memory.
//!
//! Problems are per file: a file in no known format (or no regular file, or a second path to
//! a file already read) is `skipped`, a corrupt one is an `error` (with the records read before
//! the damage kept), and the rest goes on. No input costs more than its limits: one line or
//! JSON string keeps at most `max_line_bytes`, every read ends at the deadline, and whatever is
//! cut, repaired or dropped is counted in `sources[]`.

mod access;
mod alb;
pub(crate) mod cloudtrail;
mod cwlogs;
mod detect;
mod flows;
mod json_docs;
mod json_guard;
mod json_stream;
mod lines;
mod losses;
mod metrics;
mod plain;
mod walk;
pub(crate) mod xray;

pub use detect::{Detected, detect_format};
pub(crate) use flows::FLOW_PREFIX;
pub(crate) use metrics::ALARM_GROUP;
pub use walk::{Listing, input_problem, special_reason};

use crate::error::SourceError;
use crate::record::{Record, RecordKind, RecordType};
use crate::telemetry::{
    CollectSummary, FileFormat, Locator, Origin, OriginId, RecordSink, Reproduction, SourceQuery,
    SourceState, SourceStatus, TelemetrySource,
};
use async_trait::async_trait;
use losses::{Loss, Losses, ReaderCounters};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How many bytes of a file are sniffed to detect its format.
const SNIFF_BYTES: usize = 64 * 1024;
/// The smallest `max_line_bytes` accepted: a line limit below it would cut ordinary entries.
pub const MIN_LINE_BYTES: usize = 1024;

/// Limits of the files source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilesOptions {
    /// Bytes kept of one line (plain and ALB logs) or one JSON string; the rest is read past,
    /// counted, and never held in memory.
    pub max_line_bytes: usize,
}

impl Default for FilesOptions {
    fn default() -> Self {
        FilesOptions {
            max_line_bytes: 1 << 20,
        }
    }
}

/// Reads exported telemetry files.
#[derive(Debug, Clone)]
pub struct FilesSource {
    name: String,
    paths: Vec<PathBuf>,
    options: FilesOptions,
    /// Whose wall clock a timestamp without a zone is (the config's `timezone`); UTC if unset.
    zone: Option<chrono_tz::Tz>,
}

impl FilesSource {
    pub fn new(paths: Vec<PathBuf>) -> Self {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        FilesSource {
            name: format!("files:{}", shown.join(",")),
            paths,
            options: FilesOptions::default(),
            zone: None,
        }
    }

    /// The same source reading timestamps that carry no zone as wall-clock times in `zone`
    /// (the config's `timezone`); the report counts every event read so.
    pub fn with_zone(mut self, zone: Option<chrono_tz::Tz>) -> Self {
        self.zone = zone;
        self
    }

    /// The same source with other limits (a line limit below [`MIN_LINE_BYTES`] is raised to it).
    pub fn with_options(mut self, options: FilesOptions) -> Self {
        self.options = FilesOptions {
            max_line_bytes: options.max_line_bytes.max(MIN_LINE_BYTES),
        };
        self
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Every regular file under the configured paths (each real file once, hidden entries
    /// skipped), and what was not read with the reason.
    pub fn list_files(&self) -> Result<Listing, SourceError> {
        walk::list(&self.paths, None)
    }
}

/// A per-file failure.
#[derive(Debug)]
pub(crate) enum FileError {
    Io(std::io::Error),
    Malformed(String),
    /// Not a regular file (found so only when opened): skipped with this reason.
    NotRegular(String),
    Stopped,
    SinkClosed,
}

/// What a deadline-bound reader fails with once the source should stop.
#[derive(Debug)]
struct DeadlinePassed;

impl std::fmt::Display for DeadlinePassed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the source deadline passed")
    }
}

impl std::error::Error for DeadlinePassed {}

impl From<std::io::Error> for FileError {
    fn from(e: std::io::Error) -> Self {
        // serde_json wraps I/O errors (a truncated gzip stream, the deadline) as io::Error too.
        if e.get_ref()
            .is_some_and(|inner| inner.is::<DeadlinePassed>())
        {
            return FileError::Stopped;
        }
        FileError::Io(e)
    }
}

impl FileError {
    fn describe(&self) -> String {
        match self {
            FileError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                "file is truncated (unexpected end of data; a partial download or a cut gzip stream?)".to_string()
            }
            FileError::Io(e) => format!("read error: {e}"),
            FileError::Malformed(m) | FileError::NotRegular(m) => m.clone(),
            FileError::Stopped => "stopped at the deadline before the end of the file".into(),
            FileError::SinkClosed => "the analysis stopped consuming records".into(),
        }
    }
}

/// State shared by the format parsers while reading one file.
pub(crate) struct FileCtx<'a> {
    sink: &'a mut dyn RecordSink,
    origin: OriginId,
    /// Log group to use when the records do not name one (from the file name).
    pub group: Arc<str>,
    pub syslog_year: i32,
    /// The zone of timestamps written without one (UTC when `None`).
    pub zone: Option<chrono_tz::Tz>,
    query: &'a SourceQuery,
    pub counts: BTreeMap<RecordType, u64>,
    pub notes: Vec<String>,
    /// What was lost or repaired so far, whatever happens next.
    pub losses: Losses,
    /// Cuts and repairs made inside the readers handed to the parsers.
    counters: Arc<ReaderCounters>,
    max_line_bytes: usize,
    since_check: u32,
}

impl FileCtx<'_> {
    pub(crate) fn emit(&mut self, record: Record) -> Result<(), FileError> {
        *self.counts.entry(record.record_type()).or_insert(0) += record.count();
        self.emit_uncounted(record)
    }

    /// Counts `n` records of `kind` read (for records that [`FileCtx::emit_uncounted`]
    /// regroups, such as the statistics of metric datapoints).
    pub(crate) fn count(&mut self, kind: RecordType, n: u64) {
        *self.counts.entry(kind).or_insert(0) += n;
    }

    /// Sends a record whose content is counted otherwise ([`FileCtx::count`]).
    pub(crate) fn emit_uncounted(&mut self, record: Record) -> Result<(), FileError> {
        self.sink
            .accept(self.origin, record)
            .map_err(|_| FileError::SinkClosed)?;
        self.since_check += 1;
        if self.since_check >= 4096 {
            self.since_check = 0;
            if self.query.should_stop() {
                return Err(FileError::Stopped);
            }
        }
        Ok(())
    }

    /// Counts `n` of `loss` now, so that a later error in the file cannot hide it.
    pub(crate) fn lose(&mut self, loss: Loss, n: u64) {
        self.losses.add(loss, n, 0);
    }

    pub(crate) fn note(&mut self, note: String) {
        if self.notes.len() < 8 {
            self.notes.push(note);
        }
    }

    /// `reader` behind the JSON guard: long strings cut, broken text repaired, both counted.
    pub(crate) fn json<R: BufRead>(&self, reader: R) -> BufReader<json_guard::JsonGuard<R>> {
        json_guard::guarded(reader, self.max_line_bytes, self.counters.clone())
    }

    /// `reader` as lines of at most `max_line_bytes` bytes, the cuts counted.
    pub(crate) fn lines<R: BufRead>(&self, reader: R) -> lines::Lines<R> {
        lines::Lines::new(reader, self.max_line_bytes, self.counters.clone())
    }
}

/// The log group a file stands for: its name up to the first dot, or its directory when
/// the name is only digits (CloudWatch export tasks write `<group>/<stream>/000000.gz`).
pub fn group_from_path(path: &Path) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let stem = name.split('.').next().unwrap_or(name);
    if (stem.is_empty() || stem.bytes().all(|b| b.is_ascii_digit()))
        && let Some(parent) = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
    {
        return parent.to_string();
    }
    stem.to_string()
}

/// An opened file: its (decompressed) content after any leading NUL padding.
struct Opened {
    gzip: bool,
    /// NUL bytes skipped before the content.
    leading_nuls: u64,
    /// The first bytes of the content, for format detection.
    prefix: Vec<u8>,
    /// All of the content, the prefix included.
    reader: Box<dyn BufRead + Send>,
}

/// Stops reading once the query should stop: every read of a file, whatever loop drives it,
/// ends at the deadline (a 1.5 GB line has no records to check the deadline between).
struct Bounded<R> {
    inner: R,
    query: Option<SourceQuery>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.query.as_ref().is_some_and(SourceQuery::should_stop) {
            return Err(std::io::Error::other(DeadlinePassed));
        }
        self.inner.read(buf)
    }
}

fn open(path: &Path, query: Option<&SourceQuery>) -> Result<Opened, FileError> {
    let mut f = File::open(path)?;
    // The walk let only regular files through; this catches a path swapped since.
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(FileError::NotRegular(walk::special_reason(&meta)));
    }
    let mut magic = [0u8; 2];
    let n = read_full(&mut f, &mut magic)?;
    let f = std::io::Cursor::new(magic[..n].to_vec()).chain(f);
    let gzip = n == 2 && magic == [0x1f, 0x8b];
    let inner: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            256 * 1024,
            f,
        )))
    } else {
        Box::new(f)
    };
    let mut reader = BufReader::with_capacity(
        256 * 1024,
        Bounded {
            inner,
            query: query.cloned(),
        },
    );
    let leading_nuls = skip_nuls(&mut reader)?;
    let mut prefix = vec![0u8; SNIFF_BYTES];
    let got = read_full(&mut reader, &mut prefix)?;
    prefix.truncate(got);
    let reader = std::io::Cursor::new(prefix.clone()).chain(reader);
    Ok(Opened {
        gzip,
        leading_nuls,
        prefix,
        reader: Box::new(reader),
    })
}

/// Reads past NUL bytes at the start: `logrotate copytruncate` leaves a file that a writer
/// without O_APPEND goes on writing at its old offset, behind a run of NULs.
fn skip_nuls(r: &mut impl BufRead) -> std::io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let (nuls, all) = match r.fill_buf() {
            Ok([]) => return Ok(skipped),
            Ok(buf) => {
                let nuls = buf.iter().take_while(|&&b| b == 0).count();
                (nuls, nuls == buf.len())
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        r.consume(nuls);
        skipped += nuls as u64;
        if !all {
            return Ok(skipped);
        }
    }
}

/// Opens a text file for streaming, decompressing gzip transparently and skipping leading
/// NUL padding.
pub fn open_text(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    match open(path, None) {
        Ok(opened) => Ok(opened.reader),
        Err(FileError::Io(e)) => Err(e),
        Err(e) => Err(std::io::Error::other(e.describe())),
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Accumulates per-kind totals for the summary.
#[derive(Default)]
struct KindTotals {
    records: BTreeMap<RecordType, u64>,
    files: u64,
    losses: Losses,
    notes: Vec<String>,
    more_notes: u64,
}

impl FilesSource {
    /// Reads one file into the sink; returns its format (if known) and what happened.
    fn read_file(
        &self,
        path: &Path,
        query: &SourceQuery,
        sink: &mut dyn RecordSink,
    ) -> FileOutcome {
        let opened = match open(path, Some(query)) {
            Ok(v) => v,
            Err(FileError::NotRegular(reason)) => return FileOutcome::Skipped { reason },
            Err(e) => {
                return FileOutcome::Failed {
                    format: None,
                    counts: BTreeMap::new(),
                    losses: Losses::default(),
                    notes: Vec::new(),
                    error: e.describe(),
                };
            }
        };
        let nuls = opened.leading_nuls;
        let format = match detect_format(path, &opened.prefix) {
            Detected::Format(f) => f,
            Detected::Metadata => return FileOutcome::Metadata,
            Detected::Unknown(_) if nuls > 0 && opened.prefix.is_empty() => {
                return FileOutcome::Skipped {
                    reason: format!(
                        "only NUL bytes ({nuls}): no content (a log emptied by `logrotate copytruncate` and not written since?)"
                    ),
                };
            }
            Detected::Unknown(reason) if nuls > 0 => {
                return FileOutcome::Skipped {
                    reason: format!("{reason} (after {nuls} leading NUL bytes, skipped)"),
                };
            }
            Detected::Unknown(reason) => return FileOutcome::Skipped { reason },
        };
        let origin = sink.register_origin(Origin {
            source: self.name.clone(),
            kind: format.kind(),
            locator: Locator::File {
                path: path.to_path_buf(),
                format,
                gzip: opened.gzip,
            },
        });
        let mut ctx = FileCtx {
            sink,
            origin,
            group: Arc::from(group_from_path(path)),
            syslog_year: crate::time::syslog_year_for(query.window.start),
            zone: self.zone,
            query,
            counts: BTreeMap::new(),
            notes: Vec::new(),
            losses: Losses::default(),
            counters: Arc::new(ReaderCounters::default()),
            max_line_bytes: self.options.max_line_bytes,
            since_check: 0,
        };
        if nuls > 0 {
            ctx.losses.add(Loss::LeadingNuls, 1, nuls);
        }
        let reader = opened.reader;
        let result = match format {
            FileFormat::FilterLogEvents => cwlogs::read_filter_log_events(reader, &mut ctx),
            FileFormat::InsightsResults => cwlogs::read_insights_results(reader, &mut ctx),
            FileFormat::FirehoseLogs => cwlogs::read_firehose(reader, &mut ctx),
            FileFormat::PlainLog => plain::read_plain_log(reader, &mut ctx),
            FileFormat::AlbAccessLog => alb::read_alb_log(reader, &mut ctx),
            FileFormat::CloudTrailRecords => cloudtrail::read_records(reader, &mut ctx),
            FileFormat::CloudTrailLookup => cloudtrail::read_lookup_events(reader, &mut ctx),
            FileFormat::XraySummaries => xray::read_trace_summaries(reader, &mut ctx),
            FileFormat::XrayTraces => xray::read_traces(reader, &mut ctx),
            FileFormat::MetricData => metrics::read_metric_data(reader, &mut ctx),
            FileFormat::CloudTrailEvents => json_docs::read_cloudtrail_events(reader, &mut ctx),
            FileFormat::XraySegments => json_docs::read_segments(reader, &mut ctx),
            FileFormat::JsonLogs => json_docs::read_json_logs(reader, &mut ctx),
            FileFormat::MetricStatistics => metrics::read_metric_statistics(reader, &mut ctx),
            FileFormat::AlarmHistory => metrics::read_alarm_history(reader, &mut ctx),
            FileFormat::DescribeAlarms => metrics::read_describe_alarms(reader, &mut ctx),
            FileFormat::AccessLog => access::read_access_log(reader, &mut ctx),
            FileFormat::VpcFlowLog => flows::read_flow_log(reader, &mut ctx),
        };
        let counts = std::mem::take(&mut ctx.counts);
        let notes = std::mem::take(&mut ctx.notes);
        let mut losses = std::mem::take(&mut ctx.losses);
        ReaderCounters::drain_into(&ctx.counters, &mut losses);
        match result {
            Ok(()) => FileOutcome::Read {
                format,
                counts,
                losses,
                notes,
            },
            Err(e) => FileOutcome::Failed {
                format: Some(format),
                counts,
                losses,
                notes,
                error: e.describe(),
            },
        }
    }

    /// The report line of a file that failed part way: the problem, what was kept, and every
    /// loss counted before it.
    fn failure_text(
        &self,
        error: String,
        records: u64,
        losses: &Losses,
        notes: &[String],
        opened: bool,
    ) -> String {
        let mut text = error;
        if records > 0 {
            text.push_str(&format!(
                " ({records} records read before the problem were kept; the rest of the file was not read)"
            ));
        } else if opened {
            text.push_str(
                " (no record was read before the problem; the rest of the file was not read)",
            );
        }
        let mut before = losses.describe(self.options.max_line_bytes, false);
        before.extend(notes.iter().cloned());
        if !before.is_empty() {
            text.push_str(&format!("; before that: {}", before.join("; ")));
        }
        text
    }
}

enum FileOutcome {
    Read {
        format: FileFormat,
        counts: BTreeMap<RecordType, u64>,
        losses: Losses,
        notes: Vec<String>,
    },
    Metadata,
    Skipped {
        reason: String,
    },
    Failed {
        format: Option<FileFormat>,
        counts: BTreeMap<RecordType, u64>,
        losses: Losses,
        notes: Vec<String>,
        error: String,
    },
}

/// A file (or entry) that was not read, with the reason.
fn skipped_status(path: &Path, reason: String) -> SourceStatus {
    SourceStatus {
        name: format!("files:{}", path.display()),
        kind: "unknown".into(),
        status: SourceState::Skipped,
        records: 0,
        error: Some(reason),
        counts: BTreeMap::new(),
        parts: None,
        scanned_bytes: None,
        detail: None,
    }
}

/// A file (or the listing) that failed, with what was read of it.
fn error_status(
    path: &Path,
    kind: &str,
    counts: BTreeMap<RecordType, u64>,
    error: String,
) -> SourceStatus {
    SourceStatus {
        name: format!("files:{}", path.display()),
        kind: kind.into(),
        status: SourceState::Error,
        records: counts.values().sum(),
        error: Some(error),
        counts,
        parts: Some(1),
        scanned_bytes: None,
        detail: None,
    }
}

#[async_trait]
impl TelemetrySource for FilesSource {
    fn name(&self) -> &str {
        &self.name
    }

    /// Reads synchronously: parsing is CPU work and the sink applies backpressure, so the
    /// pipeline runs this source on a multi-threaded runtime (or a blocking task). Every read
    /// and the walk itself end at the query's deadline.
    async fn collect(
        &self,
        query: &SourceQuery,
        sink: &mut dyn RecordSink,
    ) -> Result<CollectSummary, SourceError> {
        let listing = walk::list(&self.paths, Some(query))?;
        let mut totals: BTreeMap<RecordKind, KindTotals> = BTreeMap::new();
        let mut problems: Vec<SourceStatus> = listing
            .skipped
            .into_iter()
            .map(|(path, reason)| skipped_status(&path, reason))
            .collect();
        if listing.stopped {
            problems.push(SourceStatus {
                name: self.name.clone(),
                parts: None,
                ..error_status(
                    Path::new(""),
                    "unknown",
                    BTreeMap::new(),
                    "the source deadline passed while listing the directories: the files not listed by then were not read".into(),
                )
            });
        }
        for path in &listing.files {
            if query.should_stop() {
                problems.push(SourceStatus {
                    parts: None,
                    ..error_status(
                        path,
                        "unknown",
                        BTreeMap::new(),
                        "not read: the source deadline passed".into(),
                    )
                });
                continue;
            }
            match self.read_file(path, query, sink) {
                FileOutcome::Metadata => {}
                FileOutcome::Read {
                    format,
                    counts,
                    losses,
                    notes,
                } => {
                    let t = totals.entry(format.kind()).or_default();
                    t.files += 1;
                    for (k, v) in counts {
                        *t.records.entry(k).or_insert(0) += v;
                    }
                    t.losses.merge_file(path, losses);
                    for n in notes {
                        if t.notes.len() < 8 {
                            t.notes.push(format!("{}: {n}", path.display()));
                        } else {
                            t.more_notes += 1;
                        }
                    }
                }
                FileOutcome::Skipped { reason } => problems.push(skipped_status(path, reason)),
                FileOutcome::Failed {
                    format,
                    counts,
                    losses,
                    notes,
                    error,
                } => {
                    let records: u64 = counts.values().sum();
                    let error =
                        self.failure_text(error, records, &losses, &notes, format.is_some());
                    let kind = format.map_or("unknown", |f| f.kind().as_str());
                    problems.push(error_status(path, kind, counts, error));
                }
            }
        }
        let max = self.options.max_line_bytes;
        let mut statuses: Vec<SourceStatus> = totals
            .into_iter()
            .map(|(kind, t)| {
                let mut warnings = t.losses.describe(max, true);
                warnings.extend(t.notes);
                if t.more_notes > 0 {
                    warnings.push(format!("{} more notes not shown", t.more_notes));
                }
                SourceStatus::ok(&self.name, kind, t.records, &warnings, t.files)
            })
            .collect();
        statuses.extend(problems);
        Ok(CollectSummary { statuses })
    }

    fn reproduce(&self, _query: &SourceQuery) -> Vec<Reproduction> {
        self.paths
            .iter()
            .map(|p| Reproduction {
                kind: RecordKind::Logs,
                text: format!(
                    "find {} -type f",
                    crate::reproduce::shell_quote(&p.display().to_string())
                ),
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::request::Window;
    use crate::telemetry::VecSink;
    use std::io::Write;
    use std::time::{Duration, Instant};

    pub(crate) fn query() -> SourceQuery {
        let s = crate::time::parse_timestamp("2024-08-16T11:19:00Z").unwrap();
        let e = crate::time::parse_timestamp("2024-08-16T11:49:00Z").unwrap();
        SourceQuery::new(
            Window::with_baseline(s, e, Duration::from_secs(3600)).unwrap(),
            Instant::now() + Duration::from_secs(60),
        )
    }

    /// Parses `content` written to a file named `name` and returns the sink and summary.
    pub(crate) fn read_bytes(name: &str, content: &[u8]) -> (VecSink, CollectSummary) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let src = FilesSource::new(vec![path]);
        let mut sink = VecSink::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let summary = rt.block_on(src.collect(&query(), &mut sink)).unwrap();
        (sink, summary)
    }

    /// The log events `sink` received, as (RFC 3339 time, message).
    pub(crate) fn log_messages(sink: &VecSink) -> Vec<(String, String)> {
        sink.records
            .iter()
            .filter_map(|(_, r)| match r {
                Record::Log(l) => Some((crate::time::rfc3339(l.ts), l.message.clone())),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn unknown_file_is_skipped_with_reason() {
        let (sink, summary) = read_bytes("notes.txt", b"hello world\nthis is not telemetry\n");
        assert!(sink.records.is_empty());
        assert_eq!(summary.statuses.len(), 1);
        assert_eq!(summary.statuses[0].status, SourceState::Skipped);
        assert!(
            summary.statuses[0]
                .error
                .as_ref()
                .unwrap()
                .contains("no known format")
        );
    }

    #[test]
    fn truncated_gzip_is_an_error_for_that_file_only() {
        let mut lines = String::new();
        for i in 0..5000 {
            lines.push_str(&format!(
                "2024-08-16T11:20:{:02}.000Z request {i} done in {i}ms\n",
                i % 60
            ));
        }
        let gz = gzip(lines.as_bytes());
        let cut = &gz[..gz.len() / 2];
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.log.gz"), cut).unwrap();
        std::fs::write(dir.path().join("b.log"), "2024-08-16T11:20:00Z ok line\n").unwrap();
        let src = FilesSource::new(vec![dir.path().to_path_buf()]);
        let mut sink = VecSink::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let summary = rt.block_on(src.collect(&query(), &mut sink)).unwrap();
        let err = summary
            .statuses
            .iter()
            .find(|s| s.status == SourceState::Error)
            .unwrap();
        assert!(err.name.ends_with("a.log.gz"));
        assert!(err.error.as_ref().unwrap().contains("truncated"), "{err:?}");
        let ok = summary
            .statuses
            .iter()
            .find(|s| s.status == SourceState::Ok)
            .unwrap();
        assert_eq!(ok.kind, "logs");
        // b.log's line plus what could be read from the damaged file
        assert_eq!(sink.records.len() as u64, ok.records + err.records);
        assert!(ok.records >= 1);
    }

    #[test]
    fn group_names_from_paths() {
        assert_eq!(
            group_from_path(Path::new("x/orders.filter-log-events.json")),
            "orders"
        );
        assert_eq!(group_from_path(Path::new("logs/apigw.log")), "apigw");
        assert_eq!(
            group_from_path(Path::new("my-group/stream/000000.gz")),
            "stream"
        );
    }

    #[test]
    fn missing_path_is_an_error() {
        let src = FilesSource::new(vec![PathBuf::from("/nonexistent/fa2/x")]);
        let mut sink = VecSink::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(rt.block_on(src.collect(&query(), &mut sink)).is_err());
    }

    /// Collects `paths` with `options` into a fresh sink.
    fn collect_paths(
        paths: Vec<PathBuf>,
        options: FilesOptions,
        q: &SourceQuery,
    ) -> (VecSink, CollectSummary) {
        let src = FilesSource::new(paths).with_options(options);
        let mut sink = VecSink::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let summary = rt.block_on(src.collect(q, &mut sink)).unwrap();
        (sink, summary)
    }

    fn status(summary: &CollectSummary, state: SourceState) -> &SourceStatus {
        summary
            .statuses
            .iter()
            .find(|s| s.status == state)
            .unwrap_or_else(|| panic!("no {state:?} status in {:#?}", summary.statuses))
    }

    fn log_lines(n: usize) -> String {
        (0..n)
            .map(|i| {
                format!(
                    "2024-08-16T11:20:{:02}.000Z INFO request {i} done\n",
                    i % 60
                )
            })
            .collect()
    }

    #[cfg(unix)]
    #[test]
    fn self_links_read_each_file_once_and_say_so() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.log"), log_lines(10)).unwrap();
        std::os::unix::fs::symlink(".", dir.path().join("a")).unwrap();
        std::os::unix::fs::symlink(".", dir.path().join("b")).unwrap();
        let (sink, summary) = collect_paths(
            vec![dir.path().to_path_buf()],
            FilesOptions::default(),
            &query(),
        );
        assert_eq!(sink.records.len(), 10);
        assert_eq!(status(&summary, SourceState::Ok).records, 10);
        let skipped: Vec<_> = summary
            .statuses
            .iter()
            .filter(|s| s.status == SourceState::Skipped)
            .collect();
        assert_eq!(skipped.len(), 2, "{skipped:#?}");
        assert!(skipped[0].name.ends_with("/a"));
        assert!(
            skipped[0]
                .error
                .as_deref()
                .unwrap()
                .starts_with("directory loop: leads back to")
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_fifo_is_skipped_by_kind_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.log");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        std::fs::write(dir.path().join("app.log"), log_lines(3)).unwrap();
        // in a directory and named as an input: skipped either way, nothing blocks
        for paths in [vec![dir.path().to_path_buf()], vec![fifo.clone()]] {
            let (_, summary) = collect_paths(paths, FilesOptions::default(), &query());
            let s = status(&summary, SourceState::Skipped);
            assert!(s.name.ends_with("pipe.log"));
            let reason = s.error.as_deref().unwrap();
            assert!(
                reason.starts_with("a named pipe (FIFO): fa2 reads only regular files"),
                "{reason}"
            );
        }
    }

    /// A sink that cancels the query as soon as a file is opened, so that only the deadline
    /// can end the read of the rest.
    struct CancelOnOpen {
        inner: VecSink,
        cancel: Arc<std::sync::atomic::AtomicBool>,
    }

    impl RecordSink for CancelOnOpen {
        fn register_origin(&mut self, origin: Origin) -> OriginId {
            self.cancel
                .store(true, std::sync::atomic::Ordering::Relaxed);
            self.inner.register_origin(origin)
        }

        fn accept(&mut self, origin: OriginId, record: Record) -> Result<(), SourceError> {
            self.inner.accept(origin, record)
        }
    }

    #[test]
    fn the_deadline_ends_a_read_with_no_records_to_check_between() {
        // one 20 MB line: before the bound, nothing checked the deadline while reading it
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.log");
        let mut content = b"2024-08-16T11:20:00Z ERROR start\n".to_vec();
        content.resize(20 << 20, b'x');
        std::fs::write(&path, &content).unwrap();
        let q = query();
        let src = FilesSource::new(vec![path]);
        let mut sink = CancelOnOpen {
            inner: VecSink::default(),
            cancel: q.cancel.clone(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let summary = rt.block_on(src.collect(&q, &mut sink)).unwrap();
        let s = status(&summary, SourceState::Error);
        assert!(
            s.error
                .as_deref()
                .unwrap()
                .starts_with("stopped at the deadline"),
            "{s:?}"
        );
    }

    #[test]
    fn a_20_mb_line_is_cut_and_counted() {
        let mut content = log_lines(2).into_bytes();
        content.extend_from_slice(b"2024-08-16T11:21:00Z ERROR huge ");
        content.extend(std::iter::repeat_n(b'y', 20 << 20));
        content.push(b'\n');
        content.extend_from_slice(log_lines(2).as_bytes());
        let (sink, summary) = read_bytes("big.log", &content);
        assert_eq!(sink.records.len(), 5);
        let longest = sink
            .records
            .iter()
            .filter_map(|(_, r)| match r {
                Record::Log(l) => Some(l.message.len()),
                _ => None,
            })
            .max()
            .unwrap();
        assert!(longest <= 1 << 20, "{longest}");
        let ok = status(&summary, SourceState::Ok);
        let warn = ok.error.as_deref().unwrap();
        let cut = (32 + (20 << 20)) - (1 << 20);
        assert!(
            warn.contains(&format!(
                "1 lines longer than 1048576 bytes (max_line_bytes) were cut; {cut} bytes of them were not read into memory"
            )),
            "{warn}"
        );
        // a smaller configured limit applies too
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.log");
        std::fs::write(&path, &content).unwrap();
        let (sink, _) = collect_paths(
            vec![path],
            FilesOptions {
                max_line_bytes: 4096,
            },
            &query(),
        );
        let longest = sink
            .records
            .iter()
            .filter_map(|(_, r)| match r {
                Record::Log(l) => Some(l.message.len()),
                _ => None,
            })
            .max()
            .unwrap();
        assert!(longest <= 4096, "{longest}");
    }

    #[test]
    fn a_20_mb_json_string_is_cut_and_counted() {
        let json = format!(
            r#"{{"events": [{{"timestamp": 1723807290123, "message": "{}"}}, {{"timestamp": 1723807290124, "message": "next"}}]}}"#,
            "z".repeat(20 << 20)
        );
        let (sink, summary) = read_bytes("big.json", json.as_bytes());
        assert_eq!(sink.records.len(), 2);
        let warn = status(&summary, SourceState::Ok).error.clone().unwrap();
        assert!(
            warn.contains(&format!(
                "1 JSON strings longer than 1048576 bytes (max_line_bytes) were cut; {} bytes of them were not kept",
                (20 << 20) - (1 << 20)
            )),
            "{warn}"
        );
    }

    #[test]
    fn invalid_utf8_in_one_json_event_costs_nothing_else() {
        let mut json = b"{\"events\": [".to_vec();
        for i in 0..1000 {
            if i > 0 {
                json.push(b',');
            }
            json.extend_from_slice(
                format!(
                    r#"{{"timestamp": {}, "message": "event {i} "#,
                    1723807290000u64 + i
                )
                .as_bytes(),
            );
            if i == 500 {
                json.extend_from_slice(b"caf\xe9 latin-1");
            }
            json.extend_from_slice(b"\"}");
        }
        json.extend_from_slice(b"]}");
        let (sink, summary) = read_bytes("events.json", &json);
        assert_eq!(sink.records.len(), 1000);
        let repaired: Vec<&str> = sink
            .records
            .iter()
            .filter_map(|(_, r)| match r {
                Record::Log(l) if l.message.contains('\u{fffd}') => Some(l.message.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(repaired, vec!["event 500 caf\u{fffd} latin-1"]);
        let ok = status(&summary, SourceState::Ok);
        assert_eq!(ok.records, 1000);
        let warn = ok.error.as_deref().unwrap();
        assert!(
            warn.contains("1 invalid UTF-8 sequences or broken escapes in JSON strings were replaced with U+FFFD"),
            "{warn}"
        );
    }

    #[test]
    fn nul_padding_before_logs_is_skipped_and_counted() {
        // what `logrotate copytruncate` leaves when the writer keeps its file offset
        let mut content = vec![0u8; 100_000];
        content.extend_from_slice(log_lines(5).as_bytes());
        for (name, bytes) in [("app.log", content.clone()), ("app.log.gz", gzip(&content))] {
            let (sink, summary) = read_bytes(name, &bytes);
            assert_eq!(sink.records.len(), 5, "{name}");
            let warn = status(&summary, SourceState::Ok).error.clone().unwrap();
            assert!(
                warn.contains("100000 NUL bytes before the content"),
                "{warn}"
            );
        }
        let (_, summary) = read_bytes("empty.log", &[0u8; 5000]);
        let s = status(&summary, SourceState::Skipped);
        assert!(
            s.error
                .as_deref()
                .unwrap()
                .starts_with("only NUL bytes (5000)")
        );
    }

    #[test]
    fn losses_before_an_error_are_still_counted() {
        let json = r#"{"events": [{"timestamp": 1723807290123, "message": "a"}, {"message": "no time"}, {"timestamp": null, "message": "null time"}, {"timestamp": 1723807290124, "message": "b"}, {"timestamp": 17238"#;
        let (sink, summary) = read_bytes("cut.json", json.as_bytes());
        assert_eq!(sink.records.len(), 2);
        let s = status(&summary, SourceState::Error);
        assert_eq!(s.records, 2);
        let e = s.error.as_deref().unwrap();
        assert!(e.starts_with("file is truncated"), "{e}");
        assert!(
            e.contains(
                "2 records read before the problem were kept; the rest of the file was not read"
            ),
            "{e}"
        );
        assert!(
            e.contains("before that: 2 events without a valid timestamp were ignored"),
            "{e}"
        );
    }

    #[test]
    fn losses_are_summed_over_files_not_capped_at_eight_notes() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..12 {
            std::fs::write(
                dir.path().join(format!("f{i:02}.json")),
                r#"{"events": [{"message": "no time"}, {"timestamp": 1723807290123, "message": "a"}]}"#,
            )
            .unwrap();
        }
        let (_, summary) = collect_paths(
            vec![dir.path().to_path_buf()],
            FilesOptions::default(),
            &query(),
        );
        let warn = status(&summary, SourceState::Ok).error.clone().unwrap();
        assert!(
            warn.contains("12 events without a valid timestamp were ignored (in "),
            "{warn}"
        );
        assert!(warn.contains("and 9 more files)"), "{warn}");
    }
}
