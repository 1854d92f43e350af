//! The revocation extension point: what the validator asks about every certificate of the
//! path but the trust anchor, and how it weighs the answers.
//!
//! The validator stays pure and synchronous: a caller fetches OCSP responses or CRLs
//! beforehand (asynchronously, with its own timeouts and caches), checks them with
//! [`check_ocsp_response`] and [`check_crl`], and passes a [`RevocationSource`] that answers
//! from what was checked ([`GatheredRevocation`]). What to fetch, and from where:
//! [`crate::CertifiedPath::revocation_requests`] and [`revocation_locations`];
//! [`ocsp_request`] makes the request. Evidence is judged against the fetch time (`now`)
//! for freshness, and against the validation time for the status.
//!
//! Revocation is judged on the one path the builder reported, after every other check
//! passed, for every certificate of it but the trust anchor.
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

mod crl;
mod ocsp;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP;

pub use crl::{CheckedCrl, check_crl};
pub use ocsp::{check_ocsp_response, ocsp_request};

use crate::path::format_time;
use crate::report::{Finding, Indication, SubIndication, VerificationReport};

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

/// How far ahead of the checker's clock a thisUpdate may be (the responder's clock may run
/// ahead).
pub const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);
/// How long an OCSP answer without nextUpdate is taken as current after its thisUpdate.
pub const MAX_AGE_WITHOUT_NEXT_UPDATE: time::Duration = time::Duration::hours(1);

/// Why OCSP or CRL data cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevocationDataError {
    /// The data or a certificate in it cannot be decoded.
    #[error("{0} cannot be decoded")]
    Malformed(&'static str),
    /// The OCSP responder did not answer `successful`.
    #[error("the OCSP responder answered {0}")]
    NotSuccessful(String),
    /// The response holds no answer about the certificate asked about.
    #[error("the response holds no answer about the certificate")]
    NotAbout,
    /// The signature does not verify, or no certificate of the response or issuer matches
    /// the responder named.
    #[error("the signature of the {0} does not verify")]
    BadSignature(&'static str),
    /// The OCSP response is signed by a key the certificate's issuer did not authorise.
    #[error("the OCSP response is signed by {0}, which the certificate's issuer did not authorise")]
    UnauthorisedResponder(String),
    /// A weak algorithm or key signed it.
    #[error("the {0} is signed with a weak algorithm: {1}")]
    Weak(&'static str, String),
    /// Produced for a time still ahead.
    #[error("the {what} is dated {this_update}, ahead of the checker's clock")]
    NotYetValid {
        /// OCSP response or CRL.
        what: &'static str,
        /// Its thisUpdate.
        this_update: String,
    },
    /// Its nextUpdate has passed (or, without one, it is too old).
    #[error("the {what} is stale: it was current until {until}")]
    Stale {
        /// OCSP response or CRL.
        what: &'static str,
        /// Its nextUpdate (or thisUpdate plus the maximum age).
        until: String,
    },
    /// The CRL is not one kyso can rely on for this certificate (another issuer, a delta
    /// CRL, a partial scope, an unprocessed critical extension).
    #[error("the CRL does not cover the certificate: {0}")]
    OutOfScope(String),
}

/// Where a certificate's revocation data is published: the `http`/`https` URLs of its AIA
/// id-ad-ocsp entries and of its CRL distribution points' full names, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationLocations {
    /// OCSP responders.
    pub ocsp: Vec<String>,
    /// CRLs.
    pub crl: Vec<String>,
}

/// The revocation data locations a certificate names (none for an unparseable one).
pub fn revocation_locations(certificate_der: &[u8]) -> RevocationLocations {
    let mut locations = RevocationLocations::default();
    let Ok(certificate) = crate::parse(certificate_der) else {
        return locations;
    };
    let web = |name: &GeneralName<'_>| match name {
        GeneralName::URI(uri) if uri.starts_with("http://") || uri.starts_with("https://") => {
            Some((*uri).to_owned())
        }
        _ => None,
    };
    for extension in certificate.extensions() {
        match extension.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => locations.ocsp.extend(
                aia.iter()
                    .filter(|access| access.access_method == OID_PKIX_ACCESS_DESCRIPTOR_OCSP)
                    .filter_map(|access| web(&access.access_location)),
            ),
            ParsedExtension::CRLDistributionPoints(points) => {
                for point in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &point.distribution_point
                    {
                        locations.crl.extend(names.iter().filter_map(web));
                    }
                }
            }
            _ => {}
        }
    }
    locations
}

/// Answers gathered (fetched and checked) beforehand, per certificate: the
/// [`RevocationSource`] a caller passes after gathering.
#[derive(Debug, Clone, Default)]
pub struct GatheredRevocation {
    answers: HashMap<[u8; 32], RevocationAnswer>,
}

impl GatheredRevocation {
    /// Records the answer about `certificate_der`.
    pub fn insert(&mut self, certificate_der: &[u8], answer: RevocationAnswer) {
        self.answers
            .insert(Sha256::digest(certificate_der).into(), answer);
    }
}

impl RevocationSource for GatheredRevocation {
    fn status(&self, certificate: &[u8], _: &[u8], _: OffsetDateTime) -> RevocationAnswer {
        self.answers
            .get(&<[u8; 32]>::from(Sha256::digest(certificate)))
            .cloned()
            .unwrap_or_else(|| {
                RevocationAnswer::Unavailable("no revocation data was gathered for it".into())
            })
    }
}

/// A certificate of a validated path, as revocation judging needs it.
#[derive(Debug, Clone)]
pub(crate) struct PathCertificate {
    pub(crate) der: Vec<u8>,
    /// "The signer's certificate (…)" or "The CA certificate …", for messages.
    pub(crate) whose: String,
}

/// Judges the revocation status of every certificate of `path` (signer first, anchor last)
/// but the anchor, at `at`: the findings, and the evidence used.
pub(crate) fn judge(
    path: &[PathCertificate],
    source: &dyn RevocationSource,
    at: OffsetDateTime,
) -> (Vec<Finding>, Vec<RevocationEvidence>) {
    let mut findings = Vec::new();
    let mut evidence = Vec::new();
    for (position, pair) in path.windows(2).enumerate() {
        let (certificate, issuer) = (&pair[0], &pair[1]);
        let whose = &certificate.whose;
        match source.status(&certificate.der, &issuer.der, at) {
            RevocationAnswer::Unavailable(why) => findings.push(Finding::new(
                SubIndication::TryLater,
                format!(
                    "The revocation status of {} is not available: {why}.",
                    lower_first(whose)
                ),
            )),
            RevocationAnswer::Evidence(found) => {
                match &found.status {
                    RevocationStatus::Good => {}
                    RevocationStatus::Revoked { time, .. } if *time <= at => {
                        let sub_indication = if position == 0 {
                            SubIndication::Revoked
                        } else {
                            SubIndication::RevokedCaNoPoe
                        };
                        findings.push(Finding::new(
                            sub_indication,
                            format!(
                                "{whose} was revoked at {}, before the validation time {}.",
                                format_time(*time),
                                format_time(at)
                            ),
                        ));
                    }
                    // Revoked after the validation time: it was valid then.
                    RevocationStatus::Revoked { .. } => {}
                    RevocationStatus::Unknown => findings.push(Finding::new(
                        SubIndication::TryLater,
                        format!("{whose} is unknown to its revocation responder."),
                    )),
                }
                evidence.push(found);
            }
        }
    }
    (findings, evidence)
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

/// The RFC 5280 name of a CRLReason code.
pub(crate) fn reason_name(code: u32) -> Option<String> {
    const NAMES: [&str; 11] = [
        "unspecified",
        "keyCompromise",
        "cACompromise",
        "affiliationChanged",
        "superseded",
        "cessationOfOperation",
        "certificateHold",
        "",
        "removeFromCRL",
        "privilegeWithdrawn",
        "aACompromise",
    ];
    NAMES
        .get(code as usize)
        .filter(|name| !name.is_empty())
        .map(|name| (*name).to_owned())
}

/// A freshness judgement shared by OCSP and CRL: `this_update` is not ahead of `now` (beyond
/// [`CLOCK_SKEW`]) and `next_update` (or `this_update` + `max_age_without_next`) not behind.
pub(crate) fn check_freshness(
    what: &'static str,
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<(), RevocationDataError> {
    if this_update > now + CLOCK_SKEW {
        return Err(RevocationDataError::NotYetValid {
            what,
            this_update: format_time(this_update),
        });
    }
    let until = next_update.unwrap_or(this_update + MAX_AGE_WITHOUT_NEXT_UPDATE);
    if now > until {
        return Err(RevocationDataError::Stale {
            what,
            until: format_time(until),
        });
    }
    Ok(())
}

/// A serial number's content bytes without leading zero bytes (DER may add one; responders
/// and CRLs differ in whether they keep it).
pub(crate) fn significant_serial(serial: &[u8]) -> &[u8] {
    let first = serial
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(serial.len());
    &serial[first..]
}
