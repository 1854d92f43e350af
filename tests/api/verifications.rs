//! Verification reports: the one every signed document carries, and `POST /v1/verifications`
//! judging any signature over a digest (a portal's stored one, someone else's, a tampered
//! one, one whose certificate leads nowhere), with openssl as the independent judge of the
//! signature the report calls valid.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_tests::{
    ECDSA_DER_CITIZEN, RSA_CITIZEN, TestApp, assert_error, digest_of, foreign_root_pem, sign_body,
    spawn_app,
};
use serde_json::{Value, json};

/// A transaction signed by `user_id`, as read back once signed.
pub(crate) async fn signed_transaction(app: &TestApp, token: &str, user_id: &str) -> Value {
    let id = app
        .create_transaction(token, &sign_body(user_id, &digest_of("verify me")))
        .await;
    app.ca.approve(&id).unwrap();
    let done = app.wait_until_final(token, &id).await;
    assert_eq!(done["status"], "signed", "{done}");
    done
}

/// The `POST /v1/verifications` body for the first document of a signed transaction.
pub(crate) fn check_of(transaction: &Value) -> Value {
    let document = &transaction["documents"][0];
    json!({
        "hash_algorithm": transaction["hash_algorithm"],
        "digest": document["digest"],
        "signature": document["signature"],
        "certificate_chain_pem": transaction["certificate"]["chain_pem"],
        "user_id": transaction["user_id"],
    })
}

pub(crate) async fn verify(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(format!("{}/v1/verifications", app.api))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn report(app: &TestApp, token: &str, body: &Value) -> Value {
    let response = verify(app, token, body).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signed_document_carries_a_passing_report_with_its_path() {
    let app = spawn_app().await;
    let token = app.token().await;
    let signed = signed_transaction(&app, &token, ECDSA_DER_CITIZEN).await;
    let report = &signed["documents"][0]["verification"];
    assert_eq!(report["indication"], "total_passed", "{report}");
    assert_eq!(report["sub_indication"], Value::Null);
    assert_eq!(report["signature_algorithm"], "ecdsa_p256_sha256");
    let path = report["path"].as_array().unwrap();
    assert!(path.len() >= 2, "signer to root: {report}");
    assert!(
        path[0]["subject"]
            .as_str()
            .unwrap()
            .contains(ECDSA_DER_CITIZEN)
    );
    assert_eq!(
        path.last().unwrap()["subject"],
        path.last().unwrap()["issuer"]
    );
    // The path's fingerprints are the certificates the transaction returns.
    let chain = signed["certificate"]["chain_pem"].as_array().unwrap();
    let signer_der = pem_der(chain[0].as_str().unwrap());
    assert_eq!(
        path[0]["sha256_fingerprint"],
        hex_sha256(&signer_der).as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_signature_verifies_again_and_openssl_agrees() {
    let app = spawn_app().await;
    let token = app.token().await;
    let signed = signed_transaction(&app, &token, RSA_CITIZEN).await;
    let check = check_of(&signed);
    let report = report(&app, &token, &check).await;
    assert_eq!(report["indication"], "total_passed", "{report}");
    assert_eq!(report["signature_algorithm"], "rsa_pkcs1v15_sha256");
    // The independent judge: openssl verifies the same signature over the same digest.
    let dir = std::env::temp_dir().join(format!("kyso-verify-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let chain = check["certificate_chain_pem"].as_array().unwrap();
    std::fs::write(dir.join("signer.pem"), chain[0].as_str().unwrap()).unwrap();
    std::fs::write(
        dir.join("digest"),
        BASE64.decode(check["digest"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("sig"),
        BASE64.decode(check["signature"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let output = std::process::Command::new("openssl")
        .current_dir(&dir)
        .args([
            "pkeyutl",
            "-verify",
            "-certin",
            "-inkey",
            "signer.pem",
            "-in",
            "digest",
            "-sigfile",
            "sig",
            "-pkeyopt",
            "digest:sha256",
        ])
        .output()
        .expect("openssl runs");
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("Signature Verified Successfully"),
        "{output:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_elses_tampered_or_untrusted_signatures_get_their_indication() {
    let app = spawn_app().await;
    let token = app.token().await;
    let signed = signed_transaction(&app, &token, RSA_CITIZEN).await;
    let check = check_of(&signed);

    // Another citizen named: the certificate does not hold that ID.
    let mut other = check.clone();
    other["user_id"] = "079200000999".into();
    let mismatch = report(&app, &token, &other).await;
    assert_eq!(mismatch["indication"], "total_failed");
    assert_eq!(mismatch["sub_indication"], "user_mismatch");

    // One bit of the signature flipped.
    let mut signature = BASE64.decode(check["signature"].as_str().unwrap()).unwrap();
    signature[10] ^= 0x01;
    let mut tampered = check.clone();
    tampered["signature"] = BASE64.encode(&signature).into();
    let failed = report(&app, &token, &tampered).await;
    assert_eq!(failed["indication"], "total_failed");
    assert_eq!(failed["sub_indication"], "sig_crypto_failure");

    // A valid signature of the same citizen made in a PKI this gateway does not trust.
    let elsewhere = spawn_app().await;
    let elsewhere_token = elsewhere.token().await;
    let foreign = signed_transaction(&elsewhere, &elsewhere_token, RSA_CITIZEN).await;
    let indeterminate = report(&app, &token, &check_of(&foreign)).await;
    assert_eq!(
        indeterminate["indication"], "indeterminate",
        "{indeterminate}"
    );
    assert_eq!(
        indeterminate["sub_indication"],
        "no_certificate_chain_found"
    );

    // Judged years later, after the certificate expired.
    let mut later = check;
    later["validation_time"] = "2099-01-01T00:00:00Z".into();
    let expired = report(&app, &token, &later).await;
    assert_eq!(expired["indication"], "indeterminate");
    assert_eq!(expired["sub_indication"], "expired");
}

#[tokio::test]
async fn input_that_breaks_the_schema_is_refused_and_unreadable_certificates_are_judged() {
    let app = spawn_app().await;
    let token = app.token().await;
    let base = json!({
        "hash_algorithm": "sha256",
        "digest": digest_of("x"),
        "signature": "AAAA",
        "certificate_chain_pem": [foreign_root_pem().await],
    });
    let mut short = base.clone();
    short["digest"] = "AAAA".into();
    assert_error(verify(&app, &token, &short).await, 400, "invalid_digest").await;
    // A chain that is not PEM is judged, as EU DSS does: format_failure.
    let mut not_pem = base.clone();
    not_pem["certificate_chain_pem"] = json!(["not a certificate"]);
    let unreadable = report(&app, &token, &not_pem).await;
    assert_eq!(unreadable["indication"], "total_failed");
    assert_eq!(unreadable["sub_indication"], "format_failure");
    let mut empty = base.clone();
    empty["certificate_chain_pem"] = json!([]);
    assert_error(verify(&app, &token, &empty).await, 400, "invalid_request").await;
    let mut bad_user = base;
    bad_user["user_id"] = "12".into();
    assert_error(
        verify(&app, &token, &bad_user).await,
        400,
        "invalid_user_id",
    )
    .await;
}

fn pem_der(pem_text: &str) -> Vec<u8> {
    let body: String = pem_text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    BASE64.decode(body).unwrap()
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
