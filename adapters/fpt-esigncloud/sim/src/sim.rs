//! The simulator's state and logic: RP authentication, the eSignCloud functions, the lazy
//! resolution of pending authorisations, and [`SimControl`], the control surface for tests and
//! demos. The HTTP layers (`ca_routes`, and the kit's `/_sim` routes through [`ControlTarget`])
//! only translate to and from these functions. Fault injection, delay and the request log are
//! the kit's [`CallGate`], recording eSignCloud's own [`RecordedRequest`].
//!
//! All transaction state sits behind one `std::sync::Mutex`, never held across an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_sim_kit::faults::corrupt;
use kyso_sim_kit::{
    Behaviour, CallGate, CitizenKey, ControlError, ControlTarget, Decision, DigestAlgorithm, Fault,
    KeyKind, Revocation, SignatureScheme,
};
use serde::Serialize;

use crate::SimError;
use crate::config::{RelyingPartySpec, SimConfig};
use crate::pki::{Citizen, FptPki, RelyingPartyKey, digest_from_mime_type, mime_type};
use crate::wire::{
    METHOD_EMAIL, METHOD_MOBILE, METHOD_PASSCODE, METHOD_SMS, METHOD_UAF, MODE_ASYNC_CLIENT_SERVER,
    MODE_ASYNC_SERVER_SERVER, MODE_SYNC, SERVICE_NAME, SignCloudReq, SignCloudResp, SignedFileData,
};

/// How far `credentialData.timestamp` may be from the simulator's clock, either way.
pub const TIMESTAMP_WINDOW: Duration = Duration::from_secs(300);

/// Wrong OTPs accepted for one transaction before it fails.
pub const OTP_ATTEMPTS: u32 = 3;

/// Where a signing transaction (a `billCode`) stands at the CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionState {
    /// Waiting for the subscriber's authorisation (responseCode 1007).
    Waiting,
    /// Authorised and signed.
    Approved,
    /// Refused by the subscriber.
    Rejected,
    /// Not authorised in time.
    Expired,
    /// Too many wrong OTPs.
    Failed,
}

/// A snapshot of one transaction, for tests and the `/_sim` API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimTransaction {
    /// The `billCode` the CA issued.
    pub bill_code: String,
    /// The agreement it signs under.
    pub agreement_uuid: String,
    /// The subscriber's CCCD number.
    pub user_id: String,
    /// The state, resolved against the clock when the snapshot was taken.
    pub state: TransactionState,
    /// Number of hashes.
    pub document_count: usize,
    /// The `authorizeMethod` requested.
    pub authorize_method: i64,
    /// The OTP "sent" to the subscriber, for the OTP methods (1 and 2): what a demo types in.
    pub otp: Option<String>,
    /// The `notificationTemplate` the RP sent: what the subscriber is shown.
    pub notification: Option<String>,
}

/// The JSON fields the request log redacts, at any depth: the RP's `credentialData.password`,
/// `.signature` (the static RP signature) and `.pkcs1Signature`.
const SECRET_FIELDS: [&str; 3] = ["password", "signature", "pkcs1Signature"];

/// One call of a CA function, as received, with the RP's secrets blanked out: the record of the
/// kit's [`CallGate`] here, since eSignCloud's headers matter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// The function name (the last path segment).
    pub function: String,
    /// The `x-esignservice-name` header, if any.
    pub service_name: Option<String>,
    /// Whether a `signature` header came with the call.
    pub signed: bool,
    /// The body as JSON, `credentialData.password`, `.signature` and `.pkcs1Signature`
    /// replaced by `"[REDACTED]"`; `null` for an empty body; a JSON string of the (lossily
    /// decoded) text if the body is not JSON.
    pub body: serde_json::Value,
}

/// A subscriber as the simulator knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CitizenInfo {
    /// The `agreementUUID`.
    pub agreement_uuid: String,
    /// The CCCD number.
    pub user_id: String,
    /// Full name (the certificate's CN).
    pub full_name: String,
    /// What the subscriber does with app authorisations now.
    pub behaviour: Behaviour,
    /// Uppercase hex serial of the certificate.
    pub serial_number: String,
}

/// A non-zero `responseCode` answer (always HTTP 200, except [`CaError::Injected`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CaError {
    /// 1001: unknown `relyingParty`/`username`, or wrong password or static signature.
    CredentialsInvalid,
    /// 1002: `pkcs1Signature` or the `signature` header does not verify with the RP key,
    /// or the timestamp is stale.
    SignatureInvalid(&'static str),
    /// 1003: a missing or malformed parameter.
    ParameterInvalid(String),
    /// 1004: no such `agreementUUID`.
    AgreementNotFound,
    /// 1005: no such `billCode` under this agreement.
    BillCodeNotFound,
    /// 1006: wrong OTP or passcode.
    AuthorizationCodeInvalid { remaining: Option<u32> },
    /// 1012: a function, `authorizeMethod` or `mimeType` the service does not offer here.
    NotSupported(String),
    /// 9999: the CA failed internally.
    System,
    /// An injected HTTP status, body `responseCode` 9999.
    Injected(u16),
}

impl CaError {
    /// The `responseCode`.
    pub(crate) fn code(&self) -> i64 {
        match self {
            Self::CredentialsInvalid => 1001,
            Self::SignatureInvalid(_) => 1002,
            Self::ParameterInvalid(_) => 1003,
            Self::AgreementNotFound => 1004,
            Self::BillCodeNotFound => 1005,
            Self::AuthorizationCodeInvalid { .. } => 1006,
            Self::NotSupported(_) => 1012,
            Self::System | Self::Injected(_) => 9999,
        }
    }

    /// The `responseMessage`.
    pub(crate) fn message(&self) -> String {
        match self {
            Self::CredentialsInvalid => "RELYING PARTY CREDENTIALS ARE INVALID".to_owned(),
            Self::SignatureInvalid(what) => format!("RELYING PARTY SIGNATURE IS INVALID: {what}"),
            Self::ParameterInvalid(what) => format!("PARAMETER IS INVALID: {what}"),
            Self::AgreementNotFound => "AGREEMENT NOT FOUND".to_owned(),
            Self::BillCodeNotFound => "BILL CODE NOT FOUND".to_owned(),
            Self::AuthorizationCodeInvalid { .. } => "AUTHORIZATION CODE IS INVALID".to_owned(),
            Self::NotSupported(what) => format!("NOT SUPPORTED: {what}"),
            Self::System => "SYSTEM ERROR".to_owned(),
            Self::Injected(status) => match status {
                503 => "SERVICE UNAVAILABLE".to_owned(),
                502 => "BAD GATEWAY".to_owned(),
                504 => "GATEWAY TIMEOUT".to_owned(),
                _ => "SYSTEM ERROR".to_owned(),
            },
        }
    }

    /// The whole answer body.
    pub(crate) fn response(&self) -> SignCloudResp {
        SignCloudResp {
            response_code: self.code(),
            response_message: self.message(),
            remaining_counter: match self {
                Self::AuthorizationCodeInvalid { remaining } => *remaining,
                _ => None,
            },
            ..SignCloudResp::default()
        }
    }
}

/// What `prepareHashSigningForSignCloud` leads to.
pub(crate) enum Prepared {
    /// Answer this now.
    Answer(Box<SignCloudResp>),
    /// Synchronous messaging for an app authorisation: hold the call until this bill is
    /// decided, then answer as `getSignatureValueForSignCloud` would.
    Wait(String),
}

struct Document {
    digest: Vec<u8>,
    algorithm: DigestAlgorithm,
    file_name: Option<String>,
}

struct Transaction {
    bill_code: String,
    /// Index into `Sim::pki.citizens`.
    citizen: usize,
    created: Instant,
    documents: Vec<Document>,
    method: i64,
    state: TransactionState,
    /// One per document once approved.
    signatures: Vec<Vec<u8>>,
    /// Whether a success answer has been sent (corruption is decided then).
    delivered: bool,
    otp: Option<String>,
    remaining: u32,
    certificate_required: bool,
    notification: Option<String>,
}

#[derive(Default)]
struct State {
    transactions: Vec<Transaction>,
    by_bill: HashMap<String, usize>,
    /// Behaviours set at run time, by citizen index.
    behaviours: HashMap<usize, Behaviour>,
}

/// The simulator proper, shared by the HTTP server and every [`SimControl`].
pub(crate) struct Sim {
    rp: RelyingPartySpec,
    rp_key: RelyingPartyKey,
    ttl: Duration,
    pki: FptPki,
    by_agreement: HashMap<String, usize>,
    by_user: HashMap<String, usize>,
    /// Faults, delay and the request log (the RP's secrets redacted).
    pub(crate) gate: CallGate<RecordedRequest>,
    state: Mutex<State>,
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|since| i64::try_from(since.as_millis()).ok())
        .unwrap_or(0)
}

impl Sim {
    /// Generates the keys and the PKI. CPU-bound: run it off the async executor.
    /// Its certificates point at `base_url` (the simulator's own address) for revocation data.
    pub(crate) fn new(config: SimConfig, base_url: String) -> Result<Self, SimError> {
        config.validate().map_err(SimError::InvalidConfig)?;
        let rp_key = RelyingPartyKey::from_config(&config.relying_party.key)?;
        let pki = FptPki::generate(&config.citizens, base_url)?;
        let index = |key: fn(&Citizen) -> &String| {
            pki.citizens
                .iter()
                .enumerate()
                .map(|(i, citizen)| (key(citizen).clone(), i))
                .collect::<HashMap<_, _>>()
        };
        let by_agreement = index(|citizen| &citizen.spec.agreement_uuid);
        let by_user = index(|citizen| &citizen.spec.user_id);
        Ok(Self {
            rp: config.relying_party,
            rp_key,
            ttl: config.authorisation_ttl,
            pki,
            by_agreement,
            by_user,
            gate: CallGate::new().redacting(SECRET_FIELDS),
            state: Mutex::new(State::default()),
        })
    }

    pub(crate) fn root_pem(&self) -> &str {
        &self.pki.root_pem
    }

    pub(crate) fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    pub(crate) fn rp_private_pem(&self) -> Option<&str> {
        self.rp_key.private_pem.as_deref()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code path panics while holding the lock and every mutation leaves the state
        // consistent, so a poisoned lock still holds usable state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Start of every CA call: records it in the gate's log, takes the armed fault, returns it
    /// with the delay.
    pub(crate) fn begin_call(
        &self,
        function: &str,
        service_name: Option<&str>,
        signed: bool,
        body: &[u8],
    ) -> (Option<Fault>, Duration) {
        self.gate.record(RecordedRequest {
            function: function.to_owned(),
            service_name: service_name.map(str::to_owned),
            signed,
            body: self.gate.parse_body(body),
        })
    }

    /// Checks the RP's credentials and both of its signatures.
    pub(crate) fn authenticate(
        &self,
        request: &SignCloudReq,
        body: &[u8],
        header_signature: Option<&str>,
        service_name: Option<&str>,
    ) -> Result<(), CaError> {
        if service_name != Some(SERVICE_NAME) {
            return Err(CaError::ParameterInvalid(format!(
                "header x-esignservice-name must be {SERVICE_NAME}"
            )));
        }
        let credentials = &request.credential_data;
        if request.relying_party != self.rp.name
            || credentials.username != self.rp.user
            || credentials.password != self.rp.password
            || credentials.signature != self.rp.signature
        {
            return Err(CaError::CredentialsInvalid);
        }
        let timestamp: i64 = credentials.timestamp.trim().parse().map_err(|_| {
            CaError::ParameterInvalid("credentialData.timestamp is not epoch milliseconds".into())
        })?;
        let window = i64::try_from(TIMESTAMP_WINDOW.as_millis()).unwrap_or(i64::MAX);
        if now_millis().abs_diff(timestamp) > window.unsigned_abs() {
            return Err(CaError::SignatureInvalid("timestamp is outside the window"));
        }
        let pkcs1 = BASE64
            .decode(credentials.pkcs1_signature.trim())
            .map_err(|_| CaError::SignatureInvalid("pkcs1Signature is not base64"))?;
        let signed_data = format!(
            "{}{}{}{}",
            credentials.username,
            credentials.password,
            credentials.signature,
            credentials.timestamp
        );
        if !self.rp_key.verifies(signed_data.as_bytes(), &pkcs1) {
            return Err(CaError::SignatureInvalid(
                "pkcs1Signature does not verify with the relying party key",
            ));
        }
        let header =
            header_signature.ok_or(CaError::SignatureInvalid("the signature header is missing"))?;
        let header = BASE64
            .decode(header.trim())
            .map_err(|_| CaError::SignatureInvalid("the signature header is not base64"))?;
        if !self.rp_key.verifies(body, &header) {
            return Err(CaError::SignatureInvalid(
                "the signature header does not verify over the body",
            ));
        }
        Ok(())
    }

    fn agreement(&self, request: &SignCloudReq) -> Result<usize, CaError> {
        let agreement = request
            .agreement_uuid
            .as_deref()
            .filter(|uuid| !uuid.is_empty())
            .ok_or_else(|| CaError::ParameterInvalid("agreementUUID is missing".into()))?;
        self.by_agreement
            .get(agreement)
            .copied()
            .ok_or(CaError::AgreementNotFound)
    }

    fn certificate_fields(&self, citizen: usize, response: &mut SignCloudResp) {
        let citizen = &self.pki.citizens[citizen];
        response.certificate = Some(BASE64.encode(&citizen.certificate.der));
        response.certificate_dn = Some(citizen.subject_dn());
        response.certificate_serial_number = Some(citizen.serial_hex());
        response.issuer_dn = Some(citizen.issuer_dn());
        response.valid_from = Some(citizen.valid_from_ms());
        response.valid_to = Some(citizen.valid_to_ms());
    }

    /// `getCertificateDetailForSignCloud`.
    pub(crate) fn certificate_detail(
        &self,
        request: &SignCloudReq,
    ) -> Result<SignCloudResp, CaError> {
        let citizen = self.agreement(request)?;
        let mut response = success();
        self.certificate_fields(citizen, &mut response);
        Ok(response)
    }

    /// `prepareHashSigningForSignCloud`: validates and creates a transaction.
    pub(crate) fn prepare_hash_signing(&self, request: &SignCloudReq) -> Result<Prepared, CaError> {
        let citizen = self.agreement(request)?;
        let method = request
            .authorize_method
            .ok_or_else(|| CaError::ParameterInvalid("authorizeMethod is missing".into()))?;
        match method {
            METHOD_SMS | METHOD_EMAIL | METHOD_MOBILE | METHOD_PASSCODE => {}
            METHOD_UAF => return Err(CaError::NotSupported("authorizeMethod 5 (UAF)".into())),
            other => {
                return Err(CaError::ParameterInvalid(format!(
                    "authorizeMethod {other} is not 1-5"
                )));
            }
        }
        let mode = request
            .messaging_mode
            .ok_or_else(|| CaError::ParameterInvalid("messagingMode is missing".into()))?;
        if ![
            MODE_ASYNC_CLIENT_SERVER,
            MODE_ASYNC_SERVER_SERVER,
            MODE_SYNC,
        ]
        .contains(&mode)
        {
            return Err(CaError::ParameterInvalid(format!(
                "messagingMode {mode} is not 1-3"
            )));
        }
        let files = request
            .multiple_signing_file_data
            .as_deref()
            .filter(|files| !files.is_empty())
            .ok_or_else(|| {
                CaError::ParameterInvalid("multipleSigningFileData is missing or empty".into())
            })?;
        let documents = files
            .iter()
            .enumerate()
            .map(|(i, file)| {
                let algorithm = digest_from_mime_type(&file.mime_type).map_err(|known| {
                    if known {
                        CaError::NotSupported(format!("mimeType {}", file.mime_type))
                    } else {
                        CaError::ParameterInvalid(format!(
                            "multipleSigningFileData[{i}].mimeType {:?}",
                            file.mime_type
                        ))
                    }
                })?;
                let digest = hex::decode(file.hash.trim()).map_err(|_| {
                    CaError::ParameterInvalid(format!(
                        "multipleSigningFileData[{i}].hash is not hex"
                    ))
                })?;
                if digest.len() != algorithm.output_len() {
                    return Err(CaError::ParameterInvalid(format!(
                        "multipleSigningFileData[{i}].hash has {} bytes, {} wants {}",
                        digest.len(),
                        mime_type(algorithm),
                        algorithm.output_len()
                    )));
                }
                Ok(Document {
                    digest,
                    algorithm,
                    file_name: file.signing_file_name.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if method == METHOD_PASSCODE
            && request.authorize_code.as_deref()
                != Some(self.pki.citizens[citizen].spec.passcode.as_str())
        {
            return Err(CaError::AuthorizationCodeInvalid { remaining: None });
        }

        let bill_code = new_bill_code();
        let otp = matches!(method, METHOD_SMS | METHOD_EMAIL).then(new_otp);
        let mut state = self.lock();
        let index = state.transactions.len();
        state.by_bill.insert(bill_code.clone(), index);
        state.transactions.push(Transaction {
            bill_code: bill_code.clone(),
            citizen,
            created: Instant::now(),
            documents,
            method,
            state: TransactionState::Waiting,
            signatures: Vec::new(),
            delivered: false,
            otp,
            remaining: OTP_ATTEMPTS,
            certificate_required: request.certificate_required.unwrap_or(false),
            notification: request
                .notification_template
                .clone()
                .or_else(|| request.notification_subject.clone()),
        });
        tracing::info!(
            bill_code,
            agreement = %self.pki.citizens[citizen].spec.agreement_uuid,
            method,
            mode,
            "hash signing prepared"
        );
        if method == METHOD_PASSCODE {
            // The passcode is the subscriber's authorisation: sign at once, whatever the mode.
            self.decide(&mut state, index, TransactionState::Approved)
                .map_err(|error| internal(&bill_code, &error))?;
            return Ok(Prepared::Answer(Box::new(self.answer(&mut state, index))));
        }
        if method == METHOD_MOBILE && mode == MODE_SYNC {
            return Ok(Prepared::Wait(bill_code));
        }
        Ok(Prepared::Answer(Box::new(self.answer(&mut state, index))))
    }

    /// For a synchronous app authorisation: the final answer once `bill_code` is decided.
    pub(crate) fn decided_answer(&self, bill_code: &str) -> Result<Option<SignCloudResp>, CaError> {
        let mut state = self.lock();
        let index = *state
            .by_bill
            .get(bill_code)
            .ok_or(CaError::BillCodeNotFound)?;
        self.resolve(&mut state, index, Instant::now())
            .map_err(|error| internal(bill_code, &error))?;
        if state.transactions[index].state == TransactionState::Waiting {
            return Ok(None);
        }
        Ok(Some(self.answer(&mut state, index)))
    }

    /// The transaction `request` names by `agreementUUID` + `billCode`.
    fn bill(&self, state: &State, request: &SignCloudReq) -> Result<usize, CaError> {
        let citizen = self.agreement(request)?;
        let bill_code = request
            .bill_code
            .as_deref()
            .filter(|bill| !bill.is_empty())
            .ok_or_else(|| CaError::ParameterInvalid("billCode is missing".into()))?;
        state
            .by_bill
            .get(bill_code)
            .copied()
            .filter(|&index| state.transactions[index].citizen == citizen)
            .ok_or(CaError::BillCodeNotFound)
    }

    /// `getSignatureValueForSignCloud`: where the transaction stands, with the signatures once
    /// authorised.
    pub(crate) fn signature_value(&self, request: &SignCloudReq) -> Result<SignCloudResp, CaError> {
        let mut state = self.lock();
        let index = self.bill(&state, request)?;
        self.resolve(&mut state, index, Instant::now())
            .map_err(|error| internal(&state.transactions[index].bill_code, &error))?;
        Ok(self.answer(&mut state, index))
    }

    /// `authorizeCounterSigningForSignCloud`: the RP relays the OTP the subscriber received.
    pub(crate) fn authorize_counter_signing(
        &self,
        request: &SignCloudReq,
    ) -> Result<SignCloudResp, CaError> {
        let code = request
            .authorize_code
            .as_deref()
            .filter(|code| !code.is_empty())
            .ok_or_else(|| CaError::ParameterInvalid("authorizeCode is missing".into()))?
            .trim()
            .to_owned();
        let mut state = self.lock();
        let index = self.bill(&state, request)?;
        self.resolve(&mut state, index, Instant::now())
            .map_err(|error| internal(&state.transactions[index].bill_code, &error))?;
        let tx = &mut state.transactions[index];
        if tx.state != TransactionState::Waiting {
            return Ok(self.answer(&mut state, index));
        }
        let Some(otp) = tx.otp.as_deref() else {
            return Err(CaError::ParameterInvalid(
                "this transaction is not authorised by OTP".into(),
            ));
        };
        if otp == code {
            self.decide(&mut state, index, TransactionState::Approved)
                .map_err(|error| internal(&state.transactions[index].bill_code, &error))?;
            return Ok(self.answer(&mut state, index));
        }
        tx.remaining = tx.remaining.saturating_sub(1);
        if tx.remaining == 0 {
            let bill_code = tx.bill_code.clone();
            self.decide(&mut state, index, TransactionState::Failed)
                .map_err(|error| internal(&bill_code, &error))?;
            return Ok(self.answer(&mut state, index));
        }
        Err(CaError::AuthorizationCodeInvalid {
            remaining: Some(tx.remaining),
        })
    }

    /// `regenerateAuthorizationCodeForSignCloud`: a new OTP for a waiting OTP transaction.
    pub(crate) fn regenerate_authorization_code(
        &self,
        request: &SignCloudReq,
    ) -> Result<SignCloudResp, CaError> {
        let mut state = self.lock();
        let index = self.bill(&state, request)?;
        self.resolve(&mut state, index, Instant::now())
            .map_err(|error| internal(&state.transactions[index].bill_code, &error))?;
        let tx = &mut state.transactions[index];
        if tx.state == TransactionState::Waiting {
            if tx.otp.is_none() {
                return Err(CaError::ParameterInvalid(
                    "this transaction is not authorised by OTP".into(),
                ));
            }
            tx.otp = Some(new_otp());
            tx.remaining = OTP_ATTEMPTS;
        }
        Ok(self.answer(&mut state, index))
    }

    /// The answer describing a transaction's current state.
    fn answer(&self, state: &mut State, index: usize) -> SignCloudResp {
        let tx = &mut state.transactions[index];
        let mut response = match tx.state {
            TransactionState::Waiting => SignCloudResp {
                response_code: 1007,
                response_message: "AUTHORIZATION PENDING".to_owned(),
                notification_message: Some(match tx.method {
                    METHOD_SMS => "An OTP was sent to the subscriber by SMS".to_owned(),
                    METHOD_EMAIL => "An OTP was sent to the subscriber by email".to_owned(),
                    _ => "The subscriber was asked to authorise in the mobile app".to_owned(),
                }),
                remaining_counter: tx.otp.is_some().then_some(tx.remaining),
                ..SignCloudResp::default()
            },
            TransactionState::Rejected => SignCloudResp {
                response_code: 1008,
                response_message: "AUTHORIZATION REJECTED BY SUBSCRIBER".to_owned(),
                ..SignCloudResp::default()
            },
            TransactionState::Expired => SignCloudResp {
                response_code: 1009,
                response_message: "AUTHORIZATION EXPIRED".to_owned(),
                ..SignCloudResp::default()
            },
            TransactionState::Failed => SignCloudResp {
                response_code: 1010,
                response_message: "AUTHORIZATION ATTEMPTS EXCEEDED".to_owned(),
                remaining_counter: Some(0),
                ..SignCloudResp::default()
            },
            TransactionState::Approved => {
                if !tx.delivered {
                    tx.delivered = true;
                    if self.gate.take_corrupt() {
                        tx.signatures
                            .iter_mut()
                            .for_each(|signature| corrupt(signature));
                    }
                }
                let mut response = success();
                if let [only] = tx.signatures.as_slice() {
                    response.signature_value = Some(BASE64.encode(only));
                } else {
                    response.multiple_signed_file_data = Some(
                        tx.documents
                            .iter()
                            .zip(&tx.signatures)
                            .map(|(document, signature)| SignedFileData {
                                signature_value: BASE64.encode(signature),
                                signed_file_name: document.file_name.clone(),
                                mime_type: mime_type(document.algorithm).to_owned(),
                            })
                            .collect(),
                    );
                }
                response
            }
        };
        let tx = &state.transactions[index];
        response.bill_code = Some(tx.bill_code.clone());
        if tx.certificate_required && tx.state == TransactionState::Approved {
            self.certificate_fields(tx.citizen, &mut response);
        }
        response
    }

    /// Applies the subscriber's behaviour (app authorisations only) and the TTL.
    fn resolve(&self, state: &mut State, index: usize, now: Instant) -> Result<(), SimError> {
        let tx = &state.transactions[index];
        if tx.state != TransactionState::Waiting {
            return Ok(());
        }
        let age = now.saturating_duration_since(tx.created);
        let behaviour = if tx.method == METHOD_MOBILE {
            state
                .behaviours
                .get(&tx.citizen)
                .copied()
                .unwrap_or(self.pki.citizens[tx.citizen].spec.behaviour)
        } else {
            Behaviour::Manual
        };
        match behaviour.due(age, self.ttl) {
            Some(decision) => self.decide(state, index, decision.into()),
            None => Ok(()),
        }
    }

    /// Moves a waiting transaction to `outcome`; approving signs every hash.
    fn decide(
        &self,
        state: &mut State,
        index: usize,
        outcome: TransactionState,
    ) -> Result<(), SimError> {
        if outcome == TransactionState::Approved {
            let foreign_key;
            let key = if self.gate.take_foreign() {
                foreign_key = CitizenKey::generate(KeyKind::Rsa2048)?;
                &foreign_key
            } else {
                &self.pki.citizens[state.transactions[index].citizen].key
            };
            let signatures = state.transactions[index]
                .documents
                .iter()
                .map(|document| {
                    key.sign_digest(
                        SignatureScheme::RsaPkcs1v15,
                        document.algorithm,
                        &document.digest,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            state.transactions[index].signatures = signatures;
        }
        let tx = &mut state.transactions[index];
        tx.state = outcome;
        tracing::info!(bill_code = %tx.bill_code, state = ?outcome, "transaction decided");
        Ok(())
    }

    fn control_decide(&self, bill_code: &str, outcome: TransactionState) -> Result<(), SimError> {
        let mut state = self.lock();
        let index = *state
            .by_bill
            .get(bill_code)
            .ok_or_else(|| SimError::UnknownTransaction(bill_code.to_owned()))?;
        self.resolve(&mut state, index, Instant::now())?;
        let current = state.transactions[index].state;
        if current != TransactionState::Waiting {
            return Err(SimError::NotWaiting {
                bill_code: bill_code.to_owned(),
                state: current,
            });
        }
        self.decide(&mut state, index, outcome)
    }

    fn snapshot(&self) -> Vec<SimTransaction> {
        let mut state = self.lock();
        let now = Instant::now();
        for index in 0..state.transactions.len() {
            if let Err(error) = self.resolve(&mut state, index, now) {
                tracing::error!(%error, "deciding a transaction failed");
            }
        }
        state
            .transactions
            .iter()
            .map(|tx| {
                let spec = &self.pki.citizens[tx.citizen].spec;
                SimTransaction {
                    bill_code: tx.bill_code.clone(),
                    agreement_uuid: spec.agreement_uuid.clone(),
                    user_id: spec.user_id.clone(),
                    state: tx.state,
                    document_count: tx.documents.len(),
                    authorize_method: tx.method,
                    otp: tx.otp.clone(),
                    notification: tx.notification.clone(),
                }
            })
            .collect()
    }

    /// From now on the subscriber with this CCCD number (or `agreementUUID`) answers app
    /// authorisations as `behaviour`.
    fn set_behaviour(&self, user_id: &str, behaviour: Behaviour) -> Result<(), SimError> {
        let index = self
            .by_user
            .get(user_id)
            .or_else(|| self.by_agreement.get(user_id))
            .copied()
            .ok_or_else(|| SimError::InvalidConfig(format!("no subscriber {user_id}")))?;
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
                agreement_uuid: citizen.spec.agreement_uuid.clone(),
                user_id: citizen.spec.user_id.clone(),
                full_name: citizen.spec.full_name.clone(),
                behaviour: behaviours
                    .get(&index)
                    .copied()
                    .unwrap_or(citizen.spec.behaviour),
                serial_number: citizen.serial_hex(),
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

    /// `citizen` is the CCCD number or the `agreementUUID`, as for behaviours.
    fn certificate_serials(&self, citizen: &str) -> Option<Vec<[u8; 16]>> {
        let index = self
            .by_user
            .get(citizen)
            .or_else(|| self.by_agreement.get(citizen))?;
        Some(vec![self.pki.citizens[*index].certificate.serial])
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

fn success() -> SignCloudResp {
    SignCloudResp {
        response_code: 0,
        response_message: "SUCCESSFULLY".to_owned(),
        ..SignCloudResp::default()
    }
}

fn internal(bill_code: &str, error: &SimError) -> CaError {
    tracing::error!(bill_code, %error, "signing failed");
    CaError::System
}

/// A bill code in the shape of eSignCloud's: a prefix, the date and a random suffix.
fn new_bill_code() -> String {
    let date = time::OffsetDateTime::now_utc().date();
    format!(
        "KYSO{:04}{:02}{:02}{}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        hex::encode_upper(rand::random::<[u8; 6]>())
    )
}

/// A six-digit OTP.
fn new_otp() -> String {
    format!("{:06}", rand::random::<u32>() % 1_000_000)
}

/// Control of a running simulator: decide transactions, steer subscribers, inject faults,
/// inspect what happened. Cheap to clone; clones share the simulator.
#[derive(Clone)]
pub struct SimControl {
    sim: Arc<Sim>,
}

impl std::fmt::Debug for SimControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimControl")
            .field("relying_party", &self.sim.rp.name)
            .finish_non_exhaustive()
    }
}

impl SimControl {
    pub(crate) fn new(sim: Arc<Sim>) -> Self {
        Self { sim }
    }

    /// The subscriber authorises a waiting transaction (its hashes are signed now).
    ///
    /// # Errors
    /// [`SimError::UnknownTransaction`], [`SimError::NotWaiting`] or a signing failure.
    pub fn approve(&self, bill_code: &str) -> Result<(), SimError> {
        self.sim
            .control_decide(bill_code, TransactionState::Approved)
    }

    /// The subscriber refuses a waiting transaction.
    ///
    /// # Errors
    /// [`SimError::UnknownTransaction`] or [`SimError::NotWaiting`].
    pub fn reject(&self, bill_code: &str) -> Result<(), SimError> {
        self.sim
            .control_decide(bill_code, TransactionState::Rejected)
    }

    /// The authorisation of a waiting transaction lapses now.
    ///
    /// # Errors
    /// [`SimError::UnknownTransaction`] or [`SimError::NotWaiting`].
    pub fn expire(&self, bill_code: &str) -> Result<(), SimError> {
        self.sim
            .control_decide(bill_code, TransactionState::Expired)
    }

    /// From now on the subscriber with this CCCD number (or `agreementUUID`) answers app
    /// authorisations as `behaviour`, waiting transactions included.
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] when no subscriber matches.
    pub fn set_behaviour(&self, user_id: &str, behaviour: Behaviour) -> Result<(), SimError> {
        self.sim.set_behaviour(user_id, behaviour)
    }

    /// The next call of any CA function suffers `fault` (once); a later call replaces a fault
    /// not yet used.
    pub fn fail_next(&self, fault: Fault) {
        self.sim.gate.fail_next(fault);
    }

    /// The next success answer for a transaction not delivered before carries corrupted
    /// signatures (one byte flipped in each); later answers for it repeat them.
    pub fn corrupt_next_signature(&self) {
        self.sim.gate.corrupt_next_signature();
    }

    /// The next transaction to be approved is signed by a fresh RSA-2048 key that does not
    /// match the subscriber's certificate.
    pub fn sign_next_with_foreign_key(&self) {
        self.sim.gate.sign_next_with_foreign_key();
    }

    /// Latency added before every CA answer (`Duration::ZERO` = none).
    pub fn set_delay(&self, delay: Duration) {
        self.sim.gate.set_delay(delay);
    }

    /// All transactions, oldest first, resolved against the clock first.
    pub fn transactions(&self) -> Vec<SimTransaction> {
        self.sim.snapshot()
    }

    /// The CA calls received so far, oldest first (at most
    /// [`MAX_RECORDED_REQUESTS`](crate::MAX_RECORDED_REQUESTS)), the RP's secrets redacted.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.sim.gate.requests()
    }

    /// The subscribers.
    pub fn citizens(&self) -> Vec<CitizenInfo> {
        self.sim.citizens()
    }

    /// The certificate (PEM) of the subscriber with this CCCD number, if any.
    pub fn citizen_certificate_pem(&self, user_id: &str) -> Option<String> {
        let index = *self.sim.by_user.get(user_id)?;
        Some(self.sim.pki.citizens[index].certificate.pem.clone())
    }

    /// The revocation side of the test PKI: CRLs, OCSP, switches, URLs, and revoking a citizen's
    /// certificate (`revocation().revoke_citizen(cccd, &Revoke::default())`, as
    /// `/_sim/citizens/{id}/revoke` does): the CRL and OCSP say so, and eSignCloud's certificate
    /// answers carry no status, so nothing else changes. Signing still works: catching a revoked
    /// certificate is the relying party's job.
    pub fn revocation(&self) -> &Revocation {
        &self.sim.pki.revocation
    }

    /// The root CA certificate (PEM): the gateway's trust anchor.
    pub fn root_certificate_pem(&self) -> String {
        self.sim.root_pem().to_owned()
    }

    /// The issuing CA certificate (PEM), which eSignCloud does not send with a subscriber
    /// certificate: RPs configure it, as FPT's own demo client pins its sub-CA.
    pub fn issuing_ca_pem(&self) -> String {
        self.sim.ca_pem().to_owned()
    }

    /// The RP's private key (PKCS#8 PEM) when the simulator issued it ([`crate::RpKey::Generate`]).
    pub fn relying_party_key_pem(&self) -> Option<String> {
        self.sim.rp_private_pem().map(str::to_owned)
    }
}
