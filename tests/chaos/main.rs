//! Chaos and scale-out tests: gateway instances as real OS processes on one Redis (with its
//! append-only file) or one Redis Cluster, in front of an in-process VNPT SmartCA simulator,
//! proving that nothing a portal was promised is lost, and that the design holds as it grows.
//!
//! - `nothing_is_lost_under_chaos`: a steady stream of signing requests for citizens who
//!   approve, reject or never answer, while an instance is SIGKILLed (and replaced), Redis is
//!   killed and restarted, the CA turns slow and then failing, and an instance is stopped
//!   with SIGTERM; then every accepted transaction is reconciled with the simulator
//!   (`reconcile`) and one table is printed (on stderr, uncaptured).
//! - `a_stopping_instance_hands_its_transactions_over_at_once`: SIGTERM an instance that
//!   follows pending transactions; another one follows them within a couple of seconds,
//!   long before their follow lease would have run out.
//! - `scale_out::transactions_spread_over_instances_and_cluster_masters_and_the_audit_chain_verifies`:
//!   three instances on a three-master Redis Cluster, a few hundred transactions spread
//!   round-robin: all signed and readable everywhere, keys and follow work shared, one audit
//!   chain that verifies (see [`scale_out`]).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

mod cluster;
mod portal;
mod reconcile;
mod scale_out;

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kyso_sim_vnpt::{
    Behaviour, CitizenSpec, Fault, MAX_RECORDED_REQUESTS, SignatureScheme, SimConfig, SimControl,
    SimHandle,
};
use kyso_tests::gateway_process::{GatewayConfig, SharedRedis};
use kyso_tests::redis_server::RedisServer;
use kyso_tests::{
    ECDSA_DER_CITIZEN, RSA_CITIZEN, create_transaction_at, digest_of, followed_transactions,
    metrics_at, sign_body, token_from, wait_until_final,
};
use time::OffsetDateTime;

use cluster::Cluster;
use portal::{Accepted, Kind, Portal, REJECTING_CITIZEN, SILENT_CITIZEN, Submission, time_of};
use reconcile::{Reading, Tally, judge, read_until_final};

const SP_ID: &str = "kyso-chaos-sp";
const SP_PASSWORD: &str = "kyso-chaos-sp-password";
/// The Kubernetes grace period in `deploy/`: a stopped instance must be gone by then.
const GRACE_PERIOD: Duration = Duration::from_secs(30);

/// Held by the tests that load the machine most (the chaos run, the scale-out run), so that
/// they take turns: each one's margins assume the other is not taking the cores meanwhile.
static HEAVY_RUN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Gateway instances at the start of the chaos run.
const INSTANCES: usize = 3;
/// Signing requests a second during the load.
const LOAD_RATE: u32 = 12;
/// How long the load lasts.
const LOAD_DURATION: Duration = Duration::from_secs(30);
/// How long citizens who answer take to answer.
const ANSWER_AFTER: Duration = Duration::from_secs(1);
/// The CA's latency while it is slow.
const SLOW_CA: Duration = Duration::from_millis(700);
/// Longer than a CA call may take: a hang the gateway sees as a timeout.
const CA_HANG: Duration = Duration::from_millis(2500);
/// Never-answered requests sent to an instance shortly before it is killed or stopped.
const PINNED_REQUESTS: usize = 3;
/// How long Redis stays down when it is killed.
const REDIS_OUTAGE: Duration = Duration::from_secs(2);
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
        redis: SharedRedis::Server(redis.url()),
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

/// What the fault injection did.
#[derive(Default)]
struct Faults {
    /// How many of each kind.
    counts: BTreeMap<&'static str, usize>,
    /// The SIGKILLed instance's API, and when it died.
    killed: Option<(String, OffsetDateTime)>,
    /// The SIGTERMed instance's API, when it got the signal, and how long it took to exit.
    stopped: Option<(String, OffsetDateTime, Duration)>,
    /// The requests sent to the instances about to be killed or stopped.
    pinned: Vec<Submission>,
}

impl Faults {
    fn count(&mut self, kind: &'static str, times: usize) {
        *self.counts.entry(kind).or_default() += times;
    }
}

/// The faults of the chaos run, each at its time after the load started. The instance is
/// killed, and another one stopped, while the CA is slow, so that requests are in flight at
/// the CA then; each has been sent a few never-answered requests before, so that it follows
/// transactions when it goes.
async fn inject_faults(
    cluster: &mut Cluster,
    redis: &mut RedisServer,
    ca: &SimControl,
    portal: &Arc<Portal>,
    load_started: Instant,
) -> Faults {
    let mut faults = Faults::default();
    let at =
        |secs: u64| tokio::time::sleep_until((load_started + Duration::from_secs(secs)).into());

    at(2).await;
    faults.pinned = give_the_next_to_go_work(portal, cluster).await;
    at(3).await;
    ca.set_delay(SLOW_CA);
    at(5).await;
    let mut victim = cluster.take_instance(0);
    victim.kill();
    faults.killed = Some((victim.api.clone(), OffsetDateTime::now_utc()));
    faults.count("instance SIGKILL (CA slow, requests in flight)", 1);
    at(8).await;
    ca.set_delay(Duration::ZERO);

    at(9).await;
    cluster.add_instance().await;
    faults.count("replacement instance started", 1);

    at(11).await;
    tokio::task::block_in_place(|| redis.stop());
    tokio::time::sleep(REDIS_OUTAGE).await;
    tokio::task::block_in_place(|| redis.restart());
    faults.count("Redis kill -9, down 2 s, restarted (AOF)", 1);

    at(14).await;
    let failing_until = load_started + Duration::from_secs(18);
    let cycle = [Fault::Status(503), Fault::Status(500), Fault::Hang(CA_HANG)];
    let mut armed = 0;
    while Instant::now() < failing_until {
        ca.fail_next(cycle[armed % cycle.len()]);
        armed += 1;
        tokio::time::sleep(FAULT_REARM).await;
    }
    faults.count("CA failing for 4 s (window)", 1);
    faults.count("CA faults armed (503, 500, 2.5 s hang)", armed);

    at(20).await;
    faults
        .pinned
        .extend(give_the_next_to_go_work(portal, cluster).await);
    at(21).await;
    ca.set_delay(SLOW_CA);
    faults.count("CA slow windows (700 ms a call, 5 s)", 2);
    at(23).await;
    let mut leaving = cluster.take_instance(0);
    let signalled = OffsetDateTime::now_utc();
    let (exited, ()) = tokio::join!(leaving.terminate(GRACE_PERIOD), async {
        at(26).await;
        ca.set_delay(Duration::ZERO);
    });
    faults.count("instance SIGTERM (CA slow, requests in flight)", 1);
    let exited = exited.unwrap_or_else(|| {
        panic!(
            "{} did not exit within {GRACE_PERIOD:?} of SIGTERM; its log: {}",
            leaving.name,
            leaving.log.display()
        )
    });
    faults.stopped = Some((leaving.api.clone(), signalled, exited));
    faults
}

/// Sends never-answered requests to the first live instance, the next to be killed or
/// stopped, so that it follows transactions when it goes.
async fn give_the_next_to_go_work(portal: &Arc<Portal>, cluster: &Cluster) -> Vec<Submission> {
    let api = cluster.instance(0).api.clone();
    portal
        .clone()
        .submit_to(&api, Kind::NeverAnswers, PINNED_REQUESTS)
        .await
}

/// An HTTP client whose every call has a deadline.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// What the portal went through: retries, replays, and why tries failed.
fn portal_summary(accepted: &[Accepted]) -> String {
    let retried = accepted
        .iter()
        .filter(|transaction| !transaction.failed_tries.is_empty())
        .count();
    let replayed = accepted
        .iter()
        .filter(|transaction| transaction.replayed)
        .count();
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for reason in accepted
        .iter()
        .flat_map(|transaction| &transaction.failed_tries)
    {
        *reasons.entry(reason).or_default() += 1;
    }
    let reasons: Vec<String> = reasons
        .iter()
        .map(|(reason, count)| format!("{reason} {count}"))
        .collect();
    format!(
        "portal: accepted after retrying {retried}, of which answered as replays {replayed}; \
         failed tries: {}",
        reasons.join(", ")
    )
}

/// Transactions accepted through `api` that became final after `moment`, when that
/// instance was gone: another instance finished them (its follower: a read only expires a
/// transaction past its expiry plus the stuck margin, which the verdict would report).
fn finished_elsewhere(
    accepted: &[Accepted],
    readings: &HashMap<String, Reading>,
    api: &str,
    moment: OffsetDateTime,
) -> usize {
    accepted
        .iter()
        .filter(|transaction| transaction.via == api)
        .filter(|transaction| match readings.get(&transaction.id) {
            Some(Reading::Final(view)) => time_of(&view["updated_at"]) > moment,
            _ => false,
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_under_chaos() {
    let _turn = HEAVY_RUN.lock().await;
    let test_started = Instant::now();
    let mut redis = RedisServer::start_persistent();
    let sim = simulator().await;
    let config = gateway_config(&redis, &sim, 3000);
    let mut cluster = Cluster::start(&config, INSTANCES).await;
    let http = client();
    let token = token_from(&http, &cluster.instance(0).api, None).await;
    let portal = Arc::new(Portal {
        http,
        token,
        routes: cluster.routes.clone(),
    });

    let ca = sim.control();
    let load_started = Instant::now();
    let (submissions, mut faults) = tokio::join!(
        portal.clone().submit_steadily(LOAD_RATE, LOAD_DURATION),
        inject_faults(&mut cluster, &mut redis, &ca, &portal, load_started),
    );
    let (mut accepted, mut refused, mut gave_up) = (Vec::new(), Vec::new(), Vec::new());
    for submission in submissions.into_iter().chain(faults.pinned.drain(..)) {
        match submission {
            Submission::Accepted(transaction) => accepted.push(transaction),
            Submission::Refused(why) => refused.push(why),
            Submission::GaveUp(tries) => gave_up.push(tries.join(", ")),
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
    let (killed_api, killed_at) = faults.killed.clone().expect("an instance was killed");
    let (stopped_api, stopped_at, stop_took) = faults.stopped.clone().expect("one was stopped");
    let taken_over = finished_elsewhere(&accepted, &readings, &killed_api, killed_at);
    let handed_over = finished_elsewhere(&accepted, &readings, &stopped_api, stopped_at);
    let notes = [
        portal_summary(&accepted),
        format!(
            "finished by another instance: {taken_over} accepted by the SIGKILLed one, \
             {handed_over} by the SIGTERMed one (which exited {:.1} s after the signal)",
            stop_took.as_secs_f64()
        ),
    ];
    let tally = Tally {
        accepted: accepted.len(),
        refused: &refused,
        gave_up: &gave_up,
        faults: &faults.counts,
        notes: &notes,
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
    assert!(
        taken_over > 0 && handed_over > 0,
        "the killed and the stopped instance left nothing to take over: the run proves little"
    );
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
    let http = client();
    let (leaving_api, leaving_admin) = {
        let leaving = cluster.instance(0);
        (leaving.api.clone(), leaving.admin.clone())
    };
    let staying_api = cluster.instance(1).api.clone();
    let token = token_from(&http, &leaving_api, None).await;

    let mut ids = Vec::new();
    for n in 0..PENDING {
        let body = sign_body(SILENT_CITIZEN, &digest_of(&format!("hand-over {n}")));
        ids.push(create_transaction_at(&http, &leaving_api, &token, &body).await);
    }
    // The creating instance follows them all.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = metrics_at(&http, &leaving_admin).await;
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
    writeln!(
        std::io::stderr(),
        "\n== hand-over: SIGTERM exit after {:.2} s; {PENDING} transactions signed through the \
         other instance {:.2} s after (follow lease {} s)",
        took.as_secs_f64(),
        followed_after.as_secs_f64(),
        FOLLOW_LEASE_MS / 1000
    )
    .unwrap();
    assert!(
        followed_after < Duration::from_secs(3),
        "the transactions were finished {followed_after:?} after the hand-over (lease: \
         {FOLLOW_LEASE_MS} ms); logs under {}",
        cluster.dir.display()
    );
    cluster.clean_up();
}
