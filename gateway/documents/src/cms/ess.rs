//! The ESS signing-certificate attributes, which bind a signature to its signer's
//! certificate: signingCertificateV2 (RFC 5035), which the gateway writes, and the older
//! signingCertificate (RFC 2634, SHA-1), which many TSAs still put in their tokens. `cms` 0.2
//! has no types for them, so their structures are declared here with `der`'s derive, and
//! encoded by `der`.

use der::Sequence;
use der::asn1::{Any, OctetString};
use der::oid::db::rfc5912::ID_SHA_256;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::{GeneralName, GeneralNames};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;

/// `SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies SEQUENCE OF
/// PolicyInformation OPTIONAL }`.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub(crate) struct SigningCertificateV2 {
    pub(crate) certs: Vec<EssCertIdV2>,
    /// Read and kept, never interpreted.
    #[asn1(optional = "true")]
    pub(crate) policies: Option<Any>,
}

/// `ESSCertIDv2 ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier DEFAULT sha256, certHash
/// OCTET STRING, issuerSerial IssuerSerial OPTIONAL }`. The gateway writes sha256 by leaving
/// the algorithm out (DER omits defaults).
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub(crate) struct EssCertIdV2 {
    #[asn1(optional = "true")]
    pub(crate) hash_algorithm: Option<AlgorithmIdentifierOwned>,
    pub(crate) cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub(crate) issuer_serial: Option<IssuerSerial>,
}

/// `SigningCertificate ::= SEQUENCE { certs SEQUENCE OF ESSCertID, policies SEQUENCE OF
/// PolicyInformation OPTIONAL }` (RFC 2634).
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub(crate) struct SigningCertificate {
    pub(crate) certs: Vec<EssCertId>,
    /// Read and kept, never interpreted.
    #[asn1(optional = "true")]
    pub(crate) policies: Option<Any>,
}

/// `ESSCertID ::= SEQUENCE { certHash OCTET STRING (SHA-1), issuerSerial IssuerSerial
/// OPTIONAL }` (RFC 2634).
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub(crate) struct EssCertId {
    pub(crate) cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub(crate) issuer_serial: Option<IssuerSerial>,
}

/// `IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber,
/// issuerUID UniqueIdentifier OPTIONAL }` (issuerUID is never written nor read).
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub(crate) struct IssuerSerial {
    pub(crate) issuer: GeneralNames,
    pub(crate) serial_number: SerialNumber,
}

impl SigningCertificateV2 {
    /// The attribute value naming `certificate`, whose exact DER is `der`: its SHA-256 and
    /// its issuer and serial number.
    pub(crate) fn naming(certificate: &Certificate, der: &[u8]) -> der::Result<Self> {
        Ok(Self {
            certs: vec![EssCertIdV2 {
                hash_algorithm: None,
                cert_hash: OctetString::new(Sha256::digest(der).to_vec())?,
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(
                        certificate.tbs_certificate.issuer.clone(),
                    )],
                    serial_number: certificate.tbs_certificate.serial_number.clone(),
                }),
            }],
            policies: None,
        })
    }

    /// Whether its first ESSCertIDv2 (the signer's, RFC 5035 §5.4) names the certificate
    /// `certificate` whose DER is `der`: a SHA-256 hash equal to that of the DER and, when
    /// present, the same issuer and serial number. Another hash algorithm does not match.
    pub(crate) fn names(&self, certificate: &Certificate, der: &[u8]) -> bool {
        let Some(first) = self.certs.first() else {
            return false;
        };
        let sha256 = first
            .hash_algorithm
            .as_ref()
            .is_none_or(|algorithm| algorithm.oid == ID_SHA_256);
        sha256
            && first.cert_hash.as_bytes() == Sha256::digest(der).as_slice()
            && IssuerSerial::matches(first.issuer_serial.as_ref(), certificate)
    }
}

impl SigningCertificate {
    /// Whether its first ESSCertID names `certificate`, whose DER is `der`: the SHA-1 hash
    /// of the DER and, when present, the same issuer and serial number.
    pub(crate) fn names(&self, certificate: &Certificate, der: &[u8]) -> bool {
        self.certs.first().is_some_and(|first| {
            first.cert_hash.as_bytes() == Sha1::digest(der).as_slice()
                && IssuerSerial::matches(first.issuer_serial.as_ref(), certificate)
        })
    }
}

impl IssuerSerial {
    /// Whether `issuer_serial`, if given, names `certificate`'s issuer and serial number.
    fn matches(issuer_serial: Option<&Self>, certificate: &Certificate) -> bool {
        issuer_serial.is_none_or(|issuer_serial| {
            issuer_serial.serial_number == certificate.tbs_certificate.serial_number
                && issuer_serial.issuer.iter().any(|name| {
                    matches!(name, GeneralName::DirectoryName(issuer)
                        if *issuer == certificate.tbs_certificate.issuer)
                })
        })
    }
}
