//! Portal authentication: OAuth 2.0 client credentials (RFC 6749 §4.4) answered with ES256
//! access tokens this gateway signs and checks (the HTTP extractor is `crate::http::auth`).
//!
//! Validation follows RFC 8725: the algorithm is pinned to ES256 (so `none`, HMAC and RSA
//! tokens are refused before any key is used), `typ` must be `at+jwt` (RFC 9068), and `exp`,
//! `iss` and `aud` are always checked. Client secrets are stored as SHA-256 hashes and compared
//! in constant time; they are machine-generated 256-bit values, not passwords.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::audit::{Auditor, Entry, Event};
use crate::config::{AuthSettings, ConfigError};
use crate::domain::error::{ErrorCode, ServiceError};

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Looking up citizens' certificates.
    CertificatesRead,
    /// Creating and cancelling signing transactions.
    SignaturesWrite,
    /// Reading signing transactions.
    SignaturesRead,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Self; 3] = [
        Self::CertificatesRead,
        Self::SignaturesWrite,
        Self::SignaturesRead,
    ];

    /// The scope's name in tokens and requests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CertificatesRead => "certificates:read",
            Self::SignaturesWrite => "signatures:write",
            Self::SignaturesRead => "signatures:read",
        }
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| format!("unknown scope {s:?}"))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn join_scopes(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|scope| scope.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The SHA-256 of a client secret, as stored in configuration.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A portal allowed to call the API.
struct Client {
    secret_sha256: [u8; 32],
    scopes: Vec<Scope>,
}

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    iat: i64,
    exp: i64,
    jti: String,
    scope: String,
}

/// A token the gateway issued.
#[derive(Debug)]
pub struct IssuedToken {
    /// The JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The scopes granted, space-separated.
    pub scope: String,
}

/// Issues and checks access tokens; knows the portals' credentials.
pub struct Authority {
    clients: HashMap<String, Client>,
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    token_ttl: Duration,
}

/// The JOSE `typ` of access tokens (RFC 9068).
const ACCESS_TOKEN_TYPE: &str = "at+jwt";

impl Authority {
    /// Builds the authority from configuration, reading the signing key.
    pub fn from_settings(settings: &AuthSettings) -> Result<Self, ConfigError> {
        let pem = match (&settings.signing_key_pem, &settings.signing_key_pem_file) {
            (Some(pem), None) => pem.expose_secret().to_owned(),
            (None, Some(path)) => std::fs::read_to_string(path).map_err(|error| {
                ConfigError::invalid(
                    "auth.signing_key_pem_file",
                    format!("cannot read {}: {error}", path.display()),
                )
            })?,
            _ => {
                return Err(ConfigError::invalid(
                    "auth",
                    "set exactly one of signing_key_pem and signing_key_pem_file",
                ));
            }
        };
        let key_error = |what: &str| {
            ConfigError::invalid(
                "auth.signing_key",
                format!("{what}: expected a P-256 private key in PKCS#8 PEM"),
            )
        };
        let encoding_key =
            EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|_| key_error("unusable key"))?;
        let public_pem = public_key_pem(&pem).ok_or_else(|| key_error("not a P-256 key"))?;
        let decoding_key = DecodingKey::from_ec_pem(public_pem.as_bytes())
            .map_err(|_| key_error("unusable public key"))?;

        let mut clients = HashMap::new();
        for client in &settings.clients {
            let context = format!("auth.clients[{}]", client.client_id);
            let secret_sha256 = hex::decode(&client.secret_sha256)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(|| {
                    ConfigError::invalid(&context, "secret_sha256 must be 64 hex digits")
                })?;
            let scopes = client
                .scopes
                .iter()
                .map(|scope| scope.parse::<Scope>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| ConfigError::invalid(&context, error))?;
            if clients
                .insert(
                    client.client_id.clone(),
                    Client {
                        secret_sha256,
                        scopes,
                    },
                )
                .is_some()
            {
                return Err(ConfigError::invalid(&context, "client_id appears twice"));
            }
        }

        let mut validation = Validation::new(Algorithm::ES256);
        validation.algorithms = vec![Algorithm::ES256];
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Ok(Self {
            clients,
            encoding_key,
            decoding_key,
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            token_ttl: Duration::from_secs(settings.token_ttl_secs),
        })
    }

    /// Checks a client's secret and issues a token for `requested` scopes (all of the
    /// client's when `None`).
    pub fn issue_token(
        &self,
        client_id: &str,
        client_secret: &str,
        requested: Option<&str>,
    ) -> Result<IssuedToken, ServiceError> {
        let presented = Sha256::digest(client_secret.as_bytes());
        let client = self
            .clients
            .get(client_id)
            .filter(|client| bool::from(client.secret_sha256.ct_eq(presented.as_slice())))
            .ok_or_else(|| {
                ServiceError::new(ErrorCode::InvalidClient, "unknown client or wrong secret")
            })?;
        let scopes = match requested.map(str::trim).filter(|s| !s.is_empty()) {
            None => client.scopes.clone(),
            Some(requested) => {
                let mut granted = Vec::new();
                for name in requested.split_ascii_whitespace() {
                    let scope = name
                        .parse::<Scope>()
                        .ok()
                        .filter(|scope| client.scopes.contains(scope))
                        .ok_or_else(|| {
                            ServiceError::new(
                                ErrorCode::InvalidScope,
                                format!("scope {name:?} is unknown or not allowed to this client"),
                            )
                        })?;
                    if !granted.contains(&scope) {
                        granted.push(scope);
                    }
                }
                granted
            }
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: client_id.to_owned(),
            iat: now,
            exp: now.saturating_add(i64::try_from(self.token_ttl.as_secs()).unwrap_or(i64::MAX)),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            scope: join_scopes(&scopes),
        };
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        let access_token =
            jsonwebtoken::encode(&header, &claims, &self.encoding_key).map_err(|error| {
                tracing::error!(%error, "signing an access token failed");
                ServiceError::new(ErrorCode::InternalError, "could not issue a token")
            })?;
        Ok(IssuedToken {
            access_token,
            expires_in: self.token_ttl.as_secs(),
            scope: claims.scope,
        })
    }

    /// [`Self::issue_token`], recorded in the audit trail first: the grant (with the token's
    /// SHA-256, never the token) or the refusal (naming the client only if it is one of the
    /// configured ones, not whatever a caller claimed). No token leaves without its record.
    pub async fn grant(
        &self,
        auditor: &Auditor,
        client_id: &str,
        client_secret: &str,
        requested: Option<&str>,
    ) -> Result<IssuedToken, ServiceError> {
        let issued = self.issue_token(client_id, client_secret, requested);
        let entry = match &issued {
            Ok(token) => Entry::new(Event::TokenIssued, "issued")
                .actor(client_id)
                .detail("scope", token.scope.as_str())
                .detail("expires_in", token.expires_in)
                .detail(
                    "token_sha256",
                    hex::encode(Sha256::digest(token.access_token.as_bytes())),
                ),
            Err(error) => {
                let refused = Entry::new(Event::TokenRefused, "refused").reason(error.code);
                if self.clients.contains_key(client_id) {
                    refused.actor(client_id)
                } else {
                    refused.detail("client_known", false)
                }
            }
        };
        auditor.record(entry).await?;
        issued
    }

    /// Checks a bearer token and returns who presented it.
    pub fn authenticate(&self, token: &str) -> Result<Principal, ServiceError> {
        let invalid = |why: &str| ServiceError::new(ErrorCode::InvalidToken, why);
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
        if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(invalid("token algorithm or type not accepted"));
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding_key, &self.validation)
            .map_err(|error| {
                use jsonwebtoken::errors::ErrorKind;
                match error.kind() {
                    ErrorKind::ExpiredSignature => invalid("token expired"),
                    ErrorKind::InvalidAudience => invalid("token is for another audience"),
                    ErrorKind::InvalidIssuer => invalid("token from another issuer"),
                    _ => invalid("token not accepted"),
                }
            })?;
        let claims = data.claims;
        // Scopes unknown to this version are ignored rather than refused.
        let scopes = claims
            .scope
            .split_ascii_whitespace()
            .filter_map(|name| name.parse().ok())
            .collect();
        Ok(Principal {
            client_id: claims.sub,
            scopes,
        })
    }
}

/// The public half of a PKCS#8 P-256 private key, as SPKI PEM.
fn public_key_pem(private_pem: &str) -> Option<String> {
    use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
    let secret = p256::SecretKey::from_pkcs8_pem(private_pem).ok()?;
    secret.public_key().to_public_key_pem(LineEnding::LF).ok()
}

/// A new random ES256 signing key, PKCS#8 PEM: what the sandbox signs tokens with.
pub fn generate_signing_key_pem() -> Result<String, p256::pkcs8::Error> {
    use p256::elliptic_curve::Generate;
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    let secret = p256::SecretKey::generate();
    Ok(secret.to_pkcs8_pem(LineEnding::LF)?.to_string())
}

/// The authenticated portal behind a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The OAuth client id.
    pub client_id: String,
    /// What its token allows.
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// Fails with `insufficient_scope` unless the token carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ServiceError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ServiceError::new(
                ErrorCode::InsufficientScope,
                format!("this operation needs the {scope} scope"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClientSettings;

    fn authority(issuer: &str, audience: &str, ttl: u64) -> (Authority, String) {
        let key = generate_signing_key_pem().unwrap();
        let settings = AuthSettings {
            issuer: issuer.into(),
            audience: audience.into(),
            token_ttl_secs: ttl,
            signing_key_pem: Some(key.clone().into()),
            signing_key_pem_file: None,
            clients: vec![ClientSettings {
                client_id: "portal".into(),
                secret_sha256: hash_secret("s3cret-s3cret"),
                scopes: vec!["signatures:read".into(), "signatures:write".into()],
                limits: crate::config::ClientLimitSettings::default(),
            }],
        };
        (Authority::from_settings(&settings).unwrap(), key)
    }

    #[test]
    fn issued_token_authenticates_with_its_scopes() {
        let (authority, _) = authority("https://kyso.test", "kyso-api", 60);
        let token = authority
            .issue_token("portal", "s3cret-s3cret", Some("signatures:read"))
            .unwrap();
        let principal = authority.authenticate(&token.access_token).unwrap();
        assert_eq!(principal.client_id, "portal");
        assert_eq!(principal.scopes, vec![Scope::SignaturesRead]);
        assert!(principal.require(Scope::SignaturesWrite).is_err());
    }

    #[test]
    fn wrong_secret_and_unknown_client_are_invalid_client() {
        let (authority, _) = authority("https://kyso.test", "kyso-api", 60);
        for (id, secret) in [("portal", "wrong"), ("nobody", "s3cret-s3cret")] {
            let error = authority.issue_token(id, secret, None).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidClient);
        }
    }

    #[test]
    fn scope_not_granted_to_client_is_invalid_scope() {
        let (authority, _) = authority("https://kyso.test", "kyso-api", 60);
        let error = authority
            .issue_token("portal", "s3cret-s3cret", Some("certificates:read"))
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidScope);
    }

    #[test]
    fn token_of_another_gateway_key_is_refused() {
        let (first, _) = authority("https://kyso.test", "kyso-api", 60);
        let (second, _) = authority("https://kyso.test", "kyso-api", 60);
        let token = first.issue_token("portal", "s3cret-s3cret", None).unwrap();
        assert!(second.authenticate(&token.access_token).is_err());
    }

    #[test]
    fn wrong_audience_and_issuer_are_refused() {
        let (authority_a, key) = authority("https://kyso.test", "kyso-api", 60);
        let token = authority_a
            .issue_token("portal", "s3cret-s3cret", None)
            .unwrap();
        for (issuer, audience) in [
            ("https://kyso.test", "other"),
            ("https://other", "kyso-api"),
        ] {
            let settings_b = AuthSettings {
                issuer: issuer.into(),
                audience: audience.into(),
                token_ttl_secs: 60,
                signing_key_pem: Some(key.clone().into()),
                signing_key_pem_file: None,
                clients: vec![],
            };
            let authority_b = Authority::from_settings(&settings_b).unwrap();
            let error = authority_b.authenticate(&token.access_token).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidToken);
        }
    }
}
