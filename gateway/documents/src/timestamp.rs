//! RFC 3161 time-stamps for the B-T level: the request for a time-stamp over a signature, and
//! the checks on a time-stamping authority's answer and token.
//!
//! The gateway carries the request ([`TimeStampRequest::to_der`], POSTed as
//! [`QUERY_CONTENT_TYPE`]) to the TSA and hands back its answer
//! ([`REPLY_CONTENT_TYPE`]) to [`TimeStampRequest::check_response`], which accepts a token
//! only if the TSA granted it, it is a SignedData over a TSTInfo with the imprint and nonce
//! asked for, its signature verifies with the TSA certificate it carries, and that
//! certificate chains to the configured trust anchors as a time-stamping authority's
//! (critical extKeyUsage timeStamping alone, RFC 3161 §2.3) at the token's genTime. Each fault
//! has its own [`TimeStampError`] variant; not reaching the TSA is the gateway's to report.
//!
//! A checked [`TimeStampToken`] then goes into the CMS with
//! [`crate::cms::SignedCms::with_signature_time_stamp`].

mod request;
mod token;

pub use request::TimeStampRequest;
pub use token::TimeStampToken;

use crate::cms::CmsError;

/// The media type of a time-stamp request.
pub const QUERY_CONTENT_TYPE: &str = "application/timestamp-query";
/// The media type of a time-stamp response.
pub const REPLY_CONTENT_TYPE: &str = "application/timestamp-reply";

/// Why a time-stamp request could not be made, or a TSA's answer or token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeStampError {
    /// The request could not be encoded (should not happen).
    #[error("encoding the time-stamp request failed: {0}")]
    Encoding(String),
    /// The answer is not a DER TimeStampResp at all.
    #[error("the TSA's answer is not a time-stamp response: {0}")]
    Garbage(String),
    /// The TSA refused (status rejection, waiting, revocation...).
    #[error("the TSA refused the request: status {status}{}", fail_info.as_deref().map(|f| format!(", failInfo {f}")).unwrap_or_default())]
    Rejected {
        /// The PKIStatus, as RFC 4210 names it.
        status: String,
        /// The PKIFailureInfo bits set, if any.
        fail_info: Option<String>,
    },
    /// The token is not a SignedData over a TSTInfo, or lacks something it must have (the
    /// TSA certificate, the signed attributes).
    #[error("malformed time-stamp token: {0}")]
    MalformedToken(String),
    /// The token's imprint is not the one asked for (or not SHA-256).
    #[error("the time-stamp token is over another imprint")]
    WrongImprint,
    /// The token does not echo the request's nonce.
    #[error("the time-stamp token does not echo the request's nonce")]
    WrongNonce,
    /// The token's signature (or its message-digest over the TSTInfo) does not verify.
    #[error("the time-stamp token's signature does not verify: {0}")]
    BadSignature(String),
    /// The token's ESS signing-certificate attribute does not name the certificate that
    /// signed it.
    #[error("the time-stamp token's signing-certificate attribute names another certificate")]
    SignerMismatch,
    /// The TSA's certificate does not chain to the trust anchors as a time-stamping
    /// authority's at genTime.
    #[error("the time-stamping authority is not trusted: {0}")]
    UntrustedTsa(String),
}

impl From<der::Error> for TimeStampError {
    fn from(error: der::Error) -> Self {
        Self::Encoding(error.to_string())
    }
}

impl From<CmsError> for TimeStampError {
    fn from(error: CmsError) -> Self {
        Self::MalformedToken(error.to_string())
    }
}
