//! The simulator's test PKI as eSignCloud reports it, and the relying party's key.
//!
//! `kyso-sim-kit` generates a root ("Kyso Sandbox Root CA"), an issuing CA ("Kyso Sandbox
//! FPT-CA", standing in for FPT's sub-CA) and, per subscriber, an RSA-2048 key and a two-year
//! certificate shaped like a personal eSignCloud certificate: `CN=<full name>,
//! UID=CCCD:<user_id>, C=VN`, key usage digitalSignature + contentCommitment. This module adds
//! eSignCloud's view of it (the `certificateDN`/`issuerDN` strings, epoch-millisecond validity,
//! the `mimeType` of each digest algorithm) and the RP's key pair, which only eSignCloud has.

use kyso_sim_kit::{
    Certificate, CitizenCertSpec, CitizenKey, DigestAlgorithm, KeyKind, Revocation, Subject,
    TestPki,
};
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, LineEnding};
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::SimError;
use crate::config::{CitizenSpec, RpKey};

/// Days a subscriber certificate is valid: eSignCloud issues two-year personal certificates.
const CITIZEN_VALIDITY_DAYS: i64 = 730;

/// The algorithm of an `application/<alg>-binary` MIME type, as eSignCloud names the digest of
/// a hash entry. `Err(true)` for a type the real service knows but the simulator does not sign
/// (`application/sha1-binary`), `Err(false)` for anything else.
pub(crate) fn digest_from_mime_type(mime_type: &str) -> Result<DigestAlgorithm, bool> {
    match mime_type.trim().to_ascii_lowercase().as_str() {
        "application/sha256-binary" => Ok(DigestAlgorithm::Sha256),
        "application/sha384-binary" => Ok(DigestAlgorithm::Sha384),
        "application/sha512-binary" => Ok(DigestAlgorithm::Sha512),
        "application/sha1-binary" => Err(true),
        _ => Err(false),
    }
}

/// The MIME type eSignCloud uses for a digest algorithm.
pub(crate) fn mime_type(algorithm: DigestAlgorithm) -> &'static str {
    match algorithm {
        DigestAlgorithm::Sha256 => "application/sha256-binary",
        DigestAlgorithm::Sha384 => "application/sha384-binary",
        DigestAlgorithm::Sha512 => "application/sha512-binary",
    }
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
                let generated = CitizenKey::generate(KeyKind::Rsa2048)?;
                let private = generated
                    .as_rsa()
                    .ok_or_else(|| SimError::RpKey("the generated key is not RSA".to_owned()))?;
                let private_pem = private
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|error| SimError::RpKey(error.to_string()))?;
                Ok(Self {
                    public: private.to_public_key(),
                    private_pem: Some(private_pem.as_str().to_owned()),
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

/// A subscriber: the spec and what the kit issued for it.
pub(crate) struct Citizen {
    pub(crate) spec: CitizenSpec,
    pub(crate) key: CitizenKey,
    pub(crate) certificate: Certificate,
}

impl Citizen {
    /// `certificateSerialNumber`: uppercase hex.
    pub(crate) fn serial_hex(&self) -> String {
        self.certificate.serial_hex()
    }

    /// `certificateDN`, e.g. `CN=Nguyễn Văn An,UID=CCCD:001099000001,C=VN`.
    pub(crate) fn subject_dn(&self) -> String {
        dn_string(&self.certificate.subject)
    }

    /// `issuerDN`, e.g. `CN=Kyso Sandbox FPT-CA,O=Kyso Sandbox,C=VN`.
    pub(crate) fn issuer_dn(&self) -> String {
        dn_string(&self.certificate.issuer)
    }

    /// `validFrom`, epoch milliseconds.
    pub(crate) fn valid_from_ms(&self) -> i64 {
        epoch_millis(self.certificate.not_before)
    }

    /// `validTo`, epoch milliseconds.
    pub(crate) fn valid_to_ms(&self) -> i64 {
        epoch_millis(self.certificate.not_after)
    }
}

/// Root, issuing CA and subscribers.
pub(crate) struct FptPki {
    pub(crate) root_pem: String,
    pub(crate) ca_pem: String,
    pub(crate) citizens: Vec<Citizen>,
    /// CRLs, OCSP and revoked serials of the root and FPT-CA.
    pub(crate) revocation: Revocation,
}

impl FptPki {
    /// Generates everything. CPU-bound (RSA key generation): call it off the async executor.
    /// The certificates point at the simulator at `base_url` for revocation data.
    pub(crate) fn generate(specs: &[CitizenSpec], base_url: String) -> Result<Self, SimError> {
        let TestPki {
            root,
            issuing_cas,
            citizens,
            revocation,
        } = TestPki::builder("Kyso Sandbox Root CA")
            .served_at(base_url)
            .issuing_ca("Kyso Sandbox FPT-CA")
            .citizens(specs.iter().map(|spec| {
                CitizenCertSpec::new(spec.full_name.as_str(), &spec.user_id, KeyKind::Rsa2048)
                    .validity_days(CITIZEN_VALIDITY_DAYS)
            }))
            .build()?;
        let ca_pem = issuing_cas
            .into_iter()
            .next()
            .map(|ca| ca.pem)
            .ok_or_else(|| SimError::Certificate("no issuing CA was generated".to_owned()))?;
        let citizens = specs
            .iter()
            .zip(citizens)
            .map(|(spec, issued)| Citizen {
                spec: spec.clone(),
                key: issued.key,
                certificate: issued.certificate,
            })
            .collect();
        Ok(Self {
            root_pem: root.pem,
            ca_pem,
            citizens,
            revocation,
        })
    }
}

/// A DN as eSignCloud's `certificateDN`/`issuerDN` strings: `LABEL=value` joined by commas
/// (no space), in certificate order.
fn dn_string(subject: &Subject) -> String {
    subject
        .attributes()
        .iter()
        .map(|(attribute, value)| format!("{}={value}", attribute.label()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Epoch milliseconds of a certificate time (whole seconds).
fn epoch_millis(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().saturating_mul(1000)
}
