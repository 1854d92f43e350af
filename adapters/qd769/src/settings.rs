//! The configuration of one provider of either kind: [`Qd769Settings`] for a CA spoken to
//! directly, [`NeacSettings`] for a CA reached through the NEAC eSign gateway, and the rendering
//! options the public 769 renderings disagree on ([`HashEncoding`], [`FileOptionsLayout`],
//! [`ChainDataShape`]).

use kyso_adapter_core::SettingsError;
use secrecy::SecretString;
use serde::Deserialize;

/// Default path of the certificate look-up of a direct 769 CA (Laverca's rendering).
pub const DEFAULT_GET_CERTIFICATE_PATH: &str = "/get_certificate";
/// Default path of the signing request of a direct 769 CA (Laverca's rendering).
pub const DEFAULT_SIGN_PATH: &str = "/sign";
/// Default path of the transaction status of a direct 769 CA: the reference shows none for the
/// generic protocol, so this mirrors VNPT's shape (`/sign/{tranId}/status`) under the base URL.
/// `{transaction_id}` is replaced by the transaction id.
pub const DEFAULT_STATUS_PATH: &str = "/sign/{transaction_id}/status";

/// NEAC's certificate look-up (seen in client code).
pub const NEAC_GET_CERTIFICATE_PATH: &str = "/sign_v2/get_certificate";
/// NEAC's signing request (seen in client code).
pub const NEAC_SIGN_PATH: &str = "/sign_v2/sign";
/// NEAC's transaction status: not public; the same shape as [`DEFAULT_STATUS_PATH`] under
/// `/sign_v2`.
pub const NEAC_STATUS_PATH: &str = "/sign_v2/sign/{transaction_id}/status";

/// The placeholder a status path may contain; replaced by the transaction id.
pub const TRANSACTION_ID_PLACEHOLDER: &str = "{transaction_id}";

/// How a digest is written in `data_to_be_signed`.
///
/// QĐ 769's field table says "hex for hash" and VNPT follows it, but at least one CA behind
/// NEAC (FPT-CA) was seen receiving base64: it is a per-CA setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum HashEncoding {
    /// Lowercase hexadecimal (the letter of the specification).
    #[default]
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// Where a `sign_files[]` entry carries `file_type` and `sign_type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FileOptionsLayout {
    /// Directly in the entry, as VNPT and the NEAC client code send them.
    #[default]
    Flat,
    /// In a nested `file_options {file_type, sign_type}` object, as Laverca sends them.
    Nested,
}

/// Which `chain_data` shapes a CA's certificates may come with.
///
/// Renderings differ: VNPT sends an object `{ca_cert, root_cert}`, Laverca documents an array of
/// base64 certificates. Both carry the same information, so the default accepts either; naming
/// one makes the adapter refuse the other as a protocol error, which catches a CA changing its
/// rendering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ChainDataShape {
    /// Either shape.
    #[default]
    Any,
    /// Only an array of base64 certificates, nearest issuer first.
    Array,
    /// Only the object `{ca_cert, root_cert}`.
    Object,
}

/// The settings of one provider whose CA speaks QĐ 769 directly (BKAV-CA, CA2, Vina-CA,
/// Newtel-CA, Safe-CA, ...), as written in the gateway's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Qd769Settings {
    /// The CA's 769 base URL; the paths below are appended to it.
    pub base_url: String,
    /// The service-provider id the CA issued to this gateway.
    pub sp_id: String,
    /// The service-provider password the CA issued to this gateway.
    pub sp_password: SecretString,
    /// How digests are written in `data_to_be_signed` (default `hex`).
    #[serde(default)]
    pub hash_encoding: HashEncoding,
    /// Where `file_type`/`sign_type` go in a `sign_files[]` entry (default `flat`).
    #[serde(default)]
    pub file_options: FileOptionsLayout,
    /// Which `chain_data` shapes are accepted (default `any`).
    #[serde(default)]
    pub chain_data: ChainDataShape,
    /// Path of the certificate look-up (default [`DEFAULT_GET_CERTIFICATE_PATH`]).
    #[serde(default = "default_get_certificate_path")]
    pub get_certificate_path: String,
    /// Path of the signing request (default [`DEFAULT_SIGN_PATH`]).
    #[serde(default = "default_sign_path")]
    pub sign_path: String,
    /// Path of the transaction status (default [`DEFAULT_STATUS_PATH`]). A
    /// `{transaction_id}` in it is replaced by the transaction id, which is also sent in the
    /// body. `null` for a CA that only signs synchronously: polling is then unsupported.
    #[serde(default = "default_status_path")]
    pub status_path: Option<String>,
}

impl Qd769Settings {
    /// Settings with the default rendering and paths (hex digests, flat file options, any chain
    /// shape).
    pub fn new(
        base_url: impl Into<String>,
        sp_id: impl Into<String>,
        sp_password: SecretString,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            sp_id: sp_id.into(),
            sp_password,
            hash_encoding: HashEncoding::default(),
            file_options: FileOptionsLayout::default(),
            chain_data: ChainDataShape::default(),
            get_certificate_path: default_get_certificate_path(),
            sign_path: default_sign_path(),
            status_path: default_status_path(),
        }
    }
}

/// How the gateway authenticates to the NEAC gateway: NEAC issues each information system
/// either an `sp_password` or a `token`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum NeacCredential {
    /// Sent as `sp_password` in every body, beside `sp_id`.
    Password(SecretString),
    /// Sent as `token` in every body, beside `sp_id` (how NEAC expects a token is not public;
    /// the body field follows the 769 habit of carrying credentials in the body).
    Token(SecretString),
}

/// The settings of one provider reached through the NEAC eSign gateway: one configured provider
/// per `ca_name`.
///
/// In configuration, the credential is written as exactly one of `sp_password` or `token`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawNeacSettings")]
pub struct NeacSettings {
    /// The NEAC base URL (`https://esign.neac.gov.vn`); `/sign_v2/...` is appended.
    pub base_url: String,
    /// The service-provider id NEAC issued to this gateway.
    pub sp_id: String,
    /// The password or token NEAC issued to this gateway.
    pub credential: NeacCredential,
    /// The CA behind NEAC that this provider reaches (`FPT-CA`, ...), sent as `ca_name`.
    pub ca_name: String,
    /// How digests are written for this CA (default `hex`; FPT-CA was seen taking `base64`).
    pub hash_encoding: HashEncoding,
    /// Where `file_type`/`sign_type` go (default `flat`, as seen in NEAC client code).
    pub file_options: FileOptionsLayout,
    /// Path of the transaction status (default [`NEAC_STATUS_PATH`]); `None` when the CA
    /// behind NEAC only signs synchronously.
    pub status_path: Option<String>,
}

impl NeacSettings {
    /// Settings with the default rendering and status path.
    pub fn new(
        base_url: impl Into<String>,
        sp_id: impl Into<String>,
        credential: NeacCredential,
        ca_name: impl Into<String>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            sp_id: sp_id.into(),
            credential,
            ca_name: ca_name.into(),
            hash_encoding: HashEncoding::default(),
            file_options: FileOptionsLayout::default(),
            status_path: Some(NEAC_STATUS_PATH.to_owned()),
        }
    }
}

/// [`NeacSettings`] as written, before the credential is checked to be exactly one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeacSettings {
    base_url: String,
    sp_id: String,
    #[serde(default)]
    sp_password: Option<SecretString>,
    #[serde(default)]
    token: Option<SecretString>,
    ca_name: String,
    #[serde(default)]
    hash_encoding: HashEncoding,
    #[serde(default)]
    file_options: FileOptionsLayout,
    #[serde(default = "neac_status_path")]
    status_path: Option<String>,
}

impl TryFrom<RawNeacSettings> for NeacSettings {
    type Error = SettingsError;

    fn try_from(raw: RawNeacSettings) -> Result<Self, Self::Error> {
        let credential = match (raw.sp_password, raw.token) {
            (Some(password), None) => NeacCredential::Password(password),
            (None, Some(token)) => NeacCredential::Token(token),
            (None, None) => {
                return Err(SettingsError::new(
                    "sp_password",
                    "set exactly one of sp_password and token",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(SettingsError::new(
                    "token",
                    "set exactly one of sp_password and token, not both",
                ));
            }
        };
        if raw.ca_name.trim().is_empty() {
            return Err(SettingsError::new("ca_name", "must not be empty"));
        }
        Ok(Self {
            base_url: raw.base_url,
            sp_id: raw.sp_id,
            credential,
            ca_name: raw.ca_name,
            hash_encoding: raw.hash_encoding,
            file_options: raw.file_options,
            status_path: raw.status_path,
        })
    }
}

fn default_get_certificate_path() -> String {
    DEFAULT_GET_CERTIFICATE_PATH.to_owned()
}

fn default_sign_path() -> String {
    DEFAULT_SIGN_PATH.to_owned()
}

fn default_status_path() -> Option<String> {
    Some(DEFAULT_STATUS_PATH.to_owned())
}

fn neac_status_path() -> Option<String> {
    Some(NEAC_STATUS_PATH.to_owned())
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;
    use serde_json::json;

    use super::*;

    #[test]
    fn qd769_settings_default_to_the_letter_of_the_spec() {
        let settings: Qd769Settings = serde_json::from_value(json!({
            "base_url": "https://ca.example/769", "sp_id": "sp", "sp_password": "pw"
        }))
        .unwrap();
        assert_eq!(settings.hash_encoding, HashEncoding::Hex);
        assert_eq!(settings.file_options, FileOptionsLayout::Flat);
        assert_eq!(settings.chain_data, ChainDataShape::Any);
        assert_eq!(settings.get_certificate_path, "/get_certificate");
        assert_eq!(settings.sign_path, "/sign");
        assert_eq!(
            settings.status_path.as_deref(),
            Some("/sign/{transaction_id}/status")
        );
    }

    #[test]
    fn qd769_settings_take_every_option_and_refuse_unknown_fields() {
        let settings: Qd769Settings = serde_json::from_value(json!({
            "base_url": "https://ca.example", "sp_id": "sp", "sp_password": "pw",
            "hash_encoding": "base64", "file_options": "nested", "chain_data": "object",
            "get_certificate_path": "/api/cert", "sign_path": "/api/sign", "status_path": null
        }))
        .unwrap();
        assert_eq!(settings.hash_encoding, HashEncoding::Base64);
        assert_eq!(settings.file_options, FileOptionsLayout::Nested);
        assert_eq!(settings.chain_data, ChainDataShape::Object);
        assert_eq!(settings.status_path, None);
        let unknown = serde_json::from_value::<Qd769Settings>(json!({
            "base_url": "https://ca.example", "sp_id": "sp", "sp_password": "pw", "ca_name": "X"
        }));
        assert!(unknown.is_err());
    }

    #[test]
    fn neac_settings_take_a_password_or_a_token_but_not_both() {
        let password: NeacSettings = serde_json::from_value(json!({
            "base_url": "https://esign.neac.gov.vn", "sp_id": "sp", "sp_password": "pw",
            "ca_name": "FPT-CA", "hash_encoding": "base64"
        }))
        .unwrap();
        assert!(
            matches!(&password.credential, NeacCredential::Password(p) if p.expose_secret() == "pw")
        );
        assert_eq!(password.hash_encoding, HashEncoding::Base64);
        assert_eq!(
            password.status_path.as_deref(),
            Some("/sign_v2/sign/{transaction_id}/status")
        );
        let token: NeacSettings = serde_json::from_value(json!({
            "base_url": "https://esign.neac.gov.vn", "sp_id": "sp", "token": "tk",
            "ca_name": "BKAV-CA"
        }))
        .unwrap();
        assert!(matches!(&token.credential, NeacCredential::Token(t) if t.expose_secret() == "tk"));
        for body in [
            json!({"base_url": "u", "sp_id": "sp", "ca_name": "FPT-CA"}),
            json!({"base_url": "u", "sp_id": "sp", "sp_password": "a", "token": "b",
                   "ca_name": "FPT-CA"}),
            json!({"base_url": "u", "sp_id": "sp", "sp_password": "a", "ca_name": " "}),
            json!({"base_url": "u", "sp_id": "sp", "sp_password": "a", "ca_name": "FPT-CA",
                   "sign_path": "/x"}),
        ] {
            assert!(serde_json::from_value::<NeacSettings>(body).is_err());
        }
    }

    /// The gateway reads a provider as a struct with the adapter's settings flattened in,
    /// tagged by `kind`; both settings types must work that way.
    #[test]
    fn settings_deserialise_flattened_under_a_kind_tag() {
        #[derive(Debug, Deserialize)]
        #[serde(tag = "kind")]
        enum Adapter {
            #[serde(rename = "qd769")]
            Qd769(#[allow(dead_code)] Qd769Settings),
            #[serde(rename = "neac")]
            Neac(NeacSettings),
        }
        #[derive(Debug, Deserialize)]
        struct Provider {
            #[allow(dead_code)]
            id: String,
            #[serde(flatten)]
            adapter: Adapter,
        }
        let provider: Provider = serde_json::from_value(json!({
            "id": "neac-fpt", "kind": "neac", "base_url": "https://esign.neac.gov.vn",
            "sp_id": "sp", "token": "tk", "ca_name": "FPT-CA"
        }))
        .unwrap();
        assert!(matches!(provider.adapter, Adapter::Neac(ref s) if s.ca_name == "FPT-CA"));
        let provider: Provider = serde_json::from_value(json!({
            "id": "bkav", "kind": "qd769", "base_url": "https://bkav.example",
            "sp_id": "sp", "sp_password": "pw", "hash_encoding": "base64"
        }))
        .unwrap();
        assert!(matches!(provider.adapter, Adapter::Qd769(_)));
    }
}
