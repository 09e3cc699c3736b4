//! The cost of REST transcoding: `GET /v1/search` through the tern-rest router against the
//! same calls as gRPC requests through the tonic routes as the chassis mounts them (an axum
//! router), both in-process on one thread (no sockets, no HTTP parsing), over the bundled
//! Natural Earth data. The REST route ends in the same tonic service, so the difference per
//! call is what transcoding adds.
//!
//! `cargo bench -p search-service --bench rest` (figures in docs/benchmarks.md).

use std::hint::black_box;

use axum::body::Body;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::BodyExt;
use prost::Message;
use search_service::{rest_contract, Config, SearchApi, SearchConfig, SearchService};
use tern_proto::search::search_server::SearchServer;
use tern_proto::search::SearchRequest;
use tower::ServiceExt;

const QUERIES: [(&str, f32, f32); 3] = [
    ("", 48.8566, 2.3522),
    ("texas", 0.0, 0.0),
    ("", 30.2672, -97.7431),
];

fn grpc_request(query: &str, lat: f32, lng: f32) -> http::Request<Body> {
    let message = SearchRequest {
        query: query.to_owned(),
        lat,
        lng,
        ..SearchRequest::default()
    };
    let mut framed = vec![0];
    framed.extend_from_slice(&(message.encoded_len() as u32).to_be_bytes());
    message.encode(&mut framed).expect("encode the request");
    http::Request::builder()
        .method("POST")
        .uri("/Search/search")
        .version(http::Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Body::from(Bytes::from(framed)))
        .expect("a gRPC request")
}

fn rest_request(query: &str, lat: f32, lng: f32) -> http::Request<Body> {
    http::Request::builder()
        .uri(format!("/v1/search?query={query}&lat={lat}&lng={lng}"))
        .body(Body::empty())
        .expect("a REST request")
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let config = Config {
        chassis: tern_chassis::ChassisConfig::default(),
        service: SearchConfig {
            data_dir: dir.path().to_owned(),
            ..SearchConfig::default()
        },
    };
    let service = runtime
        .block_on(SearchService::build(&config))
        .expect("the search service builds");
    let grpc = SearchServer::new(SearchApi::new(service.dataset()));
    let router = rest_contract()
        .expect("the contract")
        .router(grpc.clone())
        .expect("the REST routes");
    // gRPC as the chassis serves it: the tonic routes as an axum router.
    let grpc_router = tonic::service::Routes::new(grpc).into_axum_router();

    let mut group = c.benchmark_group("search_call");
    group.bench_function("grpc", |b| {
        b.iter(|| {
            runtime.block_on(async {
                for (query, lat, lng) in QUERIES {
                    let response = grpc_router
                        .clone()
                        .oneshot(grpc_request(query, lat, lng))
                        .await
                        .expect("an answer");
                    let collected = response.into_body().collect().await.expect("the body");
                    assert!(collected
                        .trailers()
                        .is_some_and(|t| t["grpc-status"] == "0"));
                    black_box(collected.to_bytes());
                }
            })
        })
    });
    group.bench_function("rest", |b| {
        b.iter(|| {
            runtime.block_on(async {
                for (query, lat, lng) in QUERIES {
                    let response = router
                        .clone()
                        .oneshot(rest_request(query, lat, lng))
                        .await
                        .expect("an answer");
                    assert_eq!(response.status(), 200);
                    black_box(
                        response
                            .into_body()
                            .collect()
                            .await
                            .expect("the body")
                            .to_bytes(),
                    );
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
