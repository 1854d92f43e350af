//! Signing transactions from request to verified result: creation (with idempotency),
//! reading, cancelling, and following the CA in the background until a final status.
//!
//! Every change of a transaction is a compare-and-set on the store, retried over the latest
//! version, so a CA outcome and a portal's cancel can race without either being lost or
//! overwritten: whichever is recorded first wins.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_adapter_core::{AdapterError, CaCertificate, DocumentDigest, SignOutcome, SignRequest};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::api::{
    CertificateStatus, CertificateView, ProviderCertificates, SearchStatus, SignatureRequest,
    TransactionErrorView,
};
use crate::auth::Principal;
use crate::config::TransactionSettings;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;
use crate::providers::{Provider, Providers};
use crate::store::{IdempotencyRecord, Lease, Store, StoreError, Swap};
use crate::transaction::{
    DocumentRecord, SignerCertificate, Transaction, TransactionStatus, VerifiedSignature,
};
use crate::verify::{self, VerifyError};

/// Longest `description` shown to the citizen.
const MAX_DESCRIPTION_CHARS: usize = 500;
/// Longest document id.
const MAX_DOCUMENT_ID_CHARS: usize = 64;
/// Longest document name.
const MAX_DOCUMENT_NAME_CHARS: usize = 255;
/// How long a transaction the CA says it does not know is still asked about, because the
/// submission may still be on its way to the CA.
const UNKNOWN_AT_CA_GRACE: time::Duration = time::Duration::seconds(60);
/// Most pending transactions one sweep looks at (oldest first).
const SWEEP_BATCH: usize = 1000;
/// Longest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Whether `user_id` is a CCCD number: exactly 12 ASCII digits.
pub fn is_citizen_id(user_id: &str) -> bool {
    user_id.len() == 12 && user_id.bytes().all(|b| b.is_ascii_digit())
}

/// The result of `POST /v1/signatures`.
#[derive(Debug)]
pub struct Submitted {
    /// The transaction, as it stands now.
    pub transaction: Transaction,
    /// True when the same request was seen before and this is its transaction.
    pub replayed: bool,
}

/// The signing service: shared by every request and by the background followers.
#[derive(Clone)]
pub struct Signing {
    store: Arc<dyn Store>,
    providers: Arc<Providers>,
    metrics: Metrics,
    settings: TransactionSettings,
    runtime: tokio::runtime::Handle,
    /// This instance's name in follow leases.
    instance_id: String,
    /// Transactions this instance follows now.
    followed: Arc<Mutex<HashSet<String>>>,
    /// Cancelled to stop every follower and the sweeper.
    stopping: CancellationToken,
}

impl Signing {
    /// The service; followers are spawned on `runtime`; `instance_id` names this instance in
    /// follow leases.
    pub fn new(
        store: Arc<dyn Store>,
        providers: Arc<Providers>,
        metrics: Metrics,
        settings: TransactionSettings,
        runtime: tokio::runtime::Handle,
        instance_id: String,
    ) -> Self {
        Self {
            store,
            providers,
            metrics,
            settings,
            runtime,
            instance_id,
            followed: Arc::default(),
            stopping: CancellationToken::new(),
        }
    }

    /// The configured providers.
    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// The store (for readiness checks).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn provider(&self, id: &str) -> Result<&Arc<Provider>, ApiError> {
        self.providers.get(id).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownProvider,
                format!("no provider {id:?} is configured (see GET /v1/providers)"),
            )
        })
    }

    /// A citizen's certificates at one provider, as portals see them.
    pub async fn certificates(
        &self,
        provider_id: &str,
        user_id: &str,
    ) -> Result<Vec<CertificateView>, ApiError> {
        let provider = self.provider(provider_id)?;
        check_user_id(user_id)?;
        let now = OffsetDateTime::now_utc();
        let certificates = provider.certificates(user_id).await?;
        Ok(certificates
            .iter()
            .filter_map(|certificate| certificate_view(certificate, now))
            .collect())
    }

    /// What every provider says about a citizen, asked all at once and bounded by one
    /// deadline: the longest request timeout of any provider.
    pub async fn search_certificates(
        &self,
        user_id: &str,
    ) -> Result<Vec<ProviderCertificates>, ApiError> {
        check_user_id(user_id)?;
        let deadline = tokio::time::Instant::now() + self.providers.longest_request_timeout();
        let mut lookups = tokio::task::JoinSet::new();
        for (index, provider) in self.providers.iter().enumerate() {
            let (provider, user_id) = (provider.clone(), user_id.to_owned());
            lookups.spawn(async move {
                let answer =
                    tokio::time::timeout_at(deadline, provider.certificates(&user_id)).await;
                (index, provider, answer)
            });
        }
        let now = OffsetDateTime::now_utc();
        let mut results: Vec<(usize, ProviderCertificates)> = Vec::new();
        while let Some(joined) = lookups.join_next().await {
            let (index, provider, answer) = joined.map_err(|error| {
                tracing::error!(%error, "a certificate lookup task failed");
                ApiError::new(ErrorCode::InternalError, "a certificate lookup failed")
            })?;
            let outcome = match answer {
                Ok(Ok(found)) => {
                    let certificates: Vec<CertificateView> = found
                        .iter()
                        .filter_map(|certificate| certificate_view(certificate, now))
                        .collect();
                    let status = if certificates.is_empty() {
                        SearchStatus::NotFound
                    } else {
                        SearchStatus::Found
                    };
                    (status, certificates, None)
                }
                Ok(Err(error)) => (SearchStatus::Error, Vec::new(), Some(ApiError::from(error))),
                Err(_) => (
                    SearchStatus::Error,
                    Vec::new(),
                    Some(ApiError::new(
                        ErrorCode::CaTimeout,
                        "the CA did not answer in time",
                    )),
                ),
            };
            let (status, certificates, error) = outcome;
            results.push((
                index,
                ProviderCertificates {
                    provider: provider.id().to_owned(),
                    status,
                    certificates,
                    error: error.map(|error| TransactionErrorView {
                        code: error.code.as_str().to_owned(),
                        message: error.message,
                        retryable: error.code.retryable(),
                    }),
                },
            ));
        }
        results.sort_by_key(|(index, _)| *index);
        Ok(results.into_iter().map(|(_, result)| result).collect())
    }

    /// Creates a transaction and submits it to the CA, or returns the transaction an
    /// earlier identical request with the same key created.
    pub async fn submit(
        &self,
        principal: &Principal,
        idempotency_key: Option<&str>,
        request: SignatureRequest,
    ) -> Result<Submitted, ApiError> {
        let key = check_idempotency_key(idempotency_key)?;
        let provider = self.provider(&request.provider)?.clone();
        let documents = validate_request(&provider, &request)?;
        let fingerprint = hex::encode(Sha256::digest(serde_json::to_vec(&request).map_err(
            |_| ApiError::new(ErrorCode::InternalError, "request cannot be fingerprinted"),
        )?));
        // Keys are scoped per client and hashed, so neither clients nor odd characters can
        // reach into each other's records.
        let scoped_key = hex::encode(Sha256::digest(
            format!("{}\n{key}", principal.client_id).as_bytes(),
        ));
        let record = IdempotencyRecord {
            fingerprint,
            transaction_id: uuid::Uuid::new_v4().simple().to_string(),
        };
        let ttl = Duration::from_secs(self.settings.idempotency_ttl_secs);
        if let Some(existing) = self
            .store
            .claim_idempotency_key(&scoped_key, &record, ttl)
            .await?
        {
            return self.replay(principal, &existing, &record).await;
        }
        let result = self
            .create(
                principal,
                &provider,
                &request,
                documents,
                &record.transaction_id,
            )
            .await;
        if result
            .as_ref()
            .map_or(true, |t| t.status == TransactionStatus::Failed)
        {
            // Only a request that created a transaction that can still succeed keeps its
            // key: after an error the portal may retry with the same key.
            if let Err(error) = self
                .store
                .release_idempotency_key(&scoped_key, &record)
                .await
            {
                tracing::warn!(%error, "could not release an idempotency key");
            }
        }
        let transaction = result?;
        if let Some(error) = transaction
            .error
            .as_ref()
            .filter(|_| transaction.status == TransactionStatus::Failed)
        {
            let code = ErrorCode::ALL
                .iter()
                .copied()
                .find(|code| code.as_str() == error.code)
                .unwrap_or(ErrorCode::CaError);
            return Err(
                ApiError::new(code, error.message.clone()).with_transaction(&transaction.id)
            );
        }
        Ok(Submitted {
            transaction,
            replayed: false,
        })
    }

    async fn replay(
        &self,
        principal: &Principal,
        existing: &IdempotencyRecord,
        attempted: &IdempotencyRecord,
    ) -> Result<Submitted, ApiError> {
        if existing.fingerprint != attempted.fingerprint {
            return Err(ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with a different request",
            ));
        }
        match self.load_owned(principal, &existing.transaction_id).await {
            Ok(transaction) => Ok(Submitted {
                transaction,
                replayed: true,
            }),
            Err(error) if error.code == ErrorCode::TransactionNotFound => Err(ApiError::new(
                ErrorCode::IdempotencyRequestInProgress,
                "the first request with this Idempotency-Key is still being processed",
            )),
            Err(error) => Err(error),
        }
    }

    async fn create(
        &self,
        principal: &Principal,
        provider: &Arc<Provider>,
        request: &SignatureRequest,
        documents: Vec<DocumentDigest>,
        transaction_id: &str,
    ) -> Result<Transaction, ApiError> {
        let now = OffsetDateTime::now_utc();
        let certificate = self
            .choose_certificate(
                provider,
                &request.user_id,
                request.certificate_id.as_deref(),
                now,
            )
            .await?;
        let confirmation = provider.descriptor().capabilities.confirmation_timeout;
        let transaction = Transaction {
            id: transaction_id.to_owned(),
            client_id: principal.client_id.clone(),
            provider: provider.id().to_owned(),
            user_id: request.user_id.clone(),
            status: TransactionStatus::Pending,
            hash_algorithm: request.hash_algorithm,
            description: request.description.clone().unwrap_or_default(),
            created_at: now,
            updated_at: now,
            expires_at: now + confirmation,
            certificate: SignerCertificate {
                certificate_id: certificate.certificate_id.clone(),
                certificate_der: certificate.certificate_der.clone(),
                chain_der: certificate.chain_der.clone(),
            },
            documents: documents
                .iter()
                .map(|document| DocumentRecord {
                    id: document.id.clone(),
                    name: document.name.clone(),
                    digest: document.digest.clone(),
                    signature: None,
                })
                .collect(),
            ca_reference: None,
            error: None,
            version: 1,
        };
        self.store
            .insert_transaction(&transaction, self.record_ttl(&transaction, now))
            .await?;
        let sign_request = SignRequest {
            transaction_id: transaction.id.clone(),
            user_id: transaction.user_id.clone(),
            certificate_id: certificate.certificate_id,
            hash_algorithm: transaction.hash_algorithm,
            documents,
            description: transaction.description.clone(),
        };
        let outcome = match provider.begin_sign(&sign_request).await {
            Ok(outcome) => outcome,
            Err(error) => {
                let unanswered = provider
                    .caller_reference(&sign_request)
                    .filter(|_| error.outcome_unknown());
                if let Some(ca_reference) = unanswered {
                    // The CA may have the request although we saw no answer: keep the
                    // transaction pending and ask the CA, rather than report a failure
                    // that may be false. If the CA never got it, the follower records that.
                    tracing::warn!(transaction_id = %transaction.id, %error, "CA did not answer the submission; asking it");
                    SignOutcome::Pending { ca_reference }
                } else {
                    let code = ApiError::code_of(&error);
                    tracing::warn!(transaction_id = %transaction.id, %error, "CA refused the submission");
                    return Ok(self
                        .record(transaction, |current, now| {
                            current.fail(code, submission_message(&error), now).ok()
                        })
                        .await?);
                }
            }
        };
        let transaction = self.settle(transaction, outcome).await?;
        if transaction.status == TransactionStatus::Pending {
            self.follow(transaction.id.clone());
        }
        Ok(transaction)
    }

    async fn choose_certificate(
        &self,
        provider: &Provider,
        user_id: &str,
        certificate_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<CaCertificate, ApiError> {
        let certificates = provider.certificates(user_id).await?;
        let usable = |certificate: &CaCertificate| -> Result<(), ApiError> {
            if !certificate.active {
                return Err(ApiError::new(
                    ErrorCode::CertificateUnusable,
                    "the CA says this certificate cannot sign",
                ));
            }
            verify::check_certificate(
                &certificate.certificate_der,
                &certificate.chain_der,
                provider.trust_anchors(),
                user_id,
                now,
            )
            .map_err(|error| ApiError::new(ErrorCode::CertificateUnusable, error.to_string()))
        };
        if let Some(wanted) = certificate_id {
            let certificate = certificates
                .into_iter()
                .find(|certificate| certificate.certificate_id == wanted)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::CertificateNotFound,
                        "the citizen holds no certificate with this certificate_id there",
                    )
                })?;
            usable(&certificate)?;
            return Ok(certificate);
        }
        if certificates.is_empty() {
            return Err(ApiError::new(
                ErrorCode::CertificateNotFound,
                "the citizen holds no certificate at this provider",
            ));
        }
        let mut first_refusal = None;
        let mut candidates = Vec::new();
        for certificate in certificates {
            match usable(&certificate) {
                Ok(()) => candidates.push(certificate),
                Err(error) => {
                    first_refusal.get_or_insert(error);
                }
            }
        }
        match candidates.len() {
            1 => Ok(candidates.remove(0)),
            0 => Err(first_refusal.unwrap_or_else(|| {
                ApiError::new(ErrorCode::CertificateUnusable, "no usable certificate")
            })),
            _ => Err(ApiError::new(
                ErrorCode::CertificateAmbiguous,
                "the citizen holds several usable certificates: choose one with certificate_id",
            )),
        }
    }

    /// The transaction if it exists and belongs to the caller (others get not-found, so
    /// ids of other portals' transactions cannot even be probed). Overdue pending
    /// transactions are expired on the way.
    pub async fn load_owned(
        &self,
        principal: &Principal,
        transaction_id: &str,
    ) -> Result<Transaction, ApiError> {
        let not_found = || ApiError::new(ErrorCode::TransactionNotFound, "no such transaction");
        let transaction = self
            .store
            .transaction(transaction_id)
            .await?
            .filter(|transaction| transaction.client_id == principal.client_id)
            .ok_or_else(not_found)?;
        if transaction.is_overdue(OffsetDateTime::now_utc()) {
            return Ok(self.settle(transaction, SignOutcome::Expired).await?);
        }
        Ok(transaction)
    }

    /// Cancels a pending transaction.
    pub async fn cancel(
        &self,
        principal: &Principal,
        transaction_id: &str,
    ) -> Result<Transaction, ApiError> {
        let transaction = self.load_owned(principal, transaction_id).await?;
        let (result, cancelled) = self
            .record_change(transaction, |current, now| {
                current.finish(TransactionStatus::Cancelled, now).ok()
            })
            .await?;
        if !cancelled {
            return Err(ApiError::new(
                ErrorCode::TransactionNotPending,
                format!("the transaction is already {}", result.status.as_str()),
            )
            .with_transaction(&result.id));
        }
        Ok(result)
    }

    /// How long a record is kept: until it expires, then the retention period.
    fn record_ttl(&self, transaction: &Transaction, now: OffsetDateTime) -> Duration {
        let remaining = (transaction.expires_at - now).max(time::Duration::ZERO);
        Duration::try_from(remaining).unwrap_or_default()
            + Duration::from_secs(self.settings.retention_secs)
    }

    /// Applies `change` to the latest version until it is stored or no longer applies
    /// (`change` answers `None`), and returns the transaction as it then stands.
    async fn record(
        &self,
        current: Transaction,
        change: impl Fn(&Transaction, OffsetDateTime) -> Option<Transaction>,
    ) -> Result<Transaction, StoreError> {
        Ok(self.record_change(current, change).await?.0)
    }

    /// [`Self::record`], also telling whether `change` was the one stored (`false` when it
    /// no longer applied to the latest version).
    async fn record_change(
        &self,
        mut current: Transaction,
        change: impl Fn(&Transaction, OffsetDateTime) -> Option<Transaction>,
    ) -> Result<(Transaction, bool), StoreError> {
        loop {
            let now = OffsetDateTime::now_utc();
            let Some(next) = change(&current, now) else {
                return Ok((current, false));
            };
            match self
                .store
                .swap_transaction(&next, self.record_ttl(&next, now))
                .await?
            {
                Swap::Stored => {
                    if next.status.is_final() {
                        self.metrics
                            .count_final_status(&next.provider, next.status.as_str());
                        tracing::info!(
                            transaction_id = %next.id,
                            provider = %next.provider,
                            status = next.status.as_str(),
                            "transaction finished"
                        );
                    }
                    return Ok((next, true));
                }
                Swap::Conflict(Some(latest)) => current = *latest,
                Swap::Conflict(None) => {
                    return Err(StoreError::Corrupt(format!(
                        "transaction {} vanished while being updated",
                        current.id
                    )));
                }
            }
        }
    }

    /// Records what the CA said about a transaction: signatures (verified here), a refusal,
    /// an expiry, or that it is still pending under some reference.
    async fn settle(
        &self,
        transaction: Transaction,
        outcome: SignOutcome,
    ) -> Result<Transaction, StoreError> {
        let provider = self.providers.get(&transaction.provider).cloned();
        self.record(transaction, |current, now| match &outcome {
            SignOutcome::Pending { ca_reference } => {
                (current.status == TransactionStatus::Pending
                    && current.ca_reference.as_ref() != Some(ca_reference))
                .then(|| {
                    let mut next = current.next_version(now);
                    next.ca_reference = Some(ca_reference.clone());
                    next
                })
            }
            SignOutcome::Signed(signatures) => {
                let provider = provider.as_ref()?;
                self.verified(current, provider, signatures, now)
            }
            SignOutcome::Rejected => current.finish(TransactionStatus::Rejected, now).ok(),
            SignOutcome::Expired => current.finish(TransactionStatus::Expired, now).ok(),
            SignOutcome::Failed(message) => {
                tracing::warn!(transaction_id = %current.id, ca_message = %message, "CA reports the signing failed");
                current
                    .fail(ErrorCode::CaError, "the CA reports that the signing failed", now)
                    .ok()
            }
        })
        .await
    }

    /// The signed version of `current` if every signature verifies, else the failed one.
    fn verified(
        &self,
        current: &Transaction,
        provider: &Provider,
        signatures: &[kyso_adapter_core::RawSignature],
        now: OffsetDateTime,
    ) -> Option<Transaction> {
        let certificate = &current.certificate;
        let mut verified = Vec::with_capacity(current.documents.len());
        let mut failure: Option<(ErrorCode, String)> = None;
        if let Err(error) = verify::check_certificate(
            &certificate.certificate_der,
            &certificate.chain_der,
            provider.trust_anchors(),
            &current.user_id,
            now,
        ) {
            failure = Some((ErrorCode::SignatureInvalid, format!("signer {error}")));
        }
        for document in &current.documents {
            if failure.is_some() {
                break;
            }
            let Some(raw) = signatures
                .iter()
                .find(|signature| signature.document_id == document.id)
            else {
                failure = Some((
                    ErrorCode::CaError,
                    format!(
                        "the CA returned no signature for document {:?}",
                        document.id
                    ),
                ));
                break;
            };
            let result = verify::verify_signature(
                &certificate.certificate_der,
                current.hash_algorithm,
                &document.digest,
                &raw.signature,
            );
            self.metrics
                .count_verification(provider.id(), result.is_ok());
            match result {
                Ok(checked) => verified.push(VerifiedSignature {
                    signature: checked.signature,
                    algorithm: checked.algorithm,
                    verified_at: now,
                }),
                Err(VerifyError::BadSignature) => {
                    failure = Some((
                        ErrorCode::SignatureInvalid,
                        format!(
                            "the CA's signature of document {:?} does not verify",
                            document.id
                        ),
                    ));
                }
                Err(error) => failure = Some((ErrorCode::SignatureInvalid, error.to_string())),
            }
        }
        if let Some((code, message)) = failure {
            tracing::error!(transaction_id = %current.id, provider = provider.id(), %message, "CA result refused");
            return current.fail(code, message, now).ok();
        }
        let mut next = current.finish(TransactionStatus::Signed, now).ok()?;
        for (document, signature) in next.documents.iter_mut().zip(verified) {
            document.signature = Some(signature);
        }
        Some(next)
    }

    /// Follows a pending transaction at its CA in the background until it is final, unless
    /// this instance follows it already or another instance holds its lease.
    fn follow(&self, transaction_id: String) {
        let Some(guard) = FollowGuard::new(self, &transaction_id) else {
            return;
        };
        let service = self.clone();
        self.runtime.spawn(async move {
            let _guard = guard;
            service
                .stopping
                .run_until_cancelled(service.follow_until_final(&transaction_id))
                .await;
        });
    }

    /// Starts the background sweep that adopts pending transactions nobody follows (their
    /// instance died, or the gateway restarted).
    pub fn start_sweeper(&self) {
        let service = self.clone();
        self.runtime.spawn(async move {
            let interval = Duration::from_millis(service.settings.sweep_interval_ms.max(10));
            let sweep = async {
                loop {
                    tokio::time::sleep(interval).await;
                    match service.store.pending_transactions(SWEEP_BATCH).await {
                        Ok(ids) => ids.into_iter().for_each(|id| service.follow(id)),
                        Err(error) => tracing::warn!(%error, "cannot list pending transactions"),
                    }
                }
            };
            service.stopping.run_until_cancelled(sweep).await;
        });
    }

    /// Stops every follower and the sweeper of this instance, without giving up leases
    /// (as a crash would): another instance takes over when they run out.
    pub fn stop_following(&self) {
        self.stopping.cancel();
    }

    async fn follow_until_final(&self, transaction_id: &str) {
        let lease = Duration::from_millis(self.settings.follow_lease_ms);
        let max_delay = Duration::from_millis(self.settings.poll_max_ms.max(1));
        let mut delay = Duration::from_millis(self.settings.poll_initial_ms.max(1));
        let mut gauge = None;
        loop {
            // Renewed on every round; the rounds are shorter than the lease.
            match self
                .store
                .acquire_lease(Lease::Follow(transaction_id), &self.instance_id, lease)
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(%transaction_id, %error, "store unavailable while following");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(max_delay);
                    continue;
                }
            }
            match self.follow_round(transaction_id, delay, &mut gauge).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(error) => {
                    // The CA will be asked again; nothing it said is lost.
                    tracing::warn!(%transaction_id, %error, "store unavailable while following");
                }
            }
            delay = (delay * 2).min(max_delay);
        }
        let released = self.store.forget_pending(transaction_id).await.and(
            self.store
                .release_lease(Lease::Follow(transaction_id), &self.instance_id)
                .await,
        );
        if let Err(error) = released {
            // The sweep of some instance tidies up later.
            tracing::warn!(%transaction_id, %error, "could not tidy a finished transaction");
        }
    }

    /// One round of following: waits, asks the CA, records its answer. `Ok(true)` once the
    /// transaction is final (or gone).
    async fn follow_round(
        &self,
        transaction_id: &str,
        delay: Duration,
        gauge: &mut Option<PendingGauge>,
    ) -> Result<bool, StoreError> {
        let Some(transaction) = self.store.transaction(transaction_id).await? else {
            return Ok(true);
        };
        if transaction.status.is_final() {
            return Ok(true);
        }
        gauge.get_or_insert_with(|| PendingGauge::new(&self.metrics, &transaction.provider));
        let now = OffsetDateTime::now_utc();
        if transaction.is_overdue(now) {
            let settled = self.settle(transaction, SignOutcome::Expired).await?;
            return Ok(settled.status.is_final());
        }
        let Some(provider) = self.providers.get(&transaction.provider).cloned() else {
            tracing::error!(%transaction_id, provider = %transaction.provider, "provider no longer configured");
            return Ok(false);
        };
        let until_expiry = Duration::try_from(transaction.expires_at - now).unwrap_or_default();
        tokio::time::sleep(delay.min(until_expiry)).await;
        let Some(reference) = transaction.ca_reference.clone() else {
            return Ok(false);
        };
        let outcome = match provider.poll(&reference).await {
            Ok(SignOutcome::Pending { .. }) => return Ok(false),
            Ok(outcome) => outcome,
            Err(error) if error.is_retryable() => {
                tracing::warn!(%transaction_id, %error, "CA status poll failed; will retry");
                return Ok(false);
            }
            // A submission the CA has not recorded yet (it timed out and may still be
            // in flight) is not-found for a while; only after a grace period is it lost.
            Err(AdapterError::TransactionNotFound(_))
                if OffsetDateTime::now_utc() - transaction.created_at < UNKNOWN_AT_CA_GRACE =>
            {
                return Ok(false);
            }
            Err(error) => {
                tracing::warn!(%transaction_id, %error, "CA status poll refused");
                SignOutcome::Failed(error.to_string())
            }
        };
        // Re-read so that a cancel recorded while the CA answered is respected.
        let Some(latest) = self.store.transaction(transaction_id).await? else {
            return Ok(true);
        };
        Ok(self.settle(latest, outcome).await?.status.is_final())
    }
}

/// Marks a transaction as followed by this instance while a follower task lives, so it is
/// not followed twice.
struct FollowGuard {
    service: Signing,
    transaction_id: String,
}

impl FollowGuard {
    fn new(service: &Signing, transaction_id: &str) -> Option<Self> {
        let mut followed = service
            .followed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !followed.insert(transaction_id.to_owned()) {
            return None;
        }
        Some(Self {
            service: service.clone(),
            transaction_id: transaction_id.to_owned(),
        })
    }
}

impl Drop for FollowGuard {
    fn drop(&mut self) {
        self.service
            .followed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.transaction_id);
    }
}

/// Counts a transaction in its provider's pending gauge while it is followed here.
struct PendingGauge {
    metrics: Metrics,
    provider: String,
}

impl PendingGauge {
    fn new(metrics: &Metrics, provider: &str) -> Self {
        metrics.add_pending(provider, 1);
        Self {
            metrics: metrics.clone(),
            provider: provider.to_owned(),
        }
    }
}

impl Drop for PendingGauge {
    fn drop(&mut self) {
        self.metrics.add_pending(&self.provider, -1);
    }
}

fn submission_message(error: &AdapterError) -> &'static str {
    match ApiError::code_of(error) {
        ErrorCode::CaTimeout => "the CA did not answer the signing request in time",
        ErrorCode::CaUnavailable => "the CA is unavailable",
        ErrorCode::CertificateUnusable => "the CA says the certificate cannot sign",
        _ => "the CA refused the signing request",
    }
}

fn check_user_id(user_id: &str) -> Result<(), ApiError> {
    if is_citizen_id(user_id) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidUserId,
            "user_id must be a citizen ID number (CCCD): exactly 12 digits",
        ))
    }
}

fn check_idempotency_key(key: Option<&str>) -> Result<&str, ApiError> {
    let key = key.ok_or_else(|| {
        ApiError::new(
            ErrorCode::MissingIdempotencyKey,
            "send an Idempotency-Key header (a UUID is a good choice)",
        )
    })?;
    let valid = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && key.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if valid {
        Ok(key)
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key must be 1-255 printable ASCII characters",
        ))
    }
}

/// Checks a signing request against the provider's capabilities and decodes its digests.
fn validate_request(
    provider: &Provider,
    request: &SignatureRequest,
) -> Result<Vec<DocumentDigest>, ApiError> {
    check_user_id(&request.user_id)?;
    let capabilities = &provider.descriptor().capabilities;
    if !capabilities
        .hash_algorithms
        .contains(&request.hash_algorithm)
    {
        return Err(ApiError::new(
            ErrorCode::UnsupportedHashAlgorithm,
            format!(
                "provider {} does not sign {} digests",
                provider.id(),
                request.hash_algorithm
            ),
        ));
    }
    if request.documents.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "documents must hold at least one document",
        ));
    }
    if request.documents.len() > capabilities.max_documents {
        return Err(ApiError::new(
            ErrorCode::BatchTooLarge,
            format!(
                "provider {} accepts at most {} documents per request",
                provider.id(),
                capabilities.max_documents
            ),
        ));
    }
    if let Some(description) = &request.description
        && description.chars().count() > MAX_DESCRIPTION_CHARS
    {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("description is longer than {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    request
        .documents
        .iter()
        .enumerate()
        .map(|(index, document)| {
            let id_length = document.id.chars().count();
            if id_length == 0 || id_length > MAX_DOCUMENT_ID_CHARS {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("documents[{index}].id must be 1-{MAX_DOCUMENT_ID_CHARS} characters"),
                ));
            }
            let name_length = document.name.chars().count();
            if name_length == 0 || name_length > MAX_DOCUMENT_NAME_CHARS {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "documents[{index}].name must be 1-{MAX_DOCUMENT_NAME_CHARS} characters"
                    ),
                ));
            }
            if !seen.insert(document.id.as_str()) {
                return Err(ApiError::new(
                    ErrorCode::DuplicateDocumentId,
                    format!("document id {:?} appears twice", document.id),
                ));
            }
            let digest = BASE64.decode(&document.digest).map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidDigest,
                    format!("documents[{index}].digest is not standard base64"),
                )
            })?;
            if digest.len() != request.hash_algorithm.digest_len() {
                return Err(ApiError::new(
                    ErrorCode::InvalidDigest,
                    format!(
                        "documents[{index}].digest has {} bytes; a {} digest has {}",
                        digest.len(),
                        request.hash_algorithm,
                        request.hash_algorithm.digest_len()
                    ),
                ));
            }
            Ok(DocumentDigest {
                id: document.id.clone(),
                name: document.name.clone(),
                digest,
            })
        })
        .collect()
}

/// How a certificate is shown to portals; `None` for one the gateway cannot use at all
/// (unparseable, or a key it cannot verify).
fn certificate_view(certificate: &CaCertificate, now: OffsetDateTime) -> Option<CertificateView> {
    let facts = match verify::describe(&certificate.certificate_der) {
        Ok(facts) => facts,
        Err(error) => {
            tracing::warn!(certificate_id = %certificate.certificate_id, %error, "certificate from CA skipped");
            return None;
        }
    };
    let status = if !certificate.active {
        CertificateStatus::Inactive
    } else if now < facts.not_before {
        CertificateStatus::NotYetValid
    } else if now > facts.not_after {
        CertificateStatus::Expired
    } else {
        CertificateStatus::Valid
    };
    Some(CertificateView {
        certificate_id: certificate.certificate_id.clone(),
        subject: facts.subject,
        issuer: facts.issuer,
        serial_number: facts.serial_number,
        not_before: facts.not_before,
        not_after: facts.not_after,
        key_algorithm: facts.key_algorithm,
        status,
        chain_pem: std::iter::once(&certificate.certificate_der)
            .chain(&certificate.chain_der)
            .map(|der| verify::certificate_pem(der))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citizen_id_is_twelve_digits() {
        assert!(is_citizen_id("001099000001"));
        for bad in [
            "",
            "00109900000",
            "0010990000011",
            "00109900000a",
            "００１０９９０００００１",
        ] {
            assert!(!is_citizen_id(bad), "{bad}");
        }
    }

    #[test]
    fn idempotency_key_must_be_printable_ascii() {
        assert!(check_idempotency_key(Some("a-b c")).is_ok());
        assert_eq!(
            check_idempotency_key(None).unwrap_err().code,
            ErrorCode::MissingIdempotencyKey
        );
        for bad in ["", "tab\there", "ký", &"k".repeat(256)] {
            assert_eq!(
                check_idempotency_key(Some(bad)).unwrap_err().code,
                ErrorCode::InvalidIdempotencyKey
            );
        }
    }
}
