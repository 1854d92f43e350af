//! A failing CA is isolated: with one CA hanging, its circuit breaker opens and its requests
//! fail at once while another CA's latency does not move; the breaker probes and closes when
//! the CA is back; a slow CA gets at most its call slots; retries recover a transient
//! failure but stay within their budget when the CA keeps failing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kyso_gateway::config::{BreakerSettings, ResilienceSettings, RetrySettings};
use kyso_sim_vnpt::Fault;
use kyso_tests::{RSA_CITIZEN, TestApp, TestConfig, assert_error, series_value, spawn_app_with};
use serde_json::Value;

/// A gateway with providers `vnpt` and `second`, each on its own simulator.
async fn two_cas(request_timeout_ms: u64, resilience: ResilienceSettings) -> TestApp {
    spawn_app_with(TestConfig {
        second_provider: true,
        request_timeout_ms,
        resilience,
        ..TestConfig::default()
    })
    .await
}

fn no_retries() -> RetrySettings {
    RetrySettings {
        max_retries: 0,
        ..RetrySettings::default()
    }
}

/// A breaker over a 10 s window that opens on half of `minimum_calls` failing, for
/// `open_secs`, closing after `half_open_probes` successes; no retries.
fn opening_without_retries(
    minimum_calls: u32,
    open_secs: u64,
    half_open_probes: u32,
) -> ResilienceSettings {
    ResilienceSettings {
        breaker: BreakerSettings {
            window_secs: 10,
            minimum_calls,
            failure_rate_percent: 50,
            open_secs,
            half_open_probes,
        },
        retries: no_retries(),
        ..ResilienceSettings::default()
    }
}

/// A breaker no test here fills the window of.
fn never_opening() -> BreakerSettings {
    BreakerSettings {
        minimum_calls: 1000,
        ..BreakerSettings::default()
    }
}

async fn lookup(app: &TestApp, token: &str, provider: &str) -> reqwest::Response {
    app.get(
        &format!("/v1/certificates?user_id={RSA_CITIZEN}&provider={provider}"),
        token,
    )
    .await
}

/// Times `count` successful lookups at `provider`, one after another; sorted.
async fn timed_lookups(app: &TestApp, token: &str, provider: &str, count: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let response = lookup(app, token, provider).await;
        assert_eq!(response.status(), 200, "lookup at {provider}");
        times.push(started.elapsed());
    }
    times.sort();
    times
}

/// `status` and `circuit` of one provider in `GET /v1/providers`.
async fn provider_state(app: &TestApp, token: &str, id: &str) -> (String, String) {
    let providers: Value = app.get("/v1/providers", token).await.json().await.unwrap();
    let provider = providers["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|provider| provider["id"] == id)
        .unwrap_or_else(|| panic!("{id} listed: {providers}"));
    (
        provider["status"].as_str().unwrap().to_owned(),
        provider["circuit"].as_str().unwrap().to_owned(),
    )
}

fn second_ca(app: &TestApp) -> &kyso_sim_vnpt::SimControl {
    app.second_ca.as_ref().expect("a second provider")
}

#[tokio::test]
async fn a_hanging_ca_opens_its_breaker_fails_fast_and_leaves_the_other_ca_untouched() {
    let app = two_cas(300, opening_without_retries(5, 60, 1)).await;
    let token = app.token().await;
    // Warm both paths (sessions at both CAs), then the other CA's latency on its own.
    timed_lookups(&app, &token, "second", 3).await;
    let before = timed_lookups(&app, &token, "vnpt", 40).await;

    // The second CA hangs: every call to it would wait for the 300 ms timeout.
    second_ca(&app).set_delay(Duration::from_secs(5));
    let stop = Arc::new(AtomicBool::new(false));
    let failed_calls = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (app, token) = (app.via(&app.gateway), token.clone());
        let (stop, failed_calls) = (stop.clone(), failed_calls.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let response = lookup(&app, &token, "second").await;
                assert!(response.status().is_server_error(), "{}", response.status());
                failed_calls.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    // The other CA's latency while the second CA hangs, then while its breaker is open.
    let mut during = Vec::new();
    let load_ends = Instant::now() + Duration::from_secs(2);
    while Instant::now() < load_ends {
        during.extend(timed_lookups(&app, &token, "vnpt", 1).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    during.sort();
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }

    let (median_before, median_during) = (before[before.len() / 2], during[during.len() / 2]);
    eprintln!(
        "other CA's lookup median: {median_before:?} alone, {median_during:?} with the second CA hanging ({} samples)",
        during.len()
    );
    assert!(
        median_during <= median_before * 3 + Duration::from_millis(20),
        "the other CA slowed down: median {median_before:?} before, {median_during:?} while the second CA hung"
    );
    let calls_reaching_the_ca = second_ca(&app).requests().len();
    let failed = failed_calls.load(Ordering::Relaxed);
    assert!(
        failed > 100 && calls_reaching_the_ca < 25,
        "{failed} failed lookups, {calls_reaching_the_ca} calls reached the hanging CA: the breaker should have stopped them"
    );

    // Open: refused at once, with a Retry-After, without reaching the CA.
    let started = Instant::now();
    let response = lookup(&app, &token, "second").await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_error(response, 503, "provider_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(second_ca(&app).requests().len(), calls_reaching_the_ca);
    assert_eq!(
        provider_state(&app, &token, "second").await,
        ("unavailable".to_owned(), "open".to_owned())
    );
    assert_eq!(
        provider_state(&app, &token, "vnpt").await,
        ("available".to_owned(), "closed".to_owned())
    );
    let metrics = app.metrics().await;
    assert_eq!(
        series_value(&metrics, "kyso_provider_circuit_state{provider=\"second\"}"),
        2.0
    );
    assert_eq!(
        series_value(&metrics, "kyso_provider_circuit_state{provider=\"vnpt\"}"),
        0.0
    );
    let short_circuited = series_value(
        &metrics,
        "kyso_provider_short_circuited_total{provider=\"second\",reason=\"open\"}",
    );
    assert!(short_circuited >= 30.0, "{short_circuited}");
}

#[tokio::test]
async fn the_breaker_probes_after_its_open_period_reopens_on_failure_and_closes_once_the_ca_is_back()
 {
    let app = two_cas(200, opening_without_retries(4, 1, 2)).await;
    let token = app.token().await;
    timed_lookups(&app, &token, "second", 1).await;
    second_ca(&app).set_delay(Duration::from_secs(2));
    // One success and three failures in the window: 75% of 4 calls opens it.
    for _ in 0..3 {
        assert_error(lookup(&app, &token, "second").await, 504, "ca_timeout").await;
    }
    assert_error(
        lookup(&app, &token, "second").await,
        503,
        "provider_unavailable",
    )
    .await;

    // After the open period a probe goes through; the CA still hangs, so it opens again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(provider_state(&app, &token, "second").await.1, "half_open");
    assert_error(lookup(&app, &token, "second").await, 504, "ca_timeout").await;
    assert_error(
        lookup(&app, &token, "second").await,
        503,
        "provider_unavailable",
    )
    .await;

    // The CA is back: two successful probes close the breaker.
    second_ca(&app).set_delay(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    timed_lookups(&app, &token, "second", 1).await;
    assert_eq!(provider_state(&app, &token, "second").await.1, "half_open");
    timed_lookups(&app, &token, "second", 1).await;
    assert_eq!(
        provider_state(&app, &token, "second").await,
        ("available".to_owned(), "closed".to_owned())
    );
    timed_lookups(&app, &token, "second", 5).await;
}

#[tokio::test]
async fn a_slow_ca_gets_at_most_its_call_slots_and_the_rest_fail_fast_as_busy() {
    let app = two_cas(
        2500,
        ResilienceSettings {
            breaker: never_opening(),
            retries: no_retries(),
            max_concurrent_calls: 2,
            queue_timeout_ms: 100,
        },
    )
    .await;
    let token = app.token().await;
    timed_lookups(&app, &token, "second", 1).await;
    second_ca(&app).set_delay(Duration::from_millis(1500));
    let calls_before = second_ca(&app).requests().len();

    let mut lookups = Vec::new();
    for _ in 0..6 {
        let (app, token) = (app.via(&app.gateway), token.clone());
        lookups.push(tokio::spawn(async move {
            let started = Instant::now();
            let status = lookup(&app, &token, "second").await.status().as_u16();
            (status, started.elapsed())
        }));
    }
    let mut answered = Vec::new();
    for lookup in lookups {
        answered.push(lookup.await.unwrap());
    }
    let succeeded = answered.iter().filter(|(status, _)| *status == 200).count();
    let busy: Vec<Duration> = answered
        .iter()
        .filter(|(status, _)| *status == 503)
        .map(|(_, elapsed)| *elapsed)
        .collect();
    assert_eq!((succeeded, busy.len()), (2, 4), "{answered:?}");
    assert!(
        busy.iter()
            .all(|elapsed| *elapsed < Duration::from_millis(1000)),
        "busy answers waited for the CA: {busy:?}"
    );
    assert_eq!(second_ca(&app).requests().len() - calls_before, 2);
    let busy_counted = series_value(
        &app.metrics().await,
        "kyso_provider_short_circuited_total{provider=\"second\",reason=\"busy\"}",
    );
    assert_eq!(busy_counted, 4.0);

    second_ca(&app).set_delay(Duration::from_secs(2));
    let response = lookup(&app, &token, "vnpt").await;
    assert_eq!(response.status(), 200, "the other CA has slots of its own");
}

#[tokio::test]
async fn retries_recover_a_transient_failure_but_stay_within_their_budget() {
    // One 503 from the CA: the lookup is retried once and succeeds.
    let app = spawn_app_with(TestConfig::default()).await;
    let token = app.token().await;
    timed_lookups(&app, &token, "vnpt", 1).await;
    let calls_before = app.ca.requests().len();
    app.ca.fail_next(Fault::Status(503));
    timed_lookups(&app, &token, "vnpt", 1).await;
    assert_eq!(app.ca.requests().len() - calls_before, 2);

    // A CA that keeps failing: retries stay within 10% of the calls (no floor).
    let app = two_cas(
        100,
        ResilienceSettings {
            breaker: never_opening(),
            retries: RetrySettings {
                max_retries: 1,
                budget_percent: 10,
                min_per_second: 0,
                backoff_ms: 1,
            },
            ..ResilienceSettings::default()
        },
    )
    .await;
    let token = app.token().await;
    timed_lookups(&app, &token, "second", 1).await;
    let calls_before = second_ca(&app).requests().len();
    second_ca(&app).set_delay(Duration::from_millis(400));
    let lookups = 40;
    for _ in 0..lookups {
        assert_error(lookup(&app, &token, "second").await, 504, "ca_timeout").await;
    }
    let calls = second_ca(&app).requests().len() - calls_before;
    assert!(
        (lookups..=lookups + lookups / 10 + 2).contains(&calls),
        "{calls} calls reached the CA for {lookups} lookups"
    );
}
