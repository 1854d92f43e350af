//! The verification report: what every verification returns, in the vocabulary of ETSI
//! EN 319 102-1 as EU DSS users know it (an indication, a sub-indication, the path as far as
//! it was built, and the revocation evidence used).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::prelude::X509Certificate;

use crate::revocation::RevocationEvidence;

/// The main status of a validation (EN 319 102-1 §5.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Indication {
    /// Every check passed: the signature (or certificate) can be relied on.
    TotalPassed,
    /// A check could not conclude either way (no trusted chain, expired, weak algorithm,
    /// missing revocation data, ...): not to be relied on.
    Indeterminate,
    /// A check proved the signature (or certificate) invalid.
    TotalFailed,
}

/// Why a validation did not pass. The names are EU DSS's (`SubIndication`), in snake case,
/// except [`SubIndication::UserMismatch`], which is kyso's own.
///
/// | sub-indication | with | when |
/// |---|---|---|
/// | `format_failure` | total_failed | a certificate, an extension or the signature cannot be parsed, or the digest has the wrong length |
/// | `sig_crypto_failure` | total_failed | the signature does not verify over the digest with the signer's key |
/// | `hash_failure` | total_failed | a signed document's content is not what was signed: its digest differs from the CMS message-digest |
/// | `revoked` | total_failed | the signer's certificate was revoked at or before the validation time |
/// | `not_yet_valid` | total_failed | the signer's certificate was not yet valid at the validation time |
/// | `user_mismatch` | total_failed | the signer's certificate names another person, or the number is not a personal ID |
/// | `no_signing_certificate_found` | indeterminate | a CMS does not bind its signature to the signer's certificate: its signingCertificateV2 attribute is absent or names another certificate |
/// | `no_certificate_chain_found` | indeterminate | no path to a trust anchor (unknown root, missing intermediate, issuer signature that does not verify) |
/// | `expired` | indeterminate | a certificate of the path (the signer's or a CA's) had expired at the validation time |
/// | `out_of_bounds_no_poe` | indeterminate | a CA certificate of the path was not yet valid at the validation time |
/// | `revoked_ca_no_poe` | indeterminate | a CA certificate of the path was revoked at or before the validation time |
/// | `crypto_constraints_failure` | indeterminate | an algorithm outside the policy: RSA under 2048 or over 8192 bits, a curve other than P-256/P-384, SHA-1 or another non-SHA-2 hash, or a signer key kyso cannot verify |
/// | `chain_constraints_failure` | indeterminate | a CA certificate without cA, keyCertSign or within its pathLenConstraint, or an unprocessed critical extension anywhere in the path |
/// | `sig_constraints_failure` | indeterminate | the signer's certificate is a CA, lacks keyUsage digitalSignature/nonRepudiation, or has an extended key usage not for its purpose (document signing, or timeStamping alone and critical for a TSA) |
/// | `try_later` | indeterminate | revocation status required but not available (DSS `TRY_LATER`) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubIndication {
    /// Something cannot be parsed.
    FormatFailure,
    /// The signature does not verify (DSS `SIG_CRYPTO_FAILURE`).
    SigCryptoFailure,
    /// The signed content's digest is not the one signed (DSS `HASH_FAILURE`).
    HashFailure,
    /// The signer's certificate was revoked at or before the validation time.
    Revoked,
    /// The signer's certificate was not yet valid at the validation time.
    NotYetValid,
    /// The certificate does not name the requested citizen (kyso's own).
    UserMismatch,
    /// The signer's certificate is not identified by the signed attributes (DSS
    /// `NO_SIGNING_CERTIFICATE_FOUND`).
    NoSigningCertificateFound,
    /// No path to a trust anchor.
    NoCertificateChainFound,
    /// A certificate of the path had expired at the validation time.
    Expired,
    /// A CA certificate of the path was not yet valid at the validation time.
    OutOfBoundsNoPoe,
    /// A CA certificate of the path was revoked at or before the validation time.
    RevokedCaNoPoe,
    /// An algorithm or key size below the policy.
    CryptoConstraintsFailure,
    /// A CA certificate's constraints, or an unprocessed critical extension.
    ChainConstraintsFailure,
    /// The signer's certificate may not make document signatures.
    SigConstraintsFailure,
    /// Revocation status unavailable (DSS `TRY_LATER`).
    TryLater,
}

impl SubIndication {
    /// The indication this sub-indication goes with (see the table on [`SubIndication`]).
    pub fn indication(self) -> Indication {
        match self {
            Self::FormatFailure
            | Self::SigCryptoFailure
            | Self::HashFailure
            | Self::Revoked
            | Self::NotYetValid
            | Self::UserMismatch => Indication::TotalFailed,
            Self::NoSigningCertificateFound
            | Self::NoCertificateChainFound
            | Self::Expired
            | Self::OutOfBoundsNoPoe
            | Self::RevokedCaNoPoe
            | Self::CryptoConstraintsFailure
            | Self::ChainConstraintsFailure
            | Self::SigConstraintsFailure
            | Self::TryLater => Indication::Indeterminate,
        }
    }
}

/// One certificate of the path, as a report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSummary {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial number, uppercase hex without leading zero bytes.
    pub serial_number: String,
    /// SHA-256 of the certificate's DER, lowercase hex.
    pub sha256_fingerprint: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

impl CertificateSummary {
    pub(crate) fn of(der: &[u8], certificate: &X509Certificate<'_>) -> Self {
        Self {
            subject: certificate.subject().to_string(),
            issuer: certificate.issuer().to_string(),
            serial_number: serial_hex(certificate),
            sha256_fingerprint: hex::encode(Sha256::digest(der)),
            not_before: certificate.validity().not_before.to_datetime(),
            not_after: certificate.validity().not_after.to_datetime(),
        }
    }
}

/// A certificate's serial number, uppercase hex without leading zero bytes.
pub(crate) fn serial_hex(certificate: &X509Certificate<'_>) -> String {
    let serial = certificate.raw_serial();
    let significant = serial
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(serial.len().saturating_sub(1));
    hex::encode_upper(&serial[significant..])
}

/// The outcome of one verification, returned whatever the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationReport {
    /// The main status.
    pub indication: Indication,
    /// Why it did not pass; `None` exactly when `indication` is `total_passed`.
    pub sub_indication: Option<SubIndication>,
    /// One sentence saying what was found, for portals and their users.
    pub message: String,
    /// The time at which the certificates were judged.
    #[serde(with = "time::serde::rfc3339")]
    pub validation_time: OffsetDateTime,
    /// The document signature's scheme (`rsa_pkcs1v15_sha256`, `rsa_pss_sha256`,
    /// `ecdsa_p256_sha256`, ...) once it verified; `None` for a certificate validation.
    pub signature_algorithm: Option<String>,
    /// The certification path, signer first and trust anchor last, as far as it was built.
    pub path: Vec<CertificateSummary>,
    /// The revocation evidence used, signer's first.
    pub revocation: Vec<RevocationEvidence>,
}

impl VerificationReport {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.indication == Indication::TotalPassed
    }

    /// The period in which every certificate of the path is within its validity (the latest
    /// `not_before`, the earliest `not_after`): how long a cached passed report of this path
    /// may be reused, revocation aside. `None` for an empty path.
    pub fn path_validity(&self) -> Option<(OffsetDateTime, OffsetDateTime)> {
        let from = self.path.iter().map(|c| c.not_before).max()?;
        let to = self.path.iter().map(|c| c.not_after).min()?;
        Some((from, to))
    }

    /// The report with the `findings` of checks made before its own (a signed document's
    /// structure: what the signature covers, its content's digest, the signer's certificate
    /// binding, the signature over the signed attributes), each a sub-indication and its
    /// message, judged together with the report's own finding as every verification judges
    /// several: the first `total_failed` one, else the first. Path and evidence stay.
    #[must_use]
    pub fn with_prior_findings(
        mut self,
        findings: impl IntoIterator<Item = (SubIndication, String)>,
    ) -> Self {
        let mut all: Vec<Finding> = findings
            .into_iter()
            .map(|(sub_indication, message)| Finding::new(sub_indication, message))
            .collect();
        if all.is_empty() {
            return self;
        }
        if let Some(own) = self.sub_indication {
            all.push(Finding::new(own, std::mem::take(&mut self.message)));
        }
        if let Some(finding) = Finding::most_severe(all) {
            self.indication = finding.sub_indication.indication();
            self.sub_indication = Some(finding.sub_indication);
            self.message = finding.message;
        }
        self
    }

    pub(crate) fn new(
        validation_time: OffsetDateTime,
        outcome: Result<String, Finding>,
        path: Vec<CertificateSummary>,
        revocation: Vec<RevocationEvidence>,
    ) -> Self {
        let (indication, sub_indication, message) = match outcome {
            Ok(message) => (Indication::TotalPassed, None, message),
            Err(finding) => (
                finding.sub_indication.indication(),
                Some(finding.sub_indication),
                finding.message,
            ),
        };
        Self {
            indication,
            sub_indication,
            message,
            validation_time,
            signature_algorithm: None,
            path,
            revocation,
        }
    }
}

/// One reason not to pass, found by a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) sub_indication: SubIndication,
    pub(crate) message: String,
}

impl Finding {
    pub(crate) fn new(sub_indication: SubIndication, message: impl Into<String>) -> Self {
        Self {
            sub_indication,
            message: message.into(),
        }
    }

    /// The finding to report among several: the first `total_failed` one, else the first.
    pub(crate) fn most_severe(findings: Vec<Self>) -> Option<Self> {
        let failed = findings
            .iter()
            .position(|f| f.sub_indication.indication() == Indication::TotalFailed);
        findings.into_iter().nth(failed.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcome: Result<String, Finding>) -> VerificationReport {
        VerificationReport::new(OffsetDateTime::UNIX_EPOCH, outcome, Vec::new(), Vec::new())
    }

    #[test]
    fn prior_findings_are_judged_with_the_reports_own() {
        let passed = report(Ok("All good.".to_owned()));
        assert_eq!(passed.clone().with_prior_findings([]), passed);

        let failed =
            passed.with_prior_findings([(SubIndication::HashFailure, "Changed.".to_owned())]);
        assert_eq!(failed.indication, Indication::TotalFailed);
        assert_eq!(failed.sub_indication, Some(SubIndication::HashFailure));
        assert_eq!(failed.message, "Changed.");

        // A failure proven anywhere outweighs an earlier indeterminate finding.
        let untrusted = report(Err(Finding::new(
            SubIndication::NoCertificateChainFound,
            "No path.",
        )));
        let judged = untrusted.clone().with_prior_findings([
            (
                SubIndication::NoSigningCertificateFound,
                "Unbound.".to_owned(),
            ),
            (SubIndication::SigCryptoFailure, "Bad.".to_owned()),
        ]);
        assert_eq!(judged.sub_indication, Some(SubIndication::SigCryptoFailure));
        assert_eq!(judged.message, "Bad.");

        // Among indeterminate findings, the first one; the report's own comes last.
        let judged = untrusted.with_prior_findings([(
            SubIndication::NoSigningCertificateFound,
            "Unbound.".to_owned(),
        )]);
        assert_eq!(judged.indication, Indication::Indeterminate);
        assert_eq!(
            judged.sub_indication,
            Some(SubIndication::NoSigningCertificateFound)
        );
        let user = report(Err(Finding::new(
            SubIndication::UserMismatch,
            "Someone else.",
        )))
        .with_prior_findings([(
            SubIndication::NoSigningCertificateFound,
            "Unbound.".to_owned(),
        )]);
        assert_eq!(user.sub_indication, Some(SubIndication::UserMismatch));
    }
}
