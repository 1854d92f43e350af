//! The HTTP layer: one table of routes per listener, used both to configure actix and to
//! list what is served (the spec-drift test compares the API's with `spec/openapi.yaml` and
//! the admin listener's with `spec/admin.yaml`), the strict readers of bodies and query
//! strings ([`input`]) and the extractor error handlers that turn malformed input into
//! documented errors, the request and response views ([`views`]), and the one mapping of
//! errors to HTTP ([`error`]). Handlers parse, call a service, and render; they decide
//! nothing.

pub mod auth;
pub mod error;
pub mod input;
pub mod request_context;
mod routes;
pub mod views;

use routes::{admin, certificates, jwks, oauth, providers, signatures, verifications};

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Responder, Route, web};

use crate::domain::error::{ErrorCode, ServiceError};

/// Largest JSON body accepted (a full batch of digests is a few KiB).
pub const MAX_JSON_BODY_BYTES: usize = 256 * 1024;
/// Largest form body accepted by the token endpoint.
const MAX_FORM_BODY_BYTES: usize = 8 * 1024;

/// The routes of one listener: each a method, a path pattern and its handler.
#[derive(Default)]
pub struct Routes(Vec<(Method, &'static str, Route)>);

impl Routes {
    /// Serves `handler` for `method` on `path` (an actix pattern such as `/v1/x/{id}`).
    fn route<F, Args>(mut self, method: Method, path: &'static str, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::method(method.clone()).to(handler);
        self.0.push((method, path, route));
        self
    }

    /// The `(method, pattern)` pairs served.
    pub fn list(&self) -> Vec<(Method, &'static str)> {
        self.0
            .iter()
            .map(|(method, path, _)| (method.clone(), *path))
            .collect()
    }

    /// Adds the routes to actix: one resource per path, answering any other method with
    /// `405 method_not_allowed` and an `Allow` header naming the methods it serves.
    fn register(self, config: &mut web::ServiceConfig) {
        let mut paths: Vec<&'static str> = Vec::new();
        for (_, path, _) in &self.0 {
            if !paths.contains(path) {
                paths.push(path);
            }
        }
        let mut routes = self.0;
        for path in paths {
            let (here, rest): (Vec<_>, Vec<_>) = routes
                .into_iter()
                .partition(|(_, pattern, _)| *pattern == path);
            routes = rest;
            let allowed: Vec<Method> = here.iter().map(|(method, _, _)| method.clone()).collect();
            let mut resource = web::resource(path);
            for (_, _, route) in here {
                resource = resource.route(route);
            }
            config.service(resource.default_service(web::to(move || {
                let allowed = allowed.clone();
                async move { error::method_not_allowed(&allowed) }
            })));
        }
    }
}

/// The portal API.
pub fn api() -> Routes {
    Routes::default()
        .route(Method::POST, "/v1/oauth/token", oauth::issue_token)
        .route(Method::GET, "/.well-known/jwks.json", jwks::publish)
        .route(Method::GET, "/v1/providers", providers::list)
        .route(Method::GET, "/v1/certificates", certificates::list)
        .route(Method::POST, "/v1/signatures", signatures::create)
        .route(
            Method::GET,
            "/v1/signatures/{transaction_id}",
            signatures::read,
        )
        .route(
            Method::POST,
            "/v1/signatures/{transaction_id}/cancel",
            signatures::cancel,
        )
        .route(
            Method::GET,
            "/v1/signatures/{transaction_id}/documents/{document_id}",
            signatures::signed_file,
        )
        .route(
            Method::POST,
            "/v1/signatures/{transaction_id}/documents/{document_id}/assemble",
            signatures::assemble_file,
        )
        .route(Method::POST, "/v1/verifications", verifications::verify)
}

/// The admin listener: metrics, health, and the audit trail's head.
pub fn admin() -> Routes {
    Routes::default()
        .route(Method::GET, "/metrics", admin::metrics)
        .route(Method::GET, "/healthz", admin::healthz)
        .route(Method::GET, "/readyz", admin::readyz)
        .route(Method::GET, "/audit/head", admin::audit_head)
}

/// Configures the portal API's routes on actix.
pub fn api_routes(config: &mut web::ServiceConfig) {
    api().register(config);
}

/// Configures the admin listener's routes on actix.
pub fn admin_routes(config: &mut web::ServiceConfig) {
    admin().register(config);
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
        JsonPayloadError::Deserialize(error) => ServiceError::new(
            ErrorCode::InvalidRequest,
            format!("the body is not valid JSON: {error}"),
        ),
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

fn query_error(_: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ServiceError::new(
        ErrorCode::InvalidRequest,
        "the query string could not be read",
    )
    .into()
}

fn path_error(_: PathError, _: &HttpRequest) -> actix_web::Error {
    ServiceError::new(
        ErrorCode::RouteNotFound,
        "no resource has this path (it is not valid UTF-8 once percent-decoded)",
    )
    .into()
}

/// Answers paths that match no route.
pub async fn route_not_found(request: HttpRequest) -> Result<HttpResponse, ServiceError> {
    Err(ServiceError::new(
        ErrorCode::RouteNotFound,
        format!("no route has the path {}", request.path()),
    ))
}
