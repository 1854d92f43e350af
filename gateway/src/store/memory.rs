//! [`MemoryStore`]: the [`Store`] in this process's memory, for the sandbox and for a single
//! gateway instance. Entries expire like Redis keys; nothing survives a restart.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    AuditAppend, AuditHead, AuditRetention, CreateTtls, Created, IdempotencyRecord, Lease,
    LimitDecision, Rate, SealedRecord, Store, StoreError, Swap,
};
use crate::domain::transaction::Transaction;

/// Expired entries are swept after this many writes.
const SWEEP_EVERY_WRITES: u64 = 1024;
/// The most document bytes kept at once by default: files beyond it are refused
/// ([`StoreError::Full`]) until others expire, so memory stays bounded.
pub const DEFAULT_DOCUMENT_CAPACITY: usize = 1024 * 1024 * 1024;

struct Expiring<T> {
    value: T,
    expires: Instant,
}

#[derive(Default)]
struct Maps {
    transactions: HashMap<String, Expiring<Transaction>>,
    idempotency: HashMap<String, Expiring<IdempotencyRecord>>,
    tokens: HashMap<String, Expiring<String>>,
    revocation: HashMap<String, Expiring<Vec<u8>>>,
    /// Files of transactions, by transaction id and name, and their total size.
    documents: HashMap<(String, String), Expiring<Vec<u8>>>,
    document_bytes: usize,
    leases: HashMap<String, Expiring<String>>,
    /// Pending transactions and when their follow lease runs out.
    pending: HashMap<String, Instant>,
    /// Each rate limit's theoretical arrival time (GCRA).
    rates: HashMap<String, Expiring<Instant>>,
    /// Each set of slots: its held members and when each runs out.
    slots: HashMap<String, HashMap<String, Instant>>,
    audit: AuditLog,
    writes: u64,
}

/// The audit trail: its head, the records kept (by sequence number) and the `once` keys
/// used, all expiring together like the Redis keys.
#[derive(Default)]
struct AuditLog {
    head: Option<AuditHead>,
    records: VecDeque<(u64, String)>,
    once: HashMap<String, Instant>,
    expires: Option<Instant>,
}

impl AuditLog {
    /// Forgets whatever has expired by `now`.
    fn expire(&mut self, now: Instant) {
        if self.expires.is_some_and(|expires| expires <= now) {
            self.head = None;
            self.records.clear();
            self.expires = None;
        }
        self.once.retain(|_, expires| *expires > now);
    }
}

impl Maps {
    fn wrote(&mut self, now: Instant) {
        self.writes += 1;
        if self.writes.is_multiple_of(SWEEP_EVERY_WRITES) {
            self.transactions.retain(|_, entry| entry.expires > now);
            self.idempotency.retain(|_, entry| entry.expires > now);
            self.tokens.retain(|_, entry| entry.expires > now);
            self.revocation.retain(|_, entry| entry.expires > now);
            self.sweep_documents(now);
            self.leases.retain(|_, entry| entry.expires > now);
            self.audit.expire(now);
            let transactions = &self.transactions;
            self.pending.retain(|id, _| transactions.contains_key(id));
            self.rates.retain(|_, entry| entry.expires > now);
            self.slots.retain(|_, held| {
                held.retain(|_, until| *until > now);
                !held.is_empty()
            });
        }
    }
}

impl Maps {
    /// Drops the expired documents.
    fn sweep_documents(&mut self, now: Instant) {
        let mut freed = 0;
        self.documents.retain(|_, entry| {
            let live = entry.expires > now;
            if !live {
                freed += entry.value.len();
            }
            live
        });
        self.document_bytes -= freed;
    }
}

fn live<'a, T>(map: &'a HashMap<String, Expiring<T>>, key: &str, now: Instant) -> Option<&'a T> {
    map.get(key)
        .filter(|entry| entry.expires > now)
        .map(|entry| &entry.value)
}

fn lease_key(lease: Lease<'_>) -> String {
    match lease {
        Lease::Follow(id) => format!("follow:{id}"),
        Lease::SessionRefresh(key) => format!("session:{key}"),
    }
}

/// GCRA: for a request at `now` under `rate`, given the stored theoretical arrival time
/// `tat`, the new one if the request is admitted, else how long until one would be.
fn gcra(tat: Option<Instant>, now: Instant, rate: Rate) -> Result<Instant, Duration> {
    let next = tat.filter(|tat| *tat > now).unwrap_or(now) + rate.interval;
    let ahead = next - now;
    let tolerance = rate.interval.saturating_mul(rate.burst);
    if ahead <= tolerance {
        Ok(next)
    } else {
        Err(ahead - tolerance)
    }
}

/// The in-process store.
pub struct MemoryStore {
    maps: Mutex<Maps>,
    /// The most document bytes kept at once.
    document_capacity: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_document_capacity(DEFAULT_DOCUMENT_CAPACITY)
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store keeping at most `bytes` of documents at once.
    pub fn with_document_capacity(bytes: usize) -> Self {
        Self {
            maps: Mutex::default(),
            document_capacity: bytes,
        }
    }

    fn with_maps<R>(&self, action: impl FnOnce(&mut Maps, Instant) -> R) -> Result<R, StoreError> {
        // A poisoned lock means a panic mid-update elsewhere; the maps themselves are
        // still consistent (every update is a single insert), so keep serving.
        let mut maps = self
            .maps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(action(&mut maps, Instant::now()))
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_transaction(
        &self,
        scoped_key: &str,
        record: &IdempotencyRecord,
        transaction: &Transaction,
        owner: &str,
        ttls: CreateTtls,
    ) -> Result<Created, StoreError> {
        self.with_maps(|maps, now| {
            if let Some(existing) = live(&maps.idempotency, scoped_key, now) {
                if existing != record {
                    return Created::Existing(existing.clone());
                }
                return Created::New;
            }
            maps.idempotency.insert(
                scoped_key.to_owned(),
                Expiring {
                    value: record.clone(),
                    expires: now + ttls.idempotency,
                },
            );
            maps.transactions.insert(
                transaction.id.clone(),
                Expiring {
                    value: transaction.clone(),
                    expires: now + ttls.record,
                },
            );
            maps.leases.insert(
                lease_key(Lease::Follow(&transaction.id)),
                Expiring {
                    value: owner.to_owned(),
                    expires: now + ttls.lease,
                },
            );
            maps.pending
                .insert(transaction.id.clone(), now + ttls.lease);
            maps.wrote(now);
            Created::New
        })
    }

    async fn idempotency_record(
        &self,
        scoped_key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.with_maps(|maps, now| live(&maps.idempotency, scoped_key, now).cloned())
    }

    async fn transaction(&self, id: &str) -> Result<Option<Transaction>, StoreError> {
        self.with_maps(|maps, now| live(&maps.transactions, id, now).cloned())
    }

    async fn swap_transaction(
        &self,
        next: &Transaction,
        ttl: Duration,
    ) -> Result<Swap, StoreError> {
        self.with_maps(|maps, now| {
            let current = live(&maps.transactions, &next.id, now);
            if current.map(|stored| stored.version + 1) != Some(next.version) {
                return Swap::Conflict(current.cloned().map(Box::new));
            }
            maps.transactions.insert(
                next.id.clone(),
                Expiring {
                    value: next.clone(),
                    expires: now + ttl,
                },
            );
            maps.wrote(now);
            Swap::Stored
        })
    }

    async fn release_idempotency_key(
        &self,
        scoped_key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        self.with_maps(|maps, now| {
            if live(&maps.idempotency, scoped_key, now) == Some(record) {
                maps.idempotency.remove(scoped_key);
            }
        })
    }

    async fn cached_token(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with_maps(|maps, now| live(&maps.tokens, key, now).cloned())
    }

    async fn cache_token(&self, key: &str, token: &str, ttl: Duration) -> Result<(), StoreError> {
        self.with_maps(|maps, now| {
            maps.tokens.insert(
                key.to_owned(),
                Expiring {
                    value: token.to_owned(),
                    expires: now + ttl,
                },
            );
            maps.wrote(now);
        })
    }

    async fn invalidate_token(&self, key: &str, token: &str) -> Result<(), StoreError> {
        self.with_maps(|maps, now| {
            if live(&maps.tokens, key, now).is_some_and(|cached| cached == token) {
                maps.tokens.remove(key);
            }
        })
    }

    async fn revocation_data(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_maps(|maps, now| live(&maps.revocation, key, now).cloned())
    }

    async fn cache_revocation_data(
        &self,
        key: &str,
        data: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.with_maps(|maps, now| {
            maps.revocation.insert(
                key.to_owned(),
                Expiring {
                    value: data.to_vec(),
                    expires: now + ttl,
                },
            );
            maps.wrote(now);
        })
    }

    async fn put_document(
        &self,
        transaction_id: &str,
        name: &str,
        bytes: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let capacity = self.document_capacity;
        self.with_maps(|maps, now| {
            let key = (transaction_id.to_owned(), name.to_owned());
            let replaced = maps
                .documents
                .get(&key)
                .map_or(0, |entry| entry.value.len());
            if maps.document_bytes - replaced + bytes.len() > capacity {
                maps.sweep_documents(now);
            }
            let replaced = maps
                .documents
                .get(&key)
                .map_or(0, |entry| entry.value.len());
            let held = maps.document_bytes - replaced;
            if held + bytes.len() > capacity {
                return Err(StoreError::Full(format!(
                    "{held} bytes of documents are held; {capacity} at most"
                )));
            }
            maps.document_bytes = held + bytes.len();
            maps.documents.insert(
                key,
                Expiring {
                    value: bytes.to_vec(),
                    expires: now + ttl,
                },
            );
            maps.wrote(now);
            Ok(())
        })?
    }

    async fn document(
        &self,
        transaction_id: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_maps(|maps, now| {
            maps.documents
                .get(&(transaction_id.to_owned(), name.to_owned()))
                .filter(|entry| entry.expires > now)
                .map(|entry| entry.value.clone())
        })
    }

    fn shards(&self) -> u16 {
        1
    }

    async fn orphaned_transactions(
        &self,
        _shard: u16,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.with_maps(|maps, now| {
            let mut orphans: Vec<(&String, &Instant)> = maps
                .pending
                .iter()
                .filter(|(_, lease_ends)| **lease_ends <= now)
                .collect();
            orphans.sort_by_key(|(_, lease_ends)| **lease_ends);
            orphans
                .into_iter()
                .take(limit)
                .map(|(id, _)| id.clone())
                .collect()
        })
    }

    async fn forget_pending(&self, id: &str) -> Result<(), StoreError> {
        self.with_maps(|maps, _| {
            maps.pending.remove(id);
        })
    }

    async fn acquire_lease(
        &self,
        lease: Lease<'_>,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.with_maps(|maps, now| {
            let key = lease_key(lease);
            if live(&maps.leases, &key, now).is_some_and(|holder| holder != owner) {
                return false;
            }
            maps.leases.insert(
                key,
                Expiring {
                    value: owner.to_owned(),
                    expires: now + ttl,
                },
            );
            if let Lease::Follow(id) = lease
                && let Some(lease_ends) = maps.pending.get_mut(id)
            {
                *lease_ends = now + ttl;
            }
            maps.wrote(now);
            true
        })
    }

    async fn release_lease(&self, lease: Lease<'_>, owner: &str) -> Result<(), StoreError> {
        self.with_maps(|maps, now| {
            let key = lease_key(lease);
            if live(&maps.leases, &key, now).is_some_and(|holder| holder == owner) {
                maps.leases.remove(&key);
                if let Lease::Follow(id) = lease
                    && let Some(lease_ends) = maps.pending.get_mut(id)
                {
                    *lease_ends = now;
                }
            }
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn admit(&self, key: &str, rate: Rate) -> Result<LimitDecision, StoreError> {
        self.with_maps(|maps, now| {
            let tat = live(&maps.rates, key, now).copied();
            match gcra(tat, now, rate) {
                Ok(next) => {
                    maps.rates.insert(
                        key.to_owned(),
                        Expiring {
                            value: next,
                            expires: next,
                        },
                    );
                    maps.wrote(now);
                    LimitDecision::Admitted
                }
                Err(retry_after) => LimitDecision::Refused { retry_after },
            }
        })
    }

    async fn reserve_slot(
        &self,
        key: &str,
        member: &str,
        hold: Duration,
        capacity: u32,
    ) -> Result<LimitDecision, StoreError> {
        self.with_maps(|maps, now| {
            let held = maps.slots.entry(key.to_owned()).or_default();
            held.retain(|_, until| *until > now);
            if held.contains_key(member) {
                return LimitDecision::Admitted;
            }
            if held.len() >= usize::try_from(capacity).unwrap_or(usize::MAX) {
                let first_free = held.values().min().copied().unwrap_or(now);
                return LimitDecision::Refused {
                    retry_after: first_free - now,
                };
            }
            held.insert(member.to_owned(), now + hold);
            maps.wrote(now);
            LimitDecision::Admitted
        })
    }

    async fn release_slot(&self, key: &str, member: &str) -> Result<(), StoreError> {
        self.with_maps(|maps, _| {
            if let Some(held) = maps.slots.get_mut(key) {
                held.remove(member);
                if held.is_empty() {
                    maps.slots.remove(key);
                }
            }
        })
    }

    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        self.with_maps(|maps, now| {
            maps.audit.expire(now);
            maps.audit.head.clone()
        })
    }

    async fn append_audit(
        &self,
        after: Option<&AuditHead>,
        records: &[SealedRecord],
        retention: AuditRetention,
    ) -> Result<AuditAppend, StoreError> {
        self.with_maps(|maps, now| {
            let log = &mut maps.audit;
            log.expire(now);
            if log.head.as_ref() != after {
                return AuditAppend::HeadMoved(log.head.clone());
            }
            let expires = now + retention.ttl;
            let mut outcome = AuditAppend::Appended;
            for (appended, record) in records.iter().enumerate() {
                if let Some(once) = &record.once {
                    if log.once.contains_key(&once.key) {
                        outcome = AuditAppend::AlreadyRecorded { appended };
                        break;
                    }
                    log.once
                        .insert(once.key.clone(), now + once.keep.min(retention.ttl));
                }
                log.records
                    .push_back((record.head.seq, record.line.clone()));
                while log.records.len() as u64 > retention.max_records.max(1) {
                    log.records.pop_front();
                }
                log.head = Some(record.head.clone());
                log.expires = Some(expires);
            }
            maps.wrote(now);
            outcome
        })
    }

    async fn audit_records(&self, from: u64, limit: usize) -> Result<Vec<String>, StoreError> {
        self.with_maps(|maps, now| {
            maps.audit.expire(now);
            maps.audit
                .records
                .iter()
                .filter(|(seq, _)| *seq >= from)
                .take(limit)
                .map(|(_, line)| line.clone())
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    /// Runs `arrivals` (offsets from a start) through GCRA; which were admitted.
    fn admitted(rate: Rate, arrivals: &[Duration]) -> Vec<bool> {
        let start = Instant::now();
        let mut tat = None;
        arrivals
            .iter()
            .map(|offset| match gcra(tat, start + *offset, rate) {
                Ok(next) => {
                    tat = Some(next);
                    true
                }
                Err(_) => false,
            })
            .collect()
    }

    #[test]
    fn gcra_admits_a_burst_then_the_sustained_rate() {
        let rate = Rate {
            interval: SECOND / 2,
            burst: 3,
        };
        let at_once = [Duration::ZERO; 5];
        assert_eq!(
            admitted(rate, &at_once),
            [true, true, true, false, false],
            "a burst of three at once"
        );
        let ms = Duration::from_millis;
        // After the burst, one every 500 ms.
        let spread = [ms(0), ms(0), ms(0), ms(100), ms(500), ms(600), ms(1000)];
        assert_eq!(
            admitted(rate, &spread),
            [true, true, true, false, true, false, true]
        );
        // Idle long enough, the whole burst is back.
        let later = [ms(0), ms(0), ms(0), ms(1500), ms(1500), ms(1500), ms(1500)];
        assert_eq!(
            admitted(rate, &later),
            [true, true, true, true, true, true, false]
        );
    }

    #[test]
    fn gcra_says_how_long_until_the_next_admission() {
        let rate = Rate {
            interval: SECOND,
            burst: 2,
        };
        let now = Instant::now();
        let tat = gcra(None, now, rate).unwrap();
        let tat = gcra(Some(tat), now, rate).unwrap();
        assert_eq!(gcra(Some(tat), now, rate), Err(SECOND));
        let later = now + Duration::from_millis(400);
        assert_eq!(
            gcra(Some(tat), later, rate),
            Err(Duration::from_millis(600))
        );
        assert!(gcra(Some(tat), now + SECOND, rate).is_ok());
    }
}
