//! Cloud Signature Consortium (CSC) API v2 adapter: the unified signing protocol spoken to any
//! CSC-compliant remote signing service (an RSSP, such as Mobile-ID's).
//!
//! The flow, method by method (all `POST` JSON under the configured `…/csc/v2` root):
//! - **Session** ([`CaAdapter::open_session`]): `auth/login` with the gateway's client
//!   credentials in HTTP Basic; the `access_token` is the session and goes as
//!   `Authorization: Bearer` on every other call. A refused token (401, `invalid_token`,
//!   `expired_token`) is [`AdapterError::SessionExpired`], on which the gateway logs in again.
//! - **Certificates**: `credentials/list {userID}` (the CCCD number through
//!   [`UserIdTemplate`]), then `credentials/info {certificates: "chain"}` per credential. The
//!   `credentialID` is the certificate id; `cert.certificates` is signer first, then issuers.
//! - **Signing** ([`CaAdapter::begin_sign`]): `credentials/list` again, to check the credential
//!   is the citizen's (a service-scope token may reach every user's credentials);
//!   `credentials/info` for `key.algo`, the status and `multisign`; then
//!   `credentials/authorize {credentialID, numSignatures, hashes, hashAlgorithmOID,
//!   description}` without `authData`, which asks the holder for consent out of band.
//!   - `200 {SAD}`: the holder consented while the call was open; `signatures/signHash` runs at
//!     once and the outcome is [`SignOutcome::Signed`].
//!   - `202 {handle}`: the asynchronous path. The outcome is [`SignOutcome::Pending`] and each
//!     [`CaAdapter::poll`] calls `credentials/authorizeCheck {handle}`: 202 is still pending,
//!     200 `{SAD}` leads to `signatures/signHash` in the same poll, `access_denied` is
//!     [`SignOutcome::Rejected`], `expired_token` (not 401) is [`SignOutcome::Expired`].
//! - `signatures/signHash {credentialID, SAD, hashes, hashAlgorithmOID, signAlgo}` answers
//!   `signatures[]` in the order of the hashes; they are matched to document ids by position.
//!
//! Where CSC (or the transcription of it this project has) is silent, this adapter decides:
//! - **The pending reference carries the request** (`reference` module): `signHash` needs the
//!   credential, hashes and algorithms again, and the adapter keeps no state, so the reference
//!   encodes them (never the SAD).
//! - **Consent is out of band.** No PIN or OTP is sent: the service is expected to push the
//!   request to the holder's app, as Mobile-ID does. A credential whose `auth.mode` (or v1
//!   `authMode`) is `oauth2code` is reported inactive: the gateway does not run that flow.
//! - **A blocking `credentials/authorize`** (Mobile-ID holds it until the user answers) is
//!   bounded by the request timeout like every call; configure the provider's timeout above the
//!   service's consent time, or use the service's asynchronous mode.
//! - **SCAL**: hashes are always sent to `credentials/authorize`, which SCAL 2 needs and SCAL 1
//!   allows; `numSignatures` is the number of documents, checked against `multisign`.
//! - **Algorithms** (`oid` module): the combined PKCS#1 v1.5 or ECDSA OID for the digest is
//!   preferred, then `rsaEncryption` / `id-ecPublicKey` with `hashAlgorithmOID`; RSASSA-PSS is
//!   never requested. `hashAlgorithmOID` is always sent.
//! - **Refusals and outcomes**: `access_denied` / `expired_token` from the two authorize methods
//!   are the citizen's refusal and the lapse (the RFC 8628 meanings; a 401 always means the
//!   bearer token). `invalid_request` naming `handle` from `authorizeCheck` is an unknown
//!   transaction; `invalid_request` naming `userID` from `credentials/list` is a citizen with no
//!   credentials. The whole table is on `error::refusal`.
//! - No refresh tokens: when a token expires the gateway simply logs in again.
//! - `description` is cut to 500 characters.
//! - **Cancellation**: the protocol has none: CSC v2 has no method that withdraws a pending
//!   `credentials/authorize` (`auth/revoke` revokes the gateway's own access token, and
//!   `credentials/authorizeCheck` only asks); the gateway records the cancel and stops
//!   following; the service's own expiry ends the request. [`CaAdapter::cancel`] keeps its
//!   default.
//!
//! Every HTTP call is bounded by the configured request timeout. The client secret, access
//! tokens and SADs never appear in logs or errors.

mod error;
mod oid;
mod reference;
mod settings;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_adapter_core::{
    AdapterDescriptor, AdapterError, CaAdapter, CaCertificate, CaSession, Capabilities,
    HashAlgorithm, KeyAlgorithm, RawSignature, SettingsError, SignOutcome, SignRequest,
};
use kyso_adapter_http::{AdapterFactory, BaseUrl, CaHttp};
use secrecy::ExposeSecret as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use settings::{CCCD_PLACEHOLDER, CscSettings, InvalidUserIdTemplate, UserIdTemplate};

use crate::error::{CscError, Method};
use crate::reference::PendingConsent;

/// The longest `description` sent to `credentials/authorize`, in characters.
const MAX_DESCRIPTION_CHARS: usize = 500;

/// The `csc-v2` kind: any CSC API v2 service.
#[derive(Debug, Clone, Copy, Default)]
pub struct CscKind;

impl AdapterFactory for CscKind {
    const KIND: &'static str = "csc-v2";
    type Settings = CscSettings;

    /// What a CSC service offers by default: SHA-256/384/512 (CSC wants SHA-256 or stronger)
    /// over RSA or ECDSA P-256 keys, up to 20 documents per consent (a common `multisign`; the
    /// adapter also checks each credential's own), and five minutes for the holder to consent.
    fn default_capabilities() -> Capabilities {
        Capabilities {
            hash_algorithms: HashAlgorithm::ALL.to_vec(),
            key_algorithms: vec![KeyAlgorithm::Rsa, KeyAlgorithm::EcdsaP256],
            max_documents: 20,
            confirmation_timeout: Duration::from_secs(300),
            // The protocol has no documented way to withdraw a request (see the module doc).
            cancel: false,
        }
    }

    fn build(
        descriptor: AdapterDescriptor,
        settings: CscSettings,
        http: CaHttp,
    ) -> Result<Arc<dyn CaAdapter>, SettingsError> {
        Ok(Arc::new(CscAdapter::new(descriptor, settings, http)?))
    }
}

/// A CSC API v2 provider.
#[derive(Debug)]
pub struct CscAdapter {
    descriptor: AdapterDescriptor,
    settings: CscSettings,
    base_url: BaseUrl,
    http: CaHttp,
}

/// How a call authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Basic,
    Bearer(&'a CaSession),
}

impl CscAdapter {
    /// An adapter for one configured provider; `http` carries its timeouts, which bound every
    /// HTTP call.
    ///
    /// # Errors
    /// A [`SettingsError`] naming `base_url`, `client_id` or `client_secret` when unusable.
    pub fn new(
        descriptor: AdapterDescriptor,
        settings: CscSettings,
        http: CaHttp,
    ) -> Result<Self, SettingsError> {
        let base_url = BaseUrl::new("base_url", &settings.base_url)?;
        if settings.client_id.trim().is_empty() {
            return Err(SettingsError::new("client_id", "must not be empty"));
        }
        if settings.client_secret.expose_secret().is_empty() {
            return Err(SettingsError::new("client_secret", "must not be empty"));
        }
        Ok(Self {
            descriptor,
            settings,
            base_url,
            http,
        })
    }

    /// POSTs `body` to `method` and decodes a 2xx answer (an empty one reads as `{}`); any
    /// other status is [`CscError::Refused`]. Returns the HTTP status with the answer.
    async fn call<B, T>(
        &self,
        method: Method,
        auth: Auth<'_>,
        body: &B,
    ) -> Result<(u16, T), CscError>
    where
        B: Serialize + Sync,
        T: DeserializeOwned,
    {
        let url = self.base_url.join(&format!("/{}", method.path()));
        let request = self.http.post(url).json(body);
        let request = match auth {
            Auth::None => request,
            Auth::Basic => request.basic_auth(
                &self.settings.client_id,
                self.settings.client_secret.expose_secret(),
            ),
            Auth::Bearer(session) => request.bearer_auth(&session.token),
        };
        let response = request.send().await?;
        let (status, success) = (response.status, response.is_success());
        let bytes = response.body;
        if !success {
            let body: Option<wire::ErrorBody> = serde_json::from_slice(&bytes).ok();
            let (code, description) = body
                .map(|body| (body.error, body.error_description))
                .unwrap_or_default();
            return Err(CscError::Refused {
                method,
                status,
                code,
                description: description.unwrap_or_default(),
            });
        }
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        let answer = serde_json::from_slice(bytes).map_err(|error| {
            // A login answer holds a token: keep serde's detail (which may quote values) out.
            let detail = if method == Method::Login {
                String::new()
            } else {
                format!(": {error}")
            };
            AdapterError::UpstreamProtocol(format!(
                "{method}: HTTP {status} body is not the CSC answer{detail}"
            ))
        })?;
        Ok((status, answer))
    }

    /// The credential ids of a CSC `userID`; none for a user the service does not know.
    async fn credential_ids(
        &self,
        session: &CaSession,
        user_id: &str,
    ) -> Result<Vec<String>, CscError> {
        match self
            .call::<_, wire::ListResponse>(
                Method::List,
                Auth::Bearer(session),
                &wire::ListRequest { user_id },
            )
            .await
        {
            Ok((_, list)) => Ok(list.credential_ids),
            Err(error) if error.is_unknown_user() => Ok(Vec::new()),
            Err(error) => Err(error),
        }
    }

    async fn credential_info(
        &self,
        session: &CaSession,
        credential_id: &str,
        certificates: &'static str,
    ) -> Result<wire::InfoResponse, CscError> {
        let request = wire::InfoRequest {
            credential_id,
            certificates,
            cert_info: false,
            auth_info: true,
        };
        let (_, info) = self
            .call(Method::CredentialInfo, Auth::Bearer(session), &request)
            .await?;
        Ok(info)
    }

    /// `signatures/signHash` for a consented transaction.
    async fn sign_hashes(
        &self,
        session: &CaSession,
        pending: &PendingConsent,
        sad: &str,
    ) -> Result<SignOutcome, AdapterError> {
        let request = wire::SignHashRequest {
            credential_id: &pending.credential_id,
            sad,
            hashes: pending
                .documents
                .iter()
                .map(|(_, hash)| hash.as_str())
                .collect(),
            hash_algorithm_oid: &pending.hash_oid,
            sign_algo: &pending.sign_algo,
        };
        let (_, answer): (_, wire::SignHashResponse) = self
            .call(Method::SignHash, Auth::Bearer(session), &request)
            .await?;
        if answer.signatures.is_empty() && answer.response_id.is_some() {
            return Err(AdapterError::UpstreamProtocol(
                "signatures/signHash answered asynchronously to a synchronous request".into(),
            ));
        }
        if answer.signatures.len() != pending.documents.len() {
            return Err(AdapterError::UpstreamProtocol(format!(
                "signatures/signHash returned {} signatures for {} hashes",
                answer.signatures.len(),
                pending.documents.len()
            )));
        }
        let signatures = pending
            .documents
            .iter()
            .zip(&answer.signatures)
            .map(|((document_id, _), signature)| {
                Ok(RawSignature {
                    document_id: document_id.clone(),
                    signature: BASE64.decode(signature.trim()).map_err(|error| {
                        AdapterError::UpstreamProtocol(format!(
                            "signatures/signHash: a signature is not base64: {error}"
                        ))
                    })?,
                })
            })
            .collect::<Result<Vec<_>, AdapterError>>()?;
        Ok(SignOutcome::Signed(signatures))
    }

    /// The answer of `credentials/authorize` or `credentials/authorizeCheck`, as an outcome.
    async fn after_consent(
        &self,
        session: &CaSession,
        method: Method,
        answer: Result<(u16, wire::ConsentAnswer), CscError>,
        pending: PendingConsent,
    ) -> Result<SignOutcome, AdapterError> {
        let (status, answer) = match answer {
            Ok(answer) => answer,
            Err(error) => {
                if let Some(outcome) = error.consent_outcome() {
                    return Ok(outcome);
                }
                if error.is_unknown_handle() {
                    return Err(AdapterError::TransactionNotFound(pending.handle));
                }
                return Err(error.into());
            }
        };
        if let Some(sad) = answer.sad.filter(|sad| !sad.is_empty()) {
            return self.sign_hashes(session, &pending, &sad).await;
        }
        let handle = answer.handle.filter(|handle| !handle.is_empty());
        let pending = match (method, handle) {
            // The handle is what `credentials/authorize` promises with its 202; a service that
            // answers 200 with a handle but no SAD is read the same way.
            (Method::Authorize, Some(handle)) => PendingConsent { handle, ..pending },
            // `credentials/authorizeCheck` says "not yet" with 202, repeating the handle or not.
            (Method::AuthorizeCheck, _) if status == 202 => pending,
            _ => {
                return Err(AdapterError::UpstreamProtocol(format!(
                    "{method}: HTTP {status} with neither a SAD nor a pending handle"
                )));
            }
        };
        Ok(SignOutcome::Pending {
            ca_reference: pending.encode()?,
        })
    }
}

fn require_session(session: Option<&CaSession>) -> Result<&CaSession, AdapterError> {
    session.ok_or_else(|| AdapterError::Internal("CSC calls need a login session".into()))
}

/// Why a credential cannot sign now, if it cannot.
fn unusable_reason(info: &wire::InfoResponse) -> Option<String> {
    if let Some(status) = info.key.status.as_deref()
        && !status.eq_ignore_ascii_case("enabled")
    {
        return Some(format!("the key is {status}"));
    }
    if let Some(status) = info.cert.as_ref().and_then(|cert| cert.status.as_deref())
        && !status.eq_ignore_ascii_case("valid")
    {
        return Some(format!("the certificate is {status}"));
    }
    let mode = info
        .auth
        .as_ref()
        .and_then(|auth| auth.mode.as_deref())
        .or(info.auth_mode.as_deref());
    if mode.is_some_and(|mode| mode.eq_ignore_ascii_case("oauth2code")) {
        return Some("the credential needs the OAuth2 authorization-code flow".to_owned());
    }
    None
}

fn to_certificate(
    credential_id: String,
    info: &wire::InfoResponse,
) -> Result<CaCertificate, AdapterError> {
    let encoded = info
        .cert
        .as_ref()
        .map(|cert| cert.certificates.as_slice())
        .unwrap_or_default();
    let mut certificates = encoded.iter().map(|certificate| {
        BASE64.decode(certificate.trim()).map_err(|error| {
            AdapterError::UpstreamProtocol(format!(
                "credentials/info: a certificate is not base64: {error}"
            ))
        })
    });
    let certificate_der = certificates.next().ok_or_else(|| {
        AdapterError::UpstreamProtocol(format!(
            "credentials/info: credential {credential_id} has no certificate"
        ))
    })??;
    let chain_der = certificates.collect::<Result<Vec<_>, _>>()?;
    Ok(CaCertificate {
        certificate_id: credential_id,
        certificate_der,
        chain_der,
        active: unusable_reason(info).is_none(),
    })
}

#[async_trait]
impl CaAdapter for CscAdapter {
    fn descriptor(&self) -> &AdapterDescriptor {
        &self.descriptor
    }

    fn needs_session(&self) -> bool {
        true
    }

    async fn open_session(&self) -> Result<CaSession, AdapterError> {
        let (_, login): (_, wire::LoginResponse) = self
            .call(
                Method::Login,
                Auth::Basic,
                &wire::LoginRequest { remember_me: false },
            )
            .await?;
        if login.access_token.is_empty() {
            return Err(AdapterError::UpstreamProtocol(
                "auth/login: empty access_token".into(),
            ));
        }
        Ok(CaSession {
            token: login.access_token,
            // CSC's default lifetime when the service does not say.
            expires_in_secs: login.expires_in.filter(|secs| *secs > 0).unwrap_or(3600),
        })
    }

    async fn certificates(
        &self,
        session: Option<&CaSession>,
        user_id: &str,
    ) -> Result<Vec<CaCertificate>, AdapterError> {
        let session = require_session(session)?;
        let csc_user = self.settings.user_id_template.user_id(user_id);
        let mut certificates = Vec::new();
        for credential_id in self.credential_ids(session, &csc_user).await? {
            let info = self
                .credential_info(session, &credential_id, "chain")
                .await?;
            certificates.push(to_certificate(credential_id, &info)?);
        }
        Ok(certificates)
    }

    async fn begin_sign(
        &self,
        session: Option<&CaSession>,
        request: &SignRequest,
    ) -> Result<SignOutcome, AdapterError> {
        let session = require_session(session)?;
        if request.documents.is_empty() {
            return Err(AdapterError::InvalidRequest("no documents to sign".into()));
        }
        let digest_len = request.hash_algorithm.digest_len();
        if let Some(document) = request
            .documents
            .iter()
            .find(|document| document.digest.len() != digest_len)
        {
            return Err(AdapterError::InvalidRequest(format!(
                "document {} has a {}-byte digest, not {}",
                document.id,
                document.digest.len(),
                request.hash_algorithm
            )));
        }

        let csc_user = self.settings.user_id_template.user_id(&request.user_id);
        let owned = self.credential_ids(session, &csc_user).await?;
        if !owned.contains(&request.certificate_id) {
            return Err(AdapterError::InvalidRequest(
                "the certificate is not one of the citizen's credentials".into(),
            ));
        }
        let info = self
            .credential_info(session, &request.certificate_id, "none")
            .await?;
        if let Some(reason) = unusable_reason(&info) {
            return Err(AdapterError::CertificateUnusable(reason));
        }
        if let Some(multisign) = info.multisign.as_ref().and_then(wire::Count::value)
            && u64::try_from(request.documents.len()).unwrap_or(u64::MAX) > multisign
        {
            return Err(AdapterError::InvalidRequest(format!(
                "{} documents exceed the credential's multisign of {multisign}",
                request.documents.len()
            )));
        }
        let sign_algo = oid::choose_sign_algo(request.hash_algorithm, &info.key.algo.into_vec())
            .map_err(|error| AdapterError::CertificateUnusable(error.to_string()))?;
        let hash_oid = oid::hash_oid(request.hash_algorithm);

        let hashes: Vec<String> = request
            .documents
            .iter()
            .map(|document| BASE64.encode(&document.digest))
            .collect();
        let description: String = request
            .description
            .chars()
            .take(MAX_DESCRIPTION_CHARS)
            .collect();
        let answer = self
            .call(
                Method::Authorize,
                Auth::Bearer(session),
                &wire::AuthorizeRequest {
                    credential_id: &request.certificate_id,
                    num_signatures: request.documents.len(),
                    hashes: &hashes,
                    hash_algorithm_oid: hash_oid,
                    description: &description,
                },
            )
            .await;
        let pending = PendingConsent {
            handle: String::new(),
            credential_id: request.certificate_id.clone(),
            hash_oid: hash_oid.to_owned(),
            sign_algo: sign_algo.oid.to_owned(),
            documents: request
                .documents
                .iter()
                .map(|document| document.id.clone())
                .zip(hashes)
                .collect(),
        };
        self.after_consent(session, Method::Authorize, answer, pending)
            .await
    }

    async fn poll(
        &self,
        session: Option<&CaSession>,
        ca_reference: &str,
    ) -> Result<SignOutcome, AdapterError> {
        let session = require_session(session)?;
        let pending = PendingConsent::decode(ca_reference)?;
        let answer = self
            .call(
                Method::AuthorizeCheck,
                Auth::Bearer(session),
                &wire::AuthorizeCheckRequest {
                    handle: &pending.handle,
                },
            )
            .await;
        self.after_consent(session, Method::AuthorizeCheck, answer, pending)
            .await
    }

    /// `info`, the one method every CSC service must offer; it needs no login.
    async fn health(&self) -> Result<(), AdapterError> {
        let _: (_, serde::de::IgnoredAny) = self
            .call(Method::Info, Auth::None, &serde_json::json!({}))
            .await?;
        Ok(())
    }
}
