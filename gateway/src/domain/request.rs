//! What a portal asks for when it submits documents to sign, or a signature or a signed
//! document to verify, as the services see it (the HTTP layer parses its own view of the
//! body into this).

use kyso_adapter_core::HashAlgorithm;

use crate::domain::document::{
    DocumentFormat, DocumentRetention, SignatureLevel, VisibleSignatureRequest,
};
use serde::Serialize;

/// A request to sign a batch of documents (digests or files), before validation.
#[derive(Debug, Clone, Serialize)]
pub struct SigningRequest {
    /// The provider holding the citizen's key.
    pub provider: String,
    /// The citizen's CCCD number.
    pub user_id: String,
    /// Which certificate; the only usable one when absent.
    pub certificate_id: Option<String>,
    /// The algorithm every digest was made with.
    pub hash_algorithm: HashAlgorithm,
    /// The documents.
    pub documents: Vec<DocumentToSign>,
    /// Shown to the citizen in the CA's app.
    pub description: Option<String>,
}

/// One document of a [`SigningRequest`]: a digest, or the file itself with how to sign it.
/// Absent fields are left out of the serialized form, so the fingerprint of a request of
/// digests is what it always was.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DocumentToSign {
    /// The portal's id, unique in the request.
    pub id: String,
    /// A name to show people.
    pub name: String,
    /// Base64 of the raw digest, as sent (a document signed as a digest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Base64 of the file (a document signed as a file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// With `content`: PAdES or CAdES.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<DocumentFormat>,
    /// With `content`: the level; B-B when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<SignatureLevel>,
    /// With `content`: whether a failing time-stamping authority may leave it at B-B.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_level_fallback: Option<bool>,
    /// With `content`: where the file waits for the signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<DocumentRetention>,
    /// With `content` in PAdES: a visible signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible_signature: Option<VisibleSignatureRequest>,
}

/// A signature anyone wants judged (`POST /v1/verifications`), before validation.
#[derive(Debug, Clone)]
pub struct SignatureCheck {
    /// The algorithm the digest was made with.
    pub hash_algorithm: HashAlgorithm,
    /// Base64 of the digest that was signed.
    pub digest: String,
    /// Base64 of the signature.
    pub signature: String,
    /// PEM certificates, the signer's first, then as many of its issuers as the caller has.
    pub certificate_chain_pem: Vec<String>,
    /// The citizen the signer's certificate must name, if any.
    pub user_id: Option<String>,
    /// When to judge the certificates; now when absent.
    pub validation_time: Option<time::OffsetDateTime>,
}

/// A signed document anyone wants judged (`POST /v1/verifications`), before validation.
#[derive(Debug, Clone)]
pub struct DocumentCheck {
    /// Base64 of a signed PDF, or of a detached `.p7s` when `detached_content` is given.
    pub document: String,
    /// Base64 of the file a `.p7s` signs.
    pub detached_content: Option<String>,
    /// The citizen every signer's certificate must name, if any.
    pub user_id: Option<String>,
    /// When to judge the certificates; now when absent.
    pub validation_time: Option<time::OffsetDateTime>,
}
