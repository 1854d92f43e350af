//! PAdES: PDF signatures whose CMS is built around a signature made remotely by the citizen's CA.
//!
//! The flow the gateway drives, each step an incremental update that leaves the earlier bytes
//! (and so any earlier signature) untouched:
//!
//! 1. [`prepare`] appends a signature field, its widget (invisible, or visible with an
//!    appearance drawn in an embedded Unicode font) and a signature dictionary whose
//!    `/Contents` is a zero-filled placeholder. The [`PreparedPdf`] it returns knows the
//!    `/ByteRange` and the [`PreparedPdf::content_digest`] the CMS's message-digest must carry;
//!    it round-trips through [`PreparedPdf::to_bytes`] while the CA asks the citizen.
//! 2. [`embed`] writes the CMS (DER) into the placeholder.
//! 3. [`add_dss`] appends a Document Security Store with certificates, OCSP responses and CRLs
//!    for the B-LT level.
//!
//! [`signatures`] reads the signatures of any PDF back, with the structural checks on each
//! `/ByteRange` that validation needs; [`read`] also tells whether the PDF has a DSS.

mod appearance;
mod byte_range;
mod dss;
mod font;
mod prepare;
mod read;
mod revision;
mod text;

pub use appearance::VisibleSignature;
pub use byte_range::ByteRange;
pub use dss::{DssError, add_dss};
pub use font::AppearanceError;
pub use prepare::{
    DEFAULT_CONTENTS_CAPACITY, EmbedError, PrepareError, PreparedPdf, PreparedPdfDecodeError,
    SignatureOptions, embed, prepare,
};
pub use read::{
    Coverage, PdfSignature, SignatureProblem, SignatureReadError, SignedPdf, read, signatures,
};
pub use revision::RevisionError;
