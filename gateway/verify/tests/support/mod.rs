//! A test PKI made on the fly with rcgen (and, for what rcgen cannot make, openssl), plus
//! document signing with the citizens' keys.

#![allow(dead_code, unreachable_pub)] // shared by test files; each uses a part

use std::path::Path;
use std::process::Command;

use kyso_verify::{TrustAnchors, Validation};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::pkcs8::DecodePrivateKey;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    RsaKeySize,
};
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

pub const CITIZEN: &str = "001099000001";

/// The UID attribute type (0.9.2342.19200300.100.1.1).
pub fn uid() -> DnType {
    DnType::CustomDnType(vec![0, 9, 2342, 19_200_300, 100, 1, 1])
}

/// The serialNumber attribute type (2.5.4.5).
pub fn serial_number() -> DnType {
    DnType::CustomDnType(vec![2, 5, 4, 5])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    P256,
    Rsa2048,
}

pub fn key(alg: Alg) -> KeyPair {
    match alg {
        Alg::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
        Alg::Rsa2048 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap()
        }
    }
}

/// The time every validation is made at; certificates are valid around it.
pub fn now() -> OffsetDateTime {
    // Whole seconds: certificate times have no fractions.
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

/// Parameters of a CA certificate valid from an hour ago for 30 days.
pub fn ca_params(common_name: &str, path_len: Option<u8>) -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(match path_len {
        Some(limit) => BasicConstraints::Constrained(limit),
        None => BasicConstraints::Unconstrained,
    });
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now() - Duration::hours(1);
    params.not_after = now() + Duration::days(30);
    params
}

/// Parameters of a citizen certificate naming `identifier` in UID, valid from an hour ago
/// for a day, keyUsage digitalSignature and nonRepudiation.
pub fn citizen_params(identifier: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "Nguyễn Văn An");
    params.distinguished_name.push(uid(), identifier);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    params.not_before = now() - Duration::hours(1);
    params.not_after = now() + Duration::days(1);
    params
}

/// [`citizen_params`] for `CCCD:` + [`CITIZEN`].
pub fn cccd_params() -> CertificateParams {
    citizen_params(&format!("CCCD:{CITIZEN}"))
}

/// A CA: its certificate, its key (also as PEM, for openssl) and the rcgen issuer.
pub struct Authority {
    pub der: Vec<u8>,
    pub pem: String,
    pub key_pem: String,
    pub issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    pub fn root(common_name: &str, alg: Alg) -> Self {
        Self::self_signed(ca_params(common_name, None), key(alg))
    }

    pub fn self_signed(params: CertificateParams, key: KeyPair) -> Self {
        let key_pem = key.serialize_pem();
        let issuer = CertifiedIssuer::self_signed(params, key).unwrap();
        Self::of(issuer, key_pem)
    }

    /// An intermediate CA under this one, pathLenConstraint 0.
    pub fn intermediate(&self, common_name: &str, alg: Alg) -> Self {
        self.subordinate(ca_params(common_name, Some(0)), key(alg))
    }

    pub fn subordinate(&self, params: CertificateParams, key: KeyPair) -> Self {
        let key_pem = key.serialize_pem();
        let issuer = CertifiedIssuer::signed_by(params, key, &self.issuer).unwrap();
        Self::of(issuer, key_pem)
    }

    fn of(issuer: CertifiedIssuer<'static, KeyPair>, key_pem: String) -> Self {
        Self {
            der: issuer.der().to_vec(),
            pem: issuer.pem(),
            key_pem,
            issuer,
        }
    }

    /// An end-entity certificate for `key`.
    pub fn issue(&self, params: CertificateParams, key: &KeyPair) -> Vec<u8> {
        params.signed_by(key, &self.issuer).unwrap().der().to_vec()
    }

    pub fn anchors(&self) -> TrustAnchors {
        TrustAnchors::from_pem(&self.pem).unwrap()
    }
}

/// The usual PKI: root -> issuing CA (pathLen 0) -> citizen, all of one algorithm.
pub struct Pki {
    pub root: Authority,
    pub issuing: Authority,
    pub anchors: TrustAnchors,
}

impl Pki {
    pub fn new(alg: Alg) -> Self {
        Self::with_issuing(alg, ca_params("Kyso Test Issuing CA", Some(0)))
    }

    /// The usual PKI, the issuing CA made from `params`.
    pub fn with_issuing(alg: Alg, params: CertificateParams) -> Self {
        let root = Authority::root("Kyso Test Root CA", alg);
        let issuing = root.subordinate(params, key(alg));
        let anchors = root.anchors();
        Self {
            root,
            issuing,
            anchors,
        }
    }

    pub fn chain(&self) -> Vec<Vec<u8>> {
        vec![self.issuing.der.clone()]
    }

    /// A valid citizen certificate (`CCCD:` + [`CITIZEN`]) and its key.
    pub fn citizen(&self, alg: Alg) -> (Vec<u8>, KeyPair) {
        self.citizen_with(cccd_params(), alg)
    }

    pub fn citizen_with(&self, params: CertificateParams, alg: Alg) -> (Vec<u8>, KeyPair) {
        let key = key(alg);
        (self.issuing.issue(params, &key), key)
    }

    pub fn validation(&self) -> Validation<'_> {
        Validation::new(&self.anchors, now())
    }
}

pub fn digest(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

/// ECDSA P-256 over a prehashed digest: (DER, raw r||s).
pub fn sign_p256(key: &KeyPair, digest: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let signer = p256::ecdsa::SigningKey::from_pkcs8_der(key.serialized_der()).unwrap();
    let signature: p256::ecdsa::Signature = signer.sign_prehash(digest).unwrap();
    (
        signature.to_der().as_bytes().to_vec(),
        signature.to_bytes().to_vec(),
    )
}

fn rsa_key(key: &KeyPair) -> RsaPrivateKey {
    use rsa::pkcs8::DecodePrivateKey as _;
    RsaPrivateKey::from_pkcs8_der(key.serialized_der()).unwrap()
}

/// RSA PKCS#1 v1.5 over a SHA-256 digest.
pub fn sign_rsa_pkcs1(key: &KeyPair, digest: &[u8]) -> Vec<u8> {
    rsa_key(key)
        .sign(Pkcs1v15Sign::new::<Sha256>(), digest)
        .unwrap()
}

/// RSA-PSS (MGF1-SHA-256, salt 32) over a SHA-256 digest.
pub fn sign_rsa_pss(key: &KeyPair, digest: &[u8]) -> Vec<u8> {
    rsa_key(key).sign(Pss::<Sha256>::new(), digest).unwrap()
}

/// A citizen certificate made by `openssl req -x509 -CA`, issued by `ca`: a fresh key of
/// `newkey` (`rsa:2048`, `rsa:1024`, ...) signed with `digest` (`sha256`, `sha1`), for what
/// rcgen will not make. Returns the DER.
pub fn openssl_citizen(ca: &Authority, newkey: &str, digest: &str) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!(
        "kyso-verify-{}-{}",
        std::process::id(),
        hex::encode(&Sha256::digest(format!("{newkey}{digest}{:?}", now()))[..6])
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let ca_pem = write("ca.pem", &ca.pem);
    let ca_key = write("ca.key", &ca.key_pem);
    // A config of our own, so the system's default extensions (v3_ca) are not added.
    let config = write(
        "req.cnf",
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n",
    );
    let out = dir.join("citizen.der");
    run_openssl(
        &dir,
        &[
            "req",
            "-config",
            path_str(&config),
            "-new",
            "-newkey",
            newkey,
            "-nodes",
            "-keyout",
            path_str(&dir.join("citizen.key")),
            "-subj",
            &format!("/CN=Nguyen Van An/UID=CCCD:{CITIZEN}"),
            "-CA",
            path_str(&ca_pem),
            "-CAkey",
            path_str(&ca_key),
            &format!("-{digest}"),
            "-days",
            "1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "keyUsage=critical,digitalSignature,nonRepudiation",
            "-outform",
            "DER",
            "-out",
            path_str(&out),
        ],
    );
    let der = std::fs::read(&out).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    der
}

/// `digest` signed by `openssl pkeyutl` with `key` and the `-pkeyopt` options `options`
/// (`digest:sha384`, `rsa_padding_mode:pss`, ...): a signer that is not ours.
pub fn openssl_sign(key: &KeyPair, digest: &[u8], options: &[&str]) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!(
        "kyso-verify-sign-{}-{}",
        std::process::id(),
        hex::encode(&Sha256::digest(format!("{options:?}{digest:?}{:?}", now()))[..6])
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("digest.bin"), digest).unwrap();
    let mut args = vec![
        "pkeyutl",
        "-sign",
        "-inkey",
        "key.pem",
        "-in",
        "digest.bin",
        "-out",
        "signature.bin",
    ];
    for option in options {
        args.extend(["-pkeyopt", option]);
    }
    run_openssl(&dir, &args);
    let signature = std::fs::read(dir.join("signature.bin")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    signature
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn run_openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed (scripts/test installs it)");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
