//! The Kubernetes manifests in `deploy/kubernetes`, read as data: the admin listener is not
//! reachable through the API Service, a NetworkPolicy ships and restricts it, and no secret
//! is ever placed in a process's arguments.

use std::path::{Path, PathBuf};

use serde_norway::Value;

fn kubernetes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

/// Every document of every manifest, with the file it came from.
fn documents() -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(kubernetes_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            for document in serde_norway::Deserializer::from_str(&text) {
                let value = <Value as serde::Deserialize>::deserialize(document).unwrap();
                if !value.is_null() {
                    found.push((name.clone(), value));
                }
            }
        }
    }
    found
}

fn of_kind<'a>(documents: &'a [(String, Value)], kind: &str, name: &str) -> &'a Value {
    &documents
        .iter()
        .find(|(_, value)| value["kind"] == kind && value["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
        .1
}

fn port_names(service: &Value) -> Vec<String> {
    service["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|port| port["targetPort"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_api_service_does_not_expose_the_admin_listener() {
    let documents = documents();
    let api = of_kind(&documents, "Service", "kyso-gateway");
    assert_eq!(port_names(api), ["api"]);
    let admin = of_kind(&documents, "Service", "kyso-gateway-admin");
    assert_eq!(port_names(admin), ["admin"]);
}

#[test]
fn a_network_policy_ships_and_admits_the_admin_port_from_monitoring_only() {
    let documents = documents();
    let kustomization =
        std::fs::read_to_string(kubernetes_dir().join("kustomization.yaml")).unwrap();
    assert!(kustomization.contains("- networkpolicy.yaml"));
    let policy = of_kind(&documents, "NetworkPolicy", "kyso-gateway");
    let rules = policy["spec"]["ingress"].as_sequence().unwrap();
    let admin_rules: Vec<&Value> = rules
        .iter()
        .filter(|rule| {
            rule["ports"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|port| port["port"] == "admin" || port["port"] == 9090)
        })
        .collect();
    assert_eq!(admin_rules.len(), 1, "one rule admits the admin port");
    for source in admin_rules[0]["from"].as_sequence().unwrap() {
        let labels = &source["namespaceSelector"]["matchLabels"];
        assert!(
            labels.as_mapping().is_some_and(|labels| !labels.is_empty()),
            "the admin port is admitted from a chosen namespace only: {source:?}"
        );
    }
    assert!(
        policy["spec"]["policyTypes"]
            .as_sequence()
            .unwrap()
            .contains(&Value::from("Egress")),
        "egress is restricted too"
    );
}

/// The container specs of a workload document.
fn containers(document: &Value) -> Vec<&Value> {
    document["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .map(|containers| containers.iter().collect())
        .unwrap_or_default()
}

#[test]
fn no_secret_is_ever_in_a_process_arguments() {
    let mut checked = 0;
    for (file, document) in documents() {
        for container in containers(&document) {
            checked += 1;
            let secret_variables: Vec<&str> = container["env"]
                .as_sequence()
                .map(|env| {
                    env.iter()
                        .filter(|variable| !variable["valueFrom"]["secretKeyRef"].is_null())
                        .map(|variable| variable["name"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            let argv = serde_norway::to_string(&container["args"]).unwrap()
                + &serde_norway::to_string(&container["command"]).unwrap();
            for variable in secret_variables {
                // Kubernetes expands $(NAME) into the arguments themselves; a shell's
                // "$NAME" stays a reference and is expanded inside the process.
                assert!(
                    !argv.contains(&format!("$({variable})")),
                    "{file}: the secret {variable} is expanded into the arguments"
                );
            }
            assert!(
                !argv.contains("--requirepass"),
                "{file}: a password flag in the arguments"
            );
        }
    }
    assert!(
        checked >= 2,
        "the gateway's and Redis's containers were checked"
    );
}
