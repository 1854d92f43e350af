//! The algorithm policy, applied to every certificate's key and signature and to the
//! document signature: RSA keys of at least 2048 bits, ECDSA on P-256 or P-384, hashes of
//! the SHA-2 family (SHA-256, SHA-384, SHA-512) only. SHA-1, MD5, RSA-1024, other curves,
//! DSA, Ed25519 and GOST are refused.

use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_HASH_SHA256,
    OID_NIST_HASH_SHA384, OID_NIST_HASH_SHA512, OID_PKCS1_RSAENCRYPTION, OID_PKCS1_RSASSAPSS,
    OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA,
    OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ECDSA_WITH_SHA512,
};
use x509_parser::prelude::{AlgorithmIdentifier, SubjectPublicKeyInfo};
use x509_parser::public_key::PublicKey;
use x509_parser::signature_algorithm::RsaSsaPssParams;

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// A key the policy accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// RSA with this many bits.
    Rsa(usize),
    /// ECDSA on P-256.
    P256,
    /// ECDSA on P-384.
    P384,
}

/// The key's kind, or why the policy refuses it.
pub(crate) fn check_key(spki: &SubjectPublicKeyInfo<'_>) -> Result<KeyKind, String> {
    let algorithm = &spki.algorithm.algorithm;
    if *algorithm == OID_PKCS1_RSAENCRYPTION {
        let bits = match spki.parsed() {
            Ok(PublicKey::RSA(key)) => key.key_size(),
            _ => return Err("an RSA key cannot be read".into()),
        };
        if bits < MIN_RSA_BITS {
            return Err(format!(
                "an RSA key of {bits} bits is below the {MIN_RSA_BITS}-bit minimum"
            ));
        }
        Ok(KeyKind::Rsa(bits))
    } else if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|parameters| parameters.as_oid().ok());
        match curve {
            Some(curve) if curve == OID_EC_P256 => Ok(KeyKind::P256),
            Some(curve) if curve == OID_NIST_EC_P384 => Ok(KeyKind::P384),
            Some(curve) => Err(format!("the elliptic curve {curve} is not accepted")),
            None => Err("an elliptic-curve key names no curve".into()),
        }
    } else {
        Err(format!("the key algorithm {algorithm} is not accepted"))
    }
}

/// The certificate signature algorithm's name, or why the policy refuses it.
pub(crate) fn check_signature_algorithm(
    algorithm: &AlgorithmIdentifier<'_>,
) -> Result<&'static str, String> {
    let oid = &algorithm.algorithm;
    let named = [
        (&OID_PKCS1_SHA256WITHRSA, "sha256WithRSAEncryption"),
        (&OID_PKCS1_SHA384WITHRSA, "sha384WithRSAEncryption"),
        (&OID_PKCS1_SHA512WITHRSA, "sha512WithRSAEncryption"),
        (&OID_SIG_ECDSA_WITH_SHA256, "ecdsa-with-SHA256"),
        (&OID_SIG_ECDSA_WITH_SHA384, "ecdsa-with-SHA384"),
        (&OID_SIG_ECDSA_WITH_SHA512, "ecdsa-with-SHA512"),
    ];
    if let Some((_, name)) = named.iter().find(|(known, _)| *known == oid) {
        return Ok(name);
    }
    if *oid == OID_PKCS1_RSASSAPSS {
        let hash = algorithm
            .parameters
            .as_ref()
            .and_then(|parameters| RsaSsaPssParams::try_from(parameters).ok())
            .map(|parameters| {
                let hash = parameters.hash_algorithm_oid();
                [
                    (&OID_NIST_HASH_SHA256, "RSASSA-PSS-SHA256"),
                    (&OID_NIST_HASH_SHA384, "RSASSA-PSS-SHA384"),
                    (&OID_NIST_HASH_SHA512, "RSASSA-PSS-SHA512"),
                ]
                .into_iter()
                .find_map(|(known, name)| (known == hash).then_some(name))
            });
        return hash
            .flatten()
            .ok_or_else(|| "RSASSA-PSS with a hash outside SHA-2 is not accepted".into());
    }
    Err(format!(
        "the signature algorithm {} is not accepted (SHA-2 family only)",
        describe_oid(oid)
    ))
}

fn describe_oid(oid: &x509_parser::asn1_rs::Oid<'_>) -> String {
    x509_parser::oid_registry::OidRegistry::default()
        .with_all_crypto()
        .get(oid)
        .map_or_else(|| oid.to_id_string(), |entry| entry.sn().to_owned())
}
