//! CSC API v2 request and response bodies, as this simulator reads and writes them.
//!
//! Declared here from the CSC specification, independently of `kyso-adapter-csc`, so that a
//! field-name mistake in the adapter fails the tests instead of being shared. Requests are read
//! leniently (unknown members such as `clientData` are ignored, as CSC allows); required
//! members are `Option`s so that a missing one is answered with CSC's own
//! "Missing (or invalid type) ... parameter" error rather than a generic parse failure.

use serde::{Deserialize, Serialize};

/// CSC's error object.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: &'static str,
    pub(crate) error_description: String,
}

/// `info` output (the members this simulator fills).
#[derive(Debug, Serialize)]
pub(crate) struct ServiceInfo {
    pub(crate) specs: &'static str,
    pub(crate) name: &'static str,
    pub(crate) logo: &'static str,
    pub(crate) region: &'static str,
    pub(crate) lang: &'static str,
    pub(crate) description: &'static str,
    #[serde(rename = "authType")]
    pub(crate) auth_type: Vec<&'static str>,
    #[serde(rename = "asynchronousOperationMode")]
    pub(crate) asynchronous_operation_mode: bool,
    pub(crate) methods: Vec<&'static str>,
    #[serde(rename = "signAlgorithms")]
    pub(crate) sign_algorithms: SignAlgorithms,
}

#[derive(Debug, Serialize)]
pub(crate) struct SignAlgorithms {
    pub(crate) algos: Vec<&'static str>,
}

/// `auth/login` input.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginRequest {
    #[serde(rename = "rememberMe", default)]
    pub(crate) remember_me: bool,
}

/// `auth/login` output.
#[derive(Debug, Serialize)]
pub(crate) struct LoginResponse {
    pub(crate) access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<String>,
    pub(crate) expires_in: u64,
}

/// `auth/revoke` input.
#[derive(Debug, Deserialize)]
pub(crate) struct RevokeRequest {
    pub(crate) token: Option<String>,
}

/// `credentials/list` input.
#[derive(Debug, Deserialize)]
pub(crate) struct ListRequest {
    #[serde(rename = "userID")]
    pub(crate) user_id: Option<String>,
    #[serde(rename = "credentialInfo", default)]
    pub(crate) credential_info: bool,
    pub(crate) certificates: Option<String>,
    #[serde(rename = "certInfo", default)]
    pub(crate) cert_info: bool,
    #[serde(rename = "authInfo", default)]
    pub(crate) auth_info: bool,
    #[serde(rename = "onlyValid", default)]
    pub(crate) only_valid: bool,
}

/// `credentials/list` output.
#[derive(Debug, Serialize)]
pub(crate) struct ListResponse {
    #[serde(rename = "credentialIDs")]
    pub(crate) credential_ids: Vec<String>,
    #[serde(rename = "credentialInfos", skip_serializing_if = "Option::is_none")]
    pub(crate) credential_infos: Option<Vec<ListedCredential>>,
    #[serde(rename = "onlyValid")]
    pub(crate) only_valid: bool,
}

/// One `credentialInfos` entry: the id and what `credentials/info` would say.
#[derive(Debug, Serialize)]
pub(crate) struct ListedCredential {
    #[serde(rename = "credentialID")]
    pub(crate) credential_id: String,
    #[serde(flatten)]
    pub(crate) info: InfoResponse,
}

/// `credentials/info` input.
#[derive(Debug, Deserialize)]
pub(crate) struct InfoRequest {
    #[serde(rename = "credentialID")]
    pub(crate) credential_id: Option<String>,
    pub(crate) certificates: Option<String>,
    #[serde(rename = "certInfo", default)]
    pub(crate) cert_info: bool,
    #[serde(rename = "authInfo", default)]
    pub(crate) auth_info: bool,
}

/// `credentials/info` output.
#[derive(Debug, Serialize)]
pub(crate) struct InfoResponse {
    pub(crate) description: String,
    #[serde(rename = "signatureQualifier")]
    pub(crate) signature_qualifier: &'static str,
    pub(crate) key: KeyInfo,
    pub(crate) cert: CertInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) auth: Option<AuthInfo>,
    #[serde(rename = "SCAL")]
    pub(crate) scal: &'static str,
    pub(crate) multisign: u32,
    pub(crate) lang: &'static str,
}

#[derive(Debug, Serialize)]
pub(crate) struct KeyInfo {
    pub(crate) status: &'static str,
    pub(crate) algo: Vec<&'static str>,
    pub(crate) len: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) curve: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CertInfo {
    pub(crate) status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) certificates: Option<Vec<String>>,
    #[serde(rename = "issuerDN", skip_serializing_if = "Option::is_none")]
    pub(crate) issuer_dn: Option<String>,
    #[serde(rename = "serialNumber", skip_serializing_if = "Option::is_none")]
    pub(crate) serial_number: Option<String>,
    #[serde(rename = "subjectDN", skip_serializing_if = "Option::is_none")]
    pub(crate) subject_dn: Option<String>,
    #[serde(rename = "validFrom", skip_serializing_if = "Option::is_none")]
    pub(crate) valid_from: Option<String>,
    #[serde(rename = "validTo", skip_serializing_if = "Option::is_none")]
    pub(crate) valid_to: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct AuthInfo {
    pub(crate) mode: &'static str,
    pub(crate) description: &'static str,
    pub(crate) objects: Vec<serde_json::Value>,
}

/// `credentials/authorize` input.
#[derive(Debug, Deserialize)]
pub(crate) struct AuthorizeRequest {
    #[serde(rename = "credentialID")]
    pub(crate) credential_id: Option<String>,
    #[serde(rename = "numSignatures")]
    pub(crate) num_signatures: Option<u32>,
    pub(crate) hashes: Option<Vec<String>>,
    #[serde(rename = "hashAlgorithmOID")]
    pub(crate) hash_algorithm_oid: Option<String>,
    #[serde(rename = "authData")]
    pub(crate) auth_data: Option<Vec<serde_json::Value>>,
    pub(crate) description: Option<String>,
}

/// `credentials/authorize` (200) and `credentials/authorizeCheck` (200) output.
#[derive(Debug, Serialize)]
pub(crate) struct SadResponse {
    #[serde(rename = "SAD")]
    pub(crate) sad: String,
    #[serde(rename = "expiresIn")]
    pub(crate) expires_in: u64,
}

/// `credentials/authorize` and `credentials/authorizeCheck` output while the user has not
/// answered (202).
#[derive(Debug, Serialize)]
pub(crate) struct HandleResponse {
    pub(crate) handle: String,
}

/// `credentials/authorizeCheck` input.
#[derive(Debug, Deserialize)]
pub(crate) struct AuthorizeCheckRequest {
    pub(crate) handle: Option<String>,
}

/// `signatures/signHash` input.
#[derive(Debug, Deserialize)]
pub(crate) struct SignHashRequest {
    #[serde(rename = "credentialID")]
    pub(crate) credential_id: Option<String>,
    #[serde(rename = "SAD")]
    pub(crate) sad: Option<String>,
    pub(crate) hashes: Option<Vec<String>>,
    #[serde(rename = "hashAlgorithmOID")]
    pub(crate) hash_algorithm_oid: Option<String>,
    #[serde(rename = "signAlgo")]
    pub(crate) sign_algo: Option<String>,
    #[serde(rename = "signAlgoParams")]
    pub(crate) sign_algo_params: Option<String>,
    #[serde(rename = "operationMode")]
    pub(crate) operation_mode: Option<String>,
}

/// `signatures/signHash` output.
#[derive(Debug, Serialize)]
pub(crate) struct SignHashResponse {
    pub(crate) signatures: Vec<String>,
}
