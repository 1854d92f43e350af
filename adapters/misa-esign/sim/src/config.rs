//! What a simulator starts with: the integrator's client id/key and MISAID service account,
//! the citizens it knows (with what each one does in the MISA eSign app), and the lifetimes of
//! access tokens and signing transactions.

use std::time::Duration;

/// What a simulated citizen does in the MISA eSign app when a signing request reaches them: the
/// kit's behaviour, resolved lazily against the clock whenever a transaction is looked at.
pub use kyso_sim_kit::Behaviour;

/// One MISA eSign subscriber known to the simulator. Each gets a fresh RSA-2048 key, a
/// certificate, a MISA user id and a key alias at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenSpec {
    /// The citizen's CCCD number (12 digits in the sandbox); written into the certificate's
    /// subject as `UID=CCCD:<number>`.
    pub user_id: String,
    /// Full name: the certificate's CN.
    pub full_name: String,
    /// What the citizen does with signing requests.
    pub behaviour: Behaviour,
    /// Whether the citizen's signing key is `ACTIVE` at MISA. An `INACTIVE` key is listed but
    /// cannot sign.
    pub key_active: bool,
}

impl CitizenSpec {
    /// A citizen with an active key.
    pub fn new(
        user_id: impl Into<String>,
        full_name: impl Into<String>,
        behaviour: Behaviour,
    ) -> Self {
        Self {
            user_id: user_id.into(),
            full_name: full_name.into(),
            behaviour,
            key_active: true,
        }
    }

    /// The same citizen with an `INACTIVE` key.
    #[must_use]
    pub fn with_inactive_key(mut self) -> Self {
        self.key_active = false;
        self
    }
}

/// Everything a simulator instance is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// The `x-clientId` header every call must carry.
    pub client_id: String,
    /// The `x-clientKey` header every call must carry.
    pub client_key: String,
    /// The integrator's MISAID service account (`userName` of `login-api`).
    pub username: String,
    /// The service account's password.
    pub password: String,
    /// When set, the service account has two-factor authentication: `login-api` answers
    /// `errorCode 122` and `two-factor-auth` accepts this code.
    pub otp_code: Option<String>,
    /// The citizens who connected their MISA eSign account to this integrator. CCCD numbers
    /// must be unique.
    pub citizens: Vec<CitizenSpec>,
    /// How long a `remoteSigningAccessToken` is accepted (`expiresIn`; MISA: 3600 s).
    pub token_lifetime: Duration,
    /// CA-side expiry: a transaction nobody answered within this time is `FAILED` with
    /// `errorCode` `TransactionExpired`. MISA does not publish its value.
    pub transaction_ttl: Duration,
}

/// MISA's documented access-token lifetime (`expiresIn` 3600: "hạn dùng 60p").
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The simulator's CA-side transaction lifetime (MISA publishes none).
pub const DEFAULT_TRANSACTION_TTL: Duration = Duration::from_secs(300);

impl SimConfig {
    /// The sandbox: client `kyso-sandbox-client` / `sandbox-client-key`, service account
    /// `kyso-sandbox-integrator` / `sandbox-integrator-password` (no 2FA), and four citizens:
    ///
    /// | CCCD | name | key | behaviour |
    /// |---|---|---|---|
    /// | 001099000001 | Nguyễn Văn An | active | approves after 2 s |
    /// | 001099000002 | Trần Thị Bình | active | rejects after 2 s |
    /// | 001099000003 | Lê Văn Cường | active | manual (decide through `/_sim`) |
    /// | 001099000006 | Đặng Thị Hoa | INACTIVE | approves after 2 s (but cannot sign) |
    ///
    /// The first three are the same people as in the other CAs' sandboxes, so a citizen holds
    /// certificates at several CAs.
    pub fn sandbox() -> Self {
        let two_s = Duration::from_secs(2);
        Self {
            client_id: "kyso-sandbox-client".to_owned(),
            client_key: "sandbox-client-key".to_owned(),
            username: "kyso-sandbox-integrator".to_owned(),
            password: "sandbox-integrator-password".to_owned(),
            otp_code: None,
            citizens: vec![
                CitizenSpec::new(
                    "001099000001",
                    "Nguyễn Văn An",
                    Behaviour::ApproveAfter(two_s),
                ),
                CitizenSpec::new(
                    "001099000002",
                    "Trần Thị Bình",
                    Behaviour::RejectAfter(two_s),
                ),
                CitizenSpec::new("001099000003", "Lê Văn Cường", Behaviour::Manual),
                CitizenSpec::new(
                    "001099000006",
                    "Đặng Thị Hoa",
                    Behaviour::ApproveAfter(two_s),
                )
                .with_inactive_key(),
            ],
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            transaction_ttl: DEFAULT_TRANSACTION_TTL,
        }
    }

    /// Checks what the simulator relies on: unique, non-empty CCCD numbers and credentials.
    pub(crate) fn validate(&self) -> Result<(), String> {
        for (field, value) in [
            ("client_id", &self.client_id),
            ("client_key", &self.client_key),
            ("username", &self.username),
            ("password", &self.password),
        ] {
            if value.is_empty() {
                return Err(format!("{field} is empty"));
            }
        }
        if self.token_lifetime.is_zero() {
            return Err("token_lifetime is zero".to_owned());
        }
        let mut seen = std::collections::HashSet::new();
        for citizen in &self.citizens {
            if citizen.user_id.is_empty() {
                return Err("a citizen has an empty user_id".to_owned());
            }
            if !seen.insert(citizen.user_id.as_str()) {
                return Err(format!("user_id {} appears twice", citizen.user_id));
            }
        }
        Ok(())
    }
}
