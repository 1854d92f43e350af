//! Preparing a document sent as a file, once the signer's certificate is chosen: the PDF's
//! signature dictionary and ByteRange (PAdES) or the file's digest (CAdES), then the CMS
//! signed attributes, whose SHA-256 is what the CA signs.
//!
//! Preparation is deterministic: the same file, options, signer and signing time give the
//! same bytes. The two-step mode relies on it: the gateway keeps only the signed attributes,
//! and when the portal sends the file again it is prepared again and must give the very
//! content digest the citizen signed.

use kyso_documents::cms::{self, AttributeProfile, SignedAttributes};
use kyso_documents::pades::{self, PrepareError, PreparedPdf, SignatureOptions, VisibleSignature};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::macros::{format_description, offset};

use crate::domain::document::{DocumentFormat, DocumentOptions, DocumentPlan, DocumentRetention};

/// A document ready for the CA.
#[derive(Debug)]
pub struct PreparedDocument {
    /// What the CA signs: the SHA-256 of the DER signed attributes.
    pub digest_to_sign: [u8; 32],
    /// What the transaction records about it.
    pub plan: DocumentPlan,
    /// What the store keeps until the signature comes: the prepared PDF, when the gateway
    /// keeps the file (a detached CAdES signature needs nothing of the file but its digest).
    pub to_store: Option<Vec<u8>>,
}

/// Why a document cannot be prepared: the portal's file or options, never the gateway.
#[derive(Debug, thiserror::Error)]
pub enum PreparationError {
    /// The PDF cannot be signed as asked (unreadable, encrypted, no such page, bad box).
    #[error(transparent)]
    Pdf(#[from] PrepareError),
    /// The signer's certificate cannot be named in the signed attributes.
    #[error("the signer's certificate cannot be used in a CMS: {0}")]
    Cms(#[from] cms::CmsError),
}

/// Prepares `file` as `options` say, for the certificate `signer_der` (whose holder is
/// `signer_name`), claiming `signing_time`.
///
/// # Errors
/// [`PreparationError`] when the file or the options do not allow it.
pub fn prepare(
    file: &[u8],
    options: &DocumentOptions,
    signer_der: &[u8],
    signer_name: &str,
    signing_time: OffsetDateTime,
) -> Result<PreparedDocument, PreparationError> {
    let (content_digest, prepared_pdf, profile) = match options.format {
        DocumentFormat::Pades => {
            let prepared = prepare_pdf(file, options, signer_name, signing_time)?;
            (
                prepared.content_digest(),
                Some(prepared),
                AttributeProfile::Pades,
            )
        }
        DocumentFormat::Cades => (
            cms::cades::content_digest(file),
            None,
            AttributeProfile::Cades { signing_time },
        ),
    };
    let attributes = SignedAttributes::new(&content_digest, signer_der, profile)?;
    let to_store = prepared_pdf
        .filter(|_| options.retention == DocumentRetention::Gateway)
        .map(|prepared| prepared.to_bytes());
    Ok(PreparedDocument {
        digest_to_sign: attributes.digest_to_sign(),
        plan: DocumentPlan {
            options: options.clone(),
            signed_attributes: attributes.to_der().to_vec(),
            signing_time,
            original_bytes: file.len() as u64,
            original_sha256: Sha256::digest(file).to_vec(),
            signed: None,
        },
        to_store,
    })
}

/// The PDF `file` prepared again for `plan` (the two-step mode), as it was when the citizen
/// was asked to sign; `None` when `file` is not the file prepared then.
///
/// # Errors
/// [`PreparationError`] when the file cannot be prepared at all.
pub fn prepare_again(
    file: &[u8],
    plan: &DocumentPlan,
    signer_name: &str,
) -> Result<Option<PreparedPdf>, PreparationError> {
    if Sha256::digest(file).as_slice() != plan.original_sha256.as_slice() {
        return Ok(None);
    }
    let prepared = prepare_pdf(file, &plan.options, signer_name, plan.signing_time)?;
    let attributes = SignedAttributes::from_der(&plan.signed_attributes)?;
    Ok((attributes.content_digest()? == prepared.content_digest()).then_some(prepared))
}

fn prepare_pdf(
    file: &[u8],
    options: &DocumentOptions,
    signer_name: &str,
    signing_time: OffsetDateTime,
) -> Result<PreparedPdf, PrepareError> {
    let mut signature = SignatureOptions::new(signing_time);
    signature.signer_name = Some(signer_name.to_owned());
    signature.visible = options
        .visible_signature
        .as_ref()
        .map(|visible| VisibleSignature {
            page: visible.page.saturating_sub(1) as usize,
            rect: visible.rect,
            lines: visible.lines.clone().unwrap_or_else(|| {
                vec![
                    format!("Ký bởi: {signer_name}"),
                    format!("Ngày ký: {}", vietnam_time(signing_time)),
                ]
            }),
        });
    pades::prepare(file, &signature)
}

/// `at` as people in Vietnam read it: `dd/mm/yyyy HH:MM (UTC+7)`.
fn vietnam_time(at: OffsetDateTime) -> String {
    let format = format_description!("[day]/[month]/[year] [hour]:[minute]");
    let local = at.to_offset(offset!(+7));
    local
        .format(format)
        .map(|text| format!("{text} (UTC+7)"))
        .unwrap_or_else(|_| local.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::{SignatureLevel, VisibleSignatureRequest};

    /// The sample PDF the README's walk-through signs.
    const SAMPLE_PDF: &[u8] = include_bytes!("../../../tests/fixtures/don-de-nghi.pdf");

    fn options(format: DocumentFormat, retention: DocumentRetention) -> DocumentOptions {
        DocumentOptions {
            format,
            level: SignatureLevel::Basic,
            allow_level_fallback: false,
            retention,
            visible_signature: Some(VisibleSignatureRequest {
                page: 1,
                rect: [50.0, 50.0, 300.0, 120.0],
                lines: None,
            })
            .filter(|_| format == DocumentFormat::Pades),
        }
    }

    fn signer() -> Vec<u8> {
        let key = rcgen::KeyPair::generate().expect("a key");
        rcgen::CertificateParams::new(vec!["signer.invalid".to_owned()])
            .expect("parameters")
            .self_signed(&key)
            .expect("a certificate")
            .der()
            .to_vec()
    }

    #[test]
    fn a_pdf_prepared_again_gives_the_digest_the_citizen_signed() {
        let pdf = SAMPLE_PDF;
        let signer = signer();
        let at = OffsetDateTime::from_unix_timestamp(1_780_000_000).expect("a time");
        let options = options(DocumentFormat::Pades, DocumentRetention::Portal);
        let first = prepare(pdf, &options, &signer, "Nguyễn Văn An", at).expect("prepared");
        assert!(first.to_store.is_none(), "the portal keeps the file");
        let again = prepare_again(pdf, &first.plan, "Nguyễn Văn An")
            .expect("prepared")
            .expect("the same file");
        let attributes = SignedAttributes::from_der(&first.plan.signed_attributes).expect("DER");
        assert_eq!(
            attributes.content_digest().expect("a digest"),
            again.content_digest()
        );

        let mut other = pdf.to_vec();
        other.extend_from_slice(b"\n% another file\n");
        assert!(
            prepare_again(&other, &first.plan, "Nguyễn Văn An")
                .expect("prepared")
                .is_none()
        );
    }

    #[test]
    fn the_gateway_keeps_a_prepared_pdf_but_nothing_of_a_cades_file() {
        let signer = signer();
        let at = OffsetDateTime::now_utc();
        let pdf = SAMPLE_PDF;
        let kept = prepare(
            pdf,
            &options(DocumentFormat::Pades, DocumentRetention::Gateway),
            &signer,
            "An",
            at,
        )
        .expect("prepared");
        let stored = kept.to_store.expect("the prepared PDF");
        assert!(PreparedPdf::from_bytes(&stored).is_ok());

        let cades = prepare(
            b"any file at all",
            &options(DocumentFormat::Cades, DocumentRetention::Gateway),
            &signer,
            "An",
            at,
        )
        .expect("prepared");
        assert!(cades.to_store.is_none());
        let attributes = SignedAttributes::from_der(&cades.plan.signed_attributes).expect("DER");
        assert_eq!(cades.digest_to_sign, attributes.digest_to_sign());
        assert_eq!(
            attributes.content_digest().expect("a digest"),
            cms::cades::content_digest(b"any file at all")
        );
    }

    #[test]
    fn vietnam_time_is_utc_plus_seven() {
        let at = OffsetDateTime::from_unix_timestamp(0).expect("a time");
        assert_eq!(vietnam_time(at), "01/01/1970 07:00 (UTC+7)");
    }
}
