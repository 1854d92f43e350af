//! Every change of a transaction: a compare-and-set on the store, retried over the latest
//! version, so a CA outcome and a portal's cancel can race without either being lost or
//! overwritten (whichever is recorded first wins). What a CA returns is verified here,
//! before it is recorded.

use std::time::Duration;

use kyso_adapter_core::{RawSignature, SignOutcome};
use time::OffsetDateTime;

use super::Signing;
use crate::domain::error::ErrorCode;
use crate::domain::transaction::{Submission, Transaction, TransactionStatus, VerifiedSignature};
use crate::providers::Provider;
use crate::store::{StoreError, Swap};
use crate::verify::{self, VerifyError};

impl Signing {
    /// How long a record is kept: until it expires, then the retention period.
    pub(super) fn record_ttl(&self, transaction: &Transaction, now: OffsetDateTime) -> Duration {
        let remaining = (transaction.expires_at - now).max(time::Duration::ZERO);
        Duration::try_from(remaining).unwrap_or_default()
            + Duration::from_secs(self.settings.retention_secs)
    }

    /// Applies `change` to the latest version until it is stored or no longer applies
    /// (`change` answers `None`), and returns the transaction as it then stands.
    pub(super) async fn record(
        &self,
        current: Transaction,
        change: impl Fn(&Transaction, OffsetDateTime) -> Option<Transaction>,
    ) -> Result<Transaction, StoreError> {
        Ok(self.record_change(current, change).await?.0)
    }

    /// [`Self::record`], also telling whether `change` was the one stored (`false` when it
    /// no longer applied to the latest version).
    pub(super) async fn record_change(
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
    pub(super) async fn settle(
        &self,
        transaction: Transaction,
        outcome: SignOutcome,
    ) -> Result<Transaction, StoreError> {
        let provider = self.providers.get(&transaction.provider).cloned();
        self.record(transaction, |current, now| match &outcome {
            SignOutcome::Pending { ca_reference } => {
                let accepted = Submission::Accepted {
                    ca_reference: ca_reference.clone(),
                };
                (current.status == TransactionStatus::Pending && current.submission != accepted)
                    .then(|| {
                        let mut next = current.next_version(now);
                        next.submission = accepted;
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
        signatures: &[RawSignature],
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
}
