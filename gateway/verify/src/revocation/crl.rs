//! CRLs (RFC 5280 §5) for a relying party: checked once against the issuer, then asked about
//! any certificate that issuer issued.
//!
//! A CRL is believed only if:
//! - its issuer name equals the issuer's subject (compared as RFC 5280 says) and its
//!   signature verifies with the issuer's key, under the algorithm policy; an issuer whose
//!   keyUsage is present must allow cRLSign;
//! - it is a complete CRL (no deltaCRLIndicator), not indirect, not limited to some reasons
//!   or to attribute certificates, and has no other critical extension kyso does not process;
//! - thisUpdate is not ahead of the checker's clock and nextUpdate not behind it.
//!
//! An issuingDistributionPoint limited to end-entity (or to CA) certificates covers only
//! those. A certificate on hold (certificateHold) is reported revoked, with that reason.

use std::collections::HashMap;

use time::OffsetDateTime;
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::{
    OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, OID_X509_EXT_CRL_NUMBER,
    OID_X509_EXT_DELTA_CRL_INDICATOR, OID_X509_EXT_ISSUER_DISTRIBUTION_POINT,
};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use super::{
    RevocationDataError, RevocationEvidence, RevocationSourceKind, RevocationStatus,
    check_freshness, reason_name, significant_serial,
};
use crate::names::names_equal;
use crate::path::display_name;
use crate::policy::{check_key, check_signature_algorithm};

const CRL: &str = "CRL";

/// A CRL whose signature, scope and freshness were checked against its issuer: the revoked
/// serials, ready to be asked about many certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedCrl {
    issuer_subject: Vec<u8>,
    issuer_name: String,
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
    only_end_entities: bool,
    only_cas: bool,
    /// Serial (without leading zero bytes) to revocation time and reason.
    revoked: HashMap<Vec<u8>, (OffsetDateTime, Option<String>)>,
}

/// Checks the DER CRL `crl_der` against `issuer_der` at `now`.
///
/// # Errors
/// Why the CRL cannot be relied on ([`RevocationDataError`]).
pub fn check_crl(
    crl_der: &[u8],
    issuer_der: &[u8],
    now: OffsetDateTime,
) -> Result<CheckedCrl, RevocationDataError> {
    let issuer =
        crate::parse(issuer_der).map_err(|_| RevocationDataError::Malformed("the issuer"))?;
    let Ok(([], crl)) = CertificateRevocationList::from_der(crl_der) else {
        return Err(RevocationDataError::Malformed("the CRL"));
    };
    if !names_equal(crl.issuer(), issuer.subject()) {
        return Err(RevocationDataError::OutOfScope(format!(
            "it is issued by {}, not by {}",
            crl.issuer(),
            issuer.subject()
        )));
    }
    check_signature_algorithm(&crl.signature_algorithm)
        .and_then(|_| check_key(issuer.public_key()).map(|_| ()))
        .map_err(|reason| RevocationDataError::Weak(CRL, reason))?;
    if let Ok(Some(usage)) = issuer.key_usage()
        && !usage.value.crl_sign()
    {
        return Err(RevocationDataError::OutOfScope(format!(
            "its issuer {} may not sign CRLs",
            display_name(&issuer)
        )));
    }
    crl.verify_signature(issuer.public_key())
        .map_err(|_| RevocationDataError::BadSignature(CRL))?;

    let (only_end_entities, only_cas) = scope(&crl)?;
    let this_update = crl.last_update().to_datetime();
    let next_update = crl.next_update().map(|time| time.to_datetime());
    check_freshness(CRL, this_update, next_update, now)?;
    let revoked = crl
        .iter_revoked_certificates()
        .map(|entry| {
            let reason = entry
                .reason_code()
                .and_then(|(_, code)| reason_name(u32::from(code.0)));
            (
                significant_serial(entry.raw_serial()).to_vec(),
                (entry.revocation_date.to_datetime(), reason),
            )
        })
        .collect();
    Ok(CheckedCrl {
        issuer_subject: issuer.subject().as_raw().to_vec(),
        issuer_name: display_name(&issuer),
        this_update,
        next_update,
        only_end_entities,
        only_cas,
        revoked,
    })
}

/// The issuingDistributionPoint's limits (end entities only, CAs only), refusing what kyso
/// cannot rely on.
fn scope(crl: &CertificateRevocationList<'_>) -> Result<(bool, bool), RevocationDataError> {
    let mut limits = (false, false);
    for extension in crl.extensions() {
        match extension.parsed_extension() {
            ParsedExtension::IssuingDistributionPoint(point) => {
                if point.indirect_crl {
                    return Err(RevocationDataError::OutOfScope(
                        "it is an indirect CRL".into(),
                    ));
                }
                if point.only_some_reasons.is_some() || point.only_contains_attribute_certs {
                    return Err(RevocationDataError::OutOfScope(
                        "it lists only some reasons or attribute certificates".into(),
                    ));
                }
                limits = (point.only_contains_user_certs, point.only_contains_ca_certs);
            }
            _ if extension.oid == OID_X509_EXT_DELTA_CRL_INDICATOR => {
                return Err(RevocationDataError::OutOfScope("it is a delta CRL".into()));
            }
            _ if extension.critical
                && ![
                    &OID_X509_EXT_ISSUER_DISTRIBUTION_POINT,
                    &OID_X509_EXT_CRL_NUMBER,
                    &OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER,
                ]
                .contains(&&extension.oid) =>
            {
                return Err(RevocationDataError::OutOfScope(format!(
                    "it has a critical extension kyso does not process ({})",
                    extension.oid.to_id_string()
                )));
            }
            _ => {}
        }
    }
    Ok(limits)
}

impl CheckedCrl {
    /// When the CRL stops being current (its nextUpdate), if it says.
    pub fn next_update(&self) -> Option<OffsetDateTime> {
        self.next_update
    }

    /// Whether it is still current at `now`.
    pub fn is_current(&self, now: OffsetDateTime) -> bool {
        check_freshness(CRL, self.this_update, self.next_update, now).is_ok()
    }

    /// What the CRL says about `certificate_der`.
    ///
    /// # Errors
    /// [`RevocationDataError::Malformed`] for an unparseable certificate, or
    /// [`RevocationDataError::OutOfScope`] if the CRL does not cover it (another issuer, or
    /// an end-entity/CA limit that excludes it).
    pub fn status_of(
        &self,
        certificate_der: &[u8],
    ) -> Result<RevocationEvidence, RevocationDataError> {
        let certificate = crate::parse(certificate_der)
            .map_err(|_| RevocationDataError::Malformed("the certificate"))?;
        let same_issuer = x509_parser::prelude::X509Name::from_der(&self.issuer_subject)
            .is_ok_and(|(_, subject)| names_equal(certificate.issuer(), &subject));
        if !same_issuer {
            return Err(RevocationDataError::OutOfScope(format!(
                "the certificate is issued by {}, not by {}",
                certificate.issuer(),
                self.issuer_name
            )));
        }
        let is_ca = is_ca(&certificate);
        if (self.only_end_entities && is_ca) || (self.only_cas && !is_ca) {
            return Err(RevocationDataError::OutOfScope(
                "it covers only end-entity or only CA certificates".into(),
            ));
        }
        let status = match self
            .revoked
            .get(significant_serial(certificate.raw_serial()))
        {
            Some((time, reason)) => RevocationStatus::Revoked {
                time: *time,
                reason: reason.clone(),
            },
            None => RevocationStatus::Good,
        };
        Ok(RevocationEvidence {
            serial_number: crate::report::serial_hex(&certificate),
            source: RevocationSourceKind::Crl,
            produced_at: None,
            this_update: self.this_update,
            next_update: self.next_update,
            responder: self.issuer_name.clone(),
            status,
        })
    }
}

fn is_ca(certificate: &X509Certificate<'_>) -> bool {
    matches!(certificate.basic_constraints(), Ok(Some(constraints)) if constraints.value.ca)
}
