//! What one measured run produced: how many requests (or transactions) succeeded and failed,
//! over how long, and their latencies in an HDR histogram (`hdrhistogram`), so that p99.9 of
//! a few thousand samples is exact to three significant digits and runs merge without
//! keeping every sample.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The longest latency recorded exactly, in microseconds; longer ones are clamped to it.
const HIGHEST_MICROS: u64 = 60_000_000;

/// The outcome of one run: counts, elapsed time and the latency distribution.
#[derive(Debug, Clone)]
pub(crate) struct Measurement {
    /// Requests or transactions that succeeded (only these are in the histogram).
    pub(crate) ok: u64,
    /// Those that failed.
    pub(crate) errors: u64,
    /// The first failure, to show the reader what went wrong.
    pub(crate) first_error: Option<String>,
    /// The wall-clock time of the run, from its first intended send to its last answer.
    pub(crate) elapsed: Duration,
    latencies: Histogram<u64>,
}

impl Default for Measurement {
    fn default() -> Self {
        Self {
            ok: 0,
            errors: 0,
            first_error: None,
            elapsed: Duration::ZERO,
            latencies: Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)
                .expect("1 µs to 60 s at three significant digits are valid bounds"),
        }
    }
}

impl Measurement {
    /// Counts a success that took `latency`.
    pub(crate) fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latencies
            .saturating_record(micros.clamp(1, HIGHEST_MICROS));
        self.ok += 1;
    }

    /// Counts a failure; the first one is kept.
    pub(crate) fn fail(&mut self, error: impl Into<String>) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error.into());
        }
    }

    /// Pools `other` (another worker of the same run) into this one; the elapsed time is the
    /// longer of the two.
    pub(crate) fn absorb(&mut self, other: &Self) {
        self.ok += other.ok;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        self.elapsed = self.elapsed.max(other.elapsed);
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latencies.add(&other.latencies);
    }

    /// Successes per second.
    pub(crate) fn throughput(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.ok as f64 / seconds
        } else {
            0.0
        }
    }

    /// The latency at `percent` (50, 99, 99.9), in milliseconds; NaN without samples.
    pub(crate) fn percentile_ms(&self, percent: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        self.latencies.value_at_quantile(percent / 100.0) as f64 / 1e3
    }

    /// The mean latency, in milliseconds; NaN without samples.
    pub(crate) fn mean_ms(&self) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        self.latencies.mean() / 1e3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_pooling() {
        let mut first = Measurement::default();
        for millis in 1..=100 {
            first.record(Duration::from_millis(millis));
        }
        first.elapsed = Duration::from_secs(2);
        let mut second = Measurement::default();
        second.fail("HTTP 500");
        second.fail("HTTP 502");
        second.elapsed = Duration::from_secs(1);
        first.absorb(&second);
        assert_eq!((first.ok, first.errors), (100, 2));
        assert_eq!(first.first_error.as_deref(), Some("HTTP 500"));
        assert!((first.throughput() - 50.0).abs() < 1e-9);
        assert!((first.percentile_ms(50.0) - 50.0).abs() < 0.1);
        assert!((first.percentile_ms(99.0) - 99.0).abs() < 0.1);
        assert!(Measurement::default().percentile_ms(50.0).is_nan());
    }
}
