//! The CSC adapter against its simulator beyond the conformance suite: ECDSA credentials and
//! stronger digests, a blocking `credentials/authorize`, the ownership check, bad client
//! credentials, unknown handles, a token expiring mid-transaction, and what goes on the wire.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use kyso_adapter_core::{
    AdapterError, CaAdapter, CaCertificate, CaSession, DocumentDigest, HashAlgorithm, SignOutcome,
    SignRequest,
};
use kyso_adapter_csc::{CscKind, CscSettings, UserIdTemplate};
use kyso_adapter_testkit::build_adapter;
use kyso_sim_csc::{Behaviour, CitizenSpec, ConsentMode, KeyKind, SimConfig, SimHandle};
use kyso_verify::{SignerKey, TrustAnchors, Validation};
use sha2::Digest as _;

const CLIENT_ID: &str = "flows-client";
const CLIENT_SECRET: &str = "flows-secret";
const RSA: &str = "001099000001";
const EC: &str = "001099000004";
const BLOCKING: &str = "001099000005";
const MANUAL: &str = "001099000003";

fn citizens() -> Vec<CitizenSpec> {
    let soon = Behaviour::ApproveAfter(Duration::from_millis(50));
    vec![
        CitizenSpec::new(RSA, "Nguyễn Văn An", KeyKind::Rsa2048, soon),
        CitizenSpec::new(EC, "Phạm Thị Dung", KeyKind::P256, soon),
        CitizenSpec::new(BLOCKING, "Hoàng Văn Em", KeyKind::Rsa2048, soon)
            .with_consent(ConsentMode::Blocking),
        CitizenSpec::new(MANUAL, "Lê Văn Cường", KeyKind::P256, Behaviour::Manual),
    ]
}

async fn start() -> SimHandle {
    kyso_sim_csc::spawn(SimConfig::new(CLIENT_ID, CLIENT_SECRET, citizens()))
        .await
        .unwrap()
}

fn adapter_with(base_url: String, secret: &str) -> Arc<dyn CaAdapter> {
    build_adapter::<CscKind>(
        CscSettings {
            base_url,
            client_id: CLIENT_ID.into(),
            client_secret: secret.to_owned().into(),
            user_id_template: UserIdTemplate::default(),
        },
        Duration::from_secs(2),
    )
}

fn adapter(sim: &SimHandle) -> Arc<dyn CaAdapter> {
    // A trailing slash is tolerated.
    adapter_with(format!("{}/", sim.base_url()), CLIENT_SECRET)
}

fn request(
    citizen: &str,
    certificate: &CaCertificate,
    hash_algorithm: HashAlgorithm,
    documents: usize,
) -> SignRequest {
    let digest = |n: usize| {
        let text = format!("document {n}");
        match hash_algorithm {
            HashAlgorithm::Sha256 => sha2::Sha256::digest(&text).to_vec(),
            HashAlgorithm::Sha384 => sha2::Sha384::digest(&text).to_vec(),
            HashAlgorithm::Sha512 => sha2::Sha512::digest(&text).to_vec(),
        }
    };
    SignRequest {
        transaction_id: format!("flow-{citizen}"),
        user_id: citizen.to_owned(),
        certificate_id: certificate.certificate_id.clone(),
        hash_algorithm,
        documents: (0..documents)
            .map(|n| DocumentDigest {
                id: format!("doc-{n}"),
                name: format!("tai-lieu-{n}.pdf"),
                digest: digest(n),
            })
            .collect(),
        description: "Ký hợp đồng".to_owned(),
    }
}

async fn the_certificate(
    adapter: &Arc<dyn CaAdapter>,
    session: &CaSession,
    citizen: &str,
) -> CaCertificate {
    let mut certificates = adapter.certificates(Some(session), citizen).await.unwrap();
    assert_eq!(certificates.len(), 1);
    certificates.remove(0)
}

async fn until_final(
    adapter: &Arc<dyn CaAdapter>,
    session: &CaSession,
    outcome: SignOutcome,
) -> SignOutcome {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut outcome = outcome;
    while let SignOutcome::Pending { ca_reference } = &outcome {
        assert!(Instant::now() < deadline, "still pending");
        tokio::time::sleep(Duration::from_millis(30)).await;
        outcome = adapter.poll(Some(session), ca_reference).await.unwrap();
    }
    outcome
}

/// Checks `outcome` as the gateway does: the certificate chains to the simulator's root and
/// names the request's citizen, and each signature verifies over its document's digest. The
/// scheme of each signature, in document order.
fn verify_all(
    sim: &SimHandle,
    certificate: &CaCertificate,
    request: &SignRequest,
    outcome: SignOutcome,
) -> Vec<String> {
    let SignOutcome::Signed(signatures) = outcome else {
        panic!("expected signatures, got {outcome:?}");
    };
    let anchors = TrustAnchors::from_pem(&sim.root_certificate_pem()).unwrap();
    let report = kyso_verify::validate_certificate(
        &certificate.certificate_der,
        &certificate.chain_der,
        &request.user_id,
        &Validation::new(&anchors, time::OffsetDateTime::now_utc()),
    );
    assert!(
        report.passed(),
        "{:?}: {}",
        report.sub_indication,
        report.message
    );
    assert_eq!(signatures.len(), request.documents.len());
    let key = SignerKey::from_certificate(&certificate.certificate_der).unwrap();
    request
        .documents
        .iter()
        .zip(&signatures)
        .map(|(document, signature)| {
            assert_eq!(signature.document_id, document.id);
            key.verify(
                request.hash_algorithm,
                &document.digest,
                &signature.signature,
            )
            .unwrap()
            .algorithm
        })
        .collect()
}

fn sign_algos_sent(sim: &SimHandle) -> Vec<String> {
    sim.control()
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/signatures/signHash"))
        .map(|r| r.body["signAlgo"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn ecdsa_credential_signs_sha256_and_sha384_with_ecdsa_oids() {
    let sim = start().await;
    let adapter = adapter(&sim);
    let session = adapter.open_session().await.unwrap();
    let certificate = the_certificate(&adapter, &session, EC).await;
    for hash in [HashAlgorithm::Sha256, HashAlgorithm::Sha384] {
        let request = request(EC, &certificate, hash, 2);
        let begun = adapter.begin_sign(Some(&session), &request).await.unwrap();
        assert!(matches!(begun, SignOutcome::Pending { .. }));
        let outcome = until_final(&adapter, &session, begun).await;
        let schemes = verify_all(&sim, &certificate, &request, outcome);
        assert!(
            schemes.iter().all(|s| s.starts_with("ecdsa_p256")),
            "{schemes:?}"
        );
    }
    assert_eq!(
        sign_algos_sent(&sim),
        vec!["1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3"]
    );
}

#[tokio::test]
async fn rsa_credential_signs_sha512_with_pkcs1() {
    let sim = start().await;
    let adapter = adapter(&sim);
    let session = adapter.open_session().await.unwrap();
    let certificate = the_certificate(&adapter, &session, RSA).await;
    let request = request(RSA, &certificate, HashAlgorithm::Sha512, 1);
    let begun = adapter.begin_sign(Some(&session), &request).await.unwrap();
    let outcome = until_final(&adapter, &session, begun).await;
    assert_eq!(
        verify_all(&sim, &certificate, &request, outcome),
        vec!["rsa_pkcs1v15_sha512"]
    );
    assert_eq!(sign_algos_sent(&sim), vec!["1.2.840.113549.1.1.13"]);
}

/// A service that holds `credentials/authorize` open until the holder answers gives the SAD in
/// its 200 answer: the adapter signs within `begin_sign`.
#[tokio::test]
async fn blocking_authorize_signs_within_begin_sign() {
    let sim = start().await;
    let adapter = adapter(&sim);
    let session = adapter.open_session().await.unwrap();
    let certificate = the_certificate(&adapter, &session, BLOCKING).await;
    let request = request(BLOCKING, &certificate, HashAlgorithm::Sha256, 3);
    let outcome = adapter.begin_sign(Some(&session), &request).await.unwrap();
    assert_eq!(verify_all(&sim, &certificate, &request, outcome).len(), 3);
}

#[tokio::test]
async fn blocking_authorize_reports_rejection_directly() {
    let sim = start().await;
    sim.control()
        .set_behaviour(BLOCKING, Behaviour::RejectAfter(Duration::from_millis(50)))
        .unwrap();
    let adapter = adapter(&sim);
    let session = adapter.open_session().await.unwrap();
    let certificate = the_certificate(&adapter, &session, BLOCKING).await;
    let request = request(BLOCKING, &certificate, HashAlgorithm::Sha256, 1);
    let outcome = adapter.begin_sign(Some(&session), &request).await.unwrap();
    assert_eq!(outcome, SignOutcome::Rejected);
}

/// The credential id must belong to the citizen named in the request: a service-scope token
/// reaches every user's credentials, so the adapter checks before asking for consent.
#[tokio::test]
async fn another_citizens_credential_is_refused_before_authorize() {
    let sim = start().await;
    let adapter = adapter(&sim);
    let session = adapter.open_session().await.unwrap();
    let someone_else = the_certificate(&adapter, &session, EC).await;
    let mut request = request(RSA, &someone_else, HashAlgorithm::Sha256, 1);
    request.user_id = RSA.to_owned();
    let error = adapter
        .begin_sign(Some(&session), &request)
        .await
        .unwrap_err();
    assert!(matches!(error, AdapterError::InvalidRequest(_)), "{error}");
    assert!(sim.control().authorizations().is_empty());
}

#[tokio::test]
async fn digest_of_the_wrong_length_is_refused_locally() {
    let sim = start().await;
    let adapter = adapter(&sim);
    let session = adapter.open_session().await.unwrap();
    let certificate = the_certificate(&adapter, &session, RSA).await;
    let mut request = request(RSA, &certificate, HashAlgorithm::Sha256, 1);
    request.hash_algorithm = HashAlgorithm::Sha384;
    let calls_before = sim.control().requests().len();
    let error = adapter
        .begin_sign(Some(&session), &request)
        .await
        .unwrap_err();
    assert!(matches!(error, AdapterError::InvalidRequest(_)), "{error}");
    assert_eq!(sim.control().requests().len(), calls_before);
}

#[tokio::test]
async fn wrong_client_secret_is_an_authentication_failure() {
    let sim = start().await;
    let adapter = adapter_with(sim.base_url(), "not-the-secret");
    let error = adapter.open_session().await.unwrap_err();
    assert!(
        matches!(error, AdapterError::AuthenticationFailed),
        "{error}"
    );
    assert!(!error.to_string().contains("not-the-secret"));
}

#[tokio::test]
async fn session_has_the_services_lifetime() {
    let sim = start().await;
    let adapter = adapter(&sim);
    assert!(adapter.needs_session());
    let session = adapter.open_session().await.unwrap();
    assert_eq!(session.expires_in_secs, 3600);
    assert!(!format!("{session:?}").contains(&session.token));
}

/// A token expiring while the citizen decides: the poll reports `SessionExpired`, and with a
/// new session the same transaction goes on (the handle belongs to the client, not the token).
#[tokio::test]
async fn transaction_survives_a_new_session() {
    let sim = start().await;
    let adapter = adapter(&sim);
    let session = adapter.open_session().await.unwrap();
    let certificate = the_certificate(&adapter, &session, MANUAL).await;
    let request = request(MANUAL, &certificate, HashAlgorithm::Sha256, 1);
    let SignOutcome::Pending { ca_reference } =
        adapter.begin_sign(Some(&session), &request).await.unwrap()
    else {
        panic!("a manual citizen leaves the request pending");
    };
    assert!(sim.control().expire_current_token());
    let error = adapter
        .poll(Some(&session), &ca_reference)
        .await
        .unwrap_err();
    assert!(matches!(error, AdapterError::SessionExpired), "{error}");

    let renewed = adapter.open_session().await.unwrap();
    let still = adapter.poll(Some(&renewed), &ca_reference).await.unwrap();
    assert_eq!(
        still,
        SignOutcome::Pending {
            ca_reference: ca_reference.clone()
        }
    );
    let handle = sim.control().authorizations()[0].handle.clone();
    sim.control().approve(&handle).unwrap();
    let outcome = adapter.poll(Some(&renewed), &ca_reference).await.unwrap();
    assert_eq!(verify_all(&sim, &certificate, &request, outcome).len(), 1);
}

#[tokio::test]
async fn handle_unknown_to_the_service_is_transaction_not_found() {
    let first = start().await;
    let adapter_first = adapter(&first);
    let session = adapter_first.open_session().await.unwrap();
    let certificate = the_certificate(&adapter_first, &session, MANUAL).await;
    let request = request(MANUAL, &certificate, HashAlgorithm::Sha256, 1);
    let SignOutcome::Pending { ca_reference } = adapter_first
        .begin_sign(Some(&session), &request)
        .await
        .unwrap()
    else {
        panic!("pending expected");
    };

    // Another service (same client credentials) never issued that handle.
    let second = start().await;
    let adapter_second = adapter(&second);
    let other_session = adapter_second.open_session().await.unwrap();
    let error = adapter_second
        .poll(Some(&other_session), &ca_reference)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AdapterError::TransactionNotFound(_)),
        "{error}"
    );

    let error = adapter_first
        .poll(Some(&session), "vnpt-transaction-1")
        .await
        .unwrap_err();
    assert!(matches!(error, AdapterError::InvalidRequest(_)), "{error}");
}

#[tokio::test]
async fn manual_expiry_and_rejection_reach_the_poll() {
    let sim = start().await;
    let adapter = adapter(&sim);
    let session = adapter.open_session().await.unwrap();
    let certificate = the_certificate(&adapter, &session, MANUAL).await;
    for (decide, expected) in [
        ("reject", SignOutcome::Rejected),
        ("expire", SignOutcome::Expired),
    ] {
        let request = request(MANUAL, &certificate, HashAlgorithm::Sha256, 1);
        let SignOutcome::Pending { ca_reference } =
            adapter.begin_sign(Some(&session), &request).await.unwrap()
        else {
            panic!("pending expected");
        };
        let handle = sim
            .control()
            .authorizations()
            .last()
            .unwrap()
            .handle
            .clone();
        match decide {
            "reject" => sim.control().reject(&handle).unwrap(),
            _ => sim.control().expire(&handle).unwrap(),
        }
        assert_eq!(
            adapter.poll(Some(&session), &ca_reference).await.unwrap(),
            expected
        );
    }
}

/// What the service receives: the mapped `userID`, base64 hashes with their OID, no `authData`,
/// a description cut to 500 characters, and never the client secret in a body.
#[tokio::test]
async fn requests_carry_csc_fields() {
    let sim = kyso_sim_csc::spawn(SimConfig::new(
        CLIENT_ID,
        CLIENT_SECRET,
        vec![
            CitizenSpec::new(RSA, "Nguyễn Văn An", KeyKind::Rsa2048, Behaviour::Manual)
                .with_user_id(format!("CCCD:{RSA}")),
        ],
    ))
    .await
    .unwrap();
    // The default template (the bare number) does not find a prefixed userID.
    let bare = adapter(&sim);
    let session = bare.open_session().await.unwrap();
    assert!(
        bare.certificates(Some(&session), RSA)
            .await
            .unwrap()
            .is_empty()
    );
    let adapter = build_adapter::<CscKind>(
        CscSettings {
            base_url: sim.base_url(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.to_owned().into(),
            user_id_template: "CCCD:{cccd}".parse().unwrap(),
        },
        Duration::from_secs(2),
    );
    let certificate = the_certificate(&adapter, &session, RSA).await;
    let mut request = request(RSA, &certificate, HashAlgorithm::Sha256, 2);
    request.description = "ý".repeat(600);
    let outcome = adapter.begin_sign(Some(&session), &request).await.unwrap();
    assert!(
        matches!(outcome, SignOutcome::Pending { .. }),
        "{outcome:?}"
    );

    let requests = sim.control().requests();
    let lists: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/csc/v2/credentials/list")
        .map(|r| r.body["userID"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        lists,
        vec![RSA.to_owned(), format!("CCCD:{RSA}"), format!("CCCD:{RSA}")]
    );
    let authorize = requests
        .iter()
        .find(|r| r.path == "/csc/v2/credentials/authorize")
        .unwrap();
    assert_eq!(authorize.body["numSignatures"], 2);
    assert_eq!(authorize.body["hashAlgorithmOID"], "2.16.840.1.101.3.4.2.1");
    assert_eq!(authorize.body["hashes"].as_array().unwrap().len(), 2);
    assert!(authorize.body.get("authData").is_none());
    assert_eq!(
        authorize.body["description"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        500
    );
    for recorded in &requests {
        assert!(!recorded.body.to_string().contains(CLIENT_SECRET));
    }
}

#[tokio::test]
async fn health_reads_info_and_reports_an_unreachable_service() {
    let sim = start().await;
    adapter(&sim).health().await.unwrap();
    let base_url = sim.base_url();
    sim.stop().await;
    let error = adapter_with(base_url, CLIENT_SECRET)
        .health()
        .await
        .unwrap_err();
    assert!(matches!(error, AdapterError::Unavailable(_)), "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn calls_without_a_session_are_an_internal_error() {
    let sim = start().await;
    let error = adapter(&sim).certificates(None, RSA).await.unwrap_err();
    assert!(matches!(error, AdapterError::Internal(_)), "{error}");
}
