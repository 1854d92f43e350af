//! [`AdapterError`]: every way a call to a CA can fail, grouped by who is at fault.

use std::time::Duration;

/// Who is at fault for an [`AdapterError`]; the gateway maps this onto HTTP status classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request (or the citizen's account at the CA) is the problem: a 4xx for the portal.
    Caller,
    /// The CA failed or answered something unusable: a 502/503/504 for the portal.
    Ca,
    /// The gateway's own configuration or code is the problem.
    Internal,
}

/// Why a call to a CA failed.
///
/// Messages must never contain credentials; CA messages may be kept for logs, but the gateway
/// never forwards them verbatim to a portal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The CA refused the request as malformed.
    #[error("the CA refused the request as malformed: {0}")]
    InvalidRequest(String),
    /// The CA refused the gateway's own (service provider) credentials.
    #[error("the CA refused the gateway's service-provider credentials")]
    AuthenticationFailed,
    /// The CA no longer accepts the session token (expired early, revoked); the gateway
    /// opens a new session and tries once more.
    #[error("the CA no longer accepts the session")]
    SessionExpired,
    /// The citizen's certificate exists but cannot sign (revoked, locked, expired at the CA).
    #[error("the citizen's certificate cannot be used: {0}")]
    CertificateUnusable(String),
    /// The CA does not know the transaction the gateway asked about.
    #[error("the CA does not know transaction {0}")]
    TransactionNotFound(String),
    /// The operation is not offered by this CA.
    #[error("operation not supported by this CA: {0}")]
    Unsupported(&'static str),
    /// The CA did not answer within the configured time.
    #[error("the CA did not answer within {0:?}")]
    Timeout(Duration),
    /// The CA could not be reached or said it is unavailable.
    #[error("the CA is unavailable: {0}")]
    Unavailable(String),
    /// The CA answered with an error status the adapter has no better name for.
    #[error("the CA answered with status {status}: {message}")]
    UpstreamStatus {
        /// The HTTP status, or the CA's own status code where it mirrors one.
        status: u16,
        /// The CA's message, for logs only.
        message: String,
    },
    /// The CA answered something the adapter cannot understand.
    #[error("the CA answered something unparseable: {0}")]
    UpstreamProtocol(String),
    /// The adapter itself is misconfigured or hit a bug.
    #[error("adapter error: {0}")]
    Internal(String),
}

impl AdapterError {
    /// Who is at fault.
    pub fn fault(&self) -> Fault {
        match self {
            Self::InvalidRequest(_)
            | Self::CertificateUnusable(_)
            | Self::TransactionNotFound(_)
            | Self::Unsupported(_) => Fault::Caller,
            Self::Timeout(_)
            | Self::Unavailable(_)
            | Self::UpstreamStatus { .. }
            | Self::UpstreamProtocol(_) => Fault::Ca,
            Self::AuthenticationFailed | Self::SessionExpired | Self::Internal(_) => {
                Fault::Internal
            }
        }
    }

    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::Unavailable(_) => true,
            Self::UpstreamStatus { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Whether the CA may have acted on the request although the adapter saw no answer
    /// (a timeout after the request was sent). Such a submission must be reconciled by
    /// asking the CA, never assumed to have failed.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }
}
