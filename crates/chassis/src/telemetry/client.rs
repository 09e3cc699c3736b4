//! The client side of a call made while serving one (through the discovery client): a
//! child span, `traceparent` / `tracestate` / `x-request-id` sent on, and the client
//! duration metric. Outside a served call nothing is added: the callee starts the trace.

use std::{
    sync::Arc,
    time::{Instant, SystemTime},
};

use http::{HeaderValue, Request, Response};

use super::{
    context::{self, TraceContext, TRACEPARENT, TRACESTATE},
    observe::ObservedBody,
    SpanKind, SpanRecord, SpanStatus, Telemetry, Value,
};
use crate::request::REQUEST_ID_HEADER;

pub(crate) struct ClientCall {
    telemetry: Arc<Telemetry>,
    trace: TraceContext,
    parent: [u8; 8],
    peer: String,
    service: String,
    method: String,
    started: Instant,
    start_time: SystemTime,
}

impl ClientCall {
    /// Adds the headers to `request` and starts timing, when the task serves a call.
    pub(crate) fn start<B>(peer: &str, request: &mut Request<B>) -> Option<Self> {
        let context::Outgoing {
            trace,
            parent,
            tracestate,
            request_id,
            telemetry,
        } = context::outgoing()?;
        let headers = request.headers_mut();
        if let Ok(value) = HeaderValue::try_from(trace.traceparent()) {
            headers.insert(TRACEPARENT, value);
        }
        if let Some(tracestate) = tracestate {
            headers.insert(TRACESTATE, tracestate);
        }
        if let Some(request_id) = request_id {
            headers.entry(REQUEST_ID_HEADER).or_insert(request_id);
        }
        let path = request.uri().path().trim_start_matches('/');
        let (service, method) = path.split_once('/').unwrap_or((path, ""));
        Some(ClientCall {
            telemetry,
            trace,
            parent,
            peer: peer.to_owned(),
            service: service.to_owned(),
            method: method.to_owned(),
            started: Instant::now(),
            start_time: SystemTime::now(),
        })
    }

    /// The response, whose end (trailers) completes the call.
    pub(crate) fn watch(
        self,
        response: Response<tonic::body::Body>,
    ) -> Response<tonic::body::Body> {
        let (parts, body) = response.into_parts();
        let body = ObservedBody::new(
            body,
            &parts.headers,
            move |status: Option<i32>, ended: bool| {
                // 2 = UNKNOWN (no status at all), 1 = CANCELLED (dropped before the end).
                self.finish(status.unwrap_or(if ended { 2 } else { 1 }), None)
            },
        );
        Response::from_parts(parts, tonic::body::Body::new(body))
    }

    /// The call failed before a response (no instance, timeout, connection lost).
    pub(crate) fn failed(self, error: &(dyn std::error::Error + 'static)) {
        let code = error
            .downcast_ref::<tonic::Status>()
            .map_or(14, |status| status.code() as i32);
        self.finish(code, Some(error.to_string()));
    }

    fn finish(self, code: i32, error: Option<String>) {
        let elapsed = self.started.elapsed();
        if let Some(red) = &self.telemetry.red {
            red.client_finished(
                &self.service,
                &self.method,
                code,
                &self.peer,
                elapsed.as_secs_f64(),
            );
        }
        if !self.trace.sampled || !self.telemetry.records_spans() {
            return;
        }
        let status = match (code, error) {
            (0, _) => SpanStatus::Unset,
            (_, Some(error)) => SpanStatus::Error(error),
            (code, None) => SpanStatus::Error(format!("gRPC status {code}")),
        };
        self.telemetry.record(SpanRecord {
            context: self.trace,
            parent: Some(self.parent),
            kind: SpanKind::Client,
            name: format!("{}/{}", self.service, self.method).into(),
            start: self.start_time,
            end: self.start_time + elapsed,
            status,
            attributes: vec![
                ("rpc.system", Value::Str("grpc".to_owned())),
                ("rpc.service", Value::Str(self.service)),
                ("rpc.method", Value::Str(self.method)),
                ("rpc.grpc.status_code", Value::Int(i64::from(code))),
                ("peer.service", Value::Str(self.peer)),
            ],
        });
    }
}
