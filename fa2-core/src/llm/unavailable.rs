//! A backend that is configured but cannot run in this build: every call fails with the
//! reason, so the pipeline answers with the offline analyzer and the report's `llm.error`
//! says why, instead of pretending the configured model answered.

use super::{LlmBackend, LlmRequest, LlmResponse};
use crate::error::LlmError;
use async_trait::async_trait;

#[derive(Debug, Clone)]
pub struct UnavailableBackend {
    name: String,
    model: String,
    reason: String,
}

impl UnavailableBackend {
    pub fn new(name: &str, model: &str, reason: &str) -> Self {
        UnavailableBackend {
            name: name.to_string(),
            model: model.to_string(),
            reason: reason.to_string(),
        }
    }

    fn error(&self) -> LlmError {
        LlmError::Unavailable {
            backend: self.name.clone(),
            reason: self.reason.clone(),
        }
    }
}

#[async_trait]
impl LlmBackend for UnavailableBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn context_window(&self) -> usize {
        200_000
    }

    async fn complete(&self, _req: LlmRequest) -> Result<LlmResponse, LlmError> {
        Err(self.error())
    }

    async fn stream(
        &self,
        _req: LlmRequest,
        _on_delta: &mut (dyn for<'d> FnMut(&'d str) + Send),
    ) -> Result<LlmResponse, LlmError> {
        Err(self.error())
    }
}
