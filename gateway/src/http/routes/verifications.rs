//! `POST /v1/verifications`: the verification report on any signature over a digest, or on
//! every signature of a signed document (a PDF, or a `.p7s` with the file it signs).

use actix_web::{HttpResponse, web};

use crate::domain::error::ServiceError;
use crate::http::input::JsonObject;
use crate::http::views::{DocumentVerificationReport, VerificationRequest};
use crate::services::Signing;
use crate::services::auth::{Principal, Scope};

pub(crate) async fn verify(
    principal: Principal,
    body: JsonObject<VerificationRequest>,
    signing: web::Data<Signing>,
) -> Result<HttpResponse, ServiceError> {
    principal.require(Scope::SignaturesRead)?;
    Ok(match body.0 {
        VerificationRequest::Signature(request) => {
            HttpResponse::Ok().json(signing.verify(&principal, request.into()).await?)
        }
        VerificationRequest::Document(request) => {
            let verification = signing.verify_document(&principal, request.into()).await?;
            HttpResponse::Ok().json(DocumentVerificationReport::from(verification))
        }
    })
}
