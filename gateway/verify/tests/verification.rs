//! The verification matrix: every case builds its PKI on the fly and asserts the documented
//! indication and sub-indication.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use kyso_adapter_core::HashAlgorithm;
use kyso_verify::{
    IdentifierKind, Indication, RevocationAnswer, RevocationEvidence, RevocationPolicy,
    RevocationSource, RevocationSourceKind, RevocationStatus, SignatureVerification, SignedDigest,
    SubIndication, SubjectIdentifier, TrustAnchors, Validation, VerificationReport, cache_key,
    validate_certificate, validate_path, verify_signed_digest, verify_signed_digests,
};
use rcgen::{CustomExtension, DnType, DnValue, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
use support::{
    Alg, Authority, CITIZEN, Pki, ca_params, cccd_params, citizen_params, digest, key, now,
    openssl_citizen, openssl_sign, sign_p256, sign_rsa_pkcs1, sign_rsa_pss, uid,
};
use time::{Duration, OffsetDateTime};

#[track_caller]
fn assert_outcome(report: &VerificationReport, sub_indication: Option<SubIndication>) {
    let indication = sub_indication.map_or(Indication::TotalPassed, SubIndication::indication);
    assert_eq!(
        (report.indication, report.sub_indication),
        (indication, sub_indication),
        "report: {report:#?}"
    );
    assert!(!report.message.is_empty());
}

fn check(pki: &Pki, certificate: &[u8]) -> VerificationReport {
    check_with(pki, certificate, &pki.validation())
}

fn check_with(pki: &Pki, certificate: &[u8], ctx: &Validation<'_>) -> VerificationReport {
    validate_certificate(certificate, &pki.chain(), CITIZEN, ctx)
}

/// Verifies one document signature with `certificate` over `digest`, made with `hash`.
fn verify(
    pki: &Pki,
    certificate: &[u8],
    hash_algorithm: HashAlgorithm,
    digest: &[u8],
    signature: &[u8],
) -> SignatureVerification {
    verify_signed_digest(
        certificate,
        &pki.chain(),
        Some(CITIZEN),
        SignedDigest {
            hash_algorithm,
            digest,
            signature,
        },
        &pki.validation(),
    )
}

fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(der))
}

// --- Good chains and document signatures ---------------------------------------------------

#[test]
fn p256_chain_with_ecdsa_signature_passes_in_both_encodings() {
    let pki = Pki::new(Alg::P256);
    let (leaf, key) = pki.citizen(Alg::P256);
    let report = check(&pki, &leaf);
    assert_outcome(&report, None);
    let path: Vec<_> = report
        .path
        .iter()
        .map(|c| c.sha256_fingerprint.clone())
        .collect();
    assert_eq!(
        path,
        [
            fingerprint(&leaf),
            fingerprint(&pki.issuing.der),
            fingerprint(&pki.root.der)
        ]
    );
    assert!(report.path[0].subject.contains("Nguyễn Văn An"));
    assert!(!report.path[0].serial_number.starts_with("00"));
    assert_eq!(report.signature_algorithm, None);

    let digest = digest("Đơn đề nghị cấp giấy phép xây dựng");
    let (der, raw) = sign_p256(&key, &digest);
    for signature in [&der, &raw] {
        let outcome = verify(&pki, &leaf, HashAlgorithm::Sha256, &digest, signature);
        assert_outcome(&outcome.report, None);
        assert_eq!(
            outcome.report.signature_algorithm.as_deref(),
            Some("ecdsa_p256_sha256")
        );
        assert_eq!(outcome.signature.map(|s| s.signature), Some(der.clone()));
    }
}

#[test]
fn rsa_2048_chain_with_pkcs1_and_pss_signatures_passes() {
    let pki = Pki::new(Alg::Rsa2048);
    let (leaf, key) = pki.citizen(Alg::Rsa2048);
    assert_outcome(&check(&pki, &leaf), None);
    let digest = digest("hồ sơ");
    let pkcs1 = sign_rsa_pkcs1(&key, &digest);
    let pss = sign_rsa_pss(&key, &digest);
    let signed = [
        SignedDigest {
            hash_algorithm: HashAlgorithm::Sha256,
            digest: &digest,
            signature: &pkcs1,
        },
        SignedDigest {
            hash_algorithm: HashAlgorithm::Sha256,
            digest: &digest,
            signature: &pss,
        },
    ];
    let outcomes = verify_signed_digests(
        &leaf,
        &pki.chain(),
        Some(CITIZEN),
        &signed,
        &pki.validation(),
    );
    let algorithms: Vec<_> = outcomes
        .iter()
        .map(|o| {
            assert_outcome(&o.report, None);
            o.report.signature_algorithm.clone()
        })
        .collect();
    assert_eq!(
        algorithms,
        [
            Some("rsa_pkcs1v15_sha256".to_owned()),
            Some("rsa_pss_sha256".to_owned())
        ]
    );
    assert_eq!(
        outcomes[0].signature.as_ref().map(|s| &s.signature),
        Some(&pkcs1)
    );
}

/// Every hash the protocol names, with each scheme, as openssl signs it: what the gateway
/// accepts is what an independent signer makes, and the scheme it reports is the one used.
#[test]
fn openssl_signatures_over_every_hash_and_scheme_pass() {
    use sha2::Digest as _;
    let hashes = [
        (
            HashAlgorithm::Sha256,
            "sha256",
            sha2::Sha256::digest(b"x").to_vec(),
        ),
        (
            HashAlgorithm::Sha384,
            "sha384",
            sha2::Sha384::digest(b"x").to_vec(),
        ),
        (
            HashAlgorithm::Sha512,
            "sha512",
            sha2::Sha512::digest(b"x").to_vec(),
        ),
    ];
    let rsa = Pki::new(Alg::Rsa2048);
    let (rsa_leaf, rsa_key) = rsa.citizen(Alg::Rsa2048);
    let ec = Pki::new(Alg::P256);
    let (ec_leaf, ec_key) = ec.citizen(Alg::P256);
    for (hash, name, digest) in &hashes {
        let md = format!("digest:{name}");
        let cases: [(&Pki, &[u8], Vec<u8>, &str); 4] = [
            (
                &rsa,
                &rsa_leaf,
                openssl_sign(&rsa_key, digest, &[&md]),
                "rsa_pkcs1v15",
            ),
            (
                &rsa,
                &rsa_leaf,
                openssl_sign(
                    &rsa_key,
                    digest,
                    &[&md, "rsa_padding_mode:pss", "rsa_pss_saltlen:0"],
                ),
                "rsa_pss",
            ),
            (
                &rsa,
                &rsa_leaf,
                openssl_sign(
                    &rsa_key,
                    digest,
                    &[&md, "rsa_padding_mode:pss", "rsa_pss_saltlen:max"],
                ),
                "rsa_pss",
            ),
            (
                &ec,
                &ec_leaf,
                openssl_sign(&ec_key, digest, &[&md]),
                "ecdsa_p256",
            ),
        ];
        for (pki, leaf, signature, scheme) in cases {
            let outcome = verify(pki, leaf, *hash, digest, &signature);
            assert_outcome(&outcome.report, None);
            assert_eq!(
                outcome.report.signature_algorithm,
                Some(format!("{scheme}_{name}")),
            );
            // Over another digest of the same hash, the same signature fails.
            let mut other = digest.clone();
            other[0] ^= 1;
            let outcome = verify(pki, leaf, *hash, &other, &signature);
            assert_outcome(&outcome.report, Some(SubIndication::SigCryptoFailure));
        }
    }
}

#[test]
fn tampered_or_foreign_signature_is_total_failed_sig_crypto_failure() {
    let pki = Pki::new(Alg::P256);
    let (leaf, key) = pki.citizen(Alg::P256);
    let digest = digest("original");
    let (mut tampered, _) = sign_p256(&key, &digest);
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let (other_document, _) = sign_p256(&key, &support::digest("another document"));
    for signature in [&tampered, &other_document] {
        let outcome = verify(&pki, &leaf, HashAlgorithm::Sha256, &digest, signature);
        assert_outcome(&outcome.report, Some(SubIndication::SigCryptoFailure));
        assert_eq!(outcome.signature, None);
        // The path was still built and reported.
        assert_eq!(outcome.report.path.len(), 3);
    }
    // A digest whose length does not fit its algorithm is a format failure, not truncated.
    let (good, _) = sign_p256(&key, &digest);
    let outcome = verify(&pki, &leaf, HashAlgorithm::Sha384, &digest, &good);
    assert_outcome(&outcome.report, Some(SubIndication::FormatFailure));
}

#[test]
fn tampered_rsa_signature_is_refused() {
    let pki = Pki::new(Alg::Rsa2048);
    let (leaf, key) = pki.citizen(Alg::Rsa2048);
    let digest = digest("original");
    let mut signature = sign_rsa_pss(&key, &digest);
    signature[10] ^= 0x40;
    let outcome = verify(&pki, &leaf, HashAlgorithm::Sha256, &digest, &signature);
    assert_outcome(&outcome.report, Some(SubIndication::SigCryptoFailure));
}

// --- Validity ----------------------------------------------------------------------------

#[test]
fn expired_signer_is_indeterminate_expired() {
    let pki = Pki::new(Alg::P256);
    let mut params = cccd_params();
    params.not_before = now() - Duration::days(2);
    params.not_after = now() - Duration::days(1);
    let (leaf, _) = pki.citizen_with(params, Alg::P256);
    let report = check(&pki, &leaf);
    assert_outcome(&report, Some(SubIndication::Expired));
    assert!(report.message.contains("signer"), "{}", report.message);
}

#[test]
fn not_yet_valid_signer_is_total_failed_not_yet_valid() {
    let pki = Pki::new(Alg::P256);
    let mut params = cccd_params();
    params.not_before = now() + Duration::days(1);
    params.not_after = now() + Duration::days(2);
    let (leaf, _) = pki.citizen_with(params, Alg::P256);
    assert_outcome(&check(&pki, &leaf), Some(SubIndication::NotYetValid));
}

#[test]
fn expired_intermediate_is_indeterminate_expired() {
    let mut params = ca_params("Kyso Test Issuing CA", Some(0));
    params.not_before = now() - Duration::days(30);
    params.not_after = now() - Duration::days(1);
    let pki = Pki::with_issuing(Alg::P256, params);
    let (leaf, _) = pki.citizen(Alg::P256);
    let report = check(&pki, &leaf);
    assert_outcome(&report, Some(SubIndication::Expired));
    assert!(
        report.message.contains("Kyso Test Issuing CA"),
        "{}",
        report.message
    );
    assert_eq!(report.path.len(), 3);
}

#[test]
fn the_validation_time_decides() {
    let pki = Pki::new(Alg::P256);
    let (leaf, _) = pki.citizen(Alg::P256);
    let at = now() + Duration::days(2);
    let report = validate_certificate(
        &leaf,
        &pki.chain(),
        CITIZEN,
        &Validation::new(&pki.anchors, at),
    );
    assert_outcome(&report, Some(SubIndication::Expired));
    assert_eq!(report.validation_time, at);
    // A CA certificate not yet valid at the validation time is out of bounds.
    let mut params = ca_params("Kyso Test Issuing CA", Some(0));
    params.not_before = now() + Duration::hours(1);
    let pki = Pki::with_issuing(Alg::P256, params);
    let (leaf, _) = pki.citizen(Alg::P256);
    let report = check(&pki, &leaf);
    assert_outcome(&report, Some(SubIndication::OutOfBoundsNoPoe));
}

// --- Path building -----------------------------------------------------------------------

#[test]
fn unknown_root_is_indeterminate_no_certificate_chain_found() {
    let pki = Pki::new(Alg::P256);
    let other = Pki::new(Alg::P256);
    let (leaf, _) = pki.citizen(Alg::P256);
    let report = validate_certificate(
        &leaf,
        &pki.chain(),
        CITIZEN,
        &Validation::new(&other.anchors, now()),
    );
    assert_outcome(&report, Some(SubIndication::NoCertificateChainFound));
    // As far as it was built: the signer and the intermediate the CA sent.
    assert_eq!(report.path.len(), 2);
}

#[test]
fn intermediate_missing_from_the_answer_is_found_in_the_trust_store() {
    let pki = Pki::new(Alg::P256);
    let (leaf, _) = pki.citizen(Alg::P256);
    // Root only, and the CA sent nothing: no path.
    assert_outcome(
        &validate_certificate(&leaf, &[], CITIZEN, &pki.validation()),
        Some(SubIndication::NoCertificateChainFound),
    );
    // The trust store also holds the intermediate.
    let anchors = TrustAnchors::from_pem(&format!("{}{}", pki.root.pem, pki.issuing.pem)).unwrap();
    let report = validate_certificate(&leaf, &[], CITIZEN, &Validation::new(&anchors, now()));
    assert_outcome(&report, None);
    assert_eq!(
        report.path.last().map(|c| &c.sha256_fingerprint),
        Some(&fingerprint(&pki.issuing.der))
    );
}

#[test]
fn several_roots_work_and_the_right_one_ends_the_path() {
    let national = Authority::root("Root CA Quốc gia (test)", Alg::P256);
    let pki = Pki::new(Alg::Rsa2048);
    let (leaf, _) = pki.citizen(Alg::P256);
    let anchors = TrustAnchors::from_pem(&format!("{}{}", national.pem, pki.root.pem)).unwrap();
    let report = validate_certificate(
        &leaf,
        &pki.chain(),
        CITIZEN,
        &Validation::new(&anchors, now()),
    );
    assert_outcome(&report, None);
    assert_eq!(
        report.path.last().map(|c| &c.sha256_fingerprint),
        Some(&fingerprint(&pki.root.der))
    );
}

#[test]
fn same_named_issuer_with_the_wrong_key_is_skipped_by_backtracking() {
    let pki = Pki::new(Alg::P256);
    let (leaf, _) = pki.citizen(Alg::P256);
    // An impostor: same name, signed by the same root, another key.
    let impostor = pki.root.intermediate("Kyso Test Issuing CA", Alg::P256);
    let chain = vec![impostor.der.clone(), pki.issuing.der.clone()];
    let report = validate_certificate(&leaf, &chain, CITIZEN, &pki.validation());
    assert_outcome(&report, None);
    assert_eq!(
        report.path[1].sha256_fingerprint,
        fingerprint(&pki.issuing.der)
    );
    // The impostor alone gives no path.
    let report = validate_certificate(
        &leaf,
        std::slice::from_ref(&impostor.der),
        CITIZEN,
        &pki.validation(),
    );
    assert_outcome(&report, Some(SubIndication::NoCertificateChainFound));
    assert!(
        report.message.contains("key did not sign"),
        "{}",
        report.message
    );
}

#[test]
fn names_are_compared_as_rfc_5280_says_not_as_bytes() {
    // The anchor names itself CN=PrintableString "KYSO  TEST ROOT"; the intermediate names its
    // issuer CN=UTF8String "kyso test root": the same name after RFC 4518 preparation. Same key.
    let root_key = key(Alg::P256);
    let mut anchor_params = ca_params("unused", None);
    anchor_params.distinguished_name = rcgen::DistinguishedName::new();
    anchor_params.distinguished_name.push(
        DnType::CommonName,
        DnValue::PrintableString("KYSO  TEST ROOT".try_into().unwrap()),
    );
    let anchor = Authority::self_signed(
        anchor_params,
        KeyPair::from_pem(&root_key.serialize_pem()).unwrap(),
    );
    let mut twin_params = ca_params("kyso test root", None);
    twin_params.distinguished_name = rcgen::DistinguishedName::new();
    twin_params.distinguished_name.push(
        DnType::CommonName,
        DnValue::Utf8String("kyso test root".into()),
    );
    let twin = Authority::self_signed(twin_params, root_key);
    let issuing = twin.intermediate("Kyso Test Issuing CA", Alg::P256);
    let key = key(Alg::P256);
    let leaf = issuing.issue(cccd_params(), &key);
    let anchors = anchor.anchors();
    let report = validate_certificate(
        &leaf,
        std::slice::from_ref(&issuing.der),
        CITIZEN,
        &Validation::new(&anchors, now()),
    );
    assert_outcome(&report, None);
    assert_eq!(report.path[2].sha256_fingerprint, fingerprint(&anchor.der));
}

// --- Constraints -------------------------------------------------------------------------

#[test]
fn ca_certificate_as_signer_is_sig_constraints_failure() {
    let pki = Pki::new(Alg::P256);
    let mut params = ca_params("Nguyễn Văn An", None);
    params
        .distinguished_name
        .push(uid(), format!("CCCD:{CITIZEN}"));
    params.key_usages.push(KeyUsagePurpose::DigitalSignature);
    // The issuing CA has pathLen 0, so use the root as issuer to isolate the signer check.
    let key = key(Alg::P256);
    let leaf = pki.root.issue(params, &key);
    let report = validate_certificate(&leaf, &[], CITIZEN, &pki.validation());
    assert_outcome(&report, Some(SubIndication::SigConstraintsFailure));
    assert!(
        report.message.contains("CA certificate"),
        "{}",
        report.message
    );
}

#[test]
fn signer_without_signing_key_usage_is_sig_constraints_failure() {
    let pki = Pki::new(Alg::P256);
    let mut params = cccd_params();
    params.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    let (leaf, _) = pki.citizen_with(params, Alg::P256);
    assert_outcome(
        &check(&pki, &leaf),
        Some(SubIndication::SigConstraintsFailure),
    );
    let mut params = cccd_params();
    params.key_usages = Vec::new();
    let (leaf, _) = pki.citizen_with(params, Alg::P256);
    assert_outcome(
        &check(&pki, &leaf),
        Some(SubIndication::SigConstraintsFailure),
    );
    // nonRepudiation alone is enough.
    let mut params = cccd_params();
    params.key_usages = vec![KeyUsagePurpose::ContentCommitment];
    let (leaf, _) = pki.citizen_with(params, Alg::P256);
    assert_outcome(&check(&pki, &leaf), None);
}

#[test]
fn extended_key_usage_must_allow_document_signing() {
    let pki = Pki::new(Alg::P256);
    let with_eku = |purposes: Vec<ExtendedKeyUsagePurpose>| {
        let mut params = cccd_params();
        params.extended_key_usages = purposes;
        check(&pki, &pki.citizen_with(params, Alg::P256).0)
    };
    assert_outcome(
        &with_eku(vec![ExtendedKeyUsagePurpose::ServerAuth]),
        Some(SubIndication::SigConstraintsFailure),
    );
    assert_outcome(
        &with_eku(vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ]),
        Some(SubIndication::SigConstraintsFailure),
    );
    for accepted in [
        vec![ExtendedKeyUsagePurpose::Other(vec![
            1, 3, 6, 1, 5, 5, 7, 3, 36,
        ])],
        vec![ExtendedKeyUsagePurpose::EmailProtection],
        vec![ExtendedKeyUsagePurpose::Other(vec![
            1, 2, 840, 113_583, 1, 1, 5,
        ])],
        vec![ExtendedKeyUsagePurpose::Any],
        vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::EmailProtection,
        ],
    ] {
        assert_outcome(&with_eku(accepted), None);
    }
}

#[test]
fn path_length_constraint_exceeded_is_chain_constraints_failure() {
    let root = Authority::root("Kyso Test Root CA", Alg::P256);
    // pathLen 0 under which another CA is placed.
    let policy = root.subordinate(ca_params("Kyso Policy CA", Some(0)), key(Alg::P256));
    let issuing = policy.subordinate(ca_params("Kyso Issuing CA", Some(0)), key(Alg::P256));
    let key = key(Alg::P256);
    let leaf = issuing.issue(cccd_params(), &key);
    let anchors = root.anchors();
    let chain = vec![issuing.der, policy.der];
    let report = validate_certificate(&leaf, &chain, CITIZEN, &Validation::new(&anchors, now()));
    assert_outcome(&report, Some(SubIndication::ChainConstraintsFailure));
    assert!(
        report.message.contains("Kyso Policy CA"),
        "{}",
        report.message
    );
    assert_eq!(report.path.len(), 4);
    // With pathLen 1 the same shape passes.
    let policy = root.subordinate(ca_params("Kyso Policy CA", Some(1)), self::key(Alg::P256));
    let issuing = policy.subordinate(ca_params("Kyso Issuing CA", Some(0)), self::key(Alg::P256));
    let leaf = issuing.issue(cccd_params(), &key);
    let chain = vec![issuing.der, policy.der];
    assert_outcome(
        &validate_certificate(&leaf, &chain, CITIZEN, &Validation::new(&anchors, now())),
        None,
    );
}

#[test]
fn ca_without_cert_sign_usage_is_chain_constraints_failure() {
    let mut params = ca_params("Kyso Issuing CA", Some(0));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let pki = Pki::with_issuing(Alg::P256, params);
    let (leaf, _) = pki.citizen(Alg::P256);
    let report = check(&pki, &leaf);
    assert_outcome(&report, Some(SubIndication::ChainConstraintsFailure));
}

#[test]
fn unknown_critical_extension_is_chain_constraints_failure() {
    let pki = Pki::new(Alg::P256);
    let mut params = cccd_params();
    // id-pe-acmeIdentifier (RFC 8737), which rcgen writes critical: unknown to kyso.
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(&[0u8; 32])];
    let (leaf, _) = pki.citizen_with(params, Alg::P256);
    let report = check(&pki, &leaf);
    assert_outcome(&report, Some(SubIndication::ChainConstraintsFailure));
    assert!(
        report.message.contains("1.3.6.1.5.5.7.1.31"),
        "{}",
        report.message
    );
    // The same extension non-critical is ignored.
    let mut params = cccd_params();
    let mut extension = CustomExtension::new_acme_identifier(&[0u8; 32]);
    extension.set_criticality(false);
    params.custom_extensions = vec![extension];
    assert_outcome(&check(&pki, &pki.citizen_with(params, Alg::P256).0), None);
}

// --- Algorithm policy (fixtures rcgen will not make come from openssl) ---------------------

#[test]
fn sha1_signed_certificate_is_crypto_constraints_failure() {
    let pki = Pki::new(Alg::Rsa2048);
    // The same recipe with SHA-256 passes: what fails below is SHA-1 alone.
    let control = openssl_citizen(&pki.issuing, "rsa:2048", "sha256");
    assert_outcome(&check(&pki, &control), None);
    let leaf = openssl_citizen(&pki.issuing, "rsa:2048", "sha1");
    let report = check(&pki, &leaf);
    assert_outcome(&report, Some(SubIndication::CryptoConstraintsFailure));
    assert!(report.message.contains("sha1"), "{}", report.message);
}

#[test]
fn rsa_1024_key_is_crypto_constraints_failure() {
    let pki = Pki::new(Alg::P256);
    let control = openssl_citizen(&pki.issuing, "rsa:2048", "sha256");
    assert_outcome(&check(&pki, &control), None);
    let leaf = openssl_citizen(&pki.issuing, "rsa:1024", "sha256");
    let report = check(&pki, &leaf);
    assert_outcome(&report, Some(SubIndication::CryptoConstraintsFailure));
    assert!(report.message.contains("1024"), "{}", report.message);
    // And no signature is verified with it.
    let digest = digest("x");
    let outcome = verify(&pki, &leaf, HashAlgorithm::Sha256, &digest, &[0u8; 128]);
    assert_outcome(
        &outcome.report,
        Some(SubIndication::CryptoConstraintsFailure),
    );
}

// --- Citizen -----------------------------------------------------------------------------

#[test]
fn another_citizens_certificate_is_total_failed_user_mismatch() {
    let pki = Pki::new(Alg::P256);
    let (leaf, _) = pki.citizen_with(citizen_params("CCCD:079200000999"), Alg::P256);
    assert_outcome(&check(&pki, &leaf), Some(SubIndication::UserMismatch));
}

#[test]
fn tax_code_or_passport_with_the_same_digits_is_not_the_citizen() {
    let pki = Pki::new(Alg::P256);
    for value in [
        format!("MST:{CITIZEN}"),
        format!("HC:{CITIZEN}"),
        format!("PID:{CITIZEN}"),
    ] {
        let (leaf, _) = pki.citizen_with(citizen_params(&value), Alg::P256);
        assert_outcome(&check(&pki, &leaf), Some(SubIndication::UserMismatch));
    }
}

#[test]
fn personal_id_labels_are_accepted_in_uid_or_serial_number() {
    let pki = Pki::new(Alg::P256);
    for value in [
        format!("CMND:{CITIZEN}"),
        format!("CCCD: {CITIZEN}"),
        format!("cccd:{CITIZEN}"),
        CITIZEN.to_owned(),
    ] {
        let (leaf, _) = pki.citizen_with(citizen_params(&value), Alg::P256);
        assert_outcome(&check(&pki, &leaf), None);
    }
    let mut params = citizen_params(&format!("MST:{CITIZEN}"));
    params
        .distinguished_name
        .push(support::serial_number(), format!("CMND:{CITIZEN}"));
    assert_outcome(&check(&pki, &pki.citizen_with(params, Alg::P256).0), None);
}

#[test]
fn subject_identifiers_parse_by_label() {
    let parsed = |value: &str| {
        let id = SubjectIdentifier::parse(value);
        (id.kind, id.number)
    };
    assert_eq!(
        parsed("CCCD:001099000001"),
        (IdentifierKind::PersonalId, CITIZEN.into())
    );
    assert_eq!(
        parsed(" cmnd : 012345678 "),
        (IdentifierKind::PersonalId, "012345678".into())
    );
    assert_eq!(
        parsed("001099000001"),
        (IdentifierKind::PersonalId, CITIZEN.into())
    );
    assert_eq!(
        parsed("MST:0101234567-001"),
        (IdentifierKind::TaxCode, "0101234567-001".into())
    );
    assert_eq!(
        parsed("HC:B1234567"),
        (IdentifierKind::Passport, "B1234567".into())
    );
    assert_eq!(parsed("B1234567").0, IdentifierKind::Other);
    assert_eq!(parsed("XYZ:001099000001").0, IdentifierKind::Other);
}

#[test]
fn a_total_failed_path_outranks_the_citizen_check() {
    let pki = Pki::new(Alg::P256);
    let mut params = citizen_params("CCCD:079200000999");
    params.not_before = now() + Duration::days(1);
    params.not_after = now() + Duration::days(2);
    let (leaf, _) = pki.citizen_with(params, Alg::P256);
    assert_outcome(&check(&pki, &leaf), Some(SubIndication::NotYetValid));
}

// --- Revocation --------------------------------------------------------------------------

/// Answers from a fixed table: `revoked` (by certificate DER) at the given time, else good.
struct Table {
    revoked: Vec<(Vec<u8>, OffsetDateTime)>,
    calls: AtomicUsize,
}

impl RevocationSource for Table {
    fn status(&self, certificate: &[u8], _issuer: &[u8], at: OffsetDateTime) -> RevocationAnswer {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let status = match self.revoked.iter().find(|(der, _)| der == certificate) {
            Some((_, time)) => RevocationStatus::Revoked {
                time: *time,
                reason: Some("keyCompromise".into()),
            },
            None => RevocationStatus::Good,
        };
        RevocationAnswer::Evidence(RevocationEvidence {
            serial_number: "01".into(),
            source: RevocationSourceKind::Ocsp,
            produced_at: Some(at),
            this_update: at,
            next_update: Some(at + Duration::hours(4)),
            responder: "CN=Test OCSP".into(),
            status,
        })
    }
}

fn table(revoked: Vec<(Vec<u8>, OffsetDateTime)>) -> Table {
    Table {
        revoked,
        calls: AtomicUsize::new(0),
    }
}

#[test]
fn revocation_off_asks_nothing_and_soft_or_required_without_data_is_try_later() {
    let pki = Pki::new(Alg::P256);
    let (leaf, _) = pki.citizen(Alg::P256);
    let source = table(Vec::new());
    let off = pki
        .validation()
        .with_revocation(&source, RevocationPolicy::Off);
    let report = check_with(&pki, &leaf, &off);
    assert_outcome(&report, None);
    assert_eq!(source.calls.load(Ordering::Relaxed), 0);
    assert!(report.revocation.is_empty());

    for policy in [RevocationPolicy::Soft, RevocationPolicy::Required] {
        let ctx = pki
            .validation()
            .with_revocation(&kyso_verify::NoRevocationData, policy);
        let report = check_with(&pki, &leaf, &ctx);
        assert_outcome(&report, Some(SubIndication::TryLater));
        assert_eq!(policy.accepts(&report), policy == RevocationPolicy::Soft);
    }
}

#[test]
fn good_status_of_every_certificate_but_the_anchor_passes_with_evidence() {
    let pki = Pki::new(Alg::P256);
    let (leaf, _) = pki.citizen(Alg::P256);
    let source = table(Vec::new());
    let ctx = pki
        .validation()
        .with_revocation(&source, RevocationPolicy::Required);
    let report = check_with(&pki, &leaf, &ctx);
    assert_outcome(&report, None);
    assert_eq!(source.calls.load(Ordering::Relaxed), 2);
    assert_eq!(report.revocation.len(), 2);
    assert!(RevocationPolicy::Required.accepts(&report));
}

#[test]
fn signer_revoked_before_the_validation_time_is_total_failed_revoked() {
    let pki = Pki::new(Alg::P256);
    let (leaf, _) = pki.citizen(Alg::P256);
    let source = table(vec![(leaf.clone(), now() - Duration::minutes(5))]);
    let ctx = pki
        .validation()
        .with_revocation(&source, RevocationPolicy::Required);
    let report = check_with(&pki, &leaf, &ctx);
    assert_outcome(&report, Some(SubIndication::Revoked));
    assert!(matches!(
        report.revocation[0].status,
        RevocationStatus::Revoked { .. }
    ));
}

#[test]
fn signer_revoked_after_the_validation_time_still_passes() {
    let pki = Pki::new(Alg::P256);
    let (leaf, _) = pki.citizen(Alg::P256);
    let source = table(vec![(leaf.clone(), now() + Duration::minutes(5))]);
    let ctx = pki
        .validation()
        .with_revocation(&source, RevocationPolicy::Required);
    let report = check_with(&pki, &leaf, &ctx);
    assert_outcome(&report, None);
    assert!(matches!(
        report.revocation[0].status,
        RevocationStatus::Revoked { .. }
    ));
}

#[test]
fn revoked_intermediate_is_indeterminate_revoked_ca_no_poe() {
    let pki = Pki::new(Alg::P256);
    let (leaf, _) = pki.citizen(Alg::P256);
    let source = table(vec![(pki.issuing.der.clone(), now() - Duration::days(1))]);
    let ctx = pki
        .validation()
        .with_revocation(&source, RevocationPolicy::Soft);
    let report = check_with(&pki, &leaf, &ctx);
    assert_outcome(&report, Some(SubIndication::RevokedCaNoPoe));
    assert!(!RevocationPolicy::Soft.accepts(&report));
}

// --- Report and caching ------------------------------------------------------------------

#[test]
fn report_serializes_in_dss_vocabulary_and_round_trips() {
    let pki = Pki::new(Alg::P256);
    let (leaf, key) = pki.citizen(Alg::P256);
    let digest = digest("x");
    let (mut signature, _) = sign_p256(&key, &digest);
    let last = signature.len() - 1;
    signature[last] ^= 1;
    let report = verify(&pki, &leaf, HashAlgorithm::Sha256, &digest, &signature).report;
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["indication"], "total_failed");
    assert_eq!(json["sub_indication"], "sig_crypto_failure");
    assert_eq!(json["path"].as_array().map(Vec::len), Some(3));
    let back: VerificationReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);

    let source = table(Vec::new());
    let ctx = pki
        .validation()
        .with_revocation(&source, RevocationPolicy::Required);
    let report = check_with(&pki, &leaf, &ctx);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["indication"], "total_passed");
    assert_eq!(json["revocation"][0]["source"], "ocsp");
    assert_eq!(json["revocation"][0]["status"], "good");
    let back: VerificationReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
}

#[test]
fn cache_key_and_path_validity() {
    let pki = Pki::new(Alg::P256);
    let (leaf, _) = pki.citizen(Alg::P256);
    let other = Pki::new(Alg::P256);
    let key = cache_key(&leaf, &pki.chain(), &pki.anchors);
    assert_eq!(key, cache_key(&leaf, &pki.chain(), &pki.anchors));
    assert_ne!(key, cache_key(&leaf, &[], &pki.anchors));
    assert_ne!(key, cache_key(&leaf, &pki.chain(), &other.anchors));
    let report = validate_path(&leaf, &pki.chain(), &pki.validation());
    assert_outcome(&report, None);
    let (from, to) = report.path_validity().unwrap();
    // The leaf is the shortest-lived certificate of the path.
    assert_eq!(
        (from, to),
        (
            report.path[0].not_before.max(report.path[1].not_before),
            report.path[0].not_after
        )
    );
}

#[test]
fn garbage_is_a_format_failure_and_trust_anchors_need_a_certificate() {
    let pki = Pki::new(Alg::P256);
    let report = validate_certificate(
        b"not a certificate",
        &pki.chain(),
        CITIZEN,
        &pki.validation(),
    );
    assert_outcome(&report, Some(SubIndication::FormatFailure));
    assert!(report.path.is_empty());
    assert!(TrustAnchors::from_pem("").is_err());
    assert!(
        TrustAnchors::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .is_err()
    );
}

#[test]
fn signer_key_and_facts_read_the_certificate_once() {
    let pki = Pki::new(Alg::P256);
    let (leaf, key) = pki.citizen(Alg::P256);
    let digest = digest("x");
    let (_, raw) = sign_p256(&key, &digest);
    let signer = kyso_verify::SignerKey::from_certificate(&leaf).unwrap();
    let checked = signer.verify(HashAlgorithm::Sha256, &digest, &raw).unwrap();
    assert_eq!(checked.algorithm, "ecdsa_p256_sha256");
    assert_eq!(
        signer.verify(HashAlgorithm::Sha256, &digest[..31], &raw),
        Err(kyso_verify::VerifyError::DigestLength)
    );
    assert_eq!(
        kyso_verify::SignerKey::from_certificate(b"garbage").unwrap_err(),
        kyso_verify::VerifyError::MalformedCertificate
    );
    let facts = kyso_verify::describe(&leaf).unwrap();
    assert_eq!(
        facts.key_algorithm,
        kyso_adapter_core::KeyAlgorithm::EcdsaP256
    );
}
