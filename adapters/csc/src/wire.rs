//! CSC API v2 wire types, private to this adapter (the simulator declares its own).
//!
//! Answers are read leniently: members the adapter does not use are ignored, and the ones that
//! services spell differently (a single `key.algo` string instead of a list, `multisign` as a
//! string, v1's top-level `authMode`) are accepted in both forms. Types that carry a token or a
//! SAD deliberately do not implement `Debug`, so they cannot reach a log by accident.

use serde::{Deserialize, Serialize};

/// CSC's error object.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: Option<String>,
    pub(crate) error_description: Option<String>,
}

/// `auth/login` input (the client credentials go in the HTTP Basic header).
#[derive(Debug, Serialize)]
pub(crate) struct LoginRequest {
    #[serde(rename = "rememberMe")]
    pub(crate) remember_me: bool,
}

/// `auth/login` output.
#[derive(Deserialize)]
pub(crate) struct LoginResponse {
    pub(crate) access_token: String,
    pub(crate) expires_in: Option<u64>,
}

/// `credentials/list` input.
#[derive(Debug, Serialize)]
pub(crate) struct ListRequest<'a> {
    #[serde(rename = "userID")]
    pub(crate) user_id: &'a str,
}

/// `credentials/list` output.
#[derive(Debug, Deserialize)]
pub(crate) struct ListResponse {
    #[serde(rename = "credentialIDs", default)]
    pub(crate) credential_ids: Vec<String>,
}

/// `credentials/info` input.
#[derive(Debug, Serialize)]
pub(crate) struct InfoRequest<'a> {
    #[serde(rename = "credentialID")]
    pub(crate) credential_id: &'a str,
    /// `none`, `single` or `chain`.
    pub(crate) certificates: &'static str,
    #[serde(rename = "certInfo")]
    pub(crate) cert_info: bool,
    #[serde(rename = "authInfo")]
    pub(crate) auth_info: bool,
}

/// `credentials/info` output (the members the adapter reads).
#[derive(Debug, Deserialize)]
pub(crate) struct InfoResponse {
    pub(crate) key: KeyInfo,
    pub(crate) cert: Option<CertInfo>,
    pub(crate) auth: Option<AuthInfo>,
    /// CSC v1's top-level authorization mode (`implicit`, `explicit`, `oauth2code`).
    #[serde(rename = "authMode")]
    pub(crate) auth_mode: Option<String>,
    pub(crate) multisign: Option<Count>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct KeyInfo {
    pub(crate) status: Option<String>,
    #[serde(default)]
    pub(crate) algo: OneOrMany,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CertInfo {
    pub(crate) status: Option<String>,
    #[serde(default)]
    pub(crate) certificates: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AuthInfo {
    pub(crate) mode: Option<String>,
}

/// A list of strings that some services send as a single string.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            Self::None => Vec::new(),
            Self::One(one) => vec![one],
            Self::Many(many) => many,
        }
    }
}

/// A count sent as a number or a numeric string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Count {
    Number(u64),
    Text(String),
}

impl Count {
    pub(crate) fn value(&self) -> Option<u64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::Text(text) => text.trim().parse().ok(),
        }
    }
}

/// `credentials/authorize` input. No `authData`: the holder consents out of band.
#[derive(Debug, Serialize)]
pub(crate) struct AuthorizeRequest<'a> {
    #[serde(rename = "credentialID")]
    pub(crate) credential_id: &'a str,
    #[serde(rename = "numSignatures")]
    pub(crate) num_signatures: usize,
    pub(crate) hashes: &'a [String],
    #[serde(rename = "hashAlgorithmOID")]
    pub(crate) hash_algorithm_oid: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub(crate) description: &'a str,
}

/// `credentials/authorizeCheck` input.
#[derive(Debug, Serialize)]
pub(crate) struct AuthorizeCheckRequest<'a> {
    pub(crate) handle: &'a str,
}

/// `credentials/authorize` and `credentials/authorizeCheck` output: a SAD once the holder
/// consented (200), a handle while they have not (202).
#[derive(Deserialize)]
pub(crate) struct ConsentAnswer {
    #[serde(rename = "SAD")]
    pub(crate) sad: Option<String>,
    pub(crate) handle: Option<String>,
}

/// `signatures/signHash` input (synchronous: no `operationMode`).
#[derive(Serialize)]
pub(crate) struct SignHashRequest<'a> {
    #[serde(rename = "credentialID")]
    pub(crate) credential_id: &'a str,
    #[serde(rename = "SAD")]
    pub(crate) sad: &'a str,
    pub(crate) hashes: Vec<&'a str>,
    #[serde(rename = "hashAlgorithmOID")]
    pub(crate) hash_algorithm_oid: &'a str,
    #[serde(rename = "signAlgo")]
    pub(crate) sign_algo: &'a str,
}

/// `signatures/signHash` output.
#[derive(Debug, Deserialize)]
pub(crate) struct SignHashResponse {
    #[serde(default)]
    pub(crate) signatures: Vec<String>,
    #[serde(rename = "responseID")]
    pub(crate) response_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_accepts_the_spellings_services_use() {
        let v2: InfoResponse = serde_json::from_value(serde_json::json!({
            "key": {"status": "enabled", "algo": ["1.2.840.113549.1.1.11"], "len": 2048},
            "cert": {"status": "valid", "certificates": ["AQ=="]},
            "auth": {"mode": "explicit", "objects": []},
            "SCAL": "2",
            "multisign": 5
        }))
        .unwrap();
        assert_eq!(v2.key.algo.into_vec(), vec!["1.2.840.113549.1.1.11"]);
        assert_eq!(v2.multisign.and_then(|m| m.value()), Some(5));
        assert_eq!(v2.auth.and_then(|a| a.mode).as_deref(), Some("explicit"));

        let v1: InfoResponse = serde_json::from_value(serde_json::json!({
            "key": {"status": "enabled", "algo": "1.2.840.10045.4.3.2"},
            "authMode": "implicit",
            "multisign": "3"
        }))
        .unwrap();
        assert_eq!(v1.key.algo.into_vec(), vec!["1.2.840.10045.4.3.2"]);
        assert_eq!(v1.multisign.and_then(|m| m.value()), Some(3));
        assert_eq!(v1.auth_mode.as_deref(), Some("implicit"));
        assert!(v1.cert.is_none());
    }

    #[test]
    fn requests_use_csc_member_names() {
        let hashes = vec!["AAA=".to_owned()];
        let authorize = serde_json::to_value(AuthorizeRequest {
            credential_id: "c1",
            num_signatures: 1,
            hashes: &hashes,
            hash_algorithm_oid: "2.16.840.1.101.3.4.2.1",
            description: "",
        })
        .unwrap();
        assert_eq!(
            authorize,
            serde_json::json!({
                "credentialID": "c1", "numSignatures": 1, "hashes": ["AAA="],
                "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1"
            })
        );
        let sign = serde_json::to_value(SignHashRequest {
            credential_id: "c1",
            sad: "s",
            hashes: vec!["AAA="],
            hash_algorithm_oid: "2.16.840.1.101.3.4.2.1",
            sign_algo: "1.2.840.113549.1.1.11",
        })
        .unwrap();
        assert_eq!(
            sign,
            serde_json::json!({
                "credentialID": "c1", "SAD": "s", "hashes": ["AAA="],
                "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
                "signAlgo": "1.2.840.113549.1.1.11"
            })
        );
    }
}
