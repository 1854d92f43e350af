//! VNPT SmartCA sp769 v1 wire format, declared here from VNPT's integration guide (see
//! `ca-apis.md` §2 and §4 in the project's reference notes).
//!
//! These types are deliberately independent of `kyso-adapter-vnpt`: if both sides shared one set
//! of structs, a translation bug in the adapter would be mirrored here and every test would pass.
//! Unknown request fields are ignored, as VNPT does (real clients send undocumented extras such as
//! `service_type`); missing required fields are a `400 BAD_REQUEST`.

use serde::{Deserialize, Serialize};

/// Every answer: `{"status_code", "message", "data"}`; the HTTP status mirrors `status_code`.
#[derive(Debug, Serialize)]
pub(crate) struct Envelope<T> {
    pub(crate) status_code: u16,
    pub(crate) message: String,
    pub(crate) data: Option<T>,
}

/// `POST /v1/credentials/get_certificate` request body.
#[derive(Debug, Deserialize)]
pub(crate) struct GetCertificateRequest {
    pub(crate) sp_id: String,
    pub(crate) sp_password: String,
    pub(crate) user_id: String,
    #[serde(default)]
    pub(crate) serial_number: Option<String>,
    pub(crate) transaction_id: String,
}

/// `data` of a successful get_certificate answer.
#[derive(Debug, Serialize)]
pub(crate) struct GetCertificateData {
    pub(crate) user_certificates: Vec<UserCertificate>,
}

/// One certificate of the subscriber.
#[derive(Debug, Serialize)]
pub(crate) struct UserCertificate {
    pub(crate) cert_id: String,
    /// Base64 DER of the end-entity certificate.
    pub(crate) cert_data: String,
    pub(crate) chain_data: ChainData,
    /// Uppercase hex.
    pub(crate) serial_number: String,
    pub(crate) service_type: &'static str,
    pub(crate) service_name: &'static str,
    pub(crate) cert_status: &'static str,
    pub(crate) cert_subject: String,
    pub(crate) cert_valid_from: String,
    pub(crate) cert_valid_to: String,
    pub(crate) transaction_id: String,
}

/// VNPT renders the chain as an object, not an array.
#[derive(Debug, Serialize)]
pub(crate) struct ChainData {
    /// Base64 DER of the issuing CA.
    pub(crate) ca_cert: String,
    /// Base64 DER of the root (VNPT may send `null`; the simulator always sends it).
    pub(crate) root_cert: Option<String>,
}

/// `POST /v1/signatures/sign` request body.
#[derive(Debug, Deserialize)]
pub(crate) struct SignRequest {
    pub(crate) sp_id: String,
    pub(crate) sp_password: String,
    pub(crate) user_id: String,
    pub(crate) transaction_id: String,
    #[serde(default)]
    pub(crate) serial_number: Option<String>,
    /// Shown to the citizen in the app; not interpreted.
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) transaction_desc: Option<String>,
    /// `YYYYMMddHHmmSS` (samples append `Z`); not interpreted.
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) time_stamp: Option<String>,
    pub(crate) sign_files: Vec<SignFile>,
}

/// One document (hash) of a sign request.
#[derive(Debug, Deserialize)]
pub(crate) struct SignFile {
    /// Hex of the digest ("hex for hash").
    pub(crate) data_to_be_signed: String,
    pub(crate) doc_id: String,
    /// `pdf`, `xml`, … ; not interpreted.
    #[allow(dead_code)]
    pub(crate) file_type: String,
    /// Only `hash` is supported (as at VNPT).
    pub(crate) sign_type: String,
}

/// `data` of a successful sign answer (`message` = `sig_wait_for_user_confirm`).
#[derive(Debug, Serialize)]
pub(crate) struct SignData {
    pub(crate) transaction_id: String,
    pub(crate) tran_code: String,
}

/// `data` of a status answer.
#[derive(Debug, Serialize)]
pub(crate) struct StatusData {
    pub(crate) transaction_id: String,
    /// `null` unless `message` is `SUCCESS`.
    pub(crate) signatures: Option<Vec<SignatureItem>>,
}

/// One signature of an approved transaction, in the order of `sign_files`.
#[derive(Debug, Serialize)]
pub(crate) struct SignatureItem {
    pub(crate) doc_id: String,
    /// Base64 of the raw signature (not CMS).
    pub(crate) signature_value: String,
    /// Always `null`, as in every VNPT sample.
    pub(crate) timestamp_signature: Option<String>,
}

/// `message` of a successful sign answer.
pub(crate) const MSG_SIG_WAIT: &str = "sig_wait_for_user_confirm";
/// `message` of an ok answer / an approved transaction.
pub(crate) const MSG_SUCCESS: &str = "SUCCESS";
/// Status `message` while the citizen has not answered.
pub(crate) const MSG_WAITING: &str = "WAITING_FOR_USER_CONFIRM";
/// Status `message` of a rejected transaction.
pub(crate) const MSG_REJECTED: &str = "SIGNER_REJECTED";
/// Status `message` of an expired transaction.
pub(crate) const MSG_EXPIRED: &str = "EXPIRED";

/// `service_type` of a personal SmartCA certificate.
pub(crate) const SERVICE_TYPE: &str = "SMARTCA";
/// `service_name` of a personal SmartCA certificate.
pub(crate) const SERVICE_NAME: &str = "SmartCA cá nhân";
/// `cert_status` of a usable certificate ("in operation").
pub(crate) const CERT_STATUS_ACTIVE: &str = "Đang hoạt động";
/// `cert_status` of a revoked certificate ("revoked"): VNPT documents only the active value; this
/// one is the simulator's choice, in the same language.
pub(crate) const CERT_STATUS_REVOKED: &str = "Đã thu hồi";
