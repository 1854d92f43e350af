//! Admission limits over real sockets: a client's request rate, a citizen's signing
//! requests from every portal together, a client's pending transactions, shared between
//! instances (one memory store, one Redis); what happens when the store cannot count them;
//! and the text a citizen is shown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kyso_gateway::config::{AdmissionSettings, CitizenRateSettings, ClientRateSettings};
use kyso_gateway::services::validation::is_disguising_character;
use kyso_gateway::store::Store;
use kyso_gateway::store::memory::MemoryStore;
use kyso_tests::faulty_store::{FaultyStore, StoreFault};
use kyso_tests::redis_server::RedisServer;
use kyso_tests::{
    ECDSA_DER_CITIZEN, PSS_CITIZEN, RSA_CITIZEN, TestApp, TestConfig, assert_error, digest_of,
    sign_body, spawn_app_on, spawn_app_with,
};
use serde_json::Value;

/// Limits no test here reaches but the one it sets.
fn unlimited() -> AdmissionSettings {
    kyso_gateway::sandbox::unlimited_admission()
}

fn config_with(admission: AdmissionSettings) -> TestConfig {
    TestConfig {
        admission,
        ..TestConfig::default()
    }
}

/// The value of `kyso_rate_limited_total{limit="..."}` in a `/metrics` text.
fn rate_limited(metrics: &str, limit: &str) -> u64 {
    let series = format!("kyso_rate_limited_total{{limit=\"{limit}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{metrics}"))
}

/// The `Retry-After` of a response, in seconds.
fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After of whole seconds")
}

/// The signing requests the simulated CA received for `user_id`.
fn pushes_to(app: &TestApp, user_id: &str) -> usize {
    app.ca
        .transactions()
        .iter()
        .filter(|transaction| transaction.user_id == user_id)
        .count()
}

/// The `p`-th percentile (0-100) of `durations`, in milliseconds.
fn percentile_ms(durations: &[Duration], p: usize) -> f64 {
    let mut sorted = durations.to_vec();
    sorted.sort();
    let index = (sorted.len() * p / 100).min(sorted.len() - 1);
    sorted[index].as_secs_f64() * 1000.0
}

/// Sends `GET /v1/providers` as the holder of `token` every `pace`, `count` times; each
/// call's status and latency.
async fn paced_calls(
    app: &TestApp,
    token: &str,
    pace: Duration,
    count: usize,
) -> Vec<(u16, Duration)> {
    let mut results = Vec::with_capacity(count);
    let mut next = Instant::now();
    for _ in 0..count {
        tokio::time::sleep_until(next.into()).await;
        next += pace;
        let started = Instant::now();
        let status = app.get("/v1/providers", token).await.status().as_u16();
        results.push((status, started.elapsed()));
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flooding_client_gets_429_while_another_client_is_not_slowed() {
    let app = spawn_app_with(config_with(AdmissionSettings {
        per_client: ClientRateSettings {
            requests_per_second: 10,
            burst: 10,
        },
        ..unlimited()
    }))
    .await;
    let (flooder, other) = (app.token().await, app.other_token().await);
    // The other portal calls 8 times a second, under its own 10; first alone, then while
    // the first portal floods.
    let pace = Duration::from_millis(125);
    let alone = paced_calls(&app, &other, pace, 24).await;

    let flooding = Arc::new(AtomicBool::new(true));
    let started = Instant::now();
    let floods: Vec<_> = (0..8)
        .map(|_| {
            let (app, token, flooding) = (app.via(&app.gateway), flooder.clone(), flooding.clone());
            tokio::spawn(async move {
                let (mut admitted, mut refused) = (0, 0);
                while flooding.load(Ordering::SeqCst) {
                    let response = app.get("/v1/providers", &token).await;
                    match response.status().as_u16() {
                        200 => admitted += 1,
                        429 => {
                            assert!(retry_after(&response) >= 1);
                            assert_error(response, 429, "rate_limited").await;
                            refused += 1;
                        }
                        other => panic!("the flooder got {other}"),
                    }
                }
                (admitted, refused)
            })
        })
        .collect();
    let during = paced_calls(&app, &other, pace, 24).await;
    flooding.store(false, Ordering::SeqCst);
    let (mut admitted, mut refused) = (0u64, 0u64);
    for flood in floods {
        let (a, r) = flood.await.unwrap();
        admitted += a;
        refused += r;
    }
    let elapsed = started.elapsed().as_secs_f64();

    let latencies = |calls: &[(u16, Duration)]| -> Vec<Duration> {
        assert!(
            calls.iter().all(|(status, _)| *status == 200),
            "every call of the other portal succeeds: {calls:?}"
        );
        calls.iter().map(|(_, latency)| *latency).collect()
    };
    let (alone, during) = (latencies(&alone), latencies(&during));
    eprintln!(
        "other portal, 8/s: alone p50 {:.1} ms p90 {:.1} ms; during the flood p50 {:.1} ms p90 {:.1} ms, 100% success; \
         flooder: {admitted} admitted, {refused} refused in {elapsed:.2} s",
        percentile_ms(&alone, 50),
        percentile_ms(&alone, 90),
        percentile_ms(&during, 50),
        percentile_ms(&during, 90),
    );
    // The flooder gets its burst and its rate, nothing more.
    let allowed = 10.0 + 10.0 * elapsed + 2.0;
    assert!(
        (admitted as f64) <= allowed,
        "{admitted} admitted in {elapsed:.2} s"
    );
    assert!(refused > admitted, "the flood was mostly refused");
    // Generous: the other portal's latency stays that of a fast call.
    assert!(
        percentile_ms(&during, 90) < percentile_ms(&alone, 90) * 5.0 + 50.0,
        "the other portal was slowed down"
    );
    assert_eq!(rate_limited(&app.metrics().await, "client"), refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_flooded_from_two_portals_is_asked_at_most_the_limit() {
    let app = spawn_app_with(config_with(AdmissionSettings {
        per_citizen: CitizenRateSettings {
            max_requests: 3,
            window_secs: 600,
        },
        ..unlimited()
    }))
    .await;
    let tokens = [app.token().await, app.other_token().await];
    let attempts = (0..10).map(|n| {
        let (app, token) = (app.via(&app.gateway), tokens[n % 2].clone());
        tokio::spawn(async move {
            let body = sign_body(RSA_CITIZEN, &digest_of(&format!("flood-{n}")));
            let response = app
                .post_signature(&token, &format!("flood-{n}"), &body)
                .await;
            match response.status().as_u16() {
                202 => (true, n),
                _ => {
                    assert!(retry_after(&response) >= 1);
                    let error = assert_error(response, 429, "citizen_rate_limited").await;
                    assert!(
                        error["error"]["message"]
                            .as_str()
                            .unwrap()
                            .contains("from all portals"),
                        "{error}"
                    );
                    (false, n)
                }
            }
        })
    });
    let mut accepted = Vec::new();
    for attempt in attempts {
        let (created, n) = attempt.await.unwrap();
        if created {
            accepted.push(n);
        }
    }
    assert_eq!(accepted.len(), 3, "{accepted:?}");
    assert_eq!(
        pushes_to(&app, RSA_CITIZEN),
        3,
        "the CA was asked three times"
    );

    // A replay of an accepted request is not a new push, and is not refused.
    let n = accepted[0];
    let replay = app
        .post_signature(
            &tokens[n % 2],
            &format!("flood-{n}"),
            &sign_body(RSA_CITIZEN, &digest_of(&format!("flood-{n}"))),
        )
        .await;
    assert_eq!(replay.status(), 202);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    // Another citizen is not affected.
    app.create_transaction(&tokens[0], &sign_body(PSS_CITIZEN, &digest_of("other")))
        .await;
    assert_eq!(pushes_to(&app, RSA_CITIZEN), 3);
    assert_eq!(rate_limited(&app.metrics().await, "citizen"), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_ca_never_got_gives_the_citizen_slot_back() {
    let app = spawn_app_with(config_with(AdmissionSettings {
        per_citizen: CitizenRateSettings {
            max_requests: 1,
            window_secs: 600,
        },
        ..unlimited()
    }))
    .await;
    let token = app.token().await;
    // A certificate the citizen does not hold: refused before the CA is asked to sign.
    let mut body = sign_body(RSA_CITIZEN, &digest_of("unknown certificate"));
    body["certificate_id"] = Value::from("no-such-certificate");
    let response = app.post_signature(&token, "wrong-certificate", &body).await;
    assert_error(response, 404, "certificate_not_found").await;
    assert_eq!(pushes_to(&app, RSA_CITIZEN), 0);
    // The citizen's one request in the window is still there.
    app.create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("right")))
        .await;
    let response = app
        .post_signature(
            &token,
            "one-too-many",
            &sign_body(RSA_CITIZEN, &digest_of("x")),
        )
        .await;
    assert_error(response, 429, "citizen_rate_limited").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_at_its_pending_cap_is_refused_until_one_ends() {
    let app = spawn_app_with(config_with(AdmissionSettings {
        max_pending_per_client: 2,
        ..unlimited()
    }))
    .await;
    let (token, other) = (app.token().await, app.other_token().await);
    let first_body = sign_body(RSA_CITIZEN, &digest_of("first"));
    let first = app
        .post_signature(&token, "first", &first_body)
        .await
        .json::<Value>()
        .await
        .unwrap()["transaction_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app
        .create_transaction(&token, &sign_body(PSS_CITIZEN, &digest_of("second")))
        .await;

    let third_body = sign_body(ECDSA_DER_CITIZEN, &digest_of("third"));
    let refused = app.post_signature(&token, "third", &third_body).await;
    assert!(retry_after(&refused) >= 1);
    assert_error(refused, 429, "pending_limit_reached").await;
    assert_eq!(
        pushes_to(&app, ECDSA_DER_CITIZEN),
        0,
        "the CA was not asked"
    );
    // A replay is no new transaction; another portal has a cap of its own.
    let replay = app.post_signature(&token, "first", &first_body).await;
    assert_eq!(replay.status(), 202);
    app.create_transaction(&other, &sign_body(ECDSA_DER_CITIZEN, &digest_of("theirs")))
        .await;

    // Once one ends (cancelled here, signed there), the portal may create again.
    let cancelled: Value = app.cancel(&token, &first).await.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let retried = app.post_signature(&token, "third", &third_body).await;
    assert_eq!(retried.status(), 202, "the same request, retried");
    assert_error(
        app.post_signature(&token, "fourth", &sign_body(RSA_CITIZEN, &digest_of("4")))
            .await,
        429,
        "pending_limit_reached",
    )
    .await;
    app.ca.approve(&second).unwrap();
    assert_eq!(
        app.wait_until_final(&token, &second).await["status"],
        "signed"
    );
    app.create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("4")))
        .await;
    assert_eq!(rate_limited(&app.metrics().await, "pending"), 2);
}

/// Limits tight enough to reach through two instances: the other portal's rate (burst 6,
/// then one a second) and a citizen's requests (2 a window).
fn shared_limits() -> AdmissionSettings {
    AdmissionSettings {
        per_client: ClientRateSettings {
            requests_per_second: 1,
            burst: 6,
        },
        per_citizen: CitizenRateSettings {
            max_requests: 2,
            window_secs: 600,
        },
        ..unlimited()
    }
}

/// Each limit counts what either instance admitted.
async fn limits_are_shared(app: &TestApp, peer: &TestApp) {
    let other = app.other_token().await;
    for instance in [app, peer, app, peer, app, peer] {
        assert_eq!(instance.get("/v1/providers", &other).await.status(), 200);
    }
    for instance in [app, peer] {
        let response = instance.get("/v1/providers", &other).await;
        assert_error(response, 429, "rate_limited").await;
    }

    let token = app.token().await;
    app.create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("via a")))
        .await;
    peer.create_transaction(&token, &sign_body(RSA_CITIZEN, &digest_of("via b")))
        .await;
    for instance in [app, peer] {
        let body = sign_body(RSA_CITIZEN, &digest_of("a third"));
        let response = instance.post_signature(&token, "a-third", &body).await;
        assert_error(response, 429, "citizen_rate_limited").await;
    }
    assert_eq!(pushes_to(app, RSA_CITIZEN), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_shared_by_two_instances_on_one_memory_store() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let app = spawn_app_on(config_with(shared_limits()), store.clone()).await;
    let peer = app.via(&app.start_peer_on(store));
    limits_are_shared(&app, &peer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_shared_by_two_instances_on_one_redis() {
    let redis = RedisServer::start();
    let app = spawn_app_with(TestConfig {
        store: kyso_gateway::config::StoreSettings::Redis {
            url: redis.url().into(),
            key_prefix: format!("kyso-test-{}", uuid::Uuid::new_v4().simple()),
            timeout_ms: 500,
            tls_ca_pem_file: None,
        },
        ..config_with(shared_limits())
    })
    .await;
    let peer = app.via(&app.start_peer());
    limits_are_shared(&app, &peer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_rate_fails_open_and_the_citizen_limit_fails_closed() {
    let store = FaultyStore::new(Arc::new(MemoryStore::new()));
    let app = spawn_app_on(
        config_with(AdmissionSettings {
            per_client: ClientRateSettings {
                requests_per_second: 1,
                burst: 1,
            },
            max_pending_per_client: 1,
            ..unlimited()
        }),
        store.clone(),
    )
    .await;
    let token = app.token().await;
    assert_eq!(app.get("/v1/providers", &token).await.status(), 200);
    assert_error(app.get("/v1/providers", &token).await, 429, "rate_limited").await;

    // The rate cannot be counted: calls are admitted, the limit notwithstanding.
    store.fail_every("admit");
    for _ in 0..3 {
        assert_eq!(app.get("/v1/providers", &token).await.status(), 200);
    }
    // The citizen's requests cannot be counted (the second slot of a submission, after
    // the client's pending one): nobody is asked to sign.
    store.arm(Some("reserve_slot"), 2, StoreFault::FailBefore);
    let body = sign_body(RSA_CITIZEN, &digest_of("uncounted"));
    let response = app.post_signature(&token, "uncounted", &body).await;
    assert_error(response, 503, "store_unavailable").await;
    assert!(app.ca.transactions().is_empty(), "the CA was not asked");
    // The client's only pending slot was given back: the retry goes through.
    let retried = app.post_signature(&token, "uncounted", &body).await;
    assert_eq!(retried.status(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_that_could_disguise_what_the_citizen_signs_is_refused() {
    let app = spawn_app_with(config_with(unlimited())).await;
    let token = app.token().await;
    let cases = [
        (
            "/documents/0/name",
            "invoice\u{202E}fdp.exe",
            "documents[0].name",
        ),
        ("/documents/0/name", "a\u{0}b.pdf", "documents[0].name"),
        (
            "/description",
            "Ký hồ sơ\r\nDuyệt chuyển tiền",
            "description",
        ),
        ("/documents/0/id", "doc\u{200B}1", "documents[0].id"),
    ];
    for (n, (member, text, field)) in cases.into_iter().enumerate() {
        let mut body = sign_body(RSA_CITIZEN, &digest_of(&format!("text-{n}")));
        *body.pointer_mut(member).unwrap() = Value::from(text);
        let response = app
            .post_signature(&token, &format!("text-{n}"), &body)
            .await;
        let error = assert_error(response, 400, "invalid_text").await;
        assert!(
            error["error"]["message"].as_str().unwrap().contains(field),
            "{error}"
        );
    }
    assert!(app.ca.transactions().is_empty(), "nothing reached the CA");

    // Vietnamese, precomposed and decomposed (letters with combining marks), is text.
    let mut body = sign_body(RSA_CITIZEN, &digest_of("vietnamese"));
    body["documents"][0]["name"] = Value::from("Đơn đề nghị cấp giấy phép xây dựng.pdf");
    body["description"] = Value::from("Ky\u{301} đơn đe\u{302}\u{300} nghi\u{323}");
    app.create_transaction(&token, &body).await;
}

#[test]
fn the_spec_pattern_refuses_exactly_what_the_gateway_refuses() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/openapi.yaml");
    let spec: Value = serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let pattern = spec["components"]["schemas"]["CitizenText"]["pattern"]
        .as_str()
        .unwrap();
    let allowed = regex::Regex::new(pattern).unwrap();
    let disagreements: Vec<String> = (0..=0x10FFFF)
        .filter_map(char::from_u32)
        .filter(|character| {
            allowed.is_match(&character.to_string()) == is_disguising_character(*character)
        })
        .map(|character| format!("U+{:04X}", u32::from(character)))
        .collect();
    assert!(
        disagreements.is_empty(),
        "the spec's CitizenText pattern and the gateway disagree on {disagreements:?}"
    );
}
