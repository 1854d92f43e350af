//! What a simulator is started with: the client credentials `auth/login` accepts, lifetimes of
//! tokens, consent requests and SADs, and the citizens it knows (key type, how they answer
//! consent requests, and whether `credentials/authorize` blocks or answers asynchronously).
//! The key kinds and behaviours are `kyso-sim-kit`'s (re-exported at the crate root); a
//! behaviour's delay counts only if it ends before [`SimConfig::authorization_ttl`].

use std::time::Duration;

use kyso_sim_kit::{Behaviour, KeyKind};
use serde::Serialize;

/// How `credentials/authorize` answers for a citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    /// `202 {handle}` at once; the client polls `credentials/authorizeCheck`.
    Asynchronous,
    /// The call blocks until the citizen decides (as Mobile-ID's RSSP does), then answers
    /// `200 {SAD, expiresIn}` or the refusal.
    Blocking,
}

/// One person holding one signing credential at the simulated service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenSpec {
    /// The CCCD number (12 digits) written into the certificate's subject as `UID=CCCD:<cccd>`.
    pub cccd: String,
    /// The CSC `userID` the service knows the citizen by (`credentials/list`).
    pub user_id: String,
    /// Full name, used as the certificate's CN.
    pub full_name: String,
    /// The credential's key type.
    pub key: KeyKind,
    /// What the citizen does with consent requests.
    pub behaviour: Behaviour,
    /// Whether `credentials/authorize` blocks or answers asynchronously.
    pub consent: ConsentMode,
}

impl CitizenSpec {
    /// A citizen whose CSC `userID` is the bare CCCD number and whose consent requests are
    /// answered asynchronously.
    pub fn new(
        cccd: impl Into<String>,
        full_name: impl Into<String>,
        key: KeyKind,
        behaviour: Behaviour,
    ) -> Self {
        let cccd = cccd.into();
        Self {
            user_id: cccd.clone(),
            cccd,
            full_name: full_name.into(),
            key,
            behaviour,
            consent: ConsentMode::Asynchronous,
        }
    }

    /// The same citizen under another CSC `userID`.
    #[must_use]
    pub fn with_user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = user_id.into();
        self
    }

    /// The same citizen with another consent mode.
    #[must_use]
    pub fn with_consent(mut self, consent: ConsentMode) -> Self {
        self.consent = consent;
        self
    }
}

/// Everything a simulator instance is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// The client id `auth/login` accepts (HTTP Basic user name).
    pub client_id: String,
    /// The client secret `auth/login` accepts (HTTP Basic password).
    pub client_secret: String,
    /// The citizens. CCCD numbers and `userID`s must be unique.
    pub citizens: Vec<CitizenSpec>,
    /// How long an access token from `auth/login` is valid (`expires_in`).
    pub token_lifetime: Duration,
    /// How long a consent request waits for the citizen before it lapses.
    pub authorization_ttl: Duration,
    /// How long a SAD is valid once the citizen approved (`expiresIn`).
    pub sad_lifetime: Duration,
    /// The most signatures one authorization may cover (`multisign` of every credential).
    pub multisign: u32,
}

/// Default access-token lifetime: CSC's default `expires_in`.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Default time a citizen has to answer a consent request.
pub const DEFAULT_AUTHORIZATION_TTL: Duration = Duration::from_secs(300);
/// Default SAD lifetime: CSC's default `expiresIn`.
pub const DEFAULT_SAD_LIFETIME: Duration = Duration::from_secs(3600);
/// Default `multisign`.
pub const DEFAULT_MULTISIGN: u32 = 20;

impl SimConfig {
    /// A configuration with these client credentials and citizens and the default lifetimes.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        citizens: Vec<CitizenSpec>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            citizens,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            authorization_ttl: DEFAULT_AUTHORIZATION_TTL,
            sad_lifetime: DEFAULT_SAD_LIFETIME,
            multisign: DEFAULT_MULTISIGN,
        }
    }

    /// The sandbox configuration: client `kyso-sandbox-client` / `sandbox-client-secret`,
    /// `userID` = the bare CCCD number, and five citizens:
    ///
    /// | CCCD | name | key | behaviour | `credentials/authorize` |
    /// |---|---|---|---|---|
    /// | 001099000001 | Nguyễn Văn An | RSA-2048 | approves after 2 s | asynchronous |
    /// | 001099000002 | Trần Thị Bình | RSA-2048 | rejects after 2 s | asynchronous |
    /// | 001099000003 | Lê Văn Cường | RSA-2048 | manual | asynchronous |
    /// | 001099000004 | Phạm Thị Dung | ECDSA P-256 | approves after 2 s | asynchronous |
    /// | 001099000005 | Hoàng Văn Em | RSA-2048 | approves after 1 s | blocking |
    pub fn sandbox() -> Self {
        let two_s = Duration::from_secs(2);
        Self::new(
            "kyso-sandbox-client",
            "sandbox-client-secret",
            vec![
                CitizenSpec::new(
                    "001099000001",
                    "Nguyễn Văn An",
                    KeyKind::Rsa2048,
                    Behaviour::ApproveAfter(two_s),
                ),
                CitizenSpec::new(
                    "001099000002",
                    "Trần Thị Bình",
                    KeyKind::Rsa2048,
                    Behaviour::RejectAfter(two_s),
                ),
                CitizenSpec::new(
                    "001099000003",
                    "Lê Văn Cường",
                    KeyKind::Rsa2048,
                    Behaviour::Manual,
                ),
                CitizenSpec::new(
                    "001099000004",
                    "Phạm Thị Dung",
                    KeyKind::P256,
                    Behaviour::ApproveAfter(two_s),
                ),
                CitizenSpec::new(
                    "001099000005",
                    "Hoàng Văn Em",
                    KeyKind::Rsa2048,
                    Behaviour::ApproveAfter(Duration::from_secs(1)),
                )
                .with_consent(ConsentMode::Blocking),
            ],
        )
    }

    /// Checks what the simulator relies on: unique, non-empty CCCD numbers and `userID`s,
    /// non-zero lifetimes and `multisign`.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let mut cccds = std::collections::HashSet::new();
        let mut user_ids = std::collections::HashSet::new();
        for citizen in &self.citizens {
            if citizen.cccd.is_empty() || citizen.user_id.is_empty() {
                return Err("a citizen has an empty cccd or user_id".to_owned());
            }
            if !cccds.insert(citizen.cccd.as_str()) {
                return Err(format!("cccd {} appears twice", citizen.cccd));
            }
            if !user_ids.insert(citizen.user_id.as_str()) {
                return Err(format!("user_id {} appears twice", citizen.user_id));
            }
        }
        if self.token_lifetime.is_zero()
            || self.authorization_ttl.is_zero()
            || self.sad_lifetime.is_zero()
        {
            return Err("lifetimes must be positive".to_owned());
        }
        if self.multisign == 0 {
            return Err("multisign must be positive".to_owned());
        }
        Ok(())
    }
}
