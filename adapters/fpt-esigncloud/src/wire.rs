//! eSignCloud wire types, private to this adapter (the simulator declares its own).
//!
//! Every function takes one `SignCloudReq` object and answers one `SignCloudResp`; field names
//! are eSignCloud's camelCase, `agreementUUID`, `certificateDN` and `issuerDN` keeping their
//! capitals.

use serde::{Deserialize, Serialize};

/// A request body: who the RP is, its credentials, and the function's parameters.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignCloudReq<'a> {
    pub(crate) relying_party: &'a str,
    pub(crate) credential_data: CredentialData<'a>,
    #[serde(flatten)]
    pub(crate) params: Params<'a>,
}

/// The RP's credentials; `pkcs1Signature` signs `username + password + signature + timestamp`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CredentialData<'a> {
    pub(crate) username: &'a str,
    pub(crate) password: &'a str,
    pub(crate) signature: &'a str,
    pub(crate) timestamp: String,
    pub(crate) pkcs1_signature: String,
}

impl std::fmt::Debug for CredentialData<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials never reach logs.
        f.debug_struct("CredentialData")
            .field("username", &self.username)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

/// The parameters the functions this adapter calls take; absent ones are not sent.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Params<'a> {
    #[serde(rename = "agreementUUID", skip_serializing_if = "Option::is_none")]
    pub(crate) agreement_uuid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) authorize_method: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) messaging_mode: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) certificate_required: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) notification_template: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bill_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) multiple_signing_file_data: Option<Vec<SigningFile<'a>>>,
}

/// One hash to sign.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SigningFile<'a> {
    /// Hex of the digest.
    pub(crate) hash: String,
    /// `application/sha256-binary` and the like.
    pub(crate) mime_type: &'static str,
    /// Shown to the subscriber.
    pub(crate) signing_file_name: &'a str,
}

/// Every answer. Only `responseCode` is always present.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignCloudResp {
    pub(crate) response_code: i64,
    #[serde(default)]
    pub(crate) response_message: Option<String>,
    #[serde(default)]
    pub(crate) bill_code: Option<String>,
    /// Base64 raw signature, when one hash was signed.
    #[serde(default)]
    pub(crate) signature_value: Option<String>,
    /// One entry per hash, in request order, when several were signed.
    #[serde(default)]
    pub(crate) multiple_signed_file_data: Option<Vec<SignedFile>>,
    /// Base64 DER (PEM tolerated) of the subscriber's certificate.
    #[serde(default)]
    pub(crate) certificate: Option<String>,
    /// Epoch milliseconds.
    #[serde(default)]
    pub(crate) valid_from: Option<i64>,
    /// Epoch milliseconds.
    #[serde(default)]
    pub(crate) valid_to: Option<i64>,
}

impl SignCloudResp {
    /// `responseMessage`, or an empty string.
    pub(crate) fn message(&self) -> &str {
        self.response_message.as_deref().unwrap_or_default()
    }
}

/// One signature of a multi-hash answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignedFile {
    #[serde(default)]
    pub(crate) signature_value: Option<String>,
}

/// What the adapter needs to ask about a transaction later, carried in `ca_reference`:
/// eSignCloud wants the agreement with the bill code and answers signatures by position only.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Reference {
    #[serde(rename = "agreementUUID")]
    pub(crate) agreement_uuid: String,
    pub(crate) bill_code: String,
    pub(crate) document_ids: Vec<String>,
}

/// The header with the RP's signature over the body.
pub(crate) const HEADER_SIGNATURE: &str = "signature";
/// The header naming the service, and its value.
pub(crate) const HEADER_SERVICE_NAME: &str = "x-esignservice-name";
pub(crate) const SERVICE_NAME: &str = "eSSC";

/// `authorizeMethod` 3: the subscriber authorises in FPT's mobile app.
pub(crate) const AUTHORIZE_MOBILE_APP: u8 = 3;
/// `messagingMode` 1: asynchronous, the client asks for the result.
pub(crate) const MESSAGING_ASYNC_CLIENT_SERVER: u8 = 1;

pub(crate) const FN_CERTIFICATE_DETAIL: &str = "getCertificateDetailForSignCloud";
pub(crate) const FN_PREPARE_HASH_SIGNING: &str = "prepareHashSigningForSignCloud";
pub(crate) const FN_SIGNATURE_VALUE: &str = "getSignatureValueForSignCloud";
