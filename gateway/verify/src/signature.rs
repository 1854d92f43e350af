//! The document signature itself: a signature over a digest, checked with the signer's key.
//! RSA PKCS#1 v1.5 or PSS (any salt length), or ECDSA P-256 in DER or raw `r||s` form.
//!
//! [`SignerKey`] holds the key parsed once, so a transaction with several documents parses
//! it once and checks each signature with it.

use kyso_adapter_core::HashAlgorithm;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::pkcs8::DecodePublicKey as _;
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::digest::const_oid::AssociatedOid;
use sha2::digest::{Digest, FixedOutputReset};
use sha2::{Sha256, Sha384, Sha512};
use x509_parser::prelude::X509Certificate;

use crate::VerifyError;
use crate::policy::{KeyKind, check_key};

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedSignature {
    /// The scheme found (`rsa_pkcs1v15_sha256`, `rsa_pss_sha384`, `ecdsa_p256_sha256`, ...).
    pub algorithm: String,
    /// The signature as portals get it: RSA as returned, ECDSA always DER.
    pub signature: Vec<u8>,
}

/// A signer's public key, parsed once, ready to check signatures over digests.
#[derive(Debug, Clone)]
pub struct SignerKey(Key);

#[derive(Debug, Clone)]
enum Key {
    Rsa(Box<RsaPublicKey>),
    P256(p256::ecdsa::VerifyingKey),
}

impl SignerKey {
    /// The key of a DER certificate.
    ///
    /// # Errors
    /// [`VerifyError::MalformedCertificate`], or [`VerifyError::UnsupportedKey`] for a key
    /// that is not RSA of at least 2048 bits or ECDSA P-256.
    pub fn from_certificate(der: &[u8]) -> Result<Self, VerifyError> {
        Self::of(&crate::parse(der)?)
    }

    pub(crate) fn of(certificate: &X509Certificate<'_>) -> Result<Self, VerifyError> {
        let spki = certificate.public_key();
        match check_key(spki) {
            Ok(KeyKind::Rsa(_)) => RsaPublicKey::from_public_key_der(spki.raw)
                .map(|key| Self(Key::Rsa(Box::new(key))))
                .map_err(|_| VerifyError::UnsupportedKey),
            Ok(KeyKind::P256) => p256::ecdsa::VerifyingKey::from_public_key_der(spki.raw)
                .map(|key| Self(Key::P256(key)))
                .map_err(|_| VerifyError::UnsupportedKey),
            Ok(KeyKind::P384) | Err(_) => Err(VerifyError::UnsupportedKey),
        }
    }

    /// Verifies `signature` over `digest`, made with `hash_algorithm`.
    ///
    /// # Errors
    /// [`VerifyError::DigestLength`] if the digest's length does not fit the algorithm,
    /// [`VerifyError::BadSignature`] if the signature does not verify.
    pub fn verify(
        &self,
        hash_algorithm: HashAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<CheckedSignature, VerifyError> {
        if digest.len() != hash_algorithm.digest_len() {
            return Err(VerifyError::DigestLength);
        }
        let (scheme, normalized) = match &self.0 {
            Key::Rsa(key) => {
                let scheme = match hash_algorithm {
                    HashAlgorithm::Sha256 => verify_rsa::<Sha256>(key, digest, signature),
                    HashAlgorithm::Sha384 => verify_rsa::<Sha384>(key, digest, signature),
                    HashAlgorithm::Sha512 => verify_rsa::<Sha512>(key, digest, signature),
                }?;
                (scheme, signature.to_vec())
            }
            Key::P256(key) => {
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
}

/// PKCS#1 v1.5 first (what Vietnamese CAs return), then PSS with any salt length (CAs
/// differ, and the salt is recoverable from the signature).
fn verify_rsa<D>(
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
