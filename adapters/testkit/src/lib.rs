//! The conformance kit: one behavioural suite that every CA adapter passes against the
//! simulator of its CA. An adapter is not done until its crate's `tests/conformance.rs`
//! implements [`ConformanceTarget`] and calls [`conformance_tests!`] once.
//!
//! The suite speaks to the adapter only through [`CaAdapter`], as the gateway does, and
//! checks what the adapter returns with `kyso-verify`, the gateway's own verification:
//! certificates found for a known citizen and not for an unknown one; sign and approve;
//! reject; expire; CA error; CA timeout; CA garbage; a signature by another key or a
//! corrupted one (both must fail verification); session expiry and renewal where the CA has
//! sessions; a batch of several digests; and cancellation: withdrawn at the CA when the
//! adapter declares [`kyso_adapter_core::Capabilities::cancel`], `Unsupported` otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should abort loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kyso_adapter_core::{
    AdapterDescriptor, AdapterError, CaAdapter, CaCertificate, CaSession, DocumentDigest,
    Fault as ErrorFault, HashAlgorithm, SignOutcome, SignRequest,
};
use kyso_adapter_http::{AdapterFactory, CaHttp, HttpSettings};
use kyso_verify::{SignerKey, TrustAnchors, Validation, VerifyError};
use sha2::Digest as _;

/// How the simulated citizen answers the next signing request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Confirms in the CA's app.
    Approve,
    /// Refuses.
    Reject,
    /// Never answers; the CA gives the transaction up.
    Expire,
}

/// A failure the simulator injects into the next call to any of its CA endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// An HTTP 503 in the CA's own error shape.
    Unavailable,
    /// A 200 whose body is not what the CA's API answers.
    Garbage,
    /// No answer for longer than the adapter's request timeout.
    Hang,
}

/// A CA adapter connected to a fresh simulator of its CA, and the simulator's controls.
///
/// The adapter must be built with a request timeout of about one second, so that the
/// timeout case stays quick, and the simulator's [`Fault::Hang`] must last longer than that.
#[async_trait]
pub trait ConformanceTarget: Send + Sync + Sized + 'static {
    /// Starts a simulator and an adapter configured for it.
    async fn start() -> Self;

    /// The adapter under test.
    fn adapter(&self) -> &dyn CaAdapter;

    /// A citizen (CCCD number) holding exactly one usable certificate, who answers signing
    /// requests as [`ConformanceTarget::decide_next`] says.
    fn citizen(&self) -> &str;

    /// A well-formed CCCD number nobody at the CA holds.
    fn unknown_citizen(&self) -> &str {
        "079200000999"
    }

    /// The root certificates (PEM) the citizen's certificate chains to.
    fn trust_anchors_pem(&self) -> String;

    /// How the citizen answers the next signing request (the default is to wait).
    fn decide_next(&self, decision: Decision);

    /// Makes the next call to the CA fail.
    fn fail_next(&self, fault: Fault);

    /// The next signature the CA returns has a flipped byte.
    fn corrupt_next_signature(&self);

    /// The next signature the CA returns is made with another key than the certificate's.
    fn sign_next_with_foreign_key(&self);

    /// Makes the CA refuse the session it issued last, as when a token expires. Returns
    /// false for a CA without sessions (the session test then checks nothing else).
    fn expire_session(&self) -> bool;

    /// Approves the pending transaction `ca_reference` through the simulator's control, as the
    /// citizen would in the CA's app; an error when the simulator refuses (the transaction was
    /// withdrawn). Only the cancellation case calls it, and only for an adapter that declares
    /// [`kyso_adapter_core::Capabilities::cancel`]: the target of such an adapter must
    /// implement it, which the default reminds by failing the test.
    fn approve_pending(&self, ca_reference: &str) -> Result<(), String> {
        panic!(
            "the adapter declares cancel, so its conformance target must implement \
             approve_pending (asked for {ca_reference})"
        )
    }

    /// How many documents the batch case signs at once (at most the CA's limit).
    fn batch_size(&self) -> usize {
        3
    }
}

/// Builds an adapter of kind `F` the way the gateway does: through its [`AdapterFactory`],
/// with the kind's default capabilities, a provider id equal to the kind, and a [`CaHttp`]
/// whose request timeout is `request_timeout` (about a second for the suite, see
/// [`ConformanceTarget`]).
///
/// # Panics
/// When the factory refuses `settings`: a target's settings must be valid.
pub fn build_adapter<F: AdapterFactory>(
    settings: F::Settings,
    request_timeout: Duration,
) -> Arc<dyn CaAdapter> {
    let http = CaHttp::new(HttpSettings::new(request_timeout, request_timeout))
        .expect("the suite's HTTP settings are valid");
    let descriptor = AdapterDescriptor {
        id: F::KIND.to_owned(),
        kind: F::KIND,
        display_name: format!("{} under conformance test", F::KIND),
        capabilities: F::default_capabilities(),
    };
    match F::build(descriptor, settings, http) {
        Ok(adapter) => adapter,
        Err(error) => panic!("the {} factory refused its settings: {error}", F::KIND),
    }
}

/// Expands to the whole suite as `#[tokio::test]`s for one [`ConformanceTarget`], in a
/// module `conformance`: one test per case function of this crate, named after it.
#[macro_export]
macro_rules! conformance_tests {
    ($target:ty) => {
        $crate::conformance_cases!(
            $target;
            certificates_are_found_for_a_known_citizen_only,
            approved_signature_verifies_with_the_citizens_certificate,
            rejection_is_reported,
            expiry_is_reported,
            ca_error_is_a_retryable_ca_fault,
            ca_timeout_is_reported_as_timeout,
            ca_garbage_is_a_protocol_error,
            signature_by_another_key_fails_verification,
            corrupted_signature_fails_verification,
            expired_session_is_refused_and_a_new_one_works,
            batch_of_digests_is_signed_in_one_transaction,
            cancel_withdraws_the_request_or_is_unsupported,
        );
    };
}

/// The test functions of [`conformance_tests!`]; not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! conformance_cases {
    ($target:ty; $($case:ident),+ $(,)?) => {
        mod conformance {
            use super::*;

            $(
                #[tokio::test]
                async fn $case() {
                    $crate::$case::<$target>().await;
                }
            )+
        }
    };
}

/// How long a transaction may take at a simulator before the suite gives up.
const PATIENCE: Duration = Duration::from_secs(15);

/// A session when the adapter needs one, as the gateway would pass it.
async fn session_for(target: &impl ConformanceTarget) -> Option<CaSession> {
    let adapter = target.adapter();
    if adapter.needs_session() {
        Some(
            adapter
                .open_session()
                .await
                .expect("the CA opens a session"),
        )
    } else {
        None
    }
}

fn request_for(
    target: &impl ConformanceTarget,
    certificate: &CaCertificate,
    documents: usize,
) -> SignRequest {
    let nonce = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    SignRequest {
        transaction_id: format!("conf{nonce:x}"),
        user_id: target.citizen().to_owned(),
        certificate_id: certificate.certificate_id.clone(),
        hash_algorithm: HashAlgorithm::Sha256,
        documents: (0..documents)
            .map(|n| DocumentDigest {
                id: format!("doc-{n}"),
                name: format!("tai-lieu-{n}.pdf"),
                digest: sha2::Sha256::digest(format!("document {n} {nonce}").as_bytes()).to_vec(),
            })
            .collect(),
        description: "Kiểm tra tương thích".to_owned(),
    }
}

async fn the_certificate(
    target: &impl ConformanceTarget,
    session: Option<&CaSession>,
) -> CaCertificate {
    let certificates = target
        .adapter()
        .certificates(session, target.citizen())
        .await
        .expect("certificates of the known citizen");
    assert_eq!(
        certificates.len(),
        1,
        "the conformance citizen holds one certificate"
    );
    certificates.into_iter().next().unwrap()
}

/// Submits `request` and polls until the CA answers something final.
async fn sign_to_the_end(
    target: &impl ConformanceTarget,
    session: Option<&CaSession>,
    request: &SignRequest,
) -> SignOutcome {
    let adapter = target.adapter();
    let mut outcome = adapter
        .begin_sign(session, request)
        .await
        .expect("begin_sign");
    let deadline = Instant::now() + PATIENCE;
    while let SignOutcome::Pending { ca_reference } = &outcome {
        assert!(Instant::now() < deadline, "still pending at the CA");
        tokio::time::sleep(Duration::from_millis(50)).await;
        outcome = adapter.poll(session, ca_reference).await.expect("poll");
    }
    outcome
}

/// Signs one request with `decision` and verifies what comes back; the verification result
/// per document.
async fn signed_and_checked(
    target: &impl ConformanceTarget,
    documents: usize,
) -> Vec<Result<String, VerifyError>> {
    let session = session_for(target).await;
    let certificate = the_certificate(target, session.as_ref()).await;
    let request = request_for(target, &certificate, documents);
    target.decide_next(Decision::Approve);
    let SignOutcome::Signed(signatures) = sign_to_the_end(target, session.as_ref(), &request).await
    else {
        panic!("an approved request must end signed");
    };
    assert_eq!(signatures.len(), documents, "one signature per document");
    assert_certificate_valid(
        target,
        &certificate,
        "the signer certificate is trusted and names the citizen",
    );
    let key = SignerKey::from_certificate(&certificate.certificate_der)
        .expect("the signer certificate's key is one the gateway verifies with");
    request
        .documents
        .iter()
        .map(|document| {
            let signature = signatures
                .iter()
                .find(|signature| signature.document_id == document.id)
                .expect("a signature for every document id");
            key.verify(
                request.hash_algorithm,
                &document.digest,
                &signature.signature,
            )
            .map(|checked| checked.algorithm)
        })
        .collect()
}

/// Validates `certificate` as the gateway does before asking the CA to sign: a path to the
/// target's trust anchors now, and the target's citizen named in it.
///
/// # Panics
/// When the report does not pass, with `expectation`, the sub-indication and the report's
/// message.
fn assert_certificate_valid(
    target: &impl ConformanceTarget,
    certificate: &CaCertificate,
    expectation: &str,
) {
    let anchors = TrustAnchors::from_pem(&target.trust_anchors_pem())
        .expect("the target's trust anchors are PEM certificates");
    let report = kyso_verify::validate_certificate(
        &certificate.certificate_der,
        &certificate.chain_der,
        target.citizen(),
        &Validation::new(&anchors, time::OffsetDateTime::now_utc()),
    );
    assert!(
        report.passed(),
        "{expectation}, but validation gave {:?}/{:?}: {}",
        report.indication,
        report.sub_indication,
        report.message
    );
}

/// Suite case: see [`conformance_tests!`].
pub async fn certificates_are_found_for_a_known_citizen_only<T: ConformanceTarget>() {
    let target = T::start().await;
    let session = session_for(&target).await;
    let certificate = the_certificate(&target, session.as_ref()).await;
    assert!(certificate.active);
    assert_certificate_valid(
        &target,
        &certificate,
        "the certificate chains to the CA's root and names the citizen",
    );
    let unknown = target
        .adapter()
        .certificates(session.as_ref(), target.unknown_citizen())
        .await
        .expect("an unknown citizen is not an error");
    assert!(unknown.is_empty());
}

/// Suite case: see [`conformance_tests!`].
pub async fn approved_signature_verifies_with_the_citizens_certificate<T: ConformanceTarget>() {
    let target = T::start().await;
    for result in signed_and_checked(&target, 1).await {
        result.expect("the CA's signature verifies");
    }
}

async fn decided<T: ConformanceTarget>(decision: Decision) -> SignOutcome {
    let target = T::start().await;
    let session = session_for(&target).await;
    let certificate = the_certificate(&target, session.as_ref()).await;
    let request = request_for(&target, &certificate, 1);
    target.decide_next(decision);
    sign_to_the_end(&target, session.as_ref(), &request).await
}

/// Suite case: see [`conformance_tests!`].
pub async fn rejection_is_reported<T: ConformanceTarget>() {
    assert_eq!(decided::<T>(Decision::Reject).await, SignOutcome::Rejected);
}

/// Suite case: see [`conformance_tests!`].
pub async fn expiry_is_reported<T: ConformanceTarget>() {
    assert_eq!(decided::<T>(Decision::Expire).await, SignOutcome::Expired);
}

async fn certificates_after_fault<T: ConformanceTarget>(fault: Fault) -> AdapterError {
    let target = T::start().await;
    let session = session_for(&target).await;
    target.fail_next(fault);
    target
        .adapter()
        .certificates(session.as_ref(), target.citizen())
        .await
        .expect_err("the injected fault must surface")
}

/// Suite case: see [`conformance_tests!`].
pub async fn ca_error_is_a_retryable_ca_fault<T: ConformanceTarget>() {
    let error = certificates_after_fault::<T>(Fault::Unavailable).await;
    assert_eq!(error.fault(), ErrorFault::Ca, "{error}");
    assert!(error.is_retryable(), "{error}");
}

/// Suite case: see [`conformance_tests!`].
pub async fn ca_timeout_is_reported_as_timeout<T: ConformanceTarget>() {
    let started = Instant::now();
    let error = certificates_after_fault::<T>(Fault::Hang).await;
    assert!(matches!(error, AdapterError::Timeout(_)), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the adapter's timeout bounds the call"
    );
}

/// Suite case: see [`conformance_tests!`].
pub async fn ca_garbage_is_a_protocol_error<T: ConformanceTarget>() {
    let error = certificates_after_fault::<T>(Fault::Garbage).await;
    assert!(
        matches!(error, AdapterError::UpstreamProtocol(_)),
        "{error}"
    );
}

/// Suite case: see [`conformance_tests!`].
pub async fn signature_by_another_key_fails_verification<T: ConformanceTarget>() {
    let target = T::start().await;
    target.sign_next_with_foreign_key();
    let results = signed_and_checked(&target, 1).await;
    assert_eq!(results, vec![Err(VerifyError::BadSignature)]);
}

/// Suite case: see [`conformance_tests!`].
pub async fn corrupted_signature_fails_verification<T: ConformanceTarget>() {
    let target = T::start().await;
    target.corrupt_next_signature();
    let results = signed_and_checked(&target, 1).await;
    assert_eq!(results, vec![Err(VerifyError::BadSignature)]);
}

/// Suite case: see [`conformance_tests!`].
pub async fn expired_session_is_refused_and_a_new_one_works<T: ConformanceTarget>() {
    let target = T::start().await;
    let adapter = target.adapter();
    if !adapter.needs_session() {
        assert!(
            !target.expire_session(),
            "a CA without sessions has none to expire"
        );
        return;
    }
    let session = adapter.open_session().await.expect("a session");
    assert!(session.expires_in_secs > 0);
    adapter
        .certificates(Some(&session), target.citizen())
        .await
        .expect("the fresh session works");
    assert!(target.expire_session());
    let refused = adapter
        .certificates(Some(&session), target.citizen())
        .await
        .expect_err("an expired session is refused");
    assert!(matches!(refused, AdapterError::SessionExpired), "{refused}");
    let renewed = adapter.open_session().await.expect("a new session");
    adapter
        .certificates(Some(&renewed), target.citizen())
        .await
        .expect("the new session works");
}

/// Suite case: see [`conformance_tests!`].
pub async fn batch_of_digests_is_signed_in_one_transaction<T: ConformanceTarget>() {
    let target = T::start().await;
    let size = target.batch_size();
    assert!(size >= 2, "a batch has several documents");
    for result in signed_and_checked(&target, size).await {
        result.expect("every signature of the batch verifies");
    }
}

/// Suite case: see [`conformance_tests!`].
///
/// With [`kyso_adapter_core::Capabilities::cancel`], a cancelled request must stay unsigned
/// even when the simulated citizen approves it afterwards; without it, `cancel` is
/// [`AdapterError::Unsupported`].
pub async fn cancel_withdraws_the_request_or_is_unsupported<T: ConformanceTarget>() {
    let target = T::start().await;
    let adapter = target.adapter();
    let session = session_for(&target).await;
    if !adapter.descriptor().capabilities.cancel {
        // Whatever the reference (a CA that signs synchronously never hands one out), an
        // adapter that does not declare cancel must not claim to have cancelled.
        let error = adapter
            .cancel(session.as_ref(), "conformance-reference")
            .await
            .expect_err("an adapter without cancel must not claim to cancel");
        assert!(matches!(error, AdapterError::Unsupported(_)), "{error}");
        return;
    }
    let certificate = the_certificate(&target, session.as_ref()).await;
    // The citizen has not been told how to answer, so the request waits at the CA.
    let request = request_for(&target, &certificate, 1);
    let begun = adapter
        .begin_sign(session.as_ref(), &request)
        .await
        .expect("begin_sign");
    let SignOutcome::Pending { ca_reference } = begun else {
        panic!("a request nobody answered yet is pending, not {begun:?}");
    };
    adapter
        .cancel(session.as_ref(), &ca_reference)
        .await
        .expect("the CA withdraws the request");
    // The citizen tries to approve anyway: the simulator refuses or ignores it.
    let _ = target.approve_pending(&ca_reference);
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        match adapter.poll(session.as_ref(), &ca_reference).await {
            Ok(SignOutcome::Signed(_)) => panic!("a cancelled request was signed"),
            Ok(_) | Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
