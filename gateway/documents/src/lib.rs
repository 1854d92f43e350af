//! Signed documents: what the gateway builds around the raw signature a citizen's CA returns.
//!
//! The CA signs one digest; a portal wants a signed file. This crate prepares a document for
//! signing (the PDF signature dictionary and ByteRange, or the file digest for a detached
//! `.p7s`), builds the CMS signed attributes whose digest the CA signs, assembles the CMS
//! SignedData once the signature is back (with an RFC 3161 time-stamp for the B-T level), and
//! validates a signed document before it leaves the gateway.
//!
//! - [`cms`]: signed attributes, SignedData assembly around a remote signature, detached CAdES.
//! - [`timestamp`]: RFC 3161 requests and the checks on a TSA's answer.
//! - [`pades`]: PDF signature fields, ByteRange, incremental updates, the DSS dictionary.
//!
//! Nothing here talks to the network: the gateway carries digests to the CA and requests to
//! the TSA, and hands the answers back.

pub mod cms;
pub mod pades;
pub mod timestamp;

/// What the unit tests share.
#[cfg(test)]
mod test_support {
    /// A self-signed P-256 certificate, DER.
    pub(crate) fn self_signed_certificate() -> Vec<u8> {
        let key = rcgen::KeyPair::generate().expect("a key");
        rcgen::CertificateParams::new(vec!["test.invalid".to_owned()])
            .expect("parameters")
            .self_signed(&key)
            .expect("a certificate")
            .der()
            .to_vec()
    }
}
