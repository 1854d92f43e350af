//! `GET /.well-known/jwks.json`: the public keys that verify access tokens, unauthenticated,
//! so that anyone holding a token can check it and find its key by `kid`.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpResponse, web};

use crate::http::views::JwkSetView;
use crate::services::auth::Authority;

/// How long clients may cache the key set, in seconds. A new key must be listed (after the
/// first, so it does not sign yet) at least this long before it signs.
pub(crate) const JWKS_MAX_AGE_SECS: u32 = 300;

pub(crate) async fn publish(authority: web::Data<Authority>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(JWKS_MAX_AGE_SECS),
        ]))
        .json(JwkSetView::of(authority.public_keys()))
}
