//! Viettel MySign gateway wire types, private to this adapter (the simulator declares its own).
//! Types that carry the client secret or an access token deliberately do not implement
//! `Debug`, so they cannot reach a log by accident.
//!
//! Viettel spells its fields inconsistently (`credentialID`, `numSignatures`, `transactionId`
//! next to snake_case); the Rust names are snake_case with the wire names in `rename`s. Numbers
//! Viettel sometimes sends as strings (`expires_in: "3600"`, `status: "1"`) are read in both forms.

use serde::{Deserialize, Serialize};

/// `POST /ras/v1/login` body: a token for one user.
#[derive(Serialize)]
pub(crate) struct LoginRequest<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) client_secret: &'a str,
    pub(crate) profile_id: &'a str,
    pub(crate) user_id: &'a str,
}

/// The answer of `/ras/v1/login` and `/ras/v1/authenticate`.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    #[serde(default)]
    pub(crate) token_type: Option<String>,
    #[serde(default)]
    pub(crate) expires_in: Option<NumberOrText>,
}

/// A number Viettel may send as a JSON number or as a string of digits.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum NumberOrText {
    Number(u64),
    Text(String),
}

impl NumberOrText {
    /// The value, if it is a non-negative integer in either form.
    pub(crate) fn value(&self) -> Option<u64> {
        match self {
            Self::Number(number) => Some(*number),
            Self::Text(text) => text.trim().parse().ok(),
        }
    }
}

/// `POST /certificates/info` body.
#[derive(Serialize)]
pub(crate) struct CertificatesInfoRequest<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) client_secret: &'a str,
    pub(crate) profile_id: &'a str,
    pub(crate) user_id: &'a str,
    /// `chain`: the user's certificate, the issuing CA and the root.
    pub(crate) certificates: &'a str,
    #[serde(rename = "certInfo")]
    pub(crate) cert_info: bool,
    #[serde(rename = "authInfo")]
    pub(crate) auth_info: bool,
}

/// One credential of the answer array.
#[derive(Debug, Deserialize)]
pub(crate) struct Credential {
    pub(crate) credential_id: String,
    #[serde(default)]
    pub(crate) key: Option<KeyInfo>,
    pub(crate) cert: CertInfo,
}

/// `key` of a credential; only its status matters here.
#[derive(Debug, Deserialize)]
pub(crate) struct KeyInfo {
    #[serde(default)]
    pub(crate) status: Option<String>,
}

/// `cert` of a credential.
#[derive(Debug, Deserialize)]
pub(crate) struct CertInfo {
    #[serde(default)]
    pub(crate) status: Option<String>,
    /// Base64 DER, the user's certificate first.
    #[serde(default)]
    pub(crate) certificates: Vec<String>,
}

/// `POST /signHash` body.
#[derive(Serialize)]
pub(crate) struct SignHashRequest<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) client_secret: &'a str,
    #[serde(rename = "credentialID")]
    pub(crate) credential_id: &'a str,
    #[serde(rename = "numSignatures")]
    pub(crate) num_signatures: usize,
    /// Base64 of the ASCII prompt.
    pub(crate) description: String,
    pub(crate) documents: Vec<DocumentRef<'a>>,
    /// Base64 digests, in document order.
    pub(crate) hash: Vec<String>,
    #[serde(rename = "hashAlgo")]
    pub(crate) hash_algo: &'static str,
    #[serde(rename = "signAlgo")]
    pub(crate) sign_algo: &'static str,
    #[serde(rename = "async")]
    pub(crate) mode: u8,
}

/// One document of a signHash body.
#[derive(Debug, Serialize)]
pub(crate) struct DocumentRef<'a> {
    pub(crate) document_id: &'a str,
    /// Base64 of the ASCII name.
    pub(crate) document_name: String,
}

/// The answer of signHash: a transaction id (asynchronous modes) or the signatures (sync).
#[derive(Debug, Deserialize)]
pub(crate) struct SignHashResponse {
    #[serde(default, rename = "transactionId")]
    pub(crate) transaction_id: Option<String>,
    #[serde(default)]
    pub(crate) signatures: Option<Vec<String>>,
}

/// `POST /requests/status` body.
#[derive(Debug, Serialize)]
pub(crate) struct StatusRequest<'a> {
    #[serde(rename = "transactionId")]
    pub(crate) transaction_id: &'a str,
}

/// The answer of requests/status.
#[derive(Debug, Deserialize)]
pub(crate) struct StatusResponse {
    #[serde(default)]
    pub(crate) signatures: Option<Vec<String>>,
    pub(crate) status: NumberOrText,
}

/// Viettel's error shape. `error` is a number (`58007`) or a string (`invalid_token`).
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: serde_json::Value,
    #[serde(default)]
    pub(crate) error_description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_in_both_forms() {
        let token: TokenResponse =
            serde_json::from_str(r#"{"access_token":"t","expires_in":"3600"}"#).unwrap();
        assert_eq!(token.expires_in.and_then(|n| n.value()), Some(3600));
        let token: TokenResponse =
            serde_json::from_str(r#"{"access_token":"t","expires_in":120}"#).unwrap();
        assert_eq!(token.expires_in.and_then(|n| n.value()), Some(120));
        let status: StatusResponse = serde_json::from_str(r#"{"status":4000}"#).unwrap();
        assert_eq!(status.status.value(), Some(4000));
    }
}
