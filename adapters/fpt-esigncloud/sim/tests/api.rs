//! Drives the simulator over real HTTP as a relying party would, signing requests with the
//! `rsa` crate, and checks certificates and signatures independently (x509-parser, `rsa`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_sim_fpt::{
    Behaviour, CitizenSpec, Fault, RelyingPartySpec, RpKey, SimConfig, SimError, SimHandle,
    TransactionState,
};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_parser::prelude::{FromDer, X509Certificate};

const RP: &str = "TEST_RP";
const RP_USER: &str = "test-user";
const RP_PASSWORD: &str = "test-password";
const RP_SIGNATURE: &str = "dGVzdC1zdGF0aWMtc2lnbmF0dXJl";

const AN: &str = "001099000001";
const BINH: &str = "001099000002";
const CUONG: &str = "001099000003";

fn rp_spec(key: RpKey) -> RelyingPartySpec {
    RelyingPartySpec {
        name: RP.into(),
        user: RP_USER.into(),
        password: RP_PASSWORD.into(),
        signature: RP_SIGNATURE.into(),
        key,
    }
}

/// An approving, a rejecting and a manual subscriber; An's agreement is not her CCCD.
fn config() -> SimConfig {
    SimConfig {
        relying_party: rp_spec(RpKey::Generate),
        citizens: vec![
            CitizenSpec::new(AN, "Nguyễn Văn An", Behaviour::ApproveAfter(Duration::ZERO))
                .with_agreement_uuid("agreement-an"),
            CitizenSpec::new(
                BINH,
                "Trần Thị Bình",
                Behaviour::RejectAfter(Duration::ZERO),
            ),
            CitizenSpec::new(CUONG, "Lê Văn Cường", Behaviour::Manual),
        ],
        authorisation_ttl: Duration::from_secs(300),
    }
}

fn now_millis() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn rsa_sign(key: &RsaPrivateKey, data: &[u8]) -> String {
    BASE64.encode(
        key.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(data))
            .unwrap(),
    )
}

fn generate_key() -> RsaPrivateKey {
    let key_pair =
        rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            .unwrap();
    RsaPrivateKey::from_pkcs8_der(&key_pair.serialize_der()).unwrap()
}

/// How a test request is put together; the default is a correct one.
struct Call<'a> {
    credentials_key: &'a RsaPrivateKey,
    header_key: Option<&'a RsaPrivateKey>,
    service_name: Option<&'a str>,
    password: &'a str,
    relying_party: &'a str,
    timestamp: i64,
    /// Sent instead of the signed body (to test tampering).
    replace_body: Option<Vec<u8>>,
}

struct TestSim {
    sim: SimHandle,
    http: reqwest::Client,
    key: RsaPrivateKey,
}

impl TestSim {
    async fn start() -> Self {
        Self::start_with(config()).await
    }

    async fn start_with(config: SimConfig) -> Self {
        let sim = kyso_sim_fpt::spawn(config).await.expect("simulator starts");
        let key = RsaPrivateKey::from_pkcs8_pem(&sim.relying_party_key_pem().expect("issued"))
            .expect("a PKCS#8 RSA key");
        Self {
            sim,
            http: reqwest::Client::new(),
            key,
        }
    }

    fn call(&self) -> Call<'_> {
        Call {
            credentials_key: &self.key,
            header_key: Some(&self.key),
            service_name: Some("eSSC"),
            password: RP_PASSWORD,
            relying_party: RP,
            timestamp: now_millis(),
            replace_body: None,
        }
    }

    /// Sends `params` (merged into a full request) as `call` says; status and body text.
    async fn send_as(&self, call: Call<'_>, function: &str, params: &Value) -> (u16, String) {
        let timestamp = call.timestamp.to_string();
        let signed = format!("{RP_USER}{}{RP_SIGNATURE}{timestamp}", call.password);
        let mut body = json!({
            "relyingParty": call.relying_party,
            "credentialData": {
                "username": RP_USER, "password": call.password, "signature": RP_SIGNATURE,
                "timestamp": timestamp,
                "pkcs1Signature": rsa_sign(call.credentials_key, signed.as_bytes()),
            },
        });
        for (name, value) in params.as_object().expect("params are an object") {
            body[name] = value.clone();
        }
        let bytes = serde_json::to_vec(&body).unwrap();
        let mut request = self
            .http
            .post(format!("{}/{function}", self.sim.base_url()))
            .header("content-type", "application/json");
        if let Some(key) = call.header_key {
            request = request.header("signature", rsa_sign(key, &bytes));
        }
        if let Some(name) = call.service_name {
            request = request.header("x-esignservice-name", name);
        }
        let response = request
            .body(call.replace_body.unwrap_or(bytes))
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// A correct request; expects HTTP 200 and a JSON answer.
    async fn send(&self, function: &str, params: Value) -> Value {
        let (status, text) = self.send_as(self.call(), function, &params).await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).expect("JSON answer")
    }

    async fn certificate(&self, agreement: &str) -> Value {
        let answer = self
            .send(
                "getCertificateDetailForSignCloud",
                json!({ "agreementUUID": agreement }),
            )
            .await;
        assert_eq!(answer["responseCode"], 0, "{answer}");
        answer
    }

    async fn prepare(&self, agreement: &str, method: i64, mode: i64, hashes: &[Vec<u8>]) -> Value {
        self.send(
            "prepareHashSigningForSignCloud",
            prepare_params(agreement, method, mode, hashes),
        )
        .await
    }

    async fn signature_value(&self, agreement: &str, bill: &str) -> Value {
        self.send(
            "getSignatureValueForSignCloud",
            json!({ "agreementUUID": agreement, "billCode": bill }),
        )
        .await
    }

    /// Polls until the answer is no longer 1007 (2 s at most).
    async fn until_decided(&self, agreement: &str, bill: &str) -> Value {
        let started = Instant::now();
        loop {
            let answer = self.signature_value(agreement, bill).await;
            if answer["responseCode"] != 1007 {
                return answer;
            }
            assert!(started.elapsed() < Duration::from_secs(2), "still pending");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn prepare_params(agreement: &str, method: i64, mode: i64, hashes: &[Vec<u8>]) -> Value {
    let files: Vec<Value> = hashes
        .iter()
        .enumerate()
        .map(|(i, hash)| {
            let mime = match hash.len() {
                48 => "application/sha384-binary",
                64 => "application/sha512-binary",
                _ => "application/sha256-binary",
            };
            json!({ "hash": hex::encode(hash), "mimeType": mime, "signingFileName": format!("file-{i}.pdf") })
        })
        .collect();
    json!({
        "agreementUUID": agreement, "authorizeMethod": method, "messagingMode": mode,
        "notificationTemplate": "Ký hồ sơ dịch vụ công", "multipleSigningFileData": files,
    })
}

fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

/// The signatures of a success answer, in order.
fn signatures(answer: &Value, count: usize) -> Vec<Vec<u8>> {
    assert_eq!(answer["responseCode"], 0, "{answer}");
    if count == 1 {
        assert!(answer["multipleSignedFileData"].is_null(), "{answer}");
        return vec![
            BASE64
                .decode(answer["signatureValue"].as_str().expect("signatureValue"))
                .unwrap(),
        ];
    }
    assert!(answer["signatureValue"].is_null(), "{answer}");
    let files = answer["multipleSignedFileData"].as_array().expect("a list");
    assert_eq!(files.len(), count);
    files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            assert_eq!(file["signedFileName"], format!("file-{i}.pdf"));
            BASE64
                .decode(file["signatureValue"].as_str().expect("signatureValue"))
                .unwrap()
        })
        .collect()
}

fn certificate_key(answer: &Value) -> RsaPublicKey {
    let der = BASE64
        .decode(answer["certificate"].as_str().expect("certificate"))
        .unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    RsaPublicKey::from_public_key_der(cert.public_key().raw).unwrap()
}

fn verifies(key: &RsaPublicKey, digest: &[u8], signature: &[u8]) -> bool {
    let padding = match digest.len() {
        32 => Pkcs1v15Sign::new::<Sha256>(),
        48 => Pkcs1v15Sign::new::<Sha384>(),
        _ => Pkcs1v15Sign::new::<Sha512>(),
    };
    key.verify(padding, digest, signature).is_ok()
}

fn assert_code(answer: &Value, code: i64, message_start: &str) {
    assert_eq!(answer["responseCode"], code, "{answer}");
    let message = answer["responseMessage"].as_str().expect("a message");
    assert!(message.starts_with(message_start), "{answer}");
}

/// The certificate names the citizen, carries the documented fields and chains through the
/// issuing CA to the root.
#[tokio::test]
async fn certificate_detail_names_the_citizen_and_chains_to_the_root() {
    let t = TestSim::start().await;
    let answer = t.certificate("agreement-an").await;
    assert_eq!(answer["responseMessage"], "SUCCESSFULLY");
    let der = BASE64
        .decode(answer["certificate"].as_str().unwrap())
        .unwrap();
    let (_, leaf) = X509Certificate::from_der(&der).unwrap();
    let dn = answer["certificateDN"].as_str().unwrap();
    assert!(dn.contains("UID=CCCD:001099000001"), "{dn}");
    assert!(dn.contains("CN=Nguyễn Văn An"), "{dn}");
    assert!(
        answer["issuerDN"]
            .as_str()
            .unwrap()
            .contains("CN=Kyso Sandbox FPT-CA")
    );
    assert_eq!(
        answer["certificateSerialNumber"],
        hex::encode_upper(leaf.raw_serial())
    );
    let from = answer["validFrom"].as_i64().unwrap();
    let to = answer["validTo"].as_i64().unwrap();
    assert!(from < now_millis() && now_millis() < to);
    assert_eq!(from / 1000, leaf.validity().not_before.timestamp());

    let pem_der = |text: String| {
        x509_parser::pem::parse_x509_pem(text.as_bytes())
            .unwrap()
            .1
            .contents
    };
    let ca_der = pem_der(t.sim.issuing_ca_pem());
    let root_der = pem_der(t.sim.root_certificate_pem());
    let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
    let (_, root) = X509Certificate::from_der(&root_der).unwrap();
    leaf.verify_signature(Some(ca.public_key()))
        .expect("issued by the issuing CA");
    ca.verify_signature(Some(root.public_key()))
        .expect("issued by the root");
    assert!(ca.is_ca() && root.is_ca() && !leaf.is_ca());

    let unknown = t
        .send(
            "getCertificateDetailForSignCloud",
            json!({ "agreementUUID": AN }),
        )
        .await;
    assert_code(&unknown, 1004, "AGREEMENT NOT FOUND");
    assert!(unknown["certificate"].is_null());
}

/// App authorisation, asynchronous: 1007 with a bill code, then the signatures, for one and
/// for several hashes of every supported digest.
#[tokio::test]
async fn app_authorisation_is_pending_then_signed() {
    let t = TestSim::start().await;
    let key = certificate_key(&t.certificate("agreement-an").await);
    t.sim
        .control()
        .set_behaviour(AN, Behaviour::ApproveAfter(Duration::from_millis(300)))
        .unwrap();
    let hash = sha256(b"one document");
    let pending = t
        .prepare("agreement-an", 3, 1, std::slice::from_ref(&hash))
        .await;
    assert_code(&pending, 1007, "AUTHORIZATION PENDING");
    let bill = pending["billCode"].as_str().expect("billCode").to_owned();
    assert!(pending["signatureValue"].is_null());
    assert_code(
        &t.signature_value("agreement-an", &bill).await,
        1007,
        "AUTHORIZATION",
    );
    let signed = t.until_decided("agreement-an", &bill).await;
    assert_eq!(signed["billCode"], bill);
    assert!(signed["certificate"].is_null(), "not asked for");
    let signature = &signatures(&signed, 1)[0];
    assert_eq!(signature.len(), 256);
    assert!(verifies(&key, &hash, signature));
    assert_eq!(
        signatures(&t.signature_value("agreement-an", &bill).await, 1)[0],
        *signature,
        "asking again answers the same"
    );

    let hashes = vec![
        sha256(b"first"),
        Sha384::digest(b"second").to_vec(),
        Sha512::digest(b"third").to_vec(),
    ];
    let mut params = prepare_params("agreement-an", 3, 2, &hashes);
    params["certificateRequired"] = json!(true);
    let pending = t.send("prepareHashSigningForSignCloud", params).await;
    let bill = pending["billCode"].as_str().unwrap().to_owned();
    let signed = t.until_decided("agreement-an", &bill).await;
    for (hash, signature) in hashes.iter().zip(signatures(&signed, 3)) {
        assert!(verifies(&key, hash, &signature), "{} bytes", hash.len());
    }
    assert_eq!(
        signed["multipleSignedFileData"][1]["mimeType"],
        "application/sha384-binary"
    );
    assert!(signed["certificate"].is_string(), "certificateRequired");
    let transaction = &t.sim.control().transactions()[1];
    assert_eq!(transaction.state, TransactionState::Approved);
    assert_eq!(transaction.document_count, 3);
    assert_eq!(
        transaction.notification.as_deref(),
        Some("Ký hồ sơ dịch vụ công")
    );
}

/// Refusal, expiry by behaviour, expiry by the TTL, and control decisions.
#[tokio::test]
async fn refusal_expiry_and_control_decisions_are_reported() {
    let t = TestSim::start_with(SimConfig {
        authorisation_ttl: Duration::from_millis(1000),
        ..config()
    })
    .await;
    let control = t.sim.control();
    let hash = [sha256(b"x")];
    let bill = |answer: &Value| answer["billCode"].as_str().unwrap().to_owned();

    let refused = bill(&t.prepare(BINH, 3, 1, &hash).await);
    assert_code(
        &t.until_decided(BINH, &refused).await,
        1008,
        "AUTHORIZATION REJECTED",
    );

    control
        .set_behaviour(BINH, Behaviour::ExpireAfter(Duration::from_millis(50)))
        .unwrap();
    let lapsed = bill(&t.prepare(BINH, 3, 1, &hash).await);
    assert_code(
        &t.until_decided(BINH, &lapsed).await,
        1009,
        "AUTHORIZATION EXPIRED",
    );

    let waiting = bill(&t.prepare(CUONG, 3, 1, &hash).await);
    assert_code(
        &t.signature_value(CUONG, &waiting).await,
        1007,
        "AUTHORIZATION PENDING",
    );
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_code(
        &t.signature_value(CUONG, &waiting).await,
        1009,
        "AUTHORIZATION EXPIRED",
    );
    assert!(matches!(
        control.approve(&waiting),
        Err(SimError::NotWaiting {
            state: TransactionState::Expired,
            ..
        })
    ));

    let approved = bill(&t.prepare(CUONG, 3, 1, &hash).await);
    control.approve(&approved).unwrap();
    assert_eq!(
        signatures(&t.signature_value(CUONG, &approved).await, 1).len(),
        1
    );
    let rejected = bill(&t.prepare(CUONG, 3, 1, &hash).await);
    control.reject(&rejected).unwrap();
    assert_code(
        &t.signature_value(CUONG, &rejected).await,
        1008,
        "AUTHORIZATION REJECTED",
    );
    assert!(matches!(
        control.expire("nope"),
        Err(SimError::UnknownTransaction(_))
    ));

    // A bill code is only known under its own agreement.
    assert_code(
        &t.signature_value(BINH, &approved).await,
        1005,
        "BILL CODE NOT FOUND",
    );
    assert_code(
        &t.signature_value(CUONG, "KYSO-NONE").await,
        1005,
        "BILL CODE NOT FOUND",
    );
}

/// Synchronous messaging holds an app authorisation until the subscriber decides.
#[tokio::test]
async fn synchronous_app_authorisation_answers_when_decided() {
    let t = TestSim::start().await;
    t.sim
        .control()
        .set_behaviour(AN, Behaviour::ApproveAfter(Duration::from_millis(300)))
        .unwrap();
    let started = Instant::now();
    let hash = sha256(b"sync");
    let answer = t
        .prepare("agreement-an", 3, 3, std::slice::from_ref(&hash))
        .await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    let key = certificate_key(&t.certificate("agreement-an").await);
    assert!(verifies(&key, &hash, &signatures(&answer, 1)[0]));
}

/// OTP by SMS: pending with attempts, a wrong OTP costs one, the right one signs; three wrong
/// ones fail the transaction; a regenerated OTP replaces the old one.
#[tokio::test]
async fn otp_authorisation_through_counter_signing() {
    let t = TestSim::start().await;
    let control = t.sim.control();
    let hash = sha256(b"otp");
    let otp_of = |bill: &str| {
        control
            .transactions()
            .into_iter()
            .find(|tx| tx.bill_code == bill)
            .and_then(|tx| tx.otp)
            .expect("an OTP was sent")
    };
    let authorize = |bill: String, code: String| {
        t.send(
            "authorizeCounterSigningForSignCloud",
            json!({ "agreementUUID": "agreement-an", "billCode": bill, "authorizeCode": code }),
        )
    };

    let pending = t
        .prepare("agreement-an", 1, 1, std::slice::from_ref(&hash))
        .await;
    assert_code(&pending, 1007, "AUTHORIZATION PENDING");
    assert_eq!(pending["remainingCounter"], 3);
    let bill = pending["billCode"].as_str().unwrap().to_owned();
    // The app behaviour (approve at once) does not apply to OTP transactions.
    assert_code(
        &t.signature_value("agreement-an", &bill).await,
        1007,
        "AUTHORIZATION",
    );
    let otp = otp_of(&bill);
    let wrong = if otp == "000000" { "111111" } else { "000000" }.to_owned();
    let refused = authorize(bill.clone(), wrong.clone()).await;
    assert_code(&refused, 1006, "AUTHORIZATION CODE IS INVALID");
    assert_eq!(refused["remainingCounter"], 2);
    let signed = authorize(bill.clone(), otp).await;
    let key = certificate_key(&t.certificate("agreement-an").await);
    assert!(verifies(&key, &hash, &signatures(&signed, 1)[0]));

    let pending = t
        .prepare("agreement-an", 2, 1, std::slice::from_ref(&hash))
        .await;
    let bill = pending["billCode"].as_str().unwrap().to_owned();
    let first = otp_of(&bill);
    let regenerated = t
        .send(
            "regenerateAuthorizationCodeForSignCloud",
            json!({ "agreementUUID": "agreement-an", "billCode": bill }),
        )
        .await;
    assert_code(&regenerated, 1007, "AUTHORIZATION PENDING");
    let wrong = if otp_of(&bill) == "000000" {
        "111111"
    } else {
        "000000"
    }
    .to_owned();
    assert_code(
        &authorize(bill.clone(), wrong.clone()).await,
        1006,
        "AUTHORIZATION CODE",
    );
    assert_code(
        &authorize(bill.clone(), wrong.clone()).await,
        1006,
        "AUTHORIZATION CODE",
    );
    let failed = authorize(bill.clone(), wrong).await;
    assert_code(&failed, 1010, "AUTHORIZATION ATTEMPTS EXCEEDED");
    assert_code(
        &t.signature_value("agreement-an", &bill).await,
        1010,
        "AUTHORIZATION ATTEMPTS",
    );
    assert_eq!(first.len(), 6, "six digits");
}

/// The passcode signs at once; a wrong one creates no transaction.
#[tokio::test]
async fn passcode_signs_at_once() {
    let t = TestSim::start().await;
    let hash = sha256(b"passcode");
    let mut params = prepare_params(CUONG, 4, 1, std::slice::from_ref(&hash));
    params["authorizeCode"] = json!("999999");
    let refused = t
        .send("prepareHashSigningForSignCloud", params.clone())
        .await;
    assert_code(&refused, 1006, "AUTHORIZATION CODE IS INVALID");
    assert!(t.sim.control().transactions().is_empty());
    params["authorizeCode"] = json!(kyso_sim_fpt::DEFAULT_PASSCODE);
    let signed = t.send("prepareHashSigningForSignCloud", params).await;
    assert!(signed["billCode"].is_string());
    let key = certificate_key(&t.certificate(CUONG).await);
    assert!(verifies(&key, &hash, &signatures(&signed, 1)[0]));
}

/// Every way of getting the RP's authentication wrong is refused, and does nothing.
#[tokio::test]
async fn requests_not_signed_by_the_rp_key_are_refused() {
    let t = TestSim::start().await;
    let other = generate_key();
    let params = prepare_params(CUONG, 3, 1, &[sha256(b"x")]);
    let function = "prepareHashSigningForSignCloud";
    let refused = |text: &str| serde_json::from_str::<Value>(text).unwrap();

    let cases: Vec<(&str, Call<'_>, i64)> = vec![
        (
            "both signatures by another key",
            Call {
                credentials_key: &other,
                header_key: Some(&other),
                ..t.call()
            },
            1002,
        ),
        (
            "pkcs1Signature by another key",
            Call {
                credentials_key: &other,
                ..t.call()
            },
            1002,
        ),
        (
            "header by another key",
            Call {
                header_key: Some(&other),
                ..t.call()
            },
            1002,
        ),
        (
            "no signature header",
            Call {
                header_key: None,
                ..t.call()
            },
            1002,
        ),
        (
            "stale timestamp",
            Call {
                timestamp: now_millis() - 10 * 60 * 1000,
                ..t.call()
            },
            1002,
        ),
        (
            "wrong password",
            Call {
                password: "guess",
                ..t.call()
            },
            1001,
        ),
        (
            "unknown relying party",
            Call {
                relying_party: "OTHER_RP",
                ..t.call()
            },
            1001,
        ),
        (
            "no service name",
            Call {
                service_name: None,
                ..t.call()
            },
            1003,
        ),
    ];
    for (what, call, code) in cases {
        let (status, text) = t.send_as(call, function, &params).await;
        assert_eq!(status, 200, "{what}: {text}");
        assert_eq!(refused(&text)["responseCode"], code, "{what}: {text}");
    }

    // The header signs the exact body: a body changed after signing is refused.
    let mut tampered = params.clone();
    tampered["agreementUUID"] = json!(BINH);
    let timestamp = now_millis().to_string();
    let signed = format!("{RP_USER}{RP_PASSWORD}{RP_SIGNATURE}{timestamp}");
    let body_of = |params: &Value| {
        let mut body = json!({
            "relyingParty": RP,
            "credentialData": {
                "username": RP_USER, "password": RP_PASSWORD, "signature": RP_SIGNATURE,
                "timestamp": timestamp, "pkcs1Signature": rsa_sign(&t.key, signed.as_bytes()),
            },
        });
        for (name, value) in params.as_object().unwrap() {
            body[name] = value.clone();
        }
        serde_json::to_vec(&body).unwrap()
    };
    let (_, text) = t
        .send_as(
            Call {
                replace_body: Some(body_of(&tampered)),
                ..t.call()
            },
            function,
            &params,
        )
        .await;
    assert_eq!(refused(&text)["responseCode"], 1002, "{text}");
    assert!(
        t.sim.control().transactions().is_empty(),
        "nothing was created"
    );

    let (_, text) = t.send_as(t.call(), function, &params).await;
    assert_eq!(
        refused(&text)["responseCode"],
        1007,
        "the RP's own key works: {text}"
    );
}

/// A configured RP public key (SPKI or certificate) is what requests are checked against.
#[tokio::test]
async fn configured_rp_public_key_is_used() {
    let key = generate_key();
    let spki = key
        .to_public_key()
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap();
    let sim = kyso_sim_fpt::spawn(SimConfig {
        relying_party: rp_spec(RpKey::Provided(spki)),
        citizens: Vec::new(),
        ..config()
    })
    .await
    .unwrap();
    assert!(sim.relying_party_key_pem().is_none());
    let t = TestSim {
        sim,
        http: reqwest::Client::new(),
        key,
    };
    let answer = t
        .send(
            "getCertificateDetailForSignCloud",
            json!({ "agreementUUID": "anyone" }),
        )
        .await;
    assert_code(&answer, 1004, "AGREEMENT NOT FOUND");
    let other = generate_key();
    let (_, text) = t
        .send_as(
            Call {
                credentials_key: &other,
                header_key: Some(&other),
                ..t.call()
            },
            "getCertificateDetailForSignCloud",
            &json!({ "agreementUUID": "anyone" }),
        )
        .await;
    assert!(text.contains("\"responseCode\":1002"), "{text}");

    let response = t
        .http
        .get(format!(
            "http://{}/_sim/relying-party-key.pem",
            t.sim.addr()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(matches!(
        kyso_sim_fpt::spawn(SimConfig {
            relying_party: rp_spec(RpKey::Provided("nonsense".into())),
            ..config()
        })
        .await,
        Err(SimError::InvalidConfig(_))
    ));
}

/// Malformed or unsupported parameters: 1003 or 1012, and no transaction.
#[tokio::test]
async fn invalid_parameters_are_refused() {
    let t = TestSim::start().await;
    let good = prepare_params(CUONG, 3, 1, &[sha256(b"x")]);
    let mut cases: Vec<(&str, Value, i64)> = Vec::new();
    let mut case = |what, edit: &dyn Fn(&mut Value), code| {
        let mut params = good.clone();
        edit(&mut params);
        cases.push((what, params, code));
    };
    case(
        "bad hex",
        &|p| p["multipleSigningFileData"][0]["hash"] = json!("zz".repeat(32)),
        1003,
    );
    case(
        "base64 hash",
        &|p| p["multipleSigningFileData"][0]["hash"] = json!(BASE64.encode(sha256(b"x"))),
        1003,
    );
    case(
        "length against mime",
        &|p| p["multipleSigningFileData"][0]["mimeType"] = json!("application/sha512-binary"),
        1003,
    );
    case(
        "unknown mime",
        &|p| p["multipleSigningFileData"][0]["mimeType"] = json!("application/pdf"),
        1003,
    );
    case(
        "sha1",
        &|p| {
            p["multipleSigningFileData"][0]["mimeType"] = json!("application/sha1-binary");
            p["multipleSigningFileData"][0]["hash"] = json!(hex::encode([7u8; 20]));
        },
        1012,
    );
    case(
        "no files",
        &|p| p["multipleSigningFileData"] = json!([]),
        1003,
    );
    case(
        "no agreement",
        &|p| {
            p.as_object_mut().unwrap().remove("agreementUUID");
        },
        1003,
    );
    case(
        "unknown agreement",
        &|p| p["agreementUUID"] = json!("nobody"),
        1004,
    );
    case(
        "no method",
        &|p| {
            p.as_object_mut().unwrap().remove("authorizeMethod");
        },
        1003,
    );
    case("UAF", &|p| p["authorizeMethod"] = json!(5), 1012);
    case("method 9", &|p| p["authorizeMethod"] = json!(9), 1003);
    case(
        "no messaging mode",
        &|p| {
            p.as_object_mut().unwrap().remove("messagingMode");
        },
        1003,
    );
    case("messaging mode 7", &|p| p["messagingMode"] = json!(7), 1003);
    for (what, params, code) in cases {
        let answer = t.send("prepareHashSigningForSignCloud", params).await;
        assert_eq!(answer["responseCode"], code, "{what}: {answer}");
    }
    assert!(t.sim.control().transactions().is_empty());

    let (status, text) = t
        .send_as(
            Call {
                replace_body: Some(b"{not json".to_vec()),
                ..t.call()
            },
            "getCertificateDetailForSignCloud",
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(text.contains("\"responseCode\":1003"), "{text}");
    let (status, text) = t
        .send_as(t.call(), "prepareFileForSignCloud", &json!({}))
        .await;
    assert_eq!(status, 404);
    assert!(text.contains("\"responseCode\":1012"), "{text}");
}

/// Injected faults: a 503 in eSignCloud's shape, garbage and a hang, each once; a delay stays.
#[tokio::test]
async fn faults_hit_one_call() {
    let t = TestSim::start().await;
    let control = t.sim.control();
    let detail = json!({ "agreementUUID": "agreement-an" });
    let function = "getCertificateDetailForSignCloud";

    control.fail_next(Fault::Status(503));
    let (status, text) = t.send_as(t.call(), function, &detail).await;
    assert_eq!(status, 503);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_code(&body, 9999, "SERVICE UNAVAILABLE");
    assert_eq!(t.certificate("agreement-an").await["responseCode"], 0);

    control.fail_next(Fault::Garbage);
    let (status, text) = t.send_as(t.call(), function, &detail).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    control.fail_next(Fault::Hang(Duration::from_millis(400)));
    let started = Instant::now();
    t.certificate("agreement-an").await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    let started = Instant::now();
    t.certificate("agreement-an").await;
    assert!(started.elapsed() < Duration::from_millis(400));

    control.set_delay(Duration::from_millis(200));
    let started = Instant::now();
    t.certificate("agreement-an").await;
    assert!(started.elapsed() >= Duration::from_millis(200));
}

/// A corrupted or foreign signature fails verification once; the next one is clean.
#[tokio::test]
async fn corrupted_and_foreign_signatures_fail_verification_once() {
    let t = TestSim::start().await;
    let control = t.sim.control();
    let key = certificate_key(&t.certificate("agreement-an").await);
    let hash = sha256(b"tamper");
    let sign = || async {
        let pending = t
            .prepare("agreement-an", 3, 1, std::slice::from_ref(&hash))
            .await;
        let bill = pending["billCode"].as_str().unwrap().to_owned();
        let signed = t.until_decided("agreement-an", &bill).await;
        (bill, signatures(&signed, 1).remove(0))
    };

    control.corrupt_next_signature();
    let (bill, corrupted) = sign().await;
    assert!(!verifies(&key, &hash, &corrupted));
    let again = signatures(&t.signature_value("agreement-an", &bill).await, 1).remove(0);
    assert_eq!(again, corrupted, "stays corrupted");
    assert!(verifies(&key, &hash, &sign().await.1));

    control.sign_next_with_foreign_key();
    let (_, foreign) = sign().await;
    assert_eq!(foreign.len(), 256, "still an RSA-2048 signature");
    assert!(!verifies(&key, &hash, &foreign));
    assert!(verifies(&key, &hash, &sign().await.1));
}

/// Recorded requests keep the shape and lose the secrets.
#[tokio::test]
async fn recorded_requests_hide_rp_secrets() {
    let t = TestSim::start().await;
    t.certificate("agreement-an").await;
    let recorded = t.sim.control().requests();
    let last = recorded.last().unwrap();
    assert_eq!(last.function, "getCertificateDetailForSignCloud");
    assert_eq!(last.service_name.as_deref(), Some("eSSC"));
    assert!(last.signed);
    let credentials = &last.body["credentialData"];
    assert_eq!(credentials["username"], RP_USER);
    for field in ["password", "signature", "pkcs1Signature"] {
        assert_eq!(credentials[field], "[REDACTED]");
    }
    assert!(
        !serde_json::to_string(&recorded)
            .unwrap()
            .contains(RP_PASSWORD)
    );
}

/// The `/_sim` API drives the same controls.
#[tokio::test]
async fn control_api_drives_the_simulator() {
    let t = TestSim::start().await;
    let base = format!("http://{}/_sim", t.sim.addr());
    let post = |path: &str, body: Value| t.http.post(format!("{base}{path}")).json(&body).send();
    let status = post(
        "/citizens/001099000001/behaviour",
        json!({"kind": "manual"}),
    )
    .await
    .unwrap()
    .status();
    assert_eq!(status, 204);
    let pending = t.prepare("agreement-an", 3, 1, &[sha256(b"c")]).await;
    let bill = pending["billCode"].as_str().unwrap().to_owned();
    assert_code(
        &t.signature_value("agreement-an", &bill).await,
        1007,
        "AUTHORIZATION",
    );
    let approve = post(&format!("/transactions/{bill}/approve"), json!(null))
        .await
        .unwrap();
    assert_eq!(approve.status(), 200);
    assert_eq!(
        signatures(&t.signature_value("agreement-an", &bill).await, 1).len(),
        1
    );
    let again = post(&format!("/transactions/{bill}/reject"), json!(null))
        .await
        .unwrap();
    assert_eq!(again.status(), 409);

    let fault = post("/faults", json!({"kind": "status", "status": 502}))
        .await
        .unwrap();
    assert_eq!(fault.status(), 204);
    let (status, _) = t
        .send_as(
            t.call(),
            "getCertificateDetailForSignCloud",
            &json!({"agreementUUID": AN}),
        )
        .await;
    assert_eq!(status, 502);

    let citizens: Value = t
        .http
        .get(format!("{base}/citizens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(citizens[0]["agreement_uuid"], "agreement-an");
    assert_eq!(citizens[0]["behaviour"]["kind"], "manual");
    let transactions: Value = t
        .http
        .get(format!("{base}/transactions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(transactions[0]["state"], "approved");
    let key = t
        .http
        .get(format!("{base}/relying-party-key.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(key, t.sim.relying_party_key_pem().unwrap());
    let root = t
        .http
        .get(format!("{base}/root.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(root, t.sim.root_certificate_pem());
    let ca = t
        .http
        .get(format!("{base}/issuing-ca.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(ca, t.sim.issuing_ca_pem());
}

/// The sandbox: An approves after about 2 s, Bình refuses, the RP key is handed out.
#[tokio::test]
async fn sandbox_has_the_shared_citizen_and_an_rp_key() {
    let config = SimConfig::sandbox();
    let an = &config.citizens[0];
    assert_eq!(
        (an.user_id.as_str(), an.full_name.as_str()),
        (AN, "Nguyễn Văn An")
    );
    assert_eq!(
        an.behaviour,
        Behaviour::ApproveAfter(Duration::from_secs(2))
    );
    assert!(
        config
            .citizens
            .iter()
            .any(|c| matches!(c.behaviour, Behaviour::RejectAfter(_)))
    );
    let sim = kyso_sim_fpt::spawn(config).await.unwrap();
    let key = sim
        .relying_party_key_pem()
        .expect("the sandbox issues the RP key");
    RsaPrivateKey::from_pkcs8_pem(&key).expect("PKCS#8 RSA");
    sim.stop().await;
}
