//! Where a gateway request's time goes, from the gateway's own Prometheus histograms: the mean
//! time of each API route (measured in its request middleware, from the request read to the
//! answer written) and of each kind of CA call, over a window (the difference of two scrapes of
//! `/metrics`). Beside the client's mean latency, this splits a request into the HTTP stack and
//! loopback outside the handler, the handler's own work, and the CA round trips inside it.

use std::collections::BTreeMap;

/// Audit records appended, every event together. An instance appends them in groups (one
/// store round trip per group, one group at a time: the trail is a hash chain), timed by
/// `kyso_audit_append_duration_seconds`.
const AUDIT_RECORDS: &str = "kyso_audit_records_total";
/// Its line in a breakdown (no mean time).
pub(crate) const AUDIT_KEY: &str = "audit records appended";
/// The line of the audit trail's appends (groups of records, one round trip each).
pub(crate) const AUDIT_APPENDS_KEY: &str = "audit appends to the store (a group of records each)";

/// The `_sum` and `_count` of every route's and every CA operation's duration histogram.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timings {
    /// `"GET /v1/certificates"` or `"CA certificates"` → (seconds, count); [`AUDIT_KEY`] →
    /// (NaN, count).
    series: BTreeMap<String, (f64, f64)>,
}

/// One line of a breakdown: what, how many in the window, the mean in milliseconds.
#[derive(Debug, Clone)]
pub(crate) struct MeanTime {
    pub(crate) what: String,
    pub(crate) count: u64,
    pub(crate) mean_ms: f64,
}

impl Timings {
    /// Reads a `/metrics` text.
    pub(crate) fn parse(text: &str) -> Self {
        let mut timings = Self::default();
        for line in text.lines() {
            let Some((name, labels, value)) = sample(line) else {
                continue;
            };
            if name == AUDIT_RECORDS {
                // A counter, not a histogram: its count only, no time.
                let entry = timings.series.entry(AUDIT_KEY.to_owned()).or_default();
                entry.0 = f64::NAN;
                entry.1 += value;
                continue;
            }
            let (histogram, is_sum) = match (name.strip_suffix("_sum"), name.strip_suffix("_count"))
            {
                (Some(histogram), _) => (histogram, true),
                (_, Some(histogram)) => (histogram, false),
                _ => continue,
            };
            let key = match histogram {
                "kyso_http_request_duration_seconds" => format!(
                    "{} {}",
                    label(labels, "method").unwrap_or("?"),
                    label(labels, "route").unwrap_or("?")
                ),
                // Every outcome of an operation together.
                "kyso_ca_request_duration_seconds" => {
                    format!("CA {}", label(labels, "operation").unwrap_or("?"))
                }
                "kyso_audit_append_duration_seconds" => AUDIT_APPENDS_KEY.to_owned(),
                _ => continue,
            };
            let entry = timings.series.entry(key).or_default();
            if is_sum {
                entry.0 += value;
            } else {
                entry.1 += value;
            }
        }
        timings
    }

    /// The mean time of everything that happened between `earlier` and this scrape.
    pub(crate) fn since(&self, earlier: &Self) -> Vec<MeanTime> {
        self.series
            .iter()
            .filter_map(|(what, (sum, count))| {
                let (sum_before, count_before) =
                    earlier.series.get(what).copied().unwrap_or_default();
                let count = count - count_before;
                (count >= 1.0).then(|| MeanTime {
                    what: what.clone(),
                    count: count as u64,
                    mean_ms: (sum - sum_before) / count * 1e3,
                })
            })
            .collect()
    }
}

/// A sample line `name{labels} value`; `None` for comments and other shapes.
fn sample(line: &str) -> Option<(&str, &str, f64)> {
    if line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    match series.split_once('{') {
        Some((name, labels)) => Some((name, labels.strip_suffix('}')?, value)),
        None => Some((series, "", value)),
    }
}

/// The value of `name` in `a="x",b="y"`.
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    labels.split("\",").find_map(|pair| {
        let (key, value) = pair.split_once("=\"")?;
        (key.trim_start_matches(',') == name).then(|| value.trim_end_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_over_a_window() {
        let before = Timings::parse(
            "# HELP kyso_http_request_duration_seconds Time to serve\n\
             kyso_http_request_duration_seconds_sum{method=\"GET\",route=\"/v1/certificates\"} 1\n\
             kyso_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/certificates\"} 1000\n",
        );
        let after = Timings::parse(
            "kyso_http_request_duration_seconds_sum{method=\"GET\",route=\"/v1/certificates\"} 3\n\
             kyso_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/certificates\"} 2000\n\
             kyso_ca_request_duration_seconds_sum{operation=\"certificates\",outcome=\"ok\",provider=\"vnpt\"} 0.5\n\
             kyso_ca_request_duration_seconds_count{operation=\"certificates\",outcome=\"ok\",provider=\"vnpt\"} 1000\n\
             kyso_ca_request_duration_seconds_sum{operation=\"certificates\",outcome=\"error\",provider=\"vnpt\"} 0.5\n\
             kyso_ca_request_duration_seconds_count{operation=\"certificates\",outcome=\"error\",provider=\"vnpt\"} 0\n",
        );
        let means = after.since(&before);
        assert_eq!(means.len(), 2);
        assert_eq!(means[0].what, "CA certificates");
        assert!((means[0].mean_ms - 1.0).abs() < 1e-9);
        assert_eq!(means[1].what, "GET /v1/certificates");
        assert_eq!(means[1].count, 1000);
        assert!((means[1].mean_ms - 2.0).abs() < 1e-9);
    }
}
