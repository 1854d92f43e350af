//! The gateway on real Redis processes: several instances sharing one store, Redis failures
//! and restarts, TTLs on every key, and Redis Cluster.

use std::time::{Duration, Instant};

use kyso_gateway::config::StoreSettings;
use kyso_tests::redis_server::{RedisCluster, RedisServer};
use kyso_tests::{
    RSA_CITIZEN, TestApp, TestConfig, assert_error, digest_of, followed_transactions, sign_body,
    spawn_app_with,
};
use serde_json::Value;

/// A key namespace of its own for each test.
fn namespace() -> String {
    format!("kyso-test-{}", uuid::Uuid::new_v4().simple())
}

fn redis_store(server: &RedisServer, prefix: &str) -> StoreSettings {
    StoreSettings::Redis {
        url: server.url().into(),
        key_prefix: prefix.to_owned(),
        timeout_ms: 500,
        tls_ca_pem_file: None,
    }
}

async fn app_on(store: StoreSettings) -> TestApp {
    spawn_app_with(TestConfig {
        store,
        ..TestConfig::default()
    })
    .await
}

/// Every key under `prefix` has a TTL (none is kept forever).
fn assert_every_key_expires(keys_and_ttls: Vec<(String, i64)>) {
    assert!(
        !keys_and_ttls.is_empty(),
        "no keys found: is the prefix right?"
    );
    for (key, ttl) in keys_and_ttls {
        assert!(ttl > 0, "{key} has no TTL ({ttl})");
    }
}

fn keys_with_ttl(cli: impl Fn(&[&str]) -> String, prefix: &str) -> Vec<(String, i64)> {
    let pattern = format!("{prefix}:*");
    cli(&["--scan", "--pattern", &pattern])
        .lines()
        .map(|key| {
            let ttl = cli(&["pttl", key]).parse().unwrap();
            (key.to_owned(), ttl)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_redis() {
    let redis = RedisServer::start();
    let app = app_on(redis_store(&redis, &namespace())).await;
    let peer = app.via(&app.start_peer());
    let token = app.token().await;
    let id = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("shared")))
        .await;
    // Read and cancelled on the other instance, with a token of the first.
    let read = peer.get(&format!("/v1/signatures/{id}"), &token).await;
    assert_eq!(read.status(), 200);
    let cancelled: Value = peer.cancel(&token, &id).await.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(
        app.wait_until_final(&token, &id).await["status"],
        "cancelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_finishes_what_a_dead_one_was_following() {
    let redis = RedisServer::start();
    let app = app_on(redis_store(&redis, &namespace())).await;
    let peer = app.via(&app.start_peer());
    let token = app.token().await;
    let id = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("orphan")))
        .await;
    app.gateway.kill().await;
    app.ca.approve(&id).unwrap();
    // The peer adopts it once the dead instance's lease (3 s in tests) runs out.
    let done = peer.wait_until_final(&token, &id).await;
    assert_eq!(done["status"], "signed");
    assert_eq!(
        done["documents"][0]["verification"]["indication"],
        "total_passed"
    );
    let metrics = peer.metrics().await;
    assert!(
        metrics.contains("kyso_transactions_total{provider=\"vnpt\",status=\"signed\"} 1"),
        "the peer recorded the outcome:\n{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_pending_transaction_is_followed_by_exactly_one_instance() {
    let redis = RedisServer::start();
    let app = app_on(redis_store(&redis, &namespace())).await;
    let peer = app.via(&app.start_peer());
    let token = app.token().await;
    for n in 0..4 {
        app.create_transaction(
            &token,
            &sign_body(RSA_CITIZEN, &digest_of(&format!("t{n}"))),
        )
        .await;
    }
    // Give both sweepers several rounds to (wrongly) adopt what the first follows.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (mine, theirs) = (
        followed_transactions(&app.metrics().await),
        followed_transactions(&peer.metrics().await),
    );
    assert_eq!((mine, theirs), (4, 0), "followed here / by the peer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_idempotency_key_on_two_instances_creates_one_transaction() {
    let redis = RedisServer::start();
    let app = app_on(redis_store(&redis, &namespace())).await;
    let peer = app.via(&app.start_peer());
    let token = app.token().await;
    let body = sign_body(RSA_CITIZEN, &digest_of("one of two"));
    let (first, second) = tokio::join!(
        app.post_signature(&token, "shared-key", &body),
        peer.post_signature(&token, "shared-key", &body)
    );
    let mut ids = std::collections::HashSet::new();
    for response in [first, second] {
        let status = response.status().as_u16();
        let json: Value = response.json().await.unwrap();
        match status {
            202 => {
                ids.insert(json["transaction_id"].as_str().unwrap().to_owned());
            }
            other => panic!("{other}: {json}"),
        }
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(app.ca.transactions().len(), 1, "the CA was asked once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_answers_store_unavailable_and_loses_nothing() {
    let mut redis = RedisServer::start_persistent();
    let app = app_on(redis_store(&redis, &namespace())).await;
    let token = app.token().await;
    let id = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("outage")))
        .await;
    redis.stop();
    // The citizen approves while Redis is away.
    app.ca.approve(&id).unwrap();
    let started = Instant::now();
    let read = app.get(&format!("/v1/signatures/{id}"), &token).await;
    assert_error(read, 503, "store_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered within a bounded time"
    );
    let create = app
        .post_signature(
            &token,
            "during-outage",
            &sign_body(RSA_CITIZEN, &digest_of("x")),
        )
        .await;
    assert_error(create, 503, "store_unavailable").await;
    let ready = app
        .http
        .get(format!("{}/readyz", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(
        ready.json::<Value>().await.unwrap()["checks"]["store"],
        "unavailable"
    );
    // Redis comes back (with its data); the gateway recovers without a restart and the
    // CA's answer is recorded.
    redis.restart();
    let done = app.wait_until_final(&token, &id).await;
    assert_eq!(done["status"], "signed");
    let ready = app
        .http
        .get(format!("{}/readyz", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_in_the_middle_of_a_signing() {
    let mut redis = RedisServer::start_persistent();
    let app = app_on(redis_store(&redis, &namespace())).await;
    let token = app.token().await;
    let id = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("restart")))
        .await;
    redis.restart();
    app.ca.approve(&id).unwrap();
    assert_eq!(app.wait_until_final(&token, &id).await["status"], "signed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_in_redis_has_a_ttl() {
    let redis = RedisServer::start();
    let prefix = namespace();
    let app = app_on(redis_store(&redis, &prefix)).await;
    let token = app.token().await;
    let signed = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("ttl-1")))
        .await;
    app.create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("ttl-2")))
        .await;
    app.ca.approve(&signed).unwrap();
    app.wait_until_final(&token, &signed).await;
    let keys = keys_with_ttl(|args| redis.cli(args), &prefix);
    for kind in [":txn:", ":idem:", ":lease:", ":pending", ":chain:"] {
        assert!(
            keys.iter().any(|(key, _)| key.contains(kind)),
            "no {kind} key in {keys:?}"
        );
    }
    assert_every_key_expires(keys);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_works_on_a_redis_cluster_with_a_transactions_keys_on_one_slot() {
    let cluster = RedisCluster::start();
    let prefix = namespace();
    let app = app_on(StoreSettings::RedisCluster {
        urls: cluster.urls().into_iter().map(Into::into).collect(),
        key_prefix: prefix.clone(),
        timeout_ms: 1000,
        tls_ca_pem_file: None,
    })
    .await;
    let peer = app.via(&app.start_peer());
    let token = app.token().await;
    let id = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("cluster")))
        .await;
    // The transaction, its lease, its idempotency key and its shard's pending index exist,
    // and share one slot (one hash tag per shard), so one script can change them together.
    let shard = u16::from_str_radix(&id[..2], 16).unwrap();
    let tag = format!("{prefix}:{{s{shard:02}}}");
    let keys_of_shard: Vec<String> = cluster
        .nodes
        .iter()
        .flat_map(|node| keys_with_ttl(|args| node.cli(args), &tag))
        .map(|(key, _)| key)
        .collect();
    for wanted in [
        format!("{tag}:txn:{id}"),
        format!("{tag}:lease:{id}"),
        format!("{tag}:pending"),
    ] {
        assert!(
            keys_of_shard.contains(&wanted),
            "{wanted} not in {keys_of_shard:?}"
        );
    }
    assert!(
        keys_of_shard
            .iter()
            .any(|key| key.starts_with(&format!("{tag}:idem:")))
    );
    let slot = |key: &str| cluster.cli(&["cluster", "keyslot", key]);
    let slots: std::collections::BTreeSet<String> =
        keys_of_shard.iter().map(|key| slot(key)).collect();
    assert_eq!(slots.len(), 1, "{keys_of_shard:?} span {slots:?}");
    // The signer's issuer chain is stored once, apart, on whatever slot its digest gives: no
    // script touches it together with the transaction.
    let chains: Vec<(String, i64)> = cluster
        .nodes
        .iter()
        .flat_map(|node| keys_with_ttl(|args| node.cli(args), &format!("{prefix}:chain")))
        .collect();
    assert_eq!(chains.len(), 1, "{chains:?}");
    app.ca.approve(&id).unwrap();
    assert_eq!(peer.wait_until_final(&token, &id).await["status"], "signed");
    let keys: Vec<(String, i64)> = cluster
        .nodes
        .iter()
        .flat_map(|node| keys_with_ttl(|args| node.cli(args), &prefix))
        .collect();
    assert_every_key_expires(keys);
}
