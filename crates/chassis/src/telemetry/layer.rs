//! The server side: one layer around the router that makes each call's trace context
//! current, and records the call's metrics and span when its response body ends (for
//! gRPC the status is in the trailers, so the call is not over when the handler returns).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Instant, SystemTime},
};

use axum::{body::Body, extract::MatchedPath};
use futures::future::BoxFuture;
use http::{HeaderMap, Request, Response};
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

use super::{
    context::{self, CallContext, TraceContext, TRACEPARENT, TRACESTATE},
    methods::GrpcMethod,
    observe::{CallEnd, ObservedBody},
    SpanKind, SpanRecord, SpanStatus, Telemetry, Value,
};
use crate::request::REQUEST_ID_HEADER;

/// Around the whole router; inert (no call is observed) with metrics and traces off, so
/// the served types are the same either way.
#[derive(Clone)]
pub(crate) struct TelemetryLayer {
    /// The telemetry, and the gRPC services served (`package.Service`: other names are one
    /// label value); `None` when off.
    on: Option<(Arc<Telemetry>, Arc<[String]>)>,
}

impl TelemetryLayer {
    pub(crate) fn new(telemetry: Arc<Telemetry>, grpc_services: Vec<String>) -> Self {
        TelemetryLayer {
            on: Some((telemetry, grpc_services.into())),
        }
    }

    pub(crate) fn off() -> Self {
        TelemetryLayer { on: None }
    }
}

impl<S> Layer<S> for TelemetryLayer {
    type Service = Instrumented<S>;

    fn layer(&self, inner: S) -> Instrumented<S> {
        Instrumented {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Instrumented<S> {
    inner: S,
    layer: TelemetryLayer,
}

impl<S> Service<Request<Body>> for Instrumented<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone,
{
    type Response = Response<ObservedBody<Body, Call>>;
    type Error = S::Error;
    type Future = InstrumentedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let call = self
            .layer
            .on
            .as_ref()
            .map(|(telemetry, served)| Call::start(telemetry, served, &request));
        let context = call.as_ref().and_then(|c| c.context.clone());
        // The clone is fresh; the one polled ready is used.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        InstrumentedFuture {
            inner: context::scope(context, inner.call(request)),
            call,
        }
    }
}

pin_project_lite::pin_project! {
    /// The router's future, run with the call's context current; its response's body is
    /// observed. No allocation of its own: it lives inside the connection's task.
    pub(crate) struct InstrumentedFuture<F> {
        #[pin]
        inner: TaskLocalFuture<Option<CallContext>, F>,
        call: Option<Call>,
    }
}

impl<F, E> Future for InstrumentedFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<ObservedBody<Body, Call>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx))?;
        Poll::Ready(Ok(match this.call.take() {
            Some(call) => call.watch(response),
            None => response.map(ObservedBody::unobserved),
        }))
    }
}

/// What is known about a call from its start until its response ends.
pub(crate) struct Call {
    telemetry: Arc<Telemetry>,
    started: Instant,
    start_time: SystemTime,
    context: Option<CallContext>,
    parent: Option<[u8; 8]>,
    kind: CallKind,
    http_status: u16,
    /// The HTTP route axum matched ([`RouteToResponse`]); `None` for gRPC and the
    /// fallback.
    route: Option<MatchedPath>,
}

enum CallKind {
    Grpc(Arc<GrpcMethod>),
    Http { method: http::Method },
}

impl Call {
    fn start(telemetry: &Arc<Telemetry>, served: &[String], request: &Request<Body>) -> Self {
        let telemetry = telemetry.clone();
        let headers = request.headers();
        let grpc = headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        let kind = if grpc {
            let method =
                telemetry
                    .grpc_methods
                    .get(request.uri().path(), served, telemetry.red.as_ref());
            method.started();
            CallKind::Grpc(method)
        } else {
            let method = request.method().clone();
            if let Some(red) = &telemetry.red {
                red.http_started(method.as_str());
            }
            CallKind::Http { method }
        };
        let started = Instant::now();
        let (context, parent) = if telemetry.traces && !is_probe(request.uri().path()) {
            let (trace, parent) = incoming(headers, &telemetry, started);
            let context = CallContext {
                trace,
                tracestate: parent.and_then(|_| headers.get(TRACESTATE).cloned()),
                request_id: headers.get(REQUEST_ID_HEADER).cloned(),
                telemetry: telemetry.clone(),
            };
            (Some(context), parent)
        } else {
            (None, None)
        };
        let start_time = if context.as_ref().is_some_and(|c| c.trace.sampled) {
            SystemTime::now()
        } else {
            SystemTime::UNIX_EPOCH
        };
        Call {
            telemetry,
            started,
            start_time,
            context,
            parent,
            kind,
            http_status: 0,
            route: None,
        }
    }

    fn watch(mut self, response: Response<Body>) -> Response<ObservedBody<Body, Call>> {
        let (mut parts, body) = response.into_parts();
        self.http_status = parts.status.as_u16();
        self.route = parts.extensions.remove::<MatchedPath>();
        let body = ObservedBody::new(body, &parts.headers, self);
        Response::from_parts(parts, body)
    }

    fn finish(self, grpc_status: Option<i32>, ended: bool) {
        let elapsed = self.started.elapsed();
        let seconds = elapsed.as_secs_f64();
        let red = self.telemetry.red.as_ref();
        let route = self.route.as_ref().map_or("", |r| r.as_str());
        let code = match &self.kind {
            CallKind::Grpc(method) => {
                // No grpc-status at all: not a gRPC answer (2 = UNKNOWN); dropped before
                // the end: the client went away (1 = CANCELLED).
                let code = grpc_status.unwrap_or(if ended { 2 } else { 1 });
                method.finished(red, code, seconds);
                code
            }
            CallKind::Http { method } => {
                if let Some(red) = red {
                    red.http_finished(method.as_str(), route, self.http_status, seconds);
                }
                0
            }
        };
        let Some(context) = self.context.filter(|c| c.trace.sampled) else {
            return;
        };
        if !self.telemetry.records_spans() {
            return;
        }
        let mut attributes = Vec::with_capacity(5);
        let (name, status) = match &self.kind {
            CallKind::Grpc(method) => {
                attributes.extend([
                    ("rpc.system", Value::Static("grpc")),
                    ("rpc.service", Value::Shared(method.service.clone())),
                    ("rpc.method", Value::Shared(method.method.clone())),
                    ("rpc.grpc.status_code", Value::Int(i64::from(code))),
                ]);
                let status = if code == 0 {
                    SpanStatus::Unset
                } else {
                    SpanStatus::Error(format!("gRPC status {code}"))
                };
                (method.span_name.clone(), status)
            }
            CallKind::Http { method } => {
                attributes.extend([
                    ("http.request.method", Value::Str(method.to_string())),
                    ("http.route", Value::Str(route.to_owned())),
                    (
                        "http.response.status_code",
                        Value::Int(i64::from(self.http_status)),
                    ),
                ]);
                let name = if route.is_empty() {
                    method.to_string()
                } else {
                    format!("{method} {route}")
                };
                let status = if self.http_status >= 500 {
                    SpanStatus::Error(format!("HTTP {}", self.http_status))
                } else {
                    SpanStatus::Unset
                };
                (name.into(), status)
            }
        };
        if let Some(id) = context.request_id {
            attributes.push(("tern.request_id", Value::Header(id)));
        }
        self.telemetry.record(SpanRecord {
            context: context.trace,
            parent: self.parent,
            kind: SpanKind::Server,
            name,
            start: self.start_time,
            end: self.start_time + elapsed,
            status,
            attributes,
        });
    }
}

impl CallEnd for Call {
    fn end(self, grpc_status: Option<i32>, ended: bool) {
        self.finish(grpc_status, ended);
    }
}

/// Health checks and scrapes: every second from each checker, and nobody's request; they
/// are counted in the metrics but get no span (they would crowd real traces out of a
/// bounded store).
fn is_probe(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The call's span: a child of the caller's `traceparent` (kept when valid), else a new
/// trace's root (sampled or not as of `now`).
fn incoming(
    headers: &HeaderMap,
    telemetry: &Telemetry,
    now: Instant,
) -> (TraceContext, Option<[u8; 8]>) {
    let parent = headers
        .get(TRACEPARENT)
        .and_then(|v| TraceContext::parse_traceparent(v.as_bytes()).ok());
    match parent {
        Some(parent) => (parent.child(), Some(parent.span_id)),
        None => {
            let mut root = TraceContext::root();
            root.sampled = telemetry.records_spans() && telemetry.sampler.sample_at(now);
            (root, None)
        }
    }
}

/// Copies the route an HTTP request matched into its response, where [`Instrumented`]
/// reads it (axum only puts it on the request). Applied with `Router::route_layer` to the
/// HTTP routes only, so gRPC calls do not pay for it.
#[derive(Clone)]
pub(crate) struct RouteToResponse;

impl<S> Layer<S> for RouteToResponse {
    type Service = RouteToResponseService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RouteToResponseService { inner }
    }
}

#[derive(Clone)]
pub(crate) struct RouteToResponseService<S> {
    inner: S,
}

impl<S> Service<Request<Body>> for RouteToResponseService<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            if let Some(route) = route {
                response.extensions_mut().insert(route);
            }
            Ok(response)
        })
    }
}
