//! Evaluates incident bundles (directories with a `truth.json`) with the offline pipeline and
//! prints, per bundle, its pattern, the rank of the root cause in the evidence, whether the top
//! hypothesis leads with the cause (its first cited item names it), the rank of the causing
//! change (`n/a` when no change caused it, `-` when it is not in the evidence), the top
//! hypothesis and any failed check.
//!
//! Usage: `cargo run --release -p fa2-tests --bin evaluate -- BUNDLE... [--budget N]
//! [--evidence N]` (`--evidence N` also lists the top N evidence items with score and onset)
//! e.g. `-- ../shared/incidents/dynamodb-throttling tests/incidents/*`. Exit code 1 when a
//! check fails.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut budget = 16_000usize;
    let mut show = 0usize;
    let mut bundles: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--evidence" {
            match args.next().and_then(|v| v.parse().ok()) {
                Some(n) => show = n,
                None => {
                    eprintln!("--evidence needs a number of items");
                    return ExitCode::from(2);
                }
            }
        } else if a == "--budget" {
            match args.next().and_then(|v| v.parse().ok()) {
                Some(b) => budget = b,
                None => {
                    eprintln!("--budget needs a number of tokens");
                    return ExitCode::from(2);
                }
            }
        } else {
            bundles.push(PathBuf::from(a));
        }
    }
    if bundles.is_empty() {
        eprintln!("usage: evaluate BUNDLE... [--budget N] [--evidence N]");
        return ExitCode::from(2);
    }
    let mut failed = 0;
    for b in &bundles {
        match fa2_tests::evaluate(b, budget) {
            Ok(o) => {
                let rank = o
                    .cause_rank
                    .map_or("-".to_string(), |r| format!("E{}", r + 1));
                let change = match o.change_rank {
                    None => "n/a".to_string(),
                    Some(None) => "-".to_string(),
                    Some(Some(r)) => format!("E{}", r + 1),
                };
                println!(
                    "{:<22} {:<34} cause {rank:<4} leads {:<3} change {change:<4} prompt {:>6} tokens  top hypothesis: {}",
                    o.scenario,
                    o.pattern,
                    if o.leads { "yes" } else { "no" },
                    o.prompt_tokens,
                    o.top_hypothesis.unwrap_or_default()
                );
                for e in o.evidence.iter().take(show) {
                    println!(
                        "    {:<4} {:.3} {} {}",
                        e.id,
                        e.score,
                        e.onset
                            .map(|t| t.format("%H:%M:%S").to_string())
                            .unwrap_or_else(|| "--:--:--".into()),
                        e.title.chars().take(150).collect::<String>()
                    );
                }
                for f in &o.failures {
                    println!("  FAIL {f}");
                }
                if !o.failures.is_empty() {
                    failed += 1;
                }
            }
            Err(e) => {
                println!("{}: {e}", b.display());
                failed += 1;
            }
        }
    }
    println!("{} bundles, {failed} with failures", bundles.len());
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
