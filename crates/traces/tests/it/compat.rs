//! The OpenTelemetry Python SDK's stock OTLP exporters (gRPC and HTTP/protobuf) against the
//! server. Python comes from `TERN_TEST_PYTHON` (printed by scripts/test-deps, with the
//! packages of tests/compat/requirements.txt): unset, the tests skip, unless `CI` is set.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use tern_test_support::clients::{client_from_env, run_client};

use crate::support::{eventually, get, listed, Running};

/// Runs the exporter script; returns its JSON report after asserting it succeeded.
async fn export(python: OsString, transport: &str, endpoint: &str, compression: &str) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/compat/otel_export.py");
    let mut command = tokio::process::Command::new(python);
    command.arg(script).args([transport, endpoint, compression]);
    let output = run_client(command, Duration::from_secs(90)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("report is JSON ({e}): {stdout}\n{stderr}"))
}

/// Asserts the trace the script exported arrived whole: one root, two children, the error.
async fn assert_assembled(server: &Running, report: &Value, transport: &str) {
    let trace_id = report["trace_id"].as_str().expect("trace id");
    let trace = eventually("the three spans", || async {
        let reply = get(server.http, &format!("/api/traces/{trace_id}")).await;
        let trace = (reply.status == 200).then(|| reply.json())?;
        (trace["span_count"] == 3).then_some(trace)
    })
    .await;
    assert_eq!(
        (
            &trace["root_service"],
            &trace["root_name"],
            &trace["error"],
            &trace["services"]
        ),
        (
            &json!("py-shop"),
            &json!("checkout"),
            &json!(true),
            &json!(["py-shop"])
        )
    );
    let spans = trace["spans"].as_array().expect("spans");
    let summary: Vec<(&str, Option<&str>, &str)> = spans
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default(),
                s["parent_span_id"].as_str(),
                s["kind"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let parent = report["parent"].as_str();
    assert_eq!(
        summary,
        [
            ("checkout", None, "server"),
            ("reserve stock", parent, "internal"),
            ("charge card", parent, "client"),
        ]
    );
    assert_eq!(spans[0]["span_id"].as_str(), parent);
    assert_eq!(spans[1]["span_id"], report["reserve"]);
    assert_eq!(spans[2]["span_id"], report["charge"]);
    assert_eq!(spans[0]["attributes"]["http.route"], "/checkout");
    assert_eq!(spans[1]["attributes"]["items"], 3);
    assert_eq!(spans[1]["status"]["code"], "unset");
    assert_eq!(
        spans[2]["status"],
        json!({"code": "error", "message": "card declined"})
    );
    assert_eq!(spans[2]["events"][0]["name"], "retrying");
    assert_eq!(spans[2]["events"][0]["attributes"], json!({"attempt": 2}));
    assert_eq!(
        spans[2]["resource"]["service.instance.id"],
        format!("py-shop-{transport}")
    );
    assert_eq!(spans[2]["resource"]["telemetry.sdk.language"], "python");
    assert_eq!(
        listed(server.http, "?service=py-shop&errors=true").await,
        [(trace_id.to_owned(), "checkout".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_exports_over_grpc() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let server = Running::start().await;
    let endpoint = format!("http://{}", server.grpc);
    let report = export(python, "grpc", &endpoint, "none").await;
    assert_assembled(&server, &report, "grpc").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_exports_gzipped_protobuf_over_http() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let server = Running::start().await;
    let endpoint = format!("http://{}/v1/traces", server.http);
    let report = export(python, "http", &endpoint, "gzip").await;
    assert_assembled(&server, &report, "http").await;
    server.stop().await;
}
