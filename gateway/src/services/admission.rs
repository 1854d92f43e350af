//! Admission limits: how much each portal may ask of the gateway, and how often a citizen may
//! be asked to sign. Every count lives in the store, so all instances share one budget.
//!
//! - **Per client** (`rate_limited`): every authenticated call of an OAuth client is admitted
//!   by GCRA, a sustained rate with a burst ([`Store::admit`]), on the store's clock.
//! - **Per citizen** (`citizen_rate_limited`): at most `max_requests` new signing requests
//!   for one `user_id` in any `window_secs`, from all clients together: one portal cannot
//!   flood a citizen's phone with approval requests. Each new transaction holds a slot of
//!   the citizen's set for the window ([`Store::reserve_slot`]): a sliding window, exact
//!   where a rate's burst would let twice the number through in one window. A replay of an
//!   `Idempotency-Key` creates nothing and holds nothing; a request that fails before the
//!   CA is asked (no usable certificate, the store failing) gives its slot back, since the
//!   citizen was not asked. Once the CA was called the slot is kept, whatever it answered.
//!   A client may also have a stricter limit of its own on its requests to one citizen
//!   (`auth.clients[].limits.per_citizen`), counted the same way beside the shared one.
//! - **Pending per client** (`pending_limit_reached`): a client holds one slot per pending
//!   transaction, given back when the transaction ends (or, should that be missed, when its
//!   confirmation time runs out).
//!
//! **When the store fails**, the client rate fails *open* and the citizen and pending limits
//! fail *closed* (`store_unavailable`). The client rate guards the gateway's capacity, and a
//! store outage already refuses every call that needs the store; failing closed would also
//! refuse the calls that do not (providers, certificate lookups, verifications) and turn a
//! store outage into a total one. The citizen limit guards people: a signing request cannot
//! be created without the store anyway, so refusing it when the limit cannot be counted
//! costs no availability and never lets an uncounted push through.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{AdmissionSettings, ClientSettings, ConfigError};
use crate::domain::error::{ErrorCode, ServiceError};
use crate::metrics::Metrics;
use crate::store::{LimitDecision, Rate, Store};

/// One client's limits, with its overrides applied.
#[derive(Debug, Clone, Copy)]
struct ClientLimits {
    rate: Rate,
    requests_per_second: u32,
    max_pending: u32,
    /// This client's own limit on its signing requests to one citizen, if it has one.
    per_citizen: Option<CitizenLimit>,
}

/// At most `max_requests` new signing requests in any `window`.
#[derive(Debug, Clone, Copy)]
struct CitizenLimit {
    window: Duration,
    max_requests: u32,
}

impl CitizenLimit {
    fn of(
        settings: &crate::config::CitizenRateSettings,
        context: &str,
    ) -> Result<Self, ConfigError> {
        positive(
            settings.max_requests.into(),
            &format!("{context}.max_requests"),
        )?;
        positive(settings.window_secs, &format!("{context}.window_secs"))?;
        Ok(Self {
            window: Duration::from_secs(settings.window_secs),
            max_requests: settings.max_requests,
        })
    }
}

/// Which limit refused a request: the `limit` label of `kyso_rate_limited_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A client's request rate.
    Client,
    /// A citizen's signing requests.
    Citizen,
    /// A client's pending transactions.
    Pending,
}

impl Limit {
    /// Every limit.
    pub const ALL: [Self; 3] = [Self::Client, Self::Citizen, Self::Pending];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Citizen => "citizen",
            Self::Pending => "pending",
        }
    }
}

/// Admits requests under the configured limits.
pub struct Admission {
    store: Arc<dyn Store>,
    metrics: Metrics,
    defaults: ClientLimits,
    clients: HashMap<String, ClientLimits>,
    per_citizen: CitizenLimit,
}

/// The rate of `requests_per_second` with `burst`.
fn rate(requests_per_second: u32, burst: u32) -> Rate {
    Rate {
        interval: Duration::from_secs(1) / requests_per_second.max(1),
        burst,
    }
}

/// Fails unless `value` is at least 1.
fn positive(value: u64, context: &str) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::invalid(context, "must be at least 1"));
    }
    Ok(())
}

impl Admission {
    /// The limits of `settings`, with each client's overrides from `clients`.
    pub fn new(
        settings: &AdmissionSettings,
        clients: &[ClientSettings],
        store: Arc<dyn Store>,
        metrics: Metrics,
    ) -> Result<Self, ConfigError> {
        let per_client = settings.per_client;
        positive(
            per_client.requests_per_second.into(),
            "admission.per_client.requests_per_second",
        )?;
        positive(per_client.burst.into(), "admission.per_client.burst")?;
        let per_citizen = CitizenLimit::of(&settings.per_citizen, "admission.per_citizen")?;
        positive(
            settings.max_pending_per_client.into(),
            "admission.max_pending_per_client",
        )?;
        let limits = |requests_per_second: u32, burst: u32, max_pending: u32| ClientLimits {
            rate: rate(requests_per_second, burst),
            requests_per_second,
            max_pending,
            per_citizen: None,
        };
        let defaults = limits(
            per_client.requests_per_second,
            per_client.burst,
            settings.max_pending_per_client,
        );
        let mut by_client = HashMap::new();
        for client in clients {
            let overrides = &client.limits;
            let context = format!("auth.clients[{}].limits", client.client_id);
            let requests_per_second = overrides
                .requests_per_second
                .unwrap_or(per_client.requests_per_second);
            let burst = overrides.burst.unwrap_or(per_client.burst);
            let max_pending = overrides
                .max_pending
                .unwrap_or(settings.max_pending_per_client);
            positive(
                requests_per_second.into(),
                &format!("{context}.requests_per_second"),
            )?;
            positive(burst.into(), &format!("{context}.burst"))?;
            positive(max_pending.into(), &format!("{context}.max_pending"))?;
            let own_citizen_limit = overrides
                .per_citizen
                .as_ref()
                .map(|limit| CitizenLimit::of(limit, &format!("{context}.per_citizen")))
                .transpose()?;
            by_client.insert(
                client.client_id.clone(),
                ClientLimits {
                    per_citizen: own_citizen_limit,
                    ..limits(requests_per_second, burst, max_pending)
                },
            );
        }
        for limit in Limit::ALL {
            metrics.register_rate_limit(limit.as_str());
        }
        Ok(Self {
            store,
            metrics,
            defaults,
            clients: by_client,
            per_citizen,
        })
    }

    fn limits_of(&self, client_id: &str) -> ClientLimits {
        self.clients
            .get(client_id)
            .copied()
            .unwrap_or(self.defaults)
    }

    /// Admits one authenticated call of `client_id` under its rate; fails open when the
    /// store cannot count it (see the module doc).
    pub async fn admit_call(&self, client_id: &str) -> Result<(), ServiceError> {
        let limits = self.limits_of(client_id);
        match self.store.admit(&client_key(client_id), limits.rate).await {
            Ok(LimitDecision::Admitted) => Ok(()),
            Ok(LimitDecision::Refused { retry_after }) => {
                self.metrics.count_rate_limited(Limit::Client.as_str());
                Err(ServiceError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "this client sent more than its {} requests per second (burst {}): slow down",
                        limits.requests_per_second, limits.rate.burst
                    ),
                )
                .with_retry_after(retry_after))
            }
            Err(error) => {
                tracing::warn!(%error, client_id, "the client rate could not be counted; admitting the call");
                Ok(())
            }
        }
    }

    /// Before a new transaction is created: holds one of `client_id`'s pending slots until
    /// the transaction ends (at most `pending_for`), then one of the citizen's slots for the
    /// window. Fails closed when the store cannot count them (see the module doc); a refusal
    /// leaves nothing held.
    pub(crate) async fn reserve_submission(
        &self,
        client_id: &str,
        user_id: &str,
        transaction_id: &str,
        pending_for: Duration,
    ) -> Result<(), ServiceError> {
        let limits = self.limits_of(client_id);
        let max_pending = limits.max_pending;
        let pending = self
            .store
            .reserve_slot(
                &pending_key(client_id),
                transaction_id,
                pending_for,
                max_pending,
            )
            .await?;
        if let LimitDecision::Refused { retry_after } = pending {
            self.metrics.count_rate_limited(Limit::Pending.as_str());
            return Err(ServiceError::new(
                ErrorCode::PendingLimitReached,
                format!(
                    "this client has {max_pending} pending transactions, the most allowed: wait for some to end, or cancel some"
                ),
            )
            .with_retry_after(retry_after));
        }
        let mut citizen_limits = vec![(
            citizen_key(user_id),
            self.per_citizen,
            "from all portals together",
        )];
        if let Some(own) = limits.per_citizen {
            citizen_limits.push((
                client_citizen_key(client_id, user_id),
                own,
                "from this portal",
            ));
        }
        let mut refusal = None;
        for (key, limit, counted) in citizen_limits {
            match self
                .store
                .reserve_slot(&key, transaction_id, limit.window, limit.max_requests)
                .await
            {
                Ok(LimitDecision::Admitted) => {}
                Ok(LimitDecision::Refused { retry_after }) => {
                    self.metrics.count_rate_limited(Limit::Citizen.as_str());
                    refusal = Some(
                        ServiceError::new(
                            ErrorCode::CitizenRateLimited,
                            format!(
                                "this citizen has been sent {} signing requests in the last {} seconds, {counted}, the most allowed",
                                limit.max_requests,
                                limit.window.as_secs()
                            ),
                        )
                        .with_retry_after(retry_after),
                    );
                    break;
                }
                Err(error) => {
                    refusal = Some(error.into());
                    break;
                }
            }
        }
        match refusal {
            None => Ok(()),
            Some(refusal) => {
                self.withdraw_submission(client_id, user_id, transaction_id)
                    .await;
                Err(refusal)
            }
        }
    }

    /// Gives back what [`Self::reserve_submission`] held, when the CA was not asked after
    /// all (the request failed before, or replayed an earlier one).
    pub(crate) async fn withdraw_submission(
        &self,
        client_id: &str,
        user_id: &str,
        transaction_id: &str,
    ) {
        for key in [citizen_key(user_id), client_citizen_key(client_id, user_id)] {
            if let Err(error) = self.store.release_slot(&key, transaction_id).await {
                tracing::warn!(%error, transaction_id, "a citizen's slot could not be given back; it runs out with its window");
            }
        }
        self.release_pending(client_id, transaction_id).await;
    }

    /// Gives back a client's pending slot: its transaction ended.
    pub(crate) async fn release_pending(&self, client_id: &str, transaction_id: &str) {
        if let Err(error) = self
            .store
            .release_slot(&pending_key(client_id), transaction_id)
            .await
        {
            tracing::warn!(%error, transaction_id, "a pending slot could not be given back; it runs out with the transaction's confirmation time");
        }
    }
}

fn client_key(client_id: &str) -> String {
    format!("client:{client_id}")
}

fn pending_key(client_id: &str) -> String {
    format!("pending:{client_id}")
}

fn citizen_key(user_id: &str) -> String {
    format!("citizen:{user_id}")
}

fn client_citizen_key(client_id: &str, user_id: &str) -> String {
    format!("client-citizen:{client_id}:{user_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClientLimitSettings, ClientRateSettings};
    use crate::store::memory::MemoryStore;

    fn client(client_id: &str, limits: ClientLimitSettings) -> ClientSettings {
        ClientSettings {
            client_id: client_id.into(),
            scopes: Vec::new(),
            limits,
            ..ClientSettings::default()
        }
    }

    fn admission(settings: &AdmissionSettings, clients: &[ClientSettings]) -> Admission {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        Admission::new(settings, clients, store, Metrics::new().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_client_override_replaces_the_default_rate() {
        let settings = AdmissionSettings {
            per_client: ClientRateSettings {
                requests_per_second: 1,
                burst: 1,
            },
            ..AdmissionSettings::default()
        };
        let generous = ClientLimitSettings {
            burst: Some(3),
            ..ClientLimitSettings::default()
        };
        let admission = admission(&settings, &[client("big", generous)]);
        for _ in 0..3 {
            admission.admit_call("big").await.unwrap();
        }
        let refused = admission.admit_call("big").await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        assert!(refused.retry_after.is_some());
        // Unlisted clients get the defaults, each with a budget of its own.
        admission.admit_call("small").await.unwrap();
        assert_eq!(
            admission.admit_call("small").await.unwrap_err().code,
            ErrorCode::RateLimited
        );
    }

    #[tokio::test]
    async fn a_citizen_refusal_gives_the_pending_slot_back() {
        let mut settings = AdmissionSettings::default();
        settings.per_citizen.max_requests = 1;
        settings.max_pending_per_client = 1;
        let admission = admission(&settings, &[]);
        let hour = Duration::from_secs(3600);
        admission
            .reserve_submission("a", "001099000001", "t1", hour)
            .await
            .unwrap();
        let refused = admission
            .reserve_submission("b", "001099000001", "t2", hour)
            .await
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::CitizenRateLimited);
        // Client b's only pending slot is free again, for another citizen.
        admission
            .reserve_submission("b", "001099000002", "t3", hour)
            .await
            .unwrap();
        let refused = admission
            .reserve_submission("b", "001099000003", "t4", hour)
            .await
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::PendingLimitReached);
        // Withdrawn, as when the CA was never asked: both slots are free again.
        admission
            .withdraw_submission("a", "001099000001", "t1")
            .await;
        admission
            .reserve_submission("a", "001099000001", "t5", hour)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_client_own_citizen_limit_is_counted_beside_the_shared_one() {
        let mut settings = AdmissionSettings::default();
        settings.per_citizen.max_requests = 3;
        let strict = ClientLimitSettings {
            per_citizen: Some(crate::config::CitizenRateSettings {
                max_requests: 1,
                window_secs: 600,
            }),
            ..ClientLimitSettings::default()
        };
        let admission = admission(&settings, &[client("strict", strict)]);
        let hour = Duration::from_secs(3600);
        let citizen = "001099000001";
        admission
            .reserve_submission("strict", citizen, "t1", hour)
            .await
            .unwrap();
        let refused = admission
            .reserve_submission("strict", citizen, "t2", hour)
            .await
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::CitizenRateLimited);
        assert!(
            refused.message.contains("from this portal"),
            "{}",
            refused.message
        );
        // The refusal gave the shared slot back: two more fit there from another portal.
        for transaction in ["t3", "t4"] {
            admission
                .reserve_submission("other", citizen, transaction, hour)
                .await
                .unwrap();
        }
        let refused = admission
            .reserve_submission("other", citizen, "t5", hour)
            .await
            .unwrap_err();
        assert!(
            refused.message.contains("from all portals"),
            "{}",
            refused.message
        );
        // The strict portal's other citizens are not affected.
        admission
            .reserve_submission("strict", "001099000002", "t6", hour)
            .await
            .unwrap();
    }

    #[test]
    fn zero_limits_are_refused_naming_the_setting() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let mut settings = AdmissionSettings::default();
        settings.per_citizen.window_secs = 0;
        let error = Admission::new(&settings, &[], store.clone(), Metrics::new().unwrap())
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("per_citizen.window_secs"),
            "{error}"
        );
        let zero_burst = ClientLimitSettings {
            burst: Some(0),
            ..ClientLimitSettings::default()
        };
        let error = Admission::new(
            &AdmissionSettings::default(),
            &[client("p", zero_burst)],
            store,
            Metrics::new().unwrap(),
        )
        .err()
        .unwrap();
        assert!(
            error.to_string().contains("auth.clients[p].limits.burst"),
            "{error}"
        );
    }
}
