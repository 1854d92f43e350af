//! RFC 3161 against the sandbox TSA: its tokens pass `openssl ts -verify`, and each fault it
//! can be made to commit is its own [`TimeStampError`].

mod signing_fixture;

use kyso_documents::timestamp::{
    QUERY_CONTENT_TYPE, REPLY_CONTENT_TYPE, TimeStampError, TimeStampRequest,
};
use kyso_sim_kit::tsa::{TSA_PATH, configure};
use kyso_sim_kit::{SimServer, TimeStampAuthority, TsaFault};
use kyso_verify::{KeyPurpose, TrustAnchors, Validation, validate_time_stamping_path};
use time::OffsetDateTime;

use signing_fixture::{FIXTURE, openssl_ts_verify};

#[tokio::test]
async fn tsa_tokens_pass_openssl_ts_verify() {
    let fixture = &*FIXTURE;
    let request = TimeStampRequest::for_imprint([0x5a; 32]).expect("a request");
    let reply = fixture.tsa.respond(request.to_der()).expect("a reply");
    let token = request
        .check_response(&reply, &fixture.anchors)
        .expect("a good token");
    assert_eq!(token.tsa_certificate(), fixture.tsa.certificate().der);
    assert_eq!(token.nonce(), Some(request.nonce()));
    assert!((OffsetDateTime::now_utc() - token.gen_time()).abs() < time::Duration::minutes(1));
    let run = openssl_ts_verify(token.to_der(), &[0x5a; 32]).await;
    assert!(
        run.output().contains("Verification: OK"),
        "{}",
        run.output()
    );
    // openssl, too, refuses it for another imprint.
    let run = openssl_ts_verify(token.to_der(), &[0x5b; 32]).await;
    assert!(
        !run.output().contains("Verification: OK"),
        "{}",
        run.output()
    );

    let again = TimeStampRequest::for_imprint([0x5a; 32]).expect("a request");
    let second = again
        .check_response(
            &fixture.tsa.respond(again.to_der()).expect("a reply"),
            &fixture.anchors,
        )
        .expect("a good token");
    assert_ne!(second.serial_number(), token.serial_number());
}

#[tokio::test]
async fn each_tsa_fault_is_its_own_error() {
    let fixture = &*FIXTURE;
    let tsa = actix_data(&fixture.pki);
    let server = SimServer::start_local("TSA", configure(tsa.clone())).expect("the TSA");
    let client = reqwest::Client::new();
    let stamp = |request: TimeStampRequest| {
        let client = client.clone();
        let url = server.url(TSA_PATH);
        async move {
            let answer = client
                .post(url)
                .header("content-type", QUERY_CONTENT_TYPE)
                .body(request.to_der().to_vec())
                .send()
                .await
                .expect("the TSA answers");
            let status = answer.status().as_u16();
            let content_type = answer
                .headers()
                .get("content-type")
                .map(|value| value.to_str().unwrap_or_default().to_owned());
            let body = answer.bytes().await.expect("a body");
            (
                status,
                content_type,
                request.check_response(&body, &fixture.anchors),
            )
        }
    };
    let request = || TimeStampRequest::for_signature(b"the signature").expect("a request");

    let (status, content_type, result) = stamp(request()).await;
    assert_eq!(status, 200);
    assert_eq!(content_type.as_deref(), Some(REPLY_CONTENT_TYPE));
    assert!(result.is_ok(), "{result:?}");

    // Down: the HTTP status is the gateway's to see (it never reaches the check).
    tsa.fail_next(TsaFault::Status { status: 500 });
    assert_eq!(stamp(request()).await.0, 500);

    let cases: [(TsaFault, ErrorCheck); 6] = [
        (TsaFault::Garbage, |e| {
            matches!(e, TimeStampError::Garbage(_))
        }),
        (
            TsaFault::Rejection,
            |e| matches!(e, TimeStampError::Rejected { status, fail_info: Some(_) } if status == "Rejection"),
        ),
        (TsaFault::WrongImprint, |e| {
            matches!(e, TimeStampError::WrongImprint)
        }),
        (TsaFault::WrongNonce, |e| {
            matches!(e, TimeStampError::WrongNonce)
        }),
        (TsaFault::CorruptSignature, |e| {
            matches!(e, TimeStampError::BadSignature(_))
        }),
        (TsaFault::UntrustedSigner, |e| {
            matches!(e, TimeStampError::UntrustedTsa(_))
        }),
    ];
    for (fault, expected) in cases {
        tsa.fail_next(fault);
        let (_, _, result) = stamp(request()).await;
        let error = result.expect_err("a faulty answer is refused");
        assert!(expected(&error), "{fault:?} gave {error:?}");
    }
    // The faults were one-shot.
    assert!(stamp(request()).await.2.is_ok());

    // A sound token from a TSA under other anchors is untrusted.
    let elsewhere =
        TrustAnchors::from_der(vec![fixture.pki.issuing_cas[0].der.clone()]).expect("anchors");
    let request = request();
    let reply = tsa.respond(request.to_der()).expect("a reply");
    assert!(matches!(
        request.check_response(&reply, &elsewhere),
        Err(TimeStampError::UntrustedTsa(_))
    ));
}

/// Whether an error is the one a fault must give.
type ErrorCheck = fn(&TimeStampError) -> bool;

#[test]
fn only_a_time_stamping_certificate_can_stamp() {
    let fixture = &*FIXTURE;
    let ctx = Validation::new(&fixture.anchors, OffsetDateTime::now_utc());
    assert!(validate_time_stamping_path(&fixture.tsa.certificate().der, &[], &ctx).passed());
    // A citizen's certificate chains to the same root, but is no TSA's.
    let citizen =
        validate_time_stamping_path(&fixture.rsa().certificate.der, &fixture.chain(), &ctx);
    assert!(!citizen.passed(), "{citizen:?}");
    // And the TSA's certificate is no document signer's.
    let as_signer = kyso_verify::CertifiedPath::build_for(
        KeyPurpose::DocumentSigning,
        &fixture.tsa.certificate().der,
        &[],
        &fixture.anchors,
        ctx.at,
    );
    assert!(!as_signer.passed());
}

/// A TSA of its own for the faults test (the shared one stays fault-free for the others).
fn actix_data(pki: &kyso_sim_kit::TestPki) -> actix_web::web::Data<TimeStampAuthority> {
    actix_web::web::Data::new(TimeStampAuthority::new(pki, "Faulty TSA").expect("a TSA"))
}
