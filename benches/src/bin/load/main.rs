//! `kyso-load`: the gateway under load on loopback, beside two baselines run side by side on
//! the same simulated CA: the simulator called directly, and nginx `proxy_pass` in front of it.
//!
//! A run starts every process on free loopback ports (see [`stack`]): the VNPT SmartCA
//! simulator (with `--sim-workers` server threads and P-256 citizens, so it is not the
//! ceiling), nginx, Redis, and the `kyso-gateway` program as its own processes. Then:
//!
//! 1. certificate lookup, closed loop, at each of `--concurrency` (1, 8, 32, 128), on the three
//!    paths in turn: the most each carries, and the simulator's own ceiling (the direct path's
//!    best) beside the gateway's;
//! 2. certificate lookup, open loop, at `--rate` (1,000 req/s) on the three paths: the latency
//!    the gateway adds over direct, queueing included, and where it goes (the gateway's own
//!    histograms);
//! 3. the signing flow at `--flow-rate` tx/s (open loop), with the memory store and with Redis,
//!    and the documents flow (a PDF, PAdES B-B, fetched back) with Redis; when a rate is not
//!    held, a little less is offered next, up to `--flow-steps` runs; the gateway's resident
//!    set size throughout; with Redis, what each transaction cost it (commands, CPU, network:
//!    see [`redis_cost`]);
//! 4. Redis memory per pending transaction (`MEMORY USAGE` of every key);
//! 5. the audit trail's one chain on one Redis (see [`audit_chain`]): records a second with
//!    each of `--audit-writers`, and what each cost Redis.
//!
//! The report (see [`report`]) is printed, and a full run writes it to `benches/RESULTS.md`.
//! `--smoke` runs every path and workload once with tiny counts, writes nothing, and exits
//! with status 1 if any request or transaction failed: a check for CI, not a measurement.
//! `--only redis-memory` runs part 4 alone (seconds) and prints its table, writing nothing;
//! `--only redis-flow` does the same with the signing flow with Redis.
//!
//! Only `127.0.0.1` is contacted; every loop is bounded in count and in time.

#![allow(clippy::print_stdout)] // the report is this program's output

mod audit_chain;
mod breakdown;
mod flows;
mod http_load;
mod latency;
mod redis_cost;
mod redis_memory;
mod report;
mod stack;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use bytes::Bytes;
use clap::Parser;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, StatusCode};
use kyso_tests::redis_server::RedisServer;
use serde_json::{Value, json};

use crate::audit_chain::AuditRun;
use crate::breakdown::Timings;
use crate::flows::{Portal, Workload};
use crate::http_load::{Endpoint, RequestTemplate};
use crate::latency::Measurement;
use crate::redis_memory::{PerTransaction, Snapshot};
use crate::report::{FlowResult, FlowStep, Machine, OpenLoop, Results, Route, SweepPoint};
use crate::stack::{
    Gateway, GatewayOptions, Nginx, PROVIDER, SP_ID, SP_PASSWORD, Simulator, StoreChoice,
};

/// The gateway's CA polling in the flows: a first poll soon after the submission (the citizens
/// approve at once), backing off to a short cap.
const FLOW_POLL_INITIAL_MS: u64 = 5;
const FLOW_POLL_MAX_MS: u64 = 50;
/// When the portal first reads a new transaction, and how often after that.
const PORTAL_FIRST_READ: Duration = Duration::from_millis(10);
const PORTAL_READ_EVERY: Duration = Duration::from_millis(10);
/// Pause between two runs, so that one's stragglers do not land in the next.
const SETTLE: Duration = Duration::from_secs(1);

/// The gateway beside the CA simulator direct and nginx in front of it, on loopback.
#[derive(Debug, Parser)]
#[command(name = "kyso-load", version)]
struct Args {
    /// A short check of every path and workload (CI): tiny counts, nothing written, status 1
    /// on any failed request.
    #[arg(long)]
    smoke: bool,
    /// Where a full run writes its report.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/RESULTS.md"))]
    results: PathBuf,
    /// The `kyso-gateway` program (default: beside this one, same profile).
    #[arg(long)]
    gateway_bin: Option<PathBuf>,
    /// The gateway's API worker threads (default: the gateway's own, one per core); nginx
    /// gets as many worker processes.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    gateway_workers: Option<u16>,
    /// The simulator's server threads (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    sim_workers: Option<u16>,
    /// Concurrencies of the closed-loop sweep.
    #[arg(long, value_delimiter = ',', default_values_t = [1_usize, 8, 32, 128])]
    concurrency: Vec<usize>,
    /// Seconds measured at each point of the sweep (after one second of warm-up).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=120))]
    sweep_seconds: u64,
    /// Requests per second of the open-loop lookup runs.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Seconds of each open-loop lookup run.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=120))]
    rate_seconds: u64,
    /// Connections of the open-loop lookup runs.
    #[arg(long, default_value_t = 32)]
    rate_connections: usize,
    /// Transactions per second first offered in each flow.
    #[arg(long, default_value_t = 1000.0)]
    flow_rate: f64,
    /// Seconds of each flow run.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=120))]
    flow_seconds: u64,
    /// Most runs of each flow (each, when the rate is not held, offering a little less).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=10))]
    flow_steps: u16,
    /// Pending transactions created to measure their Redis memory.
    #[arg(long, default_value_t = 2000)]
    pending: u64,
    /// Tasks recording audit records at once, one run for each, on the audit trail's chain.
    #[arg(long, value_delimiter = ',', default_values_t = [1_usize, 16])]
    audit_writers: Vec<usize>,
    /// Seconds of each audit run.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=120))]
    audit_seconds: u64,
    /// Runs one part only, prints its report and writes nothing: `redis-memory` (part 4, a
    /// few seconds) or `redis-flow` (the signing flow with Redis of part 3, to compare two
    /// builds of the gateway run after run).
    #[arg(long, value_enum)]
    only: Option<Part>,
    /// The gateway's `RUST_LOG`. The default logs its start and warnings, not every request
    /// (nginx's access log is off too); `info` adds a log line per request, as production
    /// logs.
    #[arg(long, default_value = "warn,kyso_gateway::cli=info")]
    gateway_log: String,
}

/// A part of the run that `--only` runs alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    /// 4: Redis memory per pending transaction.
    RedisMemory,
    /// 3, its first flow only: the signing flow (digest) with Redis.
    RedisFlow,
}

impl Args {
    /// The smoke run's tiny counts.
    fn smoke_sized(mut self) -> Self {
        self.concurrency = vec![1, 2];
        self.sweep_seconds = 1;
        self.rate = 50.0;
        self.rate_seconds = 1;
        self.rate_connections = 4;
        self.flow_rate = 20.0;
        self.flow_seconds = 1;
        self.flow_steps = 1;
        self.pending = 5;
        self.audit_writers = vec![1, 4];
        self.audit_seconds = 1;
        self
    }

    /// Requests at each sweep point: bounded by time in a full run, by count in a smoke run.
    fn sweep_requests(&self) -> u64 {
        if self.smoke { 20 } else { u64::MAX }
    }

    /// Audit records of each audit run: bounded by time in a full run, by count in a smoke
    /// run.
    fn audit_records(&self) -> u64 {
        if self.smoke { 20 } else { u64::MAX }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let mut args = Args::parse();
    if args.smoke {
        args = args.smoke_sized();
    }
    stack::ensure_installed(&[
        ("nginx", "nginx"),
        ("redis-server", "redis-server"),
        ("redis-cli", "redis-tools"),
    ])?;
    let machine = Machine::observe();
    let program = stack::gateway_program(args.gateway_bin.clone());
    let sim_workers = args.sim_workers.map_or_else(cores, usize::from);
    let gateway_workers = args.gateway_workers.map(usize::from);
    let proxy_workers = gateway_workers.unwrap_or_else(cores);

    let sim = Simulator::start(sim_workers).await?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(4096)
        .build()?;
    let simulator_setup = format!(
        "simulator | VNPT SmartCA simulator in the harness's process, {sim_workers} server \
         thread(s), P-256 citizens approving at once, an RSA-2048 one who never answers"
    );
    let gateway_setup = |polling: &str| {
        format!(
            "gateway | `{}` as its own process, {} API thread(s), RUST_LOG={}, CA polling \
             {polling}",
            program.display(),
            gateway_workers
                .map_or_else(|| format!("{} (one per core)", cores()), |w| w.to_string()),
            args.gateway_log
        )
    };
    let options = |store| GatewayOptions {
        store,
        workers: gateway_workers,
        polling: Some((FLOW_POLL_INITIAL_MS, FLOW_POLL_MAX_MS)),
        log_filter: args.gateway_log.clone(),
    };
    let flow_duration = Duration::from_secs(args.flow_seconds);
    let portal = |gateway: &Gateway, token: &str, workload| {
        Portal::new(
            http.clone(),
            gateway.api().to_owned(),
            token.to_owned(),
            workload,
            &sim.approving,
            PORTAL_FIRST_READ,
            PORTAL_READ_EVERY,
        )
        .map(Arc::new)
    };
    // The signing flow with Redis; the gateway and its Redis are given back for more.
    let redis_flow = || async {
        let redis = RedisServer::start();
        let gateway = Gateway::start(
            &program,
            &sim,
            options(StoreChoice::Redis(redis.url())),
            "gw-redis",
        )
        .await?;
        let token = kyso_tests::token_from(&http, gateway.api(), None).await;
        let redis_portal = portal(&gateway, &token, Workload::Digest)?;
        let flow = flow_steps(
            &args,
            &redis_portal,
            Workload::Digest,
            &gateway,
            flow_duration,
        )
        .await?;
        anyhow::Ok((redis, gateway, token, flow))
    };
    if let Some(part) = args.only {
        let mut results = Results::new(
            machine,
            vec![simulator_setup, gateway_setup("the production default")],
        );
        match part {
            Part::RedisMemory => {
                results.redis_memory =
                    Some(redis_memory(&args, &program, &sim, &http, gateway_workers).await?);
            }
            Part::RedisFlow => results.flows.push(redis_flow().await?.3),
        }
        results.machine.load_after = report::load_average();
        print!("{}", results.render());
        return Ok(ExitCode::SUCCESS);
    }
    let nginx = Nginx::start(sim.addr(), proxy_workers)?;
    let gateway = Gateway::start(&program, &sim, options(StoreChoice::Memory), "gw-memory").await?;
    let token = kyso_tests::token_from(&http, gateway.api(), None).await;

    let mut results = Results::new(
        machine,
        vec![
            simulator_setup,
            format!(
                "nginx | {} worker process(es) (as many as the gateway's threads), upstream \
                 keepalive, HTTP/1.1, access log off",
                nginx.workers
            ),
            gateway_setup(&format!(
                "{FLOW_POLL_INITIAL_MS} ms doubling to {FLOW_POLL_MAX_MS} ms (part 4: the \
                 production default)"
            )),
            format!(
                "portal | reads a new transaction {} ms after creating it, then every {} ms",
                PORTAL_FIRST_READ.as_millis(),
                PORTAL_READ_EVERY.as_millis()
            ),
        ],
    );

    // 1 and 2: certificate lookups on the three paths.
    let endpoints = lookup_endpoints(&sim, &nginx, &gateway, &token)?;
    probe_lookups(&http, &sim, &nginx, &gateway, &token).await?;
    let proxies = [
        (Route::Nginx, nginx.pid()),
        (Route::Gateway, gateway.process.pid()),
    ];
    sweep(&args, &endpoints, &proxies, &http, &gateway, &mut results).await?;
    open_loop(&args, &endpoints, &http, &gateway, &mut results).await?;

    // 3: the flows, with the memory store (this gateway) and with Redis.
    let memory_portal = portal(&gateway, &token, Workload::Digest)?;
    results.flows.push(
        flow_steps(
            &args,
            &memory_portal,
            Workload::Digest,
            &gateway,
            flow_duration,
        )
        .await?,
    );
    drop(gateway);

    let (redis, gateway, token, redis_flow) = redis_flow().await?;
    results.flows.push(redis_flow);
    let pdf_portal = portal(&gateway, &token, Workload::Pdf)?;
    results
        .flows
        .push(flow_steps(&args, &pdf_portal, Workload::Pdf, &gateway, flow_duration).await?);
    drop(gateway);
    drop(redis);

    // 4: Redis memory per pending transaction, on a Redis and a gateway of their own.
    results.redis_memory = Some(redis_memory(&args, &program, &sim, &http, gateway_workers).await?);
    drop(nginx);

    // 5: the audit trail's one chain, on a Redis of its own for each run.
    results.audit_chain = audit_chain(&args).await?;

    results.machine.load_after = report::load_average();
    let text = results.render();
    print!("{text}");
    let failures = results.failures();
    if args.smoke {
        for failure in &failures {
            eprintln!("kyso-load --smoke: {failure}");
        }
        return Ok(if failures.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    std::fs::write(&args.results, &text)
        .with_context(|| format!("writing {}", args.results.display()))?;
    eprintln!("kyso-load: written to {}", args.results.display());
    Ok(ExitCode::SUCCESS)
}

/// The certificate lookup of each path, one request per approving citizen.
fn lookup_endpoints(
    sim: &Simulator,
    nginx: &Nginx,
    gateway: &Gateway,
    token: &str,
) -> anyhow::Result<Vec<(Route, Arc<Endpoint>)>> {
    let path = sim
        .handle
        .base_url()
        .split_once("/sca/")
        .map(|(_, path)| format!("/sca/{path}/v1/credentials/get_certificate"))
        .context("the simulator's base URL")?;
    let json = HeaderValue::from_static("application/json");
    let direct_requests = sim
        .approving
        .iter()
        .map(|user_id| {
            let body = serde_json::to_vec(&json!({
                "sp_id": SP_ID,
                "sp_password": SP_PASSWORD,
                "user_id": user_id,
                "transaction_id": format!("kyso-load-{user_id}"),
            }))?;
            Ok(RequestTemplate {
                method: Method::POST,
                target: path.clone(),
                headers: vec![(CONTENT_TYPE, json.clone())],
                body: Bytes::from(body),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))?;
    let gateway_requests = sim
        .approving
        .iter()
        .map(|user_id| RequestTemplate {
            method: Method::GET,
            // user_ids are digits: nothing to escape.
            target: format!("/v1/certificates?provider={PROVIDER}&user_id={user_id}"),
            headers: vec![(AUTHORIZATION, bearer.clone())],
            body: Bytes::new(),
        })
        .collect();
    let endpoint = |addr, requests| {
        Arc::new(Endpoint {
            addr,
            requests,
            expected: StatusCode::OK,
        })
    };
    Ok(vec![
        (Route::Direct, endpoint(sim.addr(), direct_requests.clone())),
        (Route::Nginx, endpoint(nginx.addr, direct_requests)),
        (
            Route::Gateway,
            endpoint(gateway.api_addr()?, gateway_requests),
        ),
    ])
}

/// One lookup on each path, its answer checked in depth, so that the load measures what it
/// claims to.
async fn probe_lookups(
    http: &reqwest::Client,
    sim: &Simulator,
    nginx: &Nginx,
    gateway: &Gateway,
    token: &str,
) -> anyhow::Result<()> {
    let user_id = sim.approving.first().context("no citizen")?;
    let body = json!({
        "sp_id": SP_ID, "sp_password": SP_PASSWORD, "user_id": user_id,
        "transaction_id": "kyso-load-probe",
    });
    let sim_path = sim.handle.base_url();
    let nginx_url = sim_path.replacen(&sim.addr().to_string(), &nginx.addr.to_string(), 1);
    for url in [sim_path, nginx_url] {
        let answer: Value = http
            .post(format!("{url}/v1/credentials/get_certificate"))
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        ensure!(
            answer["data"]["user_certificates"]
                .as_array()
                .is_some_and(|list| !list.is_empty()),
            "{url}: unexpected lookup answer {answer}"
        );
    }
    let answer: Value = http
        .get(format!(
            "{}/v1/certificates?provider={PROVIDER}&user_id={user_id}",
            gateway.api()
        ))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        answer["certificates"]
            .as_array()
            .is_some_and(|list| list.iter().any(|c| c["status"] == "valid")),
        "the gateway's lookup answered {answer}"
    );
    Ok(())
}

/// 1: the closed-loop sweep, the three paths in turn at each concurrency, with the CPU time
/// each proxy spends per request, and the gateway's own timings at its best point.
async fn sweep(
    args: &Args,
    endpoints: &[(Route, Arc<Endpoint>)],
    proxies: &[(Route, u32)],
    http: &reqwest::Client,
    gateway: &Gateway,
    results: &mut Results,
) -> anyhow::Result<()> {
    let warmup = Duration::from_secs(if args.smoke { 0 } else { 1 });
    let measured = Duration::from_secs(args.sweep_seconds);
    let mut best_gateway = 0.0;
    for &concurrency in &args.concurrency {
        for (route, endpoint) in endpoints {
            if !warmup.is_zero() {
                http_load::closed_loop(endpoint, concurrency, warmup, u64::MAX).await;
            }
            let proxy = proxies
                .iter()
                .find(|(r, _)| r == route)
                .map(|(_, pid)| *pid);
            let cpu_before = proxy.and_then(stack::cpu_seconds);
            let timings_before = if *route == Route::Gateway {
                Some(scrape(http, gateway).await?)
            } else {
                None
            };
            let measurement =
                http_load::closed_loop(endpoint, concurrency, measured, args.sweep_requests())
                    .await;
            let cpu_after = proxy.and_then(stack::cpu_seconds);
            let proxy_cpu_us = match (cpu_before, cpu_after) {
                (Some(before), Some(after)) if measurement.ok > 0 => {
                    Some((after - before) * 1e6 / measurement.ok as f64)
                }
                _ => None,
            };
            if let Some(before) = timings_before
                && measurement.throughput() > best_gateway
            {
                best_gateway = measurement.throughput();
                results.saturated_breakdown =
                    Some((concurrency, scrape(http, gateway).await?.since(&before)));
            }
            eprintln!(
                "kyso-load: lookup, {} at concurrency {concurrency}: {:.0} req/s, p50 {:.2} ms, \
                 {} errors",
                route.label(),
                measurement.throughput(),
                measurement.percentile_ms(50.0),
                measurement.errors
            );
            results.sweep.push(SweepPoint {
                concurrency,
                route: *route,
                measurement,
                proxy_cpu_us,
            });
        }
    }
    Ok(())
}

/// 2: the open-loop lookups at `--rate`, with the gateway's own timings during its run.
async fn open_loop(
    args: &Args,
    endpoints: &[(Route, Arc<Endpoint>)],
    http: &reqwest::Client,
    gateway: &Gateway,
    results: &mut Results,
) -> anyhow::Result<()> {
    let duration = Duration::from_secs(args.rate_seconds);
    let mut open = OpenLoop {
        rate: args.rate,
        connections: args.rate_connections,
        by_route: Vec::new(),
    };
    for (route, endpoint) in endpoints {
        if !args.smoke {
            // Warm-up at the same rate, not measured.
            http_load::open_loop(endpoint, args.rate, args.rate_connections, SETTLE).await;
        }
        let before = (*route == Route::Gateway).then(|| scrape(http, gateway));
        let before = match before {
            Some(scraping) => Some(scraping.await?),
            None => None,
        };
        let measurement =
            http_load::open_loop(endpoint, args.rate, args.rate_connections, duration).await;
        if let Some(before) = before {
            results.lookup_breakdown = scrape(http, gateway).await?.since(&before);
        }
        eprintln!(
            "kyso-load: lookup, {} at {:.0} req/s: p50 {:.2} ms, p99 {:.2} ms, {} errors",
            route.label(),
            args.rate,
            measurement.percentile_ms(50.0),
            measurement.percentile_ms(99.0),
            measurement.errors
        );
        open.by_route.push((*route, measurement));
    }
    results.open_loop = Some(open);
    Ok(())
}

/// The gateway's `/metrics`, read as timings.
async fn scrape(http: &reqwest::Client, gateway: &Gateway) -> anyhow::Result<Timings> {
    let text = http
        .get(format!("{}/metrics", gateway.process.admin))
        .send()
        .await?
        .text()
        .await?;
    Ok(Timings::parse(&text))
}

/// 3: one workload at `--flow-rate`, then, while a rate is not held, at a little less than
/// what was completed; the gateway's resident set size sampled throughout, its own timings
/// read before and after each run.
async fn flow_steps(
    args: &Args,
    portal: &Arc<Portal>,
    workload: Workload,
    gateway: &Gateway,
    duration: Duration,
) -> anyhow::Result<FlowResult> {
    let mut runs: Vec<FlowStep> = Vec::new();
    let mut rate = args.flow_rate;
    for _ in 0..args.flow_steps {
        // Enough in flight for several seconds of backlog; past that the rate is plainly not
        // held.
        let max_in_flight = (rate * 5.0).max(64.0) as usize;
        let before = scrape(&portal.http, gateway).await?;
        let work = sampling_rss(
            gateway.process.pid(),
            flows::run(portal, workload, rate, duration, max_in_flight),
        );
        let ((run, rss_peak), redis_cost) = match &gateway.options.store {
            StoreChoice::Redis(url) => {
                let ((run, rss_peak), cost) = redis_cost::measure(url, async {
                    let (run, rss_peak) = work.await;
                    let signed = run.measurement.ok;
                    ((run, rss_peak), signed)
                })
                .await?;
                ((run, rss_peak), Some(cost))
            }
            StoreChoice::Memory => (work.await, None),
        };
        eprintln!(
            "kyso-load: {}, {} store, offered {rate:.0} tx/s: {:.0} tx/s completed, p50 {:.1} \
             ms, p99 {:.1} ms, {} errors",
            workload.label(),
            gateway.options.store.label(),
            run.measurement.throughput(),
            run.measurement.percentile_ms(50.0),
            run.measurement.percentile_ms(99.0),
            run.measurement.errors
        );
        let held = run.held();
        let next = (run.measurement.throughput() * 0.9 / 50.0).floor() * 50.0;
        let timings = scrape(&portal.http, gateway).await?.since(&before);
        if let Some(cost) = &redis_cost {
            eprintln!(
                "kyso-load: Redis per transaction: {:.1} commands ({:.1} scripts), {:.0} µs CPU",
                cost.total_calls(),
                cost.script_calls(),
                cost.cpu_us
            );
        }
        runs.push(FlowStep {
            run,
            rss_peak,
            timings,
            redis_cost,
        });
        if held {
            break;
        }
        rate = if next >= 50.0 && next < rate {
            next
        } else {
            rate / 2.0
        };
        tokio::time::sleep(SETTLE).await;
    }
    Ok(FlowResult {
        workload,
        store: gateway.options.store.label(),
        runs,
        rss_end: gateway.rss_bytes(),
    })
}

/// Runs `work` while sampling the resident set size of process `pid` every 100 ms; returns
/// its output and the peak.
async fn sampling_rss<T>(pid: u32, work: impl Future<Output = T>) -> (T, Option<u64>) {
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, peak) = (Arc::clone(&done), Arc::clone(&peak));
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Some(rss) = stack::resident_bytes(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let output = work.await;
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    if let Some(rss) = stack::resident_bytes(pid) {
        peak.fetch_max(rss, Ordering::Relaxed);
    }
    let peak = peak.load(Ordering::Relaxed);
    (output, (peak > 0).then_some(peak))
}

/// 4: `--pending` transactions for the citizen who never answers, on a fresh Redis and
/// gateway (production polling, so following them costs little), and what they added to Redis.
async fn redis_memory(
    args: &Args,
    program: &std::path::Path,
    sim: &Simulator,
    http: &reqwest::Client,
    workers: Option<usize>,
) -> anyhow::Result<PerTransaction> {
    let redis = RedisServer::start();
    let gateway = Gateway::start(
        program,
        sim,
        GatewayOptions {
            store: StoreChoice::Redis(redis.url()),
            workers,
            polling: None,
            log_filter: args.gateway_log.clone(),
        },
        "gw-redis-memory",
    )
    .await?;
    let token = kyso_tests::token_from(http, gateway.api(), None).await;
    let portal = Portal::new(
        http.clone(),
        gateway.api().to_owned(),
        token,
        Workload::Digest,
        std::slice::from_ref(&sim.silent),
        PORTAL_FIRST_READ,
        PORTAL_READ_EVERY,
    )?;
    let before = Snapshot::take(&redis.url(), "kyso").await?;
    let portal = Arc::new(portal);
    let next = Arc::new(AtomicU64::new(0));
    let mut creators = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (portal, next, total) = (Arc::clone(&portal), Arc::clone(&next), args.pending);
        creators.spawn(async move {
            let mut outcome = Measurement::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return outcome;
                }
                match portal.create(n).await {
                    Ok(_) => outcome.record(Duration::ZERO),
                    Err(error) => outcome.fail(error),
                }
            }
        });
    }
    let mut created = Measurement::default();
    while let Some(joined) = creators.join_next().await {
        created.absorb(&joined?);
    }
    ensure!(
        created.errors == 0,
        "creating pending transactions failed: {}",
        created.first_error.unwrap_or_default()
    );
    let after = Snapshot::take(&redis.url(), "kyso").await?;
    let mut growth = PerTransaction::between(&before, &after, created.ok);
    growth.record = redis_memory::record_anatomy(&redis.url(), "kyso").await?;
    eprintln!(
        "kyso-load: Redis, {} pending transactions: {:.0} bytes each of their own state, {:.0} \
         with every key",
        created.ok,
        growth.transaction_state_bytes(),
        growth.all_keys_bytes()
    );
    Ok(growth)
}

/// 5: one run of the audit trail's writer for each of `--audit-writers`, each on a Redis of
/// its own.
async fn audit_chain(args: &Args) -> anyhow::Result<Vec<AuditRun>> {
    let mut runs = Vec::new();
    for &writers in &args.audit_writers {
        let redis = RedisServer::start();
        let run = audit_chain::run(
            &redis.url(),
            writers,
            Duration::from_secs(args.audit_seconds),
            args.audit_records(),
        )
        .await?;
        eprintln!(
            "kyso-load: audit trail, {writers} writer(s): {:.0} records/s, {:.2} records per \
             append, {:.0} µs of Redis CPU per record, {} errors",
            run.measurement.throughput(),
            run.records_per_append(),
            run.cost.cpu_us,
            run.measurement.errors
        );
        runs.push(run);
    }
    Ok(runs)
}
