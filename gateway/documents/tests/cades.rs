//! Detached CAdES `.p7s` made around a CA's signature, judged by `openssl cms -verify`, for
//! every algorithm, at B-B and B-T; and what neither openssl nor the gateway accepts.

mod signing_fixture;

use ::cms::content_info::ContentInfo;
use ::cms::signed_data::{SignedData, SignerIdentifier};
use der::{Any, Decode as _, Encode as _};
use kyso_documents::cms::{
    self, AttributeProfile, CmsError, SignatureAlgorithm, SignedAttributes, SignedCms,
    SigningCertificateCheck, cades,
};
use kyso_documents::timestamp::TimeStampToken;
use kyso_sim_kit::{CitizenKey, KeyKind, SignatureScheme};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use signing_fixture::{FIXTURE, accepted, openssl_cms_verify, openssl_ts_verify};

const CONTENT: &[u8] = "Đơn đề nghị cấp bản sao trích lục khai sinh\n".as_bytes();

#[tokio::test]
async fn openssl_verifies_b_b_and_b_t_for_every_algorithm() {
    let fixture = &*FIXTURE;
    let signing_time = OffsetDateTime::now_utc();
    for (citizen, scheme, algorithm) in [
        (
            fixture.rsa(),
            SignatureScheme::RsaPkcs1v15,
            SignatureAlgorithm::RsaPkcs1v15Sha256,
        ),
        (
            fixture.rsa(),
            SignatureScheme::RsaPss,
            SignatureAlgorithm::RsaPssSha256,
        ),
        (
            fixture.ec(),
            SignatureScheme::EcdsaRaw,
            SignatureAlgorithm::EcdsaP256Sha256,
        ),
        (
            fixture.ec(),
            SignatureScheme::EcdsaDer,
            SignatureAlgorithm::EcdsaP256Sha256,
        ),
    ] {
        let attributes =
            cades::prepare(CONTENT, &citizen.certificate.der, signing_time).expect("attributes");
        // Kept as bytes across the wait for the citizen, as the gateway keeps it.
        let kept: Vec<u8> = attributes.to_der().into();
        let attributes = SignedAttributes::from_der(&kept).expect("restored");
        let b_b = fixture.assemble(citizen, scheme, algorithm, &attributes);
        let run = openssl_cms_verify(b_b.to_der(), CONTENT).await;
        assert!(accepted(&run), "{scheme:?} B-B: {}", run.output());

        let report = cades::validate_detached(b_b.to_der(), CONTENT, Some(&fixture.anchors))
            .expect("readable");
        assert!(report.passed(), "{scheme:?}: {report:?}");
        assert_eq!(report.algorithm, algorithm);
        assert_eq!(report.signer_certificate, citizen.certificate.der);
        assert_eq!(report.chain, fixture.chain());
        assert!(report.detached);
        assert_eq!(
            report.signing_time,
            Some(signing_time.replace_nanosecond(0).expect("a time"))
        );
        assert!(report.time_stamp.is_none());

        let token = fixture.time_stamp(&b_b);
        let b_t = b_b.with_signature_time_stamp(&token).expect("stamped");
        let run = openssl_cms_verify(b_t.to_der(), CONTENT).await;
        assert!(accepted(&run), "{scheme:?} B-T: {}", run.output());
        let imprint = Sha256::digest(b_b.signature_value().expect("a signature"));
        let run = openssl_ts_verify(token.to_der(), &imprint).await;
        assert!(
            run.output().contains("Verification: OK"),
            "{scheme:?} token: {}",
            run.output()
        );

        let report = cades::validate_detached(b_t.to_der(), CONTENT, Some(&fixture.anchors))
            .expect("readable");
        assert!(report.passed(), "{scheme:?}: {report:?}");
        let stamp = report
            .time_stamp
            .expect("a time-stamp")
            .expect("a readable time-stamp");
        assert!(stamp.imprint_matches && stamp.signature_verifies);
        assert_eq!(stamp.trusted, Some(true));
        assert_eq!(stamp.tsa_certificate, fixture.tsa.certificate().der);
        assert_eq!(stamp.gen_time, token.gen_time());
        // The signed attributes are those the CA signed, unchanged.
        assert_eq!(
            b_t.signature_value().expect("a signature"),
            b_b.signature_value().expect("a signature")
        );
    }
}

#[test]
fn the_validation_gives_what_the_signer_signed_for_a_verifier_to_check_again() {
    let fixture = &*FIXTURE;
    let citizen = fixture.ec();
    let attributes = cades::prepare(CONTENT, &citizen.certificate.der, OffsetDateTime::now_utc())
        .expect("attributes");
    // r || s from the CA: the SignedData holds it as DER.
    let raw = fixture.sign(citizen, SignatureScheme::EcdsaRaw, &attributes);
    let signed = cms::assemble(
        &attributes,
        SignatureAlgorithm::EcdsaP256Sha256,
        &raw,
        &citizen.certificate.der,
        &fixture.chain(),
    )
    .expect("assembled");
    let report = cades::validate_detached(signed.to_der(), CONTENT, None).expect("readable");
    assert_eq!(report.signed_attributes_digest, attributes.digest_to_sign());
    assert_eq!(
        report.signature_value,
        signed.signature_value().expect("a signature")
    );
    assert_ne!(report.signature_value, raw, "the value is DER, not r || s");
    let key = kyso_verify::SignerKey::from_certificate(&citizen.certificate.der).expect("a key");
    assert!(
        key.verify(
            kyso_adapter_core::HashAlgorithm::Sha256,
            &report.signed_attributes_digest,
            &report.signature_value,
        )
        .is_ok()
    );
    // Over other attributes (another file's), the same value does not verify.
    let other = cades::prepare(
        b"another file",
        &citizen.certificate.der,
        OffsetDateTime::now_utc(),
    )
    .expect("attributes");
    assert!(
        key.verify(
            kyso_adapter_core::HashAlgorithm::Sha256,
            &other.digest_to_sign(),
            &report.signature_value,
        )
        .is_err()
    );
}

#[tokio::test]
async fn pades_profile_signatures_verify_and_have_no_signing_time() {
    let fixture = &*FIXTURE;
    let digest = cades::content_digest(CONTENT);
    let attributes = SignedAttributes::new(
        &digest,
        &fixture.ec().certificate.der,
        AttributeProfile::Pades,
    )
    .expect("attributes");
    let signed = fixture.assemble(
        fixture.ec(),
        SignatureScheme::EcdsaRaw,
        SignatureAlgorithm::EcdsaP256Sha256,
        &attributes,
    );
    let run = openssl_cms_verify(signed.to_der(), CONTENT).await;
    assert!(accepted(&run), "{}", run.output());
    // Zero padding after the CMS, as in a PDF's /Contents, is read past.
    let mut padded = signed.to_der().to_vec();
    padded.resize(padded.len() + 500, 0);
    let report = cms::validate(&padded, &digest, None).expect("readable");
    assert!(report.passed());
    assert_eq!(report.signing_time, None);
}

#[tokio::test]
async fn tampering_is_refused_by_openssl_and_by_the_gateway() {
    let fixture = &*FIXTURE;
    let citizen = fixture.rsa();
    let attributes = cades::prepare(CONTENT, &citizen.certificate.der, OffsetDateTime::now_utc())
        .expect("attributes");
    let signed = fixture.assemble(
        citizen,
        SignatureScheme::RsaPkcs1v15,
        SignatureAlgorithm::RsaPkcs1v15Sha256,
        &attributes,
    );

    // A content byte changed.
    let mut tampered = CONTENT.to_vec();
    tampered[3] ^= 1;
    assert!(!accepted(
        &openssl_cms_verify(signed.to_der(), &tampered).await
    ));
    let report = cades::validate_detached(signed.to_der(), &tampered, None).expect("readable");
    assert!(!report.message_digest_matches && !report.passed());
    assert!(report.signature_verifies);

    // Signature bytes altered after assembly.
    let altered = rewrite(&signed, |signed_data| {
        let mut signer_info = signed_data.signer_infos.0.as_slice()[0].clone();
        let mut bytes = signer_info.signature.as_bytes().to_vec();
        bytes[10] ^= 1;
        signer_info.signature = der::asn1::OctetString::new(bytes).expect("ok");
        signed_data.signer_infos = vec![signer_info].try_into().expect("a set");
    });
    assert!(!accepted(&openssl_cms_verify(&altered, CONTENT).await));
    let report = cades::validate_detached(&altered, CONTENT, None).expect("readable");
    assert!(!report.signature_verifies && !report.passed());

    // Another citizen's certificate in place of the signer's.
    let other = &fixture.other().certificate.der;
    let other_certificate = x509_cert::Certificate::from_der(other).expect("a certificate");
    let swapped = rewrite(&signed, |signed_data| {
        let mut signer_info = signed_data.signer_infos.0.as_slice()[0].clone();
        signer_info.sid =
            SignerIdentifier::IssuerAndSerialNumber(::cms::cert::IssuerAndSerialNumber {
                issuer: other_certificate.tbs_certificate.issuer.clone(),
                serial_number: other_certificate.tbs_certificate.serial_number.clone(),
            });
        signed_data.signer_infos = vec![signer_info].try_into().expect("a set");
        signed_data.certificates = Some(
            vec![
                ::cms::cert::CertificateChoices::Certificate(other_certificate.clone()),
                ::cms::cert::CertificateChoices::Certificate(
                    x509_cert::Certificate::from_der(&fixture.chain()[0]).expect("the CA"),
                ),
            ]
            .try_into()
            .expect("a set"),
        );
    });
    assert!(!accepted(&openssl_cms_verify(&swapped, CONTENT).await));
    let report = cades::validate_detached(&swapped, CONTENT, None).expect("readable");
    assert_eq!(report.signer_certificate, *other);
    assert!(!report.signature_verifies);
    assert_eq!(
        report.signing_certificate,
        SigningCertificateCheck::Mismatch
    );

    // The gateway assembles neither.
    let signature = fixture.sign(citizen, SignatureScheme::RsaPkcs1v15, &attributes);
    assert!(matches!(
        cms::assemble(
            &attributes,
            SignatureAlgorithm::RsaPkcs1v15Sha256,
            &signature,
            other,
            &[]
        ),
        Err(CmsError::SignerCertificateMismatch)
    ));
    let foreign = CitizenKey::generate(KeyKind::Rsa2048).expect("a key");
    let wrong_key = foreign
        .sign(SignatureScheme::RsaPkcs1v15, &attributes.digest_to_sign())
        .expect("signed");
    assert!(matches!(
        cms::assemble(
            &attributes,
            SignatureAlgorithm::RsaPkcs1v15Sha256,
            &wrong_key,
            &citizen.certificate.der,
            &fixture.chain()
        ),
        Err(CmsError::BadSignature(_))
    ));
    // Made in one algorithm, declared in another.
    assert!(matches!(
        cms::assemble(
            &attributes,
            SignatureAlgorithm::RsaPssSha256,
            &signature,
            &citizen.certificate.der,
            &fixture.chain()
        ),
        Err(CmsError::BadSignature(_))
    ));
    // A token over another signature is not added.
    let other_token: TimeStampToken = fixture.time_stamp(
        &fixture.assemble(
            citizen,
            SignatureScheme::RsaPkcs1v15,
            SignatureAlgorithm::RsaPkcs1v15Sha256,
            &cades::prepare(
                b"another file",
                &citizen.certificate.der,
                OffsetDateTime::now_utc(),
            )
            .expect("attributes"),
        ),
    );
    assert!(matches!(
        signed.with_signature_time_stamp(&other_token),
        Err(CmsError::TimeStampMismatch)
    ));
}

#[test]
fn hostile_input_is_an_error_never_a_panic() {
    let fixture = &*FIXTURE;
    let attributes = cades::prepare(
        CONTENT,
        &fixture.ec().certificate.der,
        OffsetDateTime::now_utc(),
    )
    .expect("attributes");
    let signed = fixture.assemble(
        fixture.ec(),
        SignatureScheme::EcdsaDer,
        SignatureAlgorithm::EcdsaP256Sha256,
        &attributes,
    );
    let stamped = signed
        .with_signature_time_stamp(&fixture.time_stamp(&signed))
        .expect("stamped");
    let der = stamped.to_der();
    let digest = cades::content_digest(CONTENT);
    for len in 0..der.len() {
        let truncated = &der[..len];
        assert!(
            cms::validate(truncated, &digest, None).is_err(),
            "{len} bytes"
        );
        assert!(SignedCms::from_der(truncated).is_err());
        assert!(TimeStampToken::from_der(truncated).is_err());
    }
    let attributes_der = attributes.to_der();
    for len in 0..attributes_der.len() {
        assert!(SignedAttributes::from_der(&attributes_der[..len]).is_err());
    }
    for garbage in [
        &b""[..],
        b"\x30",
        b"\x30\x80\x00\x00",
        b"\x30\x84\xff\xff\xff\xff",
        b"<html>not a signature</html>",
        &[0xff; 64],
    ] {
        assert!(matches!(
            cms::validate(garbage, &digest, None),
            Err(CmsError::Malformed(_))
        ));
    }
    // Every byte flipped in turn: an error or a report, never a panic; and a flip in the
    // signature value never passes.
    let signature = signed.signature_value().expect("a signature");
    let signature_at = der
        .windows(signature.len())
        .position(|window| window == signature.as_slice())
        .expect("the signature is in the DER");
    for index in 0..der.len() {
        let mut flipped = der.to_vec();
        flipped[index] ^= 0x41;
        let result = cms::validate(&flipped, &digest, Some(&fixture.anchors));
        if (signature_at..signature_at + signature.len()).contains(&index) {
            assert!(
                result.is_err() || result.is_ok_and(|report| !report.passed()),
                "byte {index}"
            );
        }
    }
}

/// `signed` decoded, changed by `change`, re-encoded.
fn rewrite(signed: &SignedCms, change: impl FnOnce(&mut SignedData)) -> Vec<u8> {
    let content_info = ContentInfo::from_der(signed.to_der()).expect("a ContentInfo");
    let mut signed_data: SignedData = content_info.content.decode_as().expect("a SignedData");
    change(&mut signed_data);
    ContentInfo {
        content_type: content_info.content_type,
        content: Any::encode_from(&signed_data).expect("encoded"),
    }
    .to_der()
    .expect("encoded")
}
