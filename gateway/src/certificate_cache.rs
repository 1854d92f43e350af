//! What portals are shown of a certificate (its PEM, and what it says: subject, issuer,
//! validity, key) worked out once per certificate rather than on every answer.
//!
//! Both depend on the certificate's DER alone, and the same certificates come back again
//! and again: a citizen's in the lookup, the submission and every read of the transaction,
//! and its CA's in every chain. Parsing the X.509 and encoding the PEM were a measured part
//! of each lookup's cost (see benches/README.md). Entries are keyed by the DER itself, so a
//! hit is the very same certificate; the cache is bounded and forgets after an hour.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use crate::bounded_cache::BoundedCache;
use crate::verify::{self, CertificateFacts, VerifyError};

/// How many certificates each cache holds (a few KB each).
const ENTRIES: usize = 4096;
/// How long an entry is kept: it never goes stale, this only lets rare ones go.
const KEPT: Duration = Duration::from_secs(3600);

static FACTS: LazyLock<BoundedCache<Vec<u8>, Arc<CertificateFacts>>> =
    LazyLock::new(|| BoundedCache::new(ENTRIES));
static PEMS: LazyLock<BoundedCache<Vec<u8>, Arc<str>>> =
    LazyLock::new(|| BoundedCache::new(ENTRIES));

/// What the certificate `der` says (as [`verify::describe`]).
pub(crate) fn facts(der: &[u8]) -> Result<Arc<CertificateFacts>, VerifyError> {
    let now = Instant::now();
    if let Some(facts) = FACTS.get(der, now) {
        return Ok(facts);
    }
    let facts = Arc::new(verify::describe(der)?);
    FACTS.insert(der.to_vec(), facts.clone(), now + KEPT, now);
    Ok(facts)
}

/// The certificate `der` in PEM (as [`verify::certificate_pem`]).
pub(crate) fn pem(der: &[u8]) -> Arc<str> {
    let now = Instant::now();
    if let Some(pem) = PEMS.get(der, now) {
        return pem;
    }
    let pem: Arc<str> = verify::certificate_pem(der).into();
    PEMS.insert(der.to_vec(), pem.clone(), now + KEPT, now);
    pem
}

/// The PEM of each certificate of `chain`, in order.
pub(crate) fn pems<'a>(chain: impl IntoIterator<Item = &'a Vec<u8>>) -> Vec<String> {
    chain.into_iter().map(|der| pem(der).to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_answer_is_what_the_certificate_itself_gives() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "NGUYỄN VĂN A");
        let first = params.self_signed(&key).unwrap().der().to_vec();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "TRẦN THỊ B");
        let second = params.self_signed(&key).unwrap().der().to_vec();
        for der in [&first, &second, &first] {
            assert_eq!(*facts(der).unwrap(), verify::describe(der).unwrap());
            assert_eq!(&*pem(der), verify::certificate_pem(der));
        }
        assert_ne!(facts(&first).unwrap(), facts(&second).unwrap());
        assert!(facts(b"not a certificate").is_err());
    }
}
