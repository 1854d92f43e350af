//! Drives the simulator over real HTTP as a CSC client would, and checks every certificate and
//! signature independently (x509-parser for the certificates, `rsa`/`p256` for signatures).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_sim_csc::{
    AuthorizationState, Behaviour, CitizenSpec, ConsentMode, Fault, KeyKind, SimConfig, SimError,
    SimHandle,
};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384};
use x509_parser::prelude::{FromDer, X509Certificate};

const CLIENT_ID: &str = "api-client";
const CLIENT_SECRET: &str = "api-secret";

const AN: &str = "001099000001";
const BINH: &str = "001099000002";
const CUONG: &str = "001099000003";
const DUNG: &str = "001099000004";
const EM: &str = "001099000005";

const SHA256: &str = "2.16.840.1.101.3.4.2.1";
const SHA384: &str = "2.16.840.1.101.3.4.2.2";
const SHA256_RSA: &str = "1.2.840.113549.1.1.11";
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";

fn citizens() -> Vec<CitizenSpec> {
    let now = Behaviour::ApproveAfter(Duration::ZERO);
    vec![
        CitizenSpec::new(AN, "Nguyễn Văn An", KeyKind::Rsa2048, now)
            .with_user_id(format!("CCCD:{AN}")),
        CitizenSpec::new(
            BINH,
            "Trần Thị Bình",
            KeyKind::Rsa2048,
            Behaviour::RejectAfter(Duration::ZERO),
        ),
        CitizenSpec::new(CUONG, "Lê Văn Cường", KeyKind::P256, Behaviour::Manual),
        CitizenSpec::new(DUNG, "Phạm Thị Dung", KeyKind::P256, now),
        CitizenSpec::new(
            EM,
            "Hoàng Văn Em",
            KeyKind::Rsa2048,
            Behaviour::ApproveAfter(Duration::from_millis(100)),
        )
        .with_consent(ConsentMode::Blocking),
    ]
}

/// A running simulator, an HTTP client and a bearer token.
struct Client {
    sim: SimHandle,
    http: reqwest::Client,
    token: String,
}

impl Client {
    async fn start() -> Self {
        Self::start_with(SimConfig::new(CLIENT_ID, CLIENT_SECRET, citizens())).await
    }

    async fn start_with(config: SimConfig) -> Self {
        let sim = kyso_sim_csc::spawn(config).await.unwrap();
        let http = reqwest::Client::new();
        let mut client = Self {
            sim,
            http,
            token: String::new(),
        };
        let (status, login) = client.login(CLIENT_ID, CLIENT_SECRET, json!({})).await;
        assert_eq!(status, 200, "{login}");
        client.token = login["access_token"].as_str().unwrap().to_owned();
        client
    }

    fn url(&self, method: &str) -> String {
        format!("{}/{method}", self.sim.base_url())
    }

    async fn login(&self, id: &str, secret: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("auth/login"))
            .basic_auth(id, Some(secret))
            .json(&body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn post(&self, method: &str, body: Value) -> (u16, Value) {
        self.post_with(method, &self.token, body).await
    }

    async fn post_with(&self, method: &str, token: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(method))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    async fn credential_of(&self, user_id: &str) -> String {
        let (status, list) = self
            .post("credentials/list", json!({ "userID": user_id }))
            .await;
        assert_eq!(status, 200, "{list}");
        list["credentialIDs"][0].as_str().unwrap().to_owned()
    }

    async fn info(&self, credential_id: &str) -> Value {
        let (status, info) = self
            .post(
                "credentials/info",
                json!({ "credentialID": credential_id, "certificates": "chain", "certInfo": true, "authInfo": true }),
            )
            .await;
        assert_eq!(status, 200, "{info}");
        info
    }

    /// `credentials/authorize` for `hashes` (base64), as the sim's SCAL 2 wants.
    async fn authorize(
        &self,
        credential_id: &str,
        hashes: &[String],
        hash_oid: &str,
    ) -> (u16, Value) {
        self.post(
            "credentials/authorize",
            json!({
                "credentialID": credential_id,
                "numSignatures": hashes.len(),
                "hashes": hashes,
                "hashAlgorithmOID": hash_oid,
                "description": "Ký thử",
            }),
        )
        .await
    }

    /// Polls `credentials/authorizeCheck` until it is not 202.
    async fn check_until_decided(&self, handle: &str) -> (u16, Value) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (status, body) = self
                .post("credentials/authorizeCheck", json!({ "handle": handle }))
                .await;
            if status != 202 {
                return (status, body);
            }
            assert_eq!(body["handle"], handle);
            assert!(Instant::now() < deadline, "still waiting");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// authorize + check until approved: the SAD.
    async fn sad_for(&self, credential_id: &str, hashes: &[String], hash_oid: &str) -> String {
        let (status, answer) = self.authorize(credential_id, hashes, hash_oid).await;
        let (status, answer) = if status == 202 {
            self.check_until_decided(answer["handle"].as_str().unwrap())
                .await
        } else {
            (status, answer)
        };
        assert_eq!(status, 200, "{answer}");
        assert!(answer["expiresIn"].as_u64().unwrap() > 0);
        answer["SAD"].as_str().unwrap().to_owned()
    }

    async fn sign_hash(
        &self,
        credential_id: &str,
        sad: &str,
        hashes: &[String],
        hash_oid: Option<&str>,
        sign_algo: &str,
    ) -> (u16, Value) {
        let mut body = json!({
            "credentialID": credential_id,
            "SAD": sad,
            "hashes": hashes,
            "signAlgo": sign_algo,
        });
        if let Some(oid) = hash_oid {
            body["hashAlgorithmOID"] = json!(oid);
        }
        self.post("signatures/signHash", body).await
    }
}

fn sha256_b64(text: &str) -> (Vec<u8>, String) {
    let digest = Sha256::digest(text.as_bytes()).to_vec();
    let encoded = BASE64.encode(&digest);
    (digest, encoded)
}

fn leaf_of(info: &Value) -> Vec<u8> {
    BASE64
        .decode(info["cert"]["certificates"][0].as_str().unwrap())
        .unwrap()
}

fn verify_rsa_sha256(cert_der: &[u8], digest: &[u8], signature: &[u8]) -> bool {
    let (_, cert) = X509Certificate::from_der(cert_der).unwrap();
    let key = RsaPublicKey::from_public_key_der(cert.public_key().raw).unwrap();
    key.verify(Pkcs1v15Sign::new::<Sha256>(), digest, signature)
        .is_ok()
}

fn verify_p256(cert_der: &[u8], digest: &[u8], signature: &[u8]) -> bool {
    let (_, cert) = X509Certificate::from_der(cert_der).unwrap();
    let key = p256::ecdsa::VerifyingKey::from_public_key_der(cert.public_key().raw).unwrap();
    let Ok(signature) = p256::ecdsa::Signature::from_der(signature) else {
        return false;
    };
    key.verify_prehash(digest, &signature).is_ok()
}

fn signature(answer: &Value, index: usize) -> Vec<u8> {
    BASE64
        .decode(answer["signatures"][index].as_str().unwrap())
        .unwrap()
}

#[tokio::test]
async fn info_answers_get_and_post_without_login() {
    let client = Client::start().await;
    let get: Value = client
        .http
        .get(client.url("info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(get["specs"], "2.0.0.2");
    assert!(
        get["methods"]
            .as_array()
            .unwrap()
            .contains(&json!("credentials/authorizeCheck"))
    );
    let post = client.http.post(client.url("info")).send().await.unwrap();
    assert_eq!(post.status(), 200);
    let unknown = client.post("credentials/sendOTP", json!({})).await;
    assert_eq!(unknown.0, 404);
    assert_eq!(unknown.1["error"], "invalid_request");
}

#[tokio::test]
async fn login_checks_client_credentials() {
    let client = Client::start().await;
    let (status, body) = client.login(CLIENT_ID, "wrong", json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "authentication_error");
    let response = client
        .http
        .post(client.url("auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response
            .headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let (status, body) = client
        .login(CLIENT_ID, CLIENT_SECRET, json!({ "rememberMe": true }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["expires_in"], 3600);
    assert!(body["refresh_token"].is_string());
    assert_eq!(client.sim.control().logins(), 2);
}

#[tokio::test]
async fn bearer_token_is_refused_when_missing_unknown_revoked_or_expired() {
    let client = Client::start().await;
    let list = json!({ "userID": BINH });
    let (status, body) = client
        .post_with("credentials/list", "nope", list.clone())
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let response = client
        .http
        .post(client.url("credentials/list"))
        .json(&list)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // Expired by the control surface: refused as expired, a new login works.
    assert_eq!(client.post("credentials/list", list.clone()).await.0, 200);
    assert!(client.sim.control().expire_current_token());
    let (status, body) = client.post("credentials/list", list.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("expired_token"))
    );

    let (_, login) = client.login(CLIENT_ID, CLIENT_SECRET, json!({})).await;
    let fresh = login["access_token"].as_str().unwrap();
    assert_eq!(
        client
            .post_with("credentials/list", fresh, list.clone())
            .await
            .0,
        200
    );
    let (status, _) = client
        .post_with("auth/revoke", fresh, json!({ "token": fresh }))
        .await;
    assert_eq!(status, 204);
    let (status, body) = client.post_with("credentials/list", fresh, list).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
}

#[tokio::test]
async fn token_expires_after_its_lifetime() {
    let mut config = SimConfig::new(CLIENT_ID, CLIENT_SECRET, citizens()[1..2].to_vec());
    config.token_lifetime = Duration::from_millis(300);
    let client = Client::start_with(config).await;
    let list = json!({ "userID": BINH });
    assert_eq!(client.post("credentials/list", list.clone()).await.0, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, body) = client.post("credentials/list", list).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("expired_token"))
    );
}

#[tokio::test]
async fn list_finds_credentials_by_user_id_only() {
    let client = Client::start().await;
    let (status, list) = client
        .post(
            "credentials/list",
            json!({ "userID": format!("CCCD:{AN}") }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["credentialIDs"].as_array().unwrap().len(), 1);
    // The bare CCCD is not An's userID here.
    let (_, list) = client
        .post("credentials/list", json!({ "userID": AN }))
        .await;
    assert_eq!(list["credentialIDs"], json!([]));
    let (status, body) = client.post("credentials/list", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("userID")
    );
    let (_, list) = client
        .post(
            "credentials/list",
            json!({ "userID": DUNG, "credentialInfo": true, "certificates": "chain" }),
        )
        .await;
    let infos = list["credentialInfos"].as_array().unwrap();
    assert_eq!(infos[0]["credentialID"], list["credentialIDs"][0]);
    assert_eq!(
        infos[0]["cert"]["certificates"].as_array().unwrap().len(),
        3
    );
}

#[tokio::test]
async fn info_gives_a_chain_that_verifies_and_names_the_cccd() {
    let client = Client::start().await;
    for (user_id, key) in [(format!("CCCD:{AN}"), "rsa"), (DUNG.to_owned(), "ec")] {
        let info = client.info(&client.credential_of(&user_id).await).await;
        let chain: Vec<Vec<u8>> = info["cert"]["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| BASE64.decode(c.as_str().unwrap()).unwrap())
            .collect();
        assert_eq!(chain.len(), 3);
        let certs: Vec<X509Certificate<'_>> = chain
            .iter()
            .map(|der| X509Certificate::from_der(der).unwrap().1)
            .collect();
        certs[0]
            .verify_signature(Some(certs[1].public_key()))
            .unwrap();
        certs[1]
            .verify_signature(Some(certs[2].public_key()))
            .unwrap();
        certs[2].verify_signature(None).unwrap();
        let root_pem = client.sim.root_certificate_pem();
        let (_, root) = x509_parser::pem::parse_x509_pem(root_pem.as_bytes()).unwrap();
        assert_eq!(root.contents, chain[2]);
        let uid = certs[0]
            .subject()
            .iter_attributes()
            .find(|a| a.attr_type().to_id_string() == "0.9.2342.19200300.100.1.1")
            .and_then(|a| a.as_str().ok())
            .unwrap()
            .to_owned();
        assert!(uid.starts_with("CCCD:") && uid.len() == 17, "{uid}");
        assert_eq!(info["key"]["status"], "enabled");
        assert_eq!(info["cert"]["status"], "valid");
        assert_eq!(info["SCAL"], "2");
        assert_eq!(info["multisign"], 20);
        assert_eq!(info["auth"]["mode"], "explicit");
        assert_eq!(
            info["cert"]["serialNumber"].as_str().unwrap(),
            hex_upper(certs[0].raw_serial())
        );
        assert!(info["cert"]["validTo"].as_str().unwrap().ends_with('Z'));
        let algos = info["key"]["algo"].as_array().unwrap();
        match key {
            "rsa" => {
                assert_eq!(algos[0], SHA256_RSA);
                assert_eq!(info["key"]["len"], 2048);
            }
            _ => {
                assert_eq!(algos[0], ECDSA_SHA256);
                assert_eq!(info["key"]["curve"], "1.2.840.10045.3.1.7");
            }
        }
    }
    let (status, body) = client
        .post("credentials/info", json!({ "credentialID": "nope" }))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error_description"], "Invalid parameter credentialID");
    let single = client
        .post(
            "credentials/info",
            json!({ "credentialID": client.credential_of(BINH).await }),
        )
        .await
        .1;
    assert_eq!(single["cert"]["certificates"].as_array().unwrap().len(), 1);
    assert!(single.get("auth").is_none());
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[tokio::test]
async fn asynchronous_consent_then_sign_hash_gives_verifiable_rsa_signatures() {
    let client = Client::start().await;
    let credential = client.credential_of(&format!("CCCD:{AN}")).await;
    let leaf = leaf_of(&client.info(&credential).await);
    let (d1, h1) = sha256_b64("one");
    let (d2, h2) = sha256_b64("two");
    let hashes = vec![h1, h2];
    let (status, answer) = client.authorize(&credential, &hashes, SHA256).await;
    assert_eq!(status, 202, "{answer}");
    let handle = answer["handle"].as_str().unwrap().to_owned();
    let (status, answer) = client.check_until_decided(&handle).await;
    assert_eq!(status, 200);
    let sad = answer["SAD"].as_str().unwrap().to_owned();
    // The check is idempotent while the SAD is valid.
    let (_, again) = client.check_until_decided(&handle).await;
    assert_eq!(again["SAD"], sad.as_str());

    let (status, signed) = client
        .sign_hash(&credential, &sad, &hashes, Some(SHA256), SHA256_RSA)
        .await;
    assert_eq!(status, 200, "{signed}");
    assert!(verify_rsa_sha256(&leaf, &d1, &signature(&signed, 0)));
    assert!(verify_rsa_sha256(&leaf, &d2, &signature(&signed, 1)));
    assert!(
        !verify_rsa_sha256(&leaf, &d2, &signature(&signed, 0)),
        "input order"
    );

    // Both signatures are used up.
    let (status, body) = client
        .sign_hash(&credential, &sad, &hashes[..1], Some(SHA256), SHA256_RSA)
        .await;
    assert_eq!(status, 400, "{body}");
    let snapshot = client.sim.control().authorizations();
    assert_eq!(snapshot[0].state, AuthorizationState::Approved);
    assert_eq!(snapshot[0].remaining_signatures, 0);
    assert_eq!(snapshot[0].description, "Ký thử");
}

#[tokio::test]
async fn ecdsa_credential_signs_with_the_combined_or_the_bare_oid() {
    let client = Client::start().await;
    let credential = client.credential_of(DUNG).await;
    let leaf = leaf_of(&client.info(&credential).await);
    let digest = Sha384::digest(b"ecdsa").to_vec();
    let hashes = vec![
        BASE64.encode(&digest),
        BASE64.encode(Sha384::digest(b"more")),
    ];
    let sad = client.sad_for(&credential, &hashes, SHA384).await;
    let (status, signed) = client
        .sign_hash(&credential, &sad, &hashes[..1], None, ECDSA_SHA384)
        .await;
    assert_eq!(status, 200, "{signed}");
    assert!(verify_p256(&leaf, &digest, &signature(&signed, 0)));
    let (status, signed) = client
        .sign_hash(
            &credential,
            &sad,
            &hashes[1..],
            Some(SHA384),
            "1.2.840.10045.2.1",
        )
        .await;
    assert_eq!(status, 200, "{signed}");
}

#[tokio::test]
async fn sign_hash_enforces_the_sad_and_the_algorithms() {
    let client = Client::start().await;
    let credential = client.credential_of(&format!("CCCD:{AN}")).await;
    let (_, hash) = sha256_b64("authorized");
    let hashes = vec![hash];
    let sad = client.sad_for(&credential, &hashes, SHA256).await;

    let expect = |answer: (u16, Value), status: u16, code: &str, words: &str| {
        assert_eq!(answer.0, status, "{}", answer.1);
        assert_eq!(answer.1["error"], code, "{}", answer.1);
        assert!(
            answer.1["error_description"]
                .as_str()
                .unwrap()
                .contains(words),
            "{}",
            answer.1
        );
    };
    let (_, other) = sha256_b64("not authorized");
    expect(
        client
            .sign_hash(&credential, &sad, &[other], Some(SHA256), SHA256_RSA)
            .await,
        403,
        "invalid_hash",
        "not authorized",
    );
    expect(
        client
            .sign_hash(&credential, &sad, &hashes, Some(SHA256), ECDSA_SHA256)
            .await,
        400,
        "invalid_request",
        "signAlgo",
    );
    expect(
        client
            .sign_hash(&credential, &sad, &hashes, Some(SHA384), SHA256_RSA)
            .await,
        400,
        "invalid_request",
        "hashAlgorithmOID",
    );
    expect(
        client
            .sign_hash(&credential, &sad, &hashes, None, RSA_ENCRYPTION)
            .await,
        400,
        "invalid_request",
        "hashAlgorithmOID",
    );
    expect(
        client
            .sign_hash(&credential, "forged", &hashes, Some(SHA256), SHA256_RSA)
            .await,
        400,
        "invalid_request",
        "Invalid parameter SAD",
    );
    let someone_else = client.credential_of(BINH).await;
    expect(
        client
            .sign_hash(&someone_else, &sad, &hashes, Some(SHA256), SHA256_RSA)
            .await,
        400,
        "invalid_request",
        "Invalid parameter SAD",
    );
    let mut asynchronous = json!({
        "credentialID": credential, "SAD": sad, "hashes": hashes,
        "signAlgo": SHA256_RSA, "operationMode": "A",
    });
    expect(
        client
            .post("signatures/signHash", asynchronous.take())
            .await,
        400,
        "invalid_request",
        "operationMode",
    );
    // After all those refusals the SAD still signs, with the bare RSA OID.
    let (status, body) = client
        .sign_hash(&credential, &sad, &hashes, Some(SHA256), RSA_ENCRYPTION)
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn authorize_validates_its_input() {
    let client = Client::start().await;
    let credential = client.credential_of(&format!("CCCD:{AN}")).await;
    let (_, hash) = sha256_b64("x");
    let cases = [
        (
            json!({ "credentialID": credential, "numSignatures": 2, "hashes": [hash], "hashAlgorithmOID": SHA256 }),
            "invalid_request",
        ),
        (
            json!({ "credentialID": credential, "numSignatures": 1, "hashes": ["***"], "hashAlgorithmOID": SHA256 }),
            "invalid_request",
        ),
        (
            json!({ "credentialID": credential, "numSignatures": 1, "hashes": [hash], "hashAlgorithmOID": SHA384 }),
            "invalid_request",
        ),
        (
            json!({ "credentialID": credential, "numSignatures": 1, "hashes": [hash], "hashAlgorithmOID": "1.3.14.3.2.26" }),
            "invalid_request",
        ),
        (
            json!({ "credentialID": credential, "numSignatures": 1, "hashAlgorithmOID": SHA256 }),
            "invalid_request",
        ),
        (
            json!({ "credentialID": credential, "numSignatures": 21, "hashes": [hash], "hashAlgorithmOID": SHA256 }),
            "invalid_request",
        ),
        (
            json!({ "credentialID": credential, "numSignatures": 1, "hashes": [hash], "hashAlgorithmOID": SHA256,
                    "authData": [{ "id": "PIN", "value": "1234" }] }),
            "invalid_authentication_data",
        ),
        (
            json!({ "credentialID": credential, "numSignatures": "one" }),
            "invalid_request",
        ),
    ];
    for (body, code) in cases {
        let (status, answer) = client.post("credentials/authorize", body.clone()).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["error"], code, "{body} -> {answer}");
    }
    assert!(client.sim.control().authorizations().is_empty());
}

#[tokio::test]
async fn refusal_lapse_and_unknown_handles_are_csc_errors() {
    let mut config = SimConfig::new(CLIENT_ID, CLIENT_SECRET, citizens());
    config.authorization_ttl = Duration::from_millis(300);
    let client = Client::start_with(config).await;
    let (_, hash) = sha256_b64("x");

    let binh = client.credential_of(BINH).await;
    let (_, answer) = client
        .authorize(&binh, std::slice::from_ref(&hash), SHA256)
        .await;
    let (status, answer) = client
        .check_until_decided(answer["handle"].as_str().unwrap())
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("access_denied"))
    );

    // Cường never answers: the request lapses with the service-wide TTL.
    let cuong = client.credential_of(CUONG).await;
    let (_, answer) = client
        .authorize(&cuong, std::slice::from_ref(&hash), SHA256)
        .await;
    let (status, answer) = client
        .check_until_decided(answer["handle"].as_str().unwrap())
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("expired_token"))
    );

    let (status, answer) = client
        .post(
            "credentials/authorizeCheck",
            json!({ "handle": "never-issued" }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(answer["error_description"], "Invalid parameter handle");
}

#[tokio::test]
async fn expire_after_behaviour_and_short_sad_lifetime() {
    let mut config = SimConfig::new(CLIENT_ID, CLIENT_SECRET, citizens());
    config.sad_lifetime = Duration::from_millis(200);
    let client = Client::start_with(config).await;
    let control = client.sim.control();
    control
        .set_behaviour(CUONG, Behaviour::ExpireAfter(Duration::from_millis(50)))
        .unwrap();
    let (_, hash) = sha256_b64("x");
    let cuong = client.credential_of(CUONG).await;
    let (_, answer) = client
        .authorize(&cuong, std::slice::from_ref(&hash), SHA256)
        .await;
    let (status, answer) = client
        .check_until_decided(answer["handle"].as_str().unwrap())
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("expired_token"))
    );

    let dung = client.credential_of(DUNG).await;
    let sad = client
        .sad_for(&dung, std::slice::from_ref(&hash), SHA256)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, answer) = client
        .sign_hash(&dung, &sad, &[hash], Some(SHA256), ECDSA_SHA256)
        .await;
    assert_eq!(status, 400);
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn blocking_consent_answers_with_the_sad() {
    let client = Client::start().await;
    let credential = client.credential_of(EM).await;
    let (_, hash) = sha256_b64("blocking");
    let started = Instant::now();
    let (status, answer) = client.authorize(&credential, &[hash], SHA256).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["SAD"].is_string());
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn faults_hit_the_next_call_once() {
    let client = Client::start().await;
    let control = client.sim.control();
    let list = json!({ "userID": BINH });

    control.fail_next(Fault::Status(503));
    let (status, body) = client.post("credentials/list", list.clone()).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(client.post("credentials/list", list.clone()).await.0, 200);

    control.fail_next(Fault::Status(500));
    let (status, body) = client.post("credentials/list", list.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (500, Some("server_error"))
    );

    control.fail_next(Fault::Garbage);
    let (status, body) = client.post("credentials/list", list.clone()).await;
    assert_eq!(status, 200);
    assert!(body.as_str().unwrap().starts_with("<!DOCTYPE html>"));

    control.fail_next(Fault::Hang(Duration::from_millis(300)));
    let started = Instant::now();
    assert_eq!(client.post("credentials/list", list.clone()).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Even login meets a fault: it comes before the credentials are looked at.
    control.fail_next(Fault::Status(503));
    assert_eq!(
        client.login(CLIENT_ID, CLIENT_SECRET, json!({})).await.0,
        503
    );

    control.set_delay(Duration::from_millis(150));
    let started = Instant::now();
    assert_eq!(client.post("credentials/list", list).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn corrupted_and_foreign_signatures_do_not_verify() {
    let client = Client::start().await;
    let control = client.sim.control();
    let credential = client.credential_of(DUNG).await;
    let leaf = leaf_of(&client.info(&credential).await);
    let (digest, hash) = sha256_b64("tampered");
    let hashes = vec![hash];

    let sad = client.sad_for(&credential, &hashes, SHA256).await;
    control.corrupt_next_signature();
    let (_, signed) = client
        .sign_hash(&credential, &sad, &hashes, None, ECDSA_SHA256)
        .await;
    assert!(!verify_p256(&leaf, &digest, &signature(&signed, 0)));

    control.sign_next_with_foreign_key();
    let sad = client.sad_for(&credential, &hashes, SHA256).await;
    let (_, signed) = client
        .sign_hash(&credential, &sad, &hashes, None, ECDSA_SHA256)
        .await;
    assert!(!verify_p256(&leaf, &digest, &signature(&signed, 0)));

    // Both were one-shot.
    let sad = client.sad_for(&credential, &hashes, SHA256).await;
    let (_, signed) = client
        .sign_hash(&credential, &sad, &hashes, None, ECDSA_SHA256)
        .await;
    assert!(verify_p256(&leaf, &digest, &signature(&signed, 0)));
}

#[tokio::test]
async fn control_api_over_http() {
    let client = Client::start().await;
    let sim_url = |path: &str| format!("http://{}/_sim/{path}", client.sim.addr());
    let http = &client.http;

    let citizens: Value = http
        .get(sim_url("citizens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(citizens.as_array().unwrap().len(), 5);
    assert_eq!(citizens[0]["user_id"], format!("CCCD:{AN}"));
    assert_eq!(
        citizens[2]["behaviour"],
        json!({ "kind": "manual", "after_millis": null })
    );

    // A manual request, approved over HTTP; approving twice conflicts.
    let cuong = client.credential_of(CUONG).await;
    let (_, hash) = sha256_b64("x");
    let (_, answer) = client
        .authorize(&cuong, std::slice::from_ref(&hash), SHA256)
        .await;
    let handle = answer["handle"].as_str().unwrap().to_owned();
    let listed: Value = http
        .get(sim_url("authorizations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["state"], "waiting");
    let approve = sim_url(&format!("authorizations/{handle}/approve"));
    assert_eq!(http.post(&approve).send().await.unwrap().status(), 200);
    assert_eq!(http.post(&approve).send().await.unwrap().status(), 409);
    assert_eq!(
        http.post(sim_url("authorizations/nope/approve"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(client.check_until_decided(&handle).await.0, 200);

    // Behaviour by CCCD: Cường now rejects at once.
    let response = http
        .post(sim_url(&format!("citizens/{CUONG}/behaviour")))
        .json(&json!({ "kind": "reject_after", "millis": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (_, answer) = client
        .authorize(&cuong, std::slice::from_ref(&hash), SHA256)
        .await;
    let (status, _) = client
        .check_until_decided(answer["handle"].as_str().unwrap())
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        http.post(sim_url("citizens/079200000999/behaviour"))
            .json(&json!({ "kind": "manual" }))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Faults and token expiry.
    let response = http
        .post(sim_url("faults"))
        .json(&json!({ "kind": "status", "status": 503 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        client
            .post("credentials/list", json!({ "userID": BINH }))
            .await
            .0,
        503
    );
    let response = http
        .post(sim_url("faults"))
        .json(&json!({ "kind": "teapot" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let expired: Value = http
        .post(sim_url("tokens/expire"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(expired["expired"], true);
    let (status, body) = client
        .post("credentials/list", json!({ "userID": BINH }))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("expired_token"))
    );

    let root = http
        .get(sim_url("root.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(root, client.sim.root_certificate_pem());
    let requests: Value = http
        .get(sim_url("requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        requests
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["path"] == "/csc/v2/credentials/authorize")
    );
    assert_eq!(
        http.post(sim_url("delay"))
            .json(&json!({ "millis": 0 }))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
}

#[tokio::test]
async fn sandbox_has_the_shared_citizen_and_a_rejecting_one() {
    let sandbox = SimConfig::sandbox();
    let an = sandbox.citizens.iter().find(|c| c.cccd == AN).unwrap();
    assert_eq!(an.full_name, "Nguyễn Văn An");
    assert_eq!(an.user_id, AN);
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
    let sim = kyso_sim_csc::spawn(sandbox).await.unwrap();
    assert_eq!(sim.control().citizens().len(), 5);
    assert!(sim.base_url().ends_with("/csc/v2"));
    assert!(
        sim.control()
            .citizen_certificate_pem(AN)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    sim.stop().await;
}

#[tokio::test]
async fn invalid_configs_are_refused() {
    let twice = vec![
        CitizenSpec::new(AN, "A", KeyKind::P256, Behaviour::Manual),
        CitizenSpec::new(AN, "B", KeyKind::P256, Behaviour::Manual).with_user_id("other"),
    ];
    let error = kyso_sim_csc::spawn(SimConfig::new(CLIENT_ID, CLIENT_SECRET, twice))
        .await
        .unwrap_err();
    assert!(matches!(error, SimError::InvalidConfig(_)), "{error}");
    let mut zero = SimConfig::new(CLIENT_ID, CLIENT_SECRET, Vec::new());
    zero.multisign = 0;
    assert!(matches!(
        kyso_sim_csc::spawn(zero).await.unwrap_err(),
        SimError::InvalidConfig(_)
    ));
}
