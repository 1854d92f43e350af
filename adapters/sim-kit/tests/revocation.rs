//! The revocation data a simulator publishes, judged by the real `openssl` binary: the
//! certificates' pointers, the CRLs (`openssl crl`, `openssl verify -crl_check_all`) and the OCSP
//! responder (`openssl ocsp -url`, which builds its own requests, and `-respin`), before and
//! after the revoke control, and under every switch.

use std::path::Path;
use std::time::Duration;

use actix_web::web;
use kyso_sim_kit::control::{self, ControlError, ControlTarget};
use kyso_sim_kit::judge::{OpensslRun, ScratchDir, openssl, openssl_time};
use kyso_sim_kit::{
    Behaviour, CallGate, CitizenCertSpec, Decision, KeyKind, Revocation, SimServer, TestPki,
    base_url,
};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// A simulator with no CA protocol: only the kit's `/_sim` routes over a test PKI.
struct Kit {
    gate: CallGate,
    pki: TestPki,
}

impl ControlTarget for Kit {
    type Record = kyso_sim_kit::RecordedRequest;

    fn gate(&self) -> &CallGate {
        &self.gate
    }

    fn root_pem(&self) -> String {
        self.pki.root.pem.clone()
    }

    fn citizens(&self) -> impl serde::Serialize {
        Vec::<String>::new()
    }

    fn transactions(&self) -> impl serde::Serialize {
        Vec::<String>::new()
    }

    fn decide(&self, transaction: &str, _: Decision) -> Result<(), ControlError> {
        Err(ControlError::NotFound(transaction.to_owned()))
    }

    fn set_behaviour(&self, citizen: &str, _: Behaviour) -> Result<(), ControlError> {
        Err(ControlError::NotFound(citizen.to_owned()))
    }

    fn revocation(&self) -> &Revocation {
        &self.pki.revocation
    }
}

/// `openssl crl` verifying the issuing CA's CRL under the chain and printing it.
const CRL_TEXT: [&str; 11] = [
    "crl",
    "-inform",
    "DER",
    "-in",
    "ca-0.crl",
    "-CAfile",
    "chain.pem",
    "-noout",
    "-text",
    "-nameopt",
    "utf8",
];

async fn judged(dir: &Path, args: &[&str]) -> OpensslRun {
    openssl(dir, args).await.expect("openssl runs")
}

/// A running kit simulator, and a scratch directory holding its `root.pem`, `issuer.pem` (the
/// issuing CA) and `an.pem` (citizen 001's certificate).
async fn start() -> (web::Data<Kit>, SimServer, ScratchDir) {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("a port");
    let base = base_url(listener.local_addr().expect("an address"));
    let pki = tokio::task::spawn_blocking(move || {
        TestPki::builder("Revocation Test Root")
            .issuing_ca("Revocation Test CA")
            .citizen(CitizenCertSpec::new("Nguyễn Văn An", "001", KeyKind::P256))
            .citizen(CitizenCertSpec::new("Trần Thị Bình", "002", KeyKind::P256))
            .served_at(base)
            .build()
    })
    .await
    .expect("the PKI task")
    .expect("the PKI");
    let kit = web::Data::new(Kit {
        gate: CallGate::new(),
        pki,
    });
    let data = kit.clone();
    let server = SimServer::start("revocation", listener, move |cfg| {
        cfg.app_data(data.clone())
            .configure(control::configure::<Kit>);
    })
    .expect("the server");
    let scratch = ScratchDir::new("revocation").expect("a scratch directory");
    let pki = &kit.pki;
    for (name, pem) in [
        ("root.pem", &pki.root.pem),
        ("issuer.pem", &pki.issuing_cas[0].pem),
        ("an.pem", &pki.citizens[0].certificate.pem),
    ] {
        scratch.write(name, pem).expect("written");
    }
    (kit, server, scratch)
}

#[tokio::test]
async fn crl_and_ocsp_satisfy_openssl_before_and_after_revocation() {
    let (kit, server, scratch) = start().await;
    let dir = scratch.path();
    let write = |name: &str, contents: &[u8]| scratch.write(name, contents).unwrap();
    let pki = &kit.pki;
    write(
        "chain.pem",
        format!("{}{}", pki.root.pem, pki.issuing_cas[0].pem).as_bytes(),
    );
    write("binh.pem", pki.citizens[1].certificate.pem.as_bytes());
    let ocsp_url = server.url("/_sim/pki/ocsp");
    assert_eq!(
        pki.revocation.ocsp_url().as_deref(),
        Some(ocsp_url.as_str())
    );

    // The certificates point at the simulator itself: the citizen at its CA's CRL, the issuing
    // CA at the root's; both at the responder.
    let text = judged(dir, &["x509", "-in", "an.pem", "-noout", "-text"]).await;
    assert!(
        text.stdout
            .contains(&format!("URI:{}", server.url("/_sim/pki/crl/ca-0.crl")))
    );
    assert!(
        text.stdout.contains(&format!("OCSP - URI:{ocsp_url}")),
        "{}",
        text.stdout
    );
    let text = judged(dir, &["x509", "-in", "issuer.pem", "-noout", "-text"]).await;
    assert!(
        text.stdout
            .contains(&format!("URI:{}", server.url("/_sim/pki/crl/root.crl")))
    );
    assert!(text.stdout.contains(&format!("OCSP - URI:{ocsp_url}")));

    let http = reqwest::Client::new();
    let fetch_crls = || async {
        for id in ["root", "ca-0"] {
            let response = http
                .get(server.url(&format!("/_sim/pki/crl/{id}.crl")))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["content-type"], "application/pkix-crl");
            write(&format!("{id}.crl"), &response.bytes().await.unwrap());
        }
    };

    // Nothing revoked: the CRLs verify, list nothing, and the chain passes a CRL check.
    fetch_crls().await;
    let crl = judged(dir, &CRL_TEXT).await;
    assert_eq!(crl.status, 0, "{}", crl.stderr);
    assert!(crl.stderr.contains("verify OK"), "{}", crl.stderr);
    assert!(
        crl.stdout.contains("No Revoked Certificates"),
        "{}",
        crl.stdout
    );
    assert!(
        crl.stdout
            .contains("X509v3 CRL Number: \n                1\n"),
        "{}",
        crl.stdout
    );
    let root_crl = judged(
        dir,
        &[
            "crl", "-inform", "DER", "-in", "root.crl", "-CAfile", "root.pem", "-noout",
        ],
    )
    .await;
    assert!(root_crl.stderr.contains("verify OK"), "{}", root_crl.stderr);
    let verify_args = [
        "verify",
        "-crl_check_all",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "issuer.pem",
        "-CRLfile",
        "root.crl",
        "-CRLfile",
        "ca-0.crl",
        "an.pem",
    ];
    let verify = judged(dir, &verify_args).await;
    assert_eq!(verify.status, 0, "{}{}", verify.stdout, verify.stderr);
    assert!(verify.stdout.contains("an.pem: OK"));

    // OCSP through openssl's own request (two CertIDs, a nonce): both good, signed by the CA.
    let ocsp_args = [
        "ocsp",
        "-issuer",
        "issuer.pem",
        "-cert",
        "an.pem",
        "-cert",
        "binh.pem",
        "-url",
        &ocsp_url,
        "-CAfile",
        "root.pem",
    ];
    let ocsp = judged(dir, &ocsp_args).await;
    assert_eq!(ocsp.status, 0, "{}", ocsp.stderr);
    assert!(
        ocsp.stderr.contains("Response verify OK"),
        "{}",
        ocsp.stderr
    );
    assert!(
        !ocsp.stderr.contains("nonce"),
        "the nonce is echoed: {}",
        ocsp.stderr
    );
    assert!(ocsp.stdout.contains("an.pem: good"), "{}", ocsp.stdout);
    assert!(ocsp.stdout.contains("binh.pem: good"), "{}", ocsp.stdout);
    assert!(ocsp.stdout.contains("Next Update:"));

    // Revoke An as of three days ago, for key compromise.
    let revoked_at =
        OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - time::Duration::days(3);
    let response = http
        .post(server.url("/_sim/citizens/001/revoke"))
        .json(&json!({
            "reason": "keyCompromise",
            "revoked_at": revoked_at.format(&time::format_description::well_known::Rfc3339).unwrap(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let serial = pki.citizens[0].certificate.serial_hex();
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"user_id": "001", "revoked": [{
            "serial_number": serial,
            "issuer": "ca-0",
            "revoked_at": revoked_at.format(&time::format_description::well_known::Rfc3339).unwrap(),
            "reason": "keyCompromise",
        }]})
    );
    assert!(
        pki.revocation
            .is_revoked(&pki.citizens[0].certificate.serial)
    );

    let ocsp = judged(dir, &ocsp_args).await;
    assert!(
        ocsp.stderr.contains("Response verify OK"),
        "{}",
        ocsp.stderr
    );
    assert!(ocsp.stdout.contains("an.pem: revoked"), "{}", ocsp.stdout);
    assert!(
        ocsp.stdout.contains("Reason: keyCompromise"),
        "{}",
        ocsp.stdout
    );
    let time = format!("Revocation Time: {}", openssl_time(revoked_at));
    assert!(ocsp.stdout.contains(&time), "{time} in {}", ocsp.stdout);
    assert!(ocsp.stdout.contains("binh.pem: good"), "{}", ocsp.stdout);

    // The next CRL has the next number and lists An with the date and reason.
    fetch_crls().await;
    let crl = judged(dir, &CRL_TEXT).await;
    assert!(crl.stderr.contains("verify OK"), "{}", crl.stderr);
    assert!(
        crl.stdout
            .contains("X509v3 CRL Number: \n                2\n"),
        "{}",
        crl.stdout
    );
    assert!(
        crl.stdout.contains(&format!("Serial Number: {serial}")),
        "{}",
        crl.stdout
    );
    assert!(
        crl.stdout
            .contains(&format!("Revocation Date: {}", openssl_time(revoked_at)))
    );
    assert!(crl.stdout.contains("Key Compromise"), "{}", crl.stdout);
    let verify = judged(dir, &verify_args).await;
    assert_ne!(verify.status, 0);
    assert!(
        verify.stdout.contains("certificate revoked")
            || verify.stderr.contains("certificate revoked")
    );

    // Revoking again is a conflict; an unknown citizen is not found; a future time is refused.
    for (citizen, body, status) in [
        ("001", Value::Null, 409),
        ("999", Value::Null, 404),
        ("002", json!({"revoked_at": "2999-01-01T00:00:00Z"}), 400),
        ("002", json!({"reason": "boredom"}), 400),
    ] {
        let request = http.post(server.url(&format!("/_sim/citizens/{citizen}/revoke")));
        let request = if body.is_null() {
            request
        } else {
            request.json(&body)
        };
        assert_eq!(
            request.send().await.unwrap().status(),
            status,
            "{citizen} {body}"
        );
    }
    assert!(
        !pki.revocation
            .is_revoked(&pki.citizens[1].certificate.serial)
    );

    server.stop().await;
}

#[tokio::test]
async fn switches_make_the_responder_misbehave() {
    let (kit, server, scratch) = start().await;
    let dir = scratch.path();
    let write = |name: &str, contents: &[u8]| scratch.write(name, contents).unwrap();
    let http = reqwest::Client::new();
    let switch = |body: Value| {
        let request = http.post(server.url("/_sim/pki/switches")).json(&body);
        async move { assert_eq!(request.send().await.unwrap().status(), 204) }
    };
    let ocsp_url = server.url("/_sim/pki/ocsp");

    // A request openssl wrote (SHA-256 CertID), POSTed by hand, judged with -respin.
    let reqout = judged(
        dir,
        &[
            "ocsp",
            "-sha256",
            "-issuer",
            "issuer.pem",
            "-cert",
            "an.pem",
            "-reqout",
            "req.der",
        ],
    )
    .await;
    assert_eq!(reqout.status, 0, "{}", reqout.stderr);
    let request = std::fs::read(dir.join("req.der")).unwrap();
    let post = || {
        let request = http
            .post(&ocsp_url)
            .header("content-type", "application/ocsp-request")
            .body(request.clone());
        async move { request.send().await.unwrap() }
    };
    let judge = || {
        judged(
            dir,
            &[
                "ocsp",
                "-sha256",
                "-respin",
                "resp.der",
                "-issuer",
                "issuer.pem",
                "-cert",
                "an.pem",
                "-CAfile",
                "root.pem",
                "-no_nonce",
            ],
        )
    };

    // Delegated: the CA's responder certificate (EKU OCSPSigning) signs; openssl accepts it.
    switch(json!({"ocsp_signer": "delegated"})).await;
    let response = post().await;
    assert_eq!(
        response.headers()["content-type"],
        "application/ocsp-response"
    );
    write("resp.der", &response.bytes().await.unwrap());
    let run = judge().await;
    assert!(run.stderr.contains("Response verify OK"), "{}", run.stderr);
    assert!(run.stdout.contains("an.pem: good"), "{}", run.stdout);
    let text = judged(
        dir,
        &["ocsp", "-respin", "resp.der", "-resp_text", "-noverify"],
    )
    .await;
    assert!(
        text.stdout.contains("Revocation Test CA OCSP Responder"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("OCSP Signing"), "{}", text.stdout);

    // Foreign: a key no CA certified; openssl refuses the response.
    switch(json!({"ocsp_signer": "foreign"})).await;
    write("resp.der", &post().await.bytes().await.unwrap());
    let run = judge().await;
    assert!(
        run.stderr.contains("Response Verify Failure"),
        "{}",
        run.stderr
    );

    // Stale: nextUpdate already past.
    switch(json!({"ocsp_stale": true})).await;
    write("resp.der", &post().await.bytes().await.unwrap());
    let run = judge().await;
    assert!(run.stderr.contains("Response verify OK"), "{}", run.stderr);
    assert!(
        run.stdout.contains("Status times invalid"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("status expired"), "{}", run.stdout);

    // Down: 503 for OCSP and CRL; hanging: later than a client's patience.
    switch(json!({"ocsp_outage": {"kind": "unavailable"}, "crl_outage": {"kind": "unavailable"}}))
        .await;
    assert_eq!(post().await.status(), 503);
    let crl = http
        .get(server.url("/_sim/pki/crl/ca-0.crl"))
        .send()
        .await
        .unwrap();
    assert_eq!(crl.status(), 503);
    switch(json!({"ocsp_outage": {"kind": "hang", "millis": 3000}})).await;
    let impatient = http
        .post(&ocsp_url)
        .body(request.clone())
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(impatient.is_err_and(|e| e.is_timeout()));
    assert_eq!(
        http.get(server.url("/_sim/pki/switches"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["ocsp_outage"],
        json!({"kind": "hang", "millis": 3000})
    );

    // Reset: answers again; a CA it does not know is unauthorized; garbage is malformed.
    switch(json!({})).await;
    assert_eq!(post().await.status(), 200);
    let foreign = kit.pki.revocation.foreign_responder_certificate();
    write("foreign.pem", foreign.pem.as_bytes());
    let run = judged(
        dir,
        &[
            "ocsp",
            "-issuer",
            "foreign.pem",
            "-serial",
            "0x01",
            "-url",
            &ocsp_url,
            "-CAfile",
            "root.pem",
        ],
    )
    .await;
    assert!(
        run.stdout.contains("unauthorized") || run.stderr.contains("unauthorized"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let garbage = http.post(&ocsp_url).body("hello").send().await.unwrap();
    assert_eq!(garbage.status(), 200);
    write("resp.der", &garbage.bytes().await.unwrap());
    let text = judged(
        dir,
        &["ocsp", "-respin", "resp.der", "-resp_text", "-noverify"],
    )
    .await;
    assert!(
        text.stdout.contains("malformedrequest"),
        "{}{}",
        text.stdout,
        text.stderr
    );

    server.stop().await;
}
