//! Certification path building and validation (RFC 5280 §6.1, the parts that apply to
//! document signing), at one validation time.
//!
//! Building is a depth-first search from the signer's certificate: at each step every
//! certificate whose subject equals the current issuer (compared as RFC 5280 §7.1 says,
//! and agreeing on the key identifier when both sides have one) is a candidate, trust
//! anchors first, then the certificates the CA sent; a candidate whose key did not sign the
//! current certificate is dropped and the next one tried (backtracking). A path ends at the
//! first trust anchor reached; every certificate of [`crate::TrustAnchors`] is an anchor,
//! self-signed or not.
//!
//! A complete path is then judged, every certificate including the anchor:
//! - algorithm policy ([`crate::policy`]) on every key and every signature of the path;
//! - validity at the validation time;
//! - no critical extension kyso does not process (it processes basicConstraints, keyUsage,
//!   extKeyUsage, subject/authority key identifiers, subject/issuer alternative names,
//!   certificatePolicies, CRL distribution points, authority information access; name
//!   constraints, policy mappings, policy constraints and inhibitAnyPolicy are not, so a
//!   certificate marking them critical is refused);
//! - CA certificates: basicConstraints cA, keyUsage keyCertSign when keyUsage is present,
//!   pathLenConstraint (non-self-issued intermediates below);
//! - the signer's certificate: not a CA, keyUsage present with digitalSignature or
//!   nonRepudiation, and the extKeyUsage its [`KeyPurpose`] asks for: for document signing,
//!   none or one with documentSigning (1.3.6.1.5.5.7.3.36), emailProtection, Adobe Authentic
//!   Documents (1.2.840.113583.1.1.5) or anyExtendedKeyUsage; for a time-stamping authority
//!   (RFC 3161 §2.3), a critical extKeyUsage holding timeStamping and nothing else;
//!
//! The first path that passes is reported; if none does, the first complete path found, with
//! its most severe finding; if no path reaches an anchor, the longest partial path. Revocation
//! is judged afterwards, on the reported path ([`crate::CertifiedPath`]): a path that is
//! revoked is not replaced by another one.

use std::collections::HashMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::asn1_rs::{Oid, oid};
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::{
    OID_PKIX_AUTHORITY_INFO_ACCESS, OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER,
    OID_X509_EXT_BASIC_CONSTRAINTS, OID_X509_EXT_CERTIFICATE_POLICIES,
    OID_X509_EXT_CRL_DISTRIBUTION_POINTS, OID_X509_EXT_EXTENDED_KEY_USAGE,
    OID_X509_EXT_ISSUER_ALT_NAME, OID_X509_EXT_KEY_USAGE, OID_X509_EXT_SUBJECT_ALT_NAME,
    OID_X509_EXT_SUBJECT_KEY_IDENTIFIER,
};
use x509_parser::prelude::X509Certificate;

use crate::names::names_equal;
use crate::policy::{check_key, check_signature_algorithm};
use crate::report::{CertificateSummary, Finding, SubIndication, VerificationReport};

/// Longest path, signer and anchor included.
const MAX_PATH_LEN: usize = 8;
/// Most certificate signatures checked in one search (a bound on crafted inputs).
const MAX_SIGNATURE_CHECKS: usize = 32;
/// Most complete paths judged in one search.
const MAX_COMPLETE_PATHS: usize = 8;

/// RFC 9336 id-kp-documentSigning.
const EKU_DOCUMENT_SIGNING: Oid<'static> = oid!(1.3.6.1.5.5.7.3.36);
/// Adobe Authentic Documents Trust (PDF signing).
const EKU_ADOBE_AUTHENTIC_DOCUMENTS: Oid<'static> = oid!(1.2.840.113583.1.1.5);

/// What the end certificate of a path (the signer's) is judged fit for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum KeyPurpose {
    /// Signing documents: a citizen's certificate.
    #[default]
    DocumentSigning,
    /// Signing RFC 3161 time-stamp tokens: a time-stamping authority's certificate.
    TimeStamping,
}

/// Extensions kyso processes, and so accepts when critical.
const PROCESSED_EXTENSIONS: [&Oid<'static>; 10] = [
    &OID_X509_EXT_BASIC_CONSTRAINTS,
    &OID_X509_EXT_KEY_USAGE,
    &OID_X509_EXT_EXTENDED_KEY_USAGE,
    &OID_X509_EXT_SUBJECT_KEY_IDENTIFIER,
    &OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER,
    &OID_X509_EXT_SUBJECT_ALT_NAME,
    &OID_X509_EXT_ISSUER_ALT_NAME,
    &OID_X509_EXT_CERTIFICATE_POLICIES,
    &OID_X509_EXT_CRL_DISTRIBUTION_POINTS,
    &OID_PKIX_AUTHORITY_INFO_ACCESS,
];

/// One parsed certificate that may appear in a path.
pub(crate) struct Node<'a> {
    pub(crate) der: &'a [u8],
    pub(crate) x509: X509Certificate<'a>,
    anchor: bool,
    self_issued: bool,
}

impl<'a> Node<'a> {
    pub(crate) fn new(der: &'a [u8], x509: X509Certificate<'a>, anchor: bool) -> Self {
        let self_issued = names_equal(x509.subject(), x509.issuer());
        Self {
            der,
            x509,
            anchor,
            self_issued,
        }
    }

    fn summary(&self) -> CertificateSummary {
        CertificateSummary::of(self.der, &self.x509)
    }

    /// The subject's common name, else the whole subject, for messages.
    pub(crate) fn name(&self) -> String {
        display_name(&self.x509)
    }

    fn subject_key_id(&self) -> Option<&[u8]> {
        self.x509
            .extensions()
            .iter()
            .find_map(|extension| match extension.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0),
                _ => None,
            })
    }

    fn authority_key_id(&self) -> Option<&[u8]> {
        self.x509
            .extensions()
            .iter()
            .find_map(|extension| match extension.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    aki.key_identifier.as_ref().map(|id| id.0)
                }
                _ => None,
            })
    }
}

/// The subject's common name, else the whole subject.
pub(crate) fn display_name(certificate: &X509Certificate<'_>) -> String {
    certificate
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map_or_else(|| certificate.subject().to_string(), str::to_owned)
}

pub(crate) fn format_time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

/// Whether the issuer's signature on a certificate was checked.
#[derive(Debug, Clone)]
enum Link {
    /// The issuer's key verified it.
    Verified,
    /// The algorithm or the issuer's key is below the policy: not checked.
    Weak(String),
    /// It does not verify (or could not be checked).
    Broken,
}

/// What [`validate`] found: the report (revocation aside) and, for a path that reached an
/// anchor, the indexes of its certificates in `nodes`, signer first.
pub(crate) struct Found {
    pub(crate) report: VerificationReport,
    pub(crate) path: Vec<usize>,
}

/// Builds and judges a path for `nodes[0]` (the signer) among `nodes`, at `at`, the signer's
/// certificate judged for `purpose`.
pub(crate) fn validate(nodes: &[Node<'_>], at: OffsetDateTime, purpose: KeyPurpose) -> Found {
    let mut search = Search {
        nodes,
        at,
        purpose,
        links: HashMap::new(),
        checks_left: MAX_SIGNATURE_CHECKS,
        complete_left: MAX_COMPLETE_PATHS,
        longest: vec![0],
        wrong_key: false,
        judged: None,
    };
    let mut path = vec![0];
    search.extend(&mut path);
    let (path, outcome, complete) = match search.judged {
        Some((path, outcome)) => (path, outcome, true),
        None => {
            let last = &nodes[search.longest.last().copied().unwrap_or(0)];
            let message = if search.wrong_key {
                format!(
                    "No trusted path from the certificate of {}: a certificate named {} was found, but its key did not sign it.",
                    nodes[0].name(),
                    last.x509.issuer()
                )
            } else {
                format!(
                    "No trusted path from the certificate of {}: its issuer {} is neither a trusted root nor among the certificates the CA sent.",
                    nodes[0].name(),
                    last.x509.issuer()
                )
            };
            (
                search.longest,
                Err(Finding::new(
                    SubIndication::NoCertificateChainFound,
                    message,
                )),
                false,
            )
        }
    };
    let summaries = path.iter().map(|&i| nodes[i].summary()).collect();
    Found {
        report: VerificationReport::new(at, outcome, summaries, Vec::new()),
        path: if complete { path } else { Vec::new() },
    }
}

/// The message of a path that passed.
pub(crate) fn passed_message(signer: &str, anchor: &str, at: OffsetDateTime) -> String {
    format!(
        "The certificate of {signer} is trusted: it chains to {anchor} and every certificate of the path was valid at {}.",
        format_time(at)
    )
}

type Judged = (Vec<usize>, Result<String, Finding>);

struct Search<'n, 'a> {
    nodes: &'n [Node<'a>],
    at: OffsetDateTime,
    purpose: KeyPurpose,
    links: HashMap<(usize, usize), Link>,
    checks_left: usize,
    complete_left: usize,
    longest: Vec<usize>,
    /// A candidate issuer had the right name but not the right key.
    wrong_key: bool,
    /// The passed path, else the first complete one.
    judged: Option<Judged>,
}

impl Search<'_, '_> {
    /// Extends `path` towards an anchor; true once a passed path is found or the search
    /// must stop.
    fn extend(&mut self, path: &mut Vec<usize>) -> bool {
        if path.len() > self.longest.len() {
            self.longest.clone_from(path);
        }
        if path.len() >= MAX_PATH_LEN {
            return false;
        }
        let current = path.last().copied().unwrap_or(0);
        for candidate in self.candidates(current, path) {
            if matches!(self.link(current, candidate), Link::Broken) {
                self.wrong_key = true;
                continue;
            }
            path.push(candidate);
            let stop = if self.nodes[candidate].anchor {
                self.complete_left -= 1;
                let outcome = self.judge(path);
                let passed = outcome.is_ok();
                if passed || self.judged.is_none() {
                    self.judged = Some((path.clone(), outcome));
                }
                passed || self.complete_left == 0
            } else {
                self.extend(path)
            };
            if stop {
                return true;
            }
            path.pop();
        }
        false
    }

    /// The possible issuers of `nodes[current]` not yet in `path`, anchors first, then those
    /// valid at the validation time.
    fn candidates(&self, current: usize, path: &[usize]) -> Vec<usize> {
        let child = &self.nodes[current];
        let wanted_key = child.authority_key_id();
        let mut found: Vec<usize> = (1..self.nodes.len())
            .filter(|index| !path.contains(index))
            .filter(|&index| {
                let issuer = &self.nodes[index];
                names_equal(issuer.x509.subject(), child.x509.issuer())
                    && match (wanted_key, issuer.subject_key_id()) {
                        (Some(wanted), Some(key_id)) => wanted == key_id,
                        _ => true,
                    }
            })
            .collect();
        let at = self.at;
        found.sort_by_key(|&index| {
            let node = &self.nodes[index];
            let validity = node.x509.validity();
            let valid =
                validity.not_before.to_datetime() <= at && at <= validity.not_after.to_datetime();
            (!node.anchor, !valid)
        });
        found
    }

    fn link(&mut self, child: usize, issuer: usize) -> Link {
        if let Some(link) = self.links.get(&(child, issuer)) {
            return link.clone();
        }
        let certificate = &self.nodes[child].x509;
        let issuer_key = self.nodes[issuer].x509.public_key();
        let link = if let Err(reason) = check_signature_algorithm(&certificate.signature_algorithm)
        {
            Link::Weak(reason)
        } else if let Err(reason) = check_key(issuer_key) {
            Link::Weak(reason)
        } else if self.checks_left == 0 {
            Link::Broken
        } else {
            self.checks_left -= 1;
            match certificate.verify_signature(Some(issuer_key)) {
                Ok(()) => Link::Verified,
                Err(_) => Link::Broken,
            }
        };
        self.links.insert((child, issuer), link.clone());
        link
    }

    /// Judges a complete path: the message if it passed, else its most severe finding.
    fn judge(&self, path: &[usize]) -> Result<String, Finding> {
        let mut findings = Vec::new();
        for (position, &index) in path.iter().enumerate() {
            let issuer = path.get(position + 1).copied();
            self.judge_certificate(path, position, index, issuer, &mut findings);
        }
        match Finding::most_severe(findings) {
            Some(finding) => Err(finding),
            None => Ok(passed_message(
                &self.nodes[path[0]].name(),
                &self.nodes[path[path.len() - 1]].name(),
                self.at,
            )),
        }
    }

    fn judge_certificate(
        &self,
        path: &[usize],
        position: usize,
        index: usize,
        issuer: Option<usize>,
        findings: &mut Vec<Finding>,
    ) {
        let node = &self.nodes[index];
        let certificate = &node.x509;
        let name = node.name();
        let whose = if position == 0 {
            format!("The signer's certificate ({name})")
        } else {
            format!("The CA certificate {name}")
        };
        // Algorithm policy: the issuer's signature on it (the anchor's own is not relied on)
        // and its key.
        if let Some(issuer) = issuer
            && let Some(Link::Weak(reason)) = self.links.get(&(index, issuer))
        {
            findings.push(Finding::new(
                SubIndication::CryptoConstraintsFailure,
                format!("{whose} is signed with a weak algorithm: {reason}."),
            ));
        }
        if let Err(reason) = check_key(certificate.public_key()) {
            findings.push(Finding::new(
                SubIndication::CryptoConstraintsFailure,
                format!("{whose} has a weak key: {reason}."),
            ));
        }
        if certificate.signature_algorithm != certificate.tbs_certificate.signature {
            findings.push(Finding::new(
                SubIndication::FormatFailure,
                format!("{whose} names two different signature algorithms."),
            ));
        }
        self.judge_validity(position, &whose, certificate, findings);
        for extension in certificate.extensions() {
            if extension.critical && !PROCESSED_EXTENSIONS.contains(&&extension.oid) {
                findings.push(Finding::new(
                    SubIndication::ChainConstraintsFailure,
                    format!(
                        "{whose} has a critical extension kyso does not process ({}).",
                        extension.oid.to_id_string()
                    ),
                ));
            }
        }
        if position == 0 {
            judge_signer(&whose, certificate, self.purpose, findings);
        } else {
            let below = path[1..position]
                .iter()
                .filter(|&&i| !self.nodes[i].self_issued)
                .count();
            judge_ca(&whose, certificate, below, findings);
        }
    }

    fn judge_validity(
        &self,
        position: usize,
        whose: &str,
        certificate: &X509Certificate<'_>,
        findings: &mut Vec<Finding>,
    ) {
        let at = self.at;
        let not_before = certificate.validity().not_before.to_datetime();
        let not_after = certificate.validity().not_after.to_datetime();
        if at > not_after {
            findings.push(Finding::new(
                SubIndication::Expired,
                format!(
                    "{whose} expired at {}, before the validation time {}.",
                    format_time(not_after),
                    format_time(at)
                ),
            ));
        }
        if at < not_before {
            let sub_indication = if position == 0 {
                SubIndication::NotYetValid
            } else {
                SubIndication::OutOfBoundsNoPoe
            };
            findings.push(Finding::new(
                sub_indication,
                format!(
                    "{whose} is valid only from {}, after the validation time {}.",
                    format_time(not_before),
                    format_time(at)
                ),
            ));
        }
    }
}

fn judge_ca(
    whose: &str,
    certificate: &X509Certificate<'_>,
    below: usize,
    findings: &mut Vec<Finding>,
) {
    match certificate.basic_constraints() {
        Ok(Some(constraints)) if constraints.value.ca => {
            if let Some(limit) = constraints.value.path_len_constraint
                && below > limit as usize
            {
                findings.push(Finding::new(
                    SubIndication::ChainConstraintsFailure,
                    format!(
                        "{whose} allows {limit} intermediate CA certificate(s) below it, the path has {below}."
                    ),
                ));
            }
        }
        Ok(_) => findings.push(Finding::new(
            SubIndication::ChainConstraintsFailure,
            format!("{whose} is not a CA certificate (basicConstraints cA is not set)."),
        )),
        Err(_) => findings.push(unreadable(whose, "basicConstraints")),
    }
    match certificate.key_usage() {
        Ok(Some(usage)) if !usage.value.key_cert_sign() => findings.push(Finding::new(
            SubIndication::ChainConstraintsFailure,
            format!("{whose} may not sign certificates (keyUsage lacks keyCertSign)."),
        )),
        Ok(_) => {}
        Err(_) => findings.push(unreadable(whose, "keyUsage")),
    }
}

fn judge_signer(
    whose: &str,
    certificate: &X509Certificate<'_>,
    purpose: KeyPurpose,
    findings: &mut Vec<Finding>,
) {
    match certificate.basic_constraints() {
        Ok(Some(constraints)) if constraints.value.ca => findings.push(Finding::new(
            SubIndication::SigConstraintsFailure,
            format!("{whose} is a CA certificate, which may not sign documents."),
        )),
        Ok(_) => {}
        Err(_) => findings.push(unreadable(whose, "basicConstraints")),
    }
    match certificate.key_usage() {
        Ok(Some(usage)) if usage.value.digital_signature() || usage.value.non_repudiation() => {}
        Ok(Some(_)) => findings.push(Finding::new(
            SubIndication::SigConstraintsFailure,
            format!("{whose} may not make signatures (keyUsage has neither digitalSignature nor nonRepudiation)."),
        )),
        Ok(None) => findings.push(Finding::new(
            SubIndication::SigConstraintsFailure,
            format!("{whose} has no keyUsage allowing signatures (digitalSignature or nonRepudiation)."),
        )),
        Err(_) => findings.push(unreadable(whose, "keyUsage")),
    }
    match (purpose, certificate.extended_key_usage()) {
        (_, Err(_)) => findings.push(unreadable(whose, "extKeyUsage")),
        (KeyPurpose::DocumentSigning, Ok(Some(usage))) => {
            let usage = usage.value;
            let accepted = usage.any
                || usage.email_protection
                || usage.other.iter().any(|oid| {
                    *oid == EKU_DOCUMENT_SIGNING || *oid == EKU_ADOBE_AUTHENTIC_DOCUMENTS
                });
            if !accepted {
                findings.push(Finding::new(
                    SubIndication::SigConstraintsFailure,
                    format!("{whose} is restricted to other purposes than signing documents (extKeyUsage)."),
                ));
            }
        }
        (KeyPurpose::DocumentSigning, Ok(None)) => {}
        (KeyPurpose::TimeStamping, Ok(Some(usage))) => {
            let only_time_stamping = usage.value.time_stamping
                && !(usage.value.any
                    || usage.value.server_auth
                    || usage.value.client_auth
                    || usage.value.code_signing
                    || usage.value.email_protection
                    || usage.value.ocsp_signing)
                && usage.value.other.is_empty();
            if !(usage.critical && only_time_stamping) {
                findings.push(Finding::new(
                    SubIndication::SigConstraintsFailure,
                    format!("{whose} is not a time-stamping authority's (its extKeyUsage must be critical and hold timeStamping alone)."),
                ));
            }
        }
        (KeyPurpose::TimeStamping, Ok(None)) => findings.push(Finding::new(
            SubIndication::SigConstraintsFailure,
            format!("{whose} has no extKeyUsage timeStamping, which a time-stamping authority's must have."),
        )),
    }
}

fn unreadable(whose: &str, extension: &str) -> Finding {
    Finding::new(
        SubIndication::FormatFailure,
        format!("{whose} has an unreadable {extension} extension."),
    )
}
