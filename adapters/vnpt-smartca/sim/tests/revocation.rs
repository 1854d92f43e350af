//! The VNPT simulator's revocation data, judged by `openssl`: the certificate get_certificate
//! returns points at the simulator's CRL and OCSP responder; both say `good`, then `revoked` with
//! the reason and time asked for once the citizen is revoked (through `/_sim` and through
//! [`SimControl`](kyso_sim_vnpt::SimControl)), and get_certificate reports it in VNPT's words.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_sim_kit::RevocationError;
use kyso_sim_kit::judge::{OpensslRun, ScratchDir, openssl, openssl_time};
use kyso_sim_vnpt::{Behaviour, CitizenSpec, RevocationReason, Revoke, SignatureScheme, SimConfig};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const AN: &str = "001099000001";
const DUNG: &str = "001099000004";

async fn judged(dir: &std::path::Path, args: &[&str]) -> OpensslRun {
    openssl(dir, args).await.expect("openssl runs")
}

fn pem(der_base64: &str) -> String {
    let der = BASE64.decode(der_base64).expect("base64");
    let body = BASE64.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).expect("ascii"))
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn revoking_a_citizen_shows_in_ocsp_the_crl_and_get_certificate() {
    let approve = Behaviour::ApproveAfter(Duration::ZERO);
    let sim = kyso_sim_vnpt::spawn(SimConfig {
        citizens: vec![
            CitizenSpec::new(AN, "Nguyễn Văn An", SignatureScheme::RsaPkcs1v15, approve),
            CitizenSpec::new(DUNG, "Phạm Thị Dung", SignatureScheme::EcdsaDer, approve),
        ],
        ..SimConfig::sandbox()
    })
    .await
    .expect("the simulator");
    let http = reqwest::Client::new();
    let config = SimConfig::sandbox();
    let get_certificate = |user_id: &str| {
        let request = http
            .post(format!("{}/v1/credentials/get_certificate", sim.base_url()))
            .json(&json!({
                "sp_id": config.sp_id, "sp_password": config.sp_password,
                "user_id": user_id, "transaction_id": "t",
            }));
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            body["data"]["user_certificates"][0].clone()
        }
    };

    // The chain as VNPT's protocol hands it out.
    let an = get_certificate(AN).await;
    assert_eq!(an["cert_status"], "Đang hoạt động");
    let scratch = ScratchDir::new("vnpt-revocation").unwrap();
    let dir = scratch.path();
    scratch
        .write("an.pem", pem(an["cert_data"].as_str().unwrap()))
        .unwrap();
    scratch
        .write(
            "issuer.pem",
            pem(an["chain_data"]["ca_cert"].as_str().unwrap()),
        )
        .unwrap();
    scratch
        .write(
            "root.pem",
            pem(an["chain_data"]["root_cert"].as_str().unwrap()),
        )
        .unwrap();
    let dung = get_certificate(DUNG).await;
    scratch
        .write("dung.pem", pem(dung["cert_data"].as_str().unwrap()))
        .unwrap();

    // The responder's URL is the one in the certificate.
    let ocsp_url = judged(dir, &["x509", "-in", "an.pem", "-noout", "-ocsp_uri"]).await;
    let ocsp_url = ocsp_url.stdout.trim().to_owned();
    assert_eq!(ocsp_url, format!("http://{}/_sim/pki/ocsp", sim.addr()));
    let ocsp_args = [
        "ocsp",
        "-issuer",
        "issuer.pem",
        "-cert",
        "an.pem",
        "-cert",
        "dung.pem",
        "-url",
        &ocsp_url,
        "-CAfile",
        "root.pem",
    ];
    let before = judged(dir, &ocsp_args).await;
    assert!(
        before.stderr.contains("Response verify OK"),
        "{}",
        before.output()
    );
    assert!(before.stdout.contains("an.pem: good"), "{}", before.stdout);
    assert!(
        before.stdout.contains("dung.pem: good"),
        "{}",
        before.stdout
    );

    // An through `/_sim`, as of a past time; Dung through the Rust control.
    let an_revoked_at =
        OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - time::Duration::hours(30);
    let response = http
        .post(format!("http://{}/_sim/citizens/{AN}/revoke", sim.addr()))
        .json(&json!({"reason": "keyCompromise", "revoked_at": an_revoked_at.format(&Rfc3339).unwrap()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let control = sim.control();
    let dung_revoked = control
        .revocation()
        .revoke_citizen(DUNG, &Revoke::because(RevocationReason::Superseded))
        .expect("revoked");
    assert_eq!(dung_revoked.len(), 1);
    assert_eq!(dung_revoked[0].issuer, "ca-0");
    assert!(matches!(
        control
            .revocation()
            .revoke_citizen(DUNG, &Revoke::default()),
        Err(RevocationError::AlreadyRevoked { .. })
    ));

    let after = judged(dir, &ocsp_args).await;
    assert!(
        after.stderr.contains("Response verify OK"),
        "{}",
        after.output()
    );
    let an_time = format!("Revocation Time: {}", openssl_time(an_revoked_at));
    let dung_time = format!(
        "Revocation Time: {}",
        openssl_time(dung_revoked[0].revocation.revoked_at)
    );
    let (an_part, dung_part) = after.stdout.split_once("dung.pem:").expect("two answers");
    assert!(an_part.contains("an.pem: revoked"), "{}", after.stdout);
    assert!(
        an_part.contains("Reason: keyCompromise"),
        "{}",
        after.stdout
    );
    assert!(an_part.contains(&an_time), "{an_time} in {}", after.stdout);
    assert!(dung_part.starts_with(" revoked"), "{}", after.stdout);
    assert!(dung_part.contains("Reason: superseded"), "{}", after.stdout);
    assert!(
        dung_part.contains(&dung_time),
        "{dung_time} in {}",
        after.stdout
    );

    // The CRL the certificate names lists both, and verifies under the chain.
    let crl_url = control.revocation().crl_url("ca-0").expect("a CRL URL");
    let crl = http.get(&crl_url).send().await.unwrap();
    assert_eq!(crl.headers()["content-type"], "application/pkix-crl");
    scratch.write("ca.crl", crl.bytes().await.unwrap()).unwrap();
    scratch
        .write(
            "chain.pem",
            format!(
                "{}{}",
                sim.root_certificate_pem(),
                std::fs::read_to_string(dir.join("issuer.pem")).unwrap()
            ),
        )
        .unwrap();
    let crl = judged(
        dir,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "ca.crl",
            "-CAfile",
            "chain.pem",
            "-noout",
            "-text",
        ],
    )
    .await;
    assert!(crl.stderr.contains("verify OK"), "{}", crl.output());
    for citizen in [&an, &dung] {
        let serial = citizen["serial_number"].as_str().unwrap();
        assert!(
            crl.stdout.contains(&format!("Serial Number: {serial}")),
            "{}",
            crl.stdout
        );
    }
    assert!(
        crl.stdout
            .contains(&format!("Revocation Date: {}", openssl_time(an_revoked_at)))
    );
    assert!(crl.stdout.contains("Key Compromise") && crl.stdout.contains("Superseded"));
    let text = judged(dir, &["x509", "-in", "an.pem", "-noout", "-text"]).await;
    assert!(
        text.stdout.contains(&format!("URI:{crl_url}")),
        "{}",
        text.stdout
    );

    // get_certificate reports both revoked, in VNPT's language.
    assert_eq!(get_certificate(AN).await["cert_status"], "Đã thu hồi");
    assert_eq!(get_certificate(DUNG).await["cert_status"], "Đã thu hồi");
    sim.stop().await;
}
