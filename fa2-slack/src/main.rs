//! `fa2-slack`: the self-hosted fa2 Slack app.
//!
//! `fa2-slack serve` answers Slack on `POST /slack/events` (events, interactivity and slash
//! commands) with `GET /healthz`; `fa2-slack serve --socket-mode` connects out to Slack over
//! Socket Mode instead, so no public endpoint is needed.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use fa2_core::config::Config;
use fa2_slack::Service;
use fa2_slack::server::{drain_analyses, require, serve_http, shutdown_signal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "fa2-slack",
    version,
    about = "The fa2 Slack app: alarm threads, /fa2 and root-cause answers in Slack"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the Slack app (HTTP on --listen, or Socket Mode with --socket-mode).
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
#[command(after_help = "Secrets come from the config or the environment:
  FA2_SLACK__BOT_TOKEN (xoxb-…), FA2_SLACK__SIGNING_SECRET (HTTP), FA2_SLACK__APP_TOKEN (xapp-…, Socket Mode)

Examples:
  fa2-slack serve --config fa2.toml --listen 0.0.0.0:3000
  fa2-slack serve --config fa2.toml --socket-mode")]
struct ServeArgs {
    /// Config file (default: $FA2_CONFIG, else ./fa2.toml if present), e.g. --config fa2.toml
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address for HTTP, e.g. --listen 0.0.0.0:3000 (port 0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
    listen: String,
    /// Connect out to Slack over Socket Mode instead of serving HTTP.
    #[arg(long)]
    socket_mode: bool,
}

fn main() -> ExitCode {
    let filter = std::env::var("FA2_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let Command::Serve(args) = cli.command;
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config_path = Config::locate(args.config.as_deref());
    let config = Config::load(config_path.as_deref())?;
    if args.socket_mode {
        require(
            &config.slack.app_token,
            "app_token",
            "APP_TOKEN",
            "Basic Information → App-Level Tokens (xapp-…, scope connections:write)",
        )?;
    } else {
        require(
            &config.slack.signing_secret,
            "signing_secret",
            "SIGNING_SECRET",
            "Basic Information → App Credentials",
        )?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let sdk = fa2_core::assemble::sdk_if_needed(&config).await;
        let analyzer = fa2_core::assemble::analyzer(&config, sdk.as_ref(), Vec::new())
            .context("cannot assemble the analysis pipeline")?;
        let service = Service::new(&config, Arc::new(analyzer))?;
        let drain = config.deadline.0 + Duration::from_secs(60);
        if args.socket_mode {
            fa2_slack::socket::serve_socket_mode(
                service.app.clone(),
                &config.slack.app_token,
                shutdown_signal(),
            )
            .await?;
            drain_analyses(&service, drain).await;
        } else {
            let listener = tokio::net::TcpListener::bind(&args.listen)
                .await
                .with_context(|| format!("cannot listen on {}", args.listen))?;
            let addr = listener.local_addr()?;
            eprintln!("fa2-slack listening on http://{addr}/slack/events");
            serve_http(&service, listener, shutdown_signal(), drain).await?;
        }
        Ok(())
    })
}
