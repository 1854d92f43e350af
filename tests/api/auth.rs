//! Portal authentication: the token endpoint and what bearer tokens are refused.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kyso_gateway::sandbox;
use kyso_tests::{assert_error, spawn_app};
use serde_json::{Value, json};

/// The gateway's token-signing key, to craft tokens it must refuse for other reasons.
fn pem_of(settings: &kyso_gateway::config::Settings) -> String {
    use secrecy::ExposeSecret as _;
    settings
        .auth
        .signing_key_pem
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims(issuer: &str, audience: &str, exp: i64) -> Value {
    json!({
        "iss": issuer, "aud": audience, "sub": sandbox::CLIENT_ID, "iat": now(), "exp": exp,
        "jti": "test", "scope": "certificates:read signatures:write signatures:read",
    })
}

fn es256_token(pem: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn token_is_issued_for_credentials_in_body_and_in_basic_auth() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(format!("{}/v1/oauth/token", app.api))
        .basic_auth(sandbox::CLIENT_ID, Some(sandbox::CLIENT_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "signatures:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "signatures:read");
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    // The body form is exercised by every other test through `token()`.
    assert!(!app.token().await.is_empty());
}

#[tokio::test]
async fn token_endpoint_refuses_bad_credentials_grants_and_scopes() {
    let app = spawn_app().await;
    let post = |form: Vec<(&'static str, &'static str)>| {
        app.http
            .post(format!("{}/v1/oauth/token", app.api))
            .form(&form)
            .send()
    };
    let wrong_secret = post(vec![
        ("grant_type", "client_credentials"),
        ("client_id", sandbox::CLIENT_ID),
        ("client_secret", "not-the-secret"),
    ])
    .await
    .unwrap();
    assert_eq!(
        wrong_secret.headers()["www-authenticate"],
        "Basic realm=\"kyso\""
    );
    assert_error(wrong_secret, 401, "invalid_client").await;
    let grant = post(vec![
        ("grant_type", "password"),
        ("client_id", sandbox::CLIENT_ID),
        ("client_secret", sandbox::CLIENT_SECRET),
    ])
    .await
    .unwrap();
    assert_error(grant, 400, "unsupported_grant_type").await;
    let scope = post(vec![
        ("grant_type", "client_credentials"),
        ("client_id", sandbox::CLIENT_ID),
        ("client_secret", sandbox::CLIENT_SECRET),
        ("scope", "admin"),
    ])
    .await
    .unwrap();
    assert_error(scope, 400, "invalid_scope").await;
    // No client authentication at all is `invalid_client` (RFC 6749 §5.2); half of it is
    // a malformed request.
    let missing = post(vec![("grant_type", "client_credentials")])
        .await
        .unwrap();
    assert_error(missing, 401, "invalid_client").await;
    let half = post(vec![
        ("grant_type", "client_credentials"),
        ("client_id", sandbox::CLIENT_ID),
    ])
    .await
    .unwrap();
    assert_error(half, 400, "invalid_request").await;
    let json_body = app
        .http
        .post(format!("{}/v1/oauth/token", app.api))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_error(json_body, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let app = spawn_app().await;
    let pem = pem_of(&app.settings);
    let issuer = &app.settings.auth.issuer;
    let audience = &app.settings.auth.audience;
    let none_token = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
        URL_SAFE_NO_PAD.encode(claims(issuer, audience, now() + 600).to_string())
    );
    let hs256_token = jsonwebtoken::encode(
        &Header {
            typ: Some("at+jwt".into()),
            ..Header::new(Algorithm::HS256)
        },
        &claims(issuer, audience, now() + 600),
        &EncodingKey::from_secret(pem.as_bytes()),
    )
    .unwrap();
    let cases = [
        (
            "expired",
            es256_token(&pem, &claims(issuer, audience, now() - 600)),
        ),
        (
            "wrong audience",
            es256_token(&pem, &claims(issuer, "another-api", now() + 600)),
        ),
        (
            "wrong issuer",
            es256_token(&pem, &claims("https://evil.example", audience, now() + 600)),
        ),
        ("alg none", none_token),
        ("HS256 keyed with the public material", hs256_token),
        ("garbage", "not-a-jwt".to_owned()),
    ];
    // A control: the same construction with good claims is accepted, so the refusals
    // above are for the reason each case names.
    let good = es256_token(&pem, &claims(issuer, audience, now() + 600));
    assert_eq!(app.get("/v1/providers", &good).await.status(), 200);
    for (why, token) in cases {
        let response = app.get("/v1/providers", &token).await;
        assert_eq!(response.status(), 401, "{why}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\"",
            "{why}"
        );
        assert_error(response, 401, "invalid_token").await;
    }
    let missing = app
        .http
        .get(format!("{}/v1/providers", app.api))
        .send()
        .await
        .unwrap();
    assert_error(missing, 401, "invalid_token").await;
    let basic = app
        .http
        .get(format!("{}/v1/providers", app.api))
        .header("Authorization", format!("Basic {}", STANDARD.encode("a:b")))
        .send()
        .await
        .unwrap();
    assert_error(basic, 401, "invalid_token").await;
}

#[tokio::test]
async fn token_without_the_scope_gets_insufficient_scope() {
    let app = spawn_app().await;
    let read_only = app.token_with(Some("signatures:read")).await;
    let response = app
        .post_signature(
            &read_only,
            "k",
            &kyso_tests::sign_body(kyso_tests::RSA_CITIZEN, &kyso_tests::digest_of("x")),
        )
        .await;
    assert_error(response, 403, "insufficient_scope").await;
    let response = app
        .get(
            &format!(
                "/v1/certificates?user_id={}&provider=vnpt",
                kyso_tests::RSA_CITIZEN
            ),
            &read_only,
        )
        .await;
    assert_error(response, 403, "insufficient_scope").await;
}
