//! The QĐ 769 / NEAC `sign_v2` wire format as the simulator serves it, declared here from the
//! project's CA reference (`ca-apis.md` §2-3), independently of `kyso-adapter-qd769`: shared
//! structs would mirror a translation bug on both sides and every test would pass.
//!
//! Unknown request fields are ignored (real clients send extras); a missing required field is a
//! `400 BAD_REQUEST`. Which optional fields are required depends on the configured rendering and
//! is checked in `sim`, not here.

use serde::{Deserialize, Serialize};

/// Every answer: `{"status_code", "message", "data"}`; the HTTP status mirrors `status_code`.
#[derive(Debug, Serialize)]
pub(crate) struct Envelope<T> {
    pub(crate) status_code: u16,
    pub(crate) message: String,
    pub(crate) data: Option<T>,
}

/// The SP credential fields every body carries: `sp_id` with `sp_password` or (NEAC) `token`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Credentials {
    #[serde(default)]
    pub(crate) sp_id: Option<String>,
    #[serde(default)]
    pub(crate) sp_password: Option<String>,
    #[serde(default)]
    pub(crate) token: Option<String>,
}

/// `get_certificate` request body.
#[derive(Debug, Deserialize)]
pub(crate) struct GetCertificateRequest {
    #[serde(flatten)]
    pub(crate) credentials: Credentials,
    /// NEAC's routing field.
    #[serde(default)]
    pub(crate) ca_name: Option<String>,
    pub(crate) user_id: String,
    #[serde(default)]
    pub(crate) serial_number: Option<String>,
    /// Echoed back; the NEAC client code does not send it, so it is optional.
    #[serde(default)]
    pub(crate) transaction_id: Option<String>,
}

/// `data` of a `get_certificate` answer.
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
    /// "Đang hoạt động" or "Tạm dừng".
    pub(crate) cert_status: &'static str,
    pub(crate) cert_subject: String,
    pub(crate) cert_valid_from: String,
    pub(crate) cert_valid_to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) transaction_id: Option<String>,
}

/// `chain_data` in either rendering.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum ChainData {
    /// Base64 certificates, issuing CA first.
    Array(Vec<String>),
    /// VNPT's object.
    Object {
        ca_cert: String,
        root_cert: Option<String>,
    },
}

/// `sign` request body.
#[derive(Debug, Deserialize)]
pub(crate) struct SignRequest {
    #[serde(flatten)]
    pub(crate) credentials: Credentials,
    #[serde(default)]
    pub(crate) ca_name: Option<String>,
    pub(crate) user_id: String,
    pub(crate) transaction_id: String,
    #[serde(default)]
    pub(crate) serial_number: Option<String>,
    /// Shown to the citizen; not interpreted.
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) transaction_desc: Option<String>,
    /// `YYYYMMddHHmmSS[Z]`; not interpreted.
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) time_stamp: Option<String>,
    pub(crate) sign_files: Vec<SignFile>,
}

/// One document of a sign request. `file_type`/`sign_type` are flat or in `file_options`
/// depending on the CA's rendering.
#[derive(Debug, Deserialize)]
pub(crate) struct SignFile {
    pub(crate) data_to_be_signed: String,
    pub(crate) doc_id: String,
    #[serde(default)]
    pub(crate) file_type: Option<String>,
    #[serde(default)]
    pub(crate) sign_type: Option<String>,
    #[serde(default)]
    pub(crate) file_options: Option<FileOptions>,
}

/// Laverca's nested options.
#[derive(Debug, Deserialize)]
pub(crate) struct FileOptions {
    #[serde(default)]
    pub(crate) file_type: Option<String>,
    #[serde(default)]
    pub(crate) sign_type: Option<String>,
}

/// Status request body (the simulator's shape: the reference shows none for 769 or NEAC).
/// `transaction_id` is required when the status path has no `{transaction_id}`.
#[derive(Debug, Deserialize)]
pub(crate) struct StatusRequest {
    #[serde(flatten)]
    pub(crate) credentials: Credentials,
    #[serde(default)]
    pub(crate) ca_name: Option<String>,
    #[serde(default)]
    pub(crate) transaction_id: Option<String>,
}

/// `data` of a `sign` or status answer.
#[derive(Debug, Serialize)]
pub(crate) struct TransactionData {
    pub(crate) transaction_id: String,
    /// Asynchronous sign answers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tran_code: Option<String>,
    /// `null` unless the transaction was approved.
    pub(crate) signed_files: Option<Vec<SignedFile>>,
}

/// One signature of an approved transaction, in the order of `sign_files`.
#[derive(Debug, Serialize)]
pub(crate) struct SignedFile {
    pub(crate) doc_id: String,
    /// Base64 of the raw PKCS#1 v1.5 signature (not CMS).
    pub(crate) signature_value: String,
    /// Always `null`: the simulator does not time-stamp.
    pub(crate) timestamp_signature: Option<String>,
}

/// `message` of an accepted asynchronous sign request.
pub(crate) const MSG_SIG_WAIT: &str = "sig_wait_for_user_confirm";
/// `message` of a successful answer / an approved transaction.
pub(crate) const MSG_SUCCESS: &str = "SUCCESS";
/// Status `message` while the citizen has not answered.
pub(crate) const MSG_WAITING: &str = "WAITING_FOR_USER_CONFIRM";
/// `message` of a rejected transaction.
pub(crate) const MSG_REJECTED: &str = "SIGNER_REJECTED";
/// `message` of an expired transaction.
pub(crate) const MSG_EXPIRED: &str = "EXPIRED";

/// `cert_status` of a usable certificate ("in operation").
pub(crate) const CERT_STATUS_ACTIVE: &str = "Đang hoạt động";
/// `cert_status` of a suspended certificate.
pub(crate) const CERT_STATUS_SUSPENDED: &str = "Tạm dừng";
/// `cert_status` of a revoked certificate ("revoked"): not in the documents; the simulator's
/// choice, in the same language.
pub(crate) const CERT_STATUS_REVOKED: &str = "Đã thu hồi";
