//! Portal client secrets: how configuration stores them and how a presented secret is
//! checked.
//!
//! A secret is stored as an argon2id hash in the PHC string format (`secret_hash`), so a
//! leaked configuration does not give the secrets away even if a portal chose a weak one.
//! Hashes weaker than OWASP's recommendation (19 MiB of memory, 2 passes) are refused at
//! start-up, and so are hashes costly enough to make the token endpoint a denial-of-service
//! lever. The SHA-256 hashes of earlier versions (`secret_sha256`) still work, with a warning
//! at start-up: they are only safe for the machine-generated secrets `hash-secret` made.
//! Every comparison takes constant time.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{ClientSettings, ConfigError};

/// The least memory an accepted argon2id hash uses, in KiB (OWASP: 19 MiB with 2 passes).
const MIN_MEMORY_KIB: u32 = 19 * 1024;
/// The fewest passes an accepted argon2id hash makes.
const MIN_PASSES: u32 = 2;
/// The most memory an accepted hash may use, in KiB: every token request costs this much.
const MAX_MEMORY_KIB: u32 = 256 * 1024;
/// The most passes an accepted hash may make.
const MAX_PASSES: u32 = 16;
/// The most lanes an accepted hash may use.
const MAX_LANES: u32 = 16;
/// The shortest accepted salt and hash output, in bytes.
const MIN_SALT_BYTES: usize = 16;
const MIN_OUTPUT_BYTES: usize = 16;
/// Random bytes in a secret `hash-secret` makes (256 bits).
const GENERATED_SECRET_BYTES: usize = 32;

/// What configuration holds of one client's secret.
pub(super) enum SecretHash {
    /// An argon2id PHC hash (boxed: it is ten times the size of the other).
    Argon2id(Box<PasswordHash>),
    /// The deprecated bare SHA-256 of earlier versions.
    LegacySha256([u8; 32]),
}

impl SecretHash {
    /// The hash configured for `client`; `context` names it in errors. Errors never quote
    /// the configured value.
    pub(super) fn of_client(client: &ClientSettings, context: &str) -> Result<Self, ConfigError> {
        match (&client.secret_hash, &client.secret_sha256) {
            (Some(hash), None) => Self::argon2id(hash.expose_secret())
                .map_err(|why| ConfigError::invalid(format!("{context}.secret_hash"), why)),
            (None, Some(hash)) => hex::decode(hash.expose_secret().trim())
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .map(Self::LegacySha256)
                .ok_or_else(|| {
                    ConfigError::invalid(
                        format!("{context}.secret_sha256"),
                        "must be 64 hex digits (better: a secret_hash from `kyso-gateway hash-secret`)",
                    )
                }),
            _ => Err(ConfigError::invalid(
                context,
                "set exactly one of secret_hash and secret_sha256",
            )),
        }
    }

    /// Parses and vets an argon2id PHC string.
    pub(super) fn argon2id(phc: &str) -> Result<Self, String> {
        let hash = PasswordHash::new(phc.trim()).map_err(|_| {
            "not a PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash): make one with \
             `kyso-gateway hash-secret`"
                .to_owned()
        })?;
        if hash.algorithm.as_str() != Algorithm::Argon2id.ident().as_str() {
            return Err(format!(
                "the algorithm is {}; only argon2id is accepted",
                hash.algorithm
            ));
        }
        if hash.version != Some(u32::from(Version::V0x13)) {
            return Err("only argon2 version 19 (v=19) is accepted".to_owned());
        }
        let params = Params::try_from(&hash)
            .map_err(|_| "its parameters (m, t, p) are not valid argon2 parameters".to_owned())?;
        if params.m_cost() < MIN_MEMORY_KIB || params.t_cost() < MIN_PASSES {
            return Err(format!(
                "too weak: needs at least m={MIN_MEMORY_KIB} (KiB) and t={MIN_PASSES}"
            ));
        }
        if params.m_cost() > MAX_MEMORY_KIB
            || params.t_cost() > MAX_PASSES
            || params.p_cost() > MAX_LANES
        {
            return Err(format!(
                "too costly for every token request: at most m={MAX_MEMORY_KIB} (KiB), \
                 t={MAX_PASSES} and p={MAX_LANES}"
            ));
        }
        let salt_bytes = hash.salt.as_ref().map_or(0, |salt| salt.as_ref().len());
        let output_bytes = hash.hash.as_ref().map_or(0, |output| output.len());
        if salt_bytes < MIN_SALT_BYTES || output_bytes < MIN_OUTPUT_BYTES {
            return Err(format!(
                "needs a salt and a hash of at least {MIN_SALT_BYTES} bytes each"
            ));
        }
        Ok(Self::Argon2id(Box::new(hash)))
    }

    /// Whether `secret` is the secret hashed; constant time in the secret's content. The
    /// argon2id check is deliberately slow (tens of milliseconds): call it off the async
    /// workers.
    pub(super) fn matches(&self, secret: &SecretString) -> bool {
        let secret = secret.expose_secret().as_bytes();
        match self {
            Self::Argon2id(hash) => Argon2::default()
                .verify_password(secret, hash.as_ref())
                .is_ok(),
            Self::LegacySha256(expected) => {
                bool::from(Sha256::digest(secret).as_slice().ct_eq(expected))
            }
        }
    }

    /// Whether this is the deprecated SHA-256 form.
    pub(super) fn is_legacy(&self) -> bool {
        matches!(self, Self::LegacySha256(_))
    }
}

/// The argon2id hash of `secret` (default parameters: 19 MiB, 2 passes, 1 lane, a random
/// 16-byte salt) as a PHC string, what `secret_hash` holds.
pub fn hash_secret(secret: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(Argon2::default()
        .hash_password(secret.as_bytes())?
        .to_string())
}

/// A new client secret: 256 random bits, base64url.
pub fn generate_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; GENERATED_SECRET_BYTES]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(secret_hash: Option<&str>, secret_sha256: Option<&str>) -> ClientSettings {
        ClientSettings {
            client_id: "portal".into(),
            secret_hash: secret_hash.map(Into::into),
            secret_sha256: secret_sha256.map(Into::into),
            scopes: Vec::new(),
            ..ClientSettings::default()
        }
    }

    fn refusal(secret_hash: &str) -> String {
        match SecretHash::of_client(&client(Some(secret_hash), None), "auth.clients[portal]") {
            Ok(_) => panic!("{secret_hash} was accepted"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn hashed_secret_matches_only_itself() {
        let secret = generate_secret();
        assert_eq!(secret.len(), 43);
        let hash = hash_secret(&secret).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let stored = SecretHash::of_client(&client(Some(&hash), None), "c").unwrap();
        assert!(!stored.is_legacy());
        assert!(stored.matches(&secret.clone().into()));
        assert!(!stored.matches(&format!("{secret}x").into()));
        assert!(!stored.matches(&"".into()));
    }

    #[test]
    fn legacy_sha256_still_matches() {
        let hex = hex::encode(Sha256::digest(b"machine-made-secret"));
        let stored = SecretHash::of_client(&client(None, Some(&hex)), "c").unwrap();
        assert!(stored.is_legacy());
        assert!(stored.matches(&"machine-made-secret".into()));
        assert!(!stored.matches(&"machine-made-secreT".into()));
    }

    #[test]
    fn weak_malformed_and_foreign_hashes_are_refused_without_quoting_them() {
        let salt = "c29tZXNhbHRzb21lc2FsdA"; // 16 bytes
        let output = "J3rGrJ4TVYEXDdtLVkGqeaVoUIDhvH7RvOE+fGLJ+dY"; // 32 bytes
        let cases = [
            ("not-a-hash".to_owned(), "not a PHC string"),
            (
                format!("$argon2i$v=19$m=19456,t=2,p=1${salt}${output}"),
                "only argon2id",
            ),
            (
                format!("$argon2id$v=16$m=19456,t=2,p=1${salt}${output}"),
                "version 19",
            ),
            (
                format!("$argon2id$v=19$m=4096,t=3,p=1${salt}${output}"),
                "too weak",
            ),
            (
                format!("$argon2id$v=19$m=19456,t=1,p=1${salt}${output}"),
                "too weak",
            ),
            (
                format!("$argon2id$v=19$m=4194304,t=2,p=1${salt}${output}"),
                "too costly",
            ),
            (
                format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ${output}"),
                "salt",
            ),
            (
                format!("$argon2id$v=19$m=19456,t=2,p=1${salt}"),
                "salt and a hash",
            ),
            (
                format!("$scrypt$ln=15,r=8,p=1${salt}${output}"),
                "only argon2id",
            ),
        ];
        for (hash, expected) in cases {
            let message = refusal(&hash);
            assert!(message.contains(expected), "{hash}: {message}");
            assert!(
                message.contains("auth.clients[portal].secret_hash"),
                "{message}"
            );
            assert!(
                !message.contains(salt) && !message.contains(output),
                "{message}"
            );
        }
    }

    #[test]
    fn a_client_needs_exactly_one_secret_form() {
        let hex = hex::encode(Sha256::digest(b"x"));
        for settings in [client(None, None), client(Some("$argon2id$"), Some(&hex))] {
            let message = SecretHash::of_client(&settings, "auth.clients[portal]")
                .err()
                .unwrap()
                .to_string();
            assert!(message.contains("exactly one"), "{message}");
        }
        let message = SecretHash::of_client(&client(None, Some("abc")), "c")
            .err()
            .unwrap()
            .to_string();
        assert!(message.contains("64 hex digits"), "{message}");
    }
}
