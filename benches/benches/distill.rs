//! The whole distill step: records in, ranked and redacted evidence out.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fa2_core::distill::{DistillConfig, Distiller};
use fa2_core::record::{LogEvent, Record};
use fa2_core::redact::Redactor;
use fa2_core::request::Window;
use std::sync::Arc;
use std::time::Duration;

const START: i64 = 1_723_803_540;

fn records(n: usize) -> Vec<Record> {
    let text = fa2_benches::messages(9, n);
    let groups: Vec<Arc<str>> = ["/ecs/checkout", "/aws/lambda/orders", "apigw"]
        .iter()
        .map(|g| Arc::from(*g))
        .collect();
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            Record::Log(LogEvent {
                ts: fa2_core::time::from_millis((START * 1000) + (i as i64 * 5_400_000) / n as i64)
                    .unwrap_or_default(),
                group: groups[i % groups.len()].clone(),
                stream: None,
                message: l.to_string(),
            })
        })
        .collect()
}

fn distill(c: &mut Criterion) {
    let n = 200_000;
    let recs = records(n);
    let s = fa2_core::time::from_millis((START + 3600) * 1000).unwrap_or_default();
    let window = Window::with_baseline(
        s,
        s + chrono::Duration::minutes(30),
        Duration::from_secs(3600),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let redactor = Redactor::builtin();
    let mut g = c.benchmark_group("distill");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.bench_function("logs_200k", |b| {
        b.iter_batched(
            || recs.clone(),
            |recs| {
                let mut d = Distiller::new(window, DistillConfig::default());
                for r in recs {
                    d.accept(0, r);
                }
                d.finish(&redactor).evidence.len()
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, distill);
criterion_main!(benches);
