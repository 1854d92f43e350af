//! `/v1/signatures`: create a signing transaction, read it, cancel it, and fetch (or, in the
//! two-step mode, assemble) its signed files.

use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue, HeaderName,
};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest as _, Sha256};

use crate::domain::error::{ErrorCode, ServiceError};
use crate::http::input::JsonObject;
use crate::http::views::{AssembleRequest, SignatureAccepted, SignatureRequest, TransactionView};
use crate::services::auth::{Principal, Scope};
use crate::services::{SignedFile, Signing};

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
const REPR_DIGEST: HeaderName = HeaderName::from_static("repr-digest");

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

pub(crate) async fn signed_file(
    principal: Principal,
    path: web::Path<(String, String)>,
    signing: web::Data<Signing>,
) -> Result<HttpResponse, ServiceError> {
    principal.require(Scope::SignaturesRead)?;
    let (transaction_id, document_id) = path.into_inner();
    let file = signing
        .signed_file(&principal, &transaction_id, &document_id)
        .await?;
    Ok(file_response(file))
}

pub(crate) async fn assemble_file(
    principal: Principal,
    path: web::Path<(String, String)>,
    body: JsonObject<AssembleRequest>,
    signing: web::Data<Signing>,
) -> Result<HttpResponse, ServiceError> {
    principal.require(Scope::SignaturesWrite)?;
    let (transaction_id, document_id) = path.into_inner();
    let file = signing
        .assemble_file(&principal, &transaction_id, &document_id, body.0.content)
        .await?;
    Ok(file_response(file))
}

/// A signed file as the answer: its media type, a download name (RFC 6266, UTF-8 names
/// kept), its SHA-256 (`Repr-Digest`, RFC 9530), and never cached by intermediaries.
fn file_response(file: SignedFile) -> HttpResponse {
    let digest = BASE64.encode(Sha256::digest(&file.bytes));
    HttpResponse::Ok()
        .content_type(file.format.media_type())
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::FilenameExt(ExtendedValue {
                charset: Charset::Ext("UTF-8".to_owned()),
                language_tag: None,
                value: file.file_name.into_bytes(),
            })],
        })
        .insert_header((REPR_DIGEST, format!("sha-256=:{digest}:")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(file.bytes)
}
