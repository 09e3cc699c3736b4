//! gRPC checks against a real health server: serving, not serving, unknown, unreachable,
//! and a target without a host.

use std::time::Duration;

use tern_health_checks::{run_once, CheckSpec, Outcome, Status};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::ServingStatus;

use crate::within;

/// Serves `grpc.health.v1.Health` with the whole server SERVING, `up` SERVING and `down`
/// NOT_SERVING; returns `address`.
async fn serve() -> String {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("up", ServingStatus::Serving)
        .await;
    reporter
        .set_service_status("down", ServingStatus::NotServing)
        .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    tokio::spawn(async move {
        // The reporter lives as long as the server so statuses stay set.
        let _reporter = reporter;
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
    });
    address
}

async fn check(target: &str, use_tls: bool) -> Outcome {
    let spec = CheckSpec::Grpc {
        target: target.to_owned(),
        use_tls,
    };
    within(target, run_once(&spec, Duration::from_secs(10))).await
}

#[tokio::test]
async fn serving_is_passing() {
    let address = serve().await;
    let outcome = check(&address, false).await;
    assert_eq!(outcome.status, Status::Passing, "{}", outcome.output);
    assert_eq!(outcome.output, format!("gRPC check {address}: success"));

    let target = format!("{address}/up");
    let outcome = check(&target, false).await;
    assert_eq!(outcome.status, Status::Passing, "{}", outcome.output);
    assert_eq!(outcome.output, format!("gRPC check {target}: success"));
}

#[tokio::test]
async fn a_target_without_a_host_is_the_given_local_host() {
    let address = serve().await;
    let port = address.rsplit_once(':').expect("host:port").1;
    let spec = CheckSpec::Grpc {
        target: format!(":{port}/up"),
        use_tls: false,
    }
    .with_local_host(std::net::Ipv4Addr::LOCALHOST.into());
    let outcome = within(&address, run_once(&spec, Duration::from_secs(10))).await;
    assert_eq!(outcome.status, Status::Passing, "{}", outcome.output);
    assert_eq!(
        outcome.output,
        format!("gRPC check 127.0.0.1:{port}/up: success")
    );
}

#[tokio::test]
async fn not_serving_is_critical() {
    let address = serve().await;
    let target = format!("{address}/down");
    let outcome = check(&target, false).await;
    assert_eq!(outcome.status, Status::Critical);
    assert_eq!(
        outcome.output,
        format!("gRPC check {target}: serving status NOT_SERVING")
    );
}

#[tokio::test]
async fn unknown_service_is_critical() {
    let address = serve().await;
    let target = format!("{address}/nobody");
    let outcome = check(&target, false).await;
    assert_eq!(outcome.status, Status::Critical);
    assert!(
        outcome
            .output
            .starts_with(&format!("gRPC check {target}: rpc error: code = NotFound")),
        "{}",
        outcome.output
    );
}

#[tokio::test]
async fn unreachable_server_is_critical() {
    let outcome = check("127.0.0.1:1", false).await;
    assert_eq!(outcome.status, Status::Critical);
    assert!(
        outcome.output.starts_with("gRPC check 127.0.0.1:1: ")
            && outcome.output.to_lowercase().contains("refused"),
        "{}",
        outcome.output
    );
}

#[tokio::test]
async fn tls_and_bad_targets_are_critical() {
    let address = serve().await;
    let outcome = check(&address, true).await;
    assert_eq!(outcome.status, Status::Critical);
    assert_eq!(
        outcome.output,
        format!("gRPC check {address}: gRPC over TLS is not supported yet (only plaintext h2c)")
    );
    let outcome = check("no-port", false).await;
    assert_eq!(outcome.status, Status::Critical);
    assert_eq!(
        outcome.output,
        "gRPC check no-port: invalid target \"no-port\": expected host:port or host:port/service"
    );
}
