//! The algorithm policy, applied to every certificate's key and signature and to the
//! document signature: RSA keys of 2048 to 8192 bits, ECDSA on P-256 or P-384, hashes of
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
/// Largest RSA modulus accepted, in bits: checking a signature costs the square of the
/// modulus's length, so a larger key is a way to make the gateway work, and no CA issues
/// one (AWS-LC's verifiers, which check signatures, stop there too).
pub const MAX_RSA_BITS: usize = 8192;

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
        if bits > MAX_RSA_BITS {
            return Err(format!(
                "an RSA key of {bits} bits is above the {MAX_RSA_BITS}-bit maximum"
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

#[cfg(test)]
mod tests {
    use x509_parser::prelude::FromDer as _;

    use super::*;

    /// A DER tag-length-value.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let length = content.len();
        if length < 0x80 {
            out.push(u8::try_from(length).unwrap_or(0));
        } else {
            let bytes: Vec<u8> = length
                .to_be_bytes()
                .into_iter()
                .skip_while(|byte| *byte == 0)
                .collect();
            out.push(0x80 | u8::try_from(bytes.len()).unwrap_or(0));
            out.extend(bytes);
        }
        out.extend_from_slice(content);
        out
    }

    /// The SubjectPublicKeyInfo of an RSA key whose modulus has `bits` bits (odd, not a
    /// real key: the policy reads its size only).
    fn rsa_spki(bits: usize) -> Vec<u8> {
        let mut modulus = vec![0u8; 1 + bits.div_ceil(8)];
        modulus[1] = 0x80;
        if let Some(last) = modulus.last_mut() {
            *last = 1;
        }
        let key = tlv(0x30, &[tlv(0x02, &modulus), tlv(0x02, &[1, 0, 1])].concat());
        // rsaEncryption, NULL parameters.
        let algorithm = tlv(
            0x30,
            &[
                tlv(
                    0x06,
                    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
                ),
                vec![0x05, 0x00],
            ]
            .concat(),
        );
        tlv(
            0x30,
            &[algorithm, tlv(0x03, &[&[0u8][..], &key].concat())].concat(),
        )
    }

    fn check_rsa(bits: usize) -> Result<KeyKind, String> {
        let der = rsa_spki(bits);
        let (_, spki) = SubjectPublicKeyInfo::from_der(&der).map_err(|e| e.to_string())?;
        check_key(&spki)
    }

    #[test]
    fn rsa_keys_are_accepted_from_2048_to_8192_bits() {
        assert_eq!(check_rsa(2048), Ok(KeyKind::Rsa(2048)));
        assert_eq!(check_rsa(8192), Ok(KeyKind::Rsa(8192)));
        let small = check_rsa(2040).unwrap_err();
        assert!(small.contains("below the 2048-bit minimum"), "{small}");
        let large = check_rsa(8200).unwrap_err();
        assert!(large.contains("above the 8192-bit maximum"), "{large}");
    }
}
