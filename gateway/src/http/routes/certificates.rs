//! `GET /v1/certificates`: a citizen's certificates at one provider, or at all of them.

use actix_web::{HttpResponse, web};

use crate::domain::error::ServiceError;
use crate::http::input::QueryFields;
use crate::http::views::{
    CertificateList, CertificateQuery, CertificateSearch, CertificateView, ProviderCertificates,
};
use crate::services::Signing;
use crate::services::auth::{Principal, Scope};

/// With `provider`, that CA's answer (its failure is the request's error); without, every
/// provider's answer side by side, so a portal can show all of a citizen's certificates.
pub(crate) async fn list(
    principal: Principal,
    query: QueryFields<CertificateQuery>,
    signing: web::Data<Signing>,
) -> Result<HttpResponse, ServiceError> {
    principal.require(Scope::CertificatesRead)?;
    let CertificateQuery { user_id, provider } = query.0;
    Ok(match provider {
        Some(provider) => {
            let certificates = signing
                .certificates(&principal, &provider, &user_id)
                .await?;
            HttpResponse::Ok().json(CertificateList {
                provider,
                user_id,
                certificates: certificates
                    .into_iter()
                    .map(CertificateView::from)
                    .collect(),
            })
        }
        None => {
            let results = signing.search_certificates(&principal, &user_id).await?;
            let results = results
                .into_iter()
                .map(|(provider, answer)| ProviderCertificates::new(provider, answer))
                .collect();
            HttpResponse::Ok().json(CertificateSearch { user_id, results })
        }
    })
}
