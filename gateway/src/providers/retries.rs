//! Retries of CA calls that change nothing at the CA (certificate lookups, status polls),
//! bounded so that they never multiply the load on a CA that is failing.
//!
//! Every first attempt deposits into a [`TpsBudget`] (tower's token bucket over the last ten
//! seconds) and every retry withdraws: retries stay under `budget_percent` of recent calls,
//! plus `min_per_second` so that a quiet CA can still retry. A retry also needs the
//! provider's circuit breaker to be closed, and waits a jittered backoff first, so that
//! callers that failed together do not retry together.

use std::time::Duration;

use tower::retry::budget::{Budget, TpsBudget};

use crate::config::RetrySettings;

/// How long deposits count towards the budget.
const BUDGET_WINDOW: Duration = Duration::from_secs(10);

/// One provider's retry policy and budget.
#[derive(Debug)]
pub struct RetryPolicy {
    budget: TpsBudget,
    max_retries: u32,
    backoff: Duration,
}

impl RetryPolicy {
    /// The policy `settings` describe (validated at start-up: the percentage is at most 100).
    pub fn new(settings: &RetrySettings) -> Self {
        Self {
            budget: TpsBudget::new(
                BUDGET_WINDOW,
                settings.min_per_second,
                f32::from(u16::try_from(settings.budget_percent).unwrap_or(100)) / 100.0,
            ),
            max_retries: settings.max_retries,
            backoff: Duration::from_millis(settings.backoff_ms),
        }
    }

    /// Counts a first attempt, which earns the budget a fraction of a retry.
    pub fn count_attempt(&self) {
        self.budget.deposit();
    }

    /// Whether retry number `retry` (from 1) of a failed call may go now; a granted retry is
    /// taken from the budget.
    pub fn grant(&self, retry: u32) -> bool {
        retry <= self.max_retries && self.budget.withdraw()
    }

    /// The wait before retry number `retry`: decorrelated jitter from the configured base.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.backoff.saturating_mul(3_u32.saturating_pow(retry));
        jittered(self.backoff, ceiling)
    }
}

/// A random wait between `floor` and `ceiling` ("decorrelated jitter": the next ceiling is a
/// few times the last wait), so that callers that failed at the same moment spread out.
pub fn jittered(floor: Duration, ceiling: Duration) -> Duration {
    if ceiling <= floor {
        return floor;
    }
    let spread = u64::try_from((ceiling - floor).as_micros()).unwrap_or(u64::MAX);
    floor + Duration::from_micros(rand::random_range(0..=spread))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_retries: u32, budget_percent: u32, min_per_second: u32) -> RetryPolicy {
        RetryPolicy::new(&RetrySettings {
            max_retries,
            budget_percent,
            min_per_second,
            backoff_ms: 10,
        })
    }

    #[test]
    fn retries_stay_within_the_budget_share_of_attempts() {
        let policy = policy(1, 10, 0);
        for _ in 0..100 {
            policy.count_attempt();
        }
        let granted = (0..100).filter(|_| policy.grant(1)).count();
        // 10% of 100 attempts: about ten, never a retry per failed call.
        assert!((8..=12).contains(&granted), "{granted}");
    }

    #[test]
    fn no_retry_beyond_the_configured_number_or_when_off() {
        let policy = policy(1, 100, 100);
        policy.count_attempt();
        assert!(policy.grant(1));
        assert!(!policy.grant(2));
        assert!(!self::policy(0, 100, 100).grant(1));
    }

    #[test]
    fn backoff_is_jittered_within_its_bounds() {
        let policy = policy(3, 10, 1);
        let waits: Vec<Duration> = (0..50).map(|_| policy.backoff(1)).collect();
        assert!(waits.iter().all(|wait| {
            *wait >= Duration::from_millis(10) && *wait <= Duration::from_millis(30)
        }));
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 10, "not jittered: {waits:?}");
        assert_eq!(
            jittered(Duration::from_secs(2), Duration::from_secs(1)),
            Duration::from_secs(2)
        );
    }
}
