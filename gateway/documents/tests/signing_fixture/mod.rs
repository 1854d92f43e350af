//! What the document tests share: one test PKI with citizens of every key kind and a TSA
//! under its root, and the `openssl` judge.

#![allow(dead_code, unreachable_pub)]

use std::sync::LazyLock;

use kyso_documents::cms::{self, SignatureAlgorithm, SignedAttributes, SignedCms};
use kyso_documents::timestamp::{TimeStampRequest, TimeStampToken};
use kyso_sim_kit::judge::{OpensslRun, ScratchDir, openssl};
use kyso_sim_kit::{
    CitizenCertSpec, IssuedCitizen, KeyKind, SignatureScheme, TestPki, TimeStampAuthority,
};
use kyso_verify::TrustAnchors;

/// The PKI: one issuing CA; citizens 0 (RSA), 1 (P-256), 2 (RSA, the "other" citizen).
pub struct Fixture {
    pub pki: TestPki,
    pub tsa: TimeStampAuthority,
    pub anchors: TrustAnchors,
}

pub static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let pki = TestPki::builder("Documents Test Root")
        .issuing_ca("Documents Test CA")
        .citizen(CitizenCertSpec::new(
            "Nguyễn Văn An",
            "001099000001",
            KeyKind::Rsa2048,
        ))
        .citizen(CitizenCertSpec::new(
            "Phạm Thị Dung",
            "001099000004",
            KeyKind::P256,
        ))
        .citizen(CitizenCertSpec::new(
            "Trần Thị Bình",
            "001099000007",
            KeyKind::Rsa2048,
        ))
        .build()
        .expect("the test PKI");
    let tsa = TimeStampAuthority::new(&pki, "Documents Test TSA").expect("the TSA");
    let anchors = TrustAnchors::from_der(vec![pki.root.der.clone()]).expect("anchors");
    Fixture { pki, tsa, anchors }
});

impl Fixture {
    pub fn rsa(&self) -> &IssuedCitizen {
        &self.pki.citizens[0]
    }

    pub fn ec(&self) -> &IssuedCitizen {
        &self.pki.citizens[1]
    }

    pub fn other(&self) -> &IssuedCitizen {
        &self.pki.citizens[2]
    }

    /// The intermediates a CA would send with a citizen's certificate.
    pub fn chain(&self) -> Vec<Vec<u8>> {
        vec![self.pki.issuing_cas[0].der.clone()]
    }

    /// The citizen's CA signs the attributes' digest, as a remote CA would.
    pub fn sign(
        &self,
        citizen: &IssuedCitizen,
        scheme: SignatureScheme,
        attributes: &SignedAttributes,
    ) -> Vec<u8> {
        citizen
            .key
            .sign(scheme, &attributes.digest_to_sign())
            .expect("signed")
    }

    /// B-B: the signature made and assembled.
    pub fn assemble(
        &self,
        citizen: &IssuedCitizen,
        scheme: SignatureScheme,
        algorithm: SignatureAlgorithm,
        attributes: &SignedAttributes,
    ) -> SignedCms {
        let signature = self.sign(citizen, scheme, attributes);
        cms::assemble(
            attributes,
            algorithm,
            &signature,
            &citizen.certificate.der,
            &self.chain(),
        )
        .expect("assembled")
    }

    /// A checked token from the TSA over `cms`'s signature.
    pub fn time_stamp(&self, cms: &SignedCms) -> TimeStampToken {
        let request = TimeStampRequest::for_signature(&cms.signature_value().expect("a signature"))
            .expect("a request");
        let reply = self.tsa.respond(request.to_der()).expect("a reply");
        request
            .check_response(&reply, &self.anchors)
            .expect("a good token")
    }
}

/// Runs `openssl` in `dir`; fails the test if openssl is not installed.
pub async fn run_openssl(dir: &ScratchDir, args: &[&str]) -> OpensslRun {
    openssl(dir.path(), args)
        .await
        .expect("openssl must be installed: it is the independent judge of these tests")
}

/// `openssl cms -verify` of the detached `p7s` over `content`, trusting the root only.
pub async fn openssl_cms_verify(p7s: &[u8], content: &[u8]) -> OpensslRun {
    let dir = ScratchDir::new("cms").expect("a scratch dir");
    dir.write("s.p7s", p7s).expect("written");
    dir.write("data", content).expect("written");
    dir.write("root.pem", &FIXTURE.pki.root.pem)
        .expect("written");
    run_openssl(
        &dir,
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "s.p7s",
            "-content",
            "data",
            "-CAfile",
            "root.pem",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
    )
    .await
}

/// Whether `openssl cms -verify` accepted.
pub fn accepted(run: &OpensslRun) -> bool {
    run.status == 0 && run.output().contains("Verification successful")
}

/// `openssl ts -verify` of a bare token over the imprint `digest`, trusting the root only.
pub async fn openssl_ts_verify(token: &[u8], digest: &[u8]) -> OpensslRun {
    let dir = ScratchDir::new("ts").expect("a scratch dir");
    dir.write("token.der", token).expect("written");
    dir.write("root.pem", &FIXTURE.pki.root.pem)
        .expect("written");
    let digest = hex(digest);
    run_openssl(
        &dir,
        &[
            "ts",
            "-verify",
            "-token_in",
            "-in",
            "token.der",
            "-digest",
            &digest,
            "-CAfile",
            "root.pem",
        ],
    )
    .await
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
