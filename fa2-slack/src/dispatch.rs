//! Where accepted analyses run: the [`AnalysisDispatcher`] trait, with [`TaskDispatcher`]
//! (a tokio task per analysis, at most `max_concurrent` at once) for the server. The Lambda
//! adapter implements the trait with an asynchronous invocation of itself.
//!
//! Invariant: `dispatch` returns quickly (it never runs the analysis inline), so it can be
//! called before Slack's 3-second acknowledgement deadline.

use crate::job::{AnalysisJob, JobRunner};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Why a job was not started.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DispatchError {
    /// The global limit on concurrent analyses is reached.
    #[error("too many analyses are running")]
    Busy,
    #[error("{0}")]
    Failed(String),
}

/// Starts analyses somewhere else than the request that asked for them.
#[async_trait]
pub trait AnalysisDispatcher: Send + Sync {
    async fn dispatch(&self, job: AnalysisJob) -> Result<(), DispatchError>;
}

/// Runs each job in a tokio task of this process.
#[derive(Debug, Clone)]
pub struct TaskDispatcher {
    runner: Arc<JobRunner>,
    permits: Arc<Semaphore>,
    max: u32,
}

impl TaskDispatcher {
    pub fn new(runner: Arc<JobRunner>, max_concurrent: usize) -> Self {
        let max = max_concurrent.clamp(1, 1024) as u32;
        TaskDispatcher {
            runner,
            permits: Arc::new(Semaphore::new(max as usize)),
            max,
        }
    }

    /// Waits until every running analysis has finished (graceful shutdown), at most `limit`;
    /// true if they all finished.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        matches!(
            tokio::time::timeout(limit, self.permits.acquire_many(self.max)).await,
            Ok(Ok(_))
        )
    }

    /// Analyses running now.
    pub fn running(&self) -> usize {
        self.max as usize - self.permits.available_permits()
    }
}

#[async_trait]
impl AnalysisDispatcher for TaskDispatcher {
    async fn dispatch(&self, job: AnalysisJob) -> Result<(), DispatchError> {
        let permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| DispatchError::Busy)?;
        let runner = self.runner.clone();
        tokio::spawn(async move {
            let outcome = runner.run(&job).await;
            tracing::debug!(job = %job.id, ?outcome, "job ended");
            drop(permit);
        });
        Ok(())
    }
}
