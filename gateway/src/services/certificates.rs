//! Finding a citizen's certificates: at one provider, or at every provider at once under one
//! deadline (each provider's answer, found, not found or failed, is kept).

use kyso_adapter_core::CaCertificate;
use time::OffsetDateTime;

use super::Signing;
use super::validation::check_user_id;
use crate::domain::certificate::{CertificateStatus, CitizenCertificate, ProviderAnswer};
use crate::domain::error::{ErrorCode, ServiceError};
use crate::verify;

impl Signing {
    /// A citizen's certificates at one provider.
    pub async fn certificates(
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
    pub async fn search_certificates(
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

fn describe_all(certificates: &[CaCertificate], now: OffsetDateTime) -> Vec<CitizenCertificate> {
    certificates
        .iter()
        .filter_map(|certificate| describe(certificate, now))
        .collect()
}

/// How a certificate is described to portals; `None` for one the gateway cannot use at all
/// (unparseable, or a key it cannot verify).
fn describe(certificate: &CaCertificate, now: OffsetDateTime) -> Option<CitizenCertificate> {
    let facts = match verify::describe(&certificate.certificate_der) {
        Ok(facts) => facts,
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
    Some(CitizenCertificate {
        certificate_id: certificate.certificate_id.clone(),
        facts,
        status,
        chain_der: std::iter::once(&certificate.certificate_der)
            .chain(&certificate.chain_der)
            .cloned()
            .collect(),
    })
}
