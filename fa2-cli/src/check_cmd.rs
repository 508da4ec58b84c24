//! `fa2 check`: verifies credentials, region, every configured source and the model with one
//! cheap call each, and prints what to fix.

use crate::{CliError, usage};
use clap::Args;
use fa2_core::config::Config;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  fa2 check\n  fa2 check --config prod.toml")]
pub struct CheckArgs {
    /// Config file (default: $FA2_CONFIG, else ./fa2.toml if present), e.g. --config fa2.toml
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub fn run(args: CheckArgs) -> Result<(), CliError> {
    let path = Config::locate(args.config.as_deref());
    let config = Config::load(path.as_deref()).map_err(usage)?;
    match &path {
        Some(p) => println!("config: {}", p.display()),
        None => println!("config: none (defaults and FA2_* environment variables)"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let items = runtime.block_on(fa2_core::doctor::run(&config));
    let mut failed = 0;
    for i in &items {
        if i.ok {
            println!("✔ {}: {}", i.what, i.detail);
        } else {
            failed += 1;
            println!("✘ {}: {}", i.what, i.detail);
            if let Some(fix) = &i.fix {
                println!("    fix: {fix}");
            }
        }
    }
    if items.is_empty() {
        println!("nothing to check: configure [sources] and [llm] in fa2.toml");
    }
    if failed > 0 {
        return Err(CliError::Failure(anyhow::anyhow!(
            "{failed} of {} checks failed",
            items.len()
        )));
    }
    Ok(())
}
