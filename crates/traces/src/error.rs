//! The crate's one error type. `routes.rs` (`status_of`) and `grpc.rs` (`to_status`) are the
//! only places these become protocol codes.

use crate::TraceId;

/// What went wrong: bad input from an exporter or an API client, a bad config, or serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A trace or span id that is not the right number of hex digits / bytes, or all zero.
    #[error("invalid {what} {text:?}: expected {expected} hex digits, not all zero")]
    InvalidId {
        what: &'static str,
        text: String,
        expected: usize,
    },
    /// An OTLP/JSON body that does not parse; names the JSON path and position.
    #[error("malformed OTLP/JSON request: {0}")]
    MalformedJson(String),
    /// An OTLP protobuf body that does not decode as an `ExportTraceServiceRequest`.
    #[error("malformed OTLP protobuf request: {0}")]
    MalformedProtobuf(String),
    /// A gzip body that does not inflate.
    #[error("malformed gzip request body: {0}")]
    MalformedGzip(String),
    /// A request body over the limit (before or after inflating).
    #[error("request body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// The request body could not be read.
    #[error("reading the request body: {0}")]
    Body(String),
    /// `POST /v1/traces` with a Content-Type other than OTLP's two.
    #[error(
        "unsupported Content-Type {0:?}: expected \"application/x-protobuf\" or \"application/json\""
    )]
    UnsupportedContentType(String),
    /// A Content-Encoding other than gzip or identity.
    #[error("unsupported Content-Encoding {0:?}: expected \"gzip\" or none")]
    UnsupportedContentEncoding(String),
    /// Every span of an export request was invalid; `reason` describes the first.
    #[error("all {rejected} spans rejected: {reason}")]
    NoSpanAccepted { rejected: u64, reason: String },
    /// Every data point of a metrics export request was rejected; `reason` describes the first.
    #[error("all {rejected} metric data points rejected: {reason}")]
    NoDataPointAccepted { rejected: u64, reason: String },
    /// The log sink could not keep the log records of an export request.
    #[error("cannot store the log records: {0}")]
    LogSink(String),
    /// A query parameter with a value of the wrong form.
    #[error("invalid query parameter {name}={value:?}: expected {expected}")]
    InvalidQuery {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A query parameter the API does not know (a typo would otherwise be ignored silently).
    #[error("unknown query parameter {0:?}: expected service, min_duration, errors or limit")]
    UnknownQueryParameter(String),
    /// A span of the JSON API that cannot be turned back into a [`crate::Span`].
    #[error("invalid span {span_id} in the trace API response: {problem}")]
    InvalidApiSpan { span_id: String, problem: String },
    /// No trace with this id is stored (evicted or never received).
    #[error("trace {0} not found")]
    TraceNotFound(TraceId),
    /// A configuration that cannot work.
    #[error("invalid trace server config: {0}")]
    InvalidConfig(String),
    /// The OTLP/HTTP and query API server failed.
    #[error("trace HTTP server: {0}")]
    Http(#[from] std::io::Error),
    /// The OTLP/gRPC server failed.
    #[error("trace gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
}
