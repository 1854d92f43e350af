//! Keeps `spec/openapi.yaml`, `spec/admin.yaml` and `spec/errors.md` honest: the routes
//! each listener serves are exactly its spec's paths (the API's in `openapi.yaml`, the admin
//! listener's in `admin.yaml`), every example in the specs parses into the real handler
//! types, and every error code is documented in both `errors.md` and the API's spec.

use std::collections::BTreeSet;
use std::path::PathBuf;

use kyso_gateway::domain::error::ErrorCode;
use kyso_gateway::http::error::ErrorBody;
use kyso_gateway::http::input::{Source, from_value};
use kyso_gateway::http::views::{
    AssembleRequest, AuditHeadView, CertificateList, CertificateSearch, DocumentVerificationReport,
    HealthView, JwkSetView, ProviderList, SignatureAccepted, SignatureRequest, TokenRequest,
    TokenResponse, TransactionView, VerificationRequest,
};
use kyso_gateway::http::{Routes, admin, api};
use kyso_gateway::verify::VerificationReport;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec")
}

fn spec() -> Value {
    spec_file("openapi.yaml")
}

fn spec_file(name: &str) -> Value {
    let text = std::fs::read_to_string(spec_dir().join(name)).unwrap();
    serde_norway::from_str(&text).unwrap()
}

/// Follows a `$ref`: local (`#/components/...`) or into another spec file of `spec/`
/// (`openapi.yaml#/components/...`). Returns the node and the document it is in, against
/// which its own references resolve.
fn resolve(spec: &Value, node: &Value) -> (Value, Value) {
    let Some(reference) = node.get("$ref").and_then(Value::as_str) else {
        return (node.clone(), spec.clone());
    };
    let (file, pointer) = reference
        .split_once('#')
        .expect("a reference with a pointer");
    let document = match file {
        "" => spec.clone(),
        file => spec_file(file),
    };
    let target = document
        .pointer(pointer)
        .unwrap_or_else(|| panic!("dangling {reference}"))
        .clone();
    resolve(&document, &target)
}

/// Every example value under a media-type map, with its name.
fn examples(spec: &Value, content: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (media_type, media) in content.as_object().into_iter().flatten() {
        for (name, example) in media["examples"].as_object().into_iter().flatten() {
            let (example, _) = resolve(spec, example);
            found.push((media_type.clone(), name.clone(), example["value"].clone()));
        }
    }
    found
}

fn parses<T: DeserializeOwned>(value: &Value, what: &str) {
    if let Err(error) = serde_json::from_value::<T>(value.clone()) {
        panic!(
            "{what}: example does not match {}: {error}",
            std::any::type_name::<T>()
        );
    }
}

/// A request example must be read by the gateway's own strict reader of its source.
fn reads<T: DeserializeOwned>(value: &Value, source: Source, what: &str) {
    if let Err(error) = from_value::<T>(value, source) {
        panic!("{what}: example is refused: {error}");
    }
}

const OPERATIONS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

#[test]
fn each_listener_serves_exactly_its_spec_paths() {
    assert_serves_exactly(&spec_file("openapi.yaml"), api(), "the API listener");
    assert_serves_exactly(&spec_file("admin.yaml"), admin(), "the admin listener");
}

fn assert_serves_exactly(spec: &Value, routes: Routes, listener: &str) {
    let in_spec: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            OPERATIONS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = routes
        .list()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path.to_owned()))
        .collect();
    assert_eq!(
        served.difference(&in_spec).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "served by {listener} but not in its spec"
    );
    assert_eq!(
        in_spec.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "in the spec of {listener} but not served there"
    );
}

#[test]
fn every_example_matches_the_handlers_types() {
    let checked = check_examples(&spec()) + check_examples(&spec_file("admin.yaml"));
    assert!(
        checked > 40,
        "only {checked} examples found: is the spec's layout still read?"
    );
}

/// Checks every example of `spec` against the handlers' types; returns how many.
fn check_examples(spec: &Value) -> usize {
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in OPERATIONS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let route = format!("{} {path}", method.to_uppercase());
            if let Some(body) = operation.get("requestBody") {
                let (body, document) = resolve(spec, body);
                for (_, name, value) in examples(&document, &body["content"]) {
                    let what = format!("{route} request {name}");
                    match route.as_str() {
                        "POST /v1/oauth/token" => {
                            reads::<TokenRequest>(&value, Source::Form, &what);
                        }
                        "POST /v1/signatures" => {
                            reads::<SignatureRequest>(&value, Source::JsonBody, &what);
                        }
                        "POST /v1/verifications" => {
                            reads::<VerificationRequest>(&value, Source::JsonBody, &what);
                        }
                        "POST /v1/signatures/{transaction_id}/documents/{document_id}/assemble" => {
                            reads::<AssembleRequest>(&value, Source::JsonBody, &what);
                        }
                        _ => panic!("{what}: no request type known for this route"),
                    }
                    checked += 1;
                }
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                let (response, document) = resolve(spec, response);
                let status: u16 = status.parse().unwrap();
                for (media_type, name, value) in examples(&document, &response["content"]) {
                    let what = format!("{route} {status} {name}");
                    check_response(&route, status, &media_type, &value, &what);
                    checked += 1;
                }
            }
        }
    }
    checked
}

fn check_response(route: &str, status: u16, media_type: &str, value: &Value, what: &str) {
    if media_type.starts_with("text/plain") {
        assert!(
            value.as_str().is_some_and(|text| text.contains("kyso_")),
            "{what}"
        );
        return;
    }
    match (route, status) {
        ("POST /v1/oauth/token", 200) => parses::<TokenResponse>(value, what),
        ("GET /.well-known/jwks.json", 200) => parses::<JwkSetView>(value, what),
        ("GET /v1/providers", 200) => parses::<ProviderList>(value, what),
        ("GET /v1/certificates", 200) if value.get("results").is_some() => {
            parses::<CertificateSearch>(value, what);
        }
        ("GET /v1/certificates", 200) => parses::<CertificateList>(value, what),
        ("POST /v1/signatures", 202) => parses::<SignatureAccepted>(value, what),
        ("POST /v1/verifications", 200) if value.get("signatures").is_some() => {
            parses::<DocumentVerificationReport>(value, what);
        }
        ("POST /v1/verifications", 200) => parses::<VerificationReport>(value, what),
        ("GET /v1/signatures/{transaction_id}", 200)
        | ("POST /v1/signatures/{transaction_id}/cancel", 200) => {
            parses::<TransactionView>(value, what);
        }
        ("GET /healthz", 200) | ("GET /readyz", 200 | 503) => parses::<HealthView>(value, what),
        ("GET /audit/head", 200) => parses::<AuditHeadView>(value, what),
        (_, status) if status >= 400 => {
            parses::<ErrorBody>(value, what);
            let code = value["error"]["code"].as_str().unwrap();
            let known = ErrorCode::ALL
                .iter()
                .find(|known| known.as_str() == code)
                .unwrap_or_else(|| panic!("{what}: unknown code {code}"));
            assert_eq!(
                known.http_status(),
                status,
                "{what}: {code} has another status"
            );
            assert_eq!(
                value["error"]["retryable"],
                known.retryable(),
                "{what}: retryable"
            );
        }
        _ => panic!("{what}: no response type known"),
    }
}

#[test]
fn every_error_code_is_documented_in_errors_md_and_the_spec() {
    let errors_md = std::fs::read_to_string(spec_dir().join("errors.md")).unwrap();
    let documented: BTreeSet<&str> = errors_md
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .map(str::trim)
        .collect();
    let table: BTreeSet<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
    assert_eq!(documented, table, "errors.md headings vs the code table");
    let spec_text = std::fs::read_to_string(spec_dir().join("openapi.yaml")).unwrap();
    for code in table {
        assert!(
            spec_text.contains(&format!("code: {code}")),
            "{code} has no example in the spec"
        );
    }
}

/// The spec's example token is a real one: its `kid` names the example key set's key, which
/// verifies its signature.
#[test]
fn example_token_verifies_with_the_example_key_set() {
    let spec = spec();
    let operation =
        |path: &str, method: &str| spec["paths"][path][method]["responses"]["200"].clone();
    let token = operation("/v1/oauth/token", "post")["content"]["application/json"]["examples"]
        ["token"]["value"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(
        operation("/.well-known/jwks.json", "get")["content"]["application/json"]["examples"]
            ["one_key"]["value"]
            .clone(),
    )
    .unwrap();
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let jwk = jwks
        .find(&kid)
        .expect("the example token's kid is in the example key set");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.validate_exp = false;
    validation.set_audience(&["kyso-api"]);
    jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap();
}
