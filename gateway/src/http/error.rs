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
            response.insert_header((header::RETRY_AFTER, retry_after_seconds(self)));
        }
        response.json(ErrorBody::of(self))
    }
}

/// The `Retry-After` of a retryable error: the service's advice in whole seconds, rounded
/// up (at least 1), else 1.
fn retry_after_seconds(error: &ServiceError) -> HeaderValue {
    let seconds = error.retry_after.map_or(1, |wait| {
        let whole = wait.as_secs();
        let rounded_up = if wait.subsec_nanos() > 0 {
            whole + 1
        } else {
            whole
        };
        rounded_up.max(1)
    });
    HeaderValue::from(seconds)
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let limited = |wait: Option<Duration>| {
            let error = ServiceError::new(ErrorCode::RateLimited, "slow down");
            match wait {
                Some(wait) => error.with_retry_after(wait),
                None => error,
            }
        };
        for (wait, seconds) in [
            (None, "1"),
            (Some(Duration::ZERO), "1"),
            (Some(Duration::from_millis(1)), "1"),
            (Some(Duration::from_secs(3)), "3"),
            (Some(Duration::from_millis(3001)), "4"),
            (Some(Duration::from_secs(299)), "299"),
        ] {
            assert_eq!(retry_after_seconds(&limited(wait)), seconds, "{wait:?}");
        }
    }
}
