//! The run's report: the machine it ran on, every figure measured, the ratios against the two
//! baselines (the simulator called directly, and nginx in front of it), and each of the issue's
//! targets with its measured value and PASS or FAIL. One Markdown text, printed and (in a full
//! run) written to `benches/RESULTS.md`.

use std::fmt::Write as _;
use std::process::Command;

use crate::audit_chain::AuditRun;
use crate::breakdown::{AUDIT_APPENDS_KEY, AUDIT_KEY, MeanTime};
use crate::flows::{FlowRun, Workload};
use crate::latency::Measurement;
use crate::redis_cost::Cost;
use crate::redis_memory::PerTransaction;

/// The three ways to the same simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Direct,
    Nginx,
    Gateway,
}

impl Route {
    pub(crate) const ALL: [Self; 3] = [Self::Direct, Self::Nginx, Self::Gateway];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Direct => "direct (simulator)",
            Self::Nginx => "nginx → simulator",
            Self::Gateway => "gateway → simulator",
        }
    }
}

/// Where and how the run was made.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) date: String,
    pub(crate) commit: String,
    pub(crate) profile: &'static str,
    pub(crate) load_before: String,
    pub(crate) load_after: String,
    /// How busy the cores were over the second before the run (other work on the machine).
    pub(crate) busy_before: String,
    pub(crate) nginx: String,
    pub(crate) redis: String,
}

impl Machine {
    /// What can be read before the run (the load average after it is filled in at the end).
    pub(crate) fn observe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(
                || "unknown".to_owned(),
                |(_, model)| model.trim().to_owned(),
            );
        let date = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let git = |args: &[&str]| {
            Command::new("git")
                .args(args)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .ok()
                .filter(|out| out.status.success())
                .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        let mut commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_default();
        if git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty()) {
            commit.push_str(" (with uncommitted changes)");
        }
        let version = |program: &str, arg: &str| {
            Command::new(program)
                .arg(arg)
                .output()
                .ok()
                .map(|out| {
                    // nginx prints its version on stderr.
                    let text = [out.stdout, out.stderr].concat();
                    String::from_utf8_lossy(&text).trim().to_owned()
                })
                .unwrap_or_default()
        };
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            date,
            commit,
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            load_before: load_average(),
            load_after: String::new(),
            busy_before: busy_over_a_second(),
            nginx: version("nginx", "-v"),
            redis: version("redis-server", "--version"),
        }
    }
}

/// The share of all cores busy (not idle, not waiting for I/O) over one second, from
/// `/proc/stat`: other work on the machine, measured before the run starts its own.
fn busy_over_a_second() -> String {
    let read = || -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let ticks: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|field| field.parse().ok())
            .collect();
        let idle = ticks.get(3)? + ticks.get(4)?;
        Some((ticks.iter().sum(), idle))
    };
    let Some((total_before, idle_before)) = read() else {
        return "unknown".to_owned();
    };
    std::thread::sleep(std::time::Duration::from_secs(1));
    let Some((total_after, idle_after)) = read() else {
        return "unknown".to_owned();
    };
    let total = total_after.saturating_sub(total_before).max(1) as f64;
    let idle = idle_after.saturating_sub(idle_before) as f64;
    format!("{:.0} %", (1.0 - idle / total) * 100.0)
}

/// `/proc/loadavg`'s three averages.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One point of the closed-loop sweep.
#[derive(Debug)]
pub(crate) struct SweepPoint {
    pub(crate) concurrency: usize,
    pub(crate) route: Route,
    pub(crate) measurement: Measurement,
    /// CPU time the proxy (nginx, or the gateway) spent per request, in microseconds; `None`
    /// for the direct path.
    pub(crate) proxy_cpu_us: Option<f64>,
}

/// The open-loop runs at one rate.
#[derive(Debug)]
pub(crate) struct OpenLoop {
    pub(crate) rate: f64,
    pub(crate) connections: usize,
    pub(crate) by_route: Vec<(Route, Measurement)>,
}

/// One run of a flow at one offered rate.
#[derive(Debug)]
pub(crate) struct FlowStep {
    pub(crate) run: FlowRun,
    /// The gateway's peak resident set size during the run, in bytes.
    pub(crate) rss_peak: Option<u64>,
    /// The gateway's own timings during the run.
    pub(crate) timings: Vec<MeanTime>,
    /// What each signed transaction cost Redis during the run (Redis store only).
    pub(crate) redis_cost: Option<Cost>,
}

/// One workload on one store, at each offered rate tried.
#[derive(Debug)]
pub(crate) struct FlowResult {
    pub(crate) workload: Workload,
    pub(crate) store: &'static str,
    pub(crate) runs: Vec<FlowStep>,
    /// The gateway's resident set size once the last run was over.
    pub(crate) rss_end: Option<u64>,
}

/// Everything one run measured.
#[derive(Debug)]
pub(crate) struct Results {
    pub(crate) machine: Machine,
    /// How the processes were set up, one line each.
    pub(crate) setup: Vec<String>,
    pub(crate) sweep: Vec<SweepPoint>,
    pub(crate) open_loop: Option<OpenLoop>,
    /// The gateway's own timings during the open-loop run.
    pub(crate) lookup_breakdown: Vec<MeanTime>,
    /// The gateway's own timings at its best point of the sweep, and that concurrency.
    pub(crate) saturated_breakdown: Option<(usize, Vec<MeanTime>)>,
    pub(crate) flows: Vec<FlowResult>,
    pub(crate) redis_memory: Option<PerTransaction>,
    /// The audit trail's chain on one Redis, one run per number of writers.
    pub(crate) audit_chain: Vec<AuditRun>,
}

/// The targets.
const LOOKUP_RATIO_TARGET: f64 = 0.5;
const ADDED_P50_TARGET_MS: f64 = 1.0;
const ADDED_P99_TARGET_MS: f64 = 5.0;
const FLOW_RATE_TARGET: f64 = 1000.0;
const FLOW_P99_TARGET_MS: f64 = 50.0;
const REDIS_BYTES_TARGET: f64 = 2048.0;
const RSS_TARGET_BYTES: f64 = 100.0 * 1024.0 * 1024.0;

fn ms(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.2}")
    } else {
        "-".to_owned()
    }
}

fn ratio(numerator: f64, denominator: f64) -> String {
    if denominator > 0.0 && numerator.is_finite() && denominator.is_finite() {
        format!("{:.2}x", numerator / denominator)
    } else {
        "-".to_owned()
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "-".to_owned(),
        |b| format!("{:.1}", b as f64 / 1048576.0),
    )
}

fn verdict(pass: bool) -> &'static str {
    if pass { "**PASS**" } else { "**FAIL**" }
}

impl Results {
    /// Nothing measured yet, on `machine`, with the processes set up as `setup` says.
    pub(crate) fn new(machine: Machine, setup: Vec<String>) -> Self {
        Self {
            machine,
            setup,
            sweep: Vec::new(),
            open_loop: None,
            lookup_breakdown: Vec::new(),
            saturated_breakdown: None,
            flows: Vec::new(),
            redis_memory: None,
            audit_chain: Vec::new(),
        }
    }

    /// The best throughput of `route` over the sweep, and the concurrency it came at.
    fn best(&self, route: Route) -> Option<(f64, usize)> {
        self.sweep
            .iter()
            .filter(|point| point.route == route)
            .map(|point| (point.measurement.throughput(), point.concurrency))
            .max_by(|a, b| a.0.total_cmp(&b.0))
    }

    fn point(&self, route: Route, concurrency: usize) -> Option<&Measurement> {
        self.sweep
            .iter()
            .find(|point| point.route == route && point.concurrency == concurrency)
            .map(|point| &point.measurement)
    }

    fn open(&self, route: Route) -> Option<&Measurement> {
        self.open_loop.as_ref().and_then(|open| {
            open.by_route
                .iter()
                .find(|(r, _)| *r == route)
                .map(|(_, measurement)| measurement)
        })
    }

    fn flow(&self, workload: Workload, store: &str) -> Option<&FlowResult> {
        self.flows
            .iter()
            .find(|flow| flow.workload == workload && flow.store == store)
    }

    /// Whether any request or transaction failed anywhere (the smoke run's verdict).
    pub(crate) fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        // Runs whose Redis counters show none of the work they did.
        let mut uncounted = Vec::new();
        let mut check = |what: String, measurement: &Measurement| {
            if measurement.errors > 0 || measurement.ok == 0 {
                failures.push(format!(
                    "{what}: {} ok, {} failed ({})",
                    measurement.ok,
                    measurement.errors,
                    measurement
                        .first_error
                        .as_deref()
                        .unwrap_or("nothing measured")
                ));
            }
        };
        for point in &self.sweep {
            check(
                format!(
                    "{} at concurrency {}",
                    point.route.label(),
                    point.concurrency
                ),
                &point.measurement,
            );
        }
        if let Some(open) = &self.open_loop {
            for (route, measurement) in &open.by_route {
                check(
                    format!("{} at {} req/s", route.label(), open.rate),
                    measurement,
                );
            }
        }
        for flow in &self.flows {
            for FlowStep {
                run, redis_cost, ..
            } in &flow.runs
            {
                let what = format!(
                    "{}, {} store, at {} tx/s",
                    flow.workload.label(),
                    flow.store,
                    run.offered
                );
                check(what.clone(), &run.measurement);
                if redis_cost
                    .as_ref()
                    .is_some_and(|cost| cost.script_calls() <= 0.0)
                {
                    uncounted.push(format!("{what}: Redis counted no script call"));
                }
            }
        }
        for run in &self.audit_chain {
            check(
                format!("audit trail, {} writer(s)", run.writers),
                &run.measurement,
            );
            if run.measurement.ok > 0 && run.cost.script_calls() <= 0.0 {
                uncounted.push(format!(
                    "audit trail, {} writer(s): Redis counted no append",
                    run.writers
                ));
            }
        }
        failures.extend(uncounted);
        failures
    }

    /// The whole report, in Markdown.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        self.render_header(&mut out);
        self.render_sweep(&mut out);
        self.render_open_loop(&mut out);
        self.render_flows(&mut out);
        self.render_redis(&mut out);
        self.render_audit_chain(&mut out);
        self.render_targets(&mut out);
        out
    }

    fn render_header(&self, out: &mut String) {
        let machine = &self.machine;
        let _ = writeln!(out, "# kyso-load results\n");
        let _ = writeln!(
            out,
            "Written by `kyso-load` (benches/src/bin/load); see benches/README.md for what each \
             figure means. Every process ran on this one machine, over loopback, sharing its \
             cores with the load generator.\n"
        );
        let _ = writeln!(out, "| | |\n|---|---|");
        let _ = writeln!(out, "| date (UTC) | {} |", machine.date);
        let _ = writeln!(out, "| commit | {} |", machine.commit);
        let _ = writeln!(out, "| build profile | {} |", machine.profile);
        let _ = writeln!(out, "| CPU | {} |", machine.cpu);
        let _ = writeln!(out, "| cores | {} |", machine.cores);
        let _ = writeln!(
            out,
            "| load average (1, 5, 15 min) | before {}; after {} |",
            machine.load_before, machine.load_after
        );
        let _ = writeln!(
            out,
            "| cores busy with other work, the second before the run | {} |",
            machine.busy_before
        );
        let _ = writeln!(out, "| nginx | {} |", machine.nginx);
        let _ = writeln!(out, "| redis | {} |", machine.redis);
        for line in &self.setup {
            let _ = writeln!(out, "| {line} |");
        }
        let _ = writeln!(out);
    }

    fn render_sweep(&self, out: &mut String) {
        if self.sweep.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "## Certificate lookup, closed loop\n\n\
             Each connection sends its next request when the previous answer is in: the most \
             each path carries at that concurrency. Latencies here hide queueing (see the open \
             loop below).\n"
        );
        let _ = writeln!(
            out,
            "| concurrency | path | req/s | p50 ms | p99 ms | p99.9 ms | errors | proxy CPU µs/req | gateway/nginx | gateway/direct |\n\
             |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        let mut concurrencies: Vec<usize> = self.sweep.iter().map(|p| p.concurrency).collect();
        concurrencies.dedup();
        for concurrency in concurrencies {
            for route in Route::ALL {
                let Some(measurement) = self.point(route, concurrency) else {
                    continue;
                };
                let (to_nginx, to_direct) = if route == Route::Gateway {
                    let throughput = measurement.throughput();
                    let of = |other: Route| {
                        self.point(other, concurrency)
                            .map_or_else(|| "-".to_owned(), |m| ratio(throughput, m.throughput()))
                    };
                    (of(Route::Nginx), of(Route::Direct))
                } else {
                    (String::new(), String::new())
                };
                let cpu = self
                    .sweep
                    .iter()
                    .find(|p| p.route == route && p.concurrency == concurrency)
                    .and_then(|p| p.proxy_cpu_us)
                    .map_or_else(String::new, |us| format!("{us:.0}"));
                let _ = writeln!(
                    out,
                    "| {concurrency} | {} | {:.0} | {} | {} | {} | {} | {cpu} | {to_nginx} | {to_direct} |",
                    route.label(),
                    measurement.throughput(),
                    ms(measurement.percentile_ms(50.0)),
                    ms(measurement.percentile_ms(99.0)),
                    ms(measurement.percentile_ms(99.9)),
                    measurement.errors,
                );
            }
        }
        if let (Some((direct, at_direct)), Some((nginx, at_nginx)), Some((gateway, at_gateway))) = (
            self.best(Route::Direct),
            self.best(Route::Nginx),
            self.best(Route::Gateway),
        ) {
            let limit = if gateway < 0.8 * direct {
                "the gateway is the limit, not the simulator"
            } else {
                "the simulator is close to being the limit"
            };
            let _ = writeln!(
                out,
                "\nBest of each: **simulator's own ceiling (direct) {direct:.0} req/s** (at \
                 concurrency {at_direct}), nginx {nginx:.0} req/s (at {at_nginx}), **gateway \
                 {gateway:.0} req/s** (at {at_gateway}): gateway/nginx {}, gateway/direct {}; \
                 {limit}.\n",
                ratio(gateway, nginx),
                ratio(gateway, direct),
            );
            let _ = writeln!(
                out,
                "*Proxy CPU µs/req* is the CPU time (user and system, every thread; nginx's \
                 master and workers) the proxy process used during the point, per request: \
                 what each request costs the proxy, whatever else shared the cores.\n"
            );
        }
        if let Some((concurrency, means)) = &self.saturated_breakdown {
            let client = self
                .point(Route::Gateway, *concurrency)
                .map_or(f64::NAN, Measurement::mean_ms);
            render_breakdown(
                out,
                &format!(
                    "Where a gateway lookup's time goes at its best point (concurrency {concurrency})"
                ),
                client,
                means,
            );
        }
    }

    fn render_open_loop(&self, out: &mut String) {
        let Some(open) = &self.open_loop else {
            return;
        };
        let _ = writeln!(
            out,
            "## Certificate lookup, open loop at {:.0} req/s\n\n\
             Requests leave on a fixed schedule over {} connections, whatever the answers do; a \
             request that had to wait for its connection is measured from when it should have \
             left, so queueing shows.\n",
            open.rate, open.connections
        );
        let _ = writeln!(
            out,
            "| path | req/s | p50 ms | p99 ms | p99.9 ms | errors | p50 added over direct | p99 added over direct |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|"
        );
        let direct = self.open(Route::Direct);
        for (route, measurement) in &open.by_route {
            let added = |percent: f64| {
                direct.map_or_else(
                    || "-".to_owned(),
                    |direct| {
                        format!(
                            "{:+.2} ms",
                            measurement.percentile_ms(percent) - direct.percentile_ms(percent)
                        )
                    },
                )
            };
            let (added_p50, added_p99) = if *route == Route::Direct {
                (String::new(), String::new())
            } else {
                (added(50.0), added(99.0))
            };
            let _ = writeln!(
                out,
                "| {} | {:.0} | {} | {} | {} | {} | {added_p50} | {added_p99} |",
                route.label(),
                measurement.throughput(),
                ms(measurement.percentile_ms(50.0)),
                ms(measurement.percentile_ms(99.0)),
                ms(measurement.percentile_ms(99.9)),
                measurement.errors,
            );
        }
        if let Some(gateway) = self.open(Route::Gateway) {
            render_breakdown(
                out,
                "Where a gateway lookup's time goes at this rate",
                gateway.mean_ms(),
                &self.lookup_breakdown,
            );
        }
    }

    fn render_flows(&self, out: &mut String) {
        if self.flows.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "## Signing flows, open loop\n\n\
             Transactions start at the offered rate whatever happens to earlier ones: create \
             (`POST /v1/signatures`), the simulator approves at once (P-256), the gateway \
             follows and verifies, the portal reads the transaction until it is `signed` (and \
             for a PDF fetches the signed file). Latency is end to end, from when the \
             transaction was due to start. A rate is *held* when nothing failed and \
             transactions completed at 95 % of it or more; when one is not, the next run offers \
             a little less than what was completed.\n"
        );
        let _ = writeln!(
            out,
            "| workload | store | offered tx/s | completed tx/s | held | p50 ms | p99 ms | p99.9 ms | reads/tx | errors | gateway RSS peak MiB |\n\
             |---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"
        );
        for flow in &self.flows {
            for FlowStep { run, rss_peak, .. } in &flow.runs {
                let measurement = &run.measurement;
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {:.2} | {} | {} |",
                    flow.workload.label(),
                    flow.store,
                    run.offered,
                    measurement.throughput(),
                    if run.held() { "yes" } else { "no" },
                    ms(measurement.percentile_ms(50.0)),
                    ms(measurement.percentile_ms(99.0)),
                    ms(measurement.percentile_ms(99.9)),
                    run.reads_per_transaction(),
                    measurement.errors,
                    mib(*rss_peak),
                );
            }
        }
        let _ = writeln!(out);
        for flow in &self.flows {
            let _ = writeln!(
                out,
                "- {}, {} store: gateway RSS {} MiB once the runs were over.",
                flow.workload.label(),
                flow.store,
                mib(flow.rss_end)
            );
            for FlowStep { run, .. } in &flow.runs {
                if let Some(error) = &run.measurement.first_error {
                    let _ = writeln!(out, "  - first error at {:.0} tx/s: {error}", run.offered);
                }
            }
        }
        let _ = writeln!(out);
        self.render_flow_breakdown(out);
        self.render_redis_cost(out);
    }

    /// What each transaction of the Redis flow runs cost Redis, and so how many a second one
    /// shard carries.
    fn render_redis_cost(&self, out: &mut String) {
        let costs: Vec<(&FlowResult, &FlowStep, &Cost)> = self
            .flows
            .iter()
            .flat_map(|flow| {
                flow.runs
                    .iter()
                    .filter_map(move |step| step.redis_cost.as_ref().map(|cost| (flow, step, cost)))
            })
            .collect();
        if costs.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "What each signed transaction cost Redis in each Redis run, from Redis's own \
             counters before and after it (`INFO commandstats`, `INFO cpu`: `used_cpu_sys` + \
             `used_cpu_user`, `INFO stats`: `total_net_input_bytes`, `total_net_output_bytes`), \
             divided by the transactions signed. Redis counts the commands a script runs under \
             their own names too, so *commands* is the work Redis did and *scripts* \
             (`evalsha`, `eval`) are round trips; the gateway's background work (sweeps, \
             lease renewals) is included.\n"
        );
        let _ = writeln!(
            out,
            "| run | signed tx | Redis commands/tx | scripts/tx | most called (calls/tx) | Redis CPU µs/tx | bytes in/tx | bytes out/tx | tx/s one shard carries at most |\n\
             |---|---:|---:|---:|---|---:|---:|---:|---:|"
        );
        for (flow, step, cost) in &costs {
            let _ = writeln!(
                out,
                "| {}, {:.0} tx/s | {} | {:.1} | {:.1} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
                flow.workload.label(),
                step.run.offered,
                cost.units,
                cost.total_calls(),
                cost.script_calls(),
                cost.top_commands(4),
                cost.cpu_us,
                cost.net_input,
                cost.net_output,
                cost.units_per_shard_second(),
            );
        }
        let _ = writeln!(
            out,
            "\nRedis runs every command on one main thread, so one shard (a standalone Redis, \
             or one master of a Redis Cluster) carries at most 1 s / (Redis CPU per \
             transaction) transactions a second: an upper bound, reached with that thread \
             saturated. A transaction's keys follow its shard's hash tag (`{{sNN}}`, 64 of \
             them), so a Cluster's masters share transactions about evenly and N masters carry \
             about N times as many; the audit trail is the exception (one chain on one shard, \
             below).\n"
        );
    }

    fn render_audit_chain(&self, out: &mut String) {
        if self.audit_chain.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "## The audit trail's one chain\n\n\
             Every instance appends to one hash chain under the hash tag `{{audit}}`: on a \
             Redis Cluster all of it is on one shard, whatever the number of shards. Here the \
             gateway's own writer (`Auditor`), as one instance, on a Redis of its own: each \
             writer task records a `signing.accepted`-sized record and the next one as soon as \
             it is in; Redis's counters around the run give the appends (scripts) and CPU per \
             record.\n"
        );
        let _ = writeln!(
            out,
            "| writers | records | records/s | p50 ms | p99 ms | errors | records per append | Redis CPU µs/record | bytes in/record | records/s one shard takes at most |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for run in &self.audit_chain {
            let measurement = &run.measurement;
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {} | {} | {} | {:.2} | {:.0} | {:.0} | {:.0} |",
                run.writers,
                measurement.ok,
                measurement.throughput(),
                ms(measurement.percentile_ms(50.0)),
                ms(measurement.percentile_ms(99.0)),
                measurement.errors,
                run.records_per_append(),
                run.cost.cpu_us,
                run.cost.net_input,
                run.cost.units_per_shard_second(),
            );
        }
        let _ = writeln!(
            out,
            "\nWith one writer the rate is one round trip's, not the shard's: the last column \
             is the shard's ceiling at that many records per append (1 s / Redis CPU per \
             record). Several instances share that ceiling, and their races for the head cost \
             more appends.\n"
        );
    }

    /// The gateway's own mean timings in each flow run, side by side: where a transaction's
    /// time goes, and how it changes from one store to the other and under overload.
    fn render_flow_breakdown(&self, out: &mut String) {
        let steps: Vec<(String, &FlowStep)> = self
            .flows
            .iter()
            .flat_map(|flow| {
                flow.runs.iter().map(move |step| {
                    let name = match flow.workload {
                        Workload::Digest => "digest",
                        Workload::Pdf => "PDF",
                    };
                    (
                        format!("{name}, {}, {:.0} tx/s", flow.store, step.run.offered),
                        step,
                    )
                })
            })
            .collect();
        let mut rows: Vec<&str> = Vec::new();
        for (_, step) in &steps {
            for mean in &step.timings {
                if !rows.contains(&mean.what.as_str()) && !mean.what.contains("/metrics") {
                    rows.push(&mean.what);
                }
            }
        }
        if rows.is_empty() {
            return;
        }
        rows.sort_unstable();
        let _ = writeln!(
            out,
            "Where the gateway's time goes in each flow run: mean ms of each route and CA call \
             (a route's time runs from its request read to its answer written, CA calls \
             included), from the gateway's own histograms; for the audit trail, records \
             appended per transaction (an instance appends what queued meanwhile as one \
             group, one store round trip per group, one group at a time).\n"
        );
        let header: Vec<&str> = steps.iter().map(|(name, _)| name.as_str()).collect();
        let _ = writeln!(
            out,
            "| what | {} |\n|---|{}",
            header.join(" | "),
            "---:|".repeat(header.len())
        );
        for row in rows {
            let cells: Vec<String> = steps
                .iter()
                .map(|(_, step)| {
                    step.timings
                        .iter()
                        .find(|mean| mean.what == row)
                        .map_or_else(String::new, |mean| {
                            let transactions = step.run.measurement.ok.max(1) as f64;
                            let per_transaction = mean.count as f64 / transactions;
                            if row == AUDIT_KEY {
                                format!("{per_transaction:.1}/tx")
                            } else if row == AUDIT_APPENDS_KEY {
                                format!("{}, {per_transaction:.2}/tx", ms(mean.mean_ms))
                            } else {
                                ms(mean.mean_ms)
                            }
                        })
                })
                .collect();
            let _ = writeln!(out, "| {row} | {} |", cells.join(" | "));
        }
        let _ = writeln!(out);
    }

    fn render_redis(&self, out: &mut String) {
        let Some(memory) = &self.redis_memory else {
            return;
        };
        let _ = writeln!(
            out,
            "## Redis memory per pending transaction\n\n\
             {} transactions created for a citizen who never answers, then `MEMORY USAGE \
             <key> SAMPLES 0` of every `kyso:*` key, grouped by what it holds; shared keys are \
             counted by how much they grew.\n",
            memory.transactions
        );
        let _ = writeln!(
            out,
            "| keys | keys per tx | bytes per tx |\n|---|---:|---:|"
        );
        for (kind, keys, bytes) in &memory.by_kind {
            if *keys == 0.0 && *bytes == 0.0 {
                continue;
            }
            let _ = writeln!(out, "| {} | {keys:.2} | {bytes:.0} |", kind.label());
        }
        let _ = writeln!(
            out,
            "| **the transaction's own state** (record, idempotency key, lease, pending-index \
             share) | | **{:.0}** |",
            memory.transaction_state_bytes()
        );
        let _ = writeln!(
            out,
            "| every `kyso:*` key | | {:.0} |",
            memory.all_keys_bytes()
        );
        let _ = writeln!(
            out,
            "| `used_memory` growth (allocator and key-space overheads included) | | {:.0} |\n",
            memory.used_memory
        );
        if let Some(record) = &memory.record {
            let members = record
                .members
                .iter()
                .take(6)
                .map(|(name, size)| format!("`{name}` {size}"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "One transaction record is {} bytes: its JSON ({} bytes; the largest members: \
                 {members}) and its signer's certificate ({} bytes of DER), deflated together to \
                 {} bytes with its issuer chain and the JSON's names as dictionary.\n",
                record.stored, record.json, record.certificate, record.deflated
            );
        }
    }

    fn render_targets(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## Targets (from the issue)\n\n| target | measured | verdict |\n|---|---|---|"
        );
        if let (Some((nginx, _)), Some((gateway, _))) =
            (self.best(Route::Nginx), self.best(Route::Gateway))
        {
            let _ = writeln!(
                out,
                "| certificate lookup through the gateway ≥ {LOOKUP_RATIO_TARGET}x nginx's \
                 throughput (best of each) | {} ({gateway:.0} vs {nginx:.0} req/s) | {} |",
                ratio(gateway, nginx),
                verdict(gateway >= LOOKUP_RATIO_TARGET * nginx)
            );
        }
        if let (Some(open), Some(direct), Some(gateway)) = (
            &self.open_loop,
            self.open(Route::Direct),
            self.open(Route::Gateway),
        ) {
            let added = |percent| gateway.percentile_ms(percent) - direct.percentile_ms(percent);
            let (p50, p99) = (added(50.0), added(99.0));
            let _ = writeln!(
                out,
                "| latency added at {:.0} req/s: p50 < +{ADDED_P50_TARGET_MS} ms | {p50:+.2} ms | {} |",
                open.rate,
                verdict(p50 < ADDED_P50_TARGET_MS && gateway.errors == 0)
            );
            let _ = writeln!(
                out,
                "| latency added at {:.0} req/s: p99 < +{ADDED_P99_TARGET_MS} ms | {p99:+.2} ms | {} |",
                open.rate,
                verdict(p99 < ADDED_P99_TARGET_MS && gateway.errors == 0)
            );
        }
        if let Some(flow) = self.flow(Workload::Digest, "Redis") {
            let at_target = flow
                .runs
                .iter()
                .find(|step| step.run.offered >= FLOW_RATE_TARGET);
            match at_target {
                Some(FlowStep { run, rss_peak, .. }) => {
                    let measurement = &run.measurement;
                    let p99 = measurement.percentile_ms(99.0);
                    let _ = writeln!(
                        out,
                        "| full flow with Redis ≥ {FLOW_RATE_TARGET:.0} tx/s with p99 < \
                         {FLOW_P99_TARGET_MS} ms | {:.0} tx/s completed of {:.0} offered \
                         (held: {}), p99 {} ms | {} |",
                        measurement.throughput(),
                        run.offered,
                        if run.held() { "yes" } else { "no" },
                        ms(p99),
                        verdict(run.held() && p99 < FLOW_P99_TARGET_MS)
                    );
                    let _ = writeln!(
                        out,
                        "| gateway RSS < 100 MiB at that load | {} MiB peak | {} |",
                        mib(*rss_peak),
                        verdict(rss_peak.is_some_and(|rss| (rss as f64) < RSS_TARGET_BYTES))
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "| full flow with Redis ≥ {FLOW_RATE_TARGET:.0} tx/s with p99 < \
                         {FLOW_P99_TARGET_MS} ms | not offered in this run | - |"
                    );
                }
            }
        }
        if let Some(memory) = &self.redis_memory {
            let own = memory.transaction_state_bytes();
            let _ = writeln!(
                out,
                "| < 2 KiB of Redis per pending transaction (its record, idempotency key, \
                 lease, pending-index share) | {own:.0} bytes | {} |",
                verdict(own < REDIS_BYTES_TARGET)
            );
            let all = memory.all_keys_bytes();
            let _ = writeln!(
                out,
                "| the same, counting every `kyso:*` key it grew (admission slots, audit \
                 trail) | {all:.0} bytes | {} |",
                verdict(all < REDIS_BYTES_TARGET)
            );
        }
        let _ = writeln!(out);
    }
}

/// A table of the gateway's own mean timings beside the client's mean latency (NaN: none).
fn render_breakdown(out: &mut String, title: &str, client_mean_ms: f64, means: &[MeanTime]) {
    if means.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n{title} (means over the run, from the gateway's own histograms; a route's time runs \
         from its request read to its answer written, and includes the CA calls it makes):\n"
    );
    let _ = writeln!(out, "| what | count | mean ms |\n|---|---:|---:|");
    if client_mean_ms.is_finite() {
        let _ = writeln!(
            out,
            "| the client's latency (loopback, HTTP stack, queueing, route) | | {} |",
            ms(client_mean_ms)
        );
    }
    for mean in means {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            mean.what,
            mean.count,
            ms(mean.mean_ms)
        );
    }
    let _ = writeln!(out);
}
