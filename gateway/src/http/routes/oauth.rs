//! `POST /v1/oauth/token`: OAuth 2.0 client credentials, the only unauthenticated route.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::SecretString;

use crate::domain::error::{ErrorCode, ServiceError};
use crate::http::input::FormFields;
use crate::http::views::{TokenRequest, TokenResponse};
use crate::services::Signing;
use crate::services::auth::Authority;

/// The client id and secret from an `Authorization: Basic` header, if one is sent.
fn basic_credentials(
    request: &HttpRequest,
) -> Result<Option<(String, SecretString)>, ServiceError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || ServiceError::new(ErrorCode::InvalidClient, "malformed Basic credentials");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, encoded) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let decoded = BASE64.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    Ok(Some((id.to_owned(), secret.into())))
}

pub(crate) async fn issue_token(
    request: HttpRequest,
    form: FormFields<TokenRequest>,
    authority: web::Data<Authority>,
    signing: web::Data<Signing>,
) -> Result<HttpResponse, ServiceError> {
    let form = form.0;
    match form.grant_type.as_deref() {
        None => {
            return Err(ServiceError::new(
                ErrorCode::InvalidRequest,
                "grant_type is required",
            ));
        }
        Some("client_credentials") => {}
        Some(_) => {
            return Err(ServiceError::new(
                ErrorCode::UnsupportedGrantType,
                "only grant_type=client_credentials is supported",
            ));
        }
    }
    let (client_id, client_secret) = match (
        basic_credentials(&request)?,
        form.client_id,
        form.client_secret,
    ) {
        (Some(basic), None, None) => basic,
        (None, Some(id), Some(secret)) => (id, secret),
        (Some(_), _, _) => {
            return Err(ServiceError::new(
                ErrorCode::InvalidRequest,
                "send client credentials either with Basic auth or in the body, not both",
            ));
        }
        (None, None, None) => {
            return Err(ServiceError::new(
                ErrorCode::InvalidClient,
                "send the client's credentials, with HTTP Basic or as client_id and client_secret",
            ));
        }
        _ => {
            return Err(ServiceError::new(
                ErrorCode::InvalidRequest,
                "client_id and client_secret go together: send both or neither",
            ));
        }
    };
    let token = authority
        .grant(
            signing.auditor(),
            &client_id,
            client_secret,
            form.scope.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(TokenResponse {
            access_token: token.access_token,
            token_type: "Bearer".to_owned(),
            expires_in: token.expires_in,
            scope: token.scope,
        }))
}
