//! `fa2 check`: verifies, with one cheap call each, that the configured credentials, region,
//! sources and model are usable, and says what to fix when they are not.

use crate::config::Config;
use serde::Serialize;

/// One verified item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckItem {
    pub what: String,
    pub ok: bool,
    pub detail: String,
    /// What to do when it failed.
    pub fix: Option<String>,
}

impl CheckItem {
    fn ok(what: impl Into<String>, detail: impl Into<String>) -> Self {
        CheckItem {
            what: what.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn failed(what: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        CheckItem {
            what: what.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Runs every check that the configuration calls for.
pub async fn run(config: &Config) -> Vec<CheckItem> {
    let mut out = Vec::new();
    if let Some(f) = &config.sources.files {
        for p in &f.paths {
            out.push(if p.exists() {
                CheckItem::ok(format!("files {}", p.display()), "exists")
            } else {
                CheckItem::failed(
                    format!("files {}", p.display()),
                    "does not exist",
                    "fix sources.files.paths in fa2.toml",
                )
            });
        }
    }
    #[cfg(feature = "aws")]
    {
        let uses_aws = config.sources.cloudwatch_logs.is_some()
            || config.sources.athena.is_some()
            || config.sources.xray.as_ref().is_some_and(|x| x.enabled)
            || config
                .sources
                .metrics
                .as_ref()
                .is_some_and(|m| !m.queries.is_empty())
            || config.llm.backend == "bedrock";
        if uses_aws {
            out.extend(aws::run(config).await);
        }
    }
    if config.llm.backend == "openai" {
        out.push(openai(config).await);
    }
    if config.llm.backend == "offline" {
        out.push(CheckItem::ok("llm offline", "needs no network"));
    }
    out
}

async fn openai(config: &Config) -> CheckItem {
    let what = "llm openai";
    let Some(base) = config.llm.base_url.as_deref().filter(|b| !b.is_empty()) else {
        return CheckItem::failed(
            what,
            "no base_url",
            "set llm.base_url, e.g. http://127.0.0.1:11434/v1",
        );
    };
    let key = config
        .llm
        .api_key_env
        .as_deref()
        .and_then(|v| std::env::var(v).ok());
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => return CheckItem::failed(what, e.to_string(), "check the TLS setup"),
    };
    let mut req = client.get(format!("{}/models", base.trim_end_matches('/')));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    match req.send().await {
        Ok(r) if r.status().is_success() => {
            let body = r.text().await.unwrap_or_default();
            if config.llm.model.is_empty() || body.contains(&config.llm.model) {
                CheckItem::ok(what, format!("{base} answers and lists the model"))
            } else {
                CheckItem::failed(
                    what,
                    format!("{base} does not list model `{}`", config.llm.model),
                    "set llm.model to one of the server's models (GET /models)",
                )
            }
        }
        Ok(r) => CheckItem::failed(
            what,
            format!("{base}/models answered HTTP {}", r.status()),
            "check llm.base_url and the API key (llm.api_key_env names the variable holding it)",
        ),
        Err(e) => CheckItem::failed(
            what,
            e.to_string(),
            "check that the server runs and llm.base_url is right",
        ),
    }
}

#[cfg(feature = "aws")]
mod aws {
    use super::CheckItem;
    use crate::config::Config;
    use aws_config::SdkConfig;
    use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};

    fn why<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug + 'static>(
        e: &SdkError<E, R>,
    ) -> String {
        match (e.code(), e.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_string(),
            _ => aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
        }
    }

    pub(super) async fn run(config: &Config) -> Vec<CheckItem> {
        let sdk = crate::telemetry::aws::sdk_config(Some(&config.region)).await;
        let mut out = Vec::new();
        out.push(match sdk.region() {
            Some(r) => CheckItem::ok("aws region", r.to_string()),
            None => CheckItem::failed(
                "aws region",
                "no region",
                "set region in fa2.toml, AWS_REGION, or a profile region",
            ),
        });
        out.push(credentials(&sdk).await);
        if let Some(l) = &config.sources.cloudwatch_logs {
            let client = aws_sdk_cloudwatchlogs::Client::new(&sdk);
            for g in &l.log_groups {
                let what = format!("cloudwatch logs {g}");
                match client.describe_log_groups().log_group_name_prefix(g).limit(1).send().await {
                    Ok(r) if r.log_groups().iter().any(|x| x.log_group_name() == Some(g.as_str())) => {
                        out.push(CheckItem::ok(what, "found"))
                    }
                    Ok(_) => out.push(CheckItem::failed(what, "not found", "check the name and the region")),
                    Err(e) => out.push(CheckItem::failed(
                        what,
                        why(&e),
                        "allow logs:DescribeLogGroups, logs:StartQuery, logs:GetQueryResults, logs:StopQuery, logs:FilterLogEvents on it",
                    )),
                }
            }
        }
        if let Some(a) = &config.sources.athena {
            let client = aws_sdk_athena::Client::new(&sdk);
            let wg = if a.workgroup.is_empty() {
                "primary"
            } else {
                a.workgroup.as_str()
            };
            out.push(match client.get_work_group().work_group(wg).send().await {
                Ok(_) => CheckItem::ok(format!("athena workgroup {wg}"), "found"),
                Err(e) => CheckItem::failed(
                    format!("athena workgroup {wg}"),
                    why(&e),
                    "allow athena:GetWorkGroup, StartQueryExecution, GetQueryExecution, GetQueryResults, StopQueryExecution and Glue/S3 access to the tables and the output location",
                ),
            });
            let source = crate::telemetry::aws::athena::AthenaSource::new(
                &sdk,
                crate::assemble::athena_options(a),
            );
            for (table, result) in source.check_tables().await {
                let what = format!("athena table {table}");
                out.push(match result {
                    Ok(how) => CheckItem::ok(what, how),
                    Err(e) => CheckItem::failed(
                        what,
                        e,
                        "create the table with the AWS documentation's DDL (partition projection), allow glue:GetTable on it, or set a partition predicate",
                    ),
                });
            }
        }
        if config.sources.xray.as_ref().is_some_and(|x| x.enabled) {
            let client = aws_sdk_xray::Client::new(&sdk);
            let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
            let before = aws_smithy_types::DateTime::from_secs(now.secs() - 60);
            out.push(
                match client
                    .get_trace_summaries()
                    .start_time(before)
                    .end_time(now)
                    .send()
                    .await
                {
                    Ok(_) => CheckItem::ok("xray", "GetTraceSummaries works"),
                    Err(e) => CheckItem::failed(
                        "xray",
                        why(&e),
                        "allow xray:GetTraceSummaries and xray:BatchGetTraces",
                    ),
                },
            );
        }
        if let Some(m) = &config.sources.metrics
            && let Some(q) = m.queries.first()
        {
            let client = aws_sdk_cloudwatch::Client::new(&sdk);
            out.push(match client.list_metrics().namespace(&q.namespace).metric_name(&q.metric).send().await {
                Ok(r) if !r.metrics().is_empty() => CheckItem::ok(format!("metric {}/{}", q.namespace, q.metric), "found"),
                Ok(_) => CheckItem::failed(
                    format!("metric {}/{}", q.namespace, q.metric),
                    "no such metric in this region",
                    "check namespace, metric and region",
                ),
                Err(e) => CheckItem::failed(
                    format!("metric {}/{}", q.namespace, q.metric),
                    why(&e),
                    "allow cloudwatch:GetMetricData, ListMetrics, DescribeAlarms, DescribeAlarmHistory",
                ),
            });
        }
        if config.llm.backend == "bedrock" {
            out.push(bedrock(&sdk, &config.llm.model).await);
        }
        out
    }

    async fn credentials(sdk: &SdkConfig) -> CheckItem {
        match sdk.credentials_provider() {
            None => CheckItem::failed(
                "aws credentials",
                "no credentials provider",
                "configure a profile, SSO, environment variables or an instance role",
            ),
            Some(p) => {
                use aws_credential_types::provider::ProvideCredentials;
                match p.provide_credentials().await {
                    Ok(c) => CheckItem::ok(
                        "aws credentials",
                        format!(
                            "found (access key {}…)",
                            c.access_key_id().chars().take(4).collect::<String>()
                        ),
                    ),
                    Err(e) => CheckItem::failed(
                        "aws credentials",
                        e.to_string(),
                        "run `aws sso login` or configure a profile / environment credentials",
                    ),
                }
            }
        }
    }

    async fn bedrock(sdk: &SdkConfig, model: &str) -> CheckItem {
        use aws_sdk_bedrockruntime::types::{
            ContentBlock, ConversationRole, InferenceConfiguration, Message,
        };
        let what = format!("bedrock {model}");
        if model.is_empty() {
            return CheckItem::failed(
                what,
                "no model",
                "set llm.model, e.g. global.anthropic.claude-sonnet-4-6",
            );
        }
        let client = aws_sdk_bedrockruntime::Client::new(sdk);
        let msg = match Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text("ping".into()))
            .build()
        {
            Ok(m) => m,
            Err(e) => return CheckItem::failed(what, e.to_string(), "report this as a bug"),
        };
        match client
            .converse()
            .model_id(model)
            .messages(msg)
            .inference_config(InferenceConfiguration::builder().max_tokens(1).build())
            .send()
            .await
        {
            Ok(_) => CheckItem::ok(what, "model access works"),
            Err(e) => CheckItem::failed(
                what,
                why(&e),
                "enable model access in the Bedrock console and allow bedrock:InvokeModel / InvokeModelWithResponseStream on the model or inference profile",
            ),
        }
    }
}
