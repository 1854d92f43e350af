//! Viettel-CA MySign adapter: the unified signing protocol spoken as MySign's gateway API
//! (`/vtss/service/*`, Viettel's integration document v1.8/1.9 and Postman collection, as
//! restated in the project's CA reference, `ca-apis.md` §5).
//!
//! The gateway is the service provider (SP): Viettel issues it a `client_id`, a `client_secret`
//! and a RAS `profile_id`. Calls carry a Bearer access token (one hour, no refresh token: log in
//! again) and, in their bodies, the SP credentials again. A citizen is a MySign `user_id`; each
//! of their certificates is a `credential_id`. The adapter lists certificates with
//! `certificates/info` (`certificates: "chain"`, so the chain comes inline, user certificate
//! first), submits base64 SHA-256 digests with `signHash` in asynchronous mode (`async: 1`: the
//! CA answers a `transactionId` at once and the citizen confirms in the MySign app), and polls
//! `requests/status`, whose codes it maps as the reference does (`4000`/`6000` pending, `1`
//! signed, `4001` expired, `4002` rejected, `4004`/`4005`/`13004`/`50000` failed). Signatures
//! come back as base64 raw RSA PKCS#1 v1.5 values, in request order; they are passed on
//! untouched for the gateway to verify.
//!
//! Where Viettel's published material is silent this adapter decides, and says so here:
//! - **Which token.** `/ras/v1/login` issues a token for one `user_id`, but the gateway keeps one
//!   session per provider. By default ([`TokenScope::Client`]) the session is the client-level
//!   token of `/ras/v1/authenticate` (`grant_type=client_credentials`, form-encoded), whose use
//!   Viettel does not explain; we assume it authorises calls for any of the SP's users, which
//!   carry the SP credentials and the `user_id`/`credentialID` in their bodies anyway. Should a
//!   deployment find that Viettel refuses it, [`TokenScope::User`] logs in as the citizen
//!   before every call instead (two requests per operation, no gateway session). The
//!   `/authenticate` answer is read like the login's (`access_token`, `expires_in`); a missing
//!   `expires_in` is taken as the documented 3600 s.
//! - **A refused token.** How Viettel answers an expired token is not documented. HTTP 401 (or
//!   an `invalid_token` error) on a Bearer endpoint means the session is gone
//!   ([`AdapterError::SessionExpired`]); on the token endpoints, and for the documented
//!   credential codes `58007`, `59033`, `86002`, `86024` anywhere, it means the SP credentials
//!   are wrong ([`AdapterError::AuthenticationFailed`]).
//! - **Errors in a 200.** Viettel's clients check for an `error` member whatever the HTTP
//!   status, so an `{error, error_description}` body is an error in any answer. An error code
//!   the table does not name, in a 2xx answer, is reported as a 502-class CA fault.
//! - **An unknown citizen** is an empty certificate list, whether Viettel answers `58008` ("user
//!   id does not exist") or an empty array. An unknown `transactionId` is taken from an HTTP 404
//!   or an error named `transaction_not_found`.
//! - **Quota and certificate state.** `4005` (out of signing quota) and `13004` (certificate
//!   expired or revoked) mean the citizen's certificate cannot sign now
//!   ([`AdapterError::CertificateUnusable`]) when they refuse a call, and a failed transaction
//!   when the status endpoint reports them.
//! - **Document ids.** `requests/status` returns bare signatures in request order, and
//!   [`CaAdapter::poll`] only gets the reference, so the reference this adapter hands the
//!   gateway is a small JSON object holding the `transactionId`, the document ids in order and,
//!   with [`TokenScope::User`], the user to log in as.
//! - **Prompt text.** `description` and `document_name` must be base64 of `[a-zA-Z0-9_\- ]`
//!   under 100 characters: Vietnamese is folded to letters without diacritics, other
//!   characters become spaces, and the text is cut at 72 characters. An empty description
//!   becomes "Yeu cau ky so"; an empty name becomes the document id's folded form, or
//!   "Tai lieu N".
//! - **Limits.** Viettel states no batch limit (credentials report `multisign` 2147483647); we
//!   declare 20 documents. Confirmation takes about 2 minutes (the reference's figure for the
//!   blocking mode and for polling). Only SHA-256 over RSA is documented; other digest lengths
//!   are sent with their OIDs should a deployment widen the capabilities, and Viettel decides.
//! - **Webhooks** (`async: 3`) need SP-hosted endpoints and an out-of-band registration; the
//!   gateway polls instead.
//! - **Cancellation**: the protocol has none (the gateway API lists login, authenticate,
//!   certificates, `signHash` and `requests/status`, and no status code means withdrawn); the
//!   gateway records the cancel and stops following; the CA's own expiry ends the request.
//!   [`CaAdapter::cancel`] keeps its default.
//!
//! Credentials and tokens are held as [`secrecy::SecretString`] / in [`CaSession`] and never
//! appear in logs or errors. Every HTTP request is bounded by the adapter's request timeout;
//! with [`TokenScope::User`] the login and the call share it.
#![warn(missing_docs)]

mod prompt;
mod wire;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_adapter_core::{
    AdapterDescriptor, AdapterError, CaAdapter, CaCertificate, CaSession, Capabilities,
    HashAlgorithm, KeyAlgorithm, RawSignature, SettingsError, SignOutcome, SignRequest,
};
use kyso_adapter_http::{AdapterFactory, CaHttp, CaRequest, parse_base_url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The `viettel-mysign` kind, as the gateway builds it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ViettelKind;

impl AdapterFactory for ViettelKind {
    const KIND: &'static str = "viettel-mysign";
    type Settings = ViettelSettings;

    /// What MySign offers, as far as Viettel's public material shows: SHA-256 over RSA keys,
    /// about two minutes for the citizen to confirm, and (our choice) at most 20 documents per
    /// request. Deployments may widen it in configuration.
    fn default_capabilities() -> Capabilities {
        Capabilities {
            hash_algorithms: vec![HashAlgorithm::Sha256],
            key_algorithms: vec![KeyAlgorithm::Rsa],
            max_documents: 20,
            confirmation_timeout: Duration::from_secs(120),
            // The protocol has no documented way to withdraw a request (see the module doc).
            cancel: false,
        }
    }

    fn build(
        descriptor: AdapterDescriptor,
        settings: ViettelSettings,
        http: CaHttp,
    ) -> Result<Arc<dyn CaAdapter>, SettingsError> {
        Ok(Arc::new(ViettelAdapter::new(descriptor, settings, http)?))
    }
}

/// Which access token the adapter signs its calls with (see the crate documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// One client-level token from `/ras/v1/authenticate`, opened by
    /// [`CaAdapter::open_session`] and shared by the gateway as the provider's session.
    #[default]
    Client,
    /// A token for the citizen from `/ras/v1/login` before every call; no gateway session.
    User,
}

/// The Viettel-specific part of a provider's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViettelSettings {
    /// The gateway API's base URL, up to and including `/vtss/service`
    /// (`https://remotesigning.viettel.vn/vtss/service` in production).
    pub base_url: String,
    /// The `client_id` Viettel issued to this gateway (at most 50 characters).
    pub client_id: String,
    /// The `client_secret` Viettel issued to this gateway.
    pub client_secret: SecretString,
    /// The RAS profile assigned to this gateway (`adss:ras:profile:001` in Viettel's demos).
    pub profile_id: String,
    /// Which access token to use: `client` (default) or `user`.
    #[serde(default)]
    pub token_scope: TokenScope,
    /// Put before the citizen's CCCD number to form the MySign `user_id`, for deployments where
    /// Viettel registers citizens as, say, `CMT_<number>`. Empty by default (bare numbers).
    #[serde(default)]
    pub user_id_prefix: String,
}

impl ViettelSettings {
    /// Settings with a client-level token and bare CCCD numbers as MySign user ids.
    pub fn new(
        base_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: SecretString,
        profile_id: impl Into<String>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            client_id: client_id.into(),
            client_secret,
            profile_id: profile_id.into(),
            token_scope: TokenScope::default(),
            user_id_prefix: String::new(),
        }
    }
}

/// A Viettel-CA MySign provider.
#[derive(Debug)]
pub struct ViettelAdapter {
    descriptor: AdapterDescriptor,
    settings: ViettelSettings,
    http: CaHttp,
}

/// `hashAlgo` OIDs.
const OID_SHA256: &str = "2.16.840.1.101.3.4.2.1";
const OID_SHA384: &str = "2.16.840.1.101.3.4.2.2";
const OID_SHA512: &str = "2.16.840.1.101.3.4.2.3";
/// `signAlgo`: rsaEncryption (RSASSA-PKCS1-v1_5 by the key's algorithm).
const OID_RSA: &str = "1.2.840.113549.1.1.1";
/// `async: 1`: answer a `transactionId` at once; the outcome is polled.
const ASYNC_POLL: u8 = 1;
/// The lifetime Viettel documents for its tokens, used when an answer does not say.
const DOCUMENTED_TOKEN_LIFETIME_SECS: u64 = 3600;
/// The prompt when the request's description folds to nothing ("signing request").
const FALLBACK_DESCRIPTION: &str = "Yeu cau ky so";

/// Viettel's documented error codes.
mod code {
    /// Client id does not exist.
    pub(crate) const CLIENT_UNKNOWN: u64 = 58007;
    /// User id does not exist.
    pub(crate) const USER_UNKNOWN: u64 = 58008;
    /// User id or password invalid.
    pub(crate) const BAD_CREDENTIALS: u64 = 59033;
    /// Client secret invalid.
    pub(crate) const BAD_SECRET: u64 = 86024;
    /// TLS client certificate revoked.
    pub(crate) const CLIENT_CERT_REVOKED: u64 = 86002;
    /// Certificate expired or revoked.
    pub(crate) const CERTIFICATE_INVALID: u64 = 13004;
    /// Out of signing quota.
    pub(crate) const QUOTA: u64 = 4005;
    /// Internal error.
    pub(crate) const INTERNAL: u64 = 50000;
    /// requests/status: signed.
    pub(crate) const SUCCESS: u64 = 1;
    /// requests/status: waiting for the user.
    pub(crate) const WAITING: u64 = 4000;
    /// requests/status: confirmed, signing.
    pub(crate) const SIGNING: u64 = 6000;
    /// requests/status: the user did not confirm in time.
    pub(crate) const TIMEOUT: u64 = 4001;
    /// requests/status: the user refused.
    pub(crate) const REJECTED: u64 = 4002;
    /// requests/status: signing failed.
    pub(crate) const FAILED: u64 = 4004;
}

/// Which endpoint answered, for the error mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `/ras/v1/login` or `/ras/v1/authenticate`: no Bearer token, SP credentials only.
    Token,
    /// `/certificates/info`.
    Certificates,
    /// `/signHash`.
    SignHash,
    /// `/requests/status`.
    Status,
}

impl Endpoint {
    fn path(self, token_scope: TokenScope) -> &'static str {
        match (self, token_scope) {
            (Self::Token, TokenScope::Client) => "/ras/v1/authenticate",
            (Self::Token, TokenScope::User) => "/ras/v1/login",
            (Self::Certificates, _) => "/certificates/info",
            (Self::SignHash, _) => "/signHash",
            (Self::Status, _) => "/requests/status",
        }
    }
}

/// What the adapter hands the gateway as the `ca_reference` of [`SignOutcome::Pending`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reference {
    /// Viettel's `transactionId`.
    #[serde(rename = "t")]
    transaction_id: String,
    /// The document ids, in the order Viettel returns the signatures.
    #[serde(rename = "d")]
    documents: Vec<String>,
    /// With [`TokenScope::User`], the MySign `user_id` to log in as for polling.
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
}

impl Reference {
    fn encode(&self) -> Result<String, AdapterError> {
        serde_json::to_string(self)
            .map_err(|error| AdapterError::Internal(format!("encoding a reference: {error}")))
    }

    fn decode(text: &str) -> Result<Self, AdapterError> {
        serde_json::from_str(text).map_err(|_| {
            AdapterError::InvalidRequest(
                "the transaction reference was not issued by the Viettel adapter".into(),
            )
        })
    }
}

impl ViettelAdapter {
    /// An adapter for one configured provider; `http` carries its timeouts, and its request
    /// timeout bounds every whole call.
    ///
    /// # Errors
    /// A [`SettingsError`] naming `base_url` when not an http(s) URL, or `client_id`,
    /// `client_secret` or `profile_id` when empty.
    pub fn new(
        descriptor: AdapterDescriptor,
        settings: ViettelSettings,
        http: CaHttp,
    ) -> Result<Self, SettingsError> {
        let mut settings = settings;
        settings.base_url = parse_base_url("base_url", &settings.base_url)?;
        for (field, value) in [
            ("client_id", settings.client_id.as_str()),
            ("client_secret", settings.client_secret.expose_secret()),
            ("profile_id", settings.profile_id.as_str()),
        ] {
            if value.trim().is_empty() {
                return Err(SettingsError::new(field, "must not be empty"));
            }
        }
        Ok(Self {
            descriptor,
            settings,
            http,
        })
    }

    fn mysign_user_id(&self, user_id: &str) -> String {
        format!("{}{user_id}", self.settings.user_id_prefix)
    }

    /// The deadline of one adapter operation.
    fn deadline(&self) -> Instant {
        Instant::now() + self.http.request_timeout()
    }

    /// Sends `request` (already addressed, with its body) and decodes the answer as `T`, or as
    /// Viettel's error shape.
    async fn send<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        request: CaRequest,
        deadline: Instant,
    ) -> Result<T, ViettelError> {
        let path = endpoint.path(self.settings.token_scope);
        let response = request.within(deadline).send().await?;
        tracing::debug!(path, http_status = response.status, "Viettel answered");
        decode_answer(endpoint, path, response.status, &response.body)
    }

    /// POSTs JSON `body` to `endpoint`, with the Bearer `token` unless it is a token endpoint.
    async fn post_json<B, T>(
        &self,
        endpoint: Endpoint,
        token: Option<&str>,
        body: &B,
        deadline: Instant,
    ) -> Result<T, ViettelError>
    where
        B: Serialize + Sync,
        T: DeserializeOwned,
    {
        let url = format!(
            "{}{}",
            self.settings.base_url,
            endpoint.path(self.settings.token_scope)
        );
        let mut request = self.http.post(url).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(endpoint, request, deadline).await
    }

    /// `/ras/v1/authenticate`: the client-level token.
    async fn authenticate(&self, deadline: Instant) -> Result<CaSession, AdapterError> {
        let url = format!(
            "{}{}",
            self.settings.base_url,
            Endpoint::Token.path(TokenScope::Client)
        );
        let request = self.http.post(url).form(&[
            ("client_id", &self.settings.client_id),
            ("client_secret", self.settings.client_secret.expose_secret()),
            ("grant_type", "client_credentials"),
        ]);
        let answer: wire::TokenResponse = self.send(Endpoint::Token, request, deadline).await?;
        session_from(answer)
    }

    /// `/ras/v1/login`: a token for one MySign user.
    async fn login(&self, mysign_user_id: &str, deadline: Instant) -> Result<String, ViettelError> {
        let body = wire::LoginRequest {
            client_id: &self.settings.client_id,
            client_secret: self.settings.client_secret.expose_secret(),
            profile_id: &self.settings.profile_id,
            user_id: mysign_user_id,
        };
        let answer: wire::TokenResponse = self
            .post_json(Endpoint::Token, None, &body, deadline)
            .await?;
        Ok(session_from(answer)?.token)
    }

    /// The token for a call about `mysign_user_id`: the gateway's session, or a fresh login.
    async fn token_for(
        &self,
        session: Option<&CaSession>,
        mysign_user_id: &str,
        deadline: Instant,
    ) -> Result<String, ViettelError> {
        match self.settings.token_scope {
            TokenScope::Client => session.map(|s| s.token.clone()).ok_or_else(|| {
                AdapterError::Internal("the Viettel adapter was called without a session".into())
                    .into()
            }),
            TokenScope::User => self.login(mysign_user_id, deadline).await,
        }
    }
}

/// Turns a token answer into a session.
fn session_from(answer: wire::TokenResponse) -> Result<CaSession, AdapterError> {
    if answer.access_token.is_empty() {
        return Err(AdapterError::UpstreamProtocol(
            "Viettel issued an empty access token".into(),
        ));
    }
    if let Some(kind) = answer.token_type.as_deref()
        && !kind.is_empty()
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(AdapterError::UpstreamProtocol(format!(
            "Viettel issued a {kind:?} token, not a Bearer token"
        )));
    }
    let expires_in_secs = match &answer.expires_in {
        None => DOCUMENTED_TOKEN_LIFETIME_SECS,
        Some(value) => value.value().ok_or_else(|| {
            AdapterError::UpstreamProtocol("expires_in is not a number of seconds".into())
        })?,
    };
    Ok(CaSession {
        token: answer.access_token,
        expires_in_secs,
    })
}

/// Reads an answer: Viettel's error shape (in any HTTP status) becomes an error, a non-2xx
/// status without it too, anything else must be a `T`.
fn decode_answer<T: DeserializeOwned>(
    endpoint: Endpoint,
    path: &str,
    http_status: u16,
    bytes: &[u8],
) -> Result<T, ViettelError> {
    let success = (200..300).contains(&http_status);
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(_) if !success => return Err(error_for(endpoint, http_status, None, "")),
        Err(error) => {
            return Err(AdapterError::UpstreamProtocol(format!(
                "{path}: the answer is not JSON: {error}"
            ))
            .into());
        }
    };
    let error_body = value
        .as_object()
        .filter(|object| object.get("error").is_some_and(|e| !e.is_null()))
        .and_then(|_| serde_json::from_value::<wire::ErrorBody>(value.clone()).ok());
    if let Some(body) = error_body {
        let description = body.error_description.unwrap_or_default();
        return Err(error_for(
            endpoint,
            http_status,
            Some(&ErrorCode::from_json(&body.error)),
            &description,
        ));
    }
    if !success {
        return Err(error_for(endpoint, http_status, None, ""));
    }
    serde_json::from_value(value).map_err(|error| {
        AdapterError::UpstreamProtocol(format!("{path}: unexpected answer: {error}")).into()
    })
}

/// Viettel's `error`: a number of its table or an OAuth-style word.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ErrorCode {
    Number(u64),
    Text(String),
}

impl ErrorCode {
    fn from_json(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Number(number) => number
                .as_u64()
                .map_or_else(|| Self::Text(number.to_string()), Self::Number),
            serde_json::Value::String(text) => text
                .trim()
                .parse()
                .map_or_else(|_| Self::Text(text.trim().to_owned()), Self::Number),
            other => Self::Text(other.to_string()),
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(number) => write!(f, "{number}"),
            Self::Text(text) => f.write_str(text),
        }
    }
}

/// Why a call failed, before it crosses the crate boundary as [`AdapterError`]: an unknown user
/// is an answer in its own right for a certificate look-up.
#[derive(Debug, thiserror::Error)]
enum ViettelError {
    /// Viettel does not know the MySign `user_id` (`58008`).
    #[error("Viettel does not know the user ({0})")]
    UnknownUser(String),
    /// Anything else.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

impl From<ViettelError> for AdapterError {
    fn from(error: ViettelError) -> Self {
        match error {
            ViettelError::UnknownUser(message) => {
                Self::InvalidRequest(format!("Viettel does not know the user ({message})"))
            }
            ViettelError::Adapter(error) => error,
        }
    }
}

/// Maps an error answer (HTTP status, Viettel's `error` and `error_description`); see the
/// crate documentation for the choices.
fn error_for(
    endpoint: Endpoint,
    http_status: u16,
    code: Option<&ErrorCode>,
    description: &str,
) -> ViettelError {
    if let Some(ErrorCode::Number(code::USER_UNKNOWN)) = code {
        return ViettelError::UnknownUser(format!("error {}: {description}", code::USER_UNKNOWN));
    }
    ViettelError::Adapter(adapter_error_for(endpoint, http_status, code, description))
}

fn adapter_error_for(
    endpoint: Endpoint,
    http_status: u16,
    code: Option<&ErrorCode>,
    description: &str,
) -> AdapterError {
    let message = match code {
        Some(code) => format!("error {code}: {description}"),
        None => format!("HTTP {http_status}"),
    };
    if (502..=504).contains(&http_status) {
        return AdapterError::Unavailable(format!("Viettel answered {http_status} ({message})"));
    }
    match code {
        Some(ErrorCode::Number(
            code::CLIENT_UNKNOWN
            | code::BAD_CREDENTIALS
            | code::BAD_SECRET
            | code::CLIENT_CERT_REVOKED,
        )) => return AdapterError::AuthenticationFailed,
        Some(ErrorCode::Number(code::CERTIFICATE_INVALID)) => {
            return AdapterError::CertificateUnusable(format!(
                "expired or revoked at Viettel ({message})"
            ));
        }
        Some(ErrorCode::Number(code::QUOTA)) => {
            return AdapterError::CertificateUnusable(format!(
                "the signing quota is used up ({message})"
            ));
        }
        Some(ErrorCode::Number(code::INTERNAL)) => {
            return AdapterError::UpstreamStatus {
                status: http_status.max(500),
                message,
            };
        }
        Some(ErrorCode::Text(text)) => match text.as_str() {
            "invalid_token" if endpoint != Endpoint::Token => return AdapterError::SessionExpired,
            "invalid_client" | "unauthorized_client" => return AdapterError::AuthenticationFailed,
            "transaction_not_found" if endpoint == Endpoint::Status => {
                return AdapterError::TransactionNotFound(message);
            }
            _ => {}
        },
        _ => {}
    }
    match http_status {
        401 if endpoint == Endpoint::Token => AdapterError::AuthenticationFailed,
        401 => AdapterError::SessionExpired,
        400 | 422 => AdapterError::InvalidRequest(message),
        404 if endpoint == Endpoint::Status => AdapterError::TransactionNotFound(message),
        status if status >= 400 => AdapterError::UpstreamStatus { status, message },
        // An error body in a 2xx/3xx answer with a code the table does not name.
        _ => AdapterError::UpstreamStatus {
            status: 502,
            message: format!("{message} (in an HTTP {http_status} answer)"),
        },
    }
}

/// The outcome a requests/status answer reports.
fn outcome_from_status(
    answer: wire::StatusResponse,
    reference: &Reference,
    ca_reference: &str,
) -> Result<SignOutcome, AdapterError> {
    let status = answer.status.value().ok_or_else(|| {
        AdapterError::UpstreamProtocol(format!("status {:?} is not a number", answer.status))
    })?;
    Ok(match status {
        code::SUCCESS => {
            let signatures = answer.signatures.unwrap_or_default();
            SignOutcome::Signed(pair_signatures(&reference.documents, &signatures)?)
        }
        code::WAITING | code::SIGNING => SignOutcome::Pending {
            ca_reference: ca_reference.to_owned(),
        },
        code::TIMEOUT => SignOutcome::Expired,
        code::REJECTED => SignOutcome::Rejected,
        code::FAILED => SignOutcome::Failed("Viettel reports that signing failed (4004)".into()),
        code::QUOTA => SignOutcome::Failed("the citizen's signing quota is used up (4005)".into()),
        code::CERTIFICATE_INVALID => {
            SignOutcome::Failed("the certificate is expired or revoked (13004)".into())
        }
        code::INTERNAL => SignOutcome::Failed("Viettel reports an internal error (50000)".into()),
        other => {
            return Err(AdapterError::UpstreamProtocol(format!(
                "unknown requests/status status {other}"
            )));
        }
    })
}

/// Pairs Viettel's signatures (request order) with the document ids.
fn pair_signatures(
    documents: &[String],
    signatures: &[String],
) -> Result<Vec<RawSignature>, AdapterError> {
    if signatures.len() != documents.len() {
        return Err(AdapterError::UpstreamProtocol(format!(
            "Viettel returned {} signatures for {} documents",
            signatures.len(),
            documents.len()
        )));
    }
    documents
        .iter()
        .zip(signatures)
        .map(|(document_id, value)| {
            Ok(RawSignature {
                document_id: document_id.clone(),
                signature: decode_base64("signatures[]", value)?,
            })
        })
        .collect()
}

/// Standard base64, tolerating line breaks and spaces inside (MIME-style encoders).
fn decode_base64(field: &str, value: &str) -> Result<Vec<u8>, AdapterError> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    BASE64
        .decode(compact)
        .map_err(|error| AdapterError::UpstreamProtocol(format!("{field} is not base64: {error}")))
}

impl wire::Credential {
    fn into_certificate(self) -> Result<CaCertificate, AdapterError> {
        let mut certificates = self
            .cert
            .certificates
            .iter()
            .map(|cert| decode_base64("cert.certificates[]", cert))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter();
        let certificate_der = certificates.next().ok_or_else(|| {
            AdapterError::UpstreamProtocol(format!(
                "credential {} came without its certificate",
                self.credential_id
            ))
        })?;
        let key_enabled = self
            .key
            .and_then(|key| key.status)
            .is_none_or(|status| status.eq_ignore_ascii_case("enabled"));
        let cert_valid = self
            .cert
            .status
            .is_none_or(|status| status.eq_ignore_ascii_case("valid"));
        Ok(CaCertificate {
            certificate_id: self.credential_id,
            certificate_der,
            chain_der: certificates.collect(),
            active: key_enabled && cert_valid,
        })
    }
}

#[async_trait]
impl CaAdapter for ViettelAdapter {
    fn descriptor(&self) -> &AdapterDescriptor {
        &self.descriptor
    }

    fn needs_session(&self) -> bool {
        self.settings.token_scope == TokenScope::Client
    }

    async fn open_session(&self) -> Result<CaSession, AdapterError> {
        match self.settings.token_scope {
            TokenScope::Client => self.authenticate(self.deadline()).await,
            TokenScope::User => Err(AdapterError::Unsupported(
                "login sessions (token_scope is user: the adapter logs in per call)",
            )),
        }
    }

    async fn certificates(
        &self,
        session: Option<&CaSession>,
        user_id: &str,
    ) -> Result<Vec<CaCertificate>, AdapterError> {
        let deadline = self.deadline();
        let mysign_user_id = self.mysign_user_id(user_id);
        // An unknown user has no certificates, whether the login or the look-up says so.
        let token = match self.token_for(session, &mysign_user_id, deadline).await {
            Err(ViettelError::UnknownUser(_)) => return Ok(Vec::new()),
            other => other?,
        };
        let body = wire::CertificatesInfoRequest {
            client_id: &self.settings.client_id,
            client_secret: self.settings.client_secret.expose_secret(),
            profile_id: &self.settings.profile_id,
            user_id: &mysign_user_id,
            certificates: "chain",
            cert_info: true,
            auth_info: true,
        };
        let credentials: Vec<wire::Credential> = match self
            .post_json(Endpoint::Certificates, Some(&token), &body, deadline)
            .await
        {
            Err(ViettelError::UnknownUser(_)) => return Ok(Vec::new()),
            other => other?,
        };
        credentials
            .into_iter()
            .map(wire::Credential::into_certificate)
            .collect()
    }

    async fn begin_sign(
        &self,
        session: Option<&CaSession>,
        request: &SignRequest,
    ) -> Result<SignOutcome, AdapterError> {
        if request.documents.is_empty() {
            return Err(AdapterError::InvalidRequest("no documents to sign".into()));
        }
        let hash_algo = match request.hash_algorithm {
            HashAlgorithm::Sha256 => OID_SHA256,
            HashAlgorithm::Sha384 => OID_SHA384,
            HashAlgorithm::Sha512 => OID_SHA512,
        };
        let deadline = self.deadline();
        let mysign_user_id = self.mysign_user_id(&request.user_id);
        let token = self.token_for(session, &mysign_user_id, deadline).await?;

        let description = Some(prompt::ascii_prompt(&request.description))
            .filter(|text| !text.is_empty())
            .unwrap_or_else(|| FALLBACK_DESCRIPTION.to_owned());
        let documents = request
            .documents
            .iter()
            .enumerate()
            .map(|(i, document)| {
                let name = [&document.name, &document.id]
                    .iter()
                    .map(|text| prompt::ascii_prompt(text))
                    .find(|text| !text.is_empty())
                    .unwrap_or_else(|| format!("Tai lieu {}", i + 1));
                wire::DocumentRef {
                    document_id: &document.id,
                    document_name: BASE64.encode(name),
                }
            })
            .collect();
        let body = wire::SignHashRequest {
            client_id: &self.settings.client_id,
            client_secret: self.settings.client_secret.expose_secret(),
            credential_id: &request.certificate_id,
            num_signatures: request.documents.len(),
            description: BASE64.encode(description),
            documents,
            hash: request
                .documents
                .iter()
                .map(|document| BASE64.encode(&document.digest))
                .collect(),
            hash_algo,
            sign_algo: OID_RSA,
            mode: ASYNC_POLL,
        };
        let answer: wire::SignHashResponse = self
            .post_json(Endpoint::SignHash, Some(&token), &body, deadline)
            .await?;
        let document_ids: Vec<String> = request.documents.iter().map(|d| d.id.clone()).collect();
        if let Some(transaction_id) = answer.transaction_id.filter(|id| !id.is_empty()) {
            let reference = Reference {
                transaction_id,
                documents: document_ids,
                user_id: (self.settings.token_scope == TokenScope::User).then_some(mysign_user_id),
            };
            return Ok(SignOutcome::Pending {
                ca_reference: reference.encode()?,
            });
        }
        // A CA that ignored `async` and signed at once.
        match answer.signatures.filter(|list| !list.is_empty()) {
            Some(signatures) => Ok(SignOutcome::Signed(pair_signatures(
                &document_ids,
                &signatures,
            )?)),
            None => Err(AdapterError::UpstreamProtocol(
                "signHash answered neither a transactionId nor signatures".into(),
            )),
        }
    }

    async fn poll(
        &self,
        session: Option<&CaSession>,
        ca_reference: &str,
    ) -> Result<SignOutcome, AdapterError> {
        let reference = Reference::decode(ca_reference)?;
        let deadline = self.deadline();
        let token = match (self.settings.token_scope, &reference.user_id) {
            (TokenScope::User, None) => {
                return Err(AdapterError::InvalidRequest(
                    "the transaction reference names no user to log in as".into(),
                ));
            }
            (_, user_id) => {
                self.token_for(session, user_id.as_deref().unwrap_or_default(), deadline)
                    .await?
            }
        };
        let body = wire::StatusRequest {
            transaction_id: &reference.transaction_id,
        };
        let answer: wire::StatusResponse = self
            .post_json(Endpoint::Status, Some(&token), &body, deadline)
            .await?;
        outcome_from_status(answer, &reference, ca_reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_answer(json: serde_json::Value) -> wire::StatusResponse {
        serde_json::from_value(json).unwrap()
    }

    fn reference(documents: &[&str]) -> Reference {
        Reference {
            transaction_id: "de67f948-0498-4919-af28-dff54a6a4e77".into(),
            documents: documents.iter().map(|d| (*d).to_owned()).collect(),
            user_id: None,
        }
    }

    #[test]
    fn status_codes_map_to_outcomes() {
        let reference = reference(&["doc-a", "doc-b"]);
        let outcome = |json| outcome_from_status(status_answer(json), &reference, "ref").unwrap();
        let pending = SignOutcome::Pending {
            ca_reference: "ref".into(),
        };
        assert_eq!(outcome(serde_json::json!({"status": "4000"})), pending);
        assert_eq!(
            outcome(serde_json::json!({"status": 6000, "signatures": null})),
            pending
        );
        assert_eq!(
            outcome(serde_json::json!({"status": "4001"})),
            SignOutcome::Expired
        );
        assert_eq!(
            outcome(serde_json::json!({"status": "4002"})),
            SignOutcome::Rejected
        );
        for failed in ["4004", "4005", "13004", "50000"] {
            assert!(
                matches!(
                    outcome(serde_json::json!({ "status": failed })),
                    SignOutcome::Failed(_)
                ),
                "{failed}"
            );
        }
        assert_eq!(
            outcome(serde_json::json!({"status": "1", "signatures": ["AQI=", "Aw=="]})),
            SignOutcome::Signed(vec![
                RawSignature {
                    document_id: "doc-a".into(),
                    signature: vec![1, 2]
                },
                RawSignature {
                    document_id: "doc-b".into(),
                    signature: vec![3]
                },
            ])
        );
    }

    #[test]
    fn success_without_every_signature_is_a_protocol_error() {
        let reference = reference(&["doc-a", "doc-b"]);
        for json in [
            serde_json::json!({"status": "1"}),
            serde_json::json!({"status": "1", "signatures": ["AQI="]}),
            serde_json::json!({"status": "1", "signatures": ["AQI=", "not base64!"]}),
            serde_json::json!({"status": "7777"}),
            serde_json::json!({"status": "soon"}),
        ] {
            let result = outcome_from_status(status_answer(json.clone()), &reference, "ref");
            assert!(
                matches!(result, Err(AdapterError::UpstreamProtocol(_))),
                "{json}"
            );
        }
    }

    fn error_of(endpoint: Endpoint, http_status: u16, body: &str) -> AdapterError {
        decode_answer::<serde_json::Value>(endpoint, "/test", http_status, body.as_bytes())
            .unwrap_err()
            .into()
    }

    #[test]
    fn credential_errors_are_authentication_failures() {
        for code in ["58007", "59033", "86024", "86002"] {
            let body = format!(r#"{{"error": {code}, "error_description": "x"}}"#);
            for endpoint in [Endpoint::Token, Endpoint::Certificates, Endpoint::SignHash] {
                assert!(
                    matches!(
                        error_of(endpoint, 401, &body),
                        AdapterError::AuthenticationFailed
                    ),
                    "{code} on {endpoint:?}"
                );
            }
        }
        // Also as strings, and in a 200.
        assert!(matches!(
            error_of(Endpoint::Token, 200, r#"{"error": "86024"}"#),
            AdapterError::AuthenticationFailed
        ));
        assert!(matches!(
            error_of(Endpoint::Token, 401, ""),
            AdapterError::AuthenticationFailed
        ));
    }

    #[test]
    fn a_refused_token_is_an_expired_session() {
        let body = r#"{"error": "invalid_token", "error_description": "expired"}"#;
        for endpoint in [Endpoint::Certificates, Endpoint::SignHash, Endpoint::Status] {
            assert!(matches!(
                error_of(endpoint, 401, body),
                AdapterError::SessionExpired
            ));
            assert!(matches!(
                error_of(endpoint, 401, "Unauthorized"),
                AdapterError::SessionExpired
            ));
            assert!(matches!(
                error_of(endpoint, 200, body),
                AdapterError::SessionExpired
            ));
        }
    }

    #[test]
    fn ca_faults_are_retryable() {
        for (status, body) in [
            (
                503,
                r#"{"error": 50000, "error_description": "Service Unavailable"}"#,
            ),
            (502, "<html>bad gateway</html>"),
            (500, r#"{"error": 50000}"#),
            (200, r#"{"error": 50000, "error_description": "internal"}"#),
            (500, ""),
        ] {
            let error = error_of(Endpoint::Certificates, status, body);
            assert_eq!(
                error.fault(),
                kyso_adapter_core::Fault::Ca,
                "{status} {body}"
            );
            assert!(error.is_retryable(), "{status} {body}: {error}");
        }
    }

    #[test]
    fn citizen_side_codes_are_caller_faults() {
        assert!(matches!(
            error_of(
                Endpoint::SignHash,
                400,
                r#"{"error": 13004, "error_description": "revoked"}"#
            ),
            AdapterError::CertificateUnusable(_)
        ));
        assert!(matches!(
            error_of(Endpoint::SignHash, 200, r#"{"error": "4005"}"#),
            AdapterError::CertificateUnusable(_)
        ));
        for endpoint in [Endpoint::Token, Endpoint::Certificates] {
            let unknown = decode_answer::<serde_json::Value>(
                endpoint,
                "/test",
                400,
                br#"{"error": 58008, "error_description": "User ID does not exist"}"#,
            );
            assert!(matches!(unknown, Err(ViettelError::UnknownUser(_))));
        }
        assert!(matches!(
            error_of(Endpoint::SignHash, 400, r#"{"error": "58008"}"#),
            AdapterError::InvalidRequest(_)
        ));
        assert!(matches!(
            error_of(
                Endpoint::SignHash,
                400,
                r#"{"error": "invalid_request", "error_description": "numSignatures"}"#
            ),
            AdapterError::InvalidRequest(_)
        ));
    }

    #[test]
    fn unknown_transactions_are_reported_as_such() {
        assert!(matches!(
            error_of(
                Endpoint::Status,
                404,
                r#"{"error": "transaction_not_found"}"#
            ),
            AdapterError::TransactionNotFound(_)
        ));
        assert!(matches!(
            error_of(Endpoint::Status, 404, ""),
            AdapterError::TransactionNotFound(_)
        ));
        assert!(matches!(
            error_of(
                Endpoint::Status,
                200,
                r#"{"error": "transaction_not_found"}"#
            ),
            AdapterError::TransactionNotFound(_)
        ));
        // A 404 elsewhere is a CA fault (a wrong base URL), not a missing transaction.
        assert!(matches!(
            error_of(Endpoint::SignHash, 404, ""),
            AdapterError::UpstreamStatus { status: 404, .. }
        ));
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        assert!(matches!(
            error_of(Endpoint::Certificates, 200, "<html>maintenance</html>"),
            AdapterError::UpstreamProtocol(_)
        ));
        let wrong_shape = decode_answer::<Vec<wire::Credential>>(
            Endpoint::Certificates,
            "/certificates/info",
            200,
            br#"{"credentials": []}"#,
        );
        assert!(matches!(
            wrong_shape,
            Err(ViettelError::Adapter(AdapterError::UpstreamProtocol(_)))
        ));
    }

    #[test]
    fn an_unnamed_error_in_a_success_answer_is_a_ca_fault() {
        let error = error_of(
            Endpoint::SignHash,
            200,
            r#"{"error": 12345, "error_description": "?"}"#,
        );
        assert!(matches!(
            error,
            AdapterError::UpstreamStatus { status: 502, .. }
        ));
    }

    #[test]
    fn token_answers_become_sessions() {
        let session = |json: serde_json::Value| session_from(serde_json::from_value(json).unwrap());
        let ok = session(serde_json::json!({
            "access_token": "abc", "refresh_token": "", "token_type": "Bearer", "expires_in": "3600"
        }))
        .unwrap();
        assert_eq!(ok.token, "abc");
        assert_eq!(ok.expires_in_secs, 3600);
        let silent = session(serde_json::json!({"access_token": "abc"})).unwrap();
        assert_eq!(silent.expires_in_secs, DOCUMENTED_TOKEN_LIFETIME_SECS);
        assert!(session(serde_json::json!({"access_token": ""})).is_err());
        assert!(session(serde_json::json!({"access_token": "a", "token_type": "MAC"})).is_err());
        assert!(session(serde_json::json!({"access_token": "a", "expires_in": "soon"})).is_err());
    }

    #[test]
    fn credentials_become_certificates() {
        let credential: wire::Credential = serde_json::from_value(serde_json::json!({
            "credential_id": "001099000001_2482540_20221017114147",
            "key": {"status": "enabled", "algo": ["1.2.840.113549.1.1.1"], "len": "2048", "curve": null},
            "cert": {"status": "valid", "certificates": ["AQ==", "Ag==", "Aw=="],
                     "validFrom": "20221017043150+0000"},
            "authMode": "implicit"
        }))
        .unwrap();
        let certificate = credential.into_certificate().unwrap();
        assert_eq!(
            certificate.certificate_id,
            "001099000001_2482540_20221017114147"
        );
        assert_eq!(certificate.certificate_der, vec![1]);
        assert_eq!(certificate.chain_der, vec![vec![2], vec![3]]);
        assert!(certificate.active);

        let revoked: wire::Credential = serde_json::from_value(serde_json::json!({
            "credential_id": "c", "key": {"status": "disabled"},
            "cert": {"status": "revoked", "certificates": ["AQ=="]}
        }))
        .unwrap();
        assert!(!revoked.into_certificate().unwrap().active);

        let empty: wire::Credential = serde_json::from_value(serde_json::json!({
            "credential_id": "c", "cert": {"certificates": []}
        }))
        .unwrap();
        assert!(matches!(
            empty.into_certificate(),
            Err(AdapterError::UpstreamProtocol(_))
        ));
    }

    #[test]
    fn references_round_trip_and_foreign_ones_are_refused() {
        let mut reference = reference(&["a", "b"]);
        reference.user_id = Some("CMT_001099000001".into());
        let text = reference.encode().unwrap();
        assert_eq!(Reference::decode(&text).unwrap(), reference);
        assert!(matches!(
            Reference::decode("de67f948-0498-4919-af28-dff54a6a4e77"),
            Err(AdapterError::InvalidRequest(_))
        ));
    }

    #[test]
    fn settings_are_read_from_configuration_and_keep_the_secret_out_of_debug() {
        let settings: ViettelSettings = serde_json::from_value(serde_json::json!({
            "base_url": "https://remotesigning.viettel.vn/vtss/service/",
            "client_id": "kyso",
            "client_secret": "very-secret",
            "profile_id": "adss:ras:profile:001",
            "token_scope": "user",
            "user_id_prefix": "CMT_"
        }))
        .unwrap();
        assert_eq!(settings.token_scope, TokenScope::User);
        assert!(!format!("{settings:?}").contains("very-secret"));
        let unknown = serde_json::from_value::<ViettelSettings>(serde_json::json!({
            "base_url": "u", "client_id": "c", "client_secret": "s", "profile_id": "p",
            "sp_password": "typo"
        }));
        assert!(unknown.is_err());
    }
}
