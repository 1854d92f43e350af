//! Verification of what CAs return: the gateway's invariant, as a library shared by the
//! gateway and the adapters' conformance kit.
//!
//! A signature reaches a portal only after all of these hold, with no exception per CA:
//! - the signer certificate chains, through the intermediates the CA sent, to one of the
//!   provider's configured trust anchors, every issuer being a CA certificate within its
//!   validity period;
//! - the signer certificate is within its validity period at the time of the check;
//! - the signer certificate names the requested citizen: a subject `UID` or `serialNumber`
//!   attribute equal to the CCCD number, optionally after a `LABEL:` prefix (`CCCD:0010...`),
//!   which is how Vietnamese CAs write it;
//! - the signature verifies over the submitted digest with the certificate's key: RSA
//!   PKCS#1 v1.5 or PSS (any salt length), or ECDSA P-256 in DER or raw `r||s` form.

use kyso_adapter_core::{HashAlgorithm, KeyAlgorithm};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::pkcs8::DecodePublicKey as _;
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::digest::const_oid::AssociatedOid;
use sha2::digest::{Digest, FixedOutputReset};
use sha2::{Sha256, Sha384, Sha512};
use time::OffsetDateTime;
use x509_parser::oid_registry::{
    OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION, OID_USERID, OID_X509_SERIALNUMBER,
};
use x509_parser::prelude::{ASN1Time, FromDer, X509Certificate};

/// The checks every returned signature passed, as reported to portals.
pub const CHECKS: [&str; 4] = [
    "signature",
    "certificate_chain",
    "validity_period",
    "subject_user_id",
];

/// Longest chain accepted between a citizen certificate and a trust anchor.
const MAX_INTERMEDIATES: usize = 5;

/// Why a certificate or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A certificate is not DER X.509.
    #[error("certificate cannot be parsed")]
    MalformedCertificate,
    /// The signer certificate is outside its validity period.
    #[error("certificate is not within its validity period")]
    OutsideValidity,
    /// No path from the signer certificate to a trust anchor.
    #[error("certificate does not chain to a trusted root")]
    Untrusted,
    /// The certificate does not name the requested citizen.
    #[error("certificate does not belong to the requested citizen")]
    SubjectMismatch,
    /// The certificate's key is neither RSA nor ECDSA P-256.
    #[error("certificate key algorithm is not supported")]
    UnsupportedKey,
    /// The signature does not verify with the certificate's key over the digest.
    #[error("signature does not verify over the submitted digest")]
    BadSignature,
}

/// The root certificates one provider's citizen certificates must chain to.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    roots_der: Vec<Vec<u8>>,
}

impl TrustAnchors {
    /// Reads concatenated PEM certificates; at least one is required.
    pub fn from_pem(pem_text: &str) -> Result<Self, String> {
        let mut roots_der = Vec::new();
        for block in pem::parse_many(pem_text).map_err(|error| error.to_string())? {
            if block.tag() != "CERTIFICATE" {
                continue;
            }
            X509Certificate::from_der(block.contents())
                .map_err(|error| format!("a trust anchor cannot be parsed: {error}"))?;
            roots_der.push(block.into_contents());
        }
        if roots_der.is_empty() {
            return Err("no CERTIFICATE found".into());
        }
        Ok(Self { roots_der })
    }
}

/// What portals are told about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial number, uppercase hex without leading zero bytes.
    pub serial_number: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// The key algorithm.
    pub key_algorithm: KeyAlgorithm,
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, VerifyError> {
    match X509Certificate::from_der(der) {
        Ok(([], certificate)) => Ok(certificate),
        _ => Err(VerifyError::MalformedCertificate),
    }
}

fn key_algorithm(certificate: &X509Certificate<'_>) -> Result<KeyAlgorithm, VerifyError> {
    let algorithm = &certificate.public_key().algorithm.algorithm;
    if *algorithm == OID_PKCS1_RSAENCRYPTION {
        Ok(KeyAlgorithm::Rsa)
    } else if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY
        && p256::ecdsa::VerifyingKey::from_public_key_der(certificate.public_key().raw).is_ok()
    {
        Ok(KeyAlgorithm::EcdsaP256)
    } else {
        Err(VerifyError::UnsupportedKey)
    }
}

/// Reads the facts portals are shown about a certificate.
pub fn describe(der: &[u8]) -> Result<CertificateFacts, VerifyError> {
    let certificate = parse(der)?;
    let serial = certificate.raw_serial();
    let significant = serial
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(serial.len().saturating_sub(1));
    Ok(CertificateFacts {
        subject: certificate.subject().to_string(),
        issuer: certificate.issuer().to_string(),
        serial_number: hex::encode_upper(&serial[significant..]),
        not_before: certificate.validity().not_before.to_datetime(),
        not_after: certificate.validity().not_after.to_datetime(),
        key_algorithm: key_algorithm(&certificate)?,
    })
}

fn asn1_time(at: OffsetDateTime) -> Result<ASN1Time, VerifyError> {
    ASN1Time::from_timestamp(at.unix_timestamp()).map_err(|_| VerifyError::OutsideValidity)
}

/// Checks that the signer certificate can be trusted for `user_id` at `at`: chain, validity
/// and subject (everything but the signature itself).
pub fn check_certificate(
    certificate_der: &[u8],
    chain_der: &[Vec<u8>],
    anchors: &TrustAnchors,
    user_id: &str,
    at: OffsetDateTime,
) -> Result<(), VerifyError> {
    let leaf = parse(certificate_der)?;
    let now = asn1_time(at)?;
    if !leaf.validity().is_valid_at(now) {
        return Err(VerifyError::OutsideValidity);
    }
    if !names_citizen(&leaf, user_id) {
        return Err(VerifyError::SubjectMismatch);
    }
    key_algorithm(&leaf)?;
    // Certificates the CA sent that cannot be parsed are ignored: they cannot help a path.
    let intermediates: Vec<X509Certificate<'_>> =
        chain_der.iter().filter_map(|der| parse(der).ok()).collect();
    let roots = anchors
        .roots_der
        .iter()
        .map(|der| parse(der))
        .collect::<Result<Vec<_>, _>>()?;
    let mut current = &leaf;
    for _ in 0..=MAX_INTERMEDIATES {
        let issued_by = |issuer: &X509Certificate<'_>| {
            issuer.subject().as_raw() == current.issuer().as_raw()
                && current.verify_signature(Some(issuer.public_key())).is_ok()
        };
        if roots.iter().any(issued_by) {
            return Ok(());
        }
        current = intermediates
            .iter()
            .find(|issuer| {
                issuer.is_ca() && issuer.validity().is_valid_at(now) && issued_by(issuer)
            })
            .ok_or(VerifyError::Untrusted)?;
    }
    Err(VerifyError::Untrusted)
}

fn names_citizen(certificate: &X509Certificate<'_>, user_id: &str) -> bool {
    let subject = certificate.subject();
    subject
        .iter_by_oid(&OID_USERID)
        .chain(subject.iter_by_oid(&OID_X509_SERIALNUMBER))
        .filter_map(|attribute| attribute.as_str().ok())
        .any(|value| {
            let number = value.rsplit_once(':').map_or(value, |(_, number)| number);
            number.trim() == user_id
        })
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedSignature {
    /// The scheme found (`rsa_pkcs1v15_sha256`, `rsa_pss_sha384`, `ecdsa_p256_sha256`, ...).
    pub algorithm: String,
    /// The signature as portals get it: RSA as returned, ECDSA always DER.
    pub signature: Vec<u8>,
}

/// Verifies `signature` over `digest` with the certificate's key.
pub fn verify_signature(
    certificate_der: &[u8],
    hash_algorithm: HashAlgorithm,
    digest: &[u8],
    signature: &[u8],
) -> Result<CheckedSignature, VerifyError> {
    if digest.len() != hash_algorithm.digest_len() {
        return Err(VerifyError::BadSignature);
    }
    let certificate = parse(certificate_der)?;
    let spki = certificate.public_key().raw;
    let (scheme, normalized) = match key_algorithm(&certificate)? {
        KeyAlgorithm::Rsa => {
            let key =
                RsaPublicKey::from_public_key_der(spki).map_err(|_| VerifyError::UnsupportedKey)?;
            let scheme = verify_rsa(&key, hash_algorithm, digest, signature)?;
            (scheme, signature.to_vec())
        }
        KeyAlgorithm::EcdsaP256 => {
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(spki)
                .map_err(|_| VerifyError::UnsupportedKey)?;
            // 64 bytes is r||s; a DER signature of P-256 is never exactly 64 bytes long.
            let parsed = if signature.len() == 64 {
                p256::ecdsa::Signature::from_slice(signature)
            } else {
                p256::ecdsa::Signature::from_der(signature)
            }
            .map_err(|_| VerifyError::BadSignature)?;
            key.verify_prehash(digest, &parsed)
                .map_err(|_| VerifyError::BadSignature)?;
            ("ecdsa_p256", parsed.to_der().as_bytes().to_vec())
        }
    };
    Ok(CheckedSignature {
        algorithm: format!("{scheme}_{hash_algorithm}"),
        signature: normalized,
    })
}

fn verify_rsa(
    key: &RsaPublicKey,
    hash_algorithm: HashAlgorithm,
    digest: &[u8],
    signature: &[u8],
) -> Result<&'static str, VerifyError> {
    match hash_algorithm {
        HashAlgorithm::Sha256 => verify_rsa_with::<Sha256>(key, digest, signature),
        HashAlgorithm::Sha384 => verify_rsa_with::<Sha384>(key, digest, signature),
        HashAlgorithm::Sha512 => verify_rsa_with::<Sha512>(key, digest, signature),
    }
}

/// PKCS#1 v1.5 first (what Vietnamese CAs return), then PSS with any salt length (CAs
/// differ, and the salt is recoverable from the signature).
fn verify_rsa_with<D>(
    key: &RsaPublicKey,
    digest: &[u8],
    signature: &[u8],
) -> Result<&'static str, VerifyError>
where
    D: Digest + FixedOutputReset + AssociatedOid,
{
    if key
        .verify(Pkcs1v15Sign::new::<D>(), digest, signature)
        .is_ok()
    {
        return Ok("rsa_pkcs1v15");
    }
    let mut pss = Pss::<D>::new();
    pss.salt_len = None;
    key.verify(pss, digest, signature)
        .map(|()| "rsa_pss")
        .map_err(|_| VerifyError::BadSignature)
}

/// PEM of a DER certificate.
pub fn certificate_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use p256::pkcs8::DecodePrivateKey;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    use time::Duration;

    use super::*;

    const CITIZEN: &str = "001099000001";

    struct Pki {
        root_pem: String,
        issuing_der: Vec<u8>,
        issuing: CertifiedIssuer<'static, KeyPair>,
    }

    fn p256_key() -> KeyPair {
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
    }

    fn pki() -> Pki {
        let now = OffsetDateTime::now_utc();
        let mut root = CertificateParams::default();
        root.distinguished_name
            .push(DnType::CommonName, "Test Root");
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.not_before = now - Duration::hours(1);
        root.not_after = now + Duration::days(30);
        let root = CertifiedIssuer::self_signed(root, p256_key()).unwrap();
        let mut issuing = CertificateParams::default();
        issuing
            .distinguished_name
            .push(DnType::CommonName, "Test Issuing CA");
        issuing.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        issuing.not_before = now - Duration::hours(1);
        issuing.not_after = now + Duration::days(30);
        let issuing = CertifiedIssuer::signed_by(issuing, p256_key(), &root).unwrap();
        Pki {
            root_pem: root.pem(),
            issuing_der: issuing.der().to_vec(),
            issuing,
        }
    }

    /// A citizen certificate with `uid` and the validity window given, and its key.
    fn citizen(pki: &Pki, uid: &str, from: Duration, to: Duration) -> (Vec<u8>, KeyPair) {
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "Nguyễn Văn An");
        params.distinguished_name.push(
            DnType::CustomDnType(vec![0, 9, 2342, 19_200_300, 100, 1, 1]),
            uid,
        );
        params.is_ca = IsCa::ExplicitNoCa;
        params.not_before = now + from;
        params.not_after = now + to;
        let key = p256_key();
        let certificate = params.signed_by(&key, &pki.issuing).unwrap();
        (certificate.der().to_vec(), key)
    }

    fn valid_citizen(pki: &Pki) -> (Vec<u8>, KeyPair) {
        citizen(
            pki,
            &format!("CCCD:{CITIZEN}"),
            -Duration::hours(1),
            Duration::days(1),
        )
    }

    #[test]
    fn certificate_chaining_to_the_anchor_and_naming_the_citizen_is_accepted() {
        let pki = pki();
        let (leaf, _) = valid_citizen(&pki);
        let anchors = TrustAnchors::from_pem(&pki.root_pem).unwrap();
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            check_certificate(
                &leaf,
                std::slice::from_ref(&pki.issuing_der),
                &anchors,
                CITIZEN,
                now
            ),
            Ok(())
        );
        let facts = describe(&leaf).unwrap();
        assert_eq!(facts.key_algorithm, KeyAlgorithm::EcdsaP256);
        assert!(!facts.serial_number.starts_with("00"));
    }

    #[test]
    fn certificate_is_refused_without_a_path_to_a_trust_anchor() {
        let pki = pki();
        let other = self::pki();
        let (leaf, _) = valid_citizen(&pki);
        let now = OffsetDateTime::now_utc();
        let foreign_root = TrustAnchors::from_pem(&other.root_pem).unwrap();
        assert_eq!(
            check_certificate(
                &leaf,
                std::slice::from_ref(&pki.issuing_der),
                &foreign_root,
                CITIZEN,
                now
            ),
            Err(VerifyError::Untrusted)
        );
        // The right root, but the CA did not send the intermediate.
        let anchors = TrustAnchors::from_pem(&pki.root_pem).unwrap();
        assert_eq!(
            check_certificate(&leaf, &[], &anchors, CITIZEN, now),
            Err(VerifyError::Untrusted)
        );
        // An impostor intermediate with the right name but another key.
        assert_eq!(
            check_certificate(
                &leaf,
                std::slice::from_ref(&other.issuing_der),
                &anchors,
                CITIZEN,
                now
            ),
            Err(VerifyError::Untrusted)
        );
    }

    #[test]
    fn certificate_of_another_citizen_or_outside_validity_is_refused() {
        let pki = pki();
        let anchors = TrustAnchors::from_pem(&pki.root_pem).unwrap();
        let chain = [pki.issuing_der.clone()];
        let now = OffsetDateTime::now_utc();
        let (other, _) = citizen(
            &pki,
            "CCCD:079200000999",
            -Duration::hours(1),
            Duration::days(1),
        );
        assert_eq!(
            check_certificate(&other, &chain, &anchors, CITIZEN, now),
            Err(VerifyError::SubjectMismatch)
        );
        let (expired, _) = citizen(
            &pki,
            &format!("CCCD:{CITIZEN}"),
            -Duration::days(2),
            -Duration::days(1),
        );
        assert_eq!(
            check_certificate(&expired, &chain, &anchors, CITIZEN, now),
            Err(VerifyError::OutsideValidity)
        );
        let (future, _) = citizen(&pki, CITIZEN, Duration::days(1), Duration::days(2));
        assert_eq!(
            check_certificate(&future, &chain, &anchors, CITIZEN, now),
            Err(VerifyError::OutsideValidity)
        );
    }

    #[test]
    fn ecdsa_signature_verifies_in_both_encodings_and_is_returned_as_der() {
        let pki = pki();
        let (leaf, key) = valid_citizen(&pki);
        let signer = p256::ecdsa::SigningKey::from_pkcs8_der(key.serialized_der()).unwrap();
        let digest = [7u8; 32];
        let signature: p256::ecdsa::Signature = signer.sign_prehash(&digest).unwrap();
        let der = signature.to_der().as_bytes().to_vec();
        for encoded in [signature.to_bytes().to_vec(), der.clone()] {
            let checked =
                verify_signature(&leaf, HashAlgorithm::Sha256, &digest, &encoded).unwrap();
            assert_eq!(checked.algorithm, "ecdsa_p256_sha256");
            assert_eq!(checked.signature, der);
        }
        let mut other_digest = digest;
        other_digest[0] ^= 1;
        assert_eq!(
            verify_signature(&leaf, HashAlgorithm::Sha256, &other_digest, &der),
            Err(VerifyError::BadSignature)
        );
        // A digest of the wrong length for the algorithm is refused, not truncated.
        assert_eq!(
            verify_signature(&leaf, HashAlgorithm::Sha384, &digest, &der),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn trust_anchors_need_at_least_one_certificate() {
        assert!(TrustAnchors::from_pem("").is_err());
        assert!(
            TrustAnchors::from_pem(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
            )
            .is_err()
        );
    }
}
