//! `POST /v1/verifications`: the verification report on any signature over a digest.

use actix_web::web;

use crate::domain::error::ServiceError;
use crate::http::input::JsonObject;
use crate::http::views::VerificationRequest;
use crate::services::Signing;
use crate::services::auth::{Principal, Scope};
use crate::verify::VerificationReport;

pub(crate) async fn verify(
    principal: Principal,
    body: JsonObject<VerificationRequest>,
    signing: web::Data<Signing>,
) -> Result<web::Json<VerificationReport>, ServiceError> {
    principal.require(Scope::SignaturesRead)?;
    let report = signing.verify(&principal, body.0.into()).await?;
    Ok(web::Json(report))
}
