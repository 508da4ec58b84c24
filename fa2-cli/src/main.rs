//! `fa2`: the command line of the fa2 failure-analysis assistant.
//!
//! `fa2 analyze` reads telemetry (exported files or configured sources), distills evidence and
//! prints a root-cause report; `fa2 templates` mines log templates from a file. Exit codes:
//! 0 success, 2 bad usage or unusable input, 1 any other failure.

mod analyze_cmd;
mod check_cmd;
mod progress;
mod templates_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// An error with the exit code it maps to.
#[derive(Debug)]
pub enum CliError {
    /// Bad usage or unusable input (exit 2).
    Usage(anyhow::Error),
    /// Anything else (exit 1).
    Failure(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError::Failure(e.into())
    }
}

/// Shorthand for a usage error.
pub fn usage(msg: impl std::fmt::Display) -> CliError {
    CliError::Usage(anyhow::anyhow!("{msg}"))
}

#[derive(Parser, Debug)]
#[command(
    name = "fa2",
    version,
    about = "fa2 finds the root cause of AWS incidents from logs, ALB, CloudTrail, X-Ray and metrics",
    long_about = "fa2 reads the telemetry of an incident window, distills it into a short list of ranked, \
cited evidence, and asks an LLM (or its offline analyzer) for a root-cause report.\n\n\
Quick start with the bundled sample:\n  fa2 analyze --input examples/sample-incident"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Analyze an incident and print a root-cause report.
    Analyze(Box<analyze_cmd::AnalyzeArgs>),
    /// Mine log templates from a file with one message per line.
    Templates(templates_cmd::TemplatesArgs),
    /// Verify credentials, region, the configured sources and the model, and say what to fix.
    #[command(alias = "doctor")]
    Check(check_cmd::CheckArgs),
}

fn main() -> ExitCode {
    let filter = std::env::var("FA2_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // clap prints help/version to stdout with exit 0, errors with exit 2
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Analyze(args) => analyze_cmd::run(*args),
        Command::Templates(args) => templates_cmd::run(args),
        Command::Check(args) => check_cmd::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(CliError::Failure(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
