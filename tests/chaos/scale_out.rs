//! Scale-out: gateway instances (real processes from one configuration) on one Redis Cluster
//! of three masters, as the national deployment runs them. A portal spreads a few hundred
//! signing transactions round-robin over the instances, for citizens who approve at once; the
//! test shows what the design promises when it grows by machines and shards:
//!
//! - every transaction ends `signed`, and reads the same from every instance (no state lives
//!   in an instance);
//! - the transactions' keys spread over the three masters (the 64 shard hash tags `{sNN}` map
//!   to slots all over the cluster), so adding masters adds capacity;
//! - the follow work is shared: each instance followed and finished its part;
//! - the audit trail stays one chain, written by every instance, that verifies against its
//!   head; its keys (`{audit}`) are on one master: the one hot key, whose ceiling the load
//!   harness measures (`kyso-load`, "The audit trail's one chain").

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kyso_sim_vnpt::{Behaviour, CitizenSpec, SignatureScheme, SimConfig, SimHandle};
use kyso_tests::gateway_process::{GatewayConfig, SharedRedis};
use kyso_tests::redis_server::{RedisCluster, RedisServer};
use kyso_tests::{
    digest_of, metrics_at, post_signature_at, series_value, sign_body, token_from, wait_until_final,
};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::cluster::{Cluster, PROGRAM};
use crate::{HEAVY_RUN, SP_ID, SP_PASSWORD, client};

/// Gateway instances behind the portal's round-robin.
const INSTANCES: usize = 3;
/// Signing transactions the portal makes.
const TRANSACTIONS: usize = 300;
/// Transactions the portal has under way at once.
const IN_FLIGHT: usize = 24;
/// Citizens who approve at once (P-256: signing costs the simulator ~0.1 ms).
const CITIZENS: u32 = 8;
/// The least share of the transactions' keys each master must hold: 64 hash tags over three
/// masters give each about a third (20 to 23 tags here), so a sixth is far from chance.
const FAIR_SHARE_DIVISOR: usize = 6;
/// Longest the final outcomes' audit records may take to be in the trail once the
/// transactions read `signed` (each is written just after its transaction is stored).
const OUTCOMES_RECORDED_WITHIN: Duration = Duration::from_secs(10);

/// Keys of a kind sampled on each master to report what one takes in memory.
const SAMPLED_KEYS: usize = 10;

/// The `kyso_transactions_total` series of the signed transactions an instance finished.
const SIGNED_HERE: &str = r#"kyso_transactions_total{provider="vnpt",status="signed"}"#;
/// The `kyso_audit_records_total` series of the final outcomes an instance recorded.
const OUTCOMES_RECORDED_HERE: &str = r#"kyso_audit_records_total{event="signing.outcome"}"#;

/// The simulated CA: citizens who approve every request at once.
async fn approving_simulator() -> (SimHandle, Vec<String>) {
    let citizens: Vec<CitizenSpec> = (1..=CITIZENS)
        .map(|n| {
            CitizenSpec::new(
                format!("0010993000{n:02}"),
                format!("Công Dân Mở Rộng {n}"),
                SignatureScheme::EcdsaDer,
                Behaviour::ApproveAfter(Duration::ZERO),
            )
        })
        .collect();
    let ids = citizens.iter().map(|c| c.user_id.clone()).collect();
    let sim = kyso_sim_vnpt::spawn(SimConfig {
        sp_id: SP_ID.to_owned(),
        sp_password: SP_PASSWORD.to_owned(),
        citizens,
        transaction_ttl: Duration::from_secs(300),
    })
    .await
    .expect("simulator starts");
    (sim, ids)
}

/// One transaction made through instance `n % INSTANCES` and read until final through the
/// next one: its id, and the instance that accepted it.
async fn sign_round_robin(
    http: reqwest::Client,
    routes: Vec<String>,
    token: Arc<String>,
    citizen: String,
    n: usize,
) -> (String, usize) {
    let via = n % routes.len();
    let key = format!("scale-out-{n}-{}", uuid::Uuid::new_v4().simple());
    let body = sign_body(&citizen, &digest_of(&key));
    let response = post_signature_at(&http, &routes[via], &token, &key, &body).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 202, "transaction {n} via instance {via}: {answer}");
    let id = answer["transaction_id"].as_str().unwrap().to_owned();
    let other = &routes[(via + 1) % routes.len()];
    let done = wait_until_final(&http, other, &token, &id).await;
    assert_eq!(done["status"], "signed", "{done}");
    (id, via)
}

/// `redis-cli --scan` of one node for keys matching `pattern`: only the keys that node holds.
fn scan(node: &RedisServer, pattern: &str) -> Vec<String> {
    node.cli(&["--scan", "--pattern", pattern])
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

fn keys_on(node: &RedisServer, pattern: &str) -> usize {
    scan(node, pattern).len()
}

/// The mean `MEMORY USAGE` (bytes) of up to [`SAMPLED_KEYS`] keys matching `pattern` on each
/// master: what one such key takes, for the README's sizing.
fn mean_memory_usage(redis: &RedisCluster, pattern: &str) -> f64 {
    let sizes: Vec<f64> = redis
        .nodes
        .iter()
        .flat_map(|node| {
            scan(node, pattern)
                .into_iter()
                .take(SAMPLED_KEYS)
                .map(move |key| {
                    node.cli(&["memory", "usage", &key, "samples", "0"])
                        .parse::<f64>()
                        .unwrap()
                })
        })
        .collect();
    sizes.iter().sum::<f64>() / sizes.len().max(1) as f64
}

/// The store's trail (`kyso-gateway audit export`), written to `trail`; the head it read.
fn export_trail(config: &Path, trail: &Path) -> String {
    let output = Command::new(PROGRAM)
        .args(["audit", "export", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "audit export failed: {head}");
    std::fs::write(trail, &output.stdout).unwrap();
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_spread_over_instances_and_cluster_masters_and_the_audit_chain_verifies() {
    let _turn = HEAVY_RUN.lock().await;
    let test_started = Instant::now();
    let redis = RedisCluster::start();
    let (sim, citizens) = approving_simulator().await;
    let prefix = format!("kyso-scale-{}", uuid::Uuid::new_v4().simple());
    let config = GatewayConfig {
        redis: SharedRedis::Cluster(redis.urls()),
        key_prefix: prefix.clone(),
        ca_base_url: sim.base_url(),
        ca_root_pem: sim.root_certificate_pem(),
        sp_id: SP_ID.to_owned(),
        sp_password: SP_PASSWORD.to_owned(),
        confirmation_timeout_secs: 60,
        ca_request_ms: 2000,
        follow_lease_ms: 5000,
        sweep_interval_ms: 1000,
        poll_initial_ms: 20,
        poll_max_ms: 200,
    };
    let cluster = Cluster::start(&config, INSTANCES).await;
    let routes: Vec<String> = (0..INSTANCES)
        .map(|index| cluster.instance(index).api.clone())
        .collect();
    let admins: Vec<String> = (0..INSTANCES)
        .map(|index| cluster.instance(index).admin.clone())
        .collect();
    let http = client();
    let token = Arc::new(token_from(&http, &routes[0], None).await);

    // The portal: round-robin over the instances, a bounded number under way at once.
    let signing_started = Instant::now();
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut portal = tokio::task::JoinSet::new();
    for n in 0..TRANSACTIONS {
        let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
        let (http, routes, token) = (http.clone(), routes.clone(), Arc::clone(&token));
        let citizen = citizens[n % citizens.len()].clone();
        portal.spawn(async move {
            let signed = sign_round_robin(http, routes, token, citizen, n).await;
            drop(permit);
            signed
        });
    }
    let signed: Vec<(String, usize)> = portal.join_all().await;
    let signing_took = signing_started.elapsed();
    assert_eq!(signed.len(), TRANSACTIONS);

    // Every instance reads every transaction, the same.
    for (id, via) in &signed {
        let mut views = Vec::new();
        for api in &routes {
            let response = http
                .get(format!("{api}/v1/signatures/{id}"))
                .bearer_auth(token.as_str())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{id} at {api}");
            views.push(response.json::<Value>().await.unwrap());
        }
        assert_eq!(views[0]["status"], "signed", "{id} (accepted by {via})");
        assert!(
            views.iter().all(|view| *view == views[0]),
            "{id} reads differently from one instance to another: {views:?}"
        );
    }

    // The transactions' keys are spread over the three masters; the audit trail's are on one.
    let records_per_master: Vec<usize> = redis
        .nodes
        .iter()
        .map(|node| keys_on(node, &format!("{prefix}:{{s*}}:txn:*")))
        .collect();
    let keys_per_master: Vec<usize> = redis
        .nodes
        .iter()
        .map(|node| keys_on(node, &format!("{prefix}:*")))
        .collect();
    let audit_masters: Vec<u16> = redis
        .nodes
        .iter()
        .filter(|node| keys_on(node, &format!("{prefix}:{{audit}}:*")) > 0)
        .map(|node| node.port)
        .collect();
    assert_eq!(
        records_per_master.iter().sum::<usize>(),
        TRANSACTIONS,
        "transaction records per master: {records_per_master:?}"
    );
    for (master, records) in records_per_master.iter().enumerate() {
        assert!(
            records * FAIR_SHARE_DIVISOR >= TRANSACTIONS,
            "master {master} holds {records} of {TRANSACTIONS} transaction records, less \
             than 1/{FAIR_SHARE_DIVISOR}: {records_per_master:?}"
        );
    }
    assert_eq!(
        audit_masters.len(),
        1,
        "the audit trail's keys are on masters {audit_masters:?}"
    );

    // The follow work was shared: each instance finished its part, and none twice.
    let mut finished_per_instance = Vec::new();
    for admin in &admins {
        let metrics = metrics_at(&http, admin).await;
        finished_per_instance.push(series_value(&metrics, SIGNED_HERE) as usize);
    }
    assert_eq!(
        finished_per_instance.iter().sum::<usize>(),
        TRANSACTIONS,
        "transactions finished per instance: {finished_per_instance:?}"
    );
    for (instance, finished) in finished_per_instance.iter().enumerate() {
        assert!(
            finished * 2 * INSTANCES >= TRANSACTIONS,
            "instance {instance} finished {finished} of {TRANSACTIONS}, less than half its \
             share: {finished_per_instance:?}"
        );
    }

    // One audit chain, written by every instance, verifies against its head.
    let deadline = Instant::now() + OUTCOMES_RECORDED_WITHIN;
    loop {
        let mut recorded = 0.0;
        for admin in &admins {
            recorded += series_value(&metrics_at(&http, admin).await, OUTCOMES_RECORDED_HERE);
        }
        if recorded as usize >= TRANSACTIONS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{recorded} final outcomes recorded of {TRANSACTIONS}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let head: Value = http
        .get(format!("{}/audit/head", admins[0]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (head_seq, head_hash) = (
        head["seq"].as_u64().unwrap().to_string(),
        head["hash"].as_str().unwrap().to_owned(),
    );
    let trail = cluster.dir.join("trail.jsonl");
    let exported = export_trail(&cluster.config, &trail);
    let verify = Command::new(PROGRAM)
        .args(["audit", "verify"])
        .arg(&trail)
        .args(["--seq", &head_seq, "--head", &head_hash])
        .output()
        .unwrap();
    let verified = String::from_utf8_lossy(&verify.stdout).into_owned()
        + &String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success(),
        "the trail does not verify against its head (seq {head_seq}): {verified}\nexport: \
         {exported}"
    );
    let records: Vec<Value> = std::fs::read_to_string(&trail)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let chains: BTreeSet<&str> = records
        .iter()
        .filter_map(|record| record["chain"].as_str())
        .collect();
    let writers: BTreeSet<&str> = records
        .iter()
        .filter_map(|record| record["instance"].as_str())
        .collect();
    let count = |event: &str| {
        records
            .iter()
            .filter(|record| record["event"] == event)
            .count()
    };
    assert_eq!(chains.len(), 1, "chains in the trail: {chains:?}");
    assert_eq!(
        writers.len(),
        INSTANCES,
        "instances that wrote the trail: {writers:?}"
    );
    assert_eq!(count("signing.accepted"), TRANSACTIONS);
    assert_eq!(count("signing.outcome"), TRANSACTIONS);

    let memory = |kind: &str| mean_memory_usage(&redis, &format!("{prefix}:{kind}"));
    writeln!(
        std::io::stderr(),
        "\n== scale-out: {TRANSACTIONS} transactions round-robin over {INSTANCES} instances on a \
         3-master Redis Cluster, signed in {:.1} s; transaction records per master \
         {records_per_master:?} (every key: {keys_per_master:?}); finished per instance \
         {finished_per_instance:?}; audit chain of {} records by {} instances verified \
         (seq {head_seq}), its keys on master :{}; a signed transaction's keys (MEMORY \
         USAGE): record {:.0} B, idempotency key {:.0} B, its outcome's audit `once` key \
         {:.0} B; test {:.1} s",
        signing_took.as_secs_f64(),
        records.len(),
        writers.len(),
        audit_masters[0],
        memory("{s*}:txn:*"),
        memory("{s*}:idem:*"),
        memory("{audit}:once:*"),
        test_started.elapsed().as_secs_f64()
    )
    .unwrap();
    cluster.clean_up();
}
