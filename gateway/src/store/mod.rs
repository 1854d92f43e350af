//! Where transactions, idempotency records and cached CA tokens live.
//!
//! [`Store`] is shaped for a shared key-value store with TTLs and atomic compare-and-set
//! (Redis), so gateway instances stay stateless; [`memory::MemoryStore`] implements it in
//! this process for the sandbox and single-instance deployments.

pub mod memory;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::transaction::Transaction;

/// The store could not be used (unreachable, timed out, corrupt record).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer or refused the connection.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A record could not be decoded.
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
}

/// The outcome of a compare-and-set.
#[derive(Debug)]
pub enum Swap {
    /// The new version was stored.
    Stored,
    /// Another writer changed the record first; here is what is stored now.
    Conflict(Option<Box<Transaction>>),
}

/// What an `Idempotency-Key` is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// SHA-256 of the request body as parsed, hex.
    pub fingerprint: String,
    /// The transaction the first request created.
    pub transaction_id: String,
}

/// What a lease is for; each kind has keys of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease<'a> {
    /// Following the transaction with this id at its CA.
    Follow(&'a str),
    /// Opening a new CA session for the token cached under this key.
    SessionRefresh(&'a str),
}

/// The operations the gateway needs from its state store.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new transaction, kept for `ttl`, and lists it among the pending ones.
    async fn insert_transaction(
        &self,
        transaction: &Transaction,
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// The transaction with this id, if it exists.
    async fn transaction(&self, id: &str) -> Result<Option<Transaction>, StoreError>;

    /// Stores `next` only if the stored record still has `next.version - 1` (compare-and-set);
    /// it is then kept for `ttl`.
    async fn swap_transaction(&self, next: &Transaction, ttl: Duration)
    -> Result<Swap, StoreError>;

    /// Binds `key` to `record` unless it is already bound (set-if-absent, kept for `ttl`);
    /// returns the existing record when there is one.
    async fn claim_idempotency_key(
        &self,
        key: &str,
        record: &IdempotencyRecord,
        ttl: Duration,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Unbinds `key` if it is still bound to `record` (the request it guarded was refused
    /// before any transaction was created).
    async fn release_idempotency_key(
        &self,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError>;

    /// A CA access token cached under `key`, if still fresh.
    async fn cached_token(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Caches a CA access token for `ttl` (a little less than its lifetime).
    async fn cache_token(&self, key: &str, token: &str, ttl: Duration) -> Result<(), StoreError>;

    /// Up to `limit` ids of transactions that may still be pending. Entries are removed
    /// with [`Store::forget_pending`] once final, so the list is a hint: readers check the
    /// transaction itself.
    async fn pending_transactions(&self, limit: usize) -> Result<Vec<String>, StoreError>;

    /// Removes a transaction from the pending list.
    async fn forget_pending(&self, id: &str) -> Result<(), StoreError>;

    /// Takes (or renews, when `owner` already holds it) a lease for `ttl`. One owner holds a
    /// lease at a time; when the owner dies the lease runs out and another can take it.
    async fn acquire_lease(
        &self,
        lease: Lease<'_>,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up if `owner` holds it.
    async fn release_lease(&self, lease: Lease<'_>, owner: &str) -> Result<(), StoreError>;

    /// Drops the cached token under `key` if it is still `token` (the CA refused it).
    async fn invalidate_token(&self, key: &str, token: &str) -> Result<(), StoreError>;

    /// Checks that the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
}
