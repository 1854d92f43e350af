//! Preparing, signing (CMS by `openssl cms`) and embedding, judged by pdfsig.

mod common;

use common::{TestPki, XrefKind, lopdf_pdf, options};
use kyso_documents::pades::{Coverage, signatures};

#[test]
fn a_signed_pdf_with_an_xref_table_is_valid_for_pdfsig() {
    let pki = TestPki::new("xref-table");
    let original = lopdf_pdf(XrefKind::Table, 2);
    let signed = pki.sign_pdf(&original, &options());

    let verdict = pki.pdfsig(&signed);
    println!("{}", verdict.text);
    verdict.assert_all_valid(1);
    assert!(signed.starts_with(&original));
    let read = signatures(&signed).expect("reads");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].coverage, Coverage::WholeFile);
}
