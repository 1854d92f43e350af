//! The simulator's test PKI and the credentials' signing keys.
//!
//! At start, rcgen (aws-lc-rs backend) makes a three-level hierarchy: a self-signed root, an
//! issuing CA under it (both ECDSA P-256), and one end-entity certificate per citizen with
//! subject `CN=<full name>, UID=CCCD:<12 digits>, C=VN` and key usage digitalSignature +
//! nonRepudiation. Each citizen's private key is then loaded into RustCrypto (`rsa`, `p256`),
//! which signs the digests clients submit to `signatures/signHash`.

use p256::ecdsa::signature::hazmat::PrehashSigner;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, DnValue, IsCa,
    KeyPair, KeyUsagePurpose, RsaKeySize, SerialNumber,
};
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::{Sha256, Sha384, Sha512};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::SimError;
use crate::algo::HashAlg;
use crate::config::{CitizenSpec, KeyKind};

/// The `UID` attribute type (RFC 4519 userId), as rcgen wants OID arcs.
const UID_ARCS: [u64; 7] = [0, 9, 2342, 19_200_300, 100, 1, 1];

/// A credential's private key, able to sign a digest computed elsewhere.
pub(crate) enum CredentialKey {
    Rsa(Box<RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
}

impl CredentialKey {
    /// A fresh key pair: rcgen generates it (for the certificate), RustCrypto loads the same
    /// PKCS#8 bytes (for signing).
    pub(crate) fn generate(kind: KeyKind) -> Result<(Self, KeyPair), SimError> {
        let pair = match kind {
            KeyKind::Rsa2048 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048)?
            }
            KeyKind::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        };
        let pkcs8 = pair.serialize_der();
        let key = match kind {
            KeyKind::Rsa2048 => Self::Rsa(Box::new(RsaPrivateKey::from_pkcs8_der(&pkcs8)?)),
            KeyKind::P256 => Self::P256(p256::ecdsa::SigningKey::from_pkcs8_der(&pkcs8)?),
        };
        Ok((key, pair))
    }

    /// Signs `digest`, made with `hash`: RSASSA-PKCS1-v1_5 over the DigestInfo for RSA keys,
    /// DER-encoded ECDSA for P-256 keys.
    pub(crate) fn sign(&self, hash: HashAlg, digest: &[u8]) -> Result<Vec<u8>, SimError> {
        match self {
            Self::Rsa(key) => {
                let scheme = match hash {
                    HashAlg::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
                    HashAlg::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
                    HashAlg::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
                };
                Ok(key.sign(scheme, digest)?)
            }
            Self::P256(key) => {
                let signature: p256::ecdsa::Signature = key.sign_prehash(digest)?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
        }
    }
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

/// A citizen's credential material.
pub(crate) struct IssuedCredential {
    pub(crate) key: CredentialKey,
    pub(crate) cert_der: Vec<u8>,
    pub(crate) cert_pem: String,
    pub(crate) facts: CertFacts,
}

/// Root, issuing CA and one credential per citizen, in the order of the specs.
pub(crate) struct TestPki {
    pub(crate) root_der: Vec<u8>,
    pub(crate) root_pem: String,
    pub(crate) issuing_der: Vec<u8>,
    pub(crate) credentials: Vec<IssuedCredential>,
}

impl TestPki {
    /// Generates everything. CPU-bound (RSA key generation): call it off the async executor.
    pub(crate) fn generate(specs: &[CitizenSpec]) -> Result<Self, SimError> {
        let now = OffsetDateTime::now_utc();
        let root = ca_certificate("Kyso Sandbox CSC Root", None, now)?;
        let issuing = ca_certificate("Kyso Sandbox CSC Issuing CA", Some(&root), now)?;

        // One thread per citizen: RSA key generation dominates start-up.
        let credentials = std::thread::scope(|scope| {
            let issuing = &issuing;
            let workers: Vec<_> = specs
                .iter()
                .map(|spec| scope.spawn(move || issue(spec, issuing, now)))
                .collect();
            workers
                .into_iter()
                .map(|worker| {
                    worker.join().map_err(|_| {
                        SimError::Startup("a key generation thread panicked".to_owned())
                    })?
                })
                .collect::<Result<Vec<_>, SimError>>()
        })?;

        Ok(Self {
            root_der: root.der().to_vec(),
            root_pem: root.pem(),
            issuing_der: issuing.der().to_vec(),
            credentials,
        })
    }
}

/// A CA certificate with a fresh P-256 key: self-signed when `parent` is `None`.
fn ca_certificate(
    common_name: &str,
    parent: Option<&CertifiedIssuer<'static, KeyPair>>,
    now: OffsetDateTime,
) -> Result<CertifiedIssuer<'static, KeyPair>, SimError> {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "Kyso Sandbox");
    name.push(DnType::CountryName, printable("VN")?);
    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(fresh_serial().0);
    params.not_before = now - time::Duration::hours(1);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    Ok(match parent {
        None => {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.not_after = now + time::Duration::days(3660);
            CertifiedIssuer::self_signed(params, key)?
        }
        Some(parent) => {
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.use_authority_key_identifier_extension = true;
            params.not_after = now + time::Duration::days(3650);
            CertifiedIssuer::signed_by(params, key, parent)?
        }
    })
}

fn printable(value: &str) -> Result<DnValue, SimError> {
    Ok(DnValue::PrintableString(value.try_into()?))
}

/// A random 16-byte positive serial (top bit clear, next bit set so that DER keeps all 16
/// bytes) and its uppercase hex.
fn fresh_serial() -> (SerialNumber, String) {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    (SerialNumber::from_slice(&bytes), hex::encode_upper(bytes))
}

fn issue(
    spec: &CitizenSpec,
    issuing: &CertifiedIssuer<'static, KeyPair>,
    now: OffsetDateTime,
) -> Result<IssuedCredential, SimError> {
    let (key, pair) = CredentialKey::generate(spec.key)?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, spec.full_name.as_str());
    name.push(
        DnType::CustomDnType(UID_ARCS.to_vec()),
        format!("CCCD:{}", spec.cccd),
    );
    name.push(DnType::CountryName, printable("VN")?);
    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(fresh_serial().0);
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(730);
    let certificate = params.signed_by(&pair, issuing)?;
    let cert_der = certificate.der().to_vec();
    let facts = facts(&cert_der)?;
    Ok(IssuedCredential {
        key,
        cert_pem: certificate.pem(),
        cert_der,
        facts,
    })
}

/// Reads the generated certificate back for `certInfo`.
fn facts(cert_der: &[u8]) -> Result<CertFacts, SimError> {
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| SimError::Certificate(e.to_string()))?;
    let generalized = |t: x509_parser::time::ASN1Time| {
        let t = t.to_datetime();
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    };
    Ok(CertFacts {
        subject_dn: cert.subject().to_string(),
        issuer_dn: cert.issuer().to_string(),
        serial_hex: hex::encode_upper(cert.raw_serial()),
        valid_from: generalized(cert.validity().not_before),
        valid_to: generalized(cert.validity().not_after),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::Behaviour;

    #[test]
    fn citizen_certificate_names_the_cccd_and_chains_to_the_issuing_ca() {
        let spec = CitizenSpec::new(
            "001099000001",
            "Nguyễn Văn An",
            KeyKind::P256,
            Behaviour::Manual,
        );
        let pki = TestPki::generate(&[spec]).unwrap();
        let credential = &pki.credentials[0];
        let (_, cert) = X509Certificate::from_der(&credential.cert_der).unwrap();
        let (_, issuing) = X509Certificate::from_der(&pki.issuing_der).unwrap();
        let (_, root) = X509Certificate::from_der(&pki.root_der).unwrap();
        cert.verify_signature(Some(issuing.public_key())).unwrap();
        issuing.verify_signature(Some(root.public_key())).unwrap();
        let uid = cert
            .subject()
            .iter_attributes()
            .find(|a| a.attr_type().to_id_string() == "0.9.2342.19200300.100.1.1")
            .and_then(|a| a.as_str().ok())
            .unwrap();
        assert_eq!(uid, "CCCD:001099000001");
        assert_eq!(credential.facts.valid_from.len(), 15);
        assert!(credential.facts.valid_to.ends_with('Z'));
    }
}
