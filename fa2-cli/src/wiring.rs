//! Maps the configuration onto concrete sources and LLM backends: the files source, the AWS
//! sources (CloudWatch Logs, Athena, X-Ray, metrics) and the offline, Bedrock and
//! OpenAI-compatible backends.

use crate::{CliError, usage};
use fa2_core::config::Config;
use fa2_core::llm::openai::{OpenAiBackend, OpenAiOptions, ResponseFormat};
use fa2_core::llm::{LlmBackend, OfflineAnalyzer};
use fa2_core::telemetry::TelemetrySource;
use fa2_core::telemetry::aws::athena::{AthenaOptions, AthenaSource};
use fa2_core::telemetry::aws::logs::{CloudWatchLogsOptions, CloudWatchLogsSource, LogsMode};
use fa2_core::telemetry::aws::metrics::{MetricQuerySpec, MetricsOptions, MetricsSource};
use fa2_core::telemetry::aws::xray::{XrayOptions, XraySource};
use std::sync::Arc;

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
) -> Result<Vec<Arc<dyn TelemetrySource>>, CliError> {
    let s = &config.sources;
    let mut out: Vec<Arc<dyn TelemetrySource>> = Vec::new();
    if let Some(l) = &s.cloudwatch_logs {
        let mode = match l.mode.as_str() {
            "" | "insights" => LogsMode::Insights,
            "filter" => LogsMode::FilterLogEvents,
            "pattern" => LogsMode::Pattern,
            other => {
                return Err(usage(format!(
                    "sources.cloudwatch_logs.mode `{other}` is unknown"
                )));
            }
        };
        let mut o = CloudWatchLogsOptions {
            log_groups: l.log_groups.clone(),
            filter: l.filter.clone(),
            mode,
            ..CloudWatchLogsOptions::default()
        };
        if l.max_events > 0 {
            o.max_events = l.max_events;
        }
        out.push(Arc::new(CloudWatchLogsSource::new(sdk, o)));
    }
    if let Some(a) = &s.athena {
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
) -> Result<Arc<dyn LlmBackend>, CliError> {
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
                    eprintln!(
                        "warning: llm.api_key_env names {var}, which is not set; calling without an API key"
                    );
                }
            }
            if llm.context_window > 0 {
                o.context_window = llm.context_window;
            }
            o.response_format = llm
                .response_format
                .parse::<ResponseFormat>()
                .map_err(usage)?;
            Ok(Arc::new(OpenAiBackend::new(o).map_err(usage)?))
        }
        "bedrock" => {
            let sdk = sdk.ok_or_else(|| usage("the bedrock backend needs AWS configuration"))?;
            if model.is_empty() {
                return Err(usage(
                    "the bedrock backend needs a model: set llm.model or pass --model, e.g. global.anthropic.claude-sonnet-4-6",
                ));
            }
            let mut o = fa2_core::llm::bedrock::BedrockOptions {
                model_id: model.to_string(),
                max_retries: llm.max_retries,
                timeout: config.deadline.0,
                ..fa2_core::llm::bedrock::BedrockOptions::default()
            };
            if llm.context_window > 0 {
                o.context_window = llm.context_window;
            }
            Ok(Arc::new(
                fa2_core::llm::bedrock::BedrockBackend::new(sdk, o).map_err(usage)?,
            ))
        }
        other => Err(usage(format!(
            "unknown LLM backend `{other}`: use offline, bedrock or openai"
        ))),
    }
}
