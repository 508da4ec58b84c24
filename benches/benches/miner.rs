//! Template mining throughput (the `fa2 templates` hot path) on Loghub-like messages and on
//! a generated file mixing many log formats (syslog, JSON lines, access logs, Lambda, VPC
//! Flow Logs, stack traces...), whole lines with their headers. The mixed file is mined both
//! one line at a time and through the two-thread pipeline that `fa2 templates` runs
//! (tokenizing into [`PreparedBatch`]es on one thread, assigning on the other).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fa2_template::{MinerConfig, PreparedBatch, TemplateId, TemplateMiner};
use std::sync::mpsc::sync_channel;

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

/// Mines `lines` with a tokenizer thread feeding batches to the calling thread, as
/// `fa2 templates` does; returns the number of templates.
fn mine_pipelined(lines: &[&str], config: &MinerConfig) -> usize {
    const BATCH: usize = 4096;
    let (full_tx, full_rx) = sync_channel::<PreparedBatch>(2);
    let (empty_tx, empty_rx) = sync_channel::<PreparedBatch>(3);
    for _ in 0..3 {
        let _ = empty_tx.send(PreparedBatch::new());
    }
    let mut miner = TemplateMiner::new(config.clone());
    std::thread::scope(|s| {
        s.spawn(move || {
            for chunk in lines.chunks(BATCH) {
                let Ok(mut b) = empty_rx.recv() else { return };
                b.clear();
                for l in chunk {
                    b.push(l, config);
                }
                if full_tx.send(b).is_err() {
                    return;
                }
            }
        });
        let mut ids: Vec<TemplateId> = Vec::with_capacity(BATCH);
        while let Ok(b) = full_rx.recv() {
            miner.add_batch(&b, &mut ids);
            std::hint::black_box(&ids);
            let _ = empty_tx.send(b);
        }
    });
    miner.len()
}

fn mixed_formats(c: &mut Criterion) {
    let text = fa2_benches::mixed::mixed_lines(7, 200_000);
    let lines: Vec<&str> = text.lines().collect();
    let config = MinerConfig::default();
    let mut g = c.benchmark_group("miner_mixed_formats");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.sample_size(10);
    g.bench_function("add_200k_lines", |b| {
        b.iter(|| {
            let mut m = TemplateMiner::new(config.clone());
            for l in &lines {
                std::hint::black_box(m.add(l));
            }
            m.len()
        })
    });
    g.bench_function("pipelined_200k_lines", |b| {
        b.iter(|| mine_pipelined(&lines, &config))
    });
    // Drain-style routing on the first word (the previous default), for comparison.
    let prefix = MinerConfig {
        prefix_depth: 1,
        min_tokens_for_word_wildcard: 0,
        ..MinerConfig::default()
    };
    g.bench_function("add_200k_lines_prefix_routing", |b| {
        b.iter(|| {
            let mut m = TemplateMiner::new(prefix.clone());
            for l in &lines {
                std::hint::black_box(m.add(l));
            }
            m.len()
        })
    });
    g.finish();
}

criterion_group!(benches, miner, mixed_formats);
criterion_main!(benches);
