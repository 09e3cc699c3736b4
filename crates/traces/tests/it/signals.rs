//! OTLP metrics and logs: the OpenTelemetry Python SDK's stock exporters over gRPC and
//! HTTP (checked on the Prometheus text a registry serves and on the records the log sink
//! gets), and bad payloads on both transports. Python as in `compat.rs`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use serde_json::Value;
use tern_metrics::Registry;
use tern_test_support::clients::{client_from_env, run_client};
use tern_traces::{LogRecord, LogSink, MetricStore, TraceConfig};
use tonic::Code;

use crate::support::{eventually, send, Running};

/// Keeps what the receiver hands it.
#[derive(Debug, Default)]
struct Collected(Mutex<Vec<LogRecord>>);

impl LogSink for Collected {
    fn write(&self, records: Vec<LogRecord>) -> Result<(), String> {
        self.0.lock().expect("not poisoned").extend(records);
        Ok(())
    }
}

struct Signals {
    server: Running,
    registry: Registry,
    logs: Arc<Collected>,
}

async fn start() -> Signals {
    let metrics = MetricStore::default();
    let registry = Registry::new();
    metrics.register(&registry);
    let logs = Arc::new(Collected::default());
    let server = Running::with(TraceConfig {
        metrics,
        logs: Some(logs.clone()),
        ..TraceConfig::default()
    })
    .await;
    Signals {
        server,
        registry,
        logs,
    }
}

impl Signals {
    fn scrape(&self) -> String {
        tern_metrics::encode(&self.registry, None).1
    }

    fn records(&self) -> Vec<LogRecord> {
        self.logs.0.lock().expect("not poisoned").clone()
    }
}

async fn run_script(python: OsString, transport: &str, endpoint: &str, temporality: &str) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/compat/otel_signals.py");
    let mut command = tokio::process::Command::new(python);
    command.arg(script).args([transport, endpoint, temporality]);
    let output = run_client(command, Duration::from_secs(90)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "report is JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The metrics and logs the script exported, as the registry serves them and the sink
/// stored them: the same numbers whatever the temporality (deltas are added up).
async fn assert_received(signals: &Signals, report: &Value, transport: &str) {
    let text = signals.scrape();
    let labels = format!(
        "instance=\"py-shop-{transport}\",job=\"py-shop\",otel_scope_name=\"shop.meter\",otel_scope_version=\"1.0\""
    );
    let route = format!(
        "http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/checkout\",{labels}"
    );
    for expected in [
        "# TYPE orders_total counter\n".to_owned(),
        format!("orders_total{{{labels},payment=\"card\"}} 7\n"),
        "# TYPE http_server_request_duration_seconds histogram\n".to_owned(),
        // The SDK's default buckets (0, 5, 10, 25, ...) are made for milliseconds.
        format!("http_server_request_duration_seconds_bucket{{{route},le=\"0\"}} 0\n"),
        format!("http_server_request_duration_seconds_bucket{{{route},le=\"5\"}} 3\n"),
        format!("http_server_request_duration_seconds_bucket{{{route},le=\"+Inf\"}} 3\n"),
        format!("http_server_request_duration_seconds_count{{{route}}} 3\n"),
        format!("http_server_request_duration_seconds_sum{{{route}}} 2.22\n"),
        format!("queue_size{{{labels}}} 3\n"),
        format!("target_info{{instance=\"py-shop-{transport}\",job=\"py-shop\","),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    }

    let records = eventually("both log records", || async {
        let records = signals.records();
        (records.len() >= 2).then_some(records)
    })
    .await;
    let trace_id = report["trace_id"].as_str().expect("trace id");
    let lines: Vec<Value> = records
        .iter()
        .map(|r| serde_json::from_str(&r.line).expect("a JSON line"))
        .collect();
    for record in &records {
        assert_eq!(
            (record.service.as_str(), record.replica.as_str()),
            ("py-shop", format!("py-shop-{transport}").as_str())
        );
    }
    assert_eq!(lines[0]["level"], "WARN");
    // The SDK sends the text "WARN": nothing more than the level says.
    assert_eq!(lines[0].get("severity"), None);
    assert_eq!(lines[0]["message"], "payment declined");
    assert_eq!(lines[0]["trace_id"], trace_id);
    assert_eq!(lines[0]["span_id"], report["span_id"]);
    assert_eq!(lines[0]["order.id"], 42);
    assert_eq!(lines[1]["level"], "INFO");
    assert_eq!(lines[1]["message"], "queue drained");
    assert_eq!(lines[1].get("trace_id"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_exports_cumulative_metrics_and_logs_over_grpc() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let signals = start().await;
    let endpoint = format!("http://{}", signals.server.grpc);
    let report = run_script(python, "grpc", &endpoint, "cumulative").await;
    assert_received(&signals, &report, "grpc").await;
    signals.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_exports_delta_metrics_and_logs_over_http() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let signals = start().await;
    let endpoint = format!("http://{}", signals.server.http);
    let report = run_script(python, "http", &endpoint, "delta").await;
    assert_received(&signals, &report, "http").await;
    signals.server.stop().await;
}

/// A sum without a temporality: a point no exporter should send.
fn unspecified_sum() -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "orders".into(),
                    data: Some(Data::Sum(Sum {
                        data_points: vec![NumberDataPoint {
                            value: Some(number_data_point::Value::AsInt(1)),
                            ..Default::default()
                        }],
                        aggregation_temporality: 0,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Field 1 of an export request as opaque bytes, so a test can put anything on the wire.
#[derive(Clone, PartialEq, prost::Message)]
struct RawRequest {
    #[prost(bytes = "vec", tag = "1")]
    first: Vec<u8>,
}

async fn export_raw<R>(server: &Running, path: &'static str, first: Vec<u8>) -> tonic::Status
where
    R: prost::Message + Default + Send + 'static,
{
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.grpc))
        .expect("valid uri")
        .connect()
        .await
        .expect("connects");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let codec = tonic_prost::ProstCodec::<RawRequest, R>::default();
    grpc.unary(
        tonic::Request::new(RawRequest { first }),
        http::uri::PathAndQuery::from_static(path),
        codec,
    )
    .await
    .map(drop)
    .expect_err("refused")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_metric_and_log_payloads_are_refused_naming_the_problem_and_serving_goes_on() {
    let signals = start().await;
    let server = &signals.server;

    for path in [
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    ] {
        let status = if path.contains("metrics") {
            export_raw::<ExportMetricsServiceResponse>(server, path, vec![0xff, 0xff]).await
        } else {
            export_raw::<ExportLogsServiceResponse>(server, path, vec![0xff, 0xff]).await
        };
        assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status:?}");
        assert!(
            status
                .message()
                .starts_with("failed to decode Protobuf message"),
            "{status:?}"
        );
    }

    let mut client = MetricsServiceClient::connect(format!("http://{}", server.grpc))
        .await
        .expect("connects");
    let status = client
        .export(unspecified_sum())
        .await
        .expect_err("every point bad");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "all 1 metric data points rejected: metric \"orders\": aggregation temporality \
         unspecified (expected delta or cumulative)"
    );

    let json = [("content-type", "application/json")];
    let protobuf = [("content-type", "application/x-protobuf")];
    // (path, headers, body, what the error message says)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [u8], &'a str);
    let cases: [Case; 4] = [
        (
            "/v1/metrics",
            &json,
            b"{\"resourceMetrics\": {}}",
            "malformed OTLP/JSON request: at resourceMetrics: invalid type: map, expected a sequence at line 1 column 20",
        ),
        (
            "/v1/logs",
            &json,
            b"{\"resourceLogs\": [{\"scopeLogs\": [{\"logRecords\": [{\"severityNumber\": \"LOUD\"}]}]}]}",
            "malformed OTLP/JSON request: at resourceLogs[0].scopeLogs[0].logRecords[0].severityNumber: unknown enum value \"LOUD\"",
        ),
        (
            "/v1/metrics",
            &protobuf,
            b"\xff\xff",
            "malformed OTLP protobuf request: ",
        ),
        (
            "/v1/logs",
            &protobuf,
            b"\x0a\x05\x01",
            "malformed OTLP protobuf request: ",
        ),
    ];
    for (path, headers, body, message) in cases {
        let reply = send(server.http, "POST", path, headers, body.to_vec()).await;
        assert_eq!(reply.status, 400, "{path}: {:?}", reply.body);
        let text = if reply.content_type.starts_with("application/json") {
            reply.json()["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        } else {
            String::from_utf8_lossy(&reply.body).into_owned()
        };
        assert!(text.contains(message), "{path}: {text:?} lacks {message:?}");
    }

    // Still serving: a good request right after.
    let reply = send(
        server.http,
        "POST",
        "/v1/metrics",
        &json,
        br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"ok","gauge":{"dataPoints":[{"asInt":"1"}]}}]}]}]}"#.to_vec(),
    )
    .await;
    assert_eq!((reply.status, reply.json()), (200, serde_json::json!({})));
    assert!(
        signals.scrape().contains("\nok 1\n"),
        "{}",
        signals.scrape()
    );
    signals.server.stop().await;
}
