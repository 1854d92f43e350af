//! The circuit breaker in front of each CA: when most recent calls to a CA fail, further calls
//! are refused at once (`provider_unavailable`) instead of each waiting for a CA that is down,
//! so one failing CA neither holds portals' requests nor piles load onto itself.
//!
//! **Closed**: calls pass and their outcomes fill a sliding window of time buckets. Once the
//! window holds at least `minimum_calls` outcomes and the failure rate reaches
//! `failure_rate_percent`, the breaker **opens** for `open_secs`: every call is refused with
//! the time left. It then turns **half-open**: up to `half_open_probes` calls go through as
//! probes; as many successes close it (with an empty window), one failure opens it again.
//!
//! The state is per instance, not shared through the store: each instance sees the same CA
//! fail within its own window, a shared state would add a store round trip to every CA call
//! and tie the isolation of a failing CA to the store's health, and an instance that opens
//! a little later than another costs only `minimum_calls` slow calls.
//!
//! Only the CA's failures count (timeouts, unreachable, 5xx, unparseable answers): a citizen
//! without certificates or a refused request is the CA working.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::BreakerSettings;

/// Buckets the sliding window is cut into; outcomes leave the window a bucket at a time.
const WINDOW_BUCKETS: u32 = 10;

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls pass.
    Closed,
    /// Calls are refused until the open period ends.
    Open,
    /// A few probe calls pass to learn whether the CA is back.
    HalfOpen,
}

impl CircuitState {
    /// The state as a gauge value: 0 closed, 1 half-open, 2 open.
    pub fn gauge_value(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

/// A call refused because the breaker is open (or half-open with every probe taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitOpen {
    /// How long until the breaker lets a probe through.
    pub retry_after: Duration,
}

/// Outcomes in one slice of the window.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which slice of time since the breaker's creation the counts belong to.
    slice: u64,
    calls: u32,
    failures: u32,
}

#[derive(Debug)]
enum State {
    Closed { buckets: Vec<Bucket> },
    Open { until: Instant },
    HalfOpen { probes_running: u32, successes: u32 },
}

/// One provider's breaker.
#[derive(Debug)]
pub struct CircuitBreaker {
    settings: BreakerSettings,
    created: Instant,
    state: Mutex<State>,
}

/// Leave to make one call, from [`CircuitBreaker::admit`]; its outcome goes back through
/// [`Admission::record`]. A probe whose call was abandoned (dropped unrecorded) gives its
/// slot back.
#[must_use = "record the call's outcome"]
pub struct Admission<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    recorded: bool,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            created: Instant::now(),
            state: Mutex::new(State::Closed {
                buckets: vec![Bucket::default(); WINDOW_BUCKETS as usize],
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state now (an open breaker whose period ended reads as half-open).
    pub fn state(&self) -> CircuitState {
        match &*self.lock() {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { until } if Instant::now() < *until => CircuitState::Open,
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Leave to call the CA, or how long to wait while the breaker is open.
    pub fn admit(&self) -> Result<Admission<'_>, CircuitOpen> {
        let now = Instant::now();
        let mut state = self.lock();
        if let State::Open { until } = *state {
            if now < until {
                return Err(CircuitOpen {
                    retry_after: until - now,
                });
            }
            *state = State::HalfOpen {
                probes_running: 0,
                successes: 0,
            };
        }
        // An open state whose period ended was turned half-open above.
        let probe = match &mut *state {
            State::HalfOpen {
                probes_running,
                successes,
            } => {
                if *probes_running + *successes >= self.settings.half_open_probes {
                    // Every probe is out: the next chance comes when one returns.
                    return Err(CircuitOpen {
                        retry_after: Duration::from_secs(1),
                    });
                }
                *probes_running += 1;
                true
            }
            State::Closed { .. } | State::Open { .. } => false,
        };
        Ok(Admission {
            breaker: self,
            probe,
            recorded: false,
        })
    }

    /// Whether a failed call may be tried again now: only while closed, so that retries
    /// never add to the load on a CA the breaker is watching.
    pub fn allows_retry(&self) -> bool {
        matches!(&*self.lock(), State::Closed { .. })
    }

    fn record(&self, probe: bool, failed: bool) {
        let now = Instant::now();
        let mut state = self.lock();
        match &mut *state {
            State::Closed { buckets } => {
                let slice = self.slice_of(now);
                let index = (slice % u64::from(WINDOW_BUCKETS)) as usize;
                let bucket = &mut buckets[index];
                if bucket.slice != slice {
                    *bucket = Bucket {
                        slice,
                        ..Bucket::default()
                    };
                }
                bucket.calls += 1;
                bucket.failures += u32::from(failed);
                if failed && self.window_trips(buckets, slice) {
                    *state = self.opened(now);
                }
            }
            State::HalfOpen {
                probes_running,
                successes,
            } if probe => {
                *probes_running = probes_running.saturating_sub(1);
                if failed {
                    *state = self.opened(now);
                } else {
                    *successes += 1;
                    if *successes >= self.settings.half_open_probes {
                        *state = State::Closed {
                            buckets: vec![Bucket::default(); WINDOW_BUCKETS as usize],
                        };
                    }
                }
            }
            // A call admitted while closed that ends after the breaker changed state says
            // nothing about the CA now.
            State::HalfOpen { .. } | State::Open { .. } => {}
        }
    }

    fn release_probe(&self) {
        if let State::HalfOpen { probes_running, .. } = &mut *self.lock() {
            *probes_running = probes_running.saturating_sub(1);
        }
    }

    fn opened(&self, now: Instant) -> State {
        State::Open {
            until: now + Duration::from_secs(self.settings.open_secs),
        }
    }

    fn bucket_length(&self) -> Duration {
        (Duration::from_secs(self.settings.window_secs) / WINDOW_BUCKETS)
            .max(Duration::from_millis(1))
    }

    fn slice_of(&self, now: Instant) -> u64 {
        let elapsed = now.duration_since(self.created).as_millis();
        u64::try_from(elapsed / self.bucket_length().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether the outcomes still in the window (slices newer than `WINDOW_BUCKETS` ago)
    /// are enough, and failed often enough, to open.
    fn window_trips(&self, buckets: &[Bucket], current: u64) -> bool {
        let oldest = current.saturating_sub(u64::from(WINDOW_BUCKETS) - 1);
        let (calls, failures) = buckets
            .iter()
            .filter(|bucket| bucket.slice >= oldest && bucket.slice <= current)
            .fold((0_u64, 0_u64), |(calls, failures), bucket| {
                (
                    calls + u64::from(bucket.calls),
                    failures + u64::from(bucket.failures),
                )
            });
        calls >= u64::from(self.settings.minimum_calls)
            && failures * 100 >= calls * u64::from(self.settings.failure_rate_percent)
    }
}

impl Admission<'_> {
    /// Records how the call went: `failed` when the CA failed (not when it refused the
    /// request for the caller's fault).
    pub fn record(mut self, failed: bool) {
        self.recorded = true;
        self.breaker.record(self.probe, failed);
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if self.probe && !self.recorded {
            self.breaker.release_probe();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(open_secs: u64) -> BreakerSettings {
        BreakerSettings {
            window_secs: 30,
            minimum_calls: 4,
            failure_rate_percent: 50,
            open_secs,
            half_open_probes: 2,
        }
    }

    fn call(breaker: &CircuitBreaker, failed: bool) -> Result<(), CircuitOpen> {
        breaker.admit()?.record(failed);
        Ok(())
    }

    #[test]
    fn opens_on_the_failure_rate_only_once_the_window_has_enough_calls() {
        let breaker = CircuitBreaker::new(settings(60));
        for _ in 0..3 {
            call(&breaker, true).unwrap();
        }
        assert_eq!(breaker.state(), CircuitState::Closed, "3 calls < minimum 4");
        call(&breaker, true).unwrap();
        assert_eq!(breaker.state(), CircuitState::Open);
        let refused = call(&breaker, false).unwrap_err();
        assert!(refused.retry_after > Duration::from_secs(58), "{refused:?}");
        assert!(!breaker.allows_retry());
    }

    #[test]
    fn stays_closed_below_the_failure_rate() {
        let breaker = CircuitBreaker::new(settings(60));
        for index in 0..40 {
            // The third of every three calls fails: at most 33% < 50%.
            call(&breaker, index % 3 == 2).unwrap();
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert!(breaker.allows_retry());
    }

    #[test]
    fn half_open_probes_close_it_on_success_and_reopen_it_on_failure() {
        let breaker = CircuitBreaker::new(settings(0));
        for _ in 0..4 {
            call(&breaker, true).unwrap();
        }
        // Open for zero seconds: the next admission is a probe.
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        let first = breaker.admit().unwrap();
        let second = breaker.admit().unwrap();
        assert!(breaker.admit().is_err(), "only two probes at a time");
        first.record(false);
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        second.record(false);
        assert_eq!(breaker.state(), CircuitState::Closed);

        for _ in 0..4 {
            call(&breaker, true).unwrap();
        }
        let probe = breaker.admit().unwrap();
        probe.record(true);
        // Reopened (for zero seconds, so it reads half-open again with no probe running).
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        assert!(breaker.admit().is_ok());
    }

    #[test]
    fn an_abandoned_probe_gives_its_slot_back() {
        let breaker = CircuitBreaker::new(settings(0));
        for _ in 0..4 {
            call(&breaker, true).unwrap();
        }
        let first = breaker.admit().unwrap();
        let second = breaker.admit().unwrap();
        assert!(breaker.admit().is_err());
        drop(first);
        let third = breaker.admit().unwrap();
        second.record(false);
        third.record(false);
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let breaker = CircuitBreaker::new(BreakerSettings {
            window_secs: 0,
            ..settings(60)
        });
        // A 0 s window has 1 ms buckets: failures spread over time never add up.
        for _ in 0..6 {
            call(&breaker, true).unwrap();
            std::thread::sleep(Duration::from_millis(15));
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
    }
}
