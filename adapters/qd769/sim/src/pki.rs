//! The simulator's test PKI and what get_certificate reports about each certificate.
//!
//! `kyso-sim-kit` generates one root CA (`Kyso Sandbox Root CA`, playing the national root every
//! public CA chains to) and, per simulated CA, an issuing CA under it (`<name> (Kyso sandbox)`),
//! then one RSA-2048 end-entity certificate per citizen and CA, shaped like a Vietnamese personal
//! signing certificate: `CN=<full name>, UID=CCCD:<user_id>, C=VN`, key usage
//! digitalSignature + contentCommitment. This module adds the 769 view of it, CA by CA: the
//! `cert_id`, the uppercase hex serial, the subject string and RFC 3339 validity bounds.

use kyso_sim_kit::{
    Certificate, CitizenCertSpec, CitizenKey, IssuedCitizen, KeyKind, Revocation, TestPki,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::SimError;
use crate::config::{CaSpec, CitizenSpec};

/// A citizen's certificate at one CA, with its key.
pub(crate) struct Citizen {
    pub(crate) spec: CitizenSpec,
    /// An RSA-2048 key: 769 signatures are PKCS#1 v1.5.
    pub(crate) key: CitizenKey,
    /// The certificate as the kit made it (DER, PEM, subject...).
    pub(crate) certificate: Certificate,
    /// `cert_id`: a UUID, stable for the simulator's lifetime.
    pub(crate) cert_id: String,
    /// Uppercase hex of the certificate serial number.
    pub(crate) serial_hex: String,
    /// `cert_valid_from`, `cert_valid_to`: RFC 3339 (UTC, `Z`).
    pub(crate) validity: (String, String),
}

impl Citizen {
    /// The 769 view of a certificate the kit issued for `spec`.
    fn describe(spec: &CitizenSpec, issued: IssuedCitizen) -> Result<Self, SimError> {
        let IssuedCitizen {
            key, certificate, ..
        } = issued;
        let validity = (
            rfc3339(certificate.not_before)?,
            rfc3339(certificate.not_after)?,
        );
        Ok(Self {
            spec: spec.clone(),
            key,
            cert_id: uuid::Uuid::new_v4().to_string(),
            serial_hex: certificate.serial_hex(),
            validity,
            certificate,
        })
    }
}

/// One simulated CA's part of the PKI.
pub(crate) struct CaPki {
    pub(crate) ca_der: Vec<u8>,
    pub(crate) citizens: Vec<Citizen>,
}

/// The whole test PKI: the root and, per simulated CA, its issuing CA and citizens.
pub(crate) struct Qd769Pki {
    pub(crate) root_der: Vec<u8>,
    pub(crate) root_pem: String,
    /// In the order of the configured CAs.
    pub(crate) cas: Vec<CaPki>,
    /// CRLs, OCSP and revoked serials of the root and every CA (`ca-<index>` in configuration
    /// order).
    pub(crate) revocation: Revocation,
}

impl Qd769Pki {
    /// Generates everything. CPU-bound (RSA key generation): call it off the async executor.
    /// The certificates point at the simulator at `base_url` for revocation data.
    pub(crate) fn generate(specs: &[CaSpec], base_url: String) -> Result<Self, SimError> {
        let mut builder = TestPki::builder("Kyso Sandbox Root CA").served_at(base_url);
        for (index, ca) in specs.iter().enumerate() {
            let label = if ca.name.trim().is_empty() {
                "769 CA"
            } else {
                ca.name.as_str()
            };
            builder = builder
                .issuing_ca(format!("{label} (Kyso sandbox)"))
                .citizens(ca.citizens.iter().map(|citizen| {
                    CitizenCertSpec::new(
                        citizen.full_name.as_str(),
                        &citizen.user_id,
                        KeyKind::Rsa2048,
                    )
                    .issuer(index)
                }));
        }
        let TestPki {
            root,
            issuing_cas,
            citizens,
            revocation,
        } = builder.build()?;

        // The kit keeps the citizens in the order they were added: CA by CA, as configured.
        let mut issued = citizens.into_iter();
        let cas = specs
            .iter()
            .zip(issuing_cas)
            .map(|(ca, issuing)| {
                let citizens = ca
                    .citizens
                    .iter()
                    .zip(issued.by_ref())
                    .map(|(spec, issued)| Citizen::describe(spec, issued))
                    .collect::<Result<Vec<_>, SimError>>()?;
                Ok(CaPki {
                    ca_der: issuing.der,
                    citizens,
                })
            })
            .collect::<Result<Vec<_>, SimError>>()?;
        Ok(Self {
            root_der: root.der,
            root_pem: root.pem,
            cas,
            revocation,
        })
    }
}

/// `2026-01-02T03:04:05Z` (the kit's certificate times are UTC, whole seconds).
fn rfc3339(at: OffsetDateTime) -> Result<String, SimError> {
    at.format(&Rfc3339)
        .map_err(|e| SimError::Certificate(e.to_string()))
}
