//! Drives the simulator over real HTTP, as an integrator of MISA's API would, and checks every
//! certificate and signature independently (x509-parser for the chain, `rsa` for signatures).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_sim_misa::{
    Behaviour, CitizenSpec, Fault, SimConfig, SimError, SimHandle, TransactionState,
};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

const CLIENT_ID: &str = "test-client";
const CLIENT_KEY: &str = "test-client-key";
const USERNAME: &str = "test-integrator";
const PASSWORD: &str = "test-password";

const AN: &str = "001099000001";
const BINH: &str = "001099000002";
const CUONG: &str = "001099000003";
const HOA: &str = "001099000006";

const LOGIN: &str = "/api/auth/api/v1/auth/login-api";
const BY_USER: &str = "/external/esrm/service/general/api/v1/Certificates/by-userId";
const BY_CERT: &str = "/external/esrm/service/general/api/v1/Certificates/by-certId";
const SIGN: &str = "/external/esrm/service/signing/api/v1/Signing/hash";
const STATUS: &str = "/external/esrm/service/signing/api/v1/Signing/status";

fn citizens() -> Vec<CitizenSpec> {
    vec![
        CitizenSpec::new(AN, "Nguyễn Văn An", Behaviour::ApproveAfter(Duration::ZERO)),
        CitizenSpec::new(
            BINH,
            "Trần Thị Bình",
            Behaviour::RejectAfter(Duration::ZERO),
        ),
        CitizenSpec::new(CUONG, "Lê Văn Cường", Behaviour::Manual),
        CitizenSpec::new(HOA, "Đặng Thị Hoa", Behaviour::ApproveAfter(Duration::ZERO))
            .with_inactive_key(),
    ]
}

fn config_only(users: &[&str]) -> SimConfig {
    SimConfig {
        client_id: CLIENT_ID.into(),
        client_key: CLIENT_KEY.into(),
        username: USERNAME.into(),
        password: PASSWORD.into(),
        otp_code: None,
        citizens: citizens()
            .into_iter()
            .filter(|citizen| users.contains(&citizen.user_id.as_str()))
            .collect(),
        token_lifetime: Duration::from_secs(3600),
        transaction_ttl: Duration::from_secs(300),
    }
}

/// A running simulator and an HTTP client.
struct TestSim {
    sim: SimHandle,
    http: reqwest::Client,
}

/// An answer: status and JSON body (`Value::Null` when the body is not JSON).
struct Reply {
    status: u16,
    body: Value,
    text: String,
}

impl TestSim {
    async fn start(config: SimConfig) -> Self {
        Self {
            sim: kyso_sim_misa::spawn(config)
                .await
                .expect("simulator starts"),
            http: reqwest::Client::new(),
        }
    }

    async fn start_only(users: &[&str]) -> Self {
        Self::start(config_only(users)).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    /// POST with the client headers (and a token when given).
    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        let mut request = self
            .http
            .post(self.url(path))
            .header("x-clientId", CLIENT_ID)
            .header("x-clientKey", CLIENT_KEY)
            .json(body);
        if let Some(token) = token {
            request = request.header("AuthorizationRM", format!("Bearer {token}"));
        }
        Self::reply(request.send().await.unwrap()).await
    }

    /// GET with the client headers and `AuthorizationRM` exactly as given.
    async fn get_raw(&self, path: &str, authorization: Option<&str>) -> Reply {
        let mut request = self
            .http
            .get(self.url(path))
            .header("x-clientId", CLIENT_ID)
            .header("x-clientKey", CLIENT_KEY);
        if let Some(authorization) = authorization {
            request = request.header("AuthorizationRM", authorization);
        }
        Self::reply(request.send().await.unwrap()).await
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.get_raw(path, Some(&format!("Bearer {token}"))).await
    }

    async fn login(&self) -> Value {
        let reply = self
            .post(
                LOGIN,
                None,
                &json!({"userName": USERNAME, "password": PASSWORD}),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body
    }

    async fn token(&self) -> String {
        self.login().await["data"]["remoteSigningAccessToken"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The citizen's only certificate object.
    async fn cert(&self, token: &str, cccd: &str) -> Value {
        let reply = self.get(&format!("{BY_USER}?userId={cccd}"), token).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let list = reply.body.as_array().unwrap();
        assert_eq!(list.len(), 1, "{}", reply.text);
        list[0].clone()
    }

    async fn sign(&self, token: &str, cert: &Value, digests: &[Vec<u8>]) -> Reply {
        let documents: Vec<Value> = digests
            .iter()
            .enumerate()
            .map(|(n, digest)| {
                json!({
                    "DocumentId": format!("doc-{n}"),
                    "FileToSign": BASE64.encode(digest),
                    "DocumentName": format!("Tờ khai {n}.pdf"),
                })
            })
            .collect();
        self.post(
            SIGN,
            Some(token),
            &json!({
                "DataToBeDisplayed": "<b>Ký hồ sơ</b> dịch vụ công",
                "UserId": cert["userId"], "CertAlias": cert["keyAlias"],
                "Documents": documents,
            }),
        )
        .await
    }

    async fn sign_ok(&self, token: &str, cert: &Value, digests: &[Vec<u8>]) -> String {
        let reply = self.sign(token, cert, digests).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body["transactionId"].as_str().unwrap().to_owned()
    }

    async fn status(&self, token: &str, transaction_id: &str) -> Reply {
        self.get(&format!("{STATUS}/{transaction_id}"), token).await
    }

    /// Polls until the transaction leaves PENDING (2 s at most).
    async fn settle(&self, token: &str, transaction_id: &str) -> Value {
        let started = Instant::now();
        loop {
            let reply = self.status(token, transaction_id).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            if reply.body["status"] != "PENDING" {
                return reply.body;
            }
            assert!(started.elapsed() < Duration::from_secs(2), "still pending");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn digest(n: usize) -> Vec<u8> {
    Sha256::digest(format!("tài liệu {n}").as_bytes()).to_vec()
}

fn b64(value: &Value) -> Vec<u8> {
    BASE64
        .decode(value.as_str().expect("a base64 string"))
        .unwrap()
}

fn verifies(cert_der: &[u8], digest: &[u8], signature: &[u8]) -> bool {
    let (_, cert) = X509Certificate::from_der(cert_der).unwrap();
    let key = RsaPublicKey::from_public_key_der(cert.public_key().raw).unwrap();
    key.verify(Pkcs1v15Sign::new::<Sha256>(), digest, signature)
        .is_ok()
}

fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.body["errorCode"], code, "{}", reply.text);
    for field in ["error", "devMsg", "userMsg"] {
        assert!(reply.body[field].is_string(), "{field} in {}", reply.text);
    }
}

#[tokio::test]
async fn login_answers_misa_envelope_with_tokens() {
    let sim = TestSim::start_only(&[]).await;
    let body = sim.login().await;
    assert_eq!(body["status"]["type"], "success");
    assert_eq!(body["status"]["code"], 200);
    assert_eq!(body["status"]["error"], false);
    let data = &body["data"];
    assert_eq!(data["tokenType"], "Bearer");
    assert_eq!(data["expiresIn"], 3600);
    for field in ["accessToken", "remoteSigningAccessToken", "refreshToken"] {
        assert!(!data[field].as_str().unwrap().is_empty(), "{field}");
    }
    assert_ne!(data["accessToken"], data["remoteSigningAccessToken"]);
    assert_eq!(data["user"]["username"], USERNAME);
    assert!(data["default"]["appAuthenticator"].is_boolean());

    // MISA's sandbox serves the auth API under /webdev.
    let reply = sim
        .post(
            &format!("/webdev{LOGIN}"),
            None,
            &json!({"userName": USERNAME, "password": PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn login_with_wrong_password_is_refused_in_the_login_envelope() {
    let sim = TestSim::start_only(&[]).await;
    let reply = sim
        .post(
            LOGIN,
            None,
            &json!({"userName": USERNAME, "password": "nope"}),
        )
        .await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(reply.body["status"]["error"], true);
    assert_eq!(reply.body["status"]["errorCode"], 101);
    assert!(reply.body["data"].is_null());

    let reply = sim.post(LOGIN, None, &json!({"userName": USERNAME})).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
}

#[tokio::test]
async fn calls_without_the_client_headers_are_403() {
    let sim = TestSim::start_only(&[AN]).await;
    let token = sim.token().await;
    let reply = TestSim::reply(
        sim.http
            .post(sim.url(LOGIN))
            .json(&json!({"userName": USERNAME, "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&reply, 403, "InvalidClient");
    let reply = TestSim::reply(
        sim.http
            .get(sim.url(&format!("{BY_USER}?userId={AN}")))
            .header("x-clientId", CLIENT_ID)
            .header("x-clientKey", "wrong")
            .header("AuthorizationRM", format!("Bearer {token}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&reply, 403, "InvalidClient");
}

#[tokio::test]
async fn esign_calls_need_the_remote_signing_bearer_token() {
    let sim = TestSim::start_only(&[AN]).await;
    let login = sim.login().await;
    let path = format!("{BY_USER}?userId={AN}");
    assert_error(&sim.get_raw(&path, None).await, 401, "InvalidToken");
    let remote = login["data"]["remoteSigningAccessToken"].as_str().unwrap();
    let misaid = login["data"]["accessToken"].as_str().unwrap();
    assert_error(&sim.get_raw(&path, Some(remote)).await, 401, "InvalidToken");
    assert_error(&sim.get(&path, misaid).await, 401, "InvalidToken");
    assert_error(&sim.get(&path, "made-up").await, 401, "InvalidToken");
    assert_eq!(sim.get(&path, remote).await.status, 200);
    assert_eq!(
        sim.get_raw(&path, Some(&format!("bearer {remote}")))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn two_factor_account_needs_the_one_time_code() {
    let mut config = config_only(&[]);
    config.otp_code = Some("246810".into());
    let sim = TestSim::start(config).await;
    let credentials = json!({"userName": USERNAME, "password": PASSWORD});
    let two_factor = "/api/auth/api/v1/auth/two-factor-auth";

    // No login yet: no code is expected.
    let reply = sim
        .post(
            two_factor,
            None,
            &json!({"userName": USERNAME, "code": "246810", "otpType": 1}),
        )
        .await;
    assert_eq!(reply.status, 401, "{}", reply.text);

    let reply = sim.post(LOGIN, None, &credentials).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["status"]["error"], true);
    assert_eq!(reply.body["status"]["errorCode"], 122);
    assert!(reply.body["data"].is_null());

    let reply = sim
        .post(
            "/webdev/api/auth/api/v1/auth/resend-otp-auth",
            None,
            &json!({"userName": USERNAME, "language": "vi-VN"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["data"]["user"]["username"], USERNAME);

    let reply = sim
        .post(
            two_factor,
            None,
            &json!({"userName": USERNAME, "code": "000000", "otpType": 1}),
        )
        .await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(reply.body["status"]["errorCode"], 123);
    let reply = sim
        .post(
            two_factor,
            None,
            &json!({"userName": USERNAME, "code": "246810", "otpType": 1, "remember": false}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let token = reply.body["data"]["remoteSigningAccessToken"]
        .as_str()
        .unwrap();
    assert_eq!(sim.get(BY_USER, token).await.status, 200);
}

#[tokio::test]
async fn refresh_token_gives_new_tokens_once() {
    let sim = TestSim::start_only(&[]).await;
    let login = sim.login().await;
    let refresh_path = "/webdev/api/auth/api/v1/auth/refreshtoken";
    let refresh_token = login["data"]["refreshToken"].clone();
    let reply = sim
        .post(refresh_path, None, &json!({"refreshToken": refresh_token}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let fresh = reply.body["remoteSigningAccessToken"].as_str().unwrap();
    assert_ne!(fresh, login["data"]["remoteSigningAccessToken"]);
    assert_eq!(reply.body["expiresIn"], 3600);
    assert_eq!(sim.get(BY_USER, fresh).await.status, 200);
    let again = sim
        .post(refresh_path, None, &json!({"refreshToken": refresh_token}))
        .await;
    assert_error(&again, 401, "InvalidRefreshToken");
}

#[tokio::test]
async fn access_tokens_expire_after_their_lifetime() {
    let mut config = config_only(&[]);
    config.token_lifetime = Duration::from_millis(300);
    let sim = TestSim::start(config).await;
    let token = sim.token().await;
    assert_eq!(sim.get(BY_USER, &token).await.status, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_error(&sim.get(BY_USER, &token).await, 401, "TokenExpired");
}

#[tokio::test]
async fn expired_tokens_are_refused_until_the_next_login() {
    let sim = TestSim::start_only(&[]).await;
    let old = sim.token().await;
    assert_eq!(sim.sim.control().expire_access_tokens(), 1);
    assert_error(&sim.get(BY_USER, &old).await, 401, "TokenExpired");
    let new = sim.token().await;
    assert_eq!(sim.get(BY_USER, &new).await.status, 200);
}

#[tokio::test]
async fn certificate_has_misa_shape_and_chains_to_the_root() {
    let sim = TestSim::start_only(&[AN]).await;
    let token = sim.token().await;
    let cert = sim.cert(&token, AN).await;
    let citizen = sim.sim.control().citizens().remove(0);
    assert_eq!(cert["userId"], citizen.misa_user_id.as_str());
    assert_eq!(cert["keyAlias"], citizen.key_alias.as_str());
    assert_eq!(cert["keyStatus"], "ACTIVE");
    assert_eq!(cert["certStatus"], "ACTIVE");
    assert!(cert["appName"].is_string());
    assert_eq!(cert["isAutoSign"], false);
    assert!(cert["effectiveDate"].as_str().unwrap().ends_with("+07:00"));
    let leaf_der = b64(&cert["certificate"]);
    let chain: Vec<Vec<u8>> = cert["certiticateChain"]
        .as_array()
        .unwrap()
        .iter()
        .map(b64)
        .collect();
    assert_eq!(chain.len(), 3, "signer, MISA-CA, root");
    assert_eq!(chain[0], leaf_der);

    let (_, leaf) = X509Certificate::from_der(&leaf_der).unwrap();
    let (_, issuing) = X509Certificate::from_der(&chain[1]).unwrap();
    let (_, root) = X509Certificate::from_der(&chain[2]).unwrap();
    leaf.verify_signature(Some(issuing.public_key())).unwrap();
    issuing.verify_signature(Some(root.public_key())).unwrap();
    root.verify_signature(None).unwrap();
    assert!(issuing.is_ca() && root.is_ca() && !leaf.is_ca());
    let root_pem = sim.sim.root_certificate_pem();
    assert!(root_pem.contains(&BASE64.encode(&chain[2])[..40]));

    let uid: Vec<&str> = leaf
        .subject()
        .iter_by_oid(&x509_parser::oid_registry::OID_USERID)
        .map(|attribute| attribute.as_str().unwrap())
        .collect();
    assert_eq!(uid, vec![format!("CCCD:{AN}")]);
    let cn: Vec<&str> = leaf
        .subject()
        .iter_common_name()
        .map(|attribute| attribute.as_str().unwrap())
        .collect();
    assert_eq!(cn, vec!["Nguyễn Văn An"]);
    assert_eq!(
        hex_upper(leaf.raw_serial()),
        citizen.serial_number,
        "serial as the controls report it"
    );
    let key = RsaPublicKey::from_public_key_der(leaf.public_key().raw).unwrap();
    assert_eq!(rsa::traits::PublicKeyParts::size(&key), 256, "RSA-2048");

    // by-certId answers the same certificate; the MISA user id also finds it by-userId.
    let one = sim
        .get(
            &format!("{BY_CERT}?certAlias={}", citizen.key_alias),
            &token,
        )
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["certificate"], cert["certificate"]);
    let by_misa_id = sim
        .get(
            &format!("{BY_USER}?userId={}", citizen.misa_user_id),
            &token,
        )
        .await;
    assert_eq!(by_misa_id.body.as_array().unwrap().len(), 1);
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[tokio::test]
async fn unknown_citizens_and_the_service_account_hold_no_certificates() {
    let sim = TestSim::start_only(&[AN]).await;
    let token = sim.token().await;
    for path in [
        format!("{BY_USER}?userId=079200000999"),
        BY_USER.to_owned(),
        format!("{BY_USER}?userId="),
    ] {
        let reply = sim.get(&path, &token).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body, json!([]), "{path}");
    }
    assert_error(
        &sim.get(&format!("{BY_CERT}?certAlias=nope"), &token).await,
        404,
        "CertificateNotFound",
    );
    assert_error(&sim.get(BY_CERT, &token).await, 400, "InvalidRequest");
}

#[tokio::test]
async fn approved_batch_is_signed_in_request_order() {
    let sim = TestSim::start_only(&[AN]).await;
    let token = sim.token().await;
    let cert = sim.cert(&token, AN).await;
    let digests: Vec<Vec<u8>> = (0..3).map(digest).collect();
    let transaction_id = sim.sign_ok(&token, &cert, &digests).await;
    let body = sim.settle(&token, &transaction_id).await;
    assert_eq!(body["status"], "SUCCESS");
    assert_eq!(body["transactionId"], transaction_id.as_str());
    assert!(body["errorCode"].is_null());
    let signatures = body["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 3);
    let leaf = b64(&cert["certificate"]);
    for (n, signature) in signatures.iter().enumerate() {
        assert_eq!(signature["documentId"], format!("doc-{n}"));
        assert!(verifies(&leaf, &digests[n], &b64(&signature["signature"])));
    }
    // Asking again answers the same signatures.
    let again = sim.status(&token, &transaction_id).await;
    assert_eq!(again.body["signatures"], body["signatures"]);
}

#[tokio::test]
async fn manual_citizen_waits_for_a_decision() {
    let sim = TestSim::start_only(&[CUONG]).await;
    let token = sim.token().await;
    let cert = sim.cert(&token, CUONG).await;
    let control = sim.sim.control();

    let approved = sim.sign_ok(&token, &cert, &[digest(1)]).await;
    let pending = sim.status(&token, &approved).await;
    assert_eq!(pending.body["status"], "PENDING");
    assert!(pending.body["signatures"].is_null());
    control.approve(&approved).unwrap();
    assert_eq!(sim.settle(&token, &approved).await["status"], "SUCCESS");
    assert!(matches!(
        control.reject(&approved),
        Err(SimError::NotPending {
            state: TransactionState::Signed,
            ..
        })
    ));

    let rejected = sim.sign_ok(&token, &cert, &[digest(2)]).await;
    control.reject(&rejected).unwrap();
    let body = sim.settle(&token, &rejected).await;
    assert_eq!(body["status"], "FAILED");
    assert_eq!(body["errorCode"], "UserRejected");

    let expired = sim.sign_ok(&token, &cert, &[digest(3)]).await;
    control.expire(&expired).unwrap();
    let body = sim.settle(&token, &expired).await;
    assert_eq!(body["status"], "FAILED");
    assert_eq!(body["errorCode"], "TransactionExpired");
    assert!(body["errorDescription"].is_string());
    assert!(matches!(
        control.approve("nope"),
        Err(SimError::UnknownTransaction(_))
    ));

    let states: Vec<TransactionState> = control
        .transactions()
        .iter()
        .map(|transaction| transaction.state)
        .collect();
    assert_eq!(
        states,
        vec![
            TransactionState::Signed,
            TransactionState::Rejected,
            TransactionState::Expired
        ]
    );
}

#[tokio::test]
async fn behaviours_decide_after_their_delay_and_the_lifetime_expires_the_rest() {
    let mut config = config_only(&[BINH, CUONG]);
    config.transaction_ttl = Duration::from_millis(300);
    let sim = TestSim::start(config).await;
    let token = sim.token().await;

    let binh = sim.cert(&token, BINH).await;
    let rejected = sim.sign_ok(&token, &binh, &[digest(1)]).await;
    let body = sim.settle(&token, &rejected).await;
    assert_eq!(body["status"], "FAILED");
    assert_eq!(body["errorCode"], "UserRejected");

    let cuong = sim.cert(&token, CUONG).await;
    sim.sim
        .control()
        .set_behaviour(CUONG, Behaviour::ApproveAfter(Duration::from_millis(150)))
        .unwrap();
    let approved = sim.sign_ok(&token, &cuong, &[digest(2)]).await;
    assert_eq!(
        sim.status(&token, &approved).await.body["status"],
        "PENDING"
    );
    tokio::time::sleep(Duration::from_millis(170)).await;
    assert_eq!(
        sim.status(&token, &approved).await.body["status"],
        "SUCCESS"
    );

    sim.sim
        .control()
        .set_behaviour(CUONG, Behaviour::Manual)
        .unwrap();
    let forgotten = sim.sign_ok(&token, &cuong, &[digest(3)]).await;
    tokio::time::sleep(Duration::from_millis(320)).await;
    let body = sim.status(&token, &forgotten).await.body;
    assert_eq!(body["status"], "FAILED");
    assert_eq!(body["errorCode"], "TransactionExpired");
    assert!(matches!(
        sim.sim
            .control()
            .set_behaviour("000000000000", Behaviour::Manual),
        Err(SimError::UnknownCitizen(_))
    ));
}

#[tokio::test]
async fn invalid_sign_requests_are_refused() {
    let sim = TestSim::start_only(&[AN, HOA]).await;
    let token = sim.token().await;
    let cert = sim.cert(&token, AN).await;
    let document = |id: &str, file: &str, name: &str| json!({"DocumentId": id, "FileToSign": file, "DocumentName": name});
    let good = BASE64.encode(digest(0));
    let body = |documents: Value| {
        json!({
            "DataToBeDisplayed": "Ký", "UserId": cert["userId"], "CertAlias": cert["keyAlias"],
            "Documents": documents
        })
    };
    let cases = [
        body(json!([])),
        body(json!([document(&"x".repeat(37), &good, "a.pdf")])),
        body(json!([document("", &good, "a.pdf")])),
        body(json!([document("a", &good, &"ồ".repeat(101))])),
        body(json!([document("a", "not base64!", "a.pdf")])),
        body(json!([document("a", &BASE64.encode([0_u8; 31]), "a.pdf")])),
        body(json!([
            document("a", &good, "a.pdf"),
            document("a", &good, "b.pdf")
        ])),
        json!({"DataToBeDisplayed": " ", "UserId": cert["userId"], "CertAlias": cert["keyAlias"],
               "Documents": [document("a", &good, "a.pdf")]}),
        json!({"UserId": cert["userId"]}),
    ];
    for case in cases {
        let reply = sim.post(SIGN, Some(&token), &case).await;
        assert_error(&reply, 400, "InvalidRequest");
    }
    let malformed = TestSim::reply(
        sim.http
            .post(sim.url(SIGN))
            .header("x-clientId", CLIENT_ID)
            .header("x-clientKey", CLIENT_KEY)
            .header("AuthorizationRM", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&malformed, 400, "InvalidRequest");

    // A key alias that is not the user's, and an inactive key.
    let hoa = sim.cert(&token, HOA).await;
    assert_eq!(hoa["keyStatus"], "INACTIVE");
    let mixed = json!({
        "DataToBeDisplayed": "Ký", "UserId": cert["userId"], "CertAlias": hoa["keyAlias"],
        "Documents": [document("a", &good, "a.pdf")]
    });
    assert_error(
        &sim.post(SIGN, Some(&token), &mixed).await,
        400,
        "CertificateNotFound",
    );
    let reply = sim.sign(&token, &hoa, &[digest(0)]).await;
    assert_error(&reply, 400, "CertificateInactive");

    // camelCase field names are accepted, as .NET model binding would.
    let camel = json!({
        "dataToBeDisplayed": "Ký", "userId": cert["userId"], "certAlias": cert["keyAlias"],
        "documents": [{"documentId": "a", "fileToSign": good, "documentName": "a.pdf"}]
    });
    assert_eq!(sim.post(SIGN, Some(&token), &camel).await.status, 200);
    assert!(sim.sim.control().transactions().len() == 1);
}

#[tokio::test]
async fn unknown_transaction_is_404() {
    let sim = TestSim::start_only(&[]).await;
    let token = sim.token().await;
    assert_error(
        &sim.status(&token, "00000000-0000-4000-8000-000000000000")
            .await,
        404,
        "TransactionNotFound",
    );
}

#[tokio::test]
async fn injected_faults_hit_exactly_one_call() {
    let sim = TestSim::start_only(&[]).await;
    let token = sim.token().await;
    let control = sim.sim.control();

    control.fail_next(Fault::Status(503));
    assert_error(&sim.get(BY_USER, &token).await, 503, "ServiceUnavailable");
    assert_eq!(sim.get(BY_USER, &token).await.status, 200);

    control.fail_next(Fault::Garbage);
    let reply = sim.get(BY_USER, &token).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_null(), "not JSON: {}", reply.text);
    assert!(reply.text.contains("<html>"));

    control.fail_next(Fault::Hang(Duration::from_millis(300)));
    let started = Instant::now();
    assert_eq!(sim.get(BY_USER, &token).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    control.set_delay(Duration::from_millis(100));
    let started = Instant::now();
    assert_eq!(sim.get(BY_USER, &token).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(100));
    control.set_delay(Duration::ZERO);

    // The login answers in MISA's error shape too.
    control.fail_next(Fault::Status(502));
    let reply = sim
        .post(
            LOGIN,
            None,
            &json!({"userName": USERNAME, "password": PASSWORD}),
        )
        .await;
    assert_error(&reply, 502, "BadGateway");
}

#[tokio::test]
async fn corrupted_and_foreign_signatures_do_not_verify() {
    let sim = TestSim::start_only(&[AN]).await;
    let token = sim.token().await;
    let cert = sim.cert(&token, AN).await;
    let leaf = b64(&cert["certificate"]);
    let control = sim.sim.control();

    control.corrupt_next_signature();
    let corrupted = sim.sign_ok(&token, &cert, &[digest(1)]).await;
    let body = sim.settle(&token, &corrupted).await;
    let signature = b64(&body["signatures"][0]["signature"]);
    assert!(!verifies(&leaf, &digest(1), &signature));
    // Only that transaction: the next one is sound.
    let sound = sim.sign_ok(&token, &cert, &[digest(2)]).await;
    let body = sim.settle(&token, &sound).await;
    assert!(verifies(
        &leaf,
        &digest(2),
        &b64(&body["signatures"][0]["signature"])
    ));

    control.sign_next_with_foreign_key();
    let foreign = sim.sign_ok(&token, &cert, &[digest(3)]).await;
    let body = sim.settle(&token, &foreign).await;
    let signature = b64(&body["signatures"][0]["signature"]);
    assert_eq!(signature.len(), 256, "a well-formed RSA-2048 signature");
    assert!(!verifies(&leaf, &digest(3), &signature));
}

#[tokio::test]
async fn requests_are_recorded_without_secrets() {
    let sim = TestSim::start_only(&[AN]).await;
    let token = sim.token().await;
    sim.get(&format!("{BY_USER}?userId={AN}"), &token).await;
    let requests = sim.sim.control().requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, LOGIN);
    assert_eq!(requests[0].body["userName"], USERNAME);
    assert_eq!(requests[0].body["password"], "[REDACTED]");
    assert_eq!(requests[1].method, "GET");
    assert_eq!(requests[1].query, format!("userId={AN}"));
    assert!(requests[1].body.is_null());
}

#[tokio::test]
async fn document_helpers_are_not_simulated_and_unknown_paths_are_404() {
    let sim = TestSim::start_only(&[]).await;
    let token = sim.token().await;
    let reply = sim
        .post(
            "/external/esrm/service/document/api/v1/documents/hash",
            None,
            &json!({}),
        )
        .await;
    assert_error(&reply, 501, "NotSimulated");
    let reply = sim
        .post(
            "/external/esrm/service/document/api/v1/documents/attachment",
            Some(&token),
            &json!({}),
        )
        .await;
    assert_error(&reply, 501, "NotSimulated");
    assert_error(&sim.get("/nope", &token).await, 404, "NotFound");
    // The status endpoint is GET only.
    let reply = sim
        .post(&format!("{STATUS}/x"), Some(&token), &json!({}))
        .await;
    assert_error(&reply, 404, "NotFound");
}

#[tokio::test]
async fn http_control_api_steers_the_simulator() {
    let sim = TestSim::start_only(&[CUONG]).await;
    let token = sim.token().await;
    let cert = sim.cert(&token, CUONG).await;
    let control = |path: &str| format!("{}/_sim{path}", sim.sim.base_url());

    let citizens: Value = sim
        .http
        .get(control("/citizens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(citizens[0]["user_id"], CUONG);
    assert_eq!(citizens[0]["key_alias"], cert["keyAlias"]);
    assert_eq!(citizens[0]["behaviour"]["kind"], "manual");

    let transaction_id = sim.sign_ok(&token, &cert, &[digest(1)]).await;
    let listed: Value = sim
        .http
        .get(control("/transactions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["transaction_id"], transaction_id.as_str());
    assert_eq!(listed[0]["state"], "pending");

    let approve = sim
        .http
        .post(control(&format!("/transactions/{transaction_id}/approve")))
        .send()
        .await
        .unwrap();
    assert_eq!(approve.status(), 200);
    let again = sim
        .http
        .post(control(&format!("/transactions/{transaction_id}/reject")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let unknown = sim
        .http
        .post(control("/transactions/nope/approve"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let behaviour = sim
        .http
        .post(control(&format!("/citizens/{CUONG}/behaviour")))
        .json(&json!({"kind": "reject_after", "millis": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(behaviour.status(), 204);
    let rejected = sim.sign_ok(&token, &cert, &[digest(2)]).await;
    assert_eq!(
        sim.settle(&token, &rejected).await["errorCode"],
        "UserRejected"
    );

    for (fault, status) in [
        (json!({"kind": "status", "status": 503}), 204),
        (json!({"kind": "status", "status": 42}), 400),
        (json!({"kind": "nonsense"}), 400),
    ] {
        let reply = sim
            .http
            .post(control("/faults"))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), status, "{fault}");
    }
    assert_eq!(sim.get(BY_USER, &token).await.status, 503);

    let expired: Value = sim
        .http
        .post(control("/tokens/expire"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(expired["expired"], 1);
    assert_error(&sim.get(BY_USER, &token).await, 401, "TokenExpired");

    let root = sim
        .http
        .get(control("/root.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(root, sim.sim.root_certificate_pem());
    let requests: Value = sim
        .http
        .get(control("/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(requests.as_array().unwrap().len() >= 5);
}

#[tokio::test]
async fn sandbox_holds_the_shared_citizens_and_stops() {
    let config = SimConfig::sandbox();
    let (client_id, client_key) = (config.client_id.clone(), config.client_key.clone());
    let (username, password) = (config.username.clone(), config.password.clone());
    let sim = kyso_sim_misa::spawn(config).await.unwrap();
    let citizens = sim.control().citizens();
    let an = citizens.iter().find(|c| c.user_id == AN).unwrap();
    assert_eq!(an.full_name, "Nguyễn Văn An");
    assert_eq!(
        an.behaviour,
        Behaviour::ApproveAfter(Duration::from_secs(2))
    );
    assert!(
        citizens
            .iter()
            .any(|c| matches!(c.behaviour, Behaviour::RejectAfter(_)))
    );
    assert!(
        sim.control()
            .citizen_certificate_pem(AN)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );

    let http = reqwest::Client::new();
    let login = http
        .post(format!("{}{LOGIN}", sim.base_url()))
        .header("x-clientId", client_id)
        .header("x-clientKey", client_key)
        .json(&json!({"userName": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);

    let base_url = sim.base_url();
    sim.stop().await;
    assert!(
        http.get(format!("{base_url}{BY_USER}"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn invalid_configurations_are_refused() {
    let mut duplicate = config_only(&[AN]);
    duplicate.citizens.push(duplicate.citizens[0].clone());
    assert!(matches!(
        kyso_sim_misa::spawn(duplicate).await,
        Err(SimError::InvalidConfig(_))
    ));
    let mut no_key = config_only(&[]);
    no_key.client_key.clear();
    assert!(matches!(
        kyso_sim_misa::spawn(no_key).await,
        Err(SimError::InvalidConfig(_))
    ));
}
