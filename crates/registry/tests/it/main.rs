//! HTTP API tests through the router with `oneshot` (no sockets), plus one real-socket
//! serve test. Rich bodies are inline snapshots: `UPDATE_EXPECT=1 cargo test` updates.

mod acl;
mod agent;
mod blocking;
mod catalog;
mod checks;
mod compat;
mod errors;
mod kv;
mod persistence;
mod prometheus;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tern_registry::{router, Registry, RegistryConfig, RegistryHandle};
use tower::ServiceExt;

/// The router and its handle.
#[derive(Clone)]
pub struct Api {
    pub handle: RegistryHandle,
    router: Router,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Pretty JSON with sorted keys (stable whatever serde_json features are unified).
    pub fn pretty(&self) -> String {
        serde_json::to_string_pretty(&sorted(self.json())).unwrap()
    }

    /// The `X-Consul-Index` header (panics when absent).
    pub fn index(&self) -> u64 {
        let value = self
            .headers
            .get("x-consul-index")
            .expect("X-Consul-Index header");
        value.to_str().unwrap().parse().unwrap()
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text());
        self
    }
}

fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

impl Default for Api {
    fn default() -> Self {
        Self::with(RegistryConfig::default())
    }
}

impl Api {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(config: RegistryConfig) -> Self {
        Self::over(Registry::build(config).expect("valid config").handle())
    }

    /// The API of a registry that may also be serving on sockets.
    pub fn over(handle: RegistryHandle) -> Self {
        Api {
            router: router(handle.clone()),
            handle,
        }
    }

    pub async fn call(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn send(&self, method: Method, uri: &str, body: impl Into<Body>) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(body.into())
            .unwrap();
        self.call(request).await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send(Method::GET, uri, Body::empty()).await
    }

    pub async fn put(&self, uri: &str, body: impl Into<Body>) -> Reply {
        self.send(Method::PUT, uri, body).await
    }

    pub async fn delete(&self, uri: &str) -> Reply {
        self.send(Method::DELETE, uri, Body::empty()).await
    }

    /// Registers a service from a JSON body and asserts 200.
    pub async fn register(&self, body: Value) {
        self.put("/v1/agent/service/register", body.to_string())
            .await
            .ok();
    }
}
