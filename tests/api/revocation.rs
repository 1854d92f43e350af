//! Revocation checking end to end, against the simulator's live OCSP responder and CRLs and
//! their switches: evidence on every signed document, revoked by OCSP and by CRL, revoked
//! after the signing time, responders down under `required` and `soft` policies, a hanging
//! responder, unauthorised and stale OCSP answers, one answer shared by instances through
//! the store, and a signature that waits for its revocation status.
//!
//! `POST /v1/verifications` is asked on a fresh instance (its own empty store) wherever the
//! point is a new lookup: the instance that signed has the answer cached until nextUpdate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kyso_gateway::config::RevocationSettings;
use kyso_gateway::store::memory::MemoryStore;
use kyso_gateway::verify::RevocationPolicy;
use kyso_sim_vnpt::{OcspSigner, Outage, RevocationReason, RevocationSwitches, Revoke};
use kyso_tests::faulty_store::FaultyStore;
use kyso_tests::{
    ECDSA_DER_CITIZEN, PSS_CITIZEN, RSA_CITIZEN, TestApp, TestConfig, assert_error, digest_of,
    sign_body, spawn_app, spawn_app_on, spawn_app_with,
};
use serde_json::Value;

use crate::verifications::{check_of, report, signed_transaction};

fn revoke(app: &TestApp, user_id: &str) {
    app.ca
        .revocation()
        .revoke_citizen(user_id, &Revoke::because(RevocationReason::KeyCompromise))
        .unwrap();
}

fn switch(app: &TestApp, switches: RevocationSwitches) {
    app.ca.revocation().set_switches(switches);
}

/// Every revocation endpoint answers 503.
fn all_down() -> RevocationSwitches {
    RevocationSwitches {
        ocsp_outage: Outage::Unavailable,
        crl_outage: Outage::Unavailable,
        ..RevocationSwitches::default()
    }
}

/// Another instance with the same settings and its own empty store and caches.
fn fresh_instance(app: &TestApp) -> TestApp {
    app.via(&app.start_peer_on(Arc::new(MemoryStore::new())))
}

/// The value of `kyso_revocation_lookups_total{source, outcome}` (0 when absent).
async fn lookups(app: &TestApp, source: &str, outcome: &str) -> u64 {
    let metrics = app.metrics().await;
    metrics
        .lines()
        .filter(|line| line.starts_with("kyso_revocation_lookups_total{"))
        .filter(|line| {
            line.contains(&format!("source=\"{source}\""))
                && line.contains(&format!("outcome=\"{outcome}\""))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn sources(report: &Value) -> Vec<&str> {
    report["revocation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|evidence| evidence["source"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_documents_carry_ocsp_evidence_for_every_certificate_but_the_root() {
    let app = spawn_app().await;
    let token = app.token().await;
    let signed = signed_transaction(&app, &token, ECDSA_DER_CITIZEN).await;
    let report = &signed["documents"][0]["verification"];
    assert_eq!(report["indication"], "total_passed", "{report}");
    let path = report["path"].as_array().unwrap();
    let evidence = report["revocation"].as_array().unwrap();
    assert_eq!(evidence.len(), path.len() - 1, "{report}");
    for (certificate, found) in path.iter().zip(evidence) {
        assert_eq!(found["serial_number"], certificate["serial_number"]);
        assert_eq!(found["source"], "ocsp");
        assert_eq!(found["status"], "good");
        assert!(found["produced_at"].is_string() && found["next_update"].is_string());
    }
    assert!(lookups(&app, "ocsp", "ok").await >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_by_ocsp_fails_now_and_passes_for_a_signature_made_before() {
    let app = spawn_app().await;
    let token = app.token().await;
    let signed = signed_transaction(&app, &token, RSA_CITIZEN).await;
    // Revocation times are whole seconds: revoke strictly after the signature was received.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    revoke(&app, RSA_CITIZEN);
    let fresh = fresh_instance(&app);
    let mut check = check_of(&signed);
    let now = report(&fresh, &token, &check).await;
    assert_eq!(now["indication"], "total_failed", "{now}");
    assert_eq!(now["sub_indication"], "revoked");
    assert_eq!(now["revocation"][0]["source"], "ocsp");
    assert_eq!(now["revocation"][0]["status"], "revoked");
    assert_eq!(now["revocation"][0]["reason"], "keyCompromise");

    check["validation_time"] = signed["documents"][0]["verification"]["validation_time"].clone();
    let then = report(&fresh, &token, &check).await;
    assert_eq!(then["indication"], "total_passed", "{then}");
    assert_eq!(then["revocation"][0]["status"], "revoked", "{then}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_by_crl_when_the_ocsp_responder_is_down() {
    let app = spawn_app().await;
    let token = app.token().await;
    let signed = signed_transaction(&app, &token, PSS_CITIZEN).await;
    revoke(&app, PSS_CITIZEN);
    switch(
        &app,
        RevocationSwitches {
            ocsp_outage: Outage::Unavailable,
            ..RevocationSwitches::default()
        },
    );
    let fresh = fresh_instance(&app);
    let found = report(&fresh, &token, &check_of(&signed)).await;
    assert_eq!(found["sub_indication"], "revoked", "{found}");
    assert_eq!(sources(&found), ["crl", "crl"], "{found}");
    assert!(lookups(&fresh, "ocsp", "failed").await >= 1);
    assert!(lookups(&fresh, "crl", "ok").await >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_policy_refuses_to_ask_the_citizen_without_revocation_status() {
    let app = spawn_app().await;
    let token = app.token().await;
    switch(&app, all_down());
    let body = sign_body(ECDSA_DER_CITIZEN, &digest_of("no status, no signature"));
    let refused = app.post_signature(&token, "revocation-down-1", &body).await;
    let error = assert_error(refused, 503, "revocation_unavailable").await;
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("not available"), "{message}");
    assert!(
        app.ca.transactions().is_empty(),
        "the citizen was not asked"
    );

    switch(&app, RevocationSwitches::default());
    let accepted = app.post_signature(&token, "revocation-down-2", &body).await;
    assert_eq!(accepted.status(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_policy_signs_with_an_indeterminate_report_that_says_why() {
    let app = spawn_app_with(TestConfig {
        revocation: RevocationPolicy::Soft,
        ..TestConfig::default()
    })
    .await;
    let token = app.token().await;
    switch(&app, all_down());
    let signed = signed_transaction(&app, &token, ECDSA_DER_CITIZEN).await;
    let report = &signed["documents"][0]["verification"];
    assert_eq!(report["indication"], "indeterminate", "{report}");
    assert_eq!(report["sub_indication"], "try_later");
    assert!(
        report["message"]
            .as_str()
            .unwrap()
            .contains("is not available"),
        "{report}"
    );
    assert!(signed["documents"][0]["signature"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_responder_is_cut_off_by_the_timeout() {
    let app = spawn_app_with(TestConfig {
        revocation_settings: RevocationSettings {
            timeout_ms: 300,
            ..RevocationSettings::default()
        },
        ..TestConfig::default()
    })
    .await;
    let token = app.token().await;
    let hang = Outage::Hang { millis: 10_000 };
    switch(
        &app,
        RevocationSwitches {
            ocsp_outage: hang,
            crl_outage: hang,
            ..RevocationSwitches::default()
        },
    );
    let started = Instant::now();
    let body = sign_body(RSA_CITIZEN, &digest_of("hanging responder"));
    let refused = app.post_signature(&token, "hanging", &body).await;
    assert_error(refused, 503, "revocation_unavailable").await;
    // Two certificates looked up concurrently, OCSP then CRL each: about two timeouts.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorised_or_stale_ocsp_answers_fall_back_to_the_crl() {
    let app = spawn_app().await;
    let token = app.token().await;
    let foreign = RevocationSwitches {
        ocsp_signer: OcspSigner::Foreign,
        ..RevocationSwitches::default()
    };
    switch(&app, foreign);
    let signed = signed_transaction(&app, &token, RSA_CITIZEN).await;
    let evidence = &signed["documents"][0]["verification"];
    assert_eq!(sources(evidence), ["crl", "crl"], "{evidence}");

    // Without the CRL, the unauthorised answer is not used: the status is unavailable.
    switch(
        &app,
        RevocationSwitches {
            crl_outage: Outage::Unavailable,
            ..foreign
        },
    );
    let unauthorised = report(&fresh_instance(&app), &token, &check_of(&signed)).await;
    assert_eq!(
        unauthorised["sub_indication"], "try_later",
        "{unauthorised}"
    );
    assert!(
        unauthorised["message"]
            .as_str()
            .unwrap()
            .contains("did not authorise"),
        "{unauthorised}"
    );

    let stale = RevocationSwitches {
        ocsp_stale: true,
        ..RevocationSwitches::default()
    };
    switch(&app, stale);
    let fallback = report(&fresh_instance(&app), &token, &check_of(&signed)).await;
    assert_eq!(fallback["indication"], "total_passed", "{fallback}");
    assert_eq!(sources(&fallback), ["crl", "crl"], "{fallback}");
    switch(
        &app,
        RevocationSwitches {
            crl_outage: Outage::Unavailable,
            ..stale
        },
    );
    let stale_only = report(&fresh_instance(&app), &token, &check_of(&signed)).await;
    assert_eq!(stale_only["sub_indication"], "try_later", "{stale_only}");
    assert!(
        stale_only["message"].as_str().unwrap().contains("stale"),
        "{stale_only}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ocsp_answer_serves_every_instance_through_the_store() {
    let shared = Arc::new(MemoryStore::new());
    let app = spawn_app_on(TestConfig::default(), shared.clone()).await;
    let token = app.token().await;
    signed_transaction(&app, &token, RSA_CITIZEN).await;
    switch(&app, all_down());
    // Another instance, nothing in its memory, every responder down: the store has the
    // answers the first instance fetched.
    let peer = app.via(&app.start_peer_on(shared));
    let signed = signed_transaction(&peer, &token, RSA_CITIZEN).await;
    let report = &signed["documents"][0]["verification"];
    assert_eq!(report["indication"], "total_passed", "{report}");
    assert_eq!(sources(report), ["ocsp", "ocsp"]);
    assert!(lookups(&peer, "store", "ok").await >= 2);
    assert_eq!(lookups(&peer, "ocsp", "ok").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_waits_for_its_revocation_status_then_is_signed_or_fails_honestly() {
    // Nothing is cached (not in memory, not in the store), so every judgement looks up anew.
    let store = FaultyStore::new(Arc::new(MemoryStore::new()));
    store.fail_every("cache_revocation_data");
    let app = spawn_app_on(
        TestConfig {
            confirmation_timeout_secs: 5,
            revocation_settings: RevocationSettings {
                cache_entries: 0,
                ..RevocationSettings::default()
            },
            ..TestConfig::default()
        },
        store,
    )
    .await;
    let token = app.token().await;

    let waiting = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("waits")))
        .await;
    switch(&app, all_down());
    app.ca.approve(&waiting).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pending: Value = app
        .get(&format!("/v1/signatures/{waiting}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["status"], "pending", "{pending}");
    switch(&app, RevocationSwitches::default());
    let signed = app.wait_until_final(&token, &waiting).await;
    assert_eq!(signed["status"], "signed", "{signed}");

    let expiring = app
        .create_transaction(&token, &sign_body(PSS_CITIZEN, &digest_of("expires")))
        .await;
    switch(&app, all_down());
    app.ca.approve(&expiring).unwrap();
    let failed = app.wait_until_final(&token, &expiring).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(
        failed["error"]["code"], "revocation_unavailable",
        "{failed}"
    );
    assert_eq!(failed["error"]["retryable"], true);
    assert!(failed["documents"][0]["signature"].is_null());
}
