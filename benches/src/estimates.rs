//! Reading back criterion's estimates of the current run, for the benches' ratio tables.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where criterion writes its estimates: `$CRITERION_HOME`, else `<target dir>/criterion`, the
/// target dir being the one this bench binary was built in (`<target>/<profile>/deps/<bench>-*`).
pub fn output_directory() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    std::env::current_exe()
        .ok()
        .as_deref()
        .and_then(|exe| exe.ancestors().nth(3))
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("criterion")
}

/// Criterion's point estimate (ns) of one function, as it prints it (the slope of its linear
/// sampling, else the mean), if criterion wrote it during this run.
pub fn fresh_estimate_ns(
    directory: &Path,
    group: &str,
    function: &str,
    since: SystemTime,
) -> Option<f64> {
    let path = directory
        .join(group)
        .join(function)
        .join("new")
        .join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let estimates: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    estimates["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| estimates["mean"]["point_estimate"].as_f64())
}
