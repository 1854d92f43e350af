//! Assembling a signed document around the CA's verified signature, and checking the result
//! before anyone sees it.
//!
//! [`signed_cms`] builds the CMS SignedData from the signed attributes fixed at preparation,
//! the CA's signature and the signer's chain; `kyso-documents` verifies the signature again
//! before any CMS comes out. [`signed_file`] writes it into the prepared PDF's `/Contents`
//! (PAdES) or returns it as the `.p7s` (CAdES). [`check_signed_file`] then reads the file
//! back as any relying party would: the last PDF signature must cover the whole file but its
//! `/Contents`, the CMS must verify, its message-digest must be the content's, the
//! signingCertificateV2 must bind the certificate, that certificate must be the one the
//! citizen approved with, and a time-stamp, if any, must be sound and trusted.
//! [`with_validation_data`] appends the DSS of a B-LT signature and checks the signature
//! still covers exactly its revision.

use kyso_documents::cms::{self, SignatureAlgorithm, SignedAttributes, SignedCms};
use kyso_documents::pades::{self, Coverage, PreparedPdf};
use kyso_verify::TrustAnchors;

use crate::domain::document::{DocumentFormat, DocumentPlan};
use crate::domain::transaction::{SignerCertificate, VerifiedSignature};
use crate::trust::ValidationData;

/// Why a signed document could not be made, or did not pass its check. Each is the
/// gateway's fault or the CA's, never the portal's: the transaction fails with
/// `document_check_failed`.
#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    /// The verified signature's scheme has no CMS counterpart here (a digest other than
    /// SHA-256).
    #[error("the signature scheme {0} cannot be carried in a CMS SignedData here")]
    UnsupportedScheme(String),
    /// The CMS could not be built, or its signature did not verify.
    #[error("the CMS could not be assembled: {0}")]
    Cms(#[from] cms::CmsError),
    /// The PDF could not take the CMS.
    #[error("the CMS could not be written into the PDF: {0}")]
    Embed(#[from] pades::EmbedError),
    /// The DSS could not be added.
    #[error("the validation data could not be added: {0}")]
    Dss(#[from] pades::DssError),
    /// The prepared PDF kept in the store is not one.
    #[error("the prepared PDF kept for it is unreadable: {0}")]
    Prepared(#[from] pades::PreparedPdfDecodeError),
    /// The file made did not pass the check.
    #[error("the signed document did not pass the gateway's check: {0}")]
    Check(String),
}

/// The CMS SignedData of a document: the signed attributes of `plan`, the CA's `signature`
/// (verified again here), the signer's certificate and chain.
///
/// # Errors
/// [`AssemblyError::UnsupportedScheme`] or [`AssemblyError::Cms`].
pub fn signed_cms(
    plan: &DocumentPlan,
    signature: &VerifiedSignature,
    certificate: &SignerCertificate,
) -> Result<SignedCms, AssemblyError> {
    let algorithm = [
        SignatureAlgorithm::RsaPkcs1v15Sha256,
        SignatureAlgorithm::RsaPssSha256,
        SignatureAlgorithm::EcdsaP256Sha256,
    ]
    .into_iter()
    .find(|algorithm| algorithm.name() == signature.algorithm)
    .ok_or_else(|| AssemblyError::UnsupportedScheme(signature.algorithm.clone()))?;
    let attributes = SignedAttributes::from_der(&plan.signed_attributes)?;
    Ok(cms::assemble(
        &attributes,
        algorithm,
        &signature.signature,
        &certificate.certificate_der,
        &certificate.chain_der,
    )?)
}

/// The signed file: `cms` written into `prepared` (PAdES), or the `.p7s` itself (CAdES).
///
/// # Errors
/// [`AssemblyError::Embed`] when the CMS outgrows the PDF's `/Contents`, or
/// [`AssemblyError::Check`] when a PAdES document comes without its prepared PDF.
pub fn signed_file(
    format: DocumentFormat,
    cms: &SignedCms,
    prepared: Option<&PreparedPdf>,
) -> Result<Vec<u8>, AssemblyError> {
    match (format, prepared) {
        (DocumentFormat::Pades, Some(prepared)) => Ok(pades::embed(prepared, cms.to_der())?),
        (DocumentFormat::Pades, None) => Err(AssemblyError::Check(
            "a PDF signature needs its prepared PDF".to_owned(),
        )),
        (DocumentFormat::Cades, _) => Ok(cms.to_der().to_vec()),
    }
}

/// Reads `file` back and checks it (see the module doc): its last signature, made by
/// `certificate` over the content `plan` fixed, with a time-stamp trusted under
/// `tsa_anchors` if it carries one.
///
/// # Errors
/// [`AssemblyError::Check`] naming the first check that failed.
pub fn check_signed_file(
    file: &[u8],
    plan: &DocumentPlan,
    certificate: &SignerCertificate,
    tsa_anchors: Option<&TrustAnchors>,
) -> Result<(), AssemblyError> {
    let failed = |what: &str| AssemblyError::Check(what.to_owned());
    let attributes = SignedAttributes::from_der(&plan.signed_attributes)?;
    let content_digest = attributes.content_digest()?;
    let cms_der = match plan.options.format {
        DocumentFormat::Pades => {
            let signatures = pades::signatures(file).map_err(|error| {
                AssemblyError::Check(format!("the PDF cannot be read: {error}"))
            })?;
            let last = signatures
                .into_iter()
                .last()
                .ok_or_else(|| failed("the PDF has no signature"))?;
            if last.coverage != Coverage::WholeFile {
                return Err(failed(
                    "the signature does not cover the whole file but its /Contents",
                ));
            }
            if last.content_digest != content_digest {
                return Err(failed("the ByteRange covers other bytes than were signed"));
            }
            last.cms_der
        }
        DocumentFormat::Cades => file.to_vec(),
    };
    let validation = cms::validate(&cms_der, &content_digest, tsa_anchors)?;
    if !validation.message_digest_matches {
        return Err(failed("the message-digest is not the content's digest"));
    }
    if !validation.signature_verifies {
        return Err(failed("the CMS signature does not verify"));
    }
    if validation.signing_certificate != cms::SigningCertificateCheck::Matches {
        return Err(failed(
            "the signingCertificateV2 attribute does not bind the signer's certificate",
        ));
    }
    if validation.signer_certificate != certificate.certificate_der {
        return Err(failed(
            "the CMS names another certificate than the one the citizen approved with",
        ));
    }
    match validation.time_stamp {
        None => Ok(()),
        Some(Ok(check)) if check.problem.is_none() && check.trusted != Some(false) => Ok(()),
        Some(Ok(check)) => Err(AssemblyError::Check(format!(
            "the signature time-stamp does not pass: {}",
            check.problem.map_or_else(
                || "its TSA is not trusted".to_owned(),
                |problem| problem.to_string()
            )
        ))),
        Some(Err(error)) => Err(AssemblyError::Check(format!(
            "the signature time-stamp cannot be read: {error}"
        ))),
    }
}

/// The signed PDF `signed` with `data` (the signer's path and its revocation data) in a DSS,
/// appended as an incremental update (B-LT), checked: the signature still covers exactly
/// the signed revision, followed only by incremental updates.
///
/// # Errors
/// [`AssemblyError::Dss`] or [`AssemblyError::Check`].
pub fn with_validation_data(
    signed: &[u8],
    plan: &DocumentPlan,
    data: &ValidationData,
) -> Result<Vec<u8>, AssemblyError> {
    let file = pades::add_dss(
        signed,
        &data.certificates,
        &data.revocation.ocsp_responses,
        &data.revocation.crls,
    )?;
    let content_digest = SignedAttributes::from_der(&plan.signed_attributes)?.content_digest()?;
    let signatures = pades::signatures(&file)
        .map_err(|error| AssemblyError::Check(format!("the PDF cannot be read: {error}")))?;
    let ours = signatures
        .into_iter()
        .find(|signature| signature.content_digest == content_digest)
        .ok_or_else(|| AssemblyError::Check("the signature is gone".to_owned()))?;
    let expected = Coverage::Revision {
        revision_len: signed.len(),
        later_bytes_are_incremental_updates: true,
    };
    if ours.coverage == expected {
        Ok(file)
    } else {
        Err(AssemblyError::Check(
            "after the DSS, the signature no longer covers exactly its revision".to_owned(),
        ))
    }
}
