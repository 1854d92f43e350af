//! The simulator's test PKI, the subscribers' signing keys and the relying party's key.
//!
//! At start, rcgen (aws-lc-rs backend) generates a root ("Kyso Sandbox Root CA") and an issuing
//! CA ("Kyso Sandbox FPT-CA", standing in for FPT's sub-CA), both ECDSA P-256 to keep start-up
//! short, and, per subscriber, an RSA-2048 key and certificate shaped like a personal
//! eSignCloud certificate:
//! `CN=<full name>, UID=CCCD:<user_id>, C=VN`, key usage digitalSignature + contentCommitment.
//! The private keys are then loaded into the `rsa` crate, which signs the RP's prehashed
//! digests with PKCS#1 v1.5.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, DnValue, IsCa,
    KeyPair, KeyUsagePurpose, RsaKeySize, SerialNumber,
};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use crate::SimError;
use crate::config::{CitizenSpec, RpKey};

/// OID of the `UID` (userId, RFC 4519) attribute, in rcgen's component form.
const UID_OID: [u64; 7] = [0, 9, 2342, 19200300, 100, 1, 1];

/// A digest algorithm eSignCloud names by the `mimeType` of a hash entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DigestAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm of an `application/<alg>-binary` MIME type. `Err(true)` for a type the
    /// real service knows but the simulator does not sign (`application/sha1-binary`),
    /// `Err(false)` for anything else.
    pub(crate) fn from_mime_type(mime_type: &str) -> Result<Self, bool> {
        match mime_type.trim().to_ascii_lowercase().as_str() {
            "application/sha256-binary" => Ok(Self::Sha256),
            "application/sha384-binary" => Ok(Self::Sha384),
            "application/sha512-binary" => Ok(Self::Sha512),
            "application/sha1-binary" => Err(true),
            _ => Err(false),
        }
    }

    /// Digest length in bytes.
    pub(crate) fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The MIME type eSignCloud uses for this algorithm.
    pub(crate) fn mime_type(self) -> &'static str {
        match self {
            Self::Sha256 => "application/sha256-binary",
            Self::Sha384 => "application/sha384-binary",
            Self::Sha512 => "application/sha512-binary",
        }
    }
}

/// A fresh RSA-2048 key: rcgen's (for certificates) and the same key in the `rsa` crate (for
/// signing digests).
pub(crate) fn generate_rsa() -> Result<(RsaPrivateKey, KeyPair), SimError> {
    let key_pair = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048)?;
    let key = RsaPrivateKey::from_pkcs8_der(&key_pair.serialize_der())?;
    Ok((key, key_pair))
}

/// RSASSA-PKCS1-v1_5 over the DigestInfo of an already computed `digest`.
pub(crate) fn sign_digest(
    key: &RsaPrivateKey,
    algorithm: DigestAlgorithm,
    digest: &[u8],
) -> Result<Vec<u8>, SimError> {
    let padding = match algorithm {
        DigestAlgorithm::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
        DigestAlgorithm::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
        DigestAlgorithm::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
    };
    Ok(key.sign(padding, digest)?)
}

/// The relying party's public key, and its private key when the simulator issued it.
pub(crate) struct RelyingPartyKey {
    public: RsaPublicKey,
    /// PKCS#8 PEM, only for [`RpKey::Generate`].
    pub(crate) private_pem: Option<String>,
}

impl RelyingPartyKey {
    /// Generates or reads the key the configuration names.
    pub(crate) fn from_config(key: &RpKey) -> Result<Self, SimError> {
        match key {
            RpKey::Generate => {
                let (private, key_pair) = generate_rsa()?;
                Ok(Self {
                    public: private.to_public_key(),
                    private_pem: Some(key_pair.serialize_pem()),
                })
            }
            RpKey::Provided(text) => {
                let block = pem::parse(text.trim()).map_err(|error| {
                    SimError::InvalidConfig(format!("the RP key is not PEM: {error}"))
                })?;
                let public = match block.tag() {
                    "PUBLIC KEY" => {
                        RsaPublicKey::from_public_key_der(block.contents()).map_err(|error| {
                            SimError::InvalidConfig(format!("the RP key is not RSA: {error}"))
                        })?
                    }
                    "CERTIFICATE" => {
                        let (_, cert) =
                            X509Certificate::from_der(block.contents()).map_err(|error| {
                                SimError::InvalidConfig(format!(
                                    "the RP certificate cannot be parsed: {error}"
                                ))
                            })?;
                        RsaPublicKey::from_public_key_der(cert.public_key().raw).map_err(
                            |error| {
                                SimError::InvalidConfig(format!(
                                    "the RP certificate's key is not RSA: {error}"
                                ))
                            },
                        )?
                    }
                    other => {
                        return Err(SimError::InvalidConfig(format!(
                            "the RP key is a {other} PEM block, not PUBLIC KEY or CERTIFICATE"
                        )));
                    }
                };
                Ok(Self {
                    public,
                    private_pem: None,
                })
            }
        }
    }

    /// Whether `signature` is the RP's SHA-256 PKCS#1 v1.5 signature over `data`.
    pub(crate) fn verifies(&self, data: &[u8], signature: &[u8]) -> bool {
        self.public
            .verify(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(data),
                signature,
            )
            .is_ok()
    }
}

/// A subscriber with key and certificate.
pub(crate) struct Citizen {
    pub(crate) spec: CitizenSpec,
    pub(crate) key: RsaPrivateKey,
    pub(crate) cert_der: Vec<u8>,
    pub(crate) cert_pem: String,
    /// Uppercase hex, as `certificateSerialNumber`.
    pub(crate) serial_hex: String,
    /// `certificateDN`, e.g. `CN=Nguyễn Văn An,UID=CCCD:001099000001,C=VN`.
    pub(crate) subject_dn: String,
    /// `issuerDN`.
    pub(crate) issuer_dn: String,
    /// `validFrom`, epoch milliseconds.
    pub(crate) valid_from_ms: i64,
    /// `validTo`, epoch milliseconds.
    pub(crate) valid_to_ms: i64,
}

/// Root, issuing CA and subscribers.
pub(crate) struct TestPki {
    pub(crate) root_pem: String,
    pub(crate) ca_pem: String,
    pub(crate) citizens: Vec<Citizen>,
}

impl TestPki {
    /// Generates everything. CPU-bound (RSA key generation): call it off the async executor.
    pub(crate) fn generate(specs: &[CitizenSpec]) -> Result<Self, SimError> {
        let now = OffsetDateTime::now_utc();
        // The CAs use P-256: generating two more RSA keys would double the start-up time.
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let root = CertifiedIssuer::self_signed(
            ca_params("Kyso Sandbox Root CA", None, now, 3653)?,
            root_key,
        )?;
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let ca = CertifiedIssuer::signed_by(
            ca_params("Kyso Sandbox FPT-CA", Some(0), now, 3650)?,
            ca_key,
            &root,
        )?;
        // Key generation dominates start-up; one thread per subscriber keeps it short.
        let citizens = std::thread::scope(|scope| {
            let ca = &ca;
            let handles: Vec<_> = specs
                .iter()
                .map(|spec| scope.spawn(move || issue(spec, ca, now)))
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle.join().map_err(|_| {
                        SimError::Startup("a key generation thread panicked".to_owned())
                    })?
                })
                .collect::<Result<Vec<_>, SimError>>()
        })?;
        Ok(Self {
            root_pem: root.pem(),
            ca_pem: ca.pem(),
            citizens,
        })
    }
}

fn ca_params(
    common_name: &str,
    path_len: Option<u8>,
    now: OffsetDateTime,
    days: i64,
) -> Result<CertificateParams, SimError> {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "Kyso Sandbox");
    name.push(DnType::CountryName, country_vn()?);
    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(match path_len {
        Some(len) => BasicConstraints::Constrained(len),
        None => BasicConstraints::Unconstrained,
    });
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.use_authority_key_identifier_extension = path_len.is_some();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
    params.serial_number = Some(random_serial().0);
    Ok(params)
}

/// `VN` as a PrintableString, as RFC 5280 asks of countryName.
fn country_vn() -> Result<DnValue, SimError> {
    Ok(DnValue::PrintableString("VN".try_into()?))
}

/// A random positive 16-byte serial (top bit clear, next bit set so DER keeps 16 bytes) and its
/// uppercase hex.
fn random_serial() -> (SerialNumber, String) {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    (SerialNumber::from_slice(&bytes), hex::encode_upper(bytes))
}

fn issue(
    spec: &CitizenSpec,
    ca: &CertifiedIssuer<'_, KeyPair>,
    now: OffsetDateTime,
) -> Result<Citizen, SimError> {
    let (key, key_pair) = generate_rsa()?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, spec.full_name.as_str());
    name.push(
        DnType::CustomDnType(UID_OID.to_vec()),
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
    params.not_after = now + time::Duration::days(730);
    params.serial_number = Some(serial);
    let cert = params.signed_by(&key_pair, ca)?;
    let cert_der = cert.der().to_vec();

    let (_, parsed) = X509Certificate::from_der(&cert_der)
        .map_err(|error| SimError::Certificate(error.to_string()))?;
    let millis = |at: x509_parser::time::ASN1Time| {
        i64::try_from(at.to_datetime().unix_timestamp_nanos() / 1_000_000)
            .map_err(|error| SimError::Certificate(error.to_string()))
    };
    Ok(Citizen {
        spec: spec.clone(),
        key,
        cert_pem: cert.pem(),
        serial_hex,
        subject_dn: dn_string(parsed.subject())?,
        issuer_dn: dn_string(parsed.issuer())?,
        valid_from_ms: millis(parsed.validity().not_before)?,
        valid_to_ms: millis(parsed.validity().not_after)?,
        cert_der,
    })
}

/// A DN as eSignCloud's `certificateDN`/`issuerDN` strings: `LABEL=value` joined by commas,
/// in certificate order.
fn dn_string(name: &X509Name<'_>) -> Result<String, SimError> {
    name.iter_attributes()
        .map(|attribute| {
            let oid = attribute.attr_type().to_id_string();
            let label = match oid.as_str() {
                "2.5.4.3" => "CN",
                "2.5.4.6" => "C",
                "2.5.4.10" => "O",
                "0.9.2342.19200300.100.1.1" => "UID",
                other => other,
            }
            .to_owned();
            let value = attribute
                .as_str()
                .map_err(|error| SimError::Certificate(error.to_string()))?;
            Ok(format!("{label}={value}"))
        })
        .collect::<Result<Vec<_>, SimError>>()
        .map(|parts| parts.join(","))
}
