//! The simulator's test PKI and what get_certificate reports about each certificate.
//!
//! `kyso-sim-kit` generates a root CA, one issuing CA ("Kyso Sandbox SmartCA RS") and one
//! end-entity certificate per citizen, shaped like a SmartCA personal certificate:
//! `CN=<full name>, UID=CCCD:<user_id>, C=VN`, key usage digitalSignature + contentCommitment,
//! key type following the citizen's signature scheme. This module adds VNPT's view of it: the
//! `cert_id`, the uppercase hex serial, the subject string and RFC 3339 validity bounds. The
//! certificates point at the simulator's own CRL and OCSP responder (the kit's [`Revocation`]).

use kyso_sim_kit::{CitizenCertSpec, CitizenKey, Revocation, TestPki};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::SimError;
use crate::config::CitizenSpec;

/// A generated citizen: the spec plus key and certificate.
pub(crate) struct Citizen {
    pub(crate) spec: CitizenSpec,
    pub(crate) key: CitizenKey,
    /// `cert_id`: a UUID, stable for the simulator's lifetime.
    pub(crate) cert_id: String,
    pub(crate) cert_der: Vec<u8>,
    pub(crate) cert_pem: String,
    /// The certificate serial number.
    pub(crate) serial: [u8; 16],
    /// Uppercase hex of the certificate serial number.
    pub(crate) serial_hex: String,
    /// The subject DN as a string, e.g. `CN=Nguyễn Văn An, UID=CCCD:001099000001, C=VN`.
    pub(crate) subject: String,
    /// RFC 3339 (UTC, `Z`).
    pub(crate) valid_from: String,
    /// RFC 3339 (UTC, `Z`).
    pub(crate) valid_to: String,
}

/// The whole test PKI: root, issuing CA and the citizens.
pub(crate) struct VnptPki {
    pub(crate) root_der: Vec<u8>,
    pub(crate) root_pem: String,
    pub(crate) ca_der: Vec<u8>,
    pub(crate) citizens: Vec<Citizen>,
    /// CRLs, OCSP and revoked serials of the root and the issuing CA.
    pub(crate) revocation: Revocation,
}

impl VnptPki {
    /// Generates the root, the issuing CA and one certificate per citizen, pointing at the
    /// simulator at `base_url` for revocation data. CPU-bound (RSA key generation): call it off
    /// the async executor.
    pub(crate) fn generate(specs: &[CitizenSpec], base_url: String) -> Result<Self, SimError> {
        let TestPki {
            root,
            issuing_cas,
            citizens,
            revocation,
        } = TestPki::builder("Kyso Sandbox Root CA")
            .served_at(base_url)
            .issuing_ca("Kyso Sandbox SmartCA RS")
            .citizens(specs.iter().map(|spec| {
                CitizenCertSpec::new(
                    spec.full_name.as_str(),
                    &spec.user_id,
                    spec.scheme.key_kind(),
                )
            }))
            .build()?;
        let ca_der = issuing_cas
            .into_iter()
            .next()
            .map(|ca| ca.der)
            .ok_or_else(|| SimError::Certificate("no issuing CA was generated".to_owned()))?;
        let citizens = specs
            .iter()
            .zip(citizens)
            .map(|(spec, issued)| {
                let cert = issued.certificate;
                Ok(Citizen {
                    spec: spec.clone(),
                    key: issued.key,
                    cert_id: uuid::Uuid::new_v4().to_string(),
                    serial: cert.serial,
                    serial_hex: cert.serial_hex(),
                    subject: cert.subject.to_string(),
                    valid_from: rfc3339(cert.not_before)?,
                    valid_to: rfc3339(cert.not_after)?,
                    cert_der: cert.der,
                    cert_pem: cert.pem,
                })
            })
            .collect::<Result<Vec<_>, SimError>>()?;
        Ok(Self {
            root_der: root.der,
            root_pem: root.pem,
            ca_der,
            citizens,
            revocation,
        })
    }
}

/// `2026-01-02T03:04:05Z` (the kit's certificate times are UTC, whole seconds).
fn rfc3339(at: OffsetDateTime) -> Result<String, SimError> {
    at.format(&Rfc3339)
        .map_err(|e| SimError::Certificate(e.to_string()))
}
