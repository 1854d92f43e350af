//! What the PAdES tests share: test PDFs, a test PKI, a CMS made by `openssl cms`, and
//! pdfsig (poppler) as the independent judge.
//!
//! The external tools are required: a missing one fails the test with the command that
//! installs it, rather than skipping it.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use kyso_documents::pades::{PreparedPdf, SignatureOptions, embed, prepare};
use lopdf::content::{Content, Operation};
use lopdf::xref::XrefType;
use lopdf::{Document, Object, SaveOptions, Stream, dictionary};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use time::macros::datetime;

/// How a test PDF's cross-reference data is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XrefKind {
    /// A classic `xref` table and `trailer`.
    Table,
    /// A cross-reference stream, with objects in object streams.
    Stream,
}

/// A small PDF with `pages` pages of text, written by lopdf.
pub fn lopdf_pdf(kind: XrefKind, pages: usize) -> Vec<u8> {
    let mut document = Document::with_version("1.7");
    let pages_id = document.new_object_id();
    let font_id = document.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
    });
    let resources_id = document.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids = Vec::new();
    for number in 1..=pages {
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 24.into()]),
                Operation::new("Td", vec![72.into(), 700.into()]),
                Operation::new(
                    "Tj",
                    vec![Object::string_literal(format!(
                        "Page {number} of a test document"
                    ))],
                ),
                Operation::new("ET", vec![]),
            ],
        };
        let content_id = document.add_object(Stream::new(
            dictionary! {},
            content.encode().expect("encodes"),
        ));
        kids.push(
            document
                .add_object(dictionary! {
                    "Type" => "Page",
                    "Parent" => pages_id,
                    "Contents" => content_id,
                })
                .into(),
        );
    }
    document.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => i64::try_from(pages).expect("few pages"),
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = document.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    document.trailer.set("Root", catalog_id);
    document.trailer.set(
        "ID",
        vec![
            Object::String(
                b"kyso-test-id-0001".to_vec(),
                lopdf::StringFormat::Hexadecimal,
            ),
            Object::String(
                b"kyso-test-id-0001".to_vec(),
                lopdf::StringFormat::Hexadecimal,
            ),
        ],
    );
    let mut out = Vec::new();
    match kind {
        XrefKind::Table => {
            document.reference_table.cross_reference_type = XrefType::CrossReferenceTable;
            document.save_to(&mut out).expect("saves");
        }
        XrefKind::Stream => {
            document.reference_table.cross_reference_type = XrefType::CrossReferenceStream;
            let options = SaveOptions::builder()
                .use_object_streams(true)
                .use_xref_streams(true)
                .build();
            document
                .save_with_options(&mut out, options)
                .expect("saves");
        }
    }
    out
}

/// A scratch directory removed when dropped (kept when `KYSO_KEEP` is set, to look at).
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A fresh directory for one test.
    pub fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "kyso-pades-{}-{}-{name}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("creates the scratch directory");
        Self { path }
    }

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

/// A root CA, an issuing CA and a citizen (KU digitalSignature + nonRepudiation), as PEM
/// files in a scratch directory, with an NSS database trusting the root for pdfsig.
pub struct TestPki {
    pub scratch: Scratch,
    pub root_der: Vec<u8>,
    pub issuing_der: Vec<u8>,
    pub citizen_der: Vec<u8>,
}

impl TestPki {
    pub fn new(name: &str) -> Self {
        let scratch = Scratch::new(name);
        let ca_params = |common_name: &str| {
            let mut params = CertificateParams::new(Vec::new()).expect("params");
            params
                .distinguished_name
                .push(DnType::CommonName, common_name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            set_validity(&mut params);
            params
        };
        let root = CertifiedIssuer::self_signed(
            ca_params("Kyso Test Root CA"),
            KeyPair::generate().expect("key"),
        )
        .expect("root");
        let issuing = CertifiedIssuer::signed_by(
            ca_params("Kyso Test Issuing CA"),
            KeyPair::generate().expect("key"),
            &root,
        )
        .expect("issuing CA");
        let mut citizen_params = CertificateParams::new(Vec::new()).expect("params");
        citizen_params
            .distinguished_name
            .push(DnType::CommonName, "Nguyễn Văn Ánh");
        citizen_params
            .distinguished_name
            .push(DnType::CountryName, "VN");
        set_validity(&mut citizen_params);
        citizen_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        let citizen_key = KeyPair::generate().expect("key");
        let citizen = citizen_params
            .signed_by(&citizen_key, &issuing)
            .expect("citizen");

        scratch.write("root.pem", root.pem().as_bytes());
        scratch.write("chain.pem", issuing.pem().as_bytes());
        scratch.write("citizen.pem", citizen.pem().as_bytes());
        scratch.write("key.pem", citizen_key.serialize_pem().as_bytes());

        require_tool("certutil", "apt-get install -y libnss3-tools");
        let nss = scratch.path().join("nss");
        std::fs::create_dir_all(&nss).expect("creates the NSS directory");
        let nss_arg = format!("sql:{}", nss.display());
        run(Command::new("certutil").args(["-N", "--empty-password", "-d", &nss_arg]));
        run(Command::new("certutil")
            .args(["-A", "-d", &nss_arg, "-n", "root", "-t", "C,C,C", "-i"])
            .arg(scratch.path().join("root.pem")));

        Self {
            root_der: root.der().to_vec(),
            issuing_der: issuing.der().to_vec(),
            citizen_der: citizen.der().to_vec(),
            scratch,
        }
    }

    /// A detached CMS over the prepared PDF's covered bytes, made by `openssl cms -sign`.
    pub fn sign(&self, prepared: &PreparedPdf) -> Vec<u8> {
        let covered = prepared.byte_range().covered(prepared.bytes()).concat();
        self.sign_bytes(&covered)
    }

    /// A detached CMS over `data`, made by `openssl cms -sign`.
    pub fn sign_bytes(&self, data: &[u8]) -> Vec<u8> {
        require_tool("openssl", "apt-get install -y openssl");
        let dir = self.scratch.path();
        let input = self.scratch.write("covered.bin", data);
        let output = dir.join("sig.der");
        run(Command::new("openssl")
            .args(["cms", "-sign", "-binary", "-in"])
            .arg(&input)
            .arg("-signer")
            .arg(dir.join("citizen.pem"))
            .arg("-inkey")
            .arg(dir.join("key.pem"))
            .arg("-certfile")
            .arg(dir.join("chain.pem"))
            .args(["-outform", "DER", "-md", "sha256", "-nosmimecap", "-out"])
            .arg(&output));
        std::fs::read(output).expect("reads the CMS")
    }

    /// Prepares, signs with openssl and embeds: a signed PDF.
    pub fn sign_pdf(&self, pdf: &[u8], options: &SignatureOptions) -> Vec<u8> {
        let prepared = prepare(pdf, options).expect("prepares");
        let cms = self.sign(&prepared);
        embed(&prepared, &cms).expect("embeds")
    }

    /// pdfsig's verdict on `pdf`, with this PKI's root trusted.
    ///
    /// The root is trusted for S/MIME too (`C,C,C`): pdfsig checks the signer for the
    /// email-signer usage, and with `C,,` reports "issuer isn't Trusted". `-no-ocsp` is not
    /// passed: poppler 22.12 then reports "Unknown issue with Certificate" even for its own
    /// signatures. The test certificates name no OCSP responder, so nothing goes online.
    pub fn pdfsig(&self, pdf: &[u8]) -> Pdfsig {
        require_tool("pdfsig", "apt-get install -y poppler-utils");
        let path = self.scratch.write("judged.pdf", pdf);
        let nss_arg = format!("sql:{}", self.scratch.path().join("nss").display());
        let output = Command::new("pdfsig")
            .args(["-nssdir", &nss_arg])
            .arg(&path)
            .output()
            .expect("runs pdfsig");
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        Pdfsig::parse(text)
    }
}

/// The default options of the tests: claimed at a fixed time in Vietnam.
pub fn options() -> SignatureOptions {
    SignatureOptions::new(datetime!(2026-12-05 10:20:00 +07:00))
}

/// What pdfsig said about each signature.
#[derive(Debug)]
pub struct Pdfsig {
    pub text: String,
    pub signatures: Vec<PdfsigSignature>,
}

/// pdfsig's lines for one signature.
#[derive(Debug)]
pub struct PdfsigSignature {
    pub text: String,
}

impl PdfsigSignature {
    pub fn valid(&self) -> bool {
        self.text.contains("Signature is Valid.")
    }
    pub fn trusted(&self) -> bool {
        self.text.contains("Certificate is Trusted.")
    }
    pub fn total(&self) -> bool {
        self.text.contains("- Total document signed")
    }
    pub fn digest_mismatch(&self) -> bool {
        self.text.contains("Digest Mismatch.") || self.text.contains("Signature is Invalid.")
    }
}

impl Pdfsig {
    fn parse(text: String) -> Self {
        let signatures = text
            .split("Signature #")
            .skip(1)
            .map(|part| PdfsigSignature {
                text: part.to_owned(),
            })
            .collect();
        Self { text, signatures }
    }

    /// Panics unless every signature is valid and trusted and only the last covers the
    /// whole document.
    pub fn assert_all_valid(&self, count: usize) {
        assert_eq!(self.signatures.len(), count, "pdfsig said:\n{}", self.text);
        for (index, signature) in self.signatures.iter().enumerate() {
            assert!(
                signature.valid(),
                "signature {index} not valid:\n{}",
                self.text
            );
            assert!(
                signature.trusted(),
                "signature {index} not trusted:\n{}",
                self.text
            );
            let last = index + 1 == count;
            assert_eq!(
                signature.total(),
                last,
                "total document signed?\n{}",
                self.text
            );
        }
    }
}

/// Valid from a day ago for ten years (rcgen's default, up to the year 4096, upsets NSS).
fn set_validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
}

/// Fails the test, with the install command, when a tool is missing.
pub fn require_tool(tool: &str, install: &str) {
    let present = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        present,
        "{tool} is required by the PAdES tests and is missing; install it with `{install}`"
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
