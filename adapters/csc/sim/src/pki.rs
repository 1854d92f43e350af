//! The simulator's test PKI and what `credentials/info` reports about a certificate.
//!
//! `kyso-sim-kit` generates a self-signed root ("Kyso Sandbox CSC Root"), one issuing CA under
//! it ("Kyso Sandbox CSC Issuing CA") and one end-entity certificate per citizen, valid two
//! years, with subject `CN=<full name>, UID=CCCD:<12 digits>, C=VN` and key usage
//! digitalSignature + nonRepudiation; the kit's [`CitizenKey`](kyso_sim_kit::CitizenKey) signs
//! the digests clients submit to `signatures/signHash`. This module adds CSC's view of a
//! certificate: the `certInfo` fields.

use kyso_sim_kit::{CitizenCertSpec, IssuedCitizen, TestPki};
use time::OffsetDateTime;

use crate::SimError;
use crate::config::CitizenSpec;

/// Days a citizen's certificate is valid from start-up.
const CITIZEN_VALIDITY_DAYS: i64 = 730;

/// Generates the root, the issuing CA and one credential per citizen, in the order of the
/// specs. CPU-bound (RSA key generation): call it off the async executor.
pub(crate) fn generate(specs: &[CitizenSpec], base_url: String) -> Result<TestPki, SimError> {
    Ok(TestPki::builder("Kyso Sandbox CSC Root")
        .served_at(base_url)
        .issuing_ca("Kyso Sandbox CSC Issuing CA")
        .citizens(specs.iter().map(|spec| {
            CitizenCertSpec::new(spec.full_name.as_str(), &spec.cccd, spec.key)
                .validity_days(CITIZEN_VALIDITY_DAYS)
        }))
        .build()?)
}

/// What `credentials/info` reports about a certificate (`certInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertFacts {
    pub(crate) subject_dn: String,
    pub(crate) issuer_dn: String,
    /// Uppercase hex.
    pub(crate) serial_hex: String,
    /// GeneralizedTime form, `YYYYMMDDHHMMSSZ`.
    pub(crate) valid_from: String,
    /// GeneralizedTime form, `YYYYMMDDHHMMSSZ`.
    pub(crate) valid_to: String,
}

impl CertFacts {
    /// The facts of a citizen's certificate.
    pub(crate) fn of(citizen: &IssuedCitizen) -> Self {
        let certificate = &citizen.certificate;
        Self {
            subject_dn: certificate.subject.to_string(),
            issuer_dn: certificate.issuer.to_string(),
            serial_hex: certificate.serial_hex(),
            valid_from: generalized_time(certificate.not_before),
            valid_to: generalized_time(certificate.not_after),
        }
    }
}

/// `YYYYMMDDHHMMSSZ` (the kit's certificate times are UTC, whole seconds).
fn generalized_time(at: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use kyso_sim_kit::{Behaviour, KeyKind};
    use x509_parser::prelude::{FromDer, X509Certificate};

    use super::*;

    #[test]
    fn citizen_certificate_names_the_cccd_and_chains_to_the_issuing_ca() {
        let spec = CitizenSpec::new(
            "001099000001",
            "Nguyễn Văn An",
            KeyKind::P256,
            Behaviour::Manual,
        );
        let pki = generate(&[spec], "http://127.0.0.1:9".to_owned()).unwrap();
        let credential = &pki.citizens[0];
        let (_, cert) = X509Certificate::from_der(&credential.certificate.der).unwrap();
        let (_, issuing) = X509Certificate::from_der(&pki.issuing_cas[0].der).unwrap();
        let (_, root) = X509Certificate::from_der(&pki.root.der).unwrap();
        cert.verify_signature(Some(issuing.public_key())).unwrap();
        issuing.verify_signature(Some(root.public_key())).unwrap();
        let uid = cert
            .subject()
            .iter_attributes()
            .find(|a| a.attr_type().to_id_string() == "0.9.2342.19200300.100.1.1")
            .and_then(|a| a.as_str().ok())
            .unwrap();
        assert_eq!(uid, "CCCD:001099000001");
        let facts = CertFacts::of(credential);
        assert_eq!(facts.valid_from.len(), 15);
        assert!(facts.valid_to.ends_with('Z'));
        let serial: String = cert
            .raw_serial()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(facts.serial_hex, serial);
        assert_eq!(
            facts.valid_to,
            generalized_time(cert.validity().not_after.to_datetime())
        );
    }
}
