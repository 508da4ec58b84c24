//! The Amazon Bedrock backend (`bedrock`): the Converse and ConverseStream APIs through
//! `aws-sdk-bedrockruntime`, for any model or inference profile (`global.`, `us.`, `eu.`,
//! `apac.` prefixes and ARNs are passed as given).
//!
//! Structured output comes from a forced tool call (`toolChoice: tool`) whose input schema is
//! [`analysis_schema`]. Models that reject forced tool choice are asked again with
//! `toolChoice: auto`, and models without tool use get no tools and answer in text, which the
//! lenient parser reads; each downgrade is remembered for later calls. Throttling and server
//! errors are retried here, with jittered exponential backoff inside the overall timeout (the
//! SDK's own retries are switched off so the two do not multiply). A prompt that is too long
//! fails with [`LlmError::ContextOverflow`] (recognised by [`LlmError::is_context_overflow`]),
//! so the pipeline can shrink the budget.

use super::answer::{
    ANSWER_NAME, analysis_from_value, analysis_schema, parse_analysis, repair_truncated,
};
use super::retry::backoff;
use super::{Analysis, LlmBackend, LlmRequest, LlmResponse};
use crate::error::LlmError;
use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::StalledStreamProtectionConfig;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    AutoToolChoice, ContentBlock, ContentBlockDelta, ContentBlockStart, ConversationRole,
    ConverseOutput, ConverseStreamOutput, InferenceConfiguration, Message, SpecificToolChoice,
    StopReason, SystemContentBlock, Tool, ToolChoice, ToolConfiguration, ToolInputSchema,
    ToolSpecification,
};
use aws_smithy_types::{Document, Number};
use serde_json::Value;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Backend name in configs and reports.
pub const NAME: &str = "bedrock";

/// Model used when the config names none: a cross-region inference profile.
pub const DEFAULT_MODEL: &str = "global.anthropic.claude-sonnet-4-6";

/// How long a response may send no bytes before the SDK drops it as stalled.
const STALL_GRACE: Duration = Duration::from_secs(120);
/// Error messages can embed whole prompts or pages; the report needs only the gist.
const MAX_ERROR_CHARS: usize = 600;

const TOOL_DESCRIPTION: &str = "Report the root-cause analysis of the incident. Call it exactly \
    once, with the complete analysis; cite evidence ids like E1.";

/// Settings of [`BedrockBackend`]; the CLI maps the `[llm]` config keys onto it. Region and
/// credentials come from the `SdkConfig`.
#[derive(Debug, Clone)]
pub struct BedrockOptions {
    /// Model id or inference profile (`global.anthropic.claude-sonnet-4-6`,
    /// `us.amazon.nova-pro-v1:0`, an inference-profile ARN, ...), passed to Bedrock as given.
    pub model_id: String,
    /// Context window of the model in tokens (default 200,000).
    pub context_window: usize,
    /// Retries on throttling, unavailable or failing service and broken connections
    /// (default 4).
    pub max_retries: u32,
    /// Overall limit for one call, retries and backoff included (default 300 s).
    pub timeout: Duration,
    /// Ask for the answer through a forced tool call (default `true`); `false` makes the model
    /// answer in text, for models whose tool use is unreliable.
    pub use_tools: bool,
}

impl Default for BedrockOptions {
    fn default() -> Self {
        BedrockOptions {
            model_id: DEFAULT_MODEL.into(),
            context_window: 200_000,
            max_retries: 4,
            timeout: Duration::from_secs(300),
            use_tools: true,
        }
    }
}

/// How the answer's structure is requested from the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ToolMode {
    /// The answer tool with `toolChoice: tool` (the model must call it).
    Forced,
    /// The answer tool with `toolChoice: auto`, for models that reject forced choice; the
    /// model may still answer in text, which is parsed.
    Auto,
    /// No tools: the model answers in text and the lenient parser finds the JSON.
    Off,
}

impl ToolMode {
    fn to_u8(self) -> u8 {
        match self {
            ToolMode::Forced => 0,
            ToolMode::Auto => 1,
            ToolMode::Off => 2,
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            0 => ToolMode::Forced,
            1 => ToolMode::Auto,
            _ => ToolMode::Off,
        }
    }
}

/// Amazon Bedrock as an [`LlmBackend`].
#[derive(Debug)]
pub struct BedrockBackend {
    options: BedrockOptions,
    client: Client,
    /// Tool mode for `Converse`; only ever weakens.
    tools: AtomicU8,
    /// Tool mode for `ConverseStream`: some models support tool use only without streaming.
    stream_tools: AtomicU8,
}

/// What one attempt came to.
enum Attempt {
    Done(LlmResponse),
    /// Worth another try after a pause.
    Retry(String),
    /// The request was adapted to the model (tools weakened); try again at once.
    Adapted,
}

/// How a failed call is handled.
enum Failure {
    Retry(String),
    Overflow(String),
    ToolsRejected(String),
    Fatal(String),
}

/// The answer tool's input as it arrived.
enum ToolAnswer {
    /// The whole input, parsed by the SDK (`Converse`).
    Parsed(Value),
    /// The concatenated input deltas (`ConverseStream`), possibly cut off.
    Raw(String),
}

type OnDelta<'a> = &'a mut (dyn for<'d> FnMut(&'d str) + Send);

impl BedrockBackend {
    /// Builds the backend; fails when the options cannot work (no model id, no region).
    pub fn new(config: &aws_config::SdkConfig, options: BedrockOptions) -> Result<Self, LlmError> {
        let unavailable = |reason: &str| LlmError::Unavailable {
            backend: NAME.into(),
            reason: reason.into(),
        };
        if options.model_id.trim().is_empty() {
            return Err(unavailable(
                "no model: set llm.model to a Bedrock model id or inference profile, e.g. global.anthropic.claude-sonnet-4-6",
            ));
        }
        if config.region().is_none() {
            return Err(unavailable(
                "no AWS region: set AWS_REGION, a profile region, or the config's region",
            ));
        }
        // Retries are counted and paced here, inside the overall timeout.
        // The SDK's stall detector gives up after 5 s without bytes by default, but a model
        // can stay silent longer than that before its first token on a large prompt; the
        // overall timeout still bounds a stream that hangs.
        let conf = aws_sdk_bedrockruntime::config::Builder::from(config)
            .retry_config(RetryConfig::disabled())
            .stalled_stream_protection(
                StalledStreamProtectionConfig::enabled()
                    .grace_period(STALL_GRACE)
                    .build(),
            )
            .build();
        let start = if options.use_tools {
            ToolMode::Forced
        } else {
            ToolMode::Off
        };
        Ok(BedrockBackend {
            client: Client::from_conf(conf),
            tools: AtomicU8::new(start.to_u8()),
            stream_tools: AtomicU8::new(start.to_u8()),
            options,
        })
    }

    /// The tool mode now in force for `Converse` (`streaming: false`) or `ConverseStream`.
    pub fn tool_mode(&self, streaming: bool) -> ToolMode {
        ToolMode::from_u8(self.slot(streaming).load(Ordering::Relaxed))
    }

    fn slot(&self, streaming: bool) -> &AtomicU8 {
        if streaming {
            &self.stream_tools
        } else {
            &self.tools
        }
    }

    fn system(req: &LlmRequest) -> Option<Vec<SystemContentBlock>> {
        // Bedrock rejects empty text blocks.
        (!req.system.trim().is_empty()).then(|| vec![SystemContentBlock::Text(req.system.clone())])
    }

    fn message(req: &LlmRequest) -> Result<Message, LlmError> {
        Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(req.user.clone()))
            .build()
            .map_err(|e| LlmError::Request(format!("cannot build the Bedrock message: {e}")))
    }

    fn inference(req: &LlmRequest) -> InferenceConfiguration {
        let max = i32::try_from(req.max_output_tokens.max(1)).unwrap_or(i32::MAX);
        InferenceConfiguration::builder()
            .max_tokens(max)
            .temperature(0.0)
            .build()
    }

    fn tool_config(mode: ToolMode) -> Result<Option<ToolConfiguration>, LlmError> {
        let build = |e: aws_sdk_bedrockruntime::error::BuildError| {
            LlmError::Request(format!("cannot build the Bedrock tool config: {e}"))
        };
        let choice = match mode {
            ToolMode::Off => return Ok(None),
            ToolMode::Forced => ToolChoice::Tool(
                SpecificToolChoice::builder()
                    .name(ANSWER_NAME)
                    .build()
                    .map_err(build)?,
            ),
            ToolMode::Auto => ToolChoice::Auto(AutoToolChoice::builder().build()),
        };
        let spec = ToolSpecification::builder()
            .name(ANSWER_NAME)
            .description(TOOL_DESCRIPTION)
            .input_schema(ToolInputSchema::Json(json_to_document(&analysis_schema())))
            .build()
            .map_err(build)?;
        ToolConfiguration::builder()
            .tools(Tool::ToolSpec(spec))
            .tool_choice(choice)
            .build()
            .map(Some)
            .map_err(build)
    }

    async fn call(
        &self,
        req: &LlmRequest,
        mut on_delta: Option<OnDelta<'_>>,
    ) -> Result<LlmResponse, LlmError> {
        let deadline = Instant::now() + self.options.timeout;
        let work = async {
            let mut retries = 0u32;
            loop {
                // Re-borrowed per attempt; the explicit type lets the trait object's
                // lifetime shrink to this iteration.
                let delta: Option<OnDelta<'_>> = match on_delta.as_mut() {
                    Some(f) => Some(&mut **f),
                    None => None,
                };
                let attempt = match delta {
                    Some(d) => self.converse_stream(req, d).await?,
                    None => self.converse(req).await?,
                };
                match attempt {
                    Attempt::Done(r) => return Ok(r),
                    Attempt::Adapted => continue,
                    Attempt::Retry(why) => {
                        if retries >= self.options.max_retries {
                            return Err(LlmError::Request(format!(
                                "{why} (gave up after {retries} retries)"
                            )));
                        }
                        let pause = backoff(retries);
                        // Sleeping past the deadline would only turn Bedrock's answer into a
                        // bare timeout; report what it said instead.
                        if Instant::now() + pause >= deadline {
                            return Err(LlmError::Request(format!(
                                "{why} (no time left to retry within {:?})",
                                self.options.timeout
                            )));
                        }
                        retries += 1;
                        tracing::warn!(
                            backend = NAME,
                            retry = retries,
                            pause_ms = pause.as_millis() as u64,
                            "retrying: {why}"
                        );
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        };
        match tokio::time::timeout_at(deadline, work).await {
            Ok(r) => r,
            Err(_) => Err(LlmError::Timeout(self.options.timeout)),
        }
    }

    async fn converse(&self, req: &LlmRequest) -> Result<Attempt, LlmError> {
        let mode = self.tool_mode(false);
        let sent = self
            .client
            .converse()
            .model_id(&self.options.model_id)
            .set_system(Self::system(req))
            .messages(Self::message(req)?)
            .inference_config(Self::inference(req))
            .set_tool_config(Self::tool_config(mode)?)
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                return self.failed(classify(&e, status, |_| None), false, mode);
            }
        };
        let mut text = String::new();
        let mut tool: Option<ToolAnswer> = None;
        let mut tool_is_answer = false;
        if let Some(ConverseOutput::Message(m)) = out.output() {
            for block in m.content() {
                match block {
                    ContentBlock::Text(t) => text.push_str(t),
                    // Only the answer tool is offered; another name would be a model quirk,
                    // so it is used only when the answer tool is absent.
                    ContentBlock::ToolUse(t) if !tool_is_answer => {
                        tool_is_answer = t.name() == ANSWER_NAME;
                        tool = Some(ToolAnswer::Parsed(document_to_json(t.input())));
                    }
                    _ => {}
                }
            }
        }
        self.conclude(Some(out.stop_reason()), tool, &text)
            .map(Attempt::Done)
    }

    async fn converse_stream(
        &self,
        req: &LlmRequest,
        on_delta: OnDelta<'_>,
    ) -> Result<Attempt, LlmError> {
        let mode = self.tool_mode(true);
        let sent = self
            .client
            .converse_stream()
            .model_id(&self.options.model_id)
            .set_system(Self::system(req))
            .messages(Self::message(req)?)
            .inference_config(Self::inference(req))
            .set_tool_config(Self::tool_config(mode)?)
            .send()
            .await;
        let mut out = match sent {
            Ok(out) => out,
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                return self.failed(classify(&e, status, |_| None), true, mode);
            }
        };
        let mut text = String::new();
        let mut tool_json = String::new();
        // Index of the content block that carries the answer tool's input, and whether that
        // tool is named as asked (only one tool is offered; another name is a model quirk).
        let mut answer_block: Option<i32> = None;
        let mut answer_named = false;
        let mut stop: Option<StopReason> = None;
        let mut delivered = false;
        loop {
            let event = match out.stream.recv().await {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                // The metadata after messageStop carries only usage; the answer is complete.
                Err(_) if stop.is_some() => break,
                Err(e) => {
                    let failure = classify(&e, None, stream_error_code);
                    // Before the first delta nothing was shown, so the call can start over.
                    if !delivered {
                        return self.failed(failure, true, mode);
                    }
                    let why = match failure {
                        Failure::Retry(w)
                        | Failure::Overflow(w)
                        | Failure::ToolsRejected(w)
                        | Failure::Fatal(w) => w,
                    };
                    return Err(LlmError::Request(format!(
                        "the Bedrock stream broke off after {} characters: {why}",
                        text.chars().count() + tool_json.chars().count()
                    )));
                }
            };
            match event {
                ConverseStreamOutput::ContentBlockStart(ev) => {
                    if let Some(ContentBlockStart::ToolUse(t)) = ev.start()
                        && !answer_named
                    {
                        answer_block = Some(ev.content_block_index());
                        answer_named = t.name() == ANSWER_NAME;
                        tool_json.clear();
                    }
                }
                ConverseStreamOutput::ContentBlockDelta(ev) => match ev.delta() {
                    Some(ContentBlockDelta::Text(t)) if !t.is_empty() => {
                        text.push_str(t);
                        delivered = true;
                        on_delta(t);
                    }
                    Some(ContentBlockDelta::ToolUse(d)) => {
                        let index = ev.content_block_index();
                        // A model that skips contentBlockStart still streams its input.
                        let block = *answer_block.get_or_insert(index);
                        if block == index && !d.input().is_empty() {
                            tool_json.push_str(d.input());
                            delivered = true;
                            on_delta(d.input());
                        }
                    }
                    _ => {}
                },
                ConverseStreamOutput::MessageStop(ev) => stop = Some(ev.stop_reason().clone()),
                _ => {}
            }
        }
        if stop.is_none() && !delivered {
            return Ok(Attempt::Retry(format!(
                "the Bedrock stream of {} ended before any answer",
                self.options.model_id
            )));
        }
        let tool = answer_block.map(|_| ToolAnswer::Raw(tool_json));
        self.conclude(stop.as_ref(), tool, &text).map(Attempt::Done)
    }

    /// Turns a classified failure into the next step; adapting the tool mode when the model
    /// rejected it (at most twice per backend, since the mode only weakens).
    fn failed(
        &self,
        failure: Failure,
        streaming: bool,
        mode: ToolMode,
    ) -> Result<Attempt, LlmError> {
        match failure {
            Failure::Retry(why) => Ok(Attempt::Retry(why)),
            Failure::Overflow(message) => Err(LlmError::ContextOverflow(format!(
                "context overflow: {message}"
            ))),
            Failure::ToolsRejected(message) => match self.adapt(&message, streaming, mode) {
                Some(next) => {
                    tracing::info!(
                        backend = NAME,
                        model = %self.options.model_id,
                        "the model rejected the tool config ({message}); now {next:?}"
                    );
                    Ok(Attempt::Adapted)
                }
                None => Err(LlmError::Request(message)),
            },
            Failure::Fatal(why) => Err(LlmError::Request(why)),
        }
    }

    /// Weakens the tool mode after Bedrock said the model cannot take it; `None` when tools
    /// were already off (the rejection was about something else).
    fn adapt(&self, message: &str, streaming: bool, mode: ToolMode) -> Option<ToolMode> {
        let m = message.to_ascii_lowercase();
        let choice_only =
            (m.contains("toolchoice") || m.contains("tool_choice") || m.contains("tool choice"))
                && !m.contains("tool use");
        let next = match mode {
            ToolMode::Forced if choice_only => ToolMode::Auto,
            ToolMode::Forced | ToolMode::Auto => ToolMode::Off,
            ToolMode::Off => return None,
        };
        // Either way the mode only goes down, even if another call weakened it meanwhile.
        self.slot(streaming)
            .fetch_max(next.to_u8(), Ordering::Relaxed);
        // "doesn't support tool use in streaming mode" says nothing about Converse.
        if !(streaming && m.contains("stream")) {
            self.slot(!streaming)
                .fetch_max(next.to_u8(), Ordering::Relaxed);
        }
        Some(next)
    }

    /// Reads the answer: the tool input when the model called the tool, its text otherwise.
    fn conclude(
        &self,
        stop: Option<&StopReason>,
        tool: Option<ToolAnswer>,
        text: &str,
    ) -> Result<LlmResponse, LlmError> {
        match stop {
            Some(StopReason::GuardrailIntervened) => {
                return Err(LlmError::Request(format!(
                    "Bedrock stopped the answer of {}: a guardrail intervened (stopReason guardrail_intervened)",
                    self.options.model_id
                )));
            }
            Some(StopReason::ContentFiltered) => {
                return Err(LlmError::Request(format!(
                    "Bedrock stopped the answer of {}: the content filter blocked it (stopReason content_filtered)",
                    self.options.model_id
                )));
            }
            _ => {}
        }
        // A stream that ended without messageStop was cut short.
        let truncated = matches!(stop, Some(StopReason::MaxTokens) | None);
        let analysis = match tool {
            Some(ToolAnswer::Parsed(v)) => match analysis_from_value(&v) {
                Ok(a) => a,
                Err(e) if text.trim().is_empty() => return Err(tool_error(e, truncated)),
                // A model that wrote its answer as text around an empty tool call.
                Err(_) => analyse(text, truncated)?,
            },
            Some(ToolAnswer::Raw(raw)) if !raw.trim().is_empty() => {
                match serde_json::from_str::<Value>(&raw) {
                    Ok(v) => analysis_from_value(&v).map_err(|e| tool_error(e, truncated))?,
                    Err(e) => match truncated.then(|| repair_truncated(&raw)).flatten() {
                        Some(a) => a,
                        None => {
                            return Err(LlmError::Parse(format!(
                                "the {ANSWER_NAME} tool input is not JSON ({e}){}: {}",
                                if truncated { " and was cut off" } else { "" },
                                clip(&raw)
                            )));
                        }
                    },
                }
            }
            _ if !text.trim().is_empty() => analyse(text, truncated)?,
            _ => {
                return Err(LlmError::Parse(format!(
                    "{} returned neither a tool call nor text (stopReason {})",
                    self.options.model_id,
                    stop.map_or("none", |s| s.as_str())
                )));
            }
        };
        Ok(LlmResponse {
            analysis,
            model: self.options.model_id.clone(),
            truncated,
        })
    }
}

fn tool_error(e: LlmError, truncated: bool) -> LlmError {
    match e {
        LlmError::Parse(m) if truncated => LlmError::Parse(format!(
            "{m} (the answer was cut off by the output token limit)"
        )),
        other => other,
    }
}

#[async_trait]
impl LlmBackend for BedrockBackend {
    fn name(&self) -> &str {
        NAME
    }

    fn model(&self) -> &str {
        &self.options.model_id
    }

    fn context_window(&self) -> usize {
        self.options.context_window
    }

    async fn complete(&self, req: LlmRequest) -> Result<LlmResponse, LlmError> {
        self.call(&req, None).await
    }

    async fn stream(
        &self,
        req: LlmRequest,
        on_delta: &mut (dyn for<'d> FnMut(&'d str) + Send),
    ) -> Result<LlmResponse, LlmError> {
        self.call(&req, Some(on_delta)).await
    }
}

/// Sorts an SDK error into retry / overflow / tools rejected / fatal. `status` is the HTTP
/// status when there was a response (stream events have none); `code_of` names the error
/// when its metadata does not.
fn classify<E, R>(
    err: &SdkError<E, R>,
    status: Option<u16>,
    code_of: fn(&E) -> Option<&'static str>,
) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let code = e
                .code()
                .filter(|c| !c.is_empty())
                .or_else(|| code_of(e))
                .unwrap_or("")
                .to_string();
            let message = e
                .message()
                .map(clip)
                .unwrap_or_else(|| clip(&DisplayErrorContext(err).to_string()));
            service_failure(&code, &message, status)
        }
        SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => Failure::Retry(format!(
            "cannot reach Bedrock: {}",
            DisplayErrorContext(err)
        )),
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Failure::Retry(format!(
            "Bedrock's answer failed: {}",
            DisplayErrorContext(err)
        )),
        _ => Failure::Fatal(format!(
            "Bedrock request failed: {}",
            clip(&DisplayErrorContext(err).to_string())
        )),
    }
}

/// Exceptions inside an event stream carry their type in `:exception-type`, which the SDK
/// maps to a variant without setting the error code.
fn stream_error_code(e: &ConverseStreamOutputError) -> Option<&'static str> {
    Some(match e {
        ConverseStreamOutputError::InternalServerException(_) => "InternalServerException",
        ConverseStreamOutputError::ModelStreamErrorException(_) => "ModelStreamErrorException",
        ConverseStreamOutputError::ValidationException(_) => "ValidationException",
        ConverseStreamOutputError::ThrottlingException(_) => "ThrottlingException",
        ConverseStreamOutputError::ServiceUnavailableException(_) => "ServiceUnavailableException",
        _ => return None,
    })
}

fn service_failure(code: &str, message: &str, status: Option<u16>) -> Failure {
    let lc = code.to_ascii_lowercase();
    let why = match status {
        Some(s) => format!("Bedrock {code} (HTTP {s}): {message}"),
        None => format!("Bedrock {code}: {message}"),
    };
    const TRANSIENT: [&str; 6] = [
        "throttlingexception",
        "serviceunavailableexception",
        "internalserverexception",
        "modelnotreadyexception",
        "modeltimeoutexception",
        "modelstreamerrorexception",
    ];
    if TRANSIENT.contains(&lc.as_str()) || status.is_some_and(|s| s == 429 || s >= 500) {
        return Failure::Retry(why);
    }
    if is_context_overflow(message) {
        return Failure::Overflow(message.to_string());
    }
    if lc == "validationexception" && tools_unsupported(message) {
        return Failure::ToolsRejected(why);
    }
    let hint = match lc.as_str() {
        "accessdeniedexception" => {
            " (check the bedrock:InvokeModel permission and that model access is granted in this region)"
        }
        "resourcenotfoundexception" => {
            " (check the model id; models that need an inference profile take a global./us./eu./apac. prefix)"
        }
        _ => "",
    };
    Failure::Fatal(format!("{why}{hint}"))
}

/// Bedrock's wording for prompts over the model's limit, across model families.
fn is_context_overflow(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "too long",
        "maximum context",
        "context length",
        "context window",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// "This model doesn't support tool use.", "... doesn't support the toolConfig.toolChoice.tool
/// field", "... tool use in streaming mode".
fn tools_unsupported(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("tool") && m.contains("support")
}

/// Parses the model's text; a truncated JSON answer is closed where it broke off, so the
/// hypotheses that arrived are kept rather than dumped into the summary as raw JSON.
fn analyse(text: &str, truncated: bool) -> Result<Analysis, LlmError> {
    let a = parse_analysis(text)?;
    let raw_fallback = a.hypotheses.is_empty() && a.summary == text.trim();
    if truncated
        && raw_fallback
        && let Some(repaired) = repair_truncated(text)
    {
        return Ok(repaired);
    }
    Ok(a)
}

/// serde_json → Smithy document (the tool's input schema).
fn json_to_document(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or(0.0))
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(json_to_document).collect()),
        Value::Object(o) => Document::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), json_to_document(v)))
                .collect(),
        ),
    }
}

/// Smithy document → serde_json (the tool call's input).
fn document_to_json(d: &Document) -> Value {
    match d {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => Value::Array(a.iter().map(document_to_json).collect()),
        Document::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), document_to_json(v)))
                .collect(),
        ),
    }
}

fn clip(s: &str) -> String {
    crate::distill::clip(s, MAX_ERROR_CHARS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip_the_schema() {
        let schema = analysis_schema();
        assert_eq!(document_to_json(&json_to_document(&schema)), schema);
        let v = serde_json::json!({"n": -3, "u": 7, "f": 1.5, "b": true, "z": null});
        assert_eq!(document_to_json(&json_to_document(&v)), v);
    }

    #[test]
    fn failures_are_classified_by_code_status_and_message() {
        assert!(matches!(
            service_failure("ThrottlingException", "slow down", Some(429)),
            Failure::Retry(_)
        ));
        assert!(matches!(
            service_failure("modelStreamErrorException", "retry", None),
            Failure::Retry(_)
        ));
        assert!(matches!(
            service_failure("SomethingNew", "oops", Some(502)),
            Failure::Retry(_)
        ));
        assert!(matches!(
            service_failure(
                "ValidationException",
                "Input is too long for requested model.",
                Some(400)
            ),
            Failure::Overflow(_)
        ));
        assert!(matches!(
            service_failure(
                "ValidationException",
                "prompt is too long: 210000 tokens > 200000 maximum",
                Some(400)
            ),
            Failure::Overflow(_)
        ));
        assert!(matches!(
            service_failure(
                "ValidationException",
                "This model doesn't support tool use.",
                Some(400)
            ),
            Failure::ToolsRejected(_)
        ));
        match service_failure("AccessDeniedException", "not authorized", Some(403)) {
            Failure::Fatal(m) => assert!(m.contains("bedrock:InvokeModel"), "{m}"),
            _ => panic!("access denied must be fatal"),
        }
    }

    #[test]
    fn truncated_tool_input_keeps_complete_hypotheses() {
        let raw = r#"{"summary": "Writes throttled after the capacity cut [E2]", "impact": "5xx", "hypotheses": [{"title": "Capacity cut", "confidence": "high", "evidence": ["E2"], "explanation": "UpdateTable"}, {"title": "Second", "conf"#;
        let a = repair_truncated(raw).unwrap();
        assert_eq!(a.hypotheses.len(), 1);
        assert_eq!(a.hypotheses[0].title, "Capacity cut");
        let cut_in_summary = r#"{"summary": "The table was thrott"#;
        assert_eq!(
            repair_truncated(cut_in_summary).unwrap().summary,
            "The table was thrott"
        );
        assert!(repair_truncated(r#"{"summary": "whole"}"#).is_none());
    }
}
