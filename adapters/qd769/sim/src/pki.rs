//! The simulator's test PKI and the citizens' signing keys.
//!
//! At start the simulator generates with rcgen (aws-lc-rs backend) one root CA and, per
//! simulated CA, an issuing CA under it (both ECDSA P-256, which keeps start-up quick), then
//! one RSA-2048 end-entity certificate per citizen and CA, shaped like a Vietnamese personal
//! signing certificate: `CN=<full name>, UID=CCCD:<user_id>, C=VN`, key usage
//! digitalSignature + contentCommitment. The root plays the national root every public CA
//! chains to. Each citizen key is loaded into the `rsa` crate, which makes the PKCS#1 v1.5
//! signatures over the SP's prehashed digests.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, DnValue, IsCa,
    KeyPair, KeyUsagePurpose, RsaKeySize, SerialNumber,
};
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::{Sha256, Sha384, Sha512};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::SimError;
use crate::config::{CaSpec, CitizenSpec};

/// OID of the `UID` (userId, RFC 4519) attribute, in rcgen's component form.
const OID_UID: [u64; 7] = [0, 9, 2342, 19200300, 100, 1, 1];

/// The digest algorithm of a submitted hash, inferred from its length (769 has no field for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DigestAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm whose output has this many bytes, if any.
    pub(crate) fn from_len(len: usize) -> Option<Self> {
        match len {
            32 => Some(Self::Sha256),
            48 => Some(Self::Sha384),
            64 => Some(Self::Sha512),
            _ => None,
        }
    }
}

/// An RSA-2048 private key that signs prehashed digests with PKCS#1 v1.5.
pub(crate) struct SigningKey(Box<RsaPrivateKey>);

impl SigningKey {
    /// A fresh key: rcgen generates it (aws-lc-rs is fast at it), `rsa` signs with it.
    pub(crate) fn generate() -> Result<(Self, KeyPair), SimError> {
        let key_pair = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048)?;
        let key = RsaPrivateKey::from_pkcs8_der(&key_pair.serialize_der())?;
        Ok((Self(Box::new(key)), key_pair))
    }

    /// RSASSA-PKCS1-v1_5 over the DigestInfo of `digest`, hashed with `algorithm`.
    pub(crate) fn sign(
        &self,
        algorithm: DigestAlgorithm,
        digest: &[u8],
    ) -> Result<Vec<u8>, SimError> {
        let padding = match algorithm {
            DigestAlgorithm::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
            DigestAlgorithm::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
            DigestAlgorithm::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
        };
        Ok(self.0.sign(padding, digest)?)
    }
}

/// A citizen's certificate at one CA, with its key.
pub(crate) struct Citizen {
    pub(crate) spec: CitizenSpec,
    pub(crate) key: SigningKey,
    /// `cert_id`: a UUID, stable for the simulator's lifetime.
    pub(crate) cert_id: String,
    pub(crate) cert_der: Vec<u8>,
    pub(crate) cert_pem: String,
    /// Uppercase hex of the certificate serial number.
    pub(crate) serial_hex: String,
    /// The subject DN, e.g. `CN=Nguyễn Văn An, UID=CCCD:001099000001, C=VN`.
    pub(crate) subject: String,
    /// RFC 3339 (UTC, `Z`).
    pub(crate) valid_from: String,
    /// RFC 3339 (UTC, `Z`).
    pub(crate) valid_to: String,
}

/// One simulated CA's part of the PKI.
pub(crate) struct CaPki {
    pub(crate) ca_der: Vec<u8>,
    pub(crate) citizens: Vec<Citizen>,
}

/// The whole test PKI: the root and, per simulated CA, its issuing CA and citizens.
pub(crate) struct TestPki {
    pub(crate) root_der: Vec<u8>,
    pub(crate) root_pem: String,
    /// In the order of the configured CAs.
    pub(crate) cas: Vec<CaPki>,
}

impl TestPki {
    /// Generates everything. CPU-bound (RSA key generation): call it off the async executor.
    pub(crate) fn generate(specs: &[CaSpec]) -> Result<Self, SimError> {
        let now = OffsetDateTime::now_utc();

        let mut root_params = CertificateParams::default();
        root_params.distinguished_name = ca_name("Kyso Sandbox Root CA")?;
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        root_params.not_before = now - time::Duration::hours(1);
        root_params.not_after = now + time::Duration::days(3653);
        root_params.serial_number = Some(random_serial().0);
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let root = CertifiedIssuer::self_signed(root_params, root_key)?;

        let mut cas = Vec::with_capacity(specs.len());
        for spec in specs {
            let label = if spec.name.trim().is_empty() {
                "769 CA"
            } else {
                spec.name.as_str()
            };
            let mut params = CertificateParams::default();
            params.distinguished_name = ca_name(&format!("{label} (Kyso sandbox)"))?;
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params.use_authority_key_identifier_extension = true;
            params.not_before = now - time::Duration::hours(1);
            params.not_after = now + time::Duration::days(3650);
            params.serial_number = Some(random_serial().0);
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
            let issuer = CertifiedIssuer::signed_by(params, key, &root)?;
            let citizens = issue_all(&spec.citizens, &issuer, now)?;
            cas.push(CaPki {
                ca_der: issuer.der().to_vec(),
                citizens,
            });
        }

        Ok(Self {
            root_der: root.der().to_vec(),
            root_pem: root.pem(),
            cas,
        })
    }
}

/// Issues the citizens' certificates, spreading RSA key generation over the cores.
fn issue_all(
    specs: &[CitizenSpec],
    issuer: &CertifiedIssuer<'_, KeyPair>,
    now: OffsetDateTime,
) -> Result<Vec<Citizen>, SimError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(specs.len().max(1));
    let chunk_len = specs.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = specs
            .chunks(chunk_len)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|spec| issue_citizen(spec, issuer, now))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut citizens = Vec::with_capacity(specs.len());
        for handle in handles {
            citizens.extend(
                handle.join().map_err(|_| {
                    SimError::Startup("a key generation thread panicked".to_owned())
                })??,
            );
        }
        Ok(citizens)
    })
}

/// `CN=<cn>, O=Kyso Sandbox, C=VN`.
fn ca_name(common_name: &str) -> Result<DistinguishedName, SimError> {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "Kyso Sandbox");
    name.push(DnType::CountryName, country_vn()?);
    Ok(name)
}

/// `VN` as a PrintableString, as RFC 5280 wants for countryName.
fn country_vn() -> Result<DnValue, SimError> {
    Ok(DnValue::PrintableString("VN".try_into()?))
}

/// A random positive 16-byte serial number (top bit cleared, next one set so the DER keeps all
/// 16 bytes), and its uppercase hex.
fn random_serial() -> (SerialNumber, String) {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    (SerialNumber::from_slice(&bytes), hex::encode_upper(bytes))
}

fn issue_citizen(
    spec: &CitizenSpec,
    issuer: &CertifiedIssuer<'_, KeyPair>,
    now: OffsetDateTime,
) -> Result<Citizen, SimError> {
    let (key, key_pair) = SigningKey::generate()?;

    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, spec.full_name.as_str());
    name.push(
        DnType::CustomDnType(OID_UID.to_vec()),
        format!("CCCD:{}", spec.user_id),
    );
    name.push(DnType::CountryName, country_vn()?);

    let (serial, serial_hex) = random_serial();
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
    let (subject, valid_from, valid_to) = describe(&cert_der)?;
    Ok(Citizen {
        spec: spec.clone(),
        key,
        cert_id: uuid::Uuid::new_v4().to_string(),
        cert_pem: cert.pem(),
        cert_der,
        serial_hex,
        subject,
        valid_from,
        valid_to,
    })
}

/// Reads back from a generated certificate what get_certificate reports about it: the subject
/// and the validity bounds in RFC 3339.
fn describe(cert_der: &[u8]) -> Result<(String, String, String), SimError> {
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| SimError::Certificate(e.to_string()))?;
    let mut parts = Vec::new();
    for attribute in cert.subject().iter_attributes() {
        let oid = attribute.attr_type().to_id_string();
        let label = match oid.as_str() {
            "2.5.4.3" => "CN".to_owned(),
            "2.5.4.6" => "C".to_owned(),
            "0.9.2342.19200300.100.1.1" => "UID".to_owned(),
            _ => oid,
        };
        let value = attribute
            .as_str()
            .map_err(|e| SimError::Certificate(e.to_string()))?;
        parts.push(format!("{label}={value}"));
    }
    let rfc3339 = |t: x509_parser::time::ASN1Time| {
        t.to_datetime()
            .to_offset(UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(|e| SimError::Certificate(e.to_string()))
    };
    Ok((
        parts.join(", "),
        rfc3339(cert.validity().not_before)?,
        rfc3339(cert.validity().not_after)?,
    ))
}
