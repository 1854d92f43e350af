//! The same behavioural checks of the `Store` contract against every implementation: in
//! memory, Redis and Redis Cluster. The Redis ones run the real Lua scripts.

use std::sync::Arc;
use std::time::Duration;

use kyso_adapter_core::HashAlgorithm;
use kyso_gateway::store::memory::MemoryStore;
use kyso_gateway::store::redis::RedisStore;
use kyso_gateway::store::{IdempotencyRecord, Lease, Store, Swap};
use kyso_gateway::transaction::{SignerCertificate, Transaction, TransactionStatus};
use kyso_tests::redis_server::{RedisCluster, RedisServer};
use time::OffsetDateTime;

const LONG: Duration = Duration::from_secs(60);

fn pending(id: &str) -> Transaction {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    Transaction {
        id: id.to_owned(),
        client_id: "portal".into(),
        provider: "vnpt".into(),
        user_id: "001099000001".into(),
        status: TransactionStatus::Pending,
        hash_algorithm: HashAlgorithm::Sha256,
        description: "Ký số".into(),
        created_at: now,
        updated_at: now,
        expires_at: now + time::Duration::minutes(5),
        certificate: SignerCertificate {
            certificate_id: "01".into(),
            certificate_der: vec![1, 2, 3],
            chain_der: vec![vec![4]],
        },
        documents: Vec::new(),
        ca_reference: None,
        error: None,
        version: 1,
    }
}

async fn store_contract(store: Arc<dyn Store>) {
    store.ping().await.unwrap();

    // Transactions: insert, read, compare-and-set.
    let first = pending("t1");
    store.insert_transaction(&first, LONG).await.unwrap();
    assert_eq!(store.transaction("t1").await.unwrap(), Some(first.clone()));
    assert_eq!(store.transaction("nope").await.unwrap(), None);
    let now = OffsetDateTime::now_utc();
    let signed = first.finish(TransactionStatus::Signed, now).unwrap();
    let cancelled = first.finish(TransactionStatus::Cancelled, now).unwrap();
    assert!(matches!(
        store.swap_transaction(&signed, LONG).await.unwrap(),
        Swap::Stored
    ));
    match store.swap_transaction(&cancelled, LONG).await.unwrap() {
        Swap::Conflict(Some(current)) => assert_eq!(current.status, TransactionStatus::Signed),
        other => panic!("the second writer must lose, got {other:?}"),
    }
    assert!(matches!(
        store
            .swap_transaction(&pending("ghost").next_version(now), LONG)
            .await
            .unwrap(),
        Swap::Conflict(None)
    ));

    // The pending index.
    assert!(
        store
            .pending_transactions(10)
            .await
            .unwrap()
            .contains(&"t1".to_owned())
    );
    store.forget_pending("t1").await.unwrap();
    assert!(
        !store
            .pending_transactions(10)
            .await
            .unwrap()
            .contains(&"t1".to_owned())
    );

    // Idempotency keys.
    let record = |n: &str| IdempotencyRecord {
        fingerprint: format!("f{n}"),
        transaction_id: format!("t{n}"),
    };
    assert_eq!(
        store
            .claim_idempotency_key("k", &record("1"), LONG)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .claim_idempotency_key("k", &record("2"), LONG)
            .await
            .unwrap(),
        Some(record("1"))
    );
    store
        .release_idempotency_key("k", &record("2"))
        .await
        .unwrap();
    assert!(
        store
            .claim_idempotency_key("k", &record("2"), LONG)
            .await
            .unwrap()
            .is_some()
    );
    store
        .release_idempotency_key("k", &record("1"))
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_idempotency_key("k", &record("2"), LONG)
            .await
            .unwrap(),
        None
    );

    // Leases: exclusive, renewable by the holder, released only by it, expiring; each
    // kind in its own key space.
    let short = Duration::from_millis(300);
    let follow = Lease::Follow("t1");
    assert!(store.acquire_lease(follow, "a", short).await.unwrap());
    assert!(store.acquire_lease(follow, "a", short).await.unwrap());
    assert!(!store.acquire_lease(follow, "b", short).await.unwrap());
    assert!(
        store
            .acquire_lease(Lease::SessionRefresh("t1"), "b", short)
            .await
            .unwrap()
    );
    store.release_lease(follow, "b").await.unwrap();
    assert!(!store.acquire_lease(follow, "b", short).await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(store.acquire_lease(follow, "b", short).await.unwrap());
    store.release_lease(follow, "b").await.unwrap();
    assert!(store.acquire_lease(follow, "a", short).await.unwrap());

    // CA tokens.
    store.cache_token("vnpt", "tok", short).await.unwrap();
    assert_eq!(
        store.cached_token("vnpt").await.unwrap().as_deref(),
        Some("tok")
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.cached_token("vnpt").await.unwrap(), None);
}

fn prefix() -> String {
    format!("kyso-test-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn memory_store_keeps_the_store_contract() {
    store_contract(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn redis_store_keeps_the_store_contract() {
    let redis = RedisServer::start();
    let store =
        RedisStore::standalone(&redis.url(), &prefix(), Duration::from_secs(1), None).unwrap();
    store_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn redis_cluster_store_keeps_the_store_contract() {
    let cluster = RedisCluster::start();
    let store =
        RedisStore::cluster(&cluster.urls(), &prefix(), Duration::from_secs(1), None).unwrap();
    store_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn unreachable_redis_is_unavailable_within_the_timeout() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.stop();
    let store = RedisStore::standalone(&url, &prefix(), Duration::from_millis(300), None).unwrap();
    let started = std::time::Instant::now();
    assert!(store.transaction("t").await.is_err());
    assert!(store.ping().await.is_err());
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn key_prefix_with_braces_is_refused() {
    assert!(
        RedisStore::standalone(
            "redis://127.0.0.1:1",
            "kyso{x}",
            Duration::from_secs(1),
            None
        )
        .is_err()
    );
}

#[tokio::test]
async fn redis_store_keeps_the_store_contract_over_tls() {
    let redis = RedisServer::start_tls();
    let store = RedisStore::standalone(
        &redis.url(),
        &prefix(),
        Duration::from_secs(1),
        Some(redis.tls_ca_pem()),
    )
    .unwrap();
    store_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn redis_server_with_an_untrusted_certificate_is_refused() {
    let redis = RedisServer::start_tls();
    let other = RedisServer::start_tls();
    let store = RedisStore::standalone(
        &redis.url(),
        &prefix(),
        Duration::from_secs(1),
        Some(other.tls_ca_pem()),
    )
    .unwrap();
    assert!(store.ping().await.is_err(), "TLS must verify the server");
}
