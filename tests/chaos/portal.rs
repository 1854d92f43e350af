//! A portal under chaos: submits signing requests as a real one does. Each request has its
//! own `Idempotency-Key`; a connection error or a 5xx is retried, with the same key and body,
//! on another instance, a bounded number of times. Every transaction the API accepted (202)
//! is remembered with what its citizen was expected to do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kyso_tests::{ECDSA_DER_CITIZEN, RSA_CITIZEN, digest_of, sign_body};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::task::JoinSet;

use crate::cluster::Routes;

/// A citizen who rejects every request.
pub(crate) const REJECTING_CITIZEN: &str = "001099000002";
/// A citizen who never answers.
pub(crate) const SILENT_CITIZEN: &str = "001099000003";

/// The longest a portal keeps retrying one request.
const SUBMIT_PATIENCE: Duration = Duration::from_secs(20);
/// The pause before the first retry, grown by as much before each next one.
const RETRY_PAUSE: Duration = Duration::from_millis(150);
/// Sequence numbers of requests sent to a chosen instance start here (keys stay unique
/// anyway: they carry a random part).
const PINNED_SEQUENCES: usize = 1_000_000;
/// The longest pause between two tries.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// What a citizen does with the requests of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    /// Approves after a short delay.
    Approves,
    /// Rejects after a short delay.
    Rejects,
    /// Never answers: the transaction expires.
    NeverAnswers,
}

impl Kind {
    /// Every kind, in the order requests cycle through them.
    pub(crate) const ALL: [Self; 3] = [Self::Approves, Self::Rejects, Self::NeverAnswers];

    /// The citizen of the `sequence`-th request of this kind (approvals alternate between an
    /// RSA and an ECDSA citizen, so both verifications run).
    fn citizen(self, sequence: usize) -> &'static str {
        match self {
            Self::Approves if sequence.is_multiple_of(2) => RSA_CITIZEN,
            Self::Approves => ECDSA_DER_CITIZEN,
            Self::Rejects => REJECTING_CITIZEN,
            Self::NeverAnswers => SILENT_CITIZEN,
        }
    }

    /// Its name in reports.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Approves => "approves",
            Self::Rejects => "rejects",
            Self::NeverAnswers => "never answers",
        }
    }
}

/// A transaction the API accepted.
#[derive(Debug, Clone)]
pub(crate) struct Accepted {
    /// Its id.
    pub(crate) id: String,
    /// What its citizen does.
    pub(crate) kind: Kind,
    /// When the citizen's time runs out, as the API said.
    pub(crate) expires_at: OffsetDateTime,
    /// The digest to sign (base64): one per portal request.
    pub(crate) digest: String,
    /// The instance that answered 202.
    pub(crate) via: String,
    /// Whether that answer was a replay of an earlier try with the same key.
    pub(crate) replayed: bool,
    /// The tries that failed before (connection errors, 5xx), each as its reason.
    pub(crate) failed_tries: Vec<String>,
}

/// How one request ended for the portal.
#[derive(Debug)]
pub(crate) enum Submission {
    /// 202: a transaction to follow.
    Accepted(Accepted),
    /// A 4xx: the gateway refused the request itself.
    Refused(String),
    /// Every try failed (connection errors or 5xx) within the portal's patience: the reason
    /// of each.
    GaveUp(Vec<String>),
}

/// A portal with a token, spreading its calls over the live instances.
pub(crate) struct Portal {
    /// Its HTTP client.
    pub(crate) http: reqwest::Client,
    /// A token valid at every instance (they share the signing key).
    pub(crate) token: String,
    /// The live instances.
    pub(crate) routes: Routes,
}

impl Portal {
    /// Submits `rate` requests a second for `duration`, cycling through the kinds, and
    /// returns how each ended once all have.
    pub(crate) async fn submit_steadily(
        self: Arc<Self>,
        rate: u32,
        duration: Duration,
    ) -> Vec<Submission> {
        let mut requests = JoinSet::new();
        let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
        let end = Instant::now() + duration;
        let mut sequence = 0;
        while Instant::now() < end {
            ticker.tick().await;
            let kind = Kind::ALL[sequence % Kind::ALL.len()];
            requests.spawn(self.clone().submit(kind, sequence, None));
            sequence += 1;
        }
        requests.join_all().await
    }

    /// `count` requests of `kind` sent first to the instance at `api` (so that it has
    /// transactions to follow when it dies), retried elsewhere like any other.
    pub(crate) async fn submit_to(
        self: Arc<Self>,
        api: &str,
        kind: Kind,
        count: usize,
    ) -> Vec<Submission> {
        let mut requests = JoinSet::new();
        for n in 0..count {
            let sequence = PINNED_SEQUENCES + n;
            requests.spawn(self.clone().submit(kind, sequence, Some(api.to_owned())));
        }
        requests.join_all().await
    }

    /// One request, to `pinned` first if given, else to a random instance; retried with the
    /// same key on the next instances after a connection error or a 5xx.
    async fn submit(
        self: Arc<Self>,
        kind: Kind,
        sequence: usize,
        pinned: Option<String>,
    ) -> Submission {
        let nonce = uuid::Uuid::new_v4();
        let key = format!("chaos-{sequence}-{}", nonce.simple());
        let digest = digest_of(&key);
        let body = sign_body(kind.citizen(sequence / Kind::ALL.len()), &digest);
        // A random instance first (not one tied to the kind), then the next ones.
        let first_route = nonce.as_u128() as usize;
        let give_up_at = Instant::now() + SUBMIT_PATIENCE;
        let mut pause = RETRY_PAUSE;
        let mut failed_tries = Vec::new();
        for attempt in 0.. {
            let route = match (&pinned, attempt) {
                (Some(api), 0) => Some(api.clone()),
                _ => self.routes.pick(first_route + attempt),
            };
            match route {
                None => failed_tries.push("no live instance".to_owned()),
                Some(api) => {
                    let sent = self
                        .http
                        .post(format!("{api}/v1/signatures"))
                        .bearer_auth(&self.token)
                        .header("Idempotency-Key", &key)
                        .json(&body)
                        .send()
                        .await;
                    match sent {
                        Err(_) => failed_tries.push("connection error".to_owned()),
                        Ok(response) => {
                            let status = response.status();
                            let replayed = response.headers().contains_key("idempotent-replayed");
                            let answer: Value = response.json().await.unwrap_or(Value::Null);
                            if status == 202 {
                                let (id, expires_at) = transaction_of(&answer);
                                return Submission::Accepted(Accepted {
                                    id,
                                    kind,
                                    expires_at,
                                    digest,
                                    via: api,
                                    replayed,
                                    failed_tries,
                                });
                            }
                            if !status.is_server_error() {
                                return Submission::Refused(format!("{status}: {answer}"));
                            }
                            let code = answer["error"]["code"].as_str().unwrap_or("no error code");
                            failed_tries.push(format!("{} {code}", status.as_u16()));
                        }
                    }
                }
            }
            if Instant::now() + pause > give_up_at {
                break;
            }
            tokio::time::sleep(pause).await;
            pause = (pause + RETRY_PAUSE).min(MAX_RETRY_PAUSE);
        }
        Submission::GaveUp(failed_tries)
    }
}

/// The id and expiry of the transaction a 202 answer names.
fn transaction_of(answer: &Value) -> (String, OffsetDateTime) {
    let id = answer["transaction_id"].as_str().expect("transaction_id");
    (id.to_owned(), time_of(&answer["expires_at"]))
}

/// A timestamp of the API (RFC 3339).
pub(crate) fn time_of(value: &Value) -> OffsetDateTime {
    value
        .as_str()
        .and_then(|text| {
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
        })
        .unwrap_or_else(|| panic!("not an RFC 3339 timestamp: {value}"))
}
