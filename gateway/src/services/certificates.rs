//! Finding a citizen's certificates: at one provider, or at every provider at once under one
//! deadline (each provider's answer, found, not found or failed, is kept). Every search is
//! in the audit trail before its answer goes out.

use kyso_adapter_core::CaCertificate;
use time::OffsetDateTime;

use super::auth::Principal;
use super::validation::check_user_id;
use super::{Signing, is_refusal};
use crate::audit::{Entry, Event};
use crate::certificate_cache;
use crate::domain::certificate::{CertificateStatus, CitizenCertificate, ProviderAnswer};
use crate::domain::error::{ErrorCode, ServiceError};

impl Signing {
    /// A citizen's certificates at one provider, once the search is recorded.
    pub async fn certificates(
        &self,
        principal: &Principal,
        provider_id: &str,
        user_id: &str,
    ) -> Result<Vec<CitizenCertificate>, ServiceError> {
        let found = self.certificates_at(provider_id, user_id).await;
        let entry = self.search_entry(principal, Some(provider_id), user_id);
        let entry = match &found {
            Ok(certificates) if certificates.is_empty() => entry.outcome_of("not_found"),
            Ok(certificates) => entry
                .outcome_of("found")
                .detail("certificates", certificates.len()),
            Err(error) if !is_refusal(error) => return found,
            Err(error) => entry
                .outcome_of(search_failure(error.code))
                .reason(error.code),
        };
        self.answer_recorded(entry, found).await
    }

    /// What every provider says about a citizen (see [`Self::search_all`]), once the search
    /// is recorded.
    pub async fn search_certificates(
        &self,
        principal: &Principal,
        user_id: &str,
    ) -> Result<Vec<(String, ProviderAnswer)>, ServiceError> {
        let answers = self.search_all(user_id).await;
        let entry = self.search_entry(principal, None, user_id);
        let entry = match &answers {
            Ok(answers) => {
                let found: usize = answers
                    .iter()
                    .map(|(_, answer)| match answer {
                        ProviderAnswer::Answered(certificates) => certificates.len(),
                        ProviderAnswer::Failed(_) => 0,
                    })
                    .sum();
                let failed = answers
                    .iter()
                    .filter(|(_, answer)| matches!(answer, ProviderAnswer::Failed(_)))
                    .count();
                let outcome = match (found, failed == answers.len()) {
                    (0, true) => "failed",
                    (0, false) => "not_found",
                    _ => "found",
                };
                entry
                    .outcome_of(outcome)
                    .detail("certificates", found)
                    .detail("providers_failed", failed)
            }
            Err(error) if !is_refusal(error) => return answers,
            Err(error) => entry
                .outcome_of(search_failure(error.code))
                .reason(error.code),
        };
        self.answer_recorded(entry, answers).await
    }

    /// The record of a search by `principal` for `user_id` at `provider_id` (every provider
    /// when `None`), naming only a configured provider and a well-formed citizen id.
    fn search_entry(
        &self,
        principal: &Principal,
        provider_id: Option<&str>,
        user_id: &str,
    ) -> Entry {
        let mut entry = Entry::new(Event::CertificatesSearched, "").actor(&principal.client_id);
        if let Some(provider) = provider_id.filter(|id| self.providers.get(id).is_some()) {
            entry = entry.provider(provider);
        }
        if check_user_id(user_id).is_ok() {
            entry = entry.citizen(user_id);
        }
        entry
    }

    /// A citizen's certificates at one provider.
    async fn certificates_at(
        &self,
        provider_id: &str,
        user_id: &str,
    ) -> Result<Vec<CitizenCertificate>, ServiceError> {
        let provider = self.provider(provider_id)?;
        check_user_id(user_id)?;
        let now = OffsetDateTime::now_utc();
        let certificates = provider.certificates(user_id).await?;
        Ok(describe_all(&certificates, now))
    }

    /// What every provider says about a citizen, asked all at once and bounded by one
    /// deadline: the longest request timeout of any provider. In provider order.
    async fn search_all(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, ProviderAnswer)>, ServiceError> {
        check_user_id(user_id)?;
        let deadline = tokio::time::Instant::now() + self.providers.longest_request_timeout();
        let mut lookups = tokio::task::JoinSet::new();
        for (index, provider) in self.providers.iter().enumerate() {
            let (provider, user_id) = (provider.clone(), user_id.to_owned());
            lookups.spawn(async move {
                let answer =
                    tokio::time::timeout_at(deadline, provider.certificates(&user_id)).await;
                (index, provider, answer)
            });
        }
        let now = OffsetDateTime::now_utc();
        let mut results = Vec::new();
        while let Some(joined) = lookups.join_next().await {
            let (index, provider, answer) = joined.map_err(|error| {
                tracing::error!(%error, "a certificate lookup task failed");
                ServiceError::new(ErrorCode::InternalError, "a certificate lookup failed")
            })?;
            let answer = match answer {
                Ok(Ok(found)) => ProviderAnswer::Answered(describe_all(&found, now)),
                Ok(Err(error)) => ProviderAnswer::Failed(ServiceError::from(error)),
                Err(_) => ProviderAnswer::Failed(ServiceError::new(
                    ErrorCode::CaTimeout,
                    "the CA did not answer in time",
                )),
            };
            results.push((index, provider.id().to_owned(), answer));
        }
        results.sort_by_key(|(index, _, _)| *index);
        Ok(results
            .into_iter()
            .map(|(_, provider, answer)| (provider, answer))
            .collect())
    }
}

/// The outcome of a search that ended with `code`: the CA's failure, or the gateway's
/// refusal of the request.
fn search_failure(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::CertificateNotFound => "not_found",
        code if code.http_status() >= 500 => "failed",
        _ => "refused",
    }
}

fn describe_all(certificates: &[CaCertificate], now: OffsetDateTime) -> Vec<CitizenCertificate> {
    certificates
        .iter()
        .filter_map(|certificate| describe(certificate, now))
        .collect()
}

/// How a certificate is described to portals; `None` for one the gateway cannot use at all
/// (unparseable, or a key it cannot verify).
fn describe(certificate: &CaCertificate, now: OffsetDateTime) -> Option<CitizenCertificate> {
    let facts = match certificate_cache::facts(&certificate.certificate_der) {
        Ok(facts) => facts.as_ref().clone(),
        Err(error) => {
            tracing::warn!(certificate_id = %certificate.certificate_id, %error, "certificate from CA skipped");
            return None;
        }
    };
    let status = if !certificate.active {
        CertificateStatus::Inactive
    } else if now < facts.not_before {
        CertificateStatus::NotYetValid
    } else if now > facts.not_after {
        CertificateStatus::Expired
    } else {
        CertificateStatus::Valid
    };
    let chain_der: Vec<Vec<u8>> = std::iter::once(&certificate.certificate_der)
        .chain(&certificate.chain_der)
        .cloned()
        .collect();
    Some(CitizenCertificate {
        certificate_id: certificate.certificate_id.clone(),
        facts,
        status,
        chain_pem: certificate_cache::pems(&chain_der),
        chain_der,
    })
}
