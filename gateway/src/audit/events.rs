//! The entries whose content needs more than a line to build: the start-up record (a digest
//! of the settings, never a secret) and a transaction's final outcome (with the
//! verification indication and the signatures' digests).

use sha2::{Digest as _, Sha256};

use std::time::Duration;

use super::{Entry, Event, wire_name};
use crate::config::{Settings, StoreSettings};
use crate::domain::error::ErrorCode;
use crate::domain::transaction::{Transaction, TransactionStatus};
use crate::store::OnceKey;

/// The `config.loaded` entry of an instance started with `settings`.
///
/// `settings_sha256` is the SHA-256 of the settings as parsed, in their debug rendering, in
/// which every secret (keys, passwords, URLs with credentials) reads `[REDACTED]`: it changes
/// with any other setting, and reveals nothing. The entry also names what an inspector needs
/// in clear: the version, the store's kind, the providers, and how the trail is kept.
pub(crate) fn config_loaded(settings: &Settings) -> Entry {
    let store = match &settings.store {
        StoreSettings::Memory => "memory",
        StoreSettings::Redis { .. } => "redis",
        StoreSettings::RedisCluster { .. } => "redis-cluster",
    };
    let providers: Vec<serde_json::Value> = settings
        .providers
        .iter()
        .map(|provider| serde_json::json!({"id": provider.id, "kind": provider.adapter.kind()}))
        .collect();
    let digest = hex::encode(Sha256::digest(format!("{settings:?}").as_bytes()));
    Entry::new(Event::ConfigLoaded, "loaded")
        .detail("version", env!("CARGO_PKG_VERSION"))
        .detail("settings_sha256", digest)
        .detail("store", store)
        .detail("providers", providers)
        .detail("sink", settings.audit.sink.kind())
        .detail(
            "pseudonymise_citizens",
            settings.audit.pseudonymise_citizens,
        )
}

/// The `once` key of the final outcome of the transaction `id`.
pub(crate) fn final_outcome_key(id: &str) -> String {
    format!("final:{id}")
}

/// The entry of a transaction's final status: `cancellation` for `cancelled`, else
/// `signing.outcome`; recorded once per transaction whoever records it. `None` while the
/// transaction is pending.
///
/// The store remembers the `once` key for `keep`: as long as the transaction's record,
/// the only thing that could make an instance record its outcome again.
pub(crate) fn final_outcome(transaction: &Transaction, keep: Duration) -> Option<Entry> {
    let event = match transaction.status {
        TransactionStatus::Pending => return None,
        TransactionStatus::Cancelled => Event::Cancellation,
        _ => Event::SigningOutcome,
    };
    let mut entry = Entry::new(event, transaction.status.as_str())
        .actor(&transaction.client_id)
        .transaction(&transaction.id)
        .provider(&transaction.provider)
        .citizen(&transaction.user_id);
    entry.once = Some(OnceKey {
        key: final_outcome_key(&transaction.id),
        keep,
    });
    if let Some(error) = &transaction.error {
        entry = entry.reason(error.code);
    }
    let indication = match (transaction.status, transaction.error.as_ref()) {
        (TransactionStatus::Signed, _) => {
            let indications: Vec<serde_json::Value> = transaction
                .documents
                .iter()
                .filter_map(|document| document.signature.as_ref())
                .map(|signature| wire_name(signature.report.indication).into())
                .collect();
            let digests: Vec<String> = transaction
                .documents
                .iter()
                .filter_map(|document| document.signature.as_ref())
                .map(|signature| hex::encode(Sha256::digest(&signature.signature)))
                .collect();
            entry = entry.detail("signatures_sha256", digests);
            let files: Vec<serde_json::Value> = transaction
                .documents
                .iter()
                .filter_map(|document| document.plan.as_ref()?.signed.as_ref())
                .map(|file| {
                    serde_json::json!({
                        "level": file.level.as_str(),
                        "sha256": hex::encode(&file.sha256),
                    })
                })
                .collect();
            if !files.is_empty() {
                entry = entry.detail("signed_files", files);
            }
            Some(serde_json::Value::from(indications))
        }
        (_, Some(error)) if error.code == ErrorCode::SignatureInvalid => {
            Some("total_failed".into())
        }
        (_, Some(error)) if error.code == ErrorCode::RevocationUnavailable => {
            Some("indeterminate".into())
        }
        _ => None,
    };
    if let Some(indication) = indication {
        entry = entry.detail("indication", indication);
    }
    Some(entry)
}
