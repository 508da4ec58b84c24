//! Throughput benchmark of the template miner: single-threaded [`TemplateMiner::add`] versus a
//! two-thread pipeline (a tokenizer thread filling [`PreparedBatch`]es, the calling thread
//! assigning them with [`TemplateMiner::add_batch`]).
//!
//! Usage: `cargo run --release -p fa2-benches --bin miner-throughput -- [FILE] [--lines N]
//! [--write OUT] [--runs R] [--batch B] [--batches K] [--mixed]`
//!
//! Without FILE it generates N (default 1,000,000) Loghub-like messages in memory from a set of
//! built-in shapes, filling variables with pseudo-random numbers, ids, IPs, hex, paths and names
//! (deterministic xorshift), so the miner cannot get by on exact-line cache hits. With FILE it
//! mines the file's lines instead; `--mixed` generates whole lines of many log formats instead
//! (`fa2_benches::mixed`). `--write OUT` saves the generated lines (for comparisons).
//! Each mode runs R times (default 5) on a fresh miner and the median is reported; the
//! pipeline uses batches of B lines (default 4096), K of them (default 3) recycled over
//! bounded channels. Only mining is timed (lines are already in memory). The two modes must
//! produce identical template ids, texts, counts and variable summaries, which is checked.

use fa2_template::{MinerConfig, PreparedBatch, TemplateId, TemplateMiner};
use std::fmt::Write as _;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

/// Message shapes; `{n}` small number, `{N}` large number, `{f}` decimal, `{ip}` IPv4:port,
/// `{h}` hex, `{u}` UUID, `{p}` path, `{w}` name word, `{t}` timestamp, `{blk}` block id.
const SHAPES: &[&str] = &[
    "PacketResponder {n} for block {blk} terminating",
    "Received block {blk} of size {N} from /{ip}",
    "BLOCK* NameSystem.addStoredBlock: blockMap updated: {ip} is added to {blk} size {N}",
    "Receiving block {blk} src: /{ip} dest: /{ip}",
    "Verification succeeded for {blk}",
    "Deleting block {blk} file {p}",
    "instruction cache parity error corrected",
    "generating core.{N}",
    "ciod: failed to read message prefix on control stream (CioStream socket to {ip}",
    "{n} ddr error(s) detected and corrected on rank {n}, symbol {n} over {N} seconds",
    "CE sym {n}, at {h}, mask {h}",
    "Node card VPD check: {w} node in processor card slot {n} do not match",
    "Created MRAppMaster for application appattempt_{N}_{n}_{n}",
    "attempt_{N}_{n}_m_{n}_{n} TaskAttempt Transitioned from NEW to UNASSIGNED",
    "Progress of TaskAttempt attempt_{N}_{n}_m_{n}_{n} is : {f}",
    "Address change detected. Old: {w}/{ip} New: {w}:{n}",
    "Retrying connect to server: {w}:{n}. Already tried {n} time(s); maxRetries={n}",
    "onStandStepChanged {N}",
    "onExtend:{N} {n} {n} {n}",
    "getTodayTotalDetailSteps = {N}##{n}##{N}##{n}##{n}##{N}",
    "setTodayTotalDetailSteps={N}##{n}##{N}##{n}##{n}##{N}",
    "REPORT : {n} {n} {n} {n}",
    "Block broadcast_{n}_piece{n} stored as bytes in memory (estimated size {f} KB, free {f} MB)",
    "Found block rdd_{n}_{n} locally",
    "Finished task {f} in stage {f} (TID {n}). {N} bytes result sent to driver",
    "Running task {f} in stage {f} (TID {n})",
    "Reading broadcast variable {n} took {n} ms",
    "session opened for user {w} by (uid={n})",
    "session closed for user {w}",
    "(root) CMD (run-parts {p})",
    "Accepted publickey for {w} from {ip} port {n} ssh2",
    "Invalid user {w} from {ip}",
    "Received connection request /{ip}",
    "Connection broken for id {N}, my id = {n}, error =",
    "Notification time out: {N}",
    "Expiring session {h}, timeout of {N}ms exceeded",
    "Established session {h} with negotiated timeout {N} for client /{ip}",
    "Component State Change: Component \"{w}\" is in the unavailable state (HWID={N})",
    "Put item into table {w} in {n}ms request_id={u}",
    "GET {p} HTTP/1.1 status={n} latency={f}ms trace={u} at {t}",
    "Lambda function {w} timed out after {f} seconds (RequestId: {u})",
    "Throttling exception for table {w}: rate exceeded ({n} RCU) at {t}",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const WORDS: &[&str] = &[
    "orders",
    "users",
    "root",
    "admin",
    "alice",
    "bob",
    "payments",
    "inventory",
    "checkout",
    "sessions",
];

fn fill(shape: &str, rng: &mut Rng, out: &mut String) {
    let mut rest = shape;
    while let Some(p) = rest.find('{') {
        out.push_str(&rest[..p]);
        let Some(q) = rest[p..].find('}') else { break };
        let var = &rest[p + 1..p + q];
        rest = &rest[p + q + 1..];
        // Writing to a String cannot fail.
        let _ = match var {
            "n" => write!(out, "{}", rng.below(100)),
            "N" => write!(out, "{}", rng.below(10_000_000_000)),
            "f" => write!(out, "{}.{}", rng.below(1000), rng.below(10)),
            "ip" => write!(
                out,
                "10.{}.{}.{}:{}",
                rng.below(256),
                rng.below(256),
                rng.below(256),
                1024 + rng.below(60000)
            ),
            "h" => write!(out, "0x{:x}", rng.next() >> 8),
            "u" => {
                let (a, b) = (rng.next(), rng.next());
                write!(
                    out,
                    "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                    a >> 32,
                    a & 0xffff,
                    (a >> 16) & 0xffff,
                    b >> 48,
                    b & 0xffff_ffff_ffff
                )
            }
            "p" => write!(
                out,
                "/var/data/{}/part-{:05}.log",
                WORDS[rng.below(WORDS.len() as u64) as usize],
                rng.below(100_000)
            ),
            "w" => write!(out, "{}", WORDS[rng.below(WORDS.len() as u64) as usize]),
            "t" => write!(
                out,
                "2024-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                1 + rng.below(12),
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.below(1000)
            ),
            "blk" => write!(
                out,
                "blk_{}{}",
                if rng.below(2) == 0 { "-" } else { "" },
                rng.next() >> 2
            ),
            _ => write!(out, "{{{var}}}"),
        };
    }
    out.push_str(rest);
}

/// Everything observable about the mined templates, for the equality check.
fn snapshot(m: &TemplateMiner) -> Vec<(TemplateId, String, u64, String)> {
    m.templates()
        .map(|t| (t.id, t.text(), t.count(), format!("{:?}", t.variables())))
        .collect()
}

fn mine_single(lines: &[String], ids: &mut Vec<TemplateId>) -> TemplateMiner {
    let mut miner = TemplateMiner::new(MinerConfig::default());
    ids.clear();
    for l in lines {
        ids.push(miner.add(l));
    }
    miner
}

/// Tokenizes on a scoped helper thread and assigns on the calling thread; `n_batches` batches
/// circulate between a "full" and a "free" bounded channel, so nothing is allocated once
/// their buffers have grown.
fn mine_pipeline(
    lines: &[String],
    batch_lines: usize,
    n_batches: usize,
    ids: &mut Vec<TemplateId>,
    assign_secs: &mut f64,
) -> TemplateMiner {
    *assign_secs = 0.0;
    let config = MinerConfig::default();
    let mut miner = TemplateMiner::new(config.clone());
    ids.clear();
    let (full_tx, full_rx) = sync_channel::<PreparedBatch>(n_batches);
    let (free_tx, free_rx) = sync_channel::<PreparedBatch>(n_batches);
    for _ in 0..n_batches {
        free_tx
            .send(PreparedBatch::new())
            .expect("receiver is alive");
    }
    std::thread::scope(|s| {
        s.spawn(move || {
            for chunk in lines.chunks(batch_lines.max(1)) {
                let Ok(mut batch) = free_rx.recv() else {
                    return;
                };
                batch.clear();
                for l in chunk {
                    batch.push(l, &config);
                }
                if full_tx.send(batch).is_err() {
                    return;
                }
            }
        });
        let mut out = Vec::with_capacity(batch_lines);
        for batch in full_rx {
            let start = Instant::now();
            miner.add_batch(&batch, &mut out);
            *assign_secs += start.elapsed().as_secs_f64();
            ids.extend_from_slice(&out);
            // Fails only once the reader is done; the batch is then simply dropped.
            let _ = free_tx.send(batch);
        }
    });
    miner
}

/// CPU time (user + system) of the calling thread, from `/proc/thread-self/stat` (Linux; in
/// clock ticks of 1/100 s). `None` elsewhere.
fn thread_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut f = rest.split_whitespace().skip(11);
    let utime: f64 = f.next()?.parse().ok()?;
    let stime: f64 = f.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut file = None;
    let mut lines_wanted = 1_000_000usize;
    let mut write_to = None;
    let mut runs = 5usize;
    let mut batch_lines = 4096usize;
    let mut n_batches = 3usize;
    let mut mixed = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |d: usize| it.next().and_then(|v| v.parse().ok()).unwrap_or(d);
        match a.as_str() {
            "--lines" => lines_wanted = num(lines_wanted),
            "--runs" => runs = num(runs).max(1),
            "--batch" => batch_lines = num(batch_lines).max(1),
            "--batches" => n_batches = num(n_batches).max(1),
            "--write" => write_to = it.next().cloned(),
            "--mixed" => mixed = true,
            _ => file = Some(a.clone()),
        }
    }
    let lines: Vec<String> = match &file {
        Some(f) => std::fs::read_to_string(f)
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .lines()
            .map(str::to_owned)
            .collect(),
        None if mixed => fa2_benches::mixed::mixed_lines(7, lines_wanted)
            .lines()
            .map(str::to_owned)
            .collect(),
        None => {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            (0..lines_wanted)
                .map(|_| {
                    let mut s = String::new();
                    fill(
                        SHAPES[rng.below(SHAPES.len() as u64) as usize],
                        &mut rng,
                        &mut s,
                    );
                    s
                })
                .collect()
        }
    };
    if let Some(out) = write_to {
        std::fs::write(&out, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("{out}: {e}"));
    }
    let bytes: usize = lines.iter().map(String::len).sum();
    let mb = bytes as f64 / 1e6;
    println!("{} lines ({mb:.1} MB), {runs} runs per mode", lines.len());

    let mut single_ids = Vec::with_capacity(lines.len());
    let mut pipe_ids = Vec::with_capacity(lines.len());
    let (mut single_secs, mut pipe_secs) = (Vec::new(), Vec::new());
    let mut single_cpu = Vec::new();
    let mut n_templates = 0;
    let mut assign_secs = 0.0;
    // Alternate the modes so that drifting machine load affects both alike.
    for _ in 0..runs {
        let start = Instant::now();
        let cpu = thread_cpu_secs();
        let miner = mine_single(&lines, &mut single_ids);
        single_secs.push(start.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (cpu, thread_cpu_secs()) {
            single_cpu.push(b - a);
        }
        let single_state = snapshot(&miner);

        let start = Instant::now();
        let miner = mine_pipeline(
            &lines,
            batch_lines,
            n_batches,
            &mut pipe_ids,
            &mut assign_secs,
        );
        pipe_secs.push(start.elapsed().as_secs_f64());
        let pipe_state = snapshot(&miner);
        assert_eq!(pipe_ids, single_ids, "pipeline ids differ from add");
        assert_eq!(
            pipe_state, single_state,
            "pipeline templates differ from add"
        );
        n_templates = pipe_state.len();
    }
    let report = |name: &str, secs: &mut Vec<f64>| {
        let all: Vec<String> = secs
            .iter()
            .map(|s| format!("{:.0}", lines.len() as f64 / s))
            .collect();
        let med = median(secs);
        println!(
            "{name}: median {med:.3}s = {:.0} lines/s, {:.1} MB/s (runs, lines/s: {})",
            lines.len() as f64 / med,
            mb / med,
            all.join(" ")
        );
        med
    };
    let s = report("single-threaded add", &mut single_secs);
    if !single_cpu.is_empty() {
        // On a shared machine the wall clock counts time spent waiting for a core; CPU time
        // of the mining thread does not.
        let med = median(&mut single_cpu);
        println!(
            "single-threaded add: median {med:.3} s of thread CPU = {:.0} lines per CPU-second",
            lines.len() as f64 / med
        );
    }
    let p = report(
        &format!("2-thread pipeline (batch {batch_lines} x {n_batches})"),
        &mut pipe_secs,
    );
    // Stage costs on one thread each: the pipeline can at best run at the slower one.
    let config = MinerConfig::default();
    let mut batch = PreparedBatch::new();
    let start = Instant::now();
    let mut prepared = 0;
    for chunk in lines.chunks(batch_lines) {
        batch.clear();
        chunk.iter().for_each(|l| batch.push(l, &config));
        prepared += batch.len();
    }
    let prep = start.elapsed().as_secs_f64();
    println!(
        "stages alone: prepare {:.0} lines/s, add_batch {:.0} lines/s (last pipeline run)",
        prepared as f64 / prep,
        lines.len() as f64 / assign_secs
    );
    println!(
        "speedup {:.2}x; outputs identical: {} ids, {} templates",
        s / p,
        pipe_ids.len(),
        n_templates
    );
}
