//! Reading the signatures of a PDF back, with the structural checks validation relies on.
//!
//! For each signed signature field: its name, `/SubFilter`, `/M`, the CMS from `/Contents`
//! (zero padding cut off by the DER length), and the `/ByteRange` after checking that it
//! starts at 0, lies within the file, leaves a gap after the first range, and that the gap is
//! exactly this signature's `/Contents` hex string. A range that ends before the file does
//! covers an earlier revision; whether the bytes after it are a chain of incremental updates
//! (each a section whose `/Prev` points at the one before) is reported, not refused. What
//! those updates change is for the validator to judge.

use std::collections::HashSet;

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::byte_range::ByteRange;
use super::prepare::find;
use super::revision::resolve;

/// How deep the AcroForm field tree is followed.
const MAX_FIELD_DEPTH: usize = 32;

/// One signature of a PDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfSignature {
    /// The field's fully qualified name (partial names joined by `.`).
    pub field_name: String,
    /// `/SubFilter`, e.g. `ETSI.CAdES.detached` or `ETSI.RFC3161`.
    pub sub_filter: String,
    /// The checked `/ByteRange`.
    pub byte_range: ByteRange,
    /// The CMS (or time-stamp token) from `/Contents`, without its zero padding.
    pub cms_der: Vec<u8>,
    /// `/M`, the claimed signing time, as written (`D:…`).
    pub claimed_signing_time: Option<String>,
    /// What the signature covers.
    pub coverage: Coverage,
    /// SHA-256 over the covered bytes: what the CMS's message-digest must equal.
    pub content_digest: [u8; 32],
}

/// What part of the file a signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// The whole file except the `/Contents` gap.
    WholeFile,
    /// An earlier revision: the first `revision_len` bytes.
    Revision {
        /// The length of the covered revision.
        revision_len: usize,
        /// Whether the bytes after it are only incremental updates chained to it.
        later_bytes_are_incremental_updates: bool,
    },
}

/// Why the signatures of a PDF cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureReadError {
    /// The bytes do not start with a `%PDF-` header.
    #[error("the input does not start with a %PDF- header")]
    NotPdf,
    /// lopdf could not parse the PDF.
    #[error("the PDF could not be parsed")]
    Unreadable(#[source] lopdf::Error),
    /// The PDF is encrypted.
    #[error("the PDF is encrypted")]
    Encrypted,
    /// A signature field's signature is malformed.
    #[error("signature field {field:?}: {problem}")]
    Signature {
        /// The field's name.
        field: String,
        /// What is wrong.
        #[source]
        problem: SignatureProblem,
    },
}

/// What is wrong with one signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureProblem {
    /// `/V` is not a dictionary.
    #[error("the signature value is not a dictionary")]
    NotADictionary,
    /// `/SubFilter` is missing or not a name.
    #[error("/SubFilter is missing")]
    MissingSubFilter,
    /// `/ByteRange` is not an array of four integers.
    #[error("/ByteRange is not an array of four integers")]
    ByteRangeShape,
    /// A `/ByteRange` number is negative.
    #[error("/ByteRange has a negative number")]
    ByteRangeNegative,
    /// `/ByteRange` does not start at 0.
    #[error("/ByteRange does not start at offset 0")]
    ByteRangeNotFromStart,
    /// The ranges overlap, are out of order or leave no gap.
    #[error("/ByteRange's ranges overlap or leave no gap")]
    ByteRangeOverlaps,
    /// The ranges reach past the end of the file.
    #[error("/ByteRange reaches past the end of the file")]
    ByteRangeOutOfBounds,
    /// `/Contents` is missing or not a string.
    #[error("/Contents is missing")]
    MissingContents,
    /// The gap between the ranges is not this signature's `/Contents` hex string.
    #[error("the /ByteRange gap is not this signature's /Contents hex string")]
    GapIsNotContents,
    /// `/Contents` does not start with a DER SEQUENCE of definite length that fits.
    #[error("/Contents does not hold a DER SEQUENCE of definite length")]
    ContentsNotDer,
    /// Something other than zero padding follows the CMS in `/Contents`.
    #[error("/Contents has data after the CMS")]
    TrailingData,
}

/// What a validator reads from a signed PDF: its signatures and whether it carries a
/// Document Security Store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPdf {
    /// The signatures, as [`signatures`] gives them.
    pub signatures: Vec<PdfSignature>,
    /// Whether the catalog (of the latest revision) has a `/DSS` dictionary: validation data
    /// for the B-LT level. What it holds is not read.
    pub has_dss: bool,
}

/// The signatures of `pdf`, in the order of the AcroForm's fields. Fields without a value
/// (unsigned) are skipped.
pub fn signatures(pdf: &[u8]) -> Result<Vec<PdfSignature>, SignatureReadError> {
    read(pdf).map(|signed| signed.signatures)
}

/// The signatures of `pdf` ([`signatures`]) and whether it has a DSS, the PDF parsed once.
pub fn read(pdf: &[u8]) -> Result<SignedPdf, SignatureReadError> {
    if !pdf.starts_with(b"%PDF-") {
        return Err(SignatureReadError::NotPdf);
    }
    let document = Document::load_mem(pdf).map_err(SignatureReadError::Unreadable)?;
    if document.is_encrypted() || document.was_encrypted() {
        return Err(SignatureReadError::Encrypted);
    }
    let has_dss = has_dss(&document);
    let Some(fields) = acroform_fields(&document) else {
        return Ok(SignedPdf {
            signatures: Vec::new(),
            has_dss,
        });
    };
    let mut found = Vec::new();
    let mut visited = HashSet::new();
    for field in fields {
        collect_signature_fields(&document, field, None, None, 0, &mut visited, &mut found);
    }
    let signatures = found
        .into_iter()
        .map(|(field, value)| {
            read_signature(pdf, &document, value)
                .map(|parts| parts.into_signature(field.clone()))
                .map_err(|problem| SignatureReadError::Signature { field, problem })
        })
        .collect::<Result<_, _>>()?;
    Ok(SignedPdf {
        signatures,
        has_dss,
    })
}

/// Whether the catalog's `/DSS` is a dictionary.
fn has_dss(document: &Document) -> bool {
    document
        .catalog()
        .ok()
        .and_then(|catalog| catalog.get(b"DSS").ok())
        .is_some_and(|dss| resolve(document, dss).as_dict().is_ok())
}

/// The top-level fields of the AcroForm.
fn acroform_fields(document: &Document) -> Option<&Vec<Object>> {
    let catalog = document.catalog().ok()?;
    let acroform = resolve(document, catalog.get(b"AcroForm").ok()?)
        .as_dict()
        .ok()?;
    resolve(document, acroform.get(b"Fields").ok()?)
        .as_array()
        .ok()
}

/// Walks the field tree under `field`, collecting `(qualified name, /V)` of each signature
/// field that has a value. `/FT` is inherited; cycles and over-deep trees are cut.
fn collect_signature_fields<'a>(
    document: &'a Document,
    field: &'a Object,
    parent_name: Option<&str>,
    inherited_type: Option<&'a [u8]>,
    depth: usize,
    visited: &mut HashSet<ObjectId>,
    found: &mut Vec<(String, &'a Object)>,
) {
    if depth > MAX_FIELD_DEPTH {
        return;
    }
    if let Ok(id) = field.as_reference()
        && !visited.insert(id)
    {
        return;
    }
    let Ok(dictionary) = resolve(document, field).as_dict() else {
        return;
    };
    let partial = dictionary
        .get(b"T")
        .ok()
        .and_then(|name| lopdf::decode_text_string(name).ok());
    let name = match (parent_name, partial) {
        (Some(parent), Some(partial)) => format!("{parent}.{partial}"),
        (None, Some(partial)) => partial,
        (Some(parent), None) => parent.to_owned(),
        (None, None) => String::new(),
    };
    let field_type = dictionary
        .get(b"FT")
        .and_then(Object::as_name)
        .ok()
        .or(inherited_type);
    if field_type == Some(b"Sig".as_slice())
        && let Ok(value) = dictionary.get(b"V")
    {
        found.push((name.clone(), value));
    }
    if let Some(kids) = kids(document, dictionary) {
        for kid in kids {
            collect_signature_fields(
                document,
                kid,
                Some(&name),
                field_type,
                depth + 1,
                visited,
                found,
            );
        }
    }
}

/// A field's `/Kids`.
fn kids<'a>(document: &'a Document, field: &'a Dictionary) -> Option<&'a Vec<Object>> {
    resolve(document, field.get(b"Kids").ok()?).as_array().ok()
}

/// A signature dictionary's parts, before the field name is known to it.
struct SignatureParts {
    sub_filter: String,
    byte_range: ByteRange,
    cms_der: Vec<u8>,
    claimed_signing_time: Option<String>,
    coverage: Coverage,
    content_digest: [u8; 32],
}

impl SignatureParts {
    fn into_signature(self, field_name: String) -> PdfSignature {
        PdfSignature {
            field_name,
            sub_filter: self.sub_filter,
            byte_range: self.byte_range,
            cms_der: self.cms_der,
            claimed_signing_time: self.claimed_signing_time,
            coverage: self.coverage,
            content_digest: self.content_digest,
        }
    }
}

/// Reads and checks one signature dictionary.
fn read_signature(
    pdf: &[u8],
    document: &Document,
    value: &Object,
) -> Result<SignatureParts, SignatureProblem> {
    let signature = resolve(document, value)
        .as_dict()
        .map_err(|_| SignatureProblem::NotADictionary)?;
    let sub_filter = signature
        .get(b"SubFilter")
        .and_then(Object::as_name)
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .map_err(|_| SignatureProblem::MissingSubFilter)?;
    let byte_range = checked_byte_range(signature.get(b"ByteRange").ok(), pdf.len())?;
    let contents = signature
        .get(b"Contents")
        .and_then(Object::as_str)
        .map_err(|_| SignatureProblem::MissingContents)?;
    if !gap_is_contents(
        &pdf[byte_range.contents_start..byte_range.contents_end],
        contents,
    ) {
        return Err(SignatureProblem::GapIsNotContents);
    }
    let cms_der = strip_padding(contents)?.to_vec();
    let claimed_signing_time = signature
        .get(b"M")
        .ok()
        .and_then(|time| lopdf::decode_text_string(time).ok());
    let revision_len = byte_range.end();
    let coverage = if revision_len == pdf.len() {
        Coverage::WholeFile
    } else {
        Coverage::Revision {
            revision_len,
            later_bytes_are_incremental_updates: is_chain_of_updates(pdf, revision_len),
        }
    };
    Ok(SignatureParts {
        sub_filter,
        byte_range,
        cms_der,
        claimed_signing_time,
        coverage,
        content_digest: byte_range.digest(pdf),
    })
}

/// `/ByteRange` as four in-bounds offsets `[0 a b c]` with `a < b`.
fn checked_byte_range(
    byte_range: Option<&Object>,
    file_len: usize,
) -> Result<ByteRange, SignatureProblem> {
    let numbers = byte_range
        .and_then(|range| range.as_array().ok())
        .filter(|range| range.len() == 4)
        .ok_or(SignatureProblem::ByteRangeShape)?;
    let mut values = [0usize; 4];
    for (value, number) in values.iter_mut().zip(numbers) {
        let number = number
            .as_i64()
            .map_err(|_| SignatureProblem::ByteRangeShape)?;
        *value = usize::try_from(number).map_err(|_| SignatureProblem::ByteRangeNegative)?;
    }
    let [start, contents_start, contents_end, tail_len] = values;
    if start != 0 {
        return Err(SignatureProblem::ByteRangeNotFromStart);
    }
    if contents_start >= contents_end {
        return Err(SignatureProblem::ByteRangeOverlaps);
    }
    if contents_end
        .checked_add(tail_len)
        .is_none_or(|end| end > file_len)
    {
        return Err(SignatureProblem::ByteRangeOutOfBounds);
    }
    Ok(ByteRange {
        contents_start,
        contents_end,
        tail_len,
    })
}

/// Whether `gap` is `<hex>` and the hex is exactly `contents`.
fn gap_is_contents(gap: &[u8], contents: &[u8]) -> bool {
    match gap {
        [b'<', digits @ .., b'>'] => hex::decode(digits).is_ok_and(|bytes| bytes == contents),
        _ => false,
    }
}

/// The DER SEQUENCE at the start of `contents`, without the zero padding after it.
fn strip_padding(contents: &[u8]) -> Result<&[u8], SignatureProblem> {
    let not_der = SignatureProblem::ContentsNotDer;
    let [0x30, first_length, rest @ ..] = contents else {
        return Err(not_der);
    };
    let (header_len, body_len) = match *first_length {
        short @ 0..=0x7f => (2, usize::from(short)),
        long @ 0x81..=0x84 => {
            let count = usize::from(long & 0x7f);
            let digits = rest.get(..count).ok_or(not_der.clone())?;
            let body_len = digits
                .iter()
                .fold(0usize, |length, &digit| (length << 8) | usize::from(digit));
            (2 + count, body_len)
        }
        // Indefinite (BER) or absurd lengths.
        _ => return Err(not_der),
    };
    let total = header_len
        .checked_add(body_len)
        .filter(|&total| total <= contents.len())
        .ok_or(not_der)?;
    let (cms, padding) = contents.split_at(total);
    if padding.iter().any(|&byte| byte != 0) {
        return Err(SignatureProblem::TrailingData);
    }
    Ok(cms)
}

/// Whether `pdf[revision_len..]` is a chain of incremental updates on top of the revision
/// `pdf[..revision_len]`: the revision ends with `%%EOF`, and each later section ends with
/// `startxref`/`%%EOF` and has a `/Prev` naming the previous section's `startxref`.
/// Conservative: an update whose binary streams happen to hold `%%EOF` reads as `false`.
fn is_chain_of_updates(pdf: &[u8], revision_len: usize) -> bool {
    let revision = &pdf[..revision_len];
    let Some(mut previous_xref) = final_startxref(revision) else {
        return false;
    };
    let mut section_start = revision_len;
    while let Some(eof) = find(&pdf[section_start..], b"%%EOF") {
        let section_end = section_start + eof + b"%%EOF".len();
        let Some(xref) = final_startxref(&pdf[..section_end]) else {
            return false;
        };
        if xref < section_start || prev_of_section(pdf, xref) != Some(previous_xref) {
            return false;
        }
        previous_xref = xref;
        section_start = section_end;
    }
    section_start > revision_len && pdf[section_start..].iter().all(u8::is_ascii_whitespace)
}

/// The `startxref` offset of a revision ending with `startxref N %%EOF` (and blanks).
fn final_startxref(revision: &[u8]) -> Option<usize> {
    let trimmed = revision.trim_ascii_end().strip_suffix(b"%%EOF")?;
    let keyword = b"startxref";
    let at = trimmed
        .windows(keyword.len())
        .rposition(|window| window == keyword)?;
    let number = trimmed[at + keyword.len()..].trim_ascii();
    std::str::from_utf8(number).ok()?.parse().ok()
}

/// The `/Prev` of the cross-reference section at `xref`: the trailer of a table, or the
/// dictionary of a cross-reference stream (read up to its `stream` keyword).
fn prev_of_section(pdf: &[u8], xref: usize) -> Option<usize> {
    let section = pdf.get(xref..)?;
    let end = find(section, b"startxref")?;
    let section = &section[..end];
    let section = find(section, b"stream").map_or(section, |at| &section[..at]);
    let key = b"/Prev";
    let at = find(section, key)?;
    let digits: Vec<u8> = section[at + key.len()..]
        .iter()
        .copied()
        .skip_while(u8::is_ascii_whitespace)
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_after_a_short_sequence_is_cut() {
        let contents = [0x30, 0x03, 0x02, 0x01, 0x05, 0, 0, 0];
        assert_eq!(strip_padding(&contents), Ok(&contents[..5]));
    }

    #[test]
    fn padding_after_a_long_form_length_is_cut() {
        let mut contents = vec![0x30, 0x82, 0x01, 0x00];
        contents.extend(std::iter::repeat_n(0x42, 256));
        contents.extend([0; 10]);
        assert_eq!(strip_padding(&contents).map(<[u8]>::len), Ok(260));
    }

    #[test]
    fn a_length_past_the_contents_or_data_after_the_cms_is_refused() {
        assert_eq!(
            strip_padding(&[0x30, 0x05, 0x01]),
            Err(SignatureProblem::ContentsNotDer)
        );
        assert_eq!(
            strip_padding(&[0x30, 0x01, 0x00, 0x07]),
            Err(SignatureProblem::TrailingData)
        );
        assert_eq!(
            strip_padding(&[0x30, 0x80, 0x00, 0x00]),
            Err(SignatureProblem::ContentsNotDer)
        );
        assert_eq!(strip_padding(&[]), Err(SignatureProblem::ContentsNotDer));
    }

    #[test]
    fn byte_ranges_are_checked() {
        let range = |values: [i64; 4]| {
            Object::Array(values.iter().map(|&value| Object::Integer(value)).collect())
        };
        assert!(checked_byte_range(Some(&range([0, 10, 20, 5])), 25).is_ok());
        assert_eq!(
            checked_byte_range(Some(&range([0, 10, 20, 6])), 25),
            Err(SignatureProblem::ByteRangeOutOfBounds)
        );
        assert_eq!(
            checked_byte_range(Some(&range([1, 10, 20, 5])), 25),
            Err(SignatureProblem::ByteRangeNotFromStart)
        );
        assert_eq!(
            checked_byte_range(Some(&range([0, 20, 10, 5])), 25),
            Err(SignatureProblem::ByteRangeOverlaps)
        );
        assert_eq!(
            checked_byte_range(Some(&range([0, -10, 20, 5])), 25),
            Err(SignatureProblem::ByteRangeNegative)
        );
        assert_eq!(
            checked_byte_range(Some(&range([0, 10, 20, i64::MAX])), 25),
            Err(SignatureProblem::ByteRangeOutOfBounds)
        );
        assert_eq!(
            checked_byte_range(Some(&Object::Integer(3)), 25),
            Err(SignatureProblem::ByteRangeShape)
        );
        assert_eq!(
            checked_byte_range(None, 25),
            Err(SignatureProblem::ByteRangeShape)
        );
    }

    #[test]
    fn the_gap_must_be_the_contents_in_hex() {
        assert!(gap_is_contents(b"<0A0b>", &[0x0a, 0x0b]));
        assert!(!gap_is_contents(b"<0A0C>", &[0x0a, 0x0b]));
        assert!(!gap_is_contents(b"(0A0B)", &[0x0a, 0x0b]));
        assert!(!gap_is_contents(b"<0A0>", &[0x0a]));
    }
}
