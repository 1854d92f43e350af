//! The simulator's test PKI and what MISA reports about each certificate.
//!
//! MISA's certificate chain has three links: the signer, MISA-CA's intermediate and the root
//! issued by NEAC. `kyso-sim-kit` builds the same shape: a root ("Kyso Sandbox National Root CA
//! (MISA simulator)"), one issuing CA ("Kyso Sandbox MISA-CA") and one RSA-2048 certificate per
//! citizen, subject `CN=<full name>, UID=CCCD:<number>, C=VN`, key usage digitalSignature +
//! contentCommitment. The citizens' keys sign the integrator's digests (PKCS#1 v1.5 over the
//! SHA-256 DigestInfo). This module adds MISA's view of it: the MISA user id and key alias of
//! each citizen, the three-link chain, and MISA's date format.

use kyso_sim_kit::{CitizenCertSpec, CitizenKey, KeyKind, Revocation, TestPki};
use time::{OffsetDateTime, UtcOffset};

use crate::SimError;
use crate::config::CitizenSpec;

/// One generated citizen.
pub(crate) struct Citizen {
    pub(crate) spec: CitizenSpec,
    pub(crate) key: CitizenKey,
    /// MISA's id of the subscriber (`Cert.userId`, the `UserId` of Signing/hash): a GUID.
    pub(crate) misa_user_id: String,
    /// MISA's id of the signing key (`keyAlias`, the `CertAlias` of Signing/hash): a GUID.
    pub(crate) key_alias: String,
    pub(crate) cert_der: Vec<u8>,
    pub(crate) cert_pem: String,
    /// Uppercase hex of the serial number.
    pub(crate) serial: [u8; 16],
    pub(crate) serial_hex: String,
    pub(crate) not_before: OffsetDateTime,
    pub(crate) not_after: OffsetDateTime,
}

/// The whole PKI: root, issuing CA, citizens.
pub(crate) struct MisaPki {
    pub(crate) root_der: Vec<u8>,
    pub(crate) root_pem: String,
    pub(crate) issuing_der: Vec<u8>,
    pub(crate) citizens: Vec<Citizen>,
    /// CRLs, OCSP and revoked serials of the root and MISA-CA.
    pub(crate) revocation: Revocation,
}

impl MisaPki {
    /// Generates everything. CPU-bound (one RSA key per citizen): run it off the executor.
    pub(crate) fn generate(specs: &[CitizenSpec], base_url: String) -> Result<Self, SimError> {
        let TestPki {
            root,
            issuing_cas,
            citizens,
            revocation,
        } = TestPki::builder("Kyso Sandbox National Root CA (MISA simulator)")
            .served_at(base_url)
            .issuing_ca("Kyso Sandbox MISA-CA")
            .citizens(specs.iter().map(|spec| {
                CitizenCertSpec::new(spec.full_name.as_str(), &spec.user_id, KeyKind::Rsa2048)
            }))
            .build()?;
        let issuing_der = issuing_cas
            .into_iter()
            .next()
            .map(|ca| ca.der)
            .ok_or_else(|| SimError::Startup("no issuing CA was generated".to_owned()))?;
        let citizens = specs
            .iter()
            .zip(citizens)
            .map(|(spec, issued)| {
                let cert = issued.certificate;
                Citizen {
                    spec: spec.clone(),
                    key: issued.key,
                    misa_user_id: uuid::Uuid::new_v4().to_string(),
                    key_alias: uuid::Uuid::new_v4().to_string(),
                    serial: cert.serial,
                    serial_hex: cert.serial_hex(),
                    not_before: cert.not_before,
                    not_after: cert.not_after,
                    cert_der: cert.der,
                    cert_pem: cert.pem,
                }
            })
            .collect();
        Ok(Self {
            root_der: root.der,
            root_pem: root.pem,
            issuing_der,
            citizens,
            revocation,
        })
    }
}

/// A date as MISA's .NET API writes a `DateTime`: ISO 8601 in Vietnam's time zone, seconds
/// precision (`2026-11-22T13:30:00+07:00`).
pub(crate) fn misa_date_time(at: OffsetDateTime) -> String {
    let offset = UtcOffset::from_hms(7, 0, 0).unwrap_or(UtcOffset::UTC);
    let at = at.to_offset(offset);
    let (hours, minutes, _) = offset.as_hms();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        hours,
        minutes
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misa_date_time_is_in_vietnam_time() {
        let at = time::macros::datetime!(2026-11-22 06:30:05 UTC);
        assert_eq!(misa_date_time(at), "2026-11-22T13:30:05+07:00");
    }
}
