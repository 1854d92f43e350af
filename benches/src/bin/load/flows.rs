//! Whole signing transactions at a fixed offered rate (open loop), as a portal runs them: create
//! the transaction (`POST /v1/signatures`), read it (`GET /v1/signatures/{id}`) until it is no
//! longer `pending`, and for a signed PDF fetch the file (`GET` on `documents[0].file.href`).
//!
//! Transactions start on a fixed schedule whatever happens to the earlier ones, each on a task
//! of its own, so a gateway that falls behind builds a backlog that shows in the latencies
//! (counted from when each transaction was due to start) and in the completion rate, instead of
//! slowing the load down. How many may be in flight at once is bounded: past that, a due
//! transaction is not started and counts as an error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinSet;

use crate::latency::Measurement;

/// Longest one whole transaction may take before it counts as an error.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(20);

/// What a portal signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workload {
    /// One SHA-256 digest.
    Digest,
    /// The sample PDF, PAdES B-B, fetched back once signed.
    Pdf,
}

impl Workload {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Digest => "signing flow (digest)",
            Self::Pdf => "documents (PDF, PAdES B-B)",
        }
    }

    /// The request body for `user_id`, serialised once and sent again with a new
    /// `Idempotency-Key` each time (each is a new transaction).
    fn body(self, user_id: &str) -> Result<Bytes, serde_json::Error> {
        let body = match self {
            Self::Digest => kyso_tests::sign_body(user_id, &kyso_tests::digest_of(user_id)),
            Self::Pdf => kyso_tests::file_body(
                user_id,
                kyso_tests::SAMPLE_PDF,
                "pades",
                json!({"level": "B-B"}),
            ),
        };
        serde_json::to_vec(&body).map(Bytes::from)
    }
}

/// A portal's view of the gateway: where it is, its token, and the citizens it signs for.
pub(crate) struct Portal {
    pub(crate) http: reqwest::Client,
    /// `http://127.0.0.1:PORT` of the gateway's API.
    pub(crate) api: String,
    pub(crate) token: String,
    /// One request body per citizen.
    bodies: Vec<Bytes>,
    /// When the portal first reads a new transaction, and how often after that.
    first_read: Duration,
    read_every: Duration,
}

/// The parts of a transaction the portal looks at.
#[derive(Debug, Deserialize)]
struct TransactionView {
    #[serde(default)]
    transaction_id: Option<String>,
    status: String,
    #[serde(default)]
    documents: Vec<DocumentView>,
}

#[derive(Debug, Deserialize)]
struct DocumentView {
    #[serde(default)]
    file: Option<FileLink>,
}

/// A document's `file`: `href` appears once the signed file is made.
#[derive(Debug, Deserialize)]
struct FileLink {
    #[serde(default)]
    href: Option<String>,
}

impl Portal {
    /// A portal signing `workload` for `citizens` in turn; it reads each new transaction after
    /// `first_read`, then every `read_every`.
    pub(crate) fn new(
        http: reqwest::Client,
        api: String,
        token: String,
        workload: Workload,
        citizens: &[String],
        first_read: Duration,
        read_every: Duration,
    ) -> anyhow::Result<Self> {
        let bodies = citizens
            .iter()
            .map(|citizen| workload.body(citizen))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            http,
            api,
            token,
            bodies,
            first_read,
            read_every,
        })
    }

    /// Creates transaction number `n` and returns its id.
    pub(crate) async fn create(&self, n: u64) -> Result<String, String> {
        let index = usize::try_from(n).unwrap_or_default() % self.bodies.len().max(1);
        let body = self.bodies.get(index).ok_or("a portal without citizens")?;
        let response = self
            .http
            .post(format!("{}/v1/signatures", self.api))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", uuid::Uuid::new_v4().simple().to_string())
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await
            .map_err(|error| format!("POST /v1/signatures: {error}"))?;
        let view: TransactionView = read_json(response, StatusCode::ACCEPTED).await?;
        view.transaction_id
            .ok_or_else(|| "POST /v1/signatures: no transaction_id".to_owned())
    }

    /// Reads the transaction until it is no longer pending; returns its status, the href of
    /// its first signed file if any, and how many reads it took.
    async fn read_until_final(&self, id: &str) -> Result<(String, Option<String>, u64), String> {
        tokio::time::sleep(self.first_read).await;
        let mut reads = 0;
        loop {
            let response = self
                .http
                .get(format!("{}/v1/signatures/{id}", self.api))
                .bearer_auth(&self.token)
                .send()
                .await
                .map_err(|error| format!("GET /v1/signatures/{{id}}: {error}"))?;
            let view: TransactionView = read_json(response, StatusCode::OK).await?;
            reads += 1;
            if view.status != "pending" {
                let href = view
                    .documents
                    .into_iter()
                    .find_map(|document| document.file.and_then(|file| file.href));
                return Ok((view.status, href, reads));
            }
            tokio::time::sleep(self.read_every).await;
        }
    }

    /// `GET` on a signed file's href: it must be a PDF.
    async fn fetch_file(&self, href: &str) -> Result<(), String> {
        let response = self
            .http
            .get(format!("{}{href}", self.api))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|error| format!("GET {href}: {error}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| format!("GET {href}: {error}"))?;
        if status != StatusCode::OK || !body.starts_with(b"%PDF") {
            return Err(format!("GET {href}: HTTP {status}, not a PDF"));
        }
        Ok(())
    }

    /// One whole transaction of `workload`: returns how many reads of the transaction it took.
    async fn transaction(&self, workload: Workload, n: u64) -> Result<u64, String> {
        let id = self.create(n).await?;
        let (status, href, reads) = self.read_until_final(&id).await?;
        if status != "signed" {
            return Err(format!("transaction ended {status}"));
        }
        if workload == Workload::Pdf {
            let href = href.ok_or("a signed PDF transaction without a file link")?;
            self.fetch_file(&href).await?;
        }
        Ok(reads)
    }
}

/// Reads a JSON answer that must have status `expected`.
async fn read_json(
    response: reqwest::Response,
    expected: StatusCode,
) -> Result<TransactionView, String> {
    let status = response.status();
    let url = response.url().path().to_owned();
    let body = response
        .bytes()
        .await
        .map_err(|error| format!("{url}: {error}"))?;
    if status != expected {
        let text = String::from_utf8_lossy(&body);
        return Err(format!(
            "{url}: HTTP {status}: {}",
            text.chars().take(200).collect::<String>()
        ));
    }
    serde_json::from_slice(&body).map_err(|error| format!("{url}: {error}"))
}

/// What one run at one offered rate produced.
#[derive(Debug)]
pub(crate) struct FlowRun {
    /// Transactions per second offered.
    pub(crate) offered: f64,
    /// Signed transactions (and their end-to-end latencies) and failures.
    pub(crate) measurement: Measurement,
    /// Reads of `GET /v1/signatures/{id}` by the signed transactions, all together.
    pub(crate) reads: u64,
}

impl FlowRun {
    /// Whether the gateway kept up: nothing failed, and transactions were completed at
    /// least at 95 % of the offered rate (a backlog stretches the run and lowers it).
    pub(crate) fn held(&self) -> bool {
        self.measurement.errors == 0
            && self.measurement.ok > 0
            && self.measurement.throughput() >= 0.95 * self.offered
    }

    pub(crate) fn reads_per_transaction(&self) -> f64 {
        if self.measurement.ok == 0 {
            return f64::NAN;
        }
        self.reads as f64 / self.measurement.ok as f64
    }
}

/// Starts `workload` transactions at `rate` per second for `duration`, with at most
/// `max_in_flight` unfinished at once, and waits for all of them (each within
/// [`TRANSACTION_TIMEOUT`]).
pub(crate) async fn run(
    portal: &Arc<Portal>,
    workload: Workload,
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
) -> FlowRun {
    let total = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate.max(f64::MIN_POSITIVE));
    let start = Instant::now() + Duration::from_millis(20);
    let reads = Arc::new(AtomicU64::new(0));
    let mut measurement = Measurement::default();
    let mut in_flight = JoinSet::new();
    for n in 0..total {
        let intended = start + interval.mul_f64(n as f64);
        tokio::time::sleep_until(intended.into()).await;
        while let Some(outcome) = in_flight.try_join_next() {
            count(outcome, &mut measurement);
        }
        if in_flight.len() >= max_in_flight {
            measurement.fail(format!(
                "{max_in_flight} transactions in flight already: the offered rate is not held"
            ));
            continue;
        }
        let (portal, reads) = (Arc::clone(portal), Arc::clone(&reads));
        in_flight.spawn(async move {
            let outcome =
                tokio::time::timeout(TRANSACTION_TIMEOUT, portal.transaction(workload, n))
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!("not finished within {TRANSACTION_TIMEOUT:?}"))
                    });
            outcome.map(|count| {
                reads.fetch_add(count, Ordering::Relaxed);
                // Measured from when it was due, so that a late start counts too.
                intended.elapsed()
            })
        });
    }
    while let Some(outcome) = in_flight.join_next().await {
        count(outcome, &mut measurement);
    }
    measurement.elapsed = start.elapsed();
    FlowRun {
        offered: rate,
        measurement,
        reads: reads.load(Ordering::Relaxed),
    }
}

/// Counts one finished transaction task: its end-to-end latency, or why it failed.
fn count(
    outcome: Result<Result<Duration, String>, tokio::task::JoinError>,
    measurement: &mut Measurement,
) {
    match outcome {
        Ok(Ok(latency)) => measurement.record(latency),
        Ok(Err(error)) => measurement.fail(error),
        Err(error) => measurement.fail(format!("a transaction task failed: {error}")),
    }
}
