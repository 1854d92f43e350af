//! The simulator's state and logic: access tokens, the CSC methods, consent requests and SADs,
//! and [`SimControl`], the surface tests and demos steer it with. The HTTP layers (`csc_routes`,
//! and the kit's `/_sim` routes through [`ControlTarget`]) only translate to and from these
//! functions. Fault injection, delay and the request log are the kit's [`CallGate`].
//!
//! All state sits behind one `std::sync::Mutex`, never held across an `.await` nor while a
//! signature is computed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_sim_kit::faults;
use kyso_sim_kit::{
    Behaviour, CallGate, CitizenKey, ControlError, ControlTarget, Decision, Fault, KeyKind,
    RecordedRequest, Revocation, TestPki,
};
use serde::Serialize;

use crate::SimError;
use crate::algo::{HashAlg, P256_CURVE, SignAlg, key_algos, scheme};
use crate::config::{ConsentMode, SimConfig};
use crate::pki::{self, CertFacts};
use crate::wire::{
    AuthInfo, AuthorizeRequest, CertInfo, InfoRequest, InfoResponse, KeyInfo, ListRequest,
    ListResponse, ListedCredential, LoginRequest, LoginResponse, RevokeRequest, SadResponse,
    SignHashRequest, SignHashResponse,
};

/// The longest `description` `credentials/authorize` accepts, in characters.
const MAX_DESCRIPTION_CHARS: usize = 500;

/// Request-body fields the request log redacts: the SAD, access and refresh tokens, and
/// authentication data.
const SECRET_FIELDS: [&str; 5] = ["SAD", "token", "refresh_token", "authData", "client_secret"];

/// Where a consent request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationState {
    /// The citizen has not answered.
    Waiting,
    /// The citizen approved; a SAD exists.
    Approved,
    /// The citizen refused.
    Rejected,
    /// Nobody answered in time (or a control call expired it).
    Expired,
}

/// A snapshot of one consent request, for tests and the `/_sim` API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimAuthorization {
    /// The `handle` of `credentials/authorize`'s 202 answer (also given to blocking ones).
    pub handle: String,
    /// The citizen's CCCD number.
    pub cccd: String,
    /// The credential.
    pub credential_id: String,
    /// Its state, resolved against the clock when the snapshot was taken.
    pub state: AuthorizationState,
    /// `numSignatures` asked for.
    pub num_signatures: u32,
    /// Signatures still allowed under the SAD.
    pub remaining_signatures: u32,
    /// What the citizen was shown.
    pub description: String,
}

/// A citizen as the simulator knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CitizenInfo {
    /// CCCD number.
    pub cccd: String,
    /// CSC `userID`.
    pub user_id: String,
    /// Full name (the certificate's CN).
    pub full_name: String,
    /// Key type.
    pub key: KeyKind,
    /// Current behaviour (run-time overrides included).
    pub behaviour: Behaviour,
    /// Consent mode.
    pub consent: ConsentMode,
    /// The credential's `credentialID`.
    pub credential_id: String,
    /// The certificate's serial number, uppercase hex.
    pub serial_number: String,
}

/// A CSC error answer: HTTP status plus CSC's `{error, error_description}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CscError {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) description: String,
}

impl CscError {
    fn new(status: u16, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
        }
    }

    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", description)
    }

    fn missing(parameter: &str) -> Self {
        Self::invalid_request(format!("Missing (or invalid type) parameter {parameter}"))
    }

    fn invalid(parameter: &str) -> Self {
        Self::invalid_request(format!("Invalid parameter {parameter}"))
    }

    pub(crate) fn server_error() -> Self {
        Self::new(500, "server_error", "The service met an internal error")
    }

    /// The error object for an injected [`Fault::Status`].
    pub(crate) fn injected(status: u16) -> Self {
        match status {
            503 => Self::new(
                503,
                "temporarily_unavailable",
                "The service is temporarily unavailable",
            ),
            429 => Self::new(429, "temporarily_unavailable", "Too many requests"),
            401 => Self::new(401, "invalid_token", "Invalid access token"),
            400..=499 => Self::new(status, "invalid_request", "Injected client error"),
            _ => Self::new(status, "server_error", "Injected server error"),
        }
    }
}

/// A consent request `credentials/authorize` created; the HTTP layer answers 202 at once or,
/// for [`ConsentMode::Blocking`], waits for the citizen's decision.
pub(crate) struct PendingConsent {
    pub(crate) handle: String,
    pub(crate) consent: ConsentMode,
}

/// What `credentials/authorizeCheck` found.
pub(crate) enum CheckStep {
    Waiting(String),
    Granted(SadResponse),
}

struct Citizen {
    spec: crate::config::CitizenSpec,
    credential_id: String,
}

struct Token {
    expires: Instant,
    revoked: bool,
}

struct Authorization {
    handle: String,
    citizen: usize,
    created: Instant,
    hash: HashAlg,
    hashes: Vec<Vec<u8>>,
    num_signatures: u32,
    remaining: u32,
    description: String,
    state: AuthorizationState,
    sad: Option<String>,
    sad_expires: Option<Instant>,
    /// Signatures under this SAD come from a key that is not the credential's.
    foreign: bool,
}

#[derive(Default)]
struct State {
    tokens: HashMap<String, Token>,
    /// The access token issued last (what [`SimControl::expire_current_token`] expires).
    latest_token: Option<String>,
    logins: u64,
    authorizations: Vec<Authorization>,
    by_handle: HashMap<String, usize>,
    by_sad: HashMap<String, usize>,
    behaviours: HashMap<usize, Behaviour>,
}

/// The simulator proper, shared by the HTTP server and every [`SimControl`].
pub(crate) struct Sim {
    client_id: String,
    client_secret: String,
    token_lifetime: Duration,
    authorization_ttl: Duration,
    sad_lifetime: Duration,
    multisign: u32,
    pki: TestPki,
    citizens: Vec<Citizen>,
    by_user_id: HashMap<String, usize>,
    by_credential: HashMap<String, usize>,
    /// Faults, delay and the request log (secrets redacted).
    pub(crate) gate: CallGate,
    state: Mutex<State>,
}

/// A random token of 32 bytes, URL-safe base64.
fn random_token() -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs().max(1)
}

impl Sim {
    /// Generates the PKI and an empty state. CPU-bound: run it off the async executor.
    /// Its certificates point at `base_url` (the simulator's own address) for revocation data.
    pub(crate) fn new(config: SimConfig, base_url: String) -> Result<Self, SimError> {
        config.validate().map_err(SimError::InvalidConfig)?;
        let pki = pki::generate(&config.citizens, base_url)?;
        let citizens: Vec<Citizen> = config
            .citizens
            .into_iter()
            .map(|spec| Citizen {
                spec,
                credential_id: uuid::Uuid::new_v4().to_string(),
            })
            .collect();
        let by_user_id = citizens
            .iter()
            .enumerate()
            .map(|(i, c)| (c.spec.user_id.clone(), i))
            .collect();
        let by_credential = citizens
            .iter()
            .enumerate()
            .map(|(i, c)| (c.credential_id.clone(), i))
            .collect();
        Ok(Self {
            client_id: config.client_id,
            client_secret: config.client_secret,
            token_lifetime: config.token_lifetime,
            authorization_ttl: config.authorization_ttl,
            sad_lifetime: config.sad_lifetime,
            multisign: config.multisign,
            pki,
            citizens,
            by_user_id,
            by_credential,
            gate: CallGate::new().redacting(SECRET_FIELDS),
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters to a test double; keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn root_pem(&self) -> &str {
        &self.pki.root.pem
    }

    /// Checks a bearer access token: unknown or revoked is `invalid_token`, past its lifetime
    /// is `expired_token`, both 401.
    pub(crate) fn check_token(&self, token: Option<&str>) -> Result<(), CscError> {
        let token = token
            .ok_or_else(|| CscError::new(401, "invalid_token", "Missing bearer access token"))?;
        let st = self.lock();
        match st.tokens.get(token) {
            Some(record) if record.revoked => Err(CscError::new(
                401,
                "invalid_token",
                "The access token was revoked",
            )),
            Some(record) if Instant::now() >= record.expires => Err(CscError::new(
                401,
                "expired_token",
                "The access token has expired",
            )),
            Some(_) => Ok(()),
            None => Err(CscError::new(401, "invalid_token", "Invalid access token")),
        }
    }

    /// `auth/login`: HTTP Basic with the client credentials.
    pub(crate) fn login(
        &self,
        basic: Option<(String, String)>,
        request: &LoginRequest,
    ) -> Result<LoginResponse, CscError> {
        let authenticated = basic.is_some_and(|(id, secret)| {
            constant_time_eq(id.as_bytes(), self.client_id.as_bytes())
                & constant_time_eq(secret.as_bytes(), self.client_secret.as_bytes())
        });
        if !authenticated {
            return Err(CscError::new(
                401,
                "authentication_error",
                "Invalid client credentials",
            ));
        }
        let token = random_token();
        let now = Instant::now();
        let mut st = self.lock();
        // Forget tokens dead for more than a lifetime, so a long sandbox run stays small.
        let lifetime = self.token_lifetime;
        st.tokens
            .retain(|_, t| now.saturating_duration_since(t.expires) < lifetime);
        st.tokens.insert(
            token.clone(),
            Token {
                expires: now + self.token_lifetime,
                revoked: false,
            },
        );
        st.latest_token = Some(token.clone());
        st.logins += 1;
        tracing::info!("client logged in");
        Ok(LoginResponse {
            access_token: token,
            refresh_token: request.remember_me.then(random_token),
            expires_in: whole_seconds(self.token_lifetime),
        })
    }

    /// `auth/revoke`: revokes an access token (unknown tokens are ignored, as RFC 7009 says).
    pub(crate) fn revoke(&self, request: &RevokeRequest) -> Result<(), CscError> {
        let token = request
            .token
            .as_deref()
            .ok_or_else(|| CscError::missing("token"))?;
        if let Some(record) = self.lock().tokens.get_mut(token) {
            record.revoked = true;
        }
        Ok(())
    }

    /// `credentials/list`: the credentials of `userID`; an unknown user has none.
    pub(crate) fn list(&self, request: &ListRequest) -> Result<ListResponse, CscError> {
        let user_id = request
            .user_id
            .as_deref()
            .ok_or_else(|| CscError::missing("userID"))?;
        let chain = parse_certificates(request.certificates.as_deref())?;
        let found: Vec<usize> = self.by_user_id.get(user_id).copied().into_iter().collect();
        let credential_infos = request.credential_info.then(|| {
            found
                .iter()
                .map(|&i| ListedCredential {
                    credential_id: self.citizens[i].credential_id.clone(),
                    info: self.describe(i, chain, request.cert_info, request.auth_info),
                })
                .collect()
        });
        Ok(ListResponse {
            credential_ids: found
                .iter()
                .map(|&i| self.citizens[i].credential_id.clone())
                .collect(),
            credential_infos,
            only_valid: request.only_valid,
        })
    }

    fn credential(&self, credential_id: Option<&str>) -> Result<usize, CscError> {
        let id = credential_id.ok_or_else(|| CscError::missing("credentialID"))?;
        self.by_credential
            .get(id)
            .copied()
            .ok_or_else(|| CscError::invalid("credentialID"))
    }

    /// `credentials/info`.
    pub(crate) fn info(&self, request: &InfoRequest) -> Result<InfoResponse, CscError> {
        let index = self.credential(request.credential_id.as_deref())?;
        let chain = parse_certificates(request.certificates.as_deref())?;
        Ok(self.describe(index, chain, request.cert_info, request.auth_info))
    }

    fn describe(
        &self,
        index: usize,
        certificates: Certificates,
        cert_info: bool,
        auth_info: bool,
    ) -> InfoResponse {
        let citizen = &self.citizens[index];
        let issued = &self.pki.citizens[index];
        let certificates = match certificates {
            Certificates::None => None,
            Certificates::Single => Some(vec![BASE64.encode(&issued.certificate.der)]),
            Certificates::Chain => Some(
                std::iter::once(&issued.certificate)
                    .chain(self.pki.issuer_of(issued))
                    .chain(std::iter::once(&self.pki.root))
                    .map(|certificate| BASE64.encode(&certificate.der))
                    .collect(),
            ),
        };
        let facts = cert_info.then(|| CertFacts::of(issued));
        let facts = facts.as_ref();
        InfoResponse {
            description: format!("Chữ ký số của {}", citizen.spec.full_name),
            signature_qualifier: "eu_eidas_aes",
            key: KeyInfo {
                status: "enabled",
                algo: key_algos(citizen.spec.key).to_vec(),
                len: match citizen.spec.key {
                    KeyKind::Rsa2048 => 2048,
                    KeyKind::P256 => 256,
                },
                curve: (citizen.spec.key == KeyKind::P256).then_some(P256_CURVE),
            },
            cert: CertInfo {
                status: if self.pki.revocation.is_revoked(&issued.certificate.serial) {
                    "revoked"
                } else {
                    "valid"
                },
                certificates,
                issuer_dn: facts.map(|f| f.issuer_dn.clone()),
                serial_number: facts.map(|f| f.serial_hex.clone()),
                subject_dn: facts.map(|f| f.subject_dn.clone()),
                valid_from: facts.map(|f| f.valid_from.clone()),
                valid_to: facts.map(|f| f.valid_to.clone()),
            },
            auth: auth_info.then_some(AuthInfo {
                mode: "explicit",
                description: "The holder confirms each request in the Kyso Sandbox app; \
                              authData stays empty",
                objects: Vec::new(),
            }),
            scal: "2",
            multisign: self.multisign,
            lang: "vi",
        }
    }

    /// `credentials/authorize`: validates and creates a consent request the citizen answers
    /// on their phone (SCAL 2: the hashes are bound to it).
    pub(crate) fn authorize(&self, request: AuthorizeRequest) -> Result<PendingConsent, CscError> {
        let index = self.credential(request.credential_id.as_deref())?;
        let num_signatures = request
            .num_signatures
            .ok_or_else(|| CscError::missing("numSignatures"))?;
        if num_signatures == 0 || num_signatures > self.multisign {
            return Err(CscError::invalid_request(format!(
                "Invalid parameter numSignatures: between 1 and multisign ({})",
                self.multisign
            )));
        }
        if request
            .auth_data
            .as_ref()
            .is_some_and(|data| !data.is_empty())
        {
            return Err(CscError::new(
                400,
                "invalid_authentication_data",
                "This credential takes no authData: the holder consents in the app",
            ));
        }
        // SCAL 2: the SAD is bound to the hashes, so they are required here.
        let hashes = request.hashes.ok_or_else(|| CscError::missing("hashes"))?;
        let hash = request
            .hash_algorithm_oid
            .as_deref()
            .ok_or_else(|| CscError::missing("hashAlgorithmOID"))
            .and_then(|oid| {
                HashAlg::from_oid(oid).ok_or_else(|| CscError::invalid("hashAlgorithmOID"))
            })?;
        if u32::try_from(hashes.len()).ok() != Some(num_signatures) {
            return Err(CscError::invalid_request(
                "numSignatures must equal the number of hashes (SCAL 2)",
            ));
        }
        let hashes = decode_hashes(&hashes, hash)?;
        let description = request.description.unwrap_or_default();
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(CscError::invalid_request(format!(
                "description is longer than {MAX_DESCRIPTION_CHARS} characters"
            )));
        }
        let handle = uuid::Uuid::new_v4().to_string();
        let mut st = self.lock();
        let position = st.authorizations.len();
        st.by_handle.insert(handle.clone(), position);
        st.authorizations.push(Authorization {
            handle: handle.clone(),
            citizen: index,
            created: Instant::now(),
            hash,
            hashes,
            num_signatures,
            remaining: num_signatures,
            description,
            state: AuthorizationState::Waiting,
            sad: None,
            sad_expires: None,
            foreign: false,
        });
        tracing::info!(
            %handle,
            cccd = %self.citizens[index].spec.cccd,
            num_signatures,
            "consent request sent to the citizen"
        );
        Ok(PendingConsent {
            handle,
            consent: self.citizens[index].spec.consent,
        })
    }

    /// `credentials/authorizeCheck`: the SAD once approved, 202 while waiting, `access_denied`
    /// when refused, `expired_token` (400) when the request or its SAD lapsed.
    pub(crate) fn authorize_check(&self, handle: Option<&str>) -> Result<CheckStep, CscError> {
        let handle = handle.ok_or_else(|| CscError::missing("handle"))?;
        let mut st = self.lock();
        let index = *st
            .by_handle
            .get(handle)
            .ok_or_else(|| CscError::invalid("handle"))?;
        let now = Instant::now();
        self.resolve(&mut st, index, now);
        let authorization = &st.authorizations[index];
        match authorization.state {
            AuthorizationState::Waiting => Ok(CheckStep::Waiting(handle.to_owned())),
            AuthorizationState::Rejected => Err(CscError::new(
                400,
                "access_denied",
                "The holder refused the authorization request",
            )),
            AuthorizationState::Expired => Err(CscError::new(
                400,
                "expired_token",
                "The authorization request expired before the holder answered",
            )),
            AuthorizationState::Approved => {
                let (Some(sad), Some(expires)) =
                    (authorization.sad.clone(), authorization.sad_expires)
                else {
                    return Err(CscError::server_error());
                };
                if now >= expires {
                    return Err(CscError::new(
                        400,
                        "expired_token",
                        "The SAD of this authorization has expired",
                    ));
                }
                Ok(CheckStep::Granted(SadResponse {
                    sad,
                    expires_in: whole_seconds(expires - now),
                }))
            }
        }
    }

    /// Applies the citizen's behaviour and the service-wide expiry to a waiting request.
    fn resolve(&self, st: &mut State, index: usize, now: Instant) {
        let authorization = &st.authorizations[index];
        if authorization.state != AuthorizationState::Waiting {
            return;
        }
        let age = now.saturating_duration_since(authorization.created);
        let behaviour = st
            .behaviours
            .get(&authorization.citizen)
            .copied()
            .unwrap_or(self.citizens[authorization.citizen].spec.behaviour);
        if let Some(decision) = behaviour.due(age, self.authorization_ttl) {
            self.decide(st, index, decision.into(), now);
        }
    }

    /// Moves a waiting request to `outcome`; approval mints the SAD.
    fn decide(&self, st: &mut State, index: usize, outcome: AuthorizationState, now: Instant) {
        let foreign = outcome == AuthorizationState::Approved && self.gate.take_foreign();
        let sad = (outcome == AuthorizationState::Approved).then(random_token);
        if let Some(sad) = &sad {
            st.by_sad.insert(sad.clone(), index);
        }
        let authorization = &mut st.authorizations[index];
        authorization.state = outcome;
        authorization.foreign = foreign;
        authorization.sad_expires = sad.as_ref().map(|_| now + self.sad_lifetime);
        authorization.sad = sad;
        tracing::info!(handle = %authorization.handle, state = ?outcome, "consent request decided");
    }

    /// `signatures/signHash`: checks the SAD (bound to the credential and the authorized
    /// hashes, counted against `numSignatures`), then signs every hash.
    pub(crate) fn sign_hash(&self, request: SignHashRequest) -> Result<SignHashResponse, CscError> {
        let index = self.credential(request.credential_id.as_deref())?;
        let key_kind = self.citizens[index].spec.key;
        if request
            .operation_mode
            .as_deref()
            .is_some_and(|mode| mode != "S")
        {
            return Err(CscError::invalid_request(
                "Invalid parameter operationMode: only S (synchronous) is offered",
            ));
        }
        let sign_algo_oid = request
            .sign_algo
            .as_deref()
            .ok_or_else(|| CscError::missing("signAlgo"))?;
        let sign_algo = SignAlg::from_oid(sign_algo_oid)
            .filter(|alg| alg.key == key_kind && key_algos(key_kind).contains(&sign_algo_oid))
            .ok_or_else(|| CscError::invalid("signAlgo"))?;
        if request.sign_algo_params.is_some() {
            return Err(CscError::invalid_request(
                "Invalid parameter signAlgoParams: this signAlgo takes none",
            ));
        }
        let named_hash = request
            .hash_algorithm_oid
            .as_deref()
            .map(|oid| HashAlg::from_oid(oid).ok_or_else(|| CscError::invalid("hashAlgorithmOID")))
            .transpose()?;
        let hash = match (named_hash, sign_algo.implied_hash) {
            (Some(named), Some(implied)) if named != implied => {
                return Err(CscError::invalid_request(
                    "hashAlgorithmOID does not match the hash of signAlgo",
                ));
            }
            (Some(hash), _) | (None, Some(hash)) => hash,
            (None, None) => return Err(CscError::missing("hashAlgorithmOID")),
        };
        let hashes = request.hashes.ok_or_else(|| CscError::missing("hashes"))?;
        if hashes.is_empty() {
            return Err(CscError::missing("hashes"));
        }
        let digests = decode_hashes(&hashes, hash)?;
        let sad = request
            .sad
            .as_deref()
            .ok_or_else(|| CscError::missing("SAD"))?;

        let (foreign, corrupting) = {
            let mut st = self.lock();
            let position = *st.by_sad.get(sad).ok_or_else(|| CscError::invalid("SAD"))?;
            let now = Instant::now();
            let authorization = &mut st.authorizations[position];
            if authorization.citizen != index {
                return Err(CscError::invalid("SAD"));
            }
            if authorization
                .sad_expires
                .is_none_or(|expires| now >= expires)
            {
                return Err(CscError::invalid_request("The SAD has expired"));
            }
            if authorization.hash != hash
                || digests.iter().any(|d| !authorization.hashes.contains(d))
            {
                return Err(CscError::new(
                    403,
                    "invalid_hash",
                    "A hash was not authorized by this SAD",
                ));
            }
            let count = u32::try_from(digests.len()).unwrap_or(u32::MAX);
            if count > authorization.remaining {
                return Err(CscError::invalid_request(format!(
                    "The SAD allows {} more signatures",
                    authorization.remaining
                )));
            }
            authorization.remaining -= count;
            (authorization.foreign, self.gate.take_corrupt())
        };

        let stranger;
        let key = if foreign {
            stranger = CitizenKey::generate(key_kind).map_err(|error| {
                tracing::error!(%error, "generating a foreign key failed");
                CscError::server_error()
            })?;
            &stranger
        } else {
            &self.pki.citizens[index].key
        };
        let mut signatures = digests
            .iter()
            .map(|digest| key.sign_digest(scheme(key_kind), hash.digest(), digest))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| {
                tracing::error!(%error, "signing failed");
                CscError::server_error()
            })?;
        if corrupting {
            signatures
                .iter_mut()
                .for_each(|signature| faults::corrupt(signature));
        }
        tracing::info!(
            credential_id = %self.citizens[index].credential_id,
            count = signatures.len(),
            "hashes signed"
        );
        Ok(SignHashResponse {
            signatures: signatures.iter().map(|s| BASE64.encode(s)).collect(),
        })
    }

    fn citizen_index(&self, id: &str) -> Option<usize> {
        self.citizens
            .iter()
            .position(|c| c.spec.cccd == id || c.spec.user_id == id)
    }

    fn control_decide(&self, handle: &str, outcome: AuthorizationState) -> Result<(), SimError> {
        let mut st = self.lock();
        let index = *st
            .by_handle
            .get(handle)
            .ok_or_else(|| SimError::UnknownAuthorization(handle.to_owned()))?;
        let now = Instant::now();
        self.resolve(&mut st, index, now);
        let state = st.authorizations[index].state;
        if state != AuthorizationState::Waiting {
            return Err(SimError::NotWaiting {
                handle: handle.to_owned(),
                state,
            });
        }
        self.decide(&mut st, index, outcome, now);
        Ok(())
    }

    /// From now on the citizen (by CCCD number or `userID`) answers as `behaviour`.
    fn set_behaviour(&self, citizen: &str, behaviour: Behaviour) -> Result<(), SimError> {
        let index = self
            .citizen_index(citizen)
            .ok_or_else(|| SimError::UnknownCitizen(citizen.to_owned()))?;
        self.lock().behaviours.insert(index, behaviour);
        Ok(())
    }

    fn citizens(&self) -> Vec<CitizenInfo> {
        let overrides = self.lock().behaviours.clone();
        self.citizens
            .iter()
            .enumerate()
            .map(|(i, c)| CitizenInfo {
                cccd: c.spec.cccd.clone(),
                user_id: c.spec.user_id.clone(),
                full_name: c.spec.full_name.clone(),
                key: c.spec.key,
                behaviour: overrides.get(&i).copied().unwrap_or(c.spec.behaviour),
                consent: c.spec.consent,
                credential_id: c.credential_id.clone(),
                serial_number: self.pki.citizens[i].certificate.serial_hex(),
            })
            .collect()
    }

    fn snapshot(&self) -> Vec<SimAuthorization> {
        let mut st = self.lock();
        let now = Instant::now();
        for index in 0..st.authorizations.len() {
            self.resolve(&mut st, index, now);
        }
        st.authorizations
            .iter()
            .map(|a| SimAuthorization {
                handle: a.handle.clone(),
                cccd: self.citizens[a.citizen].spec.cccd.clone(),
                credential_id: self.citizens[a.citizen].credential_id.clone(),
                state: a.state,
                num_signatures: a.num_signatures,
                remaining_signatures: a.remaining,
                description: a.description.clone(),
            })
            .collect()
    }
}

impl From<Decision> for AuthorizationState {
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::Approve => Self::Approved,
            Decision::Reject => Self::Rejected,
            Decision::Expire => Self::Expired,
        }
    }
}

/// The kit's `/_sim` routes drive the same functions as [`SimControl`]; CSC calls the
/// transactions `authorizations`.
impl ControlTarget for Sim {
    type Record = RecordedRequest;
    const TRANSACTIONS: &'static str = "authorizations";

    fn gate(&self) -> &CallGate {
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

    /// `citizen` is the CCCD number or the `userID`, as for behaviours.
    fn certificate_serials(&self, citizen: &str) -> Option<Vec<[u8; 16]>> {
        let index = self.citizen_index(citizen)?;
        Some(vec![self.pki.citizens[index].certificate.serial])
    }
}

/// The `/_sim` answer for a failed control call.
fn control_error(error: SimError) -> ControlError {
    let message = error.to_string();
    match error {
        SimError::UnknownAuthorization(_) | SimError::UnknownCitizen(_) => {
            ControlError::NotFound(message)
        }
        SimError::NotWaiting { .. } => ControlError::Conflict(message),
        SimError::InvalidConfig(_) => ControlError::BadRequest(message),
        _ => ControlError::Internal(message),
    }
}

/// `certificates` of `credentials/list` and `credentials/info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Certificates {
    None,
    Single,
    Chain,
}

fn parse_certificates(value: Option<&str>) -> Result<Certificates, CscError> {
    match value {
        None | Some("single") => Ok(Certificates::Single),
        Some("none") => Ok(Certificates::None),
        Some("chain") => Ok(Certificates::Chain),
        Some(_) => Err(CscError::invalid("certificates")),
    }
}

/// Decodes base64 hashes and checks each has the length of `hash`.
fn decode_hashes(hashes: &[String], hash: HashAlg) -> Result<Vec<Vec<u8>>, CscError> {
    hashes
        .iter()
        .map(|encoded| {
            let digest = BASE64
                .decode(encoded.trim())
                .map_err(|_| CscError::invalid_request("Invalid Base64 hashes string parameter"))?;
            if digest.len() == hash.len() {
                Ok(digest)
            } else {
                Err(CscError::invalid_request(format!(
                    "A hash is {} bytes long; hashAlgorithmOID {} makes {}",
                    digest.len(),
                    hash.oid(),
                    hash.len()
                )))
            }
        })
        .collect()
}

/// Compares secrets without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Control of a running simulator: decide consent requests, change behaviours, inject faults,
/// expire tokens, inspect what happened. Cheap to clone; clones share the state.
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

    /// The citizen approves a waiting consent request (a SAD is minted).
    ///
    /// # Errors
    /// [`SimError::UnknownAuthorization`] or [`SimError::NotWaiting`].
    pub fn approve(&self, handle: &str) -> Result<(), SimError> {
        self.sim
            .control_decide(handle, AuthorizationState::Approved)
    }

    /// The citizen refuses a waiting consent request.
    ///
    /// # Errors
    /// [`SimError::UnknownAuthorization`] or [`SimError::NotWaiting`].
    pub fn reject(&self, handle: &str) -> Result<(), SimError> {
        self.sim
            .control_decide(handle, AuthorizationState::Rejected)
    }

    /// The service gives a waiting consent request up now.
    ///
    /// # Errors
    /// [`SimError::UnknownAuthorization`] or [`SimError::NotWaiting`].
    pub fn expire(&self, handle: &str) -> Result<(), SimError> {
        self.sim.control_decide(handle, AuthorizationState::Expired)
    }

    /// From now on the citizen (by CCCD number or CSC `userID`) answers as `behaviour`,
    /// waiting requests included.
    ///
    /// # Errors
    /// [`SimError::UnknownCitizen`].
    pub fn set_behaviour(&self, citizen: &str, behaviour: Behaviour) -> Result<(), SimError> {
        self.sim.set_behaviour(citizen, behaviour)
    }

    /// The next call of any CSC method suffers `fault` (once); replaces an unused one.
    pub fn fail_next(&self, fault: Fault) {
        self.sim.gate.fail_next(fault);
    }

    /// The next `signatures/signHash` answer has one byte flipped in every signature.
    pub fn corrupt_next_signature(&self) {
        self.sim.gate.corrupt_next_signature();
    }

    /// The next consent request to be approved gets a SAD whose signatures are made by a
    /// freshly generated key of the same kind, which matches no certificate.
    pub fn sign_next_with_foreign_key(&self) {
        self.sim.gate.sign_next_with_foreign_key();
    }

    /// Expires the access token issued last: its next use is refused with 401
    /// `expired_token`. Returns false when no token was ever issued.
    pub fn expire_current_token(&self) -> bool {
        let mut st = self.sim.lock();
        let Some(latest) = st.latest_token.clone() else {
            return false;
        };
        if let Some(token) = st.tokens.get_mut(&latest) {
            token.expires = Instant::now();
        }
        true
    }

    /// Expires every access token issued so far.
    pub fn expire_all_tokens(&self) {
        let now = Instant::now();
        for token in self.sim.lock().tokens.values_mut() {
            token.expires = token.expires.min(now);
        }
    }

    /// How many times `auth/login` succeeded.
    pub fn logins(&self) -> u64 {
        self.sim.lock().logins
    }

    /// Latency added before every CSC answer (`Duration::ZERO` = none).
    pub fn set_delay(&self, delay: Duration) {
        self.sim.gate.set_delay(delay);
    }

    /// Every consent request, oldest first, resolved against the clock.
    pub fn authorizations(&self) -> Vec<SimAuthorization> {
        self.sim.snapshot()
    }

    /// The CSC calls received, oldest first (at most
    /// [`MAX_RECORDED_REQUESTS`](crate::MAX_RECORDED_REQUESTS)), the SAD, tokens and `authData`
    /// redacted.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.sim.gate.requests()
    }

    /// The citizens.
    pub fn citizens(&self) -> Vec<CitizenInfo> {
        self.sim.citizens()
    }

    /// The revocation side of the test PKI: CRLs, OCSP, switches, URLs, and revoking a citizen's
    /// certificate (`revocation().revoke_citizen(cccd, &Revoke::default())`, as
    /// `/_sim/citizens/{id}/revoke` does): the CRL and OCSP say so, and `credentials/info` then
    /// reports `cert.status` `revoked` (CSC's word). Signing still works: catching a revoked
    /// certificate is the relying party's job.
    pub fn revocation(&self) -> &Revocation {
        &self.sim.pki.revocation
    }

    /// The citizen's certificate (by CCCD number or `userID`) in PEM.
    pub fn citizen_certificate_pem(&self, citizen: &str) -> Option<String> {
        let index = self.sim.citizen_index(citizen)?;
        Some(self.sim.pki.citizens[index].certificate.pem.clone())
    }

    /// The root CA certificate in PEM: the trust anchor to give the gateway.
    pub fn root_certificate_pem(&self) -> String {
        self.sim.root_pem().to_owned()
    }
}
