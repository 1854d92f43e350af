//! The independent judges of signed documents: poppler's `pdfsig` for PDFs, with an NSS
//! database trusting the test roots, and `openssl cms -verify` for detached `.p7s`.
//!
//! The tools are required: a missing one fails the test with the command that installs it
//! (`scripts/test` installs them), never a silent skip.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory removed when dropped (kept when `KYSO_KEEP` is set, to look at).
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A fresh directory.
    pub fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("kyso-{name}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("creates the scratch directory");
        Self { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` to `name` in the directory and returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, bytes).expect("writes");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("KYSO_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Fails the test, with the install command, when a tool is missing.
pub fn require_tool(tool: &str, install: &str) {
    let present = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        present,
        "{tool} is required by this test and is missing; install it with `{install}` (scripts/test does)"
    );
}

/// Runs a command, failing the test with its output if it fails.
pub fn run(command: &mut Command) -> std::process::Output {
    let output = command.output().expect("starts the command");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// pdfsig with an NSS database that trusts the given roots.
pub struct PdfsigJudge {
    scratch: Scratch,
}

impl PdfsigJudge {
    /// A judge trusting `roots_pem` (PEM certificates). Roots are trusted for S/MIME too
    /// (`C,C,C`): pdfsig checks signers for the email-signer usage.
    pub fn trusting(roots_pem: &[&str]) -> Self {
        require_tool("certutil", "apt-get install -y libnss3-tools");
        require_tool("pdfsig", "apt-get install -y poppler-utils");
        let scratch = Scratch::new("pdfsig");
        let nss = scratch.path().join("nss");
        std::fs::create_dir_all(&nss).expect("creates the NSS directory");
        let nss_arg = format!("sql:{}", nss.display());
        run(Command::new("certutil").args(["-N", "--empty-password", "-d", &nss_arg]));
        for (index, root) in roots_pem.iter().enumerate() {
            let path = scratch.write(&format!("root{index}.pem"), root.as_bytes());
            run(Command::new("certutil")
                .args(["-A", "-d", &nss_arg, "-n", &format!("root{index}")])
                .args(["-t", "C,C,C", "-i"])
                .arg(path));
        }
        Self { scratch }
    }

    /// pdfsig's verdict on `pdf`, one entry per signature in file order.
    pub fn judge(&self, pdf: &[u8]) -> PdfsigVerdict {
        let path = self.scratch.write("judged.pdf", pdf);
        let nss_arg = format!("sql:{}", self.scratch.path().join("nss").display());
        let output = Command::new("pdfsig")
            .args(["-nssdir", &nss_arg])
            .arg(&path)
            .output()
            .expect("runs pdfsig");
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        let signatures = text
            .split("Signature #")
            .skip(1)
            .map(str::to_owned)
            .collect();
        PdfsigVerdict { text, signatures }
    }
}

/// What pdfsig said.
#[derive(Debug)]
pub struct PdfsigVerdict {
    /// Its whole output.
    pub text: String,
    /// Its lines about each signature.
    pub signatures: Vec<String>,
}

impl PdfsigVerdict {
    /// Panics unless there are `count` signatures, each valid and trusted, and only the last
    /// covers the whole document (the earlier ones are followed by incremental updates).
    pub fn assert_all_valid(&self, count: usize) {
        assert_eq!(self.signatures.len(), count, "pdfsig said:\n{}", self.text);
        for (index, signature) in self.signatures.iter().enumerate() {
            assert!(
                signature.contains("Signature is Valid."),
                "signature {index} not valid:\n{}",
                self.text
            );
            assert!(
                signature.contains("Certificate is Trusted."),
                "signature {index} not trusted:\n{}",
                self.text
            );
            assert_eq!(
                signature.contains("- Total document signed"),
                index + 1 == count,
                "total document signed?\n{}",
                self.text
            );
        }
    }

    /// Whether pdfsig found a signature that does not match the bytes.
    pub fn any_mismatch(&self) -> bool {
        self.signatures.iter().any(|signature| {
            signature.contains("Digest Mismatch.") || signature.contains("Signature is Invalid.")
        })
    }
}

/// Whether `openssl cms -verify` accepts the detached `p7s` over `content`, with `root_pem`
/// the only trusted root (and the signer's usage not restricted to S/MIME).
pub fn openssl_cms_verifies(p7s: &[u8], content: &[u8], root_pem: &str) -> bool {
    require_tool("openssl", "apt-get install -y openssl");
    let scratch = Scratch::new("cms");
    let signature = scratch.write("file.p7s", p7s);
    let data = scratch.write("file.bin", content);
    let root = scratch.write("root.pem", root_pem.as_bytes());
    Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
        ])
        .arg("-in")
        .arg(signature)
        .arg("-content")
        .arg(data)
        .arg("-CAfile")
        .arg(root)
        .args(["-out", "/dev/null"])
        .output()
        .is_ok_and(|output| output.status.success())
}
