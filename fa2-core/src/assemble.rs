//! Builds an [`Analyzer`] from a [`Config`]: the files source, the AWS sources (CloudWatch
//! Logs, Athena, X-Ray, metrics) and the offline, Bedrock and OpenAI-compatible backends. The
//! CLI, the Slack server and the Lambda all assemble their pipeline here.

use crate::analyze::{AnalyzeOptions, Analyzer};
use crate::config::Config;
use crate::error::ConfigError;
use crate::llm::openai::{OpenAiBackend, OpenAiOptions, ResponseFormat};
use crate::llm::{LlmBackend, OfflineAnalyzer};
use crate::prompt::PromptRenderer;
use crate::redact::Redactor;
use crate::telemetry::TelemetrySource;
use crate::telemetry::aws::athena::{AthenaOptions, AthenaSource};
use crate::telemetry::aws::logs::{CloudWatchLogsOptions, CloudWatchLogsSource, LogsMode};
use crate::telemetry::aws::metrics::{MetricQuerySpec, MetricsOptions, MetricsSource};
use crate::telemetry::aws::xray::{XrayOptions, XraySource};
use crate::telemetry::files::FilesSource;
use std::sync::Arc;

fn invalid(message: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        origin: "(assembled pipeline)".into(),
        message: message.to_string(),
    }
}

/// Whether the configuration needs AWS at all (credentials are loaded only then).
pub fn needs_aws(config: &Config, backend: &str) -> bool {
    let s = &config.sources;
    s.cloudwatch_logs.is_some()
        || s.athena.is_some()
        || s.xray.as_ref().is_some_and(|x| x.enabled)
        || s.metrics.as_ref().is_some_and(|m| !m.queries.is_empty())
        || backend == "bedrock"
}

/// The metric queries of the config, in the source's terms.
pub fn metric_queries(config: &Config) -> Vec<MetricQuerySpec> {
    config
        .sources
        .metrics
        .iter()
        .flat_map(|m| m.queries.iter())
        .map(|q| MetricQuerySpec {
            namespace: q.namespace.clone(),
            metric: q.metric.clone(),
            dimensions: q.dimensions.clone(),
            stat: if q.stat.is_empty() {
                "Average".into()
            } else {
                q.stat.clone()
            },
            period_secs: if q.period == 0 { 60 } else { q.period as i32 },
        })
        .collect()
}

/// The AWS sources configured in `config` (plus `extra_metrics`, such as an alarm's metric).
pub fn aws_sources(
    config: &Config,
    sdk: &aws_config::SdkConfig,
    extra_metrics: Vec<MetricQuerySpec>,
) -> Result<Vec<Arc<dyn TelemetrySource>>, ConfigError> {
    let s = &config.sources;
    let mut out: Vec<Arc<dyn TelemetrySource>> = Vec::new();
    if let Some(l) = &s.cloudwatch_logs {
        let mode = match l.mode.as_str() {
            "" | "insights" => LogsMode::Insights,
            "filter" => LogsMode::FilterLogEvents,
            "pattern" => LogsMode::Pattern,
            other => {
                return Err(invalid(format!(
                    "sources.cloudwatch_logs.mode `{other}` is unknown"
                )));
            }
        };
        let mut o = CloudWatchLogsOptions {
            log_groups: l.log_groups.clone(),
            filter: l.filter.clone(),
            filter_pattern: l.filter_pattern.clone(),
            mode,
            ..CloudWatchLogsOptions::default()
        };
        if l.max_events > 0 {
            o.max_events = l.max_events;
        }
        out.push(Arc::new(CloudWatchLogsSource::new(sdk, o)));
    }
    if let Some(a) = &s.athena {
        let mut o = athena_options(a);
        // changes hours before the window, through this source too
        o.change_lookback = config.change_lookback.0;
        out.push(Arc::new(AthenaSource::new(sdk, o)));
    }
    if let Some(x) = s.xray.as_ref().filter(|x| x.enabled) {
        let mut o = XrayOptions {
            filter_expression: x.filter_expression.clone(),
            ..XrayOptions::default()
        };
        if x.max_summaries > 0 {
            o.max_summaries = x.max_summaries;
        }
        if x.max_traces > 0 {
            o.max_traces = x.max_traces;
        }
        out.push(Arc::new(XraySource::new(sdk, o)));
    }
    let mut queries = metric_queries(config);
    queries.extend(extra_metrics);
    if !queries.is_empty() {
        out.push(Arc::new(MetricsSource::new(
            sdk,
            MetricsOptions { queries },
        )));
    }
    Ok(out)
}

/// The LLM backend named `name` (`offline`, `bedrock`, `openai`).
pub fn backend(
    name: &str,
    model: &str,
    config: &Config,
    sdk: Option<&aws_config::SdkConfig>,
) -> Result<Arc<dyn LlmBackend>, ConfigError> {
    let llm = &config.llm;
    match name {
        "offline" => Ok(Arc::new(OfflineAnalyzer)),
        "openai" => {
            let mut o = OpenAiOptions {
                model: model.to_string(),
                timeout: config.deadline.0,
                max_retries: llm.max_retries,
                ..OpenAiOptions::default()
            };
            if let Some(b) = llm.base_url.as_deref().filter(|b| !b.is_empty()) {
                o.base_url = b.to_string();
            }
            if let Some(var) = llm.api_key_env.as_deref().filter(|v| !v.is_empty()) {
                o.api_key = std::env::var(var).ok();
                if o.api_key.is_none() {
                    tracing::warn!(
                        "llm.api_key_env names {var}, which is not set; calling without an API key"
                    );
                }
            }
            if llm.context_window > 0 {
                o.context_window = llm.context_window;
            }
            o.response_format = llm
                .response_format
                .parse::<ResponseFormat>()
                .map_err(invalid)?;
            Ok(Arc::new(OpenAiBackend::new(o).map_err(invalid)?))
        }
        "bedrock" => {
            let sdk = sdk.ok_or_else(|| invalid("the bedrock backend needs AWS configuration"))?;
            if model.is_empty() {
                return Err(invalid(
                    "the bedrock backend needs a model: set llm.model or pass --model, e.g. global.anthropic.claude-sonnet-4-6",
                ));
            }
            let mut o = crate::llm::bedrock::BedrockOptions {
                model_id: model.to_string(),
                max_retries: llm.max_retries,
                timeout: config.deadline.0,
                ..crate::llm::bedrock::BedrockOptions::default()
            };
            if llm.context_window > 0 {
                o.context_window = llm.context_window;
            }
            Ok(Arc::new(
                crate::llm::bedrock::BedrockBackend::new(sdk, o).map_err(invalid)?,
            ))
        }
        other => Err(invalid(format!(
            "unknown LLM backend `{other}`: use offline, bedrock or openai"
        ))),
    }
}

/// The analysis settings of `config`.
pub fn analyze_options(config: &Config) -> AnalyzeOptions {
    AnalyzeOptions {
        budget_tokens: config.budget_tokens,
        deadline: config.deadline.0,
        source_timeout: config.source_timeout(),
        max_output_tokens: config.llm.max_output_tokens,
        distill: crate::distill::DistillConfig {
            change_lookback: config.change_lookback.0,
            ..crate::distill::DistillConfig::default()
        },
    }
}

/// The AWS SDK configuration, loaded only when `config` needs AWS.
pub async fn sdk_if_needed(config: &Config) -> Option<aws_config::SdkConfig> {
    if needs_aws(config, &config.llm.backend) {
        Some(crate::telemetry::aws::sdk_config(Some(&config.region)).await)
    } else {
        None
    }
}

/// The whole pipeline of `config`: the files source (if configured), the AWS sources plus
/// `extra_metrics` (such as an alarm's metric), the configured backend, prompts and redaction.
pub fn analyzer(
    config: &Config,
    sdk: Option<&aws_config::SdkConfig>,
    extra_metrics: Vec<MetricQuerySpec>,
) -> Result<Analyzer, ConfigError> {
    let mut sources: Vec<Arc<dyn TelemetrySource>> = Vec::new();
    if let Some(f) = &config.sources.files {
        // One source per path: a path that disappears from a long-running server's disk is
        // reported on its own and does not take the other paths down with it.
        for p in &f.paths {
            sources.push(Arc::new(
                FilesSource::new(vec![p.clone()])
                    .with_options(f.options())
                    .with_zone(config.time_zone()),
            ));
        }
    }
    if let Some(sdk) = sdk {
        sources.extend(aws_sources(config, sdk, extra_metrics)?);
    }
    if sources.is_empty() {
        return Err(invalid(
            "no telemetry source is configured: add [sources.files] or an AWS source ([sources.cloudwatch_logs], [sources.athena], [sources.xray], [sources.metrics])",
        ));
    }
    let renderer = PromptRenderer::new(config.prompt_dir.as_deref()).map_err(invalid)?;
    let redactor = Redactor::new(&config.redaction).map_err(invalid)?;
    Ok(Analyzer {
        sources,
        backend: backend(&config.llm.backend, &config.llm.model, config, sdk)?,
        renderer: Arc::new(renderer),
        redactor: Arc::new(redactor),
        options: analyze_options(config),
    })
}

/// The Athena source's options from `[sources.athena]`.
pub fn athena_options(a: &crate::config::AthenaConfig) -> AthenaOptions {
    let mut o = AthenaOptions {
        database: a.database.clone(),
        workgroup: a.workgroup.clone(),
        output_location: a.output_location.clone(),
        alb_table: a.alb_table.clone(),
        cloudtrail_table: a.cloudtrail_table.clone(),
        alb_partition_predicate: a.alb_partition_predicate.clone(),
        cloudtrail_partition_predicate: a.cloudtrail_partition_predicate.clone(),
        alb_aggregate: a.alb_aggregate,
        ..AthenaOptions::default()
    };
    if a.max_rows > 0 {
        o.max_rows = a.max_rows;
    }
    o
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::FilesConfig;
    use chrono::{TimeZone, Utc};

    /// Slack and Lambda build their files sources here: `[sources.files]` options must reach
    /// them as they reach the CLI's.
    #[tokio::test]
    async fn files_sources_honour_the_configured_line_limit() {
        let dir = tempfile::tempdir().unwrap();
        let long = "x".repeat(5_000);
        std::fs::write(
            dir.path().join("app.log"),
            format!("2024-11-14T18:30:00Z ERROR short line\n2024-11-14T18:31:00Z ERROR {long}\n"),
        )
        .unwrap();
        let mut config = Config::default();
        config.sources.files = Some(FilesConfig {
            paths: vec![dir.path().to_path_buf()],
            max_line_bytes: crate::telemetry::files::MIN_LINE_BYTES,
        });
        let analyzer = analyzer(&config, None, Vec::new()).unwrap();
        let req = crate::request::AnalysisRequest::new(
            "errors",
            Utc.with_ymd_and_hms(2024, 11, 14, 18, 20, 0).unwrap(),
            Utc.with_ymd_and_hms(2024, 11, 14, 18, 50, 0).unwrap(),
        )
        .unwrap();
        let report = analyzer
            .run(&req, crate::analyze::no_progress())
            .await
            .unwrap()
            .report;
        let status = serde_json::to_string(&report.sources).unwrap();
        assert!(
            status.contains("1 lines longer than 1024 bytes (max_line_bytes) were cut"),
            "{status}"
        );
    }
}
