//! Fixtures shared by the real-socket tests (`compat`, `prometheus`): the whole registry
//! (HTTP API, DNS, check runners) served on loopback ports the kernel picks.

use std::net::SocketAddr;
use std::time::Duration;

use tern_registry::{Listeners, Registry, RegistryConfig};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::oneshot;

use crate::Api;

/// A registry serving on `127.0.0.1:0` until [`Running::stop`].
pub struct Running {
    pub http: SocketAddr,
    pub dns: SocketAddr,
    /// The same registry through its router (no socket), for setting up state.
    pub api: Api,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tern_registry::Error>>,
}

impl Running {
    pub async fn start() -> Self {
        let http = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
        let (dns_udp, dns_tcp) = bind_dns_pair().await;
        let (http_addr, dns_addr) = (
            http.local_addr().expect("http addr"),
            dns_udp.local_addr().expect("dns addr"),
        );
        let registry = Registry::build(RegistryConfig::default()).expect("valid config");
        let api = Api::over(registry.handle());
        let (stop, stopped) = oneshot::channel::<()>();
        let listeners = Listeners {
            http,
            dns_udp,
            dns_tcp,
        };
        let task = tokio::spawn(async move {
            registry
                .serve(listeners, async {
                    let _ = stopped.await;
                })
                .await
        });
        Running {
            http: http_addr,
            dns: dns_addr,
            api,
            stop,
            task,
        }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let served = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the registry stops within 10s")
            .expect("the serving task does not panic");
        served.expect("the registry serves until stopped");
    }
}

/// dnspython retries truncated answers over TCP on the same port, so UDP and TCP share one.
async fn bind_dns_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        let addr = udp.local_addr().expect("udp addr");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP in 100 tries");
}
