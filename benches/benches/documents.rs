//! What signing a PDF costs the gateway, beside the bare primitive, for a 1 MiB and a 20 MiB
//! document.
//!
//! * `baseline`: SHA-256 over the whole file, the least any signer must do with it;
//! * `prepare`: what the gateway does when a document is submitted: the incremental update
//!   with the signature field and placeholder (`pades::prepare`, which parses the PDF), the
//!   ByteRange digest, and the signed attributes whose digest the CA signs;
//! * `assemble`: what it does once the CA's signature is back: the CMS SignedData (with the
//!   signature checked), embedded in the placeholder, and the signed PDF read back with its
//!   ByteRange and digest checked.
//!
//! After a measuring run, a table of `stage / baseline` ratios is printed. `cargo test -p
//! kyso-benches --benches` runs each function once, as a smoke test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: a failure should abort loudly
#![allow(clippy::print_stdout)] // the ratio table is this program's output, next to criterion's

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::Criterion;
use kyso_benches::estimates::{fresh_estimate_ns, output_directory};
use kyso_documents::cms::{self, AttributeProfile, SignatureAlgorithm, SignedAttributes};
use kyso_documents::pades::{self, PreparedPdf, SignatureOptions};
use kyso_sim_kit::{CitizenCertSpec, KeyKind, SignatureScheme, TestPki};
use lopdf::{Document, Object, Stream, dictionary};
use sha2::{Digest, Sha256};
use time::macros::datetime;

const MIB: usize = 1024 * 1024;

/// A one-page PDF of about `size` bytes: the page draws an image XObject of incompressible
/// bytes, as a scanned document would.
fn pdf_of_size(size: usize) -> Vec<u8> {
    let mut document = Document::with_version("1.7");
    let pages_id = document.new_object_id();
    let mut filler = vec![0_u8; size];
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    for byte in &mut filler {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state.to_le_bytes()[0];
    }
    let image_id = document.add_object(Stream::new(
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Image",
            "Width" => 1024,
            "Height" => i64::try_from(size / 1024).unwrap(),
            "ColorSpace" => "DeviceGray",
            "BitsPerComponent" => 8,
        },
        filler,
    ));
    let content_id = document.add_object(Stream::new(
        dictionary! {},
        b"q 595 0 0 842 0 0 cm /Im1 Do Q".to_vec(),
    ));
    let page_id = document.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => content_id,
        "Resources" => dictionary! { "XObject" => dictionary! { "Im1" => image_id } },
    });
    document.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![page_id.into()],
            "Count" => 1,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = document.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    document.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    document.save_to(&mut out).unwrap();
    out
}

/// A submitted document as the gateway keeps it until the CA answers.
struct Submitted {
    prepared: PreparedPdf,
    attributes: SignedAttributes,
}

fn prepare(pdf: &[u8], signer_der: &[u8]) -> Submitted {
    let options = SignatureOptions::new(datetime!(2026-12-05 10:20 +7));
    let prepared = pades::prepare(pdf, &options).unwrap();
    let attributes = SignedAttributes::new(
        &prepared.content_digest(),
        signer_der,
        AttributeProfile::Pades,
    )
    .unwrap();
    Submitted {
        prepared,
        attributes,
    }
}

fn assemble(
    submitted: &Submitted,
    signature: &[u8],
    signer_der: &[u8],
    chain: &[Vec<u8>],
) -> Vec<u8> {
    let signed_data = cms::assemble(
        &submitted.attributes,
        SignatureAlgorithm::RsaPkcs1v15Sha256,
        signature,
        signer_der,
        chain,
    )
    .unwrap();
    let signed = pades::embed(&submitted.prepared, signed_data.to_der()).unwrap();
    let read_back = pades::signatures(&signed).unwrap();
    assert_eq!(read_back.len(), 1);
    signed
}

/// `stage / baseline` for each size, from this run's estimates.
fn print_ratios(groups: &[&str], directory: &std::path::Path, since: SystemTime) {
    let mut printed_header = false;
    for group in groups {
        let Some(baseline) = fresh_estimate_ns(directory, group, "baseline", since) else {
            continue;
        };
        for stage in ["prepare", "assemble"] {
            let Some(stage_ns) = fresh_estimate_ns(directory, group, stage, since) else {
                continue;
            };
            if !printed_header {
                println!();
                println!("stage / baseline (SHA-256 of the whole file), criterion's estimates");
                println!(
                    "{:<12} {:<10} {:>12} {:>12} {:>8}",
                    "document", "stage", "baseline ms", "stage ms", "ratio"
                );
                printed_header = true;
            }
            println!(
                "{group:<12} {stage:<10} {:>12.2} {:>12.2} {:>7.2}x",
                baseline / 1e6,
                stage_ns / 1e6,
                stage_ns / baseline
            );
        }
    }
}

fn main() {
    let started = SystemTime::now();
    let directory = output_directory();
    let mut criterion = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .output_directory(&directory)
        .configure_from_args();
    let pki = TestPki::builder("Bench Root")
        .issuing_ca("Bench CA")
        .citizen(CitizenCertSpec::new(
            "Nguyễn Văn An",
            "001099000001",
            KeyKind::Rsa2048,
        ))
        .build()
        .unwrap();
    let citizen = &pki.citizens[0];
    let signer_der = citizen.certificate.der.clone();
    let chain = vec![pki.issuing_cas[0].der.clone()];
    let mut groups = Vec::new();
    for (name, size) in [("pdf_1mib", MIB), ("pdf_20mib", 20 * MIB)] {
        let pdf = pdf_of_size(size);
        let submitted = prepare(&pdf, &signer_der);
        let signature = citizen
            .key
            .sign(
                SignatureScheme::RsaPkcs1v15,
                &submitted.attributes.digest_to_sign(),
            )
            .unwrap();
        let mut group = criterion.benchmark_group(name);
        group.bench_function("baseline", |bench| {
            bench.iter(|| Sha256::digest(black_box(&pdf)));
        });
        group.bench_function("prepare", |bench| {
            bench.iter(|| prepare(black_box(&pdf), &signer_der));
        });
        group.bench_function("assemble", |bench| {
            bench.iter(|| assemble(black_box(&submitted), &signature, &signer_der, &chain));
        });
        group.finish();
        groups.push(name);
    }
    criterion.final_summary();
    print_ratios(&groups, &directory, started);
}
