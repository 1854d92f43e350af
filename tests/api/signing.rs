//! Signing transactions end to end: every outcome, idempotency, cancellation, CA failures,
//! and the invariant that only verified signatures reach a portal.

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kyso_sim_vnpt::Fault;
use kyso_tests::{
    ECDSA_DER_CITIZEN, ECDSA_RAW_CITIZEN, PSS_CITIZEN, RSA_CITIZEN, TestConfig, UNKNOWN_CITIZEN,
    assert_error, digest_of, foreign_root_pem, sign_body, spawn_app, spawn_app_with,
};
use serde_json::{Value, json};

/// Verifies with the openssl command line, as the README tells a newcomer to.
fn openssl_verifies(certificate_pem: &str, digest: &[u8], signature: &[u8]) -> bool {
    let dir = std::env::temp_dir().join(format!("kyso-openssl-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), certificate_pem).unwrap();
    std::fs::write(dir.join("digest.bin"), digest).unwrap();
    std::fs::write(dir.join("sig.bin"), signature).unwrap();
    let status = Command::new("openssl")
        .current_dir(&dir)
        .args([
            "pkeyutl",
            "-verify",
            "-certin",
            "-inkey",
            "cert.pem",
            "-in",
            "digest.bin",
            "-sigfile",
            "sig.bin",
            "-pkeyopt",
            "digest:sha256",
        ])
        .output()
        .expect("openssl is installed by scripts/test");
    std::fs::remove_dir_all(&dir).ok();
    status.status.success()
}

#[tokio::test]
async fn signing_returns_verified_signatures_for_every_scheme() {
    let app = spawn_app().await;
    let token = app.token().await;
    for (citizen, algorithm) in [
        (RSA_CITIZEN, "rsa_pkcs1v15_sha256"),
        (PSS_CITIZEN, "rsa_pss_sha256"),
        (ECDSA_DER_CITIZEN, "ecdsa_p256_sha256"),
        (ECDSA_RAW_CITIZEN, "ecdsa_p256_sha256"),
    ] {
        let digest = digest_of(&format!("hồ sơ của {citizen}"));
        let id = app
            .create_transaction(&token, &sign_body(citizen, &digest))
            .await;
        app.ca.approve(&id).unwrap();
        let done = app.wait_until_final(&token, &id).await;
        assert_eq!(done["status"], "signed", "{citizen}: {done}");
        let document = &done["documents"][0];
        assert_eq!(document["signature_algorithm"], algorithm, "{citizen}");
        assert_eq!(document["digest"], digest);
        let report = &document["verification"];
        assert_eq!(report["indication"], "total_passed", "{citizen}: {report}");
        assert_eq!(report["signature_algorithm"], algorithm, "{citizen}");
        assert_eq!(
            report["path"].as_array().unwrap().len(),
            3,
            "citizen, issuing CA, root"
        );
        let chain = done["certificate"]["chain_pem"].as_array().unwrap();
        assert_eq!(chain.len(), 3, "citizen, issuing CA, root");
        assert!(
            done["certificate"]["subject"]
                .as_str()
                .unwrap()
                .contains(citizen)
        );
        let signature = STANDARD
            .decode(document["signature"].as_str().unwrap())
            .unwrap();
        let digest = STANDARD.decode(&digest).unwrap();
        if citizen != PSS_CITIZEN {
            // An independent verifier accepts what the gateway returns (ECDSA as DER even
            // when the CA sent r||s).
            assert!(
                openssl_verifies(chain[0].as_str().unwrap(), &digest, &signature),
                "{citizen}"
            );
        }
    }
}

#[tokio::test]
async fn batch_of_sha384_digests_is_signed_as_one_transaction() {
    let app = spawn_app().await;
    let token = app.token().await;
    let documents: Vec<Value> = (1..=3)
        .map(|n| {
            json!({"id": format!("doc-{n}"), "name": format!("tep-{n}.pdf"),
                   "digest": STANDARD.encode([n as u8; 48])})
        })
        .collect();
    let body = json!({"provider": "vnpt", "user_id": RSA_CITIZEN, "hash_algorithm": "sha384",
                      "documents": documents});
    let id = app.create_transaction(&token, &body).await;
    let at_ca = app.ca.transactions();
    assert_eq!(at_ca.len(), 1, "one CA transaction for the whole batch");
    app.ca.approve(&id).unwrap();
    let done = app.wait_until_final(&token, &id).await;
    assert_eq!(done["status"], "signed");
    let documents = done["documents"].as_array().unwrap();
    assert_eq!(documents.len(), 3);
    for document in documents {
        assert_eq!(document["signature_algorithm"], "rsa_pkcs1v15_sha384");
    }
}

#[tokio::test]
async fn citizen_rejection_and_ca_expiry_are_reported() {
    let app = spawn_app().await;
    let token = app.token().await;
    let rejected = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("a")))
        .await;
    let expired = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("b")))
        .await;
    app.ca.reject(&rejected).unwrap();
    app.ca.expire(&expired).unwrap();
    let rejected = app.wait_until_final(&token, &rejected).await;
    assert_eq!(rejected["status"], "rejected");
    assert!(rejected["documents"][0].get("signature").is_none());
    assert_eq!(
        app.wait_until_final(&token, &expired).await["status"],
        "expired"
    );
}

#[tokio::test]
async fn transaction_expires_at_the_gateway_when_nobody_answers() {
    let app = spawn_app_with(TestConfig {
        confirmation_timeout_secs: 1,
        ..TestConfig::default()
    })
    .await;
    let token = app.token().await;
    let id = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("silence")))
        .await;
    let done = app.wait_until_final(&token, &id).await;
    assert_eq!(done["status"], "expired");
    // A final status never changes: a late approval at the CA is ignored.
    app.ca.approve(&id).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.wait_until_final(&token, &id).await["status"], "expired");
}

#[tokio::test]
async fn corrupted_or_foreign_signature_fails_the_transaction() {
    let app = spawn_app().await;
    let token = app.token().await;
    for sabotage in ["corrupt", "foreign"] {
        match sabotage {
            "corrupt" => app.ca.corrupt_next_signature(),
            _ => app.ca.sign_next_with_foreign_key(),
        }
        let id = app
            .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of(sabotage)))
            .await;
        app.ca.approve(&id).unwrap();
        let done = app.wait_until_final(&token, &id).await;
        assert_eq!(done["status"], "failed", "{sabotage}: {done}");
        assert_eq!(done["error"]["code"], "signature_invalid", "{sabotage}");
        assert!(
            done["documents"][0].get("signature").is_none(),
            "{sabotage}"
        );
    }
    let metrics = app.metrics().await;
    assert!(
        metrics
            .contains("kyso_signature_verifications_total{provider=\"vnpt\",result=\"invalid\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn same_idempotency_key_and_body_returns_the_same_transaction() {
    let app = spawn_app().await;
    let token = app.token().await;
    let body = sign_body(RSA_CITIZEN, &digest_of("once"));
    let first = app.post_signature(&token, "key-1", &body).await;
    assert_eq!(first.status(), 202);
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let first: Value = first.json().await.unwrap();
    let again = app.post_signature(&token, "key-1", &body).await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["transaction_id"], first["transaction_id"]);
    assert_eq!(
        location,
        format!(
            "/v1/signatures/{}",
            first["transaction_id"].as_str().unwrap()
        )
    );
    assert_eq!(app.ca.transactions().len(), 1, "the CA was asked once");
    let other_body = sign_body(RSA_CITIZEN, &digest_of("twice"));
    let reused = app.post_signature(&token, "key-1", &other_body).await;
    assert_error(reused, 422, "idempotency_key_reused").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_key_create_one_transaction() {
    let app = spawn_app().await;
    let token = app.token().await;
    let body = sign_body(RSA_CITIZEN, &digest_of("race"));
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (http, url, token, body) = (
            app.http.clone(),
            format!("{}/v1/signatures", app.api),
            token.clone(),
            body.clone(),
        );
        attempts.spawn(async move {
            let response = http
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "race-key")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        });
    }
    let mut ids = std::collections::HashSet::new();
    for (status, json) in attempts.join_all().await {
        match status {
            202 => {
                ids.insert(json["transaction_id"].as_str().unwrap().to_owned());
            }
            other => panic!("unexpected {other}: {json}"),
        }
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(app.ca.transactions().len(), 1);
}

#[tokio::test]
async fn cancel_ends_a_pending_transaction_once() {
    let app = spawn_app().await;
    let token = app.token().await;
    let id = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("cancel me")))
        .await;
    let response = app.cancel(&token, &id).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "cancelled");
    let again = assert_error(
        app.cancel(&token, &id).await,
        409,
        "transaction_not_pending",
    )
    .await;
    assert_eq!(again["error"]["transaction_id"], id.as_str());
    // The citizen approving afterwards changes nothing.
    app.ca.approve(&id).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.wait_until_final(&token, &id).await["status"],
        "cancelled"
    );
}

#[tokio::test]
async fn ca_failure_on_submission_is_reported_and_the_key_can_be_retried() {
    // Without retries, the one fault reaches the portal (isolation.rs shows a retry hiding it).
    let app = spawn_app_with(TestConfig::default().no_retries()).await;
    let token = app.token().await;
    let body = sign_body(RSA_CITIZEN, &digest_of("retry"));
    // The fault meets the certificate look-up, the first CA call of a submission.
    app.ca.fail_next(Fault::Status(503));
    let first = app.post_signature(&token, "retry-key", &body).await;
    let first = assert_error(first, 503, "ca_unavailable").await;
    assert_eq!(first["error"]["retryable"], true);
    let retried = app.post_signature(&token, "retry-key", &body).await;
    assert_eq!(retried.status(), 202, "the same key works after a failure");
}

#[tokio::test]
async fn ca_answers_are_mapped_to_documented_errors() {
    // Without retries, each one-shot fault reaches the portal.
    let app = spawn_app_with(
        TestConfig {
            request_timeout_ms: 300,
            ..TestConfig::default()
        }
        .no_retries(),
    )
    .await;
    let token = app.token().await;
    let body = sign_body(RSA_CITIZEN, &digest_of("faults"));
    let cases = [
        (Fault::Garbage, 502, "ca_error"),
        (Fault::Status(500), 503, "ca_unavailable"),
        (Fault::Hang(Duration::from_secs(2)), 504, "ca_timeout"),
    ];
    for (fault, status, code) in cases {
        app.ca.fail_next(fault);
        let key = uuid::Uuid::new_v4().to_string();
        assert_error(app.post_signature(&token, &key, &body).await, status, code).await;
    }
    // The same faults on the certificates route.
    app.ca.fail_next(Fault::Garbage);
    let path = format!("/v1/certificates?user_id={RSA_CITIZEN}&provider=vnpt");
    assert_error(app.get(&path, &token).await, 502, "ca_error").await;
}

#[tokio::test]
async fn failed_submission_is_recorded_with_its_transaction_id() {
    let app = spawn_app().await;
    let token = app.token().await;
    // Let the certificate look-up through, then fail the signing call itself.
    let body = sign_body(RSA_CITIZEN, &digest_of("second call fails"));
    app.ca.set_delay(Duration::from_millis(100));
    let watcher = fault_after_certificate_lookup(&app, Fault::Status(503));
    let response = app.post_signature(&token, "k", &body).await;
    watcher.await.unwrap();
    let error = assert_error(response, 503, "ca_unavailable").await;
    let id = error["error"]["transaction_id"]
        .as_str()
        .expect("transaction recorded");
    let recorded = app.wait_until_final(&token, id).await;
    assert_eq!(recorded["status"], "failed");
    assert_eq!(recorded["error"]["code"], "ca_unavailable");
}

#[tokio::test]
async fn transient_poll_errors_do_not_lose_the_outcome() {
    let app = spawn_app().await;
    let token = app.token().await;
    let id = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("flaky")))
        .await;
    app.ca.fail_next(Fault::Status(503));
    app.ca.approve(&id).unwrap();
    assert_eq!(app.wait_until_final(&token, &id).await["status"], "signed");
}

#[tokio::test]
async fn certificates_are_listed_and_unknown_citizens_hold_none() {
    let app = spawn_app().await;
    let token = app.token().await;
    let response = app
        .get(
            &format!("/v1/certificates?user_id={ECDSA_DER_CITIZEN}&provider=vnpt"),
            &token,
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let certificate = &body["certificates"][0];
    assert_eq!(certificate["key_algorithm"], "ecdsa_p256");
    assert_eq!(certificate["status"], "valid");
    assert_eq!(certificate["chain_pem"].as_array().unwrap().len(), 3);
    let response = app
        .get(
            &format!("/v1/certificates?user_id={UNKNOWN_CITIZEN}&provider=vnpt"),
            &token,
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["certificates"], json!([]));
    let create = app
        .post_signature(&token, "k", &sign_body(UNKNOWN_CITIZEN, &digest_of("x")))
        .await;
    assert_error(create, 404, "certificate_not_found").await;
}

#[tokio::test]
async fn other_portals_cannot_see_or_cancel_a_transaction() {
    let app = spawn_app().await;
    let token = app.token().await;
    let id = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("mine")))
        .await;
    let other = app.other_token().await;
    assert_error(
        app.get(&format!("/v1/signatures/{id}"), &other).await,
        404,
        "transaction_not_found",
    )
    .await;
    assert_error(app.cancel(&other, &id).await, 404, "transaction_not_found").await;
    assert_eq!(
        app.get(&format!("/v1/signatures/{id}"), &token)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn certificate_from_an_untrusted_ca_is_refused_before_the_citizen_is_asked() {
    let app = spawn_app_with(TestConfig {
        trust_anchors_pem: Some(foreign_root_pem().await),
        ..TestConfig::default()
    })
    .await;
    let token = app.token().await;
    let response = app
        .post_signature(
            &token,
            "k",
            &sign_body(RSA_CITIZEN, &digest_of("untrusted")),
        )
        .await;
    assert_error(response, 422, "certificate_unusable").await;
    assert!(
        app.ca.transactions().is_empty(),
        "the CA was never asked to sign"
    );
}

#[tokio::test]
async fn a_ca_chaining_to_the_configured_national_root_is_trusted() {
    // The provider's own anchors are another PKI's; the CA's root is configured as the
    // national root every licensed CA chains to.
    let app = spawn_app_with(TestConfig {
        trust_anchors_pem: Some(foreign_root_pem().await),
        ca_root_as_national_root: true,
        ..TestConfig::default()
    })
    .await;
    let token = app.token().await;
    let id = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("national root")))
        .await;
    app.ca.approve(&id).unwrap();
    let done = app.wait_until_final(&token, &id).await;
    assert_eq!(done["status"], "signed", "{done}");
    let path = done["documents"][0]["verification"]["path"]
        .as_array()
        .unwrap();
    assert_eq!(
        path.last().unwrap()["subject"],
        path.last().unwrap()["issuer"]
    );
}

/// Arms `fault` for the CA call that follows the certificate look-up of the next submission.
fn fault_after_certificate_lookup(
    app: &kyso_tests::TestApp,
    fault: Fault,
) -> tokio::task::JoinHandle<()> {
    let ca = app.ca.clone();
    let seen = ca.requests().len();
    tokio::spawn(async move {
        loop {
            if ca.requests()[seen..]
                .iter()
                .any(|r| r.path.ends_with("get_certificate"))
            {
                ca.fail_next(fault);
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
}

#[tokio::test]
async fn submission_the_ca_did_not_answer_in_time_is_reconciled_not_lost() {
    let app = spawn_app_with(TestConfig {
        request_timeout_ms: 400,
        ..TestConfig::default()
    })
    .await;
    let token = app.token().await;
    app.ca.set_delay(Duration::from_millis(100));
    // The CA receives the signing request but answers after the gateway gave up.
    let armed = fault_after_certificate_lookup(&app, Fault::Hang(Duration::from_millis(800)));
    let response = app
        .post_signature(
            &token,
            "slow",
            &sign_body(RSA_CITIZEN, &digest_of("slow CA")),
        )
        .await;
    armed.await.unwrap();
    assert_eq!(response.status(), 202, "kept pending, not reported failed");
    let id = response.json::<Value>().await.unwrap()["transaction_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ca.set_delay(Duration::ZERO);
    // Once the CA has it, the citizen's approval reaches the portal.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while app.ca.approve(&id).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the CA never got the request"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.wait_until_final(&token, &id).await["status"], "signed");
}

#[tokio::test]
async fn certificates_of_a_citizen_at_every_provider_in_one_call() {
    let app = spawn_app_with(TestConfig {
        offline_provider: true,
        ..TestConfig::default()
    })
    .await;
    let token = app.token().await;
    let search = |user_id: &'static str| {
        let app = &app;
        let token = &token;
        async move {
            let response = app
                .get(&format!("/v1/certificates?user_id={user_id}"), token)
                .await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let known = search(RSA_CITIZEN).await;
    assert_eq!(known["user_id"], RSA_CITIZEN);
    let results = known["results"].as_array().unwrap();
    let by_id = |id: &str| {
        results
            .iter()
            .find(|r| r["provider"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(results.len(), 2);
    assert_eq!(by_id("vnpt")["status"], "found");
    assert_eq!(by_id("vnpt")["certificates"].as_array().unwrap().len(), 1);
    assert_eq!(by_id("offline")["status"], "error");
    assert_eq!(by_id("offline")["error"]["code"], "ca_unavailable");
    assert_eq!(by_id("offline")["error"]["retryable"], true);
    // In the order of GET /v1/providers (by id).
    let order: Vec<&Value> = results.iter().map(|r| &r["provider"]).collect();
    assert_eq!(order, ["offline", "vnpt"]);
    let unknown = search(UNKNOWN_CITIZEN).await;
    assert_eq!(unknown["results"][1]["provider"], "vnpt");
    assert_eq!(unknown["results"][1]["status"], "not_found", "{unknown}");
    let bad = app.get("/v1/certificates?user_id=123", &token).await;
    assert_error(bad, 400, "invalid_user_id").await;
}
