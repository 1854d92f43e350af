//! The gateway's invariant costs, each beside its bare primitive.
//!
//! Every group has two functions on the same inputs:
//! * `baseline`: the bare primitive on pre-parsed keys and certificates, the one the gateway
//!   uses (AWS-LC's `ParsedPublicKey::verify_digest_sig` for PKCS#1 v1.5 and ECDSA, rsa
//!   `RsaPublicKey::verify` with `Pss`, x509-parser `verify_signature` for each link of the
//!   chain);
//! * `gateway`: what the gateway runs on every returned signature
//!   (`kyso_gateway::verify::SignerKey::from_certificate` then `SignerKey::verify`, and
//!   `kyso_gateway::verify::validate_certificate`), from DER bytes.
//!
//! The `full_*` groups are a whole verification as the gateway makes it on a CA's answer:
//! path, revocation (answers already gathered, as the gateway's caches hold them until
//! nextUpdate), citizen and signature, beside the bare signature primitive. `full_cached_*`
//! reuses a validated path ([`CertifiedPath`], what the gateway caches per certificate);
//! `full_uncached_*` builds the path from DER every time.
//!
//! The `check_certificate_*` groups keep the name of the function `validate_certificate`
//! replaced, so that criterion's saved baselines and name filters still apply.
//!
//! After a measuring run, a table of `gateway / baseline` ratios (of criterion's estimates),
//! and of verifications per second, is printed. Three `context_*` groups have no baseline: what the CA side pays per signature (which
//! explains the load harness's signing figures), what parsing a certificate and its key costs
//! (where the gateway's overhead goes), and each primitive in the pure-Rust crates beside
//! AWS-LC (why the gateway checks with AWS-LC). `cargo test -p kyso-benches --benches` runs each
//! function once, as a smoke test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: a failure should abort loudly
#![allow(clippy::print_stdout)] // the ratio table is this program's output, next to criterion's

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_lc_rs::signature::{self as lc, ParsedPublicKey};
use criterion::Criterion;
use kyso_adapter_core::HashAlgorithm;
use kyso_benches::estimates::{fresh_estimate_ns, output_directory};
use kyso_benches::pki::{KeyKind, Scheme, TestPki, USER_ID};
use kyso_gateway::verify::{
    self, CertifiedPath, GatheredRevocation, RevocationAnswer, RevocationEvidence,
    RevocationPolicy, RevocationSourceKind, RevocationStatus, SignedDigest, SignerKey,
    TrustAnchors, Validation,
};
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer as _, X509Certificate};

/// The groups, in the order they run and are reported: `(group, what the gateway function is)`.
const GROUPS: [(&str, &str); 9] = [
    (
        "verify_rsa2048_pkcs1v15_sha256",
        "SignerKey::verify, RSA-2048 PKCS#1 v1.5",
    ),
    (
        "verify_rsa2048_pss_sha256",
        "SignerKey::verify, RSA-2048 PSS",
    ),
    (
        "verify_ecdsa_p256_der_sha256",
        "SignerKey::verify, ECDSA P-256 DER",
    ),
    (
        "check_certificate_rsa2048_chain",
        "validate_certificate, RSA-2048 CAs",
    ),
    (
        "check_certificate_p256_chain",
        "validate_certificate, P-256 CAs",
    ),
    (
        "full_cached_path_rsa2048",
        "full verification, cached path, RSA-2048",
    ),
    (
        "full_cached_path_p256",
        "full verification, cached path, P-256",
    ),
    (
        "full_uncached_path_rsa2048",
        "full verification, path built, RSA-2048",
    ),
    (
        "full_uncached_path_p256",
        "full verification, path built, P-256",
    ),
];

/// Two PKIs: RSA-2048 CAs (as Vietnamese CAs have) with an RSA citizen, and P-256 CAs (as the
/// VNPT simulator has) with a P-256 citizen; one digest and its signatures.
struct Fixtures {
    rsa: TestPki,
    ec: TestPki,
    digest: Vec<u8>,
    pkcs1v15: Vec<u8>,
    pss: Vec<u8>,
    ecdsa_der: Vec<u8>,
    at: OffsetDateTime,
}

impl Fixtures {
    fn new() -> Self {
        let rsa = TestPki::generate(KeyKind::Rsa2048, KeyKind::Rsa2048).unwrap();
        let ec = TestPki::generate(KeyKind::P256, KeyKind::P256).unwrap();
        let digest = Sha256::digest(b"kyso bench: a document a portal wants signed").to_vec();
        Self {
            pkcs1v15: rsa.sign(Scheme::RsaPkcs1v15Sha256, &digest).unwrap(),
            pss: rsa.sign(Scheme::RsaPssSha256, &digest).unwrap(),
            ecdsa_der: ec.sign(Scheme::EcdsaP256Der, &digest).unwrap(),
            rsa,
            ec,
            digest,
            at: OffsetDateTime::now_utc(),
        }
    }
}

fn parse(der: &[u8]) -> X509Certificate<'_> {
    let (rest, certificate) = X509Certificate::from_der(der).unwrap();
    assert!(rest.is_empty());
    certificate
}

/// The citizens' keys and the ECDSA signature, parsed once: what the baselines start from.
struct BareKeys {
    /// For PSS, which AWS-LC checks with one salt length only.
    rsa_key: RsaPublicKey,
    rsa_lc: ParsedPublicKey,
    ec_lc: ParsedPublicKey,
    digest_lc: aws_lc_rs::digest::Digest,
}

impl BareKeys {
    fn of(f: &Fixtures) -> Self {
        let rsa_spki = parse(&f.rsa.citizen_der).public_key().raw.to_vec();
        let ec_spki = parse(&f.ec.citizen_der).public_key().raw.to_vec();
        Self {
            rsa_key: RsaPublicKey::from_public_key_der(&rsa_spki).unwrap(),
            rsa_lc: ParsedPublicKey::new(&lc::RSA_PKCS1_2048_8192_SHA256, rsa_spki).unwrap(),
            ec_lc: ParsedPublicKey::new(&lc::ECDSA_P256_SHA256_ASN1, ec_spki).unwrap(),
            digest_lc: aws_lc_rs::digest::Digest::import_less_safe(
                &f.digest,
                &aws_lc_rs::digest::SHA256,
            )
            .unwrap(),
        }
    }

    fn pkcs1v15(&self, signature: &[u8]) -> bool {
        self.rsa_lc
            .verify_digest_sig(black_box(&self.digest_lc), black_box(signature))
            .is_ok()
    }

    fn ecdsa(&self, signature: &[u8]) -> bool {
        self.ec_lc
            .verify_digest_sig(black_box(&self.digest_lc), black_box(signature))
            .is_ok()
    }
}

fn bench_signer_key_verify(c: &mut Criterion, f: &Fixtures) {
    let bare = BareKeys::of(f);

    // From the certificate's DER on every call: parsing the certificate and its key is part of
    // what is measured.
    let gateway = |certificate: &[u8], signature: &[u8]| {
        SignerKey::from_certificate(black_box(certificate)).and_then(|key| {
            key.verify(
                HashAlgorithm::Sha256,
                black_box(&f.digest),
                black_box(signature),
            )
        })
    };
    // Both sides must accept before either is timed: the benches measure the success path.
    for (certificate, signature, algorithm) in [
        (&f.rsa.citizen_der, &f.pkcs1v15, "rsa_pkcs1v15_sha256"),
        (&f.rsa.citizen_der, &f.pss, "rsa_pss_sha256"),
        (&f.ec.citizen_der, &f.ecdsa_der, "ecdsa_p256_sha256"),
    ] {
        assert_eq!(
            gateway(certificate, signature).unwrap().algorithm,
            algorithm
        );
    }
    assert!(bare.pkcs1v15(&f.pkcs1v15) && bare.ecdsa(&f.ecdsa_der));
    bare.rsa_key
        .verify(Pss::<Sha256>::new(), &f.digest, &f.pss)
        .unwrap();

    let mut group = c.benchmark_group(GROUPS[0].0);
    group.bench_function("baseline", |b| b.iter(|| bare.pkcs1v15(&f.pkcs1v15)));
    group.bench_function("gateway", |b| {
        b.iter(|| gateway(&f.rsa.citizen_der, &f.pkcs1v15));
    });
    group.finish();

    let mut group = c.benchmark_group(GROUPS[1].0);
    group.bench_function("baseline", |b| {
        b.iter(|| {
            bare.rsa_key.verify(
                Pss::<Sha256>::new(),
                black_box(&f.digest),
                black_box(&f.pss),
            )
        });
    });
    group.bench_function("gateway", |b| {
        b.iter(|| gateway(&f.rsa.citizen_der, &f.pss));
    });
    group.finish();

    let mut group = c.benchmark_group(GROUPS[2].0);
    group.bench_function("baseline", |b| b.iter(|| bare.ecdsa(&f.ecdsa_der)));
    group.bench_function("gateway", |b| {
        b.iter(|| gateway(&f.ec.citizen_der, &f.ecdsa_der));
    });
    group.finish();
}

/// Not the gateway's: what the CA side pays per signature (the simulator signs with these
/// crates when a status poll finds a transaction approved). It explains the load harness's
/// signing figures, where the simulator's single worker does this work.
fn bench_ca_sign(c: &mut Criterion, f: &Fixtures) {
    let mut group = c.benchmark_group("context_ca_sign");
    for (name, pki, scheme) in [
        ("rsa2048_pkcs1v15_sha256", &f.rsa, Scheme::RsaPkcs1v15Sha256),
        ("rsa2048_pss_sha256", &f.rsa, Scheme::RsaPssSha256),
        ("ecdsa_p256_sha256", &f.ec, Scheme::EcdsaP256Der),
    ] {
        group.bench_function(name, |b| b.iter(|| pki.sign(scheme, black_box(&f.digest))));
    }
    group.finish();
}

/// Not a comparison the ratio table makes: each primitive of the pure-Rust crates (the
/// gateway's until AWS-LC replaced them for PKCS#1 v1.5 and ECDSA) beside AWS-LC's, on
/// pre-parsed keys.
fn bench_primitives(c: &mut Criterion, f: &Fixtures) {
    let bare = BareKeys::of(f);
    let rsa_key = &bare.rsa_key;
    let ec_key =
        p256::ecdsa::VerifyingKey::from_public_key_der(parse(&f.ec.citizen_der).public_key().raw)
            .unwrap();
    let ec_signature = p256::ecdsa::Signature::from_der(&f.ecdsa_der).unwrap();
    let mut group = c.benchmark_group("context_primitives");
    group.bench_function("rsa2048_pkcs1v15_rust", |b| {
        b.iter(|| {
            rsa_key
                .verify(
                    Pkcs1v15Sign::new::<Sha256>(),
                    black_box(&f.digest),
                    black_box(&f.pkcs1v15),
                )
                .is_ok()
        });
    });
    group.bench_function("rsa2048_pkcs1v15_aws_lc", |b| {
        b.iter(|| bare.pkcs1v15(&f.pkcs1v15));
    });
    group.bench_function("ecdsa_p256_rust", |b| {
        b.iter(|| {
            ec_key
                .verify_prehash(black_box(&f.digest), black_box(&ec_signature))
                .is_ok()
        });
    });
    group.bench_function("ecdsa_p256_aws_lc", |b| b.iter(|| bare.ecdsa(&f.ecdsa_der)));
    group.finish();
}

/// Not a comparison: the parsing `SignerKey::from_certificate` does before the primitive, step by
/// step.
fn bench_parse(c: &mut Criterion, f: &Fixtures) {
    let rsa_spki = parse(&f.rsa.citizen_der).public_key().raw.to_vec();
    let ec_spki = parse(&f.ec.citizen_der).public_key().raw.to_vec();
    let mut group = c.benchmark_group("context_parse");
    group.bench_function("x509_certificate_rsa2048", |b| {
        b.iter(|| X509Certificate::from_der(black_box(&f.rsa.citizen_der)).is_ok());
    });
    group.bench_function("rsa2048_public_key_from_spki", |b| {
        b.iter(|| RsaPublicKey::from_public_key_der(black_box(&rsa_spki)));
    });
    group.bench_function("p256_public_key_from_spki", |b| {
        b.iter(|| p256::ecdsa::VerifyingKey::from_public_key_der(black_box(&ec_spki)));
    });
    group.finish();
}

fn bench_validate_certificate(c: &mut Criterion, f: &Fixtures) {
    for (group_name, pki) in [(GROUPS[3].0, &f.rsa), (GROUPS[4].0, &f.ec)] {
        let anchors = TrustAnchors::from_pem(&pki.root_pem).unwrap();
        let chain = vec![pki.issuing_der.clone()];
        let (citizen, issuing, root) = (
            parse(&pki.citizen_der),
            parse(&pki.issuing_der),
            parse(&pki.root_der),
        );
        // The baseline: the two signature checks of the path, on parsed certificates.
        let links = || {
            citizen.verify_signature(Some(issuing.public_key()))?;
            issuing.verify_signature(Some(root.public_key()))
        };
        let validation = Validation::new(&anchors, f.at);
        let gateway = || {
            verify::validate_certificate(
                black_box(&pki.citizen_der),
                black_box(&chain),
                USER_ID,
                &validation,
            )
        };
        links().unwrap();
        let report = gateway();
        assert!(
            report.passed(),
            "{:?}: {}",
            report.sub_indication,
            report.message
        );

        let mut group = c.benchmark_group(group_name);
        group.bench_function("baseline", |b| b.iter(&links));
        group.bench_function("gateway", |b| b.iter(&gateway));
        group.finish();
    }
}

/// `good` answers about every certificate of `path` but the anchor, as the gateway's caches
/// hold them once fetched and checked.
fn gathered_good(path: &CertifiedPath, at: OffsetDateTime) -> GatheredRevocation {
    let mut gathered = GatheredRevocation::default();
    for request in path.revocation_requests() {
        gathered.insert(
            request.certificate,
            RevocationAnswer::Evidence(RevocationEvidence {
                serial_number: String::new(),
                source: RevocationSourceKind::Ocsp,
                produced_at: Some(at),
                this_update: at,
                next_update: Some(at + time::Duration::hours(1)),
                responder: "bench".into(),
                status: RevocationStatus::Good,
            }),
        );
    }
    gathered
}

/// One PKI's full-verification groups: its PKI, the citizen's signature, the bare primitive
/// and the indexes in [`GROUPS`] of its cached and uncached groups.
type FullCase<'a> = (&'a TestPki, &'a Vec<u8>, &'a dyn Fn() -> bool, [usize; 2]);

fn bench_full_verification(c: &mut Criterion, f: &Fixtures) {
    let bare = BareKeys::of(f);
    // The bare primitive on a pre-parsed key: what a verification cannot cost less than.
    let rsa_primitive = || bare.pkcs1v15(&f.pkcs1v15);
    let ec_primitive = || bare.ecdsa(&f.ecdsa_der);
    assert!(rsa_primitive() && ec_primitive());

    let cases: [FullCase<'_>; 2] = [
        (&f.rsa, &f.pkcs1v15, &rsa_primitive, [5, 7]),
        (&f.ec, &f.ecdsa_der, &ec_primitive, [6, 8]),
    ];
    for (pki, signature, primitive, [cached_group, uncached_group]) in cases {
        let anchors = TrustAnchors::from_pem(&pki.root_pem).unwrap();
        let chain = vec![pki.issuing_der.clone()];
        let path = CertifiedPath::build(&pki.citizen_der, &chain, &anchors, f.at);
        let gathered = gathered_good(&path, f.at);
        let ctx =
            Validation::new(&anchors, f.at).with_revocation(&gathered, RevocationPolicy::Required);
        let signed = [SignedDigest {
            hash_algorithm: HashAlgorithm::Sha256,
            digest: &f.digest,
            signature,
        }];
        let cached = || path.verify_digests(Some(USER_ID), black_box(&signed), &ctx);
        let uncached = || {
            verify::verify_signed_digests(
                black_box(&pki.citizen_der),
                black_box(&chain),
                Some(USER_ID),
                &signed,
                &ctx,
            )
        };
        for outcome in [cached(), uncached()] {
            let report = &outcome[0].report;
            assert!(report.passed(), "{}", report.message);
            assert_eq!(report.revocation.len(), 2, "revocation was judged");
        }
        for (group_index, gateway) in [
            (
                cached_group,
                &cached as &dyn Fn() -> Vec<verify::SignatureVerification>,
            ),
            (uncached_group, &uncached),
        ] {
            let mut group = c.benchmark_group(GROUPS[group_index].0);
            group.bench_function("baseline", |b| b.iter(primitive));
            group.bench_function("gateway", |b| b.iter(gateway));
            group.finish();
        }
    }
}

fn print_ratios(directory: &Path, since: SystemTime) {
    let rows: Vec<_> = GROUPS
        .iter()
        .filter_map(|(group, label)| {
            let baseline = fresh_estimate_ns(directory, group, "baseline", since)?;
            let gateway = fresh_estimate_ns(directory, group, "gateway", since)?;
            Some((*label, baseline, gateway))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    println!();
    println!(
        "gateway / baseline (criterion's estimates, as printed above; per second on one core)"
    );
    println!(
        "{:<42} {:>12} {:>12} {:>8} {:>12} {:>12}",
        "function", "baseline µs", "gateway µs", "ratio", "baseline/s", "gateway/s"
    );
    for (label, baseline, gateway) in rows {
        println!(
            "{label:<42} {:>12.1} {:>12.1} {:>7.2}x {:>12.0} {:>12.0}",
            baseline / 1e3,
            gateway / 1e3,
            gateway / baseline,
            1e9 / baseline,
            1e9 / gateway
        );
    }
}

fn main() {
    let started = SystemTime::now();
    let directory = output_directory();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4))
        .output_directory(&directory)
        .configure_from_args();
    let fixtures = Fixtures::new();
    bench_signer_key_verify(&mut criterion, &fixtures);
    bench_validate_certificate(&mut criterion, &fixtures);
    bench_full_verification(&mut criterion, &fixtures);
    bench_parse(&mut criterion, &fixtures);
    bench_primitives(&mut criterion, &fixtures);
    bench_ca_sign(&mut criterion, &fixtures);
    criterion.final_summary();
    print_ratios(&directory, started);
}
