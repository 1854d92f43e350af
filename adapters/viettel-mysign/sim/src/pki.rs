//! The simulator's test PKI and the subscribers' signing keys.
//!
//! At start the simulator builds, like Viettel's real hierarchy, a root CA (standing in for the
//! Vietnam National Root CA), an issuing CA (standing in for Viettel-CA) and one personal
//! certificate per subscriber, all RSA-2048. Personal certificates are shaped like MySign's:
//! subject `UID=CCCD:<number>, CN=<full name>, L=Hà Nội, C=VN`, key usage digitalSignature +
//! contentCommitment. Keys are generated with the `rsa` crate (compiled optimised even in debug
//! builds) and handed to rcgen (aws-lc-rs backend) to issue the certificates; the `rsa` keys then
//! sign the SP's digests as RSASSA-PKCS1-v1_5 over a prehashed SHA-256 value.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, DnValue, IsCa,
    KeyPair, KeyUsagePurpose, SerialNumber,
};
use rsa::pkcs8::EncodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::Sha256;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::SimError;
use crate::config::CitizenSpec;

/// OID of the `UID` (userId) attribute, in rcgen's component form.
const OID_UID: [u64; 7] = [0, 9, 2342, 19200300, 100, 1, 1];

/// Modulus size of every key the simulator makes.
const RSA_BITS: usize = 2048;

/// A fresh RSA-2048 key, both as the `rsa` crate's signer and as rcgen's key pair.
fn generate_key() -> Result<(RsaPrivateKey, KeyPair), SimError> {
    let key = RsaPrivateKey::new(&mut rand::rng(), RSA_BITS)?;
    let pkcs8 = key.to_pkcs8_der()?;
    let key_pair = KeyPair::try_from(pkcs8.as_bytes())?;
    Ok((key, key_pair))
}

/// An RSA private key that signs prehashed SHA-256 digests.
pub(crate) struct SigningKey(Box<RsaPrivateKey>);

impl SigningKey {
    /// A key that belongs to no certificate (for "sign with a foreign key").
    pub(crate) fn generate() -> Result<Self, SimError> {
        Ok(Self(Box::new(generate_key()?.0)))
    }

    /// RSASSA-PKCS1-v1_5 over `DigestInfo(SHA-256, digest)`: the raw signature MySign returns.
    pub(crate) fn sign_sha256(&self, digest: &[u8]) -> Result<Vec<u8>, SimError> {
        Ok(self.0.sign(Pkcs1v15Sign::new::<Sha256>(), digest)?)
    }
}

/// A subscriber with their key and certificate.
pub(crate) struct Citizen {
    pub(crate) spec: CitizenSpec,
    pub(crate) key: SigningKey,
    /// `credential_id`, in Viettel's shape `<number>_<7 digits>_<yyyyMMddHHmmss>`.
    pub(crate) credential_id: String,
    pub(crate) cert_der: Vec<u8>,
    pub(crate) cert_pem: String,
    /// The serial number in decimal, as `certificates/info` reports it.
    pub(crate) serial_decimal: String,
    /// e.g. `UID=CCCD:001099000001,CN=Nguyễn Văn An,L=Hà Nội,C=VN`.
    pub(crate) subject_dn: String,
    /// `yyyyMMddHHmmss+0000`.
    pub(crate) valid_from: String,
    /// `yyyyMMddHHmmss+0000`.
    pub(crate) valid_to: String,
}

/// The whole test PKI.
pub(crate) struct TestPki {
    pub(crate) root_der: Vec<u8>,
    pub(crate) root_pem: String,
    pub(crate) issuer_der: Vec<u8>,
    /// The issuing CA's DN in Viettel's notation.
    pub(crate) issuer_dn: String,
    pub(crate) citizens: Vec<Citizen>,
}

impl TestPki {
    /// Generates the hierarchy and one certificate per subscriber. CPU-bound: call it off the
    /// async executor.
    pub(crate) fn generate(specs: &[CitizenSpec]) -> Result<Self, SimError> {
        let now = OffsetDateTime::now_utc();

        let mut root_params = ca_params("Kyso Sandbox National Root CA", now, 20)?;
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root = CertifiedIssuer::self_signed(root_params, generate_key()?.1)?;

        let mut issuer_params = ca_params("Kyso Sandbox Viettel-CA", now, 10)?;
        issuer_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        issuer_params.use_authority_key_identifier_extension = true;
        let issuer = CertifiedIssuer::signed_by(issuer_params, generate_key()?.1, &root)?;
        let issuer_dn = describe(issuer.der())?.subject_dn;

        // Key generation dominates start-up; give each subscriber a thread of its own.
        let citizens = std::thread::scope(|scope| {
            let issuer = &issuer;
            let workers: Vec<_> = specs
                .iter()
                .map(|spec| scope.spawn(move || issue_citizen(spec, issuer, now)))
                .collect();
            workers
                .into_iter()
                .map(|worker| {
                    worker
                        .join()
                        .map_err(|_| SimError::Startup("a key generation thread panicked".into()))?
                })
                .collect::<Result<Vec<_>, SimError>>()
        })?;

        Ok(Self {
            root_der: root.der().to_vec(),
            root_pem: root.pem(),
            issuer_der: issuer.der().to_vec(),
            issuer_dn,
            citizens,
        })
    }
}

/// Parameters shared by both CA certificates: `CN=<cn>, O=Kyso Sandbox, C=VN`, valid from an
/// hour ago for `years` years, allowed to sign certificates and CRLs.
fn ca_params(
    common_name: &str,
    now: OffsetDateTime,
    years: i64,
) -> Result<CertificateParams, SimError> {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "Kyso Sandbox");
    name.push(DnType::CountryName, country_vn()?);
    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(365 * years);
    params.serial_number = Some(random_serial().0);
    Ok(params)
}

/// `VN` as a PrintableString, as RFC 5280 asks of countryName.
fn country_vn() -> Result<DnValue, rcgen::Error> {
    Ok(DnValue::PrintableString("VN".try_into()?))
}

/// A random positive serial number of 16 bytes (top bit clear, next bit set so that its DER
/// form keeps all 16 bytes), and the same number in decimal.
fn random_serial() -> (SerialNumber, String) {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    (
        SerialNumber::from_slice(&bytes),
        u128::from_be_bytes(bytes).to_string(),
    )
}

fn issue_citizen(
    spec: &CitizenSpec,
    issuer: &CertifiedIssuer<'_, KeyPair>,
    now: OffsetDateTime,
) -> Result<Citizen, SimError> {
    let (key, key_pair) = generate_key()?;

    let mut name = DistinguishedName::new();
    name.push(
        DnType::CustomDnType(OID_UID.to_vec()),
        format!("CCCD:{}", spec.user_id),
    );
    name.push(DnType::CommonName, spec.full_name.as_str());
    name.push(DnType::LocalityName, "Hà Nội");
    name.push(DnType::CountryName, country_vn()?);

    let (serial, serial_decimal) = random_serial();
    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(365);
    params.serial_number = Some(serial);
    let cert = params.signed_by(&key_pair, issuer)?;

    let cert_der = cert.der().to_vec();
    let facts = describe(&cert_der)?;
    let credential_id = format!(
        "{}_{}_{}",
        spec.user_id,
        rand::random_range(1_000_000..10_000_000_u32),
        compact_time(now)
    );
    Ok(Citizen {
        spec: spec.clone(),
        key: SigningKey(Box::new(key)),
        credential_id,
        cert_pem: cert.pem(),
        cert_der,
        serial_decimal,
        subject_dn: facts.subject_dn,
        valid_from: facts.valid_from,
        valid_to: facts.valid_to,
    })
}

/// What `certificates/info` reports about a certificate, read back from its DER.
struct Facts {
    subject_dn: String,
    valid_from: String,
    valid_to: String,
}

fn describe(cert_der: &[u8]) -> Result<Facts, SimError> {
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| SimError::Certificate(e.to_string()))?;
    let mut parts = Vec::new();
    for attribute in cert.subject().iter_attributes() {
        let oid = attribute.attr_type().to_id_string();
        let label = match oid.as_str() {
            "0.9.2342.19200300.100.1.1" => "UID".to_owned(),
            "2.5.4.3" => "CN".to_owned(),
            "2.5.4.7" => "L".to_owned(),
            "2.5.4.10" => "O".to_owned(),
            "2.5.4.6" => "C".to_owned(),
            _ => oid,
        };
        let value = attribute
            .as_str()
            .map_err(|e| SimError::Certificate(e.to_string()))?;
        parts.push(format!("{label}={value}"));
    }
    let validity = cert.validity();
    Ok(Facts {
        subject_dn: parts.join(","),
        valid_from: viettel_time(validity.not_before.to_datetime()),
        valid_to: viettel_time(validity.not_after.to_datetime()),
    })
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
    fn serial_is_positive_and_sixteen_bytes() {
        let (serial, decimal) = random_serial();
        let bytes = serial.to_bytes();
        assert_eq!(bytes.len(), 16);
        assert_eq!(bytes[0] & 0xc0, 0x40);
        assert_eq!(
            decimal.parse::<u128>().unwrap().to_be_bytes().to_vec(),
            bytes
        );
    }
}
