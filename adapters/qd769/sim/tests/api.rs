//! Drives the simulator over real HTTP, as an adapter would, in both roles and every rendering,
//! and checks what it returns independently: certificate chains with x509-parser, signatures
//! with the `rsa` crate.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_sim_qd769::{
    Behaviour, CaSpec, CertificateStatus, ChainLayout, CitizenSpec, Fault, FileOptionsLayout,
    HashEncoding, SignMode, SimConfig, SimError, SimHandle, SimMode, SimPaths, TransactionState,
};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};
use x509_parser::prelude::{FromDer, X509Certificate};

const SP_ID: &str = "test-sp";
const SP_PASSWORD: &str = "test-sp-secret";
const TOKEN: &str = "test-token";

const AN: &str = "001099000001";
const BINH: &str = "001099000002";
const CUONG: &str = "001099000003";
const HOA: &str = "001099000006";

/// A running simulator plus an HTTP client and the CA to route to (NEAC).
struct TestSim {
    sim: SimHandle,
    http: reqwest::Client,
    paths: SimPaths,
    /// `ca_name` sent in every body, if any.
    ca_name: Option<String>,
    /// Encoding of the digests this test sends.
    encoding: HashEncoding,
    /// Where this test puts file_type/sign_type.
    layout: FileOptionsLayout,
}

fn now() -> Behaviour {
    Behaviour::ApproveAfter(Duration::ZERO)
}

/// A direct CA: An approves at once, Bình rejects at once, Cường is manual, Hoa is suspended.
fn direct_config() -> SimConfig {
    SimConfig::qd769(
        SP_ID,
        SP_PASSWORD,
        CaSpec::new(
            "BKAV-CA",
            vec![
                CitizenSpec::new(AN, "Nguyễn Văn An", now()),
                CitizenSpec::new(
                    BINH,
                    "Trần Thị Bình",
                    Behaviour::RejectAfter(Duration::ZERO),
                ),
                CitizenSpec::new(CUONG, "Lê Văn Cường", Behaviour::Manual),
                CitizenSpec::new(HOA, "Đỗ Thị Hoa", now()).suspended(),
            ],
        ),
    )
}

/// NEAC with FPT-CA (base64, An and Bình) and CA2 (hex, An), accepting a token.
fn neac_config() -> SimConfig {
    let mut config = SimConfig::neac(
        SP_ID,
        SP_PASSWORD,
        vec![
            CaSpec::new(
                "FPT-CA",
                vec![
                    CitizenSpec::new(AN, "Nguyễn Văn An", now()),
                    CitizenSpec::new(
                        BINH,
                        "Trần Thị Bình",
                        Behaviour::RejectAfter(Duration::ZERO),
                    ),
                ],
            )
            .with_hash_encoding(HashEncoding::Base64),
            CaSpec::new("CA2", vec![CitizenSpec::new(AN, "Nguyễn Văn An", now())]),
        ],
    );
    config.token = Some(TOKEN.to_owned());
    config
}

impl TestSim {
    async fn start(config: SimConfig) -> Self {
        let paths = config.paths.clone();
        let layout = config.file_options;
        let encoding = config.cas[0].hash_encoding;
        let ca_name = (config.mode == SimMode::Neac).then(|| config.cas[0].name.clone());
        let sim = kyso_sim_qd769::spawn(config)
            .await
            .expect("simulator starts");
        Self {
            sim,
            http: reqwest::Client::new(),
            paths,
            ca_name,
            encoding,
            layout,
        }
    }

    /// The same simulator, routed to another CA behind NEAC with its encoding.
    fn route(&mut self, ca_name: &str, encoding: HashEncoding) {
        self.ca_name = Some(ca_name.to_owned());
        self.encoding = encoding;
    }

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

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let (status, text) = self.post_raw(path, body.to_string()).await;
        let value = serde_json::from_str(&text).expect("the answer is JSON");
        (status, value)
    }

    /// The credentials and routing every body carries.
    fn base_body(&self) -> Value {
        let mut body = json!({"sp_id": SP_ID, "sp_password": SP_PASSWORD});
        if let Some(ca_name) = &self.ca_name {
            body["ca_name"] = json!(ca_name);
        }
        body
    }

    async fn get_certificate(&self, user_id: &str) -> (u16, Value) {
        let mut body = self.base_body();
        body["user_id"] = json!(user_id);
        body["transaction_id"] = json!("cert-1");
        self.post(&self.paths.get_certificate, &body).await
    }

    /// The citizen's only certificate object.
    async fn certificate(&self, user_id: &str) -> Value {
        let (status, body) = self.get_certificate(user_id).await;
        assert_eq!(status, 200, "{body}");
        let certs = body["data"]["user_certificates"].as_array().unwrap();
        assert_eq!(certs.len(), 1, "{body}");
        certs[0].clone()
    }

    fn encode(&self, digest: &[u8]) -> String {
        match self.encoding {
            HashEncoding::Hex => hex::encode(digest),
            HashEncoding::Base64 => BASE64.encode(digest),
        }
    }

    fn sign_body(&self, user_id: &str, transaction_id: &str, digests: &[Vec<u8>]) -> Value {
        let files: Vec<Value> = digests
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut file =
                    json!({"data_to_be_signed": self.encode(d), "doc_id": format!("doc-{i}")});
                match self.layout {
                    FileOptionsLayout::Flat => {
                        file["file_type"] = json!("pdf");
                        file["sign_type"] = json!("hash");
                    }
                    FileOptionsLayout::Nested => {
                        file["file_options"] = json!({"file_type": "pdf", "sign_type": "hash"});
                    }
                }
                file
            })
            .collect();
        let mut body = self.base_body();
        body["user_id"] = json!(user_id);
        body["transaction_id"] = json!(transaction_id);
        body["transaction_desc"] = json!("Ký hồ sơ dịch vụ công");
        body["time_stamp"] = json!("20261122063000Z");
        body["sign_files"] = json!(files);
        body
    }

    async fn sign(&self, user_id: &str, transaction_id: &str, digests: &[Vec<u8>]) -> (u16, Value) {
        self.post(
            &self.paths.sign,
            &self.sign_body(user_id, transaction_id, digests),
        )
        .await
    }

    async fn sign_ok(&self, user_id: &str, transaction_id: &str, digests: &[Vec<u8>]) {
        let (status, body) = self.sign(user_id, transaction_id, digests).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["message"], "sig_wait_for_user_confirm");
        assert_eq!(body["data"]["transaction_id"], transaction_id);
        assert!(body["data"]["signed_files"].is_null());
        assert!(!body["data"]["tran_code"].as_str().unwrap().is_empty());
    }

    fn status_path(&self, transaction_id: &str) -> String {
        self.paths
            .status
            .replace("{transaction_id}", transaction_id)
    }

    async fn status(&self, transaction_id: &str) -> (u16, Value) {
        let mut body = self.base_body();
        body["transaction_id"] = json!(transaction_id);
        self.post(&self.status_path(transaction_id), &body).await
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

    /// The signatures of an approved transaction, in document order.
    async fn signatures(&self, transaction_id: &str, count: usize) -> Vec<Vec<u8>> {
        let body = self.poll(transaction_id).await;
        signatures_of(&body, count)
    }
}

fn signatures_of(body: &Value, count: usize) -> Vec<Vec<u8>> {
    assert_eq!(body["message"], "SUCCESS", "{body}");
    let files = body["data"]["signed_files"].as_array().unwrap();
    assert_eq!(files.len(), count);
    files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            assert_eq!(file["doc_id"], format!("doc-{i}"));
            assert!(file["timestamp_signature"].is_null());
            b64(&file["signature_value"])
        })
        .collect()
}

fn b64(value: &Value) -> Vec<u8> {
    BASE64.decode(value.as_str().expect("a string")).unwrap()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

/// Whether `signature` is a PKCS#1 v1.5 signature over `digest` by the certificate's key.
fn verifies(cert_der: &[u8], digest: &[u8], signature: &[u8]) -> bool {
    let (_, cert) = X509Certificate::from_der(cert_der).unwrap();
    let key = RsaPublicKey::from_public_key_der(cert.public_key().raw).unwrap();
    let scheme = match digest.len() {
        32 => Pkcs1v15Sign::new::<Sha256>(),
        64 => Pkcs1v15Sign::new::<Sha512>(),
        other => panic!("no test digest has {other} bytes"),
    };
    key.verify(scheme, digest, signature).is_ok()
}

fn assert_error(status: u16, body: &Value, expected: u16, message_prefix: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status_code"], expected, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with(message_prefix),
        "{body}"
    );
    assert!(body["data"].is_null());
}

/// The certificate object's chain, in the rendering's shape, as DER (issuing CA, root).
fn chain_of(cert: &Value) -> Vec<Vec<u8>> {
    match &cert["chain_data"] {
        Value::Array(list) => list.iter().map(b64).collect(),
        Value::Object(object) => vec![b64(&object["ca_cert"]), b64(&object["root_cert"])],
        other => panic!("chain_data is {other}"),
    }
}

/// The certificate names the citizen, chains through `chain` to the root PEM, and its issuer
/// CN names the CA.
fn check_certificate(cert: &Value, user_id: &str, root_pem: &str, ca_name: &str) {
    let leaf_der = b64(&cert["cert_data"]);
    let chain = chain_of(cert);
    assert_eq!(chain.len(), 2);
    let root_der = pem_der(root_pem);
    assert_eq!(chain[1], root_der, "the chain ends with the root");
    let (_, leaf) = X509Certificate::from_der(&leaf_der).unwrap();
    let (_, issuing) = X509Certificate::from_der(&chain[0]).unwrap();
    let (_, root) = X509Certificate::from_der(&root_der).unwrap();
    leaf.verify_signature(Some(issuing.public_key())).unwrap();
    issuing.verify_signature(Some(root.public_key())).unwrap();
    root.verify_signature(None).unwrap();
    let uid = leaf
        .subject()
        .iter_attributes()
        .find(|a| a.attr_type().to_id_string() == "0.9.2342.19200300.100.1.1")
        .unwrap();
    assert_eq!(uid.as_str().unwrap(), format!("CCCD:{user_id}"));
    let issuer_cn = issuing
        .subject()
        .iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(issuer_cn, format!("{ca_name} (Kyso sandbox)"));
    assert_eq!(
        cert["serial_number"].as_str().unwrap(),
        hex::encode_upper(leaf.raw_serial())
    );
    assert!(cert["cert_subject"].as_str().unwrap().contains(user_id));
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    BASE64.decode(body).unwrap()
}

#[tokio::test]
async fn direct_ca_signs_hex_flat_digests_that_verify() {
    let sim = TestSim::start(direct_config()).await;
    let cert = sim.certificate(AN).await;
    assert_eq!(cert["cert_status"], "Đang hoạt động");
    check_certificate(&cert, AN, &sim.sim.root_certificate_pem(), "BKAV-CA");
    let digests = vec![sha256(b"a"), sha256(b"b"), Sha512::digest(b"c").to_vec()];
    sim.sign_ok(AN, "tx-1", &digests).await;
    let signatures = sim.signatures("tx-1", 3).await;
    let leaf = b64(&cert["cert_data"]);
    for (digest, signature) in digests.iter().zip(&signatures) {
        assert!(verifies(&leaf, digest, signature));
    }
    // Asked again, the same signatures.
    assert_eq!(sim.signatures("tx-1", 3).await, signatures);
}

#[tokio::test]
async fn rejected_and_manual_transactions_report_their_state() {
    let sim = TestSim::start(direct_config()).await;
    sim.sign_ok(BINH, "tx-r", &[sha256(b"r")]).await;
    let body = sim.poll("tx-r").await;
    assert_eq!(body["message"], "SIGNER_REJECTED");
    assert!(body["data"]["signed_files"].is_null());

    sim.sign_ok(CUONG, "tx-m", &[sha256(b"m")]).await;
    let (_, body) = sim.status("tx-m").await;
    assert_eq!(body["message"], "WAITING_FOR_USER_CONFIRM");
    let control = sim.sim.control();
    control.approve("tx-m").unwrap();
    assert_eq!(sim.signatures("tx-m", 1).await.len(), 1);
    assert!(matches!(
        control.reject("tx-m"),
        Err(SimError::NotWaiting {
            state: TransactionState::Approved,
            ..
        })
    ));
    assert!(matches!(
        control.approve("nope"),
        Err(SimError::UnknownTransaction(_))
    ));

    sim.sign_ok(CUONG, "tx-e", &[sha256(b"e")]).await;
    control.expire("tx-e").unwrap();
    assert_eq!(sim.poll("tx-e").await["message"], "EXPIRED");
}

#[tokio::test]
async fn transactions_expire_by_behaviour_and_by_ttl() {
    let mut config = direct_config();
    config.transaction_ttl = Duration::from_millis(300);
    let sim = TestSim::start(config).await;
    sim.sim
        .control()
        .set_behaviour(AN, Behaviour::ExpireAfter(Duration::from_millis(50)))
        .unwrap();
    sim.sign_ok(AN, "tx-1", &[sha256(b"1")]).await;
    assert_eq!(sim.poll("tx-1").await["message"], "EXPIRED");
    sim.sign_ok(CUONG, "tx-2", &[sha256(b"2")]).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(sim.poll("tx-2").await["message"], "EXPIRED");
    let states: Vec<_> = sim
        .sim
        .control()
        .transactions()
        .into_iter()
        .map(|t| (t.transaction_id, t.ca_name, t.state))
        .collect();
    assert_eq!(
        states,
        vec![
            ("tx-1".into(), "BKAV-CA".into(), TransactionState::Expired),
            ("tx-2".into(), "BKAV-CA".into(), TransactionState::Expired),
        ]
    );
}

#[tokio::test]
async fn approval_waits_for_the_configured_delay() {
    let sim = TestSim::start(direct_config()).await;
    sim.sim
        .control()
        .set_behaviour(AN, Behaviour::ApproveAfter(Duration::from_millis(300)))
        .unwrap();
    let started = Instant::now();
    sim.sign_ok(AN, "tx-1", &[sha256(b"1")]).await;
    let (_, body) = sim.status("tx-1").await;
    assert_eq!(body["message"], "WAITING_FOR_USER_CONFIRM");
    sim.signatures("tx-1", 1).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn base64_ca_reads_base64_and_hex_ca_refuses_it() {
    let mut config = direct_config();
    config.cas[0].hash_encoding = HashEncoding::Base64;
    let sim = TestSim::start(config).await;
    let cert = sim.certificate(AN).await;
    let digest = sha256(b"base64");
    sim.sign_ok(AN, "tx-1", std::slice::from_ref(&digest)).await;
    let signature = &sim.signatures("tx-1", 1).await[0];
    assert!(verifies(&b64(&cert["cert_data"]), &digest, signature));
    let (status, body) = sim.sign(AN, "tx-2", &[vec![1; 20]]).await;
    assert_error(
        status,
        &body,
        400,
        "BAD_REQUEST: sign_files[0]: data_to_be_signed is 20 bytes",
    );

    let mut hex_sim = TestSim::start(direct_config()).await;
    hex_sim.encoding = HashEncoding::Base64;
    let (status, body) = hex_sim.sign(AN, "tx-3", &[sha256(b"x")]).await;
    assert_error(
        status,
        &body,
        400,
        "BAD_REQUEST: sign_files[0]: data_to_be_signed is not hex",
    );
}

#[tokio::test]
async fn file_options_must_have_the_configured_layout() {
    let mut config = direct_config();
    config.file_options = FileOptionsLayout::Nested;
    let mut sim = TestSim::start(config).await;
    sim.sign_ok(AN, "tx-nested", &[sha256(b"n")]).await;
    sim.layout = FileOptionsLayout::Flat;
    let (status, body) = sim.sign(AN, "tx-flat", &[sha256(b"f")]).await;
    assert_error(
        status,
        &body,
        400,
        "BAD_REQUEST: sign_files[0]: file_options",
    );

    let mut flat = TestSim::start(direct_config()).await;
    flat.layout = FileOptionsLayout::Nested;
    let (status, body) = flat.sign(AN, "tx-nested", &[sha256(b"n")]).await;
    assert_error(
        status,
        &body,
        400,
        "BAD_REQUEST: sign_files[0]: file_options is not used",
    );
    flat.layout = FileOptionsLayout::Flat;
    let mut body = flat.sign_body(AN, "tx-file", &[sha256(b"f")]);
    body["sign_files"][0]["sign_type"] = json!("file");
    let (status, body) = flat.post(&flat.paths.sign, &body).await;
    assert_error(
        status,
        &body,
        400,
        "BAD_REQUEST: sign_files[0]: sign_type must be",
    );
}

#[tokio::test]
async fn chain_data_is_rendered_as_configured() {
    let mut config = direct_config();
    config.chain_data = ChainLayout::Object;
    let sim = TestSim::start(config).await;
    let cert = sim.certificate(AN).await;
    assert!(cert["chain_data"].is_object(), "{cert}");
    check_certificate(&cert, AN, &sim.sim.root_certificate_pem(), "BKAV-CA");
    let array = TestSim::start(direct_config()).await;
    assert!(array.certificate(AN).await["chain_data"].is_array());
}

#[tokio::test]
async fn synchronous_sign_answers_once_the_citizen_decided() {
    let mut config = direct_config();
    config.sign_mode = SignMode::Sync;
    let sim = TestSim::start(config).await;
    sim.sim
        .control()
        .set_behaviour(AN, Behaviour::ApproveAfter(Duration::from_millis(200)))
        .unwrap();
    let cert = sim.certificate(AN).await;
    let digests = vec![sha256(b"1"), sha256(b"2")];
    let started = Instant::now();
    let (status, body) = sim.sign(AN, "tx-sync", &digests).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["transaction_id"], "tx-sync");
    let signatures = signatures_of(&body, 2);
    for (digest, signature) in digests.iter().zip(&signatures) {
        assert!(verifies(&b64(&cert["cert_data"]), digest, signature));
    }
    // The status call still answers for it.
    assert_eq!(sim.signatures("tx-sync", 2).await, signatures);

    let (status, body) = sim.sign(BINH, "tx-sync-r", &[sha256(b"r")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["message"], "SIGNER_REJECTED");
    assert!(body["data"]["signed_files"].is_null());
}

#[tokio::test]
async fn neac_routes_by_ca_name_to_each_cas_own_certificates() {
    let mut sim = TestSim::start(neac_config()).await;
    assert_eq!(sim.sim.mode(), SimMode::Neac);
    let root = sim.sim.root_certificate_pem();
    let at_fpt = sim.certificate(AN).await;
    check_certificate(&at_fpt, AN, &root, "FPT-CA");
    let digest = sha256(b"fpt");
    sim.sign_ok(AN, "tx-fpt", std::slice::from_ref(&digest))
        .await;
    let signature = sim.signatures("tx-fpt", 1).await.remove(0);
    assert!(verifies(&b64(&at_fpt["cert_data"]), &digest, &signature));

    sim.route("CA2", HashEncoding::Hex);
    let at_ca2 = sim.certificate(AN).await;
    check_certificate(&at_ca2, AN, &root, "CA2");
    assert_ne!(at_fpt["cert_data"], at_ca2["cert_data"]);
    // Bình has no certificate at CA2; FPT-CA's transaction does not exist for CA2.
    let (status, body) = sim.get_certificate(BINH).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["user_certificates"], json!([]));
    let (status, body) = sim.status("tx-fpt").await;
    assert_error(status, &body, 404, "TRANSACTION_NOT_FOUND");
    let digest = sha256(b"ca2");
    sim.sign_ok(AN, "tx-ca2", std::slice::from_ref(&digest))
        .await;
    let signature = sim.signatures("tx-ca2", 1).await.remove(0);
    assert!(verifies(&b64(&at_ca2["cert_data"]), &digest, &signature));
    assert!(!verifies(&b64(&at_fpt["cert_data"]), &digest, &signature));
}

#[tokio::test]
async fn neac_requires_a_known_ca_name() {
    let sim = TestSim::start(neac_config()).await;
    let mut body = json!({"sp_id": SP_ID, "sp_password": SP_PASSWORD, "user_id": AN});
    let (status, answer) = sim.post("/sign_v2/get_certificate", &body).await;
    assert_error(status, &answer, 400, "BAD_REQUEST: ca_name is required");
    body["ca_name"] = json!("VIETTEL-CA");
    let (status, answer) = sim.post("/sign_v2/get_certificate", &body).await;
    assert_error(
        status,
        &answer,
        400,
        "BAD_REQUEST: unknown ca_name VIETTEL-CA",
    );
    // A direct CA ignores ca_name.
    let direct = TestSim::start(direct_config()).await;
    let (status, _) = direct.post("/get_certificate", &body).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn neac_accepts_its_token_instead_of_the_password() {
    let sim = TestSim::start(neac_config()).await;
    let body = |credential: Value| {
        let mut body = json!({"sp_id": SP_ID, "ca_name": "FPT-CA", "user_id": AN});
        body.as_object_mut()
            .unwrap()
            .extend(credential.as_object().unwrap().clone());
        body
    };
    let (status, _) = sim
        .post("/sign_v2/get_certificate", &body(json!({"token": TOKEN})))
        .await;
    assert_eq!(status, 200);
    for credential in [
        json!({"token": "wrong"}),
        json!({}),
        json!({"sp_password": "x"}),
    ] {
        let (status, answer) = sim
            .post("/sign_v2/get_certificate", &body(credential))
            .await;
        assert_error(status, &answer, 401, "SP_CREDENTIAL_INVALID");
    }
    // Without a configured token, none is accepted.
    let direct = TestSim::start(direct_config()).await;
    let (status, _) = direct
        .post(
            "/get_certificate",
            &json!({"sp_id": SP_ID, "token": TOKEN, "user_id": AN}),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn wrong_credentials_are_401_on_every_endpoint() {
    let sim = TestSim::start(direct_config()).await;
    sim.sign_ok(AN, "tx-1", &[sha256(b"1")]).await;
    let wrong = json!({"sp_id": SP_ID, "sp_password": "nope", "user_id": AN,
                       "transaction_id": "tx-2", "sign_files": []});
    for path in ["/get_certificate", "/sign", "/sign/tx-1/status"] {
        let (status, body) = sim.post(path, &wrong).await;
        assert_error(status, &body, 401, "SP_CREDENTIAL_INVALID");
    }
    // The status call is authenticated: no body, no answer.
    let (status, text) = sim.post_raw("/sign/tx-1/status", String::new()).await;
    assert_eq!(status, 401, "{text}");
}

#[tokio::test]
async fn suspended_certificate_is_listed_but_cannot_sign() {
    let sim = TestSim::start(direct_config()).await;
    let cert = sim.certificate(HOA).await;
    assert_eq!(cert["cert_status"], "Tạm dừng");
    let (status, body) = sim.sign(HOA, "tx-1", &[sha256(b"1")]).await;
    assert_error(status, &body, 403, "CREDENTIAL_STATUS_INVALID");
}

#[tokio::test]
async fn invalid_sign_requests_are_400() {
    let sim = TestSim::start(direct_config()).await;
    let (status, body) = sim.sign("079200000999", "tx-1", &[sha256(b"1")]).await;
    assert_error(status, &body, 400, "BAD_REQUEST: unknown user_id");
    let (status, body) = sim.sign(AN, "tx-2", &[]).await;
    assert_error(status, &body, 400, "BAD_REQUEST: sign_files is empty");
    let mut wrong_serial = sim.sign_body(AN, "tx-3", &[sha256(b"3")]);
    wrong_serial["serial_number"] = json!("00");
    let (status, body) = sim.post("/sign", &wrong_serial).await;
    assert_error(status, &body, 400, "BAD_REQUEST: serial_number 00");
    let (status, text) = sim.post_raw("/sign", "{not json".to_owned()).await;
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_error(status, &body, 400, "BAD_REQUEST: malformed request body");
    sim.sign_ok(AN, "tx-4", &[sha256(b"4")]).await;
    let (status, body) = sim.sign(AN, "tx-4", &[sha256(b"4")]).await;
    assert_error(
        status,
        &body,
        400,
        "BAD_REQUEST: transaction_id tx-4 was already used",
    );
    let (status, body) = sim.status("unknown").await;
    assert_error(status, &body, 404, "TRANSACTION_NOT_FOUND");
    let mut mismatch = sim.base_body();
    mismatch["transaction_id"] = json!("tx-other");
    let (status, body) = sim.post("/sign/tx-4/status", &mismatch).await;
    assert_error(status, &body, 400, "BAD_REQUEST: transaction_id differs");
}

#[tokio::test]
async fn get_certificate_is_empty_for_unknown_users_and_filters_by_serial() {
    let sim = TestSim::start(direct_config()).await;
    let (status, body) = sim.get_certificate("079200000999").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["user_certificates"], json!([]));
    let serial = sim.certificate(AN).await["serial_number"].clone();
    let mut body = sim.base_body();
    body["user_id"] = json!(AN);
    body["serial_number"] = json!(serial.as_str().unwrap().to_lowercase());
    let (_, answer) = sim.post("/get_certificate", &body).await;
    assert_eq!(
        answer["data"]["user_certificates"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    body["serial_number"] = json!("00");
    let (_, answer) = sim.post("/get_certificate", &body).await;
    assert_eq!(answer["data"]["user_certificates"], json!([]));
}

#[tokio::test]
async fn custom_paths_are_served_and_a_status_path_without_id_reads_the_body() {
    let mut config = direct_config();
    config.paths = SimPaths {
        get_certificate: "/ca/certs".into(),
        sign: "/ca/sign".into(),
        status: "/ca/status".into(),
    };
    let sim = TestSim::start(config).await;
    sim.certificate(AN).await;
    sim.sign_ok(AN, "tx-1", &[sha256(b"1")]).await;
    assert_eq!(sim.signatures("tx-1", 1).await.len(), 1);
    let (status, body) = sim.post("/ca/status", &sim.base_body()).await;
    assert_error(
        status,
        &body,
        400,
        "BAD_REQUEST: transaction_id is required",
    );
    let (status, body) = sim.post("/get_certificate", &sim.base_body()).await;
    assert_error(status, &body, 404, "NOT_FOUND");
}

#[tokio::test]
async fn injected_faults_fail_one_call() {
    let sim = TestSim::start(direct_config()).await;
    let control = sim.sim.control();
    control.fail_next(Fault::Status(503));
    let (status, body) = sim.get_certificate(AN).await;
    assert_error(status, &body, 503, "SERVICE_UNAVAILABLE");
    assert_eq!(sim.get_certificate(AN).await.0, 200);

    control.fail_next(Fault::Garbage);
    let (status, text) = sim.post_raw("/get_certificate", "{}".to_owned()).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&text).is_err());

    control.fail_next(Fault::Hang(Duration::from_millis(300)));
    let started = Instant::now();
    assert_eq!(sim.get_certificate(AN).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    control.set_delay(Duration::from_millis(100));
    let started = Instant::now();
    sim.get_certificate(AN).await;
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn corrupted_and_foreign_signatures_fail_verification() {
    let sim = TestSim::start(direct_config()).await;
    let cert = b64(&sim.certificate(AN).await["cert_data"]);
    let control = sim.sim.control();
    let digest = sha256(b"corrupt");
    control.corrupt_next_signature();
    sim.sign_ok(AN, "tx-c", std::slice::from_ref(&digest)).await;
    let corrupted = sim.signatures("tx-c", 1).await.remove(0);
    assert!(!verifies(&cert, &digest, &corrupted));
    assert_eq!(sim.signatures("tx-c", 1).await[0], corrupted, "stable");

    control.sign_next_with_foreign_key();
    sim.sign_ok(AN, "tx-f", std::slice::from_ref(&digest)).await;
    let foreign = sim.signatures("tx-f", 1).await.remove(0);
    assert!(!verifies(&cert, &digest, &foreign));

    // Both were used once: the next one verifies.
    sim.sign_ok(AN, "tx-ok", std::slice::from_ref(&digest))
        .await;
    let good = sim.signatures("tx-ok", 1).await.remove(0);
    assert!(verifies(&cert, &digest, &good));
}

#[tokio::test]
async fn requests_are_recorded_with_credentials_redacted() {
    let sim = TestSim::start(neac_config()).await;
    sim.certificate(AN).await;
    let requests = sim.sim.control().requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/sign_v2/get_certificate");
    assert_eq!(requests[0].body["sp_password"], "[REDACTED]");
    assert_eq!(requests[0].body["ca_name"], "FPT-CA");
    assert!(
        !serde_json::to_string(&requests)
            .unwrap()
            .contains(SP_PASSWORD)
    );
}

#[tokio::test]
async fn http_control_api_calls_the_same_functions() {
    let sim = TestSim::start(direct_config()).await;
    let control_url = format!("{}/_sim", sim.sim.base_url());
    let http = &sim.http;

    let response = http
        .post(format!("{control_url}/citizens/{CUONG}/behaviour"))
        .json(&json!({"kind": "manual"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = http
        .post(format!("{control_url}/citizens/079200000999/behaviour"))
        .json(&json!({"kind": "manual"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = http
        .post(format!("{control_url}/citizens/{AN}/behaviour"))
        .json(&json!({"kind": "approve_after"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = http
        .post(format!("{control_url}/citizens/{AN}/behaviour"))
        .json(&json!({"kind": "reject_after", "after_millis": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    sim.sign_ok(AN, "tx-an", &[sha256(b"an")]).await;
    assert_eq!(sim.poll("tx-an").await["message"], "SIGNER_REJECTED");

    sim.sign_ok(CUONG, "tx-1", &[sha256(b"1")]).await;
    let response = http
        .post(format!("{control_url}/transactions/tx-1/approve"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = http
        .post(format!("{control_url}/transactions/tx-1/reject"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let response = http
        .post(format!("{control_url}/transactions/nope/expire"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    let transactions: Value = http
        .get(format!("{control_url}/transactions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(transactions[1]["transaction_id"], "tx-1");
    assert_eq!(transactions[1]["state"], "approved");
    assert_eq!(transactions[1]["ca_name"], "BKAV-CA");

    let citizens: Value = http
        .get(format!("{control_url}/citizens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(citizens.as_array().unwrap().len(), 4);
    assert_eq!(citizens[0]["user_id"], AN);
    assert_eq!(
        citizens[0]["behaviour"],
        json!({"kind": "reject_after", "after_millis": 0})
    );
    assert_eq!(citizens[3]["certificate_status"], "suspended");

    for (fault, expected_status, is_json) in [
        (json!({"kind": "status", "status": 500}), 500, true),
        (json!({"kind": "garbage"}), 200, false),
    ] {
        let response = http
            .post(format!("{control_url}/faults"))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        let (status, text) = sim.post_raw("/get_certificate", "{}".to_owned()).await;
        assert_eq!(status, expected_status);
        assert_eq!(serde_json::from_str::<Value>(&text).is_ok(), is_json);
    }
    for fault in [
        json!({"kind": "corrupt_signature"}),
        json!({"kind": "foreign_key"}),
    ] {
        let response = http
            .post(format!("{control_url}/faults"))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
    let response = http
        .post(format!("{control_url}/faults"))
        .json(&json!({"kind": "status", "status": 42}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = http
        .post(format!("{control_url}/delay"))
        .json(&json!({"millis": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    let requests: Value = http
        .get(format!("{control_url}/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!requests.as_array().unwrap().is_empty());
    let root = http
        .get(format!("{control_url}/root.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(root, sim.sim.root_certificate_pem());
    assert!(
        sim.sim
            .control()
            .citizen_certificate_pem("BKAV-CA", AN)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert!(
        sim.sim
            .control()
            .citizen_certificate_pem("FPT-CA", AN)
            .is_none()
    );
}

#[tokio::test]
async fn sandboxes_start_with_the_shared_citizen_and_a_rejecting_one() {
    let bkav = SimConfig::sandbox_bkav();
    assert_eq!(bkav.mode, SimMode::Qd769);
    assert_eq!(bkav.cas[0].name, "BKAV-CA");
    let neac = SimConfig::sandbox_neac();
    assert_eq!(neac.mode, SimMode::Neac);
    assert_eq!(neac.token.as_deref(), Some("sandbox-neac-token"));
    for config in [bkav, neac] {
        for ca in &config.cas {
            let an = ca.citizens.iter().find(|c| c.user_id == AN).unwrap();
            assert_eq!(an.full_name, "Nguyễn Văn An");
            assert_eq!(
                an.behaviour,
                Behaviour::ApproveAfter(Duration::from_secs(2))
            );
        }
        assert!(
            config
                .cas
                .iter()
                .flat_map(|ca| &ca.citizens)
                .any(|c| matches!(c.behaviour, Behaviour::RejectAfter(_)))
        );
        let sim = kyso_sim_qd769::spawn(config.clone()).await.unwrap();
        let citizens = sim.control().citizens();
        assert_eq!(
            citizens.len(),
            config.cas.iter().map(|ca| ca.citizens.len()).sum::<usize>()
        );
        assert!(
            citizens
                .iter()
                .filter(|c| c.user_id == AN)
                .all(|c| c.certificate_status == CertificateStatus::Active)
        );
        sim.stop().await;
    }
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let sim = kyso_sim_qd769::spawn(direct_config()).await.unwrap();
    let url = format!("{}/_sim/root.pem", sim.base_url());
    let http = reqwest::Client::new();
    assert!(http.get(&url).send().await.is_ok());
    drop(sim);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(http.get(&url).send().await.is_err());
}

#[tokio::test]
async fn invalid_configurations_are_refused() {
    let mut two_cas = direct_config();
    two_cas.cas.push(CaSpec::new("CA2", Vec::new()));
    let mut duplicate_user = direct_config();
    duplicate_user.cas[0]
        .citizens
        .push(CitizenSpec::new(AN, "Again", Behaviour::Manual));
    let mut duplicate_ca = neac_config();
    duplicate_ca.cas[1].name = "FPT-CA".into();
    let mut no_ca = neac_config();
    no_ca.cas.clear();
    let mut bad_path = direct_config();
    bad_path.paths.sign = "/_sim/sign".into();
    let mut bad_placeholder = direct_config();
    bad_placeholder.paths.status = "/status/{id}".into();
    let mut same_paths = direct_config();
    same_paths.paths.sign = same_paths.paths.get_certificate.clone();
    for config in [
        two_cas,
        duplicate_user,
        duplicate_ca,
        no_ca,
        bad_path,
        bad_placeholder,
        same_paths,
    ] {
        assert!(matches!(
            kyso_sim_qd769::spawn(config).await,
            Err(SimError::InvalidConfig(_))
        ));
    }
}
