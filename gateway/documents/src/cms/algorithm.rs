//! The signature algorithms a CA's signature can come in, as CMS names them (RFC 3370,
//! RFC 4056, RFC 5758), and the checks of such a signature with the signer's key.

use der::oid::db::rfc5912::{
    ECDSA_WITH_SHA_256, ID_RSASSA_PSS, RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION,
};
use der::{Any, Decode as _, Encode as _};
use kyso_adapter_core::HashAlgorithm;
use kyso_verify::SignerKey;
use rsa::pkcs8::der::{Decode as _, Encode as _};
use sha2::Sha256;
use sha2::digest::const_oid::AssociatedOid as _;
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::CmsError;

/// The salt length of RSA-PSS with SHA-256: the digest's length, as every CA uses it.
const PSS_SALT_LEN: u8 = 32;

/// How the CA signed the digest of the signed attributes (always over SHA-256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (sha256WithRSAEncryption).
    RsaPkcs1v15Sha256,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256, salt 32 (id-RSASSA-PSS, parameters
    /// explicit).
    RsaPssSha256,
    /// ECDSA on P-256 with SHA-256 (ecdsa-with-SHA256); the value is DER `SEQUENCE {r, s}`.
    EcdsaP256Sha256,
}

impl SignatureAlgorithm {
    /// The name kyso reports (`rsa_pkcs1v15_sha256`, `rsa_pss_sha256`, `ecdsa_p256_sha256`),
    /// as [`kyso_verify::CheckedSignature::algorithm`] does.
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaPkcs1v15Sha256 => "rsa_pkcs1v15_sha256",
            Self::RsaPssSha256 => "rsa_pss_sha256",
            Self::EcdsaP256Sha256 => "ecdsa_p256_sha256",
        }
    }

    /// The SignerInfo's signatureAlgorithm: NULL parameters for RSA PKCS#1 v1.5, the
    /// RSASSA-PSS-params for PSS, none for ECDSA.
    ///
    /// # Errors
    /// [`CmsError::Encoding`] (should not happen).
    pub fn identifier(self) -> Result<AlgorithmIdentifierOwned, CmsError> {
        Ok(match self {
            Self::RsaPkcs1v15Sha256 => AlgorithmIdentifierOwned {
                oid: SHA_256_WITH_RSA_ENCRYPTION,
                parameters: Some(Any::from(der::asn1::Null)),
            },
            Self::RsaPssSha256 => {
                // The `rsa` crate writes the RSASSA-PSS-params (der 0.8 generation); bridged
                // to the der 0.7 types through their DER.
                let identifier = rsa::pss::get_default_pss_signature_algo_id::<Sha256>()
                    .and_then(|identifier| Ok(identifier.to_der()?))
                    .map_err(|error| CmsError::Encoding(error.to_string()))?;
                AlgorithmIdentifierOwned::from_der(&identifier)?
            }
            Self::EcdsaP256Sha256 => AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA_256,
                parameters: None,
            },
        })
    }

    /// The algorithm a SignerInfo's signatureAlgorithm names (rsaEncryption counts as
    /// PKCS#1 v1.5 with the SHA-256 digest algorithm, RFC 3370 §3.2).
    ///
    /// # Errors
    /// [`CmsError::UnsupportedAlgorithm`] for any other algorithm, or PSS parameters other
    /// than SHA-256, MGF1-SHA-256, salt 32.
    pub fn from_identifier(identifier: &AlgorithmIdentifierOwned) -> Result<Self, CmsError> {
        match identifier.oid {
            SHA_256_WITH_RSA_ENCRYPTION | RSA_ENCRYPTION => Ok(Self::RsaPkcs1v15Sha256),
            ECDSA_WITH_SHA_256 => Ok(Self::EcdsaP256Sha256),
            ID_RSASSA_PSS if pss_parameters_are_sha256(identifier) => Ok(Self::RsaPssSha256),
            ID_RSASSA_PSS => Err(CmsError::UnsupportedAlgorithm(
                "RSA-PSS other than SHA-256, MGF1-SHA-256, salt 32".to_owned(),
            )),
            oid => Err(CmsError::UnsupportedAlgorithm(oid.to_string())),
        }
    }

    /// The signature as CMS carries it: RSA as is; ECDSA as DER `SEQUENCE {r, s}`, from
    /// either that or the 64-byte `r || s` many remote signing services return.
    ///
    /// # Errors
    /// [`CmsError::BadSignature`] for an ECDSA value that is neither.
    pub fn signature_value(self, signature: &[u8]) -> Result<Vec<u8>, CmsError> {
        match self {
            Self::RsaPkcs1v15Sha256 | Self::RsaPssSha256 => Ok(signature.to_vec()),
            Self::EcdsaP256Sha256 => {
                let parsed = if signature.len() == 64 {
                    p256::ecdsa::Signature::from_slice(signature)
                } else {
                    p256::ecdsa::Signature::from_der(signature)
                }
                .map_err(|_| {
                    CmsError::BadSignature("not an ECDSA P-256 signature (DER or r||s)".to_owned())
                })?;
                Ok(parsed.to_der().as_bytes().to_vec())
            }
        }
    }

    /// Checks `signature` over the SHA-256 `digest` with the key of the certificate
    /// `certificate` (DER), in this algorithm.
    ///
    /// # Errors
    /// [`CmsError::BadSignature`] if it does not verify, or verifies only in another
    /// algorithm (a PKCS#1 v1.5 signature declared PSS, say); the key's refusal
    /// (unsupported or weak) is one too.
    pub fn verify(
        self,
        certificate: &[u8],
        digest: &[u8; 32],
        signature: &[u8],
    ) -> Result<(), CmsError> {
        let checked = SignerKey::from_certificate(certificate)
            .and_then(|key| key.verify(HashAlgorithm::Sha256, digest, signature))
            .map_err(|error| CmsError::BadSignature(error.to_string()))?;
        if checked.algorithm == self.name() {
            Ok(())
        } else {
            Err(CmsError::BadSignature(format!(
                "declared {}, made as {}",
                self.name(),
                checked.algorithm
            )))
        }
    }
}

/// Whether RSASSA-PSS parameters are SHA-256, MGF1 with SHA-256, salt 32, trailer 1.
fn pss_parameters_are_sha256(identifier: &AlgorithmIdentifierOwned) -> bool {
    let Some(parameters) = &identifier.parameters else {
        return false;
    };
    let Ok(der) = parameters.to_der() else {
        return false;
    };
    let Ok(parameters) = rsa::pkcs1::RsaPssParamsOwned::from_der(&der) else {
        return false;
    };
    parameters.hash.oid == Sha256::OID
        && parameters
            .mask_gen
            .parameters
            .is_some_and(|mgf_hash| mgf_hash.oid == Sha256::OID)
        && parameters.salt_len == PSS_SALT_LEN
        && parameters.trailer_field == rsa::pkcs1::TrailerField::BC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_round_trip() {
        for algorithm in [
            SignatureAlgorithm::RsaPkcs1v15Sha256,
            SignatureAlgorithm::RsaPssSha256,
            SignatureAlgorithm::EcdsaP256Sha256,
        ] {
            let identifier = algorithm.identifier().expect("an identifier");
            assert_eq!(
                SignatureAlgorithm::from_identifier(&identifier).expect("known"),
                algorithm
            );
        }
        let pss = SignatureAlgorithm::RsaPssSha256
            .identifier()
            .expect("an identifier");
        // SHA-256 and MGF1-SHA-256 are written out (they are not the defaults), salt 32.
        let der = pss.to_der().expect("encoded");
        let sha256_oid = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
        assert_eq!(
            der.windows(sha256_oid.len())
                .filter(|window| *window == sha256_oid)
                .count(),
            2
        );
        assert!(der.ends_with(&[0xa2, 0x03, 0x02, 0x01, 0x20]));
        assert!(matches!(
            SignatureAlgorithm::from_identifier(&AlgorithmIdentifierOwned {
                oid: ID_RSASSA_PSS,
                parameters: None,
            }),
            Err(CmsError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn ecdsa_values_become_der() {
        let raw = [[0x11; 32], [0x22; 32]].concat();
        let der = SignatureAlgorithm::EcdsaP256Sha256
            .signature_value(&raw)
            .expect("converted");
        assert_eq!(der[0], 0x30);
        assert_eq!(
            SignatureAlgorithm::EcdsaP256Sha256
                .signature_value(&der)
                .expect("kept"),
            der
        );
        assert!(
            SignatureAlgorithm::EcdsaP256Sha256
                .signature_value(&[1, 2, 3])
                .is_err()
        );
        assert_eq!(
            SignatureAlgorithm::RsaPssSha256
                .signature_value(&[1, 2, 3])
                .expect("kept as is"),
            [1, 2, 3]
        );
    }
}
