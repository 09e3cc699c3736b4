//! Metrics and traces for every call, with nothing to write in services.
//!
//! One tower layer ([`layer`]) around every call served: it reads the caller's
//! `traceparent`, starts the call's span, makes it the task's current call (so log lines,
//! outgoing calls and produced records carry it), and when the response body ends records
//! the RED metrics and the span. Outgoing calls (the discovery client, the producer) add a
//! client or producer span and send `traceparent` and `x-request-id` on.
//!
//! # Metrics (`GET /metrics`)
//!
//! OpenTelemetry semantic-convention names in Prometheus form (dots become underscores,
//! durations in seconds):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `rpc_server_call_duration_seconds` | histogram | `rpc_system="grpc"`, `rpc_service`, `rpc_method`, `rpc_grpc_status_code` |
//! | `rpc_server_active_calls` | gauge | `rpc_service` |
//! | `http_server_request_duration_seconds` | histogram | `http_request_method`, `http_route`, `http_response_status_code` |
//! | `http_server_active_requests` | gauge | `http_request_method` |
//! | `rpc_client_call_duration_seconds` | histogram | `rpc_system="grpc"`, `rpc_service`, `rpc_method`, `rpc_grpc_status_code`, `peer_service` (the discovered service) |
//! | `process_*` | | CPU, memory, file descriptors, start time |
//!
//! The histogram's `_count` is the request count; errors are the series whose code is not
//! `0` (gRPC) or is `5xx` (HTTP). A gRPC method the service does not have is counted as
//! `rpc_method="_OTHER"` and an HTTP path no route matched as `http_route=""`, so
//! unknown paths cannot grow the label sets. Services add their own metrics to
//! [`Handle::metrics`](crate::Handle::metrics).
//!
//! # Spans
//!
//! New traces are sampled by a rate limit (`telemetry.traces_per_second`, default 100 per
//! replica): every call in development, a bounded effort under load; a caller's sampled
//! `traceparent` is always followed. Unsampled calls still carry ids (logs, propagation).
//! Health checks (`grpc.health.v1.Health`, `/healthz`, `/readyz`) and `/metrics` scrapes
//! get no span: they are counted in the metrics only. Server spans are named `package.Service/Method` (gRPC) or `METHOD ROUTE` (HTTP), client
//! spans `package.Service/Method`, producer spans `TOPIC publish`, consumer spans `TOPIC
//! process`, with the `rpc.*` / `http.*` / `messaging.*` attributes of the semantic
//! conventions. gRPC status codes other than OK, HTTP 5xx and failed handlers mark a span
//! as an error. They are exported in batches over OTLP/gRPC ([`export`]).

pub(crate) mod client;
pub(crate) mod context;
pub(crate) mod export;
pub(crate) mod layer;
mod methods;
pub(crate) mod observe;
mod red;
mod sampler;

use std::sync::Arc;

pub use context::{current, inject, CallContext, TraceContext, TraceparentError};
pub(crate) use export::{SpanKind, SpanQueue, SpanRecord, SpanStatus, Value};
pub use red::names;
pub(crate) use red::Red;

/// A service's telemetry: its metric registry and RED families, and where spans go.
pub(crate) struct Telemetry {
    pub(crate) registry: tern_metrics::Registry,
    /// `None` with `telemetry.metrics = false`.
    pub(crate) red: Option<Red>,
    /// Trace context is read, propagated and logged (`telemetry.traces`).
    pub(crate) traces: bool,
    /// Where spans are exported: set with `traces` and an OTLP endpoint.
    pub(crate) otlp_endpoint: Option<String>,
    pub(crate) spans: Option<Arc<SpanQueue>>,
    pub(crate) grpc_methods: methods::GrpcMethods,
    pub(crate) sampler: sampler::Sampler,
    /// The instance ID (`NAME-N` under `tern up`, else `NAME-PORT`), once serving.
    pub(crate) instance: std::sync::OnceLock<String>,
}

impl Telemetry {
    pub(crate) fn new(config: &crate::TelemetryConfig) -> Arc<Self> {
        let registry = tern_metrics::Registry::new();
        let red = config.metrics.then(|| {
            registry.register_collector(tern_metrics::ProcessCollector::new());
            Red::register(&registry)
        });
        let otlp_endpoint = config
            .otlp_endpoint
            .clone()
            .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok())
            .filter(|e| config.traces && !e.is_empty());
        let spans = otlp_endpoint.as_ref().map(|_| Arc::new(SpanQueue::new()));
        Arc::new(Telemetry {
            registry,
            red,
            traces: config.traces,
            otlp_endpoint,
            spans,
            grpc_methods: methods::GrpcMethods::default(),
            sampler: sampler::Sampler::new(config.traces_per_second),
            instance: std::sync::OnceLock::new(),
        })
    }

    /// Records a finished span, if it is sampled and spans are exported.
    pub(crate) fn record(&self, span: SpanRecord) {
        if let Some(spans) = &self.spans {
            if span.context.sampled {
                spans.push(span);
            }
        }
    }

    /// Whether finished spans go anywhere (building them is wasted work otherwise).
    pub(crate) fn records_spans(&self) -> bool {
        self.spans.is_some()
    }
}
