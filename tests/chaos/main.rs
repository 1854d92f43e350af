//! Chaos tests: gateway instances as real OS processes on one Redis (with its append-only
//! file), in front of an in-process VNPT SmartCA simulator, proving that nothing a portal
//! was promised is lost.
//!
//! - `nothing_is_lost_under_chaos`: a steady stream of signing requests for citizens who
//!   approve, reject or never answer, while an instance is SIGKILLed (and replaced), Redis is
//!   killed and restarted, the CA turns slow and then failing, and an instance is stopped
//!   with SIGTERM; then every accepted transaction is reconciled with the simulator
//!   (`reconcile`) and one table is printed (on stderr, uncaptured).
//! - `a_stopping_instance_hands_its_transactions_over_at_once`: SIGTERM an instance that
//!   follows pending transactions; another one follows them within a couple of seconds,
//!   long before their follow lease would have run out.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

mod cluster;
mod portal;
mod reconcile;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kyso_sim_vnpt::{
    Behaviour, CitizenSpec, Fault, MAX_RECORDED_REQUESTS, SignatureScheme, SimConfig, SimControl,
    SimHandle,
};
use kyso_tests::gateway_process::GatewayConfig;
use kyso_tests::redis_server::RedisServer;
use kyso_tests::{
    ECDSA_DER_CITIZEN, RSA_CITIZEN, digest_of, followed_transactions, sign_body, token_from,
    wait_until_final,
};
use serde_json::Value;

use cluster::Cluster;
use portal::{Portal, REJECTING_CITIZEN, SILENT_CITIZEN, Submission};
use reconcile::{Tally, judge, read_until_final};

const SP_ID: &str = "kyso-chaos-sp";
const SP_PASSWORD: &str = "kyso-chaos-sp-password";
/// The Kubernetes grace period in `deploy/`: a stopped instance must be gone by then.
const GRACE_PERIOD: Duration = Duration::from_secs(30);

/// Gateway instances at the start of the chaos run.
const INSTANCES: usize = 3;
/// Signing requests a second during the load.
const LOAD_RATE: u32 = 12;
/// How long the load lasts.
const LOAD_DURATION: Duration = Duration::from_secs(30);
/// How long citizens who answer take to.
const ANSWER_AFTER: Duration = Duration::from_secs(1);
/// The CA's latency while it is slow.
const SLOW_CA: Duration = Duration::from_millis(700);
/// Longer than a CA call may take: a hang the gateway sees as a timeout.
const CA_HANG: Duration = Duration::from_millis(2500);
/// How often a fault is armed again while the CA is failing (each one hits one call).
const FAULT_REARM: Duration = Duration::from_millis(5);

/// The simulated CA: citizens who approve (RSA and ECDSA), reject, or never answer.
async fn simulator() -> SimHandle {
    let citizen = |user_id: &str, name: &str, scheme, behaviour| {
        CitizenSpec::new(user_id, name, scheme, behaviour)
    };
    kyso_sim_vnpt::spawn(SimConfig {
        sp_id: SP_ID.to_owned(),
        sp_password: SP_PASSWORD.to_owned(),
        citizens: vec![
            citizen(
                RSA_CITIZEN,
                "Nguyễn Văn An",
                SignatureScheme::RsaPkcs1v15,
                Behaviour::ApproveAfter(ANSWER_AFTER),
            ),
            citizen(
                ECDSA_DER_CITIZEN,
                "Phạm Thị Dung",
                SignatureScheme::EcdsaDer,
                Behaviour::ApproveAfter(ANSWER_AFTER),
            ),
            citizen(
                REJECTING_CITIZEN,
                "Trần Thị Bình",
                SignatureScheme::RsaPkcs1v15,
                Behaviour::RejectAfter(ANSWER_AFTER),
            ),
            citizen(
                SILENT_CITIZEN,
                "Lê Văn Cường",
                SignatureScheme::RsaPkcs1v15,
                Behaviour::Manual,
            ),
        ],
        // The gateway's expiry comes first: the CA itself never decides for the silent one.
        transaction_ttl: Duration::from_secs(600),
    })
    .await
    .expect("simulator starts")
}

/// Instances on `redis` in front of `sim`, with short timings (the lease must exceed the
/// longest poll wait plus a CA call).
fn gateway_config(redis: &RedisServer, sim: &SimHandle, follow_lease_ms: u64) -> GatewayConfig {
    GatewayConfig {
        redis_url: redis.url(),
        key_prefix: format!("kyso-chaos-{}", uuid::Uuid::new_v4().simple()),
        ca_base_url: sim.base_url(),
        ca_root_pem: sim.root_certificate_pem(),
        sp_id: SP_ID.to_owned(),
        sp_password: SP_PASSWORD.to_owned(),
        confirmation_timeout_secs: 15,
        ca_request_ms: 2000,
        follow_lease_ms,
        sweep_interval_ms: 300,
        poll_initial_ms: 50,
        poll_max_ms: 500,
    }
}

/// How late past its expiry a transaction may still be pending without being stuck: an
/// orphan is adopted once its lease runs out and a sweep finds it, then the adopter needs a
/// poll wait and a CA call; plus slack for a busy machine.
fn stuck_margin(config: &GatewayConfig) -> Duration {
    Duration::from_millis(
        config.follow_lease_ms
            + config.sweep_interval_ms
            + config.poll_max_ms
            + config.ca_request_ms,
    ) + Duration::from_secs(2)
}

/// The faults of the chaos run, each at its time after the load started, counted by kind.
async fn inject_faults(
    cluster: &mut Cluster,
    redis: &mut RedisServer,
    ca: &SimControl,
    load_started: Instant,
) -> BTreeMap<&'static str, usize> {
    let mut faults = BTreeMap::new();
    let at =
        |secs: u64| tokio::time::sleep_until((load_started + Duration::from_secs(secs)).into());

    at(4).await;
    cluster.take_instance(0).kill();
    *faults.entry("instance SIGKILL").or_default() += 1;

    at(8).await;
    cluster.add_instance().await;
    *faults.entry("replacement instance started").or_default() += 1;

    at(11).await;
    tokio::task::block_in_place(|| redis.restart());
    *faults.entry("Redis kill -9 and restart (AOF)").or_default() += 1;

    at(14).await;
    ca.set_delay(SLOW_CA);
    at(19).await;
    ca.set_delay(Duration::ZERO);
    *faults.entry("CA slow for 5 s (700 ms a call)").or_default() += 1;

    at(20).await;
    let failing_until = load_started + Duration::from_secs(24);
    let cycle = [Fault::Status(503), Fault::Status(500), Fault::Hang(CA_HANG)];
    let mut armed = 0;
    while Instant::now() < failing_until {
        ca.fail_next(cycle[armed % cycle.len()]);
        armed += 1;
        tokio::time::sleep(FAULT_REARM).await;
    }
    *faults.entry("CA failing for 4 s (window)").or_default() += 1;
    *faults
        .entry("CA faults armed (503, 500, 2.5 s hang)")
        .or_default() += armed;

    at(26).await;
    let mut leaving = cluster.take_instance(0);
    let exited = leaving.terminate(GRACE_PERIOD).await;
    *faults.entry("instance SIGTERM").or_default() += 1;
    assert!(
        exited.is_some(),
        "{} did not exit within {GRACE_PERIOD:?} of SIGTERM; its log: {}",
        leaving.name,
        leaving.log.display()
    );
    faults
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_under_chaos() {
    let test_started = Instant::now();
    let mut redis = RedisServer::start_persistent();
    let sim = simulator().await;
    let config = gateway_config(&redis, &sim, 3000);
    let mut cluster = Cluster::start(&config, INSTANCES).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let token = token_from(&http, &cluster.instance(0).api, None).await;
    let portal = Arc::new(Portal {
        http,
        token,
        routes: cluster.routes.clone(),
    });

    let ca = sim.control();
    let load_started = Instant::now();
    let (submissions, faults) = tokio::join!(
        portal.clone().submit_steadily(LOAD_RATE, LOAD_DURATION),
        inject_faults(&mut cluster, &mut redis, &ca, load_started),
    );
    let (mut accepted, mut refused, mut gave_up) = (Vec::new(), Vec::new(), Vec::new());
    for submission in submissions {
        match submission {
            Submission::Accepted(transaction) => accepted.push(transaction),
            Submission::Refused(why) => refused.push(why),
            Submission::GaveUp(why) => gave_up.push(why),
        }
    }

    let margin = stuck_margin(&config);
    let readings = read_until_final(&portal, &accepted, margin).await;
    let ca_requests = ca.requests();
    assert!(
        ca_requests.len() < MAX_RECORDED_REQUESTS,
        "the simulator's request log is full: duplicates could go unseen; lower the load"
    );
    let verdict = judge(
        &accepted,
        &readings,
        &ca.transactions(),
        &ca_requests,
        margin,
    );
    let tally = Tally {
        accepted: accepted.len(),
        refused: &refused,
        gave_up: &gave_up,
        faults: &faults,
        verdict: &verdict,
        logs: &cluster.dir,
        wall: test_started.elapsed(),
    };
    // Uncaptured: the table shows in every run, not only failing ones.
    std::io::stderr()
        .write_all(tally.to_string().as_bytes())
        .unwrap();
    assert!(
        verdict.is_clean(),
        "lost, stuck, duplicated or mismatched transactions: see the table above"
    );
    assert!(
        refused.is_empty(),
        "valid requests refused: see the table above"
    );
    assert!(
        accepted.len() as f64 >= f64::from(LOAD_RATE) * LOAD_DURATION.as_secs_f64() * 0.8,
        "too few requests accepted for the run to mean anything"
    );
    assert_eq!(cluster.started(), INSTANCES + 1);
    cluster.clean_up();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_instance_hands_its_transactions_over_at_once() {
    const FOLLOW_LEASE_MS: u64 = 20_000;
    const PENDING: usize = 4;
    let redis = RedisServer::start();
    let sim = simulator().await;
    let config = gateway_config(&redis, &sim, FOLLOW_LEASE_MS);
    let mut cluster = Cluster::start(&config, 2).await;
    let http = reqwest::Client::new();
    let (leaving_api, leaving_admin) = {
        let leaving = cluster.instance(0);
        (leaving.api.clone(), leaving.admin.clone())
    };
    let staying_api = cluster.instance(1).api.clone();
    let token = token_from(&http, &leaving_api, None).await;

    let mut ids = Vec::new();
    for n in 0..PENDING {
        let response = http
            .post(format!("{leaving_api}/v1/signatures"))
            .bearer_auth(&token)
            .header("Idempotency-Key", format!("hand-over-{n}"))
            .json(&sign_body(
                SILENT_CITIZEN,
                &digest_of(&format!("hand-over {n}")),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let answer: Value = response.json().await.unwrap();
        ids.push(answer["transaction_id"].as_str().unwrap().to_owned());
    }
    // The creating instance follows them all.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = http
            .get(format!("{leaving_admin}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if followed_transactions(&metrics) == PENDING as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the creating instance does not follow its transactions:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut leaving = cluster.take_instance(0);
    let took = leaving.terminate(GRACE_PERIOD).await.unwrap_or_else(|| {
        panic!(
            "no exit within {GRACE_PERIOD:?}; log: {}",
            leaving.log.display()
        )
    });
    assert!(
        took < Duration::from_secs(10),
        "SIGTERM took {took:?}; log: {}",
        leaving.log.display()
    );

    // The citizen approves after the instance that followed the transactions is gone; the
    // one left finishes them well before the 20 s lease would have run out.
    let handed_over = Instant::now();
    for id in &ids {
        sim.control().approve(id).unwrap();
    }
    for id in &ids {
        let done = wait_until_final(&http, &staying_api, &token, id).await;
        assert_eq!(done["status"], "signed", "{done}");
    }
    let followed_after = handed_over.elapsed();
    assert!(
        followed_after < Duration::from_secs(3),
        "the transactions were finished {followed_after:?} after the hand-over (lease: \
         {FOLLOW_LEASE_MS} ms); logs under {}",
        cluster.dir.display()
    );
    cluster.clean_up();
}
