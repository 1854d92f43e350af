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
//! - [`cancellation`]: cancelling a transaction, and withdrawing it at the CA;
//! - [`verification`]: judging any signature against every provider's trust anchors;
//! - [`auth`]: issuing and checking portal tokens;
//! - [`admission`]: the limits on what each portal may ask and how often a citizen is asked.

pub mod admission;
pub mod auth;
mod cancellation;
mod certificates;
mod following;
mod recording;
mod submission;
pub mod validation;
mod verification;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use kyso_adapter_core::AdapterError;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::config::TransactionSettings;
use crate::domain::error::{ErrorCode, ServiceError};
use crate::domain::transaction::Transaction;
use crate::metrics::Metrics;
use crate::providers::{Provider, Providers};
use crate::store::{Store, StoreError};
use crate::trust::Trust;
use admission::Admission;
use auth::Principal;

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
}

impl Signing {
    /// The service; followers are spawned on `runtime`; `instance_id` names this instance in
    /// follow leases.
    #[allow(clippy::too_many_arguments)] // each is a separately built part of the service
    pub fn new(
        store: Arc<dyn Store>,
        providers: Arc<Providers>,
        trust: Arc<Trust>,
        admission: Arc<Admission>,
        metrics: Metrics,
        settings: TransactionSettings,
        runtime: tokio::runtime::Handle,
        instance_id: String,
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

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        tracing::error!(error = %error, "session store failed");
        Self::new(
            ErrorCode::StoreUnavailable,
            "the session store is unavailable",
        )
    }
}
