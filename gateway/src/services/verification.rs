//! Judging a signature for anyone: a portal, or a ministry checking a document years later,
//! sends a digest, a signature and the signer's certificates and gets the same report the
//! gateway keeps on every signed document. The certificates are judged against every
//! provider's trust anchors, at the time asked for (now by default), with the revocation
//! status learnt now ([`crate::trust`]). Every report is in the audit trail (its indication,
//! the digest and the signer certificate's fingerprint) before it goes out.
//!
//! [`Signing::judge_signed_digest`] is that judgement, shared with the signatures found in a signed
//! document (`document_verification`).

use std::sync::Arc;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use time::OffsetDateTime;

use super::auth::Principal;
use super::validation::{check_user_id, decode_digest};
use super::{Signing, is_refusal};
use crate::audit::{Entry, Event, wire_name};
use crate::domain::error::{ErrorCode, ServiceError};
use crate::domain::request::SignatureCheck;
use crate::trust::{DocumentSignature, SignerChain};
use crate::verify::{
    Indication, RevocationPolicy, SubIndication, TrustAnchors, VerificationReport,
};

/// One signature to judge, from a request or from a signed document.
pub(super) struct SignatureToJudge {
    /// The digest and the signature over it.
    pub(super) signed: DocumentSignature,
    /// The signer's certificate, DER.
    pub(super) signer: Vec<u8>,
    /// The other certificates sent with it, DER.
    pub(super) chain: Vec<Vec<u8>>,
    /// The citizen the signer's certificate must name, if any.
    pub(super) user_id: Option<String>,
    /// The validation time.
    pub(super) at: OffsetDateTime,
}

/// Signatures arrive from many tools: padding and unused trailing bits are not held against
/// them (a signature that does not verify is judged, not refused).
pub(super) const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The most certificates a chain may hold.
pub(super) const MAX_CHAIN_CERTIFICATES: usize = 10;
/// The longest base64 signature accepted (an RSA-16384 signature is 2,732 characters).
const MAX_SIGNATURE_CHARS: usize = 4096;

impl Signing {
    /// The report on `check`'s signature, once it is recorded.
    pub async fn verify(
        &self,
        principal: &Principal,
        check: SignatureCheck,
    ) -> Result<VerificationReport, ServiceError> {
        let entry = self.verification_entry(principal, check.user_id.as_deref());
        let hash_algorithm = check.hash_algorithm;
        let digest = check.digest.clone();
        let report = self.judge_signature(check).await;
        let entry = match &report {
            Ok(report) => {
                let mut entry = entry
                    .outcome_of(wire_name(report.indication))
                    .detail("hash_algorithm", wire_name(hash_algorithm))
                    .detail("digest", digest);
                if let Some(sub_indication) = report.sub_indication {
                    entry = entry.detail("sub_indication", wire_name(sub_indication));
                }
                if let Some(signer) = report.path.first() {
                    entry = entry.detail("signer_sha256", signer.sha256_fingerprint.as_str());
                }
                entry
            }
            Err(error) if !is_refusal(error) => return report,
            Err(error) => entry.outcome_of("refused").reason(error.code),
        };
        self.answer_recorded(entry, report).await
    }

    /// The audit record of a verification asked by `principal`, about the citizen `user_id`
    /// if it is a well-formed one; its outcome is set once known.
    pub(super) fn verification_entry(&self, principal: &Principal, user_id: Option<&str>) -> Entry {
        let entry = Entry::new(Event::Verification, "").actor(&principal.client_id);
        match user_id.filter(|id| check_user_id(id).is_ok()) {
            Some(user_id) => entry.citizen(user_id),
            None => entry,
        }
    }

    /// The report on `check`'s signature.
    async fn judge_signature(
        &self,
        check: SignatureCheck,
    ) -> Result<VerificationReport, ServiceError> {
        let digest = decode_digest(&check.digest, check.hash_algorithm, "digest")?;
        if let Some(user_id) = &check.user_id {
            check_user_id(user_id)?;
        }
        if check.certificate_chain_pem.is_empty()
            || check.certificate_chain_pem.len() > MAX_CHAIN_CERTIFICATES
        {
            return Err(ServiceError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "certificate_chain_pem must hold 1-{MAX_CHAIN_CERTIFICATES} certificates, the signer's first"
                ),
            ));
        }
        if check.signature.len() > MAX_SIGNATURE_CHARS {
            return Err(ServiceError::new(
                ErrorCode::InvalidRequest,
                format!("signature is longer than {MAX_SIGNATURE_CHARS} characters"),
            ));
        }
        let at = check
            .validation_time
            .unwrap_or_else(OffsetDateTime::now_utc);
        // What cannot be read is judged (format_failure), as EU DSS does.
        let Ok(signature) = LENIENT_BASE64.decode(&check.signature) else {
            return Ok(unreadable(at, "The signature is not base64."));
        };
        let mut chain = match certificates_of(&check.certificate_chain_pem) {
            Ok(chain) => chain,
            Err(index) => {
                return Ok(unreadable(
                    at,
                    &format!("certificate_chain_pem[{index}] is not one PEM certificate."),
                ));
            }
        };
        let signer = chain.remove(0);
        self.judge_signed_digest(SignatureToJudge {
            signed: DocumentSignature {
                hash_algorithm: check.hash_algorithm,
                digest,
                signature,
            },
            signer,
            chain,
            user_id: check.user_id,
            at,
        })
        .await
    }

    /// The report on `signature`: its signer's certificate path to every provider's trust
    /// anchors at its time, the revocation status of the path, the citizen when one is
    /// named, and the signature over its digest.
    pub(super) async fn judge_signed_digest(
        &self,
        signature: SignatureToJudge,
    ) -> Result<VerificationReport, ServiceError> {
        let signer_chain = SignerChain {
            anchors: self.all_trust_anchors()?,
            policy: self.verification_policy(),
            signer: signature.signer,
            chain: signature.chain,
            at: signature.at,
        };
        let mut results = self
            .trust
            .verify_signatures(signer_chain, signature.user_id, vec![signature.signed])
            .await?;
        results.pop().map(|result| result.report).ok_or_else(|| {
            ServiceError::new(
                ErrorCode::InternalError,
                "the signature could not be verified",
            )
        })
    }

    /// Every provider's trust anchors together: what signers (and time-stamping authorities)
    /// are judged against.
    pub(super) fn all_trust_anchors(&self) -> Result<Arc<TrustAnchors>, ServiceError> {
        self.providers.all_trust_anchors().cloned().ok_or_else(|| {
            ServiceError::new(ErrorCode::InternalError, "no trust anchors are configured")
        })
    }

    /// What a signature time-stamp's TSA is judged against: every provider's anchors, and
    /// those of the configured time-stamping authority.
    pub(super) fn time_stamp_anchors(&self) -> Result<Arc<TrustAnchors>, ServiceError> {
        let signers = self.all_trust_anchors()?;
        let Some(stamper) = &self.documents.time_stamper else {
            return Ok(signers);
        };
        let together = signers
            .certificates()
            .iter()
            .chain(stamper.anchors().certificates())
            .cloned()
            .collect();
        TrustAnchors::from_der(together).map(Arc::new).map_err(|_| {
            ServiceError::new(
                ErrorCode::InternalError,
                "the trust anchors cannot be joined",
            )
        })
    }

    /// Revocation is checked (and reported, `try_later` when unavailable) unless every
    /// provider has it off: the report is the same under `soft` and `required`.
    fn verification_policy(&self) -> RevocationPolicy {
        if self
            .providers
            .iter()
            .all(|provider| provider.revocation_policy() == RevocationPolicy::Off)
        {
            RevocationPolicy::Off
        } else {
            RevocationPolicy::Soft
        }
    }
}

/// The DER of each PEM certificate, in order; the index of the first item that is not
/// exactly one PEM certificate otherwise.
fn certificates_of(items: &[String]) -> Result<Vec<Vec<u8>>, usize> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match pem::parse_many(item) {
            Ok(blocks) if blocks.len() == 1 && blocks[0].tag() == "CERTIFICATE" => {
                Ok(blocks[0].contents().to_vec())
            }
            _ => Err(index),
        })
        .collect()
}

/// The report on input that cannot be read: `total_failed`/`format_failure`.
pub(super) fn unreadable(at: OffsetDateTime, message: &str) -> VerificationReport {
    VerificationReport {
        indication: Indication::TotalFailed,
        sub_indication: Some(SubIndication::FormatFailure),
        message: message.to_owned(),
        validation_time: at,
        signature_algorithm: None,
        path: Vec::new(),
        revocation: Vec::new(),
    }
}
