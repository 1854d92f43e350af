//! The adapters' error mapping and routing against the simulator over HTTP: what the
//! conformance suite does not reach (refused credentials, a suspended certificate, an unknown
//! transaction, NEAC routing, a CA without a status call, a rendering mismatch).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::sync::Arc;
use std::time::Duration;

use kyso_adapter_core::{
    AdapterDescriptor, AdapterError, CaAdapter, CaCertificate, DocumentDigest, HashAlgorithm,
    RawSignature, SignOutcome, SignRequest,
};
use kyso_adapter_http::{AdapterFactory, CaHttp, HttpSettings};
use kyso_adapter_qd769::{
    HashEncoding, NeacCredential, NeacKind, NeacSettings, Qd769Adapter, Qd769Kind, Qd769Settings,
};
use kyso_adapter_testkit::build_adapter;
use kyso_sim_qd769::{Behaviour, CaSpec, CitizenSpec, SignMode, SimConfig, SimHandle};
use kyso_verify::{CheckedSignature, SignerKey, VerifyError};

const SP_ID: &str = "sp";
const SP_PASSWORD: &str = "secret";
const AN: &str = "001099000001";
const HOA: &str = "001099000006";
const TIMEOUT: Duration = Duration::from_secs(2);

fn citizens() -> Vec<CitizenSpec> {
    vec![
        CitizenSpec::new(AN, "Nguyễn Văn An", Behaviour::ApproveAfter(Duration::ZERO)),
        CitizenSpec::new(HOA, "Đỗ Thị Hoa", Behaviour::Manual).suspended(),
    ]
}

async fn direct_sim(sign_mode: SignMode) -> SimHandle {
    let mut config = SimConfig::qd769(SP_ID, SP_PASSWORD, CaSpec::new("BKAV-CA", citizens()));
    config.sign_mode = sign_mode;
    kyso_sim_qd769::spawn(config).await.unwrap()
}

fn direct(sim: &SimHandle, settings: impl FnOnce(&mut Qd769Settings)) -> Arc<dyn CaAdapter> {
    let mut s = Qd769Settings::new(sim.base_url(), SP_ID, SP_PASSWORD.to_owned().into());
    settings(&mut s);
    build_adapter::<Qd769Kind>(s, TIMEOUT)
}

fn request(user_id: &str, certificate_id: &str, transaction_id: &str) -> SignRequest {
    SignRequest {
        transaction_id: transaction_id.into(),
        user_id: user_id.into(),
        certificate_id: certificate_id.into(),
        hash_algorithm: HashAlgorithm::Sha256,
        documents: vec![DocumentDigest {
            id: "doc-1".into(),
            name: "ho-so.pdf".into(),
            digest: vec![7; 32],
        }],
        description: "Ký thử".into(),
    }
}

/// Checks the first signature against the request's first digest with the key of
/// `certificate`, as the gateway does on the CA's answer.
fn verify_first(
    certificate: &CaCertificate,
    request: &SignRequest,
    signatures: &[RawSignature],
) -> Result<CheckedSignature, VerifyError> {
    SignerKey::from_certificate(&certificate.certificate_der)?.verify(
        request.hash_algorithm,
        &request.documents[0].digest,
        &signatures[0].signature,
    )
}

#[tokio::test]
async fn refused_sp_password_is_authentication_failed() {
    let sim = direct_sim(SignMode::Async).await;
    let settings = Qd769Settings::new(sim.base_url(), SP_ID, "wrong".to_owned().into());
    // The concrete type, for its Debug output.
    let adapter = Qd769Adapter::new(
        AdapterDescriptor {
            id: "test".into(),
            kind: Qd769Kind::KIND,
            display_name: "Test".into(),
            capabilities: Qd769Kind::default_capabilities(),
        },
        settings,
        CaHttp::new(HttpSettings::new(TIMEOUT, TIMEOUT)).unwrap(),
    )
    .unwrap();
    let error = adapter.certificates(None, AN).await.unwrap_err();
    assert!(
        matches!(error, AdapterError::AuthenticationFailed),
        "{error}"
    );
    // The secret is in neither the error nor the adapter's debug output.
    assert!(!format!("{error:?} {adapter:?}").contains("wrong"));
}

#[tokio::test]
async fn suspended_certificate_is_listed_inactive_and_unusable() {
    let sim = direct_sim(SignMode::Async).await;
    let adapter = direct(&sim, |_| {});
    let certificates = adapter.certificates(None, HOA).await.unwrap();
    assert_eq!(certificates.len(), 1);
    assert!(!certificates[0].active);
    let error = adapter
        .begin_sign(
            None,
            &request(HOA, &certificates[0].certificate_id, "tx-hoa"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, AdapterError::CertificateUnusable(_)),
        "{error}"
    );
}

#[tokio::test]
async fn unknown_transaction_is_not_found_and_a_garbled_reference_is_refused() {
    let sim = direct_sim(SignMode::Async).await;
    let adapter = direct(&sim, |_| {});
    let error = adapter.poll(None, "never-submitted").await.unwrap_err();
    assert!(
        matches!(error, AdapterError::TransactionNotFound(_)),
        "{error}"
    );
    let error = adapter.poll(None, "../get_certificate").await.unwrap_err();
    assert!(matches!(error, AdapterError::InvalidRequest(_)), "{error}");
}

#[tokio::test]
async fn wrong_path_is_a_ca_fault_and_unreachable_ca_is_unavailable() {
    let sim = direct_sim(SignMode::Async).await;
    let adapter = direct(&sim, |s| s.get_certificate_path = "/nope".into());
    let error = adapter.certificates(None, AN).await.unwrap_err();
    assert!(
        matches!(error, AdapterError::UpstreamStatus { status: 404, .. }),
        "{error}"
    );
    let base_url = sim.base_url();
    sim.stop().await;
    let adapter = build_adapter::<Qd769Kind>(
        Qd769Settings::new(base_url, SP_ID, SP_PASSWORD.to_owned().into()),
        TIMEOUT,
    );
    let error = adapter.certificates(None, AN).await.unwrap_err();
    assert!(matches!(error, AdapterError::Unavailable(_)), "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn synchronous_ca_without_status_signs_at_once_and_cannot_be_polled() {
    let sim = direct_sim(SignMode::Sync).await;
    let adapter = direct(&sim, |s| s.status_path = None);
    let certificate = adapter.certificates(None, AN).await.unwrap().remove(0);
    let request = request(AN, &certificate.certificate_id, "tx-sync");
    assert_eq!(adapter.caller_reference(&request), None);
    let SignOutcome::Signed(signatures) = adapter.begin_sign(None, &request).await.unwrap() else {
        panic!("a synchronous CA answers with the signatures");
    };
    assert_eq!(signatures.len(), 1);
    verify_first(&certificate, &request, &signatures).unwrap();
    let error = adapter.poll(None, "tx-sync").await.unwrap_err();
    assert!(matches!(error, AdapterError::Unsupported(_)), "{error}");
}

#[tokio::test]
async fn hex_sent_to_a_base64_ca_signs_the_wrong_digest() {
    // A misconfigured encoding is not refused by the CA (64 hex characters are valid base64),
    // which is why verification, not the CA, is what catches it.
    let mut config = SimConfig::qd769(
        SP_ID,
        SP_PASSWORD,
        CaSpec::new("BKAV-CA", citizens()).with_hash_encoding(kyso_sim_qd769::HashEncoding::Base64),
    );
    config.sign_mode = SignMode::Sync;
    let sim = kyso_sim_qd769::spawn(config).await.unwrap();
    let adapter = direct(&sim, |_| {});
    let certificate = adapter.certificates(None, AN).await.unwrap().remove(0);
    let request = request(AN, &certificate.certificate_id, "tx-hex");
    let SignOutcome::Signed(signatures) = adapter.begin_sign(None, &request).await.unwrap() else {
        panic!("signed");
    };
    assert_eq!(
        verify_first(&certificate, &request, &signatures),
        Err(VerifyError::BadSignature)
    );
    let adapter = direct(&sim, |s| s.hash_encoding = HashEncoding::Base64);
    let request = kyso_adapter_core::SignRequest {
        transaction_id: "tx-b64".into(),
        ..request
    };
    let SignOutcome::Signed(signatures) = adapter.begin_sign(None, &request).await.unwrap() else {
        panic!("signed");
    };
    verify_first(&certificate, &request, &signatures).unwrap();
}

fn neac(sim: &SimHandle, ca_name: &str, encoding: HashEncoding) -> Arc<dyn CaAdapter> {
    let mut settings = NeacSettings::new(
        sim.base_url(),
        SP_ID,
        NeacCredential::Password(SP_PASSWORD.to_owned().into()),
        ca_name,
    );
    settings.hash_encoding = encoding;
    build_adapter::<NeacKind>(settings, TIMEOUT)
}

#[tokio::test]
async fn neac_adapters_reach_each_ca_behind_the_gateway() {
    let sim = kyso_sim_qd769::spawn(SimConfig::neac(
        SP_ID,
        SP_PASSWORD,
        vec![
            CaSpec::new("FPT-CA", citizens())
                .with_hash_encoding(kyso_sim_qd769::HashEncoding::Base64),
            CaSpec::new("CA2", citizens()),
        ],
    ))
    .await
    .unwrap();
    let fpt = neac(&sim, "FPT-CA", HashEncoding::Base64);
    let ca2 = neac(&sim, "CA2", HashEncoding::Hex);
    let at_fpt = fpt.certificates(None, AN).await.unwrap().remove(0);
    let at_ca2 = ca2.certificates(None, AN).await.unwrap().remove(0);
    assert_ne!(at_fpt.certificate_der, at_ca2.certificate_der);
    assert_ne!(at_fpt.chain_der[0], at_ca2.chain_der[0], "own issuing CAs");
    assert_eq!(at_fpt.chain_der[1], at_ca2.chain_der[1], "one root");

    for (adapter, certificate, id) in [(&fpt, &at_fpt, "tx-fpt"), (&ca2, &at_ca2, "tx-ca2")] {
        let request = request(AN, &certificate.certificate_id, id);
        assert_eq!(adapter.caller_reference(&request).as_deref(), Some(id));
        let SignOutcome::Pending { ca_reference } =
            adapter.begin_sign(None, &request).await.unwrap()
        else {
            panic!("NEAC answers asynchronously here");
        };
        assert_eq!(ca_reference, id);
        let SignOutcome::Signed(signatures) = adapter.poll(None, &ca_reference).await.unwrap()
        else {
            panic!("approved at once");
        };
        verify_first(certificate, &request, &signatures).unwrap();
    }
    // A transaction of FPT-CA is unknown to CA2.
    let error = ca2.poll(None, "tx-fpt").await.unwrap_err();
    assert!(
        matches!(error, AdapterError::TransactionNotFound(_)),
        "{error}"
    );
    // A CA NEAC does not route to.
    let error = neac(&sim, "VIETTEL-CA", HashEncoding::Hex)
        .certificates(None, AN)
        .await
        .unwrap_err();
    assert!(matches!(error, AdapterError::InvalidRequest(_)), "{error}");
    let requests = sim.control().requests();
    assert!(requests.iter().all(|r| r.path.starts_with("/sign_v2/")));
    assert!(requests.iter().all(|r| r.body["ca_name"].is_string()));
}
