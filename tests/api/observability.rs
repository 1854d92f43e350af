//! The admin listener: metrics and health, apart from the portal API.

use kyso_tests::{RSA_CITIZEN, digest_of, sign_body, spawn_app};
use serde_json::Value;

#[tokio::test]
async fn metrics_count_requests_ca_calls_and_outcomes() {
    let app = spawn_app().await;
    let token = app.token().await;
    let id = app
        .create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("metrics")))
        .await;
    app.ca.approve(&id).unwrap();
    app.wait_until_final(&token, &id).await;
    let metrics = app.metrics().await;
    for expected in [
        "kyso_http_requests_total{method=\"POST\",route=\"/v1/signatures\",status=\"202\"} 1",
        "kyso_http_requests_total{method=\"GET\",route=\"/v1/signatures/{transaction_id}\",status=\"200\"}",
        "kyso_ca_request_duration_seconds_count{operation=\"begin_sign\",outcome=\"ok\",provider=\"vnpt\"} 1",
        "kyso_ca_request_duration_seconds_count{operation=\"poll\",outcome=\"ok\",provider=\"vnpt\"}",
        "kyso_signature_verifications_total{provider=\"vnpt\",result=\"valid\"} 1",
        "kyso_transactions_total{provider=\"vnpt\",status=\"signed\"} 1",
        "kyso_pending_transactions{provider=\"vnpt\"} 0",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected} in\n{metrics}"
        );
    }
    assert!(!metrics.contains(&token), "tokens never reach metrics");
}

#[tokio::test]
async fn health_and_readiness_answer_on_the_admin_listener_only() {
    let app = spawn_app().await;
    let health: Value = app
        .http
        .get(format!("{}/healthz", app.admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let (status, ready) = app.readiness().await;
    assert_eq!(status, 200);
    assert_eq!(ready["checks"]["store"], "ok");
    let on_api = app
        .http
        .get(format!("{}/metrics", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(on_api.status(), 404, "metrics are not exposed to portals");
}
