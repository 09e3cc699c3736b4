//! Serves the registry alone, for trying stock Consul clients against it:
//! `cargo run -p tern-registry --example serve -- 127.0.0.1:8500` (Ctrl-C stops).
//! Only TTL checks change state here: HTTP/TCP/gRPC checks need the check runners.

use tern_registry::{Registry, RegistryConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), tern_registry::Error> {
    let mut config = RegistryConfig::default();
    if let Some(addr) = std::env::args().nth(1) {
        config.http_addr = addr.parse().map_err(|_| {
            tern_registry::Error::InvalidConfig(format!("address {addr:?}: expected HOST:PORT"))
        })?;
    }
    let registry = Registry::build(config)?;
    let listener = tokio::net::TcpListener::bind(registry.config().http_addr).await?;
    eprintln!("registry on http://{}", listener.local_addr()?);
    registry
        .serve_http(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
