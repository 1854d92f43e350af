//! Portal authentication: OAuth 2.0 client credentials (RFC 6749 §4.4) answered with ES256
//! access tokens this gateway signs and checks (the HTTP extractor is `crate::http::auth`).
//!
//! Validation follows RFC 8725, and every refusal is `invalid_token` with a message saying
//! why:
//! - the algorithm is pinned to ES256, so `none`, HMAC (even keyed with the public key) and
//!   RSA tokens are refused before any key is used; `typ` must be `at+jwt` (RFC 9068);
//! - the key is the one the header's `kid` names among the configured keys
//!   ([`token_keys`]); keys named by `jku`, `jwk`, `x5u` or `x5c` are never used;
//! - a `crit` header is refused: kyso understands no JWS extension (RFC 7515 §4.1.11);
//! - `exp` must not have passed, and `nbf` and `iat` must not be in the future, each with
//!   [`LEEWAY_SECS`] of clock skew; `iss` and `aud` must be this gateway's;
//! - `sub` must be a configured client that is not disabled, checked on every request, so
//!   removing or disabling a client refuses its tokens at once; the token's scopes are
//!   narrowed to what configuration still allows the client.
//!
//! Client secrets are checked against argon2id hashes ([`client_secrets`]), off the async
//! workers and a few at a time.

mod client_secrets;
mod token_keys;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use crate::audit::{Auditor, Entry, Event};
use crate::bounded_cache::BoundedCache;
use crate::config::{AuthSettings, ConfigError};
use crate::domain::error::{ErrorCode, ServiceError};
use client_secrets::SecretHash;
pub use client_secrets::{generate_secret, hash_secret};
pub use token_keys::PublicTokenKey;
use token_keys::TokenKeys;

/// The clock skew tolerated when checking a token's `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 5;

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

/// A portal allowed to call the API.
struct Client {
    secret: Arc<SecretHash>,
    scopes: Vec<Scope>,
    disabled: bool,
    /// How long this client's tokens live (its own `token_ttl_secs`, else the default).
    token_ttl: Duration,
}

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    iat: i64,
    exp: i64,
    /// Never issued by this gateway; checked when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    jti: String,
    scope: String,
}

/// A token the gateway issued.
pub struct IssuedToken {
    /// The JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The scopes granted, space-separated.
    pub scope: String,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A bearer token is a credential: it never reaches a log.
        f.debug_struct("IssuedToken")
            .field("access_token", &"[REDACTED]")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Issues and checks access tokens; knows the portals' credentials.
pub struct Authority {
    clients: HashMap<String, Client>,
    keys: TokenKeys,
    validation: Validation,
    issuer: String,
    audience: String,
    /// What the secret of an unknown client is checked against, so that the answer takes as
    /// long as for a known client and does not tell which client ids exist.
    decoy: Arc<SecretHash>,
    /// Bounds the secret checks running at once: each argon2id check holds a core and
    /// 19 MiB, and the token endpoint is open to anyone.
    secret_checks: Arc<Semaphore>,
    /// Tokens whose header, signature and claims passed, by the SHA-256 of the token, until
    /// their `exp`: a portal's repeated requests with one token cost a hash and a lookup,
    /// not an ES256 verification. What may change while a token lives (its client disabled
    /// or removed, its scopes narrowed) is checked at every request all the same.
    verified: BoundedCache<[u8; 32], VerifiedToken>,
}

/// What a verified token says: its client and the scopes it was granted.
#[derive(Debug, Clone)]
struct VerifiedToken {
    client_id: String,
    scope: String,
}

/// How many verified tokens each instance remembers (a portal holds one or a few at a time).
const VERIFIED_TOKENS: usize = 10_000;

/// The JOSE `typ` of access tokens (RFC 9068).
const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// An argon2id hash (default parameters) of a secret nobody knows: the decoy.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$a3lzby1kZWNveS1zYWx0IQ$\
                          Pq3oRt8SbkYJbEhcGm6g7l1vN4xwNxH4SVdzZUXb6Pk";

impl Authority {
    /// Builds the authority from configuration, reading the token keys and vetting every
    /// client's secret hash.
    pub fn from_settings(settings: &AuthSettings) -> Result<Self, ConfigError> {
        let keys = TokenKeys::from_settings(settings)?;
        let mut clients = HashMap::new();
        for client in &settings.clients {
            let context = format!("auth.clients[{}]", client.client_id);
            let secret = SecretHash::of_client(client, &context)?;
            if secret.is_legacy() {
                tracing::warn!(
                    client_id = %client.client_id,
                    "this client's secret is configured as a bare SHA-256 (secret_sha256), which \
                     is deprecated: replace it with a secret_hash from `kyso-gateway hash-secret`"
                );
            }
            let scopes = client
                .scopes
                .iter()
                .map(|scope| scope.parse::<Scope>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| ConfigError::invalid(&context, error))?;
            let token_ttl_secs = client.token_ttl_secs.unwrap_or(settings.token_ttl_secs);
            if token_ttl_secs == 0 {
                return Err(ConfigError::invalid(
                    format!("{context}.token_ttl_secs"),
                    "must be at least 1",
                ));
            }
            let entry = Client {
                secret: Arc::new(secret),
                scopes,
                disabled: client.disabled,
                token_ttl: Duration::from_secs(token_ttl_secs),
            };
            if clients.insert(client.client_id.clone(), entry).is_some() {
                return Err(ConfigError::invalid(&context, "client_id appears twice"));
            }
        }
        let decoy = SecretHash::argon2id(DECOY_HASH)
            .map_err(|why| ConfigError::invalid("auth (the decoy secret hash)", why))?;

        let mut validation = Validation::new(Algorithm::ES256);
        validation.algorithms = vec![Algorithm::ES256];
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let parallel_checks = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            clients,
            keys,
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            decoy: Arc::new(decoy),
            secret_checks: Arc::new(Semaphore::new(parallel_checks)),
            verified: BoundedCache::new(VERIFIED_TOKENS),
        })
    }

    /// Checks a client's secret and issues a token for `requested` scopes (all of the
    /// client's when `None`).
    pub async fn issue_token(
        &self,
        client_id: &str,
        client_secret: SecretString,
        requested: Option<&str>,
    ) -> Result<IssuedToken, ServiceError> {
        let client = self.clients.get(client_id);
        let hash = client.map_or_else(|| self.decoy.clone(), |client| client.secret.clone());
        let secret_matches = self.check_secret(hash, client_secret).await?;
        let Some(client) = client.filter(|_| secret_matches) else {
            // Only a configured id is logged: an unknown one is whatever the caller sent.
            if client.is_some() {
                tracing::info!(client_id, "client authentication failed: wrong secret");
            } else {
                tracing::info!("client authentication failed: unknown client");
            }
            return Err(ServiceError::new(
                ErrorCode::InvalidClient,
                "unknown client or wrong secret",
            ));
        };
        if client.disabled {
            tracing::info!(client_id, "client authentication refused: client disabled");
            return Err(ServiceError::new(
                ErrorCode::InvalidClient,
                "this client is disabled",
            ));
        }
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
            exp: now.saturating_add(i64::try_from(client.token_ttl.as_secs()).unwrap_or(i64::MAX)),
            nbf: None,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            scope: join_scopes(&scopes),
        };
        let (kid, signing_key) = self.keys.signing();
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(kid.to_owned());
        let access_token =
            jsonwebtoken::encode(&header, &claims, signing_key).map_err(|error| {
                tracing::error!(%error, "signing an access token failed");
                ServiceError::new(ErrorCode::InternalError, "could not issue a token")
            })?;
        tracing::info!(client_id, scope = %claims.scope, kid, jti = %claims.jti, "access token issued");
        Ok(IssuedToken {
            access_token,
            expires_in: client.token_ttl.as_secs(),
            scope: claims.scope,
        })
    }

    /// Whether `secret` matches `hash`, computed on the blocking pool under a permit of
    /// `secret_checks`, which the computation keeps even if the request goes away.
    async fn check_secret(
        &self,
        hash: Arc<SecretHash>,
        secret: SecretString,
    ) -> Result<bool, ServiceError> {
        let internal = || ServiceError::new(ErrorCode::InternalError, "could not check the secret");
        let permit = self
            .secret_checks
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| internal())?;
        tokio::task::spawn_blocking(move || {
            let matches = hash.matches(&secret);
            drop(permit);
            matches
        })
        .await
        .map_err(|error| {
            tracing::error!(%error, "a client secret check failed");
            internal()
        })
    }

    /// [`Self::issue_token`], recorded in the audit trail first: the grant (with the token's
    /// SHA-256, never the token) or the refusal (naming the client only if it is one of the
    /// configured ones, not whatever a caller claimed). No token leaves without its record.
    pub async fn grant(
        &self,
        auditor: &Auditor,
        client_id: &str,
        client_secret: SecretString,
        requested: Option<&str>,
    ) -> Result<IssuedToken, ServiceError> {
        let issued = self.issue_token(client_id, client_secret, requested).await;
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
        self.check_token(token).inspect_err(|error| {
            tracing::debug!(reason = %error.message, "bearer token refused");
        })
    }

    fn check_token(&self, token: &str) -> Result<Principal, ServiceError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        let verified = match self.verified.get(&key, now) {
            Some(verified) => verified,
            None => {
                let (verified, expires_at) = self.verify_token(token)?;
                let lifetime = expires_at - time::OffsetDateTime::now_utc().unix_timestamp();
                let lifetime = Duration::from_secs(u64::try_from(lifetime).unwrap_or_default());
                self.verified
                    .insert(key, verified.clone(), now + lifetime, now);
                verified
            }
        };
        let invalid = |why: &str| ServiceError::new(ErrorCode::InvalidToken, why);
        let client = self
            .clients
            .get(&verified.client_id)
            .ok_or_else(|| invalid("the token's client is not configured"))?;
        if client.disabled {
            return Err(invalid("the token's client is disabled"));
        }
        // Scopes unknown to this version are ignored rather than refused, and scopes the
        // configuration no longer allows the client are dropped.
        let scopes = verified
            .scope
            .split_ascii_whitespace()
            .filter_map(|name| name.parse().ok())
            .filter(|scope| client.scopes.contains(scope))
            .collect();
        Ok(Principal {
            client_id: verified.client_id,
            scopes,
        })
    }

    /// Checks a token's header, signature and claims (the ES256 verification, the costly
    /// part); returns who it names and when it expires (`exp`, Unix seconds).
    fn verify_token(&self, token: &str) -> Result<(VerifiedToken, i64), ServiceError> {
        let invalid = |why: &str| ServiceError::new(ErrorCode::InvalidToken, why);
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            match named_algorithm(token) {
                // `none` and names the JOSE library does not know fail to parse at all.
                Some(alg) if alg != "ES256" => invalid("only ES256 tokens are accepted"),
                _ => invalid("malformed token"),
            }
        })?;
        if header.alg != Algorithm::ES256 {
            return Err(invalid("only ES256 tokens are accepted"));
        }
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(invalid("the token's typ must be at+jwt"));
        }
        if header.crit.is_some() {
            return Err(invalid(
                "the token has a crit header: this gateway understands no JWS extension",
            ));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the token names no signing key (kid)"))?;
        let key = self
            .keys
            .accepted(&kid)
            .ok_or_else(|| invalid("the token's signing key (kid) is not one of this gateway's"))?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|error| {
                use jsonwebtoken::errors::ErrorKind;
                match error.kind() {
                    ErrorKind::InvalidSignature => invalid("the token's signature does not verify"),
                    ErrorKind::ExpiredSignature => invalid("token expired"),
                    ErrorKind::ImmatureSignature => invalid("the token is not valid yet (nbf)"),
                    ErrorKind::InvalidAudience => invalid("token is for another audience"),
                    ErrorKind::InvalidIssuer => invalid("token from another issuer"),
                    ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => {
                        invalid("the token lacks a required claim or has a malformed one")
                    }
                    _ => invalid("token not accepted"),
                }
            })?;
        let claims = data.claims;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if claims.iat > now.saturating_add(LEEWAY_SECS.cast_signed()) {
            return Err(invalid("the token was issued in the future (iat)"));
        }
        Ok((
            VerifiedToken {
                client_id: claims.sub,
                scope: claims.scope,
            },
            claims.exp,
        ))
    }

    /// The public halves of the accepted token keys, the signing key first: what
    /// `/.well-known/jwks.json` publishes.
    pub fn public_keys(&self) -> &[PublicTokenKey] {
        self.keys.published()
    }
}

/// The `alg` a token's header names, whatever else the header holds, if it can be read.
fn named_algorithm(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct AlgorithmOnly {
        alg: String,
    }
    let header = token.split('.').next()?;
    let json = URL_SAFE_NO_PAD.decode(header).ok()?;
    serde_json::from_slice::<AlgorithmOnly>(&json)
        .ok()
        .map(|header| header.alg)
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
    use jsonwebtoken::EncodingKey;
    use serde_json::{Value, json};

    use super::*;
    use crate::config::{ClientSettings, SigningKeySettings};

    const ISSUER: &str = "https://kyso.test";
    const AUDIENCE: &str = "kyso-api";
    const SECRET: &str = "s3cret-s3cret";

    fn client(client_id: &str) -> ClientSettings {
        ClientSettings {
            client_id: client_id.into(),
            secret_hash: Some(hash_secret(SECRET).unwrap().into()),
            scopes: vec!["signatures:read".into(), "signatures:write".into()],
            ..ClientSettings::default()
        }
    }

    fn settings_with_keys(keys: &[&str]) -> AuthSettings {
        AuthSettings {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            token_ttl_secs: 60,
            signing_key_pem: None,
            signing_key_pem_file: None,
            signing_keys: keys
                .iter()
                .map(|pem| SigningKeySettings {
                    pem: Some((*pem).into()),
                    pem_file: None,
                })
                .collect(),
            clients: vec![client("portal")],
        }
    }

    fn authority_with_keys(keys: &[&str]) -> Authority {
        Authority::from_settings(&settings_with_keys(keys)).unwrap()
    }

    /// An authority with one new key, and that key.
    fn authority() -> (Authority, String) {
        let key = generate_signing_key_pem().unwrap();
        (authority_with_keys(&[&key]), key)
    }

    fn public_pem(private_pem: &str) -> String {
        use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
        let secret = p256::SecretKey::from_pkcs8_pem(private_pem).unwrap();
        secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    }

    /// The RFC 7638 thumbprint of a P-256 key, computed here from its coordinates.
    fn thumbprint(key: &PublicTokenKey) -> String {
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            key.x, key.y
        );
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn claims() -> Value {
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "portal", "iat": now(),
               "exp": now() + 60, "jti": "j", "scope": "signatures:read"})
    }

    /// A token signed with `pem`, its header and claims edited by the test.
    fn craft(pem: &str, edit_header: impl FnOnce(&mut Header), claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        header.kid = Some(thumbprint(
            &authority_with_keys(&[pem]).public_keys()[0].clone(),
        ));
        edit_header(&mut header);
        let key = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    fn refusal(authority: &Authority, token: &str) -> String {
        let error = authority.authenticate(token).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidToken, "{}", error.message);
        error.message
    }

    #[tokio::test]
    async fn issued_token_authenticates_with_its_scopes() {
        let (authority, _) = authority();
        let token = authority
            .issue_token("portal", SECRET.into(), Some("signatures:read"))
            .await
            .unwrap();
        let principal = authority.authenticate(&token.access_token).unwrap();
        assert_eq!(principal.client_id, "portal");
        assert_eq!(principal.scopes, vec![Scope::SignaturesRead]);
        assert!(principal.require(Scope::SignaturesWrite).is_err());
        assert!(!format!("{token:?}").contains(&token.access_token));
    }

    #[tokio::test]
    async fn a_client_with_short_lived_tokens_gets_them_and_others_keep_the_default() {
        let key = generate_signing_key_pem().unwrap();
        let mut settings = settings_with_keys(&[&key]);
        let mut brief = client("brief");
        brief.token_ttl_secs = Some(5);
        settings.clients.push(brief);
        let authority = Authority::from_settings(&settings).unwrap();
        let short = authority
            .issue_token("brief", SECRET.into(), Some("signatures:read"))
            .await
            .unwrap();
        assert_eq!(short.expires_in, 5);
        let claims: Claims = jsonwebtoken::dangerous::insecure_decode(&short.access_token)
            .unwrap()
            .claims;
        assert_eq!(claims.exp - claims.iat, 5);
        let usual = authority
            .issue_token("portal", SECRET.into(), None)
            .await
            .unwrap();
        assert_eq!(usual.expires_in, 60);

        settings.clients[1].token_ttl_secs = Some(0);
        let error = Authority::from_settings(&settings).err().unwrap();
        assert!(
            error
                .to_string()
                .contains("auth.clients[brief].token_ttl_secs"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn wrong_secret_and_unknown_client_are_invalid_client() {
        let (authority, _) = authority();
        for (id, secret) in [("portal", "wrong"), ("nobody", SECRET), ("portal", "")] {
            let error = authority
                .issue_token(id, secret.into(), None)
                .await
                .unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidClient);
        }
    }

    #[tokio::test]
    async fn legacy_sha256_secret_still_gets_a_token() {
        let key = generate_signing_key_pem().unwrap();
        let mut settings = settings_with_keys(&[&key]);
        settings.clients = vec![ClientSettings {
            secret_hash: None,
            secret_sha256: Some(hex::encode(sha2::Sha256::digest(SECRET)).into()),
            ..client("portal")
        }];
        let authority = Authority::from_settings(&settings).unwrap();
        assert!(
            authority
                .issue_token("portal", SECRET.into(), None)
                .await
                .is_ok()
        );
        let error = authority
            .issue_token("portal", "wrong".into(), None)
            .await
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidClient);
    }

    #[tokio::test]
    async fn scope_not_granted_to_client_is_invalid_scope() {
        let (authority, _) = authority();
        let error = authority
            .issue_token("portal", SECRET.into(), Some("certificates:read"))
            .await
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidScope);
    }

    #[tokio::test]
    async fn issued_token_names_its_key_by_its_rfc7638_thumbprint() {
        let (authority, _) = authority();
        let token = authority
            .issue_token("portal", SECRET.into(), None)
            .await
            .unwrap();
        let header = jsonwebtoken::decode_header(&token.access_token).unwrap();
        let published = authority.public_keys();
        assert_eq!(published.len(), 1);
        assert_eq!(
            header.kid.as_deref(),
            Some(thumbprint(&published[0]).as_str())
        );
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert!(header.crit.is_none());
    }

    #[tokio::test]
    async fn a_key_listed_after_the_first_still_verifies_and_an_unlisted_one_does_not() {
        let (old, old_key) = authority();
        let token = old
            .issue_token("portal", SECRET.into(), None)
            .await
            .unwrap()
            .access_token;
        let new_key = generate_signing_key_pem().unwrap();
        // The retired key may be listed by its public half only.
        let rotated = authority_with_keys(&[&new_key, &public_pem(&old_key)]);
        assert_eq!(rotated.authenticate(&token).unwrap().client_id, "portal");
        assert_eq!(rotated.public_keys().len(), 2);
        let fresh = rotated
            .issue_token("portal", SECRET.into(), None)
            .await
            .unwrap()
            .access_token;
        assert_eq!(
            jsonwebtoken::decode_header(&fresh).unwrap().kid.as_deref(),
            Some(rotated.public_keys()[0].kid.as_str()),
            "the first key signs"
        );
        let message = refusal(&authority_with_keys(&[&new_key]), &token);
        assert!(message.contains("kid"), "{message}");
        // The old instance does not know the new key yet.
        assert!(refusal(&old, &fresh).contains("kid"));
    }

    #[test]
    fn key_lists_that_cannot_work_are_configuration_errors() {
        let key = generate_signing_key_pem().unwrap();
        let error = |settings: AuthSettings| match Authority::from_settings(&settings) {
            Ok(_) => panic!("accepted"),
            Err(error) => error.to_string(),
        };
        let other = generate_signing_key_pem().unwrap();
        let message = error(settings_with_keys(&[&public_pem(&other), &key]));
        assert!(
            message.contains("signing_keys[0]") && message.contains("private"),
            "{message}"
        );
        let message = error(settings_with_keys(&[&key, &public_pem(&key)]));
        assert!(
            message.contains("signing_keys[1]") && message.contains("twice"),
            "{message}"
        );
        let message = error(settings_with_keys(&[&key, "not a key"]));
        assert!(
            message.contains("signing_keys[1]") && message.contains("P-256"),
            "{message}"
        );
        assert!(!message.contains("not a key"));
        let mut both = settings_with_keys(&[&key]);
        both.signing_key_pem = Some(key.into());
        assert!(error(both).contains("exactly one"));
        let message = error(settings_with_keys(&[]));
        assert!(message.contains("exactly one"), "{message}");
        // A P-384 key (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384).
        let p384 = "-----BEGIN PRIVATE KEY-----\n\
            MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDD37pM3pKHZSV6eiJ5y\n\
            q7R2afRDVIusSDNbBRsgLQR8dBpIGs2JwmOB5eQJUurTiN6hZANiAASsGUSiKJ0U\n\
            vFUAeZevxO2WfEOR0PtKk8DmYRkVCcn0k9pkrNze297pHujlga6X7AJh1ej3x8PA\n\
            nNX7QmSifB2QsrUf1fg8eDxUUzBi7W1rmfYslAtaeX9x94qDGCgmOjU=\n\
            -----END PRIVATE KEY-----\n";
        assert!(error(settings_with_keys(&[p384])).contains("P-256"));
    }

    #[test]
    fn time_claims_are_checked_with_a_small_leeway() {
        let (authority, key) = authority();
        // Clock skew of a few seconds is tolerated; 30 s (once accepted) is not.
        let within = 3;
        let beyond = 30;
        let with = |name: &str, value: i64| {
            let mut claims = claims();
            claims[name] = json!(value);
            craft(&key, |_| {}, &claims)
        };
        for token in [
            with("exp", now() - within),
            with("nbf", now() + within),
            with("iat", now() + within),
        ] {
            authority.authenticate(&token).unwrap();
        }
        assert!(refusal(&authority, &with("exp", now() - beyond)).contains("expired"));
        assert!(refusal(&authority, &with("nbf", now() + beyond)).contains("nbf"));
        assert!(refusal(&authority, &with("iat", now() + beyond)).contains("iat"));
    }

    #[test]
    fn a_verified_token_is_remembered_only_until_it_expires() {
        let (authority, key) = authority();
        let mut brief = claims();
        brief["exp"] = json!(now() + 1);
        let token = craft(&key, |_| {}, &brief);
        // Accepted twice (the second time from the cache of verified tokens) ...
        authority.authenticate(&token).unwrap();
        authority.authenticate(&token).unwrap();
        // ... a copy with another signature is not the same token, and is checked in full ...
        let (body, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{body}.{}", "A".repeat(86));
        assert!(refusal(&authority, &forged).contains("signature"));
        // ... and once its exp has passed it is no longer remembered: the full check refuses
        // it after the leeway.
        std::thread::sleep(Duration::from_millis(1100));
        assert!(
            authority
                .verified
                .get::<[u8; 32]>(&Sha256::digest(token.as_bytes()).into(), Instant::now())
                .is_none()
        );
    }

    #[test]
    fn headers_outside_the_profile_are_refused() {
        let (authority, key) = authority();
        let claims = claims();
        type HeaderEdit = fn(&mut Header);
        let cases: [(&str, HeaderEdit); 3] = [
            ("crit", |header| header.crit = Some(vec!["exp".into()])),
            ("kid", |header| header.kid = None),
            ("typ", |header| header.typ = Some("JWT".into())),
        ];
        for (expected, edit) in cases {
            let message = refusal(&authority, &craft(&key, edit, &claims));
            assert!(message.contains(expected), "{expected}: {message}");
        }
        // A control: the same construction unedited is accepted.
        authority
            .authenticate(&craft(&key, |_| {}, &claims))
            .unwrap();
    }

    #[tokio::test]
    async fn removed_and_disabled_clients_lose_their_tokens_at_once() {
        let key = generate_signing_key_pem().unwrap();
        let token = authority_with_keys(&[&key])
            .issue_token("portal", SECRET.into(), None)
            .await
            .unwrap()
            .access_token;
        let mut removed = settings_with_keys(&[&key]);
        removed.clients = vec![client("another-portal")];
        let message = refusal(&Authority::from_settings(&removed).unwrap(), &token);
        assert!(message.contains("not configured"), "{message}");
        let mut disabled = settings_with_keys(&[&key]);
        disabled.clients[0].disabled = true;
        let disabled = Authority::from_settings(&disabled).unwrap();
        assert!(refusal(&disabled, &token).contains("disabled"));
        let error = disabled
            .issue_token("portal", SECRET.into(), None)
            .await
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidClient);
        let mut narrowed = settings_with_keys(&[&key]);
        narrowed.clients[0].scopes = vec!["signatures:read".into()];
        let principal = Authority::from_settings(&narrowed)
            .unwrap()
            .authenticate(&token)
            .unwrap();
        assert_eq!(principal.scopes, vec![Scope::SignaturesRead]);
    }

    #[tokio::test]
    async fn wrong_audience_and_issuer_are_refused() {
        let (authority_a, key) = authority();
        let token = authority_a
            .issue_token("portal", SECRET.into(), None)
            .await
            .unwrap();
        for (issuer, audience) in [(ISSUER, "other"), ("https://other", AUDIENCE)] {
            let settings_b = AuthSettings {
                issuer: issuer.into(),
                audience: audience.into(),
                ..settings_with_keys(&[&key])
            };
            let authority_b = Authority::from_settings(&settings_b).unwrap();
            refusal(&authority_b, &token.access_token);
        }
    }
}
