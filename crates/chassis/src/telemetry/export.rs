//! Finished spans → OTLP/gRPC, in batches, off the request path.
//!
//! Recording a span is a `try_send` into a bounded queue: a call never waits for the
//! exporter, and never wakes it either. The exporter thread wakes for the first span of a
//! batch, sleeps [`BATCH_DELAY`] while the batch gathers, then converts and exports the
//! queue in batches of at most [`MAX_BATCH`], each with a deadline. Only a full batch
//! waiting cuts the sleep short. Waking the exporter for every span cost a cross-thread
//! wake-up (a futex call and, on two cores, a worker thread moved off its core) on the
//! request path of every sampled call.
//!
//! When the queue is full (the collector is down or slow) spans are dropped and counted;
//! a WARN line reports how many, at most once per batch.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{trace_service_client::TraceServiceClient, ExportTraceServiceRequest},
    common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue},
    resource::v1::Resource,
    trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status},
};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::TraceContext;

/// Spans waiting for the exporter; past this, new ones are dropped.
const QUEUE: usize = 8192;
pub(crate) const MAX_BATCH: usize = 512;
pub(crate) const BATCH_DELAY: Duration = Duration::from_millis(200);
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpanKind {
    Server,
    Client,
    Producer,
    Consumer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SpanStatus {
    Unset,
    Error(String),
}

/// An attribute value, in whatever form was cheapest where the span was recorded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Shared(std::sync::Arc<str>),
    Static(&'static str),
    Header(http::HeaderValue),
    Int(i64),
}

/// A finished span, as cheap to build as possible: conversion to OTLP happens on the
/// exporter task.
#[derive(Debug, Clone)]
pub(crate) struct SpanRecord {
    pub(crate) context: TraceContext,
    pub(crate) parent: Option<[u8; 8]>,
    pub(crate) kind: SpanKind,
    pub(crate) name: std::sync::Arc<str>,
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
    pub(crate) status: SpanStatus,
    pub(crate) attributes: Vec<(&'static str, Value)>,
}

/// Where finished spans wait for the exporter.
pub(crate) struct SpanQueue {
    sender: mpsc::Sender<SpanRecord>,
    receiver: Mutex<Option<mpsc::Receiver<SpanRecord>>>,
    /// Signalled while at least a full batch waits.
    batch_ready: Notify,
    dropped: AtomicU64,
}

impl SpanQueue {
    pub(crate) fn new() -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        SpanQueue {
            sender,
            receiver: Mutex::new(Some(receiver)),
            batch_ready: Notify::new(),
            dropped: AtomicU64::new(0),
        }
    }

    pub(crate) fn push(&self, span: SpanRecord) {
        if self.sender.try_send(span).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        if self.sender.capacity() <= QUEUE - MAX_BATCH {
            self.batch_ready.notify_one();
        }
    }

    /// Starts exporting to `endpoint` (`HOST:PORT` or `http://HOST:PORT`) until `stop`,
    /// then exports what is queued; the receiver resolves once it is done. `None` when an
    /// exporter already took the queue.
    ///
    /// The exporter has its own thread and runtime (with its own connection): converting
    /// and encoding spans is most of their cost, and a service runs on one worker thread
    /// by default, which stays free for calls.
    pub(crate) fn start_exporter(
        self: &std::sync::Arc<Self>,
        endpoint: &str,
        resource: Vec<(&'static str, String)>,
        stop: CancellationToken,
    ) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let receiver = self
            .receiver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()?;
        let uri = if endpoint.contains("://") {
            endpoint.to_owned()
        } else {
            format!("http://{endpoint}")
        };
        let target = match tonic::transport::Endpoint::from_shared(uri) {
            Ok(target) => target.tcp_nodelay(true),
            Err(error) => {
                warn!(endpoint, %error, "traces: unusable OTLP endpoint; spans are not exported");
                return None;
            }
        };
        let exporter = Exporter {
            resource: Resource {
                attributes: resource
                    .into_iter()
                    .map(|(key, value)| key_value(key, Value::Str(value)))
                    .collect(),
                ..Resource::default()
            },
            queue: self.clone(),
            endpoint: endpoint.to_owned(),
            reported_dropped: 0,
        };
        let (done, finished) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("otlp-export".to_owned())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(async {
                        // Made here, so the connection's task runs on this runtime.
                        let client = TraceServiceClient::new(target.connect_lazy());
                        exporter.run(client, receiver, stop).await;
                    }),
                    Err(error) => warn!(%error, "traces: cannot start the exporter's runtime; spans are not exported"),
                }
                let _ = done.send(());
            });
        match spawned {
            Ok(_) => Some(finished),
            Err(error) => {
                warn!(%error, "traces: cannot start the exporter thread; spans are not exported");
                None
            }
        }
    }
}

struct Exporter {
    resource: Resource,
    queue: std::sync::Arc<SpanQueue>,
    endpoint: String,
    reported_dropped: u64,
}

impl Exporter {
    async fn run(
        mut self,
        mut client: TraceServiceClient<tonic::transport::Channel>,
        mut receiver: mpsc::Receiver<SpanRecord>,
        stop: CancellationToken,
    ) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let first = tokio::select! {
                span = receiver.recv() => span,
                () = stop.cancelled() => None,
            };
            let Some(first) = first else { break };
            batch.push(first);
            // Not polling `recv` meanwhile, so senders have no waker to wake.
            tokio::select! {
                () = tokio::time::sleep(BATCH_DELAY) => {}
                () = self.queue.batch_ready.notified() => {}
                () = stop.cancelled() => {}
            }
            self.export_queued(&mut client, &mut receiver, &mut batch)
                .await;
        }
        // Stopping: what is queued goes out in one last round.
        self.export_queued(&mut client, &mut receiver, &mut batch)
            .await;
    }

    /// Exports `batch` and everything queued behind it, [`MAX_BATCH`] spans at a time.
    async fn export_queued(
        &mut self,
        client: &mut TraceServiceClient<tonic::transport::Channel>,
        receiver: &mut mpsc::Receiver<SpanRecord>,
        batch: &mut Vec<SpanRecord>,
    ) {
        while let Ok(span) = receiver.try_recv() {
            batch.push(span);
            if batch.len() == MAX_BATCH {
                self.export(client, batch).await;
            }
        }
        self.export(client, batch).await;
    }

    async fn export(
        &mut self,
        client: &mut TraceServiceClient<tonic::transport::Channel>,
        batch: &mut Vec<SpanRecord>,
    ) {
        if batch.is_empty() {
            return;
        }
        let count = batch.len();
        let request = request(self.resource.clone(), batch.drain(..));
        let exported = tokio::time::timeout(EXPORT_TIMEOUT, client.export(request)).await;
        match exported {
            Ok(Ok(response)) => {
                let rejected = response
                    .into_inner()
                    .partial_success
                    .map_or(0, |p| p.rejected_spans);
                if rejected > 0 {
                    warn!(endpoint = %self.endpoint, rejected, "traces: the collector rejected spans");
                } else {
                    debug!(endpoint = %self.endpoint, spans = count, "traces: exported");
                }
            }
            Ok(Err(status)) => {
                warn!(endpoint = %self.endpoint, spans = count, error = %status.message(), code = ?status.code(), "traces: export failed; spans dropped");
            }
            Err(_) => {
                warn!(endpoint = %self.endpoint, spans = count, "traces: export timed out; spans dropped");
            }
        }
        let dropped = self.queue.dropped.load(Ordering::Relaxed);
        if dropped > self.reported_dropped {
            warn!(
                dropped = dropped - self.reported_dropped,
                "traces: spans dropped because the export queue was full"
            );
            self.reported_dropped = dropped;
        }
    }
}

fn request(
    resource: Resource,
    spans: impl Iterator<Item = SpanRecord>,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "tern-chassis".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..InstrumentationScope::default()
                }),
                spans: spans.map(otlp_span).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn otlp_span(record: SpanRecord) -> Span {
    let kind = match record.kind {
        SpanKind::Server => span::SpanKind::Server,
        SpanKind::Client => span::SpanKind::Client,
        SpanKind::Producer => span::SpanKind::Producer,
        SpanKind::Consumer => span::SpanKind::Consumer,
    };
    let status = match record.status {
        SpanStatus::Unset => None,
        SpanStatus::Error(message) => Some(Status {
            message,
            code: status::StatusCode::Error as i32,
        }),
    };
    Span {
        trace_id: record.context.trace_id.to_vec(),
        span_id: record.context.span_id.to_vec(),
        parent_span_id: record.parent.map(|p| p.to_vec()).unwrap_or_default(),
        flags: u32::from(record.context.sampled),
        name: record.name.to_string(),
        kind: kind as i32,
        start_time_unix_nano: unix_nanos(record.start),
        end_time_unix_nano: unix_nanos(record.end),
        attributes: record
            .attributes
            .into_iter()
            .map(|(key, value)| key_value(key, value))
            .collect(),
        status,
        ..Span::default()
    }
}

fn key_value(key: &str, value: Value) -> KeyValue {
    let value = match value {
        Value::Str(s) => any_value::Value::StringValue(s),
        Value::Shared(s) => any_value::Value::StringValue(s.to_string()),
        Value::Static(s) => any_value::Value::StringValue(s.to_owned()),
        Value::Header(h) => {
            any_value::Value::StringValue(String::from_utf8_lossy(h.as_bytes()).into_owned())
        }
        Value::Int(i) => any_value::Value::IntValue(i),
    };
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
