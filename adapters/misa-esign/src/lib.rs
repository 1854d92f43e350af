//! MISA eSign adapter: the unified signing protocol spoken as MISA-CA's RemoteSigning API.
//!
//! MISA's API is proprietary REST at `https://esignapp.misa.vn/` (MISA's "APIUrl"; the guide is
//! summarised in `ca-apis.md` §6 of the project's reference notes). Every call carries the
//! integrator's `x-clientId` and `x-clientKey` headers; the eSign calls (`/external/esrm/…`)
//! also carry `AuthorizationRM: Bearer <remoteSigningAccessToken>`, a token obtained by logging
//! in with a MISAID user name and password and valid for `expiresIn` (3600) seconds. A signing
//! request (`Signing/hash`) names MISA's `UserId` and `CertAlias` and carries the digests; it
//! answers a `transactionId`, the citizen confirms in the MISA eSign app, and the outcome is
//! read from `Signing/status/{transactionId}`: `PENDING`, `SUCCESS` (every document signed,
//! signatures in request order) or `FAILED`.
//!
//! # Sessions and citizens
//!
//! This adapter **uses sessions** ([`CaAdapter::needs_session`] is true). MISA's login is
//! user-delegated: a MISAID account logs in and lists *its own* certificates. The gateway knows
//! a citizen only by CCCD number and can neither hold citizens' passwords nor answer their
//! second factor, so it works at integrator level, as it does with every CA:
//! - [`CaAdapter::open_session`] logs in with the integrator's own MISAID service account
//!   ([`MisaSettings::username`]/[`MisaSettings::password`]); the session is its
//!   `remoteSigningAccessToken`, shared by every gateway instance until shortly before
//!   `expiresIn` runs out.
//! - Citizens connect their MISA eSign account to the integrator once, in MISA's own portal
//!   (the "connect eSign" step MISA's guide requires before `Signing/hash`). MISA's guide shows
//!   no look-up by CCCD (a gap): the adapter asks `Certificates/by-userId?userId=<CCCD>`,
//!   naming the citizen in a `userId` query parameter of the endpoint that, without one, lists
//!   the logged-in account's certificates. An unknown citizen is an empty list.
//! - A certificate's [`CaCertificate::certificate_id`] is MISA's `keyAlias` (`CertAlias`).
//!   [`CaAdapter::begin_sign`] lists the citizen's certificates again to find MISA's `UserId`
//!   for that key (a GUID of MISA's, not the CCCD) and to refuse a key that is not the
//!   citizen's or is not `ACTIVE` before anything reaches the citizen's phone.
//!
//! # Where MISA's guide is silent, and what this adapter decided
//!
//! - **Refresh tokens are not used.** MISA's guide refreshes on HTTP 401 and logs in again if
//!   refreshing fails. The gateway's session cache has no refresh step: a 401 on an eSign call
//!   is [`AdapterError::SessionExpired`], and the gateway logs in again, which ends in the same
//!   state.
//! - **Two-factor authentication** (login `errorCode 122`) cannot be answered by a server: the
//!   service account must have it turned off. Such a login is
//!   [`AdapterError::AuthenticationFailed`], with a warning in the log saying why.
//! - **Login path.** On MISA's sandbox the auth API lives under `/webdev/`, in production at the
//!   host root; [`MisaSettings::auth_base_url`] says where (default: `base_url`).
//! - **Digest encoding.** `FileToSign` takes the `digest` of MISA's own hash helper, whose
//!   encoding is not stated. The adapter sends the base64 of the raw digest, as MISA encodes
//!   every other binary field. MISA names only SHA-256; other algorithms are refused before any
//!   call.
//! - **Signature format** is not stated either. The adapter passes the base64-decoded
//!   `signature` on untouched; the gateway verifies it (raw PKCS#1 v1.5 is what VNPT and Viettel
//!   return, and what the simulator returns).
//! - **Why a transaction failed.** MISA documents `FAILED` with an `errorCode` and
//!   `errorDescription` but not their values. Like the VNPT adapter reading its status message,
//!   this one reads them: words of refusal (`reject`, `refuse`, `deny`, `declin`, `cancel`, `từ
//!   chối`, `hủy`) mean [`SignOutcome::Rejected`]; words of lapse (`expire`, `timeout`, `time
//!   out`, `hết hạn`, `hết thời gian`, `quá hạn`) mean [`SignOutcome::Expired`]; anything else
//!   is [`SignOutcome::Failed`]. The undocumented statuses `CANCELLED` and `EXPIRED`, which
//!   other integrators guard against, are read the same way; any other status is a protocol
//!   error, never a guess.
//! - **Error statuses.** MISA gives one error body (`{error, errorCode, devMsg, userMsg}`) but
//!   no table. Read as: any login failure = `AuthenticationFailed`; 401 = `SessionExpired`; 403
//!   = `AuthenticationFailed` (client id/key refused), or `CertificateUnusable` when the code
//!   names a certificate or key; 400/409/422 = `InvalidRequest`, or `CertificateUnusable` when
//!   the code says a certificate or key is inactive, revoked, expired, locked, suspended or
//!   disabled; 404 with MISA's error body on the status call = `TransactionNotFound`; 429 and
//!   502-504 = `Unavailable`; any other 5xx = `UpstreamStatus`.
//! - **Batches and ids.** MISA limits `DocumentId` to 36 characters and `DocumentName` to 100.
//!   The portal's ids are sent as they are when all fit; otherwise every document is sent as
//!   `doc-1`, `doc-2`, … Names are cut to 100 characters. Signatures are matched to documents
//!   by the `documentId` MISA returns, or by position when it returns none (MISA promises
//!   request order); anything else (a missing, extra, repeated or unknown signature) is a
//!   protocol error. Because an adapter keeps no state, the reference the gateway keeps
//!   (`ca_reference` of [`SignOutcome::Pending`]) is a small JSON object holding MISA's
//!   `transactionId` and the portal's document ids in order.
//! - **Display text.** `DataToBeDisplayed` may be HTML, so the portal's description is
//!   HTML-escaped before it is shown in the citizen's app.
//! - **Timed-out submissions** cannot be reconciled: MISA names its transactions itself and
//!   offers no look-up by ours, so [`CaAdapter::caller_reference`] stays `None`.
//! - **Confirmation window.** MISA publishes none (MisaConnect's client gives up after 60 s of
//!   polling, its own choice); [`default_capabilities`] says 300 s, as for VNPT.
//! - Webhooks and MISA's document hash/attach helpers are not used: the gateway polls, and
//!   portals hash and assemble their documents themselves.
//! - **Cancellation**: the protocol has none (MISA's guide lists login, certificates, hash,
//!   sign, status, attach and the webhook; nothing withdraws a `Signing/hash` request); the
//!   gateway records the cancel and stops following; the CA's own expiry ends the request.
//!   [`CaAdapter::cancel`] keeps its default.
//!
//! Every trait call is bounded as a whole by the request timeout (`begin_sign`'s two HTTP calls
//! share it). Credentials and tokens are held as [`secrecy::SecretString`] or in sensitive
//! header values, and never appear in logs or errors.

#![warn(missing_docs)]

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
use kyso_adapter_http::{AdapterFactory, CaHttp, CaRequest, CaResponse, Url, parse_base_url};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The login endpoint, under [`MisaSettings::auth_base_url`].
const LOGIN_PATH: &str = "api/auth/api/v1/auth/login-api";
/// The certificate list.
const CERTIFICATES_PATH: &str = "external/esrm/service/general/api/v1/Certificates/by-userId";
/// The signing request.
const SIGN_PATH: &str = "external/esrm/service/signing/api/v1/Signing/hash";
/// The status of a signing request; the transaction id follows as one more segment.
const STATUS_PATH: &str = "external/esrm/service/signing/api/v1/Signing/status";
/// MISA's limit on `DocumentId`.
const MAX_DOCUMENT_ID_CHARS: usize = 36;
/// MISA's limit on `DocumentName`.
const MAX_DOCUMENT_NAME_CHARS: usize = 100;
/// The login `errorCode` asking for a second factor.
const SECOND_FACTOR_REQUIRED: &str = "122";
/// The token lifetime MISA documents, used when a login answer omits `expiresIn`.
const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 3600;
/// The length of a SHA-256 digest.
const SHA256_LEN: usize = 32;

/// The `misa-esign` kind, as the gateway builds it.
#[derive(Debug, Clone, Copy, Default)]
pub struct MisaKind;

impl AdapterFactory for MisaKind {
    const KIND: &'static str = "misa-esign";
    type Settings = MisaSettings;

    /// What MISA eSign offers as far as its guide shows: SHA-256 over RSA keys. MISA states no
    /// batch limit nor confirmation window; 20 documents and 300 s follow the VNPT adapter.
    /// Deployments may change them in configuration.
    fn default_capabilities() -> Capabilities {
        Capabilities {
            hash_algorithms: vec![HashAlgorithm::Sha256],
            key_algorithms: vec![KeyAlgorithm::Rsa],
            max_documents: 20,
            confirmation_timeout: Duration::from_secs(300),
            // The protocol has no documented way to withdraw a request (see the module doc).
            cancel: false,
        }
    }

    fn build(
        descriptor: AdapterDescriptor,
        settings: MisaSettings,
        http: CaHttp,
    ) -> Result<Arc<dyn CaAdapter>, SettingsError> {
        Ok(Arc::new(MisaAdapter::new(descriptor, settings, http)?))
    }
}

/// The MISA-specific part of a provider's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MisaSettings {
    /// MISA's API URL, the host root every path of MISA's guide is relative to
    /// (`https://esignapp.misa.vn` in production; the sandbox host comes with the credentials).
    pub base_url: String,
    /// Where the auth API (`api/auth/…/login-api`) lives, when not under `base_url`: on MISA's
    /// sandbox it is `<sandbox host>/webdev`. Default: `base_url`.
    #[serde(default)]
    pub auth_base_url: Option<String>,
    /// The `x-clientId` MISA issued to this integrator (the same for sandbox and production).
    pub client_id: String,
    /// The `x-clientKey` MISA issued to this integrator.
    pub client_key: SecretString,
    /// The integrator's MISAID service account, which logs in for the gateway; two-factor
    /// authentication must be off for it.
    pub username: String,
    /// The service account's password.
    pub password: SecretString,
}

/// A MISA eSign provider.
#[derive(Debug)]
pub struct MisaAdapter {
    descriptor: AdapterDescriptor,
    settings: MisaSettings,
    http: CaHttp,
}

/// Which MISA endpoint an answer came from, for error mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Login,
    Certificates,
    SignHash,
    Status,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Self::Login => "login-api",
            Self::Certificates => "Certificates/by-userId",
            Self::SignHash => "Signing/hash",
            Self::Status => "Signing/status",
        }
    }
}

impl MisaAdapter {
    /// An adapter for one configured provider; `http` carries its timeouts. The request
    /// timeout bounds every call of the [`CaAdapter`] trait as a whole.
    ///
    /// # Errors
    /// A [`SettingsError`] naming `base_url` or `auth_base_url` when not an http(s) URL, or
    /// `client_id`, `client_key`, `username` or `password` when empty.
    pub fn new(
        descriptor: AdapterDescriptor,
        settings: MisaSettings,
        http: CaHttp,
    ) -> Result<Self, SettingsError> {
        let mut settings = settings;
        settings.base_url = parse_base_url("base_url", &settings.base_url)?;
        settings.auth_base_url = match settings.auth_base_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) => Some(parse_base_url("auth_base_url", url)?),
        };
        for (field, value) in [
            ("client_id", settings.client_id.as_str()),
            ("client_key", settings.client_key.expose_secret()),
            ("username", settings.username.as_str()),
            ("password", settings.password.expose_secret()),
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

    fn url(&self, base: &str, path: &str) -> Result<Url, AdapterError> {
        Url::parse(&format!("{base}/{path}")).map_err(|error| {
            AdapterError::Internal(format!("the MISA base URL is invalid: {error}"))
        })
    }

    /// `x-clientId` and `x-clientKey` (the key marked sensitive, so it never reaches a log).
    fn with_client_headers(&self, request: CaRequest) -> CaRequest {
        request
            .header("x-clientid", &self.settings.client_id)
            .secret_header("x-clientkey", self.settings.client_key.expose_secret())
    }

    /// The client headers plus `AuthorizationRM: Bearer <token>`.
    fn with_session_headers(&self, request: CaRequest, session: &CaSession) -> CaRequest {
        self.with_client_headers(request)
            .secret_header("authorizationrm", &format!("Bearer {}", session.token))
    }

    /// The deadline of one trait call: its HTTP calls share the request timeout.
    fn deadline(&self) -> Instant {
        Instant::now() + self.http.request_timeout()
    }

    /// `Certificates/by-userId?userId=<CCCD>`: the citizen's certificates as MISA lists them.
    async fn list_certificates(
        &self,
        session: &CaSession,
        user_id: &str,
        deadline: Instant,
    ) -> Result<Vec<wire::Cert>, AdapterError> {
        let mut url = self.url(&self.settings.base_url, CERTIFICATES_PATH)?;
        url.query_pairs_mut().append_pair("userId", user_id);
        let request = self.with_session_headers(self.http.get(url), session);
        let answer = request.within(deadline).send().await?;
        if !answer.is_success() {
            return Err(failure(Endpoint::Certificates, &answer));
        }
        let list: Option<Vec<wire::Cert>> = answer.json(Endpoint::Certificates.name())?;
        Ok(list.unwrap_or_default())
    }
}

/// The session the gateway must pass to every call of a CA with sessions.
fn required(session: Option<&CaSession>) -> Result<&CaSession, AdapterError> {
    session.ok_or_else(|| AdapterError::Internal("MISA calls need a login session".into()))
}

/// The error of an unsuccessful answer, read from MISA's error body when there is one.
fn failure(endpoint: Endpoint, answer: &CaResponse) -> AdapterError {
    let body: Option<wire::ResponseError> = serde_json::from_slice(&answer.body).ok();
    map_error(endpoint, answer.status, body.as_ref())
}

/// MISA's error answers as [`AdapterError`]s (see the module documentation for the table).
fn map_error(endpoint: Endpoint, status: u16, body: Option<&wire::ResponseError>) -> AdapterError {
    let code = body
        .map(|body| wire::code_text(body.error_code.as_ref()))
        .unwrap_or_default();
    let detail = body
        .and_then(|body| body.dev_msg.clone().or_else(|| body.error.clone()))
        .unwrap_or_default();
    let message = format!("{} answered {status} {code}: {detail}", endpoint.name());
    let lower = code.to_lowercase();
    let names_certificate = lower.contains("cert") || lower.contains("key");
    let unusable = names_certificate
        && [
            "inactive", "revoked", "expired", "locked", "suspend", "disabled", "unusable",
        ]
        .iter()
        .any(|word| lower.contains(word));
    match status {
        429 => AdapterError::Unavailable(format!("MISA is limiting the request rate ({message})")),
        502..=504 => AdapterError::Unavailable(message),
        500.. => AdapterError::UpstreamStatus { status, message },
        _ if endpoint == Endpoint::Login => AdapterError::AuthenticationFailed,
        401 => AdapterError::SessionExpired,
        403 if names_certificate => AdapterError::CertificateUnusable(message),
        403 => AdapterError::AuthenticationFailed,
        400 | 409 | 422 if unusable => AdapterError::CertificateUnusable(message),
        400 | 409 | 422 => AdapterError::InvalidRequest(message),
        _ => AdapterError::UpstreamStatus { status, message },
    }
}

fn decode_base64(field: &str, value: &str) -> Result<Vec<u8>, AdapterError> {
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    BASE64
        .decode(compact)
        .map_err(|error| AdapterError::UpstreamProtocol(format!("{field} is not base64: {error}")))
}

/// `ACTIVE`, or no status at all, means usable.
fn is_active(status: Option<&str>) -> bool {
    status.is_none_or(|status| status.trim().eq_ignore_ascii_case("ACTIVE"))
}

impl wire::Cert {
    fn active(&self) -> bool {
        is_active(self.key_status.as_deref()) && is_active(self.cert_status.as_deref())
    }

    fn status_text(&self) -> String {
        format!(
            "keyStatus {}, certStatus {}",
            self.key_status.as_deref().unwrap_or("-"),
            self.cert_status.as_deref().unwrap_or("-")
        )
    }

    fn into_certificate(self) -> Result<CaCertificate, AdapterError> {
        if self.key_alias.trim().is_empty() {
            return Err(AdapterError::UpstreamProtocol(
                "a certificate has no keyAlias".into(),
            ));
        }
        let active = self.active();
        let certificate_der = decode_base64("certificate", &self.certificate)?;
        // MISA's chain starts with the signer certificate itself; the gateway wants the
        // issuers only, nearest first.
        let chain_der = self
            .certiticate_chain
            .unwrap_or_default()
            .iter()
            .map(|cert| decode_base64("certiticateChain", cert))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|cert| !cert.is_empty() && *cert != certificate_der)
            .collect();
        Ok(CaCertificate {
            certificate_id: self.key_alias,
            certificate_der,
            chain_der,
            active,
        })
    }
}

/// What the gateway keeps for a transaction at MISA: MISA's id and the portal's document ids in
/// request order (needed to match signatures MISA returns without ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reference {
    #[serde(rename = "misa_tx")]
    transaction_id: String,
    #[serde(rename = "docs")]
    document_ids: Vec<String>,
}

impl Reference {
    fn encode(&self) -> Result<String, AdapterError> {
        serde_json::to_string(self)
            .map_err(|error| AdapterError::Internal(format!("encoding the reference: {error}")))
    }

    fn decode(text: &str) -> Result<Self, AdapterError> {
        serde_json::from_str::<Self>(text)
            .ok()
            .filter(|reference| {
                !reference.transaction_id.is_empty() && !reference.document_ids.is_empty()
            })
            .ok_or_else(|| {
                AdapterError::InvalidRequest("not a reference of the MISA adapter".into())
            })
    }
}

/// The `DocumentId`s sent to MISA: the portal's ids when every one fits MISA's 36 characters
/// (and they are distinct), else `doc-1`, `doc-2`, … for all.
fn misa_document_ids(ids: &[String]) -> Vec<String> {
    let fits = ids.iter().all(|id| {
        let chars = id.chars().count();
        (1..=MAX_DOCUMENT_ID_CHARS).contains(&chars)
    });
    let distinct = ids.iter().collect::<std::collections::HashSet<_>>().len() == ids.len();
    if fits && distinct {
        ids.to_vec()
    } else {
        (1..=ids.len()).map(|n| format!("doc-{n}")).collect()
    }
}

/// At most `max` characters of `text`.
fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// `DataToBeDisplayed`: the portal's description, HTML-escaped (MISA's app renders HTML).
fn display_text(description: &str, documents: usize) -> String {
    let text = description.trim();
    let text = if text.is_empty() {
        format!("Yêu cầu ký số {documents} tài liệu")
    } else {
        text.to_owned()
    };
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// A `FAILED` transaction's outcome, read from its code and description.
fn failed_outcome(code: &str, description: &str) -> SignOutcome {
    let text = format!("{code} {description}").to_lowercase();
    let refused = [
        "reject",
        "refus",
        "deny",
        "denied",
        "declin",
        "cancel",
        "từ chối",
        "hủy",
        "huỷ",
    ];
    let lapsed = [
        "expire",
        "timeout",
        "time out",
        "timed out",
        "hết hạn",
        "hết thời gian",
        "quá hạn",
    ];
    if refused.iter().any(|word| text.contains(word)) {
        SignOutcome::Rejected
    } else if lapsed.iter().any(|word| text.contains(word)) {
        SignOutcome::Expired
    } else {
        SignOutcome::Failed(format!("MISA: {code}: {description}"))
    }
}

/// A status answer as a [`SignOutcome`].
fn outcome(
    reference: &Reference,
    ca_reference: &str,
    answer: wire::SignStatus,
) -> Result<SignOutcome, AdapterError> {
    if let Some(id) = answer.transaction_id.as_deref()
        && !id.is_empty()
        && !id.eq_ignore_ascii_case(&reference.transaction_id)
    {
        return Err(AdapterError::UpstreamProtocol(
            "Signing/status answered for another transaction".into(),
        ));
    }
    match answer.status.trim().to_ascii_uppercase().as_str() {
        "PENDING" => Ok(SignOutcome::Pending {
            ca_reference: ca_reference.to_owned(),
        }),
        "SUCCESS" => Ok(SignOutcome::Signed(match_signatures(
            reference,
            answer.signatures.unwrap_or_default(),
        )?)),
        "FAILED" => Ok(failed_outcome(
            &wire::code_text(answer.error_code.as_ref()),
            answer.error_description.as_deref().unwrap_or_default(),
        )),
        "CANCELLED" | "CANCELED" => Ok(SignOutcome::Rejected),
        "EXPIRED" => Ok(SignOutcome::Expired),
        other => Err(AdapterError::UpstreamProtocol(format!(
            "Signing/status has an unknown status {other:?}"
        ))),
    }
}

/// One signature per document: by `documentId` where MISA gives one, else by position.
fn match_signatures(
    reference: &Reference,
    entries: Vec<wire::SignatureEntry>,
) -> Result<Vec<RawSignature>, AdapterError> {
    let sent = misa_document_ids(&reference.document_ids);
    if entries.len() != sent.len() {
        return Err(AdapterError::UpstreamProtocol(format!(
            "MISA returned {} signatures for {} documents",
            entries.len(),
            sent.len()
        )));
    }
    let mut slots: Vec<Option<Vec<u8>>> = vec![None; sent.len()];
    for (position, entry) in entries.into_iter().enumerate() {
        let value = entry
            .signature
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| {
                AdapterError::UpstreamProtocol(format!("signature {position} is empty"))
            })?;
        let index = match entry.document_id.filter(|id| !id.trim().is_empty()) {
            Some(id) => sent.iter().position(|sent| *sent == id).ok_or_else(|| {
                AdapterError::UpstreamProtocol(format!(
                    "a signature names document {id:?}, which was not sent"
                ))
            })?,
            None => position,
        };
        let slot = &mut slots[index];
        if slot.is_some() {
            return Err(AdapterError::UpstreamProtocol(format!(
                "two signatures for document {:?}",
                sent[index]
            )));
        }
        *slot = Some(decode_base64("signature", &value)?);
    }
    reference
        .document_ids
        .iter()
        .zip(slots)
        .map(|(document_id, signature)| {
            signature
                .map(|signature| RawSignature {
                    document_id: document_id.clone(),
                    signature,
                })
                .ok_or_else(|| {
                    AdapterError::UpstreamProtocol(format!("no signature for {document_id:?}"))
                })
        })
        .collect()
}

#[async_trait]
impl CaAdapter for MisaAdapter {
    fn descriptor(&self) -> &AdapterDescriptor {
        &self.descriptor
    }

    fn needs_session(&self) -> bool {
        true
    }

    async fn open_session(&self) -> Result<CaSession, AdapterError> {
        let deadline = self.deadline();
        let base = self
            .settings
            .auth_base_url
            .as_deref()
            .unwrap_or(&self.settings.base_url);
        let request = self
            .with_client_headers(self.http.post(self.url(base, LOGIN_PATH)?))
            .json(&wire::LoginRequest {
                user_name: &self.settings.username,
                password: self.settings.password.expose_secret(),
            });
        let answer = request.within(deadline).send().await?;
        let envelope: Option<wire::LoginEnvelope> = serde_json::from_slice(&answer.body).ok();
        let status = envelope
            .as_ref()
            .and_then(|envelope| envelope.status.as_ref());
        if status.is_some_and(|status| {
            wire::code_text(status.error_code.as_ref()) == SECOND_FACTOR_REQUIRED
        }) {
            tracing::warn!(
                provider = %self.descriptor.id,
                "MISA asks the integrator's service account for a second factor, which the \
                 gateway cannot give: turn two-factor authentication off for this account"
            );
            return Err(AdapterError::AuthenticationFailed);
        }
        if !answer.is_success() {
            return Err(failure(Endpoint::Login, &answer));
        }
        let envelope = envelope.ok_or_else(|| {
            AdapterError::UpstreamProtocol(
                "login-api: the answer is not MISA's login envelope".into(),
            )
        })?;
        if let Some(status) = envelope
            .status
            .as_ref()
            .filter(|status| status.error == Some(true))
        {
            tracing::debug!(
                provider = %self.descriptor.id,
                code = %wire::code_text(status.error_code.as_ref()),
                message = status.message.as_deref().unwrap_or_default(),
                "MISA refused the service account's login"
            );
            return Err(AdapterError::AuthenticationFailed);
        }
        let data = envelope.data.ok_or_else(|| {
            AdapterError::UpstreamProtocol("login-api: the answer has no data".into())
        })?;
        if data
            .token_type
            .as_deref()
            .is_some_and(|kind| !kind.eq_ignore_ascii_case("bearer"))
        {
            return Err(AdapterError::UpstreamProtocol(
                "login-api: the token is not a bearer token".into(),
            ));
        }
        let token = data
            .remote_signing_access_token
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                AdapterError::UpstreamProtocol(
                    "login-api: the answer has no remoteSigningAccessToken".into(),
                )
            })?;
        Ok(CaSession {
            token,
            expires_in_secs: data
                .expires_in
                .filter(|secs| *secs > 0)
                .unwrap_or(DEFAULT_TOKEN_LIFETIME_SECS),
        })
    }

    async fn certificates(
        &self,
        session: Option<&CaSession>,
        user_id: &str,
    ) -> Result<Vec<CaCertificate>, AdapterError> {
        let session = required(session)?;
        let deadline = self.deadline();
        self.list_certificates(session, user_id, deadline)
            .await?
            .into_iter()
            .map(wire::Cert::into_certificate)
            .collect()
    }

    async fn begin_sign(
        &self,
        session: Option<&CaSession>,
        request: &SignRequest,
    ) -> Result<SignOutcome, AdapterError> {
        let session = required(session)?;
        if request.hash_algorithm != HashAlgorithm::Sha256 {
            return Err(AdapterError::InvalidRequest(format!(
                "MISA signs SHA-256 digests only, not {}",
                request.hash_algorithm
            )));
        }
        if request.documents.is_empty() {
            return Err(AdapterError::InvalidRequest("no documents to sign".into()));
        }
        if let Some(document) = request
            .documents
            .iter()
            .find(|document| document.digest.len() != SHA256_LEN)
        {
            return Err(AdapterError::InvalidRequest(format!(
                "the digest of document {:?} is not {SHA256_LEN} bytes",
                document.id
            )));
        }
        let deadline = self.deadline();

        let certificates = self
            .list_certificates(session, &request.user_id, deadline)
            .await?;
        let certificate = certificates
            .iter()
            .find(|cert| cert.key_alias.eq_ignore_ascii_case(&request.certificate_id))
            .ok_or_else(|| {
                AdapterError::InvalidRequest(format!(
                    "certificate {} is not one of the citizen's certificates at MISA",
                    request.certificate_id
                ))
            })?;
        if !certificate.active() {
            return Err(AdapterError::CertificateUnusable(format!(
                "MISA reports {}",
                certificate.status_text()
            )));
        }

        let portal_ids: Vec<String> = request
            .documents
            .iter()
            .map(|document| document.id.clone())
            .collect();
        let sent_ids = misa_document_ids(&portal_ids);
        let body = wire::SignHashRequest {
            data_to_be_displayed: display_text(&request.description, request.documents.len()),
            user_id: &certificate.user_id,
            cert_alias: &certificate.key_alias,
            documents: request
                .documents
                .iter()
                .zip(&sent_ids)
                .map(|(document, sent_id)| wire::SignDocument {
                    document_id: sent_id,
                    file_to_sign: BASE64.encode(&document.digest),
                    document_name: truncate_chars(&document.name, MAX_DOCUMENT_NAME_CHARS),
                })
                .collect(),
        };
        let http_request = self
            .with_session_headers(
                self.http
                    .post(self.url(&self.settings.base_url, SIGN_PATH)?),
                session,
            )
            .json(&body);
        let answer = http_request.within(deadline).send().await?;
        if !answer.is_success() {
            return Err(failure(Endpoint::SignHash, &answer));
        }
        let signed: wire::SignHashResponse = answer.json(Endpoint::SignHash.name())?;
        let transaction_id = signed
            .transaction_id
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                AdapterError::UpstreamProtocol("Signing/hash: no transactionId".into())
            })?;
        let ca_reference = Reference {
            transaction_id,
            document_ids: portal_ids,
        }
        .encode()?;
        Ok(SignOutcome::Pending { ca_reference })
    }

    async fn poll(
        &self,
        session: Option<&CaSession>,
        ca_reference: &str,
    ) -> Result<SignOutcome, AdapterError> {
        let session = required(session)?;
        let reference = Reference::decode(ca_reference)?;
        let deadline = self.deadline();
        let mut url = self.url(&self.settings.base_url, STATUS_PATH)?;
        url.path_segments_mut()
            .map_err(|()| AdapterError::Internal("the MISA base URL cannot have paths".into()))?
            .push(&reference.transaction_id);
        let request = self.with_session_headers(self.http.get(url), session);
        let answer = request.within(deadline).send().await?;
        if answer.status == 404
            && serde_json::from_slice::<wire::ResponseError>(&answer.body).is_ok()
        {
            return Err(AdapterError::TransactionNotFound(
                reference.transaction_id.clone(),
            ));
        }
        if !answer.is_success() {
            return Err(failure(Endpoint::Status, &answer));
        }
        let status: wire::SignStatus = answer.json(Endpoint::Status.name())?;
        outcome(&reference, ca_reference, status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error_body(code: &str) -> wire::ResponseError {
        serde_json::from_value(json!({
            "error": "x", "errorCode": code, "devMsg": "detail", "userMsg": "thông báo"
        }))
        .unwrap()
    }

    /// The variant's name, to compare errors in tables.
    fn kind(error: &AdapterError) -> &'static str {
        match error {
            AdapterError::AuthenticationFailed => "authentication",
            AdapterError::SessionExpired => "session",
            AdapterError::CertificateUnusable(_) => "certificate",
            AdapterError::InvalidRequest(_) => "invalid",
            AdapterError::Unavailable(_) => "unavailable",
            AdapterError::UpstreamStatus { .. } => "status",
            AdapterError::TransactionNotFound(_) => "transaction",
            _ => "other",
        }
    }

    #[test]
    fn error_statuses_map_to_faults() {
        let body = error_body("InvalidRequest");
        let cases = [
            (Endpoint::Login, 401, "x", "authentication"),
            (Endpoint::Login, 400, "x", "authentication"),
            (Endpoint::Login, 403, "InvalidClient", "authentication"),
            (Endpoint::Certificates, 401, "TokenExpired", "session"),
            (Endpoint::Status, 401, "InvalidToken", "session"),
            (
                Endpoint::Certificates,
                403,
                "InvalidClient",
                "authentication",
            ),
            (Endpoint::SignHash, 403, "CertificateRevoked", "certificate"),
            (
                Endpoint::SignHash,
                400,
                "CertificateInactive",
                "certificate",
            ),
            (Endpoint::SignHash, 400, "CertificateNotFound", "invalid"),
            (Endpoint::SignHash, 400, "InvalidRequest", "invalid"),
            (
                Endpoint::Certificates,
                429,
                "TooManyRequests",
                "unavailable",
            ),
            (Endpoint::Certificates, 404, "NotFound", "status"),
        ];
        for (endpoint, status, code, expected) in cases {
            let body = error_body(code);
            let error = map_error(endpoint, status, Some(&body));
            assert_eq!(
                kind(&error),
                expected,
                "{endpoint:?} {status} {code}: {error:?}"
            );
        }
        // The CA's own failures are retryable CA faults, with or without MISA's body.
        for status in [500, 502, 503, 504] {
            for body in [Some(&body), None] {
                let error = map_error(Endpoint::Certificates, status, body);
                assert!(error.is_retryable(), "{status}: {error:?}");
                assert_eq!(error.fault(), kyso_adapter_core::Fault::Ca);
            }
        }
        assert!(matches!(
            map_error(Endpoint::Login, 503, None),
            AdapterError::Unavailable(_)
        ));
    }

    #[test]
    fn numeric_error_codes_are_read() {
        let body: wire::ResponseError = serde_json::from_value(json!({"errorCode": 122})).unwrap();
        assert_eq!(wire::code_text(body.error_code.as_ref()), "122");
    }

    fn reference(ids: &[&str]) -> Reference {
        Reference {
            transaction_id: "5f0c2a6e-0000-4000-8000-000000000001".into(),
            document_ids: ids.iter().map(|id| (*id).to_owned()).collect(),
        }
    }

    fn status(value: serde_json::Value) -> wire::SignStatus {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn status_words_map_to_outcomes() {
        let reference = reference(&["a"]);
        let pending = outcome(&reference, "ref", status(json!({"status": "PENDING"}))).unwrap();
        assert_eq!(
            pending,
            SignOutcome::Pending {
                ca_reference: "ref".into()
            }
        );
        let cases = [
            (
                "UserRejected",
                "Người dùng từ chối yêu cầu ký",
                SignOutcome::Rejected,
            ),
            ("", "Người dùng đã hủy giao dịch", SignOutcome::Rejected),
            ("SIGN_CANCELLED", "", SignOutcome::Rejected),
            ("TransactionExpired", "", SignOutcome::Expired),
            ("", "Yêu cầu ký đã hết hạn xác nhận", SignOutcome::Expired),
            ("Timeout", "", SignOutcome::Expired),
        ];
        for (code, description, expected) in cases {
            let answer = status(json!({
                "status": "FAILED", "errorCode": code, "errorDescription": description
            }));
            assert_eq!(
                outcome(&reference, "ref", answer).unwrap(),
                expected,
                "{code} {description}"
            );
        }
        let failed = outcome(
            &reference,
            "ref",
            status(json!({"status": "failed", "errorCode": 500, "errorDescription": "HSM error"})),
        )
        .unwrap();
        assert!(matches!(failed, SignOutcome::Failed(message) if message.contains("HSM error")));
        assert_eq!(
            outcome(&reference, "ref", status(json!({"status": "CANCELLED"}))).unwrap(),
            SignOutcome::Rejected
        );
        assert!(matches!(
            outcome(&reference, "ref", status(json!({"status": "DONE"}))),
            Err(AdapterError::UpstreamProtocol(_))
        ));
        assert!(matches!(
            outcome(
                &reference,
                "ref",
                status(json!({"status": "PENDING", "transactionId": "another"}))
            ),
            Err(AdapterError::UpstreamProtocol(_))
        ));
    }

    #[test]
    fn signatures_match_by_document_id_whatever_their_order() {
        let reference = reference(&["a", "b"]);
        let answer = status(json!({"status": "SUCCESS", "signatures": [
            {"documentId": "b", "signature": "Ag=="},
            {"documentId": "a", "signature": "AQ=="},
        ]}));
        let SignOutcome::Signed(signatures) = outcome(&reference, "ref", answer).unwrap() else {
            panic!("signed expected");
        };
        assert_eq!(signatures[0].document_id, "a");
        assert_eq!(signatures[0].signature, vec![1]);
        assert_eq!(signatures[1].document_id, "b");
        assert_eq!(signatures[1].signature, vec![2]);
    }

    #[test]
    fn signatures_without_ids_match_by_position() {
        let reference = reference(&["a", "b"]);
        let answer = status(json!({"status": "SUCCESS", "signatures": [
            {"signature": "AQ=="}, {"signature": "Ag=="},
        ]}));
        let SignOutcome::Signed(signatures) = outcome(&reference, "ref", answer).unwrap() else {
            panic!("signed expected");
        };
        assert_eq!(
            signatures
                .iter()
                .map(|s| (s.document_id.as_str(), s.signature.clone()))
                .collect::<Vec<_>>(),
            vec![("a", vec![1]), ("b", vec![2])]
        );
    }

    #[test]
    fn substituted_ids_map_back_to_the_portals() {
        let long = "x".repeat(MAX_DOCUMENT_ID_CHARS + 1);
        let reference = reference(&["short", &long]);
        assert_eq!(
            misa_document_ids(&reference.document_ids),
            vec!["doc-1", "doc-2"]
        );
        let answer = status(json!({"status": "SUCCESS", "signatures": [
            {"documentId": "doc-2", "signature": "Ag=="},
            {"documentId": "doc-1", "signature": "AQ=="},
        ]}));
        let SignOutcome::Signed(signatures) = outcome(&reference, "ref", answer).unwrap() else {
            panic!("signed expected");
        };
        assert_eq!(signatures[0].document_id, "short");
        assert_eq!(signatures[1].document_id, long);
        assert_eq!(signatures[1].signature, vec![2]);
    }

    #[test]
    fn incomplete_or_inconsistent_batches_are_protocol_errors() {
        let reference = reference(&["a", "b"]);
        for signatures in [
            json!([{"documentId": "a", "signature": "AQ=="}]),
            json!([{"documentId": "a", "signature": "AQ=="}, {"documentId": "a", "signature": "Ag=="}]),
            json!([{"documentId": "a", "signature": "AQ=="}, {"documentId": "z", "signature": "Ag=="}]),
            json!([{"documentId": "a", "signature": "AQ=="}, {"documentId": "b", "signature": ""}]),
            json!([{"documentId": "a", "signature": "AQ=="}, {"documentId": "b", "signature": "!!"}]),
            json!(null),
        ] {
            let answer = status(json!({"status": "SUCCESS", "signatures": signatures}));
            assert!(
                matches!(
                    outcome(&reference, "ref", answer),
                    Err(AdapterError::UpstreamProtocol(_))
                ),
                "{signatures}"
            );
        }
    }

    #[test]
    fn reference_round_trips_and_refuses_strangers() {
        let reference = reference(&["a", "b"]);
        let text = reference.encode().unwrap();
        assert_eq!(Reference::decode(&text).unwrap(), reference);
        for stranger in ["", "5f0c2a6e", "{\"misa_tx\":\"\",\"docs\":[\"a\"]}", "{}"] {
            assert!(matches!(
                Reference::decode(stranger),
                Err(AdapterError::InvalidRequest(_))
            ));
        }
    }

    #[test]
    fn portal_ids_are_kept_when_they_fit() {
        let ids = vec!["doc-0".to_owned(), "x".repeat(MAX_DOCUMENT_ID_CHARS)];
        assert_eq!(misa_document_ids(&ids), ids);
    }

    #[test]
    fn display_text_is_escaped_and_never_empty() {
        assert_eq!(
            display_text("Hồ sơ <b>số 1</b> & \"2\"", 1),
            "Hồ sơ &lt;b&gt;số 1&lt;/b&gt; &amp; &quot;2&quot;"
        );
        assert_eq!(display_text("  ", 3), "Yêu cầu ký số 3 tài liệu");
        assert_eq!(
            truncate_chars(&"ồ".repeat(150), MAX_DOCUMENT_NAME_CHARS)
                .chars()
                .count(),
            100
        );
    }

    #[test]
    fn certificate_chain_drops_the_signer_and_reads_status() {
        let cert: wire::Cert = serde_json::from_value(json!({
            "userId": "u", "keyAlias": "k", "keyStatus": "ACTIVE", "certStatus": "ACTIVE",
            "certificate": "AQ==", "certiticateChain": ["AQ==", "Ag==", "Aw=="]
        }))
        .unwrap();
        let certificate = cert.into_certificate().unwrap();
        assert_eq!(certificate.certificate_id, "k");
        assert_eq!(certificate.certificate_der, vec![1]);
        assert_eq!(certificate.chain_der, vec![vec![2], vec![3]]);
        assert!(certificate.active);

        let inactive: wire::Cert = serde_json::from_value(json!({
            "userId": "u", "keyAlias": "k", "keyStatus": "INACTIVE",
            "certificate": "AQ==", "certificateChain": ["Ag=="]
        }))
        .unwrap();
        let certificate = inactive.into_certificate().unwrap();
        assert!(!certificate.active);
        assert_eq!(certificate.chain_der, vec![vec![2]]);
    }

    #[test]
    fn settings_refuse_unknown_fields_and_hide_secrets() {
        let settings: MisaSettings = serde_json::from_value(json!({
            "base_url": "https://esignapp.misa.vn/", "client_id": "id", "client_key": "key-secret",
            "username": "svc", "password": "password-secret"
        }))
        .unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains("key-secret") && !debug.contains("password-secret"));
        assert!(
            serde_json::from_value::<MisaSettings>(json!({
                "base_url": "u", "client_id": "i", "client_key": "k", "username": "s",
                "password": "p", "sp_id": "x"
            }))
            .is_err()
        );
    }
}
