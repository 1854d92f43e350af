//! Sandbox mode: the whole gateway on one machine with nothing to set up. A simulator of
//! every supported CA runs in-process with its own test PKI (VNPT SmartCA, Viettel MySign,
//! MISA eSign, FPT eSignCloud, a QĐ 769 CA, the NEAC gateway in front of two more, and a CSC
//! API v2 service), and so does an RFC 3161 time-stamping authority for B-T signatures
//! ([`TsaSimulator`], which the test harness starts too). The
//! store is in memory, tokens are signed with a key made at start, and one demo portal
//! credential is configured. The citizen `001099000001` holds a certificate at every CA.

use std::net::SocketAddr;

use actix_web::web;
use kyso_adapter_core::{HashAlgorithm, KeyAlgorithm};
use kyso_adapter_qd769::{HashEncoding, NeacCredential, NeacSettings, Qd769Settings};
use kyso_sim_kit::{SimServer, TestPki, TimeStampAuthority, tsa};

use crate::config::{
    AdapterSettings, AdmissionSettings, AuditSettings, AuthSettings, CitizenRateSettings,
    ClientRateSettings, ClientSettings, DocumentSettings, LimitSettings, ListenSettings,
    ProviderSettings, ResilienceSettings, Settings, StoreSettings, TimeStampingSettings,
    TimeoutSettings, TransactionSettings, TrustSettings,
};
use crate::services::auth::{generate_signing_key_pem, hash_secret};
use crate::verify::RevocationPolicy;

/// The demo portal's client id.
pub const CLIENT_ID: &str = "sandbox-portal";
/// The demo portal's client secret: public, for the sandbox only.
pub const CLIENT_SECRET: &str = "sandbox-portal-secret";
/// The sandbox's token issuer.
pub const ISSUER: &str = "https://sandbox.kyso.invalid";
/// The sandbox's token audience.
pub const AUDIENCE: &str = "kyso-api";
/// New signing requests per sandbox citizen: enough to try every provider in a row, still
/// low enough to see `citizen_rate_limited`.
const SANDBOX_CITIZEN_RATE: CitizenRateSettings = CitizenRateSettings {
    max_requests: 20,
    window_secs: 60,
};
/// How long sandbox citizens have to confirm: short, so that expiries show soon.
const CONFIRMATION_TIMEOUT_SECS: u64 = 120;
/// The common name of the sandbox's time-stamping authority.
const TSA_NAME: &str = "Kyso Sandbox TSA";

/// Gateway settings with the sandbox's portal credential and no provider yet.
pub fn base_settings(api: SocketAddr, admin: SocketAddr) -> anyhow::Result<Settings> {
    Ok(Settings {
        listen: ListenSettings {
            api,
            admin,
            workers: None,
        },
        auth: AuthSettings {
            issuer: ISSUER.to_owned(),
            audience: AUDIENCE.to_owned(),
            token_ttl_secs: 3600,
            signing_key_pem: Some(generate_signing_key_pem()?.into()),
            signing_key_pem_file: None,
            signing_keys: Vec::new(),
            clients: vec![ClientSettings {
                client_id: CLIENT_ID.to_owned(),
                secret_hash: Some(hash_secret(CLIENT_SECRET)?.into()),
                scopes: ["certificates:read", "signatures:write", "signatures:read"]
                    .map(str::to_owned)
                    .to_vec(),
                ..ClientSettings::default()
            }],
        },
        store: StoreSettings::Memory,
        transactions: TransactionSettings {
            poll_initial_ms: 500,
            poll_max_ms: 3000,
            ..TransactionSettings::default()
        },
        trust: TrustSettings::default(),
        providers: Vec::new(),
        admission: AdmissionSettings {
            per_citizen: SANDBOX_CITIZEN_RATE,
            ..AdmissionSettings::default()
        },
        audit: AuditSettings::default(),
        documents: DocumentSettings::default(),
    })
}

/// Admission limits no test or load run reaches, for those that measure or exercise
/// something else (one portal signing many times for a handful of citizens).
pub fn unlimited_admission() -> AdmissionSettings {
    AdmissionSettings {
        per_client: ClientRateSettings {
            requests_per_second: 1_000_000,
            burst: 1_000_000,
        },
        per_citizen: CitizenRateSettings {
            max_requests: 1_000_000,
            window_secs: 1,
        },
        max_pending_per_client: 1_000_000,
    }
}

/// A provider on a simulator that trusts the simulator's root.
fn provider(
    id: &str,
    display_name: &str,
    root_pem: String,
    adapter: AdapterSettings,
) -> ProviderSettings {
    ProviderSettings {
        id: id.to_owned(),
        display_name: Some(display_name.to_owned()),
        trust_anchors_pem: Some(root_pem),
        trust_anchors_pem_file: None,
        revocation: RevocationPolicy::Required,
        timeouts: TimeoutSettings::default(),
        limits: LimitSettings {
            confirmation_timeout_secs: Some(CONFIRMATION_TIMEOUT_SECS),
            ..LimitSettings::default()
        },
        resilience: ResilienceSettings::default(),
        adapter,
    }
}

/// The provider `vnpt` on a VNPT SmartCA simulator, which signs every digest size with RSA
/// and P-256 keys.
pub fn vnpt_provider(
    sim: &kyso_sim_vnpt::SimHandle,
    sp_id: &str,
    sp_password: &str,
) -> ProviderSettings {
    let mut vnpt = provider(
        "vnpt",
        "VNPT SmartCA (simulator)",
        sim.root_certificate_pem(),
        AdapterSettings::VnptSmartca(kyso_adapter_vnpt::VnptSettings {
            base_url: sim.base_url(),
            sp_id: sp_id.to_owned(),
            sp_password: sp_password.to_owned().into(),
        }),
    );
    vnpt.limits.max_documents = Some(20);
    vnpt.limits.hash_algorithms = Some(HashAlgorithm::ALL.to_vec());
    vnpt.limits.key_algorithms = Some(vec![KeyAlgorithm::Rsa, KeyAlgorithm::EcdsaP256]);
    vnpt
}

/// Settings for a gateway in front of one simulated VNPT SmartCA (tests and benches).
pub fn settings(
    sim: &kyso_sim_vnpt::SimHandle,
    sp_id: &str,
    sp_password: &str,
    api: SocketAddr,
    admin: SocketAddr,
) -> anyhow::Result<Settings> {
    let mut settings = base_settings(api, admin)?;
    settings
        .providers
        .push(vnpt_provider(sim, sp_id, sp_password));
    Ok(settings)
}

/// A simulated RFC 3161 time-stamping authority, under a test PKI of its own, served on a
/// free loopback port. Dropping it stops the server; [`TsaSimulator::stop`] waits for it.
pub struct TsaSimulator {
    authority: web::Data<TimeStampAuthority>,
    server: SimServer,
}

impl TsaSimulator {
    /// Makes a PKI whose root is `<common_name> Root` and the TSA `common_name` under it (off
    /// the async executor: generating keys is CPU work), and serves the TSA.
    ///
    /// # Errors
    /// Generating the keys and certificates fails, or the server cannot listen.
    pub async fn start(common_name: &str) -> anyhow::Result<Self> {
        let name = common_name.to_owned();
        let authority = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let pki = TestPki::builder(format!("{name} Root")).build()?;
            Ok(TimeStampAuthority::new(&pki, &name)?)
        })
        .await??;
        let authority = web::Data::new(authority);
        let server = SimServer::start_local("TSA", tsa::configure(authority.clone()))?;
        Ok(Self { authority, server })
    }

    /// Where time-stamp queries go (`http://127.0.0.1:PORT/tsa`).
    pub fn url(&self) -> String {
        self.server.url(tsa::TSA_PATH)
    }

    /// The TSA itself: its certificates, its faults, the requests it received.
    pub fn authority(&self) -> &web::Data<TimeStampAuthority> {
        &self.authority
    }

    /// Settings for a gateway that time-stamps with this TSA and trusts its root.
    pub fn settings(&self) -> TimeStampingSettings {
        TimeStampingSettings::new(self.url(), self.authority.root().pem.clone())
    }

    /// Stops the server and waits until it is down.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Every simulated CA of the sandbox, and its TSA, running.
pub struct Sandbox {
    vnpt: kyso_sim_vnpt::SimHandle,
    viettel: kyso_sim_viettel::SimHandle,
    misa: kyso_sim_misa::SimHandle,
    fpt: kyso_sim_fpt::SimHandle,
    bkav: kyso_sim_qd769::SimHandle,
    neac: kyso_sim_qd769::SimHandle,
    csc: kyso_sim_csc::SimHandle,
    tsa: TsaSimulator,
    credentials: SimCredentials,
}

/// The credentials each simulator was started with.
struct SimCredentials {
    vnpt: kyso_sim_vnpt::SimConfig,
    viettel: kyso_sim_viettel::SimConfig,
    misa: kyso_sim_misa::SimConfig,
    csc: kyso_sim_csc::SimConfig,
}

impl Sandbox {
    /// Starts every simulator, all at once.
    ///
    /// # Errors
    /// A simulator cannot start.
    pub async fn start() -> anyhow::Result<Self> {
        let credentials = SimCredentials {
            vnpt: kyso_sim_vnpt::SimConfig::sandbox(),
            viettel: kyso_sim_viettel::SimConfig::sandbox(),
            misa: kyso_sim_misa::SimConfig::sandbox(),
            csc: kyso_sim_csc::SimConfig::sandbox(),
        };
        let (vnpt, viettel, misa, fpt, bkav, neac, csc, tsa) = tokio::try_join!(
            async { Ok::<_, anyhow::Error>(kyso_sim_vnpt::spawn(credentials.vnpt.clone()).await?) },
            async { Ok(kyso_sim_viettel::spawn(credentials.viettel.clone()).await?) },
            async { Ok(kyso_sim_misa::spawn(credentials.misa.clone()).await?) },
            async { Ok(kyso_sim_fpt::spawn(kyso_sim_fpt::SimConfig::sandbox()).await?) },
            async { Ok(kyso_sim_qd769::spawn(kyso_sim_qd769::SimConfig::sandbox_bkav()).await?) },
            async { Ok(kyso_sim_qd769::spawn(kyso_sim_qd769::SimConfig::sandbox_neac()).await?) },
            async { Ok(kyso_sim_csc::spawn(credentials.csc.clone()).await?) },
            TsaSimulator::start(TSA_NAME),
        )?;
        Ok(Self {
            vnpt,
            viettel,
            misa,
            fpt,
            bkav,
            neac,
            csc,
            tsa,
            credentials,
        })
    }

    /// A provider for every simulated CA.
    pub fn providers(&self) -> anyhow::Result<Vec<ProviderSettings>> {
        let vnpt = &self.credentials.vnpt;
        let viettel = &self.credentials.viettel;
        let misa = &self.credentials.misa;
        let rp_key = self
            .fpt
            .relying_party_key_pem()
            .ok_or_else(|| anyhow::anyhow!("the FPT simulator made no relying-party key"))?;
        let neac = |ca_name: &str, encoding: HashEncoding| {
            let mut settings = NeacSettings::new(
                self.neac.base_url(),
                kyso_sim_qd769::SANDBOX_NEAC_SP_ID,
                NeacCredential::Password(
                    kyso_sim_qd769::SANDBOX_NEAC_SP_PASSWORD.to_owned().into(),
                ),
                ca_name,
            );
            settings.hash_encoding = encoding;
            AdapterSettings::Neac(settings)
        };
        Ok(vec![
            vnpt_provider(&self.vnpt, &vnpt.sp_id, &vnpt.sp_password),
            provider(
                "viettel",
                "Viettel MySign (simulator)",
                self.viettel.root_certificate_pem(),
                AdapterSettings::ViettelMysign(kyso_adapter_viettel::ViettelSettings::new(
                    self.viettel.base_url(),
                    viettel.client_id.clone(),
                    viettel.client_secret.clone().into(),
                    viettel.profile_id.clone(),
                )),
            ),
            provider(
                "misa",
                "MISA eSign (simulator)",
                self.misa.root_certificate_pem(),
                AdapterSettings::MisaEsign(kyso_adapter_misa::MisaSettings {
                    base_url: self.misa.base_url(),
                    auth_base_url: None,
                    client_id: misa.client_id.clone(),
                    client_key: misa.client_key.clone().into(),
                    username: misa.username.clone(),
                    password: misa.password.clone().into(),
                }),
            ),
            provider(
                "fpt",
                "FPT-CA eSignCloud (simulator)",
                self.fpt.root_certificate_pem(),
                AdapterSettings::FptEsigncloud(kyso_adapter_fpt::FptSettings {
                    base_url: self.fpt.base_url(),
                    relying_party: kyso_sim_fpt::SANDBOX_RELYING_PARTY.to_owned(),
                    relying_party_user: kyso_sim_fpt::SANDBOX_RP_USER.to_owned(),
                    relying_party_password: kyso_sim_fpt::SANDBOX_RP_PASSWORD.to_owned().into(),
                    relying_party_signature: kyso_sim_fpt::SANDBOX_RP_SIGNATURE.to_owned().into(),
                    relying_party_key_pem: rp_key.into(),
                    agreement_uuid_template: kyso_adapter_fpt::USER_ID_PLACEHOLDER.to_owned(),
                    // eSignCloud sends no chain with the citizen's certificate.
                    issuer_certificates_pem: Some(self.fpt.pinned_chain_pem()),
                }),
            ),
            provider(
                "bkav",
                "BKAV-CA, QĐ 769 (simulator)",
                self.bkav.root_certificate_pem(),
                AdapterSettings::Qd769(Qd769Settings::new(
                    self.bkav.base_url(),
                    kyso_sim_qd769::SANDBOX_BKAV_SP_ID,
                    kyso_sim_qd769::SANDBOX_BKAV_SP_PASSWORD.to_owned().into(),
                )),
            ),
            provider(
                "neac-fpt",
                "FPT-CA through NEAC (simulator)",
                self.neac.root_certificate_pem(),
                neac("FPT-CA", HashEncoding::Base64),
            ),
            provider(
                "neac-ca2",
                "CA2 through NEAC (simulator)",
                self.neac.root_certificate_pem(),
                neac("CA2", HashEncoding::Hex),
            ),
            provider(
                "csc",
                "CSC API v2 service (simulator)",
                self.csc.root_certificate_pem(),
                AdapterSettings::CscV2(kyso_adapter_csc::CscSettings {
                    base_url: self.csc.base_url(),
                    client_id: self.credentials.csc.client_id.clone(),
                    client_secret: self.credentials.csc.client_secret.clone().into(),
                    user_id_template: kyso_adapter_csc::UserIdTemplate::default(),
                }),
            ),
        ])
    }

    /// The gateway's time-stamping settings: the sandbox TSA, its root trusted.
    pub fn time_stamping(&self) -> TimeStampingSettings {
        self.tsa.settings()
    }

    /// Each simulator's name and base URL (the TSA's: where queries go), to show people.
    pub fn simulators(&self) -> Vec<(&'static str, String)> {
        vec![
            ("VNPT SmartCA", self.vnpt.base_url()),
            ("Viettel MySign", self.viettel.base_url()),
            ("MISA eSign", self.misa.base_url()),
            ("FPT eSignCloud", self.fpt.base_url()),
            ("BKAV-CA (QĐ 769)", self.bkav.base_url()),
            ("NEAC gateway", self.neac.base_url()),
            ("CSC API v2", self.csc.base_url()),
            ("TSA (RFC 3161)", self.tsa.url()),
        ]
    }

    /// Stops every simulator.
    pub async fn stop(self) {
        self.vnpt.stop().await;
        self.viettel.stop().await;
        self.misa.stop().await;
        self.fpt.stop().await;
        self.bkav.stop().await;
        self.neac.stop().await;
        self.csc.stop().await;
        self.tsa.stop().await;
    }
}

/// Starts every simulator and returns them with the gateway settings: a provider for every
/// CA, and the sandbox TSA for time-stamps.
pub async fn start(api: SocketAddr, admin: SocketAddr) -> anyhow::Result<(Sandbox, Settings)> {
    let sandbox = Sandbox::start().await?;
    let mut settings = base_settings(api, admin)?;
    settings.providers = sandbox.providers()?;
    settings.documents.time_stamping = Some(sandbox.time_stamping());
    Ok((sandbox, settings))
}
