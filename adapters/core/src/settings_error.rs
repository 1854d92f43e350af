//! [`SettingsError`]: a provider's configuration that an adapter cannot work with, naming the
//! field, so that the gateway can stop start-up with `providers[<id>]: <field>: <message>`.

/// A setting of one provider that is missing, malformed or unusable.
///
/// `message` says what is wrong with the value, never the value itself: settings include
/// credentials, which must not reach logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingsError {
    /// The setting at fault, as written in configuration (`base_url`, `sp_password`, ...).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl SettingsError {
    /// The setting `field` is unusable because of `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_field_then_message() {
        let error = SettingsError::new("base_url", "not a URL");
        assert_eq!(error.to_string(), "base_url: not a URL");
        assert_eq!(error.field, "base_url");
    }
}
