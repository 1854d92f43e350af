//! The HTTP layer: one table of routes per listener, used both to configure actix and to
//! list what is served (the spec-drift test compares that list with `spec/openapi.yaml`),
//! the extractor error handlers that turn malformed input into documented errors, the
//! request and response views ([`views`]), and the one mapping of errors to HTTP
//! ([`error`]). Handlers parse, call a service, and render; they decide nothing.

pub mod auth;
pub mod error;
pub mod request_context;
mod routes;
pub mod views;

use routes::{admin, certificates, oauth, providers, signatures};

use actix_web::dev::HttpServiceFactory;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Responder, web};

use crate::domain::error::{ErrorCode, ServiceError};

/// Largest JSON body accepted (a full batch of digests is a few KiB).
pub const MAX_JSON_BODY_BYTES: usize = 256 * 1024;
/// Largest form body accepted by the token endpoint.
const MAX_FORM_BODY_BYTES: usize = 8 * 1024;

/// Something routes can be added to: actix's configuration, or a plain list.
pub trait RouteSink {
    /// Serves `handler` for `method` on `path` (an actix pattern such as `/v1/x/{id}`).
    fn route<F, Args>(&mut self, method: Method, path: &'static str, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static;
}

impl RouteSink for web::ServiceConfig {
    fn route<F, Args>(&mut self, method: Method, path: &'static str, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.service(resource(method, path, handler));
    }
}

fn resource<F, Args>(method: Method, path: &'static str, handler: F) -> impl HttpServiceFactory
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(web::method(method).to(handler))
        .default_service(web::to(method_not_allowed))
}

/// The routes of a listener as `(method, pattern)` pairs.
#[derive(Debug, Default)]
pub struct RouteList(pub Vec<(Method, &'static str)>);

impl RouteSink for RouteList {
    fn route<F, Args>(&mut self, method: Method, path: &'static str, _: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.0.push((method, path));
    }
}

/// The portal API.
pub fn api_routes(sink: &mut impl RouteSink) {
    sink.route(Method::POST, "/v1/oauth/token", oauth::issue_token);
    sink.route(Method::GET, "/v1/providers", providers::list);
    sink.route(Method::GET, "/v1/certificates", certificates::list);
    sink.route(Method::POST, "/v1/signatures", signatures::create);
    sink.route(
        Method::GET,
        "/v1/signatures/{transaction_id}",
        signatures::read,
    );
    sink.route(
        Method::POST,
        "/v1/signatures/{transaction_id}/cancel",
        signatures::cancel,
    );
}

/// The admin listener: metrics and health.
pub fn admin_routes(sink: &mut impl RouteSink) {
    sink.route(Method::GET, "/metrics", admin::metrics);
    sink.route(Method::GET, "/healthz", admin::healthz);
    sink.route(Method::GET, "/readyz", admin::readyz);
}

/// Every route served by both listeners.
pub fn served_routes() -> RouteList {
    let mut list = RouteList::default();
    api_routes(&mut list);
    admin_routes(&mut list);
    list
}

/// Extractor settings whose errors are documented API errors, never actix's plain text.
pub fn extractor_configs(config: &mut web::ServiceConfig) {
    config
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_JSON_BODY_BYTES)
                .error_handler(json_error),
        )
        .app_data(
            web::FormConfig::default()
                .limit(MAX_FORM_BODY_BYTES)
                .error_handler(form_error),
        )
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error));
}

fn json_error(error: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    match error {
        JsonPayloadError::ContentType => ServiceError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as Content-Type: application/json",
        ),
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ServiceError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body is larger than {MAX_JSON_BODY_BYTES} bytes"),
            )
        }
        JsonPayloadError::Deserialize(error) => {
            ServiceError::new(ErrorCode::InvalidRequest, format!("invalid body: {error}"))
        }
        _ => ServiceError::new(ErrorCode::InvalidRequest, "the body could not be read"),
    }
    .into()
}

fn form_error(error: UrlencodedError, _: &HttpRequest) -> actix_web::Error {
    match error {
        UrlencodedError::ContentType => ServiceError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as application/x-www-form-urlencoded",
        ),
        UrlencodedError::Overflow { .. } | UrlencodedError::UnknownLength => ServiceError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {MAX_FORM_BODY_BYTES} bytes"),
        ),
        _ => ServiceError::new(ErrorCode::InvalidRequest, "the form body is malformed"),
    }
    .into()
}

fn query_error(error: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ServiceError::new(
        ErrorCode::InvalidRequest,
        format!("invalid query string: {error}"),
    )
    .into()
}

fn path_error(_: PathError, _: &HttpRequest) -> actix_web::Error {
    ServiceError::new(ErrorCode::RouteNotFound, "no such resource").into()
}

async fn method_not_allowed() -> Result<HttpResponse, ServiceError> {
    Err(ServiceError::new(
        ErrorCode::MethodNotAllowed,
        "this method is not served on this path",
    ))
}

/// Answers paths that match no route.
pub async fn route_not_found() -> Result<HttpResponse, ServiceError> {
    Err(ServiceError::new(
        ErrorCode::RouteNotFound,
        "no such route (see spec/openapi.yaml)",
    ))
}
