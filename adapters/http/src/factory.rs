//! [`AdapterFactory`]: one kind of adapter, as the gateway's registry sees it, and
//! [`parse_base_url`] and [`BaseUrl`], the base-URL check every kind makes and the URL it
//! builds each call's from.

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

/// A checked base URL (see [`parse_base_url`]), parsed once: each call's URL is made from it
/// with only its path set, rather than a whole URL formatted and parsed again on every call
/// (that was 4 % of the gateway's CPU per certificate lookup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(reqwest::Url);

impl BaseUrl {
    /// Checks `value` as [`parse_base_url`] does.
    ///
    /// # Errors
    /// As [`parse_base_url`], naming `field`.
    pub fn new(field: &str, value: &str) -> Result<Self, SettingsError> {
        let checked = parse_base_url(field, value)?;
        reqwest::Url::parse(&checked)
            .map(Self)
            .map_err(|error| SettingsError::new(field, format!("not an absolute URL ({error})")))
    }

    /// The URL of `path` (starting with `/`) under the base URL's own path. Characters that
    /// cannot stand in a path (`?`, `#`, spaces, ...) are percent-encoded, so a value put in
    /// the path (a CA's reference) cannot add a query or leave the path.
    pub fn join(&self, path: &str) -> reqwest::Url {
        let mut url = self.0.clone();
        let joined = format!("{}{path}", self.0.path().trim_end_matches('/'));
        url.set_path(&joined);
        url
    }
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

    #[test]
    fn a_base_url_joins_paths_under_its_own_and_keeps_them_paths() {
        let root = BaseUrl::new("base_url", "https://ca.example:8443/").unwrap();
        assert_eq!(
            root.join("/v1/credentials").as_str(),
            "https://ca.example:8443/v1/credentials"
        );
        let nested = BaseUrl::new("base_url", "http://10.0.0.5/smartca/api/").unwrap();
        assert_eq!(
            nested.join("/v1/signatures/sign/ref-1/status").as_str(),
            "http://10.0.0.5/smartca/api/v1/signatures/sign/ref-1/status"
        );
        // What is formatted into a path stays in the path.
        let hostile = nested.join("/v1/signatures/sign/a?admin=1#x/status");
        assert_eq!(hostile.query(), None);
        assert_eq!(hostile.fragment(), None);
        assert!(
            hostile
                .path()
                .starts_with("/smartca/api/v1/signatures/sign/a%3F")
        );
        assert!(BaseUrl::new("base_url", "ftp://ca.example").is_err());
    }
}
