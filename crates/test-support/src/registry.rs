//! A `tern-registry` served in-process on `127.0.0.1:0` for one test: the whole registry
//! (HTTP API, DNS on one port for UDP and TCP, check runners) or its HTTP API alone.

use std::net::SocketAddr;
use std::time::Duration;

use tern_registry::{Error, Listeners, Registry, RegistryConfig, RegistryHandle};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A registry serving in a background task until [`RunningRegistry::stop`], or until it
/// is dropped (it then stops without being waited for).
pub struct RunningRegistry {
    pub http: SocketAddr,
    /// The same registry without a socket, for setting up and reading state.
    pub handle: RegistryHandle,
    dns: Option<SocketAddr>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), Error>>,
}

impl RunningRegistry {
    /// The whole registry with the default config.
    pub async fn start() -> Self {
        Self::start_on(bind().await).await
    }

    /// The whole registry serving its HTTP API on `http`, a listener already bound (and
    /// maybe already connected to).
    pub async fn start_on(http: TcpListener) -> Self {
        Self::start_with(http, RegistryConfig::default()).await
    }

    /// The whole registry with `config`, its HTTP API on `http`.
    pub async fn start_with(http: TcpListener, config: RegistryConfig) -> Self {
        // DNS clients (dnspython) retry truncated answers over TCP on the same port, which
        // `Listeners::bind` gives; its own HTTP listener is replaced by the caller's.
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let listeners = Listeners {
            http,
            ..Listeners::bind(loopback, loopback)
                .await
                .expect("bind the DNS sockets")
        };
        let addresses = (
            listeners.http.local_addr().expect("http address"),
            listeners.dns_udp.local_addr().expect("dns address"),
        );
        let registry = Registry::build(config).expect("valid config");
        let handle = registry.handle();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            registry
                .serve(listeners, async {
                    let _ = stopped.await;
                })
                .await
        });
        RunningRegistry {
            http: addresses.0,
            handle,
            dns: Some(addresses.1),
            stop,
            task,
        }
    }

    /// The HTTP API alone (`serve_http`: no DNS, and no check runners, so a check with a
    /// long interval has not run), with the default config.
    pub async fn http_only() -> Self {
        let listener = bind().await;
        let http = listener.local_addr().expect("http address");
        let registry = Registry::build(RegistryConfig::default()).expect("valid config");
        let handle = registry.handle();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            registry
                .serve_http(listener, async {
                    let _ = stopped.await;
                })
                .await
        });
        RunningRegistry {
            http,
            handle,
            dns: None,
            stop,
            task,
        }
    }

    /// The DNS interface's address (UDP and TCP), for a registry started whole.
    pub fn dns(&self) -> SocketAddr {
        self.dns
            .expect("a registry started with `http_only` serves no DNS")
    }

    /// Stops the registry and waits until it has stopped serving, cleanly.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let served = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the registry stops within 10s")
            .expect("the serving task does not panic");
        served.expect("the registry serves until stopped");
    }
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind http")
}
