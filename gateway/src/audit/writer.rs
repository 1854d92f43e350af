//! [`Auditor`]: writes records to the store's chain (see the module doc of [`crate::audit`]
//! for the design), then streams them to the configured sink.
//!
//! **Group commit.** Records wait in a queue; one flusher task per instance at a time takes
//! what has queued (up to [`MAX_GROUP_RECORDS`]), seals each onto the one before it and
//! appends them all in one store call, then answers each waiting caller. While a group is in
//! flight the next one gathers, so an instance makes one round trip per group rather than
//! one per record, and appends stay serialised: the instance's sink receives its records in
//! chain order and it rarely races with itself; a race with another instance costs one more
//! round trip with the head the store answered. A caller that goes away does not take its
//! group with it: the flusher is a task of its own.

use std::collections::HashSet;
use std::io::Write as _;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use hmac::{KeyInit as _, Mac as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Mutex, oneshot};

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
/// The most records one append carries (one group).
pub(crate) const MAX_GROUP_RECORDS: usize = 64;
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
    /// Records waiting for the next group.
    queue: std::sync::Mutex<Queue>,
    /// What only the flusher at work touches.
    writer: Mutex<Writer>,
    /// `once` keys this instance knows are in the trail.
    recorded_once: std::sync::Mutex<HashSet<String>>,
}

/// Records waiting to be written, and whether a flusher is at work on them.
#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    flushing: bool,
}

/// A record waiting for its group, and who waits for its outcome.
struct Waiting {
    entry: Entry,
    request_id: Option<String>,
    /// `None` for this instance's start record, which nobody waits for.
    done: Option<oneshot::Sender<Result<(), AuditError>>>,
}

/// What only one append at a time may touch.
struct Writer {
    /// The head as last seen (`None`: not known, read it from the store).
    head: Option<Option<AuditHead>>,
    /// This instance's `config.loaded` record, until it is written: it goes first.
    start: Option<Entry>,
    sink: Sink,
}

/// Frees the queue for another flusher if the one at work ends without doing it itself
/// (its task panicked or its runtime stopped), so records never wait for a flusher that is
/// gone.
struct FlusherOnDuty<'a> {
    queue: &'a std::sync::Mutex<Queue>,
    relieved: bool,
}

impl Drop for FlusherOnDuty<'_> {
    fn drop(&mut self) {
        if !self.relieved {
            lock(self.queue).flushing = false;
        }
    }
}

/// A plain mutex's content, also after a panic elsewhere while it was held (what it guards
/// stays consistent at every step).
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
                queue: std::sync::Mutex::default(),
                writer: Mutex::new(Writer {
                    head: None,
                    start: Some(start),
                    sink: Sink::open(&settings.sink)?,
                }),
                recorded_once: std::sync::Mutex::default(),
            }),
        })
    }

    /// Records `entry`, after this instance's start record if that is not written yet.
    /// Returns once the store holds it (or held its `once` key already).
    pub async fn record(&self, entry: Entry) -> Result<(), AuditError> {
        if self.known_recorded(&entry) {
            return Ok(());
        }
        let request_id = Some(request_context::current_request_id()).filter(|id| id != "none");
        let (done, outcome) = oneshot::channel();
        let start_flusher = {
            let mut queue = lock(&self.inner.queue);
            queue.waiting.push(Waiting {
                entry,
                request_id,
                done: Some(done),
            });
            !std::mem::replace(&mut queue.flushing, true)
        };
        if start_flusher {
            let auditor = self.clone();
            tokio::spawn(async move { auditor.flush().await });
        }
        outcome.await.unwrap_or(Err(AuditError::Interrupted))
    }

    /// Writes this instance's start record if it is not written yet.
    pub async fn record_start(&self) -> Result<(), AuditError> {
        let mut writer = self.inner.writer.lock().await;
        self.write_group(&mut writer, Vec::new()).await
    }

    /// The trail's head as the store has it now.
    pub async fn head(&self) -> Result<Option<AuditHead>, StoreError> {
        self.inner.store.audit_head().await
    }

    /// Whether this instance knows the record with the `once` key `key` is in the trail.
    pub async fn recorded(&self, key: &str) -> bool {
        lock(&self.inner.recorded_once).contains(key)
    }

    fn known_recorded(&self, entry: &Entry) -> bool {
        entry
            .once
            .as_ref()
            .is_some_and(|once| lock(&self.inner.recorded_once).contains(&once.key))
    }

    /// Writes groups of what has queued until the queue is empty.
    async fn flush(&self) {
        let mut on_duty = FlusherOnDuty {
            queue: &self.inner.queue,
            relieved: false,
        };
        let mut writer = self.inner.writer.lock().await;
        loop {
            let group: Vec<Waiting> = {
                let mut queue = lock(&self.inner.queue);
                if queue.waiting.is_empty() {
                    queue.flushing = false;
                    on_duty.relieved = true;
                    return;
                }
                let taken = queue.waiting.len().min(MAX_GROUP_RECORDS);
                queue.waiting.drain(..taken).collect()
            };
            // Each waiting caller gets its own record's outcome; the start record's is
            // theirs too (a group cannot be written without it).
            let _ = self.write_group(&mut writer, group).await;
        }
    }

    /// Writes `group` (after the start record, if that is still to be written) and answers
    /// each of its callers. Returns the start record's outcome (`Ok` when it was written
    /// before).
    async fn write_group(
        &self,
        writer: &mut Writer,
        mut group: Vec<Waiting>,
    ) -> Result<(), AuditError> {
        let start_pending = writer.start.is_some();
        if let Some(start) = writer.start.clone() {
            group.insert(
                0,
                Waiting {
                    entry: start,
                    request_id: None,
                    done: None,
                },
            );
        }
        let outcomes = self.place(writer, &group).await;
        let mut start_outcome = Ok(());
        for (index, (waiting, outcome)) in group.into_iter().zip(outcomes).enumerate() {
            let outcome = self.account(writer, &waiting.entry, outcome);
            if start_pending && index == 0 {
                if outcome.is_ok() {
                    writer.start = None;
                }
                start_outcome = outcome.clone();
            }
            if let Some(done) = waiting.done {
                // A caller that went away does not need its answer.
                let _ = done.send(outcome);
            }
        }
        start_outcome
    }

    /// After `entry` was placed (`Some(line)`: appended; `None`: its `once` key was
    /// recorded already): remembers its `once` key, streams it to the sink, counts it.
    fn account(
        &self,
        writer: &mut Writer,
        entry: &Entry,
        placed: Result<Option<String>, AuditError>,
    ) -> Result<(), AuditError> {
        if let (Ok(_), Some(once)) = (&placed, &entry.once) {
            let mut recorded_once = lock(&self.inner.recorded_once);
            if recorded_once.len() >= REMEMBERED_ONCE_KEYS {
                recorded_once.clear();
            }
            recorded_once.insert(once.key.clone());
        }
        match &placed {
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
        placed.map(|_| ())
    }

    /// Places `group` in the chain, in order: for each record, the line appended, or `None`
    /// when its `once` key was recorded already. Once one fails, those after it fail too
    /// (the chain has no gaps).
    async fn place(
        &self,
        writer: &mut Writer,
        group: &[Waiting],
    ) -> Vec<Result<Option<String>, AuditError>> {
        let mut placed: Vec<Result<Option<String>, AuditError>> = Vec::with_capacity(group.len());
        let mut races = 0;
        while placed.len() < group.len() {
            let rest = &group[placed.len()..];
            if self.known_recorded(&rest[0].entry) {
                placed.push(Ok(None));
                continue;
            }
            let head = match writer.head.clone() {
                Some(head) => head,
                None => match self.inner.store.audit_head().await {
                    Ok(head) => {
                        writer.head = Some(head.clone());
                        head
                    }
                    Err(error) => {
                        let failed = AuditError::from(error);
                        placed.extend(rest.iter().map(|_| Err(failed.clone())));
                        break;
                    }
                },
            };
            // The run sealed together ends before a record known to be in the trail.
            let mut sealed: Vec<SealedRecord> = Vec::with_capacity(rest.len());
            for waiting in rest {
                if self.known_recorded(&waiting.entry) {
                    break;
                }
                let after = sealed.last().map(|record| &record.head).or(head.as_ref());
                sealed.push(self.seal(&waiting.entry, after, waiting.request_id.clone()));
            }
            let appended =
                |sealed: Vec<SealedRecord>| sealed.into_iter().map(|record| Ok(Some(record.line)));
            match self.append_sealed(head.as_ref(), &sealed).await {
                Ok(AuditAppend::Appended) => {
                    writer.head = Some(sealed.last().map(|record| record.head.clone()));
                    placed.extend(appended(sealed));
                }
                Ok(AuditAppend::AlreadyRecorded { appended: count }) => {
                    if let Some(last) = count.checked_sub(1).and_then(|last| sealed.get(last)) {
                        writer.head = Some(Some(last.head.clone()));
                    }
                    sealed.truncate(count);
                    placed.extend(appended(sealed));
                    placed.push(Ok(None));
                }
                Ok(AuditAppend::HeadMoved(current)) => {
                    // The head may be one of these very records: an earlier try of this
                    // append was applied and its answer lost.
                    let ours = sealed
                        .iter()
                        .position(|record| current.as_ref() == Some(&record.head));
                    writer.head = Some(current);
                    if let Some(last) = ours {
                        sealed.truncate(last + 1);
                        placed.extend(appended(sealed));
                    } else {
                        races += 1;
                        if races >= MAX_HEAD_RACES {
                            let failed = AuditError::Contention(races);
                            placed.extend(rest.iter().map(|_| Err(failed.clone())));
                        }
                    }
                }
                Err(error) => {
                    writer.head = None;
                    let failed = AuditError::from(error);
                    placed.extend(rest.iter().map(|_| Err(failed.clone())));
                }
            }
        }
        placed
    }

    /// Appends `sealed` after `head` in one store call, trying again when the store does not
    /// answer (the append may have been applied with its answer lost: the head is then one
    /// of these records, which [`Self::place`] recognises).
    async fn append_sealed(
        &self,
        head: Option<&AuditHead>,
        sealed: &[SealedRecord],
    ) -> Result<AuditAppend, StoreError> {
        let started = Instant::now();
        let mut attempt = 1;
        let outcome = loop {
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
                other => break other,
            }
        };
        self.inner
            .metrics
            .observe_audit_append(sealed.len(), started.elapsed());
        outcome
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
