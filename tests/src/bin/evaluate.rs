//! Evaluates incident bundles (directories with a `truth.json`) with the offline pipeline and
//! prints, per bundle, the rank of the root cause, the top hypothesis and any failed check.
//!
//! Usage: `cargo run --release -p fa2-tests --bin evaluate -- BUNDLE... [--budget N]`
//! e.g. `-- ../shared/incidents/dynamodb-throttling tests/incidents/*`. Exit code 1 when a
//! check fails.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut budget = 16_000usize;
    let mut bundles: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--budget" {
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
        eprintln!("usage: evaluate BUNDLE... [--budget N]");
        return ExitCode::from(2);
    }
    let mut failed = 0;
    for b in &bundles {
        match fa2_tests::evaluate(b, budget) {
            Ok(o) => {
                let rank = o
                    .cause_rank
                    .map_or("-".to_string(), |r| format!("E{}", r + 1));
                println!(
                    "{:<28} cause {rank:<4} prompt {:>6} tokens  top hypothesis: {}",
                    o.scenario,
                    o.prompt_tokens,
                    o.top_hypothesis.unwrap_or_default()
                );
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
