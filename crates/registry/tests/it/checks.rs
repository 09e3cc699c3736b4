//! Checks the registry runs itself, against real sockets: a target without a host
//! (`:PORT`, `http://:PORT/path`, as py-consul's `Check.tcp("", port, ..)` registers) is
//! dialled at the node's address, a new check runs at once rather than after its first
//! interval, and an HTTP check sends its method and body.

use std::time::Duration;

use serde_json::json;
use tern_registry::CheckStatus;
use tern_test_support::registry::RunningRegistry;
use tokio::net::TcpListener;

use crate::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_without_a_host_dial_the_node_at_once() {
    let registry = RunningRegistry::start().await;
    let api = Api::over(registry.handle.clone());
    // Accepted by the kernel (backlog) without an accept loop: all a TCP check needs.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let http = registry.http.port();
    // An hour's interval: only the run at registration can make these pass in time.
    api.register(json!({
        "Name": "empty-host", "ID": "tcp", "Port": port,
        "Check": {"TCP": format!(":{port}"), "Interval": "1h"},
    }))
    .await;
    api.register(json!({
        "Name": "empty-host", "ID": "http", "Port": http,
        "Check": {"HTTP": format!("http://:{http}/v1/status/leader"), "Interval": "1h"},
    }))
    .await;
    // Method and Body are sent as Consul sends them: this check writes a KV key.
    api.register(json!({
        "Name": "body", "ID": "put", "Port": http,
        "Check": {"HTTP": format!("http://:{http}/v1/kv/probe"), "Method": "PUT",
                  "Body": "sent by a check", "Interval": "1h"},
    }))
    .await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let statuses = loop {
        let statuses: Vec<(String, CheckStatus, String)> = registry.handle.read(|s| {
            s.checks()
                .filter(|c| c.def.service_id.is_some())
                .map(|c| (c.def.id.clone(), c.status, c.output.clone()))
                .collect()
        });
        if statuses
            .iter()
            .all(|(_, status, _)| *status == CheckStatus::Passing)
            || tokio::time::Instant::now() > deadline
        {
            break statuses;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let outputs: Vec<(&str, CheckStatus, &str)> = statuses
        .iter()
        .map(|(id, status, output)| (id.as_str(), *status, output.as_str()))
        .collect();
    let http_output = format!(
        "HTTP GET http://127.0.0.1:{http}/v1/status/leader: 200 OK Output: \"127.0.0.1:8300\""
    );
    let tcp_output = format!("TCP connect 127.0.0.1:{port}: Success");
    let put_output = format!("HTTP PUT http://127.0.0.1:{http}/v1/kv/probe: 200 OK Output: true");
    assert_eq!(
        outputs,
        [
            ("service:http", CheckStatus::Passing, http_output.as_str()),
            ("service:put", CheckStatus::Passing, put_output.as_str()),
            ("service:tcp", CheckStatus::Passing, tcp_output.as_str()),
        ]
    );
    let written = api.get("/v1/kv/probe?raw").await.ok();
    assert_eq!(written.text(), "sent by a check");
    // The definitions keep the targets as registered, as Consul echoes them.
    let checks = api.get("/v1/agent/checks").await.ok().json();
    assert_eq!(
        checks["service:tcp"]["Definition"]["TCP"],
        format!(":{port}")
    );
    assert_eq!(
        checks["service:http"]["Definition"]["HTTP"],
        format!("http://:{http}/v1/status/leader")
    );
    drop(listener);
    registry.stop().await;
}
