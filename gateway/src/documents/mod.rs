//! Signed documents, as the gateway makes them: a portal sends a PDF or any file, the CA
//! signs the digest of the CMS signed attributes through the normal transaction flow, and
//! the gateway hands back a PAdES-signed PDF or a detached CAdES `.p7s`.
//!
//! The formats themselves (signature dictionary, ByteRange, SignedData, RFC 3161 tokens)
//! are `kyso-documents`'; this module carries them through the gateway: settings, the
//! time-stamping authority's client, and where prepared and signed documents live.
//!
//! - [`inspection`]: every signature of a signed PDF or `.p7s`, with its structural checks:
//!   what `POST /v1/verifications` judges and what the gateway checks before it returns a
//!   signed document.

pub mod inspection;
