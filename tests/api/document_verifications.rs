//! `POST /v1/verifications` with a signed document: PDFs and `.p7s` made here with
//! `kyso-documents` around signatures by a test PKI's citizens (the gateway is given its root
//! as trust anchor), each signature reported with the report a signature over a digest gets,
//! what the document's structure shows folded in. pdfsig and `openssl cms -verify` are the
//! independent judges of what the gateway calls valid or not.

use std::process::Command;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::{Any, Decode as _, Encode as _};
use kyso_documents::cms::{
    self as signed_cms, AttributeProfile, SignatureAlgorithm, SignedAttributes, SignedCms, cades,
};
use kyso_documents::pades::{self, SignatureOptions};
use kyso_documents::timestamp::TimeStampRequest;
use kyso_gateway::config::{AuditSettings, AuditSink, DocumentSettings};
use kyso_gateway::verify::{RevocationPolicy, TrustAnchors};
use kyso_sim_kit::judge::{OpensslRun, ScratchDir, openssl};
use kyso_sim_kit::{
    CitizenCertSpec, IssuedCitizen, KeyKind, SignatureScheme, TestPki, TimeStampAuthority,
};
use kyso_tests::{TestApp, TestConfig, assert_error, spawn_app_with};
use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::verifications::{report, verify};

/// The PKI the test gateway trusts: citizens 0 (P-256) and 1 (RSA), and a TSA under its root.
struct Trusted {
    pki: TestPki,
    tsa: TimeStampAuthority,
    anchors: TrustAnchors,
}

static TRUSTED: LazyLock<Trusted> = LazyLock::new(|| {
    let pki = TestPki::builder("Document Verification Root")
        .issuing_ca("Document Verification CA")
        .citizen(CitizenCertSpec::new(
            "Phạm Thị Dung",
            "001099000004",
            KeyKind::P256,
        ))
        .citizen(CitizenCertSpec::new(
            "Nguyễn Văn An",
            "001099000001",
            KeyKind::Rsa2048,
        ))
        .build()
        .expect("the test PKI");
    let tsa = TimeStampAuthority::new(&pki, "Document Verification TSA").expect("the TSA");
    let anchors = TrustAnchors::from_der(vec![pki.root.der.clone()]).expect("anchors");
    Trusted { pki, tsa, anchors }
});

/// A PKI nobody configured.
static FOREIGN: LazyLock<TestPki> = LazyLock::new(|| {
    TestPki::builder("Foreign Root")
        .issuing_ca("Foreign CA")
        .citizen(CitizenCertSpec::new(
            "Phạm Thị Dung",
            "001099000004",
            KeyKind::P256,
        ))
        .build()
        .expect("the foreign PKI")
});

fn ec_citizen() -> &'static IssuedCitizen {
    &TRUSTED.pki.citizens[0]
}

fn rsa_citizen() -> &'static IssuedCitizen {
    &TRUSTED.pki.citizens[1]
}

/// A gateway trusting [`TRUSTED`]'s root only, revocation off (its certificates name no
/// responder), with these document settings.
async fn app_with(documents: DocumentSettings, audit: AuditSettings) -> TestApp {
    let trusted = &*TRUSTED;
    spawn_app_with(TestConfig {
        trust_anchors_pem: Some(trusted.pki.root.pem.clone()),
        revocation: RevocationPolicy::Off,
        documents,
        audit,
        ..TestConfig::default()
    })
    .await
}

async fn app() -> TestApp {
    app_with(DocumentSettings::default(), AuditSettings::default()).await
}

/// A one-page PDF with `text` on it (and `padding` bytes in an unused stream), written by
/// lopdf with an xref table and no compression.
fn pdf_with(text: &str, padding: usize) -> Vec<u8> {
    let mut document = Document::with_version("1.7");
    let pages_id = document.new_object_id();
    let font_id = document.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
    });
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 18.into()]),
            Operation::new("Td", vec![72.into(), 700.into()]),
            Operation::new("Tj", vec![Object::string_literal(text)]),
            Operation::new("ET", vec![]),
        ],
    };
    let content_id = document.add_object(Stream::new(
        dictionary! {},
        content.encode().expect("encodes"),
    ));
    let page_id = document.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => content_id,
    });
    document.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![page_id.into()],
            "Count" => 1,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    if padding > 0 {
        document.add_object(Stream::new(dictionary! {}, vec![b'x'; padding]));
    }
    let catalog_id = document.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    document.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    document.save_to(&mut out).expect("saves");
    out
}

const TEXT: &str = "Don de nghi cap giay phep xay dung";

fn unsigned_pdf() -> Vec<u8> {
    pdf_with(TEXT, 0)
}

/// The scheme a citizen's CA signs with, and the CMS algorithm it makes.
fn scheme_of(citizen: &IssuedCitizen) -> (SignatureScheme, SignatureAlgorithm) {
    match citizen.key.kind() {
        KeyKind::P256 => (
            SignatureScheme::EcdsaRaw,
            SignatureAlgorithm::EcdsaP256Sha256,
        ),
        _ => (
            SignatureScheme::RsaPkcs1v15,
            SignatureAlgorithm::RsaPkcs1v15Sha256,
        ),
    }
}

/// The citizen's CA signs `attributes`' digest, as a remote CA would, and the SignedData is
/// assembled around it with `chain`.
fn assemble(
    citizen: &IssuedCitizen,
    attributes: &SignedAttributes,
    chain: &[Vec<u8>],
) -> SignedCms {
    let (scheme, algorithm) = scheme_of(citizen);
    let signature = citizen
        .key
        .sign(scheme, &attributes.digest_to_sign())
        .expect("signed");
    signed_cms::assemble(
        attributes,
        algorithm,
        &signature,
        &citizen.certificate.der,
        chain,
    )
    .expect("assembled")
}

/// `cms` with a signature time-stamp from [`TRUSTED`]'s TSA (B-T).
fn time_stamped(cms: &SignedCms) -> SignedCms {
    let trusted = &*TRUSTED;
    let request = TimeStampRequest::for_signature(&cms.signature_value().expect("a signature"))
        .expect("a request");
    let reply = trusted.tsa.respond(request.to_der()).expect("a reply");
    let token = request
        .check_response(&reply, &trusted.anchors)
        .expect("a good token");
    cms.with_signature_time_stamp(&token).expect("stamped")
}

/// The issuing CA of [`TRUSTED`]: what a CA sends with its citizens' certificates.
fn trusted_chain() -> Vec<Vec<u8>> {
    vec![TRUSTED.pki.issuing_cas[0].der.clone()]
}

/// `pdf` with one more PAdES signature by `citizen` (issued under `chain`), made through
/// `finish` (which may time-stamp or alter the SignedData before it is embedded).
fn sign_pdf_with(
    pdf: &[u8],
    citizen: &IssuedCitizen,
    chain: &[Vec<u8>],
    finish: impl FnOnce(SignedCms) -> Vec<u8>,
) -> Vec<u8> {
    let prepared =
        pades::prepare(pdf, &SignatureOptions::new(OffsetDateTime::now_utc())).expect("prepared");
    let attributes = SignedAttributes::new(
        &prepared.content_digest(),
        &citizen.certificate.der,
        AttributeProfile::Pades,
    )
    .expect("attributes");
    let cms = assemble(citizen, &attributes, chain);
    pades::embed(&prepared, &finish(cms)).expect("embedded")
}

/// `pdf` with one more B-B signature by a citizen of [`TRUSTED`].
fn sign_pdf(pdf: &[u8], citizen: &IssuedCitizen) -> Vec<u8> {
    sign_pdf_with(pdf, citizen, &trusted_chain(), SignedCms::into_der)
}

/// A `.p7s` of `content` by `citizen`, time-stamped (B-T).
fn sign_p7s(content: &[u8], citizen: &IssuedCitizen) -> Vec<u8> {
    let attributes = cades::prepare(content, &citizen.certificate.der, OffsetDateTime::now_utc())
        .expect("attributes");
    time_stamped(&assemble(citizen, &attributes, &trusted_chain())).into_der()
}

fn pdf_body(pdf: &[u8]) -> Value {
    json!({ "document": BASE64.encode(pdf) })
}

fn p7s_body(p7s: &[u8], content: &[u8]) -> Value {
    json!({ "document": BASE64.encode(p7s), "detached_content": BASE64.encode(content) })
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The one signature of a report, checked to be the only one.
fn only_signature(report: &Value) -> &Value {
    let signatures = report["signatures"].as_array().expect("signatures");
    assert_eq!(signatures.len(), 1, "{report}");
    &signatures[0]
}

fn assert_indication(signature: &Value, indication: &str, sub_indication: Option<&str>) {
    let report = &signature["report"];
    assert_eq!(report["indication"], indication, "{signature}");
    assert_eq!(
        report["sub_indication"],
        sub_indication.map_or(Value::Null, Value::from),
        "{signature}"
    );
}

/// The SignedData of `cms`, changed by `change`, re-encoded.
fn rewrite(cms: &SignedCms, change: impl FnOnce(&mut SignedData)) -> Vec<u8> {
    let content_info = ContentInfo::from_der(cms.to_der()).expect("a ContentInfo");
    let mut signed_data: SignedData = content_info.content.decode_as().expect("a SignedData");
    change(&mut signed_data);
    ContentInfo {
        content_type: content_info.content_type,
        content: Any::encode_from(&signed_data).expect("encoded"),
    }
    .to_der()
    .expect("encoded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_pdf_passes_with_the_signers_path_is_recorded_and_pdfsig_agrees() {
    let sink = std::env::temp_dir().join(format!("kyso-docverify-{}.jsonl", uuid::Uuid::new_v4()));
    let app = app_with(
        DocumentSettings::default(),
        AuditSettings {
            sink: AuditSink::File(sink.clone()),
            ..AuditSettings::default()
        },
    )
    .await;
    let token = app.token().await;
    let citizen = ec_citizen();
    let signed = sign_pdf(&unsigned_pdf(), citizen);

    let mut body = pdf_body(&signed);
    body["user_id"] = "001099000004".into();
    let answer = report(&app, &token, &body).await;
    assert_eq!(answer["format"], "pdf");
    assert_eq!(answer["document_sha256"], sha256_hex(&signed));
    assert_eq!(
        answer["message"],
        "The PDF has 1 signature: 1 total_passed."
    );
    assert_eq!(answer["document_time_stamps"], json!([]));
    let signature = only_signature(&answer);
    assert_indication(signature, "total_passed", None);
    assert_eq!(signature["field_name"], "Signature1");
    assert_eq!(signature["sub_filter"], "ETSI.CAdES.detached");
    assert_eq!(signature["coverage"], json!({"kind": "whole_file"}));
    assert_eq!(signature["level"], "B-B");
    assert!(signature["signing_time"].is_string(), "{signature}");
    assert!(signature.get("time_stamp").is_none(), "{signature}");
    let judged = &signature["report"];
    assert_eq!(judged["signature_algorithm"], "ecdsa_p256_sha256");
    let path = judged["path"].as_array().unwrap();
    assert_eq!(path.len(), 3, "citizen, CA, root: {judged}");
    assert_eq!(
        path[0]["sha256_fingerprint"],
        sha256_hex(&citizen.certificate.der)
    );
    assert_eq!(
        path[2]["sha256_fingerprint"],
        sha256_hex(&TRUSTED.pki.root.der)
    );

    // The same signature, asked to name someone else.
    let mut other = pdf_body(&signed);
    other["user_id"] = "079200000999".into();
    let mismatch = report(&app, &token, &other).await;
    assert_indication(
        only_signature(&mismatch),
        "total_failed",
        Some("user_mismatch"),
    );

    // The trail has each verification, with the document's digest and each indication.
    let trail: Vec<Value> = std::fs::read_to_string(&sink)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .filter(|record: &Value| record["event"] == "verification")
        .collect();
    std::fs::remove_file(&sink).ok();
    assert_eq!(trail.len(), 2, "{trail:?}");
    assert_eq!(trail[0]["outcome"], "total_passed");
    assert_eq!(trail[0]["subject"]["citizen"], "001099000004");
    assert_eq!(trail[0]["details"]["format"], "pdf");
    assert_eq!(trail[0]["details"]["document_sha256"], sha256_hex(&signed));
    assert_eq!(trail[0]["details"]["signatures"], 1);
    assert_eq!(trail[0]["details"]["indications"], json!(["total_passed"]));
    assert_eq!(trail[1]["outcome"], "total_failed");

    // The independent judge: pdfsig, trusting the same root.
    let verdict = pdfsig(&signed);
    assert!(verdict.contains("Signature is Valid."), "{verdict}");
    assert!(verdict.contains("Certificate is Trusted."), "{verdict}");
    assert!(verdict.contains("Total document signed"), "{verdict}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_signed_twice_reports_both_the_first_over_an_earlier_revision() {
    let app = app().await;
    let token = app.token().await;
    let once = sign_pdf(&unsigned_pdf(), ec_citizen());
    // The second signer's CMS is time-stamped, then validation data is added (B-LT).
    let twice = sign_pdf_with(&once, rsa_citizen(), &trusted_chain(), |cms| {
        time_stamped(&cms).into_der()
    });
    let certificates = [
        rsa_citizen().certificate.der.clone(),
        TRUSTED.pki.issuing_cas[0].der.clone(),
    ];
    let none: [Vec<u8>; 0] = [];
    let with_dss = pades::add_dss(&twice, &certificates, &none, &none).expect("a DSS");

    let answer = report(&app, &token, &pdf_body(&with_dss)).await;
    assert_eq!(
        answer["message"],
        "The PDF has 2 signatures: 2 total_passed."
    );
    let signatures = answer["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 2, "{answer}");
    let (first, second) = (&signatures[0], &signatures[1]);
    assert_indication(first, "total_passed", None);
    assert_indication(second, "total_passed", None);
    assert_eq!(first["field_name"], "Signature1");
    assert_eq!(second["field_name"], "Signature2");
    assert_eq!(
        first["coverage"],
        json!({
            "kind": "revision",
            "revision_bytes": once.len(),
            "later_bytes_are_incremental_updates": true,
        })
    );
    assert_eq!(
        second["coverage"],
        json!({
            "kind": "revision",
            "revision_bytes": twice.len(),
            "later_bytes_are_incremental_updates": true,
        })
    );
    assert_eq!(first["report"]["signature_algorithm"], "ecdsa_p256_sha256");
    assert_eq!(
        second["report"]["signature_algorithm"],
        "rsa_pkcs1v15_sha256"
    );
    assert_eq!(first["level"], "B-B");
    assert_eq!(second["level"], "B-LT");
    let stamp = &second["time_stamp"];
    assert_eq!(stamp["verified"], true, "{stamp}");
    assert_eq!(stamp["trusted"], true, "{stamp}");
    assert!(
        stamp["tsa_subject"]
            .as_str()
            .unwrap()
            .contains("Document Verification TSA"),
        "{stamp}"
    );
    assert!(stamp["gen_time"].is_string());

    // Bytes appended that are not an update: the signature no longer vouches for the file.
    let mut appended = twice.clone();
    appended.extend_from_slice(b"\n% appended after signing\n");
    let answer = report(&app, &token, &pdf_body(&appended)).await;
    let last = &answer["signatures"][1];
    assert_indication(last, "total_failed", Some("format_failure"));
    assert_eq!(
        last["coverage"]["later_bytes_are_incremental_updates"],
        false
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_p7s_passes_with_its_file_fails_with_another_and_openssl_agrees() {
    let app = app().await;
    let token = app.token().await;
    let content = "Tờ khai đăng ký khai sinh\n".as_bytes();
    let p7s = sign_p7s(content, rsa_citizen());

    let answer = report(&app, &token, &p7s_body(&p7s, content)).await;
    assert_eq!(answer["format"], "cades");
    assert_eq!(answer["document_sha256"], sha256_hex(&p7s));
    assert_eq!(answer["detached_content_sha256"], sha256_hex(content));
    let signature = only_signature(&answer);
    assert_indication(signature, "total_passed", None);
    assert_eq!(signature["coverage"], json!({"kind": "whole_file"}));
    assert_eq!(signature["level"], "B-T");
    assert_eq!(signature["time_stamp"]["verified"], true);
    assert!(signature.get("field_name").is_none());
    assert!(signature["signing_time"].is_string());
    assert_eq!(
        signature["report"]["path"][0]["sha256_fingerprint"],
        sha256_hex(&rsa_citizen().certificate.der)
    );
    assert!(accepted(&openssl_cms_verify(&p7s, content).await));

    let other_file = "Tờ khai đăng ký kết hôn\n".as_bytes();
    let answer = report(&app, &token, &p7s_body(&p7s, other_file)).await;
    let signature = only_signature(&answer);
    assert_indication(signature, "total_failed", Some("hash_failure"));
    assert!(
        signature["report"]["message"]
            .as_str()
            .unwrap()
            .contains("not the file that was signed"),
        "{signature}"
    );
    assert!(!accepted(&openssl_cms_verify(&p7s, other_file).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_changed_inside_the_byte_range_or_a_swapped_certificate_fails() {
    let app = app().await;
    let token = app.token().await;
    let signed = sign_pdf(&unsigned_pdf(), ec_citizen());

    // One letter of the page's text, inside the signed bytes.
    let at = signed
        .windows(TEXT.len())
        .position(|window| window == TEXT.as_bytes())
        .expect("the text is in the file");
    let mut tampered = signed.clone();
    tampered[at] = b'd';
    let answer = report(&app, &token, &pdf_body(&tampered)).await;
    assert_indication(
        only_signature(&answer),
        "total_failed",
        Some("hash_failure"),
    );

    // Another citizen's certificate given as the signer's, the signature left as it was.
    let other = rsa_citizen();
    let other_certificate =
        x509_cert::Certificate::from_der(&other.certificate.der).expect("a certificate");
    let swapped = sign_pdf_with(&unsigned_pdf(), ec_citizen(), &trusted_chain(), |signed| {
        rewrite(&signed, |signed_data| {
            let mut signer_info = signed_data.signer_infos.0.as_slice()[0].clone();
            signer_info.sid =
                SignerIdentifier::IssuerAndSerialNumber(cms::cert::IssuerAndSerialNumber {
                    issuer: other_certificate.tbs_certificate.issuer.clone(),
                    serial_number: other_certificate.tbs_certificate.serial_number.clone(),
                });
            signed_data.signer_infos = vec![signer_info].try_into().expect("a set");
            signed_data.certificates = Some(
                vec![
                    cms::cert::CertificateChoices::Certificate(other_certificate.clone()),
                    cms::cert::CertificateChoices::Certificate(
                        x509_cert::Certificate::from_der(&trusted_chain()[0]).expect("the CA"),
                    ),
                ]
                .try_into()
                .expect("a set"),
            );
        })
    });
    let answer = report(&app, &token, &pdf_body(&swapped)).await;
    let signature = only_signature(&answer);
    assert_indication(signature, "total_failed", Some("sig_crypto_failure"));
    // The path judged is the swapped-in certificate's: trusted, yet the signature is not its.
    assert_eq!(
        signature["report"]["path"][0]["sha256_fingerprint"],
        sha256_hex(&other.certificate.der)
    );
    let verdict = pdfsig(&swapped);
    assert!(!verdict.contains("Signature is Valid."), "{verdict}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_under_a_root_nobody_trusts_is_indeterminate() {
    let app = app().await;
    let token = app.token().await;
    let foreign = &*FOREIGN;
    let signed = sign_pdf_with(
        &unsigned_pdf(),
        &foreign.citizens[0],
        &[foreign.issuing_cas[0].der.clone()],
        SignedCms::into_der,
    );
    let answer = report(&app, &token, &pdf_body(&signed)).await;
    assert_eq!(
        answer["message"],
        "The PDF has 1 signature: 1 indeterminate."
    );
    assert_indication(
        only_signature(&answer),
        "indeterminate",
        Some("no_certificate_chain_found"),
    );
}

#[tokio::test]
async fn an_unsigned_pdf_has_no_signatures_and_what_is_no_signed_document_is_refused() {
    let app = app().await;
    let token = app.token().await;
    let answer = report(&app, &token, &pdf_body(&unsigned_pdf())).await;
    assert_eq!(answer["signatures"], json!([]));
    assert_eq!(answer["message"], "The PDF has no signature.");

    let garbage = b"this is not a PDF at all".as_slice();
    let refused = assert_error(
        verify(&app, &token, &pdf_body(garbage)).await,
        422,
        "invalid_document",
    )
    .await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("detached_content"),
        "{refused}"
    );
    assert_error(
        verify(&app, &token, &p7s_body(garbage, b"content")).await,
        422,
        "invalid_document",
    )
    .await;
    let mut truncated = sign_pdf(&unsigned_pdf(), ec_citizen());
    truncated.truncate(200);
    assert_error(
        verify(&app, &token, &pdf_body(&truncated)).await,
        422,
        "invalid_document",
    )
    .await;

    for (body, message) in [
        (
            json!({"document": "not base64!"}),
            "field `document` is not base64",
        ),
        (
            json!({"detached_content": "AAAA"}),
            "field `document` is required",
        ),
        (
            json!({"document": "AAAA", "digest": "AAAA"}),
            "field `document` (a signed document) cannot be sent with field `digest` (a signature over a digest): send one or the other",
        ),
        (
            json!({"document": "AAAA", "level": "B-B"}),
            "field `level` is not allowed here (the fields are document, detached_content, user_id, validation_time)",
        ),
        (
            json!({"document": 7}),
            "field `document` must be a string, not a number",
        ),
        (
            json!({"user_id": "001099000004"}),
            "send either `document` (a signed PDF, or a .p7s with `detached_content`) or `hash_algorithm`, `digest`, `signature` and `certificate_chain_pem` (a signature over a digest)",
        ),
    ] {
        let error = assert_error(verify(&app, &token, &body).await, 400, "invalid_request").await;
        assert_eq!(error["error"]["message"], message, "{body}");
    }
    let mut bad_user = pdf_body(&unsigned_pdf());
    bad_user["user_id"] = "12".into();
    assert_error(
        verify(&app, &token, &bad_user).await,
        400,
        "invalid_user_id",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_have_their_own_size_limit_and_the_route_its_own_body_limit() {
    const MAX_DOCUMENT_BYTES: usize = 300 * 1024;
    let app = app_with(
        DocumentSettings {
            max_document_bytes: MAX_DOCUMENT_BYTES,
            // Signing requests may then be 256 KiB plus the base64 of 10 KiB.
            max_transaction_bytes: 10 * 1024,
            ..DocumentSettings::default()
        },
        AuditSettings::default(),
    )
    .await;
    let token = app.token().await;

    // A document whose body is larger than a signing request or any other route accepts.
    let large = sign_pdf(&pdf_with(TEXT, 230 * 1024), ec_citizen());
    assert!(large.len() < MAX_DOCUMENT_BYTES);
    let body = pdf_body(&large);
    assert!(body.to_string().len() > 256 * 1024);
    let answer = report(&app, &token, &body).await;
    assert_indication(only_signature(&answer), "total_passed", None);
    let elsewhere = app
        .http
        .post(format!("{}/v1/signatures", app.api))
        .bearer_auth(&token)
        .header("Idempotency-Key", "large")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(elsewhere, 413, "payload_too_large").await;

    // One byte over the document limit, as the document or as the detached content.
    let over = vec![b'%'; MAX_DOCUMENT_BYTES + 1];
    let error = assert_error(
        verify(&app, &token, &pdf_body(&over)).await,
        413,
        "document_too_large",
    )
    .await;
    assert_eq!(
        error["error"]["message"],
        format!(
            "document has {} bytes; documents.max_document_bytes is {MAX_DOCUMENT_BYTES}",
            MAX_DOCUMENT_BYTES + 1
        )
    );
    assert_error(
        verify(&app, &token, &p7s_body(b"0", &over)).await,
        413,
        "document_too_large",
    )
    .await;

    // A body larger than the route's limit is not read.
    let huge = json!({ "document": "A".repeat(2 * MAX_DOCUMENT_BYTES * 4 / 3 + 300 * 1024) });
    assert_error(verify(&app, &token, &huge).await, 413, "payload_too_large").await;
}

/// pdfsig's verdict on `pdf`, trusting [`TRUSTED`]'s root; fails if pdfsig or certutil is
/// missing (`scripts/test` installs them).
fn pdfsig(pdf: &[u8]) -> String {
    let dir = ScratchDir::new("docverify-pdfsig").expect("a scratch dir");
    dir.write("signed.pdf", pdf).expect("written");
    dir.write("root.pem", &TRUSTED.pki.root.pem)
        .expect("written");
    let nss = dir.path().join("nss");
    std::fs::create_dir_all(&nss).expect("the NSS directory");
    let nss_arg = format!("sql:{}", nss.display());
    run(
        Command::new("certutil").args(["-N", "--empty-password", "-d", &nss_arg]),
        "certutil",
    );
    // Trusted for S/MIME too: pdfsig checks the signer for the e-mail signer usage.
    run(
        Command::new("certutil")
            .args(["-A", "-d", &nss_arg, "-n", "root", "-t", "C,C,C", "-i"])
            .arg(dir.path().join("root.pem")),
        "certutil",
    );
    let output = run_allowing_failure(
        Command::new("pdfsig")
            .args(["-nssdir", &nss_arg])
            .arg(dir.path().join("signed.pdf")),
        "pdfsig",
    );
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

fn run(command: &mut Command, tool: &str) -> std::process::Output {
    let output = run_allowing_failure(command, tool);
    assert!(output.status.success(), "{command:?} failed: {output:?}");
    output
}

/// Runs `command`; a tool that cannot be started fails the test (it is never skipped).
fn run_allowing_failure(command: &mut Command, tool: &str) -> std::process::Output {
    command.output().unwrap_or_else(|error| {
        panic!(
            "{tool} is required by this test and cannot be run ({error}); scripts/test installs it"
        )
    })
}

/// `openssl cms -verify` of the detached `p7s` over `content`, trusting [`TRUSTED`]'s root.
async fn openssl_cms_verify(p7s: &[u8], content: &[u8]) -> OpensslRun {
    let dir = ScratchDir::new("docverify-cms").expect("a scratch dir");
    dir.write("s.p7s", p7s).expect("written");
    dir.write("data", content).expect("written");
    dir.write("root.pem", &TRUSTED.pki.root.pem)
        .expect("written");
    openssl(
        dir.path(),
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "s.p7s",
            "-content",
            "data",
            "-CAfile",
            "root.pem",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
    )
    .await
    .expect("openssl must be installed: it is the independent judge of this test")
}

fn accepted(run: &OpensslRun) -> bool {
    run.status == 0 && run.output().contains("Verification successful")
}
