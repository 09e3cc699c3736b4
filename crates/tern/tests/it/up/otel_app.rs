//! A Python FastAPI app with no tern-specific code, run under `opentelemetry-instrument` as a
//! `command` service: its traces show in `tern traces` under its service name (and the
//! health probes' do not), its request metrics in `tern top`, its log records in
//! `tern logs` with their trace ids. Python from `TERN_TEST_PYTHON` (the venv of
//! tests/compat/requirements.txt, which has the OpenTelemetry distro and FastAPI).

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use serde_json::Value;
use tern_test_support::clients::{client_from_env, compat_script};

use super::platform::{loopback, Platform};
use crate::support::{eventually, http};

/// What the OpenTelemetry SDK reads, beyond what the supervisor gives every replica: send
/// log records too (the Python distro leaves logging alone unless asked), and export
/// every second rather than every minute, so the test does not wait.
const SDK_ENV: &str = r#"OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED = "true"
OTEL_METRIC_EXPORT_INTERVAL = "1000"
OTEL_BSP_SCHEDULE_DELAY = "200"
OTEL_BLRP_SCHEDULE_DELAY = "200"
"#;

#[test]
fn an_instrumented_fastapi_app_shows_in_traces_top_and_logs() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let python = PathBuf::from(python);
    let instrument = python.with_file_name("opentelemetry-instrument");
    let platform = Platform::new(&loopback(&format!(
        r#"[services.shop]
command = ["{instrument}", "{python}", "{app}"]
register_as = "py-shop"
replicas = 1
drain = "300ms"

[services.shop.health]
kind = "http"
path = "/healthz"
interval = "200ms"

[services.shop.env]
{SDK_ENV}"#,
        instrument = instrument.display(),
        python = python.display(),
        app = compat_script("otel_fastapi_app.py").display(),
    )));
    let ran = platform.up();
    assert!(ran.status.success(), "tern up --detach: {ran}");
    let replicas = platform.replicas();
    let address: SocketAddr = replicas[0]["address"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("a replica address: {replicas:?}"));
    let (status, body) = http(address, "GET", "/items/7", "").expect("GET /items/7");
    assert_eq!(status, 200, "{body}");

    // Traces: under the service's name, not `unknown_service:python`; no probe traces.
    let otlp_http = platform.logged_address("otlp_http");
    let mut trace_id = String::new();
    eventually("the request's trace in tern traces", || {
        let ran = platform.tern(&[
            "traces",
            "--api",
            &otlp_http,
            "--service",
            "py-shop",
            "--json",
        ]);
        let Ok(listed) = serde_json::from_str::<Value>(&ran.stdout) else {
            return Some(ran.to_string());
        };
        let found = listed["traces"].as_array().and_then(|traces| {
            traces
                .iter()
                .find(|t| t["root_name"] == "GET /items/{item_id}")
        });
        match found {
            Some(trace) => {
                trace_id = trace["trace_id"].as_str().unwrap_or_default().to_owned();
                None
            }
            None => Some(ran.to_string()),
        }
    });
    let ran = platform.tern(&["traces", "--api", &otlp_http, "--json", "--limit", "1000"]);
    let listed: Value = serde_json::from_str(&ran.stdout).expect("traces JSON");
    let traces = listed["traces"].as_array().expect("traces");
    assert!(
        traces.iter().all(|t| t["root_service"] == "py-shop"
            && !t["root_name"]
                .as_str()
                .unwrap_or_default()
                .contains("/healthz")),
        "only py-shop's own requests, no health probes: {ran}"
    );

    // Logs: the warning, as an OTLP record, found by its trace.
    eventually("the request's log record in tern logs --trace", || {
        let ran = platform.tern(&["logs", "--no-color", "--trace", &trace_id]);
        let found = ran
            .stdout
            .lines()
            .any(|l| l.contains("WARN") && l.contains("item 7 looked up"));
        (!found).then(|| ran.to_string())
    });

    // Metrics: `tern top` reads the app's request histogram from the collector.
    let registry = platform.registry().to_string();
    let collector = platform.logged_address("statsd_metrics");
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut calls = 0u32;
            while !stop.load(Ordering::Relaxed) {
                if http(address, "GET", "/items/1", "").is_ok() {
                    calls += 1;
                }
                thread::sleep(Duration::from_millis(20));
            }
            calls
        })
    };
    eventually("py-shop's requests in tern top", || {
        let ran = platform.tern(&[
            "top",
            "--once",
            "--registry",
            &registry,
            "--collector",
            &collector,
            "--interval",
            "2500ms",
        ]);
        let row: Vec<&str> = ran
            .stdout
            .lines()
            .find(|l| l.starts_with("py-shop "))
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        // SERVICE REPLICAS RPS ERR% P50 P99 IN-FLIGHT
        let ok = row.len() == 7
            && row[1] == "1/1"
            && row[2].parse::<f64>().is_ok_and(|rps| rps > 0.0)
            && row[4] != "-"
            && row[5] != "-";
        (!ok).then(|| ran.to_string())
    });
    stop.store(true, Ordering::Relaxed);
    let calls = load.join().expect("the load thread");
    assert!(calls > 0, "the load thread made calls");
}
