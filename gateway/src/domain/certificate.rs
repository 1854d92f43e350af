//! A citizen's certificate as the gateway describes it, and what each provider answered to
//! a certificate search.

use crate::domain::error::ServiceError;
use crate::verify::CertificateFacts;

/// Whether a certificate can sign now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStatus {
    /// Within its validity period and active at the CA.
    Valid,
    /// Past its validity period.
    Expired,
    /// Before its validity period.
    NotYetValid,
    /// The CA says it cannot sign (revoked, locked, suspended).
    Inactive,
}

/// A citizen's certificate at a CA.
#[derive(Debug, Clone)]
pub struct CitizenCertificate {
    /// The CA's handle.
    pub certificate_id: String,
    /// What the certificate says (subject, issuer, serial, validity, key).
    pub facts: CertificateFacts,
    /// Whether it can sign now.
    pub status: CertificateStatus,
    /// DER certificates, the citizen's first, then its issuers.
    pub chain_der: Vec<Vec<u8>>,
    /// The same certificates in PEM, as portals are shown them.
    pub chain_pem: Vec<String>,
}

/// What one provider answered to a certificate search.
#[derive(Debug)]
pub enum ProviderAnswer {
    /// The citizen holds these certificates there (possibly none).
    Answered(Vec<CitizenCertificate>),
    /// The provider failed or did not answer in time.
    Failed(ServiceError),
}
