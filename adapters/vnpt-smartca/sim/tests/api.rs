//! Drives the simulator over real HTTP, as the VNPT adapter would, and verifies every signature
//! independently (x509-parser for the certificates, `rsa`/`p256` for the signatures).

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::future::join_all;
use kyso_sim_vnpt::{
    Behaviour, CitizenSpec, Fault, SignatureScheme, SimConfig, SimError, SimHandle,
    TransactionState,
};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_parser::prelude::{FromDer, X509Certificate};

const SP_ID: &str = "test-sp";
const SP_PASSWORD: &str = "test-sp-secret";

const AN: &str = "001099000001";
const BINH: &str = "001099000002";
const CUONG: &str = "001099000003";
const DUNG: &str = "001099000004";
const EM: &str = "001099000005";
const GIANG: &str = "001099000006";

/// A running simulator plus an HTTP client.
struct TestSim {
    sim: SimHandle,
    http: reqwest::Client,
}

/// The test citizens: one per scheme approving at once, one rejecting, one manual, one slow.
fn citizens() -> Vec<CitizenSpec> {
    let now = Behaviour::ApproveAfter(Duration::ZERO);
    vec![
        CitizenSpec::new(AN, "Nguyễn Văn An", SignatureScheme::RsaPkcs1v15, now),
        CitizenSpec::new(
            BINH,
            "Trần Thị Bình",
            SignatureScheme::RsaPkcs1v15,
            Behaviour::RejectAfter(Duration::ZERO),
        ),
        CitizenSpec::new(
            CUONG,
            "Lê Văn Cường",
            SignatureScheme::EcdsaDer,
            Behaviour::Manual,
        ),
        CitizenSpec::new(DUNG, "Phạm Thị Dung", SignatureScheme::EcdsaDer, now),
        CitizenSpec::new(EM, "Hoàng Văn Em", SignatureScheme::RsaPss, now),
        CitizenSpec::new(GIANG, "Vũ Thị Giang", SignatureScheme::EcdsaRaw, now),
    ]
}

fn config() -> SimConfig {
    SimConfig {
        sp_id: SP_ID.to_owned(),
        sp_password: SP_PASSWORD.to_owned(),
        citizens: citizens(),
        transaction_ttl: Duration::from_secs(300),
    }
}

/// The test config with only these citizens (RSA key generation is the slow part of start-up).
fn config_only(users: &[&str]) -> SimConfig {
    let mut config = config();
    config
        .citizens
        .retain(|c| users.contains(&c.user_id.as_str()));
    config
}

impl TestSim {
    async fn start() -> Self {
        Self::start_with(config()).await
    }

    async fn start_only(users: &[&str]) -> Self {
        Self::start_with(config_only(users)).await
    }

    async fn start_with(config: SimConfig) -> Self {
        let sim = kyso_sim_vnpt::spawn(config)
            .await
            .expect("simulator starts");
        Self {
            sim,
            http: reqwest::Client::new(),
        }
    }

    /// POSTs a raw body to a CA path (relative to the base URL); returns status and text.
    async fn post_raw(&self, path: &str, body: String) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}{path}", self.sim.base_url()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request is sent");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body is read"))
    }

    /// POSTs JSON to a CA path; returns status and parsed body.
    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let (status, text) = self.post_raw(path, body.to_string()).await;
        let value = serde_json::from_str(&text).expect("the answer is JSON");
        (status, value)
    }

    async fn get_certificate(&self, user_id: &str, serial: Option<&str>) -> (u16, Value) {
        let mut body = json!({
            "sp_id": SP_ID, "sp_password": SP_PASSWORD, "user_id": user_id,
            "transaction_id": "cert-tx-1",
        });
        if let Some(serial) = serial {
            body["serial_number"] = json!(serial);
        }
        self.post("/v1/credentials/get_certificate", &body).await
    }

    /// The citizen's only certificate object.
    async fn certificate(&self, user_id: &str) -> Value {
        let (status, body) = self.get_certificate(user_id, None).await;
        assert_eq!(status, 200, "{body}");
        let certs = body["data"]["user_certificates"]
            .as_array()
            .expect("a list");
        assert_eq!(certs.len(), 1, "{body}");
        certs[0].clone()
    }

    fn sign_body(user_id: &str, transaction_id: &str, digests: &[Vec<u8>]) -> Value {
        let files: Vec<Value> = digests
            .iter()
            .enumerate()
            .map(|(i, d)| {
                json!({
                    "data_to_be_signed": hex::encode(d),
                    "doc_id": format!("doc-{i}"),
                    "file_type": "pdf",
                    "sign_type": "hash",
                })
            })
            .collect();
        json!({
            "sp_id": SP_ID, "sp_password": SP_PASSWORD, "user_id": user_id,
            "transaction_id": transaction_id,
            "transaction_desc": "Ký hồ sơ dịch vụ công",
            "time_stamp": "20261122063000Z",
            "sign_files": files,
        })
    }

    async fn sign(&self, user_id: &str, transaction_id: &str, digests: &[Vec<u8>]) -> (u16, Value) {
        self.post(
            "/v1/signatures/sign",
            &Self::sign_body(user_id, transaction_id, digests),
        )
        .await
    }

    async fn status(&self, transaction_id: &str) -> (u16, Value) {
        self.post(
            &format!("/v1/signatures/sign/{transaction_id}/status"),
            &json!({}),
        )
        .await
    }

    /// Signs and expects the sign call to be accepted.
    async fn sign_ok(&self, user_id: &str, transaction_id: &str, digests: &[Vec<u8>]) {
        let (status, body) = self.sign(user_id, transaction_id, digests).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status_code"], 200);
        assert_eq!(body["message"], "sig_wait_for_user_confirm");
        assert_eq!(body["data"]["transaction_id"], transaction_id);
        assert!(
            !body["data"]["tran_code"]
                .as_str()
                .expect("a string")
                .is_empty()
        );
    }

    /// Polls until the transaction leaves WAITING_FOR_USER_CONFIRM (2 s at most).
    async fn poll(&self, transaction_id: &str) -> Value {
        let start = Instant::now();
        loop {
            let (status, body) = self.status(transaction_id).await;
            assert_eq!(status, 200, "{body}");
            if body["message"] != "WAITING_FOR_USER_CONFIRM" {
                return body;
            }
            assert!(start.elapsed() < Duration::from_secs(2), "still waiting");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls until SUCCESS and returns the decoded signatures, in order.
    async fn signatures(&self, transaction_id: &str, count: usize) -> Vec<Vec<u8>> {
        let body = self.poll(transaction_id).await;
        assert_eq!(body["message"], "SUCCESS", "{body}");
        assert_eq!(body["data"]["transaction_id"], transaction_id);
        let sigs = body["data"]["signatures"].as_array().expect("a list");
        assert_eq!(sigs.len(), count);
        sigs.iter()
            .enumerate()
            .map(|(i, s)| {
                assert_eq!(s["doc_id"], format!("doc-{i}"));
                assert!(s["timestamp_signature"].is_null());
                BASE64
                    .decode(s["signature_value"].as_str().expect("a string"))
                    .expect("base64")
            })
            .collect()
    }
}

fn b64(value: &Value) -> Vec<u8> {
    BASE64
        .decode(value.as_str().expect("a base64 string"))
        .expect("valid base64")
}

fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

/// Verifies `signature` over the prehashed `digest` with the certificate's key and `scheme`.
fn verify(cert_der: &[u8], scheme: SignatureScheme, digest: &[u8], signature: &[u8]) -> bool {
    let (_, cert) = X509Certificate::from_der(cert_der).expect("certificate parses");
    let spki = cert.public_key().raw;
    match scheme {
        SignatureScheme::RsaPkcs1v15 | SignatureScheme::RsaPss => {
            let key = RsaPublicKey::from_public_key_der(spki).expect("an RSA key");
            assert_eq!(key.size(), 256, "RSA-2048");
            let result = match (scheme, digest.len()) {
                (SignatureScheme::RsaPkcs1v15, 32) => {
                    key.verify(Pkcs1v15Sign::new::<Sha256>(), digest, signature)
                }
                (SignatureScheme::RsaPkcs1v15, 48) => {
                    key.verify(Pkcs1v15Sign::new::<Sha384>(), digest, signature)
                }
                (SignatureScheme::RsaPkcs1v15, 64) => {
                    key.verify(Pkcs1v15Sign::new::<Sha512>(), digest, signature)
                }
                (_, 32) => key.verify(Pss::<Sha256>::new(), digest, signature),
                (_, 48) => key.verify(Pss::<Sha384>::new(), digest, signature),
                (_, 64) => key.verify(Pss::<Sha512>::new(), digest, signature),
                _ => panic!("unexpected digest length"),
            };
            result.is_ok()
        }
        SignatureScheme::EcdsaDer | SignatureScheme::EcdsaRaw => {
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(spki).expect("a P-256 key");
            let parsed = if scheme == SignatureScheme::EcdsaDer {
                p256::ecdsa::Signature::from_der(signature)
            } else {
                assert_eq!(signature.len(), 64, "raw r || s");
                p256::ecdsa::Signature::from_slice(signature)
            };
            parsed.is_ok_and(|sig| key.verify_prehash(digest, &sig).is_ok())
        }
    }
}

fn assert_error(status: u16, body: &Value, expected: u16, message_prefix: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status_code"], expected, "{body}");
    let message = body["message"].as_str().expect("message is a string");
    assert!(message.starts_with(message_prefix), "{body}");
    assert!(body["data"].is_null(), "{body}");
}

/// Every scheme signs a batch of SHA-256 digests that verify against the returned certificate.
#[tokio::test]
async fn every_scheme_produces_signatures_that_verify() {
    let t = TestSim::start_only(&[AN, EM, DUNG, GIANG]).await;
    let digests = vec![sha256(b"first document"), sha256(b"second document")];
    for (user, scheme) in [
        (AN, SignatureScheme::RsaPkcs1v15),
        (EM, SignatureScheme::RsaPss),
        (DUNG, SignatureScheme::EcdsaDer),
        (GIANG, SignatureScheme::EcdsaRaw),
    ] {
        let cert = b64(&t.certificate(user).await["cert_data"]);
        let tx = format!("tx-{user}");
        t.sign_ok(user, &tx, &digests).await;
        let sigs = t.signatures(&tx, 2).await;
        for (digest, sig) in digests.iter().zip(&sigs) {
            assert!(verify(&cert, scheme, digest, sig), "{scheme:?} verifies");
        }
        assert!(
            !verify(&cert, scheme, &digests[1], &sigs[0]),
            "{scheme:?} binds the digest"
        );
    }
    let states: Vec<_> = t
        .sim
        .control()
        .transactions()
        .into_iter()
        .map(|t| t.state)
        .collect();
    assert_eq!(states, vec![TransactionState::Approved; 4]);
}

/// With several workers, every worker serves the same transactions: requests sent at once,
/// on separate connections, each see what the others created.
#[tokio::test]
async fn several_workers_share_one_state() {
    let sim = kyso_sim_vnpt::spawn_with_workers(config_only(&[DUNG]), 3)
        .await
        .expect("simulator starts");
    let t = TestSim {
        sim,
        // One connection per request, so that the kernel spreads them over the workers.
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("a client"),
    };
    let digests = vec![sha256(b"worker document")];
    let ids: Vec<String> = (0..12).map(|i| format!("tx-worker-{i}")).collect();
    join_all(ids.iter().map(|id| t.sign_ok(DUNG, id, &digests))).await;
    for id in &ids {
        assert_eq!(t.signatures(id, 1).await.len(), 1);
    }
    assert_eq!(t.sim.control().transactions().len(), ids.len());
}

/// SHA-384 and SHA-512 digests are accepted and signed with the matching hash.
#[tokio::test]
async fn longer_digests_are_signed_with_the_inferred_hash() {
    let t = TestSim::start_only(&[AN, EM, DUNG]).await;
    let digests = vec![
        Sha384::digest(b"doc").to_vec(),
        Sha512::digest(b"doc").to_vec(),
    ];
    for (user, scheme) in [
        (AN, SignatureScheme::RsaPkcs1v15),
        (EM, SignatureScheme::RsaPss),
        (DUNG, SignatureScheme::EcdsaDer),
    ] {
        let cert = b64(&t.certificate(user).await["cert_data"]);
        let tx = format!("tx-long-{user}");
        t.sign_ok(user, &tx, &digests).await;
        for (digest, sig) in digests.iter().zip(t.signatures(&tx, 2).await) {
            assert!(
                verify(&cert, scheme, digest, &sig),
                "{scheme:?} {}",
                digest.len()
            );
        }
    }
}

/// A citizen who rejects: SIGNER_REJECTED, no signatures.
#[tokio::test]
async fn rejected_transaction_reports_signer_rejected() {
    let t = TestSim::start_only(&[BINH]).await;
    t.sign_ok(BINH, "tx-reject", &[sha256(b"x")]).await;
    let body = t.poll("tx-reject").await;
    assert_eq!(body["status_code"], 200);
    assert_eq!(body["message"], "SIGNER_REJECTED");
    assert_eq!(body["data"]["transaction_id"], "tx-reject");
    assert!(body["data"]["signatures"].is_null());
}

/// A manual citizen waits until told; decided transactions cannot be decided again.
#[tokio::test]
async fn manual_citizen_waits_for_control() {
    let t = TestSim::start_only(&[CUONG]).await;
    let control = t.sim.control();
    let digest = sha256(b"manual");
    t.sign_ok(CUONG, "tx-manual", std::slice::from_ref(&digest))
        .await;
    let (_, body) = t.status("tx-manual").await;
    assert_eq!(body["message"], "WAITING_FOR_USER_CONFIRM");
    assert!(body["data"]["signatures"].is_null());
    assert_eq!(body["data"]["transaction_id"], "tx-manual");

    control.approve("tx-manual").expect("approves");
    let cert = b64(&t.certificate(CUONG).await["cert_data"]);
    let sigs = t.signatures("tx-manual", 1).await;
    assert!(verify(&cert, SignatureScheme::EcdsaDer, &digest, &sigs[0]));

    assert!(matches!(
        control.reject("tx-manual"),
        Err(SimError::NotWaiting {
            state: TransactionState::Approved,
            ..
        })
    ));
    assert!(matches!(
        control.approve("nope"),
        Err(SimError::UnknownTransaction(_))
    ));

    t.sign_ok(CUONG, "tx-manual-2", &[digest]).await;
    control.reject("tx-manual-2").expect("rejects");
    assert_eq!(t.poll("tx-manual-2").await["message"], "SIGNER_REJECTED");
}

/// Expiry: by control, and by the CA-side TTL.
#[tokio::test]
async fn transactions_expire() {
    let t = TestSim::start_with(SimConfig {
        transaction_ttl: Duration::from_millis(500),
        ..config_only(&[CUONG])
    })
    .await;
    let control = t.sim.control();
    t.sign_ok(CUONG, "tx-expire-now", &[sha256(b"a")]).await;
    control.expire("tx-expire-now").expect("expires");
    let body = t.poll("tx-expire-now").await;
    assert_eq!(body["message"], "EXPIRED");
    assert!(body["data"]["signatures"].is_null());

    t.sign_ok(CUONG, "tx-ttl", &[sha256(b"b")]).await;
    assert_eq!(
        t.status("tx-ttl").await.1["message"],
        "WAITING_FOR_USER_CONFIRM"
    );
    tokio::time::sleep(Duration::from_millis(550)).await;
    assert_eq!(t.status("tx-ttl").await.1["message"], "EXPIRED");
    assert!(matches!(
        control.approve("tx-ttl"),
        Err(SimError::NotWaiting {
            state: TransactionState::Expired,
            ..
        })
    ));
}

/// ApproveAfter is resolved from the transaction's age.
#[tokio::test]
async fn approval_happens_after_the_configured_time() {
    let mut config = config_only(&[AN]);
    config.citizens[0].behaviour = Behaviour::ApproveAfter(Duration::from_millis(500));
    let t = TestSim::start_with(config).await;
    let started = Instant::now();
    t.sign_ok(AN, "tx-slow", &[sha256(b"slow")]).await;
    assert_eq!(
        t.status("tx-slow").await.1["message"],
        "WAITING_FOR_USER_CONFIRM"
    );
    t.signatures("tx-slow", 1).await;
    assert!(started.elapsed() >= Duration::from_millis(500));
}

/// Wrong SP credentials: 401 on both credentialed endpoints.
#[tokio::test]
async fn wrong_sp_password_is_401() {
    let t = TestSim::start_only(&[AN]).await;
    let mut body = TestSim::sign_body(AN, "tx-401", &[sha256(b"x")]);
    body["sp_password"] = json!("wrong");
    let (status, answer) = t.post("/v1/signatures/sign", &body).await;
    assert_error(status, &answer, 401, "SP_CREDENTIAL_INVALID");

    let body = json!({
        "sp_id": "someone-else", "sp_password": SP_PASSWORD, "user_id": AN,
        "transaction_id": "c1",
    });
    let (status, answer) = t.post("/v1/credentials/get_certificate", &body).await;
    assert_error(status, &answer, 401, "SP_CREDENTIAL_INVALID");
    assert!(t.sim.control().transactions().is_empty());
}

/// Every malformed sign request is a 400 envelope, and creates no transaction.
#[tokio::test]
async fn invalid_sign_requests_are_400() {
    let t = TestSim::start_only(&[AN, DUNG]).await;
    let good = TestSim::sign_body(AN, "tx-400", &[sha256(b"x")]);
    let cert = t.certificate(DUNG).await;
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut bad_hex = good.clone();
    bad_hex["sign_files"][0]["data_to_be_signed"] = json!("zz".repeat(32));
    cases.push(("bad hex", bad_hex));
    let mut short = good.clone();
    short["sign_files"][0]["data_to_be_signed"] = json!(hex::encode([1u8; 20]));
    cases.push(("SHA-1 length", short));
    let mut base64_digest = good.clone();
    base64_digest["sign_files"][0]["data_to_be_signed"] = json!(BASE64.encode(sha256(b"x")));
    cases.push(("base64 instead of hex", base64_digest));
    let mut file = good.clone();
    file["sign_files"][0]["sign_type"] = json!("file");
    cases.push(("sign_type file", file));
    let mut empty = good.clone();
    empty["sign_files"] = json!([]);
    cases.push(("no sign_files", empty));
    let mut unknown = good.clone();
    unknown["user_id"] = json!("079099999999");
    cases.push(("unknown user", unknown));
    let mut serial = good.clone();
    serial["serial_number"] = cert["serial_number"].clone();
    cases.push(("another user's serial", serial));
    let mut no_tx = good.clone();
    no_tx["transaction_id"] = json!("");
    cases.push(("empty transaction_id", no_tx));
    let mut missing = good.clone();
    missing["sign_files"][0]
        .as_object_mut()
        .expect("an object")
        .remove("doc_id");
    cases.push(("missing doc_id", missing));
    let mut nested = good.clone();
    nested["sign_files"][0] = json!({
        "data_to_be_signed": hex::encode(sha256(b"x")), "doc_id": "d",
        "file_options": {"file_type": "pdf", "sign_type": "hash"},
    });
    cases.push(("Laverca's nested file_options", nested));

    for (what, body) in cases {
        let (status, answer) = t.post("/v1/signatures/sign", &body).await;
        assert_error(status, &answer, 400, "BAD_REQUEST");
        assert!(
            t.sim.control().transactions().is_empty(),
            "{what} created a transaction"
        );
    }

    for raw in ["{not json", "", "[]"] {
        let (status, text) = t.post_raw("/v1/signatures/sign", raw.to_owned()).await;
        let answer: Value = serde_json::from_str(&text).expect("JSON envelope");
        assert_error(status, &answer, 400, "BAD_REQUEST");
        let (status, text) = t
            .post_raw("/v1/credentials/get_certificate", raw.to_owned())
            .await;
        let answer: Value = serde_json::from_str(&text).expect("JSON envelope");
        assert_error(status, &answer, 400, "BAD_REQUEST");
    }
    let (status, text) = t
        .post_raw("/v1/signatures/sign/x/status", "{oops".to_owned())
        .await;
    let answer: Value = serde_json::from_str(&text).expect("JSON envelope");
    assert_error(status, &answer, 400, "BAD_REQUEST");

    // The matching serial (any case) is fine.
    let mut own_serial = good.clone();
    let an_serial = t.certificate(AN).await["serial_number"]
        .as_str()
        .expect("str")
        .to_owned();
    own_serial["serial_number"] = json!(an_serial.to_lowercase());
    let (status, answer) = t.post("/v1/signatures/sign", &own_serial).await;
    assert_eq!(status, 200, "{answer}");
}

/// A transaction_id can be used once.
#[tokio::test]
async fn duplicate_transaction_id_is_400() {
    let t = TestSim::start_only(&[AN, DUNG]).await;
    t.sign_ok(AN, "tx-dup", &[sha256(b"1")]).await;
    let (status, body) = t.sign(DUNG, "tx-dup", &[sha256(b"2")]).await;
    assert_error(status, &body, 400, "BAD_REQUEST");
    assert_eq!(t.sim.control().transactions().len(), 1);
}

/// An unknown tranId on the status endpoint: 404 TRANSACTION_NOT_FOUND (our choice).
#[tokio::test]
async fn unknown_transaction_is_404() {
    let t = TestSim::start_only(&[]).await;
    let (status, body) = t.status("never-created").await;
    assert_error(status, &body, 404, "TRANSACTION_NOT_FOUND");
    assert_eq!(body["message"], "TRANSACTION_NOT_FOUND");
    // The status endpoint also takes an empty body.
    let (status, _) = t
        .post_raw("/v1/signatures/sign/never-created/status", String::new())
        .await;
    assert_eq!(status, 404);
}

/// Status(503) hits the next call of any endpoint once, without processing it.
#[tokio::test]
async fn injected_status_fails_one_call() {
    let t = TestSim::start_only(&[AN]).await;
    let control = t.sim.control();
    control.fail_next(Fault::Status(503));
    let (status, body) = t.sign(AN, "tx-503", &[sha256(b"x")]).await;
    assert_error(status, &body, 503, "SERVICE_UNAVAILABLE");
    assert!(
        control.transactions().is_empty(),
        "the failed call was not processed"
    );
    t.sign_ok(AN, "tx-503", &[sha256(b"x")]).await;

    control.fail_next(Fault::Status(500));
    let (status, body) = t.status("tx-503").await;
    assert_error(status, &body, 500, "SERVAR_INTERNAL_ERROR");
    assert_eq!(t.poll("tx-503").await["message"], "SUCCESS");
}

/// Garbage: 200 with a body that is not JSON, once.
#[tokio::test]
async fn garbage_answer_is_not_json() {
    let t = TestSim::start_only(&[AN]).await;
    t.sim.control().fail_next(Fault::Garbage);
    let body = json!({
        "sp_id": SP_ID, "sp_password": SP_PASSWORD, "user_id": AN, "transaction_id": "c",
    });
    let (status, text) = t
        .post_raw("/v1/credentials/get_certificate", body.to_string())
        .await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    let (status, _) = t.post("/v1/credentials/get_certificate", &body).await;
    assert_eq!(status, 200);
}

/// Hang and delay slow the answers down; the hang is once, the delay stays.
#[tokio::test]
async fn hang_and_delay_add_latency() {
    let t = TestSim::start_only(&[DUNG]).await;
    let control = t.sim.control();
    control.fail_next(Fault::Hang(Duration::from_millis(500)));
    let started = Instant::now();
    t.sign_ok(DUNG, "tx-hang", &[sha256(b"x")]).await;
    assert!(started.elapsed() >= Duration::from_millis(500));

    let started = Instant::now();
    t.status("tx-hang").await;
    assert!(started.elapsed() < Duration::from_millis(500));

    control.set_delay(Duration::from_millis(250));
    for _ in 0..2 {
        let started = Instant::now();
        t.status("tx-hang").await;
        assert!(started.elapsed() >= Duration::from_millis(250));
    }
    control.set_delay(Duration::ZERO);
    let started = Instant::now();
    t.status("tx-hang").await;
    assert!(started.elapsed() < Duration::from_millis(250));
}

/// A corrupted signature fails verification, stays corrupted for its transaction, and the next
/// transaction is clean again.
#[tokio::test]
async fn corrupted_signature_fails_verification() {
    let t = TestSim::start_only(&[AN, DUNG, GIANG]).await;
    let digest = sha256(b"corrupt me");
    for (user, scheme) in [
        (AN, SignatureScheme::RsaPkcs1v15),
        (DUNG, SignatureScheme::EcdsaDer),
        (GIANG, SignatureScheme::EcdsaRaw),
    ] {
        let cert = b64(&t.certificate(user).await["cert_data"]);
        t.sim.control().corrupt_next_signature();
        let tx = format!("tx-corrupt-{user}");
        t.sign_ok(user, &tx, std::slice::from_ref(&digest)).await;
        let first = t.signatures(&tx, 1).await;
        assert!(!verify(&cert, scheme, &digest, &first[0]), "{scheme:?}");
        assert_eq!(t.signatures(&tx, 1).await, first, "stays corrupted");

        let tx = format!("tx-clean-{user}");
        t.sign_ok(user, &tx, std::slice::from_ref(&digest)).await;
        let clean = t.signatures(&tx, 1).await;
        assert!(verify(&cert, scheme, &digest, &clean[0]), "{scheme:?}");
    }
}

/// A foreign key signs validly, but not for the citizen's certificate.
#[tokio::test]
async fn foreign_key_fails_verification() {
    let t = TestSim::start_only(&[AN, EM, DUNG]).await;
    let digest = sha256(b"foreign");
    for (user, scheme) in [
        (AN, SignatureScheme::RsaPkcs1v15),
        (EM, SignatureScheme::RsaPss),
        (DUNG, SignatureScheme::EcdsaDer),
    ] {
        let cert = b64(&t.certificate(user).await["cert_data"]);
        t.sim.control().sign_next_with_foreign_key();
        let tx = format!("tx-foreign-{user}");
        t.sign_ok(user, &tx, std::slice::from_ref(&digest)).await;
        let sig = t.signatures(&tx, 1).await;
        assert!(!verify(&cert, scheme, &digest, &sig[0]), "{scheme:?}");
        if scheme == SignatureScheme::EcdsaDer {
            p256::ecdsa::Signature::from_der(&sig[0]).expect("still a well-formed signature");
        } else {
            assert_eq!(sig[0].len(), 256, "still an RSA-2048 signature");
        }

        let tx = format!("tx-own-{user}");
        t.sign_ok(user, &tx, std::slice::from_ref(&digest)).await;
        let sig = t.signatures(&tx, 1).await;
        assert!(verify(&cert, scheme, &digest, &sig[0]), "{scheme:?}");
    }
}

/// get_certificate: the VNPT shape, the subject with UID=CCCD:<id>, and a chain that verifies up
/// to the root handed to the gateway.
#[tokio::test]
async fn certificate_has_vnpt_shape_and_verifies_to_the_root() {
    let t = TestSim::start().await;
    let root_pem = t.sim.root_certificate_pem();
    let (_, pem) = x509_parser::pem::parse_x509_pem(root_pem.as_bytes()).expect("root PEM");
    let root_der = pem.contents;

    for citizen in citizens() {
        let c = t.certificate(&citizen.user_id).await;
        assert_eq!(c["service_type"], "SMARTCA");
        assert_eq!(c["service_name"], "SmartCA cá nhân");
        assert_eq!(c["cert_status"], "Đang hoạt động");
        assert_eq!(c["transaction_id"], "cert-tx-1");
        uuid::Uuid::parse_str(c["cert_id"].as_str().expect("str")).expect("cert_id is a UUID");
        for field in ["cert_valid_from", "cert_valid_to"] {
            let value = c[field].as_str().expect("str");
            assert!(value.ends_with('Z'), "{value}");
            time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
                .expect("RFC 3339");
        }
        let subject = c["cert_subject"].as_str().expect("str");
        assert!(
            subject.contains(&format!("CN={}", citizen.full_name)),
            "{subject}"
        );
        assert!(
            subject.contains(&format!("UID=CCCD:{}", citizen.user_id)),
            "{subject}"
        );

        let leaf_der = b64(&c["cert_data"]);
        let ca_der = b64(&c["chain_data"]["ca_cert"]);
        assert_eq!(b64(&c["chain_data"]["root_cert"]), root_der);
        let (_, leaf) = X509Certificate::from_der(&leaf_der).expect("leaf parses");
        let (_, ca) = X509Certificate::from_der(&ca_der).expect("CA parses");
        let (_, root) = X509Certificate::from_der(&root_der).expect("root parses");

        let uid: Vec<_> = leaf
            .subject()
            .iter_attributes()
            .filter(|a| a.attr_type().to_id_string() == "0.9.2342.19200300.100.1.1")
            .map(|a| a.as_str().expect("a string").to_owned())
            .collect();
        assert_eq!(uid, vec![format!("CCCD:{}", citizen.user_id)]);
        let cn: Vec<_> = leaf
            .subject()
            .iter_common_name()
            .map(|a| a.as_str().expect("str"))
            .collect();
        assert_eq!(cn, vec![citizen.full_name.as_str()]);
        assert_eq!(leaf.subject().iter_country().count(), 1);
        assert_eq!(
            hex::encode_upper(leaf.raw_serial()),
            c["serial_number"].as_str().expect("str")
        );
        assert_eq!(leaf.raw_serial().len(), 16);
        assert!(!leaf.is_ca());
        let usage = leaf
            .key_usage()
            .expect("one key usage")
            .expect("present")
            .value;
        assert!(usage.digital_signature() && usage.non_repudiation());
        assert!(!usage.key_cert_sign());
        assert!(leaf.validity().is_valid());

        assert_eq!(leaf.issuer(), ca.subject());
        assert_eq!(ca.issuer(), root.subject());
        assert!(ca.is_ca() && root.is_ca());
        let ca_constraints = ca
            .basic_constraints()
            .expect("unique")
            .expect("present")
            .value;
        assert_eq!(ca_constraints.path_len_constraint, Some(0));
        leaf.verify_signature(Some(ca.public_key()))
            .expect("leaf signed by the CA");
        ca.verify_signature(Some(root.public_key()))
            .expect("CA signed by the root");
        root.verify_signature(None).expect("root is self-signed");
        assert_eq!(
            root.subject().to_string(),
            "CN=Kyso Sandbox Root CA, O=Kyso Sandbox, C=VN"
        );
        assert_eq!(
            ca.subject().to_string(),
            "CN=Kyso Sandbox SmartCA RS, O=Kyso Sandbox, C=VN"
        );

        let pem = t
            .sim
            .control()
            .citizen_certificate_pem(&citizen.user_id)
            .expect("known citizen");
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM");
        assert_eq!(pem.contents, leaf_der);
    }
    assert!(t.sim.control().citizen_certificate_pem("nobody").is_none());
}

/// get_certificate with an unknown user or a non-matching serial: 200 with an empty list.
#[tokio::test]
async fn get_certificate_filters() {
    let t = TestSim::start_only(&[AN]).await;
    let (status, body) = t.get_certificate("079099999999", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["message"], "SUCCESS");
    assert_eq!(body["data"]["user_certificates"], json!([]));

    let serial = t.certificate(AN).await["serial_number"]
        .as_str()
        .expect("str")
        .to_owned();
    let (_, body) = t.get_certificate(AN, Some(&serial)).await;
    assert_eq!(
        body["data"]["user_certificates"].as_array().map(Vec::len),
        Some(1)
    );
    let (_, body) = t.get_certificate(AN, Some("0123456789ABCDEF")).await;
    assert_eq!(body["data"]["user_certificates"], json!([]));
}

/// Every CA-endpoint call is recorded in order, bodies included.
#[tokio::test]
async fn requests_are_recorded() {
    let t = TestSim::start_only(&[DUNG]).await;
    t.certificate(DUNG).await;
    t.sign_ok(DUNG, "tx-rec", &[sha256(b"r")]).await;
    t.status("tx-rec").await;
    t.post_raw("/v1/signatures/sign", "garbage".to_owned())
        .await;
    let requests = t.sim.control().requests();
    let paths: Vec<_> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/sca/sp769/v1/credentials/get_certificate",
            "/sca/sp769/v1/signatures/sign",
            "/sca/sp769/v1/signatures/sign/tx-rec/status",
            "/sca/sp769/v1/signatures/sign",
        ]
    );
    assert_eq!(requests[1].body["sign_files"][0]["sign_type"], "hash");
    assert_eq!(
        requests[1].body["sp_password"], "[REDACTED]",
        "secrets are not logged"
    );
    assert_eq!(requests[1].body["sp_id"], SP_ID);
    assert_eq!(requests[2].body, json!({}));
    assert_eq!(requests[3].body, json!("garbage"));
}

/// The `/_sim` HTTP API drives the same state as `SimControl`.
#[tokio::test]
async fn http_control_api() {
    let t = TestSim::start().await;
    let base = format!("http://{}/_sim", t.sim.addr());
    let post = |path: &str, body: Option<Value>| {
        let request = t.http.post(format!("{base}{path}"));
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move { request.send().await.expect("sent").status().as_u16() }
    };

    let citizens: Value = t
        .http
        .get(format!("{base}/citizens"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(citizens.as_array().map(Vec::len), Some(6));
    assert_eq!(citizens[2]["user_id"], CUONG);
    assert_eq!(citizens[2]["scheme"], "ecdsa_der");
    assert_eq!(citizens[2]["behaviour"]["kind"], "manual");
    assert_eq!(citizens[0]["behaviour"]["after_millis"], 0);

    let root = t
        .http
        .get(format!("{base}/root.pem"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    assert_eq!(root, t.sim.root_certificate_pem());

    t.sign_ok(CUONG, "tx-http", &[sha256(b"h")]).await;
    assert_eq!(post("/transactions/tx-http/approve", None).await, 200);
    assert_eq!(post("/transactions/tx-http/approve", None).await, 409);
    assert_eq!(post("/transactions/missing/reject", None).await, 404);
    assert_eq!(post("/transactions/tx-http/explode", None).await, 404);
    assert_eq!(t.poll("tx-http").await["message"], "SUCCESS");
    t.sign_ok(CUONG, "tx-http-2", &[sha256(b"h")]).await;
    assert_eq!(post("/transactions/tx-http-2/expire", None).await, 200);

    let listed: Value = t
        .http
        .get(format!("{base}/transactions"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        listed,
        json!([
            {"transaction_id": "tx-http", "user_id": CUONG, "state": "approved", "document_count": 1},
            {"transaction_id": "tx-http-2", "user_id": CUONG, "state": "expired", "document_count": 1},
        ])
    );

    assert_eq!(
        post("/faults", Some(json!({"kind": "status", "status": 502}))).await,
        204
    );
    assert_eq!(t.status("tx-http").await.0, 502);
    assert_eq!(t.status("tx-http").await.0, 200);
    assert_eq!(post("/faults", Some(json!({"kind": "garbage"}))).await, 204);
    assert!(
        t.post_raw("/v1/signatures/sign/tx-http/status", "{}".into())
            .await
            .1
            .starts_with('<')
    );
    assert_eq!(
        post("/faults", Some(json!({"kind": "hang", "millis": 200}))).await,
        204
    );
    let started = Instant::now();
    t.status("tx-http").await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(post("/delay", Some(json!({"millis": 0}))).await, 204);
    assert_eq!(
        post(
            &format!("/citizens/{BINH}/behaviour"),
            Some(json!({"kind": "approve_after", "after_millis": 0}))
        )
        .await,
        204
    );
    assert_eq!(
        t.sim.control().citizens()[1].behaviour,
        Behaviour::ApproveAfter(Duration::ZERO)
    );
    assert_eq!(
        post(
            "/citizens/nobody/behaviour",
            Some(json!({"kind": "manual"}))
        )
        .await,
        404
    );
    assert_eq!(
        post("/faults", Some(json!({"kind": "nonsense"}))).await,
        400
    );
    assert_eq!(
        post("/faults", Some(json!({"kind": "status", "status": 7}))).await,
        400
    );

    let digest = sha256(b"via http");
    let cert = b64(&t.certificate(AN).await["cert_data"]);
    assert_eq!(
        post("/faults", Some(json!({"kind": "foreign_key"}))).await,
        204
    );
    t.sign_ok(AN, "tx-http-foreign", std::slice::from_ref(&digest))
        .await;
    let sig = t.signatures("tx-http-foreign", 1).await;
    assert!(!verify(
        &cert,
        SignatureScheme::RsaPkcs1v15,
        &digest,
        &sig[0]
    ));
    assert_eq!(
        post("/faults", Some(json!({"kind": "corrupt_signature"}))).await,
        204
    );
    t.sign_ok(AN, "tx-http-corrupt", std::slice::from_ref(&digest))
        .await;
    let sig = t.signatures("tx-http-corrupt", 1).await;
    assert!(!verify(
        &cert,
        SignatureScheme::RsaPkcs1v15,
        &digest,
        &sig[0]
    ));
}

/// Unknown paths answer the VNPT envelope too.
#[tokio::test]
async fn unknown_path_is_404_envelope() {
    let t = TestSim::start_only(&[]).await;
    let (status, body) = t.post("/v2/signatures/confirm", &json!({})).await;
    assert_error(status, &body, 404, "NOT_FOUND");
}

/// The sandbox configuration starts, and `stop` really stops the server.
#[tokio::test]
async fn sandbox_starts_and_stops() {
    let config = SimConfig::sandbox();
    assert_eq!(config.sp_id, "kyso-sandbox-sp");
    assert_eq!(config.sp_password, "sandbox-sp-secret");
    assert_eq!(config.citizens.len(), 5);
    assert!(config.citizens.iter().all(|c| c.user_id.len() == 12));
    let sim = kyso_sim_vnpt::spawn(config).await.expect("starts");
    let base_url = sim.base_url();
    assert!(base_url.starts_with("http://127.0.0.1:") && base_url.ends_with("/sca/sp769"));
    let http = reqwest::Client::new();
    let body = json!({
        "sp_id": "kyso-sandbox-sp", "sp_password": "sandbox-sp-secret",
        "user_id": "001099000004", "transaction_id": "t",
    });
    let answer: Value = http
        .post(format!("{base_url}/v1/credentials/get_certificate"))
        .json(&body)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert!(
        answer["data"]["user_certificates"][0]["cert_subject"]
            .as_str()
            .expect("str")
            .contains("Phạm Thị Dung")
    );
    sim.stop().await;
    let after = reqwest::Client::new()
        .post(format!("{base_url}/v1/credentials/get_certificate"))
        .json(&body)
        .send()
        .await;
    assert!(after.is_err(), "the server is down");
}

/// Dropping the handle stops the server too.
#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let t = TestSim::start_only(&[]).await;
    let addr = t.sim.addr();
    drop(t);
    let mut down = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            down = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(down, "the server still accepts connections");
}

/// A config with a duplicate user_id is refused.
#[tokio::test]
async fn duplicate_user_id_is_refused() {
    let mut config = config();
    config.citizens.push(config.citizens[0].clone());
    assert!(matches!(
        kyso_sim_vnpt::spawn(config).await,
        Err(SimError::InvalidConfig(_))
    ));
}
