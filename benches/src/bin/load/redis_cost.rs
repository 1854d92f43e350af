//! What work costs a Redis shard: the difference of Redis's own counters (`INFO commandstats
//! cpu stats`) between the start and the end of a window, divided by the transactions (or
//! audit records) completed in it.
//!
//! - **Commands**, by name, from `INFO commandstats` (`cmdstat_NAME:calls=N,...`). Redis
//!   counts the commands a script runs under their own names as well as the script
//!   (`evalsha`, `eval`), so the total is the work Redis did, not the round trips the gateway
//!   made: the scripts are reported apart.
//! - **CPU**, `used_cpu_sys` + `used_cpu_user` of `INFO cpu` (the whole process; with I/O
//!   threads off, as by default, nearly all of it is the main thread, which runs every
//!   command). A shard runs its commands on that one thread, so one shard carries at most
//!   1 s / (CPU per transaction) transactions a second: an upper bound, reached only with the
//!   thread saturated.
//! - **Network**, `total_net_input_bytes` and `total_net_output_bytes` of `INFO stats`.
//!
//! The harness's own `INFO` calls are left out of the commands; their few kilobytes stay in
//! the network bytes.

use std::collections::BTreeMap;

/// The commands the harness itself sends to read the counters.
const OWN_COMMANDS: [&str; 1] = ["info"];
/// The commands that run a script: one round trip each, whatever the script does.
const SCRIPT_COMMANDS: [&str; 4] = ["evalsha", "eval", "evalsha_ro", "eval_ro"];

/// The value of `field` in an `INFO` text (`field:value` lines).
pub(crate) fn info_field<T: std::str::FromStr>(info: &str, field: &str) -> Option<T> {
    info.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().parse().ok())
}

/// Redis's cumulative counters at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Counters {
    /// Calls of each command since the server started (lowercase names, `config|get` for a
    /// subcommand).
    pub(crate) calls: BTreeMap<String, u64>,
    /// CPU seconds of the server process, system and user.
    pub(crate) cpu_seconds: f64,
    /// Bytes read from clients.
    pub(crate) net_input: u64,
    /// Bytes written to clients.
    pub(crate) net_output: u64,
}

impl Counters {
    /// Reads them from the Redis at `url` (one `INFO` call).
    pub(crate) async fn read(url: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .arg("cpu")
            .arg("stats")
            .query_async(&mut connection)
            .await?;
        Ok(Self::parse(&info))
    }

    /// Reads them from an `INFO commandstats cpu stats` text.
    pub(crate) fn parse(info: &str) -> Self {
        let calls = info
            .lines()
            .filter_map(|line| {
                let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = stats
                    .split(',')
                    .find_map(|stat| stat.strip_prefix("calls="))?
                    .parse()
                    .ok()?;
                Some((name.to_owned(), calls))
            })
            .collect();
        let cpu = |field| info_field::<f64>(info, field).unwrap_or(0.0);
        Self {
            calls,
            cpu_seconds: cpu("used_cpu_sys") + cpu("used_cpu_user"),
            net_input: info_field(info, "total_net_input_bytes").unwrap_or(0),
            net_output: info_field(info, "total_net_output_bytes").unwrap_or(0),
        }
    }
}

/// What each unit of work (a transaction, an audit record) cost Redis over a window.
#[derive(Debug, Clone)]
pub(crate) struct Cost {
    /// The units completed in the window.
    pub(crate) units: u64,
    /// Calls of each command per unit, most first (the harness's own left out).
    pub(crate) calls: Vec<(String, f64)>,
    /// Redis CPU per unit, in microseconds.
    pub(crate) cpu_us: f64,
    /// Bytes from clients to Redis per unit.
    pub(crate) net_input: f64,
    /// Bytes from Redis to clients per unit.
    pub(crate) net_output: f64,
}

impl Cost {
    /// The counters' growth from `before` to `after`, per unit of `units`.
    pub(crate) fn between(before: &Counters, after: &Counters, units: u64) -> Self {
        let per = |value: f64| value / units.max(1) as f64;
        let mut calls: Vec<(String, f64)> = after
            .calls
            .iter()
            .filter(|(name, _)| !OWN_COMMANDS.contains(&name.as_str()))
            .map(|(name, calls)| {
                let earlier = before.calls.get(name).copied().unwrap_or(0);
                (name.clone(), per(calls.saturating_sub(earlier) as f64))
            })
            .filter(|(_, calls)| *calls > 0.0)
            .collect();
        calls.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Self {
            units,
            calls,
            cpu_us: per((after.cpu_seconds - before.cpu_seconds).max(0.0) * 1e6),
            net_input: per(after.net_input.saturating_sub(before.net_input) as f64),
            net_output: per(after.net_output.saturating_sub(before.net_output) as f64),
        }
    }

    /// Every command Redis ran per unit, the commands inside scripts included.
    pub(crate) fn total_calls(&self) -> f64 {
        self.calls.iter().map(|(_, calls)| calls).sum()
    }

    /// Scripts run per unit (`evalsha`, `eval`): one round trip each.
    pub(crate) fn script_calls(&self) -> f64 {
        self.calls
            .iter()
            .filter(|(name, _)| SCRIPT_COMMANDS.contains(&name.as_str()))
            .map(|(_, calls)| calls)
            .sum()
    }

    /// The most units a second one shard's main thread could run at this cost: an upper
    /// bound (NaN when no CPU time was measured).
    pub(crate) fn units_per_shard_second(&self) -> f64 {
        if self.cpu_us > 0.0 {
            1e6 / self.cpu_us
        } else {
            f64::NAN
        }
    }

    /// The `count` commands with the most calls per unit, as `name n.n, ...`.
    pub(crate) fn top_commands(&self, count: usize) -> String {
        self.calls
            .iter()
            .take(count)
            .map(|(name, calls)| format!("`{name}` {calls:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Reads the counters of the Redis at `url` before and after `work`, which returns its
/// output and how many units it completed; returns the output and their cost.
pub(crate) async fn measure<T>(
    url: &str,
    work: impl Future<Output = (T, u64)>,
) -> redis::RedisResult<(T, Cost)> {
    let before = Counters::read(url).await?;
    let (output, units) = work.await;
    let after = Counters::read(url).await?;
    Ok((output, Cost::between(&before, &after, units)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "# Commandstats\r\n\
        cmdstat_evalsha:calls=10,usec=300,usec_per_call=30.00,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_hset:calls=20,usec=40,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_info:calls=3,usec=90,usec_per_call=30.00,rejected_calls=0,failed_calls=0\r\n\
        \r\n# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:0.500000\r\n\
        used_cpu_sys_main_thread:1.400000\r\n\
        \r\n# Stats\r\ntotal_net_input_bytes:1000\r\ntotal_net_output_bytes:5000\r\n";

    const AFTER: &str = "# Commandstats\r\n\
        cmdstat_evalsha:calls=30,usec=900,usec_per_call=30.00,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_hset:calls=60,usec=120,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_hget:calls=10,usec=10,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_info:calls=4,usec=120,usec_per_call=30.00,rejected_calls=0,failed_calls=0\r\n\
        \r\n# CPU\r\nused_cpu_sys:1.700000\r\nused_cpu_user:0.600000\r\n\
        used_cpu_sys_main_thread:1.600000\r\n\
        \r\n# Stats\r\ntotal_net_input_bytes:3000\r\ntotal_net_output_bytes:9000\r\n";

    #[test]
    fn counters_are_read_from_info() {
        let counters = Counters::parse(BEFORE);
        assert_eq!(counters.calls.get("evalsha"), Some(&10));
        assert_eq!(counters.calls.get("hset"), Some(&20));
        assert!((counters.cpu_seconds - 2.0).abs() < 1e-9);
        assert_eq!((counters.net_input, counters.net_output), (1000, 5000));
        assert_eq!(info_field::<f64>(BEFORE, "used_cpu_sys"), Some(1.5));
    }

    #[test]
    fn cost_is_the_growth_per_unit_without_the_harness_own_commands() {
        let cost = Cost::between(&Counters::parse(BEFORE), &Counters::parse(AFTER), 10);
        let names: Vec<&str> = cost.calls.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["hset", "evalsha", "hget"]);
        assert!((cost.total_calls() - 7.0).abs() < 1e-9);
        assert!((cost.script_calls() - 2.0).abs() < 1e-9);
        assert!((cost.cpu_us - 30_000.0).abs() < 1e-6);
        assert!((cost.units_per_shard_second() - 1e6 / 30_000.0).abs() < 1e-9);
        assert!((cost.net_input - 200.0).abs() < 1e-9);
        assert!((cost.net_output - 400.0).abs() < 1e-9);
        assert_eq!(cost.top_commands(2), "`hset` 4.0, `evalsha` 2.0");
    }
}
