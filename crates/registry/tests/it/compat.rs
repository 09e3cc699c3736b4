//! Stock third-party clients against the whole registry on real sockets: py-consul and
//! the npm `consul` package over HTTP (checks run by the registry itself; py-consul also
//! registers exactly as the original design's server does, `Check.tcp("", port, "30s")`,
//! and resolves it with dnspython), dnspython over DNS. The scripts live in `tests/compat/`; `scripts/test` installs their interpreters.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tern_test_support::clients::{client_from_env, compat_script, run_client};
use tern_test_support::registry::RunningRegistry;

use crate::Api;

/// Runs a client script with `HOST PORT` and then `more` ports; returns its JSON output
/// after asserting exit 0.
async fn run_json(
    mut command: tokio::process::Command,
    address: SocketAddr,
    more: &[u16],
) -> serde_json::Value {
    command
        .arg(address.ip().to_string())
        .arg(address.port().to_string())
        .args(more.iter().map(u16::to_string));
    let output = run_client(command, Duration::from_secs(90)).await;
    serde_json::from_slice(&output.stdout).expect("the client prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_consul_registers_checks_and_uses_kv() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let registry = RunningRegistry::start().await;
    let mut command = tokio::process::Command::new(python);
    command.arg(compat_script("consul_client.py"));
    // After HOST PORT: the DNS port, for the original server's registration resolved by
    // dnspython (the service without an address answers with the node's, 127.0.0.1).
    let report = run_json(command, registry.http, &[registry.dns().port()]).await;
    assert_eq!(report["ok"], true, "{report}");
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_consul_registers_and_uses_kv() {
    let Some(node_modules) = client_from_env("TERN_TEST_NODE_PATH") else {
        return;
    };
    let registry = RunningRegistry::start().await;
    let mut command = tokio::process::Command::new("node");
    command
        .env("NODE_PATH", node_modules)
        .arg(compat_script("consul_node.js"));
    let report = run_json(command, registry.http, &[]).await;
    assert_eq!(report["ok"], true, "{report}");
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnspython_resolves_registered_services() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let registry = RunningRegistry::start().await;
    let api = &Api::over(registry.handle.clone());
    // The second instance's SRV weight is its registered passing weight.
    for (id, address, port, weight) in [
        ("search-service-50051", "", 50051, 1),
        ("search-service-50052", "192.0.2.10", 50052, 3),
    ] {
        api.register(json!({
            "Name": "search-service", "ID": id, "Address": address, "Port": port,
            "Weights": {"Passing": weight, "Warning": 1},
            "Check": {"TTL": "60s", "Status": "passing"},
        }))
        .await;
    }
    api.register(json!({
        "Name": "search-service", "ID": "search-service-critical", "Port": 50053,
        "Check": {"TTL": "60s"},
    }))
    .await;
    for i in 0..40 {
        api.register(json!({
            "Name": "big", "ID": format!("big-{i}"), "Address": format!("10.0.1.{i}"),
            "Port": 9000 + i, "Check": {"TTL": "60s", "Status": "passing"},
        }))
        .await;
    }
    let mut command = tokio::process::Command::new(python);
    command.arg(compat_script("dns_client.py"));
    let answers = run_json(command, registry.dns(), &[]).await;
    let expected = json!({
        "a": ["127.0.0.1", "192.0.2.10"],
        "a_authoritative": true,
        "srv": [
            "1 1 50051 tern.node.dc1.consul.",
            "1 3 50052 c000020a.addr.dc1.consul.",
        ],
        "srv_additional": [
            "c000020a.addr.dc1.consul. 192.0.2.10",
            "tern.node.dc1.consul. 127.0.0.1",
        ],
        "missing": "NXDOMAIN",
        "big_a": 40,
    });
    assert_eq!(answers, expected, "the critical instance is never answered");
    registry.stop().await;
}
