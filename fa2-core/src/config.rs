//! Configuration: `fa2.toml` (DESIGN.md section 7) with `FA2_*` environment overrides
//! (`FA2_LLM__MODEL` sets `llm.model`), validated with messages that say what to fix.

use crate::error::ConfigError;
use crate::redact::RedactionConfig;
use crate::request::Language;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A duration written as `90s`, `30m`, `2h`, `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let secs = self.0.as_secs();
        let text = if self.0.subsec_nanos() != 0 {
            // a sub-second setting (like the server's timeouts in tests) must round-trip
            format!("{}ms", self.0.as_millis())
        } else if secs.is_multiple_of(86_400) && secs > 0 {
            format!("{}d", secs / 86_400)
        } else if secs.is_multiple_of(3600) && secs > 0 {
            format!("{}h", secs / 3600)
        } else if secs.is_multiple_of(60) && secs > 0 {
            format!("{}m", secs / 60)
        } else {
            format!("{secs}s")
        };
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::time::parse_duration(&s)
            .map(HumanDuration)
            .map_err(serde::de::Error::custom)
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub language: Language,
    /// IANA zone for people who have none.
    pub timezone: String,
    pub architecture: String,
    pub budget_tokens: usize,
    /// Whole analysis deadline.
    pub deadline: HumanDuration,
    /// Per-source timeout (defaults to 80% of the deadline).
    pub source_timeout: Option<HumanDuration>,
    pub baseline: HumanDuration,
    /// Longest incident window accepted.
    pub max_window: HumanDuration,
    /// Directory with `{en,ja}/{system,user}.hbs` overriding the built-in prompts.
    pub prompt_dir: Option<PathBuf>,
    /// AWS region for the sources and Bedrock (default: the standard aws-config chain).
    pub region: String,
    /// The alarm window of every entry (`fa2 analyze --alarm`, the Slack alarm form, Lambda's
    /// alarm events and custom action): from this long before the alarm's transition to ALARM
    /// to this long after it, or now if earlier ([`crate::window::WindowPolicy::alarm_window`]).
    pub alarm_lookback: HumanDuration,
    /// How long before the incident window deploy- and configuration-class CloudTrail changes
    /// are still suspects ([`crate::window::DEFAULT_CHANGE_LOOKBACK`], 6h): a deploy that starts
    /// a slow leak shows its first error long after. `0s` looks no further than the baseline.
    pub change_lookback: HumanDuration,
    pub llm: LlmConfig,
    pub sources: SourcesConfig,
    pub slack: SlackConfig,
    pub notify: NotifyConfig,
    pub redaction: RedactionConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            language: Language::En,
            timezone: "UTC".into(),
            architecture: String::new(),
            budget_tokens: 16_000,
            deadline: HumanDuration(Duration::from_secs(120)),
            source_timeout: None,
            baseline: HumanDuration(Duration::from_secs(3600)),
            max_window: HumanDuration(Duration::from_secs(86_400)),
            prompt_dir: None,
            region: String::new(),
            alarm_lookback: HumanDuration(Duration::from_secs(900)),
            change_lookback: HumanDuration(crate::window::DEFAULT_CHANGE_LOOKBACK),
            llm: LlmConfig::default(),
            sources: SourcesConfig::default(),
            slack: SlackConfig::default(),
            notify: NotifyConfig::default(),
            redaction: RedactionConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// `offline`, `bedrock` or `openai`.
    pub backend: String,
    pub model: String,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub max_output_tokens: u32,
    /// Context window of the model in tokens (the prompt budget never exceeds it minus the
    /// answer); 0 means the backend's default.
    pub context_window: usize,
    /// Retries on throttling and server errors.
    pub max_retries: u32,
    /// OpenAI-compatible servers: `json_schema` (default), `json_object` or `none`.
    pub response_format: String,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            backend: "offline".into(),
            model: String::new(),
            base_url: None,
            api_key_env: None,
            max_output_tokens: 4096,
            context_window: 0,
            max_retries: 4,
            response_format: "json_schema".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesConfig {
    pub files: Option<FilesConfig>,
    pub cloudwatch_logs: Option<CloudWatchLogsConfig>,
    pub athena: Option<AthenaConfig>,
    pub xray: Option<XrayConfig>,
    pub metrics: Option<MetricsConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    pub paths: Vec<PathBuf>,
    /// Bytes kept of one line (plain and ALB logs) or one JSON string; the rest is cut,
    /// counted and never held in memory.
    pub max_line_bytes: usize,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            paths: Vec::new(),
            max_line_bytes: crate::telemetry::files::FilesOptions::default().max_line_bytes,
        }
    }
}

impl FilesConfig {
    /// The files source's reading limits.
    pub fn options(&self) -> crate::telemetry::files::FilesOptions {
        crate::telemetry::files::FilesOptions {
            max_line_bytes: self.max_line_bytes,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudWatchLogsConfig {
    /// Log group names or ARNs (as the console copies them, `:*` included).
    pub log_groups: Vec<String>,
    /// A Logs Insights filter (`@message like /ERROR/`), for the `insights` and `pattern` modes.
    pub filter: String,
    /// A CloudWatch Logs filter pattern (`?ERROR ?WARN`, `{ $.level = "error" }`), for the
    /// `filter` mode.
    pub filter_pattern: String,
    /// `insights` (default), `filter` (FilterLogEvents pagination) or `pattern` (server-side
    /// aggregation with Logs Insights `pattern`).
    pub mode: String,
    /// Events read at most.
    pub max_events: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AthenaConfig {
    pub database: String,
    pub workgroup: String,
    pub output_location: String,
    pub alb_table: String,
    pub cloudtrail_table: String,
    /// Partition predicates that replace the ones planned from the Glue catalog, e.g.
    /// `day BETWEEN '{day_from}' AND '{day_to}'` (the first and last UTC day read).
    pub alb_partition_predicate: String,
    pub cloudtrail_partition_predicate: String,
    /// Rows read per query at most.
    pub max_rows: usize,
    /// Let Athena count ALB requests per status, target group and path (`GROUP BY`) instead
    /// of reading entries: for tables too large to read row by row.
    pub alb_aggregate: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct XrayConfig {
    pub enabled: bool,
    /// X-Ray filter expression for GetTraceSummaries, e.g. `fault = true OR error = true`.
    pub filter_expression: String,
    pub max_summaries: usize,
    /// Full traces fetched with BatchGetTraces.
    pub max_traces: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub queries: Vec<MetricQuery>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricQuery {
    pub namespace: String,
    pub metric: String,
    pub dimensions: BTreeMap<String, String>,
    pub stat: String,
    /// Period in seconds (default 60).
    pub period: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackConfig {
    pub signing_secret: String,
    pub signing_secret_name: String,
    pub bot_token: String,
    pub bot_token_name: String,
    pub app_token: String,
    /// Slack app ids (like `A6L22LZNH`, Amazon Q Developer in chat applications) or bot ids
    /// (`B…`) whose channel messages are alarms that get the analysis form in their thread.
    pub alarm_app_ids: Vec<String>,
    /// Channel ids allowed to use fa2 (empty: all channels the app is in).
    pub allowed_channels: Vec<String>,
    /// User ids allowed to start analyses (empty: everyone).
    pub allowed_users: Vec<String>,
    /// Web API base URL (a local server in tests).
    pub api_url: String,
    /// Window of `/fa2 <text>`: the last 30 minutes by default.
    pub quick_window: HumanDuration,
    /// Analyses per channel per hour (0: unlimited).
    pub channel_rate_limit: u32,
    /// Analyses running at once in one process (the server; in Lambda use reserved
    /// concurrency).
    pub max_concurrent: usize,
    /// HTTP server: longest wait for a request's head (method, path and headers), and for
    /// the next request on an idle keep-alive connection; the connection is closed after it.
    pub header_timeout: HumanDuration,
    /// HTTP server: longest wait for a request's body once its head is in; a late body gets
    /// a bare 408 and the connection is closed.
    pub body_timeout: HumanDuration,
    /// HTTP server: on SIGTERM or Ctrl-C, how long open connections may finish their requests
    /// before they are dropped (running analyses are waited for separately).
    pub shutdown_grace: HumanDuration,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            signing_secret: String::new(),
            signing_secret_name: String::new(),
            bot_token: String::new(),
            bot_token_name: String::new(),
            app_token: String::new(),
            alarm_app_ids: vec!["A6L22LZNH".into()],
            allowed_channels: Vec::new(),
            allowed_users: Vec::new(),
            api_url: "https://slack.com/api".into(),
            quick_window: HumanDuration(Duration::from_secs(1800)),
            channel_rate_limit: 10,
            max_concurrent: 2,
            // Slack wants its answer within 3 seconds: a request still arriving after 10 is
            // lost anyway, and the slack leaves room for a reverse proxy.
            header_timeout: HumanDuration(Duration::from_secs(10)),
            body_timeout: HumanDuration(Duration::from_secs(10)),
            shutdown_grace: HumanDuration(Duration::from_secs(10)),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    pub sns_topic_arn: String,
    pub slack_channel: String,
}

/// Environment variables that are not config keys.
const NOT_KEYS: &[&str] = &["FA2_CONFIG", "FA2_LOG"];

impl Config {
    /// The config file to use: `explicit`, else `$FA2_CONFIG`, else `./fa2.toml` if present.
    pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = explicit {
            return Some(p.to_path_buf());
        }
        if let Ok(p) = std::env::var("FA2_CONFIG")
            && !p.is_empty()
        {
            return Some(PathBuf::from(p));
        }
        let local = PathBuf::from("fa2.toml");
        local.exists().then_some(local)
    }

    /// Loads the file (if any) and applies the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, &vars)
    }

    /// Loads `path` (if any) and applies `FA2_*` overrides from `env`.
    pub fn load_with_env(
        path: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let (mut table, origin) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError::Read {
                    path: p.to_path_buf(),
                    source: e,
                })?;
                let t: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
                    origin: p.display().to_string(),
                    message: e.to_string(),
                })?;
                (t, p.display().to_string())
            }
            None => (toml::Table::new(), "(defaults)".to_string()),
        };
        let defaults =
            toml::Table::try_from(Config::shape()).map_err(|e| ConfigError::Invalid {
                origin: "defaults".into(),
                message: e.to_string(),
            })?;
        let mut from_env = Vec::new();
        for (k, v) in env {
            let Some(rest) = k.strip_prefix("FA2_") else {
                continue;
            };
            if NOT_KEYS.contains(&k.as_str()) || rest.is_empty() {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            // Deployment templates pass every parameter, set or not: an empty value for a key
            // of an optional source table means "not configured", not "configured empty".
            if v.is_empty() && path.first().is_some_and(|p| p == "sources") {
                continue;
            }
            apply_env(&mut table, &defaults, &path, v).map_err(|message| ConfigError::Invalid {
                origin: format!("environment variable {k}"),
                message,
            })?;
            from_env.push(k.clone());
        }
        let origin = if from_env.is_empty() {
            origin
        } else {
            format!("{origin} with {}", from_env.join(", "))
        };
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Invalid {
                    origin: origin.clone(),
                    message: e.message().to_string(),
                })?;
        config
            .validate()
            .map_err(|message| ConfigError::Invalid { origin, message })?;
        Ok(config)
    }

    /// The defaults with every optional table present: the types that `FA2_*` values of
    /// keys like `FA2_SOURCES__CLOUDWATCH_LOGS__LOG_GROUPS` are parsed as.
    fn shape() -> Config {
        Config {
            sources: SourcesConfig {
                files: Some(FilesConfig::default()),
                cloudwatch_logs: Some(CloudWatchLogsConfig::default()),
                athena: Some(AthenaConfig::default()),
                xray: Some(XrayConfig::default()),
                metrics: None,
            },
            ..Config::default()
        }
    }

    /// The configured `timezone` (validated by [`Config::validate`]): whose wall clock a
    /// timestamp written without a zone is.
    pub fn time_zone(&self) -> Option<chrono_tz::Tz> {
        self.timezone.parse().ok()
    }

    /// Checks values that types alone cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(format!(
                "timezone `{}` is not an IANA time zone name (like Asia/Tokyo or Europe/Paris)",
                self.timezone
            ));
        }
        if !(1_000..=1_000_000).contains(&self.budget_tokens) {
            return Err(format!(
                "budget_tokens {} is out of range: use 1000 to 1000000 (default 16000)",
                self.budget_tokens
            ));
        }
        if self.deadline.0.is_zero() {
            return Err("deadline must be longer than 0s, like 120s".into());
        }
        if self.max_window.0.is_zero() {
            return Err("max_window must be longer than 0s, like 24h".into());
        }
        if self.slack.header_timeout.0.is_zero() {
            return Err("slack.header_timeout must be longer than 0s, like 10s".into());
        }
        if self.slack.body_timeout.0.is_zero() {
            return Err("slack.body_timeout must be longer than 0s, like 10s".into());
        }
        if !matches!(self.llm.backend.as_str(), "offline" | "bedrock" | "openai") {
            return Err(format!(
                "llm.backend `{}` is unknown: use offline, bedrock or openai",
                self.llm.backend
            ));
        }
        if let Some(l) = &self.sources.cloudwatch_logs {
            if l.log_groups.is_empty() {
                return Err(
                    "sources.cloudwatch_logs.log_groups is empty: list the log groups to read"
                        .into(),
                );
            }
            if !matches!(l.mode.as_str(), "" | "insights" | "filter" | "pattern") {
                return Err(format!(
                    "sources.cloudwatch_logs.mode `{}` is unknown: use insights, filter or pattern",
                    l.mode
                ));
            }
            // Each mode takes one filter syntax: the other one would be silently ignored.
            if l.mode == "filter" && !l.filter.trim().is_empty() {
                return Err(format!(
                    "sources.cloudwatch_logs.filter `{}` is a Logs Insights filter, which mode = \"filter\" (FilterLogEvents) cannot apply: write it as a filter pattern in filter_pattern (like `?ERROR ?WARN` or `{{ $.level = \"error\" }}`), or use mode = \"insights\"",
                    l.filter.trim()
                ));
            }
            if l.mode != "filter" && !l.filter_pattern.trim().is_empty() {
                let mode = if l.mode.is_empty() {
                    "insights"
                } else {
                    &l.mode
                };
                return Err(format!(
                    "sources.cloudwatch_logs.filter_pattern `{}` is a FilterLogEvents filter pattern, which mode = \"{mode}\" does not use: set mode = \"filter\", or write it as a Logs Insights filter in filter (like `@message like /ERROR/`)",
                    l.filter_pattern.trim()
                ));
            }
        }
        if let Some(a) = &self.sources.athena
            && (a.database.is_empty() || (a.alb_table.is_empty() && a.cloudtrail_table.is_empty()))
        {
            return Err(
                "sources.athena needs database and at least one of alb_table, cloudtrail_table"
                    .into(),
            );
        }
        if let Some(m) = &self.sources.metrics {
            for q in &m.queries {
                if q.namespace.is_empty() || q.metric.is_empty() {
                    return Err(
                        "every [[sources.metrics.queries]] needs namespace and metric".into(),
                    );
                }
            }
        }
        if !matches!(
            self.llm.response_format.as_str(),
            "json_schema" | "json_object" | "none"
        ) {
            return Err(format!(
                "llm.response_format `{}` is unknown: use json_schema, json_object or none",
                self.llm.response_format
            ));
        }
        if let Some(f) = &self.sources.files {
            if f.paths.is_empty() {
                return Err(
                    "sources.files.paths is empty: list the files or directories to read".into(),
                );
            }
            let min = crate::telemetry::files::MIN_LINE_BYTES;
            if f.max_line_bytes < min {
                return Err(format!(
                    "sources.files.max_line_bytes = {} is too small: use at least {min} (default {})",
                    f.max_line_bytes,
                    crate::telemetry::files::FilesOptions::default().max_line_bytes
                ));
            }
        }
        if let Some(dir) = &self.prompt_dir
            && !dir.is_dir()
        {
            return Err(format!("prompt_dir {} is not a directory", dir.display()));
        }
        Ok(())
    }

    /// Per-source timeout.
    pub fn source_timeout(&self) -> Duration {
        self.source_timeout
            .map(|d| d.0)
            .unwrap_or_else(|| self.deadline.0.mul_f64(0.8))
    }
}

/// Sets `path` in `table` from an environment value, typed like the default at that path.
fn apply_env(
    table: &mut toml::Table,
    defaults: &toml::Table,
    path: &[String],
    raw: &str,
) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut cur = table;
    let mut def: Option<&toml::Table> = Some(defaults);
    for (depth, p) in parents.iter().enumerate() {
        let known = def.is_some_and(|d| d.contains_key(p)) || (depth == 0 && p == "sources");
        if depth == 0 && !known {
            return Err(format!("unknown key `{}`", path.join(".")));
        }
        def = def.and_then(|d| d.get(p)).and_then(toml::Value::as_table);
        cur = cur
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` is not a table"))?;
    }
    if parents.is_empty() && !defaults.contains_key(last) {
        return Err(format!("unknown key `{last}`"));
    }
    let value = match def.and_then(|d| d.get(last)) {
        Some(toml::Value::String(_)) => toml::Value::String(raw.to_string()),
        Some(toml::Value::Integer(_)) => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| format!("`{raw}` is not an integer"))?,
        ),
        Some(toml::Value::Boolean(_)) => toml::Value::Boolean(
            raw.trim()
                .parse()
                .map_err(|_| format!("`{raw}` is not true or false"))?,
        ),
        Some(toml::Value::Array(_)) => parse_list(raw),
        _ => guess(raw),
    };
    cur.insert(last.clone(), value);
    Ok(())
}

/// `["a", "b"]` (TOML) or `a,b`.
fn parse_list(raw: &str) -> toml::Value {
    if raw.trim_start().starts_with('[')
        && let Ok(t) = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        && let Some(v) = t.get("v")
    {
        return v.clone();
    }
    toml::Value::Array(
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| toml::Value::String(s.to_string()))
            .collect(),
    )
}

/// Value of a key that has no default (an optional table or value): TOML if it parses, else
/// a string.
fn guess(raw: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(t) => t
            .get("v")
            .cloned()
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn design_example_parses() {
        let text = r#"
language = "ja"
timezone = "Asia/Tokyo"
architecture = "ALB, ECS on EC2 and DynamoDB; a Spring application on ECS"
budget_tokens = 16000
deadline = "120s"
baseline = "60m"

[llm]
backend = "bedrock"
model = "global.anthropic.claude-sonnet-4-6"

[sources.files]
paths = ["./incident"]

[sources.cloudwatch_logs]
log_groups = ["/aws/lambda/orders-fn", "/ecs/checkout-api"]
filter = ""

[sources.athena]
database = "aiops_db"
workgroup = "primary"
output_location = "s3://my-athena-results/fa2/"
alb_table = "alb_access_logs"
cloudtrail_table = "cloud_trail_logs"

[sources.xray]
enabled = true

[[sources.metrics.queries]]
namespace = "AWS/ApiGateway"
metric = "5XXError"
dimensions = { ApiName = "orders-api" }
stat = "Sum"

[slack]
signing_secret = ""
bot_token = ""
alarm_app_ids = ["A6L22LZNH"]
allowed_channels = []

[notify]
sns_topic_arn = ""
slack_channel = ""
"#;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fa2.toml");
        std::fs::write(&p, text).unwrap();
        let c = Config::load_with_env(Some(&p), &[]).unwrap();
        assert_eq!(c.language, Language::Ja);
        assert_eq!(c.deadline.0, Duration::from_secs(120));
        assert_eq!(
            c.sources.metrics.as_ref().unwrap().queries[0].dimensions["ApiName"],
            "orders-api"
        );
        assert_eq!(c.source_timeout(), Duration::from_secs(96));
    }

    #[test]
    fn env_overrides_are_typed() {
        let c = Config::load_with_env(
            None,
            &env(&[
                ("FA2_LLM__MODEL", "us.anthropic.claude"),
                ("FA2_BUDGET_TOKENS", "8000"),
                ("FA2_SLACK__SIGNING_SECRET", "12345"),
                ("FA2_SLACK__ALLOWED_CHANNELS", "C1,C2"),
                ("FA2_SOURCES__FILES__PATHS", "[\"a\", \"b\"]"),
                ("FA2_SOURCES__XRAY__ENABLED", "true"),
                ("FA2_CONFIG", "ignored"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.llm.model, "us.anthropic.claude");
        assert_eq!(c.budget_tokens, 8000);
        assert_eq!(c.slack.signing_secret, "12345");
        assert_eq!(c.slack.allowed_channels, vec!["C1", "C2"]);
        assert_eq!(c.sources.files.unwrap().paths.len(), 2);
        assert!(c.sources.xray.unwrap().enabled);
    }

    #[test]
    fn deployment_style_env_fills_optional_tables() {
        // What a SAM template passes: comma lists, and empty values for unset parameters.
        let c = Config::load_with_env(
            None,
            &env(&[
                (
                    "FA2_SOURCES__CLOUDWATCH_LOGS__LOG_GROUPS",
                    "/ecs/api, /aws/lambda/fn",
                ),
                ("FA2_SOURCES__CLOUDWATCH_LOGS__MAX_EVENTS", "5000"),
                ("FA2_SOURCES__ATHENA__DATABASE", ""),
                ("FA2_SOURCES__ATHENA__ALB_TABLE", ""),
                ("FA2_SLACK__ALLOWED_USERS", "U1"),
                ("FA2_SLACK__QUICK_WINDOW", "45m"),
                ("FA2_SLACK__SHUTDOWN_GRACE", "250ms"),
                (
                    "FA2_SOURCES__METRICS__QUERIES",
                    r#"[{namespace = "AWS/ApiGateway", metric = "5XXError", dimensions = {ApiName = "orders-api"}, stat = "Sum"}]"#,
                ),
            ]),
        )
        .unwrap();
        let logs = c.sources.cloudwatch_logs.unwrap();
        assert_eq!(logs.log_groups, vec!["/ecs/api", "/aws/lambda/fn"]);
        assert_eq!(logs.max_events, 5000);
        assert!(c.sources.athena.is_none());
        assert_eq!(c.slack.allowed_users, vec!["U1"]);
        assert_eq!(c.slack.quick_window.0, Duration::from_secs(2700));
        assert_eq!(c.slack.header_timeout.0, Duration::from_secs(10));
        assert_eq!(c.slack.shutdown_grace.0, Duration::from_millis(250));
        let text = toml::to_string(&c.slack).unwrap();
        assert!(text.contains("shutdown_grace = \"250ms\""), "{text}");
        let m = &c.sources.metrics.unwrap().queries[0];
        assert_eq!(
            (m.namespace.as_str(), m.metric.as_str()),
            ("AWS/ApiGateway", "5XXError")
        );
        assert_eq!(m.dimensions["ApiName"], "orders-api");
    }

    #[test]
    fn clear_errors() {
        let e = Config::load_with_env(None, &env(&[("FA2_NOPE", "1")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("FA2_NOPE") && e.contains("unknown key"), "{e}");
        let e = Config::load_with_env(None, &env(&[("FA2_BUDGET_TOKENS", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an integer"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fa2.toml");
        std::fs::write(&p, "langauge = \"en\"\n").unwrap();
        let e = Config::load_with_env(Some(&p), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `langauge`"), "{e}");
        std::fs::write(&p, "timezone = \"Mars/Base\"\n").unwrap();
        let e = Config::load_with_env(Some(&p), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("IANA"), "{e}");
        std::fs::write(&p, "deadline = \"soon\"\n").unwrap();
        let e = Config::load_with_env(Some(&p), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a duration"), "{e}");
        std::fs::write(&p, "[llm]\nbackend = \"gpt\"\n").unwrap();
        let e = Config::load_with_env(Some(&p), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("offline, bedrock or openai"), "{e}");
        let e = Config::load_with_env(None, &env(&[("FA2_SLACK__BODY_TIMEOUT", "0s")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("slack.body_timeout must be longer than 0s"),
            "{e}"
        );
        let e = Config::load_with_env(Some(Path::new("/nonexistent/fa2.toml")), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read config file"), "{e}");
    }

    #[test]
    fn each_logs_mode_takes_its_own_filter_syntax() {
        let load = |pairs: &[(&str, &str)]| {
            let mut all = vec![("FA2_SOURCES__CLOUDWATCH_LOGS__LOG_GROUPS", "/ecs/api")];
            all.extend_from_slice(pairs);
            Config::load_with_env(None, &env(&all))
        };
        // Insights filter with FilterLogEvents: rejected, saying where it belongs.
        let e = load(&[
            ("FA2_SOURCES__CLOUDWATCH_LOGS__MODE", "filter"),
            (
                "FA2_SOURCES__CLOUDWATCH_LOGS__FILTER",
                "@message like /ERROR/",
            ),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("sources.cloudwatch_logs.filter")
                && e.contains("filter_pattern")
                && e.contains("mode = \"insights\""),
            "{e}"
        );
        // A filter pattern without mode = "filter" (the default is insights): rejected.
        for mode in ["", "insights", "pattern"] {
            let e = load(&[
                ("FA2_SOURCES__CLOUDWATCH_LOGS__MODE", mode),
                (
                    "FA2_SOURCES__CLOUDWATCH_LOGS__FILTER_PATTERN",
                    "?ERROR ?WARN",
                ),
            ])
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("filter_pattern `?ERROR ?WARN`") && e.contains("set mode = \"filter\""),
                "{mode}: {e}"
            );
        }
        // Each syntax with its own mode is fine.
        let c = load(&[
            ("FA2_SOURCES__CLOUDWATCH_LOGS__MODE", "filter"),
            (
                "FA2_SOURCES__CLOUDWATCH_LOGS__FILTER_PATTERN",
                "?ERROR ?WARN",
            ),
        ])
        .unwrap();
        assert_eq!(
            c.sources.cloudwatch_logs.unwrap().filter_pattern,
            "?ERROR ?WARN"
        );
        load(&[(
            "FA2_SOURCES__CLOUDWATCH_LOGS__FILTER",
            "@message like /ERROR/",
        )])
        .unwrap();
    }
}
