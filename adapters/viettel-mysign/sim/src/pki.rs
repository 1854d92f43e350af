//! The simulator's test PKI and what `certificates/info` reports about each certificate.
//!
//! `kyso-sim-kit` generates, like Viettel's real hierarchy, a root CA (standing in for the
//! Vietnam National Root CA), an issuing CA (standing in for Viettel-CA) and one RSA-2048
//! personal certificate per subscriber, shaped like MySign's: subject `UID=CCCD:<number>,
//! CN=<full name>, L=Hà Nội, C=VN`, key usage digitalSignature + contentCommitment. The
//! subscribers' keys sign the SP's digests as RSASSA-PKCS1-v1_5 over a prehashed SHA-256 value.
//! This module adds Viettel's view of it: the `credential_id`, the decimal serial, the DNs in
//! Viettel's notation and the `yyyyMMddHHmmss+0000` validity bounds.

use kyso_sim_kit::{
    CitizenCertSpec, CitizenKey, DnAttribute, KeyKind, Revocation, Revoke, Subject, TestPki,
};
use time::OffsetDateTime;

use crate::SimError;
use crate::config::{CertificateStatus, CitizenSpec};

/// A subscriber with their key and certificate.
pub(crate) struct Citizen {
    pub(crate) spec: CitizenSpec,
    pub(crate) key: CitizenKey,
    /// `credential_id`, in Viettel's shape `<number>_<7 digits>_<yyyyMMddHHmmss>`.
    pub(crate) credential_id: String,
    pub(crate) cert_der: Vec<u8>,
    pub(crate) cert_pem: String,
    /// The serial number in decimal, as `certificates/info` reports it.
    pub(crate) serial: [u8; 16],
    pub(crate) serial_decimal: String,
    /// e.g. `UID=CCCD:001099000001,CN=Nguyễn Văn An,L=Hà Nội,C=VN`.
    pub(crate) subject_dn: String,
    /// `yyyyMMddHHmmss+0000`.
    pub(crate) valid_from: String,
    /// `yyyyMMddHHmmss+0000`.
    pub(crate) valid_to: String,
}

/// The whole test PKI, as the simulator reports it.
pub(crate) struct ViettelPki {
    pub(crate) root_der: Vec<u8>,
    pub(crate) root_pem: String,
    pub(crate) issuer_der: Vec<u8>,
    /// The issuing CA's DN in Viettel's notation.
    pub(crate) issuer_dn: String,
    pub(crate) citizens: Vec<Citizen>,
    /// CRLs, OCSP and revoked serials of the root and Viettel-CA: a certificate configured
    /// [`CertificateStatus::Revoked`] is revoked there from the start.
    pub(crate) revocation: Revocation,
}

impl ViettelPki {
    /// Generates the hierarchy and one certificate per subscriber. CPU-bound (RSA key
    /// generation): call it off the async executor.
    pub(crate) fn generate(specs: &[CitizenSpec], base_url: String) -> Result<Self, SimError> {
        let now = OffsetDateTime::now_utc();
        let TestPki {
            root,
            issuing_cas,
            citizens,
            revocation,
        } = TestPki::builder("Kyso Sandbox National Root CA")
            .served_at(base_url)
            .issuing_ca("Kyso Sandbox Viettel-CA")
            .citizens(specs.iter().map(|spec| {
                CitizenCertSpec::with_subject(
                    Subject::new()
                        .push(DnAttribute::Uid, format!("CCCD:{}", spec.user_id))
                        .push(DnAttribute::CommonName, spec.full_name.as_str())
                        .push(DnAttribute::Locality, "Hà Nội")
                        .push(DnAttribute::Country, "VN"),
                    KeyKind::Rsa2048,
                )
            }))
            .build()?;
        let issuer = issuing_cas
            .into_iter()
            .next()
            .ok_or_else(|| SimError::Certificate("no issuing CA was generated".to_owned()))?;
        let citizens = specs
            .iter()
            .zip(citizens)
            .map(|(spec, issued)| {
                let cert = issued.certificate;
                Citizen {
                    spec: spec.clone(),
                    key: issued.key,
                    credential_id: format!(
                        "{}_{}_{}",
                        spec.user_id,
                        rand::random_range(1_000_000..10_000_000_u32),
                        compact_time(now)
                    ),
                    serial: cert.serial,
                    serial_decimal: decimal_serial(cert.serial),
                    subject_dn: viettel_dn(&cert.subject),
                    valid_from: viettel_time(cert.not_before),
                    valid_to: viettel_time(cert.not_after),
                    cert_der: cert.der,
                    cert_pem: cert.pem,
                }
            })
            .collect::<Vec<_>>();
        for citizen in &citizens {
            if citizen.spec.certificate_status == CertificateStatus::Revoked {
                revocation
                    .revoke(&citizen.serial, &Revoke::default())
                    .map_err(|e| SimError::Certificate(e.to_string()))?;
            }
        }
        Ok(Self {
            root_der: root.der,
            root_pem: root.pem,
            issuer_dn: viettel_dn(&issuer.subject),
            issuer_der: issuer.der,
            citizens,
            revocation,
        })
    }
}

/// A DN in Viettel's notation: `label=value` in certificate order, joined by `,` (no space).
fn viettel_dn(subject: &Subject) -> String {
    subject
        .attributes()
        .iter()
        .map(|(attribute, value)| format!("{}={value}", attribute.label()))
        .collect::<Vec<_>>()
        .join(",")
}

/// A 16-byte serial number in decimal.
fn decimal_serial(serial: [u8; 16]) -> String {
    u128::from_be_bytes(serial).to_string()
}

/// `yyyyMMddHHmmss` in UTC.
fn compact_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Viettel's certificate dates: `yyyyMMddHHmmss+0000`.
fn viettel_time(at: OffsetDateTime) -> String {
    format!("{}+0000", compact_time(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_have_viettels_shape() {
        let at = time::macros::datetime!(2022-10-17 04:31:50 UTC);
        assert_eq!(viettel_time(at), "20221017043150+0000");
    }

    #[test]
    fn serial_is_reported_in_decimal() {
        let mut bytes = [0_u8; 16];
        bytes[0] = 0x40;
        bytes[15] = 0x01;
        let decimal = decimal_serial(bytes);
        assert_eq!(decimal, ((1_u128 << 126) + 1).to_string());
        assert_eq!(decimal.parse::<u128>().unwrap().to_be_bytes(), bytes);
    }

    #[test]
    fn dns_use_viettels_notation() {
        let subject = Subject::new()
            .push(DnAttribute::Uid, "CCCD:001099000001")
            .push(DnAttribute::CommonName, "Nguyễn Văn An")
            .push(DnAttribute::Locality, "Hà Nội")
            .push(DnAttribute::Country, "VN");
        assert_eq!(
            viettel_dn(&subject),
            "UID=CCCD:001099000001,CN=Nguyễn Văn An,L=Hà Nội,C=VN"
        );
    }
}
