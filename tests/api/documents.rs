//! Documents signed as files through the gateway: a PDF signed inside (PAdES) and any file
//! with a detached `.p7s` (CAdES), judged by pdfsig and `openssl cms -verify`; a PDF
//! countersigned at a second CA keeping the first signature valid; the signed file served
//! by any instance; the two-step mode; and every refusal with its documented code.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_gateway::store::Store;
use kyso_gateway::store::memory::MemoryStore;
use kyso_sim_kit::TsaFault;
use kyso_tests::judges::{PdfsigJudge, openssl_cms_verifies};
use kyso_tests::{
    ECDSA_DER_CITIZEN, ECDSA_RAW_CITIZEN, PSS_CITIZEN, RSA_CITIZEN, SAMPLE_PDF, TestApp,
    TestConfig, assert_error, file_body, spawn_app, spawn_app_on, spawn_app_with,
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// Signs `body` for its citizen at `app`'s CA and returns the final transaction.
async fn sign(app: &TestApp, token: &str, body: &Value) -> Value {
    let id = app.create_transaction(token, body).await;
    app.ca.approve(&id).unwrap();
    app.wait_until_final(token, &id).await
}

/// `POST /v1/signatures` of `body` under a fresh idempotency key.
async fn submit(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.post_signature(token, &uuid::Uuid::new_v4().to_string(), &body)
        .await
}

/// `GET` of the signed file the transaction's first document links to: its bytes, after
/// checking the answer's headers against the transaction's record of the file.
async fn fetch_file(app: &TestApp, token: &str, done: &Value) -> Vec<u8> {
    let file = &done["documents"][0]["file"];
    let href = file["href"].as_str().expect("a signed file is linked");
    let response = app.get(href, token).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap().to_vec();
    let media_type = match file["format"].as_str() {
        Some("pades") => "application/pdf",
        _ => "application/pkcs7-signature",
    };
    assert_eq!(headers["content-type"], media_type);
    assert_eq!(headers["cache-control"], "no-store");
    let sha256 = BASE64.encode(Sha256::digest(&bytes));
    assert_eq!(file["sha256"], sha256.as_str());
    assert_eq!(file["size"], bytes.len());
    assert_eq!(
        headers["repr-digest"].to_str().unwrap(),
        format!("sha-256=:{sha256}:")
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename*=UTF-8''"),
        "{headers:?}"
    );
    bytes
}

#[tokio::test]
async fn a_pdf_is_signed_inside_and_pdfsig_finds_it_valid_and_trusted() {
    let app = spawn_app().await;
    let token = app.token().await;
    let body = file_body(
        RSA_CITIZEN,
        SAMPLE_PDF,
        "pades",
        json!({"visible_signature": {"page": 1, "rect": [300, 40, 560, 110]}}),
    );
    let done = sign(&app, &token, &body).await;
    assert_eq!(done["status"], "signed", "{done}");
    let document = &done["documents"][0];
    let file = &document["file"];
    assert_eq!(file["format"], "pades");
    assert_eq!(file["level"], "B-B");
    assert_eq!(file["level_requested"], "B-B");
    assert_eq!(file["retention"], "gateway");
    assert_eq!(file["original_size"], SAMPLE_PDF.len());
    assert_eq!(
        file["original_sha256"],
        BASE64.encode(Sha256::digest(SAMPLE_PDF)).as_str()
    );
    // The CA signed the signed attributes, not the file.
    assert_ne!(document["digest"], file["original_sha256"]);
    assert_eq!(document["verification"]["indication"], "total_passed");

    let signed = fetch_file(&app, &token, &done).await;
    assert!(signed.starts_with(SAMPLE_PDF), "an incremental update");
    PdfsigJudge::trusting(&[&app.ca_root_pem()])
        .judge(&signed)
        .assert_all_valid(1);
}

#[tokio::test]
async fn any_file_gets_a_detached_p7s_that_openssl_verifies_for_every_scheme() {
    let app = spawn_app().await;
    let token = app.token().await;
    let content = "Bản vẽ thiết kế, phiên bản 3".as_bytes();
    for citizen in [
        RSA_CITIZEN,
        PSS_CITIZEN,
        ECDSA_DER_CITIZEN,
        ECDSA_RAW_CITIZEN,
    ] {
        let done = sign(
            &app,
            &token,
            &file_body(citizen, content, "cades", json!({})),
        )
        .await;
        assert_eq!(done["status"], "signed", "{citizen}: {done}");
        let p7s = fetch_file(&app, &token, &done).await;
        assert!(
            openssl_cms_verifies(&p7s, content, &app.ca_root_pem()),
            "{citizen}: openssl refuses the .p7s"
        );
        assert!(
            !openssl_cms_verifies(&p7s, b"another file", &app.ca_root_pem()),
            "{citizen}: openssl accepts the .p7s over another file"
        );
    }
}

#[tokio::test]
async fn a_pdf_countersigned_at_a_second_ca_keeps_the_first_signature_valid() {
    let app = spawn_app_with(TestConfig {
        second_provider: true,
        ..TestConfig::default()
    })
    .await;
    let token = app.token().await;
    let citizen = sign(
        &app,
        &token,
        &file_body(RSA_CITIZEN, SAMPLE_PDF, "pades", json!({})),
    )
    .await;
    assert_eq!(citizen["status"], "signed", "{citizen}");
    let signed_once = fetch_file(&app, &token, &citizen).await;

    // The officer countersigns at the other CA, with a visible signature.
    let mut body = file_body(
        ECDSA_DER_CITIZEN,
        &signed_once,
        "pades",
        json!({"visible_signature": {"page": 1, "rect": [40, 40, 280, 110],
               "lines": ["Cán bộ tiếp nhận: Trần Thị Bình", "Sở Xây dựng Hà Nội"]}}),
    );
    body["provider"] = json!("second");
    let id = app.create_transaction(&token, &body).await;
    app.second_ca.as_ref().unwrap().approve(&id).unwrap();
    let officer = app.wait_until_final(&token, &id).await;
    assert_eq!(officer["status"], "signed", "{officer}");
    let signed_twice = fetch_file(&app, &token, &officer).await;
    assert!(signed_twice.starts_with(&signed_once));

    let roots = [app.ca_root_pem(), app.second_ca_root_pem().unwrap()];
    PdfsigJudge::trusting(&[&roots[0], &roots[1]])
        .judge(&signed_twice)
        .assert_all_valid(2);
}

#[tokio::test]
async fn the_signed_file_is_served_by_another_instance_on_the_same_store() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let app = spawn_app_on(TestConfig::default(), store.clone()).await;
    let peer = app.via(&app.start_peer_on(store));
    let token = app.token().await;
    let done = sign(
        &app,
        &token,
        &file_body(RSA_CITIZEN, SAMPLE_PDF, "pades", json!({})),
    )
    .await;
    let here = fetch_file(&app, &token, &done).await;
    let there = fetch_file(&peer, &token, &done).await;
    assert_eq!(here, there);
}

#[tokio::test]
async fn in_the_two_step_mode_the_portal_sends_the_file_again_to_have_it_assembled() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let app = spawn_app_on(TestConfig::default(), store.clone()).await;
    let token = app.token().await;
    let done = sign(
        &app,
        &token,
        &file_body(
            RSA_CITIZEN,
            SAMPLE_PDF,
            "pades",
            json!({"retention": "portal"}),
        ),
    )
    .await;
    assert_eq!(done["status"], "signed", "{done}");
    let id = done["transaction_id"].as_str().unwrap();
    let file = &done["documents"][0]["file"];
    assert_eq!(file["retention"], "portal");
    assert!(file.get("sha256").is_none(), "nothing is made: {file}");
    assert_eq!(
        store.document(id, "prepared:0").await.unwrap(),
        None,
        "the gateway keeps nothing of the file"
    );
    let fetched = app
        .get(&format!("/v1/signatures/{id}/documents/file-1"), &token)
        .await;
    assert_error(fetched, 409, "document_not_ready").await;

    let assemble = |content: &[u8]| {
        app.http
            .post(format!("{}{}", app.api, file["href"].as_str().unwrap()))
            .bearer_auth(&token)
            .json(&json!({"content": BASE64.encode(content)}))
            .send()
    };
    let mut other = SAMPLE_PDF.to_vec();
    other.extend_from_slice(b"% not the same file\n");
    assert_error(assemble(&other).await.unwrap(), 422, "invalid_document").await;

    let response = assemble(SAMPLE_PDF).await.unwrap();
    assert_eq!(response.status(), 200);
    let signed = response.bytes().await.unwrap();
    PdfsigJudge::trusting(&[&app.ca_root_pem()])
        .judge(&signed)
        .assert_all_valid(1);
}

#[tokio::test]
async fn a_tampered_signed_pdf_is_caught_by_pdfsig() {
    let app = spawn_app().await;
    let token = app.token().await;
    let done = sign(
        &app,
        &token,
        &file_body(RSA_CITIZEN, SAMPLE_PDF, "pades", json!({})),
    )
    .await;
    let mut signed = fetch_file(&app, &token, &done).await;
    let at = signed
        .windows(b"Application form".len())
        .position(|window| window == b"Application form")
        .unwrap();
    signed[at] = b'a';
    assert!(
        PdfsigJudge::trusting(&[&app.ca_root_pem()])
            .judge(&signed)
            .any_mismatch()
    );
}

#[tokio::test]
async fn files_that_cannot_be_signed_as_asked_are_refused_with_documented_codes() {
    let app = spawn_app().await;
    let token = app.token().await;
    let not_a_pdf = file_body(RSA_CITIZEN, b"plain text", "pades", json!({}));
    assert_error(
        submit(&app, &token, not_a_pdf).await,
        422,
        "invalid_document",
    )
    .await;

    let no_such_page = file_body(
        RSA_CITIZEN,
        SAMPLE_PDF,
        "pades",
        json!({"visible_signature": {"page": 9, "rect": [0, 0, 200, 80]}}),
    );
    let error = assert_error(
        submit(&app, &token, no_such_page).await,
        422,
        "invalid_document",
    )
    .await;
    assert!(
        error["error"]["message"].as_str().unwrap().contains("page"),
        "{error}"
    );

    let mut both = file_body(RSA_CITIZEN, SAMPLE_PDF, "pades", json!({}));
    both["documents"][0]["digest"] = json!(kyso_tests::digest_of("x"));
    assert_error(submit(&app, &token, both).await, 400, "invalid_request").await;

    let mut no_format = file_body(RSA_CITIZEN, SAMPLE_PDF, "pades", json!({}));
    no_format["documents"][0]
        .as_object_mut()
        .unwrap()
        .remove("format");
    assert_error(
        submit(&app, &token, no_format).await,
        400,
        "invalid_request",
    )
    .await;

    let mut sha512 = file_body(RSA_CITIZEN, SAMPLE_PDF, "pades", json!({}));
    sha512["hash_algorithm"] = json!("sha512");
    assert_error(
        submit(&app, &token, sha512).await,
        422,
        "unsupported_hash_algorithm",
    )
    .await;

    let time_stamped = file_body(RSA_CITIZEN, SAMPLE_PDF, "pades", json!({"level": "B-T"}));
    assert_error(
        submit(&app, &token, time_stamped).await,
        422,
        "level_unavailable",
    )
    .await;

    let mut not_base64 = file_body(RSA_CITIZEN, b"x", "cades", json!({}));
    not_base64["documents"][0]["content"] = json!("not base64!");
    assert_error(
        submit(&app, &token, not_base64).await,
        422,
        "invalid_document",
    )
    .await;
}

#[tokio::test]
async fn without_a_tsa_a_document_that_allows_it_falls_back_to_b_b_and_says_why() {
    let app = spawn_app().await;
    let token = app.token().await;
    let body = file_body(
        RSA_CITIZEN,
        SAMPLE_PDF,
        "pades",
        json!({"level": "B-T", "allow_level_fallback": true}),
    );
    let done = sign(&app, &token, &body).await;
    let file = &done["documents"][0]["file"];
    assert_eq!(file["level_requested"], "B-T");
    assert_eq!(file["level"], "B-B");
    assert!(
        file["level_note"]
            .as_str()
            .unwrap()
            .contains("no time-stamping authority"),
        "{file}"
    );
}

#[tokio::test]
async fn size_limits_per_document_and_per_transaction_are_enforced() {
    let mut config = TestConfig::default();
    config.documents.max_document_bytes = 1000;
    config.documents.max_transaction_bytes = 1500;
    let app = spawn_app_with(config).await;
    let token = app.token().await;
    let too_large = file_body(RSA_CITIZEN, &[7u8; 1001], "cades", json!({}));
    let error = assert_error(
        submit(&app, &token, too_large).await,
        413,
        "document_too_large",
    )
    .await;
    assert!(error["error"]["message"].as_str().unwrap().contains("1000"));

    let mut two = file_body(RSA_CITIZEN, &[7u8; 800], "cades", json!({}));
    let mut second = two["documents"][0].clone();
    second["id"] = json!("file-2");
    two["documents"].as_array_mut().unwrap().push(second);
    assert_error(
        submit(&app, &token, two).await,
        413,
        "transaction_too_large",
    )
    .await;

    let fits = file_body(RSA_CITIZEN, &[7u8; 1000], "cades", json!({}));
    assert_eq!(submit(&app, &token, fits).await.status(), 202);
}

#[tokio::test]
async fn a_signed_file_is_only_for_its_portal_and_only_once_signed() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut body = file_body(RSA_CITIZEN, SAMPLE_PDF, "pades", json!({}));
    body["documents"].as_array_mut().unwrap().push(
        json!({"id": "digest-1", "name": "Tờ khai", "digest": kyso_tests::digest_of("tờ khai")}),
    );
    let id = app.create_transaction(&token, &body).await;
    let path = |document: &str| format!("/v1/signatures/{id}/documents/{document}");
    assert_error(
        app.get(&path("file-1"), &token).await,
        409,
        "document_not_ready",
    )
    .await;
    app.ca.approve(&id).unwrap();
    let done = app.wait_until_final(&token, &id).await;
    assert_eq!(done["status"], "signed", "{done}");
    assert!(done["documents"][1].get("file").is_none());
    assert_eq!(app.get(&path("file-1"), &token).await.status(), 200);
    assert_error(
        app.get(&path("digest-1"), &token).await,
        404,
        "document_not_found",
    )
    .await;
    assert_error(
        app.get(&path("nothing"), &token).await,
        404,
        "document_not_found",
    )
    .await;
    let other = app.other_token().await;
    assert_error(
        app.get(&path("file-1"), &other).await,
        404,
        "transaction_not_found",
    )
    .await;
}

/// A gateway with a time-stamping authority.
async fn spawn_time_stamped() -> TestApp {
    spawn_app_with(TestConfig {
        time_stamping: true,
        ..TestConfig::default()
    })
    .await
}

#[tokio::test]
async fn b_t_documents_carry_the_tsa_time_stamp_and_still_pass_the_judges() {
    let app = spawn_time_stamped().await;
    let token = app.token().await;
    let before = app.tsa.as_ref().unwrap().requests_received();
    let pdf = sign(
        &app,
        &token,
        &file_body(RSA_CITIZEN, SAMPLE_PDF, "pades", json!({"level": "B-T"})),
    )
    .await;
    let file = &pdf["documents"][0]["file"];
    assert_eq!(file["level"], "B-T", "{pdf}");
    assert!(file.get("level_note").is_none(), "{file}");
    assert!(file["time_stamped_at"].is_string(), "{file}");
    let signed = fetch_file(&app, &token, &pdf).await;
    PdfsigJudge::trusting(&[&app.ca_root_pem()])
        .judge(&signed)
        .assert_all_valid(1);

    let content = b"bao-cao.xlsx";
    let cades = sign(
        &app,
        &token,
        &file_body(ECDSA_DER_CITIZEN, content, "cades", json!({"level": "B-T"})),
    )
    .await;
    assert_eq!(cades["documents"][0]["file"]["level"], "B-T", "{cades}");
    let p7s = fetch_file(&app, &token, &cades).await;
    assert!(openssl_cms_verifies(&p7s, content, &app.ca_root_pem()));
    assert_eq!(
        app.tsa.as_ref().unwrap().requests_received(),
        before + 2,
        "one time-stamp per document"
    );
}

#[tokio::test]
async fn a_failing_tsa_fails_the_transaction_unless_the_document_allows_b_b() {
    let app = spawn_time_stamped().await;
    let token = app.token().await;
    let tsa = app.tsa.clone().unwrap();
    for (fault, code) in [
        (TsaFault::Status { status: 503 }, "timestamp_unavailable"),
        (TsaFault::Garbage, "timestamp_invalid"),
        (TsaFault::WrongImprint, "timestamp_invalid"),
    ] {
        tsa.fail_next(fault);
        let body = file_body(RSA_CITIZEN, SAMPLE_PDF, "pades", json!({"level": "B-T"}));
        let done = sign(&app, &token, &body).await;
        assert_eq!(done["status"], "failed", "{fault:?}: {done}");
        assert_eq!(done["error"]["code"], code, "{fault:?}: {done}");
        assert!(done["documents"][0].get("signature").is_none());
    }

    tsa.fail_next(TsaFault::Status { status: 500 });
    let body = file_body(
        RSA_CITIZEN,
        SAMPLE_PDF,
        "pades",
        json!({"level": "B-T", "allow_level_fallback": true}),
    );
    let done = sign(&app, &token, &body).await;
    assert_eq!(done["status"], "signed", "{done}");
    let file = &done["documents"][0]["file"];
    assert_eq!(file["level"], "B-B");
    assert!(
        file["level_note"]
            .as_str()
            .unwrap()
            .contains("time-stamping authority failed"),
        "{file}"
    );
    PdfsigJudge::trusting(&[&app.ca_root_pem()])
        .judge(&fetch_file(&app, &token, &done).await)
        .assert_all_valid(1);
}

#[tokio::test]
async fn b_lt_pdfs_carry_the_path_and_its_ocsp_responses_in_a_dss() {
    let app = spawn_time_stamped().await;
    let token = app.token().await;
    let done = sign(
        &app,
        &token,
        &file_body(RSA_CITIZEN, SAMPLE_PDF, "pades", json!({"level": "B-LT"})),
    )
    .await;
    let file = &done["documents"][0]["file"];
    assert_eq!(file["level"], "B-LT", "{done}");
    let signed = fetch_file(&app, &token, &done).await;
    let text = String::from_utf8_lossy(&signed);
    assert!(text.contains("/DSS"), "a DSS dictionary");
    assert!(text.contains("/OCSPs"), "with the OCSP responses");
    assert!(text.contains("/Certs"), "and the path's certificates");
    // One signature, valid and trusted, covering its revision; the DSS update follows it.
    let verdict = PdfsigJudge::trusting(&[&app.ca_root_pem()]).judge(&signed);
    assert_eq!(verdict.signatures.len(), 1, "{}", verdict.text);
    assert!(
        verdict.signatures[0].contains("Signature is Valid."),
        "{}",
        verdict.text
    );
    assert!(
        verdict.signatures[0].contains("Certificate is Trusted."),
        "{}",
        verdict.text
    );
}

#[tokio::test]
async fn the_gateways_own_b_t_and_b_lt_pdfs_pass_its_verification_endpoint() {
    let app = spawn_time_stamped().await;
    let token = app.token().await;
    for level in ["B-T", "B-LT"] {
        let done = sign(
            &app,
            &token,
            &file_body(RSA_CITIZEN, SAMPLE_PDF, "pades", json!({"level": level})),
        )
        .await;
        let signed = fetch_file(&app, &token, &done).await;
        let response = app
            .http
            .post(format!("{}/v1/verifications", app.api))
            .bearer_auth(&token)
            .json(&json!({"document": BASE64.encode(&signed), "user_id": RSA_CITIZEN}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let report: Value = response.json().await.unwrap();
        let signature = &report["signatures"][0];
        assert_eq!(
            report["signatures"].as_array().unwrap().len(),
            1,
            "{report}"
        );
        assert_eq!(signature["level"], level, "{report}");
        assert_eq!(
            signature["report"]["indication"], "total_passed",
            "{report}"
        );
        assert_eq!(signature["time_stamp"]["trusted"], true, "{report}");
    }
}
