//! The simulator's state and logic: the three CA operations (get_certificate, sign, status),
//! the lazy resolution of transactions, and [`SimControl`], the test/demo control surface. The
//! HTTP layers (`ca_routes`, and the kit's `/_sim` routes through [`ControlTarget`]) only
//! translate to and from these functions. Fault injection, delay and the request log are the
//! kit's [`CallGate`].
//!
//! All transaction state sits behind one `std::sync::Mutex`, which is never held across an
//! `.await`.

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
use crate::config::SimConfig;
use crate::pki::{Citizen, VnptPki};
use crate::wire::{
    CERT_STATUS_ACTIVE, CERT_STATUS_REVOKED, ChainData, GetCertificateData, GetCertificateRequest,
    MSG_EXPIRED, MSG_REJECTED, MSG_SUCCESS, MSG_WAITING, SERVICE_NAME, SERVICE_TYPE, SignData,
    SignRequest, SignatureItem, StatusData, UserCertificate,
};

/// Where a transaction stands, from the CA's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionState {
    /// The citizen has not answered yet.
    Waiting,
    /// The citizen approved; the signatures are available.
    Approved,
    /// The citizen rejected.
    Rejected,
    /// Nobody answered within the transaction TTL (or the test expired it).
    Expired,
}

/// A snapshot of one transaction, for tests and the `/_sim` API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimTransaction {
    /// The SP's `transaction_id` (also the `{tranId}` of the status endpoint).
    pub transaction_id: String,
    /// The citizen asked to sign.
    pub user_id: String,
    /// Current state (resolved against the clock when the snapshot is taken).
    pub state: TransactionState,
    /// Number of `sign_files` entries.
    pub document_count: usize,
}

/// A citizen as the simulator knows it, for tests and the `/_sim` API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CitizenInfo {
    /// The `user_id` (CCCD number).
    pub user_id: String,
    /// Full name (the certificate CN).
    pub full_name: String,
    /// Signature scheme.
    pub scheme: SignatureScheme,
    /// Key type.
    pub key_kind: KeyKind,
    /// What the citizen does with signing requests.
    pub behaviour: Behaviour,
    /// Uppercase hex serial of the citizen's certificate.
    pub serial_number: String,
    /// The `cert_id` get_certificate reports.
    pub cert_id: String,
}

/// An error answer of a CA endpoint: HTTP status = `status_code`, body = error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CaError {
    /// 400 `BAD_REQUEST`, with what was wrong.
    BadRequest(String),
    /// 401 `SP_CREDENTIAL_INVALID`.
    SpCredentialInvalid,
    /// 404 `TRANSACTION_NOT_FOUND` (the simulator's choice; VNPT documents no such answer).
    TransactionNotFound,
    /// 500 `SERVAR_INTERNAL_ERROR` (sic, VNPT's spelling).
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
            Self::TransactionNotFound => 404,
            Self::Internal => 500,
            Self::Injected(status) => *status,
        }
    }

    /// The envelope's `message`.
    pub(crate) fn message(&self) -> String {
        match self {
            Self::BadRequest(detail) => format!("BAD_REQUEST: {detail}"),
            Self::SpCredentialInvalid => {
                "SP_CREDENTIAL_INVALID: sp_id or sp_password is wrong".to_owned()
            }
            Self::TransactionNotFound => "TRANSACTION_NOT_FOUND".to_owned(),
            Self::Internal => "SERVAR_INTERNAL_ERROR".to_owned(),
            Self::Injected(status) => match status {
                400 => "BAD_REQUEST".to_owned(),
                401 => "SP_CREDENTIAL_INVALID".to_owned(),
                403 => "CREDENTIAL_STATUS_INVALID".to_owned(),
                404 => "TRANSACTION_NOT_FOUND".to_owned(),
                500 => "SERVAR_INTERNAL_ERROR".to_owned(),
                other => actix_web::http::StatusCode::from_u16(*other)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .map(|reason| reason.to_uppercase().replace([' ', '-'], "_"))
                    .unwrap_or_else(|| format!("HTTP_{other}")),
            },
        }
    }
}

/// One document of a transaction.
struct Document {
    doc_id: String,
    digest: Vec<u8>,
    algorithm: DigestAlgorithm,
}

struct Transaction {
    id: String,
    /// Index into `Sim::pki.citizens`.
    citizen: usize,
    created: Instant,
    documents: Vec<Document>,
    state: TransactionState,
    /// Filled when the transaction is approved, one per document.
    signatures: Vec<Vec<u8>>,
    /// Whether a `SUCCESS` status answer has been sent (corruption is decided then).
    delivered: bool,
}

#[derive(Default)]
struct State {
    transactions: Vec<Transaction>,
    by_id: HashMap<String, usize>,
    /// Behaviours set at run time, by citizen index, over the configured ones.
    behaviours: HashMap<usize, Behaviour>,
}

/// The simulator proper, shared by the HTTP server and every [`SimControl`].
pub(crate) struct Sim {
    sp_id: String,
    sp_password: String,
    ttl: Duration,
    pki: VnptPki,
    by_user: HashMap<String, usize>,
    /// Faults, delay and the request log (`sp_password` redacted).
    pub(crate) gate: CallGate,
    state: Mutex<State>,
}

impl Sim {
    /// Generates the PKI and an empty state. CPU-bound: run it off the async executor.
    /// Its certificates point at `base_url` (the simulator's own address) for revocation data.
    pub(crate) fn new(config: SimConfig, base_url: String) -> Result<Self, SimError> {
        config.validate().map_err(SimError::InvalidConfig)?;
        let pki = VnptPki::generate(&config.citizens, base_url)?;
        let by_user = pki
            .citizens
            .iter()
            .enumerate()
            .map(|(i, c)| (c.spec.user_id.clone(), i))
            .collect();
        Ok(Self {
            sp_id: config.sp_id,
            sp_password: config.sp_password,
            ttl: config.transaction_ttl,
            pki,
            by_user,
            gate: CallGate::new().redacting(["sp_password"]),
            state: Mutex::new(State::default()),
        })
    }

    /// The root CA certificate in PEM.
    pub(crate) fn root_pem(&self) -> &str {
        &self.pki.root_pem
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code path panics while holding the lock, and every mutation leaves the state
        // consistent, so a poisoned lock still holds usable state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_sp(&self, sp_id: &str, sp_password: &str) -> Result<(), CaError> {
        if sp_id == self.sp_id && sp_password == self.sp_password {
            Ok(())
        } else {
            Err(CaError::SpCredentialInvalid)
        }
    }

    /// `POST /v1/credentials/get_certificate`.
    pub(crate) fn get_certificate(
        &self,
        req: GetCertificateRequest,
    ) -> Result<GetCertificateData, CaError> {
        self.check_sp(&req.sp_id, &req.sp_password)?;
        let wanted_serial = req.serial_number.filter(|s| !s.is_empty());
        let user_certificates = self
            .by_user
            .get(&req.user_id)
            .map(|&i| &self.pki.citizens[i])
            .filter(|c| {
                wanted_serial
                    .as_deref()
                    .is_none_or(|s| s.eq_ignore_ascii_case(&c.serial_hex))
            })
            .map(|c| self.user_certificate(c, &req.transaction_id))
            .into_iter()
            .collect();
        Ok(GetCertificateData { user_certificates })
    }

    fn user_certificate(&self, citizen: &Citizen, transaction_id: &str) -> UserCertificate {
        UserCertificate {
            cert_id: citizen.cert_id.clone(),
            cert_data: BASE64.encode(&citizen.cert_der),
            chain_data: ChainData {
                ca_cert: BASE64.encode(&self.pki.ca_der),
                root_cert: Some(BASE64.encode(&self.pki.root_der)),
            },
            serial_number: citizen.serial_hex.clone(),
            service_type: SERVICE_TYPE,
            service_name: SERVICE_NAME,
            cert_status: if self.pki.revocation.is_revoked(&citizen.serial) {
                CERT_STATUS_REVOKED
            } else {
                CERT_STATUS_ACTIVE
            },
            cert_subject: citizen.subject.clone(),
            cert_valid_from: citizen.valid_from.clone(),
            cert_valid_to: citizen.valid_to.clone(),
            transaction_id: transaction_id.to_owned(),
        }
    }

    /// `POST /v1/signatures/sign`: validates and creates a waiting transaction.
    pub(crate) fn sign(&self, req: SignRequest) -> Result<SignData, CaError> {
        self.check_sp(&req.sp_id, &req.sp_password)?;
        if req.transaction_id.is_empty() {
            return Err(CaError::BadRequest("transaction_id is empty".to_owned()));
        }
        let citizen = *self
            .by_user
            .get(&req.user_id)
            .ok_or_else(|| CaError::BadRequest(format!("unknown user_id {}", req.user_id)))?;
        if let Some(serial) = req.serial_number.as_deref().filter(|s| !s.is_empty())
            && !serial.eq_ignore_ascii_case(&self.pki.citizens[citizen].serial_hex)
        {
            return Err(CaError::BadRequest(format!(
                "serial_number {serial} is not a certificate of this user"
            )));
        }
        if req.sign_files.is_empty() {
            return Err(CaError::BadRequest("sign_files is empty".to_owned()));
        }
        let documents = req
            .sign_files
            .into_iter()
            .enumerate()
            .map(|(i, file)| {
                if file.sign_type != "hash" {
                    return Err(CaError::BadRequest(format!(
                        "sign_files[{i}].sign_type must be \"hash\", not {:?}",
                        file.sign_type
                    )));
                }
                let digest = hex::decode(&file.data_to_be_signed).map_err(|e| {
                    CaError::BadRequest(format!("sign_files[{i}].data_to_be_signed is not hex: {e}"))
                })?;
                let algorithm = DigestAlgorithm::from_len(digest.len()).ok_or_else(|| {
                    CaError::BadRequest(format!(
                        "sign_files[{i}].data_to_be_signed is {} bytes, not a SHA-256/384/512 digest",
                        digest.len()
                    ))
                })?;
                Ok(Document {
                    doc_id: file.doc_id,
                    digest,
                    algorithm,
                })
            })
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
            user_id = %req.user_id,
            documents = documents.len(),
            "sign request waiting for the citizen"
        );
        st.transactions.push(Transaction {
            id: req.transaction_id.clone(),
            citizen,
            created: Instant::now(),
            documents,
            state: TransactionState::Waiting,
            signatures: Vec::new(),
            delivered: false,
        });
        Ok(SignData {
            transaction_id: req.transaction_id,
            tran_code,
        })
    }

    /// `POST /v1/signatures/sign/{tranId}/status`: resolves the transaction against the clock and
    /// reports it. Returns the envelope's `message` and `data`.
    pub(crate) fn status(
        &self,
        transaction_id: &str,
    ) -> Result<(&'static str, StatusData), CaError> {
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
        let (message, signatures) = match tx.state {
            TransactionState::Waiting => (MSG_WAITING, None),
            TransactionState::Rejected => (MSG_REJECTED, None),
            TransactionState::Expired => (MSG_EXPIRED, None),
            TransactionState::Approved => {
                if !tx.delivered {
                    tx.delivered = true;
                    if self.gate.take_corrupt() {
                        for signature in &mut tx.signatures {
                            corrupt(signature);
                        }
                    }
                }
                let items = tx
                    .documents
                    .iter()
                    .zip(&tx.signatures)
                    .map(|(doc, sig)| SignatureItem {
                        doc_id: doc.doc_id.clone(),
                        signature_value: BASE64.encode(sig),
                        timestamp_signature: None,
                    })
                    .collect();
                (MSG_SUCCESS, Some(items))
            }
        };
        Ok((
            message,
            StatusData {
                transaction_id: transaction_id.to_owned(),
                signatures,
            },
        ))
    }

    /// Applies the citizen's behaviour and the TTL to a waiting transaction.
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
            let citizen = &self.pki.citizens[tx.citizen];
            let scheme = citizen.spec.scheme;
            let foreign_key;
            let key = if self.gate.take_foreign() {
                foreign_key = CitizenKey::generate(scheme.key_kind())?;
                &foreign_key
            } else {
                &citizen.key
            };
            let signatures = tx
                .documents
                .iter()
                .map(|doc| key.sign_digest(scheme, doc.algorithm, &doc.digest))
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

    /// From now on, `user_id` answers as `behaviour`.
    fn set_behaviour(&self, user_id: &str, behaviour: Behaviour) -> Result<(), SimError> {
        let index = *self
            .by_user
            .get(user_id)
            .ok_or_else(|| SimError::InvalidConfig(format!("no citizen {user_id}")))?;
        self.lock().behaviours.insert(index, behaviour);
        Ok(())
    }

    fn citizens(&self) -> Vec<CitizenInfo> {
        let behaviours = self.lock().behaviours.clone();
        self.pki
            .citizens
            .iter()
            .enumerate()
            .map(|(i, c)| CitizenInfo {
                user_id: c.spec.user_id.clone(),
                full_name: c.spec.full_name.clone(),
                scheme: c.spec.scheme,
                key_kind: c.spec.scheme.key_kind(),
                behaviour: behaviours.get(&i).copied().unwrap_or(c.spec.behaviour),
                serial_number: c.serial_hex.clone(),
                cert_id: c.cert_id.clone(),
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
                user_id: self.pki.citizens[tx.citizen].spec.user_id.clone(),
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

/// Control of a running simulator: decide transactions, inject faults, inspect what happened.
/// Cheap to clone; all clones share the simulator's state.
#[derive(Clone)]
pub struct SimControl {
    sim: Arc<Sim>,
}

impl std::fmt::Debug for SimControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimControl")
            .field("sp_id", &self.sim.sp_id)
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

    /// The CA expires a waiting transaction now, whatever its age.
    ///
    /// # Errors
    /// [`SimError::UnknownTransaction`] or [`SimError::NotWaiting`].
    pub fn expire(&self, transaction_id: &str) -> Result<(), SimError> {
        self.sim
            .control_decide(transaction_id, TransactionState::Expired)
    }

    /// From now on, `user_id` answers as `behaviour` (its waiting transactions included).
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] when no citizen has this `user_id`.
    pub fn set_behaviour(&self, user_id: &str, behaviour: Behaviour) -> Result<(), SimError> {
        self.sim.set_behaviour(user_id, behaviour)
    }

    /// The next call of any of the three CA endpoints suffers `fault` (once). A later call
    /// replaces a fault that has not been used yet.
    pub fn fail_next(&self, fault: Fault) {
        self.sim.gate.fail_next(fault);
    }

    /// The next `SUCCESS` status answer for a transaction not delivered before carries corrupted
    /// signatures (one byte flipped in each); later answers for that transaction repeat the same
    /// corrupted values.
    pub fn corrupt_next_signature(&self) {
        self.sim.gate.corrupt_next_signature();
    }

    /// The next transaction to be approved is signed by a freshly generated key of the same kind
    /// as the citizen's, which does not match the citizen's certificate.
    pub fn sign_next_with_foreign_key(&self) {
        self.sim.gate.sign_next_with_foreign_key();
    }

    /// Latency added before every CA-endpoint answer (`Duration::ZERO` = none).
    pub fn set_delay(&self, delay: Duration) {
        self.sim.gate.set_delay(delay);
    }

    /// All transactions in creation order, resolved against the clock first (so a transaction
    /// past its `ApproveAfter` is reported, and signed, as approved).
    pub fn transactions(&self) -> Vec<SimTransaction> {
        self.sim.snapshot()
    }

    /// The CA-endpoint calls received so far, oldest first (at most
    /// [`MAX_RECORDED_REQUESTS`](crate::MAX_RECORDED_REQUESTS)), `sp_password` redacted.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.sim.gate.requests()
    }

    /// The citizens the simulator knows, with their current behaviour.
    pub fn citizens(&self) -> Vec<CitizenInfo> {
        self.sim.citizens()
    }

    /// The revocation side of the test PKI: CRLs, OCSP, switches, URLs, and revoking a citizen's
    /// certificate (`revocation().revoke_citizen(cccd, &Revoke::default())`, as
    /// `/_sim/citizens/{id}/revoke` does): the CRL and OCSP say so, and get_certificate then
    /// reports its `cert_status` "Đã thu hồi". Signing still works: catching a revoked certificate
    /// is the relying party's job.
    pub fn revocation(&self) -> &Revocation {
        &self.sim.pki.revocation
    }

    /// The citizen's certificate in PEM, if the citizen exists.
    pub fn citizen_certificate_pem(&self, user_id: &str) -> Option<String> {
        let index = *self.sim.by_user.get(user_id)?;
        Some(self.sim.pki.citizens[index].cert_pem.clone())
    }

    /// The root CA certificate in PEM: the trust anchor for the gateway.
    pub fn root_certificate_pem(&self) -> String {
        self.sim.root_pem().to_owned()
    }
}
