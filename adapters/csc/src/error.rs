//! [`CscError`], what one call to a CSC method can end in, and its translation to
//! [`AdapterError`] (the table is on [`refusal`]).

use std::fmt;

use kyso_adapter_core::{AdapterError, SignOutcome};

/// The CSC methods the adapter calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Info,
    Login,
    List,
    CredentialInfo,
    Authorize,
    AuthorizeCheck,
    SignHash,
}

impl Method {
    /// The path under the CSC root.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Login => "auth/login",
            Self::List => "credentials/list",
            Self::CredentialInfo => "credentials/info",
            Self::Authorize => "credentials/authorize",
            Self::AuthorizeCheck => "credentials/authorizeCheck",
            Self::SignHash => "signatures/signHash",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())
    }
}

/// How one call to a CSC method failed. Private to the crate; becomes an [`AdapterError`] at
/// the boundary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CscError {
    /// Already classified (transport failure, unreadable answer, ...).
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// The service answered a non-2xx status, with CSC's error object if it sent one.
    #[error("CSC {method} answered HTTP {status} {code:?}: {description}")]
    Refused {
        method: Method,
        status: u16,
        /// CSC's `error`, when the body was an error object.
        code: Option<String>,
        /// CSC's `error_description` (empty when absent).
        description: String,
    },
}

impl CscError {
    /// The transaction outcome a refusal of `credentials/authorize` or
    /// `credentials/authorizeCheck` stands for: `access_denied` is the citizen's refusal,
    /// `expired_token` outside a 401 is a consent request that lapsed (RFC 8628's meaning).
    pub(crate) fn consent_outcome(&self) -> Option<SignOutcome> {
        let Self::Refused {
            method: Method::Authorize | Method::AuthorizeCheck,
            status,
            code: Some(code),
            ..
        } = self
        else {
            return None;
        };
        match code.as_str() {
            _ if *status == 401 => None,
            "access_denied" => Some(SignOutcome::Rejected),
            "expired_token" => Some(SignOutcome::Expired),
            _ => None,
        }
    }

    /// Whether the service says it does not know the `credentials/authorizeCheck` handle.
    pub(crate) fn is_unknown_handle(&self) -> bool {
        matches!(
            self,
            Self::Refused {
                method: Method::AuthorizeCheck,
                status: 400,
                code: Some(code),
                description,
            } if code == "invalid_request" && description.contains("handle")
        )
    }

    /// Whether `credentials/list` refused the `userID` itself (some services answer so for
    /// a user they do not know, instead of an empty list).
    pub(crate) fn is_unknown_user(&self) -> bool {
        matches!(
            self,
            Self::Refused {
                method: Method::List,
                status: 400,
                code: Some(code),
                description,
            } if code == "invalid_request" && description.contains("userID")
        )
    }
}

impl From<CscError> for AdapterError {
    fn from(error: CscError) -> Self {
        match error {
            CscError::Adapter(error) => error,
            CscError::Refused {
                method,
                status,
                code,
                description,
            } => refusal(method, status, code.as_deref(), description),
        }
    }
}

/// Maps a refusal of `method` to [`AdapterError`].
///
/// | answer | error |
/// |---|---|
/// | 401 at `auth/login`, or `authentication_error`/`invalid_client`/`unauthorized_client`/`access_denied`/`invalid_grant`/403 there | `AuthenticationFailed` |
/// | 401 elsewhere (the bearer token refused), or `invalid_token`/`expired_token` | `SessionExpired` |
/// | `unauthorized_client` elsewhere | `AuthenticationFailed` |
/// | 429, 502-504, or `temporarily_unavailable` | `Unavailable` (retryable) |
/// | 501 | `Unsupported` |
/// | other 5xx, or `server_error` | `UpstreamStatus` with a status ≥ 500 (retryable) |
/// | `access_denied`, `invalid_authentication_data`, `invalid_otp`, `authentication_error` | `CertificateUnusable` |
/// | `invalid_request`, `invalid_hash`, `invalid_scope`, other 400 | `InvalidRequest` |
/// | anything else | `UpstreamStatus` |
///
/// The callers first take out what means a transaction outcome or an empty answer
/// ([`CscError::consent_outcome`], [`CscError::is_unknown_handle`],
/// [`CscError::is_unknown_user`]).
pub(crate) fn refusal(
    method: Method,
    status: u16,
    code: Option<&str>,
    description: String,
) -> AdapterError {
    let message = match code {
        Some(code) if description.is_empty() => format!("{method}: {code}"),
        Some(code) => format!("{method}: {code}: {description}"),
        None => format!("{method}: HTTP {status}"),
    };
    if method == Method::Login {
        let refused_client = matches!(
            code,
            Some(
                "authentication_error"
                    | "invalid_client"
                    | "unauthorized_client"
                    | "access_denied"
                    | "invalid_grant"
            )
        );
        if status == 401 || status == 403 || refused_client {
            return AdapterError::AuthenticationFailed;
        }
    } else if status == 401 || matches!(code, Some("invalid_token" | "expired_token")) {
        return AdapterError::SessionExpired;
    }
    match (status, code) {
        (_, Some("unauthorized_client")) => AdapterError::AuthenticationFailed,
        (429 | 502..=504, _) | (_, Some("temporarily_unavailable")) => {
            AdapterError::Unavailable(message)
        }
        (501, _) => AdapterError::Unsupported(method.path()),
        (500..=599, _) => AdapterError::UpstreamStatus { status, message },
        (_, Some("server_error")) => AdapterError::UpstreamStatus {
            status: 500,
            message,
        },
        (
            _,
            Some(
                "access_denied"
                | "invalid_authentication_data"
                | "invalid_otp"
                | "authentication_error",
            ),
        ) => AdapterError::CertificateUnusable(message),
        (_, Some("invalid_request" | "invalid_hash" | "invalid_scope")) | (400, _) => {
            AdapterError::InvalidRequest(message)
        }
        _ => AdapterError::UpstreamStatus { status, message },
    }
}

#[cfg(test)]
mod tests {
    use kyso_adapter_core::Fault;

    use super::*;

    fn refused(method: Method, status: u16, code: Option<&str>, description: &str) -> CscError {
        CscError::Refused {
            method,
            status,
            code: code.map(str::to_owned),
            description: description.to_owned(),
        }
    }

    fn mapped(method: Method, status: u16, code: Option<&str>) -> AdapterError {
        refused(method, status, code, "").into()
    }

    #[test]
    fn login_refusals_are_bad_client_credentials() {
        for (status, code) in [
            (401, Some("authentication_error")),
            (401, None),
            (400, Some("invalid_client")),
            (400, Some("unauthorized_client")),
            (403, None),
        ] {
            assert!(
                matches!(
                    mapped(Method::Login, status, code),
                    AdapterError::AuthenticationFailed
                ),
                "{status} {code:?}"
            );
        }
    }

    #[test]
    fn refused_bearer_token_is_an_expired_session() {
        for method in [Method::List, Method::CredentialInfo, Method::SignHash] {
            for (status, code) in [
                (401, Some("expired_token")),
                (401, Some("invalid_token")),
                (401, None),
                (400, Some("invalid_token")),
            ] {
                assert!(
                    matches!(mapped(method, status, code), AdapterError::SessionExpired),
                    "{method} {status} {code:?}"
                );
            }
        }
    }

    #[test]
    fn service_failures_are_retryable_ca_faults() {
        for (status, code) in [
            (503, Some("temporarily_unavailable")),
            (503, None),
            (502, None),
            (500, Some("server_error")),
            (500, None),
            (429, Some("temporarily_unavailable")),
            (400, Some("server_error")),
        ] {
            let error = mapped(Method::List, status, code);
            assert_eq!(error.fault(), Fault::Ca, "{status} {code:?}: {error}");
            assert!(error.is_retryable(), "{status} {code:?}: {error}");
        }
        assert!(matches!(
            mapped(Method::SignHash, 501, None),
            AdapterError::Unsupported("signatures/signHash")
        ));
    }

    #[test]
    fn request_errors_are_caller_faults() {
        for code in ["invalid_request", "invalid_hash", "invalid_scope"] {
            let error = mapped(Method::SignHash, 400, Some(code));
            assert!(matches!(error, AdapterError::InvalidRequest(_)), "{error}");
            assert!(!error.is_retryable());
        }
        assert!(matches!(
            mapped(Method::SignHash, 403, Some("invalid_hash")),
            AdapterError::InvalidRequest(_)
        ));
        assert!(matches!(
            mapped(Method::Authorize, 400, Some("invalid_authentication_data")),
            AdapterError::CertificateUnusable(_)
        ));
        assert!(matches!(
            mapped(Method::List, 404, None),
            AdapterError::UpstreamStatus { status: 404, .. }
        ));
    }

    #[test]
    fn consent_refusals_are_transaction_outcomes() {
        let rejected = refused(Method::AuthorizeCheck, 400, Some("access_denied"), "");
        assert_eq!(rejected.consent_outcome(), Some(SignOutcome::Rejected));
        let lapsed = refused(Method::Authorize, 400, Some("expired_token"), "");
        assert_eq!(lapsed.consent_outcome(), Some(SignOutcome::Expired));
        // A 401 is the access token, whatever the code says.
        let token = refused(Method::AuthorizeCheck, 401, Some("expired_token"), "");
        assert_eq!(token.consent_outcome(), None);
        assert!(matches!(
            AdapterError::from(token),
            AdapterError::SessionExpired
        ));
        // Elsewhere the same codes are not outcomes.
        let elsewhere = refused(Method::SignHash, 400, Some("access_denied"), "");
        assert_eq!(elsewhere.consent_outcome(), None);
    }

    #[test]
    fn unknown_handle_and_unknown_user_are_recognised() {
        let handle = refused(
            Method::AuthorizeCheck,
            400,
            Some("invalid_request"),
            "Invalid parameter handle",
        );
        assert!(handle.is_unknown_handle());
        let credential = refused(
            Method::AuthorizeCheck,
            400,
            Some("invalid_request"),
            "Invalid parameter credentialID",
        );
        assert!(!credential.is_unknown_handle());
        let user = refused(
            Method::List,
            400,
            Some("invalid_request"),
            "Invalid parameter userID",
        );
        assert!(user.is_unknown_user());
        assert!(!handle.is_unknown_user());
    }

    #[test]
    fn messages_name_the_method_and_code() {
        let error: AdapterError = refused(
            Method::SignHash,
            400,
            Some("invalid_request"),
            "Invalid parameter SAD",
        )
        .into();
        assert_eq!(
            error.to_string(),
            "the CA refused the request as malformed: signatures/signHash: invalid_request: \
             Invalid parameter SAD"
        );
    }
}
