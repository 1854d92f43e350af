//! [`RedisStore`]: the [`Store`] in Redis (standalone or Redis Cluster), so that any number of
//! gateway instances share transactions, idempotency records, CA tokens and follow leases.
//!
//! - Every key has a TTL; nothing stays forever (the pending index of a shard lives as long
//!   as its newest member may matter).
//! - A transaction's keys, its idempotency key and its shard's pending index share one hash
//!   tag, `{sNN}` (the shard), so they live on one cluster slot and one script can change
//!   them together: creating a transaction (key, record, pending entry, lease) is atomic.
//! - A transaction is one binary-safe string, its version first (a compare-and-set checks it
//!   without decoding the record on Redis's main thread), then the digest of its issuer chain,
//!   then its JSON and its certificate's DER deflated together, the issuer chain and the
//!   JSON's names as preset dictionary (see [`record`]): about half their size. Records of
//!   the previous layout (a hash of `v` and the whole JSON, `doc`) are still read, and
//!   rewritten in this one by the next change.
//! - Issuer chains (the same for every citizen of an issuing CA) are stored once each, under
//!   `{prefix}:chain:{digest}` ([`record::IssuerChain`]): on whatever cluster slot, since no
//!   script touches a chain together with a record. An instance writes a chain before the
//!   first record that needs it and again only when the chain's TTL may no longer cover a
//!   record (see [`CHAIN_TTL_MARGIN`]), and keeps the chains it read in memory.
//! - The pending index of a shard is a sorted set scored by when each follow lease runs out
//!   (server time, in ms), so orphans are a range query.
//! - LimitDecision limits are one key each (`{prefix}:rate:*` a GCRA theoretical arrival time
//!   in server microseconds, `{prefix}:slots:*` a sorted set of held slots scored by when
//!   each runs out), so each script touches one slot of a cluster.
//! - Every operation is bounded by the configured timeout; an unreachable Redis is
//!   [`StoreError::Unavailable`] within that time, and the connection is re-established in
//!   the background, so the gateway recovers without a restart.

pub mod record;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, RedisError, Script};
use tokio::sync::OnceCell;

use self::record::{DecodedRecord, IssuerChain};
use super::{
    AuditAppend, AuditHead, AuditRetention, CreateTtls, Created, IdempotencyRecord, Lease,
    LimitDecision, Rate, SealedRecord, Store, StoreError, Swap,
};
use crate::bounded_cache::BoundedCache;
use crate::domain::transaction::{SHARDS, Transaction, shard_of_key, shard_of_transaction};

/// How much longer than the record it is written with an issuer chain is kept. A chain's key
/// must outlive every record that refers to it:
///
/// - a record's TTL is `t`, what create and swap are given: until the transaction expires,
///   plus `transactions.retention_secs` (so at most the provider's confirmation timeout plus
///   the retention);
/// - before writing a record with TTL `t` at instant `w` (this instance's clock), the instance
///   makes sure its record's chain lives until at least `w + t + CHAIN_TTL_SLACK`: it
///   remembers, per chain, when it last set the chain's TTL and to what (from the instant
///   before the command was sent, so a lower bound), and sets the TTL to `t +
///   CHAIN_TTL_MARGIN` again when that is not enough;
/// - a chain's TTL is only ever lengthened ([`KEEP_CHAIN_SCRIPT`]), its content never
///   changes (its key is its digest), and nothing deletes it;
/// - the record is applied at most `CHAIN_TTL_SLACK` after `w` (the store's timeout is
///   seconds; the slack also covers a write answered late and a small difference between
///   the clocks of two cluster nodes), so it expires before its chain.
///
/// A chain is therefore dropped at most `CHAIN_TTL_MARGIN` after the last record referring to
/// it expires, and each instance sets each chain's TTL at most once every
/// `CHAIN_TTL_MARGIN - CHAIN_TTL_SLACK` (ten minutes) while it writes records of it.
const CHAIN_TTL_MARGIN: Duration = Duration::from_secs(15 * 60);

/// See [`CHAIN_TTL_MARGIN`].
const CHAIN_TTL_SLACK: Duration = Duration::from_secs(5 * 60);

/// Issuer chains an instance remembers (their certificates, and how long it knows each is
/// kept): a handful of issuing CAs exist nationally.
const CHAIN_CACHE_CAPACITY: usize = 1024;

/// How long an instance keeps a chain it read in memory. A chain never changes (its key is its
/// digest); this only lets the memory of chains no longer used go.
const CHAIN_CACHE_FOR: Duration = Duration::from_secs(3600);

/// Redis server time in milliseconds, inside a script.
const NOW_MS: &str =
    "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)";

/// Creates a transaction. `KEYS`: idempotency key, transaction, pending index, lease.
/// `ARGV`: idempotency record, transaction record, record TTL ms, idempotency TTL ms, lease
/// TTL ms, owner, transaction id. Answers `{1}` when created, `{0, record}` when the key was
/// bound already.
const CREATE_SCRIPT: &str = r"
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[4], ARGV[6], 'PX', ARGV[5])
NOW
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[7])
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
return {1, false}
";

/// Stores the record `ARGV[1]` in `KEYS[1]` (TTL `ARGV[3]` ms) only if the stored version is
/// `ARGV[2] - 1` (read from the record's first line, or from `v` in a record of the previous
/// layout, which this rewrites in the new one). Answers `{1}` when stored, `{0, current}`
/// when not (`current` as stored; none when there is no record).
const SWAP_SCRIPT: &str = r"
local layout = redis.call('TYPE', KEYS[1]).ok
local version
if layout == 'string' then
  version = string.match(redis.call('GETRANGE', KEYS[1], 0, 20), '^(%d+)\n')
elseif layout == 'hash' then
  version = redis.call('HGET', KEYS[1], 'v')
else
  return {0, false}
end
if tonumber(version) ~= tonumber(ARGV[2]) - 1 then
  if layout == 'hash' then return {0, redis.call('HGET', KEYS[1], 'doc')} end
  return {0, redis.call('GET', KEYS[1])}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return {1, false}
";

/// The record in `KEYS[1]` whatever its layout: this one's string, or the JSON (`doc`) of a
/// hash of the previous layout. Reads use a plain `GET`, and this only when the key holds a
/// hash.
const READ_ANY_LAYOUT_SCRIPT: &str = r"
if redis.call('TYPE', KEYS[1]).ok == 'hash' then return redis.call('HGET', KEYS[1], 'doc') end
return redis.call('GET', KEYS[1])
";

/// Keeps the issuer chain `ARGV[1]` in `KEYS[1]` for at least `ARGV[2]` ms: stores it unless
/// it is already kept that long, so its TTL is never shortened (see [`CHAIN_TTL_MARGIN`]).
const KEEP_CHAIN_SCRIPT: &str = r"
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
";

/// Deletes `KEYS[1]` only if it holds `ARGV[1]`.
const DELETE_IF_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Sets `KEYS[1]` to `ARGV[1]` for `ARGV[2]` ms if it is free or already held by `ARGV[1]`;
/// for a follow lease (`KEYS[2]` the pending index, `ARGV[3]` the transaction) also moves
/// the pending entry's score to the new end of the lease, if the entry is still there.
const LEASE_SCRIPT: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  if KEYS[2] then
    NOW
    redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[2]), ARGV[3])
  end
  return 1
end
return 0
";

/// Deletes the lease `KEYS[1]` if `ARGV[1]` holds it; for a follow lease also makes the
/// pending entry (`KEYS[2]`, member `ARGV[2]`) an orphan at once.
const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if KEYS[2] then redis.call('ZADD', KEYS[2], 'XX', 0, ARGV[2]) end
return 1
";

/// Up to `ARGV[1]` members of `KEYS[1]` whose lease ended by now, oldest first.
const ORPHANS_SCRIPT: &str = r"
NOW
return redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, ARGV[1])
";

/// GCRA on `KEYS[1]` (the theoretical arrival time, server microseconds): `ARGV[1]` the
/// interval and `ARGV[2]` the burst. Answers `{1, 0}` when admitted, else `{0, µs to
/// wait}`. Numbers are written with `%.0f`: Lua would print microseconds in exponent form.
const ADMIT_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat < now then tat = now end
local ahead = tat + interval - now
local tolerance = interval * tonumber(ARGV[2])
if ahead > tolerance then return {0, ahead - tolerance} end
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', math.ceil(ahead / 1000))
return {1, 0}
";

/// Holds slot `ARGV[1]` of the sorted set `KEYS[1]` for `ARGV[2]` ms unless `ARGV[3]` are
/// held; run-out slots are dropped first. Answers `{1, 0}` when held, else `{0, ms until
/// the first held slot runs out}`.
const RESERVE_SLOT_SCRIPT: &str = r"
NOW
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {1, 0} end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, math.max(tonumber(first[2] or now) - now, 0)}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {1, 0}
";

/// Appends audit records. `KEYS`: the trail's head (a hash of `chain`, `seq`, `hash`), its
/// records (a stream whose entry ids are the sequence numbers), then the `once` keys of the
/// records that have one. `ARGV`: the expected head's chain (empty: the trail is empty),
/// sequence number and hash; the retention in ms; the most records kept; then six per
/// record: its chain, sequence number, hash, line, the index in `KEYS` of its `once` key
/// (0: none) and how long that key is kept in ms. Answers `{'moved', chain, seq, hash}` when the head is not the expected one
/// (nothing written), `{'once', n}` when record `n + 1` (one-based) has a `once` key used
/// already (the `n` before it appended, nothing after), `{'appended'}` otherwise.
const AUDIT_APPEND_SCRIPT: &str = r"
local head = redis.call('HMGET', KEYS[1], 'chain', 'seq', 'hash')
local expected
if ARGV[1] == '' then
  expected = not head[1]
else
  expected = head[1] == ARGV[1] and head[2] == ARGV[2] and head[3] == ARGV[3]
end
if not expected then return {'moved', head[1], head[2], head[3]} end
local ttl, keep = ARGV[4], ARGV[5]
local appended, last, stopped = 0, nil, false
for i = 6, #ARGV, 6 do
  local once = tonumber(ARGV[i + 4])
  if once > 0 and redis.call('EXISTS', KEYS[once]) == 1 then
    stopped = true
    break
  end
  redis.call('XADD', KEYS[2], 'MAXLEN', keep, ARGV[i + 1] .. '-0', 'r', ARGV[i + 3])
  if once > 0 then redis.call('SET', KEYS[once], ARGV[i + 1], 'PX', ARGV[i + 5]) end
  appended, last = appended + 1, i
end
if last then
  redis.call('HSET', KEYS[1], 'chain', ARGV[last], 'seq', ARGV[last + 1], 'hash', ARGV[last + 2])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
if stopped then return {'once', tostring(appended)} end
return {'appended'}
";

/// Up to `ARGV[2]` records of the audit stream `KEYS[1]` from sequence number `ARGV[1]` on.
const AUDIT_RECORDS_SCRIPT: &str = r"
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
local lines = {}
for i, entry in ipairs(entries) do lines[i] = entry[2][2] end
return lines
";

/// A script with the server's time available as `now`.
fn timed_script(source: &str) -> Script {
    Script::new(&source.replace("NOW", NOW_MS))
}

/// Hands out connections: a reconnecting manager for a standalone Redis, a lazily opened
/// cluster connection for Redis Cluster.
#[async_trait]
pub trait ConnectionSource: Send + Sync + 'static {
    /// The connection type.
    type Connection: ConnectionLike + Send;

    /// A connection to run one operation on.
    async fn connection(&self) -> Result<Self::Connection, RedisError>;
}

#[async_trait]
impl ConnectionSource for ConnectionManager {
    type Connection = Self;

    async fn connection(&self) -> Result<Self, RedisError> {
        Ok(self.clone())
    }
}

/// A Redis Cluster connection opened on first use (and retried until it opens), so the
/// gateway starts, and recovers, whether or not the cluster is up.
pub struct LazyCluster {
    client: redis::cluster::ClusterClient,
    connection: OnceCell<ClusterConnection>,
}

#[async_trait]
impl ConnectionSource for LazyCluster {
    type Connection = ClusterConnection;

    async fn connection(&self) -> Result<ClusterConnection, RedisError> {
        self.connection
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }
}

/// The Redis-backed store.
pub struct RedisStore<S> {
    source: S,
    prefix: String,
    timeout: Duration,
    chains: KnownChains,
    create: Script,
    swap: Script,
    read_any_layout: Script,
    keep_chain: Script,
    delete_if: Script,
    lease: Script,
    release: Script,
    orphans: Script,
    admit: Script,
    reserve_slot: Script,
    audit_append: Script,
    audit_records: Script,
}

/// What an instance knows of the issuer chains in the store, by digest.
struct KnownChains {
    /// The certificates of chains read or written (see [`CHAIN_CACHE_FOR`]).
    certificates: BoundedCache<String, Arc<Vec<Vec<u8>>>>,
    /// The chains whose TTL this instance set, each until the instant it is known to be kept
    /// at least (see [`CHAIN_TTL_MARGIN`]).
    kept: BoundedCache<String, ()>,
}

/// Checks a key prefix: no braces (they would break hash tags), no spaces.
fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty()
        || prefix
            .chars()
            .any(|c| c.is_whitespace() || c == '{' || c == '}')
    {
        Err("key_prefix must be non-empty, without spaces or braces".into())
    } else {
        Ok(())
    }
}

impl RedisStore<ConnectionManager> {
    /// A store on a standalone Redis at `url` (`redis://`, or `rediss://` for TLS, whose
    /// server certificate must chain to `tls_ca_pem` when given, else to the system's
    /// roots). Does not connect yet: the first operation does.
    pub fn standalone(
        url: &str,
        prefix: &str,
        timeout: Duration,
        tls_ca_pem: Option<Vec<u8>>,
    ) -> Result<Self, String> {
        check_prefix(prefix)?;
        let client = match tls_ca_pem {
            None => redis::Client::open(url),
            Some(root_cert) => redis::Client::build_with_tls(url, tls_roots(root_cert)),
        }
        .map_err(|error| error.to_string())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|error| error.to_string())?;
        Ok(Self::new(manager, prefix, timeout))
    }
}

impl RedisStore<LazyCluster> {
    /// A store on a Redis Cluster reached through any of `urls` (TLS as for
    /// [`RedisStore::standalone`]).
    pub fn cluster(
        urls: &[String],
        prefix: &str,
        timeout: Duration,
        tls_ca_pem: Option<Vec<u8>>,
    ) -> Result<Self, String> {
        check_prefix(prefix)?;
        let mut builder = ClusterClientBuilder::new(urls.to_vec())
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(2);
        if let Some(root_cert) = tls_ca_pem {
            builder = builder.certs(tls_roots(root_cert));
        }
        let client = builder.build().map_err(|error| error.to_string())?;
        Ok(Self::new(
            LazyCluster {
                client,
                connection: OnceCell::new(),
            },
            prefix,
            timeout,
        ))
    }
}

/// Trust `root_cert` (PEM) for the server's certificate; no client certificate.
fn tls_roots(root_cert: Vec<u8>) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(root_cert),
    }
}

fn unavailable(error: &RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl<S: ConnectionSource> RedisStore<S> {
    fn new(source: S, prefix: &str, timeout: Duration) -> Self {
        Self {
            source,
            prefix: prefix.to_owned(),
            timeout,
            chains: KnownChains {
                certificates: BoundedCache::new(CHAIN_CACHE_CAPACITY),
                kept: BoundedCache::new(CHAIN_CACHE_CAPACITY),
            },
            create: timed_script(CREATE_SCRIPT),
            swap: Script::new(SWAP_SCRIPT),
            read_any_layout: Script::new(READ_ANY_LAYOUT_SCRIPT),
            keep_chain: Script::new(KEEP_CHAIN_SCRIPT),
            delete_if: Script::new(DELETE_IF_SCRIPT),
            lease: timed_script(LEASE_SCRIPT),
            release: Script::new(RELEASE_SCRIPT),
            orphans: timed_script(ORPHANS_SCRIPT),
            admit: Script::new(ADMIT_SCRIPT),
            reserve_slot: timed_script(RESERVE_SLOT_SCRIPT),
            audit_append: Script::new(AUDIT_APPEND_SCRIPT),
            audit_records: Script::new(AUDIT_RECORDS_SCRIPT),
        }
    }

    /// The hash tag of a shard: every key of the shard lives on its cluster slot.
    fn shard_tag(&self, shard: u16) -> String {
        format!("{}:{{s{shard:02}}}", self.prefix)
    }

    /// A transaction's key; `None` for an id that names no shard (no such transaction).
    fn transaction_key(&self, id: &str) -> Option<String> {
        Some(format!(
            "{}:txn:{id}",
            self.shard_tag(shard_of_transaction(id)?)
        ))
    }

    /// A file of a transaction: beside it, in its shard.
    fn document_key(&self, transaction_id: &str, name: &str) -> Option<String> {
        Some(format!(
            "{}:doc:{transaction_id}:{name}",
            self.shard_tag(shard_of_transaction(transaction_id)?)
        ))
    }

    /// An issuer chain's key: not in any shard (one chain serves transactions of every shard).
    fn chain_key(&self, digest: &str) -> String {
        format!("{}:chain:{digest}", self.prefix)
    }

    fn pending_key(&self, shard: u16) -> String {
        format!("{}:pending", self.shard_tag(shard))
    }

    /// A lease's key and, for a follow lease, its transaction's pending index.
    /// The keys of the lease scripts (the lease, then for a follow lease its shard's pending
    /// index) and the pending member (the transaction id; empty for other leases).
    fn lease_keys<'a>(&self, lease: Lease<'a>) -> Option<(Vec<String>, &'a str)> {
        Some(match lease {
            Lease::Follow(id) => {
                let shard = shard_of_transaction(id)?;
                (
                    vec![
                        format!("{}:lease:{id}", self.shard_tag(shard)),
                        self.pending_key(shard),
                    ],
                    id,
                )
            }
            Lease::SessionRefresh(key) => {
                (vec![format!("{}:lease:session:{key}", self.prefix)], "")
            }
        })
    }

    fn idempotency_key(&self, scoped_key: &str) -> String {
        format!(
            "{}:idem:{scoped_key}",
            self.shard_tag(shard_of_key(scoped_key))
        )
    }

    fn token_key(&self, key: &str) -> String {
        format!("{}:token:{key}", self.prefix)
    }

    fn revocation_key(&self, key: &str) -> String {
        format!("{}:revocation:{key}", self.prefix)
    }

    fn rate_key(&self, key: &str) -> String {
        format!("{}:rate:{key}", self.prefix)
    }

    fn slots_key(&self, key: &str) -> String {
        format!("{}:slots:{key}", self.prefix)
    }

    /// A key of the audit trail: they all share the hash tag `{audit}`, so one script can
    /// append a record and move the head (one cluster slot).
    fn audit_key(&self, name: &str) -> String {
        format!("{}:{{audit}}:{name}", self.prefix)
    }

    /// Runs `command`, bounded by the store's timeout.
    async fn query<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, StoreError> {
        self.bounded(async {
            let mut connection = self.source.connection().await?;
            command.query_async(&mut connection).await
        })
        .await
    }

    /// Runs `script` on `keys` (all in one slot) with `args`, bounded by the store's
    /// timeout.
    async fn invoke<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T, StoreError> {
        let args: Vec<&[u8]> = args.iter().map(|arg| arg.as_bytes()).collect();
        self.invoke_binary(script, keys, &args).await
    }

    /// [`Self::invoke`] with arguments that need not be text.
    async fn invoke_binary<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&[u8]],
    ) -> Result<T, StoreError> {
        self.bounded(async {
            let mut connection = self.source.connection().await?;
            let mut invocation = script.prepare_invoke();
            for key in keys {
                invocation.key(*key);
            }
            for arg in args {
                invocation.arg(*arg);
            }
            invocation.invoke_async(&mut connection).await
        })
        .await
    }

    /// Runs `operation`, bounded by the store's timeout.
    async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        self.answer_of(operation)
            .await?
            .map_err(|error| unavailable(&error))
    }

    /// Redis's answer to `operation`, errors included; unavailable if there is none within
    /// the store's timeout.
    async fn answer_of<T>(
        &self,
        operation: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<Result<T, RedisError>, StoreError> {
        tokio::time::timeout(self.timeout, operation)
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!("Redis did not answer within {:?}", self.timeout))
            })
    }

    /// Makes sure `chain` is kept at least `record_ttl` plus [`CHAIN_TTL_SLACK`] from now,
    /// before a record referring to it is written with that TTL (see [`CHAIN_TTL_MARGIN`]).
    async fn keep_chain(&self, chain: IssuerChain, record_ttl: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        // The entry lives until the instant the chain is known to be kept: asked at the
        // instant it must be kept until, it answers whether it still is then.
        if self
            .chains
            .kept
            .get(&chain.digest, now + record_ttl + CHAIN_TTL_SLACK)
            .is_some()
        {
            return Ok(());
        }
        let ttl = record_ttl + CHAIN_TTL_MARGIN;
        let _: i64 = self
            .invoke(
                &self.keep_chain,
                &[&self.chain_key(&chain.digest)],
                &[&chain.stored, &millis(ttl).to_string()],
            )
            .await?;
        let written = Instant::now();
        self.chains
            .kept
            .insert(chain.digest.clone(), (), now + ttl, written);
        self.chains.certificates.insert(
            chain.digest,
            Arc::new(chain.certificates),
            written + CHAIN_CACHE_FOR,
            written,
        );
        Ok(())
    }

    /// The whole transaction a stored record (of transaction `id`) holds, with its issuer
    /// chain from memory or read from the store.
    async fn transaction_of(&self, id: &str, stored: &[u8]) -> Result<Transaction, StoreError> {
        let parts = match record::decode(stored)? {
            DecodedRecord::Whole(transaction) => return Ok(*transaction),
            DecodedRecord::Packed(parts) => parts,
        };
        match parts.chain_digest()? {
            None => record::unpack(&parts, &[]),
            Some(digest) => record::unpack(&parts, &self.issuer_chain(id, digest).await?),
        }
    }

    /// The certificates of the issuer chain `digest` that transaction `id` refers to: from
    /// memory, else from the store (and then remembered).
    async fn issuer_chain(&self, id: &str, digest: &str) -> Result<Arc<Vec<Vec<u8>>>, StoreError> {
        let now = Instant::now();
        if let Some(chain) = self.chains.certificates.get(digest, now) {
            return Ok(chain);
        }
        let stored: Option<Vec<u8>> = self
            .query(redis::cmd("GET").arg(self.chain_key(digest)))
            .await?;
        let stored = stored.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "transaction {id} refers to issuer chain {digest}, which is not in the store"
            ))
        })?;
        let chain = Arc::new(IssuerChain::read(digest, &stored)?);
        self.chains.certificates.insert(
            digest.to_owned(),
            Arc::clone(&chain),
            now + CHAIN_CACHE_FOR,
            now,
        );
        Ok(chain)
    }

    /// The record of `transaction`, to be written with a TTL of `record_ttl`; its issuer
    /// chain is kept long enough first.
    async fn record_with_its_chain(
        &self,
        transaction: &Transaction,
        record_ttl: Duration,
    ) -> Result<Vec<u8>, StoreError> {
        let encoded = record::encode(transaction)?;
        if let Some(chain) = encoded.chain {
            self.keep_chain(chain, record_ttl).await?;
        }
        Ok(encoded.value)
    }
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt(error.to_string()))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| StoreError::Corrupt(error.to_string()))
}

#[async_trait]
impl<S: ConnectionSource> Store for RedisStore<S> {
    async fn create_transaction(
        &self,
        scoped_key: &str,
        record: &IdempotencyRecord,
        transaction: &Transaction,
        owner: &str,
        ttls: CreateTtls,
    ) -> Result<Created, StoreError> {
        let misplaced = || {
            StoreError::Corrupt(format!(
                "transaction {} is not in its idempotency key's shard",
                transaction.id
            ))
        };
        if shard_of_transaction(&transaction.id) != Some(shard_of_key(scoped_key)) {
            return Err(misplaced());
        }
        let transaction_key = self
            .transaction_key(&transaction.id)
            .ok_or_else(misplaced)?;
        let (lease_keys, _) = self
            .lease_keys(Lease::Follow(&transaction.id))
            .ok_or_else(misplaced)?;
        let [lease_key, pending_key] =
            <[String; 2]>::try_from(lease_keys).map_err(|_| misplaced())?;
        let encoded_record = encode(record)?;
        let transaction_record = self.record_with_its_chain(transaction, ttls.record).await?;
        let (created, existing): (i64, Option<String>) = self
            .invoke_binary(
                &self.create,
                &[
                    &self.idempotency_key(scoped_key),
                    &transaction_key,
                    &pending_key,
                    &lease_key,
                ],
                &[
                    encoded_record.as_bytes(),
                    &transaction_record,
                    millis(ttls.record).to_string().as_bytes(),
                    millis(ttls.idempotency).to_string().as_bytes(),
                    millis(ttls.lease).to_string().as_bytes(),
                    owner.as_bytes(),
                    transaction.id.as_bytes(),
                ],
            )
            .await?;
        if created == 1 {
            return Ok(Created::New);
        }
        let existing: IdempotencyRecord = decode(existing.as_deref().unwrap_or_default())?;
        // The client may have sent the script again after Redis applied it (a reply lost
        // to a dropped connection): the key then holds this very request's record.
        if &existing == record {
            return Ok(Created::New);
        }
        Ok(Created::Existing(existing))
    }

    async fn idempotency_record(
        &self,
        scoped_key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let text: Option<String> = self
            .query(redis::cmd("GET").arg(self.idempotency_key(scoped_key)))
            .await?;
        text.as_deref().map(decode).transpose()
    }

    async fn transaction(&self, id: &str) -> Result<Option<Transaction>, StoreError> {
        let Some(key) = self.transaction_key(id) else {
            return Ok(None);
        };
        let stored: Option<Vec<u8>> = match self
            .answer_of(async {
                let mut connection = self.source.connection().await?;
                redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut connection)
                    .await
            })
            .await?
        {
            Ok(stored) => stored,
            // A record of the previous layout (a hash).
            Err(error) if error.code() == Some("WRONGTYPE") => {
                self.invoke(&self.read_any_layout, &[&key], &[]).await?
            }
            Err(error) => return Err(unavailable(&error)),
        };
        match stored {
            Some(stored) => self.transaction_of(id, &stored).await.map(Some),
            None => Ok(None),
        }
    }

    async fn swap_transaction(
        &self,
        next: &Transaction,
        ttl: Duration,
    ) -> Result<Swap, StoreError> {
        let Some(key) = self.transaction_key(&next.id) else {
            return Ok(Swap::Conflict(None));
        };
        let record = self.record_with_its_chain(next, ttl).await?;
        let (stored, current): (i64, Option<Vec<u8>>) = self
            .invoke_binary(
                &self.swap,
                &[&key],
                &[
                    &record,
                    next.version.to_string().as_bytes(),
                    millis(ttl).to_string().as_bytes(),
                ],
            )
            .await?;
        if stored == 1 {
            return Ok(Swap::Stored);
        }
        Ok(Swap::Conflict(match current {
            Some(current) => Some(Box::new(self.transaction_of(&next.id, &current).await?)),
            None => None,
        }))
    }

    async fn release_idempotency_key(
        &self,
        scoped_key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        let _: i64 = self
            .invoke(
                &self.delete_if,
                &[&self.idempotency_key(scoped_key)],
                &[&encode(record)?],
            )
            .await?;
        Ok(())
    }

    async fn cached_token(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.query(redis::cmd("GET").arg(self.token_key(key))).await
    }

    async fn cache_token(&self, key: &str, token: &str, ttl: Duration) -> Result<(), StoreError> {
        self.query(
            redis::cmd("SET")
                .arg(self.token_key(key))
                .arg(token)
                .arg("PX")
                .arg(millis(ttl)),
        )
        .await
    }

    async fn invalidate_token(&self, key: &str, token: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .invoke(&self.delete_if, &[&self.token_key(key)], &[token])
            .await?;
        Ok(())
    }

    async fn revocation_data(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.query(redis::cmd("GET").arg(self.revocation_key(key)))
            .await
    }

    async fn cache_revocation_data(
        &self,
        key: &str,
        data: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.query(
            redis::cmd("SET")
                .arg(self.revocation_key(key))
                .arg(data)
                .arg("PX")
                .arg(millis(ttl)),
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
        let key = self.document_key(transaction_id, name).ok_or_else(|| {
            StoreError::Corrupt(format!("{transaction_id:?} is not a transaction id"))
        })?;
        self.query(
            redis::cmd("SET")
                .arg(key)
                .arg(bytes)
                .arg("PX")
                .arg(millis(ttl)),
        )
        .await
    }

    async fn document(
        &self,
        transaction_id: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match self.document_key(transaction_id, name) {
            Some(key) => self.query(redis::cmd("GET").arg(key)).await,
            None => Ok(None),
        }
    }

    fn shards(&self) -> u16 {
        SHARDS
    }

    async fn orphaned_transactions(
        &self,
        shard: u16,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.invoke(
            &self.orphans,
            &[&self.pending_key(shard)],
            &[&limit.to_string()],
        )
        .await
    }

    async fn forget_pending(&self, id: &str) -> Result<(), StoreError> {
        let Some(shard) = shard_of_transaction(id) else {
            return Ok(());
        };
        let _: i64 = self
            .query(redis::cmd("ZREM").arg(self.pending_key(shard)).arg(id))
            .await?;
        Ok(())
    }

    async fn acquire_lease(
        &self,
        lease: Lease<'_>,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let Some((keys, member)) = self.lease_keys(lease) else {
            return Ok(false);
        };
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let acquired: i64 = self
            .invoke(
                &self.lease,
                &keys,
                &[owner, &millis(ttl).to_string(), member],
            )
            .await?;
        Ok(acquired == 1)
    }

    async fn release_lease(&self, lease: Lease<'_>, owner: &str) -> Result<(), StoreError> {
        let Some((keys, member)) = self.lease_keys(lease) else {
            return Ok(());
        };
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let _: i64 = self.invoke(&self.release, &keys, &[owner, member]).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }

    async fn admit(&self, key: &str, rate: Rate) -> Result<LimitDecision, StoreError> {
        let interval = u64::try_from(rate.interval.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let (admitted, wait_micros): (i64, u64) = self
            .invoke(
                &self.admit,
                &[&self.rate_key(key)],
                &[&interval.to_string(), &rate.burst.to_string()],
            )
            .await?;
        Ok(admission(admitted, Duration::from_micros(wait_micros)))
    }

    async fn reserve_slot(
        &self,
        key: &str,
        member: &str,
        hold: Duration,
        capacity: u32,
    ) -> Result<LimitDecision, StoreError> {
        let (held, wait_millis): (i64, u64) = self
            .invoke(
                &self.reserve_slot,
                &[&self.slots_key(key)],
                &[member, &millis(hold).to_string(), &capacity.to_string()],
            )
            .await?;
        Ok(admission(held, Duration::from_millis(wait_millis)))
    }

    async fn release_slot(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .query(redis::cmd("ZREM").arg(self.slots_key(key)).arg(member))
            .await?;
        Ok(())
    }

    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        let (chain, seq, hash): (Option<String>, Option<String>, Option<String>) = self
            .query(
                redis::cmd("HMGET")
                    .arg(self.audit_key("head"))
                    .arg("chain")
                    .arg("seq")
                    .arg("hash"),
            )
            .await?;
        audit_head_of(chain, seq, hash)
    }

    async fn append_audit(
        &self,
        after: Option<&AuditHead>,
        records: &[SealedRecord],
        retention: AuditRetention,
    ) -> Result<AuditAppend, StoreError> {
        let mut keys = vec![self.audit_key("head"), self.audit_key("records")];
        let mut args = vec![
            after.map_or_else(String::new, |head| head.chain.clone()),
            after.map(|head| head.seq.to_string()).unwrap_or_default(),
            after.map_or_else(String::new, |head| head.hash.clone()),
            millis(retention.ttl).to_string(),
            retention.max_records.max(1).to_string(),
        ];
        for record in records {
            let (once_index, once_keep) = match &record.once {
                Some(once) => {
                    keys.push(self.audit_key(&format!("once:{}", once.key)));
                    (
                        keys.len().to_string(),
                        millis(once.keep.min(retention.ttl)).max(1).to_string(),
                    )
                }
                None => ("0".to_owned(), "0".to_owned()),
            };
            args.extend([
                record.head.chain.clone(),
                record.head.seq.to_string(),
                record.head.hash.clone(),
                record.line.clone(),
                once_index,
                once_keep,
            ]);
        }
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let answer: Vec<Option<String>> = self.invoke(&self.audit_append, &keys, &args).await?;
        let mut answer = answer.into_iter();
        match answer.next().flatten().as_deref() {
            Some("appended") => Ok(AuditAppend::Appended),
            Some("once") => {
                let appended = answer
                    .next()
                    .flatten()
                    .and_then(|count| count.parse().ok())
                    .ok_or_else(|| {
                        StoreError::Corrupt("an audit append did not say how far it got".into())
                    })?;
                Ok(AuditAppend::AlreadyRecorded { appended })
            }
            Some("moved") => {
                let mut next = || answer.next().flatten();
                let (chain, seq, hash) = (next(), next(), next());
                Ok(AuditAppend::HeadMoved(audit_head_of(chain, seq, hash)?))
            }
            other => Err(StoreError::Corrupt(format!(
                "unexpected answer to an audit append: {other:?}"
            ))),
        }
    }

    async fn audit_records(&self, from: u64, limit: usize) -> Result<Vec<String>, StoreError> {
        self.invoke(
            &self.audit_records,
            &[&self.audit_key("records")],
            &[&from.to_string(), &limit.max(1).to_string()],
        )
        .await
    }
}

/// A script's `{admitted, wait}` answer.
fn admission(admitted: i64, wait: Duration) -> LimitDecision {
    if admitted == 1 {
        LimitDecision::Admitted
    } else {
        LimitDecision::Refused { retry_after: wait }
    }
}

/// The audit head from its stored fields; `None` when there is none.
fn audit_head_of(
    chain: Option<String>,
    seq: Option<String>,
    hash: Option<String>,
) -> Result<Option<AuditHead>, StoreError> {
    match (chain, seq, hash) {
        (None, None, None) => Ok(None),
        (Some(chain), Some(seq), Some(hash)) => {
            let seq = seq.parse().map_err(|_| {
                StoreError::Corrupt(format!("audit head has sequence number {seq:?}"))
            })?;
            Ok(Some(AuditHead { chain, seq, hash }))
        }
        _ => Err(StoreError::Corrupt("audit head is incomplete".into())),
    }
}
