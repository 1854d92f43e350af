//! Configuration: the YAML file a deployment writes, parsed into typed settings.
//!
//! Any string of the form `${NAME}` anywhere in the file is replaced by the environment
//! variable `NAME` before parsing, so secrets (CA credentials, key material) can stay out of
//! the file. Unknown fields are errors: a typo must not silently fall back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use kyso_adapter_core::{HashAlgorithm, KeyAlgorithm};
use kyso_verify::RevocationPolicy;
use secrecy::SecretString;
use serde::Deserialize;

pub use crate::providers::registry::AdapterSettings;

/// Why the configuration cannot be used. Messages name the file, provider and field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid YAML of the expected shape.
    #[error("configuration {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said, with the field's location.
        message: String,
    },
    /// A `${NAME}` reference names an unset environment variable.
    #[error("configuration refers to environment variable {0}, which is not set")]
    MissingEnv(String),
    /// A value is present but unusable.
    #[error("{context}: {message}")]
    Invalid {
        /// Which part of the configuration (e.g. `providers[vnpt].trust_anchors_pem_file`).
        context: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    /// An unusable value at `context`.
    pub fn invalid(context: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            context: context.into(),
            message: message.into(),
        }
    }
}

/// The whole gateway configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where to listen.
    pub listen: ListenSettings,
    /// Portal authentication.
    pub auth: AuthSettings,
    /// Where transactions and idempotency records live.
    #[serde(default)]
    pub store: StoreSettings,
    /// Transaction lifetimes and CA polling.
    #[serde(default)]
    pub transactions: TransactionSettings,
    /// Roots trusted for every provider (the national root CA of the licensed CAs).
    #[serde(default)]
    pub trust: TrustSettings,
    /// The CAs this gateway routes to.
    pub providers: Vec<ProviderSettings>,
    /// How much each portal may ask, and how often a citizen may be asked to sign.
    #[serde(default)]
    pub admission: AdmissionSettings,
    /// The audit trail: where its records are streamed, whether citizens are pseudonymised.
    #[serde(default)]
    pub audit: AuditSettings,
    /// Signed documents (PAdES, CAdES): size limits and the time-stamping authority.
    #[serde(default)]
    pub documents: DocumentSettings,
}

/// Signed documents: how large a document a portal may send, and the time-stamping
/// authority (TSA) that makes B-T signatures.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DocumentSettings {
    /// The largest document accepted, in bytes (decoded, not base64).
    pub max_document_bytes: usize,
    /// The most document bytes in one signing request, all documents together.
    pub max_transaction_bytes: usize,
    /// The RFC 3161 time-stamping authority; without one, only B-B signatures are made.
    pub time_stamping: Option<TimeStampingSettings>,
}

impl Default for DocumentSettings {
    fn default() -> Self {
        Self {
            max_document_bytes: 20 * 1024 * 1024,
            max_transaction_bytes: 50 * 1024 * 1024,
            time_stamping: None,
        }
    }
}

/// An RFC 3161 time-stamping authority.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeStampingSettings {
    /// Where time-stamp queries are POSTed (`application/timestamp-query`).
    pub url: String,
    /// The roots the TSA's certificate must chain to (PEM), inline ...
    #[serde(default)]
    pub trust_anchors_pem: Option<String>,
    /// ... or as a file.
    #[serde(default)]
    pub trust_anchors_pem_file: Option<PathBuf>,
    /// The longest one time-stamp request may take, in milliseconds.
    #[serde(default = "default_time_stamping_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_time_stamping_timeout_ms() -> u64 {
    5000
}

/// Roots trusted for every provider, besides each provider's own `trust_anchors_pem`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSettings {
    /// The national root CA certificate(s) (PEM) that licensed CAs' certificates chain to,
    /// inline ...
    #[serde(default)]
    pub national_roots_pem: Option<String>,
    /// ... or as a file.
    #[serde(default)]
    pub national_roots_pem_file: Option<PathBuf>,
    /// How revocation data (OCSP, CRLs) is fetched and cached.
    #[serde(default)]
    pub revocation: RevocationSettings,
}

/// How revocation data is fetched and cached (whether it is required is each provider's
/// `revocation` policy).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationSettings {
    /// The longest one OCSP request or CRL download may take, in milliseconds.
    pub timeout_ms: u64,
    /// The largest OCSP response or CRL accepted, in bytes.
    pub max_response_bytes: usize,
    /// How many validated paths, and how many checked OCSP answers and CRLs, each instance
    /// keeps in memory.
    pub cache_entries: usize,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        Self {
            timeout_ms: 3000,
            max_response_bytes: 16 * 1024 * 1024,
            cache_entries: 10_000,
        }
    }
}

impl TrustSettings {
    /// The national roots' PEM, when configured.
    pub fn national_roots_pem(&self) -> Result<Option<String>, ConfigError> {
        optional_pem(
            "trust",
            "national_roots_pem",
            self.national_roots_pem.as_deref(),
            self.national_roots_pem_file.as_deref(),
        )
    }
}

impl TimeStampingSettings {
    /// A TSA at `url` whose certificate chains to `trust_anchors_pem`, with the default
    /// timeout.
    pub fn new(url: impl Into<String>, trust_anchors_pem: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            trust_anchors_pem: Some(trust_anchors_pem.into()),
            trust_anchors_pem_file: None,
            timeout_ms: default_time_stamping_timeout_ms(),
        }
    }

    /// The PEM of the roots the TSA's certificate must chain to.
    pub fn trust_anchors_pem(&self) -> Result<String, ConfigError> {
        required_pem(
            "documents.time_stamping",
            "trust_anchors_pem",
            self.trust_anchors_pem.as_deref(),
            self.trust_anchors_pem_file.as_deref(),
        )
    }
}

/// PEM that settings take inline (`<field>`) or from a file (`<field>_file`), at most one of
/// the two: the text, `None` when neither is set. `context` names where the pair sits
/// (`trust`, `providers[vnpt]`) in error messages.
///
/// # Errors
/// [`ConfigError::Invalid`] when both are set or the file cannot be read.
pub fn optional_pem(
    context: &str,
    field: &str,
    inline: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<String>, ConfigError> {
    match (inline, file) {
        (None, None) => Ok(None),
        (Some(pem), None) => Ok(Some(pem.to_owned())),
        (None, Some(path)) => std::fs::read_to_string(path).map(Some).map_err(|error| {
            ConfigError::invalid(
                format!("{context}.{field}_file"),
                format!("cannot read {}: {error}", path.display()),
            )
        }),
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            format!("{context}.{field}"),
            format!("set at most one of {field} and {field}_file"),
        )),
    }
}

/// [`optional_pem`] for PEM that must be there: exactly one of `<field>` and `<field>_file`.
///
/// # Errors
/// [`ConfigError::Invalid`] when neither or both are set, or the file cannot be read.
pub fn required_pem(
    context: &str,
    field: &str,
    inline: Option<&str>,
    file: Option<&Path>,
) -> Result<String, ConfigError> {
    optional_pem(context, field, inline, file)?.ok_or_else(|| {
        ConfigError::invalid(
            format!("{context}.{field}"),
            format!("set exactly one of {field} and {field}_file"),
        )
    })
}

impl Settings {
    /// Reads and parses a YAML configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses YAML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let parse_error = |error: serde_norway::Error| ConfigError::Parse {
            path: origin.to_owned(),
            message: error.to_string(),
        };
        let mut value: serde_norway::Value = serde_norway::from_str(text).map_err(parse_error)?;
        expand_env(&mut value)?;
        // Providers are parsed one by one, so that an error names the provider it is in.
        let providers = match value.as_mapping_mut() {
            Some(map) => map.insert(
                "providers".into(),
                serde_norway::Value::Sequence(Vec::new()),
            ),
            None => None,
        };
        let mut settings: Self = serde_norway::from_value(value).map_err(parse_error)?;
        let Some(serde_norway::Value::Sequence(providers)) = providers else {
            return Err(ConfigError::Parse {
                path: origin.to_owned(),
                message: "providers: a list of providers is required".into(),
            });
        };
        for (index, provider) in providers.into_iter().enumerate() {
            let name = provider
                .get("id")
                .and_then(serde_norway::Value::as_str)
                .map_or_else(|| index.to_string(), str::to_owned);
            let parsed =
                serde_norway::from_value(provider).map_err(|error| ConfigError::Parse {
                    path: origin.to_owned(),
                    message: format!("providers[{name}]: {error}"),
                })?;
            settings.providers.push(parsed);
        }
        Ok(settings)
    }
}

/// Replaces every `${NAME}` string with the environment variable's value.
fn expand_env(value: &mut serde_norway::Value) -> Result<(), ConfigError> {
    match value {
        serde_norway::Value::String(text) => {
            if let Some(name) = text
                .strip_prefix("${")
                .and_then(|rest| rest.strip_suffix('}'))
            {
                *text =
                    std::env::var(name).map_err(|_| ConfigError::MissingEnv(name.to_owned()))?;
            }
        }
        serde_norway::Value::Sequence(items) => {
            for item in items {
                expand_env(item)?;
            }
        }
        serde_norway::Value::Mapping(map) => {
            for (_, item) in map.iter_mut() {
                expand_env(item)?;
            }
        }
        serde_norway::Value::Tagged(tagged) => expand_env(&mut tagged.value)?,
        _ => {}
    }
    Ok(())
}

/// The two listeners: the portal API and the admin endpoints (metrics, health).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenSettings {
    /// The portal API (port 0 picks a free port).
    pub api: SocketAddr,
    /// Metrics and health, meant for the operator's network only.
    pub admin: SocketAddr,
    /// HTTP worker threads per listener; one per core when absent.
    #[serde(default)]
    pub workers: Option<usize>,
}

/// How portals authenticate: OAuth 2.0 client credentials, answered with ES256 JWTs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The `iss` of issued tokens (this gateway's public URL).
    pub issuer: String,
    /// The `aud` of issued tokens, checked on every request.
    pub audience: String,
    /// Lifetime of an access token, in seconds.
    #[serde(default = "default_token_ttl_secs")]
    pub token_ttl_secs: u64,
    /// The ES256 (P-256) token-signing key, PKCS#8 PEM, given inline (e.g. `${ENV}`)...
    #[serde(default)]
    pub signing_key_pem: Option<SecretString>,
    /// ... or as a file.
    #[serde(default)]
    pub signing_key_pem_file: Option<PathBuf>,
    /// Several token keys, for rotation (instead of `signing_key_pem`/`_file`): the first
    /// signs new tokens, every one listed is accepted and published at
    /// `/.well-known/jwks.json`. Tokens name their key by `kid`, its RFC 7638 thumbprint.
    #[serde(default)]
    pub signing_keys: Vec<SigningKeySettings>,
    /// The portals allowed to call the API.
    pub clients: Vec<ClientSettings>,
}

/// One token key of `auth.signing_keys`: a P-256 key in PEM, inline or as a file. The first
/// key of the list must be a PKCS#8 private key (it signs); the others may be given as
/// public keys (SPKI PEM) since they only verify, so a retired private key can be destroyed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeySettings {
    /// The key's PEM, inline (e.g. `${ENV}`) ...
    #[serde(default)]
    pub pem: Option<SecretString>,
    /// ... or as a file.
    #[serde(default)]
    pub pem_file: Option<PathBuf>,
}

fn default_token_ttl_secs() -> u64 {
    900
}

/// One portal's credentials: exactly one of `secret_hash` and `secret_sha256`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// The OAuth client id.
    pub client_id: String,
    /// The argon2id hash of the client secret, a PHC string (`$argon2id$v=19$m=...`);
    /// `kyso-gateway hash-secret` makes a secret and its hash.
    #[serde(default)]
    pub secret_hash: Option<SecretString>,
    /// Deprecated: the SHA-256 of the client secret, 64 hex digits. Still accepted, with a
    /// warning at start-up; `kyso-gateway hash-secret --stdin` turns the secret into a
    /// `secret_hash`.
    #[serde(default)]
    pub secret_sha256: Option<SecretString>,
    /// Scopes the client may ask for.
    pub scopes: Vec<String>,
    /// A disabled client gets no token, and the tokens it holds are refused at once.
    #[serde(default)]
    pub disabled: bool,
    /// Lifetime of this client's access tokens, in seconds, where it differs from
    /// `auth.token_ttl_secs`: short-lived tokens for a portal that asks for one per task
    /// (each bound to the scopes it asked for).
    #[serde(default)]
    pub token_ttl_secs: Option<u64>,
    /// This client's own admission limits, where they differ from `admission`'s.
    #[serde(default)]
    pub limits: ClientLimitSettings,
}

/// Request admission limits, counted in the store so that every instance shares them (see
/// [`crate::services::admission`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdmissionSettings {
    /// Every authenticated call of one client; `auth.clients[].limits` overrides it.
    pub per_client: ClientRateSettings,
    /// New signing requests for one citizen, from all clients together: what keeps a
    /// portal from flooding a citizen's phone with approval requests.
    pub per_citizen: CitizenRateSettings,
    /// The most pending transactions one client may have at once; `auth.clients[].limits`
    /// overrides it.
    pub max_pending_per_client: u32,
}

impl Default for AdmissionSettings {
    fn default() -> Self {
        Self {
            per_client: ClientRateSettings::default(),
            per_citizen: CitizenRateSettings::default(),
            max_pending_per_client: 1000,
        }
    }
}

/// A client's sustained request rate and burst (GCRA).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientRateSettings {
    /// Requests per second, sustained.
    pub requests_per_second: u32,
    /// Requests that may arrive at once, above the sustained rate.
    pub burst: u32,
}

impl Default for ClientRateSettings {
    fn default() -> Self {
        Self {
            requests_per_second: 200,
            burst: 400,
        }
    }
}

/// How many new signing requests one citizen may receive in any window.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CitizenRateSettings {
    /// The most new signing requests in any `window_secs`.
    pub max_requests: u32,
    /// The sliding window, in seconds.
    pub window_secs: u64,
}

impl Default for CitizenRateSettings {
    fn default() -> Self {
        Self {
            max_requests: 5,
            window_secs: 300,
        }
    }
}

/// One client's overrides of the admission limits; absent fields keep `admission`'s.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientLimitSettings {
    /// Requests per second, sustained.
    pub requests_per_second: Option<u32>,
    /// Requests that may arrive at once.
    pub burst: Option<u32>,
    /// The most pending transactions at once.
    pub max_pending: Option<u32>,
    /// A stricter limit on this client's own signing requests to one citizen, counted
    /// besides `admission.per_citizen` (which counts every client's together).
    pub per_citizen: Option<CitizenRateSettings>,
}

/// Where transactions and idempotency records live.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum StoreSettings {
    /// In this process only: for the sandbox and a single instance.
    #[default]
    Memory,
    /// One Redis server (or a primary behind a proxy), shared by every instance.
    Redis {
        /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS.
        url: SecretString,
        /// Prefix of every key (`kyso`); several deployments may share one Redis.
        #[serde(default = "default_key_prefix")]
        key_prefix: String,
        /// Longest wait for one Redis operation, in milliseconds.
        #[serde(default = "default_store_timeout_ms")]
        timeout_ms: u64,
        /// For `rediss://`: the CA certificate (PEM) that signed the server's certificate,
        /// when it is not in the system's trust store.
        #[serde(default)]
        tls_ca_pem_file: Option<PathBuf>,
    },
    /// A Redis Cluster, reached through any of its nodes.
    RedisCluster {
        /// Node URLs (`redis://` or `rediss://`); the rest of the cluster is discovered.
        urls: Vec<SecretString>,
        /// Prefix of every key.
        #[serde(default = "default_key_prefix")]
        key_prefix: String,
        /// Longest wait for one Redis operation, in milliseconds.
        #[serde(default = "default_store_timeout_ms")]
        timeout_ms: u64,
        /// For `rediss://`: the CA certificate (PEM) of the nodes' certificates.
        #[serde(default)]
        tls_ca_pem_file: Option<PathBuf>,
    },
}

fn default_key_prefix() -> String {
    "kyso".to_owned()
}

fn default_store_timeout_ms() -> u64 {
    1000
}

/// Transaction lifetimes and how the gateway follows CAs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransactionSettings {
    /// How long an `Idempotency-Key` is remembered, in seconds.
    pub idempotency_ttl_secs: u64,
    /// How long a finished transaction stays readable after it expired, in seconds.
    pub retention_secs: u64,
    /// First delay between two status polls of a CA, in milliseconds.
    pub poll_initial_ms: u64,
    /// Longest delay between two status polls, in milliseconds (the backoff's cap).
    pub poll_max_ms: u64,
    /// How long an instance's lease to follow a transaction lasts without renewal, in
    /// milliseconds: how soon another instance takes over from one that died.
    pub follow_lease_ms: u64,
    /// How often each instance looks for pending transactions nobody follows, in
    /// milliseconds.
    pub sweep_interval_ms: u64,
}

impl Default for TransactionSettings {
    fn default() -> Self {
        Self {
            idempotency_ttl_secs: 24 * 3600,
            retention_secs: 24 * 3600,
            poll_initial_ms: 1000,
            poll_max_ms: 10_000,
            follow_lease_ms: 30_000,
            sweep_interval_ms: 5000,
        }
    }
}

/// One CA as portals see it: an id, its adapter and how its signatures are trusted.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderSettings {
    /// The id portals use (`vnpt`), lowercase letters, digits and `-`.
    pub id: String,
    /// A name to show people; defaults to the id.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Root certificates (PEM) that this CA's citizen certificates must chain to, inline.
    #[serde(default)]
    pub trust_anchors_pem: Option<String>,
    /// ... or as a file of concatenated PEM certificates.
    #[serde(default)]
    pub trust_anchors_pem_file: Option<PathBuf>,
    /// Timeouts of calls to this CA.
    #[serde(default)]
    pub timeouts: TimeoutSettings,
    /// Overrides of what the adapter declares it supports.
    #[serde(default)]
    pub limits: LimitSettings,
    /// Whether a signature needs the revocation status of its certificates: `required`
    /// (the default: no status, no signature), `soft` (no status gives an `indeterminate`
    /// report that is accepted and says why) or `off` (not checked).
    #[serde(default = "required")]
    pub revocation: RevocationPolicy,
    /// How calls to this CA are protected when it fails or slows down: circuit breaker,
    /// retries and their budget, concurrency cap.
    #[serde(default)]
    pub resilience: ResilienceSettings,
    /// The adapter, chosen by `kind`, with its own settings (see
    /// [`crate::providers::registry`]).
    #[serde(flatten)]
    pub adapter: AdapterSettings,
}

fn required() -> RevocationPolicy {
    RevocationPolicy::Required
}

/// Timeouts of calls to one CA.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutSettings {
    /// Connecting, in milliseconds.
    pub connect_ms: u64,
    /// A whole call, in milliseconds.
    pub request_ms: u64,
}

impl Default for TimeoutSettings {
    fn default() -> Self {
        Self {
            connect_ms: 3000,
            request_ms: 10_000,
        }
    }
}

/// How calls to one CA are protected (see [`crate::providers::breaker`] and
/// [`crate::providers::retries`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResilienceSettings {
    /// When the circuit breaker opens and how it recovers.
    pub breaker: BreakerSettings,
    /// Retries of calls that change nothing at the CA (certificate lookups, status polls).
    pub retries: RetrySettings,
    /// Most calls to this CA in flight at once from this instance.
    pub max_concurrent_calls: usize,
    /// Longest wait, in milliseconds, for a free call slot before `provider_busy`.
    pub queue_timeout_ms: u64,
}

impl Default for ResilienceSettings {
    fn default() -> Self {
        Self {
            breaker: BreakerSettings::default(),
            retries: RetrySettings::default(),
            max_concurrent_calls: 256,
            queue_timeout_ms: 1000,
        }
    }
}

/// When a provider's circuit breaker opens, and how it closes again.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSettings {
    /// The sliding window of outcomes, in seconds.
    pub window_secs: u64,
    /// Fewest outcomes in the window before the failure rate can open the breaker.
    pub minimum_calls: u32,
    /// Failure rate (percent of the window's calls) that opens the breaker.
    pub failure_rate_percent: u32,
    /// How long the breaker stays open before probing, in seconds.
    pub open_secs: u64,
    /// Probe calls let through while half-open; as many successes close the breaker.
    pub half_open_probes: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            window_secs: 30,
            minimum_calls: 20,
            failure_rate_percent: 50,
            open_secs: 15,
            half_open_probes: 3,
        }
    }
}

/// Retries of idempotent CA calls, bounded by a budget so that they never multiply the load
/// on a failing CA.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// Retries of one failed call (0 turns retries off).
    pub max_retries: u32,
    /// Retries allowed as a percentage of recent calls (over 10 seconds).
    pub budget_percent: u32,
    /// Retries per second allowed whatever the percentage, so that a quiet CA can retry.
    pub min_per_second: u32,
    /// Base of the jittered wait before a retry, in milliseconds.
    pub backoff_ms: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_retries: 1,
            budget_percent: 10,
            min_per_second: 5,
            backoff_ms: 50,
        }
    }
}

/// Overrides of an adapter's declared capabilities; absent fields keep the adapter's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// The most documents in one signing request.
    pub max_documents: Option<usize>,
    /// How long the citizen has to confirm, in seconds.
    pub confirmation_timeout_secs: Option<u64>,
    /// Digest algorithms accepted for this CA.
    pub hash_algorithms: Option<Vec<HashAlgorithm>>,
    /// Key algorithms this CA's citizens hold.
    pub key_algorithms: Option<Vec<KeyAlgorithm>>,
}

/// The audit trail (see [`crate::audit`]): every security-relevant event is a hash-chained
/// record in the store, and is also streamed as a JSON line to `sink`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Where records are streamed besides the store: `stdout`, `file:<path>` or `none`.
    pub sink: AuditSink,
    /// Whether records name citizens by a keyed HMAC-SHA256 of their id instead of the id.
    pub pseudonymise_citizens: bool,
    /// The HMAC key (at least 32 bytes); required when `pseudonymise_citizens` is on.
    pub pseudonym_key: Option<SecretString>,
    /// How long the store keeps the trail after its last record, in seconds.
    pub store_retention_secs: u64,
    /// Most records the store keeps; older ones are dropped from it (the sink keeps them).
    pub store_max_records: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            sink: AuditSink::None,
            pseudonymise_citizens: false,
            pseudonym_key: None,
            store_retention_secs: 90 * 24 * 3600,
            store_max_records: 100_000,
        }
    }
}

/// Where audit records are streamed as JSON lines, besides the store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum AuditSink {
    /// Nowhere: the store only.
    None,
    /// The process's standard output.
    Stdout,
    /// Appended to this file.
    File(PathBuf),
}

impl TryFrom<String> for AuditSink {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "none" => Ok(Self::None),
            "stdout" => Ok(Self::Stdout),
            _ => match text.strip_prefix("file:") {
                Some(path) if !path.is_empty() => Ok(Self::File(PathBuf::from(path))),
                _ => Err(format!(
                    "audit sink {text:?}: expected stdout, none or file:<path>"
                )),
            },
        }
    }
}

impl AuditSink {
    /// The sink's kind, as configured (`none`, `stdout`, `file`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Stdout => "stdout",
            Self::File(_) => "file",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
listen: { api: "127.0.0.1:0", admin: "127.0.0.1:0" }
auth:
  issuer: https://kyso.test
  audience: kyso-api
  signing_key_pem_file: /nonexistent
  clients: []
providers:
  - id: vnpt
    kind: vnpt-smartca
    trust_anchors_pem_file: /nonexistent
    base_url: http://127.0.0.1:1/sca/sp769
    sp_id: sp
    sp_password: secret
"#;

    #[test]
    fn parses_a_provider_with_its_adapter_settings() {
        let settings = Settings::parse(MINIMAL, Path::new("test.yaml")).unwrap();
        let AdapterSettings::VnptSmartca(vnpt) = &settings.providers[0].adapter else {
            panic!("a vnpt-smartca provider");
        };
        assert_eq!(vnpt.sp_id, "sp");
        assert_eq!(settings.transactions.poll_max_ms, 10_000);
    }

    #[test]
    fn revocation_is_required_unless_a_provider_says_otherwise() {
        let settings = Settings::parse(MINIMAL, Path::new("test.yaml")).unwrap();
        assert_eq!(settings.providers[0].revocation, RevocationPolicy::Required);
        assert_eq!(settings.trust.revocation.timeout_ms, 3000);
        let text = MINIMAL.replace("sp_id: sp", "sp_id: sp\n    revocation: soft")
            + "trust:\n  revocation: { timeout_ms: 500, cache_entries: 10 }\n";
        let settings = Settings::parse(&text, Path::new("test.yaml")).unwrap();
        assert_eq!(settings.providers[0].revocation, RevocationPolicy::Soft);
        assert_eq!(settings.trust.revocation.timeout_ms, 500);
        assert_eq!(settings.trust.revocation.cache_entries, 10);
        let wrong = MINIMAL.replace("sp_id: sp", "sp_id: sp\n    revocation: sometimes");
        let message = Settings::parse(&wrong, Path::new("test.yaml"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("sometimes"), "{message}");
    }

    #[test]
    fn unknown_adapter_field_is_an_error_naming_it_and_its_provider() {
        let text = MINIMAL.replace("sp_id: sp", "sp_idd: sp");
        let error = Settings::parse(&text, Path::new("test.yaml")).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("sp_idd"), "{message}");
        assert!(message.contains("providers[vnpt]"), "{message}");
    }

    #[test]
    fn missing_adapter_field_is_an_error_naming_it_and_its_provider() {
        let text = MINIMAL.replace("    sp_id: sp\n", "");
        let error = Settings::parse(&text, Path::new("test.yaml")).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("sp_id") && message.contains("providers[vnpt]"),
            "{message}"
        );
    }

    #[test]
    fn unknown_kind_is_an_error() {
        let text = MINIMAL.replace("vnpt-smartca", "nope");
        let error = Settings::parse(&text, Path::new("test.yaml")).unwrap_err();
        assert!(error.to_string().contains("nope"), "{error}");
    }

    #[test]
    fn missing_environment_variable_is_named() {
        let text = MINIMAL.replace("secret", "${KYSO_TEST_SURELY_UNSET_VARIABLE}");
        let error = Settings::parse(&text, Path::new("test.yaml")).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("KYSO_TEST_SURELY_UNSET_VARIABLE")
        );
    }

    #[test]
    fn national_roots_come_from_one_place() {
        let settings = Settings::parse(MINIMAL, Path::new("test.yaml")).unwrap();
        assert_eq!(settings.trust.national_roots_pem().unwrap(), None);
        let both = TrustSettings {
            national_roots_pem: Some("pem".into()),
            national_roots_pem_file: Some("/nonexistent".into()),
            ..TrustSettings::default()
        };
        assert!(
            both.national_roots_pem()
                .unwrap_err()
                .to_string()
                .contains("trust")
        );
        let missing = TrustSettings {
            national_roots_pem: None,
            national_roots_pem_file: Some("/nonexistent/root.pem".into()),
            ..TrustSettings::default()
        };
        assert!(
            missing
                .national_roots_pem()
                .unwrap_err()
                .to_string()
                .contains("national_roots_pem_file")
        );
    }

    #[test]
    fn admission_limits_have_defaults_and_per_client_overrides() {
        let settings = Settings::parse(MINIMAL, Path::new("test.yaml")).unwrap();
        assert_eq!(settings.admission.per_client.requests_per_second, 200);
        assert_eq!(settings.admission.per_citizen.max_requests, 5);
        assert_eq!(settings.admission.max_pending_per_client, 1000);
        let text = MINIMAL.replace(
            "  clients: []",
            "  clients:\n    - { client_id: p, secret_sha256: x, scopes: [], limits: { burst: 9 } }",
        ) + "admission:\n  per_citizen: { max_requests: 2, window_secs: 60 }\n";
        let settings = Settings::parse(&text, Path::new("test.yaml")).unwrap();
        assert_eq!(settings.admission.per_citizen.window_secs, 60);
        assert_eq!(settings.admission.per_client.burst, 400);
        let overrides = &settings.auth.clients[0].limits;
        assert_eq!((overrides.burst, overrides.max_pending), (Some(9), None));
        let typo = MINIMAL.to_owned() + "admission:\n  per_citizen: { max_request: 2 }\n";
        let message = Settings::parse(&typo, Path::new("test.yaml"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("max_request"), "{message}");
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let settings = Settings::parse(MINIMAL, Path::new("test.yaml")).unwrap();
        assert!(!format!("{settings:?}").contains("secret\""));
    }

    #[test]
    fn audit_sink_and_pseudonymisation_are_read() {
        let settings = Settings::parse(MINIMAL, Path::new("test.yaml")).unwrap();
        assert_eq!(settings.audit.sink, AuditSink::None);
        assert!(!settings.audit.pseudonymise_citizens);
        let text = MINIMAL.to_owned()
            + "audit:\n  sink: file:/var/log/kyso/audit.jsonl\n  pseudonymise_citizens: true\n  pseudonym_key: k\n";
        let settings = Settings::parse(&text, Path::new("test.yaml")).unwrap();
        assert_eq!(
            settings.audit.sink,
            AuditSink::File("/var/log/kyso/audit.jsonl".into())
        );
        assert!(settings.audit.pseudonymise_citizens);
        assert!(!format!("{settings:?}").contains("pseudonym_key: Some(\"k\")"));
        let wrong = MINIMAL.to_owned() + "audit:\n  sink: syslog\n";
        let message = Settings::parse(&wrong, Path::new("test.yaml"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("syslog"), "{message}");
    }
}
