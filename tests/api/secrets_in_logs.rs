//! Secrets never reach the logs. A gateway process logging everything (`RUST_LOG=trace`,
//! every dependency included) goes through a realistic flow: tokens by HTTP Basic and by
//! form, certificates, a signing followed to its end, a cancellation, a tampered token and a
//! wrong secret. Its whole log is then searched for every configured secret (the client
//! secret and its hash, the CA's `sp_password`, the token-signing key), the wrong secret and
//! every token it issued or was shown.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kyso_gateway::sandbox;
use kyso_sim_vnpt::{Behaviour, CitizenSpec, SignatureScheme, SimConfig};
use kyso_tests::gateway_process::{GatewayConfig, GatewayProcess, SharedRedis};
use kyso_tests::redis_server::{RedisServer, scratch_dir};
use kyso_tests::{
    RSA_CITIZEN, assert_error, create_transaction_at, digest_of, sign_body, wait_until_final,
};
use serde_json::Value;

const PROGRAM: &str = env!("CARGO_BIN_EXE_kyso-test-gateway");

/// A token from the gateway at `api`, the credentials sent with HTTP Basic or in the form.
async fn token(http: &reqwest::Client, api: &str, basic: bool) -> String {
    let request = http.post(format!("{api}/v1/oauth/token"));
    let request = if basic {
        request
            .basic_auth(sandbox::CLIENT_ID, Some(sandbox::CLIENT_SECRET))
            .form(&[("grant_type", "client_credentials")])
    } else {
        request.form(&[
            ("grant_type", "client_credentials"),
            ("client_id", sandbox::CLIENT_ID),
            ("client_secret", sandbox::CLIENT_SECRET),
        ])
    };
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// The lines of a PEM's base64 body.
fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|line| !line.starts_with("-----") && !line.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn no_secret_or_token_reaches_the_log_even_at_trace_level() {
    let redis = RedisServer::start();
    let sp_id = "kyso-log-test-sp".to_owned();
    let sp_password = format!("sp-password-{}", uuid::Uuid::new_v4().simple());
    let sim = kyso_sim_vnpt::spawn(SimConfig {
        sp_id: sp_id.clone(),
        sp_password: sp_password.clone(),
        citizens: vec![CitizenSpec::new(
            RSA_CITIZEN,
            "Nguyễn Văn An",
            SignatureScheme::RsaPkcs1v15,
            Behaviour::Manual,
        )],
        transaction_ttl: Duration::from_secs(300),
    })
    .await
    .expect("simulator starts");
    let dir = scratch_dir("log-secrecy");
    let config_path = dir.join("gateway.yaml");
    GatewayConfig {
        redis: SharedRedis::Server(redis.url()),
        key_prefix: format!("kyso-logs-{}", uuid::Uuid::new_v4().simple()),
        ca_base_url: sim.base_url(),
        ca_root_pem: sim.root_certificate_pem(),
        sp_id,
        sp_password: sp_password.clone(),
        confirmation_timeout_secs: 60,
        ca_request_ms: 2000,
        follow_lease_ms: 5000,
        sweep_interval_ms: 300,
        poll_initial_ms: 50,
        poll_max_ms: 300,
    }
    .write(&config_path);
    let written: Value =
        serde_norway::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    let signing_key = written["auth"]["signing_key_pem"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret_hash = written["auth"]["clients"][0]["secret_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut gateway =
        GatewayProcess::start_logging(Path::new(PROGRAM), &config_path, &dir, "gw", "trace").await;
    let (http, api) = (reqwest::Client::new(), gateway.api.clone());

    // The flow, with every token kept to search for.
    let mut tokens = vec![
        token(&http, &api, true).await,
        token(&http, &api, false).await,
    ];
    let bearer = tokens[0].clone();
    let get = |path: String| http.get(format!("{api}{path}")).bearer_auth(&bearer).send();
    assert_eq!(get("/v1/providers".into()).await.unwrap().status(), 200);
    let certificates = get(format!(
        "/v1/certificates?user_id={RSA_CITIZEN}&provider=vnpt"
    ))
    .await
    .unwrap();
    assert_eq!(certificates.status(), 200);
    let signed = create_transaction_at(
        &http,
        &api,
        &bearer,
        &sign_body(RSA_CITIZEN, &digest_of("hồ sơ 1")),
    )
    .await;
    sim.control().approve(&signed).unwrap();
    let done = wait_until_final(&http, &api, &tokens[1], &signed).await;
    assert_eq!(done["status"], "signed", "{done}");
    let cancelled = create_transaction_at(
        &http,
        &api,
        &bearer,
        &sign_body(RSA_CITIZEN, &digest_of("hồ sơ 2")),
    )
    .await;
    let cancel = http
        .post(format!("{api}/v1/signatures/{cancelled}/cancel"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 200);
    let tampered = {
        let (rest, signature) = bearer.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        bytes[0] ^= 1;
        format!("{rest}.{}", URL_SAFE_NO_PAD.encode(bytes))
    };
    let refused = http
        .get(format!("{api}/v1/providers"))
        .bearer_auth(&tampered)
        .send()
        .await
        .unwrap();
    assert_error(refused, 401, "invalid_token").await;
    tokens.push(tampered);
    let wrong_secret = format!("wrong-secret-{}", uuid::Uuid::new_v4().simple());
    let refused = http
        .post(format!("{api}/v1/oauth/token"))
        .basic_auth(sandbox::CLIENT_ID, Some(&wrong_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_error(refused, 401, "invalid_client").await;
    let jwks = http
        .get(format!("{api}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);
    assert!(
        gateway.terminate(Duration::from_secs(25)).await.is_some(),
        "the gateway stops on SIGTERM"
    );

    let log = std::fs::read_to_string(&gateway.log).unwrap();
    // Controls: the log is the whole run, at TRACE, so the searches below can find things.
    for (what, expected) in [
        ("TRACE events", "\"level\":\"TRACE\""),
        ("the signed transaction", signed.as_str()),
        ("the cancelled transaction", cancelled.as_str()),
        ("the issued tokens' client", sandbox::CLIENT_ID),
        ("the issued tokens", "access token issued"),
        ("the refused token", "bearer token refused"),
        ("the wrong secret's refusal", "wrong secret"),
        ("the refused token's request", "\"status\":401"),
    ] {
        assert!(
            log.contains(expected),
            "the log lacks {what}: {}",
            gateway.log.display()
        );
    }
    let mut secrets: Vec<(String, String)> = vec![
        ("the client secret".into(), sandbox::CLIENT_SECRET.into()),
        ("the wrong client secret".into(), wrong_secret),
        (
            "the Basic credentials".into(),
            STANDARD.encode(format!("{}:{}", sandbox::CLIENT_ID, sandbox::CLIENT_SECRET)),
        ),
        ("the client secret's hash".into(), secret_hash.clone()),
        (
            "the client secret hash's output".into(),
            secret_hash.rsplit('$').next().unwrap().to_owned(),
        ),
        ("the CA's sp_password".into(), sp_password),
    ];
    for line in pem_body_lines(&signing_key) {
        secrets.push(("a line of the token-signing key".into(), line));
    }
    for token in &tokens {
        secrets.push(("a token".into(), token.clone()));
        let signature = token.rsplit('.').next().unwrap().to_owned();
        secrets.push(("a token's signature".into(), signature));
    }
    for (what, secret) in secrets {
        assert!(secret.len() >= 16, "{what} is too short to search for");
        assert!(
            !log.contains(&secret),
            "{what} appears in the log {}",
            gateway.log.display()
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
