//! `fa2 analyze`: builds the request (window from flags, `--since`, or the bundle's
//! `incident.json`/`truth.json`), the sources and the backend, runs the analysis and writes the
//! report.

use crate::{CliError, usage};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use fa2_core::analyze::{AnalyzeOptions, Analyzer};
use fa2_core::config::Config;
use fa2_core::prompt::PromptRenderer;
use fa2_core::redact::Redactor;
use fa2_core::report::{Report, render_markdown};
use fa2_core::request::{AnalysisRequest, Language, Window};
use fa2_core::telemetry::aws::metrics::{
    AlarmIncident, MetricQuerySpec, MetricsOptions, MetricsSource, alarm_incident,
};
use fa2_core::telemetry::files::{FilesSource, input_problem};
use fa2_core::telemetry::{SourceState, TelemetrySource};
use fa2_core::window::WindowPolicy;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
enum Backend {
    Offline,
    Bedrock,
    Openai,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  fa2 analyze --input examples/sample-incident
  fa2 analyze --input ./export --start 2024-08-16T11:19:00Z --end 2024-08-16T11:49:00Z --format json
  fa2 analyze --input ./logs --since 30m --description \"checkout returns 502\" --language ja
  fa2 analyze --config fa2.toml --since 1h --prompt-out prompt.txt

Input formats (detected from content, plain or .gz, directories read recursively):
  CloudWatch Logs filter-log-events / get-query-results output, Firehose subscription records,
  export-task text and plain logs with leading timestamps; ALB access logs; CloudTrail Records
  and lookup-events output; X-Ray get-trace-summaries / batch-get-traces output;
  CloudWatch get-metric-data output. An incident.json (or truth.json) with start/end/description
  in a bundle sets the window when --start/--end are not given.")]
pub struct AnalyzeArgs {
    /// Exported telemetry: a file or a directory (read recursively); repeatable.
    /// e.g. --input ./incident --input extra/alb.log.gz
    #[arg(long, value_name = "PATH")]
    input: Vec<PathBuf>,
    /// Config file (default: $FA2_CONFIG, else ./fa2.toml if present), e.g. --config fa2.toml
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Take the window and description from a CloudWatch alarm's history (alarm_lookback before
    /// and after its last transition to ALARM) and add its metric as evidence,
    /// e.g. --alarm orders-5xx
    #[arg(long, value_name = "NAME", conflicts_with_all = ["start", "since"])]
    alarm: Option<String>,
    /// Incident start, RFC 3339, e.g. --start 2024-08-02T09:30:00Z or 2024-08-02T18:30:00+09:00
    #[arg(long, value_name = "TIME", requires = "end", conflicts_with = "since")]
    start: Option<String>,
    /// Incident end, RFC 3339 (exclusive), e.g. --end 2024-08-02T10:00:00Z
    #[arg(long, value_name = "TIME")]
    end: Option<String>,
    /// Window length ending at --end (or now), e.g. --since 30m (units: s, m, h, d)
    #[arg(long, value_name = "DURATION")]
    since: Option<String>,
    /// Baseline length before the start to compare with (default 60m), e.g. --baseline 2h
    #[arg(long, value_name = "DURATION")]
    baseline: Option<String>,
    /// What happened, in your words (untrusted text, fenced in the prompt),
    /// e.g. --description "orders API returns 5xx since 11:20"
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// Language of the prompt and the report, e.g. --language ja
    #[arg(long, value_name = "en|ja")]
    language: Option<String>,
    /// LLM backend; offline needs no network (default: config, else offline), e.g. --llm offline
    #[arg(long, value_enum)]
    llm: Option<Backend>,
    /// Model id or inference profile, e.g. --model global.anthropic.claude-sonnet-4-6
    #[arg(long, value_name = "ID")]
    model: Option<String>,
    /// Hard cap on prompt tokens (default 16000), e.g. --budget-tokens 8000
    #[arg(long, value_name = "N")]
    budget_tokens: Option<usize>,
    /// Output format: markdown (default) or json (the report contract), e.g. --format json
    #[arg(long, value_enum, default_value = "markdown")]
    format: Format,
    /// Write the exact prompt (system and user parts) to FILE, e.g. --prompt-out prompt.txt
    #[arg(long, value_name = "FILE")]
    prompt_out: Option<PathBuf>,
    /// Write the report to FILE instead of stdout, e.g. --output report.md
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn parse_time(flag: &str, s: &str) -> Result<DateTime<Utc>, CliError> {
    fa2_core::time::parse_timestamp(s).ok_or_else(|| {
        usage(format!(
            "--{flag} `{s}` is not an RFC 3339 time: use e.g. 2024-08-02T09:30:00Z or 2024-08-02T18:30:00+09:00"
        ))
    })
}

fn parse_dur(flag: &str, s: &str) -> Result<std::time::Duration, CliError> {
    fa2_core::time::parse_duration(s).map_err(|e| usage(format!("--{flag}: {e}")))
}

/// `start`, `end` and `description` from a bundle's `incident.json` or `truth.json`.
#[derive(Debug, Default)]
struct BundleMeta {
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    description: Option<String>,
    file: Option<PathBuf>,
}

fn bundle_meta(inputs: &[PathBuf]) -> Result<BundleMeta, CliError> {
    for dir in inputs.iter().filter(|p| p.is_dir()) {
        for name in ["incident.json", "truth.json"] {
            let path = dir.join(name);
            if !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| usage(format!("{} is not valid JSON: {e}", path.display())))?;
            let time = |k: &str| -> Result<Option<DateTime<Utc>>, CliError> {
                match v.get(k).and_then(|x| x.as_str()) {
                    None => Ok(None),
                    Some(s) => fa2_core::time::parse_timestamp(s).map(Some).ok_or_else(|| {
                        usage(format!(
                            "{}: `{k}` = `{s}` is not an RFC 3339 time",
                            path.display()
                        ))
                    }),
                }
            };
            return Ok(BundleMeta {
                start: time("start")?,
                end: time("end")?,
                description: v
                    .get("description")
                    .and_then(|x| x.as_str())
                    .map(str::to_string),
                file: Some(path),
            });
        }
    }
    Ok(BundleMeta::default())
}

fn window(
    args: &AnalyzeArgs,
    meta: &BundleMeta,
    alarm: Option<&AlarmIncident>,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<Window, CliError> {
    let policy = WindowPolicy::from_config(config);
    let baseline = match &args.baseline {
        Some(b) => parse_dur("baseline", b)?,
        None => config.baseline.0,
    };
    let (start, end) = match (&args.start, &args.end, &args.since) {
        (Some(s), Some(e), _) => (parse_time("start", s)?, parse_time("end", e)?),
        (None, end, Some(since)) => {
            let end = match end {
                Some(e) => parse_time("end", e)?,
                None => now,
            };
            policy
                .since(end, parse_dur("since", since)?, now)
                .map_err(|e| usage(format!("--since {since}: {e}")))?
        }
        (None, None, None) => match (alarm, meta.start, meta.end) {
            (Some(a), _, _) => (a.start, a.end),
            (None, Some(s), Some(e)) => (s, e),
            _ => {
                return Err(usage(
                    "no incident window: pass --start and --end (RFC 3339), or --since 30m, or put `start` and `end` in the bundle's incident.json",
                ));
            }
        },
        (None, Some(_), None) => return Err(usage("--end needs --start or --since")),
        (Some(_), None, _) => return Err(usage("--start needs --end")),
    };
    policy.window(start, end, baseline, now).map_err(usage)
}

fn sources(
    args: &AnalyzeArgs,
    config: &Config,
    sdk: Option<&aws_config::SdkConfig>,
    extra_metrics: Vec<MetricQuerySpec>,
) -> Result<Vec<Arc<dyn TelemetrySource>>, CliError> {
    let mut out: Vec<Arc<dyn TelemetrySource>> = Vec::new();
    if !args.input.is_empty() {
        for p in &args.input {
            match input_problem(p) {
                None => {}
                Some(problem) if problem == "does not exist" => {
                    return Err(usage(format!(
                        "input {} does not exist: pass exported telemetry files or directories, see fa2 analyze --help",
                        p.display()
                    )));
                }
                // The problem says what to do already.
                Some(problem) => {
                    return Err(usage(format!("input {} {problem}", p.display())));
                }
            }
        }
        let options = config
            .sources
            .files
            .as_ref()
            .map(|f| f.options())
            .unwrap_or_default();
        out.push(Arc::new(
            FilesSource::new(args.input.clone())
                .with_options(options)
                .with_zone(config.time_zone()),
        ));
        // an alarm's metric is evidence too
        if let Some(sdk) = sdk.filter(|_| !extra_metrics.is_empty()) {
            out.push(Arc::new(MetricsSource::new(
                sdk,
                MetricsOptions {
                    queries: extra_metrics,
                },
            )));
        }
        return Ok(out);
    }
    if let Some(f) = &config.sources.files {
        out.push(Arc::new(
            FilesSource::new(f.paths.clone())
                .with_options(f.options())
                .with_zone(config.time_zone()),
        ));
    }
    if let Some(sdk) = sdk {
        out.extend(fa2_core::assemble::aws_sources(config, sdk, extra_metrics).map_err(usage)?);
    }
    if out.is_empty() {
        return Err(usage(
            "no telemetry source: pass --input PATH (exported files) or configure [sources] in fa2.toml, see fa2 analyze --help",
        ));
    }
    Ok(out)
}

fn backend_name(args: &AnalyzeArgs, config: &Config) -> String {
    match args.llm {
        Some(Backend::Offline) => "offline".into(),
        Some(Backend::Bedrock) => "bedrock".into(),
        Some(Backend::Openai) => "openai".into(),
        None => config.llm.backend.clone(),
    }
}

pub fn run(args: AnalyzeArgs) -> Result<(), CliError> {
    let config_path = Config::locate(args.config.as_deref());
    let config = Config::load(config_path.as_deref()).map_err(usage)?;
    let meta = bundle_meta(&args.input)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let backend_name = backend_name(&args, &config);
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| config.llm.model.clone());
    if backend_name == "bedrock" && model.is_empty() {
        return Err(usage(
            "the bedrock backend needs a model: set llm.model or pass --model, e.g. global.anthropic.claude-sonnet-4-6",
        ));
    }
    let aws_needed = args.alarm.is_some()
        || backend_name == "bedrock"
        || (args.input.is_empty() && fa2_core::assemble::needs_aws(&config, &backend_name));
    let sdk = aws_needed
        .then(|| runtime.block_on(fa2_core::telemetry::aws::sdk_config(Some(&config.region))));
    let alarm = match (&args.alarm, &sdk) {
        (Some(name), Some(sdk)) => Some(
            runtime
                .block_on(alarm_incident(
                    sdk,
                    name,
                    &WindowPolicy::from_config(&config),
                    Utc::now(),
                ))
                .map_err(|e| usage(format!("--alarm {name}: {e}")))?,
        ),
        _ => None,
    };
    let window = window(&args, &meta, alarm.as_ref(), &config, Utc::now())?;
    let language: Language = match &args.language {
        Some(l) => l
            .parse()
            .map_err(|e: String| usage(format!("--language: {e}")))?,
        None => config.language,
    };
    let description = args
        .description
        .clone()
        .or_else(|| alarm.as_ref().map(|a| a.description.clone()))
        .or_else(|| meta.description.clone())
        .unwrap_or_default();
    let request = AnalysisRequest {
        description,
        window,
        language,
        architecture: config.architecture.clone(),
    };
    let budget = args.budget_tokens.unwrap_or(config.budget_tokens);
    if budget < 500 {
        return Err(usage(format!(
            "--budget-tokens {budget} is too small: use at least 500 (default 16000)"
        )));
    }
    let renderer = PromptRenderer::new(config.prompt_dir.as_deref()).map_err(usage)?;
    let redactor = Redactor::new(&config.redaction).map_err(usage)?;
    let extra_metrics: Vec<MetricQuerySpec> =
        alarm.iter().filter_map(|a| a.metric.clone()).collect();
    let analyzer = Analyzer {
        sources: sources(&args, &config, sdk.as_ref(), extra_metrics)?,
        backend: fa2_core::assemble::backend(&backend_name, &model, &config, sdk.as_ref())
            .map_err(usage)?,
        renderer: Arc::new(renderer),
        redactor: Arc::new(redactor),
        options: AnalyzeOptions {
            budget_tokens: budget,
            ..fa2_core::assemble::analyze_options(&config)
        },
    };
    if let Some(f) = &meta.file {
        tracing::info!("window and description from {}", f.display());
    }
    let (progress, bar) = crate::progress::reporter();
    let result = runtime.block_on(analyzer.run(&request, progress));
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let analyzed = result.map_err(|e| match e {
        fa2_core::error::AnalysisError::InvalidRequest(_)
        | fa2_core::error::AnalysisError::Config(_) => usage(e),
        other => CliError::Failure(other.into()),
    })?;
    check_found(&analyzed.report, &args.input)?;
    if let Some(p) = &args.prompt_out {
        write_file(p, &analyzed.prompt.full_text())?;
    }
    let text = match args.format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&analyzed.report)?;
            s.push('\n');
            s
        }
        Format::Markdown => render_markdown(&analyzed.report, 20),
    };
    match &args.output {
        Some(p) => write_file(p, &text)?,
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    for s in analyzed
        .report
        .sources
        .iter()
        .filter(|s| s.status == SourceState::Error)
    {
        eprintln!(
            "warning: {}: {}",
            s.name,
            s.error.as_deref().unwrap_or("failed")
        );
    }
    report_skipped(&analyzed.report, &args.input);
    Ok(())
}

/// Says on stderr which inputs named on the command line were not read and why (a FIFO, a
/// device, a link loop), and how many files under them were skipped: with `--format json`
/// or `--output` nothing else would tell.
fn report_skipped(report: &Report, inputs: &[PathBuf]) {
    let named: Vec<String> = inputs
        .iter()
        .map(|p| format!("files:{}", p.display()))
        .collect();
    let mut others = 0;
    for s in report
        .sources
        .iter()
        .filter(|s| s.status == SourceState::Skipped)
    {
        if named.contains(&s.name) {
            eprintln!(
                "skipped: {}: {}",
                s.name.trim_start_matches("files:"),
                s.error.as_deref().unwrap_or("not read")
            );
        } else if s.name.starts_with("files:") {
            others += 1;
        }
    }
    if others > 0 {
        eprintln!(
            "note: {others} files under the inputs were not read (unknown formats, link loops, pipes or devices); the report's sources list says why for each"
        );
    }
}

/// No records at all and nothing but skipped or failed inputs: unusable input (exit 2).
fn check_found(report: &Report, inputs: &[PathBuf]) -> Result<(), CliError> {
    let records: u64 = report.sources.iter().map(|s| s.records).sum();
    let any_ok = report.sources.iter().any(|s| s.status == SourceState::Ok);
    if records > 0 || any_ok || inputs.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    let mut msg = fa2_core::error::AnalysisError::NoTelemetry {
        inputs: shown.join(", "),
    }
    .to_string();
    for s in report.sources.iter().take(5) {
        if let Some(e) = &s.error {
            msg.push_str(&format!("\n  {}: {e}", s.name.trim_start_matches("files:")));
        }
    }
    Err(usage(msg))
}

fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::Failure(anyhow::anyhow!("cannot write {}: {e}", path.display())))
}
