//! eSignCloud's wire format as the simulator reads and writes it, declared from the project's
//! CA reference notes (`ca-apis.md` §7.1) and deliberately independent of `kyso-adapter-fpt`:
//! if both sides shared one set of structs, a translation bug in the adapter would be mirrored
//! here and every test would pass.
//!
//! Every function takes one `SignCloudReq` JSON object and answers one `SignCloudResp`. Field
//! names are eSignCloud's camelCase (`agreementUUID` keeps its capitals). Unknown request
//! fields are ignored, as a Jackson-based service would.

use serde::{Deserialize, Serialize};

/// The request body of every function.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignCloudReq {
    pub(crate) relying_party: String,
    pub(crate) credential_data: CredentialData,
    #[serde(default, rename = "agreementUUID")]
    pub(crate) agreement_uuid: Option<String>,
    #[serde(default)]
    pub(crate) authorize_method: Option<i64>,
    #[serde(default)]
    pub(crate) authorize_code: Option<String>,
    #[serde(default)]
    pub(crate) messaging_mode: Option<i64>,
    #[serde(default)]
    pub(crate) certificate_required: Option<bool>,
    #[serde(default)]
    pub(crate) bill_code: Option<String>,
    #[serde(default)]
    pub(crate) notification_template: Option<String>,
    #[serde(default)]
    pub(crate) notification_subject: Option<String>,
    #[serde(default)]
    pub(crate) multiple_signing_file_data: Option<Vec<SigningFileData>>,
}

/// The RP's credentials, in every request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CredentialData {
    pub(crate) username: String,
    pub(crate) password: String,
    /// The static RP signature string the CA issued.
    pub(crate) signature: String,
    /// Epoch milliseconds, as a decimal string.
    pub(crate) timestamp: String,
    /// Base64 RSA signature by the RP key over `username + password + signature + timestamp`.
    pub(crate) pkcs1_signature: String,
}

/// One hash to sign.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SigningFileData {
    /// Hex of the digest.
    pub(crate) hash: String,
    /// `application/sha256-binary` and the like.
    pub(crate) mime_type: String,
    /// Shown to the subscriber; echoed back as `signedFileName`.
    #[serde(default)]
    pub(crate) signing_file_name: Option<String>,
}

/// The answer of every function. Absent values are sent as `null`, as Jackson does.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignCloudResp {
    pub(crate) response_code: i64,
    pub(crate) response_message: String,
    pub(crate) bill_code: Option<String>,
    pub(crate) notification_message: Option<String>,
    pub(crate) remaining_counter: Option<u32>,
    pub(crate) authorize_credential: Option<String>,
    /// Base64 of the raw signature, when exactly one hash was signed.
    pub(crate) signature_value: Option<String>,
    /// One entry per hash, in request order, when several were signed.
    pub(crate) multiple_signed_file_data: Option<Vec<SignedFileData>>,
    /// Base64 DER of the subscriber's certificate.
    pub(crate) certificate: Option<String>,
    #[serde(rename = "certificateDN")]
    pub(crate) certificate_dn: Option<String>,
    pub(crate) certificate_serial_number: Option<String>,
    #[serde(rename = "issuerDN")]
    pub(crate) issuer_dn: Option<String>,
    /// Epoch milliseconds.
    pub(crate) valid_from: Option<i64>,
    /// Epoch milliseconds.
    pub(crate) valid_to: Option<i64>,
}

/// One signature of a multi-hash transaction.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignedFileData {
    /// Base64 of the raw signature.
    pub(crate) signature_value: String,
    pub(crate) signed_file_name: Option<String>,
    pub(crate) mime_type: String,
}

/// The header carrying the RP's signature over the exact request body.
pub(crate) const HEADER_SIGNATURE: &str = "signature";
/// The header naming the service.
pub(crate) const HEADER_SERVICE_NAME: &str = "x-esignservice-name";
/// The only value of [`HEADER_SERVICE_NAME`] eSignCloud answers.
pub(crate) const SERVICE_NAME: &str = "eSSC";

/// `authorizeMethod` values.
pub(crate) const METHOD_SMS: i64 = 1;
pub(crate) const METHOD_EMAIL: i64 = 2;
pub(crate) const METHOD_MOBILE: i64 = 3;
pub(crate) const METHOD_PASSCODE: i64 = 4;
pub(crate) const METHOD_UAF: i64 = 5;

/// `messagingMode` values.
pub(crate) const MODE_ASYNC_CLIENT_SERVER: i64 = 1;
pub(crate) const MODE_ASYNC_SERVER_SERVER: i64 = 2;
pub(crate) const MODE_SYNC: i64 = 3;

/// The functions the simulator serves.
pub(crate) const FN_CERTIFICATE_DETAIL: &str = "getCertificateDetailForSignCloud";
pub(crate) const FN_PREPARE_HASH_SIGNING: &str = "prepareHashSigningForSignCloud";
pub(crate) const FN_SIGNATURE_VALUE: &str = "getSignatureValueForSignCloud";
pub(crate) const FN_AUTHORIZE_COUNTER_SIGNING: &str = "authorizeCounterSigningForSignCloud";
pub(crate) const FN_REGENERATE_AUTHORIZATION_CODE: &str = "regenerateAuthorizationCodeForSignCloud";
