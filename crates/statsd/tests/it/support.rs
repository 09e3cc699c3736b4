//! Test support: a StatsD receiver on `127.0.0.1:0` with its metric registry, and a deadline
//! helper.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tern_metrics::{parse, Exposition, Format, Registry};
use tern_statsd::{Error, StatsdConfig, StatsdServer};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A receiver serving a socket bound to `127.0.0.1:0`.
pub struct Running {
    pub address: SocketAddr,
    pub registry: Registry,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), Error>>,
}

impl Running {
    pub async fn start() -> Self {
        let registry = Registry::new();
        let server = StatsdServer::build(StatsdConfig::new(registry.clone())).expect("build");
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let address = socket.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let task = tokio::spawn(server.serve(socket, shutdown));
        Running {
            address,
            registry,
            stop,
            task,
        }
    }

    pub fn scrape(&self) -> Exposition {
        parse(&Format::Prometheus.encode(&self.registry.gather()))
            .expect("the registry's text parses")
    }

    /// Polls the registry until `check` holds (UDP is asynchronous: a sent datagram is
    /// applied some time later); fails with the last scrape after 10 s.
    pub async fn eventually(&self, what: &str, check: impl Fn(&Exposition) -> bool) -> Exposition {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let scrape = self.scrape();
            if check(&scrape) {
                return scrape;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not true after 10s; last scrape:\n{}",
                Format::Prometheus.encode(&self.registry.gather())
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the receiver and checks that it returned cleanly.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        within(self.task, "the receiver stops")
            .await
            .expect("the receiver task does not panic")
            .expect("the receiver returns Ok");
    }
}

pub async fn within<T>(future: impl Future<Output = T>, what: &str) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within 10s"))
}
