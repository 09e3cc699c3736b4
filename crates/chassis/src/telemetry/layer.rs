//! The server side: one layer on the router's routes (`Router::layer`, so the matched
//! route is known) that makes each call's trace context
//! current, and records the call's metrics and span when its response body ends (for
//! gRPC the status is in the trailers, so the call is not over when the handler returns).

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::{Instant, SystemTime},
};

use axum::{body::Body, extract::MatchedPath};
use futures::future::BoxFuture;
use http::{HeaderMap, Request, Response};
use tower::{Layer, Service};

use super::{
    context::{self, CallContext, TraceContext, TRACEPARENT, TRACESTATE},
    observe::ObservedBody,
    red::OTHER_METHOD,
    SpanKind, SpanRecord, SpanStatus, Telemetry, Value,
};
use crate::request::REQUEST_ID_HEADER;

#[derive(Clone)]
pub(crate) struct TelemetryLayer {
    telemetry: Arc<Telemetry>,
    /// The gRPC services served (`package.Service`): other names are one label value.
    grpc_services: Arc<[String]>,
}

impl TelemetryLayer {
    pub(crate) fn new(telemetry: Arc<Telemetry>, grpc_services: Vec<String>) -> Self {
        TelemetryLayer {
            telemetry,
            grpc_services: grpc_services.into(),
        }
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
        let call = Call::start(&self.layer, &request);
        let context = call.context.clone();
        // The clone is fresh; the one polled ready is used.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let response = inner.call(request);
        Box::pin(async move {
            let response = match context {
                Some(context) => context::scope(context, response).await,
                None => response.await,
            }?;
            Ok(call.watch(response))
        })
    }
}

/// What is known about a call from its start until its response ends.
struct Call {
    telemetry: Arc<Telemetry>,
    started: Instant,
    start_time: SystemTime,
    context: Option<CallContext>,
    parent: Option<[u8; 8]>,
    kind: CallKind,
    http_status: u16,
    /// The route axum matched (`Router::layer` runs after routing); `None` for the
    /// fallback.
    route: Option<MatchedPath>,
}

enum CallKind {
    Grpc {
        /// `package.Service`, or [`OTHER_METHOD`] when not served.
        service: String,
        method: String,
    },
    Http {
        method: http::Method,
    },
}

impl Call {
    fn start(layer: &TelemetryLayer, request: &Request<Body>) -> Self {
        let telemetry = layer.telemetry.clone();
        let headers = request.headers();
        let grpc = headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        let kind = if grpc {
            let path = request.uri().path().trim_start_matches('/');
            let (service, method) = path.split_once('/').unwrap_or((path, ""));
            if layer.grpc_services.iter().any(|s| s == service) {
                CallKind::Grpc {
                    service: service.to_owned(),
                    method: method.to_owned(),
                }
            } else {
                CallKind::Grpc {
                    service: OTHER_METHOD.to_owned(),
                    method: OTHER_METHOD.to_owned(),
                }
            }
        } else {
            CallKind::Http {
                method: request.method().clone(),
            }
        };
        if let Some(red) = &telemetry.red {
            match &kind {
                CallKind::Grpc { service, .. } => red.rpc_started(service),
                CallKind::Http { method } => red.http_started(method.as_str()),
            }
        }
        let (context, parent) = if telemetry.traces && !is_probe(request.uri().path()) {
            let (trace, parent) = incoming(headers);
            let context = CallContext {
                trace,
                tracestate: parent.and(headers.get(TRACESTATE).cloned()),
                request_id: headers.get(REQUEST_ID_HEADER).cloned(),
                telemetry: telemetry.clone(),
            };
            (Some(context), parent)
        } else {
            (None, None)
        };
        Call {
            telemetry,
            started: Instant::now(),
            start_time: SystemTime::now(),
            context,
            parent,
            kind,
            http_status: 0,
            route: request.extensions().get::<MatchedPath>().cloned(),
        }
    }

    fn watch(mut self, response: Response<Body>) -> Response<Body> {
        self.http_status = response.status().as_u16();
        let (parts, body) = response.into_parts();
        let body = ObservedBody::new(body, &parts.headers, move |status, ended| {
            self.finish(status, ended)
        });
        Response::from_parts(parts, Body::new(body))
    }

    fn finish(mut self, grpc_status: Option<i32>, ended: bool) {
        let seconds = self.started.elapsed().as_secs_f64();
        let code = match &self.kind {
            CallKind::Grpc { .. } => grpc_status.unwrap_or(if ended {
                // No grpc-status at all: not a gRPC answer (2 = UNKNOWN).
                2
            } else {
                // The client went away before the end (1 = CANCELLED).
                1
            }),
            CallKind::Http { .. } => 0,
        };
        if let CallKind::Grpc { service, method } = &mut self.kind {
            // UNIMPLEMENTED from a served service: a method it does not have.
            if code == 12 {
                *method = OTHER_METHOD.to_owned();
            }
            if service == OTHER_METHOD {
                *method = OTHER_METHOD.to_owned();
            }
        }
        let route = self.route.as_ref().map_or("", |r| r.as_str());
        if let Some(red) = &self.telemetry.red {
            match &self.kind {
                CallKind::Grpc { service, method } => {
                    red.rpc_finished(service, method, code, seconds)
                }
                CallKind::Http { method } => {
                    red.http_finished(method.as_str(), route, self.http_status, seconds)
                }
            }
        }
        let Some(context) = self.context.take() else {
            return;
        };
        if !self.telemetry.records_spans() {
            return;
        }
        let (name, status, attributes) = match &self.kind {
            CallKind::Grpc { service, method } => (
                format!("{service}/{method}"),
                if code == 0 {
                    SpanStatus::Unset
                } else {
                    SpanStatus::Error(format!("gRPC status {code}"))
                },
                vec![
                    ("rpc.system", Value::Str("grpc".to_owned())),
                    ("rpc.service", Value::Str(service.clone())),
                    ("rpc.method", Value::Str(method.clone())),
                    ("rpc.grpc.status_code", Value::Int(i64::from(code))),
                ],
            ),
            CallKind::Http { method } => (
                if route.is_empty() {
                    method.to_string()
                } else {
                    format!("{method} {route}")
                },
                if self.http_status >= 500 {
                    SpanStatus::Error(format!("HTTP {}", self.http_status))
                } else {
                    SpanStatus::Unset
                },
                vec![
                    ("http.request.method", Value::Str(method.to_string())),
                    ("http.route", Value::Str(route.to_owned())),
                    (
                        "http.response.status_code",
                        Value::Int(i64::from(self.http_status)),
                    ),
                ],
            ),
        };
        let mut attributes = attributes;
        if let Some(id) = context.request_id.as_ref().and_then(|v| v.to_str().ok()) {
            attributes.push(("tern.request_id", Value::Str(id.to_owned())));
        }
        self.telemetry.record(SpanRecord {
            context: context.trace,
            parent: self.parent,
            kind: SpanKind::Server,
            name,
            start: self.start_time,
            end: self.start_time + self.started.elapsed(),
            status,
            attributes,
        });
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
/// trace's root.
fn incoming(headers: &HeaderMap) -> (TraceContext, Option<[u8; 8]>) {
    let parent = headers
        .get(TRACEPARENT)
        .and_then(|v| TraceContext::parse_traceparent(v.as_bytes()).ok());
    match parent {
        Some(parent) => (parent.child(), Some(parent.span_id)),
        None => (TraceContext::root(), None),
    }
}
