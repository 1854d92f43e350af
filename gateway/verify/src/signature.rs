//! The document signature itself: a signature over a digest, checked with the signer's key.
//! RSA PKCS#1 v1.5 or PSS (any salt length), or ECDSA P-256 in DER or raw `r||s` form.
//!
//! ECDSA and PKCS#1 v1.5, what CAs return, are checked with AWS-LC (`aws-lc-rs`, already
//! linked for TLS and tokens): about 3x faster than the pure-Rust `p256` and `rsa` crates
//! (`benches/benches/verify.rs`), and checking every signature is the gateway's largest
//! cost per transaction. PSS with any salt length, which AWS-LC does not offer, stays with
//! `rsa`.
//!
//! [`SignerKey`] holds the key parsed once, so a transaction with several documents parses
//! it once and checks each signature with it.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self as lc, UnparsedPublicKey, VerificationAlgorithm};
use kyso_adapter_core::HashAlgorithm;
use p256::pkcs8::DecodePublicKey as _;
use rsa::{Pss, RsaPublicKey};
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
    /// The certificate's SubjectPublicKeyInfo (for AWS-LC) and the key parsed (for PSS).
    Rsa {
        spki: Vec<u8>,
        key: Box<RsaPublicKey>,
    },
    /// The certificate's SubjectPublicKeyInfo, checked to be a point of P-256.
    P256 { spki: Vec<u8> },
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
                .map(|key| {
                    Self(Key::Rsa {
                        spki: spki.raw.to_vec(),
                        key: Box::new(key),
                    })
                })
                .map_err(|_| VerifyError::UnsupportedKey),
            Ok(KeyKind::P256) => p256::PublicKey::from_public_key_der(spki.raw)
                .map(|_| {
                    Self(Key::P256 {
                        spki: spki.raw.to_vec(),
                    })
                })
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
            Key::Rsa { spki, key } => {
                let scheme = verify_rsa(spki, key, hash_algorithm, digest, signature)?;
                (scheme, signature.to_vec())
            }
            Key::P256 { spki } => {
                // 64 bytes is r||s; a DER signature of P-256 is never exactly 64 bytes long.
                let parsed = if signature.len() == 64 {
                    p256::ecdsa::Signature::from_slice(signature)
                } else {
                    p256::ecdsa::Signature::from_der(signature)
                }
                .map_err(|_| VerifyError::BadSignature)?;
                // What is checked is what portals get: the DER form.
                let der = parsed.to_der().as_bytes().to_vec();
                let algorithm: &'static dyn VerificationAlgorithm = match hash_algorithm {
                    HashAlgorithm::Sha256 => &lc::ECDSA_P256_SHA256_ASN1,
                    HashAlgorithm::Sha384 => &lc::ECDSA_P256_SHA384_ASN1,
                    HashAlgorithm::Sha512 => &lc::ECDSA_P256_SHA512_ASN1,
                };
                verify_digest(algorithm, spki, hash_algorithm, digest, &der)
                    .map_err(|()| VerifyError::BadSignature)?;
                ("ecdsa_p256", der)
            }
        };
        Ok(CheckedSignature {
            algorithm: format!("{scheme}_{hash_algorithm}"),
            signature: normalized,
        })
    }
}

/// Checks `signature` over `digest` with AWS-LC's `algorithm` and the key `spki`.
fn verify_digest(
    algorithm: &'static dyn VerificationAlgorithm,
    spki: &[u8],
    hash_algorithm: HashAlgorithm,
    digest: &[u8],
    signature: &[u8],
) -> Result<(), ()> {
    let digest_algorithm = match hash_algorithm {
        HashAlgorithm::Sha256 => &digest::SHA256,
        HashAlgorithm::Sha384 => &digest::SHA384,
        HashAlgorithm::Sha512 => &digest::SHA512,
    };
    // The digest is the portal's, computed over its document: importing it is what
    // signing a digest means.
    let digest = digest::Digest::import_less_safe(digest, digest_algorithm).map_err(|_| ())?;
    UnparsedPublicKey::new(algorithm, spki)
        .verify_digest(&digest, signature)
        .map_err(|_| ())
}

/// PKCS#1 v1.5 first (what Vietnamese CAs return), then PSS with any salt length (CAs
/// differ, and the salt is recoverable from the signature).
fn verify_rsa(
    spki: &[u8],
    key: &RsaPublicKey,
    hash_algorithm: HashAlgorithm,
    digest: &[u8],
    signature: &[u8],
) -> Result<&'static str, VerifyError> {
    // The policy keeps RSA keys within 2048..=8192 bits, the range of these.
    let pkcs1v15: &'static dyn VerificationAlgorithm = match hash_algorithm {
        HashAlgorithm::Sha256 => &lc::RSA_PKCS1_2048_8192_SHA256,
        HashAlgorithm::Sha384 => &lc::RSA_PKCS1_2048_8192_SHA384,
        HashAlgorithm::Sha512 => &lc::RSA_PKCS1_2048_8192_SHA512,
    };
    if verify_digest(pkcs1v15, spki, hash_algorithm, digest, signature).is_ok() {
        return Ok("rsa_pkcs1v15");
    }
    let pss = match hash_algorithm {
        HashAlgorithm::Sha256 => verify_pss::<Sha256>(key, digest, signature),
        HashAlgorithm::Sha384 => verify_pss::<Sha384>(key, digest, signature),
        HashAlgorithm::Sha512 => verify_pss::<Sha512>(key, digest, signature),
    };
    pss.map(|()| "rsa_pss")
}

/// RSA-PSS over `digest` made with `D`, whatever the salt's length.
fn verify_pss<D>(key: &RsaPublicKey, digest: &[u8], signature: &[u8]) -> Result<(), VerifyError>
where
    D: Digest + FixedOutputReset + AssociatedOid,
{
    let mut pss = Pss::<D>::new();
    pss.salt_len = None;
    key.verify(pss, digest, signature)
        .map_err(|_| VerifyError::BadSignature)
}
