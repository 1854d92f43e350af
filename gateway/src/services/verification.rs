//! Judging a signature for anyone: a portal, or a ministry checking a document years later,
//! sends a digest, a signature and the signer's certificates and gets the same report the
//! gateway keeps on every signed document. The certificates are judged against every
//! provider's trust anchors, at the time asked for (now by default), off the async workers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use time::OffsetDateTime;

use super::Signing;
use super::validation::check_user_id;
use crate::domain::error::{ErrorCode, ServiceError};
use crate::domain::request::SignatureCheck;
use crate::verify::{self, VerificationReport};

/// The most certificates a chain may hold.
const MAX_CHAIN_CERTIFICATES: usize = 10;

impl Signing {
    /// The report on `check`'s signature.
    pub async fn verify(&self, check: SignatureCheck) -> Result<VerificationReport, ServiceError> {
        let digest = BASE64.decode(&check.digest).map_err(|_| {
            ServiceError::new(ErrorCode::InvalidDigest, "digest is not standard base64")
        })?;
        if digest.len() != check.hash_algorithm.digest_len() {
            return Err(ServiceError::new(
                ErrorCode::InvalidDigest,
                format!(
                    "digest has {} bytes; a {} digest has {}",
                    digest.len(),
                    check.hash_algorithm,
                    check.hash_algorithm.digest_len()
                ),
            ));
        }
        let signature = BASE64.decode(&check.signature).map_err(|_| {
            ServiceError::new(ErrorCode::InvalidRequest, "signature is not standard base64")
        })?;
        let mut chain = certificates_of(&check.certificate_chain_pem)?;
        if let Some(user_id) = &check.user_id {
            check_user_id(user_id)?;
        }
        let anchors = self.providers.all_trust_anchors().cloned().ok_or_else(|| {
            ServiceError::new(ErrorCode::InternalError, "no trust anchors are configured")
        })?;
        let at = check
            .validation_time
            .unwrap_or_else(OffsetDateTime::now_utc);
        let signer = chain.remove(0);
        let judged = tokio::task::spawn_blocking(move || {
            verify::verify_signed_digest(
                &signer,
                &chain,
                check.user_id.as_deref(),
                verify::SignedDigest {
                    hash_algorithm: check.hash_algorithm,
                    digest: &digest,
                    signature: &signature,
                },
                &verify::Validation::new(&anchors, at),
            )
            .report
        })
        .await;
        judged.map_err(|error| {
            tracing::error!(%error, "verification task failed");
            ServiceError::new(ErrorCode::InternalError, "the signature could not be verified")
        })
    }
}

/// The DER of each PEM certificate, in order; each item must hold exactly one certificate.
fn certificates_of(items: &[String]) -> Result<Vec<Vec<u8>>, ServiceError> {
    if items.is_empty() || items.len() > MAX_CHAIN_CERTIFICATES {
        return Err(ServiceError::new(
            ErrorCode::InvalidRequest,
            format!(
                "certificate_chain_pem must hold 1-{MAX_CHAIN_CERTIFICATES} certificates, the signer's first"
            ),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match pem::parse_many(item) {
            Ok(blocks) if blocks.len() == 1 && blocks[0].tag() == "CERTIFICATE" => {
                Ok(blocks[0].contents().to_vec())
            }
            _ => Err(ServiceError::new(
                ErrorCode::InvalidRequest,
                format!("certificate_chain_pem[{index}] must be one PEM CERTIFICATE"),
            )),
        })
        .collect()
}
