//! The MISA adapter against its simulator, beyond the shared conformance suite: logins that
//! cannot succeed, certificates that cannot sign, MISA's id and name limits, references, and
//! the whole-call time bound.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use kyso_adapter_core::{
    AdapterError, CaAdapter, CaSession, DocumentDigest, HashAlgorithm, SignOutcome, SignRequest,
};
use kyso_adapter_misa::{MisaKind, MisaSettings};
use kyso_adapter_testkit::build_adapter;
use kyso_sim_misa::{Behaviour, CitizenSpec, SimConfig, SimHandle};
use sha2::Digest as _;

const AN: &str = "001099000001";
const BINH: &str = "001099000002";
const HOA: &str = "001099000006";
const TIMEOUT: Duration = Duration::from_secs(1);

fn config() -> SimConfig {
    SimConfig {
        client_id: "client".into(),
        client_key: "client-key".into(),
        username: "integrator".into(),
        password: "integrator-password".into(),
        otp_code: None,
        citizens: vec![
            CitizenSpec::new(AN, "Nguyễn Văn An", Behaviour::ApproveAfter(Duration::ZERO)),
            CitizenSpec::new(BINH, "Trần Thị Bình", Behaviour::Manual),
            CitizenSpec::new(HOA, "Đặng Thị Hoa", Behaviour::ApproveAfter(Duration::ZERO))
                .with_inactive_key(),
        ],
        token_lifetime: Duration::from_secs(1800),
        transaction_ttl: Duration::from_secs(300),
    }
}

fn settings(sim: &SimHandle) -> MisaSettings {
    MisaSettings {
        base_url: format!("{}/", sim.base_url()),
        auth_base_url: None,
        client_id: "client".into(),
        client_key: "client-key".to_owned().into(),
        username: "integrator".into(),
        password: "integrator-password".to_owned().into(),
    }
}

fn adapter(settings: MisaSettings) -> Arc<dyn CaAdapter> {
    build_adapter::<MisaKind>(settings, TIMEOUT)
}

async fn started() -> (SimHandle, Arc<dyn CaAdapter>, CaSession) {
    let sim = kyso_sim_misa::spawn(config()).await.unwrap();
    let adapter = adapter(settings(&sim));
    let session = adapter.open_session().await.unwrap();
    (sim, adapter, session)
}

fn request(user_id: &str, certificate_id: &str, ids: &[String]) -> SignRequest {
    SignRequest {
        transaction_id: "kyso-tx-1".into(),
        user_id: user_id.into(),
        certificate_id: certificate_id.into(),
        hash_algorithm: HashAlgorithm::Sha256,
        documents: ids
            .iter()
            .map(|id| DocumentDigest {
                id: id.clone(),
                name: format!("{}.pdf", "Tờ khai ".repeat(20)),
                digest: sha2::Sha256::digest(id.as_bytes()).to_vec(),
            })
            .collect(),
        description: "Ký <hồ sơ> & nộp".into(),
    }
}

async fn certificate_id(
    adapter: &Arc<dyn CaAdapter>,
    session: &CaSession,
    user_id: &str,
) -> String {
    let certificates = adapter.certificates(Some(session), user_id).await.unwrap();
    assert_eq!(certificates.len(), 1);
    certificates[0].certificate_id.clone()
}

async fn poll_to_the_end(
    adapter: &Arc<dyn CaAdapter>,
    session: &CaSession,
    outcome: SignOutcome,
) -> SignOutcome {
    let mut outcome = outcome;
    let deadline = Instant::now() + Duration::from_secs(5);
    while let SignOutcome::Pending { ca_reference } = &outcome {
        assert!(Instant::now() < deadline, "still pending");
        tokio::time::sleep(Duration::from_millis(20)).await;
        outcome = adapter.poll(Some(session), ca_reference).await.unwrap();
    }
    outcome
}

#[tokio::test]
async fn session_lasts_as_long_as_misa_says() {
    let (_sim, adapter, session) = started().await;
    assert!(adapter.needs_session());
    assert_eq!(session.expires_in_secs, 1800);
    assert!(!format!("{session:?}").contains(&session.token));
}

#[tokio::test]
async fn logins_that_cannot_succeed_are_authentication_failures() {
    let sim = kyso_sim_misa::spawn(config()).await.unwrap();

    let mut wrong_password = settings(&sim);
    wrong_password.password = "nope".to_owned().into();
    let mut wrong_key = settings(&sim);
    wrong_key.client_key = "nope".to_owned().into();
    for settings in [wrong_password, wrong_key] {
        let error = adapter(settings).open_session().await.unwrap_err();
        assert!(
            matches!(error, AdapterError::AuthenticationFailed),
            "{error}"
        );
    }

    let mut two_factor = config();
    two_factor.otp_code = Some("123456".into());
    let sim_2fa = kyso_sim_misa::spawn(two_factor).await.unwrap();
    let error = adapter(settings(&sim_2fa))
        .open_session()
        .await
        .unwrap_err();
    assert!(
        matches!(error, AdapterError::AuthenticationFailed),
        "{error}"
    );
}

#[tokio::test]
async fn login_follows_the_auth_base_url() {
    let sim = kyso_sim_misa::spawn(config()).await.unwrap();
    let mut sandbox_style = settings(&sim);
    sandbox_style.auth_base_url = Some(format!("{}/webdev/", sim.base_url()));
    let adapter = adapter(sandbox_style);
    let session = adapter.open_session().await.unwrap();
    assert_eq!(
        sim.control().requests()[0].path,
        "/webdev/api/auth/api/v1/auth/login-api"
    );
    adapter.certificates(Some(&session), AN).await.unwrap();
}

#[tokio::test]
async fn inactive_key_is_listed_but_cannot_sign() {
    let (sim, adapter, session) = started().await;
    let certificates = adapter.certificates(Some(&session), HOA).await.unwrap();
    assert_eq!(certificates.len(), 1);
    assert!(!certificates[0].active);
    assert_eq!(certificates[0].chain_der.len(), 2, "issuers only");
    let request = request(HOA, &certificates[0].certificate_id, &["a".to_owned()]);
    let error = adapter
        .begin_sign(Some(&session), &request)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AdapterError::CertificateUnusable(_)),
        "{error}"
    );
    assert!(
        sim.control().transactions().is_empty(),
        "nothing reached MISA"
    );
}

#[tokio::test]
async fn another_citizens_certificate_is_refused() {
    let (sim, adapter, session) = started().await;
    let binh_certificate = certificate_id(&adapter, &session, BINH).await;
    let request = request(AN, &binh_certificate, &["a".to_owned()]);
    let error = adapter
        .begin_sign(Some(&session), &request)
        .await
        .unwrap_err();
    assert!(matches!(error, AdapterError::InvalidRequest(_)), "{error}");
    assert!(sim.control().transactions().is_empty());
}

#[tokio::test]
async fn long_document_ids_and_names_fit_misas_limits() {
    let (sim, adapter, session) = started().await;
    let certificate = certificate_id(&adapter, &session, AN).await;
    let ids: Vec<String> = vec![
        "short".into(),
        format!("ho-so-{}", "9".repeat(50)), // 56 characters: longer than MISA's 36
    ];
    let request = request(AN, &certificate, &ids);
    let pending = adapter.begin_sign(Some(&session), &request).await.unwrap();
    let SignOutcome::Signed(signatures) = poll_to_the_end(&adapter, &session, pending).await else {
        panic!("An approves at once");
    };
    let mut returned: Vec<&str> = signatures.iter().map(|s| s.document_id.as_str()).collect();
    returned.sort_unstable();
    assert_eq!(returned, vec![ids[1].as_str(), "short"]);

    let sent = sim
        .control()
        .requests()
        .into_iter()
        .find(|recorded| recorded.path.ends_with("/Signing/hash"))
        .unwrap()
        .body;
    assert_eq!(sent["DataToBeDisplayed"], "Ký &lt;hồ sơ&gt; &amp; nộp");
    let documents = sent["Documents"].as_array().unwrap();
    assert_eq!(documents[0]["DocumentId"], "doc-1");
    assert_eq!(documents[1]["DocumentId"], "doc-2");
    assert_eq!(
        documents[0]["DocumentName"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        100
    );
    assert_eq!(
        documents[0]["FileToSign"].as_str().unwrap().len(),
        44,
        "base64 of 32 bytes"
    );
}

#[tokio::test]
async fn references_unknown_to_misa_or_to_the_adapter_are_refused() {
    let (_sim, adapter, session) = started().await;
    let stranger = r#"{"misa_tx":"00000000-0000-4000-8000-000000000000","docs":["a"]}"#;
    let error = adapter.poll(Some(&session), stranger).await.unwrap_err();
    assert!(
        matches!(error, AdapterError::TransactionNotFound(_)),
        "{error}"
    );
    let error = adapter.poll(Some(&session), "kyso-tx-1").await.unwrap_err();
    assert!(matches!(error, AdapterError::InvalidRequest(_)), "{error}");
}

#[tokio::test]
async fn requests_misa_cannot_sign_fail_before_any_call() {
    let (sim, adapter, session) = started().await;
    let calls = sim.control().requests().len();
    let mut sha384 = request(AN, "k", &["a".to_owned()]);
    sha384.hash_algorithm = HashAlgorithm::Sha384;
    sha384.documents[0].digest = vec![0; 48];
    let error = adapter
        .begin_sign(Some(&session), &sha384)
        .await
        .unwrap_err();
    assert!(matches!(error, AdapterError::InvalidRequest(_)), "{error}");
    let error = adapter
        .begin_sign(None, &request(AN, "k", &["a".to_owned()]))
        .await
        .unwrap_err();
    assert!(matches!(error, AdapterError::Internal(_)), "{error}");
    assert_eq!(sim.control().requests().len(), calls);
}

#[tokio::test]
async fn expired_token_is_refused_on_every_esign_call() {
    let (sim, adapter, session) = started().await;
    let certificate = certificate_id(&adapter, &session, BINH).await;
    let request = request(BINH, &certificate, &["a".to_owned()]);
    let SignOutcome::Pending { ca_reference } =
        adapter.begin_sign(Some(&session), &request).await.unwrap()
    else {
        panic!("Bình decides by hand");
    };
    sim.control().expire_access_tokens();
    let error = adapter
        .begin_sign(Some(&session), &request)
        .await
        .unwrap_err();
    assert!(matches!(error, AdapterError::SessionExpired), "{error}");
    let error = adapter
        .poll(Some(&session), &ca_reference)
        .await
        .unwrap_err();
    assert!(matches!(error, AdapterError::SessionExpired), "{error}");

    let renewed = adapter.open_session().await.unwrap();
    let transaction = sim.control().transactions()[0].transaction_id.clone();
    sim.control().reject(&transaction).unwrap();
    let outcome = adapter.poll(Some(&renewed), &ca_reference).await.unwrap();
    assert_eq!(outcome, SignOutcome::Rejected);
}

/// `begin_sign` makes two calls (the certificate list, then Signing/hash); the request timeout
/// bounds both together.
#[tokio::test]
async fn request_timeout_bounds_the_whole_begin_sign() {
    let (sim, adapter, session) = started().await;
    let certificate = certificate_id(&adapter, &session, AN).await;
    sim.control().set_delay(Duration::from_millis(600));
    let started = Instant::now();
    let error = adapter
        .begin_sign(
            Some(&session),
            &request(AN, &certificate, &["a".to_owned()]),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, AdapterError::Timeout(_)), "{error}");
    assert!(started.elapsed() < TIMEOUT + Duration::from_millis(300));
}
