//! The Document Security Store (PAdES B-LT): the certificates, OCSP responses and CRLs a
//! validator needs later, appended as one more incremental update.
//!
//! The catalog's `/DSS << /Certs [...] /OCSPs [...] /CRLs [...] >>` holds one stream of DER per
//! item. An existing DSS is carried over and extended; an item already present (byte for byte)
//! is not added twice. The optional, discouraged `/VRI` is not written.

use lopdf::{Dictionary, Object, Stream};

use super::revision::{RevisionError, Update, resolve};

/// The DSS's three arrays, by key.
const KEYS: [&str; 3] = ["Certs", "OCSPs", "CRLs"];

/// The largest decoded size of an existing DSS item that is compared with new ones.
const MAX_ITEM_SIZE: usize = 16 * 1024 * 1024;

/// Why a DSS cannot be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DssError {
    /// The PDF cannot be opened for, or extended by, an incremental update.
    #[error(transparent)]
    Revision(#[from] RevisionError),
    /// One of the items is empty.
    #[error("an empty item was given for the DSS's /{0}")]
    EmptyItem(&'static str),
}

/// Appends a DSS update to `pdf` holding `certificates`, `ocsp_responses` (DER
/// OCSPResponse) and `crls`, all DER, beside what an existing DSS holds. Earlier signatures
/// stay valid: their bytes are untouched.
pub fn add_dss(
    pdf: &[u8],
    certificates: &[impl AsRef<[u8]>],
    ocsp_responses: &[impl AsRef<[u8]>],
    crls: &[impl AsRef<[u8]>],
) -> Result<Vec<u8>, DssError> {
    let mut update = Update::open(pdf)?;
    let catalog_id = update.catalog_id()?;
    let existing = existing_dss(&update, catalog_id);

    let new_items: [Vec<&[u8]>; 3] = [
        certificates.iter().map(AsRef::as_ref).collect(),
        ocsp_responses.iter().map(AsRef::as_ref).collect(),
        crls.iter().map(AsRef::as_ref).collect(),
    ];
    let mut dss = Dictionary::new();
    for (key, items) in KEYS.into_iter().zip(new_items) {
        let (mut references, mut known) = existing_items(&update, existing.as_ref(), key);
        for item in items {
            if item.is_empty() {
                return Err(DssError::EmptyItem(key));
            }
            if known.iter().any(|present| present == item) {
                continue;
            }
            let mut stream = Stream::new(Dictionary::new(), item.to_vec());
            // Compression is an optimisation: a stream that fails to compress stays plain.
            let _ = stream.compress();
            references.push(update.add(stream).into());
            known.push(item.to_vec());
        }
        if !references.is_empty() {
            dss.set(key, references);
        }
    }
    let dss_id = update.add(dss);
    update
        .changed_dictionary(catalog_id, "the catalog")?
        .set("DSS", dss_id);
    Ok(update.save()?)
}

/// The catalog's current DSS, if any.
fn existing_dss(update: &Update, catalog_id: lopdf::ObjectId) -> Option<Dictionary> {
    let document = update.previous();
    let catalog = document.get_dictionary(catalog_id).ok()?;
    let dss = catalog.get(b"DSS").ok()?;
    resolve(document, dss).as_dict().ok().cloned()
}

/// The references under `key` in the existing DSS, and the DER each one holds.
fn existing_items(
    update: &Update,
    dss: Option<&Dictionary>,
    key: &str,
) -> (Vec<Object>, Vec<Vec<u8>>) {
    let document = update.previous();
    let references: Vec<Object> = dss
        .and_then(|dss| dss.get(key.as_bytes()).ok())
        .map(|items| resolve(document, items))
        .and_then(|items| items.as_array().ok())
        .cloned()
        .unwrap_or_default();
    let contents = references
        .iter()
        .filter_map(|item| resolve(document, item).as_stream().ok())
        .filter_map(|stream| stream.get_plain_content_with_limit(MAX_ITEM_SIZE).ok())
        .collect();
    (references, contents)
}
