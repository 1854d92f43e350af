//! The simulator's state and logic: the three CA operations (get_certificate, sign, status),
//! routing by `ca_name` in NEAC mode, the rendering checks, the lazy resolution of
//! transactions, and [`SimControl`], the test and demo control surface. The HTTP layers
//! (`ca_routes`, and the kit's `/_sim` routes through [`ControlTarget`]) only translate to and
//! from these functions. Fault injection, delay and the request log are the kit's [`CallGate`].
//!
//! All transaction state sits behind one `std::sync::Mutex`, never held across an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_sim_kit::faults::corrupt;
use kyso_sim_kit::{
    Behaviour, CallGate, CitizenKey, ControlError, ControlTarget, Decision, DigestAlgorithm, Fault,
    KeyKind, RecordedRequest, Revocation, SignatureScheme,
};
use serde::Serialize;

use crate::SimError;
use crate::config::{
    CertificateStatus, ChainLayout, FileOptionsLayout, HashEncoding, SignMode, SimConfig, SimMode,
    SimPaths,
};
use crate::pki::{Citizen, Qd769Pki};
use crate::wire::{
    CERT_STATUS_ACTIVE, CERT_STATUS_REVOKED, CERT_STATUS_SUSPENDED, ChainData, Credentials,
    GetCertificateData, GetCertificateRequest, MSG_EXPIRED, MSG_REJECTED, MSG_SIG_WAIT,
    MSG_SUCCESS, MSG_WAITING, SignFile, SignRequest, SignedFile, StatusRequest, TransactionData,
    UserCertificate,
};

/// The request fields the log redacts: the SP's credentials.
const SECRET_FIELDS: [&str; 2] = ["sp_password", "token"];

/// The signature scheme of every 769 signature: RSA PKCS#1 v1.5 over the submitted digest.
const SCHEME: SignatureScheme = SignatureScheme::RsaPkcs1v15;

/// Where a transaction stands, from the CA's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionState {
    /// The citizen has not answered.
    Waiting,
    /// The citizen approved; the signatures exist.
    Approved,
    /// The citizen rejected.
    Rejected,
    /// Nobody answered in time (or a control call expired it).
    Expired,
}

/// A snapshot of one transaction, for tests and the `/_sim` API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimTransaction {
    /// The SP's `transaction_id`.
    pub transaction_id: String,
    /// The CA it was routed to.
    pub ca_name: String,
    /// The citizen asked to sign.
    pub user_id: String,
    /// Current state, resolved against the clock.
    pub state: TransactionState,
    /// Number of `sign_files` entries.
    pub document_count: usize,
}

/// A citizen's certificate at one CA, for tests and the `/_sim` API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CitizenInfo {
    /// The CA holding the certificate.
    pub ca_name: String,
    /// The `user_id` (CCCD number).
    pub user_id: String,
    /// Full name (the certificate's CN).
    pub full_name: String,
    /// What the citizen does with signing requests now.
    pub behaviour: Behaviour,
    /// Whether the certificate can sign.
    pub certificate_status: CertificateStatus,
    /// Uppercase hex serial of the certificate.
    pub serial_number: String,
    /// The `cert_id` get_certificate reports.
    pub cert_id: String,
}

/// An error answer of a CA endpoint: HTTP status = `status_code`, body = the 769 envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CaError {
    /// 400 `BAD_REQUEST`, with what was wrong.
    BadRequest(String),
    /// 401 `SP_CREDENTIAL_INVALID`.
    SpCredentialInvalid,
    /// 403 `CREDENTIAL_STATUS_INVALID`: the certificate cannot sign.
    CredentialStatusInvalid,
    /// 404 `TRANSACTION_NOT_FOUND` (the simulator's choice; 769 documents no status call).
    TransactionNotFound,
    /// 500 `INTERNAL_ERROR`.
    Internal,
    /// An injected [`Fault::Status`].
    Injected(u16),
}

impl CaError {
    /// The HTTP status and `status_code`.
    pub(crate) fn status_code(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::SpCredentialInvalid => 401,
            Self::CredentialStatusInvalid => 403,
            Self::TransactionNotFound => 404,
            Self::Internal => 500,
            Self::Injected(status) => *status,
        }
    }

    /// The envelope's `message`.
    pub(crate) fn message(&self) -> String {
        match self {
            Self::BadRequest(detail) => format!("BAD_REQUEST: {detail}"),
            Self::SpCredentialInvalid => "SP_CREDENTIAL_INVALID".to_owned(),
            Self::CredentialStatusInvalid => {
                "CREDENTIAL_STATUS_INVALID: the certificate is suspended".to_owned()
            }
            Self::TransactionNotFound => "TRANSACTION_NOT_FOUND".to_owned(),
            Self::Internal => "INTERNAL_ERROR".to_owned(),
            Self::Injected(status) => match status {
                400 => "BAD_REQUEST".to_owned(),
                401 => "SP_CREDENTIAL_INVALID".to_owned(),
                403 => "CREDENTIAL_STATUS_INVALID".to_owned(),
                404 => "TRANSACTION_NOT_FOUND".to_owned(),
                503 => "SERVICE_UNAVAILABLE".to_owned(),
                _ => format!("HTTP_{status}"),
            },
        }
    }
}

/// An accepted sign request.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) transaction_id: String,
    pub(crate) tran_code: String,
}

/// One document of a transaction.
struct Document {
    doc_id: String,
    digest: Vec<u8>,
    algorithm: DigestAlgorithm,
}

struct Transaction {
    id: String,
    /// Index into `Sim::cas`.
    ca: usize,
    /// Index into that CA's citizens.
    citizen: usize,
    created: Instant,
    documents: Vec<Document>,
    state: TransactionState,
    /// One per document once approved.
    signatures: Vec<Vec<u8>>,
    /// Whether the signatures were sent once (corruption is decided then).
    delivered: bool,
}

#[derive(Default)]
struct State {
    transactions: Vec<Transaction>,
    by_id: HashMap<String, usize>,
    /// Behaviours set at run time, by `user_id` (at every CA), over the configured ones.
    behaviours: HashMap<String, Behaviour>,
}

/// A CA the simulator serves, as configured.
struct SimCa {
    name: String,
    hash_encoding: HashEncoding,
    /// `user_id` → index into the CA's citizens.
    by_user: HashMap<String, usize>,
}

/// The simulator proper, shared by the HTTP server and every [`SimControl`].
pub(crate) struct Sim {
    mode: SimMode,
    sp_id: String,
    sp_password: String,
    token: Option<String>,
    file_options: FileOptionsLayout,
    chain_data: ChainLayout,
    sign_mode: SignMode,
    paths: SimPaths,
    ttl: Duration,
    cas: Vec<SimCa>,
    pki: Qd769Pki,
    /// Faults, delay and the request log (`sp_password` and `token` redacted).
    pub(crate) gate: CallGate,
    state: Mutex<State>,
}

impl Sim {
    /// Generates the PKI and an empty state. CPU-bound: run it off the async executor.
    /// Its certificates point at `base_url` (the simulator's own address) for revocation data.
    pub(crate) fn new(config: SimConfig, base_url: String) -> Result<Self, SimError> {
        config.validate().map_err(SimError::InvalidConfig)?;
        let pki = Qd769Pki::generate(&config.cas, base_url)?;
        let cas = config
            .cas
            .iter()
            .map(|ca| SimCa {
                name: ca.name.clone(),
                hash_encoding: ca.hash_encoding,
                by_user: ca
                    .citizens
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.user_id.clone(), i))
                    .collect(),
            })
            .collect();
        Ok(Self {
            mode: config.mode,
            sp_id: config.sp_id,
            sp_password: config.sp_password,
            token: config.token,
            file_options: config.file_options,
            chain_data: config.chain_data,
            sign_mode: config.sign_mode,
            paths: config.paths,
            ttl: config.transaction_ttl,
            cas,
            pki,
            gate: CallGate::new().redacting(SECRET_FIELDS),
            state: Mutex::new(State::default()),
        })
    }

    pub(crate) fn mode(&self) -> SimMode {
        self.mode
    }

    pub(crate) fn paths(&self) -> &SimPaths {
        &self.paths
    }

    pub(crate) fn sign_mode(&self) -> SignMode {
        self.sign_mode
    }

    pub(crate) fn root_pem(&self) -> &str {
        &self.pki.root_pem
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code path panics while holding the lock and every mutation leaves the state
        // consistent, so a poisoned lock still holds usable state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn citizen(&self, ca: usize, citizen: usize) -> &Citizen {
        &self.pki.cas[ca].citizens[citizen]
    }

    /// `sp_id` with `sp_password`, or with the `token` if one is configured.
    fn check_sp(&self, credentials: &Credentials) -> Result<(), CaError> {
        let sp_id_ok = credentials.sp_id.as_deref() == Some(self.sp_id.as_str());
        let password_ok = credentials.sp_password.as_deref() == Some(self.sp_password.as_str());
        let token_ok = self
            .token
            .as_deref()
            .is_some_and(|token| credentials.token.as_deref() == Some(token));
        if sp_id_ok && (password_ok || token_ok) {
            Ok(())
        } else {
            Err(CaError::SpCredentialInvalid)
        }
    }

    /// The CA a request goes to: the only one of a direct CA, the named one behind NEAC.
    fn route(&self, ca_name: Option<&str>) -> Result<usize, CaError> {
        match self.mode {
            SimMode::Neac => {
                let name = ca_name
                    .filter(|name| !name.is_empty())
                    .ok_or_else(|| CaError::BadRequest("ca_name is required".to_owned()))?;
                self.cas
                    .iter()
                    .position(|ca| ca.name == name)
                    .ok_or_else(|| CaError::BadRequest(format!("unknown ca_name {name}")))
            }
            SimMode::Qd769 => Ok(0),
        }
    }

    /// `get_certificate`.
    pub(crate) fn get_certificate(
        &self,
        req: GetCertificateRequest,
    ) -> Result<GetCertificateData, CaError> {
        self.check_sp(&req.credentials)?;
        let ca = self.route(req.ca_name.as_deref())?;
        let wanted_serial = req.serial_number.filter(|s| !s.is_empty());
        let user_certificates = self.cas[ca]
            .by_user
            .get(&req.user_id)
            .map(|&i| self.citizen(ca, i))
            .filter(|c| {
                wanted_serial
                    .as_deref()
                    .is_none_or(|s| s.eq_ignore_ascii_case(&c.serial_hex))
            })
            .map(|c| self.user_certificate(ca, c, req.transaction_id.clone()))
            .into_iter()
            .collect();
        Ok(GetCertificateData { user_certificates })
    }

    fn user_certificate(
        &self,
        ca: usize,
        citizen: &Citizen,
        transaction_id: Option<String>,
    ) -> UserCertificate {
        let ca_cert = BASE64.encode(&self.pki.cas[ca].ca_der);
        let root_cert = BASE64.encode(&self.pki.root_der);
        UserCertificate {
            cert_id: citizen.cert_id.clone(),
            cert_data: BASE64.encode(&citizen.certificate.der),
            chain_data: match self.chain_data {
                ChainLayout::Array => ChainData::Array(vec![ca_cert, root_cert]),
                ChainLayout::Object => ChainData::Object {
                    ca_cert,
                    root_cert: Some(root_cert),
                },
            },
            serial_number: citizen.serial_hex.clone(),
            cert_status: match citizen.spec.certificate_status {
                _ if self.pki.revocation.is_revoked(&citizen.certificate.serial) => {
                    CERT_STATUS_REVOKED
                }
                CertificateStatus::Active => CERT_STATUS_ACTIVE,
                CertificateStatus::Suspended => CERT_STATUS_SUSPENDED,
            },
            cert_subject: citizen.certificate.subject.to_string(),
            cert_valid_from: citizen.validity.0.clone(),
            cert_valid_to: citizen.validity.1.clone(),
            transaction_id,
        }
    }

    /// `sign`: validates the request against the CA's rendering and creates a waiting
    /// transaction.
    pub(crate) fn sign(&self, req: SignRequest) -> Result<Accepted, CaError> {
        self.check_sp(&req.credentials)?;
        let ca = self.route(req.ca_name.as_deref())?;
        if req.transaction_id.is_empty() {
            return Err(CaError::BadRequest("transaction_id is empty".to_owned()));
        }
        let citizen = *self.cas[ca]
            .by_user
            .get(&req.user_id)
            .ok_or_else(|| CaError::BadRequest(format!("unknown user_id {}", req.user_id)))?;
        let holder = self.citizen(ca, citizen);
        if let Some(serial) = req.serial_number.as_deref().filter(|s| !s.is_empty())
            && !serial.eq_ignore_ascii_case(&holder.serial_hex)
        {
            return Err(CaError::BadRequest(format!(
                "serial_number {serial} is not a certificate of this user"
            )));
        }
        if holder.spec.certificate_status == CertificateStatus::Suspended {
            return Err(CaError::CredentialStatusInvalid);
        }
        if req.sign_files.is_empty() {
            return Err(CaError::BadRequest("sign_files is empty".to_owned()));
        }
        let encoding = self.cas[ca].hash_encoding;
        let documents = req
            .sign_files
            .into_iter()
            .enumerate()
            .map(|(i, file)| self.document(i, file, encoding))
            .collect::<Result<Vec<_>, _>>()?;

        let tran_code = hex::encode_upper(rand::random::<[u8; 8]>());
        let mut st = self.lock();
        if st.by_id.contains_key(&req.transaction_id) {
            return Err(CaError::BadRequest(format!(
                "transaction_id {} was already used",
                req.transaction_id
            )));
        }
        let index = st.transactions.len();
        st.by_id.insert(req.transaction_id.clone(), index);
        tracing::info!(
            transaction_id = %req.transaction_id,
            ca = %self.cas[ca].name,
            user_id = %req.user_id,
            documents = documents.len(),
            "sign request waiting for the citizen"
        );
        st.transactions.push(Transaction {
            id: req.transaction_id.clone(),
            ca,
            citizen,
            created: Instant::now(),
            documents,
            state: TransactionState::Waiting,
            signatures: Vec::new(),
            delivered: false,
        });
        Ok(Accepted {
            transaction_id: req.transaction_id,
            tran_code,
        })
    }

    /// One `sign_files[]` entry, checked against the rendering.
    fn document(
        &self,
        index: usize,
        file: SignFile,
        encoding: HashEncoding,
    ) -> Result<Document, CaError> {
        let bad = |what: String| CaError::BadRequest(format!("sign_files[{index}]: {what}"));
        let sign_type = match (self.file_options, &file.file_options) {
            (FileOptionsLayout::Flat, Some(_)) => {
                return Err(bad(
                    "file_options is not used here; put file_type and sign_type in the entry"
                        .to_owned(),
                ));
            }
            (FileOptionsLayout::Flat, None) => file.file_type.as_ref().and(file.sign_type),
            (FileOptionsLayout::Nested, None) => {
                return Err(bad(
                    "file_options {file_type, sign_type} is required".to_owned()
                ));
            }
            (FileOptionsLayout::Nested, Some(options)) => {
                options.file_type.as_ref().and(options.sign_type.clone())
            }
        };
        let sign_type =
            sign_type.ok_or_else(|| bad("file_type and sign_type are required".to_owned()))?;
        if sign_type != "hash" {
            return Err(bad(format!(
                "sign_type must be \"hash\", not {sign_type:?}"
            )));
        }
        let digest = match encoding {
            HashEncoding::Hex => hex::decode(&file.data_to_be_signed)
                .map_err(|e| bad(format!("data_to_be_signed is not hex: {e}")))?,
            HashEncoding::Base64 => BASE64
                .decode(&file.data_to_be_signed)
                .map_err(|e| bad(format!("data_to_be_signed is not base64: {e}")))?,
        };
        let algorithm = DigestAlgorithm::from_len(digest.len()).ok_or_else(|| {
            bad(format!(
                "data_to_be_signed is {} bytes, not a SHA-256/384/512 digest",
                digest.len()
            ))
        })?;
        Ok(Document {
            doc_id: file.doc_id,
            digest,
            algorithm,
        })
    }

    /// The status call: checks the SP and that the transaction belongs to the routed CA, then
    /// reports it. `path_id` is the `{transaction_id}` of the path, if the path has one.
    pub(crate) fn status(
        &self,
        path_id: Option<&str>,
        req: StatusRequest,
    ) -> Result<(&'static str, TransactionData), CaError> {
        self.check_sp(&req.credentials)?;
        let ca = self.route(req.ca_name.as_deref())?;
        let transaction_id = match (path_id, req.transaction_id.as_deref()) {
            (Some(path), Some(body)) if path != body => {
                return Err(CaError::BadRequest(
                    "transaction_id differs between path and body".to_owned(),
                ));
            }
            (Some(id), _) | (None, Some(id)) => id.to_owned(),
            (None, None) => {
                return Err(CaError::BadRequest("transaction_id is required".to_owned()));
            }
        };
        {
            let st = self.lock();
            let index = *st
                .by_id
                .get(&transaction_id)
                .ok_or(CaError::TransactionNotFound)?;
            // Another CA's transaction does not exist for this one.
            if st.transactions[index].ca != ca {
                return Err(CaError::TransactionNotFound);
            }
        }
        self.report(&transaction_id)
    }

    /// Whether a transaction is still waiting, after resolving it against the clock.
    pub(crate) fn is_waiting(&self, transaction_id: &str) -> Result<bool, CaError> {
        let mut st = self.lock();
        let index = *st
            .by_id
            .get(transaction_id)
            .ok_or(CaError::TransactionNotFound)?;
        self.resolve(&mut st, index, Instant::now()).map_err(|e| {
            tracing::error!(transaction_id, error = %e, "approving the transaction failed");
            CaError::Internal
        })?;
        Ok(st.transactions[index].state == TransactionState::Waiting)
    }

    /// A transaction's `message` and `data`, resolved against the clock; the signatures are
    /// corrupted on their first delivery if that was armed.
    pub(crate) fn report(
        &self,
        transaction_id: &str,
    ) -> Result<(&'static str, TransactionData), CaError> {
        let mut st = self.lock();
        let index = *st
            .by_id
            .get(transaction_id)
            .ok_or(CaError::TransactionNotFound)?;
        self.resolve(&mut st, index, Instant::now()).map_err(|e| {
            tracing::error!(transaction_id, error = %e, "approving the transaction failed");
            CaError::Internal
        })?;
        let tx = &mut st.transactions[index];
        let (message, signed_files) = match tx.state {
            TransactionState::Waiting => (MSG_WAITING, None),
            TransactionState::Rejected => (MSG_REJECTED, None),
            TransactionState::Expired => (MSG_EXPIRED, None),
            TransactionState::Approved => {
                if !tx.delivered {
                    tx.delivered = true;
                    if self.gate.take_corrupt() {
                        tx.signatures.iter_mut().for_each(|s| corrupt(s));
                    }
                }
                let files = tx
                    .documents
                    .iter()
                    .zip(&tx.signatures)
                    .map(|(doc, sig)| SignedFile {
                        doc_id: doc.doc_id.clone(),
                        signature_value: BASE64.encode(sig),
                        timestamp_signature: None,
                    })
                    .collect();
                (MSG_SUCCESS, Some(files))
            }
        };
        Ok((
            message,
            TransactionData {
                transaction_id: transaction_id.to_owned(),
                tran_code: None,
                signed_files,
            },
        ))
    }

    /// The answer to an accepted asynchronous sign request.
    pub(crate) fn accepted_answer(accepted: Accepted) -> (&'static str, TransactionData) {
        (
            MSG_SIG_WAIT,
            TransactionData {
                transaction_id: accepted.transaction_id,
                tran_code: Some(accepted.tran_code),
                signed_files: None,
            },
        )
    }

    /// Applies the citizen's behaviour and the TTL to a waiting transaction.
    fn resolve(&self, st: &mut State, index: usize, now: Instant) -> Result<(), SimError> {
        let tx = &st.transactions[index];
        if tx.state != TransactionState::Waiting {
            return Ok(());
        }
        let age = now.saturating_duration_since(tx.created);
        let citizen = self.citizen(tx.ca, tx.citizen);
        let behaviour = st
            .behaviours
            .get(&citizen.spec.user_id)
            .copied()
            .unwrap_or(citizen.spec.behaviour);
        match behaviour.due(age, self.ttl) {
            Some(decision) => self.decide(st, index, decision.into()),
            None => Ok(()),
        }
    }

    /// Moves a waiting transaction to `outcome`; approving signs every document (with a fresh
    /// foreign key if that was armed).
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
                &self.citizen(tx.ca, tx.citizen).key
            };
            let signatures = tx
                .documents
                .iter()
                .map(|doc| key.sign_digest(SCHEME, doc.algorithm, &doc.digest))
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

    /// From now on `user_id` answers as `behaviour`, at every CA holding a certificate of theirs.
    fn set_behaviour(&self, user_id: &str, behaviour: Behaviour) -> Result<(), SimError> {
        if !self.cas.iter().any(|ca| ca.by_user.contains_key(user_id)) {
            return Err(SimError::UnknownCitizen(user_id.to_owned()));
        }
        self.lock().behaviours.insert(user_id.to_owned(), behaviour);
        Ok(())
    }

    /// Every citizen certificate, CA by CA, with the citizen's current behaviour.
    fn citizens(&self) -> Vec<CitizenInfo> {
        let behaviours = self.lock().behaviours.clone();
        self.cas
            .iter()
            .zip(&self.pki.cas)
            .flat_map(|(ca, pki)| {
                let behaviours = &behaviours;
                pki.citizens.iter().map(move |c| CitizenInfo {
                    ca_name: ca.name.clone(),
                    user_id: c.spec.user_id.clone(),
                    full_name: c.spec.full_name.clone(),
                    behaviour: behaviours
                        .get(&c.spec.user_id)
                        .copied()
                        .unwrap_or(c.spec.behaviour),
                    certificate_status: c.spec.certificate_status,
                    serial_number: c.serial_hex.clone(),
                    cert_id: c.cert_id.clone(),
                })
            })
            .collect()
    }

    fn snapshot(&self) -> Vec<SimTransaction> {
        let mut st = self.lock();
        let now = Instant::now();
        for index in 0..st.transactions.len() {
            if let Err(e) = self.resolve(&mut st, index, now) {
                tracing::error!(error = %e, "approving a transaction failed");
            }
        }
        st.transactions
            .iter()
            .map(|tx| SimTransaction {
                transaction_id: tx.id.clone(),
                ca_name: self.cas[tx.ca].name.clone(),
                user_id: self.citizen(tx.ca, tx.citizen).spec.user_id.clone(),
                state: tx.state,
                document_count: tx.documents.len(),
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

    fn gate(&self) -> &CallGate {
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
        SimError::NotWaiting { .. } => ControlError::Conflict(message),
        SimError::InvalidConfig(_) => ControlError::BadRequest(message),
        _ => ControlError::Internal(message),
    }
}

/// Control of a running simulator: decide transactions, inject faults, inspect what happened.
/// Cheap to clone; all clones share the simulator's state.
#[derive(Clone)]
pub struct SimControl {
    sim: Arc<Sim>,
}

impl std::fmt::Debug for SimControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimControl")
            .field("mode", &self.sim.mode)
            .finish_non_exhaustive()
    }
}

impl SimControl {
    pub(crate) fn new(sim: Arc<Sim>) -> Self {
        Self { sim }
    }

    /// The citizen approves a waiting transaction (its documents are signed now).
    ///
    /// # Errors
    /// [`SimError::UnknownTransaction`], [`SimError::NotWaiting`], or a signing failure.
    pub fn approve(&self, transaction_id: &str) -> Result<(), SimError> {
        self.sim
            .control_decide(transaction_id, TransactionState::Approved)
    }

    /// The citizen rejects a waiting transaction.
    ///
    /// # Errors
    /// [`SimError::UnknownTransaction`] or [`SimError::NotWaiting`].
    pub fn reject(&self, transaction_id: &str) -> Result<(), SimError> {
        self.sim
            .control_decide(transaction_id, TransactionState::Rejected)
    }

    /// The CA expires a waiting transaction now.
    ///
    /// # Errors
    /// [`SimError::UnknownTransaction`] or [`SimError::NotWaiting`].
    pub fn expire(&self, transaction_id: &str) -> Result<(), SimError> {
        self.sim
            .control_decide(transaction_id, TransactionState::Expired)
    }

    /// From now on `user_id` answers as `behaviour`, at every CA holding a certificate of
    /// theirs, waiting transactions included.
    ///
    /// # Errors
    /// [`SimError::UnknownCitizen`] when no CA knows this `user_id`.
    pub fn set_behaviour(&self, user_id: &str, behaviour: Behaviour) -> Result<(), SimError> {
        self.sim.set_behaviour(user_id, behaviour)
    }

    /// The next call of any CA endpoint suffers `fault` (once); replaces an unused one.
    pub fn fail_next(&self, fault: Fault) {
        self.sim.gate.fail_next(fault);
    }

    /// The next delivery of signatures not delivered before (a status answer or a synchronous
    /// sign answer) carries them corrupted (a byte flipped in each); later answers for that
    /// transaction repeat the corrupted values.
    pub fn corrupt_next_signature(&self) {
        self.sim.gate.corrupt_next_signature();
    }

    /// The next transaction to be approved is signed by a fresh RSA key that does not match the
    /// citizen's certificate.
    pub fn sign_next_with_foreign_key(&self) {
        self.sim.gate.sign_next_with_foreign_key();
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
    /// [`MAX_RECORDED_REQUESTS`](crate::MAX_RECORDED_REQUESTS)), credentials redacted.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.sim.gate.requests()
    }

    /// Every citizen certificate the simulator holds, CA by CA.
    pub fn citizens(&self) -> Vec<CitizenInfo> {
        self.sim.citizens()
    }

    /// The revocation side of the test PKI: CRLs, OCSP, switches, URLs, and revoking a citizen's
    /// certificate (`revocation().revoke_citizen(cccd, &Revoke::default())`, as
    /// `/_sim/citizens/{id}/revoke` does): the CRL and OCSP say so, and get_certificate then
    /// reports `cert_status` "Đã thu hồi" (at every CA holding one). Signing still works: catching
    /// a revoked certificate is the relying party's job.
    pub fn revocation(&self) -> &Revocation {
        &self.sim.pki.revocation
    }

    /// The citizen's certificate at `ca_name` in PEM, if both exist.
    pub fn citizen_certificate_pem(&self, ca_name: &str, user_id: &str) -> Option<String> {
        let ca = self.sim.cas.iter().position(|ca| ca.name == ca_name)?;
        let index = *self.sim.cas[ca].by_user.get(user_id)?;
        Some(self.sim.citizen(ca, index).certificate.pem.clone())
    }

    /// The root CA certificate in PEM: the trust anchor for the gateway.
    pub fn root_certificate_pem(&self) -> String {
        self.sim.root_pem().to_owned()
    }
}
