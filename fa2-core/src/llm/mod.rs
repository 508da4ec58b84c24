//! The `LlmBackend` trait, the request/response types, and the structured analysis that every
//! backend (an LLM or the offline analyzer) returns.

pub mod answer;
#[cfg(feature = "aws")]
pub mod bedrock;
pub mod offline;
pub mod openai;
pub mod retry;
mod unavailable;

use crate::error::LlmError;
use crate::evidence::Evidence;
use crate::request::{Language, Window};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use offline::OfflineAnalyzer;
pub use unavailable::UnavailableBackend;

/// How sure a hypothesis is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// One candidate root cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    pub title: String,
    pub confidence: Confidence,
    /// Evidence ids it rests on (`E1`, ...).
    pub evidence: Vec<String>,
    pub explanation: String,
}

/// One timeline entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    #[serde(with = "crate::time::serde_opt_rfc3339")]
    pub time: Option<DateTime<Utc>>,
    pub event: String,
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// What a backend concludes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Analysis {
    pub summary: String,
    pub impact: String,
    pub hypotheses: Vec<Hypothesis>,
    pub timeline: Vec<TimelineEntry>,
    pub actions: Vec<String>,
    pub prevention: Vec<String>,
}

/// What is sent to a backend.
#[derive(Debug, Clone)]
pub struct LlmRequest {
    /// Rendered system prompt.
    pub system: String,
    /// Rendered user prompt (description and evidence, fenced).
    pub user: String,
    pub language: Language,
    pub max_output_tokens: u32,
    /// The evidence the prompt shows (backends that reason without a model use it).
    pub evidence: Arc<Vec<Evidence>>,
    pub window: Window,
}

/// What a backend returns.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmResponse {
    pub analysis: Analysis,
    pub model: String,
    /// The answer was cut by the output token limit.
    pub truncated: bool,
}

/// A model (or a deterministic analyzer) that turns a prompt into an analysis.
#[async_trait]
pub trait LlmBackend: Send + Sync {
    /// `offline`, `bedrock`, `openai`.
    fn name(&self) -> &str;
    /// Model id, if any.
    fn model(&self) -> &str;
    /// Context window in tokens.
    fn context_window(&self) -> usize;
    async fn complete(&self, req: LlmRequest) -> Result<LlmResponse, LlmError>;
    /// Like `complete`, reporting text deltas as they arrive.
    async fn stream(
        &self,
        req: LlmRequest,
        on_delta: &mut (dyn for<'d> FnMut(&'d str) + Send),
    ) -> Result<LlmResponse, LlmError>;
}
