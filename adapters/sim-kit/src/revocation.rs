//! Revocation data of a simulator's test PKI: the CRL and OCSP responder every simulator serves
//! for its own CAs, and the switches that make them misbehave.
//!
//! A [`TestPki`](crate::TestPki) built with [`served_at`](crate::TestPkiBuilder::served_at) writes
//! into every certificate it issues under the root (issuing CAs and citizens) a CRL distribution
//! point and an Authority Information Access id-ad-ocsp URL on the simulator itself:
//!
//! | what | URL | answer |
//! |---|---|---|
//! | the CRL of CA `<id>` (`root`, `ca-0`, `ca-1`, ...) | `GET <base>/_sim/pki/crl/<id>.crl` | DER, `application/pkix-crl` |
//! | the OCSP responder for every CA of the PKI | `POST <base>/_sim/pki/ocsp` | `application/ocsp-response` |
//!
//! (`<id>` of an issuing CA is `ca-<index>`, the index in
//! [`TestPki::issuing_cas`](crate::TestPki::issuing_cas); the routes are mounted by
//! [`control::scope`](crate::control::scope).) The [`Revocation`] a [`TestPki`](crate::TestPki)
//! carries keeps the CAs' keys and the revoked serials, and produces both:
//!
//! * CRLs are made by rcgen, signed by the CA, valid for [`CRL_VALIDITY`] and re-issued (with the
//!   next cRLNumber) on every change and once half of that has passed.
//! * OCSP responses ([`Revocation::respond`]) answer each CertID (matched on the issuer's name and
//!   key hashes, SHA-1 or SHA-2, and the serial) `good`, `revoked` (time and reason) or `unknown`,
//!   valid for [`OCSP_VALIDITY`], echo the request's nonce and are signed by the CA itself, or by a
//!   delegated responder certificate (EKU OCSPSigning, id-pkix-ocsp-nocheck) the CA issued. The
//!   structures are `x509-ocsp`'s (the der 0.7 generation), bridged to rcgen's keys through DER
//!   bytes.
//!
//! [`RevocationSwitches`] bend them for tests: a responder whose key no CA authorised, stale
//! answers (nextUpdate already past), a responder or CRL server that answers 503 or hangs.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rcgen::{
    CertificateRevocationListParams, CertifiedIssuer, CrlDistributionPoint, CustomExtension,
    KeyIdMethod, KeyPair, RevokedCertParams, SerialNumber, SigningKey as _,
};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use time::OffsetDateTime;
use x509_cert::der::asn1::Null;
use x509_cert::der::asn1::{BitString, GeneralizedTime, Ia5String};
use x509_cert::der::oid::db::rfc5280::ID_AD_OCSP;
use x509_cert::der::oid::db::rfc5912::{
    ECDSA_WITH_SHA_256, ID_SHA_1, ID_SHA_256, ID_SHA_384, ID_SHA_512,
};
use x509_cert::der::oid::db::rfc6960::ID_PKIX_OCSP_NOCHECK;
use x509_cert::der::oid::{AssociatedOid, ObjectIdentifier};
use x509_cert::der::{DateTime, Decode as _, Encode as _};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax, CrlReason};
use x509_cert::spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, SignatureBitStringEncoding,
};
use x509_ocsp::builder::OcspResponseBuilder;
use x509_ocsp::{
    CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse, RevokedInfo, SingleResponse,
};

use crate::pki::Certificate;

/// How long a CRL is valid (thisUpdate to nextUpdate).
pub const CRL_VALIDITY: time::Duration = time::Duration::hours(1);
/// How long an OCSP answer is valid (thisUpdate to nextUpdate).
pub const OCSP_VALIDITY: time::Duration = time::Duration::hours(1);
/// The path, under a simulator's base address, of the OCSP responder.
pub const OCSP_PATH: &str = "/_sim/pki/ocsp";
/// The path, under a simulator's base address, of the CRLs (`<CRL_PATH>/<id>.crl`).
pub const CRL_PATH: &str = "/_sim/pki/crl";
/// The id of the root CA in URLs.
pub const ROOT_ID: &str = "root";

/// Everything that can go wrong revoking, or producing revocation data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// No certificate of this PKI has this serial.
    #[error("no certificate of this PKI has serial {0}")]
    UnknownSerial(String),
    /// No CA of this PKI has this id.
    #[error("no CA of this PKI is called {0:?}")]
    UnknownAuthority(String),
    /// The simulator knows no citizen by this id.
    #[error("no citizen {0}")]
    UnknownCitizen(String),
    /// The certificate is already revoked (for another reason than certificateHold).
    #[error("certificate {serial} was already revoked at {revoked_at} ({reason})")]
    AlreadyRevoked {
        /// Its serial, uppercase hex.
        serial: String,
        /// When it was revoked.
        revoked_at: OffsetDateTime,
        /// Why.
        reason: RevocationReason,
    },
    /// A revocation time after now.
    #[error("the revocation time {0} is in the future")]
    FutureRevocation(OffsetDateTime),
    /// rcgen failed to sign a CRL or a certificate.
    #[error("signing revocation data failed")]
    Signing(#[from] rcgen::Error),
    /// A structure could not be DER-encoded or decoded.
    #[error("encoding revocation data failed: {0}")]
    Encoding(String),
}

impl From<x509_cert::der::Error> for RevocationError {
    fn from(error: x509_cert::der::Error) -> Self {
        Self::Encoding(error.to_string())
    }
}

/// Why a certificate was revoked: RFC 5280's CRLReason, written (in JSON) with RFC 5280's names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum RevocationReason {
    /// unspecified (0).
    #[default]
    Unspecified,
    /// keyCompromise (1).
    KeyCompromise,
    /// cACompromise (2).
    #[serde(rename = "cACompromise")]
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// certificateHold (6): temporary; a later revocation may replace it.
    CertificateHold,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn,
    /// aACompromise (10).
    #[serde(rename = "aACompromise")]
    AaCompromise,
}

impl RevocationReason {
    fn rcgen(self) -> rcgen::RevocationReason {
        use rcgen::RevocationReason as R;
        match self {
            Self::Unspecified => R::Unspecified,
            Self::KeyCompromise => R::KeyCompromise,
            Self::CaCompromise => R::CaCompromise,
            Self::AffiliationChanged => R::AffiliationChanged,
            Self::Superseded => R::Superseded,
            Self::CessationOfOperation => R::CessationOfOperation,
            Self::CertificateHold => R::CertificateHold,
            Self::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
            Self::AaCompromise => R::AaCompromise,
        }
    }

    fn ocsp(self) -> CrlReason {
        match self {
            Self::Unspecified => CrlReason::Unspecified,
            Self::KeyCompromise => CrlReason::KeyCompromise,
            Self::CaCompromise => CrlReason::CaCompromise,
            Self::AffiliationChanged => CrlReason::AffiliationChanged,
            Self::Superseded => CrlReason::Superseded,
            Self::CessationOfOperation => CrlReason::CessationOfOperation,
            Self::CertificateHold => CrlReason::CertificateHold,
            Self::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
            Self::AaCompromise => CrlReason::AaCompromise,
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The RFC 5280 name, as in JSON.
        let name = match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
            Self::AaCompromise => "aACompromise",
        };
        f.write_str(name)
    }
}

/// A revocation to carry out: the body of `POST /_sim/citizens/{id}/revoke`, every member
/// optional: `{"reason": "keyCompromise", "revoked_at": "2026-01-02T03:04:05Z", "serial_number":
/// "<hex>"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    /// Why (default `unspecified`).
    #[serde(default)]
    pub reason: RevocationReason,
    /// When the certificate counts as revoked (default now; a past time is allowed, a future one
    /// is not). Kept to whole seconds, as CRLs and OCSP carry it.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Only the citizen's certificate with this serial (hex, any case); default all of the
    /// citizen's certificates.
    #[serde(default)]
    pub serial_number: Option<String>,
}

impl Revoke {
    /// Revoked now for `reason`.
    pub fn because(reason: RevocationReason) -> Self {
        Self {
            reason,
            ..Self::default()
        }
    }

    /// Counts as revoked from `at` on.
    #[must_use]
    pub fn at(mut self, at: OffsetDateTime) -> Self {
        self.revoked_at = Some(at);
        self
    }
}

/// A certificate's revocation as published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Revoked {
    /// When it counts as revoked (whole seconds, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// Why.
    pub reason: RevocationReason,
}

/// One revoked certificate, as the revoke control reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevokedCertificate {
    /// Its serial, uppercase hex.
    pub serial_number: String,
    /// The id of the CA whose CRL lists it (`root`, `ca-0`, ...).
    pub issuer: String,
    /// When and why.
    #[serde(flatten)]
    pub revocation: Revoked,
}

/// Who signs OCSP responses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OcspSigner {
    /// The CA that issued the certificate asked about (authorised by definition).
    #[default]
    Issuer,
    /// A responder certificate that CA issued with EKU OCSPSigning (authorised by delegation).
    Delegated,
    /// A key no CA of the PKI certified (its self-signed certificate is in the response): an
    /// unauthorised responder, which a relying party must reject.
    Foreign,
}

/// Whether an endpoint answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Outage {
    /// It answers normally.
    #[default]
    None,
    /// It answers 503 Service Unavailable.
    Unavailable,
    /// It answers normally after this long (a client with a shorter timeout sees it hang).
    Hang {
        /// How long, in milliseconds.
        millis: u64,
    },
}

/// The switches of the revocation endpoints, all off by default. Set together (the body of
/// `POST /_sim/pki/switches`, each member optional, `{}` resets them all):
/// `{"ocsp_signer": "delegated", "ocsp_stale": true, "ocsp_outage": {"kind": "hang", "millis":
/// 5000}, "crl_stale": false, "crl_outage": {"kind": "unavailable"}}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RevocationSwitches {
    /// Who signs OCSP responses.
    pub ocsp_signer: OcspSigner,
    /// OCSP responses are stale: produced and thisUpdate two hours ago, nextUpdate one hour ago.
    pub ocsp_stale: bool,
    /// The OCSP responder is down (503) or slow.
    pub ocsp_outage: Outage,
    /// CRLs are stale: thisUpdate two hours ago, nextUpdate one hour ago (same cRLNumber rules).
    pub crl_stale: bool,
    /// The CRL server is down (503) or slow.
    pub crl_outage: Outage,
}

/// A CA of the PKI, with everything needed to sign its revocation data.
pub(crate) struct Authority {
    /// `root` or `ca-<index>`.
    pub(crate) id: String,
    pub(crate) issuer: CertifiedIssuer<'static, KeyPair>,
    pub(crate) certificate: Certificate,
    /// Its delegated OCSP responder.
    pub(crate) responder: Responder,
}

/// A key that signs on a CA's behalf (OCSP responses, time-stamp tokens), with its certificate.
pub(crate) struct Responder {
    pub(crate) key: KeyPair,
    pub(crate) certificate: Certificate,
}

/// One CA's CRL: the last cRLNumber used and the CRL issued with it, until something changes.
#[derive(Default)]
struct CrlState {
    number: u64,
    current: Option<(OffsetDateTime, Vec<u8>)>,
}

#[derive(Default)]
struct State {
    /// Revoked serials, with the index of the authority that issued them.
    revoked: BTreeMap<Vec<u8>, (usize, Revoked)>,
    /// One per authority.
    crls: Vec<CrlState>,
    switches: RevocationSwitches,
}

/// The revocation side of a [`TestPki`](crate::TestPki): its CAs' keys, the revoked serials, the
/// CRLs and the OCSP responder, and the [`RevocationSwitches`]. Shared by the HTTP routes and the
/// simulators' control handles; every method takes `&self`.
pub struct Revocation {
    /// The root first, then the issuing CAs in order.
    authorities: Vec<Authority>,
    /// Every certificate issued under the PKI: serial → index of the issuing authority.
    issued: BTreeMap<Vec<u8>, usize>,
    /// The citizens' certificates by the id in their subject's `UID=CCCD:<id>`.
    citizens: BTreeMap<String, Vec<[u8; 16]>>,
    /// The unauthorised responder of [`OcspSigner::Foreign`].
    foreign: Responder,
    /// The simulator's base address (`http://127.0.0.1:8089`), if known.
    base_url: Option<String>,
    state: Mutex<State>,
}

impl fmt::Debug for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocation")
            .field(
                "authorities",
                &self.authorities.iter().map(|a| &a.id).collect::<Vec<_>>(),
            )
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// The id of the issuing CA of this index in URLs.
pub(crate) fn issuing_ca_id(index: usize) -> String {
    format!("ca-{index}")
}

/// The CRL distribution point and AIA (id-ad-ocsp) extensions of a certificate issued by the CA
/// `issuer_id`, for a simulator at `base_url`.
pub(crate) fn publication_extensions(
    base_url: &str,
    issuer_id: &str,
) -> Result<(CrlDistributionPoint, CustomExtension), RevocationError> {
    let crl = CrlDistributionPoint {
        uris: vec![crl_url(base_url, issuer_id)],
    };
    let ocsp = Ia5String::new(&ocsp_url(base_url))?;
    let aia = AuthorityInfoAccessSyntax(vec![AccessDescription {
        access_method: ID_AD_OCSP,
        access_location: GeneralName::UniformResourceIdentifier(ocsp),
    }]);
    Ok((
        crl,
        custom_extension(AuthorityInfoAccessSyntax::OID, aia.to_der()?),
    ))
}

/// The id-pkix-ocsp-nocheck extension of a delegated responder's certificate.
pub(crate) fn ocsp_nocheck_extension() -> Result<CustomExtension, RevocationError> {
    Ok(custom_extension(ID_PKIX_OCSP_NOCHECK, Null.to_der()?))
}

pub(crate) fn custom_extension(oid: ObjectIdentifier, content: Vec<u8>) -> CustomExtension {
    let arcs: Vec<u64> = oid.arcs().map(u64::from).collect();
    CustomExtension::from_oid_content(&arcs, content)
}

fn crl_url(base_url: &str, id: &str) -> String {
    format!("{base_url}{CRL_PATH}/{id}.crl")
}

fn ocsp_url(base_url: &str) -> String {
    format!("{base_url}{OCSP_PATH}")
}

/// Now, in whole seconds (what CRLs and OCSP carry).
fn now_seconds() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

impl Revocation {
    pub(crate) fn new(
        authorities: Vec<Authority>,
        issued: BTreeMap<Vec<u8>, usize>,
        citizens: BTreeMap<String, Vec<[u8; 16]>>,
        foreign: Responder,
        base_url: Option<String>,
    ) -> Self {
        let crls = authorities.iter().map(|_| CrlState::default()).collect();
        Self {
            authorities,
            issued,
            citizens,
            foreign,
            base_url,
            state: Mutex::new(State {
                crls,
                ..State::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation is a few assignments that leave the state consistent, so a poisoned
        // lock still holds usable state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The ids of the CAs, root first (`root`, `ca-0`, `ca-1`, ...).
    pub fn authority_ids(&self) -> impl Iterator<Item = &str> {
        self.authorities.iter().map(|a| a.id.as_str())
    }

    /// The certificate of the CA `id`.
    pub fn authority_certificate(&self, id: &str) -> Option<&Certificate> {
        self.authority(id).ok().map(|a| &a.certificate)
    }

    /// The delegated OCSP responder certificate the CA `id` issued.
    pub fn delegated_responder_certificate(&self, id: &str) -> Option<&Certificate> {
        self.authority(id).ok().map(|a| &a.responder.certificate)
    }

    /// The certificate of the unauthorised responder ([`OcspSigner::Foreign`]).
    pub fn foreign_responder_certificate(&self) -> &Certificate {
        &self.foreign.certificate
    }

    /// The URL of the CA `id`'s CRL, if the PKI was built with a base address.
    pub fn crl_url(&self, id: &str) -> Option<String> {
        self.base_url.as_deref().map(|base| crl_url(base, id))
    }

    /// The simulator's base address the PKI was built with, if any.
    pub(crate) fn served_at(&self) -> Option<&str> {
        self.base_url.as_deref()
    }

    /// The OCSP responder's URL, if the PKI was built with a base address.
    pub fn ocsp_url(&self) -> Option<String> {
        self.base_url.as_deref().map(ocsp_url)
    }

    pub(crate) fn authority(&self, id: &str) -> Result<&Authority, RevocationError> {
        self.authorities
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| RevocationError::UnknownAuthority(id.to_owned()))
    }

    /// Revokes the certificate with this serial (DER content bytes, as in
    /// [`Certificate::serial`]): it appears on its CA's next CRL and OCSP answers `revoked`.
    /// A certificate on hold (certificateHold) may be revoked again, replacing the hold.
    ///
    /// # Errors
    /// [`RevocationError::UnknownSerial`] if the PKI did not issue it,
    /// [`RevocationError::AlreadyRevoked`], or [`RevocationError::FutureRevocation`].
    pub fn revoke(
        &self,
        serial: &[u8],
        revoke: &Revoke,
    ) -> Result<RevokedCertificate, RevocationError> {
        let authority = *self
            .issued
            .get(serial)
            .ok_or_else(|| RevocationError::UnknownSerial(hex::encode_upper(serial)))?;
        let now = now_seconds();
        let revoked_at = match revoke.revoked_at {
            Some(at) => {
                let at = at.to_offset(time::UtcOffset::UTC);
                at.replace_nanosecond(0).unwrap_or(at)
            }
            None => now,
        };
        if revoked_at > now {
            return Err(RevocationError::FutureRevocation(revoked_at));
        }
        let revocation = Revoked {
            revoked_at,
            reason: revoke.reason,
        };
        let mut state = self.lock();
        if let Some((_, earlier)) = state.revoked.get(serial)
            && earlier.reason != RevocationReason::CertificateHold
        {
            return Err(RevocationError::AlreadyRevoked {
                serial: hex::encode_upper(serial),
                revoked_at: earlier.revoked_at,
                reason: earlier.reason,
            });
        }
        state
            .revoked
            .insert(serial.to_vec(), (authority, revocation));
        if let Some(crl) = state.crls.get_mut(authority) {
            crl.current = None;
        }
        let issuer = self.authorities[authority].id.clone();
        tracing::info!(
            serial = %hex::encode_upper(serial),
            %issuer,
            reason = %revocation.reason,
            "certificate revoked"
        );
        Ok(RevokedCertificate {
            serial_number: hex::encode_upper(serial),
            issuer,
            revocation,
        })
    }

    /// The serials of the certificates whose subject names `citizen` as `UID=CCCD:<citizen>` (or
    /// `UID=<citizen>`), `None` if there are none.
    pub fn citizen_serials(&self, citizen: &str) -> Option<Vec<[u8; 16]>> {
        self.citizens.get(citizen).cloned()
    }

    /// Revokes the certificates of `citizen` (see [`Revocation::citizen_serials`]) as
    /// [`Revocation::revoke_among`] does.
    ///
    /// # Errors
    /// [`RevocationError::UnknownCitizen`], or those of [`Revocation::revoke_among`].
    pub fn revoke_citizen(
        &self,
        citizen: &str,
        revoke: &Revoke,
    ) -> Result<Vec<RevokedCertificate>, RevocationError> {
        let serials = self
            .citizen_serials(citizen)
            .ok_or_else(|| RevocationError::UnknownCitizen(citizen.to_owned()))?;
        self.revoke_among(&serials, revoke)
    }

    /// Revokes, among `serials` (one citizen's certificates), the one `revoke.serial_number`
    /// names, or else every one not revoked yet.
    ///
    /// # Errors
    /// [`RevocationError::UnknownSerial`] (`revoke.serial_number` is not among them),
    /// [`RevocationError::AlreadyRevoked`] (nothing left to revoke),
    /// [`RevocationError::FutureRevocation`].
    pub fn revoke_among(
        &self,
        serials: &[[u8; 16]],
        revoke: &Revoke,
    ) -> Result<Vec<RevokedCertificate>, RevocationError> {
        if let Some(wanted) = &revoke.serial_number {
            let serial = serials
                .iter()
                .find(|serial| hex::encode(serial).eq_ignore_ascii_case(wanted))
                .ok_or_else(|| RevocationError::UnknownSerial(wanted.clone()))?;
            return Ok(vec![self.revoke(serial, revoke)?]);
        }
        let mut revoked = Vec::new();
        let mut first_error = None;
        for serial in serials {
            match self.revoke(serial, revoke) {
                Ok(certificate) => revoked.push(certificate),
                Err(error @ RevocationError::AlreadyRevoked { .. }) => {
                    first_error.get_or_insert(error);
                }
                Err(error) => return Err(error),
            }
        }
        match first_error {
            Some(error) if revoked.is_empty() => Err(error),
            _ => Ok(revoked),
        }
    }

    /// The revocation of the certificate with this serial, if it is revoked.
    pub fn revoked(&self, serial: &[u8]) -> Option<Revoked> {
        self.lock().revoked.get(serial).map(|(_, revoked)| *revoked)
    }

    /// Whether the certificate with this serial is revoked (the simulators' listings report it
    /// in their CA's words).
    pub fn is_revoked(&self, serial: &[u8]) -> bool {
        self.lock().revoked.contains_key(serial)
    }

    /// The switches currently set.
    pub fn switches(&self) -> RevocationSwitches {
        self.lock().switches
    }

    /// Sets every switch at once.
    pub fn set_switches(&self, switches: RevocationSwitches) {
        let mut state = self.lock();
        if state.switches.crl_stale != switches.crl_stale {
            // The next fetch gets a CRL of the new kind.
            state.crls.iter_mut().for_each(|crl| crl.current = None);
        }
        state.switches = switches;
    }

    /// The current CRL of the CA `id`, DER: issued by rcgen and signed by the CA, listing every
    /// certificate it issued that is revoked. A new one (with the next cRLNumber) is issued after
    /// every change, and once half of [`CRL_VALIDITY`] has passed.
    ///
    /// # Errors
    /// [`RevocationError::UnknownAuthority`], or a signing failure.
    pub fn crl(&self, id: &str) -> Result<Vec<u8>, RevocationError> {
        let index = self
            .authorities
            .iter()
            .position(|a| a.id == id)
            .ok_or_else(|| RevocationError::UnknownAuthority(id.to_owned()))?;
        let now = now_seconds();
        let mut state = self.lock();
        let stale = state.switches.crl_stale;
        let revoked_certs = state
            .revoked
            .iter()
            .filter(|(_, (authority, _))| *authority == index)
            .map(|(serial, (_, revoked))| RevokedCertParams {
                serial_number: SerialNumber::from_slice(serial),
                revocation_time: revoked.revoked_at,
                reason_code: Some(revoked.reason.rcgen()),
                invalidity_date: None,
            })
            .collect();
        let crl = state
            .crls
            .get_mut(index)
            .ok_or_else(|| RevocationError::UnknownAuthority(id.to_owned()))?;
        if let Some((this_update, der)) = &crl.current
            && now < *this_update + CRL_VALIDITY / 2
        {
            return Ok(der.clone());
        }
        let this_update = if stale { now - CRL_VALIDITY * 2 } else { now };
        let params = CertificateRevocationListParams {
            this_update,
            next_update: this_update + CRL_VALIDITY,
            crl_number: SerialNumber::from(crl.number + 1),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let der = params
            .signed_by(&self.authorities[index].issuer)?
            .der()
            .to_vec();
        crl.number += 1;
        if !stale {
            crl.current = Some((this_update, der.clone()));
        }
        Ok(der)
    }

    /// Answers an OCSP request (DER `OCSPRequest`) with a DER `OCSPResponse`: `malformedRequest`
    /// if it cannot be read, `unauthorized` if no CertID names a CA of this PKI, else a
    /// BasicOCSPResponse with one SingleResponse per CertID, signed as the switches say by the CA
    /// of the first CertID that names one (CertIDs naming another CA, or a serial that CA did not
    /// issue, are `unknown`).
    ///
    /// # Errors
    /// An encoding or signing failure (the HTTP layer answers 500).
    pub fn respond(&self, request: &[u8]) -> Result<Vec<u8>, RevocationError> {
        let response = match OcspRequest::from_der(request) {
            Ok(request) => self.answer(&request)?,
            Err(error) => {
                tracing::debug!(%error, "unreadable OCSP request");
                OcspResponse::malformed_request()
            }
        };
        Ok(response.to_der()?)
    }

    fn answer(&self, request: &OcspRequest) -> Result<OcspResponse, RevocationError> {
        let cert_ids: Vec<&CertId> = request
            .tbs_request
            .request_list
            .iter()
            .map(|r| &r.req_cert)
            .collect();
        if cert_ids.is_empty() {
            return Ok(OcspResponse::malformed_request());
        }
        let matched: Vec<Option<usize>> = cert_ids.iter().map(|id| self.issuer_of(id)).collect();
        let Some(signer) = matched.iter().flatten().next().copied() else {
            return Ok(OcspResponse::unauthorized());
        };
        let authority = &self.authorities[signer];
        let (switches, statuses) = {
            let state = self.lock();
            let statuses: Vec<CertStatus> = cert_ids
                .iter()
                .zip(&matched)
                .map(|(id, issuer)| {
                    let serial = id.serial_number.as_bytes();
                    if *issuer != Some(signer) || self.issued.get(serial) != Some(&signer) {
                        return Ok(CertStatus::unknown());
                    }
                    Ok(match state.revoked.get(serial) {
                        Some((_, revoked)) => CertStatus::revoked(RevokedInfo {
                            revocation_time: generalized_time(revoked.revoked_at)?,
                            revocation_reason: Some(revoked.reason.ocsp()),
                        }),
                        None => CertStatus::good(),
                    })
                })
                .collect::<Result<_, RevocationError>>()?;
            (state.switches, statuses)
        };

        let now = now_seconds();
        let this_update = if switches.ocsp_stale {
            now - OCSP_VALIDITY * 2
        } else {
            now
        };
        let next_update = generalized_time(this_update + OCSP_VALIDITY)?;
        let this_update = generalized_time(this_update)?;
        let responder = match switches.ocsp_signer {
            OcspSigner::Issuer => None,
            OcspSigner::Delegated => Some(&authority.responder),
            OcspSigner::Foreign => Some(&self.foreign),
        };
        let (key, certificate) = match responder {
            None => (authority.issuer.key(), &authority.certificate),
            Some(responder) => (&responder.key, &responder.certificate),
        };
        let signer_certificate = x509_cert::Certificate::from_der(&certificate.der)?;
        let mut builder =
            OcspResponseBuilder::new(signer_certificate.tbs_certificate.subject.clone());
        for (id, status) in cert_ids.into_iter().zip(statuses) {
            builder = builder.with_single_response(
                SingleResponse::new(id.clone(), status, this_update).with_next_update(next_update),
            );
        }
        if let Some(nonce) = request.nonce() {
            builder = builder
                .with_extension(nonce)
                .map_err(|e| RevocationError::Encoding(e.to_string()))?;
        }
        builder
            .sign(
                &mut CaSigner(key),
                Some(vec![signer_certificate]),
                this_update,
            )
            .map_err(|e| RevocationError::Encoding(e.to_string()))
    }

    /// The authority a CertID names: its issuerNameHash and issuerKeyHash, made with the CertID's
    /// hash algorithm (SHA-1, SHA-256, SHA-384 or SHA-512), are that CA's.
    fn issuer_of(&self, id: &CertId) -> Option<usize> {
        let algorithm = id.hash_algorithm.oid;
        self.authorities.iter().position(|authority| {
            let Ok(certificate) = x509_cert::Certificate::from_der(&authority.certificate.der)
            else {
                return false;
            };
            let Ok(name) = certificate.tbs_certificate.subject.to_der() else {
                return false;
            };
            let key = certificate
                .tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes();
            digest(algorithm, &name).is_some_and(|h| h == id.issuer_name_hash.as_bytes())
                && digest(algorithm, key).is_some_and(|h| h == id.issuer_key_hash.as_bytes())
        })
    }
}

/// `data` hashed with the algorithm of this OID, if it is SHA-1 or SHA-2.
fn digest(algorithm: ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    Some(match algorithm {
        ID_SHA_1 => Sha1::digest(data).to_vec(),
        ID_SHA_256 => Sha256::digest(data).to_vec(),
        ID_SHA_384 => Sha384::digest(data).to_vec(),
        ID_SHA_512 => Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

fn generalized_time(at: OffsetDateTime) -> Result<OcspGeneralizedTime, RevocationError> {
    let seconds = u64::try_from(at.unix_timestamp())
        .map_err(|_| RevocationError::Encoding(format!("{at} is before 1970")))?;
    let at = DateTime::from_unix_duration(Duration::from_secs(seconds))?;
    Ok(OcspGeneralizedTime(GeneralizedTime::from_date_time(at)))
}

/// An rcgen P-256 key as the `signature` 2 signer `x509-ocsp`'s builder wants: ECDSA with
/// SHA-256, the signature DER-encoded.
struct CaSigner<'a>(&'a KeyPair);

/// A DER-encoded ECDSA signature, as it goes into a BIT STRING.
struct DerSignature(Vec<u8>);

impl signature::Signer<DerSignature> for CaSigner<'_> {
    fn try_sign(&self, msg: &[u8]) -> Result<DerSignature, signature::Error> {
        self.0
            .sign(msg)
            .map(DerSignature)
            .map_err(|_| signature::Error::new())
    }
}

impl DynSignatureAlgorithmIdentifier for CaSigner<'_> {
    fn signature_algorithm_identifier(&self) -> x509_cert::spki::Result<AlgorithmIdentifierOwned> {
        Ok(AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA_256,
            parameters: None,
        })
    }
}

impl SignatureBitStringEncoding for DerSignature {
    fn to_bitstring(&self) -> x509_cert::der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}
