//! Span fixtures for the unit tests: ids from small numbers so expectations stay readable.

use std::sync::Arc;

use crate::{Span, SpanId, SpanKind, Status, StatusCode, TraceId};

pub fn trace_id(n: u8) -> TraceId {
    let mut bytes = [0; 16];
    bytes[15] = n;
    TraceId::from_bytes(bytes).expect("non-zero")
}

pub fn span_id(n: u8) -> SpanId {
    let mut bytes = [0; 8];
    bytes[7] = n;
    SpanId::from_bytes(bytes).expect("non-zero")
}

/// A span of trace `trace` with id `id` under `parent`, from `start` to `end` nanoseconds.
pub fn span(
    trace: u8,
    id: u8,
    parent: Option<u8>,
    service: &str,
    name: &str,
    start: u64,
    end: u64,
) -> Span {
    Span {
        trace_id: trace_id(trace),
        span_id: span_id(id),
        parent_span_id: parent.map(span_id),
        service: service.to_owned(),
        name: name.to_owned(),
        kind: SpanKind::Internal,
        start_unix_nanos: start,
        end_unix_nanos: end,
        status: Status {
            code: StatusCode::Unset,
            message: String::new(),
        },
        attributes: Vec::new(),
        events: Vec::new(),
        resource: Arc::new(vec![("service.name".to_owned(), service.into())]),
    }
}

pub trait SpanExt {
    fn error(self, message: &str) -> Span;
}

impl SpanExt for Span {
    fn error(mut self, message: &str) -> Span {
        self.status = Status {
            code: StatusCode::Error,
            message: message.to_owned(),
        };
        self
    }
}
