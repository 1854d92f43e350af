//! Every change of a transaction: a compare-and-set on the store, retried over the latest
//! version, so a CA outcome and a portal's cancel can race without either being lost or
//! overwritten (whichever is recorded first wins). What a CA returns is verified here,
//! before it is recorded. A final status, once stored, goes to the audit trail, and a
//! transaction that ends gives its client's pending slot back ([`crate::services::admission`]).

use std::time::Duration;

use kyso_adapter_core::{RawSignature, SignOutcome};
use time::OffsetDateTime;

use super::Signing;
use crate::audit::{AuditError, events};
use crate::domain::document::SignedDocument;
use crate::domain::error::ErrorCode;
use crate::domain::transaction::{Submission, Transaction, TransactionStatus, VerifiedSignature};
use crate::store::{StoreError, Swap};
use crate::trust::{DocumentSignature, SignerChain};
use crate::verify::{self, RevocationPolicy};

impl Signing {
    /// How long a record is kept: until it expires, then the retention period.
    pub(super) fn record_ttl(&self, transaction: &Transaction, now: OffsetDateTime) -> Duration {
        self.ttl_until(transaction.expires_at, now)
    }

    /// How long a record of a transaction expiring at `expires_at` is kept from `now`.
    pub(super) fn ttl_until(&self, expires_at: OffsetDateTime, now: OffsetDateTime) -> Duration {
        let remaining = (expires_at - now).max(time::Duration::ZERO);
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
                        self.admission
                            .release_pending(&next.client_id, &next.id)
                            .await;
                        self.metrics
                            .count_final_status(&next.provider, next.status.as_str());
                        tracing::info!(
                            transaction_id = %next.id,
                            provider = %next.provider,
                            status = next.status.as_str(),
                            "transaction finished"
                        );
                        // A failure is logged and counted by the writer; the outcome is
                        // recorded again before the transaction leaves the pending index.
                        let _ = self.record_final_outcome(&next).await;
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

    /// Records `transaction`'s final outcome in the audit trail (once per transaction, so
    /// recording it again is harmless); nothing while it is pending.
    pub(super) async fn record_final_outcome(
        &self,
        transaction: &Transaction,
    ) -> Result<(), AuditError> {
        let keep = self.record_ttl(transaction, OffsetDateTime::now_utc());
        match events::final_outcome(transaction, keep) {
            Some(entry) => self.auditor.record(entry).await,
            None => Ok(()),
        }
    }

    /// Records what the CA said about a transaction: signatures (verified here, before the
    /// compare-and-set and off the async workers), a refusal, an expiry, or that it is still
    /// pending under some reference.
    pub(super) async fn settle(
        &self,
        transaction: Transaction,
        outcome: SignOutcome,
    ) -> Result<Transaction, StoreError> {
        let verdict = match &outcome {
            SignOutcome::Signed(signatures) if transaction.status == TransactionStatus::Pending => {
                self.judge(&transaction, signatures.clone()).await
            }
            _ => None,
        };
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
            SignOutcome::Signed(_) => match verdict.as_ref()? {
                Verdict::Verified(signatures, files) => {
                    let mut next = current.finish(TransactionStatus::Signed, now).ok()?;
                    for ((document, signature), file) in
                        next.documents.iter_mut().zip(signatures).zip(files)
                    {
                        document.signature = Some(signature.clone());
                        if let (Some(plan), Some(file)) = (&mut document.plan, file) {
                            plan.signed = Some(file.clone());
                        }
                    }
                    Some(next)
                }
                Verdict::Refused(code, message) => current.fail(*code, message.clone(), now).ok(),
                Verdict::Undecided(message) if now >= current.expires_at => current
                    .fail(ErrorCode::RevocationUnavailable, message.clone(), now)
                    .ok(),
                Verdict::Undecided(message) => (current.status == TransactionStatus::Pending
                    && current.awaiting_revocation.as_ref() != Some(message))
                .then(|| {
                    let mut next = current.next_version(now);
                    next.awaiting_revocation = Some(message.clone());
                    next
                }),
            },
            SignOutcome::Rejected => current.finish(TransactionStatus::Rejected, now).ok(),
            SignOutcome::Expired => match &current.awaiting_revocation {
                // The citizen signed; what is missing is the revocation status.
                Some(message) => current
                    .fail(ErrorCode::RevocationUnavailable, message.clone(), now)
                    .ok(),
                None => current.finish(TransactionStatus::Expired, now).ok(),
            },
            SignOutcome::Failed(message) => {
                tracing::warn!(transaction_id = %current.id, ca_message = %message, "CA reports the signing failed");
                current
                    .fail(ErrorCode::CaError, "the CA reports that the signing failed", now)
                    .ok()
            }
        })
        .await
    }

    /// Verifies what the CA returned for `transaction` ([`crate::trust`]): every document's
    /// signature, the signer's path to the provider's trust anchors, its revocation status
    /// under the provider's policy and that it names the citizen, at the time of reception.
    /// `None` when the provider is no longer configured.
    async fn judge(
        &self,
        transaction: &Transaction,
        signatures: Vec<RawSignature>,
    ) -> Option<Verdict> {
        let provider = self.providers.get(&transaction.provider)?.clone();
        let policy = provider.revocation_policy();
        let verdict = match signed_documents(transaction, signatures) {
            Err(verdict) => verdict,
            Ok(signed) => {
                let now = OffsetDateTime::now_utc();
                let signer_chain = SignerChain {
                    anchors: provider.trust_anchors().clone(),
                    policy,
                    signer: transaction.certificate.certificate_der.clone(),
                    chain: transaction.certificate.chain_der.clone(),
                    at: now,
                };
                match self
                    .trust
                    .verify_signatures(signer_chain, Some(transaction.user_id.clone()), signed)
                    .await
                {
                    Ok(results) => match verdict_of(transaction, results, policy, now) {
                        Verdict::Verified(signatures, _) => {
                            match self.make_signed_files(transaction, &signatures).await {
                                Ok(files) => Verdict::Verified(signatures, files),
                                Err(error) => Verdict::Refused(error.code, error.message),
                            }
                        }
                        other => other,
                    },
                    Err(error) => Verdict::Refused(error.code, error.message),
                }
            }
        };
        let passed = matches!(verdict, Verdict::Verified(..));
        if !matches!(verdict, Verdict::Undecided(_)) {
            for _ in &transaction.documents {
                self.metrics.count_verification(provider.id(), passed);
            }
        }
        match &verdict {
            Verdict::Refused(_, message) => {
                tracing::error!(transaction_id = %transaction.id, provider = provider.id(), %message, "CA result refused");
            }
            Verdict::Undecided(message) => {
                tracing::warn!(transaction_id = %transaction.id, provider = provider.id(), %message, "CA result waits for revocation status");
            }
            Verdict::Verified(..) => {}
        }
        Some(verdict)
    }
}

/// What the verification of a CA's answer decided.
enum Verdict {
    /// Every document's signature passed; in document order, with the signed file made for
    /// each document the gateway keeps.
    Verified(Vec<VerifiedSignature>, Vec<Option<SignedDocument>>),
    /// Something did not pass: the transaction fails with this code and message.
    Refused(ErrorCode, String),
    /// Everything passed but the revocation status a `required` policy needs, which is
    /// unavailable for now (why): the transaction stays pending and is judged again.
    Undecided(String),
}

/// The CA's signature for each of `transaction`'s documents, in document order; a refusal
/// if one is missing.
fn signed_documents(
    transaction: &Transaction,
    mut signatures: Vec<RawSignature>,
) -> Result<Vec<DocumentSignature>, Verdict> {
    transaction
        .documents
        .iter()
        .map(|document| {
            let position = signatures
                .iter()
                .position(|signature| signature.document_id == document.id)
                .ok_or_else(|| {
                    Verdict::Refused(
                        ErrorCode::CaError,
                        format!(
                            "the CA returned no signature for document {:?}",
                            document.id
                        ),
                    )
                })?;
            Ok(DocumentSignature {
                hash_algorithm: transaction.hash_algorithm,
                digest: document.digest.clone(),
                signature: signatures.swap_remove(position).signature,
            })
        })
        .collect()
}

/// The [`Verdict`] on the verification of each of `transaction`'s documents under `policy`.
fn verdict_of(
    transaction: &Transaction,
    results: Vec<verify::SignatureVerification>,
    policy: RevocationPolicy,
    now: OffsetDateTime,
) -> Verdict {
    let mut verified = Vec::with_capacity(results.len());
    for (document, result) in transaction.documents.iter().zip(results) {
        let report = result.report;
        match result.signature {
            Some(checked) if policy.accepts(&report) => verified.push(VerifiedSignature {
                signature: checked.signature,
                algorithm: checked.algorithm,
                verified_at: now,
                report,
            }),
            Some(_) if report.sub_indication == Some(verify::SubIndication::TryLater) => {
                return Verdict::Undecided(report.message);
            }
            _ => {
                return Verdict::Refused(
                    ErrorCode::SignatureInvalid,
                    format!("document {:?}: {}", document.id, report.message),
                );
            }
        }
    }
    Verdict::Verified(verified, Vec::new())
}
