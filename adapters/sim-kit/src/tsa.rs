//! A time-stamping authority (RFC 3161) under a simulator's test PKI, for the B-T level of
//! signed documents.
//!
//! [`TimeStampAuthority::new`] takes a [`TestPki`] and has its root issue the TSA's certificate
//! (P-256, keyUsage digitalSignature, extKeyUsage timeStamping alone and critical, as RFC 3161
//! §2.3 and `openssl ts -verify` want). [`TimeStampAuthority::respond`] answers a DER
//! `TimeStampReq` with a DER `TimeStampResp`: a granted token is a CMS SignedData whose
//! eContent is the TSTInfo (the policy asked for or [`SANDBOX_POLICY`], a unique serial number,
//! genTime, accuracy one second, the imprint and nonce echoed), signed with signed attributes
//! content-type, message-digest, signing-time and ESS signingCertificateV2 naming the TSA's
//! certificate, which is included when the request asks for it (`certReq`). A request that
//! cannot be read, or whose imprint is not a SHA-256/384/512 digest, is answered `rejection`.
//!
//! [`scope`] serves it over HTTP, for a server whose app data holds a
//! `web::Data<TimeStampAuthority>` ([`configure`] does both):
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /tsa` | a DER TimeStampReq (`application/timestamp-query`) | `application/timestamp-reply` |
//! | `GET /tsa/_sim/certificate.pem` | - | the TSA's certificate |
//! | `GET /tsa/_sim/root.pem` | - | the root that issued it (the trust anchor) |
//! | `POST /tsa/_sim/faults` | a [`TsaFault`]: `{"kind":"status","status":500}`, `{"kind":"garbage"}`, `{"kind":"hang","millis":N}`, `{"kind":"rejection"}`, `{"kind":"wrong_imprint"}`, `{"kind":"wrong_nonce"}`, `{"kind":"untrusted_signer"}`, `{"kind":"corrupt_signature"}` | arm it for the next request |
//! | `GET /tsa/_sim/requests` | - | the requests received (DER in hex) |
//!
//! The faults are one-shot, like every simulator's ([`CallGate`]): the transport ones (status,
//! garbage, hang) through the gate's [`Fault`], the token ones through the gate's switches
//! (`corrupt_signature`, and `untrusted_signer`: the token is signed by a self-signed TSA no
//! anchor vouches for) or the TSA's own (`rejection`, `wrong_imprint`, `wrong_nonce`).
//!
//! The ESS structures are declared here from RFC 5035 rather than borrowed from the gateway's
//! document crate, so that the simulator stays an independent implementation the gateway's
//! checks are tested against (and `openssl ts -verify` judges both).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, Scope, web};
use cmpv2::status::{PkiFailureInfoValues, PkiStatus, PkiStatusInfo};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{GeneralizedTime, Int, OctetString, SetOfVec, UtcTime};
use der::oid::ObjectIdentifier;
use der::oid::db::rfc5911::{
    ID_AA_SIGNING_CERTIFICATE_V_2, ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNED_DATA,
    ID_SIGNING_TIME,
};
use der::oid::db::rfc5912::{ECDSA_WITH_SHA_256, ID_SHA_256, ID_SHA_384, ID_SHA_512};
use der::{Any, Decode as _, Encode as _, Sequence};
use rcgen::SigningKey as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use x509_cert::attr::{Attribute, AttributeValue};
use x509_cert::ext::pkix::name::{GeneralName, GeneralNames};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_tsp::{Accuracy, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

use crate::faults::{CallGate, Fault, RecordedRequest, corrupt, wait_out};
use crate::pki::{Certificate, PkiError, Subject, TestPki, foreign_time_stamping_unit};
use crate::revocation::Responder;

/// The TSA policy (`TSAPolicyId`) of tokens whose request named none: a made-up OID in the
/// style of OpenSSL's sample TSA configuration (`1.2.3.4.1`), which no real policy uses.
pub const SANDBOX_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.3.4.3161.1");
/// The path of the time-stamping service.
pub const TSA_PATH: &str = "/tsa";
/// The media type of a time-stamp request.
pub const QUERY_CONTENT_TYPE: &str = "application/timestamp-query";
/// The media type of a time-stamp response.
pub const REPLY_CONTENT_TYPE: &str = "application/timestamp-reply";

/// id-ct-TSTInfo (RFC 3161): the eContentType of a time-stamp token.
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// Everything that can go wrong making the TSA or a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TsaError {
    /// The TSA's key or certificate could not be made.
    #[error("making the TSA's certificate failed")]
    Pki(#[from] PkiError),
    /// A structure could not be DER-encoded or decoded.
    #[error("encoding a time-stamp failed: {0}")]
    Encoding(#[from] der::Error),
    /// The TSA's key failed to sign.
    #[error("signing a time-stamp token failed")]
    Signing(#[from] rcgen::Error),
}

/// A fault for the next time-stamp request, as `POST /tsa/_sim/faults` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TsaFault {
    /// Answer this HTTP status (500: the TSA is down) without a body.
    Status {
        /// The status code.
        status: u16,
    },
    /// Answer 200 `application/timestamp-reply` with a body that is not DER.
    Garbage,
    /// Answer normally after this long.
    Hang {
        /// How long, in milliseconds.
        millis: u64,
    },
    /// Answer status `rejection` (failInfo systemFailure), without a token.
    Rejection,
    /// Grant a token whose imprint is not the one asked for.
    WrongImprint,
    /// Grant a token whose nonce is not the one asked for.
    WrongNonce,
    /// Grant a token signed by a self-signed TSA no trust anchor vouches for.
    UntrustedSigner,
    /// Grant a token whose signature does not verify.
    CorruptSignature,
}

/// The TSA's own one-shot faults (the others go through its [`CallGate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenFault {
    Rejection,
    WrongImprint,
    WrongNonce,
}

/// A time-stamping authority: its key and certificate under a test PKI's root, a self-signed
/// impostor for [`TsaFault::UntrustedSigner`], its serial numbers and its faults.
pub struct TimeStampAuthority {
    unit: Responder,
    impostor: Responder,
    root: Certificate,
    /// The high half of every serial number: random per TSA, so that two sandboxes' tokens
    /// differ too.
    serial_prefix: u64,
    next_serial: AtomicU64,
    gate: CallGate,
    token_fault: Mutex<Option<TokenFault>>,
}

impl std::fmt::Debug for TimeStampAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeStampAuthority")
            .field("subject", &self.unit.certificate.subject.to_string())
            .finish_non_exhaustive()
    }
}

impl TimeStampAuthority {
    /// A TSA `CN=<common_name>, O=Kyso Sandbox, C=VN` whose certificate `pki`'s root issues.
    ///
    /// # Errors
    /// Generating its key or certificates fails.
    pub fn new(pki: &TestPki, common_name: &str) -> Result<Self, TsaError> {
        let unit =
            pki.issue_time_stamping_unit(&Subject::authority(common_name, "Kyso Sandbox"))?;
        let impostor = foreign_time_stamping_unit(&Subject::authority(
            format!("{common_name} (impostor)"),
            "Nobody",
        ))?;
        Ok(Self {
            unit,
            impostor,
            root: pki.root.clone(),
            serial_prefix: rand::random::<u64>() >> 1,
            next_serial: AtomicU64::new(1),
            gate: CallGate::new(),
            token_fault: Mutex::new(None),
        })
    }

    /// The TSA's certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.unit.certificate
    }

    /// The root that issued it: the trust anchor a relying party needs.
    pub fn root(&self) -> &Certificate {
        &self.root
    }

    /// Its fault switches and request log.
    pub fn gate(&self) -> &CallGate {
        &self.gate
    }

    /// Arms `fault` for the next request (a later one replaces a fault not used yet).
    pub fn fail_next(&self, fault: TsaFault) {
        let mut token_fault = None;
        match fault {
            TsaFault::Status { status } => self.gate.fail_next(Fault::Status(status)),
            TsaFault::Garbage => self.gate.fail_next(Fault::Garbage),
            TsaFault::Hang { millis } => {
                self.gate
                    .fail_next(Fault::Hang(Duration::from_millis(millis)));
            }
            TsaFault::Rejection => token_fault = Some(TokenFault::Rejection),
            TsaFault::WrongImprint => token_fault = Some(TokenFault::WrongImprint),
            TsaFault::WrongNonce => token_fault = Some(TokenFault::WrongNonce),
            TsaFault::UntrustedSigner => self.gate.sign_next_with_foreign_key(),
            TsaFault::CorruptSignature => self.gate.corrupt_next_signature(),
        }
        if token_fault.is_some() {
            *self
                .token_fault
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = token_fault;
        }
    }

    fn take_token_fault(&self) -> Option<TokenFault> {
        self.token_fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Answers a DER `TimeStampReq` with a DER `TimeStampResp`, consuming the armed token
    /// faults (the transport ones are the HTTP layer's).
    ///
    /// # Errors
    /// An encoding or signing failure (the HTTP layer answers 500).
    pub fn respond(&self, request: &[u8]) -> Result<Vec<u8>, TsaError> {
        let fault = self.take_token_fault();
        let request = match TimeStampReq::from_der(request) {
            Ok(request) => request,
            Err(error) => {
                tracing::debug!(%error, "unreadable time-stamp request");
                return rejection(PkiFailureInfoValues::BadDataFormat);
            }
        };
        if !imprint_is_supported(&request) {
            return rejection(PkiFailureInfoValues::BadAlg);
        }
        if fault == Some(TokenFault::Rejection) {
            return rejection(PkiFailureInfoValues::SystemFailure);
        }
        let token = self.token(&request, fault)?;
        Ok(TimeStampResp {
            status: granted(),
            time_stamp_token: Some(token),
        }
        .to_der()?)
    }

    /// The token for `request`: a SignedData around its TSTInfo.
    fn token(
        &self,
        request: &TimeStampReq,
        fault: Option<TokenFault>,
    ) -> Result<ContentInfo, TsaError> {
        let signer = if self.gate.take_foreign() {
            &self.impostor
        } else {
            &self.unit
        };
        let now = std::time::SystemTime::now();
        let mut imprint = request.message_imprint.clone();
        if fault == Some(TokenFault::WrongImprint) {
            let mut bytes = imprint.hashed_message.as_bytes().to_vec();
            corrupt(&mut bytes);
            imprint.hashed_message = OctetString::new(bytes)?;
        }
        let nonce = match (&request.nonce, fault) {
            (Some(nonce), Some(TokenFault::WrongNonce)) => Some(other_integer(nonce)?),
            (nonce, _) => nonce.clone(),
        };
        let tst_info = TstInfo {
            version: TspVersion::V1,
            policy: request.req_policy.unwrap_or(SANDBOX_POLICY),
            message_imprint: imprint,
            serial_number: self.serial_number()?,
            gen_time: GeneralizedTime::from_system_time(now)?,
            accuracy: Some(Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None,
            }),
            ordering: false,
            nonce,
            tsa: None,
            extensions: None,
        }
        .to_der()?;

        let certificate = x509_cert::Certificate::from_der(&signer.certificate.der)?;
        let signed_attributes: SetOfVec<Attribute> = vec![
            attribute(ID_CONTENT_TYPE, &ID_CT_TST_INFO)?,
            attribute(
                ID_MESSAGE_DIGEST,
                &OctetString::new(Sha256::digest(&tst_info).to_vec())?,
            )?,
            // UTCTime, as RFC 5652 §11.3 wants for dates through 2049.
            attribute(
                ID_SIGNING_TIME,
                &x509_cert::time::Time::UtcTime(UtcTime::from_system_time(now)?),
            )?,
            attribute(
                ID_AA_SIGNING_CERTIFICATE_V_2,
                &signing_certificate(&certificate, &signer.certificate.der)?,
            )?,
        ]
        .try_into()?;
        let mut signature = signer.key.sign(&signed_attributes.to_der()?)?;
        if self.gate.take_corrupt() {
            corrupt(&mut signature);
        }
        let sha256 = AlgorithmIdentifierOwned {
            oid: ID_SHA_256,
            parameters: None,
        };
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: certificate.tbs_certificate.issuer.clone(),
                serial_number: certificate.tbs_certificate.serial_number.clone(),
            }),
            digest_alg: sha256.clone(),
            signed_attrs: Some(signed_attributes),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA_256,
                parameters: None,
            },
            signature: OctetString::new(signature)?,
            unsigned_attrs: None,
        };
        let certificates = if request.cert_req {
            Some(vec![CertificateChoices::Certificate(certificate)].try_into()?)
        } else {
            None
        };
        let signed_data = SignedData {
            version: CmsVersion::V3,
            digest_algorithms: vec![sha256].try_into()?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_CT_TST_INFO,
                econtent: Some(Any::encode_from(&OctetString::new(tst_info)?)?),
            },
            certificates,
            crls: None,
            signer_infos: vec![signer_info].try_into()?,
        };
        Ok(ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed_data)?,
        })
    }

    /// A serial number no other token of this TSA has: the random prefix, then a counter.
    fn serial_number(&self) -> Result<Int, TsaError> {
        let counter = self.next_serial.fetch_add(1, Ordering::Relaxed);
        let value = (u128::from(self.serial_prefix) << 64) | u128::from(counter);
        // A positive INTEGER through its DER encoding (der 0.7 has no `Int` from integers).
        Ok(Int::from_der(&value.to_der()?)?)
    }
}

/// Whether the request's imprint is a SHA-256/384/512 digest of the right length.
fn imprint_is_supported(request: &TimeStampReq) -> bool {
    let imprint = &request.message_imprint;
    let expected = match imprint.hash_algorithm.oid {
        ID_SHA_256 => 32,
        ID_SHA_384 => 48,
        ID_SHA_512 => 64,
        _ => return false,
    };
    imprint.hashed_message.as_bytes().len() == expected
}

/// A different INTEGER than `nonce` (the wrong-nonce fault): its last byte altered, which keeps
/// the sign bit and the encoding minimal.
fn other_integer(nonce: &Int) -> Result<Int, TsaError> {
    let mut bytes = nonce.as_bytes().to_vec();
    corrupt(&mut bytes);
    Ok(Int::new(&bytes)?)
}

fn granted() -> PkiStatusInfo<'static> {
    PkiStatusInfo {
        status: PkiStatus::Accepted,
        status_string: None,
        fail_info: None,
    }
}

/// A `rejection` answer with this failure.
fn rejection(failure: PkiFailureInfoValues) -> Result<Vec<u8>, TsaError> {
    Ok(TimeStampResp {
        status: PkiStatusInfo {
            status: PkiStatus::Rejection,
            status_string: None,
            fail_info: Some(failure.into()),
        },
        time_stamp_token: None,
    }
    .to_der()?)
}

/// A signed attribute with one value.
fn attribute<T>(oid: ObjectIdentifier, value: &T) -> Result<Attribute, TsaError>
where
    T: der::Tagged + der::EncodeValue,
{
    Ok(Attribute {
        oid,
        values: vec![AttributeValue::encode_from(value)?].try_into()?,
    })
}

/// RFC 5035 `SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies
/// SEQUENCE OF PolicyInformation OPTIONAL }` (no policies here).
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

/// RFC 5035 `ESSCertIDv2 ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier DEFAULT sha256,
/// certHash OCTET STRING, issuerSerial IssuerSerial OPTIONAL }`: the default algorithm is left
/// out, as DER wants.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    issuer_serial: IssuerSerial,
}

/// RFC 5035 `IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber
/// CertificateSerialNumber }`.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct IssuerSerial {
    issuer: GeneralNames,
    serial_number: SerialNumber,
}

/// The signingCertificateV2 naming `certificate` (whose DER is `der`) by its SHA-256 hash.
fn signing_certificate(
    certificate: &x509_cert::Certificate,
    der: &[u8],
) -> Result<SigningCertificateV2, TsaError> {
    Ok(SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            cert_hash: OctetString::new(Sha256::digest(der).to_vec())?,
            issuer_serial: IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(
                    certificate.tbs_certificate.issuer.clone(),
                )],
                serial_number: certificate.tbs_certificate.serial_number.clone(),
            },
        }],
    })
}

/// The TSA's routes (see the module documentation), for an app whose data holds
/// `web::Data<TimeStampAuthority>`.
pub fn scope() -> Scope {
    web::scope(TSA_PATH)
        .route("", web::post().to(time_stamp))
        .route("/_sim/certificate.pem", web::get().to(certificate_pem))
        .route("/_sim/root.pem", web::get().to(root_pem))
        .route("/_sim/faults", web::post().to(fault))
        .route("/_sim/requests", web::get().to(requests))
}

/// What [`SimServer::start`](crate::SimServer::start) needs to serve `tsa` alone.
pub fn configure(
    tsa: web::Data<TimeStampAuthority>,
) -> impl Fn(&mut web::ServiceConfig) + Send + Clone + 'static {
    move |cfg| {
        cfg.app_data(tsa.clone()).service(scope());
    }
}

async fn time_stamp(
    request: HttpRequest,
    body: web::Bytes,
    tsa: web::Data<TimeStampAuthority>,
) -> HttpResponse {
    let (fault, delay) = tsa.gate.record(RecordedRequest {
        path: request.path().to_owned(),
        body: serde_json::Value::String(hex::encode(&body)),
    });
    match wait_out(fault, delay).await {
        Some(Fault::Status(status)) => HttpResponse::build(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )
        .finish(),
        Some(Fault::Garbage) => HttpResponse::Ok()
            .content_type(REPLY_CONTENT_TYPE)
            .body("<html><body>Service temporarily unavailable</body></html>"),
        _ => match tsa.respond(&body) {
            Ok(reply) => HttpResponse::Ok()
                .content_type(REPLY_CONTENT_TYPE)
                .body(reply),
            Err(error) => {
                tracing::error!(%error, "the TSA simulator failed to answer");
                HttpResponse::InternalServerError().finish()
            }
        },
    }
}

async fn certificate_pem(tsa: web::Data<TimeStampAuthority>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .body(tsa.certificate().pem.clone())
}

async fn root_pem(tsa: web::Data<TimeStampAuthority>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .body(tsa.root().pem.clone())
}

async fn fault(body: web::Json<TsaFault>, tsa: web::Data<TimeStampAuthority>) -> HttpResponse {
    let fault = body.into_inner();
    if let TsaFault::Status { status } = fault
        && !(100..=999).contains(&status)
    {
        return HttpResponse::BadRequest()
            .json(serde_json::json!({ "error": "status must be an HTTP status code" }));
    }
    tsa.fail_next(fault);
    HttpResponse::NoContent().finish()
}

async fn requests(tsa: web::Data<TimeStampAuthority>) -> HttpResponse {
    HttpResponse::Ok().json(tsa.gate.requests())
}

#[cfg(test)]
mod tests {
    use crate::judge::{ScratchDir, openssl};

    use super::*;

    fn tsa() -> TimeStampAuthority {
        let pki = TestPki::builder("TSA Test Root").build().expect("the PKI");
        TimeStampAuthority::new(&pki, "Kyso Sandbox TSA").expect("the TSA")
    }

    /// `openssl ts -query` for a SHA-256 digest, with a nonce and certReq.
    async fn query(dir: &ScratchDir, digest: &str) -> Vec<u8> {
        let run = openssl(
            dir.path(),
            &[
                "ts", "-query", "-digest", digest, "-sha256", "-cert", "-out", "q.tsq",
            ],
        )
        .await
        .expect("openssl must be installed to judge the TSA");
        assert_eq!(run.status, 0, "{}", run.output());
        std::fs::read(dir.path().join("q.tsq")).expect("the query")
    }

    async fn verify(dir: &ScratchDir, tsa: &TimeStampAuthority, reply: &[u8]) -> String {
        dir.write("r.tsr", reply).expect("written");
        dir.write("root.pem", &tsa.root().pem).expect("written");
        openssl(
            dir.path(),
            &[
                "ts",
                "-verify",
                "-in",
                "r.tsr",
                "-queryfile",
                "q.tsq",
                "-CAfile",
                "root.pem",
            ],
        )
        .await
        .expect("openssl runs")
        .output()
    }

    #[tokio::test]
    async fn openssl_accepts_its_tokens_and_refuses_faulty_ones() {
        let tsa = tsa();
        let dir = ScratchDir::new("tsa").expect("a scratch dir");
        let request = query(&dir, &"ab".repeat(32)).await;

        let reply = tsa.respond(&request).expect("a reply");
        assert!(
            verify(&dir, &tsa, &reply)
                .await
                .contains("Verification: OK")
        );
        let again = tsa.respond(&request).expect("a reply");
        assert_ne!(reply, again, "serial numbers (and so tokens) differ");

        for fault in [
            TsaFault::WrongImprint,
            TsaFault::WrongNonce,
            TsaFault::UntrustedSigner,
            TsaFault::CorruptSignature,
        ] {
            tsa.fail_next(fault);
            let reply = tsa.respond(&request).expect("a reply");
            let verdict = verify(&dir, &tsa, &reply).await;
            assert!(
                !verdict.contains("Verification: OK"),
                "{fault:?}: {verdict}"
            );
        }
    }

    #[test]
    fn rejects_what_it_cannot_stamp() {
        let tsa = tsa();
        let status = |reply: Vec<u8>| {
            TimeStampResp::from_der(&reply)
                .expect("a TimeStampResp")
                .status
                .status
        };
        assert_eq!(
            status(tsa.respond(b"garbage").expect("a reply")),
            PkiStatus::Rejection
        );
        let request = TimeStampReq {
            version: TspVersion::V1,
            message_imprint: x509_tsp::MessageImprint {
                hash_algorithm: x509_cert::spki::AlgorithmIdentifier {
                    oid: ID_SHA_256,
                    parameters: None,
                },
                hashed_message: OctetString::new(vec![1; 20]).expect("an octet string"),
            },
            req_policy: None,
            nonce: None,
            cert_req: false,
            extensions: None,
        };
        let der = request.to_der().expect("encoded");
        assert_eq!(
            status(tsa.respond(&der).expect("a reply")),
            PkiStatus::Rejection
        );
        tsa.fail_next(TsaFault::Rejection);
        let mut request = request;
        request.message_imprint.hashed_message = OctetString::new(vec![1; 32]).expect("ok");
        let der = request.to_der().expect("encoded");
        assert_eq!(
            status(tsa.respond(&der).expect("a reply")),
            PkiStatus::Rejection
        );
        assert_eq!(
            status(tsa.respond(&der).expect("a reply")),
            PkiStatus::Accepted
        );
    }

    #[tokio::test]
    async fn serves_over_http_with_transport_faults() {
        let tsa = web::Data::new(tsa());
        let server =
            crate::SimServer::start_local("TSA", configure(tsa.clone())).expect("the server");
        let client = reqwest::Client::new();
        let dir = ScratchDir::new("tsa-http").expect("a scratch dir");
        let request = query(&dir, &"cd".repeat(32)).await;
        let post = || {
            client
                .post(server.url(TSA_PATH))
                .header("content-type", QUERY_CONTENT_TYPE)
                .body(request.clone())
                .send()
        };
        let answer = post().await.expect("an answer");
        assert_eq!(
            answer.headers()["content-type"].to_str().expect("ascii"),
            REPLY_CONTENT_TYPE
        );
        let reply = answer.bytes().await.expect("a body");
        assert!(
            verify(&dir, &tsa, &reply)
                .await
                .contains("Verification: OK")
        );

        let arm = |body: serde_json::Value| {
            client
                .post(server.url("/tsa/_sim/faults"))
                .json(&body)
                .send()
        };
        assert_eq!(
            arm(serde_json::json!({"kind": "status", "status": 500}))
                .await
                .expect("armed")
                .status(),
            204
        );
        assert_eq!(post().await.expect("an answer").status(), 500);
        arm(serde_json::json!({"kind": "garbage"}))
            .await
            .expect("armed");
        let garbage = post()
            .await
            .expect("an answer")
            .bytes()
            .await
            .expect("a body");
        assert!(TimeStampResp::from_der(&garbage).is_err());
        assert_eq!(
            arm(serde_json::json!({"kind": "nonsense"}))
                .await
                .expect("answered")
                .status(),
            400
        );
        let pem = reqwest::get(server.url("/tsa/_sim/certificate.pem"))
            .await
            .expect("an answer")
            .text()
            .await
            .expect("a body");
        assert_eq!(pem, tsa.certificate().pem);
        let requests = tsa.gate().requests();
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0].path, TSA_PATH);
    }
}
