//! The keys that sign and check access tokens, and their publication as a JWKS.
//!
//! Configuration lists one key (`signing_key_pem`/`_file`) or several (`signing_keys`).
//! The first signs; every key listed is accepted, so a key can be rotated without refusing
//! tokens already issued: list the new key second everywhere (it is published and accepted),
//! then move it first (it signs), and remove the old one once its last tokens have expired.
//! A token names its key by `kid`, the key's RFC 7638 JWK thumbprint (SHA-256, base64url),
//! which every instance computes alike from the key itself; a `kid` not listed is refused.

use std::collections::HashMap;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{AuthSettings, ConfigError};

/// A token key's public half, as `/.well-known/jwks.json` publishes it (an EC P-256 JWK,
/// RFC 7518 §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicTokenKey {
    /// The RFC 7638 thumbprint: the `kid` of the tokens it signs.
    pub kid: String,
    /// The point's x coordinate, base64url.
    pub x: String,
    /// The point's y coordinate, base64url.
    pub y: String,
}

/// The signing key and every accepted key, by `kid`.
pub(super) struct TokenKeys {
    signing_kid: String,
    signing_key: EncodingKey,
    accepted: HashMap<String, DecodingKey>,
    published: Vec<PublicTokenKey>,
}

/// One configured key, read.
struct LoadedKey {
    public: PublicTokenKey,
    verifying: DecodingKey,
    signing: Option<EncodingKey>,
}

impl TokenKeys {
    /// Reads the keys `settings` lists; the first must be a private key.
    pub(super) fn from_settings(settings: &AuthSettings) -> Result<Self, ConfigError> {
        let keys = configured_pems(settings)?
            .into_iter()
            .map(|(context, pem)| match load(&pem) {
                Ok(key) => Ok((context, key)),
                Err(why) => Err(ConfigError::invalid(context, why)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut accepted = HashMap::new();
        let mut published = Vec::new();
        for (context, key) in &keys {
            if accepted
                .insert(key.public.kid.clone(), key.verifying.clone())
                .is_some()
            {
                return Err(ConfigError::invalid(
                    context,
                    "this key is listed twice (the same public key as an earlier one)",
                ));
            }
            published.push(key.public.clone());
        }
        let (context, first) = keys
            .into_iter()
            .next()
            .ok_or_else(|| ConfigError::invalid("auth.signing_keys", "list at least one key"))?;
        let signing_key = first.signing.ok_or_else(|| {
            ConfigError::invalid(
                context,
                "the first key signs tokens: it must be a private key (PKCS#8 PEM)",
            )
        })?;
        Ok(Self {
            signing_kid: first.public.kid,
            signing_key,
            accepted,
            published,
        })
    }

    /// The key new tokens are signed with, and its `kid`.
    pub(super) fn signing(&self) -> (&str, &EncodingKey) {
        (&self.signing_kid, &self.signing_key)
    }

    /// The accepted key named `kid`.
    pub(super) fn accepted(&self, kid: &str) -> Option<&DecodingKey> {
        self.accepted.get(kid)
    }

    /// Every accepted key's public half, the signing key first.
    pub(super) fn published(&self) -> &[PublicTokenKey] {
        &self.published
    }
}

/// The configured keys' PEM, in order, each with where it is configured; at least one.
fn configured_pems(settings: &AuthSettings) -> Result<Vec<(String, SecretString)>, ConfigError> {
    let single = (&settings.signing_key_pem, &settings.signing_key_pem_file);
    match (single, settings.signing_keys.is_empty()) {
        ((Some(pem), None), true) => Ok(vec![("auth.signing_key_pem".to_owned(), pem.clone())]),
        ((None, Some(path)), true) => {
            let context = "auth.signing_key_pem_file".to_owned();
            let pem = read_pem_file(path, &context)?;
            Ok(vec![(context, pem)])
        }
        ((None, None), false) => settings
            .signing_keys
            .iter()
            .enumerate()
            .map(|(index, key)| {
                let context = format!("auth.signing_keys[{index}]");
                match (&key.pem, &key.pem_file) {
                    (Some(pem), None) => Ok((context, pem.clone())),
                    (None, Some(path)) => {
                        let pem = read_pem_file(path, &context)?;
                        Ok((context, pem))
                    }
                    _ => Err(ConfigError::invalid(
                        context,
                        "set exactly one of pem and pem_file",
                    )),
                }
            })
            .collect(),
        _ => Err(ConfigError::invalid(
            "auth",
            "set exactly one of signing_key_pem, signing_key_pem_file and signing_keys",
        )),
    }
}

fn read_pem_file(path: &std::path::Path, context: &str) -> Result<SecretString, ConfigError> {
    std::fs::read_to_string(path)
        .map(SecretString::from)
        .map_err(|error| {
            ConfigError::invalid(context, format!("cannot read {}: {error}", path.display()))
        })
}

/// Reads one P-256 key: a PKCS#8 private key (which can sign) or an SPKI public key.
fn load(pem: &SecretString) -> Result<LoadedKey, String> {
    let pem = pem.expose_secret().as_bytes();
    let not_p256 = || {
        "expected a P-256 key in PEM: a PKCS#8 private key (BEGIN PRIVATE KEY) or, for a key \
         that only verifies, an SPKI public key (BEGIN PUBLIC KEY)"
            .to_owned()
    };
    let (jwk, signing) = match EncodingKey::from_ec_pem(pem) {
        Ok(signing) => {
            let jwk = Jwk::from_encoding_key(&signing, Algorithm::ES256).map_err(|_| not_p256())?;
            (jwk, Some(signing))
        }
        Err(_) => {
            let public = DecodingKey::from_ec_pem(pem).map_err(|_| not_p256())?;
            let jwk =
                Jwk::from_decoding_key(&public, Some(Algorithm::ES256)).map_err(|_| not_p256())?;
            (jwk, None)
        }
    };
    let AlgorithmParameters::EllipticCurve(point) = &jwk.algorithm else {
        return Err(not_p256());
    };
    if point.curve != EllipticCurve::P256 {
        return Err(not_p256());
    }
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| not_p256())?;
    let verifying = DecodingKey::from_jwk(&jwk).map_err(|_| not_p256())?;
    Ok(LoadedKey {
        public: PublicTokenKey {
            kid,
            x: point.x.clone(),
            y: point.y.clone(),
        },
        verifying,
        signing,
    })
}
