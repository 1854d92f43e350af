//! The same behavioural checks of the `Store` contract against every implementation: in
//! memory, Redis and Redis Cluster. The Redis ones run the real Lua scripts.

use std::sync::Arc;
use std::time::Duration;

use kyso_adapter_core::HashAlgorithm;
use kyso_gateway::domain::transaction::{
    SignerCertificate, Submission, Transaction, TransactionStatus, new_transaction_id, shard_of_key,
};
use kyso_gateway::store::memory::MemoryStore;
use kyso_gateway::store::redis::RedisStore;
use kyso_gateway::store::{
    AuditAppend, AuditHead, AuditRetention, CreateTtls, Created, IdempotencyRecord, Lease,
    LimitDecision, OnceKey, Rate, SealedRecord, Store, StoreError, Swap,
};
use kyso_tests::redis_server::{RedisCluster, RedisServer};
use time::OffsetDateTime;

const LONG: Duration = Duration::from_secs(60);

fn ttls(lease: Duration) -> CreateTtls {
    CreateTtls {
        record: LONG,
        idempotency: LONG,
        lease,
    }
}

/// A new pending transaction for the idempotency key `key`, in its shard.
fn pending(key: &str) -> Transaction {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    Transaction {
        id: new_transaction_id(shard_of_key(key)),
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
        submission: Submission::Intended {
            caller_reference: None,
        },
        error: None,
        awaiting_revocation: None,
        version: 1,
    }
}

fn record_of(transaction: &Transaction, fingerprint: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        fingerprint: fingerprint.to_owned(),
        transaction_id: transaction.id.clone(),
    }
}

/// Every orphan of every shard.
async fn orphans(store: &dyn Store) -> Vec<String> {
    let mut all = Vec::new();
    for shard in 0..store.shards() {
        all.extend(store.orphaned_transactions(shard, 1000).await.unwrap());
    }
    all
}

async fn store_contract(store: Arc<dyn Store>) {
    store.ping().await.unwrap();

    // Creating: key, record, pending entry and lease in one step.
    let first = pending("k1");
    let first_record = record_of(&first, "f1");
    assert_eq!(
        store
            .create_transaction("k1", &first_record, &first, "a", ttls(LONG))
            .await
            .unwrap(),
        Created::New
    );
    assert_eq!(
        store.idempotency_record("k1").await.unwrap(),
        Some(first_record.clone())
    );
    assert_eq!(
        store.transaction(&first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.transaction(&new_transaction_id(3)).await.unwrap(),
        None
    );
    assert_eq!(store.transaction("not-an-id").await.unwrap(), None);
    // The same step again (a client's replay after a lost reply) is recognised as its own.
    assert_eq!(
        store
            .create_transaction("k1", &first_record, &first, "a", ttls(LONG))
            .await
            .unwrap(),
        Created::New
    );
    // Another request with the key gets the first one's record, and writes nothing.
    let other = pending("k1");
    assert_eq!(
        store
            .create_transaction("k1", &record_of(&other, "f2"), &other, "b", ttls(LONG))
            .await
            .unwrap(),
        Created::Existing(first_record.clone())
    );
    assert_eq!(store.transaction(&other.id).await.unwrap(), None);
    // The creator holds the follow lease: nobody else can take it, nothing is orphaned.
    assert!(
        !store
            .acquire_lease(Lease::Follow(&first.id), "b", LONG)
            .await
            .unwrap()
    );
    assert!(!orphans(store.as_ref()).await.contains(&first.id));

    // Compare-and-set.
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

    // Orphans: a lease that runs out, or is given up, makes its transaction an orphan;
    // renewing it, or forgetting the transaction, takes it out again.
    let short = Duration::from_millis(300);
    let second = pending("k2");
    store
        .create_transaction("k2", &record_of(&second, "f"), &second, "a", ttls(short))
        .await
        .unwrap();
    assert!(!orphans(store.as_ref()).await.contains(&second.id));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(orphans(store.as_ref()).await.contains(&second.id));
    assert!(
        store
            .acquire_lease(Lease::Follow(&second.id), "b", LONG)
            .await
            .unwrap()
    );
    assert!(!orphans(store.as_ref()).await.contains(&second.id));
    store
        .release_lease(Lease::Follow(&second.id), "a")
        .await
        .unwrap();
    assert!(
        !orphans(store.as_ref()).await.contains(&second.id),
        "only the holder releases"
    );
    store
        .release_lease(Lease::Follow(&second.id), "b")
        .await
        .unwrap();
    assert!(
        orphans(store.as_ref()).await.contains(&second.id),
        "released: orphaned at once"
    );
    store.forget_pending(&second.id).await.unwrap();
    assert!(!orphans(store.as_ref()).await.contains(&second.id));
    // A lease taken after the transaction was forgotten does not bring it back.
    assert!(
        store
            .acquire_lease(Lease::Follow(&second.id), "c", short)
            .await
            .unwrap()
    );
    store
        .release_lease(Lease::Follow(&second.id), "c")
        .await
        .unwrap();
    assert!(!orphans(store.as_ref()).await.contains(&second.id));

    // Idempotency keys are released only by the record they hold.
    store
        .release_idempotency_key("k1", &record_of(&other, "f2"))
        .await
        .unwrap();
    assert!(store.idempotency_record("k1").await.unwrap().is_some());
    store
        .release_idempotency_key("k1", &first_record)
        .await
        .unwrap();
    assert_eq!(store.idempotency_record("k1").await.unwrap(), None);

    // Leases: exclusive, renewable by the holder, released only by it, expiring; each
    // kind in its own key space.
    let short = Duration::from_millis(300);
    let lease_holder = pending("k3");
    let follow = Lease::Follow(&lease_holder.id);
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

    // Revocation data: binary, kept until its deadline.
    let der: Vec<u8> = (0..=255).collect();
    assert_eq!(store.revocation_data("ocsp:ab").await.unwrap(), None);
    store
        .cache_revocation_data("ocsp:ab", &der, short)
        .await
        .unwrap();
    assert_eq!(store.revocation_data("ocsp:ab").await.unwrap(), Some(der));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.revocation_data("ocsp:ab").await.unwrap(), None);

    audit_trail_contract(store.as_ref()).await;
}

/// A record of the chain `c` at `seq`, whose hash is `h<seq>`.
fn audit_record(seq: u64, once: Option<&str>) -> SealedRecord {
    SealedRecord {
        head: AuditHead {
            chain: "c".into(),
            seq,
            hash: format!("h{seq}"),
        },
        line: format!("{{\"seq\":{seq}}}"),
        once: once.map(|key| OnceKey {
            key: key.to_owned(),
            keep: LONG,
        }),
    }
}

/// The audit trail: a compare-and-append on its head, `once` keys, reading records back in
/// order, trimming to the most records kept, and expiry.
async fn audit_trail_contract(store: &dyn Store) {
    let keep = AuditRetention {
        ttl: LONG,
        max_records: 3,
    };
    assert_eq!(store.audit_head().await.unwrap(), None);
    assert!(store.audit_records(1, 10).await.unwrap().is_empty());

    // The first record goes on an empty trail only.
    let first = audit_record(1, None);
    assert_eq!(
        store
            .append_audit(None, std::slice::from_ref(&first), keep)
            .await
            .unwrap(),
        AuditAppend::Appended
    );
    assert_eq!(store.audit_head().await.unwrap(), Some(first.head.clone()));
    // A writer that built on a stale head writes nothing and learns the current one.
    let stale = audit_record(1, None);
    assert_eq!(
        store
            .append_audit(None, std::slice::from_ref(&stale), keep)
            .await
            .unwrap(),
        AuditAppend::HeadMoved(Some(first.head.clone()))
    );
    let wrong_head = AuditHead {
        hash: "other".into(),
        ..first.head.clone()
    };
    assert_eq!(
        store
            .append_audit(Some(&wrong_head), &[audit_record(2, None)], keep)
            .await
            .unwrap(),
        AuditAppend::HeadMoved(Some(first.head.clone()))
    );

    // A once key is recorded once; the trail does not move for the second record.
    let second = audit_record(2, Some("final:t1"));
    assert_eq!(
        store
            .append_audit(Some(&first.head), std::slice::from_ref(&second), keep)
            .await
            .unwrap(),
        AuditAppend::Appended
    );
    assert_eq!(
        store
            .append_audit(
                Some(&second.head),
                &[audit_record(3, Some("final:t1"))],
                keep
            )
            .await
            .unwrap(),
        AuditAppend::AlreadyRecorded { appended: 0 }
    );
    assert_eq!(store.audit_head().await.unwrap(), Some(second.head.clone()));

    // Records come back in order, from a sequence number on.
    assert_eq!(
        store.audit_records(1, 10).await.unwrap(),
        vec![first.line.clone(), second.line.clone()]
    );
    assert_eq!(
        store.audit_records(2, 10).await.unwrap(),
        vec![second.line.clone()]
    );
    assert_eq!(
        store.audit_records(1, 1).await.unwrap(),
        vec![first.line.clone()]
    );

    // A group stops before a record whose once key was recorded: those before it are
    // appended, the rest are not; a group on a moved head writes nothing.
    let moved = [audit_record(3, None), audit_record(4, None)];
    assert_eq!(
        store
            .append_audit(Some(&first.head), &moved, keep)
            .await
            .unwrap(),
        AuditAppend::HeadMoved(Some(second.head.clone()))
    );
    let stopped = [
        audit_record(3, Some("final:t3")),
        audit_record(4, Some("final:t1")),
        audit_record(5, None),
    ];
    assert_eq!(
        store
            .append_audit(Some(&second.head), &stopped, keep)
            .await
            .unwrap(),
        AuditAppend::AlreadyRecorded { appended: 1 }
    );
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some(stopped[0].head.clone())
    );
    // The same once key twice in one group: the second stops the group.
    let twice = [
        audit_record(4, Some("final:t4")),
        audit_record(5, Some("final:t4")),
    ];
    assert_eq!(
        store
            .append_audit(Some(&stopped[0].head), &twice, keep)
            .await
            .unwrap(),
        AuditAppend::AlreadyRecorded { appended: 1 }
    );
    assert_eq!(
        store.audit_records(3, 10).await.unwrap(),
        vec![stopped[0].line.clone(), twice[0].line.clone()]
    );

    // Only the last `max_records` are kept; the head goes on. Records appended together
    // (a group commit) are kept as if appended one by one.
    let group: Vec<SealedRecord> = (5..=7).map(|seq| audit_record(seq, None)).collect();
    assert_eq!(
        store
            .append_audit(Some(&twice[0].head), &group, keep)
            .await
            .unwrap(),
        AuditAppend::Appended
    );
    let head = group[2].head.clone();
    let kept: Vec<String> = group.iter().map(|record| record.line.clone()).collect();
    assert_eq!(store.audit_records(1, 10).await.unwrap(), kept);
    assert_eq!(
        store.audit_head().await.unwrap().map(|head| head.seq),
        Some(7)
    );

    // A once key is remembered for its own time, not the trail's: once it is forgotten the
    // same key may be recorded again, and the trail is still there.
    let briefly_once = SealedRecord {
        once: Some(OnceKey {
            key: "final:t5".into(),
            keep: Duration::from_millis(300),
        }),
        ..audit_record(8, None)
    };
    assert_eq!(
        store
            .append_audit(Some(&head), std::slice::from_ref(&briefly_once), keep)
            .await
            .unwrap(),
        AuditAppend::Appended
    );
    let again = audit_record(9, Some("final:t5"));
    assert_eq!(
        store
            .append_audit(Some(&briefly_once.head), std::slice::from_ref(&again), keep)
            .await
            .unwrap(),
        AuditAppend::AlreadyRecorded { appended: 0 }
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        store
            .append_audit(Some(&briefly_once.head), std::slice::from_ref(&again), keep)
            .await
            .unwrap(),
        AuditAppend::Appended
    );
    let head = again.head;

    // The trail expires as a whole after its retention, and a new chain may start.
    let brief = AuditRetention {
        ttl: Duration::from_millis(300),
        max_records: 3,
    };
    let tenth = audit_record(10, Some("final:t2"));
    store
        .append_audit(Some(&head), std::slice::from_ref(&tenth), brief)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.audit_head().await.unwrap(), None);
    assert!(store.audit_records(1, 10).await.unwrap().is_empty());
    assert_eq!(
        store
            .append_audit(None, &[audit_record(1, Some("final:t2"))], keep)
            .await
            .unwrap(),
        AuditAppend::Appended,
        "once keys expire with the trail"
    );
}

/// The admission operations: a GCRA rate and bounded sets of slots, each key its own.
async fn admission_contract(store: Arc<dyn Store>) {
    let refused = |decision: LimitDecision| match decision {
        LimitDecision::Refused { retry_after } => retry_after,
        LimitDecision::Admitted => panic!("admitted over the limit"),
    };

    // A rate: a burst of three, then one every 200 ms.
    let rate = Rate {
        interval: Duration::from_millis(200),
        burst: 3,
    };
    for _ in 0..3 {
        assert_eq!(
            store.admit("client:a", rate).await.unwrap(),
            LimitDecision::Admitted
        );
    }
    let wait = refused(store.admit("client:a", rate).await.unwrap());
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(200),
        "{wait:?}"
    );
    // Refusals count nothing; another key has its own budget.
    let again = refused(store.admit("client:a", rate).await.unwrap());
    assert!(again <= wait, "{again:?} after {wait:?}");
    assert_eq!(
        store.admit("client:b", rate).await.unwrap(),
        LimitDecision::Admitted
    );
    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    assert_eq!(
        store.admit("client:a", rate).await.unwrap(),
        LimitDecision::Admitted
    );
    refused(store.admit("client:a", rate).await.unwrap());

    // Slots: two held at most, each for 300 ms.
    let hold = Duration::from_millis(300);
    for member in ["t1", "t2"] {
        assert_eq!(
            store
                .reserve_slot("citizen:1", member, hold, 2)
                .await
                .unwrap(),
            LimitDecision::Admitted
        );
    }
    let wait = refused(
        store
            .reserve_slot("citizen:1", "t3", hold, 2)
            .await
            .unwrap(),
    );
    assert!(wait <= hold, "{wait:?}");
    // Holding a held slot again changes nothing and is admitted (a repeated call).
    assert_eq!(
        store
            .reserve_slot("citizen:1", "t1", hold, 2)
            .await
            .unwrap(),
        LimitDecision::Admitted
    );
    assert_eq!(
        store
            .reserve_slot("citizen:2", "t3", hold, 2)
            .await
            .unwrap(),
        LimitDecision::Admitted
    );
    // A freed slot is free at once; freeing what is not held does nothing.
    store.release_slot("citizen:1", "t1").await.unwrap();
    store.release_slot("citizen:1", "nobody").await.unwrap();
    store.release_slot("citizen:9", "nobody").await.unwrap();
    assert_eq!(
        store
            .reserve_slot("citizen:1", "t3", hold, 2)
            .await
            .unwrap(),
        LimitDecision::Admitted
    );
    refused(
        store
            .reserve_slot("citizen:1", "t4", hold, 2)
            .await
            .unwrap(),
    );
    // Slots run out by themselves.
    tokio::time::sleep(hold + Duration::from_millis(100)).await;
    for member in ["t4", "t5"] {
        assert_eq!(
            store
                .reserve_slot("citizen:1", member, hold, 2)
                .await
                .unwrap(),
            LimitDecision::Admitted
        );
    }
}

#[tokio::test]
async fn memory_store_keeps_the_admission_contract() {
    admission_contract(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn redis_store_keeps_the_admission_contract() {
    let redis = RedisServer::start();
    let store = standalone_store(&redis);
    admission_contract(store).await;
}

#[tokio::test]
async fn redis_cluster_store_keeps_the_admission_contract() {
    let cluster = RedisCluster::start();
    let store = cluster_store(&cluster);
    admission_contract(store).await;
}

/// A store on `redis` under a fresh key prefix.
fn standalone_store(redis: &RedisServer) -> Arc<dyn Store> {
    Arc::new(RedisStore::standalone(&redis.url(), &prefix(), Duration::from_secs(1), None).unwrap())
}

/// A store on `cluster` under a fresh key prefix.
fn cluster_store(cluster: &RedisCluster) -> Arc<dyn Store> {
    Arc::new(RedisStore::cluster(&cluster.urls(), &prefix(), Duration::from_secs(1), None).unwrap())
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
    let store = standalone_store(&redis);
    store_contract(store).await;
}

#[tokio::test]
async fn redis_cluster_store_keeps_the_store_contract() {
    let cluster = RedisCluster::start();
    let store = cluster_store(&cluster);
    store_contract(store).await;
}

#[tokio::test]
async fn unreachable_redis_is_unavailable_within_the_timeout() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.stop();
    let store = RedisStore::standalone(&url, &prefix(), Duration::from_millis(300), None).unwrap();
    let started = std::time::Instant::now();
    assert!(store.transaction(&new_transaction_id(1)).await.is_err());
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

// --- How the Redis store lays transactions out: issuer chains apart, stored once. ---

/// An issuer chain as a CA sends it: two certificates of about a kilobyte (the store does not
/// parse them), told apart by `issuer`.
fn issuer_chain(issuer: u8) -> Vec<Vec<u8>> {
    [1100_usize, 900]
        .iter()
        .enumerate()
        .map(|(position, &len)| {
            (0..len)
                .map(|i| (i as u8).wrapping_mul(31).wrapping_add(issuer) ^ position as u8)
                .collect()
        })
        .collect()
}

/// A pending transaction for `key` whose signer was issued by `issuer`, with a leaf of its own.
fn issued_by(key: &str, issuer: u8) -> Transaction {
    let mut transaction = pending(key);
    transaction.certificate.certificate_der = key.bytes().cycle().take(850).collect();
    transaction.certificate.chain_der = issuer_chain(issuer);
    transaction
}

/// A fresh store on `redis` under `prefix`: another instance, which has read no chain yet.
fn instance_on(redis: &RedisServer, prefix: &str) -> impl Store {
    RedisStore::standalone(&redis.url(), prefix, Duration::from_secs(1), None).unwrap()
}

fn transaction_key(prefix: &str, id: &str) -> String {
    let shard = u16::from_str_radix(&id[..2], 16).unwrap();
    format!("{prefix}:{{s{shard:02}}}:txn:{id}")
}

fn chain_keys(redis: &RedisServer, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis
        .cli(&["--scan", "--pattern", &format!("{prefix}:chain:*")])
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys
}

async fn create(store: &dyn Store, key: &str, transaction: &Transaction, record_ttl: Duration) {
    let ttls = CreateTtls {
        record: record_ttl,
        idempotency: LONG,
        lease: LONG,
    };
    assert_eq!(
        store
            .create_transaction(key, &record_of(transaction, "f"), transaction, "a", ttls)
            .await
            .unwrap(),
        Created::New
    );
}

#[tokio::test]
async fn redis_store_keeps_each_issuer_chain_once_apart_from_the_records() {
    let redis = RedisServer::start();
    let prefix = prefix();
    let writer = instance_on(&redis, &prefix);
    let (first, second, other) = (issued_by("c1", 1), issued_by("c2", 1), issued_by("c3", 2));
    for (key, transaction) in [("c1", &first), ("c2", &second), ("c3", &other)] {
        create(&writer, key, transaction, LONG).await;
    }
    // Two issuers, two chains: the first two transactions share theirs.
    assert_eq!(chain_keys(&redis, &prefix).len(), 2);
    let key = transaction_key(&prefix, &first.id);
    assert_eq!(redis.cli(&["type", &key]), "string");
    // Another instance, which never saw the chains, reads every transaction whole.
    let reader = instance_on(&redis, &prefix);
    for transaction in [&first, &second, &other] {
        assert_eq!(
            reader.transaction(&transaction.id).await.unwrap().as_ref(),
            Some(transaction)
        );
    }
    // A change made there is read whole by a third, chain included.
    let signed = first
        .finish(TransactionStatus::Signed, OffsetDateTime::now_utc())
        .unwrap();
    assert!(matches!(
        reader.swap_transaction(&signed, LONG).await.unwrap(),
        Swap::Stored
    ));
    assert_eq!(
        instance_on(&redis, &prefix)
            .transaction(&first.id)
            .await
            .unwrap(),
        Some(signed)
    );
    // A transaction whose chain is empty refers to none.
    let mut chainless = issued_by("c4", 3);
    chainless.certificate.chain_der.clear();
    create(&writer, "c4", &chainless, LONG).await;
    assert_eq!(chain_keys(&redis, &prefix).len(), 2);
    assert_eq!(
        reader.transaction(&chainless.id).await.unwrap(),
        Some(chainless)
    );
}

#[tokio::test]
async fn issuer_chains_outlive_their_records_and_are_never_shortened() {
    let redis = RedisServer::start();
    let prefix = prefix();
    let pttl = |key: &str| -> i64 { redis.cli(&["pttl", key]).parse().unwrap() };
    let long = Duration::from_secs(2 * 3600);
    let kept_long = issued_by("t1", 1);
    create(&instance_on(&redis, &prefix), "t1", &kept_long, long).await;
    let [chain] = <[String; 1]>::try_from(chain_keys(&redis, &prefix)).unwrap();
    let record = pttl(&transaction_key(&prefix, &kept_long.id));
    assert!(pttl(&chain) > record, "the chain outlives its record");
    // Another instance writes a record of the same issuer kept a minute: the chain keeps
    // the longer TTL.
    let brief = issued_by("t2", 1);
    create(&instance_on(&redis, &prefix), "t2", &brief, LONG).await;
    assert!(
        pttl(&chain) > i64::try_from(long.as_millis()).unwrap(),
        "{} ms",
        pttl(&chain)
    );
    // One that needs it longer than it is kept makes it last longer.
    let longer = issued_by("t3", 1);
    create(&instance_on(&redis, &prefix), "t3", &longer, 2 * long).await;
    assert!(pttl(&chain) > pttl(&transaction_key(&prefix, &longer.id)));
    assert!(pttl(&chain) > i64::try_from((2 * long).as_millis()).unwrap());
}

#[tokio::test]
async fn a_record_whose_issuer_chain_is_gone_is_reported_corrupt() {
    let redis = RedisServer::start();
    let prefix = prefix();
    let transaction = issued_by("g1", 1);
    create(&instance_on(&redis, &prefix), "g1", &transaction, LONG).await;
    for key in chain_keys(&redis, &prefix) {
        redis.cli(&["del", &key]);
    }
    match instance_on(&redis, &prefix)
        .transaction(&transaction.id)
        .await
    {
        Err(StoreError::Corrupt(message)) => {
            assert!(message.contains("issuer chain"), "{message}");
            assert!(message.contains(&transaction.id), "{message}");
        }
        other => panic!("a record without its chain must be corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn records_of_the_previous_layout_are_still_read_and_changed() {
    let redis = RedisServer::start();
    let prefix = prefix();
    let store = instance_on(&redis, &prefix);
    // What the previous version wrote: a hash of the version and the whole JSON.
    let write_previous_layout = |transaction: &Transaction| {
        let key = transaction_key(&prefix, &transaction.id);
        let json = serde_json::to_string(transaction).unwrap();
        let version = transaction.version.to_string();
        redis.cli(&["hset", &key, "v", &version, "doc", &json]);
        redis.cli(&["pexpire", &key, "60000"]);
    };
    let old = issued_by("o1", 1);
    write_previous_layout(&old);
    assert_eq!(store.transaction(&old.id).await.unwrap(), Some(old.clone()));
    // A writer that lost the race learns the current version, read from the hash.
    let stale = old
        .next_version(OffsetDateTime::now_utc())
        .next_version(OffsetDateTime::now_utc());
    match store.swap_transaction(&stale, LONG).await.unwrap() {
        Swap::Conflict(Some(current)) => assert_eq!(*current, old),
        other => panic!("a stale version must lose, got {other:?}"),
    }
    // The next version is stored over it, in the new layout.
    let cancelled = old
        .finish(TransactionStatus::Cancelled, OffsetDateTime::now_utc())
        .unwrap();
    assert!(matches!(
        store.swap_transaction(&cancelled, LONG).await.unwrap(),
        Swap::Stored
    ));
    let key = transaction_key(&prefix, &old.id);
    assert_eq!(redis.cli(&["type", &key]), "string");
    assert!(redis.cli(&["pttl", &key]).parse::<i64>().unwrap() > 0);
    assert_eq!(chain_keys(&redis, &prefix).len(), 1);
    assert_eq!(
        instance_on(&redis, &prefix)
            .transaction(&old.id)
            .await
            .unwrap(),
        Some(cancelled)
    );
}

#[tokio::test]
async fn redis_cluster_store_keeps_issuer_chains_apart_from_the_records() {
    let cluster = RedisCluster::start();
    let prefix = prefix();
    let instance =
        || RedisStore::cluster(&cluster.urls(), &prefix, Duration::from_secs(1), None).unwrap();
    // Transactions of several shards (so several slots) share one chain, on a slot of its own.
    let transactions: Vec<(String, Transaction)> = (0..6)
        .map(|n| {
            let key = format!("cluster-{n}");
            let transaction = issued_by(&key, 1);
            (key, transaction)
        })
        .collect();
    let writer = instance();
    for (key, transaction) in &transactions {
        create(&writer, key, transaction, LONG).await;
    }
    let chains: Vec<String> = cluster
        .nodes
        .iter()
        .flat_map(|node| {
            node.cli(&["--scan", "--pattern", &format!("{prefix}:chain:*")])
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(chains.len(), 1, "{chains:?}");
    let reader = instance();
    for (_, transaction) in &transactions {
        assert_eq!(
            reader.transaction(&transaction.id).await.unwrap().as_ref(),
            Some(transaction)
        );
        let next = transaction.next_version(OffsetDateTime::now_utc());
        assert!(matches!(
            reader.swap_transaction(&next, LONG).await.unwrap(),
            Swap::Stored
        ));
    }
}
