//! The optional ACL token: 403 without it, three ways to present it, never logged.

use crate::Api;
use axum::body::Body;
use axum::http::Request;
use std::sync::{Arc, Mutex};
use tern_registry::RegistryConfig;

const SECRET: &str = "s3cr3t-t0ken";

fn guarded() -> Api {
    Api::with(RegistryConfig {
        acl_token: Some(SECRET.into()),
        ..RegistryConfig::default()
    })
}

async fn with_header(api: &Api, name: &str, value: &str) -> u16 {
    let request = Request::get("/v1/catalog/services")
        .header(name, value)
        .body(Body::empty())
        .unwrap();
    api.call(request).await.status.as_u16()
}

#[tokio::test]
async fn requests_need_the_token() {
    let api = guarded();
    let denied = api.get("/v1/catalog/services").await;
    assert_eq!(
        (denied.status.as_u16(), denied.text()),
        (403, "Permission denied".into())
    );
    assert_eq!(with_header(&api, "X-Consul-Token", SECRET).await, 200);
    assert_eq!(
        with_header(&api, "Authorization", &format!("Bearer {SECRET}")).await,
        200
    );
    assert_eq!(
        api.get(&format!("/v1/catalog/services?token={SECRET}"))
            .await
            .status
            .as_u16(),
        200
    );
    assert_eq!(with_header(&api, "X-Consul-Token", "wrong").await, 403);
    assert_eq!(
        api.put("/v1/kv/a?token=wrong", "x").await.status.as_u16(),
        403
    );
    assert_eq!(
        api.get("/v1/status/leader").await.status.as_u16(),
        200,
        "status needs no token"
    );
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn the_token_never_reaches_logs() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    // The test runtime is single-threaded, so a thread-local subscriber sees everything.
    let _guard = tracing::subscriber::set_default(subscriber);
    let api = guarded();
    // Tests on other threads, with no subscriber, can make tracing cache a call site as
    // disabled just before this one registers; rebuild the cache and go again until the
    // requests are in the captured logs (what the token check below must look at).
    let mut text = String::new();
    for _ in 0..20 {
        tracing::callsite::rebuild_interest_cache();
        api.put(&format!("/v1/kv/a?token={SECRET}"), "x").await;
        api.get(&format!("/v1/kv/a?token={SECRET}&index=1&wait=1ms"))
            .await;
        with_header(&api, "X-Consul-Token", SECRET).await;
        with_header(&api, "X-Consul-Token", "wrong").await;
        tracing::info!(config = ?api.handle.read(|_| ()), "marker");
        text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        if text.contains("registry request") && text.contains("/v1/kv/a") {
            break;
        }
    }
    assert!(
        text.contains("registry request") && text.contains("/v1/kv/a"),
        "logs: {text}"
    );
    assert!(!text.contains(SECRET), "token leaked into logs: {text}");
    let config = RegistryConfig {
        acl_token: Some(SECRET.into()),
        ..RegistryConfig::default()
    };
    assert!(
        !format!("{config:?}").contains(SECRET),
        "Debug redacts the token"
    );
}
