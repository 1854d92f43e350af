//! [`FaultyStore`]: a [`Store`] around another one that fails one chosen call, to put a gateway
//! instance's death (or a lost reply) at an exact point of its work.
//!
//! - [`StoreFault::Freeze`]: the chosen call and every later one never return, as if the
//!   process died at that instant: it never writes again, its leases run out, and another
//!   instance on the same inner store takes over.
//! - [`StoreFault::LoseReply`]: the call is applied, then reported as unavailable, as when the
//!   connection drops before the reply arrives.
//! - [`StoreFault::FailBefore`]: reported as unavailable without being applied.
//!
//! [`FaultyStore::fail_every`] instead refuses every call of one operation, for as long as
//! the test runs (a store that cannot keep something, e.g. cached revocation data), and
//! [`FaultyStore::slow_every`] makes every call of one operation take a while (a distant or
//! busy store), so what waits on it queues.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use kyso_gateway::domain::transaction::Transaction;
use kyso_gateway::store::{
    AuditAppend, AuditHead, AuditRetention, CreateTtls, Created, IdempotencyRecord, Lease,
    LimitDecision, Rate, SealedRecord, Store, StoreError, Swap,
};

/// The operations a fault armed for any operation (`None`) does not count.
const UNCOUNTED_BY_DEFAULT: [&str; 4] = [
    "orphaned_transactions",
    "audit_head",
    "append_audit",
    "audit_records",
];

/// What happens to the chosen call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFault {
    /// This call and every later one hang forever.
    Freeze,
    /// Applied, then answered as unavailable.
    LoseReply,
    /// Answered as unavailable, not applied.
    FailBefore,
}

/// Which call fails: the `nth` (1-based) call of `operation` (`None`: of any operation but
/// the sweeper's periodic `orphaned_transactions`, whose timing is not the request's, and
/// the audit trail's, whose crash windows are chosen by name in tests of their own)
/// counted from when the fault was armed.
#[derive(Debug)]
struct Armed {
    operation: Option<&'static str>,
    remaining: usize,
    fault: StoreFault,
}

/// A store that fails one chosen call (see the module doc).
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    armed: Mutex<Option<Armed>>,
    frozen: AtomicBool,
    calls: Mutex<Vec<&'static str>>,
    always_failing: Mutex<Vec<&'static str>>,
    slow: Mutex<Vec<(&'static str, Duration)>>,
}

impl FaultyStore {
    /// A store that behaves as `inner` until a fault is armed.
    pub fn new(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            armed: Mutex::new(None),
            frozen: AtomicBool::new(false),
            calls: Mutex::new(Vec::new()),
            always_failing: Mutex::new(Vec::new()),
            slow: Mutex::new(Vec::new()),
        })
    }

    /// Fails the `nth` (1-based) call of `operation` (any operation when `None`) from now on
    /// with `fault`.
    pub fn arm(&self, operation: Option<&'static str>, nth: usize, fault: StoreFault) {
        assert!(nth >= 1, "calls are counted from 1");
        *self.armed.lock().unwrap() = Some(Armed {
            operation,
            remaining: nth,
            fault,
        });
    }

    /// Answers every call of `operation` from now on as unavailable, without applying it.
    pub fn fail_every(&self, operation: &'static str) {
        self.always_failing.lock().unwrap().push(operation);
    }

    /// Makes every call of `operation` from now on wait `delay` before it is applied.
    pub fn slow_every(&self, operation: &'static str, delay: Duration) {
        self.slow.lock().unwrap().push((operation, delay));
    }

    /// Stops answering `operation` as unavailable (undoes [`Self::fail_every`]).
    pub fn stop_failing(&self, operation: &'static str) {
        self.always_failing
            .lock()
            .unwrap()
            .retain(|failing| *failing != operation);
    }

    /// The operations called so far, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }

    /// Whether a [`StoreFault::Freeze`] has struck.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    /// The fault for this call of `operation`, if it is the chosen one.
    fn fault_for(&self, operation: &'static str) -> Option<StoreFault> {
        self.calls.lock().unwrap().push(operation);
        if self.always_failing.lock().unwrap().contains(&operation) {
            return Some(StoreFault::FailBefore);
        }
        let mut armed = self.armed.lock().unwrap();
        let chosen = armed.as_mut().filter(|armed| match armed.operation {
            Some(wanted) => wanted == operation,
            None => !UNCOUNTED_BY_DEFAULT.contains(&operation),
        })?;
        chosen.remaining -= 1;
        if chosen.remaining > 0 {
            return None;
        }
        armed.take().map(|armed| armed.fault)
    }

    /// Runs `call` on the inner store, unless this call is the chosen one.
    async fn run<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.is_frozen() {
            return std::future::pending().await;
        }
        let delay = self
            .slow
            .lock()
            .unwrap()
            .iter()
            .find(|(slow, _)| *slow == operation)
            .map(|(_, delay)| *delay);
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        match self.fault_for(operation) {
            None => call.await,
            Some(StoreFault::Freeze) => {
                self.frozen.store(true, Ordering::SeqCst);
                std::future::pending().await
            }
            Some(StoreFault::LoseReply) => {
                call.await?;
                Err(StoreError::Unavailable(format!("{operation}: reply lost")))
            }
            Some(StoreFault::FailBefore) => {
                Err(StoreError::Unavailable(format!("{operation}: refused")))
            }
        }
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn create_transaction(
        &self,
        scoped_key: &str,
        record: &IdempotencyRecord,
        transaction: &Transaction,
        owner: &str,
        ttls: CreateTtls,
    ) -> Result<Created, StoreError> {
        self.run(
            "create_transaction",
            self.inner
                .create_transaction(scoped_key, record, transaction, owner, ttls),
        )
        .await
    }

    async fn idempotency_record(
        &self,
        scoped_key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.run(
            "idempotency_record",
            self.inner.idempotency_record(scoped_key),
        )
        .await
    }

    async fn transaction(&self, id: &str) -> Result<Option<Transaction>, StoreError> {
        self.run("transaction", self.inner.transaction(id)).await
    }

    async fn swap_transaction(
        &self,
        next: &Transaction,
        ttl: Duration,
    ) -> Result<Swap, StoreError> {
        self.run("swap_transaction", self.inner.swap_transaction(next, ttl))
            .await
    }

    async fn release_idempotency_key(
        &self,
        scoped_key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        self.run(
            "release_idempotency_key",
            self.inner.release_idempotency_key(scoped_key, record),
        )
        .await
    }

    async fn revocation_data(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.run("revocation_data", self.inner.revocation_data(key))
            .await
    }

    async fn cache_revocation_data(
        &self,
        key: &str,
        data: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.run(
            "cache_revocation_data",
            self.inner.cache_revocation_data(key, data, ttl),
        )
        .await
    }

    async fn put_document(
        &self,
        transaction_id: &str,
        name: &str,
        bytes: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.run(
            "put_document",
            self.inner.put_document(transaction_id, name, bytes, ttl),
        )
        .await
    }

    async fn document(
        &self,
        transaction_id: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.run("document", self.inner.document(transaction_id, name))
            .await
    }

    async fn cached_token(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.run("cached_token", self.inner.cached_token(key)).await
    }

    async fn cache_token(&self, key: &str, token: &str, ttl: Duration) -> Result<(), StoreError> {
        self.run("cache_token", self.inner.cache_token(key, token, ttl))
            .await
    }

    async fn invalidate_token(&self, key: &str, token: &str) -> Result<(), StoreError> {
        self.run("invalidate_token", self.inner.invalidate_token(key, token))
            .await
    }

    fn shards(&self) -> u16 {
        self.inner.shards()
    }

    async fn orphaned_transactions(
        &self,
        shard: u16,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.run(
            "orphaned_transactions",
            self.inner.orphaned_transactions(shard, limit),
        )
        .await
    }

    async fn forget_pending(&self, id: &str) -> Result<(), StoreError> {
        self.run("forget_pending", self.inner.forget_pending(id))
            .await
    }

    async fn acquire_lease(
        &self,
        lease: Lease<'_>,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.run("acquire_lease", self.inner.acquire_lease(lease, owner, ttl))
            .await
    }

    async fn release_lease(&self, lease: Lease<'_>, owner: &str) -> Result<(), StoreError> {
        self.run("release_lease", self.inner.release_lease(lease, owner))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run("ping", self.inner.ping()).await
    }

    async fn admit(&self, key: &str, rate: Rate) -> Result<LimitDecision, StoreError> {
        self.run("admit", self.inner.admit(key, rate)).await
    }

    async fn reserve_slot(
        &self,
        key: &str,
        member: &str,
        hold: Duration,
        capacity: u32,
    ) -> Result<LimitDecision, StoreError> {
        self.run(
            "reserve_slot",
            self.inner.reserve_slot(key, member, hold, capacity),
        )
        .await
    }

    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        self.run("audit_head", self.inner.audit_head()).await
    }

    async fn append_audit(
        &self,
        after: Option<&AuditHead>,
        records: &[SealedRecord],
        retention: AuditRetention,
    ) -> Result<AuditAppend, StoreError> {
        self.run(
            "append_audit",
            self.inner.append_audit(after, records, retention),
        )
        .await
    }

    async fn release_slot(&self, key: &str, member: &str) -> Result<(), StoreError> {
        self.run("release_slot", self.inner.release_slot(key, member))
            .await
    }

    async fn audit_records(&self, from: u64, limit: usize) -> Result<Vec<String>, StoreError> {
        self.run("audit_records", self.inner.audit_records(from, limit))
            .await
    }
}
