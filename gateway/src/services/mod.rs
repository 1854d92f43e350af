//! The services: what the gateway does for portals, independent of HTTP.
//!
//! [`Signing`] is shared by every request and by the background followers. Each job has its
//! own file:
//! - [`certificates`]: finding a citizen's certificates, at one provider or at all at once;
//! - [`validation`]: checking a signing request in the portal's terms;
//! - [`submission`]: creating a transaction (atomically with its idempotency key and its
//!   pending entry), recording the intent to call the CA, then calling it;
//! - [`recording`]: every change of a transaction, a compare-and-set retried over the latest
//!   version, including the verification of what a CA returns;
//! - [`following`]: following pending transactions at their CA, adopting orphans, handing
//!   them over on shutdown;
//! - [`documents`]: documents signed as files: preparing them, making the signed files once
//!   the signature is verified, serving them;
//! - [`cancellation`]: cancelling a transaction, and withdrawing it at the CA;
//! - [`verification`]: judging any signature against every provider's trust anchors;
//! - [`document_verification`]: judging every signature of a signed PDF or `.p7s` the same
//!   way, with what its structure shows;
//! - [`auth`]: issuing and checking portal tokens;
//! - [`admission`]: the limits on what each portal may ask and how often a citizen is asked.

pub mod admission;
pub mod auth;
mod cancellation;
mod certificates;
pub mod document_verification;
mod documents;
mod following;
mod recording;
mod submission;
pub mod validation;
mod verification;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kyso_adapter_core::AdapterError;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::audit::{AuditError, Auditor, Entry};
use crate::config::TransactionSettings;
use crate::documents::Documents;
use crate::domain::error::{ErrorCode, ServiceError};
use crate::domain::transaction::Transaction;
use crate::metrics::Metrics;
use crate::providers::{Provider, ProviderError, Providers};
use crate::store::{Store, StoreError};
use crate::trust::Trust;
use admission::Admission;
use auth::Principal;

pub use documents::SignedFile;
pub use submission::Submitted;

/// The signing service: shared by every request and by the background followers.
#[derive(Clone)]
pub struct Signing {
    store: Arc<dyn Store>,
    providers: Arc<Providers>,
    trust: Arc<Trust>,
    admission: Arc<Admission>,
    metrics: Metrics,
    settings: TransactionSettings,
    runtime: tokio::runtime::Handle,
    /// This instance's name in follow leases.
    instance_id: String,
    /// Transactions this instance follows now.
    followed: Arc<Mutex<HashSet<String>>>,
    /// Cancelled to stop every follower and the sweeper.
    stopping: CancellationToken,
    /// Writes the audit trail.
    auditor: Auditor,
    /// Document limits and the time-stamping authority.
    documents: Arc<Documents>,
}

impl Signing {
    /// The service; followers are spawned on `runtime`; `instance_id` names this instance in
    /// follow leases; `auditor` records what it does.
    #[allow(clippy::too_many_arguments)] // the service's collaborators, each built once at start
    pub fn new(
        store: Arc<dyn Store>,
        providers: Arc<Providers>,
        trust: Arc<Trust>,
        admission: Arc<Admission>,
        metrics: Metrics,
        settings: TransactionSettings,
        runtime: tokio::runtime::Handle,
        instance_id: String,
        auditor: Auditor,
        documents: Arc<Documents>,
    ) -> Self {
        Self {
            store,
            providers,
            trust,
            admission,
            metrics,
            settings,
            runtime,
            instance_id,
            followed: Arc::default(),
            stopping: CancellationToken::new(),
            auditor,
            documents,
        }
    }

    /// The audit trail's writer.
    pub fn auditor(&self) -> &Auditor {
        &self.auditor
    }

    /// Writes this instance's start record in the background, retrying until the store takes
    /// it (every other record of the instance waits for it anyway).
    pub fn record_start(&self) {
        let service = self.clone();
        self.runtime.spawn(async move {
            let mut delay = Duration::from_millis(service.settings.poll_initial_ms.max(1));
            let max_delay = Duration::from_millis(service.settings.poll_max_ms.max(1));
            let retry = async {
                while let Err(error) = service.auditor.record_start().await {
                    tracing::warn!(%error, "start-up audit record not written yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(max_delay);
                }
            };
            service.stopping.run_until_cancelled(retry).await;
        });
    }

    /// Returns `result` once `entry`, its audit record, is written: `audit_unavailable`
    /// instead when it cannot be, since nothing is answered without its record.
    async fn answer_recorded<T>(
        &self,
        entry: Entry,
        result: Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        self.auditor.record(entry).await?;
        result
    }

    /// The configured providers.
    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// The store (for readiness checks).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn provider(&self, id: &str) -> Result<&Arc<Provider>, ServiceError> {
        self.providers.get(id).ok_or_else(|| {
            ServiceError::new(
                ErrorCode::UnknownProvider,
                format!("no provider {id:?} is configured (see GET /v1/providers)"),
            )
        })
    }

    /// The transaction if it exists and belongs to the caller (others get not-found, so
    /// ids of other portals' transactions cannot even be probed). Overdue pending
    /// transactions are expired on the way.
    pub async fn load_owned(
        &self,
        principal: &Principal,
        transaction_id: &str,
    ) -> Result<Transaction, ServiceError> {
        let not_found = || ServiceError::new(ErrorCode::TransactionNotFound, "no such transaction");
        let transaction = self
            .store
            .transaction(transaction_id)
            .await?
            .filter(|transaction| transaction.client_id == principal.client_id)
            .ok_or_else(not_found)?;
        if transaction.is_overdue(OffsetDateTime::now_utc()) {
            return Ok(self
                .settle(transaction, kyso_adapter_core::SignOutcome::Expired)
                .await?);
        }
        Ok(transaction)
    }
}

impl From<ProviderError> for ServiceError {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::Ca(error) => Self::from(error),
            ProviderError::CircuitOpen(open) => Self::new(
                ErrorCode::ProviderUnavailable,
                "the CA is failing and the gateway is not calling it for now",
            )
            .with_retry_after(open.retry_after),
            ProviderError::Busy => Self::new(
                ErrorCode::ProviderBusy,
                "too many calls to this CA are in flight; try again shortly",
            ),
        }
    }
}

impl From<AdapterError> for ServiceError {
    fn from(error: AdapterError) -> Self {
        let code = ErrorCode::of_ca_failure(&error);
        // The CA's own words go to the log with the full error, not to the portal.
        tracing::warn!(error = %error, code = code.as_str(), "CA call failed");
        let message = match code {
            ErrorCode::CaTimeout => "the CA did not answer in time",
            ErrorCode::CaUnavailable => "the CA is unavailable",
            ErrorCode::CertificateUnusable => "the CA says the certificate cannot sign",
            _ => "the CA answered with an error",
        };
        Self::new(code, message)
    }
}

/// Whether `error` is the gateway's decision about a request (recorded as a refusal), not its
/// inability to decide: with its store or its trail down there is nothing to record.
fn is_refusal(error: &ServiceError) -> bool {
    !matches!(
        error.code,
        ErrorCode::StoreUnavailable | ErrorCode::AuditUnavailable
    )
}

impl From<AuditError> for ServiceError {
    fn from(_: AuditError) -> Self {
        // The writer logged and counted the failure; the store's words stay in the log.
        Self::new(
            ErrorCode::AuditUnavailable,
            "the audit trail cannot record this request, so it was not carried out",
        )
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        tracing::error!(error = %error, "session store failed");
        let message = match error {
            StoreError::Full(_) => {
                "the gateway holds as many documents as it may; try again when some have expired"
            }
            StoreError::Unavailable(_) | StoreError::Corrupt(_) => {
                "the session store is unavailable"
            }
        };
        Self::new(ErrorCode::StoreUnavailable, message)
    }
}
