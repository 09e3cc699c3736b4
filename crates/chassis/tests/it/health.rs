//! `grpc.health.v1.Health` and readiness through the service handle.

use crate::support::*;

#[tokio::test]
async fn grpc_health_reports_overall_name_and_services() {
    let running = start(TestSearch::default().builder()).await;
    let channel = running.channel().await;
    for name in ["", "search-service", "Search", "grpc.health.v1.Health"] {
        assert_eq!(
            grpc_health(&channel, name).await,
            ServingStatus::Serving,
            "{name:?}"
        );
    }
    let unknown = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "nope".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    running.stop().await;
}

#[tokio::test]
async fn readiness_is_controlled_through_the_handle() {
    let running = start(TestSearch::default().builder().ready_when_told()).await;
    let channel = running.channel().await;
    let handle = running.handle.clone();

    assert!(!handle.is_ready());
    let readyz = running.get("/readyz").await;
    assert_eq!((readyz.status, readyz.body.as_str()), (503, "not ready"));
    assert_eq!(
        running.get("/healthz").await.status,
        200,
        "alive all the same"
    );
    assert_eq!(grpc_health(&channel, "").await, ServingStatus::NotServing);
    assert_eq!(
        grpc_health(&channel, "search-service").await,
        ServingStatus::NotServing
    );

    handle.set_ready(true);
    assert!(handle.is_ready());
    let readyz = running.get("/readyz").await;
    assert_eq!((readyz.status, readyz.body.as_str()), (200, "ready"));
    eventually("gRPC health SERVING", || async {
        grpc_health(&channel, "search-service").await == ServingStatus::Serving
            && grpc_health(&channel, "").await == ServingStatus::Serving
    })
    .await;

    handle.set_ready(false);
    assert_eq!(running.get("/readyz").await.status, 503);
    eventually("gRPC health NOT_SERVING", || async {
        grpc_health(&channel, "").await == ServingStatus::NotServing
    })
    .await;
    running.stop().await;
}
