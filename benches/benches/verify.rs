//! The gateway's invariant costs, each beside its bare primitive.
//!
//! Every group has two functions on the same inputs:
//! * `baseline`: the bare primitive on pre-parsed keys and certificates (rsa `RsaPublicKey::verify`
//!   with `Pkcs1v15Sign` / `Pss`, p256 `verify_prehash`, x509-parser `verify_signature` for each
//!   link of the chain);
//! * `gateway`: what the gateway runs on every returned signature
//!   (`kyso_gateway::verify::SignerKey::from_certificate` then `SignerKey::verify`, and
//!   `kyso_gateway::verify::validate_certificate`), from DER bytes.
//!
//! The `check_certificate_*` groups keep the name of the deprecated function
//! `validate_certificate` replaced, so that criterion's saved baselines and name filters still
//! apply.
//!
//! After a measuring run, a table of `gateway / baseline` ratios (of criterion's estimates) is
//! printed. Two `context_*` groups have no baseline: what the CA side pays per signature (which
//! explains the load harness's signing figures) and what parsing a certificate and its key costs
//! (where the gateway's overhead goes). `cargo test -p kyso-benches --benches` runs each
//! function once, as a smoke test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: a failure should abort loudly
#![allow(clippy::print_stdout)] // the ratio table is this program's output, next to criterion's

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use criterion::Criterion;
use kyso_adapter_core::HashAlgorithm;
use kyso_benches::pki::{KeyKind, Scheme, TestPki, USER_ID};
use kyso_gateway::verify::{self, SignerKey, TrustAnchors, Validation};
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer as _, X509Certificate};

/// The groups, in the order they run and are reported: `(group, what the gateway function is)`.
const GROUPS: [(&str, &str); 5] = [
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

fn bench_signer_key_verify(c: &mut Criterion, f: &Fixtures) {
    let rsa_key =
        RsaPublicKey::from_public_key_der(parse(&f.rsa.citizen_der).public_key().raw).unwrap();
    let ec_key =
        p256::ecdsa::VerifyingKey::from_public_key_der(parse(&f.ec.citizen_der).public_key().raw)
            .unwrap();
    let ec_signature = p256::ecdsa::Signature::from_der(&f.ecdsa_der).unwrap();

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
    rsa_key
        .verify(Pkcs1v15Sign::new::<Sha256>(), &f.digest, &f.pkcs1v15)
        .unwrap();
    rsa_key
        .verify(Pss::<Sha256>::new(), &f.digest, &f.pss)
        .unwrap();
    ec_key.verify_prehash(&f.digest, &ec_signature).unwrap();

    let mut group = c.benchmark_group(GROUPS[0].0);
    group.bench_function("baseline", |b| {
        b.iter(|| {
            rsa_key.verify(
                Pkcs1v15Sign::new::<Sha256>(),
                black_box(&f.digest),
                black_box(&f.pkcs1v15),
            )
        });
    });
    group.bench_function("gateway", |b| {
        b.iter(|| gateway(&f.rsa.citizen_der, &f.pkcs1v15));
    });
    group.finish();

    let mut group = c.benchmark_group(GROUPS[1].0);
    group.bench_function("baseline", |b| {
        b.iter(|| {
            rsa_key.verify(
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
    group.bench_function("baseline", |b| {
        b.iter(|| ec_key.verify_prehash(black_box(&f.digest), black_box(&ec_signature)));
    });
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

/// Where criterion writes its estimates: `$CRITERION_HOME`, else `<target dir>/criterion`, the
/// target dir being the one this bench binary was built in (`<target>/<profile>/deps/verify-*`).
fn output_directory() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    std::env::current_exe()
        .ok()
        .as_deref()
        .and_then(|exe| exe.ancestors().nth(3))
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("criterion")
}

/// Criterion's point estimate (ns) of one function, as it prints it (the slope of its linear
/// sampling, else the mean), if criterion wrote it during this run.
fn fresh_estimate_ns(
    directory: &Path,
    group: &str,
    function: &str,
    since: SystemTime,
) -> Option<f64> {
    let path = directory
        .join(group)
        .join(function)
        .join("new")
        .join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let estimates: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    estimates["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| estimates["mean"]["point_estimate"].as_f64())
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
    println!("gateway / baseline (criterion's estimates, as printed above)");
    println!(
        "{:<42} {:>12} {:>12} {:>8}",
        "function", "baseline µs", "gateway µs", "ratio"
    );
    for (label, baseline, gateway) in rows {
        println!(
            "{label:<42} {:>12.1} {:>12.1} {:>7.2}x",
            baseline / 1e3,
            gateway / 1e3,
            gateway / baseline
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
    bench_parse(&mut criterion, &fixtures);
    bench_ca_sign(&mut criterion, &fixtures);
    criterion.final_summary();
    print_ratios(&directory, started);
}
