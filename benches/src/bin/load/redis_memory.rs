//! What pending transactions cost in Redis: `MEMORY USAGE` (exact, `SAMPLES 0`) of every key
//! under `kyso:` before and after a number of transactions were created for a citizen who never
//! answers, grouped by what the key is (see the key layout in `gateway/src/store/redis.rs`).
//!
//! A transaction's own keys are its record (`{sNN}:txn:ID`), its idempotency key
//! (`{sNN}:idem:KEY`) and its follow lease (`{sNN}:lease:ID`); it also takes a member of its
//! shard's pending index (`{sNN}:pending`), of its client's and its citizen's admission slots
//! (`slots:*`), refers to its issuers' chain (`chain:DIGEST`, one for every transaction of
//! that issuing CA), and adds records to the audit trail (`{audit}:*`). Shared keys are counted
//! by how much they grew.

use std::collections::BTreeMap;

use kyso_gateway::store::redis::record::{IssuerChain, RecordParts};
use redis::AsyncCommands as _;

use crate::redis_cost::info_field;

/// The keys the gateway writes, by what they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum KeyKind {
    Transaction,
    Idempotency,
    Lease,
    PendingIndex,
    Document,
    IssuerChain,
    AdmissionSlots,
    AuditTrail,
    Other,
}

impl KeyKind {
    pub(crate) const ALL: [Self; 9] = [
        Self::Transaction,
        Self::Idempotency,
        Self::Lease,
        Self::PendingIndex,
        Self::Document,
        Self::IssuerChain,
        Self::AdmissionSlots,
        Self::AuditTrail,
        Self::Other,
    ];

    /// The keys that make up one pending transaction's own state: its record, idempotency
    /// key, lease, and its share of the pending index.
    pub(crate) fn is_transaction_state(self) -> bool {
        matches!(
            self,
            Self::Transaction | Self::Idempotency | Self::Lease | Self::PendingIndex
        )
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Transaction => "transaction record ({sNN}:txn:ID)",
            Self::Idempotency => "idempotency key ({sNN}:idem:KEY)",
            Self::Lease => "follow lease ({sNN}:lease:ID)",
            Self::PendingIndex => "pending index, its share ({sNN}:pending)",
            Self::Document => "documents waiting ({sNN}:doc:*)",
            Self::IssuerChain => "issuer chains (chain:DIGEST), shared",
            Self::AdmissionSlots => "admission slots, client's and citizen's (slots:*)",
            Self::AuditTrail => "audit trail records ({audit}:*)",
            Self::Other => "other (rates, CA tokens, revocation cache)",
        }
    }

    /// What `key` (under `prefix:`) holds.
    fn of(prefix: &str, key: &str) -> Self {
        let Some(rest) = key
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix(':'))
        else {
            return Self::Other;
        };
        if rest.starts_with("{audit}") {
            return Self::AuditTrail;
        }
        // `{sNN}:kind:...`: a transaction's keys follow its shard's hash tag; the rest do not
        // (`lease:session:*` is a CA session's lease, not a transaction's).
        if let Some(sharded) = rest.strip_prefix("{s") {
            let kind = sharded.split_once("}:").map_or("", |(_, kind)| kind);
            return match kind.split(':').next().unwrap_or_default() {
                "txn" => Self::Transaction,
                "idem" => Self::Idempotency,
                "lease" => Self::Lease,
                "pending" => Self::PendingIndex,
                "doc" => Self::Document,
                _ => Self::Other,
            };
        }
        if rest.starts_with("slots:") {
            Self::AdmissionSlots
        } else if rest.starts_with("chain:") {
            Self::IssuerChain
        } else {
            Self::Other
        }
    }
}

/// Keys and bytes of each kind, at one moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub(crate) by_kind: BTreeMap<KeyKind, (u64, u64)>,
    /// `used_memory` of `INFO memory`: everything, allocator overheads included.
    pub(crate) used_memory: u64,
}

impl Snapshot {
    /// Reads every key under `prefix:` in the Redis at `url`.
    pub(crate) async fn take(url: &str, prefix: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        let mut keys: Vec<String> = Vec::new();
        {
            let mut scan = connection
                .scan_match::<_, String>(format!("{prefix}:*"))
                .await?;
            while let Some(key) = scan.next_item().await {
                keys.push(key?);
            }
        }
        let mut snapshot = Self::default();
        for chunk in keys.chunks(500) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.cmd("MEMORY")
                    .arg("USAGE")
                    .arg(key)
                    .arg("SAMPLES")
                    .arg(0);
            }
            let sizes: Vec<Option<u64>> = pipe.query_async(&mut connection).await?;
            for (key, size) in chunk.iter().zip(sizes) {
                let entry = snapshot
                    .by_kind
                    .entry(KeyKind::of(prefix, key))
                    .or_default();
                entry.0 += 1;
                entry.1 += size.unwrap_or(0);
            }
        }
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut connection)
            .await?;
        snapshot.used_memory = info_field(&info, "used_memory").unwrap_or(0);
        Ok(snapshot)
    }
}

/// What one transaction record is made of (see `kyso_gateway::store::redis::record`).
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordAnatomy {
    /// The record's value, bytes.
    pub(crate) stored: usize,
    /// Its JSON (without the certificate's DER), before it is deflated.
    pub(crate) json: usize,
    /// The signer's certificate, DER, before it is deflated.
    pub(crate) certificate: usize,
    /// Both, deflated.
    pub(crate) deflated: usize,
    /// The top-level members of the JSON, with their size as JSON, largest first.
    pub(crate) members: Vec<(String, usize)>,
}

/// What one transaction record under `prefix:` is made of; `None` when there is none (or it
/// is not of the store's layout).
pub(crate) async fn record_anatomy(
    url: &str,
    prefix: &str,
) -> anyhow::Result<Option<RecordAnatomy>> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let key = {
        let mut scan = connection
            .scan_match::<_, String>(format!("{prefix}:*:txn:*"))
            .await?;
        scan.next_item().await.transpose()?
    };
    let Some(key) = key else {
        return Ok(None);
    };
    let stored: Vec<u8> = connection.get(&key).await?;
    let Some(parts) = RecordParts::of(&stored) else {
        return Ok(None);
    };
    let chain = match parts.chain_digest()? {
        Some(digest) => {
            let chain: Vec<u8> = connection.get(format!("{prefix}:chain:{digest}")).await?;
            IssuerChain::read(digest, &chain)?
        }
        None => Vec::new(),
    };
    let (json, certificate) = parts.contents(&chain)?;
    let mut members: Vec<(String, usize)> = match serde_json::from_slice(&json) {
        Ok(serde_json::Value::Object(object)) => object
            .iter()
            .map(|(name, value)| (name.clone(), value.to_string().len()))
            .collect(),
        _ => Vec::new(),
    };
    members.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    Ok(Some(RecordAnatomy {
        stored: stored.len(),
        json: json.len(),
        certificate: certificate.len(),
        deflated: parts.payload.len(),
        members,
    }))
}

/// Growth between two snapshots, per transaction created in between.
#[derive(Debug, Clone)]
pub(crate) struct PerTransaction {
    pub(crate) transactions: u64,
    /// Per kind: keys added per transaction, bytes added per transaction.
    pub(crate) by_kind: Vec<(KeyKind, f64, f64)>,
    /// `used_memory` growth per transaction.
    pub(crate) used_memory: f64,
    /// What one transaction record is made of.
    pub(crate) record: Option<RecordAnatomy>,
}

impl PerTransaction {
    pub(crate) fn between(before: &Snapshot, after: &Snapshot, transactions: u64) -> Self {
        let per = |value: i128| value as f64 / transactions.max(1) as f64;
        let by_kind = KeyKind::ALL
            .iter()
            .map(|kind| {
                let (keys_before, bytes_before) =
                    before.by_kind.get(kind).copied().unwrap_or_default();
                let (keys_after, bytes_after) =
                    after.by_kind.get(kind).copied().unwrap_or_default();
                (
                    *kind,
                    per(i128::from(keys_after) - i128::from(keys_before)),
                    per(i128::from(bytes_after) - i128::from(bytes_before)),
                )
            })
            .collect();
        Self {
            transactions,
            by_kind,
            used_memory: per(i128::from(after.used_memory) - i128::from(before.used_memory)),
            record: None,
        }
    }

    /// Bytes per transaction of its own state (see [`KeyKind::is_transaction_state`]).
    pub(crate) fn transaction_state_bytes(&self) -> f64 {
        self.by_kind
            .iter()
            .filter(|(kind, _, _)| kind.is_transaction_state())
            .map(|(_, _, bytes)| bytes)
            .sum()
    }

    /// Bytes per transaction of every key under the prefix.
    pub(crate) fn all_keys_bytes(&self) -> f64 {
        self.by_kind.iter().map(|(_, _, bytes)| bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_by_what_they_hold() {
        let cases = [
            ("kyso:{s07}:txn:abc", KeyKind::Transaction),
            ("kyso:{s07}:idem:client:key", KeyKind::Idempotency),
            ("kyso:{s63}:lease:abc", KeyKind::Lease),
            ("kyso:{s00}:pending", KeyKind::PendingIndex),
            ("kyso:{s01}:doc:abc:file-1", KeyKind::Document),
            ("kyso:slots:client:sandbox-portal", KeyKind::AdmissionSlots),
            ("kyso:chain:0a1b", KeyKind::IssuerChain),
            ("kyso:{audit}:head", KeyKind::AuditTrail),
            ("kyso:rate:client:sandbox-portal", KeyKind::Other),
            ("kyso:lease:session:vnpt", KeyKind::Other),
            ("other:{s00}:txn:abc", KeyKind::Other),
        ];
        for (key, kind) in cases {
            assert_eq!(KeyKind::of("kyso", key), kind, "{key}");
        }
    }

    #[test]
    fn growth_is_divided_by_the_transactions() {
        let mut before = Snapshot::default();
        before.by_kind.insert(KeyKind::PendingIndex, (1, 100));
        let mut after = Snapshot::default();
        after.by_kind.insert(KeyKind::PendingIndex, (1, 300));
        after.by_kind.insert(KeyKind::Transaction, (10, 5000));
        after.by_kind.insert(KeyKind::AuditTrail, (10, 1000));
        let growth = PerTransaction::between(&before, &after, 10);
        assert!((growth.transaction_state_bytes() - 520.0).abs() < 1e-9);
        assert!((growth.all_keys_bytes() - 620.0).abs() < 1e-9);
    }
}
