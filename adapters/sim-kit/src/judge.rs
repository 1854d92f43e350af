//! The `openssl` binary as an independent judge of what simulators publish (CRLs, OCSP
//! responses, certificates), for tests: [`openssl`] runs it off the async executor in a
//! [`ScratchDir`], and [`openssl_time`] writes a time the way it prints one.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use time::OffsetDateTime;

/// What one `openssl` run printed, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpensslRun {
    /// The exit code (-1 if it was killed by a signal).
    pub status: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl OpensslRun {
    /// Standard output and standard error together (openssl splits its verdicts between them).
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A fresh directory under the system's temporary directory, removed on drop.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Creates `kyso-<label>-<random>`.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn new(label: &str) -> io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "kyso-{label}-{}",
            hex::encode(rand::random::<[u8; 6]>())
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to the file `name` in it.
    ///
    /// # Errors
    /// Writing fails.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> io::Result<()> {
        std::fs::write(self.0.join(name), contents)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.0) {
            tracing::debug!(%error, dir = %self.0.display(), "removing a scratch directory failed");
        }
    }
}

/// Runs `openssl <args>` in `dir` on the blocking pool.
///
/// # Errors
/// `openssl` cannot be started (it is not installed), or the blocking task failed.
pub async fn openssl(dir: &Path, args: &[&str]) -> io::Result<OpensslRun> {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|&arg| arg.to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new("openssl")
            .args(&args)
            .current_dir(&dir)
            .output()?;
        Ok(OpensslRun {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    })
    .await
    .map_err(io::Error::other)?
}

/// A time as `openssl` prints one (`Jan  2 03:04:05 2026 GMT`), e.g. a revocation time.
pub fn openssl_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{} {:>2} {:02}:{:02}:{:02} {} GMT",
        &at.month().to_string()[..3],
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_look_like_openssl_s() {
        let at = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        assert_eq!(openssl_time(at), "Jan  2 03:04:05 2026 GMT");
        let at = time::macros::datetime!(2026-11-22 13:14:15 +07:00);
        assert_eq!(openssl_time(at), "Nov 22 06:14:15 2026 GMT");
    }
}
