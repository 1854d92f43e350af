//! The revocation extension point: what the validator asks about every certificate of the
//! path but the trust anchor, and how it weighs the answers.
//!
//! The validator stays pure and synchronous: a caller fetches OCSP responses or CRLs
//! beforehand (asynchronously, with its own timeouts and caches), then passes a
//! [`RevocationSource`] that answers from what was fetched. This round provides only
//! [`NoRevocationData`]; OCSP/CRL parsing comes next.
//!
//! How answers are weighed, at validation time `T`:
//! - `good` at `T`, or revoked at `R > T` (after the signature was made): the certificate
//!   passes; the evidence is in the report either way. `T` must be a time the caller can
//!   vouch for (for the gateway: its own clock when the CA's answer arrived), not a time
//!   claimed by the signer.
//! - revoked at `R <= T`: the signer's certificate gives `total_failed`/`revoked`; a CA
//!   certificate gives `indeterminate`/`revoked_ca_no_poe`.
//! - unavailable (or `unknown` to the responder): with [`RevocationPolicy::Off`] never
//!   asked; with `Soft` or `Required`, `indeterminate`/`try_later`. The two differ in what
//!   the caller does with that report ([`RevocationPolicy::accepts`]): `Soft` accepts it,
//!   `Required` refuses it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::report::{Indication, SubIndication, VerificationReport};

/// Where revocation evidence comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationSourceKind {
    /// An OCSP response (RFC 6960).
    Ocsp,
    /// A CRL (RFC 5280 §5).
    Crl,
}

/// What the evidence says about the certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum RevocationStatus {
    /// Not revoked when the evidence was produced.
    Good,
    /// Revoked at `time`.
    Revoked {
        /// The revocation time.
        #[serde(with = "time::serde::rfc3339")]
        time: OffsetDateTime,
        /// The CRL reason (`keyCompromise`, ...), if given.
        reason: Option<String>,
    },
    /// The responder does not know the certificate (OCSP `unknown`).
    Unknown,
}

/// One piece of revocation evidence about one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationEvidence {
    /// Serial number of the certificate it is about, uppercase hex.
    pub serial_number: String,
    /// OCSP or CRL.
    pub source: RevocationSourceKind,
    /// OCSP `producedAt`; `None` for a CRL.
    #[serde(with = "time::serde::rfc3339::option")]
    pub produced_at: Option<OffsetDateTime>,
    /// OCSP `thisUpdate` of the single response, or the CRL's `thisUpdate`.
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    /// `nextUpdate`, if given.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_update: Option<OffsetDateTime>,
    /// The OCSP responder's or CRL issuer's name.
    pub responder: String,
    /// The status.
    #[serde(flatten)]
    pub status: RevocationStatus,
}

/// A source's answer about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationAnswer {
    /// Evidence was found and checked (signature, issuer, freshness) by the source; its
    /// [`RevocationStatus`] says good, revoked or unknown.
    Evidence(RevocationEvidence),
    /// No usable evidence, and why (responder down, stale CRL, ...).
    Unavailable(String),
}

/// Revocation status, answered from evidence gathered beforehand. Implementations must not
/// do I/O in [`RevocationSource::status`]: fetch first, then validate. `Send + Sync` so that a
/// [`crate::Validation`] can live in an async task.
pub trait RevocationSource: Send + Sync {
    /// The status of `certificate` (DER), issued by `issuer` (DER), for a validation at `at`.
    fn status(&self, certificate: &[u8], issuer: &[u8], at: OffsetDateTime) -> RevocationAnswer;
}

/// The source with no data: every answer is unavailable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoRevocationData;

impl RevocationSource for NoRevocationData {
    fn status(&self, _: &[u8], _: &[u8], _: OffsetDateTime) -> RevocationAnswer {
        RevocationAnswer::Unavailable("no revocation data was gathered".into())
    }
}

/// Whether revocation is checked, and what missing data means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationPolicy {
    /// Revocation must be known: an `indeterminate`/`try_later` report is refused.
    Required,
    /// Revocation is checked when data is available: an `indeterminate`/`try_later` report
    /// is accepted (and shown as such).
    Soft,
    /// Revocation is not checked at all (no source is asked, no evidence reported).
    #[default]
    Off,
}

impl RevocationPolicy {
    /// Whether a caller applying this policy may rely on `report`: it passed, or, under
    /// `Soft`, its only shortcoming is missing revocation data.
    pub fn accepts(self, report: &VerificationReport) -> bool {
        match report.indication {
            Indication::TotalPassed => true,
            Indication::Indeterminate => {
                self == Self::Soft && report.sub_indication == Some(SubIndication::TryLater)
            }
            Indication::TotalFailed => false,
        }
    }
}
