//! Following pending transactions at their CA until they are final.
//!
//! Exactly one instance follows a pending transaction: the one holding its follow lease,
//! renewed on every round. The creating instance holds it from the start (the store creates
//! it with the transaction). When an instance dies its leases run out and the sweeper of any
//! instance finds the orphans in its store's pending index (scored by lease end, per shard)
//! and adopts them; an instance that shuts down gives its leases up first, so they are
//! adopted at once.
//!
//! An adopted transaction whose submission was never answered is found at the CA by the
//! caller-chosen reference where the protocol has one; where it has none, nothing can find
//! the CA's request, and the transaction fails at once with `submission_lost`.
//!
//! A transaction leaves the pending index only once its final outcome is in the audit
//! trail, so an outcome whose record failed (or whose instance died before writing it) is
//! recorded by whoever follows the transaction next.

use std::time::Duration;

use kyso_adapter_core::{AdapterError, SignOutcome};
use time::OffsetDateTime;

use super::Signing;
use crate::audit::events;
use crate::domain::error::ErrorCode;
use crate::domain::transaction::{Submission, Transaction};
use crate::metrics::Metrics;
use crate::providers::ProviderError;
use crate::providers::retries::jittered;
use crate::store::{Lease, StoreError};

/// Longest time a transaction the CA says it does not know is still asked about, because the
/// submission may still be on its way to the CA. Shorter for short confirmation windows (a
/// quarter of the window), so a request that never reached the CA ends `submission_lost`
/// well before the transaction would expire. Twice the CA's request timeout comes on top: a
/// submission that timed out may still be taken by the CA after the gateway stopped
/// waiting (the chaos test caught a CA recording one 0.5 s after the timeout, after the
/// grace counted from creation alone had run out).
const UNKNOWN_AT_CA_GRACE_MAX: time::Duration = time::Duration::seconds(60);
/// Most orphans one sweep takes from one shard.
const SWEEP_BATCH_PER_SHARD: usize = 256;
/// Longest time a shutting-down instance spends handing its transactions over.
const HAND_OVER_TIMEOUT: Duration = Duration::from_secs(5);

/// What the follower knows before its first round.
enum Start {
    /// Nothing: ask the store and the CA.
    Fresh,
    /// The CA's answer to the submission, which could not be recorded yet.
    Answered(SignOutcome),
}

/// What a round found out, to be recorded.
#[derive(Clone)]
enum Answer {
    /// What the CA said.
    Ca(SignOutcome),
    /// The CA never received the submission, or its request cannot be found.
    SubmissionLost,
}

impl Signing {
    /// Follows a pending transaction at its CA in the background until it is final, unless
    /// this instance follows it already or another instance holds its lease.
    pub(super) fn follow(&self, transaction_id: String) {
        self.follow_from(transaction_id, Start::Fresh);
    }

    /// Follows a transaction whose submission the CA answered with `outcome`, which could not
    /// be recorded (the store failed): the follower records it first, retrying.
    pub(super) fn follow_answered(&self, transaction_id: String, outcome: SignOutcome) {
        self.follow_from(transaction_id, Start::Answered(outcome));
    }

    fn follow_from(&self, transaction_id: String, start: Start) {
        let Some(guard) = FollowGuard::new(self, &transaction_id) else {
            return;
        };
        let service = self.clone();
        self.runtime.spawn(async move {
            let _guard = guard;
            service
                .stopping
                .run_until_cancelled(service.follow_until_final(&transaction_id, start))
                .await;
        });
    }

    /// Starts the background sweep that adopts pending transactions nobody follows (their
    /// instance died, or shut down and handed them over).
    pub fn start_sweeper(&self) {
        let service = self.clone();
        self.runtime.spawn(async move {
            let interval = Duration::from_millis(service.settings.sweep_interval_ms.max(10));
            let sweep = async {
                loop {
                    tokio::time::sleep(interval).await;
                    service.adopt_orphans().await;
                }
            };
            service.stopping.run_until_cancelled(sweep).await;
        });
    }

    /// One sweep over every shard of the pending index.
    async fn adopt_orphans(&self) {
        for shard in 0..self.store.shards() {
            match self
                .store
                .orphaned_transactions(shard, SWEEP_BATCH_PER_SHARD)
                .await
            {
                Ok(ids) => ids.into_iter().for_each(|id| self.follow(id)),
                Err(error) => {
                    // The store is down: the next sweep tries again.
                    tracing::warn!(%error, "cannot list orphaned transactions");
                    return;
                }
            }
        }
    }

    /// Stops every follower and the sweeper of this instance without giving up leases, as a
    /// crash would: another instance takes over when they run out.
    pub fn stop_following(&self) {
        self.stopping.cancel();
    }

    /// Stops following and gives every follow lease up, so other instances adopt this
    /// instance's transactions at their next sweep instead of after the lease period.
    pub async fn hand_over(&self) {
        let followed: Vec<String> = self
            .followed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        self.stopping.cancel();
        let releases = async {
            for id in &followed {
                if let Err(error) = self
                    .store
                    .release_lease(Lease::Follow(id), &self.instance_id)
                    .await
                {
                    tracing::warn!(transaction_id = %id, %error, "could not hand a transaction over");
                }
            }
        };
        if tokio::time::timeout(HAND_OVER_TIMEOUT, releases)
            .await
            .is_err()
        {
            tracing::warn!(
                "handing transactions over took too long; the rest wait for their leases to run out"
            );
        }
        tracing::info!(
            transactions = followed.len(),
            "handed followed transactions over"
        );
    }

    async fn follow_until_final(&self, transaction_id: &str, start: Start) {
        let lease = Duration::from_millis(self.settings.follow_lease_ms);
        let mut delay = self.first_poll_delay();
        let mut gauge = None;
        let mut known = match start {
            Start::Fresh => None,
            Start::Answered(outcome) => Some(Answer::Ca(outcome)),
        };
        loop {
            // Renewed on every round; the rounds are shorter than the lease.
            match self
                .store
                .acquire_lease(Lease::Follow(transaction_id), &self.instance_id, lease)
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(%transaction_id, %error, "store unavailable while following");
                    tokio::time::sleep(delay).await;
                    delay = self.next_poll_delay(delay);
                    continue;
                }
            }
            let round = match known.take() {
                Some(answer) => self.record_answer(transaction_id, answer).await,
                None => self.follow_round(transaction_id, delay, &mut gauge).await,
            };
            match round {
                Ok(Round::Final) => break,
                Ok(Round::Pending) => {}
                Err((error, unrecorded)) => {
                    // Kept for the next round: nothing the CA said is lost.
                    known = unrecorded;
                    tracing::warn!(%transaction_id, %error, "store unavailable while following");
                    tokio::time::sleep(delay).await;
                }
            }
            delay = self.next_poll_delay(delay);
        }
        self.confirm_outcome_recorded(transaction_id, delay).await;
        let released = self.store.forget_pending(transaction_id).await.and(
            self.store
                .release_lease(Lease::Follow(transaction_id), &self.instance_id)
                .await,
        );
        if let Err(error) = released {
            // The pending entry stays; a later sweep finds the transaction final and drops it.
            tracing::warn!(%transaction_id, %error, "could not tidy a finished transaction");
        }
    }

    /// Waits until the final outcome of `transaction_id` is in the audit trail (written
    /// once per transaction, so usually found there already), retrying with backoff while
    /// the store or the trail fails.
    async fn confirm_outcome_recorded(&self, transaction_id: &str, mut delay: Duration) {
        if self
            .auditor
            .recorded(&events::final_outcome_key(transaction_id))
            .await
        {
            return;
        }
        loop {
            let recorded = match self.store.transaction(transaction_id).await {
                Ok(Some(transaction)) => self
                    .record_final_outcome(&transaction)
                    .await
                    .map_err(|error| error.to_string()),
                Ok(None) => return,
                Err(error) => Err(error.to_string()),
            };
            match recorded {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%transaction_id, %error, "final outcome not in the audit trail yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = self.next_poll_delay(delay);
                }
            }
        }
    }

    fn first_poll_delay(&self) -> Duration {
        Duration::from_millis(self.settings.poll_initial_ms.max(1))
    }

    fn max_poll_delay(&self) -> Duration {
        Duration::from_millis(self.settings.poll_max_ms.max(1))
    }

    /// The wait after `delay`: doubling towards the configured maximum, drawn at random
    /// from the upper half of the doubled wait, so that transactions submitted together (or
    /// failed together by a CA's outage) do not poll in lockstep, and never later than plain
    /// doubling would.
    fn next_poll_delay(&self, delay: Duration) -> Duration {
        let doubled = (delay * 2).min(self.max_poll_delay());
        jittered(doubled / 2, doubled)
    }

    /// Records `answer` over the latest version of the transaction.
    async fn record_answer(
        &self,
        transaction_id: &str,
        answer: Answer,
    ) -> Result<Round, (StoreError, Option<Answer>)> {
        let latest = match self.store.transaction(transaction_id).await {
            Ok(Some(latest)) => latest,
            Ok(None) => return Ok(Round::Final),
            Err(error) => return Err((error, Some(answer))),
        };
        let recorded = match answer.clone() {
            Answer::Ca(outcome) => self.settle(latest, outcome).await,
            Answer::SubmissionLost => {
                self.record(latest, |current, now| {
                    current
                        .fail(
                            ErrorCode::SubmissionLost,
                            "the signing request never reached the CA, or cannot be found there: submit it again",
                            now,
                        )
                        .ok()
                })
                .await
            }
        };
        match recorded {
            Ok(settled) => Ok(Round::of(&settled)),
            Err(error) => Err((error, Some(answer))),
        }
    }

    /// One round of following: waits, asks the CA, records its answer.
    async fn follow_round(
        &self,
        transaction_id: &str,
        delay: Duration,
        gauge: &mut Option<PendingGauge>,
    ) -> Result<Round, (StoreError, Option<Answer>)> {
        let stored = self
            .store
            .transaction(transaction_id)
            .await
            .map_err(|error| (error, None))?;
        let Some(transaction) = stored else {
            return Ok(Round::Final);
        };
        if transaction.status.is_final() {
            return Ok(Round::Final);
        }
        gauge.get_or_insert_with(|| PendingGauge::new(&self.metrics, &transaction.provider));
        let now = OffsetDateTime::now_utc();
        let answer = if transaction.is_overdue(now) {
            Answer::Ca(SignOutcome::Expired)
        } else {
            match self.ask_ca(&transaction, delay, now).await {
                Some(answer) => answer,
                None => return Ok(Round::Pending),
            }
        };
        // Recorded over a fresh read, so that a cancel recorded while the CA answered is
        // respected.
        self.record_answer(transaction_id, answer).await
    }

    /// Waits `delay` (never past the expiry), then asks the CA where `transaction` stands;
    /// `None` while it is still pending or the CA could not say.
    async fn ask_ca(
        &self,
        transaction: &Transaction,
        delay: Duration,
        now: OffsetDateTime,
    ) -> Option<Answer> {
        let transaction_id = &transaction.id;
        let Some(reference) = transaction.submission.reference() else {
            // Adopted before the CA answered, and the protocol names requests itself: the
            // CA's request cannot be found, so say so now rather than wait for the expiry.
            tracing::warn!(%transaction_id, "submission interrupted before the CA answered; its request cannot be found");
            return Some(Answer::SubmissionLost);
        };
        let Some(provider) = self.providers.get(&transaction.provider).cloned() else {
            tracing::error!(%transaction_id, provider = %transaction.provider, "provider no longer configured");
            return None;
        };
        let until_expiry = Duration::try_from(transaction.expires_at - now).unwrap_or_default();
        tokio::time::sleep(delay.min(until_expiry)).await;
        match provider.poll(reference).await {
            Ok(SignOutcome::Pending { .. }) => None,
            Ok(outcome) => Some(Answer::Ca(outcome)),
            Err(error) if error.is_retryable() => {
                tracing::warn!(%transaction_id, %error, "CA status poll failed; will retry");
                None
            }
            // A submission the CA has not recorded yet (it timed out and may still be in
            // flight) is not-found for a while; only after a grace period is it lost.
            Err(ProviderError::Ca(AdapterError::TransactionNotFound(_))) => {
                let window: time::Duration = transaction.expires_at - transaction.created_at;
                let in_flight = time::Duration::try_from(provider.request_timeout() * 2)
                    .unwrap_or(UNKNOWN_AT_CA_GRACE_MAX);
                let grace = (window / 4_i32).min(UNKNOWN_AT_CA_GRACE_MAX) + in_flight;
                let within_grace = OffsetDateTime::now_utc() - transaction.created_at < grace;
                if within_grace {
                    None
                } else if matches!(transaction.submission, Submission::Intended { .. }) {
                    tracing::warn!(%transaction_id, "the CA never received the submission");
                    Some(Answer::SubmissionLost)
                } else {
                    tracing::warn!(%transaction_id, "the CA no longer knows the transaction");
                    Some(Answer::Ca(SignOutcome::Failed(
                        "the CA no longer knows the transaction".into(),
                    )))
                }
            }
            Err(error) => {
                tracing::warn!(%transaction_id, %error, "CA status poll refused");
                Some(Answer::Ca(SignOutcome::Failed(error.to_string())))
            }
        }
    }
}

/// Where a transaction stands after a round.
enum Round {
    /// Final, or gone.
    Final,
    /// Still pending.
    Pending,
}

impl Round {
    fn of(transaction: &Transaction) -> Self {
        if transaction.status.is_final() {
            Self::Final
        } else {
            Self::Pending
        }
    }
}

/// Marks a transaction as followed by this instance while a follower task lives, so it is
/// not followed twice.
struct FollowGuard {
    service: Signing,
    transaction_id: String,
}

impl FollowGuard {
    fn new(service: &Signing, transaction_id: &str) -> Option<Self> {
        let mut followed = service
            .followed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !followed.insert(transaction_id.to_owned()) {
            return None;
        }
        Some(Self {
            service: service.clone(),
            transaction_id: transaction_id.to_owned(),
        })
    }
}

impl Drop for FollowGuard {
    fn drop(&mut self) {
        self.service
            .followed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.transaction_id);
    }
}

/// Counts a transaction in its provider's pending gauge while it is followed here.
struct PendingGauge {
    metrics: Metrics,
    provider: String,
}

impl PendingGauge {
    fn new(metrics: &Metrics, provider: &str) -> Self {
        metrics.add_pending(provider, 1);
        Self {
            metrics: metrics.clone(),
            provider: provider.to_owned(),
        }
    }
}

impl Drop for PendingGauge {
    fn drop(&mut self) {
        self.metrics.add_pending(&self.provider, -1);
    }
}
