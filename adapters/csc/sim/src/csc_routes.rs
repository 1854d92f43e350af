//! The CSC API v2 methods over HTTP, under `/csc/v2`.
//!
//! Bodies are read as raw bytes and parsed here rather than with actix's `Json` extractor, so
//! that every call, even a malformed one, is recorded, meets the injected fault and the delay,
//! and is refused with CSC's error object instead of actix's default error page.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use serde::de::DeserializeOwned;

use kyso_sim_kit::Fault;

use crate::sim::{CheckStep, CscError, Sim};
use crate::wire::{
    AuthorizeCheckRequest, ErrorBody, HandleResponse, InfoRequest, ListRequest, LoginRequest,
    RevokeRequest, ServiceInfo, SignAlgorithms,
};

/// The base path of the simulated service.
pub(crate) const BASE_PATH: &str = "/csc/v2";

/// How often a blocking `credentials/authorize` looks at the citizen's decision.
const BLOCKING_STEP: Duration = Duration::from_millis(25);

/// The body of a [`Fault::Garbage`] answer, as a misconfigured proxy might send.
const GARBAGE_BODY: &str = "<!DOCTYPE html><html><head><title>Gateway</title></head>\
<body><p>The signing service is being updated.</p></body></html>";

/// Registers the CSC methods.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(BASE_PATH)
            // The transcription of the spec says POST, some services serve GET: take both.
            .service(
                web::resource("/info")
                    .route(web::get().to(info))
                    .route(web::post().to(info)),
            )
            .route("/auth/login", web::post().to(login))
            .route("/auth/revoke", web::post().to(revoke))
            .route("/credentials/list", web::post().to(list))
            .route("/credentials/info", web::post().to(credential_info))
            .route("/credentials/authorize", web::post().to(authorize))
            .route(
                "/credentials/authorizeCheck",
                web::post().to(authorize_check),
            )
            .route("/signatures/signHash", web::post().to(sign_hash)),
    );
}

/// Who may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Anyone (`info`, `auth/login`, which checks HTTP Basic itself).
    Public,
    /// A valid bearer access token from `auth/login`.
    Bearer,
}

/// The frame of every method: the kit's gate (record, delay, fault), then the access check.
/// `Err` is the answer to send instead of running the method.
async fn prelude(
    req: &HttpRequest,
    body: &[u8],
    sim: &Sim,
    access: Access,
) -> Result<(), HttpResponse> {
    match sim.gate.enter(req.path(), body).await {
        Some(Fault::Status(status)) => return Err(error_response(&CscError::injected(status))),
        Some(Fault::Garbage) => {
            return Err(HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(GARBAGE_BODY));
        }
        _ => {}
    }
    if access == Access::Bearer {
        sim.check_token(bearer_token(req).as_deref())
            .map_err(|error| error_response(&error))?;
    }
    Ok(())
}

fn authorization_header(req: &HttpRequest, scheme: &str) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (given, credentials) = value.trim().split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| credentials.trim().to_owned())
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    authorization_header(req, "Bearer")
}

/// HTTP Basic user and password.
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let encoded = authorization_header(req, "Basic")?;
    let decoded = String::from_utf8(BASE64.decode(encoded).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, CscError> {
    serde_json::from_slice(body)
        .map_err(|error| CscError::invalid_request(format!("Malformed JSON body: {error}")))
}

/// Like [`parse`], an empty body meaning `{}`.
fn parse_or_default<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, CscError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse(body)
    }
}

fn reply<T: Serialize>(result: Result<T, CscError>) -> HttpResponse {
    match result {
        Ok(value) => HttpResponse::Ok().json(value),
        Err(error) => error_response(&error),
    }
}

/// CSC's error object with its HTTP status; 401s carry the `WWW-Authenticate` challenge.
pub(crate) fn error_response(error: &CscError) -> HttpResponse {
    let (status, error) = match StatusCode::from_u16(error.status) {
        Ok(status) => (status, error.clone()),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, CscError::server_error()),
    };
    if error.status >= 500 || error.status == 429 {
        tracing::warn!(status = error.status, code = error.code, "CSC method fails");
    } else {
        tracing::debug!(status = error.status, code = error.code, description = %error.description, "CSC method refuses");
    }
    let mut response = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        let challenge = if error.code == "authentication_error" {
            "Basic realm=\"kyso-sim-csc\"".to_owned()
        } else {
            format!("Bearer realm=\"kyso-sim-csc\", error=\"{}\"", error.code)
        };
        response.insert_header((header::WWW_AUTHENTICATE, challenge));
    }
    response.json(ErrorBody {
        error: error.code,
        error_description: error.description,
    })
}

async fn info(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    if let Err(answer) = prelude(&req, &body, &sim, Access::Public).await {
        return answer;
    }
    HttpResponse::Ok().json(ServiceInfo {
        specs: "2.0.0.2",
        name: "Kyso Sandbox CSC",
        logo: "",
        region: "VN",
        lang: "vi",
        description: "A simulated CSC v2 remote signing service (kyso sandbox)",
        auth_type: vec!["basic"],
        asynchronous_operation_mode: false,
        methods: vec![
            "auth/login",
            "auth/revoke",
            "credentials/list",
            "credentials/info",
            "credentials/authorize",
            "credentials/authorizeCheck",
            "signatures/signHash",
        ],
        sign_algorithms: SignAlgorithms {
            algos: vec![
                "1.2.840.113549.1.1.11",
                "1.2.840.113549.1.1.12",
                "1.2.840.113549.1.1.13",
                "1.2.840.113549.1.1.1",
                "1.2.840.10045.4.3.2",
                "1.2.840.10045.4.3.3",
                "1.2.840.10045.4.3.4",
                "1.2.840.10045.2.1",
            ],
        },
    })
}

async fn login(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    if let Err(answer) = prelude(&req, &body, &sim, Access::Public).await {
        return answer;
    }
    reply(
        parse_or_default::<LoginRequest>(&body)
            .and_then(|request| sim.login(basic_credentials(&req), &request)),
    )
}

async fn revoke(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    if let Err(answer) = prelude(&req, &body, &sim, Access::Bearer).await {
        return answer;
    }
    match parse::<RevokeRequest>(&body).and_then(|request| sim.revoke(&request)) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(error) => error_response(&error),
    }
}

async fn list(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    if let Err(answer) = prelude(&req, &body, &sim, Access::Bearer).await {
        return answer;
    }
    reply(parse::<ListRequest>(&body).and_then(|request| sim.list(&request)))
}

async fn credential_info(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    if let Err(answer) = prelude(&req, &body, &sim, Access::Bearer).await {
        return answer;
    }
    reply(parse::<InfoRequest>(&body).and_then(|request| sim.info(&request)))
}

async fn authorize(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    if let Err(answer) = prelude(&req, &body, &sim, Access::Bearer).await {
        return answer;
    }
    let pending = match parse(&body).and_then(|request| sim.authorize(request)) {
        Ok(pending) => pending,
        Err(error) => return error_response(&error),
    };
    match pending.consent {
        crate::config::ConsentMode::Asynchronous => HttpResponse::Accepted().json(HandleResponse {
            handle: pending.handle,
        }),
        // Ends at the latest when the request lapses (`authorization_ttl`).
        crate::config::ConsentMode::Blocking => loop {
            match sim.authorize_check(Some(&pending.handle)) {
                Ok(CheckStep::Waiting(_)) => tokio::time::sleep(BLOCKING_STEP).await,
                Ok(CheckStep::Granted(sad)) => return HttpResponse::Ok().json(sad),
                Err(error) => return error_response(&error),
            }
        },
    }
}

async fn authorize_check(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    if let Err(answer) = prelude(&req, &body, &sim, Access::Bearer).await {
        return answer;
    }
    match parse::<AuthorizeCheckRequest>(&body)
        .and_then(|request| sim.authorize_check(request.handle.as_deref()))
    {
        Ok(CheckStep::Waiting(handle)) => HttpResponse::Accepted().json(HandleResponse { handle }),
        Ok(CheckStep::Granted(sad)) => HttpResponse::Ok().json(sad),
        Err(error) => error_response(&error),
    }
}

async fn sign_hash(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    if let Err(answer) = prelude(&req, &body, &sim, Access::Bearer).await {
        return answer;
    }
    // Signing (and a foreign key's generation) is CPU work: keep it off the event loop.
    let request = match parse(&body) {
        Ok(request) => request,
        Err(error) => return error_response(&error),
    };
    let sim = sim.into_inner();
    match tokio::task::spawn_blocking(move || sim.sign_hash(request)).await {
        Ok(result) => reply(result),
        Err(error) => {
            tracing::error!(%error, "the signing task failed");
            error_response(&CscError::server_error())
        }
    }
}

/// Answer for any path or method the simulator does not serve, as a CSC error object.
pub(crate) async fn not_found(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(ErrorBody {
        error: "invalid_request",
        error_description: format!("No method {} {}", req.method(), req.path()),
    })
}
