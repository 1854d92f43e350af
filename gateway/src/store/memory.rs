//! [`MemoryStore`]: the [`Store`] in this process's memory, for the sandbox and for a single
//! gateway instance. Entries expire like Redis keys; nothing survives a restart.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{IdempotencyRecord, Lease, Store, StoreError, Swap};
use crate::transaction::Transaction;

/// Expired entries are swept after this many writes.
const SWEEP_EVERY_WRITES: u64 = 1024;

struct Expiring<T> {
    value: T,
    expires: Instant,
}

#[derive(Default)]
struct Maps {
    transactions: HashMap<String, Expiring<Transaction>>,
    idempotency: HashMap<String, Expiring<IdempotencyRecord>>,
    tokens: HashMap<String, Expiring<String>>,
    leases: HashMap<String, Expiring<String>>,
    pending: std::collections::BTreeSet<String>,
    writes: u64,
}

impl Maps {
    fn wrote(&mut self, now: Instant) {
        self.writes += 1;
        if self.writes.is_multiple_of(SWEEP_EVERY_WRITES) {
            self.transactions.retain(|_, entry| entry.expires > now);
            self.idempotency.retain(|_, entry| entry.expires > now);
            self.tokens.retain(|_, entry| entry.expires > now);
            self.leases.retain(|_, entry| entry.expires > now);
        }
    }
}

fn live<'a, T>(map: &'a HashMap<String, Expiring<T>>, key: &str, now: Instant) -> Option<&'a T> {
    map.get(key)
        .filter(|entry| entry.expires > now)
        .map(|entry| &entry.value)
}

fn lease_key(lease: Lease<'_>) -> String {
    match lease {
        Lease::Follow(id) => format!("follow:{id}"),
        Lease::SessionRefresh(key) => format!("session:{key}"),
    }
}

/// The in-process store.
#[derive(Default)]
pub struct MemoryStore {
    maps: Mutex<Maps>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_maps<R>(&self, action: impl FnOnce(&mut Maps, Instant) -> R) -> Result<R, StoreError> {
        // A poisoned lock means a panic mid-update elsewhere; the maps themselves are
        // still consistent (every update is a single insert), so keep serving.
        let mut maps = self
            .maps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(action(&mut maps, Instant::now()))
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn insert_transaction(
        &self,
        transaction: &Transaction,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.with_maps(|maps, now| {
            maps.transactions.insert(
                transaction.id.clone(),
                Expiring {
                    value: transaction.clone(),
                    expires: now + ttl,
                },
            );
            maps.pending.insert(transaction.id.clone());
            maps.wrote(now);
        })
    }

    async fn transaction(&self, id: &str) -> Result<Option<Transaction>, StoreError> {
        self.with_maps(|maps, now| live(&maps.transactions, id, now).cloned())
    }

    async fn swap_transaction(
        &self,
        next: &Transaction,
        ttl: Duration,
    ) -> Result<Swap, StoreError> {
        self.with_maps(|maps, now| {
            let current = live(&maps.transactions, &next.id, now);
            if current.map(|stored| stored.version + 1) != Some(next.version) {
                return Swap::Conflict(current.cloned().map(Box::new));
            }
            maps.transactions.insert(
                next.id.clone(),
                Expiring {
                    value: next.clone(),
                    expires: now + ttl,
                },
            );
            maps.wrote(now);
            Swap::Stored
        })
    }

    async fn claim_idempotency_key(
        &self,
        key: &str,
        record: &IdempotencyRecord,
        ttl: Duration,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.with_maps(|maps, now| {
            if let Some(existing) = live(&maps.idempotency, key, now) {
                return Some(existing.clone());
            }
            maps.idempotency.insert(
                key.to_owned(),
                Expiring {
                    value: record.clone(),
                    expires: now + ttl,
                },
            );
            maps.wrote(now);
            None
        })
    }

    async fn release_idempotency_key(
        &self,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        self.with_maps(|maps, now| {
            if live(&maps.idempotency, key, now) == Some(record) {
                maps.idempotency.remove(key);
            }
        })
    }

    async fn cached_token(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with_maps(|maps, now| live(&maps.tokens, key, now).cloned())
    }

    async fn cache_token(&self, key: &str, token: &str, ttl: Duration) -> Result<(), StoreError> {
        self.with_maps(|maps, now| {
            maps.tokens.insert(
                key.to_owned(),
                Expiring {
                    value: token.to_owned(),
                    expires: now + ttl,
                },
            );
            maps.wrote(now);
        })
    }

    async fn pending_transactions(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        self.with_maps(|maps, _| maps.pending.iter().take(limit).cloned().collect())
    }

    async fn forget_pending(&self, id: &str) -> Result<(), StoreError> {
        self.with_maps(|maps, _| {
            maps.pending.remove(id);
        })
    }

    async fn acquire_lease(
        &self,
        lease: Lease<'_>,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.with_maps(|maps, now| {
            let key = lease_key(lease);
            if live(&maps.leases, &key, now).is_some_and(|holder| holder != owner) {
                return false;
            }
            maps.leases.insert(
                key,
                Expiring {
                    value: owner.to_owned(),
                    expires: now + ttl,
                },
            );
            maps.wrote(now);
            true
        })
    }

    async fn release_lease(&self, lease: Lease<'_>, owner: &str) -> Result<(), StoreError> {
        self.with_maps(|maps, now| {
            let key = lease_key(lease);
            if live(&maps.leases, &key, now).is_some_and(|holder| holder == owner) {
                maps.leases.remove(&key);
            }
        })
    }

    async fn invalidate_token(&self, key: &str, token: &str) -> Result<(), StoreError> {
        self.with_maps(|maps, now| {
            if live(&maps.tokens, key, now).is_some_and(|cached| cached == token) {
                maps.tokens.remove(key);
            }
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::TransactionStatus;
    use crate::transaction::tests::sample;
    use time::OffsetDateTime;

    const LONG: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn swap_accepts_only_the_next_version() {
        let store = MemoryStore::new();
        let now = OffsetDateTime::now_utc();
        let pending = sample(now);
        store.insert_transaction(&pending, LONG).await.unwrap();
        let signed = pending.finish(TransactionStatus::Signed, now).unwrap();
        let cancelled = pending.finish(TransactionStatus::Cancelled, now).unwrap();
        assert!(matches!(
            store.swap_transaction(&signed, LONG).await.unwrap(),
            Swap::Stored
        ));
        let Swap::Conflict(Some(current)) = store.swap_transaction(&cancelled, LONG).await.unwrap()
        else {
            panic!("the second writer must lose");
        };
        assert_eq!(current.status, TransactionStatus::Signed);
    }

    #[tokio::test]
    async fn entries_disappear_after_their_ttl() {
        let store = MemoryStore::new();
        let now = OffsetDateTime::now_utc();
        store
            .insert_transaction(&sample(now), Duration::from_millis(20))
            .await
            .unwrap();
        store
            .cache_token("vnpt", "tok", Duration::from_millis(20))
            .await
            .unwrap();
        assert!(store.transaction("t1").await.unwrap().is_some());
        assert_eq!(
            store.cached_token("vnpt").await.unwrap().as_deref(),
            Some("tok")
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(store.transaction("t1").await.unwrap().is_none());
        assert!(store.cached_token("vnpt").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn idempotency_key_is_claimed_once_and_released_only_by_its_owner() {
        let store = MemoryStore::new();
        let first = IdempotencyRecord {
            fingerprint: "a".into(),
            transaction_id: "t1".into(),
        };
        let second = IdempotencyRecord {
            fingerprint: "b".into(),
            transaction_id: "t2".into(),
        };
        assert_eq!(
            store
                .claim_idempotency_key("k", &first, LONG)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .claim_idempotency_key("k", &second, LONG)
                .await
                .unwrap(),
            Some(first.clone())
        );
        store.release_idempotency_key("k", &second).await.unwrap();
        assert!(
            store
                .claim_idempotency_key("k", &second, LONG)
                .await
                .unwrap()
                .is_some()
        );
        store.release_idempotency_key("k", &first).await.unwrap();
        assert_eq!(
            store
                .claim_idempotency_key("k", &second, LONG)
                .await
                .unwrap(),
            None
        );
    }
}
