//! The extractor that authenticates every portal request: a bearer token checked by the
//! [`Authority`], then the client's request rate admitted by [`Admission`].

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use crate::domain::error::{ErrorCode, ServiceError};
use crate::services::admission::Admission;
use crate::services::auth::{Authority, Principal};

impl FromRequest for Principal {
    type Error = ServiceError;
    type Future = LocalBoxFuture<'static, Result<Self, ServiceError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let principal = principal_of(request);
        let admission = request.app_data::<web::Data<Admission>>().cloned();
        Box::pin(async move {
            let principal = principal?;
            let admission = admission.ok_or_else(|| {
                ServiceError::new(ErrorCode::InternalError, "admission limits not configured")
            })?;
            admission.admit_call(&principal.client_id).await?;
            Ok(principal)
        })
    }
}

fn principal_of(request: &HttpRequest) -> Result<Principal, ServiceError> {
    let authority = request.app_data::<web::Data<Authority>>().ok_or_else(|| {
        ServiceError::new(ErrorCode::InternalError, "authentication not configured")
    })?;
    let header = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| ServiceError::new(ErrorCode::InvalidToken, "missing bearer token"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty())
        .ok_or_else(|| ServiceError::new(ErrorCode::InvalidToken, "expected a bearer token"))?;
    authority.authenticate(token)
}
