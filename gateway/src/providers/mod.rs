//! The configured CAs: each adapter with its trust anchors and recent health, built once at
//! start-up and immutable afterwards. Every call to a CA goes through [`Provider`], which
//! guards it (circuit breaker, concurrency cap, budgeted retries), times it for the metrics
//! and keeps the provider's health.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kyso_adapter_core::{
    AdapterDescriptor, AdapterError, CaAdapter, CaCertificate, CaSession, Fault, SignOutcome,
    SignRequest,
};

use kyso_adapter_http::{CaHttp, HttpSettings};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::{ConfigError, ProviderSettings, ResilienceSettings, required_pem};
use crate::domain::error::ErrorCode;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::verify::{RevocationPolicy, TrustAnchors};
use breaker::{CircuitBreaker, CircuitOpen, CircuitState};
use retries::RetryPolicy;
use sessions::SessionCache;

pub mod breaker;
pub mod registry;
pub mod retries;
pub mod sessions;

/// Whether a provider's recent calls succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderStatus {
    /// Calls succeed.
    Available,
    /// Recent calls to the CA failed.
    Degraded,
    /// The circuit breaker is open: calls are refused without reaching the CA.
    Unavailable,
}

/// Why a call to a provider did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The CA failed or refused the call.
    #[error(transparent)]
    Ca(#[from] AdapterError),
    /// The circuit breaker is open: the CA was not called.
    #[error("the provider's circuit breaker is open (retry after {:?})", .0.retry_after)]
    CircuitOpen(CircuitOpen),
    /// Every call slot to the CA stayed taken for the queue timeout: the CA was not called.
    #[error("every call slot to the provider stayed taken")]
    Busy,
}

impl ProviderError {
    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Ca(error) => error.is_retryable(),
            Self::CircuitOpen(_) | Self::Busy => true,
        }
    }

    /// The stable code portals see for it.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Ca(error) => ErrorCode::of_ca_failure(error),
            Self::CircuitOpen(_) => ErrorCode::ProviderUnavailable,
            Self::Busy => ErrorCode::ProviderBusy,
        }
    }

    /// Whether the CA may have acted on the request although no answer was seen; never for
    /// a call the gateway did not make.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::Ca(error) if error.outcome_unknown())
    }
}

/// Whether a CA call's failure is the CA's (what the breaker counts), not the caller's.
fn is_ca_failure(error: &AdapterError) -> bool {
    error.fault() == Fault::Ca
}

/// Whether a call may be retried: only calls that change nothing at the CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// A lookup or status poll: retried on the CA's transient failures, within budget.
    Allowed,
    /// A submission or cancellation: never repeated here.
    Never,
}

/// Consecutive failed calls after which a provider is reported `degraded`.
const DEGRADED_AFTER_FAILURES: u32 = 3;

/// One CA with what the gateway keeps about it.
pub struct Provider {
    adapter: Arc<dyn CaAdapter>,
    trust_anchors: Arc<TrustAnchors>,
    revocation_policy: RevocationPolicy,
    consecutive_failures: AtomicU32,
    metrics: Metrics,
    sessions: SessionCache,
    request_timeout: Duration,
    breaker: CircuitBreaker,
    retries: RetryPolicy,
    call_slots: Semaphore,
    queue_timeout: Duration,
}

impl Provider {
    /// The longest time one call to this CA may take.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// A provider around an adapter (tests build adapters of their own); `request_timeout`
    /// is the longest one call to the CA may take. Guarded by the default resilience
    /// settings until [`Provider::with_resilience`].
    pub fn new(
        adapter: Arc<dyn CaAdapter>,
        trust_anchors: TrustAnchors,
        metrics: Metrics,
        sessions: SessionCache,
        request_timeout: Duration,
    ) -> Self {
        metrics.register_provider(&adapter.descriptor().id);
        let resilience = ResilienceSettings::default();
        Self {
            adapter,
            trust_anchors: Arc::new(trust_anchors),
            revocation_policy: RevocationPolicy::Required,
            consecutive_failures: AtomicU32::new(0),
            metrics,
            sessions,
            request_timeout,
            breaker: CircuitBreaker::new(resilience.breaker.clone()),
            retries: RetryPolicy::new(&resilience.retries),
            call_slots: Semaphore::new(resilience.max_concurrent_calls),
            queue_timeout: Duration::from_millis(resilience.queue_timeout_ms),
        }
    }

    /// The same provider guarded by `resilience` (validated by [`check_resilience`]).
    #[must_use]
    pub fn with_resilience(mut self, resilience: &ResilienceSettings) -> Self {
        self.breaker = CircuitBreaker::new(resilience.breaker.clone());
        self.retries = RetryPolicy::new(&resilience.retries);
        self.call_slots = Semaphore::new(resilience.max_concurrent_calls);
        self.queue_timeout = Duration::from_millis(resilience.queue_timeout_ms);
        self
    }

    /// Who the provider is and what it supports.
    pub fn descriptor(&self) -> &AdapterDescriptor {
        self.adapter.descriptor()
    }

    /// The provider's id.
    pub fn id(&self) -> &str {
        &self.descriptor().id
    }

    /// The same provider under another revocation policy (the default is `required`).
    #[must_use]
    pub fn with_revocation_policy(mut self, policy: RevocationPolicy) -> Self {
        self.revocation_policy = policy;
        self
    }

    /// The roots its citizens' certificates must chain to.
    pub fn trust_anchors(&self) -> &Arc<TrustAnchors> {
        &self.trust_anchors
    }

    /// Whether its signatures need the revocation status of their certificates.
    pub fn revocation_policy(&self) -> RevocationPolicy {
        self.revocation_policy
    }

    /// `unavailable` while the circuit breaker is open, `degraded` after several failed
    /// calls in a row, else `available`.
    pub fn status(&self) -> ProviderStatus {
        if self.breaker.state() == CircuitState::Open {
            ProviderStatus::Unavailable
        } else if self.consecutive_failures.load(Ordering::Relaxed) >= DEGRADED_AFTER_FAILURES {
            ProviderStatus::Degraded
        } else {
            ProviderStatus::Available
        }
    }

    /// Where the provider's circuit breaker stands.
    pub fn circuit_state(&self) -> CircuitState {
        self.breaker.state()
    }

    fn observe<T>(&self, operation: &str, started: Instant, result: &Result<T, AdapterError>) {
        let outcome = match result {
            Ok(_) => {
                self.consecutive_failures.store(0, Ordering::Relaxed);
                "ok"
            }
            Err(error) => {
                if error.fault() != Fault::Caller {
                    self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
                }
                ErrorCode::of_ca_failure(error).as_str()
            }
        };
        self.metrics
            .observe_ca(self.id(), operation, outcome, started.elapsed());
    }

    /// A slot for one call, waiting at most the queue timeout for one to free up.
    async fn call_slot(&self) -> Result<SemaphorePermit<'_>, ProviderError> {
        match tokio::time::timeout(self.queue_timeout, self.call_slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a timeout is the only other way out.
            Ok(Err(_)) | Err(_) => {
                self.metrics.count_short_circuit(self.id(), "busy");
                Err(ProviderError::Busy)
            }
        }
    }

    /// The cached CA session, or a new one (one login for every instance).
    async fn session(&self) -> Result<CaSession, AdapterError> {
        self.sessions
            .session(self.id(), || async {
                let started = Instant::now();
                let result = self.adapter.open_session().await;
                self.observe("open_session", started, &result);
                result
            })
            .await
    }

    /// Runs one CA call through the breaker and a call slot, with a session when the CA
    /// needs one (opening a new session and trying once more when the CA refuses the cached
    /// one); timed and counted. A call that changes nothing at the CA is retried on the CA's
    /// transient failures while the breaker is closed and the retry budget allows.
    async fn call<T, Call, Calling>(
        &self,
        operation: &str,
        retry: Retry,
        call: Call,
    ) -> Result<T, ProviderError>
    where
        Call: Fn(Option<CaSession>) -> Calling,
        Calling: Future<Output = Result<T, AdapterError>>,
    {
        self.retries.count_attempt();
        let mut retries = 0;
        loop {
            let admission = self.breaker.admit().map_err(|open| {
                self.metrics.count_short_circuit(self.id(), "open");
                ProviderError::CircuitOpen(open)
            })?;
            let slot = self.call_slot().await?;
            let started = Instant::now();
            let result = if self.adapter.needs_session() {
                self.call_with_session(&call).await
            } else {
                call(None).await
            };
            drop(slot);
            admission.record(result.as_ref().is_err_and(is_ca_failure));
            self.observe(operation, started, &result);
            match result {
                Err(error) if retry == Retry::Allowed && error.is_retryable() => {
                    retries += 1;
                    if !(self.breaker.allows_retry() && self.retries.grant(retries)) {
                        return Err(error.into());
                    }
                    tracing::debug!(provider = self.id(), operation, %error, retries, "retrying a CA call");
                    tokio::time::sleep(self.retries.backoff(retries)).await;
                }
                other => return other.map_err(ProviderError::from),
            }
        }
    }

    async fn call_with_session<T, Calling>(
        &self,
        call: &impl Fn(Option<CaSession>) -> Calling,
    ) -> Result<T, AdapterError>
    where
        Calling: Future<Output = Result<T, AdapterError>>,
    {
        let session = self.session().await?;
        match call(Some(session.clone())).await {
            Err(AdapterError::SessionExpired) => {
                self.sessions.invalidate(self.id(), &session).await;
                call(Some(self.session().await?)).await
            }
            other => other,
        }
    }

    /// The citizen's certificates at this CA.
    pub async fn certificates(&self, user_id: &str) -> Result<Vec<CaCertificate>, ProviderError> {
        let adapter = &self.adapter;
        self.call("certificates", Retry::Allowed, |session| async move {
            adapter.certificates(session.as_ref(), user_id).await
        })
        .await
    }

    /// Submits a signing request.
    pub async fn begin_sign(&self, request: &SignRequest) -> Result<SignOutcome, ProviderError> {
        let adapter = &self.adapter;
        self.call("begin_sign", Retry::Never, |session| async move {
            adapter.begin_sign(session.as_ref(), request).await
        })
        .await
    }

    /// The CA's name for a transaction it may have received without answering.
    pub fn caller_reference(&self, request: &SignRequest) -> Option<String> {
        self.adapter.caller_reference(request)
    }

    /// Asks where a transaction stands.
    pub async fn poll(&self, ca_reference: &str) -> Result<SignOutcome, ProviderError> {
        let adapter = &self.adapter;
        self.call("poll", Retry::Allowed, |session| async move {
            adapter.poll(session.as_ref(), ca_reference).await
        })
        .await
    }

    /// Withdraws a pending request at the CA (`Unsupported` where its protocol has no way).
    pub async fn cancel(&self, ca_reference: &str) -> Result<(), ProviderError> {
        let adapter = &self.adapter;
        self.call("cancel", Retry::Never, |session| async move {
            adapter.cancel(session.as_ref(), ca_reference).await
        })
        .await
    }
}

/// Every configured provider, by id.
pub struct Providers {
    by_id: BTreeMap<String, Arc<Provider>>,
    /// Every provider's trust anchors together: what a signature made anywhere is judged
    /// against (`POST /v1/verifications`).
    all_trust_anchors: Option<Arc<TrustAnchors>>,
}

impl Providers {
    /// Builds every provider from configuration; the first bad entry stops start-up with a
    /// message naming the provider and the field.
    pub fn from_settings(
        settings: &[ProviderSettings],
        national_roots_pem: Option<&str>,
        metrics: &Metrics,
        store: &Arc<dyn Store>,
        instance_id: &str,
    ) -> Result<Self, ConfigError> {
        let mut by_id = BTreeMap::new();
        for provider in settings {
            let sessions = SessionCache::new(
                store.clone(),
                instance_id,
                Duration::from_millis(provider.timeouts.request_ms),
            );
            let built = build_provider(provider, national_roots_pem, metrics, sessions)?;
            if by_id.insert(provider.id.clone(), Arc::new(built)).is_some() {
                return Err(ConfigError::invalid(
                    format!("providers[{}]", provider.id),
                    "id appears twice",
                ));
            }
        }
        if by_id.is_empty() {
            return Err(ConfigError::invalid("providers", "configure at least one"));
        }
        Ok(Self::with_anchors(by_id))
    }

    /// Providers built elsewhere (tests build adapters of their own), by their ids.
    pub fn from_providers(providers: impl IntoIterator<Item = Provider>) -> Self {
        Self::with_anchors(
            providers
                .into_iter()
                .map(|provider| (provider.id().to_owned(), Arc::new(provider)))
                .collect(),
        )
    }

    fn with_anchors(by_id: BTreeMap<String, Arc<Provider>>) -> Self {
        let mut certificates: Vec<Vec<u8>> = Vec::new();
        for provider in by_id.values() {
            for der in provider.trust_anchors().certificates() {
                if !certificates.contains(der) {
                    certificates.push(der.clone());
                }
            }
        }
        // Each provider's anchors were parsed already, so only an empty set fails here.
        let all_trust_anchors = TrustAnchors::from_der(certificates).ok().map(Arc::new);
        Self {
            by_id,
            all_trust_anchors,
        }
    }

    /// Every provider's trust anchors together (`None` without providers).
    pub fn all_trust_anchors(&self) -> Option<&Arc<TrustAnchors>> {
        self.all_trust_anchors.as_ref()
    }

    /// The provider with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<Provider>> {
        self.by_id.get(id)
    }

    /// Every provider, ordered by id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.by_id.values()
    }

    /// The longest time any provider may take to answer one call.
    pub fn longest_request_timeout(&self) -> Duration {
        self.iter()
            .map(|provider| provider.request_timeout)
            .max()
            .unwrap_or_default()
    }
}

fn build_provider(
    settings: &ProviderSettings,
    national_roots_pem: Option<&str>,
    metrics: &Metrics,
    sessions: SessionCache,
) -> Result<Provider, ConfigError> {
    let section = format!("providers[{}]", settings.id);
    let context = |field: &str| format!("{section}.{field}");
    let valid_id = !settings.id.is_empty()
        && settings.id.len() <= 64
        && settings
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid_id {
        return Err(ConfigError::invalid(
            context("id"),
            "use 1-64 lowercase letters, digits and '-'",
        ));
    }
    let anchors_pem = required_pem(
        &section,
        "trust_anchors_pem",
        settings.trust_anchors_pem.as_deref(),
        settings.trust_anchors_pem_file.as_deref(),
    )?;
    // The provider's own roots, then the national roots every licensed CA chains to.
    let anchors_pem = match national_roots_pem {
        Some(national) => format!("{anchors_pem}\n{national}"),
        None => anchors_pem,
    };
    let trust_anchors = TrustAnchors::from_pem(&anchors_pem)
        .map_err(|error| ConfigError::invalid(context("trust_anchors"), error))?;
    if settings.timeouts.connect_ms == 0 || settings.timeouts.request_ms == 0 {
        return Err(ConfigError::invalid(
            context("timeouts"),
            "must be positive",
        ));
    }
    let http = CaHttp::new(HttpSettings::new(
        Duration::from_millis(settings.timeouts.connect_ms),
        Duration::from_millis(settings.timeouts.request_ms),
    ))
    .map_err(|error| {
        ConfigError::invalid(context(&format!("timeouts.{}", error.field)), error.message)
    })?;
    let request_timeout = Duration::from_millis(settings.timeouts.request_ms);
    check_resilience(&settings.resilience).map_err(|(field, message)| {
        ConfigError::invalid(context(&format!("resilience.{field}")), message)
    })?;

    let mut capabilities = settings.adapter.default_capabilities();
    let limits = &settings.limits;
    if let Some(max) = limits.max_documents {
        if max == 0 {
            return Err(ConfigError::invalid(
                context("limits.max_documents"),
                "must be positive",
            ));
        }
        capabilities.max_documents = max;
    }
    if let Some(secs) = limits.confirmation_timeout_secs {
        capabilities.confirmation_timeout = Duration::from_secs(secs);
    }
    if let Some(algorithms) = &limits.hash_algorithms {
        capabilities.hash_algorithms = algorithms.clone();
    }
    if let Some(algorithms) = &limits.key_algorithms {
        capabilities.key_algorithms = algorithms.clone();
    }
    let descriptor = AdapterDescriptor {
        id: settings.id.clone(),
        kind: settings.adapter.kind(),
        display_name: settings
            .display_name
            .clone()
            .unwrap_or_else(|| settings.id.clone()),
        capabilities,
    };
    let adapter = settings
        .adapter
        .build(descriptor, http)
        .map_err(|error| ConfigError::invalid(context(&error.field), error.message))?;
    Ok(Provider::new(
        adapter,
        trust_anchors,
        metrics.clone(),
        sessions,
        request_timeout,
    )
    .with_revocation_policy(settings.revocation)
    .with_resilience(&settings.resilience))
}

/// The first field of `resilience` that cannot work, with why.
pub fn check_resilience(
    resilience: &ResilienceSettings,
) -> Result<(), (&'static str, &'static str)> {
    let breaker = &resilience.breaker;
    let checks = [
        (
            breaker.window_secs >= 1,
            "breaker.window_secs",
            "must be at least 1",
        ),
        (
            breaker.minimum_calls >= 1,
            "breaker.minimum_calls",
            "must be at least 1",
        ),
        (
            (1..=100).contains(&breaker.failure_rate_percent),
            "breaker.failure_rate_percent",
            "must be 1 to 100",
        ),
        (
            breaker.half_open_probes >= 1,
            "breaker.half_open_probes",
            "must be at least 1",
        ),
        (
            resilience.retries.budget_percent <= 100,
            "retries.budget_percent",
            "must be 0 to 100",
        ),
        (
            resilience.max_concurrent_calls >= 1
                && resilience.max_concurrent_calls <= Semaphore::MAX_PERMITS,
            "max_concurrent_calls",
            "must be at least 1",
        ),
    ];
    match checks.into_iter().find(|(valid, _, _)| !valid) {
        Some((_, field, message)) => Err((field, message)),
        None => Ok(()),
    }
}
