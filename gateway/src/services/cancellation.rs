//! Cancelling a transaction: recorded first (a final status never changes again, so a
//! signature the CA returns afterwards is discarded), then withdrawn at the CA where its
//! protocol allows, so the citizen is no longer asked to approve. The cancellation's audit
//! record is the transaction's final outcome (written where every final status is,
//! [`super::recording`]); a refused cancellation is recorded before the refusal goes out.

use kyso_adapter_core::AdapterError;

use super::auth::Principal;
use super::{Signing, is_refusal};
use crate::audit::{Entry, Event};
use crate::domain::error::{ErrorCode, ServiceError};
use crate::domain::transaction::{Transaction, TransactionStatus, shard_of_transaction};
use crate::providers::ProviderError;

impl Signing {
    /// Cancels a pending transaction; a refusal is recorded first.
    pub async fn cancel(
        &self,
        principal: &Principal,
        transaction_id: &str,
    ) -> Result<Transaction, ServiceError> {
        let cancelled = self.cancel_pending(principal, transaction_id).await;
        match &cancelled {
            Err(error) if is_refusal(error) => {
                let mut entry = Entry::new(Event::Cancellation, "refused")
                    .actor(&principal.client_id)
                    .reason(error.code);
                // Only an id of ours: the path is the caller's to fill.
                if shard_of_transaction(transaction_id).is_some() {
                    entry = entry.transaction(transaction_id);
                }
                self.answer_recorded(entry, cancelled).await
            }
            _ => cancelled,
        }
    }

    async fn cancel_pending(
        &self,
        principal: &Principal,
        transaction_id: &str,
    ) -> Result<Transaction, ServiceError> {
        let transaction = self.load_owned(principal, transaction_id).await?;
        let (result, cancelled) = self
            .record_change(transaction, |current, now| {
                current.finish(TransactionStatus::Cancelled, now).ok()
            })
            .await?;
        if !cancelled {
            return Err(ServiceError::new(
                ErrorCode::TransactionNotPending,
                format!("the transaction is already {}", result.status.as_str()),
            )
            .with_transaction(&result.id));
        }
        self.withdraw_at_ca(&result).await;
        Ok(result)
    }

    /// Asks the CA to withdraw a cancelled transaction's request. Best effort: the cancel is
    /// recorded whatever the CA says, and the CA's own expiry ends a request it keeps.
    async fn withdraw_at_ca(&self, transaction: &Transaction) {
        let Some(reference) = transaction.submission.reference() else {
            return;
        };
        let Some(provider) = self
            .providers
            .get(&transaction.provider)
            .filter(|provider| provider.descriptor().capabilities.cancel)
        else {
            return;
        };
        match provider.cancel(reference).await {
            Ok(()) => {
                tracing::info!(transaction_id = %transaction.id, "request withdrawn at the CA");
            }
            Err(ProviderError::Ca(AdapterError::Unsupported(_))) => {}
            Err(error) => {
                tracing::warn!(transaction_id = %transaction.id, %error, "the CA did not withdraw the request");
            }
        }
    }
}
