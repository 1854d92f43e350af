//! The DSS update (B-LT): certificates, OCSP responses and CRLs as streams in the catalog's
//! `/DSS`, appended without disturbing the signature.

mod common;

use common::{TestPki, XrefKind, lopdf_pdf, options};
use kyso_documents::pades::{Coverage, add_dss, read, signatures};
use lopdf::{Document, Object};

/// The DER held by the streams under `/DSS /key`.
fn dss_items(pdf: &[u8], key: &[u8]) -> Vec<Vec<u8>> {
    let document = Document::load_mem(pdf).expect("loads");
    let catalog = document.catalog().expect("a catalog");
    let dss_id = catalog
        .get(b"DSS")
        .and_then(Object::as_reference)
        .expect("a /DSS");
    let dss = document.get_dictionary(dss_id).expect("a dictionary");
    let Ok(items) = dss.get(key).and_then(Object::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .map(|item| {
            let id = item.as_reference().expect("a reference");
            let stream = document
                .get_object(id)
                .and_then(Object::as_stream)
                .expect("a stream");
            stream.get_plain_content().expect("decodes")
        })
        .collect()
}

#[test]
fn a_dss_update_keeps_the_signature_valid_and_holds_the_items() {
    for kind in [XrefKind::Table, XrefKind::Stream] {
        let pki = TestPki::new("dss");
        let signed = pki.sign_pdf(&lopdf_pdf(kind, 1), &options());
        let certificates = [
            pki.citizen_der.clone(),
            pki.issuing_der.clone(),
            pki.root_der.clone(),
        ];
        let ocsp = [b"\x30\x03\x0a\x01\x00".to_vec()];
        let crls = [b"\x30\x00".to_vec()];

        let with_dss = add_dss(&signed, &certificates, &ocsp, &crls).expect("adds the DSS");
        assert!(with_dss.starts_with(&signed));

        let verdict = pki.pdfsig(&with_dss);
        assert_eq!(verdict.signatures.len(), 1, "{}", verdict.text);
        assert!(verdict.signatures[0].valid(), "{}", verdict.text);
        assert!(verdict.signatures[0].trusted(), "{}", verdict.text);

        assert_eq!(dss_items(&with_dss, b"Certs"), certificates.to_vec());
        assert_eq!(dss_items(&with_dss, b"OCSPs"), ocsp.to_vec());
        assert_eq!(dss_items(&with_dss, b"CRLs"), crls.to_vec());

        assert!(!read(&signed).expect("reads").has_dss);
        assert!(read(&with_dss).expect("reads").has_dss);
        let read = signatures(&with_dss).expect("reads");
        assert_eq!(
            read[0].coverage,
            Coverage::Revision {
                revision_len: signed.len(),
                later_bytes_are_incremental_updates: true,
            }
        );
    }
}

#[test]
fn a_second_dss_update_extends_the_first_without_duplicates() {
    let pki = TestPki::new("dss-twice");
    let signed = pki.sign_pdf(&lopdf_pdf(XrefKind::Table, 1), &options());
    let none: [Vec<u8>; 0] = [];
    let first = add_dss(
        &signed,
        std::slice::from_ref(&pki.citizen_der),
        &none,
        &none,
    )
    .expect("adds");
    let second = add_dss(
        &first,
        &[pki.citizen_der.clone(), pki.issuing_der.clone()],
        &none,
        &[b"\x30\x00".to_vec()],
    )
    .expect("adds again");
    assert_eq!(
        dss_items(&second, b"Certs"),
        vec![pki.citizen_der.clone(), pki.issuing_der.clone()]
    );
    assert_eq!(dss_items(&second, b"CRLs"), vec![b"\x30\x00".to_vec()]);
    assert!(pki.pdfsig(&second).signatures[0].valid());
}
