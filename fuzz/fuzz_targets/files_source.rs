//! The files source end to end on one file: format detection, gzip and every parser behind
//! the public `FilesSource::collect`, into a `VecSink`.
//!
//! Input: a flag byte, then the file's content. Flag bit 0 gzips the content before it is
//! written (so the parsers behind gzip see valid streams the fuzzer can mutate), bits 1-2
//! pick the file name (names set the log group and mark bundle metadata). A seed whose
//! content is itself gzip with bit 0 clear exercises corrupt gzip streams.

#![no_main]

use fa2_core::record::Record;
use fa2_core::request::Window;
use fa2_core::telemetry::files::FilesSource;
use fa2_core::telemetry::{SourceQuery, TelemetrySource, VecSink};
use libfuzzer_sys::fuzz_target;
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Wake};
use std::time::{Duration, Instant};

const NAMES: [&str; 4] = ["orders.log", "incident.json", "000000.gz", "events.json"];

/// One directory for the whole run (a fresh temp dir per input would dominate the time), with
/// a fixed last component so that names derived from it (the log group of `000000.gz`) are
/// the same in every run. Statics are never dropped: the emptied directory stays behind.
static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
    let root = tempfile::Builder::new()
        .prefix("fa2-fuzz-files-")
        .tempdir()
        .expect("temp dir for fuzz inputs")
        .keep();
    let dir = root.join("orders");
    std::fs::create_dir(&dir).expect("temp dir for fuzz inputs");
    dir
});

fuzz_target!(|data: &[u8]| {
    let Some((&flags, content)) = data.split_first() else {
        return;
    };
    let file = DIR.join(NAMES[usize::from(flags >> 1) % NAMES.len()]);
    let path = file.as_path();
    let bytes = if flags & 1 == 1 {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(content).expect("gzip to memory");
        gz.finish().expect("gzip to memory")
    } else {
        content.to_vec()
    };
    std::fs::write(path, &bytes).expect("write fuzz input");

    let start = chrono::DateTime::from_timestamp(1_723_806_000, 0).expect("fixed time");
    let window = Window::with_baseline(
        start,
        start + chrono::Duration::hours(1),
        Duration::from_secs(3600),
    )
    .expect("fixed window");
    // A far deadline: a slow input must show up as a libFuzzer timeout, not as a quiet stop.
    let query = SourceQuery::new(window, Instant::now() + Duration::from_secs(3600));
    let source = FilesSource::new(vec![path.to_path_buf()]);
    let mut sink = VecSink::default();
    let summary = block_on(source.collect(&query, &mut sink)).expect("one readable file");
    let _ = std::fs::remove_file(path);

    // Nothing is lost silently: the statuses count exactly the records the sink got.
    let told: u64 = summary.statuses.iter().map(|s| s.records).sum();
    let got: u64 = sink
        .records
        .iter()
        .map(|(_, r): &(u32, Record)| r.count())
        .sum();
    assert_eq!(told, got, "statuses {:?}", summary.statuses);
    for (origin, _) in &sink.records {
        assert!((*origin as usize) < sink.origins.len());
    }
});

/// `FilesSource::collect` reads synchronously; this drives it without a runtime.
fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
