//! The Lambda [`AnalysisDispatcher`]: the Slack endpoint hands each accepted analysis to an
//! asynchronous invocation of this same function (`InvocationType=Event`), which returns as
//! soon as Lambda has queued the event, well within Slack's 3 seconds.

use crate::event::JOB_KEY;
use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use fa2_slack::{AnalysisDispatcher, AnalysisJob, DispatchError};
use serde_json::json;

/// Invokes `function` asynchronously with `{"fa2_job": job}`.
#[derive(Debug, Clone)]
pub struct LambdaDispatcher {
    client: aws_sdk_lambda::Client,
    function: String,
}

impl LambdaDispatcher {
    pub fn new(sdk: &aws_config::SdkConfig, function: String) -> Self {
        LambdaDispatcher {
            client: aws_sdk_lambda::Client::new(sdk),
            function,
        }
    }
}

#[async_trait]
impl AnalysisDispatcher for LambdaDispatcher {
    async fn dispatch(&self, job: AnalysisJob) -> Result<(), DispatchError> {
        let payload = serde_json::to_vec(&json!({ JOB_KEY: job }))
            .map_err(|e| DispatchError::Failed(e.to_string()))?;
        let out = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| {
                DispatchError::Failed(format!(
                    "cannot invoke {} asynchronously: {}",
                    self.function,
                    aws_sdk_lambda::error::DisplayErrorContext(&e)
                ))
            })?;
        tracing::info!(job = %job.id, status = out.status_code(), "analysis job queued");
        Ok(())
    }
}
