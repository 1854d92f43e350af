//! The adapter against its simulator beyond the conformance suite: the per-user token scope,
//! Viettel's error codes end to end, what the citizen reads in the app, and the request shapes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use kyso_adapter_core::{
    AdapterError, CaAdapter, CaSession, DocumentDigest, HashAlgorithm, SignOutcome, SignRequest,
};
use kyso_adapter_testkit::build_adapter;
use kyso_adapter_viettel::{TokenScope, ViettelKind, ViettelSettings};
use kyso_sim_viettel::{Behaviour, CertificateStatus, CitizenSpec, SimConfig, SimHandle};
use kyso_verify::{SignerKey, TrustAnchors, Validation};
use sha2::Digest as _;

const CLIENT_ID: &str = "test-sp";
const CLIENT_SECRET: &str = "test-sp-secret";
const PROFILE_ID: &str = "adss:ras:profile:001";
const AN: &str = "001099000001";
const DUNG: &str = "001099000004";

fn sim_config(citizens: Vec<CitizenSpec>) -> SimConfig {
    SimConfig {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        profile_id: PROFILE_ID.into(),
        user_id_prefix: String::new(),
        citizens,
        token_lifetime: Duration::from_secs(3600),
        transaction_ttl: Duration::from_secs(120),
    }
}

fn approving(user_id: &str) -> CitizenSpec {
    CitizenSpec::new(
        user_id,
        "Nguyễn Văn An",
        Behaviour::ApproveAfter(Duration::ZERO),
    )
}

fn adapter_for(sim: &SimHandle, edit: impl FnOnce(&mut ViettelSettings)) -> Arc<dyn CaAdapter> {
    let mut settings = ViettelSettings::new(
        format!("{}/", sim.base_url()),
        CLIENT_ID,
        CLIENT_SECRET.to_owned().into(),
        PROFILE_ID,
    );
    edit(&mut settings);
    build_adapter::<ViettelKind>(settings, Duration::from_secs(2))
}

fn request(user_id: &str, certificate_id: &str, names: &[&str], description: &str) -> SignRequest {
    SignRequest {
        transaction_id: format!("tx-{:?}", Instant::now()),
        user_id: user_id.into(),
        certificate_id: certificate_id.into(),
        hash_algorithm: HashAlgorithm::Sha256,
        documents: names
            .iter()
            .enumerate()
            .map(|(i, name)| DocumentDigest {
                id: format!("doc-{i}"),
                name: (*name).into(),
                digest: sha2::Sha256::digest(format!("{name} {i}").as_bytes()).to_vec(),
            })
            .collect(),
        description: description.into(),
    }
}

async fn until_final(
    adapter: &dyn CaAdapter,
    session: Option<&CaSession>,
    mut outcome: SignOutcome,
) -> SignOutcome {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let SignOutcome::Pending { ca_reference } = &outcome {
        assert!(Instant::now() < deadline, "still pending");
        tokio::time::sleep(Duration::from_millis(20)).await;
        outcome = adapter.poll(session, ca_reference).await.unwrap();
    }
    outcome
}

#[tokio::test]
async fn the_user_token_scope_logs_in_per_call_and_signs() {
    let sim = kyso_sim_viettel::spawn(sim_config(vec![approving(AN)]))
        .await
        .unwrap();
    let adapter = adapter_for(&sim, |s| s.token_scope = TokenScope::User);
    assert!(!adapter.needs_session());
    assert!(matches!(
        adapter.open_session().await,
        Err(AdapterError::Unsupported(_))
    ));
    let certificates = adapter.certificates(None, AN).await.unwrap();
    assert_eq!(certificates.len(), 1);
    assert!(
        adapter
            .certificates(None, "079200000999")
            .await
            .unwrap()
            .is_empty()
    );

    let request = request(
        AN,
        &certificates[0].certificate_id,
        &["a.pdf", "b.pdf"],
        "Ký",
    );
    let begun = adapter.begin_sign(None, &request).await.unwrap();
    let SignOutcome::Signed(signatures) = until_final(&*adapter, None, begun).await else {
        panic!("approved");
    };
    let key = SignerKey::from_certificate(&certificates[0].certificate_der).unwrap();
    for (document, signature) in request.documents.iter().zip(&signatures) {
        assert_eq!(signature.document_id, document.id);
        key.verify(
            HashAlgorithm::Sha256,
            &document.digest,
            &signature.signature,
        )
        .unwrap();
    }
    // Every call logged in as the citizen; no client token was ever asked for.
    let tokens = sim.control().issued_tokens();
    assert!(tokens.len() >= 4, "{tokens:?}");
    assert!(tokens.iter().all(|t| t.user_id.as_deref() == Some(AN)));
}

#[tokio::test]
async fn wrong_sp_credentials_are_an_authentication_failure() {
    let sim = kyso_sim_viettel::spawn(sim_config(vec![approving(AN)]))
        .await
        .unwrap();
    let wrong_secret = adapter_for(&sim, |s| s.client_secret = "wrong".to_owned().into());
    assert!(matches!(
        wrong_secret.open_session().await,
        Err(AdapterError::AuthenticationFailed)
    ));
    let wrong_client = adapter_for(&sim, |s| {
        s.client_id = "nobody".into();
        s.token_scope = TokenScope::User;
    });
    assert!(matches!(
        wrong_client.certificates(None, AN).await,
        Err(AdapterError::AuthenticationFailed)
    ));
    // A good session does not excuse a wrong secret in the bodies.
    let good = adapter_for(&sim, |_| {});
    let session = good.open_session().await.unwrap();
    assert!(matches!(
        wrong_secret.certificates(Some(&session), AN).await,
        Err(AdapterError::AuthenticationFailed)
    ));
}

#[tokio::test]
async fn a_revoked_certificate_is_inactive_and_refused() {
    let sim = kyso_sim_viettel::spawn(sim_config(vec![
        approving(DUNG).with_certificate_status(CertificateStatus::Revoked),
    ]))
    .await
    .unwrap();
    let adapter = adapter_for(&sim, |_| {});
    let session = adapter.open_session().await.unwrap();
    let certificates = adapter.certificates(Some(&session), DUNG).await.unwrap();
    assert!(!certificates[0].active);
    let error = adapter
        .begin_sign(
            Some(&session),
            &request(DUNG, &certificates[0].certificate_id, &["a"], "x"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, AdapterError::CertificateUnusable(_)),
        "{error}"
    );
}

#[tokio::test]
async fn a_token_past_its_lifetime_is_an_expired_session() {
    let sim = kyso_sim_viettel::spawn(SimConfig {
        token_lifetime: Duration::from_millis(300),
        ..sim_config(vec![approving(AN)])
    })
    .await
    .unwrap();
    let adapter = adapter_for(&sim, |_| {});
    let session = adapter.open_session().await.unwrap();
    assert_eq!(session.expires_in_secs, 1);
    adapter.certificates(Some(&session), AN).await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(matches!(
        adapter.certificates(Some(&session), AN).await,
        Err(AdapterError::SessionExpired)
    ));
    let renewed = adapter.open_session().await.unwrap();
    adapter.certificates(Some(&renewed), AN).await.unwrap();
}

#[tokio::test]
async fn unknown_and_foreign_references_are_refused() {
    let sim = kyso_sim_viettel::spawn(sim_config(vec![approving(AN)]))
        .await
        .unwrap();
    let adapter = adapter_for(&sim, |_| {});
    let session = adapter.open_session().await.unwrap();
    let certificate = adapter
        .certificates(Some(&session), AN)
        .await
        .unwrap()
        .remove(0);
    let SignOutcome::Pending { ca_reference } = adapter
        .begin_sign(
            Some(&session),
            &request(AN, &certificate.certificate_id, &["a"], "x"),
        )
        .await
        .unwrap()
    else {
        panic!("signHash in async mode answers a transaction id");
    };
    // The same reference with a transaction id Viettel never issued.
    let transaction_id = sim.control().transactions()[0].transaction_id.clone();
    let unknown = ca_reference.replace(&transaction_id, "de67f948-0498-4919-af28-dff54a6a4e77");
    assert!(matches!(
        adapter.poll(Some(&session), &unknown).await,
        Err(AdapterError::TransactionNotFound(_))
    ));
    assert!(matches!(
        adapter.poll(Some(&session), &transaction_id).await,
        Err(AdapterError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn the_app_shows_ascii_prompts_and_the_request_has_viettels_shape() {
    let sim = kyso_sim_viettel::spawn(sim_config(vec![CitizenSpec::new(
        AN,
        "Nguyễn Văn An",
        Behaviour::Manual,
    )]))
    .await
    .unwrap();
    let adapter = adapter_for(&sim, |_| {});
    let session = adapter.open_session().await.unwrap();
    let certificate = adapter
        .certificates(Some(&session), AN)
        .await
        .unwrap()
        .remove(0);
    let first = request(
        AN,
        &certificate.certificate_id,
        &["Hợp đồng số 12/2025.pdf", "…"],
        "Ký hợp đồng lao động với Công ty Cổ phần Đầu tư Phát triển Hạ tầng Kỹ thuật Thành phố",
    );
    adapter.begin_sign(Some(&session), &first).await.unwrap();
    let second = request(AN, &certificate.certificate_id, &["x"], "«»");
    adapter.begin_sign(Some(&session), &second).await.unwrap();

    let transactions = sim.control().transactions();
    assert_eq!(
        transactions[0].description,
        "Ky hop dong lao dong voi Cong ty Co phan Dau tu Phat trien Ha tang Ky th"
    );
    assert_eq!(
        transactions[0].documents[0].document_name,
        "Hop dong so 12 2025 pdf"
    );
    assert_eq!(transactions[0].documents[0].document_id, "doc-0");
    // A name with nothing printable falls back to the document id.
    assert_eq!(transactions[0].documents[1].document_name, "doc-1");
    assert_eq!(transactions[1].description, "Yeu cau ky so");

    let requests = sim.control().requests();
    let authenticate = &requests[0];
    assert!(authenticate.path.ends_with("/ras/v1/authenticate"));
    assert_eq!(authenticate.body["grant_type"], "client_credentials");
    let sign = requests
        .iter()
        .find(|r| r.path.ends_with("/signHash"))
        .unwrap();
    assert!(sign.bearer);
    assert_eq!(sign.body["async"], 1);
    assert_eq!(sign.body["numSignatures"], 2);
    assert_eq!(sign.body["hashAlgo"], "2.16.840.1.101.3.4.2.1");
    assert_eq!(sign.body["signAlgo"], "1.2.840.113549.1.1.1");
    assert_eq!(
        sign.body["credentialID"],
        certificate.certificate_id.as_str()
    );
    assert_eq!(
        sign.body["hash"][0].as_str().unwrap().len(),
        44,
        "base64 SHA-256"
    );
    assert_eq!(sign.body["client_secret"], "[REDACTED]");
}

#[tokio::test]
async fn the_user_id_prefix_names_the_citizen_at_viettel() {
    let sim = kyso_sim_viettel::spawn(SimConfig {
        user_id_prefix: "CMT_".into(),
        ..sim_config(vec![approving(AN)])
    })
    .await
    .unwrap();
    let bare = adapter_for(&sim, |_| {});
    let session = bare.open_session().await.unwrap();
    assert!(
        bare.certificates(Some(&session), AN)
            .await
            .unwrap()
            .is_empty()
    );
    let prefixed = adapter_for(&sim, |s| s.user_id_prefix = "CMT_".into());
    let certificates = prefixed.certificates(Some(&session), AN).await.unwrap();
    assert_eq!(certificates.len(), 1);
    // The certificate still names the citizen by the CCCD number the gateway uses.
    let anchors = TrustAnchors::from_pem(&sim.root_certificate_pem()).unwrap();
    let report = kyso_verify::validate_certificate(
        &certificates[0].certificate_der,
        &certificates[0].chain_der,
        AN,
        &Validation::new(&anchors, time_now()),
    );
    assert!(
        report.passed(),
        "{:?}: {}",
        report.sub_indication,
        report.message
    );
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

#[tokio::test]
async fn a_hung_submission_is_a_timeout_whose_outcome_is_unknown() {
    let sim = kyso_sim_viettel::spawn(sim_config(vec![approving(AN)]))
        .await
        .unwrap();
    let adapter = adapter_for(&sim, |_| {});
    let session = adapter.open_session().await.unwrap();
    let certificate = adapter
        .certificates(Some(&session), AN)
        .await
        .unwrap()
        .remove(0);
    sim.control()
        .fail_next(kyso_sim_viettel::Fault::Hang(Duration::from_secs(5)));
    let started = Instant::now();
    let error = adapter
        .begin_sign(
            Some(&session),
            &request(AN, &certificate.certificate_id, &["a"], "x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, AdapterError::Timeout(_)), "{error}");
    assert!(error.outcome_unknown());
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn the_sandbox_citizens_are_reachable_with_the_sandbox_credentials() {
    let sandbox = SimConfig::sandbox();
    let (client_id, client_secret, profile_id) = (
        sandbox.client_id.clone(),
        sandbox.client_secret.clone(),
        sandbox.profile_id.clone(),
    );
    let citizens: Vec<String> = sandbox.citizens.iter().map(|c| c.user_id.clone()).collect();
    let sim = kyso_sim_viettel::spawn(sandbox).await.unwrap();
    let adapter = adapter_for(&sim, |s| {
        s.client_id = client_id;
        s.client_secret = client_secret.into();
        s.profile_id = profile_id;
    });
    let session = adapter.open_session().await.unwrap();
    assert_eq!(session.expires_in_secs, 3600);
    for citizen in &citizens {
        let certificates = adapter.certificates(Some(&session), citizen).await.unwrap();
        assert_eq!(certificates.len(), 1, "{citizen}");
        assert_eq!(certificates[0].active, citizen != DUNG, "{citizen}");
    }
}
