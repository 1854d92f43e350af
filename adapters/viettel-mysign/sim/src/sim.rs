//! The simulator's state and logic: access tokens, the three signing operations
//! (certificates/info, signHash, requests/status), the lazy resolution of transactions, and
//! [`SimControl`], the control surface for tests and demos. The HTTP layers (`ca_routes`, and the
//! kit's `/_sim` routes through [`ControlTarget`]) only translate to and from these functions.
//! Fault injection, delay and the request log are the kit's [`CallGate`].
//!
//! All state sits behind one `std::sync::Mutex`, never held across an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use kyso_sim_kit::faults::corrupt;
use kyso_sim_kit::{
    CallGate, CitizenKey, ControlError, ControlTarget, Decision, DigestAlgorithm, Fault, KeyKind,
    Revocation, SignatureScheme,
};
use serde::Serialize;

use crate::SimError;
use crate::config::{Behaviour, CertificateStatus, SimConfig};
use crate::pki::{Citizen, ViettelPki};
use crate::wire::{
    AuthenticateForm, CREDENTIAL_DESCRIPTION, CertInfo, CertificatesInfoRequest, CredentialInfo,
    ERR_CERTIFICATE_INVALID, ERR_CLIENT_SECRET, ERR_CLIENT_UNKNOWN, ERR_INTERNAL, ERR_USER_UNKNOWN,
    ErrorBody, ErrorCode, KeyInfo, LoginRequest, OID_RSA, OID_SHA256, STATUS_REJECTED,
    STATUS_SIGNING, STATUS_SUCCESS, STATUS_TIMEOUT, STATUS_WAITING, SignHashRequest, StatusRequest,
    StatusResponse, TokenResponse,
};

/// Request-body fields the request log never keeps.
const SECRET_FIELDS: [&str; 1] = ["client_secret"];

/// The longest `description` / `document_name` MySign accepts, counted in base64 characters
/// ("encoded length < 100").
const MAX_DISPLAY_B64_LEN: usize = 99;

/// Where a transaction stands, from the CA's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionState {
    /// The subscriber has not answered (status `4000`).
    Waiting,
    /// The subscriber confirmed; the signatures exist (status `6000` once, then `1`).
    Approved,
    /// The subscriber refused (status `4002`).
    Rejected,
    /// Nobody answered in time, or a control call expired it (status `4001`).
    Expired,
}

/// One document of a transaction, as the subscriber's app shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimDocument {
    /// The SP's `document_id`.
    pub document_id: String,
    /// The decoded `document_name`.
    pub document_name: String,
}

/// A snapshot of one transaction, for tests and the `/_sim` API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimTransaction {
    /// The `transactionId` the CA issued.
    pub transaction_id: String,
    /// The subscriber's CCCD number (without the MySign `user_id` prefix).
    pub user_id: String,
    /// Current state, resolved against the clock when the snapshot was taken.
    pub state: TransactionState,
    /// The decoded `description`, as the app shows it.
    pub description: String,
    /// The documents, in request order.
    pub documents: Vec<SimDocument>,
    /// The `async` mode the SP asked for.
    pub mode: u8,
}

/// One call of a CA endpoint, as received: the record type of the simulator's [`CallGate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// The request path, e.g. `/vtss/service/signHash`.
    pub path: String,
    /// Whether an `Authorization: Bearer` header came with it (the token is not kept).
    pub bearer: bool,
    /// The body as JSON (a form body becomes an object of its fields), with every
    /// `client_secret` (at any depth) replaced by `[REDACTED]`; `null` for an empty body; a JSON
    /// string holding the (lossily decoded) text when the body is neither.
    pub body: serde_json::Value,
}

/// A subscriber as the simulator knows it, for tests and the `/_sim` API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CitizenInfo {
    /// The CCCD number.
    pub user_id: String,
    /// The MySign `user_id` (prefix + CCCD number).
    pub mysign_user_id: String,
    /// Full name (the certificate CN).
    pub full_name: String,
    /// What the subscriber does with signing requests now.
    pub behaviour: Behaviour,
    /// Whether the certificate can sign.
    pub certificate_status: CertificateStatus,
    /// The `credential_id` of the certificate.
    pub credential_id: String,
    /// The certificate's serial number in decimal.
    pub serial_number: String,
}

/// An access token the simulator issued, without its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedToken {
    /// `None` for a client-level token (`/ras/v1/authenticate`), else the CCCD number of the
    /// subscriber it was issued for (`/ras/v1/login`).
    pub user_id: Option<String>,
    /// Whether the CA refuses it now (lifetime over, or expired by a control call).
    pub expired: bool,
}

/// An error answer of a CA endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CaError {
    /// 400 `invalid_request`: the body is malformed or breaks one of MySign's rules.
    BadRequest(String),
    /// 400 `unsupported_grant_type` on `/ras/v1/authenticate`.
    UnsupportedGrant,
    /// 401 `invalid_request`: no Bearer token.
    MissingToken,
    /// 401 `invalid_token`: unknown, expired or revoked token.
    InvalidToken,
    /// 403 `access_denied`: a per-user token used for another subscriber.
    Forbidden,
    /// 401 `58007`: unknown `client_id`.
    ClientUnknown,
    /// 401 `86024`: wrong `client_secret`.
    ClientSecret,
    /// 400 `58008`: unknown `user_id`.
    UserUnknown,
    /// 400 `13004`: the certificate is revoked.
    CertificateInvalid,
    /// 404 `transaction_not_found` on requests/status.
    TransactionNotFound,
    /// 400 `4002`: a synchronous signHash the subscriber refused.
    SyncRejected,
    /// 400 `4001`: a synchronous signHash nobody confirmed in time.
    SyncTimeout,
    /// 500 `50000`.
    Internal,
    /// An injected [`Fault::Status`].
    Injected(u16),
}

impl CaError {
    /// The HTTP status.
    pub(crate) fn http_status(&self) -> u16 {
        match self {
            Self::BadRequest(_)
            | Self::UnsupportedGrant
            | Self::UserUnknown
            | Self::CertificateInvalid
            | Self::SyncRejected
            | Self::SyncTimeout => 400,
            Self::MissingToken | Self::InvalidToken | Self::ClientUnknown | Self::ClientSecret => {
                401
            }
            Self::Forbidden => 403,
            Self::TransactionNotFound => 404,
            Self::Internal => 500,
            Self::Injected(status) => *status,
        }
    }

    /// Viettel's error body.
    pub(crate) fn body(&self) -> ErrorBody {
        let (error, description) = match self {
            Self::BadRequest(detail) => (ErrorCode::Text("invalid_request"), detail.clone()),
            Self::UnsupportedGrant => (
                ErrorCode::Text("unsupported_grant_type"),
                "grant_type must be client_credentials".to_owned(),
            ),
            Self::MissingToken => (
                ErrorCode::Text("invalid_request"),
                "An Authorization: Bearer access token is required".to_owned(),
            ),
            Self::InvalidToken => (
                ErrorCode::Text("invalid_token"),
                "The access token is invalid or has expired".to_owned(),
            ),
            Self::Forbidden => (
                ErrorCode::Text("access_denied"),
                "The access token was issued for another user".to_owned(),
            ),
            Self::ClientUnknown => (
                ErrorCode::Number(ERR_CLIENT_UNKNOWN),
                "Client ID does not exist".to_owned(),
            ),
            Self::ClientSecret => (
                ErrorCode::Number(ERR_CLIENT_SECRET),
                "Client secret is invalid".to_owned(),
            ),
            Self::UserUnknown => (
                ErrorCode::Number(ERR_USER_UNKNOWN),
                "User ID does not exist".to_owned(),
            ),
            Self::CertificateInvalid => (
                ErrorCode::Number(ERR_CERTIFICATE_INVALID),
                "Certificate is expired or revoked".to_owned(),
            ),
            Self::TransactionNotFound => (
                ErrorCode::Text("transaction_not_found"),
                "Transaction does not exist".to_owned(),
            ),
            Self::SyncRejected => (
                ErrorCode::Number(STATUS_REJECTED),
                "User rejected the signing request".to_owned(),
            ),
            Self::SyncTimeout => (
                ErrorCode::Number(STATUS_TIMEOUT),
                "User did not confirm in time".to_owned(),
            ),
            Self::Internal => (
                ErrorCode::Number(ERR_INTERNAL),
                "Internal system error".to_owned(),
            ),
            Self::Injected(status) => match status {
                400 => (ErrorCode::Text("invalid_request"), "Bad request".to_owned()),
                401 => return Self::InvalidToken.body(),
                404 => return Self::TransactionNotFound.body(),
                500..=599 => (
                    ErrorCode::Number(ERR_INTERNAL),
                    actix_web::http::StatusCode::from_u16(*status)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("Internal system error")
                        .to_owned(),
                ),
                other => (
                    ErrorCode::Number(u32::from(*other)),
                    format!("HTTP {other}"),
                ),
            },
        };
        ErrorBody {
            error,
            error_description: description,
        }
    }
}

/// Who an access token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The SP itself (`/ras/v1/authenticate`): any of its subscribers.
    Client,
    /// One subscriber (`/ras/v1/login`), by index into the citizens.
    User(usize),
}

struct Token {
    scope: Scope,
    issued: Instant,
    revoked: bool,
}

struct Document {
    id: String,
    name: String,
    digest: Vec<u8>,
}

struct Transaction {
    id: String,
    /// Index into the citizens.
    citizen: usize,
    created: Instant,
    description: String,
    documents: Vec<Document>,
    mode: u8,
    state: TransactionState,
    /// One per document once approved.
    signatures: Vec<Vec<u8>>,
    /// Whether status `6000` was reported for this approved transaction.
    signing_reported: bool,
    /// Whether the signatures were handed out (corruption is decided then).
    delivered: bool,
}

#[derive(Default)]
struct State {
    tokens: HashMap<String, Token>,
    /// The token issued last, for [`SimControl::expire_current_token`].
    last_token: Option<String>,
    transactions: Vec<Transaction>,
    by_id: HashMap<String, usize>,
    /// Behaviours set at run time, by citizen index, over the configured ones.
    behaviours: HashMap<usize, Behaviour>,
}

/// The simulator proper, shared by the HTTP server and every [`SimControl`].
pub(crate) struct Sim {
    client_id: String,
    client_secret: String,
    profile_id: String,
    user_id_prefix: String,
    token_lifetime: Duration,
    ttl: Duration,
    pki: ViettelPki,
    /// MySign `user_id` (prefix + CCCD) to citizen index.
    by_user: HashMap<String, usize>,
    /// CCCD number to citizen index.
    by_cccd: HashMap<String, usize>,
    by_credential: HashMap<String, usize>,
    /// Faults, delay and the request log (`client_secret` redacted).
    pub(crate) gate: CallGate<RecordedRequest>,
    state: Mutex<State>,
}

impl Sim {
    /// Generates the PKI and an empty state. CPU-bound: run it off the async executor.
    /// Its certificates point at `base_url` (the simulator's own address) for revocation data.
    pub(crate) fn new(config: SimConfig, base_url: String) -> Result<Self, SimError> {
        config.validate().map_err(SimError::InvalidConfig)?;
        let pki = ViettelPki::generate(&config.citizens, base_url)?;
        let index = |key: &dyn Fn(&Citizen) -> String| {
            pki.citizens
                .iter()
                .enumerate()
                .map(|(i, citizen)| (key(citizen), i))
                .collect::<HashMap<_, _>>()
        };
        let by_user = index(&|c| format!("{}{}", config.user_id_prefix, c.spec.user_id));
        let by_cccd = index(&|c| c.spec.user_id.clone());
        let by_credential = index(&|c| c.credential_id.clone());
        Ok(Self {
            client_id: config.client_id,
            client_secret: config.client_secret,
            profile_id: config.profile_id,
            user_id_prefix: config.user_id_prefix,
            token_lifetime: config.token_lifetime,
            ttl: config.transaction_ttl,
            pki,
            by_user,
            by_cccd,
            by_credential,
            gate: CallGate::new().redacting(SECRET_FIELDS),
            state: Mutex::new(State::default()),
        })
    }

    pub(crate) fn root_pem(&self) -> &str {
        &self.pki.root_pem
    }

    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The state. A panic while the lock was held cannot leave it inconsistent in a way that
    /// matters to a test double, so a poisoned lock is simply taken over.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_client(&self, client_id: &str, client_secret: &str) -> Result<(), CaError> {
        if client_id != self.client_id {
            return Err(CaError::ClientUnknown);
        }
        if client_secret != self.client_secret {
            return Err(CaError::ClientSecret);
        }
        Ok(())
    }

    fn check_profile(&self, profile_id: &str) -> Result<(), CaError> {
        if profile_id == self.profile_id {
            Ok(())
        } else {
            Err(CaError::BadRequest(format!(
                "profile_id {profile_id} is not assigned to this client"
            )))
        }
    }

    fn issue_token(&self, scope: Scope) -> TokenResponse {
        let value = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let mut st = self.lock();
        let lifetime = self.token_lifetime;
        // Forget tokens long dead, so that a long-running sandbox does not grow without bound.
        st.tokens
            .retain(|_, token| token.issued.elapsed() < lifetime.saturating_mul(2));
        st.tokens.insert(
            value.clone(),
            Token {
                scope,
                issued: Instant::now(),
                revoked: false,
            },
        );
        st.last_token = Some(value.clone());
        // Viettel counts whole seconds; never announce 0 for a short test lifetime.
        let seconds = lifetime.as_secs() + u64::from(lifetime.subsec_nanos() > 0);
        TokenResponse {
            access_token: value,
            refresh_token: "",
            token_type: "Bearer",
            expires_in: seconds.max(1).to_string(),
        }
    }

    /// Who the Bearer token speaks for, if the CA still accepts it.
    fn authorize(&self, bearer: Option<&str>) -> Result<Scope, CaError> {
        let token = bearer.ok_or(CaError::MissingToken)?;
        let st = self.lock();
        match st.tokens.get(token) {
            Some(known) if !known.revoked && known.issued.elapsed() < self.token_lifetime => {
                Ok(known.scope)
            }
            _ => Err(CaError::InvalidToken),
        }
    }

    /// `POST /ras/v1/login`: a token for one subscriber.
    pub(crate) fn login(&self, req: LoginRequest) -> Result<TokenResponse, CaError> {
        self.check_client(&req.client_id, &req.client_secret)?;
        self.check_profile(&req.profile_id)?;
        let citizen = *self.by_user.get(&req.user_id).ok_or(CaError::UserUnknown)?;
        tracing::info!(user_id = %req.user_id, "per-user access token issued");
        Ok(self.issue_token(Scope::User(citizen)))
    }

    /// `POST /ras/v1/authenticate`: a client-level token.
    pub(crate) fn authenticate(&self, form: AuthenticateForm) -> Result<TokenResponse, CaError> {
        if form.grant_type != "client_credentials" {
            return Err(CaError::UnsupportedGrant);
        }
        self.check_client(&form.client_id, &form.client_secret)?;
        tracing::info!("client access token issued");
        Ok(self.issue_token(Scope::Client))
    }

    /// `POST /certificates/info`: the subscriber's credentials.
    pub(crate) fn certificates_info(
        &self,
        bearer: Option<&str>,
        req: CertificatesInfoRequest,
    ) -> Result<Vec<CredentialInfo>, CaError> {
        let scope = self.authorize(bearer)?;
        self.check_client(&req.client_id, &req.client_secret)?;
        self.check_profile(&req.profile_id)?;
        let citizen = *self.by_user.get(&req.user_id).ok_or(CaError::UserUnknown)?;
        if matches!(scope, Scope::User(owner) if owner != citizen) {
            return Err(CaError::Forbidden);
        }
        let chain = match req.certificates.as_deref().unwrap_or("single") {
            "none" => ChainShape::None,
            "single" => ChainShape::Single,
            "chain" => ChainShape::Chain,
            other => {
                return Err(CaError::BadRequest(format!(
                    "certificates must be none, single or chain, not {other:?}"
                )));
            }
        };
        Ok(vec![self.credential_info(
            &self.pki.citizens[citizen],
            chain,
            req.cert_info,
            req.auth_info,
        )])
    }

    fn credential_info(
        &self,
        citizen: &Citizen,
        chain: ChainShape,
        cert_info: bool,
        auth_info: bool,
    ) -> CredentialInfo {
        let valid = self.certificate_status(citizen) == CertificateStatus::Valid;
        let certificates = match chain {
            ChainShape::None => Vec::new(),
            ChainShape::Single => vec![BASE64.encode(&citizen.cert_der)],
            ChainShape::Chain => vec![
                BASE64.encode(&citizen.cert_der),
                BASE64.encode(&self.pki.issuer_der),
                BASE64.encode(&self.pki.root_der),
            ],
        };
        let info = |value: &String| cert_info.then(|| value.clone());
        CredentialInfo {
            credential_id: citizen.credential_id.clone(),
            description: CREDENTIAL_DESCRIPTION,
            key: KeyInfo {
                status: if valid { "enabled" } else { "disabled" },
                algo: vec![OID_RSA],
                len: "2048",
                curve: None,
            },
            cert: CertInfo {
                status: if valid { "valid" } else { "revoked" },
                certificates,
                issuer_dn: info(&self.pki.issuer_dn),
                serial_number: info(&citizen.serial_decimal),
                subject_dn: info(&citizen.subject_dn),
                valid_from: info(&citizen.valid_from),
                valid_to: info(&citizen.valid_to),
            },
            auth_mode: auth_info.then_some("implicit"),
            multisign: auth_info.then_some("2147483647"),
            scal: auth_info.then_some("2"),
        }
    }

    /// `POST /signHash`: validates and creates a waiting transaction; returns its id and the
    /// `async` mode (0 = the caller waits for the outcome with [`Sim::sync_outcome`]).
    pub(crate) fn sign_hash(
        &self,
        bearer: Option<&str>,
        req: SignHashRequest,
    ) -> Result<(String, u8), CaError> {
        let scope = self.authorize(bearer)?;
        self.check_client(&req.client_id, &req.client_secret)?;
        let citizen = *self.by_credential.get(&req.credential_id).ok_or_else(|| {
            CaError::BadRequest(format!("credentialID {} does not exist", req.credential_id))
        })?;
        if matches!(scope, Scope::User(owner) if owner != citizen) {
            return Err(CaError::Forbidden);
        }
        match req.mode {
            0..=2 => {}
            3 => {
                return Err(CaError::BadRequest(
                    "async 3 needs callback endpoints registered for this client; none are"
                        .to_owned(),
                ));
            }
            other => {
                return Err(CaError::BadRequest(format!(
                    "async must be 0, 1, 2 or 3, not {other}"
                )));
            }
        }
        if req.hash_algo != OID_SHA256 {
            return Err(CaError::BadRequest(format!(
                "hashAlgo {}: only SHA256 hash converted to base64 is accepted",
                req.hash_algo
            )));
        }
        if req.sign_algo != OID_RSA {
            return Err(CaError::BadRequest(format!(
                "signAlgo {} is not supported",
                req.sign_algo
            )));
        }
        let count = usize::try_from(req.num_signatures).unwrap_or(usize::MAX);
        if count == 0 || count != req.hash.len() || count != req.documents.len() {
            return Err(CaError::BadRequest(format!(
                "numSignatures ({}) must equal the number of hash ({}) and documents ({}) entries, \
                 at least one",
                req.num_signatures,
                req.hash.len(),
                req.documents.len()
            )));
        }
        let description = match req.description.as_deref() {
            Some(encoded) => display_text("description", encoded)?,
            None => String::new(),
        };
        let documents = req
            .documents
            .into_iter()
            .zip(&req.hash)
            .enumerate()
            .map(|(i, (document, hash))| {
                let digest = BASE64
                    .decode(hash)
                    .map_err(|e| CaError::BadRequest(format!("hash[{i}] is not base64: {e}")))?;
                if digest.len() != 32 {
                    return Err(CaError::BadRequest(format!(
                        "hash[{i}] is {} bytes: only SHA256 hash converted to base64 is accepted",
                        digest.len()
                    )));
                }
                if document.document_id.is_empty() {
                    return Err(CaError::BadRequest(format!(
                        "documents[{i}].document_id is empty"
                    )));
                }
                let name = display_text(
                    &format!("documents[{i}].document_name"),
                    &document.document_name,
                )?;
                Ok(Document {
                    id: document.document_id,
                    name,
                    digest,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.pki.citizens[citizen].spec.certificate_status != CertificateStatus::Valid {
            return Err(CaError::CertificateInvalid);
        }

        let id = uuid::Uuid::new_v4().to_string();
        let mut st = self.lock();
        let index = st.transactions.len();
        st.by_id.insert(id.clone(), index);
        tracing::info!(
            transaction_id = %id,
            user_id = %self.pki.citizens[citizen].spec.user_id,
            documents = documents.len(),
            mode = req.mode,
            "signing request waiting for the subscriber"
        );
        st.transactions.push(Transaction {
            id: id.clone(),
            citizen,
            created: Instant::now(),
            description,
            documents,
            mode: req.mode,
            state: TransactionState::Waiting,
            signatures: Vec::new(),
            signing_reported: false,
            delivered: false,
        });
        Ok((id, req.mode))
    }

    /// For a synchronous signHash: `None` while the subscriber has not answered, else the
    /// signatures or the error the call ends with.
    pub(crate) fn sync_outcome(
        &self,
        transaction_id: &str,
    ) -> Option<Result<Vec<String>, CaError>> {
        let mut st = self.lock();
        let Some(&index) = st.by_id.get(transaction_id) else {
            return Some(Err(CaError::Internal));
        };
        if let Err(error) = self.resolve(&mut st, index, Instant::now()) {
            tracing::error!(transaction_id, %error, "signing the transaction failed");
            return Some(Err(CaError::Internal));
        }
        match st.transactions[index].state {
            TransactionState::Waiting => None,
            TransactionState::Approved => Some(Ok(self.deliver(&mut st, index))),
            TransactionState::Rejected => Some(Err(CaError::SyncRejected)),
            TransactionState::Expired => Some(Err(CaError::SyncTimeout)),
        }
    }

    /// `POST /requests/status`.
    pub(crate) fn status(
        &self,
        bearer: Option<&str>,
        req: StatusRequest,
    ) -> Result<StatusResponse, CaError> {
        let scope = self.authorize(bearer)?;
        let mut st = self.lock();
        let index = *st
            .by_id
            .get(&req.transaction_id)
            .ok_or(CaError::TransactionNotFound)?;
        // A per-user token sees only its own subscriber's transactions.
        if matches!(scope, Scope::User(owner) if owner != st.transactions[index].citizen) {
            return Err(CaError::TransactionNotFound);
        }
        self.resolve(&mut st, index, Instant::now())
            .map_err(|error| {
                tracing::error!(transaction_id = %req.transaction_id, %error, "signing failed");
                CaError::Internal
            })?;
        let tx = &st.transactions[index];
        let (status, signatures) = match tx.state {
            TransactionState::Waiting => (STATUS_WAITING, None),
            TransactionState::Rejected => (STATUS_REJECTED, None),
            TransactionState::Expired => (STATUS_TIMEOUT, None),
            // The first look after the confirmation sees "signing in progress", as at Viettel.
            TransactionState::Approved if !tx.signing_reported => {
                st.transactions[index].signing_reported = true;
                (STATUS_SIGNING, None)
            }
            TransactionState::Approved => (STATUS_SUCCESS, Some(self.deliver(&mut st, index))),
        };
        Ok(StatusResponse {
            signatures,
            status: status.to_string(),
        })
    }

    /// Applies the subscriber's behaviour and the CA-wide lifetime to a waiting transaction.
    fn resolve(&self, st: &mut State, index: usize, now: Instant) -> Result<(), SimError> {
        let tx = &st.transactions[index];
        if tx.state != TransactionState::Waiting {
            return Ok(());
        }
        let age = now.saturating_duration_since(tx.created);
        let behaviour = st
            .behaviours
            .get(&tx.citizen)
            .copied()
            .unwrap_or(self.pki.citizens[tx.citizen].spec.behaviour);
        match behaviour.due(age, self.ttl) {
            Some(decision) => self.decide(st, index, decision.into()),
            None => Ok(()),
        }
    }

    /// Moves a waiting transaction to `outcome`; approving signs every document.
    fn decide(
        &self,
        st: &mut State,
        index: usize,
        outcome: TransactionState,
    ) -> Result<(), SimError> {
        if outcome == TransactionState::Approved {
            let tx = &st.transactions[index];
            let foreign_key;
            let key = if self.gate.take_foreign() {
                foreign_key = CitizenKey::generate(KeyKind::Rsa2048)?;
                &foreign_key
            } else {
                &self.pki.citizens[tx.citizen].key
            };
            // RSASSA-PKCS1-v1_5 over `DigestInfo(SHA-256, digest)`: the raw signature MySign
            // returns.
            let signatures = tx
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
            st.transactions[index].signatures = signatures;
        }
        let tx = &mut st.transactions[index];
        tx.state = outcome;
        tracing::info!(transaction_id = %tx.id, state = ?outcome, "transaction decided");
        Ok(())
    }

    /// A control decision on a transaction that must still be waiting.
    fn control_decide(
        &self,
        transaction_id: &str,
        outcome: TransactionState,
    ) -> Result<(), SimError> {
        let mut st = self.lock();
        let index = *st
            .by_id
            .get(transaction_id)
            .ok_or_else(|| SimError::UnknownTransaction(transaction_id.to_owned()))?;
        self.resolve(&mut st, index, Instant::now())?;
        let state = st.transactions[index].state;
        if state != TransactionState::Waiting {
            return Err(SimError::NotWaiting {
                transaction_id: transaction_id.to_owned(),
                state,
            });
        }
        self.decide(&mut st, index, outcome)
    }

    /// The base64 signatures of an approved transaction. The first delivery applies an armed
    /// corruption, which later deliveries then repeat.
    fn deliver(&self, st: &mut State, index: usize) -> Vec<String> {
        let tx = &mut st.transactions[index];
        if !tx.delivered {
            tx.delivered = true;
            if self.gate.take_corrupt() {
                tx.signatures
                    .iter_mut()
                    .for_each(|signature| corrupt(signature));
            }
        }
        tx.signatures
            .iter()
            .map(|signature| BASE64.encode(signature))
            .collect()
    }

    /// The certificate's status now: `Revoked` once the PKI has revoked it.
    fn certificate_status(&self, citizen: &Citizen) -> CertificateStatus {
        if self.pki.revocation.is_revoked(&citizen.serial) {
            CertificateStatus::Revoked
        } else {
            citizen.spec.certificate_status
        }
    }

    /// From now on, subscriber `user_id` (CCCD number) answers as `behaviour`.
    fn set_behaviour(&self, user_id: &str, behaviour: Behaviour) -> Result<(), SimError> {
        let index = *self
            .by_cccd
            .get(user_id)
            .ok_or_else(|| SimError::InvalidConfig(format!("no citizen {user_id}")))?;
        self.lock().behaviours.insert(index, behaviour);
        Ok(())
    }

    /// Revokes the token issued last; false when no token was issued yet.
    pub(crate) fn expire_current_token(&self) -> bool {
        let mut st = self.lock();
        let Some(last) = st.last_token.clone() else {
            return false;
        };
        match st.tokens.get_mut(&last) {
            Some(token) => {
                token.revoked = true;
                true
            }
            None => false,
        }
    }

    /// Revokes every token; returns how many were still live.
    pub(crate) fn expire_all_tokens(&self) -> usize {
        let lifetime = self.token_lifetime;
        let mut st = self.lock();
        let mut live = 0;
        for token in st.tokens.values_mut() {
            if !token.revoked && token.issued.elapsed() < lifetime {
                live += 1;
            }
            token.revoked = true;
        }
        live
    }

    /// The tokens the simulator still remembers, without their values.
    pub(crate) fn issued_tokens(&self) -> Vec<IssuedToken> {
        let lifetime = self.token_lifetime;
        let st = self.lock();
        st.tokens
            .values()
            .map(|token| IssuedToken {
                user_id: match token.scope {
                    Scope::Client => None,
                    Scope::User(index) => Some(self.pki.citizens[index].spec.user_id.clone()),
                },
                expired: token.revoked || token.issued.elapsed() >= lifetime,
            })
            .collect()
    }

    fn citizens(&self) -> Vec<CitizenInfo> {
        let st = self.lock();
        self.pki
            .citizens
            .iter()
            .enumerate()
            .map(|(index, c)| CitizenInfo {
                user_id: c.spec.user_id.clone(),
                mysign_user_id: format!("{}{}", self.user_id_prefix, c.spec.user_id),
                full_name: c.spec.full_name.clone(),
                behaviour: st
                    .behaviours
                    .get(&index)
                    .copied()
                    .unwrap_or(c.spec.behaviour),
                certificate_status: self.certificate_status(c),
                credential_id: c.credential_id.clone(),
                serial_number: c.serial_decimal.clone(),
            })
            .collect()
    }

    fn snapshot(&self) -> Vec<SimTransaction> {
        let mut st = self.lock();
        let now = Instant::now();
        for index in 0..st.transactions.len() {
            if let Err(error) = self.resolve(&mut st, index, now) {
                tracing::error!(%error, "signing a transaction failed");
            }
        }
        st.transactions
            .iter()
            .map(|tx| SimTransaction {
                transaction_id: tx.id.clone(),
                user_id: self.pki.citizens[tx.citizen].spec.user_id.clone(),
                state: tx.state,
                description: tx.description.clone(),
                documents: tx
                    .documents
                    .iter()
                    .map(|document| SimDocument {
                        document_id: document.id.clone(),
                        document_name: document.name.clone(),
                    })
                    .collect(),
                mode: tx.mode,
            })
            .collect()
    }
}

impl From<Decision> for TransactionState {
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::Approve => Self::Approved,
            Decision::Reject => Self::Rejected,
            Decision::Expire => Self::Expired,
        }
    }
}

/// The kit's `/_sim` routes drive the same functions as [`SimControl`].
impl ControlTarget for Sim {
    type Record = RecordedRequest;

    fn gate(&self) -> &CallGate<RecordedRequest> {
        &self.gate
    }

    fn root_pem(&self) -> String {
        self.root_pem().to_owned()
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
        SimError::UnknownTransaction(_) | SimError::InvalidConfig(_) => {
            ControlError::NotFound(message)
        }
        SimError::NotWaiting { .. } => ControlError::Conflict(message),
        _ => ControlError::Internal(message),
    }
}

/// Which certificates `certificates/info` puts in `cert.certificates`.
#[derive(Debug, Clone, Copy)]
enum ChainShape {
    None,
    Single,
    Chain,
}

/// Decodes a `description` / `document_name`: base64 (< 100 characters) of text limited to
/// `[a-zA-Z0-9_\- ]`, as MySign's documentation demands.
fn display_text(field: &str, encoded: &str) -> Result<String, CaError> {
    if encoded.len() > MAX_DISPLAY_B64_LEN {
        return Err(CaError::BadRequest(format!(
            "{field} is {} base64 characters; it must be under 100",
            encoded.len()
        )));
    }
    let bytes = BASE64
        .decode(encoded)
        .map_err(|e| CaError::BadRequest(format!("{field} is not base64: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CaError::BadRequest(format!("{field} is not UTF-8")))?;
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ')))
    {
        return Err(CaError::BadRequest(format!(
            "{field} may hold only a-z, A-Z, 0-9, '_', '-' and ' ', not {bad:?}"
        )));
    }
    Ok(text)
}

/// Control of a running simulator: decide transactions, inject faults, expire tokens, inspect
/// what happened. Cheap to clone; all clones share the simulator's state.
#[derive(Clone)]
pub struct SimControl {
    sim: Arc<Sim>,
}

impl std::fmt::Debug for SimControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimControl")
            .field("client_id", &self.sim.client_id)
            .finish_non_exhaustive()
    }
}

impl SimControl {
    pub(crate) fn new(sim: Arc<Sim>) -> Self {
        Self { sim }
    }

    /// The subscriber confirms a waiting transaction (its documents are signed now).
    ///
    /// # Errors
    /// [`SimError::UnknownTransaction`], [`SimError::NotWaiting`], or a signing failure.
    pub fn approve(&self, transaction_id: &str) -> Result<(), SimError> {
        self.sim
            .control_decide(transaction_id, TransactionState::Approved)
    }

    /// The subscriber refuses a waiting transaction.
    ///
    /// # Errors
    /// [`SimError::UnknownTransaction`] or [`SimError::NotWaiting`].
    pub fn reject(&self, transaction_id: &str) -> Result<(), SimError> {
        self.sim
            .control_decide(transaction_id, TransactionState::Rejected)
    }

    /// The CA gives a waiting transaction up now, whatever its age.
    ///
    /// # Errors
    /// [`SimError::UnknownTransaction`] or [`SimError::NotWaiting`].
    pub fn expire(&self, transaction_id: &str) -> Result<(), SimError> {
        self.sim
            .control_decide(transaction_id, TransactionState::Expired)
    }

    /// From now on, subscriber `user_id` (CCCD number) answers as `behaviour`, waiting
    /// transactions included.
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] when no subscriber has this number.
    pub fn set_behaviour(&self, user_id: &str, behaviour: Behaviour) -> Result<(), SimError> {
        self.sim.set_behaviour(user_id, behaviour)
    }

    /// The next call of any CA endpoint (token endpoints included) suffers `fault`, once. A
    /// later call replaces a fault not used yet.
    pub fn fail_next(&self, fault: Fault) {
        self.sim.gate.fail_next(fault);
    }

    /// The next approved transaction whose signatures have not been handed out yet gets them
    /// with one byte flipped in each; later answers for it repeat the same corrupted values.
    pub fn corrupt_next_signature(&self) {
        self.sim.gate.corrupt_next_signature();
    }

    /// The next transaction to be approved is signed with an RSA key that is not the
    /// subscriber's.
    pub fn sign_next_with_foreign_key(&self) {
        self.sim.gate.sign_next_with_foreign_key();
    }

    /// The CA stops accepting the access token it issued last, as when it expires: the next
    /// call bearing it is answered `401 invalid_token`. False when no token was issued yet.
    pub fn expire_current_token(&self) -> bool {
        self.sim.expire_current_token()
    }

    /// The CA stops accepting every token it issued so far. Returns how many were still live.
    pub fn expire_all_tokens(&self) -> usize {
        self.sim.expire_all_tokens()
    }

    /// The tokens issued so far that the simulator still remembers, in no particular order.
    pub fn issued_tokens(&self) -> Vec<IssuedToken> {
        self.sim.issued_tokens()
    }

    /// Latency added before every CA-endpoint answer (`Duration::ZERO` = none).
    pub fn set_delay(&self, delay: Duration) {
        self.sim.gate.set_delay(delay);
    }

    /// All transactions in creation order, resolved against the clock first.
    pub fn transactions(&self) -> Vec<SimTransaction> {
        self.sim.snapshot()
    }

    /// The CA-endpoint calls received so far, oldest first (at most
    /// [`MAX_RECORDED_REQUESTS`](crate::MAX_RECORDED_REQUESTS)), `client_secret` redacted.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.sim.gate.requests()
    }

    /// The subscribers the simulator knows.
    pub fn citizens(&self) -> Vec<CitizenInfo> {
        self.sim.citizens()
    }

    /// The revocation side of the test PKI: CRLs, OCSP, switches, URLs, and revoking a citizen's
    /// certificate (`revocation().revoke_citizen(cccd, &Revoke::default())`, as
    /// `/_sim/citizens/{id}/revoke` does): the CRL and OCSP say so, and `certificates/info` then
    /// reports `cert.status` `revoked`, `key.status` `disabled`. Signing still works: catching a
    /// revoked certificate is the relying party's job.
    pub fn revocation(&self) -> &Revocation {
        &self.sim.pki.revocation
    }

    /// The subscriber's certificate in PEM, if the subscriber exists.
    pub fn citizen_certificate_pem(&self, user_id: &str) -> Option<String> {
        let index = *self.sim.by_cccd.get(user_id)?;
        Some(self.sim.pki.citizens[index].cert_pem.clone())
    }

    /// The root CA certificate in PEM: the trust anchor for the gateway.
    pub fn root_certificate_pem(&self) -> String {
        self.sim.root_pem().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_text_follows_mysign_rules() {
        let ok = BASE64.encode("Ky hop dong so_12-2025");
        assert_eq!(
            display_text("description", &ok).unwrap(),
            "Ky hop dong so_12-2025"
        );
        let accented = BASE64.encode("Ký hợp đồng");
        assert!(display_text("description", &accented).is_err());
        let long = BASE64.encode("a".repeat(75));
        assert!(display_text("description", &long).is_err());
        assert!(display_text("description", "not base64!").is_err());
    }

    #[test]
    fn secrets_are_redacted_from_recorded_bodies() {
        let gate = CallGate::<RecordedRequest>::new().redacting(SECRET_FIELDS);
        let redacted = gate.parse_body(br#"{"client_id": "sp", "client_secret": "s3cret"}"#);
        assert_eq!(redacted["client_secret"], "[REDACTED]");
        assert_eq!(redacted["client_id"], "sp");
    }
}
