//! The gateway's client of its time-stamping authority against the TSA simulator: a good
//! token comes back checked; a TSA that gives no usable answer and one that answers wrongly
//! are told apart (`timestamp_unavailable` and `timestamp_invalid` to portals); a TSA the
//! anchors do not vouch for is refused; `kyso_tsa_requests_total` counts every outcome.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::time::Duration;

use kyso_documents::timestamp::TimeStampError;
use kyso_gateway::config::TimeStampingSettings;
use kyso_gateway::documents::timestamping::{MAX_REPLY_BYTES, TimeStamper, TimeStampingError};
use kyso_gateway::metrics::Metrics;
use kyso_gateway::sandbox::TsaSimulator;
use kyso_sim_kit::TsaFault;
use kyso_tests::{TestApp, TestConfig, TsaControl, series_value, spawn_app_with};
use sha2::Digest as _;

/// What the gateway would have the TSA stamp: a SignerInfo's signature value.
const SIGNATURE_VALUE: &[u8] = b"the citizen's signature value";

async fn app_with_tsa() -> TestApp {
    spawn_app_with(TestConfig {
        time_stamping: true,
        ..TestConfig::default()
    })
    .await
}

fn tsa(app: &TestApp) -> &TsaControl {
    app.tsa.as_ref().expect("a TSA simulator")
}

/// The TSA settings the harness gave the gateway.
fn tsa_settings(app: &TestApp) -> TimeStampingSettings {
    app.settings
        .documents
        .time_stamping
        .clone()
        .expect("time-stamping configured")
}

/// A time-stamper built from `settings`, with metrics of its own.
fn time_stamper(settings: &TimeStampingSettings) -> (TimeStamper, Metrics) {
    let metrics = Metrics::new().unwrap();
    let stamper = TimeStamper::from_settings(settings, metrics.clone()).expect("a time-stamper");
    (stamper, metrics)
}

/// `kyso_tsa_requests_total` by outcome: `[ok, unavailable, invalid]`.
fn outcomes(metrics: &Metrics) -> [f64; 3] {
    let text = metrics.render().unwrap();
    ["ok", "unavailable", "invalid"].map(|outcome| {
        series_value(
            &text,
            &format!("kyso_tsa_requests_total{{outcome=\"{outcome}\"}}"),
        )
    })
}

/// Adds one to `counts` at `index`: the outcome a request should have counted.
fn plus_one(mut counts: [f64; 3], index: usize) -> [f64; 3] {
    counts[index] += 1.0;
    counts
}

/// Whether an error is the one a case expects.
type ErrorCheck = fn(&TimeStampingError) -> bool;
/// Whether a refusal is the one a fault should cause.
type RefusalCheck = fn(&TimeStampError) -> bool;

const OK: usize = 0;
const UNAVAILABLE: usize = 1;
const INVALID: usize = 2;

/// A server on a free loopback port that reads each request whole, then answers `answer`
/// (status line, head and body) and closes: a TSA, or what stands in front of one, that
/// answers something other than a time-stamp reply. Its URL.
fn canned_server(answer: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(&stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(&answer);
        }
    });
    format!("http://{addr}/tsr")
}

/// An HTTP 200 answer of `content_type` (none if `None`) with `body`.
fn ok_answer(content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let content_type = content_type
        .map(|value| format!("content-type: {value}\r\n"))
        .unwrap_or_default();
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\n{content_type}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body);
    answer
}

#[tokio::test]
async fn the_tsa_grants_a_token_over_the_signature_that_checks_out() {
    let app = app_with_tsa().await;
    let (stamper, metrics) = time_stamper(&tsa_settings(&app));

    let token = stamper.stamp(SIGNATURE_VALUE).await.expect("a token");
    token.verify_signature().expect("signed by the TSA");
    token
        .check_imprint(&sha2::Sha256::digest(SIGNATURE_VALUE).into())
        .expect("over the signature value");
    token
        .check_trust(stamper.anchors())
        .expect("the TSA chains to the anchors");
    assert!(
        token
            .check_imprint(&sha2::Sha256::digest(b"another signature").into())
            .is_err()
    );
    assert!(
        (time::OffsetDateTime::now_utc() - token.gen_time()).abs() < time::Duration::minutes(1)
    );

    assert_eq!(tsa(&app).requests_received(), 1);
    assert_eq!(outcomes(&metrics), [1.0, 0.0, 0.0]);
    let text = metrics.render().unwrap();
    assert_eq!(
        series_value(&text, "kyso_tsa_request_duration_seconds_count"),
        1.0
    );
}

#[tokio::test]
async fn a_tsa_that_gives_no_usable_answer_is_unavailable() {
    let app = app_with_tsa().await;
    let settings = tsa_settings(&app);
    let (stamper, metrics) = time_stamper(&settings);
    let tsa = tsa(&app);
    let mut counts = outcomes(&metrics);

    for status in [500, 503, 404] {
        tsa.fail_next(TsaFault::Status { status });
        let error = stamper.stamp(SIGNATURE_VALUE).await.unwrap_err();
        assert!(
            matches!(error, TimeStampingError::HttpStatus(s) if s == status),
            "{error:?}"
        );
        assert!(error.is_unavailable());
        counts = plus_one(counts, UNAVAILABLE);
        assert_eq!(outcomes(&metrics), counts);
    }

    // Slower than the timeout.
    let impatient = TimeStampingSettings {
        timeout_ms: 300,
        ..settings.clone()
    };
    let (impatient, impatient_metrics) = time_stamper(&impatient);
    tsa.fail_next(TsaFault::Hang { millis: 3000 });
    let error = impatient.stamp(SIGNATURE_VALUE).await.unwrap_err();
    assert!(
        matches!(error, TimeStampingError::TimedOut(timeout) if timeout == Duration::from_millis(300)),
        "{error:?}"
    );
    assert!(error.is_unavailable());
    assert_eq!(outcomes(&impatient_metrics), [0.0, 1.0, 0.0]);

    // Down: nothing listens on port 1.
    let (down, down_metrics) = time_stamper(&TimeStampingSettings {
        url: "http://127.0.0.1:1/tsa".to_owned(),
        ..settings.clone()
    });
    let error = down.stamp(SIGNATURE_VALUE).await.unwrap_err();
    assert!(
        matches!(error, TimeStampingError::Unreachable(_)),
        "{error:?}"
    );
    assert!(error.is_unavailable());
    assert_eq!(outcomes(&down_metrics), [0.0, 1.0, 0.0]);

    // Something in front of the TSA answers 200 with its own page, or without a type, or
    // more than a reply can be.
    let html = ok_answer(
        Some("text/html; charset=utf-8"),
        b"<html>maintenance</html>",
    );
    let untyped = ok_answer(None, b"0\x82");
    let oversized = ok_answer(
        Some("application/timestamp-reply"),
        &vec![0x30; MAX_REPLY_BYTES + 1],
    );
    let cases: [(Vec<u8>, ErrorCheck); 3] = [
        (
            html,
            |e| matches!(e, TimeStampingError::NotAReply(Some(t)) if t.starts_with("text/html")),
        ),
        (untyped, |e| matches!(e, TimeStampingError::NotAReply(None))),
        (oversized, |e| {
            matches!(e, TimeStampingError::UnreadableReply(_))
        }),
    ];
    for (body, expected) in cases {
        let (front, front_metrics) = time_stamper(&TimeStampingSettings {
            url: canned_server(body),
            ..settings.clone()
        });
        let error = front.stamp(SIGNATURE_VALUE).await.unwrap_err();
        assert!(expected(&error), "{error:?}");
        assert!(error.is_unavailable());
        assert_eq!(outcomes(&front_metrics), [0.0, 1.0, 0.0]);
    }

    // The faults were one-shot: the TSA answers again.
    assert!(stamper.stamp(SIGNATURE_VALUE).await.is_ok());
    assert_eq!(outcomes(&metrics), plus_one(counts, OK));
}

#[tokio::test]
async fn a_tsa_that_answers_wrongly_is_invalid() {
    let app = app_with_tsa().await;
    let (stamper, metrics) = time_stamper(&tsa_settings(&app));
    let tsa = tsa(&app);
    let mut counts = outcomes(&metrics);

    let cases: [(TsaFault, RefusalCheck); 6] = [
        (TsaFault::Garbage, |e| {
            matches!(e, TimeStampError::Garbage(_))
        }),
        (TsaFault::Rejection, |e| {
            matches!(e, TimeStampError::Rejected { .. })
        }),
        (TsaFault::WrongImprint, |e| {
            matches!(e, TimeStampError::WrongImprint)
        }),
        (TsaFault::WrongNonce, |e| {
            matches!(e, TimeStampError::WrongNonce)
        }),
        (TsaFault::UntrustedSigner, |e| {
            matches!(e, TimeStampError::UntrustedTsa(_))
        }),
        (TsaFault::CorruptSignature, |e| {
            matches!(e, TimeStampError::BadSignature(_))
        }),
    ];
    for (fault, expected) in cases {
        tsa.fail_next(fault);
        let error = stamper.stamp(SIGNATURE_VALUE).await.unwrap_err();
        let TimeStampingError::Refused(refusal) = &error else {
            panic!("{fault:?}: {error:?}");
        };
        assert!(expected(refusal), "{fault:?}: {refusal:?}");
        assert!(!error.is_unavailable(), "{fault:?}");
        counts = plus_one(counts, INVALID);
        assert_eq!(outcomes(&metrics), counts, "{fault:?}");

        // One-shot: the next request gets a good token.
        assert!(stamper.stamp(SIGNATURE_VALUE).await.is_ok(), "{fault:?}");
        counts = plus_one(counts, OK);
    }
    assert_eq!(tsa.requests_received(), 12);
    assert_eq!(outcomes(&metrics), counts);
}

#[tokio::test]
async fn a_tsa_whose_root_is_not_among_the_anchors_is_refused() {
    let app = app_with_tsa().await;
    let other = TsaSimulator::start("Other TSA").await.unwrap();
    // The harness's TSA, trusted through the other TSA's root.
    let (stamper, metrics) = time_stamper(&TimeStampingSettings {
        url: tsa(&app).url(),
        ..other.settings()
    });
    let error = stamper.stamp(SIGNATURE_VALUE).await.unwrap_err();
    assert!(
        matches!(
            error,
            TimeStampingError::Refused(TimeStampError::UntrustedTsa(_))
        ),
        "{error:?}"
    );
    assert!(!error.is_unavailable());
    assert_eq!(outcomes(&metrics), [0.0, 0.0, 1.0]);
    // The other TSA is fine under its own root: the refusal is the anchors'.
    let (own, _) = time_stamper(&other.settings());
    assert!(own.stamp(SIGNATURE_VALUE).await.is_ok());
    other.stop().await;
}
