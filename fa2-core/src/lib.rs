//! fa2-core: the failure-analysis engine behind the `fa2` CLI, the Slack app and the Lambda.
//!
//! Data flow: an [`request::AnalysisRequest`] goes to [`analyze::Analyzer`], which collects
//! records from every [`telemetry::TelemetrySource`] concurrently, distills them into ranked
//! [`evidence::Evidence`], packs the evidence into a token budget, renders the prompt,
//! asks an [`llm::LlmBackend`] and returns a [`report::Report`].

pub mod analyze;
#[cfg(feature = "aws")]
pub mod assemble;
pub mod bounds;
pub mod config;
pub mod distill;
pub mod doctor;
pub mod error;
pub mod evidence;
pub mod llm;
pub mod prompt;
pub mod record;
pub mod redact;
pub mod report;
pub mod reproduce;
pub mod request;
pub mod telemetry;
pub mod time;
pub mod tokens;
pub mod window;
