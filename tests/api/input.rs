//! Strict, human input handling: a JSON list is never read as an object, every message says
//! what is wrong in the caller's terms (no Rust type names), a method a path does not serve
//! gets `405` with `Allow`, and ambiguous headers are refused.

use kyso_tests::{RSA_CITIZEN, TestApp, assert_error, digest_of, sign_body, spawn_app};
use serde_json::{Value, json};

/// Words that only a Rust program's internals would say.
const INTERNALS: [&str; 10] = [
    "struct",
    "enum",
    "variant",
    "Query deserialize",
    "SignatureRequest",
    "DocumentInput",
    "CertificateQuery",
    "TokenRequest",
    "HashAlgorithm",
    "spec/",
];

/// Asserts an error body whose message says nothing of the server's internals; returns it.
async fn assert_plain_error(response: reqwest::Response, status: u16, code: &str) -> String {
    let body = assert_error(response, status, code).await;
    let message = body["error"]["message"].as_str().unwrap().to_owned();
    for word in INTERNALS {
        assert!(!message.contains(word), "{word:?} in {message:?}");
    }
    message
}

async fn post_json(app: &TestApp, token: &str, body: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/v1/signatures", app.api))
        .bearer_auth(token)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_json_list_is_never_read_as_an_object() {
    let app = spawn_app().await;
    let token = app.token().await;
    let digest = digest_of("x");
    let top = json!([
        "vnpt",
        RSA_CITIZEN,
        null,
        "sha256",
        [["d1", "a", digest]],
        null
    ]);
    let message = assert_plain_error(
        post_json(&app, &token, &top.to_string()).await,
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(message, "the body must be a JSON object, not a list");
    let mut nested = sign_body(RSA_CITIZEN, &digest);
    nested["documents"] = json!([["d1", "a", digest]]);
    let message = assert_plain_error(
        post_json(&app, &token, &nested.to_string()).await,
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(
        message,
        "field `documents[0]` must be an object, not a list"
    );
    assert!(app.ca.transactions().is_empty(), "nothing reached the CA");
}

#[tokio::test]
async fn malformed_input_of_every_kind_is_explained_in_the_callers_terms() {
    let app = spawn_app().await;
    let token = app.token().await;
    let good = sign_body(RSA_CITIZEN, &digest_of("x"));
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body.to_string()
    };
    let bodies: Vec<(String, &str)> = vec![
        ("[]".to_owned(), "the body must be a JSON object"),
        ("\"text\"".to_owned(), "the body must be a JSON object"),
        ("42".to_owned(), "the body must be a JSON object"),
        ("null".to_owned(), "the body must be a JSON object"),
        ("{not json".to_owned(), "the body is not valid JSON"),
        ("".to_owned(), "the body is not valid JSON"),
        ("{}".to_owned(), "field `provider` is required"),
        (
            with("user_id", json!(1099000001)),
            "field `user_id` must be a string",
        ),
        (
            with("hash_algorithm", json!("md5")),
            "field `hash_algorithm` must be one of",
        ),
        (
            with("hash_algorithm", json!(["sha256"])),
            "field `hash_algorithm` must be a string",
        ),
        (
            with("documents", json!("d")),
            "field `documents` must be a list",
        ),
        (
            with("documents", json!([{"id": "d"}])),
            "field `documents[0].name` is required",
        ),
        (
            with("documents", json!([{"id": 1, "name": "n", "digest": "x"}])),
            "field `documents[0].id` must be a string, not a number",
        ),
        (
            with(
                "documents",
                json!([{"id": "d", "name": "n", "digest": "x", "size": 1}]),
            ),
            "field `documents[0].size` is not allowed here",
        ),
        (
            with("priority", json!("high")),
            "field `priority` is not allowed here",
        ),
        (with("description", Value::Null), "field `description`"),
        (
            with("certificate_id", json!({})),
            "field `certificate_id` must be a string",
        ),
    ];
    for (body, expected) in bodies {
        let message =
            assert_plain_error(post_json(&app, &token, &body).await, 400, "invalid_request").await;
        assert!(message.starts_with(expected), "{body}: {message:?}");
    }

    let queries = [
        ("/v1/certificates", "query parameter `user_id` is required"),
        (
            "/v1/certificates?provider=vnpt",
            "query parameter `user_id` is required",
        ),
        (
            "/v1/certificates?user_id=001099000001&extra=1",
            "query parameter `extra` is not allowed here",
        ),
        (
            "/v1/certificates?user_id=001099000001&user_id=001099000002",
            "query parameter `user_id` is given more than once",
        ),
    ];
    for (path, expected) in queries {
        let message = assert_plain_error(app.get(path, &token).await, 400, "invalid_request").await;
        assert!(message.starts_with(expected), "{path}: {message:?}");
    }

    let token_url = format!("{}/v1/oauth/token", app.api);
    let forms = [
        (
            "grant_type=client_credentials&grant_type=client_credentials",
            "form field `grant_type` is given more than once",
        ),
        ("client_id=a&client_secret=b", "grant_type is required"),
    ];
    for (form, expected) in forms {
        let response = app
            .http
            .post(&token_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        let message = assert_plain_error(response, 400, "invalid_request").await;
        assert!(message.starts_with(expected), "{form}: {message:?}");
    }

    for path in ["/v1/nothing-here", "/v1/signature", "/metrics"] {
        let message = assert_plain_error(app.get(path, &token).await, 404, "route_not_found").await;
        assert!(!message.contains("openapi"), "{message}");
    }
}

#[tokio::test]
async fn a_method_a_path_does_not_serve_gets_405_with_allow() {
    let app = spawn_app().await;
    let token = app.token().await;
    let cases = [
        ("DELETE", "/v1/providers", "GET"),
        ("PUT", "/v1/signatures", "POST"),
        ("GET", "/v1/signatures", "POST"),
        ("TRACE", "/v1/certificates", "GET"),
        ("GET", "/v1/oauth/token", "POST"),
        ("PATCH", "/v1/signatures/00abc", "GET"),
        ("GET", "/v1/signatures/00abc/cancel", "POST"),
    ];
    for (method, path, allow) in cases {
        let response = app
            .http
            .request(method.parse().unwrap(), format!("{}{path}", app.api))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers().get("allow").map(|v| v.to_str().unwrap()),
            Some(allow),
            "{method} {path}"
        );
        assert_plain_error(response, 405, "method_not_allowed").await;
    }
    // A path served under no method stays 404, whatever the method.
    let response = app
        .http
        .delete(format!("{}/v1/nowhere", app.api))
        .send()
        .await
        .unwrap();
    assert!(!response.headers().contains_key("allow"));
    assert_plain_error(response, 404, "route_not_found").await;
    // The admin listener too.
    let response = app
        .http
        .post(format!("{}/healthz", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET");
    assert_plain_error(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn two_idempotency_keys_are_refused() {
    let app = spawn_app().await;
    let token = app.token().await;
    let response = app
        .http
        .post(format!("{}/v1/signatures", app.api))
        .bearer_auth(&token)
        .header("Idempotency-Key", "first")
        .header("Idempotency-Key", "second")
        .json(&sign_body(RSA_CITIZEN, &digest_of("x")))
        .send()
        .await
        .unwrap();
    assert_plain_error(response, 400, "invalid_idempotency_key").await;
    assert!(app.ca.transactions().is_empty(), "nothing reached the CA");
}

#[tokio::test]
async fn an_empty_or_unusable_request_id_is_replaced_not_refused() {
    let app = spawn_app().await;
    for id in ["", "bad id with spaces", &"x".repeat(129)] {
        let response = app
            .http
            .get(format!("{}/v1/providers", app.api))
            .header("X-Request-Id", id)
            .send()
            .await
            .unwrap();
        let echoed = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(!echoed.is_empty() && echoed != id, "{id:?} -> {echoed:?}");
        let body = assert_error(response, 401, "invalid_token").await;
        assert_eq!(body["error"]["request_id"], echoed.as_str());
    }
}

#[tokio::test]
async fn oversized_request_heads_get_431_with_a_json_error() {
    let app = kyso_tests::spawn_app().await;
    let long_query = format!(
        "{}/v1/certificates?provider=vnpt&user_id=001099000001&x={}",
        app.api,
        "q".repeat(5000)
    );
    let response = app.http.get(long_query).send().await.unwrap();
    let body = kyso_tests::assert_error(response, 431, "request_head_too_large").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("4096"));
    let long_header = app
        .http
        .get(format!("{}/v1/providers", app.api))
        .header("x-padding", "p".repeat(9000))
        .send()
        .await
        .unwrap();
    kyso_tests::assert_error(long_header, 431, "request_head_too_large").await;
    let many = (0..40).fold(
        app.http.get(format!("{}/v1/providers", app.api)),
        |request, i| request.header(format!("x-padding-{i}"), "p".repeat(1000)),
    );
    kyso_tests::assert_error(many.send().await.unwrap(), 431, "request_head_too_large").await;
    // Just under every bound, the request is served (here: refused for want of a token).
    let fits = app
        .http
        .get(format!("{}/v1/providers", app.api))
        .header("x-padding", "p".repeat(8000))
        .send()
        .await
        .unwrap();
    assert_eq!(fits.status(), 401);
}
