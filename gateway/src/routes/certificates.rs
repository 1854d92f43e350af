//! `GET /v1/certificates`: a citizen's certificates at one provider.

use actix_web::web;

use crate::api::{CertificateList, CertificateQuery};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ErrorCode};
use crate::signing::Signing;

pub(super) async fn list(
    principal: Principal,
    query: web::Query<CertificateQuery>,
    signing: web::Data<Signing>,
) -> Result<web::Json<CertificateList>, ApiError> {
    principal.require(Scope::CertificatesRead)?;
    let query = query.into_inner();
    let (Some(user_id), Some(provider)) = (query.user_id, query.provider) else {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "query parameters user_id and provider are required",
        ));
    };
    let certificates = signing.certificates(&provider, &user_id).await?;
    Ok(web::Json(CertificateList {
        provider,
        user_id,
        certificates,
    }))
}
