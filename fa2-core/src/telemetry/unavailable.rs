//! A source that is configured but cannot run in this build: `collect` fails with the reason,
//! so the report lists it as an error instead of silently reporting "no data".

use super::{CollectSummary, RecordSink, Reproduction, SourceQuery, TelemetrySource};
use crate::error::SourceError;
use async_trait::async_trait;

#[derive(Debug, Clone)]
pub struct UnavailableSource {
    name: String,
    reason: String,
}

impl UnavailableSource {
    pub fn new(name: &str, reason: &str) -> Self {
        UnavailableSource {
            name: name.to_string(),
            reason: reason.to_string(),
        }
    }
}

#[async_trait]
impl TelemetrySource for UnavailableSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn collect(
        &self,
        _query: &SourceQuery,
        _sink: &mut dyn RecordSink,
    ) -> Result<CollectSummary, SourceError> {
        Err(SourceError::Unavailable(self.reason.clone()))
    }

    fn reproduce(&self, _query: &SourceQuery) -> Vec<Reproduction> {
        Vec::new()
    }
}
