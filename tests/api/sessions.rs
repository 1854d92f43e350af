//! CA login sessions shared through the store: one login per expiry for every instance,
//! a new login when the CA refuses the cached token, and tokens cached shorter than they
//! live. The CA here is a stand-in that issues tokens, as Viettel MySign and MISA do.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use kyso_adapter_core::{
    AdapterDescriptor, AdapterError, CaAdapter, CaCertificate, CaSession, Capabilities,
    HashAlgorithm, KeyAlgorithm, SignOutcome, SignRequest,
};
use kyso_gateway::metrics::Metrics;
use kyso_gateway::providers::Provider;
use kyso_gateway::providers::sessions::SessionCache;
use kyso_gateway::store::Store;
use kyso_gateway::store::redis::RedisStore;
use kyso_gateway::verify::TrustAnchors;
use kyso_tests::redis_server::RedisServer;

/// A CA whose API wants a bearer token: logins are counted and slow, and one token can be
/// revoked to see the gateway log in again.
struct TokenCa {
    descriptor: AdapterDescriptor,
    logins: AtomicUsize,
    revoked: std::sync::Mutex<Option<String>>,
}

impl TokenCa {
    fn new() -> Self {
        Self {
            descriptor: AdapterDescriptor {
                id: "token-ca".into(),
                kind: "token-ca",
                display_name: "Token CA".into(),
                capabilities: Capabilities {
                    hash_algorithms: vec![HashAlgorithm::Sha256],
                    key_algorithms: vec![KeyAlgorithm::Rsa],
                    max_documents: 1,
                    confirmation_timeout: Duration::from_secs(60),
                    cancel: false,
                },
            },
            logins: AtomicUsize::new(0),
            revoked: std::sync::Mutex::new(None),
        }
    }

    fn check(&self, session: Option<&CaSession>) -> Result<(), AdapterError> {
        let session = session.ok_or(AdapterError::AuthenticationFailed)?;
        if self.revoked.lock().unwrap().as_deref() == Some(session.token.as_str()) {
            return Err(AdapterError::SessionExpired);
        }
        Ok(())
    }
}

#[async_trait]
impl CaAdapter for TokenCa {
    fn descriptor(&self) -> &AdapterDescriptor {
        &self.descriptor
    }

    fn needs_session(&self) -> bool {
        true
    }

    async fn open_session(&self) -> Result<CaSession, AdapterError> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n = self.logins.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(CaSession {
            token: format!("token-{n}"),
            expires_in_secs: 3600,
        })
    }

    async fn certificates(
        &self,
        session: Option<&CaSession>,
        _: &str,
    ) -> Result<Vec<CaCertificate>, AdapterError> {
        self.check(session)?;
        Ok(Vec::new())
    }

    async fn begin_sign(
        &self,
        session: Option<&CaSession>,
        _: &SignRequest,
    ) -> Result<SignOutcome, AdapterError> {
        self.check(session)?;
        Err(AdapterError::Unsupported("signing"))
    }

    async fn poll(
        &self,
        session: Option<&CaSession>,
        _: &str,
    ) -> Result<SignOutcome, AdapterError> {
        self.check(session)?;
        Err(AdapterError::Unsupported("polling"))
    }
}

/// Any certificate will do: these calls never reach verification.
async fn trust_anchors() -> TrustAnchors {
    TrustAnchors::from_pem(&kyso_tests::foreign_root_pem().await).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_one_login_and_log_in_again_when_the_ca_refuses_the_token() {
    let redis = RedisServer::start();
    let prefix = format!("kyso-test-{}", uuid::Uuid::new_v4().simple());
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::standalone(&redis.url(), &prefix, Duration::from_secs(1), None).unwrap(),
    );
    let ca = Arc::new(TokenCa::new());
    let anchors = trust_anchors().await;
    // Two gateway instances: each its own provider and lease owner, one store.
    let instances: Vec<Arc<Provider>> = ["instance-a", "instance-b"]
        .into_iter()
        .map(|owner| {
            Arc::new(Provider::new(
                ca.clone(),
                anchors.clone(),
                Metrics::new().unwrap(),
                SessionCache::new(store.clone(), owner, Duration::from_secs(2)),
                Duration::from_secs(2),
            ))
        })
        .collect();
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..10 {
        let provider = instances[n % 2].clone();
        calls.spawn(async move { provider.certificates("001099000001").await });
    }
    for result in calls.join_all().await {
        assert!(result.is_ok(), "{result:?}");
    }
    assert_eq!(
        ca.logins.load(Ordering::SeqCst),
        1,
        "one login for everyone"
    );

    // Cached for less than the token's hour, never forever.
    let ttl: i64 = redis
        .cli(&["pttl", &format!("{prefix}:token:token-ca")])
        .parse()
        .unwrap();
    assert!((1..3_600_000).contains(&ttl), "{ttl}");

    // The CA revokes the token: the next call logs in again, once, and succeeds.
    *ca.revoked.lock().unwrap() = Some("token-1".into());
    instances[1].certificates("001099000001").await.unwrap();
    instances[0].certificates("001099000001").await.unwrap();
    assert_eq!(ca.logins.load(Ordering::SeqCst), 2);
}
