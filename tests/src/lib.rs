//! The end-to-end harness: a VNPT SmartCA simulator and a gateway in front of it, both on
//! free loopback ports, driven over real HTTP. No fixed ports, no shared global servers:
//! every test gets its own pair.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test harness: a failure should abort loudly
#![allow(unreachable_pub)] // used by the test binaries and benches

pub mod faulty_store;
pub mod gateway_process;
pub mod redis_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_adapter_core::HashAlgorithm;
use kyso_gateway::config::{
    AdmissionSettings, AuditSettings, ClientSettings, DocumentSettings, ResilienceSettings,
    RevocationSettings, Settings, StoreSettings,
};
use kyso_gateway::sandbox;
use kyso_gateway::services::auth::hash_secret;
use kyso_gateway::startup::Application;
use kyso_gateway::store::Store;
use kyso_gateway::verify::RevocationPolicy;
use kyso_sim_vnpt::{Behaviour, CitizenSpec, SignatureScheme, SimConfig, SimControl, SimHandle};
use serde_json::{Value, json};
use sha2::Digest as _;

/// A citizen signing with RSA PKCS#1 v1.5.
pub const RSA_CITIZEN: &str = "001099000001";
/// A citizen signing with RSA-PSS.
pub const PSS_CITIZEN: &str = "001099000005";
/// A citizen signing with ECDSA P-256, DER signatures.
pub const ECDSA_DER_CITIZEN: &str = "001099000004";
/// A citizen signing with ECDSA P-256, raw r||s signatures.
pub const ECDSA_RAW_CITIZEN: &str = "001099000006";
/// A well-formed CCCD number nobody at the CA holds.
pub const UNKNOWN_CITIZEN: &str = "079200000999";

/// A second portal, configured beside the sandbox's in every test gateway, with the same
/// scopes and the default admission limits.
pub const OTHER_CLIENT_ID: &str = "other-portal";
/// The second portal's client secret.
pub const OTHER_CLIENT_SECRET: &str = "other-portal-secret";

const SP_ID: &str = "kyso-test-sp";
const SP_PASSWORD: &str = "kyso-test-sp-password";

/// How long tests wait for something asynchronous, in milliseconds (`KYSO_TEST_PATIENCE_MS`).
pub fn patience() -> Duration {
    let millis = std::env::var("KYSO_TEST_PATIENCE_MS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(15_000);
    Duration::from_millis(millis)
}

/// What a test may change about the gateway and its simulated CA.
#[derive(Debug, Clone)]
pub struct TestConfig {
    /// How long citizens have to confirm, at the gateway.
    pub confirmation_timeout_secs: u64,
    /// The gateway's timeout for one CA call.
    pub request_timeout_ms: u64,
    /// Digest algorithms the provider accepts.
    pub hash_algorithms: Vec<HashAlgorithm>,
    /// The provider's batch limit.
    pub max_documents: usize,
    /// Trust anchors to configure instead of the simulator's own root.
    pub trust_anchors_pem: Option<String>,
    /// Where transactions live (memory unless a test brings a Redis).
    pub store: StoreSettings,
    /// Also configure a provider `offline` whose CA cannot be reached.
    pub offline_provider: bool,
    /// Also configure a provider `second` on a simulator of its own, with the same citizens
    /// ([`TestApp::second_ca`] scripts it).
    pub second_provider: bool,
    /// Circuit breaker, retries and concurrency cap of every provider.
    pub resilience: ResilienceSettings,
    /// Configure the CA's root as the national root (`trust.national_roots_pem`).
    pub ca_root_as_national_root: bool,
    /// The provider's revocation policy.
    pub revocation: RevocationPolicy,
    /// The gateway's revocation settings (timeout, in-memory cache size).
    pub revocation_settings: RevocationSettings,
    /// The admission limits; by default none a test reaches
    /// ([`sandbox::unlimited_admission`]).
    pub admission: AdmissionSettings,
    /// The audit trail's sink and pseudonymisation.
    pub audit: AuditSettings,
    /// Signed documents: size limits and the time-stamping authority.
    pub documents: DocumentSettings,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            confirmation_timeout_secs: 60,
            request_timeout_ms: 2000,
            hash_algorithms: HashAlgorithm::ALL.to_vec(),
            max_documents: 5,
            trust_anchors_pem: None,
            store: StoreSettings::Memory,
            offline_provider: false,
            second_provider: false,
            resilience: ResilienceSettings::default(),
            ca_root_as_national_root: false,
            revocation: RevocationPolicy::Required,
            revocation_settings: RevocationSettings::default(),
            admission: sandbox::unlimited_admission(),
            audit: AuditSettings::default(),
            documents: DocumentSettings::default(),
        }
    }
}

/// A running gateway with its simulator.
pub struct TestApp {
    /// `http://127.0.0.1:PORT` of the portal API.
    pub api: String,
    /// `http://127.0.0.1:PORT` of the admin listener.
    pub admin: String,
    /// An HTTP client.
    pub http: reqwest::Client,
    /// Scripts the simulated CA.
    pub ca: SimControl,
    /// The settings the gateway was built with (its token key among them).
    pub settings: Settings,
    /// The gateway instance.
    pub gateway: Gateway,
    /// Scripts the simulated CA of provider `second`, when configured.
    pub second_ca: Option<SimControl>,
    sim: std::sync::Arc<SimHandle>,
    second_sim: Option<std::sync::Arc<SimHandle>>,
}

impl TestConfig {
    /// The same configuration with retries of CA calls turned off, for tests that count the
    /// calls reaching the CA.
    #[must_use]
    pub fn no_retries(mut self) -> Self {
        self.resilience.retries.max_retries = 0;
        self
    }
}

/// The root certificate of a fresh simulator's PKI: a CA the gateway does not trust.
pub async fn foreign_root_pem() -> String {
    let sim = kyso_sim_vnpt::spawn(SimConfig {
        citizens: Vec::new(),
        ..SimConfig::sandbox()
    })
    .await
    .expect("simulator starts");
    sim.root_certificate_pem()
}

/// Every sandbox simulator started, and the sandbox's settings on free loopback ports with one
/// worker and fast polling.
pub async fn sandbox_for_tests() -> (sandbox::Sandbox, Settings) {
    let loopback = "127.0.0.1:0".parse().unwrap();
    let (simulators, mut settings) = sandbox::start(loopback, loopback).await.unwrap();
    settings.listen.workers = Some(1);
    settings.transactions.poll_initial_ms = 100;
    settings.transactions.poll_max_ms = 300;
    (simulators, settings)
}

/// A token of the sandbox's demo client, from the gateway at `api`.
pub async fn sandbox_token(http: &reqwest::Client, api: &str) -> String {
    let token: Value = http
        .post(format!("{api}/v1/oauth/token"))
        .basic_auth(sandbox::CLIENT_ID, Some(sandbox::CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["access_token"].as_str().unwrap().to_owned()
}

/// A gateway with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestConfig::default()).await
}

/// A gateway with the given settings, in front of a fresh simulator whose citizens all wait
/// for the test to approve, reject or expire their transactions.
pub async fn spawn_app_with(config: TestConfig) -> TestApp {
    spawn_app_inner(config, None).await
}

/// [`spawn_app_with`], the gateway on `store` (shared with other instances, or wrapped to
/// inject faults) instead of the one `config` names.
pub async fn spawn_app_on(config: TestConfig, store: Arc<dyn Store>) -> TestApp {
    spawn_app_inner(config, Some(store)).await
}

/// A VNPT SmartCA simulator whose citizens (every signature scheme) wait for the test to
/// approve, reject or expire their transactions.
async fn spawn_manual_sim() -> SimHandle {
    let manual = |user_id: &str, name: &str, scheme| {
        CitizenSpec::new(user_id, name, scheme, Behaviour::Manual)
    };
    kyso_sim_vnpt::spawn(SimConfig {
        sp_id: SP_ID.to_owned(),
        sp_password: SP_PASSWORD.to_owned(),
        citizens: vec![
            manual(RSA_CITIZEN, "Nguyễn Văn An", SignatureScheme::RsaPkcs1v15),
            manual(PSS_CITIZEN, "Hoàng Văn Em", SignatureScheme::RsaPss),
            manual(
                ECDSA_DER_CITIZEN,
                "Phạm Thị Dung",
                SignatureScheme::EcdsaDer,
            ),
            manual(ECDSA_RAW_CITIZEN, "Vũ Thị Giang", SignatureScheme::EcdsaRaw),
        ],
        transaction_ttl: Duration::from_secs(300),
    })
    .await
    .expect("simulator starts")
}

async fn spawn_app_inner(config: TestConfig, store: Option<Arc<dyn Store>>) -> TestApp {
    let sim = spawn_manual_sim().await;
    let loopback = "127.0.0.1:0".parse().unwrap();
    let mut settings =
        sandbox::settings(&sim, SP_ID, SP_PASSWORD, loopback, loopback).expect("settings");
    settings.listen.workers = Some(1);
    settings.transactions.poll_initial_ms = 20;
    settings.transactions.poll_max_ms = 100;
    settings.transactions.follow_lease_ms = 3000;
    settings.transactions.sweep_interval_ms = 200;
    settings.store = config.store.clone();
    settings.admission = config.admission.clone();
    let sandbox_client = &settings.auth.clients[0];
    settings.auth.clients.push(ClientSettings {
        client_id: OTHER_CLIENT_ID.to_owned(),
        secret_hash: Some(hash_secret(OTHER_CLIENT_SECRET).expect("a hash").into()),
        scopes: sandbox_client.scopes.clone(),
        ..ClientSettings::default()
    });
    let provider = &mut settings.providers[0];
    provider.timeouts.request_ms = config.request_timeout_ms;
    provider.limits.confirmation_timeout_secs = Some(config.confirmation_timeout_secs);
    provider.limits.hash_algorithms = Some(config.hash_algorithms.clone());
    provider.limits.max_documents = Some(config.max_documents);
    provider.revocation = config.revocation;
    provider.resilience = config.resilience.clone();
    settings.trust.revocation = config.revocation_settings.clone();
    settings.audit = config.audit.clone();
    settings.documents = config.documents.clone();
    if let Some(anchors) = config.trust_anchors_pem {
        provider.trust_anchors_pem = Some(anchors);
    }
    if config.ca_root_as_national_root {
        settings.trust.national_roots_pem = Some(sim.root_certificate_pem());
    }
    if config.offline_provider {
        let mut offline = settings.providers[0].clone();
        offline.id = "offline".to_owned();
        let kyso_gateway::config::AdapterSettings::VnptSmartca(vnpt) = &mut offline.adapter else {
            unreachable!("the test provider is a vnpt-smartca one");
        };
        // Port 1 on loopback: nothing listens there, the connection is refused at once.
        vnpt.base_url = "http://127.0.0.1:1/sca/sp769".to_owned();
        settings.providers.push(offline);
    }
    let second_sim = if config.second_provider {
        let second_sim = spawn_manual_sim().await;
        let mut second = kyso_gateway::sandbox::vnpt_provider(&second_sim, SP_ID, SP_PASSWORD);
        second.id = "second".to_owned();
        second.display_name = Some("Second CA (simulator)".to_owned());
        second.revocation = settings.providers[0].revocation;
        second.timeouts = settings.providers[0].timeouts.clone();
        second.limits = settings.providers[0].limits.clone();
        second.resilience = config.resilience.clone();
        settings.providers.push(second);
        Some(std::sync::Arc::new(second_sim))
    } else {
        None
    };
    let gateway = match store {
        Some(store) => Gateway::start_on(settings.clone(), store),
        None => Gateway::start(settings.clone()),
    };
    TestApp {
        api: gateway.api.clone(),
        admin: gateway.admin.clone(),
        http: reqwest::Client::new(),
        ca: sim.control(),
        settings,
        gateway,
        second_ca: second_sim.as_ref().map(|second| second.control()),
        sim: std::sync::Arc::new(sim),
        second_sim,
    }
}

/// One running gateway instance.
#[derive(Clone)]
pub struct Gateway {
    /// `http://127.0.0.1:PORT` of its portal API.
    pub api: String,
    /// `http://127.0.0.1:PORT` of its admin listener.
    pub admin: String,
    handle: kyso_gateway::startup::AppHandle,
}

impl Gateway {
    /// Builds and runs a gateway on the current runtime.
    pub fn start(settings: Settings) -> Self {
        Self::run(Application::build(settings).expect("gateway starts"))
    }

    /// Builds and runs a gateway on `store` instead of the one the settings name.
    pub fn start_on(settings: Settings, store: Arc<dyn Store>) -> Self {
        Self::run(Application::build_with_store(settings, store).expect("gateway starts"))
    }

    fn run(app: Application) -> Self {
        let gateway = Self {
            api: format!("http://{}", app.api_addr()),
            admin: format!("http://{}", app.admin_addr()),
            handle: app.handle(),
        };
        tokio::spawn(app.run_until_stopped());
        gateway
    }

    /// Stops the instance as a crash would: listeners closed, followers gone, leases left
    /// to run out.
    pub async fn kill(&self) {
        self.handle.crash().await;
    }
}

/// Base64 of the SHA-256 of `text`.
pub fn digest_of(text: &str) -> String {
    BASE64.encode(sha2::Sha256::digest(text.as_bytes()))
}

/// A signing request body for one document.
pub fn sign_body(user_id: &str, digest: &str) -> Value {
    json!({
        "provider": "vnpt",
        "user_id": user_id,
        "hash_algorithm": "sha256",
        "documents": [{"id": "doc-1", "name": "don-xin-cap-phep.pdf", "digest": digest}],
        "description": "Ký hồ sơ cấp phép xây dựng",
    })
}

impl TestApp {
    /// Another gateway instance with the same settings (same store, same CA, same keys).
    pub fn start_peer(&self) -> Gateway {
        Gateway::start(self.settings.clone())
    }

    /// Another gateway instance with the same settings, on `store`.
    pub fn start_peer_on(&self, store: Arc<dyn Store>) -> Gateway {
        Gateway::start_on(self.settings.clone(), store)
    }

    /// The same API calls, sent to another instance.
    pub fn via(&self, gateway: &Gateway) -> Self {
        Self {
            api: gateway.api.clone(),
            admin: gateway.admin.clone(),
            http: self.http.clone(),
            ca: self.ca.clone(),
            settings: self.settings.clone(),
            gateway: gateway.clone(),
            second_ca: self.second_ca.clone(),
            sim: self.sim.clone(),
            second_sim: self.second_sim.clone(),
        }
    }

    /// The simulator's base URL.
    pub fn ca_base_url(&self) -> String {
        self.sim.base_url()
    }

    /// A token with every scope of the sandbox client.
    pub async fn token(&self) -> String {
        self.token_with(None).await
    }

    /// A token for `scope` (all of the client's when `None`).
    pub async fn token_with(&self, scope: Option<&str>) -> String {
        token_from(&self.http, &self.api, scope).await
    }

    /// A token with every scope of the second portal ([`OTHER_CLIENT_ID`]).
    pub async fn other_token(&self) -> String {
        client_token(
            &self.http,
            &self.api,
            OTHER_CLIENT_ID,
            OTHER_CLIENT_SECRET,
            None,
        )
        .await
    }

    /// `GET` on the API with a bearer token.
    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.api))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/signatures` with an idempotency key.
    pub async fn post_signature(&self, token: &str, key: &str, body: &Value) -> reqwest::Response {
        post_signature_at(&self.http, &self.api, token, key, body).await
    }

    /// Creates a transaction that must be accepted, and returns its id.
    pub async fn create_transaction(&self, token: &str, body: &Value) -> String {
        create_transaction_at(&self.http, &self.api, token, body).await
    }

    /// `POST /v1/signatures/{id}/cancel`.
    pub async fn cancel(&self, token: &str, transaction_id: &str) -> reqwest::Response {
        self.http
            .post(format!(
                "{}/v1/signatures/{transaction_id}/cancel",
                self.api
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Polls the transaction until it is no longer pending.
    pub async fn wait_until_final(&self, token: &str, transaction_id: &str) -> Value {
        wait_until_final(&self.http, &self.api, token, transaction_id).await
    }

    /// `GET /readyz` on the admin listener: the status code and the body.
    pub async fn readiness(&self) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}/readyz", self.admin))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// The gateway's `/metrics` text.
    pub async fn metrics(&self) -> String {
        metrics_at(&self.http, &self.admin).await
    }
}

/// `POST /v1/signatures` on the API at `api`, with an idempotency key.
pub async fn post_signature_at(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    http.post(format!("{api}/v1/signatures"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Creates a transaction through the API at `api` that must be accepted, and returns its
/// id.
pub async fn create_transaction_at(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    body: &Value,
) -> String {
    let key = uuid::Uuid::new_v4().to_string();
    let response = post_signature_at(http, api, token, &key, body).await;
    let status = response.status();
    let json: Value = response.json().await.unwrap();
    assert_eq!(status, 202, "{json}");
    assert_eq!(json["status"], "pending");
    json["transaction_id"].as_str().unwrap().to_owned()
}

/// The `/metrics` text of the admin listener at `admin`.
pub async fn metrics_at(http: &reqwest::Client, admin: &str) -> String {
    http.get(format!("{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A token of the sandbox client from the API at `api`, for `scope` (all of the client's
/// when `None`).
pub async fn token_from(http: &reqwest::Client, api: &str, scope: Option<&str>) -> String {
    client_token(http, api, sandbox::CLIENT_ID, sandbox::CLIENT_SECRET, scope).await
}

/// A token of the client `client_id` from the API at `api`, for `scope` (all of the
/// client's when `None`).
pub async fn client_token(
    http: &reqwest::Client,
    api: &str,
    client_id: &str,
    client_secret: &str,
    scope: Option<&str>,
) -> String {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", client_secret),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let response = http
        .post(format!("{api}/v1/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The `kyso_pending_transactions` gauge of the `vnpt` provider in a `/metrics` text: how
/// many transactions that instance follows now.
pub fn followed_transactions(metrics: &str) -> i64 {
    metrics
        .lines()
        .find(|line| line.starts_with("kyso_pending_transactions{provider=\"vnpt\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .expect("a kyso_pending_transactions gauge for vnpt")
}

/// Polls a transaction on the API at `api` until it is no longer pending.
pub async fn wait_until_final(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    transaction_id: &str,
) -> Value {
    let deadline = Instant::now() + patience();
    loop {
        let response = http
            .get(format!("{api}/v1/signatures/{transaction_id}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let json: Value = response.json().await.unwrap();
        if json["status"] != "pending" {
            return json;
        }
        assert!(
            Instant::now() < deadline,
            "transaction {transaction_id} still pending"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Asserts the documented error shape and code, and returns the body.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    let actual = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .map(|value| value.to_str().unwrap().to_owned());
    let retry_after = response.headers().contains_key("retry-after");
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(actual, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(body["error"]["retryable"].is_boolean());
    assert_eq!(
        body["error"]["retryable"] == true,
        retry_after,
        "Retry-After goes with retryable errors only: {body}"
    );
    assert_eq!(
        body["error"]["request_id"].as_str(),
        request_id.as_deref(),
        "the body's request_id is the X-Request-Id header"
    );
    body
}
