//! `/v1/signatures`: create a signing transaction, read it, cancel it.

use actix_web::http::header::{self, HeaderName};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::api::{
    DocumentView, SignatureAccepted, SignatureRequest, SignerCertificateView, TransactionView,
    VerificationView,
};
use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::signing::Signing;
use crate::transaction::Transaction;
use crate::verify;

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

pub(super) async fn create(
    principal: Principal,
    request: HttpRequest,
    body: web::Json<SignatureRequest>,
    signing: web::Data<Signing>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::SignaturesWrite)?;
    // A value that is not visible ASCII becomes "", which is refused as an invalid key.
    let key = request
        .headers()
        .get(IDEMPOTENCY_KEY)
        .map(|value| value.to_str().unwrap_or_default());
    let submitted = signing.submit(&principal, key, body.into_inner()).await?;
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

pub(super) async fn read(
    principal: Principal,
    path: web::Path<String>,
    signing: web::Data<Signing>,
) -> Result<web::Json<TransactionView>, ApiError> {
    principal.require(Scope::SignaturesRead)?;
    let transaction = signing.load_owned(&principal, &path).await?;
    Ok(web::Json(transaction_view(transaction)))
}

pub(super) async fn cancel(
    principal: Principal,
    path: web::Path<String>,
    signing: web::Data<Signing>,
) -> Result<web::Json<TransactionView>, ApiError> {
    principal.require(Scope::SignaturesWrite)?;
    let transaction = signing.cancel(&principal, &path).await?;
    Ok(web::Json(transaction_view(transaction)))
}

fn transaction_view(transaction: Transaction) -> TransactionView {
    let certificate = &transaction.certificate;
    let facts = verify::describe(&certificate.certificate_der).ok();
    TransactionView {
        transaction_id: transaction.id,
        provider: transaction.provider,
        user_id: transaction.user_id,
        status: transaction.status,
        hash_algorithm: transaction.hash_algorithm,
        description: transaction.description,
        created_at: transaction.created_at,
        updated_at: transaction.updated_at,
        expires_at: transaction.expires_at,
        certificate: SignerCertificateView {
            certificate_id: certificate.certificate_id.clone(),
            subject: facts
                .as_ref()
                .map(|facts| facts.subject.clone())
                .unwrap_or_default(),
            serial_number: facts.map(|facts| facts.serial_number).unwrap_or_default(),
            chain_pem: std::iter::once(&certificate.certificate_der)
                .chain(&certificate.chain_der)
                .map(|der| verify::certificate_pem(der))
                .collect(),
        },
        documents: transaction
            .documents
            .into_iter()
            .map(|document| {
                let signature = document.signature;
                DocumentView {
                    id: document.id,
                    name: document.name,
                    digest: BASE64.encode(&document.digest),
                    signature: signature
                        .as_ref()
                        .map(|signed| BASE64.encode(&signed.signature)),
                    signature_algorithm: signature.as_ref().map(|signed| signed.algorithm.clone()),
                    verification: signature.map(|signed| VerificationView {
                        valid: true,
                        checks: verify::CHECKS
                            .iter()
                            .map(|check| (*check).to_owned())
                            .collect(),
                        verified_at: signed.verified_at,
                    }),
                }
            })
            .collect(),
        error: transaction.error,
    }
}
