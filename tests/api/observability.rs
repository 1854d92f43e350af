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

#[tokio::test]
async fn invented_methods_and_paths_add_no_metric_series() {
    let app = spawn_app().await;
    // The first scrape adds the scrape's own series; the second sees it.
    app.metrics().await;
    let before = app.metrics().await;
    for index in 0..100 {
        let method = reqwest::Method::from_bytes(format!("X{index:0>200}").as_bytes()).unwrap();
        let response = app
            .http
            .request(method, format!("{}/v1/invented/{index}", app.api))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let method = reqwest::Method::from_bytes(format!("Y{index}").as_bytes()).unwrap();
        let response = app
            .http
            .request(method, format!("{}/v1/signatures", app.api))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405);
    }
    let after = app.metrics().await;
    let series = |text: &str| {
        text.lines()
            .filter(|line| line.starts_with("kyso_http_requests_total{"))
            .count()
    };
    // Two new series at most (unmatched/404 and /v1/signatures/405, both method="other"),
    // whatever the number of invented methods and paths.
    assert!(series(&after) <= series(&before) + 2, "{after}");
    assert!(after.contains("method=\"other\""), "{after}");
    assert!(
        !after.contains("X000"),
        "no invented method reaches a label"
    );
    assert!(
        after.len() < before.len() + 4096,
        "{} -> {}",
        before.len(),
        after.len()
    );
}
