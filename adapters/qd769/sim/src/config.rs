//! What a simulator is started with: its role (a direct 769 CA or the NEAC gateway), the SP
//! credentials it accepts, its rendering of the protocol, the CAs it serves with their
//! citizens, and the CA-side transaction lifetime.

use std::time::Duration;

use kyso_sim_kit::Behaviour;
use serde::Serialize;

/// Which role the simulator plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum SimMode {
    /// One CA speaking QĐ 769 directly; a `ca_name` in a body is ignored.
    #[serde(rename = "769")]
    Qd769,
    /// The NEAC eSign gateway: every body must name one of the configured CAs in `ca_name`.
    #[serde(rename = "neac")]
    Neac,
}

/// How `data_to_be_signed` is written (per CA).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HashEncoding {
    /// Hexadecimal, either case ("hex for hash", the letter of 769).
    #[default]
    Hex,
    /// Standard base64.
    Base64,
}

/// Where `sign_files[]` entries must carry `file_type` and `sign_type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileOptionsLayout {
    /// In the entry itself (VNPT, NEAC client code). An entry with `file_options` is refused.
    #[default]
    Flat,
    /// In `file_options {file_type, sign_type}` (Laverca). An entry without it is refused.
    Nested,
}

/// How `chain_data` is rendered in certificate answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainLayout {
    /// An array of base64 certificates, issuing CA first, then the root (Laverca).
    #[default]
    Array,
    /// The object `{ca_cert, root_cert}` (VNPT).
    Object,
}

/// How `sign` answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignMode {
    /// At once with `sig_wait_for_user_confirm`; the outcome is read from the status endpoint.
    #[default]
    Async,
    /// Only once the citizen has decided (or the transaction expired), with `signed_files`
    /// when approved. The status endpoint still answers for the transaction.
    Sync,
}

/// The CA endpoints' paths (actix patterns). The status path may contain `{transaction_id}`;
/// without it, the id is read from the body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SimPaths {
    /// Certificate look-up.
    pub get_certificate: String,
    /// Signing request.
    pub sign: String,
    /// Transaction status.
    pub status: String,
}

impl SimPaths {
    /// A direct 769 CA's paths: `/get_certificate`, `/sign`, `/sign/{transaction_id}/status`.
    pub fn qd769() -> Self {
        Self {
            get_certificate: "/get_certificate".to_owned(),
            sign: "/sign".to_owned(),
            status: "/sign/{transaction_id}/status".to_owned(),
        }
    }

    /// NEAC's paths: `/sign_v2/get_certificate`, `/sign_v2/sign`,
    /// `/sign_v2/sign/{transaction_id}/status` (the last is not public; the simulator's choice).
    pub fn neac() -> Self {
        Self {
            get_certificate: "/sign_v2/get_certificate".to_owned(),
            sign: "/sign_v2/sign".to_owned(),
            status: "/sign_v2/sign/{transaction_id}/status".to_owned(),
        }
    }
}

/// What the CA says of a citizen's certificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    /// In operation ("Đang hoạt động"): it signs.
    #[default]
    Active,
    /// Suspended ("Tạm dừng"): listed, but `sign` answers 403 `CREDENTIAL_STATUS_INVALID`.
    Suspended,
}

/// One subscriber of a simulated CA. Each gets a fresh RSA-2048 key and certificate at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenSpec {
    /// The `user_id` the SP sends: a 12-digit CCCD number in the sandbox.
    pub user_id: String,
    /// Full name, the certificate's CN.
    pub full_name: String,
    /// What the citizen does with signing requests.
    pub behaviour: Behaviour,
    /// Whether the certificate can sign.
    pub certificate_status: CertificateStatus,
}

impl CitizenSpec {
    /// An active citizen.
    pub fn new(
        user_id: impl Into<String>,
        full_name: impl Into<String>,
        behaviour: Behaviour,
    ) -> Self {
        Self {
            user_id: user_id.into(),
            full_name: full_name.into(),
            behaviour,
            certificate_status: CertificateStatus::Active,
        }
    }

    /// The same citizen with a suspended certificate.
    #[must_use]
    pub fn suspended(mut self) -> Self {
        self.certificate_status = CertificateStatus::Suspended;
        self
    }
}

/// One simulated CA: its name (NEAC's `ca_name`), its issuing CA and its citizens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaSpec {
    /// The CA's name, e.g. `BKAV-CA`, `FPT-CA`: the `ca_name` NEAC routes by, and the CN of its
    /// issuing certificate (`<name> (Kyso sandbox)`).
    pub name: String,
    /// How this CA reads `data_to_be_signed`.
    pub hash_encoding: HashEncoding,
    /// Its subscribers; `user_id`s unique within the CA (a citizen may hold certificates at
    /// several CAs).
    pub citizens: Vec<CitizenSpec>,
}

impl CaSpec {
    /// A CA reading hex digests.
    pub fn new(name: impl Into<String>, citizens: Vec<CitizenSpec>) -> Self {
        Self {
            name: name.into(),
            hash_encoding: HashEncoding::Hex,
            citizens,
        }
    }

    /// The same CA reading `encoding`.
    #[must_use]
    pub fn with_hash_encoding(mut self, encoding: HashEncoding) -> Self {
        self.hash_encoding = encoding;
        self
    }
}

/// Everything a simulator instance is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Direct 769 CA or NEAC.
    pub mode: SimMode,
    /// The `sp_id` accepted.
    pub sp_id: String,
    /// The `sp_password` accepted.
    pub sp_password: String,
    /// A `token` accepted instead of `sp_password` (NEAC issues either), if any.
    pub token: Option<String>,
    /// The CAs served: exactly one in [`SimMode::Qd769`], one or more (distinct names) in
    /// [`SimMode::Neac`].
    pub cas: Vec<CaSpec>,
    /// Where `file_type`/`sign_type` must be.
    pub file_options: FileOptionsLayout,
    /// How `chain_data` is rendered.
    pub chain_data: ChainLayout,
    /// Whether `sign` answers at once or when the citizen has decided.
    pub sign_mode: SignMode,
    /// The CA endpoints' paths.
    pub paths: SimPaths,
    /// CA-side expiry of a transaction nobody decided.
    pub transaction_ttl: Duration,
}

/// Default CA-side transaction lifetime (769 documents none; VNPT's is about five minutes).
pub const DEFAULT_TRANSACTION_TTL: Duration = Duration::from_secs(300);

/// The sandbox SP id of [`SimConfig::sandbox_bkav`].
pub const SANDBOX_BKAV_SP_ID: &str = "kyso-sandbox-bkav";
/// The sandbox SP password of [`SimConfig::sandbox_bkav`] (public: sandbox only).
pub const SANDBOX_BKAV_SP_PASSWORD: &str = "sandbox-bkav-secret";
/// The sandbox SP id of [`SimConfig::sandbox_neac`].
pub const SANDBOX_NEAC_SP_ID: &str = "kyso-sandbox-neac";
/// The sandbox SP password of [`SimConfig::sandbox_neac`] (public: sandbox only).
pub const SANDBOX_NEAC_SP_PASSWORD: &str = "sandbox-neac-secret";
/// The sandbox token of [`SimConfig::sandbox_neac`], accepted instead of the password.
pub const SANDBOX_NEAC_TOKEN: &str = "sandbox-neac-token";

impl SimConfig {
    /// A direct 769 CA with the default rendering (hex, flat file options, array chain, async
    /// sign, [`SimPaths::qd769`]).
    pub fn qd769(sp_id: impl Into<String>, sp_password: impl Into<String>, ca: CaSpec) -> Self {
        Self {
            mode: SimMode::Qd769,
            sp_id: sp_id.into(),
            sp_password: sp_password.into(),
            token: None,
            cas: vec![ca],
            file_options: FileOptionsLayout::Flat,
            chain_data: ChainLayout::Array,
            sign_mode: SignMode::Async,
            paths: SimPaths::qd769(),
            transaction_ttl: DEFAULT_TRANSACTION_TTL,
        }
    }

    /// The NEAC gateway in front of `cas`, with the rendering seen in NEAC client code (flat
    /// file options) and [`SimPaths::neac`].
    pub fn neac(
        sp_id: impl Into<String>,
        sp_password: impl Into<String>,
        cas: Vec<CaSpec>,
    ) -> Self {
        Self {
            mode: SimMode::Neac,
            sp_id: sp_id.into(),
            sp_password: sp_password.into(),
            token: None,
            cas,
            file_options: FileOptionsLayout::Flat,
            chain_data: ChainLayout::Array,
            sign_mode: SignMode::Async,
            paths: SimPaths::neac(),
            transaction_ttl: DEFAULT_TRANSACTION_TTL,
        }
    }

    /// The sandbox's direct 769 CA, `BKAV-CA`, with the default rendering (hex digests, flat
    /// file options, chain array, asynchronous sign). SP `kyso-sandbox-bkav` /
    /// `sandbox-bkav-secret`.
    ///
    /// | user_id | name | behaviour |
    /// |---|---|---|
    /// | 001099000001 | Nguyễn Văn An | approves after 2 s |
    /// | 001099000002 | Trần Thị Bình | rejects after 2 s |
    /// | 001099000003 | Lê Văn Cường | manual |
    /// | 001099000006 | Đỗ Thị Hoa | approves after 2 s, certificate suspended (sign is 403) |
    pub fn sandbox_bkav() -> Self {
        let two_s = Duration::from_secs(2);
        Self::qd769(
            SANDBOX_BKAV_SP_ID,
            SANDBOX_BKAV_SP_PASSWORD,
            CaSpec::new(
                "BKAV-CA",
                vec![
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
                    CitizenSpec::new("001099000006", "Đỗ Thị Hoa", Behaviour::ApproveAfter(two_s))
                        .suspended(),
                ],
            ),
        )
    }

    /// The sandbox's NEAC gateway, with two CAs behind it, each with its own issuing CA under
    /// one national root. SP `kyso-sandbox-neac` with `sandbox-neac-secret` or the token
    /// `sandbox-neac-token`.
    ///
    /// | ca_name | hash encoding | user_id | name | behaviour |
    /// |---|---|---|---|---|
    /// | FPT-CA | base64 | 001099000001 | Nguyễn Văn An | approves after 2 s |
    /// | FPT-CA | base64 | 001099000002 | Trần Thị Bình | rejects after 2 s |
    /// | FPT-CA | base64 | 001099000004 | Phạm Thị Dung | manual |
    /// | CA2 | hex | 001099000001 | Nguyễn Văn An | approves after 2 s |
    /// | CA2 | hex | 001099000005 | Hoàng Văn Em | approves after 2 s |
    ///
    /// FPT-CA reads base64 because that is what was seen sent to NEAC for it; a provider for it
    /// must say `hash_encoding: base64`.
    pub fn sandbox_neac() -> Self {
        let two_s = Duration::from_secs(2);
        let an = CitizenSpec::new(
            "001099000001",
            "Nguyễn Văn An",
            Behaviour::ApproveAfter(two_s),
        );
        let mut config = Self::neac(
            SANDBOX_NEAC_SP_ID,
            SANDBOX_NEAC_SP_PASSWORD,
            vec![
                CaSpec::new(
                    "FPT-CA",
                    vec![
                        an.clone(),
                        CitizenSpec::new(
                            "001099000002",
                            "Trần Thị Bình",
                            Behaviour::RejectAfter(two_s),
                        ),
                        CitizenSpec::new("001099000004", "Phạm Thị Dung", Behaviour::Manual),
                    ],
                )
                .with_hash_encoding(HashEncoding::Base64),
                CaSpec::new(
                    "CA2",
                    vec![
                        an,
                        CitizenSpec::new(
                            "001099000005",
                            "Hoàng Văn Em",
                            Behaviour::ApproveAfter(two_s),
                        ),
                    ],
                ),
            ],
        );
        config.token = Some(SANDBOX_NEAC_TOKEN.to_owned());
        config
    }

    /// Checks what the simulator relies on.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self.mode {
            SimMode::Qd769 if self.cas.len() != 1 => {
                return Err("a direct 769 CA serves exactly one CA".to_owned());
            }
            SimMode::Neac if self.cas.is_empty() => {
                return Err("NEAC needs at least one CA behind it".to_owned());
            }
            _ => {}
        }
        let mut names = std::collections::HashSet::new();
        for ca in &self.cas {
            if self.mode == SimMode::Neac && ca.name.trim().is_empty() {
                return Err("a CA behind NEAC has an empty name".to_owned());
            }
            if !names.insert(ca.name.as_str()) {
                return Err(format!("CA {} appears twice", ca.name));
            }
            let mut users = std::collections::HashSet::new();
            for citizen in &ca.citizens {
                if citizen.user_id.is_empty() {
                    return Err(format!("a citizen of {} has an empty user_id", ca.name));
                }
                if !users.insert(citizen.user_id.as_str()) {
                    return Err(format!(
                        "user_id {} appears twice at {}",
                        citizen.user_id, ca.name
                    ));
                }
            }
        }
        let paths = [
            &self.paths.get_certificate,
            &self.paths.sign,
            &self.paths.status,
        ];
        for path in paths {
            if !path.starts_with('/') || path.starts_with("/_sim") {
                return Err(format!(
                    "path {path:?} must start with / and not be under /_sim"
                ));
            }
            let without_placeholder = path.replace("{transaction_id}", "");
            if without_placeholder.contains(['{', '}']) {
                return Err(format!(
                    "path {path:?} may only contain the placeholder {{transaction_id}}"
                ));
            }
        }
        if self.paths.get_certificate.contains('{') || self.paths.sign.contains('{') {
            return Err("only the status path may contain {transaction_id}".to_owned());
        }
        if self.paths.get_certificate == self.paths.sign
            || self.paths.get_certificate == self.paths.status
            || self.paths.sign == self.paths.status
        {
            return Err("the three paths must differ".to_owned());
        }
        Ok(())
    }
}
