//! The trace server: config in, `serve(listeners, shutdown)`.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use futures::FutureExt as _;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::logs::LogSinkHandle;
use crate::{grpc, routes, Error, MetricStore, StoreHandle};

/// Where `tern up` binds OTLP/gRPC: the standard port, loopback only.
pub const DEFAULT_GRPC_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 4317));

/// Where `tern up` binds OTLP/HTTP and the query API: the standard port, loopback only.
pub const DEFAULT_HTTP_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 4318));

/// The default export request limit: gRPC's usual 4 MiB, on both transports.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 << 20;

/// Server settings.
#[derive(Clone, Debug)]
pub struct TraceConfig {
    /// Where received spans go and queries read from.
    pub store: StoreHandle,
    /// The largest export request accepted, in bytes, checked before and after inflating
    /// gzip: a gRPC message, an HTTP body. Default [`DEFAULT_MAX_REQUEST_BYTES`].
    pub max_request_bytes: usize,
    /// Where received OTLP metrics go (serve them with [`MetricStore::register`]).
    pub metrics: MetricStore,
    /// Where received OTLP log records go; without one, the logs service is not served
    /// (gRPC UNIMPLEMENTED, HTTP 404).
    pub logs: Option<LogSinkHandle>,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            store: StoreHandle::default(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            metrics: MetricStore::default(),
            logs: None,
        }
    }
}

/// The caller's bound listeners (tests bind `127.0.0.1:0`).
#[derive(Debug)]
pub struct Listeners {
    /// OTLP/gRPC (h2c).
    pub grpc: TcpListener,
    /// OTLP/HTTP `POST /v1/traces` and the JSON query API (HTTP/1.1).
    pub http: TcpListener,
}

/// A validated trace server, ready to serve.
#[derive(Debug)]
pub struct TraceServer {
    config: TraceConfig,
}

impl TraceServer {
    pub fn build(config: TraceConfig) -> Result<TraceServer, Error> {
        // A gRPC message length is a u32.
        let max = usize::try_from(u32::MAX).unwrap_or(usize::MAX);
        if !(1..=max).contains(&config.max_request_bytes) {
            return Err(Error::InvalidConfig(format!(
                "max_request_bytes is {}: expected 1 to {max}",
                config.max_request_bytes
            )));
        }
        Ok(TraceServer { config })
    }

    /// The store this server fills.
    pub fn store(&self) -> StoreHandle {
        self.config.store.clone()
    }

    /// The metrics this server receives.
    pub fn metrics(&self) -> MetricStore {
        self.config.metrics.clone()
    }

    /// Serves both listeners until `shutdown` resolves, then stops accepting and lets
    /// requests in flight finish. An error of either server stops both.
    pub async fn serve(
        self,
        listeners: Listeners,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let shutdown = shutdown.shared();
        let router = routes::router(&self.config);
        let TraceConfig {
            store,
            max_request_bytes,
            metrics,
            logs,
        } = self.config;
        let grpc = tonic::transport::Server::builder()
            .add_service(grpc::service(store, max_request_bytes))
            .add_service(grpc::metrics_service(metrics, max_request_bytes))
            .add_optional_service(logs.map(|sink| grpc::logs_service(sink, max_request_bytes)))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listeners.grpc), shutdown.clone());
        let http = axum::serve(listeners.http, router).with_graceful_shutdown(shutdown);
        tokio::try_join!(async { grpc.await.map_err(Error::Grpc) }, async {
            http.await.map_err(Error::Http)
        },)?;
        Ok(())
    }
}
