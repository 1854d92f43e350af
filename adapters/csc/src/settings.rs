//! The CSC-specific part of a provider's configuration: [`CscSettings`] and the mapping of a
//! citizen's CCCD number to the service's `userID` ([`UserIdTemplate`]).

use std::fmt;
use std::str::FromStr;

use secrecy::SecretString;
use serde::Deserialize;

/// The CSC-specific part of a provider's configuration.
///
/// ```yaml
/// base_url: https://rssp.example.vn/csc/v2
/// client_id: kyso-gateway
/// client_secret: ${CSC_CLIENT_SECRET}
/// user_id_template: "CCCD:{cccd}"   # optional; default "{cccd}"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CscSettings {
    /// The service's CSC v2 root, up to and including `/csc/v2`
    /// (`https://rssp.example.vn/csc/v2`); method paths such as `credentials/list` are
    /// appended to it.
    pub base_url: String,
    /// The client id the service issued to this gateway: the HTTP Basic user name of
    /// `auth/login`.
    pub client_id: String,
    /// The client secret that goes with `client_id`: the HTTP Basic password of `auth/login`.
    /// Never logged.
    pub client_secret: SecretString,
    /// How a citizen's CCCD number becomes the CSC `userID` of `credentials/list`.
    #[serde(default)]
    pub user_id_template: UserIdTemplate,
}

/// The placeholder a [`UserIdTemplate`] must contain exactly once.
pub const CCCD_PLACEHOLDER: &str = "{cccd}";

/// How a citizen's CCCD number becomes the service's `userID`: a text containing
/// [`CCCD_PLACEHOLDER`] exactly once, which is replaced by the 12-digit number.
///
/// `{cccd}` (the default) sends the bare number; `CCCD:{cccd}` or `VN-CCCD-{cccd}` suit
/// services that prefix the identity document type. CSC leaves `userID`'s format to each
/// service, so this is configuration, not code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct UserIdTemplate(String);

/// A [`UserIdTemplate`] that does not contain [`CCCD_PLACEHOLDER`] exactly once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("user_id_template must contain {CCCD_PLACEHOLDER} exactly once, not {0:?}")]
pub struct InvalidUserIdTemplate(String);

impl UserIdTemplate {
    /// A template, checked.
    ///
    /// # Errors
    /// [`InvalidUserIdTemplate`] unless `template` holds `{cccd}` exactly once.
    pub fn new(template: impl Into<String>) -> Result<Self, InvalidUserIdTemplate> {
        let template = template.into();
        if template.matches(CCCD_PLACEHOLDER).count() == 1 {
            Ok(Self(template))
        } else {
            Err(InvalidUserIdTemplate(template))
        }
    }

    /// The `userID` of the citizen with this CCCD number.
    pub fn user_id(&self, cccd: &str) -> String {
        self.0.replacen(CCCD_PLACEHOLDER, cccd, 1)
    }

    /// The template text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for UserIdTemplate {
    fn default() -> Self {
        Self(CCCD_PLACEHOLDER.to_owned())
    }
}

impl TryFrom<String> for UserIdTemplate {
    type Error = InvalidUserIdTemplate;

    fn try_from(template: String) -> Result<Self, Self::Error> {
        Self::new(template)
    }
}

impl FromStr for UserIdTemplate {
    type Err = InvalidUserIdTemplate;

    fn from_str(template: &str) -> Result<Self, Self::Err> {
        Self::new(template)
    }
}

impl fmt::Display for UserIdTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn template_substitutes_the_cccd() {
        assert_eq!(
            UserIdTemplate::default().user_id("001099000001"),
            "001099000001"
        );
        let prefixed: UserIdTemplate = "CCCD:{cccd}".parse().unwrap();
        assert_eq!(prefixed.user_id("001099000001"), "CCCD:001099000001");
    }

    #[test]
    fn template_is_refused_without_exactly_one_placeholder() {
        assert!(UserIdTemplate::new("CCCD").is_err());
        assert!(UserIdTemplate::new("{cccd}-{cccd}").is_err());
        assert!(UserIdTemplate::new("{CCCD}").is_err());
    }

    #[test]
    fn settings_deserialize_with_default_template_and_refuse_unknown_fields() {
        let settings: CscSettings = serde_json::from_value(serde_json::json!({
            "base_url": "https://rssp.example/csc/v2",
            "client_id": "gw",
            "client_secret": "s3cret",
        }))
        .unwrap();
        assert_eq!(settings.user_id_template, UserIdTemplate::default());
        assert_eq!(settings.client_secret.expose_secret(), "s3cret");
        assert!(
            !format!("{settings:?}").contains("s3cret"),
            "the secret is redacted"
        );

        let unknown = serde_json::from_value::<CscSettings>(serde_json::json!({
            "base_url": "https://rssp.example/csc/v2",
            "client_id": "gw",
            "client_secret": "s3cret",
            "password": "x",
        }));
        assert!(unknown.is_err());

        let bad_template = serde_json::from_value::<CscSettings>(serde_json::json!({
            "base_url": "https://rssp.example/csc/v2",
            "client_id": "gw",
            "client_secret": "s3cret",
            "user_id_template": "CCCD:",
        }));
        assert!(bad_template.is_err());
    }
}
