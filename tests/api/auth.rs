//! Portal authentication: the token endpoint, what bearer tokens are refused (each abuse
//! gets `401 invalid_token`), key rotation across instances and the published JWKS.

use std::io::Write as _;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{Jwk, JwkSet, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kyso_gateway::config::{Settings, SigningKeySettings};
use kyso_gateway::sandbox;
use kyso_tests::{Gateway, assert_error, spawn_app};
use serde_json::{Value, json};
use sha2::Digest as _;

/// The gateway's token-signing key, to craft tokens it must refuse for other reasons.
fn pem_of(settings: &Settings) -> String {
    use secrecy::ExposeSecret as _;
    settings
        .auth
        .signing_key_pem
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned()
}

/// Runs the openssl command line on `input` and returns what it prints.
fn openssl(args: &[&str], input: &str) -> String {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl is installed by scripts/test");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "openssl {args:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The public half (SPKI PEM) of a private key: what anyone can read from the JWKS.
fn public_pem_of(private_pem: &str) -> String {
    openssl(&["pkey", "-pubout"], private_pem)
}

/// A new P-256 private key, PKCS#8 PEM.
fn new_p256_key() -> String {
    kyso_gateway::services::auth::generate_signing_key_pem().unwrap()
}

/// The `kid` the gateway gives a key: its RFC 7638 thumbprint.
fn kid_of(pem: &str) -> String {
    let key = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
    Jwk::from_encoding_key(&key, Algorithm::ES256)
        .unwrap()
        .thumbprint(ThumbprintHash::SHA256)
        .unwrap()
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

/// The header the gateway itself writes: ES256, `at+jwt`, the key's `kid`.
fn header_for(pem: &str) -> Header {
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid_of(pem));
    header
}

fn es256_token_with(header: &Header, pem: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        header,
        claims,
        &EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn es256_token(pem: &str, claims: &Value) -> String {
    es256_token_with(&header_for(pem), pem, claims)
}

/// A token with an arbitrary header and claims and an empty or made-up signature.
fn unsigned_token(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Settings whose token keys are `keys`, the first signing.
fn with_keys(settings: &Settings, keys: &[&str]) -> Settings {
    let mut settings = settings.clone();
    settings.auth.signing_key_pem = None;
    settings.auth.signing_keys = keys
        .iter()
        .map(|pem| SigningKeySettings {
            pem: Some((*pem).into()),
            pem_file: None,
        })
        .collect();
    settings
}

/// The status of `GET /v1/providers` with `token` on the API at `api`.
async fn status_with(http: &reqwest::Client, api: &str, token: &str) -> u16 {
    http.get(format!("{api}/v1/providers"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Asserts `token` is refused with `401 invalid_token` and its challenge; returns the message.
async fn assert_refused(app: &kyso_tests::TestApp, token: &str, why: &str) -> String {
    let response = app.get("/v1/providers", token).await;
    assert_eq!(response.status(), 401, "{why}");
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\"",
        "{why}"
    );
    let body = assert_error(response, 401, "invalid_token").await;
    body["error"]["message"].as_str().unwrap().to_owned()
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
    let valid_claims = claims(issuer, audience, now() + 600);
    let kid = kid_of(&pem);
    let public_pem = public_pem_of(&pem);
    let good = es256_token(&pem, &valid_claims);
    // A control: the same construction with good claims is accepted, so each refusal below
    // is for the reason its case names.
    assert_eq!(app.get("/v1/providers", &good).await.status(), 200);

    let tampered = {
        let (rest, signature) = good.rsplit_once('.').unwrap();
        let (header, _) = rest.split_once('.').unwrap();
        let mut escalated = valid_claims.clone();
        escalated["sub"] = json!("another-portal");
        format!(
            "{header}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(escalated.to_string())
        )
    };
    let flipped_signature = {
        let (rest, signature) = good.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        bytes[10] ^= 1;
        format!("{rest}.{}", URL_SAFE_NO_PAD.encode(bytes))
    };
    let hs256_with_public_key = jsonwebtoken::encode(
        &Header {
            typ: Some("at+jwt".into()),
            kid: Some(kid.clone()),
            ..Header::new(Algorithm::HS256)
        },
        &valid_claims,
        &EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    let rs256 = {
        let rsa = openssl(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ],
            "",
        );
        jsonwebtoken::encode(
            &Header {
                typ: Some("at+jwt".into()),
                kid: Some(kid.clone()),
                ..Header::new(Algorithm::RS256)
            },
            &valid_claims,
            &EncodingKey::from_rsa_pem(rsa.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let other_key = new_p256_key();
    let with_claim = |name: &str, value: Value| {
        let mut claims = valid_claims.clone();
        claims[name] = value;
        es256_token(&pem, &claims)
    };
    let with_header = |edit: &dyn Fn(&mut Header)| {
        let mut header = header_for(&pem);
        edit(&mut header);
        es256_token_with(&header, &pem, &valid_claims)
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("tampered claims", tampered, "signature"),
        ("a flipped signature bit", flipped_signature, "signature"),
        // 30 s past `exp` was accepted when the leeway was 30 s.
        (
            "expired 30 s ago",
            with_claim("exp", json!(now() - 30)),
            "expired",
        ),
        (
            "expired long ago",
            with_claim("exp", json!(now() - 600)),
            "expired",
        ),
        (
            "nbf 60 s ahead",
            with_claim("nbf", json!(now() + 60)),
            "nbf",
        ),
        (
            "iat 60 s ahead",
            with_claim("iat", json!(now() + 60)),
            "iat",
        ),
        (
            "wrong audience",
            with_claim("aud", json!("another-api")),
            "audience",
        ),
        (
            "wrong issuer",
            with_claim("iss", json!("https://evil.example")),
            "issuer",
        ),
        (
            "a client not configured",
            with_claim("sub", json!("nobody")),
            "not configured",
        ),
        (
            "a crit header",
            with_header(&|header| header.crit = Some(vec!["exp".into()])),
            "crit",
        ),
        ("no kid", with_header(&|header| header.kid = None), "kid"),
        (
            "an unknown kid",
            with_header(&|header| header.kid = Some("not-a-key-of-ours".into())),
            "kid",
        ),
        (
            "another key under the gateway's kid",
            es256_token_with(&header_for(&pem), &other_key, &valid_claims),
            "signature",
        ),
        (
            "another key under its own kid",
            es256_token(&other_key, &valid_claims),
            "kid",
        ),
        (
            "alg none",
            unsigned_token(
                &json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
                &valid_claims,
                "",
            ),
            "ES256",
        ),
        (
            "HS256 keyed with the public key",
            hs256_with_public_key,
            "ES256",
        ),
        ("RS256", rs256, "ES256"),
        (
            "typ JWT",
            with_header(&|header| header.typ = Some("JWT".into())),
            "typ",
        ),
        ("garbage", "not-a-jwt".to_owned(), "malformed"),
    ];
    for (why, token, expected) in cases {
        let message = assert_refused(&app, &token, why).await;
        assert!(
            message.contains(expected),
            "{why}: {message:?} should mention {expected:?}"
        );
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
async fn clock_skew_within_the_leeway_is_tolerated() {
    let app = spawn_app().await;
    let pem = pem_of(&app.settings);
    let mut claims = claims(
        &app.settings.auth.issuer,
        &app.settings.auth.audience,
        now() - 2,
    );
    claims["iat"] = json!(now() + 2);
    claims["nbf"] = json!(now() + 2);
    let token = es256_token(&pem, &claims);
    assert_eq!(app.get("/v1/providers", &token).await.status(), 200);
}

#[tokio::test]
async fn tokens_of_a_removed_or_disabled_client_are_refused_at_once() {
    let app = spawn_app().await;
    let token = app.token().await;
    // The second portal every test gateway configures: it must keep working throughout.
    let other = app.other_token().await;
    // The same keys, the sandbox client no longer listed: a redeploy that removes it.
    let mut removed = app.settings.clone();
    removed
        .auth
        .clients
        .retain(|client| client.client_id != sandbox::CLIENT_ID);
    let removed = app.via(&Gateway::start(removed));
    let message = assert_refused(&removed, &token, "removed client").await;
    assert!(message.contains("not configured"), "{message}");
    assert_eq!(removed.get("/v1/providers", &other).await.status(), 200);
    // The same keys, the client disabled.
    let mut disabled = app.settings.clone();
    for client in &mut disabled.auth.clients {
        client.disabled = client.client_id == sandbox::CLIENT_ID;
    }
    let disabled = app.via(&Gateway::start(disabled));
    let message = assert_refused(&disabled, &token, "disabled client").await;
    assert!(message.contains("disabled"), "{message}");
    assert_eq!(disabled.get("/v1/providers", &other).await.status(), 200);
    let refused = disabled
        .http
        .post(format!("{}/v1/oauth/token", disabled.api))
        .basic_auth(sandbox::CLIENT_ID, Some(sandbox::CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_error(refused, 401, "invalid_client").await;
    // The instance that still lists the client still accepts its token.
    assert_eq!(app.get("/v1/providers", &token).await.status(), 200);
}

/// The rotation the configuration documents, across instances sharing nothing but their
/// configuration: the new key is listed second everywhere, then moved first.
#[tokio::test]
async fn keys_rotate_across_instances_without_refusing_issued_tokens() {
    let app = spawn_app().await;
    let old_key = pem_of(&app.settings);
    let new_key = new_p256_key();
    let old_token = app.token().await;

    // Step 1: the new key listed after the old one: published and accepted, not signing.
    let listed = app.via(&Gateway::start(with_keys(
        &app.settings,
        &[&old_key, &new_key],
    )));
    let jwks = jwks_of(&listed).await;
    let kids: Vec<_> = jwks
        .keys
        .iter()
        .map(|key| key.common.key_id.clone())
        .collect();
    assert_eq!(kids, [Some(kid_of(&old_key)), Some(kid_of(&new_key))]);
    let listed_token = listed.token().await;
    assert_eq!(
        kid_in(&listed_token),
        kid_of(&old_key),
        "the first key signs"
    );

    // Step 2: the new key first, the old one kept (as a public key: it only verifies).
    let old_public = public_pem_of(&old_key);
    let rotated = app.via(&Gateway::start(with_keys(
        &app.settings,
        &[&new_key, &old_public],
    )));
    let new_token = rotated.token().await;
    assert_eq!(kid_in(&new_token), kid_of(&new_key));
    for (gateway, token, why) in [
        (
            &rotated,
            &old_token,
            "an older listed key's token on the rotated instance",
        ),
        (
            &listed,
            &new_token,
            "a new token on an instance that lists the key",
        ),
        (&rotated, &new_token, "a new token on the rotated instance"),
    ] {
        assert_eq!(
            status_with(&gateway.http, &gateway.api, token).await,
            200,
            "{why}"
        );
    }
    // An instance that never listed the new key refuses its tokens: why step 1 comes first.
    let message = assert_refused(&app, &new_token, "a key not listed yet").await;
    assert!(message.contains("kid"), "{message}");

    // Step 3: the old key removed once its tokens have expired.
    let retired = app.via(&Gateway::start(with_keys(&app.settings, &[&new_key])));
    assert_eq!(
        status_with(&retired.http, &retired.api, &new_token).await,
        200
    );
    let message = assert_refused(&retired, &old_token, "a removed key").await;
    assert!(message.contains("kid"), "{message}");
}

/// The key set served at `/.well-known/jwks.json`, without a token.
async fn jwks_of(app: &kyso_tests::TestApp) -> JwkSet {
    let response = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cache_control = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cache_control.contains("public") && cache_control.contains("max-age=300"),
        "{cache_control}"
    );
    let body: Value = response.json().await.unwrap();
    for key in body["keys"].as_array().unwrap() {
        assert!(key.get("d").is_none(), "a private key is published: {key}");
    }
    serde_json::from_value(body).unwrap()
}

fn kid_in(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn jwks_verifies_an_issued_token() {
    let app = spawn_app().await;
    let token = app.token().await;
    let jwks = jwks_of(&app).await;
    assert_eq!(jwks.keys.len(), 1);
    let kid = kid_in(&token);
    let jwk = jwks.find(&kid).expect("the token's kid is in the JWKS");
    // The kid is the RFC 7638 thumbprint, recomputed here from the published coordinates.
    let point = serde_json::to_value(jwk).unwrap();
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#,
        point["x"], point["y"]
    );
    assert_eq!(point["crv"], "P-256");
    assert_eq!(point["alg"], "ES256");
    assert_eq!(point["use"], "sig");
    assert_eq!(
        kid,
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
    );
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[&app.settings.auth.issuer]);
    validation.set_audience(&[&app.settings.auth.audience]);
    let verified =
        jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap();
    assert_eq!(verified.claims["sub"], sandbox::CLIENT_ID);
    // And a token by another key does not verify with it.
    let forged = es256_token_with(
        &header_for(&pem_of(&app.settings)),
        &new_p256_key(),
        &verified.claims,
    );
    assert!(
        jsonwebtoken::decode::<Value>(&forged, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .is_err()
    );
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
