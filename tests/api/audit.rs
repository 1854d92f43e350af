//! The audit trail end to end: a portal's whole flow leaves the expected records in order,
//! in a trail that verifies against the head the admin listener gives (with
//! `kyso-gateway audit verify` itself), and breaks when tampered with; citizens are
//! pseudonymised when configured; nothing is carried out, and no CA is asked, when the trail
//! cannot record it; and an outcome whose record was not written is recorded later.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kyso_gateway::audit::verifier::{self, Expectations};
use kyso_gateway::audit::{Auditor, Entry, Event};
use kyso_gateway::config::{AuditSettings, AuditSink};
use kyso_gateway::metrics::Metrics;
use kyso_gateway::store::memory::MemoryStore;
use kyso_gateway::store::{OnceKey, Store};
use kyso_tests::faulty_store::{FaultyStore, StoreFault};
use kyso_tests::{
    RSA_CITIZEN, TestApp, TestConfig, assert_error, digest_of, sign_body, spawn_app_on,
    spawn_app_with,
};
use serde_json::Value;

use crate::verifications::{check_of, report};

/// The `kyso-gateway` command line, under the tests' name for it.
const PROGRAM: &str = env!("CARGO_BIN_EXE_kyso-test-gateway");

/// A file for a sink, unique to the test.
fn sink_path() -> PathBuf {
    std::env::temp_dir().join(format!("kyso-audit-{}.jsonl", uuid::Uuid::new_v4()))
}

fn with_sink(path: &Path) -> TestConfig {
    TestConfig {
        audit: AuditSettings {
            sink: AuditSink::File(path.to_owned()),
            ..AuditSettings::default()
        },
        ..TestConfig::default()
    }
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Waits until the sink holds a record of `event` about `transaction_id`.
async fn wait_for_record(path: &Path, event: &str, transaction_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(record) = records(path).into_iter().find(|record| {
            record["event"] == event && record["subject"]["transaction_id"] == transaction_id
        }) {
            return record;
        }
        assert!(
            Instant::now() < deadline,
            "no {event} record for {transaction_id}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn audit_head(app: &TestApp) -> Value {
    let response = app
        .http
        .get(format!("{}/audit/head", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// `kyso-gateway audit verify FILE ARGS...`: whether it passed, and what it said.
fn verify_with_cli(file: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(PROGRAM)
        .args(["audit", "verify"])
        .arg(file)
        .args(args)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portals_flow_leaves_the_expected_trail_which_verifies_against_its_head() {
    let path = sink_path();
    let app = spawn_app_with(with_sink(&path)).await;
    let token = app.token().await;
    let found = app
        .get(
            &format!("/v1/certificates?user_id={RSA_CITIZEN}&provider=vnpt"),
            &token,
        )
        .await;
    assert_eq!(found.status(), 200);
    let response = app
        .post_signature(
            &token,
            "audited",
            &sign_body(RSA_CITIZEN, &digest_of("audited")),
        )
        .await;
    assert_eq!(response.status(), 202);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let signed_id = response.json::<Value>().await.unwrap()["transaction_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ca.approve(&signed_id).unwrap();
    let signed = app.wait_until_final(&token, &signed_id).await;
    assert_eq!(signed["status"], "signed");
    // The outcome is recorded by whoever stored it, just after storing it.
    wait_for_record(&path, "signing.outcome", &signed_id).await;
    let cancelled_id = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("cancel me")))
        .await;
    assert_eq!(app.cancel(&token, &cancelled_id).await.status(), 200);
    let verification = report(&app, &token, &check_of(&signed)).await;
    assert_eq!(verification["indication"], "total_passed");

    let trail = records(&path);
    let events: Vec<&str> = trail
        .iter()
        .map(|record| record["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "config.loaded",
            "token.issued",
            "certificates.searched",
            "signing.accepted",
            "signing.outcome",
            "signing.accepted",
            "cancellation",
            "verification",
        ]
    );
    let outcomes: Vec<&str> = trail
        .iter()
        .map(|record| record["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "loaded",
            "issued",
            "found",
            "accepted",
            "signed",
            "accepted",
            "cancelled",
            "total_passed"
        ]
    );
    let seqs: Vec<u64> = trail
        .iter()
        .map(|record| record["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    // Who, what, and which request.
    let accepted = &trail[3];
    assert_eq!(accepted["actor"], "sandbox-portal");
    assert_eq!(accepted["subject"]["transaction_id"], signed_id.as_str());
    assert_eq!(accepted["subject"]["provider"], "vnpt");
    assert_eq!(accepted["subject"]["citizen"], RSA_CITIZEN);
    assert_eq!(accepted["request_id"], request_id.as_str());
    assert_eq!(
        trail[4]["details"]["indication"],
        serde_json::json!(["total_passed"])
    );
    assert_eq!(trail[6]["subject"]["transaction_id"], cancelled_id.as_str());
    assert!(trail[0]["details"]["settings_sha256"].is_string());
    // No token, signature or secret: digests only.
    let text = std::fs::read_to_string(&path).unwrap();
    let signature = signed["documents"][0]["signature"].as_str().unwrap();
    assert!(!text.contains(signature), "a signature in the trail");
    assert!(!text.contains(&token), "a token in the trail");
    assert!(!text.contains(kyso_gateway::sandbox::CLIENT_SECRET));

    // The head on the admin listener anchors the trail; the trail verifies against it.
    let head = audit_head(&app).await;
    assert_eq!(head["seq"], 8);
    assert_eq!(head["hash"], trail[7]["hash"]);
    assert_eq!(head["chain"], trail[0]["chain"]);
    let seq = head["seq"].to_string();
    let hash = head["hash"].as_str().unwrap();
    let lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line));
    let anchor = Expectations {
        head_seq: head["seq"].as_u64(),
        head_hash: Some(hash.to_owned()),
        ..Expectations::default()
    };
    assert!(verifier::verify(lines, &anchor).is_ok());
    let (passed, said) = verify_with_cli(&path, &["--seq", &seq, "--head", hash]);
    assert!(passed, "{said}");
    assert!(said.contains("records 1 to 8 verified"), "{said}");

    // Tampered with: a record deleted, or the last one cut off, is named.
    let without_the_outcome: String = text
        .lines()
        .filter(|line| !line.contains("\"signing.outcome\""))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&path, without_the_outcome).unwrap();
    let (passed, said) = verify_with_cli(&path, &["--seq", &seq, "--head", hash]);
    assert!(!passed);
    assert!(
        said.contains("broken at seq 6") && said.contains("gap"),
        "{said}"
    );
    let truncated: String = text
        .lines()
        .take(7)
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&path, truncated).unwrap();
    assert!(verify_with_cli(&path, &[]).0, "intact as far as it goes");
    let (passed, said) = verify_with_cli(&path, &["--count", &seq, "--head", hash]);
    assert!(!passed);
    assert!(said.contains("truncated"), "{said}");
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pseudonymised_citizens_never_appear_in_clear() {
    let path = sink_path();
    let mut config = with_sink(&path);
    config.audit.pseudonymise_citizens = true;
    config.audit.pseudonym_key = Some("a key of thirty-two bytes or more!".into());
    let app = spawn_app_with(config).await;
    let token = app.token().await;
    app.get(&format!("/v1/certificates?user_id={RSA_CITIZEN}"), &token)
        .await;
    let id = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("pseudonym")))
        .await;
    app.ca.approve(&id).unwrap();
    app.wait_until_final(&token, &id).await;
    let outcome = wait_for_record(&path, "signing.outcome", &id).await;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(RSA_CITIZEN), "{text}");
    // The same citizen has the same pseudonym everywhere, as the command line computes it.
    let output = Command::new(PROGRAM)
        .args([
            "audit",
            "pseudonym",
            RSA_CITIZEN,
            "--key-env",
            "KYSO_TEST_PSEUDONYM_KEY",
        ])
        .env(
            "KYSO_TEST_PSEUDONYM_KEY",
            "a key of thirty-two bytes or more!",
        )
        .output()
        .unwrap();
    assert!(output.status.success());
    let pseudonym = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(pseudonym.starts_with("hmac-sha256:"), "{pseudonym}");
    assert_eq!(outcome["subject"]["citizen"], pseudonym.as_str());
    let naming_the_citizen = records(&path)
        .iter()
        .filter(|record| record["subject"]["citizen"] == pseudonym.as_str())
        .count();
    assert_eq!(naming_the_citizen, 3, "search, acceptance, outcome");
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_carried_out_while_the_trail_cannot_record_it() {
    let store = FaultyStore::new(Arc::new(MemoryStore::new()));
    let inner: Arc<dyn Store> = store.clone();
    let app = spawn_app_on(TestConfig::default(), inner).await;
    let token = app.token().await;
    let body = sign_body(RSA_CITIZEN, &digest_of("not without a trail"));
    store.fail_every("append_audit");

    // No token, and no signing request sent to the CA.
    let refused = app
        .http
        .post(format!("{}/v1/oauth/token", app.api))
        .basic_auth(
            kyso_gateway::sandbox::CLIENT_ID,
            Some(kyso_gateway::sandbox::CLIENT_SECRET),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_error(refused, 503, "audit_unavailable").await;
    let response = app.post_signature(&token, "trail-down", &body).await;
    let error = assert_error(response, 503, "audit_unavailable").await;
    let abandoned = error["error"]["transaction_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(app.ca.transactions().is_empty(), "the CA was never asked");
    let failed = app.wait_until_final(&token, &abandoned).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "audit_unavailable");
    let metrics = app.metrics().await;
    assert!(
        !metrics.contains("kyso_audit_write_failures_total{target=\"store\"} 0"),
        "failures are counted: {metrics}"
    );

    // The trail is back: the same request with the same key goes through, once.
    store.stop_failing("append_audit");
    let response = app.post_signature(&token, "trail-down", &body).await;
    assert_eq!(response.status(), 202);
    assert_eq!(app.ca.transactions().len(), 1);
    // The abandoned transaction's outcome, which could not be recorded then, is recorded by
    // its follower before it leaves the pending index.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let lines = store.audit_records(1, 1000).await.unwrap();
        let recorded = lines.iter().any(|line| {
            line.contains(&abandoned)
                && line.contains("\"signing.outcome\"")
                && line.contains("\"audit_unavailable\"")
        });
        if recorded {
            let lines = lines
                .iter()
                .enumerate()
                .map(|(index, line)| (index + 1, line.as_str()));
            assert!(verifier::verify(lines, &Expectations::default()).is_ok());
            break;
        }
        assert!(Instant::now() < deadline, "the outcome was never recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_dying_at_the_acceptance_record_never_asks_the_ca() {
    let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let dying = FaultyStore::new(shared.clone());
    let config = TestConfig {
        // A short confirmation window: a request that never reached the CA is declared lost
        // after a quarter of it.
        confirmation_timeout_secs: 20,
        ..TestConfig::default()
    };
    let app = spawn_app_on(config, dying.clone()).await;
    let survivor = app.via(&app.start_peer_on(shared.clone()));
    // Each instance's start record is written with its first record.
    let token = app.token().await;
    survivor.token().await;
    let body = sign_body(RSA_CITIZEN, &digest_of("dies before the CA is asked"));
    dying.arm(Some("append_audit"), 1, StoreFault::Freeze);
    let silent = tokio::time::timeout(
        Duration::from_millis(1500),
        app.post_signature(&token, "dies-at-record", &body),
    )
    .await;
    assert!(silent.is_err(), "the instance died mid-request");
    assert!(dying.is_frozen());
    // The portal retries on the survivor: the transaction the dead instance created.
    let retried = survivor
        .post_signature(&token, "dies-at-record", &body)
        .await;
    assert_eq!(retried.status(), 202);
    let id = retried.json::<Value>().await.unwrap()["transaction_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = survivor.wait_until_final(&token, &id).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["code"], "submission_lost");
    assert!(app.ca.transactions().is_empty(), "never sent to the CA");
    let lines = shared.audit_records(1, 1000).await.unwrap();
    assert!(
        !lines
            .iter()
            .any(|line| line.contains(&id) && line.contains("\"signing.accepted\"")),
        "no acceptance was recorded, and none was acted on"
    );
}

/// An auditor of its own on `store`, as an instance starts one.
fn auditor_on(store: Arc<dyn Store>) -> Auditor {
    Auditor::new(
        store,
        &AuditSettings::default(),
        Metrics::new().unwrap(),
        "instance-a".into(),
        Entry::new(Event::ConfigLoaded, "loaded").detail("settings_sha256", "00"),
    )
    .unwrap()
}

/// The kept trail, checked: its records in order, one unbroken chain.
async fn verified_trail(store: &dyn Store) -> Vec<String> {
    let lines = store.audit_records(1, 10_000).await.unwrap();
    let numbered = lines
        .iter()
        .enumerate()
        .map(|(index, line)| (index + 1, line.as_str()));
    let chains = verifier::verify(numbered, &Expectations::default()).unwrap();
    assert_eq!(chains.len(), 1);
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arriving_together_are_appended_in_groups_of_one_round_trip() {
    let store = FaultyStore::new(Arc::new(MemoryStore::new()));
    // A store 20 ms away: what arrives while an append is on its way waits for the next.
    store.slow_every("append_audit", Duration::from_millis(20));
    let auditor = auditor_on(store.clone());
    let mut callers = tokio::task::JoinSet::new();
    for index in 0..200 {
        let auditor = auditor.clone();
        callers.spawn(async move {
            let entry = Entry::new(Event::TokenIssued, "issued").actor(format!("portal-{index}"));
            auditor.record(entry).await
        });
    }
    while let Some(answered) = callers.join_next().await {
        answered.unwrap().unwrap();
    }
    let lines = verified_trail(store.as_ref()).await;
    assert_eq!(
        lines.len(),
        201,
        "the start record and every grant, once each"
    );
    let appends = store
        .calls()
        .iter()
        .filter(|call| **call == "append_audit")
        .count();
    // 201 records one round trip each would take 4 s; in groups of at most 64 they take a
    // handful (the first group is whatever queued first).
    assert!(
        (4..=10).contains(&appends),
        "{appends} appends for 201 records"
    );
}

#[tokio::test]
async fn a_group_whose_reply_was_lost_is_recognised_not_appended_twice() {
    let store = FaultyStore::new(Arc::new(MemoryStore::new()));
    let auditor = auditor_on(store.clone());
    store.arm(Some("append_audit"), 1, StoreFault::LoseReply);
    let mut outcome = Entry::new(Event::SigningOutcome, "signed").transaction("t1");
    outcome.once = Some(OnceKey {
        key: "final:t1".into(),
        keep: Duration::from_secs(60),
    });
    auditor.record(outcome.clone()).await.unwrap();
    // Applied, its reply lost, tried again: the head is the group's own last record.
    let appends = |store: &FaultyStore| {
        store
            .calls()
            .iter()
            .filter(|call| **call == "append_audit")
            .count()
    };
    assert_eq!(appends(&store), 2);
    let lines = verified_trail(store.as_ref()).await;
    assert_eq!(
        lines.len(),
        2,
        "the start record and the outcome, once each"
    );
    // Recording the outcome again, from this instance or another, changes nothing.
    auditor.record(outcome.clone()).await.unwrap();
    auditor_on(store.clone()).record(outcome).await.unwrap();
    let lines = verified_trail(store.as_ref()).await;
    assert_eq!(
        lines
            .iter()
            .filter(|line| line.contains("signing.outcome"))
            .count(),
        1
    );
}
