//! The simulator's test PKI and the citizens' signing keys.
//!
//! At start the simulator generates, with rcgen (aws-lc-rs backend), a root CA and an issuing CA
//! (both ECDSA P-256) and one end-entity certificate per citizen, shaped like a SmartCA personal
//! certificate: `CN=<full name>, UID=CCCD:<user_id>, C=VN`, key usage digitalSignature +
//! contentCommitment. The citizens' private keys are then converted into RustCrypto keys (`rsa`,
//! `p256`), which sign the SP's prehashed digests.

use p256::ecdsa::signature::hazmat::PrehashSigner;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, DnValue, IsCa,
    KeyPair, KeyUsagePurpose, RsaKeySize, SerialNumber,
};
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey};
use sha2::{Sha256, Sha384, Sha512};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::SimError;
use crate::config::{CitizenSpec, KeyKind, SignatureScheme};

/// OID of the `UID` (userId, RFC 4519) attribute, in rcgen's component form.
const OID_UID: [u64; 7] = [0, 9, 2342, 19200300, 100, 1, 1];

/// The digest algorithm of a submitted hash, inferred from its length.
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

/// A citizen's private key, in the form that can sign a prehashed digest.
pub(crate) enum CitizenKey {
    Rsa(Box<RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
}

impl CitizenKey {
    /// A fresh key of this kind (rcgen generates it, RustCrypto signs with it).
    pub(crate) fn generate(kind: KeyKind) -> Result<(Self, KeyPair), SimError> {
        let key_pair = match kind {
            KeyKind::Rsa2048 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048)?
            }
            KeyKind::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        };
        let pkcs8 = key_pair.serialize_der();
        let key = match kind {
            KeyKind::Rsa2048 => Self::Rsa(Box::new(RsaPrivateKey::from_pkcs8_der(&pkcs8)?)),
            KeyKind::P256 => Self::P256(p256::ecdsa::SigningKey::from_pkcs8_der(&pkcs8)?),
        };
        Ok((key, key_pair))
    }

    /// Signs `digest` (already hashed with `algorithm`) with `scheme`.
    ///
    /// The scheme must match the key kind; the simulator guarantees this by deriving the key kind
    /// from the scheme.
    pub(crate) fn sign(
        &self,
        scheme: SignatureScheme,
        algorithm: DigestAlgorithm,
        digest: &[u8],
    ) -> Result<Vec<u8>, SimError> {
        match (self, scheme) {
            (Self::Rsa(key), SignatureScheme::RsaPkcs1v15) => {
                let padding = match algorithm {
                    DigestAlgorithm::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
                    DigestAlgorithm::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
                    DigestAlgorithm::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
                };
                Ok(key.sign(padding, digest)?)
            }
            // `Pss::new` uses the digest length as salt length; `sign` takes the OS RNG.
            (Self::Rsa(key), SignatureScheme::RsaPss) => Ok(match algorithm {
                DigestAlgorithm::Sha256 => key.sign(Pss::<Sha256>::new(), digest)?,
                DigestAlgorithm::Sha384 => key.sign(Pss::<Sha384>::new(), digest)?,
                DigestAlgorithm::Sha512 => key.sign(Pss::<Sha512>::new(), digest)?,
            }),
            (Self::P256(key), SignatureScheme::EcdsaDer) => {
                let signature: p256::ecdsa::Signature = key.sign_prehash(digest)?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
            (Self::P256(key), SignatureScheme::EcdsaRaw) => {
                let signature: p256::ecdsa::Signature = key.sign_prehash(digest)?;
                Ok(signature.to_bytes().to_vec())
            }
            _ => Err(SimError::SchemeMismatch(scheme)),
        }
    }
}

/// A generated citizen: the spec plus key and certificate.
pub(crate) struct Citizen {
    pub(crate) spec: CitizenSpec,
    pub(crate) key: CitizenKey,
    /// `cert_id`: a UUID, stable for the simulator's lifetime.
    pub(crate) cert_id: String,
    pub(crate) cert_der: Vec<u8>,
    pub(crate) cert_pem: String,
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
pub(crate) struct TestPki {
    pub(crate) root_der: Vec<u8>,
    pub(crate) root_pem: String,
    pub(crate) ca_der: Vec<u8>,
    pub(crate) citizens: Vec<Citizen>,
}

impl TestPki {
    /// Generates the root, the issuing CA and one certificate per citizen. CPU-bound (RSA key
    /// generation); call it off the async executor.
    pub(crate) fn generate(specs: &[CitizenSpec]) -> Result<Self, SimError> {
        let now = OffsetDateTime::now_utc();

        let mut root_params = CertificateParams::default();
        root_params.distinguished_name = ca_name("Kyso Sandbox Root CA").map_err(SimError::Pki)?;
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        root_params.not_before = now - time::Duration::hours(1);
        root_params.not_after = now + time::Duration::days(3653);
        root_params.serial_number = Some(random_serial().0);
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let root = CertifiedIssuer::self_signed(root_params, root_key)?;

        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = ca_name("Kyso Sandbox SmartCA RS").map_err(SimError::Pki)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.use_authority_key_identifier_extension = true;
        ca_params.not_before = now - time::Duration::hours(1);
        ca_params.not_after = now + time::Duration::days(3650);
        ca_params.serial_number = Some(random_serial().0);
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let ca = CertifiedIssuer::signed_by(ca_params, ca_key, &root)?;

        // RSA key generation dominates start-up (about 0.1-0.3 s per key); spread it over the
        // cores.
        let workers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(specs.len().max(1));
        let chunk_len = specs.len().div_ceil(workers).max(1);
        let citizens = std::thread::scope(|scope| {
            let ca = &ca;
            let chunks: Vec<_> = specs
                .chunks(chunk_len)
                .map(|chunk| {
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|spec| issue_citizen(spec, ca, now))
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .collect();
            let mut citizens = Vec::with_capacity(specs.len());
            for chunk in chunks {
                citizens.extend(chunk.join().map_err(|_| {
                    SimError::Startup("a key generation thread panicked".to_owned())
                })??);
            }
            Ok::<_, SimError>(citizens)
        })?;

        Ok(Self {
            root_der: root.der().to_vec(),
            root_pem: root.pem(),
            ca_der: ca.der().to_vec(),
            citizens,
        })
    }
}

/// `CN=<cn>, O=Kyso Sandbox, C=VN`.
fn ca_name(common_name: &str) -> Result<DistinguishedName, rcgen::Error> {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "Kyso Sandbox");
    name.push(DnType::CountryName, country_vn()?);
    Ok(name)
}

/// `VN` as a PrintableString, as RFC 5280 wants for countryName.
fn country_vn() -> Result<DnValue, rcgen::Error> {
    Ok(DnValue::PrintableString("VN".try_into()?))
}

/// A random positive 16-byte serial number (the top bit cleared, the next one set so that the
/// DER encoding keeps all 16 bytes), and its uppercase hex.
fn random_serial() -> (SerialNumber, String) {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    (SerialNumber::from_slice(&bytes), hex::encode_upper(bytes))
}

fn issue_citizen(
    spec: &CitizenSpec,
    ca: &CertifiedIssuer<'_, KeyPair>,
    now: OffsetDateTime,
) -> Result<Citizen, SimError> {
    let (key, key_pair) = CitizenKey::generate(spec.scheme.key_kind())?;

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
    let cert = params.signed_by(&key_pair, ca)?;

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

/// Reads back from the generated certificate what get_certificate reports about it: the subject
/// string and the validity bounds in RFC 3339.
fn describe(cert_der: &[u8]) -> Result<(String, String, String), SimError> {
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| SimError::Certificate(e.to_string()))?;
    let mut parts = Vec::new();
    for attribute in cert.subject().iter_attributes() {
        let oid = attribute.attr_type().to_id_string();
        let label = match oid.as_str() {
            "2.5.4.3" => "CN".to_owned(),
            "2.5.4.6" => "C".to_owned(),
            "2.5.4.10" => "O".to_owned(),
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
