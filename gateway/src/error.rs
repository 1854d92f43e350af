//! The one place where errors become HTTP: the table of stable error codes, [`ApiError`],
//! and the conversions from every internal error type.
//!
//! Every error a portal sees has the shape
//! `{"error": {"code", "message", "request_id", "retryable", "transaction_id"?}}`; the codes
//! are listed in `spec/errors.md`. Messages of CAs are logged, never forwarded.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use kyso_adapter_core::AdapterError;
use serde::{Deserialize, Serialize};

use crate::request_context;
use crate::store::StoreError;

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

            /// The HTTP status it is answered with.
            pub fn status(self) -> StatusCode {
                match self {
                    $(Self::$variant => match StatusCode::from_u16($status) {
                        Ok(status) => status,
                        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
                    },)*
                }
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
    UnsupportedHashAlgorithm => ("unsupported_hash_algorithm", 400, false),
    BatchTooLarge => ("batch_too_large", 400, false),
    DuplicateDocumentId => ("duplicate_document_id", 400, false),
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
    IdempotencyRequestInProgress => ("idempotency_request_in_progress", 409, true),
    PayloadTooLarge => ("payload_too_large", 413, false),
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
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answered to a portal.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The stable code; decides the HTTP status.
    pub code: ErrorCode,
    /// A message for the portal's developers; never a CA's own words or a secret.
    pub message: String,
    /// The transaction the error concerns, when one was recorded.
    pub transaction_id: Option<String>,
}

impl ApiError {
    /// An error with `code` and a message for the portal.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            transaction_id: None,
        }
    }

    /// The same error, tied to a recorded transaction.
    pub fn with_transaction(mut self, transaction_id: impl Into<String>) -> Self {
        self.transaction_id = Some(transaction_id.into());
        self
    }

    /// The error's JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_owned(),
                message: self.message.clone(),
                request_id: request_context::current_request_id(),
                retryable: self.code.retryable(),
                transaction_id: self.transaction_id.clone(),
            },
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, in the shape every route shares.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// The stable code (see `spec/errors.md`).
    pub code: String,
    /// A message for developers.
    pub message: String,
    /// The request's id, as in the `X-Request-Id` header.
    pub request_id: String,
    /// Whether the same request may succeed later.
    pub retryable: bool,
    /// The transaction the error concerns, if one was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self.code {
            ErrorCode::InvalidToken => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                ));
            }
            ErrorCode::InsufficientScope => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
                ));
            }
            ErrorCode::InvalidClient => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"kyso\""),
                ));
            }
            _ => {}
        }
        if self.code.retryable() {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        response.json(self.body())
    }
}

impl ApiError {
    /// The code a CA failure is answered with.
    pub fn code_of(error: &AdapterError) -> ErrorCode {
        match error {
            AdapterError::Timeout(_) => ErrorCode::CaTimeout,
            AdapterError::Unavailable(_) => ErrorCode::CaUnavailable,
            AdapterError::UpstreamStatus { status, .. } if *status >= 500 => {
                ErrorCode::CaUnavailable
            }
            AdapterError::CertificateUnusable(_) => ErrorCode::CertificateUnusable,
            _ => ErrorCode::CaError,
        }
    }
}

impl From<AdapterError> for ApiError {
    fn from(error: AdapterError) -> Self {
        let code = Self::code_of(&error);
        // The CA's own words go to the log with the full error, not to the portal.
        tracing::warn!(error = %error, code = code.as_str(), "CA call failed");
        let message = match code {
            ErrorCode::CaTimeout => "the CA did not answer in time",
            ErrorCode::CaUnavailable => "the CA is unavailable",
            ErrorCode::CertificateUnusable => "the CA says the certificate cannot sign",
            _ => "the CA answered with an error",
        };
        Self::new(code, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(error = %error, "session store failed");
        Self::new(
            ErrorCode::StoreUnavailable,
            "the session store is unavailable",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_retryable_ones_are_5xx_or_409() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            if code.retryable() {
                assert!(code.status().is_server_error() || code.status() == StatusCode::CONFLICT);
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
