//! Where transactions, idempotency records, follow leases and cached CA tokens live.
//!
//! [`Store`] is shaped for a shared key-value store with TTLs and atomic scripts (Redis), so
//! gateway instances stay stateless; [`memory::MemoryStore`] implements it in this process
//! for the sandbox and single-instance deployments.
//!
//! Pending transactions are indexed per shard (see [`crate::domain::transaction::SHARDS`])
//! and scored by when their follow lease runs out, so an instance finds the transactions
//! nobody follows (their instance died or shut down) in time proportional to their number,
//! and no single key is hot.
//!
//! Documents sent as files wait here too, each beside its transaction and kept as long
//! ([`Store::put_document`]): any instance can assemble or serve them.
//!
//! Admission limits (see `crate::services::admission`) are counted here too, with the
//! store's clock: a rate ([`Store::admit`], GCRA) and bounded sets of held slots
//! ([`Store::reserve_slot`]), each on one key, so every instance shares them.

pub mod memory;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::transaction::Transaction;

/// The store could not be used (unreachable, timed out, corrupt record).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer or refused the connection.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A record could not be decoded.
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// The store has no room left for documents (the in-memory store's bound; Redis's
    /// `maxmemory` answers as unavailable).
    #[error("no room for documents: {0}")]
    Full(String),
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

/// How long each part of a new transaction is kept.
#[derive(Debug, Clone, Copy)]
pub struct CreateTtls {
    /// The transaction record (until it expires, plus retention).
    pub record: Duration,
    /// The idempotency key.
    pub idempotency: Duration,
    /// The creating instance's follow lease.
    pub lease: Duration,
}

/// The outcome of [`Store::create_transaction`].
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    /// The key was free (or already bound to this very transaction, when the store's client
    /// replayed the step after it was applied): the transaction is stored, pending, and
    /// leased to the creating instance.
    New,
    /// The key was bound by an earlier request: nothing was written.
    Existing(IdempotencyRecord),
}

/// What a lease is for; each kind has keys of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease<'a> {
    /// Following the transaction with this id at its CA.
    Follow(&'a str),
    /// Opening a new CA session for the token cached under this key.
    SessionRefresh(&'a str),
}

/// A sustained rate with a burst, for [`Store::admit`] (GCRA, the generic cell rate
/// algorithm: each admitted request moves a "theoretical arrival time" `interval` later; a
/// request is admitted while that time stays within `burst` intervals of now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// The time one request uses up: one over the sustained rate.
    pub interval: Duration,
    /// How many requests may arrive at once.
    pub burst: u32,
}

/// Whether [`Store::admit`] or [`Store::reserve_slot`] let a request in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitDecision {
    /// Admitted (and counted).
    Admitted,
    /// Over the limit: nothing was counted; a request may be admitted after `retry_after`.
    Refused {
        /// How long until one would be admitted (for a slot: until the first held one
        /// runs out, at the latest).
        retry_after: Duration,
    },
}

/// Where the audit trail stands (see [`crate::audit`]): the name of its chain, and the
/// sequence number and hash of its last record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// The chain's name, chosen with its first record.
    pub chain: String,
    /// The last record's sequence number (the first record's is 1).
    pub seq: u64,
    /// The last record's hash, lowercase hex.
    pub hash: String,
}

/// An audit record, sealed (its hash computed) and ready to be appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRecord {
    /// The head of the trail once this record is appended (its chain, sequence number and
    /// hash).
    pub head: AuditHead,
    /// The record as one line of JSON.
    pub line: String,
    /// A key that may be recorded once only (the final outcome of a transaction, which
    /// several instances may try to record): a second record with it is not appended.
    pub once: Option<OnceKey>,
}

/// A key an audit record may be recorded under once only, and how long the store remembers
/// it: as long as something may try to record it again (a transaction's record), not as long
/// as the trail, so that remembering outcomes does not grow with the trail's retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceKey {
    /// The key (`final:<transaction id>`).
    pub key: String,
    /// How long it is remembered (at most the trail's own retention).
    pub keep: Duration,
}

/// How long the store keeps the audit trail, and how much of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRetention {
    /// How long the trail is kept after the last append (and the longest a `once` key is).
    pub ttl: Duration,
    /// The most records kept; the oldest are dropped first.
    pub max_records: u64,
}

/// The outcome of [`Store::append_audit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditAppend {
    /// Every record was appended; the last one is the head now.
    Appended,
    /// The trail's head is no longer the one the records were built on (another writer
    /// appended first); here is the current one (`None`: the trail is empty). Nothing was
    /// written.
    HeadMoved(Option<AuditHead>),
    /// The `once` key of record number `appended` (from 0) was recorded before: the records
    /// before it were appended (the last of them is the head), it and those after it were
    /// not.
    AlreadyRecorded {
        /// How many records were appended before the one already recorded.
        appended: usize,
    },
}

/// The operations the gateway needs from its state store.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// In one atomic step: binds the idempotency key `scoped_key` to `record` unless it is
    /// bound already, stores `transaction` (new, pending), lists it among the pending ones
    /// and gives its follow lease to `owner`. Either all of it happens or none does.
    async fn create_transaction(
        &self,
        scoped_key: &str,
        record: &IdempotencyRecord,
        transaction: &Transaction,
        owner: &str,
        ttls: CreateTtls,
    ) -> Result<Created, StoreError>;

    /// What the idempotency key `scoped_key` is bound to, if anything.
    async fn idempotency_record(
        &self,
        scoped_key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// The transaction with this id, if it exists.
    async fn transaction(&self, id: &str) -> Result<Option<Transaction>, StoreError>;

    /// Stores `next` only if the stored record still has `next.version - 1` (compare-and-set,
    /// on the version alone); it is then kept for `ttl`.
    async fn swap_transaction(&self, next: &Transaction, ttl: Duration)
    -> Result<Swap, StoreError>;

    /// Unbinds `scoped_key` if it is still bound to `record` (the request it guarded failed,
    /// so the portal may try again with the same key).
    async fn release_idempotency_key(
        &self,
        scoped_key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError>;

    /// A CA access token cached under `key`, if still fresh.
    async fn cached_token(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Caches a CA access token for `ttl` (a little less than its lifetime).
    async fn cache_token(&self, key: &str, token: &str, ttl: Duration) -> Result<(), StoreError>;

    /// Drops the cached token under `key` if it is still `token` (the CA refused it).
    async fn invalidate_token(&self, key: &str, token: &str) -> Result<(), StoreError>;

    /// Revocation data (a DER OCSP response or CRL) cached under `key`, if still fresh.
    /// Readers check it again (signature, freshness) before relying on it.
    async fn revocation_data(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Caches revocation data for `ttl` (until its nextUpdate), for every instance.
    async fn cache_revocation_data(
        &self,
        key: &str,
        data: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// Keeps `bytes`, a file of transaction `transaction_id` (a prepared PDF waiting for its
    /// signature, or a signed document), under `name` for `ttl` (the transaction's own).
    /// It lives beside the transaction (one cluster slot), so it can never outlive it for
    /// long nor be found on another shard.
    async fn put_document(
        &self,
        transaction_id: &str,
        name: &str,
        bytes: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// The file kept under `name` for transaction `transaction_id`, if it still is.
    async fn document(
        &self,
        transaction_id: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// How many shards [`Store::orphaned_transactions`] takes.
    fn shards(&self) -> u16;

    /// Up to `limit` ids of pending transactions in `shard` whose follow lease has run out
    /// (nobody follows them), the longest-orphaned first. A hint: readers check the
    /// transaction and take its lease before acting.
    async fn orphaned_transactions(
        &self,
        shard: u16,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;

    /// Removes a transaction from the pending index (it is final, or gone).
    async fn forget_pending(&self, id: &str) -> Result<(), StoreError>;

    /// Takes (or renews, when `owner` already holds it) a lease for `ttl`. One owner holds a
    /// lease at a time; when the owner dies the lease runs out and another can take it.
    async fn acquire_lease(
        &self,
        lease: Lease<'_>,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up if `owner` holds it; a follow lease given up makes its transaction
    /// an orphan at once, for another instance to adopt.
    async fn release_lease(&self, lease: Lease<'_>, owner: &str) -> Result<(), StoreError>;

    /// Checks that the store answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Admits one request under `rate` for the limit named `key`, or says how long until
    /// one would be admitted. Atomic, and computed with the store's own clock, never an
    /// instance's.
    async fn admit(&self, key: &str, rate: Rate) -> Result<LimitDecision, StoreError>;

    /// Holds the slot `member` of the set `key` for `hold`, unless `capacity` slots are held
    /// already (then nothing changes). A slot runs out by itself after its `hold`; holding
    /// a slot already held is admitted and changes nothing, so a repeated call counts once.
    async fn reserve_slot(
        &self,
        key: &str,
        member: &str,
        hold: Duration,
        capacity: u32,
    ) -> Result<LimitDecision, StoreError>;

    /// Frees the slot `member` of the set `key`, if it is held.
    async fn release_slot(&self, key: &str, member: &str) -> Result<(), StoreError>;

    // --- The audit trail (see `crate::audit`): one hash-chained log per store. ---

    /// The head of the audit trail; `None` while it is empty.
    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError>;

    /// In one atomic step: if the trail's head is still `after` (`None`: the trail is
    /// empty), appends `records` in order (each sealed on the one before it, the first on
    /// `after`), stopping before the first whose `once` key was recorded before, and makes
    /// the last appended the head; the trail is then kept for `retention.ttl`, trimmed to
    /// `retention.max_records`. Appends nothing when the head moved. One call for many
    /// records is how an instance's writer commits a group of them in one round trip.
    async fn append_audit(
        &self,
        after: Option<&AuditHead>,
        records: &[SealedRecord],
        retention: AuditRetention,
    ) -> Result<AuditAppend, StoreError>;

    /// Up to `limit` of the kept audit records from sequence number `from` on, in order, as
    /// JSON lines.
    async fn audit_records(&self, from: u64, limit: usize) -> Result<Vec<String>, StoreError>;
}
