//! Preparing a PDF for a remote signature and embedding the CMS once it is back.
//!
//! [`prepare`] appends, as one incremental update, a signature field whose widget sits on a
//! page (and in its `/Annots`) and in the AcroForm's `/Fields` (with `/SigFlags 3`), and a
//! signature dictionary (`/Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached`, the
//! claimed signing time `/M`, optional `/Name`, `/Reason`, `/Location`) whose `/Contents` is a
//! zero-filled hex placeholder. The `/ByteRange` is written as a fixed-width placeholder and
//! patched once the offsets are known. [`embed`] writes the CMS into the placeholder; nothing
//! else changes, so the covered bytes (and their digest) are those the CA's signature is over.

use lopdf::{Object, ObjectId, StringFormat, dictionary};
use time::OffsetDateTime;

use super::appearance::VisibleSignature;
use super::byte_range::{ByteRange, PLACEHOLDER_NUMBER, placeholder_text};
use super::font::AppearanceError;
use super::revision::{RevisionError, Update, resolve};
use super::text::{pdf_date, text_string};

/// The default room for the CMS in `/Contents`, in bytes: a B-T signature with a certificate
/// chain and a time-stamp token (with the TSA's chain) fits with room to spare.
pub const DEFAULT_CONTENTS_CAPACITY: usize = 20 * 1024;
/// Annotation flags of the widget: Print (4) and Locked (128).
const WIDGET_FLAGS: i64 = 132;
/// AcroForm `/SigFlags`: SignaturesExist (1) and AppendOnly (2).
const SIG_FLAGS: i64 = 3;
/// The prefix of the generated field names: `Signature1`, `Signature2`, …
const FIELD_NAME_PREFIX: &str = "Signature";
/// The magic that opens [`PreparedPdf::to_bytes`].
const PREPARED_MAGIC: &[u8; 8] = b"KYSOPDF1";

/// What to put into the signature dictionary and, optionally, on the page.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureOptions {
    /// The claimed signing time, written as `/M` in its own UTC offset.
    pub signing_time: OffsetDateTime,
    /// `/Name`: the signer's name.
    pub signer_name: Option<String>,
    /// `/Reason`: why the document is signed (leave it out with a commitment-type-indication).
    pub reason: Option<String>,
    /// `/Location`: where it is signed.
    pub location: Option<String>,
    /// The room for the CMS in `/Contents`, in bytes.
    pub contents_capacity: usize,
    /// A visible signature box; `None` for an invisible signature (on the first page).
    pub visible: Option<VisibleSignature>,
}

impl SignatureOptions {
    /// An invisible signature claimed at `signing_time`, with the default `/Contents` room.
    pub fn new(signing_time: OffsetDateTime) -> Self {
        Self {
            signing_time,
            signer_name: None,
            reason: None,
            location: None,
            contents_capacity: DEFAULT_CONTENTS_CAPACITY,
            visible: None,
        }
    }
}

/// Why a PDF cannot be prepared for signing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// The PDF cannot be opened for, or extended by, an incremental update.
    #[error(transparent)]
    Revision(#[from] RevisionError),
    /// The PDF has no pages to put the signature's widget on.
    #[error("the PDF has no pages")]
    NoPages,
    /// The visible signature names a page the PDF does not have.
    #[error("page {page} does not exist (the PDF has {pages} pages, counted from 0)")]
    PageOutOfRange {
        /// The page asked for.
        page: usize,
        /// How many pages there are.
        pages: usize,
    },
    /// The visible signature's rectangle is empty, inverted, too small or not finite.
    #[error("the visible signature's rectangle {0:?} is not a usable box")]
    InvalidRectangle([f32; 4]),
    /// `/Contents` would have no room for a CMS.
    #[error("the /Contents capacity must be at least one byte")]
    NoContentsCapacity,
    /// The visible signature's appearance cannot be drawn.
    #[error(transparent)]
    Appearance(#[from] AppearanceError),
    /// The written update does not hold the placeholders where they were expected.
    #[error("the signature dictionary's placeholders were not found in the written update")]
    PlaceholderNotFound,
    /// The file is too large for the fixed-width `/ByteRange`.
    #[error("the PDF is too large for the /ByteRange placeholder")]
    TooLarge,
}

/// Why a CMS cannot be embedded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmbedError {
    /// The CMS is empty.
    #[error("the CMS is empty")]
    Empty,
    /// The CMS outgrows the `/Contents` placeholder.
    #[error(
        "the CMS is {size} bytes but /Contents holds {capacity}; prepare with a larger capacity"
    )]
    TooLarge {
        /// The CMS's size in bytes.
        size: usize,
        /// The placeholder's room in bytes.
        capacity: usize,
    },
}

/// Why bytes are not a [`PreparedPdf`] written by [`PreparedPdf::to_bytes`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PreparedPdfDecodeError {
    /// The bytes do not start with the expected magic.
    #[error("not a prepared PDF (wrong magic)")]
    WrongMagic,
    /// The bytes end before the header does.
    #[error("the prepared PDF is truncated")]
    Truncated,
    /// The recorded `/ByteRange` does not frame an empty `/Contents` placeholder in the PDF.
    #[error("the recorded /ByteRange does not frame an empty /Contents placeholder")]
    ByteRangeMismatch,
}

/// A PDF with a signature dictionary waiting for its CMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedPdf {
    bytes: Vec<u8>,
    byte_range: ByteRange,
}

impl PreparedPdf {
    /// The prepared PDF, with the zero-filled `/Contents`.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The `/ByteRange` written into the signature dictionary.
    pub fn byte_range(&self) -> ByteRange {
        self.byte_range
    }

    /// SHA-256 over the covered bytes: the value of the CMS's message-digest attribute.
    pub fn content_digest(&self) -> [u8; 32] {
        self.byte_range.digest(&self.bytes)
    }

    /// How many bytes of CMS `/Contents` holds.
    pub fn contents_capacity(&self) -> usize {
        contents_capacity(&self.byte_range)
    }

    /// A compact form to store between submission and approval: a magic, the four
    /// `/ByteRange` numbers (big-endian `u64`) and the PDF.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PREPARED_MAGIC.len() + 32 + self.bytes.len());
        out.extend_from_slice(PREPARED_MAGIC);
        for value in self.byte_range.values() {
            out.extend_from_slice(&(value as u64).to_be_bytes());
        }
        out.extend_from_slice(&self.bytes);
        out
    }

    /// Reads the form written by [`Self::to_bytes`], checking that the `/ByteRange` frames
    /// an empty `/Contents` placeholder that ends the first covered range.
    pub fn from_bytes(stored: &[u8]) -> Result<Self, PreparedPdfDecodeError> {
        let rest = stored
            .strip_prefix(PREPARED_MAGIC)
            .ok_or(PreparedPdfDecodeError::WrongMagic)?;
        let (header, bytes) = rest
            .split_at_checked(32)
            .ok_or(PreparedPdfDecodeError::Truncated)?;
        let mut values = [0usize; 4];
        for (value, chunk) in values.iter_mut().zip(header.chunks_exact(8)) {
            let mut number = [0u8; 8];
            number.copy_from_slice(chunk);
            *value = usize::try_from(u64::from_be_bytes(number))
                .map_err(|_| PreparedPdfDecodeError::ByteRangeMismatch)?;
        }
        let [start, contents_start, contents_end, tail_len] = values;
        let byte_range = ByteRange {
            contents_start,
            contents_end,
            tail_len,
        };
        let framed = start == 0
            && contents_start < contents_end
            && contents_end.checked_add(tail_len) == Some(bytes.len())
            && is_empty_placeholder(&bytes[contents_start..contents_end]);
        if !framed {
            return Err(PreparedPdfDecodeError::ByteRangeMismatch);
        }
        Ok(Self {
            bytes: bytes.to_vec(),
            byte_range,
        })
    }
}

/// Prepares `pdf` for a signature: appends the field, widget and signature dictionary as an
/// incremental update and returns the result with its `/ByteRange`.
pub fn prepare(pdf: &[u8], options: &SignatureOptions) -> Result<PreparedPdf, PrepareError> {
    if options.contents_capacity == 0 {
        return Err(PrepareError::NoContentsCapacity);
    }
    let mut update = Update::open(pdf)?;
    let pages: Vec<ObjectId> = update.previous().page_iter().collect();
    let page_index = options.visible.as_ref().map_or(0, |visible| visible.page);
    let page_id = match pages.get(page_index) {
        Some(&id) => id,
        None if pages.is_empty() => return Err(PrepareError::NoPages),
        None => {
            return Err(PrepareError::PageOutOfRange {
                page: page_index,
                pages: pages.len(),
            });
        }
    };

    let signature_id = update.add(signature_dictionary(options));
    let field_name = unused_field_name(&update)?;
    let mut widget = dictionary! {
        "Type" => "Annot",
        "Subtype" => "Widget",
        "FT" => "Sig",
        "T" => text_string(&field_name),
        "V" => signature_id,
        "F" => WIDGET_FLAGS,
        "P" => page_id,
        "Rect" => vec![0.into(), 0.into(), 0.into(), 0.into()],
    };
    if let Some(visible) = &options.visible {
        let (width, height) = visible
            .size()
            .ok_or(PrepareError::InvalidRectangle(visible.rect))?;
        let appearance = visible.add_appearance(width, height, &mut update)?;
        widget.set("Rect", visible.rect.map(Object::from).to_vec());
        widget.set("AP", dictionary! { "N" => appearance });
    }
    let widget_id = update.add(widget);

    update.push_to_array(page_id, b"Annots", widget_id.into(), "the page's /Annots")?;
    register_field(&mut update, widget_id)?;

    let written = update.save()?;
    locate_and_patch(written, pdf.len(), signature_id, options.contents_capacity)
}

/// Writes `cms_der` into the prepared PDF's `/Contents`, returning the signed PDF.
pub fn embed(prepared: &PreparedPdf, cms_der: &[u8]) -> Result<Vec<u8>, EmbedError> {
    if cms_der.is_empty() {
        return Err(EmbedError::Empty);
    }
    let capacity = prepared.contents_capacity();
    if cms_der.len() > capacity {
        return Err(EmbedError::TooLarge {
            size: cms_der.len(),
            capacity,
        });
    }
    let mut signed = prepared.bytes.clone();
    let digits_start = prepared.byte_range.contents_start + 1;
    let hex = hex::encode_upper(cms_der);
    signed[digits_start..digits_start + hex.len()].copy_from_slice(hex.as_bytes());
    Ok(signed)
}

/// The signature dictionary with its two placeholders.
fn signature_dictionary(options: &SignatureOptions) -> lopdf::Dictionary {
    let mut signature = dictionary! {
        "Type" => "Sig",
        "Filter" => "Adobe.PPKLite",
        "SubFilter" => "ETSI.CAdES.detached",
        "ByteRange" => vec![0.into(), PLACEHOLDER_NUMBER.into(), PLACEHOLDER_NUMBER.into(), PLACEHOLDER_NUMBER.into()],
        "Contents" => Object::String(vec![0; options.contents_capacity], StringFormat::Hexadecimal),
        "M" => Object::string_literal(pdf_date(options.signing_time)),
    };
    let texts = [
        ("Name", &options.signer_name),
        ("Reason", &options.reason),
        ("Location", &options.location),
    ];
    for (key, value) in texts {
        if let Some(value) = value {
            signature.set(key, text_string(value));
        }
    }
    signature
}

/// The AcroForm dictionary: its id if it is an object of its own, else the catalog's.
fn acroform_owner(update: &Update) -> Result<(ObjectId, bool), RevisionError> {
    let catalog_id = update.catalog_id()?;
    let catalog = update
        .previous()
        .get_dictionary(catalog_id)
        .map_err(|source| RevisionError::Malformed {
            what: "the catalog",
            source,
        })?;
    Ok(match catalog.get(b"AcroForm") {
        Ok(Object::Reference(id)) => (*id, true),
        Ok(_) => (catalog_id, false),
        Err(_) => (catalog_id, false),
    })
}

/// Lists the widget in the AcroForm's `/Fields` (creating the AcroForm if needed) and sets
/// `/SigFlags`.
fn register_field(update: &mut Update, widget_id: ObjectId) -> Result<(), RevisionError> {
    const WHAT: &str = "the AcroForm";
    let (owner, acroform_is_object) = acroform_owner(update)?;
    let acroform_id = if acroform_is_object {
        owner
    } else {
        // An AcroForm inside the catalog (or none) becomes an object of its own.
        let inline = update
            .changed_dictionary(owner, "the catalog")?
            .remove(b"AcroForm");
        let acroform = match inline {
            Some(Object::Dictionary(dictionary)) => dictionary,
            _ => lopdf::Dictionary::new(),
        };
        let acroform_id = update.add(acroform);
        update
            .changed_dictionary(owner, "the catalog")?
            .set("AcroForm", acroform_id);
        acroform_id
    };
    update.push_to_array(acroform_id, b"Fields", widget_id.into(), WHAT)?;
    update
        .changed_dictionary(acroform_id, WHAT)?
        .set("SigFlags", SIG_FLAGS);
    Ok(())
}

/// The first `SignatureN` not yet used as a top-level field name.
fn unused_field_name(update: &Update) -> Result<String, RevisionError> {
    let document = update.previous();
    let (owner, acroform_is_object) = acroform_owner(update)?;
    let owner = document.get_dictionary(owner).ok();
    let acroform = match (owner, acroform_is_object) {
        (Some(dictionary), true) => Some(dictionary),
        (Some(catalog), false) => catalog
            .get(b"AcroForm")
            .ok()
            .and_then(|object| object.as_dict().ok()),
        (None, _) => None,
    };
    let used: Vec<String> = acroform
        .and_then(|acroform| acroform.get(b"Fields").ok())
        .map(|fields| resolve(document, fields))
        .and_then(|fields| fields.as_array().ok())
        .into_iter()
        .flatten()
        .filter_map(|field| resolve(document, field).as_dict().ok())
        .filter_map(|field| field.get(b"T").ok())
        .filter_map(|name| lopdf::decode_text_string(name).ok())
        .collect();
    Ok((1..)
        .map(|number| format!("{FIELD_NAME_PREFIX}{number}"))
        .find(|name| !used.contains(name))
        .unwrap_or_else(|| FIELD_NAME_PREFIX.to_owned()))
}

/// Finds the signature dictionary in the written update, patches its `/ByteRange` and
/// returns the prepared PDF.
fn locate_and_patch(
    mut written: Vec<u8>,
    original_len: usize,
    signature_id: ObjectId,
    capacity: usize,
) -> Result<PreparedPdf, PrepareError> {
    let header = format!("\n{} {} obj\n", signature_id.0, signature_id.1);
    let search_from = original_len.saturating_sub(1);
    let object_start = search_from
        + find(&written[search_from..], header.as_bytes())
            .ok_or(PrepareError::PlaceholderNotFound)?;
    let object_end = object_start
        + find(&written[object_start..], b"endobj").ok_or(PrepareError::PlaceholderNotFound)?;
    let object = &written[object_start..object_end];

    let placeholder = placeholder_text();
    let byte_range_at =
        object_start + find(object, &placeholder).ok_or(PrepareError::PlaceholderNotFound)?;
    let contents_key = b"/Contents";
    let contents_start = object_start
        + find(object, contents_key).ok_or(PrepareError::PlaceholderNotFound)?
        + contents_key.len();
    let contents_end = contents_start + 2 * capacity + 2;
    if !written
        .get(contents_start..contents_end)
        .is_some_and(is_empty_placeholder)
    {
        return Err(PrepareError::PlaceholderNotFound);
    }
    let byte_range = ByteRange {
        contents_start,
        contents_end,
        tail_len: written.len() - contents_end,
    };
    let patched = byte_range.patched_text().ok_or(PrepareError::TooLarge)?;
    written[byte_range_at..byte_range_at + placeholder.len()].copy_from_slice(&patched);
    Ok(PreparedPdf {
        bytes: written,
        byte_range,
    })
}

/// Whether `gap` is `<00…00>`.
fn is_empty_placeholder(gap: &[u8]) -> bool {
    match gap {
        [b'<', digits @ .., b'>'] => {
            !digits.is_empty() && digits.len() % 2 == 0 && digits.iter().all(|&d| d == b'0')
        }
        _ => false,
    }
}

/// The room for CMS bytes in the `/Contents` a range frames.
fn contents_capacity(byte_range: &ByteRange) -> usize {
    byte_range
        .contents_end
        .saturating_sub(byte_range.contents_start + 2)
        / 2
}

/// The first position of `needle` in `haystack`.
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_zero_filled_hex_string_is_an_empty_placeholder() {
        assert!(is_empty_placeholder(b"<0000>"));
        assert!(!is_empty_placeholder(b"<>"));
        assert!(!is_empty_placeholder(b"<000>"));
        assert!(!is_empty_placeholder(b"<00A0>"));
        assert!(!is_empty_placeholder(b"(0000)"));
    }
}
