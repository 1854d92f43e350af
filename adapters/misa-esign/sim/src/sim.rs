//! The simulator's state and logic: logins and tokens, certificate look-ups, signing
//! transactions resolved lazily against the clock, and [`SimControl`], the control surface for
//! tests and demos. The HTTP layers (`ca_routes`, and the kit's `/_sim` routes through
//! [`ControlTarget`]) only translate to and from these functions. Fault injection, delay and the
//! request log are the kit's [`CallGate`], recording MISA's [`RecordedRequest`].
//!
//! All transaction and token state sits behind one `std::sync::Mutex`, never held across an
//! `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use kyso_sim_kit::faults::corrupt;
use kyso_sim_kit::{
    CallGate, CitizenKey, ControlError, ControlTarget, Decision, DigestAlgorithm, KeyKind,
    Revocation, SignatureScheme,
};
use serde::Serialize;

use crate::SimError;
use crate::config::{Behaviour, SimConfig};
use crate::pki::{self, Citizen, MisaPki};
use crate::wire::{
    self, Cert, LoginRequest, LoginUser, RefreshRequest, RefreshResponse, ResendOtpRequest,
    SecondFactors, SignHashRequest, SignHashResponse, SignStatus, SignatureItem, TokenData,
    TwoFactorRequest, VerifyUser,
};

pub use kyso_sim_kit::{Fault, MAX_RECORDED_REQUESTS};

/// The most characters of a `DocumentId` (MISA's limit).
const MAX_DOCUMENT_ID_CHARS: usize = 36;
/// The most characters of a `DocumentName` (MISA's limit).
const MAX_DOCUMENT_NAME_CHARS: usize = 100;
/// The most documents in one Signing/hash call (the simulator's limit; MISA states none).
pub const MAX_DOCUMENTS: usize = 50;
/// The length of a SHA-256 digest, the only algorithm MISA names.
const DIGEST_LEN: usize = 32;
/// How long a refresh token stays usable (the simulator's choice).
const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long after a password login the one-time code is accepted.
const OTP_WINDOW: Duration = Duration::from_secs(300);
/// `appName` of every certificate.
const APP_NAME: &str = "MISA eSign";
/// `keyStatus`/`certStatus` of a usable key.
const ACTIVE: &str = "ACTIVE";
/// `keyStatus`/`certStatus` of an unusable key.
const INACTIVE: &str = "INACTIVE";
/// Fields whose values never reach the request log.
const SECRET_FIELDS: [&str; 4] = ["password", "code", "refreshToken", "RefreshToken"];

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionState {
    /// Waiting for the citizen (`PENDING`).
    Pending,
    /// Every document is signed (`SUCCESS`).
    Signed,
    /// The citizen refused (`FAILED`, `UserRejected`).
    Rejected,
    /// Nobody answered in time (`FAILED`, `TransactionExpired`).
    Expired,
}

/// A snapshot of one transaction, for tests and `/_sim`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimTransaction {
    /// MISA's `transactionId` (a GUID the simulator chose).
    pub transaction_id: String,
    /// The citizen's CCCD number.
    pub user_id: String,
    /// Current state, resolved against the clock when the snapshot was taken.
    pub state: TransactionState,
    /// Number of documents.
    pub document_count: usize,
}

/// One call of a CA endpoint, as received (secrets in the body masked): the record of the
/// simulator's request log, which keeps the method and query string besides the kit's path and
/// body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The path, e.g. `/external/esrm/service/signing/api/v1/Signing/hash`.
    pub path: String,
    /// The query string without `?` (empty if none).
    pub query: String,
    /// The JSON body with `password`, `code` and `refreshToken` values replaced by
    /// `"[REDACTED]"`; `null` for an empty body; a JSON string holding the text of a body that
    /// is not JSON.
    pub body: serde_json::Value,
}

/// A citizen as the simulator knows it, for tests and `/_sim`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CitizenInfo {
    /// CCCD number.
    pub user_id: String,
    /// Full name (the certificate's CN).
    pub full_name: String,
    /// What the citizen currently does with signing requests.
    pub behaviour: Behaviour,
    /// MISA's subscriber id (`Cert.userId`).
    pub misa_user_id: String,
    /// MISA's key id (`keyAlias`).
    pub key_alias: String,
    /// `ACTIVE` or `INACTIVE`.
    pub key_status: &'static str,
    /// Uppercase hex serial number of the certificate.
    pub serial_number: String,
}

/// An error answer of a CA endpoint in MISA's `ResponseError` shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CaError {
    /// 403: `x-clientId`/`x-clientKey` missing or wrong.
    InvalidClient,
    /// 401: `AuthorizationRM` missing, malformed or unknown.
    InvalidToken(&'static str),
    /// 401: the access token expired (or was expired through the controls).
    TokenExpired,
    /// 401: the refresh token is unknown or expired.
    InvalidRefreshToken,
    /// 400: malformed or invalid request.
    BadRequest(String),
    /// 400: `CertAlias` is not a key of `UserId`.
    CertificateNotOwned,
    /// 400: the key is `INACTIVE`.
    CertificateInactive,
    /// 404: no certificate has this alias.
    UnknownCertificate,
    /// 404: no transaction has this id.
    TransactionNotFound,
    /// 501: an endpoint of MISA's API the simulator does not offer.
    NotSimulated(&'static str),
    /// 404: no such endpoint.
    NotFound,
    /// 500.
    Internal,
    /// An injected [`Fault::Status`].
    Injected(u16),
}

impl CaError {
    /// The HTTP status.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::InvalidClient => 403,
            Self::InvalidToken(_) | Self::TokenExpired | Self::InvalidRefreshToken => 401,
            Self::BadRequest(_) | Self::CertificateNotOwned | Self::CertificateInactive => 400,
            Self::UnknownCertificate | Self::TransactionNotFound | Self::NotFound => 404,
            Self::NotSimulated(_) => 501,
            Self::Internal => 500,
            Self::Injected(status) => *status,
        }
    }

    /// `error`, `errorCode`, `devMsg`, `userMsg`.
    pub(crate) fn body(&self) -> wire::ResponseError {
        let (error, code, dev, user): (&str, &str, String, &str) = match self {
            Self::InvalidClient => (
                "Forbidden",
                "InvalidClient",
                "x-clientId or x-clientKey is missing or wrong".into(),
                "Ứng dụng tích hợp chưa được cấp quyền",
            ),
            Self::InvalidToken(detail) => (
                "Unauthorized",
                "InvalidToken",
                (*detail).to_owned(),
                "Phiên đăng nhập không hợp lệ",
            ),
            Self::TokenExpired => (
                "Unauthorized",
                "TokenExpired",
                "the access token has expired".into(),
                "Phiên đăng nhập đã hết hạn",
            ),
            Self::InvalidRefreshToken => (
                "Unauthorized",
                "InvalidRefreshToken",
                "the refresh token is unknown or expired".into(),
                "Phiên đăng nhập đã hết hạn",
            ),
            Self::BadRequest(detail) => (
                "Bad Request",
                "InvalidRequest",
                detail.clone(),
                "Dữ liệu không hợp lệ",
            ),
            Self::CertificateNotOwned => (
                "Bad Request",
                "CertificateNotFound",
                "CertAlias is not a certificate of UserId".into(),
                "Không tìm thấy chứng thư số",
            ),
            Self::CertificateInactive => (
                "Bad Request",
                "CertificateInactive",
                "the signing key is INACTIVE".into(),
                "Chứng thư số không ở trạng thái hoạt động",
            ),
            Self::UnknownCertificate => (
                "Not Found",
                "CertificateNotFound",
                "no certificate has this certAlias".into(),
                "Không tìm thấy chứng thư số",
            ),
            Self::TransactionNotFound => (
                "Not Found",
                "TransactionNotFound",
                "no signing transaction has this id".into(),
                "Không tìm thấy lượt ký",
            ),
            Self::NotSimulated(what) => (
                "Not Implemented",
                "NotSimulated",
                format!("{what} is not part of the simulator"),
                "Chức năng chưa được hỗ trợ",
            ),
            Self::NotFound => (
                "Not Found",
                "NotFound",
                "no such endpoint".into(),
                "Không tìm thấy",
            ),
            Self::Internal => (
                "Internal Server Error",
                "InternalError",
                "unexpected error".into(),
                "Hệ thống đang gặp sự cố",
            ),
            Self::Injected(status) => {
                let code = match status {
                    500 => "InternalError",
                    502 => "BadGateway",
                    503 => "ServiceUnavailable",
                    504 => "GatewayTimeout",
                    _ => "Error",
                };
                (
                    code,
                    code,
                    format!("injected HTTP {status}"),
                    "Hệ thống đang bận, vui lòng thử lại sau",
                )
            }
        };
        wire::ResponseError {
            error: error.to_owned(),
            error_code: code.to_owned(),
            dev_msg: dev,
            user_msg: user.to_owned(),
        }
    }
}

/// Why a login-family call failed; answered in the login envelope, not `ResponseError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LoginFailure {
    /// HTTP 400: malformed body.
    BadRequest(String),
    /// HTTP 401: wrong user name or password.
    BadCredentials,
    /// HTTP 200, `errorCode 122`: the password was right, a second factor is needed.
    NeedsSecondFactor,
    /// HTTP 401: wrong one-time code, or none expected.
    BadOtp,
}

impl LoginFailure {
    /// HTTP status, `errorCode`, message.
    pub(crate) fn parts(&self) -> (u16, u32, String) {
        match self {
            Self::BadRequest(detail) => (400, wire::LOGIN_BAD_REQUEST, detail.clone()),
            Self::BadCredentials => (
                401,
                wire::LOGIN_BAD_CREDENTIALS,
                "Tên đăng nhập hoặc mật khẩu không đúng".to_owned(),
            ),
            Self::NeedsSecondFactor => (
                200,
                wire::LOGIN_NEEDS_SECOND_FACTOR,
                "Tài khoản yêu cầu xác thực hai lớp".to_owned(),
            ),
            Self::BadOtp => (
                401,
                wire::LOGIN_BAD_OTP,
                "Mã xác thực không đúng hoặc đã hết hạn".to_owned(),
            ),
        }
    }
}

struct AccessToken {
    expires_at: Instant,
    revoked: bool,
}

struct Document {
    id: String,
    digest: Vec<u8>,
}

struct Transaction {
    id: String,
    /// Index into `TestPki::citizens`.
    citizen: usize,
    created: Instant,
    documents: Vec<Document>,
    state: TransactionState,
    /// One per document once signed.
    signatures: Vec<Vec<u8>>,
    /// Whether a `SUCCESS` answer went out (corruption is applied then).
    delivered: bool,
}

#[derive(Default)]
struct State {
    access_tokens: HashMap<String, AccessToken>,
    refresh_tokens: HashMap<String, Instant>,
    /// Until when a one-time code is accepted after a password login.
    otp_window_until: Option<Instant>,
    transactions: Vec<Transaction>,
    by_id: HashMap<String, usize>,
    /// Behaviours set at run time, by citizen index.
    behaviours: HashMap<usize, Behaviour>,
}

/// The simulator proper, shared by the HTTP server and every [`SimControl`].
pub(crate) struct Sim {
    config: SimConfig,
    /// The service account's MISA user id.
    integrator_user_id: String,
    pki: MisaPki,
    by_cccd: HashMap<String, usize>,
    /// Faults, delay and the request log (secret fields redacted).
    pub(crate) gate: CallGate<RecordedRequest>,
    state: Mutex<State>,
}

impl Sim {
    /// Generates the PKI. CPU-bound: run it off the executor.
    /// Its certificates point at `base_url` (the simulator's own address) for revocation data.
    pub(crate) fn new(config: SimConfig, base_url: String) -> Result<Self, SimError> {
        config.validate().map_err(SimError::InvalidConfig)?;
        let pki = MisaPki::generate(&config.citizens, base_url)?;
        let by_cccd = pki
            .citizens
            .iter()
            .enumerate()
            .map(|(index, citizen)| (citizen.spec.user_id.clone(), index))
            .collect();
        Ok(Self {
            config,
            integrator_user_id: uuid::Uuid::new_v4().to_string(),
            pki,
            by_cccd,
            gate: CallGate::new().redacting(SECRET_FIELDS),
            state: Mutex::new(State::default()),
        })
    }

    /// The root certificate, PEM.
    pub(crate) fn root_pem(&self) -> &str {
        &self.pki.root_pem
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held and every mutation leaves the state
        // consistent, so a poisoned lock still guards usable state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Start of every CA-endpoint call: records it (secrets redacted) and takes the armed fault
    /// and the delay, for [`kyso_sim_kit::wait_out`].
    pub(crate) fn begin_call(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> (Option<Fault>, Duration) {
        self.gate.record(RecordedRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            body: self.gate.parse_body(body),
        })
    }

    /// The `x-clientId`/`x-clientKey` check every endpoint starts with.
    pub(crate) fn check_client(
        &self,
        client_id: Option<&str>,
        client_key: Option<&str>,
    ) -> Result<(), CaError> {
        if client_id == Some(self.config.client_id.as_str())
            && client_key == Some(self.config.client_key.as_str())
        {
            Ok(())
        } else {
            Err(CaError::InvalidClient)
        }
    }

    /// The `AuthorizationRM: Bearer <remoteSigningAccessToken>` check of the eSign endpoints.
    pub(crate) fn check_token(&self, authorization: Option<&str>) -> Result<(), CaError> {
        let value = authorization.ok_or(CaError::InvalidToken("AuthorizationRM is missing"))?;
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or(CaError::InvalidToken(
                "AuthorizationRM must be \"Bearer <remoteSigningAccessToken>\"",
            ))?;
        let state = self.lock();
        let known = state
            .access_tokens
            .get(token)
            .ok_or(CaError::InvalidToken("unknown access token"))?;
        if known.revoked || Instant::now() >= known.expires_at {
            return Err(CaError::TokenExpired);
        }
        Ok(())
    }

    /// A fresh set of tokens for the service account.
    fn issue_tokens(&self, state: &mut State) -> TokenData {
        let now = Instant::now();
        state
            .access_tokens
            .retain(|_, token| !token.revoked && token.expires_at > now);
        state.refresh_tokens.retain(|_, expires| *expires > now);
        let remote = random_token();
        let refresh = random_token();
        state.access_tokens.insert(
            remote.clone(),
            AccessToken {
                expires_at: now + self.config.token_lifetime,
                revoked: false,
            },
        );
        state
            .refresh_tokens
            .insert(refresh.clone(), now + REFRESH_TOKEN_LIFETIME);
        tracing::debug!("access token issued to the service account");
        TokenData {
            access_token: random_token(),
            remote_signing_access_token: remote,
            token_type: "Bearer",
            expires_in: self.config.token_lifetime.as_secs().max(1),
            refresh_token: refresh,
            user: LoginUser {
                id: self.integrator_user_id.clone(),
                email: format!("{}@example.invalid", self.config.username),
                phone_number: String::new(),
                first_name: "Kyso".to_owned(),
                last_name: "Integrator".to_owned(),
                username: self.config.username.clone(),
            },
            default: SecondFactors {
                email: false,
                phone_number: false,
                app_authenticator: self.config.otp_code.is_some(),
            },
            verify_user: VerifyUser {
                emails_verify: true,
                phone_number_is_verify: true,
                is_change_password: false,
            },
        }
    }

    /// `POST …/auth/login-api`.
    pub(crate) fn login(&self, request: &LoginRequest) -> Result<TokenData, LoginFailure> {
        if request.user_name != self.config.username || request.password != self.config.password {
            return Err(LoginFailure::BadCredentials);
        }
        let mut state = self.lock();
        if self.config.otp_code.is_some() {
            state.otp_window_until = Some(Instant::now() + OTP_WINDOW);
            return Err(LoginFailure::NeedsSecondFactor);
        }
        Ok(self.issue_tokens(&mut state))
    }

    /// `POST …/auth/two-factor-auth`.
    pub(crate) fn two_factor(&self, request: &TwoFactorRequest) -> Result<TokenData, LoginFailure> {
        let mut state = self.lock();
        let in_window = state
            .otp_window_until
            .is_some_and(|until| Instant::now() < until);
        let code_ok = self.config.otp_code.as_deref() == Some(request.code.as_str());
        if request.user_name != self.config.username || !in_window || !code_ok {
            return Err(LoginFailure::BadOtp);
        }
        state.otp_window_until = None;
        Ok(self.issue_tokens(&mut state))
    }

    /// `POST …/auth/resend-otp-auth`: the code is "sent" again (nothing to do).
    pub(crate) fn resend_otp(&self, request: &ResendOtpRequest) -> Result<String, LoginFailure> {
        let mut state = self.lock();
        let in_window = state
            .otp_window_until
            .is_some_and(|until| Instant::now() < until);
        if request.user_name != self.config.username || !in_window {
            return Err(LoginFailure::BadOtp);
        }
        state.otp_window_until = Some(Instant::now() + OTP_WINDOW);
        Ok(request.user_name.clone())
    }

    /// `POST …/auth/refreshtoken`: a refresh token is used once and replaced.
    pub(crate) fn refresh(&self, request: &RefreshRequest) -> Result<RefreshResponse, CaError> {
        let mut state = self.lock();
        let expires = state
            .refresh_tokens
            .remove(&request.refresh_token)
            .ok_or(CaError::InvalidRefreshToken)?;
        if Instant::now() >= expires {
            return Err(CaError::InvalidRefreshToken);
        }
        let data = self.issue_tokens(&mut state);
        Ok(RefreshResponse {
            remote_signing_access_token: data.remote_signing_access_token,
            access_token: data.access_token,
            refresh_token: data.refresh_token,
            expires_in: data.expires_in,
        })
    }

    fn cert(&self, citizen: &Citizen) -> Cert {
        let status = if citizen.spec.key_active {
            ACTIVE
        } else {
            INACTIVE
        };
        Cert {
            user_id: citizen.misa_user_id.clone(),
            key_alias: citizen.key_alias.clone(),
            app_name: APP_NAME,
            key_status: status,
            certificate: BASE64.encode(&citizen.cert_der),
            certiticate_chain: vec![
                BASE64.encode(&citizen.cert_der),
                BASE64.encode(&self.pki.issuing_der),
                BASE64.encode(&self.pki.root_der),
            ],
            cert_status: if self.pki.revocation.is_revoked(&citizen.serial) {
                INACTIVE
            } else {
                status
            },
            effective_date: pki::misa_date_time(citizen.not_before),
            expiration_date: pki::misa_date_time(citizen.not_after),
            email_name: format!("{}@example.invalid", citizen.spec.user_id),
            is_auto_sign: false,
        }
    }

    /// `GET …/Certificates/by-userId[?userId=…]`.
    ///
    /// Without `userId`: the service account's own certificates (it holds none). With it: the
    /// certificates of the citizen with this CCCD number (or MISA user id) who connected their
    /// MISA eSign account to this integrator; an unknown citizen has none.
    pub(crate) fn certificates_of(&self, user: Option<&str>) -> Vec<Cert> {
        let Some(user) = user.map(str::trim).filter(|user| !user.is_empty()) else {
            return Vec::new();
        };
        self.pki
            .citizens
            .iter()
            .filter(|citizen| {
                citizen.spec.user_id == user || citizen.misa_user_id.eq_ignore_ascii_case(user)
            })
            .map(|citizen| self.cert(citizen))
            .collect()
    }

    /// `GET …/Certificates/by-certId?certAlias=…`.
    pub(crate) fn certificate_by_alias(&self, alias: &str) -> Result<Cert, CaError> {
        self.pki
            .citizens
            .iter()
            .find(|citizen| citizen.key_alias.eq_ignore_ascii_case(alias.trim()))
            .map(|citizen| self.cert(citizen))
            .ok_or(CaError::UnknownCertificate)
    }

    /// `POST …/Signing/hash`: validates and opens a transaction waiting for the citizen.
    pub(crate) fn sign_hash(&self, request: SignHashRequest) -> Result<SignHashResponse, CaError> {
        if request.data_to_be_displayed.trim().is_empty() {
            return Err(CaError::BadRequest("DataToBeDisplayed is empty".into()));
        }
        let index = self
            .pki
            .citizens
            .iter()
            .position(|citizen| {
                citizen
                    .key_alias
                    .eq_ignore_ascii_case(request.cert_alias.trim())
            })
            .ok_or(CaError::CertificateNotOwned)?;
        let citizen = &self.pki.citizens[index];
        if !citizen
            .misa_user_id
            .eq_ignore_ascii_case(request.user_id.trim())
        {
            return Err(CaError::CertificateNotOwned);
        }
        if !citizen.spec.key_active {
            return Err(CaError::CertificateInactive);
        }
        if request.documents.is_empty() {
            return Err(CaError::BadRequest("Documents is empty".into()));
        }
        if request.documents.len() > MAX_DOCUMENTS {
            return Err(CaError::BadRequest(format!(
                "at most {MAX_DOCUMENTS} documents per request"
            )));
        }
        let mut documents: Vec<Document> = Vec::with_capacity(request.documents.len());
        for (n, document) in request.documents.into_iter().enumerate() {
            let id_chars = document.document_id.chars().count();
            if id_chars == 0 || id_chars > MAX_DOCUMENT_ID_CHARS {
                return Err(CaError::BadRequest(format!(
                    "Documents[{n}].DocumentId must be 1-{MAX_DOCUMENT_ID_CHARS} characters"
                )));
            }
            let name_chars = document.document_name.chars().count();
            if name_chars == 0 || name_chars > MAX_DOCUMENT_NAME_CHARS {
                return Err(CaError::BadRequest(format!(
                    "Documents[{n}].DocumentName must be 1-{MAX_DOCUMENT_NAME_CHARS} characters"
                )));
            }
            if documents.iter().any(|seen| seen.id == document.document_id) {
                return Err(CaError::BadRequest(format!(
                    "Documents[{n}].DocumentId repeats an earlier one"
                )));
            }
            let digest = BASE64.decode(document.file_to_sign.trim()).map_err(|_| {
                CaError::BadRequest(format!("Documents[{n}].FileToSign is not base64"))
            })?;
            if digest.len() != DIGEST_LEN {
                return Err(CaError::BadRequest(format!(
                    "Documents[{n}].FileToSign holds {} bytes, not a SHA-256 digest",
                    digest.len()
                )));
            }
            documents.push(Document {
                id: document.document_id,
                digest,
            });
        }

        let transaction_id = uuid::Uuid::new_v4().to_string();
        let mut state = self.lock();
        let position = state.transactions.len();
        state.by_id.insert(transaction_id.clone(), position);
        tracing::info!(
            transaction_id,
            user_id = %citizen.spec.user_id,
            documents = documents.len(),
            "signing request waiting for the citizen"
        );
        state.transactions.push(Transaction {
            id: transaction_id.clone(),
            citizen: index,
            created: Instant::now(),
            documents,
            state: TransactionState::Pending,
            signatures: Vec::new(),
            delivered: false,
        });
        Ok(SignHashResponse { transaction_id })
    }

    /// `GET …/Signing/status/{transactionId}`.
    pub(crate) fn status(&self, transaction_id: &str) -> Result<SignStatus, CaError> {
        let mut state = self.lock();
        let index = *state
            .by_id
            .get(transaction_id)
            .ok_or(CaError::TransactionNotFound)?;
        self.resolve(&mut state, index, Instant::now())
            .map_err(|error| {
                tracing::error!(transaction_id, %error, "signing the transaction failed");
                CaError::Internal
            })?;
        let transaction = &mut state.transactions[index];
        let mut answer = SignStatus {
            transaction_id: transaction.id.clone(),
            status: wire::STATUS_PENDING,
            error_code: None,
            error_description: None,
            signatures: None,
        };
        match transaction.state {
            TransactionState::Pending => {}
            TransactionState::Rejected => {
                answer.status = wire::STATUS_FAILED;
                answer.error_code = Some(wire::CODE_REJECTED);
                answer.error_description = Some(wire::DESCRIPTION_REJECTED);
            }
            TransactionState::Expired => {
                answer.status = wire::STATUS_FAILED;
                answer.error_code = Some(wire::CODE_EXPIRED);
                answer.error_description = Some(wire::DESCRIPTION_EXPIRED);
            }
            TransactionState::Signed => {
                if !transaction.delivered {
                    transaction.delivered = true;
                    if self.gate.take_corrupt() {
                        transaction.signatures.iter_mut().for_each(|s| corrupt(s));
                    }
                }
                answer.status = wire::STATUS_SUCCESS;
                answer.signatures = Some(
                    transaction
                        .documents
                        .iter()
                        .zip(&transaction.signatures)
                        .map(|(document, signature)| SignatureItem {
                            document_id: document.id.clone(),
                            signature: BASE64.encode(signature),
                        })
                        .collect(),
                );
            }
        }
        Ok(answer)
    }

    /// Applies the citizen's behaviour and the transaction lifetime to a pending transaction.
    fn resolve(&self, state: &mut State, index: usize, now: Instant) -> Result<(), SimError> {
        let transaction = &state.transactions[index];
        if transaction.state != TransactionState::Pending {
            return Ok(());
        }
        let age = now.saturating_duration_since(transaction.created);
        let behaviour = state
            .behaviours
            .get(&transaction.citizen)
            .copied()
            .unwrap_or(self.pki.citizens[transaction.citizen].spec.behaviour);
        match behaviour.due(age, self.config.transaction_ttl) {
            Some(decision) => self.decide(state, index, decision.into()),
            None => Ok(()),
        }
    }

    /// Moves a pending transaction to `outcome`; signing signs every document now.
    fn decide(
        &self,
        state: &mut State,
        index: usize,
        outcome: TransactionState,
    ) -> Result<(), SimError> {
        if outcome == TransactionState::Signed {
            let transaction = &state.transactions[index];
            let foreign_key = if self.gate.take_foreign() {
                Some(CitizenKey::generate(KeyKind::Rsa2048)?)
            } else {
                None
            };
            let key = foreign_key
                .as_ref()
                .unwrap_or(&self.pki.citizens[transaction.citizen].key);
            // MISA names SHA-256 only: PKCS#1 v1.5 over its DigestInfo.
            let signatures = transaction
                .documents
                .iter()
                .map(|document| {
                    key.sign_digest(
                        SignatureScheme::RsaPkcs1v15,
                        DigestAlgorithm::Sha256,
                        &document.digest,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            state.transactions[index].signatures = signatures;
        }
        let transaction = &mut state.transactions[index];
        transaction.state = outcome;
        tracing::info!(transaction_id = %transaction.id, state = ?outcome, "transaction decided");
        Ok(())
    }

    fn control_decide(
        &self,
        transaction_id: &str,
        outcome: TransactionState,
    ) -> Result<(), SimError> {
        let mut state = self.lock();
        let index = *state
            .by_id
            .get(transaction_id)
            .ok_or_else(|| SimError::UnknownTransaction(transaction_id.to_owned()))?;
        self.resolve(&mut state, index, Instant::now())?;
        let current = state.transactions[index].state;
        if current != TransactionState::Pending {
            return Err(SimError::NotPending {
                transaction_id: transaction_id.to_owned(),
                state: current,
            });
        }
        self.decide(&mut state, index, outcome)
    }

    /// From now on the citizen with this CCCD number answers as `behaviour`.
    fn set_behaviour(&self, user_id: &str, behaviour: Behaviour) -> Result<(), SimError> {
        let index = *self
            .by_cccd
            .get(user_id)
            .ok_or_else(|| SimError::UnknownCitizen(user_id.to_owned()))?;
        self.lock().behaviours.insert(index, behaviour);
        Ok(())
    }

    fn citizens(&self) -> Vec<CitizenInfo> {
        let behaviours = self.lock().behaviours.clone();
        self.pki
            .citizens
            .iter()
            .enumerate()
            .map(|(index, citizen)| CitizenInfo {
                user_id: citizen.spec.user_id.clone(),
                full_name: citizen.spec.full_name.clone(),
                behaviour: behaviours
                    .get(&index)
                    .copied()
                    .unwrap_or(citizen.spec.behaviour),
                misa_user_id: citizen.misa_user_id.clone(),
                key_alias: citizen.key_alias.clone(),
                key_status: if citizen.spec.key_active {
                    ACTIVE
                } else {
                    INACTIVE
                },
                serial_number: citizen.serial_hex.clone(),
            })
            .collect()
    }

    /// Every access token issued so far is expired; returns how many were live.
    pub(crate) fn expire_access_tokens(&self) -> usize {
        let mut state = self.lock();
        let now = Instant::now();
        let mut expired = 0;
        for token in state.access_tokens.values_mut() {
            if !token.revoked && token.expires_at > now {
                expired += 1;
            }
            token.revoked = true;
        }
        expired
    }

    fn snapshot(&self) -> Vec<SimTransaction> {
        let mut state = self.lock();
        let now = Instant::now();
        for index in 0..state.transactions.len() {
            if let Err(error) = self.resolve(&mut state, index, now) {
                tracing::error!(%error, "signing a transaction failed");
            }
        }
        state
            .transactions
            .iter()
            .map(|transaction| SimTransaction {
                transaction_id: transaction.id.clone(),
                user_id: self.pki.citizens[transaction.citizen].spec.user_id.clone(),
                state: transaction.state,
                document_count: transaction.documents.len(),
            })
            .collect()
    }
}

/// 32 random bytes, base64url: opaque, unguessable tokens.
fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

impl From<Decision> for TransactionState {
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::Approve => Self::Signed,
            Decision::Reject => Self::Rejected,
            Decision::Expire => Self::Expired,
        }
    }
}

/// The kit's `/_sim` routes drive the same functions as [`SimControl`]; `server` adds MISA's own
/// `/_sim/tokens/expire` to them.
impl ControlTarget for Sim {
    type Record = RecordedRequest;

    fn gate(&self) -> &CallGate<RecordedRequest> {
        &self.gate
    }

    fn root_pem(&self) -> String {
        Sim::root_pem(self).to_owned()
    }

    fn citizens(&self) -> impl Serialize {
        Sim::citizens(self)
    }

    fn transactions(&self) -> impl Serialize {
        self.snapshot()
    }

    fn decide(&self, transaction: &str, decision: Decision) -> Result<(), ControlError> {
        self.control_decide(transaction, decision.into())
            .map_err(control_error)
    }

    fn set_behaviour(&self, citizen: &str, behaviour: Behaviour) -> Result<(), ControlError> {
        Sim::set_behaviour(self, citizen, behaviour).map_err(control_error)
    }

    fn revocation(&self) -> &Revocation {
        &self.pki.revocation
    }
}

/// The `/_sim` answer for a failed control call.
fn control_error(error: SimError) -> ControlError {
    let message = error.to_string();
    match error {
        SimError::UnknownTransaction(_) | SimError::UnknownCitizen(_) => {
            ControlError::NotFound(message)
        }
        SimError::NotPending { .. } => ControlError::Conflict(message),
        _ => ControlError::Internal(message),
    }
}

/// Control of a running simulator: decide transactions, inject faults, expire tokens, inspect.
/// Cheap to clone; all clones share the simulator's state.
#[derive(Clone)]
pub struct SimControl {
    sim: Arc<Sim>,
}

impl std::fmt::Debug for SimControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimControl")
            .field("client_id", &self.sim.config.client_id)
            .finish_non_exhaustive()
    }
}

impl SimControl {
    pub(crate) fn new(sim: Arc<Sim>) -> Self {
        Self { sim }
    }

    /// The citizen confirms a pending transaction (its documents are signed now).
    ///
    /// # Errors
    /// [`SimError::UnknownTransaction`], [`SimError::NotPending`], or a signing failure.
    pub fn approve(&self, transaction_id: &str) -> Result<(), SimError> {
        self.sim
            .control_decide(transaction_id, TransactionState::Signed)
    }

    /// The citizen refuses a pending transaction.
    ///
    /// # Errors
    /// [`SimError::UnknownTransaction`] or [`SimError::NotPending`].
    pub fn reject(&self, transaction_id: &str) -> Result<(), SimError> {
        self.sim
            .control_decide(transaction_id, TransactionState::Rejected)
    }

    /// The CA gives a pending transaction up now.
    ///
    /// # Errors
    /// [`SimError::UnknownTransaction`] or [`SimError::NotPending`].
    pub fn expire(&self, transaction_id: &str) -> Result<(), SimError> {
        self.sim
            .control_decide(transaction_id, TransactionState::Expired)
    }

    /// From now on the citizen with this CCCD number answers as `behaviour`, pending
    /// transactions included.
    ///
    /// # Errors
    /// [`SimError::UnknownCitizen`].
    pub fn set_behaviour(&self, user_id: &str, behaviour: Behaviour) -> Result<(), SimError> {
        self.sim.set_behaviour(user_id, behaviour)
    }

    /// The next call of any CA endpoint suffers `fault` (once). Arming another fault before
    /// that replaces it.
    pub fn fail_next(&self, fault: Fault) {
        self.sim.gate.fail_next(fault);
    }

    /// The next `SUCCESS` answer of a transaction not answered `SUCCESS` before carries
    /// corrupted signatures (one byte changed in each); later answers for it repeat them.
    pub fn corrupt_next_signature(&self) {
        self.sim.gate.corrupt_next_signature();
    }

    /// The next transaction to be approved is signed with a freshly generated RSA key, not the
    /// citizen's.
    pub fn sign_next_with_foreign_key(&self) {
        self.sim.gate.sign_next_with_foreign_key();
    }

    /// Every access token issued so far is expired: the next call with one is refused with
    /// 401 `TokenExpired`, as MISA refuses an expired token. Returns how many were live.
    pub fn expire_access_tokens(&self) -> usize {
        self.sim.expire_access_tokens()
    }

    /// Latency added before every CA-endpoint answer (`Duration::ZERO`: none).
    pub fn set_delay(&self, delay: Duration) {
        self.sim.gate.set_delay(delay);
    }

    /// Every transaction, oldest first, resolved against the clock first (so one past its
    /// `ApproveAfter` is reported, and signed, as signed).
    pub fn transactions(&self) -> Vec<SimTransaction> {
        self.sim.snapshot()
    }

    /// The CA-endpoint calls received so far, oldest first (at most
    /// [`MAX_RECORDED_REQUESTS`]).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.sim.gate.requests()
    }

    /// The citizens the simulator knows.
    pub fn citizens(&self) -> Vec<CitizenInfo> {
        self.sim.citizens()
    }

    /// The revocation side of the test PKI: CRLs, OCSP, switches, URLs, and revoking a citizen's
    /// certificate (`revocation().revoke_citizen(cccd, &Revoke::default())`, as
    /// `/_sim/citizens/{id}/revoke` does): the CRL and OCSP say so, and `Certificates/by-userId`
    /// then reports its `certStatus` `INACTIVE` (MISA's word; the key keeps its `keyStatus`).
    /// Signing still works: catching a revoked certificate is the relying party's job.
    pub fn revocation(&self) -> &Revocation {
        &self.sim.pki.revocation
    }

    /// The citizen's certificate, PEM, if the citizen exists.
    pub fn citizen_certificate_pem(&self, user_id: &str) -> Option<String> {
        let index = *self.sim.by_cccd.get(user_id)?;
        Some(self.sim.pki.citizens[index].cert_pem.clone())
    }

    /// The root certificate, PEM: the trust anchor for the gateway.
    pub fn root_certificate_pem(&self) -> String {
        self.sim.root_pem().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_from_recorded_bodies() {
        let gate = CallGate::<RecordedRequest>::new().redacting(SECRET_FIELDS);
        let body = gate.parse_body(
            br#"{"userName": "svc", "password": "hunter2",
                "nested": [{"refreshToken": "r"}], "code": "123456"}"#,
        );
        assert_eq!(body["userName"], "svc");
        assert_eq!(body["password"], "[REDACTED]");
        assert_eq!(body["nested"][0]["refreshToken"], "[REDACTED]");
        assert_eq!(body["code"], "[REDACTED]");
    }
}
