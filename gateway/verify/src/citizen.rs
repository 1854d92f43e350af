//! Which citizen a certificate names, by identifier type.
//!
//! Vietnamese CAs write the holder's identifier in the subject's `UID`
//! (0.9.2342.19200300.100.1.1) or `serialNumber` (2.5.4.5) attribute, usually after a label
//! saying what kind of number it is. kyso reads every such value as
//! `[LABEL ":"] NUMBER`, the label and the number trimmed of spaces, the label in any case:
//!
//! | value in the certificate | kind | matches a citizen ID request |
//! |---|---|---|
//! | `CCCD:001099000001`, `CCCD: 001099000001`, `cccd:001099000001` | personal ID (căn cước công dân) | yes, if the number is equal |
//! | `CMND:001099000001`, `CMND:012345678` | personal ID (chứng minh nhân dân, the older card; some CAs keep the label for CCCD numbers) | yes, if the number is equal |
//! | `001099000001` (digits, no label) | personal ID | yes, if the number is equal |
//! | `HC:B1234567` | passport (hộ chiếu) | no |
//! | `MST:0101234567`, `MST:001099000001` | tax code (mã số thuế) | no, even if the digits are equal |
//! | any other label, or a bare value that is not all digits | other | no |
//!
//! A request names a citizen by personal ID (the 12-digit CCCD, or a 9-digit CMND) and
//! matches a certificate holding a personal-ID value with exactly that number.

use x509_parser::oid_registry::{OID_USERID, OID_X509_SERIALNUMBER};
use x509_parser::prelude::X509Certificate;

/// The kind of an identifier written in a certificate's subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentifierKind {
    /// A personal identification number: `CCCD`, `CMND`, or a bare number.
    PersonalId,
    /// A passport number (`HC`).
    Passport,
    /// A tax code (`MST`).
    TaxCode,
    /// Another label, or a value kyso cannot read.
    Other,
}

/// One identifier read from a certificate's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectIdentifier {
    /// What kind of number it is.
    pub kind: IdentifierKind,
    /// The label as written (`CCCD`, `cccd`, ...), if any.
    pub label: Option<String>,
    /// The number, trimmed.
    pub number: String,
}

impl SubjectIdentifier {
    /// Reads one `UID` or `serialNumber` value.
    pub fn parse(value: &str) -> Self {
        let (label, number) = match value.split_once(':') {
            Some((label, number)) => (Some(label.trim()), number.trim()),
            None => (None, value.trim()),
        };
        let kind = match label.map(str::to_ascii_uppercase).as_deref() {
            Some("CCCD" | "CMND") => IdentifierKind::PersonalId,
            Some("HC") => IdentifierKind::Passport,
            Some("MST") => IdentifierKind::TaxCode,
            Some(_) => IdentifierKind::Other,
            None if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) => {
                IdentifierKind::PersonalId
            }
            None => IdentifierKind::Other,
        };
        Self {
            kind,
            label: label.map(str::to_owned),
            number: number.to_owned(),
        }
    }
}

/// Every identifier in the subject's `UID` and `serialNumber` attributes.
pub(crate) fn subject_identifiers(certificate: &X509Certificate<'_>) -> Vec<SubjectIdentifier> {
    let subject = certificate.subject();
    subject
        .iter_by_oid(&OID_USERID)
        .chain(subject.iter_by_oid(&OID_X509_SERIALNUMBER))
        .filter_map(|attribute| attribute.as_str().ok())
        .map(SubjectIdentifier::parse)
        .collect()
}

/// The personal ID numbers (CCCD/CMND) the certificate's subject holds.
pub(crate) fn personal_ids(certificate: &X509Certificate<'_>) -> Vec<String> {
    subject_identifiers(certificate)
        .into_iter()
        .filter(|id| id.kind == IdentifierKind::PersonalId)
        .map(|id| id.number)
        .collect()
}

/// Whether `personal_ids` (a certificate's [`personal_ids`]) hold `user_id`.
pub(crate) fn holds_personal_id(personal_ids: &[String], user_id: &str) -> bool {
    let wanted = user_id.trim();
    !wanted.is_empty() && personal_ids.iter().any(|number| number == wanted)
}
