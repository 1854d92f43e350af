//! [`AdapterFactory`]: one kind of adapter, as the gateway's registry sees it, and
//! [`parse_base_url`], the base-URL check every kind makes.

use std::sync::Arc;

use kyso_adapter_core::{AdapterDescriptor, CaAdapter, Capabilities, SettingsError};

use crate::CaHttp;

/// How the gateway builds one kind of adapter from a provider's configuration.
pub trait AdapterFactory {
    /// The `kind` string in configuration (`vnpt-smartca`, `qd769`, `neac`, ...).
    const KIND: &'static str;
    /// The adapter's own settings (the provider entry's remaining fields; serde
    /// `deny_unknown_fields`).
    type Settings: serde::de::DeserializeOwned;
    /// What the CA supports unless configuration overrides it.
    fn default_capabilities() -> Capabilities;
    /// The adapter; validates its settings (base_url is a URL, credentials present, ...) and
    /// names the bad field in the error.
    fn build(
        descriptor: AdapterDescriptor,
        settings: Self::Settings,
        http: CaHttp,
    ) -> Result<Arc<dyn CaAdapter>, SettingsError>;
}

/// Checks a configured base URL and returns it without a trailing `/`, ready for paths to be
/// appended.
///
/// The URL must be absolute `http` or `https` with a host, and carry no user name or password
/// (credentials have their own settings), no query and no fragment. The error names `field`
/// and never repeats the value, which could hold a secret.
pub fn parse_base_url(field: &str, value: &str) -> Result<String, SettingsError> {
    let trimmed = value.trim().trim_end_matches('/');
    let refuse = |message: &str| Err(SettingsError::new(field, message));
    let url = match reqwest::Url::parse(trimmed) {
        Ok(url) => url,
        Err(error) => return refuse(&format!("not an absolute URL ({error})")),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return refuse("must be an http or https URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return refuse("must name a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("must not carry a user name or password");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return refuse("must not have a query or fragment");
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_loses_its_trailing_slashes() {
        assert_eq!(
            parse_base_url("base_url", "https://gwsca.vnpt.vn/sca/sp769/").unwrap(),
            "https://gwsca.vnpt.vn/sca/sp769"
        );
        assert_eq!(
            parse_base_url("base_url", "http://127.0.0.1:8089").unwrap(),
            "http://127.0.0.1:8089"
        );
    }

    #[test]
    fn a_bad_base_url_is_refused_naming_the_field_not_the_value() {
        for value in [
            "",
            "gwsca.vnpt.vn/sca",
            "ftp://ca.example/x",
            "https://user:hunter2@ca.example/x",
            "https://ca.example/x?a=b",
            "https://ca.example/x#f",
            "file:///etc/passwd",
        ] {
            let error = parse_base_url("auth_base_url", value).unwrap_err();
            assert_eq!(error.field, "auth_base_url", "{value}");
            assert!(!error.message.contains("hunter2"), "{error}");
        }
    }
}
