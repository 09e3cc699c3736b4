//! tern's local telemetry collector: services and stock OpenTelemetry SDKs export spans,
//! metrics and logs over OTLP; the CLI and tools read traces back over a JSON API.
//!
//! - Metrics go to a [`MetricStore`] (the OpenTelemetry → Prometheus mapping, see
//!   `metrics/mod.rs`), which a `tern_metrics::Registry` serves at scrape time
//!   ([`MetricStore::register`]): `tern up` serves them on its StatsD `/metrics` endpoint.
//! - Log records become chassis-shaped JSON lines ([`logs`]) handed to the
//!   [`TraceConfig::logs`] sink: `tern up` writes them to the service logs of `tern logs`.
//!   Without a sink the logs service is not served.
//!
//! - [`TraceStore`] (pure): spans grouped by trace, bounded to `max_spans` (default
//!   [`DEFAULT_MAX_SPANS`] = 100,000) by evicting whole traces, earliest start first. A
//!   resent span (same trace and span id) replaces the stored one. [`TraceStore::list`]
//!   returns [`TraceSummary`]s newest first filtered by [`TraceQuery`] (service, minimum
//!   duration, errors only, limit); [`TraceStore::trace`] one trace's spans. Spans may
//!   arrive in any order: a trace whose root has not arrived lists under its earliest
//!   orphan ([`TraceSummary::of`]).
//! - [`StoreHandle`]: the cloneable, locked store shared by the receivers and readers.
//! - [`TraceServer`]: `build(TraceConfig)` → `serve(Listeners { grpc, http }, shutdown)`.
//!   The gRPC listener serves `opentelemetry.proto.collector.trace.v1.TraceService/Export`,
//!   `...metrics.v1.MetricsService/Export` and `...logs.v1.LogsService/Export` (h2c, gzip
//!   accepted). The HTTP listener serves OTLP/HTTP `POST /v1/traces`, `/v1/metrics`, `/v1/logs`
//!   (`application/x-protobuf` or `application/json`, `Content-Encoding: gzip` accepted)
//!   and the query API: `GET /api/traces?service=S&min_duration=10ms&errors=true&limit=N`
//!   ([`api::TraceList`]; `limit` default 20, at most 1000) and `GET /api/traces/{trace_id}`
//!   ([`api::TraceResponse`], 404 with [`api::ErrorJson`] when unknown). `tern up` binds
//!   [`DEFAULT_GRPC_ADDR`] (4317) and [`DEFAULT_HTTP_ADDR`] (4318).
//! - [`render_waterfall`] (pure): one trace as terminal text; a client gets the spans
//!   from a fetched trace with [`api::TraceResponse::into_spans`].
//!
//! ```no_run
//! # async fn run() -> Result<(), tern_traces::Error> {
//! use tern_traces::{Listeners, TraceConfig, TraceServer, DEFAULT_GRPC_ADDR, DEFAULT_HTTP_ADDR};
//! let server = TraceServer::build(TraceConfig::default())?;
//! let store = server.store(); // read traces in-process, if wanted
//! let listeners = Listeners {
//!     grpc: tokio::net::TcpListener::bind(DEFAULT_GRPC_ADDR).await?,
//!     http: tokio::net::TcpListener::bind(DEFAULT_HTTP_ADDR).await?,
//! };
//! server.serve(listeners, async { /* shutdown signal */ }).await
//! # }
//! ```
//!
//! Bad input: malformed protobuf/JSON/gzip, bad ids of every span, only bad metric points
//! (an unspecified temporality, bucket counts that do not fit the bounds, an exponential
//! histogram or a summary), bad query parameters
//! → HTTP 400 / gRPC INVALID_ARGUMENT naming the problem; a body over `max_request_bytes`
//! (default 4 MiB, also after inflating) → HTTP 413 / INVALID_ARGUMENT (not the codes OTLP
//! exporters retry); an unsupported Content-Type or Content-Encoding → HTTP 415. Error
//! bodies of `/v1/traces` are `google.rpc.Status` in the request's encoding. When only some
//! spans are invalid (bad ids) or refused (their trace already holds `max_spans` spans),
//! the others are stored and the answer is OTLP partial success (rejected count and the
//! first problem).
//!
//! OTLP types: the generated protobuf messages and tonic client/server of the
//! `opentelemetry-proto` crate (workspace dependency, features `gen-tonic`, `trace`,
//! `metrics` and `logs`).
//! An exporter such as the chassis depends on it directly (`opentelemetry-proto.workspace =
//! true`) and sends with `opentelemetry_proto::tonic::collector::trace::v1::
//! trace_service_client::TraceServiceClient`; the workspace entry keeps both on one version.
//! OTLP/JSON is decoded by this crate, leniently (numbers or strings for 64-bit integers,
//! enum numbers or names, `null`s, snake_case keys), because `opentelemetry-proto`'s serde
//! support rejects much of what the spec allows.
//!
//! Health probes: a root server span carrying the registry's health-check `User-Agent`
//! (`Consul Health Check`, as `user_agent.original` or `http.user_agent`) is dropped with
//! every span of its trace in the same request, so a probe every second does not bury real
//! traces (see docs/observability.md).
//!
//! Limits: memory only (nothing survives a restart); span links, instrumentation scopes,
//! trace state, flags and dropped counts are not kept; the size of one span is bounded only
//! by the request limit. Telemetry: `debug` log lines per export (`received`, `rejected`)
//! and per refused OTLP/HTTP request (`status`, `error`).

pub mod api;
mod error;
mod grpc;
mod handle;
mod ids;
mod json;
pub mod logs;
mod metrics;
mod otlp;
mod probe;
mod routes;
mod server;
mod span;
mod store;
#[cfg(test)]
mod testing;
mod tree;
mod waterfall;

pub use error::Error;
pub use handle::StoreHandle;
pub use ids::{SpanId, TraceId};
pub use logs::{LogRecord, LogSink, LogSinkHandle};
pub use metrics::{MetricStore, DEFAULT_MAX_SERIES, DEFAULT_SERIES_TTL};
pub use probe::HEALTH_PROBE_USER_AGENT;
pub use routes::router;
pub use server::{
    Listeners, TraceConfig, TraceServer, DEFAULT_GRPC_ADDR, DEFAULT_HTTP_ADDR,
    DEFAULT_MAX_REQUEST_BYTES,
};
pub use span::{
    Attributes, Event, Span, SpanKind, Status, StatusCode, SERVICE_NAME, UNKNOWN_SERVICE,
};
pub use store::{TraceQuery, TraceStore, TraceSummary, DEFAULT_LIST_LIMIT, DEFAULT_MAX_SPANS};
pub use waterfall::{render_waterfall, MIN_WATERFALL_WIDTH};
