//! A test PKI for the benches, shaped like a Vietnamese CA's: root CA → issuing CA → citizen
//! certificate whose subject carries `UID=CCCD:<user_id>` (OID 0.9.2342.19200300.100.1.1).
//!
//! rcgen (aws-lc-rs backend) generates the keys and certificates; the citizen's private key is
//! then loaded into the RustCrypto types (`rsa`, `p256`), which sign prehashed digests the way a
//! CA's signing service does.

use anyhow::Context as _;
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose, RsaKeySize,
};
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey};
use sha2::Sha256;
use time::OffsetDateTime;

/// The citizen's CCCD number.
pub const USER_ID: &str = "001099000001";

/// OID of the `UID` (userId, RFC 4519) attribute, in rcgen's component form.
const OID_UID: [u64; 7] = [0, 9, 2342, 19200300, 100, 1, 1];

/// The kind of a key in the PKI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA, 2048-bit modulus, certificates signed with sha256WithRSAEncryption.
    Rsa2048,
    /// ECDSA on P-256, certificates signed with ecdsa-with-SHA256.
    P256,
}

impl KeyKind {
    fn generate(self) -> Result<KeyPair, rcgen::Error> {
        match self {
            Self::Rsa2048 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
            Self::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        }
    }
}

/// How the citizen's key signs a SHA-256 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RSASSA-PKCS1-v1_5 over the SHA-256 DigestInfo (what Vietnamese CAs return).
    RsaPkcs1v15Sha256,
    /// RSASSA-PSS, MGF1-SHA-256, salt length 32.
    RsaPssSha256,
    /// ECDSA P-256, the signature DER-encoded.
    EcdsaP256Der,
}

/// The citizen's private key, able to sign a prehashed digest.
pub enum CitizenKey {
    /// RSA.
    Rsa(Box<RsaPrivateKey>),
    /// ECDSA P-256.
    P256(p256::ecdsa::SigningKey),
}

impl std::fmt::Debug for CitizenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Rsa(_) => "CitizenKey::Rsa(..)",
            Self::P256(_) => "CitizenKey::P256(..)",
        })
    }
}

/// Root, issuing CA and one citizen certificate with its key.
#[derive(Debug)]
pub struct TestPki {
    /// DER of the root CA certificate (the trust anchor).
    pub root_der: Vec<u8>,
    /// PEM of the root CA certificate.
    pub root_pem: String,
    /// DER of the issuing CA certificate (the chain a CA sends with the citizen's).
    pub issuing_der: Vec<u8>,
    /// DER of the citizen's certificate.
    pub citizen_der: Vec<u8>,
    /// The citizen's private key.
    pub citizen_key: CitizenKey,
}

impl TestPki {
    /// Generates a root and an issuing CA with `ca` keys, and a certificate for [`USER_ID`]
    /// with a `citizen` key, valid from an hour ago for a year. CPU-bound (RSA key generation).
    pub fn generate(ca: KeyKind, citizen: KeyKind) -> anyhow::Result<Self> {
        let now = OffsetDateTime::now_utc();

        let mut root_params = CertificateParams::default();
        root_params.distinguished_name = ca_name("Kyso Bench Root CA");
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        root_params.not_before = now - time::Duration::hours(1);
        root_params.not_after = now + time::Duration::days(3650);
        let root = CertifiedIssuer::self_signed(root_params, ca.generate()?)?;

        let mut issuing_params = CertificateParams::default();
        issuing_params.distinguished_name = ca_name("Kyso Bench Issuing CA");
        issuing_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        issuing_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        issuing_params.use_authority_key_identifier_extension = true;
        issuing_params.not_before = now - time::Duration::hours(1);
        issuing_params.not_after = now + time::Duration::days(1825);
        let issuing = CertifiedIssuer::signed_by(issuing_params, ca.generate()?, &root)?;

        let citizen_pair = citizen.generate()?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "Nguyễn Văn An");
        name.push(
            DnType::CustomDnType(OID_UID.to_vec()),
            format!("CCCD:{USER_ID}"),
        );
        name.push(DnType::CountryName, "VN");
        let mut citizen_params = CertificateParams::default();
        citizen_params.distinguished_name = name;
        citizen_params.is_ca = IsCa::ExplicitNoCa;
        citizen_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        citizen_params.use_authority_key_identifier_extension = true;
        citizen_params.not_before = now - time::Duration::hours(1);
        citizen_params.not_after = now + time::Duration::days(365);
        let citizen_cert = citizen_params.signed_by(&citizen_pair, &issuing)?;

        let pkcs8 = citizen_pair.serialize_der();
        let citizen_key = match citizen {
            KeyKind::Rsa2048 => CitizenKey::Rsa(Box::new(
                RsaPrivateKey::from_pkcs8_der(&pkcs8).context("loading the RSA key")?,
            )),
            KeyKind::P256 => CitizenKey::P256(
                p256::ecdsa::SigningKey::from_pkcs8_der(&pkcs8).context("loading the P-256 key")?,
            ),
        };

        Ok(Self {
            root_der: root.der().to_vec(),
            root_pem: root.pem(),
            issuing_der: issuing.der().to_vec(),
            citizen_der: citizen_cert.der().to_vec(),
            citizen_key,
        })
    }

    /// Signs a SHA-256 `digest` with the citizen's key.
    pub fn sign(&self, scheme: Scheme, digest: &[u8]) -> anyhow::Result<Vec<u8>> {
        match (&self.citizen_key, scheme) {
            (CitizenKey::Rsa(key), Scheme::RsaPkcs1v15Sha256) => {
                Ok(key.sign(Pkcs1v15Sign::new::<Sha256>(), digest)?)
            }
            // `Pss::new` takes the digest length as salt length; `sign` uses the OS RNG.
            (CitizenKey::Rsa(key), Scheme::RsaPssSha256) => {
                Ok(key.sign(Pss::<Sha256>::new(), digest)?)
            }
            (CitizenKey::P256(key), Scheme::EcdsaP256Der) => {
                let signature: p256::ecdsa::Signature = key
                    .sign_prehash(digest)
                    .map_err(|error| anyhow::anyhow!("ECDSA signing failed: {error}"))?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
            (key, scheme) => anyhow::bail!("a {key:?} cannot sign {scheme:?}"),
        }
    }
}

/// `CN=<cn>, O=Kyso Bench, C=VN`.
fn ca_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "Kyso Bench");
    name.push(DnType::CountryName, "VN");
    name
}

#[cfg(test)]
mod tests {
    use kyso_adapter_core::HashAlgorithm;
    use kyso_gateway::verify::{self, SignerKey, SubIndication, TrustAnchors, Validation};
    use sha2::Digest as _;

    use super::*;

    /// The PKI is what the gateway accepts, so the benches measure the success path.
    #[test]
    fn the_gateway_accepts_the_pki_and_its_signatures() {
        let digest = Sha256::digest(b"kyso bench document");
        let at = OffsetDateTime::now_utc();
        for (ca, citizen, scheme, algorithm) in [
            (
                KeyKind::Rsa2048,
                KeyKind::Rsa2048,
                Scheme::RsaPkcs1v15Sha256,
                "rsa_pkcs1v15_sha256",
            ),
            (
                KeyKind::P256,
                KeyKind::Rsa2048,
                Scheme::RsaPssSha256,
                "rsa_pss_sha256",
            ),
            (
                KeyKind::P256,
                KeyKind::P256,
                Scheme::EcdsaP256Der,
                "ecdsa_p256_sha256",
            ),
        ] {
            let pki = TestPki::generate(ca, citizen).unwrap();
            let anchors = TrustAnchors::from_pem(&pki.root_pem).unwrap();
            let validation = Validation::new(&anchors, at);
            let report = verify::validate_certificate(
                &pki.citizen_der,
                std::slice::from_ref(&pki.issuing_der),
                USER_ID,
                &validation,
            );
            assert!(
                report.passed(),
                "{:?}: {}",
                report.sub_indication,
                report.message
            );
            let report = verify::validate_certificate(&pki.citizen_der, &[], USER_ID, &validation);
            assert_eq!(
                report.sub_indication,
                Some(SubIndication::NoCertificateChainFound),
                "without the issuing CA there is no path: {}",
                report.message
            );
            let signature = pki.sign(scheme, &digest).unwrap();
            let checked = SignerKey::from_certificate(&pki.citizen_der)
                .unwrap()
                .verify(HashAlgorithm::Sha256, &digest, &signature)
                .unwrap();
            assert_eq!(checked.algorithm, algorithm);
        }
    }
}
