//! Tampered and hostile input: a changed byte is caught by pdfsig and by the digest, a
//! changed `/ByteRange` is refused by [`signatures`], and garbage, truncated, encrypted or
//! damaged files give typed errors, never a panic.

mod common;

use std::process::Command;

use common::{Scratch, TestPki, XrefKind, lopdf_pdf, options, require_tool, run};
use kyso_documents::pades::{
    PrepareError, RevisionError, SignatureProblem, SignatureReadError, add_dss, prepare, signatures,
};

/// Whether the CMS carries `digest` (its message-digest attribute is a 32-byte OCTET STRING).
fn cms_carries(cms: &[u8], digest: &[u8; 32]) -> bool {
    cms.windows(32).any(|window| window == digest)
}

/// A signed PDF and its pdfsig judge.
fn signed_pdf(name: &str) -> (TestPki, Vec<u8>) {
    let pki = TestPki::new(name);
    let signed = pki.sign_pdf(&lopdf_pdf(XrefKind::Table, 1), &options());
    (pki, signed)
}

/// `pdf` with its first `/ByteRange` array replaced by `numbers`, padded to the same width.
fn with_byte_range(pdf: &[u8], numbers: [i64; 4]) -> Vec<u8> {
    let start = pdf
        .windows(11)
        .position(|window| window == b"/ByteRange[")
        .expect("a /ByteRange")
        + 10;
    let end = start
        + pdf[start..]
            .iter()
            .position(|&b| b == b']')
            .expect("closed")
        + 1;
    let mut text = format!(
        "[{} {} {} {}",
        numbers[0], numbers[1], numbers[2], numbers[3]
    );
    assert!(text.len() < end - start, "the new range does not fit");
    while text.len() + 1 < end - start {
        text.push(' ');
    }
    text.push(']');
    let mut out = pdf.to_vec();
    out[start..end].copy_from_slice(text.as_bytes());
    out
}

#[test]
fn a_changed_byte_in_the_covered_range_fails_pdfsig_and_the_digest() {
    let (pki, signed) = signed_pdf("flip");
    let before = signatures(&signed).expect("reads");
    assert!(cms_carries(&before[0].cms_der, &before[0].content_digest));

    let at = signed
        .windows(6)
        .position(|window| window == b"Page 1")
        .expect("the page text")
        + 5;
    let mut tampered = signed;
    tampered[at] = b'7';

    let verdict = pki.pdfsig(&tampered);
    assert_eq!(verdict.signatures.len(), 1, "{}", verdict.text);
    assert!(verdict.signatures[0].digest_mismatch(), "{}", verdict.text);
    assert!(!verdict.signatures[0].valid(), "{}", verdict.text);

    let after = signatures(&tampered).expect("still reads");
    assert_ne!(after[0].content_digest, before[0].content_digest);
    assert!(!cms_carries(&after[0].cms_der, &after[0].content_digest));
}

#[test]
fn a_tampered_byte_range_is_refused() {
    let (_, signed) = signed_pdf("byte-range");
    let [_, a, b, c] = signatures(&signed).expect("reads")[0]
        .byte_range
        .values()
        .map(|value| i64::try_from(value).expect("small"));
    let cases = [
        ([0, a + 2, b, c], SignatureProblem::GapIsNotContents),
        ([0, a, b - 2, c + 2], SignatureProblem::GapIsNotContents),
        ([0, a, b, c + 1], SignatureProblem::ByteRangeOutOfBounds),
        ([0, a, b, -c], SignatureProblem::ByteRangeNegative),
        ([-1, a, b, c], SignatureProblem::ByteRangeNegative),
        ([5, a, b, c], SignatureProblem::ByteRangeNotFromStart),
        ([0, b, a, c], SignatureProblem::ByteRangeOverlaps),
        ([0, a, a, c], SignatureProblem::ByteRangeOverlaps),
    ];
    for (numbers, expected) in cases {
        let tampered = with_byte_range(&signed, numbers);
        match signatures(&tampered) {
            Err(SignatureReadError::Signature { field, problem }) => {
                assert_eq!(field, "Signature1");
                assert_eq!(problem, expected, "for {numbers:?}");
            }
            other => panic!("{numbers:?} gave {other:?}"),
        }
    }
}

#[test]
fn garbage_and_truncated_input_give_errors_not_panics() {
    assert!(matches!(
        signatures(b"not a pdf at all"),
        Err(SignatureReadError::NotPdf)
    ));
    assert!(matches!(signatures(b""), Err(SignatureReadError::NotPdf)));
    assert!(matches!(
        prepare(b"GIF89a", &options()),
        Err(PrepareError::Revision(RevisionError::NotPdf))
    ));
    let none: [Vec<u8>; 0] = [];
    assert!(add_dss(b"%PDF-1.7\n", &none, &none, &none).is_err());

    let (_, signed) = signed_pdf("truncated");
    // A file cut anywhere: never a panic; once the signature's ranges reach past the end,
    // never a signature read as if it were whole.
    for cut in (0..signed.len()).step_by(397) {
        let piece = &signed[..cut];
        if let Ok(found) = signatures(piece) {
            assert!(found.iter().all(|s| s.byte_range.end() <= piece.len()));
        }
        let _ = prepare(piece, &options());
    }
    // Bytes overwritten with junk here and there: never a panic.
    let mut state: u32 = 0x2545_f491;
    for _ in 0..200 {
        let mut damaged = signed.clone();
        for _ in 0..8 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let at = usize::try_from(state).expect("fits") % damaged.len();
            damaged[at] = state.to_le_bytes()[1];
        }
        let _ = signatures(&damaged);
        let _ = prepare(&damaged, &options());
    }
}

#[test]
fn an_encrypted_pdf_is_refused() {
    require_tool("qpdf", "apt-get install -y qpdf");
    let scratch = Scratch::new("encrypted");
    let input = scratch.write("in.pdf", &lopdf_pdf(XrefKind::Table, 1));
    let output = scratch.path().join("encrypted.pdf");
    run(Command::new("qpdf")
        .args(["--encrypt", "", "owner-secret", "256", "--"])
        .arg(&input)
        .arg(&output));
    let encrypted = std::fs::read(output).expect("reads");
    assert!(matches!(
        prepare(&encrypted, &options()),
        Err(PrepareError::Revision(RevisionError::Encrypted))
    ));
    assert!(matches!(
        signatures(&encrypted),
        Err(SignatureReadError::Encrypted)
    ));
}

#[test]
fn a_pdf_that_only_loads_after_repair_is_refused() {
    let mut damaged = lopdf_pdf(XrefKind::Table, 1);
    let keyword = b"startxref\n";
    let at = damaged
        .windows(keyword.len())
        .rposition(|window| window == keyword)
        .expect("startxref")
        + keyword.len();
    // Point startxref at the header instead of the xref table.
    let digits = damaged[at..]
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    let wrong = format!("{:0>width$}", 9, width = digits);
    damaged[at..at + digits].copy_from_slice(wrong.as_bytes());
    assert!(matches!(
        prepare(&damaged, &options()),
        Err(PrepareError::Revision(RevisionError::Repaired))
    ));
}

#[test]
fn pdfsig_is_required() {
    // The judge must be present: the tests fail (with how to install it) rather than skip.
    require_tool("pdfsig", "apt-get install -y poppler-utils libnss3-tools");
}
