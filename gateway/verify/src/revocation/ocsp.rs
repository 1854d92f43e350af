//! OCSP (RFC 6960) for a relying party: the request for one certificate, and the checks on
//! the response before its answer is believed.
//!
//! The request carries one SHA-1 CertID (what every responder understands; RFC 5019's
//! lightweight profile requires it), no nonce (answers are cached and shared, as RFC 5019
//! expects) and no signature. The response is believed only if:
//! - it is `successful` and a basic response;
//! - a single response is about the certificate: same serial, and issuer name and key hashes
//!   (SHA-1 or SHA-2) equal to those of the certificate's issuer on the validated path;
//! - its signature verifies, under the algorithm policy, with the key of the responder it
//!   names (by name or by key hash): the issuer itself, or a certificate carried in the
//!   response that the issuer signed, with extKeyUsage id-kp-OCSPSigning, valid now
//!   (RFC 6960 §4.2.2.2; such a responder is not itself checked for revocation, as
//!   id-pkix-ocsp-nocheck allows);
//! - thisUpdate is not ahead of the checker's clock and nextUpdate not behind it
//!   ([`super::check_freshness`]).

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use time::OffsetDateTime;
use x509_cert::der::asn1::{AnyRef, Null, OctetString};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::oid::db::rfc5912::{ID_SHA_1, ID_SHA_256, ID_SHA_384, ID_SHA_512};
use x509_cert::der::oid::db::rfc6960::ID_PKIX_OCSP_BASIC;
use x509_cert::der::{Decode, Encode, Reader, SliceReader};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    OcspResponseStatus, Request, ResponderId, TbsRequest,
};
use x509_parser::prelude::{AlgorithmIdentifier, FromDer, X509Certificate, X509Name};
use x509_parser::x509::SubjectPublicKeyInfo;

use super::{
    RevocationDataError, RevocationEvidence, RevocationSourceKind, RevocationStatus,
    check_freshness, reason_name, significant_serial,
};
use crate::names::names_equal;
use crate::path::display_name;
use crate::policy::{check_key, check_signature_algorithm};

const RESPONSE: &str = "OCSP response";

/// The DER OCSP request asking about `certificate_der`, issued by `issuer_der`.
///
/// # Errors
/// [`RevocationDataError::Malformed`] if either certificate cannot be parsed.
pub fn ocsp_request(
    certificate_der: &[u8],
    issuer_der: &[u8],
) -> Result<Vec<u8>, RevocationDataError> {
    let certificate = crate::parse(certificate_der)
        .map_err(|_| RevocationDataError::Malformed("the certificate"))?;
    let issuer =
        crate::parse(issuer_der).map_err(|_| RevocationDataError::Malformed("the issuer"))?;
    let malformed = |_| RevocationDataError::Malformed("the OCSP request");
    let cert_id = CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: ID_SHA_1,
            parameters: Some(Null.into()),
        },
        issuer_name_hash: OctetString::new(Sha1::digest(issuer.subject().as_raw()).to_vec())
            .map_err(malformed)?,
        issuer_key_hash: OctetString::new(
            Sha1::digest(&issuer.public_key().subject_public_key.data).to_vec(),
        )
        .map_err(malformed)?,
        serial_number: SerialNumber::new(certificate.raw_serial()).map_err(malformed)?,
    };
    OcspRequest {
        tbs_request: TbsRequest {
            version: Default::default(),
            requestor_name: None,
            request_list: vec![Request {
                req_cert: cert_id,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(malformed)
}

/// Checks the OCSP response `response_der` about `certificate_der` (issued by
/// `issuer_der`, the next certificate of its validated path) at `now`, and returns what it
/// says.
///
/// # Errors
/// Why the response cannot be believed ([`RevocationDataError`]).
pub fn check_ocsp_response(
    response_der: &[u8],
    certificate_der: &[u8],
    issuer_der: &[u8],
    now: OffsetDateTime,
) -> Result<RevocationEvidence, RevocationDataError> {
    let certificate = crate::parse(certificate_der)
        .map_err(|_| RevocationDataError::Malformed("the certificate"))?;
    let issuer =
        crate::parse(issuer_der).map_err(|_| RevocationDataError::Malformed("the issuer"))?;
    let response = OcspResponse::from_der(response_der)
        .map_err(|_| RevocationDataError::Malformed("the OCSP response"))?;
    if response.response_status != OcspResponseStatus::Successful {
        return Err(RevocationDataError::NotSuccessful(status_name(
            response.response_status,
        )));
    }
    let bytes = response
        .response_bytes
        .filter(|bytes| bytes.response_type == ID_PKIX_OCSP_BASIC)
        .ok_or(RevocationDataError::Malformed(
            "the OCSP response's basic response",
        ))?;
    let basic_der = bytes.response.as_bytes();
    let basic = BasicOcspResponse::from_der(basic_der)
        .map_err(|_| RevocationDataError::Malformed("the OCSP basic response"))?;

    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|single| is_about(&single.cert_id, &certificate, &issuer))
        .ok_or(RevocationDataError::NotAbout)?;

    let responder = check_signature(&basic, basic_der, &issuer, now)?;

    let this_update = to_time(&single.this_update)?;
    let next_update = single.next_update.as_ref().map(to_time).transpose()?;
    check_freshness(RESPONSE, this_update, next_update, now)?;
    let status = match &single.cert_status {
        CertStatus::Good(_) => RevocationStatus::Good,
        CertStatus::Revoked(info) => RevocationStatus::Revoked {
            time: to_time(&info.revocation_time)?,
            reason: info
                .revocation_reason
                .and_then(|reason| reason_name(reason as u32)),
        },
        CertStatus::Unknown(_) => RevocationStatus::Unknown,
    };
    Ok(RevocationEvidence {
        serial_number: crate::report::serial_hex(&certificate),
        source: RevocationSourceKind::Ocsp,
        produced_at: Some(to_time(&basic.tbs_response_data.produced_at)?),
        this_update,
        next_update,
        responder,
        status,
    })
}

fn status_name(status: OcspResponseStatus) -> String {
    match status {
        OcspResponseStatus::Successful => "successful",
        OcspResponseStatus::MalformedRequest => "malformedRequest",
        OcspResponseStatus::InternalError => "internalError",
        OcspResponseStatus::TryLater => "tryLater",
        OcspResponseStatus::SigRequired => "sigRequired",
        OcspResponseStatus::Unauthorized => "unauthorized",
    }
    .to_owned()
}

/// Whether a CertID names `certificate`, issued by `issuer`.
fn is_about(id: &CertId, certificate: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    let algorithm = id.hash_algorithm.oid;
    significant_serial(id.serial_number.as_bytes()) == significant_serial(certificate.raw_serial())
        && hash(algorithm, issuer.subject().as_raw())
            .is_some_and(|h| h == id.issuer_name_hash.as_bytes())
        && hash(algorithm, &issuer.public_key().subject_public_key.data)
            .is_some_and(|h| h == id.issuer_key_hash.as_bytes())
}

fn hash(algorithm: ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    Some(match algorithm {
        ID_SHA_1 => Sha1::digest(data).to_vec(),
        ID_SHA_256 => Sha256::digest(data).to_vec(),
        ID_SHA_384 => Sha384::digest(data).to_vec(),
        ID_SHA_512 => Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

/// Finds the responder the response names among the issuer and the certificates it carries,
/// verifies the signature with its key and checks it is authorised; returns its name.
fn check_signature(
    basic: &BasicOcspResponse,
    basic_der: &[u8],
    issuer: &X509Certificate<'_>,
    now: OffsetDateTime,
) -> Result<String, RevocationDataError> {
    let tbs = first_element(basic_der)
        .map_err(|_| RevocationDataError::Malformed("the OCSP basic response"))?;
    let algorithm_der = basic
        .signature_algorithm
        .to_der()
        .map_err(|_| RevocationDataError::Malformed("the OCSP signature algorithm"))?;
    let (_, algorithm) = AlgorithmIdentifier::from_der(&algorithm_der)
        .map_err(|_| RevocationDataError::Malformed("the OCSP signature algorithm"))?;
    check_signature_algorithm(&algorithm)
        .map_err(|reason| RevocationDataError::Weak(RESPONSE, reason))?;
    let signature = basic
        .signature
        .as_bytes()
        .ok_or(RevocationDataError::Malformed("the OCSP signature"))?;
    let verifies = |key: &SubjectPublicKeyInfo<'_>| {
        check_key(key).is_ok()
            && x509_parser::verify::verify_signature(
                key,
                &algorithm,
                &x509_parser::der_parser::asn1_rs::BitString::new(0, signature),
                &tbs,
            )
            .is_ok()
    };

    if names_responder(&basic.tbs_response_data.responder_id, issuer) {
        return if verifies(issuer.public_key()) {
            Ok(display_name(issuer))
        } else {
            Err(RevocationDataError::BadSignature(RESPONSE))
        };
    }
    let carried: Vec<Vec<u8>> = basic
        .certs
        .iter()
        .flatten()
        .filter_map(|certificate| certificate.to_der().ok())
        .collect();
    for der in &carried {
        let Ok(responder) = crate::parse(der) else {
            continue;
        };
        if !names_responder(&basic.tbs_response_data.responder_id, &responder) {
            continue;
        }
        if !verifies(responder.public_key()) {
            return Err(RevocationDataError::BadSignature(RESPONSE));
        }
        return if is_delegated_by(&responder, issuer, now) {
            Ok(display_name(&responder))
        } else {
            Err(RevocationDataError::UnauthorisedResponder(display_name(
                &responder,
            )))
        };
    }
    Err(RevocationDataError::UnauthorisedResponder(
        "a responder neither the issuer nor a certificate in the response".into(),
    ))
}

/// The DER of the first element of a SEQUENCE, as encoded (the signed part of a signed
/// structure).
fn first_element(sequence_der: &[u8]) -> Result<Vec<u8>, x509_cert::der::Error> {
    let outer = AnyRef::from_der(sequence_der)?;
    let mut reader = SliceReader::new(outer.value())?;
    let first: AnyRef<'_> = reader.decode()?;
    first.to_der()
}

/// Whether the ResponderID names `candidate` (by name, compared as RFC 5280 says, or by the
/// SHA-1 of its public key).
fn names_responder(id: &ResponderId, candidate: &X509Certificate<'_>) -> bool {
    match id {
        ResponderId::ByName(name) => name.to_der().is_ok_and(|der| {
            X509Name::from_der(&der).is_ok_and(|(_, name)| names_equal(&name, candidate.subject()))
        }),
        ResponderId::ByKey(key_hash) => {
            Sha1::digest(&candidate.public_key().subject_public_key.data).as_slice()
                == key_hash.as_bytes()
        }
    }
}

/// RFC 6960 §4.2.2.2: a delegated responder's certificate is issued (signed) by the CA, has
/// extKeyUsage id-kp-OCSPSigning, and is valid now.
fn is_delegated_by(
    responder: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    now: OffsetDateTime,
) -> bool {
    let validity = responder.validity();
    let ocsp_signing = matches!(
        responder.extended_key_usage(),
        Ok(Some(usage)) if usage.value.ocsp_signing
    );
    names_equal(responder.issuer(), issuer.subject())
        && ocsp_signing
        && validity.not_before.to_datetime() <= now
        && now <= validity.not_after.to_datetime()
        && check_signature_algorithm(&responder.signature_algorithm).is_ok()
        && responder
            .verify_signature(Some(issuer.public_key()))
            .is_ok()
}

fn to_time(time: &OcspGeneralizedTime) -> Result<OffsetDateTime, RevocationDataError> {
    let seconds = i64::try_from(time.0.to_unix_duration().as_secs())
        .map_err(|_| RevocationDataError::Malformed("a time of the OCSP response"))?;
    OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|_| RevocationDataError::Malformed("a time of the OCSP response"))
}
