//! The sandbox as a newcomer meets it: every CA simulator behind one gateway, the same
//! citizen holding a certificate at each, and a signing through every provider; and its
//! time-stamping authority, configured and answering.

use std::time::Duration;

use kyso_gateway::documents::timestamping::TimeStamper;
use kyso_gateway::metrics::Metrics;
use kyso_tests::{
    Gateway, digest_of, sandbox_for_tests, sandbox_token, sign_body, wait_until_final,
};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_citizen_signs_at_every_provider() {
    let (simulators, settings) = sandbox_for_tests().await;
    let gateway = Gateway::start(settings);
    let http = reqwest::Client::new();
    let token = sandbox_token(&http, &gateway.api).await;
    let providers: Value = http
        .get(format!("{}/v1/providers", gateway.api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<String> = providers["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|provider| provider["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        [
            "bkav", "csc", "fpt", "misa", "neac-ca2", "neac-fpt", "viettel", "vnpt"
        ]
    );

    // One call finds the citizen everywhere.
    let search: Value = http
        .get(format!(
            "{}/v1/certificates?user_id=001099000001",
            gateway.api
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for result in search["results"].as_array().unwrap() {
        assert_eq!(result["status"], "found", "{result}");
    }

    // And signs everywhere; the sandbox citizen approves after about two seconds.
    let mut transactions = Vec::new();
    for provider in &ids {
        let mut body = sign_body("001099000001", &digest_of(provider));
        body["provider"] = Value::from(provider.as_str());
        let response = http
            .post(format!("{}/v1/signatures", gateway.api))
            .bearer_auth(&token)
            .header("Idempotency-Key", format!("sandbox-{provider}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{provider}");
        let accepted: Value = response.json().await.unwrap();
        transactions.push((
            provider.clone(),
            accepted["transaction_id"].as_str().unwrap().to_owned(),
        ));
    }
    for (provider, id) in transactions {
        let done = wait_until_final(&http, &gateway.api, &token, &id).await;
        assert_eq!(done["status"], "signed", "{provider}: {done}");
        assert_eq!(
            done["documents"][0]["verification"]["indication"],
            "total_passed"
        );
    }
    tokio::time::timeout(Duration::from_secs(10), simulators.stop())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_sandbox_time_stamps_with_its_own_tsa() {
    let (simulators, settings) = sandbox_for_tests().await;
    let time_stamping = settings
        .documents
        .time_stamping
        .as_ref()
        .expect("the sandbox configures a TSA");
    let (name, url) = simulators
        .simulators()
        .into_iter()
        .find(|(name, _)| name.starts_with("TSA"))
        .expect("the TSA is listed among the simulators");
    assert_eq!(url, time_stamping.url, "{name}");
    let stamper = TimeStamper::from_settings(time_stamping, Metrics::new().unwrap()).unwrap();
    let token = stamper.stamp(b"a signature").await.expect("a token");
    token.check_trust(stamper.anchors()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), simulators.stop())
        .await
        .unwrap();
}
