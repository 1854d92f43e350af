//! The signing core's crash windows, each put at an exact point with a [`FaultyStore`]: an
//! instance "dies" (its store calls hang from that call on, so it never writes again and its
//! leases run out) or a store reply is lost, and another instance on the same store must
//! finish the work: no approval lost, no key locked, no request sent twice to the CA.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kyso_gateway::domain::transaction::{
    SignerCertificate, Submission, Transaction, TransactionStatus, new_transaction_id, shard_of_key,
};
use kyso_gateway::store::memory::MemoryStore;
use kyso_gateway::store::redis::RedisStore;
use kyso_gateway::store::{CreateTtls, IdempotencyRecord, Store};
use kyso_tests::faulty_store::{FaultyStore, StoreFault};
use kyso_tests::redis_server::RedisServer;
use kyso_tests::{
    Gateway, RSA_CITIZEN, TestApp, TestConfig, digest_of, sandbox_for_tests, sandbox_token,
    sign_body, spawn_app_on, wait_until_final,
};
use serde_json::Value;
use time::OffsetDateTime;

/// How long a test waits for a request to a "dead" instance before giving up on it.
const DEAD_INSTANCE_WAIT: Duration = Duration::from_millis(1500);

/// A gateway whose store dies on command, and a healthy peer on the same store.
async fn dying_and_survivor() -> (TestApp, Arc<FaultyStore>, TestApp) {
    let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let dying = FaultyStore::new(shared.clone());
    let app = spawn_app_on(TestConfig::default(), dying.clone()).await;
    let survivor = app.via(&app.start_peer_on(shared));
    (app, dying, survivor)
}

/// `POST /v1/signatures` on `app`, `None` when the instance does not answer in time.
async fn post_or_silence(app: &TestApp, token: &str, key: &str, body: &Value) -> Option<Value> {
    let response =
        tokio::time::timeout(DEAD_INSTANCE_WAIT, app.post_signature(token, key, body)).await;
    let response = response.ok()?;
    assert_eq!(response.status(), 202);
    Some(response.json().await.unwrap())
}

/// Waits until the simulated CA holds a request for `transaction_id`.
async fn wait_until_at_ca(app: &TestApp, transaction_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app
        .ca
        .transactions()
        .iter()
        .any(|held| held.transaction_id == transaction_id)
    {
        assert!(
            Instant::now() < deadline,
            "{transaction_id} never reached the CA"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_reply_to_the_creation_is_recognised_and_the_ca_is_asked_once() {
    let store = FaultyStore::new(Arc::new(MemoryStore::new()));
    let app = spawn_app_on(TestConfig::default(), store.clone()).await;
    let token = app.token().await;
    let body = sign_body(RSA_CITIZEN, &digest_of("lost reply"));
    // Redis applies the creation, the connection drops before its reply.
    store.arm(Some("create_transaction"), 1, StoreFault::LoseReply);
    let response = app.post_signature(&token, "lost-reply", &body).await;
    let created: Value = response.json().await.unwrap();
    let id = created["transaction_id"]
        .as_str()
        .expect("accepted")
        .to_owned();
    // The portal's retry gets the same transaction back, not an error.
    let again = app.post_signature(&token, "lost-reply", &body).await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["transaction_id"], id.as_str());
    app.ca.approve(&id).unwrap();
    assert_eq!(app.wait_until_final(&token, &id).await["status"], "signed");
    assert_eq!(app.ca.transactions().len(), 1, "the CA was asked once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_is_not_lost_when_the_instance_dies_after_the_ca_accepted() {
    let (app, dying, survivor) = dying_and_survivor().await;
    let token = app.token().await;
    let body = sign_body(RSA_CITIZEN, &digest_of("approved after a crash"));
    // The instance dies right when it would record the CA's answer.
    dying.arm(Some("swap_transaction"), 1, StoreFault::Freeze);
    assert!(
        post_or_silence(&app, &token, "crash-after-accept", &body)
            .await
            .is_none()
    );
    assert!(dying.is_frozen());
    // The CA holds the request, under the reference the gateway chose and recorded first.
    let held = app.ca.transactions();
    assert_eq!(held.len(), 1);
    let id = held[0].transaction_id.clone();
    app.ca.approve(&id).unwrap();
    // The survivor adopts the transaction once the dead instance's lease runs out, finds
    // the approval at the CA and returns the verified signature.
    let done = survivor.wait_until_final(&token, &id).await;
    assert_eq!(done["status"], "signed", "{done}");
    assert!(done["documents"][0]["signature"].is_string());
    // The portal's retry, on the survivor, gets that transaction.
    let again = survivor
        .post_signature(&token, "crash-after-accept", &body)
        .await;
    assert_eq!(again.status(), 202);
    assert_eq!(
        again.json::<Value>().await.unwrap()["transaction_id"],
        id.as_str()
    );
    assert_eq!(app.ca.transactions().len(), 1, "the CA was asked once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_dying_at_any_store_call_of_a_signing_loses_nothing() {
    // Each case kills the instance at the k-th store call after the request starts: before
    // and after the creation, after the CA's answer, in each step of following it. The
    // first calls admit the request (the client's rate, its pending and the citizen's slots).
    let cases = (1..=12).map(|call| async move {
        let (app, dying, survivor) = dying_and_survivor().await;
        let token = app.token().await;
        let key = format!("dies-at-call-{call}");
        let body = sign_body(RSA_CITIZEN, &digest_of(&key));
        dying.arm(None, call, StoreFault::Freeze);
        let id = match post_or_silence(&app, &token, &key, &body).await {
            Some(created) => created["transaction_id"].as_str().unwrap().to_owned(),
            // No answer: the portal retries on another instance, with the same key.
            None => {
                let retried = survivor.post_signature(&token, &key, &body).await;
                assert_eq!(retried.status(), 202, "call {call}");
                retried.json::<Value>().await.unwrap()["transaction_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        wait_until_at_ca(&app, &id).await;
        app.ca.approve(&id).unwrap();
        let done = survivor.wait_until_final(&token, &id).await;
        assert_eq!(done["status"], "signed", "dying at call {call}: {done}");
        assert_eq!(
            app.ca.transactions().len(),
            1,
            "call {call}: one CA request"
        );
        dying.is_frozen()
    });
    let frozen = futures_join_all(cases).await;
    assert!(
        frozen.iter().filter(|frozen| **frozen).count() >= 6,
        "most cases must really kill the instance mid-way: {frozen:?}"
    );
}

/// Runs the futures concurrently and collects their outputs in order.
async fn futures_join_all<F: Future<Output = T> + Send + 'static, T: Send + 'static>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<T> {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_a_ca_names_itself_fails_as_lost_soon_when_its_instance_dies() {
    // MISA names its requests itself: once the instance that sent one dies before
    // recording the CA's answer, nothing can find the request. The transaction must end
    // `failed` with `submission_lost` soon after the lease runs out, not stay pending until
    // it expires.
    let (_simulators, mut settings) = sandbox_for_tests().await;
    settings.transactions.follow_lease_ms = 2000;
    settings.transactions.sweep_interval_ms = 100;
    for provider in &mut settings.providers {
        provider.timeouts.request_ms = 1000;
    }
    let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let dying = FaultyStore::new(shared.clone());
    let app = Gateway::start_on(settings.clone(), dying.clone());
    let survivor = Gateway::start_on(settings, shared);
    let http = reqwest::Client::new();
    let token = sandbox_token(&http, &survivor.api).await;
    let token = token.as_str();
    let mut body = sign_body("001099000001", &digest_of("misa"));
    body["provider"] = "misa".into();
    let post = |api: String| {
        let (http, body) = (http.clone(), body.clone());
        async move {
            http.post(format!("{api}/v1/signatures"))
                .bearer_auth(token)
                .header("Idempotency-Key", "misa-crash")
                .json(&body)
                .send()
                .await
        }
    };
    dying.arm(Some("swap_transaction"), 1, StoreFault::Freeze);
    let started = Instant::now();
    assert!(
        tokio::time::timeout(DEAD_INSTANCE_WAIT, post(app.api.clone()))
            .await
            .is_err(),
        "the dying instance never answers"
    );
    let retried: Value = post(survivor.api.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = retried["transaction_id"].as_str().unwrap();
    let done = wait_until_final(&http, &survivor.api, token, id).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["code"], "submission_lost", "{done}");
    assert_eq!(done["error"]["retryable"], true);
    let expires_at = OffsetDateTime::parse(
        done["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(OffsetDateTime::now_utc() < expires_at - time::Duration::seconds(60));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_never_reached_a_ca_the_gateway_names_fails_as_lost_before_expiry() {
    // A dead instance recorded its intent to call VNPT (which takes the gateway's name for a
    // request) and died before the request left: the CA never heard of it.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let config = TestConfig {
        confirmation_timeout_secs: 12,
        ..TestConfig::default()
    };
    let _survivor = spawn_app_on(config, store.clone()).await;
    let now = OffsetDateTime::now_utc();
    let mut never_sent = overdue("never-sent");
    never_sent.created_at = now;
    never_sent.updated_at = now;
    never_sent.expires_at = now + time::Duration::seconds(12);
    never_sent.submission = Submission::Intended {
        caller_reference: Some(never_sent.id.clone()),
    };
    let record = IdempotencyRecord {
        fingerprint: "f".into(),
        transaction_id: never_sent.id.clone(),
    };
    let ttls = CreateTtls {
        record: Duration::from_secs(600),
        idempotency: Duration::from_secs(600),
        lease: Duration::from_millis(1),
    };
    store
        .create_transaction("never-sent", &record, &never_sent, "dead-instance", ttls)
        .await
        .unwrap();
    // The survivor adopts it, asks the CA under that name, and after a grace period (a
    // quarter of the confirmation window) fails it as lost, well before it would expire.
    let deadline = Instant::now() + Duration::from_secs(10);
    let finished = loop {
        let stored = store.transaction(&never_sent.id).await.unwrap().unwrap();
        if stored.status.is_final() {
            break stored;
        }
        assert!(Instant::now() < deadline, "still pending: {stored:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(finished.status, TransactionStatus::Failed);
    let error = finished.error.unwrap();
    assert_eq!(
        error.code,
        kyso_gateway::domain::error::ErrorCode::SubmissionLost
    );
    assert!(OffsetDateTime::now_utc() < never_sent.expires_at - time::Duration::seconds(3));
}

/// A pending transaction already past its expiry, in the shard of `key`.
fn overdue(key: &str) -> Transaction {
    let now = OffsetDateTime::now_utc();
    Transaction {
        id: new_transaction_id(shard_of_key(key)),
        client_id: "portal".into(),
        provider: "vnpt".into(),
        user_id: RSA_CITIZEN.into(),
        status: TransactionStatus::Pending,
        hash_algorithm: kyso_adapter_core::HashAlgorithm::Sha256,
        description: String::new(),
        created_at: now - time::Duration::minutes(5),
        updated_at: now - time::Duration::minutes(5),
        expires_at: now - time::Duration::seconds(1),
        certificate: SignerCertificate {
            certificate_id: "01".into(),
            certificate_der: vec![1],
            chain_der: Vec::new(),
        },
        documents: Vec::new(),
        submission: Submission::Accepted {
            ca_reference: "gone".into(),
        },
        error: None,
        awaiting_revocation: None,
        version: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_orphans_of_a_dead_instance_are_all_adopted() {
    const ORPHANS: usize = 10_000;
    let redis = RedisServer::start();
    let prefix = format!("kyso-test-{}", uuid::Uuid::new_v4().simple());
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::standalone(&redis.url(), &prefix, Duration::from_secs(5), None).unwrap(),
    );
    // A dead instance's transactions: pending, leased to it, lease run out.
    let ttls = CreateTtls {
        record: Duration::from_secs(600),
        idempotency: Duration::from_secs(600),
        lease: Duration::from_millis(1),
    };
    let ids: Vec<String> = futures_join_all((0..ORPHANS / 500).map(|batch| {
        let store = store.clone();
        async move {
            let mut ids = Vec::new();
            for n in 0..500 {
                let key = format!("orphan-{batch}-{n}");
                let transaction = overdue(&key);
                let record = IdempotencyRecord {
                    fingerprint: "f".into(),
                    transaction_id: transaction.id.clone(),
                };
                store
                    .create_transaction(&key, &record, &transaction, "dead-instance", ttls)
                    .await
                    .unwrap();
                ids.push(transaction.id);
            }
            ids
        }
    }))
    .await
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(ids.len(), ORPHANS);

    let started = Instant::now();
    let _survivor = kyso_tests::spawn_app_on(TestConfig::default(), store.clone()).await;
    let deadline = started + Duration::from_secs(90);
    let mut remaining = ids;
    while !remaining.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} of {ORPHANS} orphans still pending",
            remaining.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut still = Vec::new();
        for id in remaining {
            let stored = store.transaction(&id).await.unwrap().unwrap();
            if stored.status != TransactionStatus::Expired {
                still.push(id);
            }
        }
        remaining = still;
    }
    // A finished transaction leaves the pending index once its outcome is in the audit
    // trail, just after its status changed.
    loop {
        let mut left = 0;
        for shard in 0..store.shards() {
            left += store.orphaned_transactions(shard, 10).await.unwrap().len();
        }
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} left in the pending index"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Shown with --nocapture: the figure in the issue note.
    eprintln!(
        "{ORPHANS} orphans adopted and finished in {:?}",
        started.elapsed()
    );
}
