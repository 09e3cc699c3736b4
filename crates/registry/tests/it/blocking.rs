//! Blocking queries (`?index=&wait=`), the ticker, and serving on a real socket. Time is
//! paused: waits of minutes take microseconds, and the clock only moves when idle.

use crate::{Api, Reply};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

fn spawn_get(api: &Api, uri: String) -> tokio::task::JoinHandle<Reply> {
    let api = api.clone();
    tokio::spawn(async move { api.get(&uri).await })
}

/// Lets spawned requests run until they block.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn returns_as_soon_as_the_index_moves() {
    let api = Api::new();
    api.register(json!({"Name": "web", "ID": "w1", "Check": {"TTL": "10m"}}))
        .await;
    let first = api.get("/v1/health/service/web").await.ok();
    let index = first.index();
    let started = Instant::now();
    let pending = spawn_get(
        &api,
        format!("/v1/health/service/web?index={index}&wait=1m"),
    );
    settle().await;
    assert!(!pending.is_finished(), "blocks while nothing changed");
    api.put("/v1/agent/check/pass/service:w1", "").await.ok();
    let reply = pending.await.unwrap().ok();
    assert!(reply.index() > index);
    assert_eq!(reply.json()[0]["Checks"][1]["Status"], "passing");
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "no time passed: woken, not polled"
    );
}

#[tokio::test(start_paused = true)]
async fn times_out_at_wait_with_jitter() {
    let api = Api::new();
    let index = api.get("/v1/catalog/services").await.ok().index();
    let started = Instant::now();
    let reply = api
        .get(&format!("/v1/catalog/services?index={index}&wait=2s"))
        .await
        .ok();
    let waited = started.elapsed();
    assert_eq!(reply.index(), index);
    assert!(
        waited >= Duration::from_secs(2) && waited <= Duration::from_millis(2125),
        "{waited:?}"
    );

    let started = Instant::now();
    api.get(&format!("/v1/catalog/services?index={index}"))
        .await
        .ok();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(300) && waited <= Duration::from_secs(319),
        "default 5m: {waited:?}"
    );

    let started = Instant::now();
    api.get(&format!("/v1/catalog/services?index={index}&wait=1h&stale"))
        .await
        .ok();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(600) && waited <= Duration::from_secs(638),
        "max 10m: {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn unrelated_changes_do_not_answer() {
    let api = Api::new();
    api.register(json!({"Name": "web"})).await;
    let index = api.get("/v1/catalog/service/web").await.ok().index();
    let started = Instant::now();
    let pending = spawn_get(
        &api,
        format!("/v1/catalog/service/web?index={index}&wait=10s"),
    );
    settle().await;
    api.register(json!({"Name": "db"})).await;
    api.put("/v1/kv/x", "1").await.ok();
    settle().await;
    assert!(
        !pending.is_finished(),
        "other services and KV do not move web's index"
    );
    let reply = pending.await.unwrap().ok();
    assert_eq!(reply.index(), index);
    assert!(started.elapsed() >= Duration::from_secs(10));

    // A deregistration does move it.
    let pending = spawn_get(
        &api,
        format!("/v1/catalog/service/web?index={index}&wait=10s"),
    );
    settle().await;
    api.put("/v1/agent/service/deregister/web", "").await.ok();
    let reply = pending.await.unwrap().ok();
    assert!(reply.index() > index);
    assert_eq!(reply.json(), json!([]));
}

#[tokio::test(start_paused = true)]
async fn kv_deletes_wake_key_and_prefix_watchers() {
    let api = Api::new();
    api.put("/v1/kv/app/k", "v").await.ok();
    let key_index = api.get("/v1/kv/app/k").await.ok().index();
    let prefix_index = api.get("/v1/kv/app/?recurse").await.ok().index();
    let on_key = spawn_get(&api, format!("/v1/kv/app/k?index={key_index}"));
    let on_prefix = spawn_get(&api, format!("/v1/kv/app/?recurse&index={prefix_index}"));
    settle().await;
    api.delete("/v1/kv/app/k").await.ok();
    let (on_key, on_prefix) = (on_key.await.unwrap(), on_prefix.await.unwrap());
    assert_eq!(on_key.status.as_u16(), 404);
    assert!(on_key.index() > key_index);
    assert_eq!(on_prefix.status.as_u16(), 404);
    assert!(on_prefix.index() > prefix_index);
}

#[tokio::test(start_paused = true)]
async fn ticker_expires_ttls_and_reaps_critical_services() {
    let api = Api::new();
    let ticker = {
        let handle = api.handle.clone();
        tokio::spawn(async move { handle.run_ticker(std::future::pending()).await })
    };
    api.register(
        json!({"Name": "job", "Check": {"TTL": "10s", "Status": "passing",
                                                 "DeregisterCriticalServiceAfter": "1m"}}),
    )
    .await;
    let status = |api: &Api| {
        api.handle
            .read(|s| s.check("service:job").map(|c| c.status))
    };
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(status(&api), Some(tern_registry::CheckStatus::Passing));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(status(&api), Some(tern_registry::CheckStatus::Critical));
    let output = api.get("/v1/agent/checks").await.json()["service:job"]["Output"].clone();
    assert_eq!(output, "TTL expired");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        api.get("/v1/agent/services").await.json(),
        json!({}),
        "reaped after 1m critical"
    );
    ticker.abort();
}

/// A raw HTTP/1.1 GET (no client dependency for one test).
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn serves_on_a_listener_and_shutdown_ends_blocking_queries() {
    let registry = tern_registry::Registry::build(Default::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        registry
            .serve_http(listener, async { stopped.await.unwrap_or(()) })
            .await
    });
    let leader = http_get(addr, "/v1/status/leader").await;
    assert!(leader.starts_with("HTTP/1.1 200"), "{leader}");
    assert!(leader.ends_with("\"127.0.0.1:8300\""), "{leader}");
    let blocked = tokio::spawn(http_get(addr, "/v1/catalog/services?index=1&wait=10m"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.send(()).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), blocked)
        .await
        .expect("answered")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let served = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("stopped");
    served.unwrap().unwrap();
}
