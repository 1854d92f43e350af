//! Algorithm OIDs: the `hashAlgorithmOID` of a digest algorithm, and the choice of `signAlgo`
//! among the OIDs a credential's `key.algo` lists.
//!
//! CSC names algorithms by dotted OIDs. A credential lists what its key can do in `key.algo`,
//! either as combined algorithms (`sha256WithRSAEncryption`, `ecdsa-with-SHA256`), which fix
//! the digest, or as bare key algorithms (`rsaEncryption`, `id-ecPublicKey`), which take it
//! from `hashAlgorithmOID`. The adapter prefers the combined OID for the request's digest and
//! always sends `hashAlgorithmOID` as well; RSASSA-PSS is not chosen, since it needs
//! `signAlgoParams` and Vietnamese relying parties expect PKCS#1 v1.5.

use kyso_adapter_core::{HashAlgorithm, KeyAlgorithm};

/// `rsaEncryption`: RSA PKCS#1 v1.5 with the digest of `hashAlgorithmOID`.
pub(crate) const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
/// `id-RSASSA-PSS`: refused (needs parameters).
pub(crate) const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
/// `id-ecPublicKey`: ECDSA with the digest of `hashAlgorithmOID`.
pub(crate) const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";

/// The `hashAlgorithmOID` of a digest algorithm (NIST hash algorithm arc).
pub(crate) fn hash_oid(hash: HashAlgorithm) -> &'static str {
    match hash {
        HashAlgorithm::Sha256 => "2.16.840.1.101.3.4.2.1",
        HashAlgorithm::Sha384 => "2.16.840.1.101.3.4.2.2",
        HashAlgorithm::Sha512 => "2.16.840.1.101.3.4.2.3",
    }
}

/// `sha{256,384,512}WithRSAEncryption`.
fn rsa_pkcs1_oid(hash: HashAlgorithm) -> &'static str {
    match hash {
        HashAlgorithm::Sha256 => "1.2.840.113549.1.1.11",
        HashAlgorithm::Sha384 => "1.2.840.113549.1.1.12",
        HashAlgorithm::Sha512 => "1.2.840.113549.1.1.13",
    }
}

/// `ecdsa-with-SHA{256,384,512}`.
fn ecdsa_oid(hash: HashAlgorithm) -> &'static str {
    match hash {
        HashAlgorithm::Sha256 => "1.2.840.10045.4.3.2",
        HashAlgorithm::Sha384 => "1.2.840.10045.4.3.3",
        HashAlgorithm::Sha512 => "1.2.840.10045.4.3.4",
    }
}

/// A chosen `signAlgo` and the kind of key it signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SignAlgo {
    pub(crate) oid: &'static str,
    pub(crate) key: KeyAlgorithm,
}

/// Why no `signAlgo` suits a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AlgoError {
    /// The key offers only RSASSA-PSS.
    #[error("the credential's key offers only RSASSA-PSS, which the gateway does not request")]
    PssOnly,
    /// Nothing the adapter knows.
    #[error("the credential's key algorithms {0:?} include no RSA PKCS#1 v1.5 or ECDSA for {1}")]
    NoneUsable(Vec<String>, HashAlgorithm),
}

/// The `signAlgo` to request for digests made with `hash`, given the credential's `key.algo`:
/// the combined PKCS#1 v1.5 or ECDSA OID for `hash` first, then `rsaEncryption`, then
/// `id-ecPublicKey`.
pub(crate) fn choose_sign_algo(
    hash: HashAlgorithm,
    key_algos: &[String],
) -> Result<SignAlgo, AlgoError> {
    let listed = |oid: &str| key_algos.iter().any(|algo| algo.trim() == oid);
    let preferences = [
        (rsa_pkcs1_oid(hash), KeyAlgorithm::Rsa),
        (ecdsa_oid(hash), KeyAlgorithm::EcdsaP256),
        (RSA_ENCRYPTION, KeyAlgorithm::Rsa),
        (EC_PUBLIC_KEY, KeyAlgorithm::EcdsaP256),
    ];
    if let Some((oid, key)) = preferences.into_iter().find(|(oid, _)| listed(oid)) {
        return Ok(SignAlgo { oid, key });
    }
    if listed(RSASSA_PSS) {
        Err(AlgoError::PssOnly)
    } else {
        Err(AlgoError::NoneUsable(key_algos.to_vec(), hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn algos(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn hash_oids_are_the_nist_ones() {
        assert_eq!(hash_oid(HashAlgorithm::Sha256), "2.16.840.1.101.3.4.2.1");
        assert_eq!(hash_oid(HashAlgorithm::Sha384), "2.16.840.1.101.3.4.2.2");
        assert_eq!(hash_oid(HashAlgorithm::Sha512), "2.16.840.1.101.3.4.2.3");
    }

    #[test]
    fn combined_rsa_oid_is_preferred_for_the_digest() {
        let key = algos(&[
            RSA_ENCRYPTION,
            "1.2.840.113549.1.1.11",
            "1.2.840.113549.1.1.13",
        ]);
        let chosen = choose_sign_algo(HashAlgorithm::Sha256, &key).unwrap();
        assert_eq!(chosen.oid, "1.2.840.113549.1.1.11");
        assert_eq!(chosen.key, KeyAlgorithm::Rsa);
        let chosen = choose_sign_algo(HashAlgorithm::Sha512, &key).unwrap();
        assert_eq!(chosen.oid, "1.2.840.113549.1.1.13");
    }

    #[test]
    fn bare_rsa_oid_is_used_when_no_combined_one_fits() {
        let key = algos(&["1.2.840.113549.1.1.11", RSA_ENCRYPTION]);
        let chosen = choose_sign_algo(HashAlgorithm::Sha384, &key).unwrap();
        assert_eq!(chosen.oid, RSA_ENCRYPTION);
    }

    #[test]
    fn ecdsa_key_gets_ecdsa_with_the_digest_or_the_bare_key_oid() {
        let key = algos(&["1.2.840.10045.4.3.2"]);
        let chosen = choose_sign_algo(HashAlgorithm::Sha256, &key).unwrap();
        assert_eq!(chosen.oid, "1.2.840.10045.4.3.2");
        assert_eq!(chosen.key, KeyAlgorithm::EcdsaP256);
        assert!(choose_sign_algo(HashAlgorithm::Sha384, &key).is_err());
        let key = algos(&[" 1.2.840.10045.2.1 "]);
        let chosen = choose_sign_algo(HashAlgorithm::Sha384, &key).unwrap();
        assert_eq!(chosen.oid, EC_PUBLIC_KEY);
    }

    #[test]
    fn pss_only_and_unknown_keys_are_refused() {
        assert_eq!(
            choose_sign_algo(HashAlgorithm::Sha256, &algos(&[RSASSA_PSS])),
            Err(AlgoError::PssOnly)
        );
        assert!(matches!(
            choose_sign_algo(HashAlgorithm::Sha256, &algos(&["1.3.101.112"])),
            Err(AlgoError::NoneUsable(..))
        ));
        assert!(choose_sign_algo(HashAlgorithm::Sha256, &[]).is_err());
    }
}
