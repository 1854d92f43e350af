//! The unified protocol's JSON bodies, exactly as `spec/openapi.yaml` describes them.
//!
//! Requests are parsed strictly (`deny_unknown_fields`); responses derive `Deserialize` as
//! well so the spec-drift test can check every example in the spec against these types.
//! The conversions from and to the domain's types are here too, so neither the services
//! nor the store know these shapes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_adapter_core::{HashAlgorithm, KeyAlgorithm};
use kyso_documents::pades::Coverage;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::certificate_cache;
use crate::domain::certificate::{self, CitizenCertificate, ProviderAnswer};
use crate::domain::document::{
    DocumentFormat, DocumentPlan, DocumentRetention, SignatureLevel, VisibleSignatureRequest,
};
use crate::domain::error::ServiceError;
use crate::domain::request::{DocumentCheck, DocumentToSign, SignatureCheck, SigningRequest};
use crate::domain::transaction::{Transaction, TransactionError, TransactionStatus};
use crate::http::input;
use crate::providers;
use crate::services::auth::PublicTokenKey;
use crate::services::document_verification::{
    DocumentVerification, JudgedSignature, SignedFileFormat,
};
use crate::verify::{self, Indication, VerificationReport};

/// `POST /v1/oauth/token` form fields (RFC 6749 §4.4).
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    pub grant_type: Option<String>,
    /// Space-separated scopes; all of the client's when absent.
    pub scope: Option<String>,
    /// The client id, unless sent with HTTP Basic.
    pub client_id: Option<String>,
    /// The client secret, unless sent with HTTP Basic; never shown by `Debug`.
    pub client_secret: Option<SecretString>,
}

/// `POST /v1/oauth/token` answer.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// The granted scopes, space-separated.
    pub scope: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A bearer token is a credential: it never reaches a log.
        f.debug_struct("TokenResponse")
            .field("access_token", &"[REDACTED]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// `GET /.well-known/jwks.json` answer: the public keys that verify access tokens
/// (RFC 7517 §5).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwkSetView {
    /// Every accepted token key, the one signing new tokens first.
    pub keys: Vec<JwkView>,
}

/// One public token key: an EC P-256 JWK (RFC 7518 §6.2).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwkView {
    /// Always `EC`.
    pub kty: String,
    /// Always `P-256`.
    pub crv: String,
    /// The x coordinate, base64url.
    pub x: String,
    /// The y coordinate, base64url.
    pub y: String,
    /// The key's RFC 7638 thumbprint: the `kid` of the tokens it signs.
    pub kid: String,
    /// Always `ES256`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
}

impl JwkSetView {
    /// The published form of the gateway's token keys.
    pub fn of(keys: &[PublicTokenKey]) -> Self {
        Self {
            keys: keys
                .iter()
                .map(|key| JwkView {
                    kty: "EC".to_owned(),
                    crv: "P-256".to_owned(),
                    x: key.x.clone(),
                    y: key.y.clone(),
                    kid: key.kid.clone(),
                    alg: "ES256".to_owned(),
                    key_use: "sig".to_owned(),
                })
                .collect(),
        }
    }
}

/// `GET /v1/providers` answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderList {
    /// Every configured CA.
    pub providers: Vec<ProviderView>,
}

/// One CA as portals see it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderView {
    /// The id to use in requests.
    pub id: String,
    /// The adapter kind.
    pub kind: String,
    /// A name to show people.
    pub display_name: String,
    /// `available`; `degraded` when recent calls to the CA failed; `unavailable` while the
    /// circuit breaker refuses calls.
    pub status: ProviderStatus,
    /// The circuit breaker of the instance that answered.
    pub circuit: CircuitView,
    /// What the CA supports.
    pub capabilities: CapabilitiesView,
}

/// Whether a provider's recent calls succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderStatus {
    /// Calls succeed.
    Available,
    /// Recent calls to the CA failed.
    Degraded,
    /// The circuit breaker is open: calls fail at once with `provider_unavailable`.
    Unavailable,
}

/// Where a provider's circuit breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitView {
    /// Calls pass.
    Closed,
    /// Calls are refused until the open period ends.
    Open,
    /// A few probe calls pass to learn whether the CA is back.
    HalfOpen,
}

/// What a provider supports.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilitiesView {
    /// Digest algorithms accepted.
    pub hash_algorithms: Vec<HashAlgorithm>,
    /// Key algorithms of its citizens' certificates.
    pub key_algorithms: Vec<KeyAlgorithm>,
    /// The most documents in one request.
    pub max_documents: usize,
    /// Whether cancelling also withdraws the request at the CA.
    pub cancel: bool,
}

/// `GET /v1/certificates` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateQuery {
    /// The citizen's CCCD number.
    pub user_id: String,
    /// The provider to ask; every provider when absent.
    pub provider: Option<String>,
}

/// `GET /v1/certificates` answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateList {
    /// The provider asked.
    pub provider: String,
    /// The citizen.
    pub user_id: String,
    /// The citizen's certificates there (empty when none).
    pub certificates: Vec<CertificateView>,
}

/// `GET /v1/certificates` answer without `provider`: what every provider said.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSearch {
    /// The citizen.
    pub user_id: String,
    /// One entry per configured provider, in the order of `GET /v1/providers`.
    pub results: Vec<ProviderCertificates>,
}

/// What one provider said about a citizen.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderCertificates {
    /// The provider.
    pub provider: String,
    /// `found`, `not_found`, or `error` (the CA failed or did not answer in time).
    pub status: SearchStatus,
    /// The citizen's certificates there (empty unless `found`).
    pub certificates: Vec<CertificateView>,
    /// Why the provider could not answer, when `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TransactionErrorView>,
}

/// How one provider answered a certificate search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchStatus {
    /// The citizen holds certificates there.
    Found,
    /// The provider answered: the citizen holds none there.
    NotFound,
    /// The provider failed or did not answer in time.
    Error,
}

/// A citizen's certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateView {
    /// The CA's handle; pass it back as `certificate_id` when signing.
    pub certificate_id: String,
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Issuer DN (RFC 4514).
    pub issuer: String,
    /// Serial number, uppercase hex.
    pub serial_number: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The key's algorithm.
    pub key_algorithm: KeyAlgorithm,
    /// Whether it can sign now.
    pub status: CertificateStatus,
    /// PEM certificates, the citizen's first, then its issuers.
    pub chain_pem: Vec<String>,
}

/// Whether a certificate can sign now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    /// Within its validity period and active at the CA.
    Valid,
    /// Past its validity period.
    Expired,
    /// Before its validity period.
    NotYetValid,
    /// The CA says it cannot sign (revoked, locked, suspended).
    Inactive,
}

/// `POST /v1/signatures` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRequest {
    /// The provider holding the citizen's key.
    pub provider: String,
    /// The citizen's CCCD number.
    pub user_id: String,
    /// Which certificate; the only usable one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_id: Option<String>,
    /// The algorithm every digest was made with.
    pub hash_algorithm: HashAlgorithm,
    /// The documents' digests.
    pub documents: Vec<DocumentInput>,
    /// Shown to the citizen in the CA's app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One document of a signing request: its digest, or the file itself with how to sign it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentInput {
    /// The portal's id, unique in the request.
    pub id: String,
    /// A name to show people.
    pub name: String,
    /// Base64 of the raw digest (a document signed as a digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Base64 of the file (a document signed as a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// With `content`: `pades` (a PDF signed inside) or `cades` (any file, detached `.p7s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<DocumentFormat>,
    /// With `content`: `B-B` (the default), `B-T` or `B-LT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<SignatureLevel>,
    /// With `content`: whether a failing time-stamping authority may leave it at `B-B`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_level_fallback: Option<bool>,
    /// With `content`: `gateway` (the default) keeps the file until it is signed; `portal`
    /// keeps nothing but the signed attributes, and the portal sends the file again to be
    /// assembled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<DocumentRetention>,
    /// With `content` in `pades`: a visible signature box.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_signature: Option<VisibleSignatureInput>,
}

/// Where a visible signature goes and what it shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisibleSignatureInput {
    /// The page, counted from 1.
    pub page: u32,
    /// `[x1, y1, x2, y2]` in points from the page's lower-left corner.
    pub rect: [f32; 4],
    /// The lines to show; by default the signer's name and the signing time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<String>>,
}

/// `POST /v1/signatures/{transaction_id}/documents/{document_id}/assemble` body: the file,
/// as it was sent at submission, for a document the portal keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssembleRequest {
    /// Base64 of the file.
    pub content: String,
}

/// `POST /v1/signatures` answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureAccepted {
    /// The transaction to follow.
    pub transaction_id: String,
    /// Its status now (`pending` for a new transaction).
    pub status: TransactionStatus,
    /// When the citizen's time to confirm runs out.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// A signing transaction as portals see it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionView {
    /// Its id.
    pub transaction_id: String,
    /// The provider.
    pub provider: String,
    /// The citizen.
    pub user_id: String,
    /// Where it stands.
    pub status: TransactionStatus,
    /// The digests' algorithm.
    pub hash_algorithm: HashAlgorithm,
    /// What the citizen was asked to approve.
    pub description: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When the citizen's time to confirm runs out.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The signer's certificate.
    pub certificate: SignerCertificateView,
    /// The documents, with signatures once signed.
    pub documents: Vec<DocumentView>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TransactionErrorView>,
}

/// The certificate a transaction is signed with.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerCertificateView {
    /// The CA's handle.
    pub certificate_id: String,
    /// Subject DN.
    pub subject: String,
    /// Serial number, uppercase hex.
    pub serial_number: String,
    /// PEM certificates, the signer's first, then its issuers.
    pub chain_pem: Vec<String>,
}

/// One document of a transaction.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentView {
    /// The portal's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Base64 of the digest that was signed.
    pub digest: String,
    /// Base64 of the signature, once signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The signature's algorithm, once signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_algorithm: Option<String>,
    /// What the gateway's verification found, once signed (the report's shape is that of
    /// `kyso_verify::VerificationReport`, in the vocabulary of ETSI EN 319 102-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationReport>,
    /// For a document sent as a file: how it is signed and, once signed, the signed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<SignedFileView>,
}

/// A document sent as a file: how it is signed, and the signed file once it is made.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedFileView {
    /// `pades` or `cades`.
    pub format: DocumentFormat,
    /// The level asked for.
    pub level_requested: SignatureLevel,
    /// Where the file waits for the signature (`gateway` or `portal`).
    pub retention: DocumentRetention,
    /// The file as sent: its size in bytes.
    pub original_size: u64,
    /// The file as sent: base64 of its SHA-256.
    pub original_sha256: String,
    /// The level reached, once signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<SignatureLevel>,
    /// Why the level reached is lower than asked, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_note: Option<String>,
    /// The signed file's size in bytes, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Base64 of the signed file's SHA-256, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// When the time-stamping authority stamped the signature (B-T and above).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub time_stamped_at: Option<OffsetDateTime>,
    /// Where to `GET` the signed file (retention `gateway`) or `POST` the original to have it
    /// assembled (retention `portal`), once the transaction is signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
}

/// `POST /v1/verifications` body: a signature over a digest, or a signed document. Which one
/// is decided by the fields sent; fields of both kinds together are refused.
#[derive(Debug, Clone)]
pub enum VerificationRequest {
    /// A signature over a digest, and the signer's certificates.
    Signature(SignatureVerificationRequest),
    /// A signed PDF, or a `.p7s` and the file it signs.
    Document(DocumentVerificationRequest),
}

/// The fields only a signature over a digest has.
const SIGNATURE_FIELDS: [&str; 4] = [
    "hash_algorithm",
    "digest",
    "signature",
    "certificate_chain_pem",
];
/// The fields only a signed document has.
const DOCUMENT_FIELDS: [&str; 2] = ["document", "detached_content"];

impl<'de> Deserialize<'de> for VerificationRequest {
    /// Reads the body's members, decides the kind by the fields present, then reads it as
    /// that kind with the gateway's strict reader, whose messages name the field at fault.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let body = serde_json::Value::Object(serde_json::Map::deserialize(deserializer)?);
        let present = |fields: &[&'static str]| -> Option<&'static str> {
            fields
                .iter()
                .copied()
                .find(|field| body.get(*field).is_some())
        };
        match (present(&DOCUMENT_FIELDS), present(&SIGNATURE_FIELDS)) {
            (Some(document_field), Some(signature_field)) => Err(D::Error::custom(format!(
                "field `{document_field}` (a signed document) cannot be sent with field `{signature_field}` (a signature over a digest): send one or the other"
            ))),
            (Some(_), None) => input::from_value(&body, input::Source::JsonBody)
                .map(Self::Document)
                .map_err(D::Error::custom),
            (None, Some(_)) => input::from_value(&body, input::Source::JsonBody)
                .map(Self::Signature)
                .map_err(D::Error::custom),
            (None, None) => Err(D::Error::custom(
                "send either `document` (a signed PDF, or a .p7s with `detached_content`) or `hash_algorithm`, `digest`, `signature` and `certificate_chain_pem` (a signature over a digest)",
            )),
        }
    }
}

/// `POST /v1/verifications` body for a signature over a digest, and the signer's
/// certificates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureVerificationRequest {
    /// The algorithm the digest was made with.
    pub hash_algorithm: HashAlgorithm,
    /// Base64 of the digest that was signed.
    pub digest: String,
    /// Base64 of the signature (PKCS#1 v1.5, PSS, or ECDSA DER or r||s).
    pub signature: String,
    /// PEM certificates, the signer's first, then its issuers as far as the caller has them.
    pub certificate_chain_pem: Vec<String>,
    /// The citizen (CCCD) the signer's certificate must name; not checked when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// When to judge the certificates; the time of the request when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub validation_time: Option<OffsetDateTime>,
}

impl From<SignatureVerificationRequest> for SignatureCheck {
    fn from(request: SignatureVerificationRequest) -> Self {
        Self {
            hash_algorithm: request.hash_algorithm,
            digest: request.digest,
            signature: request.signature,
            certificate_chain_pem: request.certificate_chain_pem,
            user_id: request.user_id,
            validation_time: request.validation_time,
        }
    }
}

/// `POST /v1/verifications` body for a signed document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentVerificationRequest {
    /// Base64 of a signed PDF, or of a detached `.p7s` when `detached_content` is sent.
    pub document: String,
    /// Base64 of the file the `.p7s` signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detached_content: Option<String>,
    /// The citizen (CCCD) every signer's certificate must name; not checked when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// When to judge the certificates; the time of the request when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub validation_time: Option<OffsetDateTime>,
}

impl From<DocumentVerificationRequest> for DocumentCheck {
    fn from(request: DocumentVerificationRequest) -> Self {
        Self {
            document: request.document,
            detached_content: request.detached_content,
            user_id: request.user_id,
            validation_time: request.validation_time,
        }
    }
}

/// `POST /v1/verifications` answer for a signed document: every signature in it, each with
/// the report a signature over a digest gets.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentVerificationReport {
    /// `pdf` or `cades` (a `.p7s` with the file it signs).
    pub format: SignedFileFormat,
    /// The SHA-256 of the document as sent (the PDF, or the `.p7s`), lowercase hex.
    pub document_sha256: String,
    /// The SHA-256 of the file a `.p7s` signs, lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detached_content_sha256: Option<String>,
    /// One sentence on the whole document: how many signatures, and how they fared.
    pub message: String,
    /// Every signature, in the order of the PDF's fields; empty when the PDF has none.
    pub signatures: Vec<DocumentSignatureView>,
    /// The PDF's document time-stamps (`/SubFilter /ETSI.RFC3161`): listed, not validated.
    pub document_time_stamps: Vec<DocumentTimeStampView>,
}

/// One signature of a signed document.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentSignatureView {
    /// The signature field's name (PDF only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_name: Option<String>,
    /// The signature dictionary's `/SubFilter` (PDF only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_filter: Option<String>,
    /// What the signature covers.
    pub coverage: CoverageView,
    /// When the signer claims to have signed (the CMS signing-time, else the PDF's `/M`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub signing_time: Option<OffsetDateTime>,
    /// The signature time-stamp, if the CMS has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_stamp: Option<TimeStampView>,
    /// The baseline level the signature's form reaches (`B-B`, `B-T`, `B-LT`); `null` for a
    /// signature that is not a baseline one.
    pub level: Option<SignatureLevel>,
    /// The verification report, the document's structural findings folded in.
    pub report: VerificationReport,
}

/// What part of the document a signature covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CoverageView {
    /// The whole PDF but the signature's own `/Contents`, or the whole detached file.
    WholeFile,
    /// An earlier revision of the PDF: its first `revision_bytes` bytes.
    Revision {
        /// The length of the signed revision.
        revision_bytes: usize,
        /// Whether every byte after it belongs to incremental updates (what they change is
        /// not judged); when not, the report fails with `format_failure`.
        later_bytes_are_incremental_updates: bool,
    },
}

/// A signature time-stamp, as a report shows it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeStampView {
    /// When the TSA says it stamped; absent when the token cannot be read.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub gen_time: Option<OffsetDateTime>,
    /// The TSA certificate's subject DN; absent when the token cannot be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsa_subject: Option<String>,
    /// Whether the token is over this signature and its TSA signature verifies.
    pub verified: bool,
    /// Whether the TSA chains to the gateway's trust anchors as a time-stamping authority
    /// at `gen_time`; `null` when the token cannot be read.
    pub trusted: Option<bool>,
    /// The first check that failed, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A document time-stamp of a PDF.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentTimeStampView {
    /// The signature field's name.
    pub field_name: String,
    /// What it covers.
    pub coverage: CoverageView,
}

impl From<DocumentVerification> for DocumentVerificationReport {
    fn from(verification: DocumentVerification) -> Self {
        let message = document_message(&verification);
        Self {
            format: verification.format,
            document_sha256: hex::encode(verification.document_sha256),
            detached_content_sha256: verification.detached_content_sha256.map(hex::encode),
            message,
            signatures: verification
                .signatures
                .into_iter()
                .map(DocumentSignatureView::from)
                .collect(),
            document_time_stamps: verification
                .document_time_stamps
                .into_iter()
                .map(|stamp| DocumentTimeStampView {
                    field_name: stamp.field_name,
                    coverage: stamp.coverage.into(),
                })
                .collect(),
        }
    }
}

/// The sentence on a whole document.
fn document_message(verification: &DocumentVerification) -> String {
    let document = match verification.format {
        SignedFileFormat::Pdf => "The PDF",
        SignedFileFormat::Cades => "The .p7s",
    };
    let count = verification.signatures.len();
    if count == 0 {
        return format!("{document} has no signature.");
    }
    let tally: Vec<String> = [
        Indication::TotalPassed,
        Indication::Indeterminate,
        Indication::TotalFailed,
    ]
    .into_iter()
    .filter_map(|indication| {
        let n = verification
            .signatures
            .iter()
            .filter(|signature| signature.report.indication == indication)
            .count();
        (n > 0).then(|| format!("{n} {}", crate::audit::wire_name(indication)))
    })
    .collect();
    let noun = if count == 1 {
        "signature"
    } else {
        "signatures"
    };
    format!("{document} has {count} {noun}: {}.", tally.join(", "))
}

impl From<JudgedSignature> for DocumentSignatureView {
    fn from(judged: JudgedSignature) -> Self {
        let found = judged.found;
        let time_stamp = found
            .validation
            .time_stamp
            .as_ref()
            .map(|check| match check {
                Ok(check) => TimeStampView {
                    gen_time: Some(check.gen_time),
                    tsa_subject: verify::describe(&check.tsa_certificate)
                        .ok()
                        .map(|facts| facts.subject),
                    verified: check.imprint_matches && check.signature_verifies,
                    trusted: check.trusted,
                    problem: check.problem.as_ref().map(ToString::to_string),
                },
                Err(error) => TimeStampView {
                    gen_time: None,
                    tsa_subject: None,
                    verified: false,
                    trusted: None,
                    problem: Some(error.to_string()),
                },
            });
        Self {
            field_name: found.field_name,
            sub_filter: found.sub_filter,
            coverage: found.coverage.map_or(CoverageView::WholeFile, Into::into),
            signing_time: found.claimed_signing_time,
            time_stamp,
            level: found.level,
            report: judged.report,
        }
    }
}

impl From<Coverage> for CoverageView {
    fn from(coverage: Coverage) -> Self {
        match coverage {
            Coverage::WholeFile => Self::WholeFile,
            Coverage::Revision {
                revision_len,
                later_bytes_are_incremental_updates,
            } => Self::Revision {
                revision_bytes: revision_len,
                later_bytes_are_incremental_updates,
            },
        }
    }
}

/// Why a transaction failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionErrorView {
    /// A stable code (see `spec/errors.md`).
    pub code: String,
    /// A message for developers.
    pub message: String,
    /// Whether a new transaction may succeed.
    pub retryable: bool,
}

/// `GET /healthz` and `GET /readyz` answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthView {
    /// `ok`, `ready` or `not_ready`.
    pub status: String,
    /// Each dependency's state (readiness only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<std::collections::BTreeMap<String, String>>,
}

/// `GET /audit/head` on the admin listener: where the audit trail stands, for an inspector to
/// anchor it (see `crate::audit`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditHeadView {
    /// The chain's name; `null` while the trail is empty.
    pub chain: Option<String>,
    /// The last record's sequence number; 0 while the trail is empty.
    pub seq: u64,
    /// The last record's hash; 64 zeros while the trail is empty.
    pub hash: String,
    /// When the head was read.
    #[serde(with = "time::serde::rfc3339")]
    pub read_at: OffsetDateTime,
}

impl AuditHeadView {
    /// The view of `head`, read at `read_at`.
    pub fn of(head: Option<crate::store::AuditHead>, read_at: OffsetDateTime) -> Self {
        match head {
            Some(head) => Self {
                chain: Some(head.chain),
                seq: head.seq,
                hash: head.hash,
                read_at,
            },
            None => Self {
                chain: None,
                seq: 0,
                hash: crate::audit::chain::GENESIS_HASH.to_owned(),
                read_at,
            },
        }
    }
}

impl From<providers::ProviderStatus> for ProviderStatus {
    fn from(status: providers::ProviderStatus) -> Self {
        match status {
            providers::ProviderStatus::Available => Self::Available,
            providers::ProviderStatus::Degraded => Self::Degraded,
            providers::ProviderStatus::Unavailable => Self::Unavailable,
        }
    }
}

impl From<providers::breaker::CircuitState> for CircuitView {
    fn from(state: providers::breaker::CircuitState) -> Self {
        match state {
            providers::breaker::CircuitState::Closed => Self::Closed,
            providers::breaker::CircuitState::Open => Self::Open,
            providers::breaker::CircuitState::HalfOpen => Self::HalfOpen,
        }
    }
}

impl From<certificate::CertificateStatus> for CertificateStatus {
    fn from(status: certificate::CertificateStatus) -> Self {
        match status {
            certificate::CertificateStatus::Valid => Self::Valid,
            certificate::CertificateStatus::Expired => Self::Expired,
            certificate::CertificateStatus::NotYetValid => Self::NotYetValid,
            certificate::CertificateStatus::Inactive => Self::Inactive,
        }
    }
}

impl From<CitizenCertificate> for CertificateView {
    fn from(certificate: CitizenCertificate) -> Self {
        let facts = certificate.facts;
        Self {
            certificate_id: certificate.certificate_id,
            subject: facts.subject,
            issuer: facts.issuer,
            serial_number: facts.serial_number,
            not_before: facts.not_before,
            not_after: facts.not_after,
            key_algorithm: facts.key_algorithm,
            status: certificate.status.into(),
            chain_pem: certificate.chain_pem,
        }
    }
}

impl From<&ServiceError> for TransactionErrorView {
    fn from(error: &ServiceError) -> Self {
        Self {
            code: error.code.as_str().to_owned(),
            message: error.message.clone(),
            retryable: error.code.retryable(),
        }
    }
}

impl From<TransactionError> for TransactionErrorView {
    fn from(error: TransactionError) -> Self {
        Self {
            code: error.code.as_str().to_owned(),
            message: error.message,
            retryable: error.code.retryable(),
        }
    }
}

impl ProviderCertificates {
    /// What `provider` answered, as portals see it.
    pub fn new(provider: String, answer: ProviderAnswer) -> Self {
        match answer {
            ProviderAnswer::Answered(found) => Self {
                provider,
                status: if found.is_empty() {
                    SearchStatus::NotFound
                } else {
                    SearchStatus::Found
                },
                certificates: found.into_iter().map(CertificateView::from).collect(),
                error: None,
            },
            ProviderAnswer::Failed(error) => Self {
                provider,
                status: SearchStatus::Error,
                certificates: Vec::new(),
                error: Some(TransactionErrorView::from(&error)),
            },
        }
    }
}

impl From<SignatureRequest> for SigningRequest {
    fn from(request: SignatureRequest) -> Self {
        Self {
            provider: request.provider,
            user_id: request.user_id,
            certificate_id: request.certificate_id,
            hash_algorithm: request.hash_algorithm,
            documents: request
                .documents
                .into_iter()
                .map(|document| DocumentToSign {
                    id: document.id,
                    name: document.name,
                    digest: document.digest,
                    content: document.content,
                    format: document.format,
                    level: document.level,
                    allow_level_fallback: document.allow_level_fallback,
                    retention: document.retention,
                    visible_signature: document.visible_signature.map(|visible| {
                        VisibleSignatureRequest {
                            page: visible.page,
                            rect: visible.rect,
                            lines: visible.lines,
                        }
                    }),
                })
                .collect(),
            description: request.description,
        }
    }
}

impl From<Transaction> for TransactionView {
    fn from(transaction: Transaction) -> Self {
        let certificate = &transaction.certificate;
        let facts = certificate_cache::facts(&certificate.certificate_der).ok();
        let transaction_id = transaction.id;
        Self {
            transaction_id: transaction_id.clone(),
            provider: transaction.provider,
            user_id: transaction.user_id,
            status: transaction.status,
            hash_algorithm: transaction.hash_algorithm,
            description: transaction.description,
            created_at: transaction.created_at,
            updated_at: transaction.updated_at,
            expires_at: transaction.expires_at,
            certificate: SignerCertificateView {
                certificate_id: certificate.certificate_id.clone(),
                subject: facts
                    .as_ref()
                    .map(|facts| facts.subject.clone())
                    .unwrap_or_default(),
                serial_number: facts
                    .map(|facts| facts.serial_number.clone())
                    .unwrap_or_default(),
                chain_pem: certificate_cache::pems(
                    std::iter::once(&certificate.certificate_der).chain(&certificate.chain_der),
                ),
            },
            documents: transaction
                .documents
                .into_iter()
                .map(|document| {
                    let signature = document.signature;
                    let file = document.plan.map(|plan| {
                        SignedFileView::of(&transaction_id, &document.id, signature.is_some(), plan)
                    });
                    DocumentView {
                        file,
                        id: document.id,
                        name: document.name,
                        digest: BASE64.encode(&document.digest),
                        signature: signature
                            .as_ref()
                            .map(|signed| BASE64.encode(&signed.signature)),
                        signature_algorithm: signature
                            .as_ref()
                            .map(|signed| signed.algorithm.clone()),
                        verification: signature.map(|signed| signed.report),
                    }
                })
                .collect(),
            error: transaction.error.map(TransactionErrorView::from),
        }
    }
}

impl SignedFileView {
    /// The view of `plan`, the file of document `document_id` of transaction
    /// `transaction_id`; `signed` when the transaction's signature is verified.
    fn of(transaction_id: &str, document_id: &str, signed: bool, plan: DocumentPlan) -> Self {
        let options = plan.options;
        let made = plan.signed;
        let href = match options.retention {
            DocumentRetention::Gateway if made.is_some() => Some(""),
            DocumentRetention::Portal if signed => Some("/assemble"),
            _ => None,
        }
        .map(|suffix| {
            format!(
                "/v1/signatures/{transaction_id}/documents/{}{suffix}",
                percent_encode_segment(document_id)
            )
        });
        Self {
            format: options.format,
            level_requested: options.level,
            retention: options.retention,
            original_size: plan.original_bytes,
            original_sha256: BASE64.encode(&plan.original_sha256),
            level: made.as_ref().map(|made| made.level),
            level_note: made.as_ref().and_then(|made| made.level_note.clone()),
            size: made.as_ref().map(|made| made.bytes),
            sha256: made.as_ref().map(|made| BASE64.encode(&made.sha256)),
            time_stamped_at: made.as_ref().and_then(|made| made.time_stamped_at),
            href,
        }
    }
}

/// What is escaped in a URL path segment: everything but RFC 3986's unreserved characters,
/// so any document id makes a working link.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn percent_encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, PATH_SEGMENT).to_string()
}
