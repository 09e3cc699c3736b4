//! Request ids: echoed when the caller sends one, generated otherwise, over HTTP and gRPC.

use tern_proto::search::SearchRequest;

use crate::support::*;

#[tokio::test]
async fn http_request_ids_are_echoed_or_generated() {
    let running = start(TestSearch::default().builder()).await;

    let given = http_get(running.addr, "/healthz", &[("x-request-id", "req-42")])
        .await
        .unwrap();
    assert_eq!(given.header("x-request-id"), Some("req-42"));

    let first = running.get("/healthz").await;
    let second = running.get("/readyz").await;
    let a = first.header("x-request-id").expect("generated id");
    let b = second.header("x-request-id").expect("generated id");
    assert_ne!(a, b);
    assert!(!a.is_empty());
    running.stop().await;
}

#[tokio::test]
async fn grpc_request_ids_are_echoed_or_generated() {
    let running = start(TestSearch::default().builder()).await;
    let mut client = search_client(&running.channel().await);

    let mut request = tonic::Request::new(SearchRequest::default());
    request
        .metadata_mut()
        .insert("x-request-id", "grpc-7".parse().unwrap());
    let response = client.search(request).await.unwrap();
    assert_eq!(
        response
            .metadata()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap(),
        "grpc-7"
    );

    let response = client.search(SearchRequest::default()).await.unwrap();
    let generated = response
        .metadata()
        .get("x-request-id")
        .expect("generated id");
    assert!(!generated.is_empty());
    running.stop().await;
}
