//! What a simulator is started with: the relying party (RP) it serves, the subscribers'
//! agreements it holds (with their simulated behaviour in FPT's mobile app) and how long an
//! authorisation may stay pending.

use std::fmt;
use std::time::Duration;

/// What the simulated subscriber does in FPT's mobile app when a signing request that must be
/// authorised there (`authorizeMethod` 3) reaches them: the kit's [`kyso_sim_kit::Behaviour`].
/// OTP and passcode transactions ignore it (the subscriber answers through the RP); the CA-wide
/// [`SimConfig::authorisation_ttl`] expires what is still pending.
pub use kyso_sim_kit::Behaviour;

/// The passcode (`authorizeMethod` 4) a subscriber gets unless told otherwise.
pub const DEFAULT_PASSCODE: &str = "123456";

/// One eSignCloud subscriber agreement: a citizen with one RSA-2048 key and certificate,
/// generated at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenSpec {
    /// The `agreementUUID` the RP chose when it enrolled the citizen. Unique.
    pub agreement_uuid: String,
    /// The citizen's CCCD number, written into the certificate subject as `UID=CCCD:<id>`.
    pub user_id: String,
    /// Full name: the certificate's CN.
    pub full_name: String,
    /// The subscriber's signing passcode, for `authorizeMethod` 4.
    pub passcode: String,
    /// What the subscriber does with requests authorised in the app.
    pub behaviour: Behaviour,
}

impl CitizenSpec {
    /// A subscriber whose `agreementUUID` is the CCCD number itself and whose passcode is
    /// [`DEFAULT_PASSCODE`].
    pub fn new(
        user_id: impl Into<String>,
        full_name: impl Into<String>,
        behaviour: Behaviour,
    ) -> Self {
        let user_id = user_id.into();
        Self {
            agreement_uuid: user_id.clone(),
            user_id,
            full_name: full_name.into(),
            passcode: DEFAULT_PASSCODE.to_owned(),
            behaviour,
        }
    }

    /// The same subscriber enrolled under another `agreementUUID`.
    #[must_use]
    pub fn with_agreement_uuid(mut self, agreement_uuid: impl Into<String>) -> Self {
        self.agreement_uuid = agreement_uuid.into();
        self
    }
}

/// Where the simulator gets the public key that RP request signatures must verify with.
#[derive(Clone, PartialEq, Eq)]
pub enum RpKey {
    /// The simulator issues the RP an RSA-2048 key pair at start, as FPT issues each RP a
    /// PKCS#12 key store; the private key is then available from
    /// [`crate::SimHandle::relying_party_key_pem`].
    Generate,
    /// The RP's RSA public key, as a `PUBLIC KEY` (SPKI) or `CERTIFICATE` PEM block.
    Provided(String),
}

impl fmt::Debug for RpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Generate => f.write_str("Generate"),
            Self::Provided(_) => f.write_str("Provided(..)"),
        }
    }
}

/// The one relying party the simulator serves, and the credentials it must present.
#[derive(Clone, PartialEq, Eq)]
pub struct RelyingPartySpec {
    /// The top-level `relyingParty` name.
    pub name: String,
    /// `credentialData.username`.
    pub user: String,
    /// `credentialData.password`.
    pub password: String,
    /// `credentialData.signature`: the static RP signature string the CA issued.
    pub signature: String,
    /// The key every `pkcs1Signature` and `signature` header must verify with.
    pub key: RpKey,
}

impl fmt::Debug for RelyingPartySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials never reach logs.
        f.debug_struct("RelyingPartySpec")
            .field("name", &self.name)
            .field("user", &self.user)
            .field("password", &"[REDACTED]")
            .field("signature", &"[REDACTED]")
            .field("key", &self.key)
            .finish()
    }
}

/// Everything a simulator instance is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// The RP the simulator accepts requests from.
    pub relying_party: RelyingPartySpec,
    /// The subscriber agreements. `agreement_uuid`s and `user_id`s must be unique.
    pub citizens: Vec<CitizenSpec>,
    /// CA-side expiry: an authorisation still pending after this long is expired (code
    /// 1009). eSignCloud's real value is not public; five minutes is the simulator's choice.
    pub authorisation_ttl: Duration,
}

/// Default CA-side authorisation lifetime.
pub const DEFAULT_AUTHORISATION_TTL: Duration = Duration::from_secs(300);

/// The sandbox RP's `relyingParty` name.
pub const SANDBOX_RELYING_PARTY: &str = "KYSO_SANDBOX";
/// The sandbox RP's `credentialData.username`.
pub const SANDBOX_RP_USER: &str = "kyso-sandbox";
/// The sandbox RP's `credentialData.password`: public, for the sandbox only.
pub const SANDBOX_RP_PASSWORD: &str = "sandbox-rp-password";
/// The sandbox RP's static `credentialData.signature`: public, for the sandbox only.
pub const SANDBOX_RP_SIGNATURE: &str = "S2lzb1NhbmRib3hSZWx5aW5nUGFydHlTaWduYXR1cmU=";

impl SimConfig {
    /// The sandbox: the RP [`SANDBOX_RELYING_PARTY`] with the `SANDBOX_RP_*` credentials and a
    /// key pair generated at start ([`crate::SimHandle::relying_party_key_pem`] hands out the
    /// private key), and three subscribers, each under an `agreementUUID` equal to their CCCD:
    ///
    /// | user_id | name | behaviour |
    /// |---|---|---|
    /// | 001099000001 | Nguyễn Văn An | approves after 2 s |
    /// | 001099000002 | Trần Thị Bình | rejects after 2 s |
    /// | 001099000003 | Lê Văn Cường | manual |
    pub fn sandbox() -> Self {
        let two_s = Duration::from_secs(2);
        Self {
            relying_party: RelyingPartySpec {
                name: SANDBOX_RELYING_PARTY.to_owned(),
                user: SANDBOX_RP_USER.to_owned(),
                password: SANDBOX_RP_PASSWORD.to_owned(),
                signature: SANDBOX_RP_SIGNATURE.to_owned(),
                key: RpKey::Generate,
            },
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
            ],
            authorisation_ttl: DEFAULT_AUTHORISATION_TTL,
        }
    }

    /// Checks what the simulator relies on: non-empty, unique agreement ids and user ids.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let mut agreements = std::collections::HashSet::new();
        let mut users = std::collections::HashSet::new();
        for citizen in &self.citizens {
            if citizen.agreement_uuid.is_empty() || citizen.user_id.is_empty() {
                return Err("a citizen has an empty agreement_uuid or user_id".to_owned());
            }
            if !agreements.insert(citizen.agreement_uuid.as_str()) {
                return Err(format!(
                    "agreement_uuid {} appears twice",
                    citizen.agreement_uuid
                ));
            }
            if !users.insert(citizen.user_id.as_str()) {
                return Err(format!("user_id {} appears twice", citizen.user_id));
            }
        }
        if self.relying_party.name.is_empty() || self.relying_party.user.is_empty() {
            return Err("the relying party needs a name and a user".to_owned());
        }
        Ok(())
    }
}
