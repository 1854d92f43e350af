//! Submitting documents to sign: from a portal's request to a transaction the CA holds.
//!
//! The steps, each closing a crash window:
//! 1. The idempotency key is looked up: a retry gets its transaction back without any call
//!    to the CA. Then the admission limits hold a pending slot of the client and a slot of
//!    the citizen ([`crate::services::admission`]); they are given back if the CA is not
//!    asked after all.
//! 2. The signer's certificate is chosen (one call to the CA).
//! 3. In one atomic step the store binds the key, stores the transaction as pending with
//!    the **intent** to call the CA (and the caller-chosen reference where the protocol has
//!    one), indexes it as pending and leases it to this instance. A crash before this step
//!    leaves nothing; after it, another instance adopts the transaction when the lease runs
//!    out. A replay of this step by the store's client is recognised as this request's own.
//! 4. The acceptance is written to the audit trail. If it cannot be, the CA is never called:
//!    the transaction fails with `audit_unavailable` and its key is released.
//! 5. The CA is called. Its answer is recorded; if the store fails just then, the answer
//!    is kept by this instance's follower and recorded when the store answers again.
//!
//! A request refused before its transaction exists is recorded as `signing.refused`.

use std::sync::Arc;
use std::time::Duration;

use kyso_adapter_core::{CaCertificate, DocumentDigest, SignRequest};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::auth::Principal;
use super::validation::{ValidDocument, check_idempotency_key, check_user_id, validate_request};
use super::{Signing, is_refusal};
use crate::audit::{Entry, Event, wire_name};
use crate::domain::document::DocumentPlan;
use crate::domain::error::{ErrorCode, ServiceError};
use crate::domain::request::SigningRequest;
use crate::domain::transaction::{
    DocumentRecord, SignerCertificate, Submission, Transaction, TransactionStatus,
    new_transaction_id, shard_of_key,
};
use crate::providers::Provider;
use crate::store::{CreateTtls, Created, IdempotencyRecord, StoreError};
use crate::trust::SignerChain;

/// How often creating a transaction is tried when the store does not answer.
const CREATE_ATTEMPTS: u32 = 3;
/// The wait before the second try (doubled before the third).
const CREATE_RETRY_DELAY: Duration = Duration::from_millis(100);
use crate::verify;

/// What creating a transaction found.
enum Creation {
    /// The transaction was created, pending with the intent to send `sign_request`.
    New {
        transaction: Box<Transaction>,
        sign_request: SignRequest,
    },
    /// The key was bound by an earlier request.
    Existing(IdempotencyRecord),
}

/// The result of `POST /v1/signatures`.
#[derive(Debug)]
pub struct Submitted {
    /// The transaction, as it stands now.
    pub transaction: Transaction,
    /// True when the same request was seen before and this is its transaction.
    pub replayed: bool,
}

impl Signing {
    /// Creates a transaction and submits it to the CA, or returns the transaction an
    /// earlier identical request with the same key created. A request refused before its
    /// transaction exists is recorded as such before the refusal goes out.
    pub async fn submit(
        &self,
        principal: &Principal,
        idempotency_key: Option<&str>,
        request: SigningRequest,
    ) -> Result<Submitted, ServiceError> {
        let mut refusal = Entry::new(Event::SigningRefused, "refused").actor(&principal.client_id);
        if self.providers.get(&request.provider).is_some() {
            refusal = refusal.provider(&request.provider);
        }
        if check_user_id(&request.user_id).is_ok() {
            refusal = refusal.citizen(&request.user_id);
        }
        let submitted = self.submit_once(principal, idempotency_key, request).await;
        match &submitted {
            // An error naming a transaction comes after its acceptance, whose outcome the
            // trail records.
            Err(error) if is_refusal(error) && error.transaction_id.is_none() => {
                self.answer_recorded(refusal.reason(error.code), submitted)
                    .await
            }
            _ => submitted,
        }
    }

    async fn submit_once(
        &self,
        principal: &Principal,
        idempotency_key: Option<&str>,
        request: SigningRequest,
    ) -> Result<Submitted, ServiceError> {
        let key = check_idempotency_key(idempotency_key)?;
        let provider = self.provider(&request.provider)?.clone();
        let documents = validate_request(
            &provider,
            &request,
            &self.documents.settings,
            self.documents.time_stamper.is_some(),
        )?;
        let fingerprint = hex::encode(Sha256::digest(serde_json::to_vec(&request).map_err(
            |_| ServiceError::new(ErrorCode::InternalError, "request cannot be fingerprinted"),
        )?));
        // Keys are scoped per client and hashed, so neither clients nor odd characters can
        // reach into each other's records.
        let scoped_key = hex::encode(Sha256::digest(
            format!("{}\n{key}", principal.client_id).as_bytes(),
        ));
        let record = IdempotencyRecord {
            fingerprint,
            transaction_id: new_transaction_id(shard_of_key(&scoped_key)),
        };
        if let Some(existing) = self.store.idempotency_record(&scoped_key).await? {
            return self.replay(principal, &existing, &record).await;
        }

        let confirmation = provider.descriptor().capabilities.confirmation_timeout;
        self.admission
            .reserve_submission(
                &principal.client_id,
                &request.user_id,
                &record.transaction_id,
                confirmation,
            )
            .await?;
        let creation = self
            .create_intended(
                principal,
                &provider,
                &request,
                documents,
                &scoped_key,
                &record,
            )
            .await;
        // Nobody was asked to sign: the citizen's and the client's slots are free again.
        let withdraw = || {
            self.admission.withdraw_submission(
                &principal.client_id,
                &request.user_id,
                &record.transaction_id,
            )
        };
        if !matches!(creation, Ok(Creation::New { .. })) {
            withdraw().await;
        }
        let (transaction, sign_request) = match creation? {
            Creation::New {
                transaction,
                sign_request,
            } => (*transaction, sign_request),
            Creation::Existing(existing) => {
                return self.replay(principal, &existing, &record).await;
            }
        };
        // No signing request reaches a CA without its record in the trail.
        if let Err(error) = self.auditor.record(accepted_entry(&transaction)).await {
            withdraw().await;
            self.abandon_unrecorded(&scoped_key, &record, transaction.clone())
                .await;
            return Err(ServiceError::from(error).with_transaction(&transaction.id));
        }

        let transaction = self.call_ca(&provider, transaction, &sign_request).await;
        if transaction.status == TransactionStatus::Failed {
            // A request the CA refused keeps no key: the portal may retry with the same one.
            if let Err(error) = self
                .store
                .release_idempotency_key(&scoped_key, &record)
                .await
            {
                tracing::warn!(%error, "could not release an idempotency key");
            }
            if let Some(error) = &transaction.error {
                return Err(ServiceError::new(error.code, error.message.clone())
                    .with_transaction(&transaction.id));
            }
        }
        Ok(Submitted {
            transaction,
            replayed: false,
        })
    }

    /// Chooses the certificate and creates the transaction with its intent to call the CA
    /// (steps 2 and 3 of the module doc); or finds the key bound by an earlier request.
    async fn create_intended(
        &self,
        principal: &Principal,
        provider: &Arc<Provider>,
        request: &SigningRequest,
        documents: Vec<ValidDocument>,
        scoped_key: &str,
        record: &IdempotencyRecord,
    ) -> Result<Creation, ServiceError> {
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
        let ready = self
            .ready_documents(
                &record.transaction_id,
                documents,
                &certificate,
                self.ttl_until(now + confirmation, now),
            )
            .await?;
        let (documents, plans): (Vec<DocumentDigest>, Vec<Option<DocumentPlan>>) = ready
            .into_iter()
            .map(|document| (document.digest, document.plan))
            .unzip();
        let sign_request = SignRequest {
            transaction_id: record.transaction_id.clone(),
            user_id: request.user_id.clone(),
            certificate_id: certificate.certificate_id.clone(),
            hash_algorithm: request.hash_algorithm,
            documents,
            description: request.description.clone().unwrap_or_default(),
        };
        let transaction =
            intended_transaction(principal, provider, &sign_request, certificate, plans, now);
        let ttls = CreateTtls {
            record: self.record_ttl(&transaction, now),
            idempotency: Duration::from_secs(self.settings.idempotency_ttl_secs),
            lease: Duration::from_millis(self.settings.follow_lease_ms),
        };
        Ok(
            match self.create(scoped_key, record, &transaction, ttls).await? {
                Created::New => Creation::New {
                    transaction: Box::new(transaction),
                    sign_request,
                },
                Created::Existing(existing) => Creation::Existing(existing),
            },
        )
    }

    /// Creates the transaction, trying again when the store did not answer: the step may
    /// have been applied with its answer lost, and a repeat is then recognised as this
    /// request's own, so the CA is still asked exactly once.
    async fn create(
        &self,
        scoped_key: &str,
        record: &IdempotencyRecord,
        transaction: &Transaction,
        ttls: CreateTtls,
    ) -> Result<Created, StoreError> {
        let mut attempt = 1;
        loop {
            match self
                .store
                .create_transaction(scoped_key, record, transaction, &self.instance_id, ttls)
                .await
            {
                Err(StoreError::Unavailable(error)) if attempt < CREATE_ATTEMPTS => {
                    tracing::warn!(transaction_id = %transaction.id, %error, attempt, "store did not answer the creation; trying again");
                    tokio::time::sleep(CREATE_RETRY_DELAY * attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Ends a transaction whose acceptance could not be recorded, before any call to the CA:
    /// failed with `audit_unavailable`, its key released so the portal may retry with it.
    /// If the store fails too, the transaction stays intended: whoever follows it finds no
    /// request at the CA and fails it as lost.
    async fn abandon_unrecorded(
        &self,
        scoped_key: &str,
        record: &IdempotencyRecord,
        transaction: Transaction,
    ) {
        let failed = self
            .record(transaction, |current, now| {
                current
                    .fail(
                        ErrorCode::AuditUnavailable,
                        "the audit trail could not record the request; it was not sent to the CA",
                        now,
                    )
                    .ok()
            })
            .await;
        let released = match failed {
            Ok(_) => self.store.release_idempotency_key(scoped_key, record).await,
            Err(error) => Err(error),
        };
        if let Err(error) = released {
            tracing::warn!(%error, "could not end a transaction whose acceptance is not in the audit trail");
        }
    }

    async fn replay(
        &self,
        principal: &Principal,
        existing: &IdempotencyRecord,
        attempted: &IdempotencyRecord,
    ) -> Result<Submitted, ServiceError> {
        if existing.fingerprint != attempted.fingerprint {
            return Err(ServiceError::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with a different request",
            ));
        }
        match self.load_owned(principal, &existing.transaction_id).await {
            Ok(transaction) => Ok(Submitted {
                transaction,
                replayed: true,
            }),
            // The key and its transaction are created together; the record can only outlive
            // the transaction past its retention.
            Err(error) if error.code == ErrorCode::TransactionNotFound => Err(ServiceError::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key belongs to a transaction that is no longer kept: use a new key",
            )),
            Err(error) => Err(error),
        }
    }

    /// Calls the CA for a transaction stored with its intent, and records the answer; the
    /// transaction as it then stands (pending, final, or still intended when the answer
    /// could not be recorded yet).
    async fn call_ca(
        &self,
        provider: &Arc<Provider>,
        transaction: Transaction,
        sign_request: &SignRequest,
    ) -> Transaction {
        let outcome = match provider.begin_sign(sign_request).await {
            Ok(outcome) => outcome,
            Err(error)
                if error.outcome_unknown() && transaction.submission.reference().is_some() =>
            {
                // The CA may have the request although we saw no answer: keep the
                // transaction pending and ask the CA under the caller-chosen reference,
                // rather than report a failure that may be false.
                tracing::warn!(transaction_id = %transaction.id, %error, "CA did not answer the submission; asking it");
                self.follow(transaction.id.clone());
                return transaction;
            }
            Err(error) => {
                let code = error.code();
                tracing::warn!(transaction_id = %transaction.id, %error, "CA refused the submission");
                let failed = transaction.clone();
                return match self
                    .record(failed, |current, now| {
                        current.fail(code, submission_message(code), now).ok()
                    })
                    .await
                {
                    Ok(recorded) => recorded,
                    Err(store_error) => {
                        // Left intended; the follower of whoever holds the lease then
                        // finds no request at the CA and fails it as lost.
                        tracing::error!(transaction_id = %transaction.id, %store_error, "could not record a refused submission");
                        self.follow(transaction.id.clone());
                        transaction
                    }
                };
            }
        };
        match self.settle(transaction.clone(), outcome.clone()).await {
            Ok(settled) => {
                if settled.status == TransactionStatus::Pending {
                    self.follow(settled.id.clone());
                }
                settled
            }
            Err(error) => {
                tracing::warn!(transaction_id = %transaction.id, %error, "store unavailable after the CA answered; recording it later");
                self.follow_answered(transaction.id.clone(), outcome);
                transaction
            }
        }
    }

    async fn choose_certificate(
        &self,
        provider: &Provider,
        user_id: &str,
        certificate_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<CaCertificate, ServiceError> {
        let certificates = provider.certificates(user_id).await?;
        if let Some(wanted) = certificate_id {
            let certificate = certificates
                .into_iter()
                .find(|certificate| certificate.certificate_id == wanted)
                .ok_or_else(|| {
                    ServiceError::new(
                        ErrorCode::CertificateNotFound,
                        "the citizen holds no certificate with this certificate_id there",
                    )
                })?;
            self.check_usable(provider, &certificate, user_id, now)
                .await?;
            return Ok(certificate);
        }
        if certificates.is_empty() {
            return Err(ServiceError::new(
                ErrorCode::CertificateNotFound,
                "the citizen holds no certificate at this provider",
            ));
        }
        let mut first_refusal = None;
        let mut candidates = Vec::new();
        for certificate in certificates {
            match self
                .check_usable(provider, &certificate, user_id, now)
                .await
            {
                Ok(()) => candidates.push(certificate),
                Err(error) => {
                    first_refusal.get_or_insert(error);
                }
            }
        }
        match candidates.len() {
            1 => Ok(candidates.remove(0)),
            0 => Err(first_refusal.unwrap_or_else(|| {
                ServiceError::new(ErrorCode::CertificateUnusable, "no usable certificate")
            })),
            _ => Err(ServiceError::new(
                ErrorCode::CertificateAmbiguous,
                "the citizen holds several usable certificates: choose one with certificate_id",
            )),
        }
    }
}

impl Signing {
    /// Whether `certificate` may be asked to sign for `user_id`: the CA says it is active,
    /// and its path, revocation status (under the provider's policy) and citizen pass.
    async fn check_usable(
        &self,
        provider: &Provider,
        certificate: &CaCertificate,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), ServiceError> {
        if !certificate.active {
            return Err(ServiceError::new(
                ErrorCode::CertificateUnusable,
                "the CA says this certificate cannot sign",
            ));
        }
        let policy = provider.revocation_policy();
        let signer_chain = SignerChain {
            anchors: provider.trust_anchors().clone(),
            policy,
            signer: certificate.certificate_der.clone(),
            chain: certificate.chain_der.clone(),
            at: now,
        };
        let report = self
            .trust
            .certificate_report(signer_chain, user_id.to_owned())
            .await?;
        if policy.accepts(&report) {
            Ok(())
        } else if report.sub_indication == Some(verify::SubIndication::TryLater) {
            Err(ServiceError::new(
                ErrorCode::RevocationUnavailable,
                report.message,
            ))
        } else {
            Err(ServiceError::new(
                ErrorCode::CertificateUnusable,
                report.message,
            ))
        }
    }
}

/// A new pending transaction with the intent to call the CA recorded.
fn intended_transaction(
    principal: &Principal,
    provider: &Provider,
    sign_request: &SignRequest,
    certificate: CaCertificate,
    plans: Vec<Option<DocumentPlan>>,
    now: OffsetDateTime,
) -> Transaction {
    let confirmation = provider.descriptor().capabilities.confirmation_timeout;
    Transaction {
        id: sign_request.transaction_id.clone(),
        client_id: principal.client_id.clone(),
        provider: provider.id().to_owned(),
        user_id: sign_request.user_id.clone(),
        status: TransactionStatus::Pending,
        hash_algorithm: sign_request.hash_algorithm,
        description: sign_request.description.clone(),
        created_at: now,
        updated_at: now,
        expires_at: now + confirmation,
        certificate: SignerCertificate {
            certificate_id: certificate.certificate_id,
            certificate_der: certificate.certificate_der,
            chain_der: certificate.chain_der,
        },
        documents: sign_request
            .documents
            .iter()
            .zip(plans)
            .map(|(document, plan)| DocumentRecord {
                id: document.id.clone(),
                name: document.name.clone(),
                digest: document.digest.clone(),
                signature: None,
                plan,
            })
            .collect(),
        submission: Submission::Intended {
            caller_reference: provider.caller_reference(sign_request),
        },
        error: None,
        awaiting_revocation: None,
        version: 1,
    }
}

/// The `signing.accepted` record of a transaction about to be sent to its CA: the digests to
/// sign, the files' SHA-256 and how they are signed, and the signer's certificate
/// fingerprint, never the documents' names.
fn accepted_entry(transaction: &Transaction) -> Entry {
    let digests: Vec<String> = transaction
        .documents
        .iter()
        .map(|document| hex::encode(&document.digest))
        .collect();
    // Documents sent as files: what was sent (its SHA-256) and how it is to be signed.
    let files: Vec<serde_json::Value> = transaction
        .documents
        .iter()
        .filter_map(|document| document.plan.as_ref())
        .map(|plan| {
            serde_json::json!({
                "sha256": hex::encode(&plan.original_sha256),
                "format": plan.options.format,
                "level": plan.options.level.as_str(),
            })
        })
        .collect();
    let entry = Entry::new(Event::SigningAccepted, "accepted")
        .actor(&transaction.client_id)
        .transaction(&transaction.id)
        .provider(&transaction.provider)
        .citizen(&transaction.user_id)
        .detail("hash_algorithm", wire_name(transaction.hash_algorithm))
        .detail("digests", digests)
        .detail(
            "signer_sha256",
            hex::encode(Sha256::digest(&transaction.certificate.certificate_der)),
        );
    if files.is_empty() {
        entry
    } else {
        entry.detail("files", files)
    }
}

fn submission_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::CaTimeout => "the CA did not answer the signing request in time",
        ErrorCode::CaUnavailable => "the CA is unavailable",
        ErrorCode::CertificateUnusable => "the CA says the certificate cannot sign",
        ErrorCode::ProviderUnavailable => {
            "the CA is failing and the gateway is not calling it for now; submit again later"
        }
        ErrorCode::ProviderBusy => "too many calls to this CA were in flight; submit again",
        _ => "the CA refused the signing request",
    }
}
