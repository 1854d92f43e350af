//! The algorithm OIDs the simulated service understands: digest algorithms
//! (`hashAlgorithmOID`) and signature algorithms (`signAlgo`, `key.algo`), and how a
//! credential's key signs (the kit's [`SignatureScheme`] for its [`KeyKind`]).

use kyso_sim_kit::{DigestAlgorithm, KeyKind, SignatureScheme};

/// A digest algorithm a client may submit hashes of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    const ALL: [Self; 3] = [Self::Sha256, Self::Sha384, Self::Sha512];

    /// The dotted OID (NIST hash algorithms arc).
    pub(crate) fn oid(self) -> &'static str {
        match self {
            Self::Sha256 => "2.16.840.1.101.3.4.2.1",
            Self::Sha384 => "2.16.840.1.101.3.4.2.2",
            Self::Sha512 => "2.16.840.1.101.3.4.2.3",
        }
    }

    pub(crate) fn from_oid(oid: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.oid() == oid)
    }

    /// The kit's name for this digest algorithm.
    pub(crate) fn digest(self) -> DigestAlgorithm {
        match self {
            Self::Sha256 => DigestAlgorithm::Sha256,
            Self::Sha384 => DigestAlgorithm::Sha384,
            Self::Sha512 => DigestAlgorithm::Sha512,
        }
    }

    /// Output length in bytes.
    pub(crate) fn len(self) -> usize {
        self.digest().output_len()
    }
}

/// How a credential's key signs a submitted digest: RSASSA-PKCS1-v1_5 over the DigestInfo for
/// RSA keys, DER-encoded ECDSA for P-256 keys.
pub(crate) fn scheme(key: KeyKind) -> SignatureScheme {
    match key {
        KeyKind::Rsa2048 => SignatureScheme::RsaPkcs1v15,
        KeyKind::P256 => SignatureScheme::EcdsaDer,
    }
}

/// `rsaEncryption`: RSA PKCS#1 v1.5, the digest named by `hashAlgorithmOID`.
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
/// `id-ecPublicKey`: ECDSA, the digest named by `hashAlgorithmOID`.
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";

/// What a `signAlgo` OID asks for: the key kind it needs and the digest it implies, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SignAlg {
    pub(crate) key: KeyKind,
    pub(crate) implied_hash: Option<HashAlg>,
}

impl SignAlg {
    pub(crate) fn from_oid(oid: &str) -> Option<Self> {
        let (key, implied_hash) = match oid {
            RSA_ENCRYPTION => (KeyKind::Rsa2048, None),
            "1.2.840.113549.1.1.11" => (KeyKind::Rsa2048, Some(HashAlg::Sha256)),
            "1.2.840.113549.1.1.12" => (KeyKind::Rsa2048, Some(HashAlg::Sha384)),
            "1.2.840.113549.1.1.13" => (KeyKind::Rsa2048, Some(HashAlg::Sha512)),
            EC_PUBLIC_KEY => (KeyKind::P256, None),
            "1.2.840.10045.4.3.2" => (KeyKind::P256, Some(HashAlg::Sha256)),
            "1.2.840.10045.4.3.3" => (KeyKind::P256, Some(HashAlg::Sha384)),
            "1.2.840.10045.4.3.4" => (KeyKind::P256, Some(HashAlg::Sha512)),
            _ => return None,
        };
        Some(Self { key, implied_hash })
    }
}

/// `key.algo` of a credential: the combined OIDs first (clients such as pyHanko need them),
/// then the bare key algorithm, which takes the digest from `hashAlgorithmOID`.
pub(crate) fn key_algos(key: KeyKind) -> &'static [&'static str] {
    match key {
        KeyKind::Rsa2048 => &[
            "1.2.840.113549.1.1.11",
            "1.2.840.113549.1.1.12",
            "1.2.840.113549.1.1.13",
            RSA_ENCRYPTION,
        ],
        KeyKind::P256 => &[
            "1.2.840.10045.4.3.2",
            "1.2.840.10045.4.3.3",
            "1.2.840.10045.4.3.4",
            EC_PUBLIC_KEY,
        ],
    }
}

/// The named-curve OID of P-256 (`key.curve`).
pub(crate) const P256_CURVE: &str = "1.2.840.10045.3.1.7";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_sign_algo_is_understood_for_its_key() {
        for key in [KeyKind::Rsa2048, KeyKind::P256] {
            for oid in key_algos(key) {
                assert_eq!(
                    SignAlg::from_oid(oid).map(|alg| alg.key),
                    Some(key),
                    "{oid}"
                );
            }
        }
    }

    #[test]
    fn hash_oids_round_trip() {
        for alg in HashAlg::ALL {
            assert_eq!(HashAlg::from_oid(alg.oid()), Some(alg));
        }
        assert_eq!(HashAlg::from_oid("1.3.14.3.2.26"), None, "SHA-1 is refused");
    }
}
