//! Generic QĐ 769 adapter (BKAV-CA, CA2, Vina-CA, Newtel-CA, Safe-CA, ...) and the upstream
//! NEAC eSign gateway adapter.
//!
//! QĐ 769/QĐ-BTTTT is the national remote-signing protocol: the gateway is the service provider
//! (SP) and sends its `sp_id` and `sp_password` in every JSON body; the citizen is named by
//! `user_id` (the CCCD number); `get_certificate` lists the citizen's certificates and `sign`
//! submits digests in `sign_files[]`. Two kinds share one implementation of that protocol
//! (`protocol`), and differ only in configuration:
//!
//! - [`Qd769Kind`] (`qd769`): a CA spoken to directly, one configured provider per CA
//!   ([`Qd769Settings`], [`Qd769Adapter`]).
//! - [`NeacKind`] (`neac`): a CA reached through NEAC's `https://esign.neac.gov.vn`, whose
//!   `/sign_v2/get_certificate` and `/sign_v2/sign` are 769 calls with one routing field,
//!   `ca_name`; one configured provider per `ca_name` ([`NeacSettings`], [`NeacAdapter`]).
//!
//! Neither kind uses login sessions: the credential (`sp_password`, or NEAC's alternative
//! `token`) is static and travels in every body, so [`CaAdapter::needs_session`] is false.
//! Credentials are held as [`secrecy::SecretString`] and never appear in logs or errors. Every
//! call is bounded by the request timeout of the [`CaHttp`] given to `new`, reading the answer
//! included.
//!
//! # What this crate decides where the reference is silent
//!
//! The annex of QĐ 769 is not public; its shape is known from VNPT's rendering and Methics'
//! Laverca client, and NEAC's from client code. Where they are silent or disagree:
//!
//! - **Hash encoding**: `hex` by default (the letter of the field table: "hex for hash"),
//!   `base64` per provider ([`HashEncoding`]); FPT-CA behind NEAC was seen taking base64.
//! - **`file_type`/`sign_type`**: flat in each `sign_files[]` entry by default (VNPT and the NEAC
//!   client code), or nested in `file_options` (Laverca) ([`FileOptionsLayout`]). `sign_type`
//!   is always `hash`; `file_type` is taken from the document name's extension (`pdf`, `xml`,
//!   `json`, `word` for `.doc`/`.docx`), else `other`: it is only shown to the citizen.
//! - **`chain_data`**: VNPT's object `{ca_cert, root_cert}` and Laverca's array are both read
//!   unless the provider pins one ([`ChainDataShape`]); an end-entity certificate repeated in
//!   the array is dropped. `data` may be `{user_certificates: [...]}` or a bare list (Laverca's
//!   client). The certificate handle is `serial_number`, which `sign` sends back.
//! - **Status / poll** (a vendor extension in the reference): `POST
//!   {base}/sign/{transaction_id}/status` for a direct CA, `POST
//!   {base}/sign_v2/sign/{transaction_id}/status` for NEAC, with the body `{sp_id,
//!   sp_password | token, ca_name?, transaction_id}`: VNPT's shape, but authenticated. The
//!   answer is a 769 envelope whose `data.signed_files[]` (or VNPT's `signatures[]`) holds the
//!   signatures once approved; otherwise its `message` is read as VNPT integrators do: `reject`,
//!   `deny`, `cancel` mean rejected, `expire`/`timeout` expired, `fail`/`error` failed, anything
//!   else still waiting. The path is configurable; a `{transaction_id}` in it is replaced by
//!   the id, which must then be ASCII letters, digits, `-` or `_`. With no status path, polling
//!   is [`AdapterError::Unsupported`] and a timed-out submission cannot be reconciled.
//! - **Synchronous CAs**: a `sign` answer carrying `signed_files` is a finished transaction
//!   ([`SignOutcome::Signed`]), and a `sign` answer whose `message` says rejected or expired is
//!   final too; nothing needs configuring. Such a CA holds the call while the citizen decides,
//!   so its provider needs a request timeout longer than that; if it still times out, the
//!   gateway reconciles through the status call ([`CaAdapter::caller_reference`] is our
//!   `transaction_id`, which 769 CAs key transactions by).
//! - **Errors**: `status_code` (or Laverca's `code`) mirrors HTTP and wins over an HTTP 200:
//!   400/422 invalid request, 401 SP credentials refused, 403 certificate unusable, 404 unknown
//!   transaction on a status call (elsewhere a CA fault: a wrong path), 429/502/503/504
//!   unavailable, other statuses kept as [`AdapterError::UpstreamStatus`] (5xx retryable). A
//!   body that is not an envelope is [`AdapterError::UpstreamProtocol`]; an error page under a
//!   non-2xx status is mapped by that status. An unknown citizen is an empty certificate list.
//! - **NEAC**: the credential is either `sp_password` or `token`, sent as that body field beside
//!   `sp_id` (how NEAC wants its token is not public). `transaction_id` is sent on
//!   `get_certificate` as 769 asks, though the NEAC client code omits it.
//! - **Other fields**: `serial_number` is always sent with `sign`; `transaction_desc` (VNPT) is
//!   sent when the request has a description; `time_stamp` is `YYYYMMddHHmmSS` UTC with the `Z`
//!   every example appends. A certificate is active when `cert_status_code` is `VALID`/`ACTIVE`,
//!   or `cert_status` says "hoạt động"/active, or neither is given.
//! - **Capabilities** ([`AdapterFactory::default_capabilities`], the same for both kinds): SHA-256 over RSA,
//!   at most 20 documents per transaction, five minutes to confirm — all undocumented for 769
//!   and NEAC; deployments may override them.
//! - **Health**: 769 has no cheap endpoint, so [`CaAdapter::health`] keeps the default.
//! - **Cancellation**: the protocol has none, for either kind (neither 769 rendering nor NEAC's
//!   client code shows a way to withdraw a `sign`); the gateway records the cancel and stops
//!   following; the CA's own expiry ends the request. [`CaAdapter::cancel`] keeps its default.
//!
//! # Layout
//!
//! - `settings`: [`Qd769Settings`], [`NeacSettings`] and the rendering options.
//! - `protocol`: the shared 769 client (rendering, call, error mapping, outcomes).
//! - `wire`: the private JSON types.

mod protocol;
mod settings;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kyso_adapter_core::{
    AdapterDescriptor, AdapterError, CaAdapter, CaCertificate, CaSession, Capabilities,
    HashAlgorithm, KeyAlgorithm, SettingsError, SignOutcome, SignRequest,
};
use kyso_adapter_http::{AdapterFactory, CaHttp};
use secrecy::ExposeSecret as _;

pub use settings::{
    ChainDataShape, DEFAULT_GET_CERTIFICATE_PATH, DEFAULT_SIGN_PATH, DEFAULT_STATUS_PATH,
    FileOptionsLayout, HashEncoding, NEAC_GET_CERTIFICATE_PATH, NEAC_SIGN_PATH, NEAC_STATUS_PATH,
    NeacCredential, NeacSettings, Qd769Settings, TRANSACTION_ID_PLACEHOLDER,
};

use protocol::{Credential, Protocol, ProtocolConfig, Rendering};

/// What a 769 CA offers as far as public material shows, for both kinds: SHA-256 over RSA
/// keys, about five minutes to confirm, a batch limit of 20 documents (not documented; VNPT's
/// sp769 takes batches of that order). Deployments may widen or narrow it in configuration.
fn qd769_capabilities() -> Capabilities {
    Capabilities {
        hash_algorithms: vec![HashAlgorithm::Sha256],
        key_algorithms: vec![KeyAlgorithm::Rsa],
        max_documents: 20,
        confirmation_timeout: Duration::from_secs(300),
        // The protocol has no documented way to withdraw a request (see the module doc).
        cancel: false,
    }
}

/// The `qd769` kind: a CA spoken to in QĐ 769 directly.
#[derive(Debug, Clone, Copy, Default)]
pub struct Qd769Kind;

impl AdapterFactory for Qd769Kind {
    const KIND: &'static str = "qd769";
    type Settings = Qd769Settings;

    fn default_capabilities() -> Capabilities {
        qd769_capabilities()
    }

    fn build(
        descriptor: AdapterDescriptor,
        settings: Qd769Settings,
        http: CaHttp,
    ) -> Result<Arc<dyn CaAdapter>, SettingsError> {
        Ok(Arc::new(Qd769Adapter::new(descriptor, settings, http)?))
    }
}

/// The `neac` kind: a CA reached through the NEAC eSign gateway.
#[derive(Debug, Clone, Copy, Default)]
pub struct NeacKind;

impl AdapterFactory for NeacKind {
    const KIND: &'static str = "neac";
    type Settings = NeacSettings;

    fn default_capabilities() -> Capabilities {
        qd769_capabilities()
    }

    fn build(
        descriptor: AdapterDescriptor,
        settings: NeacSettings,
        http: CaHttp,
    ) -> Result<Arc<dyn CaAdapter>, SettingsError> {
        Ok(Arc::new(NeacAdapter::new(descriptor, settings, http)?))
    }
}

/// A provider whose CA speaks QĐ 769 directly.
#[derive(Debug)]
pub struct Qd769Adapter {
    descriptor: AdapterDescriptor,
    protocol: Protocol,
}

impl Qd769Adapter {
    /// An adapter for one configured provider; `http` carries its timeouts.
    ///
    /// # Errors
    /// A [`SettingsError`] naming `base_url`, `sp_id` or `sp_password` when unusable.
    pub fn new(
        descriptor: AdapterDescriptor,
        settings: Qd769Settings,
        http: CaHttp,
    ) -> Result<Self, SettingsError> {
        require("sp_password", settings.sp_password.expose_secret())?;
        let config = ProtocolConfig {
            base_url: settings.base_url,
            sp_id: settings.sp_id,
            credential: Credential::Password(settings.sp_password),
            ca_name: None,
            rendering: Rendering {
                hash_encoding: settings.hash_encoding,
                file_options: settings.file_options,
                chain_data: settings.chain_data,
            },
            get_certificate_path: settings.get_certificate_path,
            sign_path: settings.sign_path,
            status_path: settings.status_path,
            peer: "the 769 CA",
        };
        Ok(Self {
            descriptor,
            protocol: Protocol::new(config, http)?,
        })
    }
}

/// A provider reached through the NEAC eSign gateway, routed by `ca_name`.
#[derive(Debug)]
pub struct NeacAdapter {
    descriptor: AdapterDescriptor,
    protocol: Protocol,
}

impl NeacAdapter {
    /// An adapter for one configured provider (one `ca_name`); `http` carries its timeouts.
    ///
    /// # Errors
    /// A [`SettingsError`] naming `base_url`, `sp_id`, `sp_password` / `token` or `ca_name`
    /// when unusable.
    pub fn new(
        descriptor: AdapterDescriptor,
        settings: NeacSettings,
        http: CaHttp,
    ) -> Result<Self, SettingsError> {
        let credential = match settings.credential {
            NeacCredential::Password(password) => {
                require("sp_password", password.expose_secret())?;
                Credential::Password(password)
            }
            NeacCredential::Token(token) => {
                require("token", token.expose_secret())?;
                Credential::Token(token)
            }
        };
        require("ca_name", &settings.ca_name)?;
        let config = ProtocolConfig {
            base_url: settings.base_url,
            sp_id: settings.sp_id,
            credential,
            ca_name: Some(settings.ca_name),
            rendering: Rendering {
                hash_encoding: settings.hash_encoding,
                file_options: settings.file_options,
                chain_data: ChainDataShape::Any,
            },
            get_certificate_path: NEAC_GET_CERTIFICATE_PATH.to_owned(),
            sign_path: NEAC_SIGN_PATH.to_owned(),
            status_path: settings.status_path,
            peer: "NEAC",
        };
        Ok(Self {
            descriptor,
            protocol: Protocol::new(config, http)?,
        })
    }
}

/// Refuses an empty (or blank) required setting.
fn require(field: &str, value: &str) -> Result<(), SettingsError> {
    if value.trim().is_empty() {
        Err(SettingsError::new(field, "must not be empty"))
    } else {
        Ok(())
    }
}

/// The [`CaAdapter`] of both kinds: everything is the shared [`Protocol`]'s.
macro_rules! impl_ca_adapter {
    ($adapter:ty) => {
        #[async_trait]
        impl CaAdapter for $adapter {
            fn descriptor(&self) -> &AdapterDescriptor {
                &self.descriptor
            }

            // No sessions: the credential travels in every body.
            async fn certificates(
                &self,
                _: Option<&CaSession>,
                user_id: &str,
            ) -> Result<Vec<CaCertificate>, AdapterError> {
                self.protocol.certificates(user_id).await
            }

            async fn begin_sign(
                &self,
                _: Option<&CaSession>,
                request: &SignRequest,
            ) -> Result<SignOutcome, AdapterError> {
                self.protocol.begin_sign(request).await
            }

            async fn poll(
                &self,
                _: Option<&CaSession>,
                ca_reference: &str,
            ) -> Result<SignOutcome, AdapterError> {
                self.protocol.poll(ca_reference).await
            }

            /// 769 CAs know a transaction by the SP's `transaction_id`; without a status
            /// call there is no way to ask about it.
            fn caller_reference(&self, request: &SignRequest) -> Option<String> {
                self.protocol
                    .has_status()
                    .then(|| request.transaction_id.clone())
            }
        }
    };
}

impl_ca_adapter!(Qd769Adapter);
impl_ca_adapter!(NeacAdapter);
