//! One listener serves gRPC and HTTP/1.1; `run` binds the configured address or says why not.

use tern_chassis::Service;

use crate::support::*;

#[tokio::test]
async fn grpc_and_http1_share_one_port() {
    let search = TestSearch::default();
    let router = axum::Router::new().route("/version", axum::routing::get(|| async { "v1" }));
    let running = start(search.builder().http(router)).await;

    // gRPC (h2c prior knowledge) ...
    let channel = running.channel().await;
    let monitor = search_client(&channel).monitor(()).await.unwrap();
    assert_eq!(monitor.into_inner().n_things, 42);
    assert_eq!(grpc_health(&channel, "").await, ServingStatus::Serving);

    // ... and plain HTTP/1.1 on the same address.
    let version = running.get("/version").await;
    assert_eq!((version.status, version.body.as_str()), (200, "v1"));
    let healthz = running.get("/healthz").await;
    assert_eq!((healthz.status, healthz.body.as_str()), (200, "ok"));

    let missing = running.get("/nope").await;
    assert_eq!((missing.status, missing.body.as_str()), (404, "not found"));

    // gRPC is still fine on the connection opened before the HTTP calls.
    assert_eq!(
        grpc_health(&channel, "Search").await,
        ServingStatus::Serving
    );
    running.stop().await;
}

#[tokio::test]
async fn unknown_grpc_service_is_unimplemented() {
    // Only the health service: calls to Search have no route.
    let running = start(Service::builder("bare")).await;
    let status = search_client(&running.channel().await)
        .monitor(())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    running.stop().await;
}

#[tokio::test]
async fn run_binds_the_configured_address_and_reports_it() {
    let service = TestSearch::default().builder().build(&config()).unwrap();
    let handle = service.handle();
    assert_eq!(handle.local_addr(), None);
    let run = tokio::spawn(service.run());
    let addr = handle.listening().await.expect("bound");
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0, "the real port, not the configured 0");
    assert_eq!(handle.local_addr(), Some(addr));
    assert_eq!(http_get(addr, "/healthz", &[]).await.unwrap().status, 200);

    handle.shutdown();
    run.await.unwrap().unwrap();
    assert_eq!(handle.phase(), tern_chassis::Phase::Stopped);
}

#[tokio::test]
async fn run_reports_a_failed_bind() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = config();
    config.listen = taken.local_addr().unwrap();
    let service = Service::builder("clash").build(&config).unwrap();
    let handle = service.handle();
    let err = service.run().await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on {}: ", config.listen)),
        "{err}"
    );
    assert_eq!(
        handle.listening().await,
        None,
        "waiters are not left hanging"
    );
}
