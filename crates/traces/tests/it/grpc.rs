//! OTLP/gRPC with tonic clients: the generated `TraceServiceClient` an exporter (the
//! chassis) uses, and a raw client for payloads no exporter would send.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use tern_traces::TraceConfig;
use tonic::codec::CompressionEncoding;
use tonic::Code;

use crate::support::{failed, listed, otlp_span, request, Running};

async fn client(server: &Running) -> TraceServiceClient<tonic::transport::Channel> {
    TraceServiceClient::connect(format!("http://{}", server.grpc))
        .await
        .expect("connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzipping_tonic_exporter_is_received() {
    let server = Running::start().await;
    let mut client = client(&server)
        .await
        .send_compressed(CompressionEncoding::Gzip);
    let spans = vec![
        otlp_span(9, 2, Some(1), "child", 20, 30),
        failed(otlp_span(9, 1, None, "root", 10, 40), "boom"),
    ];
    let response = client
        .export(request("chassis-svc", spans))
        .await
        .expect("exported");
    assert_eq!(response.into_inner().partial_success, None);
    assert_eq!(
        listed(server.http, "?service=chassis-svc&errors=true").await,
        [(
            "00000000000000000000000000000009".to_owned(),
            "root".to_owned()
        )]
    );
    server.stop().await;
}

/// Field 1 of `ExportTraceServiceRequest` (`resource_spans`) as opaque bytes, so a test can
/// put anything on the wire.
#[derive(Clone, PartialEq, prost::Message)]
struct RawRequest {
    #[prost(bytes = "vec", tag = "1")]
    resource_spans: Vec<u8>,
}

async fn export_raw(server: &Running, resource_spans: Vec<u8>) -> Result<(), tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.grpc))
        .expect("valid uri")
        .connect()
        .await
        .expect("connects");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let codec = tonic_prost::ProstCodec::<RawRequest, ExportTraceServiceResponse>::default();
    let path = http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    grpc.unary(
        tonic::Request::new(RawRequest { resource_spans }),
        path,
        codec,
    )
    .await
    .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_are_invalid_argument_naming_the_problem() {
    let limit = 16 * 1024;
    let server = Running::with(TraceConfig {
        max_request_bytes: limit,
        ..TraceConfig::default()
    })
    .await;

    let status = export_raw(&server, vec![0xff, 0xff, 0xff])
        .await
        .expect_err("malformed");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .starts_with("failed to decode Protobuf message"),
        "{status:?}"
    );

    let status = export_raw(&server, vec![0; limit])
        .await
        .expect_err("too large");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("the limit is: 16384 bytes"),
        "{status:?}"
    );

    let mut client = client(&server).await;
    let mut bad = otlp_span(1, 1, None, "bad", 1, 2);
    bad.span_id = vec![1, 2, 3];
    let status = client
        .export(request("shop", vec![bad.clone()]))
        .await
        .expect_err("all bad");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "all 1 spans rejected: invalid span id \"010203\": expected 16 hex digits, not all zero"
    );

    // A gzipped message inflating past the limit.
    let mut zeros = otlp_span(1, 1, None, "padding", 1, 2);
    zeros.name = "0".repeat(limit * 4);
    let mut gzipping = client.clone().send_compressed(CompressionEncoding::Gzip);
    let status = gzipping
        .export(request("shop", vec![zeros]))
        .await
        .expect_err("inflates too far");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    let partial = client
        .export(request(
            "shop",
            vec![bad, otlp_span(1, 2, None, "good", 1, 2)],
        ))
        .await
        .expect("one span is fine")
        .into_inner()
        .partial_success
        .expect("one rejected");
    assert_eq!(partial.rejected_spans, 1);
    assert_eq!(server.store.span_count(), 1);
    server.stop().await;
}
