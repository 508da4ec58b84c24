//! Files-source parsing throughput per format (detection, decompression and parsing into
//! records, without distillation).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fa2_core::error::SourceError;
use fa2_core::record::Record;
use fa2_core::request::Window;
use fa2_core::telemetry::files::FilesSource;
use fa2_core::telemetry::{Origin, OriginId, RecordSink, SourceQuery, TelemetrySource};
use std::io::Write;
use std::time::{Duration, Instant};

/// Counts records without keeping them.
#[derive(Default)]
struct CountSink(u64);

impl RecordSink for CountSink {
    fn register_origin(&mut self, _origin: Origin) -> OriginId {
        0
    }

    fn accept(&mut self, _origin: OriginId, record: Record) -> Result<(), SourceError> {
        self.0 += record.count();
        std::hint::black_box(record);
        Ok(())
    }
}

const START: i64 = 1_723_803_540; // 2024-08-16T10:19:00Z

fn query() -> SourceQuery {
    let s = fa2_core::time::from_millis((START + 3600) * 1000).unwrap_or_default();
    let window = Window::with_baseline(
        s,
        s + chrono::Duration::minutes(30),
        Duration::from_secs(3600),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    SourceQuery::new(window, Instant::now() + Duration::from_secs(3600))
}

fn bench_file(c: &mut Criterion, name: &str, file: &str, content: &[u8], records: u64) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join(file);
    std::fs::write(&path, content).unwrap_or_else(|e| panic!("{e}"));
    let src = FilesSource::new(vec![path]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let q = query();
    let mut g = c.benchmark_group("parsers");
    g.throughput(Throughput::Elements(records));
    g.sample_size(10);
    g.bench_function(name, |b| {
        b.iter(|| {
            let mut sink = CountSink::default();
            let _ = rt.block_on(src.collect(&q, &mut sink));
            assert_eq!(sink.0, records);
        })
    });
    g.finish();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

fn parsers(c: &mut Criterion) {
    let n = 100_000;
    let plain = fa2_benches::plain_log(1, n, START, 90);
    bench_file(c, "plain_log_100k", "app.log", plain.as_bytes(), n as u64);
    let alb = fa2_benches::alb_log(2, n, START, 90);
    bench_file(
        c,
        "alb_100k_gz",
        "alb.log.gz",
        &gzip(alb.as_bytes()),
        n as u64,
    );
    let fle = fa2_benches::filter_log_events(3, n, START * 1000);
    bench_file(
        c,
        "filter_log_events_100k",
        "orders.json",
        fle.as_bytes(),
        n as u64,
    );
    let ct = fa2_benches::cloudtrail(4, 20_000, START);
    bench_file(
        c,
        "cloudtrail_20k_gz",
        "ct.json.gz",
        &gzip(ct.as_bytes()),
        20_000,
    );
    let ins = fa2_benches::insights_results(5, n, START * 1000);
    bench_file(
        c,
        "insights_results_100k",
        "payments.insights.json",
        ins.as_bytes(),
        n as u64,
    );
    let fh = fa2_benches::firehose(6, n, START * 1000);
    bench_file(
        c,
        "firehose_100k_gz",
        "firehose-1",
        &gzip(fh.as_bytes()),
        n as u64,
    );
    let xs = fa2_benches::trace_summaries(7, 20_000, START);
    bench_file(
        c,
        "xray_summaries_20k",
        "summaries.json",
        xs.as_bytes(),
        20_000,
    );
    let md = fa2_benches::metric_data(8, 100, 1440, START);
    bench_file(
        c,
        "metric_data_144k_points",
        "metrics.json",
        md.as_bytes(),
        144_000,
    );
}

criterion_group!(benches, parsers);
criterion_main!(benches);
