//! What a simulator starts with: the service-provider (SP) credentials it accepts, the MySign
//! subscribers it knows and how each answers in the app, and the lifetimes of its access tokens
//! and signing requests. What a subscriber does in the MySign app is the kit's [`Behaviour`],
//! resolved lazily whenever a transaction is looked at (status request, a synchronous `signHash`
//! waiting, a control call); there are no background tasks.

use std::time::Duration;

pub use kyso_sim_kit::Behaviour;
use serde::Serialize;

/// The state of a subscriber's certificate, as `certificates/info` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    /// Usable: `cert.status` `valid`, `key.status` `enabled`.
    #[default]
    Valid,
    /// Revoked at the CA: reported as `revoked`/`disabled`; `signHash` answers error `13004`.
    Revoked,
}

/// One MySign subscriber. Each gets a fresh RSA-2048 key and certificate at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenSpec {
    /// The citizen's CCCD number. Their MySign `user_id` is [`SimConfig::user_id_prefix`]
    /// followed by it; their certificate names them `UID=CCCD:<user_id>`.
    pub user_id: String,
    /// Full name, the certificate's CN.
    pub full_name: String,
    /// What the citizen does with signing requests.
    pub behaviour: Behaviour,
    /// Whether the certificate can sign.
    pub certificate_status: CertificateStatus,
}

impl CitizenSpec {
    /// A subscriber with a valid certificate.
    pub fn new(
        user_id: impl Into<String>,
        full_name: impl Into<String>,
        behaviour: Behaviour,
    ) -> Self {
        Self {
            user_id: user_id.into(),
            full_name: full_name.into(),
            behaviour,
            certificate_status: CertificateStatus::Valid,
        }
    }

    /// The same subscriber with a certificate in `status`.
    #[must_use]
    pub fn with_certificate_status(mut self, status: CertificateStatus) -> Self {
        self.certificate_status = status;
        self
    }
}

/// Everything a simulator instance is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// The `client_id` Viettel issued to the SP.
    pub client_id: String,
    /// The SP's `client_secret`.
    pub client_secret: String,
    /// The RAS profile assigned to the SP (`adss:ras:profile:001` in Viettel's demos).
    pub profile_id: String,
    /// Put before a citizen's CCCD number to form the MySign `user_id` (Viettel's demos show
    /// `CMT_…` and bare numbers); empty by default.
    pub user_id_prefix: String,
    /// The subscribers. `user_id`s must be unique.
    pub citizens: Vec<CitizenSpec>,
    /// Lifetime of every access token (Viettel's is one hour, `expires_in` `"3600"`).
    pub token_lifetime: Duration,
    /// A request still waiting for the subscriber after this long is given up (status `4001`).
    /// Viettel's documentation says about two minutes.
    pub transaction_ttl: Duration,
}

/// Viettel's access-token lifetime: one hour.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Viettel's confirmation window: about two minutes.
pub const DEFAULT_TRANSACTION_TTL: Duration = Duration::from_secs(120);

impl SimConfig {
    /// The sandbox: SP `kyso-sandbox-sp` / `sandbox-sp-secret`, profile
    /// `adss:ras:profile:001`, bare CCCD numbers as MySign user ids, and four subscribers:
    ///
    /// | user_id | name | behaviour |
    /// |---|---|---|
    /// | 001099000001 | Nguyễn Văn An | approves after 2 s |
    /// | 001099000002 | Trần Thị Bình | rejects after 2 s |
    /// | 001099000003 | Lê Văn Cường | manual (decide through `/_sim`) |
    /// | 001099000004 | Phạm Thị Dung | certificate revoked (`signHash` answers `13004`) |
    pub fn sandbox() -> Self {
        let two_s = Duration::from_secs(2);
        Self {
            client_id: "kyso-sandbox-sp".to_owned(),
            client_secret: "sandbox-sp-secret".to_owned(),
            profile_id: "adss:ras:profile:001".to_owned(),
            user_id_prefix: String::new(),
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
                    "001099000004",
                    "Phạm Thị Dung",
                    Behaviour::ApproveAfter(two_s),
                )
                .with_certificate_status(CertificateStatus::Revoked),
            ],
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            transaction_ttl: DEFAULT_TRANSACTION_TTL,
        }
    }

    /// Checks what the simulator relies on: credentials present, unique non-empty user ids,
    /// non-zero lifetimes.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.client_id.is_empty() || self.client_secret.is_empty() || self.profile_id.is_empty()
        {
            return Err("client_id, client_secret and profile_id must not be empty".to_owned());
        }
        if self.token_lifetime.is_zero() || self.transaction_ttl.is_zero() {
            return Err("token_lifetime and transaction_ttl must not be zero".to_owned());
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
