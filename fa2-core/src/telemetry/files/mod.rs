//! The files source: reads exported telemetry (DESIGN.md section 6) from files and
//! directories, detects each file's format from its content, decompresses gzip transparently
//! and streams records into the sink without holding a file in memory.
//!
//! Problems are per file: a file in no known format is `skipped`, a corrupt one is an
//! `error` (with the records read before the damage kept), and the rest goes on.

mod alb;
pub(crate) mod cloudtrail;
mod cwlogs;
mod detect;
mod json_stream;
mod metrics;
mod plain;
pub(crate) mod xray;

pub use detect::{Detected, detect_format};

use crate::error::SourceError;
use crate::record::{Record, RecordKind, RecordType};
use crate::telemetry::{
    CollectSummary, FileFormat, Locator, Origin, OriginId, RecordSink, Reproduction, SourceQuery,
    SourceState, SourceStatus, TelemetrySource,
};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How many bytes of a file are sniffed to detect its format.
const SNIFF_BYTES: usize = 64 * 1024;
/// Directory recursion limit, against symlink loops.
const MAX_DEPTH: usize = 32;

/// Reads exported telemetry files.
#[derive(Debug, Clone)]
pub struct FilesSource {
    name: String,
    paths: Vec<PathBuf>,
}

impl FilesSource {
    pub fn new(paths: Vec<PathBuf>) -> Self {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        FilesSource {
            name: format!("files:{}", shown.join(",")),
            paths,
        }
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Every regular file under the configured paths, sorted, hidden entries skipped.
    pub fn list_files(&self) -> Result<Vec<PathBuf>, SourceError> {
        let mut out = Vec::new();
        for p in &self.paths {
            let meta = std::fs::metadata(p).map_err(|e| SourceError::Io {
                path: p.clone(),
                source: e,
            })?;
            if meta.is_dir() {
                walk(p, 0, &mut out)?;
            } else {
                out.push(p.clone());
            }
        }
        Ok(out)
    }
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), SourceError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let rd = std::fs::read_dir(dir).map_err(|e| SourceError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() {
            walk(&p, depth + 1, out)?;
        } else if p.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

/// A per-file failure.
#[derive(Debug)]
pub(crate) enum FileError {
    Io(std::io::Error),
    Malformed(String),
    Stopped,
    SinkClosed,
}

impl From<std::io::Error> for FileError {
    fn from(e: std::io::Error) -> Self {
        // serde_json wraps I/O errors (a truncated gzip stream) as io::Error too.
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
            FileError::Malformed(m) => m.clone(),
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
    query: &'a SourceQuery,
    pub counts: BTreeMap<RecordType, u64>,
    pub notes: Vec<String>,
    since_check: u32,
}

impl FileCtx<'_> {
    pub(crate) fn emit(&mut self, record: Record) -> Result<(), FileError> {
        *self.counts.entry(record.record_type()).or_insert(0) += record.count();
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

    pub(crate) fn note(&mut self, note: String) {
        if self.notes.len() < 8 {
            self.notes.push(note);
        }
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

/// Opens a file, transparently gunzipping, and returns the sniffed prefix plus a reader over
/// the whole (decompressed) content.
/// An opened file: whether it was gzip, its sniffed prefix, and a reader over all of it.
type Opened = (bool, Vec<u8>, Box<dyn BufRead + Send>);

fn open(path: &Path) -> Result<Opened, FileError> {
    let mut f = File::open(path)?;
    let mut magic = [0u8; 2];
    let n = read_full(&mut f, &mut magic)?;
    let f = std::io::Cursor::new(magic[..n].to_vec()).chain(f);
    let gzip = n == 2 && magic == [0x1f, 0x8b];
    let mut inner: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            256 * 1024,
            f,
        )))
    } else {
        Box::new(f)
    };
    let mut prefix = vec![0u8; SNIFF_BYTES];
    let got = read_full(&mut inner, &mut prefix)?;
    prefix.truncate(got);
    let reader = BufReader::with_capacity(
        256 * 1024,
        std::io::Cursor::new(prefix.clone()).chain(inner),
    );
    Ok((gzip, prefix, Box::new(reader)))
}

/// Opens a text file for streaming, decompressing gzip transparently.
pub fn open_text(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    match open(path) {
        Ok((_, _, reader)) => Ok(reader),
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
    notes: Vec<String>,
}

impl FilesSource {
    /// Reads one file into the sink; returns its format (if known) and what happened.
    fn read_file(
        &self,
        path: &Path,
        query: &SourceQuery,
        sink: &mut dyn RecordSink,
    ) -> FileOutcome {
        let (gzip, prefix, reader) = match open(path) {
            Ok(v) => v,
            Err(e) => {
                return FileOutcome::Failed {
                    format: None,
                    counts: BTreeMap::new(),
                    error: e.describe(),
                };
            }
        };
        let format = match detect_format(path, &prefix) {
            Detected::Format(f) => f,
            Detected::Metadata => return FileOutcome::Metadata,
            Detected::Unknown(reason) => return FileOutcome::Skipped { reason },
        };
        let origin = sink.register_origin(Origin {
            source: self.name.clone(),
            kind: format.kind(),
            locator: Locator::File {
                path: path.to_path_buf(),
                format,
                gzip,
            },
        });
        let mut ctx = FileCtx {
            sink,
            origin,
            group: Arc::from(group_from_path(path)),
            syslog_year: crate::time::syslog_year_for(query.window.start),
            query,
            counts: BTreeMap::new(),
            notes: Vec::new(),
            since_check: 0,
        };
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
        };
        let counts = std::mem::take(&mut ctx.counts);
        let notes = std::mem::take(&mut ctx.notes);
        match result {
            Ok(()) => FileOutcome::Read {
                format,
                counts,
                notes,
            },
            Err(e) => FileOutcome::Failed {
                format: Some(format),
                counts,
                error: e.describe(),
            },
        }
    }
}

enum FileOutcome {
    Read {
        format: FileFormat,
        counts: BTreeMap<RecordType, u64>,
        notes: Vec<String>,
    },
    Metadata,
    Skipped {
        reason: String,
    },
    Failed {
        format: Option<FileFormat>,
        counts: BTreeMap<RecordType, u64>,
        error: String,
    },
}

#[async_trait]
impl TelemetrySource for FilesSource {
    fn name(&self) -> &str {
        &self.name
    }

    /// Reads synchronously: parsing is CPU work and the sink applies backpressure, so the
    /// pipeline runs this source on a multi-threaded runtime (or a blocking task).
    async fn collect(
        &self,
        query: &SourceQuery,
        sink: &mut dyn RecordSink,
    ) -> Result<CollectSummary, SourceError> {
        let files = self.list_files()?;
        let mut totals: BTreeMap<RecordKind, KindTotals> = BTreeMap::new();
        let mut problems = Vec::new();
        for path in &files {
            if query.should_stop() {
                problems.push(SourceStatus {
                    name: format!("files:{}", path.display()),
                    kind: "unknown".into(),
                    status: SourceState::Error,
                    records: 0,
                    error: Some("not read: the source deadline passed".into()),
                    counts: BTreeMap::new(),
                    parts: None,
                    scanned_bytes: None,
                    detail: None,
                });
                continue;
            }
            match self.read_file(path, query, sink) {
                FileOutcome::Metadata => {}
                FileOutcome::Read {
                    format,
                    counts,
                    notes,
                } => {
                    let t = totals.entry(format.kind()).or_default();
                    t.files += 1;
                    for (k, v) in counts {
                        *t.records.entry(k).or_insert(0) += v;
                    }
                    for n in notes {
                        if t.notes.len() < 8 {
                            t.notes.push(format!("{}: {n}", path.display()));
                        }
                    }
                }
                FileOutcome::Skipped { reason } => problems.push(SourceStatus {
                    name: format!("files:{}", path.display()),
                    kind: "unknown".into(),
                    status: SourceState::Skipped,
                    records: 0,
                    error: Some(reason),
                    counts: BTreeMap::new(),
                    parts: None,
                    scanned_bytes: None,
                    detail: None,
                }),
                FileOutcome::Failed {
                    format,
                    counts,
                    error,
                } => {
                    let records: u64 = counts.values().sum();
                    let error = if records > 0 {
                        format!("{error} ({records} records read before the problem were kept)")
                    } else {
                        error
                    };
                    problems.push(SourceStatus {
                        name: format!("files:{}", path.display()),
                        kind: format.map_or("unknown", |f| f.kind().as_str()).into(),
                        status: SourceState::Error,
                        records,
                        error: Some(error),
                        counts,
                        parts: Some(1),
                        scanned_bytes: None,
                        detail: None,
                    });
                }
            }
        }
        let mut statuses: Vec<SourceStatus> = totals
            .into_iter()
            .map(|(kind, t)| SourceStatus::ok(&self.name, kind, t.records, &t.notes, t.files))
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
}
