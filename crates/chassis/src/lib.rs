//! The tern service chassis: what every tern microservice has, so that services contain
//! only what they do.
//!
//! - **Config**: `defaults < TOML file < TERN_* environment`, typed and validated; the
//!   service adds its own serde struct next to [`ChassisConfig`] ([`load_config`]).
//! - **Serving**: tonic gRPC services and axum routes on one listener (HTTP/1.1 and h2c
//!   detected per connection).
//! - **Health**: `grpc.health.v1.Health`, `GET /healthz` (liveness), `GET /readyz`
//!   (readiness, controlled through the [`Handle`]).
//! - **Logs**: JSON lines or pretty text ([`init_logging`]); every call gets an
//!   `x-request-id` (the caller's or a fresh one, echoed on the response) and runs in a
//!   span carrying `request_id`, `method` and `path`.
//! - **Graceful shutdown**: on SIGINT/SIGTERM ([`Service::run`]) or a future
//!   ([`Service::serve`]): not-ready first, `on_shutdown` hooks, stop accepting, drain up
//!   to `shutdown_timeout`, abort the rest, return `Ok`.
//!
//! - **Registration**: with `registry` configured (`TERN_REGISTRY=127.0.0.1:8500`), the
//!   instance registers in a Consul-compatible registry once bound (`NAME-PORT`, a gRPC
//!   health check on its port), retrying in the background, and deregisters first thing
//!   in a graceful shutdown.
//! - **Discovery**: [`Discovery`] → [`Balanced`], a load-balanced, retrying channel over
//!   a service's passing instances, kept current with blocking queries; generated tonic
//!   clients take it as their transport.
//! - **Live config**: with `registry` and `config_prefix` (`TERN_CONFIG_PREFIX=config/search/`)
//!   set, the keys under the prefix are followed with blocking queries and applied while
//!   the service runs: `log_level` (the log filter) and the service's own [`LiveConfig`]
//!   ([`ServiceBuilder::live_config`]). Each snapshot is validated whole; an invalid one
//!   is rejected and the previous config stays. The outcome is logged and written to
//!   `tern/status/INSTANCE_ID/config`.
//!
//! - **Events**: with `broker` set (`TERN_BROKER=127.0.0.1:9092`), typed JSON consumers
//!   declared with [`ServiceBuilder::consume`] (group `SERVICE.TOPIC`, acknowledged after
//!   the handler succeeds, graceful leave at shutdown) and a producer from
//!   [`Handle::producer`], both over [`kafka`] (tern's pure-Rust Kafka client).
//!
//! The chassis owns the serving stack: metrics or tracing export are added here (a tower
//! layer in `server.rs`, a startup or shutdown step), without touching services.
//!
//! ```no_run
//! # use tern_chassis::{load_config, init_logging, Service};
//! # #[derive(Default, serde::Serialize, serde::Deserialize)]
//! # #[serde(default)] struct SearchConfig { store: String }
//! # async fn load_index(_: &str) {}
//! # async fn main_() -> Result<(), tern_chassis::Error> {
//! let config = load_config::<SearchConfig>(Some("tern-search.toml".as_ref()))?;
//! init_logging(&config.chassis.log, "search-service")?;
//! let service = Service::builder("search-service")
//!     // .grpc(SearchServer::new(handler))
//!     .http(axum::Router::new().route("/version", axum::routing::get(|| async { "1" })))
//!     .ready_when_told()
//!     .build(&config.chassis)?;
//! let handle = service.handle();
//! let store = config.service.store.clone();
//! tokio::spawn(async move {
//!     let _address = handle.listening().await; // Some(real address) once bound
//!     load_index(&store).await;
//!     handle.set_ready(true);
//! });
//! service.run().await // until SIGINT/SIGTERM, then graceful shutdown
//! # }
//! ```

mod config;
pub mod discovery;
mod error;
mod events;
mod follow;
mod health;
mod live_config;
mod logging;
mod registration;
mod request;
mod server;
mod service;
pub mod telemetry;

pub use config::{
    load_config, load_config_from, ChassisConfig, Config, LogConfig, LogFormat, Secret,
    TelemetryConfig,
};
pub use discovery::{Balanced, Discovery, DiscoveryOptions, Instance};
pub use error::{error_report, Error};
pub use events::Event;
pub use health::Phase;
pub use live_config::{InvalidValue, LiveConfig};
pub use logging::{init_logging, log_dispatch};
pub use request::REQUEST_ID_HEADER;
pub use server::shutdown_signal;
pub use service::{Handle, Service, ServiceBuilder};
pub use tern_kafka_client as kafka;

/// The async runtime a service runs on, sized by `config.worker_threads` (0 = one worker
/// per CPU core). Built before the service so the binary's `main` stays a plain function.
pub fn runtime(config: &ChassisConfig) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.worker_threads > 0 {
        builder.worker_threads(config.worker_threads);
    }
    builder.enable_all().build()
}

/// Serde adapters for config fields, so services read durations (`"10s"`, `"1m30s"`) and
/// addresses with the same syntax and errors as the chassis' own keys:
/// `#[serde(with = "tern_chassis::serde_with::duration")]`.
pub mod serde_with {
    pub use crate::config::fields::{duration, option_duration, socket_addr};
}
