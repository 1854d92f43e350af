//! `/v1/signatures`: create a signing transaction, read it, cancel it.

use actix_web::http::header::{self, HeaderName};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::domain::error::{ErrorCode, ServiceError};
use crate::http::input::JsonObject;
use crate::http::views::{SignatureAccepted, SignatureRequest, TransactionView};
use crate::services::Signing;
use crate::services::auth::{Principal, Scope};

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

pub(crate) async fn create(
    principal: Principal,
    request: HttpRequest,
    body: JsonObject<SignatureRequest>,
    signing: web::Data<Signing>,
) -> Result<HttpResponse, ServiceError> {
    principal.require(Scope::SignaturesWrite)?;
    let key = idempotency_key(&request)?;
    let submitted = signing.submit(&principal, key, body.0.into()).await?;
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

/// The `Idempotency-Key` header's value, if sent; sent twice, it is refused, since either
/// value could be the key the portal means. A value that is not visible ASCII becomes "",
/// which the service refuses as an invalid key.
fn idempotency_key(request: &HttpRequest) -> Result<Option<&str>, ServiceError> {
    let mut values = request.headers().get_all(IDEMPOTENCY_KEY);
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => Ok(Some(value.to_str().unwrap_or_default())),
        (Some(_), Some(_)) => Err(ServiceError::new(
            ErrorCode::InvalidIdempotencyKey,
            "send one Idempotency-Key header, not several",
        )),
    }
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
