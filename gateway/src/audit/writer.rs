//! [`Auditor`]: writes records to the store's chain (see the module doc of [`crate::audit`]
//! for the design), then streams them to the configured sink.
//!
//! Appends are serialised within an instance (one lock), so the instance's sink receives its
//! records in chain order and it rarely races with itself; a race with another instance
//! costs one more round trip with the head the store answered.

use std::collections::HashSet;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use hmac::{KeyInit as _, Mac as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Mutex;

use super::chain::{GENESIS_HASH, seal};
use super::{AuditError, Entry, SCHEMA_VERSION};
use crate::config::{AuditSettings, AuditSink, ConfigError};
use crate::http::request_context;
use crate::metrics::Metrics;
use crate::store::{AuditAppend, AuditHead, AuditRetention, SealedRecord, Store, StoreError};

/// How many times in a row an append may find the head moved before giving up.
const MAX_HEAD_RACES: u32 = 32;
/// How many times an append is tried when the store does not answer.
const STORE_ATTEMPTS: u32 = 3;
/// The wait before the second try (doubled before the third).
const STORE_RETRY_DELAY: Duration = Duration::from_millis(100);
/// How many `once` keys an instance remembers having recorded (then it forgets them all:
/// recording one again only costs a store call that finds it there).
const REMEMBERED_ONCE_KEYS: usize = 65_536;
/// The shortest pseudonymisation key accepted, in bytes.
const MIN_PSEUDONYM_KEY_BYTES: usize = 32;

/// Writes audit records; cheap to clone, shared by every part of an instance.
#[derive(Clone)]
pub struct Auditor {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    metrics: Metrics,
    instance_id: String,
    pseudonymiser: Option<Pseudonymiser>,
    retention: AuditRetention,
    writer: Mutex<Writer>,
}

/// What only one append at a time may touch.
struct Writer {
    /// The head as last seen (`None`: not known, read it from the store).
    head: Option<Option<AuditHead>>,
    /// This instance's `config.loaded` record, until it is written: it goes first.
    start: Option<Entry>,
    sink: Sink,
    /// `once` keys this instance knows are in the trail.
    recorded_once: HashSet<String>,
}

/// Where records go besides the store.
enum Sink {
    None,
    Stdout,
    File(std::fs::File),
}

impl Sink {
    fn open(sink: &AuditSink) -> Result<Self, ConfigError> {
        Ok(match sink {
            AuditSink::None => Self::None,
            AuditSink::Stdout => Self::Stdout,
            AuditSink::File(path) => {
                let mut options = std::fs::OpenOptions::new();
                options.create(true).append(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
                Self::File(options.open(path).map_err(|error| {
                    ConfigError::invalid(
                        "audit.sink",
                        format!("cannot open {}: {error}", path.display()),
                    )
                })?)
            }
        })
    }

    /// Writes one line (the line and its newline in one write, so concurrent writers to
    /// the same file do not interleave within a record).
    fn write(&mut self, line: &str) -> std::io::Result<()> {
        let record = format!("{line}\n");
        match self {
            Self::None => Ok(()),
            Self::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(record.as_bytes())?;
                out.flush()
            }
            Self::File(file) => file.write_all(record.as_bytes()),
        }
    }
}

/// Replaces citizens' ids by their keyed HMAC-SHA256, so whoever holds the key can check a
/// given id but the trail alone does not reveal it.
#[derive(Clone)]
pub struct Pseudonymiser {
    keyed: hmac::Hmac<sha2::Sha256>,
}

impl Pseudonymiser {
    /// A pseudonymiser under `key` (at least 32 bytes).
    pub fn new(key: &SecretString) -> Result<Self, ConfigError> {
        let short = || {
            ConfigError::invalid(
                "audit.pseudonym_key",
                format!("the key must hold at least {MIN_PSEUDONYM_KEY_BYTES} bytes"),
            )
        };
        let key = key.expose_secret().as_bytes();
        if key.len() < MIN_PSEUDONYM_KEY_BYTES {
            return Err(short());
        }
        let keyed = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).map_err(|_| short())?;
        Ok(Self { keyed })
    }

    /// The citizen's pseudonym: `hmac-sha256:` and the lowercase hex HMAC-SHA256 of the id.
    pub fn pseudonym(&self, citizen: &str) -> String {
        let mut mac = self.keyed.clone();
        mac.update(citizen.as_bytes());
        format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
    }
}

impl Auditor {
    /// An auditor on `store`'s chain, naming `instance_id` in its records, whose first
    /// record is `start` (the `config.loaded` event). Opens the sink.
    pub fn new(
        store: Arc<dyn Store>,
        settings: &AuditSettings,
        metrics: Metrics,
        instance_id: String,
        start: Entry,
    ) -> Result<Self, ConfigError> {
        let pseudonymiser = match (settings.pseudonymise_citizens, &settings.pseudonym_key) {
            (false, _) => None,
            (true, Some(key)) => Some(Pseudonymiser::new(key)?),
            (true, None) => {
                return Err(ConfigError::invalid(
                    "audit.pseudonym_key",
                    "pseudonymise_citizens needs a pseudonym_key",
                ));
            }
        };
        if settings.store_max_records == 0 || settings.store_retention_secs == 0 {
            return Err(ConfigError::invalid(
                "audit",
                "store_max_records and store_retention_secs must be positive",
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                metrics,
                instance_id,
                pseudonymiser,
                retention: AuditRetention {
                    ttl: Duration::from_secs(settings.store_retention_secs),
                    max_records: settings.store_max_records,
                },
                writer: Mutex::new(Writer {
                    head: None,
                    start: Some(start),
                    sink: Sink::open(&settings.sink)?,
                    recorded_once: HashSet::new(),
                }),
            }),
        })
    }

    /// Records `entry`, after this instance's start record if that is not written yet.
    /// Returns once the store holds it (or held its `once` key already).
    pub async fn record(&self, entry: Entry) -> Result<(), AuditError> {
        let request_id = Some(request_context::current_request_id()).filter(|id| id != "none");
        let mut writer = self.inner.writer.lock().await;
        if let Some(start) = writer.start.clone() {
            self.append(&mut writer, &start, None).await?;
            writer.start = None;
        }
        self.append(&mut writer, &entry, request_id).await
    }

    /// Writes this instance's start record if it is not written yet.
    pub async fn record_start(&self) -> Result<(), AuditError> {
        let mut writer = self.inner.writer.lock().await;
        if let Some(start) = writer.start.clone() {
            self.append(&mut writer, &start, None).await?;
            writer.start = None;
        }
        Ok(())
    }

    /// The trail's head as the store has it now.
    pub async fn head(&self) -> Result<Option<AuditHead>, StoreError> {
        self.inner.store.audit_head().await
    }

    /// Whether this instance knows the record with the `once` key `key` is in the trail.
    pub async fn recorded(&self, key: &str) -> bool {
        self.inner.writer.lock().await.recorded_once.contains(key)
    }

    async fn append(
        &self,
        writer: &mut Writer,
        entry: &Entry,
        request_id: Option<String>,
    ) -> Result<(), AuditError> {
        if entry
            .once
            .as_ref()
            .is_some_and(|key| writer.recorded_once.contains(key))
        {
            return Ok(());
        }
        let result = self.place(writer, entry, request_id).await;
        if let (Ok(_), Some(key)) = (&result, &entry.once) {
            if writer.recorded_once.len() >= REMEMBERED_ONCE_KEYS {
                writer.recorded_once.clear();
            }
            writer.recorded_once.insert(key.clone());
        }
        match &result {
            Ok(Some(line)) => {
                self.inner.metrics.count_audit_record(entry.event.as_str());
                if let Err(error) = writer.sink.write(line) {
                    // The store holds the record (and `audit export` prints it); the sink
                    // missed it.
                    self.inner.metrics.count_audit_failure("sink");
                    tracing::error!(%error, event = entry.event.as_str(), "audit sink write failed");
                }
            }
            Ok(None) => {}
            Err(error) => {
                self.inner.metrics.count_audit_failure("store");
                tracing::error!(%error, event = entry.event.as_str(), "audit record not written");
            }
        }
        result.map(|_| ())
    }

    /// Places `entry` in the chain: the line appended, or `None` when its `once` key was
    /// recorded already.
    async fn place(
        &self,
        writer: &mut Writer,
        entry: &Entry,
        request_id: Option<String>,
    ) -> Result<Option<String>, AuditError> {
        let store = &self.inner.store;
        let mut races = 0;
        loop {
            let head = match writer.head.clone() {
                Some(head) => head,
                None => {
                    let head = store.audit_head().await?;
                    writer.head = Some(head.clone());
                    head
                }
            };
            let sealed = self.seal(entry, head.as_ref(), request_id.clone());
            match self.append_sealed(head.as_ref(), &sealed).await {
                Ok(AuditAppend::Appended) => {
                    writer.head = Some(Some(sealed.head));
                    return Ok(Some(sealed.line));
                }
                Ok(AuditAppend::AlreadyRecorded) => return Ok(None),
                Ok(AuditAppend::HeadMoved(current)) => {
                    writer.head = Some(current);
                    races += 1;
                    if races >= MAX_HEAD_RACES {
                        return Err(AuditError::Contention(races));
                    }
                }
                Err(error) => {
                    writer.head = None;
                    return Err(error.into());
                }
            }
        }
    }

    /// Appends `sealed` after `head`, trying again when the store does not answer: the
    /// append may have been applied with its answer lost, which the repeat recognises (the
    /// head is then this very record).
    async fn append_sealed(
        &self,
        head: Option<&AuditHead>,
        sealed: &SealedRecord,
    ) -> Result<AuditAppend, StoreError> {
        let mut attempt = 1;
        loop {
            match self
                .inner
                .store
                .append_audit(head, sealed, self.inner.retention)
                .await
            {
                Err(StoreError::Unavailable(error)) if attempt < STORE_ATTEMPTS => {
                    tracing::warn!(%error, attempt, "store did not answer an audit append; trying again");
                    tokio::time::sleep(STORE_RETRY_DELAY * attempt).await;
                    attempt += 1;
                }
                Ok(AuditAppend::HeadMoved(Some(current)))
                    if attempt > 1 && current == sealed.head =>
                {
                    return Ok(AuditAppend::Appended);
                }
                Ok(AuditAppend::AlreadyRecorded) if attempt > 1 => {
                    // The once key is this record's own, set by the lost append.
                    return Ok(AuditAppend::Appended);
                }
                other => return other,
            }
        }
    }

    /// `entry` as the record that follows `head`.
    fn seal(
        &self,
        entry: &Entry,
        head: Option<&AuditHead>,
        request_id: Option<String>,
    ) -> SealedRecord {
        let (chain, seq, prev_hash) = match head {
            Some(head) => (head.chain.clone(), head.seq + 1, head.hash.clone()),
            // The chain is named with its first record.
            None => (
                uuid::Uuid::new_v4().simple().to_string(),
                1,
                GENESIS_HASH.to_owned(),
            ),
        };
        let time = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let citizen =
            entry
                .subject
                .citizen
                .as_deref()
                .map(|citizen| match &self.inner.pseudonymiser {
                    Some(pseudonymiser) => pseudonymiser.pseudonym(citizen),
                    None => citizen.to_owned(),
                });
        let mut subject = Map::new();
        for (name, value) in [
            ("transaction_id", entry.subject.transaction_id.clone()),
            ("provider", entry.subject.provider.clone()),
            ("citizen", citizen),
        ] {
            if let Some(value) = value {
                subject.insert(name.to_owned(), Value::String(value));
            }
        }
        let optional = |value: Option<String>| value.map_or(Value::Null, Value::String);
        let members = [
            ("schema", json!(SCHEMA_VERSION)),
            ("chain", json!(chain)),
            ("seq", json!(seq)),
            ("time", json!(time)),
            ("instance", json!(self.inner.instance_id)),
            ("event", json!(entry.event.as_str())),
            ("actor", optional(entry.actor.clone())),
            ("subject", Value::Object(subject)),
            ("outcome", json!(entry.outcome)),
            ("reason", optional(entry.reason.clone())),
            ("request_id", optional(request_id)),
            ("details", Value::Object(entry.details.clone())),
        ];
        let record: Map<String, Value> = members
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        let (line, hash) = seal(record, &prev_hash);
        SealedRecord {
            head: AuditHead { chain, seq, hash },
            line,
            once: entry.once.clone(),
        }
    }
}
