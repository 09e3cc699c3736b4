//! OTLP/gRPC: `opentelemetry.proto.collector.{trace,metrics,logs}.v1.*Service/Export` on
//! tonic, gzip accepted. `to_status` is the only place errors become gRPC codes.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::server::NamedService;
use tonic::{Code, Request, Response, Status};

use crate::logs::{self, LogSinkHandle};
use crate::{otlp, Error, MetricStore, StoreHandle};

pub(crate) struct Receiver {
    store: StoreHandle,
}

pub(crate) struct MetricsReceiver {
    metrics: MetricStore,
}

pub(crate) struct LogsReceiver {
    logs: LogSinkHandle,
}

#[tonic::async_trait]
impl MetricsService for MetricsReceiver {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.metrics
            .export(request.into_inner())
            .map(Response::new)
            .map_err(|error| to_status(&error))
    }
}

#[tonic::async_trait]
impl LogsService for LogsReceiver {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        logs::export(&self.logs, request.into_inner())
            .map(Response::new)
            .map_err(|error| to_status(&error))
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        otlp::export(&self.store, request.into_inner())
            .map(Response::new)
            .map_err(|error| to_status(&error))
    }
}

fn to_status(error: &Error) -> Status {
    match error {
        Error::InvalidConfig(_) | Error::Http(_) | Error::Grpc(_) => {
            Status::internal(error.to_string())
        }
        // A sink that could not write may manage later: the one code exporters retry.
        Error::LogSink(_) => Status::unavailable(error.to_string()),
        _ => Status::invalid_argument(error.to_string()),
    }
}

/// The TraceService over `store`, with messages up to `max_request_bytes` (after inflating).
pub(crate) fn service(
    store: StoreHandle,
    max_request_bytes: usize,
) -> DecodeErrorsAreInvalid<TraceServiceServer<Receiver>> {
    DecodeErrorsAreInvalid(
        TraceServiceServer::new(Receiver { store })
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max_request_bytes),
    )
}

/// The MetricsService into `metrics`, with the same limits.
pub(crate) fn metrics_service(
    metrics: MetricStore,
    max_request_bytes: usize,
) -> DecodeErrorsAreInvalid<MetricsServiceServer<MetricsReceiver>> {
    DecodeErrorsAreInvalid(
        MetricsServiceServer::new(MetricsReceiver { metrics })
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max_request_bytes),
    )
}

/// The LogsService into `logs`, with the same limits.
pub(crate) fn logs_service(
    logs: LogSinkHandle,
    max_request_bytes: usize,
) -> DecodeErrorsAreInvalid<LogsServiceServer<LogsReceiver>> {
    DecodeErrorsAreInvalid(
        LogsServiceServer::new(LogsReceiver { logs })
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max_request_bytes),
    )
}

/// Answers INVALID_ARGUMENT where tonic, decoding the request, answers INTERNAL (malformed
/// protobuf, bad compression flag), OUT_OF_RANGE (message over the limit) or
/// RESOURCE_EXHAUSTED (inflated over the limit). OTLP exporters retry those three codes
/// (the Python SDK for up to its whole timeout) although resending cannot help, while
/// INVALID_ARGUMENT is final. The receivers' `export` never answer them themselves, so
/// every such code here came from decoding.
#[derive(Clone)]
pub(crate) struct DecodeErrorsAreInvalid<S>(S);

impl<S: NamedService> NamedService for DecodeErrorsAreInvalid<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Infallible>> + Send + 'static>>;
type GrpcRequest = http::Request<tonic::body::Body>;

impl<S> tower::Service<GrpcRequest> for DecodeErrorsAreInvalid<S>
where
    S: tower::Service<
        GrpcRequest,
        Response = http::Response<tonic::body::Body>,
        Error = Infallible,
    >,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: GrpcRequest) -> Self::Future {
        let response = tower::Service::call(&mut self.0, request);
        Box::pin(async move {
            let mut response = response.await?;
            // Request errors come back trailers-only: the status is in the headers.
            let headers = response.headers_mut();
            let code = headers
                .get(Status::GRPC_STATUS)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse::<i32>().ok())
                .map(Code::from_i32);
            if matches!(
                code,
                Some(Code::Internal | Code::OutOfRange | Code::ResourceExhausted)
            ) {
                headers.insert(
                    Status::GRPC_STATUS,
                    http::HeaderValue::from(Code::InvalidArgument as i32),
                );
            }
            Ok(response)
        })
    }
}
