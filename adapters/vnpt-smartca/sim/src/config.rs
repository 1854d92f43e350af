//! What a simulator is started with: the SP credentials it accepts, the citizens it knows (with
//! their key type, signature scheme and simulated behaviour in the SmartCA app) and the CA-side
//! transaction lifetime. The key kinds, signature schemes and behaviours are `kyso-sim-kit`'s
//! (re-exported at the crate root): real VNPT SmartCA returns raw RSA PKCS#1 v1.5 signatures; the
//! other schemes exist so that the gateway's verification is exercised for every signature
//! format it claims to support.

use std::time::Duration;

use kyso_sim_kit::{Behaviour, SignatureScheme};

/// One SmartCA subscriber known to the simulator. Each gets a fresh key pair and certificate at
/// start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenSpec {
    /// The `user_id` the SP sends: a CCCD (citizen identity card) number in the sandbox.
    pub user_id: String,
    /// Full name, used as the certificate's CN.
    pub full_name: String,
    /// Signature scheme (and so key type) of this citizen's certificate.
    pub scheme: SignatureScheme,
    /// What the citizen does with signing requests.
    pub behaviour: Behaviour,
}

impl CitizenSpec {
    /// A citizen spec from its parts.
    pub fn new(
        user_id: impl Into<String>,
        full_name: impl Into<String>,
        scheme: SignatureScheme,
        behaviour: Behaviour,
    ) -> Self {
        Self {
            user_id: user_id.into(),
            full_name: full_name.into(),
            scheme,
            behaviour,
        }
    }
}

/// Everything a simulator instance is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// The `sp_id` the simulator accepts (VNPT's "Client ID").
    pub sp_id: String,
    /// The `sp_password` the simulator accepts (VNPT's "Client secret").
    pub sp_password: String,
    /// The subscribers the simulator knows. `user_id`s must be unique.
    pub citizens: Vec<CitizenSpec>,
    /// CA-side expiry: a transaction still waiting for the citizen after this long is `EXPIRED`.
    /// VNPT does not document its value; about 5 minutes is plausible (see the CA reference).
    pub transaction_ttl: Duration,
}

/// Default CA-side transaction lifetime.
pub const DEFAULT_TRANSACTION_TTL: Duration = Duration::from_secs(300);

impl SimConfig {
    /// The sandbox configuration: SP `kyso-sandbox-sp` / `sandbox-sp-secret` and five citizens,
    /// one per interesting behaviour and scheme:
    ///
    /// | user_id | name | scheme | behaviour |
    /// |---|---|---|---|
    /// | 001099000001 | Nguyễn Văn An | RSA PKCS#1 v1.5 | approves after 2 s |
    /// | 001099000002 | Trần Thị Bình | RSA PKCS#1 v1.5 | rejects after 2 s |
    /// | 001099000003 | Lê Văn Cường | RSA PKCS#1 v1.5 | manual |
    /// | 001099000004 | Phạm Thị Dung | ECDSA P-256, DER | approves after 2 s |
    /// | 001099000005 | Hoàng Văn Em | RSA-PSS | approves after 2 s |
    pub fn sandbox() -> Self {
        let two_s = Duration::from_secs(2);
        Self {
            sp_id: "kyso-sandbox-sp".to_owned(),
            sp_password: "sandbox-sp-secret".to_owned(),
            citizens: vec![
                CitizenSpec::new(
                    "001099000001",
                    "Nguyễn Văn An",
                    SignatureScheme::RsaPkcs1v15,
                    Behaviour::ApproveAfter(two_s),
                ),
                CitizenSpec::new(
                    "001099000002",
                    "Trần Thị Bình",
                    SignatureScheme::RsaPkcs1v15,
                    Behaviour::RejectAfter(two_s),
                ),
                CitizenSpec::new(
                    "001099000003",
                    "Lê Văn Cường",
                    SignatureScheme::RsaPkcs1v15,
                    Behaviour::Manual,
                ),
                CitizenSpec::new(
                    "001099000004",
                    "Phạm Thị Dung",
                    SignatureScheme::EcdsaDer,
                    Behaviour::ApproveAfter(two_s),
                ),
                CitizenSpec::new(
                    "001099000005",
                    "Hoàng Văn Em",
                    SignatureScheme::RsaPss,
                    Behaviour::ApproveAfter(two_s),
                ),
            ],
            transaction_ttl: DEFAULT_TRANSACTION_TTL,
        }
    }

    /// Checks what the simulator relies on: unique, non-empty `user_id`s.
    pub(crate) fn validate(&self) -> Result<(), String> {
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
