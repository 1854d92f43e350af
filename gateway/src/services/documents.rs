//! Documents signed as files, through the transaction flow:
//! - at submission, once the signer's certificate is chosen, each file is prepared
//!   ([`crate::documents::preparation`]); a prepared PDF the gateway keeps goes to the store
//!   beside its transaction, with the transaction's lifetime, so any instance can finish it;
//! - once the CA's signature is verified, the signed files are made: the CMS around the
//!   signature, the time-stamp for B-T, the PDF or `.p7s`, each read back and checked
//!   ([`crate::documents::assembly`]) and stored before the transaction is recorded as
//!   signed, so `signed` always means the files are there;
//! - any instance serves a signed file, and in the two-step mode assembles it from the
//!   original the portal sends again.
//!
//! The heavy work (base64, hashing, PDF parsing, RSA) runs off the async workers.

use std::time::Duration;

use kyso_adapter_core::{CaCertificate, DocumentDigest};
use kyso_documents::cms::SignedCms;
use kyso_documents::pades::PreparedPdf;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::Signing;
use super::auth::Principal;
use super::validation::{ValidDocument, decode_content};
use crate::certificate_cache;
use crate::cpu_bound::Urgency;
use crate::documents::assembly::{self, AssemblyError};
use crate::documents::preparation::{self, PreparationError};
use crate::documents::timestamping::TimeStampingError;
use crate::domain::document::{
    DocumentFormat, DocumentPlan, DocumentRetention, SignatureLevel, SignedDocument,
};
use crate::domain::error::{ErrorCode, ServiceError};
use crate::domain::transaction::{Transaction, TransactionStatus, VerifiedSignature};
use crate::trust::SignerChain;

/// A signed file, ready to be sent.
#[derive(Debug)]
pub struct SignedFile {
    /// PAdES or CAdES.
    pub format: DocumentFormat,
    /// A file name for it: the document's name, with `.p7s` added for CAdES.
    pub file_name: String,
    /// The file.
    pub bytes: Vec<u8>,
}

/// The name a PDF's signature shows: the signer certificate's display name.
fn signer_display_name(der: &[u8]) -> String {
    certificate_cache::facts(der)
        .map(|facts| facts.display_name.clone())
        .unwrap_or_default()
}

/// A document of a submission, ready for the CA: the digest it signs and, for a file, what
/// the transaction records about it.
pub(super) struct ReadyDocument {
    /// What the CA is sent.
    pub digest: DocumentDigest,
    /// For a file: its plan.
    pub plan: Option<DocumentPlan>,
}

/// What time-stamping made of a CMS.
struct Stamped {
    cms: SignedCms,
    level: SignatureLevel,
    level_note: Option<String>,
    time_stamped_at: Option<OffsetDateTime>,
}

/// The store name of the prepared PDF of the document at `index`.
fn prepared_name(index: usize) -> String {
    format!("prepared:{index}")
}

impl Signing {
    /// The documents of a submission made ready for `certificate`: digests as they are,
    /// files prepared (a prepared PDF the gateway keeps is stored for `ttl` under
    /// `transaction_id`).
    pub(super) async fn ready_documents(
        &self,
        transaction_id: &str,
        documents: Vec<ValidDocument>,
        certificate: &CaCertificate,
        ttl: Duration,
    ) -> Result<Vec<ReadyDocument>, ServiceError> {
        // Digests are ready as they are: only files are worth a trip off the workers.
        if documents
            .iter()
            .all(|document| matches!(document, ValidDocument::Digest(_)))
        {
            return Ok(documents
                .into_iter()
                .filter_map(|document| match document {
                    ValidDocument::Digest(digest) => Some(ReadyDocument { digest, plan: None }),
                    ValidDocument::File(_) => None,
                })
                .collect());
        }
        let signer_der = certificate.certificate_der.clone();
        let signer_name = signer_display_name(&signer_der);
        let signing_time = OffsetDateTime::now_utc();
        let prepared = blocking(Urgency::Starting, move || {
            documents
                .into_iter()
                .enumerate()
                .map(|(index, document)| match document {
                    ValidDocument::Digest(digest) => Ok((digest, None)),
                    ValidDocument::File(file) => {
                        let field = format!("documents[{index}]");
                        let bytes = file.decode(&field)?;
                        let prepared = preparation::prepare(
                            &bytes,
                            &file.options,
                            &signer_der,
                            &signer_name,
                            signing_time,
                        )
                        .map_err(|error| preparation_refused(&field, &file.name, error))?;
                        let digest = DocumentDigest {
                            id: file.id,
                            name: file.name,
                            digest: prepared.digest_to_sign.to_vec(),
                        };
                        Ok((digest, Some((prepared.plan, prepared.to_store))))
                    }
                })
                .collect::<Result<Vec<_>, ServiceError>>()
        })
        .await?;
        let mut ready = Vec::with_capacity(prepared.len());
        for (index, (digest, file)) in prepared.into_iter().enumerate() {
            let plan = match file {
                None => None,
                Some((plan, to_store)) => {
                    if let Some(bytes) = to_store {
                        self.store
                            .put_document(transaction_id, &prepared_name(index), &bytes, ttl)
                            .await?;
                    }
                    Some(plan)
                }
            };
            ready.push(ReadyDocument { digest, plan });
        }
        Ok(ready)
    }

    /// The signed files of `transaction`, whose CA signatures (`signatures`, in document
    /// order) verified: each made, checked and stored; `None` for a document signed as a
    /// digest or kept by the portal. A refusal says why the transaction must fail.
    pub(super) async fn make_signed_files(
        &self,
        transaction: &Transaction,
        signatures: &[VerifiedSignature],
    ) -> Result<Vec<Option<SignedDocument>>, ServiceError> {
        let mut made = Vec::with_capacity(signatures.len());
        for (index, (document, signature)) in
            transaction.documents.iter().zip(signatures).enumerate()
        {
            let plan = match &document.plan {
                Some(plan) if plan.options.retention == DocumentRetention::Gateway => plan,
                _ => {
                    made.push(None);
                    continue;
                }
            };
            let prepared = match plan.options.format {
                DocumentFormat::Pades => {
                    let stored = self
                        .store
                        .document(&transaction.id, &prepared_name(index))
                        .await?
                        .ok_or_else(|| {
                            ServiceError::new(
                                ErrorCode::DocumentCheckFailed,
                                format!("documents[{index}]: the prepared PDF is no longer kept"),
                            )
                        })?;
                    Some(
                        PreparedPdf::from_bytes(&stored)
                            .map_err(|error| check_failed(index, error.into()))?,
                    )
                }
                DocumentFormat::Cades => None,
            };
            let (bytes, stamped) = self
                .build_signed_file(transaction, index, plan, signature, prepared)
                .await?;
            let stored_as = format!("signed:{index}:{}", uuid::Uuid::new_v4().simple());
            self.store
                .put_document(
                    &transaction.id,
                    &stored_as,
                    &bytes,
                    self.record_ttl(transaction, OffsetDateTime::now_utc()),
                )
                .await?;
            made.push(Some(SignedDocument {
                level: stamped.level,
                level_note: stamped.level_note,
                bytes: bytes.len() as u64,
                sha256: Sha256::digest(&bytes).to_vec(),
                time_stamped_at: stamped.time_stamped_at,
                stored_as,
            }));
        }
        Ok(made)
    }

    /// The signed file of document `document_id` of a signed transaction of the caller,
    /// kept by the gateway.
    pub async fn signed_file(
        &self,
        principal: &Principal,
        transaction_id: &str,
        document_id: &str,
    ) -> Result<SignedFile, ServiceError> {
        let transaction = self.load_owned(principal, transaction_id).await?;
        let (_, plan, _) = signed_document_of(&transaction, document_id)?;
        let made = match (&plan.signed, plan.options.retention) {
            (Some(made), _) => made,
            (None, DocumentRetention::Portal) => {
                return Err(ServiceError::new(
                    ErrorCode::DocumentNotReady,
                    format!(
                        "document {document_id:?} is kept by the portal: POST it to /v1/signatures/{transaction_id}/documents/{{document_id}}/assemble"
                    ),
                ));
            }
            (None, DocumentRetention::Gateway) => {
                return Err(ServiceError::new(
                    ErrorCode::DocumentNotFound,
                    format!("document {document_id:?} has no signed file"),
                ));
            }
        };
        let bytes = self
            .store
            .document(&transaction.id, &made.stored_as)
            .await?
            .ok_or_else(|| {
                ServiceError::new(
                    ErrorCode::DocumentNotFound,
                    format!("the signed file of document {document_id:?} is no longer kept"),
                )
            })?;
        Ok(signed_file_named(&transaction, document_id, plan, bytes))
    }

    /// The two-step mode: the signed file of document `document_id` of a signed transaction
    /// of the caller, assembled around `original` (base64 of the file the portal sent at
    /// submission and kept).
    pub async fn assemble_file(
        &self,
        principal: &Principal,
        transaction_id: &str,
        document_id: &str,
        original: String,
    ) -> Result<SignedFile, ServiceError> {
        let transaction = self.load_owned(principal, transaction_id).await?;
        let (index, plan, signature) = signed_document_of(&transaction, document_id)?;
        if plan.options.retention != DocumentRetention::Portal {
            return Err(ServiceError::new(
                ErrorCode::InvalidDocument,
                format!(
                    "document {document_id:?} is kept by the gateway: GET /v1/signatures/{transaction_id}/documents/{{document_id}}"
                ),
            ));
        }
        let limit = self.documents.settings.max_document_bytes;
        let field = "content".to_owned();
        let (plan_for_check, certificate) = (plan.clone(), transaction.certificate.clone());
        let prepared = blocking(Urgency::Finishing, move || {
            let bytes = decode_content(&original, &field)?;
            if bytes.len() > limit {
                return Err(ServiceError::new(
                    ErrorCode::DocumentTooLarge,
                    format!(
                        "the file has {} bytes; documents.max_document_bytes is {limit}",
                        bytes.len()
                    ),
                ));
            }
            let not_the_original = || {
                ServiceError::new(
                    ErrorCode::InvalidDocument,
                    "this is not the file sent with the transaction (its SHA-256 differs)",
                )
            };
            match plan_for_check.options.format {
                DocumentFormat::Pades => {
                    let signer_name = signer_display_name(&certificate.certificate_der);
                    preparation::prepare_again(&bytes, &plan_for_check, &signer_name)
                        .map_err(|error| preparation_refused("content", "", error))?
                        .ok_or_else(not_the_original)
                        .map(Some)
                }
                DocumentFormat::Cades => {
                    if Sha256::digest(&bytes).as_slice() == plan_for_check.original_sha256 {
                        Ok(None)
                    } else {
                        Err(not_the_original())
                    }
                }
            }
        })
        .await?;
        let (bytes, _) = self
            .build_signed_file(&transaction, index, plan, signature, prepared)
            .await?;
        Ok(signed_file_named(&transaction, document_id, plan, bytes))
    }

    /// Builds, time-stamps and checks the signed file of the document at `index`.
    async fn build_signed_file(
        &self,
        transaction: &Transaction,
        index: usize,
        plan: &DocumentPlan,
        signature: &VerifiedSignature,
        prepared: Option<PreparedPdf>,
    ) -> Result<(Vec<u8>, Stamped), ServiceError> {
        let (plan_owned, signature_owned, certificate) = (
            plan.clone(),
            signature.clone(),
            transaction.certificate.clone(),
        );
        let cms = blocking(Urgency::Finishing, move || {
            assembly::signed_cms(&plan_owned, &signature_owned, &certificate)
                .map_err(|error| check_failed(index, error))
        })
        .await?;
        let stamped = self.time_stamp(cms, plan, index).await?;
        let (plan_owned, certificate) = (plan.clone(), transaction.certificate.clone());
        let documents = self.documents.clone();
        let cms = stamped.cms.clone();
        let bytes = blocking(Urgency::Finishing, move || {
            let file = assembly::signed_file(plan_owned.options.format, &cms, prepared.as_ref())
                .map_err(|error| check_failed(index, error))?;
            let anchors = documents
                .time_stamper
                .as_ref()
                .map(|stamper| stamper.anchors());
            assembly::check_signed_file(&file, &plan_owned, &certificate, anchors)
                .map_err(|error| check_failed(index, error))?;
            Ok(file)
        })
        .await?;
        if plan.options.level == SignatureLevel::LongTerm
            && stamped.level == SignatureLevel::Timestamped
        {
            return self
                .with_validation_data(transaction, index, plan, bytes, stamped)
                .await;
        }
        Ok((bytes, stamped))
    }

    /// B-LT: the time-stamped PDF `signed` with the validation data of the signer's path
    /// (its certificates and the OCSP responses or CRLs the gateway kept when it verified the
    /// signature) in a DSS, appended as an incremental update; left at B-T, with a note,
    /// when no revocation data is kept.
    async fn with_validation_data(
        &self,
        transaction: &Transaction,
        index: usize,
        plan: &DocumentPlan,
        signed: Vec<u8>,
        mut stamped: Stamped,
    ) -> Result<(Vec<u8>, Stamped), ServiceError> {
        let provider = self.provider(&transaction.provider)?;
        let signer_chain = SignerChain {
            anchors: provider.trust_anchors().clone(),
            policy: provider.revocation_policy(),
            signer: transaction.certificate.certificate_der.clone(),
            chain: transaction.certificate.chain_der.clone(),
            at: OffsetDateTime::now_utc(),
        };
        let data = self.trust.validation_data(&signer_chain).await?;
        if data.revocation.ocsp_responses.is_empty() && data.revocation.crls.is_empty() {
            stamped.level_note = Some(
                "no revocation data of the signer's path is kept to embed: the signature is B-T"
                    .to_owned(),
            );
            return Ok((signed, stamped));
        }
        let plan = plan.clone();
        let bytes = blocking(Urgency::Finishing, move || {
            assembly::with_validation_data(&signed, &plan, &data)
                .map_err(|error| check_failed(index, error))
        })
        .await?;
        stamped.level = SignatureLevel::LongTerm;
        Ok((bytes, stamped))
    }

    /// `cms` time-stamped when `plan`'s level asks for it; left at B-B, with a note, when the
    /// time-stamping authority fails and the request allowed it.
    async fn time_stamp(
        &self,
        cms: SignedCms,
        plan: &DocumentPlan,
        index: usize,
    ) -> Result<Stamped, ServiceError> {
        let asked = plan.options.level;
        let basic = |cms, note: String| Stamped {
            cms,
            level: SignatureLevel::Basic,
            level_note: Some(note),
            time_stamped_at: None,
        };
        if !asked.needs_time_stamp() {
            return Ok(Stamped {
                cms,
                level: SignatureLevel::Basic,
                level_note: None,
                time_stamped_at: None,
            });
        }
        let Some(stamper) = &self.documents.time_stamper else {
            // Submission refused this level without a TSA unless the fallback was allowed.
            return Ok(basic(
                cms,
                "no time-stamping authority is configured; left at B-B as the request allowed"
                    .to_owned(),
            ));
        };
        let signature_value = cms
            .signature_value()
            .map_err(|error| check_failed(index, error.into()))?;
        match stamper.stamp(&signature_value).await {
            Ok(token) => {
                let stamped = cms
                    .with_signature_time_stamp(&token)
                    .map_err(|error| check_failed(index, error.into()))?;
                Ok(Stamped {
                    cms: stamped,
                    level: SignatureLevel::Timestamped,
                    level_note: None,
                    time_stamped_at: Some(token.gen_time()),
                })
            }
            Err(error) if plan.options.allow_level_fallback => {
                tracing::warn!(%error, "time-stamping failed; the document is left at B-B as allowed");
                Ok(basic(
                    cms,
                    format!(
                        "the time-stamping authority failed ({error}); left at B-B as the request allowed"
                    ),
                ))
            }
            Err(error) => {
                tracing::warn!(%error, "time-stamping failed; the transaction fails");
                let code = match error {
                    TimeStampingError::Request(_) => ErrorCode::DocumentCheckFailed,
                    _ if error.is_unavailable() => ErrorCode::TimestampUnavailable,
                    _ => ErrorCode::TimestampInvalid,
                };
                Err(ServiceError::new(
                    code,
                    format!(
                        "documents[{index}]: the time-stamping authority failed ({error}), and the document does not allow falling back to B-B"
                    ),
                ))
            }
        }
    }
}

/// The document `document_id` of a signed `transaction` sent as a file: its index, plan and
/// verified signature.
fn signed_document_of<'a>(
    transaction: &'a Transaction,
    document_id: &str,
) -> Result<(usize, &'a DocumentPlan, &'a VerifiedSignature), ServiceError> {
    let not_found = || {
        ServiceError::new(
            ErrorCode::DocumentNotFound,
            format!(
                "this transaction has no signed file for document {document_id:?} (it was sent as a digest, or no such document)"
            ),
        )
    };
    let (index, document) = transaction
        .documents
        .iter()
        .enumerate()
        .find(|(_, document)| document.id == document_id)
        .ok_or_else(not_found)?;
    let plan = document.plan.as_ref().ok_or_else(not_found)?;
    match (&document.signature, transaction.status) {
        (Some(signature), TransactionStatus::Signed) => Ok((index, plan, signature)),
        _ => Err(ServiceError::new(
            ErrorCode::DocumentNotReady,
            format!(
                "the transaction is {}: its documents are returned once it is signed",
                transaction.status.as_str()
            ),
        )),
    }
}

fn signed_file_named(
    transaction: &Transaction,
    document_id: &str,
    plan: &DocumentPlan,
    bytes: Vec<u8>,
) -> SignedFile {
    let name = transaction
        .documents
        .iter()
        .find(|document| document.id == document_id)
        .map_or(document_id, |document| document.name.as_str());
    let file_name = match plan.options.format {
        DocumentFormat::Pades => name.to_owned(),
        DocumentFormat::Cades => format!("{name}.p7s"),
    };
    SignedFile {
        format: plan.options.format,
        file_name,
        bytes,
    }
}

/// The refusal of a file that cannot be prepared: the portal's file or options.
fn preparation_refused(field: &str, name: &str, error: PreparationError) -> ServiceError {
    let named = if name.is_empty() {
        field.to_owned()
    } else {
        format!("{field} ({name})")
    };
    ServiceError::new(ErrorCode::InvalidDocument, format!("{named}: {error}"))
}

/// The failure of a signed document that could not be made or did not pass its check.
fn check_failed(index: usize, error: AssemblyError) -> ServiceError {
    tracing::error!(%error, document = index, "a signed document could not be made");
    ServiceError::new(
        ErrorCode::DocumentCheckFailed,
        format!("documents[{index}]: {error}"),
    )
}

/// Runs `work` off the async workers (see [`crate::cpu_bound`]).
async fn blocking<T: Send + 'static>(
    urgency: Urgency,
    work: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    crate::cpu_bound::run(urgency, work)
        .await
        .unwrap_or_else(|error| Err(error.into_service_error("document work stopped unexpectedly")))
}
