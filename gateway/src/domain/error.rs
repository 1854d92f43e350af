//! The stable error codes of the unified protocol and [`ServiceError`], the error every
//! service answers with.
//!
//! The table is data: each code's string, the HTTP status the protocol documents for it and
//! whether a retry may succeed (`spec/errors.md` lists the same table). Turning a
//! [`ServiceError`] into an HTTP response happens in one place, `crate::http::error`.

use std::fmt;

use kyso_adapter_core::AdapterError;
use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($variant:ident => ($code:literal, $status:literal, $retryable:literal),)*) => {
        /// A stable error code: its string, HTTP status and whether a retry may succeed.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $code, "`: HTTP ", stringify!($status), ".")]
                $variant,
            )*
        }

        impl ErrorCode {
            /// Every code, in the order of the table.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The code as portals see it.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $code,)* }
            }

            /// The HTTP status the protocol answers it with.
            pub fn http_status(self) -> u16 {
                match self { $(Self::$variant => $status,)* }
            }

            /// Whether the same request may succeed later.
            pub fn retryable(self) -> bool {
                match self { $(Self::$variant => $retryable,)* }
            }
        }
    };
}

error_codes! {
    InvalidRequest => ("invalid_request", 400, false),
    InvalidUserId => ("invalid_user_id", 400, false),
    InvalidDigest => ("invalid_digest", 400, false),
    UnsupportedHashAlgorithm => ("unsupported_hash_algorithm", 422, false),
    BatchTooLarge => ("batch_too_large", 422, false),
    DuplicateDocumentId => ("duplicate_document_id", 422, false),
    MissingIdempotencyKey => ("missing_idempotency_key", 400, false),
    InvalidIdempotencyKey => ("invalid_idempotency_key", 400, false),
    UnsupportedGrantType => ("unsupported_grant_type", 400, false),
    InvalidScope => ("invalid_scope", 400, false),
    InvalidClient => ("invalid_client", 401, false),
    InvalidToken => ("invalid_token", 401, false),
    InsufficientScope => ("insufficient_scope", 403, false),
    RouteNotFound => ("route_not_found", 404, false),
    UnknownProvider => ("unknown_provider", 404, false),
    CertificateNotFound => ("certificate_not_found", 404, false),
    TransactionNotFound => ("transaction_not_found", 404, false),
    MethodNotAllowed => ("method_not_allowed", 405, false),
    TransactionNotPending => ("transaction_not_pending", 409, false),
    PayloadTooLarge => ("payload_too_large", 413, false),
    RequestHeadTooLarge => ("request_head_too_large", 431, false),
    UnsupportedMediaType => ("unsupported_media_type", 415, false),
    IdempotencyKeyReused => ("idempotency_key_reused", 422, false),
    CertificateAmbiguous => ("certificate_ambiguous", 422, false),
    CertificateUnusable => ("certificate_unusable", 422, false),
    InternalError => ("internal_error", 500, false),
    CaError => ("ca_error", 502, false),
    SignatureInvalid => ("signature_invalid", 502, false),
    CaUnavailable => ("ca_unavailable", 503, true),
    StoreUnavailable => ("store_unavailable", 503, true),
    CaTimeout => ("ca_timeout", 504, true),
    SubmissionLost => ("submission_lost", 502, true),
    RevocationUnavailable => ("revocation_unavailable", 503, true),
    RateLimited => ("rate_limited", 429, true),
    CitizenRateLimited => ("citizen_rate_limited", 429, true),
    PendingLimitReached => ("pending_limit_reached", 429, true),
    InvalidText => ("invalid_text", 400, false),
    AuditUnavailable => ("audit_unavailable", 503, true),
    ProviderUnavailable => ("provider_unavailable", 503, true),
    ProviderBusy => ("provider_busy", 503, true),
    GatewayBusy => ("gateway_busy", 503, true),
    InvalidDocument => ("invalid_document", 422, false),
    DocumentTooLarge => ("document_too_large", 413, false),
    TransactionTooLarge => ("transaction_too_large", 413, false),
    LevelUnavailable => ("level_unavailable", 422, false),
    TimestampUnavailable => ("timestamp_unavailable", 502, true),
    TimestampInvalid => ("timestamp_invalid", 502, false),
    DocumentCheckFailed => ("document_check_failed", 502, false),
    DocumentNotFound => ("document_not_found", 404, false),
    DocumentNotReady => ("document_not_ready", 409, false),
}

impl ErrorCode {
    /// The code a failed call to a CA is answered with.
    pub fn of_ca_failure(error: &AdapterError) -> Self {
        match error {
            AdapterError::Timeout(_) => Self::CaTimeout,
            AdapterError::Unavailable(_) => Self::CaUnavailable,
            AdapterError::UpstreamStatus { status, .. } if *status >= 500 => Self::CaUnavailable,
            AdapterError::CertificateUnusable(_) => Self::CertificateUnusable,
            _ => Self::CaError,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a service refused or failed a request: a stable code and a message for portals.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ServiceError {
    /// The stable code; decides the HTTP status.
    pub code: ErrorCode,
    /// A message for the portal's developers; never a CA's own words or a secret.
    pub message: String,
    /// The transaction the error concerns, when one was recorded.
    pub transaction_id: Option<String>,
    /// How long the caller should wait before retrying, when the service knows
    /// (`Retry-After`); retryable errors without it advise one second.
    pub retry_after: Option<std::time::Duration>,
}

impl ServiceError {
    /// An error with `code` and a message for the portal.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            transaction_id: None,
            retry_after: None,
        }
    }

    /// The same error, advising a wait of `retry_after` before retrying.
    pub fn with_retry_after(mut self, retry_after: std::time::Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// The same error, tied to a recorded transaction.
    pub fn with_transaction(mut self, transaction_id: impl Into<String>) -> Self {
        self.transaction_id = Some(transaction_id.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_retryable_ones_are_5xx_409_or_429() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            if code.retryable() {
                assert!(matches!(code.http_status(), 500..|409| 429), "{code}");
            }
        }
    }

    #[test]
    fn serde_name_matches_table_string() {
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }
}
