//! The Kubernetes manifests in `deploy/kubernetes`, read as data: the admin listener is not
//! reachable through the API Service, a NetworkPolicy ships and restricts it, and no secret
//! is ever placed in a process's arguments; the Prometheus alert rules pass `promtool` (their
//! own unit tests among them) and every metric the rules and the dashboard use is one the
//! admin contract lists.

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

fn deploy_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(relative)
}

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    for (command, file) in [
        ("check", "prometheus/alerts.yaml"),
        ("test", "prometheus/alerts_test.yaml"),
    ] {
        let output = std::process::Command::new("promtool")
            .args([command, "rules"])
            .arg(deploy_file(file))
            .output()
            .expect("promtool (Debian's prometheus package; scripts/test installs it)");
        assert!(
            output.status.success(),
            "promtool {command} rules {file}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Every `kyso_*` metric name in `text`, without histogram suffixes.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let pattern = regex::Regex::new(r"\bkyso_[a-z_]+").unwrap();
    pattern
        .find_iter(text)
        .map(|found| {
            let name = found.as_str();
            ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name)
                .to_owned()
        })
        .collect()
}

#[test]
fn alerts_and_dashboard_use_only_metrics_of_the_admin_contract() {
    let contract =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/admin.yaml"))
            .unwrap();
    let listed = metric_names(&contract);
    for file in ["prometheus/alerts.yaml", "grafana/kyso-gateway.json"] {
        let used = metric_names(&std::fs::read_to_string(deploy_file(file)).unwrap());
        let unlisted: Vec<_> = used.difference(&listed).collect();
        assert!(
            unlisted.is_empty(),
            "{file} uses metrics spec/admin.yaml does not list: {unlisted:?}"
        );
    }
}

#[test]
fn the_config_map_carries_config_production_yaml_unchanged() {
    let production = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/production.yaml"),
    )
    .unwrap();
    let documents = documents();
    let config_map = of_kind(&documents, "ConfigMap", "kyso-gateway-config");
    let carried = config_map["data"]["production.yaml"].as_str().unwrap();
    assert!(
        carried == production,
        "deploy/kubernetes/configmap.yaml has drifted from config/production.yaml: regenerate it (see its header)"
    );
}
