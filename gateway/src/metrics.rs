//! Every Prometheus metric the gateway exports, on one registry owned by the application
//! (never the global one, so parallel in-process tests do not share counters).

use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The gateway's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    ca_duration: HistogramVec,
    verifications: IntCounterVec,
    revocation_lookups: IntCounterVec,
    transactions: IntCounterVec,
    pending: IntGaugeVec,
    rate_limited: IntCounterVec,
    audit_records: IntCounterVec,
    audit_failures: IntCounterVec,
    audit_append_duration: Histogram,
    audit_group_records: Histogram,
    circuit_state: IntGaugeVec,
    short_circuited: IntCounterVec,
    tsa_requests: IntCounterVec,
    tsa_duration: Histogram,
}

/// The outcomes of a time-stamp request: a checked token, no usable answer from the TSA, or
/// an answer the checks refused.
const TSA_OUTCOMES: [&str; 3] = ["ok", "unavailable", "invalid"];

/// Latency buckets for store round trips: from a tenth of a millisecond (loopback) to the
/// store's timeout.
const STORE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Buckets for the records in one audit append (at most `audit::MAX_GROUP_RECORDS`).
const GROUP_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// Latency buckets for CA calls, which take from milliseconds to tens of seconds.
const CA_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

impl Metrics {
    /// Registers every metric on a fresh registry.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("kyso_http_requests_total", "HTTP requests served"),
            &["route", "method", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "kyso_http_request_duration_seconds",
                "Time to serve an HTTP request",
            ),
            &["route", "method"],
        )?;
        let ca_duration = HistogramVec::new(
            HistogramOpts::new(
                "kyso_ca_request_duration_seconds",
                "Time of calls to a CA, by operation and outcome",
            )
            .buckets(CA_BUCKETS.to_vec()),
            &["provider", "operation", "outcome"],
        )?;
        let verifications = IntCounterVec::new(
            Opts::new(
                "kyso_signature_verifications_total",
                "Signatures returned by CAs and checked by the gateway",
            ),
            &["provider", "result"],
        )?;
        let revocation_lookups = IntCounterVec::new(
            Opts::new(
                "kyso_revocation_lookups_total",
                "Revocation status lookups, by where the answer came from (memory, store, ocsp, crl) and outcome (ok, failed)",
            ),
            &["source", "outcome"],
        )?;
        let transactions = IntCounterVec::new(
            Opts::new(
                "kyso_transactions_total",
                "Signing transactions that reached a final status",
            ),
            &["provider", "status"],
        )?;
        let pending = IntGaugeVec::new(
            Opts::new(
                "kyso_pending_transactions",
                "Pending transactions this instance is following at their CA",
            ),
            &["provider"],
        )?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "kyso_rate_limited_total",
                "Requests refused by an admission limit (client, citizen, pending)",
            ),
            &["limit"],
        )?;
        let audit_records = IntCounterVec::new(
            Opts::new(
                "kyso_audit_records_total",
                "Audit records this instance appended to the trail, by event",
            ),
            &["event"],
        )?;
        let audit_failures = IntCounterVec::new(
            Opts::new(
                "kyso_audit_write_failures_total",
                "Audit records that could not be written: to the store (the request failed or the outcome is retried) or to the sink",
            ),
            &["target"],
        )?;
        for target in ["store", "sink"] {
            audit_failures.with_label_values(&[target]);
        }
        let audit_append_duration = Histogram::with_opts(
            HistogramOpts::new(
                "kyso_audit_append_duration_seconds",
                "Time of each append to the store's audit trail (one round trip for a group of records), retries included",
            )
            .buckets(STORE_BUCKETS.to_vec()),
        )?;
        let audit_group_records = Histogram::with_opts(
            HistogramOpts::new(
                "kyso_audit_group_records",
                "Records written by each append to the store's audit trail (group commit)",
            )
            .buckets(GROUP_BUCKETS.to_vec()),
        )?;
        let circuit_state = IntGaugeVec::new(
            Opts::new(
                "kyso_provider_circuit_state",
                "Each provider's circuit breaker on this instance: 0 closed, 1 half-open, 2 open",
            ),
            &["provider"],
        )?;
        let short_circuited = IntCounterVec::new(
            Opts::new(
                "kyso_provider_short_circuited_total",
                "CA calls refused without reaching the CA: breaker open, or every call slot taken (busy)",
            ),
            &["provider", "reason"],
        )?;
        let tsa_requests = IntCounterVec::new(
            Opts::new(
                "kyso_tsa_requests_total",
                "Time-stamp requests to the time-stamping authority, by outcome (ok, unavailable, invalid)",
            ),
            &["outcome"],
        )?;
        for outcome in TSA_OUTCOMES {
            tsa_requests.with_label_values(&[outcome]);
        }
        let tsa_duration = Histogram::with_opts(
            HistogramOpts::new(
                "kyso_tsa_request_duration_seconds",
                "Time of time-stamp requests to the time-stamping authority",
            )
            .buckets(CA_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(tsa_requests.clone()))?;
        registry.register(Box::new(tsa_duration.clone()))?;
        registry.register(Box::new(circuit_state.clone()))?;
        registry.register(Box::new(short_circuited.clone()))?;
        registry.register(Box::new(audit_records.clone()))?;
        registry.register(Box::new(audit_failures.clone()))?;
        registry.register(Box::new(audit_append_duration.clone()))?;
        registry.register(Box::new(audit_group_records.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(ca_duration.clone()))?;
        registry.register(Box::new(verifications.clone()))?;
        registry.register(Box::new(revocation_lookups.clone()))?;
        registry.register(Box::new(transactions.clone()))?;
        registry.register(Box::new(pending.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(crate::cpu_bound::shed_counter()?))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            ca_duration,
            verifications,
            revocation_lookups,
            transactions,
            pending,
            rate_limited,
            audit_records,
            audit_failures,
            audit_append_duration,
            audit_group_records,
            circuit_state,
            short_circuited,
            tsa_requests,
            tsa_duration,
        })
    }

    /// Creates an admission limit's refusal series at zero.
    pub fn register_rate_limit(&self, limit: &str) {
        self.rate_limited.with_label_values(&[limit]);
    }

    /// Counts a request refused by the admission limit `limit`.
    pub fn count_rate_limited(&self, limit: &str) {
        self.rate_limited.with_label_values(&[limit]).inc();
    }

    /// Counts an audit record appended to the trail.
    pub fn count_audit_record(&self, event: &str) {
        self.audit_records.with_label_values(&[event]).inc();
    }

    /// Observes one append to the store's audit trail: how many records it carried and how
    /// long it took.
    pub fn observe_audit_append(&self, records: usize, duration: Duration) {
        self.audit_group_records.observe(records as f64);
        self.audit_append_duration.observe(duration.as_secs_f64());
    }

    /// Counts an audit record that could not be written to `target` (`store` or `sink`).
    pub fn count_audit_failure(&self, target: &str) {
        self.audit_failures.with_label_values(&[target]).inc();
    }

    /// Counts one revocation lookup: where the answer came from (`memory`, `store`, `ocsp`,
    /// `crl`) and whether it was usable.
    pub fn count_revocation_lookup(&self, source: &str, usable: bool) {
        self.revocation_lookups
            .with_label_values(&[source, if usable { "ok" } else { "failed" }])
            .inc();
    }

    /// Counts and times one served request.
    pub fn observe_http(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[route, method])
            .observe(elapsed.as_secs_f64());
    }

    /// Times one call to a CA; `outcome` is `ok` or an error code.
    pub fn observe_ca(&self, provider: &str, operation: &str, outcome: &str, elapsed: Duration) {
        self.ca_duration
            .with_label_values(&[provider, operation, outcome])
            .observe(elapsed.as_secs_f64());
    }

    /// Creates a provider's verification series at zero, so that alerts see the first
    /// invalid signature as an increase.
    pub fn register_provider(&self, provider: &str) {
        for result in ["valid", "invalid"] {
            self.verifications.with_label_values(&[provider, result]);
        }
        self.pending.with_label_values(&[provider]);
        self.circuit_state.with_label_values(&[provider]);
        for reason in ["open", "busy"] {
            self.short_circuited.with_label_values(&[provider, reason]);
        }
    }

    /// Sets where a provider's circuit breaker stands (see `CircuitState::gauge_value`).
    pub fn set_circuit_state(&self, provider: &str, value: i64) {
        self.circuit_state.with_label_values(&[provider]).set(value);
    }

    /// Counts a CA call refused without reaching the CA (`open` or `busy`).
    pub fn count_short_circuit(&self, provider: &str, reason: &str) {
        self.short_circuited
            .with_label_values(&[provider, reason])
            .inc();
    }

    /// Counts and times one time-stamp request; `outcome` is `ok`, `unavailable` or
    /// `invalid`.
    pub fn observe_tsa(&self, outcome: &str, elapsed: Duration) {
        self.tsa_requests.with_label_values(&[outcome]).inc();
        self.tsa_duration.observe(elapsed.as_secs_f64());
    }

    /// Counts one signature verification (`valid` or `invalid`).
    pub fn count_verification(&self, provider: &str, valid: bool) {
        let result = if valid { "valid" } else { "invalid" };
        self.verifications
            .with_label_values(&[provider, result])
            .inc();
    }

    /// Counts a transaction that reached a final status.
    pub fn count_final_status(&self, provider: &str, status: &str) {
        self.transactions
            .with_label_values(&[provider, status])
            .inc();
    }

    /// Adds `delta` to the transactions of `provider` this instance follows.
    pub fn add_pending(&self, provider: &str, delta: i64) {
        self.pending.with_label_values(&[provider]).add(delta);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|error| prometheus::Error::Msg(error.to_string()))
    }
}
