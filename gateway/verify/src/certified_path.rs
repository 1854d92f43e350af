//! A certification path built and judged once, then reused: the CPU-heavy part of a
//! verification (parsing, path building, a signature check per link) kept apart from what
//! changes between calls (the validation time, revocation, the citizen, the document
//! signatures).
//!
//! [`CertifiedPath::build`] validates the path at one time, revocation aside. A path that
//! passed stays passed at any time within [`CertifiedPath::reusable_at`] (the intersection
//! of its certificates' validity periods), so a caller may cache it under
//! [`crate::cache_key`]; [`CertifiedPath::report`] then adds the time and the revocation
//! judgement, and [`CertifiedPath::verify_digests`] the citizen and the document signatures,
//! with the signer's key parsed once.

use time::OffsetDateTime;

use crate::path::{self, KeyPurpose, display_name, format_time};
use crate::report::{Finding, Indication, SubIndication, VerificationReport};
use crate::revocation::{self, PathCertificate, RevocationPolicy, RevocationSource};
use crate::signature::{CheckedSignature, SignerKey};
use crate::{SignatureVerification, SignedDigest, TrustAnchors, Validation, VerifyError, citizen};

/// A signer's certification path, validated at one time without revocation.
#[derive(Debug, Clone)]
pub struct CertifiedPath {
    /// The outcome at the build time, revocation aside.
    report: VerificationReport,
    /// The path, signer first, anchor last, when one reached an anchor; else empty.
    certificates: Vec<PathCertificate>,
    signer_key: Result<SignerKey, VerifyError>,
    /// The signer's display name and personal ID numbers, read once (a path is cached and
    /// serves every signature of its certificate).
    signer_name: String,
    signer_personal_ids: Vec<String>,
    /// The signer's and the anchor's names, for the message of a passed path.
    names: Option<(String, String)>,
    anchors_id: [u8; 32],
}

/// One certificate whose revocation status is asked, with its issuer.
#[derive(Debug, Clone, Copy)]
pub struct RevocationRequest<'a> {
    /// The certificate, DER.
    pub certificate: &'a [u8],
    /// The next certificate of the path, which issued it, DER.
    pub issuer: &'a [u8],
}

impl CertifiedPath {
    /// Builds and judges the path of `signer_der`, a document signer's certificate, with the
    /// intermediates `chain_der` the CA sent, to `anchors`, at `at`.
    pub fn build(
        signer_der: &[u8],
        chain_der: &[Vec<u8>],
        anchors: &TrustAnchors,
        at: OffsetDateTime,
    ) -> Self {
        Self::build_for(
            KeyPurpose::DocumentSigning,
            signer_der,
            chain_der,
            anchors,
            at,
        )
    }

    /// [`Self::build`] for a certificate judged fit for `purpose` (a time-stamping
    /// authority's, for instance). Its [`crate::cache_key`] does not tell purposes apart:
    /// cache paths of one purpose under one key space.
    pub fn build_for(
        purpose: KeyPurpose,
        signer_der: &[u8],
        chain_der: &[Vec<u8>],
        anchors: &TrustAnchors,
        at: OffsetDateTime,
    ) -> Self {
        let Ok(signer) = crate::parse(signer_der) else {
            return Self {
                report: unparseable_signer(at),
                certificates: Vec::new(),
                signer_key: Err(VerifyError::MalformedCertificate),
                signer_name: String::new(),
                signer_personal_ids: Vec::new(),
                names: None,
                anchors_id: anchors.id(),
            };
        };
        let signer_key = SignerKey::of(&signer);
        let signer_name = display_name(&signer);
        let signer_personal_ids = citizen::personal_ids(&signer);
        let nodes = crate::nodes(signer, signer_der, chain_der, anchors);
        let found = path::validate(&nodes, at, purpose);
        let certificates: Vec<PathCertificate> = found
            .path
            .iter()
            .enumerate()
            .map(|(position, &index)| PathCertificate {
                der: nodes[index].der.to_vec(),
                whose: if position == 0 {
                    format!("The signer's certificate ({})", nodes[index].name())
                } else {
                    format!("The CA certificate {}", nodes[index].name())
                },
            })
            .collect();
        let names = match (found.path.first(), found.path.last()) {
            (Some(&signer), Some(&anchor)) => Some((nodes[signer].name(), nodes[anchor].name())),
            _ => None,
        };
        Self {
            report: found.report,
            certificates,
            signer_key,
            signer_name,
            signer_personal_ids,
            names,
            anchors_id: anchors.id(),
        }
    }

    /// Whether the path passed at its build time.
    pub fn passed(&self) -> bool {
        self.report.passed()
    }

    /// Whether this path may stand for a validation at `at`: it passed, and `at` is within
    /// every certificate's validity.
    pub fn reusable_at(&self, at: OffsetDateTime) -> bool {
        self.passed()
            && self
                .validity()
                .is_some_and(|(from, to)| from <= at && at <= to)
    }

    /// When every certificate of the path is valid (the latest notBefore, the earliest
    /// notAfter), if a path was built.
    pub fn validity(&self) -> Option<(OffsetDateTime, OffsetDateTime)> {
        self.report.path_validity()
    }

    /// The id of the trust anchors it was built against ([`TrustAnchors::id`]).
    pub fn anchors_id(&self) -> [u8; 32] {
        self.anchors_id
    }

    /// The certificates whose revocation status a passed path needs: every one but the
    /// anchor, each with its issuer. Empty for a path that did not pass.
    pub fn revocation_requests(&self) -> Vec<RevocationRequest<'_>> {
        if !self.passed() {
            return Vec::new();
        }
        self.certificates
            .windows(2)
            .map(|pair| RevocationRequest {
                certificate: &pair[0].der,
                issuer: &pair[1].der,
            })
            .collect()
    }

    /// The path's report at `at` (within [`Self::reusable_at`] for a path built at another
    /// time), with revocation judged from `source` unless `policy` is off.
    pub fn report(
        &self,
        at: OffsetDateTime,
        source: &dyn RevocationSource,
        policy: RevocationPolicy,
    ) -> VerificationReport {
        let mut report = self.report.clone();
        report.validation_time = at;
        if !report.passed() {
            return report;
        }
        if let Some((signer, anchor)) = &self.names {
            report.message = path::passed_message(signer, anchor, at);
        }
        if policy != RevocationPolicy::Off {
            let (findings, evidence) = revocation::judge(&self.certificates, source, at);
            report.revocation = evidence;
            if let Some(finding) = Finding::most_severe(findings) {
                report.indication = finding.sub_indication.indication();
                report.sub_indication = Some(finding.sub_indication);
                report.message = finding.message;
            }
        }
        report
    }

    /// The report of [`Self::report`] under `ctx` (whose anchors must be those the path was
    /// built against), with the citizen check when `user_id` is given: a certificate naming
    /// another person gives `total_failed`/`user_mismatch`, unless the path already failed.
    pub fn certificate_report(
        &self,
        user_id: Option<&str>,
        ctx: &Validation<'_>,
    ) -> VerificationReport {
        debug_assert_eq!(self.anchors_id, ctx.anchors.id(), "built for other anchors");
        let mut report = self.report(ctx.at, ctx.revocation, ctx.revocation_policy);
        if let Some(user_id) = user_id
            && report.indication != Indication::TotalFailed
            && !citizen::holds_personal_id(&self.signer_personal_ids, user_id)
        {
            report.indication = Indication::TotalFailed;
            report.sub_indication = Some(SubIndication::UserMismatch);
            report.message = format!(
                "The signer's certificate ({}) does not hold the personal ID number {user_id}.",
                self.signer_name
            );
        }
        report
    }

    /// Checks each document signature of `signed` with the signer's key, on top of
    /// [`Self::certificate_report`]; one [`SignatureVerification`] per element, in order.
    ///
    /// A signature that does not verify gives `total_failed`/`sig_crypto_failure` unless the
    /// certificate already failed (`total_failed`); a signature that verifies gets the
    /// certificate's report with its `signature_algorithm`.
    pub fn verify_digests(
        &self,
        user_id: Option<&str>,
        signed: &[SignedDigest<'_>],
        ctx: &Validation<'_>,
    ) -> Vec<SignatureVerification> {
        let base = self.certificate_report(user_id, ctx);
        signed
            .iter()
            .map(|document| {
                let checked = self
                    .signer_key
                    .as_ref()
                    .map_err(Clone::clone)
                    .and_then(|key| {
                        key.verify(document.hash_algorithm, document.digest, document.signature)
                    });
                signature_verification(&base, &self.signer_name, checked, ctx.at)
            })
            .collect()
    }
}

pub(crate) fn unparseable_signer(at: OffsetDateTime) -> VerificationReport {
    VerificationReport::new(
        at,
        Err(Finding::new(
            SubIndication::FormatFailure,
            "The signer's certificate cannot be parsed.",
        )),
        Vec::new(),
        Vec::new(),
    )
}

fn signature_verification(
    base: &VerificationReport,
    signer_name: &str,
    checked: Result<CheckedSignature, VerifyError>,
    at: OffsetDateTime,
) -> SignatureVerification {
    let mut report = base.clone();
    match checked {
        Ok(checked) => {
            if report.passed() {
                report.message = format!(
                    "The {} signature verifies with the certificate of {signer_name}, which was trusted and valid at {}.",
                    checked.algorithm,
                    format_time(at)
                );
            }
            report.signature_algorithm = Some(checked.algorithm.clone());
            SignatureVerification {
                report,
                signature: Some(checked),
            }
        }
        Err(error) => {
            if report.indication != Indication::TotalFailed {
                let (sub_indication, message) = match error {
                    VerifyError::DigestLength => (
                        SubIndication::FormatFailure,
                        "The digest's length does not fit its hash algorithm.".to_owned(),
                    ),
                    VerifyError::UnsupportedKey => (
                        SubIndication::CryptoConstraintsFailure,
                        format!(
                            "The key of {signer_name}'s certificate is not one kyso verifies document signatures with (RSA of 2048 bits or more, ECDSA P-256)."
                        ),
                    ),
                    _ => (
                        SubIndication::SigCryptoFailure,
                        format!(
                            "The signature does not verify over the submitted digest with the key of {signer_name}'s certificate."
                        ),
                    ),
                };
                report.indication = sub_indication.indication();
                report.sub_indication = Some(sub_indication);
                report.message = message;
            }
            SignatureVerification {
                report,
                signature: None,
            }
        }
    }
}
