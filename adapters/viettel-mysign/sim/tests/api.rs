//! Drives the simulator over real HTTP, as a MySign client would, and checks every certificate
//! and signature independently (x509-parser for the chain, `rsa` for the signatures).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_sim_viettel::{
    Behaviour, CertificateStatus, CitizenSpec, Fault, SimConfig, SimError, SimHandle,
    TransactionState,
};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

const CLIENT_ID: &str = "test-sp";
const CLIENT_SECRET: &str = "test-sp-secret";
const PROFILE_ID: &str = "adss:ras:profile:001";
const SHA256: &str = "2.16.840.1.101.3.4.2.1";
const RSA: &str = "1.2.840.113549.1.1.1";

const AN: &str = "001099000001";
const BINH: &str = "001099000002";
const CUONG: &str = "001099000003";
const DUNG: &str = "001099000004";

fn config(citizens: Vec<CitizenSpec>) -> SimConfig {
    SimConfig {
        client_id: CLIENT_ID.to_owned(),
        client_secret: CLIENT_SECRET.to_owned(),
        profile_id: PROFILE_ID.to_owned(),
        user_id_prefix: String::new(),
        citizens,
        token_lifetime: Duration::from_secs(3600),
        transaction_ttl: Duration::from_secs(120),
    }
}

fn manual(user_id: &str, name: &str) -> CitizenSpec {
    CitizenSpec::new(user_id, name, Behaviour::Manual)
}

/// A running simulator plus an HTTP client.
struct TestSim {
    sim: SimHandle,
    http: reqwest::Client,
}

impl TestSim {
    async fn start(citizens: Vec<CitizenSpec>) -> Self {
        Self::start_with(config(citizens)).await
    }

    async fn start_with(config: SimConfig) -> Self {
        Self {
            sim: kyso_sim_viettel::spawn(config)
                .await
                .expect("simulator starts"),
            http: reqwest::Client::new(),
        }
    }

    /// POSTs JSON to a path under the base URL, with a Bearer token if given.
    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.sim.base_url()))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request is sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body is read");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post_form(&self, path: &str, body: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.sim.base_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .expect("request is sent");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON answer"))
    }

    async fn client_token(&self) -> String {
        let (status, body) = self
            .post_form(
                "/ras/v1/authenticate",
                &format!(
                    "client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}&grant_type=client_credentials"
                ),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn user_token(&self, user_id: &str) -> String {
        let (status, body) = self.post("/ras/v1/login", None, &login_body(user_id)).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn credentials(&self, token: &str, user_id: &str) -> (u16, Value) {
        self.post(
            "/certificates/info",
            Some(token),
            &json!({
                "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "profile_id": PROFILE_ID,
                "user_id": user_id, "certificates": "chain", "certInfo": true, "authInfo": true
            }),
        )
        .await
    }

    async fn credential_of(&self, token: &str, user_id: &str) -> Value {
        let (status, body) = self.credentials(token, user_id).await;
        assert_eq!(status, 200, "{body}");
        body[0].clone()
    }

    async fn sign_hash(&self, token: &str, body: &Value) -> (u16, Value) {
        self.post("/signHash", Some(token), body).await
    }

    async fn status(&self, token: &str, transaction_id: &str) -> (u16, Value) {
        self.post(
            "/requests/status",
            Some(token),
            &json!({ "transactionId": transaction_id }),
        )
        .await
    }

    /// Polls until the status is neither 4000 nor 6000.
    async fn final_status(&self, token: &str, transaction_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = self.status(token, transaction_id).await;
            assert_eq!(status, 200, "{body}");
            if body["status"] != "4000" && body["status"] != "6000" {
                return body;
            }
            assert!(Instant::now() < deadline, "still pending");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn login_body(user_id: &str) -> Value {
    json!({
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "profile_id": PROFILE_ID, "user_id": user_id
    })
}

fn digest(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

/// A well-formed signHash body for `digests`.
fn sign_body(credential_id: &str, digests: &[Vec<u8>], mode: u8) -> Value {
    json!({
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "credentialID": credential_id,
        "numSignatures": digests.len(),
        "description": BASE64.encode("Ky hop dong so 12"),
        "documents": (0..digests.len()).map(|i| json!({
            "document_id": format!("doc-{i}"),
            "document_name": BASE64.encode(format!("Tai lieu {i}")),
        })).collect::<Vec<_>>(),
        "hash": digests.iter().map(|d| BASE64.encode(d)).collect::<Vec<_>>(),
        "hashAlgo": SHA256,
        "signAlgo": RSA,
        "async": mode,
    })
}

fn credential_id(credential: &Value) -> String {
    credential["credential_id"].as_str().unwrap().to_owned()
}

fn leaf_der(credential: &Value) -> Vec<u8> {
    BASE64
        .decode(credential["cert"]["certificates"][0].as_str().unwrap())
        .unwrap()
}

/// Verifies a base64 raw PKCS#1 v1.5 SHA-256 signature with the certificate's key.
fn verifies(certificate_der: &[u8], digest: &[u8], signature_b64: &str) -> bool {
    let (_, certificate) = X509Certificate::from_der(certificate_der).unwrap();
    let key = RsaPublicKey::from_public_key_der(certificate.public_key().raw).unwrap();
    let signature = BASE64.decode(signature_b64).unwrap();
    key.verify(Pkcs1v15Sign::new::<Sha256>(), digest, &signature)
        .is_ok()
}

#[tokio::test]
async fn login_issues_a_per_user_bearer_token_of_one_hour() {
    let sim = TestSim::start(vec![manual(AN, "Nguyễn Văn An")]).await;
    let (status, body) = sim.post("/ras/v1/login", None, &login_body(AN)).await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], "3600");
    assert_eq!(body["refresh_token"], "");
    assert!(body["access_token"].as_str().unwrap().len() >= 32);
    let tokens = sim.sim.control().issued_tokens();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].user_id.as_deref(), Some(AN));
}

#[tokio::test]
async fn login_errors_use_viettels_codes() {
    let sim = TestSim::start(vec![manual(AN, "Nguyễn Văn An")]).await;
    let mut body = login_body(AN);
    body["client_secret"] = json!("wrong");
    let (status, answer) = sim.post("/ras/v1/login", None, &body).await;
    assert_eq!((status, answer["error"].clone()), (401, json!(86024)));
    body = login_body(AN);
    body["client_id"] = json!("nobody");
    let (status, answer) = sim.post("/ras/v1/login", None, &body).await;
    assert_eq!((status, answer["error"].clone()), (401, json!(58007)));
    let (status, answer) = sim
        .post("/ras/v1/login", None, &login_body("079200000999"))
        .await;
    assert_eq!((status, answer["error"].clone()), (400, json!(58008)));
    body = login_body(AN);
    body["profile_id"] = json!("adss:ras:profile:999");
    let (status, answer) = sim.post("/ras/v1/login", None, &body).await;
    assert_eq!(
        (status, answer["error"].clone()),
        (400, json!("invalid_request"))
    );
    let (status, answer) = sim
        .post("/ras/v1/login", None, &json!({"client_id": CLIENT_ID}))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("malformed")
    );
}

#[tokio::test]
async fn authenticate_takes_a_form_and_issues_a_client_token() {
    let sim = TestSim::start(vec![manual(AN, "Nguyễn Văn An")]).await;
    let token = sim.client_token().await;
    assert!(!token.is_empty());
    assert_eq!(sim.sim.control().issued_tokens()[0].user_id, None);
    let (status, answer) = sim
        .post_form(
            "/ras/v1/authenticate",
            &format!("client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}&grant_type=password"),
        )
        .await;
    assert_eq!(
        (status, answer["error"].clone()),
        (400, json!("unsupported_grant_type"))
    );
    let (status, answer) = sim
        .post_form(
            "/ras/v1/authenticate",
            &format!("client_id={CLIENT_ID}&client_secret=nope&grant_type=client_credentials"),
        )
        .await;
    assert_eq!((status, answer["error"].clone()), (401, json!(86024)));
    // JSON is not a form.
    let (status, _) = sim
        .post(
            "/ras/v1/authenticate",
            None,
            &json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials"}),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn certificates_info_returns_the_chain_and_details() {
    let sim = TestSim::start(vec![manual(AN, "Nguyễn Văn An")]).await;
    let token = sim.client_token().await;
    let (status, body) = sim.credentials(&token, AN).await;
    assert_eq!(status, 200, "{body}");
    let credentials = body.as_array().unwrap();
    assert_eq!(credentials.len(), 1);
    let credential = &credentials[0];
    assert!(credential_id(credential).starts_with(&format!("{AN}_")));
    assert_eq!(credential["key"]["status"], "enabled");
    assert_eq!(credential["key"]["algo"], json!([RSA]));
    assert_eq!(credential["key"]["len"], "2048");
    assert_eq!(credential["cert"]["status"], "valid");
    assert_eq!(credential["authMode"], "implicit");
    let subject = credential["cert"]["subjectDN"].as_str().unwrap();
    assert!(
        subject.starts_with(&format!("UID=CCCD:{AN},CN=Nguyễn Văn An")),
        "{subject}"
    );
    let valid_from = credential["cert"]["validFrom"].as_str().unwrap();
    assert_eq!(valid_from.len(), "20221017043150+0000".len());
    assert!(valid_from.ends_with("+0000"));
    assert!(
        credential["cert"]["serialNumber"]
            .as_str()
            .unwrap()
            .parse::<u128>()
            .is_ok()
    );

    // user -> issuing CA -> root, each signed by the next; the root is the simulator's.
    let chain: Vec<Vec<u8>> = credential["cert"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| BASE64.decode(c.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(chain.len(), 3);
    let parsed: Vec<_> = chain
        .iter()
        .map(|der| X509Certificate::from_der(der).unwrap().1)
        .collect();
    for pair in parsed.windows(2) {
        pair[0]
            .verify_signature(Some(pair[1].public_key()))
            .expect("each certificate is signed by the next");
    }
    parsed[2]
        .verify_signature(None)
        .expect("the root is self-signed");
    let root_pem = sim.sim.root_certificate_pem();
    assert!(root_pem.contains("BEGIN CERTIFICATE"));
    assert_eq!(
        parsed[2].subject().to_string(),
        parsed[1].issuer().to_string()
    );
    assert!(!parsed[0].is_ca());
}

#[tokio::test]
async fn certificates_info_honours_the_chain_and_info_switches() {
    let sim = TestSim::start(vec![manual(AN, "Nguyễn Văn An")]).await;
    let token = sim.client_token().await;
    let ask = |certificates: &'static str| {
        json!({
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "profile_id": PROFILE_ID,
            "user_id": AN, "certificates": certificates
        })
    };
    let (_, single) = sim
        .post("/certificates/info", Some(&token), &ask("single"))
        .await;
    assert_eq!(
        single[0]["cert"]["certificates"].as_array().unwrap().len(),
        1
    );
    assert!(single[0]["cert"].get("subjectDN").is_none());
    assert!(single[0].get("authMode").is_none());
    let (_, none) = sim
        .post("/certificates/info", Some(&token), &ask("none"))
        .await;
    assert!(
        none[0]["cert"]["certificates"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (status, _) = sim
        .post("/certificates/info", Some(&token), &ask("all"))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn bearer_endpoints_refuse_missing_and_unknown_tokens() {
    let sim = TestSim::start(vec![manual(AN, "Nguyễn Văn An")]).await;
    let body = json!({
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "profile_id": PROFILE_ID, "user_id": AN
    });
    let (status, _) = sim.post("/certificates/info", None, &body).await;
    assert_eq!(status, 401);
    let response = sim
        .http
        .post(format!("{}/certificates/info", sim.sim.base_url()))
        .bearer_auth("made-up")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"], "invalid_token");
    // A valid token does not excuse wrong SP credentials in the body.
    let token = sim.client_token().await;
    let mut wrong = body.clone();
    wrong["client_secret"] = json!("nope");
    let (status, answer) = sim.post("/certificates/info", Some(&token), &wrong).await;
    assert_eq!((status, answer["error"].clone()), (401, json!(86024)));
}

#[tokio::test]
async fn an_unknown_user_is_58008_and_a_user_token_serves_only_its_user() {
    let sim = TestSim::start(vec![
        manual(AN, "Nguyễn Văn An"),
        manual(BINH, "Trần Thị Bình"),
    ])
    .await;
    let client = sim.client_token().await;
    let (status, answer) = sim.credentials(&client, "079200000999").await;
    assert_eq!((status, answer["error"].clone()), (400, json!(58008)));

    let an = sim.user_token(AN).await;
    sim.credential_of(&an, AN).await;
    let (status, answer) = sim.credentials(&an, BINH).await;
    assert_eq!(
        (status, answer["error"].clone()),
        (403, json!("access_denied"))
    );
    let binh_credential = credential_id(&sim.credential_of(&client, BINH).await);
    let (status, _) = sim
        .sign_hash(&an, &sign_body(&binh_credential, &[digest("x")], 1))
        .await;
    assert_eq!(status, 403);
    // Bình's transaction is invisible to An's token.
    let (status, created) = sim
        .sign_hash(&client, &sign_body(&binh_credential, &[digest("x")], 1))
        .await;
    assert_eq!(status, 200, "{created}");
    let transaction_id = created["transactionId"].as_str().unwrap();
    let (status, _) = sim.status(&an, transaction_id).await;
    assert_eq!(status, 404);
    let (status, _) = sim.status(&client, transaction_id).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_approved_batch_is_signed_in_request_order() {
    let sim = TestSim::start(vec![manual(AN, "Nguyễn Văn An")]).await;
    let token = sim.user_token(AN).await;
    let credential = sim.credential_of(&token, AN).await;
    let digests: Vec<Vec<u8>> = (0..3).map(|i| digest(&format!("document {i}"))).collect();
    let (status, created) = sim
        .sign_hash(&token, &sign_body(&credential_id(&credential), &digests, 1))
        .await;
    assert_eq!(status, 200, "{created}");
    let transaction_id = created["transactionId"].as_str().unwrap().to_owned();
    assert_eq!(transaction_id.len(), 36, "a UUID");

    let (_, waiting) = sim.status(&token, &transaction_id).await;
    assert_eq!(waiting, json!({"signatures": null, "status": "4000"}));
    let transactions = sim.sim.control().transactions();
    assert_eq!(transactions[0].state, TransactionState::Waiting);
    assert_eq!(transactions[0].description, "Ky hop dong so 12");
    assert_eq!(transactions[0].documents[2].document_name, "Tai lieu 2");
    assert_eq!(transactions[0].mode, 1);

    sim.sim.control().approve(&transaction_id).unwrap();
    let (_, signing) = sim.status(&token, &transaction_id).await;
    assert_eq!(signing["status"], "6000", "confirmed, signing in progress");
    let (_, done) = sim.status(&token, &transaction_id).await;
    assert_eq!(done["status"], "1");
    let signatures = done["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 3);
    let leaf = leaf_der(&credential);
    for (digest, signature) in digests.iter().zip(signatures) {
        assert!(verifies(&leaf, digest, signature.as_str().unwrap()));
        assert_eq!(
            BASE64.decode(signature.as_str().unwrap()).unwrap().len(),
            256
        );
    }
    // Asking again answers the same.
    let (_, again) = sim.status(&token, &transaction_id).await;
    assert_eq!(again, done);
}

#[tokio::test]
async fn rejection_and_expiry_have_their_status_codes() {
    let sim = TestSim::start_with(SimConfig {
        transaction_ttl: Duration::from_millis(300),
        ..config(vec![
            CitizenSpec::new(AN, "Nguyễn Văn An", Behaviour::RejectAfter(Duration::ZERO)),
            manual(CUONG, "Lê Văn Cường"),
        ])
    })
    .await;
    let token = sim.client_token().await;
    let an = credential_id(&sim.credential_of(&token, AN).await);
    let (_, created) = sim
        .sign_hash(&token, &sign_body(&an, &[digest("a")], 2))
        .await;
    let rejected = sim
        .final_status(&token, created["transactionId"].as_str().unwrap())
        .await;
    assert_eq!(rejected, json!({"signatures": null, "status": "4002"}));

    // Nobody answers Cường's request: the CA gives it up after its lifetime.
    let cuong = credential_id(&sim.credential_of(&token, CUONG).await);
    let (_, created) = sim
        .sign_hash(&token, &sign_body(&cuong, &[digest("c")], 1))
        .await;
    let expired = sim
        .final_status(&token, created["transactionId"].as_str().unwrap())
        .await;
    assert_eq!(expired["status"], "4001");

    // And a control call expires one at once.
    let (_, created) = sim
        .sign_hash(&token, &sign_body(&cuong, &[digest("d")], 1))
        .await;
    let id = created["transactionId"].as_str().unwrap();
    sim.sim.control().expire(id).unwrap();
    assert!(matches!(
        sim.sim.control().approve(id),
        Err(SimError::NotWaiting {
            state: TransactionState::Expired,
            ..
        })
    ));
    assert!(matches!(
        sim.sim.control().approve("no-such-transaction"),
        Err(SimError::UnknownTransaction(_))
    ));
}

#[tokio::test]
async fn synchronous_sign_hash_waits_for_the_subscriber() {
    let sim = TestSim::start(vec![
        CitizenSpec::new(
            AN,
            "Nguyễn Văn An",
            Behaviour::ApproveAfter(Duration::from_millis(300)),
        ),
        CitizenSpec::new(
            BINH,
            "Trần Thị Bình",
            Behaviour::RejectAfter(Duration::from_millis(100)),
        ),
    ])
    .await;
    let token = sim.client_token().await;
    let credential = sim.credential_of(&token, AN).await;
    let started = Instant::now();
    let the_digest = digest("sync");
    let (status, answer) = sim
        .sign_hash(
            &token,
            &sign_body(
                &credential_id(&credential),
                std::slice::from_ref(&the_digest),
                0,
            ),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(answer.get("transactionId").is_none());
    let signature = answer["signatures"][0].as_str().unwrap();
    assert!(verifies(&leaf_der(&credential), &the_digest, signature));

    let binh = credential_id(&sim.credential_of(&token, BINH).await);
    let (status, answer) = sim
        .sign_hash(&token, &sign_body(&binh, &[digest("b")], 0))
        .await;
    assert_eq!((status, answer["error"].clone()), (400, json!(4002)));
}

#[tokio::test]
async fn sign_hash_enforces_mysigns_rules() {
    let sim = TestSim::start(vec![manual(AN, "Nguyễn Văn An")]).await;
    let token = sim.client_token().await;
    let credential = credential_id(&sim.credential_of(&token, AN).await);
    let good = sign_body(&credential, &[digest("a"), digest("b")], 1);
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut body = good.clone();
        edit(&mut body);
        body
    };
    let cases: Vec<(&str, Value)> = vec![
        (
            "numSignatures mismatch",
            broken(&|b| b["numSignatures"] = json!(3)),
        ),
        (
            "no documents",
            broken(&|b| {
                b["numSignatures"] = json!(0);
                b["documents"] = json!([]);
                b["hash"] = json!([]);
            }),
        ),
        (
            "SHA-1 OID",
            broken(&|b| b["hashAlgo"] = json!("1.3.14.3.2.26")),
        ),
        (
            "RSA_SHA256 enum",
            broken(&|b| b["signAlgo"] = json!("RSA_SHA256")),
        ),
        (
            "SHA-1 sized digest",
            broken(&|b| b["hash"][0] = json!(BASE64.encode([7u8; 20]))),
        ),
        (
            "hex digest",
            broken(&|b| b["hash"][0] = json!(hex_of(&digest("a")))),
        ),
        (
            "Vietnamese description",
            broken(&|b| b["description"] = json!(BASE64.encode("Ký hợp đồng"))),
        ),
        (
            "plain-text description",
            broken(&|b| b["description"] = json!("Ky hop dong")),
        ),
        (
            "long description",
            broken(&|b| b["description"] = json!(BASE64.encode("x".repeat(75)))),
        ),
        (
            "dotted document name",
            broken(&|b| b["documents"][0]["document_name"] = json!(BASE64.encode("a.pdf"))),
        ),
        ("webhook mode", broken(&|b| b["async"] = json!(3))),
        (
            "unknown credential",
            broken(&|b| b["credentialID"] = json!("nope")),
        ),
        (
            "missing hashAlgo",
            broken(&|b| {
                b.as_object_mut().unwrap().remove("hashAlgo");
            }),
        ),
    ];
    for (case, body) in cases {
        let (status, answer) = sim.sign_hash(&token, &body).await;
        assert_eq!(status, 400, "{case}: {answer}");
        assert_eq!(answer["error"], "invalid_request", "{case}");
    }
    assert!(sim.sim.control().transactions().is_empty());
    let (status, _) = sim.sign_hash(&token, &good).await;
    assert_eq!(status, 200);
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_revoked_certificate_is_reported_and_cannot_sign() {
    let sim = TestSim::start(vec![
        manual(DUNG, "Phạm Thị Dung").with_certificate_status(CertificateStatus::Revoked),
    ])
    .await;
    let token = sim.client_token().await;
    let credential = sim.credential_of(&token, DUNG).await;
    assert_eq!(credential["cert"]["status"], "revoked");
    assert_eq!(credential["key"]["status"], "disabled");
    let (status, answer) = sim
        .sign_hash(
            &token,
            &sign_body(&credential_id(&credential), &[digest("a")], 1),
        )
        .await;
    assert_eq!((status, answer["error"].clone()), (400, json!(13004)));
}

#[tokio::test]
async fn revocation_shows_on_the_crl_and_in_certificates_info() {
    let sim = TestSim::start(vec![
        manual(AN, "Nguyễn Văn An"),
        manual(DUNG, "Phạm Thị Dung").with_certificate_status(CertificateStatus::Revoked),
    ])
    .await;
    let token = sim.client_token().await;
    let serial_of = |credential: &Value| {
        let der = BASE64
            .decode(credential["cert"]["certificates"][0].as_str().unwrap())
            .unwrap();
        X509Certificate::from_der(&der)
            .unwrap()
            .1
            .raw_serial()
            .to_vec()
    };
    let an = sim.credential_of(&token, AN).await;
    assert_eq!(an["cert"]["status"], "valid");
    let dung = sim.credential_of(&token, DUNG).await;

    // Revoke An through `/_sim`; Dung, configured revoked, is on the CRL from the start.
    let revoke = sim
        .http
        .post(format!(
            "http://{}/_sim/citizens/{AN}/revoke",
            sim.sim.addr()
        ))
        .json(&json!({"reason": "affiliationChanged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    let an = sim.credential_of(&token, AN).await;
    assert_eq!(an["cert"]["status"], "revoked");
    assert_eq!(an["key"]["status"], "disabled");

    let crl_url = sim.sim.control().revocation().crl_url("ca-0").unwrap();
    let crl = sim.http.get(crl_url).send().await.unwrap();
    assert_eq!(crl.headers()["content-type"], "application/pkix-crl");
    let crl = crl.bytes().await.unwrap();
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&crl).unwrap();
    let listed: Vec<Vec<u8>> = crl
        .iter_revoked_certificates()
        .map(|revoked| revoked.raw_serial().to_vec())
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.contains(&serial_of(&an)) && listed.contains(&serial_of(&dung)));
}

#[tokio::test]
async fn an_unknown_transaction_is_404() {
    let sim = TestSim::start(vec![manual(AN, "Nguyễn Văn An")]).await;
    let token = sim.client_token().await;
    let (status, answer) = sim
        .status(&token, "de67f948-0498-4919-af28-dff54a6a4e77")
        .await;
    assert_eq!(
        (status, answer["error"].clone()),
        (404, json!("transaction_not_found"))
    );
}

#[tokio::test]
async fn tokens_die_after_their_lifetime_or_when_expired_by_control() {
    let sim = TestSim::start_with(SimConfig {
        token_lifetime: Duration::from_millis(400),
        ..config(vec![manual(AN, "Nguyễn Văn An")])
    })
    .await;
    let (_, login) = sim.post("/ras/v1/login", None, &login_body(AN)).await;
    assert_eq!(login["expires_in"], "1", "whole seconds, never 0");
    let token = login["access_token"].as_str().unwrap();
    let (status, _) = sim.credentials(token, AN).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let (status, answer) = sim.credentials(token, AN).await;
    assert_eq!(
        (status, answer["error"].clone()),
        (401, json!("invalid_token"))
    );

    let control = sim.sim.control();
    let older = sim.user_token(AN).await;
    let current = sim.client_token().await;
    assert!(control.expire_current_token());
    let (status, _) = sim.credentials(&current, AN).await;
    assert_eq!(status, 401, "the last token is refused");
    let (status, _) = sim.credentials(&older, AN).await;
    assert_eq!(status, 200, "earlier tokens still work");
    assert_eq!(control.expire_all_tokens(), 1);
    let (status, _) = sim.credentials(&older, AN).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn faults_hit_the_next_call_once() {
    let sim = TestSim::start(vec![manual(AN, "Nguyễn Văn An")]).await;
    let token = sim.client_token().await;
    let control = sim.sim.control();

    control.fail_next(Fault::Status(503));
    let (status, answer) = sim.credentials(&token, AN).await;
    assert_eq!(status, 503);
    assert_eq!(answer["error"], 50000);
    assert_eq!(answer["error_description"], "Service Unavailable");
    let (status, _) = sim.credentials(&token, AN).await;
    assert_eq!(status, 200, "once only");

    control.fail_next(Fault::Garbage);
    let (status, answer) = sim.credentials(&token, AN).await;
    assert_eq!(status, 200);
    assert!(answer.as_str().unwrap().starts_with("<html>"));

    control.fail_next(Fault::Hang(Duration::from_millis(300)));
    let started = Instant::now();
    let (status, _) = sim.credentials(&token, AN).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Token endpoints are CA endpoints too.
    control.fail_next(Fault::Status(500));
    let (status, _) = sim.post("/ras/v1/login", None, &login_body(AN)).await;
    assert_eq!(status, 500);
}

/// Signs one fresh digest for `credential`, arming `arm` before the approval; whether the
/// signature verifies (and checks that it is the same on every status answer).
async fn signed_and_verified(
    sim: &TestSim,
    token: &str,
    credential: &Value,
    arm: impl Fn(),
) -> bool {
    let the_digest = digest(&format!("{:?}", Instant::now()));
    let (_, created) = sim
        .sign_hash(
            token,
            &sign_body(
                &credential_id(credential),
                std::slice::from_ref(&the_digest),
                1,
            ),
        )
        .await;
    let id = created["transactionId"].as_str().unwrap().to_owned();
    arm();
    sim.sim.control().approve(&id).unwrap();
    let done = sim.final_status(token, &id).await;
    let signature = done["signatures"][0].as_str().unwrap().to_owned();
    let again = sim.final_status(token, &id).await;
    assert_eq!(
        again["signatures"][0], signature,
        "the same value every time"
    );
    verifies(&leaf_der(credential), &the_digest, &signature)
}

#[tokio::test]
async fn corrupted_and_foreign_signatures_do_not_verify() {
    let sim = TestSim::start(vec![manual(AN, "Nguyễn Văn An")]).await;
    let token = sim.client_token().await;
    let credential = sim.credential_of(&token, AN).await;
    let control = sim.sim.control();
    assert!(
        !signed_and_verified(&sim, &token, &credential, || control
            .corrupt_next_signature())
        .await
    );
    assert!(
        !signed_and_verified(&sim, &token, &credential, || control
            .sign_next_with_foreign_key())
        .await
    );
    assert!(
        signed_and_verified(&sim, &token, &credential, || ()).await,
        "faults are used up"
    );
}

#[tokio::test]
async fn recorded_requests_keep_no_secrets() {
    let sim = TestSim::start(vec![manual(AN, "Nguyễn Văn An")]).await;
    let token = sim.client_token().await;
    sim.credential_of(&token, AN).await;
    let requests = sim.sim.control().requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/vtss/service/ras/v1/authenticate");
    assert!(!requests[0].bearer);
    assert_eq!(requests[0].body["grant_type"], "client_credentials");
    assert_eq!(requests[1].path, "/vtss/service/certificates/info");
    assert!(requests[1].bearer);
    for request in &requests {
        assert_eq!(request.body["client_secret"], "[REDACTED]");
        assert!(!request.body.to_string().contains(CLIENT_SECRET));
    }
}

#[tokio::test]
async fn the_control_api_works_over_http() {
    let sim = TestSim::start(vec![manual(AN, "Nguyễn Văn An")]).await;
    let control_url = |path: &str| format!("http://{}/_sim{path}", sim.sim.addr());
    let token = sim.client_token().await;
    let credential = sim.credential_of(&token, AN).await;
    let (_, created) = sim
        .sign_hash(
            &token,
            &sign_body(&credential_id(&credential), &[digest("a")], 1),
        )
        .await;
    let id = created["transactionId"].as_str().unwrap();

    let listed: Value = sim
        .http
        .get(control_url("/transactions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["transaction_id"], id);
    assert_eq!(listed[0]["state"], "waiting");
    let approve = sim
        .http
        .post(control_url(&format!("/transactions/{id}/approve")))
        .send()
        .await
        .unwrap();
    assert_eq!(approve.status().as_u16(), 200);
    let again = sim
        .http
        .post(control_url(&format!("/transactions/{id}/reject")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    let unknown = sim
        .http
        .post(control_url("/transactions/nope/approve"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);

    let behaviour = sim
        .http
        .post(control_url(&format!("/citizens/{AN}/behaviour")))
        .json(&json!({"kind": "reject_after", "after_millis": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(behaviour.status().as_u16(), 204);
    let citizens: Value = sim
        .http
        .get(control_url("/citizens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        citizens[0]["behaviour"],
        json!({"kind": "reject_after", "after_millis": 0})
    );
    assert_eq!(citizens[0]["credential_id"], credential["credential_id"]);

    let fault = sim
        .http
        .post(control_url("/faults"))
        .json(&json!({"kind": "status", "status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(fault.status().as_u16(), 204);
    let (status, _) = sim.credentials(&token, AN).await;
    assert_eq!(status, 503);
    let bad = sim
        .http
        .post(control_url("/faults"))
        .json(&json!({"kind": "status", "status": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    let expired: Value = sim
        .http
        .post(control_url("/tokens/expire"))
        .json(&json!({"which": "current"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(expired["expired"], 1);
    let (status, _) = sim.credentials(&token, AN).await;
    assert_eq!(status, 401);
    let tokens: Value = sim
        .http
        .get(control_url("/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens, json!([{"user_id": null, "expired": true}]));

    let root = sim
        .http
        .get(control_url("/root.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(root, sim.sim.root_certificate_pem());
    let requests: Value = sim
        .http
        .get(control_url("/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(requests.as_array().unwrap().len() >= 4);

    let missing = sim
        .http
        .post(format!("{}/signHashes", sim.sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test]
async fn the_user_id_prefix_is_part_of_the_mysign_user_id() {
    let sim = TestSim::start_with(SimConfig {
        user_id_prefix: "CMT_".to_owned(),
        ..config(vec![manual(AN, "Nguyễn Văn An")])
    })
    .await;
    let (status, _) = sim.post("/ras/v1/login", None, &login_body(AN)).await;
    assert_eq!(status, 400, "the bare number is unknown");
    let token = sim.user_token(&format!("CMT_{AN}")).await;
    let credential = sim.credential_of(&token, &format!("CMT_{AN}")).await;
    // The certificate still names the citizen by CCCD.
    assert!(
        credential["cert"]["subjectDN"]
            .as_str()
            .unwrap()
            .starts_with(&format!("UID=CCCD:{AN}"))
    );
}

#[test]
fn the_sandbox_shares_its_first_citizen_with_the_other_cas() {
    let sandbox = SimConfig::sandbox();
    let an = &sandbox.citizens[0];
    assert_eq!(an.user_id, AN);
    assert_eq!(an.full_name, "Nguyễn Văn An");
    assert_eq!(
        an.behaviour,
        Behaviour::ApproveAfter(Duration::from_secs(2))
    );
    assert!(
        sandbox
            .citizens
            .iter()
            .any(|c| matches!(c.behaviour, Behaviour::RejectAfter(_)))
    );
    assert!(sandbox.user_id_prefix.is_empty());
}

#[tokio::test]
async fn an_invalid_configuration_is_refused() {
    let duplicate = config(vec![manual(AN, "A"), manual(AN, "B")]);
    assert!(matches!(
        kyso_sim_viettel::spawn(duplicate).await,
        Err(SimError::InvalidConfig(_))
    ));
    let no_lifetime = SimConfig {
        token_lifetime: Duration::ZERO,
        ..config(vec![])
    };
    assert!(matches!(
        kyso_sim_viettel::spawn(no_lifetime).await,
        Err(SimError::InvalidConfig(_))
    ));
}
