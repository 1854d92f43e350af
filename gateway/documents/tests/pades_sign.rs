//! Preparing, signing (the CMS made by `openssl cms`) and embedding, judged by pdfsig: PDFs
//! with an xref table, an xref stream, one rewritten by qpdf, a second signature on a signed
//! PDF, and the structure of the incremental update itself.

mod common;

use std::process::Command;

use common::{TestPki, XrefKind, lopdf_pdf, options, require_tool, run};
use kyso_documents::pades::{
    Coverage, EmbedError, PreparedPdf, PreparedPdfDecodeError, embed, prepare, signatures,
};
use lopdf::Document;
use sha2::{Digest, Sha256};

/// The bytes appended after the original: the update.
fn update_of<'a>(signed: &'a [u8], original: &[u8]) -> &'a [u8] {
    assert!(signed.starts_with(original), "the original bytes changed");
    &signed[original.len()..]
}

/// Signs `original` once and checks pdfsig, the update's shape and the read-back.
fn sign_once_and_judge(name: &str, original: &[u8], xref_stream: bool) {
    let pki = TestPki::new(name);
    let signed = pki.sign_pdf(original, &options());

    pki.pdfsig(&signed).assert_all_valid(1);

    let update = update_of(&signed, original);
    let has_xref_stream = update.windows(10).any(|window| window == b"/Type/XRef");
    let has_xref_table = update.windows(6).any(|window| window == b"\nxref\n");
    assert_eq!(has_xref_stream, xref_stream, "xref stream in the update?");
    assert_eq!(has_xref_table, !xref_stream, "xref table in the update?");

    let before = Document::load_mem(original).expect("original loads");
    let after = Document::load_mem(&signed).expect("signed loads");
    assert_eq!(after.xref_recovery, None, "the signed PDF needed repair");
    assert_eq!(
        before.trailer.get(b"ID").ok(),
        after.trailer.get(b"ID").ok()
    );
    let prev = format!("/Prev {}", before.xref_start);
    assert!(
        update
            .windows(prev.len())
            .any(|window| window == prev.as_bytes()),
        "the update does not point back with {prev}"
    );

    let read = signatures(&signed).expect("reads");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].field_name, "Signature1");
    assert_eq!(read[0].sub_filter, "ETSI.CAdES.detached");
    assert_eq!(read[0].coverage, Coverage::WholeFile);
    assert_eq!(
        read[0].claimed_signing_time.as_deref(),
        Some("D:20261205102000+07'00'")
    );
}

#[test]
fn a_pdf_with_an_xref_table_gets_a_valid_signature_in_an_xref_table_update() {
    sign_once_and_judge("table", &lopdf_pdf(XrefKind::Table, 2), false);
}

#[test]
fn a_pdf_with_an_xref_stream_gets_a_valid_signature_in_an_xref_stream_update() {
    sign_once_and_judge("stream", &lopdf_pdf(XrefKind::Stream, 2), true);
}

#[test]
fn a_pdf_rewritten_by_qpdf_with_object_streams_gets_a_valid_signature() {
    require_tool("qpdf", "apt-get install -y qpdf");
    let scratch = common::Scratch::new("qpdf");
    let input = scratch.write("in.pdf", &lopdf_pdf(XrefKind::Table, 3));
    let output = scratch.path().join("out.pdf");
    run(Command::new("qpdf")
        .arg("--object-streams=generate")
        .arg(&input)
        .arg(&output));
    let original = std::fs::read(output).expect("reads qpdf's output");
    sign_once_and_judge("qpdf", &original, true);
}

#[test]
fn a_second_signature_keeps_the_first_valid() {
    let pki = TestPki::new("twice");
    let original = lopdf_pdf(XrefKind::Table, 1);
    let once = pki.sign_pdf(&original, &options());
    let twice = pki.sign_pdf(&once, &options());

    let verdict = pki.pdfsig(&twice);
    verdict.assert_all_valid(2);
    assert!(
        verdict.signatures[0]
            .text
            .contains("- Not total document signed")
    );

    let read = signatures(&twice).expect("reads");
    let names: Vec<&str> = read.iter().map(|s| s.field_name.as_str()).collect();
    assert_eq!(names, ["Signature1", "Signature2"]);
    assert_eq!(
        read[0].coverage,
        Coverage::Revision {
            revision_len: once.len(),
            later_bytes_are_incremental_updates: true,
        }
    );
    assert_eq!(read[1].coverage, Coverage::WholeFile);
    // The first signature's digest is the same as when it was alone.
    let alone = signatures(&once).expect("reads");
    assert_eq!(read[0].content_digest, alone[0].content_digest);
    assert_eq!(read[0].cms_der, alone[0].cms_der);
}

#[test]
fn bytes_appended_that_are_not_an_update_are_reported() {
    let pki = TestPki::new("appended");
    let mut signed = pki.sign_pdf(&lopdf_pdf(XrefKind::Table, 1), &options());
    let signed_len = signed.len();
    signed.extend_from_slice(b"\n% not an update\n");
    let read = signatures(&signed).expect("reads");
    assert_eq!(
        read[0].coverage,
        Coverage::Revision {
            revision_len: signed_len,
            later_bytes_are_incremental_updates: false,
        }
    );
}

#[test]
fn the_content_digest_is_the_sha256_of_the_covered_bytes_and_matches_the_read_back() {
    let pki = TestPki::new("digest");
    let prepared = prepare(&lopdf_pdf(XrefKind::Table, 1), &options()).expect("prepares");
    let [a, b, c] = [
        prepared.byte_range().contents_start,
        prepared.byte_range().contents_end,
        prepared.byte_range().tail_len,
    ];
    let bytes = prepared.bytes();
    assert_eq!(bytes[a], b'<');
    assert_eq!(bytes[b - 1], b'>');
    assert_eq!(b + c, bytes.len());
    let mut hasher = Sha256::new();
    hasher.update(&bytes[..a]);
    hasher.update(&bytes[b..]);
    let expected: [u8; 32] = hasher.finalize().into();
    assert_eq!(prepared.content_digest(), expected);

    let cms = pki.sign(&prepared);
    let signed = embed(&prepared, &cms).expect("embeds");
    let read = signatures(&signed).expect("reads");
    assert_eq!(read[0].content_digest, expected);
    assert_eq!(
        read[0].cms_der, cms,
        "the padding was not cut at the DER length"
    );
    assert_eq!(read[0].byte_range, prepared.byte_range());
}

#[test]
fn a_prepared_pdf_survives_storage_and_refuses_corruption() {
    let prepared = prepare(&lopdf_pdf(XrefKind::Table, 1), &options()).expect("prepares");
    let stored = prepared.to_bytes();
    assert_eq!(PreparedPdf::from_bytes(&stored), Ok(prepared.clone()));

    assert_eq!(
        PreparedPdf::from_bytes(b"nonsense"),
        Err(PreparedPdfDecodeError::WrongMagic)
    );
    assert_eq!(
        PreparedPdf::from_bytes(&stored[..20]),
        Err(PreparedPdfDecodeError::Truncated)
    );
    // One byte missing from the end: the tail length no longer fits.
    assert_eq!(
        PreparedPdf::from_bytes(&stored[..stored.len() - 1]),
        Err(PreparedPdfDecodeError::ByteRangeMismatch)
    );
    // A digit inside the placeholder that is not zero.
    let mut dirty = stored;
    let at = 8 + 32 + prepared.byte_range().contents_start + 5;
    dirty[at] = b'1';
    assert_eq!(
        PreparedPdf::from_bytes(&dirty),
        Err(PreparedPdfDecodeError::ByteRangeMismatch)
    );
}

#[test]
fn a_cms_larger_than_the_placeholder_is_refused() {
    let mut small = options();
    small.contents_capacity = 64;
    let prepared = prepare(&lopdf_pdf(XrefKind::Table, 1), &small).expect("prepares");
    assert_eq!(prepared.contents_capacity(), 64);
    assert_eq!(
        embed(&prepared, &[0x30; 65]),
        Err(EmbedError::TooLarge {
            size: 65,
            capacity: 64
        })
    );
    assert_eq!(embed(&prepared, &[]), Err(EmbedError::Empty));
    assert!(embed(&prepared, &[0x30; 64]).is_ok());
}

#[test]
fn vietnamese_name_reason_and_location_are_utf16_with_a_bom() {
    let mut vietnamese = options();
    // "Ánh" decomposed: the dictionary must carry the composed (NFC) form.
    vietnamese.signer_name = Some("Nguyễn Văn A\u{301}nh".to_owned());
    vietnamese.reason = Some("Phê duyệt hồ sơ".to_owned());
    vietnamese.location = Some("Hà Nội".to_owned());
    let prepared = prepare(&lopdf_pdf(XrefKind::Table, 1), &vietnamese).expect("prepares");
    let document = Document::load_mem(prepared.bytes()).expect("loads");
    let signature = document
        .objects
        .values()
        .filter_map(|object| object.as_dict().ok())
        .find(|dictionary| dictionary.has_type(b"Sig"))
        .expect("a signature dictionary");
    let text = |key: &[u8]| {
        let value = signature.get(key).expect("present");
        assert!(value.as_str().expect("a string").starts_with(b"\xFE\xFF"));
        lopdf::decode_text_string(value).expect("decodes")
    };
    assert_eq!(text(b"Name"), "Nguyễn Văn \u{c1}nh");
    assert_eq!(text(b"Reason"), "Phê duyệt hồ sơ");
    assert_eq!(text(b"Location"), "Hà Nội");
}
