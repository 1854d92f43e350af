//! The audit trail's ceiling: every instance appends to **one** hash chain, whose keys share
//! the hash tag `{audit}`, so on a Redis Cluster all its appends go to one shard however many
//! shards there are (see `gateway/src/audit/mod.rs`). This measures how many records a second
//! one Redis takes there, and what each costs it.
//!
//! The gateway's own writer ([`Auditor`]) on a Redis of its own, as one instance: `writers`
//! tasks each record a `signing.accepted` record (the size of a real one: a transaction, a
//! citizen, a digest and the signer's certificate digest) and the next one as soon as it is
//! in, for a while. With one writer, every append carries one record (a batch of 1) and the
//! rate is one round trip's; with several, the writer may group the records waiting into one
//! append. The store's counters around the run ([`redis_cost`]) give the scripts (appends)
//! per record and Redis CPU per record, hence the most records a second one shard's main
//! thread takes at that batch size.
//!
//! [`redis_cost`]: crate::redis_cost

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use kyso_gateway::audit::{Auditor, Entry, Event};
use kyso_gateway::config::AuditSettings;
use kyso_gateway::metrics::Metrics;
use kyso_gateway::store::redis::RedisStore;

use crate::latency::Measurement;
use crate::redis_cost::{self, Cost};

/// The longest one record may take before it counts as an error.
const RECORD_TIMEOUT: Duration = Duration::from_secs(10);

/// One run: how many records were written by how many writers, and what they cost Redis.
#[derive(Debug)]
pub(crate) struct AuditRun {
    /// Tasks recording at once.
    pub(crate) writers: usize,
    /// Records written (their latencies) and failures.
    pub(crate) measurement: Measurement,
    /// What each record written cost Redis.
    pub(crate) cost: Cost,
}

impl AuditRun {
    /// Records per append: how many records the writer grouped into each script call.
    pub(crate) fn records_per_append(&self) -> f64 {
        let scripts = self.cost.script_calls();
        if scripts > 0.0 {
            1.0 / scripts
        } else {
            f64::NAN
        }
    }
}

/// A record as the gateway writes one when it accepts a signing request.
fn signing_accepted(n: u64) -> Entry {
    let id = format!("{:02x}{:032x}", n % 64, u128::from(n));
    Entry::new(Event::SigningAccepted, "accepted")
        .actor("kyso-load")
        .transaction(&id)
        .provider("vnpt")
        .citizen("001099200001")
        .detail("hash_algorithm", "sha256")
        .detail(
            "digests",
            vec![kyso_tests::digest_of(&format!("audit record {n}"))],
        )
        .detail("signer_sha256", hex::encode([0x5a_u8; 32]))
}

/// Records with `writers` tasks on one [`Auditor`] on the Redis at `url` (its own: the chain
/// starts empty), for `duration` or until `limit` records were tried.
pub(crate) async fn run(
    url: &str,
    writers: usize,
    duration: Duration,
    limit: u64,
) -> anyhow::Result<AuditRun> {
    let store = RedisStore::standalone(url, "kyso", Duration::from_secs(1), None)
        .map_err(anyhow::Error::msg)
        .context("the audit store")?;
    let auditor = Auditor::new(
        Arc::new(store),
        &AuditSettings::default(),
        Metrics::new().context("metrics")?,
        "kyso-load-audit".to_owned(),
        Entry::new(Event::ConfigLoaded, "loaded"),
    )
    .context("the auditor")?;
    // The start record first, outside the measured window.
    auditor
        .record_start()
        .await
        .context("the audit trail's first record")?;
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let work = async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..writers.max(1) {
            let (auditor, next) = (auditor.clone(), Arc::clone(&next));
            tasks.spawn(async move {
                let mut outcome = Measurement::default();
                while Instant::now() < deadline {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= limit {
                        break;
                    }
                    let started = Instant::now();
                    match tokio::time::timeout(RECORD_TIMEOUT, auditor.record(signing_accepted(n)))
                        .await
                    {
                        Ok(Ok(())) => outcome.record(started.elapsed()),
                        Ok(Err(error)) => outcome.fail(error.to_string()),
                        Err(_) => outcome.fail(format!("not written within {RECORD_TIMEOUT:?}")),
                    }
                }
                outcome
            });
        }
        let started = Instant::now();
        let mut measurement = Measurement::default();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(outcome) => measurement.absorb(&outcome),
                Err(error) => measurement.fail(format!("a writer task failed: {error}")),
            }
        }
        measurement.elapsed = started.elapsed();
        let written = measurement.ok;
        (measurement, written)
    };
    let (measurement, cost) = redis_cost::measure(url, work).await?;
    Ok(AuditRun {
        writers,
        measurement,
        cost,
    })
}
