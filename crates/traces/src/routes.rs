//! The HTTP listener: OTLP/HTTP `POST /v1/traces`, `/v1/metrics`, `/v1/logs` and the JSON
//! query API. `status_of` is the only place errors become HTTP status codes.

use std::io::Read as _;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;

use crate::api::{parse_list_query, ErrorJson, SummaryJson, TraceList, TraceResponse};
use crate::logs::{self, LogSinkHandle};
use crate::{json, otlp, Error, MetricStore, StoreHandle, TraceConfig, TraceId};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

#[derive(Clone)]
struct Receiver {
    store: StoreHandle,
    metrics: MetricStore,
    logs: Option<LogSinkHandle>,
    max_request_bytes: usize,
}

/// The HTTP routes of `config`, for serving or for `tower::ServiceExt::oneshot` in tests:
/// `POST /v1/traces`, `/v1/metrics`, `/v1/logs` (only with a log sink) and the trace API.
/// Export bodies over `max_request_bytes` (compressed or inflated) are refused with 413.
pub fn router(config: &TraceConfig) -> Router {
    let receiver = Receiver {
        store: config.store.clone(),
        metrics: config.metrics.clone(),
        logs: config.logs.clone(),
        max_request_bytes: config.max_request_bytes,
    };
    let mut router = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(r): State<Receiver>, headers: HeaderMap, body: Body| async move {
                    export::<ExportTraceServiceRequest, _>(&r, &headers, body, |request| {
                        otlp::export(&r.store, request)
                    })
                    .await
                },
            ),
        )
        .route(
            "/v1/metrics",
            post(
                |State(r): State<Receiver>, headers: HeaderMap, body: Body| async move {
                    export::<ExportMetricsServiceRequest, _>(&r, &headers, body, |request| {
                        r.metrics.export(request)
                    })
                    .await
                },
            ),
        );
    if receiver.logs.is_some() {
        router = router.route(
            "/v1/logs",
            post(
                |State(r): State<Receiver>, headers: HeaderMap, body: Body| async move {
                    let Some(sink) = r.logs.clone() else {
                        return StatusCode::NOT_FOUND.into_response();
                    };
                    export::<ExportLogsServiceRequest, _>(&r, &headers, body, |request| {
                        logs::export(&sink, request)
                    })
                    .await
                },
            ),
        );
    }
    router
        .route("/api/traces", get(list))
        .route("/api/traces/{trace_id}", get(trace))
        .with_state(receiver)
}

/// An OTLP export request type, with its response, in both encodings.
trait Signal: prost::Message + Default + Sized {
    type Response: prost::Message;
    fn from_json(body: &[u8]) -> Result<Self, Error>;
    /// Protobuf JSON of the response: `{}` or its partial success (int64 as a string).
    fn response_json(response: &Self::Response) -> serde_json::Value;
}

impl Signal for ExportTraceServiceRequest {
    type Response = ExportTraceServiceResponse;
    fn from_json(body: &[u8]) -> Result<Self, Error> {
        json::decode(body)
    }
    fn response_json(response: &Self::Response) -> serde_json::Value {
        match &response.partial_success {
            Some(partial) => serde_json::json!({"partialSuccess": {
                "rejectedSpans": partial.rejected_spans.to_string(),
                "errorMessage": partial.error_message,
            }}),
            None => serde_json::json!({}),
        }
    }
}

impl Signal for ExportMetricsServiceRequest {
    type Response = ExportMetricsServiceResponse;
    fn from_json(body: &[u8]) -> Result<Self, Error> {
        json::metrics::decode(body)
    }
    fn response_json(response: &Self::Response) -> serde_json::Value {
        match &response.partial_success {
            Some(partial) => serde_json::json!({"partialSuccess": {
                "rejectedDataPoints": partial.rejected_data_points.to_string(),
                "errorMessage": partial.error_message,
            }}),
            None => serde_json::json!({}),
        }
    }
}

impl Signal for ExportLogsServiceRequest {
    type Response = ExportLogsServiceResponse;
    fn from_json(body: &[u8]) -> Result<Self, Error> {
        json::logs::decode(body)
    }
    fn response_json(response: &Self::Response) -> serde_json::Value {
        match &response.partial_success {
            Some(partial) => serde_json::json!({"partialSuccess": {
                "rejectedLogRecords": partial.rejected_log_records.to_string(),
                "errorMessage": partial.error_message,
            }}),
            None => serde_json::json!({}),
        }
    }
}

fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::UnsupportedContentType(_) | Error::UnsupportedContentEncoding(_) => {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        }
        Error::TraceNotFound(_) => StatusCode::NOT_FOUND,
        Error::InvalidConfig(_) | Error::Http(_) | Error::Grpc(_) | Error::LogSink(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        Error::NoDataPointAccepted { .. }
        | Error::InvalidId { .. }
        | Error::MalformedJson(_)
        | Error::MalformedProtobuf(_)
        | Error::MalformedGzip(_)
        | Error::Body(_)
        | Error::NoSpanAccepted { .. }
        | Error::InvalidQuery { .. }
        | Error::UnknownQueryParameter(_)
        | Error::InvalidApiSpan { .. } => StatusCode::BAD_REQUEST,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Protobuf,
    Json,
}

/// `google.rpc.Status`, the body OTLP/HTTP specifies for error responses.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

async fn export<S: Signal, F>(
    receiver: &Receiver,
    headers: &HeaderMap,
    body: Body,
    handle: F,
) -> Response
where
    F: FnOnce(S) -> Result<S::Response, Error>,
{
    // Errors before the encoding is known are answered in JSON, the readable one.
    let encoding = match content_type(headers) {
        Ok(encoding) => encoding,
        Err(error) => return otlp_error(Encoding::Json, &error),
    };
    let result = receive::<S>(receiver, headers, body, encoding)
        .await
        .and_then(handle);
    match result {
        Ok(response) => match encoding {
            Encoding::Protobuf => (
                [(header::CONTENT_TYPE, HeaderValue::from_static(PROTOBUF))],
                response.encode_to_vec(),
            )
                .into_response(),
            Encoding::Json => Json(S::response_json(&response)).into_response(),
        },
        Err(error) => otlp_error(encoding, &error),
    }
}

async fn receive<S: Signal>(
    receiver: &Receiver,
    headers: &HeaderMap,
    body: Body,
    encoding: Encoding,
) -> Result<S, Error> {
    let limit = receiver.max_request_bytes;
    let gzip = gzip_encoded(headers)?;
    let body = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|error| match error.downcast_ref::<LengthLimitError>() {
            Some(_) => Error::TooLarge { limit },
            None => Error::Body(error.to_string()),
        })?
        .to_bytes();
    let body = if gzip {
        gunzip(&body, limit)?.into()
    } else {
        body
    };
    match encoding {
        Encoding::Protobuf => {
            S::decode(body).map_err(|error| Error::MalformedProtobuf(error.to_string()))
        }
        Encoding::Json => S::from_json(&body),
    }
}

fn content_type(headers: &HeaderMap) -> Result<Encoding, Error> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default();
    let media_type = value.split(';').next().unwrap_or_default().trim();
    if media_type.eq_ignore_ascii_case(PROTOBUF) {
        Ok(Encoding::Protobuf)
    } else if media_type.eq_ignore_ascii_case(JSON) {
        Ok(Encoding::Json)
    } else {
        Err(Error::UnsupportedContentType(value))
    }
}

fn gzip_encoded(headers: &HeaderMap) -> Result<bool, Error> {
    match headers.get(header::CONTENT_ENCODING) {
        None => Ok(false),
        Some(value) => {
            let value = String::from_utf8_lossy(value.as_bytes());
            match value.trim().to_ascii_lowercase().as_str() {
                "gzip" => Ok(true),
                "" | "identity" => Ok(false),
                _ => Err(Error::UnsupportedContentEncoding(value.into_owned())),
            }
        }
    }
}

/// Inflates at most `limit` bytes, so a small bomb cannot take the memory.
fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    let mut inflated = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut inflated)
        .map_err(|error| Error::MalformedGzip(error.to_string()))?;
    if inflated.len() > limit {
        return Err(Error::TooLarge { limit });
    }
    Ok(inflated)
}

fn otlp_error(encoding: Encoding, error: &Error) -> Response {
    let status = status_of(error);
    let rpc = RpcStatus {
        code: tonic::Code::InvalidArgument as i32,
        message: error.to_string(),
    };
    tracing::debug!(%status, error = %rpc.message, "export refused");
    match encoding {
        Encoding::Protobuf => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(PROTOBUF))],
            rpc.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => (
            status,
            Json(serde_json::json!({"code": rpc.code, "message": rpc.message})),
        )
            .into_response(),
    }
}

fn api_error(error: &Error) -> Response {
    let body = ErrorJson {
        error: error.to_string(),
    };
    (status_of(error), Json(body)).into_response()
}

async fn list(State(receiver): State<Receiver>, RawQuery(query): RawQuery) -> Response {
    match parse_list_query(query.as_deref()) {
        Ok(query) => {
            let traces = receiver
                .store
                .list(&query)
                .iter()
                .map(SummaryJson::from)
                .collect();
            Json(TraceList { traces }).into_response()
        }
        Err(error) => api_error(&error),
    }
}

async fn trace(State(receiver): State<Receiver>, Path(trace_id): Path<String>) -> Response {
    let found = trace_id.parse::<TraceId>().and_then(|id| {
        receiver
            .store
            .trace(&id)
            .and_then(|spans| TraceResponse::of(&spans))
            .ok_or(Error::TraceNotFound(id))
    });
    match found {
        Ok(trace) => Json(trace).into_response(),
        Err(error) => api_error(&error),
    }
}
