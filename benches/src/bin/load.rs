//! `kyso-load`: a bounded load harness on loopback, gateway vs CA direct.
//!
//! Starts the VNPT SmartCA simulator and the gateway in this process (both on `127.0.0.1`, free
//! ports), gets a token, then runs four scenarios with `--concurrency` workers each, every one
//! ending after `--requests` requests or `--seconds` seconds, whichever comes first:
//!
//! * (a) `POST {sim}/v1/credentials/get_certificate`: the CA alone;
//! * (b) `GET /v1/certificates`: the gateway in front of the same CA;
//! * (d) `POST {sim}/v1/signatures/sign`: the CA alone;
//! * (c) `POST /v1/signatures` until its `202`: the gateway (certificate look-up, chain check,
//!   submission) in front of the same CA.
//!
//! A round runs a, b, d, c; `--rounds` interleaves several and pools their samples.
//!
//! # The CA's signing, and `--approve`
//!
//! After each `202` of (c) the gateway follows the transaction: it polls the CA's status, and
//! once the citizen has approved, the simulator signs (RSA-2048 takes it about 2.4 ms, on its
//! single worker) and the gateway verifies. So that (c) / (d) compares like with like, each
//! direct sign of (d) is followed the same way: one status poll as long after as the gateway's
//! first poll, from a background task (untimed).
//!
//! * `--approve at-once` (default): the citizens approve at once
//!   (`Behaviour::ApproveAfter(0)`), the first poll comes 10 ms after the submission, so the CA
//!   signs *during* the scenarios, and a long enough run is bound by the CA's signing in both
//!   (c) and (d). A short run is not: (d) can end before its follow-ups, (c) cannot.
//! * `--approve after-scenario`: the citizens wait (`Behaviour::Manual`), the first poll comes
//!   1 s after the submission; the harness approves (c)'s transactions through the simulator's
//!   control handle once the scenario is over. The CA signs outside the timed window, and
//!   (c) / (d) is the gateway's own overhead on the submission path.
//!
//! Either way, after (c) the harness waits, within a bound, until the gateway reports each of
//! its transactions final, and reports how many ended `signed` (all should).
//!
//! Every loop is bounded in count and in time, and only `127.0.0.1` is ever contacted. The exit
//! status is 1 when any request failed or any transaction did not end `signed`, so that a short
//! run (`--requests 20 --concurrency 2`) is a smoke test.

#![allow(clippy::print_stdout)] // the result table is this program's output

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::{Parser, ValueEnum};
use kyso_adapter_core::HashAlgorithm;
use kyso_gateway::http::views::{DocumentInput, SignatureRequest};
use kyso_gateway::sandbox;
use kyso_gateway::startup::Application;
use kyso_sim_vnpt::{
    Behaviour, CitizenSpec, DEFAULT_TRANSACTION_TTL, SignatureScheme, SimConfig, SimControl,
    SimHandle,
};
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::task::JoinSet;

/// Longest a single request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the harness waits for the gateway to follow (c)'s transactions to a final status.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The SP credentials this harness's simulator accepts.
const SP_ID: &str = "kyso-load-sp";
const SP_PASSWORD: &str = "kyso-load-sp-secret";
/// The provider id of the sandbox settings.
const PROVIDER: &str = "vnpt";

/// Gateway vs CA direct on loopback: certificates and signing submissions.
#[derive(Debug, Parser)]
#[command(name = "kyso-load", version)]
struct Args {
    /// Concurrent workers in each scenario.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Measured requests per scenario (and per round).
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    requests: u64,
    /// Time limit of each scenario (and round), in seconds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,
    /// Unmeasured requests before each scenario (connections, allocator, caches).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(0..=1_000))]
    warmup: u64,
    /// Rounds of the four scenarios, interleaved (a b d c a b d c ...); samples are pooled.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=20))]
    rounds: u16,
    /// The gateway's API worker threads (the simulator always has one).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    gateway_workers: u16,
    /// When the simulated citizens approve, and so when the CA signs (see the module docs).
    #[arg(long, value_enum, default_value_t = Approve::AtOnce)]
    approve: Approve,
}

/// When the simulated citizens approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Approve {
    /// At once: the CA signs at the first status poll, during the scenarios.
    AtOnce,
    /// Once the scenario is over, through the simulator's control handle.
    AfterScenario,
}

impl Approve {
    fn behaviour(self) -> Behaviour {
        match self {
            Self::AtOnce => Behaviour::ApproveAfter(Duration::ZERO),
            Self::AfterScenario => Behaviour::Manual,
        }
    }

    /// How long after a submission the first status poll comes, (c)'s and (d)'s; the
    /// gateway's later polls back off (doubling) up to [`Approve::poll_max`].
    fn first_poll(self) -> Duration {
        match self {
            Self::AtOnce => Duration::from_millis(10),
            Self::AfterScenario => Duration::from_secs(1),
        }
    }

    fn poll_max(self) -> Duration {
        match self {
            Self::AtOnce => Duration::from_millis(100),
            Self::AfterScenario => Duration::from_secs(2),
        }
    }
}

/// One kind of request the harness sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// (a) the simulator's get_certificate.
    CaCertificates,
    /// (b) the gateway's `GET /v1/certificates`.
    GatewayCertificates,
    /// (c) the gateway's `POST /v1/signatures`.
    GatewaySign,
    /// (d) the simulator's sign.
    CaSign,
}

impl Scenario {
    /// In the order they run in a round.
    const ROUND: [Self; 4] = [
        Self::CaCertificates,
        Self::GatewayCertificates,
        Self::CaSign,
        Self::GatewaySign,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::CaCertificates => "(a) certificates, CA direct",
            Self::GatewayCertificates => "(b) certificates, gateway + CA",
            Self::GatewaySign => "(c) sign submit, gateway + CA (202)",
            Self::CaSign => "(d) sign submit, CA direct",
        }
    }

    fn expected(self) -> StatusCode {
        match self {
            Self::GatewaySign => StatusCode::ACCEPTED,
            _ => StatusCode::OK,
        }
    }

    fn index(self) -> usize {
        match self {
            Self::CaCertificates => 0,
            Self::GatewayCertificates => 1,
            Self::GatewaySign => 2,
            Self::CaSign => 3,
        }
    }
}

/// What every worker needs.
struct Target {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/sca/sp769`.
    sim_base: String,
    /// `http://127.0.0.1:<port>`.
    api_base: String,
    token: String,
    citizens: Vec<String>,
    /// When (d)'s follow-up status poll comes.
    first_poll: Duration,
    /// (d)'s follow-up polls, awaited after the scenario.
    follow_ups: Mutex<JoinSet<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Target {
    /// Sends request number `n` of `scenario` and reads the whole answer.
    async fn send(&self, scenario: Scenario, n: u64) -> Result<impl AsRef<[u8]> + use<>, String> {
        let citizen = usize::try_from(n).unwrap_or_default() % self.citizens.len().max(1);
        let user_id = self.citizens.get(citizen).map_or("", String::as_str);
        let digest = Sha256::digest(format!("kyso-load {scenario:?} {n}"));
        let transaction_id = uuid::Uuid::new_v4().simple().to_string();
        let request = match scenario {
            Scenario::CaCertificates => self
                .http
                .post(format!("{}/v1/credentials/get_certificate", self.sim_base))
                .json(&json!({
                    "sp_id": SP_ID,
                    "sp_password": SP_PASSWORD,
                    "user_id": user_id,
                    "transaction_id": &transaction_id,
                })),
            Scenario::GatewayCertificates => self
                .http
                // user_ids are digits: nothing to escape.
                .get(format!(
                    "{}/v1/certificates?provider={PROVIDER}&user_id={user_id}",
                    self.api_base
                ))
                .bearer_auth(&self.token),
            Scenario::CaSign => self
                .http
                .post(format!("{}/v1/signatures/sign", self.sim_base))
                .json(&json!({
                    "sp_id": SP_ID,
                    "sp_password": SP_PASSWORD,
                    "user_id": user_id,
                    "transaction_id": &transaction_id,
                    "transaction_desc": "kyso-load",
                    "sign_files": [{
                        "data_to_be_signed": hex::encode(digest),
                        "doc_id": "doc-1",
                        "file_type": "pdf",
                        "sign_type": "hash",
                    }],
                })),
            Scenario::GatewaySign => self
                .http
                .post(format!("{}/v1/signatures", self.api_base))
                .bearer_auth(&self.token)
                .header("Idempotency-Key", &transaction_id)
                .json(&SignatureRequest {
                    provider: PROVIDER.to_owned(),
                    user_id: user_id.to_owned(),
                    certificate_id: None,
                    hash_algorithm: HashAlgorithm::Sha256,
                    documents: vec![DocumentInput {
                        id: "doc-1".to_owned(),
                        name: "kyso-load.pdf".to_owned(),
                        digest: Some(BASE64.encode(digest)),
                        ..DocumentInput::default()
                    }],
                    description: Some("kyso-load".to_owned()),
                }),
        };
        let response = request.send().await.map_err(|error| error.to_string())?;
        let status = response.status();
        let body = response.bytes().await.map_err(|error| error.to_string())?;
        if status != scenario.expected() {
            let body = String::from_utf8_lossy(&body);
            return Err(format!(
                "HTTP {status}: {}",
                body.chars().take(200).collect::<String>()
            ));
        }
        if scenario == Scenario::CaSign {
            self.follow_up(transaction_id);
        }
        Ok(body)
    }

    /// What the gateway's follower does after a submission, for a direct one: one status poll
    /// as long after as the gateway's first. Not timed.
    fn follow_up(&self, transaction_id: String) {
        let (http, delay) = (self.http.clone(), self.first_poll);
        let url = format!(
            "{}/v1/signatures/sign/{transaction_id}/status",
            self.sim_base
        );
        lock(&self.follow_ups).spawn(async move {
            tokio::time::sleep(delay).await;
            if let Ok(response) = http.post(url).json(&json!({})).send().await {
                let _ = response.bytes().await;
            }
        });
    }

    /// Waits for (d)'s follow-ups (each bounded by [`REQUEST_TIMEOUT`]).
    async fn drain_follow_ups(&self) {
        let mut follow_ups = std::mem::take(&mut *lock(&self.follow_ups));
        while follow_ups.join_next().await.is_some() {}
    }

    /// One unmeasured request whose answer is checked in depth, so that the scenario measures
    /// what it claims to. Returns the answer.
    async fn probe(&self, scenario: Scenario) -> anyhow::Result<Value> {
        let body = self
            .send(scenario, u64::MAX)
            .await
            .map_err(|error| anyhow::anyhow!("{}: {error}", scenario.label()))?;
        let body: Value = serde_json::from_slice(body.as_ref())
            .with_context(|| format!("{}: the answer is not JSON", scenario.label()))?;
        let fine = match scenario {
            Scenario::CaCertificates => body["data"]["user_certificates"]
                .as_array()
                .is_some_and(|list| !list.is_empty()),
            Scenario::GatewayCertificates => body["certificates"]
                .as_array()
                .is_some_and(|list| list.iter().any(|c| c["status"] == "valid")),
            Scenario::CaSign => body["message"] == "sig_wait_for_user_confirm",
            Scenario::GatewaySign => {
                body["status"] == "pending" && body["transaction_id"].is_string()
            }
        };
        ensure!(fine, "{}: unexpected answer {body}", scenario.label());
        Ok(body)
    }
}

/// What one run of a scenario produced.
#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    errors: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    first_error: Option<String>,
    /// `transaction_id`s of (c)'s answers.
    transactions: Vec<String>,
}

impl Tally {
    /// Pools `other` into this one (elapsed times add up).
    fn absorb(&mut self, other: Self) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.transactions.extend(other.transactions);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn throughput(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.ok as f64 / seconds
        } else {
            0.0
        }
    }

    /// Nearest-rank percentile, in milliseconds; `latencies` must be sorted.
    fn percentile_ms(&self, percent: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = (percent / 100.0 * self.latencies.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.latencies.len()) - 1;
        self.latencies
            .get(index)
            .map_or(f64::NAN, |latency| latency.as_secs_f64() * 1e3)
    }
}

/// Runs `count` requests of `scenario` (at most) with `concurrency` workers, for `limit` at most
/// (plus one [`REQUEST_TIMEOUT`] for the requests in flight).
async fn run(
    target: &Arc<Target>,
    scenario: Scenario,
    concurrency: u16,
    count: u64,
    limit: Duration,
) -> Tally {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + limit;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (target, next) = (Arc::clone(target), Arc::clone(&next));
        workers.spawn(async move {
            let mut tally = Tally::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count || Instant::now() >= deadline {
                    break;
                }
                let sent = Instant::now();
                match target.send(scenario, n).await {
                    Ok(body) => {
                        tally.latencies.push(sent.elapsed());
                        tally.ok += 1;
                        if scenario == Scenario::GatewaySign
                            && let Some(id) = serde_json::from_slice::<Value>(body.as_ref())
                                .ok()
                                .and_then(|body| body["transaction_id"].as_str().map(str::to_owned))
                        {
                            tally.transactions.push(id);
                        }
                    }
                    Err(error) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert(error);
                    }
                }
            }
            tally
        });
    }
    let mut total = Tally::default();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(tally) => total.absorb(tally),
            Err(error) => {
                total.errors += 1;
                total.first_error.get_or_insert(error.to_string());
            }
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// Adds `n` to the count of `status`.
fn bump(counts: &mut Vec<(String, usize)>, status: String, n: usize) {
    match counts.iter_mut().find(|(known, _)| *known == status) {
        Some((_, total)) => *total += n,
        None => counts.push((status, n)),
    }
}

/// After a scenario, untimed: approves (c)'s transactions when the citizens wait for it, waits
/// (at most [`SETTLE_TIMEOUT`]) until the gateway reports each final, and for (d)'s
/// follow-ups. Returns (c)'s transactions counted by status.
async fn settle(
    target: &Target,
    approve: Option<&SimControl>,
    transactions: &[String],
) -> Vec<(String, usize)> {
    if let Some(control) = approve
        && !transactions.is_empty()
    {
        let (control, ids) = (control.clone(), transactions.to_vec());
        // The simulator signs as it approves: CPU-bound, off the async workers.
        let approved = tokio::task::spawn_blocking(move || {
            for id in ids {
                // A transaction decided already (it cannot be, here) is left as it is.
                let _ = control.approve(&id);
            }
        });
        let _ = approved.await;
    }
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut open: Vec<&String> = transactions.iter().collect();
    let mut counts = Vec::new();
    while !open.is_empty() && Instant::now() < deadline {
        let mut still_open = Vec::new();
        for id in open {
            let status = async {
                let response = target
                    .http
                    .get(format!("{}/v1/signatures/{id}", target.api_base))
                    .bearer_auth(&target.token)
                    .send()
                    .await
                    .ok()?;
                let body: Value = response.json().await.ok()?;
                body["status"].as_str().map(str::to_owned)
            }
            .await;
            match status {
                Some(status) if status != "pending" => bump(&mut counts, status, 1),
                _ => still_open.push(id),
            }
        }
        open = still_open;
        if !open.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    if !open.is_empty() {
        let status = format!("still pending after {} s", SETTLE_TIMEOUT.as_secs());
        bump(&mut counts, status, open.len());
    }
    target.drain_follow_ups().await;
    counts
}

/// Starts the simulator and the gateway (which runs on a spawned task until the process ends).
async fn start(args: &Args) -> anyhow::Result<(SimHandle, Arc<Target>)> {
    let behaviour = args.approve.behaviour();
    let citizen =
        |user_id: &str, name: &str, scheme| CitizenSpec::new(user_id, name, scheme, behaviour);
    // The mix a gateway sees: mostly RSA PKCS#1 v1.5, some ECDSA and PSS.
    let citizens = vec![
        citizen(
            "001099100001",
            "Nguyễn Văn Một",
            SignatureScheme::RsaPkcs1v15,
        ),
        citizen("001099100002", "Trần Thị Hai", SignatureScheme::RsaPkcs1v15),
        citizen("001099100003", "Lê Văn Ba", SignatureScheme::EcdsaDer),
        citizen("001099100004", "Phạm Thị Bốn", SignatureScheme::RsaPss),
    ];
    let user_ids = citizens.iter().map(|c| c.user_id.clone()).collect();
    let sim = kyso_sim_vnpt::spawn(SimConfig {
        sp_id: SP_ID.to_owned(),
        sp_password: SP_PASSWORD.to_owned(),
        citizens,
        transaction_ttl: DEFAULT_TRANSACTION_TTL,
    })
    .await
    .context("starting the VNPT simulator")?;
    ensure!(
        sim.addr().ip().is_loopback(),
        "the simulator is not on loopback"
    );

    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let mut settings = sandbox::settings(&sim, SP_ID, SP_PASSWORD, loopback, loopback)
        .map_err(|error| anyhow::anyhow!("gateway settings: {error}"))?;
    settings.listen.workers = Some(usize::from(args.gateway_workers));
    // The load is one portal signing for a handful of citizens, far beyond what admission
    // limits let through: lift them, this measures the gateway's own cost.
    settings.admission = sandbox::unlimited_admission();
    settings.transactions.poll_initial_ms = u64::try_from(args.approve.first_poll().as_millis())?;
    settings.transactions.poll_max_ms = u64::try_from(args.approve.poll_max().as_millis())?;
    let app = Application::build(settings).context("starting the gateway")?;
    let api = app.api_addr();
    ensure!(api.ip().is_loopback(), "the gateway is not on loopback");
    tokio::spawn(app.run_until_stopped());

    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(usize::from(args.concurrency))
        .build()?;
    let api_base = format!("http://{api}");
    let token = token(&http, &api_base).await?;
    let target = Arc::new(Target {
        http,
        sim_base: sim.base_url(),
        api_base,
        token,
        citizens: user_ids,
        first_poll: args.approve.first_poll(),
        follow_ups: Mutex::new(JoinSet::new()),
    });
    Ok((sim, target))
}

/// A token for the sandbox portal; the gateway may need a moment to accept connections.
async fn token(http: &reqwest::Client, api_base: &str) -> anyhow::Result<String> {
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        sandbox::CLIENT_ID,
        sandbox::CLIENT_SECRET
    );
    let mut last_error = String::new();
    for _ in 0..50 {
        let sent = http
            .post(format!("{api_base}/v1/oauth/token"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == StatusCode::OK => {
                let body: Value = response.json().await?;
                return body["access_token"]
                    .as_str()
                    .map(str::to_owned)
                    .context("no access_token in the token answer");
            }
            Ok(response) => last_error = format!("HTTP {}", response.status()),
            Err(error) => last_error = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("no token from the gateway: {last_error}")
}

fn ratio(gateway: f64, direct: f64) -> String {
    if direct > 0.0 && gateway.is_finite() && direct.is_finite() {
        format!("{:.2}x", gateway / direct)
    } else {
        "-".to_owned()
    }
}

fn report(args: &Args, tallies: &[Tally; 4], settled: &[(String, usize)]) -> String {
    let mut out = String::new();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let _ = writeln!(
        out,
        "kyso-load: {} round(s) x (up to {} requests or {} s) per scenario, concurrency {}, \
         gateway workers {}, {cpus} CPU(s)",
        args.rounds, args.requests, args.seconds, args.concurrency, args.gateway_workers
    );
    let _ = writeln!(
        out,
        "{}",
        match args.approve {
            Approve::AtOnce =>
                "--approve at-once: the CA signs during (c) and (d) (first poll \
                                10 ms after each submission)",
            Approve::AfterScenario =>
                "--approve after-scenario: the CA signs after each \
                                       scenario, untimed",
        }
    );
    let _ = writeln!(
        out,
        "{:<38} {:>6} {:>5} {:>9} {:>8} {:>8} {:>8}",
        "scenario", "ok", "err", "req/s", "p50 ms", "p90 ms", "p99 ms"
    );
    for scenario in Scenario::ROUND {
        let tally = &tallies[scenario.index()];
        let _ = writeln!(
            out,
            "{:<38} {:>6} {:>5} {:>9.1} {:>8.2} {:>8.2} {:>8.2}",
            scenario.label(),
            tally.ok,
            tally.errors,
            tally.throughput(),
            tally.percentile_ms(50.0),
            tally.percentile_ms(90.0),
            tally.percentile_ms(99.0),
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<38} {:>9} {:>8} {:>8} {:>8} {:>13}",
        "gateway / direct", "req/s", "p50", "p90", "p99", "p50 added ms"
    );
    for (label, gateway, direct) in [
        (
            "certificates (b / a)",
            Scenario::GatewayCertificates,
            Scenario::CaCertificates,
        ),
        (
            "sign submit  (c / d)",
            Scenario::GatewaySign,
            Scenario::CaSign,
        ),
    ] {
        let (gateway, direct) = (&tallies[gateway.index()], &tallies[direct.index()]);
        let _ = writeln!(
            out,
            "{label:<38} {:>9} {:>8} {:>8} {:>8} {:>13.2}",
            ratio(gateway.throughput(), direct.throughput()),
            ratio(gateway.percentile_ms(50.0), direct.percentile_ms(50.0)),
            ratio(gateway.percentile_ms(90.0), direct.percentile_ms(90.0)),
            ratio(gateway.percentile_ms(99.0), direct.percentile_ms(99.0)),
            gateway.percentile_ms(50.0) - direct.percentile_ms(50.0),
        );
    }
    let settled = settled
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "\n(c)'s transactions, as the gateway reports them afterwards: {}",
        if settled.is_empty() { "none" } else { &settled }
    );
    for scenario in Scenario::ROUND {
        if let Some(error) = &tallies[scenario.index()].first_error {
            let _ = writeln!(out, "first error of {}: {error}", scenario.label());
        }
    }
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let (sim, target) = start(&args).await?;
    let control = sim.control();
    let approve = (args.approve == Approve::AfterScenario).then_some(&control);

    let mut probed = Vec::new();
    for scenario in Scenario::ROUND {
        let body = target.probe(scenario).await?;
        if let Some(id) = body["transaction_id"].as_str() {
            probed.push(id.to_owned());
        }
    }
    let probe_settled = settle(&target, approve, &probed).await;
    ensure!(
        probe_settled.iter().all(|(status, _)| status == "signed"),
        "the probe transaction did not end signed: {probe_settled:?}"
    );

    let limit = Duration::from_secs(args.seconds);
    let mut tallies: [Tally; 4] = Default::default();
    let mut settled = Vec::new();
    for _ in 0..args.rounds {
        for scenario in Scenario::ROUND {
            if args.warmup > 0 {
                let warm = run(&target, scenario, args.concurrency, args.warmup, limit).await;
                // Followed to the end like the others, not reported.
                settle(&target, approve, &warm.transactions).await;
            }
            let mut tally = run(&target, scenario, args.concurrency, args.requests, limit).await;
            let transactions = std::mem::take(&mut tally.transactions);
            for (status, n) in settle(&target, approve, &transactions).await {
                bump(&mut settled, status, n);
            }
            tallies[scenario.index()].absorb(tally);
        }
    }
    for tally in &mut tallies {
        tally.latencies.sort_unstable();
    }

    print!("{}", report(&args, &tallies, &settled));
    drop(sim);

    let failed = tallies
        .iter()
        .any(|tally| tally.errors > 0 || tally.ok == 0)
        || settled.iter().any(|(status, _)| status != "signed");
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
