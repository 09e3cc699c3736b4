//! The HTTP listener: OTLP/HTTP `POST /v1/traces` and the JSON query API. `status_of` is the
//! only place errors become HTTP status codes.

use std::io::Read as _;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;

use crate::api::{parse_list_query, ErrorJson, SummaryJson, TraceList, TraceResponse};
use crate::{json, otlp, Error, StoreHandle, TraceId};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

#[derive(Clone)]
struct Receiver {
    store: StoreHandle,
    max_request_bytes: usize,
}

/// The HTTP routes over `store`, for serving or for `tower::ServiceExt::oneshot` in tests.
/// Export bodies over `max_request_bytes` (compressed or inflated) are refused with 413.
pub fn router(store: StoreHandle, max_request_bytes: usize) -> Router {
    Router::new()
        .route("/v1/traces", post(export))
        .route("/api/traces", get(list))
        .route("/api/traces/{trace_id}", get(trace))
        .with_state(Receiver {
            store,
            max_request_bytes,
        })
}

fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::UnsupportedContentType(_) | Error::UnsupportedContentEncoding(_) => {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        }
        Error::TraceNotFound(_) => StatusCode::NOT_FOUND,
        Error::InvalidConfig(_) | Error::Http(_) | Error::Grpc(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        Error::InvalidId { .. }
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

async fn export(State(receiver): State<Receiver>, headers: HeaderMap, body: Body) -> Response {
    // Errors before the encoding is known are answered in JSON, the readable one.
    let encoding = match content_type(&headers) {
        Ok(encoding) => encoding,
        Err(error) => return otlp_error(Encoding::Json, &error),
    };
    match receive(&receiver, &headers, body, encoding).await {
        Ok(response) => match encoding {
            Encoding::Protobuf => (
                [(header::CONTENT_TYPE, HeaderValue::from_static(PROTOBUF))],
                response.encode_to_vec(),
            )
                .into_response(),
            Encoding::Json => Json(partial_success_json(&response)).into_response(),
        },
        Err(error) => otlp_error(encoding, &error),
    }
}

async fn receive(
    receiver: &Receiver,
    headers: &HeaderMap,
    body: Body,
    encoding: Encoding,
) -> Result<ExportTraceServiceResponse, Error> {
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
    let request = match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body)
            .map_err(|error| Error::MalformedProtobuf(error.to_string()))?,
        Encoding::Json => json::decode(&body)?,
    };
    otlp::export(&receiver.store, request)
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

/// Protobuf JSON of `ExportTraceServiceResponse` (int64 as a string).
fn partial_success_json(response: &ExportTraceServiceResponse) -> serde_json::Value {
    match &response.partial_success {
        Some(partial) => serde_json::json!({"partialSuccess": {
            "rejectedSpans": partial.rejected_spans.to_string(),
            "errorMessage": partial.error_message,
        }}),
        None => serde_json::json!({}),
    }
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
