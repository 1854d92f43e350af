//! The one implementation of the 769 protocol that both adapter kinds use: request rendering,
//! the HTTP call with its timeout, the envelope and error mapping, and the reading of
//! certificates and signing outcomes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_adapter_core::{
    AdapterError, CaCertificate, RawSignature, SettingsError, SignOutcome, SignRequest,
};
use kyso_adapter_http::{BaseUrl, CaHttp};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::settings::{
    ChainDataShape, FileOptionsLayout, HashEncoding, TRANSACTION_ID_PLACEHOLDER,
};
use crate::wire;

/// The SP credential sent in every body.
#[derive(Debug, Clone)]
pub(crate) enum Credential {
    Password(SecretString),
    Token(SecretString),
}

impl Credential {
    fn field(&self) -> wire::CredentialField<'_> {
        match self {
            Self::Password(password) => wire::CredentialField::Password {
                sp_password: password.expose_secret(),
            },
            Self::Token(token) => wire::CredentialField::Token {
                token: token.expose_secret(),
            },
        }
    }
}

/// How requests are written and answers read for one CA.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rendering {
    pub(crate) hash_encoding: HashEncoding,
    pub(crate) file_options: FileOptionsLayout,
    pub(crate) chain_data: ChainDataShape,
}

/// Everything needed to speak 769 to one CA (directly or through NEAC).
#[derive(Debug)]
pub(crate) struct Protocol {
    /// The base URL the calls' paths go under.
    base_url: BaseUrl,
    sp_id: String,
    credential: Credential,
    /// `Some` when talking to NEAC.
    ca_name: Option<String>,
    rendering: Rendering,
    get_certificate_path: String,
    sign_path: String,
    status_path: Option<String>,
    http: CaHttp,
    /// Who is on the other side, for error messages (`"the 769 CA"`, `"NEAC"`).
    peer: &'static str,
}

/// The parts of a [`Protocol`], as the two adapter kinds configure it.
#[derive(Debug)]
pub(crate) struct ProtocolConfig {
    pub(crate) base_url: String,
    pub(crate) sp_id: String,
    pub(crate) credential: Credential,
    pub(crate) ca_name: Option<String>,
    pub(crate) rendering: Rendering,
    pub(crate) get_certificate_path: String,
    pub(crate) sign_path: String,
    pub(crate) status_path: Option<String>,
    pub(crate) peer: &'static str,
}

/// Which call failed, for the parts of the error mapping that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Certificates,
    Sign,
    Status,
}

impl Protocol {
    /// Checks the base URL and the SP id, common to both kinds.
    pub(crate) fn new(config: ProtocolConfig, http: CaHttp) -> Result<Self, SettingsError> {
        let base_url = BaseUrl::new("base_url", &config.base_url)?;
        if config.sp_id.trim().is_empty() {
            return Err(SettingsError::new("sp_id", "must not be empty"));
        }
        Ok(Self {
            base_url,
            sp_id: config.sp_id,
            credential: config.credential,
            ca_name: config.ca_name,
            rendering: config.rendering,
            get_certificate_path: absolute(config.get_certificate_path),
            sign_path: absolute(config.sign_path),
            status_path: config.status_path.map(absolute),
            http,
            peer: config.peer,
        })
    }

    /// Whether the CA can be asked where a transaction stands.
    pub(crate) fn has_status(&self) -> bool {
        self.status_path.is_some()
    }

    pub(crate) async fn certificates(
        &self,
        user_id: &str,
    ) -> Result<Vec<CaCertificate>, AdapterError> {
        let transaction_id = lookup_transaction_id();
        let body = self.get_certificate_body(user_id, &transaction_id);
        let data: Option<wire::CertificatesData> = self
            .call(Operation::Certificates, &self.get_certificate_path, &body)
            .await?;
        data.map(wire::CertificatesData::into_entries)
            .unwrap_or_default()
            .into_iter()
            .map(|entry| certificate_from(entry, self.rendering.chain_data))
            .collect()
    }

    pub(crate) async fn begin_sign(
        &self,
        request: &SignRequest,
    ) -> Result<SignOutcome, AdapterError> {
        let body = self.sign_body(request, time::OffsetDateTime::now_utc());
        let (message, data) = self
            .call_with_message::<_, wire::TransactionData>(Operation::Sign, &self.sign_path, &body)
            .await?;
        sign_outcome(&message, data.unwrap_or_default(), request)
    }

    pub(crate) async fn poll(&self, ca_reference: &str) -> Result<SignOutcome, AdapterError> {
        let Some(template) = &self.status_path else {
            return Err(AdapterError::Unsupported("transaction status"));
        };
        let path = status_path(template, ca_reference)?;
        let body = wire::StatusRequest {
            sp_id: &self.sp_id,
            credential: self.credential.field(),
            ca_name: self.ca_name.as_deref(),
            transaction_id: ca_reference,
        };
        let (message, data) = self
            .call_with_message::<_, wire::TransactionData>(Operation::Status, &path, &body)
            .await?;
        status_outcome(&message, data.unwrap_or_default(), ca_reference)
    }

    fn get_certificate_body<'a>(
        &'a self,
        user_id: &'a str,
        transaction_id: &'a str,
    ) -> wire::GetCertificateRequest<'a> {
        wire::GetCertificateRequest {
            sp_id: &self.sp_id,
            credential: self.credential.field(),
            ca_name: self.ca_name.as_deref(),
            user_id,
            serial_number: None,
            transaction_id,
        }
    }

    /// The `sign` body for `request` as this CA wants it.
    pub(crate) fn sign_body<'a>(
        &'a self,
        request: &'a SignRequest,
        now: time::OffsetDateTime,
    ) -> wire::SignRequest<'a> {
        let sign_files = request
            .documents
            .iter()
            .map(|document| {
                let file_type = file_type(&document.name);
                let options = match self.rendering.file_options {
                    FileOptionsLayout::Nested => wire::FileOptionsField::Nested {
                        file_options: wire::FileOptions {
                            file_type,
                            sign_type: SIGN_TYPE_HASH,
                        },
                    },
                    FileOptionsLayout::Flat => wire::FileOptionsField::Flat {
                        file_type,
                        sign_type: SIGN_TYPE_HASH,
                    },
                };
                wire::SignFile {
                    data_to_be_signed: encode_digest(
                        self.rendering.hash_encoding,
                        &document.digest,
                    ),
                    doc_id: &document.id,
                    options,
                }
            })
            .collect();
        wire::SignRequest {
            sp_id: &self.sp_id,
            credential: self.credential.field(),
            ca_name: self.ca_name.as_deref(),
            user_id: &request.user_id,
            transaction_id: &request.transaction_id,
            serial_number: Some(request.certificate_id.as_str()).filter(|s| !s.is_empty()),
            transaction_desc: Some(request.description.as_str()).filter(|s| !s.is_empty()),
            time_stamp: time_stamp(now),
            sign_files,
        }
    }

    /// POSTs `body` and returns the decoded `data` of a successful envelope.
    async fn call<B, T>(
        &self,
        operation: Operation,
        path: &str,
        body: &B,
    ) -> Result<Option<T>, AdapterError>
    where
        B: Serialize + Sync,
        T: DeserializeOwned,
    {
        Ok(self.call_with_message(operation, path, body).await?.1)
    }

    /// POSTs `body` and returns the `message` and the decoded `data` of a successful envelope.
    async fn call_with_message<B, T>(
        &self,
        operation: Operation,
        path: &str,
        body: &B,
    ) -> Result<(String, Option<T>), AdapterError>
    where
        B: Serialize + Sync,
        T: DeserializeOwned,
    {
        let url = self.base_url.join(path);
        let response = self.http.post(url).json(body).send().await?;
        tracing::debug!(
            peer = self.peer,
            path,
            http_status = response.status,
            "769 call answered"
        );
        read_envelope(operation, response.status, &response.body, self.peer)
    }
}

/// `sign_type` of every entry: only hash signing is in scope (VNPT: the only one supported).
const SIGN_TYPE_HASH: &str = "hash";

/// A leading `/`, so that the path goes under the base URL's whatever was configured.
fn absolute(path: String) -> String {
    if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    }
}

/// The status path for `reference`. The reference only enters the URL through the placeholder,
/// and then only if it cannot change the URL's shape.
fn status_path(template: &str, reference: &str) -> Result<String, AdapterError> {
    if !template.contains(TRANSACTION_ID_PLACEHOLDER) {
        return Ok(template.to_owned());
    }
    if reference.is_empty()
        || !reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(AdapterError::InvalidRequest(
            "transaction reference has characters that cannot go in the status path".into(),
        ));
    }
    Ok(template.replace(TRANSACTION_ID_PLACEHOLDER, reference))
}

/// Decodes an answer: the envelope first, then `data` only for a success.
pub(crate) fn read_envelope<T: DeserializeOwned>(
    operation: Operation,
    http_status: u16,
    bytes: &[u8],
    peer: &str,
) -> Result<(String, Option<T>), AdapterError> {
    let envelope: wire::Envelope = match serde_json::from_slice(bytes) {
        Ok(envelope) => envelope,
        // An error status without a 769 body (a proxy's error page): the HTTP status says it.
        Err(_) if !(200..300).contains(&http_status) => {
            return Err(status_error(operation, http_status, String::new(), peer));
        }
        Err(error) => {
            return Err(AdapterError::UpstreamProtocol(format!(
                "{peer} answered a body that is not a 769 envelope: {error}"
            )));
        }
    };
    let message = envelope.message.unwrap_or_default();
    if envelope.status_code != 200 {
        let Some(status) = u16::try_from(envelope.status_code)
            .ok()
            .filter(|s| (100..=599).contains(s))
        else {
            return Err(AdapterError::UpstreamProtocol(format!(
                "{peer} answered status_code {}, which is not HTTP-like",
                envelope.status_code
            )));
        };
        return Err(status_error(operation, status, message, peer));
    }
    if !(200..300).contains(&http_status) {
        return Err(status_error(operation, http_status, message, peer));
    }
    let data = match envelope.data {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => Some(serde_json::from_value(value).map_err(|error| {
            AdapterError::UpstreamProtocol(format!("{peer} answered an unexpected data: {error}"))
        })?),
    };
    Ok((message, data))
}

/// Maps a 769 error status (`status_code`, HTTP-like, or the HTTP status itself) to an
/// [`AdapterError`]. The CA's message is kept for logs only.
pub(crate) fn status_error(
    operation: Operation,
    status: u16,
    message: String,
    peer: &str,
) -> AdapterError {
    match status {
        400 | 422 => AdapterError::InvalidRequest(message),
        401 => AdapterError::AuthenticationFailed,
        403 => AdapterError::CertificateUnusable(message),
        // A status call for a transaction the CA does not know. Elsewhere a 404 means a wrong
        // path or an unknown route at the CA: not the caller's problem.
        404 if operation == Operation::Status => AdapterError::TransactionNotFound(message),
        429 | 502..=504 => AdapterError::Unavailable(format!("{peer} answered {status}")),
        _ => AdapterError::UpstreamStatus { status, message },
    }
}

/// A certificate entry as the domain type, checking the chain's shape against the setting.
pub(crate) fn certificate_from(
    entry: wire::CertificateEntry,
    shape: ChainDataShape,
) -> Result<CaCertificate, AdapterError> {
    let certificate_der = decode_base64("cert_data", &entry.cert_data)?;
    let chain = match (entry.chain_data, shape) {
        (None, _) => Vec::new(),
        (Some(wire::ChainData::Array(_)), ChainDataShape::Object)
        | (Some(wire::ChainData::Object { .. }), ChainDataShape::Array) => {
            return Err(AdapterError::UpstreamProtocol(
                "chain_data does not have the configured shape".into(),
            ));
        }
        (Some(wire::ChainData::Array(list)), _) => list,
        (Some(wire::ChainData::Object { ca_cert, root_cert }), _) => {
            ca_cert.into_iter().chain(root_cert).collect()
        }
    };
    let mut chain_der = Vec::with_capacity(chain.len());
    for cert in chain.iter().filter(|cert| !cert.trim().is_empty()) {
        let der = decode_base64("chain_data", cert)?;
        // Some renderings start the array with the end-entity certificate itself.
        if der != certificate_der {
            chain_der.push(der);
        }
    }
    if entry.serial_number.trim().is_empty() {
        return Err(AdapterError::UpstreamProtocol(
            "serial_number is empty".into(),
        ));
    }
    Ok(CaCertificate {
        certificate_id: entry.serial_number,
        certificate_der,
        chain_der,
        active: certificate_active(
            entry.cert_status_code.as_deref(),
            entry.cert_status.as_deref(),
        ),
    })
}

/// Whether the CA says the certificate can sign. VNPT writes Vietnamese text ("Đang hoạt
/// động", in operation) and integrators also see a `cert_status_code` (`VALID`); anything else
/// given means unusable, nothing given means usable.
fn certificate_active(code: Option<&str>, text: Option<&str>) -> bool {
    match (code, text) {
        (Some(code), _) => ["VALID", "ACTIVE", "GOOD"]
            .iter()
            .any(|word| code.trim().eq_ignore_ascii_case(word)),
        (None, Some(text)) => {
            let text = text.trim().to_lowercase();
            text.contains("hoạt động") || ["valid", "active", "good"].contains(&text.as_str())
        }
        (None, None) => true,
    }
}

/// What a transaction's `message` says when no signatures came with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Rejected,
    Expired,
    Failed,
    Success,
    Other,
}

/// 769 does not document the words for rejection or expiry; like other integrators we read the
/// `message` (the simulator and VNPT say `SIGNER_REJECTED`, `EXPIRED`).
fn verdict(message: &str) -> Verdict {
    let message = message.to_lowercase();
    if ["reject", "deny", "denied", "cancel"]
        .iter()
        .any(|word| message.contains(word))
    {
        Verdict::Rejected
    } else if message.contains("expire") || message.contains("timeout") {
        Verdict::Expired
    } else if message.contains("fail") || message.contains("error") {
        Verdict::Failed
    } else if message.trim().eq_ignore_ascii_case("success") {
        Verdict::Success
    } else {
        Verdict::Other
    }
}

/// The outcome of a `sign` answer: signatures at once from a synchronous CA, else a verdict or
/// a pending transaction known by our `transaction_id` (769's status is keyed by the SP's id).
pub(crate) fn sign_outcome(
    message: &str,
    data: wire::TransactionData,
    request: &SignRequest,
) -> Result<SignOutcome, AdapterError> {
    if let Some(files) = data.signed_files.filter(|files| !files.is_empty()) {
        if files.len() != request.documents.len() {
            return Err(AdapterError::UpstreamProtocol(format!(
                "{} signatures for {} documents",
                files.len(),
                request.documents.len()
            )));
        }
        let document_ids: Vec<&str> = request.documents.iter().map(|d| d.id.as_str()).collect();
        return signatures(files, Some(&document_ids)).map(SignOutcome::Signed);
    }
    Ok(match verdict(message) {
        Verdict::Rejected => SignOutcome::Rejected,
        Verdict::Expired => SignOutcome::Expired,
        Verdict::Failed => SignOutcome::Failed(message.to_owned()),
        Verdict::Success | Verdict::Other => SignOutcome::Pending {
            ca_reference: request.transaction_id.clone(),
        },
    })
}

/// The outcome of a status answer.
pub(crate) fn status_outcome(
    message: &str,
    data: wire::TransactionData,
    ca_reference: &str,
) -> Result<SignOutcome, AdapterError> {
    if let Some(files) = data.signed_files.filter(|files| !files.is_empty()) {
        return signatures(files, None).map(SignOutcome::Signed);
    }
    Ok(match verdict(message) {
        Verdict::Rejected => SignOutcome::Rejected,
        Verdict::Expired => SignOutcome::Expired,
        Verdict::Failed => SignOutcome::Failed(message.to_owned()),
        Verdict::Success => {
            return Err(AdapterError::UpstreamProtocol(
                "SUCCESS without signatures".into(),
            ));
        }
        Verdict::Other => SignOutcome::Pending {
            ca_reference: ca_reference.to_owned(),
        },
    })
}

/// Decodes `signed_files`. Entries are matched to documents by `doc_id`; when the CA leaves it
/// out and the request's ids are known (a synchronous answer), by position.
fn signatures(
    files: Vec<wire::SignedFile>,
    document_ids: Option<&[&str]>,
) -> Result<Vec<RawSignature>, AdapterError> {
    files
        .into_iter()
        .enumerate()
        .map(|(index, file)| {
            let document_id = match (file.doc_id.filter(|id| !id.is_empty()), document_ids) {
                (Some(id), _) => id,
                (None, Some(ids)) => ids
                    .get(index)
                    .map(|id| (*id).to_owned())
                    .ok_or_else(|| AdapterError::UpstreamProtocol("doc_id missing".into()))?,
                (None, None) => {
                    return Err(AdapterError::UpstreamProtocol("doc_id missing".into()));
                }
            };
            let value = file
                .signature_value
                .filter(|value| !value.trim().is_empty())
                .ok_or_else(|| AdapterError::UpstreamProtocol("signature_value missing".into()))?;
            Ok(RawSignature {
                document_id,
                signature: decode_base64("signature_value", &value)?,
            })
        })
        .collect()
}

/// `data_to_be_signed` for a digest.
pub(crate) fn encode_digest(encoding: HashEncoding, digest: &[u8]) -> String {
    match encoding {
        HashEncoding::Base64 => BASE64.encode(digest),
        HashEncoding::Hex => hex::encode(digest),
    }
}

/// 769's `file_type` (`pdf`, `xml`, `json`, `word`, ...) from the document's name; documents
/// reach the gateway as opaque digests, so anything else is `other`. It is only shown to the
/// citizen.
pub(crate) fn file_type(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "pdf" => "pdf",
        "xml" => "xml",
        "json" => "json",
        "doc" | "docx" => "word",
        _ => "other",
    }
}

fn decode_base64(field: &str, value: &str) -> Result<Vec<u8>, AdapterError> {
    BASE64
        .decode(value.trim())
        .map_err(|error| AdapterError::UpstreamProtocol(format!("{field} is not base64: {error}")))
}

/// 769's `time_stamp`: `YYYYMMddHHmmSS` in UTC followed by `Z`, as in every example.
pub(crate) fn time_stamp(now: time::OffsetDateTime) -> String {
    let now = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// 769 wants a `transaction_id` on certificate look-ups too; there it is only echoed, so time
/// and a process-wide counter make it unique enough.
fn lookup_transaction_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!(
        "kyso-cert-{nanos:x}-{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kyso_adapter_core::{DocumentDigest, HashAlgorithm};
    use kyso_adapter_http::HttpSettings;
    use serde_json::{Value, json};

    use super::*;

    fn protocol(rendering: Rendering, ca_name: Option<&str>, credential: Credential) -> Protocol {
        Protocol::new(
            ProtocolConfig {
                base_url: "http://ca.invalid/769/".into(),
                sp_id: "sp".into(),
                credential,
                ca_name: ca_name.map(str::to_owned),
                rendering,
                get_certificate_path: "get_certificate".into(),
                sign_path: "/sign".into(),
                status_path: Some("/sign/{transaction_id}/status".into()),
                peer: "test CA",
            },
            CaHttp::new(HttpSettings::new(
                Duration::from_secs(1),
                Duration::from_secs(1),
            ))
            .unwrap(),
        )
        .unwrap()
    }

    fn rendering(hash_encoding: HashEncoding, file_options: FileOptionsLayout) -> Rendering {
        Rendering {
            hash_encoding,
            file_options,
            chain_data: ChainDataShape::Any,
        }
    }

    fn password() -> Credential {
        Credential::Password("pw".to_owned().into())
    }

    fn request() -> SignRequest {
        SignRequest {
            transaction_id: "tx1".into(),
            user_id: "001099000001".into(),
            certificate_id: "0A1B".into(),
            hash_algorithm: HashAlgorithm::Sha256,
            documents: vec![
                DocumentDigest {
                    id: "d1".into(),
                    name: "ho-so.PDF".into(),
                    digest: vec![0xde, 0xad, 0xbe, 0xef],
                },
                DocumentDigest {
                    id: "d2".into(),
                    name: "to-khai".into(),
                    digest: vec![0xff; 3],
                },
            ],
            description: "Ký hồ sơ".into(),
        }
    }

    fn sign_json(protocol: &Protocol) -> Value {
        let request = request();
        let at = time::macros::datetime!(2022-03-16 06:30:00 UTC);
        serde_json::to_value(protocol.sign_body(&request, at)).unwrap()
    }

    #[test]
    fn sign_body_renders_hex_and_flat_options_by_default() {
        let protocol = protocol(
            rendering(HashEncoding::Hex, FileOptionsLayout::Flat),
            None,
            password(),
        );
        assert_eq!(
            sign_json(&protocol),
            json!({
                "sp_id": "sp", "sp_password": "pw", "user_id": "001099000001",
                "transaction_id": "tx1", "serial_number": "0A1B",
                "transaction_desc": "Ký hồ sơ", "time_stamp": "20220316063000Z",
                "sign_files": [
                    {"data_to_be_signed": "deadbeef", "doc_id": "d1",
                     "file_type": "pdf", "sign_type": "hash"},
                    {"data_to_be_signed": "ffffff", "doc_id": "d2",
                     "file_type": "other", "sign_type": "hash"},
                ]
            })
        );
    }

    #[test]
    fn sign_body_renders_base64_and_nested_options_with_ca_name_and_token() {
        let protocol = protocol(
            rendering(HashEncoding::Base64, FileOptionsLayout::Nested),
            Some("FPT-CA"),
            Credential::Token("tk".to_owned().into()),
        );
        let body = sign_json(&protocol);
        assert_eq!(body["ca_name"], "FPT-CA");
        assert_eq!(body["token"], "tk");
        assert!(body.get("sp_password").is_none());
        assert_eq!(
            body["sign_files"][0],
            json!({"data_to_be_signed": "3q2+7w==", "doc_id": "d1",
                   "file_options": {"file_type": "pdf", "sign_type": "hash"}})
        );
        assert_eq!(body["sign_files"][1]["data_to_be_signed"], "////");
    }

    #[test]
    fn certificate_body_and_paths_are_joined_cleanly() {
        let protocol = protocol(
            rendering(HashEncoding::Hex, FileOptionsLayout::Flat),
            Some("BKAV-CA"),
            password(),
        );
        let body = serde_json::to_value(protocol.get_certificate_body("0010", "t")).unwrap();
        assert_eq!(
            body,
            json!({"sp_id": "sp", "sp_password": "pw", "ca_name": "BKAV-CA",
                   "user_id": "0010", "transaction_id": "t"})
        );
        assert_eq!(
            protocol.base_url.join("/x").as_str(),
            "http://ca.invalid/769/x"
        );
        assert_eq!(protocol.get_certificate_path, "/get_certificate");
    }

    #[test]
    fn status_path_takes_only_safe_references() {
        assert_eq!(
            status_path("/sign/{transaction_id}/status", "abc-1_2").unwrap(),
            "/sign/abc-1_2/status"
        );
        assert_eq!(status_path("/status", "a/b?c").unwrap(), "/status");
        assert!(matches!(
            status_path("/sign/{transaction_id}/status", "../x"),
            Err(AdapterError::InvalidRequest(_))
        ));
    }

    fn entry(value: Value) -> wire::CertificateEntry {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn chain_data_is_read_as_array_or_object() {
        let array = entry(json!({
            "serial_number": "01", "cert_data": "AQ==", "chain_data": ["AQ==", "Ag==", "Aw=="]
        }));
        let certificate = certificate_from(array, ChainDataShape::Any).unwrap();
        // The leaf repeated at the head of the array is dropped.
        assert_eq!(certificate.chain_der, vec![vec![2], vec![3]]);
        assert!(certificate.active);
        let object = entry(json!({
            "serial_number": "01", "cert_data": "AQ==",
            "chain_data": {"ca_cert": "Ag==", "root_cert": null}, "cert_status": "Đang hoạt động"
        }));
        let certificate = certificate_from(object, ChainDataShape::Object).unwrap();
        assert_eq!(certificate.chain_der, vec![vec![2]]);
        assert!(certificate.active);
    }

    #[test]
    fn chain_data_of_the_wrong_shape_is_refused_when_one_is_configured() {
        let array = json!({"serial_number": "01", "cert_data": "AQ==", "chain_data": ["Ag=="]});
        assert!(matches!(
            certificate_from(entry(array), ChainDataShape::Object),
            Err(AdapterError::UpstreamProtocol(_))
        ));
        let object = json!({"serial_number": "01", "cert_data": "AQ==",
                            "chain_data": {"ca_cert": "Ag=="}});
        assert!(matches!(
            certificate_from(entry(object), ChainDataShape::Array),
            Err(AdapterError::UpstreamProtocol(_))
        ));
    }

    #[test]
    fn certificate_status_words_decide_whether_it_is_active() {
        assert!(certificate_active(Some("VALID"), None));
        assert!(!certificate_active(Some("REVOKED"), Some("Đang hoạt động")));
        assert!(!certificate_active(None, Some("Tạm dừng")));
        assert!(certificate_active(None, Some("active")));
        assert!(certificate_active(None, None));
    }

    #[test]
    fn certificates_data_may_be_wrapped_or_bare() {
        let cert = || json!({"serial_number": "01", "cert_data": "AQ=="});
        for data in [json!({"user_certificates": [cert()]}), json!([cert()])] {
            let data: wire::CertificatesData = serde_json::from_value(data).unwrap();
            assert_eq!(data.into_entries().len(), 1);
        }
        let empty: wire::CertificatesData =
            serde_json::from_value(json!({"user_certificates": null})).unwrap();
        assert!(empty.into_entries().is_empty());
    }

    fn data(value: Value) -> wire::TransactionData {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn synchronous_sign_answer_with_signed_files_is_signed_at_once() {
        let request = request();
        let outcome = sign_outcome(
            "SUCCESS",
            data(json!({"transaction_id": "tx1", "signed_files": [
                {"doc_id": "d1", "signature_value": "AQI=", "timestamp_signature": null},
                {"signature_value": "AwQ="},
            ]})),
            &request,
        )
        .unwrap();
        assert_eq!(
            outcome,
            SignOutcome::Signed(vec![
                RawSignature {
                    document_id: "d1".into(),
                    signature: vec![1, 2]
                },
                // No doc_id: matched by position.
                RawSignature {
                    document_id: "d2".into(),
                    signature: vec![3, 4]
                },
            ])
        );
        let short = sign_outcome(
            "SUCCESS",
            data(json!({"signed_files": [{"doc_id": "d1", "signature_value": "AQI="}]})),
            &request,
        );
        assert!(matches!(short, Err(AdapterError::UpstreamProtocol(_))));
    }

    #[test]
    fn asynchronous_sign_answer_is_pending_under_our_transaction_id() {
        let request = request();
        for signed_files in [json!(null), json!([])] {
            let outcome = sign_outcome(
                "sig_wait_for_user_confirm",
                data(json!({"transaction_id": "other", "tran_code": "X",
                            "signed_files": signed_files})),
                &request,
            )
            .unwrap();
            assert_eq!(
                outcome,
                SignOutcome::Pending {
                    ca_reference: "tx1".into()
                }
            );
        }
        assert_eq!(
            sign_outcome("SIGNER_REJECTED", data(json!({})), &request).unwrap(),
            SignOutcome::Rejected
        );
    }

    #[test]
    fn status_messages_map_to_outcomes() {
        let outcome = |message: &str, value: Value| status_outcome(message, data(value), "tx");
        assert_eq!(
            outcome("WAITING_FOR_USER_CONFIRM", json!({"signed_files": null})).unwrap(),
            SignOutcome::Pending {
                ca_reference: "tx".into()
            }
        );
        assert_eq!(
            outcome("SIGNER_REJECTED", json!({})).unwrap(),
            SignOutcome::Rejected
        );
        assert_eq!(outcome("EXPIRED", json!({})).unwrap(), SignOutcome::Expired);
        assert!(matches!(
            outcome("SIGN_FAILED", json!({})).unwrap(),
            SignOutcome::Failed(_)
        ));
        assert!(matches!(
            outcome("SUCCESS", json!({"signed_files": []})),
            Err(AdapterError::UpstreamProtocol(_))
        ));
        // VNPT's name for the list is read too.
        assert_eq!(
            outcome(
                "SUCCESS",
                json!({"signatures": [{"doc_id": "a", "signature_value": "AQ=="}]})
            )
            .unwrap(),
            SignOutcome::Signed(vec![RawSignature {
                document_id: "a".into(),
                signature: vec![1]
            }])
        );
        assert!(matches!(
            outcome(
                "SUCCESS",
                json!({"signed_files": [{"signature_value": "AQ=="}]})
            ),
            Err(AdapterError::UpstreamProtocol(_))
        ));
    }

    fn read(
        operation: Operation,
        http_status: u16,
        body: &str,
    ) -> Result<(String, Option<Value>), AdapterError> {
        read_envelope(operation, http_status, body.as_bytes(), "test CA")
    }

    #[test]
    fn envelopes_map_to_errors_by_status() {
        let status = |code: u16| {
            read(
                Operation::Certificates,
                code,
                &format!(r#"{{"status_code": {code}, "message": "m", "data": null}}"#),
            )
            .unwrap_err()
        };
        assert!(matches!(status(400), AdapterError::InvalidRequest(_)));
        assert!(matches!(status(401), AdapterError::AuthenticationFailed));
        assert!(matches!(status(403), AdapterError::CertificateUnusable(_)));
        assert!(matches!(
            status(404),
            AdapterError::UpstreamStatus { status: 404, .. }
        ));
        assert!(matches!(status(503), AdapterError::Unavailable(_)));
        let internal = status(500);
        assert!(internal.is_retryable() && matches!(internal, AdapterError::UpstreamStatus { .. }));
        assert!(matches!(
            read(
                Operation::Status,
                404,
                r#"{"status_code": 404, "message": "x"}"#
            )
            .unwrap_err(),
            AdapterError::TransactionNotFound(_)
        ));
        // HTTP 200 but an error status_code; Laverca's `code` spelling.
        assert!(matches!(
            read(
                Operation::Sign,
                200,
                r#"{"code": 401, "message": "bad sp"}"#
            )
            .unwrap_err(),
            AdapterError::AuthenticationFailed
        ));
        // An error page without an envelope.
        assert!(matches!(
            read(Operation::Sign, 502, "<html>bad gateway</html>").unwrap_err(),
            AdapterError::Unavailable(_)
        ));
    }

    #[test]
    fn bodies_that_are_not_envelopes_are_protocol_errors() {
        for body in [
            "<html></html>",
            r#"{"message": "no status"}"#,
            r#"{"status_code": 0}"#,
            "",
        ] {
            assert!(
                matches!(
                    read(Operation::Certificates, 200, body),
                    Err(AdapterError::UpstreamProtocol(_))
                ),
                "{body}"
            );
        }
        let data = read_envelope::<wire::CertificatesData>(
            Operation::Certificates,
            200,
            br#"{"status_code": 200, "data": {"user_certificates": [{"cert_data": 5}]}}"#,
            "test CA",
        );
        assert!(matches!(data, Err(AdapterError::UpstreamProtocol(_))));
    }

    #[test]
    fn file_type_follows_the_document_name() {
        assert_eq!(file_type("a.Pdf"), "pdf");
        assert_eq!(file_type("hoso.docx"), "word");
        assert_eq!(file_type("x.xml"), "xml");
        assert_eq!(file_type("noextension"), "other");
    }

    #[test]
    fn time_stamp_has_the_769_shape() {
        let at = time::macros::datetime!(2026-11-22 23:05:09 +07:00);
        assert_eq!(time_stamp(at), "20261122160509Z");
    }
}
