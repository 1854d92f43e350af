//! VNPT SmartCA adapter: the unified signing protocol spoken as VNPT's sp769 v1 API.
//!
//! VNPT SmartCA follows the national QĐ 769 protocol (`/sca/sp769`): the gateway is the
//! service provider (SP) and sends its `sp_id`/`sp_password` in every request body; the
//! citizen is named by `user_id` (the CCCD number); a signing request carries hex digests and
//! always answers "waiting for the citizen", who confirms in the VNPT SmartCA app; the
//! outcome is then read from the status endpoint.
//!
//! Where VNPT's published material is silent this adapter decides, and says so here:
//! - The status endpoint's wording for a rejected or expired transaction is not documented.
//!   Like other integrators we read it from the `message` (`reject`/`deny`/`cancel` mean
//!   rejected, `expire` means expired); an unknown transaction is HTTP or `status_code` 404.
//! - `file_type` of a hash entry is shown to the citizen only; documents reach us as opaque
//!   digests, so we send `other`.
//! - `chain_data` is VNPT's `{ca_cert, root_cert}` object; the array form other 769
//!   implementations use is accepted too.
//! - **Cancellation**: the protocol has none (sp769 documents `get_certificate`, `sign`, the
//!   status call and the webhook only); the gateway records the cancel and stops following;
//!   the CA's own expiry ends the request. [`CaAdapter::cancel`] keeps its default.
//!
//! Credentials are held as [`secrecy::SecretString`] and never appear in logs or errors.

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
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The `vnpt-smartca` kind, as the gateway builds it.
#[derive(Debug, Clone, Copy, Default)]
pub struct VnptKind;

impl AdapterFactory for VnptKind {
    const KIND: &'static str = "vnpt-smartca";
    type Settings = VnptSettings;

    /// What VNPT SmartCA offers, as far as its public material shows: SHA-256 over RSA-2048
    /// keys, confirmation within about five minutes. Deployments may widen it in configuration.
    fn default_capabilities() -> Capabilities {
        Capabilities {
            hash_algorithms: vec![HashAlgorithm::Sha256],
            key_algorithms: vec![KeyAlgorithm::Rsa],
            max_documents: 20,
            confirmation_timeout: Duration::from_secs(300),
            // The protocol has no documented way to withdraw a request (see the module doc).
            cancel: false,
        }
    }

    fn build(
        descriptor: AdapterDescriptor,
        settings: VnptSettings,
        http: CaHttp,
    ) -> Result<Arc<dyn CaAdapter>, SettingsError> {
        Ok(Arc::new(VnptAdapter::new(descriptor, settings, http)?))
    }
}

/// The VNPT-specific part of a provider's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VnptSettings {
    /// The sp769 base URL, up to and including `/sca/sp769`
    /// (`https://gwsca.vnpt.vn/sca/sp769` in production).
    pub base_url: String,
    /// The SP client id VNPT issued to this gateway.
    pub sp_id: String,
    /// The SP client secret VNPT issued to this gateway.
    pub sp_password: SecretString,
}

/// A VNPT SmartCA provider.
#[derive(Debug)]
pub struct VnptAdapter {
    descriptor: AdapterDescriptor,
    settings: VnptSettings,
    base_url: BaseUrl,
    http: CaHttp,
}

impl VnptAdapter {
    /// An adapter for one configured provider; `http` carries its timeouts.
    ///
    /// # Errors
    /// A [`SettingsError`] naming `base_url` when it is not an http(s) URL, or `sp_id` /
    /// `sp_password` when empty.
    pub fn new(
        descriptor: AdapterDescriptor,
        settings: VnptSettings,
        http: CaHttp,
    ) -> Result<Self, SettingsError> {
        let base_url = BaseUrl::new("base_url", &settings.base_url)?;
        if settings.sp_id.trim().is_empty() {
            return Err(SettingsError::new("sp_id", "must not be empty"));
        }
        if settings.sp_password.expose_secret().is_empty() {
            return Err(SettingsError::new("sp_password", "must not be empty"));
        }
        Ok(Self {
            descriptor,
            settings,
            base_url,
            http,
        })
    }

    /// POSTs `body` to `path` under the base URL and decodes VNPT's envelope.
    async fn call<B, T>(&self, path: &str, body: &B) -> Result<wire::Envelope<T>, AdapterError>
    where
        B: serde::Serialize + Sync,
        T: DeserializeOwned,
    {
        let url = self.base_url.join(path);
        let response = self.http.post(url).json(body).send().await?;
        let envelope: wire::Envelope<T> = match response.json(path) {
            Ok(envelope) => envelope,
            Err(_) if !response.is_success() => {
                return Err(status_error(response.status, String::new()));
            }
            Err(error) => return Err(error),
        };
        if !response.is_success() || envelope.status_code != 200 {
            let status = if envelope.status_code != 200 {
                envelope.status_code
            } else {
                response.status
            };
            return Err(status_error(status, envelope.message));
        }
        Ok(envelope)
    }
}

/// Maps VNPT's error table (the HTTP status mirrored in `status_code`) to [`AdapterError`].
fn status_error(status: u16, message: String) -> AdapterError {
    match status {
        400 => AdapterError::InvalidRequest(message),
        401 => AdapterError::AuthenticationFailed,
        403 => AdapterError::CertificateUnusable(message),
        404 => AdapterError::TransactionNotFound(message),
        502..=504 => AdapterError::Unavailable(format!("VNPT answered {status}")),
        _ => AdapterError::UpstreamStatus { status, message },
    }
}

fn decode_base64(field: &str, value: &str) -> Result<Vec<u8>, AdapterError> {
    BASE64
        .decode(value.trim())
        .map_err(|error| AdapterError::UpstreamProtocol(format!("{field} is not base64: {error}")))
}

/// VNPT's `time_stamp`: `YYYYMMddHHmmSS` followed by `Z`, as in all of VNPT's examples.
fn vnpt_time_stamp(now: time::OffsetDateTime) -> String {
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

impl wire::CertificateEntry {
    fn into_certificate(self) -> Result<CaCertificate, AdapterError> {
        let certificate_der = decode_base64("cert_data", &self.cert_data)?;
        let chain_der = self
            .chain_data
            .map(wire::ChainData::into_base64_list)
            .unwrap_or_default()
            .iter()
            .map(|cert| decode_base64("chain_data", cert))
            .collect::<Result<Vec<_>, _>>()?;
        // VNPT's documented status is Vietnamese text; integrators also see a
        // `cert_status_code`. Anything other than the active values means unusable.
        let active = match (&self.cert_status_code, &self.cert_status) {
            (Some(code), _) => code.eq_ignore_ascii_case("VALID"),
            (None, Some(text)) => text.to_lowercase().contains("hoạt động"),
            (None, None) => true,
        };
        Ok(CaCertificate {
            certificate_id: self.serial_number,
            certificate_der,
            chain_der,
            active,
        })
    }
}

#[async_trait]
impl CaAdapter for VnptAdapter {
    fn descriptor(&self) -> &AdapterDescriptor {
        &self.descriptor
    }

    // sp769 has no login: the SP credentials travel in every body, so no session is used.
    async fn certificates(
        &self,
        _: Option<&CaSession>,
        user_id: &str,
    ) -> Result<Vec<CaCertificate>, AdapterError> {
        let request = wire::GetCertificateRequest {
            sp_id: &self.settings.sp_id,
            sp_password: self.settings.sp_password.expose_secret(),
            user_id,
            serial_number: None,
            transaction_id: &lookup_transaction_id(),
        };
        let envelope: wire::Envelope<wire::CertificatesData> = self
            .call("/v1/credentials/get_certificate", &request)
            .await?;
        envelope
            .data
            .map(|data| data.user_certificates)
            .unwrap_or_default()
            .into_iter()
            .map(wire::CertificateEntry::into_certificate)
            .collect()
    }

    async fn begin_sign(
        &self,
        _: Option<&CaSession>,
        request: &SignRequest,
    ) -> Result<SignOutcome, AdapterError> {
        let sign_files = request
            .documents
            .iter()
            .map(|document| wire::SignFile {
                data_to_be_signed: hex::encode(&document.digest),
                doc_id: &document.id,
                file_type: "other",
                sign_type: "hash",
            })
            .collect();
        let body = wire::SignRequest {
            sp_id: &self.settings.sp_id,
            sp_password: self.settings.sp_password.expose_secret(),
            user_id: &request.user_id,
            transaction_id: &request.transaction_id,
            serial_number: Some(&request.certificate_id),
            transaction_desc: &request.description,
            time_stamp: vnpt_time_stamp(time::OffsetDateTime::now_utc()),
            sign_files,
        };
        let envelope: wire::Envelope<wire::SignData> =
            self.call("/v1/signatures/sign", &body).await?;
        let ca_reference = envelope
            .data
            .and_then(|data| data.transaction_id)
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| request.transaction_id.clone());
        Ok(SignOutcome::Pending { ca_reference })
    }

    /// VNPT knows a transaction by the `transaction_id` we send.
    fn caller_reference(&self, request: &SignRequest) -> Option<String> {
        Some(request.transaction_id.clone())
    }

    async fn poll(
        &self,
        _: Option<&CaSession>,
        ca_reference: &str,
    ) -> Result<SignOutcome, AdapterError> {
        // The path segment is the transaction id we chose; refuse anything that could
        // change the URL's shape.
        if ca_reference.is_empty()
            || !ca_reference
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(AdapterError::InvalidRequest(
                "transaction reference has characters VNPT does not use".into(),
            ));
        }
        let path = format!("/v1/signatures/sign/{ca_reference}/status");
        let envelope: wire::Envelope<wire::StatusData> =
            self.call(&path, &serde_json::json!({})).await?;
        let message = envelope.message.to_lowercase();
        let signatures = envelope.data.and_then(|data| data.signatures);
        if let Some(signatures) = signatures.filter(|list| !list.is_empty()) {
            let signatures = signatures
                .into_iter()
                .map(|entry| {
                    let value = entry.signature_value.ok_or_else(|| {
                        AdapterError::UpstreamProtocol("signature_value missing".into())
                    })?;
                    Ok(RawSignature {
                        document_id: entry.doc_id,
                        signature: decode_base64("signature_value", &value)?,
                    })
                })
                .collect::<Result<Vec<_>, AdapterError>>()?;
            return Ok(SignOutcome::Signed(signatures));
        }
        Ok(
            if ["reject", "deny", "cancel"]
                .iter()
                .any(|w| message.contains(w))
            {
                SignOutcome::Rejected
            } else if message.contains("expire") {
                SignOutcome::Expired
            } else if message.contains("fail") || message.contains("error") {
                SignOutcome::Failed(envelope.message)
            } else {
                SignOutcome::Pending {
                    ca_reference: ca_reference.to_owned(),
                }
            },
        )
    }
}

/// VNPT asks for a unique `transaction_id` on certificate look-ups as well; it is only an
/// echo there, so time and a process-wide counter make it unique enough.
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
    use super::*;

    #[test]
    fn time_stamp_has_vnpt_shape() {
        let at = time::macros::datetime!(2022-03-16 06:30:00 UTC);
        assert_eq!(vnpt_time_stamp(at), "20220316063000Z");
    }

    #[test]
    fn error_table_maps_to_faults() {
        assert!(matches!(
            status_error(401, String::new()),
            AdapterError::AuthenticationFailed
        ));
        assert!(matches!(
            status_error(403, "locked".into()),
            AdapterError::CertificateUnusable(_)
        ));
        assert!(status_error(500, String::new()).is_retryable());
        assert!(!status_error(400, String::new()).is_retryable());
    }

    #[test]
    fn chain_data_accepts_object_and_array() {
        let object: wire::CertificateEntry = serde_json::from_value(serde_json::json!({
            "serial_number": "01", "cert_data": "AQ==",
            "chain_data": {"ca_cert": "Ag==", "root_cert": null}
        }))
        .unwrap();
        let certificate = object.into_certificate().unwrap();
        assert_eq!(certificate.chain_der, vec![vec![2]]);
        let array: wire::CertificateEntry = serde_json::from_value(serde_json::json!({
            "serial_number": "01", "cert_data": "AQ==", "chain_data": ["Ag==", "Aw=="],
            "cert_status": "Tạm dừng"
        }))
        .unwrap();
        let certificate = array.into_certificate().unwrap();
        assert_eq!(certificate.chain_der, vec![vec![2], vec![3]]);
        assert!(!certificate.active);
    }
}
