//! Sandbox mode: the whole gateway on one machine with nothing to set up. The VNPT SmartCA
//! simulator runs in-process with its own test PKI, the store is in memory, tokens are signed
//! with a key made at start, and one demo portal credential is configured.

use std::net::SocketAddr;

use kyso_adapter_core::{HashAlgorithm, KeyAlgorithm};
use kyso_sim_vnpt::{SimConfig, SimHandle};

use crate::auth::{generate_signing_key_pem, hash_secret};
use crate::config::{
    AdapterSettings, AuthSettings, ClientSettings, LimitSettings, ListenSettings, ProviderSettings,
    Settings, StoreSettings, TimeoutSettings, TransactionSettings,
};

/// The demo portal's client id.
pub const CLIENT_ID: &str = "sandbox-portal";
/// The demo portal's client secret: public, for the sandbox only.
pub const CLIENT_SECRET: &str = "sandbox-portal-secret";
/// The sandbox's token issuer.
pub const ISSUER: &str = "https://sandbox.kyso.invalid";
/// The sandbox's token audience.
pub const AUDIENCE: &str = "kyso-api";

/// Settings for a gateway in front of one simulated VNPT SmartCA.
pub fn settings(
    sim: &SimHandle,
    sp_id: &str,
    sp_password: &str,
    api: SocketAddr,
    admin: SocketAddr,
) -> Result<Settings, p256::pkcs8::Error> {
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
            clients: vec![ClientSettings {
                client_id: CLIENT_ID.to_owned(),
                secret_sha256: hash_secret(CLIENT_SECRET),
                scopes: ["certificates:read", "signatures:write", "signatures:read"]
                    .map(str::to_owned)
                    .to_vec(),
            }],
        },
        store: StoreSettings::Memory,
        transactions: TransactionSettings {
            poll_initial_ms: 500,
            poll_max_ms: 3000,
            ..TransactionSettings::default()
        },
        providers: vec![ProviderSettings {
            id: "vnpt".to_owned(),
            display_name: Some("VNPT SmartCA (simulator)".to_owned()),
            trust_anchors_pem: Some(sim.root_certificate_pem()),
            trust_anchors_pem_file: None,
            timeouts: TimeoutSettings::default(),
            limits: LimitSettings {
                max_documents: Some(20),
                // Short, so that the citizen who never answers shows an expiry soon.
                confirmation_timeout_secs: Some(120),
                // The simulator signs every digest size and holds RSA and P-256 keys.
                hash_algorithms: Some(HashAlgorithm::ALL.to_vec()),
                key_algorithms: Some(vec![KeyAlgorithm::Rsa, KeyAlgorithm::EcdsaP256]),
            },
            adapter: AdapterSettings::VnptSmartca(kyso_adapter_vnpt::VnptSettings {
                base_url: sim.base_url(),
                sp_id: sp_id.to_owned(),
                sp_password: sp_password.to_owned().into(),
            }),
        }],
    })
}

/// Starts the simulator with the sandbox citizens and returns it with the gateway settings.
pub async fn start(api: SocketAddr, admin: SocketAddr) -> anyhow::Result<(SimHandle, Settings)> {
    let config = SimConfig::sandbox();
    let (sp_id, sp_password) = (config.sp_id.clone(), config.sp_password.clone());
    let sim = kyso_sim_vnpt::spawn(config).await?;
    let settings = settings(&sim, &sp_id, &sp_password, api, admin)?;
    Ok((sim, settings))
}
