//! The revocation status of the certificates of a validated path, gathered before the
//! (pure) validator judges it: OCSP first, the CRL as fallback, each call with a timeout and
//! a cap on the answer's size, every answer checked by `kyso-verify` (signature, responder
//! authorised by the issuer, freshness) before it is used.
//!
//! Answers are cached twice, both until their nextUpdate (at most a day):
//! - in the store, as the DER the responder or CRL server sent (`kyso:revocation:ocsp:*`,
//!   `kyso:revocation:crl:*`), so one OCSP answer or one CRL serves every gateway instance;
//!   what is read back is checked again, so the store is not trusted with revocation data;
//! - in this process, as checked evidence and checked CRLs, so repeated signatures by the
//!   same citizens cost a map lookup.
//!
//! The URLs come from the AIA and CRL distribution point extensions of certificates whose
//! path to a configured trust anchor has already been validated, so only CAs the operator
//! trusts choose where the gateway connects. Redirects are not followed.
//!
//! For each certificate:
//! 1. a current answer cached in this process, else in the store;
//! 2. each OCSP responder in turn; `good` or `revoked` ends the search;
//! 3. each CRL in turn (also when OCSP said `unknown`);
//! 4. otherwise the certificate's status is unavailable, with every reason joined, or the
//!    `unknown` answer if there was one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use kyso_adapter_http::{CaHttp, HttpSettings};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::bounded_cache::BoundedCache;
use crate::config::RevocationSettings;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::verify::{
    CheckedCrl, GatheredRevocation, RevocationAnswer, RevocationEvidence, RevocationRequest,
    RevocationStatus, check_crl, check_ocsp_response, ocsp_request, revocation_locations,
};

/// The longest any revocation answer is cached, whatever its nextUpdate says.
const MAX_CACHE_TIME: Duration = Duration::from_secs(24 * 3600);

/// Fetches, checks and caches revocation data.
pub struct RevocationChecker {
    http: CaHttp,
    store: Arc<dyn Store>,
    metrics: Metrics,
    /// Checked OCSP evidence per (issuer, certificate).
    answers: BoundedCache<[u8; 32], RevocationEvidence>,
    /// Checked CRLs per (URL, issuer).
    crls: BoundedCache<[u8; 32], Arc<CheckedCrl>>,
}

/// Why one way of learning a status gave nothing usable.
type Failure = String;

impl RevocationChecker {
    /// A checker with these limits.
    ///
    /// # Errors
    /// A message if the HTTP client cannot be built with them.
    pub fn new(
        settings: &RevocationSettings,
        store: Arc<dyn Store>,
        metrics: Metrics,
    ) -> Result<Self, String> {
        let http = CaHttp::new(HttpSettings {
            connect_timeout: Duration::from_millis(settings.timeout_ms),
            request_timeout: Duration::from_millis(settings.timeout_ms),
            max_response_bytes: settings.max_response_bytes,
        })
        .map_err(|error| error.to_string())?;
        Ok(Self {
            http,
            store,
            metrics,
            answers: BoundedCache::new(settings.cache_entries),
            crls: BoundedCache::new(settings.cache_entries),
        })
    }

    /// The status of every certificate `requests` names, looked up concurrently.
    pub async fn gather(&self, requests: &[RevocationRequest<'_>]) -> GatheredRevocation {
        let now = OffsetDateTime::now_utc();
        let answers = join_all(
            requests
                .iter()
                .map(|request| self.status(request.certificate, request.issuer, now)),
        )
        .await;
        let mut gathered = GatheredRevocation::default();
        for (request, answer) in requests.iter().zip(answers) {
            gathered.insert(request.certificate, answer);
        }
        gathered
    }

    async fn status(
        &self,
        certificate: &[u8],
        issuer: &[u8],
        now: OffsetDateTime,
    ) -> RevocationAnswer {
        let key = ocsp_key(certificate, issuer);
        if let Some(evidence) = self.answers.get(&key, Instant::now()) {
            self.metrics.count_revocation_lookup("memory", true);
            return RevocationAnswer::Evidence(evidence);
        }
        let locations = revocation_locations(certificate);
        let mut failures = Vec::new();
        let mut unknown = None;
        match self
            .ocsp(&key, certificate, issuer, &locations.ocsp, now)
            .await
        {
            Ok(evidence) if evidence.status == RevocationStatus::Unknown => {
                failures.push("the OCSP responder does not know the certificate".to_owned());
                unknown = Some(evidence);
            }
            Ok(evidence) => {
                self.answers.insert(
                    key,
                    evidence.clone(),
                    cache_deadline(evidence.next_update, evidence.this_update, now),
                    Instant::now(),
                );
                return RevocationAnswer::Evidence(evidence);
            }
            Err(failure) => failures.push(failure),
        }
        match self.crl(certificate, issuer, &locations.crl, now).await {
            Ok(evidence) => RevocationAnswer::Evidence(evidence),
            Err(failure) => {
                failures.push(failure);
                match unknown {
                    Some(evidence) => RevocationAnswer::Evidence(evidence),
                    None => RevocationAnswer::Unavailable(failures.join("; ")),
                }
            }
        }
    }

    /// OCSP: the answer cached in the store, else each responder in turn.
    async fn ocsp(
        &self,
        key: &[u8; 32],
        certificate: &[u8],
        issuer: &[u8],
        urls: &[String],
        now: OffsetDateTime,
    ) -> Result<RevocationEvidence, Failure> {
        let store_key = ocsp_store_key(key);
        if let Some(cached) = self.cached(&store_key).await
            && let Ok(evidence) = check_ocsp_response(&cached, certificate, issuer, now)
        {
            self.metrics.count_revocation_lookup("store", true);
            return Ok(evidence);
        }
        if urls.is_empty() {
            return Err("the certificate names no OCSP responder".into());
        }
        let request = ocsp_request(certificate, issuer).map_err(|error| error.to_string())?;
        let mut failures = Vec::new();
        for url in urls {
            let fetched = self
                .http
                .post(url.as_str())
                .body("application/ocsp-request", request.clone())
                .send()
                .await;
            let checked = match fetched {
                Ok(response) if response.is_success() => {
                    check_ocsp_response(&response.body, certificate, issuer, now)
                        .map(|evidence| (evidence, response.body))
                        .map_err(|error| error.to_string())
                }
                Ok(response) => Err(format!("it answered HTTP {}", response.status)),
                Err(error) => Err(error.to_string()),
            };
            self.metrics
                .count_revocation_lookup("ocsp", checked.is_ok());
            match checked {
                Ok((evidence, der)) => {
                    let deadline = cache_deadline(evidence.next_update, evidence.this_update, now);
                    self.keep(&store_key, &der, deadline).await;
                    return Ok(evidence);
                }
                Err(why) => {
                    tracing::warn!(%url, reason = %why, "OCSP responder gave no usable answer");
                    failures.push(format!("OCSP responder {url}: {why}"));
                }
            }
        }
        Err(failures.join("; "))
    }

    /// CRL: each distribution point in turn, from this process, the store or the network.
    async fn crl(
        &self,
        certificate: &[u8],
        issuer: &[u8],
        urls: &[String],
        now: OffsetDateTime,
    ) -> Result<RevocationEvidence, Failure> {
        if urls.is_empty() {
            return Err("the certificate names no CRL distribution point".into());
        }
        let mut failures = Vec::new();
        for url in urls {
            match self.checked_crl(url, issuer, now).await {
                Ok(crl) => match crl.status_of(certificate) {
                    Ok(evidence) => return Ok(evidence),
                    Err(error) => failures.push(format!("CRL {url}: {error}")),
                },
                Err(why) => failures.push(format!("CRL {url}: {why}")),
            }
        }
        Err(failures.join("; "))
    }

    async fn checked_crl(
        &self,
        url: &str,
        issuer: &[u8],
        now: OffsetDateTime,
    ) -> Result<Arc<CheckedCrl>, Failure> {
        let key = crl_key(url, issuer);
        if let Some(crl) = self.crls.get(&key, Instant::now())
            && crl.is_current(now)
        {
            self.metrics.count_revocation_lookup("memory", true);
            return Ok(crl);
        }
        let store_key = crl_store_key(&key);
        if let Some(cached) = self.cached(&store_key).await
            && let Ok(crl) = check_crl(&cached, issuer, now)
        {
            self.metrics.count_revocation_lookup("store", true);
            return Ok(self.remember_crl(key, crl, now));
        }
        let fetched = self.http.get(url).send().await;
        let checked = match fetched {
            Ok(response) if response.is_success() => check_crl(&response.body, issuer, now)
                .map(|crl| (crl, response.body))
                .map_err(|error| error.to_string()),
            Ok(response) => Err(format!("it answered HTTP {}", response.status)),
            Err(error) => Err(error.to_string()),
        };
        self.metrics.count_revocation_lookup("crl", checked.is_ok());
        match checked {
            Ok((crl, der)) => {
                let deadline = cache_deadline(crl.next_update(), now, now);
                self.keep(&store_key, &der, deadline).await;
                Ok(self.remember_crl(key, crl, now))
            }
            Err(why) => {
                tracing::warn!(%url, reason = %why, "CRL gave no usable answer");
                Err(why)
            }
        }
    }

    fn remember_crl(&self, key: [u8; 32], crl: CheckedCrl, now: OffsetDateTime) -> Arc<CheckedCrl> {
        let deadline = cache_deadline(crl.next_update(), now, now);
        let crl = Arc::new(crl);
        self.crls
            .insert(key, Arc::clone(&crl), deadline, Instant::now());
        crl
    }

    /// The revocation data kept in the store for the certificates of `requests`, as their
    /// responders and CRL servers sent it, each checked again: what a B-LT signature embeds
    /// (the OCSP response of each certificate, else a CRL naming its status). A certificate
    /// whose data is no longer kept, or no longer current, contributes nothing.
    pub async fn kept_data(&self, requests: &[RevocationRequest<'_>]) -> KeptRevocationData {
        let now = OffsetDateTime::now_utc();
        let mut kept = KeptRevocationData::default();
        for request in requests {
            let (certificate, issuer) = (request.certificate, request.issuer);
            let ocsp_key = ocsp_store_key(&ocsp_key(certificate, issuer));
            if let Some(der) = self.cached(&ocsp_key).await
                && check_ocsp_response(&der, certificate, issuer, now).is_ok()
            {
                kept.ocsp_responses.push(der);
                continue;
            }
            for url in revocation_locations(certificate).crl {
                let crl_key = crl_store_key(&crl_key(&url, issuer));
                if let Some(der) = self.cached(&crl_key).await
                    && check_crl(&der, issuer, now)
                        .is_ok_and(|crl| crl.status_of(certificate).is_ok())
                {
                    if !kept.crls.contains(&der) {
                        kept.crls.push(der);
                    }
                    break;
                }
            }
        }
        kept
    }

    /// Revocation data from the store; a store failure is a miss (logged), not an error.
    async fn cached(&self, key: &str) -> Option<Vec<u8>> {
        match self.store.revocation_data(key).await {
            Ok(data) => data,
            Err(error) => {
                tracing::warn!(%error, "revocation data could not be read from the store");
                None
            }
        }
    }

    /// Keeps revocation data in the store until `deadline`; a failure is logged only.
    async fn keep(&self, key: &str, der: &[u8], deadline: Instant) {
        let ttl = deadline.saturating_duration_since(Instant::now());
        if ttl.is_zero() {
            return;
        }
        if let Err(error) = self.store.cache_revocation_data(key, der, ttl).await {
            tracing::warn!(%error, "revocation data could not be cached in the store");
        }
    }
}

/// Revocation data as its sources sent it (DER), for a signature's long-term validation.
#[derive(Debug, Default)]
pub struct KeptRevocationData {
    /// OCSP responses.
    pub ocsp_responses: Vec<Vec<u8>>,
    /// CRLs.
    pub crls: Vec<Vec<u8>>,
}

/// The cache key of the OCSP answer about `certificate` from `issuer`.
fn ocsp_key(certificate: &[u8], issuer: &[u8]) -> [u8; 32] {
    cache_key(&[b"ocsp", issuer, certificate])
}

/// The cache key of the CRL at `url` for `issuer`.
fn crl_key(url: &str, issuer: &[u8]) -> [u8; 32] {
    cache_key(&[b"crl", url.as_bytes(), issuer])
}

fn ocsp_store_key(key: &[u8; 32]) -> String {
    format!("ocsp:{}", hex::encode(key))
}

fn crl_store_key(key: &[u8; 32]) -> String {
    format!("crl:{}", hex::encode(key))
}

/// SHA-256 over length-prefixed parts.
fn cache_key(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Until when an answer may be cached: its nextUpdate, else an hour after its thisUpdate
/// (how long `kyso-verify` believes such an answer), at most [`MAX_CACHE_TIME`] from now.
fn cache_deadline(
    next_update: Option<OffsetDateTime>,
    this_update: OffsetDateTime,
    now: OffsetDateTime,
) -> Instant {
    let until =
        next_update.unwrap_or(this_update + crate::verify::revocation::MAX_AGE_WITHOUT_NEXT_UPDATE);
    let remaining = Duration::try_from(until - now).unwrap_or_default();
    Instant::now() + remaining.min(MAX_CACHE_TIME)
}
