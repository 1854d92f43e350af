//! The admin listener: Prometheus metrics, liveness and readiness, and the audit trail's
//! head (for inspectors to anchor the trail).

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::{HttpResponse, web};

use crate::domain::error::{ErrorCode, ServiceError};
use crate::http::views::{AuditHeadView, HealthView};
use crate::metrics::Metrics;
use crate::services::Signing;

/// How long readiness waits for the store.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn metrics(
    metrics: web::Data<Metrics>,
    signing: web::Data<Signing>,
) -> Result<HttpResponse, ServiceError> {
    // Breakers change state with time as well as with calls: read them as of this scrape.
    for provider in signing.providers().iter() {
        metrics.set_circuit_state(provider.id(), provider.circuit_state().gauge_value());
    }
    let text = metrics.render().map_err(|error| {
        tracing::error!(%error, "metrics could not be rendered");
        ServiceError::new(ErrorCode::InternalError, "metrics could not be rendered")
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

pub(crate) async fn healthz() -> web::Json<HealthView> {
    web::Json(HealthView {
        status: "ok".to_owned(),
        checks: None,
    })
}

pub(crate) async fn readyz(signing: web::Data<Signing>) -> HttpResponse {
    let store_ok = matches!(
        tokio::time::timeout(STORE_CHECK_TIMEOUT, signing.store().ping()).await,
        Ok(Ok(()))
    );
    let checks = BTreeMap::from([(
        "store".to_owned(),
        if store_ok { "ok" } else { "unavailable" }.to_owned(),
    )]);
    let (mut response, status) = if store_ok {
        (HttpResponse::Ok(), "ready")
    } else {
        (HttpResponse::ServiceUnavailable(), "not_ready")
    };
    response.json(HealthView {
        status: status.to_owned(),
        checks: Some(checks),
    })
}

/// Where the audit trail stands now, as the store has it.
pub(crate) async fn audit_head(
    signing: web::Data<Signing>,
) -> Result<web::Json<AuditHeadView>, ServiceError> {
    let head = signing.auditor().head().await?;
    Ok(web::Json(AuditHeadView::of(
        head,
        time::OffsetDateTime::now_utc(),
    )))
}
