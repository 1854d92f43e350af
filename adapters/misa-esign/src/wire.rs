//! MISA eSign RemoteSigning wire types, private to this adapter (the simulator declares its
//! own). Answers are read leniently: every field the adapter does not need is optional, and
//! codes MISA types loosely (integer or string) are kept as JSON values.

use serde::{Deserialize, Serialize};

/// `POST …/auth/login-api` body.
#[derive(Serialize)]
pub(crate) struct LoginRequest<'a> {
    #[serde(rename = "userName")]
    pub(crate) user_name: &'a str,
    pub(crate) password: &'a str,
}

impl std::fmt::Debug for LoginRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("user_name", &self.user_name)
            .field("password", &"[REDACTED]")
            .finish()
    }
}

/// The login answer (`eSign-login`): `{status, data}`.
#[derive(Deserialize)]
pub(crate) struct LoginEnvelope {
    pub(crate) status: Option<LoginStatus>,
    pub(crate) data: Option<TokenData>,
}

/// `status` of the login answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginStatus {
    #[serde(default)]
    pub(crate) error: Option<bool>,
    /// An integer in MISA's table; `122` means a second factor is required.
    #[serde(default)]
    pub(crate) error_code: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) message: Option<String>,
}

/// `data` of a successful login; tokens never reach `Debug`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenData {
    pub(crate) remote_signing_access_token: Option<String>,
    pub(crate) token_type: Option<String>,
    pub(crate) expires_in: Option<u64>,
}

/// MISA's error body (`ResponseError`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResponseError {
    #[serde(default)]
    pub(crate) error: Option<String>,
    /// A string in MISA's table; read as any JSON value.
    #[serde(default)]
    pub(crate) error_code: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) dev_msg: Option<String>,
}

/// One certificate (`Cert`) of `Certificates/by-userId`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Cert {
    /// MISA's subscriber id: the `UserId` of Signing/hash.
    pub(crate) user_id: String,
    /// MISA's key id: the `CertAlias` of Signing/hash.
    pub(crate) key_alias: String,
    pub(crate) key_status: Option<String>,
    pub(crate) cert_status: Option<String>,
    /// Base64 DER of the signer certificate.
    pub(crate) certificate: String,
    /// Base64 DER: signer, intermediate, root. MISA spells it `certiticateChain`; the correct
    /// spelling is accepted too should MISA fix it.
    #[serde(default, alias = "certificateChain")]
    pub(crate) certiticate_chain: Option<Vec<String>>,
}

/// `POST …/Signing/hash` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SignHashRequest<'a> {
    pub(crate) data_to_be_displayed: String,
    pub(crate) user_id: &'a str,
    pub(crate) cert_alias: &'a str,
    pub(crate) documents: Vec<SignDocument<'a>>,
}

/// One entry of `Documents`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SignDocument<'a> {
    pub(crate) document_id: &'a str,
    /// Base64 of the digest.
    pub(crate) file_to_sign: String,
    pub(crate) document_name: String,
}

/// The Signing/hash answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignHashResponse {
    pub(crate) transaction_id: Option<String>,
}

/// The Signing/status answer (`Sign_status`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignStatus {
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) transaction_id: Option<String>,
    #[serde(default)]
    pub(crate) error_code: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) error_description: Option<String>,
    #[serde(default)]
    pub(crate) signatures: Option<Vec<SignatureEntry>>,
}

/// One signature of a `SUCCESS` answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignatureEntry {
    #[serde(default)]
    pub(crate) document_id: Option<String>,
    #[serde(default)]
    pub(crate) signature: Option<String>,
}

/// A loosely typed code (integer or string) as text; empty when absent.
pub(crate) fn code_text(code: Option<&serde_json::Value>) -> String {
    match code {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}
