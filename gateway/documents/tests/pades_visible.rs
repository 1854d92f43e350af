//! A visible signature: Vietnamese text drawn in the embedded, subsetted font, checked by
//! pdfsig (still valid), pdftotext (the ToUnicode CMap gives the text back) and pdftoppm
//! (the page renders; `KYSO_KEEP=1` keeps the PNG for a look).

mod common;

use std::process::Command;

use common::{Scratch, TestPki, XrefKind, lopdf_pdf, options, require_tool, run};
use kyso_documents::pades::{PrepareError, VisibleSignature, prepare};
use lopdf::{Document, Object};

const SIGNER_LINE: &str = "Ký bởi: Nguyễn Văn Ánh";
const TIME_LINE: &str = "Ngày ký: 05/12/2026 10:20 +07:00";

fn visible_options(page: usize) -> kyso_documents::pades::SignatureOptions {
    let mut visible = options();
    visible.visible = Some(VisibleSignature {
        page,
        rect: [320.0, 60.0, 560.0, 120.0],
        // The signer's line arrives decomposed; it must be drawn and extracted composed.
        lines: vec![
            "Ký bởi: Nguyễn Văn A\u{301}nh".to_owned(),
            TIME_LINE.to_owned(),
        ],
    });
    visible
}

#[test]
fn a_visible_signature_is_valid_renders_and_extracts_as_vietnamese() {
    let pki = TestPki::new("visible");
    let signed = pki.sign_pdf(&lopdf_pdf(XrefKind::Table, 2), &visible_options(1));
    pki.pdfsig(&signed).assert_all_valid(1);

    require_tool("pdftotext", "apt-get install -y poppler-utils");
    let scratch = Scratch::new("visible-render");
    let path = scratch.write("signed.pdf", &signed);
    let text = run(Command::new("pdftotext")
        .args(["-f", "2", "-l", "2"])
        .arg(&path)
        .arg("-"));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(SIGNER_LINE), "pdftotext gave:\n{text}");
    assert!(text.contains(TIME_LINE), "pdftotext gave:\n{text}");

    let png = scratch.path().join("page");
    run(Command::new("pdftoppm")
        .args(["-png", "-r", "80", "-f", "2", "-l", "2"])
        .arg(&path)
        .arg(&png));
    let rendered = std::fs::read_dir(scratch.path())
        .expect("lists")
        .filter_map(Result::ok)
        .any(|entry| entry.file_name().to_string_lossy().ends_with(".png"));
    assert!(rendered, "pdftoppm wrote no PNG");
    if std::env::var_os("KYSO_KEEP").is_some() {
        eprintln!("rendered page kept in {}", scratch.path().display());
    }
}

#[test]
fn the_widget_carries_the_appearance_and_the_font_is_an_embedded_subset() {
    let prepared = prepare(&lopdf_pdf(XrefKind::Table, 1), &visible_options(0)).expect("prepares");
    let document = Document::load_mem(prepared.bytes()).expect("loads");
    let dictionaries: Vec<&lopdf::Dictionary> = document
        .objects
        .values()
        .filter_map(|object| match object {
            Object::Dictionary(dictionary) => Some(dictionary),
            Object::Stream(stream) => Some(&stream.dict),
            _ => None,
        })
        .collect();
    let widget = dictionaries
        .iter()
        .find(|d| d.get(b"FT").and_then(Object::as_name).ok() == Some(b"Sig"))
        .expect("a signature widget");
    assert_eq!(widget.get(b"F").and_then(Object::as_i64).ok(), Some(132));
    assert!(
        widget
            .get(b"AP")
            .and_then(Object::as_dict)
            .is_ok_and(|ap| ap.has(b"N"))
    );

    let type0 = dictionaries
        .iter()
        .find(|d| d.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type0"))
        .expect("a Type0 font");
    assert_eq!(
        type0.get(b"Encoding").and_then(Object::as_name).ok(),
        Some(b"Identity-H".as_slice())
    );
    assert!(type0.has(b"ToUnicode"));
    let base_font = type0
        .get(b"BaseFont")
        .and_then(Object::as_name)
        .expect("named");
    assert_eq!(
        base_font.get(6),
        Some(&b'+'),
        "not a subset name: {base_font:?}"
    );

    let cid_font = dictionaries
        .iter()
        .find(|d| d.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"CIDFontType2"))
        .expect("a CIDFontType2 descendant");
    assert!(
        cid_font
            .get(b"W")
            .and_then(Object::as_array)
            .is_ok_and(|w| !w.is_empty())
    );

    let font_file = document
        .objects
        .values()
        .filter_map(|object| object.as_stream().ok())
        .find(|stream| stream.dict.has(b"Length1"))
        .expect("a FontFile2");
    let subset_len = font_file
        .dict
        .get(b"Length1")
        .and_then(Object::as_i64)
        .expect("a length");
    assert!(
        subset_len < 40_000,
        "the embedded font is {subset_len} bytes: not a subset"
    );
}

#[test]
fn a_visible_signature_on_a_missing_page_or_an_empty_box_is_refused() {
    let pdf = lopdf_pdf(XrefKind::Table, 1);
    assert!(matches!(
        prepare(&pdf, &visible_options(3)),
        Err(PrepareError::PageOutOfRange { page: 3, pages: 1 })
    ));
    let mut inverted = visible_options(0);
    if let Some(visible) = inverted.visible.as_mut() {
        visible.rect = [300.0, 100.0, 200.0, 50.0];
    }
    assert!(matches!(
        prepare(&pdf, &inverted),
        Err(PrepareError::InvalidRectangle(_))
    ));
}
