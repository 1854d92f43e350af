//! Building the application from settings, running its two listeners, and stopping it.
//!
//! On SIGTERM or SIGINT (as Kubernetes sends on a rolling deploy) an instance stops
//! accepting connections, lets in-flight requests finish (at most
//! [`SHUTDOWN_DRAIN_SECS`]), then gives its follow leases up so other instances adopt its
//! pending transactions at once, and exits: well within the pod's grace period in
//! `deploy/`.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::audit::{Auditor, events};
use crate::config::{ConfigError, Settings, StoreSettings};
use crate::documents::Documents;
use crate::http::{self as routes, request_context};
use crate::metrics::Metrics;
use crate::providers::Providers;
use crate::services::Signing;
use crate::services::admission::Admission;
use crate::services::auth::Authority;
use crate::store::Store;
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::trust::Trust;

/// Longest time in-flight requests get to finish on shutdown, in seconds. Below the
/// Kubernetes grace period in `deploy/` (30 s), with room to hand transactions over.
pub const SHUTDOWN_DRAIN_SECS: u64 = 20;

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The metrics registry could not be built.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// A follow lease must outlast one round of following (the longest wait between polls plus
/// the slowest CA call), or two instances could follow one transaction.
fn check_follow_lease(settings: &Settings) -> Result<(), ConfigError> {
    let transactions = &settings.transactions;
    let slowest_call = settings
        .providers
        .iter()
        .map(|provider| provider.timeouts.request_ms)
        .max()
        .unwrap_or_default();
    let round = transactions.poll_max_ms.saturating_add(slowest_call);
    if transactions.follow_lease_ms <= round {
        return Err(ConfigError::invalid(
            "transactions.follow_lease_ms",
            format!("must exceed poll_max_ms plus the longest provider request_ms ({round} ms)"),
        ));
    }
    Ok(())
}

/// The store the settings name. Redis stores connect lazily: the gateway starts while
/// Redis is down, answers `store_unavailable` meanwhile, and recovers when it returns.
pub fn build_store(settings: &StoreSettings) -> Result<Arc<dyn Store>, ConfigError> {
    use secrecy::ExposeSecret as _;
    let invalid = |message: String| ConfigError::invalid("store", message);
    let read_ca = |path: &Option<std::path::PathBuf>| {
        path.as_ref()
            .map(|path| {
                std::fs::read(path).map_err(|error| {
                    ConfigError::invalid(
                        "store.tls_ca_pem_file",
                        format!("cannot read {}: {error}", path.display()),
                    )
                })
            })
            .transpose()
    };
    Ok(match settings {
        StoreSettings::Memory => Arc::new(MemoryStore::new()),
        StoreSettings::Redis {
            url,
            key_prefix,
            timeout_ms,
            tls_ca_pem_file,
        } => Arc::new(
            RedisStore::standalone(
                url.expose_secret(),
                key_prefix,
                Duration::from_millis(*timeout_ms),
                read_ca(tls_ca_pem_file)?,
            )
            .map_err(invalid)?,
        ),
        StoreSettings::RedisCluster {
            urls,
            key_prefix,
            timeout_ms,
            tls_ca_pem_file,
        } => {
            if urls.is_empty() {
                return Err(invalid("redis-cluster needs at least one url".into()));
            }
            let urls: Vec<String> = urls
                .iter()
                .map(|url| url.expose_secret().to_owned())
                .collect();
            Arc::new(
                RedisStore::cluster(
                    &urls,
                    key_prefix,
                    Duration::from_millis(*timeout_ms),
                    read_ca(tls_ca_pem_file)?,
                )
                .map_err(invalid)?,
            )
        }
    })
}

/// A built, bound, not yet running gateway.
pub struct Application {
    api_addr: SocketAddr,
    admin_addr: SocketAddr,
    api: Server,
    admin: Server,
    handle: AppHandle,
}

/// Controls a running [`Application`] from elsewhere.
#[derive(Clone)]
pub struct AppHandle {
    api: ServerHandle,
    admin: ServerHandle,
    signing: web::Data<Signing>,
}

impl AppHandle {
    /// Stops the instance abruptly, as a crash would: the listeners close and the CA
    /// followers stop without giving up their leases, so other instances take their
    /// transactions over when the leases run out.
    pub async fn crash(&self) {
        self.signing.stop_following();
        self.api.stop(false).await;
        self.admin.stop(false).await;
    }

    /// Stops the instance as SIGTERM does: no new connections, in-flight requests finish,
    /// then [`Application::run_until_stopped`] hands the pending transactions over.
    pub async fn shut_down(&self) {
        tokio::join!(self.api.stop(true), self.admin.stop(true));
    }
}

/// A listener on `addr` and the address it got (port 0 picks a free one).
fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let bind_error = |source| StartError::Bind { addr, source };
    let listener = TcpListener::bind(addr).map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    Ok((listener, bound))
}

impl Application {
    /// Builds every part from `settings` and binds both listeners (port 0 picks a free
    /// port). Must be called inside a tokio runtime, which also runs the CA followers.
    pub fn build(settings: Settings) -> Result<Self, StartError> {
        let store = build_store(&settings.store)?;
        Self::build_with_store(settings, store)
    }

    /// [`Application::build`] on a store built elsewhere (shared by several instances in
    /// one process, or wrapped by a test); `settings.store` is not used.
    pub fn build_with_store(settings: Settings, store: Arc<dyn Store>) -> Result<Self, StartError> {
        let metrics = Metrics::new()?;
        // This instance's name in leases (following transactions, refreshing CA sessions).
        let instance_id = uuid::Uuid::new_v4().simple().to_string();
        let authority = web::Data::new(Authority::from_settings(&settings.auth)?);
        check_follow_lease(&settings)?;
        let national_roots_pem = settings.trust.national_roots_pem()?;
        let providers = Arc::new(Providers::from_settings(
            &settings.providers,
            national_roots_pem.as_deref(),
            &metrics,
            &store,
            &instance_id,
        )?);
        let trust = Trust::new(&settings.trust.revocation, store.clone(), metrics.clone())
            .map_err(|message| ConfigError::invalid("trust.revocation", message))?;
        let admission = web::Data::new(Admission::new(
            &settings.admission,
            &settings.auth.clients,
            store.clone(),
            metrics.clone(),
        )?);
        let auditor = Auditor::new(
            store.clone(),
            &settings.audit,
            metrics.clone(),
            instance_id.clone(),
            events::config_loaded(&settings),
        )?;
        let signing = web::Data::new(Signing::new(
            store,
            providers,
            Arc::new(trust),
            admission.clone().into_inner(),
            metrics.clone(),
            settings.transactions.clone(),
            tokio::runtime::Handle::current(),
            instance_id,
            auditor,
            Arc::new(Documents::from_settings(&settings.documents, &metrics)?),
        ));
        signing.start_sweeper();
        signing.record_start();
        let metrics = web::Data::new(metrics);
        let workers = settings
            .listen
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));

        let body_limits = routes::BodyLimits::new(&settings.documents);
        let (api_listener, api_addr) = bind(settings.listen.api)?;
        let api = {
            let (signing, metrics) = (signing.clone(), metrics.clone());
            HttpServer::new(move || {
                App::new()
                    .app_data(authority.clone())
                    .app_data(admission.clone())
                    .app_data(signing.clone())
                    .app_data(metrics.clone())
                    .configure(routes::extractor_configs)
                    .configure(|config| routes::api_routes(config, body_limits))
                    .default_service(web::to(routes::route_not_found))
                    .wrap(from_fn(request_context::track))
            })
            .workers(workers)
            .shutdown_timeout(SHUTDOWN_DRAIN_SECS)
            .listen(api_listener)
            .map_err(|source| StartError::Bind {
                addr: api_addr,
                source,
            })?
            .run()
        };

        let (admin_listener, admin_addr) = bind(settings.listen.admin)?;
        let signing_for_handle = signing.clone();
        let admin = HttpServer::new(move || {
            App::new()
                .app_data(signing.clone())
                .app_data(metrics.clone())
                .configure(routes::admin_routes)
                .default_service(web::to(routes::route_not_found))
                .wrap(from_fn(request_context::track))
        })
        .workers(1)
        .shutdown_timeout(SHUTDOWN_DRAIN_SECS)
        .listen(admin_listener)
        .map_err(|source| StartError::Bind {
            addr: admin_addr,
            source,
        })?
        .run();

        let handle = AppHandle {
            api: api.handle(),
            admin: admin.handle(),
            signing: signing_for_handle,
        };
        Ok(Self {
            api_addr,
            admin_addr,
            api,
            admin,
            handle,
        })
    }

    /// A handle to stop the application.
    pub fn handle(&self) -> AppHandle {
        self.handle.clone()
    }

    /// The portal API's address.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The admin listener's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Serves until both listeners stop (on SIGINT/SIGTERM, or [`AppHandle::shut_down`]),
    /// then hands this instance's pending transactions over to the others.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (api, admin) = tokio::join!(self.api, self.admin);
        self.handle.signing.hand_over().await;
        api.and(admin)
    }
}
