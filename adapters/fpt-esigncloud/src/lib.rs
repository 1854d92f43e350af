//! FPT-CA eSignCloud adapter: the unified signing protocol spoken as eSignCloud's REST API.
//!
//! eSignCloud exposes one URL per function (`POST <base>/<functionName>`, JSON in and out).
//! The gateway is the relying party (RP): every request carries the RP's name, user, password
//! and the static signature string FPT issued, a timestamp, a PKCS#1 signature by the RP's key
//! over `username + password + signature + timestamp`, and a `signature` header with the RP
//! key's signature over the request body. A subscriber is known by an **agreement**
//! (`agreementUUID`) the RP created when it enrolled them; hashes go as hex with a MIME type
//! naming the digest (`application/sha256-binary`); answers carry a `responseCode`.
//!
//! How this adapter uses it:
//! - **No session.** Every request authenticates itself, so [`CaAdapter::needs_session`] stays
//!   false and the `session` arguments are ignored.
//! - **Certificates**: `getCertificateDetailForSignCloud`. **Signing**:
//!   `prepareHashSigningForSignCloud` with `authorizeMethod` 3 (the citizen authorises in FPT's
//!   mobile app) and `messagingMode` 1 (asynchronous, client asks), which answers `1007`
//!   (authorisation pending) with a `billCode`. **Polling**: `getSignatureValueForSignCloud`
//!   with the agreement and the bill code. OTP and passcode methods are not used: the gateway
//!   has no channel for a citizen's one-time codes. The synchronous mode would hold a
//!   connection for minutes and the server-to-server mode needs a postback endpoint; the
//!   gateway follows transactions by polling.
//!
//! Where the reference material (`ca-apis.md` §7.1) is silent, this adapter decides, and says so:
//! - **Agreement from CCCD.** The gateway only knows the citizen's CCCD number, and the RP
//!   chooses an agreement's UUID when it enrols the citizen. The adapter therefore expects
//!   enrolment under a UUID derived from the CCCD by [`FptSettings::agreement_uuid_template`]
//!   (`{user_id}` replaced by the CCCD; by default the CCCD itself) and looks nothing else up.
//!   An agreement that does not exist means the citizen holds no certificate here.
//! - **Certificate handle.** eSignCloud selects the key by agreement, so
//!   [`CaCertificate::certificate_id`] is the `agreementUUID`.
//! - **Chain.** eSignCloud returns the subscriber certificate alone (the reference shows only
//!   `certificate` and DN fields), and FPT's demo client pins the "FPT Certification Authority"
//!   sub-CA and the national root. The chain therefore comes from
//!   [`FptSettings::issuer_certificates_pem`], which should hold both, sub-CA first, so that
//!   the chain the adapter returns ends in the root as other CAs' chains do.
//! - **Polling reference.** The poll needs the agreement and the bill code, and signatures come
//!   back by position (`signatureValue` for one hash, `multipleSignedFileData[]` in request
//!   order for several) without document ids. The `ca_reference` is therefore a small JSON
//!   object with the agreement, the bill code and the document ids in request order.
//! - **Caller reference.** The bill code is chosen by the CA, so a submission that timed out
//!   cannot be looked up: [`CaAdapter::caller_reference`] keeps its default (`None`).
//! - **RP signatures**: RSASSA-PKCS1-v1_5 with SHA-256, base64, over the UTF-8 concatenation
//!   (credentials) and over the exact body bytes (header); the timestamp is epoch milliseconds
//!   as a decimal string. Done with aws-lc-rs, whose RSA is constant-time.
//! - **Response codes.** The reference knows `0` (success), `1007` (pending) and `1018`
//!   (accepted as success by FPT's clients, meaning unknown; treated as success here). The rest
//!   follows the code table of this project's simulator, `kyso-sim-fpt`, since FPT's table is
//!   not public: 1001/1002 RP credentials or signature refused → `AuthenticationFailed`;
//!   1003/1006/1012 → `InvalidRequest`; 1004 agreement unknown → no certificates (or
//!   `InvalidRequest` when signing); 1005 bill unknown → `TransactionNotFound`; 1008 refused →
//!   `Rejected`; 1009 → `Expired`; 1010 → `Failed`; 1011 certificate not active →
//!   `CertificateUnusable`; 9999 system error → retryable `UpstreamStatus` 500; any other code
//!   → `UpstreamProtocol`. It must be checked against FPT before production.
//! - **HTTP statuses.** eSignCloud answers its own errors with HTTP 200; 502-504 and 429 are
//!   `Unavailable`, other 5xx `UpstreamStatus`, an unusable body `UpstreamProtocol`.
//! - **Cancellation**: the protocol has none (none of the eSignCloud functions in the
//!   reference withdraws a bill; `regenerateAuthorizationCodeForSignCloud` only issues a new
//!   code); the gateway records the cancel and stops following; the CA's own expiry ends the
//!   request. [`CaAdapter::cancel`] keeps its default.
//! - **Display text**: the request description goes as `notificationTemplate`, document names
//!   as `signingFileName`. **Limits** (20 documents, 5 minutes to authorise) follow VNPT's, as
//!   FPT documents neither.
//!
//! Credentials and the RP key are held as [`secrecy::SecretString`] or inside aws-lc-rs and
//! never appear in logs or errors.

mod wire;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_adapter_core::{
    AdapterDescriptor, AdapterError, CaAdapter, CaCertificate, CaSession, Capabilities,
    HashAlgorithm, KeyAlgorithm, RawSignature, SettingsError, SignOutcome, SignRequest,
};
use kyso_adapter_http::{AdapterFactory, BaseUrl, CaHttp, parse_base_url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The placeholder [`FptSettings::agreement_uuid_template`] must contain.
pub const USER_ID_PLACEHOLDER: &str = "{user_id}";

/// An agreement nobody has, asked for by [`CaAdapter::health`].
const HEALTH_PROBE_AGREEMENT: &str = "kyso-health-probe";

/// The `fpt-esigncloud` kind, as the gateway builds it.
#[derive(Debug, Clone, Copy, Default)]
pub struct FptKind;

impl AdapterFactory for FptKind {
    const KIND: &'static str = "fpt-esigncloud";
    type Settings = FptSettings;

    /// What eSignCloud offers as far as the public material shows: SHA-256/384/512 hashes (by
    /// MIME type) over RSA keys. Its batch limit and authorisation lifetime are not public; 20
    /// documents and five minutes follow VNPT's. Deployments may change them in configuration.
    fn default_capabilities() -> Capabilities {
        Capabilities {
            hash_algorithms: HashAlgorithm::ALL.to_vec(),
            key_algorithms: vec![KeyAlgorithm::Rsa],
            max_documents: 20,
            confirmation_timeout: Duration::from_secs(300),
            // The protocol has no documented way to withdraw a request (see the module doc).
            cancel: false,
        }
    }

    fn build(
        descriptor: AdapterDescriptor,
        settings: FptSettings,
        http: CaHttp,
    ) -> Result<Arc<dyn CaAdapter>, SettingsError> {
        Ok(Arc::new(FptAdapter::new(descriptor, settings, http)?))
    }
}

fn default_agreement_uuid_template() -> String {
    USER_ID_PLACEHOLDER.to_owned()
}

/// The eSignCloud-specific part of a provider's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FptSettings {
    /// The REST base URL the function names are appended to, e.g.
    /// `https://rssp.mobile-id.vn/eSignCloud/restapi` (a trailing `/` is ignored).
    pub base_url: String,
    /// The `relyingParty` name FPT registered for this gateway.
    pub relying_party: String,
    /// The RP user (`credentialData.username`).
    pub relying_party_user: String,
    /// The RP password (`credentialData.password`).
    pub relying_party_password: SecretString,
    /// The static RP signature string FPT issued (`credentialData.signature`).
    pub relying_party_signature: SecretString,
    /// The RP's RSA private key (from the PKCS#12 FPT issued), as PKCS#8 PEM
    /// (`-----BEGIN PRIVATE KEY-----`): signs every request.
    pub relying_party_key_pem: SecretString,
    /// How a citizen's `agreementUUID` is derived from the CCCD number: `{user_id}` is
    /// replaced by it. The RP must enrol citizens under these UUIDs. Default: `{user_id}`.
    #[serde(default = "default_agreement_uuid_template")]
    pub agreement_uuid_template: String,
    /// The issuing CA certificates (PEM, nearest issuer first, root last: FPT's sub-CA then
    /// the national root, as FPT's demo client pins them) to send along with every citizen
    /// certificate, because eSignCloud returns the certificate without its chain.
    /// Without them the provider's trust anchors must include the issuing CA.
    #[serde(default)]
    pub issuer_certificates_pem: Option<String>,
}

/// An eSignCloud provider.
pub struct FptAdapter {
    descriptor: AdapterDescriptor,
    settings: FptSettings,
    base_url: BaseUrl,
    signer: RequestSigner,
    chain_der: Vec<Vec<u8>>,
    http: CaHttp,
}

impl std::fmt::Debug for FptAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FptAdapter")
            .field("descriptor", &self.descriptor)
            .field("base_url", &self.settings.base_url)
            .field("relying_party", &self.settings.relying_party)
            .finish_non_exhaustive()
    }
}

impl FptAdapter {
    /// An adapter for one configured provider. `http` carries the connect timeout;
    /// `request_timeout` bounds every whole call.
    ///
    /// # Errors
    /// A message naming the setting that is unusable: a `base_url` that is not a URL, a
    /// `relying_party_key_pem` that is not an RSA PKCS#8 key, an `agreement_uuid_template`
    /// without `{user_id}`, or `issuer_certificates_pem` without certificates.
    pub fn new(
        descriptor: AdapterDescriptor,
        settings: FptSettings,
        http: CaHttp,
    ) -> Result<Self, SettingsError> {
        let mut settings = settings;
        settings.base_url = parse_base_url("base_url", &settings.base_url)?;
        let base_url = BaseUrl::new("base_url", &settings.base_url)?;
        if !settings
            .agreement_uuid_template
            .contains(USER_ID_PLACEHOLDER)
        {
            return Err(SettingsError::new(
                "agreement_uuid_template",
                format!("must contain {USER_ID_PLACEHOLDER}"),
            ));
        }
        let signer = RequestSigner::from_pkcs8_pem(settings.relying_party_key_pem.expose_secret())
            .map_err(|error| SettingsError::new("relying_party_key_pem", error))?;
        let chain_der = match &settings.issuer_certificates_pem {
            Some(text) => parse_certificates(text)
                .map_err(|error| SettingsError::new("issuer_certificates_pem", error))?,
            None => Vec::new(),
        };
        Ok(Self {
            descriptor,
            settings,
            base_url,
            signer,
            chain_der,
            http,
        })
    }

    /// The agreement a citizen is enrolled under.
    fn agreement_for(&self, user_id: &str) -> String {
        self.settings
            .agreement_uuid_template
            .replace(USER_ID_PLACEHOLDER, user_id)
    }

    /// Calls `function` with `params`, signing the request, and decodes the answer.
    async fn call(
        &self,
        function: &'static str,
        params: wire::Params<'_>,
    ) -> Result<wire::SignCloudResp, AdapterError> {
        let user = self.settings.relying_party_user.as_str();
        let password = self.settings.relying_party_password.expose_secret();
        let static_signature = self.settings.relying_party_signature.expose_secret();
        let timestamp = epoch_millis().to_string();
        let pkcs1_signature = self
            .signer
            .sign(credentials_payload(user, password, static_signature, &timestamp).as_bytes())?;
        let request = wire::SignCloudReq {
            relying_party: &self.settings.relying_party,
            credential_data: wire::CredentialData {
                username: user,
                password,
                signature: static_signature,
                timestamp,
                pkcs1_signature,
            },
            params,
        };
        let body = serde_json::to_vec(&request)
            .map_err(|error| AdapterError::Internal(format!("encoding {function}: {error}")))?;
        let body_signature = self.signer.sign(&body)?;
        let response = self
            .http
            .post(self.base_url.join(&format!("/{function}")))
            .header(wire::HEADER_SERVICE_NAME, wire::SERVICE_NAME)
            .header(wire::HEADER_SIGNATURE, &body_signature)
            .body("application/json", body)
            .send()
            .await?;
        let status = response.status;
        if status >= 500 {
            return Err(http_status_error(status));
        }
        match response.json::<wire::SignCloudResp>(function) {
            Ok(answer) if response.is_success() => {
                tracing::debug!(
                    function,
                    response_code = answer.response_code,
                    "eSignCloud answered"
                );
                Ok(answer)
            }
            Ok(answer) => Err(match classify(answer.response_code, answer.message()) {
                Status::Error(error) => error,
                _ => http_status_error(status),
            }),
            Err(_) if !response.is_success() => Err(http_status_error(status)),
            Err(error) => Err(error),
        }
    }

    /// Reads the signatures of a success answer, by position, for `document_ids`.
    fn signatures(
        answer: &wire::SignCloudResp,
        document_ids: &[String],
    ) -> Result<Vec<RawSignature>, AdapterError> {
        let values: Vec<&str> = match &answer.multiple_signed_file_data {
            Some(files) if !files.is_empty() => files
                .iter()
                .map(|file| {
                    file.signature_value.as_deref().ok_or_else(|| {
                        AdapterError::UpstreamProtocol(
                            "multipleSignedFileData entry without signatureValue".into(),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            _ => answer.signature_value.as_deref().into_iter().collect(),
        };
        if values.len() != document_ids.len() {
            return Err(AdapterError::UpstreamProtocol(format!(
                "{} signatures for {} documents",
                values.len(),
                document_ids.len()
            )));
        }
        document_ids
            .iter()
            .zip(values)
            .map(|(document_id, value)| {
                Ok(RawSignature {
                    document_id: document_id.clone(),
                    signature: decode_base64("signatureValue", value)?,
                })
            })
            .collect()
    }

    /// The outcome an answer about a transaction stands for.
    fn outcome(
        answer: &wire::SignCloudResp,
        reference: &wire::Reference,
    ) -> Result<SignOutcome, AdapterError> {
        match classify(answer.response_code, answer.message()) {
            Status::Success => Ok(SignOutcome::Signed(Self::signatures(
                answer,
                &reference.document_ids,
            )?)),
            Status::Pending => Ok(SignOutcome::Pending {
                ca_reference: encode_reference(reference)?,
            }),
            Status::Rejected => Ok(SignOutcome::Rejected),
            Status::Expired => Ok(SignOutcome::Expired),
            Status::Failed(message) => Ok(SignOutcome::Failed(message)),
            Status::Error(error) => Err(error),
        }
    }
}

/// What a `responseCode` means for the adapter.
#[derive(Debug)]
enum Status {
    Success,
    Pending,
    Rejected,
    Expired,
    Failed(String),
    Error(AdapterError),
}

/// eSignCloud's `responseCode`s (see the module documentation for where each comes from).
fn classify(code: i64, message: &str) -> Status {
    let described = || format!("responseCode {code}: {message}");
    match code {
        0 | 1018 => Status::Success,
        1007 => Status::Pending,
        1008 => Status::Rejected,
        1009 => Status::Expired,
        1010 => Status::Failed(described()),
        1001 | 1002 => Status::Error(AdapterError::AuthenticationFailed),
        1003 | 1004 | 1006 | 1012 => Status::Error(AdapterError::InvalidRequest(described())),
        1005 => Status::Error(AdapterError::TransactionNotFound(described())),
        1011 => Status::Error(AdapterError::CertificateUnusable(described())),
        9999 => Status::Error(AdapterError::UpstreamStatus {
            status: 500,
            message: described(),
        }),
        _ => Status::Error(AdapterError::UpstreamProtocol(format!(
            "unknown {}",
            described()
        ))),
    }
}

/// An HTTP error status without a usable eSignCloud answer.
fn http_status_error(status: u16) -> AdapterError {
    match status {
        400 => AdapterError::InvalidRequest("eSignCloud answered HTTP 400".into()),
        401 | 403 => AdapterError::AuthenticationFailed,
        429 | 502..=504 => AdapterError::Unavailable(format!("eSignCloud answered HTTP {status}")),
        _ => AdapterError::UpstreamStatus {
            status,
            message: format!("eSignCloud answered HTTP {status}"),
        },
    }
}

/// What `pkcs1Signature` signs.
fn credentials_payload(user: &str, password: &str, signature: &str, timestamp: &str) -> String {
    format!("{user}{password}{signature}{timestamp}")
}

fn epoch_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis())
}

/// The MIME type eSignCloud names a digest algorithm by.
fn mime_type(algorithm: HashAlgorithm) -> &'static str {
    match algorithm {
        HashAlgorithm::Sha256 => "application/sha256-binary",
        HashAlgorithm::Sha384 => "application/sha384-binary",
        HashAlgorithm::Sha512 => "application/sha512-binary",
    }
}

fn decode_base64(field: &str, value: &str) -> Result<Vec<u8>, AdapterError> {
    BASE64
        .decode(value.trim())
        .map_err(|error| AdapterError::UpstreamProtocol(format!("{field} is not base64: {error}")))
}

/// The `certificate` field: base64 DER as seen in FPT's clients, PEM tolerated.
fn decode_certificate(value: &str) -> Result<Vec<u8>, AdapterError> {
    let value = value.trim();
    if value.starts_with("-----BEGIN") {
        return pem::parse(value)
            .map(pem::Pem::into_contents)
            .map_err(|error| AdapterError::UpstreamProtocol(format!("certificate: {error}")));
    }
    decode_base64("certificate", value)
}

fn parse_certificates(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let certificates: Vec<Vec<u8>> = pem::parse_many(text)
        .map_err(|error| error.to_string())?
        .into_iter()
        .filter(|block| block.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    if certificates.is_empty() {
        return Err("no CERTIFICATE found".into());
    }
    Ok(certificates)
}

fn encode_reference(reference: &wire::Reference) -> Result<String, AdapterError> {
    serde_json::to_string(reference)
        .map_err(|error| AdapterError::Internal(format!("encoding the reference: {error}")))
}

/// Signs with the RP's key: RSASSA-PKCS1-v1_5, SHA-256, base64.
struct RequestSigner {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl RequestSigner {
    fn from_pkcs8_pem(text: &str) -> Result<Self, String> {
        let block = pem::parse(text.trim()).map_err(|_| "not a PEM block".to_owned())?;
        if block.tag() != "PRIVATE KEY" {
            return Err(format!(
                "a {} PEM block, not PRIVATE KEY (PKCS#8)",
                block.tag()
            ));
        }
        let key = RsaKeyPair::from_pkcs8(block.contents())
            .map_err(|error| format!("not a usable RSA PKCS#8 key: {error}"))?;
        Ok(Self {
            key,
            rng: SystemRandom::new(),
        })
    }

    fn sign(&self, data: &[u8]) -> Result<String, AdapterError> {
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, data, &mut signature)
            .map_err(|_| {
                AdapterError::Internal("signing with the relying party key failed".into())
            })?;
        Ok(BASE64.encode(signature))
    }
}

#[async_trait]
impl CaAdapter for FptAdapter {
    fn descriptor(&self) -> &AdapterDescriptor {
        &self.descriptor
    }

    async fn certificates(
        &self,
        _: Option<&CaSession>,
        user_id: &str,
    ) -> Result<Vec<CaCertificate>, AdapterError> {
        let agreement = self.agreement_for(user_id);
        let answer = self
            .call(
                wire::FN_CERTIFICATE_DETAIL,
                wire::Params {
                    agreement_uuid: Some(&agreement),
                    ..wire::Params::default()
                },
            )
            .await?;
        if answer.response_code == 1004 {
            // No agreement: the citizen holds no certificate here.
            return Ok(Vec::new());
        }
        match classify(answer.response_code, answer.message()) {
            Status::Success => {}
            Status::Error(error) => return Err(error),
            other => {
                return Err(AdapterError::UpstreamProtocol(format!(
                    "{} answered {other:?}",
                    wire::FN_CERTIFICATE_DETAIL
                )));
            }
        }
        let certificate = answer
            .certificate
            .as_deref()
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| AdapterError::UpstreamProtocol("certificate missing".into()))?;
        let now = i64::try_from(epoch_millis()).unwrap_or(i64::MAX);
        let active = answer.valid_from.is_none_or(|from| from <= now)
            && answer.valid_to.is_none_or(|to| now <= to);
        Ok(vec![CaCertificate {
            certificate_id: agreement,
            certificate_der: decode_certificate(certificate)?,
            chain_der: self.chain_der.clone(),
            active,
        }])
    }

    async fn begin_sign(
        &self,
        _: Option<&CaSession>,
        request: &SignRequest,
    ) -> Result<SignOutcome, AdapterError> {
        let agreement = self.agreement_for(&request.user_id);
        if request.certificate_id != agreement {
            return Err(AdapterError::InvalidRequest(
                "certificate_id is not the citizen's agreement".into(),
            ));
        }
        if request.documents.is_empty() {
            return Err(AdapterError::InvalidRequest("no documents".into()));
        }
        let mime_type = mime_type(request.hash_algorithm);
        let files = request
            .documents
            .iter()
            .map(|document| wire::SigningFile {
                hash: hex::encode(&document.digest),
                mime_type,
                signing_file_name: if document.name.is_empty() {
                    &document.id
                } else {
                    &document.name
                },
            })
            .collect();
        let answer = self
            .call(
                wire::FN_PREPARE_HASH_SIGNING,
                wire::Params {
                    agreement_uuid: Some(&agreement),
                    authorize_method: Some(wire::AUTHORIZE_MOBILE_APP),
                    messaging_mode: Some(wire::MESSAGING_ASYNC_CLIENT_SERVER),
                    certificate_required: Some(false),
                    notification_template: Some(request.description.as_str())
                        .filter(|text| !text.is_empty()),
                    multiple_signing_file_data: Some(files),
                    ..wire::Params::default()
                },
            )
            .await?;
        let bill_code = answer.bill_code.clone().unwrap_or_default();
        let status = classify(answer.response_code, answer.message());
        if matches!(status, Status::Pending) && bill_code.trim().is_empty() {
            return Err(AdapterError::UpstreamProtocol(
                "authorisation pending without a billCode".into(),
            ));
        }
        let reference = wire::Reference {
            agreement_uuid: agreement,
            bill_code,
            document_ids: request
                .documents
                .iter()
                .map(|document| document.id.clone())
                .collect(),
        };
        Self::outcome(&answer, &reference)
    }

    async fn poll(
        &self,
        _: Option<&CaSession>,
        ca_reference: &str,
    ) -> Result<SignOutcome, AdapterError> {
        let reference: wire::Reference = serde_json::from_str(ca_reference).map_err(|_| {
            AdapterError::InvalidRequest("not a transaction reference of this adapter".into())
        })?;
        let answer = self
            .call(
                wire::FN_SIGNATURE_VALUE,
                wire::Params {
                    agreement_uuid: Some(&reference.agreement_uuid),
                    bill_code: Some(&reference.bill_code),
                    ..wire::Params::default()
                },
            )
            .await?;
        Self::outcome(&answer, &reference)
    }

    /// Asks for an agreement nobody has: "not found" proves the CA is up and takes our
    /// credentials.
    async fn health(&self) -> Result<(), AdapterError> {
        let answer = self
            .call(
                wire::FN_CERTIFICATE_DETAIL,
                wire::Params {
                    agreement_uuid: Some(HEALTH_PROBE_AGREEMENT),
                    ..wire::Params::default()
                },
            )
            .await?;
        if answer.response_code == 1004 {
            return Ok(());
        }
        match classify(answer.response_code, answer.message()) {
            Status::Error(error) => Err(error),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
    use sha2::{Digest as _, Sha256};

    use super::*;

    /// A fresh RSA-2048 key: PKCS#8 PEM and its public half for independent verification.
    fn test_key() -> (String, RsaPublicKey) {
        let key_pair =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .unwrap();
        let private = RsaPrivateKey::from_pkcs8_der(&key_pair.serialize_der()).unwrap();
        (key_pair.serialize_pem(), private.to_public_key())
    }

    fn verifies(public: &RsaPublicKey, data: &[u8], signature_b64: &str) -> bool {
        let signature = BASE64.decode(signature_b64).unwrap();
        public
            .verify(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(data),
                &signature,
            )
            .is_ok()
    }

    fn settings(key_pem: &str) -> FptSettings {
        FptSettings {
            base_url: "http://127.0.0.1:9/eSignCloud/restapi/".into(),
            relying_party: "RP".into(),
            relying_party_user: "rp-user".into(),
            relying_party_password: "rp-password".to_owned().into(),
            relying_party_signature: "c3RhdGlj".to_owned().into(),
            relying_party_key_pem: key_pem.to_owned().into(),
            agreement_uuid_template: "kyso-{user_id}".into(),
            issuer_certificates_pem: None,
        }
    }

    fn http() -> CaHttp {
        let timeout = Duration::from_secs(1);
        CaHttp::new(kyso_adapter_http::HttpSettings::new(timeout, timeout)).unwrap()
    }

    fn descriptor() -> AdapterDescriptor {
        AdapterDescriptor {
            id: "fpt".into(),
            kind: FptKind::KIND,
            display_name: "FPT".into(),
            capabilities: FptKind::default_capabilities(),
        }
    }

    #[test]
    fn credentials_payload_concatenates_user_password_signature_timestamp() {
        assert_eq!(
            credentials_payload("u", "p", "s==", "1700000000123"),
            "ups==1700000000123"
        );
    }

    #[test]
    fn request_signatures_verify_with_the_rp_public_key() {
        let (pem, public) = test_key();
        let signer = RequestSigner::from_pkcs8_pem(&pem).unwrap();
        let payload = credentials_payload("rp-user", "rp-password", "c3RhdGlj", "1700000000123");
        let signature = signer.sign(payload.as_bytes()).unwrap();
        assert!(verifies(&public, payload.as_bytes(), &signature));
        assert!(!verifies(&public, b"something else", &signature));
        assert_eq!(BASE64.decode(&signature).unwrap().len(), 256);

        let (_, other_public) = test_key();
        assert!(!verifies(&other_public, payload.as_bytes(), &signature));
    }

    #[test]
    fn request_body_is_signed_as_sent_with_credentials_inside() {
        let (pem, public) = test_key();
        let signer = RequestSigner::from_pkcs8_pem(&pem).unwrap();
        let timestamp = "1700000000123".to_owned();
        let payload = credentials_payload("rp-user", "rp-password", "c3RhdGlj", &timestamp);
        let request = wire::SignCloudReq {
            relying_party: "RP",
            credential_data: wire::CredentialData {
                username: "rp-user",
                password: "rp-password",
                signature: "c3RhdGlj",
                timestamp,
                pkcs1_signature: signer.sign(payload.as_bytes()).unwrap(),
            },
            params: wire::Params {
                agreement_uuid: Some("kyso-001099000001"),
                bill_code: Some("B1"),
                ..wire::Params::default()
            },
        };
        let body = serde_json::to_vec(&request).unwrap();
        let header = signer.sign(&body).unwrap();
        assert!(verifies(&public, &body, &header));

        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["relyingParty"], "RP");
        assert_eq!(json["agreementUUID"], "kyso-001099000001");
        assert_eq!(json["billCode"], "B1");
        assert!(
            json.get("authorizeMethod").is_none(),
            "absent params are not sent"
        );
        let credentials = &json["credentialData"];
        assert_eq!(credentials["timestamp"], "1700000000123");
        assert!(verifies(
            &public,
            payload.as_bytes(),
            credentials["pkcs1Signature"].as_str().unwrap()
        ));
        assert!(!format!("{request:?}").contains("rp-password"));
    }

    #[test]
    fn response_codes_map_to_outcomes_and_errors() {
        assert!(matches!(classify(0, ""), Status::Success));
        assert!(matches!(classify(1018, ""), Status::Success));
        assert!(matches!(classify(1007, ""), Status::Pending));
        assert!(matches!(classify(1008, ""), Status::Rejected));
        assert!(matches!(classify(1009, ""), Status::Expired));
        assert!(matches!(classify(1010, "x"), Status::Failed(_)));
        let error = |code| match classify(code, "m") {
            Status::Error(error) => error,
            other => panic!("{code} is {other:?}"),
        };
        assert!(matches!(error(1001), AdapterError::AuthenticationFailed));
        assert!(matches!(error(1002), AdapterError::AuthenticationFailed));
        assert!(matches!(error(1003), AdapterError::InvalidRequest(_)));
        assert!(matches!(error(1006), AdapterError::InvalidRequest(_)));
        assert!(matches!(error(1012), AdapterError::InvalidRequest(_)));
        assert!(matches!(error(1005), AdapterError::TransactionNotFound(_)));
        assert!(matches!(error(1011), AdapterError::CertificateUnusable(_)));
        let system = error(9999);
        assert!(system.is_retryable());
        assert_eq!(system.fault(), kyso_adapter_core::Fault::Ca);
        let unknown = error(4242);
        assert!(matches!(unknown, AdapterError::UpstreamProtocol(_)));
        assert!(!unknown.is_retryable());
    }

    #[test]
    fn http_statuses_map_to_faults() {
        assert!(http_status_error(503).is_retryable());
        assert!(http_status_error(500).is_retryable());
        assert!(matches!(
            http_status_error(401),
            AdapterError::AuthenticationFailed
        ));
        assert!(!http_status_error(404).is_retryable());
    }

    #[test]
    fn signatures_are_read_by_position_from_either_shape() {
        let ids = vec!["a".to_owned(), "b".to_owned()];
        let many: wire::SignCloudResp = serde_json::from_value(serde_json::json!({
            "responseCode": 0, "responseMessage": "SUCCESSFULLY", "signatureValue": null,
            "multipleSignedFileData": [{"signatureValue": "AQ=="}, {"signatureValue": "Ag=="}]
        }))
        .unwrap();
        let signatures = FptAdapter::signatures(&many, &ids).unwrap();
        assert_eq!(signatures[0].document_id, "a");
        assert_eq!(signatures[1].signature, vec![2]);
        assert!(FptAdapter::signatures(&many, &ids[..1]).is_err());

        let one: wire::SignCloudResp = serde_json::from_value(
            serde_json::json!({"responseCode": 0, "signatureValue": "Aw=="}),
        )
        .unwrap();
        let signatures = FptAdapter::signatures(&one, &ids[..1]).unwrap();
        assert_eq!(signatures[0].signature, vec![3]);
        assert!(FptAdapter::signatures(&one, &ids).is_err());
    }

    #[test]
    fn reference_round_trips() {
        let reference = wire::Reference {
            agreement_uuid: "kyso-001099000001".into(),
            bill_code: "B:1".into(),
            document_ids: vec!["d1".into(), "d2".into()],
        };
        let text = encode_reference(&reference).unwrap();
        assert_eq!(
            serde_json::from_str::<wire::Reference>(&text).unwrap(),
            reference
        );
    }

    #[test]
    fn new_checks_settings_and_names_the_bad_field() {
        let (pem, _) = test_key();
        let adapter = FptAdapter::new(descriptor(), settings(&pem), http()).unwrap();
        assert_eq!(
            adapter.settings.base_url,
            "http://127.0.0.1:9/eSignCloud/restapi"
        );
        assert_eq!(adapter.agreement_for("001099000001"), "kyso-001099000001");
        assert!(!format!("{adapter:?}").contains("rp-password"));

        let error = |settings| {
            FptAdapter::new(descriptor(), settings, http())
                .unwrap_err()
                .field
        };
        let mut bad = settings(&pem);
        bad.relying_party_key_pem = "not a key".to_owned().into();
        assert_eq!(error(bad), "relying_party_key_pem");
        let mut bad = settings(&pem);
        bad.relying_party_key_pem = pem.replace("PRIVATE KEY", "RSA PRIVATE KEY").into();
        assert_eq!(error(bad), "relying_party_key_pem");
        let mut bad = settings(&pem);
        bad.agreement_uuid_template = "fixed".into();
        assert_eq!(error(bad), "agreement_uuid_template");
        let mut bad = settings(&pem);
        bad.base_url = "not a url".into();
        assert_eq!(error(bad), "base_url");
        let mut bad = settings(&pem);
        bad.issuer_certificates_pem = Some(pem);
        assert_eq!(error(bad), "issuer_certificates_pem");
    }

    #[test]
    fn settings_deserialise_with_defaults_and_refuse_unknown_fields() {
        let parsed: FptSettings = serde_json::from_value(serde_json::json!({
            "base_url": "https://rssp.example/eSignCloud/restapi",
            "relying_party": "RP", "relying_party_user": "u",
            "relying_party_password": "p", "relying_party_signature": "s",
            "relying_party_key_pem": "k"
        }))
        .unwrap();
        assert_eq!(parsed.agreement_uuid_template, "{user_id}");
        assert!(parsed.issuer_certificates_pem.is_none());
        assert!(!format!("{parsed:?}").contains("\"p\""));
        let unknown = serde_json::from_value::<FptSettings>(serde_json::json!({
            "base_url": "x", "relying_party": "RP", "relying_party_user": "u",
            "relying_party_password": "p", "relying_party_signature": "s",
            "relying_party_key_pem": "k", "sp_id": "?"
        }));
        assert!(unknown.is_err());
    }
}
