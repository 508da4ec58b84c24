//! Template mining throughput on Loghub-like lines (the `fa2 templates` hot path).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fa2_template::{MinerConfig, TemplateMiner};

fn miner(c: &mut Criterion) {
    let text = fa2_benches::messages(42, 100_000);
    let lines: Vec<&str> = text.lines().collect();
    let mut g = c.benchmark_group("miner");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.sample_size(10);
    g.bench_function("add_100k_lines", |b| {
        b.iter(|| {
            let mut m = TemplateMiner::new(MinerConfig::default());
            for l in &lines {
                std::hint::black_box(m.add(l));
            }
            m.len()
        })
    });
    g.bench_function("mining_text_100k_lines", |b| {
        b.iter(|| {
            lines
                .iter()
                .map(|l| fa2_core::distill::mining_text(l).text.len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, miner);
criterion_main!(benches);
