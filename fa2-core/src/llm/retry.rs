//! Retry pacing shared by the model backends: exponential backoff with jitter.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// First backoff step.
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Longest backoff step.
pub const BACKOFF_CAP: Duration = Duration::from_secs(8);

/// Exponential backoff with "equal jitter": half the step fixed, half random, so concurrent
/// clients spread out without ever retrying immediately.
pub fn backoff(retry: u32) -> Duration {
    let step = BACKOFF_BASE
        .saturating_mul(1u32 << retry.min(16))
        .min(BACKOFF_CAP);
    let half = step / 2;
    // The clock's nanoseconds are random enough to de-synchronise clients.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = half.mul_f64(f64::from(nanos % 1_000_000) / 1_000_000.0);
    half + jitter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for retry in 0..20 {
            let d = backoff(retry);
            let step = BACKOFF_BASE
                .saturating_mul(1u32 << retry.min(16))
                .min(BACKOFF_CAP);
            assert!(d >= step / 2 && d <= step, "retry {retry}: {d:?}");
        }
    }
}
