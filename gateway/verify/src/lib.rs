//! Verification of what CAs return: the gateway's invariant, as a library shared by the
//! gateway and the adapters' conformance kit. Pure and synchronous: no I/O, no clock (the
//! validation time is an argument).
//!
//! Under Decree 130/2018 a digital signature counts only if the signer's certificate chains
//! to a licensed CA and was valid, not revoked, when it signed. kyso checks, at one
//! validation time `T`:
//! - a **certification path** from the signer's certificate to one of the trust anchors
//!   (per provider, plus an optional national root, passed as one [`TrustAnchors`]), built
//!   from the certificates the CA sent and the anchors, with backtracking, and judged as
//!   [`path`] documents (RFC 5280 §6.1 for document signing: signatures, validity of every
//!   certificate, basicConstraints, pathLenConstraint, keyUsage, extKeyUsage, critical
//!   extensions);
//! - the **algorithm policy** ([`policy`]) on every key and signature, the document
//!   signature's included;
//! - **revocation** of every certificate of the path but the anchor, through a
//!   [`RevocationSource`] under a [`RevocationPolicy`] ([`revocation`]: OCSP requests, and
//!   the checks on OCSP responses and CRLs before a caller gathers their answers);
//! - that the certificate names the **requested citizen** by personal ID ([`citizen`]
//!   lists the accepted forms);
//! - the **document signature** over the submitted digest ([`signature`]).
//!
//! Every verification returns a [`VerificationReport`] ([`report`]): an [`Indication`]
//! (`total_passed`, `indeterminate`, `total_failed`), a [`SubIndication`] in EU DSS terms,
//! one sentence, the path as far as it was built, and the revocation evidence.
//!
//! Entry points:
//! - [`validate_certificate`]: path and citizen, before asking the CA to sign;
//! - [`verify_signed_digests`] / [`verify_signed_digest`]: path, citizen and each document
//!   signature, on the CA's answer (the path is validated once for all the documents);
//! - [`validate_path`]: the path alone;
//! - [`validate_time_stamping_path`]: the path of a time-stamping authority's certificate
//!   (RFC 3161), judged for [`KeyPurpose::TimeStamping`];
//! - [`CertifiedPath`]: the path built once and reused ([`CertifiedPath::certificate_report`],
//!   [`CertifiedPath::verify_digests`]), with the certificates whose revocation status it
//!   needs ([`CertifiedPath::revocation_requests`]);
//! - [`SignerKey`]: the bare signature check, the key parsed once.
//!
//! Caching: [`cache_key`] is SHA-256 over the trust anchors and the signer's and chain's
//! DER; a [`CertifiedPath`] that passed may be reused for that key while the validation time
//! is within [`CertifiedPath::reusable_at`]; revocation is judged on every use, from answers
//! the caller keeps until their nextUpdate. Each build parses every certificate once.

mod certified_path;
pub mod citizen;
mod names;
pub mod path;
pub mod policy;
pub mod report;
pub mod revocation;
pub mod signature;

use kyso_adapter_core::{HashAlgorithm, KeyAlgorithm};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

pub use certified_path::{CertifiedPath, RevocationRequest};
pub use citizen::{IdentifierKind, SubjectIdentifier};
pub use path::KeyPurpose;
pub use report::{CertificateSummary, Indication, SubIndication, VerificationReport};
pub use revocation::{
    CheckedCrl, GatheredRevocation, NoRevocationData, RevocationAnswer, RevocationDataError,
    RevocationEvidence, RevocationLocations, RevocationPolicy, RevocationSource,
    RevocationSourceKind, RevocationStatus, check_crl, check_ocsp_response, ocsp_request,
    revocation_locations,
};
pub use signature::{CheckedSignature, SignerKey};

use crate::path::Node;

/// Why a certificate cannot be described or a signature was refused (by [`describe`] and
/// [`SignerKey`]; the validators return a [`VerificationReport`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A certificate is not DER X.509.
    #[error("certificate cannot be parsed")]
    MalformedCertificate,
    /// The certificate's key is neither RSA (2048 bits or more) nor ECDSA P-256.
    #[error("certificate key algorithm is not supported")]
    UnsupportedKey,
    /// The digest's length does not fit its hash algorithm.
    #[error("digest length does not fit the hash algorithm")]
    DigestLength,
    /// The signature does not verify with the certificate's key over the digest.
    #[error("signature does not verify over the submitted digest")]
    BadSignature,
}

/// The certificates a provider's citizen certificates must chain to: the provider's roots,
/// plus the national root if configured. Every certificate here is a trust anchor.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    roots_der: Vec<Vec<u8>>,
    id: [u8; 32],
}

impl TrustAnchors {
    /// Reads concatenated PEM certificates; at least one is required.
    ///
    /// # Errors
    /// A message if the PEM is malformed, a certificate cannot be parsed, or there is none.
    pub fn from_pem(pem_text: &str) -> Result<Self, String> {
        let blocks = pem::parse_many(pem_text).map_err(|error| error.to_string())?;
        Self::from_der(
            blocks
                .into_iter()
                .filter(|block| block.tag() == "CERTIFICATE")
                .map(pem::Pem::into_contents)
                .collect(),
        )
    }

    /// The anchors' certificates, DER.
    pub fn certificates(&self) -> &[Vec<u8>] {
        &self.roots_der
    }

    /// Takes DER certificates; at least one is required.
    ///
    /// # Errors
    /// A message if a certificate cannot be parsed, or there is none.
    pub fn from_der(roots_der: Vec<Vec<u8>>) -> Result<Self, String> {
        if roots_der.is_empty() {
            return Err("no CERTIFICATE found".into());
        }
        let mut hasher = Sha256::new();
        for der in &roots_der {
            parse(der).map_err(|error| format!("a trust anchor cannot be parsed: {error}"))?;
            hasher.update((der.len() as u64).to_be_bytes());
            hasher.update(der);
        }
        Ok(Self {
            roots_der,
            id: hasher.finalize().into(),
        })
    }

    /// SHA-256 identifying this set of anchors (for cache keys).
    pub fn id(&self) -> [u8; 32] {
        self.id
    }
}

/// What a validation is judged against: anchors, time, revocation.
#[derive(Clone, Copy)]
pub struct Validation<'a> {
    /// The trust anchors.
    pub anchors: &'a TrustAnchors,
    /// The validation time: when the signature was received (or is about to be asked for).
    pub at: OffsetDateTime,
    /// Where revocation status comes from.
    pub revocation: &'a dyn RevocationSource,
    /// Whether revocation is checked.
    pub revocation_policy: RevocationPolicy,
}

impl<'a> Validation<'a> {
    /// Validation at `at` against `anchors`, revocation off.
    pub fn new(anchors: &'a TrustAnchors, at: OffsetDateTime) -> Self {
        Self {
            anchors,
            at,
            revocation: &NoRevocationData,
            revocation_policy: RevocationPolicy::Off,
        }
    }

    /// The same, with revocation status from `source` under `policy`.
    pub fn with_revocation(
        self,
        source: &'a dyn RevocationSource,
        policy: RevocationPolicy,
    ) -> Self {
        Self {
            revocation: source,
            revocation_policy: policy,
            ..self
        }
    }
}

impl std::fmt::Debug for Validation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validation")
            .field("at", &self.at)
            .field("revocation_policy", &self.revocation_policy)
            .finish_non_exhaustive()
    }
}

/// A document signature to check: a digest, its hash algorithm, and the CA's signature.
#[derive(Debug, Clone, Copy)]
pub struct SignedDigest<'a> {
    /// The hash algorithm the digest was made with.
    pub hash_algorithm: HashAlgorithm,
    /// The digest that was submitted for signing.
    pub digest: &'a [u8],
    /// The signature the CA returned.
    pub signature: &'a [u8],
}

/// The outcome of checking one document signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureVerification {
    /// The report (path, citizen and signature).
    pub report: VerificationReport,
    /// The signature as portals get it, when it verified cryptographically (whatever the
    /// report's indication: rely on the report).
    pub signature: Option<CheckedSignature>,
}

/// What portals are told about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// Subject DN.
    pub subject: String,
    /// The subject's common name (the citizen's name), else the whole subject DN.
    pub display_name: String,
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

pub(crate) fn parse(der: &[u8]) -> Result<X509Certificate<'_>, VerifyError> {
    match X509Certificate::from_der(der) {
        Ok(([], certificate)) => Ok(certificate),
        _ => Err(VerifyError::MalformedCertificate),
    }
}

/// Reads the facts portals are shown about a certificate.
///
/// # Errors
/// [`VerifyError::MalformedCertificate`], or [`VerifyError::UnsupportedKey`] for a key the
/// gateway cannot verify signatures with.
pub fn describe(der: &[u8]) -> Result<CertificateFacts, VerifyError> {
    let certificate = parse(der)?;
    let key_algorithm = match policy::check_key(certificate.public_key()) {
        Ok(policy::KeyKind::Rsa(_)) => KeyAlgorithm::Rsa,
        Ok(policy::KeyKind::P256) => KeyAlgorithm::EcdsaP256,
        Ok(policy::KeyKind::P384) | Err(_) => return Err(VerifyError::UnsupportedKey),
    };
    Ok(CertificateFacts {
        subject: certificate.subject().to_string(),
        display_name: path::display_name(&certificate),
        issuer: certificate.issuer().to_string(),
        serial_number: report::serial_hex(&certificate),
        not_before: certificate.validity().not_before.to_datetime(),
        not_after: certificate.validity().not_after.to_datetime(),
        key_algorithm,
    })
}

/// The key under which a path report may be cached: SHA-256 over the anchors' id and the
/// length-prefixed DER of the signer's certificate and of each chain certificate, in order.
pub fn cache_key(signer_der: &[u8], chain_der: &[Vec<u8>], anchors: &TrustAnchors) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(anchors.id);
    for der in std::iter::once(signer_der).chain(chain_der.iter().map(Vec::as_slice)) {
        hasher.update((der.len() as u64).to_be_bytes());
        hasher.update(der);
    }
    hasher.finalize().into()
}

/// The signer's certificate parsed, then every other certificate that may be in its path:
/// the chain the CA sent (unparseable ones and duplicates dropped), then the anchors.
pub(crate) fn nodes<'a>(
    signer: X509Certificate<'a>,
    signer_der: &'a [u8],
    chain_der: &'a [Vec<u8>],
    anchors: &'a TrustAnchors,
) -> Vec<Node<'a>> {
    let mut nodes = vec![Node::new(signer_der, signer, false)];
    for der in chain_der {
        let duplicate = der.as_slice() == signer_der
            || anchors.roots_der.contains(der)
            || nodes.iter().any(|node| node.der == der.as_slice());
        if let (false, Ok(certificate)) = (duplicate, parse(der)) {
            nodes.push(Node::new(der, certificate, false));
        }
    }
    for der in &anchors.roots_der {
        if let Ok(certificate) = parse(der) {
            nodes.push(Node::new(der, certificate, true));
        }
    }
    nodes
}

/// Validates the certification path of `signer_der`, with the intermediates `chain_der` the
/// CA sent, at `ctx.at` (the citizen is not checked).
pub fn validate_path(
    signer_der: &[u8],
    chain_der: &[Vec<u8>],
    ctx: &Validation<'_>,
) -> VerificationReport {
    CertifiedPath::build(signer_der, chain_der, ctx.anchors, ctx.at).certificate_report(None, ctx)
}

/// Validates the certification path of a time-stamping authority's certificate `tsa_der`, with
/// the intermediates `chain_der` its token carried, at `ctx.at` (the token's genTime): the path
/// rules of [`validate_path`], the end certificate judged for [`KeyPurpose::TimeStamping`]
/// (a critical extKeyUsage holding timeStamping alone, RFC 3161 §2.3).
pub fn validate_time_stamping_path(
    tsa_der: &[u8],
    chain_der: &[Vec<u8>],
    ctx: &Validation<'_>,
) -> VerificationReport {
    CertifiedPath::build_for(
        KeyPurpose::TimeStamping,
        tsa_der,
        chain_der,
        ctx.anchors,
        ctx.at,
    )
    .certificate_report(None, ctx)
}

/// Validates the path of `signer_der` and that it names the citizen with personal ID
/// `user_id`: what the gateway checks before asking the CA to sign
/// ([`CertifiedPath::certificate_report`]).
pub fn validate_certificate(
    signer_der: &[u8],
    chain_der: &[Vec<u8>],
    user_id: &str,
    ctx: &Validation<'_>,
) -> VerificationReport {
    CertifiedPath::build(signer_der, chain_der, ctx.anchors, ctx.at)
        .certificate_report(Some(user_id), ctx)
}

/// Verifies each document signature of `signed` with the certificate `signer_der`, whose path
/// and (when `user_id` is given) citizen are validated once for all: what the gateway checks
/// on the CA's answer, and what `POST /v1/verifications` checks for anyone
/// ([`CertifiedPath::verify_digests`]).
pub fn verify_signed_digests(
    signer_der: &[u8],
    chain_der: &[Vec<u8>],
    user_id: Option<&str>,
    signed: &[SignedDigest<'_>],
    ctx: &Validation<'_>,
) -> Vec<SignatureVerification> {
    CertifiedPath::build(signer_der, chain_der, ctx.anchors, ctx.at)
        .verify_digests(user_id, signed, ctx)
}

/// [`verify_signed_digests`] for one signature.
pub fn verify_signed_digest(
    signer_der: &[u8],
    chain_der: &[Vec<u8>],
    user_id: Option<&str>,
    signed: SignedDigest<'_>,
    ctx: &Validation<'_>,
) -> SignatureVerification {
    verify_signed_digests(signer_der, chain_der, user_id, &[signed], ctx)
        .pop()
        .unwrap_or_else(|| SignatureVerification {
            report: certified_path::unparseable_signer(ctx.at),
            signature: None,
        })
}

/// PEM of a DER certificate.
pub fn certificate_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}
