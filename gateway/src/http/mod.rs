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

use crate::config::DocumentSettings;
use crate::domain::error::{ErrorCode, ServiceError};

/// Largest JSON body accepted by routes that take no document (a full batch of digests is a
/// few KiB).
pub const MAX_JSON_BODY_BYTES: usize = 256 * 1024;
/// Largest form body accepted by the token endpoint.
const MAX_FORM_BODY_BYTES: usize = 8 * 1024;

/// How large a JSON body a route reads: a property of each route in its table, turned into
/// bytes by [`BodyLimits`] from the documents settings. A body over it is refused with
/// `413 payload_too_large` before it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// Digests, certificates and names: [`MAX_JSON_BODY_BYTES`].
    Json,
    /// One document and the file it signs, each up to `documents.max_document_bytes`, in
    /// base64, beside the ordinary fields (`POST /v1/verifications`, and the two-step mode's
    /// assembly, which takes one file).
    DocumentAndContent,
    /// Documents up to `documents.max_transaction_bytes` together, in base64, beside the
    /// ordinary fields (`POST /v1/signatures`).
    Transaction,
}

/// The bytes each [`BodyLimit`] allows, from the documents settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    document_and_content: usize,
    transaction: usize,
}

impl BodyLimits {
    /// The limits for documents of at most `settings.max_document_bytes` each and
    /// `settings.max_transaction_bytes` together: their base64 length, plus
    /// [`MAX_JSON_BODY_BYTES`] for everything else in the body.
    pub fn new(settings: &DocumentSettings) -> Self {
        let base64_len = |bytes: usize| bytes.div_ceil(3).saturating_mul(4);
        Self {
            document_and_content: base64_len(settings.max_document_bytes)
                .saturating_mul(2)
                .saturating_add(MAX_JSON_BODY_BYTES),
            transaction: base64_len(settings.max_transaction_bytes)
                .saturating_add(MAX_JSON_BODY_BYTES),
        }
    }

    /// The bytes `limit` allows.
    pub fn bytes(&self, limit: BodyLimit) -> usize {
        match limit {
            BodyLimit::Json => MAX_JSON_BODY_BYTES,
            BodyLimit::DocumentAndContent => self.document_and_content,
            BodyLimit::Transaction => self.transaction,
        }
    }
}

impl Default for BodyLimits {
    /// The limits under the default documents settings.
    fn default() -> Self {
        Self::new(&DocumentSettings::default())
    }
}

/// One route: its method, path pattern, body limit and handler.
struct RouteEntry {
    method: Method,
    path: &'static str,
    body_limit: BodyLimit,
    route: Route,
}

/// The routes of one listener: each a method, a path pattern, a body limit and its handler.
#[derive(Default)]
pub struct Routes(Vec<RouteEntry>);

impl Routes {
    /// Serves `handler` for `method` on `path` (an actix pattern such as `/v1/x/{id}`),
    /// reading bodies up to [`BodyLimit::Json`].
    fn route<F, Args>(self, method: Method, path: &'static str, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route_with_body_limit(method, path, BodyLimit::Json, handler)
    }

    /// [`Routes::route`] for a route whose JSON body may be up to `body_limit`.
    ///
    /// Actix keeps extractor settings per resource (path), so the routes of one path share
    /// the largest of their limits; a path's other methods read no body anyway.
    fn route_with_body_limit<F, Args>(
        mut self,
        method: Method,
        path: &'static str,
        body_limit: BodyLimit,
        handler: F,
    ) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::method(method.clone()).to(handler);
        self.0.push(RouteEntry {
            method,
            path,
            body_limit,
            route,
        });
        self
    }

    /// The `(method, pattern)` pairs served.
    pub fn list(&self) -> Vec<(Method, &'static str)> {
        self.0
            .iter()
            .map(|entry| (entry.method.clone(), entry.path))
            .collect()
    }

    /// The body limit of `method` on `path`, if it is served.
    pub fn body_limit(&self, method: &Method, path: &str) -> Option<BodyLimit> {
        self.0
            .iter()
            .find(|entry| entry.method == *method && entry.path == path)
            .map(|entry| entry.body_limit)
    }

    /// Adds the routes to actix: one resource per path, reading JSON bodies up to its
    /// routes' limit in `limits`, and answering any other method with
    /// `405 method_not_allowed` and an `Allow` header naming the methods it serves.
    fn register(self, config: &mut web::ServiceConfig, limits: BodyLimits) {
        let mut paths: Vec<&'static str> = Vec::new();
        for entry in &self.0 {
            if !paths.contains(&entry.path) {
                paths.push(entry.path);
            }
        }
        let mut routes = self.0;
        for path in paths {
            let (here, rest): (Vec<_>, Vec<_>) =
                routes.into_iter().partition(|entry| entry.path == path);
            routes = rest;
            let allowed: Vec<Method> = here.iter().map(|entry| entry.method.clone()).collect();
            let body_limit = here
                .iter()
                .map(|entry| limits.bytes(entry.body_limit))
                .max()
                .unwrap_or(MAX_JSON_BODY_BYTES);
            let mut resource = web::resource(path);
            if body_limit != MAX_JSON_BODY_BYTES {
                resource = resource.app_data(json_config(body_limit));
            }
            for entry in here {
                resource = resource.route(entry.route);
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
        .route_with_body_limit(
            Method::POST,
            "/v1/signatures",
            BodyLimit::Transaction,
            signatures::create,
        )
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
        .route_with_body_limit(
            Method::POST,
            "/v1/signatures/{transaction_id}/documents/{document_id}/assemble",
            BodyLimit::DocumentAndContent,
            signatures::assemble_file,
        )
        .route_with_body_limit(
            Method::POST,
            "/v1/verifications",
            BodyLimit::DocumentAndContent,
            verifications::verify,
        )
}

/// The admin listener: metrics, health, and the audit trail's head.
pub fn admin() -> Routes {
    Routes::default()
        .route(Method::GET, "/metrics", admin::metrics)
        .route(Method::GET, "/healthz", admin::healthz)
        .route(Method::GET, "/readyz", admin::readyz)
        .route(Method::GET, "/audit/head", admin::audit_head)
}

/// Configures the portal API's routes on actix, with body limits from `limits`.
pub fn api_routes(config: &mut web::ServiceConfig, limits: BodyLimits) {
    api().register(config, limits);
}

/// Configures the admin listener's routes on actix.
pub fn admin_routes(config: &mut web::ServiceConfig) {
    admin().register(config, BodyLimits::default());
}

/// Extractor settings whose errors are documented API errors, never actix's plain text.
pub fn extractor_configs(config: &mut web::ServiceConfig) {
    config
        .app_data(json_config(MAX_JSON_BODY_BYTES))
        .app_data(
            web::FormConfig::default()
                .limit(MAX_FORM_BODY_BYTES)
                .error_handler(form_error),
        )
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error));
}

/// JSON bodies up to `limit` bytes, with documented errors.
fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |error, _| json_error(error, limit))
}

fn json_error(error: JsonPayloadError, limit: usize) -> actix_web::Error {
    match error {
        JsonPayloadError::ContentType => ServiceError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as Content-Type: application/json",
        ),
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ServiceError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body is larger than {limit} bytes"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_routes_that_take_documents_read_large_bodies() {
        let routes = api();
        for (method, path) in routes.list() {
            let expected = match (method.as_str(), path) {
                ("POST", "/v1/verifications")
                | ("POST", "/v1/signatures/{transaction_id}/documents/{document_id}/assemble") => {
                    BodyLimit::DocumentAndContent
                }
                ("POST", "/v1/signatures") => BodyLimit::Transaction,
                _ => BodyLimit::Json,
            };
            assert_eq!(
                routes.body_limit(&method, path),
                Some(expected),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn document_limits_hold_the_documents_in_base64_beside_the_ordinary_fields() {
        let limits = BodyLimits::new(&DocumentSettings {
            max_document_bytes: 3000,
            max_transaction_bytes: 30_000,
            time_stamping: None,
        });
        assert_eq!(limits.bytes(BodyLimit::Json), MAX_JSON_BODY_BYTES);
        assert_eq!(
            limits.bytes(BodyLimit::DocumentAndContent),
            2 * 4000 + MAX_JSON_BODY_BYTES
        );
        assert_eq!(
            limits.bytes(BodyLimit::Transaction),
            40_000 + MAX_JSON_BODY_BYTES
        );
        let huge = BodyLimits::new(&DocumentSettings {
            max_document_bytes: usize::MAX,
            max_transaction_bytes: usize::MAX,
            time_stamping: None,
        });
        assert_eq!(huge.bytes(BodyLimit::DocumentAndContent), usize::MAX);
    }
}
