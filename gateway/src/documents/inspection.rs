//! Reading every signature of a signed document and checking its structure: what
//! `POST /v1/verifications` judges, and what the gateway checks on each signed document it
//! makes before handing it back.
//!
//! [`inspect`] takes a PDF (PAdES: each signed signature field) or a detached `.p7s` with the
//! file it signs (CAdES), and gives for each signature the facts `kyso-documents`
//! establishes ([`CmsValidation`]: the message-digest against the signed bytes, the signature
//! over the signed attributes, the signingCertificateV2 binding, the time-stamp), what
//! [`crate::trust`] needs to judge the signer like any other signature (the digest the signer
//! signed, the signature value, the certificates the CMS carries: all in
//! [`FoundSignature::validation`]), and the baseline level the signature's form reaches.
//! Nothing here decides whether a signature can be relied on: the caller folds these facts
//! into the trust module's report (or, for a document the gateway made, refuses it unless
//! they all hold).
//!
//! A document time-stamp (`/SubFilter /ETSI.RFC3161`) is not anyone's signature: it is listed
//! apart, with what it covers ([`Inspection::document_time_stamps`]), and not validated.
//!
//! Parsing a PDF and checking its signatures takes CPU time in proportion to its size: call
//! [`inspect`] off the async workers.

use kyso_documents::cms::{self, CmsError, CmsValidation, SigningCertificateCheck, cades};
use kyso_documents::pades::{self, Coverage, SignatureReadError};
use kyso_verify::TrustAnchors;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::domain::document::SignatureLevel;

/// The `/SubFilter` of a PAdES signature (ETSI EN 319 142-1): the only one that reaches a
/// baseline level.
pub const PADES_SUB_FILTER: &str = "ETSI.CAdES.detached";
/// The `/SubFilter` of a document time-stamp.
pub const DOCUMENT_TIME_STAMP_SUB_FILTER: &str = "ETSI.RFC3161";

/// A signed document, as it arrives.
#[derive(Debug, Clone, Copy)]
pub enum SignedFile<'a> {
    /// A PDF with its signatures embedded (PAdES, or any CMS-based PDF signature).
    Pdf(&'a [u8]),
    /// A detached CMS signature (`.p7s`, CAdES) and the file it signs.
    Detached {
        /// The DER ContentInfo.
        p7s: &'a [u8],
        /// The signed file.
        content: &'a [u8],
    },
}

/// One signature of a signed document, with the facts its structure establishes.
#[derive(Debug, Clone)]
pub struct FoundSignature {
    /// The signature field's fully qualified name (PDF only).
    pub field_name: Option<String>,
    /// The signature dictionary's `/SubFilter` (PDF only).
    pub sub_filter: Option<String>,
    /// What part of the PDF the signature covers (PDF only; a `.p7s` covers its whole file).
    pub coverage: Option<Coverage>,
    /// When the signer claims to have signed: the CMS signing-time attribute (CAdES), else the
    /// signature dictionary's `/M` (PAdES); `None` when neither is there or readable.
    pub claimed_signing_time: Option<OffsetDateTime>,
    /// What `kyso-documents` found in the CMS: the checks, the signer's certificate and the
    /// other certificates (`signer_certificate`, `chain`), and what the signer signed
    /// (`signed_attributes_digest`, SHA-256, and `signature_value`).
    pub validation: CmsValidation,
    /// The baseline level the signature's form reaches, if any.
    pub level: Option<SignatureLevel>,
}

impl FoundSignature {
    /// Whether the PDF bytes outside the signature's coverage may be there: it covers the
    /// whole file, or what follows its revision is only incremental updates (whose changes
    /// are not judged). Always true for a `.p7s`.
    pub fn coverage_is_acceptable(&self) -> bool {
        match self.coverage {
            None | Some(Coverage::WholeFile) => true,
            Some(Coverage::Revision {
                later_bytes_are_incremental_updates,
                ..
            }) => later_bytes_are_incremental_updates,
        }
    }
}

/// A document time-stamp of a PDF, reported and not validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentTimeStamp {
    /// The signature field's fully qualified name.
    pub field_name: String,
    /// What part of the PDF it covers.
    pub coverage: Coverage,
}

/// Every signature of a signed document.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The signatures, in the order of the PDF's fields (a `.p7s` has one); empty for a PDF
    /// that has none.
    pub signatures: Vec<FoundSignature>,
    /// The PDF's document time-stamps, not validated (none for a `.p7s`).
    pub document_time_stamps: Vec<DocumentTimeStamp>,
}

/// Why a signed document cannot be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectionError {
    /// The PDF cannot be read: not a PDF, unparseable, encrypted, or a signature field whose
    /// `/ByteRange` or `/Contents` is malformed.
    #[error("{0}")]
    Pdf(#[from] SignatureReadError),
    /// A signature's CMS cannot be read (not a DER SignedData with one SignerInfo, no signed
    /// attributes, no signer certificate), or is in an algorithm the gateway does not verify
    /// (a digest other than SHA-256; RSA other than PKCS#1 v1.5 or PSS, ECDSA other than
    /// P-256).
    #[error("{}{source}", field.as_deref().map(|field| format!("signature field {field:?}: ")).unwrap_or_default())]
    Cms {
        /// The signature field, for a PDF.
        field: Option<String>,
        /// What `kyso-documents` could not read.
        #[source]
        source: CmsError,
    },
}

impl InspectionError {
    /// Whether the document is at fault (`invalid_document`) rather than the gateway: every
    /// error but a failure to encode what the gateway itself builds.
    pub fn is_invalid_document(&self) -> bool {
        !matches!(
            self,
            Self::Cms {
                source: CmsError::Encoding(_),
                ..
            }
        )
    }
}

/// Every signature of `file`, each checked; a signature time-stamp's TSA is judged against
/// `tsa_anchors` when given (without them, no time-stamp reaches B-T).
///
/// # Errors
/// [`InspectionError`]: a PDF that cannot be read, or a signature whose CMS cannot be. A PDF
/// without signatures is not an error: its [`Inspection`] is empty.
pub fn inspect(
    file: SignedFile<'_>,
    tsa_anchors: Option<&TrustAnchors>,
) -> Result<Inspection, InspectionError> {
    match file {
        SignedFile::Pdf(pdf) => inspect_pdf(pdf, tsa_anchors),
        SignedFile::Detached { p7s, content } => {
            let validation =
                cades::validate_detached(p7s, content, tsa_anchors).map_err(|source| {
                    InspectionError::Cms {
                        field: None,
                        source,
                    }
                })?;
            let level = level_of(&validation, true, false, tsa_anchors.is_some());
            Ok(Inspection {
                signatures: vec![FoundSignature {
                    field_name: None,
                    sub_filter: None,
                    coverage: None,
                    claimed_signing_time: validation.signing_time,
                    validation,
                    level,
                }],
                document_time_stamps: Vec::new(),
            })
        }
    }
}

fn inspect_pdf(
    pdf: &[u8],
    tsa_anchors: Option<&TrustAnchors>,
) -> Result<Inspection, InspectionError> {
    let read = pades::read(pdf)?;
    let mut inspection = Inspection {
        signatures: Vec::new(),
        document_time_stamps: Vec::new(),
    };
    for signature in read.signatures {
        if signature.sub_filter == DOCUMENT_TIME_STAMP_SUB_FILTER {
            inspection.document_time_stamps.push(DocumentTimeStamp {
                field_name: signature.field_name,
                coverage: signature.coverage,
            });
            continue;
        }
        let validation = cms::validate(&signature.cms_der, &signature.content_digest, tsa_anchors)
            .map_err(|source| InspectionError::Cms {
                field: Some(signature.field_name.clone()),
                source,
            })?;
        let level = level_of(
            &validation,
            signature.sub_filter == PADES_SUB_FILTER,
            read.has_dss,
            tsa_anchors.is_some(),
        );
        let claimed_signing_time = validation
            .signing_time
            .or_else(|| signature.claimed_signing_time.as_deref().and_then(pdf_date));
        inspection.signatures.push(FoundSignature {
            field_name: Some(signature.field_name),
            sub_filter: Some(signature.sub_filter),
            coverage: Some(signature.coverage),
            claimed_signing_time,
            validation,
            level,
        });
    }
    Ok(inspection)
}

/// The baseline level of a signature whose form is a baseline one (`baseline_form`: a
/// `.p7s`, or a PDF signature with the PAdES `/SubFilter`), in a document with or without a
/// DSS; a time-stamp counts only if its TSA was judged against anchors and trusted.
fn level_of(
    validation: &CmsValidation,
    baseline_form: bool,
    has_dss: bool,
    tsa_judged: bool,
) -> Option<SignatureLevel> {
    if !baseline_form || validation.signing_certificate != SigningCertificateCheck::Matches {
        return None;
    }
    let time_stamped =
        tsa_judged && matches!(&validation.time_stamp, Some(Ok(check)) if check.problem.is_none());
    Some(match (time_stamped, has_dss) {
        (false, _) => SignatureLevel::Basic,
        (true, false) => SignatureLevel::Timestamped,
        (true, true) => SignatureLevel::LongTerm,
    })
}

/// A PDF date (ISO 32000-1 §7.9.4, `D:YYYYMMDDHHmmSSOHH'mm'`, every part after the year
/// optional; no offset means UTC), or `None` if it is not one.
fn pdf_date(text: &str) -> Option<OffsetDateTime> {
    let text = text.strip_prefix("D:").unwrap_or(text);
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, zone) = text.split_at(digits_end);
    if digits.len() < 4 || digits.len() > 14 || digits.len() % 2 != 0 {
        return None;
    }
    let part = |at: usize, default: u8| -> Option<u8> {
        digits
            .get(at..at + 2)
            .map_or(Some(default), |two| two.parse().ok())
    };
    let year: i32 = digits.get(..4)?.parse().ok()?;
    let date =
        Date::from_calendar_date(year, Month::try_from(part(4, 1)?).ok()?, part(6, 1)?).ok()?;
    let time = Time::from_hms(part(8, 0)?, part(10, 0)?, part(12, 0)?).ok()?;
    let offset = match zone.as_bytes().first() {
        None | Some(b'Z') => UtcOffset::UTC,
        Some(&sign @ (b'+' | b'-')) => {
            let zone_digits: String = zone[1..].chars().filter(char::is_ascii_digit).collect();
            let hours: i8 = zone_digits.get(..2)?.parse().ok()?;
            let minutes: i8 = zone_digits.get(2..4).map_or(Some(0), |m| m.parse().ok())?;
            let (hours, minutes) = if sign == b'-' {
                (-hours, -minutes)
            } else {
                (hours, minutes)
            };
            UtcOffset::from_hms(hours, minutes, 0).ok()?
        }
        Some(_) => return None,
    };
    Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn pdf_dates_are_read_with_their_offset_and_defaults() {
        assert_eq!(
            pdf_date("D:20261205102000+07'00'"),
            Some(datetime!(2026-12-05 10:20:00 +07:00))
        );
        assert_eq!(
            pdf_date("D:20261205102000Z"),
            Some(datetime!(2026-12-05 10:20:00 UTC))
        );
        assert_eq!(
            pdf_date("D:20261205102000-05'30"),
            Some(datetime!(2026-12-05 10:20:00 -05:30))
        );
        assert_eq!(pdf_date("D:2026"), Some(datetime!(2026-01-01 00:00:00 UTC)));
        assert_eq!(
            pdf_date("20261205"),
            Some(datetime!(2026-12-05 00:00:00 UTC))
        );
    }

    #[test]
    fn what_is_not_a_pdf_date_is_none() {
        for text in [
            "",
            "D:",
            "D:26",
            "D:202612051",
            "D:20261305",
            "D:20261205250000",
            "D:20261205102000+7",
            "D:20261205102000 junk",
            "D:2026120510200000000",
        ] {
            assert_eq!(pdf_date(text), None, "{text:?}");
        }
    }
}
