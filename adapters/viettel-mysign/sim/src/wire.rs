//! Viettel MySign gateway wire format (`/vtss/service/...`), declared here from Viettel's
//! integration document and Postman collection as restated in the project's CA reference
//! (`ca-apis.md` §5).
//!
//! These types are deliberately independent of `kyso-adapter-viettel`: were the two sides to share
//! one set of structs, a translation bug in the adapter would be mirrored here and every test
//! would pass. Unknown request fields are ignored (real clients send extras); a missing required
//! field is a `400`. Field names keep Viettel's mixed spelling (`credentialID`, `certInfo`,
//! `transactionId`, `hashAlgo`, snake_case elsewhere).

use serde::{Deserialize, Serialize};

/// `POST /ras/v1/login`: a per-user access token.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginRequest {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) profile_id: String,
    pub(crate) user_id: String,
}

/// `POST /ras/v1/authenticate` (form-urlencoded): a client-level access token.
#[derive(Debug)]
pub(crate) struct AuthenticateForm {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) grant_type: String,
}

/// The answer of both token endpoints. `expires_in` is a string of seconds, as Viettel sends it.
#[derive(Debug, Serialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    /// Always empty: Viettel issues no refresh tokens to SPs.
    pub(crate) refresh_token: &'static str,
    pub(crate) token_type: &'static str,
    pub(crate) expires_in: String,
}

/// `POST /certificates/info`.
#[derive(Debug, Deserialize)]
pub(crate) struct CertificatesInfoRequest {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) profile_id: String,
    pub(crate) user_id: String,
    /// `none`, `single` or `chain` (CSC's vocabulary); `single` when absent.
    #[serde(default)]
    pub(crate) certificates: Option<String>,
    /// Whether to add the certificate's DN, serial and validity.
    #[serde(rename = "certInfo", default)]
    pub(crate) cert_info: bool,
    /// Whether to add `authMode`, `multisign` and `scal`.
    #[serde(rename = "authInfo", default)]
    pub(crate) auth_info: bool,
}

/// One credential (key + certificate) of the subscriber; the answer is an array of these.
#[derive(Debug, Serialize)]
pub(crate) struct CredentialInfo {
    pub(crate) credential_id: String,
    pub(crate) description: &'static str,
    pub(crate) key: KeyInfo,
    pub(crate) cert: CertInfo,
    #[serde(rename = "authMode", skip_serializing_if = "Option::is_none")]
    pub(crate) auth_mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) multisign: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) scal: Option<&'static str>,
}

/// `key` of a credential.
#[derive(Debug, Serialize)]
pub(crate) struct KeyInfo {
    /// `enabled` or `disabled`.
    pub(crate) status: &'static str,
    /// Key algorithm OIDs (`1.2.840.113549.1.1.1`, rsaEncryption).
    pub(crate) algo: Vec<&'static str>,
    /// Key length in bits, as a string.
    pub(crate) len: &'static str,
    /// Always `null` for RSA.
    pub(crate) curve: Option<&'static str>,
}

/// `cert` of a credential.
#[derive(Debug, Serialize)]
pub(crate) struct CertInfo {
    /// `valid`, `revoked`, ...
    pub(crate) status: &'static str,
    /// Base64 DER: the subscriber's certificate, then Viettel-CA, then the root.
    pub(crate) certificates: Vec<String>,
    #[serde(rename = "issuerDN", skip_serializing_if = "Option::is_none")]
    pub(crate) issuer_dn: Option<String>,
    /// Decimal.
    #[serde(rename = "serialNumber", skip_serializing_if = "Option::is_none")]
    pub(crate) serial_number: Option<String>,
    #[serde(rename = "subjectDN", skip_serializing_if = "Option::is_none")]
    pub(crate) subject_dn: Option<String>,
    /// `yyyyMMddHHmmss+0000`.
    #[serde(rename = "validFrom", skip_serializing_if = "Option::is_none")]
    pub(crate) valid_from: Option<String>,
    /// `yyyyMMddHHmmss+0000`.
    #[serde(rename = "validTo", skip_serializing_if = "Option::is_none")]
    pub(crate) valid_to: Option<String>,
}

/// `POST /signHash`.
#[derive(Debug, Deserialize)]
pub(crate) struct SignHashRequest {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    #[serde(rename = "credentialID")]
    pub(crate) credential_id: String,
    #[serde(rename = "numSignatures")]
    pub(crate) num_signatures: u32,
    /// Base64 of the ASCII text shown in the app.
    #[serde(default)]
    pub(crate) description: Option<String>,
    pub(crate) documents: Vec<DocumentRef>,
    /// Base64 SHA-256 digests, in the order of `documents`.
    pub(crate) hash: Vec<String>,
    #[serde(rename = "hashAlgo")]
    pub(crate) hash_algo: String,
    #[serde(rename = "signAlgo")]
    pub(crate) sign_algo: String,
    /// 0 = wait for the subscriber; 1/2 = answer a `transactionId` at once; 3 = webhook.
    #[serde(default, rename = "async")]
    pub(crate) mode: u8,
}

/// One document of a signHash request.
#[derive(Debug, Deserialize)]
pub(crate) struct DocumentRef {
    pub(crate) document_id: String,
    /// Base64 of the ASCII name shown in the app.
    pub(crate) document_name: String,
}

/// Answer of an asynchronous signHash.
#[derive(Debug, Serialize)]
pub(crate) struct TransactionCreated {
    #[serde(rename = "transactionId")]
    pub(crate) transaction_id: String,
}

/// Answer of a synchronous signHash.
#[derive(Debug, Serialize)]
pub(crate) struct Signatures {
    /// Base64 raw PKCS#1 v1.5 signatures, in the order of the request's `hash`.
    pub(crate) signatures: Vec<String>,
}

/// `POST /requests/status`.
#[derive(Debug, Deserialize)]
pub(crate) struct StatusRequest {
    #[serde(rename = "transactionId")]
    pub(crate) transaction_id: String,
}

/// Answer of requests/status.
#[derive(Debug, Serialize)]
pub(crate) struct StatusResponse {
    /// Present (in request order) when `status` is `"1"`, else `null`.
    pub(crate) signatures: Option<Vec<String>>,
    /// Viettel's status code as a string: see the `STATUS_*` constants.
    pub(crate) status: String,
}

/// Viettel's error shape: `{error, error_description}`; `error` is a number or a string.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: ErrorCode,
    pub(crate) error_description: String,
}

/// Viettel's error codes are numbers (`58007`) for its own table and OAuth-style strings
/// (`invalid_token`) for token and request problems.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum ErrorCode {
    Number(u32),
    Text(&'static str),
}

/// requests/status: signed, `signatures` present.
pub(crate) const STATUS_SUCCESS: u32 = 1;
/// requests/status: waiting for the subscriber.
pub(crate) const STATUS_WAITING: u32 = 4000;
/// requests/status: the subscriber confirmed; signing in progress.
pub(crate) const STATUS_SIGNING: u32 = 6000;
/// requests/status: the subscriber did not answer in time.
pub(crate) const STATUS_TIMEOUT: u32 = 4001;
/// requests/status: the subscriber refused.
pub(crate) const STATUS_REJECTED: u32 = 4002;

/// Login: the client id is unknown.
pub(crate) const ERR_CLIENT_UNKNOWN: u32 = 58007;
/// Login: the user id is unknown.
pub(crate) const ERR_USER_UNKNOWN: u32 = 58008;
/// Login: the client secret is wrong.
pub(crate) const ERR_CLIENT_SECRET: u32 = 86024;
/// The certificate is expired or revoked.
pub(crate) const ERR_CERTIFICATE_INVALID: u32 = 13004;
/// Viettel's internal error.
pub(crate) const ERR_INTERNAL: u32 = 50000;

/// `hashAlgo` of SHA-256, the only one MySign accepts.
pub(crate) const OID_SHA256: &str = "2.16.840.1.101.3.4.2.1";
/// `signAlgo` / key algorithm: rsaEncryption.
pub(crate) const OID_RSA: &str = "1.2.840.113549.1.1.1";

/// `description` of a MySign credential.
pub(crate) const CREDENTIAL_DESCRIPTION: &str =
    "MySign mobile based implicit credential authorization";
