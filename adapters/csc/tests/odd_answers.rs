//! The adapter against canned answers the simulator never gives: other services' spellings,
//! HTML error pages, disabled or PSS-only keys, and answers that break the protocol.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use kyso_adapter_core::{
    AdapterError, CaAdapter, CaSession, DocumentDigest, HashAlgorithm, SignOutcome, SignRequest,
};
use kyso_adapter_csc::{CscKind, CscSettings, UserIdTemplate};
use kyso_adapter_testkit::build_adapter;
use serde_json::{Value, json};

/// What the canned service answers to a method path: HTTP status and body text.
type Answers = dyn Fn(&str) -> (u16, String) + Send + Sync;

/// Serves `answers` on a loopback port from a plain thread (one connection at a time, closed
/// after each answer); returns the base URL.
fn canned(answers: Arc<Answers>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
            let mut content_length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    content_length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; content_length];
            reader.read_exact(&mut body).unwrap();
            let method = path.trim_start_matches("/csc/v2/");
            let (status, text) = answers(method);
            let content_type = if text.starts_with('<') {
                "text/html"
            } else {
                "application/json"
            };
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    format!("http://{addr}/csc/v2")
}

fn adapter(base_url: String) -> Arc<dyn CaAdapter> {
    build_adapter::<CscKind>(
        CscSettings {
            base_url,
            client_id: "id".into(),
            client_secret: "secret".to_owned().into(),
            user_id_template: UserIdTemplate::default(),
        },
        Duration::from_secs(2),
    )
}

fn session() -> CaSession {
    CaSession {
        token: "token".into(),
        expires_in_secs: 3600,
    }
}

fn sign_request(documents: usize) -> SignRequest {
    SignRequest {
        transaction_id: "t1".into(),
        user_id: "001099000001".into(),
        certificate_id: "cred-1".into(),
        hash_algorithm: HashAlgorithm::Sha256,
        documents: (0..documents)
            .map(|n| DocumentDigest {
                id: format!("doc-{n}"),
                name: format!("doc-{n}.pdf"),
                digest: vec![u8::try_from(n).unwrap(); 32],
            })
            .collect(),
        description: String::new(),
    }
}

/// A service with credential `cred-1` whose `credentials/info` is `info` and whose other
/// methods answer as `rest` says.
fn service(info: Value, rest: impl Fn(&str) -> (u16, String) + Send + Sync + 'static) -> String {
    let info = info.to_string();
    canned(Arc::new(move |method: &str| match method {
        "credentials/list" => (200, json!({ "credentialIDs": ["cred-1"] }).to_string()),
        "credentials/info" => (200, info.clone()),
        other => rest(other),
    }))
}

fn rsa_info() -> Value {
    json!({
        "key": { "status": "enabled", "algo": ["1.2.840.113549.1.1.11"] },
        "cert": { "status": "valid", "certificates": ["AQID", "BAUG"] },
        "multisign": "2"
    })
}

#[tokio::test]
async fn login_without_lifetime_gets_the_csc_default_and_an_empty_token_is_refused() {
    let good = canned(Arc::new(|_: &str| {
        (
            200,
            json!({ "access_token": "abc", "token_type": "Bearer" }).to_string(),
        )
    }));
    assert_eq!(
        adapter(good).open_session().await.unwrap().expires_in_secs,
        3600
    );
    let empty = canned(Arc::new(|_: &str| {
        (200, json!({ "access_token": "" }).to_string())
    }));
    assert!(matches!(
        adapter(empty).open_session().await.unwrap_err(),
        AdapterError::UpstreamProtocol(_)
    ));
    let garbage = canned(Arc::new(|_: &str| (200, "<html>login</html>".to_owned())));
    assert!(matches!(
        adapter(garbage).open_session().await.unwrap_err(),
        AdapterError::UpstreamProtocol(_)
    ));
}

#[tokio::test]
async fn error_pages_without_csc_bodies_map_by_status() {
    for (status, check) in [
        (
            401,
            (|e: &AdapterError| matches!(e, AdapterError::SessionExpired))
                as fn(&AdapterError) -> bool,
        ),
        (502, |e| matches!(e, AdapterError::Unavailable(_))),
        (500, |e| e.is_retryable()),
        (404, |e| {
            matches!(e, AdapterError::UpstreamStatus { status: 404, .. })
        }),
    ] {
        let url = canned(Arc::new(move |_: &str| {
            (status, "<html>proxy</html>".to_owned())
        }));
        let error = adapter(url)
            .certificates(Some(&session()), "001099000001")
            .await
            .unwrap_err();
        assert!(check(&error), "{status}: {error}");
    }
}

#[tokio::test]
async fn unknown_user_refused_by_the_service_is_no_certificate() {
    let url = canned(Arc::new(|_: &str| {
        (
            400,
            json!({ "error": "invalid_request", "error_description": "Invalid parameter userID" })
                .to_string(),
        )
    }));
    let found = adapter(url)
        .certificates(Some(&session()), "079200000999")
        .await
        .unwrap();
    assert!(found.is_empty());
}

#[tokio::test]
async fn certificates_split_leaf_and_chain_and_report_unusable_keys() {
    let url = service(rsa_info(), |_| (500, String::new()));
    let found = adapter(url)
        .certificates(Some(&session()), "001099000001")
        .await
        .unwrap();
    assert_eq!(found[0].certificate_id, "cred-1");
    assert_eq!(found[0].certificate_der, vec![1, 2, 3]);
    assert_eq!(found[0].chain_der, vec![vec![4, 5, 6]]);
    assert!(found[0].active);

    for info in [
        json!({ "key": { "status": "disabled", "algo": ["1.2.840.113549.1.1.11"] },
                "cert": { "certificates": ["AQID"] } }),
        json!({ "key": { "algo": ["1.2.840.113549.1.1.11"] },
                "cert": { "status": "revoked", "certificates": ["AQID"] } }),
        json!({ "key": { "algo": ["1.2.840.113549.1.1.11"] },
                "cert": { "certificates": ["AQID"] }, "authMode": "oauth2code" }),
    ] {
        let url = service(info.clone(), |_| (500, String::new()));
        let adapter = adapter(url);
        let found = adapter
            .certificates(Some(&session()), "001099000001")
            .await
            .unwrap();
        assert!(!found[0].active, "{info}");
        let error = adapter
            .begin_sign(Some(&session()), &sign_request(1))
            .await
            .unwrap_err();
        assert!(
            matches!(error, AdapterError::CertificateUnusable(_)),
            "{info}: {error}"
        );
    }

    let url = service(json!({ "key": { "algo": [] }, "cert": {} }), |_| {
        (500, String::new())
    });
    assert!(matches!(
        adapter(url)
            .certificates(Some(&session()), "001099000001")
            .await
            .unwrap_err(),
        AdapterError::UpstreamProtocol(_)
    ));
}

#[tokio::test]
async fn pss_only_key_and_multisign_are_checked_before_authorize() {
    let pss =
        json!({ "key": { "algo": "1.2.840.113549.1.1.10" }, "cert": { "certificates": ["AQID"] } });
    let url = service(pss, |method| panic!("{method} must not be called"));
    let error = adapter(url)
        .begin_sign(Some(&session()), &sign_request(1))
        .await
        .unwrap_err();
    assert!(
        matches!(error, AdapterError::CertificateUnusable(_)),
        "{error}"
    );

    let url = service(rsa_info(), |method| panic!("{method} must not be called"));
    let error = adapter(url)
        .begin_sign(Some(&session()), &sign_request(3))
        .await
        .unwrap_err();
    assert!(matches!(error, AdapterError::InvalidRequest(_)), "{error}");
}

#[tokio::test]
async fn authorize_answers_that_break_the_protocol_are_protocol_errors() {
    for answer in [(202, json!({})), (200, json!({ "expiresIn": 3600 }))] {
        let body = answer.1.to_string();
        let url = service(rsa_info(), move |_| (answer.0, body.clone()));
        let error = adapter(url)
            .begin_sign(Some(&session()), &sign_request(1))
            .await
            .unwrap_err();
        assert!(
            matches!(error, AdapterError::UpstreamProtocol(_)),
            "{error}"
        );
    }
}

#[tokio::test]
async fn sign_hash_must_return_one_base64_signature_per_hash() {
    for signed in [
        json!({ "signatures": ["AAAA"] }),
        json!({ "signatures": ["AAAA", "not base64!"] }),
        json!({ "responseID": "r-1" }),
    ] {
        let body = signed.to_string();
        let url = service(rsa_info(), move |method| match method {
            "credentials/authorize" => (200, json!({ "SAD": "sad", "expiresIn": 60 }).to_string()),
            _ => (200, body.clone()),
        });
        let error = adapter(url)
            .begin_sign(Some(&session()), &sign_request(2))
            .await
            .unwrap_err();
        assert!(
            matches!(error, AdapterError::UpstreamProtocol(_)),
            "{signed}: {error}"
        );
    }
    let url = service(rsa_info(), |method| match method {
        "credentials/authorize" => (200, json!({ "SAD": "sad" }).to_string()),
        _ => (200, json!({ "signatures": ["AAAA", "AQID"] }).to_string()),
    });
    let SignOutcome::Signed(signatures) = adapter(url)
        .begin_sign(Some(&session()), &sign_request(2))
        .await
        .unwrap()
    else {
        panic!("signed expected");
    };
    assert_eq!(signatures[1].document_id, "doc-1");
    assert_eq!(signatures[1].signature, vec![1, 2, 3]);
}

#[tokio::test]
async fn authorize_check_answering_200_without_a_sad_is_a_protocol_error() {
    let url = service(rsa_info(), |method| match method {
        "credentials/authorize" => (202, json!({ "handle": "h-1" }).to_string()),
        _ => (200, String::new()),
    });
    let adapter = adapter(url);
    let SignOutcome::Pending { ca_reference } = adapter
        .begin_sign(Some(&session()), &sign_request(1))
        .await
        .unwrap()
    else {
        panic!("pending expected");
    };
    let error = adapter
        .poll(Some(&session()), &ca_reference)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AdapterError::UpstreamProtocol(_)),
        "{error}"
    );
}
