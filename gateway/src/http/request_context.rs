//! Per-request context: the request id every response and error carries, the bounds on the
//! request head (target and headers), the access log and the HTTP metrics, all in one
//! middleware.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use actix_web::{Error, ResponseError as _};

use crate::domain::error::{ErrorCode, ServiceError};
use crate::metrics::Metrics;

/// Longest request target (path and query) accepted, in bytes.
pub const MAX_TARGET_BYTES: usize = 4096;
/// Longest single header value accepted, in bytes.
pub const MAX_HEADER_VALUE_BYTES: usize = 8192;
/// Most bytes all headers together (names and values) may have.
pub const MAX_HEADERS_BYTES: usize = 32 * 1024;

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

/// The method as a metric label and in the access log: one of the standard methods, else
/// `other`. A caller may send any token as a method; each new one must not add series.
fn method_label(method: &Method) -> &'static str {
    [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::CONNECT,
        Method::OPTIONS,
        Method::TRACE,
        Method::PATCH,
    ]
    .iter()
    .find(|known| *known == method)
    .map_or("other", Method::as_str)
}

/// Why the request head is refused, if it exceeds a bound. (actix itself refuses, with an
/// empty `431`, more than 96 headers or a head of more than about 128 KiB, before any
/// middleware runs.)
fn oversized_head(request: &ServiceRequest) -> Option<ServiceError> {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if target > MAX_TARGET_BYTES {
        return Some(ServiceError::new(
            ErrorCode::RequestHeadTooLarge,
            format!("the request target (path and query) is longer than {MAX_TARGET_BYTES} bytes"),
        ));
    }
    let mut total = 0;
    for (name, value) in request.headers() {
        if value.len() > MAX_HEADER_VALUE_BYTES {
            return Some(ServiceError::new(
                ErrorCode::RequestHeadTooLarge,
                format!("the {name} header is longer than {MAX_HEADER_VALUE_BYTES} bytes"),
            ));
        }
        total += name.as_str().len() + value.len();
    }
    (total > MAX_HEADERS_BYTES).then(|| {
        ServiceError::new(
            ErrorCode::RequestHeadTooLarge,
            format!("the headers together are longer than {MAX_HEADERS_BYTES} bytes"),
        )
    })
}

/// Middleware: assigns the request id, times the request, logs it and counts it.
pub async fn track(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(acceptable_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let metrics = request.app_data::<web::Data<Metrics>>().cloned();
    let method = method_label(request.method());
    let started = Instant::now();
    let mut response = REQUEST_ID
        .scope(request_id.clone(), async move {
            match oversized_head(&request) {
                Some(refused) => {
                    let (request, _) = request.into_parts();
                    Ok(ServiceResponse::new(request, refused.error_response()))
                }
                None => next
                    .call(request)
                    .await
                    .map(ServiceResponse::map_into_boxed_body),
            }
        })
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
        metrics.observe_http(&route, method, status, elapsed);
    }
    tracing::info!(
        request_id = %request_id,
        method,
        route = %route,
        status,
        elapsed_ms = elapsed.as_millis() as u64,
        "request served"
    );
    Ok(response)
}
