//! [`RedisStore`]: the [`Store`] in Redis (standalone or Redis Cluster), so that any number of
//! gateway instances share transactions, idempotency records, CA tokens and follow leases.
//!
//! - Every key has a TTL; nothing stays forever.
//! - A transaction's keys (`{prefix}:txn:{id}`, `{prefix}:lease:{id}`) share the hash tag
//!   `{id}`, so they live on one cluster slot.
//! - Every state transition is one Lua script (compare the stored version, then set): one
//!   round trip on the hot path, atomic on the server.
//! - Every operation is bounded by the configured timeout; an unreachable Redis is
//!   [`StoreError::Unavailable`] within that time, and the connection is re-established in
//!   the background, so the gateway recovers without a restart.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, RedisError, Script};
use tokio::sync::OnceCell;

use super::{IdempotencyRecord, Lease, Store, StoreError, Swap};
use crate::transaction::Transaction;

/// Stores `ARGV[1]` over `KEYS[1]` (TTL `ARGV[3]` ms) only if the stored record's version is
/// `ARGV[2] - 1`. Answers `{1, false}` when stored, `{0, current}` when not.
const SWAP_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if not current then return {0, false} end
if cjson.decode(current).version + 1 ~= tonumber(ARGV[2]) then return {0, current} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return {1, false}
";

/// Deletes `KEYS[1]` only if it holds `ARGV[1]`.
const DELETE_IF_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Sets `KEYS[1]` to `ARGV[1]` for `ARGV[2]` ms if it is free or already held by `ARGV[1]`.
const LEASE_SCRIPT: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// Adds member `ARGV[2]` (score `ARGV[1]`) to the pending index `KEYS[1]` and makes the
/// index live at least `ARGV[3]` ms more: as long as its newest member may still matter.
const PENDING_ADD_SCRIPT: &str = r"
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
";

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
    swap: Script,
    delete_if: Script,
    lease: Script,
    pending_add: Script,
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
            swap: Script::new(SWAP_SCRIPT),
            delete_if: Script::new(DELETE_IF_SCRIPT),
            lease: Script::new(LEASE_SCRIPT),
            pending_add: Script::new(PENDING_ADD_SCRIPT),
        }
    }

    fn transaction_key(&self, id: &str) -> String {
        format!("{}:txn:{{{id}}}", self.prefix)
    }

    /// A transaction's follow lease shares its hash tag, so both live on one slot.
    fn lease_key(&self, lease: Lease<'_>) -> String {
        match lease {
            Lease::Follow(id) => format!("{}:lease:{{{id}}}", self.prefix),
            Lease::SessionRefresh(key) => format!("{}:lease:session:{key}", self.prefix),
        }
    }

    fn idempotency_key(&self, key: &str) -> String {
        format!("{}:idem:{key}", self.prefix)
    }

    fn token_key(&self, key: &str) -> String {
        format!("{}:token:{key}", self.prefix)
    }

    fn pending_key(&self) -> String {
        format!("{}:pending", self.prefix)
    }

    /// Runs `command`, bounded by the store's timeout.
    async fn query<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, StoreError> {
        self.bounded(async {
            let mut connection = self.source.connection().await?;
            command.query_async(&mut connection).await
        })
        .await
    }

    /// Runs `script` on `key` with `args`, bounded by the store's timeout.
    async fn invoke<T: FromRedisValue>(
        &self,
        script: &Script,
        key: &str,
        args: &[&str],
    ) -> Result<T, StoreError> {
        self.bounded(async {
            let mut connection = self.source.connection().await?;
            let mut invocation = script.key(key);
            for arg in args {
                invocation.arg(*arg);
            }
            invocation.invoke_async(&mut connection).await
        })
        .await
    }

    async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, operation).await {
            Ok(result) => result.map_err(|error| unavailable(&error)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "Redis did not answer within {:?}",
                self.timeout
            ))),
        }
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
    async fn insert_transaction(
        &self,
        transaction: &Transaction,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let ttl_ms = millis(ttl);
        let stored: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(self.transaction_key(&transaction.id))
                    .arg(encode(transaction)?)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms),
            )
            .await?;
        if stored.is_none() {
            return Err(StoreError::Corrupt(format!(
                "transaction {} exists already",
                transaction.id
            )));
        }
        let score = transaction.created_at.unix_timestamp().to_string();
        let _: i64 = self
            .invoke(
                &self.pending_add,
                &self.pending_key(),
                &[&score, &transaction.id, &ttl_ms.to_string()],
            )
            .await?;
        Ok(())
    }

    async fn transaction(&self, id: &str) -> Result<Option<Transaction>, StoreError> {
        let text: Option<String> = self
            .query(redis::cmd("GET").arg(self.transaction_key(id)))
            .await?;
        text.as_deref().map(decode).transpose()
    }

    async fn swap_transaction(
        &self,
        next: &Transaction,
        ttl: Duration,
    ) -> Result<Swap, StoreError> {
        let (stored, current): (i64, Option<String>) = self
            .invoke(
                &self.swap,
                &self.transaction_key(&next.id),
                &[
                    &encode(next)?,
                    &next.version.to_string(),
                    &millis(ttl).to_string(),
                ],
            )
            .await?;
        if stored == 1 {
            return Ok(Swap::Stored);
        }
        Ok(Swap::Conflict(
            current
                .as_deref()
                .map(decode::<Transaction>)
                .transpose()?
                .map(Box::new),
        ))
    }

    async fn claim_idempotency_key(
        &self,
        key: &str,
        record: &IdempotencyRecord,
        ttl: Duration,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        // SET NX GET: sets only when absent and answers what was there, in one step.
        let existing: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(self.idempotency_key(key))
                    .arg(encode(record)?)
                    .arg("NX")
                    .arg("GET")
                    .arg("PX")
                    .arg(millis(ttl)),
            )
            .await?;
        existing.as_deref().map(decode).transpose()
    }

    async fn release_idempotency_key(
        &self,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        let _: i64 = self
            .invoke(
                &self.delete_if,
                &self.idempotency_key(key),
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

    async fn pending_transactions(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let last = i64::try_from(limit).unwrap_or(i64::MAX).saturating_sub(1);
        self.query(
            redis::cmd("ZRANGE")
                .arg(self.pending_key())
                .arg(0)
                .arg(last),
        )
        .await
    }

    async fn forget_pending(&self, id: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .query(redis::cmd("ZREM").arg(self.pending_key()).arg(id))
            .await?;
        Ok(())
    }

    async fn acquire_lease(
        &self,
        lease: Lease<'_>,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let acquired: i64 = self
            .invoke(
                &self.lease,
                &self.lease_key(lease),
                &[owner, &millis(ttl).to_string()],
            )
            .await?;
        Ok(acquired == 1)
    }

    async fn release_lease(&self, lease: Lease<'_>, owner: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .invoke(&self.delete_if, &self.lease_key(lease), &[owner])
            .await?;
        Ok(())
    }

    async fn invalidate_token(&self, key: &str, token: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .invoke(&self.delete_if, &self.token_key(key), &[token])
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }
}
