//! CA login sessions (access tokens) shared by every gateway instance through the store.
//!
//! A session is cached until shortly before the CA says it expires. When none is cached,
//! one instance logs in while holding a refresh lease and the others wait for its result,
//! so a CA sees one login per expiry however many instances and requests there are.
//! Tokens are never logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kyso_adapter_core::{AdapterError, CaSession};

use crate::store::{Lease, Store, StoreError};

/// How often a waiting instance looks for the session another one is opening.
const WAIT_STEP: Duration = Duration::from_millis(25);

/// The shared cache of CA sessions.
#[derive(Clone)]
pub struct SessionCache {
    store: Arc<dyn Store>,
    owner: String,
    wait: Duration,
}

impl SessionCache {
    /// A cache in `store`; `owner` names this instance in refresh leases; a login may take
    /// up to `wait` (the provider's request timeout).
    pub fn new(store: Arc<dyn Store>, owner: &str, wait: Duration) -> Self {
        Self {
            store,
            owner: owner.to_owned(),
            wait,
        }
    }

    /// The cached session under `key`, or a new one from `open` (called by one instance at
    /// a time, and only when nothing is cached).
    pub async fn session<Open, Opening>(
        &self,
        key: &str,
        open: Open,
    ) -> Result<CaSession, AdapterError>
    where
        Open: Fn() -> Opening,
        Opening: Future<Output = Result<CaSession, AdapterError>>,
    {
        // Twice the login time: a login under way elsewhere, then ours if that one died.
        let deadline = Instant::now() + self.wait * 2 + WAIT_STEP;
        // Leases are re-entrant for their owner, so each attempt is an owner of its own:
        // concurrent calls in one instance must not all log in.
        let attempt = format!("{}:{}", self.owner, uuid::Uuid::new_v4().simple());
        loop {
            if let Some(session) = self.cached(key).await? {
                return Ok(session);
            }
            let lease = Lease::SessionRefresh(key);
            if self
                .store
                .acquire_lease(lease, &attempt, self.wait)
                .await
                .map_err(store_failure)?
            {
                let result = self.open_and_cache(key, open()).await;
                if let Err(error) = self.store.release_lease(lease, &attempt).await {
                    tracing::warn!(%error, "could not release a session refresh lease");
                }
                return result;
            }
            if Instant::now() >= deadline {
                return Err(AdapterError::Unavailable(
                    "no CA session could be obtained in time".into(),
                ));
            }
            tokio::time::sleep(WAIT_STEP).await;
        }
    }

    async fn open_and_cache(
        &self,
        key: &str,
        opening: impl Future<Output = Result<CaSession, AdapterError>>,
    ) -> Result<CaSession, AdapterError> {
        // Another instance may have finished just before we took the lease.
        if let Some(session) = self.cached(key).await? {
            return Ok(session);
        }
        let session = opening.await?;
        let lifetime = Duration::from_secs(session.expires_in_secs);
        let margin = (lifetime / 10).clamp(Duration::from_secs(5), Duration::from_secs(60));
        let ttl = lifetime.saturating_sub(margin);
        if ttl.is_zero() {
            // Too short-lived to share: use it once.
            return Ok(session);
        }
        let encoded = serde_json::to_string(&session)
            .map_err(|error| AdapterError::Internal(error.to_string()))?;
        self.store
            .cache_token(key, &encoded, ttl)
            .await
            .map_err(store_failure)?;
        Ok(session)
    }

    async fn cached(&self, key: &str) -> Result<Option<CaSession>, AdapterError> {
        let cached = self.store.cached_token(key).await.map_err(store_failure)?;
        Ok(cached.and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// Drops `session` from the cache (the CA refused it), unless it was replaced already.
    pub async fn invalidate(&self, key: &str, session: &CaSession) {
        let Ok(encoded) = serde_json::to_string(session) else {
            return;
        };
        if let Err(error) = self.store.invalidate_token(key, &encoded).await {
            tracing::warn!(%error, "could not drop a refused CA session");
        }
    }
}

/// Without the store no session can be shared; the CA cannot be called meanwhile.
fn store_failure(error: StoreError) -> AdapterError {
    AdapterError::Unavailable(format!("CA session unavailable: {error}"))
}
