//! Graceful shutdown: not ready first, hooks in order, in-flight calls drained up to the timeout.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tern_chassis::Phase;
use tern_proto::search::SearchRequest;
use tokio::{net::TcpStream, sync::Notify};

use crate::support::*;

fn block() -> SearchRequest {
    SearchRequest {
        query: "block".to_owned(),
        ..Default::default()
    }
}

async fn refuses_connections(addr: std::net::SocketAddr) -> bool {
    TcpStream::connect(addr).await.is_err()
}

#[tokio::test]
async fn not_ready_first_then_hooks_in_order_while_still_accepting() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let hook_started = Arc::new(Notify::new());
    let hook_release = Arc::new(Notify::new());
    let (o1, o2) = (order.clone(), order.clone());
    let (started, release) = (hook_started.clone(), hook_release.clone());
    let builder = TestSearch::default()
        .builder()
        .on_shutdown(move || async move { o1.lock().unwrap().push("first") })
        .on_shutdown(move || async move {
            started.notify_one();
            release.notified().await;
            o2.lock().unwrap().push("second");
        });
    let mut running = start(builder).await;
    assert_eq!(running.grpc_health("").await, ServingStatus::Serving);

    running.trigger_shutdown();
    hook_started.notified().await;
    // Inside the second hook: not ready, still alive, still accepting connections.
    assert_eq!(running.handle.phase(), Phase::Draining);
    assert!(!running.handle.is_ready());
    assert_eq!(running.get("/readyz").await.status, 503);
    assert_eq!(running.get("/healthz").await.status, 200);
    assert_eq!(running.grpc_health("").await, ServingStatus::NotServing);
    assert_eq!(
        running.grpc_health("search-service").await,
        ServingStatus::NotServing
    );
    assert_eq!(*order.lock().unwrap(), ["first"]);

    hook_release.notify_one();
    let addr = running.addr;
    eventually("listener closed", || refuses_connections(addr)).await;
    let handle = running.handle.clone();
    running.stop().await;
    assert_eq!(*order.lock().unwrap(), ["first", "second"]);
    assert_eq!(handle.phase(), Phase::Stopped);
}

#[tokio::test]
async fn in_flight_call_completes_after_shutdown_is_triggered() {
    let search = TestSearch::default();
    let mut running = start(search.builder()).await;
    let mut client = search_client(&running.channel().await);
    let call = tokio::spawn(async move { client.search(block()).await });
    search.started.notified().await;

    running.trigger_shutdown();
    let addr = running.addr;
    eventually("new connections refused", || refuses_connections(addr)).await;
    assert!(!running.served.is_finished(), "serve waits for the call");
    assert_eq!(running.handle.phase(), Phase::Draining);

    search.release.notify_one();
    let response = call.await.unwrap().expect("the in-flight call succeeds");
    assert_eq!(response.into_inner().responses[0].response, "block");
    running.stop().await;
    assert!(!search.aborted.load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test]
async fn drain_timeout_aborts_calls_that_take_longer() {
    let search = TestSearch::default();
    let mut config = config();
    config.shutdown_timeout = Duration::from_millis(200);
    let running = start_with(search.builder(), &config).await;
    let mut client = search_client(&running.channel().await);
    let call = tokio::spawn(async move { client.search(block()).await });
    search.started.notified().await;

    // Never released: serve must give up on it at the timeout and still return Ok.
    running.stop().await;
    assert!(search.aborted.load(std::sync::atomic::Ordering::SeqCst));
    let status = call.await.unwrap().expect_err("the aborted call fails");
    assert_ne!(status.code(), tonic::Code::Ok);
}

#[tokio::test]
async fn handle_shutdown_stops_serve() {
    let running = start(TestSearch::default().builder()).await;
    let handle = running.handle.clone();
    let waiter = tokio::spawn({
        let handle = handle.clone();
        async move { handle.stopped().await }
    });
    handle.shutdown();
    running.served.await.unwrap().unwrap();
    waiter.await.unwrap();
    assert_eq!(handle.phase(), Phase::Stopped);
}
