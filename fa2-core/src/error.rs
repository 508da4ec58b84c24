//! Error types of the library: one enum per failure domain, so callers can tell a broken
//! input file from a failing LLM and report each where it belongs.

use std::path::PathBuf;

/// A telemetry source could not deliver (all or part of) its records.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error("{0}")]
    Unavailable(String),
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("cancelled")]
    Cancelled,
    #[error("the record sink was closed before the source finished")]
    SinkClosed,
}

/// An LLM backend failed to produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("LLM backend `{backend}` is not available: {reason}")]
    Unavailable { backend: String, reason: String },
    #[error("LLM request failed: {0}")]
    Request(String),
    #[error("LLM answer could not be parsed: {0}")]
    Parse(String),
    #[error("LLM call timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("the prompt is too long for the model: {0}")]
    ContextOverflow(String),
}

impl LlmError {
    /// Whether the model rejected the prompt as too long (the pipeline then shrinks the
    /// budget and retries once). Backends report it as `ContextOverflow`, or as a request
    /// error whose message starts with `context overflow:`.
    pub fn is_context_overflow(&self) -> bool {
        match self {
            LlmError::ContextOverflow(_) => true,
            LlmError::Request(m) => m.starts_with("context overflow:"),
            _ => false,
        }
    }
}

/// The configuration file or its environment overrides are invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config {origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// A request could not be built or the analysis could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error(
        "no telemetry found under {inputs}: expected CloudWatch Logs, ALB, CloudTrail, X-Ray or metrics exports, see fa2 analyze --help"
    )]
    NoTelemetry { inputs: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("prompt template error: {0}")]
    Template(String),
    #[error("internal error: {0}")]
    Internal(String),
}
