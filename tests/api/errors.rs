//! Bad input of every kind gets its documented code and status, never a 500 or a hang.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kyso_adapter_core::HashAlgorithm;
use kyso_tests::{
    RSA_CITIZEN, TestConfig, assert_error, digest_of, sign_body, spawn_app, spawn_app_with,
};
use serde_json::{Value, json};

/// `sign_body` with one field replaced (or removed, for `Value::Null`).
fn with(field: &str, value: Value) -> Value {
    let mut body = sign_body(RSA_CITIZEN, &digest_of("x"));
    if value.is_null() {
        body.as_object_mut().unwrap().remove(field);
    } else {
        body[field] = value;
    }
    body
}

fn document(id: &str, digest: &str) -> Value {
    json!({"id": id, "name": "tep.pdf", "digest": digest})
}

#[tokio::test]
async fn every_bad_signing_field_gets_its_documented_code() {
    let app = spawn_app().await;
    let token = app.token().await;
    let good = digest_of("x");
    let six: Vec<Value> = (0..6).map(|n| document(&format!("d{n}"), &good)).collect();
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "missing provider",
            with("provider", Value::Null),
            400,
            "invalid_request",
        ),
        (
            "missing user_id",
            with("user_id", Value::Null),
            400,
            "invalid_request",
        ),
        (
            "missing documents",
            with("documents", Value::Null),
            400,
            "invalid_request",
        ),
        (
            "documents not a list",
            with("documents", json!("d")),
            400,
            "invalid_request",
        ),
        (
            "user_id a number",
            with("user_id", json!(1099000001)),
            400,
            "invalid_request",
        ),
        (
            "unknown field",
            with("priority", json!("high")),
            400,
            "invalid_request",
        ),
        (
            "unknown hash",
            with("hash_algorithm", json!("md5")),
            400,
            "invalid_request",
        ),
        (
            "no documents",
            with("documents", json!([])),
            400,
            "invalid_request",
        ),
        (
            "empty document id",
            with("documents", json!([document("", &good)])),
            400,
            "invalid_request",
        ),
        (
            "long description",
            with("description", json!("x".repeat(501))),
            400,
            "invalid_request",
        ),
        (
            "short user_id",
            with("user_id", json!("12345")),
            400,
            "invalid_user_id",
        ),
        (
            "letters in user_id",
            with("user_id", json!("00109900000A")),
            400,
            "invalid_user_id",
        ),
        (
            "bad base64",
            with("documents", json!([document("d", "not base64!")])),
            400,
            "invalid_digest",
        ),
        (
            "short digest",
            with(
                "documents",
                json!([document("d", &STANDARD.encode([1u8; 20]))]),
            ),
            400,
            "invalid_digest",
        ),
        (
            "duplicate id",
            with(
                "documents",
                json!([document("d", &good), document("d", &good)]),
            ),
            422,
            "duplicate_document_id",
        ),
        (
            "oversized batch",
            with("documents", json!(six)),
            422,
            "batch_too_large",
        ),
        (
            "unknown provider",
            with("provider", json!("nope")),
            404,
            "unknown_provider",
        ),
    ];
    for (why, body, status, code) in cases {
        let key = uuid::Uuid::new_v4().to_string();
        let response = app.post_signature(&token, &key, &body).await;
        assert_eq!(response.status().as_u16(), status, "{why}");
        assert_error(response, status, code).await;
    }
    assert!(
        app.ca.transactions().is_empty(),
        "nothing bad reached the CA"
    );
}

#[tokio::test]
async fn malformed_requests_are_refused_with_documented_codes() {
    // Signing requests may carry 1 KiB of files: bodies beyond about 257 KiB are too large.
    let mut config = TestConfig::default();
    config.documents.max_transaction_bytes = 1024;
    let app = spawn_app_with(config).await;
    let token = app.token().await;
    let url = format!("{}/v1/signatures", app.api);
    let post = |body: Vec<u8>, content_type: &str, key: Option<&str>| {
        let mut request = app
            .http
            .post(&url)
            .bearer_auth(&token)
            .header("Content-Type", content_type)
            .body(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send()
    };
    let good = serde_json::to_vec(&sign_body(RSA_CITIZEN, &digest_of("x"))).unwrap();
    let cases = [
        (
            post(b"{not json".to_vec(), "application/json", Some("k1")).await,
            400,
            "invalid_request",
        ),
        (
            post(good.clone(), "text/plain", Some("k2")).await,
            415,
            "unsupported_media_type",
        ),
        (
            post(vec![b' '; 300 * 1024], "application/json", Some("k3")).await,
            413,
            "payload_too_large",
        ),
        (
            post(good.clone(), "application/json", None).await,
            400,
            "missing_idempotency_key",
        ),
        (
            post(good.clone(), "application/json", Some("")).await,
            400,
            "invalid_idempotency_key",
        ),
        (
            post(good, "application/json", Some(&"k".repeat(300))).await,
            400,
            "invalid_idempotency_key",
        ),
    ];
    for (response, status, code) in cases {
        assert_error(response.unwrap(), status, code).await;
    }
}

#[tokio::test]
async fn hash_algorithm_the_provider_does_not_offer_is_refused() {
    let app = spawn_app_with(TestConfig {
        hash_algorithms: vec![HashAlgorithm::Sha256],
        ..TestConfig::default()
    })
    .await;
    let token = app.token().await;
    let mut body = sign_body(RSA_CITIZEN, &STANDARD.encode([7u8; 64]));
    body["hash_algorithm"] = json!("sha512");
    let response = app.post_signature(&token, "k", &body).await;
    assert_error(response, 422, "unsupported_hash_algorithm").await;
}

#[tokio::test]
async fn bad_certificate_queries_and_unknown_resources_are_refused() {
    let app = spawn_app().await;
    let token = app.token().await;
    let cases = [
        ("/v1/certificates?provider=vnpt", 400, "invalid_request"),
        (
            "/v1/certificates?user_id=001099000001&user_id=1",
            400,
            "invalid_request",
        ),
        (
            "/v1/certificates?user_id=12&provider=vnpt",
            400,
            "invalid_user_id",
        ),
        (
            &*format!("/v1/certificates?user_id={RSA_CITIZEN}&provider=nope"),
            404,
            "unknown_provider",
        ),
        (
            "/v1/certificates?user_id=001099000001&provider=vnpt&extra=1",
            400,
            "invalid_request",
        ),
        (
            "/v1/signatures/no-such-transaction",
            404,
            "transaction_not_found",
        ),
        ("/v1/nothing-here", 404, "route_not_found"),
    ];
    for (path, status, code) in cases {
        assert_error(app.get(path, &token).await, status, code).await;
    }
    let cancel = app.cancel(&token, "no-such-transaction").await;
    assert_error(cancel, 404, "transaction_not_found").await;
    let wrong_method = app
        .http
        .delete(format!("{}/v1/providers", app.api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_error(wrong_method, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn callers_request_id_is_echoed_and_bad_ones_replaced() {
    let app = spawn_app().await;
    let send = |id: &'static str| {
        app.http
            .get(format!("{}/v1/providers", app.api))
            .header("X-Request-Id", id)
            .send()
    };
    let echoed = send("portal-req-42").await.unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "portal-req-42");
    let body = assert_error(echoed, 401, "invalid_token").await;
    assert_eq!(body["error"]["request_id"], "portal-req-42");
    let replaced = send("bad id with spaces").await.unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "bad id with spaces");
}
