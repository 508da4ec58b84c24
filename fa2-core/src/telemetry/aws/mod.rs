//! AWS telemetry sources (behind the `aws` feature): CloudWatch Logs, Athena (ALB access logs
//! and CloudTrail), X-Ray, CloudWatch metrics and alarms, all through the official `aws-sdk-*`
//! clients with the standard `aws-config` chain (profiles, SSO, environment, IMDS, region).
//! `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` are honoured by `aws-config`, so the
//! sources run against LocalStack or moto unchanged.

pub mod athena;
pub mod logs;
pub mod metrics;
pub mod partitions;
pub mod xray;

use crate::error::SourceError;
use std::time::{Duration, Instant};

/// Loads the shared SDK configuration; `region` overrides the chain's region.
pub async fn sdk_config(region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = region.filter(|r| !r.is_empty()) {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    loader.load().await
}

/// The part of a source's read budget (`max_events`, `max_summaries`) the incident window may
/// take; it is read first. The baseline keeps at least a fifth (one record of a budget of two
/// or more), so that there is always something to compare with; it gets whatever the incident
/// did not use.
pub fn incident_share(budget: u64) -> u64 {
    let reserve = (budget / 5).max(u64::from(budget >= 2));
    budget - reserve
}

/// Adaptive polling for asynchronous queries (Logs Insights, Athena): starts near 200 ms and
/// grows to about 2 s, never sleeping past the deadline.
#[derive(Debug, Clone)]
pub struct Poller {
    interval: Duration,
    deadline: Instant,
}

impl Poller {
    pub const FIRST: Duration = Duration::from_millis(200);
    pub const MAX: Duration = Duration::from_secs(2);

    pub fn new(deadline: Instant) -> Self {
        Poller {
            interval: Self::FIRST,
            deadline,
        }
    }

    /// Sleeps before the next poll; `Err(Timeout)` once the deadline has passed (the caller
    /// then stops the query).
    pub async fn wait(&mut self) -> Result<(), SourceError> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(SourceError::Timeout(self.interval));
        }
        let nap = self.interval.min(self.deadline - now);
        tokio::time::sleep(nap).await;
        self.interval = (self.interval.mul_f64(1.5)).min(Self::MAX);
        Ok(())
    }

    /// The current interval (for tests and logs).
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

/// Hands a page of records to the sink. `accept` may block for backpressure, so on a
/// multi-threaded runtime the worker thread is marked as blocking while it does.
pub(crate) fn emit_page(
    sink: &mut dyn crate::telemetry::RecordSink,
    origin: crate::telemetry::OriginId,
    records: Vec<crate::record::Record>,
) -> Result<(), SourceError> {
    let send = move || {
        for r in records {
            sink.accept(origin, r)?;
        }
        Ok(())
    };
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi {
        tokio::task::block_in_place(send)
    } else {
        send()
    }
}

/// Formats an SDK error with its service error code and message, not just "service error".
pub fn sdk_error<E, R>(
    what: &str,
    err: &aws_sdk_cloudwatchlogs::error::SdkError<E, R>,
) -> SourceError
where
    E: std::error::Error + aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
    let detail = match (err.code(), err.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => aws_smithy_types::error::display::DisplayErrorContext(err).to_string(),
    };
    SourceError::Unavailable(format!("{what} failed: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_incident_takes_four_fifths_and_leaves_the_baseline_something() {
        assert_eq!(incident_share(5_000), 4_000);
        assert_eq!(incident_share(10), 8);
        assert_eq!(incident_share(4), 3);
        assert_eq!(incident_share(1), 1);
        assert_eq!(incident_share(0), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn poller_grows_to_two_seconds_and_stops_at_the_deadline() {
        let mut p = Poller::new(Instant::now() + Duration::from_secs(10));
        let mut seen = Vec::new();
        while p.wait().await.is_ok() {
            seen.push(p.interval());
        }
        assert_eq!(seen.first(), Some(&Duration::from_millis(300)));
        assert_eq!(seen.iter().max(), Some(&Poller::MAX));
        assert!(seen.len() >= 5);
    }
}
