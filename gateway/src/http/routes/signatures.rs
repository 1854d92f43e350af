//! `/v1/signatures`: create a signing transaction, read it, cancel it.

use actix_web::http::header::{self, HeaderName};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::domain::error::ServiceError;
use crate::http::views::{SignatureAccepted, SignatureRequest, TransactionView};
use crate::services::Signing;
use crate::services::auth::{Principal, Scope};

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

pub(crate) async fn create(
    principal: Principal,
    request: HttpRequest,
    body: web::Json<SignatureRequest>,
    signing: web::Data<Signing>,
) -> Result<HttpResponse, ServiceError> {
    principal.require(Scope::SignaturesWrite)?;
    // A value that is not visible ASCII becomes "", which is refused as an invalid key.
    let key = request
        .headers()
        .get(IDEMPOTENCY_KEY)
        .map(|value| value.to_str().unwrap_or_default());
    let submitted = signing
        .submit(&principal, key, body.into_inner().into())
        .await?;
    let transaction = submitted.transaction;
    let mut response = HttpResponse::Accepted();
    response.insert_header((
        header::LOCATION,
        format!("/v1/signatures/{}", transaction.id),
    ));
    if submitted.replayed {
        response.insert_header((IDEMPOTENT_REPLAYED, "true"));
    }
    Ok(response.json(SignatureAccepted {
        transaction_id: transaction.id,
        status: transaction.status,
        expires_at: transaction.expires_at,
    }))
}

pub(crate) async fn read(
    principal: Principal,
    path: web::Path<String>,
    signing: web::Data<Signing>,
) -> Result<web::Json<TransactionView>, ServiceError> {
    principal.require(Scope::SignaturesRead)?;
    let transaction = signing.load_owned(&principal, &path).await?;
    Ok(web::Json(TransactionView::from(transaction)))
}

pub(crate) async fn cancel(
    principal: Principal,
    path: web::Path<String>,
    signing: web::Data<Signing>,
) -> Result<web::Json<TransactionView>, ServiceError> {
    principal.require(Scope::SignaturesWrite)?;
    let transaction = signing.cancel(&principal, &path).await?;
    Ok(web::Json(TransactionView::from(transaction)))
}
