//! Wire compatibility: dnspython, the original design's DNS client
//! (`tests/compat/dns_client.py`), against the server.

use std::time::Duration;

use tern_test_support::clients::{client_from_env, compat_script, run_client};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnspython_resolves_services() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let server = Running::start().await;
    assert_eq!(
        server.udp, server.tcp,
        "one port for both, as dnspython expects"
    );
    let script = compat_script("dns_client.py");
    let mut command = tokio::process::Command::new(&python);
    command
        .arg(&script)
        .arg(server.udp.ip().to_string())
        .arg(server.udp.port().to_string());
    let output = run_client(command, Duration::from_secs(60)).await;
    let got: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the client prints JSON");
    let expected = serde_json::json!({
        "a": ["10.0.0.1", "192.0.2.10"],
        "a_authoritative": true,
        "srv": [
            "1 1 50051 node-a.node.dc1.consul.",
            "1 1 50052 c000020a.addr.dc1.consul.",
        ],
        "srv_additional": [
            "c000020a.addr.dc1.consul. 192.0.2.10",
            "node-a.node.dc1.consul. 10.0.0.1",
        ],
        "missing": "NXDOMAIN",
        "big_a": 40,
    });
    assert_eq!(got, expected);
    server.stop().await;
}
