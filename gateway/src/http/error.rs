//! The one place where errors become HTTP: a [`ServiceError`] becomes a status, headers (the
//! authentication challenge, `Retry-After`, `Allow`) and the JSON body every error shares,
//! `{"error": {"code", "message", "request_id", "retryable", "transaction_id"?}}`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};

use crate::domain::error::{ErrorCode, ServiceError};
use crate::http::request_context;

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

impl ErrorBody {
    /// The body answered for `error` in the current request.
    pub fn of(error: &ServiceError) -> Self {
        Self {
            error: ErrorDetail {
                code: error.code.as_str().to_owned(),
                message: error.message.clone(),
                request_id: request_context::current_request_id(),
                retryable: error.code.retryable(),
                transaction_id: error.transaction_id.clone(),
            },
        }
    }
}

/// The status of an error code; the table only holds valid statuses.
pub fn status_of(error: &ServiceError) -> StatusCode {
    StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl ResponseError for ServiceError {
    fn status_code(&self) -> StatusCode {
        status_of(self)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        let challenge = match self.code {
            ErrorCode::InvalidToken => Some("Bearer error=\"invalid_token\""),
            ErrorCode::InsufficientScope => Some("Bearer error=\"insufficient_scope\""),
            ErrorCode::InvalidClient => Some("Basic realm=\"kyso\""),
            _ => None,
        };
        if let Some(challenge) = challenge {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            ));
        }
        if self.code.retryable() {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        response.json(ErrorBody::of(self))
    }
}

/// `405 method_not_allowed` for a path served only with `allowed`, which the `Allow` header
/// lists (RFC 9110 §15.5.6).
pub fn method_not_allowed(allowed: &[Method]) -> HttpResponse {
    let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    let error = ServiceError::new(
        ErrorCode::MethodNotAllowed,
        format!("this path is served only with {}", names.join(", ")),
    );
    let mut response = error.error_response();
    if let Ok(value) = HeaderValue::from_str(&names.join(", ")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}
