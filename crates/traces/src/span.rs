//! The stored span: what the store, the API and the waterfall need from an OTLP span.

use std::sync::Arc;

use crate::{SpanId, TraceId};

/// Key/value pairs in arrival order. OTLP `AnyValue`s become JSON: strings, booleans,
/// numbers (ints exactly; NaN and infinities as the strings `"NaN"`, `"Infinity"`,
/// `"-Infinity"`), bytes as base64 strings, arrays, key/value lists as objects, empty as null.
pub type Attributes = Vec<(String, serde_json::Value)>;

/// The resource attribute naming a span's service.
pub const SERVICE_NAME: &str = "service.name";

/// The service of spans whose resource has no `service.name` (the OpenTelemetry default).
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// One span of a trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// The resource's `service.name`, or [`UNKNOWN_SERVICE`].
    pub service: String,
    pub name: String,
    pub kind: SpanKind,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    pub status: Status,
    pub attributes: Attributes,
    pub events: Vec<Event>,
    /// All resource attributes (`service.name`, `service.instance.id`, `host.name`...), shared
    /// by the spans of one resource in one request.
    pub resource: Arc<Attributes>,
}

impl Span {
    /// End minus start; 0 when a clock went backwards.
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }

    pub fn is_error(&self) -> bool {
        self.status.code == StatusCode::Error
    }
}

/// OTLP `Span.SpanKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    const ALL: [SpanKind; 6] = [
        SpanKind::Unspecified,
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];

    /// From the OTLP enum number; numbers from a newer OTLP version read as `Unspecified`.
    pub fn from_otlp(value: i32) -> Self {
        usize::try_from(value)
            .ok()
            .and_then(|index| Self::ALL.get(index).copied())
            .unwrap_or(SpanKind::Unspecified)
    }

    /// The lowercase name used by the JSON API: `"server"`, `"client"`...
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }

    /// The inverse of [`SpanKind::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// OTLP `Status`: a code and a developer-facing message (only meaningful with `Error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: StatusCode,
    pub message: String,
}

/// OTLP `Status.StatusCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusCode {
    Unset,
    Ok,
    Error,
}

impl StatusCode {
    /// From the OTLP enum number; unknown numbers read as `Unset`.
    pub fn from_otlp(value: i32) -> Self {
        match value {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }

    /// The lowercase name used by the JSON API: `"unset"`, `"ok"`, `"error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Unset => "unset",
            StatusCode::Ok => "ok",
            StatusCode::Error => "error",
        }
    }

    /// The inverse of [`StatusCode::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        [StatusCode::Unset, StatusCode::Ok, StatusCode::Error]
            .into_iter()
            .find(|code| code.as_str() == name)
    }
}

/// A timestamped annotation on a span (an exception, a retry...).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub name: String,
    pub time_unix_nanos: u64,
    pub attributes: Attributes,
}
