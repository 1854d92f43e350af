//! Judging a signed document for anyone: a PDF, or a `.p7s` with the file it signs, gets one
//! report per signature in it, the same report a signature over a digest gets
//! ([`Signing::judge_signed_digest`]: the signer's path to every provider's trust anchors, revocation, the
//! citizen when one is named, the signature over the digest of its signed attributes), with
//! what the document's structure shows ([`crate::documents::inspection`]) folded in:
//!
//! | what the structure shows | indication | sub-indication |
//! |---|---|---|
//! | a PDF signature covers an earlier revision, and what follows it is not only incremental updates | `total_failed` | `format_failure` |
//! | the signed content's digest is not the CMS message-digest (the PDF bytes or the detached file changed) | `total_failed` | `hash_failure` |
//! | the signature does not verify over the signed attributes in the algorithm the CMS declares | `total_failed` | `sig_crypto_failure` |
//! | no signingCertificateV2 attribute, or one naming another certificate (ETSI EN 319 102-1 §5.2.3) | `indeterminate` | `no_signing_certificate_found` |
//!
//! These findings come before the report's own, and the report says the most severe of all
//! (the first `total_failed`, else the first), as every verification does.
//!
//! A signature time-stamp is reported (its time, its TSA, whether it verified and its TSA is
//! trusted, against the signers' anchors and the configured TSA's) and decides the level (B-T), but not the
//! indication: the certificates are judged at the validation time asked for, or now. What
//! incremental updates after a signature change is not judged; a document time-stamp is
//! listed, not validated.
//!
//! Every verification is in the audit trail before the answer: the document's SHA-256 (and
//! the detached file's), how many signatures, and each one's indication.

use base64::Engine as _;
use kyso_adapter_core::HashAlgorithm;
use kyso_documents::cms::SigningCertificateCheck;
use kyso_documents::pades::{Coverage, SignatureReadError};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::auth::Principal;
use super::validation::check_user_id;
use super::verification::{LENIENT_BASE64, MAX_CHAIN_CERTIFICATES, SignatureToJudge};
use super::{Signing, is_refusal};
use crate::audit::wire_name;
use crate::cpu_bound::Urgency;
use crate::documents::inspection::{
    self, DocumentTimeStamp, FoundSignature, InspectionError, SignedFile,
};
use crate::domain::error::{ErrorCode, ServiceError};
use crate::domain::request::DocumentCheck;
use crate::trust::{DocumentSignature, off_the_workers};
use crate::verify::{Indication, SubIndication, VerificationReport};

/// The most signatures of one document that are judged (each is a certificate validation).
const MAX_DOCUMENT_SIGNATURES: usize = 50;

/// How a signed document carries its signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignedFileFormat {
    /// A PDF with embedded signatures (PAdES).
    Pdf,
    /// A detached CMS signature (`.p7s`, CAdES) with the file it signs.
    Cades,
}

/// What a signed document's verification found.
#[derive(Debug, Clone)]
pub struct DocumentVerification {
    /// How the document carries its signatures.
    pub format: SignedFileFormat,
    /// The SHA-256 of the document as sent (the PDF, or the `.p7s`).
    pub document_sha256: [u8; 32],
    /// The SHA-256 of the file a `.p7s` signs.
    pub detached_content_sha256: Option<[u8; 32]>,
    /// Every signature, judged, in the order of the PDF's fields; empty when there is none.
    pub signatures: Vec<JudgedSignature>,
    /// The PDF's document time-stamps, listed and not validated.
    pub document_time_stamps: Vec<DocumentTimeStamp>,
}

/// One signature of a document and its report.
#[derive(Debug, Clone)]
pub struct JudgedSignature {
    /// What the document's structure shows about it.
    pub found: FoundSignature,
    /// The report, the structure's findings folded in.
    pub report: VerificationReport,
}

impl DocumentVerification {
    /// The least favourable indication of its signatures (`total_failed`, then
    /// `indeterminate`), or `None` without signatures.
    pub fn worst_indication(&self) -> Option<Indication> {
        let rank = |indication: Indication| match indication {
            Indication::TotalPassed => 0,
            Indication::Indeterminate => 1,
            Indication::TotalFailed => 2,
        };
        self.signatures
            .iter()
            .map(|signature| signature.report.indication)
            .max_by_key(|indication| rank(*indication))
    }
}

impl Signing {
    /// The report on every signature of `check`'s document, once it is recorded.
    pub async fn verify_document(
        &self,
        principal: &Principal,
        check: DocumentCheck,
    ) -> Result<DocumentVerification, ServiceError> {
        let entry = self.verification_entry(principal, check.user_id.as_deref());
        let verification = self.judge_document(check).await;
        let entry = match &verification {
            Ok(verification) => {
                let outcome = verification
                    .worst_indication()
                    .map_or_else(|| "no_signature".to_owned(), wire_name);
                let mut entry = entry
                    .outcome_of(outcome)
                    .detail("format", wire_name(verification.format))
                    .detail("document_sha256", hex::encode(verification.document_sha256))
                    .detail("signatures", verification.signatures.len())
                    .detail(
                        "indications",
                        verification
                            .signatures
                            .iter()
                            .map(|signature| wire_name(signature.report.indication))
                            .collect::<Vec<_>>(),
                    );
                if let Some(content) = verification.detached_content_sha256 {
                    entry = entry.detail("detached_content_sha256", hex::encode(content));
                }
                entry
            }
            Err(error) if !is_refusal(error) => return verification,
            Err(error) => entry.outcome_of("refused").reason(error.code),
        };
        self.answer_recorded(entry, verification).await
    }

    /// Every signature of `check`'s document, judged.
    async fn judge_document(
        &self,
        check: DocumentCheck,
    ) -> Result<DocumentVerification, ServiceError> {
        if let Some(user_id) = &check.user_id {
            check_user_id(user_id)?;
        }
        let document = self.decode_document(&check.document, "document")?;
        let detached_content = check
            .detached_content
            .as_deref()
            .map(|content| self.decode_document(content, "detached_content"))
            .transpose()?;
        let at = check
            .validation_time
            .unwrap_or_else(OffsetDateTime::now_utc);
        let anchors = self.time_stamp_anchors()?;
        let document_sha256: [u8; 32] = Sha256::digest(&document).into();
        let detached_content_sha256 = detached_content
            .as_deref()
            .map(|content| Sha256::digest(content).into());
        let format = if detached_content.is_some() {
            SignedFileFormat::Cades
        } else {
            SignedFileFormat::Pdf
        };
        let inspection = off_the_workers(Urgency::Starting, move || {
            let file = match &detached_content {
                Some(content) => SignedFile::Detached {
                    p7s: &document,
                    content,
                },
                None => SignedFile::Pdf(&document),
            };
            inspection::inspect(file, Some(&anchors))
        })
        .await??;
        if inspection.signatures.len() > MAX_DOCUMENT_SIGNATURES {
            return Err(ServiceError::new(
                ErrorCode::InvalidDocument,
                format!(
                    "document: it has {} signatures; at most {MAX_DOCUMENT_SIGNATURES} are verified",
                    inspection.signatures.len()
                ),
            ));
        }
        let mut signatures = Vec::with_capacity(inspection.signatures.len());
        for found in inspection.signatures {
            let report = self.judge_found(&found, check.user_id.clone(), at).await?;
            signatures.push(JudgedSignature { found, report });
        }
        Ok(DocumentVerification {
            format,
            document_sha256,
            detached_content_sha256,
            signatures,
            document_time_stamps: inspection.document_time_stamps,
        })
    }

    /// The report on a signature found in a document: judged like a signature over a digest
    /// (the digest of its signed attributes, with the certificates its CMS carries), then
    /// with what the structure shows.
    async fn judge_found(
        &self,
        found: &FoundSignature,
        user_id: Option<String>,
        at: OffsetDateTime,
    ) -> Result<VerificationReport, ServiceError> {
        let validation = &found.validation;
        if validation.chain.len() >= MAX_CHAIN_CERTIFICATES {
            return Err(ServiceError::new(
                ErrorCode::InvalidDocument,
                format!(
                    "document: {}the CMS carries {} certificates besides the signer's; at most {} are read",
                    found
                        .field_name
                        .as_deref()
                        .map(|field| format!("signature field {field:?}: "))
                        .unwrap_or_default(),
                    validation.chain.len(),
                    MAX_CHAIN_CERTIFICATES - 1
                ),
            ));
        }
        let report = self
            .judge_signed_digest(SignatureToJudge {
                signed: DocumentSignature {
                    hash_algorithm: HashAlgorithm::Sha256,
                    digest: validation.signed_attributes_digest.to_vec(),
                    signature: validation.signature_value.clone(),
                },
                signer: validation.signer_certificate.clone(),
                chain: validation.chain.clone(),
                user_id,
                at,
            })
            .await?;
        Ok(report.with_prior_findings(structural_findings(found)))
    }

    /// The bytes of the base64 `field`, at most `documents.max_document_bytes` of them.
    fn decode_document(&self, text: &str, field: &str) -> Result<Vec<u8>, ServiceError> {
        let bytes = LENIENT_BASE64.decode(text).map_err(|_| {
            ServiceError::new(
                ErrorCode::InvalidRequest,
                format!("field `{field}` is not base64"),
            )
        })?;
        let limit = self.documents.settings.max_document_bytes;
        if bytes.len() > limit {
            return Err(ServiceError::new(
                ErrorCode::DocumentTooLarge,
                format!(
                    "{field} has {} bytes; documents.max_document_bytes is {limit}",
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }
}

/// What the document's structure shows against a signature, most telling first (see the
/// table of this module).
fn structural_findings(found: &FoundSignature) -> Vec<(SubIndication, String)> {
    let validation = &found.validation;
    let mut findings = Vec::new();
    if let Some(Coverage::Revision { revision_len, .. }) = found.coverage
        && !found.coverage_is_acceptable()
    {
        findings.push((
            SubIndication::FormatFailure,
            format!(
                "The signature covers the first {revision_len} bytes of the PDF, and the bytes after them are not incremental updates."
            ),
        ));
    }
    if !validation.message_digest_matches {
        let what = if found.coverage.is_some() {
            "The PDF's signed bytes have changed since they were signed"
        } else {
            "The detached content is not the file that was signed"
        };
        findings.push((
            SubIndication::HashFailure,
            format!("{what}: their SHA-256 is not the message-digest the signature covers."),
        ));
    }
    if !validation.signature_verifies {
        findings.push((
            SubIndication::SigCryptoFailure,
            format!(
                "The signature does not verify over its signed attributes with the key of the signer's certificate, as {}.",
                validation.algorithm.name()
            ),
        ));
    }
    match validation.signing_certificate {
        SigningCertificateCheck::Matches => {}
        SigningCertificateCheck::Absent => findings.push((
            SubIndication::NoSigningCertificateFound,
            "The signed attributes have no signingCertificateV2 attribute binding the signature to the signer's certificate.".to_owned(),
        )),
        SigningCertificateCheck::Mismatch => findings.push((
            SubIndication::NoSigningCertificateFound,
            "The signed attributes' signingCertificateV2 names another certificate than the one the CMS gives as the signer's.".to_owned(),
        )),
    }
    findings
}

impl From<InspectionError> for ServiceError {
    fn from(error: InspectionError) -> Self {
        if !error.is_invalid_document() {
            tracing::error!(%error, "inspecting a signed document failed");
            return Self::new(
                ErrorCode::InternalError,
                "the document could not be inspected",
            );
        }
        let hint = match &error {
            InspectionError::Pdf(SignatureReadError::NotPdf) => {
                " (a detached .p7s is sent with the file it signs as detached_content)"
            }
            _ => "",
        };
        Self::new(
            ErrorCode::InvalidDocument,
            format!("document: {error}{hint}"),
        )
    }
}
