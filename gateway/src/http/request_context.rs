//! Per-request context: the request id every response and error carries, the access log and
//! the HTTP metrics, all in one middleware.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

use crate::metrics::Metrics;

/// The header carrying the request id, echoed when a caller sends a well-formed one.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, or `"none"` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "none".to_owned())
}

/// A caller's id is kept if it is short and plain; anything else is replaced.
fn acceptable_request_id(value: &HeaderValue) -> Option<String> {
    let value = value.to_str().ok()?;
    let plain = (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    plain.then(|| value.to_owned())
}

/// Middleware: assigns the request id, times the request, logs it and counts it.
pub async fn track(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(acceptable_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let metrics = request.app_data::<web::Data<Metrics>>().cloned();
    let method = request.method().clone();
    let started = Instant::now();
    let mut response = REQUEST_ID
        .scope(request_id.clone(), next.call(request))
        .await?;
    let elapsed = started.elapsed();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    // The route pattern, never the raw path: ids in paths would explode the label set.
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16();
    if let Some(metrics) = metrics {
        metrics.observe_http(&route, method.as_str(), status, elapsed);
    }
    tracing::info!(
        request_id = %request_id,
        method = %method,
        route = %route,
        status,
        elapsed_ms = elapsed.as_millis() as u64,
        "request served"
    );
    Ok(response)
}
