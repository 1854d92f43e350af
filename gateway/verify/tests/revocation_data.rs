//! OCSP responses and CRLs checked as a relying party must: against the simulators' test
//! PKI, whose responder and CRLs are real (x509-ocsp and rcgen made, CA-signed) and whose
//! switches make them misbehave (delegated, foreign-signed, stale).

use kyso_sim_kit::{
    CitizenCertSpec, KeyKind, OcspSigner, RevocationReason, RevocationSwitches, Revoke, TestPki,
};
use kyso_verify::{
    CertifiedPath, GatheredRevocation, Indication, RevocationAnswer, RevocationDataError,
    RevocationPolicy, RevocationSourceKind, RevocationStatus, SubIndication, TrustAnchors,
    Validation, check_crl, check_ocsp_response, ocsp_request, revocation_locations,
};
use time::OffsetDateTime;

const BASE: &str = "http://127.0.0.1:9";

fn pki() -> TestPki {
    TestPki::builder("Revocation Test Root")
        .issuing_ca("Revocation Test CA")
        .citizen(CitizenCertSpec::new(
            "Nguyen Van A",
            "001099000001",
            KeyKind::P256,
        ))
        .citizen(CitizenCertSpec::new(
            "Tran Thi B",
            "001099000002",
            KeyKind::Rsa2048,
        ))
        .served_at(BASE)
        .build()
        .expect("test PKI")
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Asks the PKI's responder about citizen `index` and checks the answer.
fn ask_ocsp(
    pki: &TestPki,
    index: usize,
) -> Result<kyso_verify::RevocationEvidence, RevocationDataError> {
    let citizen = &pki.citizens[index].certificate.der;
    let issuer = &pki.issuing_cas[0].der;
    let request = ocsp_request(citizen, issuer).expect("request");
    let response = pki.revocation.respond(&request).expect("response");
    check_ocsp_response(&response, citizen, issuer, now())
}

/// The same response with one bit of its signature flipped.
fn with_signature_bit_flipped(response: &[u8]) -> Vec<u8> {
    use x509_cert::der::asn1::{BitString, OctetString};
    use x509_cert::der::{Decode, Encode};
    let mut outer = x509_ocsp::OcspResponse::from_der(response).expect("response");
    let bytes = outer.response_bytes.as_mut().expect("bytes");
    let mut basic =
        x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes()).expect("basic");
    let mut signature = basic.signature.raw_bytes().to_vec();
    signature[10] ^= 0x01;
    basic.signature = BitString::from_bytes(&signature).expect("bits");
    bytes.response = OctetString::new(basic.to_der().expect("der")).expect("octets");
    outer.to_der().expect("der")
}

fn switch(pki: &TestPki, switches: RevocationSwitches) {
    pki.revocation.set_switches(switches);
}

#[test]
fn certificates_name_their_ocsp_responder_and_crl() {
    let pki = pki();
    let locations = revocation_locations(&pki.citizens[0].certificate.der);
    assert_eq!(locations.ocsp, vec![format!("{BASE}/_sim/pki/ocsp")]);
    assert_eq!(locations.crl, vec![format!("{BASE}/_sim/pki/crl/ca-0.crl")]);
    let intermediate = revocation_locations(&pki.issuing_cas[0].der);
    assert_eq!(
        intermediate.crl,
        vec![format!("{BASE}/_sim/pki/crl/root.crl")]
    );
    assert_eq!(
        revocation_locations(&pki.root.der).ocsp,
        Vec::<String>::new()
    );
}

#[test]
fn ocsp_good_answer_signed_by_the_issuer_is_believed() {
    let pki = pki();
    let evidence = ask_ocsp(&pki, 0).expect("believed");
    assert_eq!(evidence.status, RevocationStatus::Good);
    assert_eq!(evidence.source, RevocationSourceKind::Ocsp);
    assert_eq!(evidence.responder, "Revocation Test CA");
    assert_eq!(
        evidence.serial_number,
        pki.citizens[0].certificate.serial_hex()
    );
    assert!(evidence.produced_at.is_some());
    assert!(evidence.next_update.is_some_and(|next| next > now()));
}

#[test]
fn ocsp_revoked_answer_carries_time_and_reason() {
    let pki = pki();
    let at = now() - time::Duration::days(3);
    pki.revocation
        .revoke(
            &pki.citizens[1].certificate.serial,
            &Revoke::because(RevocationReason::KeyCompromise).at(at),
        )
        .expect("revoke");
    let evidence = ask_ocsp(&pki, 1).expect("believed");
    match evidence.status {
        RevocationStatus::Revoked { time, reason } => {
            assert_eq!(time.unix_timestamp(), at.unix_timestamp());
            assert_eq!(reason.as_deref(), Some("keyCompromise"));
        }
        other => panic!("expected revoked, got {other:?}"),
    }
    assert_eq!(
        ask_ocsp(&pki, 0).expect("other").status,
        RevocationStatus::Good
    );
}

#[test]
fn delegated_responder_is_authorised_and_foreign_one_is_not() {
    let pki = pki();
    switch(
        &pki,
        RevocationSwitches {
            ocsp_signer: OcspSigner::Delegated,
            ..RevocationSwitches::default()
        },
    );
    let evidence = ask_ocsp(&pki, 0).expect("delegated is authorised");
    assert_ne!(evidence.responder, "Revocation Test CA");
    switch(
        &pki,
        RevocationSwitches {
            ocsp_signer: OcspSigner::Foreign,
            ..RevocationSwitches::default()
        },
    );
    assert!(
        matches!(
            ask_ocsp(&pki, 0),
            Err(RevocationDataError::UnauthorisedResponder(_))
        ),
        "a response signed by a key the issuer never certified is refused"
    );
}

#[test]
fn stale_ocsp_answer_is_refused() {
    let pki = pki();
    switch(
        &pki,
        RevocationSwitches {
            ocsp_stale: true,
            ..RevocationSwitches::default()
        },
    );
    assert!(matches!(
        ask_ocsp(&pki, 0),
        Err(RevocationDataError::Stale { .. })
    ));
}

#[test]
fn ocsp_answer_about_another_certificate_or_tampered_is_refused() {
    let pki = pki();
    let issuer = &pki.issuing_cas[0].der;
    let request = ocsp_request(&pki.citizens[0].certificate.der, issuer).expect("request");
    let response = pki.revocation.respond(&request).expect("response");
    assert_eq!(
        check_ocsp_response(&response, &pki.citizens[1].certificate.der, issuer, now()),
        Err(RevocationDataError::NotAbout)
    );
    // The answer about citizen 0, judged as if the root had issued it: the issuer hashes differ.
    assert_eq!(
        check_ocsp_response(
            &response,
            &pki.citizens[0].certificate.der,
            &pki.root.der,
            now()
        ),
        Err(RevocationDataError::NotAbout)
    );
    assert_eq!(
        check_ocsp_response(
            &with_signature_bit_flipped(&response),
            &pki.citizens[0].certificate.der,
            issuer,
            now()
        ),
        Err(RevocationDataError::BadSignature("OCSP response"))
    );
    let refused = pki
        .revocation
        .respond(b"not an OCSP request")
        .expect("answer");
    assert_eq!(
        check_ocsp_response(&refused, &pki.citizens[0].certificate.der, issuer, now()),
        Err(RevocationDataError::NotSuccessful(
            "malformedRequest".into()
        ))
    );
}

#[test]
fn crl_lists_revoked_certificates_and_clears_the_others() {
    let pki = pki();
    let at = now() - time::Duration::hours(5);
    pki.revocation
        .revoke(
            &pki.citizens[0].certificate.serial,
            &Revoke::because(RevocationReason::Superseded).at(at),
        )
        .expect("revoke");
    let crl = pki.revocation.crl("ca-0").expect("crl");
    let checked = check_crl(&crl, &pki.issuing_cas[0].der, now()).expect("believed");
    assert!(checked.is_current(now()));
    let revoked = checked
        .status_of(&pki.citizens[0].certificate.der)
        .expect("covered");
    assert_eq!(revoked.source, RevocationSourceKind::Crl);
    assert_eq!(
        revoked.status,
        RevocationStatus::Revoked {
            time: OffsetDateTime::from_unix_timestamp(at.unix_timestamp()).expect("time"),
            reason: Some("superseded".into()),
        }
    );
    let good = checked
        .status_of(&pki.citizens[1].certificate.der)
        .expect("covered");
    assert_eq!(good.status, RevocationStatus::Good);
    // The root's CRL does not speak for certificates the issuing CA issued.
    let root_crl = check_crl(
        &pki.revocation.crl("root").expect("crl"),
        &pki.root.der,
        now(),
    )
    .expect("root CRL");
    assert!(matches!(
        root_crl.status_of(&pki.citizens[0].certificate.der),
        Err(RevocationDataError::OutOfScope(_))
    ));
}

#[test]
fn crl_from_another_issuer_stale_or_tampered_is_refused() {
    let pki = pki();
    let crl = pki.revocation.crl("ca-0").expect("crl");
    assert!(matches!(
        check_crl(&crl, &pki.root.der, now()),
        Err(RevocationDataError::OutOfScope(_))
    ));
    let mut tampered = crl.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    assert!(matches!(
        check_crl(&tampered, &pki.issuing_cas[0].der, now()),
        Err(RevocationDataError::BadSignature(_) | RevocationDataError::Malformed(_))
    ));
    assert!(matches!(
        check_crl(
            &crl,
            &pki.issuing_cas[0].der,
            now() + time::Duration::hours(2)
        ),
        Err(RevocationDataError::Stale { .. })
    ));
    switch(
        &pki,
        RevocationSwitches {
            crl_stale: true,
            ..RevocationSwitches::default()
        },
    );
    let stale = pki.revocation.crl("ca-0").expect("crl");
    assert!(matches!(
        check_crl(&stale, &pki.issuing_cas[0].der, now()),
        Err(RevocationDataError::Stale { .. })
    ));
}

/// Gathers what the PKI's responder says about every certificate a path needs.
fn gather_ocsp(pki: &TestPki, path: &CertifiedPath) -> GatheredRevocation {
    let mut gathered = GatheredRevocation::default();
    for request in path.revocation_requests() {
        let ocsp = ocsp_request(request.certificate, request.issuer).expect("request");
        let response = pki.revocation.respond(&ocsp).expect("response");
        let answer =
            match check_ocsp_response(&response, request.certificate, request.issuer, now()) {
                Ok(evidence) => RevocationAnswer::Evidence(evidence),
                Err(error) => RevocationAnswer::Unavailable(error.to_string()),
            };
        gathered.insert(request.certificate, answer);
    }
    gathered
}

#[test]
fn a_certified_path_gathers_then_judges_revocation() {
    let pki = pki();
    let anchors = TrustAnchors::from_der(vec![pki.root.der.clone()]).expect("anchors");
    let chain = vec![pki.issuing_cas[0].der.clone()];
    let signer = &pki.citizens[0].certificate.der;
    let path = CertifiedPath::build(signer, &chain, &anchors, now());
    assert!(path.passed());
    assert_eq!(
        path.revocation_requests().len(),
        2,
        "the signer and the issuing CA"
    );

    let gathered = gather_ocsp(&pki, &path);
    let ctx =
        Validation::new(&anchors, now()).with_revocation(&gathered, RevocationPolicy::Required);
    let report = path.certificate_report(Some("001099000001"), &ctx);
    assert_eq!(
        report.indication,
        Indication::TotalPassed,
        "{}",
        report.message
    );
    assert_eq!(report.revocation.len(), 2);

    // Revoked 15 minutes ago: refused now, still valid for a signature judged 30 minutes ago.
    pki.revocation
        .revoke(
            &pki.citizens[0].certificate.serial,
            &Revoke::because(RevocationReason::KeyCompromise)
                .at(now() - time::Duration::minutes(15)),
        )
        .expect("revoke");
    let gathered = gather_ocsp(&pki, &path);
    let ctx =
        Validation::new(&anchors, now()).with_revocation(&gathered, RevocationPolicy::Required);
    let report = path.certificate_report(None, &ctx);
    assert_eq!(report.sub_indication, Some(SubIndication::Revoked));
    let earlier = now() - time::Duration::minutes(30);
    assert!(path.reusable_at(earlier));
    let ctx =
        Validation::new(&anchors, earlier).with_revocation(&gathered, RevocationPolicy::Required);
    let report = path.certificate_report(None, &ctx);
    assert_eq!(
        report.indication,
        Indication::TotalPassed,
        "{}",
        report.message
    );
    assert!(matches!(
        report.revocation[0].status,
        RevocationStatus::Revoked { .. }
    ));

    // Nothing gathered: try_later, which only a soft policy accepts.
    let nothing = GatheredRevocation::default();
    let ctx = Validation::new(&anchors, now()).with_revocation(&nothing, RevocationPolicy::Soft);
    let report = path.certificate_report(None, &ctx);
    assert_eq!(report.sub_indication, Some(SubIndication::TryLater));
    assert!(RevocationPolicy::Soft.accepts(&report));
    assert!(!RevocationPolicy::Required.accepts(&report));
}
