//! Trust decisions with their I/O and their caches around the pure `kyso-verify`: every
//! verification the gateway makes (a certificate before asking the CA, the CA's signatures,
//! `POST /v1/verifications`) goes through [`Trust`].
//!
//! A verification is three steps:
//! 1. the signer's certification path, built and judged off the async workers, or taken from
//!    the in-process cache of validated paths (keyed by [`verify::cache_key`]: the anchors,
//!    the signer's and the chain's DER) while the validation time is within every
//!    certificate's validity; the signer's parsed key comes with it;
//! 2. the revocation status of every certificate of the path but the anchor, unless the
//!    provider's policy is `off` ([`revocation`]: OCSP, then CRL, cached in the store and in
//!    this process until nextUpdate);
//! 3. the report, the citizen and each document signature, off the async workers.

pub mod revocation;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kyso_adapter_core::HashAlgorithm;
use time::OffsetDateTime;

use crate::bounded_cache::BoundedCache;
use crate::config::RevocationSettings;
use crate::cpu_bound::Urgency;
use crate::domain::error::ServiceError;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::verify::{
    self, CertifiedPath, GatheredRevocation, RevocationPolicy, SignatureVerification, TrustAnchors,
    VerificationReport,
};
use revocation::{KeptRevocationData, RevocationChecker};

/// The longest a validated path is cached, whatever its certificates' validity.
const MAX_PATH_CACHE_TIME: Duration = Duration::from_secs(24 * 3600);

/// What is judged: a signer's certificate and the chain the CA sent, against `anchors`, at
/// `at`, under a revocation `policy`.
#[derive(Debug, Clone)]
pub struct SignerChain {
    /// The trust anchors (a provider's, plus the national roots).
    pub anchors: Arc<TrustAnchors>,
    /// Whether revocation is checked, and what missing data means.
    pub policy: RevocationPolicy,
    /// The signer's certificate, DER.
    pub signer: Vec<u8>,
    /// The certificates the CA sent with it, DER.
    pub chain: Vec<Vec<u8>>,
    /// The validation time.
    pub at: OffsetDateTime,
}

/// The validation data of a signer's path, DER, as a B-LT signature embeds it.
#[derive(Debug, Default)]
pub struct ValidationData {
    /// The path's certificates, signer first.
    pub certificates: Vec<Vec<u8>>,
    /// The OCSP responses and CRLs kept about them.
    pub revocation: KeptRevocationData,
}

/// A document signature to check, owned (it crosses to a blocking thread).
#[derive(Debug, Clone)]
pub struct DocumentSignature {
    /// The digest's hash algorithm.
    pub hash_algorithm: HashAlgorithm,
    /// The digest that was signed.
    pub digest: Vec<u8>,
    /// The signature returned.
    pub signature: Vec<u8>,
}

/// The gateway's verifier: cached paths and revocation data around `kyso-verify`.
pub struct Trust {
    paths: BoundedCache<[u8; 32], Arc<CertifiedPath>>,
    revocation: RevocationChecker,
}

impl Trust {
    /// A verifier with these revocation limits, caching revocation data in `store`.
    ///
    /// # Errors
    /// A message if the HTTP client for revocation data cannot be built.
    pub fn new(
        settings: &RevocationSettings,
        store: Arc<dyn Store>,
        metrics: Metrics,
    ) -> Result<Self, String> {
        Ok(Self {
            paths: BoundedCache::new(settings.cache_entries),
            revocation: RevocationChecker::new(settings, store, metrics)?,
        })
    }

    /// The report on the signer's certificate and that it names the citizen `user_id`: what
    /// the gateway checks before asking the CA to sign.
    ///
    /// # Errors
    /// [`ErrorCode::InternalError`] if building the path failed.
    pub async fn certificate_report(
        &self,
        signer_chain: SignerChain,
        user_id: String,
    ) -> Result<VerificationReport, ServiceError> {
        let (path, gathered) = self.prepare(&signer_chain, Urgency::Starting).await?;
        // Judging a built path is a few microseconds (no parsing, no signature): cheaper
        // here than a trip to a blocking thread and back.
        let ctx = verify::Validation::new(&signer_chain.anchors, signer_chain.at)
            .with_revocation(&gathered, signer_chain.policy);
        Ok(path.certificate_report(Some(&user_id), &ctx))
    }

    /// One [`SignatureVerification`] per element of `signed`, in order: the path, the
    /// revocation status, the citizen (when `user_id` is given) and each signature.
    ///
    /// # Errors
    /// [`ErrorCode::InternalError`] if the verification task failed.
    pub async fn verify_signatures(
        &self,
        signer_chain: SignerChain,
        user_id: Option<String>,
        signed: Vec<DocumentSignature>,
    ) -> Result<Vec<SignatureVerification>, ServiceError> {
        let (path, gathered) = self.prepare(&signer_chain, Urgency::Finishing).await?;
        off_the_workers(Urgency::Finishing, move || {
            let ctx = verify::Validation::new(&signer_chain.anchors, signer_chain.at)
                .with_revocation(&gathered, signer_chain.policy);
            let signed: Vec<verify::SignedDigest<'_>> = signed
                .iter()
                .map(|document| verify::SignedDigest {
                    hash_algorithm: document.hash_algorithm,
                    digest: &document.digest,
                    signature: &document.signature,
                })
                .collect();
            path.verify_digests(user_id.as_deref(), &signed, &ctx)
        })
        .await
    }

    /// What a B-LT signature by `signer_chain`'s signer embeds: the certificates of its path
    /// (signer first, anchor last) and the revocation data kept for them. Empty when the
    /// path does not pass.
    ///
    /// # Errors
    /// [`ErrorCode::InternalError`] if the path could not be built.
    pub async fn validation_data(
        &self,
        signer_chain: &SignerChain,
    ) -> Result<ValidationData, ServiceError> {
        // Embedded in a document being assembled: part of finishing a transaction.
        let path = self.path(signer_chain, Urgency::Finishing).await?;
        let requests = path.revocation_requests();
        let mut certificates: Vec<Vec<u8>> = Vec::new();
        for der in requests
            .iter()
            .flat_map(|request| [request.certificate, request.issuer])
        {
            if !certificates.iter().any(|known| known == der) {
                certificates.push(der.to_vec());
            }
        }
        Ok(ValidationData {
            certificates,
            revocation: self.revocation.kept_data(&requests).await,
        })
    }

    /// The path (cached, or built off the workers) and, unless the policy is off, the
    /// revocation status of its certificates.
    async fn prepare(
        &self,
        signer_chain: &SignerChain,
        urgency: Urgency,
    ) -> Result<(Arc<CertifiedPath>, GatheredRevocation), ServiceError> {
        let path = self.path(signer_chain, urgency).await?;
        let gathered = if signer_chain.policy == RevocationPolicy::Off {
            GatheredRevocation::default()
        } else {
            self.revocation.gather(&path.revocation_requests()).await
        };
        Ok((path, gathered))
    }

    async fn path(
        &self,
        signer_chain: &SignerChain,
        urgency: Urgency,
    ) -> Result<Arc<CertifiedPath>, ServiceError> {
        let key = verify::cache_key(
            &signer_chain.signer,
            &signer_chain.chain,
            &signer_chain.anchors,
        );
        if let Some(path) = self
            .paths
            .get(&key, Instant::now())
            .filter(|path| path.reusable_at(signer_chain.at))
        {
            return Ok(path);
        }
        let (anchors, signer, chain, at) = (
            Arc::clone(&signer_chain.anchors),
            signer_chain.signer.clone(),
            signer_chain.chain.clone(),
            signer_chain.at,
        );
        let path = Arc::new(
            off_the_workers(urgency, move || {
                CertifiedPath::build(&signer, &chain, &anchors, at)
            })
            .await?,
        );
        if path.passed() {
            let now = OffsetDateTime::now_utc();
            let until = path.validity().map_or(Duration::ZERO, |(_, to)| {
                Duration::try_from(to - now).unwrap_or_default()
            });
            let now_instant = Instant::now();
            self.paths.insert(
                key,
                Arc::clone(&path),
                now_instant + until.min(MAX_PATH_CACHE_TIME),
                now_instant,
            );
        }
        Ok(path)
    }
}

/// Runs CPU-heavy verification off the async workers (see [`crate::cpu_bound`]).
pub(crate) async fn off_the_workers<T: Send + 'static>(
    urgency: Urgency,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ServiceError> {
    crate::cpu_bound::run(urgency, work)
        .await
        .map_err(|error| error.into_service_error("the signature could not be verified"))
}
