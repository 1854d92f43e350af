//! After the chaos: every accepted transaction is read (through any live instance) until it
//! is final, then compared with what the simulator decided and with its request log.
//!
//! - lost: accepted, then unknown to the gateway (404) or never final;
//! - stuck: pending past its `expires_at` plus a margin (a final transaction whose last
//!   change came that late was pending that long: nobody followed it, and the read that
//!   found it overdue expired it);
//! - duplicated: more than one sign request at the CA for one transaction id, or more than
//!   one transaction at the CA for one portal request (its digest), retries included;
//! - mismatched: a final status other than what the simulator decided (approved → `signed`
//!   with verified signatures, rejected → `rejected`, never answered → `expired`). A
//!   transaction the CA never received (an instance died between recording it and calling
//!   the CA) is counted apart: it must end `failed` with `submission_lost`, or `expired`.
//!
//! While a transaction is past its `expires_at` but not yet past the margin it is not read,
//! since a read expires an overdue transaction and would hide one nobody follows.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_sim_vnpt::{RecordedRequest, SimTransaction, TransactionState};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::task::JoinSet;

use crate::portal::{Accepted, Kind, Portal, time_of};

/// How many transactions are read at once.
const READS_AT_ONCE: usize = 32;
/// The pause between two rounds of reads.
const ROUND_PAUSE: Duration = Duration::from_millis(250);
/// Time given past the last transaction's expiry plus margin before giving up on it.
const FINAL_SLACK: Duration = Duration::from_secs(5);

/// What the gateway last said about a transaction.
#[derive(Debug, Clone)]
pub(crate) enum Reading {
    /// Final, with the transaction as read.
    Final(Value),
    /// 404.
    NotFound,
    /// Still pending (or unreadable) when the wait ended.
    NeverFinal,
}

/// Reads every accepted transaction until it is final, or until the last one is `margin`
/// (plus some slack) past its expiry.
pub(crate) async fn read_until_final(
    portal: &Portal,
    accepted: &[Accepted],
    margin: Duration,
) -> HashMap<String, Reading> {
    let latest_expiry = accepted
        .iter()
        .map(|transaction| transaction.expires_at)
        .max()
        .unwrap_or_else(OffsetDateTime::now_utc);
    let until_latest = latest_expiry - OffsetDateTime::now_utc();
    let deadline = Instant::now()
        + Duration::try_from(until_latest).unwrap_or_default()
        + margin
        + FINAL_SLACK;
    let mut readings = HashMap::new();
    let mut open: Vec<&Accepted> = accepted.iter().collect();
    while !open.is_empty() && Instant::now() < deadline {
        let now = OffsetDateTime::now_utc();
        let readable: Vec<&Accepted> = open
            .iter()
            .copied()
            .filter(|transaction| {
                now < transaction.expires_at || now > transaction.expires_at + margin
            })
            .collect();
        for batch in readable.chunks(READS_AT_ONCE) {
            let mut reads = JoinSet::new();
            for (n, transaction) in batch.iter().enumerate() {
                let Some(api) = portal.routes.pick(n) else {
                    continue;
                };
                let request = portal
                    .http
                    .get(format!("{api}/v1/signatures/{}", transaction.id))
                    .bearer_auth(&portal.token);
                let id = transaction.id.clone();
                reads.spawn(async move { (id, read(request).await) });
            }
            for (id, reading) in reads.join_all().await {
                if let Some(reading) = reading {
                    readings.insert(id, reading);
                }
            }
        }
        open.retain(|transaction| !readings.contains_key(&transaction.id));
        tokio::time::sleep(ROUND_PAUSE).await;
    }
    for transaction in open {
        readings.insert(transaction.id.clone(), Reading::NeverFinal);
    }
    readings
}

/// One read: `None` while pending or when the instance could not answer.
async fn read(request: reqwest::RequestBuilder) -> Option<Reading> {
    let response = request.send().await.ok()?;
    match response.status().as_u16() {
        404 => Some(Reading::NotFound),
        200 => {
            let view: Value = response.json().await.ok()?;
            (view["status"] != "pending").then_some(Reading::Final(view))
        }
        _ => None,
    }
}

/// The verdict on every accepted transaction.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    /// Final states by kind: kind → state (`failed/<code>` for failures) → count.
    pub(crate) final_states: BTreeMap<Kind, BTreeMap<String, usize>>,
    /// Final states of the transactions the CA never received.
    pub(crate) never_at_ca: BTreeMap<String, usize>,
    /// Each lost transaction, described.
    pub(crate) lost: Vec<String>,
    /// Each stuck transaction, described.
    pub(crate) stuck: Vec<String>,
    /// Each transaction asked of the CA more than once, described.
    pub(crate) duplicated: Vec<String>,
    /// Each transaction that ended otherwise than the simulator decided, described.
    pub(crate) mismatched: Vec<String>,
}

impl Verdict {
    /// Whether nothing was lost, stuck, duplicated or mismatched.
    pub(crate) fn is_clean(&self) -> bool {
        self.lost.is_empty()
            && self.stuck.is_empty()
            && self.duplicated.is_empty()
            && self.mismatched.is_empty()
    }
}

/// Compares the gateway's readings with the simulator's transactions and request log.
pub(crate) fn judge(
    accepted: &[Accepted],
    readings: &HashMap<String, Reading>,
    at_ca: &[SimTransaction],
    ca_requests: &[RecordedRequest],
    margin: Duration,
) -> Verdict {
    let mut verdict = Verdict::default();
    let decided: HashMap<&str, TransactionState> = at_ca
        .iter()
        .map(|transaction| (transaction.transaction_id.as_str(), transaction.state))
        .collect();
    // Sign requests by transaction id, and the digest each asked to sign.
    let mut sign_requests: BTreeMap<&str, usize> = BTreeMap::new();
    let mut digest_of_request: HashMap<&str, String> = HashMap::new();
    for request in ca_requests {
        if request.path.ends_with("/v1/signatures/sign")
            && let Some(id) = request.body["transaction_id"].as_str()
        {
            *sign_requests.entry(id).or_default() += 1;
            if let Some(digest) = request.body["sign_files"][0]["data_to_be_signed"].as_str() {
                digest_of_request.insert(id, base64_of_hex(digest));
            }
        }
    }
    for (id, count) in &sign_requests {
        if *count > 1 {
            verdict
                .duplicated
                .push(format!("{id}: {count} sign requests at the CA"));
        }
    }
    // A portal request (one digest) must become at most one request to the citizen, even
    // when the portal retried it.
    let mut prompts_by_digest: HashMap<&str, Vec<&str>> = HashMap::new();
    for transaction in at_ca {
        if let Some(digest) = digest_of_request.get(transaction.transaction_id.as_str()) {
            prompts_by_digest
                .entry(digest)
                .or_default()
                .push(&transaction.transaction_id);
        }
    }
    for transaction in accepted {
        if let Some(prompts) = prompts_by_digest.get(transaction.digest.as_str())
            && prompts.len() > 1
        {
            verdict.duplicated.push(format!(
                "one portal request ({}) became {} transactions at the CA: {prompts:?}",
                transaction.id,
                prompts.len()
            ));
        }
    }
    let now = OffsetDateTime::now_utc();
    for transaction in accepted {
        let id = &transaction.id;
        let overdue_since = transaction.expires_at + margin;
        let view = match readings.get(id).unwrap_or(&Reading::NeverFinal) {
            Reading::Final(view) => view,
            Reading::NotFound => {
                verdict
                    .lost
                    .push(format!("{id}: 404 after it was accepted"));
                continue;
            }
            Reading::NeverFinal => {
                verdict.lost.push(format!("{id}: never final"));
                if now > overdue_since {
                    verdict
                        .stuck
                        .push(format!("{id}: still pending past its expiry plus margin"));
                }
                continue;
            }
        };
        let state = final_state(view);
        let updated_at = time_of(&view["updated_at"]);
        if updated_at > overdue_since {
            verdict.stuck.push(format!(
                "{id}: pending until {updated_at}, expired at {}",
                transaction.expires_at
            ));
        }
        *verdict
            .final_states
            .entry(transaction.kind)
            .or_default()
            .entry(state.clone())
            .or_default() += 1;
        let expected_by_ca = match decided.get(id.as_str()) {
            None => {
                *verdict.never_at_ca.entry(state.clone()).or_default() += 1;
                if !matches!(state.as_str(), "failed/submission_lost" | "expired") {
                    verdict
                        .mismatched
                        .push(format!("{id}: never reached the CA, ended {state}"));
                }
                continue;
            }
            Some(TransactionState::Approved) => "signed",
            Some(TransactionState::Rejected) => "rejected",
            Some(TransactionState::Waiting | TransactionState::Expired) => "expired",
        };
        if state != expected_by_ca {
            verdict.mismatched.push(format!(
                "{id} ({}): the CA says {expected_by_ca}, the gateway {state}",
                transaction.kind.label()
            ));
        } else if state == "signed" && !signatures_verified(view) {
            verdict
                .mismatched
                .push(format!("{id}: signed without verified signatures: {view}"));
        }
    }
    verdict
}

/// A hex digest (as VNPT's wire carries it) in base64 (as the portal sends it).
fn base64_of_hex(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .filter_map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok())
        .collect();
    BASE64.encode(bytes)
}

/// `signed`, `rejected`, ..., or `failed/<error code>`.
fn final_state(view: &Value) -> String {
    let status = view["status"].as_str().unwrap_or("?");
    match view["error"]["code"].as_str() {
        Some(code) if status == "failed" => format!("failed/{code}"),
        _ => status.to_owned(),
    }
}

/// Every document carries a signature the gateway verified.
fn signatures_verified(view: &Value) -> bool {
    view["documents"].as_array().is_some_and(|documents| {
        !documents.is_empty()
            && documents.iter().all(|document| {
                document["signature"]
                    .as_str()
                    .is_some_and(|signature| !signature.is_empty())
                    && document["verification"]["indication"] == "total_passed"
            })
    })
}

/// The chaos run's table.
pub(crate) struct Tally<'a> {
    /// Requests that got a 202.
    pub(crate) accepted: usize,
    /// Requests refused with a 4xx, described.
    pub(crate) refused: &'a [String],
    /// Requests given up on after retries, described.
    pub(crate) gave_up: &'a [String],
    /// Faults by kind.
    pub(crate) faults: &'a BTreeMap<&'static str, usize>,
    /// Lines about how the run went.
    pub(crate) notes: &'a [String],
    /// The verdict.
    pub(crate) verdict: &'a Verdict,
    /// Where the instance logs are.
    pub(crate) logs: &'a std::path::Path,
    /// Wall time of the whole test so far.
    pub(crate) wall: Duration,
}

impl std::fmt::Display for Tally<'_> {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = self.verdict;
        let mut table = String::new();
        writeln!(
            table,
            "\n== chaos: nothing is lost ({:.1} s)",
            self.wall.as_secs_f64()
        )?;
        writeln!(
            table,
            "transactions started (202)                         {:>5}   refused (4xx) {}, gave up after retries {}",
            self.accepted,
            self.refused.len(),
            self.gave_up.len()
        )?;
        writeln!(table, "faults injected")?;
        for (kind, count) in self.faults {
            writeln!(table, "  {kind:<48} {count:>5}")?;
        }
        writeln!(table, "final states by kind")?;
        for (kind, states) in &verdict.final_states {
            let states: Vec<String> = states
                .iter()
                .map(|(state, count)| format!("{state} {count}"))
                .collect();
            writeln!(table, "  {:<48} {}", kind.label(), states.join(", "))?;
        }
        let never_at_ca: Vec<String> = verdict
            .never_at_ca
            .iter()
            .map(|(state, count)| format!("   {state} {count}"))
            .collect();
        writeln!(
            table,
            "never reached the CA (simulator has no record)     {:>5}{}",
            verdict.never_at_ca.values().sum::<usize>(),
            never_at_ca.join(",")
        )?;
        for (name, problems) in [
            ("lost", &verdict.lost),
            ("stuck", &verdict.stuck),
            ("duplicated CA requests", &verdict.duplicated),
            ("mismatched", &verdict.mismatched),
        ] {
            writeln!(table, "{name:<50} {:>5}", problems.len())?;
            for problem in problems.iter().take(20) {
                writeln!(table, "    {problem}")?;
            }
        }
        for (name, problems) in [("refused", self.refused), ("gave up", self.gave_up)] {
            for problem in problems.iter().take(5) {
                writeln!(table, "  {name}: {problem}")?;
            }
        }
        for note in self.notes {
            writeln!(table, "{note}")?;
        }
        writeln!(table, "instance logs: {}", self.logs.display())?;
        out.write_str(&table)
    }
}
