//! The server on `127.0.0.1:0`, a plain HTTP client, OTLP request builders and polling.

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use tern_traces::{Listeners, StoreHandle, TraceConfig, TraceServer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A trace server serving until [`Running::stop`].
pub struct Running {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub store: StoreHandle,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tern_traces::Error>>,
}

impl Running {
    pub async fn start() -> Self {
        Self::with(TraceConfig::default()).await
    }

    pub async fn with(config: TraceConfig) -> Self {
        let grpc = TcpListener::bind("127.0.0.1:0").await.expect("bind grpc");
        let http = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
        let (grpc_addr, http_addr) = (
            grpc.local_addr().expect("grpc addr"),
            http.local_addr().expect("http addr"),
        );
        let server = TraceServer::build(config).expect("valid config");
        let store = server.store();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(Listeners { grpc, http }, async {
            let _ = stopped.await;
        }));
        Running {
            grpc: grpc_addr,
            http: http_addr,
            store,
            stop,
            task,
        }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let served = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops within 10s")
            .expect("the serving task does not panic");
        served.expect("the server serves until stopped");
    }
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("JSON body ({e}): {:?}", String::from_utf8_lossy(&self.body))
        })
    }
}

pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body.into())).expect("valid request");
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .expect("answered within 10s")
        .expect("HTTP exchange");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        content_type,
        body,
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    send(addr, "GET", path, &[], Bytes::new()).await
}

pub async fn post_json(addr: SocketAddr, body: &serde_json::Value) -> Reply {
    let headers = [("content-type", "application/json")];
    send(addr, "POST", "/v1/traces", &headers, body.to_string()).await
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("in memory");
    encoder.finish().expect("in memory")
}

/// Polls `check` every 20ms until it returns `Some`, for at most 10s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `n` as the last byte of an id of `len` bytes.
pub fn id(len: usize, n: u8) -> Vec<u8> {
    let mut bytes = vec![0; len];
    bytes[len - 1] = n;
    bytes
}

/// A span of trace `trace` (`00…0{trace}`) with id `n` under `parent`.
pub fn otlp_span(trace: u8, n: u8, parent: Option<u8>, name: &str, start: u64, end: u64) -> Span {
    Span {
        trace_id: id(16, trace),
        span_id: id(8, n),
        parent_span_id: parent.map(|p| id(8, p)).unwrap_or_default(),
        name: name.to_owned(),
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        ..Default::default()
    }
}

pub fn failed(mut span: Span, message: &str) -> Span {
    span.status = Some(Status {
        message: message.to_owned(),
        code: status::StatusCode::Error as i32,
    });
    span
}

pub fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.into())),
                    }),
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The list endpoint's `(trace_id, root_name)` pairs for a query string.
pub async fn listed(addr: SocketAddr, query: &str) -> Vec<(String, String)> {
    let reply = get(addr, &format!("/api/traces{query}")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.json()["traces"]
        .as_array()
        .expect("traces array")
        .iter()
        .map(|t| {
            (
                t["trace_id"].as_str().unwrap_or_default().to_owned(),
                t["root_name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
